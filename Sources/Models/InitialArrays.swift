// A fit's starting point from a file (`model.init: FILE.npz` or `.safetensors`): the arrays EM starts from when
// the user gives them, as scikit-learn's weights_init / means_init / precisions_init or hmmlearn's attributes.
// Every problem is one line naming the file, the array and what is wrong (a `DatasetError`: bad input, exit 65).

import DataIO
import TensorCore

/// The named arrays of a `.npz` or `.safetensors` file in Float64, each checked against the shape a model expects.
struct InitialArrays {
    let path: String
    private let arrays: [NamedArray]

    init(path: String) throws {
        self.path = path
        let lowercased = path.lowercased()
        do {
            if lowercased.hasSuffix(".npz") {
                arrays = try NumPyArchive.read(path: path)
            } else if lowercased.hasSuffix(".safetensors") {
                arrays = try Safetensors.read(path: path).arrays
            } else {
                throw DatasetError(path: path, problem: "model.init names a .npz or .safetensors file")
            }
        } catch let error as ArrayFileError {
            throw DatasetError(path: error.path, problem: error.problem)
        }
    }

    /// An array the model does not read is an error (a misspelt name would otherwise be ignored).
    func refuseOthers(than known: [String]) throws {
        if let unknown = arrays.first(where: { !known.contains($0.name) }) {
            throw DatasetError(path: path, problem: "array '\(unknown.name)' is not one of \(known.joined(separator: ", "))")
        }
    }

    /// The finite values of array `name` (nil when the file has none), which must have `shape`; `meaning` names its axes.
    func values(_ name: String, shape: [Int], meaning: String) throws -> [Double]? {
        guard let array = arrays.first(where: { $0.name == name }) else { return nil }
        guard array.shape == shape else {
            throw DatasetError(path: path, problem: "array '\(name)' has shape \(array.shape); expected \(shape) (\(meaning))")
        }
        let values: [Double] = switch array.elements {
        case .float32(let values): values.map(Double.init)
        case .float64(let values): values
        case .int64(let values): values.map(Double.init)
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw DatasetError(path: path, problem: "array '\(name)' holds \(values[bad]) at flat index \(bad); expected finite values")
        }
        return values
    }

    /// As `values`, for an array the model cannot start without.
    func required(_ name: String, shape: [Int], meaning: String) throws -> [Double] {
        guard let values = try values(name, shape: shape, meaning: meaning) else {
            throw DatasetError(path: path, problem: "no array '\(name)' (\(shape): \(meaning))")
        }
        return values
    }

    /// Refuses a negative value in `values` (of array `name`), or, with `positive`, a value not above zero.
    func refuseNegative(_ values: [Double], of name: String, positive: Bool = false) throws {
        if let bad = values.firstIndex(where: { $0 < 0 || (positive && $0 == 0) }) {
            throw DatasetError(path: path, problem: "array '\(name)' holds \(values[bad]) at flat index \(bad); expected "
                               + (positive ? "positive" : "non-negative") + " values")
        }
    }

    /// Refuses rows of `width` probabilities in `values` (of array `name`) that do not sum to 1.
    func refuseUnnormalized(_ values: [Double], of name: String, width: Int) throws {
        for row in 0..<(values.count / max(width, 1)) {
            let sum = values[(row * width)..<((row + 1) * width)].reduce(0, +)
            guard abs(sum - 1) <= 1e-8 + 1e-5 else {
                throw DatasetError(path: path, problem: "array '\(name)' row \(row) sums to \(sum), not 1")
            }
        }
    }
}
