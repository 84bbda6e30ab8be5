// Convolution kernels through oneDNN (the `COneDNN` target), with the same contracts as the im2col kernels.
//
// Shape legend (logical NCHW): input [N, C, H, W]; weight [O, C, KH, KW]; output [N, O, HO, WO].
// Activation buffers are row-major or channel-blocked (`ActivationLayouts`); oneDNN reorders what is not in the
// layout its primitive wants inside each call (see COneDNN), so blocked buffers passed between convolutions
// need no reorder at all.

import COneDNN
import Foundation

/// How convolutions and transposed convolutions are computed.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// Unfolding a chunk of images into columns, one OpenBLAS sgemm, folding back (`ConvolutionKernels.swift`).
    case im2col
    /// oneDNN's direct kernels in its blocked layout, which convolutions keep between them (row-major elsewhere);
    /// convolutions with one channel on a side run gentrain's own direct kernels (`SingleChannelConvolutionKernels`).
    case oneDNN = "onednn"

    /// The process-wide choice: `$GENTRAIN_CONVOLUTION` (`onednn` or `im2col`), oneDNN by default.
    public static let selected: ConvolutionAlgorithm = {
        guard let text = getenv("GENTRAIN_CONVOLUTION") else { return .oneDNN }
        let name = String(cString: text).lowercased()
        guard let algorithm = ConvolutionAlgorithm(rawValue: name) else {
            FileHandle.standardError.write(Data("gentrain: GENTRAIN_CONVOLUTION=\(name) is not one of onednn, im2col; using onednn\n".utf8))
            return .oneDNN
        }
        return algorithm
    }()

    /// The algorithm the convolution kernels use by default in this task: `selected`, unless a caller (a
    /// benchmark comparing algorithms step by step, a test) binds another with `$current.withValue`.
    @TaskLocal public static var current: ConvolutionAlgorithm = selected
}

/// Bytes of input and output per chunk of images handed to oneDNN: `$GENTRAIN_ONEDNN_CHUNK_BYTES`, 4 MiB by
/// default (measured: 1, 4 and 16 MiB within noise of each other on the DCGAN step; smaller keeps the
/// reordered copies in cache and small).
let oneDNNChunkBytes: Int = {
    if let text = getenv("GENTRAIN_ONEDNN_CHUNK_BYTES"), let value = Int(String(cString: text)), value > 0 { return value }
    return 4 << 20
}()

/// The layouts of one oneDNN call's activations: `source` the convolution's input side (its input or input
/// gradient), `destination` its output side.
struct ActivationLayouts: Equatable {
    var source: TensorLayout
    var destination: TensorLayout

    static let standard = ActivationLayouts(source: .standard, destination: .standard)

    var oneDNN: gentrain_activation_layouts {
        gentrain_activation_layouts(source_block: source.channelBlock, destination_block: destination.channelBlock)
    }
}

/// The settings of one call: the current thread count and the chunk size.
private func oneDNNSettings(chunkBytes: Int) -> gentrain_onednn_settings {
    gentrain_onednn_settings(threads: Int32(Parallelism.threads), chunk_bytes: chunkBytes)
}

extension ConvolutionGeometry {
    /// The geometry in COneDNN's terms (padding after = what the last output position reaches past the input).
    var oneDNNShape: gentrain_convolution_shape {
        let padBottom = max(0, (outputHeight - 1) * stride + kernelHeight - inputHeight - padTop)
        let padRight = max(0, (outputWidth - 1) * stride + kernelWidth - inputWidth - padLeft)
        return gentrain_convolution_shape(
            batch: batch, input_channels: inputChannels, input_height: inputHeight, input_width: inputWidth,
            output_channels: outputChannels, output_height: outputHeight, output_width: outputWidth,
            kernel_height: kernelHeight, kernel_width: kernelWidth, stride: stride,
            pad_top: padTop, pad_left: padLeft, pad_bottom: padBottom, pad_right: padRight)
    }
}

/// Stops with oneDNN's message when a call fails (an unsupported shape or a bug, never bad user input).
private func checkOneDNN(_ status: Int32, _ what: String, _ g: ConvolutionGeometry) {
    guard status != 0 else { return }
    fatalError("oneDNN \(what) of \(g) failed: \(String(cString: gentrain_onednn_last_error()))")
}

/// `output (+)= conv(input, weight) + bias` through oneDNN; output [N, O, HO, WO] is overwritten unless `accumulate`.
func oneDNNConvolutionForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, geometry g: ConvolutionGeometry, layouts: ActivationLayouts = .standard,
                              accumulate: Bool = false, chunkBytes: Int = oneDNNChunkBytes) {
    if let direct = singleChannelShape(g, input: layouts.source, output: layouts.destination) {
        return singleChannelConvolutionForward(output: output, input: input, weight: weight, bias: bias, geometry: g, shape: direct,
                                               accumulate: accumulate)
    }
    var shape = g.oneDNNShape, settings = oneDNNSettings(chunkBytes: chunkBytes)
    checkOneDNN(gentrain_onednn_convolution_forward(&shape, &settings, layouts.oneDNN, accumulate ? 1 : 0, output, input, weight, bias),
                "convolution forward", g)
}

/// `inputGradient (+)= conv^T(outputGradient, weight)`: added when `accumulate`, overwritten otherwise.
func oneDNNConvolutionBackwardData(inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
                                   weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry, layouts: ActivationLayouts = .standard,
                                   accumulate: Bool, chunkBytes: Int = oneDNNChunkBytes) {
    if let direct = singleChannelShape(g, input: layouts.source, output: layouts.destination) {
        return singleChannelConvolutionBackwardData(inputGradient: inputGradient, outputGradient: outputGradient, weight: weight,
                                                    geometry: g, shape: direct, accumulate: accumulate)
    }
    var shape = g.oneDNNShape, settings = oneDNNSettings(chunkBytes: chunkBytes)
    checkOneDNN(gentrain_onednn_convolution_backward_data(&shape, &settings, layouts.oneDNN, accumulate ? 1 : 0, inputGradient,
                                                          outputGradient, weight), "backward data", g)
}

/// `weightGradient += outputGradient x unfold(input)^T`.
func oneDNNConvolutionBackwardWeights(weightGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
                                      input: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                      layouts: ActivationLayouts = .standard, chunkBytes: Int = oneDNNChunkBytes) {
    if let direct = singleChannelShape(g, input: layouts.source, output: layouts.destination) {
        return singleChannelConvolutionBackwardWeights(weightGradient: weightGradient, outputGradient: outputGradient, input: input,
                                                       geometry: g, shape: direct)
    }
    var shape = g.oneDNNShape, settings = oneDNNSettings(chunkBytes: chunkBytes)
    checkOneDNN(gentrain_onednn_convolution_backward_weights(&shape, &settings, layouts.oneDNN, weightGradient, outputGradient, input),
                "backward weights", g)
}

/// The layouts in which oneDNN's forward primitive (or, with `backwardData`, its backward-data primitive, which
/// is the transposed convolution's forward) of `geometry` reads and writes activations: channel-blocked where it
/// wants a plain channel-blocked layout, row-major otherwise (padded blocks, few channels).
func oneDNNPreferredLayouts(_ geometry: ConvolutionGeometry, backwardData: Bool = false,
                            chunkBytes: Int = oneDNNChunkBytes) -> ActivationLayouts {
    var shape = geometry.oneDNNShape, settings = oneDNNSettings(chunkBytes: chunkBytes)
    var layouts = gentrain_activation_layouts()
    checkOneDNN(gentrain_onednn_preferred_layouts(&shape, &settings, backwardData ? 1 : 0, &layouts), "layout query", geometry)
    return ActivationLayouts(source: TensorLayout(channelBlock: layouts.source_block),
                             destination: TensorLayout(channelBlock: layouts.destination_block))
}

/// The oneDNN implementations picked for `geometry` ("forward / backward data / backward weights"), for reports.
public func oneDNNImplementations(_ geometry: ConvolutionGeometry) -> String {
    var shape = geometry.oneDNNShape, settings = oneDNNSettings(chunkBytes: oneDNNChunkBytes)
    var buffer = [UInt8](repeating: 0, count: 256)
    let status = buffer.withUnsafeMutableBufferPointer { bytes in
        bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
            gentrain_onednn_describe(&shape, &settings, $0, bytes.count)
        }
    }
    guard status == 0 else { return "unavailable: \(String(cString: gentrain_onednn_last_error()))" }
    return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
}
