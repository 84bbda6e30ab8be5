// Dropout (masks from the counter-based generator) and embedding lookup.

/// Where in the run a forward pass happens: the randomness of dropout and noise is keyed by it, so a sample
/// gets the same mask on any number of ranks and after a resume.
public struct ForwardContext: Sendable {
    /// Training (dropout active, batch statistics) or inference.
    public var training: Bool
    /// The run's counter-based generator.
    public var random: CounterRandom
    /// The optimizer step this pass belongs to.
    public var step: UInt64
    /// Global index (within the global batch) of this rank's first sample.
    public var firstSample: Int
    /// Set when batch statistics span the replicas (synchronised batch normalisation); nil: this replica's samples alone.
    public var batchStatistics: ReplicaSum?

    public init(training: Bool, random: CounterRandom = CounterRandom(seed: 0), step: UInt64 = 0, firstSample: Int = 0) {
        self.training = training
        self.random = random
        self.step = step
        self.firstSample = firstSample
    }

    /// Inference: no dropout, running statistics.
    public static let inference = ForwardContext(training: false)
}

/// Inverted dropout: each value is zeroed with probability `rate` and the rest scaled by `1 / (1 - rate)`.
/// The mask of sample `i` of the batch is drawn for global sample `context.firstSample + i` on `stream`.
/// Identity in inference. Pullback: the gradient through the same mask.
public func dropout(_ x: Variable, rate: Float, stream: UInt32, context: ForwardContext) -> Variable {
    guard context.training, rate > 0 else { return x }
    guard rate < 1 else { fatalError("dropout rate \(rate) must be below 1") }
    let perSample = x.value.count / max(x.shape[0], 1)
    let uniforms = context.random.uniformTensor(stream: stream, step: context.step,
                                                samples: context.firstSample..<(context.firstSample + x.shape[0]), shape: [perSample])
    let keep = 1 - rate, scale = 1 / (1 - rate)
    let mask = uniforms.map { $0 < keep ? scale : 0 }.reshaped(x.shape)
    return x * Variable(mask)
}

/// Rows of `table` [V, D] picked by `indices`: output [indices.count, D]. Pullback: scatter-add into the rows.
public func embedding(_ table: Variable, indices: [Int]) -> Variable {
    guard table.shape.count == 2 else { fatalError("embedding table must be [V, D], got \(table.shape)") }
    let (rows, width) = (table.shape[0], table.shape[1])
    let output = Tensor(uninitialized: [indices.count, width])
    for (position, index) in indices.enumerated() {
        guard index >= 0, index < rows else { fatalError("embedding index \(index) outside 0..<\(rows)") }
        (output.sharedWritePointer + position * width).update(from: table.value.readPointer + index * width, count: width)
    }
    return Variable.record(output, inputs: [table]) { gradient in
        let upstream = gradient.readPointer
        table.accumulateGradient { destination in
            for (position, index) in indices.enumerated() {
                for column in 0..<width { destination[index * width + column] += upstream[position * width + column] }
            }
        }
    }
}
