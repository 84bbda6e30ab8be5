import ArgumentParser
import Communication
import DataIO
import DistributedTraining
import Evaluation
import Foundation
import Models
import TensorCore

/// Writes the extractor's features and logits of a dataset split or of a checkpoint's samples as .npy files,
/// so that any tool (gentrain metrics, torch-fidelity, NumPy) can compute metrics from them.
struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write features and logits (.npy) of a dataset split or of a checkpoint's samples; sharded under mpirun.")

    @Option(help: "A dataset split to take features of: train or test.") var split: String?
    @Option(help: "Folder of the IDX files (with --split).") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Comma-separated classes to keep (with --split; default all).") var classes: String?
    @Option(help: "A checkpoint whose samples to take features of (instead of --split).") var checkpoint: String?
    @Option(help: "Samples to draw (with --checkpoint).") var samples = 10_000
    @Option(help: "Seed of the latents (with --checkpoint; default the job's).") var seed: UInt64?
    @Option(help: "The feature extractor's checkpoint (default: gentrain's Fashion-MNIST classifier).") var evaluator: String?
    @Option(help: "Writes OUTPUT.features.npy and OUTPUT.logits.npy.") var output: String

    func validate() throws {
        guard (split == nil) != (checkpoint == nil) else { throw ValidationError("give --split or --checkpoint") }
        if let split, !["train", "test"].contains(split) { throw ValidationError("--split must be train or test") }
        if let classes { _ = try parseClasses(classes) }
    }

    func run() throws {
        try runOnWorld("features") { communicator in
            let extractor = try agreeOnSuccess(communicator) { try CheckpointExtractor(path: CheckpointExtractor.locate(evaluator)) }
            let (count, images) = try agreeOnSuccess(communicator) { try source() }
            let rows = FeatureShard.rows(of: count, rank: communicator.rank, worldSize: communicator.size)
            let (features, logits) = extractFeatures(rows: rows, total: count, batchSize: 250, extractor: extractor, images: images)
            let allFeatures = try communicator.gather(features.values), allLogits = try communicator.gather(logits.values)
            if communicator.rank == 0 {
                try writeNumPy(allFeatures.map(Float.init), rows: count, dimension: extractor.featureDimension, to: output + ".features.npy")
                try writeNumPy(allLogits.map(Float.init), rows: count, dimension: extractor.classCount, to: output + ".logits.npy")
                print("\(output).features.npy [\(count), \(extractor.featureDimension)] and \(output).logits.npy [\(count), \(extractor.classCount)]: "
                      + "\(extractor.name), sha256 \(extractor.weightsDigest)")
            }
        }
    }

    /// How many images, and images `range` quantized to 8 bits in [0, 1].
    func source() throws -> (Int, (Range<Int>) -> Tensor) {
        if let split {
            let whole = try ImageDataset.load(folder: data, split: split == "train" ? .train : .test)
            let kept = classes.map { whole.filtered(classes: Set($0.split(separator: ",").compactMap { Int($0) })) } ?? whole
            return (kept.count, { kept.batch($0, scaling: .unit) })
        }
        let (job, model, _) = try loadModel(checkpointPath: checkpoint!)
        guard let sampler = model as? any ImageSampler else { throw ValidationError("a \(job.modelKind) does not draw samples") }
        let random = evaluationRandom(seed: seed ?? job.seed)
        return (samples, { model.scaling.quantizedToUnit(sampler.sample($0, random: random, step: 0)) })
    }
}
