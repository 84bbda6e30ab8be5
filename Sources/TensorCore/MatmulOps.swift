// Matrix products through BLAS (sgemm), with a naive twin for tests.
// Shape legend: A [m, k] (stored [k, m] when transposed), B [k, n] (stored
// [n, k] when transposed), C [m, n]; a leading batch axis multiplies pairwise.

import CBLAS

/// `C = op(A) op(B) + (accumulate ? C : 0)` through OpenBLAS, row-major.
public func matmulKernel(_ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                         m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
                         accumulate: Bool = false) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        if !accumulate { c.update(repeating: 0, count: m * n) }
        return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), 1, a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n),
                accumulate ? 1 : 0, c, Int32(n))
}

/// The naive twin of `matmulKernel`: three loops, accumulating in Double.
public func matmulNaive(_ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
                        accumulate: Bool = false) {
    for row in 0..<m {
        for column in 0..<n {
            var total: Double = accumulate ? Double(c[row * n + column]) : 0
            for inner in 0..<k {
                let left = transposeA ? a[inner * m + row] : a[row * k + inner]
                let right = transposeB ? b[column * k + inner] : b[inner * n + column]
                total += Double(left) * Double(right)
            }
            c[row * n + column] = Float(total)
        }
    }
}

/// `op(a) op(b)` for rank-2 operands, or pairwise over a shared leading batch axis for rank 3.
///
/// Pullback (no transposes): `dA += dC B^T`, `dB += A^T dC`; the transposed cases follow by symmetry.
public func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
    let rank = a.shape.count
    guard rank == b.shape.count, rank == 2 || rank == 3 else { fatalError("matmul of shapes \(a.shape) and \(b.shape)") }
    let batch = rank == 3 ? a.shape[0] : 1
    if rank == 3 && b.shape[0] != batch { fatalError("matmul batch sizes \(a.shape[0]) and \(b.shape[0]) differ") }
    let aRows = a.shape[rank - 2], aColumns = a.shape[rank - 1]
    let bRows = b.shape[rank - 2], bColumns = b.shape[rank - 1]
    let m = transposeA ? aColumns : aRows
    let k = transposeA ? aRows : aColumns
    let n = transposeB ? bRows : bColumns
    guard (transposeB ? bColumns : bRows) == k else {
        fatalError("matmul inner sizes differ: \(a.shape)\(transposeA ? "^T" : "") x \(b.shape)\(transposeB ? "^T" : "")")
    }
    let output = Tensor(uninitialized: (rank == 3 ? [batch] : []) + [m, n])
    for item in 0..<batch {
        matmulKernel(output.sharedWritePointer + item * m * n, a.value.readPointer + item * m * k,
                     b.value.readPointer + item * k * n, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
    }
    FlopCounter.add(2 * Double(batch * m * n * k))
    return Variable.record(output, inputs: [a, b]) { gradient in
        let dc = gradient.readPointer
        if a.requiresGradient {
            let bValue = b.value.readPointer
            a.accumulateGradient { da in
                for item in 0..<batch {
                    let dcItem = dc + item * m * n, bItem = bValue + item * k * n, daItem = da + item * m * k
                    if transposeA {  // dA[k, m] = op(B) dC^T
                        matmulKernel(daItem, bItem, dcItem, m: k, n: m, k: n, transposeA: transposeB, transposeB: true, accumulate: true)
                    } else {  // dA[m, k] = dC op(B)^T
                        matmulKernel(daItem, dcItem, bItem, m: m, n: k, k: n, transposeA: false, transposeB: !transposeB, accumulate: true)
                    }
                }
            }
            FlopCounter.add(2 * Double(batch * m * n * k))
        }
        if b.requiresGradient {
            let aValue = a.value.readPointer
            b.accumulateGradient { db in
                for item in 0..<batch {
                    let dcItem = dc + item * m * n, aItem = aValue + item * m * k, dbItem = db + item * k * n
                    if transposeB {  // dB[n, k] = dC^T op(A)
                        matmulKernel(dbItem, dcItem, aItem, m: n, n: k, k: m, transposeA: true, transposeB: transposeA, accumulate: true)
                    } else {  // dB[k, n] = op(A)^T dC
                        matmulKernel(dbItem, aItem, dcItem, m: k, n: n, k: m, transposeA: !transposeA, transposeB: false, accumulate: true)
                    }
                }
            }
            FlopCounter.add(2 * Double(batch * m * n * k))
        }
    }
}

/// A dense layer as one op: `activation(x kernel + bias)`, x [N, in], kernel [in, out], bias [out].
///
/// Pullback: `dz = dy * f'(y)`, then `dx += dz kernel^T`, `dkernel += x^T dz`, `dbias += sum_rows dz`.
public func dense<Function: OutputDifferentiableFunction>(_ x: Variable, kernel: Variable, bias: Variable?, activation: Function) -> Variable {
    guard x.shape.count == 2, kernel.shape.count == 2, x.shape[1] == kernel.shape[0] else {
        fatalError("dense: input \(x.shape) and kernel \(kernel.shape)")
    }
    let (rows, inner, columns) = (x.shape[0], kernel.shape[0], kernel.shape[1])
    let output = Tensor(uninitialized: [rows, columns])
    matmulKernel(output.sharedWritePointer, x.value.readPointer, kernel.value.readPointer, m: rows, n: columns, k: inner)
    if let bias {
        let values = output.sharedWritePointer, offsets = bias.value.readPointer
        for row in 0..<rows { for column in 0..<columns { values[row * columns + column] += offsets[column] } }
    }
    applyActivation(activation, to: output)
    FlopCounter.add(2 * Double(rows * inner * columns))
    let inputs = [x, kernel] + (bias.map { [$0] } ?? [])
    return Variable.record(output, inputs: inputs) { outputGradient in
        let gradient = activationPullback(activation, outputGradient, output: output)
        let dz = gradient.readPointer
        if x.requiresGradient {
            x.accumulateGradient { dx in
                matmulKernel(dx, dz, kernel.value.readPointer, m: rows, n: inner, k: columns, transposeB: true, accumulate: true)
            }
            FlopCounter.add(2 * Double(rows * inner * columns))
        }
        if kernel.requiresGradient {
            kernel.accumulateGradient { dw in
                matmulKernel(dw, x.value.readPointer, dz, m: inner, n: columns, k: rows, transposeA: true, accumulate: true)
            }
            FlopCounter.add(2 * Double(rows * inner * columns))
        }
        if let bias, bias.requiresGradient {
            bias.accumulateGradient { db in
                for row in 0..<rows { for column in 0..<columns { db[column] += dz[row * columns + column] } }
            }
        }
    }
}
