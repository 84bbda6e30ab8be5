import Foundation
import Testing
@testable import Models

/// The trainer, the job reader and the launcher know no model by name: every model reaches them through the
/// registry and the contract's protocols (issue 12).
@Suite struct ModelNameIsolationTests {
    static let folders = ["Sources/Distributed", "Sources/JobFiles", "Sources/Launcher"]

    /// `"name"` literals of registered models, and their Swift types as whole words in code (comments and string
    /// literals removed, so prose such as "a classifier's accuracy" is allowed).
    @Test func noModelNameOutsideModels() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let models = ModelRegistry.all.map { description in
            (name: description.name, type: String(describing: type(of: description.make(ModelConfiguration(schema: description.schema, seed: 1)))))
        }
        let literal = try Regex(#""[^"\n]*""#)
        var checked = 0
        for folder in Self.folders {
            let path = root.appendingPathComponent(folder).path
            for file in try FileManager.default.contentsOfDirectory(atPath: path) where file.hasSuffix(".swift") {
                let text = try String(contentsOfFile: path + "/" + file, encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = String(line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                        .replacing(literal, with: "\"\"")
                    for model in models {
                        #expect(!line.contains("\"\(model.name)\""), "\(folder)/\(file):\(number + 1) names the model \(model.name)")
                        let word = try Regex("\\b\(model.type)\\b")
                        #expect(code.firstMatch(of: word) == nil, "\(folder)/\(file):\(number + 1) uses the model type \(model.type)")
                    }
                }
                checked += 1
            }
        }
        #expect(checked > 10, "found only \(checked) source files under \(Self.folders)")
    }
}
