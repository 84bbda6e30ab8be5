import Foundation
import Testing
@testable import TensorCore

/// Per-pixel mean and standard deviation of samples [N, P...] about `centre` (one value per pixel).
private func moments(_ samples: Tensor, about centre: [Double]) -> (meanError: Double, standardDeviation: Double) {
    let values = samples.scalars, pixels = centre.count, count = values.count / pixels
    var worstMean = 0.0, squares = 0.0
    for pixel in 0..<pixels {
        let column = (0..<count).map { Double(values[$0 * pixels + pixel]) - centre[pixel] }
        let mean = column.reduce(0, +) / Double(count)
        worstMean = max(worstMean, abs(mean))
        squares += column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count - 1)
    }
    return (worstMean, (squares / Double(pixels)).squareRoot())
}

/// Data x_0 ~ N(mu, s^2 I) per pixel, and the noise predictor that is exact for it:
/// E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar).
private struct GaussianData {
    let means: [Double], deviation: Double
    func optimalNoise(_ schedule: NoiseSchedule) -> (Tensor, Int) -> Tensor {
        { x, t in
            let abar = schedule.alphaBars[t], pixels = means.count
            let scale = (1 - abar).squareRoot() / (abar * deviation * deviation + 1 - abar)
            let values = x.scalars.enumerated().map { index, value in Float(scale * (Double(value) - abar.squareRoot() * means[index % pixels])) }
            return Tensor(shape: x.shape, values: values)
        }
    }
}

@Suite struct DiffusionProcessTests {
    static let schedule = NoiseSchedule.linear(timesteps: 1000)
    static let random = CounterRandom(seed: 11)

    static func noise(_ count: Int, step: UInt64, shape: [Int] = [1, 2, 2]) -> Tensor {
        random.normalTensor(stream: 7, step: step, samples: 0..<count, shape: shape)
    }

    @Test func schedulesHoldTheirDefinitions() {
        let linear = Self.schedule
        #expect(linear.betas.first == 1e-4 && abs(linear.betas.last! - 0.02) < 1e-15 && linear.timesteps == 1000)
        #expect(abs(linear.betas[500] - (1e-4 + 0.0199 * 500 / 999)) < 1e-15)
        var product = 1.0
        for t in 0..<1000 {
            product *= 1 - linear.betas[t]
            #expect(linear.alphaBars[t] == product)
        }
        // abar_T of the linear schedule is 4.0e-5: x_T is noise.
        #expect(abs(linear.alphaBars[999] - 4.035e-5) < 1e-7)
        #expect(linear.alphaBarBefore(0) == 1 && linear.posteriorVariance(0) == 0)
        #expect(abs(linear.posteriorVariance(10) - linear.betas[10] * (1 - linear.alphaBars[9]) / (1 - linear.alphaBars[10])) < 1e-18)
        // Cosine: abar_t = f(t + 1) / f(0) while no beta is clipped.
        let cosine = NoiseSchedule.cosine(timesteps: 100)
        func f(_ t: Double) -> Double { pow(cos((t / 100 + 0.008) / 1.008 * Double.pi / 2), 2) }
        #expect(abs(cosine.alphaBars[49] - f(50) / f(0)) < 1e-12)
        #expect(cosine.betas.allSatisfy { $0 <= 0.999 } && cosine.betas.last == 0.999)
    }

    /// x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps over 4000 draws: mean sqrt(abar_t) x_0, variance 1 - abar_t.
    @Test(arguments: [0, 250, 999]) func forwardNoisingMatchesItsClosedFormInDistribution(t: Int) {
        let draws = 4000, image: [Float] = [-1, -0.25, 0.5, 1]
        let x0 = Tensor(shape: [draws, 1, 2, 2], values: (0..<draws).flatMap { _ in image })
        let xt = Self.schedule.noised(x0, noise: Self.noise(draws, step: UInt64(t)), timesteps: Array(repeating: t, count: draws))
        let abar = Self.schedule.alphaBars[t]
        let (meanError, deviation) = moments(xt, about: image.map { abar.squareRoot() * Double($0) })
        let spread = (1 - abar).squareRoot()
        #expect(meanError < 4 * spread / Double(draws).squareRoot() + 1e-6)
        #expect(abs(deviation - spread) < 0.04 * spread + 1e-6)
        // Each image gets its own timestep.
        let mixed = Self.schedule.noised(Tensor(shape: [2, 1], values: [1, 1]), noise: Tensor(shape: [2, 1], values: [0, 0]), timesteps: [0, 999])
        #expect(mixed.scalars == [Float(Self.schedule.alphaBars[0].squareRoot()), Float(Self.schedule.alphaBars[999].squareRoot())])
    }

    /// With the exact noise predictor of Gaussian data, DDPM (either variance) and DDIM (eta 0 and 1) over all T steps
    /// recover the data's per-pixel means and standard deviation from 1500 chains. (DDIM over fewer steps shrinks the
    /// spread of narrow data: its step maps x_t - sqrt(abar_t) mu to (sqrt(abar_s abar_t) s^2 + sqrt((1 - abar_s)(1 - abar_t)))
    /// / v_t times it, below sqrt(v_s / v_t) by Cauchy-Schwarz, v = abar s^2 + 1 - abar: 13% low for s = 0.15 at 50 steps.)
    @Test(arguments: [DiffusionSampler.ancestral(variance: .beta), .ancestral(variance: .posterior), .implicit(steps: 1000, eta: 0),
                      .implicit(steps: 1000, eta: 1)])
    func bothSamplersRecoverGaussianDataWithTheExactDenoiser(sampler: DiffusionSampler) {
        let data = GaussianData(means: [-0.5, -0.1, 0.2, 0.6], deviation: 0.15), chains = 1500
        let samples = reverseDiffusion(from: Self.noise(chains, step: 5000), schedule: Self.schedule, sampler: sampler,
                                       predictNoise: data.optimalNoise(Self.schedule), freshNoise: { Self.noise(chains, step: UInt64($0)) })
        let (meanError, deviation) = moments(samples, about: data.means)
        #expect(meanError < 0.015, "\(sampler): mean off by \(meanError)")
        #expect(abs(deviation - data.deviation) < 0.06 * data.deviation, "\(sampler): standard deviation \(deviation)")
    }

    /// All data one image: both samplers land on it.
    @Test(arguments: [DiffusionSampler.ancestral(variance: .posterior), .implicit(steps: 20, eta: 0)])
    func bothSamplersRecoverASingleImage(sampler: DiffusionSampler) {
        let image: [Double] = [-0.9, -0.3, 0.4, 0.8], chains = 50, schedule = Self.schedule
        let exact: (Tensor, Int) -> Tensor = { x, t in
            let abar = schedule.alphaBars[t]
            return Tensor(shape: x.shape, values: x.scalars.enumerated().map { index, value in
                Float((Double(value) - abar.squareRoot() * image[index % 4]) / (1 - abar).squareRoot())
            })
        }
        let samples = reverseDiffusion(from: Self.noise(chains, step: 6000), schedule: schedule, sampler: sampler, predictNoise: exact,
                                       freshNoise: { Self.noise(chains, step: UInt64($0)) })
        let worst = zip(samples.scalars, (0..<chains).flatMap { _ in image }).map { abs(Double($0) - $1) }.max()!
        #expect(worst < 1e-3, "\(sampler): \(worst)")
    }

    /// DDIM with eta = 0 never asks for fresh noise and gives the same bits twice; with eta > 0 the noise matters.
    @Test func ddimWithEtaZeroIsDeterministicGivenTheInitialNoise() {
        let data = GaussianData(means: [0, 0.1, 0.2, 0.3], deviation: 0.3), start = Self.noise(20, step: 7000)
        func run(eta: Double, noiseStep: UInt64) -> [Float] {
            reverseDiffusion(from: start, schedule: Self.schedule, sampler: .implicit(steps: 10, eta: eta), predictNoise: data.optimalNoise(Self.schedule),
                             freshNoise: { Self.noise(20, step: noiseStep + UInt64($0)) }).scalars
        }
        #expect(run(eta: 0, noiseStep: 100) == run(eta: 0, noiseStep: 900))
        #expect(run(eta: 0.5, noiseStep: 100) != run(eta: 0.5, noiseStep: 900))
        #expect(run(eta: 0.5, noiseStep: 100) == run(eta: 0.5, noiseStep: 100))
    }

    /// Unclipped, the ancestral step is the lecture's x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z;
    /// DDIM over all T steps with eta = 1 is the ancestral sampler with the posterior variance.
    @Test func theStepsAreTheLecturesAndDDIMWithEtaOneIsAncestral() {
        let schedule = NoiseSchedule.linear(timesteps: 30, start: 1e-3, end: 0.2), chains = 8
        let predictor: (Tensor, Int) -> Tensor = { x, t in Tensor(shape: x.shape, values: x.scalars.map { Foundation.sin($0 + Float(t)) }) }
        let start = Self.noise(chains, step: 8000), fresh = { (step: Int) in Self.noise(chains, step: 9000 + UInt64(step)) }
        var lecture = start
        for (step, t) in (0..<30).reversed().enumerated() {
            let eps = predictor(lecture, t).scalars, z = fresh(step).scalars
            let beta = schedule.betas[t], sigma = t == 0 ? 0 : beta.squareRoot()
            lecture = Tensor(shape: lecture.shape, values: lecture.scalars.enumerated().map { index, x in
                Float((Double(x) - beta / (1 - schedule.alphaBars[t]).squareRoot() * Double(eps[index])) / schedule.alphas[t].squareRoot()
                      + sigma * Double(z[index]))
            })
        }
        let ancestral = reverseDiffusion(from: start, schedule: schedule, sampler: .ancestral(variance: .beta), clipping: false,
                                         predictNoise: predictor, freshNoise: fresh)
        #expect(zip(ancestral.scalars, lecture.scalars).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        let posterior = reverseDiffusion(from: start, schedule: schedule, sampler: .ancestral(variance: .posterior), clipping: false,
                                         predictNoise: predictor, freshNoise: fresh)
        let implicit = reverseDiffusion(from: start, schedule: schedule, sampler: .implicit(steps: 30, eta: 1), clipping: false,
                                        predictNoise: predictor, freshNoise: fresh)
        #expect(zip(posterior.scalars, implicit.scalars).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        #expect(posterior.scalars != ancestral.scalars)
    }

    /// DDIM visits the anchor's torch.linspace(T - 1, 0, steps).long(); observe sees each level, then x_0.
    @Test func ddimVisitsTheAnchorsTimesteps() {
        #expect(DiffusionSampler.implicit(steps: 5, eta: 0).timesteps(of: Self.schedule) == [999, 749, 499, 249, 0])
        #expect(DiffusionSampler.implicit(steps: 50, eta: 0).timesteps(of: Self.schedule).prefix(3) == [999, 978, 958])
        #expect(DiffusionSampler.implicit(steps: 1000, eta: 0).timesteps(of: Self.schedule) == Array((0..<1000).reversed()))
        var levels: [Int] = []
        _ = reverseDiffusion(from: Tensor(zeros: [1, 1]), schedule: Self.schedule, sampler: .implicit(steps: 5, eta: 0),
                             predictNoise: { x, _ in x }, freshNoise: { _ in Tensor(zeros: [1, 1]) }, observe: { level, _ in levels.append(level) })
        #expect(levels == [1000, 750, 500, 250, 1, 0])
    }
}
