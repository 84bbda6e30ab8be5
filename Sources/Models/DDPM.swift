// The lecture's denoising diffusion probabilistic model (Ho et al. 2020) on Fashion-MNIST, pixels in [-1, 1].
// Forward: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, betas linear 1e-4 ... 0.02 over T = 1000 (or cosine),
// coefficients in Float64 (TensorCore/DiffusionProcess.swift).
// Training: t uniform over 0 ... T-1, eps ~ N(0, I), loss the mean of (eps - eps_theta(x_t, t))^2 over the batch's
// pixels (the anchor's F.mse_loss); Adam, and an exponential moving average of the weights that samples use.
// Sampling: ancestral (DDPM) or DDIM from the averaged weights, predicted x_0 clipped to [-1, 1]; evaluation
// samples with the job's sampler (DDIM-50 by default) so that FID and KID are affordable.
// Timesteps are 0-based as in the anchor; pictures caption levels as the lecture counts them (x_T ... x_0).

import JobFiles
import TensorCore

// MARK: - Model

/// The DDPM: a U-Net noise predictor, its noise schedule, and the average of its weights.
public final class DDPM: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "ddpm", summary: "a denoising diffusion model (epsilon-prediction U-Net, DDPM and DDIM sampling from an average of the weights)",
            options: [
                .choice("base_channels", default: "32", from: ["8", "16", "24", "32", "48", "64", "96", "128"],
                        help: "channels c_0 of the first level (GroupNorm of 8 groups)"),
                .choice("channel_multipliers", default: "1,2,4", from: ["1,2,4", "1,2,2", "1,1,2", "1,2,3", "1,2"],
                        help: "c_l / c_0 per level (28, 14, 7); quote it in a flow mapping"),
                .integer("residual_blocks", default: 1, in: 1...4, help: "residual blocks per level and direction"),
                .choice("attention", default: "7", from: ["7", "7,14", "none"], help: "map sizes with self-attention after each residual block"),
                .integer("time_embedding", default: 128, in: 8...1024, help: "width E of the time embedding MLP"),
                .integer("sinusoidal_dimension", default: 32, in: 2...1024, help: "size S of the sinusoidal embedding of t (even)"),
                .integer("timesteps", default: 1000, in: 10...2000, help: "T, the number of noise levels"),
                .choice("schedule", default: "linear", from: NoiseSchedule.Kind.allCases.map(\.rawValue), help: "spacing of the betas"),
                .number("beta_start", default: 1e-4, in: 1e-6...0.1, help: "beta of the first level (linear schedule)"),
                .number("beta_end", default: 0.02, in: 1e-5...0.5, help: "beta of the last level (linear schedule)"),
                .number("ema_decay", default: 0.9999, in: 0...1, help: "decay of the weights' moving average that sampling uses"),
                .choice("eval_sampler", default: "ddim", from: ["ddim", "ddpm"], help: "how evaluations and pictures sample"),
                .integer("eval_steps", default: 50, in: 1...2000, help: "DDIM steps of evaluations and pictures"),
                .number("eval_eta", default: 0, in: 0...1, help: "DDIM's eta at evaluations (0: deterministic)"),
                .choice("variance", default: "beta", from: DiffusionSampler.Variance.allCases.map(\.rawValue),
                        help: "sigma_t^2 of ancestral sampling: beta_t or the posterior variance"),
            ],
            groups: [GroupSchema("model", optimizer: .adam(learningRate: 2e-4))],
            data: .images(scale: "symmetric", sampling: "epoch"),
            metrics: ["fid", "kid", "is", "loss"]),
        make: { configuration in
            var unet = UNetConfiguration()
            unet.baseChannels = Int(configuration.text("base_channels"))!
            unet.channelMultipliers = configuration.text("channel_multipliers").split(separator: ",").map { Int($0)! }
            unet.residualBlocks = configuration.integer("residual_blocks")
            let attention = configuration.text("attention")
            unet.attentionSizes = attention == "none" ? [] : Set(attention.split(separator: ",").map { Int($0)! })
            unet.timeEmbedding = configuration.integer("time_embedding")
            unet.sinusoidalDimension = configuration.integer("sinusoidal_dimension") / 2 * 2
            let timesteps = configuration.integer("timesteps")
            let schedule = NoiseSchedule.make(NoiseSchedule.Kind(rawValue: configuration.text("schedule"))!, timesteps: timesteps,
                                              start: configuration.number("beta_start"), end: configuration.number("beta_end"))
            let variance = DiffusionSampler.Variance(rawValue: configuration.text("variance"))!
            let sampler: DiffusionSampler = configuration.text("eval_sampler") == "ddpm" ? .ancestral(variance: variance)
                : .implicit(steps: min(configuration.integer("eval_steps"), timesteps), eta: configuration.number("eval_eta"))
            return DDPM(seed: configuration.seed, unet: unet, schedule: schedule, averageDecay: configuration.number("ema_decay"),
                        evaluationSampler: sampler, optimizer: configuration.optimizer("model"))
        })

    public let group: ParameterGroup
    public let unet: UNet
    public let schedule: NoiseSchedule
    /// The moving average of the weights that sampling uses.
    public let average: WeightAverage
    /// How evaluations and pictures sample.
    public let evaluationSampler: DiffusionSampler
    static let timestepStream: UInt32 = 0x4444_5054, noiseStream: UInt32 = 0x4444_504E
    static let startStream: UInt32 = 0x4444_5058, freshNoiseStream: UInt32 = 0x4444_505A

    public init(seed: UInt64, unet configuration: UNetConfiguration = UNetConfiguration(), schedule: NoiseSchedule = .linear(timesteps: 1000),
                averageDecay: Double = 0.9999, evaluationSampler: DiffusionSampler = .implicit(steps: 50, eta: 0),
                optimizer: any Optimizer = Adam(learningRate: 2e-4)) {
        group = ParameterGroup(name: "model", seed: seed, optimizer: optimizer)
        unet = UNet(group, configuration)
        self.schedule = schedule
        average = WeightAverage(group, decay: averageDecay)
        self.evaluationSampler = evaluationSampler
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .symmetric }

    // MARK: - Loss and step

    /// Uniform timesteps of global samples `samples` of `step`.
    func timesteps(_ random: CounterRandom, step: UInt64, samples: Range<Int>) -> [Int] {
        samples.map { min(Int(random.uniforms(stream: Self.timestepStream, step: step, sample: UInt64($0), count: 1)[0] * Float(schedule.timesteps)),
                          schedule.timesteps - 1) }
    }

    /// The sum over `images` of each image's mean squared error `mean((eps - eps_theta(x_t, t))^2)`, times `weight`;
    /// t and eps drawn for global samples `context.firstSample...` of `context.step`.
    public func loss(_ images: Tensor, context: ForwardContext, weight: Float) -> Variable {
        let samples = context.firstSample..<(context.firstSample + images.shape[0])
        let t = timesteps(context.random, step: context.step, samples: samples)
        let eps = context.random.normalTensor(stream: Self.noiseStream, step: context.step, samples: samples, shape: Array(images.shape.dropFirst()))
        let predicted = unet(Variable(schedule.noised(images, noise: eps, timesteps: t)), timesteps: t)
        return sum(pow(predicted - Variable(eps), 2)) * (weight / Float(images.count / max(images.shape[0], 1)))
    }

    /// One Adam step on the global batch's mean loss, then the average moves towards the new weights.
    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let share = context.share(of: context.globalBatch)
        let value = try context.descend(group) { loss(batch.images, context: context.forward(samples: share.samples), weight: share.sumWeight) }
        average.update(iteration: group.optimizer!.iterations)
        return ["loss": value]
    }

    // MARK: - Sampling

    /// Samples `samples` with `sampler` from the averaged weights; x_T and every z of sample i depend only on the seed,
    /// `step` and i. `observe(level, x)` sees x at each visited level (see `reverseDiffusion`).
    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64 = 0, sampler: DiffusionSampler,
                       observe: (Int, Tensor) -> Void = { _, _ in }) -> Tensor {
        let shape = [1, 28, 28], counter = step << 11
        return average.withAveragedWeights {
            withoutGradient {
                reverseDiffusion(
                    from: random.normalTensor(stream: Self.startStream, step: counter, samples: samples, shape: shape), schedule: schedule, sampler: sampler,
                    predictNoise: { x, t in self.unet(Variable(x), timesteps: Array(repeating: t, count: samples.count)).value },
                    freshNoise: { random.normalTensor(stream: Self.freshNoiseStream, step: counter + UInt64($0) + 1, samples: samples, shape: shape) },
                    observe: observe)
            }
        }
    }

    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64) -> Tensor {
        sample(samples, random: random, step: step, sampler: evaluationSampler)
    }

    /// x at about `columns` visited levels from x_T to x_0 for samples `samples`, one row per sample.
    public func trajectory(_ samples: Range<Int>, random: CounterRandom, sampler: DiffusionSampler, columns: Int = 10) -> Picture {
        let visited = sampler.timesteps(of: schedule).count + 1  // the start, after each step
        let kept = Set((0..<columns).map { $0 * (visited - 1) / max(columns - 1, 1) })
        var states: [(level: Int, x: Tensor)] = [], index = 0
        _ = sample(samples, random: random, sampler: sampler) { level, x in
            if kept.contains(index) { states.append((level, x)) }
            index += 1
        }
        // Row r, column c: sample r at the c-th kept level.
        let pixels = 28 * 28, values = states.map(\.x.scalars)
        let images = Tensor(shape: [samples.count * states.count, 1, 28, 28], values: (0..<samples.count).flatMap { row in
            values.flatMap { $0[(row * pixels)..<((row + 1) * pixels)] }
        })
        return Picture(name: "trajectory", title: "Denoising trajectories (\(sampler)): x_t from noise to image", images: images,
                       columns: states.count, columnCaptions: states.map { "t = \($0.level)" })
    }

    // MARK: - Pictures

    public var curvePanels: [CurvePanel] { [CurvePanel(title: "mean squared error of the predicted noise", series: [("loss", "training")])] }

    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] {
        evaluationPictures(random: random) + [trajectory(0..<4, random: random, sampler: evaluationSampler)]
    }

    public func evaluationPictures(random: CounterRandom) -> [Picture] {
        [Picture(name: "samples", title: "40 samples (\(evaluationSampler), averaged weights)", images: sample(0..<40, random: random, step: 0), columns: 10)]
    }
}

extension DDPM: DiffusionImageSampler {
    public var timesteps: Int { schedule.timesteps }
}

extension DDPM: ValidationLoss {
    public func validationLossSum(_ images: Tensor, firstSample: Int, random: CounterRandom) -> Double {
        let context = ForwardContext(training: false, random: random, step: 0, firstSample: firstSample)
        return Double(withoutGradient { loss(images, context: context, weight: 1).value.scalar })
    }
}

// MARK: - Export and inference

extension DDPM: PyTorchExportable, InferencePasses {
    /// The U-Net under the anchor's names, then its average under `ema.` (a PyTorch twin holds a second U-Net `ema`).
    public var pytorchLayers: [any PyTorchLayer] { unet.pytorchLayers + [average] }

    /// eps_theta(x, t) of the trained weights at t = 0, T/2 and T-1.
    public var inferencePasses: [InferencePass] {
        [0, schedule.timesteps / 2, schedule.timesteps - 1].map { t in
            InferencePass(name: "epsilon_t\(t)", sampleShape: [1, 28, 28]) { self.unet(Variable($0), timesteps: Array(repeating: t, count: $0.shape[0])).value }
        }
    }
}
