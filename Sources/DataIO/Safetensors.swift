// safetensors files (https://github.com/huggingface/safetensors), written and read without Python:
//   8 bytes   header length N (UInt64, little-endian)
//   N bytes   JSON header: {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...},
//             padded with spaces so that the data starts at a multiple of 8
//   the data  each array's little-endian bytes, row-major, back to back in name order; offsets count from here

import Foundation
import TensorCore

/// An array file (safetensors, npy, npz) that cannot be written or read: the file and the problem, in one line.
public struct ArrayFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

/// The safetensors format.
public enum Safetensors {
    /// The file's bytes: `arrays` sorted by name, `metadata` as the header's `__metadata__` (omitted when empty).
    public static func encode(_ arrays: [NamedArray], metadata: [String: String] = [:]) throws(ArrayFileError) -> [UInt8] {
        let sorted = arrays.sorted { $0.name < $1.name }
        if let repeated = zip(sorted, sorted.dropFirst()).first(where: { $0.name == $1.name }) {
            throw ArrayFileError(path: "safetensors", problem: "the name \(repeated.0.name) appears twice")
        }
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for array in sorted {
            guard array.name != "__metadata__" else { throw ArrayFileError(path: "safetensors", problem: "an array cannot be named __metadata__") }
            let length = array.elements.count * array.elements.elementSize
            header[array.name] = ["dtype": dtypeName(array.elements), "shape": array.shape, "data_offsets": [offset, offset + length]] as [String: Any]
            offset += length
        }
        guard var json = try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            throw ArrayFileError(path: "safetensors", problem: "the header cannot be written as JSON")
        }
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count + offset)
        appendLittleEndian(&bytes, UInt64(json.count))
        bytes += json
        for array in sorted { appendElements(&bytes, array.elements) }
        return bytes
    }

    /// Writes `arrays` to `path`.
    public static func write(_ arrays: [NamedArray], metadata: [String: String] = [:], to path: String) throws(ArrayFileError) {
        let bytes: [UInt8]
        do { bytes = try encode(arrays, metadata: metadata) } catch { throw ArrayFileError(path: path, problem: error.problem) }
        try writeFile(bytes, to: path)
    }

    /// The arrays (in header order of their offsets) and metadata of a safetensors file's bytes; `path` names it in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws(ArrayFileError) -> (arrays: [NamedArray], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw ArrayFileError(path: path, problem: "shorter than a safetensors header") }
        let headerLength = readLittleEndian(bytes, at: 0, as: UInt64.self)
        guard headerLength <= UInt64(bytes.count - 8),
              let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + Int(headerLength))])) as? [String: Any] else {
            throw ArrayFileError(path: path, problem: "unreadable safetensors header")
        }
        let dataStart = 8 + Int(headerLength)
        let metadata = header["__metadata__"] as? [String: String] ?? [:]
        var arrays: [(begin: Int, array: NamedArray)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String, let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ArrayFileError(path: path, problem: "array \(name): its header entry lacks dtype, shape or data_offsets")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, dataStart + end <= bytes.count else {
                throw ArrayFileError(path: path, problem: "array \(name): data_offsets \(offsets) lie outside the file")
            }
            let count = shape.reduce(1, *)
            let slice = Array(bytes[(dataStart + begin)..<(dataStart + end)])
            guard let elements = readElements(slice, dtype: dtype, count: count) else {
                throw ArrayFileError(path: path, problem: "array \(name): \(end - begin) bytes of \(dtype) do not fill shape \(shape)")
            }
            arrays.append((begin, NamedArray(name: name, shape: shape, elements: elements)))
        }
        return (arrays.sorted { ($0.begin, $0.array.name) < ($1.begin, $1.array.name) }.map(\.array), metadata)
    }

    /// Reads a safetensors file.
    public static func read(path: String) throws(ArrayFileError) -> (arrays: [NamedArray], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw ArrayFileError(path: path, problem: "cannot read the file") }
        return try decode([UInt8](data), path: path)
    }

    static func dtypeName(_ elements: ArrayElements) -> String {
        switch elements {
        case .float32: "F32"
        case .float64: "F64"
        case .int64: "I64"
        }
    }

    static func readElements(_ bytes: [UInt8], dtype: String, count: Int) -> ArrayElements? {
        switch dtype {
        case "F32" where bytes.count == 4 * count: .float32(littleEndianValues(bytes, as: UInt32.self).map(Float.init(bitPattern:)))
        case "F64" where bytes.count == 8 * count: .float64(littleEndianValues(bytes, as: UInt64.self).map(Double.init(bitPattern:)))
        case "I64" where bytes.count == 8 * count: .int64(littleEndianValues(bytes, as: Int64.self))
        default: nil
        }
    }
}

// MARK: - Bytes

/// Appends the elements' little-endian bytes.
func appendElements(_ bytes: inout [UInt8], _ elements: ArrayElements) {
    switch elements {
    case .float32(let values): for value in values { appendLittleEndian(&bytes, value.bitPattern) }
    case .float64(let values): for value in values { appendLittleEndian(&bytes, value.bitPattern) }
    case .int64(let values): for value in values { appendLittleEndian(&bytes, value) }
    }
}

/// Appends `value`'s bytes, little-endian (every binary format gentrain writes: checkpoints, safetensors, .npy, .npz).
public func appendLittleEndian<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}

/// The little-endian integer at `offset` of `bytes` (the caller has checked that it fits).
public func readLittleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as type: T.Type) -> T {
    var value: T = 0
    withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[offset..<(offset + MemoryLayout<T>.size)]) }
    return T(littleEndian: value)
}

/// Consecutive little-endian integers filling `bytes`.
func littleEndianValues<T: FixedWidthInteger>(_ bytes: [UInt8], as type: T.Type) -> [T] {
    let size = MemoryLayout<T>.size
    return (0..<(bytes.count / size)).map { readLittleEndian(bytes, at: $0 * size, as: T.self) }
}

/// Writes `bytes` to `path` (through a temporary file renamed into place).
func writeFile(_ bytes: [UInt8], to path: String) throws(ArrayFileError) {
    let temporary = path + ".partial-\(getpid())"
    guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
        throw ArrayFileError(path: path, problem: "cannot write the file: \(String(cString: strerror(errno)))")
    }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw ArrayFileError(path: path, problem: "cannot write the file: \(reason)")
    }
}
