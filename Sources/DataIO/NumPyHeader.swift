// The header of a NumPy `.npy` file, the one parser that tables, feature files and image files share. A shape is
// checked against the bytes the file really holds before anything is allocated: a crafted header (a negative size,
// 2^62 rows, a product that overflows) is one error naming the file.

import Foundation

/// The header of a NumPy `.npy` file (format 1.0-3.0, C order): element type, shape and where the data starts.
public struct NumPyHeader: Sendable {
    /// NumPy's `descr`, e.g. `<f4` or `|u1`.
    public let elementType: String
    public let shape: [Int]
    public let dataOffset: UInt64

    /// Whether `head` (a file's first bytes) starts with the `.npy` magic.
    public static func isNumPy(_ head: Data) -> Bool { head.starts(with: [0x93] + Array("NUMPY".utf8)) }

    /// Parses the magic, version, header length and header dictionary of a `.npy` file's first bytes (at least the
    /// whole header; 65,546 bytes always suffice).
    public init(_ head: Data, path: String) throws(DatasetError) {
        let bytes = [UInt8](head.prefix(65_546))
        guard bytes.count >= 10, Self.isNumPy(head) else { throw DatasetError(path: path, problem: "not a .npy file (NumPy's magic \\x93NUMPY is missing)") }
        let major = bytes[6]
        let (lengthSize, headerLength): (Int, Int) = switch major {
        case 1: (2, Int(bytes[8]) | Int(bytes[9]) << 8)
        case 2, 3: (4, bytes.count >= 12 ? Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24 : -1)
        default: (0, -1)
        }
        guard headerLength >= 0, 8 + lengthSize + headerLength <= bytes.count else {
            throw DatasetError(path: path, problem: "unsupported or truncated .npy header (format version \(major))")
        }
        let header = String(decoding: bytes[(8 + lengthSize)..<(8 + lengthSize + headerLength)], as: UTF8.self)
        func field(_ key: String) -> Substring? {
            header.range(of: "'\(key)':").map { header[$0.upperBound...].drop { $0 == " " } }
        }
        guard let description = field("descr"), let fortran = field("fortran_order"), let shape = field("shape") else {
            throw DatasetError(path: path, problem: "the .npy header lacks descr, fortran_order or shape")
        }
        guard description.hasPrefix("'"), let end = description.dropFirst().firstIndex(of: "'") else {
            throw DatasetError(path: path, problem: "cannot read the element type \(description.prefix(while: { $0 != "," }))")
        }
        guard fortran.hasPrefix("False") else { throw DatasetError(path: path, problem: "Fortran-ordered arrays are not supported (save in C order)") }
        guard shape.hasPrefix("("), let close = shape.firstIndex(of: ")") else {
            throw DatasetError(path: path, problem: "cannot read the shape \(shape.prefix(40))")
        }
        let parts = shape[shape.index(after: shape.startIndex)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let dimensions = parts.compactMap { Int($0) }
        guard dimensions.count == parts.count, dimensions.allSatisfy({ $0 >= 0 }) else {
            throw DatasetError(path: path, problem: "shape (\(parts.joined(separator: ", ").prefix(80))) is not a list of sizes")
        }
        elementType = String(description[description.index(after: description.startIndex)..<end])
        self.shape = dimensions
        dataOffset = UInt64(8 + lengthSize + headerLength)
    }

    /// The shape as NumPy prints it: `(10, 28, 28)`.
    public var shapeDescription: String { "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")") }

    /// The bytes of the array of elements of `elementSize` bytes, checked against the `fileSize` bytes the file holds:
    /// a shape whose product overflows, or that needs more bytes than follow the header, is an error naming the file.
    public func payloadSize(elementSize: Int, fileSize: Int, path: String) throws(DatasetError) -> Int {
        let available = max(fileSize - Int(dataOffset), 0)
        var count = 1, overflow = false
        for dimension in shape + [elementSize] where !overflow {
            (count, overflow) = count.multipliedReportingOverflow(by: dimension)
        }
        guard !overflow, count <= available else {
            throw DatasetError(path: path, problem: "truncated: shape \(shapeDescription) needs more bytes than the file's \(available) after its header")
        }
        return count
    }
}
