import Testing
@testable import TensorCore

@Suite struct ArithmeticTests {
    @Test func broadcastingForwardMatchesElementwiseDefinition() {
        let a = randomTensor([2, 1, 3], seed: 1), b = randomTensor([4, 1], seed: 2)
        let result = (Variable(a) * Variable(b)).value
        #expect(result.shape == [2, 4, 3])
        for i in 0..<2 { for j in 0..<4 { for k in 0..<3 { #expect(result[i, j, k] == a[i, 0, k] * b[j, 0]) } } }
        let difference = (Variable(a) - Variable(b)).value
        #expect(difference[1, 3, 2] == a[1, 0, 2] - b[3, 0])
        let quotient = (Variable(a) / Variable(b)).value
        #expect(quotient[0, 2, 1] == a[0, 0, 1] / b[2, 0])
    }

    @Test func addAndSubtractGradients() {
        checkGradients([randomTensor([2, 3], seed: 1), randomTensor([3], seed: 2)]) { $0[0] + $0[1] }
        checkGradients([randomTensor([2, 1, 3], seed: 3), randomTensor([4, 1], seed: 4)]) { $0[0] - $0[1] }
        checkGradients([randomTensor([3], seed: 5)]) { 2 - $0[0] * 3 }
    }

    @Test func multiplyAndDivideGradients() {
        checkGradients([randomTensor([2, 3], seed: 1), randomTensor([2, 1], seed: 2)]) { $0[0] * $0[1] }
        checkGradients([randomTensor([2, 3], seed: 3), randomTensor([3], seed: 4, low: 0.5, high: 2)]) { $0[0] / $0[1] }
        checkGradients([randomTensor([4], seed: 6), randomTensor([4], seed: 7)]) { $0[0] * $0[0] * $0[1] }
    }

    @Test func maximumForwardAndGradient() {
        let a = Tensor(shape: [3], values: [1, -2, 3]), b = Tensor(shape: [3], values: [0, 5, 2])
        #expect(maximum(Variable(a), Variable(b)).value.scalars == [1, 5, 3])
        checkGradients([Tensor(shape: [4], values: [0.5, -0.7, 0.9, -0.2]), Tensor(shape: [4], values: [0.1, 0.3, -0.4, 0.6])]) {
            maximum($0[0], $0[1])
        }
    }

    @Test func sumAndMeanOverAxes() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(sum(Variable(x)).value.scalar == 21)
        #expect(sum(Variable(x), axes: [0]).value.scalars == [5, 7, 9])
        #expect(sum(Variable(x), axes: [1], keepingDimensions: true).value.shape == [2, 1])
        #expect(sum(Variable(x), axes: [-1]).value.scalars == [6, 15])
        #expect(mean(Variable(x), axes: [1]).value.scalars == [2, 5])
        checkGradients([randomTensor([2, 3, 4])]) { sum($0[0], axes: [0, 2]) }
        checkGradients([randomTensor([2, 3, 4])]) { mean($0[0], axes: [1], keepingDimensions: true) }
        checkGradients([randomTensor([3, 2])]) { mean($0[0]) }
    }

    @Test func fanOutAccumulatesGradients() {
        let x = Variable(Tensor(shape: [2], values: [3, 4]), requiresGradient: true)
        let y = sum(x * x + x)  // d/dx = 2x + 1
        y.backward()
        #expect(x.gradient?.scalars == [7, 9])
    }

    @Test func inferenceModeRecordsNothing() {
        let x = Variable(Tensor(shape: [2], values: [1, 2]), requiresGradient: true)
        let y = withoutGradient { x * x }
        #expect(!y.requiresGradient)
        y.backward(seed: Tensor(repeating: 1, shape: [2]))
        #expect(x.gradient == nil)
    }
}
