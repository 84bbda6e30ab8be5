// Named arrays: what `gentrain export` writes (safetensors, npz). Row-major (C order), little-endian when
// written; the element type is the file's dtype.

/// The elements of a named array, with their type.
public enum ArrayElements: Sendable, Equatable {
    case float32([Float])
    case float64([Double])
    case int64([Int64])

    /// Number of elements.
    public var count: Int {
        switch self {
        case .float32(let values): values.count
        case .float64(let values): values.count
        case .int64(let values): values.count
        }
    }

    /// Bytes per element.
    public var elementSize: Int {
        switch self {
        case .float32: 4
        case .float64, .int64: 8
        }
    }
}

/// An n-dimensional array with a name, e.g. `encoder.conv1.weight` [32, 1, 3, 3] or a mixture's `means` [K, D].
public struct NamedArray: Sendable, Equatable {
    public let name: String
    /// Row-major shape; `[]` for a scalar.
    public let shape: [Int]
    public let elements: ArrayElements

    public init(name: String, shape: [Int], elements: ArrayElements) {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == elements.count else {
            fatalError("NamedArray \(name): shape \(shape) does not hold \(elements.count) elements")
        }
        self.name = name
        self.shape = shape
        self.elements = elements
    }

    /// A float32 array with a tensor's values and shape.
    public init(name: String, tensor: Tensor) {
        self.init(name: name, shape: tensor.shape, elements: .float32(tensor.scalars))
    }
}
