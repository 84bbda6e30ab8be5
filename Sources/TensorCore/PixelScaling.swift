/// How image bytes become Float32 pixels.
public enum PixelScaling: String, Sendable, Codable {
    /// `byte / 255`, in [0, 1].
    case unit
    /// `byte / 127.5 - 1`, in [-1, 1].
    case symmetric

    /// The pixel range.
    public var range: ClosedRange<Float> { self == .unit ? 0...1 : -1...1 }
}
