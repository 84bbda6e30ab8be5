// Differentiable layout ops: reshape, permute/transpose, concatenate, slice.
// Shape legend: any rank, row-major.

/// Writes `input` (of `shape`) permuted by `permutation` into `output`: output axis k is input axis permutation[k].
func permuteKernel(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, shape: [Int], permutation: [Int]) {
    let inputStrides = contiguousStrides(shape)
    let outputShape = permutation.map { shape[$0] }
    let strides = [contiguousStrides(outputShape), permutation.map { inputStrides[$0] }]
    let inner = strides[1].last ?? 1
    forEachRow(shape: outputShape, strides: strides) { offsets, length in
        let destination = output + offsets[0]
        let source = input + offsets[1]
        for index in 0..<length { destination[index] = source[index * inner] }
    }
}

/// The same values with a new shape (one entry may be -1). Pullback: reshape back.
public func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
    let inputShape = x.shape
    return Variable.record(x.value.reshaped(shape), inputs: [x]) { gradient in
        x.accumulateGradient(gradient.reshaped(inputShape))
    }
}

/// Flattens every axis after the first: `[N, ...] -> [N, product]`.
public func flatten(_ x: Variable) -> Variable { reshape(x, [x.shape[0], -1]) }

extension Tensor {
    /// Axes reordered: result axis k is this tensor's axis `permutation[k]`.
    public func permuted(_ permutation: [Int]) -> Tensor {
        guard permutation.sorted() == Array(0..<rank) else { fatalError("bad permutation \(permutation) for rank \(rank)") }
        let result = Tensor(uninitialized: permutation.map { shape[$0] })
        permuteKernel(output: result.sharedWritePointer, input: readPointer, shape: shape, permutation: permutation)
        return result
    }
}

/// Axes reordered: result axis k is input axis `permutation[k]`. Pullback: the inverse permutation.
public func permute(_ x: Variable, _ permutation: [Int]) -> Variable {
    var inverse = [Int](repeating: 0, count: permutation.count)
    for (position, axis) in permutation.enumerated() { inverse[axis] = position }
    return Variable.record(x.value.permuted(permutation), inputs: [x]) { gradient in
        x.accumulateGradient(gradient.permuted(inverse))
    }
}

/// Swaps two axes (the last two by default).
public func transpose(_ x: Variable, _ first: Int = -2, _ second: Int = -1) -> Variable {
    var permutation = Array(0..<x.shape.count)
    let a = first < 0 ? first + x.shape.count : first
    let b = second < 0 ? second + x.shape.count : second
    permutation.swapAt(a, b)
    return permute(x, permutation)
}

/// Joins tensors along `axis`; all other dimensions must agree. Pullback: each operand gets its slice.
public func concatenate(_ parts: [Variable], axis: Int) -> Variable {
    guard let first = parts.first else { fatalError("concatenate of no tensors") }
    let rank = first.shape.count
    let axis = axis < 0 ? axis + rank : axis
    for part in parts where part.shape.count != rank || part.shape.enumerated().contains(where: { $0.offset != axis && $0.element != first.shape[$0.offset] }) {
        fatalError("concatenate: shape \(part.shape) does not match \(first.shape) outside axis \(axis)")
    }
    let outer = first.shape[..<axis].reduce(1, *)
    let inner = first.shape[(axis + 1)...].reduce(1, *)
    let sizes = parts.map { $0.shape[axis] }
    let total = sizes.reduce(0, +)
    var outputShape = first.shape
    outputShape[axis] = total
    let output = Tensor(uninitialized: outputShape)
    var start = 0
    for (part, size) in zip(parts, sizes) {
        let source = part.value.readPointer
        let destination = output.sharedWritePointer
        for row in 0..<outer {
            (destination + (row * total + start) * inner).update(from: source + row * size * inner, count: size * inner)
        }
        start += size
    }
    return Variable.record(output, inputs: parts) { gradient in
        var start = 0
        for (part, size) in zip(parts, sizes) {
            defer { start += size }
            guard part.requiresGradient else { continue }
            let source = gradient.readPointer
            part.accumulateGradient { destination in
                for row in 0..<outer {
                    let from = source + (row * total + start) * inner
                    let to = destination + row * size * inner
                    for index in 0..<(size * inner) { to[index] += from[index] }
                }
            }
        }
    }
}

/// The part of `x` with indices `range` along `axis`. Pullback: the gradient added back into that range.
public func slice(_ x: Variable, axis: Int, range: Range<Int>) -> Variable {
    let axis = axis < 0 ? axis + x.shape.count : axis
    let length = x.shape[axis]
    guard range.lowerBound >= 0, range.upperBound <= length else { fatalError("slice \(range) of axis \(axis) with size \(length)") }
    let outer = x.shape[..<axis].reduce(1, *)
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    var outputShape = x.shape
    outputShape[axis] = range.count
    let output = Tensor(uninitialized: outputShape)
    let source = x.value.readPointer
    for row in 0..<outer {
        (output.sharedWritePointer + row * range.count * inner)
            .update(from: source + (row * length + range.lowerBound) * inner, count: range.count * inner)
    }
    return Variable.record(output, inputs: [x]) { gradient in
        let from = gradient.readPointer
        x.accumulateGradient { destination in
            for row in 0..<outer {
                let to = destination + (row * length + range.lowerBound) * inner
                let source = from + row * range.count * inner
                for index in 0..<(range.count * inner) { to[index] += source[index] }
            }
        }
    }
}
