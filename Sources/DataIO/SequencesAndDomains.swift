// Two more kinds of training data: sequences (T steps of D values: a `.npy` [N, T, D] array, or images read
// row by row as 28 steps of 28 pixels) and two unpaired image domains (two class subsets or two IDX
// folders; a translation model sees one image of each per sample, never a pair chosen by label).
// Shape legend: sequences [N, T, D]; domain batches [N, 2, H, W] (channel 0 the first domain, 1 the second).

import Foundation
import TensorCore

/// Sequences from a `.npy` [N, T, D] file (any element type `NumPyArray` reads), every value finite.
public struct SequenceDataset: TrainingData {
    /// [count, length, dimension]
    public let values: [Float]
    public let length: Int
    public let dimension: Int
    public let source: String

    public var count: Int { values.count / max(length * dimension, 1) }
    public var sampleShape: [Int] { [length, dimension] }

    public static func load(path: String) throws(DatasetError) -> SequenceDataset {
        let (shape, doubles) = try readNumPyValues(readRegularFile(path), path: path)
        guard shape.count == 3, shape[0] > 0, shape[1] > 0, shape[2] > 0 else {
            throw DatasetError(path: path, problem: "shape \(shape): sequences are a 3-dimensional array [sequences, steps, values] with none empty")
        }
        if let bad = doubles.firstIndex(where: { !$0.isFinite }) {
            let (t, d) = (shape[1], shape[2])
            throw DatasetError(path: path, problem: "sequence \(bad / (t * d)), step \(bad / d % t), value \(bad % d): \(doubles[bad]) is not finite")
        }
        return SequenceDataset(values: doubles.map(Float.init), length: shape[1], dimension: shape[2], source: path)
    }

    public func batch(_ indices: some Collection<Int>, scaling: PixelScaling) -> Tensor {
        let size = length * dimension
        var tensor = Tensor(uninitialized: [indices.count, length, dimension])
        tensor.withUnsafeMutableBufferPointer { destination in
            for (row, index) in indices.enumerated() {
                for offset in 0..<size { destination[row * size + offset] = values[index * size + offset] }
            }
        }
        return tensor
    }

    public func labels(_ indices: some Collection<Int>) -> [Int] { [] }

    public var contentDigest: UInt64 {
        var hash = fnv1a(UInt64(length), UInt64(dimension))
        for value in values { hash = fnv1a(hash, UInt64(value.bitPattern)) }
        return hash
    }
}

/// Images read as sequences: `rows` steps of `columns` pixels (the course's 28 vectors of 28).
public struct ImageRowSequences: TrainingData {
    public let images: ImageDataset

    public init(_ images: ImageDataset) { self.images = images }

    public var count: Int { images.count }
    public var sampleShape: [Int] { [images.rows, images.columns] }
    public var contentDigest: UInt64 { images.contentDigest }
    public var source: String { images.source }
    public func labels(_ indices: some Collection<Int>) -> [Int] { images.labels(indices) }

    public func batch(_ indices: some Collection<Int>, scaling: PixelScaling) -> Tensor {
        images.batch(indices, scaling: scaling).reshaped([indices.count, images.rows, images.columns])
    }
}

/// Two unpaired image domains (sneakers and ankle boots, say). Sample i is the first domain's image i (modulo its
/// size) beside the second domain's image at a fixed seeded shuffle of i (modulo its size): every image of the
/// larger domain appears once per epoch, and the pairs follow no label.
public struct UnpairedDomains: TrainingData {
    public let first: ImageDataset
    public let second: ImageDataset
    /// The second domain's position for each sample index.
    let shuffle: [Int]

    public init(first: ImageDataset, second: ImageDataset, seed: UInt64) {
        precondition(first.rows == second.rows && first.columns == second.columns, "domains of different image sizes")
        self.first = first
        self.second = second
        var generator = SeededGenerator(seed: seed ^ 0xD0_4A15)
        shuffle = Array(0..<max(first.count, second.count)).shuffled(using: &generator)
    }

    public var count: Int { first.count == 0 || second.count == 0 ? 0 : max(first.count, second.count) }
    public var sampleShape: [Int] { [2, first.rows, first.columns] }
    public var source: String { first.source + " + " + second.source }
    public var contentDigest: UInt64 { fnv1a(first.contentDigest, second.contentDigest) }
    public func labels(_ indices: some Collection<Int>) -> [Int] { [] }

    /// [n, 2, H, W]: channel 0 from the first domain, channel 1 from the second.
    public func batch(_ indices: some Collection<Int>, scaling: PixelScaling) -> Tensor {
        let a = first.batch(indices.map { $0 % first.count }, scaling: scaling)
        let b = second.batch(indices.map { shuffle[$0] % second.count }, scaling: scaling)
        let plane = first.imageSize
        var tensor = Tensor(uninitialized: [indices.count, 2, first.rows, first.columns])
        let (aValues, bValues) = (a.scalars, b.scalars)
        tensor.withUnsafeMutableBufferPointer { destination in
            for row in 0..<indices.count {
                for offset in 0..<plane {
                    destination[(2 * row) * plane + offset] = aValues[row * plane + offset]
                    destination[(2 * row + 1) * plane + offset] = bValues[row * plane + offset]
                }
            }
        }
        return tensor
    }
}

/// Reads a whole regular file (not a folder, pipe or device), naming the path in every error.
func readRegularFile(_ path: String) throws(DatasetError) -> Data {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { throw DatasetError(path: path, problem: "file not found") }
    if attributes[.type] as? FileAttributeType == .typeDirectory { throw DatasetError(path: path, problem: "a folder, not a file") }
    guard attributes[.type] as? FileAttributeType == .typeRegular else { throw DatasetError(path: path, problem: "not a regular file") }
    guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError(path: path, problem: "cannot read the file") }
    return data
}

/// FNV-1a over the bytes of 64-bit words.
func fnv1a(_ words: UInt64...) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for word in words { for shift in stride(from: 0, to: 64, by: 8) { hash = (hash ^ ((word >> UInt64(shift)) & 0xFF)) &* 0x100_0000_01B3 } }
    return hash
}
