// Spectral normalisation (Miyato et al. 2018) as PyTorch's `torch.nn.utils.spectral_norm` computes it. A kernel is
// viewed as a matrix W [rows, columns], rows being the layer's outputs; the vectors u [rows] and v [columns] are kept
// between steps, and one power iteration per step updates them from the current W:
//   v = normalize(W^T u), u = normalize(W v),   normalize(x) = x / max(||x||, 1e-12);
// the layer then uses W / sigma with sigma = u^T W v, u and v constants (the gradient flows through sigma to W).
// Without an iteration (inference) the stored u and v give sigma, as PyTorch's eval mode does.
// Shape legend (kernel -> W): Conv2D [O, C, K, K] -> [O, C K K]; Conv2DTranspose [C, O, K, K] -> [O, C K K]
// (PyTorch's dim 1); Dense [in, out] -> [out, in] (a Linear's weight).

import CBLAS
import Foundation

/// Which axis of a kernel holds the rows (outputs) of its matrix view.
public enum SpectralMatrixView: Sendable {
    /// [rows, ...] (a convolution's kernel).
    case outputsFirst
    /// [C, rows, ...] (a transposed convolution's kernel): W[o, c * K K + k] = kernel[c, o, k].
    case outputsSecond
    /// [columns, rows] (a dense kernel [in, out]).
    case outputsLast

    /// Rows and columns of the matrix view of a kernel of `shape`.
    func size(_ shape: [Int]) -> (rows: Int, columns: Int) {
        let count = shape.reduce(1, *)
        switch self {
        case .outputsFirst: return (shape[0], count / shape[0])
        case .outputsSecond: return (shape[1], count / shape[1])
        case .outputsLast: return (shape[1], shape[0])
        }
    }
}

// MARK: - Kernels

/// `y = W x` (`transposed`: `y = W^T x`) for the matrix view of `kernel`, through BLAS sgemv.
func spectralMatrixVector(_ y: UnsafeMutablePointer<Float>, kernel: UnsafePointer<Float>, shape: [Int], view: SpectralMatrixView,
                          _ x: UnsafePointer<Float>, transposed: Bool) {
    let (rows, columns) = view.size(shape)
    switch view {
    case .outputsFirst:  // row-major [rows, columns]
        cblas_sgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), 1, kernel, Int32(columns), x, 1, 0, y, 1)
    case .outputsLast:  // row-major [columns, rows] = W^T
        cblas_sgemv(CblasRowMajor, transposed ? CblasNoTrans : CblasTrans, Int32(columns), Int32(rows), 1, kernel, Int32(rows), x, 1, 0, y, 1)
    case .outputsSecond:  // shape[0] blocks, each row-major [rows, taps]
        let blocks = shape[0], taps = columns / blocks
        if !transposed { y.update(repeating: 0, count: rows) }
        for block in 0..<blocks {
            let matrix = kernel + block * rows * taps
            if transposed {  // (W^T x)[block * taps + k] = sum_o kernel[block, o, k] x[o]
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(taps), 1, matrix, Int32(taps), x, 1, 0, y + block * taps, 1)
            } else {  // (W x)[o] = sum_block sum_k kernel[block, o, k] x[block * taps + k]
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(taps), 1, matrix, Int32(taps), x + block * taps, 1, 1, y, 1)
            }
        }
    }
}

/// The naive twin of `spectralMatrixVector`: the matrix view's element (row, column) located in the kernel, sums in Double.
func spectralMatrixVectorNaive(_ y: UnsafeMutablePointer<Float>, kernel: UnsafePointer<Float>, shape: [Int], view: SpectralMatrixView,
                               _ x: UnsafePointer<Float>, transposed: Bool) {
    let (rows, columns) = view.size(shape)
    func element(_ row: Int, _ column: Int) -> Float {
        switch view {
        case .outputsFirst: return kernel[row * columns + column]
        case .outputsLast: return kernel[column * rows + row]
        case .outputsSecond:
            let taps = columns / shape[0]
            return kernel[((column / taps) * rows + row) * taps + column % taps]
        }
    }
    for output in 0..<(transposed ? columns : rows) {
        var total: Double = 0
        for inner in 0..<(transposed ? rows : columns) {
            total += Double(transposed ? element(inner, output) : element(output, inner)) * Double(x[inner])
        }
        y[output] = Float(total)
    }
}

/// `x / max(||x||, 1e-12)` in place (PyTorch's `F.normalize` with its epsilon).
func normalizeInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let norm = cblas_snrm2(Int32(count), x, 1)
    cblas_sscal(Int32(count), 1 / max(norm, 1e-12), x, 1)
}

/// One power iteration on the matrix view of `kernel`: `v = normalize(W^T u)`, then `u = normalize(W v)`, in place.
public func spectralPowerIteration(kernel: UnsafePointer<Float>, shape: [Int], view: SpectralMatrixView,
                                   u: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
    let (rows, columns) = view.size(shape)
    spectralMatrixVector(v, kernel: kernel, shape: shape, view: view, u, transposed: true)
    normalizeInPlace(v, count: columns)
    spectralMatrixVector(u, kernel: kernel, shape: shape, view: view, v, transposed: false)
    normalizeInPlace(u, count: rows)
}

/// `sigma = u^T W v` for the matrix view of `kernel`.
public func spectralNormEstimate(kernel: UnsafePointer<Float>, shape: [Int], view: SpectralMatrixView,
                                 u: UnsafePointer<Float>, v: UnsafePointer<Float>) -> Float {
    let rows = view.size(shape).rows
    var product = [Float](repeating: 0, count: rows)
    product.withUnsafeMutableBufferPointer { spectralMatrixVector($0.baseAddress!, kernel: kernel, shape: shape, view: view, v, transposed: false) }
    return cblas_sdot(Int32(rows), u, 1, product, 1)
}

// MARK: - The differentiable op

/// `weight / sigma`, `sigma = u^T W v` of the matrix view of `weight` with u and v constants.
/// Pullback: `dweight += g / sigma - (sum(g * weight) / sigma^2) u v^T` (u v^T laid out as the kernel).
public func spectrallyNormalized(_ weight: Variable, u: Tensor, v: Tensor, view: SpectralMatrixView) -> Variable {
    let shape = weight.shape
    let (rows, columns) = view.size(shape)
    guard u.count == rows, v.count == columns else { fatalError("spectral norm vectors \(u.shape), \(v.shape) for a kernel \(shape)") }
    let kernel = weight.value
    let sigma = spectralNormEstimate(kernel: kernel.readPointer, shape: shape, view: view, u: u.readPointer, v: v.readPointer)
    let count = kernel.count
    let output = Tensor(uninitialized: shape)
    let scale = 1 / sigma
    let source = kernel.readPointer, destination = output.sharedWritePointer
    for index in 0..<count { destination[index] = source[index] * scale }
    return Variable.record(output, inputs: [weight]) { gradient in
        let g = gradient.readPointer, w = kernel.readPointer
        let projection = cblas_sdot(Int32(count), g, 1, w, 1) * scale * scale
        let left = u.readPointer, right = v.readPointer
        weight.accumulateGradient { dw in
            switch view {
            case .outputsFirst:
                for row in 0..<rows {
                    let a = projection * left[row], base = row * columns
                    for column in 0..<columns { dw[base + column] += g[base + column] * scale - a * right[column] }
                }
            case .outputsLast:
                for column in 0..<columns {
                    let b = projection * right[column], base = column * rows
                    for row in 0..<rows { dw[base + row] += g[base + row] * scale - b * left[row] }
                }
            case .outputsSecond:
                let blocks = shape[0], taps = columns / blocks
                for block in 0..<blocks {
                    for row in 0..<rows {
                        let a = projection * left[row], base = (block * rows + row) * taps
                        for tap in 0..<taps { dw[base + tap] += g[base + tap] * scale - a * right[block * taps + tap] }
                    }
                }
            }
        }
    }
}

// MARK: - Layer side

/// The spectral normalisation of one layer's kernel: u [rows] and v [columns] as replicated state of the kernel's group
/// (`<layer>.u`, `<layer>.v`: the same on every rank, since they follow from the replicated kernel; checkpointed),
/// drawn at construction from the group's initializer as normalised standard normals, then brought near the top
/// singular vectors by 15 power iterations, as `torch.nn.utils.parametrizations.spectral_norm` does at registration
/// (random vectors alone can give sigma near 0 and a huge normalised kernel before the first step).
public final class SpectralNorm {
    public let kernel: Parameter
    public let u: Parameter
    public let v: Parameter
    public let view: SpectralMatrixView

    public init(_ group: ParameterGroup, name: String, kernel: Parameter, view: SpectralMatrixView) {
        self.kernel = kernel
        self.view = view
        let (rows, columns) = view.size(kernel.entry.shape)
        func unitVector(_ count: Int) -> Tensor {
            var vector = group.initializer.normalTensor([count])
            vector.withUnsafeMutableBufferPointer { normalizeInPlace($0.baseAddress!, count: count) }
            return vector
        }
        u = group.registerState("\(name).u", initial: unitVector(rows), agreement: .replicated)
        v = group.registerState("\(name).v", initial: unitVector(columns), agreement: .replicated)
        for _ in 0..<Self.initialIterations { powerIteration() }
    }

    /// Power iterations at construction.
    public static let initialIterations = 15

    /// One power iteration from the current kernel (once per training step, before the layer's forward passes).
    public func powerIteration() {
        let state = u.group.state.pointer
        spectralPowerIteration(kernel: kernel.value.readPointer, shape: kernel.entry.shape, view: view,
                               u: state + u.entry.offset, v: state + v.entry.offset)
    }

    /// sigma = u^T W v with the stored vectors.
    public var sigma: Float {
        spectralNormEstimate(kernel: kernel.value.readPointer, shape: kernel.entry.shape, view: view, u: u.value.readPointer, v: v.value.readPointer)
    }

    /// The normalised kernel W / sigma as a graph node (a constant when the group is frozen).
    public func callAsFunction() -> Variable { spectrallyNormalized(kernel.variable, u: u.value, v: v.value, view: view) }
}
