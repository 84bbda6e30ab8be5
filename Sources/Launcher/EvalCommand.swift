import ArgumentParser
import Communication
import DataIO
import DistributedTraining
import Evaluation
import Foundation
import JobFiles
import Models

/// FID, KID and IS of a checkpoint's samples (or a classifier's accuracy), or of images from any tool (`--images`),
/// sharded across ranks under mpirun.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint (FID, KID and IS of its samples; a classifier: its accuracy) or a .npy of images (--images).")

    @Argument(help: "A checkpoint file (.gtck).") var checkpoint: String?
    @Option(help: "Score these images instead of a checkpoint's: .npy, uint8 [N, 28, 28] or [N, 1, 28, 28], or float32/float64 in [0, 1].")
    var images: String?
    @Option(help: "Comma-separated metrics: fid, kid, is (a classifier: accuracy). Default: the job's eval.metrics (--images: fid,kid,is).")
    var metrics: String?
    @Option(help: "Generated samples (default: 10000, or the reference set's size if smaller; --images: every image in the file).")
    var samples: Int?
    @Option(help: "The split generated images are compared with: test or train (the job's class filter applies).") var reference = "test"
    @Option(help: "With --images: the IDX folder of the reference split.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "With --images: comma-separated classes of the reference split to keep (default all), e.g. 8 or 3,5.") var classes: String?
    @Option(help: "Use only the first N reference images (quick checks; reports say so).") var limit: Int?
    @Option(help: "The feature extractor's checkpoint (default: gentrain's Fashion-MNIST classifier).") var evaluator: String?
    @Option(help: "Number of KID subsets.") var kidSubsets = 100
    @Option(help: "Rows per KID subset (default: 1000, or fewer when the sets are smaller).") var kidSubsetSize: Int?
    @Option(help: "Seed of the latents and the KID subsets (default: the job's; --images: 0).") var seed: UInt64?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard ["test", "train"].contains(reference) else { throw ValidationError("--reference must be test or train") }
        if let samples, samples < 2 { throw ValidationError("--samples must be at least 2") }
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2") }
        guard (checkpoint == nil) != (images == nil) else { throw ValidationError("give a checkpoint or --images FILE.npy (not both)") }
        if images == nil, classes != nil || data != ImageDataset.fashionMNISTFolder {
            throw ValidationError("--classes and --data go with --images (a checkpoint's job names its data)")
        }
        if let classes { _ = try parseClasses(classes) }
    }

    func run() throws {
        try runOnWorld("eval") { communicator in
            let record = try images == nil ? evaluate(communicator) : evaluateImageFile(communicator)
            if communicator.rank == 0 {
                if json {
                    let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else if let images {
                    print("\(images) (\(record["n_fake"] ?? 0) images) on \(communicator.size) rank(s): " + describeEvaluation(record))
                } else {
                    print("\(checkpoint ?? "") (step \(record["step"]!)) on \(communicator.size) rank(s): " + describeEvaluation(record))
                }
            }
        }
    }

    func evaluate(_ communicator: Communicator) throws -> [String: Any] {
        let (job, model, saved, asked, resources) = try agreeOnSuccess(communicator) {
            () throws -> (Job, any TrainableModel, Checkpoint, [String], EvaluationResources) in
            let (job, model, saved) = try loadModel(checkpointPath: checkpoint ?? "")
            let possible = ModelRegistry.named(job.modelKind)?.schema.metrics ?? []
            let asked = metrics.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } } ?? job.evalMetrics
            if let unknown = asked.first(where: { !possible.contains($0) }) {
                throw ValidationError("a \(job.modelKind) cannot report '\(unknown)'" + (possible.isEmpty ? "" : " (it reports \(possible.joined(separator: ", ")))"))
            }
            let resources = try EvaluationResources(job: job, metrics: asked, reference: reference, evaluatorPath: evaluator)
            if let limit { resources.limitReference(to: limit) }
            return (job, model, saved, asked, resources)
        }
        var settings = EvaluationSettings(job: job)
        settings.metrics = asked
        settings.samples = samples ?? min(10_000, resources.reference.count)
        settings.kidSubsets = kidSubsets
        settings.kidSubsetSize = kidSubsetSize ?? min(1000, settings.samples, resources.reference.count)
        settings.seed = seed ?? job.seed
        var record = try evaluateModel(model, settings: settings, resources: resources, communicator: communicator)
        record["checkpoint"] = checkpoint ?? ""
        record["step"] = saved.step
        record["job"] = job.name
        record["ranks"] = communicator.size
        return record
    }
}
