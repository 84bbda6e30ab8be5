// Scaled dot-product attention over the positions of feature maps, channels first (what a 1x1 convolution leaves,
// [N, C, H, W] read as [N, C, H * W]), through BLAS, images shared among the threads.
//
// Shape legend: query [N, D, Q], key [N, D, K], value [N, E, K], output [N, E, Q]; weights [N, Q, K]
// (D query/key channels, E value channels, Q query positions, K key positions; row-major).
// Forward per image: S = scale * query^T key [Q, K], A = softmax over each row (over keys), output = value A^T,
// that is output[e, i] = sum_j A[i, j] value[e, j].
// Backward per image: dvalue += doutput A; dA = doutput^T value; dS = scale * A * (dA - rowsum(dA * A));
// dquery += key dS^T; dkey += query dS.
// Each image is independent, so any number of threads gives the same bits.

import Foundation

/// The sizes of one attention.
public struct AttentionShape: Sendable, Equatable {
    public let batch: Int
    /// D: channels of the query and the key.
    public let queryChannels: Int
    /// E: channels of the value (and of the output).
    public let valueChannels: Int
    /// Q: positions that ask (the output's positions).
    public let queryPositions: Int
    /// K: positions that answer (the key's and value's positions).
    public let keyPositions: Int
    /// Multiplies the scores before the softmax (1 / sqrt(D) for scaled dot-product attention, 1 for SAGAN's).
    public let scale: Float

    public init(batch: Int, queryChannels: Int, valueChannels: Int, queryPositions: Int, keyPositions: Int, scale: Float) {
        self.batch = batch
        self.queryChannels = queryChannels
        self.valueChannels = valueChannels
        self.queryPositions = queryPositions
        self.keyPositions = keyPositions
        self.scale = scale
    }

    var queryCount: Int { queryChannels * queryPositions }
    var keyCount: Int { queryChannels * keyPositions }
    var valueCount: Int { valueChannels * keyPositions }
    var outputCount: Int { valueChannels * queryPositions }
    var weightCount: Int { queryPositions * keyPositions }
    /// Images per thread worth splitting: about 2^16 multiply-adds each.
    var minimumImagesPerThread: Int {
        max(1, (1 << 16) / max(weightCount * (queryChannels + valueChannels), 1))
    }
}

/// Writes `output` and the attention `weights` (kept for the backward pass).
public func attentionForward(output: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>, query: UnsafePointer<Float>,
                             key: UnsafePointer<Float>, value: UnsafePointer<Float>, shape s: AttentionShape) {
    let (q, k) = (s.queryPositions, s.keyPositions)
    Parallelism.forEachRange(s.batch, minimumPerThread: s.minimumImagesPerThread) { images in
        for n in images {
            let scores = weights + n * s.weightCount
            matmulKernel(scores, query + n * s.queryCount, key + n * s.keyCount, m: q, n: k, k: s.queryChannels, transposeA: true)
            scaledSoftmaxRows(scores, rows: q, columns: k, scale: s.scale)
            matmulKernel(output + n * s.outputCount, value + n * s.valueCount, scores, m: s.valueChannels, n: q, k: k, transposeB: true)
        }
    }
}

/// Adds the gradients of `attentionForward` into the non-nil input gradients.
public func attentionBackward(queryGradient: UnsafeMutablePointer<Float>?, keyGradient: UnsafeMutablePointer<Float>?,
                              valueGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
                              weights: UnsafePointer<Float>, query: UnsafePointer<Float>, key: UnsafePointer<Float>,
                              value: UnsafePointer<Float>, shape s: AttentionShape) {
    let (q, k, d, e) = (s.queryPositions, s.keyPositions, s.queryChannels, s.valueChannels)
    let needsScores = queryGradient != nil || keyGradient != nil
    Parallelism.forEachRange(s.batch, minimumPerThread: s.minimumImagesPerThread) { images in
        let scoreGradient = UnsafeMutablePointer<Float>.allocate(capacity: s.weightCount)  // dA, then dS, of one image
        defer { scoreGradient.deallocate() }
        for n in images {
            let a = weights + n * s.weightCount, upstream = outputGradient + n * s.outputCount
            if let valueGradient {
                matmulKernel(valueGradient + n * s.valueCount, upstream, a, m: e, n: k, k: q, accumulate: true)
            }
            guard needsScores else { continue }
            matmulKernel(scoreGradient, upstream, value + n * s.valueCount, m: q, n: k, k: e, transposeA: true)
            for row in 0..<q {
                let weightsRow = a + row * k, gradientRow = scoreGradient + row * k
                var dot: Float = 0
                for column in 0..<k { dot += weightsRow[column] * gradientRow[column] }
                for column in 0..<k { gradientRow[column] = s.scale * weightsRow[column] * (gradientRow[column] - dot) }
            }
            if let queryGradient {
                matmulKernel(queryGradient + n * s.queryCount, key + n * s.keyCount, scoreGradient, m: d, n: q, k: k,
                             transposeB: true, accumulate: true)
            }
            if let keyGradient {
                matmulKernel(keyGradient + n * s.keyCount, query + n * s.queryCount, scoreGradient, m: d, n: k, k: q, accumulate: true)
            }
        }
    }
}

/// Each row of `scores` [rows, columns] replaced by softmax(scale * row), the row maximum subtracted first.
@inline(__always)
func scaledSoftmaxRows(_ scores: UnsafeMutablePointer<Float>, rows: Int, columns: Int, scale: Float) {
    for row in 0..<rows {
        let values = scores + row * columns
        var largest = -Float.infinity
        for column in 0..<columns { largest = max(largest, scale * values[column]) }
        var total: Float = 0
        for column in 0..<columns {
            let weight = Foundation.exp(scale * values[column] - largest)
            values[column] = weight
            total += weight
        }
        let inverse = 1 / total
        for column in 0..<columns { values[column] *= inverse }
    }
}

// MARK: - Naive twins

/// The naive twin of `attentionForward`: the formula by index arithmetic in Double.
func attentionForwardNaive(output: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>, query: UnsafePointer<Float>,
                           key: UnsafePointer<Float>, value: UnsafePointer<Float>, shape s: AttentionShape) {
    let (d, e, q, k) = (s.queryChannels, s.valueChannels, s.queryPositions, s.keyPositions)
    for n in 0..<s.batch {
        for i in 0..<q {
            var scores = [Double](repeating: 0, count: k)
            for j in 0..<k {
                for c in 0..<d { scores[j] += Double(query[(n * d + c) * q + i]) * Double(key[(n * d + c) * k + j]) }
                scores[j] *= Double(s.scale)
            }
            let largest = scores.max() ?? 0
            let exponentials = scores.map { Foundation.exp($0 - largest) }
            let total = exponentials.reduce(0, +)
            for j in 0..<k { weights[(n * q + i) * k + j] = Float(exponentials[j] / total) }
            for c in 0..<e {
                var sum = 0.0
                for j in 0..<k { sum += exponentials[j] / total * Double(value[(n * e + c) * k + j]) }
                output[(n * e + c) * q + i] = Float(sum)
            }
        }
    }
}

/// The naive twin of `attentionBackward`: each gradient by its own sum in Double, from the weights the forward kept.
func attentionBackwardNaive(queryGradient: UnsafeMutablePointer<Float>, keyGradient: UnsafeMutablePointer<Float>,
                            valueGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
                            weights: UnsafePointer<Float>, query: UnsafePointer<Float>, key: UnsafePointer<Float>,
                            value: UnsafePointer<Float>, shape s: AttentionShape) {
    let (d, e, q, k) = (s.queryChannels, s.valueChannels, s.queryPositions, s.keyPositions)
    for n in 0..<s.batch {
        func weight(_ i: Int, _ j: Int) -> Double { Double(weights[(n * q + i) * k + j]) }
        func upstream(_ c: Int, _ i: Int) -> Double { Double(outputGradient[(n * e + c) * q + i]) }
        // dS[i, j] = scale * A[i, j] * (dA[i, j] - sum_l A[i, l] dA[i, l]), dA[i, j] = sum_c dO[c, i] V[c, j].
        var scoreGradient = [Double](repeating: 0, count: q * k)
        for i in 0..<q {
            var weightGradient = [Double](repeating: 0, count: k)
            for j in 0..<k { for c in 0..<e { weightGradient[j] += upstream(c, i) * Double(value[(n * e + c) * k + j]) } }
            let dot = (0..<k).reduce(0.0) { $0 + weight(i, $1) * weightGradient[$1] }
            for j in 0..<k { scoreGradient[i * k + j] = Double(s.scale) * weight(i, j) * (weightGradient[j] - dot) }
        }
        for c in 0..<e {
            for j in 0..<k {
                let sum = (0..<q).reduce(0.0) { $0 + upstream(c, $1) * weight($1, j) }
                valueGradient[(n * e + c) * k + j] += Float(sum)
            }
        }
        for c in 0..<d {
            for i in 0..<q {
                let sum = (0..<k).reduce(0.0) { $0 + scoreGradient[i * k + $1] * Double(key[(n * d + c) * k + $1]) }
                queryGradient[(n * d + c) * q + i] += Float(sum)
            }
            for j in 0..<k {
                let sum = (0..<q).reduce(0.0) { $0 + scoreGradient[$1 * k + j] * Double(query[(n * d + c) * q + $1]) }
                keyGradient[(n * d + c) * k + j] += Float(sum)
            }
        }
    }
}
