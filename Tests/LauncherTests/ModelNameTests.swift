import Foundation
import Models
import Testing

/// The trainer, the job reader and the launcher know no model by name: every model reaches them through the registry.
@Suite struct ModelNameTests {
    @Test func noModelIsNamedOutsideTheModels() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // Each model's type name and its job-file name in quotes (as a switch or a comparison would write it).
        let names = ModelRegistry.all.flatMap { description -> [String] in
            let model = description.make(ModelConfiguration(schema: description.schema, seed: 0))
            return [String(describing: type(of: model)), "\"\(description.name)\""]
        }
        #expect(names.contains("DCGAN") && names.contains("\"vae\""))
        var found: [String] = []
        for folder in ["Sources/Distributed", "Sources/JobFiles", "Sources/Launcher"] {
            let path = root.appendingPathComponent(folder).path
            for file in try FileManager.default.contentsOfDirectory(atPath: path) where file.hasSuffix(".swift") {
                let text = try String(contentsOfFile: path + "/" + file, encoding: .utf8)
                for name in names {
                    let pattern = name.hasPrefix("\"") ? NSRegularExpression.escapedPattern(for: name) : "\\b\(name)\\b"
                    if text.range(of: pattern, options: .regularExpression) != nil { found.append("\(folder)/\(file): \(name)") }
                }
            }
        }
        #expect(found.isEmpty, "model names outside Sources/Models: \(found)")
    }
}
