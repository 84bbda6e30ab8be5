// The convolution kernels' entry points: im2col + OpenBLAS (`ConvolutionKernels.swift`) or oneDNN
// (`OneDNNConvolutionKernels.swift`), as `ConvolutionAlgorithm.current` says, and the bias passes.
//
// Shape legend (logical NCHW): input [N, C, H, W]; weight [O, C, KH, KW]; output [N, O, HO, WO]; bias [O].
// Weights are OIHW. Activations are row-major, or channel-blocked where oneDNN wants them (`ConvolutionBufferLayouts`;
// im2col takes row-major only). Backward kernels *add* into their gradient outputs unless told the input gradient
// is fresh (uninitialized, to be overwritten).

/// The layouts of a convolution op's activation buffers, named as the op's own (for a transposed convolution its
/// input is the output side of the geometry's convolution). Each is row-major unless given.
public struct ConvolutionBufferLayouts: Sendable {
    public var input = TensorLayout.standard
    public var output = TensorLayout.standard
    public var inputGradient = TensorLayout.standard
    public var outputGradient = TensorLayout.standard

    public init(input: TensorLayout = .standard, output: TensorLayout = .standard, inputGradient: TensorLayout = .standard,
                outputGradient: TensorLayout = .standard) {
        self.input = input
        self.output = output
        self.inputGradient = inputGradient
        self.outputGradient = outputGradient
    }

    /// Every buffer row-major.
    public static let standard = ConvolutionBufferLayouts()

    /// Stops when im2col, which reads and writes row-major buffers only, is handed another layout.
    func requireStandard(_ what: String) {
        for layout in [input, output, inputGradient, outputGradient] where layout != .standard {
            fatalError("\(what) with im2col needs row-major buffers, got \(self)")
        }
    }
}

/// `output = conv(input, weight) + bias`. output [N, O, HO, WO] is overwritten.
public func convolutionForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, geometry g: ConvolutionGeometry,
                               layouts: ConvolutionBufferLayouts = .standard, algorithm: ConvolutionAlgorithm = .current) {
    if algorithm == .oneDNN {
        oneDNNConvolutionForward(output: output, input: input, weight: weight, bias: bias, geometry: g,
                                 layouts: ActivationLayouts(source: layouts.input, destination: layouts.output))
        return
    }
    layouts.requireStandard("convolution forward")
    im2colConvolutionForward(output: output, input: input, weight: weight, bias: bias, geometry: g)
}

/// Adds the gradients of a convolution: `inputGradient += conv^T(outputGradient)` (written, not added, when
/// `inputGradientIsFresh`), `weightGradient += outputGradient x unfold(input)^T`, `biasGradient += sum(outputGradient)`.
/// Nil outputs are skipped.
public func convolutionBackward(inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?,
                                biasGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
                                input: UnsafePointer<Float>, weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                layouts: ConvolutionBufferLayouts = .standard, inputGradientIsFresh: Bool = false,
                                algorithm: ConvolutionAlgorithm = .current) {
    if let biasGradient {
        accumulateBiasGradient(biasGradient, outputGradient, batch: g.batch, channels: g.outputChannels, plane: g.outputPlane,
                               layout: layouts.outputGradient)
    }
    if algorithm == .oneDNN {
        if let inputGradient {
            oneDNNConvolutionBackwardData(inputGradient: inputGradient, outputGradient: outputGradient, weight: weight, geometry: g,
                                          layouts: ActivationLayouts(source: layouts.inputGradient, destination: layouts.outputGradient),
                                          accumulate: !inputGradientIsFresh)
        }
        if let weightGradient {
            oneDNNConvolutionBackwardWeights(weightGradient: weightGradient, outputGradient: outputGradient, input: input, geometry: g,
                                             layouts: ActivationLayouts(source: layouts.input, destination: layouts.outputGradient))
        }
        return
    }
    layouts.requireStandard("convolution backward")
    if let inputGradient, inputGradientIsFresh { inputGradient.update(repeating: 0, count: g.batch * g.inputChannels * g.inputPlane) }
    im2colConvolutionBackward(inputGradient: inputGradient, weightGradient: weightGradient, outputGradient: outputGradient,
                              input: input, weight: weight, geometry: g)
}

/// Transposed convolution: `output = conv^T(input) + bias`, where `g` is the convolution whose input gradient
/// this is (its input is this op's output [N, C, H, W]; its output is this op's input [N, O, HO, WO];
/// weight [O, C, KH, KW]). output is overwritten.
public func transposedConvolutionForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                                         weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, geometry g: ConvolutionGeometry,
                                         layouts: ConvolutionBufferLayouts = .standard, algorithm: ConvolutionAlgorithm = .current) {
    if algorithm == .oneDNN {
        oneDNNConvolutionBackwardData(inputGradient: output, outputGradient: input, weight: weight, geometry: g,
                                      layouts: ActivationLayouts(source: layouts.output, destination: layouts.input), accumulate: false)
    } else {
        layouts.requireStandard("transposed convolution forward")
        output.update(repeating: 0, count: g.batch * g.inputChannels * g.inputPlane)
        im2colConvolutionBackward(inputGradient: output, weightGradient: nil, outputGradient: input, input: output, weight: weight,
                                  geometry: g)
    }
    if let bias { addBias(output, bias, batch: g.batch, channels: g.inputChannels, plane: g.inputPlane, layout: layouts.output) }
}

/// Adds the gradients of a transposed convolution (geometry as in `transposedConvolutionForward`):
/// `inputGradient += conv(outputGradient)` (written when `inputGradientIsFresh`),
/// `weightGradient += input x unfold(outputGradient)^T`, `biasGradient += sum(outputGradient)`.
public func transposedConvolutionBackward(inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?,
                                          biasGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
                                          input: UnsafePointer<Float>, weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                          layouts: ConvolutionBufferLayouts = .standard, inputGradientIsFresh: Bool = false,
                                          algorithm: ConvolutionAlgorithm = .current) {
    if let biasGradient {
        accumulateBiasGradient(biasGradient, outputGradient, batch: g.batch, channels: g.inputChannels, plane: g.inputPlane,
                               layout: layouts.outputGradient)
    }
    if algorithm == .oneDNN {
        if let inputGradient {
            oneDNNConvolutionForward(output: inputGradient, input: outputGradient, weight: weight, bias: nil, geometry: g,
                                     layouts: ActivationLayouts(source: layouts.outputGradient, destination: layouts.inputGradient),
                                     accumulate: !inputGradientIsFresh)
        }
        if let weightGradient {
            oneDNNConvolutionBackwardWeights(weightGradient: weightGradient, outputGradient: input, input: outputGradient, geometry: g,
                                             layouts: ActivationLayouts(source: layouts.outputGradient, destination: layouts.input))
        }
        return
    }
    layouts.requireStandard("transposed convolution backward")
    if let inputGradient, inputGradientIsFresh {
        inputGradient.update(repeating: 0, count: g.batch * g.outputChannels * g.outputPlane)
    }
    im2colTransposedConvolutionBackward(inputGradient: inputGradient, weightGradient: weightGradient, outputGradient: outputGradient,
                                        input: input, weight: weight, geometry: g)
}

// MARK: - Bias passes, in either layout

/// Adds to `biasGradient[c]` the sum of `gradient` [N, C, plane] (in `layout`) over images and positions, each
/// image's plane summed in Double in the same order in both layouts (so both give the same bits), channels
/// (or channel blocks) shared among the threads.
func accumulateBiasGradient(_ biasGradient: UnsafeMutablePointer<Float>, _ gradient: UnsafePointer<Float>, batch: Int, channels: Int,
                            plane: Int, layout: TensorLayout = .standard) {
    guard case .channelBlocked(let block) = layout, block == 8 || block == 16 else {
        if layout != .standard { fatalError("bias gradient in layout \(layout)") }
        Parallelism.forEachRange(channels, minimumPerThread: max(1, (1 << 15) / max(batch * plane, 1))) { range in
            for channel in range {
                for image in 0..<batch {
                    let source = gradient + (image * channels + channel) * plane
                    var total: Double = 0
                    for index in 0..<plane { total += Double(source[index]) }
                    biasGradient[channel] += Float(total)
                }
            }
        }
        return
    }
    // A channel block's lanes sit side by side at each position: one pass over the plane with a Double sum per lane.
    Parallelism.forEachRange(channels / block, minimumPerThread: max(1, (1 << 15) / max(batch * plane * block, 1))) { range in
        for channelBlock in range {
            for image in 0..<batch {
                let source = UnsafeRawPointer(gradient + (image * channels + channelBlock * block) * plane)
                var low = SIMD8<Double>(), high = SIMD8<Double>()
                if block == 16 {
                    for index in 0..<plane {
                        low += SIMD8<Double>(source.loadUnaligned(fromByteOffset: index * 64, as: SIMD8<Float>.self))
                        high += SIMD8<Double>(source.loadUnaligned(fromByteOffset: index * 64 + 32, as: SIMD8<Float>.self))
                    }
                } else {
                    for index in 0..<plane { low += SIMD8<Double>(source.loadUnaligned(fromByteOffset: index * 32, as: SIMD8<Float>.self)) }
                }
                let first = biasGradient + channelBlock * block
                for lane in 0..<8 { first[lane] += Float(low[lane]) }
                if block == 16 { for lane in 0..<8 { first[8 + lane] += Float(high[lane]) } }
            }
        }
    }
}

/// `output[n, c, p] += bias[c]` for output [N, C, plane] in `layout`.
func addBias(_ output: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int,
             layout: TensorLayout = .standard) {
    guard case .channelBlocked(let block) = layout, block % 8 == 0 else {
        if layout != .standard { fatalError("bias in layout \(layout)") }
        Parallelism.forEachRange(batch * channels, minimumPerThread: max(1, (1 << 16) / plane)) { planes in
            for index in planes {
                let values = output + index * plane, offset = bias[index % channels]
                for position in 0..<plane { values[position] += offset }
            }
        }
        return
    }
    // One unit of work: one image's channel block, [plane, block], eight lanes at a time.
    Parallelism.forEachRange(batch * channels / block, minimumPerThread: max(1, (1 << 16) / (plane * block))) { units in
        for unit in units {
            let first = (unit % (channels / block)) * block
            let values = UnsafeMutableRawPointer(output + unit * plane * block)
            for group in 0..<(block / 8) {
                let offsets = UnsafeRawPointer(bias + first + group * 8).loadUnaligned(as: SIMD8<Float>.self)
                for position in 0..<plane {
                    let byteOffset = (position * block + group * 8) * 4
                    let sum = values.loadUnaligned(fromByteOffset: byteOffset, as: SIMD8<Float>.self) + offsets
                    values.storeBytes(of: sum, toByteOffset: byteOffset, as: SIMD8<Float>.self)
                }
            }
        }
    }
}
