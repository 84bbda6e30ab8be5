import Testing
@testable import TensorCore

/// Deterministic test data.
func randomTensor(_ shape: [Int], seed: UInt64 = 1, low: Float = -1, high: Float = 1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return generator.uniformTensor(shape, low: low, high: high)
}

/// A group of one parameter `w` holding `values`, with `gradients` accumulated (for optimizer tests).
func oneParameterGroup(_ values: [Float], gradients: [Float]) -> ParameterGroup {
    let group = ParameterGroup(name: "test", seed: 0)
    let parameter = group.register("w", initial: Tensor(shape: [values.count], values: values))
    parameter.variable.accumulateGradient(Tensor(shape: [values.count], values: gradients))
    return group
}

/// `x` converted to `layout` as a graph op (its gradient converted back), so checks can feed a channel-blocked map.
func converted(_ x: Variable, to layout: TensorLayout) -> Variable {
    Variable.recordLayoutAware(x.value.converted(to: layout), inputs: [x]) { x.accumulateGradient($0) }
}

/// Largest absolute difference between two equally shaped tensors.
func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    #expect(a.shape == b.shape)
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}

/// Checks the gradient of `sum(f(inputs) * w)` (w a fixed random projection) with respect to every element of
/// every input against central differences. Tolerance: `absolute + relative * |numeric|` per element; a wrong
/// pullback (a missing factor, a sign, a wrong index) is far outside it.
func checkGradients(_ inputs: [Tensor], step: Float = 1e-2, absolute: Float = 2e-3, relative: Float = 1e-2,
                    sourceLocation: SourceLocation = #_sourceLocation, _ function: ([Variable]) -> Variable) {
    let variables = inputs.map { Variable($0, requiresGradient: true) }
    let output = function(variables)
    let projection = randomTensor(output.shape, seed: 99, low: 0.5, high: 1.5)
    let loss = sum(output * Variable(projection))
    loss.backward()
    func evaluate(_ values: [Tensor]) -> Double {
        let result = withoutGradient { function(values.map { Variable($0) }) }.value
        return zip(result.scalars, projection.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    for (index, input) in inputs.enumerated() {
        guard let analytic = variables[index].gradient else {
            Issue.record("input \(index) received no gradient", sourceLocation: sourceLocation)
            continue
        }
        #expect(analytic.shape == input.shape, sourceLocation: sourceLocation)
        for element in 0..<input.count {
            var plus = inputs, minus = inputs
            plus[index].withUnsafeMutableBufferPointer { $0[element] += step }
            minus[index].withUnsafeMutableBufferPointer { $0[element] -= step }
            let numeric = Float((evaluate(plus) - evaluate(minus)) / Double(2 * step))
            let value = analytic.scalars[element]
            if abs(value - numeric) > absolute + relative * abs(numeric) {
                Issue.record("input \(index) element \(element): analytic \(value), numeric \(numeric)", sourceLocation: sourceLocation)
                return
            }
        }
    }
}
