// Seeded randomness. Two kinds:
// - `SeededGenerator`: a sequential stream (xoshiro256**, seeded by SplitMix64) for
//   parameter initialisation and other draws made identically on every rank.
// - `CounterRandom`: Philox4x32-10, a counter-based generator keyed by (seed, stream)
//   and addressed by (step, global sample index), so the same sample gets the same
//   noise however the batch is split across ranks, and after a resume.

import Foundation

/// SplitMix64: turns one 64-bit seed into well-mixed 64-bit words.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256**: a fast, seedable sequential generator with uniform and normal draws.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose whole stream is determined by `seed`.
    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        state = (mixer.next(), mixer.next(), mixer.next(), mixer.next())
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * uniform() }

    /// Standard normal (Box-Muller, in Double).
    public mutating func normal() -> Float {
        let u1 = (Double(next() >> 11) + 0.5) * 0x1p-53
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// A tensor of uniform values in [low, high).
    public mutating func uniformTensor(_ shape: [Int], low: Float = 0, high: Float = 1) -> Tensor {
        var tensor = Tensor(uninitialized: shape)
        tensor.withUnsafeMutableBufferPointer { for index in $0.indices { $0[index] = uniform(low, high) } }
        return tensor
    }

    /// A tensor of normal values with the given mean and standard deviation.
    public mutating func normalTensor(_ shape: [Int], mean: Float = 0, standardDeviation: Float = 1) -> Tensor {
        var tensor = Tensor(uninitialized: shape)
        tensor.withUnsafeMutableBufferPointer {
            for index in $0.indices { $0[index] = mean + standardDeviation * normal() }
        }
        return tensor
    }
}

@inline(__always)
private func rotateLeft(_ value: UInt64, _ amount: UInt64) -> UInt64 { (value << amount) | (value >> (64 - amount)) }

/// Philox4x32-10 (Salmon et al., 2011): random numbers addressed by a counter, not drawn in sequence.
///
/// The key is `(seed, stream)`; the counter is `(block, sample, step)`. A stream names one use
/// (a dropout layer, the latents, the diffusion noise), so uses never share numbers.
public struct CounterRandom: Sendable {
    /// The run's seed.
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// Four 32-bit words for one counter value.
    @inlinable
    public func block(stream: UInt32, step: UInt64, sample: UInt64, index: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        var counter = (index, UInt32(truncatingIfNeeded: sample), UInt32(truncatingIfNeeded: sample >> 32) ^ stream,
                       UInt32(truncatingIfNeeded: step))
        var key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32) ^ (stream &* 0x9E37_79B9))
        for round in 0..<10 {
            if round > 0 {
                key.0 &+= 0x9E37_79B9
                key.1 &+= 0xBB67_AE85
            }
            let product0 = UInt64(0xD251_1F53) &* UInt64(counter.0)
            let product1 = UInt64(0xCD9E_8D57) &* UInt64(counter.2)
            counter = (UInt32(truncatingIfNeeded: product1 >> 32) ^ counter.1 ^ key.0,
                       UInt32(truncatingIfNeeded: product1),
                       UInt32(truncatingIfNeeded: product0 >> 32) ^ counter.3 ^ key.1,
                       UInt32(truncatingIfNeeded: product0))
        }
        return counter
    }

    /// `count` random 32-bit words for one sample of one step: the blocks' words in order.
    func words(stream: UInt32, step: UInt64, sample: UInt64, count: Int) -> [UInt32] {
        var values: [UInt32] = []
        values.reserveCapacity(count + 3)
        var blockIndex: UInt32 = 0
        while values.count < count {
            let words = block(stream: stream, step: step, sample: sample, index: blockIndex)
            values += [words.0, words.1, words.2, words.3]
            blockIndex += 1
        }
        return Array(values.prefix(count))
    }

    /// `count` uniform values in (0, 1) for one sample of one step: `(word >> 8 + 0.5) / 2^24` of the words in order.
    public func uniforms(stream: UInt32, step: UInt64, sample: UInt64, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { writeUniforms(buffer.baseAddress!, stream: stream, step: step, sample: sample, count: count) }
            initialized = count
        }
    }

    /// Writes the `count` values of `uniforms(stream:step:sample:count:)` to `destination` (no allocation).
    func writeUniforms(_ destination: UnsafeMutablePointer<Float>, stream: UInt32, step: UInt64, sample: UInt64, count: Int) {
        @inline(__always) func uniform(_ word: UInt32) -> Float { (Float(word >> 8) + 0.5) * 0x1p-24 }
        var index = 0
        var blockIndex: UInt32 = 0
        while index < count {
            let words = block(stream: stream, step: step, sample: sample, index: blockIndex)
            if count - index >= 4 {
                destination[index] = uniform(words.0)
                destination[index + 1] = uniform(words.1)
                destination[index + 2] = uniform(words.2)
                destination[index + 3] = uniform(words.3)
            } else {
                destination[index] = uniform(words.0)
                if count - index > 1 { destination[index + 1] = uniform(words.1) }
                if count - index > 2 { destination[index + 2] = uniform(words.2) }
            }
            index += 4
            blockIndex += 1
        }
    }

    /// `count` uniform Doubles in (0, 1), each from 53 bits of two words, for one sample of one step.
    public func uniformDoubles(stream: UInt32, step: UInt64, sample: UInt64, count: Int) -> [Double] {
        let bits = words(stream: stream, step: step, sample: sample, count: 2 * count)
        return (0..<count).map { (Double((UInt64(bits[2 * $0]) << 21) ^ UInt64(bits[2 * $0 + 1] >> 11)) + 0.5) * 0x1p-53 }
    }

    /// `count` standard normal values for one sample of one step (Box-Muller in Double).
    public func normals(stream: UInt32, step: UInt64, sample: UInt64, count: Int) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        var index = 0
        var blockIndex: UInt32 = 0
        while index < count {
            let words = block(stream: stream, step: step, sample: sample, index: blockIndex)
            for pair in [(words.0, words.1), (words.2, words.3)] where index < count {
                let u1 = (Double(pair.0) + 0.5) * 0x1p-32
                let u2 = Double(pair.1) * 0x1p-32
                let radius = (-2 * Foundation.log(u1)).squareRoot()
                values[index] = Float(radius * Foundation.cos(2 * Double.pi * u2))
                index += 1
                if index < count {
                    values[index] = Float(radius * Foundation.sin(2 * Double.pi * u2))
                    index += 1
                }
            }
            blockIndex += 1
        }
        return values
    }

    /// A `[samples.count, shape...]` tensor of standard normals, row `i` drawn for global sample `samples[i]`.
    public func normalTensor(stream: UInt32, step: UInt64, samples: Range<Int>, shape: [Int]) -> Tensor {
        let perSample = shape.reduce(1, *)
        var tensor = Tensor(uninitialized: [samples.count] + shape)
        tensor.withUnsafeMutableBufferPointer { buffer in
            for (row, sample) in samples.enumerated() {
                let values = normals(stream: stream, step: step, sample: UInt64(sample), count: perSample)
                for index in 0..<perSample { buffer[row * perSample + index] = values[index] }
            }
        }
        return tensor
    }

    /// A `[samples.count, shape...]` tensor of uniforms in (0, 1), row `i` drawn for global sample `samples[i]`.
    public func uniformTensor(stream: UInt32, step: UInt64, samples: Range<Int>, shape: [Int]) -> Tensor {
        let perSample = shape.reduce(1, *)
        var tensor = Tensor(uninitialized: [samples.count] + shape)
        tensor.withUnsafeMutableBufferPointer { buffer in
            guard perSample > 0 else { return }
            for (row, sample) in samples.enumerated() {
                writeUniforms(buffer.baseAddress! + row * perSample, stream: stream, step: step, sample: UInt64(sample), count: perSample)
            }
        }
        return tensor
    }
}
