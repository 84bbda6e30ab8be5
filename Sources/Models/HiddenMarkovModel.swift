// The course's classic generative model of sequences: a hidden Markov model fitted by Baum-Welch (EM), with
// hmmlearn's semantics (GaussianHMM with diagonal or full covariances, CategoricalHMM).
//   states z_1..T: z_1 ~ startprob, z_t+1 | z_t ~ transmat[z_t]; emissions x_t | z_t ~ N(means, covars) or emissionprob.
//   E-step: forward-backward on each sequence gives the posteriors gamma_t(k), the expected transitions sum_t xi_t(i, j)
//     and log p(x); the expected counts are summed over all sequences.
//   M-step: startprob ~ sum gamma_1, transmat ~ sum xi (zeros stay zero), means = sum gamma x / sum gamma,
//     covars = (covars_prior + sum gamma (x - mean)^2) / (max(covars_weight - 1, 0) + sum gamma) (diagonal; full adds
//     covars_prior to every entry and divides by max(covars_weight - D, 0) + sum gamma), emissionprob ~ sum gamma [x = s].
//   Converged when the log-likelihood gains less than `tol` over the previous iteration (after that iteration's M-step).
// One step is one EM iteration over every sequence: each rank sums its share's expected counts, one sum across ranks,
// then the same M-step everywhere. The course's example reads each image as 28 rows of 28 pixels and samples row by row.

import DataIO
import Foundation
import JobFiles
import TensorCore

/// A hidden Markov model with Gaussian or categorical emissions, fitted by Baum-Welch.
public final class HiddenMarkovModel: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "hmm", summary: "a hidden Markov model fitted by Baum-Welch (EM) with hmmlearn's semantics; one step is one EM iteration over every sequence",
            options: [
                .integer("states", default: 8, in: 1...1000, help: "hidden states (hmmlearn's n_components)"),
                .choice("emissions", default: "gaussian", from: ["gaussian", "categorical"], help: "GaussianHMM or CategoricalHMM"),
                .choice("covariance", default: "diag", from: ["diag", "full"], help: "Gaussian emissions' covariance_type"),
                .integer("symbols", default: 2, in: 1...1_000_000, help: "categorical emissions: symbols 0..<symbols (sequences [N, T, 1] of whole numbers)"),
                .number("tol", default: 1e-2, in: 0...1e9, help: "converged when the log-likelihood gains less than this (train.steps is n_iter)"),
                .number("min_covar", default: 1e-3, in: 0...1e9, help: "added to the data covariance's diagonal for the initial covars"),
                .number("covars_prior", default: 1e-2, in: 0...1e9, help: "hmmlearn's covars_prior"),
                .number("covars_weight", default: 1, in: 0...1e9, help: "hmmlearn's covars_weight"),
                .choiceOrFile("init", default: "kmeans", from: ["kmeans"], extensions: ["npz", "safetensors"],
                              help: "kmeans (hmmlearn's start: see HiddenMarkovModel.initialize), or a file with any of startprob, transmat, means, covars, emissionprob in hmmlearn's shapes (the rest start as with kmeans)"),
                .integer("samples", default: 20, in: 0...10_000, help: "sequences sampled for the picture at the end of a run"),
            ],
            groups: [],
            data: .sequences(scale: "unit", sampling: "epoch", realImagesPerStep: .wholeDataset),
            metrics: []),
        make: { HiddenMarkovModel($0) })

    public enum Emissions: String { case gaussian, categorical }

    public let states: Int
    /// Steps per sequence and values per step ([T, D], the data's sample shape).
    public let steps: Int, dimension: Int
    public let emissions: Emissions
    public let fullCovariance: Bool
    public let symbols: Int
    public let tol: Double, minimumCovariance: Double, covariancePrior: Double, covarianceWeight: Double
    /// The `model.init` file ("" for hmmlearn's start).
    public let initFile: String
    public let sampleCount: Int
    let seed: UInt64
    /// The fit, the same on every rank and kept exactly in checkpoints: startprob [K], transmat [K, K], then means [K, D]
    /// and covars ([K, D] diagonal or [K, D, D] full) or emissionprob [K, S]; monitor [7]: iterations done, the last two
    /// log-likelihoods (hmmlearn's ConvergenceMonitor.history), 1 once converged, 1 once initialised, the last penalised
    /// log-likelihood and how many times it decreased.
    public let group: ParameterGroup
    let startState: Float64State, transitionState: Float64State, meansState: Float64State?, covarsState: Float64State?
    let emissionState: Float64State?, monitorState: Float64State
    let workspace = ForwardBackwardWorkspace()
    static let sampleStream: UInt32 = 0x484D_4D53

    public convenience init(_ configuration: ModelConfiguration) {
        let shape = configuration.sampleShape.count == 2 ? configuration.sampleShape : [1, configuration.sampleShape.reduce(1, *)]
        self.init(states: configuration.integer("states"), steps: shape[0], dimension: shape[1],
                  emissions: Emissions(rawValue: configuration.text("emissions"))!, fullCovariance: configuration.text("covariance") == "full",
                  symbols: configuration.integer("symbols"), tol: configuration.number("tol"), minimumCovariance: configuration.number("min_covar"),
                  covariancePrior: configuration.number("covars_prior"), covarianceWeight: configuration.number("covars_weight"),
                  initFile: configuration.text("init") == "kmeans" ? "" : configuration.text("init"), sampleCount: configuration.integer("samples"), seed: configuration.seed)
    }

    public init(states: Int, steps: Int, dimension: Int, emissions: Emissions = .gaussian, fullCovariance: Bool = false, symbols: Int = 2,
                tol: Double = 1e-2, minimumCovariance: Double = 1e-3, covariancePrior: Double = 1e-2, covarianceWeight: Double = 1,
                initFile: String = "", sampleCount: Int = 20, seed: UInt64 = 1) {
        (self.states, self.steps, self.dimension, self.emissions, self.fullCovariance, self.symbols) = (states, steps, dimension, emissions, fullCovariance, symbols)
        (self.tol, self.minimumCovariance, self.covariancePrior, self.covarianceWeight) = (tol, minimumCovariance, covariancePrior, covarianceWeight)
        (self.initFile, self.sampleCount, self.seed) = (initFile, sampleCount, seed)
        let (K, D) = (states, dimension)
        group = ParameterGroup(name: "hmm", seed: seed)
        startState = group.registerFloat64State("startprob", shape: [K], initial: [Double](repeating: 1 / Double(K), count: K))
        transitionState = group.registerFloat64State("transmat", shape: [K, K], initial: [Double](repeating: 1 / Double(K), count: K * K))
        if emissions == .gaussian {
            meansState = group.registerFloat64State("means", shape: [K, D], initial: [Double](repeating: 0, count: K * D))
            let covarsShape = fullCovariance ? [K, D, D] : [K, D]
            let identity = (0..<(K * D * D)).map { $0 / D % D == $0 % D ? 1.0 : 0 }
            covarsState = group.registerFloat64State("covars", shape: covarsShape, initial: fullCovariance ? identity : [Double](repeating: 1, count: K * D))
            emissionState = nil
        } else {
            (meansState, covarsState) = (nil, nil)
            emissionState = group.registerFloat64State("emissionprob", shape: [K, symbols], initial: [Double](repeating: 1 / Double(symbols), count: K * symbols))
        }
        monitorState = group.registerFloat64State("monitor", shape: [7], initial: [0, 0, 0, 0, 0, 0, 0])
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }
    /// EM iterations done.
    public var iterations: Int { Int(monitorState.values[0]) }
    /// hmmlearn's rule: the last iteration gained less than `tol`.
    public var hasConverged: Bool { monitorState.values[3] == 1 }

    /// The fitted (or initial) parameters.
    public var parameters: HiddenMarkovParameters {
        get {
            HiddenMarkovParameters(startprob: startState.values, transmat: transitionState.values, means: meansState?.values ?? [],
                                   covars: covarsState?.values ?? [], emissionprob: emissionState?.values ?? [])
        }
        set {
            startState.values = newValue.startprob
            transitionState.values = newValue.transmat
            meansState?.values = newValue.means
            covarsState?.values = newValue.covars
            emissionState?.values = newValue.emissionprob
        }
    }

    // MARK: - One EM iteration

    /// One Baum-Welch iteration over every rank's sequences [n, T, D]: the first one initialises the parameters (the
    /// init file, else as hmmlearn). Returns this rank's part of the log-likelihood under the parameters before the M-step,
    /// and of the penalised log-likelihood (plus the log-prior of `logPrior`, which EM never lowers).
    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let x = batch.images.scalars.map(Double.init)
        let count = x.count / (steps * dimension)
        if monitorState.values[4] == 0 { try initialize(x, count: count, context: context) }
        let (rankSymbolCheck, layout) = (symbolCheck(x, rank: context.rank, worldSize: context.worldSize), StatisticsLayout(self))
        var totals = rankSymbolCheck + (rankSymbolCheck.contains { $0 != 0 } ? [Double](repeating: 0, count: layout.size)
                                                                                : try expectedCounts(x, count: count))
        let localLogLikelihood = totals[rankSymbolCheck.count]
        try context.sumAcrossRanks(&totals)
        try refuseSymbols(Array(totals.prefix(rankSymbolCheck.count)))
        let statistics = Array(totals.dropFirst(rankSymbolCheck.count))
        let logPriorOfCurrent = logPrior(parameters)
        maximize(statistics, layout: layout, penalized: statistics[0] + logPriorOfCurrent)
        return ["log_likelihood": Float(localLogLikelihood),
                "penalized_log_likelihood": Float(localLogLikelihood + (context.rank == 0 ? logPriorOfCurrent : 0))]
    }

    /// The log-density (up to a constant) of the covariance prior whose MAP estimate is hmmlearn's M-step: each diagonal
    /// variance v gets -covars_prior / (2 v) - max(covars_weight - 1, 0) / 2 log v; each full covariance S gets
    /// -1/2 covars_prior 1^T S^-1 1 - max(covars_weight - D, 0) / 2 log |S| (hmmlearn adds covars_prior to every entry).
    /// Baum-Welch maximises log-likelihood + log-prior, so that sum never decreases while the log-likelihood alone may.
    func logPrior(_ current: HiddenMarkovParameters) -> Double {
        guard emissions == .gaussian else { return 0 }
        let D = dimension
        if !fullCovariance {
            let weight = max(covarianceWeight - 1, 0) / 2
            return current.covars.reduce(0) { $0 - covariancePrior / (2 * $1) - weight * log($1) }
        }
        var total = 0.0
        for k in 0..<states {
            guard let factor = choleskyFactor(Array(current.covars[(k * D * D)..<((k + 1) * D * D)]), dimension: D).factor else { return -.infinity }
            // 1^T S^-1 1 = |L^-1 1|^2 by forward substitution.
            var y = [Double](repeating: 0, count: D), quadratic = 0.0, logDeterminant = 0.0
            for i in 0..<D {
                y[i] = (1 - (0..<i).reduce(0.0) { $0 + factor[i * D + $1] * y[$1] }) / factor[i * D + i]
                quadratic += y[i] * y[i]
                logDeterminant += 2 * log(factor[i * D + i])
            }
            total -= covariancePrior * quadratic / 2 + max(covarianceWeight - Double(D), 0) / 2 * logDeterminant
        }
        return total
    }

    /// This rank's expected counts, flat: [log p, start K, trans K*K, post K, obs K*D, obs^2 K*D or obs obs^T K*D*D]
    /// (Gaussian) or [log p, start K, trans K*K, obs K*S] (categorical), under the current parameters.
    func expectedCounts(_ x: [Double], count: Int) throws -> [Double] {
        let (K, T, D, layout) = (states, steps, dimension, StatisticsLayout(self))
        let current = parameters
        var totals = [Double](repeating: 0, count: layout.size)
        let logB = try frameLogProbabilities(x, observations: count * T, parameters: current)
        var gamma = [Double](repeating: 0, count: count * T * K)
        totals.withUnsafeMutableBufferPointer { sums in
            gamma.withUnsafeMutableBufferPointer { gamma in
                for sequence in 0..<count {
                    let offset = sequence * T * K
                    sums[0] += posteriors(logB, offset: offset, parameters: current, gamma: gamma.baseAddress! + offset,
                                          transitions: sums.baseAddress! + layout.transitions)
                    for k in 0..<K { sums[layout.start + k] += gamma[offset + k] }
                }
                let M = count * T
                if emissions == .categorical {
                    for m in 0..<M { for k in 0..<K { sums[layout.emissions + k * symbols + Int(x[m])] += gamma[m * K + k] } }
                    return
                }
                for m in 0..<M { for k in 0..<K { sums[layout.posteriors + k] += gamma[m * K + k] } }
                x.withUnsafeBufferPointer { rows in
                    addWeightedSums(weights: gamma.baseAddress!, rows: rows.baseAddress!, count: M, states: K, dimension: D,
                                    into: sums.baseAddress! + layout.observations)
                    if fullCovariance {
                        addWeightedScatters(weights: gamma.baseAddress!, rows: rows.baseAddress!, count: M, states: K, dimension: D,
                                            into: sums.baseAddress! + layout.squares)
                    } else {
                        let squares = rows.map { $0 * $0 }
                        addWeightedSums(weights: gamma.baseAddress!, rows: squares, count: M, states: K, dimension: D, into: sums.baseAddress! + layout.squares)
                    }
                }
            }
        }
        return totals
    }

    /// Forward-backward of the sequence whose [T, K] emission log-probabilities start at `offset`: scaled, else in log space.
    func posteriors(_ logB: [Double], offset: Int, parameters current: HiddenMarkovParameters, gamma: UnsafeMutablePointer<Double>,
                    transitions: UnsafeMutablePointer<Double>) -> Double {
        logB.withUnsafeBufferPointer { logB in
            current.startprob.withUnsafeBufferPointer { start in
                current.transmat.withUnsafeBufferPointer { transmat in
                    let frames = logB.baseAddress! + offset
                    if let logProbability = forwardBackward(frameLogProbability: frames, steps: steps, states: states, start: start.baseAddress!,
                                                            transition: transmat.baseAddress!, posteriors: gamma, transitionCounts: transitions,
                                                            workspace: workspace) {
                        return logProbability
                    }
                    return forwardBackwardLogSpace(frameLogProbability: frames, steps: steps, states: states, start: start.baseAddress!,
                                                   transition: transmat.baseAddress!, posteriors: gamma, transitionCounts: transitions)
                }
            }
        }
    }

    /// log p(x_m | state k) for observations [M, D] -> [M, K].
    func frameLogProbabilities(_ x: [Double], observations M: Int, parameters current: HiddenMarkovParameters) throws -> [Double] {
        let (K, D) = (states, dimension)
        var logB = [Double](repeating: 0, count: M * K)
        try x.withUnsafeBufferPointer { rows in
            try logB.withUnsafeMutableBufferPointer { output in
                switch (emissions, fullCovariance) {
                case (.categorical, _):
                    let logEmission = current.emissionprob.map { log($0) }
                    for m in 0..<M { for k in 0..<K { output[m * K + k] = logEmission[k * symbols + Int(rows[m])] } }
                case (.gaussian, false):
                    diagonalGaussianLogDensity(rows.baseAddress!, count: M, dimension: D, means: current.means, variances: current.covars,
                                               states: K, into: output.baseAddress!)
                case (.gaussian, true):
                    if let state = fullGaussianLogDensity(UnsafeBufferPointer(rebasing: rows[0..<(M * D)]), dimension: D, means: current.means,
                                                          covariances: current.covars, states: K, into: output.baseAddress!) {
                        throw ModelError("the covariance of state \(state) is not positive definite (even plus 1e-7 I, as hmmlearn "
                                         + "retries); raise model.covars_prior or use model.covariance: diag")
                    }
                }
            }
        }
        return logB
    }

    /// The M-step from the expected counts of every sequence (the same on every rank), then the convergence monitor, which
    /// also counts the iterations whose penalised log-likelihood fell (by more than 1e-9 relative: it should never).
    func maximize(_ totals: [Double], layout: StatisticsLayout, penalized: Double) {
        let (K, D) = (states, dimension)
        var next = parameters
        // Probabilities proportional to expected counts; a probability that is zero stays zero (hmmlearn's np.where).
        func normalizedRow(_ counts: ArraySlice<Double>, keepingZerosOf old: ArraySlice<Double>) -> [Double] {
            let row = zip(counts, old).map { $1 == 0 ? 0 : max($0, 0) }
            let sum = row.reduce(0, +)
            return sum == 0 ? row : row.map { $0 / sum }
        }
        next.startprob = normalizedRow(totals[layout.start..<(layout.start + K)], keepingZerosOf: next.startprob[...])
        next.transmat = (0..<K).flatMap { i in
            normalizedRow(totals[(layout.transitions + i * K)..<(layout.transitions + (i + 1) * K)], keepingZerosOf: next.transmat[(i * K)..<((i + 1) * K)])
        }
        if emissions == .categorical {
            next.emissionprob = (0..<K).flatMap { k in
                let row = totals[(layout.emissions + k * symbols)..<(layout.emissions + (k + 1) * symbols)].map { max($0, 0) }
                let sum = row.reduce(0, +)
                return sum == 0 ? row : row.map { $0 / sum }
            }
        } else {
            for k in 0..<K {
                let post = totals[layout.posteriors + k]
                // A state no observation reaches keeps its mean (hmmlearn's 0/0 would make it NaN).
                guard post > 0 else { continue }
                for d in 0..<D { next.means[k * D + d] = totals[layout.observations + k * D + d] / post }
            }
            for k in 0..<K {
                let post = totals[layout.posteriors + k], mean = Array(next.means[(k * D)..<((k + 1) * D)])
                let sums = (0..<D).map { totals[layout.observations + k * D + $0] }
                if fullCovariance {
                    let denominator = max(covarianceWeight - Double(D), 0) + post
                    for i in 0..<D {
                        for j in 0..<D {
                            let scatter = totals[layout.squares + (k * D + i) * D + j] - sums[i] * mean[j] - mean[i] * sums[j] + mean[i] * mean[j] * post
                            next.covars[(k * D + i) * D + j] = (covariancePrior + scatter) / denominator
                        }
                    }
                } else {
                    let denominator = max(max(covarianceWeight - 1, 0) + post, 1e-5)
                    for d in 0..<D {
                        let scatter = totals[layout.squares + k * D + d] - 2 * mean[d] * sums[d] + mean[d] * mean[d] * post
                        next.covars[k * D + d] = (covariancePrior + scatter) / denominator
                    }
                }
            }
        }
        parameters = next
        // hmmlearn's ConvergenceMonitor: history of the last two log-likelihoods.
        var monitor = monitorState.values
        monitor[0] += 1
        (monitor[2], monitor[1]) = (monitor[1], totals[0])
        monitor[3] = monitor[0] >= 2 && monitor[1] - monitor[2] < tol ? 1 : 0
        if monitor[0] >= 2 && penalized < monitor[5] - 1e-9 * abs(monitor[5]) { monitor[6] += 1 }
        monitor[5] = penalized
        monitorState.values = monitor
    }
}

/// Where each expected count sits in the flat vector summed across ranks.
struct StatisticsLayout {
    let start: Int, transitions: Int, posteriors: Int, observations: Int, squares: Int, emissions: Int, size: Int

    init(_ model: HiddenMarkovModel) {
        let (K, D) = (model.states, model.dimension)
        start = 1
        transitions = start + K
        posteriors = transitions + K * K
        emissions = posteriors
        observations = posteriors + K
        squares = observations + K * D
        size = model.emissions == .categorical ? emissions + K * model.symbols : squares + (model.fullCovariance ? K * D * D : K * D)
    }
}

/// An HMM's parameters in hmmlearn's shapes (row-major): startprob [K], transmat [K, K], means [K, D], covars [K, D]
/// (diagonal) or [K, D, D] (full), emissionprob [K, S] (the emissions' arrays empty when not used).
public struct HiddenMarkovParameters: Equatable, Sendable {
    public var startprob: [Double], transmat: [Double], means: [Double], covars: [Double], emissionprob: [Double]

    public init(startprob: [Double], transmat: [Double], means: [Double] = [], covars: [Double] = [], emissionprob: [Double] = []) {
        (self.startprob, self.transmat, self.means, self.covars, self.emissionprob) = (startprob, transmat, means, covars, emissionprob)
    }
}

// MARK: - Initialisation

extension HiddenMarkovModel {
    /// The first iteration's starting point, as hmmlearn's `_init` for what the `model.init` file does not give: startprob
    /// and transmat uniform (hmmlearn < 0.3; 0.3 draws them from a Dirichlet), means by k-means over every observation
    /// (scikit-learn's KMeans with one k-means++ seeding from the job's seed; hmmlearn keeps the best of 10), covars the
    /// covariance of every observation + min_covar I, emissionprob uniform random rows from the job's seed. Every rank
    /// gets the same start on any number of ranks.
    func initialize(_ x: [Double], count: Int, context: StepContext) throws {
        let (K, T, D) = (states, steps, dimension)
        if emissions == .categorical && D != 1 {
            throw ModelError("categorical emissions read one symbol per step: sequences [N, T, 1], not [N, \(T), \(D)]")
        }
        let given = initFile.isEmpty ? [:] : try readInitFile()
        var initial = parameters
        initial.startprob = given["startprob"] ?? [Double](repeating: 1 / Double(K), count: K)
        initial.transmat = given["transmat"] ?? [Double](repeating: 1 / Double(K), count: K * K)
        if emissions == .categorical {
            var generator = SeededGenerator(seed: seed ^ 0x484D_4D45)
            let random = (0..<(K * symbols)).map { _ in Double(generator.next() >> 11) * 0x1p-53 }
            initial.emissionprob = given["emissionprob"] ?? (0..<K).flatMap { k in
                let row = random[(k * symbols)..<((k + 1) * symbols)], sum = row.reduce(0, +)
                return row.map { $0 / sum }
            }
        } else if given["means"] == nil || given["covars"] == nil {
            let data = try x.withUnsafeBufferPointer { try GaussianStatistics.sharded(rows: $0, dimension: D, sumAcrossRanks: context.sumAcrossRanks) }
            var covariance = data.covariance
            for d in 0..<D { covariance[d * D + d] += minimumCovariance }
            initial.covars = given["covars"] ?? (0..<K).flatMap { _ in fullCovariance ? covariance : (0..<D).map { covariance[$0 * D + $0] } }
            if let means = given["means"] {
                initial.means = means
            } else {
                // Every observation (step) is a row; this rank's rows sit at its sequences' positions times T.
                let sequences = context.share(of: context.globalBatch).samples
                initial.means = try x.withUnsafeBufferPointer { rows in
                    let shard = KMeans.Shard(rows: rows, dimension: D, positions: (sequences.lowerBound * T)..<(sequences.upperBound * T),
                                             total: context.globalBatch * T)
                    return try KMeans(clusters: K).fit(shard, random: CounterRandom(seed: seed), context: context).centres
                }
            }
        } else {
            (initial.means, initial.covars) = (given["means"]!, given["covars"]!)
        }
        start(from: initial)
    }

    /// Starts EM from `initial` (hmmlearn's init_params="" with the attributes set).
    public func start(from initial: HiddenMarkovParameters) {
        parameters = initial
        monitorState.values[4] = 1
    }

    /// The arrays of the `model.init` file, checked against hmmlearn's shapes; a file or array that does not fit is one line naming both.
    func readInitFile() throws -> [String: [Double]] {
        let file = try InitialArrays(path: initFile)
        let (K, D) = (states, dimension)
        var expected: [(String, [Int], String)] = [("startprob", [K], "states"), ("transmat", [K, K], "states, states")]
        expected += emissions == .categorical ? [("emissionprob", [K, symbols], "states, symbols")]
            : [("means", [K, D], "states, values per step"),
               ("covars", fullCovariance ? [K, D, D] : [K, D], fullCovariance ? "states, values, values for full covariances" : "states, values for diagonal covariances")]
        try file.refuseOthers(than: expected.map(\.0))
        var given: [String: [Double]] = [:]
        for (name, shape, meaning) in expected {
            guard let values = try file.values(name, shape: shape, meaning: meaning) else { continue }
            // Probabilities are not negative and their rows sum to 1, diagonal variances are positive (a full covariance's
            // factor is checked at the first E-step).
            if name == "covars" && !fullCovariance { try file.refuseNegative(values, of: name, positive: true) }
            if ["startprob", "transmat", "emissionprob"].contains(name) {
                try file.refuseNegative(values, of: name)
                try file.refuseUnnormalized(values, of: name, width: shape.last!)
            }
            given[name] = values
        }
        return given
    }

    /// Categorical emissions: this rank's slot of a [3 * ranks] vector, [1, step, value] for its first observation that is not
    /// a symbol 0..<symbols, zeros otherwise (empty for Gaussian emissions), so every rank refuses the data together.
    func symbolCheck(_ x: [Double], rank: Int, worldSize: Int) -> [Double] {
        guard emissions == .categorical else { return [] }
        var slots = [Double](repeating: 0, count: 3 * worldSize)
        if let bad = x.firstIndex(where: { $0 < 0 || $0 >= Double(symbols) || $0 != $0.rounded() }) {
            (slots[3 * rank], slots[3 * rank + 1], slots[3 * rank + 2]) = (1, Double(bad % steps), x[bad])
        }
        return slots
    }

    func refuseSymbols(_ slots: [Double]) throws {
        guard let rank = stride(from: 0, to: slots.count, by: 3).first(where: { slots[$0] != 0 }) else { return }
        throw ModelError("the sequences hold \(slots[rank + 2]) at step \(Int(slots[rank + 1])): categorical emissions read whole symbols "
                         + "0..<\(symbols) (model.symbols)")
    }
}

// MARK: - Decoding, sampling and pictures

extension HiddenMarkovModel {
    /// log p(x) of each of `count` sequences [count, T, D] under the current parameters.
    public func logLikelihoods(_ x: [Double], count: Int) throws -> [Double] {
        let current = parameters, (K, T) = (states, steps)
        let logB = try frameLogProbabilities(x, observations: count * T, parameters: current)
        var gamma = [Double](repeating: 0, count: T * K), transitions = [Double](repeating: 0, count: K * K)
        return (0..<count).map { posteriors(logB, offset: $0 * T * K, parameters: current, gamma: &gamma, transitions: &transitions) }
    }

    /// The most likely state path of each of `count` sequences [count, T, D] (Viterbi) and its log p(x, path).
    public func decode(_ x: [Double], count: Int) throws -> [(logProbability: Double, path: [Int])] {
        let current = parameters, (K, T) = (states, steps)
        let logB = try frameLogProbabilities(x, observations: count * T, parameters: current)
        return (0..<count).map { sequence in
            viterbi(frameLogProbability: Array(logB[(sequence * T * K)..<((sequence + 1) * T * K)]), steps: T, states: K,
                    start: current.startprob, transition: current.transmat)
        }
    }

    /// Sequences `indices` [n, T, D] drawn step by step (z_1 ~ startprob, z_t+1 ~ transmat[z_t], x_t from state z_t's emission),
    /// with their states [n, T]; sequence i depends only on the seed and i.
    public func sample(_ indices: Range<Int>, random: CounterRandom) -> (values: [Double], states: [Int]) {
        let current = parameters, (K, T, D) = (states, steps, dimension)
        func draw(_ probabilities: ArraySlice<Double>, _ u: Float) -> Int {
            var cumulative = 0.0
            for (index, p) in probabilities.enumerated() { cumulative += p; if cumulative > Double(u) { return index } }
            return probabilities.count - 1
        }
        let factors: [[Double]] = !fullCovariance ? [] : (0..<K).map { k in
            var matrix = Array(current.covars[(k * D * D)..<((k + 1) * D * D)])
            if choleskyFactor(matrix, dimension: D).factor == nil { for d in 0..<D { matrix[d * D + d] += 1e-7 } }
            return choleskyFactor(matrix, dimension: D).factor ?? [Double](repeating: 0, count: D * D)
        }
        var values: [Double] = [], path: [Int] = []
        for sample in indices {
            let u = random.uniforms(stream: Self.sampleStream, step: 0, sample: UInt64(sample), count: 2 * T)
            let z = emissions == .gaussian ? random.normals(stream: Self.sampleStream + 1, step: 0, sample: UInt64(sample), count: T * D) : []
            var state = draw(current.startprob[...], u[0])
            for t in 0..<T {
                if t > 0 { state = draw(current.transmat[(state * K)..<((state + 1) * K)], u[2 * t]) }
                path.append(state)
                if emissions == .categorical {
                    values.append(Double(draw(current.emissionprob[(state * symbols)..<((state + 1) * symbols)], u[2 * t + 1])))
                    continue
                }
                for i in 0..<D {
                    var value = current.means[state * D + i]
                    if fullCovariance {
                        let factor = factors[state]
                        for j in 0...i {
                            let noise = Double(z[t * D + j])
                            value += factor[i * D + j] * noise
                        }
                    } else {
                        value += current.covars[state * D + i].squareRoot() * Double(z[t * D + i])
                    }
                    values.append(value)
                }
            }
        }
        return (values, path)
    }

    /// Samples as images (each sequence a T x D picture, Gaussian emissions) and the transition matrix.
    public func finalPictures(examples: Tensor, random: CounterRandom) throws -> [Picture] {
        let K = states, cell = max(1, 56 / K)
        var matrix = [Float](repeating: 0, count: K * K * cell * cell)
        let transmat = parameters.transmat
        for y in 0..<(K * cell) { for x in 0..<(K * cell) { matrix[y * K * cell + x] = Float(transmat[(y / cell) * K + x / cell]) } }
        var pictures = [Picture(name: "transitions", title: "transition matrix after \(iterations) EM iterations: row = from, column = to, white = 1",
                                images: Tensor(shape: [1, 1, K * cell, K * cell], values: matrix), columns: 1)]
        if emissions == .gaussian && sampleCount > 0 {
            let samples = sample(0..<sampleCount, random: random).values.map(Float.init)
            pictures.append(Picture(name: "samples", title: "\(sampleCount) sequences of \(K) states sampled step by step (row by row)",
                                    images: Tensor(shape: [sampleCount, 1, steps, dimension], values: samples), columns: min(sampleCount, 10)))
        }
        return pictures
    }

    public func evaluationPictures(random: CounterRandom) -> [Picture] { [] }

    /// The monitor (iterations, the last log-likelihood and its change, converged) and the fitted startprob and transmat.
    public func finalReport(random: CounterRandom) throws -> (lines: [String], record: [String: Any]) {
        let monitor = monitorState.values, current = parameters
        let change = iterations >= 2 ? monitor[1] - monitor[2] : .nan
        var record: [String: Any] = ["iterations": iterations, "converged": hasConverged, "log_likelihood": monitor[1],
                                     "startprob": current.startprob, "transmat": (0..<states).map { Array(current.transmat[($0 * states)..<(($0 + 1) * states)]) }]
        if change.isFinite { record["log_likelihood_change"] = change }
        (record["penalized_log_likelihood"], record["penalized_decreases"]) = (monitor[5], Int(monitor[6]))
        if current.means.count + current.covars.count + current.emissionprob.count <= 4096 {
            for (name, values) in [("means", current.means), ("covars", current.covars), ("emissionprob", current.emissionprob)] where !values.isEmpty {
                record[name] = values
            }
        }
        let line = String(format: "hmm: %d states, %d EM iterations, log-likelihood %.6f (change %.6g, tol %g): %@; the penalised log-likelihood "
                          + "(plus the covariance prior's log-density) fell in %d iterations", states, iterations, monitor[1], change, tol,
                          hasConverged ? "converged" : "not converged", Int(monitor[6]))
        return ([line], record)
    }
}

// MARK: - Export and inference

extension HiddenMarkovModel: ArrayExportable, InferencePasses {
    /// startprob, transmat, then means and covars or emissionprob, in hmmlearn's shapes (Float64): a valid `model.init` file.
    public func exportedArrays(step: Int) -> [NamedArray] {
        let current = parameters, (K, D) = (states, dimension)
        var arrays = [NamedArray(name: "startprob", shape: [K], elements: .float64(current.startprob)),
                      NamedArray(name: "transmat", shape: [K, K], elements: .float64(current.transmat))]
        if emissions == .categorical {
            arrays.append(NamedArray(name: "emissionprob", shape: [K, symbols], elements: .float64(current.emissionprob)))
        } else {
            arrays.append(NamedArray(name: "means", shape: [K, D], elements: .float64(current.means)))
            arrays.append(NamedArray(name: "covars", shape: fullCovariance ? [K, D, D] : [K, D], elements: .float64(current.covars)))
        }
        return arrays
    }

    public var exportMetadata: [String: String] { ["format": "np", "model": "hmm"] }

    /// `log_likelihood`: sequences [N, T, D] -> log p(x) [N, 1]; `viterbi`: sequences [N, T, D] -> the most likely states [N, T].
    public var inferencePasses: [InferencePass] {
        let shape = [steps, dimension]
        return [InferencePass(name: "log_likelihood", sampleShape: shape) { [self] sequences in
                    let values = (try? logLikelihoods(sequences.scalars.map(Double.init), count: sequences.shape[0])) ?? []
                    return Tensor(shape: [sequences.shape[0], 1], values: values.isEmpty ? [Float](repeating: .nan, count: sequences.shape[0]) : values.map(Float.init))
                },
                InferencePass(name: "viterbi", sampleShape: shape) { [self] sequences in
                    let paths = (try? decode(sequences.scalars.map(Double.init), count: sequences.shape[0]).flatMap(\.path)) ?? []
                    return Tensor(shape: [sequences.shape[0], steps], values: paths.isEmpty ? [Float](repeating: -1, count: sequences.shape[0] * steps) : paths.map(Float.init))
                }]
    }
}
