// Softmax and log-softmax over the last axis. Shape legend: [rows, classes]
// (any leading shape, flattened into rows).

import Foundation

/// `output[r, :] = softmax(input[r, :])`, subtracting the row maximum for stability.
func softmaxKernel(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, classes: Int, logarithm: Bool) {
    for row in 0..<rows {
        let x = input + row * classes
        let y = output + row * classes
        var largest = -Float.infinity
        for index in 0..<classes { largest = max(largest, x[index]) }
        var total: Float = 0
        for index in 0..<classes { total += Foundation.exp(x[index] - largest) }
        if logarithm {
            let logTotal = Foundation.log(total) + largest
            for index in 0..<classes { y[index] = x[index] - logTotal }
        } else {
            let inverse = 1 / total
            for index in 0..<classes { y[index] = Foundation.exp(x[index] - largest) * inverse }
        }
    }
}

/// Softmax over the last axis. Pullback: `dx = y * (dy - sum(dy * y))` per row.
public func softmax(_ x: Variable) -> Variable {
    let classes = x.shape.last ?? 1
    let rows = x.value.count / max(classes, 1)
    let output = Tensor(uninitialized: x.shape)
    softmaxKernel(output: output.sharedWritePointer, input: x.value.readPointer, rows: rows, classes: classes, logarithm: false)
    return Variable.record(output, inputs: [x]) { gradient in
        let y = output.readPointer
        let dy = gradient.readPointer
        x.accumulateGradient { dx in
            for row in 0..<rows {
                let base = row * classes
                var dot: Float = 0
                for index in 0..<classes { dot += dy[base + index] * y[base + index] }
                for index in 0..<classes { dx[base + index] += y[base + index] * (dy[base + index] - dot) }
            }
        }
    }
}

/// Log-softmax over the last axis. Pullback: `dx = dy - softmax(x) * sum(dy)` per row.
public func logSoftmax(_ x: Variable) -> Variable {
    let classes = x.shape.last ?? 1
    let rows = x.value.count / max(classes, 1)
    let output = Tensor(uninitialized: x.shape)
    softmaxKernel(output: output.sharedWritePointer, input: x.value.readPointer, rows: rows, classes: classes, logarithm: true)
    return Variable.record(output, inputs: [x]) { gradient in
        let y = output.readPointer
        let dy = gradient.readPointer
        x.accumulateGradient { dx in
            for row in 0..<rows {
                let base = row * classes
                var total: Float = 0
                for index in 0..<classes { total += dy[base + index] }
                for index in 0..<classes { dx[base + index] += dy[base + index] - Foundation.exp(y[base + index]) * total }
            }
        }
    }
}
