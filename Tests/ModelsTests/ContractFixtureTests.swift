import Foundation
import JobFiles
import Testing
@testable import Models
@testable import TensorCore

/// `images` [count, 1, 28, 28] of a fixed pattern in [0, 1].
func patternImages(_ count: Int, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return generator.uniformTensor([count, 1, 28, 28])
}

@Suite(.serialized) struct ContractFixtureTests {
    /// A group that grows keeps its optimizer's moments for the parameters it had and starts the new ones at zero:
    /// Adam's state `[m, v]` becomes `[m, 0, v, 0]`, of twice the new parameter count, and the next step runs.
    @Test func growthKeepsTheOldMomentsAndZerosTheNew() throws {
        let model = GrowingFixture(seed: 5, growAfterSteps: 2, optimizer: Adam(learningRate: 0.01))
        let context = { (step: UInt64) in StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 5), step: step), globalBatch: 4) }
        for step in 0..<2 { _ = try model.trainStep(TrainingBatch(images: patternImages(4, seed: UInt64(step))), context: context(UInt64(step))) }
        let optimizer = try #require(model.group.optimizer)
        let (old, before) = (model.group.parameterCount, optimizer.state)
        #expect(old == 280 && before.count == 2 * old && before.contains { $0 != 0 })
        model.grow(toPhase: model.layoutPhase(atStep: 2))
        let new = model.group.parameterCount
        #expect(model.layoutPhase == 1 && new == 352 && model.group.entries.last?.name == "grown.bias")
        let after = optimizer.state
        #expect(after.count == 2 * new)
        #expect(Array(after[0..<old]) == Array(before[0..<old]), "first moments of the old parameters")
        #expect(Array(after[new..<(new + old)]) == Array(before[old..<(2 * old)]), "second moments of the old parameters")
        #expect(after[old..<new].allSatisfy { $0 == 0 } && after[(new + old)...].allSatisfy { $0 == 0 }, "moments of the new parameters")
        #expect(optimizer.iterations == 2)
        _ = try model.trainStep(TrainingBatch(images: patternImages(4, seed: 9)), context: context(2))
        #expect(optimizer.state[old..<new].contains { $0 != 0 } && optimizer.iterations == 3)
        // SGD's velocity follows the same way.
        let sgd = SGD(learningRate: 0.1, momentum: 0.9)
        let group = ParameterGroup(name: "g", seed: 1, optimizer: sgd)
        _ = Dense(group, name: "d", inputSize: 2, outputSize: 2)
        group.gradients.pointer.update(repeating: 1, count: group.parameterCount)
        sgd.step(group)
        _ = group.growing { Dense(group, name: "e", inputSize: 2, outputSize: 1) }
        #expect(sgd.state == [Float](repeating: -0.1, count: 6) + [0, 0, 0])
    }

    /// A parameter added without `growing` once the optimizer has state is a programmer error: the process stops
    /// (as it does for an optimizer state of the wrong length) instead of the moments silently restarting.
    @Test func growthOutsideGrowingStopsTheProcess() async {
        await #expect(processExitsWith: .failure) {
            let group = ParameterGroup(name: "g", seed: 1, optimizer: Adam())
            _ = Dense(group, name: "d", inputSize: 2, outputSize: 2)
            group.optimizer?.step(group)
            _ = Dense(group, name: "e", inputSize: 2, outputSize: 1)
        }
    }

    /// The moving average starts at the weights and follows them with its decay, as replicated state.
    @Test func theMovingAverageFollowsTheWeights() throws {
        let model = MovingAverageFixture(seed: 2, decay: 0.5, optimizer: SGD(learningRate: 0.1))
        #expect(model.group.stateEntries.map(\.name) == model.group.entries.map { "average.\($0.name)" })
        #expect(model.group.stateEntries.allSatisfy { $0.agreement == .replicated })
        let initial = model.group.flatValues
        #expect(Array(UnsafeBufferPointer(start: model.group.state.pointer, count: model.group.state.count)) == initial)
        _ = try model.trainStep(TrainingBatch(images: patternImages(4, seed: 1)),
                                context: StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 2), step: 0), globalBatch: 4))
        let weights = model.group.flatValues
        let average = Array(UnsafeBufferPointer(start: model.group.state.pointer, count: model.group.state.count))
        #expect(weights != initial)
        #expect(average == zip(initial, weights).map { 0.5 * $0 + 0.5 * $1 })
    }

    /// The fixtures are registered only for the tests' runs: not in `all` (what `gentrain models` and the docs list).
    @Test func fixturesAreNotListedAsModels() {
        #expect(Set(ModelRegistry.all.map(\.name)).isDisjoint(with: ContractFixtures.all.map(\.name)))
        let enabled = ProcessInfo.processInfo.environment[ContractFixtures.environmentVariable] == "1"
        #expect((ModelRegistry.named("test-growing") != nil) == enabled)
    }
}
