// The diffusion process of a DDPM (Ho et al. 2020) and its two reverse samplers, independent of the network:
// the noise schedule in Float64, the forward noising in closed form, ancestral (DDPM) and implicit (DDIM, Song et
// al. 2021) sampling from a noise predictor given as a closure.
// Timesteps are 0-based as in the anchor (`shared/anchors/torch_models.py`): index t = 0 ... T-1 is the lecture's
// t + 1, so `alphaBars[t]` is the lecture's abar_{t+1} and the data x_0 is the level before index 0.
// Shape legend: x [N, C, H, W] (row-major), one timestep for the whole batch while sampling.

import Foundation

/// The betas of a diffusion and the coefficients derived from them, all in Float64.
public struct NoiseSchedule: Sendable, Equatable {
    /// How the betas are spaced.
    public enum Kind: String, Sendable, CaseIterable {
        /// Ho et al.: betas linear from `start` to `end`.
        case linear
        /// Nichol and Dhariwal: `abar(t) = f(t) / f(0)`, `f(t) = cos^2(((t/T + s) / (1 + s)) pi / 2)`, s = 0.008,
        /// betas clipped at 0.999.
        case cosine
    }

    /// beta_t, t = 0 ... T-1.
    public let betas: [Double]
    /// alpha_t = 1 - beta_t.
    public let alphas: [Double]
    /// abar_t = prod_{s <= t} alpha_s.
    public let alphaBars: [Double]

    /// T.
    public var timesteps: Int { betas.count }

    public init(betas: [Double]) {
        guard !betas.isEmpty, betas.allSatisfy({ $0 > 0 && $0 < 1 }) else { fatalError("betas must lie in (0, 1)") }
        self.betas = betas
        alphas = betas.map { 1 - $0 }
        var product = 1.0
        alphaBars = alphas.map { alpha in
            product *= alpha
            return product
        }
    }

    /// The linear schedule of `timesteps` betas from `start` to `end` (the lecture's 1e-4 ... 0.02 over 1000).
    public static func linear(timesteps: Int, start: Double = 1e-4, end: Double = 0.02) -> NoiseSchedule {
        let span = Double(max(timesteps - 1, 1))
        return NoiseSchedule(betas: (0..<timesteps).map { start + (end - start) * Double($0) / span })
    }

    /// The cosine schedule of `timesteps` betas.
    public static func cosine(timesteps: Int, offset: Double = 0.008) -> NoiseSchedule {
        func f(_ t: Double) -> Double {
            let angle = (t / Double(timesteps) + offset) / (1 + offset) * Double.pi / 2
            return Foundation.cos(angle) * Foundation.cos(angle)
        }
        return NoiseSchedule(betas: (0..<timesteps).map { t in min(1 - f(Double(t + 1)) / f(Double(t)), 0.999) })
    }

    public static func make(_ kind: Kind, timesteps: Int, start: Double = 1e-4, end: Double = 0.02) -> NoiseSchedule {
        switch kind {
        case .linear: linear(timesteps: timesteps, start: start, end: end)
        case .cosine: cosine(timesteps: timesteps)
        }
    }

    /// abar of the level before index t: abar_{t-1}, and 1 (the data) for t = 0.
    public func alphaBarBefore(_ t: Int) -> Double { t > 0 ? alphaBars[t - 1] : 1 }

    /// The variance of q(x_{t-1} | x_t, x_0): beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t).
    public func posteriorVariance(_ t: Int) -> Double { betas[t] * (1 - alphaBarBefore(t)) / (1 - alphaBars[t]) }

    /// The forward process in closed form: `x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`, image i at timestep
    /// `timesteps[i]`. x0 and noise [N, ...].
    public func noised(_ x0: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        guard x0.shape == noise.shape, x0.shape.first == timesteps.count else {
            fatalError("noised: images \(x0.shape), noise \(noise.shape) and \(timesteps.count) timesteps disagree")
        }
        let perImage = x0.count / max(timesteps.count, 1)
        var result = Tensor(uninitialized: x0.shape)
        x0.withUnsafeBufferPointer { data in
            noise.withUnsafeBufferPointer { eps in
                result.withUnsafeMutableBufferPointer { output in
                    for (image, t) in timesteps.enumerated() {
                        let signal = Float(alphaBars[t].squareRoot()), spread = Float((1 - alphaBars[t]).squareRoot())
                        for index in (image * perImage)..<((image + 1) * perImage) { output[index] = signal * data[index] + spread * eps[index] }
                    }
                }
            }
        }
        return result
    }
}

/// How the reverse process runs from x_T to x_0.
public enum DiffusionSampler: Sendable, Equatable, CustomStringConvertible {
    /// The samplers by the names `gentrain sample --sampler` takes.
    public enum Kind: String, Sendable, CaseIterable {
        /// Ancestral sampling over all T steps (`ddpm`).
        case ancestral = "ddpm"
        /// DDIM over a subset of the steps (`ddim`).
        case implicit = "ddim"
    }

    /// The variance of an ancestral step.
    public enum Variance: String, Sendable, CaseIterable {
        /// sigma_t^2 = beta_t.
        case beta
        /// sigma_t^2 = beta~_t, the variance of q(x_{t-1} | x_t, x_0).
        case posterior
    }

    /// DDPM: all T steps, `x_{t-1} = mu~(x_t, x0_hat) + sigma_t z` (z = 0 at the last step).
    case ancestral(variance: Variance)
    /// DDIM over `steps` timesteps spaced as the anchor's `linspace(T-1, 0, steps)`; eta = 0 is deterministic,
    /// eta = 1 over all T steps is the ancestral sampler with the posterior variance.
    case implicit(steps: Int, eta: Double)

    public var description: String {
        switch self {
        case .ancestral(let variance): "DDPM (sigma_t^2 = \(variance == .beta ? "beta_t" : "posterior variance"))"
        case .implicit(let steps, let eta): "DDIM-\(steps)" + (eta == 0 ? "" : " (eta \(eta))")
        }
    }

    /// The timesteps it visits, from T-1 down.
    public func timesteps(of schedule: NoiseSchedule) -> [Int] {
        switch self {
        case .ancestral: return Array((0..<schedule.timesteps).reversed())
        case .implicit(let steps, _):
            guard steps >= 1, steps <= schedule.timesteps else { fatalError("DDIM steps \(steps) outside 1...\(schedule.timesteps)") }
            guard steps > 1 else { return [schedule.timesteps - 1] }
            let last = Double(schedule.timesteps - 1)
            return (0..<steps).map { Int((last - last * Double($0) / Double(steps - 1) + 1e-9).rounded(.down)) }
        }
    }
}

/// Runs the reverse process from `noise` (x at index T-1): at each visited index t, `predictNoise(x, t)` gives
/// eps_theta, the predicted `x0_hat = (x - sqrt(1 - abar_t) eps) / sqrt(abar_t)` is clipped to [-1, 1] (unless
/// `clipping` is false), and the sampler's step moves x to the next visited level. `freshNoise(k)` gives z for
/// step k (0 for the first; asked only where sigma > 0). `observe(level, x)` sees x at the lecture's level t + 1
/// before each step and the result at level 0. Returns x_0.
/// The ancestral step is written as the posterior mean `mu~ = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0_hat
/// + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t`, which without clipping is the lecture's
/// `(x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t)`; the DDIM step is
/// `sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z` with
/// `sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)`, s the next visited index.
public func reverseDiffusion(from noise: Tensor, schedule: NoiseSchedule, sampler: DiffusionSampler, clipping: Bool = true,
                             predictNoise: (Tensor, Int) -> Tensor, freshNoise: (Int) -> Tensor,
                             observe: (Int, Tensor) -> Void = { _, _ in }) -> Tensor {
    let visited = sampler.timesteps(of: schedule)
    var x = noise
    for (step, t) in visited.enumerated() {
        observe(t + 1, x)
        let eps = predictNoise(x, t)
        guard eps.shape == x.shape else { fatalError("the noise prediction has shape \(eps.shape), not \(x.shape)") }
        let abar = schedule.alphaBars[t]
        // Coefficients of x_next = a x0_hat + b x + c eps + sigma z.
        let (a, b, c, sigma): (Double, Double, Double, Double)
        switch sampler {
        case .ancestral(let variance):
            let before = schedule.alphaBarBefore(t)
            a = before.squareRoot() * schedule.betas[t] / (1 - abar)
            b = schedule.alphas[t].squareRoot() * (1 - before) / (1 - abar)
            c = 0
            sigma = t == 0 ? 0 : (variance == .beta ? schedule.betas[t] : schedule.posteriorVariance(t)).squareRoot()
        case .implicit(_, let eta):
            let next = step + 1 < visited.count ? schedule.alphaBars[visited[step + 1]] : 1
            let spread = eta * ((1 - next) / (1 - abar) * (1 - abar / next)).squareRoot()
            a = next.squareRoot()
            b = 0
            c = max(1 - next - spread * spread, 0).squareRoot()
            sigma = spread
        }
        let z = sigma > 0 ? freshNoise(step) : nil
        if let z, z.shape != x.shape { fatalError("fresh noise of shape \(z.shape), not \(x.shape)") }
        let zValues = z?.scalars ?? []
        let (signal, spread) = (abar.squareRoot(), (1 - abar).squareRoot())
        x.withUnsafeMutableBufferPointer { values in
            eps.withUnsafeBufferPointer { predicted in
                for index in values.indices {
                    let current = Double(values[index]), noise = Double(predicted[index])
                    var x0 = (current - spread * noise) / signal
                    if clipping { x0 = min(max(x0, -1), 1) }
                    var next = a * x0 + b * current + c * noise
                    if !zValues.isEmpty { next += sigma * Double(zValues[index]) }
                    values[index] = Float(next)
                }
            }
        }
    }
    observe(0, x)
    return x
}
