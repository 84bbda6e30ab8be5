// The course's VAE (z = 32, Adam, batch 128): the autoencoder's trunk, two Dense(32) heads for mu and
// log-variance, the same decoder with a sigmoid output.
// Loss per image: sum over pixels of binary cross-entropy + KL = -0.5 sum(1 + logvar - mu^2 - e^logvar),
// averaged over the batch. z = mu + e^(logvar/2) eps, eps ~ N(0, I) (the course's 0.1 is an option).
// The reconstruction term is computed from the decoder's logits (the stable form of sigmoid + BCE).

import JobFiles
import TensorCore

/// The variational autoencoder.
public final class VariationalAutoencoder: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "vae", summary: "the course's variational autoencoder (BCE + KL), with samples and latent interpolation",
            options: [
                .integer("latent", default: 32, in: 1...4096, help: "size of the latent code z"),
                .number("noise_scale", default: 1, in: 0...10, help: "standard deviation of eps in z = mu + exp(logvar/2) eps (the course drew 0.1)"),
            ],
            groups: [GroupSchema("model", optimizer: .adam())],
            data: .images(scale: "unit", sampling: "epoch"),
            metrics: ["fid", "kid", "is", "loss"], accumulates: true),
        make: {
            VariationalAutoencoder(seed: $0.seed, latentSize: $0.integer("latent"), noiseScale: Float($0.number("noise_scale")),
                                   optimizer: $0.optimizer("model"))
        })

    public let latentSize: Int
    /// Standard deviation of eps in the reparameterisation (1 by definition; the course used 0.1).
    public let noiseScale: Float
    public let group: ParameterGroup
    let trunk: ConvolutionalEncoderTrunk
    let meanHead: Dense
    let logVarianceHead: Dense
    let decoder: ConvolutionalDecoder
    /// Counter-based stream for eps.
    static let noiseStream: UInt32 = 0x5641_4531

    public init(seed: UInt64, latentSize: Int = 32, noiseScale: Float = 1, optimizer: any Optimizer = Adam()) {
        self.latentSize = latentSize
        self.noiseScale = noiseScale
        group = ParameterGroup(name: "model", seed: seed, optimizer: optimizer)
        trunk = ConvolutionalEncoderTrunk(group)
        meanHead = Dense(group, name: "encoder.mean", inputSize: 7 * 7 * 64, outputSize: latentSize)
        logVarianceHead = Dense(group, name: "encoder.log_variance", inputSize: 7 * 7 * 64, outputSize: latentSize)
        decoder = ConvolutionalDecoder(group, latentSize: latentSize, lastActivation: .linear)
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }

    /// Images -> (mu, log-variance), each [N, z].
    public func encode(_ x: Variable) -> (mean: Variable, logVariance: Variable) {
        let features = trunk(x)
        return (meanHead(features), logVarianceHead(features))
    }

    /// Latents -> pixel probabilities [N, 1, 28, 28].
    public func decode(_ z: Variable) -> Variable { sigmoid(decoder(z)) }

    // MARK: - Loss and step

    /// Reconstruction + KL summed over `images` times `weight` (a share's `sumWeight`), and the two terms.
    public func loss(_ images: Tensor, context: ForwardContext, weight: Float) -> (total: Variable, reconstruction: Variable, divergence: Variable) {
        let (mu, logVariance) = encode(Variable(images))
        let samples = context.firstSample..<(context.firstSample + images.shape[0])
        let eps = context.random.normalTensor(stream: Self.noiseStream, step: context.step, samples: samples, shape: [latentSize])
        let z = mu + exp(logVariance * 0.5) * Variable(eps) * noiseScale
        let logits = decoder(z)
        let reconstruction = sum(binaryCrossEntropyElements(logits: logits, targets: images)) * weight
        let divergence = sum(1 + logVariance - mu * mu - exp(logVariance)) * (-0.5 * weight)
        return (reconstruction + divergence, reconstruction, divergence)
    }

    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let share = context.share(of: context.globalBatch)
        var reconstruction: Float = 0, divergence: Float = 0
        let total = try context.descend(group, over: share) { piece in
            let terms = loss(batch.images.rows(piece.rows), context: context.forward(samples: piece.samples), weight: piece.sumWeight)
            reconstruction += terms.reconstruction.value.scalar
            divergence += terms.divergence.value.scalar
            return terms.total
        }
        return ["loss": total, "reconstruction": reconstruction, "kl": divergence]
    }

    // MARK: - Pictures

    public var curvePanels: [CurvePanel] {
        [CurvePanel(title: "negative ELBO per image", series: [("loss", "reconstruction + KL"), ("reconstruction", "reconstruction")])]
    }

    /// Samples decoded from z ~ N(0, I), and the 11-step strip between the first two examples' means.
    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] {
        [Picture(name: "samples", title: "40 samples decoded from standard normal latents z", images: sample(count: 40, random: random), columns: 10)]
            + interpolationPicture(examples, interpolate)
    }

    public func evaluationPictures(random: CounterRandom) -> [Picture] {
        [Picture(name: "samples", title: "40 samples decoded from standard normal latents z", images: sample(0..<40, random: random), columns: 10)]
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

extension VariationalAutoencoder: ImageSampler {}

extension VariationalAutoencoder: LatentInterpolator {}

extension VariationalAutoencoder: ValidationLoss {
    public func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double {
        let context = ForwardContext(training: false, random: random, step: 0, firstSample: firstSample)
        return Double(withoutGradient { loss(images, context: context, weight: 1).total.value.scalar })
    }
}

// MARK: - Export and inference

extension VariationalAutoencoder: PyTorchExportable, InferencePasses {
    public var pytorchLayers: [any PyTorchLayer] { trunk.pytorchLayers + [meanHead as any PyTorchLayer, logVarianceHead] + decoder.pytorchLayers }

    /// `mean`, `log_variance` and `reconstruction` (decoded from the mean) of images, `decoded` of latents.
    public var inferencePasses: [InferencePass] {
        [InferencePass(name: "mean", sampleShape: [1, 28, 28]) { self.encode(Variable($0)).mean.value },
         InferencePass(name: "log_variance", sampleShape: [1, 28, 28]) { self.encode(Variable($0)).logVariance.value },
         InferencePass(name: "reconstruction", sampleShape: [1, 28, 28]) { self.decode(self.encode(Variable($0)).mean).value },
         InferencePass(name: "decoded", sampleShape: [latentSize]) { self.decode(Variable($0)).value }]
    }
}
