// The model contract: what one model file declares and implements so that gentrain trains,
// checkpoints, evaluates and draws it without knowing it by name. A model declares a
// `ModelDescription` (its job section, groups, data, metrics, and how to build it from a job) and
// is listed once in `ModelRegistry`. Its step calls `StepContext.descend` for each gradient step
// (zero, loss, backward, sum across ranks, optimizer) or `sumAcrossRanks` for statistics (EM):
// the data-parallel part lives here and in the trainer, never in a model.

import JobFiles
import TensorCore

// MARK: - Description

/// A model as the registry lists it: its schema (job section, groups, data, metrics) and its constructor.
public struct ModelDescription: Sendable {
    public let schema: ModelSchema
    /// Builds the model from a job's seed, options and optimizers.
    public let make: @Sendable (ModelConfiguration) -> any TrainableModel

    public init(schema: ModelSchema, make: @escaping @Sendable (ModelConfiguration) -> any TrainableModel) {
        self.schema = schema
        self.make = make
    }

    public var name: String { schema.name }

    /// Real samples one step consumes from a global batch of `globalBatch` drawn from `datasetCount` samples.
    public func realImagesPerStep(globalBatch: Int, datasetCount: Int) -> Int {
        switch schema.data.realImagesPerStep {
        case .wholeBatch: globalBatch
        case .halfBatch: globalBatch / 2
        case .wholeDataset: datasetCount
        }
    }

    /// The global batch a step's losses are shares of: the whole data set for a fit by statistics.
    public func stepBatch(globalBatch: Int, datasetCount: Int) -> Int {
        schema.data.realImagesPerStep == .wholeDataset ? datasetCount : globalBatch
    }
}

/// What a model is built from: the job's seed, its `model:` options, its groups' optimizers and the shape of a sample.
public struct ModelConfiguration {
    public let seed: UInt64
    /// One sample's shape: [1, 28, 28] for images, [D] for table rows.
    public let sampleShape: [Int]
    /// The global batch B (`train.batch_size`): the size of state kept per batch position (an RBM's persistent chains).
    public let batchSize: Int
    let schema: ModelSchema
    let options: [String: OptionValue]
    let optimizers: [String: OptimizerSpec]

    /// The configuration a job gives (options missing from the job take the schema's defaults).
    public init(job: Job, schema: ModelSchema) {
        seed = job.seed
        sampleShape = job.sampleShape ?? [1, 28, 28]
        batchSize = job.batchSize
        self.schema = schema
        options = job.modelOptions
        optimizers = job.optimizers
    }

    /// The schema's defaults throughout (tests, benchmarks).
    public init(schema: ModelSchema, seed: UInt64, sampleShape: [Int] = [1, 28, 28], batchSize: Int = 128) {
        self.seed = seed
        self.sampleShape = sampleShape
        self.batchSize = batchSize
        self.schema = schema
        options = [:]
        optimizers = [:]
    }

    func value(_ name: String) -> OptionValue { options[name] ?? schema.option(name).defaultValue }

    /// A whole-number option.
    public func integer(_ name: String) -> Int {
        guard let number = value(name).numberValue, let whole = Int(exactly: number) else { fatalError("option \(name) is not a whole number") }
        return whole
    }

    /// A numeric option.
    public func number(_ name: String) -> Double {
        guard let number = value(name).numberValue else { fatalError("option \(name) is not a number") }
        return number
    }

    /// A word or path option (a choice, or a file the job reader found).
    public func text(_ name: String) -> String {
        guard case .text(let text) = value(name) else { fatalError("option \(name) is not text") }
        return text
    }

    /// The optimizer of group `group` (the job's, else the schema's default).
    public func optimizer(_ group: String) -> any Optimizer {
        guard let spec = optimizers[group] ?? schema.groups.first(where: { $0.name == group })?.defaultOptimizer else {
            fatalError("model \(schema.name) declares no group '\(group)'")
        }
        return makeOptimizer(spec)
    }
}

/// The optimizer a job's setting names.
public func makeOptimizer(_ spec: OptimizerSpec) -> any Optimizer {
    let shaping = GradientStepShaping(warmupSteps: spec.warmupSteps, globalClipNorm: Float(spec.globalClipNorm))
    if spec.kind == "sgd" { return SGD(learningRate: Float(spec.learningRate), momentum: Float(spec.momentum), shaping: shaping) }
    return Adam(learningRate: Float(spec.learningRate), beta1: Float(spec.beta1), beta2: Float(spec.beta2), epsilon: Float(spec.epsilon),
                shaping: shaping)
}

// MARK: - The model

/// This rank's real samples for one step.
public struct TrainingBatch {
    /// [n, 1, 28, 28] images in the model's pixel scaling, or [n, D] table rows.
    public var images: Tensor
    /// Class labels of the images (empty when the caller has none).
    public var labels: [Int]

    public init(images: Tensor, labels: [Int] = []) {
        self.images = images
        self.labels = labels
    }
}

/// A picture a model asks for: a grid of images (scaled 3x) under a title, each image, column or row optionally
/// captioned, written as `<name>.png` (at an evaluation, `<name>-step-N.png`, its title followed by the step).
public struct Picture {
    public let name: String
    /// What the picture shows, e.g. "40 samples decoded from z ~ N(0, I)".
    public let title: String
    /// [N, 1, 28, 28] in the model's pixel scaling.
    public let images: Tensor
    public let columns: Int
    /// One caption above each image, or none.
    public let captions: [String]
    /// One caption above each column (a mixing weight), or none.
    public let columnCaptions: [String]
    /// One caption left of each row (a class name), or none.
    public let rowCaptions: [String]

    public init(name: String, title: String, images: Tensor, columns: Int, captions: [String] = [], columnCaptions: [String] = [],
                rowCaptions: [String] = []) {
        self.name = name
        self.title = title
        self.images = images
        self.columns = columns
        self.captions = captions
        self.columnCaptions = columnCaptions
        self.rowCaptions = rowCaptions
    }
}

/// Losses of a step that share one panel of the run's curves, with a legend (a GAN's D real, D fake and G).
public struct CurvePanel: Sendable {
    public let title: String
    /// The keys `trainStep` returns, each with its name in the legend, in drawing order.
    public let series: [(key: String, name: String)]

    public init(title: String, series: [(key: String, name: String)]) {
        self.title = title
        self.series = series
    }
}

/// A model trained by gentrain.
public protocol TrainableModel: AnyObject {
    /// Groups in a fixed order (checkpoint and all-reduce order): those trained by gradients have an optimizer (the
    /// schema's groups, in its order); a group without one holds state fitted otherwise (by sums across ranks).
    var groups: [ParameterGroup] { get }
    /// Pixel scaling the model trains on.
    var scaling: PixelScaling { get }
    /// One training step on this rank's share of the batch; returns this rank's part of each loss (the parts
    /// of all ranks sum to the global value).
    func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float]
    /// The pictures at the end of a run, from `examples` (the first training samples, as the step gets them).
    func finalPictures(examples: Tensor, random: CounterRandom) throws -> [Picture]
    /// The pictures at each evaluation.
    func evaluationPictures(random: CounterRandom) throws -> [Picture]
    /// What rank 0 logs (`lines`) and records in metrics.jsonl (`record`, JSON-ready) at the end of a run: a density
    /// model's fitted parameters and samples, say. Empty by default.
    func finalReport(random: CounterRandom) throws -> (lines: [String], record: [String: Any])
    /// Whether the fit has converged (EM's change of the lower bound below its tolerance): the run then ends after this
    /// step as after its last. It must follow from values every rank shares (statistics summed across ranks) and from
    /// the model's checkpointed state, so that every rank stops at the same step and a resumed run knows. False by default.
    var hasConverged: Bool { get }
    /// Losses drawn together in curves.png; a loss in none of them gets a panel of its own. None by default.
    var curvePanels: [CurvePanel] { get }
}

extension TrainableModel {
    public func finalReport(random: CounterRandom) throws -> (lines: [String], record: [String: Any]) { ([], [:]) }
    public var hasConverged: Bool { false }
    public var curvePanels: [CurvePanel] { [] }
}

/// A fitted model that cannot do what was asked (a covariance that is not positive definite, say), with what to do.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A model whose parameter layout changes during training (a progressive GAN adds layers at phase boundaries).
/// The trainer brings it to `layoutPhase(atStep:)` before each step, and before restoring a checkpoint written after
/// S steps to the phase of that checkpoint's last step, `layoutPhase(afterSteps: S)`; a checkpoint records each
/// group's layout, so restoring into another layout names the first tensor that differs.
public protocol GrowingModel: TrainableModel {
    /// The phase the model is in (the phase it is built in, 0, until it grows).
    var layoutPhase: Int { get }
    /// The phase step `step` (0 for the first) trains in; it never decreases as `step` grows.
    func layoutPhase(atStep step: Int) -> Int
    /// Grows from `layoutPhase` to `phase` (later), adding each phase's parameters inside `ParameterGroup.growing` (so the
    /// optimizer's state follows) with initial values that depend only on the seed and the phase (drawn from the
    /// group's `initializer`, which nothing else draws from after construction).
    func grow(toPhase phase: Int)
}

extension GrowingModel {
    /// The phase of a checkpoint written after `steps` steps: that of its last step.
    public func layoutPhase(afterSteps steps: Int) -> Int { layoutPhase(atStep: max(steps - 1, 0)) }
}

/// A model that takes one more pass over every rank's data after its last step, with the step's collectives: EM's
/// final E-step, which scores the fitted parameters (scikit-learn's `score`, BIC and AIC) for the final report.
public protocol FinalPass: TrainableModel {
    /// `batch` is this rank's share of the data, as a step gets it.
    func finalPass(_ batch: TrainingBatch, context: StepContext) throws
}

/// A model that draws images from noise (what FID, KID and IS evaluate).
public protocol ImageSampler: AnyObject {
    /// Samples `samples` in the model's pixel scaling; sample i depends only on the seed, `step` and i,
    /// so any split of the indices across ranks draws the same set.
    func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64) -> Tensor
}

/// A model that encodes images to latent codes and decodes codes to images (the autoencoders): it draws the
/// course's latent interpolation between two images.
public protocol LatentInterpolator: AnyObject {
    /// Decodes `(1 - a) z_first + a z_second` for `steps` evenly spaced a = 0 ... 1, where z is an image's latent
    /// code: images [1, 1, 28, 28] in the model's pixel scaling -> [steps, 1, 28, 28].
    func interpolate(_ first: Tensor, _ second: Tensor, steps: Int) -> Tensor
}

/// A model whose training loss can be measured on held-out images (validation).
public protocol ValidationLoss: AnyObject {
    /// The sum over `images` of each image's training loss, without gradients; the images are samples
    /// `firstSample...` of the held-out set (noise, if any, is drawn for those indices from `random`).
    func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double
}

/// A model that labels images (reported by accuracy; a trained one can serve as the feature extractor).
public protocol ImageClassifier: AnyObject {
    var featureDimension: Int { get }
    var classCount: Int { get }
    /// Predicted classes of images [N, 1, 28, 28] (inference).
    func predict(_ images: Tensor) -> [Int]
    /// The mean cross-entropy of `images` against `labels` (inference).
    func meanLoss(_ images: Tensor, labels: [Int]) -> Float
    /// Images [N, 1, 28, 28] in [0, 1] -> features [N, featureDimension] and logits [N, classCount].
    func extract(_ images: Tensor) -> (features: Tensor, logits: Tensor)
}

// MARK: - The step

/// The trainer's side of one step: where the step is, which share of the global batch this rank holds, and
/// the collectives a model's step uses.
public struct StepContext {
    /// Randomness and mode for the forward passes.
    public var forward: ForwardContext
    /// The global batch size B.
    public var globalBatch: Int
    public var rank: Int
    public var worldSize: Int
    /// Forward and backward passes a gradient step takes over this rank's share (`train.accumulate`), one micro-batch each,
    /// before its gradients are summed across ranks once.
    public var microBatches: Int = 1
    /// Sums a group's gradients across ranks in place.
    let reduceGradients: (ParameterGroup) throws -> Void
    /// Sums values across ranks in place.
    let reduceSum: (inout [Double]) throws -> Void

    /// A step on one process (tests, benchmarks): nothing to reduce.
    public init(forward: ForwardContext, globalBatch: Int) {
        self.init(forward: forward, globalBatch: globalBatch, rank: 0, worldSize: 1, reduceGradients: { _ in }, reduceSum: { _ in })
    }

    /// A step of a data-parallel run: the trainer passes its reducer's collectives.
    public init(forward: ForwardContext, globalBatch: Int, rank: Int, worldSize: Int,
                reduceGradients: @escaping (ParameterGroup) throws -> Void, reduceSum: @escaping (inout [Double]) throws -> Void) {
        self.forward = forward
        self.globalBatch = globalBatch
        self.rank = rank
        self.worldSize = worldSize
        self.reduceGradients = reduceGradients
        self.reduceSum = reduceSum
    }

    /// This rank's piece of `total` global samples.
    public func share(of total: Int) -> BatchShare { BatchShare(of: total, rank: rank, worldSize: worldSize) }

    /// The forward context for samples `range` of the global batch, in sub-step `phase` of `phases` of this step.
    public func forward(samples range: Range<Int>, phase: UInt64 = 0, phases: UInt64 = 1) -> ForwardContext {
        var context = forward
        context.firstSample = range.lowerBound
        context.step = forward.step * phases + phase
        return context
    }

    /// One gradient step of `group`: its gradients zeroed, `loss` (this rank's part of the global loss, weighted
    /// by a `BatchShare`) built with `frozen` groups as constants and back-propagated, the gradients summed
    /// across ranks, then its optimizer's update. Returns this rank's part of the loss. A step that cannot be split
    /// into micro-batches (its loss couples the whole batch) takes this form; the job reader refuses `train.accumulate`
    /// for models that do not declare `ModelSchema.accumulates`.
    @discardableResult
    public func descend(_ group: ParameterGroup, freezing frozen: [ParameterGroup] = [], loss: () throws -> Variable) throws -> Float {
        precondition(microBatches == 1, "descend(_:loss:) of a step run in \(microBatches) micro-batches")
        return try descend(group, freezing: frozen, over: BatchShare(of: 1, rank: 0, worldSize: 1)) { _ in try loss() }
    }

    /// One gradient step of `group` over `share` in `microBatches` pieces: its gradients zeroed, then for each piece
    /// `loss(piece)` (that piece's part of the global loss, weighted by the piece's `meanWeight` or `sumWeight`) built
    /// with `frozen` groups as constants and back-propagated, adding into the gradients; then the gradients summed
    /// across ranks once and its optimizer's update. Only one piece's graph is alive at a time. Returns this rank's
    /// part of the loss (the pieces' sum).
    @discardableResult
    public func descend(_ group: ParameterGroup, freezing frozen: [ParameterGroup] = [], over share: BatchShare,
                        loss: (MicroBatch) throws -> Variable) throws -> Float {
        guard let optimizer = group.optimizer else { fatalError("group \(group.name) has no optimizer to descend with") }
        group.zeroGradients()
        var value: Float = 0
        for piece in share.microBatches(microBatches) {
            value += try freezingAll(frozen[...]) {
                let loss = try loss(piece)
                loss.backward()
                return loss.value.scalar
            }
        }
        try reduceGradients(group)
        optimizer.step(group)
        return value
    }

    /// Sums statistics (counts, weighted sums, scatter matrices) across ranks in place: after it every rank
    /// holds the sums over the whole global batch.
    public func sumAcrossRanks(_ values: inout [Double]) throws { try reduceSum(&values) }

    private func freezingAll<Result>(_ groups: ArraySlice<ParameterGroup>, _ body: () throws -> Result) throws -> Result {
        guard let first = groups.first else { return try body() }
        return try first.frozen { try freezingAll(groups.dropFirst(), body) }
    }
}
