import Testing
@testable import TensorCore

/// Seeded rows [count, d] of values in [-2, 2].
func seededRows(_ count: Int, _ d: Int, seed: UInt64) -> [Double] {
    var generator = SeededGenerator(seed: seed)
    return generator.uniformTensor([count, d], low: -2, high: 2).scalars.map(Double.init)
}

/// Each mixture kernel against its naive twin, on shapes with a remainder; plus the packing helpers and the 53-bit uniforms.
@Suite struct MixtureKernelTests {
    @Test(arguments: [(1, 1, 1), (7, 3, 2), (40, 13, 5), (40, 13, 1)])
    func mahalanobisDistancesMatchTheirNaiveTwin(count: Int, d: Int, centres: Int) throws {
        let rows = seededRows(count, d, seed: 1), centreValues = seededRows(centres, d, seed: 2)
        let factor = try #require(choleskyFactor(positiveDefinite(d, seed: 3), dimension: d).factor)
        var scratch: [Double] = []
        let fast = rows.withUnsafeBufferPointer { mahalanobisDistances(rows: $0, rowCount: count, dimension: d, centres: centreValues, factor: factor, scratch: &scratch) }
        let naive = rows.withUnsafeBufferPointer { mahalanobisDistancesNaive(rows: $0, rowCount: count, dimension: d, centres: centreValues, factor: factor) }
        #expect(fast.count == count * centres)
        #expect(zip(fast, naive).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) }, "\(fast.prefix(4)) \(naive.prefix(4))")
        // With the identity as the factor, the distance is the squared Euclidean one.
        let identity = (0..<(d * d)).map { $0 / d == $0 % d ? 1.0 : 0.0 }
        let euclidean = rows.withUnsafeBufferPointer { mahalanobisDistances(rows: $0, rowCount: count, dimension: d, centres: centreValues, factor: identity, scratch: &scratch) }
        var expected = [Double](repeating: 0, count: count * centres)
        for row in 0..<count {
            for centre in 0..<centres {
                for i in 0..<d {
                    let difference = rows[row * d + i] - centreValues[centre * d + i]
                    expected[row * centres + centre] += difference * difference
                }
            }
        }
        #expect(zip(euclidean, expected).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, $1) })
    }

    @Test(arguments: [(1, 1), (9, 4), (50, 17)])
    func weightedScatterMatchesItsNaiveTwin(count: Int, d: Int) {
        let rows = seededRows(count, d, seed: 4), centre = seededRows(1, d, seed: 5)
        // Every third weight is exactly zero, every fifth 1e-20 (both left out by the fast kernel), the others in (0, 1].
        var weights: [Double] = []
        for index in 0..<(2 * count) {
            let weight: Double = index % 3 == 0 ? 0 : (index % 5 == 0 ? 1e-20 : Double(index % 7 + 1) / 7)
            weights.append(weight)
        }
        let workspace = ScatterWorkspace()
        for stride in [1, 2] {
            // Added twice into the same packed triangle: twice the naive scatter (the kernel adds, as a tied covariance's sum needs).
            var packed = [Double](repeating: 0, count: d * (d + 1) / 2)
            let naive = rows.withUnsafeBufferPointer { r in
                weights.withUnsafeBufferPointer { w -> [Double] in
                    centre.withUnsafeBufferPointer { c in
                        for _ in 0..<2 {
                            addWeightedScatter(rows: r, rowCount: count, dimension: d, weights: w, weightStride: stride, centre: c,
                                               into: &packed, workspace: workspace)
                        }
                    }
                    return weightedScatterNaive(rows: r, rowCount: count, dimension: d, weights: w, weightStride: stride, centre: centre)
                }
            }
            let expected = packedLowerTriangle(naive.map { 2 * $0 }, dimension: d)
            #expect(zip(packed, expected).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) }, "\(packed.prefix(4)) \(expected.prefix(4))")
        }
    }

    @Test func squaredEuclideanDistancesMatchTheirNaiveTwin() {
        let (count, centres, d) = (31, 4, 9)
        let rows = seededRows(count, d, seed: 12), centreValues = seededRows(centres, d, seed: 13) + Array(seededRows(1, d, seed: 12)[0..<d])
        let fast = rows.withUnsafeBufferPointer { squaredEuclideanDistances(rows: $0, rowCount: count, dimension: d, centres: centreValues) }
        let naive = rows.withUnsafeBufferPointer { squaredEuclideanDistancesNaive(rows: $0, rowCount: count, dimension: d, centres: centreValues) }
        #expect(fast.count == count * (centres + 1) && zip(fast, naive).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, $1) })
        // A row that is a centre is at distance 0 from it, never below.
        #expect(fast[centres] < 1e-12 && fast.allSatisfy { $0 >= 0 })
    }

    @Test func weightedRowSumsMatchTheirNaiveTwin() {
        let (count, k, d) = (23, 3, 6)
        let rows = seededRows(count, d, seed: 6), weights = seededRows(count, k, seed: 7)
        let fast = rows.withUnsafeBufferPointer { r in weights.withUnsafeBufferPointer { weightedRowSums(weights: $0, columns: k, rows: r, dimension: d) } }
        let naive = rows.withUnsafeBufferPointer { r in weights.withUnsafeBufferPointer { weightedRowSumsNaive(weights: $0, columns: k, rows: r, dimension: d) } }
        #expect(fast.count == k * d && zip(fast, naive).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
    }

    @Test(arguments: [1, 4, 19])
    func triangularInverseMatchesItsNaiveTwin(d: Int) throws {
        let factor = try #require(choleskyFactor(positiveDefinite(d, seed: 8), dimension: d).factor)
        let fast = lowerTriangularInverse(factor, dimension: d), naive = lowerTriangularInverseNaive(factor, dimension: d)
        #expect(zip(fast, naive).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
        // L^-1 L = I, and the inverse is lower-triangular.
        for i in 0..<d {
            for j in 0..<d {
                let product = (0..<d).reduce(0.0) { $0 + fast[i * d + $1] * factor[$1 * d + j] }
                #expect(abs(product - (i == j ? 1 : 0)) <= 1e-12)
                if j > i { #expect(fast[i * d + j] == 0) }
            }
        }
    }

    @Test(arguments: [1, 5, 70, 130])
    func unpackingAPackedLowerTriangleGivesTheSymmetricMatrix(d: Int) {
        // d above the mirror's 64-wide tiles, with remainders.
        let matrix = positiveDefinite(d, seed: 9)
        let packed = packedLowerTriangle(matrix, dimension: d)
        #expect(packed.count == d * (d + 1) / 2 && packed[0] == matrix[0] && packed.last == matrix[d * d - 1])
        var unpacked = [Double](repeating: .nan, count: d * d)
        packed.withUnsafeBufferPointer { unpackSymmetric($0.baseAddress!, dimension: d, into: &unpacked) }
        #expect(unpacked == matrix)
        packed.withUnsafeBufferPointer { unpackSymmetric($0.baseAddress!, dimension: d, dividedBy: 4, diagonalShift: 0.5, into: &unpacked) }
        #expect(unpacked == (0..<(d * d)).map { matrix[$0] / 4 + ($0 / d == $0 % d ? 0.5 : 0) })
    }

    @Test func uniformDoublesAreInTheOpenIntervalAndUniform() {
        let random = CounterRandom(seed: 11)
        let values = (0..<2000).flatMap { random.uniformDoubles(stream: 3, step: 0, sample: UInt64($0), count: 5) }
        #expect(values.allSatisfy { $0 > 0 && $0 < 1 })
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        // Mean 1/2 and variance 1/12 within about 4 standard errors of 10,000 draws.
        #expect(abs(mean - 0.5) < 0.012 && abs(variance - 1.0 / 12) < 0.004, "mean \(mean), variance \(variance)")
        // The same address gives the same numbers; another sample others; a value uses more than Float's 24 bits.
        #expect(random.uniformDoubles(stream: 3, step: 0, sample: 7, count: 5) == Array(values[35..<40]))
        #expect(random.uniformDoubles(stream: 3, step: 0, sample: 8, count: 5) != Array(values[35..<40]))
        #expect(values.contains { Double(Float($0)) != $0 })
    }
}
