// Where a job's training samples come from: an IDX folder's images (a class subset), a table file's
// rows, or images flattened to rows for a model that fits vectors.

import DataIO
import JobFiles
import TensorCore

/// Images given to a model that fits vectors: each sample is still an image ([1, rows, columns], so the model can
/// draw what it fits), and its batches are rows of `rows x columns` values.
public struct FlattenedImages: TrainingData {
    public let images: ImageDataset

    public init(_ images: ImageDataset) { self.images = images }

    public var count: Int { images.count }
    public var sampleShape: [Int] { images.sampleShape }
    public var contentDigest: UInt64 { images.contentDigest }
    public var source: String { images.source }
    public func labels(_ indices: some Collection<Int>) -> [Int] { images.labels(indices) }

    public func batch(_ indices: some Collection<Int>, scaling: PixelScaling) -> Tensor {
        let batch = images.batch(indices, scaling: scaling)
        return batch.reshaped([indices.count, images.imageSize])
    }
}

/// The training samples `job` names, as its model consumes them.
public func loadTrainingData(_ job: Job, samples: DataSchema.Samples) throws -> any TrainingData {
    switch job.dataset {
    case "table": return try TableDataset.load(path: job.dataPath)
    case "sequences": return try SequenceDataset.load(path: job.dataPath)
    default: break
    }
    func images(_ folder: String, classes: [Int]?) throws -> ImageDataset {
        let training = try ImageDataset.load(folder: folder, split: .train)
        try training.requireImageSize(rows: 28, columns: 28)
        let kept = classes.map { training.filtered(classes: Set($0)) } ?? training
        guard kept.count > 0 else { throw DatasetError(path: folder, problem: "no training images of classes \(classes ?? [])") }
        return kept
    }
    switch samples {
    case .images: return try images(job.dataPath, classes: job.classes)
    case .vectors: return FlattenedImages(try images(job.dataPath, classes: job.classes))
    case .sequences: return ImageRowSequences(try images(job.dataPath, classes: job.classes))
    case .domains:
        guard let domains = job.domains, domains.count == 2 else { throw DatasetError(path: job.dataPath, problem: "the job names no two domains") }
        return UnpairedDomains(first: try images(domains[0].path, classes: domains[0].classes),
                               second: try images(domains[1].path, classes: domains[1].classes), seed: job.seed)
    }
}
