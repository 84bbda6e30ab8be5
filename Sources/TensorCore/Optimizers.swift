// Optimizers over a group's flat buffers: one loop over all parameters.
// State layout (checkpointed as one buffer): Adam [m (count), v (count)];
// SGD [velocity (count)] (empty without momentum).

import Foundation

/// An update rule over one parameter group's flat value and gradient buffers.
public protocol Optimizer: AnyObject {
    /// Applies one update from the group's current gradients.
    func step(_ group: ParameterGroup)
    /// The step size (a schedule may change it between steps).
    var learningRate: Float { get set }
    /// The warm-up and clipping of each update.
    var shaping: GradientStepShaping { get }
    /// Steps taken so far.
    var iterations: Int { get set }
    /// The optimizer's state as one flat buffer (see the layout note of each optimizer); empty before the first step.
    var state: [Float] { get set }
    /// The length of `state` once it steps a group of `parameterCount` parameters.
    func stateCount(parameterCount: Int) -> Int
    /// Follows its group's growth from `oldCount` to `newCount` parameters (new ones appended after the old, see
    /// `ParameterGroup.growing`): the new parameters get zero state, the old keep theirs. The default serves any state
    /// laid out as blocks of one value per parameter (Adam's `[m, v]`, SGD's `[velocity]`).
    func growState(fromParameterCount oldCount: Int, toParameterCount newCount: Int)
}

extension Optimizer {
    public func growState(fromParameterCount oldCount: Int, toParameterCount newCount: Int) {
        // Before the first step the state is empty and is prepared at that step.
        guard !state.isEmpty, newCount != oldCount else { return }
        let blocks = stateCount(parameterCount: 1)
        guard newCount > oldCount, state.count == stateCount(parameterCount: oldCount), state.count == blocks * oldCount else {
            fatalError("\(type(of: self)): cannot grow a state of \(state.count) values from \(oldCount) to \(newCount) parameters")
        }
        var grown: [Float] = []
        grown.reserveCapacity(blocks * newCount)
        for block in 0..<blocks {
            grown += state[(block * oldCount)..<((block + 1) * oldCount)]
            grown += repeatElement(0, count: newCount - oldCount)
        }
        state = grown
    }
}

extension Optimizer {
    /// The step size of the last update, its warm-up factor applied (of the first update before any).
    public var appliedLearningRate: Float { learningRate * shaping.learningRateFactor(iteration: max(iterations, 1)) }

    /// The state for a group of `count` parameters: zeros before the first step; a state of another length is a
    /// programmer error (a group's layout changed without its optimizer state following: growth goes through
    /// `ParameterGroup.growing`, which calls `growState`).
    func preparedState(_ state: [Float], parameterCount count: Int, group: String) -> [Float] {
        let expected = stateCount(parameterCount: count)
        if state.count == expected { return state }
        guard state.isEmpty else {
            fatalError("\(type(of: self)) of group \(group): state of \(state.count) values for \(count) parameters (expected \(expected))")
        }
        return [Float](repeating: 0, count: expected)
    }
}

/// What shapes each update besides the rule itself: a linear warm-up of the learning rate, and clipping by the global
/// norm of the group's gradients. The gradients are the sums across ranks, identical on every rank, so every rank
/// clips alike.
public struct GradientStepShaping: Sendable, Equatable {
    /// Update t (1 for the first) of the first `warmupSteps` uses `learningRate * t / warmupSteps`; 0: no warm-up.
    public var warmupSteps: Int
    /// Gradients whose global norm exceeds this are scaled by `globalClipNorm / (norm + 1e-6)` (PyTorch's
    /// `clip_grad_norm_`); 0: no clipping.
    public var globalClipNorm: Float

    public init(warmupSteps: Int = 0, globalClipNorm: Float = 0) {
        self.warmupSteps = warmupSteps
        self.globalClipNorm = globalClipNorm
    }

    /// Neither warm-up nor clipping.
    public static let none = GradientStepShaping()

    /// The factor of the learning rate at update `iteration` (1 for the first).
    public func learningRateFactor(iteration: Int) -> Float {
        warmupSteps > 0 && iteration < warmupSteps ? Float(Double(iteration) / Double(warmupSteps)) : 1
    }

    /// The factor of the gradients `gradients[0..<count]`: `min(1, globalClipNorm / (norm + 1e-6))`, the norm summed in
    /// Double in index order (the same bits on every rank that holds the same gradients).
    public func gradientFactor(_ gradients: UnsafePointer<Float>, count: Int) -> Float {
        guard globalClipNorm > 0 else { return 1 }
        let norm = globalNorm(gradients, count: count)
        return norm > Double(globalClipNorm) ? Float(Double(globalClipNorm) / (norm + 1e-6)) : 1
    }
}

/// The Euclidean norm of `values[0..<count]`, summed in Double in index order.
public func globalNorm(_ values: UnsafePointer<Float>, count: Int) -> Double {
    var total = 0.0
    for index in 0..<count { total += Double(values[index]) * Double(values[index]) }
    return total.squareRoot()
}

/// Adam as Keras implements it (defaults: learning rate 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7):
/// `m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`, `p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`.
/// With `shaping`, g is first scaled by its clipping factor and lr by its warm-up factor. State: `[m..., v...]`.
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let shaping: GradientStepShaping
    public var iterations = 0
    private var moments: [Float] = []

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7,
                shaping: GradientStepShaping = .none) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.shaping = shaping
    }

    public var state: [Float] {
        get { moments }
        set { moments = newValue }
    }

    public func stateCount(parameterCount: Int) -> Int { 2 * parameterCount }

    public func step(_ group: ParameterGroup) {
        let count = group.parameterCount
        moments = preparedState(moments, parameterCount: count, group: group.name)
        iterations += 1
        let t = Double(iterations)
        let rate = Double(learningRate * shaping.learningRateFactor(iteration: iterations))
        let alpha = Float(rate * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        let (oneMinusBeta1, oneMinusBeta2, epsilon) = (1 - beta1, 1 - beta2, epsilon)
        let values = group.values.pointer, gradients = group.gradients.pointer
        let clipping = shaping.gradientFactor(gradients, count: count)
        moments.withUnsafeMutableBufferPointer { buffer in
            let m = buffer.baseAddress!, v = buffer.baseAddress! + count
            for index in 0..<count {
                let g = gradients[index] * clipping  // exact when clipping is 1
                m[index] += (g - m[index]) * oneMinusBeta1
                v[index] += (g * g - v[index]) * oneMinusBeta2
                values[index] -= alpha * m[index] / (v[index].squareRoot() + epsilon)
            }
        }
    }
}

/// Stochastic gradient descent with optional (Nesterov) momentum, as Keras: `v = momentum v - lr g`,
/// `p += v` (Nesterov: `p += momentum v - lr g`), g and lr shaped by `shaping` as Adam's. State: `[velocity...]`.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let shaping: GradientStepShaping
    public var iterations = 0
    private var velocity: [Float] = []

    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false, shaping: GradientStepShaping = .none) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.shaping = shaping
    }

    public var state: [Float] {
        get { velocity }
        set { velocity = newValue }
    }

    public func stateCount(parameterCount: Int) -> Int { momentum == 0 ? 0 : parameterCount }

    public func step(_ group: ParameterGroup) {
        let count = group.parameterCount
        iterations += 1
        let values = group.values.pointer, gradients = group.gradients.pointer
        let learningRate = learningRate * shaping.learningRateFactor(iteration: iterations)
        let clipping = shaping.gradientFactor(gradients, count: count)
        if momentum == 0 {
            for index in 0..<count { values[index] -= learningRate * (gradients[index] * clipping) }
            return
        }
        velocity = preparedState(velocity, parameterCount: count, group: group.name)
        let (momentum, nesterov) = (momentum, nesterov)
        velocity.withUnsafeMutableBufferPointer { v in
            for index in 0..<count {
                let g = gradients[index] * clipping
                v[index] = momentum * v[index] - learningRate * g
                values[index] += nesterov ? momentum * v[index] - learningRate * g : v[index]
            }
        }
    }
}
