import Testing
@testable import TensorCore

@Suite(.serialized) struct MatmulTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func blasMatchesNaive(transposeA: Bool, transposeB: Bool) {
        let (m, n, k) = (7, 5, 9)
        let a = randomTensor([m * k], seed: 1), b = randomTensor([k * n], seed: 2)
        var fast = [Float](repeating: 0.5, count: m * n), naive = fast
        matmulKernel(&fast, a.readPointer, b.readPointer, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: true)
        matmulNaive(&naive, a.readPointer, b.readPointer, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: true)
        #expect(zip(fast, naive).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gradients(transposeA: Bool, transposeB: Bool) {
        let a = randomTensor(transposeA ? [4, 3] : [3, 4], seed: 3)
        let b = randomTensor(transposeB ? [2, 4] : [4, 2], seed: 4)
        checkGradients([a, b]) { matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB) }
        let batchedA = randomTensor(transposeA ? [2, 4, 3] : [2, 3, 4], seed: 5)
        let batchedB = randomTensor(transposeB ? [2, 2, 4] : [2, 4, 2], seed: 6)
        checkGradients([batchedA, batchedB]) { matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB) }
    }

    @Test func batchedForwardIsPerItemProduct() {
        let a = randomTensor([2, 3, 4], seed: 7), b = randomTensor([2, 4, 5], seed: 8)
        let c = matmul(Variable(a), Variable(b)).value
        for item in 0..<2 {
            for i in 0..<3 {
                for j in 0..<5 {
                    let expected = (0..<4).reduce(Float(0)) { $0 + a[item, i, $1] * b[item, $1, j] }
                    #expect(abs(c[item, i, j] - expected) < 1e-5)
                }
            }
        }
    }
}
