@testable import DistributedTraining
import Foundation
import Testing

/// The records of a run's metrics.jsonl.
func runRecords(_ output: String) throws -> [[String: Any]] {
    try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
        try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

@Suite(.serialized) struct StragglerReportTests {
    /// Rank 1 made slow by 0.2 s a step: every step's record names it, rank 0's time waiting in the gradient all-reduce
    /// shows it, and the end of the run reports both, by phase.
    @Test func aSlowRankIsNamedPerStepAndAtTheEnd() throws {
        let output = runFolder("straggler")
        let launcher = mpirun(ranks: 2)
        let result = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", jobFile("autoencoder-fashion"),
                             "--set", "output=\(output)", "--set", "train.steps=4", "--set", "train.batch_size=12", "--set", "eval.every_epochs=0"],
                             environment: launcher.environment.merging(["GENTRAIN_TEST_SLOW_RANK": "1:0.2"]) { $1 })
        #expect(result.status == 0, "\(result.output)")
        let records = try runRecords(output)
        let steps = records.filter { $0["event"] == nil }
        #expect(steps.count == 4)
        for record in steps {
            let compute = try #require(record["rank_compute_seconds"] as? [Double]), wait = try #require(record["rank_wait_seconds"] as? [Double])
            #expect(compute.count == 2 && wait.count == 2)
            #expect(compute[1] >= 0.2 && compute[1] > compute[0], "\(record)")
            #expect(wait[0] >= 0.15 && wait[0] > wait[1], "rank 0 waits for rank 1 at the gradient all-reduce: \(record)")
            #expect(record["straggler_rank"] as? Int == 1)
            let slowest = try #require(record["step_seconds_slowest"] as? Double)
            #expect(slowest >= 0.2 && slowest >= (record["step_seconds_fastest"] as? Double ?? .infinity))
        }
        let report = try #require(records.first { $0["event"] as? String == "ranks" })
        #expect(report["slowest_rank"] as? Int == 1 && report["step"] as? Int == 4)
        let byPhase = try #require(report["collective_seconds_by_phase"] as? [String: [Double]])
        let gradients = try #require(byPhase["gradient all-reduce of model"])
        #expect(gradients.count == 2 && gradients[0] >= 0.6 && gradients[0] > gradients[1], "\(byPhase)")
        #expect(byPhase["all-reduce of the step summary"]?.count == 2)
        #expect(result.output.contains("slowest rank: 1") && result.output.contains("rank 0: compute"), "\(result.output)")

        // One rank: no per-rank lists and no report.
        let single = runFolder("straggler-single")
        #expect(try train("autoencoder-fashion", ranks: 1, output: single, ["--set", "train.steps=2", "--set", "train.batch_size=12"]).status == 0)
        let alone = try runRecords(single)
        #expect(alone.allSatisfy { $0["rank_compute_seconds"] == nil && $0["event"] as? String != "ranks" })
        #expect(alone.contains { $0["step_seconds_slowest"] != nil })
    }
}
