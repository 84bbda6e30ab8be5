// Batch normalization and group normalization (its kernels: `GroupNormalizationKernels.swift`).
// Shape legend: x [N, C, H, W] (or [N, C] for batch norm); gamma, beta [C].
// Statistics in Double; batch norm saves its normalized values for the pullback, group norm its statistics.

/// Sums values in place across the replicas that share a global batch (every replica calls it at the same point of the
/// same pass, with as many values): synchronised batch normalisation's statistics. The trainer makes it from its
/// communicator; the engine only calls it.
public struct ReplicaSum: @unchecked Sendable {
    let body: (UnsafeMutableBufferPointer<Double>) -> Void

    public init(_ body: @escaping (UnsafeMutableBufferPointer<Double>) -> Void) { self.body = body }

    public func callAsFunction(_ values: inout [Double]) { values.withUnsafeMutableBufferPointer { body($0) } }
}

/// Per-channel batch normalization. In training, uses the batch's mean and (biased) variance and updates
/// `runningMean`/`runningVariance` in place: `running = momentum * running + (1 - momentum) * batch` (Keras
/// defaults: momentum 0.99, epsilon 1e-3). In inference, uses the running statistics.
///
/// With `synchronizing` (training only), the batch is the global one: the channel sums, the centred squares and the
/// pullback's two sums are summed across replicas (three collectives), so N replicas holding pieces of a batch compute
/// what one holding all of it does; the gradients of gamma and beta stay this replica's part (the gradient reducer
/// sums them with the rest).
///
/// Pullback (training): `dx = gamma / sigma * (dy - mean(dy) - x_hat * mean(dy * x_hat))`, means over the (global) batch.
public func batchNorm(_ x: Variable, gamma: Variable, beta: Variable, runningMean: Tensor, runningVariance: Tensor,
                      training: Bool, momentum: Float = 0.99, epsilon: Float = 1e-3, synchronizing replicas: ReplicaSum? = nil) -> Variable {
    guard x.shape.count == 2 || x.shape.count == 4 else { fatalError("batchNorm of \(x.shape)") }
    let (batch, channels) = (x.shape[0], x.shape[1])
    let plane = x.shape.count == 4 ? x.shape[2] * x.shape[3] : 1
    var reduced = Double(batch * plane)
    var mean = [Float](repeating: 0, count: channels)
    var inverseDeviation = [Float](repeating: 0, count: channels)
    let source = x.value.readPointer
    let runningMeanPointer = runningMean.sharedWritePointer, runningVariancePointer = runningVariance.sharedWritePointer
    let replicas = training ? replicas : nil
    if training {
        // [sum per channel, values]: summed across replicas, then the squares about the global mean.
        var totals = [Double](repeating: 0, count: channels + 1)
        totals[channels] = reduced
        for channel in 0..<channels {
            for image in 0..<batch {
                let values = source + (image * channels + channel) * plane
                for index in 0..<plane { totals[channel] += Double(values[index]) }
            }
        }
        replicas?(&totals)
        reduced = totals[channels]
        let averages = totals.prefix(channels).map { $0 / reduced }
        var squares = [Double](repeating: 0, count: channels)
        for channel in 0..<channels {
            for image in 0..<batch {
                let values = source + (image * channels + channel) * plane
                for index in 0..<plane { let d = Double(values[index]) - averages[channel]; squares[channel] += d * d }
            }
        }
        replicas?(&squares)
        for channel in 0..<channels {
            let variance = squares[channel] / reduced
            mean[channel] = Float(averages[channel])
            inverseDeviation[channel] = Float(1 / (variance + Double(epsilon)).squareRoot())
            runningMeanPointer[channel] = momentum * runningMeanPointer[channel] + (1 - momentum) * Float(averages[channel])
            runningVariancePointer[channel] = momentum * runningVariancePointer[channel] + (1 - momentum) * Float(variance)
        }
    } else {
        for channel in 0..<channels {
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
        // [sum of dy per channel, sum of dy * x_hat per channel]
        var sums = [Double](repeating: 0, count: 2 * channels)
        for image in 0..<batch {
            for channel in 0..<channels {
                let base = (image * channels + channel) * plane
                for index in 0..<plane {
                    sums[channel] += Double(dy[base + index])
                    sums[channels + channel] += Double(dy[base + index] * xHat[base + index])
                }
            }
        }
        let local = sums
        if gamma.requiresGradient { gamma.accumulateGradient { for c in 0..<channels { $0[c] += Float(local[channels + c]) } } }
        if beta.requiresGradient { beta.accumulateGradient { for c in 0..<channels { $0[c] += Float(local[c]) } } }
        guard x.requiresGradient else { return }
        replicas?(&sums)
        x.accumulateGradient { dx in
            for image in 0..<batch {
                for channel in 0..<channels {
                    let base = (image * channels + channel) * plane
                    let factor = scale[channel] * inverseDeviation[channel]
                    let meanGradient = Float(sums[channel] / reduced)
                    let meanGradientXHat = Float(sums[channels + channel] / reduced)
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
/// positions, then scaled and shifted per channel, then `activation` (SiLU for the U-Net's `silu(GroupNorm(x))`, one
/// pass). `epsilon` 1e-3 as Keras; PyTorch uses 1e-5. Runs in the layout `x` has (row-major or channel-blocked, as a
/// convolution left it) and leaves its output and its input gradient in that layout (`GroupNormalizationKernels.swift`).
///
/// Pullback per (image, group): `dx = 1/sigma * (d - mean(d) - x_hat * mean(d * x_hat))` with `d = dz * gamma`, dz the
/// gradient before the activation.
public func groupNorm(_ x: Variable, gamma: Variable, beta: Variable, groups: Int, epsilon: Float = 1e-3,
                      activation: NormalizedActivation = .identity) -> Variable {
    guard x.shape.count == 4, x.shape[1] % groups == 0, gamma.shape == [x.shape[1]], beta.shape == [x.shape[1]] else {
        fatalError("groupNorm of \(x.shape) into \(groups) groups with gamma \(gamma.shape) and beta \(beta.shape)")
    }
    let input = x.storedValue
    let shape = GroupNormShape(batch: x.shape[0], channels: x.shape[1], plane: x.shape[2] * x.shape[3], groups: groups, layout: input.layout)
    let output = Tensor(uninitialized: x.shape, layout: input.layout)
    let statistics = Tensor(uninitialized: [2, shape.batch * groups])  // mean, then inverse deviation
    groupNormForward(output: output.storagePointer, mean: statistics.storagePointer,
                     inverseDeviation: statistics.storagePointer + shape.batch * groups, input: input.storagePointer,
                     gamma: gamma.value.readPointer, beta: beta.value.readPointer, shape: shape, epsilon: epsilon, activation: activation)
    return Variable.recordLayoutAware(output, inputs: [x, gamma, beta]) { outputGradient in
        let upstream = outputGradient.converted(to: input.layout)
        let mean = statistics.storagePointer, inverseDeviation = statistics.storagePointer + shape.batch * groups
        func backward(_ inputGradient: UnsafeMutablePointer<Float>?, fresh: Bool, _ gammaGradient: UnsafeMutablePointer<Float>?,
                      _ betaGradient: UnsafeMutablePointer<Float>?) {
            groupNormBackward(inputGradient: inputGradient, gammaGradient: gammaGradient, betaGradient: betaGradient,
                              outputGradient: upstream.storagePointer, input: input.storagePointer, gamma: gamma.value.readPointer,
                              beta: beta.value.readPointer, mean: mean, inverseDeviation: inverseDeviation, shape: shape,
                              activation: activation, inputGradientIsFresh: fresh)
        }
        withParameterGradients(gamma, beta) { gammaGradient, betaGradient in
            guard x.requiresGradient else { return backward(nil, fresh: false, gammaGradient, betaGradient) }
            var handled = false
            x.accumulateGradient(preferring: input.layout) { pointer, layout, fresh in
                guard layout == input.layout else { return }
                backward(pointer, fresh: fresh, gammaGradient, betaGradient)
                handled = true
            }
            guard !handled else { return }
            // A gradient arrived earlier in another layout: compute this one in the input's layout and add it converted.
            let gradient = Tensor(uninitialized: x.shape, layout: input.layout)
            backward(gradient.storagePointer, fresh: true, gammaGradient, betaGradient)
            x.accumulateGradient(gradient)
        }
    }
}

/// Calls `body` with the row-major gradient buffers of the parameters that need one (nil for the others).
func withParameterGradients(_ first: Variable, _ second: Variable,
                            _ body: (UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void) {
    func with(_ variable: Variable, _ next: (UnsafeMutablePointer<Float>?) -> Void) {
        if variable.requiresGradient { variable.accumulateGradient { next($0) } } else { next(nil) }
    }
    with(first) { a in with(second) { b in body(a, b) } }
}
