// Fréchet distance between two Gaussians fitted to feature sets (FID):
//   FID = |mu_a - mu_b|^2 + tr S_a + tr S_b - 2 tr sqrt(S_a S_b),
// with covariances dividing by N - 1, all in Float64. The trace of the square root is taken
// without complex numbers: S_a = V L V^T gives R = V sqrt(L) V^T, and R S_b R is symmetric
// positive semi-definite with the same eigenvalues as S_a S_b; tiny negative eigenvalues
// (rounding) are clipped to zero.

import TensorCore

/// FID and its terms.
public struct FrechetDistance: Equatable, Sendable, Codable {
    /// `meanTerm + traceA + traceB - 2 traceSquareRootProduct`.
    public let value: Double
    /// `|mu_a - mu_b|^2`
    public let meanTerm: Double
    public let traceA: Double
    public let traceB: Double
    /// `tr sqrt(S_a S_b)`
    public let traceSquareRootProduct: Double
}

/// The Fréchet distance between the Gaussians of two feature sets (each needs at least 2 rows).
public func frechetDistance(_ a: GaussianStatistics, _ b: GaussianStatistics) throws(EvaluationError) -> FrechetDistance {
    guard a.dimension == b.dimension else { throw EvaluationError("FID: feature dimensions differ (\(a.dimension) and \(b.dimension))") }
    guard a.count >= 2, b.count >= 2 else { throw EvaluationError("FID needs at least 2 samples per set (got \(a.count) and \(b.count))") }
    let n = a.dimension
    let (covarianceA, covarianceB) = (a.covariance, b.covariance)
    let meanTerm = zip(a.mean, b.mean).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    let traceA = (0..<n).reduce(0.0) { $0 + covarianceA[$1 * n + $1] }
    let traceB = (0..<n).reduce(0.0) { $0 + covarianceB[$1 * n + $1] }
    let traceRoot = try traceOfSquareRootOfProduct(covarianceA, covarianceB, dimension: n)
    return FrechetDistance(value: meanTerm + traceA + traceB - 2 * traceRoot, meanTerm: meanTerm, traceA: traceA, traceB: traceB,
                           traceSquareRootProduct: traceRoot)
}

/// `tr sqrt(A B)` for symmetric positive semi-definite A and B ([n, n], row-major).
public func traceOfSquareRootOfProduct(_ a: [Double], _ b: [Double], dimension n: Int) throws(EvaluationError) -> Double {
    let (values, vectors) = try symmetricEigendecomposition(a, dimension: n, vectors: true)
    // R = V^T diag(sqrt(max(l, 0))) V with the eigenvectors as the rows of V.
    var scaledVectors = vectors
    for k in 0..<n {
        let root = max(values[k], 0).squareRoot()
        for column in 0..<n { scaledVectors[k * n + column] *= root }
    }
    var root = [Double](repeating: 0, count: n * n)
    cblasTransposedTimes(vectors, scaledVectors, into: &root, dimension: n)
    let product = squareProduct(squareProduct(root, b, dimension: n), root, dimension: n)
    var symmetric = product
    for i in 0..<n { for j in 0..<n { symmetric[i * n + j] = 0.5 * (product[i * n + j] + product[j * n + i]) } }
    let eigenvalues = try symmetricEigendecomposition(symmetric, dimension: n, vectors: false).values
    return eigenvalues.reduce(0.0) { $0 + max($1, 0).squareRoot() }
}
