// How a job is stored and compared: the canonical JSON that checkpoints keep and the handshake digests, the
// differences that `--resume` must refuse, and reading a stored job back (older checkpoints included).

import Foundation

extension Job {
    /// The job as canonical JSON (sorted keys): what checkpoints store and the handshake digests.
    public var canonicalJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Clears the evaluation settings, which do not change the trained numbers.
    private mutating func resetEvaluation() {
        evalEveryEpochs = 0
        evalMetrics = []
        evalSamples = 0
        evalReference = ""
        evaluatorPath = nil
        kidSubsets = 0
        kidSubsetSize = 0
    }

    /// Differences from `other` by field name, ignoring evaluation settings and what does not change the trained numbers (world
    /// size, micro-batches, threads, bucket size, deadlines, logging, checkpoint and replica-check intervals, the run folder's
    /// path, the number of steps or epochs): what `--resume auto` must refuse.
    public func differences(from other: Job) -> [String] {
        var mine = self, theirs = other
        mine.ranks = 0; theirs.ranks = 0
        // The run's length: each step's numbers do not depend on how many follow, so a finished run can be extended.
        mine.steps = nil; theirs.steps = nil
        mine.epochs = nil; theirs.epochs = nil
        mine.hostfile = nil; theirs.hostfile = nil
        mine.threadsPerRank = 0; theirs.threadsPerRank = 0
        mine.logEverySeconds = 0; theirs.logEverySeconds = 0
        mine.deadlineSeconds = 0; theirs.deadlineSeconds = 0
        mine.bucketMegabytes = 0; theirs.bucketMegabytes = 0
        // Micro-batches sum the same gradients in another order (as a world size does).
        mine.accumulate = 1; theirs.accumulate = 1
        mine.replicaCheckEvery = 0; theirs.replicaCheckEvery = 0
        mine.checkpointEverySteps = 0; theirs.checkpointEverySteps = 0
        mine.checkpointEveryMinutes = 0; theirs.checkpointEveryMinutes = 0
        mine.checkpointKeep = 0; theirs.checkpointKeep = 0
        mine.output = ""; theirs.output = ""
        // A job stored before samples had a recorded shape trained on the same data as one that records it.
        if mine.sampleShape == nil || theirs.sampleShape == nil { mine.sampleShape = nil; theirs.sampleShape = nil }
        // With both digests known the content is compared, not where it lies (a job from before digests compares paths).
        var moved: String?
        if mine.dataDigest == nil || theirs.dataDigest == nil {
            mine.dataDigest = nil; theirs.dataDigest = nil
        } else {
            if mine.dataDigest != theirs.dataDigest && mine.dataPath != theirs.dataPath { moved = " (data.path: \(theirs.dataPath) -> \(mine.dataPath))" }
            mine.dataPath = ""; theirs.dataPath = ""
            mine.domains = mine.domains?.map { DomainSpec(path: "", classes: $0.classes) }
            theirs.domains = theirs.domains?.map { DomainSpec(path: "", classes: $0.classes) }
        }
        mine.resetEvaluation()
        theirs.resetEvaluation()
        func fields(_ job: Job) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(job.canonicalJSON.utf8))) as? [String: Any] ?? [:]
        }
        func text(_ value: Any?) -> String {
            guard let value else { return "(none)" }
            guard JSONSerialization.isValidJSONObject(value),
                  let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return "\(value)" }
            return String(decoding: data, as: UTF8.self)
        }
        let (a, b) = (Self.flattened(fields(mine)), Self.flattened(fields(theirs)))
        return Set(a.keys).union(b.keys).sorted().compactMap { field in
            text(a[field]) == text(b[field]) ? nil
                : "\(Self.jobKey(field)): \(text(b[field])) -> \(text(a[field]))" + (field == "dataDigest" ? moved ?? "" : "")
        }
    }

    /// The longest `name` a job may have.
    public static let longestName = 128

    /// Nested objects (model options, optimizers per group) as dotted fields: `optimizers.generator.learningRate`.
    static func flattened(_ fields: [String: Any], prefix: String = "") -> [String: Any] {
        var flat: [String: Any] = [:]
        for (key, value) in fields {
            if let nested = value as? [String: Any], !nested.isEmpty {
                flat.merge(flattened(nested, prefix: prefix + key + ".")) { $1 }
            } else {
                flat[prefix + key] = value
            }
        }
        return flat
    }

    /// The job file's key for a stored field: `batchSize` is `train.batch_size`, `modelOptions.latent` is `model.latent`.
    static func jobKey(_ field: String) -> String {
        let sections = ["name": "name", "modelKind": "model.kind", "modelOptions": "model", "dataset": "data.dataset", "dataPath": "data.path",
                        "classes": "data.classes", "domains": "data.domains", "scale": "data.scale", "sampling": "data.sampling",
                        "sampleShape": "data sample shape", "dataDigest": "data content", "steps": "train.steps", "epochs": "train.epochs",
                        "batchSize": "train.batch_size", "seed": "train.seed", "optimizers": "train.optimizers"]
        let parts = field.split(separator: ".", maxSplits: 1).map(String.init)
        let section = sections[parts[0]] ?? snakeCase(parts[0])
        guard parts.count == 2 else { return section }
        return section + "." + parts[1].split(separator: ".").map { snakeCase(String($0)) }.joined(separator: ".")
    }

    /// `learningRate` as `learning_rate`.
    static func snakeCase(_ name: String) -> String {
        name.reduce(into: "") { text, character in text += character.isUppercase ? "_" + character.lowercased() : String(character) }
    }
}

extension Job {
    /// Fields that are absent from the stored JSON when unset (JSONEncoder omits nil optionals).
    static let optionalFields: Set<String> = ["steps", "epochs", "classes", "domains", "hostfile", "evaluatorPath", "sampleShape", "dataDigest"]

    /// Model options that jobs stored before the model contract kept as fields of their own.
    static let formerOptionFields = ["latent": "latent", "noiseScale": "noise_scale"]

    /// A job from the canonical JSON a checkpoint stores. A checkpoint written before a field existed lacks
    /// it: such fields take the defaults of a job of the same model kind, so older runs stay resumable.
    public static func decodeStored(_ text: String, models: [ModelSchema]) throws -> Job {
        if let job = try? JSONDecoder().decode(Job.self, from: Data(text.utf8)), models.contains(where: { $0.name == job.modelKind }) {
            return job
        }
        guard var stored = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let name = stored["name"] as? String, let kind = stored["modelKind"] as? String,
              let schema = models.first(where: { $0.name == kind }) else {
            throw JobError(location: SourceLocation(file: "(checkpoint)", line: 0, column: 0), key: "",
                           message: "the stored job description is not a job of a model this gentrain knows")
        }
        let minimal = "name: \(name)\nmodel: {kind: \(kind)}\ntrain: {steps: 1}\n"
        let defaults = try Job(YAMLTree.parse(minimal, file: "(defaults)"), models: models)
        var merged = (try JSONSerialization.jsonObject(with: Data(defaults.canonicalJSON.utf8))) as? [String: Any] ?? [:]
        for field in optionalFields { merged[field] = nil }
        let defaultSpecs = merged["optimizers"] as? [String: [String: Any]] ?? [:]
        if stored["modelOptions"] == nil {
            var options = merged["modelOptions"] as? [String: Any] ?? [:]
            for (field, option) in formerOptionFields {
                if let value = stored.removeValue(forKey: field), schema.options.contains(where: { $0.name == option }) { options[option] = value }
            }
            stored["modelOptions"] = options
        }
        for (key, value) in stored { merged[key] = value }
        if let specs = stored["optimizers"] as? [String: [String: Any]] {
            merged["optimizers"] = specs.mapValues { spec in
                (defaultSpecs.values.first ?? [:]).merging(spec) { $1 }
            }
        }
        return try JSONDecoder().decode(Job.self, from: JSONSerialization.data(withJSONObject: merged))
    }
}
