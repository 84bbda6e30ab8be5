// FID, KID and IS over feature rows spread across ranks. Each rank holds a contiguous piece of
// each set (rank order = row order); the reductions give the whole set's result on every rank:
// - FID: counts and sums give the global mean; each rank then adds its centred scatter plus
//   n_r (mu_r - mu)(mu_r - mu)^T (Chan's merge), so large means cost no precision.
// - IS: per-split sums (count, sum p log p, sum p) add across ranks.
// - KID: features are gathered in global row order; ranks share out the subsets and gather the
//   per-subset values, so every rank holds the identical list whatever the number of ranks.
// Every rank enters every collective in the same order, and local failures are agreed on first,
// so a bad file on one rank cannot hang the others.

import Communication
import TensorCore

/// Which metrics to compute, and how.
public struct MetricOptions: Sendable {
    public var frechet = true
    public var kernel = true
    public var inception = true
    /// KID subsets: explicit, or drawn from `kernelSeed`.
    public var kernelSubsets: KernelSubsets?
    public var kernelSubsetCount = 100
    public var kernelSubsetSize = 1000
    public var kernelSeed: UInt64 = 0
    public var inceptionSplits = 10
    public init() {}
}

/// A piece of a feature set: rows `firstRow ..< firstRow + rows` of `totalRows`.
public struct FeatureShard: Sendable {
    /// [rows, dimension]
    public var values: [Double]
    public let dimension: Int
    public let firstRow: Int
    public let totalRows: Int
    public var rows: Int { values.count / max(dimension, 1) }

    public init(values: [Double], dimension: Int, firstRow: Int, totalRows: Int) {
        self.values = values
        self.dimension = dimension
        self.firstRow = firstRow
        self.totalRows = totalRows
    }

    /// This rank's rows of `total`: contiguous, in rank order, as even as possible.
    public static func rows(of total: Int, rank: Int, worldSize: Int) -> Range<Int> {
        BatchShare(of: total, rank: rank, worldSize: worldSize).samples
    }
}

/// What the metrics measured (JSON keys as `gentrain metrics --json` prints them).
public struct MetricsReport: Codable, Equatable, Sendable {
    public var fid: Double?
    public var fidMeanTerm: Double?
    public var fidTraceReal: Double?
    public var fidTraceFake: Double?
    public var fidTraceSquareRootProduct: Double?
    public var kidMean: Double?
    public var kidStd: Double?
    public var kidSubsets: Int?
    public var kidSubsetSize: Int?
    public var isMean: Double?
    public var isStd: Double?
    public var isSplits: Int?
    public var isSplitScores: [Double]?
    public var nReal: Int
    public var nFake: Int
    public var nLogits: Int?
    public var dim: Int

    enum CodingKeys: String, CodingKey {
        case fid, fidMeanTerm = "fid_mean_term", fidTraceReal = "fid_trace_real", fidTraceFake = "fid_trace_fake"
        case fidTraceSquareRootProduct = "fid_trace_sqrt_product", kidMean = "kid_mean", kidStd = "kid_std"
        case kidSubsets = "kid_subsets", kidSubsetSize = "kid_subset_size", isMean = "is_mean", isStd = "is_std"
        case isSplits = "is_splits", isSplitScores = "is_split_scores", nReal = "n_real", nFake = "n_fake", nLogits = "n_logits", dim
    }
}

/// Another rank failed (it reports its own error).
public struct RemoteRankFailure: Error, CustomStringConvertible, Sendable {
    public let rank: Int
    public var description: String { "rank \(rank) failed (see its message)" }
}

/// Runs `body` on every rank; if it fails on any rank, every rank throws (the failing ranks their own error).
public func agreeOnSuccess<T>(_ communicator: Communicator, _ body: () throws -> T) throws -> T {
    var result: Result<T, any Error>
    do { result = .success(try body()) } catch { result = .failure(error) }
    var isFailure = false
    if case .failure = result { isFailure = true }
    // [any rank failed, -(lowest failing rank)]
    var flags = [isFailure ? 1 : 0, isFailure ? -Double(communicator.rank) : -Double(communicator.size)]
    try communicator.allReduceMaximum(&flags, count: 2)
    if flags[0] > 0 {
        if case .failure(let error) = result { throw error }
        throw RemoteRankFailure(rank: Int(-flags[1]))
    }
    return try result.get()
}

/// The whole set's Gaussian statistics from every rank's rows.
public func shardedGaussianStatistics(_ shard: FeatureShard, communicator: Communicator) throws -> GaussianStatistics {
    try shard.values.withUnsafeBufferPointer { rows in
        try GaussianStatistics.sharded(rows: rows, dimension: shard.dimension) { values in
            try communicator.allReduceSum(&values, count: values.count)
        }
    }
}

/// The Inception Score of every rank's rows of logits.
public func shardedInceptionScore(_ logits: FeatureShard, splits: Int, communicator: Communicator) throws -> InceptionScore {
    var sums = logits.values.withUnsafeBufferPointer {
        InceptionScoreSums(logits: $0, classes: logits.dimension, firstRow: logits.firstRow, totalRows: logits.totalRows, splits: splits)
    }
    try communicator.allReduceSum(&sums.values, count: sums.values.count)
    return try sums.score()
}

/// KID of every rank's rows: features gathered in row order, subsets shared out, values gathered.
public func shardedKernelInceptionDistance(real: FeatureShard, fake: FeatureShard, options: MetricOptions,
                                           communicator: Communicator) throws -> KernelInceptionDistance {
    let subsets = try options.kernelSubsets ?? KernelSubsets(seed: options.kernelSeed, count: options.kernelSubsetCount,
                                                             size: options.kernelSubsetSize, realCount: real.totalRows, fakeCount: fake.totalRows)
    try subsets.validate(realCount: real.totalRows, fakeCount: fake.totalRows)
    let allReal = try communicator.allGatherVariable(real.values)
    let allFake = try communicator.allGatherVariable(fake.values)
    let mine = FeatureShard.rows(of: subsets.count, rank: communicator.rank, worldSize: communicator.size)
    let values = kernelSubsetValues(real: allReal, fake: allFake, dimension: real.dimension, subsets: subsets, range: mine)
    return kernelInceptionDistance(subsetValues: try communicator.allGatherVariable(values))
}

/// FID, KID and IS (as asked) of sharded feature sets; every rank gets the same report.
public func shardedMetrics(real: FeatureShard, fake: FeatureShard, logits: FeatureShard?, options: MetricOptions,
                           communicator: Communicator) throws -> MetricsReport {
    guard real.dimension == fake.dimension else {
        throw EvaluationError("the real features have \(real.dimension) values per row and the generated ones \(fake.dimension)")
    }
    var report = MetricsReport(nReal: real.totalRows, nFake: fake.totalRows, dim: real.dimension)
    if options.frechet {
        let statisticsReal = try shardedGaussianStatistics(real, communicator: communicator)
        let statisticsFake = try shardedGaussianStatistics(fake, communicator: communicator)
        for (statistics, name) in [(statisticsReal, "real"), (statisticsFake, "generated")]
        where !(statistics.mean + statistics.scatter).allSatisfy(\.isFinite) {
            throw EvaluationError("FID: the mean or covariance of the \(name) features is not finite (values too large for float64)")
        }
        let distance = try frechetDistance(statisticsReal, statisticsFake)
        report.fid = distance.value
        report.fidMeanTerm = distance.meanTerm
        report.fidTraceReal = distance.traceA
        report.fidTraceFake = distance.traceB
        report.fidTraceSquareRootProduct = distance.traceSquareRootProduct
    }
    if options.kernel {
        let kernel = try shardedKernelInceptionDistance(real: real, fake: fake, options: options, communicator: communicator)
        report.kidMean = kernel.mean
        report.kidStd = kernel.standardDeviation
        report.kidSubsets = kernel.subsetValues.count
        report.kidSubsetSize = options.kernelSubsets?.real.first?.count ?? options.kernelSubsetSize
    }
    if options.inception, let logits {
        let score = try shardedInceptionScore(logits, splits: options.inceptionSplits, communicator: communicator)
        report.isMean = score.mean
        report.isStd = score.standardDeviation
        report.isSplits = options.inceptionSplits
        report.isSplitScores = score.splitScores
        report.nLogits = logits.totalRows
    }
    try report.checkFinite()
    return report
}

extension MetricsReport {
    /// Refuses a report with a value that is not finite (features too large, or a degenerate set), so that no `nan`
    /// or `inf` is ever printed as a result.
    public func checkFinite() throws(EvaluationError) {
        let values: [(String, Double?)] = [("FID", fid), ("FID's mean term", fidMeanTerm), ("FID's trace of the real covariance", fidTraceReal),
                                           ("FID's trace of the generated covariance", fidTraceFake),
                                           ("FID's trace of sqrt(S_r S_g)", fidTraceSquareRootProduct), ("KID", kidMean),
                                           ("KID's standard deviation", kidStd), ("IS", isMean), ("IS's standard deviation", isStd)]
            + (isSplitScores ?? []).enumerated().map { ("IS of split \($0.offset)", $0.element) }
        for case let (name, value?) in values where !value.isFinite {
            throw EvaluationError("\(name) is not finite (\(value)): the features are too large or degenerate for float64")
        }
    }
}
