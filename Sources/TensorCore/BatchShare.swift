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
