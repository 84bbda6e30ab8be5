// Convolution kernels: im2col + sgemm over chunks of images, and naive twins.
//
// Shape legend (NCHW, row-major): input [N, C, H, W]; weight [O, C, KH, KW];
// output [N, O, HO, WO]; a chunk of `images` unfolds to columns
// [C*KH*KW, images*HO*WO] (row (c, ki, kj), column (image, oh, ow)).
// Backward kernels *add* into their gradient outputs.

import CBLAS
import Foundation

/// Floats of unfolded columns processed per chunk (bounds workspace memory).
let convolutionWorkspaceBudget: Int = {
    if let text = getenv("GENTRAIN_CONV_BUDGET"), let value = Int(String(cString: text)) { return value }
    return 1 << 18
}()

/// Images per chunk so that the unfolded columns stay within the workspace budget.
func imagesPerChunk(_ geometry: ConvolutionGeometry) -> Int {
    let perImage = geometry.patchSize * geometry.outputPlane
    return max(1, min(geometry.batch, convolutionWorkspaceBudget / max(perImage, 1)))
}

/// Output columns `[lower, upper)` whose input column `ow * stride - pad + offset` lies in `[0, size)`.
@inline(__always)
private func validRange(outputSize: Int, inputSize: Int, stride: Int, pad: Int, offset: Int) -> Range<Int> {
    let shift = pad - offset
    let lower = shift <= 0 ? 0 : (shift + stride - 1) / stride
    let upperInput = inputSize - 1 + shift
    let upper = upperInput < 0 ? 0 : min(outputSize, upperInput / stride + 1)
    return lower..<max(lower, upper)
}

/// Unfolds `images` images starting at `input` into `columns` [C*KH*KW, images*HO*WO].
func im2col(_ columns: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ g: ConvolutionGeometry, images: Int) {
    let width = images * g.outputPlane
    Parallelism.forEachRange(g.inputChannels) { channels in
    for channel in channels {
        for ki in 0..<g.kernelHeight {
            for kj in 0..<g.kernelWidth {
                let row = columns + ((channel * g.kernelHeight + ki) * g.kernelWidth + kj) * width
                let valid = validRange(outputSize: g.outputWidth, inputSize: g.inputWidth, stride: g.stride, pad: g.padLeft, offset: kj)
                for image in 0..<images {
                    let plane = input + (image * g.inputChannels + channel) * g.inputPlane
                    for oh in 0..<g.outputHeight {
                        let destination = row + image * g.outputPlane + oh * g.outputWidth
                        let ih = oh * g.stride - g.padTop + ki
                        if ih < 0 || ih >= g.inputHeight {
                            destination.update(repeating: 0, count: g.outputWidth)
                            continue
                        }
                        let source = plane + ih * g.inputWidth - g.padLeft + kj
                        for ow in 0..<valid.lowerBound { destination[ow] = 0 }
                        if g.stride == 1 {
                            (destination + valid.lowerBound).update(from: source + valid.lowerBound, count: valid.count)
                        } else {
                            for ow in valid { destination[ow] = source[ow * g.stride] }
                        }
                        for ow in valid.upperBound..<g.outputWidth { destination[ow] = 0 }
                    }
                }
            }
        }
    }
    }
}

/// Folds `columns` [C*KH*KW, images*HO*WO] back, *adding* into `images` images at `input` (the adjoint of im2col).
func col2im(_ input: UnsafeMutablePointer<Float>, _ columns: UnsafePointer<Float>, _ g: ConvolutionGeometry, images: Int) {
    let width = images * g.outputPlane
    Parallelism.forEachRange(g.inputChannels) { channels in
    for channel in channels {
        for ki in 0..<g.kernelHeight {
            for kj in 0..<g.kernelWidth {
                let row = columns + ((channel * g.kernelHeight + ki) * g.kernelWidth + kj) * width
                let valid = validRange(outputSize: g.outputWidth, inputSize: g.inputWidth, stride: g.stride, pad: g.padLeft, offset: kj)
                for image in 0..<images {
                    let plane = input + (image * g.inputChannels + channel) * g.inputPlane
                    for oh in 0..<g.outputHeight {
                        let ih = oh * g.stride - g.padTop + ki
                        if ih < 0 || ih >= g.inputHeight { continue }
                        let source = row + image * g.outputPlane + oh * g.outputWidth
                        let destination = plane + ih * g.inputWidth - g.padLeft + kj
                        if g.stride == 1 {
                            for ow in valid { destination[ow] += source[ow] }
                        } else {
                            for ow in valid { destination[ow * g.stride] += source[ow] }
                        }
                    }
                }
            }
        }
    }
    }
}

/// Copies `images` images of [channels, plane] at `batched` into `matrix` [channels, images*plane].
func gatherChannels(_ matrix: UnsafeMutablePointer<Float>, _ batched: UnsafePointer<Float>, channels: Int, plane: Int, images: Int) {
    Parallelism.forEachRange(channels) { range in
    for image in 0..<images {
        for channel in range {
            (matrix + channel * images * plane + image * plane).update(from: batched + (image * channels + channel) * plane, count: plane)
        }
    }
    }
}

/// Writes (or adds, when `accumulate`) `matrix` [channels, images*plane] into `images` images of [channels, plane],
/// plus `bias[channel]` when given.
func scatterChannels(_ batched: UnsafeMutablePointer<Float>, _ matrix: UnsafePointer<Float>, channels: Int, plane: Int,
                     images: Int, bias: UnsafePointer<Float>?, accumulate: Bool) {
    Parallelism.forEachRange(channels) { range in
    for image in 0..<images {
        for channel in range {
            let source = matrix + channel * images * plane + image * plane
            let destination = batched + (image * channels + channel) * plane
            let offset = bias?[channel] ?? 0
            if accumulate {
                for index in 0..<plane { destination[index] += source[index] + offset }
            } else {
                for index in 0..<plane { destination[index] = source[index] + offset }
            }
        }
    }
    }
}

/// How a batch is cut into chunks of images, and how many workers share them: with several threads and
/// at least as many chunks, each worker takes a contiguous run of chunks with its own workspace (so
/// unfolding, sgemm and folding all run in parallel, with single-threaded BLAS calls).
struct ChunkPlan {
    let batch: Int
    let chunk: Int
    let chunks: Int
    let workers: Int

    init(_ g: ConvolutionGeometry) {
        batch = g.batch
        chunk = imagesPerChunk(g)
        chunks = (g.batch + chunk - 1) / chunk
        let threads = Parallelism.threads
        workers = threads > 1 && chunks >= threads ? threads : 1
    }

    /// Calls `body(first, images, worker)` for every chunk; `workspaceSize` floats per worker are allocated
    /// and passed in `workspace`.
    func run(workspaceSize: Int, _ body: (_ first: Int, _ images: Int, _ workspace: UnsafeMutablePointer<Float>, _ worker: Int) -> Void) {
        let workspaces = UnsafeMutablePointer<Float>.allocate(capacity: workspaceSize * workers)
        defer { workspaces.deallocate() }
        Parallelism.forEachWorker(workers) { worker in
            let start = worker * chunks / workers, end = (worker + 1) * chunks / workers
            for index in start..<end {
                let first = index * chunk
                body(first, min(chunk, batch - first), workspaces + worker * workspaceSize, worker)
            }
        }
    }
}

// MARK: - im2col + sgemm (row-major buffers)

/// `output = conv(input, weight) + bias` by unfolding chunks of images. output [N, O, HO, WO] is overwritten.
func im2colConvolutionForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, geometry g: ConvolutionGeometry) {
    let plan = ChunkPlan(g)
    let columnsSize = g.patchSize * plan.chunk * g.outputPlane
    plan.run(workspaceSize: columnsSize + g.outputChannels * plan.chunk * g.outputPlane) { first, images, workspace, _ in
        let columns = workspace, product = workspace + columnsSize
        im2col(columns, input + first * g.inputChannels * g.inputPlane, g, images: images)
        matmulKernel(product, weight, columns, m: g.outputChannels, n: images * g.outputPlane, k: g.patchSize)
        scatterChannels(output + first * g.outputChannels * g.outputPlane, product, channels: g.outputChannels,
                        plane: g.outputPlane, images: images, bias: bias, accumulate: false)
    }
}

/// Adds the per-worker weight-gradient partial sums (worker 0 writes straight into `weightGradient`).
private func withWeightGradientAccumulators(_ weightGradient: UnsafeMutablePointer<Float>?, count: Int, workers: Int,
                                            _ body: (_ accumulator: (Int) -> UnsafeMutablePointer<Float>?) -> Void) {
    guard let weightGradient, workers > 1 else {
        body { _ in weightGradient }
        return
    }
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: count * (workers - 1))
    partials.initialize(repeating: 0, count: count * (workers - 1))
    defer { partials.deallocate() }
    body { worker in worker == 0 ? weightGradient : partials + (worker - 1) * count }
    for worker in 1..<workers {
        let partial = partials + (worker - 1) * count
        for index in 0..<count { weightGradient[index] += partial[index] }
    }
}

/// Adds `inputGradient += conv^T(outputGradient)` and `weightGradient += outputGradient x unfold(input)^T`
/// (nil outputs skipped) by unfolding chunks of images.
func im2colConvolutionBackward(inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?,
                               outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               geometry g: ConvolutionGeometry) {
    let plan = ChunkPlan(g)
    let columnsSize = g.patchSize * plan.chunk * g.outputPlane
    withWeightGradientAccumulators(weightGradient, count: g.outputChannels * g.patchSize, workers: plan.workers) { accumulator in
        plan.run(workspaceSize: columnsSize + g.outputChannels * plan.chunk * g.outputPlane) { first, images, workspace, worker in
            let columns = workspace, gathered = workspace + columnsSize
            let width = images * g.outputPlane
            gatherChannels(gathered, outputGradient + first * g.outputChannels * g.outputPlane,
                           channels: g.outputChannels, plane: g.outputPlane, images: images)
            if let weightGradient = accumulator(worker) {
                im2col(columns, input + first * g.inputChannels * g.inputPlane, g, images: images)
                matmulKernel(weightGradient, gathered, columns, m: g.outputChannels, n: g.patchSize, k: width,
                             transposeB: true, accumulate: true)
            }
            if let inputGradient {
                matmulKernel(columns, weight, gathered, m: g.patchSize, n: width, k: g.outputChannels, transposeA: true)
                col2im(inputGradient + first * g.inputChannels * g.inputPlane, columns, g, images: images)
            }
        }
    }
}

/// Adds the gradients of a transposed convolution (geometry as in `transposedConvolutionForward`):
/// `inputGradient += conv(outputGradient)`, `weightGradient += input x unfold(outputGradient)^T`.
func im2colTransposedConvolutionBackward(inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?,
                                         outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                         weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry) {
    let plan = ChunkPlan(g)
    let columnsSize = g.patchSize * plan.chunk * g.outputPlane
    withWeightGradientAccumulators(weightGradient, count: g.outputChannels * g.patchSize, workers: plan.workers) { accumulator in
        plan.run(workspaceSize: columnsSize + g.outputChannels * plan.chunk * g.outputPlane) { first, images, workspace, worker in
            let columns = workspace, matrix = workspace + columnsSize
            let width = images * g.outputPlane
            im2col(columns, outputGradient + first * g.inputChannels * g.inputPlane, g, images: images)
            if let inputGradient {
                matmulKernel(matrix, weight, columns, m: g.outputChannels, n: width, k: g.patchSize)
                scatterChannels(inputGradient + first * g.outputChannels * g.outputPlane, matrix, channels: g.outputChannels,
                                plane: g.outputPlane, images: images, bias: nil, accumulate: true)
            }
            if let weightGradient = accumulator(worker) {
                gatherChannels(matrix, input + first * g.outputChannels * g.outputPlane, channels: g.outputChannels,
                               plane: g.outputPlane, images: images)
                matmulKernel(weightGradient, matrix, columns, m: g.outputChannels, n: g.patchSize, k: width,
                             transposeB: true, accumulate: true)
            }
        }
    }
}


// MARK: - Naive twins (direct loops, Double accumulation), for tests

/// Direct convolution: `output[n, o, y, x] = bias[o] + sum input[n, c, y*s-pt+i, x*s-pl+j] * weight[o, c, i, j]`.
public func convolutionForwardNaive(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                    bias: UnsafePointer<Float>?, geometry g: ConvolutionGeometry) {
    for n in 0..<g.batch {
        for o in 0..<g.outputChannels {
            for y in 0..<g.outputHeight {
                for x in 0..<g.outputWidth {
                    var total = Double(bias?[o] ?? 0)
                    for c in 0..<g.inputChannels {
                        for i in 0..<g.kernelHeight {
                            for j in 0..<g.kernelWidth {
                                let row = y * g.stride - g.padTop + i, column = x * g.stride - g.padLeft + j
                                guard row >= 0, row < g.inputHeight, column >= 0, column < g.inputWidth else { continue }
                                let value = input[((n * g.inputChannels + c) * g.inputHeight + row) * g.inputWidth + column]
                                total += Double(value) * Double(weight[((o * g.inputChannels + c) * g.kernelHeight + i) * g.kernelWidth + j])
                            }
                        }
                    }
                    output[((n * g.outputChannels + o) * g.outputHeight + y) * g.outputWidth + x] = Float(total)
                }
            }
        }
    }
}

/// Direct adjoint of the convolution in its input and weight: adds into `inputGradient` and `weightGradient`.
public func convolutionBackwardNaive(inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?,
                                     outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                     weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry) {
    for n in 0..<g.batch {
        for o in 0..<g.outputChannels {
            for y in 0..<g.outputHeight {
                for x in 0..<g.outputWidth {
                    let upstream = outputGradient[((n * g.outputChannels + o) * g.outputHeight + y) * g.outputWidth + x]
                    for c in 0..<g.inputChannels {
                        for i in 0..<g.kernelHeight {
                            for j in 0..<g.kernelWidth {
                                let row = y * g.stride - g.padTop + i, column = x * g.stride - g.padLeft + j
                                guard row >= 0, row < g.inputHeight, column >= 0, column < g.inputWidth else { continue }
                                let inputIndex = ((n * g.inputChannels + c) * g.inputHeight + row) * g.inputWidth + column
                                let weightIndex = ((o * g.inputChannels + c) * g.kernelHeight + i) * g.kernelWidth + j
                                inputGradient?[inputIndex] += upstream * weight[weightIndex]
                                weightGradient?[weightIndex] += upstream * input[inputIndex]
                            }
                        }
                    }
                }
            }
        }
    }
}
