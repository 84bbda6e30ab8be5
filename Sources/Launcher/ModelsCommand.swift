import ArgumentParser
import Models

/// Lists the models gentrain trains, with their job keys, groups, data and metrics.
struct ModelsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the models gentrain trains: their model.kind, keys, parameter groups, data and metrics.")

    @Flag(help: "Print the models section of docs/job-files.md (Markdown).") var markdown = false

    func run() throws {
        if markdown { return print(ModelRegistry.markdownReference, terminator: "") }
        for description in ModelRegistry.all {
            let schema = description.schema
            let keys = schema.options.map { "\($0.name) (\($0.allowed), default \($0.defaultValue))" }
            print("\(schema.name): \(schema.summary)")
            if !keys.isEmpty { print("  keys: " + keys.joined(separator: "; ")) }
            print("  groups: " + schema.groups.map(\.name).joined(separator: ", ") + "; metrics: " + schema.metrics.joined(separator: ", "))
        }
    }
}
