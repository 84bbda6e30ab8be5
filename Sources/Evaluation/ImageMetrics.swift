// Metrics of a generator against a reference set of images, sharded across ranks: each rank
// takes features of its contiguous share of the reference images and of the generated samples
// (sample i is drawn from the counter-based generator at index i, so the set of samples does not
// depend on the number of ranks), then the sharded metric math combines them.

import Communication
import DataIO
import Foundation
import TensorCore

/// A network that turns images into features (for FID and KID) and class logits (for IS).
/// The default is gentrain's Fashion-MNIST classifier; any network with this shape can take its place.
public protocol FeatureExtractor: AnyObject {
    /// Name shown in every report.
    var name: String { get }
    /// Values per feature row.
    var featureDimension: Int { get }
    /// Logits per row.
    var classCount: Int { get }
    /// SHA-256 of the weights, shown in every report.
    var weightsDigest: String { get }
    /// Images [n, 1, 28, 28], 8-bit quantized, in [0, 1] -> features [n, featureDimension] and logits [n, classCount].
    func extract(_ images: Tensor) -> (features: Tensor, logits: Tensor)
}

/// What `evaluateImages` measures.
public struct ImageEvaluation {
    /// The reference images (a dataset split, with the job's class filter applied).
    public var reference: ImageDataset
    /// Name of the reference set in reports, e.g. `fashion-mnist test, classes [8]`.
    public var referenceName: String
    /// Generated samples to draw.
    public var sampleCount: Int
    /// Images per forward pass.
    public var batchSize = 250
    public var options = MetricOptions()

    public init(reference: ImageDataset, referenceName: String, sampleCount: Int) {
        self.reference = reference
        self.referenceName = referenceName
        self.sampleCount = sampleCount
    }
}

/// A report of `evaluateImages`: the metrics and what they were measured with.
public struct ImageEvaluationReport: Sendable {
    public var metrics: MetricsReport
    public var extractorName: String
    public var extractorDigest: String
    public var referenceName: String
    public var seconds: Double

    /// Flat fields for JSON lines.
    public var fields: [String: Any] {
        let data = (try? JSONEncoder().encode(metrics)) ?? Data()
        var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        object["extractor"] = extractorName
        object["extractor_sha256"] = extractorDigest
        object["reference"] = referenceName
        object["eval_seconds"] = seconds
        return object
    }
}

/// Features and logits of rows `rows` of `total` images, in batches; `images(range)` gives images [range.count, 1, 28, 28] in [0, 1], quantized.
public func extractFeatures(rows: Range<Int>, total: Int, batchSize: Int, extractor: any FeatureExtractor,
                  images: (Range<Int>) -> Tensor) -> (features: FeatureShard, logits: FeatureShard) {
    var features: [Double] = [], logits: [Double] = []
    features.reserveCapacity(rows.count * extractor.featureDimension)
    logits.reserveCapacity(rows.count * extractor.classCount)
    for start in stride(from: rows.lowerBound, to: rows.upperBound, by: batchSize) {
        let range = start..<min(start + batchSize, rows.upperBound)
        let (batchFeatures, batchLogits) = withoutGradient { extractor.extract(images(range)) }
        batchFeatures.withUnsafeBufferPointer { features.append(contentsOf: $0.lazy.map(Double.init)) }
        batchLogits.withUnsafeBufferPointer { logits.append(contentsOf: $0.lazy.map(Double.init)) }
    }
    return (FeatureShard(values: features, dimension: extractor.featureDimension, firstRow: rows.lowerBound, totalRows: total),
            FeatureShard(values: logits, dimension: extractor.classCount, firstRow: rows.lowerBound, totalRows: total))
}

/// FID and KID of generated samples against the reference images, and IS of the samples; every rank
/// calls it and gets the same report. `generate(range)` returns samples `range` in `scaling`.
public func evaluateImages(_ evaluation: ImageEvaluation, extractor: any FeatureExtractor, scaling: PixelScaling,
                           communicator: Communicator, generate: (Range<Int>) -> Tensor) throws -> ImageEvaluationReport {
    let started = Date()
    let reference = evaluation.reference
    let realRows = FeatureShard.rows(of: reference.count, rank: communicator.rank, worldSize: communicator.size)
    let real = extractFeatures(rows: realRows, total: reference.count, batchSize: evaluation.batchSize, extractor: extractor) { range in
        reference.batch(range, scaling: .unit)
    }
    let fakeRows = FeatureShard.rows(of: evaluation.sampleCount, rank: communicator.rank, worldSize: communicator.size)
    let fake = extractFeatures(rows: fakeRows, total: evaluation.sampleCount, batchSize: evaluation.batchSize, extractor: extractor) { range in
        scaling.quantizedToUnit(generate(range))
    }
    let metrics = try shardedMetrics(real: real.features, fake: fake.features, logits: fake.logits, options: evaluation.options,
                                     communicator: communicator)
    return ImageEvaluationReport(metrics: metrics, extractorName: extractor.name, extractorDigest: extractor.weightsDigest,
                                 referenceName: evaluation.referenceName, seconds: Date().timeIntervalSince(started))
}
