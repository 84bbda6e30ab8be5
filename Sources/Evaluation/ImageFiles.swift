// Images from any tool as a NumPy `.npy` file: uint8 [N, H, W] or [N, 1, H, W] (0...255), or float32 /
// float64 in [0, 1] of the same shapes (C order, little-endian). A rank reads only the images it needs;
// `validate` reads them all and names the first bad value by image, row and column.

import DataIO
import Foundation

/// A stack of single-channel images in a `.npy` file.
public struct ImageFile: Sendable {
    /// Element types an image file may hold.
    public enum Element: String, Sendable {
        case uint8 = "|u1", float32 = "<f4", float64 = "<f8"

        var size: Int { self == .uint8 ? 1 : self == .float32 ? 4 : 8 }
    }

    public let path: String
    public let count: Int
    public let height: Int
    public let width: Int
    public let element: Element
    let dataOffset: UInt64

    /// Opens `path` and reads its header; `height` x `width` is the size every image must have.
    public init(path: String, height: Int, width: Int) throws(EvaluationError) {
        self.path = path
        let size = try FeatureFile.regularFileSize(path, expecting: "a .npy file of images")
        let head = try FeatureFile.readBytes(path: path, offset: 0, count: min(size, 65_546))
        let header = try NumPyHeader.read(head, path: path)
        let names = ["u1": Element.uint8, "|u1": .uint8, "<u1": .uint8, "<f4": .float32, "<f8": .float64]
        guard let element = names[header.elementType] else {
            throw EvaluationError("\(path): element type '\(header.elementType)' is not supported (use uint8 0...255, or little-endian float32 or float64 in [0, 1])")
        }
        let shape = header.shape
        let fits = (shape.count == 3 && shape[1] == height && shape[2] == width)
            || (shape.count == 4 && shape[1] == 1 && shape[2] == height && shape[3] == width)
        guard fits else {
            throw EvaluationError("\(path): shape \(header.shapeDescription) is not [N, \(height), \(width)] or [N, 1, \(height), \(width)]")
        }
        self.element = element
        count = shape[0]
        self.height = height
        self.width = width
        dataOffset = header.dataOffset
        do {
            _ = try header.payloadSize(elementSize: element.size, fileSize: size, path: path)
        } catch {
            throw EvaluationError(error.description)
        }
    }

    var imageSize: Int { height * width }

    /// Images `range` as values in [0, 1] ([range.count * H * W], uint8 as `byte / 255`), each checked: a value that is
    /// not finite or lies outside [0, 1] is an error naming its image, row and column.
    public func readImages(_ range: Range<Int>) throws(EvaluationError) -> [Float] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "readImages: \(range) outside 0..<\(count)")
        let bytes = try FeatureFile.readBytes(path: path, offset: dataOffset + UInt64(range.lowerBound * imageSize * element.size),
                                              count: range.count * imageSize * element.size)
        let total = range.count * imageSize
        if element == .uint8 { return bytes.map { Float($0) / 255 } }  // as `PixelScaling.quantizedToUnit` maps bytes
        let values: [Double] = bytes.withUnsafeBytes { raw in
            element == .float32
                ? (0..<total).map { Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) }
                : (0..<total).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
        }
        if let bad = values.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            let image = range.lowerBound + bad / imageSize, pixel = bad % imageSize
            let value = values[bad], problem = value.isNaN ? "NaN" : "\(value), outside [0, 1]"
            throw EvaluationError("\(path): image \(image), row \(pixel / width), column \(pixel % width) is \(problem)")
        }
        return values.map { Float($0) }
    }

    /// Reads every image, in pieces, so that a bad value anywhere is found before any work starts.
    public func validate() throws(EvaluationError) {
        for start in stride(from: 0, to: count, by: 1000) { _ = try readImages(start..<min(start + 1000, count)) }
    }
}
