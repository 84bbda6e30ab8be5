/// How image bytes become Float32 pixels.
public enum PixelScaling: String, Sendable, Codable {
    /// `byte / 255`, in [0, 1].
    case unit
    /// `byte / 127.5 - 1`, in [-1, 1].
    case symmetric

    /// The pixel range.
    public var range: ClosedRange<Float> { self == .unit ? 0...1 : -1...1 }
}

extension PixelScaling {
    /// The 8-bit value of a pixel, as a saved picture holds it: `round((v - low) * 255 / (high - low))`,
    /// clamped to 0...255 (NaN becomes 0).
    @inline(__always)
    public func byte(_ value: Float) -> UInt8 {
        let scaled = (value - range.lowerBound) * (255 / (range.upperBound - range.lowerBound))
        guard scaled == scaled else { return 0 }
        return UInt8(max(0, min(255, scaled.rounded())))
    }

    /// Images in this scaling quantized to 8 bits and returned in [0, 1] (`byte / 255`): what metrics see,
    /// the same for generated images as for the dataset's.
    public func quantizedToUnit(_ images: Tensor) -> Tensor {
        var result = Tensor(uninitialized: images.shape)
        images.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { destination in
                for index in 0..<source.count { destination[index] = Float(byte(source[index])) / 255 }
            }
        }
        return result
    }
}
