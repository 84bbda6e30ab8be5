import Foundation
import Testing
@testable import TensorCore

/// Spectral normalisation (SpectralNormalization.swift) and the SVD it is checked against.
@Suite struct SpectralNormTests {
    static let cases: [([Int], SpectralMatrixView)] = [([6, 3, 2, 2], .outputsFirst), ([3, 5, 2, 2], .outputsSecond), ([7, 4], .outputsLast)]

    /// The matrix view as the naive twin reads it, row-major [rows, columns] in Double.
    static func matrix(_ kernel: Tensor, view: SpectralMatrixView) -> (values: [Double], rows: Int, columns: Int) {
        let (rows, columns) = view.size(kernel.shape)
        var values = [Double](repeating: 0, count: rows * columns)
        var unit = [Float](repeating: 0, count: columns), column = [Float](repeating: 0, count: rows)
        for index in 0..<columns {
            unit = [Float](repeating: 0, count: columns)
            unit[index] = 1
            unit.withUnsafeBufferPointer { x in
                column.withUnsafeMutableBufferPointer {
                    spectralMatrixVectorNaive($0.baseAddress!, kernel: kernel.readPointer, shape: kernel.shape, view: view, x.baseAddress!, transposed: false)
                }
            }
            for row in 0..<rows { values[row * columns + index] = Double(column[row]) }
        }
        return (values, rows, columns)
    }

    @Test func singularValuesMatchAKnownMatrix() {
        // [[3, 0], [0, -5], [0, 0]] has singular values 5 and 3; a rotation of it the same.
        let diagonal = singularValues([3, 0, 0, -5, 0, 0], rows: 3, columns: 2)
        #expect(abs(diagonal[0] - 5) < 1e-12 && abs(diagonal[1] - 3) < 1e-12, "\(diagonal)")
        let (c, s) = (cos(0.3), sin(0.3))
        let rotated = [3 * c, -5 * s, 3 * s, 5 * c]  // [[c, -s], [s, c]] diag(3, 5) [[1, 0], [0, 1]] with a sign
        let values = singularValues(rotated, rows: 2, columns: 2)
        #expect(abs(values[0] - 5) < 1e-12 && abs(values[1] - 3) < 1e-12, "\(values)")
    }

    /// The BLAS products of each matrix view against the naive twin's, both ways.
    @Test(arguments: cases)
    func matrixVectorProductsMatchTheNaiveTwin(shape: [Int], view: SpectralMatrixView) {
        let kernel = randomTensor(shape, seed: 3)
        let (rows, columns) = view.size(shape)
        for transposed in [false, true] {
            let x = randomTensor([transposed ? rows : columns], seed: 4)
            var fast = [Float](repeating: 9, count: transposed ? columns : rows), naive = fast
            fast.withUnsafeMutableBufferPointer {
                spectralMatrixVector($0.baseAddress!, kernel: kernel.readPointer, shape: shape, view: view, x.readPointer, transposed: transposed)
            }
            naive.withUnsafeMutableBufferPointer {
                spectralMatrixVectorNaive($0.baseAddress!, kernel: kernel.readPointer, shape: shape, view: view, x.readPointer, transposed: transposed)
            }
            #expect(zip(fast, naive).allSatisfy { abs($0 - $1) < 1e-5 }, "\(view) transposed \(transposed): \(fast) vs \(naive)")
        }
    }

    /// After enough power iterations, u^T W v is the largest singular value LAPACK finds, and the normalised kernel's
    /// largest singular value is 1; the view is the one PyTorch uses (a wrong view has other singular values).
    @Test(arguments: cases)
    func powerIterationConvergesToTheLargestSingularValue(shape: [Int], view: SpectralMatrixView) {
        let group = ParameterGroup(name: "g", seed: 7)
        let kernel = group.register("layer.kernel", initial: randomTensor(shape, seed: 5))
        let norm = SpectralNorm(group, name: "layer", kernel: kernel, view: view)
        let (values, rows, columns) = Self.matrix(kernel.value, view: view)
        let exact = singularValues(values, rows: rows, columns: columns)
        #expect(exact[0] > 1.05 * exact[1], "no spectral gap: \(exact)")
        let first = norm.sigma
        for _ in 0..<300 { norm.powerIteration() }
        #expect(abs(Double(norm.sigma) - exact[0]) < 1e-5 * exact[0], "\(view): estimate \(norm.sigma), LAPACK \(exact[0]) (before: \(first))")
        // The 15 iterations at construction already bring the estimate near; it never exceeds the exact value.
        #expect(Double(first) > 0.8 * exact[0] && Double(first) <= exact[0] * (1 + 1e-6), "after construction: \(first), LAPACK \(exact[0])")
        let normalised = withoutGradient { norm().value }
        let after = Self.matrix(normalised, view: view)
        #expect(abs(singularValues(after.values, rows: after.rows, columns: after.columns)[0] - 1) < 1e-5)
        #expect(norm.u.value.count == rows && norm.v.value.count == columns)
    }

    /// The gradient of W / (u^T W v) with respect to W (u, v fixed) against central differences, for each view.
    @Test(arguments: cases)
    func normalisedKernelGradients(shape: [Int], view: SpectralMatrixView) {
        let group = ParameterGroup(name: "g", seed: 8)
        let kernel = group.register("layer.kernel", initial: randomTensor(shape, seed: 6))
        let norm = SpectralNorm(group, name: "layer", kernel: kernel, view: view)
        for _ in 0..<3 { norm.powerIteration() }
        let (u, v) = (norm.u.value, norm.v.value)
        checkGradients([kernel.value], step: 1e-3) { spectrallyNormalized($0[0], u: u, v: v, view: view) }
    }

    /// A spectrally normalised layer computes the plain layer's output with its kernel divided by sigma, and the
    /// vectors are state (replicated), not parameters.
    @Test func normalisedLayersUseTheScaledKernel() {
        let group = ParameterGroup(name: "g", seed: 9)
        let layer = Conv2D(group, name: "conv", inputChannels: 3, outputChannels: 4, kernelSize: 3, padding: .same, spectralNormalization: true)
        let dense = Dense(group, name: "dense", inputSize: 5, outputSize: 2, spectralNormalization: true)
        let transposed = Conv2DTranspose(group, name: "deconv", inputChannels: 4, outputChannels: 2, kernelSize: 4, stride: 2, padding: .same,
                                         spectralNormalization: true)
        #expect(group.stateEntries.map(\.name) == ["conv.u", "conv.v", "dense.u", "dense.v", "deconv.u", "deconv.v"])
        #expect(group.stateEntries.allSatisfy { $0.agreement == .replicated })
        #expect(group.stateEntries.map(\.count) == [4, 27, 2, 5, 2, 64])
        for norm in [layer.spectralNorm!, dense.spectralNorm!, transposed.spectralNorm!] { norm.powerIteration() }
        let x = randomTensor([2, 3, 5, 5], seed: 10)
        let plain = withoutGradient {
            conv2d(Variable(x), weight: Variable(layer.kernel.value.map { $0 / layer.spectralNorm!.sigma }), bias: layer.bias?.variable, padding: .same)
        }
        #expect(maxDifference(withoutGradient { layer(Variable(x)) }.value, plain.value) < 1e-5)
        let rows = randomTensor([3, 5], seed: 11)
        let scaled = withoutGradient {
            matmul(Variable(rows), Variable(dense.kernel.value.map { $0 / dense.spectralNorm!.sigma })) + dense.bias!.variable
        }
        #expect(maxDifference(withoutGradient { dense(Variable(rows)) }.value, scaled.value) < 1e-5)
        let maps = randomTensor([1, 4, 3, 3], seed: 12)
        let unnormalised = withoutGradient { conv2dTranspose(Variable(maps), weight: transposed.kernel.variable, bias: nil, stride: 2, padding: .same) }
        let normalised = withoutGradient { transposed(Variable(maps)) }
        #expect(maxDifference(normalised.value, unnormalised.value.map { $0 / transposed.spectralNorm!.sigma }) < 1e-5)
    }
}
