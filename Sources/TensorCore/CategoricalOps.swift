// Categorical latent variables: Gumbel noise from the counter-based generator, the Gumbel-softmax
// relaxation (Jang, Gu and Poole 2017; Maddison, Mnih and Teh 2017) and its straight-through variant,
// one-hot codes, and the KL divergence of a categorical distribution from the uniform one.
// Shape legend: [..., K], the K categories on the last axis (softmax and log-softmax act on it).
// Everything differentiable here is composed from softmax, log-softmax, exp and arithmetic.

import Foundation

extension CounterRandom {
    /// A `[samples.count, shape...]` tensor of standard Gumbel noise `g = -log(-log u)`, row `i` drawn for global sample
    /// `samples[i]`, one 32-bit word per value. `argmax(logits + g)` is then a draw from `softmax(logits)`.
    public func gumbelTensor(stream: UInt32, step: UInt64, samples: Range<Int>, shape: [Int]) -> Tensor {
        let perSample = shape.reduce(1, *)
        var tensor = Tensor(uninitialized: [samples.count] + shape)
        tensor.withUnsafeMutableBufferPointer { buffer in
            for (row, sample) in samples.enumerated() {
                let bits = words(stream: stream, step: step, sample: UInt64(sample), count: perSample)
                for index in 0..<perSample { buffer[row * perSample + index] = Self.gumbel(word: bits[index]) }
            }
        }
        return tensor
    }

    /// `-log(-log u)` of `u = (word + 1/2) / 2^32` in Double: u stays inside (0, 1) for every word, so g is finite (from
    /// -3.1 to 22.9). (A Float uniform from 24 bits, `(w + 1/2) / 2^24`, rounds to 1 for the top word, whose g is infinite.)
    static func gumbel(word: UInt32) -> Float {
        let u = (Double(word) + 0.5) * 0x1p-32
        return Float(-Foundation.log(-Foundation.log(u)))
    }
}

/// The one-hot code of each row's largest value over the last axis (the first of equal largest values).
public func oneHotOfLargest(_ x: Tensor) -> Tensor {
    let classes = x.shape.last ?? 1
    let rows = x.count / max(classes, 1)
    var result = Tensor(zeros: x.shape)
    let input = x.readPointer
    result.withUnsafeMutableBufferPointer { output in
        for row in 0..<rows {
            var best = 0
            for index in 1..<max(classes, 1) where input[row * classes + index] > input[row * classes + best] { best = index }
            output[row * classes + best] = 1
        }
    }
    return result
}

/// The Gumbel-softmax sample `y = softmax((logits + g) / temperature)` over the last axis, for Gumbel noise `g` of
/// the logits' shape. As the temperature falls to 0, `y` tends to the one-hot code of `argmax(logits + g)`, a draw
/// from `softmax(logits)`. `hard`: the straight-through estimator, whose value is that one-hot code of `y` and whose
/// gradient is the relaxed sample's, `hard(y) = y + (onehot(y) - y)` with the bracket a constant.
public func gumbelSoftmax(_ logits: Variable, noise: Tensor, temperature: Float, hard: Bool = false) -> Variable {
    guard noise.shape == logits.shape else { fatalError("Gumbel noise \(noise.shape) for logits \(logits.shape)") }
    guard temperature > 0 else { fatalError("Gumbel-softmax temperature \(temperature) must be positive") }
    let relaxed = softmax((logits + Variable(noise)) * (1 / temperature))
    guard hard else { return relaxed }
    let relaxedValue = relaxed.value
    return relaxed + Variable(Tensor.broadcasting(oneHotOfLargest(relaxedValue), relaxedValue, -))
}

/// `KL(q || uniform) = sum_k q_k log(K q_k)` of `q = softmax(logits)` over the last axis, per row: [..., K] -> [...].
/// Between 0 (q uniform) and log K (q one-hot).
public func categoricalDivergenceFromUniform(logits: Variable) -> Variable {
    let classes = logits.shape.last ?? 1
    let logQ = logSoftmax(logits)
    return sum(exp(logQ) * (logQ + Float(Foundation.log(Double(classes)))), axes: [-1])
}
