import Testing
@testable import TensorCore

/// A symmetric positive-definite [n, n] matrix: A A^T + n I for a seeded A.
func positiveDefinite(_ n: Int, seed: UInt64) -> [Double] {
    var generator = SeededGenerator(seed: seed)
    let a = generator.uniformTensor([n, n], low: -1, high: 1).scalars.map(Double.init)
    var result = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in 0..<n { for k in 0..<n { result[i * n + j] += a[i * n + k] * a[j * n + k] } } }
    for i in 0..<n { result[i * n + i] += Double(n) }
    return result
}

@Suite struct Float64MatrixTests {
    @Test(arguments: [1, 2, 7, 33])
    func choleskyMatchesItsNaiveTwin(n: Int) throws {
        let matrix = positiveDefinite(n, seed: UInt64(n))
        let fast = try #require(choleskyFactor(matrix, dimension: n).factor)
        let naive = try #require(choleskyFactorNaive(matrix, dimension: n))
        #expect(zip(fast, naive).allSatisfy { abs($0 - $1) <= 1e-12 * Double(n) })
        // Lower-triangular, and L L^T gives the matrix back.
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { #expect(fast[i * n + j] == 0) } }
        for i in 0..<n {
            for j in 0..<n {
                let product = (0..<n).reduce(0.0) { $0 + fast[i * n + $1] * fast[j * n + $1] }
                #expect(abs(product - matrix[i * n + j]) <= 1e-11 * Double(n))
            }
        }
    }

    @Test func choleskyRefusesAMatrixThatIsNotPositiveDefinite() {
        let singular: [Double] = [4, 2, 0, 2, 1, 0, 0, 0, 1]  // rows 0 and 1 are dependent
        #expect(choleskyFactor(singular, dimension: 3).factor == nil)
        #expect(choleskyFactor(singular, dimension: 3).failedPivot == 1)
        #expect(choleskyFactorNaive(singular, dimension: 3) == nil)
    }

    @Test(arguments: [1, 3, 12])
    func traceOfInverseProductMatchesItsNaiveTwin(n: Int) throws {
        let s = positiveDefinite(n, seed: 40 + UInt64(n)), m = positiveDefinite(n, seed: 80 + UInt64(n))
        let factor = try #require(choleskyFactor(s, dimension: n).factor)
        let fast = traceOfInverseProduct(factor: factor, matrix: m, dimension: n)
        let naive = traceOfInverseProductNaive(factor: factor, matrix: m, dimension: n)
        #expect(abs(fast - naive) <= 1e-10 * abs(naive))
        #expect(abs(traceOfInverseProduct(factor: factor, matrix: s, dimension: n) - Double(n)) <= 1e-10 * Double(n))
    }

    /// Shards summed across ranks (here: three shards and a sum over them) give the statistics of the whole set.
    @Test func shardedStatisticsEqualTheWholeSet() throws {
        var generator = SeededGenerator(seed: 9)
        let rows = generator.uniformTensor([50, 4], low: 100, high: 200).scalars.map(Double.init)
        let whole = rows.withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: 4) }
        let shards = [0..<17, 17..<34, 34..<50].map { Array(rows[($0.lowerBound * 4)..<($0.upperBound * 4)]) }
        // Plays the two all-reduces of three ranks: `answers[k]` is what collective k gives; returns each call's input.
        func run(_ shard: [Double], answers: [[Double]?]) -> (GaussianStatistics, [[Double]]) {
            var inputs: [[Double]] = []
            let statistics = shard.withUnsafeBufferPointer { rows in
                GaussianStatistics.sharded(rows: rows, dimension: 4) { values in
                    inputs.append(values)
                    if let answer = answers[inputs.count - 1] { values = answer }
                }
            }
            return (statistics, inputs)
        }
        func sum(_ parts: [[Double]]) -> [Double] { parts.dropFirst().reduce(parts[0]) { zip($0, $1).map(+) } }
        let totals = sum(shards.map { run($0, answers: [nil, nil]).1[0] })
        let scatter = sum(shards.map { run($0, answers: [totals, nil]).1[1] })
        let merged = run(shards[1], answers: [totals, scatter]).0
        #expect(merged.count == 50)
        #expect(zip(merged.mean, whole.mean).allSatisfy { abs($0 - $1) <= 1e-13 * abs($1) })
        #expect(zip(merged.covariance, whole.covariance).allSatisfy { abs($0 - $1) <= 1e-11 * max(abs($1), 1) })
    }
}
