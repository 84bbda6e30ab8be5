import DistributedTraining
import Foundation
import Testing

/// The metric vectors kept with the evaluation tests.
func metricFixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EvaluationTests/Fixtures/\(name)").path
}

/// `gentrain metrics ... --json` under mpirun with `ranks` ranks: the JSON object rank 0 printed.
func metricsJSON(ranks: Int, _ arguments: [String]) throws -> [String: Any] {
    let launcher = mpirun(ranks: ranks)
    let result = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "metrics", "--json"] + arguments,
                         environment: launcher.environment)
    #expect(result.status == 0, "\(result.output)")
    let line = try #require(result.output.split(separator: "\n").first { $0.hasPrefix("{") }, "\(result.output)")
    return try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

let vectorArguments = [
    "--real", metricFixture("feat_a_2000x64_f64le.bin"), "--fake", metricFixture("feat_b_1500x64_f64le.bin"),
    "--logits", metricFixture("logits_1000x10_f64le.bin"), "--dim", "64", "--dtype", "f64", "--logits-dim", "10",
    "--kid-indices-real", metricFixture("kid_idx_torchfidelity_x_100x1000_i64le.bin"),
    "--kid-indices-fake", metricFixture("kid_idx_torchfidelity_y_100x1000_i64le.bin"),
]

@Suite(.serialized) struct MetricsCommandTests {
    /// All of expected.json to 1e-9 relative, with the rows split across 1, 2 and 3 ranks.
    @Test(arguments: [1, 2, 3])
    func knownAnswersOnEveryWorldSize(ranks: Int) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: metricFixture("expected.json")))
        let answers = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let report = try metricsJSON(ranks: ranks, vectorArguments)
        func check(_ key: String, _ expectedKey: String) throws {
            let mine = try #require(report[key] as? Double, "\(key) missing")
            let known = try #require(answers[expectedKey] as? Double)
            #expect(abs(mine - known) <= 1e-9 * abs(known), "\(key): \(mine) vs \(known) on \(ranks) rank(s)")
        }
        try check("fid", "fid")
        try check("kid_mean", "kid_mean")
        try check("kid_std", "kid_std")
        try check("is_mean", "is_mean")
        try check("is_std", "is_std")
        let splits = try #require(report["is_split_scores"] as? [Double])
        let knownSplits = try #require(answers["is_split_scores"] as? [Double])
        #expect(splits.count == 10 && zip(splits, knownSplits).allSatisfy { abs($0 - $1) <= 1e-9 * $1 })
        #expect(report["n_real"] as? Int == 2000 && report["n_fake"] as? Int == 1500 && report["dim"] as? Int == 64)
        #expect(report["ranks"] as? Int == ranks)
    }

    /// Seeded KID subsets: the same values on 1 and 3 ranks (features gathered in row order).
    @Test func seededKernelDistanceIndependentOfRanks() throws {
        let arguments = Array(vectorArguments.prefix(4)) + ["--dim", "64", "--dtype", "f64", "--metrics", "kid",
                                                            "--kid-subsets", "10", "--kid-subset-size", "300", "--seed", "7"]
        let one = try metricsJSON(ranks: 1, arguments), three = try metricsJSON(ranks: 3, arguments)
        #expect(one["kid_mean"] as? Double == three["kid_mean"] as? Double)
        #expect(one["kid_std"] as? Double == three["kid_std"] as? Double)
        #expect(one["fid"] == nil && one["kid_subsets"] as? Int == 10)
    }

    @Test func tooSmallASetForTheSubsetsIsAClearError() throws {
        let launcher = mpirun(ranks: 2)
        let result = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "metrics"] + Array(vectorArguments.prefix(4))
                             + ["--dim", "64", "--dtype", "f64", "--kid-subset-size", "1600"], environment: launcher.environment)
        #expect(result.status != 0)
        #expect(result.output.contains("KID subset size 1600") && result.output.contains("1500 generated"))
        #expect(!result.output.contains("Fatal error"))
    }

    @Test func aMissingFileOnAnyRankEndsEveryRank() throws {
        let launcher = mpirun(ranks: 2)
        let result = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "metrics", "--real", metricFixture("feat_a_2000x64_f64le.bin"),
                                                                  "--fake", "/nonexistent/fake.npy", "--dim", "64", "--dtype", "f64"],
                             environment: launcher.environment)
        #expect(result.status != 0)
        #expect(result.output.contains("/nonexistent/fake.npy: no such file"))
    }
}

/// A tiny VAE on one class, evaluated during training and by `gentrain eval` on 1, 2 and 3 ranks.
@Suite(.serialized) struct EvaluationCommandTests {
    static let evaluationSettings = ["--set", "train.steps=2", "--set", "train.batch_size=8", "--set", "data.classes=[8]",
                                     "--set", "eval.every_epochs=1", "--set", "eval.samples=60", "--set", "eval.kid_subsets=5",
                                     "--set", "eval.kid_subset_size=30"]

    func evalJSON(_ checkpoint: String, ranks: Int, _ extra: [String] = []) throws -> [String: Any] {
        let launcher = mpirun(ranks: ranks)
        let result = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "eval", checkpoint, "--json", "--samples", "60",
                                                                  "--kid-subsets", "5", "--kid-subset-size", "30"] + extra,
                             environment: launcher.environment)
        #expect(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").first { $0.hasPrefix("{") }, "\(result.output)")
        return try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func trainingEvaluationAndEvalAgreeOnEveryWorldSize() throws {
        let output = runFolder("eval")
        let trained = try train("vae-fashion", ranks: 2, output: output, Self.evaluationSettings)
        #expect(trained.status == 0, "\(trained.output)")
        #expect(trained.output.contains("evaluation at step 2: validation loss") && trained.output.contains(", FID "), "\(trained.output)")
        let lines = try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let during = try #require(lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["event"] as? String == "eval" })
        #expect(FileManager.default.fileExists(atPath: output + "/samples-step-00000002.png"))
        let curves = curveSeries(metricsPath: output + "/metrics.jsonl").map(\.name)
        #expect(curves == ["kl", "loss", "reconstruction", "eval validation_loss", "eval fid", "eval kid_mean", "eval is_mean"], "\(curves)")
        #expect(FileManager.default.fileExists(atPath: output + "/curves.png"))
        #expect((during["extractor"] as? String)?.hasPrefix("gentrain-classifier/evaluator-fashion") == true)
        #expect(during["n_real"] as? Int == 1000 && during["n_fake"] as? Int == 60)

        let checkpoint = output + "/checkpoints/step-0000000002.gtck"
        let reports = try [1, 2, 3].map { try evalJSON(checkpoint, ranks: $0) }
        for key in ["fid", "kid_mean", "kid_std", "is_mean", "is_std"] {
            let values = try reports.map { try #require($0[key] as? Double, "\(key)") } + [try #require(during[key] as? Double)]
            // 1e-5 relative; an untrained VAE's samples are alike, so IS's spread is ~1e-7: compare that one absolutely.
            #expect(values.allSatisfy { abs($0 - values[0]) <= 1e-5 * max(abs(values[0]), 1e-3) }, "\(key): \(values)")
        }
        #expect(reports.allSatisfy { $0["extractor_sha256"] as? String == during["extractor_sha256"] as? String })
    }

    /// The autoencoder's validation loss on the test bags: the same on 1 and 2 ranks, during training and by gentrain eval.
    @Test func validationLossIsShardedExactly() throws {
        var values: [Double] = []
        var checkpoint = ""
        for ranks in [1, 2] {
            let output = runFolder("validation-\(ranks)")
            let trained = try train("autoencoder-fashion", ranks: ranks, output: output,
                                    ["--set", "train.steps=2", "--set", "train.batch_size=8", "--set", "data.classes=[8]", "--set", "eval.every_epochs=1"])
            #expect(trained.status == 0 && trained.output.contains("evaluation at step 2: validation loss"), "\(trained.output)")
            let record = try #require(try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.first { $0["event"] as? String == "eval" })
            #expect(record["n_real"] as? Int == 1000)
            values.append(try #require(record["validation_loss"] as? Double))
            checkpoint = output + "/checkpoints/step-0000000002.gtck"
        }
        let evaluated = try evalJSON(checkpoint, ranks: 3, ["--metrics", "loss"])
        values.append(try #require(evaluated["validation_loss"] as? Double))
        #expect(values.allSatisfy { abs($0 - values[0]) <= 1e-5 * values[0] } && values[0] > 0, "\(values)")
    }

    @Test func evaluatorAccuracyAndClearErrors() throws {
        let evaluator = URL(fileURLWithPath: jobFile("x")).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("evaluators/fashion-mnist-classifier.gtck").path
        // The committed evaluator on the first 2,000 test images, on 2 ranks (all 10,000: 0.9191, docs/metrics.md).
        let launcher = mpirun(ranks: 2)
        let accuracy = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "eval", evaluator, "--json", "--limit", "2000"],
                               environment: launcher.environment)
        #expect(accuracy.status == 0, "\(accuracy.output)")
        let line = try #require(accuracy.output.split(separator: "\n").first { $0.hasPrefix("{") }, "\(accuracy.output)")
        let report = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(report["n_real"] as? Int == 2000)
        #expect(try #require(report["accuracy"] as? Double) >= 0.9, "\(report)")
        let missing = try run(gentrainExecutable().path, ["eval", evaluator, "--metrics", "fid"])
        #expect(missing.status != 0 && missing.output.contains("a classifier cannot report 'fid'"))
        let absent = try run(gentrainExecutable().path, ["eval", "/nonexistent/step.gtck"])
        #expect(absent.status != 0 && absent.output.contains("/nonexistent/step.gtck") && !absent.output.contains("Fatal error"))
    }
}
