import ArgumentParser
import Communication
import DataIO
import DistributedTraining
import Evaluation
import Foundation
import JobFiles
import Models
import TensorCore

/// A checkpoint's samples as a grid picture and/or a `.npy` of bytes, sharded across ranks under mpirun (the same
/// bytes on any number of ranks, and the same images `gentrain eval` scores); or, for a model that encodes
/// images, the course's latent interpolation strip between two test images.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a checkpoint's samples (a grid PNG and/or uint8 .npy [N, 28, 28]), sharded under mpirun; or --interpolate I,J.")

    @Argument(help: "A checkpoint file (.gtck).") var checkpoint: String
    @Option(help: "Samples to draw.") var count = 64
    @Option(help: "Seed of the latents (default: the job's; `gentrain eval` with the same seed scores the same samples).") var seed: UInt64?
    @Option(help: "Write the samples (or the interpolation strip) as a PNG picture.") var output: String?
    @Option(help: "Write the samples (or the strip) as a .npy of uint8 [N, 28, 28], quantized as the metrics quantize them.") var npy: String?
    @Option(help: "Images per row of the grid.") var columns = 10
    @Option(help: "I,J: the 11-step latent interpolation between test images I and J (models that encode images).") var interpolate: String?
    @Option(help: "Diffusion models: \(DiffusionSampler.Kind.ancestral.rawValue) (ancestral, all T steps) or \(DiffusionSampler.Kind.implicit.rawValue) (default: the job's evaluation sampler).") var sampler: String?
    @Option(help: "Diffusion models: DDIM steps (default 50).") var steps: Int?
    @Option(help: "Diffusion models: DDIM's eta, 0 (deterministic) ... 1 (default 0).") var eta: Double?
    @Option(help: "Diffusion models: sigma_t^2 of --sampler \(DiffusionSampler.Kind.ancestral.rawValue), beta or posterior (default beta).") var variance: String?
    @Option(help: "Diffusion models: also write the denoising trajectory of the first 4 samples (x_t at 10 levels) as a PNG.") var trajectory: String?

    /// Samples drawn per forward pass, at global indices that are multiples of it: the passes a one-rank `gentrain eval`
    /// makes (`ImageEvaluation.batchSize`), whatever the number of ranks.
    static let chunk = 250
    /// Images the grid shows at most (the .npy holds them all).
    static let gridLimit = 1000

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard columns >= 1 else { throw ValidationError("--columns must be at least 1") }
        guard output != nil || npy != nil || trajectory != nil else { throw ValidationError("give --output FILE.png and/or --npy FILE.npy") }
        if let sampler, DiffusionSampler.Kind(rawValue: sampler) == nil {
            throw ValidationError("--sampler is \(samplerNames), not '\(sampler)'")
        }
        if let variance, DiffusionSampler.Variance(rawValue: variance) == nil {
            throw ValidationError("--variance is beta or posterior, not '\(variance)'")
        }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let eta, !(0...1).contains(eta) { throw ValidationError("--eta must lie in 0...1") }
        let kind = sampler.flatMap(DiffusionSampler.Kind.init(rawValue:))
        if kind == .ancestral, steps != nil || eta != nil { throw ValidationError("--steps and --eta are DDIM's: give --sampler \(DiffusionSampler.Kind.implicit.rawValue)") }
        if kind == .implicit, variance != nil { throw ValidationError("--variance is DDPM's: give --sampler \(DiffusionSampler.Kind.ancestral.rawValue)") }
        if interpolate != nil, diffusionOptionGiven { throw ValidationError("--interpolate draws no diffusion samples: leave out --sampler, --steps, --eta, --variance, --trajectory") }
        if interpolate != nil, interpolationIndices() == nil { throw ValidationError("--interpolate takes two test image indices, e.g. 3,17") }
    }

    /// The two indices of `--interpolate I,J`, nil when it does not hold two non-negative numbers.
    func interpolationIndices() -> (Int, Int)? {
        guard let interpolate else { return nil }
        let parts = interpolate.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let first = parts[0], let second = parts[1], first >= 0, second >= 0 else { return nil }
        return (first, second)
    }

    func run() throws {
        try runOnWorld("sample") { communicator in
            if let indices = interpolationIndices() {
                try agreeOnSuccess(communicator) { if communicator.rank == 0 { try writeInterpolation(indices.0, indices.1) } }
            } else {
                try drawSamples(communicator)
            }
        }
    }

    var samplerNames: String { DiffusionSampler.Kind.allCases.map(\.rawValue).joined(separator: " or ") }

    var diffusionOptionGiven: Bool { sampler != nil || steps != nil || eta != nil || variance != nil || trajectory != nil }

    /// The sampler the options choose for a diffusion model of `timesteps` levels (nil: the job's).
    func diffusionSampler(timesteps: Int) throws -> DiffusionSampler? {
        switch sampler.flatMap(DiffusionSampler.Kind.init(rawValue:)) {
        case .ancestral: return .ancestral(variance: DiffusionSampler.Variance(rawValue: variance ?? "beta")!)
        case .implicit:
            let steps = steps ?? 50
            guard steps <= timesteps else { throw ValidationError("--steps \(steps): the model has only \(timesteps) noise levels") }
            return .implicit(steps: steps, eta: eta ?? 0)
        case nil:
            guard steps == nil, eta == nil, variance == nil else { throw ValidationError("--steps, --eta and --variance need --sampler \(samplerNames)") }
            return nil
        }
    }

    // MARK: - Samples

    func drawSamples(_ communicator: Communicator) throws {
        let (job, model, saved, sampler) = try onRankZeroFirst(communicator) { () throws -> (Job, any TrainableModel, Checkpoint, any ImageSampler) in
            let (job, model, saved) = try loadModel(checkpointPath: checkpoint)
            guard let sampler = model as? any ImageSampler else {
                let hint = model is any LatentInterpolator ? ": it encodes images; --interpolate I,J draws the latent path between two test images"
                    : model is any ImageClassifier ? ": it labels images (gentrain eval reports its accuracy)" : ""
                throw ValidationError("\(checkpoint): the \(job.modelKind) model draws no samples\(hint)")
            }
            if let shape = job.sampleShape, shape != [1, 28, 28] {
                throw ValidationError("\(checkpoint): the \(job.modelKind) model draws rows of \(shape.reduce(1, *)) values, not images "
                                      + "(its fit and samples are in the run's log and metrics.jsonl; gentrain export writes its arrays)")
            }
            if diffusionOptionGiven, !(sampler is any DiffusionImageSampler) {
                throw ValidationError("\(checkpoint): the \(job.modelKind) model is not a diffusion model; --sampler, --steps, --eta, --variance "
                                      + "and --trajectory apply to diffusion models only")
            }
            return (job, model, saved, sampler)
        }
        let diffusion = sampler as? any DiffusionImageSampler
        let chosen = try onRankZeroFirst(communicator) { try diffusion.flatMap { try diffusionSampler(timesteps: $0.timesteps) } }
        let seed = seed ?? job.seed
        let random = evaluationRandom(seed: seed)
        let chunks = FeatureShard.rows(of: (count + Self.chunk - 1) / Self.chunk, rank: communicator.rank, worldSize: communicator.size)
        var mine: [Double] = []
        for chunk in chunks {
            let range = (chunk * Self.chunk)..<min((chunk + 1) * Self.chunk, count)
            let images = if let diffusion, let chosen { diffusion.sample(range, random: random, step: 0, sampler: chosen, observe: { _, _ in }) }
                else { sampler.sample(range, random: random, step: 0) }
            mine += images.scalars.map { Double(model.scaling.byte($0)) }
        }
        let all = try communicator.gather(mine)
        if let trajectory, let diffusion {
            try agreeOnSuccess(communicator) {
                guard communicator.rank == 0 else { return }
                let how = chosen ?? diffusion.evaluationSampler
                let picture = diffusion.trajectory(0..<min(4, count), random: random, sampler: how, columns: 10)
                let bytes = picture.images.scalars.map { model.scaling.byte($0) }
                try captionedGrid(bytes, imageHeight: 28, imageWidth: 28, columns: picture.columns, title: picture.title + " (\(job.name), step \(saved.step))",
                                  columnCaptions: picture.columnCaptions).writePNG(to: trajectory)
            }
        }
        guard communicator.rank == 0 else { return }
        let bytes = all.map { UInt8($0) }
        var written: [String] = []
        if let npy {
            try writeNumPy(bytes, shape: [count, 28, 28], to: npy)
            written.append("\(npy) (uint8 [\(count), 28, 28])")
        }
        if let output {
            let shown = min(count, Self.gridLimit)
            let title = (shown < count ? "the first \(shown) of " : "") + "\(count) samples of \(job.name), step \(saved.step), seed \(seed)"
            try captionedGrid(Array(bytes.prefix(shown * 784)), imageHeight: 28, imageWidth: 28, columns: columns, title: title).writePNG(to: output)
            written.append(output)
        }
        if let trajectory { written.append(trajectory + " (trajectory)") }
        let how = diffusion.map { " with \(chosen ?? $0.evaluationSampler)" } ?? ""
        print("\(count) samples of \(checkpoint) (step \(saved.step), seed \(seed))\(how) on \(communicator.size) rank(s): " + written.joined(separator: ", "))
    }

    // MARK: - Interpolation

    /// The course's figure: test images I and J at the ends, between them the 11 decoded points
    /// `(1 - a) z_I + a z_J`, each titled with its a = 0.0 ... 1.0.
    func writeInterpolation(_ first: Int, _ second: Int) throws {
        let (job, model, saved) = try loadModel(checkpointPath: checkpoint)
        guard let interpolator = model as? any LatentInterpolator else {
            let hint = model is any ImageSampler ? "; it draws samples: leave out --interpolate" : ""
            throw ValidationError("\(checkpoint): the \(job.modelKind) model does not encode images, so it has no latent path to draw\(hint)")
        }
        let resources = try EvaluationResources(job: job, metrics: [], reference: "test", evaluatorPath: nil)
        let test = resources.reference
        if let outside = [first, second].first(where: { $0 >= test.count }) {
            throw ValidationError("--interpolate: there is no test image \(outside); the test split (\(resources.referenceName)) holds \(test.count) images, 0...\(test.count - 1)")
        }
        let strip = interpolator.interpolate(test.batch([first], scaling: model.scaling), test.batch([second], scaling: model.scaling), steps: 11)
        let stripBytes = strip.scalars.map { model.scaling.byte($0) }
        let size = test.imageSize
        let ends = (test.pixels[(first * size)..<((first + 1) * size)], test.pixels[(second * size)..<((second + 1) * size)])
        if let npy { try writeNumPy(stripBytes, shape: [11, 28, 28], to: npy) }
        if let output {
            let weights = (0...10).map { String(format: "%.1f", Double($0) / 10) }
            let title = "(1 - a) z_\(first) + a z_\(second): test images \(first) and \(second) at the ends (\(job.name), step \(saved.step))"
            try captionedGrid(Array(ends.0) + stripBytes + Array(ends.1), imageHeight: test.rows, imageWidth: test.columns, columns: 13, scale: 4, title: title,
                              captions: ["test \(first)"] + weights + ["test \(second)"], widerGapAfterColumns: [0, 11]).writePNG(to: output)
        }
        print("latent interpolation of \(checkpoint) (step \(saved.step)) between test images \(first) and \(second): "
              + [output, npy.map { "\($0) (uint8 [11, 28, 28])" }].compactMap { $0 }.joined(separator: ", "))
    }
}
