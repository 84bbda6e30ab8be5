// Inception Score from classifier logits: p = softmax(logits) in Float64; the rows are cut into
// `splits` consecutive pieces [i N / splits, (i + 1) N / splits); each piece scores
//   exp( mean_rows sum_j p_j (log p_j - log q_j) ),  q = the piece's mean of p,
// and the report is the mean and population standard deviation over pieces.
//
// Per piece the score needs only sums over its rows: the count n, E = sum_rows sum_j p_j log p_j
// and P_j = sum_rows p_j, since sum_rows sum_j p_j log q_j = sum_j P_j log(P_j / n). So ranks holding
// different rows add their sums and get the same score.

import Foundation

/// IS over splits.
public struct InceptionScore: Equatable, Sendable {
    public let mean: Double
    /// Population standard deviation over splits.
    public let standardDeviation: Double
    /// Each split's score, in order.
    public let splitScores: [Double]
}

/// Per-split sums of some rows of logits; sums of different rows add.
public struct InceptionScoreSums: Equatable, Sendable {
    public let splits: Int
    public let classes: Int
    /// Per split: [count, E, P_0 ... P_(classes-1)], flat ([splits, classes + 2]).
    public var values: [Double]

    /// Sums of `logits` ([rows, classes]), which are rows `firstRow ..< firstRow + rows` of `totalRows`.
    public init(logits: UnsafeBufferPointer<Double>, classes: Int, firstRow: Int, totalRows: Int, splits: Int) {
        precondition(classes > 0 && logits.count % classes == 0, "InceptionScoreSums: \(logits.count) logits are not rows of \(classes)")
        self.splits = splits
        self.classes = classes
        let width = classes + 2
        values = [Double](repeating: 0, count: splits * width)
        var logProbabilities = [Double](repeating: 0, count: classes)
        for local in 0..<(logits.count / classes) {
            let row = firstRow + local
            let split = Self.split(ofRow: row, totalRows: totalRows, splits: splits)
            let base = split * width
            let logitsRow = logits.baseAddress! + local * classes
            var largest = -Double.infinity
            for j in 0..<classes { largest = max(largest, logitsRow[j]) }
            var total = 0.0
            for j in 0..<classes { total += Foundation.exp(logitsRow[j] - largest) }
            let logTotal = Foundation.log(total)
            for j in 0..<classes { logProbabilities[j] = logitsRow[j] - largest - logTotal }
            values[base] += 1
            for j in 0..<classes {
                let p = Foundation.exp(logProbabilities[j])
                values[base + 1] += p * logProbabilities[j]
                values[base + 2 + j] += p
            }
        }
    }

    /// The split that row `row` of `totalRows` falls in: the largest i with floor(i N / splits) <= row.
    static func split(ofRow row: Int, totalRows: Int, splits: Int) -> Int {
        var split = min(row * splits / max(totalRows, 1), splits - 1)
        while split + 1 < splits && (split + 1) * totalRows / splits <= row { split += 1 }
        while split > 0 && split * totalRows / splits > row { split -= 1 }
        return split
    }

    /// The scores from complete sums.
    public func score() throws(EvaluationError) -> InceptionScore {
        let width = classes + 2
        var scores: [Double] = []
        for split in 0..<splits {
            let base = split * width
            let count = values[base]
            guard count > 0 else { throw EvaluationError("IS: split \(split) of \(splits) holds no samples; use fewer splits or more samples") }
            var crossTerm = 0.0
            for j in 0..<classes where values[base + 2 + j] > 0 {
                crossTerm += values[base + 2 + j] * Foundation.log(values[base + 2 + j] / count)
            }
            scores.append(Foundation.exp((values[base + 1] - crossTerm) / count))
        }
        let mean = scores.reduce(0, +) / Double(splits)
        let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(splits)
        return InceptionScore(mean: mean, standardDeviation: variance.squareRoot(), splitScores: scores)
    }
}
