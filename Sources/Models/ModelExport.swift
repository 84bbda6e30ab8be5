// The model contract's export side: what `gentrain export` writes and what `gentrain forward` runs, so that a
// checkpoint can be loaded and checked outside gentrain (scripts/check_export.py loads every model's export into
// its PyTorch twin and compares outputs). The launcher knows these protocols, never a model.

import TensorCore

// MARK: - Named arrays

/// A model whose parameters and state can be written as named arrays (safetensors, npz).
public protocol ArrayExportable: AnyObject {
    /// Every parameter and state value, each exactly once, as named arrays. A neural model uses the names and
    /// layouts of a PyTorch module of the same architecture (`PyTorchExportable`); another model names its own
    /// (a Gaussian mixture: `weights`, `means`, `covariances`). `step` is the checkpoint's step.
    func exportedArrays(step: Int) -> [NamedArray]
    /// Metadata the files carry besides the arrays (safetensors `__metadata__`).
    var exportMetadata: [String: String] { get }
}

/// A neural model exported layer by layer in PyTorch's names and layouts (`TensorCore/PyTorchLayouts.swift`):
/// `load_state_dict(strict=True)` of a PyTorch module with the same module names accepts the export.
public protocol PyTorchExportable: ArrayExportable, TrainableModel {
    /// Every layer with parameters or state (a contract test checks that together they hold every value of every group).
    var pytorchLayers: [any PyTorchLayer] { get }
}

extension PyTorchExportable {
    /// The layers' tensors; names start with the group (`generator.`) when the model has several groups.
    public func exportedArrays(step: Int) -> [NamedArray] {
        let export = PyTorchExport(batchesTracked: step, prefixesGroups: groups.count > 1)
        return pytorchLayers.flatMap { $0.pytorchTensors(export) }
    }

    /// `{"format": "pt"}`: what `safetensors.torch` expects of a PyTorch state dict.
    public var exportMetadata: [String: String] { ["format": "pt"] }
}

// MARK: - Inference passes

/// One inference computation of a model on a batch (`gentrain forward`): images to a reconstruction, latents
/// to images, images to logits. Runs without gradients, with dropout off and batch norm on its running statistics.
public struct InferencePass {
    /// The name its output is written under (`reconstruction`, `logits`, `generator`).
    public let name: String
    /// The shape of one input sample, e.g. [1, 28, 28] for images or [100] for latents.
    public let sampleShape: [Int]
    let body: (Tensor) -> Tensor

    public init(name: String, sampleShape: [Int], body: @escaping (Tensor) -> Tensor) {
        self.name = name
        self.sampleShape = sampleShape
        self.body = body
    }

    /// The output for `input` [N, sampleShape...].
    public func callAsFunction(_ input: Tensor) -> Tensor {
        guard Array(input.shape.dropFirst()) == sampleShape else {
            fatalError("inference pass \(name) takes samples \(sampleShape), not \(Array(input.shape.dropFirst()))")
        }
        return withoutGradient { body(input).standardized() }
    }
}

/// A model whose inference computations can be run on given inputs (to compare it with another implementation).
public protocol InferencePasses: AnyObject {
    var inferencePasses: [InferencePass] { get }
}
