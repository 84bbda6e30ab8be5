// NumPy's .npy and .npz files, written and read without Python.
//
// .npy (format 1.0): "\x93NUMPY", 1, 0, header length (UInt16, little-endian), then a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and ended by "\n" so that the
//   data starts at a multiple of 64; then the little-endian data, row-major. Format 2.0 (UInt32 length) is read too.
// .npz: a zip archive of one `<name>.npy` per array (`numpy.load` drops the .npy), each stored or raw-deflated
//   (zlib), with its CRC-32; no zip64, so an archive stays under 4 GiB.

import CZlib
import Foundation
import TensorCore

/// The .npy format.
public enum NumPyArray {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// The .npy bytes of `array` (its name is not stored).
    public static func encode(_ array: NamedArray) -> [UInt8] {
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(descr(array.elements))', 'fortran_order': False, 'shape': \(shape), }".utf8)
        let unpadded = magic.count + 2 + 2 + header.count + 1
        header += [UInt8](repeating: UInt8(ascii: " "), count: (64 - unpadded % 64) % 64) + [UInt8(ascii: "\n")]
        var bytes = magic + [1, 0]
        appendLittleEndian(&bytes, UInt16(header.count))
        bytes += header
        appendElements(&bytes, array.elements)
        return bytes
    }

    /// The array in .npy bytes, named `name`; `path` names the file in errors. The header is read by `NumPyHeader`
    /// (every reader's one parser), whose shape is checked against the bytes present before anything is allocated.
    public static func decode(_ bytes: [UInt8], name: String, path: String) throws(ArrayFileError) -> NamedArray {
        let data = Data(bytes)
        let header: NumPyHeader
        do { header = try NumPyHeader(data, path: path) } catch { throw ArrayFileError(path: path, problem: error.problem) }
        let size: Int
        switch header.elementType {
        case "<f4": size = 4
        case "<f8", "<i8": size = 8
        default: throw ArrayFileError(path: path, problem: "dtype \(header.elementType) is not supported (float32, float64 or int64, little-endian)")
        }
        let payload: Int
        do { payload = try header.payloadSize(elementSize: size, fileSize: bytes.count, path: path) } catch {
            throw ArrayFileError(path: path, problem: error.problem)
        }
        let start = Int(header.dataOffset)
        guard payload == bytes.count - start else {
            throw ArrayFileError(path: path, problem: "\(bytes.count - start) bytes of data for shape \(header.shape) of \(header.elementType)")
        }
        let data32or64 = Array(bytes[start...])
        let elements: ArrayElements = switch header.elementType {
        case "<f4": .float32(littleEndianValues(data32or64, as: UInt32.self).map(Float.init(bitPattern:)))
        case "<f8": .float64(littleEndianValues(data32or64, as: UInt64.self).map(Double.init(bitPattern:)))
        default: .int64(littleEndianValues(data32or64, as: Int64.self))
        }
        return NamedArray(name: name, shape: header.shape, elements: elements)
    }

    /// Writes `array` as a .npy file.
    public static func write(_ array: NamedArray, to path: String) throws(ArrayFileError) { try writeFile(encode(array), to: path) }

    /// Reads a .npy file (the array is named after the file).
    public static func read(path: String) throws(ArrayFileError) -> NamedArray {
        guard let data = FileManager.default.contents(atPath: path) else { throw ArrayFileError(path: path, problem: "cannot read the file") }
        return try decode([UInt8](data), name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension, path: path)
    }

    static func descr(_ elements: ArrayElements) -> String {
        switch elements {
        case .float32: "<f4"
        case .float64: "<f8"
        case .int64: "<i8"
        }
    }

    /// The text after `'key':` up to the next top-level comma (a tuple counts as one value).
    static func value(of key: String, in header: String) -> String? {
        guard let start = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        var depth = 0
        var result = ""
        for character in header[start.upperBound...] {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if (character == "," && depth == 0) || character == "}" { break }
            result.append(character)
        }
        return result.trimmingCharacters(in: .whitespaces)
    }
}

/// The .npz format: a zip of .npy files.
public enum NumPyArchive {
    /// The archive's bytes: one `<name>.npy` per array in the given order, raw-deflated when `compressed`
    /// (as `numpy.savez_compressed`), else stored (as `numpy.savez`).
    public static func encode(_ arrays: [NamedArray], compressed: Bool) throws(ArrayFileError) -> [UInt8] {
        var bytes: [UInt8] = []
        var directory: [UInt8] = []
        for array in arrays {
            let name = Array((array.name + ".npy").utf8)
            let content = NumPyArray.encode(array)
            let stored = compressed ? try deflate(content) : content
            let checksum = content.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            guard content.count < Int(UInt32.max), bytes.count < Int(UInt32.max), name.count <= Int(UInt16.max) else {
                throw ArrayFileError(path: "npz", problem: "array \(array.name) does not fit a zip archive without zip64")
            }
            let method: UInt16 = compressed ? 8 : 0
            // Local file header.
            let localOffset = UInt32(bytes.count)
            appendLittleEndian(&bytes, UInt32(0x0403_4B50))
            appendFileFields(&bytes, method: method, checksum: checksum, storedSize: stored.count, size: content.count, nameLength: name.count)
            bytes += name
            bytes += stored
            // Its central directory entry.
            appendLittleEndian(&directory, UInt32(0x0201_4B50))
            appendLittleEndian(&directory, UInt16(20))  // made by: version 2.0
            appendFileFields(&directory, method: method, checksum: checksum, storedSize: stored.count, size: content.count, nameLength: name.count)
            for _ in 0..<3 { appendLittleEndian(&directory, UInt16(0)) }  // comment length, disk, internal attributes
            appendLittleEndian(&directory, UInt32(0))  // external attributes
            appendLittleEndian(&directory, localOffset)
            directory += name
        }
        guard arrays.count <= Int(UInt16.max), bytes.count + directory.count < Int(UInt32.max) else {
            throw ArrayFileError(path: "npz", problem: "the archive does not fit a zip file without zip64")
        }
        let directoryOffset = UInt32(bytes.count)
        bytes += directory
        appendLittleEndian(&bytes, UInt32(0x0605_4B50))
        appendLittleEndian(&bytes, UInt16(0))  // this disk
        appendLittleEndian(&bytes, UInt16(0))  // the directory's disk
        appendLittleEndian(&bytes, UInt16(arrays.count))
        appendLittleEndian(&bytes, UInt16(arrays.count))
        appendLittleEndian(&bytes, UInt32(directory.count))
        appendLittleEndian(&bytes, directoryOffset)
        appendLittleEndian(&bytes, UInt16(0))  // comment length
        return bytes
    }

    /// Writes `arrays` as a .npz file.
    public static func write(_ arrays: [NamedArray], compressed: Bool = true, to path: String) throws(ArrayFileError) {
        let bytes: [UInt8]
        do { bytes = try encode(arrays, compressed: compressed) } catch { throw ArrayFileError(path: path, problem: error.problem) }
        try writeFile(bytes, to: path)
    }

    /// The arrays of an archive's bytes, in directory order, each checked against its CRC-32; `path` names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws(ArrayFileError) -> [NamedArray] {
        guard bytes.count >= 22, let end = (0...(bytes.count - 22)).reversed().first(where: { readLittleEndian(bytes, at: $0, as: UInt32.self) == 0x0605_4B50 }) else {
            throw ArrayFileError(path: path, problem: "not a zip archive (no end of central directory)")
        }
        let entries = Int(readLittleEndian(bytes, at: end + 10, as: UInt16.self))
        var position = Int(readLittleEndian(bytes, at: end + 16, as: UInt32.self))
        var arrays: [NamedArray] = []
        for _ in 0..<entries {
            guard position + 46 <= bytes.count, readLittleEndian(bytes, at: position, as: UInt32.self) == 0x0201_4B50 else {
                throw ArrayFileError(path: path, problem: "damaged zip central directory")
            }
            let method = readLittleEndian(bytes, at: position + 10, as: UInt16.self)
            let checksum = readLittleEndian(bytes, at: position + 16, as: UInt32.self)
            let storedSize = Int(readLittleEndian(bytes, at: position + 20, as: UInt32.self))
            let size = Int(readLittleEndian(bytes, at: position + 24, as: UInt32.self))
            let nameLength = Int(readLittleEndian(bytes, at: position + 28, as: UInt16.self))
            let extraLength = Int(readLittleEndian(bytes, at: position + 30, as: UInt16.self))
            let commentLength = Int(readLittleEndian(bytes, at: position + 32, as: UInt16.self))
            let local = Int(readLittleEndian(bytes, at: position + 42, as: UInt32.self))
            guard position + 46 + nameLength <= bytes.count else { throw ArrayFileError(path: path, problem: "damaged zip central directory") }
            let fileName = String(decoding: bytes[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self)
            position += 46 + nameLength + extraLength + commentLength
            guard local + 30 <= bytes.count, readLittleEndian(bytes, at: local, as: UInt32.self) == 0x0403_4B50 else {
                throw ArrayFileError(path: path, problem: "\(fileName): damaged local file header")
            }
            let dataStart = local + 30 + Int(readLittleEndian(bytes, at: local + 26, as: UInt16.self)) + Int(readLittleEndian(bytes, at: local + 28, as: UInt16.self))
            guard dataStart + storedSize <= bytes.count else { throw ArrayFileError(path: path, problem: "\(fileName): cut short") }
            let stored = Array(bytes[dataStart..<(dataStart + storedSize)])
            let content: [UInt8]
            switch method {
            case 0: content = stored
            case 8: content = try inflate(stored, size: size, path: path, entry: fileName)
            default: throw ArrayFileError(path: path, problem: "\(fileName): zip compression method \(method) is not supported")
            }
            let actual = content.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            guard content.count == size, actual == checksum else { throw ArrayFileError(path: path, problem: "\(fileName): CRC-32 or size mismatch") }
            let name = fileName.hasSuffix(".npy") ? String(fileName.dropLast(4)) : fileName
            arrays.append(try NumPyArray.decode(content, name: name, path: "\(path)/\(fileName)"))
        }
        return arrays
    }

    /// Reads a .npz file.
    public static func read(path: String) throws(ArrayFileError) -> [NamedArray] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ArrayFileError(path: path, problem: "cannot read the file") }
        return try decode([UInt8](data), path: path)
    }

    /// The fields a local header and a directory entry share, from "version needed" to "extra length".
    static func appendFileFields(_ bytes: inout [UInt8], method: UInt16, checksum: UInt32, storedSize: Int, size: Int, nameLength: Int) {
        appendLittleEndian(&bytes, UInt16(20))          // version needed: 2.0 (deflate)
        appendLittleEndian(&bytes, UInt16(0))           // flags
        appendLittleEndian(&bytes, method)
        appendLittleEndian(&bytes, UInt16(0))           // time 00:00:00
        appendLittleEndian(&bytes, UInt16(0x21))        // date 1980-01-01 (fixed: the same arrays give the same bytes)
        appendLittleEndian(&bytes, checksum)
        appendLittleEndian(&bytes, UInt32(storedSize))
        appendLittleEndian(&bytes, UInt32(size))
        appendLittleEndian(&bytes, UInt16(nameLength))
        appendLittleEndian(&bytes, UInt16(0))           // extra length
    }

    /// Raw deflate (no zlib header), as zip stores it.
    static func deflate(_ input: [UInt8]) throws(ArrayFileError) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ArrayFileError(path: "npz", problem: "zlib deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        let capacity = Int(deflateBound(&stream, UInt(input.count)))
        let (status, output) = finish(&stream, input, capacity: capacity) { CZlib.deflate(&$0, Z_FINISH) }
        guard status == Z_STREAM_END else { throw ArrayFileError(path: "npz", problem: "zlib deflate failed with status \(status)") }
        return output
    }

    /// Raw inflate of `input` to `size` bytes.
    static func inflate(_ input: [UInt8], size: Int, path: String, entry: String) throws(ArrayFileError) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ArrayFileError(path: path, problem: "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        let (status, output) = finish(&stream, input, capacity: max(size, 1)) { CZlib.inflate(&$0, Z_FINISH) }
        guard status == Z_STREAM_END, output.count == size else {
            throw ArrayFileError(path: path, problem: "\(entry): its deflated data is damaged (zlib status \(status))")
        }
        return output
    }

    /// One `Z_FINISH` call of `process` over all of `input` into at most `capacity` bytes: its status and the bytes written.
    static func finish(_ stream: inout z_stream, _ input: [UInt8], capacity: Int, _ process: (inout z_stream) -> Int32) -> (Int32, [UInt8]) {
        var input = input
        var output = [UInt8](repeating: 0, count: capacity)
        let status = input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                stream.next_in = inputBuffer.baseAddress
                stream.avail_in = UInt32(inputBuffer.count)
                stream.next_out = outputBuffer.baseAddress
                stream.avail_out = UInt32(outputBuffer.count)
                return process(&stream)
            }
        }
        return (status, Array(output[0..<(capacity - Int(stream.avail_out))]))
    }
}
