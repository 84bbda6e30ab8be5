// The course's VAE (z = 32, Adam, batch 128): the autoencoder's trunk, two Dense(32) heads for mu and
// log-variance, the same decoder with a sigmoid output.
// Loss per image: sum over pixels of binary cross-entropy + KL = -0.5 sum(1 + logvar - mu^2 - e^logvar),
// averaged over the batch. z = mu + e^(logvar/2) eps, eps ~ N(0, I) (the course's 0.1 is an option).
// The reconstruction term is computed from the decoder's logits (the stable form of sigmoid + BCE).

import TensorCore

/// The variational autoencoder.
public final class VariationalAutoencoder: TrainableModel {
    public static let modelName = "vae"
    public let latentSize: Int
    /// Standard deviation of eps in the reparameterisation (1 by definition; the course used 0.1).
    public let noiseScale: Float
    public let group: ParameterGroup
    let trunk: ConvolutionalEncoderTrunk
    let meanHead: Dense
    let logVarianceHead: Dense
    let decoder: ConvolutionalDecoder
    public let optimizer: any Optimizer
    /// Counter-based stream for eps.
    static let noiseStream: UInt32 = 0x5641_4531

    public init(seed: UInt64, latentSize: Int = 32, noiseScale: Float = 1, optimizer: any Optimizer = Adam()) {
        self.latentSize = latentSize
        self.noiseScale = noiseScale
        group = ParameterGroup(name: "model", seed: seed)
        trunk = ConvolutionalEncoderTrunk(group)
        meanHead = Dense(group, name: "encoder.mean", inputSize: 7 * 7 * 64, outputSize: latentSize)
        logVarianceHead = Dense(group, name: "encoder.log_variance", inputSize: 7 * 7 * 64, outputSize: latentSize)
        decoder = ConvolutionalDecoder(group, latentSize: latentSize, lastActivation: .linear)
        self.optimizer = optimizer
    }

    public var groups: [ParameterGroup] { [group] }
    public var optimizers: [any Optimizer] { [optimizer] }
    public var scaling: PixelScaling { .unit }
    public func realImagesPerStep(globalBatch: Int) -> Int { globalBatch }

    /// Images -> (mu, log-variance), each [N, z].
    public func encode(_ x: Variable) -> (mean: Variable, logVariance: Variable) {
        let features = trunk(x)
        return (meanHead(features), logVarianceHead(features))
    }

    /// Latents -> pixel probabilities [N, 1, 28, 28].
    public func decode(_ z: Variable) -> Variable { sigmoid(decoder(z)) }

    // MARK: - Loss and step

    /// This rank's part of the global mean (over images) of reconstruction + KL, and the two terms.
    public func loss(_ images: Tensor, context: ForwardContext, globalBatch: Int) -> (total: Variable, reconstruction: Variable, divergence: Variable) {
        let (mu, logVariance) = encode(Variable(images))
        let samples = context.firstSample..<(context.firstSample + images.shape[0])
        let eps = context.random.normalTensor(stream: Self.noiseStream, step: context.step, samples: samples, shape: [latentSize])
        let z = mu + exp(logVariance * 0.5) * Variable(eps) * noiseScale
        let logits = decoder(z)
        let perBatch = 1 / Float(globalBatch)
        let reconstruction = sum(binaryCrossEntropyElements(logits: logits, targets: images)) * perBatch
        let divergence = sum(1 + logVariance - mu * mu - exp(logVariance)) * (-0.5 * perBatch)
        return (reconstruction + divergence, reconstruction, divergence)
    }

    @discardableResult
    public func trainStep(_ batch: TrainingBatch, context: StepContext) -> [String: Float] {
        let images = batch.images
        group.zeroGradients()
        let samples = context.share(of: context.globalBatch)
        let (total, reconstruction, divergence) = loss(images, context: context.forward(samples: samples), globalBatch: context.globalBatch)
        total.backward()
        context.reduceGradients(group)
        optimizer.step(group)
        return ["loss": total.value.scalar, "reconstruction": reconstruction.value.scalar, "kl": divergence.value.scalar]
    }

    /// Decodes `count` latents z ~ N(0, I) drawn for samples `0..<count` of `step` on stream `stream`.
    public func sample(count: Int, random: CounterRandom, step: UInt64 = 0) -> Tensor { sample(0..<count, random: random, step: step) }

    /// Samples `samples` (global indices: sample i's latent depends only on the seed, `step` and i).
    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64 = 0) -> Tensor {
        let z = random.normalTensor(stream: 0x5341_4D50, step: step, samples: samples, shape: [latentSize])
        return withoutGradient { decode(Variable(z)).value }
    }

    /// The interpolation strip between two images' means.
    public func interpolate(_ first: Tensor, _ second: Tensor, steps: Int = 11) -> Tensor {
        withoutGradient {
            let latents = encode(Variable(concatenateBatches([first, second]))).mean.value
            return decode(Variable(interpolationLatents(latents, steps: steps))).value
        }
    }
}
