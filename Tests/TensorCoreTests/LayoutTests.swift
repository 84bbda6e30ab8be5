import Testing
@testable import TensorCore

@Suite struct LayoutTests {
    @Test func reshapeAndFlatten() {
        let x = randomTensor([2, 3, 4])
        #expect(reshape(Variable(x), [6, -1]).shape == [6, 4])
        #expect(flatten(Variable(x)).shape == [2, 12])
        checkGradients([x]) { reshape($0[0], [4, 6]) }
    }

    @Test func permuteMovesValues() {
        let x = randomTensor([2, 3, 4])
        let y = permute(Variable(x), [2, 0, 1]).value
        #expect(y.shape == [4, 2, 3])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { #expect(y[k, i, j] == x[i, j, k]) } } }
        let t = transpose(Variable(x)).value
        #expect(t[1, 3, 2] == x[1, 2, 3])
        checkGradients([x]) { permute($0[0], [1, 2, 0]) }
        checkGradients([randomTensor([3, 5])]) { transpose($0[0]) }
    }

    @Test func concatenateAndSlice() {
        let a = randomTensor([2, 1, 3], seed: 1), b = randomTensor([2, 2, 3], seed: 2)
        let joined = concatenate([Variable(a), Variable(b)], axis: 1).value
        #expect(joined.shape == [2, 3, 3])
        #expect(joined[1, 0, 2] == a[1, 0, 2])
        #expect(joined[1, 2, 1] == b[1, 1, 1])
        checkGradients([a, b]) { concatenate([$0[0], $0[1]], axis: 1) }
        checkGradients([a, randomTensor([2, 1, 3], seed: 3)]) { concatenate([$0[0], $0[1]], axis: 0) }
        let x = randomTensor([3, 4])
        let part = slice(Variable(x), axis: 1, range: 1..<3).value
        #expect(part.shape == [3, 2])
        #expect(part[2, 0] == x[2, 1])
        checkGradients([x]) { slice($0[0], axis: 1, range: 1..<3) }
        checkGradients([x]) { slice($0[0], axis: 0, range: 2..<3) }
    }

    @Test func softmaxRowsAndGradients() {
        let x = randomTensor([3, 5], seed: 4, low: -3, high: 3)
        let y = softmax(Variable(x)).value
        for row in 0..<3 {
            let total = (0..<5).reduce(Float(0)) { $0 + y[row, $1] }
            #expect(abs(total - 1) < 1e-6)
            #expect(abs(y[row, 2] / y[row, 0] - Float.exp(x[row, 2] - x[row, 0])) < 1e-4)
        }
        let logY = logSoftmax(Variable(x)).value
        #expect(maxDifference(logY, y.map { Float.log($0) }) < 1e-5)
        checkGradients([x]) { softmax($0[0]) }
        checkGradients([x]) { logSoftmax($0[0]) }
    }
}

extension Float {
    static func exp(_ x: Float) -> Float { Float(Foundation.exp(Double(x))) }
    static func log(_ x: Float) -> Float { Float(Foundation.log(Double(x))) }
}

import Foundation
