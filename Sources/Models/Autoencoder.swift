// The course's convolutional autoencoder (z = 32, MSE, Adam, batch 128).
// Encoder: Conv2D 32 s1 -> 64 s2 -> 64 s2 -> 64 s1 (3x3, same, ReLU) -> Flatten -> Dense(32).
// Decoder: Dense(3136) -> Reshape(64, 7, 7) -> Conv2DTranspose 64 s1 -> 64 s2 -> 32 s2 -> 1 s1 (3x3, same, ReLU).
// Keras reshapes to (7, 7, 64) channels-last; NCHW reshapes to (64, 7, 7): the same model up to a
// permutation of the Dense units.

import JobFiles
import TensorCore

// MARK: - Networks

/// The convolutional trunk shared by the autoencoder and the VAE: [N, 1, 28, 28] -> [N, 3136].
public final class ConvolutionalEncoderTrunk {
    let layers: [Conv2D]

    public init(_ group: ParameterGroup) {
        layers = [
            Conv2D(group, name: "encoder.conv1", inputChannels: 1, outputChannels: 32, kernelSize: 3, stride: 1, padding: .same, activation: .relu),
            Conv2D(group, name: "encoder.conv2", inputChannels: 32, outputChannels: 64, kernelSize: 3, stride: 2, padding: .same, activation: .relu),
            Conv2D(group, name: "encoder.conv3", inputChannels: 64, outputChannels: 64, kernelSize: 3, stride: 2, padding: .same, activation: .relu),
            Conv2D(group, name: "encoder.conv4", inputChannels: 64, outputChannels: 64, kernelSize: 3, stride: 1, padding: .same, activation: .relu),
        ]
    }

    public func callAsFunction(_ x: Variable) -> Variable { flatten(layers.reduce(x) { $1($0) }) }

    /// The four convolutions, for export.
    var pytorchLayers: [any PyTorchLayer] { layers }
}

/// The decoder shared by the autoencoder and the VAE: [N, z] -> [N, 1, 28, 28], `lastActivation` on the output.
public final class ConvolutionalDecoder {
    let dense: Dense
    let layers: [Conv2DTranspose]

    public init(_ group: ParameterGroup, latentSize: Int, lastActivation: Activation) {
        dense = Dense(group, name: "decoder.dense", inputSize: latentSize, outputSize: 7 * 7 * 64)
        layers = [
            Conv2DTranspose(group, name: "decoder.deconv1", inputChannels: 64, outputChannels: 64, kernelSize: 3, stride: 1, padding: .same, activation: .relu),
            Conv2DTranspose(group, name: "decoder.deconv2", inputChannels: 64, outputChannels: 64, kernelSize: 3, stride: 2, padding: .same, activation: .relu),
            Conv2DTranspose(group, name: "decoder.deconv3", inputChannels: 64, outputChannels: 32, kernelSize: 3, stride: 2, padding: .same, activation: .relu),
            Conv2DTranspose(group, name: "decoder.deconv4", inputChannels: 32, outputChannels: 1, kernelSize: 3, stride: 1, padding: .same, activation: lastActivation),
        ]
    }

    public func callAsFunction(_ z: Variable) -> Variable {
        layers.reduce(reshape(dense(z), [z.shape[0], 64, 7, 7])) { $1($0) }
    }

    /// The dense layer and the four transposed convolutions, for export.
    var pytorchLayers: [any PyTorchLayer] { [dense as any PyTorchLayer] + layers.map { $0 as any PyTorchLayer } }
}

// MARK: - Model

/// The autoencoder: encoder, decoder, MSE loss, Adam.
public final class Autoencoder: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "autoencoder", summary: "the course's convolutional autoencoder (MSE), with reconstructions and latent interpolation",
            options: [.integer("latent", default: 32, in: 1...4096, help: "size of the latent code z")],
            groups: [GroupSchema("model", optimizer: .adam())],
            data: .images(scale: "unit", sampling: "epoch"),
            metrics: ["loss"], accumulates: true),
        make: { Autoencoder(seed: $0.seed, latentSize: $0.integer("latent"), optimizer: $0.optimizer("model")) })

    public let latentSize: Int
    public let group: ParameterGroup
    let trunk: ConvolutionalEncoderTrunk
    let toLatent: Dense
    let decoder: ConvolutionalDecoder

    public init(seed: UInt64, latentSize: Int = 32, optimizer: any Optimizer = Adam()) {
        self.latentSize = latentSize
        group = ParameterGroup(name: "model", seed: seed, optimizer: optimizer)
        trunk = ConvolutionalEncoderTrunk(group)
        toLatent = Dense(group, name: "encoder.dense", inputSize: 7 * 7 * 64, outputSize: latentSize)
        decoder = ConvolutionalDecoder(group, latentSize: latentSize, lastActivation: .relu)
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }

    /// Images [N, 1, 28, 28] -> latents [N, z].
    public func encode(_ x: Variable) -> Variable { toLatent(trunk(x)) }
    /// Latents [N, z] -> images [N, 1, 28, 28].
    public func decode(_ z: Variable) -> Variable { decoder(z) }

    // MARK: - Loss and step

    /// The mean squared error of the reconstructions of `images`, times `weight` (a share's `meanWeight`).
    public func loss(_ images: Tensor, weight: Float) -> Variable {
        meanSquaredError(decode(encode(Variable(images))), images) * weight
    }

    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let share = context.share(of: context.globalBatch)
        let meanLoss = try context.descend(group, over: share) { piece in loss(batch.images.rows(piece.rows), weight: piece.meanWeight) }
        return ["loss": meanLoss]
    }

    // MARK: - Pictures

    /// The examples (ten) above their reconstructions, and the 11-step strip between the first two.
    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] {
        let decoded = withoutGradient { decode(encode(Variable(examples))).value }
        return [Picture(name: "reconstructions", title: "training images and their reconstructions",
                        images: concatenateBatches([examples, decoded]), columns: examples.shape[0], rowCaptions: ["image", "decoded"])]
            + interpolationPicture(examples, interpolate)
    }

    public func evaluationPictures(random: CounterRandom) -> [Picture] { [] }

    /// Decodes the 11 points `(1 - a) z_i + a z_j`, a = 0, 0.1, ..., 1, between two images' latents.
    public func interpolate(_ first: Tensor, _ second: Tensor, steps: Int = 11) -> Tensor {
        withoutGradient {
            let latents = encode(Variable(concatenateBatches([first, second]))).value
            return decode(Variable(interpolationLatents(latents, steps: steps))).value
        }
    }
}

extension Autoencoder: LatentInterpolator {}

extension Autoencoder: ValidationLoss {
    public func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double {
        Double(withoutGradient { loss(images, weight: Float(images.shape[0])).value.scalar })
    }
}

// MARK: - Export and inference

extension Autoencoder: PyTorchExportable, InferencePasses {
    public var pytorchLayers: [any PyTorchLayer] { trunk.pytorchLayers + [toLatent as any PyTorchLayer] + decoder.pytorchLayers }

    /// `latent` and `reconstruction` of images, `decoded` of latents.
    public var inferencePasses: [InferencePass] {
        [InferencePass(name: "latent", sampleShape: [1, 28, 28]) { self.encode(Variable($0)).value },
         InferencePass(name: "reconstruction", sampleShape: [1, 28, 28]) { self.decode(self.encode(Variable($0))).value },
         InferencePass(name: "decoded", sampleShape: [latentSize]) { self.decode(Variable($0)).value }]
    }
}

/// The course's interpolation strip between the first two of `examples` (none with fewer than two).
func interpolationPicture(_ examples: Tensor, _ interpolate: (Tensor, Tensor, Int) -> Tensor) -> [Picture] {
    guard examples.shape[0] >= 2 else { return [] }
    let (first, second) = withoutGradient { (slice(Variable(examples), axis: 0, range: 0..<1).value, slice(Variable(examples), axis: 0, range: 1..<2).value) }
    return [Picture(name: "interpolation", title: "decoded (1 - a) z1 + a z2 between the latents of two training images",
                    images: interpolate(first, second, 11), columns: 11, columnCaptions: (0...10).map { String(format: "a = %.1f", Double($0) / 10) })]
}

/// Stacks `[1, ...]`-or-larger batches along the batch axis.
func concatenateBatches(_ tensors: [Tensor]) -> Tensor {
    concatenate(tensors.map { Variable($0) }, axis: 0).value
}

/// Rows `(1 - a) z_0 + a z_1` for `steps` evenly spaced a in [0, 1]; latents [2, z] -> [steps, z].
public func interpolationLatents(_ latents: Tensor, steps: Int) -> Tensor {
    let size = latents.shape[1]
    var result = Tensor(zeros: [steps, size])
    result.withUnsafeMutableBufferPointer { buffer in
        for step in 0..<steps {
            let a = Float(step) / Float(max(steps - 1, 1))
            for index in 0..<size { buffer[step * size + index] = (1 - a) * latents[0, index] + a * latents[1, index] }
        }
    }
    return result
}
