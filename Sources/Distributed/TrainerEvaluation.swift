// Evaluation of a model, during training (every `eval.every_epochs` epochs and at the end) and by
// `gentrain eval`: the classifier's accuracy on the reference split, or FID, KID and IS of a
// generator's samples against it, sharded across ranks (every rank takes part in every
// collective). Rank 0 records the results.

import Communication
import DataIO
import Evaluation
import Foundation
import JobFiles
import Models
import TensorCore

/// What an evaluation needs, loaded once: the reference images and, for generators, the extractor.
public final class EvaluationResources {
    public private(set) var reference: ImageDataset
    public private(set) var referenceName: String
    public let extractor: (any FeatureExtractor)?

    /// The job's reference split (its class filter applied) and, if the metrics need features, the evaluator.
    public convenience init(job: Job, metrics: [String], reference splitName: String, evaluatorPath: String?) throws {
        try self.init(dataPath: job.dataPath, classes: job.classes, metrics: metrics, reference: splitName, evaluatorPath: evaluatorPath)
    }

    /// Split `splitName` of the IDX folder `dataPath`, only `classes` kept if given, and the evaluator if the metrics need features.
    public init(dataPath: String, classes: [Int]?, metrics: [String], reference splitName: String, evaluatorPath: String?) throws {
        let split: ImageDataset.Split = splitName == "train" ? .train : .test
        let whole = try ImageDataset.load(folder: dataPath, split: split)
        try whole.requireImageSize(rows: 28, columns: 28)
        reference = classes.map { whole.filtered(classes: Set($0)) } ?? whole
        referenceName = "\(dataPath) \(split.rawValue)" + (classes.map { ", classes \($0)" } ?? "")
        let needsFeatures = metrics.contains { ["fid", "kid", "is"].contains($0) }
        extractor = needsFeatures ? try CheckpointExtractor(path: CheckpointExtractor.locate(evaluatorPath)) : nil
    }

    /// Keeps only the first `count` reference images (quick checks).
    public func limitReference(to count: Int) {
        guard count < reference.count else { return }
        reference = reference.prefix(count)
        referenceName += ", first \(count)"
    }
}

/// How many samples, which metrics, and the seeds of an evaluation.
public struct EvaluationSettings: Sendable {
    public var metrics: [String]
    public var samples: Int
    public var kidSubsets: Int
    public var kidSubsetSize: Int
    /// Seeds the latents (on their own stream) and the KID subsets.
    public var seed: UInt64

    public init(job: Job) {
        metrics = job.evalMetrics
        samples = job.evalSamples
        kidSubsets = job.kidSubsets
        kidSubsetSize = job.kidSubsetSize
        seed = job.seed
    }

    public init(metrics: [String], samples: Int, kidSubsets: Int, kidSubsetSize: Int, seed: UInt64) {
        self.metrics = metrics
        self.samples = samples
        self.kidSubsets = kidSubsets
        self.kidSubsetSize = kidSubsetSize
        self.seed = seed
    }
}

/// Evaluates `model` on every rank; returns the fields rank 0 records (flat, JSON-ready).
public func evaluateModel(_ model: any TrainableModel, settings: EvaluationSettings, resources: EvaluationResources,
                          communicator: Communicator) throws -> [String: Any] {
    var record: [String: Any] = [:]
    if settings.metrics.contains("loss"), let validated = model as? any ValidationLoss {
        record = try validationLoss(validated, scaling: model.scaling, seed: settings.seed, resources: resources, communicator: communicator)
    }
    let imageMetrics = settings.metrics.filter { ["fid", "kid", "is"].contains($0) }
    switch model {
    case let classifier as any ImageClassifier where settings.metrics.contains("accuracy"):
        return try classifierAccuracy(classifier, resources: resources, communicator: communicator)
    case _ where imageMetrics.isEmpty:
        guard !record.isEmpty else { break }
        return record
    case let sampler as any ImageSampler:
        let random = evaluationRandom(seed: settings.seed)
        let fields = try evaluateGeneratedImages(settings: settings, resources: resources, scaling: model.scaling, communicator: communicator) {
            sampler.sample($0, random: random, step: 0)
        }
        return fields.merging(record) { $1 }
    default:
        break
    }
    throw TrainingError(message: "this model cannot report \(settings.metrics.joined(separator: ", "))")
}

/// FID, KID and IS (those `settings` asks for) of `settings.samples` images against the reference, whatever made them:
/// `generate(range)` returns images `range` in `scaling` (quantized to 8 bits before the extractor sees them).
public func evaluateGeneratedImages(settings: EvaluationSettings, resources: EvaluationResources, scaling: PixelScaling,
                                    communicator: Communicator, generate: (Range<Int>) -> Tensor) throws -> [String: Any] {
    var evaluation = ImageEvaluation(reference: resources.reference, referenceName: resources.referenceName, sampleCount: settings.samples)
    evaluation.options.frechet = settings.metrics.contains("fid")
    evaluation.options.kernel = settings.metrics.contains("kid")
    evaluation.options.inception = settings.metrics.contains("is")
    evaluation.options.kernelSubsetCount = settings.kidSubsets
    evaluation.options.kernelSubsetSize = settings.kidSubsetSize
    evaluation.options.kernelSeed = settings.seed
    guard let extractor = resources.extractor else {
        throw TrainingError(message: "no feature extractor loaded for \(settings.metrics.joined(separator: ", "))")
    }
    return try evaluateImages(evaluation, extractor: extractor, scaling: scaling, communicator: communicator, generate: generate).fields
}

/// The mean per-image training loss over the reference split; each rank takes its share of the images.
func validationLoss(_ model: any ValidationLoss, scaling: PixelScaling, seed: UInt64, resources: EvaluationResources,
                    communicator: Communicator) throws -> [String: Any] {
    let reference = resources.reference
    let rows = FeatureShard.rows(of: reference.count, rank: communicator.rank, worldSize: communicator.size)
    let random = evaluationRandom(seed: seed)
    var total = [0.0]
    for start in stride(from: rows.lowerBound, to: rows.upperBound, by: 500) {
        let range = start..<min(start + 500, rows.upperBound)
        total[0] += model.validationLossSum(reference.batch(range, scaling: scaling), firstSample: start, random: random)
    }
    try communicator.allReduceSum(&total, count: 1)
    return ["validation_loss": total[0] / Double(reference.count), "n_real": reference.count, "reference": resources.referenceName]
}

/// Accuracy and mean cross-entropy on the reference split; each rank takes its share of the images.
func classifierAccuracy(_ classifier: any ImageClassifier, resources: EvaluationResources, communicator: Communicator) throws -> [String: Any] {
    let reference = resources.reference
    let rows = FeatureShard.rows(of: reference.count, rank: communicator.rank, worldSize: communicator.size)
    var totals: [Double] = [0, 0]  // correct, summed loss
    for start in stride(from: rows.lowerBound, to: rows.upperBound, by: 500) {
        let range = start..<min(start + 500, rows.upperBound)
        let (images, labels) = (reference.batch(range, scaling: .unit), reference.labels(range))
        totals[0] += Double(zip(classifier.predict(images), labels).filter { $0 == $1 }.count)
        totals[1] += Double(classifier.meanLoss(images, labels: labels)) * Double(range.count)
    }
    try communicator.allReduceSum(&totals, count: 2)
    return ["accuracy": totals[0] / Double(reference.count), "eval_loss": totals[1] / Double(reference.count),
            "n_real": reference.count, "reference": resources.referenceName]
}

/// The generator of evaluation latents: its own key, so evaluations never reuse training noise.
public func evaluationRandom(seed: UInt64) -> CounterRandom { CounterRandom(seed: seed ^ 0xE7A1_0A7E_0000_0000) }

/// One line for people: the metrics an evaluation record holds.
public func describeEvaluation(_ record: [String: Any]) -> String {
    var parts: [String] = []
    if let accuracy = record["accuracy"] as? Double { parts.append(String(format: "accuracy %.4f", accuracy)) }
    if let loss = record["validation_loss"] as? Double { parts.append(String(format: "validation loss %.5f", loss)) }
    if let fid = record["fid"] as? Double { parts.append(String(format: "FID %.4f", fid)) }
    if let mean = record["kid_mean"] as? Double, let deviation = record["kid_std"] as? Double {
        parts.append(String(format: "KID %.5f ± %.5f", mean, deviation))
    }
    if let mean = record["is_mean"] as? Double, let deviation = record["is_std"] as? Double { parts.append(String(format: "IS %.3f ± %.3f", mean, deviation)) }
    let counts = (record["n_fake"] as? Int).map { "\($0) samples vs " } ?? ""
    let extractor = (record["extractor"] as? String).map { "; features of \($0), sha256 \(String((record["extractor_sha256"] as? String ?? "").prefix(12)))" } ?? ""
    return parts.joined(separator: ", ") + " (\(counts)\(record["n_real"] ?? 0) images of \(record["reference"] ?? "?")\(extractor))"
}

extension Trainer {
    /// Whether step `step` (just done) ends an evaluation interval.
    func evaluationDue(step: Int) -> Bool {
        guard job.evalEveryEpochs > 0, !job.evalMetrics.isEmpty else { return false }
        return step == totalSteps || step % (job.evalEveryEpochs * schedule.stepsPerEpoch) == 0
    }

    /// Evaluates on every rank; rank 0 records the result in metrics.jsonl, the log and a sample grid (a file it cannot
    /// write stops the run at the next step, after a checkpoint).
    func evaluate(step: Int, resources: EvaluationResources, metrics: JSONLinesWriter?) throws {
        let started = Date()
        if let stalled = ProcessInfo.processInfo.environment["GENTRAIN_TEST_STALL_EVALUATION_RANK"].flatMap(Int.init),
           stalled == communicator.rank {
            // Fault injection for the tests: this rank never joins the evaluation's collectives.
            Thread.sleep(forTimeInterval: 3600)
        }
        var record = try watchdog.guarded("evaluation", step: step) {
            try evaluateModel(model, settings: EvaluationSettings(job: job), resources: resources, communicator: communicator)
        }
        guard communicator.rank == 0 else { return }
        record["event"] = "eval"
        record["step"] = step
        record["epoch"] = Double(step) / Double(schedule.stepsPerEpoch)
        record["eval_seconds"] = Date().timeIntervalSince(started)
        recordingWriteFailure(job.output + "/metrics.jsonl") { try metrics?.write(record) }
        log("evaluation at step \(step): " + describeEvaluation(record))
        recordingWriteFailure(job.output + "/curves.png") { try writeCurves(runFolder: job.output, sharedPanels: model.curvePanels) }
        let pictures = try model.evaluationPictures(random: evaluationRandom(seed: job.seed))
        recordingWriteFailure(job.output) { try writePictures(pictures, suffix: String(format: "-step-%08d", step), titleSuffix: ", step \(step)") }
    }
}
