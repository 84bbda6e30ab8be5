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

/// Adam as Keras implements it (defaults: learning rate 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7):
/// `m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`, `p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`.
/// State: `[m..., v...]`.
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public var iterations = 0
    private var moments: [Float] = []

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
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
        let alpha = Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        let (oneMinusBeta1, oneMinusBeta2, epsilon) = (1 - beta1, 1 - beta2, epsilon)
        let values = group.values.pointer, gradients = group.gradients.pointer
        moments.withUnsafeMutableBufferPointer { buffer in
            let m = buffer.baseAddress!, v = buffer.baseAddress! + count
            for index in 0..<count {
                let g = gradients[index]
                m[index] += (g - m[index]) * oneMinusBeta1
                v[index] += (g * g - v[index]) * oneMinusBeta2
                values[index] -= alpha * m[index] / (v[index].squareRoot() + epsilon)
            }
        }
    }
}

/// Stochastic gradient descent with optional (Nesterov) momentum, as Keras: `v = momentum v - lr g`,
/// `p += v` (Nesterov: `p += momentum v - lr g`). State: `[velocity...]`.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public var iterations = 0
    private var velocity: [Float] = []

    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
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
        if momentum == 0 {
            for index in 0..<count { values[index] -= learningRate * gradients[index] }
            return
        }
        velocity = preparedState(velocity, parameterCount: count, group: group.name)
        velocity.withUnsafeMutableBufferPointer { v in
            for index in 0..<count {
                v[index] = momentum * v[index] - learningRate * gradients[index]
                values[index] += nesterov ? momentum * v[index] - learningRate * gradients[index] : v[index]
            }
        }
    }
}
