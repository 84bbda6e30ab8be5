// Ops on feature maps in the layout the convolutions leave (row-major or channel-blocked, `TensorLayouts.swift`), so
// that a U-Net's conv -> bias -> norm -> conv and its skip concatenations never reorder: a per-image channel bias (a
// time embedding added to every position), the sum of two maps (a residual connection), concatenation along channels,
// nearest-neighbour upsampling.
//
// Shape legend: x [N, C, H, W], P = H * W, in a layout of channel block b (1: row-major): each image is contiguous,
// [C/b, P, b], so the channels [c0, c0 + C') of an image (c0, C' multiples of b) are the C' * P values from c0 * P.

/// The channel block of a layout (1 for row-major).
@inline(__always)
func channelBlockSize(_ layout: TensorLayout) -> Int {
    if case .channelBlocked(let block) = layout { return block }
    return 1
}

/// `x[n, c, h, w] + bias[n, c]`: a different offset per image and channel (the U-Net's `h + dense(t_emb)[:, :, None,
/// None]`), in x's layout. Pullback: dx = dy in the layout it arrives; `dbias[n, c] += sum_p dy[n, c, p]`.
public func addPerImageChannelBias(_ x: Variable, _ bias: Variable) -> Variable {
    guard x.shape.count == 4, bias.shape == [x.shape[0], x.shape[1]] else {
        fatalError("addPerImageChannelBias of \(x.shape) and bias \(bias.shape) (expected [N, C, H, W] and [N, C])")
    }
    let input = x.storedValue
    let (batch, channels, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let output = Tensor(uninitialized: x.shape, layout: input.layout)
    output.storagePointer.update(from: input.storagePointer, count: input.count)
    let offsets = bias.value.readPointer
    Parallelism.forEachRange(batch, minimumPerThread: max(1, (1 << 16) / max(channels * plane, 1))) { images in
        for n in images {
            addBias(output.storagePointer + n * channels * plane, offsets + n * channels, batch: 1, channels: channels, plane: plane,
                    layout: input.layout)
        }
    }
    return Variable.recordLayoutAware(output, inputs: [x, bias]) { gradient in
        if x.requiresGradient { x.accumulateGradient(gradient) }
        guard bias.requiresGradient else { return }
        bias.accumulateGradient { biasGradient in
            Parallelism.forEachRange(batch, minimumPerThread: max(1, (1 << 15) / max(channels * plane, 1))) { images in
                for n in images {
                    accumulateBiasGradient(biasGradient + n * channels, gradient.storagePointer + n * channels * plane, batch: 1,
                                           channels: channels, plane: plane, layout: gradient.layout)
                }
            }
        }
    }
}

/// `a + b` for maps of one shape (a residual connection), in a's layout (b converted when its layout differs).
/// Pullback: the gradient to both, in the layout it arrives.
public func addFeatureMaps(_ a: Variable, _ b: Variable) -> Variable {
    guard a.shape == b.shape else { fatalError("addFeatureMaps of \(a.shape) and \(b.shape)") }
    let first = a.storedValue, second = b.storedValue.converted(to: first.layout)
    let output = Tensor(uninitialized: a.shape, layout: first.layout)
    let (x, y, sum) = (first.storagePointer, second.storagePointer, output.storagePointer)
    Parallelism.forEachRange(output.count, minimumPerThread: 1 << 16) { range in
        for index in range { sum[index] = x[index] + y[index] }
    }
    return Variable.recordLayoutAware(output, inputs: [a, b]) { gradient in
        if a.requiresGradient { a.accumulateGradient(gradient) }
        if b.requiresGradient { b.accumulateGradient(gradient) }
    }
}

/// Joins feature maps along channels (the U-Net's skip connection `cat([h, skip], 1)`). When every part has the same
/// channel-blocked layout, so has the result; otherwise all are read row-major. Pullback: each part gets its channels.
public func concatenateChannels(_ parts: [Variable]) -> Variable {
    guard let first = parts.first else { fatalError("concatenateChannels of no maps") }
    for part in parts where part.shape.count != 4 || part.shape[0] != first.shape[0] || part.shape[2...] != first.shape[2...] {
        fatalError("concatenateChannels: map \(part.shape) does not match \(first.shape) outside the channels")
    }
    let layout = parts.allSatisfy({ $0.storedValue.layout == first.storedValue.layout }) ? first.storedValue.layout : .standard
    let inputs = parts.map { $0.storedValue.converted(to: layout) }
    let (batch, plane) = (first.shape[0], first.shape[2] * first.shape[3])
    let channels = parts.map { $0.shape[1] }, total = channels.reduce(0, +)
    let starts = channels.indices.map { channels[..<$0].reduce(0, +) }
    let output = Tensor(uninitialized: [batch, total, first.shape[2], first.shape[3]], layout: layout)
    Parallelism.forEachRange(batch, minimumPerThread: max(1, (1 << 16) / max(total * plane, 1))) { images in
        for n in images {
            for (input, (start, count)) in zip(inputs, zip(starts, channels)) {
                (output.storagePointer + (n * total + start) * plane).update(from: input.storagePointer + n * count * plane, count: count * plane)
            }
        }
    }
    return Variable.recordLayoutAware(output, inputs: parts) { outputGradient in
        let gradient = outputGradient.converted(to: layout)
        for (part, (start, count)) in zip(parts, zip(starts, channels)) where part.requiresGradient {
            let piece = Tensor(uninitialized: part.shape, layout: layout)
            for n in 0..<batch {
                (piece.storagePointer + n * count * plane).update(from: gradient.storagePointer + (n * total + start) * plane, count: count * plane)
            }
            part.accumulateGradient(piece)
        }
    }
}

/// Repeats each pixel `factor` times along height and width, in x's layout. Pullback: sums each `factor x factor` block.
public func upsampleNearest(_ x: Variable, factor: Int) -> Variable {
    guard x.shape.count == 4, factor >= 1 else { fatalError("upsampleNearest of \(x.shape) by \(factor)") }
    let input = x.storedValue, block = channelBlockSize(input.layout)
    let (units, height, width) = (x.shape[0] * x.shape[1] / block, x.shape[2], x.shape[3])
    let (outHeight, outWidth) = (height * factor, width * factor)
    let output = Tensor(uninitialized: [x.shape[0], x.shape[1], outHeight, outWidth], layout: input.layout)
    let minimum = max(1, (1 << 16) / max(outHeight * outWidth * block, 1))
    let source = input.storagePointer, destination = output.storagePointer
    // One unit: one image's channel (row-major) or channel block, [H, W, b] -> [H f, W f, b].
    Parallelism.forEachRange(units, minimumPerThread: minimum) { range in
        for unit in range {
            for row in 0..<outHeight {
                let from = source + (unit * height + row / factor) * width * block
                let to = destination + (unit * outHeight + row) * outWidth * block
                for column in 0..<outWidth { (to + column * block).update(from: from + (column / factor) * block, count: block) }
            }
        }
    }
    return Variable.recordLayoutAware(output, inputs: [x]) { outputGradient in
        let gradient = outputGradient.converted(to: input.layout)
        let summed = Tensor(uninitialized: x.shape, layout: input.layout)
        summed.storagePointer.initialize(repeating: 0, count: summed.count)
        let upstream = gradient.storagePointer, dx = summed.storagePointer
        Parallelism.forEachRange(units, minimumPerThread: minimum) { range in
            for unit in range {
                for row in 0..<outHeight {
                    let from = upstream + (unit * outHeight + row) * outWidth * block
                    let to = dx + (unit * height + row / factor) * width * block
                    for column in 0..<outWidth {
                        let lanes = to + (column / factor) * block, incoming = from + column * block
                        for lane in 0..<block { lanes[lane] += incoming[lane] }
                    }
                }
            }
        }
        x.accumulateGradient(summed)
    }
}

// MARK: - Naive twins

/// The naive twin of `concatenateChannels`' copy: value (n, c, h, w) of the result by index arithmetic, from the part
/// that holds channel c, for maps in `layout`.
func concatenateChannelsNaive(output: UnsafeMutablePointer<Float>, parts: [(pointer: UnsafePointer<Float>, shape: [Int])],
                              layout: TensorLayout) {
    let total = parts.reduce(0) { $0 + $1.shape[1] }
    var outputShape = parts[0].shape
    outputShape[1] = total
    var start = 0
    for part in parts {
        for n in 0..<part.shape[0] {
            for c in 0..<part.shape[1] {
                for h in 0..<part.shape[2] {
                    for w in 0..<part.shape[3] {
                        output[layoutOffset(n, start + c, h, w, shape: outputShape, layout: layout)] =
                            part.pointer[layoutOffset(n, c, h, w, shape: part.shape, layout: layout)]
                    }
                }
            }
        }
        start += part.shape[1]
    }
}

/// The naive twin of `upsampleNearest`: value (n, c, h, w) of the result is input (n, c, h / f, w / f), in `layout`.
func upsampleNearestNaive(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, shape: [Int], factor: Int,
                          layout: TensorLayout) {
    let outputShape = [shape[0], shape[1], shape[2] * factor, shape[3] * factor]
    for n in 0..<shape[0] {
        for c in 0..<shape[1] {
            for h in 0..<outputShape[2] {
                for w in 0..<outputShape[3] {
                    output[layoutOffset(n, c, h, w, shape: outputShape, layout: layout)] =
                        input[layoutOffset(n, c, h / factor, w / factor, shape: shape, layout: layout)]
                }
            }
        }
    }
}
