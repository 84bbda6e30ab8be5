// Float64 matrix kernels shared by the metrics (FID's covariances) and the density models (Gaussian,
// mixture): scatter matrices through BLAS and Cholesky factors through LAPACK, each with a naive twin; singular
// values through LAPACK (what spectral normalisation's estimate is checked against).
// Matrices are row-major [rows, columns] arrays of Double; symmetric ones are full (both triangles).

import CBLAS

/// `A^T A` for `A` [rows, dimension] (row-major): the [dimension, dimension] scatter of the rows.
public func transposedProduct(_ rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension: Int) -> [Double] {
    var result = [Double](repeating: 0, count: dimension * dimension)
    guard rowCount > 0, dimension > 0 else { return result }
    result.withUnsafeMutableBufferPointer { output in
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(dimension), Int32(rowCount), 1,
                    rows.baseAddress, Int32(dimension), 0, output.baseAddress, Int32(dimension))
        mirrorUpperTriangle(output.baseAddress!, dimension: dimension)
    }
    return result
}

/// Naive twin of `transposedProduct`.
public func transposedProductNaive(_ rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension: Int) -> [Double] {
    var result = [Double](repeating: 0, count: dimension * dimension)
    for i in 0..<dimension {
        for j in 0..<dimension {
            var sum = 0.0
            for row in 0..<rowCount { sum += rows[row * dimension + i] * rows[row * dimension + j] }
            result[i * dimension + j] = sum
        }
    }
    return result
}

/// Copies the upper triangle of a row-major [n, n] matrix onto its lower triangle.
public func mirrorUpperTriangle(_ matrix: UnsafeMutablePointer<Double>, dimension n: Int) {
    for i in 0..<n { for j in 0..<i { matrix[i * n + j] = matrix[j * n + i] } }
}

/// The lower-triangular Cholesky factor L of a symmetric positive-definite [n, n] matrix (`A = L L^T`, LAPACK
/// dpotrf), or nil when the matrix is not positive definite; with the index of the first pivot that failed.
public func choleskyFactor(_ matrix: [Double], dimension n: Int) -> (factor: [Double]?, failedPivot: Int) {
    var a = matrix
    if let failedPivot = a.withUnsafeMutableBufferPointer({ factorCholeskyInPlace($0.baseAddress!, dimension: n) }) { return (nil, failedPivot) }
    return (a, -1)
}

/// Overwrites the symmetric positive-definite [n, n] `matrix` (only its lower triangle is read) with its lower
/// Cholesky factor L, the upper triangle zeroed; returns the index of the first pivot that failed (the matrix is
/// not positive definite), else nil.
public func factorCholeskyInPlace(_ matrix: UnsafeMutablePointer<Double>, dimension n: Int) -> Int? {
    // Row-major lower = column-major upper: ask LAPACK for the upper factor of the same bytes.
    var (order, info) = (Int32(n), Int32(0))
    "U".withCString { uplo in dpotrf_(uplo, &order, matrix, &order, &info) }
    guard info == 0 else { return Int(info) - 1 }
    for i in 0..<n { (matrix + i * n + i + 1).update(repeating: 0, count: n - i - 1) }
    return nil
}

/// Naive twin of `choleskyFactor` (the Cholesky-Banachiewicz recurrence).
public func choleskyFactorNaive(_ matrix: [Double], dimension n: Int) -> [Double]? {
    var l = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in 0...i {
            var sum = matrix[i * n + j]
            for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
            if i == j {
                guard sum > 0 else { return nil }
                l[i * n + i] = sum.squareRoot()
            } else {
                l[i * n + j] = sum / l[j * n + j]
            }
        }
    }
    return l
}

/// tr(S^-1 M) for S = L L^T (`factor` L, lower-triangular [n, n]) and M [n, n]: two triangular solves (BLAS dtrsm).
public func traceOfInverseProduct(factor: [Double], matrix: [Double], dimension n: Int) -> Double {
    var solved = matrix
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(n), Int32(n), 1, factor, Int32(n), &solved, Int32(n))
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, Int32(n), Int32(n), 1, factor, Int32(n), &solved, Int32(n))
    return (0..<n).reduce(0) { $0 + solved[$1 * n + $1] }
}

/// Naive twin of `traceOfInverseProduct`: S^-1 formed by Gauss-Jordan elimination of L L^T.
public func traceOfInverseProductNaive(factor: [Double], matrix: [Double], dimension n: Int) -> Double {
    var s = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in 0..<n { for k in 0..<n { s[i * n + j] += factor[i * n + k] * factor[j * n + k] } } }
    var inverse = (0..<(n * n)).map { $0 / n == $0 % n ? 1.0 : 0.0 }
    for column in 0..<n {
        let pivot = s[column * n + column]
        for j in 0..<n { s[column * n + j] /= pivot; inverse[column * n + j] /= pivot }
        for row in 0..<n where row != column {
            let factor = s[row * n + column]
            for j in 0..<n { s[row * n + j] -= factor * s[column * n + j]; inverse[row * n + j] -= factor * inverse[column * n + j] }
        }
    }
    var trace = 0.0
    for i in 0..<n { for k in 0..<n { trace += inverse[i * n + k] * matrix[k * n + i] } }
    return trace
}

// MARK: - Gaussian statistics

/// Count, mean and centred scatter `sum (x - mean)(x - mean)^T` of a set of feature rows.
/// Parts merge exactly (Chan's formula), so sharded sets give the statistics of the whole set.
public struct GaussianStatistics: Equatable, Sendable {
    public var count: Int
    public let dimension: Int
    /// [dimension]
    public var mean: [Double]
    /// [dimension, dimension], row-major, symmetric.
    public var scatter: [Double]

    /// The statistics of no rows.
    public init(dimension: Int) {
        self.dimension = dimension
        count = 0
        mean = [Double](repeating: 0, count: dimension)
        scatter = [Double](repeating: 0, count: dimension * dimension)
    }

    /// Three passes over `rows` ([count, dimension], row-major): the mean, its correction, then the scatter of the centred rows.
    public init(rows: UnsafeBufferPointer<Double>, dimension: Int) {
        precondition(dimension > 0 && rows.count % dimension == 0, "GaussianStatistics: \(rows.count) values are not rows of \(dimension)")
        self.dimension = dimension
        count = rows.count / dimension
        mean = [Double](repeating: 0, count: dimension)
        for row in 0..<count { for column in 0..<dimension { mean[column] += rows[row * dimension + column] } }
        let scale = count > 0 ? 1 / Double(count) : 0
        for column in 0..<dimension { mean[column] *= scale }
        // A second pass corrects the mean by the mean of the residuals (the sum's rounding when the
        // values sit far from zero), then centres the rows.
        var centred = [Double](repeating: 0, count: rows.count)
        var correction = [Double](repeating: 0, count: dimension)
        for row in 0..<count { for column in 0..<dimension { correction[column] += rows[row * dimension + column] - mean[column] } }
        for column in 0..<dimension { mean[column] += correction[column] * scale }
        for row in 0..<count { for column in 0..<dimension { centred[row * dimension + column] = rows[row * dimension + column] - mean[column] } }
        let (rowCount, columns) = (count, dimension)
        scatter = centred.withUnsafeBufferPointer { transposedProduct($0, rowCount: rowCount, dimension: columns) }
    }

    /// Covariance with N - 1 in the denominator.
    public var covariance: [Double] {
        let scale = 1 / Double(max(count - 1, 1))
        return scatter.map { $0 * scale }
    }

    /// The statistics of the union of two sets (Chan et al.): exact, whatever the means' size.
    public func merged(with other: GaussianStatistics) -> GaussianStatistics {
        precondition(dimension == other.dimension, "GaussianStatistics.merged: dimensions \(dimension) and \(other.dimension)")
        if other.count == 0 { return self }
        if count == 0 { return other }
        var result = GaussianStatistics(dimension: dimension)
        let total = Double(count + other.count), weight = Double(count) * Double(other.count) / total
        result.count = count + other.count
        let delta = zip(other.mean, mean).map { $0 - $1 }
        for i in 0..<dimension {
            result.mean[i] = mean[i] + delta[i] * Double(other.count) / total
            for j in 0..<dimension {
                result.scatter[i * dimension + j] = scatter[i * dimension + j] + other.scatter[i * dimension + j] + weight * delta[i] * delta[j]
            }
        }
        return result
    }
}

extension GaussianStatistics {
    /// The statistics of every rank's rows together, through two sums across ranks (`sumAcrossRanks` sums an array
    /// in place over all ranks): the global count and mean first, then each rank's scatter about the global mean.
    /// Every rank gets the same result; one rank alone gets `init(rows:dimension:)`'s.
    public static func sharded(rows: UnsafeBufferPointer<Double>, dimension d: Int,
                               sumAcrossRanks: (inout [Double]) throws -> Void) rethrows -> GaussianStatistics {
        let local = GaussianStatistics(rows: rows, dimension: d)
        var totals = [Double(local.count)] + local.mean.map { $0 * Double(local.count) }
        try sumAcrossRanks(&totals)
        var global = GaussianStatistics(dimension: d)
        global.count = Int(totals[0])
        global.mean = totals.dropFirst().map { $0 / max(totals[0], 1) }
        var scatter = local.scatter
        if local.count > 0 {
            let delta = zip(local.mean, global.mean).map { $0 - $1 }
            for i in 0..<d { for j in 0..<d { scatter[i * d + j] += Double(local.count) * delta[i] * delta[j] } }
        }
        try sumAcrossRanks(&scatter)
        global.scatter = scatter
        return global
    }
}

/// The singular values (descending) of a row-major [rows, columns] matrix, through LAPACK dgesvd.
public func singularValues(_ matrix: [Double], rows: Int, columns: Int) -> [Double] {
    // Row-major [rows, columns] is column-major [columns, rows], the transpose: the same singular values.
    var a = matrix
    var (m, n) = (Int32(columns), Int32(rows))
    var values = [Double](repeating: 0, count: min(rows, columns))
    var (one, info, workSize) = (Int32(1), Int32(0), Int32(-1))
    var (leftVectors, rightVectors, query) = ([0.0], [0.0], [0.0])
    "N".withCString { job in dgesvd_(job, job, &m, &n, &a, &m, &values, &leftVectors, &one, &rightVectors, &one, &query, &workSize, &info) }
    var work = [Double](repeating: 0, count: Int(query[0]))
    workSize = Int32(work.count)
    "N".withCString { job in dgesvd_(job, job, &m, &n, &a, &m, &values, &leftVectors, &one, &rightVectors, &one, &work, &workSize, &info) }
    guard info == 0 else { fatalError("LAPACK dgesvd failed (info \(info)) on a \(rows)x\(columns) matrix") }
    return values
}
