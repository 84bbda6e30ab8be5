// What a model declares about its job file section, so that the job reader can validate any model
// without knowing it: the keys of `model:` with their types, defaults and ranges, the parameter groups
// with their default optimizers, the data it consumes, the metrics it can report. Models state these
// in their own files (Sources/Models); the job reader only interprets them.

/// One key of a model's `model:` section.
public struct OptionSchema: Sendable, Equatable {
    /// What values the key takes.
    public enum Kind: Sendable, Equatable {
        case integer(ClosedRange<Int>)
        case number(ClosedRange<Double>)
        case choice([String])
        /// One of the words, or the path of an existing file with one of the extensions (an initialisation from a file).
        case choiceOrFile([String], extensions: [String])
    }

    public let name: String
    public let kind: Kind
    public let defaultValue: OptionValue
    /// One line for docs/job-files.md.
    public let help: String

    public static func integer(_ name: String, default value: Int, in range: ClosedRange<Int>, help: String) -> OptionSchema {
        OptionSchema(name: name, kind: .integer(range), defaultValue: .integer(value), help: help)
    }

    public static func number(_ name: String, default value: Double, in range: ClosedRange<Double>, help: String) -> OptionSchema {
        OptionSchema(name: name, kind: .number(range), defaultValue: .number(value), help: help)
    }

    public static func choice(_ name: String, default value: String, from choices: [String], help: String) -> OptionSchema {
        OptionSchema(name: name, kind: .choice(choices), defaultValue: .text(value), help: help)
    }

    public static func choiceOrFile(_ name: String, default value: String, from choices: [String], extensions: [String],
                                    help: String) -> OptionSchema {
        OptionSchema(name: name, kind: .choiceOrFile(choices, extensions: extensions), defaultValue: .text(value), help: help)
    }

    /// The allowed values, as docs/job-files.md prints them.
    public var allowed: String {
        switch kind {
        case .integer(let range): "\(range.lowerBound)...\(range.upperBound)"
        case .number(let range): "\(formatNumber(range.lowerBound))...\(formatNumber(range.upperBound))"
        case .choice(let choices): choices.joined(separator: ", ")
        case .choiceOrFile(let choices, let extensions):
            choices.joined(separator: ", ") + " or a " + extensions.map { "`.\($0)`" }.joined(separator: " or ") + " file"
        }
    }
}

/// A value of a model option: stored in the job's canonical JSON as a plain JSON number or string.
public enum OptionValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case integer(Int)
    case number(Double)
    case text(String)

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let integer = try? container.decode(Int.self) {
            self = .integer(integer)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        }
    }

    /// Numbers compare by value: `1` read back from JSON is the same option as `1.0`.
    public static func == (left: OptionValue, right: OptionValue) -> Bool {
        switch (left, right) {
        case (.text(let a), .text(let b)): a == b
        case (.text, _), (_, .text): false
        default: left.numberValue == right.numberValue
        }
    }

    /// The value as a number (nil for text).
    public var numberValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        case .text: nil
        }
    }

    public var description: String {
        switch self {
        case .integer(let value): "\(value)"
        case .number(let value): formatNumber(value)
        case .text(let value): value
        }
    }
}

/// A parameter group a model trains, with its optimizer when the job names none.
public struct GroupSchema: Sendable, Equatable {
    public let name: String
    public let defaultOptimizer: OptimizerSpec

    public init(_ name: String, optimizer: OptimizerSpec) {
        self.name = name
        defaultOptimizer = optimizer
    }
}

/// The data a model consumes and how it is drawn by default.
public struct DataSchema: Sendable, Equatable {
    /// How many real samples one step of a global batch of B consumes.
    public enum RealImagesPerStep: String, Sendable, Equatable {
        /// B real images (autoencoders, classifiers).
        case wholeBatch
        /// B/2 real images, the other half generated (the course's GAN step): B must be even.
        case halfBatch
        /// Every sample once, each rank its share (one step of a fit by sufficient statistics, e.g. an EM iteration):
        /// `train.batch_size` does not apply.
        case wholeDataset
    }

    /// What the model consumes.
    public enum Samples: String, Sendable, Equatable {
        /// 28x28 images from IDX files.
        case images
        /// Rows of numbers: a table (`data.dataset: table`, a `.npy` [N, D] or CSV file), or images flattened to 784 values.
        case vectors
        /// Sequences of T vectors of D values: `data.dataset: sequences` (a `.npy` [N, T, D] file), or images read row by
        /// row (28 steps of 28 pixels).
        case sequences
        /// Two unpaired image domains (`data.domains`: two class subsets or two IDX folders), for translation models.
        case domains
    }

    public let samples: Samples
    /// `unit` ([0, 1]) or `symmetric` ([-1, 1]).
    public let scale: String
    /// `epoch` (each epoch a permutation) or `with_replacement`.
    public let sampling: String
    public let realImagesPerStep: RealImagesPerStep

    /// 28x28 images from IDX files (any class subset).
    public static func images(scale: String, sampling: String, realImagesPerStep: RealImagesPerStep = .wholeBatch) -> DataSchema {
        DataSchema(samples: .images, scale: scale, sampling: sampling, realImagesPerStep: realImagesPerStep)
    }

    /// Sequences, or images (in `scale`) read row by row.
    public static func sequences(scale: String, sampling: String, realImagesPerStep: RealImagesPerStep) -> DataSchema {
        DataSchema(samples: .sequences, scale: scale, sampling: sampling, realImagesPerStep: realImagesPerStep)
    }

    /// Two unpaired image domains.
    public static func domains(scale: String, sampling: String) -> DataSchema {
        DataSchema(samples: .domains, scale: scale, sampling: sampling, realImagesPerStep: .wholeBatch)
    }

    /// Rows of numbers from a table, or images (in `scale`) flattened to vectors.
    public static func vectors(scale: String, sampling: String, realImagesPerStep: RealImagesPerStep) -> DataSchema {
        DataSchema(samples: .vectors, scale: scale, sampling: sampling, realImagesPerStep: realImagesPerStep)
    }
}

/// Everything the job reader needs to know about one model.
public struct ModelSchema: Sendable, Equatable {
    /// The name in job files (`model.kind`).
    public let name: String
    /// One line for docs/job-files.md.
    public let summary: String
    public let options: [OptionSchema]
    public let groups: [GroupSchema]
    public let data: DataSchema
    /// Metrics the model can report, in the order a default evaluation reports them.
    public let metrics: [String]
    /// Whether its step splits a rank's share into micro-batches (`train.accumulate`) with the same gradients: true
    /// when its losses are sums over samples (no batch statistics, no loss coupling the batch).
    public let accumulates: Bool

    public init(name: String, summary: String, options: [OptionSchema], groups: [GroupSchema], data: DataSchema, metrics: [String],
                accumulates: Bool = false) {
        self.name = name
        self.summary = summary
        self.options = options
        self.groups = groups
        self.data = data
        self.metrics = metrics
        self.accumulates = accumulates
    }

    /// The option `name`'s schema (a programmer error when the model did not declare it).
    public func option(_ name: String) -> OptionSchema {
        guard let option = options.first(where: { $0.name == name }) else { fatalError("model \(self.name) declares no option '\(name)'") }
        return option
    }
}

extension OptimizerSpec {
    /// Adam with Keras' defaults unless given (no warm-up, no clipping).
    public static func adam(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-7,
                            warmupSteps: Int = 0, globalClipNorm: Double = 0) -> OptimizerSpec {
        OptimizerSpec(kind: "adam", learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, momentum: 0, schedule: [],
                      warmupSteps: warmupSteps, globalClipNorm: globalClipNorm)
    }

    /// Plain SGD (Keras' momentum form) unless a momentum is given.
    public static func sgd(learningRate: Double, momentum: Double = 0) -> OptimizerSpec {
        OptimizerSpec(kind: "sgd", learningRate: learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, momentum: momentum, schedule: [])
    }
}

/// A number as a person writes it: `0.001`, `4096`, `1e-07`.
func formatNumber(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
}
