// What a model needs from the trainer for one step: where the step is, which
// part of the global batch this rank holds, and how to reduce gradients.

import TensorCore

/// The trainer's side of one optimizer step.
public struct StepContext {
    /// Randomness and mode for the forward passes.
    public var forward: ForwardContext
    /// The global batch size B; each rank scales its loss by its share `n_rank / B`.
    public var globalBatch: Int
    /// This rank and the number of ranks.
    public var rank: Int
    public var worldSize: Int
    /// Sums a group's gradients across ranks (in place); a no-op on one rank.
    public var reduceGradients: (ParameterGroup) -> Void

    public init(forward: ForwardContext, globalBatch: Int, rank: Int = 0, worldSize: Int = 1,
                reduceGradients: @escaping (ParameterGroup) -> Void = { _ in }) {
        self.forward = forward
        self.globalBatch = globalBatch
        self.rank = rank
        self.worldSize = worldSize
        self.reduceGradients = reduceGradients
    }

    /// This rank's contiguous piece of `total` global samples, as even as possible
    /// (128 on 3 ranks is 43, 43, 42).
    public func share(of total: Int) -> Range<Int> { Self.share(of: total, rank: rank, worldSize: worldSize) }

    /// Rank `rank`'s piece of `total` samples split over `worldSize` ranks.
    public static func share(of total: Int, rank: Int, worldSize: Int) -> Range<Int> {
        let base = total / worldSize, extra = total % worldSize
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// The forward context for samples `range` of the global batch, in sub-step `phase` of this step.
    public func forward(samples range: Range<Int>, phase: UInt64 = 0, phases: UInt64 = 1) -> ForwardContext {
        var context = forward
        context.firstSample = range.lowerBound
        context.step = forward.step * phases + phase
        return context
    }
}

/// This rank's real samples for one step.
public struct TrainingBatch {
    /// [n, 1, 28, 28] in the model's pixel scaling.
    public var images: Tensor
    /// Class labels of the images (empty when the caller has none).
    public var labels: [Int]

    public init(images: Tensor, labels: [Int] = []) {
        self.images = images
        self.labels = labels
    }
}

/// A model trained by gentrain: parameter groups, optimizers and one training step.
public protocol TrainableModel: AnyObject {
    /// The model's name in job files and reports.
    static var modelName: String { get }
    /// Parameter groups in a fixed order (checkpoint and all-reduce order).
    var groups: [ParameterGroup] { get }
    /// One optimizer per group, in the same order.
    var optimizers: [any Optimizer] { get }
    /// Real images consumed per step for a global batch of `globalBatch`.
    func realImagesPerStep(globalBatch: Int) -> Int
    /// Pixel scaling the model trains on.
    var scaling: PixelScaling { get }
    /// One optimizer step on this rank's real images (and labels) (its share of `realImagesPerStep`); returns losses
    /// for reporting (this rank's contribution, already scaled by its share).
    @discardableResult
    func trainStep(_ batch: TrainingBatch, context: StepContext) -> [String: Float]
}


/// A model that draws images from noise (what FID, KID and IS evaluate).
public protocol ImageSampler: AnyObject {
    /// Samples `samples` in the model's pixel scaling; sample i depends only on the seed, `step` and i,
    /// so any split of the indices across ranks draws the same set.
    func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64) -> Tensor
}

extension VariationalAutoencoder: ImageSampler {}
extension DCGAN: ImageSampler {}

/// A model whose training loss can be measured on held-out images (validation).
public protocol ValidationLoss: AnyObject {
    /// The sum over `images` of each image's training loss, without gradients; the images are samples
    /// `firstSample...` of the held-out set (noise, if any, is drawn for those indices from `random`).
    func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double
}

extension Autoencoder: ValidationLoss {
    public func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double {
        Double(withoutGradient { loss(images, globalBatch: 1).value.scalar })
    }
}

extension VariationalAutoencoder: ValidationLoss {
    public func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double {
        let context = ForwardContext(training: false, random: random, step: 0, firstSample: firstSample)
        return Double(withoutGradient { loss(images, context: context, globalBatch: 1).total.value.scalar })
    }
}
