// Tensor: Float32 values, row-major, NCHW for images, value semantics with
// copy-on-write storage. A tensor may view part of a larger storage (a model's
// flat parameter buffer): `offset` is where its first value sits.

/// Reference-counted, 64-byte aligned Float32 memory shared by tensors until one of them writes.
public final class TensorStorage: @unchecked Sendable {
    /// Number of Float32 values.
    public let count: Int
    /// The first value. Valid for the lifetime of the storage.
    public let pointer: UnsafeMutablePointer<Float>

    /// Allocates `count` values, set to zero when `zeroed`. Large buffers come from `BufferPool`.
    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = bytes >= BufferPool.minimumBytes
            ? BufferPool.shared.take(bytes: bytes)
            : UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        if zeroed { pointer.initialize(repeating: 0, count: count) }
    }

    deinit {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= BufferPool.minimumBytes {
            BufferPool.shared.give(UnsafeMutableRawPointer(pointer), bytes: bytes)
        } else {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }
}

/// How a tensor's values lie in memory.
public enum TensorLayout: Hashable, Sendable {
    /// Row-major in the order of the shape (NCHW for images): every tensor outside the convolutions.
    case standard
    /// Images [N, C, H, W] stored as [N, C/block, H, W, block] (oneDNN's nChw8c / nChw16c, C a multiple of
    /// `block`): what oneDNN's convolutions read and write without reordering, kept between convolutions.
    case channelBlocked(Int)
}

/// An n-dimensional array of Float32 values with value semantics.
///
/// Shapes are row-major; images are NCHW (batch, channels, height, width). A tensor in another `layout` (the
/// channel-blocked images that convolutions pass to each other) exposes its values only to layout-aware kernels:
/// `standardized()` gives the row-major copy that everything else reads.
public struct Tensor: @unchecked Sendable {
    /// Size of each dimension, outermost first.
    public private(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage
    @usableFromInline var offset: Int
    /// How the values lie in memory (`.standard` unless a convolution made it).
    public private(set) var layout: TensorLayout = .standard

    /// Number of values (the product of the shape).
    public var count: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        Tensor.validate(shape)
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *))
        offset = 0
    }

    /// A tensor whose values are left for the caller to write (through `withUnsafeMutableBufferPointer`).
    public init(uninitialized shape: [Int]) {
        Tensor.validate(shape)
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *), zeroed: false)
        offset = 0
    }

    /// An image tensor [N, C, H, W] in `layout`, its values left for a layout-aware kernel to write.
    init(uninitialized shape: [Int], layout: TensorLayout) {
        self.init(uninitialized: shape)
        if case .channelBlocked(let block) = layout {
            guard shape.count == 4, shape[1] % block == 0 else { fatalError("layout \(layout) for a tensor of shape \(shape)") }
        }
        self.layout = layout
    }

    /// A tensor with every value equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(uninitialized: shape)
        storage.pointer.update(repeating: value, count: count)
    }

    /// A tensor with the given values in row-major order.
    public init(shape: [Int], values: [Float]) {
        Tensor.validate(shape)
        guard values.count == shape.reduce(1, *) else {
            fatalError("Tensor(shape: \(shape)) needs \(shape.reduce(1, *)) values, got \(values.count)")
        }
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A scalar (shape `[]`).
    public init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    /// A view of `shape.product` values of `storage` starting at `offset` (no copy).
    public init(viewing storage: TensorStorage, offset: Int, shape: [Int]) {
        Tensor.validate(shape)
        guard offset >= 0, offset + shape.reduce(1, *) <= storage.count else {
            fatalError("view of \(shape) at offset \(offset) exceeds storage of \(storage.count) values")
        }
        self.storage = storage
        self.offset = offset
        self.shape = shape
    }

    private static func validate(_ shape: [Int]) {
        if shape.contains(where: { $0 < 0 }) { fatalError("negative dimension in shape \(shape)") }
    }

    /// The values in row-major order.
    public var scalars: [Float] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// The single value of a one-element tensor.
    public var scalar: Float {
        guard count == 1 else { fatalError("scalar of a tensor of shape \(shape)") }
        requireStandardLayout()
        return storage.pointer[offset]
    }

    /// Reads the values without copying.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        requireStandardLayout()
        return try body(UnsafeBufferPointer(start: storage.pointer + offset, count: count))
    }

    /// Writes the values in place, copying the storage first if another tensor shares it.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        requireStandardLayout()
        return try withUnsafeMutableStorage(body)
    }

    /// Writes the values in place in whatever layout they are, copying the storage first if another tensor shares it.
    @inlinable
    mutating func withUnsafeMutableStorage<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) || offset != 0 || storage.count != count {
            let copy = TensorStorage(count: count, zeroed: false)
            copy.pointer.update(from: storage.pointer + offset, count: count)
            storage = copy
            offset = 0
        }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// The first value's address, for kernels that read. Valid while `self` is alive.
    @inlinable
    public var readPointer: UnsafePointer<Float> {
        requireStandardLayout()
        return UnsafePointer(storage.pointer + offset)
    }

    /// The first value's address for writing without copy-on-write: only for tensors that own their
    /// storage by design (a flat parameter or gradient buffer, a freshly allocated output).
    @inlinable
    public var sharedWritePointer: UnsafeMutablePointer<Float> {
        requireStandardLayout()
        return storage.pointer + offset
    }

    /// The first value's address in whatever layout the values are, for layout-aware kernels (and elementwise
    /// passes, which do not care). Writing through it skips copy-on-write, as `sharedWritePointer` does.
    @inlinable
    var storagePointer: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Stops with a message when a kernel that reads row-major values is handed a channel-blocked tensor.
    @inlinable
    func requireStandardLayout() {
        if case .standard = layout { return }
        layoutMismatch()
    }

    @usableFromInline
    func layoutMismatch() -> Never {
        fatalError("a tensor of shape \(shape) in layout \(layout) was read as row-major: call standardized() first")
    }

    /// The same values with another shape of equal count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else { fatalError("cannot reshape \(shape) to \(newShape)") }
            resolved[inferred] = count / known
        }
        guard resolved.reduce(1, *) == count else { fatalError("cannot reshape \(shape) to \(newShape)") }
        requireStandardLayout()
        var result = self
        result.shape = resolved
        return result
    }

    /// Rows `range` along the first axis (samples of a batch), as a view (no copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        guard let first = shape.first, range.lowerBound >= 0, range.upperBound <= first else { fatalError("rows \(range) of a tensor of shape \(shape)") }
        requireStandardLayout()
        if range == 0..<first { return self }
        let perRow = shape.dropFirst().reduce(1, *)
        return Tensor(viewing: storage, offset: offset + range.lowerBound * perRow, shape: [range.count] + shape.dropFirst())
    }

    /// Value at a multi-dimensional index (for tests and small tensors).
    public subscript(_ index: Int...) -> Float {
        get {
            requireStandardLayout()
            return storage.pointer[offset + flatIndex(index)]
        }
        set {
            let position = flatIndex(index)
            withUnsafeMutableBufferPointer { $0[position] = newValue }
        }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        guard index.count == shape.count else { fatalError("index \(index) for shape \(shape)") }
        var position = 0
        for (axis, value) in index.enumerated() {
            guard value >= 0, value < shape[axis] else { fatalError("index \(index) out of shape \(shape)") }
            position = position * shape[axis] + value
        }
        return position
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = standardized().scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(shown)\(count > 8 ? ", ..." : "")])"
    }
}

/// Row-major strides of a shape.
@inlinable
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[axis] = running
        running *= shape[axis]
    }
    return strides
}
