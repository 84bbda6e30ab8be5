@testable import DistributedTraining
import Foundation
import Testing

/// The final record of a run's metrics.jsonl.
func finalRecord(_ output: String) throws -> [String: Any] {
    let text = try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8)
    let records = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    return try #require(records.last { $0["event"] as? String == "final" })
}

func largestRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return .infinity }
    let scale = b.map(abs).max() ?? 1
    return zip(a, b).map { abs($0 - $1) }.max()! / scale
}

/// The Gaussian's sums go through the trainer's all-reduce: 1, 2 and 3 ranks give the same fit to 1e-12.
@Suite(.serialized) struct GaussianTrainingTests {
    @Test func heightsOnOneTwoAndThreeRanksMatchNumPy() throws {
        let reference = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("ModelsTests/Fixtures/gaussian_heights_numpy.json").path))) as? [String: Any])
        let referenceMean = try #require(reference["mean"] as? [Double])
        let referenceCovariance = try #require(reference["covariance"] as? [[Double]]).flatMap { $0 }
        var fits: [[Double]] = []
        for ranks in 1...3 {
            let output = runFolder("gaussian-heights-\(ranks)")
            let result = try train("gaussian-heights", ranks: ranks, output: output, ["--set", "data.path=" + dataFile("heights.csv")])
            #expect(result.status == 0, "\(result.output)")
            let record = try finalRecord(output)
            let mean = try #require(record["mean"] as? [Double])
            let covariance = try #require(record["covariance"] as? [[Double]]).flatMap { $0 }
            #expect(largestRelativeDifference(mean, referenceMean) < 1e-12 && largestRelativeDifference(covariance, referenceCovariance) < 1e-12,
                    "\(ranks) rank(s): mean \(mean), covariance \(covariance)")
            #expect((record["samples"] as? [[Double]])?.count == 5 && record["samples_fitted"] as? Int == 12)
            #expect(result.output.contains("mean [170.083, 69.3333]"))
            fits.append(mean + covariance + (record["samples"] as? [[Double]] ?? []).flatMap { $0 })
        }
        // The samples depend on the seed and the fit only: the same on any number of ranks.
        #expect(largestRelativeDifference(fits[1], fits[0]) < 1e-12 && largestRelativeDifference(fits[2], fits[0]) < 1e-12)
    }

    @Test func oneFashionClassOnOneTwoAndThreeRanks() throws {
        var means: [[Double]] = [], variances: [[Double]] = []
        for ranks in 1...3 {
            let output = runFolder("gaussian-fashion-\(ranks)")
            let result = try train("gaussian-fashion", ranks: ranks, output: output)
            #expect(result.status == 0, "\(result.output)")
            let record = try finalRecord(output)
            means.append(try #require(record["mean"] as? [Double]))
            variances.append(try #require(record["covariance_diagonal"] as? [Double]))
            #expect(record["samples_fitted"] as? Int == 6000 && means.last?.count == 784)
            #expect(FileManager.default.fileExists(atPath: output + "/samples.png") && FileManager.default.fileExists(atPath: output + "/mean.png"))
        }
        for ranks in 1..<3 {
            #expect(largestRelativeDifference(means[ranks], means[0]) < 1e-12 && largestRelativeDifference(variances[ranks], variances[0]) < 1e-12)
        }
    }

    /// Without the regulariser the fit of images with constant pixels cannot be factored: one line names the pixel and the key.
    @Test func aSingularCovarianceEndsWithOneLineNamingTheRegulariser() throws {
        let result = try train("gaussian-fashion", ranks: 1, output: runFolder("gaussian-singular"), ["--set", "model.regularization=0"])
        #expect(result.status != 0)
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("gentrain:") }
        #expect(lines.count == 1 && lines[0].contains("not positive definite") && lines[0].contains("model.regularization"), "\(result.output)")
        #expect(!result.output.contains("Fatal error") && !result.output.contains("Stack"))
    }
}

/// A file of the repository's data folder.
func dataFile(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("data/\(name)").path
}

/// `gentrain sample` draws a fitted image Gaussian's samples, the same bytes on 1 and 2 ranks, and refuses a table's.
@Suite(.serialized) struct GaussianSampleTests {
    @Test func samplesOfAnImageGaussianAndNoneOfATable() throws {
        let output = runFolder("gaussian-sample")
        #expect(try train("gaussian-fashion", ranks: 1, output: output).status == 0)
        let checkpoint = output + "/checkpoints/step-0000000001.gtck"
        var files: [Data] = []
        for ranks in [1, 2] {
            let launcher = mpirun(ranks: ranks)
            let npy = output + "/samples-\(ranks).npy"
            let result = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "sample", checkpoint, "--count", "7", "--npy", npy],
                                 environment: launcher.environment)
            #expect(result.status == 0, "\(result.output)")
            files.append(try Data(contentsOf: URL(fileURLWithPath: npy)))
        }
        #expect(files[0] == files[1] && files[0].count > 7 * 784)
        let tableOutput = runFolder("gaussian-sample-table")
        #expect(try train("gaussian-heights", ranks: 1, output: tableOutput, ["--set", "data.path=" + dataFile("heights.csv")]).status == 0)
        let refused = try run(gentrainExecutable().path, ["sample", tableOutput + "/checkpoints/step-0000000001.gtck", "--npy", tableOutput + "/x.npy"])
        #expect(refused.status != 0 && refused.output.contains("draws rows of 2 values, not images"), "\(refused.output)")
    }
}
