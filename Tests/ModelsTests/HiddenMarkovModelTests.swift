import DataIO
import Foundation
@testable import Models
import TensorCore
import Testing

/// The reference numbers of scripts/reference_hmm.py (hmmlearn).
func hmmlearnFixture() throws -> [String: Any] {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/hmm_hmmlearn.json").path
    return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
}

/// Largest |a - b| / (|b| + 1e-12) over the elements (infinity when the counts differ).
func largestRelativeError(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return .infinity }
    return zip(a, b).map { abs($0 - $1) / (abs($1) + 1e-12) }.max()!
}

/// One EM iteration on one process.
@discardableResult
func emStep(_ model: HiddenMarkovModel, _ sequences: Tensor) throws -> [String: Float] {
    try model.trainStep(TrainingBatch(images: sequences), context: StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 1), step: 0),
                                                                               globalBatch: sequences.shape[0]))
}

/// A seeded random tiny HMM: start [K], transitions [K, K] (with one forbidden transition), emission log-probabilities [T, K].
func randomTinyModel(states K: Int, steps T: Int, seed: UInt64) -> (start: [Double], transition: [Double], logB: [Double]) {
    var generator = SeededGenerator(seed: seed)
    func row(_ n: Int) -> [Double] {
        let values = (0..<n).map { _ in Double(generator.uniform()) + 0.05 }
        return values.map { $0 / values.reduce(0, +) }
    }
    var transition = (0..<K).flatMap { _ in row(K) }
    transition[K - 1] = 0
    transition = (0..<K).flatMap { i in
        let slice = transition[(i * K)..<((i + 1) * K)]
        return slice.map { $0 / slice.reduce(0, +) }
    }
    return (row(K), transition, (0..<(T * K)).map { _ in Double(generator.uniform(-30, 2)) })
}

@Suite struct HiddenMarkovKernelTests {
    /// Log-likelihood, posteriors and expected transitions from all K^T state paths.
    func bruteForce(start: [Double], transition: [Double], logB: [Double], states K: Int, steps T: Int)
        -> (logProbability: Double, gamma: [Double], xi: [Double]) {
        var total = 0.0, gamma = [Double](repeating: 0, count: T * K), xi = [Double](repeating: 0, count: K * K)
        var path = [Int](repeating: 0, count: T)
        for code in 0..<Int(pow(Double(K), Double(T))) {
            var rest = code
            for t in 0..<T { path[t] = rest % K; rest /= K }
            var p = start[path[0]] * exp(logB[path[0]])
            for t in 1..<T { p *= transition[path[t - 1] * K + path[t]] * exp(logB[t * K + path[t]]) }
            total += p
            for t in 0..<T { gamma[t * K + path[t]] += p }
            for t in 1..<T { xi[path[t - 1] * K + path[t]] += p }
        }
        return (log(total), gamma.map { $0 / total }, xi.map { $0 / total })
    }

    @Test(arguments: [(2, 5, 1), (3, 4, 2), (3, 6, 3), (4, 1, 4)])
    func forwardBackwardMatchesEnumeration(states K: Int, steps T: Int, seed: UInt64) throws {
        let (start, transition, logB) = randomTinyModel(states: K, steps: T, seed: seed)
        let exact = bruteForce(start: start, transition: transition, logB: logB, states: K, steps: T)
        for scaled in [true, false] {
            var gamma = [Double](repeating: 0, count: T * K), xi = [Double](repeating: 0, count: K * K)
            let logProbability = scaled
                ? try #require(forwardBackward(frameLogProbability: logB, steps: T, states: K, start: start, transition: transition,
                                               posteriors: &gamma, transitionCounts: &xi, workspace: ForwardBackwardWorkspace()))
                : forwardBackwardLogSpace(frameLogProbability: logB, steps: T, states: K, start: start, transition: transition,
                                          posteriors: &gamma, transitionCounts: &xi)
            #expect(abs(logProbability - exact.logProbability) < 1e-12 * abs(exact.logProbability), "scaled \(scaled)")
            #expect(zip(gamma, exact.gamma).allSatisfy { abs($0 - $1) < 1e-12 }, "scaled \(scaled): \(gamma) vs \(exact.gamma)")
            #expect(zip(xi, exact.xi).allSatisfy { abs($0 - $1) < 1e-12 }, "scaled \(scaled): \(xi) vs \(exact.xi)")
        }
    }

    /// A step whose only likely state cannot be reached underflows the scaled pass (nil); the log-space twin still answers.
    @Test func scaledPassReportsUnderflow() {
        let start = [1.0, 0.0], transition = [0.0, 1.0, 0.0, 1.0], logB = [0.0, -2000, 0.0, -2000]
        var gamma = [Double](repeating: 0, count: 4), xi = [Double](repeating: 0, count: 4)
        #expect(forwardBackward(frameLogProbability: logB, steps: 2, states: 2, start: start, transition: transition,
                                posteriors: &gamma, transitionCounts: &xi, workspace: ForwardBackwardWorkspace()) == nil)
        let logProbability = forwardBackwardLogSpace(frameLogProbability: logB, steps: 2, states: 2, start: start, transition: transition,
                                                     posteriors: &gamma, transitionCounts: &xi)
        #expect(abs(logProbability - -2000) < 1e-9 && gamma == [1, 0, 0, 1] && abs(xi[1] - 1) < 1e-12)
    }

    @Test(arguments: [(2, 6, 5), (3, 5, 6), (4, 4, 7)])
    func viterbiMatchesEnumeration(states K: Int, steps T: Int, seed: UInt64) {
        let (start, transition, logB) = randomTinyModel(states: K, steps: T, seed: seed)
        let fast = viterbi(frameLogProbability: logB, steps: T, states: K, start: start, transition: transition)
        let naive = viterbiNaive(frameLogProbability: logB, steps: T, states: K, start: start, transition: transition)
        #expect(fast.path == naive.path && abs(fast.logProbability - naive.logProbability) < 1e-12 * abs(naive.logProbability))
    }

    @Test func emissionDensitiesAndWeightedSumsMatchTheirTwins() throws {
        let (M, K, D) = (13, 3, 4)
        var generator = SeededGenerator(seed: 9)
        let x = (0..<(M * D)).map { _ in Double(generator.normal()) }
        let weights = (0..<(M * K)).map { _ in Double(generator.uniform()) }
        let means = (0..<(K * D)).map { _ in Double(generator.normal()) }
        let variances = (0..<(K * D)).map { _ in Double(generator.uniform(0.2, 2)) }
        // Full covariances A A^T + I, and the diagonal ones as full matrices.
        var covariances = [Double](repeating: 0, count: K * D * D), diagonalAsFull = covariances
        for k in 0..<K {
            let a = (0..<(D * D)).map { _ in Double(generator.normal()) }
            for i in 0..<D {
                diagonalAsFull[(k * D + i) * D + i] = variances[k * D + i]
                for j in 0..<D { covariances[(k * D + i) * D + j] = (0..<D).reduce(i == j ? 1 : 0) { $0 + a[i * D + $1] * a[j * D + $1] } }
            }
        }
        // The full density against its definition (forward substitution, Cholesky-Banachiewicz), and the diagonal density
        // against the full one of the same diagonal matrices.
        var full = [Double](repeating: 0, count: M * K), diagonal = full, fullOfDiagonal = full
        #expect(x.withUnsafeBufferPointer { fullGaussianLogDensity($0, dimension: D, means: means, covariances: covariances, states: K, into: &full) } == nil)
        for m in 0..<M {
            for k in 0..<K {
                let factor = try #require(choleskyFactorNaive(Array(covariances[(k * D * D)..<((k + 1) * D * D)]), dimension: D))
                var y = [Double](repeating: 0, count: D), distance = 0.0
                for i in 0..<D {
                    y[i] = ((x[m * D + i] - means[k * D + i]) - (0..<i).reduce(0.0) { $0 + factor[i * D + $1] * y[$1] }) / factor[i * D + i]
                    distance += y[i] * y[i]
                }
                let logDeterminant = (0..<D).reduce(0.0) { $0 + 2 * log(factor[$1 * D + $1]) }
                #expect(abs(full[m * K + k] - -0.5 * (Double(D) * log(2 * Double.pi) + logDeterminant + distance)) < 1e-12 * abs(full[m * K + k]))
            }
        }
        diagonalGaussianLogDensity(x, count: M, dimension: D, means: means, variances: variances, states: K, into: &diagonal)
        #expect(x.withUnsafeBufferPointer { fullGaussianLogDensity($0, dimension: D, means: means, covariances: diagonalAsFull, states: K, into: &fullOfDiagonal) } == nil)
        #expect(largestRelativeError(diagonal, fullOfDiagonal) < 1e-12)
        var sums = [Double](repeating: 0.5, count: K * D), sumsNaive = sums
        addWeightedSums(weights: weights, rows: x, count: M, states: K, dimension: D, into: &sums)
        addWeightedSumsNaive(weights: weights, rows: x, count: M, states: K, dimension: D, into: &sumsNaive)
        #expect(largestRelativeError(sums, sumsNaive) < 1e-12)
        var scatters = [Double](repeating: 0.25, count: K * D * D), scattersNaive = scatters
        addWeightedScatters(weights: weights, rows: x, count: M, states: K, dimension: D, into: &scatters)
        addWeightedScattersNaive(weights: weights, rows: x, count: M, states: K, dimension: D, into: &scattersNaive)
        #expect(largestRelativeError(scatters, scattersNaive) < 1e-12)
        // A covariance that is not positive definite is named.
        var singular = covariances
        for j in 0..<D { singular[(1 * D + 0) * D + j] = 0; singular[(1 * D + j) * D + 0] = 0 }
        singular[(1 * D + 0) * D + 0] = -1
        #expect(x.withUnsafeBufferPointer { fullGaussianLogDensity($0, dimension: D, means: means, covariances: singular, states: K, into: &full) } == 1)
    }
}

@Suite struct HiddenMarkovModelTests {
    /// A fixture case's model, sequences and hmmlearn's results.
    func fixtureCase(_ name: String, sampleCount: Int = 0) throws -> (model: HiddenMarkovModel, sequences: Tensor, case: [String: Any]) {
        let reference = try #require(try hmmlearnFixture()[name] as? [String: Any])
        let data = try #require(reference["data"] as? [[[Double]]])
        let (N, T, D) = (data.count, data[0].count, data[0][0].count)
        let initial = try #require(reference["initial"] as? [String: Any])
        let K = flatNumbers(initial["startprob"]).count
        let model = name == "categorical"
            ? HiddenMarkovModel(states: K, steps: T, dimension: 1, emissions: .categorical, symbols: flatNumbers(initial["emissionprob"]).count / K)
            : HiddenMarkovModel(states: K, steps: T, dimension: D, fullCovariance: name == "gaussian_full", sampleCount: sampleCount)
        model.start(from: HiddenMarkovParameters(startprob: flatNumbers(initial["startprob"]), transmat: flatNumbers(initial["transmat"]),
                                                 means: flatNumbers(initial["means"]), covars: flatNumbers(initial["covars"]),
                                                 emissionprob: flatNumbers(initial["emissionprob"])))
        return (model, Tensor(shape: [N, T, D], values: data.flatMap { $0.flatMap { $0 } }.map(Float.init)), reference)
    }

    @Test(arguments: ["gaussian_diag", "gaussian_full", "categorical"])
    func baumWelchReproducesHmmlearn(_ name: String) throws {
        let (model, sequences, reference) = try fixtureCase(name)
        let expected = flatNumbers(reference["log_likelihoods"])
        var logLikelihoods: [Double] = []
        for _ in expected {
            try emStep(model, sequences)
            logLikelihoods.append(model.monitorState.values[1])
        }
        #expect(largestRelativeError(logLikelihoods, expected) < 1e-6, "\(name): \(logLikelihoods) vs hmmlearn \(expected)")
        let final = try #require(reference["final"] as? [String: Any])
        let fitted = model.parameters
        let pairs: [(String, [Double])] = [("startprob", fitted.startprob), ("transmat", fitted.transmat), ("means", fitted.means),
                                           ("covars", fitted.covars), ("emissionprob", fitted.emissionprob)]
        for (array, values) in pairs where final[array] != nil {
            let error = largestRelativeError(values, flatNumbers(final[array]))
            #expect(error < 1e-6, "\(name) \(array): relative error \(error)")
        }
        // Log-likelihoods never decrease (EM), checked on every iteration with hmmlearn's allowance (sqrt of Double's epsilon),
        // and neither does the penalised log-likelihood that EM with hmmlearn's covariance prior maximises.
        #expect(zip(logLikelihoods.dropFirst(), logLikelihoods).allSatisfy { $0 >= $1 - 1.5e-8 })
        #expect(model.monitorState.values[6] == 0 && model.monitorState.values[5] != 0)
    }

    /// With hmmlearn's tol 1e-2, the run stops at the same iteration with the same log-likelihood.
    @Test(arguments: ["gaussian_diag", "gaussian_full", "categorical"])
    func convergesWhereHmmlearnDoes(_ name: String) throws {
        let (model, sequences, reference) = try fixtureCase(name)
        while !model.hasConverged && model.iterations < 100 { try emStep(model, sequences) }
        #expect(model.iterations == reference["converged_after"] as? Int)
        let expected = try #require(reference["converged_log_likelihood"] as? Double)
        #expect(abs(model.monitorState.values[1] - expected) < 1e-6 * abs(expected))
    }

    /// From hmmlearn's own initialisation (k-means means, data covariance), EM on sampled data never lowers the log-likelihood.
    /// Without the covariance prior EM maximises the likelihood itself (with it, the posterior, and the likelihood may dip
    /// by ~1e-6 near convergence), so the check is strict.
    @Test(arguments: [false, true])
    func logLikelihoodNeverDecreasesFromTheDefaultInitialisation(full: Bool) throws {
        let (reference, sequences, _) = try fixtureCase(full ? "gaussian_full" : "gaussian_diag")
        let model = HiddenMarkovModel(states: 3, steps: reference.steps, dimension: reference.dimension, fullCovariance: full, covariancePrior: 0)
        var history: [Double] = []
        for _ in 0..<12 {
            try emStep(model, sequences)
            history.append(model.monitorState.values[1])
        }
        #expect(history.allSatisfy { $0.isFinite })
        #expect(zip(history.dropFirst(), history).allSatisfy { $0 >= $1 - 1e-12 * abs($1) }, "\(history)")
        #expect(history.last! > history.first! + 1)
        // With the prior (and a weight that adds a log-determinant term), the penalised log-likelihood is what never falls.
        let penalized = HiddenMarkovModel(states: 3, steps: reference.steps, dimension: reference.dimension, fullCovariance: full,
                                          covariancePrior: 0.5, covarianceWeight: full ? 4 : 3)
        var penalizedHistory: [Double] = []
        for _ in 0..<12 {
            try emStep(penalized, sequences)
            penalizedHistory.append(penalized.monitorState.values[5])
        }
        #expect(zip(penalizedHistory.dropFirst(), penalizedHistory).allSatisfy { $0 >= $1 - 1e-12 * abs($1) }, "\(penalizedHistory)")
        #expect(penalized.monitorState.values[6] == 0)
    }

    /// Viterbi through the model: each decoded path scores at least as well as the path of the most likely states one by one.
    @Test func decodingAndSampling() throws {
        let (model, sequences, _) = try fixtureCase("gaussian_diag", sampleCount: 4)
        for _ in 0..<5 { try emStep(model, sequences) }
        let x = sequences.scalars.map(Double.init)
        let decoded = try model.decode(x, count: sequences.shape[0])
        let logLikelihoods = try model.logLikelihoods(x, count: sequences.shape[0])
        #expect(decoded.count == 7 && decoded.allSatisfy { $0.path.count == 6 })
        // log p(x, best path) <= log p(x) = log sum over paths.
        #expect(zip(decoded, logLikelihoods).allSatisfy { $0.logProbability <= $1 + 1e-9 })
        let pass = try #require(model.inferencePasses.first { $0.name == "viterbi" })
        #expect(pass(sequences).scalars == decoded.flatMap(\.path).map(Float.init))
        let random = CounterRandom(seed: 3)
        let drawn = model.sample(2..<4, random: random), again = model.sample(0..<4, random: random)
        #expect(drawn.values.count == 2 * 6 * 2 && Array(again.values[24...]) == drawn.values && Array(again.states[12...]) == drawn.states)
        let pictures = try model.finalPictures(examples: sequences, random: random)
        #expect(pictures.map(\.name) == ["transitions", "samples"] && pictures[1].images.shape == [4, 1, 6, 2])
    }

    /// The export is a valid init file: a new model started from it has the same parameters.
    @Test(arguments: ["npz", "safetensors"])
    func exportRoundTripsAsInitFile(_ format: String) throws {
        let (model, sequences, _) = try fixtureCase("gaussian_full")
        try emStep(model, sequences)
        let path = NSTemporaryDirectory() + "hmm-export-\(UUID().uuidString).\(format)"
        if format == "npz" { try NumPyArchive.write(model.exportedArrays(step: 1), to: path) } else { try Safetensors.write(model.exportedArrays(step: 1), to: path) }
        let restored = HiddenMarkovModel(states: 3, steps: 6, dimension: 2, fullCovariance: true, initFile: path)
        try restored.initialize(sequences.scalars.map(Double.init), count: 7, context: StepContext(forward: ForwardContext(training: true), globalBatch: 7))
        #expect(restored.parameters == model.parameters)
    }

    /// A wrong init file is one line naming the file, the array and the expected shape; so are symbols a categorical model cannot emit.
    @Test func badInputIsOneLine() throws {
        let (_, sequences, _) = try fixtureCase("gaussian_diag")
        let path = NSTemporaryDirectory() + "hmm-bad-\(UUID().uuidString).npz"
        func refusal(_ arrays: [NamedArray], full: Bool = false) throws -> String {
            try NumPyArchive.write(arrays, to: path)
            let model = HiddenMarkovModel(states: 3, steps: 6, dimension: 2, fullCovariance: full, initFile: path)
            do {
                try emStep(model, sequences)
            } catch {
                return "\(error)"
            }
            return "no error"
        }
        let means = try refusal([NamedArray(name: "means", shape: [2, 2], elements: .float64([0, 0, 1, 1]))])
        #expect(means == "\(path): array 'means' has shape [2, 2]; expected [3, 2] (states, values per step)")
        let covars = try refusal([NamedArray(name: "covars", shape: [3, 2], elements: .float64([Double](repeating: 1, count: 6)))], full: true)
        #expect(covars.hasPrefix(path) && covars.contains("'covars' has shape [3, 2]; expected [3, 2, 2]") && !covars.contains("\n"))
        let unknown = try refusal([NamedArray(name: "startprobs", shape: [3], elements: .float64([0.2, 0.3, 0.5]))])
        #expect(unknown == "\(path): array 'startprobs' is not one of startprob, transmat, means, covars")
        let notSummingToOne = try refusal([NamedArray(name: "startprob", shape: [3], elements: .float64([0.2, 0.3, 0.6]))])
        #expect(notSummingToOne.hasPrefix(path) && notSummingToOne.contains("row 0 sums to 1.1"))
        let missing = HiddenMarkovModel(states: 3, steps: 6, dimension: 2, initFile: path + ".missing.npz")
        #expect(throws: DatasetError.self) { try emStep(missing, sequences) }

        let categorical = HiddenMarkovModel(states: 2, steps: 3, dimension: 1, emissions: .categorical, symbols: 4)
        let symbols = Tensor(shape: [2, 3, 1], values: [0, 1, 2, 3, 4, 1])
        #expect { try emStep(categorical, symbols) } throws: {
            "\($0)" == "the sequences hold 4.0 at step 1: categorical emissions read whole symbols 0..<4 (model.symbols)"
        }
        let wide = HiddenMarkovModel(states: 2, steps: 3, dimension: 2, emissions: .categorical, symbols: 4)
        #expect { try emStep(wide, Tensor(zeros: [1, 3, 2])) } throws: { "\($0)".contains("one symbol per step") }
    }
}
