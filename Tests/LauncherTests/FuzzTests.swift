// Issue 19's fuzz test: seeded mutations of job files, IDX files, `.npy` files and checkpoints (1,000 of each; a
// checkpoint's CRC made valid again, so that the parser behind it is reached) fed to the readers in-process, and a
// sample of them through `gentrain validate`, `metrics` and `inspect`: zero crashes, zero hangs past 10 s, every
// refusal one line naming what is wrong, and the process's peak memory under 1 GB.

import DataIO
@testable import DistributedTraining
import Evaluation
import Foundation
import Models
import TensorCore
import Testing

/// One to four byte-level mutations of `original`: flips, interesting bytes, truncation, insertion, duplication, and
/// the replacement of a run of digits by an extreme number.
func mutated(_ original: [UInt8], _ random: inout SeededGenerator) -> [UInt8] {
    var bytes = original
    for _ in 0..<Int.random(in: 1...4, using: &random) where !bytes.isEmpty {
        let at = Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<7, using: &random) {
        case 0: bytes[at] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
        case 1: bytes[at] = [0, 0x7F, 0x80, 0xFF, UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "&")].randomElement(using: &random)!
        case 2: bytes.removeSubrange(at...)
        case 3: bytes.insert(contentsOf: (0..<Int.random(in: 1...16, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }, at: at)
        case 4: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 64)], at: at)
        case 5: bytes.remove(at: at)
        default:
            guard let start = bytes[at...].firstIndex(where: { (48...57).contains($0) }) else { continue }
            let end = bytes[start...].firstIndex { !(48...57).contains($0) } ?? bytes.count
            let extreme = ["-5", "0", "4611686018427387904", "9223372036854775807", "99999999999999999999", "4294967296"].randomElement(using: &random)!
            bytes.replaceSubrange(start..<end, with: Array(extreme.utf8))
        }
    }
    return bytes
}

@Suite(.serialized) struct FuzzTests {
    let folder = runFolder("fuzz")
    let cases = 1000

    init() throws { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

    /// Runs `read` on `cases` mutations of `original` written to `path`; every error must be one line naming the file.
    func fuzz(_ original: [UInt8], path: String, seed: UInt64, named: Bool = true, fix: ([UInt8]) -> [UInt8] = { $0 },
              read: (String) throws -> Void) throws -> (refused: Int, seconds: Double) {
        var random = SeededGenerator(seed: seed)
        var refused = 0
        let started = Date()
        defer { #expect(peakResidentMegabytes() < 1024, "peak memory \(peakResidentMegabytes()) MB") }
        for index in 0..<cases {
            let bytes = fix(mutated(original, &random))
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let one = Date()
            do {
                try read(path)
            } catch {
                refused += 1
                let text = "\(error)"
                #expect(!text.isEmpty && !text.contains("\n"), "case \(index) (seed \(seed)): \(text)")
                #expect(!named || text.contains(path) || text.contains("name") || text.contains("line"), "case \(index) (seed \(seed)): \(text)")
            }
            #expect(Date().timeIntervalSince(one) < 10, "case \(index) (seed \(seed)) took \(Date().timeIntervalSince(one)) s")
        }
        return (refused, Date().timeIntervalSince(started))
    }

    @Test func mutatedJobFiles() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: jobFile("vae-fashion"))))
        let result = try fuzz(original, path: folder + "/job.yaml", seed: 19, named: false) { path in _ = try ModelRegistry.loadJob(path: path) }
        #expect(result.refused > 0 && result.seconds < 60, "\(result)")
    }

    @Test func mutatedIDXFiles() throws {
        var original: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28]
        original += (0..<(10 * 28 * 28)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let result = try fuzz(original, path: folder + "/images.idx", seed: 6) { path in
            let array = try IDXArray(path: path, expectedRank: 3)
            _ = array.bytes.count
        }
        #expect(result.refused > 0 && result.seconds < 60, "\(result)")
    }

    @Test func mutatedNumPyFiles() throws {
        let path = folder + "/features.npy"
        try writeNumPy((0..<(12 * 5)).map { Float($0) * 0.25 - 3 }, rows: 12, dimension: 5, to: path)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let result = try fuzz(original, path: folder + "/mutated.npy", seed: 5) { path in
            let file = try FeatureFile(path: path)
            _ = try file.readRows(0..<file.rows)
            _ = try TableDataset.load(path: path)
        }
        #expect(result.refused > 0 && result.seconds < 60, "\(result)")
    }

    /// A small checkpoint (two groups, state, optimizer state, layouts) mutated, then given a valid CRC again.
    static func checkpointBytes() -> [UInt8] {
        let groups = [
            Checkpoint.Group(name: "generator", values: (0..<12).map { Float($0) / 7 }, state: [0.5, 1.5], optimizerState: [Float](repeating: 0.25, count: 24),
                             optimizerIterations: 3, parameterLayout: [SavedTensorShape(name: "dense.kernel", shape: [3, 4])],
                             stateLayout: [SavedTensorShape(name: "norm.moving_mean", shape: [2])]),
            Checkpoint.Group(name: "discriminator", values: [1, 2, 3], state: [], optimizerState: [], optimizerIterations: 3),
        ]
        return Checkpoint(job: "{\"name\": \"fuzz\", \"modelKind\": \"dcgan\"}", run: "fuzz-run", gentrainVersion: "0.1.0", step: 3, epoch: 0,
                          stepInEpoch: 3, worldSize: 2, groups: groups).encoded()
    }

    static func withValidChecksum(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 20 else { return bytes }
        var fixed = Array(bytes[0..<(bytes.count - 4)])
        appendLittleEndian(&fixed, crc32Checksum(fixed))
        return fixed
    }

    @Test func mutatedCheckpoints() throws {
        #expect(throws: Never.self) { try Checkpoint.read(path: { () -> String in
            let path = folder + "/original.gtck"
            FileManager.default.createFile(atPath: path, contents: Data(Self.checkpointBytes()))
            return path
        }()) }
        let result = try fuzz(Self.checkpointBytes(), path: folder + "/mutated.gtck", seed: 7, fix: Self.withValidChecksum) { path in
            _ = try Checkpoint.read(path: path)
            _ = try Checkpoint.readIdentity(path: path)
        }
        #expect(result.refused > 0 && result.seconds < 60, "\(result)")
        // A sample through gentrain inspect.
        var random = SeededGenerator(seed: 8)
        for index in 0..<15 {
            let path = folder + "/inspect-\(index).gtck"
            try Data(Self.withValidChecksum(mutated(Self.checkpointBytes(), &random))).write(to: URL(fileURLWithPath: path))
            let inspected = try run("/usr/bin/timeout", ["10", gentrainExecutable().path, "inspect", path])
            #expect(inspected.status != 124 && !inspected.output.contains("Fatal error") && !inspected.output.contains("crashed"), "\(inspected.output)")
            if inspected.status != 0 { #expect(inspected.output.split(separator: "\n").count == 1, "\(inspected.output)") }
        }
    }

    /// A sample through the commands: no crash, no hang past 10 s, and a refusal is one line.
    @Test func aSampleThroughValidateAndMetrics() throws {
        var random = SeededGenerator(seed: 12)
        let job = try [UInt8](Data(contentsOf: URL(fileURLWithPath: jobFile("vae-fashion"))))
        let features = folder + "/command-features.npy"
        try writeNumPy((0..<(40 * 4)).map { sin(Float($0)) }, rows: 40, dimension: 4, to: features)
        let npy = try [UInt8](Data(contentsOf: URL(fileURLWithPath: features)))
        for index in 0..<15 {
            let jobPath = folder + "/command-job-\(index).yaml", npyPath = folder + "/command-\(index).npy"
            try Data(mutated(job, &random)).write(to: URL(fileURLWithPath: jobPath))
            try Data(mutated(npy, &random)).write(to: URL(fileURLWithPath: npyPath))
            for arguments in [["validate", jobPath], ["metrics", "--real", features, "--fake", npyPath, "--metrics", "fid"]] {
                let result = try run("/usr/bin/timeout", ["10", gentrainExecutable().path] + arguments)
                #expect(result.status != 124, "hang: \(arguments)")
                #expect(!result.output.contains("Fatal error") && !result.output.contains("crashed"), "\(arguments): \(result.output)")
                if result.status != 0 {
                    let lines = result.output.split(separator: "\n").filter { !$0.hasPrefix("---") && !$0.isEmpty }
                    #expect(lines.count == 1, "\(arguments): \(result.output)")
                }
            }
        }
    }
}
