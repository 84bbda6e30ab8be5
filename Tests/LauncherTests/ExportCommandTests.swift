import DataIO
import DistributedTraining
import Foundation
import Models
import TensorCore
import Testing

/// `gentrain export` in its three formats and `gentrain forward`, on a checkpoint of a model with two groups.
@Suite struct ExportCommandTests {
    static func checkpoint(step: Int) throws -> (path: String, model: any TrainableModel) {
        let job = try ModelRegistry.loadJob(path: jobFile("dcgan-bags"))
        let model = ModelRegistry.makeModel(job)
        let groups = model.groups.map { group in
            Checkpoint.Group(name: group.name, values: group.flatValues, state: Array(UnsafeBufferPointer(start: group.state.pointer, count: group.state.count)),
                             optimizerState: [], optimizerIterations: step)
        }
        let path = runFolder("export") + "/step.gtck"
        try Checkpoint(job: job.canonicalJSON, gentrainVersion: "test", step: step, epoch: 0, stepInEpoch: step, worldSize: 1, groups: groups).write(to: path)
        return (path, model)
    }

    @Test func exportWritesEveryFormat() throws {
        let (path, model) = try Self.checkpoint(step: 5)
        let folder = (path as NSString).deletingLastPathComponent
        let expected = try #require(model as? any ArrayExportable).exportedArrays(step: 5)
        #expect(expected.contains { $0.name == "generator.dense.weight" } && expected.contains { $0.name == "discriminator.dense.weight" })
        for format in ["safetensors", "npz"] {
            let result = try run(gentrainExecutable().path, ["export", path, "--format", format, "--output", "\(folder)/weights.\(format)"])
            #expect(result.status == 0, "\(result.output)")
        }
        let safetensors = try Safetensors.read(path: "\(folder)/weights.safetensors")
        #expect(safetensors.metadata == ["format": "pt"] && safetensors.arrays == expected.sorted { $0.name < $1.name })
        #expect(try NumPyArchive.read(path: "\(folder)/weights.npz") == expected)
        let copy = try run(gentrainExecutable().path, ["export", path, "--output", "\(folder)/weights.gtck"])
        #expect(copy.status == 0, "\(copy.output)")
        let weights = try Checkpoint.read(path: "\(folder)/weights.gtck")
        let original = try Checkpoint.read(path: path)
        #expect(weights.groups.allSatisfy { $0.optimizerState.isEmpty } && weights.parametersSHA256 == original.parametersSHA256)
    }

    @Test func forwardRunsThePassesThatTakeTheInput() throws {
        let (path, model) = try Self.checkpoint(step: 1)
        let folder = (path as NSString).deletingLastPathComponent
        var generator = SeededGenerator(seed: 4)
        let latents = generator.uniformTensor([2, 100], low: -1, high: 1)
        try NumPyArray.write(NamedArray(name: "z", tensor: latents), to: "\(folder)/z.npy")
        let result = try run(gentrainExecutable().path, ["forward", path, "--input", "\(folder)/z.npy", "--output", "\(folder)/out.npz"])
        #expect(result.status == 0, "\(result.output)")
        let passes = try #require(model as? any InferencePasses).inferencePasses
        let pass = try #require(passes.first { $0.name == "generator" })
        #expect(try NumPyArchive.read(path: "\(folder)/out.npz") == [NamedArray(name: "generator", tensor: pass(latents))])

        try NumPyArray.write(NamedArray(name: "x", shape: [2, 3], elements: .float32([1, 2, 3, 4, 5, 6])), to: "\(folder)/x.npy")
        let refused = try run(gentrainExecutable().path, ["forward", path, "--input", "\(folder)/x.npy", "--output", "\(folder)/bad.npz"])
        #expect(refused.status != 0 && refused.output.contains("\(folder)/x.npy: no pass of a dcgan takes samples of shape [3]"), "\(refused.output)")
    }
}
