// The course's Gaussian mixture fitted by EM, as scikit-learn's GaussianMixture, in Float64.
//
//   E-step: log p(x, j) = log w_j + log N(x; mu_j, S_j), the densities through S_j's Cholesky factor;
//           r_nj = p(x_n, j) / sum_j p(x_n, j); the lower bound is the mean of log sum_j p(x_n, j)
//           under the parameters before the M-step.
//   M-step: n_j = sum_n r_nj + 10 eps; w_j = n_j / sum n_j; mu_j = sum_n r_nj x_n / n_j;
//           S_j = sum_n r_nj (x_n - mu_j)(x_n - mu_j)^T / n_j + reg_covar I (full; diag keeps the diagonal,
//           spherical its mean, tied one matrix for all components over sum n_j).
//   It stops when the lower bound changes by less than tol (never after the first iteration), or after
//   train.steps iterations (scikit-learn's max_iter).
//
// One step is one iteration over every sample. Each rank sums its shard's log-likelihood, responsibilities and
// weighted sums, then its centred scatter about the new means: two sums across ranks make the M-step the same
// on every rank. The fit lives in Float64 state (exact in checkpoints). Initialisation: k-means (distributed,
// KMeans.swift) or random responsibilities, then one M-step; or weights, means and precisions from a file.

import DataIO
import Foundation
import JobFiles
import TensorCore

/// A mixture of Gaussians fitted by expectation-maximisation.
public final class GaussianMixture: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "gmm",
            summary: "a Gaussian mixture fitted by EM in Float64 with scikit-learn's GaussianMixture semantics; one step is one EM iteration "
                + "over every sample, train.steps is max_iter",
            options: [
                .integer("components", default: 8, in: 1...10_000, help: "mixture components (scikit-learn's n_components)"),
                .choice("covariance_type", default: "full", from: CovarianceType.allCases.map(\.rawValue),
                        help: "full: one matrix per component; diag: a diagonal per component; spherical: one variance per component; tied: one matrix for all"),
                .number("tol", default: 1e-3, in: 0...1e6, help: "convergence threshold on the change of the lower bound (mean log-likelihood per sample)"),
                .number("reg_covar", default: 1e-6, in: 0...1e6, help: "added to every covariance's diagonal (constant pixels make a covariance singular)"),
                .choiceOrFile("init", default: "kmeans", from: ["kmeans", "random"], extensions: ["npz", "safetensors"],
                              help: "kmeans (k-means++ then Lloyd, across ranks), random responsibilities, or a file of weights [k], means [k, d] "
                                + "and precisions (scikit-learn's shape for the covariance type)"),
                .integer("samples", default: 10, in: 0...10_000, help: "samples drawn for the picture at the end of a run"),
            ],
            groups: [],
            data: .vectors(scale: "unit", sampling: "epoch", realImagesPerStep: .wholeDataset),
            metrics: []),
        make: { GaussianMixture(configuration: $0) })

    public typealias CovarianceType = TensorCore.CovarianceType

    public let sampleShape: [Int]
    public let dimension: Int
    public let components: Int
    public let covarianceType: CovarianceType
    public let tolerance: Double
    public let regularization: Double
    public let initialization: String
    public let sampleCount: Int
    let seed: UInt64

    /// The fit, in Float64 state: the same on every rank, exact in checkpoints.
    public let group: ParameterGroup
    let weights: Float64State
    let means: Float64State
    let covariances: Float64State
    /// Iterations done, the last lower bound and its change, and whether the change fell below `tol` (1 or 0).
    let iterations: Float64State
    let lowerBound: Float64State
    let change: Float64State
    let convergedFlag: Float64State

    /// The current covariances with their Cholesky factors, made when first needed and anew by each M-step.
    private var cachedComponents: GaussianComponents?
    /// The mean log-likelihood of the data under the final parameters (the final pass), for the score, BIC and AIC.
    public private(set) var finalScore: (meanLogLikelihood: Double, samples: Int)?
    /// This rank's rows in Float64 and the scatter's buffers, kept from one iteration to the next (a whole class's
    /// rows are tens of MB: allocating them anew each iteration costs the kernel's page clearing).
    private var rowBuffer: [Double] = []
    private let scatterWorkspace = ScatterWorkspace()

    static let sampleStream: UInt32 = 0x474D_4D53
    static let componentStream: UInt32 = 0x474D_4D43
    static let responsibilityStream: UInt32 = 0x474D_4D52

    public init(configuration: ModelConfiguration) {
        sampleShape = configuration.sampleShape
        dimension = sampleShape.reduce(1, *)
        components = configuration.integer("components")
        covarianceType = CovarianceType(rawValue: configuration.text("covariance_type"))!
        tolerance = configuration.number("tol")
        regularization = configuration.number("reg_covar")
        initialization = configuration.text("init")
        sampleCount = configuration.integer("samples")
        seed = configuration.seed
        let (k, d) = (components, dimension)
        group = ParameterGroup(name: "mixture", seed: configuration.seed)
        weights = group.registerFloat64State("weights", shape: [k], initial: [Double](repeating: 1 / Double(k), count: k))
        means = group.registerFloat64State("means", shape: [k, d], initial: [Double](repeating: 0, count: k * d))
        // Before the fit, every component the standard normal.
        let covarianceShape = covarianceType.shape(components: k, dimension: d)
        let identity: [Double] = switch covarianceType {
        case .full: (0..<(k * d * d)).map { $0 % (d * d) / d == $0 % d ? 1 : 0 }
        case .tied: (0..<(d * d)).map { $0 / d == $0 % d ? 1 : 0 }
        case .diag, .spherical: [Double](repeating: 1, count: covarianceShape.reduce(1, *))
        }
        covariances = group.registerFloat64State("covariances", shape: covarianceShape, initial: identity)
        iterations = group.registerFloat64State("iterations", shape: [], initial: [0])
        lowerBound = group.registerFloat64State("lower_bound", shape: [], initial: [-.infinity])
        change = group.registerFloat64State("change", shape: [], initial: [.infinity])
        convergedFlag = group.registerFloat64State("converged", shape: [], initial: [0])
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }
    public var hasConverged: Bool { convergedFlag.scalar == 1 }

    // MARK: - EM

    /// One EM iteration over every rank's rows (initialising first, at the first step). Rank 0 reports the lower
    /// bound and its change (every rank holds the same; the others report zeros, so the sums are exact).
    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let positions = context.share(of: context.globalBatch).samples
        try withRows(of: batch) { rows in
            if iterations.scalar == 0 { try initialize(rows, positions: positions, context: context) }
            let (logLikelihoods, responsibilities) = try expectation(rows)
            let (total, samples) = try maximization(rows, responsibilities: responsibilities, logLikelihood: logLikelihoods.reduce(0, +), context: context)
            let previous = lowerBound.scalar
            lowerBound.scalar = total / Double(samples)
            change.scalar = lowerBound.scalar - previous
            iterations.scalar += 1
            convergedFlag.scalar = abs(change.scalar) < tolerance ? 1 : 0
        }
        // Every rank reports the same keys; rank 0 the values, the others zeros.
        let reported = context.rank == 0 ? 1 : 0 as Float
        var losses = ["lower_bound": reported * Float(lowerBound.scalar), "iteration": reported * Float(iterations.scalar)]
        if change.scalar.isFinite { losses["change"] = reported * Float(change.scalar) }
        return losses
    }

    /// Runs `body` on the batch's images as Float64 rows [n, d], converted into the buffer kept between iterations.
    func withRows<Result>(of batch: TrainingBatch, _ body: (UnsafeBufferPointer<Double>) throws -> Result) rethrows -> Result {
        let count = batch.images.count
        if rowBuffer.count != count { rowBuffer = [Double](repeating: 0, count: count) }
        batch.images.withUnsafeBufferPointer { images in
            rowBuffer.withUnsafeMutableBufferPointer { rows in for index in 0..<count { rows[index] = Double(images[index]) } }
        }
        return try rowBuffer.withUnsafeBufferPointer(body)
    }

    /// E-step on this rank's rows: each row's log-likelihood log sum_j p(x, j) and its responsibilities [n, k].
    func expectation(_ rows: UnsafeBufferPointer<Double>) throws -> (logLikelihoods: [Double], responsibilities: [Double]) {
        let k = components
        var logProbabilities = try weightedLogProbabilities(rows)
        let count = logProbabilities.count / k
        var logLikelihoods = [Double](repeating: 0, count: count)
        logProbabilities.withUnsafeMutableBufferPointer { values in
            for row in 0..<count {
                // Not a slice of the array being written: a slice held across the writes would copy it for every row.
                let rowValues = UnsafeMutableBufferPointer(rebasing: values[(row * k)..<((row + 1) * k)])
                let largest = rowValues.max()!
                let total = largest + log(rowValues.reduce(0) { $0 + exp($1 - largest) })
                logLikelihoods[row] = total
                for j in 0..<k { rowValues[j] = exp(rowValues[j] - total) }
            }
        }
        return (logLikelihoods, logProbabilities)
    }

    /// log w_j + log N(x_n; mu_j, S_j) for this rank's rows: [n, k].
    func weightedLogProbabilities(_ rows: UnsafeBufferPointer<Double>) throws -> [Double] {
        try currentComponents().weightedLogDensities(rows: rows, means: means.values, logWeights: weights.values.map(log))
    }

    /// M-step from this rank's responsibilities [n, k]: the first sum across ranks gives the counts, the weighted
    /// sums and the log-likelihood (`logLikelihood` this rank's part), hence the new means; the second the scatter
    /// about them, hence the covariances. Returns the global log-likelihood sum and the number of samples.
    @discardableResult
    func maximization(_ rows: UnsafeBufferPointer<Double>, responsibilities: [Double], logLikelihood: Double,
                      context: StepContext) throws -> (logLikelihood: Double, samples: Int) {
        let (k, d) = (components, dimension)
        let count = rows.count / d
        // [log-likelihood, samples, n_j (k), sum_n r_nj x_n (k d)]
        var sums = [Double](repeating: 0, count: 2 + k + k * d)
        sums[0] = logLikelihood
        sums[1] = Double(count)
        for row in 0..<count { for j in 0..<k { sums[2 + j] += responsibilities[row * k + j] } }
        let weightedSums = responsibilities.withUnsafeBufferPointer { weightedRowSums(weights: $0, columns: k, rows: rows, dimension: d) }
        sums.replaceSubrange((2 + k)..., with: weightedSums)
        try context.sumAcrossRanks(&sums)
        let counts = (0..<k).map { sums[2 + $0] + 10 * Double.ulpOfOne }
        let newMeans = (0..<(k * d)).map { sums[2 + k + $0] / counts[$0 / d] }

        var scatter = GaussianComponents.scatter(covarianceType, rows: rows, responsibilities: responsibilities, means: newMeans,
                                                 components: k, dimension: d, workspace: scatterWorkspace)
        try context.sumAcrossRanks(&scatter)
        let fitted = try checked { () throws(CovarianceError) in
            try GaussianComponents(type: covarianceType, summedScatter: scatter, counts: counts, dimension: d, regularization: regularization)
        }
        let totalCount = counts.reduce(0, +)
        weights.values = counts.map { $0 / totalCount }
        means.values = newMeans
        covariances.values = fitted.covariances
        cachedComponents = fitted
        return (sums[0], Int(sums[1]))
    }

    /// The current covariances with their factors (made from the state after a start from a file or a checkpoint).
    func currentComponents() throws -> GaussianComponents {
        if let cachedComponents { return cachedComponents }
        let current = try checked { () throws(CovarianceError) in try GaussianComponents(type: covarianceType, components: components, dimension: dimension, covariances: covariances.values) }
        cachedComponents = current
        return current
    }

    /// `make()`, with covariances that cannot serve named for the user: the component, and what to set.
    func checked(_ make: () throws(CovarianceError) -> GaussianComponents) throws -> GaussianComponents {
        do {
            return try make()
        } catch .notPositiveDefinite(let matrix, let pivot) {
            let which = covarianceType == .tied ? "the tied covariance" : "the covariance of component \(matrix)"
            throw ModelError("gmm: \(which) is not positive definite (factoring fails at value \(pivot) of \(dimension)): a component collapsed "
                             + "onto too few samples; set model.reg_covar larger than \(regularization), or use fewer components")
        } catch .varianceNotPositive(let component, let value) {
            throw ModelError("gmm: component \(component) has a variance of \(value), not above zero (a collapsed component); "
                             + "set model.reg_covar larger than \(regularization)")
        }
    }

    // MARK: - Initialisation

    /// The parameters before the first iteration: from k-means labels or random responsibilities (one M-step, as
    /// scikit-learn), or from a file of weights, means and precisions.
    func initialize(_ rows: UnsafeBufferPointer<Double>, positions: Range<Int>, context: StepContext) throws {
        let (k, d) = (components, dimension)
        let count = rows.count / d
        guard context.globalBatch >= k else {
            throw ModelError("gmm: \(context.globalBatch) samples for \(k) components (at least one sample per component is needed)")
        }
        let random = CounterRandom(seed: seed)
        var responsibilities = [Double](repeating: 0, count: count * k)
        switch initialization {
        case "kmeans":
            let shard = KMeans.Shard(rows: rows, dimension: d, positions: positions, total: context.globalBatch)
            let labels = try KMeans(clusters: k).fit(shard, random: random, context: context).labels
            for (row, label) in labels.enumerated() { responsibilities[row * k + label] = 1 }
        case "random":
            for (row, position) in positions.enumerated() {
                let draws = random.uniformDoubles(stream: Self.responsibilityStream, step: 0, sample: UInt64(position), count: k)
                let total = draws.reduce(0, +)
                for j in 0..<k { responsibilities[row * k + j] = draws[j] / total }
            }
        default:
            try load(initialization)
            return
        }
        try maximization(rows, responsibilities: responsibilities, logLikelihood: 0, context: context)
    }

    /// Weights [k], means [k, d] and precisions (scikit-learn's shape for the covariance type) from a `.npz` or
    /// `.safetensors` file; the covariances are the precisions' inverses.
    func load(_ path: String) throws {
        let (k, d) = (components, dimension)
        let file = try InitialArrays(path: path)
        let precisionsShape = covarianceType.shape(components: k, dimension: d)
        try file.refuseOthers(than: ["weights", "means", "precisions"])
        let initialWeights = try file.required("weights", shape: [k], meaning: "a weight per component")
        try file.refuseNegative(initialWeights, of: "weights")
        try file.refuseUnnormalized(initialWeights, of: "weights", width: k)
        let initialMeans = try file.required("means", shape: [k, d], meaning: "components, values")
        let precisions = try file.required("precisions", shape: precisionsShape,
                                           meaning: "scikit-learn's precisions for covariance_type \(covarianceType.rawValue)")
        let initial: GaussianComponents
        do {
            initial = try GaussianComponents(type: covarianceType, components: k, dimension: d, precisions: precisions)
        } catch .notPositiveDefinite(let matrix, _) {
            throw DatasetError(path: path, problem: "array 'precisions' \(covarianceType == .tied ? "" : "of component \(matrix) ")is not positive definite")
        } catch .varianceNotPositive(let component, let value) {
            throw DatasetError(path: path, problem: "array 'precisions' of component \(component) holds \(value); expected positive values")
        }
        weights.values = initialWeights
        means.values = initialMeans
        covariances.values = initial.covariances
        cachedComponents = initial
    }

    // MARK: - Samples and pictures

    /// Samples `indices` [count, d]: sample i's component drawn by the weights, then mu + L z, z ~ N(0, I); it depends
    /// only on the seed and i.
    public func sample(_ indices: Range<Int>, random: CounterRandom) throws -> (values: [Double], components: [Int]) {
        let (k, d) = (components, dimension)
        let weightValues = weights.values, meanValues = means.values
        let fitted = try currentComponents()
        var values: [Double] = []
        values.reserveCapacity(indices.count * d)
        var chosen: [Int] = []
        for index in indices {
            let u = random.uniformDoubles(stream: Self.componentStream, step: 0, sample: UInt64(index), count: 1)[0]
            var cumulative = 0.0
            let j = weightValues.indices.first { cumulative += weightValues[$0]; return u < cumulative } ?? k - 1
            chosen.append(j)
            let z = random.normals(stream: Self.sampleStream, step: 0, sample: UInt64(index), count: d).map(Double.init)
            values += fitted.draw(component: j, mean: meanValues[(j * d)..<((j + 1) * d)], standardNormal: z)
        }
        return (values, chosen)
    }

    /// The k means as images under their weights, and the samples under their components.
    public func finalPictures(examples: Tensor, random: CounterRandom) throws -> [Picture] {
        guard sampleShape.count == 3 else { return [] }
        let k = components
        let fitted = " after \(Int(iterations.scalar)) EM iterations" + (hasConverged ? " (converged)" : "")
        var pictures = [Picture(name: "means", title: "the \(k) means of the mixture" + fitted + ", under their weights",
                                images: Tensor(shape: [k] + sampleShape, values: means.values.map(Float.init)), columns: min(k, 10),
                                captions: weights.values.map { String(format: "%.3f", $0) })]
        if sampleCount > 0 {
            let (values, chosen) = try sample(0..<sampleCount, random: random)
            pictures.append(Picture(name: "samples", title: "\(sampleCount) samples of the mixture", images: Tensor(shape: [sampleCount] + sampleShape,
                                    values: values.map { Float(min(max($0, 0), 1)) }),
                                    columns: min(sampleCount, 10), captions: chosen.map { "from \($0 + 1)" }))
        }
        return pictures
    }

    public func evaluationPictures(random: CounterRandom) -> [Picture] { [] }

    /// Whether it converged, its iterations, last lower bound, weights and (after the final pass) score, BIC and AIC.
    public func finalReport(random: CounterRandom) throws -> (lines: [String], record: [String: Any]) {
        var record: [String: Any] = ["converged": hasConverged, "n_iter": Int(iterations.scalar), "lower_bound": lowerBound.scalar,
                                     "weights": weights.values, "covariance_type": covarianceType.rawValue]
        var lines = [String(format: "gmm: %@ after %d iterations, lower bound %.6f (last change %.3g)",
                            hasConverged ? "converged" : "did not converge", Int(iterations.scalar), lowerBound.scalar, change.scalar)]
        if let finalScore {
            let n = Double(finalScore.samples)
            let bic = -2 * finalScore.meanLogLikelihood * n + Double(parameterCount) * log(n)
            let aic = -2 * finalScore.meanLogLikelihood * n + 2 * Double(parameterCount)
            record["score"] = finalScore.meanLogLikelihood
            record["bic"] = bic
            record["aic"] = aic
            lines.append(String(format: "gmm: score %.6f per sample, BIC %.6g, AIC %.6g (%d free parameters)",
                                finalScore.meanLogLikelihood, bic, aic, parameterCount))
        }
        lines.append("gmm: weights " + weights.values.map { String(format: "%.4f", $0) }.joined(separator: " "))
        return (lines, record)
    }

    /// Free parameters (scikit-learn's `_n_parameters`): covariances, means and k - 1 weights.
    public var parameterCount: Int { covarianceType.parameterCount(components: components, dimension: dimension) + components * dimension + components - 1 }
}

// MARK: - The final pass

extension GaussianMixture: FinalPass {
    /// scikit-learn's final E-step: the mean log-likelihood of every rank's rows under the fitted parameters.
    public func finalPass(_ batch: TrainingBatch, context: StepContext) throws {
        var sums = try withRows(of: batch) { rows in [try expectation(rows).logLikelihoods.reduce(0, +), Double(rows.count / dimension)] }
        try context.sumAcrossRanks(&sums)
        finalScore = (sums[0] / sums[1], Int(sums[1]))
    }
}

// MARK: - Sampling as images

extension GaussianMixture: ImageSampler {
    /// Samples as images (`gentrain sample`, FID), clipped to [0, 1]; a fitted mixture's covariances can be factored.
    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64) -> Tensor {
        do {
            return Tensor(shape: [samples.count] + sampleShape, values: try sample(samples, random: random).values.map { Float(min(max($0, 0), 1)) })
        } catch {
            fatalError("gmm: \(error)")
        }
    }
}

// MARK: - Export and inference

extension GaussianMixture: ArrayExportable, InferencePasses {
    /// scikit-learn's attributes in Float64: `weights` [k], `means` [k, d], `covariances`, `precisions_cholesky` (upper
    /// triangular for full and tied, as scikit-learn's) and `precisions`, in its shapes; `converged`, `n_iter`, `lower_bound`.
    public func exportedArrays(step: Int) -> [NamedArray] {
        let (k, d) = (components, dimension)
        let shape = covarianceType.shape(components: k, dimension: d)
        let (precisionsCholesky, precisions) = (try? currentComponents())?.precisions ?? ([], [])
        return [NamedArray(name: "weights", shape: [k], elements: .float64(weights.values)),
                NamedArray(name: "means", shape: [k, d], elements: .float64(means.values)),
                NamedArray(name: "covariances", shape: shape, elements: .float64(covariances.values)),
                NamedArray(name: "precisions_cholesky", shape: shape, elements: .float64(precisionsCholesky)),
                NamedArray(name: "precisions", shape: shape, elements: .float64(precisions)),
                NamedArray(name: "converged", shape: [], elements: .float64([hasConverged ? 1 : 0])),
                NamedArray(name: "n_iter", shape: [], elements: .float64([iterations.scalar])),
                NamedArray(name: "lower_bound", shape: [], elements: .float64([lowerBound.scalar]))]
    }

    public var exportMetadata: [String: String] { ["format": "np", "model": "gmm", "covariance_type": covarianceType.rawValue] }

    /// `log_density`: rows [N, d] -> log sum_j w_j N(x; mu_j, S_j) [N, 1] (scikit-learn's `score_samples`);
    /// `responsibilities`: rows -> [N, k] (its `predict_proba`).
    public var inferencePasses: [InferencePass] {
        func expectation(of input: Tensor) -> (logLikelihoods: [Double], responsibilities: [Double]) {
            let rows = input.scalars.map(Double.init)
            return (try? rows.withUnsafeBufferPointer { try self.expectation($0) })
                ?? ([Double](repeating: -.infinity, count: input.shape[0]), [Double](repeating: .nan, count: input.shape[0] * components))
        }
        return [InferencePass(name: "log_density", sampleShape: [dimension]) { input in
                    Tensor(shape: [input.shape[0], 1], values: expectation(of: input).logLikelihoods.map(Float.init))
                },
                InferencePass(name: "responsibilities", sampleShape: [dimension]) { [components] input in
                    Tensor(shape: [input.shape[0], components], values: expectation(of: input).responsibilities.map(Float.init))
                }]
    }
}
