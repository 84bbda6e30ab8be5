// The course's restricted Boltzmann machine, as scikit-learn's BernoulliRBM: binary visible units v (the 784
// pixels, binarised at 0.5 or drawn from their intensity), binary hidden units h (256), energy
// E(v, h) = -v.b_v - h.b_h - h W v with W [hidden, visible] (scikit-learn's components_) drawn from N(0, 0.01)
// and both biases 0. Summing h out gives the free energy F(v) = -v.b_v - sum_j softplus((W v + b_h)_j), and
// p(v) = exp(-F(v)) / Z.
// Learning: persistent contrastive divergence (stochastic maximum likelihood), batch 10, learning rate 0.1 on
// the mean over the batch. The gradient of  mean F(v_data) - mean F(v_model)  with v_model held constant is
// minus the CD estimate of the log-likelihood gradient, so one SGD(0.1) step on it is scikit-learn's update
//   W += lr/B (h(v_data)^T v_data - h(v_model)^T v_model),  b_h += lr/B sum(h_data - h_model),
//   b_v += lr/B sum(v_data - v_model),   h(v) = sigmoid(W v + b_h),
// and `descend` sums it across ranks like any gradient.
// Persistent chains: one per global batch position, their hidden states [B, H] kept as replicated state
// (checkpointed). In a step each rank advances the chains of its own batch positions: k Gibbs steps
// h -> v_model -> h(v_model); after the parameter step the chain's new hidden state is drawn from h(v_model)
// (computed before that step, as scikit-learn's _fit does), and one sum across ranks of the 0/1 states gives
// every rank the full set. Every draw is keyed by (seed, step, global batch position), so N ranks take the
// steps of one rank and a resumed run the steps of an uninterrupted one.

import Foundation
import JobFiles
import TensorCore

/// The Bernoulli-Bernoulli RBM trained by persistent contrastive divergence.
public final class RestrictedBoltzmannMachine: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "rbm", summary: "a Bernoulli restricted Boltzmann machine trained by persistent contrastive divergence as scikit-learn's BernoulliRBM "
                + "(SGD 0.1 on the mean over the global batch, one persistent chain per batch position: scikit-learn's batch is 10, "
                + "set `train.batch_size: 10`); its `loss` is the negative pseudo-likelihood per image",
            options: [
                .integer("hidden", default: 256, in: 1...65_536, help: "hidden units (scikit-learn's n_components)"),
                .choice("binarize", default: "threshold", from: ["threshold", "sample"],
                        help: "visible units from pixels: 1 where the intensity is above 0.5, or drawn as Bernoulli(intensity) at each use"),
                .integer("gibbs_steps", default: 1, in: 1...10_000, help: "Gibbs steps k of the persistent chains per update (CD-k; scikit-learn: 1)"),
                .integer("sample_steps", default: 1000, in: 1...1_000_000,
                         help: "Gibbs steps of the samples in pictures and `gentrain sample` (from uniformly random visible units)"),
            ],
            groups: [GroupSchema("model", optimizer: .sgd(learningRate: 0.1))],
            data: .vectors(scale: "unit", sampling: "epoch", realImagesPerStep: .wholeBatch),
            metrics: ["loss", "fid", "kid", "is"]),
        make: {
            RestrictedBoltzmannMachine(seed: $0.seed, sampleShape: $0.sampleShape, hiddenCount: $0.integer("hidden"), chainCount: $0.batchSize,
                                       binarization: $0.value("binarize") == .text("sample") ? .sample : .threshold,
                                       gibbsSteps: $0.integer("gibbs_steps"), sampleSteps: $0.integer("sample_steps"),
                                       optimizer: $0.optimizer("model"))
        })

    /// How pixels in [0, 1] become visible units.
    public enum Binarization: Sendable { case threshold, sample }

    /// One sample's shape ([1, 28, 28] for images): the visible units are its values.
    public let sampleShape: [Int]
    public let visibleCount: Int
    public let hiddenCount: Int
    /// Persistent chains: the global batch B.
    public let chainCount: Int
    public let binarization: Binarization
    /// k of CD-k.
    public let gibbsSteps: Int
    public let sampleSteps: Int
    public let group: ParameterGroup
    /// W [hidden, visible], scikit-learn's `components_`.
    let weights: Parameter
    /// b_h [hidden], `intercept_hidden_`.
    let hiddenBias: Parameter
    /// b_v [visible], `intercept_visible_`.
    let visibleBias: Parameter
    /// The chains' hidden states [B, hidden] in {0, 1}, `h_samples_` (state, the same on every rank).
    let chains: Parameter
    static let dataStream: UInt32 = 0x5242_4D44
    static let visibleStream: UInt32 = 0x5242_4D56
    static let hiddenStream: UInt32 = 0x5242_4D48
    static let flipStream: UInt32 = 0x5242_4D46
    static let sampleStartStream: UInt32 = 0x5253_5354
    static let sampleVisibleStream: UInt32 = 0x5253_5656
    static let sampleHiddenStream: UInt32 = 0x5253_5648

    public init(seed: UInt64, sampleShape: [Int] = [1, 28, 28], hiddenCount: Int = 256, chainCount: Int = 10, binarization: Binarization = .threshold,
                gibbsSteps: Int = 1, sampleSteps: Int = 1000, optimizer: any Optimizer = SGD(learningRate: 0.1)) {
        self.sampleShape = sampleShape
        visibleCount = sampleShape.reduce(1, *)
        self.hiddenCount = hiddenCount
        self.chainCount = chainCount
        self.binarization = binarization
        self.gibbsSteps = gibbsSteps
        self.sampleSteps = sampleSteps
        group = ParameterGroup(name: "model", seed: seed, optimizer: optimizer)
        weights = group.register("components", initial: group.initializer.normalTensor([hiddenCount, visibleCount], standardDeviation: 0.01))
        hiddenBias = group.register("intercept_hidden", initial: Tensor(zeros: [hiddenCount]))
        visibleBias = group.register("intercept_visible", initial: Tensor(zeros: [visibleCount]))
        chains = group.registerState("h_samples", initial: Tensor(zeros: [chainCount, hiddenCount]), agreement: .replicated)
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }

    // MARK: - Conditionals and free energy

    /// P(h_j = 1 | v) = sigmoid(v W^T + b_h): visible [N, V] -> [N, H] (scikit-learn's `transform`).
    public func hiddenProbabilities(_ visible: Tensor) -> Tensor {
        logistic(visible, transposingWeights: true, bias: hiddenBias.value)
    }

    /// P(v_i = 1 | h) = sigmoid(h W + b_v): hidden [N, H] -> [N, V].
    public func visibleProbabilities(_ hidden: Tensor) -> Tensor {
        logistic(hidden, transposingWeights: false, bias: visibleBias.value)
    }

    /// sigmoid(x op(W) + bias) through one sgemm.
    private func logistic(_ input: Tensor, transposingWeights: Bool, bias: Tensor) -> Tensor {
        let rows = input.shape[0], outputs = bias.count, inner = input.count / max(rows, 1)
        let output = Tensor(uninitialized: [rows, outputs])
        matmulKernel(output.sharedWritePointer, input.readPointer, weights.value.readPointer, m: rows, n: outputs, k: inner,
                     transposeB: transposingWeights)
        let values = output.sharedWritePointer, offsets = bias.readPointer
        for row in 0..<rows {
            let line = values + row * outputs
            for column in 0..<outputs { line[column] = sigmoidScalar(line[column] + offsets[column]) }
        }
        return output
    }

    /// F(v) = -v.b_v - sum_j softplus((v W^T + b_h)_j) for each row of visible [N, V] -> [N], differentiable in the parameters.
    public func freeEnergy(_ visible: Tensor) -> Variable { freeEnergyAndHiddenInput(visible).energy }

    /// F(v) [N] and the hidden units' input v W^T + b_h [N, H] it is built on.
    func freeEnergyAndHiddenInput(_ visible: Tensor) -> (energy: Variable, hiddenInput: Tensor) {
        let rows = visible.shape[0]
        let v = Variable(visible)
        let hiddenInput = matmul(v, weights.variable, transposeB: true) + hiddenBias.variable
        let visibleTerm = reshape(matmul(v, reshape(visibleBias.variable, [visibleCount, 1])), [rows])
        return (-(sum(softplus(hiddenInput), axes: [1]) + visibleTerm), hiddenInput.value)
    }

    /// weight * (sum F(data) - sum F(model)): its gradient, summed over ranks with weight 1/B, is minus the CD estimate.
    /// Also returns P(h = 1 | v_model) [n, H] from the same forward pass (before the update).
    func contrastiveLoss(data: Tensor, model: Tensor, weight: Float) -> (loss: Variable, modelHiddenProbabilities: Tensor) {
        let rows = data.shape[0]
        var stacked = Tensor(uninitialized: [2 * rows, visibleCount])
        stacked.withUnsafeMutableBufferPointer { buffer in
            data.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
            model.withUnsafeBufferPointer { (buffer.baseAddress! + data.count).update(from: $0.baseAddress!, count: $0.count) }
        }
        let signs = Tensor(shape: [2 * rows], values: [Float](repeating: weight, count: rows) + [Float](repeating: -weight, count: rows))
        let (energies, hiddenInput) = freeEnergyAndHiddenInput(stacked)
        var probabilities = Tensor(uninitialized: [rows, hiddenCount])
        hiddenInput.withUnsafeBufferPointer { input in
            probabilities.withUnsafeMutableBufferPointer { output in
                for index in output.indices { output[index] = sigmoidScalar(input[rows * hiddenCount + index]) }
            }
        }
        return (sum(energies * Variable(signs)), probabilities)
    }

    // MARK: - Step

    /// The visible units of pixels [N, ...] in [0, 1] -> [N, V]; `uniforms` [N, V] for `.sample`.
    func binarize(_ pixels: Tensor, uniforms: Tensor?) -> Tensor {
        let rows = pixels.shape[0]
        var result = Tensor(uninitialized: [rows, visibleCount])
        pixels.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { destination in
                if let uniforms {
                    uniforms.withUnsafeBufferPointer { u in for index in source.indices { destination[index] = u[index] < source[index] ? 1 : 0 } }
                } else {
                    for index in source.indices { destination[index] = source[index] > 0.5 ? 1 : 0 }
                }
            }
        }
        return result
    }

    /// One persistent-CD step on this rank's batch positions; returns its part of mean F(data) - mean F(model).
    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let share = context.share(of: context.globalBatch)
        guard context.globalBatch == chainCount else {
            throw ModelError("the RBM keeps \(chainCount) persistent chains (its train.batch_size) but the step's global batch is \(context.globalBatch)")
        }
        let (random, step, k) = (context.forward.random, context.forward.step, UInt64(gibbsSteps))
        func uniforms(_ stream: UInt32, _ counter: UInt64, _ width: Int) -> Tensor {
            random.uniformTensor(stream: stream, step: counter, samples: share.samples, shape: [width])
        }
        let data = binarize(batch.images, uniforms: binarization == .sample ? uniforms(Self.dataStream, step, visibleCount) : nil)
        let gibbs = (0..<gibbsSteps).map { uniforms(Self.visibleStream, step * k + UInt64($0), visibleCount) }
        let hidden = (0..<gibbsSteps).map { uniforms(Self.hiddenStream, step * k + UInt64($0), hiddenCount) }
        let loss = try contrastiveDivergenceStep(data: data, positions: share.samples, visibleUniforms: gibbs, hiddenUniforms: hidden,
                                                 weight: share.sumWeight, context: context)
        return ["free_energy_gap": loss]
    }

    /// The step with its uniforms given (the tests inject scikit-learn's): `visibleUniforms[i]` [n, V] and
    /// `hiddenUniforms[i]` [n, H] for Gibbs step i of the chains at `positions`, the last hidden draw after the update.
    func contrastiveDivergenceStep(data: Tensor, positions: Range<Int>, visibleUniforms: [Tensor], hiddenUniforms: [Tensor],
                                   weight: Float, context: StepContext) throws -> Float {
        var hidden = Tensor(viewing: group.state, offset: chains.entry.offset + positions.lowerBound * hiddenCount, shape: [positions.count, hiddenCount])
        var visible = hidden
        for gibbs in 0..<gibbsSteps {
            visible = bernoulli(visibleProbabilities(hidden), visibleUniforms[gibbs])
            if gibbs < gibbsSteps - 1 { hidden = bernoulli(hiddenProbabilities(visible), hiddenUniforms[gibbs]) }
        }
        var hiddenProbability: Tensor?
        let loss = try context.descend(group) {
            let (loss, probabilities) = contrastiveLoss(data: data, model: visible, weight: weight)
            hiddenProbability = probabilities
            return loss
        }
        try storeChains(bernoulli(hiddenProbability!, hiddenUniforms[gibbsSteps - 1]), positions: positions, context: context)
        return loss
    }

    /// Writes this rank's chains and, on several ranks, sums the 0/1 states so that every rank holds all of them (exact).
    func storeChains(_ hidden: Tensor, positions: Range<Int>, context: StepContext) throws {
        let destination = group.state.pointer + chains.entry.offset, width = hiddenCount
        guard context.worldSize > 1 else {
            hidden.withUnsafeBufferPointer { (destination + positions.lowerBound * width).update(from: $0.baseAddress!, count: $0.count) }
            return
        }
        var all = [Double](repeating: 0, count: chainCount * width)
        hidden.withUnsafeBufferPointer { for (index, value) in $0.enumerated() { all[positions.lowerBound * width + index] = Double(value) } }
        try context.sumAcrossRanks(&all)
        for index in all.indices { destination[index] = Float(all[index]) }
    }

    // MARK: - Pseudo-likelihood

    /// scikit-learn's `score_samples` with the flipped unit of each row given: V * log sigmoid(F(v~) - F(v)) per row,
    /// where v~ is v with unit `flips[i]` of row i flipped.
    public func pseudoLikelihood(_ visible: Tensor, flips: [Int]) -> [Double] {
        var flipped = visible
        flipped.withUnsafeMutableBufferPointer { values in
            for (row, unit) in flips.enumerated() { values[row * visibleCount + unit] = 1 - values[row * visibleCount + unit] }
        }
        let (energies, flippedEnergies) = withoutGradient { (freeEnergy(visible).value.scalars, freeEnergy(flipped).value.scalars) }
        return zip(energies, flippedEnergies).map { energy, flippedEnergy in
            let x = Double(energy) - Double(flippedEnergy)
            return -Double(visibleCount) * (max(x, 0) + log1p(exp(-abs(x))))
        }
    }

    // MARK: - Samples and pictures

    /// Gibbs samples `samples` (global indices): chains started from uniformly random visible units, `sampleSteps`
    /// steps v -> h -> v, shown as P(v | h) of the last step. Sample i depends only on the seed, `step` and i.
    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64 = 0) -> Tensor {
        let start = random.uniformTensor(stream: Self.sampleStartStream, step: step, samples: samples, shape: [visibleCount])
        var visible = bernoulli(Tensor(repeating: 0.5, shape: start.shape), start)
        var probabilities = visible
        for gibbs in 0..<sampleSteps {
            let counter = step &* UInt64(sampleSteps) &+ UInt64(gibbs)
            let hidden = bernoulli(hiddenProbabilities(visible),
                                   random.uniformTensor(stream: Self.sampleHiddenStream, step: counter, samples: samples, shape: [hiddenCount]))
            probabilities = visibleProbabilities(hidden)
            if gibbs < sampleSteps - 1 {
                visible = bernoulli(probabilities, random.uniformTensor(stream: Self.sampleVisibleStream, step: counter, samples: samples, shape: [visibleCount]))
            }
        }
        return probabilities.reshaped([samples.count] + sampleShape)
    }

    /// The first 100 filters (rows of W as images, each rescaled to its own minimum and maximum), [F, sampleShape].
    public func filters(count: Int = 100) -> Tensor {
        let shown = min(count, hiddenCount)
        var images = Tensor(uninitialized: [shown] + sampleShape)
        weights.value.withUnsafeBufferPointer { w in
            images.withUnsafeMutableBufferPointer { destination in
                for filter in 0..<shown {
                    let row = w[(filter * visibleCount)..<((filter + 1) * visibleCount)]
                    let (low, high) = (row.min() ?? 0, row.max() ?? 0)
                    let scale = high > low ? 1 / (high - low) : 0
                    for (index, value) in row.enumerated() { destination[filter * visibleCount + index] = (value - low) * scale }
                }
            }
        }
        return images
    }

    /// The filters and 100 Gibbs samples (images only).
    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] {
        guard sampleShape.count == 3 else { return [] }
        return filterPicture() + [Picture(name: "gibbs-samples", title: "100 Gibbs samples after \(sampleSteps) steps from random visible units, shown as P(v given h)",
                                          images: sample(0..<100, random: random), columns: 10)]
    }

    public func evaluationPictures(random: CounterRandom) -> [Picture] { sampleShape.count == 3 ? filterPicture() : [] }

    private func filterPicture() -> [Picture] {
        let shown = min(100, hiddenCount)
        return [Picture(name: "filters", title: "the first \(shown) filters (rows of W, each rescaled to its range)", images: filters(count: shown), columns: 10)]
    }
}

/// 1 where u < p, else 0 (a Bernoulli(p) draw from uniforms u, as scikit-learn draws).
func bernoulli(_ probabilities: Tensor, _ uniforms: Tensor) -> Tensor {
    guard probabilities.count == uniforms.count else { fatalError("bernoulli: \(probabilities.shape) probabilities, \(uniforms.shape) uniforms") }
    let result = Tensor(uninitialized: probabilities.shape)
    let p = probabilities.readPointer, u = uniforms.readPointer, destination = result.sharedWritePointer
    for index in 0..<probabilities.count { destination[index] = u[index] < p[index] ? 1 : 0 }
    return result
}

extension RestrictedBoltzmannMachine: ImageSampler {}

// MARK: - Pseudo-likelihood as the validation loss

extension RestrictedBoltzmannMachine: ValidationLoss {
    /// The sum over `images` of minus the pseudo-likelihood (so the reported `validation_loss` is the mean negative
    /// pseudo-likelihood per image): image i's flipped unit is drawn for its index in the evaluated set (the same at
    /// every evaluation) and sampled binarisation draws for it too.
    public func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double {
        let samples = firstSample..<(firstSample + images.shape[0])
        let visible = binarize(images.reshaped([samples.count, visibleCount]), uniforms: binarization == .sample
            ? random.uniformTensor(stream: Self.dataStream, step: 0, samples: samples, shape: [visibleCount]) : nil)
        let flips = random.uniformTensor(stream: Self.flipStream, step: 0, samples: samples, shape: [1]).scalars.map {
            min(Int($0 * Float(visibleCount)), visibleCount - 1)
        }
        return -pseudoLikelihood(visible, flips: flips).reduce(0, +)
    }
}

// MARK: - Export and inference

extension RestrictedBoltzmannMachine: ArrayExportable, InferencePasses {
    /// scikit-learn's attributes: `components` [H, V], `intercept_hidden` [H], `intercept_visible` [V], `h_samples` [B, H].
    public func exportedArrays(step: Int) -> [NamedArray] {
        [NamedArray(name: "components", tensor: weights.value), NamedArray(name: "intercept_hidden", tensor: hiddenBias.value),
         NamedArray(name: "intercept_visible", tensor: visibleBias.value), NamedArray(name: "h_samples", tensor: chains.value)]
    }

    public var exportMetadata: [String: String] { ["format": "np", "model": "rbm"] }

    /// `transform` (P(h = 1 | v), [N, H]) and `free_energy` ([N, 1]) of visible rows [N, V].
    public var inferencePasses: [InferencePass] {
        [InferencePass(name: "transform", sampleShape: [visibleCount]) { self.hiddenProbabilities($0) },
         InferencePass(name: "free_energy", sampleShape: [visibleCount]) { self.freeEnergy($0).value.reshaped([$0.shape[0], 1]) }]
    }
}
