// An exponential moving average of a parameter group's weights (DDPM samples with it), kept as replicated state.
// State layout: one tensor `<prefix>.<name>` per parameter, in parameter order, after any state registered before.

/// `average <- d_t average + (1 - d_t) w` after each update, with `d_t = min(decay, (1 + t) / (10 + t))` at update t
/// (1 for the first; TensorFlow's `ExponentialMovingAverage` with `num_updates`), so that an average of a short run
/// is not dominated by the initial weights. The average is state registered as `.replicated`: every rank updates it
/// from the same weights, the replica check compares it, and checkpoints hold it bitwise.
public final class WeightAverage {
    public let group: ParameterGroup
    /// The decay the schedule rises to.
    public let decay: Double
    /// `<prefix>.<name>` for each parameter of `group`, in parameter order.
    public let averages: [Parameter]

    /// Registers the average of every parameter `group` has so far (call it after the last layer), starting at the weights.
    public init(_ group: ParameterGroup, decay: Double, prefix: String = "ema") {
        guard decay >= 0, decay <= 1 else { fatalError("WeightAverage: decay \(decay) outside [0, 1]") }
        self.group = group
        self.decay = decay
        averages = group.entries.map { entry in
            group.registerState("\(prefix).\(entry.name)", initial: Tensor(viewing: group.values, offset: entry.offset, shape: entry.shape),
                                agreement: .replicated)
        }
    }

    /// The decay of update `iteration` (1 for the first).
    public func decay(iteration: Int) -> Float {
        Float(min(decay, (1 + Double(iteration)) / (10 + Double(iteration))))
    }

    /// Moves the average towards the current weights, after the optimizer's update number `iteration`.
    public func update(iteration: Int) {
        let keep = decay(iteration: iteration), take = 1 - keep
        for (entry, average) in zip(group.entries, averages) {
            let weights = group.values.pointer + entry.offset, values = group.state.pointer + average.entry.offset
            for index in 0..<entry.count { values[index] = keep * values[index] + take * weights[index] }
        }
    }

    /// Runs `body` with the averaged weights in place of the weights (for sampling), the weights swapped back afterwards
    /// bitwise, however `body` ends. Not for use inside a training step.
    public func withAveragedWeights<Result>(_ body: () throws -> Result) rethrows -> Result {
        swap()
        defer { swap() }
        return try body()
    }

    private func swap() {
        for (entry, average) in zip(group.entries, averages) {
            let weights = group.values.pointer + entry.offset, values = group.state.pointer + average.entry.offset
            for index in 0..<entry.count { (weights[index], values[index]) = (values[index], weights[index]) }
        }
    }
}

extension WeightAverage: PyTorchLayer {
    /// Each average under its parameter's PyTorch name behind the prefix (`ema.r0.c1.weight`): kernels and biases as
    /// their layers export them, where a two-dimensional parameter is a `Dense` kernel (transposed to [out, in]) and
    /// GroupNorm's gamma and beta are `weight` and `bias`.
    public func pytorchTensors(_ export: PyTorchExport) -> [NamedArray] {
        let renamed = ["kernel": "weight", "gamma": "weight", "beta": "bias", "bias": "bias"]
        return averages.map { average in
            guard let last = average.entry.name.split(separator: ".").last, let name = renamed[String(last)] else {
                fatalError("WeightAverage: \(average.entry.name) has no PyTorch name")
            }
            let value = average.value
            return NamedArray(name: export.name(of: average, as: name), tensor: value.shape.count == 2 ? value.permuted([1, 0]) : value)
        }
    }
}
