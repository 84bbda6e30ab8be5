// Contract fixtures: toy models that put parts of the model contract through the real trainer under
// mpirun, for the tests only. They are registered only when the environment sets GENTRAIN_TEST_MODELS=1
// (`ModelRegistry.available`); `gentrain models` and docs/job-files.md do not list them.
//
// Both train the same network, small enough for debug builds: the image average-pooled to 4x4 (16 values),
// Dense(16 -> 8, tanh) -> Dense(8 -> 16), the mean squared error against the pooled image; 280 parameters.
// - `test-growing` adds a 72-parameter layer (h + Dense(8 -> 8)(h)) after `model.grow_after_steps` steps: a
//   layout that changes during training, as a progressive GAN's does.
// - `test-moving-average` keeps an exponential moving average of its weights as replicated state, as DDPM
//   does. GENTRAIN_TEST_DIVERGE_AVERAGE_RANK=R (fault injection) nudges rank R's average at the second step,
//   so that the tests can show the replica check catching it.

import Foundation
import JobFiles
import TensorCore

/// The contract's test fixtures.
public enum ContractFixtures {
    /// Set to 1 to register the fixtures.
    public static let environmentVariable = "GENTRAIN_TEST_MODELS"
    public static let all: [ModelDescription] = [GrowingFixture.description, MovingAverageFixture.description]
}

// MARK: - The network

/// Images [N, 1, 28, 28] -> the pooled images [N, 16] the fixtures reconstruct.
func pooledImages(_ images: Tensor) -> Tensor { withoutGradient { flatten(averagePool(Variable(images), size: 7)).value } }

/// 16 -> 8 (tanh) -> 16.
struct PooledAutoencoder {
    let encoder: Dense
    let decoder: Dense

    init(_ group: ParameterGroup) {
        encoder = Dense(group, name: "encoder", inputSize: 16, outputSize: 8, activation: .tanh)
        decoder = Dense(group, name: "decoder", inputSize: 8, outputSize: 16)
    }
}

// MARK: - A layout that grows

/// A model whose layout grows after `growAfterSteps` steps: phase 0 is the pooled autoencoder, phase 1 adds
/// `grown` (8 -> 8) as a residual layer between encoder and decoder.
public final class GrowingFixture: GrowingModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "test-growing", summary: "a contract fixture (tests only): a 280-parameter autoencoder of 4x4-pooled images "
                + "that adds a 72-parameter layer after `model.grow_after_steps` steps",
            options: [.integer("grow_after_steps", default: 2, in: 1...1_000_000, help: "steps trained before the layer is added")],
            groups: [GroupSchema("model", optimizer: .adam(learningRate: 0.01))],
            data: .images(scale: "unit", sampling: "with_replacement"),
            metrics: []),
        make: { GrowingFixture(seed: $0.seed, growAfterSteps: $0.integer("grow_after_steps"), optimizer: $0.optimizer("model")) })

    public let group: ParameterGroup
    let network: PooledAutoencoder
    public let growAfterSteps: Int
    /// The layer phase 1 adds.
    var grown: Dense?
    public private(set) var layoutPhase = 0

    public init(seed: UInt64, growAfterSteps: Int, optimizer: any Optimizer = Adam()) {
        group = ParameterGroup(name: "model", seed: seed, optimizer: optimizer)
        network = PooledAutoencoder(group)
        self.growAfterSteps = growAfterSteps
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }

    public func layoutPhase(atStep step: Int) -> Int { step < growAfterSteps ? 0 : 1 }

    public func grow(toPhase phase: Int) {
        guard phase == 1, layoutPhase == 0 else { fatalError("GrowingFixture: no growth from phase \(layoutPhase) to \(phase)") }
        grown = group.growing { Dense(group, name: "grown", inputSize: 8, outputSize: 8) }
        layoutPhase = phase
    }

    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let share = context.share(of: context.globalBatch)
        let target = pooledImages(batch.images)
        let meanLoss = try context.descend(group) {
            var hidden = network.encoder(Variable(target))
            if let grown { hidden = hidden + grown(hidden) }
            return meanSquaredError(network.decoder(hidden), target) * share.meanWeight
        }
        return ["loss": meanLoss]
    }

    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] { [] }
    public func evaluationPictures(random: CounterRandom) -> [Picture] { [] }
}

// MARK: - A moving average of the weights

/// The pooled autoencoder with an exponential moving average of its weights, `average <- decay average + (1 - decay) w`
/// after each step: state registered as `.replicated` (the same on every rank, compared by the replica check, never
/// averaged at checkpoints), one tensor `average.<name>` per parameter.
public final class MovingAverageFixture: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "test-moving-average", summary: "a contract fixture (tests only): a 280-parameter autoencoder of 4x4-pooled "
                + "images with a moving average of its weights as replicated state",
            options: [.number("decay", default: 0.9, in: 0...1, help: "weight of the old average at each step")],
            groups: [GroupSchema("model", optimizer: .adam(learningRate: 0.01))],
            data: .images(scale: "unit", sampling: "with_replacement"),
            metrics: []),
        make: { MovingAverageFixture(seed: $0.seed, decay: Float($0.number("decay")), optimizer: $0.optimizer("model")) })

    /// Fault injection for the tests: the rank whose average is nudged at the second step.
    public static let divergingRankVariable = "GENTRAIN_TEST_DIVERGE_AVERAGE_RANK"
    /// Fault injection: the rank whose Float64 step count is nudged at the second step.
    public static let divergingCountRankVariable = "GENTRAIN_TEST_DIVERGE_COUNT_RANK"

    public let group: ParameterGroup
    let network: PooledAutoencoder
    /// `average.<name>` for each parameter, in parameter order.
    public let averages: [Parameter]
    public let decay: Float
    /// Steps taken, as Float64 state (the Float64 checkpoint path and its replica check).
    public let stepsTaken: Float64State
    let divergingRank = ProcessInfo.processInfo.environment[divergingRankVariable].flatMap(Int.init)
    let divergingCountRank = ProcessInfo.processInfo.environment[divergingCountRankVariable].flatMap(Int.init)

    public init(seed: UInt64, decay: Float, optimizer: any Optimizer = Adam()) {
        group = ParameterGroup(name: "model", seed: seed, optimizer: optimizer)
        network = PooledAutoencoder(group)
        self.decay = decay
        averages = group.entries.map { [group] entry in
            let weights = Tensor(viewing: group.values, offset: entry.offset, shape: entry.shape)
            return group.registerState("average.\(entry.name)", initial: weights, agreement: .replicated)
        }
        stepsTaken = group.registerFloat64State("steps_taken", shape: [], initial: [0])
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }

    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let share = context.share(of: context.globalBatch)
        let target = pooledImages(batch.images)
        let meanLoss = try context.descend(group) {
            meanSquaredError(network.decoder(network.encoder(Variable(target))), target) * share.meanWeight
        }
        updateAverages()
        stepsTaken.scalar += 1
        if context.rank == divergingRank && context.forward.step == 1 { group.state.pointer[0] += 1e-3 }
        if context.rank == divergingCountRank && context.forward.step == 1 { stepsTaken.scalar += 0.5 }
        return ["loss": meanLoss]
    }

    /// `average <- decay average + (1 - decay) w` over every parameter.
    func updateAverages() {
        let (keep, take) = (decay, 1 - decay)
        for (entry, average) in zip(group.entries, averages) {
            let weights = group.values.pointer + entry.offset, values = group.state.pointer + average.entry.offset
            for index in 0..<entry.count { values[index] = keep * values[index] + take * weights[index] }
        }
    }

    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] { [] }
    public func evaluationPictures(random: CounterRandom) -> [Picture] { [] }
}
