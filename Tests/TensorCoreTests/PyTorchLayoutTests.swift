import Testing
@testable import TensorCore

/// The layers' exported weights, used as PyTorch uses them (naive references of `nn.Linear`, `nn.Conv2d` and
/// `nn.ConvTranspose2d` with Keras `same` padding, as scripts/torch_twins.py pads), give the layers' outputs.
@Suite struct PyTorchLayoutTests {
    static let export = PyTorchExport(batchesTracked: 0, prefixesGroups: false)

    static func weights(_ layer: some PyTorchLayer) -> (weight: NamedArray, bias: [Float]) {
        let tensors = layer.pytorchTensors(export)
        guard let weight = tensors.first(where: { $0.name.hasSuffix(".weight") }), let bias = tensors.first(where: { $0.name.hasSuffix(".bias") }),
              case .float32(let biasValues) = bias.elements else { fatalError("no weight and bias") }
        return (weight, biasValues)
    }

    static func values(_ array: NamedArray) -> [Float] {
        guard case .float32(let values) = array.elements else { fatalError("\(array.name) is not float32") }
        return values
    }

    /// A group with non-zero biases, so that their place is checked too.
    static func randomized(_ group: ParameterGroup) {
        var generator = SeededGenerator(seed: 3)
        let noise = generator.uniformTensor([group.parameterCount], low: -1, high: 1)
        group.setFlatValues(noise.scalars)
    }

    @Test func linearWeightIsOutByIn() {
        let group = ParameterGroup(name: "model", seed: 1)
        let layer = Dense(group, name: "head", inputSize: 3, outputSize: 2)
        Self.randomized(group)
        let (weight, bias) = Self.weights(layer)
        #expect(weight.name == "head.weight" && weight.shape == [2, 3])
        let x = Tensor(shape: [2, 3], values: [0.5, -1, 2, 1.5, 0.25, -0.75])
        let y = withoutGradient { layer(Variable(x)).value }
        let w = Self.values(weight)
        for row in 0..<2 {
            for output in 0..<2 {
                let expected = bias[output] + (0..<3).reduce(Float(0)) { $0 + w[output * 3 + $1] * x[row, $1] }
                #expect(abs(y[row, output] - expected) < 1e-5)
            }
        }
    }

    @Test(arguments: [(6, 3, 2), (7, 3, 2), (5, 3, 1)])
    func conv2dWeightIsOutInKhKw(size: Int, kernel: Int, stride: Int) {
        let (channels, outputs) = (2, 3)
        let group = ParameterGroup(name: "model", seed: 1)
        let layer = Conv2D(group, name: "conv", inputChannels: channels, outputChannels: outputs, kernelSize: kernel, stride: stride, padding: .same)
        Self.randomized(group)
        let (weight, bias) = Self.weights(layer)
        #expect(weight.shape == [outputs, channels, kernel, kernel])
        var generator = SeededGenerator(seed: 9)
        let x = generator.uniformTensor([1, channels, size, size], low: -1, high: 1)
        let y = withoutGradient { layer(Variable(x)).value.standardized() }
        // Keras same: output ceil(size / stride), the odd padding row after.
        let outputSize = (size + stride - 1) / stride
        let padBefore = max((outputSize - 1) * stride + kernel - size, 0) / 2
        #expect(y.shape == [1, outputs, outputSize, outputSize])
        let w = Self.values(weight)
        for o in 0..<outputs {
            for i in 0..<outputSize {
                for j in 0..<outputSize {
                    var sum = bias[o]
                    for c in 0..<channels {
                        for a in 0..<kernel {
                            for b in 0..<kernel {
                                let (row, column) = (i * stride + a - padBefore, j * stride + b - padBefore)
                                guard (0..<size).contains(row), (0..<size).contains(column) else { continue }
                                sum += w[((o * channels + c) * kernel + a) * kernel + b] * x[0, c, row, column]
                            }
                        }
                    }
                    #expect(abs(y[0, o, i, j] - sum) < 1e-5, "output \(o), \(i), \(j)")
                }
            }
        }
    }

    @Test(arguments: [(3, 3, 2), (3, 4, 2), (3, 3, 1)])
    func convTranspose2dWeightIsInOutKhKw(size: Int, kernel: Int, stride: Int) {
        let (channels, outputs) = (2, 3)
        let group = ParameterGroup(name: "model", seed: 1)
        let layer = Conv2DTranspose(group, name: "deconv", inputChannels: channels, outputChannels: outputs, kernelSize: kernel,
                                    stride: stride, padding: .same)
        Self.randomized(group)
        let (weight, bias) = Self.weights(layer)
        #expect(weight.shape == [channels, outputs, kernel, kernel])
        var generator = SeededGenerator(seed: 9)
        let x = generator.uniformTensor([1, channels, size, size], low: -1, high: 1)
        let y = withoutGradient { layer(Variable(x)).value.standardized() }
        // PyTorch's ConvTranspose2d without padding scatters x[c, i, j] w[c, o, a, b] to (i s + a, j s + b); Keras
        // same keeps size * stride rows and columns from (kernel - stride) / 2 on.
        let full = (size - 1) * stride + kernel
        let begin = max(kernel - stride, 0) / 2
        let w = Self.values(weight)
        var expected = [Float](repeating: 0, count: outputs * full * full)
        for c in 0..<channels {
            for o in 0..<outputs {
                for i in 0..<size {
                    for j in 0..<size {
                        for a in 0..<kernel {
                            for b in 0..<kernel {
                                expected[(o * full + i * stride + a) * full + j * stride + b] += x[0, c, i, j] * w[((c * outputs + o) * kernel + a) * kernel + b]
                            }
                        }
                    }
                }
            }
        }
        let outputSize = size * stride
        #expect(y.shape == [1, outputs, outputSize, outputSize])
        for o in 0..<outputs {
            for i in 0..<outputSize {
                for j in 0..<outputSize {
                    let reference = expected[(o * full + begin + i) * full + begin + j] + bias[o]
                    #expect(abs(y[0, o, i, j] - reference) < 1e-5, "output \(o), \(i), \(j)")
                }
            }
        }
    }

    @Test func batchNormHasPyTorchNamesAndACounter() {
        let group = ParameterGroup(name: "model", seed: 1)
        let layer = BatchNormalization(group, name: "norm1", channels: 4)
        let tensors = layer.pytorchTensors(PyTorchExport(batchesTracked: 7, prefixesGroups: true))
        #expect(tensors.map(\.name) == ["model.norm1.weight", "model.norm1.bias", "model.norm1.running_mean", "model.norm1.running_var",
                                        "model.norm1.num_batches_tracked"])
        #expect(tensors.last == NamedArray(name: "model.norm1.num_batches_tracked", shape: [], elements: .int64([7])))
        #expect(Self.values(tensors[3]) == [1, 1, 1, 1])
    }
}
