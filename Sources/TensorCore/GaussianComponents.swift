// The components of a Gaussian mixture in scikit-learn's four covariance forms, in Float64: their log-densities
// (the E-step, through the Cholesky factor of each covariance), their covariances from summed weighted scatter
// (the M-step), scikit-learn's precisions (export and initial files), and draws from them. The mixture model
// (Models/GaussianMixture.swift) runs EM over these; what crosses ranks is the scatter, packed per form.
//
//   full       k matrices [d, d]      scatter: k packed lower triangles        factors: k
//   tied       one matrix [d, d]      scatter: one packed lower triangle (sum) factors: 1
//   diag       k diagonals [k, d]     scatter: k diagonals [k, d]
//   spherical  k variances [k]        scatter: k diagonals [k, d], averaged

import Foundation

/// scikit-learn's covariance types.
public enum CovarianceType: String, CaseIterable, Sendable {
    case full, diag, spherical, tied

    /// The shape of the covariances (and of scikit-learn's precisions) for k components of d values.
    public func shape(components k: Int, dimension d: Int) -> [Int] {
        switch self {
        case .full: [k, d, d]
        case .diag: [k, d]
        case .spherical: [k]
        case .tied: [d, d]
        }
    }

    /// The number of [d, d] matrices (and Cholesky factors): k for full, 1 for tied, 0 otherwise.
    public func matrices(components k: Int) -> Int {
        switch self {
        case .full: k
        case .tied: 1
        case .diag, .spherical: 0
        }
    }

    /// Free parameters of the covariances (scikit-learn's `_n_parameters` has them plus k d means and k - 1 weights).
    public func parameterCount(components k: Int, dimension d: Int) -> Int {
        switch self {
        case .full: k * d * (d + 1) / 2
        case .diag: k * d
        case .tied: d * (d + 1) / 2
        case .spherical: k
        }
    }
}

/// Why covariances cannot serve as a mixture's: a matrix that is not positive definite, or a variance not above zero.
public enum CovarianceError: Error, Equatable, Sendable {
    /// Matrix `matrix` (a component's; 0 for the tied one) fails to factor at pivot `pivot`.
    case notPositiveDefinite(matrix: Int, pivot: Int)
    /// Component `component`'s variance `value` is not above zero.
    case varianceNotPositive(component: Int, value: Double)
}

/// k components of d values: covariances in one of scikit-learn's forms, with the lower Cholesky factors the
/// densities use (full and tied). Immutable: the M-step makes new components.
public struct GaussianComponents {
    public let type: CovarianceType
    public let components: Int
    public let dimension: Int
    /// In `type.shape(components:dimension:)`, row-major; matrices symmetric with both triangles.
    public let covariances: [Double]
    /// Lower-triangular L with `S = L L^T`, [d, d] each (`type.matrices` of them).
    public let factors: [[Double]]

    /// Components of the given covariances, factored (full and tied) or checked positive (diag and spherical).
    public init(type: CovarianceType, components k: Int, dimension d: Int, covariances: [Double]) throws(CovarianceError) {
        precondition(covariances.count == type.shape(components: k, dimension: d).reduce(1, *), "GaussianComponents: \(covariances.count) values")
        (self.type, components, dimension, self.covariances) = (type, k, d, covariances)
        var factors: [[Double]] = []
        for j in 0..<type.matrices(components: k) {
            var factor = Array(covariances[(j * d * d)..<((j + 1) * d * d)])
            if let pivot = factor.withUnsafeMutableBufferPointer({ factorCholeskyInPlace($0.baseAddress!, dimension: d) }) {
                throw .notPositiveDefinite(matrix: j, pivot: pivot)
            }
            factors.append(factor)
        }
        if let bad = type.matrices(components: k) == 0 ? covariances.firstIndex(where: { !($0 > 0) }) : nil {
            throw .varianceNotPositive(component: type == .diag ? bad / d : bad, value: covariances[bad])
        }
        self.factors = factors
    }

    /// The components of scikit-learn's precisions (`precisions_init`, in `type.shape`): the covariances are their inverses.
    public init(type: CovarianceType, components k: Int, dimension d: Int, precisions: [Double]) throws(CovarianceError) {
        var covariances: [Double] = []
        for j in 0..<type.matrices(components: k) {
            let (factor, pivot) = choleskyFactor(Array(precisions[(j * d * d)..<((j + 1) * d * d)]), dimension: d)
            guard let factor else { throw .notPositiveDefinite(matrix: j, pivot: pivot) }
            // S = P^-1 = L^-T L^-1 for P = L L^T: the scatter of the rows of L^-1.
            covariances += lowerTriangularInverse(factor, dimension: d).withUnsafeBufferPointer { transposedProduct($0, rowCount: d, dimension: d) }
        }
        if type.matrices(components: k) == 0 {
            if let bad = precisions.firstIndex(where: { !($0 > 0) }) {
                throw .varianceNotPositive(component: type == .diag ? bad / d : bad, value: precisions[bad])
            }
            covariances = precisions.map { 1 / $0 }
        }
        try self.init(type: type, components: k, dimension: d, covariances: covariances)
    }

    // MARK: - E-step

    /// `log w_j + log N(x_n; mu_j, S_j)` for rows [n, d], means [k, d] and `logWeights` [k]: [n, k].
    public func weightedLogDensities(rows: UnsafeBufferPointer<Double>, means: [Double], logWeights: [Double]) -> [Double] {
        let (k, d) = (components, dimension)
        let count = rows.count / d
        let constant = Double(d) * log(2 * Double.pi)
        var result = [Double](repeating: 0, count: count * k)
        switch type {
        case .full, .tied:
            var scratch: [Double] = []
            for (j, factor) in factors.enumerated() {
                let logDeterminant = (0..<d).reduce(0.0) { $0 + 2 * log(factor[$1 * d + $1]) }
                let centres = type == .full ? Array(means[(j * d)..<((j + 1) * d)]) : means
                let distances = mahalanobisDistances(rows: rows, rowCount: count, dimension: d, centres: centres, factor: factor, scratch: &scratch)
                let owned = type == .full ? j..<(j + 1) : 0..<k
                for row in 0..<count {
                    for (offset, component) in owned.enumerated() {
                        let distance = distances[row * owned.count + offset]
                        result[row * k + component] = logWeights[component] - 0.5 * (constant + logDeterminant + distance)
                    }
                }
            }
        case .diag, .spherical:
            for j in 0..<k {
                let variances = type == .diag ? Array(covariances[(j * d)..<((j + 1) * d)]) : [Double](repeating: covariances[j], count: d)
                let logDeterminant = variances.reduce(0) { $0 + log($1) }
                for row in 0..<count {
                    var distance = 0.0
                    for i in 0..<d {
                        let difference = rows[row * d + i] - means[j * d + i]
                        distance += difference * difference / variances[i]
                    }
                    result[row * k + j] = logWeights[j] - 0.5 * (constant + logDeterminant + distance)
                }
            }
        }
        return result
    }

    // MARK: - M-step

    /// `sum_n r_nj (x_n - mu_j)(x_n - mu_j)^T` of rows [n, d] with responsibilities [n, k] about means [k, d], as the
    /// form keeps it (see the table above): what one rank sends to the sum across ranks.
    public static func scatter(_ type: CovarianceType, rows: UnsafeBufferPointer<Double>, responsibilities: [Double], means: [Double],
                               components k: Int, dimension d: Int, workspace: ScatterWorkspace) -> [Double] {
        let count = rows.count / d
        guard type.matrices(components: k) > 0 else {
            var scatter = [Double](repeating: 0, count: k * d)
            for row in 0..<count {
                for j in 0..<k where responsibilities[row * k + j] > 0 {
                    let weight = responsibilities[row * k + j]
                    for i in 0..<d {
                        let difference = rows[row * d + i] - means[j * d + i]
                        scatter[j * d + i] += weight * difference * difference
                    }
                }
            }
            return scatter
        }
        let packedSize = d * (d + 1) / 2
        var scatter = [Double](repeating: 0, count: type.matrices(components: k) * packedSize)
        responsibilities.withUnsafeBufferPointer { r in
            means.withUnsafeBufferPointer { means in
                scatter.withUnsafeMutableBufferPointer { scatter in
                    for j in 0..<k {
                        addWeightedScatter(rows: rows, rowCount: count, dimension: d, weights: UnsafeBufferPointer(rebasing: r[j...]), weightStride: k,
                                           centre: UnsafeBufferPointer(rebasing: means[(j * d)..<((j + 1) * d)]),
                                           into: scatter.baseAddress! + (type == .full ? j : 0) * packedSize, workspace: workspace)
                    }
                }
            }
        }
        return scatter
    }

    /// The components of the scatter summed over every rank and the counts `n_j` (scikit-learn's M-step): each
    /// component's scatter over its count (tied: the sum over all counts), plus `regularization` on the diagonal.
    public init(type: CovarianceType, summedScatter scatter: [Double], counts: [Double], dimension d: Int,
                regularization: Double) throws(CovarianceError) {
        let k = counts.count
        guard type.matrices(components: k) > 0 else {
            let variances = (0..<(k * d)).map { scatter[$0] / counts[$0 / d] + regularization }
            try self.init(type: type, components: k, dimension: d, covariances: type == .diag ? variances
                          : (0..<k).map { j in variances[(j * d)..<((j + 1) * d)].reduce(0, +) / Double(d) })
            return
        }
        let packedSize = d * (d + 1) / 2
        var covariances = [Double](repeating: 0, count: type.matrices(components: k) * d * d)
        scatter.withUnsafeBufferPointer { scatter in
            covariances.withUnsafeMutableBufferPointer { covariances in
                for j in 0..<type.matrices(components: k) {
                    unpackSymmetric(scatter.baseAddress! + j * packedSize, dimension: d, dividedBy: type == .full ? counts[j] : counts.reduce(0, +),
                                    diagonalShift: regularization, into: covariances.baseAddress! + j * d * d)
                }
            }
        }
        try self.init(type: type, components: k, dimension: d, covariances: covariances)
    }

    // MARK: - Precisions and draws

    /// scikit-learn's `precisions_cholesky_` (full and tied: the upper-triangular `(L^-1)^T`; else `1 / sqrt(S)`) and
    /// `precisions_` (`L^-T L^-1`; else `1 / S`), in `type.shape`.
    public var precisions: (cholesky: [Double], precisions: [Double]) {
        guard type.matrices(components: components) > 0 else {
            return (covariances.map { 1 / $0.squareRoot() }, covariances.map { 1 / $0 })
        }
        let d = dimension
        var cholesky: [Double] = [], precisions: [Double] = []
        for factor in factors {
            let inverse = lowerTriangularInverse(factor, dimension: d)
            for row in 0..<d { for column in 0..<d { cholesky.append(inverse[column * d + row]) } }
            precisions += inverse.withUnsafeBufferPointer { transposedProduct($0, rowCount: d, dimension: d) }
        }
        return (cholesky, precisions)
    }

    /// `mean + A z` for component j, with `A A^T` its covariance (the Cholesky factor, or the standard deviations).
    public func draw(component j: Int, mean: ArraySlice<Double>, standardNormal z: [Double]) -> [Double] {
        let d = dimension
        return (0..<d).map { i in
            var value = mean[mean.startIndex + i]
            switch type {
            case .full, .tied:
                let factor = factors[type == .full ? j : 0]
                for m in 0...i { value += factor[i * d + m] * z[m] }
            case .diag: value += covariances[j * d + i].squareRoot() * z[i]
            case .spherical: value += covariances[j].squareRoot() * z[i]
            }
            return value
        }
    }
}
