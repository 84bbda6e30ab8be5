// Broadcasting kernels (NumPy rules): shapes are aligned on their last axes and
// a dimension of 1 stretches to the other's size. A broadcast input is read with
// stride 0 along its stretched axes. Reductions to a shape are the adjoint:
// they add every value of the input into the output position it came from.

/// The shape two broadcast operands produce, or nil when they are incompatible.
public func broadcastShape(_ first: [Int], _ second: [Int]) -> [Int]? {
    let rank = max(first.count, second.count)
    var result = [Int](repeating: 1, count: rank)
    for axis in 0..<rank {
        let a = axis - (rank - first.count) >= 0 ? first[axis - (rank - first.count)] : 1
        let b = axis - (rank - second.count) >= 0 ? second[axis - (rank - second.count)] : 1
        if a == b || b == 1 { result[axis] = a } else if a == 1 { result[axis] = b } else { return nil }
    }
    return result
}

/// Strides for reading a tensor of `shape` as if it had `target` shape (0 on broadcast axes).
func broadcastStrides(of shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let lead = target.count - shape.count
    return (0..<target.count).map { axis in
        axis < lead || shape[axis - lead] == 1 ? 0 : own[axis - lead]
    }
}

/// Calls `body(rowOffsets, length)` for each innermost row of `shape`, where `rowOffsets[k]` is
/// where the row starts in operand `k` read with `strides[k]`.
@inline(__always)
func forEachRow(shape: [Int], strides: [[Int]], _ body: ([Int], Int) -> Void) {
    let rank = shape.count
    if rank == 0 {
        body([Int](repeating: 0, count: strides.count), 1)
        return
    }
    let length = shape[rank - 1]
    let rows = shape.dropLast().reduce(1, *)
    if length == 0 || rows == 0 { return }
    var index = [Int](repeating: 0, count: max(rank - 1, 0))
    var offsets = [Int](repeating: 0, count: strides.count)
    for _ in 0..<rows {
        body(offsets, length)
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            for operand in 0..<strides.count { offsets[operand] += strides[operand][axis] }
            if index[axis] < shape[axis] { break }
            for operand in 0..<strides.count { offsets[operand] -= strides[operand][axis] * shape[axis] }
            index[axis] = 0
            axis -= 1
        }
    }
}

/// `output = operation(first, second)` with broadcasting; `output` has the broadcast shape.
@inline(__always)
func broadcastBinaryKernel(
    output: UnsafeMutablePointer<Float>, shape: [Int],
    first: UnsafePointer<Float>, firstShape: [Int],
    second: UnsafePointer<Float>, secondShape: [Int],
    _ operation: (Float, Float) -> Float
) {
    let count = shape.reduce(1, *)
    if firstShape == shape && secondShape == shape {
        for index in 0..<count { output[index] = operation(first[index], second[index]) }
        return
    }
    if secondShape.reduce(1, *) == 1 && firstShape == shape {
        let value = second[0]
        for index in 0..<count { output[index] = operation(first[index], value) }
        return
    }
    let strides = [contiguousStrides(shape), broadcastStrides(of: firstShape, to: shape),
                   broadcastStrides(of: secondShape, to: shape)]
    let innerFirst = strides[1].last ?? 0
    let innerSecond = strides[2].last ?? 0
    forEachRow(shape: shape, strides: strides) { offsets, length in
        let out = output + offsets[0]
        let a = first + offsets[1]
        let b = second + offsets[2]
        for index in 0..<length { out[index] = operation(a[index * innerFirst], b[index * innerSecond]) }
    }
}

/// Adds every value of `input` (of `shape`) into `output` (of `outputShape`, broadcastable to `shape`):
/// the sum over the axes that broadcasting stretched.
func reduceSumKernel(output: UnsafeMutablePointer<Float>, outputShape: [Int],
                     input: UnsafePointer<Float>, shape: [Int]) {
    let count = shape.reduce(1, *)
    if outputShape.reduce(1, *) == count {
        for index in 0..<count { output[index] += input[index] }
        return
    }
    let strides = [contiguousStrides(shape), broadcastStrides(of: outputShape, to: shape)]
    let innerOutput = strides[1].last ?? 0
    forEachRow(shape: shape, strides: strides) { offsets, length in
        let source = input + offsets[0]
        let destination = output + offsets[1]
        if innerOutput == 0 {
            var total: Float = 0
            for index in 0..<length { total += source[index] }
            destination[0] += total
        } else {
            for index in 0..<length { destination[index] += source[index] }
        }
    }
}

extension Tensor {
    /// `operation` applied elementwise with broadcasting.
    @inline(__always)
    static func broadcasting(_ first: Tensor, _ second: Tensor, _ operation: (Float, Float) -> Float) -> Tensor {
        guard let shape = broadcastShape(first.shape, second.shape) else {
            fatalError("shapes \(first.shape) and \(second.shape) do not broadcast")
        }
        let result = Tensor(uninitialized: shape)
        broadcastBinaryKernel(output: result.sharedWritePointer, shape: shape,
                              first: first.readPointer, firstShape: first.shape,
                              second: second.readPointer, secondShape: second.shape, operation)
        return result
    }

    /// `operation` applied to each value.
    @inline(__always)
    func map(_ operation: (Float) -> Float) -> Tensor {
        let result = Tensor(uninitialized: shape)
        let source = readPointer
        let destination = result.sharedWritePointer
        for index in 0..<count { destination[index] = operation(source[index]) }
        return result
    }

    /// The sum of this tensor's values into `target` shape (the adjoint of broadcasting to `shape`).
    public func summed(toShape target: [Int]) -> Tensor {
        if target == shape { return self }
        guard broadcastShape(target, shape) == shape else { fatalError("cannot reduce \(shape) to \(target)") }
        let result = Tensor(zeros: target)
        reduceSumKernel(output: result.sharedWritePointer, outputShape: target, input: readPointer, shape: shape)
        return result
    }
}
