// Differentiable broadcasting arithmetic (add, subtract, multiply, divide,
// maximum) and reductions (sum, mean over axes). Each op: forward through a
// kernel, then its pullback right below it.

extension Variable {
    /// A constant of the same shape filled with `value`, recorded nowhere.
    static func constant(_ value: Float) -> Variable { Variable(Tensor(scalar: value)) }
}

/// `a + b` with broadcasting. Pullback: the gradient, summed back to each operand's shape.
public func + (a: Variable, b: Variable) -> Variable {
    let value = Tensor.broadcasting(a.value, b.value, +)
    return Variable.record(value, inputs: [a, b]) { gradient in
        if a.requiresGradient { a.accumulateGradient(gradient.summed(toShape: a.shape)) }
        if b.requiresGradient { b.accumulateGradient(gradient.summed(toShape: b.shape)) }
    }
}

/// `a - b` with broadcasting. Pullback: `+g` to a, `-g` to b.
public func - (a: Variable, b: Variable) -> Variable {
    let value = Tensor.broadcasting(a.value, b.value, -)
    return Variable.record(value, inputs: [a, b]) { gradient in
        if a.requiresGradient { a.accumulateGradient(gradient.summed(toShape: a.shape)) }
        if b.requiresGradient { b.accumulateGradient(gradient.map { -$0 }.summed(toShape: b.shape)) }
    }
}

/// `a * b` elementwise with broadcasting. Pullback: `g * b` to a, `g * a` to b.
public func * (a: Variable, b: Variable) -> Variable {
    let value = Tensor.broadcasting(a.value, b.value, *)
    return Variable.record(value, inputs: [a, b]) { gradient in
        if a.requiresGradient { a.accumulateGradient(Tensor.broadcasting(gradient, b.value, *).summed(toShape: a.shape)) }
        if b.requiresGradient { b.accumulateGradient(Tensor.broadcasting(gradient, a.value, *).summed(toShape: b.shape)) }
    }
}

/// `a / b` elementwise with broadcasting. Pullback: `g / b` to a, `-g a / b^2` to b.
public func / (a: Variable, b: Variable) -> Variable {
    let value = Tensor.broadcasting(a.value, b.value, /)
    return Variable.record(value, inputs: [a, b]) { gradient in
        if a.requiresGradient { a.accumulateGradient(Tensor.broadcasting(gradient, b.value, /).summed(toShape: a.shape)) }
        if b.requiresGradient {
            // d(a/b)/db = -(a/b)/b = -value / b
            let scaled = Tensor.broadcasting(gradient, value, *)
            b.accumulateGradient(Tensor.broadcasting(scaled, b.value) { -$0 / $1 }.summed(toShape: b.shape))
        }
    }
}

public func + (a: Variable, b: Float) -> Variable { a + .constant(b) }
public func + (a: Float, b: Variable) -> Variable { .constant(a) + b }
public func - (a: Variable, b: Float) -> Variable { a - .constant(b) }
public func - (a: Float, b: Variable) -> Variable { .constant(a) - b }
public func * (a: Variable, b: Float) -> Variable { a * .constant(b) }
public func * (a: Float, b: Variable) -> Variable { .constant(a) * b }
public func / (a: Variable, b: Float) -> Variable { a * .constant(1 / b) }
public func / (a: Float, b: Variable) -> Variable { .constant(a) / b }
public prefix func - (a: Variable) -> Variable { a * .constant(-1) }

/// Elementwise maximum with broadcasting. Pullback: the gradient goes to the larger operand (to `a` on ties).
public func maximum(_ a: Variable, _ b: Variable) -> Variable {
    let value = Tensor.broadcasting(a.value, b.value) { Swift.max($0, $1) }
    return Variable.record(value, inputs: [a, b]) { gradient in
        if a.requiresGradient {
            let mask = Tensor.broadcasting(a.value, b.value) { $0 >= $1 ? 1 : 0 }
            a.accumulateGradient(Tensor.broadcasting(gradient, mask, *).summed(toShape: a.shape))
        }
        if b.requiresGradient {
            let mask = Tensor.broadcasting(a.value, b.value) { $0 >= $1 ? 0 : 1 }
            b.accumulateGradient(Tensor.broadcasting(gradient, mask, *).summed(toShape: b.shape))
        }
    }
}

/// The shape left after reducing `axes` (kept as 1 when `keepingDimensions`).
func reducedShape(_ shape: [Int], axes: [Int], keepingDimensions: Bool) -> (kept: [Int], result: [Int]) {
    let normalized = Set(axes.map { $0 < 0 ? $0 + shape.count : $0 })
    for axis in normalized where axis < 0 || axis >= shape.count {
        fatalError("axis \(axis) out of range for shape \(shape)")
    }
    let kept = shape.enumerated().map { normalized.contains($0.offset) ? 1 : $0.element }
    let result = keepingDimensions ? kept : shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    return (kept, result)
}

/// Sum over `axes` (all axes when nil). Pullback: the gradient broadcast back over the reduced axes.
public func sum(_ x: Variable, axes: [Int]? = nil, keepingDimensions: Bool = false) -> Variable {
    let shapes = reducedShape(x.shape, axes: axes ?? Array(0..<x.shape.count), keepingDimensions: keepingDimensions)
    let value = x.value.summed(toShape: shapes.kept).reshaped(shapes.result)
    let inputShape = x.shape
    return Variable.record(value, inputs: [x]) { gradient in
        let expanded = gradient.reshaped(shapes.kept)
        x.accumulateGradient { destination in
            broadcastBinaryKernel(output: destination, shape: inputShape, first: destination, firstShape: inputShape,
                                  second: expanded.readPointer, secondShape: shapes.kept, +)
        }
    }
}

/// Mean over `axes` (all axes when nil): the sum divided by the number of values reduced.
public func mean(_ x: Variable, axes: [Int]? = nil, keepingDimensions: Bool = false) -> Variable {
    let all = axes ?? Array(0..<x.shape.count)
    let reduced = Set(all.map { $0 < 0 ? $0 + x.shape.count : $0 }).map { x.shape[$0] }.reduce(1, *)
    return sum(x, axes: all, keepingDimensions: keepingDimensions) * (1 / Float(reduced))
}
