// The discrete VAE: the course's VAE trunk and decoder around categorical latents, 30 variables of 10
// categories each (the Gumbel-softmax VAE of Jang, Gu and Poole 2017, whose MNIST example has these sizes).
// Encoder: the autoencoder's trunk -> Dense(30 * 10) logits; q(z_v | x) = softmax over variable v's 10 categories.
// Training code: the Gumbel-softmax relaxation y = softmax((logits + g) / tau), g standard Gumbel noise, the
// temperature annealed as tau = max(0.5, exp(-r step)) (r: model.temperature_decay); `relaxation: hard` is the
// straight-through variant (one-hot forward, the relaxed sample's gradient).
// Decoder: the VAE's, from the 300 code values, sigmoid output.
// Loss per image: sum over pixels of binary cross-entropy + kl_weight * sum over the variables of
// KL(q(z_v | x) || uniform) = sum_k q log(K q), averaged over the batch.
// The test-set negative ELBO (kl_weight 1) draws z exactly from q: one-hot argmax(logits + g).

import Foundation
import JobFiles
import TensorCore

/// The discrete (categorical-latent) variational autoencoder.
public final class DiscreteVariationalAutoencoder: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "dvae", summary: "a discrete VAE: categorical latents through the Gumbel-softmax relaxation, KL to the uniform prior",
            options: [
                .integer("variables", default: 30, in: 1...1024, help: "number of categorical latent variables"),
                .integer("categories", default: 10, in: 2...1024, help: "categories of each latent variable"),
                .number("temperature_decay", default: 3e-5, in: 0...1, help: "r in the temperature tau = max(min_temperature, exp(-r * step))"),
                .number("min_temperature", default: 0.5, in: 0.01...10, help: "the temperature's floor"),
                .number("kl_weight", default: 1, in: 0...100, help: "weight of the KL term in the training loss (the reported ELBO uses 1)"),
                .choice("relaxation", default: "soft", from: ["soft", "hard"],
                        help: "soft: the Gumbel-softmax sample; hard: its one-hot argmax forward with the soft sample's gradient (straight-through)"),
            ],
            groups: [GroupSchema("model", optimizer: .adam())],
            data: .images(scale: "unit", sampling: "epoch"),
            metrics: ["fid", "kid", "is", "loss"]),
        make: {
            DiscreteVariationalAutoencoder(
                seed: $0.seed, variables: $0.integer("variables"), categories: $0.integer("categories"),
                temperatureDecay: $0.number("temperature_decay"), minimumTemperature: $0.number("min_temperature"),
                divergenceWeight: Float($0.number("kl_weight")), straightThrough: $0.text("relaxation") == "hard", optimizer: $0.optimizer("model"))
        })

    public let variables: Int
    public let categories: Int
    /// r in tau = max(minimumTemperature, exp(-r step)).
    public let temperatureDecay: Double
    public let minimumTemperature: Double
    public let divergenceWeight: Float
    /// The straight-through (hard) Gumbel-softmax instead of the relaxed sample.
    public let straightThrough: Bool
    public let group: ParameterGroup
    let trunk: ConvolutionalEncoderTrunk
    let toLogits: Dense
    let decoder: ConvolutionalDecoder
    /// Counter-based streams: the training noise, the noise of the ELBO's exact draws, the prior's samples.
    static let noiseStream: UInt32 = 0x4456_4E31
    static let evaluationNoiseStream: UInt32 = 0x4456_4E32
    static let priorStream: UInt32 = 0x4456_5052

    public init(seed: UInt64, variables: Int = 30, categories: Int = 10, temperatureDecay: Double = 3e-5, minimumTemperature: Double = 0.5,
                divergenceWeight: Float = 1, straightThrough: Bool = false, optimizer: any Optimizer = Adam()) {
        self.variables = variables
        self.categories = categories
        self.temperatureDecay = temperatureDecay
        self.minimumTemperature = minimumTemperature
        self.divergenceWeight = divergenceWeight
        self.straightThrough = straightThrough
        group = ParameterGroup(name: "model", seed: seed, optimizer: optimizer)
        trunk = ConvolutionalEncoderTrunk(group)
        toLogits = Dense(group, name: "encoder.logits", inputSize: 7 * 7 * 64, outputSize: variables * categories)
        decoder = ConvolutionalDecoder(group, latentSize: variables * categories, lastActivation: .linear)
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }

    /// The Gumbel-softmax temperature at optimizer step `step` (0 for the first).
    public func temperature(atStep step: UInt64) -> Float {
        Float(max(minimumTemperature, Foundation.exp(-temperatureDecay * Double(step))))
    }

    /// Images [N, 1, 28, 28] -> logits [N, variables, categories] of q(z | x).
    public func encode(_ x: Variable) -> Variable { reshape(toLogits(trunk(x)), [x.shape[0], variables, categories]) }

    /// Codes [N, variables, categories] (one-hot or relaxed) -> decoder logits [N, 1, 28, 28].
    func decoderLogits(_ code: Variable) -> Variable { decoder(reshape(code, [code.shape[0], variables * categories])) }

    /// Codes -> pixel probabilities [N, 1, 28, 28].
    public func decode(_ code: Variable) -> Variable { sigmoid(decoderLogits(code)) }

    // MARK: - Loss and step

    /// Reconstruction + kl_weight * KL summed over `images` times `weight` (a share's `sumWeight`), and the two terms
    /// (the KL unweighted), with the Gumbel-softmax code at this step's temperature.
    public func loss(_ images: Tensor, context: ForwardContext, weight: Float) -> (total: Variable, reconstruction: Variable, divergence: Variable) {
        let logits = encode(Variable(images))
        let samples = context.firstSample..<(context.firstSample + images.shape[0])
        let noise = context.random.gumbelTensor(stream: Self.noiseStream, step: context.step, samples: samples, shape: [variables, categories])
        let code = gumbelSoftmax(logits, noise: noise, temperature: temperature(atStep: context.step), hard: straightThrough)
        let reconstruction = sum(binaryCrossEntropyElements(logits: decoderLogits(code), targets: images)) * weight
        let divergence = sum(categoricalDivergenceFromUniform(logits: logits)) * weight
        return (reconstruction + divergence * divergenceWeight, reconstruction, divergence)
    }

    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let share = context.share(of: context.globalBatch)
        var terms: (reconstruction: Variable, divergence: Variable)?
        let total = try context.descend(group) {
            let (total, reconstruction, divergence) = loss(batch.images, context: context.forward(samples: share.samples), weight: share.sumWeight)
            terms = (reconstruction, divergence)
            return total
        }
        return ["loss": total, "reconstruction": terms!.reconstruction.value.scalar, "kl": terms!.divergence.value.scalar,
                "temperature": temperature(atStep: context.forward.step) * share.meanWeight]
    }

    /// The negative ELBO's two terms summed over `images`: binary cross-entropy of the decoding of z drawn exactly
    /// from q (one-hot argmax(logits + g), g for samples `firstSample...`), and KL(q || uniform); nats.
    public func negativeELBOTerms(_ images: Tensor, firstSample: Int, random: CounterRandom) -> (reconstruction: Double, divergence: Double) {
        withoutGradient {
            let logits = encode(Variable(images))
            let samples = firstSample..<(firstSample + images.shape[0])
            let noise = random.gumbelTensor(stream: Self.evaluationNoiseStream, step: 0, samples: samples, shape: [variables, categories])
            let code = oneHotOfLargest((logits + Variable(noise)).value)
            let reconstruction = sum(binaryCrossEntropyElements(logits: decoderLogits(Variable(code)), targets: images)).value.scalar
            let divergence = sum(categoricalDivergenceFromUniform(logits: logits)).value.scalar
            return (Double(reconstruction), Double(divergence))
        }
    }

    // MARK: - Pictures and samples

    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] { evaluationPictures(random: random) }

    public func evaluationPictures(random: CounterRandom) -> [Picture] {
        [Picture(name: "samples", title: "40 samples decoded from codes drawn from the uniform prior", images: sample(0..<40, random: random), columns: 10)]
    }

    /// Samples `samples` from the prior: each variable's category uniform, one-hot, decoded (sample i's code depends
    /// only on the seed, `step` and i).
    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64 = 0) -> Tensor {
        var codes = Tensor(zeros: [samples.count, variables, categories])
        codes.withUnsafeMutableBufferPointer { buffer in
            for (row, sample) in samples.enumerated() {
                let uniforms = random.uniforms(stream: Self.priorStream, step: step, sample: UInt64(sample), count: variables)
                for variable in 0..<variables {
                    let category = min(Int(uniforms[variable] * Float(categories)), categories - 1)
                    buffer[(row * variables + variable) * categories + category] = 1
                }
            }
        }
        return withoutGradient { decode(Variable(codes)).value }
    }

    /// Each image's most probable code (argmax of each variable's logits) decoded.
    public func reconstruct(_ images: Tensor) -> Tensor {
        withoutGradient { decode(Variable(oneHotOfLargest(encode(Variable(images)).value))).value }
    }
}

extension DiscreteVariationalAutoencoder: ImageSampler {}

extension DiscreteVariationalAutoencoder: HeldOutPictures {
    /// Test images above the decodings of their most probable codes.
    public func heldOutPictures(_ images: Tensor) -> [Picture] {
        [Picture(name: "reconstructions", title: "top: test images, bottom: decoded from their most probable categorical codes",
                 images: concatenateBatches([images, reconstruct(images)]), columns: images.shape[0])]
    }
}

extension DiscreteVariationalAutoencoder: ValidationLoss {
    public func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double {
        let terms = negativeELBOTerms(images, firstSample: firstSample, random: random)
        return terms.reconstruction + terms.divergence
    }

    /// `reconstruction` and `kl`: their sum is the negative ELBO.
    public var validationTermNames: [String] { ["reconstruction", "kl"] }

    public func validationTermSums(_ images: Tensor, firstSample: Int, random: CounterRandom) -> [Double] {
        let terms = negativeELBOTerms(images, firstSample: firstSample, random: random)
        return [terms.reconstruction, terms.divergence]
    }
}

// MARK: - Export and inference

extension DiscreteVariationalAutoencoder: PyTorchExportable, InferencePasses {
    public var pytorchLayers: [any PyTorchLayer] { trunk.pytorchLayers + [toLogits as any PyTorchLayer] + decoder.pytorchLayers }

    /// `logits` and `reconstruction` (decoded from the most probable code) of images, `decoded` of codes.
    public var inferencePasses: [InferencePass] {
        [InferencePass(name: "logits", sampleShape: [1, 28, 28]) { self.encode(Variable($0)).value },
         InferencePass(name: "reconstruction", sampleShape: [1, 28, 28]) { self.reconstruct($0) },
         InferencePass(name: "decoded", sampleShape: [variables, categories]) { self.decode(Variable($0)).value }]
    }
}
