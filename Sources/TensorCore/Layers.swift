// Layers with Keras defaults (Glorot-uniform kernels, zero biases), so the
// course's architectures read as in Keras. Parameters are registered in a
// group at construction; that order is the flat-buffer order.
// Shape legend: images [N, C, H, W]; vectors [N, F].

/// Activation functions a layer can apply to its output (Keras' `activation=`).
public enum Activation: Sendable, Equatable {
    case linear, relu, sigmoid, tanh, silu, softplus, softmax
    case leakyRelu(Float)

    /// Applies the activation.
    public func callAsFunction(_ x: Variable) -> Variable {
        switch self {
        case .linear: return x
        case .relu: return TensorCore.relu(x)
        case .sigmoid: return TensorCore.sigmoid(x)
        case .tanh: return TensorCore.tanh(x)
        case .silu: return TensorCore.silu(x)
        case .softplus: return TensorCore.softplus(x)
        case .softmax: return TensorCore.softmax(x)
        case .leakyRelu(let slope): return TensorCore.leakyRelu(x, slope: slope)
        }
    }

    /// Runs `operation` with this activation fused in when it is an `OutputDifferentiableFunction` (linear,
    /// ReLU, leaky ReLU, sigmoid, tanh); otherwise runs it linear and applies the activation after.
    /// Each case passes a concrete type, so the fused kernels are specialized.
    func fused<Operation: FusableOperation>(_ operation: Operation) -> Variable {
        switch self {
        case .linear: return operation(IdentityFunction())
        case .relu: return operation(ReLUFunction())
        case .leakyRelu(let slope): return operation(LeakyReLUFunction(slope: slope))
        case .sigmoid: return operation(SigmoidFunction())
        case .tanh: return operation(TanhFunction())
        case .silu, .softplus, .softmax: return self(operation(IdentityFunction()))
        }
    }
}

/// An op that can apply an activation to its output as part of itself.
protocol FusableOperation {
    func callAsFunction<Function: OutputDifferentiableFunction>(_ activation: Function) -> Variable
}

/// Keras `Dense`: `activation(x kernel + bias)`, kernel [in, out].
public final class Dense {
    public let kernel: Parameter
    public let bias: Parameter?
    public let activation: Activation

    public init(_ group: ParameterGroup, name: String, inputSize: Int, outputSize: Int,
                activation: Activation = .linear, useBias: Bool = true) {
        kernel = group.register("\(name).kernel", initial: glorotUniform([inputSize, outputSize], fanIn: inputSize,
                                                                         fanOut: outputSize, generator: &group.initializer))
        bias = useBias ? group.register("\(name).bias", initial: Tensor(zeros: [outputSize])) : nil
        self.activation = activation
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        activation.fused(Operation(x: x, kernel: kernel.variable, bias: bias?.variable))
    }

    /// `x W + b` without the activation (the pre-activation values).
    public func preActivation(_ x: Variable) -> Variable {
        dense(x, kernel: kernel.variable, bias: bias?.variable, activation: IdentityFunction())
    }

    struct Operation: FusableOperation {
        let x: Variable, kernel: Variable, bias: Variable?
        func callAsFunction<Function: OutputDifferentiableFunction>(_ activation: Function) -> Variable {
            dense(x, kernel: kernel, bias: bias, activation: activation)
        }
    }
}

/// Keras `Conv2D` (square kernel): `activation(conv(x) + bias)`, kernel [O, C, K, K].
public final class Conv2D {
    public let kernel: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Padding
    public let activation: Activation

    public init(_ group: ParameterGroup, name: String, inputChannels: Int, outputChannels: Int, kernelSize: Int,
                stride: Int = 1, padding: Padding = .valid, activation: Activation = .linear, useBias: Bool = true) {
        let receptive = kernelSize * kernelSize
        kernel = group.register("\(name).kernel", initial: glorotUniform(
            [outputChannels, inputChannels, kernelSize, kernelSize], fanIn: inputChannels * receptive,
            fanOut: outputChannels * receptive, generator: &group.initializer))
        bias = useBias ? group.register("\(name).bias", initial: Tensor(zeros: [outputChannels])) : nil
        self.stride = stride
        self.padding = padding
        self.activation = activation
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        activation.fused(Operation(x: x, kernel: kernel.variable, bias: bias?.variable, stride: stride, padding: padding))
    }

    struct Operation: FusableOperation {
        let x: Variable, kernel: Variable, bias: Variable?, stride: Int, padding: Padding
        func callAsFunction<Function: OutputDifferentiableFunction>(_ activation: Function) -> Variable {
            conv2d(x, weight: kernel, bias: bias, stride: stride, padding: padding, activation: activation)
        }
    }
}

/// Keras `Conv2DTranspose` (square kernel): `activation(conv^T(x) + bias)`, kernel [C, O, K, K].
public final class Conv2DTranspose {
    public let kernel: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Padding
    public let activation: Activation

    public init(_ group: ParameterGroup, name: String, inputChannels: Int, outputChannels: Int, kernelSize: Int,
                stride: Int = 1, padding: Padding = .valid, activation: Activation = .linear, useBias: Bool = true) {
        let receptive = kernelSize * kernelSize
        kernel = group.register("\(name).kernel", initial: glorotUniform(
            [inputChannels, outputChannels, kernelSize, kernelSize], fanIn: outputChannels * receptive,
            fanOut: inputChannels * receptive, generator: &group.initializer))
        bias = useBias ? group.register("\(name).bias", initial: Tensor(zeros: [outputChannels])) : nil
        self.stride = stride
        self.padding = padding
        self.activation = activation
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        activation.fused(Operation(x: x, kernel: kernel.variable, bias: bias?.variable, stride: stride, padding: padding))
    }

    struct Operation: FusableOperation {
        let x: Variable, kernel: Variable, bias: Variable?, stride: Int, padding: Padding
        func callAsFunction<Function: OutputDifferentiableFunction>(_ activation: Function) -> Variable {
            conv2dTranspose(x, weight: kernel, bias: bias, stride: stride, padding: padding, activation: activation)
        }
    }
}

/// Keras `BatchNormalization` over channels (axis 1), momentum 0.99, epsilon 1e-3.
public final class BatchNormalization {
    public let gamma: Parameter
    public let beta: Parameter
    public let runningMean: Parameter
    public let runningVariance: Parameter
    public let momentum: Float
    public let epsilon: Float

    public init(_ group: ParameterGroup, name: String, channels: Int, momentum: Float = 0.99, epsilon: Float = 1e-3) {
        gamma = group.register("\(name).gamma", initial: Tensor(repeating: 1, shape: [channels]))
        beta = group.register("\(name).beta", initial: Tensor(zeros: [channels]))
        runningMean = group.registerState("\(name).moving_mean", initial: Tensor(zeros: [channels]), agreement: .averagedAtCheckpoints)
        runningVariance = group.registerState("\(name).moving_variance", initial: Tensor(repeating: 1, shape: [channels]), agreement: .averagedAtCheckpoints)
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public func callAsFunction(_ x: Variable, context: ForwardContext) -> Variable {
        batchNorm(x, gamma: gamma.variable, beta: beta.variable, runningMean: runningMean.value,
                  runningVariance: runningVariance.value, training: context.training, momentum: momentum, epsilon: epsilon,
                  synchronizing: context.batchStatistics)
    }
}

/// Keras `GroupNormalization`: `groups` groups over channels, epsilon 1e-3 (PyTorch's `GroupNorm`: 1e-5).
public final class GroupNormalization {
    public let gamma: Parameter
    public let beta: Parameter
    public let groups: Int
    public let epsilon: Float

    public init(_ group: ParameterGroup, name: String, channels: Int, groups: Int, epsilon: Float = 1e-3) {
        gamma = group.register("\(name).gamma", initial: Tensor(repeating: 1, shape: [channels]))
        beta = group.register("\(name).beta", initial: Tensor(zeros: [channels]))
        self.groups = groups
        self.epsilon = epsilon
    }

    /// The normalized `x`, then `activation` in the same pass (`norm(x, then: .silu)` is the U-Net's `silu(GroupNorm(x))`).
    public func callAsFunction(_ x: Variable, then activation: NormalizedActivation = .identity) -> Variable {
        groupNorm(x, gamma: gamma.variable, beta: beta.variable, groups: groups, epsilon: epsilon, activation: activation)
    }
}

/// Keras `Dropout`; each layer draws its masks from its own stream of the counter-based generator.
public final class Dropout {
    public let rate: Float
    public let stream: UInt32

    public init(rate: Float, stream: UInt32) {
        self.rate = rate
        self.stream = stream
    }

    public func callAsFunction(_ x: Variable, context: ForwardContext) -> Variable {
        dropout(x, rate: rate, stream: stream, context: context)
    }
}

/// SAGAN self-attention over the positions of a feature map:
/// `q, k = conv1x1(x) to C/8`, `v = conv1x1(x) to C/2`, `a = softmax(q^T k)` over keys,
/// `o = conv1x1(v a^T) to C`, output `x + gamma * o` with gamma starting at 0.
public final class SelfAttention {
    public let query: Conv2D
    public let key: Conv2D
    public let value: Conv2D
    public let output: Conv2D
    public let gamma: Parameter

    public init(_ group: ParameterGroup, name: String, channels: Int) {
        let reduced = max(channels / 8, 1), half = max(channels / 2, 1)
        query = Conv2D(group, name: "\(name).query", inputChannels: channels, outputChannels: reduced, kernelSize: 1)
        key = Conv2D(group, name: "\(name).key", inputChannels: channels, outputChannels: reduced, kernelSize: 1)
        value = Conv2D(group, name: "\(name).value", inputChannels: channels, outputChannels: half, kernelSize: 1)
        output = Conv2D(group, name: "\(name).output", inputChannels: half, outputChannels: channels, kernelSize: 1)
        gamma = group.register("\(name).gamma", initial: Tensor(zeros: [1]))
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        let (batch, height, width) = (x.shape[0], x.shape[2], x.shape[3])
        let positions = height * width
        let q = reshape(query(x), [batch, -1, positions])            // [N, C/8, P]
        let k = reshape(key(x), [batch, -1, positions])              // [N, C/8, P]
        let v = reshape(value(x), [batch, -1, positions])            // [N, C/2, P]
        let attention = softmax(matmul(q, k, transposeA: true))      // [N, P(query), P(key)]
        let attended = matmul(v, attention, transposeB: true)        // [N, C/2, P(query)]
        let o = output(reshape(attended, [batch, -1, height, width]))
        return x + gamma.variable * o
    }
}
