// Tables of numbers: rows of D values from a NumPy `.npy` array [N, D] (float32, float64, int64, uint8;
// little-endian, C order) or a CSV file with a header line. Every value is checked: a ragged row, a
// value that is not a number, NaN or infinity is an error naming the file, the row and the column.
// Shape legend: values [count, dimension] Float64, row-major.

import Foundation
import TensorCore

/// What a training step draws its samples from.
public protocol TrainingData: Sendable {
    /// Samples in the set.
    var count: Int { get }
    /// The shape of one sample: [1, 28, 28] for images, [D] for table rows.
    var sampleShape: [Int] { get }
    /// Samples `indices` as a `[N] + sampleShape` tensor, or `[N, product(sampleShape)]` rows for a model that fits vectors
    /// (images scaled as `scaling` says; table rows as they are).
    func batch(_ indices: some Collection<Int>, scaling: PixelScaling) -> Tensor
    /// Class labels of `indices` (empty when the set has none).
    func labels(_ indices: some Collection<Int>) -> [Int]
    /// A digest of the content: the same data at another path has the same digest.
    var contentDigest: UInt64 { get }
    /// Where the data came from, for messages.
    var source: String { get }
}

extension ImageDataset: TrainingData {
    public var sampleShape: [Int] { [1, rows, columns] }
}

/// Rows of numbers read from a `.npy` or CSV file.
public struct TableDataset: TrainingData {
    /// [count, dimension]
    public let values: [Double]
    public let dimension: Int
    /// Column names (the CSV header; `x0`, `x1`, ... for `.npy`).
    public let columnNames: [String]
    public let source: String

    public init(values: [Double], dimension: Int, columnNames: [String], source: String) {
        self.values = values
        self.dimension = dimension
        self.columnNames = columnNames
        self.source = source
    }

    public var count: Int { dimension == 0 ? 0 : values.count / dimension }
    public var sampleShape: [Int] { [dimension] }

    /// Reads `path`: `.npy` by its magic bytes, anything else as CSV with a header line.
    public static func load(path: String) throws(DatasetError) -> TableDataset {
        let data = try readRegularFile(path)
        let table = data.starts(with: [0x93] + Array("NUMPY".utf8)) ? try readNumPy(data, path: path) : try readCSV(data, path: path)
        guard table.count > 0 else { throw DatasetError(path: path, problem: "no rows") }
        return table
    }

    public func batch(_ indices: some Collection<Int>, scaling: PixelScaling) -> Tensor {
        var tensor = Tensor(uninitialized: [indices.count, dimension])
        tensor.withUnsafeMutableBufferPointer { destination in
            for (row, index) in indices.enumerated() {
                for column in 0..<dimension { destination[row * dimension + column] = Float(values[index * dimension + column]) }
            }
        }
        return tensor
    }

    public func labels(_ indices: some Collection<Int>) -> [Int] { [] }

    /// FNV-1a of the values' bits and the dimension.
    public var contentDigest: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for value in [Double(dimension)] + values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { for byte in $0 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 } }
        }
        return hash
    }

    // MARK: - CSV

    static func readCSV(_ data: Data, path: String) throws(DatasetError) -> TableDataset {
        guard let text = String(data: data, encoding: .utf8) else { throw DatasetError(path: path, problem: "not UTF-8 text (expected CSV or .npy)") }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
            .filter { !$0.element.trimmingCharacters(in: .whitespaces).isEmpty }
        guard let header = lines.first else { throw DatasetError(path: path, problem: "empty file (expected a header line, then rows)") }
        let names = header.element.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if names.contains(where: { Double($0) != nil }) {
            throw DatasetError(path: path, problem: "line \(header.offset + 1): expected a header of column names, found numbers")
        }
        var values: [Double] = []
        values.reserveCapacity((lines.count - 1) * names.count)
        for (index, line) in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == names.count else {
                throw DatasetError(path: path, problem: "line \(index + 1): \(fields.count) fields, the header has \(names.count)")
            }
            for (column, field) in fields.enumerated() {
                let trimmed = field.trimmingCharacters(in: .whitespaces)
                guard let value = Double(trimmed), value.isFinite else {
                    throw DatasetError(path: path, problem: "line \(index + 1), column \(column + 1) (\(names[column])): '\(trimmed)' is not a finite number")
                }
                values.append(value)
            }
        }
        return TableDataset(values: values, dimension: names.count, columnNames: names, source: path)
    }

    // MARK: - NumPy

    static func readNumPy(_ data: Data, path: String) throws(DatasetError) -> TableDataset {
        let array = try NumPyArray(data, path: path)
        guard array.shape.count == 2, array.shape[1] > 0 else {
            throw DatasetError(path: path, problem: "shape \(array.shape): a table is a 2-dimensional array [rows, columns]")
        }
        let values = array.doubles
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw DatasetError(path: path, problem: "row \(bad / array.shape[1]), column \(bad % array.shape[1]): \(values[bad]) is not finite")
        }
        return TableDataset(values: values, dimension: array.shape[1], columnNames: (0..<array.shape[1]).map { "x\($0)" }, source: path)
    }
}

/// An array from a `.npy` file, its shape checked against the file's size before anything is allocated.
public struct NumPyArray: Sendable {
    public enum Element: String, Sendable { case float32 = "<f4", float64 = "<f8", int64 = "<i8", uint8 = "|u1" }
    public let shape: [Int]
    public let element: Element
    let payload: Data

    public init(_ data: Data, path: String) throws(DatasetError) {
        let header = try NumPyHeader(data, path: path)
        guard let element = Element(rawValue: header.elementType) ?? (header.elementType == "<u1" ? .uint8 : nil) else {
            throw DatasetError(path: path, problem: "element type '\(header.elementType)' is not supported (little-endian float32, float64, int64 or uint8)")
        }
        let size = element == .uint8 ? 1 : element == .float32 ? 4 : 8
        let bytes = try header.payloadSize(elementSize: size, fileSize: data.count, path: path)
        let offset = Int(header.dataOffset)
        guard bytes == data.count - offset else {
            throw DatasetError(path: path, problem: "\(data.count - offset - bytes) bytes beyond the \(header.shapeDescription) array")
        }
        let shape = header.shape
        self.shape = shape
        self.element = element
        payload = data.subdata(in: offset..<data.count)
    }

    /// The values as Double, in C order.
    public var doubles: [Double] {
        payload.withUnsafeBytes { raw in
            switch element {
            case .float32: (0..<(raw.count / 4)).map { Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) }
            case .float64: (0..<(raw.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            case .int64: (0..<(raw.count / 8)).map { Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            case .uint8: raw.map { Double($0) }
            }
        }
    }
}
