// The course's DCGAN on one Fashion-MNIST class (bags, class 8), pixels in [-1, 1], z = 100 ~ N(0, I).
// Discriminator: Conv2D 64 s1 -> 128 s2 -> 128 s2 -> 256 s2 (3x3, same, LeakyReLU 0.2) -> Flatten ->
//   Dropout(0.4) -> Dense(1, sigmoid).
// Generator: Dense(7*7*256, LeakyReLU 0.2) -> Reshape(256, 7, 7) -> Conv2DTranspose 128 s2 -> 64 s2
//   (4x4, same, LeakyReLU 0.2) -> Conv2D(1, 3x3, same, tanh).
// Both Adam(2e-4, beta1 0.5), binary cross-entropy (from the discriminator's logit: the stable form of
// sigmoid + BCE). One step: D on B/2 real (label 1), D on B/2 fake (label 0), G through the frozen D on
// B latents (label 1).

import JobFiles
import TensorCore

// MARK: - Networks

/// The discriminator: [N, 1, 28, 28] -> logits [N, 1].
public final class Discriminator {
    let convolutions: [Conv2D]
    let dropout: Dropout
    let dense: Dense

    public init(_ group: ParameterGroup) {
        convolutions = [
            Conv2D(group, name: "conv1", inputChannels: 1, outputChannels: 64, kernelSize: 3, stride: 1, padding: .same, activation: .leakyRelu(0.2)),
            Conv2D(group, name: "conv2", inputChannels: 64, outputChannels: 128, kernelSize: 3, stride: 2, padding: .same, activation: .leakyRelu(0.2)),
            Conv2D(group, name: "conv3", inputChannels: 128, outputChannels: 128, kernelSize: 3, stride: 2, padding: .same, activation: .leakyRelu(0.2)),
            Conv2D(group, name: "conv4", inputChannels: 128, outputChannels: 256, kernelSize: 3, stride: 2, padding: .same, activation: .leakyRelu(0.2)),
        ]
        dropout = Dropout(rate: 0.4, stream: 0x4452_4F50)
        dense = Dense(group, name: "dense", inputSize: 4 * 4 * 256, outputSize: 1)
    }

    /// Logits (apply a sigmoid for the probability of "real").
    public func callAsFunction(_ x: Variable, context: ForwardContext) -> Variable {
        dense(dropout(flatten(convolutions.reduce(x) { $1($0) }), context: context))
    }

    /// The convolutions and the dense layer, for export.
    var pytorchLayers: [any PyTorchLayer] { convolutions.map { $0 as any PyTorchLayer } + [dense as any PyTorchLayer] }
}

/// The generator: latents [N, 100] -> images [N, 1, 28, 28] in [-1, 1].
public final class Generator {
    let dense: Dense
    let upsampling: [Conv2DTranspose]
    let output: Conv2D

    public init(_ group: ParameterGroup, latentSize: Int) {
        dense = Dense(group, name: "dense", inputSize: latentSize, outputSize: 7 * 7 * 256, activation: .leakyRelu(0.2))
        upsampling = [
            Conv2DTranspose(group, name: "deconv1", inputChannels: 256, outputChannels: 128, kernelSize: 4, stride: 2, padding: .same, activation: .leakyRelu(0.2)),
            Conv2DTranspose(group, name: "deconv2", inputChannels: 128, outputChannels: 64, kernelSize: 4, stride: 2, padding: .same, activation: .leakyRelu(0.2)),
        ]
        output = Conv2D(group, name: "conv", inputChannels: 64, outputChannels: 1, kernelSize: 3, stride: 1, padding: .same, activation: .tanh)
    }

    public func callAsFunction(_ z: Variable) -> Variable {
        output(upsampling.reduce(reshape(dense(z), [z.shape[0], 256, 7, 7])) { $1($0) })
    }

    /// The dense layer, the transposed convolutions and the output convolution, for export.
    var pytorchLayers: [any PyTorchLayer] { [dense as any PyTorchLayer] + upsampling.map { $0 as any PyTorchLayer } + [output as any PyTorchLayer] }
}

// MARK: - Model

/// DCGAN: generator and discriminator groups, each with its own Adam.
public final class DCGAN: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "dcgan", summary: "the course's DCGAN (one class, pixels in [-1, 1], binary cross-entropy)",
            options: [.integer("latent", default: 100, in: 1...4096, help: "size of the latent z ~ N(0, I)")],
            groups: [GroupSchema("generator", optimizer: .adam(learningRate: 2e-4, beta1: 0.5)),
                     GroupSchema("discriminator", optimizer: .adam(learningRate: 2e-4, beta1: 0.5))],
            data: .images(scale: "symmetric", sampling: "with_replacement", realImagesPerStep: .halfBatch),
            metrics: ["fid", "kid", "is"], accumulates: true),
        make: {
            DCGAN(seed: $0.seed, latentSize: $0.integer("latent"), generatorOptimizer: $0.optimizer("generator"),
                  discriminatorOptimizer: $0.optimizer("discriminator"))
        })

    public let latentSize: Int
    public let generatorGroup: ParameterGroup
    public let discriminatorGroup: ParameterGroup
    public let generator: Generator
    public let discriminator: Discriminator
    static let latentStream: UInt32 = 0x4C41_5431

    public init(seed: UInt64, latentSize: Int = 100,
                generatorOptimizer: any Optimizer = Adam(learningRate: 2e-4, beta1: 0.5),
                discriminatorOptimizer: any Optimizer = Adam(learningRate: 2e-4, beta1: 0.5)) {
        self.latentSize = latentSize
        generatorGroup = ParameterGroup(name: "generator", seed: seed, optimizer: generatorOptimizer)
        discriminatorGroup = ParameterGroup(name: "discriminator", seed: seed &+ 1, optimizer: discriminatorOptimizer)
        generator = Generator(generatorGroup, latentSize: latentSize)
        discriminator = Discriminator(discriminatorGroup)
    }

    public var groups: [ParameterGroup] { [generatorGroup, discriminatorGroup] }
    public var scaling: PixelScaling { .symmetric }

    /// Latents for global samples `samples` of sub-step `phase` of `step`.
    func latents(_ context: StepContext, samples: Range<Int>, phase: UInt64) -> Tensor {
        context.forward.random.normalTensor(stream: Self.latentStream, step: context.forward.step * 3 + phase,
                                            samples: samples, shape: [latentSize])
    }

    // MARK: - Step

    /// D on this rank's real images (label 1), D on as many generated ones (label 0), then G through the frozen D.
    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let real = context.share(of: context.globalBatch / 2)
        let realLoss = try context.descend(discriminatorGroup, over: real) { piece in
            binaryCrossEntropy(logits: discriminator(Variable(batch.images.rows(piece.rows)), context: context.forward(samples: piece.samples, phase: 0, phases: 3)),
                               targets: Tensor(repeating: 1, shape: [piece.count, 1])) * piece.meanWeight
        }
        let fakeLoss = try context.descend(discriminatorGroup, over: real) { piece in
            let fake = withoutGradient { generator(Variable(latents(context, samples: piece.samples, phase: 1))).value }
            return binaryCrossEntropy(logits: discriminator(Variable(fake), context: context.forward(samples: piece.samples, phase: 1, phases: 3)),
                                      targets: Tensor(zeros: [piece.count, 1])) * piece.meanWeight
        }
        let generated = context.share(of: context.globalBatch)
        let generatorLoss = try context.descend(generatorGroup, freezing: [discriminatorGroup], over: generated) { piece in
            let images = generator(Variable(latents(context, samples: piece.samples, phase: 2)))
            return binaryCrossEntropy(logits: discriminator(images, context: context.forward(samples: piece.samples, phase: 2, phases: 3)),
                                      targets: Tensor(repeating: 1, shape: [piece.count, 1])) * piece.meanWeight
        }
        return ["d_loss_real": realLoss, "d_loss_fake": fakeLoss, "g_loss": generatorLoss]
    }

    // MARK: - Pictures and samples

    public var curvePanels: [CurvePanel] {
        [CurvePanel(title: "binary cross-entropy per image", series: [("d_loss_real", "D real"), ("d_loss_fake", "D fake"), ("g_loss", "G")])]
    }

    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] {
        [Picture(name: "samples", title: "40 samples of the generator", images: sample(count: 40, random: random), columns: 10)]
    }

    public func evaluationPictures(random: CounterRandom) -> [Picture] {
        [Picture(name: "samples", title: "40 samples of the generator", images: sample(0..<40, random: random), columns: 10)]
    }

    /// `count` generated images for latents drawn on a fixed sample stream.
    public func sample(count: Int, random: CounterRandom, step: UInt64 = 0) -> Tensor { sample(0..<count, random: random, step: step) }

    /// Samples `samples` (global indices: sample i's latent depends only on the seed, `step` and i).
    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64 = 0) -> Tensor {
        let z = random.normalTensor(stream: 0x5341_4D50, step: step, samples: samples, shape: [latentSize])
        return withoutGradient { generator(Variable(z)).value }
    }
}

extension DCGAN: ImageSampler {}

// MARK: - Export and inference

extension DCGAN: PyTorchExportable, InferencePasses {
    public var pytorchLayers: [any PyTorchLayer] { generator.pytorchLayers + discriminator.pytorchLayers }

    /// `generator` (latents to images) and `discriminator` (images to logits, dropout off).
    public var inferencePasses: [InferencePass] {
        [InferencePass(name: "generator", sampleShape: [latentSize]) { self.generator(Variable($0)).value },
         InferencePass(name: "discriminator", sampleShape: [1, 28, 28]) { self.discriminator(Variable($0), context: .inference).value }]
    }
}
