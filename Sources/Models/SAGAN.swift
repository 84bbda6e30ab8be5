// SAGAN (Zhang et al. 2019) on 28x28 images: the course's DCGAN with a self-attention block at 14x14 in the
// generator and the discriminator, spectral normalisation on every convolution and dense layer of both (one power
// iteration per step), the hinge loss and two learning rates (D 4e-4, G 1e-4, Adam betas (0, 0.9)).
// Generator: Dense(7*7*256) -> Reshape(256, 7, 7) -> GroupNorm -> LeakyReLU 0.2 -> Conv2DTranspose 128 s2 (4x4) ->
//   GroupNorm -> LeakyReLU -> self-attention(128) at 14x14 -> Conv2DTranspose 64 s2 (4x4) -> GroupNorm -> LeakyReLU ->
//   Conv2D(1, 3x3, tanh). SAGAN's generator normalises with batch norm; group norm (8 groups) has per-image statistics,
//   so that N ranks take one rank's step without a synchronised batch norm.
// Discriminator: Conv2D 64 s1 -> 128 s2 -> self-attention(128) at 14x14 -> 128 s2 -> 256 s2 (3x3, same,
//   LeakyReLU 0.2) -> Flatten -> Dense(1) (no dropout: spectral normalisation is its regulariser).
// Self-attention: q, k = conv1x1 to C/8, v = conv1x1 to C/2, softmax(q^T k) over positions, conv1x1 back to C,
//   x + gamma o with gamma starting at 0.
// Hinge loss: D minimises mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))), G minimises -mean(D(G(z))).
// One step: D on B/2 real and B/2 generated images in one pass, then G through the frozen D on B latents.

import JobFiles
import TensorCore

// MARK: - Networks

/// The generator: latents [N, z] -> images [N, 1, 28, 28] in [-1, 1]. Each spectrally normalised layer but the last is
/// followed by a group normalisation (8 groups; per-image statistics), whose gain restores the scale that the
/// normalised kernels (largest singular value 1) cannot give.
public final class AttentionGenerator {
    let dense: Dense
    let denseNorm: GroupNormalization
    let upsampling: Conv2DTranspose
    let upsamplingNorm: GroupNormalization
    let attention: SelfAttention
    let refining: Conv2DTranspose
    let refiningNorm: GroupNormalization
    let output: Conv2D

    public init(_ group: ParameterGroup, latentSize: Int) {
        dense = Dense(group, name: "dense", inputSize: latentSize, outputSize: 7 * 7 * 256, spectralNormalization: true)
        denseNorm = GroupNormalization(group, name: "dense_norm", channels: 256, groups: 8)
        upsampling = Conv2DTranspose(group, name: "deconv1", inputChannels: 256, outputChannels: 128, kernelSize: 4, stride: 2, padding: .same,
                                     spectralNormalization: true)
        upsamplingNorm = GroupNormalization(group, name: "deconv1_norm", channels: 128, groups: 8)
        attention = SelfAttention(group, name: "attention", channels: 128, spectralNormalization: true)
        refining = Conv2DTranspose(group, name: "deconv2", inputChannels: 128, outputChannels: 64, kernelSize: 4, stride: 2, padding: .same,
                                   spectralNormalization: true)
        refiningNorm = GroupNormalization(group, name: "deconv2_norm", channels: 64, groups: 8)
        output = Conv2D(group, name: "conv", inputChannels: 64, outputChannels: 1, kernelSize: 3, stride: 1, padding: .same, activation: .tanh,
                        spectralNormalization: true)
    }

    public func callAsFunction(_ z: Variable) -> Variable {
        let seed = leakyRelu(denseNorm(reshape(dense(z), [z.shape[0], 256, 7, 7])), slope: 0.2)
        let coarse = attention(leakyRelu(upsamplingNorm(upsampling(seed)), slope: 0.2))
        return output(leakyRelu(refiningNorm(refining(coarse)), slope: 0.2))
    }

    var spectralNorms: [SpectralNorm] {
        [dense.spectralNorm, upsampling.spectralNorm].compactMap { $0 } + attention.spectralNorms
            + [refining.spectralNorm, output.spectralNorm].compactMap { $0 }
    }

    var pytorchLayers: [any PyTorchLayer] { [dense, denseNorm, upsampling, upsamplingNorm, attention, refining, refiningNorm, output] }
}

/// The discriminator: [N, 1, 28, 28] -> scores [N, 1] (unbounded: the hinge loss reads them as they are).
public final class AttentionDiscriminator {
    let downsampling: [Conv2D]
    let attention: SelfAttention
    let later: [Conv2D]
    let dense: Dense

    public init(_ group: ParameterGroup) {
        func convolution(_ name: String, _ inputs: Int, _ outputs: Int, stride: Int) -> Conv2D {
            Conv2D(group, name: name, inputChannels: inputs, outputChannels: outputs, kernelSize: 3, stride: stride, padding: .same,
                   activation: .leakyRelu(0.2), spectralNormalization: true)
        }
        downsampling = [convolution("conv1", 1, 64, stride: 1), convolution("conv2", 64, 128, stride: 2)]
        attention = SelfAttention(group, name: "attention", channels: 128, spectralNormalization: true)
        later = [convolution("conv3", 128, 128, stride: 2), convolution("conv4", 128, 256, stride: 2)]
        dense = Dense(group, name: "dense", inputSize: 4 * 4 * 256, outputSize: 1, spectralNormalization: true)
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        let attended = attention(downsampling.reduce(x) { $1($0) })
        return dense(flatten(later.reduce(attended) { $1($0) }))
    }

    var spectralNorms: [SpectralNorm] {
        downsampling.compactMap(\.spectralNorm) + attention.spectralNorms + later.compactMap(\.spectralNorm) + [dense.spectralNorm].compactMap { $0 }
    }

    var pytorchLayers: [any PyTorchLayer] { downsampling + [attention as any PyTorchLayer] + later + [dense as any PyTorchLayer] }
}

// MARK: - Model

/// SAGAN: generator and discriminator groups, each with its own Adam and its spectral-norm vectors as state.
public final class SAGAN: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "sagan", summary: "SAGAN: the DCGAN with self-attention at 14x14, spectral normalisation and the hinge loss",
            options: [.integer("latent", default: 100, in: 1...4096, help: "size of the latent z ~ N(0, I)")],
            groups: [GroupSchema("generator", optimizer: .adam(learningRate: 1e-4, beta1: 0, beta2: 0.9)),
                     GroupSchema("discriminator", optimizer: .adam(learningRate: 4e-4, beta1: 0, beta2: 0.9))],
            data: .images(scale: "symmetric", sampling: "with_replacement", realImagesPerStep: .halfBatch),
            metrics: ["fid", "kid", "is"]),
        make: {
            SAGAN(seed: $0.seed, latentSize: $0.integer("latent"), generatorOptimizer: $0.optimizer("generator"),
                  discriminatorOptimizer: $0.optimizer("discriminator"))
        })

    public let latentSize: Int
    public let generatorGroup: ParameterGroup
    public let discriminatorGroup: ParameterGroup
    public let generator: AttentionGenerator
    public let discriminator: AttentionDiscriminator
    static let latentStream: UInt32 = 0x5341_4731

    public init(seed: UInt64, latentSize: Int = 100,
                generatorOptimizer: any Optimizer = Adam(learningRate: 1e-4, beta1: 0, beta2: 0.9),
                discriminatorOptimizer: any Optimizer = Adam(learningRate: 4e-4, beta1: 0, beta2: 0.9)) {
        self.latentSize = latentSize
        generatorGroup = ParameterGroup(name: "generator", seed: seed, optimizer: generatorOptimizer)
        discriminatorGroup = ParameterGroup(name: "discriminator", seed: seed &+ 1, optimizer: discriminatorOptimizer)
        generator = AttentionGenerator(generatorGroup, latentSize: latentSize)
        discriminator = AttentionDiscriminator(discriminatorGroup)
    }

    public var groups: [ParameterGroup] { [generatorGroup, discriminatorGroup] }
    public var scaling: PixelScaling { .symmetric }

    /// Latents for global samples `samples` of sub-step `phase` of `step`.
    func latents(_ context: StepContext, samples: Range<Int>, phase: UInt64) -> Tensor {
        context.forward.random.normalTensor(stream: Self.latentStream, step: context.forward.step * 2 + phase, samples: samples, shape: [latentSize])
    }

    // MARK: - Loss and step

    /// The discriminator's hinge loss on `real` and `fake` images (as many of each) in one pass, each mean times
    /// `weight` (a share's `meanWeight`): `mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))`, and the two terms.
    public func discriminatorLoss(real: Tensor, fake: Tensor, weight: Float) -> (total: Variable, real: Variable, fake: Variable) {
        let count = real.shape[0]
        let scores = discriminator(concatenate([Variable(real), Variable(fake)], axis: 0))
        let realLoss = mean(relu(1 - slice(scores, axis: 0, range: 0..<count))) * weight
        let fakeLoss = mean(relu(1 + slice(scores, axis: 0, range: count..<(2 * count)))) * weight
        return (realLoss + fakeLoss, realLoss, fakeLoss)
    }

    /// The generator's hinge loss through the discriminator: `-mean(D(G(z)))` times `weight`.
    public func generatorLoss(_ z: Tensor, weight: Float) -> Variable { -mean(discriminator(generator(Variable(z)))) * weight }

    /// D's power iteration and step on this rank's real images and as many generated ones, then G's power iteration
    /// and step through the frozen D.
    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let real = context.share(of: context.globalBatch / 2)
        let fake = withoutGradient { generator(Variable(latents(context, samples: real.samples, phase: 0))).value }
        for norm in discriminator.spectralNorms { norm.powerIteration() }
        var terms: (real: Variable, fake: Variable)?
        let discriminatorTotal = try context.descend(discriminatorGroup) {
            let (total, realLoss, fakeLoss) = discriminatorLoss(real: batch.images, fake: fake, weight: real.meanWeight)
            terms = (realLoss, fakeLoss)
            return total
        }
        for norm in generator.spectralNorms { norm.powerIteration() }
        let generated = context.share(of: context.globalBatch)
        let generatorTotal = try context.descend(generatorGroup, freezing: [discriminatorGroup]) {
            generatorLoss(latents(context, samples: generated.samples, phase: 1), weight: generated.meanWeight)
        }
        return ["d_loss": discriminatorTotal, "d_loss_real": terms!.real.value.scalar, "d_loss_fake": terms!.fake.value.scalar,
                "g_loss": generatorTotal]
    }

    // MARK: - Pictures and samples

    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] { evaluationPictures(random: random) }

    public func evaluationPictures(random: CounterRandom) -> [Picture] {
        [Picture(name: "samples", title: "40 samples of the generator", images: sample(0..<40, random: random), columns: 10)]
    }

    /// Samples `samples` (global indices: sample i's latent depends only on the seed, `step` and i), through the stored
    /// spectral-norm vectors (no power iteration).
    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64 = 0) -> Tensor {
        let z = random.normalTensor(stream: 0x5341_4D50, step: step, samples: samples, shape: [latentSize])
        return withoutGradient { generator(Variable(z)).value }
    }
}

extension SAGAN: ImageSampler {}

// MARK: - Export and inference

extension SAGAN: PyTorchExportable, InferencePasses {
    public var pytorchLayers: [any PyTorchLayer] { generator.pytorchLayers + discriminator.pytorchLayers }

    /// `generator` (latents to images) and `discriminator` (images to scores), with the stored spectral-norm vectors.
    public var inferencePasses: [InferencePass] {
        [InferencePass(name: "generator", sampleShape: [latentSize]) { self.generator(Variable($0)).value },
         InferencePass(name: "discriminator", sampleShape: [1, 28, 28]) { self.discriminator(Variable($0)).value }]
    }
}
