// The building blocks of a diffusion model's U-Net (Ho et al. 2020; the anchor `UNet` of
// `shared/anchors/torch_models.py`): the sinusoidal embedding of the timestep, a residual block that adds the
// time embedding to its feature map, and a self-attention block over the map's positions.
// GroupNorm uses PyTorch's epsilon 1e-5 here. Every op runs in the layout the convolutions leave.
// Shape legend: maps [N, C, H, W]; time embedding [N, T].

import Foundation

/// The sinusoidal embedding of timesteps, [N, dimension]: `[sin(t f_0), ..., sin(t f_{h-1}), cos(t f_0), ...,
/// cos(t f_{h-1})]` with `h = dimension / 2`, `f_i = exp(-ln(10000) i / h)`, in Float32 as the anchor computes it.
public func sinusoidalTimeEmbedding(_ timesteps: [Int], dimension: Int) -> Tensor {
    guard dimension >= 2, dimension % 2 == 0 else { fatalError("sinusoidal time embedding of odd or tiny dimension \(dimension)") }
    let half = dimension / 2
    let logBase = Float(-Foundation.log(10000.0))
    let frequencies = (0..<half).map { Foundation.exp(logBase * Float($0) / Float(half)) }
    var embedding = Tensor(uninitialized: [timesteps.count, dimension])
    embedding.withUnsafeMutableBufferPointer { values in
        for (row, timestep) in timesteps.enumerated() {
            for (index, frequency) in frequencies.enumerated() {
                let angle = Float(timestep) * frequency
                values[row * dimension + index] = Foundation.sin(angle)
                values[row * dimension + half + index] = Foundation.cos(angle)
            }
        }
    }
    return embedding
}

/// A residual block conditioned on the time embedding:
/// `h = conv1(silu(norm1(x))) + dense(t_emb)` per image and channel, `y = conv2(silu(norm2(h))) + skip(x)`,
/// skip a 1x1 convolution when the channel count changes (else the identity). 3x3 convolutions, `same` padding.
public final class TimeConditionedResidualBlock {
    public let norm1: GroupNormalization
    public let conv1: Conv2D
    public let time: Dense
    public let norm2: GroupNormalization
    public let conv2: Conv2D
    public let skip: Conv2D?

    public init(_ group: ParameterGroup, name: String, inputChannels: Int, outputChannels: Int, timeChannels: Int, groups: Int = 8) {
        norm1 = GroupNormalization(group, name: "\(name).norm1", channels: inputChannels, groups: groups, epsilon: 1e-5)
        conv1 = Conv2D(group, name: "\(name).conv1", inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 3, padding: .same)
        time = Dense(group, name: "\(name).time", inputSize: timeChannels, outputSize: outputChannels)
        norm2 = GroupNormalization(group, name: "\(name).norm2", channels: outputChannels, groups: groups, epsilon: 1e-5)
        conv2 = Conv2D(group, name: "\(name).conv2", inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: 3, padding: .same)
        skip = inputChannels == outputChannels ? nil
            : Conv2D(group, name: "\(name).skip", inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1)
    }

    /// `x` [N, C_in, H, W] and the time embedding [N, T] to [N, C_out, H, W].
    public func callAsFunction(_ x: Variable, timeEmbedding: Variable) -> Variable {
        let h = addPerImageChannelBias(conv1(norm1(x, then: .silu)), time(timeEmbedding))
        return addFeatureMaps(conv2(norm2(h, then: .silu)), skip.map { $0(x) } ?? x)
    }
}

/// Single-head self-attention over the positions of a map, with a residual connection:
/// `q, k, v = conv1x1(norm(x))` (one convolution to 3C channels), `y = x + conv1x1(attention(q, k, v))` with the
/// scale 1/sqrt(C).
public final class AttentionBlock {
    public let norm: GroupNormalization
    public let queryKeyValue: Conv2D
    public let projection: Conv2D
    public let channels: Int

    public init(_ group: ParameterGroup, name: String, channels: Int, groups: Int = 8) {
        norm = GroupNormalization(group, name: "\(name).norm", channels: channels, groups: groups, epsilon: 1e-5)
        queryKeyValue = Conv2D(group, name: "\(name).qkv", inputChannels: channels, outputChannels: 3 * channels, kernelSize: 1)
        projection = Conv2D(group, name: "\(name).projection", inputChannels: channels, outputChannels: channels, kernelSize: 1)
        self.channels = channels
    }

    /// `x` [N, C, H, W] to [N, C, H, W].
    public func callAsFunction(_ x: Variable) -> Variable {
        let projected = queryKeyValue(norm(x))  // [N, 3C, H, W]: query, key, value
        let (q, k, v) = (slice(projected, axis: 1, range: 0..<channels), slice(projected, axis: 1, range: channels..<(2 * channels)),
                         slice(projected, axis: 1, range: (2 * channels)..<(3 * channels)))
        let attended = scaledDotProductAttention(query: q, key: k, value: v, scale: 1 / Float(channels).squareRoot())
        return addFeatureMaps(x, projection(attended))
    }
}
