// Conversions between tensor layouts: row-major NCHW and oneDNN's channel blocks nChw8c / nChw16c.
//
// Shape legend: images [N, C, H, W]; channel-blocked with block b: [N, C/b, H, W, b], so value (n, c, h, w) sits at
// ((n * C/b + c / b) * H * W + h * W + w) * b + c % b. Each image stays contiguous in both layouts.

import COneDNN

extension TensorLayout {
    /// The channel block in COneDNN's terms (0 for row-major).
    var channelBlock: Int32 {
        if case .channelBlocked(let block) = self { return Int32(block) }
        return 0
    }

    /// The layout of COneDNN's channel block `block` (0 for row-major).
    init(channelBlock block: Int32) {
        self = block == 0 ? .standard : .channelBlocked(Int(block))
    }
}

extension Tensor {
    /// The values in row-major order: `self` when they already are, else a converted copy.
    public func standardized() -> Tensor { converted(to: .standard) }

    /// The same values in `layout`: `self` when already so, else a converted copy.
    func converted(to layout: TensorLayout) -> Tensor {
        if layout == self.layout { return self }
        let result = Tensor(uninitialized: shape, layout: layout)
        convertLayout(destination: result.storagePointer, layout, source: storagePointer, self.layout, shape: shape)
        return result
    }
}

/// Writes the image tensor `source` [N, C, H, W] (in `sourceLayout`) into `destination` in `destinationLayout`,
/// through oneDNN's reorders.
func convertLayout(destination: UnsafeMutablePointer<Float>, _ destinationLayout: TensorLayout, source: UnsafePointer<Float>,
                   _ sourceLayout: TensorLayout, shape: [Int]) {
    guard shape.count == 4 else { fatalError("layout conversion of a tensor of shape \(shape): only images [N, C, H, W] have layouts") }
    let status = gentrain_onednn_reorder(shape[0], shape[1], shape[2], shape[3], sourceLayout.channelBlock,
                                         destinationLayout.channelBlock, Int32(Parallelism.threads), destination, source)
    guard status == 0 else { fatalError("layout conversion failed: \(String(cString: gentrain_onednn_last_error()))") }
}

/// The position of value (n, c, h, w) of an image tensor of `shape` in `layout`.
@inline(__always)
func layoutOffset(_ n: Int, _ c: Int, _ h: Int, _ w: Int, shape: [Int], layout: TensorLayout) -> Int {
    let (channels, height, width) = (shape[1], shape[2], shape[3])
    guard case .channelBlocked(let block) = layout else { return ((n * channels + c) * height + h) * width + w }
    return (((n * (channels / block) + c / block) * height + h) * width + w) * block + c % block
}

/// Naive twin of `convertLayout`, one value at a time by index arithmetic, for tests.
func convertLayoutNaive(destination: UnsafeMutablePointer<Float>, _ destinationLayout: TensorLayout, source: UnsafePointer<Float>,
                        _ sourceLayout: TensorLayout, shape: [Int]) {
    for n in 0..<shape[0] {
        for c in 0..<shape[1] {
            for h in 0..<shape[2] {
                for w in 0..<shape[3] {
                    destination[layoutOffset(n, c, h, w, shape: shape, layout: destinationLayout)] =
                        source[layoutOffset(n, c, h, w, shape: shape, layout: sourceLayout)]
                }
            }
        }
    }
}
