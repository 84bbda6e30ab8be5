import DataIO
@testable import DistributedTraining
import Foundation
import Testing
import TensorCore

/// scikit-learn's fits of scripts/reference_gmm.py (Tests/ModelsTests/Fixtures).
func scikitLearnMixtureFixture() throws -> [String: Any] {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelsTests/Fixtures/gmm_sklearn.json").path
    return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
}

func numbers(_ value: Any?) -> [Double] {
    if let number = value as? Double { return [number] }
    return (value as? [Any] ?? []).flatMap(numbers)
}

/// A mixture job on the fixture's rows (written to `folder`), with `model` options.
func mixtureJob(folder: String, model: String, steps: Int = 100) throws -> String {
    let reference = try scikitLearnMixtureFixture()
    let rows = numbers(reference["rows"])
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try NumPyArray.write(NamedArray(name: "rows", shape: [rows.count / 4, 4], elements: .float64(rows)), to: folder + "/rows.npy")
    let path = folder + "/job.yaml"
    try "name: gmm-test\nmodel: {kind: gmm, \(model)}\ndata: {dataset: table, path: \(folder)/rows.npy}\ntrain: {steps: \(steps), seed: 3}\noutput: \(folder)/run\n"
        .write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// `gentrain train JOB` on `ranks` ranks through real mpirun.
func trainJob(_ path: String, ranks: Int, _ extra: [String] = []) throws -> (status: Int32, output: String) {
    let launcher = mpirun(ranks: ranks)
    return try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", path] + extra, environment: launcher.environment)
}

/// The Float64 state tensor `name` of a checkpoint's first group.
func float64Tensor(_ checkpoint: Checkpoint, _ name: String) throws -> [Double] {
    let group = try #require(checkpoint.groups.first)
    var offset = 0
    for tensor in try #require(group.float64Layout) {
        let count = tensor.shape.reduce(1, *)
        if tensor.name == name { return Array(group.float64State[offset..<(offset + count)]) }
        offset += count
    }
    Issue.record("no Float64 tensor \(name)")
    return []
}

/// The mixture's sums go through the trainer's reducer: from scikit-learn's start, 1, 2 and 3 ranks reproduce its lower
/// bounds, iterations, parameters and BIC for every covariance type; a resumed run is bitwise the uninterrupted one.
@Suite(.serialized) struct GaussianMixtureTrainingTests {
    @Test func fromScikitLearnsStartOnOneTwoAndThreeRanks() throws {
        let reference = try scikitLearnMixtureFixture()
        let cases = try #require(reference["cases"] as? [[String: Any]])
        for expected in cases.prefix(4) {
            let type = try #require(expected["covariance_type"] as? String)
            let folder = runFolder("gmm-\(type)")
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let shape: [Int] = switch type { case "full": [3, 4, 4]; case "tied": [4, 4]; case "diag": [3, 4]; default: [3] }
            try NumPyArchive.write([NamedArray(name: "weights", shape: [3], elements: .float64(numbers(reference["weights_init"]))),
                                    NamedArray(name: "means", shape: [3, 4], elements: .float64(numbers(reference["means_init"]))),
                                    NamedArray(name: "precisions", shape: shape, elements: .float64(numbers(expected["precisions_init"])))],
                                   to: folder + "/init.npz")
            let job = try mixtureJob(folder: folder, model: "components: 3, covariance_type: \(type), tol: 0.00001, init: \(folder)/init.npz")
            let referenceBounds = numbers(expected["lower_bounds"])
            for ranks in 1...3 {
                let result = try trainJob(job, ranks: ranks, ["--set", "output=\(folder)/run-\(ranks)"])
                #expect(result.status == 0, "\(result.output)")
                let record = try finalRecord(folder + "/run-\(ranks)")
                #expect(record["converged"] as? Bool == true && record["n_iter"] as? Int == expected["n_iter"] as? Int, "\(type) on \(ranks): \(record)")
                for name in ["lower_bound", "bic", "aic", "score"] {
                    let value = try #require(record[name] as? Double)
                    let referenceValue = name == "lower_bound" ? referenceBounds.last! : try #require(expected[name] as? Double)
                    #expect(abs(value - referenceValue) <= 1e-9 * abs(referenceValue), "\(type) on \(ranks) ranks: \(name) \(value) vs \(referenceValue)")
                }
                // Every iteration's lower bound in metrics.jsonl (Float32 there), one line per iteration.
                let lines = try String(contentsOfFile: folder + "/run-\(ranks)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
                    .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["event"] == nil }
                let bounds = lines.compactMap { $0["lower_bound"] as? Double }
                #expect(bounds.count == referenceBounds.count && zip(bounds, referenceBounds).allSatisfy { abs($0 - $1) <= 1e-6 * abs($1) })
                #expect(lines.map { $0["iteration"] as? Double } == (1...referenceBounds.count).map(Double.init))
                let checkpoint = try finalCheckpoint(folder + "/run-\(ranks)", step: referenceBounds.count)
                for name in ["weights", "means", "covariances"] {
                    #expect(largestRelativeDifference(try float64Tensor(checkpoint, name), numbers(expected[name])) < 1e-9, "\(type) on \(ranks): \(name)")
                }
            }
        }
    }

    /// k-means start on 2 ranks: stopped after 3 iterations and resumed, the run ends with the same bytes as without the stop;
    /// running it again says it converged. The export holds scikit-learn's names and shapes.
    @Test func aResumedFitIsBitwiseTheUninterruptedOne() throws {
        let straight = runFolder("gmm-straight"), interrupted = runFolder("gmm-interrupted")
        let model = "components: 3, covariance_type: full, tol: 0.00000001, init: kmeans"
        let straightJob = try mixtureJob(folder: straight, model: model), interruptedJob = try mixtureJob(folder: interrupted, model: model)
        let whole = try trainJob(straightJob, ranks: 2)
        #expect(whole.status == 0 && whole.output.contains("converged at step"), "\(whole.output)")
        let first = try trainJob(interruptedJob, ranks: 2, ["--stop-at-step", "3"])
        #expect(first.status == 75, "\(first.output)")
        let second = try trainJob(interruptedJob, ranks: 2)
        #expect(second.status == 0 && second.output.contains("resuming at step 3"), "\(second.output)")
        let iterations = try #require(try finalRecord(straight + "/run")["n_iter"] as? Int)
        #expect(iterations > 3)
        let (a, b) = (try finalCheckpoint(straight + "/run", step: iterations), try finalCheckpoint(interrupted + "/run", step: iterations))
        #expect(a.groups == b.groups && !a.groups[0].float64State.isEmpty)
        let again = try trainJob(interruptedJob, ranks: 2)
        #expect(again.status == 0 && again.output.contains("already complete: it converged at step \(iterations)"), "\(again.output)")

        let export = straight + "/export.npz"
        let exported = try run(gentrainExecutable().path, ["export", "\(straight)/run/checkpoints/\(Checkpoint.fileName(step: iterations))",
                                                           "--format", "npz", "--output", export])
        #expect(exported.status == 0, "\(exported.output)")
        let shapes = Dictionary(uniqueKeysWithValues: try NumPyArchive.read(path: export).map { ($0.name, $0.shape) })
        #expect(shapes["weights"] == [3] && shapes["means"] == [3, 4] && shapes["covariances"] == [3, 4, 4] && shapes["precisions_cholesky"] == [3, 4, 4])
    }

    /// A precisions file of the wrong shape, a table with a NaN, fewer rows than components: one line (from each rank), exit non-zero.
    @Test func badInputIsOneLine() throws {
        let folder = runFolder("gmm-bad")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try NumPyArchive.write([NamedArray(name: "weights", shape: [3], elements: .float64([0.2, 0.3, 0.5])),
                                NamedArray(name: "means", shape: [3, 4], elements: .float64([Double](repeating: 0, count: 12))),
                                NamedArray(name: "precisions", shape: [3, 4], elements: .float64([Double](repeating: 1, count: 12)))],
                               to: folder + "/init.npz")
        let wrongShape = try trainJob(try mixtureJob(folder: folder, model: "components: 3, init: \(folder)/init.npz"), ranks: 2)
        let nan = folder + "/nan.npy"
        try NumPyArray.write(NamedArray(name: "rows", shape: [3, 2], elements: .float64([1, 2, 3, .nan, 5, 6])), to: nan)
        let nanJob = folder + "/nan.yaml"
        try "name: nan\nmodel: {kind: gmm, components: 2}\ndata: {dataset: table, path: \(nan)}\ntrain: {steps: 5}\noutput: \(folder)/nan-run\n"
            .write(toFile: nanJob, atomically: true, encoding: .utf8)
        let notANumber = try trainJob(nanJob, ranks: 1)
        let few = try trainJob(try mixtureJob(folder: folder + "/few", model: "components: 300"), ranks: 2)
        for (result, words) in [(wrongShape, ["init.npz", "'precisions' has shape [3, 4]", "expected [3, 4, 4]"]), (notANumber, ["nan.npy", "not finite"]),
                                (few, ["240 samples for 300 components"])] {
            // One line, the same on every rank (each names its rank).
            let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("gentrain:") }
                .map { $0.replacingOccurrences(of: #"rank \d+: "#, with: "", options: .regularExpression) }
            #expect(result.status != 0 && Set(lines).count == 1 && words.allSatisfy { lines.first?.contains($0) == true }, "\(result.output)")
            #expect(!result.output.contains("Fatal error") && !result.output.contains("Stack"))
        }
    }

    /// The course's job on 2 ranks, shortened (diagonal covariances, random start, 2 iterations: a debug build): pictures,
    /// the final record, and curves of the iterations only.
    @Test func theFashionJobWritesItsPictures() throws {
        let output = runFolder("gmm-fashion")
        let result = try train("gmm-fashion", ranks: 2, output: output,
                               ["--set", "model.covariance_type=diag", "--set", "model.init=random", "--set", "train.steps=2"])
        #expect(result.status == 0, "\(result.output)")
        for picture in ["means.png", "samples.png"] { #expect(FileManager.default.fileExists(atPath: "\(output)/\(picture)")) }
        let record = try finalRecord(output)
        #expect(record["n_iter"] as? Int == 2 && record["bic"] is Double && (record["weights"] as? [Double])?.count == 8)
        // The curves are the iterations' lower bound and change; the final report and the iteration count are not curves.
        #expect(curveSeries(metricsPath: output + "/metrics.jsonl").map(\.name) == ["change", "lower_bound"])
    }
}
