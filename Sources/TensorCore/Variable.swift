// Reverse-mode automatic differentiation over a tape of `Variable` nodes.
//
// Each differentiable op computes its value with a kernel and records one node
// whose pullback, written beside the forward, *adds* the input gradients
// (so fan-out needs no special case). `backward()` walks the nodes in reverse
// topological order. Under `withoutGradient` (inference) nothing is recorded
// and no gradient is allocated.

/// Whether ops record themselves for differentiation (task-local, so no global state).
public enum GradientMode {
    @TaskLocal public static var isRecording = true
}

/// Runs `body` in inference mode: ops record nothing and allocate no gradients.
public func withoutGradient<R>(_ body: () throws -> R) rethrows -> R {
    try GradientMode.$isRecording.withValue(false, operation: body)
}

/// A tensor in the computation graph, with its gradient once `backward()` has run.
public final class Variable {
    /// The value computed by the forward pass.
    public let value: Tensor
    /// Whether a gradient flows to this variable.
    public let requiresGradient: Bool
    private var inputs: [Variable]
    private var pullback: ((Tensor) -> Void)?
    private var gradientValue: Tensor?
    /// True when the gradient is a view into a flat gradient buffer that is written in place.
    private let gradientIsShared: Bool

    /// A leaf: a constant (`requiresGradient == false`) or a value to differentiate with respect to.
    public init(_ value: Tensor, requiresGradient: Bool = false) {
        self.value = value
        self.requiresGradient = requiresGradient
        inputs = []
        gradientIsShared = false
    }

    /// A leaf whose gradient accumulates directly into `gradientView` (a view of a flat gradient buffer).
    public init(value: Tensor, accumulatingInto gradientView: Tensor) {
        guard value.shape == gradientView.shape else { fatalError("gradient view \(gradientView.shape) for value \(value.shape)") }
        self.value = value
        requiresGradient = true
        inputs = []
        gradientValue = gradientView
        gradientIsShared = true
    }

    private init(value: Tensor, inputs: [Variable], pullback: @escaping (Tensor) -> Void) {
        self.value = value
        requiresGradient = true
        self.inputs = inputs
        self.pullback = pullback
        gradientIsShared = false
    }

    /// Records an op's result: a graph node when recording and some input needs a gradient, else a constant.
    ///
    /// `pullback` receives the gradient of the result and must add into the inputs' gradients
    /// (through `accumulateGradient`), skipping inputs whose `requiresGradient` is false.
    @inlinable
    public static func record(_ value: Tensor, inputs: [Variable], pullback: @escaping (Tensor) -> Void) -> Variable {
        if GradientMode.isRecording && inputs.contains(where: { $0.requiresGradient }) {
            return Variable(recorded: value, inputs: inputs, pullback: pullback)
        }
        return Variable(value)
    }

    @usableFromInline
    convenience init(recorded value: Tensor, inputs: [Variable], pullback: @escaping (Tensor) -> Void) {
        self.init(value: value, inputs: inputs, pullback: pullback)
    }

    /// The shape of the value.
    public var shape: [Int] { value.shape }

    /// The gradient of the last `backward()` with respect to this variable (nil when none reached it).
    public var gradient: Tensor? { gradientValue }

    /// Adds `gradient` into this variable's gradient (shapes must match).
    public func accumulateGradient(_ gradient: Tensor) {
        guard gradient.shape == value.shape else {
            fatalError("gradient of shape \(gradient.shape) for a variable of shape \(value.shape)")
        }
        if gradientValue == nil {
            gradientValue = gradient
            return
        }
        accumulateGradient { destination in
            gradient.withUnsafeBufferPointer { source in
                for index in 0..<source.count { destination[index] += source[index] }
            }
        }
    }

    /// Lets a kernel add into this variable's gradient buffer (zeros when no gradient has arrived yet).
    public func accumulateGradient(_ body: (UnsafeMutablePointer<Float>) -> Void) {
        if gradientIsShared {
            body(gradientValue!.sharedWritePointer)
            return
        }
        if gradientValue == nil { gradientValue = Tensor(zeros: value.shape) }
        gradientValue!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }

    /// Back-propagates from this scalar: every variable it depends on receives d(self)/d(variable).
    ///
    /// The graph is consumed: pullbacks, intermediate gradients and links to inputs are released as
    /// the pass goes, so the memory of the forward values falls during the backward pass.
    public func backward() {
        guard value.count == 1 else { fatalError("backward() needs a scalar loss, got shape \(value.shape)") }
        backward(seed: Tensor(repeating: 1, shape: value.shape))
    }

    /// Back-propagates a given output gradient (a vector-Jacobian product).
    public func backward(seed: Tensor) {
        guard requiresGradient else { return }
        accumulateGradient(seed)
        var order: [Variable?] = topologicalOrder()
        for position in order.indices.reversed() {
            guard let node = order[position] else { continue }
            order[position] = nil
            guard let pullback = node.pullback else { continue }
            node.pullback = nil
            if let gradient = node.gradientValue {
                node.gradientValue = nil
                pullback(gradient)
            }
            // Every consumer of this node has run: release the inputs so that values nobody else
            // holds are freed during the backward pass rather than after it.
            node.inputs = []
        }
    }

    private func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded {
                order.append(node)
                continue
            }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for input in node.inputs where input.requiresGradient && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        return order
    }
}

/// Counts the floating-point operations of matrix products and convolutions (forward and backward),
/// as PyTorch's flop counter does. Installed for a task with `FlopCounter.$current.withValue`.
public final class FlopCounter: @unchecked Sendable {
    @TaskLocal public static var current: FlopCounter?
    /// Operations counted so far.
    public private(set) var operations: Double = 0
    public init() {}
    /// Adds `count` operations to the current counter, if any.
    @inlinable
    public static func add(_ count: Double) { current?.record(count) }
    @usableFromInline func record(_ count: Double) { operations += count }
}
