// Feature matrices on disk: NumPy `.npy` files (format 1.0-3.0, little-endian float32, float64
// or int64, C order) and raw little-endian files whose row width the user gives. A rank reads
// only the rows it needs.

import DataIO
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
        let size = try Self.regularFileSize(path, expecting: "a .npy or raw feature file")
        let head = try Self.readBytes(path: path, offset: 0, count: min(size, 65_546))
        if NumPyHeader.isNumPy(head) {
            (rows, self.dimension, elementType, dataOffset) = try Self.parseNumPyHeader(head, fileSize: size, path: path)
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

    /// Rows `range` as Double ([range.count, dimension]); NaN or infinity is an error naming the file and the first
    /// bad value's row and column.
    public func readRows(_ range: Range<Int>) throws(EvaluationError) -> [Double] {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "readRows: \(range) outside 0..<\(rows)")
        let values = try readValues(range)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            let value = values[bad]
            throw EvaluationError("\(path): row \(range.lowerBound + bad / dimension), column \(bad % dimension) is \(value.isNaN ? "NaN" : "\(value)")")
        }
        return values
    }

    private func readValues(_ range: Range<Int>) throws(EvaluationError) -> [Double] {
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

    /// The size of `path`, which must be a regular file: a folder, a device or a pipe is named as such.
    static func regularFileSize(_ path: String, expecting what: String) throws(EvaluationError) -> Int {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int else {
            throw EvaluationError("\(path): no such file")
        }
        if attributes[.type] as? FileAttributeType == .typeDirectory { throw EvaluationError("\(path): a folder, not \(what)") }
        guard attributes[.type] as? FileAttributeType == .typeRegular else { throw EvaluationError("\(path): not a regular file (\(what) is expected)") }
        return size
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

    /// The matrix a `.npy` header describes: element type, [rows, dimension] (a vector is one column) and data offset.
    static func parseNumPyHeader(_ head: Data, fileSize: Int, path: String) throws(EvaluationError) -> (Int, Int, ElementType, UInt64) {
        let header = try NumPyHeader.read(head, path: path)
        guard let type = ElementType.allCases.first(where: { header.elementType == $0.numpyDescription }) else {
            throw EvaluationError("\(path): element type '\(header.elementType)' is not supported (use little-endian float32, float64 or int64)")
        }
        guard header.shape.count == 2 || header.shape.count == 1 else {
            throw EvaluationError("\(path): expected a matrix [rows, dimension], found shape \(header.shapeDescription)")
        }
        do {
            _ = try header.payloadSize(elementSize: type.size, fileSize: fileSize, path: path)
        } catch {
            throw EvaluationError(error.description)
        }
        return (header.shape[0], header.shape.count == 2 ? header.shape[1] : 1, type, header.dataOffset)
    }
}

extension NumPyHeader {
    /// The header of `head` (a `.npy` file's first bytes), its errors as evaluation errors.
    static func read(_ head: Data, path: String) throws(EvaluationError) -> NumPyHeader {
        do {
            return try NumPyHeader(head, path: path)
        } catch {
            throw EvaluationError(error.description)
        }
    }
}

/// Writes `values` ([rows, dimension]) as a float32 `.npy` file (format 1.0).
public func writeNumPy(_ values: [Float], rows: Int, dimension: Int, to path: String) throws(EvaluationError) {
    precondition(values.count == rows * dimension, "writeNumPy: \(values.count) values for \(rows)x\(dimension)")
    let payload = values.withUnsafeBytes { Data($0) }
    try writeNumPy(payload, elementType: "<f4", shape: [rows, dimension], to: path)
}

/// Writes `values` as a uint8 `.npy` file of `shape` (format 1.0), e.g. images [N, 28, 28].
public func writeNumPy(_ values: [UInt8], shape: [Int], to path: String) throws(EvaluationError) {
    precondition(values.count == shape.reduce(1, *), "writeNumPy: \(values.count) bytes for shape \(shape)")
    try writeNumPy(Data(values), elementType: "|u1", shape: shape, to: path)
}

/// Writes a `.npy` file (format 1.0, C order): `payload` holds the little-endian elements of `elementType` (NumPy's `descr`).
func writeNumPy(_ payload: Data, elementType: String, shape: [Int], to path: String) throws(EvaluationError) {
    let shapeText = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    var header = "{'descr': '\(elementType)', 'fortran_order': False, 'shape': (\(shapeText)), }"
    // NumPy's rule: magic, version, length and header together are a multiple of 64 bytes, the header ending in a newline.
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
    data.append(Data(header.utf8))
    data.append(payload)
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw EvaluationError("\(path): cannot write (\(error.localizedDescription))")
    }
}
