import DataIO
import Foundation
import Testing
@testable import Models
@testable import TensorCore

/// scikit-learn's fits of scripts/reference_gmm.py.
func scikitLearnMixtures() throws -> [String: Any] {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/gmm_sklearn.json").path
    return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
}

/// Nested JSON arrays of numbers, flattened.
func flatNumbers(_ value: Any?) -> [Double] {
    if let number = value as? Double { return [number] }
    return (value as? [Any] ?? []).flatMap(flatNumbers)
}

/// A folder of its own under the temporary folder.
func mixtureFolder() -> String {
    let folder = NSTemporaryDirectory() + "gmm-\(UInt64.random(in: 0...UInt64.max))"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return folder
}

/// A mixture built from a job file with `options` in its model section, on rows of `dimension` values.
func makeMixture(_ options: String, dimension: Int, folder: String) throws -> GaussianMixture {
    try "name: t\nmodel: {kind: gmm, \(options)}\ndata: {dataset: table, path: \(folder)/rows.npy}\ntrain: {steps: 100}\noutput: \(folder)\n"
        .write(toFile: folder + "/job.yaml", atomically: true, encoding: .utf8)
    var job = try ModelRegistry.loadJob(path: folder + "/job.yaml")
    job.sampleShape = [dimension]
    return try #require(ModelRegistry.makeModel(job) as? GaussianMixture)
}

/// Fits `model` to `rows` on one process until it converges or `maxIterations`; returns each iteration's lower bound.
func fit(_ model: GaussianMixture, rows: [Double], dimension: Int, maxIterations: Int) throws -> [Double] {
    let batch = TrainingBatch(images: Tensor(shape: [rows.count / dimension, dimension], values: rows.map(Float.init)))
    var bounds: [Double] = []
    for step in 0..<maxIterations where !model.hasConverged {
        let context = StepContext(forward: ForwardContext(training: true, step: UInt64(step)), globalBatch: rows.count / dimension)
        _ = try model.trainStep(batch, context: context)
        bounds.append(model.lowerBound.scalar)
    }
    try model.finalPass(batch, context: StepContext(forward: ForwardContext(training: true), globalBatch: rows.count / dimension))
    return bounds
}

func exported(_ model: GaussianMixture) -> [String: [Double]] {
    Dictionary(uniqueKeysWithValues: model.exportedArrays(step: 0).compactMap { array in
        if case .float64(let values) = array.elements { return (array.name, values) }
        return nil
    })
}

/// scikit-learn's initial parameters of a case, as the `.npz` file `model.init` names.
func writeInitialMixture(_ reference: [String: Any], case index: Int, to path: String, precisionsShape: [Int]? = nil) throws {
    let cases = try #require(reference["cases"] as? [[String: Any]])
    let precisions = flatNumbers(cases[index]["precisions_init"])
    let k = reference["components"] as? Int ?? 0
    let type = GaussianMixture.CovarianceType(rawValue: cases[index]["covariance_type"] as? String ?? "") ?? .full
    let shape = precisionsShape ?? type.shape(components: k, dimension: 4)
    try NumPyArchive.write([NamedArray(name: "weights", shape: [k], elements: .float64(flatNumbers(reference["weights_init"]))),
                            NamedArray(name: "means", shape: [k, 4], elements: .float64(flatNumbers(reference["means_init"]))),
                            NamedArray(name: "precisions", shape: shape, elements: .float64(precisions))], to: path)
}

@Suite struct GaussianMixtureTests {
    /// From scikit-learn's initial parameters, every iteration's lower bound, the number of iterations, convergence, the
    /// fitted parameters and the score, BIC and AIC agree to 1e-9 relative or better (the issue asks 1e-6), for each covariance type.
    @Test(arguments: 0..<5)
    func matchesScikitLearnFromTheSameStart(index: Int) throws {
        let reference = try scikitLearnMixtures()
        let expected = try #require(reference["cases"] as? [[String: Any]])[index]
        let rows = flatNumbers(reference["rows"])
        let folder = mixtureFolder()
        try NumPyArray.write(NamedArray(name: "rows", shape: [rows.count / 4, 4], elements: .float64(rows)), to: folder + "/rows.npy")
        try writeInitialMixture(reference, case: index, to: folder + "/init.npz")
        let type = try #require(expected["covariance_type"] as? String)
        let model = try makeMixture("components: 3, covariance_type: \(type), tol: \(expected["tol"]!), init: \(folder)/init.npz", dimension: 4, folder: folder)
        let bounds = try fit(model, rows: rows, dimension: 4, maxIterations: try #require(expected["max_iter"] as? Int))
        let referenceBounds = flatNumbers(expected["lower_bounds"])
        #expect(bounds.count == referenceBounds.count && Int(model.iterations.scalar) == expected["n_iter"] as? Int)
        #expect(model.hasConverged == (expected["converged"] as? Bool))
        #expect(relativeError(bounds, referenceBounds) < 1e-10, "\(type): \(bounds) vs \(referenceBounds)")
        // EM never lowers the bound (beyond rounding).
        #expect(zip(bounds.dropFirst(), bounds).allSatisfy { $0 >= $1 - 1e-12 * abs($1) }, "\(bounds)")
        let arrays = exported(model)
        for name in ["weights", "means", "covariances", "precisions_cholesky"] {
            let fitted = try #require(arrays[name]), referenceValues = flatNumbers(expected[name])
            #expect(fitted.count == referenceValues.count && largestScaledDifference(fitted, referenceValues) < 1e-9, "\(type) \(name): \(largestScaledDifference(fitted, referenceValues))")
        }
        let report = try model.finalReport(random: CounterRandom(seed: 1)).record
        for name in ["score", "bic", "aic"] {
            let value = try #require(report[name] as? Double), referenceValue = try #require(expected[name] as? Double)
            #expect(abs(value - referenceValue) <= 1e-10 * abs(referenceValue), "\(type) \(name): \(value) vs \(referenceValue)")
        }
    }

    /// k-means and random starts find three well-separated blobs; EM then never lowers the bound.
    @Test(arguments: ["kmeans", "random"])
    func initialisationsFindSeparatedBlobs(initialisation: String) throws {
        let centres: [[Double]] = [[0, 0], [10, 0], [0, 10]]
        var generator = SeededGenerator(seed: 5)
        let noise = generator.normalTensor([90, 2]).scalars.map(Double.init)
        var rows: [Double] = []
        for row in 0..<90 { for column in 0..<2 { rows.append(centres[row % 3][column] + 0.5 * noise[row * 2 + column]) } }
        let folder = mixtureFolder()
        let model = try makeMixture("components: 3, covariance_type: diag, init: \(initialisation)", dimension: 2, folder: folder)
        let bounds = try fit(model, rows: rows, dimension: 2, maxIterations: 100)
        #expect(model.hasConverged && zip(bounds.dropFirst(), bounds).allSatisfy { $0 >= $1 - 1e-12 * abs($1) }, "\(bounds)")
        let means = model.means.values
        for centre in centres {
            #expect((0..<3).contains { j in abs(means[j * 2] - centre[0]) < 0.5 && abs(means[j * 2 + 1] - centre[1]) < 0.5 }, "\(means)")
        }
        #expect(model.weights.values.allSatisfy { abs($0 - 1.0 / 3) < 0.02 })
    }

    /// Samples follow the fitted mixture: each component's share is its weight, and each sample's component is reported.
    @Test func samplesFollowTheWeights() throws {
        let folder = mixtureFolder()
        let model = try makeMixture("components: 2, covariance_type: full", dimension: 2, folder: folder)
        model.weights.values = [0.25, 0.75]
        model.means.values = [-5, 0, 5, 0]
        let (values, components) = try model.sample(0..<4000, random: CounterRandom(seed: 3))
        let first = components.indices.filter { components[$0] == 0 }
        #expect(abs(Double(first.count) / 4000 - 0.25) < 0.03)
        // Component 0's samples sit around its mean (-5, 0) with unit variance; the others around (5, 0).
        let firstMean = first.reduce(0.0) { $0 + values[$1 * 2] } / Double(first.count)
        let otherMean = components.indices.filter { components[$0] == 1 }.reduce(0.0) { $0 + values[$1 * 2] } / Double(4000 - first.count)
        #expect(abs(firstMean + 5) < 0.15 && abs(otherMean - 5) < 0.1, "\(firstMean) \(otherMean)")
    }

    /// A column that never changes makes a covariance singular without reg_covar: the error names the component and the key.
    @Test func aSingularCovarianceNamesTheComponentAndTheRegulariser() throws {
        var rows: [Double] = []
        for row in 0..<60 { rows += [Double(row % 7), Double(row % 5) * 0.5, 0] }  // the third column is always 0
        let folder = mixtureFolder()
        for (type, words) in [("full", "the covariance of component"), ("tied", "the tied covariance"), ("diag", "has a variance of 0.0")] {
            let model = try makeMixture("components: 2, covariance_type: \(type), reg_covar: 0, init: random", dimension: 3, folder: folder)
            do {
                _ = try fit(model, rows: rows, dimension: 3, maxIterations: 2)
                Issue.record("\(type): a singular covariance was accepted: \(model.covariances.values)")
            } catch let error as ModelError {
                #expect(error.message.contains(words) && error.message.contains("model.reg_covar") && !error.message.contains("\n"), "\(error.message)")
            }
            // With scikit-learn's default regulariser the same data fits (a spherical variance, the mean over columns, is never 0 here).
            let regularized = try makeMixture("components: 2, covariance_type: \(type), init: random", dimension: 3, folder: folder)
            #expect(try fit(regularized, rows: rows, dimension: 3, maxIterations: 5).allSatisfy(\.isFinite))
        }
    }

    /// A file of the wrong shape, a missing array, fewer samples than components: one line naming what is wrong.
    @Test func badStartsAreOneLine() throws {
        let reference = try scikitLearnMixtures()
        let rows = flatNumbers(reference["rows"])
        let folder = mixtureFolder()
        try writeInitialMixture(reference, case: 0, to: folder + "/wrong.npz", precisionsShape: [3, 16])
        let model = try makeMixture("components: 3, init: \(folder)/wrong.npz", dimension: 4, folder: folder)
        do {
            _ = try fit(model, rows: rows, dimension: 4, maxIterations: 1)
            Issue.record("a precisions array of the wrong shape was accepted")
        } catch let error as DatasetError {
            #expect("\(error)".contains("wrong.npz") && "\(error)".contains("'precisions' has shape [3, 16]; expected [3, 4, 4]")
                    && !"\(error)".contains("\n"), "\(error)")
        }
        let few = try makeMixture("components: 8", dimension: 4, folder: folder)
        do {
            _ = try fit(few, rows: Array(rows[0..<20]), dimension: 4, maxIterations: 1)
            Issue.record("5 samples for 8 components were accepted")
        } catch let error as ModelError {
            #expect(error.message.contains("5 samples for 8 components"), "\(error.message)")
        }
    }
}

/// Largest |a - b| over the largest |b|.
func largestScaledDifference(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max()! / max(b.map(abs).max()!, 1e-300)
}
