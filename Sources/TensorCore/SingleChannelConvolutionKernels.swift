// Direct kernels for convolutions with one channel on one side and channel-blocked activations on the other
// (`CConvolution`): a first layer on images, a generator's last layer. oneDNN 2.6's kernels run these shapes at
// ~10 GFLOP/s (DCGAN: 11% of its convolution time on 0.2% of its FLOPs); the direct loops vectorize over a
// channel block instead.
//
// Shape legend (logical NCHW): input [N, C, H, W]; weight [O, C, KH, KW]; output [N, O, HO, WO]; C or O is 1 and that
// side is row-major, the other side [N, channels/b, H, W, b].

import CConvolution

/// The direct kernels' description of `geometry` with its input side in `input` and output side in `output`, or
/// nil when they do not apply (several channels on both sides, or the wide side not channel-blocked).
func singleChannelShape(_ g: ConvolutionGeometry, input: TensorLayout, output: TensorLayout) -> gentrain_single_channel_shape? {
    let singleIsInput: Bool, block: Int
    if g.inputChannels == 1, input == .standard, case .channelBlocked(let size) = output {
        (singleIsInput, block) = (true, size)
    } else if g.outputChannels == 1, output == .standard, case .channelBlocked(let size) = input {
        (singleIsInput, block) = (false, size)
    } else {
        return nil
    }
    let wide = singleIsInput ? g.outputChannels : g.inputChannels
    guard block == 8 || block == 16, wide % block == 0 else { return nil }
    return gentrain_single_channel_shape(
        wide_channels: wide, block: block, input_height: g.inputHeight, input_width: g.inputWidth,
        output_height: g.outputHeight, output_width: g.outputWidth, kernel_height: g.kernelHeight, kernel_width: g.kernelWidth,
        stride: g.stride, pad_top: g.padTop, pad_left: g.padLeft, single_is_input: singleIsInput ? 1 : 0)
}

/// Calls `body(packed)` with `weight` [O, C, KH, KW] packed for the direct kernels.
private func withPackedWeights(_ shape: gentrain_single_channel_shape, _ weight: UnsafePointer<Float>,
                               _ body: (UnsafePointer<Float>) -> Void) {
    var shape = shape
    let count = gentrain_single_channel_packed_count(&shape)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { packed in
        gentrain_single_channel_pack(&shape, packed.baseAddress!, weight)
        body(packed.baseAddress!)
    }
}

/// Runs `body(first, count)` over the batch's images in contiguous runs, one per thread.
private func forEachImageRun(_ batch: Int, _ body: (_ first: Int, _ count: Int) -> Void) {
    Parallelism.forEachRange(batch) { images in body(images.lowerBound, images.count) }
}

/// `output (+)= conv(input, weight) + bias`, written unless `accumulate`.
func singleChannelConvolutionForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                     bias: UnsafePointer<Float>?, geometry g: ConvolutionGeometry,
                                     shape: gentrain_single_channel_shape, accumulate: Bool) {
    withPackedWeights(shape, weight) { packed in
        forEachImageRun(g.batch) { first, count in
            var shape = shape
            gentrain_single_channel_forward(&shape, count, accumulate ? 1 : 0, output + first * g.outputChannels * g.outputPlane,
                                            input + first * g.inputChannels * g.inputPlane, packed, bias)
        }
    }
}

/// `inputGradient (+)= conv^T(outputGradient, weight)`, written unless `accumulate`.
func singleChannelConvolutionBackwardData(inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
                                          weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                          shape: gentrain_single_channel_shape, accumulate: Bool) {
    withPackedWeights(shape, weight) { packed in
        forEachImageRun(g.batch) { first, count in
            var shape = shape
            gentrain_single_channel_backward_data(&shape, count, accumulate ? 1 : 0, inputGradient + first * g.inputChannels * g.inputPlane,
                                                  outputGradient + first * g.outputChannels * g.outputPlane, packed)
        }
    }
}

/// `weightGradient += outputGradient x unfold(input)^T`, each thread's images summed into its own packed buffer first.
func singleChannelConvolutionBackwardWeights(weightGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
                                             input: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                             shape: gentrain_single_channel_shape) {
    var shape = shape
    let count = gentrain_single_channel_packed_count(&shape), workers = max(1, min(Parallelism.threads, g.batch))
    withUnsafeTemporaryAllocation(of: Float.self, capacity: count * workers) { partials in
        partials.initialize(repeating: 0)
        Parallelism.forEachWorker(workers) { worker in
            let first = worker * g.batch / workers, end = (worker + 1) * g.batch / workers
            var shape = shape
            gentrain_single_channel_backward_weights(&shape, end - first, partials.baseAddress! + worker * count,
                                                     outputGradient + first * g.outputChannels * g.outputPlane,
                                                     input + first * g.inputChannels * g.inputPlane)
        }
        for worker in 0..<workers { gentrain_single_channel_unpack_add(&shape, weightGradient, partials.baseAddress! + worker * count) }
    }
}
