// Average pooling (NCHW); nearest-neighbour upsampling, which runs in any layout, is in `FeatureMapOps.swift`.
// Shape legend: x [N, C, H, W]; pooled [N, C, H/k, W/k].

/// Mean over non-overlapping `size x size` windows (Keras `AveragePooling2D` with valid padding; leftover rows
/// and columns are dropped). Pullback: each window's gradient spread evenly over it.
public func averagePool(_ x: Variable, size: Int) -> Variable {
    guard x.shape.count == 4, size >= 1, x.shape[2] >= size, x.shape[3] >= size else { fatalError("averagePool of \(x.shape) by \(size)") }
    let (planes, height, width) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let (outHeight, outWidth) = (height / size, width / size)
    let output = Tensor(zeros: [x.shape[0], x.shape[1], outHeight, outWidth])
    let scale = 1 / Float(size * size)
    let source = x.value.readPointer, destination = output.sharedWritePointer
    for plane in 0..<planes {
        for row in 0..<(outHeight * size) {
            let from = source + (plane * height + row) * width
            let to = destination + (plane * outHeight + row / size) * outWidth
            for column in 0..<(outWidth * size) { to[column / size] += from[column] * scale }
        }
    }
    return Variable.record(output, inputs: [x]) { gradient in
        let upstream = gradient.readPointer
        x.accumulateGradient { dx in
            for plane in 0..<planes {
                for row in 0..<(outHeight * size) {
                    let from = upstream + (plane * outHeight + row / size) * outWidth
                    let to = dx + (plane * height + row) * width
                    for column in 0..<(outWidth * size) { to[column] += from[column / size] * scale }
                }
            }
        }
    }
}
