// Typed access to a YAML mapping with errors that name the file, line, column and key,
// and that list what is allowed.

import Foundation

/// Reads one mapping of a job file, tracking the dotted path and which keys were used.
struct MappingReader {
    let path: String
    let pairs: [(key: String, value: YAMLTree)]
    let location: SourceLocation

    init(_ tree: YAMLTree, path: String) throws(JobError) {
        guard case .mapping(let pairs, let location) = tree else {
            throw JobError(location: tree.location, key: path, message: "expected a mapping of keys to values")
        }
        self.path = path
        self.pairs = pairs
        self.location = location
    }

    func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// Fails on keys outside `allowed`, listing them.
    func checkKeys(_ allowed: [String]) throws(JobError) {
        for (name, value) in pairs where !allowed.contains(name) {
            throw JobError(location: value.location, key: key(name),
                           message: "unknown key (allowed here: \(allowed.joined(separator: ", ")))")
        }
    }

    func value(_ name: String) -> YAMLTree? { pairs.first { $0.key == name }?.value }

    func scalar(_ name: String) throws(JobError) -> (String, SourceLocation)? {
        guard let value = value(name) else { return nil }
        guard case .scalar(let text, let location) = value else {
            throw JobError(location: value.location, key: key(name), message: "expected a single value")
        }
        return (text, location)
    }

    func string(_ name: String, allowed: [String]? = nil) throws(JobError) -> String? {
        guard let (text, location) = try scalar(name) else { return nil }
        if let allowed, !allowed.contains(text) {
            throw JobError(location: location, key: key(name), message: "'\(text)' is not one of: \(allowed.joined(separator: ", "))")
        }
        return text
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws(JobError) -> Int? {
        guard let (text, location) = try scalar(name) else { return nil }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw JobError(location: location, key: key(name), message: "'\(text)' is not a whole number")
        }
        guard range.contains(value) else {
            throw JobError(location: location, key: key(name), message: "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func number(_ name: String, in range: ClosedRange<Double>) throws(JobError) -> Double? {
        guard let (text, location) = try scalar(name) else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw JobError(location: location, key: key(name), message: "'\(text)' is not a number")
        }
        guard range.contains(value) else {
            throw JobError(location: location, key: key(name), message: "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A model option read as its schema says.
    func option(_ schema: OptionSchema) throws(JobError) -> OptionValue? {
        switch schema.kind {
        case .integer(let range): try integer(schema.name, in: range).map(OptionValue.integer)
        case .number(let range): try number(schema.name, in: range).map(OptionValue.number)
        case .choice(let choices): try string(schema.name, allowed: choices).map(OptionValue.text)
        case .choiceOrFile(let choices, let extensions): try wordOrFile(schema.name, words: choices, extensions: extensions).map(OptionValue.text)
        }
    }

    /// One of `words`, or the path of an existing regular file ending in one of `extensions`.
    func wordOrFile(_ name: String, words: [String], extensions: [String]) throws(JobError) -> String? {
        guard let (text, location) = try scalar(name) else { return nil }
        if words.contains(text) { return text }
        let suffixes = extensions.map { "." + $0 }
        guard suffixes.contains(where: { text.lowercased().hasSuffix($0) }) else {
            throw JobError(location: location, key: key(name), message: "'\(text)' is not one of \(words.joined(separator: ", ")) "
                           + "nor a file ending in \(suffixes.joined(separator: " or "))")
        }
        var status = stat()
        guard stat(text, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw JobError(location: location, key: key(name), message: "\(text): no such file")
        }
        return text
    }

    func mapping(_ name: String) throws(JobError) -> MappingReader? {
        guard let value = value(name) else { return nil }
        return try MappingReader(value, path: key(name))
    }

    /// A missing required key.
    func missing(_ name: String) -> JobError {
        JobError(location: location, key: key(name), message: "required key is missing")
    }
}
