import Foundation
import Testing
@testable import TensorCore

@Suite struct UnaryTests {
    let input = Tensor(shape: [2, 4], values: [-1.7, -0.6, -0.2, 0.15, 0.4, 0.9, 1.3, 2.1])
    let positive = Tensor(shape: [5], values: [0.3, 0.7, 1.1, 1.9, 3.2])

    func expectForward(_ op: (Variable) -> Variable, _ reference: (Double) -> Double, on tensor: Tensor) {
        let result = op(Variable(tensor)).value.scalars
        for (value, x) in zip(result, tensor.scalars) {
            #expect(abs(Double(value) - reference(Double(x))) <= 1e-5 * max(1, abs(reference(Double(x)))))
        }
    }

    @Test func exponentialsAndLogarithms() {
        expectForward(exp, Foundation.exp, on: input)
        expectForward(log, Foundation.log, on: positive)
        expectForward(sqrt, { $0.squareRoot() }, on: positive)
        expectForward({ pow($0, 3) }, { $0 * $0 * $0 }, on: input)
        expectForward({ pow($0, 2) }, { $0 * $0 }, on: input)
        expectForward({ pow($0, 0.5) }, { $0.squareRoot() }, on: positive)
        checkGradients([input]) { exp($0[0]) }
        checkGradients([positive]) { log($0[0]) }
        checkGradients([positive]) { sqrt($0[0]) }
        checkGradients([input]) { pow($0[0], 3) }
        checkGradients([positive]) { pow($0[0], 1.5) }
    }

    @Test func rectifiers() {
        expectForward(relu, { max($0, 0) }, on: input)
        expectForward({ leakyRelu($0, slope: 0.2) }, { $0 > 0 ? $0 : 0.2 * $0 }, on: input)
        checkGradients([input]) { relu($0[0]) }
        checkGradients([input]) { leakyRelu($0[0], slope: 0.2) }
    }

    @Test func smoothActivations() {
        let sigmoidReference = { (x: Double) in 1 / (1 + Foundation.exp(-x)) }
        expectForward(sigmoid, sigmoidReference, on: input)
        expectForward(tanh, Foundation.tanh, on: input)
        expectForward(silu, { $0 * sigmoidReference($0) }, on: input)
        expectForward(softplus, { Foundation.log(1 + Foundation.exp($0)) }, on: input)
        checkGradients([input]) { sigmoid($0[0]) }
        checkGradients([input]) { tanh($0[0]) }
        checkGradients([input]) { silu($0[0]) }
        checkGradients([input]) { softplus($0[0]) }
    }

    @Test func extremeInputsStayFinite() {
        let extreme = Tensor(shape: [2], values: [-100, 100])
        let s = sigmoid(Variable(extreme)).value
        #expect(s[0] < 1e-40 && s[1] == 1)
        let p = softplus(Variable(extreme)).value
        #expect(p[0] < 1e-40 && p[1] == 100)
        #expect(binaryCrossEntropy(logits: Variable(extreme), targets: Tensor(shape: [2], values: [1, 0])).value.scalar == 100)
    }

    @Test func clipGradient() {
        checkGradients([input]) { clip($0[0], low: -1, high: 1) }
        #expect(clip(Variable(input), low: -1, high: 1).value.scalars.max() == 1)
    }
}
