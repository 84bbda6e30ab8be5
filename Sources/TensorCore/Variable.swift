// Reverse-mode automatic differentiation over a tape of `Variable` nodes.
//
// Each differentiable op computes its value with a kernel and records one node
// whose pullback, written beside the forward, *adds* the input gradients
// (so fan-out needs no special case). `backward()` walks the nodes in reverse
// topological order. Under `withoutGradient` (inference) nothing is recorded
// and no gradient is allocated.
//
// Convolutions store their outputs, and take their gradients, in oneDNN's channel-blocked layout, so that a chain
// of convolutions passes blocked tensors without reordering; everything else sees row-major values: `value` and
// `gradient` convert on first use, and a pullback that is not layout-aware receives a row-major gradient.

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
    /// The value as its op stored it (channel-blocked from a convolution), for layout-aware ops.
    let storedValue: Tensor
    /// The row-major copy of a channel-blocked `storedValue`, made on first use of `value`.
    private var standardValue: Tensor?
    /// Whether a gradient flows to this variable.
    public let requiresGradient: Bool
    private var inputs: [Variable]
    private var pullback: ((Tensor) -> Void)?
    /// Whether the pullback takes gradients in any layout (else they are made row-major first).
    private let pullbackIsLayoutAware: Bool
    private var gradientValue: Tensor?
    /// True when the gradient is a view into a flat gradient buffer that is written in place.
    private let gradientIsShared: Bool

    /// A leaf: a constant (`requiresGradient == false`) or a value to differentiate with respect to.
    public init(_ value: Tensor, requiresGradient: Bool = false) {
        storedValue = value
        self.requiresGradient = requiresGradient
        inputs = []
        pullbackIsLayoutAware = false
        gradientIsShared = false
    }

    /// A leaf whose gradient accumulates directly into `gradientView` (a view of a flat gradient buffer).
    public init(value: Tensor, accumulatingInto gradientView: Tensor) {
        guard value.shape == gradientView.shape else { fatalError("gradient view \(gradientView.shape) for value \(value.shape)") }
        storedValue = value.standardized()
        requiresGradient = true
        inputs = []
        gradientValue = gradientView.standardized()
        pullbackIsLayoutAware = false
        gradientIsShared = true
    }

    private init(value: Tensor, inputs: [Variable], layoutAware: Bool, pullback: @escaping (Tensor) -> Void) {
        storedValue = value
        requiresGradient = true
        self.inputs = inputs
        self.pullback = pullback
        pullbackIsLayoutAware = layoutAware
        gradientIsShared = false
    }

    /// The value computed by the forward pass, row-major.
    public var value: Tensor {
        if case .standard = storedValue.layout { return storedValue }
        if let standardValue { return standardValue }
        let converted = storedValue.standardized()
        standardValue = converted
        return converted
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
        self.init(value: value, inputs: inputs, layoutAware: false, pullback: pullback)
    }

    /// Records a layout-aware op's result (see `record`): its value may be channel-blocked, and its pullback
    /// receives the gradient in whatever layout it arrived.
    static func recordLayoutAware(_ value: Tensor, inputs: [Variable], pullback: @escaping (Tensor) -> Void) -> Variable {
        if GradientMode.isRecording && inputs.contains(where: { $0.requiresGradient }) {
            return Variable(value: value, inputs: inputs, layoutAware: true, pullback: pullback)
        }
        return Variable(value)
    }

    /// The shape of the value.
    public var shape: [Int] { storedValue.shape }

    /// The gradient of the last `backward()` with respect to this variable (nil when none reached it), row-major.
    public var gradient: Tensor? { gradientValue?.standardized() }

    /// Adds `gradient` (in any layout) into this variable's gradient (shapes must match).
    public func accumulateGradient(_ gradient: Tensor) {
        guard gradient.shape == shape else {
            fatalError("gradient of shape \(gradient.shape) for a variable of shape \(shape)")
        }
        guard let existing = gradientValue else {
            gradientValue = gradient
            return
        }
        let incoming = gradient.converted(to: existing.layout)
        accumulateGradient(preferring: existing.layout) { destination, _, _ in
            let source = incoming.storagePointer
            for index in 0..<incoming.count { destination[index] += source[index] }
        }
    }

    /// Lets a kernel add into this variable's row-major gradient buffer (zeros when no gradient has arrived yet).
    public func accumulateGradient(_ body: (UnsafeMutablePointer<Float>) -> Void) {
        if let existing = gradientValue, existing.layout != .standard { gradientValue = existing.standardized() }
        accumulateGradient(preferring: .standard) { destination, _, fresh in
            if fresh { destination.initialize(repeating: 0, count: storedValue.count) }
            body(destination)
        }
    }

    /// Lets a layout-aware kernel add into this variable's gradient buffer: `body(buffer, layout, fresh)` gets the
    /// buffer in `layout` when no gradient has arrived yet (then `fresh`: uninitialized, to be overwritten whole),
    /// else in the layout the gradient already has (always row-major for a flat gradient buffer's view).
    func accumulateGradient(preferring layout: TensorLayout,
                            _ body: (UnsafeMutablePointer<Float>, TensorLayout, _ fresh: Bool) -> Void) {
        if gradientIsShared {
            body(gradientValue!.sharedWritePointer, .standard, false)
            return
        }
        let fresh = gradientValue == nil
        if fresh { gradientValue = Tensor(uninitialized: storedValue.shape, layout: layout) }
        let actual = gradientValue!.layout
        gradientValue!.withUnsafeMutableStorage { body($0.baseAddress!, actual, fresh) }
    }

    /// Back-propagates from this scalar: every variable it depends on receives d(self)/d(variable).
    ///
    /// The graph is consumed: pullbacks, intermediate gradients and links to inputs are released as
    /// the pass goes, so the memory of the forward values falls during the backward pass.
    public func backward() {
        guard storedValue.count == 1 else { fatalError("backward() needs a scalar loss, got shape \(shape)") }
        backward(seed: Tensor(repeating: 1, shape: shape))
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
                pullback(node.pullbackIsLayoutAware ? gradient : gradient.standardized())
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
