// The course's first generative model: one Gaussian fitted by maximum likelihood to every sample.
// mean = (1/N) sum x; covariance = (1/(N-1)) sum (x - mean)(x - mean)^T (N - 1, as np.cov).
// Its examples: the 12-person height/weight table (data/heights.csv), and one Fashion-MNIST class as
// 784-dimensional vectors, sampled as images. Samples x = mean + L z, z ~ N(0, I), L the Cholesky factor
// of the covariance (plus `regularization` on its diagonal: constant pixels make it singular).
// Data-parallel: one step takes every sample once; each rank sums its share, and two sums across ranks
// (count and mean, then the scatter about the global mean) give every rank the same fit.

import Foundation
import JobFiles
import TensorCore

/// One multivariate Gaussian.
public final class Gaussian: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "gaussian", summary: "one Gaussian fitted to every sample (mean, covariance with N - 1 as np.cov), sampled through a Cholesky factor",
            options: [
                .number("regularization", default: 0, in: 0...1,
                        help: "added to the covariance's diagonal before factoring it (constant pixels make it singular; scikit-learn's reg_covar is 1e-6)"),
                .integer("samples", default: 5, in: 0...10_000, help: "samples drawn at the end of a run"),
            ],
            groups: [],
            data: .vectors(scale: "unit", sampling: "epoch", realImagesPerStep: .wholeDataset),
            metrics: []),
        make: { Gaussian(sampleShape: $0.sampleShape, regularization: $0.number("regularization"), sampleCount: $0.integer("samples")) })

    /// One sample's shape: [D] for table rows, [1, 28, 28] for images.
    public let sampleShape: [Int]
    public let dimension: Int
    public let regularization: Double
    public let sampleCount: Int
    /// The fit as checkpoints keep it, the same on every rank: each Float64 value as its nearest Float32 and the
    /// Float32 residual (`Double(value) + Double(residual)` is the Float64 value to about 1e-14 relative).
    public let group: ParameterGroup
    let mean: Parameter
    let meanResidual: Parameter
    let covariance: Parameter
    let covarianceResidual: Parameter
    /// The Float64 fit of the last step (nil after a restore: then the checkpoint's Float32 values are used).
    public private(set) var statistics: GaussianStatistics?
    static let sampleStream: UInt32 = 0x4741_5553

    public init(sampleShape: [Int], regularization: Double = 0, sampleCount: Int = 5) {
        self.sampleShape = sampleShape
        dimension = sampleShape.reduce(1, *)
        self.regularization = regularization
        self.sampleCount = sampleCount
        group = ParameterGroup(name: "gaussian", seed: 0)
        mean = group.registerState("mean", initial: Tensor(zeros: [dimension]), agreement: .replicated)
        meanResidual = group.registerState("mean.residual", initial: Tensor(zeros: [dimension]), agreement: .replicated)
        // Before its fit, the standard normal N(0, I).
        let size = sampleShape.reduce(1, *)
        let identity = (0..<(size * size)).map { $0 / size == $0 % size ? Float(1) : 0 }
        covariance = group.registerState("covariance", initial: Tensor(shape: [dimension, dimension], values: identity), agreement: .replicated)
        covarianceResidual = group.registerState("covariance.residual", initial: Tensor(zeros: [dimension, dimension]), agreement: .replicated)
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }

    // MARK: - Fit

    /// Fits mean and covariance to every rank's rows together; returns this rank's part of the mean log-likelihood
    /// of the data under the fit. A covariance that cannot be factored (plus the regulariser) is an error.
    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let rows = batch.images.scalars.map(Double.init)
        let fit = try rows.withUnsafeBufferPointer { rows in
            try GaussianStatistics.sharded(rows: rows, dimension: dimension, sumAcrossRanks: context.sumAcrossRanks)
        }
        // A fit that cannot be factored cannot be sampled: say so now, the same on every rank, before it is saved.
        let (factor, failedPivot) = regularizedFactor(fit.covariance)
        guard let factor else { throw notPositiveDefinite(fit.covariance, failedPivot: failedPivot) }
        statistics = fit
        store(mean: fit.mean, covariance: fit.covariance)
        let share = context.share(of: fit.count)
        return ["log_likelihood": Float(meanLogLikelihood(fit, factor: factor)) * share.meanWeight]
    }

    /// The mean over the fitted samples of log N(x; mean, covariance), from the statistics alone:
    /// sum (x - m)^T S^-1 (x - m) = tr(S^-1 scatter).
    func meanLogLikelihood(_ fit: GaussianStatistics, factor: [Double]) -> Double {
        let n = dimension
        let logDeterminant = (0..<n).reduce(0.0) { $0 + 2 * log(factor[$1 * n + $1]) }
        let trace = traceOfInverseProduct(factor: factor, matrix: fit.scatter, dimension: n)
        return -0.5 * (Double(n) * log(2 * Double.pi) + logDeterminant + trace / Double(max(fit.count, 1)))
    }

    // MARK: - Samples and pictures

    /// `count` samples [count, D] (Float64) for samples `0..<count` of the sample stream.
    public func sample(count: Int, random: CounterRandom) throws -> [Double] { try sample(0..<count, random: random) }

    /// Samples `samples` [count, D] (Float64): sample i depends only on the seed and i, so ranks can share the indices.
    public func sample(_ indices: Range<Int>, random: CounterRandom) throws -> [Double] {
        let (meanValues, covarianceValues) = currentFit()
        let (factor, failedPivot) = regularizedFactor(covarianceValues)
        guard let factor else { throw notPositiveDefinite(covarianceValues, failedPivot: failedPivot) }
        let noise = random.normalTensor(stream: Self.sampleStream, step: 0, samples: indices, shape: [dimension]).scalars
        let (n, count) = (dimension, indices.count)
        var samples = [Double](repeating: 0, count: count * n)
        for row in 0..<count {
            for i in 0..<n {
                var value = meanValues[i]
                for k in 0...i { value += factor[i * n + k] * Double(noise[row * n + k]) }
                samples[row * n + i] = value
            }
        }
        return samples
    }

    /// The mean and the samples as images, when the samples are images.
    public func finalPictures(examples: Tensor, random: CounterRandom) throws -> [Picture] {
        guard sampleShape.count == 3, sampleCount > 0 else { return [] }
        let samples = try sample(count: sampleCount, random: random).map(Float.init)
        let meanImage = currentFit().mean.map(Float.init)
        let fitted = statistics.map { " fitted to \($0.count) images" } ?? ""
        return [Picture(name: "mean", title: "mean of the Gaussian" + fitted, images: Tensor(shape: [1] + sampleShape, values: meanImage), columns: 1),
                Picture(name: "samples", title: "\(sampleCount) samples of the Gaussian" + fitted,
                        images: Tensor(shape: [sampleCount] + sampleShape, values: samples), columns: min(sampleCount, 10))]
    }

    public func evaluationPictures(random: CounterRandom) -> [Picture] { [] }

    /// The fit and, for table rows, the samples: in the log and in metrics.jsonl (Float64).
    public func finalReport(random: CounterRandom) throws -> (lines: [String], record: [String: Any]) {
        let (meanValues, covarianceValues) = currentFit()
        let n = dimension
        var record: [String: Any] = ["mean": meanValues, "covariance_diagonal": (0..<n).map { covarianceValues[$0 * n + $0] },
                                     "samples_fitted": statistics?.count ?? 0]
        var lines = ["gaussian fitted to \(statistics?.count ?? 0) samples of \(n) values"]
        if n <= 16 {
            let rows = (0..<n).map { Array(covarianceValues[($0 * n)..<(($0 + 1) * n)]) }
            record["covariance"] = rows
            lines.append("mean " + format(meanValues))
            lines.append("covariance " + rows.map(format).joined(separator: ", "))
            if sampleCount > 0 {
                let samples = try sample(count: sampleCount, random: random)
                let sampleRows = (0..<sampleCount).map { Array(samples[($0 * n)..<(($0 + 1) * n)]) }
                record["samples"] = sampleRows
                lines.append("\(sampleCount) samples " + sampleRows.map(format).joined(separator: ", "))
            }
        } else {
            let diagonal = (0..<n).map { covarianceValues[$0 * n + $0] }
            lines.append(String(format: "mean of the mean %.6f, trace of the covariance %.6f", meanValues.reduce(0, +) / Double(n), diagonal.reduce(0, +)))
        }
        return (lines, record)
    }

    // MARK: - Helpers

    /// The Float64 fit of the last step, else the checkpoint's (value and residual).
    func currentFit() -> (mean: [Double], covariance: [Double]) {
        if let statistics { return (statistics.mean, statistics.covariance) }
        func restored(_ value: Parameter, _ residual: Parameter) -> [Double] {
            zip(value.value.scalars, residual.value.scalars).map { Double($0) + Double($1) }
        }
        return (restored(mean, meanResidual), restored(covariance, covarianceResidual))
    }

    func store(mean meanValues: [Double], covariance covarianceValues: [Double]) {
        func write(_ values: [Double], _ value: Parameter, _ residual: Parameter) {
            for (index, number) in values.enumerated() {
                let nearest = Float(number)
                group.state.pointer[value.entry.offset + index] = nearest
                group.state.pointer[residual.entry.offset + index] = Float(number - Double(nearest))
            }
        }
        write(meanValues, mean, meanResidual)
        write(covarianceValues, covariance, covarianceResidual)
    }

    func regularizedFactor(_ covarianceValues: [Double]) -> (factor: [Double]?, failedPivot: Int) {
        var matrix = covarianceValues
        for i in 0..<dimension { matrix[i * dimension + i] += regularization }
        return choleskyFactor(matrix, dimension: dimension)
    }

    func notPositiveDefinite(_ covarianceValues: [Double], failedPivot: Int) -> ModelError {
        let n = dimension
        let smallest = (0..<n).min { covarianceValues[$0 * n + $0] < covarianceValues[$1 * n + $1] } ?? 0
        let what = sampleShape.count == 3 ? "pixel" : "column"
        return ModelError("the covariance (plus model.regularization \(regularization)) is not positive definite: factoring fails at "
                          + "\(what) \(failedPivot), and \(what) \(smallest) has variance \(covarianceValues[smallest * n + smallest])"
                          + "; set model.regularization (e.g. 1e-6, scikit-learn's reg_covar, or larger) to add it to the diagonal")
    }

    func format(_ values: [Double]) -> String { "[" + values.map { String(format: "%.6g", $0) }.joined(separator: ", ") + "]" }
}

// MARK: - Sampling as images

extension Gaussian: ImageSampler {
    /// Samples as images [count] + sampleShape (`gentrain sample`, FID); a fitted model's covariance can be factored
    /// (the fit refuses one that cannot), so only a model never fitted could fail here.
    public func sample(_ samples: Range<Int>, random: CounterRandom, step: UInt64) -> Tensor {
        do {
            return Tensor(shape: [samples.count] + sampleShape, values: try sample(samples, random: random).map(Float.init))
        } catch {
            fatalError("gaussian: \(error)")
        }
    }
}

// MARK: - Export and inference

extension Gaussian: ArrayExportable, InferencePasses {
    /// `mean` [D] and `covariance` [D, D] in Float64 (as numpy.cov gives them), plus the regulariser used for sampling.
    public func exportedArrays(step: Int) -> [NamedArray] {
        let (meanValues, covarianceValues) = currentFit()
        return [NamedArray(name: "mean", shape: [dimension], elements: .float64(meanValues)),
                NamedArray(name: "covariance", shape: [dimension, dimension], elements: .float64(covarianceValues)),
                NamedArray(name: "regularization", shape: [], elements: .float64([regularization]))]
    }

    public var exportMetadata: [String: String] { ["format": "np", "model": "gaussian"] }

    /// `log_density`: rows [N, D] -> log N(x; mean, covariance + regularization I) [N, 1].
    public var inferencePasses: [InferencePass] {
        [InferencePass(name: "log_density", sampleShape: [dimension]) { [self] rows in
            let (meanValues, covarianceValues) = currentFit()
            let n = dimension, count = rows.shape[0]
            guard let factor = regularizedFactor(covarianceValues).factor else {
                return Tensor(repeating: -.infinity, shape: [count, 1])
            }
            let logDeterminant = (0..<n).reduce(0.0) { $0 + 2 * log(factor[$1 * n + $1]) }
            let values = rows.scalars
            var result = [Float](repeating: 0, count: count)
            var solved = [Double](repeating: 0, count: n)
            for row in 0..<count {
                var distance = 0.0
                for i in 0..<n {
                    var value = Double(values[row * n + i]) - meanValues[i]
                    for k in 0..<i { value -= factor[i * n + k] * solved[k] }
                    solved[i] = value / factor[i * n + i]
                    distance += solved[i] * solved[i]
                }
                result[row] = Float(-0.5 * (Double(n) * log(2 * Double.pi) + logDeterminant + distance))
            }
            return Tensor(shape: [count, 1], values: result)
        }]
    }
}
