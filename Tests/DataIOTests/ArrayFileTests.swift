import Foundation
import Testing
@testable import DataIO
@testable import TensorCore

/// CRC-32 (IEEE, reflected 0xEDB88320) bit by bit: a reference independent of zlib.
func referenceCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

func littleEndian32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
}

@Suite struct ArrayFileTests {
    static let arrays = [
        NamedArray(name: "b.weight", shape: [2, 3], elements: .float32([1, -2, 3.5, 0, 1e-7, -0])),
        NamedArray(name: "a.num_batches_tracked", shape: [], elements: .int64([42])),
        NamedArray(name: "means", shape: [1, 2], elements: .float64([0.1, -1e300])),
        NamedArray(name: "empty", shape: [0, 4], elements: .float32([])),
    ]

    @Test func safetensorsBytesAreTheFormat() throws {
        let bytes = try Safetensors.encode([NamedArray(name: "x", shape: [2], elements: .float32([1, 2]))], metadata: ["format": "pt"])
        let header = #"{"__metadata__":{"format":"pt"},"x":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}}"#
        let padded = header + String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        #expect(Array(bytes[0..<8]) == withUnsafeBytes(of: UInt64(padded.utf8.count).littleEndian) { Array($0) })
        #expect(String(decoding: bytes[8..<(8 + padded.utf8.count)], as: UTF8.self) == padded)
        #expect(Array(bytes[(8 + padded.utf8.count)...]) == [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40])
    }

    @Test func safetensorsRoundTripInNameOrder() throws {
        let bytes = try Safetensors.encode(Self.arrays, metadata: ["format": "pt"])
        #expect(Int(littleEndian32(bytes, at: 0)) % 8 == 0)
        let (arrays, metadata) = try Safetensors.decode(bytes, path: "t.safetensors")
        #expect(metadata == ["format": "pt"])
        #expect(arrays == Self.arrays.sorted { $0.name < $1.name })
    }

    @Test func safetensorsRefusesDamage() throws {
        let bytes = try Safetensors.encode(Self.arrays)
        #expect(throws: ArrayFileError.self) { try Safetensors.decode(Array(bytes.dropLast(8)), path: "cut.safetensors") }
        #expect(throws: ArrayFileError.self) { try Safetensors.decode([1, 2, 3], path: "tiny.safetensors") }
        #expect(throws: ArrayFileError.self) { try Safetensors.encode(Self.arrays + [Self.arrays[0]]) }
    }

    @Test func npyBytesAreFormatOne() {
        let bytes = NumPyArray.encode(NamedArray(name: "x", shape: [2], elements: .float32([1, 2])))
        #expect(Array(bytes[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }") && header.hasSuffix(" \n"))
        #expect(Array(bytes[(10 + headerLength)...]) == [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40])
    }

    /// numpy.save(f, numpy.arange(6, dtype='<f8').reshape(2, 3)), or its Fortran-ordered twin.
    static func numpyBytes(fortranOrder: Bool) -> [UInt8] {
        var header = Array("{'descr': '<f8', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': (2, 3), }".utf8)
        header += [UInt8](repeating: 0x20, count: (64 - (10 + header.count + 1) % 64) % 64) + [0x0A]
        var bytes = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count), 0] + header
        for value in 0..<6 { withUnsafeBytes(of: Double(value).bitPattern.littleEndian) { bytes += $0 } }
        return bytes
    }

    @Test func npyReadsWhatNumPyWrites() throws {
        let array = try NumPyArray.decode(Self.numpyBytes(fortranOrder: false), name: "x", path: "x.npy")
        #expect(array == NamedArray(name: "x", shape: [2, 3], elements: .float64([0, 1, 2, 3, 4, 5])))
        #expect { try NumPyArray.decode(Self.numpyBytes(fortranOrder: true), name: "x", path: "x.npy") } throws: {
            ($0 as? ArrayFileError)?.problem.contains("Fortran") == true
        }
    }

    @Test(arguments: [false, true])
    func npzRoundTripWithCRCs(compressed: Bool) throws {
        let bytes = try NumPyArchive.encode(Self.arrays, compressed: compressed)
        #expect(try NumPyArchive.decode(bytes, path: "t.npz") == Self.arrays)
        // The first local header: its name, method and the CRC-32 of the .npy it holds (checked against a reference CRC).
        #expect(littleEndian32(bytes, at: 0) == 0x0403_4B50)
        #expect(bytes[8] == (compressed ? 8 : 0))
        let name = Array("b.weight.npy".utf8)
        #expect(Array(bytes[30..<(30 + name.count)]) == name)
        #expect(littleEndian32(bytes, at: 14) == referenceCRC32(NumPyArray.encode(Self.arrays[0])))
    }

    @Test func npzRefusesADamagedEntry() throws {
        var bytes = try NumPyArchive.encode(Self.arrays, compressed: false)
        let dataStart = 30 + "b.weight.npy".utf8.count
        bytes[dataStart + 70] ^= 0xFF  // a value of b.weight
        #expect { try NumPyArchive.decode(bytes, path: "t.npz") } throws: { ($0 as? ArrayFileError)?.problem.contains("CRC-32") == true }
    }

    @Test func filesRoundTrip() throws {
        let folder = temporaryFolder()
        try Safetensors.write(Self.arrays, metadata: ["format": "pt"], to: folder + "/a.safetensors")
        try NumPyArchive.write(Self.arrays, to: folder + "/a.npz")
        try NumPyArray.write(Self.arrays[0], to: folder + "/b.npy")
        #expect(try Safetensors.read(path: folder + "/a.safetensors").arrays.count == Self.arrays.count)
        #expect(try NumPyArchive.read(path: folder + "/a.npz") == Self.arrays)
        #expect(try NumPyArray.read(path: folder + "/b.npy") == NamedArray(name: "b", shape: [2, 3], elements: Self.arrays[0].elements))
        #expect { try NumPyArray.read(path: folder + "/missing.npy") } throws: { "\($0)" == folder + "/missing.npy: cannot read the file" }
    }
}
