// Kernels of the hidden Markov model (Sources/Models/HiddenMarkovModel.swift), in Float64: forward-backward with
// scaling (fast) and in log space (its naive twin, and the fallback when scaling underflows), Viterbi decoding (and
// its naive twin by enumeration), Gaussian emission log-densities (diagonal, and full through a Cholesky factor and
// the mixture's Mahalanobis distances) and the posterior-weighted sums of the M-step (BLAS, with naive twins).
// Shape legend: T steps of one sequence, K states, D values per step, M observations (steps of all sequences).
// Row-major throughout; `transition[i * K + j]` = P(next state j | state i).

import CBLAS
import Foundation

// MARK: - Forward-backward

/// Buffers one forward-backward pass reuses across sequences (allocated for the longest sequence seen).
public final class ForwardBackwardWorkspace {
    /// [T, K] each: scaled forward and backward variables, emission probabilities scaled per step.
    var alpha: [Double] = [], beta: [Double] = [], emission: [Double] = []
    /// [T]: the forward pass's normaliser of each step.
    var scale: [Double] = []

    public init() {}

    func reserve(steps: Int, states: Int) {
        if alpha.count < steps * states {
            alpha = [Double](repeating: 0, count: steps * states)
            beta = alpha
            emission = alpha
            scale = [Double](repeating: 0, count: steps)
        }
    }
}

/// Forward-backward of one sequence with per-step scaling (Rabiner's alpha-hat and beta-hat): from the emission
/// log-probabilities `frameLogProbability` [T, K], writes the state posteriors gamma [T, K] (each row normalised),
/// adds the expected transition counts sum_t xi_t [K, K] to `transitionCounts`, and returns log p(x_1..T).
/// Returns nil (writing nothing) when a step's scaled probabilities all underflow: use `forwardBackwardLogSpace`.
public func forwardBackward(frameLogProbability logB: UnsafePointer<Double>, steps T: Int, states K: Int,
                            start: UnsafePointer<Double>, transition A: UnsafePointer<Double>,
                            posteriors gamma: UnsafeMutablePointer<Double>, transitionCounts: UnsafeMutablePointer<Double>,
                            workspace: ForwardBackwardWorkspace) -> Double? {
    workspace.reserve(steps: T, states: K)
    return workspace.alpha.withUnsafeMutableBufferPointer { alpha in
        workspace.beta.withUnsafeMutableBufferPointer { beta in
            workspace.emission.withUnsafeMutableBufferPointer { b in
                workspace.scale.withUnsafeMutableBufferPointer { scale -> Double? in
                    var logProbability = 0.0
                    for t in 0..<T {
                        // b[t, k] = p(x_t | k) / max_k p(x_t | k), so the largest is 1.
                        var largest = -Double.infinity
                        for k in 0..<K { largest = max(largest, logB[t * K + k]) }
                        guard largest.isFinite else { return nil }
                        for k in 0..<K { b[t * K + k] = exp(logB[t * K + k] - largest) }
                        var sum = 0.0
                        if t == 0 {
                            for k in 0..<K { alpha[k] = start[k] * b[k]; sum += alpha[k] }
                        } else {
                            for j in 0..<K {
                                var value = 0.0
                                for i in 0..<K { value += alpha[(t - 1) * K + i] * A[i * K + j] }
                                alpha[t * K + j] = value * b[t * K + j]
                                sum += alpha[t * K + j]
                            }
                        }
                        guard sum > 0, sum.isFinite else { return nil }
                        for k in 0..<K { alpha[t * K + k] /= sum }
                        scale[t] = sum
                        logProbability += log(sum) + largest
                    }
                    for k in 0..<K { beta[(T - 1) * K + k] = 1 }
                    for t in stride(from: T - 2, through: 0, by: -1) {
                        for i in 0..<K {
                            var value = 0.0
                            for j in 0..<K { value += A[i * K + j] * b[(t + 1) * K + j] * beta[(t + 1) * K + j] }
                            beta[t * K + i] = value / scale[t + 1]
                        }
                    }
                    for t in 0..<T {
                        var sum = 0.0
                        for k in 0..<K { gamma[t * K + k] = alpha[t * K + k] * beta[t * K + k]; sum += gamma[t * K + k] }
                        for k in 0..<K { gamma[t * K + k] /= sum }
                    }
                    // xi_t(i, j) = alpha-hat_t(i) A(i, j) b_t+1(j) beta-hat_t+1(j) / c_t+1
                    for t in 0..<max(T - 1, 0) {
                        for i in 0..<K {
                            let left = alpha[t * K + i] / scale[t + 1]
                            for j in 0..<K {
                                transitionCounts[i * K + j] += left * A[i * K + j] * b[(t + 1) * K + j] * beta[(t + 1) * K + j]
                            }
                        }
                    }
                    return logProbability
                }
            }
        }
    }
}

/// log(sum exp(values)), -infinity for none or all -infinity.
func logSumExp(_ values: [Double]) -> Double {
    let largest = values.max() ?? -.infinity
    guard largest.isFinite else { return largest }
    return largest + log(values.reduce(0) { $0 + exp($1 - largest) })
}

/// Naive twin of `forwardBackward`, in log space as hmmlearn's "log" implementation (log 0 = -infinity): the same
/// outputs; it never underflows, so it is also the fallback of a sequence whose scaled pass does.
public func forwardBackwardLogSpace(frameLogProbability logB: UnsafePointer<Double>, steps T: Int, states K: Int,
                                    start: UnsafePointer<Double>, transition A: UnsafePointer<Double>,
                                    posteriors gamma: UnsafeMutablePointer<Double>,
                                    transitionCounts: UnsafeMutablePointer<Double>) -> Double {
    let logStart = (0..<K).map { log(start[$0]) }, logA = (0..<(K * K)).map { log(A[$0]) }
    var forward = [Double](repeating: 0, count: T * K), backward = [Double](repeating: 0, count: T * K)
    for k in 0..<K { forward[k] = logStart[k] + logB[k] }
    for t in 1..<max(T, 1) {
        for j in 0..<K { forward[t * K + j] = logSumExp((0..<K).map { forward[(t - 1) * K + $0] + logA[$0 * K + j] }) + logB[t * K + j] }
    }
    let logProbability = logSumExp(Array(forward[((T - 1) * K)..<(T * K)]))
    for t in stride(from: T - 2, through: 0, by: -1) {
        for i in 0..<K {
            backward[t * K + i] = logSumExp((0..<K).map { logA[i * K + $0] + logB[(t + 1) * K + $0] + backward[(t + 1) * K + $0] })
        }
    }
    for t in 0..<T {
        let row = (0..<K).map { forward[t * K + $0] + backward[t * K + $0] }
        let norm = logSumExp(row)
        for k in 0..<K { gamma[t * K + k] = exp(row[k] - norm) }
    }
    for t in 0..<max(T - 1, 0) {
        for i in 0..<K {
            for j in 0..<K {
                let logXi = forward[t * K + i] + logA[i * K + j] + logB[(t + 1) * K + j] + backward[(t + 1) * K + j] - logProbability
                transitionCounts[i * K + j] += exp(logXi)
            }
        }
    }
    return logProbability
}

// MARK: - Viterbi

/// The most likely state path of one sequence and its joint log-probability log p(x, path) (ties go to the lower
/// state, as numpy's argmax).
public func viterbi(frameLogProbability logB: UnsafePointer<Double>, steps T: Int, states K: Int,
                    start: UnsafePointer<Double>, transition A: UnsafePointer<Double>) -> (logProbability: Double, path: [Int]) {
    let logA = (0..<(K * K)).map { log(A[$0]) }
    var score = (0..<K).map { log(start[$0]) + logB[$0] }
    var backPointer = [Int](repeating: 0, count: T * K)
    for t in 1..<max(T, 1) {
        var next = [Double](repeating: 0, count: K)
        for j in 0..<K {
            var best = -Double.infinity, argBest = 0
            for i in 0..<K where score[i] + logA[i * K + j] > best { best = score[i] + logA[i * K + j]; argBest = i }
            next[j] = best + logB[t * K + j]
            backPointer[t * K + j] = argBest
        }
        score = next
    }
    var state = 0
    for k in 1..<K where score[k] > score[state] { state = k }
    var path = [Int](repeating: 0, count: T)
    path[T - 1] = state
    for t in stride(from: T - 1, to: 0, by: -1) { path[t - 1] = backPointer[t * K + path[t]] }
    return (score[path[T - 1]], path)
}

/// Naive twin of `viterbi`: every one of the K^T paths scored (tiny models only).
public func viterbiNaive(frameLogProbability logB: UnsafePointer<Double>, steps T: Int, states K: Int,
                         start: UnsafePointer<Double>, transition A: UnsafePointer<Double>) -> (logProbability: Double, path: [Int]) {
    var best = (logProbability: -Double.infinity, path: [Int](repeating: 0, count: T))
    var path = [Int](repeating: 0, count: T)
    for code in 0..<Int(pow(Double(K), Double(T))) {
        var rest = code
        for t in stride(from: T - 1, through: 0, by: -1) { path[t] = rest % K; rest /= K }
        var score = log(start[path[0]]) + logB[path[0]]
        for t in 1..<max(T, 1) { score += log(A[path[t - 1] * K + path[t]]) + logB[t * K + path[t]] }
        if score > best.logProbability { best = (score, path) }
    }
    return best
}

// MARK: - Gaussian emissions

/// log N(x_m; mean_k, diag(variance_k)) for observations [M, D] -> [M, K] (variances below the smallest normal
/// Double raised to it, as hmmlearn does).
public func diagonalGaussianLogDensity(_ x: UnsafePointer<Double>, count M: Int, dimension D: Int, means: [Double], variances: [Double],
                                       states K: Int, into output: UnsafeMutablePointer<Double>) {
    let clamped = variances.map { max($0, Double.leastNormalMagnitude) }
    let precision = clamped.map { 1 / $0 }
    let constant = (0..<K).map { k in -0.5 * (Double(D) * log(2 * Double.pi) + (0..<D).reduce(0.0) { $0 + log(clamped[k * D + $1]) }) }
    means.withUnsafeBufferPointer { mean in
        precision.withUnsafeBufferPointer { precision in
            for m in 0..<M {
                for k in 0..<K {
                    var distance = 0.0
                    for d in 0..<D {
                        let difference = x[m * D + d] - mean[k * D + d]
                        distance += difference * difference * precision[k * D + d]
                    }
                    output[m * K + k] = constant[k] - 0.5 * distance
                }
            }
        }
    }
}

/// log N(x_m; mean_k, covariance_k) for observations [M, D] -> [M, K] through the Cholesky factor L_k of each covariance
/// [K, D, D]: -1/2 (D log 2 pi + 2 sum log L_ii + |L^-1 (x - mean)|^2), the distances by the mixture's
/// `mahalanobisDistances`. Returns the first state whose covariance (and, as hmmlearn retries, covariance + 1e-7 I) is
/// not positive definite, else nil.
public func fullGaussianLogDensity(_ x: UnsafeBufferPointer<Double>, dimension D: Int, means: [Double], covariances: [Double],
                                   states K: Int, into output: UnsafeMutablePointer<Double>) -> Int? {
    let M = x.count / max(D, 1)
    var scratch: [Double] = []
    for k in 0..<K {
        var matrix = Array(covariances[(k * D * D)..<((k + 1) * D * D)])
        var factor = choleskyFactor(matrix, dimension: D).factor
        if factor == nil {
            for i in 0..<D { matrix[i * D + i] += 1e-7 }
            factor = choleskyFactor(matrix, dimension: D).factor
        }
        guard let factor else { return k }
        let logDeterminant = (0..<D).reduce(0.0) { $0 + 2 * log(factor[$1 * D + $1]) }
        let distances = mahalanobisDistances(rows: x, rowCount: M, dimension: D, centres: Array(means[(k * D)..<((k + 1) * D)]), factor: factor,
                                             scratch: &scratch)
        for m in 0..<M { output[m * K + k] = -0.5 * (Double(D) * log(2 * Double.pi) + logDeterminant + distances[m]) }
    }
    return nil
}

// MARK: - Weighted sums

/// `W^T X` for weights W [M, K] and rows X [M, D], added to `output` [K, D] (dgemm).
public func addWeightedSums(weights: UnsafePointer<Double>, rows: UnsafePointer<Double>, count M: Int, states K: Int, dimension D: Int,
                            into output: UnsafeMutablePointer<Double>) {
    guard M > 0 else { return }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(K), Int32(D), Int32(M), 1, weights, Int32(K), rows, Int32(D), 1, output, Int32(D))
}

/// Naive twin of `addWeightedSums`.
public func addWeightedSumsNaive(weights: UnsafePointer<Double>, rows: UnsafePointer<Double>, count M: Int, states K: Int, dimension D: Int,
                                 into output: UnsafeMutablePointer<Double>) {
    for m in 0..<M { for k in 0..<K { for d in 0..<D { output[k * D + d] += weights[m * K + k] * rows[m * D + d] } } }
}

/// `sum_m w_mk x_m x_m^T` for each state k, added to `output` [K, D, D]: one symmetric rank-M update (dsyrk) of the rows
/// scaled by sqrt(w_mk) per state (weights are posteriors, never negative).
public func addWeightedScatters(weights: UnsafePointer<Double>, rows: UnsafePointer<Double>, count M: Int, states K: Int, dimension D: Int,
                                into output: UnsafeMutablePointer<Double>) {
    guard M > 0 else { return }
    var scaled = [Double](repeating: 0, count: M * D)
    for k in 0..<K {
        for m in 0..<M {
            let root = weights[m * K + k].squareRoot()
            for d in 0..<D { scaled[m * D + d] = root * rows[m * D + d] }
        }
        let block = output + k * D * D
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(D), Int32(M), 1, scaled, Int32(D), 1, block, Int32(D))
        mirrorUpperTriangle(block, dimension: D)
    }
}

/// Naive twin of `addWeightedScatters`.
public func addWeightedScattersNaive(weights: UnsafePointer<Double>, rows: UnsafePointer<Double>, count M: Int, states K: Int, dimension D: Int,
                                     into output: UnsafeMutablePointer<Double>) {
    for m in 0..<M {
        for k in 0..<K {
            for i in 0..<D { for j in 0..<D { output[(k * D + i) * D + j] += weights[m * K + k] * rows[m * D + i] * rows[m * D + j] } }
        }
    }
}
