@testable import DistributedTraining
import Foundation
import Testing

/// SAGAN's job through the real trainer under mpirun, at batch 12.
@Suite(.serialized) struct SAGANTrainingTests {
    /// SGD, so that the comparison across world sizes is exact up to rounding (see the equivalence test's note on Adam).
    static let settings = ["--set", "train.batch_size=12", "--set", "distributed.replica_check_every=1"]
        + ["generator", "discriminator"].flatMap { ["--set", "train.optimizers.\($0)={kind: sgd, learning_rate: 0.05, momentum: 0.9}"] }

    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    /// Two ranks take one rank's steps: parameters and spectral-norm vectors to rounding (the replica check compares the
    /// vectors across ranks every step); and they moved.
    @Test func oneAndTwoRanksGiveTheSameParametersAndVectors() throws {
        var results: [Checkpoint] = []
        for ranks in 1...2 {
            let output = runFolder("sagan-ranks-\(ranks)")
            let result = try train("sagan-bags", ranks: ranks, output: output, Self.settings + ["--set", "train.steps=2"])
            #expect(result.status == 0, "\(result.output)")
            results.append(try finalCheckpoint(output, step: 2))
        }
        #expect(results[0].worldSize == 1 && results[1].worldSize == 2)
        #expect(relativeDifference(results[0], results[1]) < 1e-5)
        for (one, two) in zip(results[0].groups, results[1].groups) {
            #expect(!one.state.isEmpty && Self.largestDifference(one.state, two.state) < 1e-5, "\(one.name)")
        }
        let longer = runFolder("sagan-ranks-longer")
        #expect(try train("sagan-bags", ranks: 1, output: longer, Self.settings + ["--set", "train.steps=3"]).status == 0)
        let third = try finalCheckpoint(longer, step: 3)
        #expect(relativeDifference(results[0], third) > 1e-4)
        #expect(Self.largestDifference(results[0].groups[1].state, third.groups[1].state) > 1e-6)
    }

    /// A run stopped after step 2 and resumed ends bitwise where the uninterrupted run ends: parameters, vectors and
    /// optimizer state.
    @Test func aResumedRunIsBitwiseTheUninterruptedOne() throws {
        let settings = Self.settings + ["--set", "train.steps=3", "--set", "checkpoint.every_steps=1"]
        let straight = runFolder("sagan-straight")
        #expect(try train("sagan-bags", ranks: 2, output: straight, settings).status == 0)
        let interrupted = runFolder("sagan-interrupted")
        let first = try train("sagan-bags", ranks: 2, output: interrupted, settings + ["--stop-at-step", "2"])
        #expect(first.status == 75, "\(first.output)")
        let second = try train("sagan-bags", ranks: 2, output: interrupted, settings)
        #expect(second.status == 0 && second.output.contains("resuming at step 2"), "\(second.output)")
        let (a, b) = (try finalCheckpoint(straight, step: 3), try finalCheckpoint(interrupted, step: 3))
        #expect(a.groups == b.groups && a.groups.allSatisfy { !$0.state.isEmpty })
    }
}
