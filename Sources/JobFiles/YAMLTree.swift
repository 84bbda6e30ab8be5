// A YAML document as a small tree that remembers where each value came from
// (file, line, column, or the `--set` override that replaced it), so that every
// validation error can point at the exact place.

import Yams

/// Where a value was written.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    public var description: String { line > 0 && !file.hasPrefix("--set ") ? "\(file):\(line):\(column)" : file }
}

/// A job file could not be used: names the file, line, column and key.
public struct JobError: Error, CustomStringConvertible, Sendable {
    public let location: SourceLocation
    /// Dotted key, e.g. `train.batch_size`.
    public let key: String
    public let message: String
    public var description: String { "\(location): \(key.isEmpty ? "" : "\(key): ")\(message)" }
}

/// A YAML value with its location.
public indirect enum YAMLTree: Sendable {
    case scalar(String, SourceLocation)
    case sequence([YAMLTree], SourceLocation)
    case mapping([(key: String, value: YAMLTree)], SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .scalar(_, let location), .sequence(_, let location), .mapping(_, let location): return location
        }
    }

    /// The most bytes a job file may have: a job is a page of settings, and a bound keeps a hostile file cheap.
    public static let maximumBytes = 1 << 20
    /// The most values a job file may expand to: YAML aliases can repeat a subtree without bound (nine levels of nine
    /// aliases expand 81 aliases to 387 million values), so expansion stops here with an error.
    public static let maximumValues = 100_000

    /// Parses YAML text from `file` (used in locations).
    public static func parse(_ text: String, file: String) throws(JobError) -> YAMLTree {
        guard text.utf8.count <= maximumBytes else {
            throw JobError(location: SourceLocation(file: file, line: 0, column: 0), key: "",
                           message: "\(text.utf8.count) bytes; a job file has at most \(maximumBytes) (1 MiB)")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) {
            throw JobError(location: SourceLocation(file: file, line: context.mark.line, column: context.mark.column),
                           key: duplicates.joined(separator: ", "), message: "key given twice in the mapping that starts here")
        } catch let error as YamlError {
            throw JobError(location: Self.location(of: error, file: file), key: "", message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw JobError(location: SourceLocation(file: file, line: 0, column: 0), key: "", message: "not valid YAML: \(Self.firstLine(of: error))")
        }
        guard let node else { throw JobError(location: SourceLocation(file: file, line: 1, column: 1), key: "", message: "the file is empty") }
        var budget = maximumValues
        return try convert(node, file: file, budget: &budget)
    }

    private static func location(of error: YamlError, file: String) -> SourceLocation {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return SourceLocation(file: file, line: mark.line, column: mark.column)
        default:
            return SourceLocation(file: file, line: 0, column: 0)
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return firstLine(of: error)
        }
    }

    /// The first line of an error's description: Yams appends the offending line and a caret, and a refusal is one line.
    private static func firstLine(of error: any Error) -> String {
        let text = "\(error)"
        let first = text.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? text
        return first.hasSuffix(":") ? String(first.dropLast()) : first
    }

    private static func convert(_ node: Node, file: String, budget: inout Int) throws(JobError) -> YAMLTree {
        let location = SourceLocation(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
        budget -= 1
        guard budget >= 0 else {
            throw JobError(location: location, key: "", message: "the file expands to more than \(maximumValues) values (YAML aliases repeating "
                           + "a subtree?); a job file is a page of settings")
        }
        switch node {
        case .scalar(let scalar):
            return .scalar(scalar.string, location)
        case .sequence(let sequence):
            var items: [YAMLTree] = []
            for item in sequence { items.append(try convert(item, file: file, budget: &budget)) }
            return .sequence(items, location)
        case .mapping(let mapping):
            var pairs: [(key: String, value: YAMLTree)] = []
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw JobError(location: location, key: "", message: "mapping keys must be plain words")
                }
                if pairs.contains(where: { $0.key == keyScalar.string }) {
                    let keyLocation = SourceLocation(file: file, line: key.mark?.line ?? 0, column: key.mark?.column ?? 0)
                    throw JobError(location: keyLocation, key: keyScalar.string, message: "key given twice")
                }
                pairs.append((keyScalar.string, try convert(value, file: file, budget: &budget)))
            }
            return .mapping(pairs, location)
        case .alias:
            throw JobError(location: location, key: "", message: "YAML aliases are not supported in job files")
        }
    }

    /// This tree without the key at dotted `path` (unchanged when it is absent).
    public func removing(_ path: [String]) -> YAMLTree {
        guard let first = path.first, case .mapping(var pairs, let location) = self,
              let index = pairs.firstIndex(where: { $0.key == first }) else { return self }
        if path.count == 1 {
            pairs.remove(at: index)
        } else {
            pairs[index].value = pairs[index].value.removing(Array(path.dropFirst()))
        }
        return .mapping(pairs, location)
    }

    /// This tree with the value at dotted `path` replaced by `value` (parsed as YAML), creating mappings as needed.
    public func setting(_ path: [String], to value: YAMLTree) throws(JobError) -> YAMLTree {
        guard let first = path.first else { return value }
        guard case .mapping(var pairs, let location) = self else {
            throw JobError(location: value.location, key: path.joined(separator: "."), message: "cannot set a key inside a value that is not a mapping")
        }
        let rest = Array(path.dropFirst())
        if let index = pairs.firstIndex(where: { $0.key == first }) {
            pairs[index].value = try pairs[index].value.setting(rest, to: value)
        } else {
            let empty = YAMLTree.mapping([], value.location)
            pairs.append((first, try (rest.isEmpty ? value : empty.setting(rest, to: value))))
        }
        return .mapping(pairs, location)
    }
}
