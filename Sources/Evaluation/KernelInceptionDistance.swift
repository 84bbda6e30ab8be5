// Kernel Inception Distance: the unbiased estimate of the squared maximum mean discrepancy
// with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over subsets:
//   MMD^2 = (sum K_XX - tr K_XX) / (m(m-1)) + (sum K_YY - tr K_YY) / (n(n-1)) - 2 sum K_XY / (m n)
// Reported as the mean and the population standard deviation (ddof 0) over subsets, as
// torch-fidelity does.

import TensorCore

/// KID over subsets.
public struct KernelInceptionDistance: Equatable, Sendable {
    public let mean: Double
    /// Population standard deviation over subsets.
    public let standardDeviation: Double
    /// MMD^2 of each subset, in subset order.
    public let subsetValues: [Double]
}

/// The rows of each KID subset: `real[s]` and `fake[s]` index the two feature sets.
public struct KernelSubsets: Equatable, Sendable {
    public let real: [[Int]]
    public let fake: [[Int]]
    public var count: Int { real.count }

    /// Explicit subsets (for instance torch-fidelity's, read from index files).
    public init(real: [[Int]], fake: [[Int]]) throws(EvaluationError) {
        guard real.count == fake.count, !real.isEmpty else {
            throw EvaluationError("KID subsets: \(real.count) real and \(fake.count) fake subsets; give the same positive number of each")
        }
        self.real = real
        self.fake = fake
    }

    /// `count` subsets of `size` rows drawn without replacement from `realCount` and `fakeCount` rows:
    /// a partial Fisher-Yates shuffle per subset from one generator seeded with `seed` (real, then fake).
    public init(seed: UInt64, count: Int, size: Int, realCount: Int, fakeCount: Int) throws(EvaluationError) {
        guard count > 0, size > 1 else { throw EvaluationError("KID needs at least 1 subset of at least 2 samples (got \(count) of \(size))") }
        guard realCount >= size, fakeCount >= size else {
            throw EvaluationError("KID subset size \(size) is larger than the sets (\(realCount) real, \(fakeCount) generated samples); "
                                  + "lower --kid-subset-size or give more samples")
        }
        var generator = SeededGenerator(seed: seed)
        func draw(_ total: Int) -> [Int] {
            var pool = Array(0..<total)
            for position in 0..<size {
                let chosen = position + Int(generator.next() % UInt64(total - position))
                pool.swapAt(position, chosen)
            }
            return Array(pool.prefix(size))
        }
        var real: [[Int]] = [], fake: [[Int]] = []
        for _ in 0..<count {
            real.append(draw(realCount))
            fake.append(draw(fakeCount))
        }
        try self.init(real: real, fake: fake)
    }

    /// Checks the indices against the sets' sizes.
    public func validate(realCount: Int, fakeCount: Int) throws(EvaluationError) {
        for (subset, (real, fake)) in zip(real, fake).enumerated() {
            guard real.count > 1, fake.count > 1 else { throw EvaluationError("KID subset \(subset) has fewer than 2 rows") }
            if let bad = real.first(where: { !(0..<realCount).contains($0) }) {
                throw EvaluationError("KID subset \(subset): real row \(bad) is outside 0..<\(realCount)")
            }
            if let bad = fake.first(where: { !(0..<fakeCount).contains($0) }) {
                throw EvaluationError("KID subset \(subset): generated row \(bad) is outside 0..<\(fakeCount)")
            }
        }
    }
}

/// Unbiased MMD^2 with the cubic polynomial kernel between `x` [m, dimension] and `y` [n, dimension].
public func polynomialMMD(_ x: UnsafePointer<Double>, rows m: Int, _ y: UnsafePointer<Double>, rows n: Int, dimension: Int) -> Double {
    let scale = 1 / Double(dimension)
    /// Sum of (dot / d + 1)^3 over `dots` [rows, columns], or over its strict upper triangle doubled (all a Gram
    /// matrix's upper triangle holds).
    func kernelSum(_ dots: [Double], rows: Int, columns: Int, offDiagonalOnly: Bool) -> Double {
        dots.withUnsafeBufferPointer { buffer in
            var sum = 0.0
            for row in 0..<rows {
                let line = buffer.baseAddress! + row * columns
                var rowSum = 0.0
                for column in (offDiagonalOnly ? row + 1 : 0)..<columns {
                    let base = line[column] * scale + 1
                    rowSum += base * base * base
                }
                sum += rowSum
            }
            return offDiagonalOnly ? 2 * sum : sum
        }
    }
    let xx = kernelSum(upperRowGram(x, rows: m, dimension: dimension), rows: m, columns: m, offDiagonalOnly: true)
    let yy = kernelSum(upperRowGram(y, rows: n, dimension: dimension), rows: n, columns: n, offDiagonalOnly: true)
    let xy = kernelSum(rowDotProducts(x, rows: m, y, rows: n, dimension: dimension), rows: m, columns: n, offDiagonalOnly: false)
    return xx / Double(m * (m - 1)) + yy / Double(n * (n - 1)) - 2 * xy / Double(m * n)
}

/// Naive twin of `polynomialMMD`: the kernel evaluated pair by pair.
public func polynomialMMDNaive(_ x: UnsafePointer<Double>, rows m: Int, _ y: UnsafePointer<Double>, rows n: Int, dimension: Int) -> Double {
    func kernel(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>) -> Double {
        var dot = 0.0
        for index in 0..<dimension { dot += a[index] * b[index] }
        let base = dot / Double(dimension) + 1
        return base * base * base
    }
    var xx = 0.0, yy = 0.0, xy = 0.0
    for i in 0..<m { for j in 0..<m where i != j { xx += kernel(x + i * dimension, x + j * dimension) } }
    for i in 0..<n { for j in 0..<n where i != j { yy += kernel(y + i * dimension, y + j * dimension) } }
    for i in 0..<m { for j in 0..<n { xy += kernel(x + i * dimension, y + j * dimension) } }
    return xx / Double(m * (m - 1)) + yy / Double(n * (n - 1)) - 2 * xy / Double(m * n)
}

/// MMD^2 of the subsets `subsetRange` of `subsets`, over the whole feature sets `real` and `fake` ([rows, dimension]).
public func kernelSubsetValues(real: [Double], fake: [Double], dimension: Int, subsets: KernelSubsets,
                               range subsetRange: Range<Int>) -> [Double] {
    subsetRange.map { subset in
        let x = gatherRows(real, subsets.real[subset], dimension: dimension)
        let y = gatherRows(fake, subsets.fake[subset], dimension: dimension)
        return polynomialMMD(x, rows: subsets.real[subset].count, y, rows: subsets.fake[subset].count, dimension: dimension)
    }
}

/// Mean and population standard deviation of per-subset MMD^2 values.
public func kernelInceptionDistance(subsetValues: [Double]) -> KernelInceptionDistance {
    let mean = subsetValues.reduce(0, +) / Double(subsetValues.count)
    let variance = subsetValues.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(subsetValues.count)
    return KernelInceptionDistance(mean: mean, standardDeviation: variance.squareRoot(), subsetValues: subsetValues)
}

/// The rows `indices` of `matrix` ([rows, dimension]).
func gatherRows(_ matrix: [Double], _ indices: [Int], dimension: Int) -> [Double] {
    var result = [Double](repeating: 0, count: indices.count * dimension)
    for (position, row) in indices.enumerated() {
        for column in 0..<dimension { result[position * dimension + column] = matrix[row * dimension + column] }
    }
    return result
}
