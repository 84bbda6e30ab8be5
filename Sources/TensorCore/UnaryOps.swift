// Differentiable elementwise functions. Each forward is a map over the values;
// each pullback multiplies the incoming gradient by the derivative, computed
// from the saved input x or output y, whichever is cheaper.

import Foundation

/// A scalar function with its derivative, dispatched statically so that the loops over values are
/// specialized and inlined (an escaping closure per value would be an indirect call each time).
public protocol ElementwiseFunction {
    /// f(x).
    func value(_ x: Float) -> Float
    /// f'(x), given x and y = f(x).
    func derivative(x: Float, y: Float) -> Float
}

/// An activation whose derivative can be computed from its output alone, so that a fused op may keep
/// only y for the backward pass.
public protocol OutputDifferentiableFunction: ElementwiseFunction {
    /// f'(x) written in terms of y = f(x).
    func derivative(y: Float) -> Float
}

extension OutputDifferentiableFunction {
    @inline(__always) public func derivative(x: Float, y: Float) -> Float { derivative(y: y) }
}

extension Variable {
    /// Records `y = f(x)` with pullback `dx += dy * f'(x, y)`.
    @inline(__always)
    func unary<Function: ElementwiseFunction>(_ function: Function) -> Variable {
        let input = self
        let output = value.map { function.value($0) }
        return Variable.record(output, inputs: [input]) { gradient in
            let x = input.value.readPointer
            let y = output.readPointer
            let upstream = gradient.readPointer
            input.accumulateGradient { destination in
                for index in 0..<output.count { destination[index] += upstream[index] * function.derivative(x: x[index], y: y[index]) }
            }
        }
    }

    /// Records `y = f(x)` from closures (for rarely used functions; the hot ones are `ElementwiseFunction`s).
    func unary(_ forward: @escaping (Float) -> Float, derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Variable {
        unary(ClosureFunction(forward: forward, derivativeClosure: derivative))
    }
}

struct ClosureFunction: ElementwiseFunction {
    let forward: (Float) -> Float
    let derivativeClosure: (Float, Float) -> Float
    func value(_ x: Float) -> Float { forward(x) }
    func derivative(x: Float, y: Float) -> Float { derivativeClosure(x, y) }
}

/// max(x, 0).
public struct ReLUFunction: OutputDifferentiableFunction {
    public init() {}
    @inline(__always) public func value(_ x: Float) -> Float { Swift.max(x, 0) }
    @inline(__always) public func derivative(y: Float) -> Float { y > 0 ? 1 : 0 }
}

/// x for x > 0, slope * x otherwise (slope > 0, so the sign of y is the sign of x).
public struct LeakyReLUFunction: OutputDifferentiableFunction {
    public let slope: Float
    public init(slope: Float) { self.slope = slope }
    @inline(__always) public func value(_ x: Float) -> Float { x > 0 ? x : slope * x }
    @inline(__always) public func derivative(y: Float) -> Float { y > 0 ? 1 : slope }
}

/// 1 / (1 + e^-x).
public struct SigmoidFunction: OutputDifferentiableFunction {
    public init() {}
    @inline(__always) public func value(_ x: Float) -> Float { sigmoidScalar(x) }
    @inline(__always) public func derivative(y: Float) -> Float { y * (1 - y) }
}

/// tanh(x).
public struct TanhFunction: OutputDifferentiableFunction {
    public init() {}
    @inline(__always) public func value(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) public func derivative(y: Float) -> Float { 1 - y * y }
}

/// The identity.
public struct IdentityFunction: OutputDifferentiableFunction {
    public init() {}
    @inline(__always) public func value(_ x: Float) -> Float { x }
    @inline(__always) public func derivative(y: Float) -> Float { 1 }
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
public func relu(_ x: Variable) -> Variable { x.unary(ReLUFunction()) }

/// `x` for x > 0, `slope * x` otherwise (Keras default slope 0.3; the course's GANs use 0.2).
public func leakyRelu(_ x: Variable, slope: Float = 0.3) -> Variable {
    guard slope > 0 else { fatalError("leakyRelu slope must be positive, got \(slope)") }
    return x.unary(LeakyReLUFunction(slope: slope))
}

/// Logistic sigmoid `1 / (1 + e^-x)`, computed without overflow. Derivative: y (1 - y).
public func sigmoid(_ x: Variable) -> Variable { x.unary(SigmoidFunction()) }

/// Hyperbolic tangent. Derivative: 1 - y^2.
public func tanh(_ x: Variable) -> Variable { x.unary(TanhFunction()) }

/// SiLU (swish) `x sigmoid(x)`. Derivative: s + x s (1 - s).
public func silu(_ x: Variable) -> Variable {
    x.unary({ $0 * sigmoidScalar($0) }, derivative: { x, _ in
        let s = sigmoidScalar(x)
        return s + x * s * (1 - s)
    })
}

/// `log(1 + e^x)` as `max(x, 0) + log1p(e^-|x|)` (no overflow). Derivative: sigmoid(x).
public struct SoftplusFunction: ElementwiseFunction {
    public init() {}
    @inline(__always) public func value(_ x: Float) -> Float { Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
    @inline(__always) public func derivative(x: Float, y: Float) -> Float { sigmoidScalar(x) }
}

/// Softplus `log(1 + e^x)`, computed without overflow. Derivative: sigmoid(x).
public func softplus(_ x: Variable) -> Variable { x.unary(SoftplusFunction()) }

/// Logistic sigmoid of one value, stable for large |x|.
@inline(__always)
public func sigmoidScalar(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
    let e = Foundation.exp(x)
    return e / (1 + e)
}
