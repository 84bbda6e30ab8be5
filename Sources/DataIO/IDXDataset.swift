// IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed.
// Images are kept as bytes in memory and converted to Float32 per batch.
// Shape legend: images [count, rows, columns] bytes; a batch [N, 1, rows, columns].

import CZlib
import Foundation
import TensorCore

/// What went wrong reading a dataset: always names the file and what was expected.
public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
}

/// An open IDX file, raw or gzip-compressed (zlib reads both), read straight into its final buffer so
/// that loading costs no more memory than the data itself.
private final class IDXReader {
    let path: String
    let file: gzFile

    /// Bytes on disk (compressed or not).
    let fileSize: Int
    let isCompressed: Bool

    init(path: String) throws(DatasetError) {
        self.path = path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { throw DatasetError(path: path, problem: "file not found") }
        // A pipe or a device would block or never end.
        guard attributes[.type] as? FileAttributeType == .typeRegular else { throw DatasetError(path: path, problem: "not a regular file") }
        fileSize = attributes[.size] as? Int ?? 0
        isCompressed = path.hasSuffix(".gz")
        guard let file = gzopen(path, "rb") else { throw DatasetError(path: path, problem: "cannot open the file") }
        self.file = file
    }

    /// Reads exactly `count` bytes that a header claims, in chunks, so that a false claim costs no more memory
    /// than the data really there (plus one chunk); fails with `problem(bytesRead)` when the stream ends first.
    func readClaimed(count: Int, problem: (Int) -> String) throws(DatasetError) -> [UInt8] {
        let chunk = 1 << 26
        var chunks: [[UInt8]] = []
        var total = 0
        while total < count {
            let wanted = min(chunk, count - total)
            var failure: DatasetError?
            var read = 0
            // Only the bytes read are initialised: the untouched rest of a chunk costs address space, not memory.
            let part = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, initialized in
                do throws(DatasetError) { read = try self.read(into: buffer.baseAddress!, count: wanted) } catch { failure = error }
                initialized = read
            }
            if let failure { throw failure }
            total += read
            if read < wanted { throw DatasetError(path: path, problem: problem(total)) }
            chunks.append(part)
        }
        return chunks.count == 1 ? chunks[0] : Array(chunks.joined())
    }

    /// Reads up to `count` bytes into `destination`; returns how many were read.
    func read(into destination: UnsafeMutableRawPointer, count: Int) throws(DatasetError) -> Int {
        var total = 0
        while total < count {
            let read = gzread(file, destination + total, UInt32(min(count - total, 1 << 30)))
            if read < 0 {
                var errorNumber: Int32 = 0
                throw DatasetError(path: path, problem: "corrupt gzip data (\(String(cString: gzerror(file, &errorNumber))))")
            }
            if read == 0 { break }
            total += Int(read)
        }
        return total
    }

    /// Fails when zlib saw a damaged or truncated stream (a missing gzip trailer shows only at the end).
    func checkStreamEnd() throws(DatasetError) {
        var errorNumber: Int32 = 0
        let message = String(cString: gzerror(file, &errorNumber))
        if errorNumber != Z_OK { throw DatasetError(path: path, problem: "corrupt or truncated gzip data (\(message))") }
    }

    /// Reads exactly `count` bytes into a new array, or fails with `problem(bytesRead)`.
    func readArray(count: Int, problem: (Int) -> String) throws(DatasetError) -> [UInt8] {
        var failure: DatasetError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var read = 0
            do throws(DatasetError) { read = try self.read(into: buffer.baseAddress!, count: count) } catch { failure = error }
            if read < count {
                buffer.baseAddress!.advanced(by: read).initialize(repeating: 0, count: count - read)
                if failure == nil { failure = DatasetError(path: path, problem: problem(read)) }
            }
            initialized = count
        }
        if let failure { throw failure }
        return bytes
    }
}

/// One IDX array of unsigned bytes: its dimensions and values.
public struct IDXArray: Sendable {
    public let dimensions: [Int]
    public let bytes: [UInt8]

    /// Reads and checks an IDX file of unsigned bytes with `expectedRank` dimensions.
    public init(path: String, expectedRank: Int) throws(DatasetError) {
        let reader = try IDXReader(path: path)
        let magic = try reader.readArray(count: 4) { "too short for an IDX header (\($0) bytes)" }
        guard magic[0] == 0, magic[1] == 0 else {
            throw DatasetError(path: path, problem: "not an IDX file (magic number starts \(magic[0]), \(magic[1]); expected 0, 0)")
        }
        guard magic[2] == 0x08 else {
            throw DatasetError(path: path, problem: "IDX type 0x\(String(magic[2], radix: 16)) (expected 0x08, unsigned bytes)")
        }
        let rank = Int(magic[3])
        guard rank == expectedRank else { throw DatasetError(path: path, problem: "\(rank) dimensions (expected \(expectedRank))") }
        let header = try reader.readArray(count: 4 * rank) { _ in "truncated header" }
        var dimensions: [Int] = []
        for axis in 0..<rank {
            var dimension = 0
            for byte in header[(4 * axis)..<(4 * axis + 4)] { dimension = dimension << 8 | Int(byte) }
            dimensions.append(dimension)
        }
        let (expected, overflow) = dimensions.reduce((1, false)) { partial, dimension in
            let (product, overflowed) = partial.0.multipliedReportingOverflow(by: dimension)
            return (product, partial.1 || overflowed)
        }
        let headerBytes = 4 + 4 * rank
        // An uncompressed file must hold what its header claims; a compressed one is read in chunks up to the claim.
        guard !overflow, reader.isCompressed || expected <= reader.fileSize - headerBytes else {
            throw DatasetError(path: path, problem: "truncated, or a wrong header: dimensions \(dimensions) need "
                               + "\(overflow ? "more than 2^63" : "\(expected)") bytes, the file has \(reader.fileSize - headerBytes) after the header")
        }
        bytes = try reader.readClaimed(count: expected) { "\($0) data bytes, expected \(expected) for dimensions \(dimensions) (truncated)" }
        var extra: UInt8 = 0
        guard try reader.read(into: &extra, count: 1) == 0 else {
            throw DatasetError(path: path, problem: "more than the \(expected) data bytes expected for dimensions \(dimensions)")
        }
        try reader.checkStreamEnd()
        self.dimensions = dimensions
    }
}

/// Labelled grayscale images, kept as bytes.
public struct ImageDataset: Sendable {
    /// Pixels, `count * rows * columns` bytes, image after image.
    public let pixels: [UInt8]
    public let labels: [UInt8]
    public let rows: Int
    public let columns: Int
    /// Where the images came from (for messages).
    public let source: String

    public var count: Int { labels.count }
    public var imageSize: Int { rows * columns }

    public init(pixels: [UInt8], labels: [UInt8], rows: Int, columns: Int, source: String) {
        precondition(pixels.count == labels.count * rows * columns, "pixel count does not match labels")
        self.pixels = pixels
        self.labels = labels
        self.rows = rows
        self.columns = columns
        self.source = source
    }

    /// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
    public static let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"

    /// The training or test split of an IDX folder (`train-images-idx3-ubyte[.gz]` and so on).
    public static func load(folder: String, split: Split) throws(DatasetError) -> ImageDataset {
        let prefix = split == .train ? "train" : "t10k"
        let imagesPath = try locate(folder: folder, name: "\(prefix)-images-idx3-ubyte")
        let labelsPath = try locate(folder: folder, name: "\(prefix)-labels-idx1-ubyte")
        let images = try IDXArray(path: imagesPath, expectedRank: 3)
        let labels = try IDXArray(path: labelsPath, expectedRank: 1)
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw DatasetError(path: labelsPath, problem: "\(labels.dimensions[0]) labels for \(images.dimensions[0]) images in \(imagesPath)")
        }
        if let bad = labels.bytes.firstIndex(where: { $0 > 9 }) {
            throw DatasetError(path: labelsPath, problem: "label \(labels.bytes[bad]) at index \(bad) (classes are 0...9)")
        }
        return ImageDataset(pixels: images.bytes, labels: labels.bytes, rows: images.dimensions[1],
                            columns: images.dimensions[2], source: imagesPath)
    }

    private static func locate(folder: String, name: String) throws(DatasetError) -> String {
        for candidate in ["\(folder)/\(name).gz", "\(folder)/\(name)"] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        var hint = "missing \(name).gz (or \(name))"
        if folder == fashionMNISTFolder {
            hint += "; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (or scripts/install-dependencies.sh)"
        } else if !FileManager.default.fileExists(atPath: folder) {
            hint = "folder not found (expected IDX files such as \(name).gz)"
        }
        throw DatasetError(path: folder, problem: hint)
    }

    /// Fails unless the images are `rows x columns` pixels (the size the models take), naming the file.
    public func requireImageSize(rows expectedRows: Int, columns expectedColumns: Int) throws(DatasetError) {
        guard rows == expectedRows, columns == expectedColumns else {
            throw DatasetError(path: source, problem: "images of \(rows)x\(columns) pixels; gentrain's models take \(expectedRows)x\(expectedColumns)")
        }
    }

    /// The images whose label is in `classes`, in their original order.
    public func filtered(classes: Set<Int>) -> ImageDataset {
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for index in 0..<count where classes.contains(Int(self.labels[index])) {
            pixels.append(contentsOf: self.pixels[(index * imageSize)..<((index + 1) * imageSize)])
            labels.append(self.labels[index])
        }
        return ImageDataset(pixels: pixels, labels: labels, rows: rows, columns: columns, source: source)
    }

    /// The first `count` images (all of them if there are fewer).
    public func prefix(_ count: Int) -> ImageDataset {
        let kept = min(count, self.count)
        return ImageDataset(pixels: Array(pixels.prefix(kept * imageSize)), labels: Array(labels.prefix(kept)), rows: rows, columns: columns,
                            source: source)
    }

    /// Images `indices` as a `[N, 1, rows, columns]` tensor, scaled.
    public func batch(_ indices: some Collection<Int>, scaling: PixelScaling) -> Tensor {
        var tensor = Tensor(uninitialized: [indices.count, 1, rows, columns])
        let (scale, shift): (Float, Float) = scaling == .unit ? (1 / 255, 0) : (1 / 127.5, -1)
        let size = imageSize
        tensor.withUnsafeMutableBufferPointer { destination in
            pixels.withUnsafeBufferPointer { source in
                for (row, index) in indices.enumerated() {
                    for offset in 0..<size { destination[row * size + offset] = Float(source[index * size + offset]) * scale + shift }
                }
            }
        }
        return tensor
    }

    /// Labels of `indices`.
    public func labels(_ indices: some Collection<Int>) -> [Int] { indices.map { Int(labels[$0]) } }

    /// FNV-1a digest of the labels and pixels: identifies the content whatever its path.
    public var contentDigest: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in labels { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        pixels.withUnsafeBufferPointer { for byte in $0 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 } }
        return hash
    }

    public enum Split: String, Sendable { case train, test }
}
