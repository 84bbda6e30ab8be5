// Differentiable attention over the positions of feature maps (its kernels: `AttentionKernels.swift`).
// Shape legend: query [N, D, positions...], key [N, D, keys...], value [N, E, keys...]; output [N, E, positions...]
// (positions flattened: a map [N, C, H, W] attends over its H * W positions).

/// Attention of every query position over the key positions, channels first:
/// `output[:, i] = sum_j softmax_j(scale * query[:, i] . key[:, j]) value[:, j]`.
///
/// `scale` 1/sqrt(D) is the transformer's and the DDPM U-Net's; SAGAN's self-attention uses 1. Query and key
/// share their channel count D; value's E may differ (SAGAN: D = C/8, E = C/2). Self-attention passes three
/// projections of one map. The softmax weights [N, positions, keys] are kept for the pullback:
/// `dV += dO A`, `dS = scale * A * (dO^T V - rowsum(A * dO^T V))`, `dQ += K dS^T`, `dK += Q dS`.
public func scaledDotProductAttention(query: Variable, key: Variable, value: Variable, scale: Float) -> Variable {
    let (queryShape, keyShape, valueShape) = (query.shape, key.shape, value.shape)
    guard queryShape.count >= 3, keyShape.count >= 3, valueShape.count == keyShape.count, queryShape[0] == keyShape[0],
          keyShape[0] == valueShape[0], queryShape[1] == keyShape[1], Array(keyShape[2...]) == Array(valueShape[2...]) else {
        fatalError("attention of query \(queryShape), key \(keyShape), value \(valueShape) (expected [N, D, P...], [N, D, K...], [N, E, K...])")
    }
    let shape = AttentionShape(batch: queryShape[0], queryChannels: queryShape[1], valueChannels: valueShape[1],
                               queryPositions: queryShape[2...].reduce(1, *), keyPositions: keyShape[2...].reduce(1, *), scale: scale)
    let (q, k, v) = (query.value, key.value, value.value)
    let output = Tensor(uninitialized: [shape.batch, shape.valueChannels] + Array(queryShape[2...]))
    let weights = Tensor(uninitialized: [shape.batch, shape.queryPositions, shape.keyPositions])
    attentionForward(output: output.sharedWritePointer, weights: weights.sharedWritePointer, query: q.readPointer,
                     key: k.readPointer, value: v.readPointer, shape: shape)
    let products = Double(shape.batch * shape.weightCount * (shape.queryChannels + shape.valueChannels))
    FlopCounter.add(2 * products)
    return Variable.record(output, inputs: [query, key, value]) { gradient in
        func with(_ variable: Variable, _ next: (UnsafeMutablePointer<Float>?) -> Void) {
            if variable.requiresGradient { variable.accumulateGradient { next($0) } } else { next(nil) }
        }
        with(query) { queryGradient in
            with(key) { keyGradient in
                with(value) { valueGradient in
                    attentionBackward(queryGradient: queryGradient, keyGradient: keyGradient, valueGradient: valueGradient,
                                      outputGradient: gradient.readPointer, weights: weights.readPointer, query: q.readPointer,
                                      key: k.readPointer, value: v.readPointer, shape: shape)
                }
            }
        }
        FlopCounter.add(2 * products * 2)
    }
}
