// Differentiable 2-D convolution and transposed convolution (NCHW).
// Shape legend: x [N, C, H, W]; conv weight [O, C, K, K]; transposed-conv
// weight [C, O, K, K] (input channels first, as the adjoint of a convolution
// from O to C channels); bias [O].

/// Keras `Conv2D`: `y = conv(x, weight) + bias` with `stride` and `same`/`valid` padding.
///
/// Pullback: the input gradient is the transposed convolution of dy; the weight gradient is
/// `dy x unfold(x)^T`; the bias gradient sums dy over images and positions.
public func conv2d(_ x: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Padding = .valid) -> Variable {
    conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, activation: IdentityFunction())
}

/// `activation(conv(x, weight) + bias)` as one op: only the activated output is kept, and the pullback
/// first turns dy into `dy * f'(y)` (fused like cuDNN's convolution-bias-activation).
public func conv2d<Function: OutputDifferentiableFunction>(_ x: Variable, weight: Variable, bias: Variable?, stride: Int = 1,
                                                           padding: Padding = .valid, activation: Function) -> Variable {
    guard x.shape.count == 4, weight.shape.count == 4, weight.shape[1] == x.shape[1], weight.shape[2] == weight.shape[3] else {
        fatalError("conv2d: input \(x.shape) and weight \(weight.shape) (expected [O, \(x.shape.count == 4 ? x.shape[1] : -1), K, K])")
    }
    let g = ConvolutionGeometry.convolution(batch: x.shape[0], inputChannels: x.shape[1], height: x.shape[2], width: x.shape[3],
                                            outputChannels: weight.shape[0], kernelSize: weight.shape[2], stride: stride,
                                            padding: padding)
    let algorithm = ConvolutionAlgorithm.current
    // With oneDNN the output stays in the layout its kernels write, and the input is read in whatever layout it has.
    let input = algorithm == .oneDNN ? x.storedValue : x.value
    let outputLayout = algorithm == .oneDNN ? oneDNNPreferredLayouts(g).destination : .standard
    let output = Tensor(uninitialized: [g.batch, g.outputChannels, g.outputHeight, g.outputWidth], layout: outputLayout)
    convolutionForward(output: output.storagePointer, input: input.storagePointer, weight: weight.value.readPointer,
                       bias: bias?.value.readPointer, geometry: g,
                       layouts: ConvolutionBufferLayouts(input: input.layout, output: outputLayout), algorithm: algorithm)
    applyActivation(activation, to: output)
    FlopCounter.add(g.forwardOperations)
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    return Variable.recordLayoutAware(output, inputs: inputs) { outputGradient in
        let gradient = activationPullback(activation, outputGradient.converted(to: output.layout), output: output)
        withGradientBuffers(x, preferring: input.layout, anyLayout: algorithm == .oneDNN, weight, bias) { inputGradient, weightGradient, biasGradient in
            convolutionBackward(inputGradient: inputGradient?.pointer, weightGradient: weightGradient, biasGradient: biasGradient,
                                outputGradient: gradient.storagePointer, input: input.storagePointer,
                                weight: weight.value.readPointer, geometry: g,
                                layouts: ConvolutionBufferLayouts(input: input.layout, inputGradient: inputGradient?.layout ?? .standard,
                                                                  outputGradient: gradient.layout),
                                inputGradientIsFresh: inputGradient?.fresh ?? false, algorithm: algorithm)
        }
        FlopCounter.add(g.forwardOperations * Double((x.requiresGradient ? 1 : 0) + (weight.requiresGradient ? 1 : 0)))
    }
}

/// Keras `Conv2DTranspose`: the adjoint of a strided convolution, plus bias. With `same` padding the output is
/// `in * stride`; with `valid`, `in * stride + max(kernel - stride, 0)`.
///
/// Pullback: the input gradient is the convolution of dy; the weight gradient is `x x unfold(dy)^T`.
public func conv2dTranspose(_ x: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Padding = .valid) -> Variable {
    conv2dTranspose(x, weight: weight, bias: bias, stride: stride, padding: padding, activation: IdentityFunction())
}

/// `activation(conv^T(x, weight) + bias)` as one op (see the fused `conv2d`).
public func conv2dTranspose<Function: OutputDifferentiableFunction>(_ x: Variable, weight: Variable, bias: Variable?, stride: Int = 1,
                                                                    padding: Padding = .valid, activation: Function) -> Variable {
    guard x.shape.count == 4, weight.shape.count == 4, weight.shape[0] == x.shape[1], weight.shape[2] == weight.shape[3] else {
        fatalError("conv2dTranspose: input \(x.shape) and weight \(weight.shape) (expected [\(x.shape.count == 4 ? x.shape[1] : -1), O, K, K])")
    }
    let g = ConvolutionGeometry.transposed(batch: x.shape[0], inputChannels: x.shape[1], height: x.shape[2], width: x.shape[3],
                                           outputChannels: weight.shape[1], kernelSize: weight.shape[2], stride: stride,
                                           padding: padding)
    let algorithm = ConvolutionAlgorithm.current
    let input = algorithm == .oneDNN ? x.storedValue : x.value
    let outputLayout = algorithm == .oneDNN ? oneDNNPreferredLayouts(g, backwardData: true).source : .standard
    let output = Tensor(uninitialized: [g.batch, g.inputChannels, g.inputHeight, g.inputWidth], layout: outputLayout)
    // The bias is added in the activation's pass (the primitive behind a transposed convolution takes none).
    transposedConvolutionForward(output: output.storagePointer, input: input.storagePointer, weight: weight.value.readPointer,
                                 bias: nil, geometry: g,
                                 layouts: ConvolutionBufferLayouts(input: input.layout, output: outputLayout), algorithm: algorithm)
    applyActivation(activation, to: output, bias: bias?.value.readPointer)
    FlopCounter.add(g.forwardOperations)
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    return Variable.recordLayoutAware(output, inputs: inputs) { outputGradient in
        let gradient = activationPullback(activation, outputGradient.converted(to: output.layout), output: output)
        withGradientBuffers(x, preferring: input.layout, anyLayout: algorithm == .oneDNN, weight, bias) { inputGradient, weightGradient, biasGradient in
            transposedConvolutionBackward(inputGradient: inputGradient?.pointer, weightGradient: weightGradient,
                                          biasGradient: biasGradient, outputGradient: gradient.storagePointer,
                                          input: input.storagePointer, weight: weight.value.readPointer, geometry: g,
                                          layouts: ConvolutionBufferLayouts(input: input.layout,
                                                                            inputGradient: inputGradient?.layout ?? .standard,
                                                                            outputGradient: gradient.layout),
                                          inputGradientIsFresh: inputGradient?.fresh ?? false, algorithm: algorithm)
        }
        FlopCounter.add(g.forwardOperations * Double((x.requiresGradient ? 1 : 0) + (weight.requiresGradient ? 1 : 0)))
    }
}

/// The gradient buffer of a convolution's input as `Variable.accumulateGradient(preferring:)` hands it out.
struct InputGradientBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let layout: TensorLayout
    /// Uninitialized: the kernel writes it instead of adding.
    let fresh: Bool
}

/// Calls `body` with the gradient buffers of the variables that need one (nil for the others): the input's in the
/// layout it already has or else `layout` when the kernels take `anyLayout` (else row-major, converted if another
/// op's gradient arrived blocked), the weight's and bias's row-major (views of flat buffers).
func withGradientBuffers(_ x: Variable, preferring layout: TensorLayout, anyLayout: Bool, _ weight: Variable, _ bias: Variable?,
                         _ body: (InputGradientBuffer?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void) {
    func with(_ variable: Variable?, _ next: (UnsafeMutablePointer<Float>?) -> Void) {
        if let variable, variable.requiresGradient {
            variable.accumulateGradient { next($0) }
        } else {
            next(nil)
        }
    }
    with(weight) { weightGradient in
        with(bias) { biasGradient in
            guard x.requiresGradient else { return body(nil, weightGradient, biasGradient) }
            guard anyLayout else {
                return x.accumulateGradient { body(InputGradientBuffer(pointer: $0, layout: .standard, fresh: false), weightGradient, biasGradient) }
            }
            x.accumulateGradient(preferring: layout) { pointer, actual, fresh in
                body(InputGradientBuffer(pointer: pointer, layout: actual, fresh: fresh), weightGradient, biasGradient)
            }
        }
    }
}

/// Applies `function` in place to a freshly computed output in any layout, after adding `bias` [C] to an image
/// [N, C, H, W] when given (nothing for the identity without bias).
@inline(__always)
func applyActivation<Function: OutputDifferentiableFunction>(_ function: Function, to output: Tensor,
                                                             bias: UnsafePointer<Float>? = nil) {
    if let bias { return applyBiasAndActivation(function, to: output, bias: bias) }
    if Function.self == IdentityFunction.self { return }
    let values = output.storagePointer
    Parallelism.forEachRange(output.count, minimumPerThread: 1 << 16) { range in
        for index in range { values[index] = function.value(values[index]) }
    }
}

/// `output = function(output + bias[channel])` in one pass, per image's channel (row-major) or channel block.
func applyBiasAndActivation<Function: OutputDifferentiableFunction>(_ function: Function, to output: Tensor,
                                                                    bias: UnsafePointer<Float>) {
    let channels = output.shape[1], plane = output.shape[2] * output.shape[3]
    var block = 1
    if case .channelBlocked(let size) = output.layout { block = size }
    let values = output.storagePointer
    Parallelism.forEachRange(output.shape[0] * channels / block, minimumPerThread: max(1, (1 << 16) / (plane * block))) { units in
        for unit in units {
            let first = (unit % (channels / block)) * block, start = values + unit * plane * block
            if block == 1 {
                let offset = bias[first]
                for index in 0..<plane { start[index] = function.value(start[index] + offset) }
                continue
            }
            for position in 0..<plane {
                let lanes = start + position * block
                for lane in 0..<block { lanes[lane] = function.value(lanes[lane] + bias[first + lane]) }
            }
        }
    }
}

/// `dy * f'(y)`: the gradient before a fused activation (dy itself for the identity), in the layout both share.
@inline(__always)
func activationPullback<Function: OutputDifferentiableFunction>(_ function: Function, _ gradient: Tensor, output: Tensor) -> Tensor {
    if Function.self == IdentityFunction.self { return gradient }
    guard gradient.layout == output.layout else { fatalError("activation pullback: gradient in \(gradient.layout), output in \(output.layout)") }
    let result = Tensor(uninitialized: gradient.shape, layout: gradient.layout)
    let dy = gradient.storagePointer, y = output.storagePointer, destination = result.storagePointer
    Parallelism.forEachRange(gradient.count, minimumPerThread: 1 << 16) { range in
        for index in range { destination[index] = dy[index] * function.derivative(y: y[index]) }
    }
    return result
}
