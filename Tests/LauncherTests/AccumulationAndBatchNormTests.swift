@testable import DistributedTraining
import Foundation
import Testing

/// The losses of each step in a run's metrics.jsonl, by name.
func stepLosses(_ output: String, names: [String]) throws -> [[Double]] {
    try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line in
        guard let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], record["step"] != nil,
              record["event"] == nil else { return nil }
        return names.map { (record[$0] as? NSNumber)?.doubleValue ?? .nan }
    }
}

func largestRelativeDifference(_ a: [[Double]], _ b: [[Double]]) -> Double {
    #expect(a.count == b.count && !a.isEmpty)
    return zip(a.joined(), b.joined()).map { abs($0 - $1) / max(abs($0), 1e-12) }.max() ?? .infinity
}

@Suite(.serialized) struct AccumulationAndBatchNormTests {
    /// `train.accumulate: K` splits each rank's share into K micro-batches and sums their gradients before the one
    /// reduction: 2 ranks x 3 micro-batches (batch 12: pieces of 2) take the steps of 1 rank with the whole batch.
    /// SGD, as in the world-size equivalence test (Adam's first steps amplify rounding-level differences).
    @Test(arguments: [("autoencoder-fashion", ["loss"], 3), ("vae-fashion", ["loss", "reconstruction", "kl"], 3),
                      ("dcgan-bags", ["d_loss_real", "d_loss_fake", "g_loss"], 1)])
    func microBatchesTrainAsTheWholeBatch(job: String, losses: [String], steps: Int) throws {
        let groups = job.hasPrefix("dcgan") ? ["generator", "discriminator"] : ["model"]
        let settings = ["--set", "train.steps=\(steps)", "--set", "train.batch_size=12"]
            + groups.flatMap { ["--set", "train.optimizers.\($0)={kind: sgd, learning_rate: 0.05, momentum: 0.9}"] }
        let whole = runFolder("accumulate-1"), split = runFolder("accumulate-3")
        let first = try train(job, ranks: 1, output: whole, settings)
        #expect(first.status == 0, "\(first.output)")
        let second = try train(job, ranks: 2, output: split, settings + ["--set", "train.accumulate=3"])
        #expect(second.status == 0, "\(second.output)")
        let (a, b) = (try finalCheckpoint(whole, step: steps), try finalCheckpoint(split, step: steps))
        #expect(relativeDifference(a, b) < 1e-5)
        #expect(largestRelativeDifference(try stepLosses(whole, names: losses), try stepLosses(split, names: losses)) < 1e-5)
        // The comparison can fail: the pieces' losses are weighted by the global batch; the same pieces weighted by their
        // own size (as a loop of unscaled mini-batches would) would triple the step.
        let larger = runFolder("accumulate-lr")
        let changed = groups.flatMap { ["--set", "train.optimizers.\($0)={kind: sgd, learning_rate: 0.15, momentum: 0.9}"] }
        #expect(try train(job, ranks: 1, output: larger, settings + changed).status == 0)
        #expect(relativeDifference(a, try finalCheckpoint(larger, step: steps)) > 1e-4)
    }

    @Test func aModelWhoseStepDoesNotSplitRefusesAccumulation() throws {
        let result = try run(gentrainExecutable().path, ["validate", jobFile("evaluator-fashion"), "--set", "train.accumulate=2"])
        #expect(result.status != 0 && result.output.contains("train.accumulate")
                && result.output.contains("does not split into micro-batches"), "\(result.output)")
        let mixture = try run(gentrainExecutable().path, ["validate", jobFile("gmm-fashion"), "--set", "train.accumulate=2"])
        #expect(mixture.status != 0 && mixture.output.contains("sums statistics over every sample"), "\(mixture.output)")
    }

    /// Synchronised batch normalisation: the classifier (batch norm after each convolution, dropout drawn per global
    /// sample) trains identically on 1, 2 and 3 ranks; with per-rank statistics 2 ranks differ from 1.
    @Test func synchronizedBatchNormTrainsAsOneRank() throws {
        let settings = ["--set", "train.steps=3", "--set", "train.batch_size=12",
                        "--set", "train.optimizer={kind: sgd, learning_rate: 0.05, momentum: 0.9}", "--set", "eval.every_epochs=0"]
        var losses: [[[Double]]] = [], checkpoints: [Checkpoint] = []
        for ranks in 1...3 {
            let output = runFolder("sync-bn-\(ranks)")
            let result = try train("evaluator-fashion", ranks: ranks, output: output, settings + ["--set", "distributed.batch_norm=synchronized"])
            #expect(result.status == 0, "\(result.output)")
            losses.append(try stepLosses(output, names: ["loss"]))
            checkpoints.append(try finalCheckpoint(output, step: 3))
        }
        #expect(largestRelativeDifference(losses[0], losses[1]) < 1e-5)
        #expect(largestRelativeDifference(losses[0], losses[2]) < 1e-5)
        #expect(relativeDifference(checkpoints[0], checkpoints[1]) < 1e-5)
        #expect(relativeDifference(checkpoints[0], checkpoints[2]) < 1e-5)
        // The running statistics are state, not parameters: the same on every rank, so the checkpoint keeps them unaveraged.
        for (left, right) in zip(checkpoints[0].groups, checkpoints[2].groups) {
            let largest = left.state.map(abs).max() ?? 1
            #expect(zip(left.state, right.state).allSatisfy { abs($0 - $1) <= 1e-5 * largest })
        }
        let perRank = runFolder("per-rank-bn")
        #expect(try train("evaluator-fashion", ranks: 2, output: perRank, settings + ["--set", "distributed.batch_norm=per_rank"]).status == 0)
        #expect(largestRelativeDifference(losses[0], try stepLosses(perRank, names: ["loss"])) > 1e-4)
    }
}
