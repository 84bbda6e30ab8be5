// Group normalization, optionally followed by SiLU (the U-Net's `silu(GroupNorm(x))`), in the layout the convolutions
// pass: row-major or channel-blocked, so that a chain conv -> norm -> conv never reorders.
//
// Shape legend: x, y [N, C, H, W], P = H * W, in a layout of channel block b (1: row-major): value (n, c, p) at
// ((n * C/b + c/b) * P + p) * b + c % b, so each image is contiguous and its channel c's values lie P apart by b.
// G groups of C/G consecutive channels; gamma, beta [C]; mean, inverseDeviation [N, G]. Statistics in Double.
// Forward: x_hat = (x - mean) * inverseDeviation per (image, group), z = gamma x_hat + beta, y = z or silu(z).
// Backward: dz = dy (or dy * silu'(z)); per channel A = sum_p dz x_hat, B = sum_p dz; dgamma += sum_n A, dbeta += sum_n B;
// dx = inverseDeviation * (gamma dz - mean_g(gamma dz) - x_hat mean_g(gamma dz x_hat)).

import Foundation

/// The sizes of one group normalization.
public struct GroupNormShape: Sendable, Equatable {
    public let batch: Int, channels: Int, plane: Int, groups: Int
    /// Channel block of the layout (1 for row-major).
    public let block: Int

    public init(batch: Int, channels: Int, plane: Int, groups: Int, layout: TensorLayout) {
        guard groups > 0, channels % groups == 0 else { fatalError("group normalization of \(channels) channels into \(groups) groups") }
        var block = 1
        if case .channelBlocked(let size) = layout { block = size }
        self.batch = batch
        self.channels = channels
        self.plane = plane
        self.groups = groups
        self.block = block
    }

    var channelsPerGroup: Int { channels / groups }
    var imageCount: Int { channels * plane }
    /// Position of value (channel c, position p) within an image.
    @inline(__always) func offset(channel c: Int, position p: Int) -> Int { ((c / block) * plane + p) * block + c % block }
}

/// What follows the normalization.
public enum NormalizedActivation: Sendable, Equatable {
    case identity, silu

    @inline(__always) func value(_ z: Float) -> Float { self == .silu ? z * sigmoidScalar(z) : z }
    @inline(__always) func derivative(_ z: Float) -> Float {
        guard self == .silu else { return 1 }
        let s = sigmoidScalar(z)
        return s + z * s * (1 - s)
    }
}

/// Adds each channel's sum over positions of `transform(x, channel)` into `sums[c]`, for one image (any block).
@inline(__always)
private func addChannelSums(_ sums: UnsafeMutablePointer<Double>, _ image: UnsafePointer<Float>, _ s: GroupNormShape,
                            _ transform: (Float, Int) -> Double) {
    let b = s.block
    for channelBlock in 0..<(s.channels / b) {
        let values = image + channelBlock * s.plane * b, first = channelBlock * b
        for position in 0..<s.plane {
            for lane in 0..<b { sums[first + lane] += transform(values[position * b + lane], first + lane) }
        }
    }
}

/// `output` = the normalized `input` (then the activation), and each (image, group)'s mean and inverse deviation.
/// Images are shared among the threads; each image's statistics are summed in the same order in every layout.
public func groupNormForward(output: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                             inverseDeviation: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                             gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, shape s: GroupNormShape, epsilon: Float,
                             activation: NormalizedActivation) {
    let (channels, groups, perGroup) = (s.channels, s.groups, s.channelsPerGroup)
    let count = Double(perGroup * s.plane)
    Parallelism.forEachRange(s.batch, minimumPerThread: max(1, (1 << 15) / max(s.imageCount, 1))) { images in
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: channels)
        let laneMean = UnsafeMutablePointer<Double>.allocate(capacity: channels)
        let scale = UnsafeMutablePointer<Float>.allocate(capacity: channels), shift = UnsafeMutablePointer<Float>.allocate(capacity: channels)
        defer { sums.deallocate(); laneMean.deallocate(); scale.deallocate(); shift.deallocate() }
        for n in images {
            let image = input + n * s.imageCount, result = output + n * s.imageCount
            sums.initialize(repeating: 0, count: channels)
            addChannelSums(sums, image, s) { x, _ in Double(x) }
            for group in 0..<groups {
                var total = 0.0
                for c in (group * perGroup)..<((group + 1) * perGroup) { total += sums[c] }
                for c in (group * perGroup)..<((group + 1) * perGroup) { laneMean[c] = total / count }
            }
            sums.initialize(repeating: 0, count: channels)
            addChannelSums(sums, image, s) { x, c in
                let d = Double(x) - laneMean[c]
                return d * d
            }
            for group in 0..<groups {
                var squares = 0.0
                for c in (group * perGroup)..<((group + 1) * perGroup) { squares += sums[c] }
                let inverse = Float(1 / (squares / count + Double(epsilon)).squareRoot())
                let average = Float(laneMean[group * perGroup])
                mean[n * groups + group] = average
                inverseDeviation[n * groups + group] = inverse
                for c in (group * perGroup)..<((group + 1) * perGroup) {
                    scale[c] = gamma[c] * inverse
                    shift[c] = beta[c] - average * scale[c]
                }
            }
            let b = s.block
            for channelBlock in 0..<(channels / b) {
                let values = image + channelBlock * s.plane * b, written = result + channelBlock * s.plane * b, first = channelBlock * b
                for position in 0..<s.plane {
                    for lane in 0..<b {
                        let index = position * b + lane
                        written[index] = activation.value(values[index] * scale[first + lane] + shift[first + lane])
                    }
                }
            }
        }
    }
}

/// Adds the gradients of `groupNormForward`: `gammaGradient`, `betaGradient` (summed over images in image order, the
/// same bits for any number of threads) and `inputGradient` (written instead when `inputGradientIsFresh`), all but
/// the first two in the input's layout. Nil outputs are skipped.
public func groupNormBackward(inputGradient: UnsafeMutablePointer<Float>?, gammaGradient: UnsafeMutablePointer<Float>?,
                              betaGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
                              input: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                              mean: UnsafePointer<Float>, inverseDeviation: UnsafePointer<Float>, shape s: GroupNormShape,
                              activation: NormalizedActivation, inputGradientIsFresh: Bool = false) {
    let (channels, groups, perGroup, b) = (s.channels, s.groups, s.channelsPerGroup, s.block)
    let count = Double(perGroup * s.plane)
    // Per image and channel: sum dz x_hat, then sum dz.
    let perImage = UnsafeMutablePointer<Double>.allocate(capacity: s.batch * 2 * channels)
    defer { perImage.deallocate() }
    Parallelism.forEachRange(s.batch, minimumPerThread: max(1, (1 << 14) / max(s.imageCount, 1))) { images in
        let dz = UnsafeMutablePointer<Float>.allocate(capacity: s.imageCount)  // one image's dz, in its layout
        let coefficients = UnsafeMutablePointer<Float>.allocate(capacity: 2 * channels)
        defer { dz.deallocate(); coefficients.deallocate() }
        for n in images {
            let image = input + n * s.imageCount, upstream = outputGradient + n * s.imageCount
            let sumsXHat = perImage + n * 2 * channels, sums = sumsXHat + channels
            sumsXHat.initialize(repeating: 0, count: 2 * channels)
            for channelBlock in 0..<(channels / b) {
                let base = channelBlock * s.plane * b, first = channelBlock * b
                for position in 0..<s.plane {
                    for lane in 0..<b {
                        let c = first + lane, index = base + position * b + lane, group = n * groups + c / perGroup
                        let xHat = (image[index] - mean[group]) * inverseDeviation[group]
                        let gradient = upstream[index] * activation.derivative(gamma[c] * xHat + beta[c])
                        dz[index] = gradient
                        sumsXHat[c] += Double(gradient) * Double(xHat)
                        sums[c] += Double(gradient)
                    }
                }
            }
            guard let inputGradient else { continue }
            // dx = inverse * (gamma dz - a - x_hat * b') with a, b' the group means of gamma dz and gamma dz x_hat.
            for group in 0..<groups {
                var meanGammaDz = 0.0, meanGammaDzXHat = 0.0
                for c in (group * perGroup)..<((group + 1) * perGroup) {
                    meanGammaDz += Double(gamma[c]) * sums[c]
                    meanGammaDzXHat += Double(gamma[c]) * sumsXHat[c]
                }
                coefficients[2 * group] = Float(meanGammaDz / count)
                coefficients[2 * group + 1] = Float(meanGammaDzXHat / count)
            }
            let written = inputGradient + n * s.imageCount
            for channelBlock in 0..<(channels / b) {
                let base = channelBlock * s.plane * b, first = channelBlock * b
                for position in 0..<s.plane {
                    for lane in 0..<b {
                        let c = first + lane, index = base + position * b + lane, group = c / perGroup
                        let inverse = inverseDeviation[n * groups + group]
                        let xHat = (image[index] - mean[n * groups + group]) * inverse
                        let value = inverse * (gamma[c] * dz[index] - coefficients[2 * group] - xHat * coefficients[2 * group + 1])
                        written[index] = inputGradientIsFresh ? value : written[index] + value
                    }
                }
            }
        }
    }
    for n in 0..<s.batch {
        let sumsXHat = perImage + n * 2 * channels, sums = sumsXHat + channels
        if let gammaGradient { for c in 0..<channels { gammaGradient[c] += Float(sumsXHat[c]) } }
        if let betaGradient { for c in 0..<channels { betaGradient[c] += Float(sums[c]) } }
    }
}

// MARK: - Naive twins

/// The naive twin of `groupNormForward`: each (image, group) by index arithmetic in Double.
func groupNormForwardNaive(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                           beta: UnsafePointer<Float>, shape s: GroupNormShape, epsilon: Float, activation: NormalizedActivation) {
    for n in 0..<s.batch {
        for group in 0..<s.groups {
            let channels = (group * s.channelsPerGroup)..<((group + 1) * s.channelsPerGroup)
            let indices = channels.flatMap { c in (0..<s.plane).map { n * s.imageCount + s.offset(channel: c, position: $0) } }
            let average = indices.reduce(0.0) { $0 + Double(input[$1]) } / Double(indices.count)
            let variance = indices.reduce(0.0) { $0 + (Double(input[$1]) - average) * (Double(input[$1]) - average) } / Double(indices.count)
            for c in channels {
                for p in 0..<s.plane {
                    let index = n * s.imageCount + s.offset(channel: c, position: p)
                    let z = Double(gamma[c]) * (Double(input[index]) - average) / (variance + Double(epsilon)).squareRoot() + Double(beta[c])
                    output[index] = activation == .silu ? Float(z / (1 + Foundation.exp(-z))) : Float(z)
                }
            }
        }
    }
}
