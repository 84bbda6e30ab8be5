// Flat parameter storage. A parameter group (one model, or one part that steps
// separately, like a GAN's generator) keeps all its parameters in one buffer,
// all their gradients in another, and non-trained state (batch-norm running
// statistics, moving averages) in a third, with the optimizer that steps it.
// A model fitted by statistics in Float64 (a mixture by EM) keeps its fit in a
// fourth, Float64 buffer, which checkpoints hold exactly.
// The order is registration order, which is the order layers are constructed:
// it is the checkpoint layout and the all-reduce order.

/// How a tensor relates across the ranks of a data-parallel run.
public enum RankAgreement: String, Sendable, Equatable {
    /// The same on every rank by construction (parameters, a moving average of weights, spectral-norm
    /// vectors): compared by the replica check, never averaged.
    case replicated
    /// Each rank computes its own from its own batches (batch-norm running statistics with `distributed.batch_norm:
    /// per_rank`): averaged across ranks when a checkpoint is written, not compared. (Synchronised batch statistics
    /// make them the same on every rank; the trainer then writes them as they are.)
    case averagedAtCheckpoints
}

/// One named tensor inside a flat buffer.
public struct ParameterEntry: Sendable, Equatable {
    /// Dotted name, e.g. `encoder.conv1.kernel`.
    public let name: String
    public let shape: [Int]
    /// Position of the first value in the flat buffer.
    public let offset: Int
    /// Parameters are always `.replicated`; state says which it is.
    public let agreement: RankAgreement
    public var count: Int { shape.reduce(1, *) }
}

/// The flat buffers of one parameter group.
public final class ParameterGroup {
    /// The group's name (`model`, `generator`, `discriminator`).
    public let name: String
    /// Trained parameters in registration order.
    public private(set) var entries: [ParameterEntry] = []
    /// Non-trained state (running statistics) in registration order.
    public private(set) var stateEntries: [ParameterEntry] = []
    /// All parameter values, `entries` back to back.
    public private(set) var values = TensorStorage(count: 0)
    /// All gradients, laid out as `values`.
    public private(set) var gradients = TensorStorage(count: 0)
    /// All state values, `stateEntries` back to back.
    public private(set) var state = TensorStorage(count: 0)
    /// Float64 state (a fit by statistics) in registration order; always `.replicated`.
    public private(set) var float64Entries: [ParameterEntry] = []
    /// All Float64 state values, `float64Entries` back to back.
    public internal(set) var float64State: [Double] = []
    /// When false, parameters enter the graph as constants (see `frozen`).
    public private(set) var isTrainable = true
    /// The update rule of the group's parameters (nil for a group fitted otherwise, e.g. by EM).
    public var optimizer: (any Optimizer)?
    /// Generator for initial values, seeded by the model's seed.
    public var initializer: SeededGenerator
    /// Inside `growing`: parameters may be added although the optimizer has state.
    private var isGrowing = false

    public init(name: String, seed: UInt64, optimizer: (any Optimizer)? = nil) {
        self.name = name
        self.optimizer = optimizer
        initializer = SeededGenerator(seed: seed)
    }

    /// Runs `body` with the parameters entering the graph as constants (a GAN's discriminator while its
    /// generator learns through it); trainable again afterwards, however `body` ends.
    public func frozen<Result>(_ body: () throws -> Result) rethrows -> Result {
        let wasTrainable = isTrainable
        isTrainable = false
        defer { isTrainable = wasTrainable }
        return try body()
    }

    /// Number of trained values.
    public var parameterCount: Int { values.count }

    /// Appends a parameter with `initial` values and returns its handle.
    public func register(_ name: String, initial: Tensor) -> Parameter {
        if let optimizer, !optimizer.state.isEmpty, !isGrowing {
            fatalError("group \(self.name): parameter \(name) added after the optimizer stepped; add it inside growing { } so that its state follows")
        }
        let entry = ParameterEntry(name: name, shape: initial.shape, offset: values.count, agreement: .replicated)
        values = Self.grow(values, appending: initial)
        gradients = Self.grow(gradients, appending: Tensor(zeros: initial.shape))
        entries.append(entry)
        return Parameter(group: self, entry: entry, isState: false)
    }

    /// Appends a state tensor (not trained) and returns its handle.
    public func registerState(_ name: String, initial: Tensor, agreement: RankAgreement) -> Parameter {
        let entry = ParameterEntry(name: name, shape: initial.shape, offset: state.count, agreement: agreement)
        state = Self.grow(state, appending: initial)
        stateEntries.append(entry)
        return Parameter(group: self, entry: entry, isState: true)
    }

    /// Appends a Float64 state tensor (a fitted mixture's means, say: the same on every rank, checkpointed exactly)
    /// and returns its handle.
    public func registerFloat64State(_ name: String, shape: [Int], initial: [Double]) -> Float64State {
        let entry = ParameterEntry(name: name, shape: shape, offset: float64State.count, agreement: .replicated)
        precondition(initial.count == entry.count, "group \(self.name): \(initial.count) initial values for \(name) \(shape)")
        float64State += initial
        float64Entries.append(entry)
        return Float64State(group: self, entry: entry)
    }

    /// Replaces all Float64 state (a checkpoint, or rank 0's broadcast).
    public func setFloat64State(_ newValues: [Double]) {
        guard newValues.count == float64State.count else { fatalError("\(name): \(newValues.count) Float64 values for \(float64State.count)") }
        float64State = newValues
    }

    /// Adds parameters to a group that may have trained already (a progressive GAN's layers at a phase boundary):
    /// `addParameters` registers them, after the existing ones (whose offsets stay), and the optimizer's state follows
    /// explicitly: the new parameters start with zero moments, the existing keep theirs (and the optimizer its
    /// iteration count). Registering outside this scope once the optimizer has state stops the process.
    public func growing<Result>(_ addParameters: () throws -> Result) rethrows -> Result {
        let before = parameterCount
        isGrowing = true
        defer { isGrowing = false }
        let result = try addParameters()
        optimizer?.growState(fromParameterCount: before, toParameterCount: parameterCount)
        return result
    }

    private static func grow(_ storage: TensorStorage, appending tensor: Tensor) -> TensorStorage {
        let grown = TensorStorage(count: storage.count + tensor.count, zeroed: false)
        grown.pointer.update(from: storage.pointer, count: storage.count)
        (grown.pointer + storage.count).update(from: tensor.readPointer, count: tensor.count)
        return grown
    }

    /// Sets every gradient to zero.
    public func zeroGradients() { gradients.pointer.update(repeating: 0, count: gradients.count) }

    /// The flat values as an array (for checkpoints and tests).
    public var flatValues: [Float] { Array(UnsafeBufferPointer(start: values.pointer, count: values.count)) }
    /// The flat gradients as an array.
    public var flatGradients: [Float] { Array(UnsafeBufferPointer(start: gradients.pointer, count: gradients.count)) }

    /// Replaces all values (a checkpoint, or rank 0's broadcast).
    public func setFlatValues(_ newValues: [Float]) {
        guard newValues.count == values.count else { fatalError("\(name): \(newValues.count) values for \(values.count) parameters") }
        newValues.withUnsafeBufferPointer { values.pointer.update(from: $0.baseAddress!, count: $0.count) }
    }
}

/// A handle to one parameter (or state tensor) of a group.
public struct Parameter {
    public let group: ParameterGroup
    public let entry: ParameterEntry
    let isState: Bool

    /// The current value, viewing the flat buffer (no copy).
    public var value: Tensor {
        Tensor(viewing: isState ? group.state : group.values, offset: entry.offset, shape: entry.shape)
    }

    /// The accumulated gradient, viewing the flat gradient buffer.
    public var gradient: Tensor { Tensor(viewing: group.gradients, offset: entry.offset, shape: entry.shape) }

    /// The parameter as a graph leaf: its gradient accumulates straight into the flat gradient buffer,
    /// or a constant when the group is frozen.
    public var variable: Variable {
        if isState || !group.isTrainable { return Variable(value) }
        return Variable(value: value, accumulatingInto: gradient)
    }
}

/// A handle to one Float64 state tensor of a group.
public struct Float64State {
    public let group: ParameterGroup
    public let entry: ParameterEntry

    /// The tensor's values (a copy); setting replaces them (the count must match).
    public var values: [Double] {
        get { Array(group.float64State[entry.offset..<(entry.offset + entry.count)]) }
        nonmutating set {
            precondition(newValue.count == entry.count, "\(group.name).\(entry.name): \(newValue.count) values for \(entry.shape)")
            group.float64State.replaceSubrange(entry.offset..<(entry.offset + entry.count), with: newValue)
        }
    }

    /// The first value (a scalar's).
    public var scalar: Double {
        get { group.float64State[entry.offset] }
        nonmutating set { group.float64State[entry.offset] = newValue }
    }

    /// Runs `body` on the tensor's values in place.
    public func withUnsafeMutableBufferPointer<Result>(_ body: (UnsafeMutableBufferPointer<Double>) throws -> Result) rethrows -> Result {
        try group.float64State.withUnsafeMutableBufferPointer { all in
            try body(UnsafeMutableBufferPointer(rebasing: all[entry.offset..<(entry.offset + entry.count)]))
        }
    }
}

/// Keras' Glorot-uniform initializer: U(-l, l) with `l = sqrt(6 / (fanIn + fanOut))`.
public func glorotUniform(_ shape: [Int], fanIn: Int, fanOut: Int, generator: inout SeededGenerator) -> Tensor {
    let limit = (6 / Float(fanIn + fanOut)).squareRoot()
    return generator.uniformTensor(shape, low: -limit, high: limit)
}
