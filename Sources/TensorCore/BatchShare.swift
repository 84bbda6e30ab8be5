// How a data-parallel run splits samples among ranks: every rank takes a contiguous piece of each
// global batch (and of every sharded evaluation), as even as possible, in rank order.

/// This rank's piece of `total` global samples.
public struct BatchShare: Sendable, Equatable {
    /// Global indices of this rank's samples.
    public let samples: Range<Int>
    /// Samples across all ranks.
    public let total: Int

    /// Rank `rank`'s piece of `total` samples split over `worldSize` ranks (128 on 3 ranks: 43, 43, 42).
    public init(of total: Int, rank: Int, worldSize: Int) {
        let base = total / worldSize, extra = total % worldSize
        let start = rank * base + min(rank, extra)
        samples = start..<(start + base + (rank < extra ? 1 : 0))
        self.total = total
    }

    public var count: Int { samples.count }

    /// `n_rank / total`: turns a mean over this rank's samples into its part of the global mean.
    public var meanWeight: Float { Float(count) / Float(total) }

    /// `1 / total`: turns a sum over this rank's samples into its part of the global mean.
    public var sumWeight: Float { 1 / Float(total) }
}

/// A contiguous piece of a rank's share that one forward and backward pass takes when a step accumulates gradients
/// over several passes (`train.accumulate`): the weights stay those of the whole global batch, so the pieces' losses
/// and gradients add up to the undivided step's.
public struct MicroBatch: Sendable, Equatable {
    /// Rows of the rank's batch tensor (0 = the share's first sample).
    public let rows: Range<Int>
    /// Global indices of these samples (what noise and dropout are drawn for).
    public let samples: Range<Int>
    /// Samples across all ranks and pieces.
    public let total: Int

    public var count: Int { rows.count }

    /// `n_piece / total`: turns a mean over these samples into their part of the global mean.
    public var meanWeight: Float { Float(count) / Float(total) }

    /// `1 / total`: turns a sum over these samples into their part of the global mean.
    public var sumWeight: Float { 1 / Float(total) }
}

extension BatchShare {
    /// The share as one piece (no accumulation).
    public var whole: MicroBatch { MicroBatch(rows: 0..<count, samples: samples, total: total) }

    /// The share split into `pieces` contiguous micro-batches, as even as possible and in order; empty pieces (a share
    /// smaller than `pieces`) are left out.
    public func microBatches(_ pieces: Int) -> [MicroBatch] {
        precondition(pieces >= 1, "microBatches(\(pieces))")
        return (0..<pieces).compactMap { piece in
            let rows = BatchShare(of: count, rank: piece, worldSize: pieces).samples
            guard !rows.isEmpty else { return nil }
            return MicroBatch(rows: rows, samples: (samples.lowerBound + rows.lowerBound)..<(samples.lowerBound + rows.upperBound), total: total)
        }
    }
}
