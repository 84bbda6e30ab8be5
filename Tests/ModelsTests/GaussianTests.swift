import Foundation
import Testing
@testable import Models
@testable import TensorCore

/// The heights table of data/heights.csv as [12, 2] rows.
func heightRows() -> Tensor {
    Tensor(shape: [12, 2], values: [169, 70, 172, 68, 175, 78, 163, 58, 180, 80, 159, 76, 158, 52, 173, 69, 180, 75, 155, 50, 187, 90, 170, 66])
}

/// NumPy's fit of the same table (scripts/reference_gaussian.py).
func numpyHeights() throws -> [String: Any] {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/gaussian_heights_numpy.json").path
    return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
}

func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-300) }.max() ?? .infinity
}

@Suite struct GaussianTests {
    @Test func fitMatchesNumPy() throws {
        let reference = try numpyHeights()
        let model = Gaussian(sampleShape: [2])
        _ = try model.trainStep(TrainingBatch(images: heightRows()), context: StepContext(forward: ForwardContext(training: true), globalBatch: 12))
        let fit = try #require(model.statistics)
        #expect(relativeError(fit.mean, try #require(reference["mean"] as? [Double])) < 1e-13)
        let covariance = try #require(reference["covariance"] as? [[Double]]).flatMap { $0 }
        #expect(relativeError(fit.covariance, covariance) < 1e-13)
        let factor = try #require(model.regularizedFactor(fit.covariance).factor)
        let logLikelihood = model.meanLogLikelihood(fit, factor: factor)
        #expect(abs(logLikelihood - (reference["mean_log_likelihood"] as? Double ?? 0)) < 1e-12 * abs(logLikelihood))
        // What the checkpoint keeps gives the Float64 fit back to 1e-14 (a restored model has no `statistics`).
        #expect(model.mean.value.scalars == fit.mean.map(Float.init))
        let restored = Gaussian(sampleShape: [2])
        restored.group.state.pointer.update(from: model.group.state.pointer, count: model.group.state.count)
        #expect(relativeError(restored.currentFit().mean, fit.mean) < 1e-14 && relativeError(restored.currentFit().covariance, fit.covariance) < 1e-14)
    }

    /// The export holds the Float64 fit under its own names, and `log_density` is the log-density numpy's fit gives.
    @Test func exportAndLogDensity() throws {
        let reference = try numpyHeights()
        let model = Gaussian(sampleShape: [2])
        _ = try model.trainStep(TrainingBatch(images: heightRows()), context: StepContext(forward: ForwardContext(training: true), globalBatch: 12))
        let arrays = Dictionary(uniqueKeysWithValues: model.exportedArrays(step: 1).map { ($0.name, $0) })
        guard case .float64(let mean) = arrays["mean"]?.elements, case .float64(let covariance) = arrays["covariance"]?.elements else {
            Issue.record("mean and covariance are not exported as float64")
            return
        }
        #expect(relativeError(mean, try #require(reference["mean"] as? [Double])) < 1e-13 && arrays["covariance"]?.shape == [2, 2])
        #expect(relativeError(covariance, try #require(reference["covariance"] as? [[Double]]).flatMap { $0 }) < 1e-13)
        let pass = try #require(model.inferencePasses.first { $0.name == "log_density" })
        let densities = pass(heightRows()).scalars.map(Double.init)
        let meanDensity = densities.reduce(0, +) / 12
        #expect(abs(meanDensity - (reference["mean_log_likelihood"] as? Double ?? 0)) < 1e-5 * abs(meanDensity))
    }

    /// Samples x = mean + L z: over many of them the sample mean and covariance approach the fit's.
    @Test func samplesFollowTheFit() throws {
        let model = Gaussian(sampleShape: [2])
        _ = try model.trainStep(TrainingBatch(images: heightRows()), context: StepContext(forward: ForwardContext(training: true), globalBatch: 12))
        let samples = try model.sample(count: 4000, random: CounterRandom(seed: 3))
        let drawn = samples.withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: 2) }
        let fit = try #require(model.statistics)
        // Standard errors: sqrt(var / n) for the mean (about 0.16 and 0.19), about 2% for the covariance entries.
        for i in 0..<2 { #expect(abs(drawn.mean[i] - fit.mean[i]) < 5 * (fit.covariance[i * 2 + i] / 4000).squareRoot()) }
        #expect(relativeError(drawn.covariance, fit.covariance) < 0.1)
        #expect(try model.sample(count: 3, random: CounterRandom(seed: 3)) == Array(samples.prefix(6)))
    }

    /// A constant column makes the covariance singular: sampling names the column and the key that fixes it.
    @Test func singularCovarianceNamesTheRegulariser() throws {
        let rows = Tensor(shape: [4, 3], values: [1, 5, 2, 2, 5, 1, 3, 5, 7, 4, 5, 3])
        let model = Gaussian(sampleShape: [3])
        #expect { try model.trainStep(TrainingBatch(images: rows), context: StepContext(forward: ForwardContext(training: true), globalBatch: 4)) } throws: {
            "\($0)".contains("column 1 has variance 0.0") && "\($0)".contains("model.regularization")
        }
        #expect(model.statistics == nil)
        let regularized = Gaussian(sampleShape: [3], regularization: 1e-6)
        let fitted = try regularized.trainStep(TrainingBatch(images: rows), context: StepContext(forward: ForwardContext(training: true), globalBatch: 4))
        #expect(fitted["log_likelihood"]?.isFinite == true)
        #expect(try regularized.sample(count: 2, random: CounterRandom(seed: 1)).allSatisfy(\.isFinite))
    }
}
