import Foundation
import Testing
import TensorCore
@testable import Evaluation

/// Reproducible normal rows [rows, dimension], shifted by `offset`.
func randomRows(_ rows: Int, _ dimension: Int, seed: UInt64, offset: Double = 0, scale: Double = 1) -> [Double] {
    var generator = SeededGenerator(seed: seed)
    return (0..<(rows * dimension)).map { _ in offset + scale * Double(generator.normal()) }
}

@Suite struct KernelTests {
    @Test func transposedProductMatchesItsNaiveTwin() {
        let rows = randomRows(37, 9, seed: 1)
        let fast = rows.withUnsafeBufferPointer { transposedProduct($0, rowCount: 37, dimension: 9) }
        let naive = rows.withUnsafeBufferPointer { transposedProductNaive($0, rowCount: 37, dimension: 9) }
        #expect(zip(fast, naive).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
    }

    @Test func eigenvaluesMatchJacobiRotations() throws {
        let rows = randomRows(20, 8, seed: 2)
        let matrix = rows.withUnsafeBufferPointer { transposedProductNaive($0, rowCount: 20, dimension: 8) }
        let lapack = try symmetricEigendecomposition(matrix, dimension: 8, vectors: false).values
        let jacobi = symmetricEigenvaluesNaive(matrix, dimension: 8)
        #expect(zip(lapack, jacobi).allSatisfy { abs($0 - $1) <= 1e-10 * max(1, abs($1)) }, "\(lapack) vs \(jacobi)")
    }

    @Test func traceOfSquareRootOfCommutingMatrices() throws {
        // Diagonal matrices in a rotated basis: tr sqrt(A B) = sum sqrt(a_i b_i).
        let n = 5, a: [Double] = [4, 1, 0.25, 9, 0], b: [Double] = [1, 16, 4, 0.01, 3]
        let basis = try symmetricEigendecomposition(randomRows(n, n, seed: 3).withUnsafeBufferPointer {
            transposedProduct($0, rowCount: n, dimension: n)
        }, dimension: n, vectors: true).vectors
        func rotated(_ diagonal: [Double]) -> [Double] {
            var result = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0..<n { for k in 0..<n { result[i * n + j] += basis[k * n + i] * diagonal[k] * basis[k * n + j] } } }
            return result
        }
        let trace = try traceOfSquareRootOfProduct(rotated(a), rotated(b), dimension: n)
        let known = zip(a, b).reduce(0.0) { $0 + ($1.0 * $1.1).squareRoot() }
        // The zero eigenvalue comes back as rounding noise of ~1e-16, whose square root is ~1e-8:
        // the square root's own conditioning at zero, the same for any method (scipy's sqrtm too).
        #expect(abs(trace - known) < 1e-7, "\(trace) vs \(known)")
    }

    @Test func singularCovariancesGiveARealFiniteDistance() throws {
        // Fewer rows than dimensions: both covariances are singular; the square root must not fail.
        let a = randomRows(5, 16, seed: 4), b = randomRows(6, 16, seed: 5)
        let distance = try frechetDistance(a.withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: 16) },
                                           b.withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: 16) })
        #expect(distance.value.isFinite && distance.value > 0)
    }

    @Test func mergedStatisticsEqualTheWholeSetEvenFarFromZero() {
        let rows = randomRows(301, 6, seed: 6, offset: 1e6)
        let whole = rows.withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: 6) }
        var merged = GaussianStatistics(dimension: 6)
        for (start, end) in [(0, 100), (100, 101), (101, 301)] {
            merged = merged.merged(with: Array(rows[(start * 6)..<(end * 6)]).withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: 6) })
        }
        #expect(merged.count == 301)
        #expect(zip(merged.mean, whole.mean).allSatisfy { abs($0 - $1) <= 1e-9 * abs($1) })
        // Relative to the matrix's scale: the means themselves are only representable to ~1e-10 at 1e6.
        // (The one-pass formula sum x x^T - n mu mu^T would be off by ~1e-4 here.)
        let scale = (0..<6).map { whole.scatter[$0 * 7] }.max()!
        let worst = zip(merged.scatter, whole.scatter).map { abs($0 - $1) / scale }.max()!
        #expect(worst <= 1e-9, "worst relative difference \(worst)")
    }

    @Test func polynomialMMDMatchesItsNaiveTwin() {
        let x = randomRows(30, 7, seed: 7), y = randomRows(25, 7, seed: 8, offset: 0.3)
        let fast = polynomialMMD(x, rows: 30, y, rows: 25, dimension: 7)
        let naive = polynomialMMDNaive(x, rows: 30, y, rows: 25, dimension: 7)
        #expect(abs(fast - naive) <= 1e-12 * max(1, abs(naive)), "\(fast) vs \(naive)")
    }

    @Test func seededSubsetsAreReproducibleWithoutRepeats() throws {
        let first = try KernelSubsets(seed: 9, count: 4, size: 50, realCount: 80, fakeCount: 60)
        let again = try KernelSubsets(seed: 9, count: 4, size: 50, realCount: 80, fakeCount: 60)
        let other = try KernelSubsets(seed: 10, count: 4, size: 50, realCount: 80, fakeCount: 60)
        #expect(first == again && first != other)
        #expect(first.real.allSatisfy { Set($0).count == 50 && $0.allSatisfy { (0..<80).contains($0) } })
        #expect(first.fake.allSatisfy { Set($0).count == 50 && $0.allSatisfy { (0..<60).contains($0) } })
    }

    @Test func subsetsLargerThanASetAreAClearError() {
        #expect {
            _ = try KernelSubsets(seed: 1, count: 100, size: 1000, realCount: 2000, fakeCount: 999)
        } throws: { error in
            "\(error)".contains("subset size 1000") && "\(error)".contains("999 generated")
        }
    }
}
