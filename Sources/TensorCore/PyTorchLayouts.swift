// How each layer's parameters and state appear in a PyTorch module of the same architecture: their names
// (`<module>.weight`, `.bias`, `.running_mean`, ...) and layouts, so that `load_state_dict(strict=True)`
// accepts an export. A layer's module path is its gentrain name without the last component
// (`encoder.conv1.kernel` -> `encoder.conv1`); a model of several groups prefixes the group
// (`generator.dense.weight`).
//
//   gentrain                               PyTorch
//   Dense kernel [in, out]                 Linear.weight [out, in]                 (transposed)
//   Conv2D kernel [O, C, K, K]             Conv2d.weight [out, in, kh, kw]          (as is)
//   Conv2DTranspose kernel [C, O, K, K]    ConvTranspose2d.weight [in, out, kh, kw] (as is)
//   bias [O]                               .bias
//   BatchNormalization gamma, beta,        BatchNorm2d weight, bias, running_mean, running_var,
//     moving_mean, moving_variance           num_batches_tracked (int64 scalar)
//   GroupNormalization gamma, beta         GroupNorm weight, bias
//   a spectrally normalised kernel, u, v   weight_orig, weight_u, weight_v (torch.nn.utils.spectral_norm)
// Keras `same` padding of a stride-2 convolution is asymmetric (the extra row after): a PyTorch twin pads
// explicitly (scripts/torch_twins.py); the weights are the same either way.

/// What an export needs besides the layers.
public struct PyTorchExport: Sendable {
    /// The value of batch norm's `num_batches_tracked` (the checkpoint's step; PyTorch reads it only with momentum None).
    public var batchesTracked: Int
    /// Whether names start with the parameter's group (`generator.`): a model of several groups.
    public var prefixesGroups: Bool

    public init(batchesTracked: Int, prefixesGroups: Bool) {
        self.batchesTracked = batchesTracked
        self.prefixesGroups = prefixesGroups
    }

    /// The PyTorch name of `parameter`'s module's tensor `tensor` (`weight`, `bias`, `running_mean`, ...).
    public func name(of parameter: Parameter, as tensor: String) -> String {
        let path = parameter.entry.name.split(separator: ".").dropLast().joined(separator: ".")
        let group = prefixesGroups ? parameter.group.name + "." : ""
        return group + (path.isEmpty ? tensor : path + "." + tensor)
    }

    /// `parameter`'s values under its PyTorch name, laid out as they are.
    public func array(_ parameter: Parameter, as tensor: String) -> NamedArray {
        NamedArray(name: name(of: parameter, as: tensor), tensor: parameter.value)
    }
}

/// A layer whose parameters and state have PyTorch names and layouts.
public protocol PyTorchLayer {
    /// The layer's parameters and state as the PyTorch module of the same architecture names and lays them out.
    func pytorchTensors(_ export: PyTorchExport) -> [NamedArray]
}

extension PyTorchExport {
    /// A kernel under `weight`, or with spectral normalisation as `torch.nn.utils.spectral_norm` keeps it: the kernel as
    /// `weight_orig` and the vectors as the buffers `weight_u` [rows] and `weight_v` [columns].
    func kernelArrays(_ kernel: Parameter, values: Tensor, spectralNorm: SpectralNorm?) -> [NamedArray] {
        guard let spectralNorm else { return [NamedArray(name: name(of: kernel, as: "weight"), tensor: values)] }
        return [NamedArray(name: name(of: kernel, as: "weight_orig"), tensor: values),
                array(spectralNorm.u, as: "weight_u"), array(spectralNorm.v, as: "weight_v")]
    }
}

extension Dense: PyTorchLayer {
    /// `Linear`: weight [out, in] (gentrain's kernel [in, out] transposed), bias [out].
    public func pytorchTensors(_ export: PyTorchExport) -> [NamedArray] {
        export.kernelArrays(kernel, values: kernel.value.permuted([1, 0]), spectralNorm: spectralNorm)
            + (bias.map { [export.array($0, as: "bias")] } ?? [])
    }
}

extension Conv2D: PyTorchLayer {
    /// `Conv2d`: weight [out, in, kh, kw] (gentrain's layout), bias [out].
    public func pytorchTensors(_ export: PyTorchExport) -> [NamedArray] {
        export.kernelArrays(kernel, values: kernel.value, spectralNorm: spectralNorm) + (bias.map { [export.array($0, as: "bias")] } ?? [])
    }
}

extension Conv2DTranspose: PyTorchLayer {
    /// `ConvTranspose2d`: weight [in, out, kh, kw] (gentrain's layout), bias [out]; spectral norm over PyTorch's dim 1.
    public func pytorchTensors(_ export: PyTorchExport) -> [NamedArray] {
        export.kernelArrays(kernel, values: kernel.value, spectralNorm: spectralNorm) + (bias.map { [export.array($0, as: "bias")] } ?? [])
    }
}

extension BatchNormalization: PyTorchLayer {
    /// `BatchNorm2d(eps=epsilon, momentum=1-momentum)`: weight, bias, running_mean, running_var [C] and
    /// num_batches_tracked (int64 scalar).
    public func pytorchTensors(_ export: PyTorchExport) -> [NamedArray] {
        [export.array(gamma, as: "weight"), export.array(beta, as: "bias"),
         export.array(runningMean, as: "running_mean"), export.array(runningVariance, as: "running_var"),
         NamedArray(name: export.name(of: gamma, as: "num_batches_tracked"), shape: [], elements: .int64([Int64(export.batchesTracked)]))]
    }
}

extension GroupNormalization: PyTorchLayer {
    /// `GroupNorm(groups, C, eps=epsilon)`: weight, bias [C].
    public func pytorchTensors(_ export: PyTorchExport) -> [NamedArray] {
        [export.array(gamma, as: "weight"), export.array(beta, as: "bias")]
    }
}

extension SelfAttention: PyTorchLayer {
    /// Four `Conv2d(k=1)` modules `query`, `key`, `value`, `output` and the parameter `gamma` [1].
    public func pytorchTensors(_ export: PyTorchExport) -> [NamedArray] {
        [query, key, value, output].flatMap { $0.pytorchTensors(export) }
            + [export.array(gamma, as: "gamma")]
    }
}
