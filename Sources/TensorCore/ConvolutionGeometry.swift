// The geometry of a 2-D convolution and the Keras padding rules.
// Shape legend: input [N, C, H, W], weight [O, C, KH, KW], output [N, O, HO, WO].

/// Keras padding modes.
public enum Padding: String, Sendable, Codable {
    /// Output size `ceil(in / stride)`, padding split with the extra row/column after (bottom/right).
    case same
    /// No padding: output size `(in - kernel) / stride + 1`.
    case valid
}

/// Sizes, stride and padding of one convolution: everything its kernels need.
public struct ConvolutionGeometry: Equatable, Sendable {
    public var batch: Int
    public var inputChannels: Int
    public var inputHeight: Int
    public var inputWidth: Int
    public var outputChannels: Int
    public var outputHeight: Int
    public var outputWidth: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var stride: Int
    public var padTop: Int
    public var padLeft: Int

    public init(batch: Int, inputChannels: Int, inputHeight: Int, inputWidth: Int, outputChannels: Int,
                outputHeight: Int, outputWidth: Int, kernelHeight: Int, kernelWidth: Int, stride: Int,
                padTop: Int, padLeft: Int) {
        self.batch = batch
        self.inputChannels = inputChannels
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.outputChannels = outputChannels
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padTop = padTop
        self.padLeft = padLeft
    }

    /// A convolution of `[batch, inputChannels, height, width]` with Keras `padding`.
    public static func convolution(batch: Int, inputChannels: Int, height: Int, width: Int, outputChannels: Int,
                                   kernelSize: Int, stride: Int, padding: Padding) -> ConvolutionGeometry {
        let (outputHeight, padTop) = convolutionExtent(input: height, kernel: kernelSize, stride: stride, padding: padding)
        let (outputWidth, padLeft) = convolutionExtent(input: width, kernel: kernelSize, stride: stride, padding: padding)
        guard outputHeight > 0, outputWidth > 0 else {
            fatalError("convolution of \(height)x\(width) with kernel \(kernelSize), stride \(stride), \(padding) padding is empty")
        }
        return ConvolutionGeometry(batch: batch, inputChannels: inputChannels, inputHeight: height, inputWidth: width,
                                   outputChannels: outputChannels, outputHeight: outputHeight, outputWidth: outputWidth,
                                   kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride,
                                   padTop: padTop, padLeft: padLeft)
    }

    /// The convolution whose input gradient is the transposed convolution of `[batch, channels, height, width]`
    /// to `outputChannels` with Keras `padding` (Keras `same`: output `in * stride`).
    ///
    /// In the returned geometry the *convolution's* input is the transposed convolution's output.
    public static func transposed(batch: Int, inputChannels: Int, height: Int, width: Int, outputChannels: Int,
                                  kernelSize: Int, stride: Int, padding: Padding) -> ConvolutionGeometry {
        func extent(_ input: Int) -> (output: Int, padBefore: Int) {
            switch padding {
            case .same:
                let total = max(kernelSize - stride, 0)
                return (input * stride, total / 2)
            case .valid:
                return (input * stride + max(kernelSize - stride, 0), 0)
            }
        }
        let (outputHeight, padTop) = extent(height)
        let (outputWidth, padLeft) = extent(width)
        return ConvolutionGeometry(batch: batch, inputChannels: outputChannels, inputHeight: outputHeight,
                                   inputWidth: outputWidth, outputChannels: inputChannels, outputHeight: height,
                                   outputWidth: width, kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride,
                                   padTop: padTop, padLeft: padLeft)
    }

    /// Output size and leading padding of one spatial axis under Keras rules.
    static func convolutionExtent(input: Int, kernel: Int, stride: Int, padding: Padding) -> (output: Int, padBefore: Int) {
        switch padding {
        case .valid:
            return ((input - kernel) / stride + 1, 0)
        case .same:
            let output = (input + stride - 1) / stride
            let total = max((output - 1) * stride + kernel - input, 0)
            return (output, total / 2)
        }
    }

    /// Values in one row of the unfolded input: `C * KH * KW`.
    public var patchSize: Int { inputChannels * kernelHeight * kernelWidth }
    /// Output positions per image: `HO * WO`.
    public var outputPlane: Int { outputHeight * outputWidth }
    /// Input positions per image: `H * W`.
    public var inputPlane: Int { inputHeight * inputWidth }
    /// Multiply-adds of the forward pass, times two.
    public var forwardOperations: Double { 2 * Double(batch * outputChannels * outputPlane * patchSize) }
}
