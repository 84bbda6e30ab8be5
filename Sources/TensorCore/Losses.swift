// Losses. Elementwise cross-entropies are primitives (stable forms with their
// own pullbacks); reductions are composed with `sum`/`mean`.

import Foundation

/// Mean squared error over all values: `mean((prediction - target)^2)`.
public func meanSquaredError(_ prediction: Variable, _ target: Tensor) -> Variable {
    mean(pow(prediction - Variable(target), 2))
}

/// Elementwise binary cross-entropy from logits, in the stable form
/// `max(x, 0) - x t + log(1 + e^-|x|)`. Pullback: `sigmoid(x) - t`.
public func binaryCrossEntropyElements(logits x: Variable, targets: Tensor) -> Variable {
    guard broadcastShape(x.shape, targets.shape) == x.shape else { fatalError("targets \(targets.shape) for logits \(x.shape)") }
    let value = Tensor.broadcasting(x.value, targets) { x, t in Swift.max(x, 0) - x * t + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
    return Variable.record(value, inputs: [x]) { gradient in
        let derivative = Tensor.broadcasting(x.value, targets) { x, t in sigmoidScalar(x) - t }
        x.accumulateGradient(Tensor.broadcasting(gradient, derivative, *))
    }
}

/// Keras' clipping constant for probabilities (`keras.backend.epsilon()`).
public let kerasEpsilon: Float = 1e-7

/// Elementwise binary cross-entropy from probabilities as Keras computes it: `p` clipped to
/// `[1e-7, 1 - 1e-7]`, then `-(t log p + (1 - t) log(1 - p))`. Pullback: zero where clipped, else
/// `(p - t) / (p (1 - p))`.
public func binaryCrossEntropyElements(probabilities p: Variable, targets: Tensor) -> Variable {
    guard broadcastShape(p.shape, targets.shape) == p.shape else { fatalError("targets \(targets.shape) for probabilities \(p.shape)") }
    let low = kerasEpsilon, high = 1 - kerasEpsilon
    let value = Tensor.broadcasting(p.value, targets) { p, t in
        let c = Swift.min(Swift.max(p, low), high)
        return -(t * Foundation.log(c) + (1 - t) * Foundation.log(1 - c))
    }
    return Variable.record(value, inputs: [p]) { gradient in
        let derivative = Tensor.broadcasting(p.value, targets) { p, t in
            p < low || p > high ? 0 : (p - t) / (p * (1 - p))
        }
        p.accumulateGradient(Tensor.broadcasting(gradient, derivative, *))
    }
}

/// Mean binary cross-entropy from logits (Keras `BinaryCrossentropy(from_logits=True)`).
public func binaryCrossEntropy(logits: Variable, targets: Tensor) -> Variable {
    mean(binaryCrossEntropyElements(logits: logits, targets: targets))
}

/// Mean binary cross-entropy from probabilities (Keras `BinaryCrossentropy()`, clipped).
public func binaryCrossEntropy(probabilities: Variable, targets: Tensor) -> Variable {
    mean(binaryCrossEntropyElements(probabilities: probabilities, targets: targets))
}

/// Mean categorical cross-entropy from logits [N, K] and class labels: `-mean log softmax(x)[label]`.
public func categoricalCrossEntropy(logits: Variable, labels: [Int]) -> Variable {
    let classes = logits.shape[1]
    var oneHot = Tensor(zeros: logits.shape)
    oneHot.withUnsafeMutableBufferPointer { buffer in
        for (row, label) in labels.enumerated() {
            guard label >= 0, label < classes else { fatalError("label \(label) outside 0..<\(classes)") }
            buffer[row * classes + label] = 1
        }
    }
    return -sum(logSoftmax(logits) * Variable(oneHot)) / Float(labels.count)
}

/// Mean categorical cross-entropy from probabilities [N, K] (Keras: clipped to `[1e-7, 1 - 1e-7]`) and one-hot targets.
public func categoricalCrossEntropy(probabilities: Variable, targets: Tensor) -> Variable {
    let clipped = clip(probabilities, low: kerasEpsilon, high: 1 - kerasEpsilon)
    return -sum(log(clipped) * Variable(targets)) / Float(probabilities.shape[0])
}

/// Values limited to `[low, high]`. Pullback: the gradient where the value was inside, zero where clipped.
public func clip(_ x: Variable, low: Float, high: Float) -> Variable {
    x.unary({ Swift.min(Swift.max($0, low), high) }, derivative: { x, _ in x < low || x > high ? 0 : 1 })
}
