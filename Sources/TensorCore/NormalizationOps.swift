// Batch normalization and group normalization.
// Shape legend: x [N, C, H, W] (or [N, C] for batch norm); gamma, beta [C].
// Statistics in Double; normalized values saved for the pullback.

/// Per-channel batch normalization. In training, uses the batch's mean and (biased) variance and updates
/// `runningMean`/`runningVariance` in place: `running = momentum * running + (1 - momentum) * batch` (Keras
/// defaults: momentum 0.99, epsilon 1e-3). In inference, uses the running statistics.
///
/// Pullback (training): `dx = gamma / sigma * (dy - mean(dy) - x_hat * mean(dy * x_hat))`.
public func batchNorm(_ x: Variable, gamma: Variable, beta: Variable, runningMean: Tensor, runningVariance: Tensor,
                      training: Bool, momentum: Float = 0.99, epsilon: Float = 1e-3) -> Variable {
    guard x.shape.count == 2 || x.shape.count == 4 else { fatalError("batchNorm of \(x.shape)") }
    let (batch, channels) = (x.shape[0], x.shape[1])
    let plane = x.shape.count == 4 ? x.shape[2] * x.shape[3] : 1
    let reduced = Double(batch * plane)
    var mean = [Float](repeating: 0, count: channels)
    var inverseDeviation = [Float](repeating: 0, count: channels)
    let source = x.value.readPointer
    let runningMeanPointer = runningMean.sharedWritePointer, runningVariancePointer = runningVariance.sharedWritePointer
    for channel in 0..<channels {
        if training {
            var total = 0.0, squares = 0.0
            for image in 0..<batch {
                let values = source + (image * channels + channel) * plane
                for index in 0..<plane { total += Double(values[index]) }
            }
            let average = total / reduced
            for image in 0..<batch {
                let values = source + (image * channels + channel) * plane
                for index in 0..<plane { let d = Double(values[index]) - average; squares += d * d }
            }
            let variance = squares / reduced
            mean[channel] = Float(average)
            inverseDeviation[channel] = Float(1 / (variance + Double(epsilon)).squareRoot())
            runningMeanPointer[channel] = momentum * runningMeanPointer[channel] + (1 - momentum) * Float(average)
            runningVariancePointer[channel] = momentum * runningVariancePointer[channel] + (1 - momentum) * Float(variance)
        } else {
            mean[channel] = runningMeanPointer[channel]
            inverseDeviation[channel] = 1 / (runningVariancePointer[channel] + epsilon).squareRoot()
        }
    }
    let normalized = Tensor(uninitialized: x.shape)
    let output = Tensor(uninitialized: x.shape)
    let scale = gamma.value.readPointer, shift = beta.value.readPointer
    for image in 0..<batch {
        for channel in 0..<channels {
            let base = (image * channels + channel) * plane
            for index in 0..<plane {
                let xHat = (source[base + index] - mean[channel]) * inverseDeviation[channel]
                normalized.sharedWritePointer[base + index] = xHat
                output.sharedWritePointer[base + index] = scale[channel] * xHat + shift[channel]
            }
        }
    }
    return Variable.record(output, inputs: [x, gamma, beta]) { gradient in
        let dy = gradient.readPointer, xHat = normalized.readPointer
        var sumGradient = [Double](repeating: 0, count: channels)
        var sumGradientXHat = [Double](repeating: 0, count: channels)
        for image in 0..<batch {
            for channel in 0..<channels {
                let base = (image * channels + channel) * plane
                for index in 0..<plane {
                    sumGradient[channel] += Double(dy[base + index])
                    sumGradientXHat[channel] += Double(dy[base + index] * xHat[base + index])
                }
            }
        }
        if gamma.requiresGradient { gamma.accumulateGradient { for c in 0..<channels { $0[c] += Float(sumGradientXHat[c]) } } }
        if beta.requiresGradient { beta.accumulateGradient { for c in 0..<channels { $0[c] += Float(sumGradient[c]) } } }
        guard x.requiresGradient else { return }
        x.accumulateGradient { dx in
            for image in 0..<batch {
                for channel in 0..<channels {
                    let base = (image * channels + channel) * plane
                    let factor = scale[channel] * inverseDeviation[channel]
                    let meanGradient = Float(sumGradient[channel] / reduced)
                    let meanGradientXHat = Float(sumGradientXHat[channel] / reduced)
                    for index in 0..<plane {
                        if training {
                            dx[base + index] += factor * (dy[base + index] - meanGradient - xHat[base + index] * meanGradientXHat)
                        } else {
                            dx[base + index] += factor * dy[base + index]
                        }
                    }
                }
            }
        }
    }
}

/// Group normalization: channels split into `groups`; each (image, group) normalized over its channels and
/// positions, then scaled and shifted per channel (`epsilon` 1e-3 as Keras; PyTorch uses 1e-5).
///
/// Pullback per (image, group): `dx = 1/sigma * (d - mean(d) - x_hat * mean(d * x_hat))` with `d = dy * gamma`.
public func groupNorm(_ x: Variable, gamma: Variable, beta: Variable, groups: Int, epsilon: Float = 1e-3) -> Variable {
    guard x.shape.count == 4, x.shape[1] % groups == 0 else { fatalError("groupNorm of \(x.shape) into \(groups) groups") }
    let (batch, channels, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let perGroup = channels / groups
    let groupSize = perGroup * plane
    var inverseDeviation = [Float](repeating: 0, count: batch * groups)
    let normalized = Tensor(uninitialized: x.shape)
    let output = Tensor(uninitialized: x.shape)
    let source = x.value.readPointer, scale = gamma.value.readPointer, shift = beta.value.readPointer
    for group in 0..<(batch * groups) {
        let values = source + group * groupSize
        var total = 0.0
        for index in 0..<groupSize { total += Double(values[index]) }
        let average = total / Double(groupSize)
        var squares = 0.0
        for index in 0..<groupSize { let d = Double(values[index]) - average; squares += d * d }
        let inverse = Float(1 / (squares / Double(groupSize) + Double(epsilon)).squareRoot())
        inverseDeviation[group] = inverse
        let mean = Float(average)
        for index in 0..<groupSize {
            let channel = (group % groups) * perGroup + index / plane
            let xHat = (values[index] - mean) * inverse
            normalized.sharedWritePointer[group * groupSize + index] = xHat
            output.sharedWritePointer[group * groupSize + index] = scale[channel] * xHat + shift[channel]
        }
    }
    return Variable.record(output, inputs: [x, gamma, beta]) { gradient in
        let dy = gradient.readPointer, xHat = normalized.readPointer
        if gamma.requiresGradient || beta.requiresGradient {
            var dGamma = [Float](repeating: 0, count: channels), dBeta = [Float](repeating: 0, count: channels)
            for image in 0..<batch {
                for channel in 0..<channels {
                    let base = (image * channels + channel) * plane
                    for index in 0..<plane {
                        dGamma[channel] += dy[base + index] * xHat[base + index]
                        dBeta[channel] += dy[base + index]
                    }
                }
            }
            if gamma.requiresGradient { gamma.accumulateGradient { for c in 0..<channels { $0[c] += dGamma[c] } } }
            if beta.requiresGradient { beta.accumulateGradient { for c in 0..<channels { $0[c] += dBeta[c] } } }
        }
        guard x.requiresGradient else { return }
        x.accumulateGradient { dx in
            for group in 0..<(batch * groups) {
                let base = group * groupSize
                var meanD = 0.0, meanDXHat = 0.0
                for index in 0..<groupSize {
                    let d = Double(dy[base + index] * scale[(group % groups) * perGroup + index / plane])
                    meanD += d
                    meanDXHat += d * Double(xHat[base + index])
                }
                let a = Float(meanD / Double(groupSize)), b = Float(meanDXHat / Double(groupSize))
                for index in 0..<groupSize {
                    let d = dy[base + index] * scale[(group % groups) * perGroup + index / plane]
                    dx[base + index] += inverseDeviation[group] * (d - a - xHat[base + index] * b)
                }
            }
        }
    }
}
