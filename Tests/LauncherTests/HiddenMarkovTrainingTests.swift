import DataIO
@testable import DistributedTraining
import Foundation
import TensorCore
import Testing

/// The HMM's expected counts go through the trainer's sum across ranks: 2 and 3 ranks fit what 1 rank fits, through real
/// mpirun on tiny sequences written as .npy; bad sequences and a wrong init file end the run with one line.
@Suite(.serialized) struct HiddenMarkovTrainingTests {
    /// A folder with `sequences.npy` ([13, 6, 2] from two alternating regimes, or `values` when given) and `job.yaml`.
    func tinyJob(_ label: String, model: String = "{kind: hmm, states: 3, samples: 0}", values: [Float]? = nil, steps: Int = 6) throws -> String {
        let folder = runFolder(label)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var generator = SeededGenerator(seed: 4)
        let sequences = values ?? (0..<(13 * 6 * 2)).map { index in Float((index / 4) % 3) + 0.3 * generator.normal() }
        try NumPyArray.write(NamedArray(name: "sequences", shape: [13, 6, 2], elements: .float32(sequences)), to: folder + "/sequences.npy")
        let job = """
            name: \(label)
            model: \(model)
            data: {dataset: sequences, path: \(folder)/sequences.npy}
            train: {steps: \(steps), seed: 3}
            output: \(folder)/run
            """
        try job.write(toFile: folder + "/job.yaml", atomically: true, encoding: .utf8)
        return folder
    }

    func train(_ folder: String, ranks: Int, _ extra: [String] = []) throws -> (status: Int32, output: String) {
        let launcher = mpirun(ranks: ranks)
        return try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", folder + "/job.yaml", "--resume", "never"] + extra,
                       environment: launcher.environment)
    }

    @Test(arguments: ["diag", "full"])
    func twoAndThreeRanksFitWhatOneRankFits(covariance: String) throws {
        let folder = try tinyJob("hmm-ranks-\(covariance)", model: "{kind: hmm, states: 3, covariance: \(covariance), samples: 0}")
        var fits: [[Double]] = [], curves: [[Double]] = []
        for ranks in 1...3 {
            let output = folder + "/run-\(ranks)"
            let result = try train(folder, ranks: ranks, ["--set", "output=\(output)"])
            #expect(result.status == 0, "\(result.output)")
            let record = try finalRecord(output)
            #expect(record["iterations"] as? Int == 6 && record["penalized_decreases"] as? Int == 0)
            let fit = [try #require(record["log_likelihood"] as? Double)] + flatNumbers(record["startprob"]) + flatNumbers(record["transmat"])
                + flatNumbers(record["means"]) + flatNumbers(record["covars"])
            #expect(fit.count == 1 + 3 + 9 + 6 + (covariance == "full" ? 12 : 6))
            fits.append(fit)
            let lines = try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            curves.append(lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["log_likelihood"] as? Double })
        }
        #expect(largestRelativeDifference(fits[1], fits[0]) < 1e-9 && largestRelativeDifference(fits[2], fits[0]) < 1e-9, "\(fits)")
        // metrics.jsonl: one log-likelihood per iteration (each rank's Float part summed), the same on any number of ranks.
        #expect(curves[0].count == 7 && largestRelativeDifference(curves[1], curves[0]) < 1e-6 && largestRelativeDifference(curves[2], curves[0]) < 1e-6)
    }

    /// A run stopped after step 3 and resumed ends with the same fit, bit for bit, as the run never stopped (the parameters
    /// and the convergence monitor are Float64 state); a loose tol ends the run at its second iteration, as hmmlearn's fit.
    @Test func resumedRunIsBitwiseAndConvergenceEndsTheRun() throws {
        let folder = try tinyJob("hmm-resume", model: "{kind: hmm, states: 3, covariance: full, samples: 0}")
        let whole = try train(folder, ranks: 2, ["--set", "output=\(folder)/whole"])
        #expect(whole.status == 0, "\(whole.output)")
        let stopped = try train(folder, ranks: 2, ["--set", "output=\(folder)/resumed", "--stop-at-step", "3"])
        #expect(stopped.status == 75, "\(stopped.output)")
        let launcher = mpirun(ranks: 2)
        let resumed = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", folder + "/job.yaml", "--set", "output=\(folder)/resumed"],
                              environment: launcher.environment)
        #expect(resumed.status == 0, "\(resumed.output)")
        let (a, b) = (try finalRecord(folder + "/whole"), try finalRecord(folder + "/resumed"))
        for key in ["log_likelihood", "startprob", "transmat", "means", "covars"] {
            #expect(flatNumbers(a[key]) == flatNumbers(b[key]) && !flatNumbers(a[key]).isEmpty, "\(key)")
        }
        let loose = try train(folder, ranks: 2, ["--set", "output=\(folder)/loose", "--set", "model.tol=1000000", "--set", "train.steps=50"])
        #expect(loose.status == 0, "\(loose.output)")
        let record = try finalRecord(folder + "/loose")
        #expect(record["iterations"] as? Int == 2 && record["converged"] as? Bool == true && record["step"] as? Int == 2, "\(record)")
    }

    @Test func nonFiniteSequencesAndAWrongInitFileAreOneLine() throws {
        var values = [Float](repeating: 0.5, count: 13 * 6 * 2)
        values[2 * 12 + 5] = .nan
        let folder = try tinyJob("hmm-nan", values: values)
        let nan = try train(folder, ranks: 1)
        let nanLines = nan.output.split(separator: "\n").filter { $0.hasPrefix("gentrain:") }
        #expect(nan.status != 0 && nanLines.count == 1 && nanLines[0].contains("sequences.npy: sequence 2, step 2, value 1: nan is not finite"), "\(nan.output)")

        let good = try tinyJob("hmm-init")
        try NumPyArchive.write([NamedArray(name: "transmat", shape: [3, 2], elements: .float64([Double](repeating: 0.5, count: 6)))], to: good + "/init.npz")
        let wrong = try train(good, ranks: 2, ["--set", "model.init=\(good)/init.npz"])
        let wrongLines = wrong.output.split(separator: "\n").filter { $0.hasPrefix("gentrain:") }
        #expect(wrong.status != 0 && !wrongLines.isEmpty, "\(wrong.output)")
        #expect(wrongLines.allSatisfy { $0.hasSuffix("\(good)/init.npz: array 'transmat' has shape [3, 2]; expected [3, 3] (states, states)") }, "\(wrong.output)")
        #expect(!wrong.output.contains("Fatal error"))
    }
}

/// Flattens nested JSON arrays of numbers.
func flatNumbers(_ value: Any?) -> [Double] {
    if let number = value as? Double { return [number] }
    if let number = value as? Int { return [Double(number)] }
    return (value as? [Any] ?? []).flatMap(flatNumbers)
}
