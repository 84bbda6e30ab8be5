import Testing
@testable import TensorCore

/// Scaled dot-product attention: the BLAS kernels against their naive twins, the op against finite differences.
@Suite struct AttentionTests {
    // Cross-attention sizes (D != E, Q != K), so that a swapped index or transpose cannot pass.
    static let shape = AttentionShape(batch: 3, queryChannels: 4, valueChannels: 5, queryPositions: 6, keyPositions: 7, scale: 0.6)

    @Test func forwardMatchesNaiveTwin() {
        let s = Self.shape
        let query = randomTensor([s.batch, s.queryChannels, s.queryPositions], seed: 1, low: -2, high: 2)
        let key = randomTensor([s.batch, s.queryChannels, s.keyPositions], seed: 2, low: -2, high: 2)
        let value = randomTensor([s.batch, s.valueChannels, s.keyPositions], seed: 3)
        let output = Tensor(zeros: [s.batch, s.valueChannels, s.queryPositions]), weights = Tensor(zeros: [s.batch, s.queryPositions, s.keyPositions])
        let naiveOutput = Tensor(zeros: output.shape), naiveWeights = Tensor(zeros: weights.shape)
        attentionForward(output: output.sharedWritePointer, weights: weights.sharedWritePointer, query: query.readPointer,
                         key: key.readPointer, value: value.readPointer, shape: s)
        attentionForwardNaive(output: naiveOutput.sharedWritePointer, weights: naiveWeights.sharedWritePointer, query: query.readPointer,
                              key: key.readPointer, value: value.readPointer, shape: s)
        #expect(maxDifference(output, naiveOutput) < 1e-5)
        #expect(maxDifference(weights, naiveWeights) < 1e-6)
        // Each query's weights are a distribution over the keys.
        for row in 0..<(s.batch * s.queryPositions) {
            let total = (0..<s.keyPositions).reduce(Float(0)) { $0 + weights.scalars[row * s.keyPositions + $1] }
            #expect(abs(total - 1) < 1e-5)
        }
    }

    @Test func backwardMatchesNaiveTwinAndAddsIntoGradients() {
        let s = Self.shape
        let query = randomTensor([s.batch, s.queryChannels, s.queryPositions], seed: 4, low: -2, high: 2)
        let key = randomTensor([s.batch, s.queryChannels, s.keyPositions], seed: 5, low: -2, high: 2)
        let value = randomTensor([s.batch, s.valueChannels, s.keyPositions], seed: 6)
        let upstream = randomTensor([s.batch, s.valueChannels, s.queryPositions], seed: 7)
        let output = Tensor(zeros: upstream.shape), weights = Tensor(zeros: [s.batch, s.queryPositions, s.keyPositions])
        attentionForward(output: output.sharedWritePointer, weights: weights.sharedWritePointer, query: query.readPointer,
                         key: key.readPointer, value: value.readPointer, shape: s)
        // Both start from the same earlier gradients, which must be added to.
        let earlier = [randomTensor(query.shape, seed: 8), randomTensor(key.shape, seed: 9), randomTensor(value.shape, seed: 10)]
        let fast = earlier.map { Tensor(shape: $0.shape, values: $0.scalars) }, naive = earlier.map { Tensor(shape: $0.shape, values: $0.scalars) }
        attentionBackward(queryGradient: fast[0].sharedWritePointer, keyGradient: fast[1].sharedWritePointer,
                          valueGradient: fast[2].sharedWritePointer, outputGradient: upstream.readPointer, weights: weights.readPointer,
                          query: query.readPointer, key: key.readPointer, value: value.readPointer, shape: s)
        attentionBackwardNaive(queryGradient: naive[0].sharedWritePointer, keyGradient: naive[1].sharedWritePointer,
                               valueGradient: naive[2].sharedWritePointer, outputGradient: upstream.readPointer, weights: weights.readPointer,
                               query: query.readPointer, key: key.readPointer, value: value.readPointer, shape: s)
        for index in 0..<3 {
            #expect(maxDifference(fast[index], naive[index]) < 1e-5, "gradient \(index)")
            #expect(maxDifference(fast[index], earlier[index]) > 1e-3, "gradient \(index) is not empty")
        }
    }

    @Test func gradientsMatchFiniteDifferences() {
        // Self-attention shapes over a 2x3 map, then cross-attention with E != D and another number of keys.
        checkGradients([randomTensor([2, 3, 2, 3], seed: 11), randomTensor([2, 3, 2, 3], seed: 12), randomTensor([2, 3, 2, 3], seed: 13)]) {
            scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], scale: 1 / Float(3).squareRoot())
        }
        checkGradients([randomTensor([2, 2, 4], seed: 14), randomTensor([2, 2, 5], seed: 15), randomTensor([2, 3, 5], seed: 16)]) {
            scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], scale: 1.3)
        }
    }

    /// Images are split among the threads and each is computed alone, so 1 and 2 threads give the same bits.
    @Test func threadsGiveTheSameBits() {
        let query = randomTensor([8, 16, 49], seed: 17), key = randomTensor([8, 16, 49], seed: 18), value = randomTensor([8, 16, 49], seed: 19)
        let upstream = randomTensor([8, 16, 49], seed: 20)
        func run(threads: Int) -> [[Float]] {
            Parallelism.$threads.withValue(threads) {
                let inputs = [query, key, value].map { Variable($0, requiresGradient: true) }
                let y = scaledDotProductAttention(query: inputs[0], key: inputs[1], value: inputs[2], scale: 0.25)
                y.backward(seed: upstream)
                return [y.value.scalars] + inputs.map { $0.gradient!.scalars }
            }
        }
        #expect(run(threads: 2) == run(threads: 1))
    }
}
