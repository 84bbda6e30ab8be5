import Testing
@testable import TensorCore

@Suite struct CounterRandomTests {
    /// The naive twin of the uniforms: each block's four words in order, `(word >> 8 + 0.5) / 2^24`.
    static func naiveUniforms(_ random: CounterRandom, stream: UInt32, step: UInt64, sample: UInt64, count: Int) -> [Float] {
        var values: [Float] = []
        var blockIndex: UInt32 = 0
        while values.count < count {
            let words = random.block(stream: stream, step: step, sample: sample, index: blockIndex)
            for word in [words.0, words.1, words.2, words.3] where values.count < count { values.append((Float(word >> 8) + 0.5) * 0x1p-24) }
            blockIndex += 1
        }
        return values
    }

    /// Every length (tails of 1, 2 and 3 values of a block included) and the tensor form give the naive twin's values.
    @Test func uniformsMatchTheirNaiveTwin() {
        let random = CounterRandom(seed: 0xABCD)
        for count in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 784] {
            #expect(random.uniforms(stream: 7, step: 3, sample: 11, count: count) == Self.naiveUniforms(random, stream: 7, step: 3, sample: 11, count: count))
        }
        let tensor = random.uniformTensor(stream: 9, step: 2, samples: 5..<8, shape: [3, 3])
        #expect(tensor.shape == [3, 3, 3])
        let expected = (5..<8).flatMap { Self.naiveUniforms(random, stream: 9, step: 2, sample: UInt64($0), count: 9) }
        #expect(tensor.scalars == expected && Set(expected).count == expected.count)
    }
}
