import Foundation
import Testing
@testable import JobFiles
import Models

/// Reads a job file against the registered models.
func loadJob(path: String, overrides: [String] = []) throws(JobError) -> Job {
    try Job.load(path: path, overrides: overrides, models: ModelRegistry.schemas)
}

func writeJob(_ text: String) -> String {
    let path = NSTemporaryDirectory() + "gentrain-job-\(UUID().uuidString).yaml"
    FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    return path
}

let validJob = """
name: vae-test
model: {kind: vae, latent: 16}
data: {dataset: fashion-mnist, classes: [3, 1], scale: unit}
train: {steps: 20, batch_size: 64, optimizer: {kind: adam, learning_rate: 0.002}, seed: 7}
distributed: {ranks: 2, bucket_mb: 1}
checkpoint: {every_steps: 10, keep: 2}
"""

@Suite struct JobFileTests {
    @Test func validJobWithDefaults() throws {
        let job = try loadJob(path: writeJob(validJob))
        #expect(job.name == "vae-test" && job.modelKind == "vae" && job.option("latent") == .integer(16))
        #expect(job.classes == [1, 3] && job.steps == 20 && job.epochs == nil && job.batchSize == 64 && job.seed == 7)
        #expect(job.optimizers["model"]?.learningRate == 0.002 && job.optimizers["model"]?.beta1 == 0.9)
        #expect(job.dataPath == "/usr/share/datasets/fashion-mnist" && job.output == "runs/vae-test")
        #expect(job.deadlineSeconds == 60 && job.checkpointKeep == 2 && job.sampling == "epoch")
    }

    @Test func shippedJobFilesAreValid() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("jobs").path
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 3)
        for file in files { _ = try loadJob(path: folder + "/" + file) }
        let gan = try loadJob(path: folder + "/dcgan-bags.yaml")
        #expect(gan.classes == [8] && gan.scale == "symmetric" && gan.sampling == "with_replacement")
        #expect(gan.optimizers["generator"]?.beta1 == 0.5 && gan.optimizers["discriminator"]?.learningRate == 0.0002)
    }

    @Test func overridesReplaceAndAddKeys() throws {
        let job = try loadJob(path: writeJob(validJob), overrides: ["train.steps=5", "output=/tmp/x", "model.latent=8", "checkpoint.every_minutes=0.5"])
        #expect(job.steps == 5 && job.output == "/tmp/x" && job.option("latent") == .integer(8) && job.checkpointEveryMinutes == 0.5)
        let byEpochs = try loadJob(path: writeJob(validJob), overrides: ["train.epochs=2"])
        #expect(byEpochs.epochs == 2 && byEpochs.steps == nil)
        #expect { try loadJob(path: writeJob(validJob), overrides: ["train.steps"]) } throws: { "\($0)".contains("expected key.path=value") }
        #expect { try loadJob(path: writeJob(validJob), overrides: ["train.steps=-3"]) } throws: {
            "\($0)".contains("--set train.steps=-3") && "\($0)".contains("out of range")
        }
    }

    /// Each malformed file and the words its error must contain (file:line:column, key, what is allowed).
    static let malformed: [(String, [String])] = [
        (validJob.replacingOccurrences(of: "latent: 16", with: "latnet: 16"), [":2:", "model.latnet", "unknown key", "allowed here: kind, latent"]),
        (validJob.replacingOccurrences(of: "kind: vae", with: "kind: vea"), [":2:", "model.kind", "'vea' is not one of", "autoencoder, vae, dvae, dcgan, sagan, classifier"]),
        (validJob.replacingOccurrences(of: "batch_size: 64", with: "batch_size: lots"), [":4:", "train.batch_size", "not a whole number"]),
        (validJob.replacingOccurrences(of: "batch_size: 64", with: "batch_size: 0"), ["train.batch_size", "out of range 1..."]),
        (validJob.replacingOccurrences(of: "steps: 20", with: "steps: 20, epochs: 3"), ["train.steps", "not both"]),
        (validJob.replacingOccurrences(of: "steps: 20, ", with: ""), ["train.epochs", "required key is missing"]),
        (validJob.replacingOccurrences(of: "name: vae-test\n", with: ""), ["name", "required key is missing"]),
        (validJob.replacingOccurrences(of: "classes: [3, 1]", with: "classes: [3, 12]"), [":3:", "data.classes", "0...9"]),
        (validJob.replacingOccurrences(of: "classes: [3, 1]", with: "classes: [3, 3]"), ["data.classes", "listed twice"]),
        (validJob.replacingOccurrences(of: "learning_rate: 0.002", with: "learning_rate: fast"), ["train.optimizer.learning_rate", "not a number"]),
        (validJob.replacingOccurrences(of: "{ranks: 2, bucket_mb: 1}", with: "[2, 1]"), [":5:", "distributed", "expected a mapping"]),
        (validJob.replacingOccurrences(of: "model: {kind: vae, latent: 16}", with: "model: {kind: vae, latent: 16"), ["not valid YAML"]),
        (validJob + "\nname: again\n", [":1:", "name", "given twice"]),
        (validJob.replacingOccurrences(of: "kind: vae, latent: 16", with: "kind: dcgan"), []),
        (validJob.replacingOccurrences(of: "kind: vae, latent: 16", with: "kind: dcgan").replacingOccurrences(of: "batch_size: 64", with: "batch_size: 63"),
         ["train.batch_size", "even batch size"]),
        ("", ["empty"]),
        (validJob.replacingOccurrences(of: "learning_rate: 0.002}", with: "learning_rate: 0.002, schedule: 0.1}"),
         [":4:", "train.optimizer.schedule", "list of per-epoch factors"]),
        (validJob.replacingOccurrences(of: "learning_rate: 0.002}", with: "learning_rate: 0.002, schedule: [1, -0.1]}"),
         [":4:", "train.optimizer.schedule", "(0, 1000]"]),
        (validJob.replacingOccurrences(of: "learning_rate: 0.002}", with: "learning_rate: 0.002, warmup_steps: 1.5}"),
         [":4:", "train.optimizer.warmup_steps", "not a whole number"]),
        (validJob.replacingOccurrences(of: "learning_rate: 0.002}", with: "learning_rate: 0.002, global_clip_norm: -1}"),
         [":4:", "train.optimizer.global_clip_norm", "out of range"]),
        (validJob + "\neval: {every_epochs: 1, metrics: [fid, accuracy]}\n", [":7:", "eval.metrics", "allowed for a vae: fid, kid, is"]),
        (validJob + "\neval: {metrics: fid}\n", [":7:", "eval.metrics", "expected a list"]),
        (validJob + "\neval: {samples: 500, kid_subset_size: 600}\n", [":7:", "eval.kid_subset_size", "more than the 500 samples"]),
        (validJob + "\neval: {reference: validation}\n", [":7:", "eval.reference", "test, train"]),
        (validJob + "\neval: {every_epoch: 1}\n", [":7:", "eval.every_epoch", "unknown key", "every_epochs"]),
    ]

    @Test(arguments: 0..<malformed.count)
    func malformedFilesNameFileLineAndKey(index: Int) {
        let (text, words) = Self.malformed[index]
        let path = writeJob(text)
        if words.isEmpty {
            #expect(throws: Never.self) { try loadJob(path: path) }
            return
        }
        #expect { try loadJob(path: path) } throws: { error in
            let message = "\(error)"
            let ok = message.hasPrefix(path) && words.allSatisfy { message.contains($0) }
            if !ok { Issue.record("message was: \(message)") }
            return ok
        }
    }

    @Test func scheduleAndEvaluationSettings() throws {
        let text = validJob.replacingOccurrences(of: "learning_rate: 0.002}", with: "learning_rate: 0.002, schedule: [1, 0.5, 0.1]}")
            + "\neval: {every_epochs: 2, metrics: [fid, is], samples: 800, evaluator: /tmp/e.gtck}\n"
        let job = try loadJob(path: writeJob(text))
        let optimizer = try #require(job.optimizers["model"])
        #expect([0, 1, 2, 7].map { optimizer.learningRate(epoch: $0) } == [0.002, 0.001, 0.002 * 0.1, 0.002 * 0.1])
        #expect(job.evalEveryEpochs == 2 && job.evalMetrics == ["fid", "is"] && job.evalSamples == 800 && job.evaluatorPath == "/tmp/e.gtck")
        #expect(job.evalReference == "test" && job.kidSubsets == 100 && job.kidSubsetSize == 800)
        let plain = try loadJob(path: writeJob(validJob))
        #expect(plain.evalEveryEpochs == 0 && plain.evalMetrics == ["fid", "kid", "is", "loss"] && plain.optimizers["model"]!.learningRate(epoch: 9) == 0.002)
        // Evaluation settings do not change the trained numbers: resuming with other ones is allowed.
        #expect(job.differences(from: try loadJob(path: writeJob(text.replacingOccurrences(of: "every_epochs: 2", with: "every_epochs: 5")))).isEmpty)
    }

    @Test func warmupAndClippingSettings() throws {
        let text = validJob.replacingOccurrences(of: "learning_rate: 0.002}", with: "learning_rate: 0.002, warmup_steps: 500, global_clip_norm: 1}")
        let optimizer = try #require(try loadJob(path: writeJob(text)).optimizers["model"])
        #expect(optimizer.warmupSteps == 500 && optimizer.globalClipNorm == 1)
        let plain = try #require(try loadJob(path: writeJob(validJob)).optimizers["model"])
        #expect(plain.warmupSteps == 0 && plain.globalClipNorm == 0)
    }

    /// A checkpoint written before the evaluation, schedule, warm-up, clipping and hostfile fields existed still resumes.
    @Test func storedJobsFromBeforeNewFieldsTakeTheDefaults() throws {
        let job = try loadJob(path: writeJob(validJob))
        var object = try #require(JSONSerialization.jsonObject(with: Data(job.canonicalJSON.utf8)) as? [String: Any])
        for key in ["evalEveryEpochs", "evalMetrics", "evalSamples", "evalReference", "kidSubsets", "kidSubsetSize"] { object[key] = nil }
        var optimizers = try #require(object["optimizers"] as? [String: [String: Any]])
        optimizers["model"]?["schedule"] = nil
        optimizers["model"]?["warmupSteps"] = nil
        optimizers["model"]?["globalClipNorm"] = nil
        object["optimizers"] = optimizers
        let old = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        #expect((try? JSONDecoder().decode(Job.self, from: Data(old.utf8))) == nil)
        let decoded = try Job.decodeStored(old, models: ModelRegistry.schemas)
        #expect(decoded == job)
        #expect(decoded.steps == 20 && decoded.epochs == nil && decoded.classes == [1, 3])
        #expect { try Job.decodeStored("{\"name\": 3}", models: ModelRegistry.schemas) } throws: { "\($0)".contains("not a job of a model") }
    }

    /// A checkpoint written before the model contract kept the latent size and noise scale as fields of the job.
    @Test func storedJobsFromBeforeTheModelContractKeepTheirOptions() throws {
        let job = try loadJob(path: writeJob(validJob), overrides: ["model.noise_scale=0.1"])
        var object = try #require(JSONSerialization.jsonObject(with: Data(job.canonicalJSON.utf8)) as? [String: Any])
        object["modelOptions"] = nil
        object["latent"] = 16
        object["noiseScale"] = 0.1
        let old = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let decoded = try Job.decodeStored(old, models: ModelRegistry.schemas)
        #expect(decoded == job && decoded.option("latent") == .integer(16) && decoded.option("noise_scale") == .number(0.1))
        // A model without those options drops them.
        object["modelKind"] = "classifier"
        object["optimizers"] = nil
        let classifier = try Job.decodeStored(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self),
                                              models: ModelRegistry.schemas)
        #expect(classifier.modelOptions.isEmpty)
    }

    /// The reader knows no model: a schema it is given defines the section, the defaults and the batch rule.
    @Test func anySchemaDefinesTheModelSection() throws {
        let toy = ModelSchema(
            name: "toy", summary: "a test model",
            options: [.choice("mode", default: "fast", from: ["fast", "exact"], help: "how"),
                      .number("rate", default: 0.5, in: 0...1, help: "a rate")],
            groups: [GroupSchema("left", optimizer: .adam(learningRate: 0.1)), GroupSchema("right", optimizer: .adam(learningRate: 0.2))],
            data: .images(scale: "symmetric", sampling: "with_replacement", realImagesPerStep: .halfBatch),
            metrics: ["fid"])
        func load(_ model: String, _ train: String = "{steps: 3, batch_size: 8}") throws(JobError) -> Job {
            try Job.load(path: writeJob("name: t\nmodel: \(model)\ntrain: \(train)\n"), models: [toy])
        }
        let job = try load("{kind: toy}")
        #expect(job.option("mode") == .text("fast") && job.option("rate") == .number(0.5))
        #expect(job.scale == "symmetric" && job.sampling == "with_replacement" && job.evalMetrics == ["fid"])
        #expect(job.optimizers["left"]?.learningRate == 0.1 && job.optimizers["right"]?.learningRate == 0.2)
        let shared = try load("{kind: toy}", "{steps: 3, optimizer: {beta1: 0.5}, optimizers: {right: {learning_rate: 0.3}}}")
        #expect(shared.optimizers["left"]?.beta1 == 0.5 && shared.optimizers["left"]?.learningRate == 0.1)
        #expect(shared.optimizers["right"]?.beta1 == 0.5 && shared.optimizers["right"]?.learningRate == 0.3)
        #expect(try load("{kind: toy, mode: exact, rate: 1}").option("mode") == .text("exact"))
        #expect { try load("{kind: toy, mode: slow}") } throws: { "\($0)".contains("model.mode") && "\($0)".contains("fast, exact") }
        #expect { try load("{kind: toy, rate: 2}") } throws: { "\($0)".contains("model.rate") && "\($0)".contains("out of range") }
        #expect { try load("{kind: toy, latent: 2}") } throws: { "\($0)".contains("allowed here: kind, mode, rate") }
        #expect { try load("{kind: toy}", "{steps: 3, batch_size: 7}") } throws: { "\($0)".contains("even batch size") }
        #expect { try load("{kind: vae}") } throws: { "\($0)".contains("not one of: toy") }
        #expect { try load("{kind: toy}", "{steps: 3, optimizers: {model: {}}}") } throws: { "\($0)".contains("allowed here: left, right") }
    }

    /// An option that takes a word or a file: the word, an existing file with the extension, else one line naming the key.
    @Test func wordOrFileOptions() throws {
        let toy = ModelSchema(name: "toy", summary: "a test model",
                              options: [.choiceOrFile("init", default: "kmeans", from: ["kmeans", "random"], extensions: ["npz", "safetensors"], help: "start")],
                              groups: [], data: .vectors(scale: "unit", sampling: "epoch", realImagesPerStep: .wholeDataset), metrics: [])
        func load(_ value: String) throws(JobError) -> Job {
            try Job.load(path: writeJob("name: t\nmodel: {kind: toy, init: \(value)}\ntrain: {steps: 3}\n"), models: [toy])
        }
        let existing = NSTemporaryDirectory() + "start-\(UInt64.random(in: 0...UInt64.max)).npz"
        try Data([1]).write(to: URL(fileURLWithPath: existing))
        #expect(try load("random").option("init") == .text("random"))
        #expect(try load(existing).option("init") == .text(existing))
        #expect(toy.options[0].allowed == "kmeans, random or a `.npz` or `.safetensors` file")
        #expect { try load("/no/such/start.npz") } throws: { "\($0)".contains("model.init") && "\($0)".contains("/no/such/start.npz: no such file") }
        #expect { try load("kmeans++") } throws: {
            "\($0)".contains("model.init") && "\($0)".contains("'kmeans++' is not one of kmeans, random nor a file ending in .npz or .safetensors")
        }
    }

    /// A table is for models that fit vectors; a model whose step takes the whole data set takes no batch size.
    @Test func tablesAndWholeDataSteps() throws {
        let gaussian = try loadJob(path: writeJob("name: g\nmodel: {kind: gaussian}\ndata: {dataset: table, path: data/heights.csv}\ntrain: {steps: 1}\n"))
        #expect(gaussian.dataset == "table" && gaussian.dataPath == "data/heights.csv" && gaussian.option("regularization") == .number(0))
        #expect(gaussian.sampleShape == nil && gaussian.evalMetrics.isEmpty)
        #expect { try loadJob(path: writeJob("name: g\nmodel: {kind: vae}\ndata: {dataset: table, path: t.csv}\ntrain: {steps: 1}\n")) } throws: {
            "\($0)".contains(":3:") && "\($0)".contains("data.dataset") && "\($0)".contains("a vae does not read a table")
        }
        #expect { try loadJob(path: writeJob("name: g\nmodel: {kind: gaussian}\ndata: {dataset: table}\ntrain: {steps: 1}\n")) } throws: {
            "\($0)".contains("data.path") && "\($0)".contains("required")
        }
        #expect { try loadJob(path: writeJob("name: g\nmodel: {kind: gaussian}\ntrain: {steps: 1, batch_size: 64}\n")) } throws: {
            "\($0)".contains("train.batch_size") && "\($0)".contains("every sample once")
        }
    }

    /// Sequences and two domains are declared by a model's schema; other models refuse them.
    @Test func sequencesAndDomains() throws {
        func schema(_ data: DataSchema) -> ModelSchema {
            ModelSchema(name: "toy", summary: "", options: [], groups: [GroupSchema("model", optimizer: .adam())], data: data, metrics: [])
        }
        let translator = schema(.domains(scale: "symmetric", sampling: "epoch"))
        func load(_ schema: ModelSchema, _ data: String) throws(JobError) -> Job {
            try Job.load(path: writeJob("name: t\nmodel: {kind: toy}\ndata: \(data)\ntrain: {steps: 1}\n"), models: [schema])
        }
        let job = try load(translator, "{domains: [{classes: [7]}, {classes: 9, path: /elsewhere}]}")
        #expect(job.domains == [DomainSpec(path: "/usr/share/datasets/fashion-mnist", classes: [7]), DomainSpec(path: "/elsewhere", classes: [9])])
        #expect { try load(translator, "{classes: [7]}") } throws: { "\($0)".contains("data.domains") && "\($0)".contains("two domains") }
        #expect { try load(translator, "{domains: [{classes: [7]}]}") } throws: { "\($0)".contains(":3:") && "\($0)".contains("expected two domains") }
        #expect { try load(translator, "{domains: [{classes: [7]}, {classes: [7]}]}") } throws: { "\($0)".contains("the same images") }
        #expect { try load(translator, "{domains: [{classes: []}, {classes: [7]}]}") } throws: { "\($0)".contains("data.domains[0].classes") && "\($0)".contains("empty") }
        #expect { try load(translator, "{domains: [{clases: [1]}, {classes: [7]}]}") } throws: { "\($0)".contains("data.domains[0].clases") && "\($0)".contains("unknown key") }
        #expect { try load(schema(.images(scale: "unit", sampling: "epoch")), "{domains: [{classes: [1]}, {classes: [7]}]}") } throws: {
            "\($0)".contains("not two domains")
        }
        let sequences = try load(schema(.sequences(scale: "unit", sampling: "epoch", realImagesPerStep: .wholeBatch)), "{dataset: sequences, path: s.npy}")
        #expect(sequences.dataset == "sequences" && sequences.domains == nil)
        #expect { try load(schema(.images(scale: "unit", sampling: "epoch")), "{dataset: sequences, path: s.npy}") } throws: {
            "\($0)".contains("does not read sequences")
        }
        #expect { try load(schema(.images(scale: "unit", sampling: "epoch")), "{classes: []}") } throws: { "\($0)".contains("data.classes") && "\($0)".contains("empty") }
    }

    /// Files that attack the reader are refused in well under a second with bounded memory (issue 19, case 11).
    @Test func hostileFilesAreRefusedQuickly() throws {
        var bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        for level in 1...8 { bomb.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]") }
        let cases: [(String, String)] = [
            (bomb.joined(separator: "\n") + "\n" + validJob, "expands to more than 100000 values"),
            ("name: x\nx: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n", "nesting"),
            ("name: x\nx: '" + String(repeating: "y", count: 1 << 20) + "'\n", "a job file has at most 1048576"),
        ]
        for (text, words) in cases {
            let started = Date()
            #expect { try loadJob(path: writeJob(text)) } throws: { "\($0)".contains(words) }
            #expect(Date().timeIntervalSince(started) < 1)
        }
        #expect { try loadJob(path: NSTemporaryDirectory()) } throws: { "\($0)".contains("not a regular file") }
        // Shared settings through an anchor and an alias still work.
        let shared = try loadJob(path: writeJob(validJob.replacingOccurrences(of: "kind: vae, latent: 16", with: "kind: dcgan")
            .replacingOccurrences(of: "optimizer: {kind: adam, learning_rate: 0.002}",
                                  with: "optimizers: {generator: &o {kind: adam, learning_rate: 0.003}, discriminator: *o}")))
        #expect(shared.optimizers["discriminator"]?.learningRate == 0.003)
    }

    @Test func missingJobFile() {
        #expect { try loadJob(path: "/nonexistent/job.yaml") } throws: { "\($0)".contains("/nonexistent/job.yaml") && "\($0)".contains("not found") }
    }

    @Test func differencesIgnoreWorldSizeOnly() throws {
        let job = try loadJob(path: writeJob(validJob))
        var other = job
        other.ranks = 3
        other.steps = 99
        #expect(job.differences(from: other).isEmpty)
        other.batchSize = 32
        #expect(job.differences(from: other) == ["train.batch_size: 32 -> 64"])
    }

    /// A job that does not match its checkpoint names the job file's keys (issue 19, case 12), down to a model option
    /// or one group's optimizer setting.
    @Test func differencesNameTheJobFilesKeys() throws {
        let job = try loadJob(path: writeJob(validJob))
        var other = job
        other.seed = 9
        other.dataPath = "/elsewhere"
        other.modelOptions["latent"] = .integer(4)
        other.optimizers[other.optimizers.keys.sorted()[0]]?.learningRate = 0.5
        let group = other.optimizers.keys.sorted()[0]
        let differences = job.differences(from: other)
        #expect(differences.contains { $0.hasPrefix("train.seed: 9 -> ") }, "\(differences)")
        #expect(differences.contains { $0.hasPrefix("data.path: \"/elsewhere\" -> ") || $0.hasPrefix("data.path: /elsewhere -> ") }, "\(differences)")
        #expect(differences.contains { $0.hasPrefix("model.latent: 4 -> 16") }, "\(differences)")
        #expect(differences.contains { $0.hasPrefix("train.optimizers.\(group).learning_rate: 0.5 -> ") }, "\(differences)")
    }

    /// The same data at another path is the same data: with both digests known a resume compares content, not paths.
    @Test func theSameDataAtAnotherPathIsTheSameData() throws {
        var job = try loadJob(path: writeJob(validJob))
        job.dataDigest = "fnv1a-64:0123456789abcdef"
        var moved = job
        moved.dataPath = "/mnt/copy/fashion-mnist"
        #expect(job.differences(from: moved).isEmpty)
        moved.dataDigest = "fnv1a-64:fedcba9876543210"
        #expect(job.differences(from: moved) == ["data content: fnv1a-64:fedcba9876543210 -> fnv1a-64:0123456789abcdef (data.path: /mnt/copy/fashion-mnist -> \(job.dataPath))"])
        moved.dataDigest = nil  // a checkpoint from before digests: the path is all there is to compare
        #expect(job.differences(from: moved).contains { $0.hasPrefix("data.path:") })
    }

    /// A name is at most 128 characters: a 512 KiB name (the job file itself may have 1 MiB) is refused in one line.
    @Test func aHugeNameIsRefused() throws {
        let huge = String(repeating: "n", count: 1 << 19)
        #expect { try loadJob(path: writeJob(validJob.replacingOccurrences(of: "name: vae-test", with: "name: \(huge)"))) } throws: {
            "\($0)".contains("name") && "\($0)".contains("at most 128 characters") && "\($0)".count < 300
        }
        #expect(try loadJob(path: writeJob(validJob.replacingOccurrences(of: "name: vae-test", with: "name: \(String(repeating: "n", count: 128))"))).name.count == 128)
    }
}
