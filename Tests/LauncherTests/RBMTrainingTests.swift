@testable import DistributedTraining
import Foundation
import Testing

/// The RBM's job through the real trainer under mpirun, on a small RBM (16 hidden units, 6 chains).
@Suite(.serialized) struct RBMTrainingTests {
    static let settings = ["--set", "model.hidden=16", "--set", "model.sample_steps=3", "--set", "train.batch_size=6",
                           "--set", "distributed.replica_check_every=1"]

    /// One and two ranks take the same steps: parameters to rounding, persistent chains (0/1) exactly; and they moved.
    @Test func oneAndTwoRanksGiveTheSameParametersAndChains() throws {
        var results: [Checkpoint] = []
        for ranks in 1...2 {
            let output = runFolder("rbm-ranks-\(ranks)")
            let result = try train("rbm-fashion", ranks: ranks, output: output, Self.settings + ["--set", "train.steps=4"])
            #expect(result.status == 0, "\(result.output)")
            results.append(try finalCheckpoint(output, step: 4))
        }
        #expect(results[0].worldSize == 1 && results[1].worldSize == 2)
        #expect(relativeDifference(results[0], results[1]) < 1e-5)
        let chains = results.map { $0.groups[0].state }
        // The chains left their start (h = 0); after 4 steps at learning rate 0.1 every hidden unit is on, as scikit-learn's
        // (its h_samples_ on the same data and sizes is all ones too).
        #expect(chains[0] == chains[1] && chains[0].count == 6 * 16 && chains[0].contains(1))
        let longer = runFolder("rbm-ranks-longer")
        #expect(try train("rbm-fashion", ranks: 1, output: longer, Self.settings + ["--set", "train.steps=5"]).status == 0)
        #expect(relativeDifference(results[0], try finalCheckpoint(longer, step: 5)) > 1e-4)
    }

    /// A run stopped after step 2 and resumed ends bitwise where the uninterrupted run ends, chains included.
    @Test func aResumedRunIsBitwiseTheUninterruptedOne() throws {
        let settings = Self.settings + ["--set", "train.steps=4", "--set", "checkpoint.every_steps=1"]
        let straight = runFolder("rbm-straight")
        #expect(try train("rbm-fashion", ranks: 2, output: straight, settings).status == 0)
        let interrupted = runFolder("rbm-interrupted")
        let first = try train("rbm-fashion", ranks: 2, output: interrupted, settings + ["--stop-at-step", "2"])
        #expect(first.status == 75, "\(first.output)")
        let second = try train("rbm-fashion", ranks: 2, output: interrupted, settings)
        #expect(second.status == 0 && second.output.contains("resuming at step 2"), "\(second.output)")
        let (a, b) = (try finalCheckpoint(straight, step: 4), try finalCheckpoint(interrupted, step: 4))
        #expect(a.groups == b.groups && !a.groups[0].state.isEmpty)
    }

    /// The job evaluates the pseudo-likelihood of the training images and writes its filters and Gibbs samples.
    @Test func theJobReportsPseudoLikelihoodAndWritesPictures() throws {
        let output = runFolder("rbm-job")
        let result = try train("rbm-fashion", ranks: 2, output: output, Self.settings + ["--set", "train.steps=3", "--set", "eval.every_epochs=1"])
        #expect(result.status == 0, "\(result.output)")
        let text = try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8)
        let records = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let evaluation = try #require(records.last { $0["event"] as? String == "eval" })
        let loss = try #require(evaluation["validation_loss"] as? Double)
        // Minus a pseudo-likelihood: positive; 784 log 2 = 543 for units that are all even odds.
        #expect(loss > 0 && loss < 2000 && evaluation["n_real"] as? Int == 6000, "\(evaluation)")
        #expect(records.filter { $0["free_energy_gap"] is Double }.count == 3)
        for picture in ["filters", "gibbs-samples", "filters-step-00000003"] {
            #expect(FileManager.default.fileExists(atPath: "\(output)/\(picture).png"), "\(picture).png missing")
        }
    }
}
