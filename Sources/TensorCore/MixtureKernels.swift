// Float64 kernels of a Gaussian mixture fitted by EM: the squared Mahalanobis distances of rows to
// centres through a covariance's Cholesky factor (the E-step), the weighted scatter of rows about a
// centre (the M-step's covariance), and the inverse of a triangular factor (scikit-learn's
// `precisions_cholesky_`). Each has a naive twin. Matrices are row-major [rows, columns] Doubles.

import CBLAS

/// Squared Mahalanobis distances `||L^-1 (x - c)||^2` of each row x to each centre c, for a covariance `L L^T`
/// (`factor` L lower-triangular [d, d]): [rowCount, centres] row-major, through BLAS dtrsm (half a general product).
/// One centre: the centred rows are solved (`(X - c) L^-T`) and their squares summed. Several (a tied covariance):
/// the rows and the centres are solved once each and the distances taken between them, as scikit-learn's
/// `X @ prec_chol - mu @ prec_chol`. `scratch` holds the solved rows; its capacity is kept for the next call.
public func mahalanobisDistances(rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension d: Int,
                                 centres: [Double], factor: [Double], scratch: inout [Double]) -> [Double] {
    let centreCount = centres.count / max(d, 1)
    var distances = [Double](repeating: 0, count: rowCount * centreCount)
    guard rowCount > 0, d > 0 else { return distances }
    if scratch.count != rowCount * d { scratch = [Double](repeating: 0, count: rowCount * d) }
    scratch.withUnsafeMutableBufferPointer { solved in
        for index in 0..<(rowCount * d) { solved[index] = centreCount == 1 ? rows[index] - centres[index % d] : rows[index] }
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(rowCount), Int32(d), 1, factor, Int32(d),
                    solved.baseAddress, Int32(d))
    }
    var solvedCentres = centreCount == 1 ? [Double](repeating: 0, count: d) : centres
    if centreCount > 1 {
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(centreCount), Int32(d), 1, factor, Int32(d),
                    &solvedCentres, Int32(d))
    }
    scratch.withUnsafeBufferPointer { x in
        solvedCentres.withUnsafeBufferPointer { c in
            for row in 0..<rowCount {
                for centre in 0..<centreCount {
                    var sum = 0.0
                    for i in 0..<d {
                        let difference = x[row * d + i] - c[centre * d + i]
                        sum += difference * difference
                    }
                    distances[row * centreCount + centre] = sum
                }
            }
        }
    }
    return distances
}

/// Naive twin of `mahalanobisDistances`: forward substitution of `x - c` for each row and centre.
public func mahalanobisDistancesNaive(rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension d: Int,
                                      centres: [Double], factor: [Double]) -> [Double] {
    let centreCount = centres.count / max(d, 1)
    var distances = [Double](repeating: 0, count: rowCount * centreCount)
    var solved = [Double](repeating: 0, count: d)
    for row in 0..<rowCount {
        for centre in 0..<centreCount {
            var sum = 0.0
            for i in 0..<d {
                var value = rows[row * d + i] - centres[centre * d + i]
                for k in 0..<i { value -= factor[i * d + k] * solved[k] }
                solved[i] = value / factor[i * d + i]
                sum += solved[i] * solved[i]
            }
            distances[row * centreCount + centre] = sum
        }
    }
    return distances
}

/// `sum_n w_n (x_n - c)(x_n - c)^T` [d, d] (full, symmetric): the rows `sqrt(w_n) (x_n - c)` gathered, then one
/// symmetric rank-k update (BLAS dsyrk: half a general product). Rows whose weight is below 2^-52 of the largest are
/// left out: together they change the sum by less than its own rounding (at most rowCount 2^-52 of its largest
/// term), and with the sharp responsibilities of high-dimensional data they are most rows.
public func weightedScatter(rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension d: Int, weights: UnsafeBufferPointer<Double>,
                            weightStride: Int = 1, centre: [Double]) -> [Double] {
    var largest = 0.0
    for row in 0..<rowCount { largest = max(largest, weights[row * weightStride]) }
    let threshold = largest * Double.ulpOfOne
    var gathered: [Double] = []
    gathered.reserveCapacity(rowCount * d / 4)
    var used = 0
    for row in 0..<rowCount {
        let weight = weights[row * weightStride]
        guard weight > threshold else { continue }
        let scale = weight.squareRoot()
        for i in 0..<d { gathered.append(scale * (rows[row * d + i] - centre[i])) }
        used += 1
    }
    return gathered.withUnsafeBufferPointer { transposedProduct($0, rowCount: used, dimension: d) }
}

/// Naive twin of `weightedScatter` (every row, every pair of columns).
public func weightedScatterNaive(rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension d: Int, weights: UnsafeBufferPointer<Double>,
                                 weightStride: Int = 1, centre: [Double]) -> [Double] {
    var scatter = [Double](repeating: 0, count: d * d)
    for row in 0..<rowCount {
        let weight = weights[row * weightStride]
        for i in 0..<d {
            for j in 0..<d { scatter[i * d + j] += weight * (rows[row * d + i] - centre[i]) * (rows[row * d + j] - centre[j]) }
        }
    }
    return scatter
}

/// Squared Euclidean distances of each row to each centre, [rowCount, centres]: `|x|^2 - 2 x.c + |c|^2` with the
/// products through BLAS dgemm (as scikit-learn's k-means), clamped at zero against rounding.
public func squaredEuclideanDistances(rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension d: Int, centres: [Double]) -> [Double] {
    let centreCount = centres.count / max(d, 1)
    var distances = [Double](repeating: 0, count: rowCount * centreCount)
    guard rowCount > 0, centreCount > 0, d > 0 else { return distances }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rowCount), Int32(centreCount), Int32(d), -2, rows.baseAddress, Int32(d),
                centres, Int32(d), 0, &distances, Int32(centreCount))
    let centreNorms = (0..<centreCount).map { c in (0..<d).reduce(0.0) { $0 + centres[c * d + $1] * centres[c * d + $1] } }
    for row in 0..<rowCount {
        var norm = 0.0
        for i in 0..<d { norm += rows[row * d + i] * rows[row * d + i] }
        for c in 0..<centreCount { distances[row * centreCount + c] = max(distances[row * centreCount + c] + norm + centreNorms[c], 0) }
    }
    return distances
}

/// Naive twin of `squaredEuclideanDistances`: the differences squared and summed.
public func squaredEuclideanDistancesNaive(rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension d: Int, centres: [Double]) -> [Double] {
    let centreCount = centres.count / max(d, 1)
    var distances = [Double](repeating: 0, count: rowCount * centreCount)
    for row in 0..<rowCount {
        for c in 0..<centreCount {
            for i in 0..<d { distances[row * centreCount + c] += (rows[row * d + i] - centres[c * d + i]) * (rows[row * d + i] - centres[c * d + i]) }
        }
    }
    return distances
}

/// `W^T X` [columns, d] for weights W [n, columns] and rows X [n, d] (BLAS dgemm): each column's weighted sum of the rows.
public func weightedRowSums(weights: UnsafeBufferPointer<Double>, columns k: Int, rows: UnsafeBufferPointer<Double>, dimension d: Int) -> [Double] {
    var sums = [Double](repeating: 0, count: k * d)
    let count = rows.count / max(d, 1)
    guard count > 0, k > 0, d > 0 else { return sums }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(d), Int32(count), 1, weights.baseAddress, Int32(k),
                rows.baseAddress, Int32(d), 0, &sums, Int32(d))
    return sums
}

/// Naive twin of `weightedRowSums`.
public func weightedRowSumsNaive(weights: UnsafeBufferPointer<Double>, columns k: Int, rows: UnsafeBufferPointer<Double>, dimension d: Int) -> [Double] {
    var sums = [Double](repeating: 0, count: k * d)
    for row in 0..<(rows.count / max(d, 1)) { for j in 0..<k { for i in 0..<d { sums[j * d + i] += weights[row * k + j] * rows[row * d + i] } } }
    return sums
}

/// The inverse of a lower-triangular [d, d] factor L (LAPACK dtrtri), itself lower-triangular.
public func lowerTriangularInverse(_ factor: [Double], dimension d: Int) -> [Double] {
    // Row-major lower = column-major upper.
    var a = factor
    var (order, info) = (Int32(d), Int32(0))
    "U".withCString { uplo in "N".withCString { diagonal in dtrtri_(uplo, diagonal, &order, &a, &order, &info) } }
    precondition(info == 0, "lowerTriangularInverse: a zero on the diagonal at \(info - 1)")
    return a
}

/// Naive twin of `lowerTriangularInverse`: forward substitution of each column of the identity.
public func lowerTriangularInverseNaive(_ factor: [Double], dimension d: Int) -> [Double] {
    var inverse = [Double](repeating: 0, count: d * d)
    for column in 0..<d {
        for i in column..<d {
            var value = i == column ? 1.0 : 0.0
            for k in column..<i { value -= factor[i * d + k] * inverse[k * d + column] }
            inverse[i * d + column] = value / factor[i * d + i]
        }
    }
    return inverse
}

/// The upper triangle (with the diagonal) of a symmetric [d, d] matrix, row by row: d (d + 1) / 2 values
/// (what a sum across ranks of symmetric matrices needs to send).
public func packedUpperTriangle(_ matrix: [Double], dimension d: Int) -> [Double] {
    var packed: [Double] = []
    packed.reserveCapacity(d * (d + 1) / 2)
    for i in 0..<d { packed += matrix[(i * d + i)..<((i + 1) * d)] }
    return packed
}

/// The symmetric [d, d] matrix of a packed upper triangle (`packedUpperTriangle`'s inverse).
public func unpackedSymmetric(_ packed: ArraySlice<Double>, dimension d: Int) -> [Double] {
    var matrix = [Double](repeating: 0, count: d * d)
    var position = packed.startIndex
    for i in 0..<d {
        for j in i..<d {
            matrix[i * d + j] = packed[position]
            matrix[j * d + i] = packed[position]
            position += 1
        }
    }
    return matrix
}
