import ArgumentParser
import DistributedTraining
import Foundation

/// Prints what a checkpoint holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint: format version, job, step, world size, parameter count and params_sha256.")

    @Argument(help: "A checkpoint file (.gtck).") var checkpoint: String
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let saved = try Checkpoint.read(path: checkpoint)
        let jobName = ((try? JSONSerialization.jsonObject(with: Data(saved.job.utf8))) as? [String: Any])?["name"] as? String ?? "?"
        var result: [String: Any] = [
            "format_version": Int(Checkpoint.formatVersion), "gentrain_version": saved.gentrainVersion, "job": jobName,
            "step": saved.step, "epoch": saved.epoch, "world_size": saved.worldSize,
            "parameters": saved.groups.reduce(0) { $0 + $1.values.count },
            "groups": saved.groups.map { ["name": $0.name, "parameters": $0.values.count, "state": $0.state.count] },
            "params_sha256": saved.parametersSHA256,
        ]
        if let run = saved.run { result["run"] = run }
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            let run = saved.run.map { ", run \($0)" } ?? ""
            print("\(checkpoint): format \(Checkpoint.formatVersion), job \(jobName)\(run), step \(saved.step) (epoch \(saved.epoch)), "
                  + "world size \(saved.worldSize), \(result["parameters"]!) parameters, params_sha256 \(saved.parametersSHA256)")
        }
    }
}

/// Writes a weights-only copy of a checkpoint (no optimizer state): what an evaluator or a published model needs.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a weights-only copy of a checkpoint (optimizer state dropped; params_sha256 unchanged).")

    @Argument(help: "A checkpoint file (.gtck).") var checkpoint: String
    @Option(help: "The file to write.") var output: String

    func run() throws {
        var saved = try Checkpoint.read(path: checkpoint)
        saved.groups = saved.groups.map { group in
            Checkpoint.Group(name: group.name, values: group.values, state: group.state, optimizerState: [], optimizerIterations: group.optimizerIterations,
                             parameterLayout: group.parameterLayout, stateLayout: group.stateLayout)
        }
        try saved.write(to: output)
        print("\(output): weights of \(checkpoint) (step \(saved.step)), params_sha256 \(saved.parametersSHA256)")
    }
}
