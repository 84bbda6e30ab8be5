import DataIO
@testable import DistributedTraining
import Foundation
import Testing

/// A checkpoint's bytes with its header JSON changed by `edit` and the CRC made valid again.
func craftedCheckpoint(from bytes: [UInt8], headerLength: UInt64? = nil, edit: (inout [String: Any]) -> Void) throws -> [UInt8] {
    let length = Int(readLittleEndian(bytes, at: 8, as: UInt64.self))
    var header = try #require(JSONSerialization.jsonObject(with: Data(bytes[16..<(16 + length)])) as? [String: Any])
    edit(&header)
    let json = [UInt8](try JSONSerialization.data(withJSONObject: header))
    var crafted = Array(bytes[0..<8])
    appendLittleEndian(&crafted, headerLength ?? UInt64(json.count))
    crafted += json + bytes[(16 + length)..<(bytes.count - 4)]
    appendLittleEndian(&crafted, crc32Checksum(crafted))
    return crafted
}

/// Crafted checkpoints with a valid CRC (issue 19, case 7): one line naming the file and what is wrong, from
/// `inspect` and from `train`; never a crash.
@Suite(.serialized) struct CraftedCheckpointTests {
    @Test func craftedHeadersAreRefusedWithOneLine() throws {
        let output = runFolder("crafted-source")
        let trained = try train("autoencoder-fashion", ranks: 1, output: output, ["--set", "train.steps=1", "--set", "train.batch_size=4"])
        #expect(trained.status == 0, "\(trained.output)")
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(output)/checkpoints/\(Checkpoint.fileName(step: 1))")))
        func group(_ header: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
            var groups = header["groups"] as! [[String: Any]]
            change(&groups[0])
            header["groups"] = groups
        }
        let cases: [(label: String, bytes: [UInt8], words: String)] = [
            ("huge header length", try craftedCheckpoint(from: original, headerLength: 1 << 63) { _ in }, "unreadable header"),
            ("huge value count", try craftedCheckpoint(from: original) { group(&$0) { $0["values"] = 1 << 62 } }, "promises more values than the file holds"),
            ("negative count", try craftedCheckpoint(from: original) { group(&$0) { $0["state"] = -3 } }, "promises more values than the file holds"),
            ("negative step", try craftedCheckpoint(from: original) { $0["step"] = -5 }, "step -5 is negative"),
            ("largest step", try craftedCheckpoint(from: original) { $0["step"] = Int.max }, "more than any run takes"),
            ("no ranks", try craftedCheckpoint(from: original) { $0["worldSize"] = 0 }, "world size 0"),
            ("overflowing layout", try craftedCheckpoint(from: original) { group(&$0) { group in
                var layout = group["parameterLayout"] as? [[String: Any]] ?? [["name": "x", "shape": [1]]]
                layout[0]["shape"] = [1 << 40, 1 << 40]
                group["parameterLayout"] = layout
            } }, "does not add up"),
        ]
        for crafted in cases {
            let path = runFolder("crafted") + ".gtck"
            try Data(crafted.bytes).write(to: URL(fileURLWithPath: path))
            #expect { try Checkpoint.read(path: path) } throws: { "\($0)".contains(crafted.words) }
            let inspected = try run(gentrainExecutable().path, ["inspect", path])
            #expect(inspected.status != 0 && inspected.output.contains(path) && inspected.output.contains(crafted.words), "\(crafted.label): \(inspected.output)")
            #expect(!inspected.output.contains("Fatal error") && inspected.output.split(separator: "\n").count == 1, "\(crafted.label): \(inspected.output)")
        }
        // Through train --resume FILE: one line per rank, no crash.
        let path = runFolder("crafted-resume") + ".gtck"
        try Data(cases[1].bytes).write(to: URL(fileURLWithPath: path))
        let resumed = try train("autoencoder-fashion", ranks: 1, output: runFolder("crafted-target"), ["--set", "train.steps=2", "--set", "train.batch_size=4", "--resume", path])
        #expect(resumed.status != 0 && resumed.output.contains("promises more values") && !resumed.output.contains("Fatal error"), "\(resumed.output)")
    }

    /// A run whose checkpoint is at its last step says so; a weights-only copy is not resumed as if it held Adam's moments.
    @Test func completeRunsAndWeightsOnlyCopies() throws {
        let output = runFolder("complete")
        let settings = ["--set", "train.steps=2", "--set", "train.batch_size=4"]
        #expect(try train("autoencoder-fashion", ranks: 1, output: output, settings).status == 0)
        let again = try train("autoencoder-fashion", ranks: 1, output: output, settings)
        #expect(again.status == 0 && again.output.contains("the run is already complete: its checkpoint is at step 2 of 2"), "\(again.output)")
        // Raising train.steps extends the finished run from its checkpoint.
        let extended = try train("autoencoder-fashion", ranks: 1, output: output, ["--set", "train.steps=3", "--set", "train.batch_size=4"])
        #expect(extended.status == 0 && extended.output.contains("resuming at step 2"), "\(extended.output)")
        #expect(FileManager.default.fileExists(atPath: "\(output)/checkpoints/\(Checkpoint.fileName(step: 3))"))
        let weights = runFolder("weights-only") + ".gtck"
        let exported = try run(gentrainExecutable().path, ["export", "\(output)/checkpoints/\(Checkpoint.fileName(step: 2))", "--output", weights])
        #expect(exported.status == 0, "\(exported.output)")
        let resumed = try train("autoencoder-fashion", ranks: 1, output: runFolder("weights-target"), ["--set", "train.steps=3", "--set", "train.batch_size=4", "--resume", weights])
        #expect(resumed.status != 0 && resumed.output.contains("holds the weights only"), "\(resumed.output)")
    }
}
