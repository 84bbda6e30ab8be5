// Differentiable elementwise functions. Each forward is a map over the values;
// each pullback multiplies the incoming gradient by the derivative, computed
// from the saved input x or output y, whichever is cheaper.

import Foundation

extension Variable {
    /// Records `y = f(x)` with pullback `dx += dy * derivative(x, y)`.
    @inline(__always)
    func unary(_ forward: (Float) -> Float, derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Variable {
        let input = self
        let output = value.map(forward)
        return Variable.record(output, inputs: [input]) { gradient in
            let x = input.value.readPointer
            let y = output.readPointer
            let upstream = gradient.readPointer
            input.accumulateGradient { destination in
                for index in 0..<output.count { destination[index] += upstream[index] * derivative(x[index], y[index]) }
            }
        }
    }
}

/// `e^x`. Derivative: y.
public func exp(_ x: Variable) -> Variable { x.unary({ Foundation.exp($0) }, derivative: { _, y in y }) }

/// Natural logarithm. Derivative: 1/x.
public func log(_ x: Variable) -> Variable { x.unary({ Foundation.log($0) }, derivative: { x, _ in 1 / x }) }

/// Square root. Derivative: 1/(2y).
public func sqrt(_ x: Variable) -> Variable { x.unary({ $0.squareRoot() }, derivative: { _, y in 0.5 / y }) }

/// `x^p` for a constant exponent. Derivative: p x^(p-1).
public func pow(_ x: Variable, _ exponent: Float) -> Variable {
    if exponent == 2 { return x.unary({ $0 * $0 }, derivative: { x, _ in 2 * x }) }
    return x.unary({ Foundation.pow($0, exponent) }, derivative: { x, _ in exponent * Foundation.pow(x, exponent - 1) })
}

/// `max(x, 0)`. Derivative: 1 where x > 0, else 0.
public func relu(_ x: Variable) -> Variable { x.unary({ Swift.max($0, 0) }, derivative: { x, _ in x > 0 ? 1 : 0 }) }

/// `x` for x > 0, `slope * x` otherwise (Keras default slope 0.3; the course's GANs use 0.2).
public func leakyRelu(_ x: Variable, slope: Float = 0.3) -> Variable {
    x.unary({ $0 > 0 ? $0 : slope * $0 }, derivative: { x, _ in x > 0 ? 1 : slope })
}

/// Logistic sigmoid `1 / (1 + e^-x)`, computed without overflow. Derivative: y (1 - y).
public func sigmoid(_ x: Variable) -> Variable { x.unary(sigmoidScalar, derivative: { _, y in y * (1 - y) }) }

/// Hyperbolic tangent. Derivative: 1 - y^2.
public func tanh(_ x: Variable) -> Variable { x.unary({ Foundation.tanh($0) }, derivative: { _, y in 1 - y * y }) }

/// SiLU (swish) `x sigmoid(x)`. Derivative: s + x s (1 - s).
public func silu(_ x: Variable) -> Variable {
    x.unary({ $0 * sigmoidScalar($0) }, derivative: { x, _ in
        let s = sigmoidScalar(x)
        return s + x * s * (1 - s)
    })
}

/// Softplus `log(1 + e^x)` as `max(x, 0) + log1p(e^-|x|)`. Derivative: sigmoid(x).
public func softplus(_ x: Variable) -> Variable {
    x.unary({ Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }, derivative: { x, _ in sigmoidScalar(x) })
}

/// Logistic sigmoid of one value, stable for large |x|.
@inline(__always)
public func sigmoidScalar(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
    let e = Foundation.exp(x)
    return e / (1 + e)
}
