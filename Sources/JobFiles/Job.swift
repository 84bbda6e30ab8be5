// The job file: one YAML file per model run, validated before anything starts.
// Every key, its default and its allowed values: docs/job-files.md.

import Foundation

/// An optimizer setting of a job.
public struct OptimizerSpec: Codable, Equatable, Sendable {
    /// `adam` or `sgd`.
    public var kind: String
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var momentum: Double
    /// Per-epoch factors of the learning rate (epoch e uses `schedule[min(e, count - 1)]`); empty: constant.
    public var schedule: [Double]
    /// Steps over which the learning rate rises linearly to its value (step t of the first uses `t / warmupSteps`); 0: none.
    public var warmupSteps: Int = 0
    /// The largest global norm of the summed gradients: larger ones are scaled down to it before the update; 0: no clipping.
    public var globalClipNorm: Double = 0

    /// The learning rate in epoch `epoch` (0-based).
    public func learningRate(epoch: Int) -> Double {
        schedule.isEmpty ? learningRate : learningRate * schedule[min(epoch, schedule.count - 1)]
    }
}

/// One image domain of a translation model: an IDX folder and the classes kept from it.
public struct DomainSpec: Codable, Equatable, Sendable {
    public var path: String
    /// Classes to keep, nil for all.
    public var classes: [Int]?
}

/// A validated job.
public struct Job: Codable, Equatable, Sendable {
    public var name: String
    /// The model's name (`model.kind`): one of the schemas the job was read against.
    public var modelKind: String
    /// The model's own keys of `model:` (every key its schema declares, defaults filled in).
    public var modelOptions: [String: OptionValue]
    /// `fashion-mnist`, `mnist` or `idx` (an IDX folder), or `table` (a `.npy` or CSV file of rows).
    public var dataset: String
    public var dataPath: String
    /// The shape of one sample ([1, 28, 28], or [D] for table rows): filled in by the trainer from the data it reads.
    public var sampleShape: [Int]?
    /// A digest of the training data's content (`fnv1a-64:` and 16 hex digits), filled in by the trainer: a resume
    /// compares it instead of the path, so the same data at another path is the same data.
    public var dataDigest: String?
    /// Classes to keep, nil for all.
    public var classes: [Int]?
    /// The two image domains of a translation model (nil for every other model).
    public var domains: [DomainSpec]?
    /// `unit` ([0, 1]) or `symmetric` ([-1, 1]).
    public var scale: String
    /// `epoch` (each epoch a permutation) or `with_replacement` (the course's GAN).
    public var sampling: String
    /// Number of optimizer steps to train (from `train.steps`, or epochs times steps per epoch).
    public var steps: Int?
    public var epochs: Int?
    public var batchSize: Int
    /// Micro-batches each rank's share of a step is split into, gradients summed over them before the one reduction.
    public var accumulate: Int = 1
    public var seed: UInt64
    /// Optimizer per parameter group (the model's schema names the groups).
    public var optimizers: [String: OptimizerSpec]
    public var ranks: Int
    /// Hosts and slots for `gentrain run` (an Open MPI hostfile); nil: this machine.
    public var hostfile: String?
    public var threadsPerRank: Int
    public var bucketMegabytes: Double
    /// Batch normalisation's statistics: `synchronized` (over the global batch, summed across ranks in the forward and
    /// backward passes: N ranks train as one) or `per_rank` (each rank's share alone, as PyTorch's plain BatchNorm).
    public var batchNorm: String = "synchronized"
    public var deadlineSeconds: Double
    public var replicaCheckEvery: Int
    public var checkpointEverySteps: Int
    public var checkpointEveryMinutes: Double
    public var checkpointKeep: Int
    public var logEverySeconds: Double
    /// Evaluate every this many epochs during training (0: only `gentrain eval`).
    public var evalEveryEpochs: Int
    /// Metrics to compute, from those the model's schema allows: `fid`, `kid`, `is` for generators, `loss` (the
    /// validation loss on the reference split), `accuracy` for classifiers.
    public var evalMetrics: [String]
    /// Generated samples per evaluation.
    public var evalSamples: Int
    /// `test` or `train`: the split the generated images are compared with (the class filter applies).
    public var evalReference: String
    /// The feature extractor's checkpoint (nil: gentrain's Fashion-MNIST classifier, found as docs/metrics.md says).
    public var evaluatorPath: String?
    public var kidSubsets: Int
    public var kidSubsetSize: Int
    public var output: String

    /// An option of the model's section (nil when its schema declares no such key).
    public func option(_ name: String) -> OptionValue? { modelOptions[name] }

    /// Reads, overrides (`key.path=value` pairs) and validates a job file against the models gentrain knows.
    public static func load(path: String, overrides: [String] = [], models: [ModelSchema]) throws(JobError) -> Job {
        let noLocation = SourceLocation(file: path, line: 0, column: 0)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw JobError(location: noLocation, key: "", message: "job file not found")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            throw JobError(location: noLocation, key: "", message: "not a regular file (a job file is a YAML file)")
        }
        if let size = attributes[.size] as? Int, size > YAMLTree.maximumBytes {
            throw JobError(location: noLocation, key: "", message: "\(size) bytes; a job file has at most \(YAMLTree.maximumBytes) (1 MiB)")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw JobError(location: noLocation, key: "", message: "cannot read the job file as UTF-8 text")
        }
        var tree = try YAMLTree.parse(text, file: path)
        for override in overrides {
            guard let equals = override.firstIndex(of: "="), equals != override.startIndex else {
                throw JobError(location: SourceLocation(file: "--set \(override)", line: 0, column: 0), key: "",
                               message: "expected key.path=value")
            }
            let key = String(override[..<equals]), value = String(override[override.index(after: equals)...])
            let parsed = try YAMLTree.parse(value.isEmpty ? "''" : value, file: "--set \(override)")
            // train.steps and train.epochs are alternatives: setting one replaces the other.
            if key == "train.steps" { tree = tree.removing(["train", "epochs"]) }
            if key == "train.epochs" { tree = tree.removing(["train", "steps"]) }
            tree = try tree.setting(key.split(separator: ".").map(String.init), to: parsed)
        }
        var job = try Job(tree, models: models)
        job.locateFiles(in: .current)
        return job
    }

    /// Resolves the data and evaluator paths written relative to the working folder that are not there to gentrain's
    /// shipped copies (`InstalledFiles.resolve(jobPath:)`), so an example job runs from any folder.
    public mutating func locateFiles(in files: InstalledFiles) {
        dataPath = files.resolve(jobPath: dataPath)
        domains = domains?.map { DomainSpec(path: files.resolve(jobPath: $0.path), classes: $0.classes) }
        evaluatorPath = evaluatorPath.map(files.resolve(jobPath:))
    }

    /// Validates a parsed job tree; `model.kind` must name one of `models`.
    public init(_ tree: YAMLTree, models: [ModelSchema]) throws(JobError) {
        let root = try MappingReader(tree, path: "")
        try root.checkKeys(["name", "model", "data", "train", "distributed", "checkpoint", "eval", "output", "log"])
        guard let name = try root.string("name") else { throw root.missing("name") }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw JobError(location: root.value("name")!.location, key: "name", message: "use letters, digits, '-', '_' or '.'")
        }
        guard name.count <= Self.longestName else {
            throw JobError(location: root.value("name")!.location, key: "name",
                           message: "\(name.count) characters; a name is at most \(Self.longestName) characters")
        }
        self.name = name

        guard let model = try root.mapping("model") else { throw root.missing("model") }
        guard let kind = try model.string("kind", allowed: models.map(\.name)) else { throw model.missing("kind") }
        let schema = models.first { $0.name == kind }!
        try model.checkKeys(["kind"] + schema.options.map(\.name))
        modelKind = kind
        var options: [String: OptionValue] = [:]
        for option in schema.options {
            options[option.name] = try model.option(option) ?? option.defaultValue
        }
        modelOptions = options

        // data: optional; without it, the packaged Fashion-MNIST, every class.
        let data = try root.mapping("data")
        try data?.checkKeys(["dataset", "path", "classes", "scale", "sampling", "domains"])
        let dataset = try data?.string("dataset", allowed: ["fashion-mnist", "mnist", "idx", "table", "sequences"]) ?? "fashion-mnist"
        let fileKinds: [String: DataSchema.Samples] = ["table": .vectors, "sequences": .sequences]
        if let needed = fileKinds[dataset], schema.data.samples != needed {
            throw JobError(location: data!.value("dataset")!.location, key: "data.dataset",
                           message: "a \(kind) does not read \(dataset == "table" ? "a table" : "sequences") (its data: \(schema.data.samples.rawValue))")
        }
        self.dataset = dataset
        sampleShape = nil
        dataDigest = nil
        if let path = try data?.string("path") {
            dataPath = path
        } else if dataset == "fashion-mnist" {
            dataPath = "/usr/share/datasets/fashion-mnist"
        } else {
            throw data!.missing("path")
        }
        classes = try data?.value("classes").flatMap { (tree) throws(JobError) in try Job.classes(tree, key: "data.classes") }
        if let domainsTree = data?.value("domains") {
            guard schema.data.samples == .domains else {
                throw JobError(location: domainsTree.location, key: "data.domains", message: "a \(kind) trains on one set of images, not two domains")
            }
            guard case .sequence(let items, _) = domainsTree, items.count == 2 else {
                throw JobError(location: domainsTree.location, key: "data.domains",
                               message: "expected two domains, e.g. [{classes: [7]}, {classes: [9]}] or [{path: A}, {path: B}]")
            }
            var specs: [DomainSpec] = []
            for (index, item) in items.enumerated() {
                let reader = try MappingReader(item, path: "data.domains[\(index)]")
                try reader.checkKeys(["path", "classes"])
                let domainClasses = try reader.value("classes").flatMap { (tree) throws(JobError) in try Job.classes(tree, key: reader.key("classes")) }
                specs.append(DomainSpec(path: try reader.string("path") ?? dataPath, classes: domainClasses))
            }
            if specs[0] == specs[1] {
                throw JobError(location: domainsTree.location, key: "data.domains", message: "the two domains are the same images")
            }
            domains = specs
        } else if schema.data.samples == .domains {
            throw JobError(location: data?.location ?? root.location, key: "data.domains",
                           message: "a \(kind) translates between two domains: give data.domains, e.g. [{classes: [7]}, {classes: [9]}]")
        } else {
            domains = nil
        }
        scale = try data?.string("scale", allowed: ["unit", "symmetric"]) ?? schema.data.scale
        sampling = try data?.string("sampling", allowed: ["epoch", "with_replacement"]) ?? schema.data.sampling

        guard let train = try root.mapping("train") else { throw root.missing("train") }
        try train.checkKeys(["epochs", "steps", "batch_size", "accumulate", "optimizer", "optimizers", "seed"])
        steps = try train.integer("steps", in: 1...100_000_000)
        epochs = try train.integer("epochs", in: 1...1_000_000)
        if steps != nil && epochs != nil {
            throw JobError(location: train.value("steps")!.location, key: "train.steps", message: "give train.steps or train.epochs, not both")
        }
        if steps == nil && epochs == nil { throw train.missing("epochs") }
        batchSize = try train.integer("batch_size", in: 1...1_000_000) ?? 128
        if schema.data.realImagesPerStep == .wholeDataset, let given = train.value("batch_size") {
            throw JobError(location: given.location, key: "train.batch_size",
                           message: "a \(kind) step takes every sample once (each rank its share): remove train.batch_size")
        }
        if schema.data.realImagesPerStep == .halfBatch && batchSize % 2 != 0 {
            throw JobError(location: train.value("batch_size")?.location ?? train.location, key: "train.batch_size",
                           message: "a \(kind) step uses half the batch real and half generated: use an even batch size")
        }
        accumulate = try train.integer("accumulate", in: 1...65_536) ?? 1
        if accumulate > 1 && !schema.accumulates {
            throw JobError(location: train.value("accumulate")!.location, key: "train.accumulate",
                           message: schema.data.realImagesPerStep == .wholeDataset
                               ? "a \(kind) step sums statistics over every sample in one pass: remove train.accumulate"
                               : "a \(kind) step does not split into micro-batches (batch statistics, or a loss over the whole batch): remove train.accumulate")
        }
        seed = UInt64(try train.integer("seed", in: 0...Int.max) ?? 1)
        // Each group starts from its model's default optimizer, then train.optimizer, then train.optimizers.<group>.
        var optimizers: [String: OptimizerSpec] = [:]
        let shared = try train.mapping("optimizer")
        let perGroup = try train.mapping("optimizers")
        try perGroup?.checkKeys(schema.groups.map(\.name))
        for group in schema.groups {
            var spec = group.defaultOptimizer
            if let shared { spec = try Job.optimizer(shared, defaults: spec) }
            if let reader = try perGroup?.mapping(group.name) { spec = try Job.optimizer(reader, defaults: spec) }
            optimizers[group.name] = spec
        }
        self.optimizers = optimizers

        let distributed = try root.mapping("distributed")
        try distributed?.checkKeys(["ranks", "threads_per_rank", "bucket_mb", "deadline_s", "replica_check_every", "hostfile", "batch_norm"])
        ranks = try distributed?.integer("ranks", in: 1...4096) ?? 1
        hostfile = try distributed?.string("hostfile")
        threadsPerRank = try distributed?.integer("threads_per_rank", in: 1...256) ?? 1
        bucketMegabytes = try distributed?.number("bucket_mb", in: 0.001...1024) ?? 4
        batchNorm = try distributed?.string("batch_norm", allowed: ["synchronized", "per_rank"]) ?? "synchronized"
        deadlineSeconds = try distributed?.number("deadline_s", in: 1...86_400) ?? 60
        replicaCheckEvery = try distributed?.integer("replica_check_every", in: 0...1_000_000) ?? 100

        let checkpoint = try root.mapping("checkpoint")
        try checkpoint?.checkKeys(["every_steps", "every_minutes", "keep"])
        checkpointEverySteps = try checkpoint?.integer("every_steps", in: 0...100_000_000) ?? 500
        checkpointEveryMinutes = try checkpoint?.number("every_minutes", in: 0...100_000) ?? 10
        checkpointKeep = try checkpoint?.integer("keep", in: 1...1000) ?? 3

        let log = try root.mapping("log")
        try log?.checkKeys(["every_seconds"])
        logEverySeconds = try log?.number("every_seconds", in: 0.1...86_400) ?? 10
        let evaluation = try root.mapping("eval")
        try evaluation?.checkKeys(["every_epochs", "metrics", "samples", "reference", "evaluator", "kid_subsets", "kid_subset_size"])
        evalEveryEpochs = try evaluation?.integer("every_epochs", in: 0...1_000_000) ?? 0
        let possible = schema.metrics
        if let metrics = evaluation?.value("metrics") {
            guard case .sequence(let items, _) = metrics else {
                throw JobError(location: metrics.location, key: "eval.metrics", message: "expected a list, e.g. [\(possible.joined(separator: ", "))]")
            }
            var list: [String] = []
            for item in items {
                guard case .scalar(let name, let location) = item, possible.contains(name) else {
                    throw JobError(location: item.location, key: "eval.metrics",
                                   message: possible.isEmpty ? "a \(kind) has no metrics" : "allowed for a \(kind): \(possible.joined(separator: ", "))")
                }
                if list.contains(name) { throw JobError(location: location, key: "eval.metrics", message: "\(name) listed twice") }
                list.append(name)
            }
            evalMetrics = list
        } else {
            evalMetrics = possible
        }
        evalSamples = try evaluation?.integer("samples", in: 2...10_000_000) ?? 2000
        evalReference = try evaluation?.string("reference", allowed: ["test", "train"]) ?? "test"
        evaluatorPath = try evaluation?.string("evaluator")
        kidSubsets = try evaluation?.integer("kid_subsets", in: 1...100_000) ?? 100
        kidSubsetSize = try evaluation?.integer("kid_subset_size", in: 2...10_000_000) ?? min(1000, evalSamples)
        if evalMetrics.contains("kid") && kidSubsetSize > evalSamples {
            throw JobError(location: evaluation?.value("kid_subset_size")?.location ?? evaluation?.location ?? root.location,
                           key: "eval.kid_subset_size", message: "\(kidSubsetSize) is more than the \(evalSamples) samples (eval.samples)")
        }
        output = try root.string("output") ?? "runs/\(name)"
    }

    /// `all`, one class 0...9 or a list of classes (nil for all), sorted.
    static func classes(_ tree: YAMLTree, key: String) throws(JobError) -> [Int]? {
        switch tree {
        case .scalar("all", _): return nil
        case .scalar(let text, let location):
            guard let single = Int(text), (0...9).contains(single) else {
                throw JobError(location: location, key: key, message: "expected 'all', a class 0...9 or a list of classes")
            }
            return [single]
        case .sequence(let items, _):
            var list: [Int] = []
            for item in items {
                guard case .scalar(let text, let location) = item, let value = Int(text), (0...9).contains(value) else {
                    throw JobError(location: item.location, key: key, message: "each class must be a number 0...9")
                }
                if list.contains(value) { throw JobError(location: location, key: key, message: "class \(value) listed twice") }
                list.append(value)
            }
            guard !list.isEmpty else { throw JobError(location: tree.location, key: key, message: "an empty list keeps no images (use 'all')") }
            return list.sorted()
        case .mapping(_, let location):
            throw JobError(location: location, key: key, message: "expected 'all', a class 0...9 or a list of classes")
        }
    }

    private static func optimizer(_ reader: MappingReader, defaults: OptimizerSpec) throws(JobError) -> OptimizerSpec {
        try reader.checkKeys(["kind", "learning_rate", "beta1", "beta2", "epsilon", "momentum", "schedule", "warmup_steps",
                              "global_clip_norm"])
        var spec = defaults
        spec.kind = try reader.string("kind", allowed: ["adam", "sgd"]) ?? defaults.kind
        spec.learningRate = try reader.number("learning_rate", in: 0...10) ?? defaults.learningRate
        spec.beta1 = try reader.number("beta1", in: 0...0.999_999) ?? defaults.beta1
        spec.beta2 = try reader.number("beta2", in: 0...0.999_999_9) ?? defaults.beta2
        spec.epsilon = try reader.number("epsilon", in: 0...1) ?? defaults.epsilon
        spec.momentum = try reader.number("momentum", in: 0...0.999_999) ?? defaults.momentum
        spec.warmupSteps = try reader.integer("warmup_steps", in: 0...100_000_000) ?? defaults.warmupSteps
        spec.globalClipNorm = try reader.number("global_clip_norm", in: 0...1_000_000) ?? defaults.globalClipNorm
        if let schedule = reader.value("schedule") {
            let key = reader.key("schedule")
            guard case .sequence(let items, _) = schedule, !items.isEmpty else {
                throw JobError(location: schedule.location, key: key, message: "expected a list of per-epoch factors, e.g. [1, 1, 1, 0.1, 0.01]")
            }
            spec.schedule = []
            for item in items {
                guard case .scalar(let text, _) = item, let factor = Double(text), factor > 0, factor <= 1000 else {
                    throw JobError(location: item.location, key: key, message: "each factor must be a number in (0, 1000]")
                }
                spec.schedule.append(factor)
            }
        }
        return spec
    }
}
