// The models gentrain trains: adding a model is one file in this folder and one line here.

import Foundation
import JobFiles

/// Every model gentrain knows, by its name in job files.
public enum ModelRegistry {
    public static let all: [ModelDescription] = [
        Autoencoder.description,
        VariationalAutoencoder.description,
        DCGAN.description,
        Classifier.description,
        Gaussian.description,
        GaussianMixture.description,
        RestrictedBoltzmannMachine.description,
        HiddenMarkovModel.description,
    ]

    /// The models jobs may name: `all`, and the contract's test fixtures (`ContractFixtures`) when the environment
    /// sets GENTRAIN_TEST_MODELS=1 (the tests' runs; `gentrain models` and the docs list `all` only).
    public static var available: [ModelDescription] {
        ProcessInfo.processInfo.environment[ContractFixtures.environmentVariable] == "1" ? all + ContractFixtures.all : all
    }

    /// The schemas the job reader validates against.
    public static var schemas: [ModelSchema] { available.map(\.schema) }

    /// The model named `name` (a job's `model.kind`).
    public static func named(_ name: String) -> ModelDescription? { available.first { $0.name == name } }

    /// The model a validated job names, built from its settings.
    public static func makeModel(_ job: Job) -> any TrainableModel {
        guard let description = named(job.modelKind) else { fatalError("job \(job.name): model \(job.modelKind) is not registered") }
        return description.make(ModelConfiguration(job: job, schema: description.schema))
    }

    /// Reads and validates a job file against the registered models.
    public static func loadJob(path: String, overrides: [String] = []) throws(JobError) -> Job {
        try Job.load(path: path, overrides: overrides, models: schemas)
    }

    /// A job from the JSON a checkpoint stores.
    public static func storedJob(_ text: String) throws -> Job { try Job.decodeStored(text, models: schemas) }
}

extension ModelRegistry {
    /// The models section of docs/job-files.md (`gentrain models --markdown` prints it; a test keeps the file equal to it).
    public static var markdownReference: String {
        all.map { description in
            let schema = description.schema
            var lines = ["### `\(schema.name)`", "", schema.summary.prefix(1).uppercased() + schema.summary.dropFirst() + ".", ""]
            if schema.options.isEmpty {
                lines.append("No keys besides `model.kind`.")
            } else {
                lines += ["| key | allowed | default | meaning |", "| --- | --- | --- | --- |"]
                lines += schema.options.map { "| `model.\($0.name)` | \($0.allowed) | \($0.defaultValue) | \($0.help) |" }
            }
            let groups = schema.groups.isEmpty ? "none: fitted by statistics summed across ranks"
                : schema.groups.map { "`\($0.name)` (\(describe($0.defaultOptimizer)))" }.joined(separator: ", ")
            let perStep = switch schema.data.realImagesPerStep {
            case .wholeBatch: "B real samples a step"
            case .halfBatch: "B/2 real images a step (B must be even)"
            case .wholeDataset: "every sample once a step, each rank its share (no `train.batch_size`)"
            }
            let accumulation = schema.data.realImagesPerStep == .wholeDataset ? ""
                : schema.accumulates ? "; `train.accumulate` splits a step into micro-batches" : "; its step does not split into micro-batches"
            let samples = switch schema.data.samples {
            case .images: "28x28 images"
            case .sequences: "sequences of T steps of D values: `data.dataset: sequences` (`.npy` [N, T, D]) or images read row by row (28 steps of 28 pixels)"
            default: "rows of numbers: a table (`data.dataset: table`, `.npy` [N, D] or CSV with a header) or images as 784 values"
            }
            lines += ["", "- parameter groups and their default optimizers: \(groups)",
                      "- data: \(samples); `data.scale` \(schema.data.scale), `data.sampling` \(schema.data.sampling); \(perStep)\(accumulation)",
                      "- metrics: " + (schema.metrics.isEmpty ? "none (its fit is in the log and metrics.jsonl)" : schema.metrics.map { "`\($0)`" }.joined(separator: ", "))]
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n") + "\n"
    }

    /// One line for people: `adam 0.0002 (beta1 0.5, beta2 0.999, epsilon 1e-07)`.
    static func describe(_ spec: OptimizerSpec) -> String {
        let base = spec.kind == "sgd" ? "sgd \(spec.learningRate), momentum \(spec.momentum)"
            : "adam \(spec.learningRate), beta1 \(spec.beta1), beta2 \(spec.beta2), epsilon \(spec.epsilon)"
        let warmup = spec.warmupSteps > 0 ? ", warm-up \(spec.warmupSteps) steps" : ""
        let clipping = spec.globalClipNorm > 0 ? ", global clip norm \(spec.globalClipNorm)" : ""
        return base + warmup + clipping
    }
}
