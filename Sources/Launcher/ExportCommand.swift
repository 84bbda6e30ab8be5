import ArgumentParser
import DataIO
import DistributedTraining
import Foundation
import Models
import TensorCore

/// The file formats `gentrain export` writes.
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    /// A weights-only checkpoint (optimizer state dropped).
    case gtck
    /// safetensors with `{"format": "pt"}` metadata: a PyTorch state dict for `load_state_dict(strict=True)`.
    case safetensors
    /// A zip of .npy files, one per array (`numpy.load`).
    case npz
}

/// Writes a checkpoint's parameters and state for other tools: a weights-only .gtck, safetensors or npz.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's weights: a weights-only .gtck (default), or safetensors / npz in a PyTorch twin's names and layouts.",
        discussion: """
            gtck drops the optimizer state (params_sha256 unchanged). safetensors and npz hold every parameter and \
            state array under the name and layout a PyTorch module of the same architecture has (Linear [out, in], \
            Conv2d [out, in, kh, kw], ConvTranspose2d [in, out, kh, kw], batch norm's running_mean, running_var and \
            num_batches_tracked; a model of several groups prefixes the group, e.g. generator.dense.weight).
            """)

    @Argument(help: "A checkpoint file (.gtck).") var checkpoint: String
    @Option(help: "gtck, safetensors or npz.") var format: ExportFormat = .gtck
    @Option(help: "The file to write.") var output: String

    func run() throws {
        switch format {
        case .gtck:
            var saved = try Checkpoint.read(path: checkpoint)
            saved.groups = saved.groups.map { group in
                Checkpoint.Group(name: group.name, values: group.values, state: group.state, optimizerState: [], optimizerIterations: group.optimizerIterations,
                                 parameterLayout: group.parameterLayout, stateLayout: group.stateLayout)
            }
            try saved.write(to: output)
            print("\(output): weights of \(checkpoint) (step \(saved.step)), params_sha256 \(saved.parametersSHA256)")
        case .safetensors, .npz:
            let (job, model, saved) = try loadModel(checkpointPath: checkpoint)
            guard let exportable = model as? any ArrayExportable else {
                throw ValidationError("\(checkpoint): a \(job.modelKind) does not declare its exported arrays (ArrayExportable)")
            }
            let arrays = exportable.exportedArrays(step: saved.step)
            if format == .safetensors {
                try Safetensors.write(arrays, metadata: exportable.exportMetadata, to: output)
            } else {
                try NumPyArchive.write(arrays, compressed: true, to: output)
            }
            let values = arrays.reduce(0) { $0 + $1.elements.count }
            print("\(output): \(arrays.count) arrays (\(values) values) of \(checkpoint) (step \(saved.step)) as \(format.rawValue)")
        }
    }
}

/// Runs a checkpoint's inference passes on an input (to compare gentrain with another implementation).
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a checkpoint's inference passes on a .npy input and write their outputs as .npz.",
        discussion: """
            Every pass of the model whose sample shape matches the input's (all but the first axis) runs: e.g. \
            `latent` and `reconstruction` on images [N, 1, 28, 28], `decoded` on latents [N, z]. \
            Inference: no dropout, batch norm on its running statistics. The input is float32 or float64 in the \
            model's pixel scaling; the outputs are float32.
            """)

    @Argument(help: "A checkpoint file (.gtck).") var checkpoint: String
    @Option(help: "A .npy array [N, ...] of inputs.") var input: String
    @Option(help: "The .npz file to write, one array per pass.") var output: String
    @Option(name: .customLong("pass"), help: "Run only these passes (repeatable).") var passes: [String] = []

    func run() throws {
        let (job, model, _) = try loadModel(checkpointPath: checkpoint)
        guard let runnable = model as? any InferencePasses else {
            throw ValidationError("\(checkpoint): a \(job.modelKind) declares no inference passes (InferencePasses)")
        }
        let array = try NumPyArray.read(path: input)
        let values: [Float]
        switch array.elements {
        case .float32(let floats): values = floats
        case .float64(let doubles): values = doubles.map { Float($0) }
        case .int64: throw ValidationError("\(input): int64 values; the input must be float32 or float64")
        }
        guard array.shape.count >= 2, array.shape[0] > 0 else {
            throw ValidationError("\(input): shape \(array.shape); expected [N, ...] with N >= 1")
        }
        let sampleShape = Array(array.shape.dropFirst())
        let available = runnable.inferencePasses
        if let unknown = passes.first(where: { name in !available.contains { $0.name == name } }) {
            throw ValidationError("a \(job.modelKind) has no pass '\(unknown)' (it has \(available.map(\.name).joined(separator: ", ")))")
        }
        let chosen = available.filter { (passes.isEmpty || passes.contains($0.name)) && $0.sampleShape == sampleShape }
        guard !chosen.isEmpty else {
            let shapes = available.map { "\($0.name) [N, \($0.sampleShape.map(String.init).joined(separator: ", "))]" }.joined(separator: ", ")
            throw ValidationError("\(input): no pass of a \(job.modelKind) takes samples of shape \(sampleShape) (it has \(shapes))")
        }
        let inputs = Tensor(shape: array.shape, values: values)
        let outputs = chosen.map { NamedArray(name: $0.name, tensor: $0(inputs)) }
        try NumPyArchive.write(outputs, compressed: false, to: output)
        print("\(output): " + outputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", ") + " of \(checkpoint) on \(input)")
    }
}
