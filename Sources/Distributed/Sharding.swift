// Which samples each rank reads at each step.
//
// Epoch sampling: epoch e is one permutation of the training set drawn from (seed, e); global
// batch p of the epoch is positions [p*B, (p+1)*B) of it; each rank takes its contiguous piece.
// With-replacement sampling (the course's GAN): sample i of step s is drawn uniformly from
// (seed, s, i) by the counter-based generator. Either way the indices depend only on the global
// batch, never on the number of ranks.

import TensorCore

/// The sample schedule of a run.
public struct SampleSchedule: Sendable {
    public enum Mode: String, Sendable { case epoch, withReplacement = "with_replacement" }
    public let mode: Mode
    /// Samples in the training set.
    public let datasetCount: Int
    /// Real samples per optimizer step (global).
    public let perStep: Int
    public let seed: UInt64
    static let stream: UInt32 = 0x4241_5443

    /// Full steps per epoch. Epoch sampling: `datasetCount / perStep`, the remaining samples of each
    /// permutation unused (reported at start-up). With replacement: `datasetCount / globalBatch`, as the
    /// course counts its GAN's epochs.
    public let stepsPerEpoch: Int

    public init(mode: Mode, datasetCount: Int, perStep: Int, globalBatch: Int, seed: UInt64) {
        precondition(perStep > 0 && datasetCount >= perStep, "schedule of \(perStep) per step over \(datasetCount) samples")
        self.mode = mode
        self.datasetCount = datasetCount
        self.perStep = perStep
        self.seed = seed
        stepsPerEpoch = max(1, mode == .epoch ? datasetCount / perStep : datasetCount / max(globalBatch, 1))
    }
    /// Samples each epoch leaves out.
    public var droppedPerEpoch: Int { mode == .epoch ? datasetCount % perStep : 0 }

    /// The permutation of epoch `epoch`.
    public func permutation(epoch: Int) -> [Int] {
        var generator = SeededGenerator(seed: seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1)))
        var order = Array(0..<datasetCount)
        // Fisher-Yates with the seeded generator (its own, so that Swift's shuffle algorithm cannot change it).
        for index in stride(from: datasetCount - 1, to: 0, by: -1) {
            let other = Int(generator.next() % UInt64(index + 1))
            order.swapAt(index, other)
        }
        return order
    }

    /// Dataset indices of global step `step`, positions `positions` of its global batch.
    public func indices(step: Int, positions: Range<Int>, permutation: [Int]?) -> [Int] {
        switch mode {
        case .epoch:
            let order = permutation ?? self.permutation(epoch: step / stepsPerEpoch)
            let base = (step % stepsPerEpoch) * perStep
            return positions.map { order[base + $0] }
        case .withReplacement:
            let random = CounterRandom(seed: seed)
            return positions.map { position in
                let word = random.block(stream: Self.stream, step: UInt64(step), sample: UInt64(position), index: 0)
                return Int((UInt64(word.0) << 32 | UInt64(word.1)) % UInt64(datasetCount))
            }
        }
    }
}
