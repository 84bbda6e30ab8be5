// Feature matrices on disk: NumPy `.npy` files (format 1.0-3.0, little-endian float32, float64
// or int64, C order) and raw little-endian files whose row width the user gives. A rank reads
// only the rows it needs.

import Foundation

/// Element types of feature and index files.
public enum ElementType: String, Sendable, CaseIterable {
    case float32 = "f32", float64 = "f64", int64 = "i64"

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 8 }
    /// NumPy's `descr`.
    var numpyDescription: String { self == .float32 ? "<f4" : self == .float64 ? "<f8" : "<i8" }
}

/// A [rows, dimension] matrix in a file, read row range by row range.
public struct FeatureFile: Sendable {
    public let path: String
    public let rows: Int
    public let dimension: Int
    public let elementType: ElementType
    let dataOffset: UInt64

    /// Opens `path`: a `.npy` file describes itself; any other file is raw, and needs `dimension` and `rawType`.
    public init(path: String, dimension: Int? = nil, rawType: ElementType? = nil) throws(EvaluationError) {
        self.path = path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int else {
            throw EvaluationError("\(path): no such file")
        }
        let head = try Self.readBytes(path: path, offset: 0, count: min(size, 65_536))
        if head.starts(with: [0x93] + Array("NUMPY".utf8)) {
            (rows, self.dimension, elementType, dataOffset) = try Self.parseNumPyHeader(head, path: path)
            let needed = Int(dataOffset) + rows * self.dimension * elementType.size
            guard size >= needed else { throw EvaluationError("\(path): truncated (\(size) bytes, its header promises \(needed))") }
            if let dimension, dimension != self.dimension {
                throw EvaluationError("\(path): rows of \(self.dimension) values, but --dim \(dimension) was given")
            }
        } else {
            guard let dimension, let rawType else {
                throw EvaluationError("\(path): not a .npy file; for raw little-endian data give --dim D and --dtype f32|f64")
            }
            guard dimension > 0, size % (dimension * rawType.size) == 0 else {
                throw EvaluationError("\(path): \(size) bytes are not whole rows of \(dimension) \(rawType.rawValue) values")
            }
            rows = size / (dimension * rawType.size)
            self.dimension = dimension
            elementType = rawType
            dataOffset = 0
        }
    }

    /// Rows `range` as Double ([range.count, dimension]).
    public func readRows(_ range: Range<Int>) throws(EvaluationError) -> [Double] {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "readRows: \(range) outside 0..<\(rows)")
        let bytes = try Self.readBytes(path: path, offset: dataOffset + UInt64(range.lowerBound * dimension * elementType.size),
                                       count: range.count * dimension * elementType.size)
        return bytes.withUnsafeBytes { raw in
            let count = range.count * dimension
            switch elementType {
            case .float32: return (0..<count).map { Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) }
            case .float64: return (0..<count).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            case .int64: return (0..<count).map { Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            }
        }
    }

    /// All rows as integers (index files).
    public func readIntegers() throws(EvaluationError) -> [[Int]] {
        let values = try readRows(0..<rows)
        guard values.allSatisfy({ $0 == $0.rounded() && $0 >= 0 }) else { throw EvaluationError("\(path): expected non-negative integer indices") }
        return (0..<rows).map { row in values[(row * dimension)..<((row + 1) * dimension)].map { Int($0) } }
    }

    static func readBytes(path: String, offset: UInt64, count: Int) throws(EvaluationError) -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw EvaluationError("\(path): cannot open for reading") }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: offset)
            let data = try handle.read(upToCount: count) ?? Data()
            guard data.count == count else { throw EvaluationError("\(path): truncated (wanted \(count) bytes at offset \(offset))") }
            return data
        } catch let error as EvaluationError {
            throw error
        } catch {
            throw EvaluationError("\(path): \(error.localizedDescription)")
        }
    }

    /// Parses the magic, version, header length and header dictionary of a `.npy` file.
    static func parseNumPyHeader(_ head: Data, path: String) throws(EvaluationError) -> (Int, Int, ElementType, UInt64) {
        let bytes = [UInt8](head)
        guard bytes.count >= 10 else { throw EvaluationError("\(path): truncated .npy header") }
        let major = bytes[6]
        let (lengthSize, headerLength): (Int, Int) = switch major {
        case 1: (2, Int(bytes[8]) | Int(bytes[9]) << 8)
        case 2, 3: (4, bytes.count >= 12 ? Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24 : -1)
        default: (0, -1)
        }
        guard headerLength >= 0, 8 + lengthSize + headerLength <= bytes.count else {
            throw EvaluationError("\(path): unsupported or truncated .npy header (format version \(major))")
        }
        let header = String(decoding: bytes[(8 + lengthSize)..<(8 + lengthSize + headerLength)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let keyRange = header.range(of: "'\(key)':") else { return nil }
            return String(header[keyRange.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let description = field("descr"), let fortran = field("fortran_order"), let shape = field("shape") else {
            throw EvaluationError("\(path): the .npy header lacks descr, fortran_order or shape")
        }
        guard let type = ElementType.allCases.first(where: { description.hasPrefix("'\($0.numpyDescription)'") }) else {
            let found = description.prefix(while: { $0 != "," })
            throw EvaluationError("\(path): element type \(found) is not supported (use little-endian float32, float64 or int64)")
        }
        guard fortran.hasPrefix("False") else { throw EvaluationError("\(path): Fortran-ordered arrays are not supported (save with C order)") }
        guard shape.hasPrefix("("), let close = shape.firstIndex(of: ")") else { throw EvaluationError("\(path): cannot read the shape \(shape)") }
        let dimensions = shape[shape.index(after: shape.startIndex)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        guard dimensions.count == 2 || dimensions.count == 1 else {
            throw EvaluationError("\(path): expected a matrix [rows, dimension], found shape \(shape[...close])")
        }
        return (dimensions[0], dimensions.count == 2 ? dimensions[1] : 1, type, UInt64(8 + lengthSize + headerLength))
    }
}

/// Writes `values` ([rows, dimension]) as a float32 `.npy` file (format 1.0).
public func writeNumPy(_ values: [Float], rows: Int, dimension: Int, to path: String) throws(EvaluationError) {
    precondition(values.count == rows * dimension, "writeNumPy: \(values.count) values for \(rows)x\(dimension)")
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(dimension)), }"
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
    data.append(Data(header.utf8))
    if !values.isEmpty { values.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) } }
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw EvaluationError("\(path): cannot write (\(error.localizedDescription))")
    }
}
