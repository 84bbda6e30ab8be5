// Issue 19, "Losing work": another run's checkpoints, a full disk while metrics are written, and the
// partial files of a checkpoint write killed with -9. Each test runs the real `gentrain train` under mpirun.

import DataIO
@testable import DistributedTraining
import Foundation
import JobFiles
import Models
import Testing

/// The checkpoint files of a run folder, by name, with their bytes.
func checkpointFiles(_ output: String) -> [String: Data] {
    let folder = output + "/checkpoints"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    return Dictionary(uniqueKeysWithValues: names.filter { $0.hasSuffix(".gtck") }.map { ($0, FileManager.default.contents(atPath: "\(folder)/\($0)") ?? Data()) })
}

/// The lines of a run's metrics.jsonl, and the steps of those that are JSON objects.
func metricRecords(_ output: String) -> (lines: [Substring], steps: [Int], unreadable: [Substring]) {
    let text = (try? String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8)) ?? ""
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0)
    var steps: [Int] = [], unreadable: [Substring] = []
    for line in lines {
        if let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let step = object["step"] as? Int {
            steps.append(step)
        } else {
            unreadable.append(line)
        }
    }
    return (Array(lines), steps, unreadable)
}

/// A small tmpfs mounted on a fresh folder: a real disk that fills up. Needs root.
final class SmallFileSystem {
    let path: String

    init(_ label: String, size: String) throws {
        path = runFolder(label)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = try run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path])
        guard mounted.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, "output": mounted.output]) }
    }

    deinit { _ = try? run("/usr/bin/umount", [path]) }
}

/// Whether this process may mount a small tmpfs (root on Linux): the real full disk for the tests that need one.
func canMountTmpfs() -> Bool { getuid() == 0 && (try? SmallFileSystem("tmpfs-probe", size: "64k")) != nil }

/// Writes zeros to `path` until the file system refuses; returns the bytes written.
func fillFileSystem(with path: String) -> Int {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else { return 0 }
    defer { close(descriptor) }
    let chunk = [UInt8](repeating: 0, count: 4096)
    var total = 0
    while true {
        let written = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
        if written <= 0 { return total }
        total += written
    }
}

/// A process ID that no process has now (that of a child that has ended).
func endedProcessIdentifier() throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/true")
    try process.run()
    process.waitUntilExit()
    return process.processIdentifier
}

@Suite(.serialized) struct LosingWorkTests {
    static let settings = ["--set", "train.steps=4", "--set", "train.batch_size=8", "--set", "checkpoint.every_steps=1",
                           "--set", "checkpoint.keep=2"]

    // MARK: - 1. Checkpoints belong to a run

    /// A fresh start (`--resume never`, or a job that does not match its checkpoints) in a folder holding another
    /// run's checkpoints is refused with one line naming them; nothing is deleted; the matching run still continues.
    @Test func aFreshRunInAnotherRunsFolderIsRefusedAndDeletesNothing() throws {
        let output = runFolder("two-runs")
        let first = try train("autoencoder-fashion", ranks: 1, output: output, Self.settings + ["--stop-at-step", "2"])
        #expect(first.status == 75, "\(first.output)")
        let before = checkpointFiles(output)
        #expect(before.keys.sorted() == [Checkpoint.fileName(step: 1), Checkpoint.fileName(step: 2)])

        let fresh = try train("autoencoder-fashion", ranks: 1, output: output, Self.settings + ["--resume", "never"])
        #expect(fresh.status != 0, "\(fresh.output)")
        let refusal = fresh.output.split(separator: "\n").filter { $0.contains("another run") }
        #expect(refusal.count == 1 && refusal[0].contains(output + "/checkpoints") && refusal[0].contains("--resume auto")
                && refusal[0].contains(Checkpoint.fileName(step: 2)), "\(fresh.output)")
        #expect(checkpointFiles(output) == before, "the fresh run changed the other run's checkpoints")

        let changed = try train("autoencoder-fashion", ranks: 1, output: output, Self.settings + ["--set", "train.seed=9"])
        #expect(changed.status != 0 && changed.output.contains("different job"), "\(changed.output)")
        #expect(checkpointFiles(output) == before)

        let run = try #require(try finalCheckpoint(output, step: 2).run)
        let resumed = try train("autoencoder-fashion", ranks: 1, output: output, Self.settings)
        #expect(resumed.status == 0 && resumed.output.contains("resuming at step 2"), "\(resumed.output)")
        #expect(checkpointFiles(output).keys.sorted() == [Checkpoint.fileName(step: 3), Checkpoint.fileName(step: 4)])
        #expect(try finalCheckpoint(output, step: 4).run == run, "a resumed run keeps its identity")
    }

    /// Clean-up keeps `keep` of the run's own newest checkpoints and never touches another run's, whatever their
    /// steps; checkpoints without a run (older gentrain) of the same job count as the run's own only when it continues one.
    @Test func cleanUpRemovesOnlyTheRunsOwnOlderCheckpoints() throws {
        let job = try ModelRegistry.loadJob(path: jobFile("autoencoder-fashion"))
        let folder = runFolder("clean-up")
        func write(step: Int, run: String?) throws {
            let group = Checkpoint.Group(name: "model", values: [Float(step)], state: [], optimizerState: [], optimizerIterations: step)
            try Checkpoint(job: job.canonicalJSON, run: run, gentrainVersion: "test", step: step, epoch: 0, stepInEpoch: step, worldSize: 1,
                           groups: [group]).write(to: "\(folder)/\(Checkpoint.fileName(step: step))")
        }
        func steps() -> [Int] { Checkpoint.list(folder: folder).compactMap { try? Checkpoint.readIdentity(path: $0).step } }
        for step in 1...4 { try write(step: step, run: "this") }
        try write(step: 5, run: nil)
        try write(step: 10, run: "other")
        #expect(removeOlderCheckpoints(folder: folder, of: RunIdentity(name: "this", continuesEarlierRun: false), job: job, keep: 2).isEmpty)
        #expect(steps() == [10, 5, 4, 3])
        #expect(removeOlderCheckpoints(folder: folder, of: RunIdentity(name: "this", continuesEarlierRun: true), job: job, keep: 2).isEmpty)
        #expect(steps() == [10, 5, 4])
    }

    /// A checkpoint without a run (written before runs had an identity) reads as before, and a new one keeps its run.
    @Test func checkpointsWithoutARunStayReadable() throws {
        let folder = runFolder("legacy")
        let group = Checkpoint.Group(name: "model", values: [1, 2, 3], state: [4], optimizerState: [5, 6], optimizerIterations: 7)
        let legacy = Checkpoint(job: "{}", gentrainVersion: "0.1.0", step: 3, epoch: 0, stepInEpoch: 3, worldSize: 2, groups: [group])
        #expect(!String(decoding: legacy.encoded(), as: UTF8.self).contains("\"run\""), "the header of a checkpoint without a run is as before")
        try legacy.write(to: folder + "/legacy.gtck")
        let read = try Checkpoint.read(path: folder + "/legacy.gtck")
        #expect(read.run == nil && read.step == 3 && read.groups == [group])
        var named = legacy
        named.run = Checkpoint.newRunIdentity()
        try named.write(to: folder + "/named.gtck")
        #expect(try Checkpoint.read(path: folder + "/named.gtck").run == named.run)
        #expect(try Checkpoint.readIdentity(path: folder + "/named.gtck").run == named.run)
    }

    // MARK: - 2. A full disk while writing

    /// The run folder on a 1 MB tmpfs, its checkpoints on the real disk (a symbolic link): filling the tmpfs makes the
    /// next metrics.jsonl or event file write fail. Every rank stops after a checkpoint with exit code 74, one line names the file
    /// and the error, no line is half-written, and the run resumes from that checkpoint once there is space.
    @Test(.enabled(if: canMountTmpfs(), "needs root to mount a small tmpfs"))
    func aFullDiskWhileWritingMetricsCheckpointsAndStopsWithCode74() throws {
        let disk = try SmallFileSystem("full-disk", size: "1m")
        defer { withExtendedLifetime(disk) {} }
        let mountPoint = disk.path
        let output = mountPoint + "/run", checkpoints = runFolder("full-disk-checkpoints")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: output + "/checkpoints", withDestinationPath: checkpoints)

        let job = try startLongTraining("autoencoder-fashion", output: output, ["--set", "checkpoint.every_steps=0"], waitingForSteps: 3)
        let filler = mountPoint + "/filler"
        #expect(fillFileSystem(with: filler) > 0)
        let ended = BackgroundRun.wait(seconds: 90) { !job.process.isRunning }
        if !ended { for rank in job.children { kill(rank, SIGKILL) } }
        #expect(ended, "the job did not stop: \(job.log)")
        #expect(job.process.terminationStatus == 74, "\(job.log)")
        // Each step appends to metrics.jsonl and the event file: the one whose last page of the tmpfs fills first is named.
        let named = job.log.split(separator: "\n").filter {
            ($0.contains(output + "/metrics.jsonl") || $0.contains(output + "/events.out.tfevents.")) && $0.contains("No space left on device")
        }
        #expect(named.count == 1, "\(job.log)")
        #expect(!job.log.contains("Fatal error"), "\(job.log)")
        let records = metricRecords(output)
        #expect(records.unreadable.isEmpty && records.steps.count >= 3, "\(records.lines)")
        for events in eventFiles(output) {
            #expect(throws: Never.self, "\(events) holds a cut record") { try unframedRecords(Array(FileManager.default.contents(atPath: output + "/" + events) ?? Data())) }
        }
        let newest = try #require(Checkpoint.list(folder: checkpoints).first, "no checkpoint written: \(job.log)")
        let step = try Checkpoint.read(path: newest).step
        #expect(named.first?.contains("checkpoint at step \(step)") == true, "\(job.log)")

        try FileManager.default.removeItem(atPath: filler)
        let resumed = try train("autoencoder-fashion", ranks: 2, output: output, ["--set", "train.steps=100000", "--set", "train.batch_size=12",
                                "--set", "checkpoint.every_steps=0", "--stop-at-step", "\(step + 1)"])
        #expect(resumed.status == 75 && resumed.output.contains("resuming at step \(step)"), "\(resumed.output)")
        let after = metricRecords(output)
        #expect(after.unreadable.isEmpty && after.steps.last == step + 1, "\(after.lines)")
    }

    /// A checkpoint that cannot be written (its folder a symbolic link to a 64 kB tmpfs) stops every rank at once with
    /// code 74, instead of rank 0 ending alone and the others waiting for the collective deadline; and `gentrain run`
    /// passes the code on without restarting, since a restart would fail the same way.
    @Test(.enabled(if: canMountTmpfs(), "needs root to mount a small tmpfs"))
    func aCheckpointThatCannotBeWrittenStopsEveryRankAndIsNotRestarted() throws {
        let disk = try SmallFileSystem("full-checkpoints", size: "64k")
        defer { withExtendedLifetime(disk) {} }
        let mountPoint = disk.path
        let output = runFolder("full-checkpoints-run")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: output + "/checkpoints", withDestinationPath: mountPoint)
        let started = Date()
        let result = try run(gentrainExecutable().path, ["run", jobFile("autoencoder-fashion"), "--ranks", "2", "--max-restarts", "2",
                                                         "--set", "output=\(output)", "--set", "train.steps=3", "--set", "train.batch_size=8",
                                                         "--set", "checkpoint.every_steps=1", "--set", "eval.every_epochs=0",
                                                         "--", "--bind-to", "none"])
        #expect(result.status == 74, "\(result.output)")
        #expect(Date().timeIntervalSince(started) < 30, "\(result.output)")
        #expect(!result.output.contains("restart 1 of 2"), "\(result.output)")
        let stderr = (try? String(contentsOfFile: output + "/logs/attempt-0/1/rank.0/stderr", encoding: .utf8)) ?? result.output
        let named = (stderr + result.output).split(separator: "\n").filter { $0.contains(Checkpoint.fileName(step: 1)) && $0.contains("No space left on device") }
        #expect(!named.isEmpty, "\(stderr)\n\(result.output)")
        let rankOne = (try? String(contentsOfFile: output + "/logs/attempt-0/1/rank.1/stderr", encoding: .utf8)) ?? ""
        #expect(!rankOne.contains("gentrain: rank 1"), "only the rank that failed prints a line: \(rankOne)")
    }

    /// A run folder on a tmpfs that is already full: the start-up files cannot be written, and every rank stops before
    /// the first step with code 74 and one line naming the file.
    @Test(.enabled(if: canMountTmpfs(), "needs root to mount a small tmpfs"))
    func aFullDiskAtStartUpStopsEveryRankWithCode74() throws {
        let disk = try SmallFileSystem("full-at-start", size: "64k")
        defer { withExtendedLifetime(disk) {} }
        let mountPoint = disk.path
        #expect(fillFileSystem(with: mountPoint + "/filler") > 0)
        let result = try train("autoencoder-fashion", ranks: 2, output: mountPoint + "/run", ["--set", "train.steps=3", "--set", "train.batch_size=8"])
        #expect(result.status == 74, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("gentrain: rank") }
        #expect(lines.count == 1 && lines[0].contains(mountPoint + "/run/job.resolved.json: No space left on device"), "\(result.output)")
        #expect(metricLines(mountPoint + "/run") == 0)
    }

    /// A metrics.jsonl that ends in a half-written line (a process killed while writing it) is cut back to its last
    /// whole line when the run resumes.
    @Test func aResumedRunDropsAHalfWrittenMetricsLine() throws {
        let output = runFolder("half-line")
        let first = try train("autoencoder-fashion", ranks: 1, output: output, Self.settings + ["--stop-at-step", "2"])
        #expect(first.status == 75, "\(first.output)")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output + "/metrics.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"epoch\":0.0006,\"loss\":0.1".utf8))
        try handle.close()
        let resumed = try train("autoencoder-fashion", ranks: 1, output: output, Self.settings)
        #expect(resumed.status == 0 && resumed.output.contains("resuming at step 2"), "\(resumed.output)")
        let records = metricRecords(output)
        #expect(records.unreadable.isEmpty && records.steps == [1, 2, 3, 4], "\(records.lines)")
    }

    // MARK: - 3. Partial files of a killed checkpoint write

    /// `<checkpoint>.partial-PID` files of processes that no longer exist are removed at the next start; one whose
    /// process is alive (it may still be writing) is left alone.
    @Test func partialCheckpointsOfEndedProcessesAreRemovedAtTheNextStart() throws {
        let output = runFolder("partials")
        let first = try train("autoencoder-fashion", ranks: 1, output: output, Self.settings + ["--stop-at-step", "1"])
        #expect(first.status == 75, "\(first.output)")
        let ended = try endedProcessIdentifier()
        #expect(kill(ended, 0) == -1 && errno == ESRCH)
        let orphan = "\(output)/checkpoints/\(Checkpoint.fileName(step: 2)).partial-\(ended)"
        let living = "\(output)/checkpoints/\(Checkpoint.fileName(step: 3)).partial-\(getpid())"
        for path in [orphan, living] { #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 7, count: 1000))) }
        let resumed = try train("autoencoder-fashion", ranks: 1, output: output, Self.settings + ["--stop-at-step", "2"])
        #expect(resumed.status == 75 && resumed.output.contains("resuming at step 1"), "\(resumed.output)")
        #expect(!FileManager.default.fileExists(atPath: orphan), "\(resumed.output)")
        #expect(FileManager.default.fileExists(atPath: living))
        #expect(resumed.output.contains((orphan as NSString).lastPathComponent), "\(resumed.output)")
        try? FileManager.default.removeItem(atPath: living)
    }
}

/// Float64 state (a fit by statistics) is kept exactly, and checkpoints of format 1 (before it) stay readable.
@Suite struct Float64CheckpointTests {
    @Test func float64StateRoundTripsBitwise() throws {
        let values: [Double] = [1.0 / 3, -.infinity, 1e-300, -0.0, .pi, 123456789.123456789]
        let group = Checkpoint.Group(name: "mixture", values: [], state: [], optimizerState: [], optimizerIterations: 0,
                                     parameterLayout: [], stateLayout: [], float64State: values,
                                     float64Layout: [SavedTensorShape(name: "means", shape: [2, 2]), SavedTensorShape(name: "bound", shape: [2])])
        let checkpoint = Checkpoint(job: "{}", run: "r", gentrainVersion: "0", step: 1, epoch: 1, stepInEpoch: 0, worldSize: 1, groups: [group])
        let path = runFolder("float64") + ".gtck"
        try checkpoint.write(to: path)
        let read = try Checkpoint.read(path: path)
        #expect(read.groups[0].float64State.map(\.bitPattern) == values.map(\.bitPattern) && read.groups == [group])
        // A layout that does not add up to the values is refused.
        var wrong = group
        wrong.float64Layout = [SavedTensorShape(name: "means", shape: [7])]
        try Checkpoint(job: "{}", gentrainVersion: "0", step: 1, epoch: 1, stepInEpoch: 0, worldSize: 1, groups: [wrong]).write(to: path)
        #expect(throws: CheckpointError.self) { try Checkpoint.read(path: path) }
    }

    /// A file as gentrain wrote it before Float64 state: format 1, no Float64 keys in its header.
    @Test func formatOneCheckpointsStayReadable() throws {
        let header: [String: Any] = ["formatVersion": 1, "gentrainVersion": "0.1.0", "job": "{}", "step": 3, "epoch": 0, "stepInEpoch": 3, "worldSize": 2,
                                     "groups": [["name": "model", "values": 2, "state": 1, "optimizerState": 0, "optimizerIterations": 7]]]
        let headerBytes = [UInt8](try JSONSerialization.data(withJSONObject: header))
        var bytes = Array("GTCK".utf8)
        appendLittleEndian(&bytes, UInt32(1))
        appendLittleEndian(&bytes, UInt64(headerBytes.count))
        bytes += headerBytes
        for value: Float in [1.5, -2, 4] { withUnsafeBytes(of: value) { bytes += $0 } }
        appendLittleEndian(&bytes, crc32Checksum(bytes))
        let path = runFolder("format-one") + ".gtck"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let read = try Checkpoint.read(path: path)
        #expect(read.groups == [Checkpoint.Group(name: "model", values: [1.5, -2], state: [4], optimizerState: [], optimizerIterations: 7)])
        #expect(read.groups[0].float64State.isEmpty && read.groups[0].float64Layout == nil)
    }
}
