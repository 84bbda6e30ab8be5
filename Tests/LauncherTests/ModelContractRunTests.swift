// The model contract's changing layouts and replicated state, through the real trainer under mpirun, with the
// contract fixtures (Sources/Models/ContractFixtures.swift, registered by GENTRAIN_TEST_MODELS=1).

@testable import DistributedTraining
import Foundation
import Models
import TensorCore
import Testing

/// A temporary job file of a contract fixture: `kind` with `model` keys, batch 8 drawn with replacement, `steps` steps.
func fixtureJob(_ kind: String, model: String = "", steps: Int) throws -> String {
    let path = NSTemporaryDirectory() + "gentrain-\(kind)-\(UUID().uuidString).yaml"
    let text = """
        name: \(kind)
        model: {kind: \(kind)\(model.isEmpty ? "" : ", " + model)}
        data: {dataset: fashion-mnist, path: /usr/share/datasets/fashion-mnist, classes: all, scale: unit, sampling: with_replacement}
        train: {steps: \(steps), batch_size: 8, seed: 3}
        distributed: {ranks: 2, bucket_mb: 0.001, replica_check_every: 1}
        checkpoint: {every_steps: 0, keep: 10}
        output: unused

        """
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// `gentrain train JOB` of a fixture on `ranks` ranks through real mpirun.
func trainFixture(_ job: String, ranks: Int, output: String, _ extra: [String] = [], environment: [String: String] = [:]) throws
    -> (status: Int32, output: String) {
    let launcher = mpirun(ranks: ranks)
    return try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", job, "--set", "output=\(output)"] + extra,
                   environment: launcher.environment.merging(["GENTRAIN_TEST_MODELS": "1"].merging(environment) { $1 }) { $1 })
}

@Suite(.serialized) struct ModelContractRunTests {
    /// A model that grows after 2 steps, run 5 steps straight, and interrupted at step 2 (its checkpoint in phase 0,
    /// right before the boundary) and at step 3 (in phase 1, the optimizer's moments grown) and resumed each time, ends
    /// bitwise equal. The replica check every step, with 262-value buckets, shows the reducer sums the grown part.
    @Test(arguments: [1, 2]) func aRunResumedAcrossALayoutBoundaryIsBitwiseIdentical(ranks: Int) throws {
        let job = try fixtureJob("test-growing", model: "grow_after_steps: 2", steps: 5)
        let straight = runFolder("growing-straight")
        let whole = try trainFixture(job, ranks: ranks, output: straight)
        #expect(whole.status == 0 && whole.output.contains("step 3: layout phase 1, parameters model 352"), "\(whole.output)")
        let interrupted = runFolder("growing-interrupted")
        let first = try trainFixture(job, ranks: ranks, output: interrupted, ["--stop-at-step", "2"])
        #expect(first.status == 75, "\(first.output)")
        let second = try trainFixture(job, ranks: ranks, output: interrupted, ["--stop-at-step", "3"])
        #expect(second.status == 75 && second.output.contains("resuming at step 2"), "\(second.output)")
        let third = try trainFixture(job, ranks: ranks, output: interrupted)
        #expect(third.status == 0 && third.output.contains("resuming at step 3"), "\(third.output)")
        let (a, b) = (try finalCheckpoint(straight, step: 5), try finalCheckpoint(interrupted, step: 5))
        #expect(a.groups == b.groups)
        // The checkpoints record the layout of their phase; the one after the boundary holds moments for 352 parameters.
        let beforeBoundary = try finalCheckpoint(interrupted, step: 2), afterBoundary = try finalCheckpoint(interrupted, step: 3)
        #expect(beforeBoundary.groups[0].values.count == 280 && beforeBoundary.groups[0].optimizerState.count == 560)
        #expect(beforeBoundary.groups[0].parameterLayout?.map(\.name) == ["encoder.kernel", "encoder.bias", "decoder.kernel", "decoder.bias"])
        #expect(afterBoundary.groups[0].values.count == 352 && afterBoundary.groups[0].optimizerState.count == 704)
        #expect(afterBoundary.groups[0].parameterLayout?.last == SavedTensorShape(name: "grown.bias", shape: [8]))
        // And the run moved: the final parameters are not those of step 3.
        #expect(a.groups[0].values != afterBoundary.groups[0].values)
    }

    /// A checkpoint whose layout differs from the model's is refused naming the first tensor that differs, also when
    /// the counts agree (a transposed kernel) and when the model is in another phase than the checkpoint.
    @Test func aCheckpointWithAnotherLayoutIsRefusedNamingTheTensor() throws {
        let grown = GrowingFixture(seed: 1, growAfterSteps: 2)
        grown.grow(toPhase: 1)
        let group = grown.group
        let saved = Checkpoint.Group(name: "model", values: group.flatValues, state: [], optimizerState: [], optimizerIterations: 3,
                                     parameterLayout: tensorLayouts(group.entries), stateLayout: [])
        func checkpoint(step: Int, _ groups: [Checkpoint.Group]) -> Checkpoint {
            Checkpoint(job: "{}", gentrainVersion: "test", step: step, epoch: 0, stepInEpoch: step, worldSize: 1, groups: groups)
        }
        // Written after 3 steps (phase 1): restores into a fresh model, which grows to phase 1 first.
        let fresh = GrowingFixture(seed: 9, growAfterSteps: 2)
        try applyCheckpoint(checkpoint(step: 3, [saved]), to: fresh)
        #expect(fresh.layoutPhase == 1 && fresh.group.flatValues == group.flatValues)
        // Said to be written after 2 steps (phase 0): the model stays in phase 0 and lacks the grown layer.
        #expect { try applyCheckpoint(checkpoint(step: 2, [saved]), to: GrowingFixture(seed: 9, growAfterSteps: 2)) } throws: {
            "\($0)" == "the checkpoint's layout differs from the model's at parameter 5 of group model: model.grown.kernel [8, 8] "
                + "in the checkpoint, nothing in the model"
        }
        // The same number of values in another shape.
        var transposed = saved
        transposed.parameterLayout?[2] = SavedTensorShape(name: "decoder.kernel", shape: [16, 8])
        #expect { try applyCheckpoint(checkpoint(step: 3, [transposed]), to: GrowingFixture(seed: 9, growAfterSteps: 2)) } throws: {
            "\($0)".contains("at parameter 3 of group model: model.decoder.kernel [16, 8] in the checkpoint, model.decoder.kernel [8, 16] in the model")
        }
        // The layout survives the file, and a header whose layout does not add up to its values is refused.
        let path = NSTemporaryDirectory() + "gentrain-layout-\(UUID().uuidString).gtck"
        try checkpoint(step: 3, [saved]).write(to: path)
        #expect(try Checkpoint.read(path: path).groups == [saved])
        var short = saved
        short.parameterLayout?.removeLast()
        try checkpoint(step: 3, [short]).write(to: path)
        #expect { try Checkpoint.read(path: path) } throws: { "\($0)".contains("its layout does not add up to its 352 values") }
    }

    /// A moving average kept as replicated state is checkpointed and restored bitwise, and written as rank 0 holds it
    /// (not averaged across ranks): a run whose rank 1 nudges its average, without the replica check, writes the same
    /// checkpoint as an undisturbed run.
    @Test func aMovingAverageSurvivesResumeBitwiseAndIsNotAveraged() throws {
        let job = try fixtureJob("test-moving-average", steps: 4)
        let straight = runFolder("average-straight")
        #expect(try trainFixture(job, ranks: 2, output: straight).status == 0)
        let interrupted = runFolder("average-interrupted")
        let first = try trainFixture(job, ranks: 2, output: interrupted, ["--stop-at-step", "2"])
        #expect(first.status == 75, "\(first.output)")
        let second = try trainFixture(job, ranks: 2, output: interrupted)
        #expect(second.status == 0 && second.output.contains("resuming at step 2"), "\(second.output)")
        let (a, b) = (try finalCheckpoint(straight, step: 4), try finalCheckpoint(interrupted, step: 4))
        #expect(a.groups == b.groups)
        // The average is there, lags the weights, and is not the initial weights either.
        let group = a.groups[0]
        #expect(group.state.count == group.values.count && group.stateLayout?.first?.name == "average.encoder.kernel")
        #expect(group.state != group.values && group.state.contains { $0 != 0 })
        let nudged = runFolder("average-nudged")
        let result = try trainFixture(job, ranks: 2, output: nudged, ["--set", "distributed.replica_check_every=0"],
                                      environment: [MovingAverageFixture.divergingRankVariable: "1"])
        #expect(result.status == 0, "\(result.output)")
        #expect(try finalCheckpoint(nudged, step: 4).groups == a.groups)
    }

    /// The replica check compares replicated state: a rank whose moving average differs stops the run, naming it.
    @Test func theReplicaCheckCatchesADivergentMovingAverage() throws {
        let job = try fixtureJob("test-moving-average", steps: 4)
        let result = try trainFixture(job, ranks: 2, output: runFolder("average-divergent"),
                                      environment: [MovingAverageFixture.divergingRankVariable: "1"])
        #expect(result.status != 0)
        #expect(result.output.contains("replica check at step 2: rank 1's model.average.encoder.kernel differs from rank 0's"), "\(result.output)")
    }

    /// Float64 state is compared too, and kept exactly by checkpoints: the fixture's step count is 4.0 after 4 steps.
    @Test func theReplicaCheckCatchesDivergentFloat64StateAndCheckpointsKeepIt() throws {
        let job = try fixtureJob("test-moving-average", steps: 4)
        let divergent = try trainFixture(job, ranks: 2, output: runFolder("count-divergent"),
                                         environment: [MovingAverageFixture.divergingCountRankVariable: "1"])
        #expect(divergent.status != 0)
        #expect(divergent.output.contains("replica check at step 2: rank 1's model.steps_taken differs from rank 0's"), "\(divergent.output)")
        let output = runFolder("count")
        #expect(try trainFixture(job, ranks: 2, output: output).status == 0)
        let saved = try finalCheckpoint(output, step: 4)
        #expect(saved.groups[0].float64State == [4] && saved.groups[0].float64Layout == [SavedTensorShape(name: "steps_taken", shape: [])])
    }
}
