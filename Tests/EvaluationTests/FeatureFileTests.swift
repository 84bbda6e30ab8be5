import Foundation
import Testing
@testable import Evaluation

@Suite struct FeatureFileTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gentrain-features-\(getpid())").path

    init() throws { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

    @Test func numPyRoundTripAndRowRanges() throws {
        let values: [Float] = (0..<35).map { Float($0) * 0.5 - 3 }
        try writeNumPy(values, rows: 7, dimension: 5, to: folder + "/f.npy")
        let file = try FeatureFile(path: folder + "/f.npy")
        #expect(file.rows == 7 && file.dimension == 5 && file.elementType == .float32)
        #expect(try file.readRows(2..<4) == values[10..<20].map(Double.init))
        // NumPy's rule: the header (magic to newline) is padded to a multiple of 64 bytes.
        #expect(file.dataOffset % 64 == 0)
    }

    @Test func rawFilesNeedTheirWidthAndWholeRows() throws {
        let path = folder + "/raw.bin"
        try Data(count: 8 * 12).write(to: URL(fileURLWithPath: path))
        #expect(try FeatureFile(path: path, dimension: 4, rawType: .float64).rows == 3)
        #expect { _ = try FeatureFile(path: path) } throws: { "\($0)".contains("--dim D and --dtype") }
        #expect { _ = try FeatureFile(path: path, dimension: 5, rawType: .float64) } throws: { "\($0)".contains("not whole rows of 5") }
        #expect { _ = try FeatureFile(path: folder + "/missing.npy") } throws: { "\($0)".contains("missing.npy: no such file") }
    }

    @Test func unsupportedNumPyFilesAreNamed() throws {
        func numPy(_ header: String, payload: Int) throws -> String {
            let path = folder + "/h\(abs(header.hashValue)).npy"
            var text = header
            text += String(repeating: " ", count: (64 - (10 + text.utf8.count + 1) % 64) % 64) + "\n"
            var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.utf8.count), 0])
            data.append(Data(text.utf8))
            data.append(Data(count: payload))
            try data.write(to: URL(fileURLWithPath: path))
            return path
        }
        let fortran = try numPy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", payload: 32)
        #expect { _ = try FeatureFile(path: fortran) } throws: { "\($0)".contains("Fortran") }
        let bigEndian = try numPy("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 2), }", payload: 32)
        #expect { _ = try FeatureFile(path: bigEndian) } throws: { "\($0)".contains("'>f8' is not supported") }
        let truncated = try numPy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", payload: 20)
        #expect { _ = try FeatureFile(path: truncated) } throws: { "\($0)".contains("truncated") }
    }
}
