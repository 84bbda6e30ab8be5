// Float64 linear algebra for the metrics: symmetric products through BLAS and the
// symmetric eigendecomposition through LAPACK (dsyevd, shipped by OpenBLAS), each
// with a naive twin the tests compare against.
// Matrices are row-major [rows, columns] arrays of Double; symmetric ones are full (both triangles).

import CBLAS
import TensorCore

/// A failure of the metric math or its inputs.
public struct EvaluationError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `A B^T` for `A` [m, dimension] and `B` [n, dimension]: the [m, n] matrix of dot products of rows.
public func rowDotProducts(_ a: UnsafePointer<Double>, rows m: Int, _ b: UnsafePointer<Double>, rows n: Int, dimension: Int) -> [Double] {
    var result = [Double](repeating: 0, count: m * n)
    result.withUnsafeMutableBufferPointer { output in
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(dimension), 1,
                    a, Int32(dimension), b, Int32(dimension), 0, output.baseAddress, Int32(n))
    }
    return result
}

/// The upper triangle (diagonal included) of `A A^T` for `A` [m, dimension]: the [m, m] dot products of the rows
/// with each other, at half a general product's cost; the strict lower triangle is left at zero.
public func upperRowGram(_ a: UnsafePointer<Double>, rows m: Int, dimension: Int) -> [Double] {
    var result = [Double](repeating: 0, count: m * m)
    result.withUnsafeMutableBufferPointer { output in
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(m), Int32(dimension), 1, a, Int32(dimension), 0, output.baseAddress, Int32(m))
    }
    return result
}

/// Row-major product `A B` of square [n, n] matrices.
func squareProduct(_ a: [Double], _ b: [Double], dimension n: Int) -> [Double] {
    var result = [Double](repeating: 0, count: n * n)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &result, Int32(n))
    return result
}

/// Eigenvalues (ascending) and, if asked, eigenvectors of a symmetric [n, n] matrix (LAPACK dsyevd).
/// The eigenvectors come back as the rows of `vectors` ([n, n]: row k is the vector of eigenvalue k).
public func symmetricEigendecomposition(_ matrix: [Double], dimension n: Int, vectors wantVectors: Bool) throws(EvaluationError)
    -> (values: [Double], vectors: [Double]) {
    precondition(matrix.count == n * n, "symmetricEigendecomposition: \(matrix.count) values for a \(n)x\(n) matrix")
    guard n > 0 else { return ([], []) }
    // LAPACK is column-major: a symmetric matrix is its own transpose, and the column-major
    // eigenvector matrix read row-major holds one eigenvector per row.
    var a = matrix, values = [Double](repeating: 0, count: n)
    var job = Int8(UInt8(ascii: wantVectors ? "V" : "N")), upper = Int8(UInt8(ascii: "U"))
    var order = Int32(n), leading = Int32(n), info: Int32 = 0
    var workSize = Int32(-1), integerWorkSize = Int32(-1), workQuery = 0.0, integerWorkQuery: Int32 = 0
    dsyevd_(&job, &upper, &order, &a, &leading, &values, &workQuery, &workSize, &integerWorkQuery, &integerWorkSize, &info)
    guard info == 0 else { throw EvaluationError("LAPACK dsyevd workspace query failed (info \(info))") }
    workSize = Int32(workQuery.rounded(.up))
    integerWorkSize = max(integerWorkQuery, 1)
    var work = [Double](repeating: 0, count: Int(workSize)), integerWork = [Int32](repeating: 0, count: Int(integerWorkSize))
    dsyevd_(&job, &upper, &order, &a, &leading, &values, &work, &workSize, &integerWork, &integerWorkSize, &info)
    guard info == 0 else { throw EvaluationError("LAPACK dsyevd did not converge (info \(info)) on a \(n)x\(n) matrix") }
    guard values.allSatisfy(\.isFinite) else { throw EvaluationError("the covariance holds non-finite values (NaN or infinite features?)") }
    return (values, wantVectors ? a : [])
}

/// Naive twin of the eigenvalues: cyclic Jacobi rotations (slow, for tests on small matrices).
public func symmetricEigenvaluesNaive(_ matrix: [Double], dimension n: Int) -> [Double] {
    var a = matrix
    for _ in 0..<100 {
        var offDiagonal = 0.0
        for i in 0..<n { for j in 0..<n where i != j { offDiagonal += a[i * n + j] * a[i * n + j] } }
        if offDiagonal < 1e-30 { break }
        for p in 0..<n {
            for q in (p + 1)..<n where a[p * n + q] != 0 {
                let theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q])
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<n {
                    let kp = a[k * n + p], kq = a[k * n + q]
                    a[k * n + p] = c * kp - s * kq
                    a[k * n + q] = s * kp + c * kq
                }
                for k in 0..<n {
                    let pk = a[p * n + k], qk = a[q * n + k]
                    a[p * n + k] = c * pk - s * qk
                    a[q * n + k] = s * pk + c * qk
                }
            }
        }
    }
    return (0..<n).map { a[$0 * n + $0] }.sorted()
}

/// `A^T B` for row-major [n, n] matrices, written into `result`.
func cblasTransposedTimes(_ a: [Double], _ b: [Double], into result: inout [Double], dimension n: Int) {
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &result, Int32(n))
}
