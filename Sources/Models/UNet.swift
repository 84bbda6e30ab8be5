// The DDPM's noise predictor eps_theta(x_t, t): a U-Net for 28x28 images set by the job file.
//   time: sinusoidal(S) -> Dense(S, E) SiLU Dense(E, E), added in every residual block
//   stem Conv3x3(1 -> c_0)
//   down, level l = 0 ... L-1 at 28 / 2^l: `residual_blocks` ResBlocks (c_{l-1} -> c_l, then c_l -> c_l), each
//     followed by self-attention where the level's size is in `attention`; then, below the last level, the skip and
//     a stride-2 Conv3x3 (c_l -> c_l)
//   up, level l = L-2 ... 0: nearest x2 + Conv3x3(c_{l+1} -> c_l), concatenate the skip, ResBlocks (2 c_l -> c_l,
//     then c_l -> c_l), attention as on the way down
//   out: GroupNorm + SiLU + Conv3x3(c_0 -> 1)
// with c_l = base x multiplier_l. Base 32, multipliers (1, 2, 4), one block per level, attention at 7x7, E = 128,
// S = 32 is the anchor `UNet` of shared/anchors/torch_models.py exactly: its 723,265 parameters, in its order and
// under its module names (temb.0, stem, r0, d0, ..., attn, u1, r3, ..., out_norm, out).
// The stride-2 convolutions pad Keras' `same` way (the extra row after; PyTorch's padding=1 pads both sides): the
// same shapes and weights, windows shifted by one pixel.
// The last convolution of every residual block, every attention projection and the output start at zero (Ho et al.),
// so the untrained network predicts eps = 0.

import TensorCore

/// The shape of the U-Net, as the job file's `model:` keys give it.
public struct UNetConfiguration: Sendable, Equatable {
    public var baseChannels = 32
    /// c_l / base per level; two or three levels (28, 14, 7).
    public var channelMultipliers = [1, 2, 4]
    public var residualBlocks = 1
    /// The map sizes (7, 14, 28) with self-attention after each residual block.
    public var attentionSizes: Set<Int> = [7]
    public var timeEmbedding = 128
    public var sinusoidalDimension = 32
    public var normGroups = 8

    public init() {}

    /// Channels of level `level`.
    func channels(_ level: Int) -> Int { baseChannels * channelMultipliers[level] }
}

/// eps_theta(x_t, t): images [N, 1, 28, 28] and 0-based timesteps to predicted noise [N, 1, 28, 28].
public final class UNet {
    /// One residual block or attention block of a level.
    enum Stage {
        case residual(TimeConditionedResidualBlock)
        case attention(AttentionBlock)
    }

    public let configuration: UNetConfiguration
    let timeHidden: Dense
    let timeOutput: Dense
    let stem: Conv2D
    let down: [[Stage]]
    let downsample: [Conv2D]
    /// Per level below the last, the convolution after upsampling and the stages after the concatenation (last level first).
    let up: [(level: Int, convolution: Conv2D, stages: [Stage])]
    let outputNorm: GroupNormalization
    let output: Conv2D

    public init(_ group: ParameterGroup, _ configuration: UNetConfiguration) {
        let levels = configuration.channelMultipliers.count
        guard (2...3).contains(levels) else { fatalError("a U-Net for 28x28 has 2 or 3 levels, not \(levels)") }
        self.configuration = configuration
        let (embedding, groups) = (configuration.timeEmbedding, configuration.normGroups)
        var residualCount = 0, attentionCount = 0
        func stages(level: Int, inputChannels: Int) -> [Stage] {
            let channels = configuration.channels(level), size = 28 >> level
            var stages: [Stage] = []
            for block in 0..<configuration.residualBlocks {
                stages.append(.residual(TimeConditionedResidualBlock(group, name: "r\(residualCount)", inputChannels: block == 0 ? inputChannels : channels,
                                                                     outputChannels: channels, timeChannels: embedding, groups: groups)))
                residualCount += 1
                if configuration.attentionSizes.contains(size) {
                    stages.append(.attention(AttentionBlock(group, name: attentionCount == 0 ? "attn" : "attn\(attentionCount)", channels: channels,
                                                            groups: groups)))
                    attentionCount += 1
                }
            }
            return stages
        }
        timeHidden = Dense(group, name: "temb.0", inputSize: configuration.sinusoidalDimension, outputSize: embedding, activation: .silu)
        timeOutput = Dense(group, name: "temb.2", inputSize: embedding, outputSize: embedding)
        stem = Conv2D(group, name: "stem", inputChannels: 1, outputChannels: configuration.channels(0), kernelSize: 3, padding: .same)
        var down: [[Stage]] = [], downsample: [Conv2D] = []
        for level in 0..<levels {
            down.append(stages(level: level, inputChannels: configuration.channels(max(level - 1, 0))))
            if level < levels - 1 {
                let channels = configuration.channels(level)
                downsample.append(Conv2D(group, name: "d\(level)", inputChannels: channels, outputChannels: channels, kernelSize: 3, stride: 2,
                                         padding: .same))
            }
        }
        (self.down, self.downsample) = (down, downsample)
        up = (0..<(levels - 1)).reversed().map { level in
            let convolution = Conv2D(group, name: "u\(level)", inputChannels: configuration.channels(level + 1),
                                     outputChannels: configuration.channels(level), kernelSize: 3, padding: .same)
            return (level, convolution, stages(level: level, inputChannels: 2 * configuration.channels(level)))
        }
        outputNorm = GroupNormalization(group, name: "out_norm", channels: configuration.channels(0), groups: groups, epsilon: 1e-5)
        output = Conv2D(group, name: "out", inputChannels: configuration.channels(0), outputChannels: 1, kernelSize: 3, padding: .same)
        for stage in (down + up.map(\.stages)).joined() {
            switch stage {
            case .residual(let block): zero(block.conv2)
            case .attention(let block): zero(block.projection)
            }
        }
        zero(output)
    }

    /// eps_theta for images `x` [N, 1, 28, 28] at 0-based `timesteps` (one per image).
    public func callAsFunction(_ x: Variable, timesteps: [Int]) -> Variable {
        let time = timeOutput(timeHidden(Variable(sinusoidalTimeEmbedding(timesteps, dimension: configuration.sinusoidalDimension))))
        func run(_ stages: [Stage], _ h: Variable) -> Variable {
            stages.reduce(h) { h, stage in
                switch stage {
                case .residual(let block): block(h, timeEmbedding: time)
                case .attention(let block): block(h)
                }
            }
        }
        var h = stem(x), skips: [Variable] = []
        for (level, stages) in down.enumerated() {
            h = run(stages, h)
            if level < downsample.count {
                skips.append(h)
                h = downsample[level](h)
            }
        }
        for (level, convolution, stages) in up {
            h = run(stages, concatenateChannels([convolution(upsampleNearest(h, factor: 2)), skips[level]]))
        }
        return output(outputNorm(h, then: .silu))
    }

    /// Every layer with parameters, in parameter order (export).
    var pytorchLayers: [any PyTorchLayer] {
        func layers(_ stage: Stage) -> [any PyTorchLayer] {
            switch stage {
            case .residual(let block): [block.norm1, block.conv1, block.time, block.norm2, block.conv2] + (block.skip.map { [$0] } ?? [])
            case .attention(let block): [block.norm, block.queryKeyValue, block.projection]
            }
        }
        var all: [any PyTorchLayer] = [timeHidden, timeOutput, stem]
        for (level, stages) in down.enumerated() {
            all += stages.flatMap(layers)
            if level < downsample.count { all.append(downsample[level]) }
        }
        for (_, convolution, stages) in up { all += [convolution] + stages.flatMap(layers) }
        return all + [outputNorm, output]
    }
}

/// Sets a convolution's kernel and bias to zero.
private func zero(_ convolution: Conv2D) {
    for parameter in [convolution.kernel] + (convolution.bias.map { [$0] } ?? []) {
        (parameter.group.values.pointer + parameter.entry.offset).update(repeating: 0, count: parameter.entry.count)
    }
}
