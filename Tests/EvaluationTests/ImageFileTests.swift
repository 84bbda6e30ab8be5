import DataIO
import Foundation
import Testing
@testable import Evaluation

@Suite struct ImageFileTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gentrain-images-\(getpid())").path

    init() throws { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

    /// A float `.npy` of `shape` with `values` (float64 when `wide`).
    func floats(_ name: String, _ values: [Double], shape: [Int], wide: Bool) throws -> String {
        let path = folder + "/" + name
        let payload = wide ? values.withUnsafeBytes { Data($0) } : values.map(Float.init).withUnsafeBytes { Data($0) }
        try writeNumPy(payload, elementType: wide ? "<f8" : "<f4", shape: shape, to: path)
        return path
    }

    @Test func bytesAndFloatsOfEitherShapeReadAsTheMetricsSeeThem() throws {
        let bytes = (0..<(3 * 4 * 5)).map { UInt8($0 * 4) }
        try writeNumPy(bytes, shape: [3, 4, 5], to: folder + "/u8.npy")
        let file = try ImageFile(path: folder + "/u8.npy", height: 4, width: 5)
        #expect(file.count == 3 && file.element == .uint8)
        #expect(try file.readImages(1..<3) == bytes[20...].map { Float($0) / 255 })
        let header = try NumPyHeader(Data(contentsOf: URL(fileURLWithPath: folder + "/u8.npy")), path: "u8.npy")
        #expect(header.elementType == "|u1" && header.shape == [3, 4, 5] && header.dataOffset % 64 == 0)

        let values = bytes.map { Double($0) / 255 }
        for wide in [false, true] {
            let path = try floats("f\(wide).npy", values, shape: [3, 1, 4, 5], wide: wide)
            let floatFile = try ImageFile(path: path, height: 4, width: 5)
            #expect(floatFile.count == 3 && floatFile.element == (wide ? .float64 : .float32))
            #expect(try floatFile.readImages(0..<3) == values.map(Float.init))
        }
    }

    @Test func badFilesAreOneLineNamingTheFileAndPlace() throws {
        func problem(_ path: String) -> String {
            do {
                try ImageFile(path: path, height: 4, width: 5).validate()
                return "no error"
            } catch { return error.description }
        }
        var values = [Double](repeating: 0.5, count: 2 * 20)
        values[20 + 7] = 1.25
        #expect(problem(try floats("range.npy", values, shape: [2, 4, 5], wide: false)).hasSuffix("range.npy: image 1, row 1, column 2 is 1.25, outside [0, 1]"))
        values[20 + 7] = .nan
        #expect(problem(try floats("nan.npy", values, shape: [2, 4, 5], wide: true)).hasSuffix("nan.npy: image 1, row 1, column 2 is NaN"))
        #expect(problem(try floats("flat.npy", values, shape: [2, 20], wide: true)).hasSuffix("flat.npy: shape (2, 20) is not [N, 4, 5] or [N, 1, 4, 5]"))
        #expect(problem(try floats("rgb.npy", [], shape: [0, 3, 4, 5], wide: true)).contains("shape (0, 3, 4, 5) is not"))
        try writeNumPy(Data(count: 40 * 8), elementType: "<i8", shape: [2, 4, 5], to: folder + "/ints.npy")
        #expect(problem(folder + "/ints.npy").contains("element type '<i8' is not supported"))
        #expect(problem(folder + "/missing.npy").hasSuffix("missing.npy: no such file"))
        #expect(problem(folder).hasSuffix(": a folder, not a .npy file of images"))
        try Data("not numpy".utf8).write(to: URL(fileURLWithPath: folder + "/text.npy"))
        #expect(problem(folder + "/text.npy").contains("text.npy: not a .npy file"))
    }
}
