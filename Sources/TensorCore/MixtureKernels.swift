// Float64 kernels of a Gaussian mixture fitted by EM: the squared Mahalanobis distances of rows to
// centres through a covariance's Cholesky factor (the E-step), the weighted scatter of rows about a
// centre (the M-step's covariance), and the inverse of a triangular factor (scikit-learn's
// `precisions_cholesky_`). Each has a naive twin. Matrices are row-major [rows, columns] Doubles.

import CBLAS

/// Squared Mahalanobis distances `||L^-1 (x - c)||^2` of each row x to each centre c, for a covariance `L L^T`
/// (`factor` L lower-triangular [d, d]): [rowCount, centres] row-major, through BLAS dtrsm (half a general product).
/// One centre: the centred rows are solved (`(X - c) L^-T`) and their squares summed. Several (a tied covariance):
/// the rows and the centres are solved once each and the distances taken between them, as scikit-learn's
/// `X @ prec_chol - mu @ prec_chol`. The rows go through in chunks of `chunkRows`, so that centring, solving and
/// summing one chunk stay in cache; `scratch` holds a chunk, its capacity kept for the next call.
public func mahalanobisDistances(rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension d: Int,
                                 centres: [Double], factor: [Double], scratch: inout [Double], chunkRows: Int = 512) -> [Double] {
    let centreCount = centres.count / max(d, 1)
    var distances = [Double](repeating: 0, count: rowCount * centreCount)
    guard rowCount > 0, d > 0 else { return distances }
    var solvedCentres = centreCount == 1 ? [Double](repeating: 0, count: d) : centres
    if centreCount > 1 {
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(centreCount), Int32(d), 1, factor, Int32(d),
                    &solvedCentres, Int32(d))
    }
    if scratch.count < min(chunkRows, rowCount) * d { scratch = [Double](repeating: 0, count: min(chunkRows, rowCount) * d) }
    scratch.withUnsafeMutableBufferPointer { solved in
        for first in stride(from: 0, to: rowCount, by: chunkRows) {
            let count = min(chunkRows, rowCount - first)
            let chunk = rows.baseAddress! + first * d  // [count, d]
            if centreCount == 1 {
                for row in 0..<count { for i in 0..<d { solved[row * d + i] = chunk[row * d + i] - centres[i] } }
            } else {
                solved.baseAddress!.update(from: chunk, count: count * d)
            }
            cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(count), Int32(d), 1, factor, Int32(d),
                        solved.baseAddress, Int32(d))
            for row in 0..<count {
                let solvedRow = solved.baseAddress! + row * d
                if centreCount == 1 {
                    distances[first + row] = cblas_ddot(Int32(d), solvedRow, 1, solvedRow, 1)
                    continue
                }
                for centre in 0..<centreCount {
                    var sum = 0.0
                    for i in 0..<d {
                        let difference = solvedRow[i] - solvedCentres[centre * d + i]
                        sum += difference * difference
                    }
                    distances[(first + row) * centreCount + centre] = sum
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

/// Reused buffers of `addWeightedScatter` (the gathered rows, their product), so that an EM iteration allocates
/// nothing of the data's size.
public final class ScatterWorkspace {
    var gathered: [Double] = []
    var product: [Double] = []
    public init() {}
}

/// Adds `sum_n w_n (x_n - c)(x_n - c)^T` (symmetric [d, d]) into `packedLower`, its lower triangle row by row
/// (d (d + 1) / 2 values, what a sum across ranks needs to send): the rows `sqrt(w_n) (x_n - c)` gathered, then one
/// symmetric rank-k update (BLAS dsyrk: half a general product). Rows whose weight is below 2^-52 of the largest are
/// left out: together they change the sum by less than its own rounding (at most rowCount 2^-52 of its largest
/// term), and with the sharp responsibilities of high-dimensional data they are most rows.
public func addWeightedScatter(rows: UnsafeBufferPointer<Double>, rowCount: Int, dimension d: Int, weights: UnsafeBufferPointer<Double>,
                               weightStride: Int = 1, centre: UnsafeBufferPointer<Double>, into packedLower: UnsafeMutablePointer<Double>,
                               workspace: ScatterWorkspace) {
    var largest = 0.0
    for row in 0..<rowCount { largest = max(largest, weights[row * weightStride]) }
    let threshold = largest * Double.ulpOfOne
    if workspace.gathered.count < rowCount * d { workspace.gathered = [Double](repeating: 0, count: rowCount * d) }
    if workspace.product.count != d * d { workspace.product = [Double](repeating: 0, count: d * d) }
    var used = 0
    workspace.gathered.withUnsafeMutableBufferPointer { gathered in
        for row in 0..<rowCount {
            let weight = weights[row * weightStride]
            guard weight > threshold else { continue }
            let scale = weight.squareRoot(), source = rows.baseAddress! + row * d, target = gathered.baseAddress! + used * d
            for i in 0..<d { target[i] = scale * (source[i] - centre[i]) }
            used += 1
        }
    }
    guard used > 0 else { return }
    workspace.product.withUnsafeMutableBufferPointer { product in
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, Int32(d), Int32(used), 1, workspace.gathered, Int32(d), 0, product.baseAddress, Int32(d))
        var position = 0
        for i in 0..<d {
            let row = product.baseAddress! + i * d
            for j in 0...i { packedLower[position + j] += row[j] }
            position += i + 1
        }
    }
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

/// The lower triangle (with the diagonal) of a [d, d] matrix, row by row: d (d + 1) / 2 values
/// (`addWeightedScatter`'s and `unpackSymmetric`'s packing).
public func packedLowerTriangle(_ matrix: [Double], dimension d: Int) -> [Double] {
    var packed: [Double] = []
    packed.reserveCapacity(d * (d + 1) / 2)
    for i in 0..<d { packed += matrix[(i * d)...(i * d + i)] }
    return packed
}

/// Writes `S / divisor + shift I` into `matrix` [d, d] (both triangles), for the symmetric S whose lower triangle
/// `packedLower` holds row by row: the lower triangle row by row, then the upper mirrored from it in tiles that stay in cache.
public func unpackSymmetric(_ packedLower: UnsafePointer<Double>, dimension d: Int, dividedBy divisor: Double = 1, diagonalShift: Double = 0,
                            into matrix: UnsafeMutablePointer<Double>) {
    var position = 0
    for i in 0..<d {
        let row = matrix + i * d
        for j in 0...i { row[j] = packedLower[position + j] / divisor }
        row[i] += diagonalShift
        position += i + 1
    }
    let tile = 64
    for top in stride(from: 0, to: d, by: tile) {
        for left in stride(from: top, to: d, by: tile) {
            for i in top..<min(top + tile, d) {
                for j in max(left, i + 1)..<min(left + tile, d) { matrix[i * d + j] = matrix[j * d + i] }
            }
        }
    }
}
