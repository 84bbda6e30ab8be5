// Open MPI hostfiles: one host per line, optional `slots=N` (and other `key=value` words
// Open MPI understands), `#` comments.

/// A launch-time failure: bad input, named plainly (one line, non-zero exit).
public struct LaunchError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One host of a hostfile.
public struct HostEntry: Equatable, Sendable {
    public let name: String
    /// `slots=N`, or nil when the line does not say (Open MPI then counts the host's cores).
    public let slots: Int?

    public init(name: String, slots: Int?) {
        self.name = name
        self.slots = slots
    }
}

/// Parses a hostfile's text; `path` names it in errors.
public func parseHostfile(_ text: String, path: String) throws(LaunchError) -> [HostEntry] {
    var hosts: [HostEntry] = []
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let name = words.first else { continue }
        var slots: Int?
        for word in words.dropFirst() {
            let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw LaunchError("\(path):\(index + 1): expected key=value after the host name, found '\(word)'") }
            if parts[0] == "slots" {
                guard let count = Int(parts[1]), count > 0 else { throw LaunchError("\(path):\(index + 1): slots must be a positive number, found '\(parts[1])'") }
                slots = count
            }
        }
        if hosts.contains(where: { $0.name == name }) { throw LaunchError("\(path):\(index + 1): host \(name) is listed twice") }
        hosts.append(HostEntry(name: name, slots: slots))
    }
    if hosts.isEmpty { throw LaunchError("\(path): no hosts in the hostfile") }
    return hosts
}

/// The total of the hosts' slots, or nil if any host leaves its count to Open MPI.
public func totalSlots(_ hosts: [HostEntry]) -> Int? {
    hosts.reduce(Optional(0)) { total, host in total.flatMap { sum in host.slots.map { sum + $0 } } }
}
