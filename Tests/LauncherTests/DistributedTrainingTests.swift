@testable import DistributedTraining
import Foundation
import Testing

/// A fresh run folder.
func runFolder(_ label: String) -> String {
    NSTemporaryDirectory() + "gentrain-\(label)-\(UUID().uuidString)"
}

/// The repository's job file of `name`.
func jobFile(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("jobs/\(name).yaml").path
}

/// `gentrain train` on `ranks` ranks through real mpirun; returns status and output.
func train(_ job: String, ranks: Int, output: String, _ extra: [String] = []) throws -> (status: Int32, output: String) {
    let launcher = mpirun(ranks: ranks)
    // Evaluation at the end (the jobs' eval sections) is left to the tests that ask for it (in debug builds it costs more than training).
    let evaluation = extra.contains { $0.hasPrefix("eval.") } ? [] : ["--set", "eval.every_epochs=0"]
    return try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", jobFile(job), "--set", "output=\(output)"]
                   + evaluation + extra, environment: launcher.environment)
}

/// Largest |a - b| over the largest |a|, across every group's values.
func relativeDifference(_ a: Checkpoint, _ b: Checkpoint) -> Float {
    var difference: Float = 0, largest: Float = 0
    for (left, right) in zip(a.groups, b.groups) {
        #expect(left.values.count == right.values.count)
        for (x, y) in zip(left.values, right.values) {
            difference = max(difference, abs(x - y))
            largest = max(largest, abs(x))
        }
    }
    return difference / largest
}

func finalCheckpoint(_ output: String, step: Int) throws -> Checkpoint {
    try Checkpoint.read(path: "\(output)/checkpoints/\(Checkpoint.fileName(step: step))")
}

/// A process started in the background with its output going to a file.
final class BackgroundRun {
    let process = Process()
    let logPath = NSTemporaryDirectory() + "gentrain-log-\(UUID().uuidString)"

    init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until `condition` holds, up to `seconds`; returns whether it did.
    static func wait(seconds: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition()
    }

    /// The processes mpirun started (the ranks).
    var children: [Int32] {
        let result = try? run("/usr/bin/pgrep", ["-P", "\(process.processIdentifier)"])
        return (result?.output ?? "").split(separator: "\n").compactMap { Int32($0) }
    }
}

/// Starts `job` on 2 ranks for (practically) ever at batch 12, with `extra` settings, and waits until `steps`
/// steps are reported.
func startLongTraining(_ job: String, output: String, _ extra: [String], waitingForSteps steps: Int) throws -> BackgroundRun {
    let launcher = mpirun(ranks: 2)
    let run = try BackgroundRun(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", jobFile(job),
                                "--set", "output=\(output)", "--set", "train.steps=100000", "--set", "train.batch_size=12"] + extra,
                                environment: launcher.environment)
    #expect(BackgroundRun.wait(seconds: 60) { metricLines(output) >= steps }, "\(run.log)")
    return run
}

func metricLines(_ output: String) -> Int {
    ((try? String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count
}

@Suite(.serialized) struct DistributedTrainingTests {
    /// The test that proves the design: N ranks with global batch B give the parameters of one rank with batch B.
    ///
    /// With the jobs' own Adam for the autoencoder and VAE, and with SGD with momentum for all three (DCGAN with its
    /// dropout included): Adam's first steps divide each gradient element by its own magnitude, so an element whose
    /// gradient cancels to rounding level (~1e-8, below Adam's epsilon) moves by a rounding-dependent fraction of the
    /// learning rate, and summation order (one rank or several) legitimately changes it; SGD shows the reduction is exact.
    /// The DCGAN is compared after one step: its leaky-ReLU kinks and the generator/discriminator feedback grow
    /// rounding-level differences of the summation order past 1e-5 within three steps (measured: 5.6e-6, 3.3e-5,
    /// 3.4e-4 after steps 1, 2, 3 on 3 ranks), while the 2-rank run stays at rounding level.
    @Test(arguments: [("autoencoder-fashion", "adam"), ("vae-fashion", "adam"), ("autoencoder-fashion", "sgd"), ("vae-fashion", "sgd"),
                      ("dvae-fashion", "adam"), ("dcgan-bags", "sgd")])
    func oneTwoAndThreeRanksGiveTheSameParameters(job: String, optimizer: String) throws {
        let steps = job.hasPrefix("dcgan") ? 1 : 3
        var settings = ["--set", "train.steps=\(steps)", "--set", "train.batch_size=12", "--set", "distributed.replica_check_every=1"]
        if optimizer == "sgd" {
            let groups = job.hasPrefix("dcgan") ? ["generator", "discriminator"] : ["model"]
            settings += ["--set", "train.optimizer={kind: sgd, learning_rate: 0.05, momentum: 0.9}"]
            if job.hasPrefix("dcgan") { settings += groups.flatMap { ["--set", "train.optimizers.\($0)={kind: sgd, learning_rate: 0.05, momentum: 0.9}"] } }
        }
        var results: [Checkpoint] = []
        for ranks in 1...3 {
            let output = runFolder("equivalence-\(ranks)")
            let result = try train(job, ranks: ranks, output: output, settings)
            #expect(result.status == 0, "\(result.output)")
            results.append(try finalCheckpoint(output, step: steps))
        }
        #expect(results[0].worldSize == 1 && results[2].worldSize == 3)
        #expect(relativeDifference(results[0], results[1]) < 1e-5)
        #expect(relativeDifference(results[0], results[2]) < 1e-5)
        // And they moved: more steps give other parameters, so the comparison is not between untouched values.
        let longer = runFolder("equivalence-longer")
        #expect(try train(job, ranks: 1, output: longer, settings + ["--set", "train.steps=\(steps + 1)"]).status == 0)
        let fourth = try Checkpoint.read(path: "\(longer)/checkpoints/\(Checkpoint.fileName(step: steps + 1))")
        #expect(relativeDifference(results[0], fourth) > 1e-4)
    }

    @Test func resumingAtTheSameWorldSizeIsBitwiseIdenticalAndAtAnotherWorks() throws {
        // SGD so that the other-world-size comparison is exact up to rounding (see the equivalence test).
        let settings = ["--set", "train.steps=4", "--set", "train.batch_size=12", "--set", "checkpoint.every_steps=1"]
            + ["generator", "discriminator"].flatMap { ["--set", "train.optimizers.\($0)={kind: sgd, learning_rate: 0.05, momentum: 0.9}"] }
        let straight = runFolder("straight")
        #expect(try train("dcgan-bags", ranks: 2, output: straight, settings).status == 0)
        let interrupted = runFolder("interrupted")
        let first = try train("dcgan-bags", ranks: 2, output: interrupted, settings + ["--stop-at-step", "2"])
        #expect(first.status == 75, "\(first.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(interrupted)/checkpoints/\(Checkpoint.fileName(step: 3))"))
        let second = try train("dcgan-bags", ranks: 2, output: interrupted, settings)
        #expect(second.status == 0 && second.output.contains("resuming at step 2"), "\(second.output)")
        let (a, b) = (try finalCheckpoint(straight, step: 4), try finalCheckpoint(interrupted, step: 4))
        #expect(a.groups == b.groups)
        // The resumed run appends to the metrics of the first part instead of replacing them.
        let metrics = try String(contentsOfFile: interrupted + "/metrics.jsonl", encoding: .utf8)
        // (Step records only: each part of the run also ends with its straggler report, an `"event": "ranks"` record.)
        let records = metrics.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let steps = records.filter { $0["event"] == nil }.compactMap { $0["step"] as? Int }
        #expect(steps == [1, 2, 3, 4], "\(metrics)")
        #expect(records.filter { $0["event"] as? String == "ranks" }.compactMap { $0["step"] as? Int } == [2, 4], "\(metrics)")
        // Resuming the interrupted run on 3 ranks continues it with the same numbers, up to rounding.
        let third = runFolder("third")
        try FileManager.default.createDirectory(atPath: third + "/checkpoints", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(interrupted)/checkpoints/\(Checkpoint.fileName(step: 2))",
                                         toPath: "\(third)/checkpoints/\(Checkpoint.fileName(step: 2))")
        let resumed = try train("dcgan-bags", ranks: 3, output: third, settings)
        #expect(resumed.status == 0 && resumed.output.contains("resuming at step 2"), "\(resumed.output)")
        #expect(relativeDifference(a, try finalCheckpoint(third, step: 4)) < 1e-5)
    }

    @Test func aCorruptNewestCheckpointFallsBackToTheOneBefore() throws {
        let settings = ["--set", "train.steps=3", "--set", "train.batch_size=12", "--set", "checkpoint.every_steps=1"]
        let output = runFolder("corrupt")
        #expect(try train("autoencoder-fashion", ranks: 2, output: output, settings).status == 0)
        let newest = "\(output)/checkpoints/\(Checkpoint.fileName(step: 3))"
        let original = try finalCheckpoint(output, step: 3)
        var bytes = [UInt8](FileManager.default.contents(atPath: newest)!)
        bytes[bytes.count / 2] ^= 0x40
        FileManager.default.createFile(atPath: newest, contents: Data(bytes))
        #expect { try Checkpoint.read(path: newest) } throws: { "\($0)".contains("checksum mismatch") }
        let again = try train("autoencoder-fashion", ranks: 2, output: output, settings)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("checksum mismatch") && again.output.contains("resuming at step 2"))
        #expect(try finalCheckpoint(output, step: 3).groups == original.groups)
    }

    /// A newest checkpoint whose job section cannot be read (valid checksum) is skipped like a corrupt one (issue 19,
    /// case 12), and the same data at another path (a symbolic link to it) resumes as the same data.
    @Test func anUnreadableJobSectionFallsBackAndMovedDataResumes() throws {
        let settings = ["--set", "train.steps=3", "--set", "train.batch_size=12", "--set", "checkpoint.every_steps=1", "--set", "eval.every_epochs=0"]
        let output = runFolder("unreadable-job")
        #expect(try train("autoencoder-fashion", ranks: 1, output: output, settings).status == 0)
        let newest = "\(output)/checkpoints/\(Checkpoint.fileName(step: 3))"
        var checkpoint = try Checkpoint.read(path: newest)
        checkpoint.job = "{\"name\": 5}"
        try checkpoint.write(to: newest)
        let moved = runFolder("moved-data")
        try FileManager.default.createSymbolicLink(atPath: moved, withDestinationPath: "/usr/share/datasets/fashion-mnist")
        let again = try train("autoencoder-fashion", ranks: 1, output: output, settings + ["--set", "data.path=\(moved)"])
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("its job description cannot be read") && again.output.contains("resuming at step 2"), "\(again.output)")
    }

    @Test func aChangedJobIsRefusedNamingTheDifference() throws {
        let settings = ["--set", "train.steps=2", "--set", "train.batch_size=12"]
        let output = runFolder("changed")
        #expect(try train("autoencoder-fashion", ranks: 1, output: output, settings).status == 0)
        let changed = try train("autoencoder-fashion", ranks: 2, output: output, settings + ["--set", "train.seed=9"])
        #expect(changed.status != 0 && changed.output.contains("different job") && changed.output.contains("seed: 1 -> 9"))
    }

    @Test func ranksThatDisagreeStopAtStartUpNamingWhat() throws {
        var launcher = mpirun(ranks: 1)
        launcher.arguments.removeAll { $0 == "-n" || $0 == "1" }
        let output = runFolder("handshake")
        let common = ["train", jobFile("autoencoder-fashion"), "--set", "output=\(output)", "--set", "train.steps=2", "--set", "train.batch_size=12"]
        let started = Date()
        let result = try run(launcher.path, launcher.arguments + ["-n", "1", gentrainExecutable().path] + common + [":", "-n", "1",
                             gentrainExecutable().path] + common + ["--set", "train.seed=2"], environment: launcher.environment)
        #expect(result.status != 0)
        #expect(result.output.contains("rank 1 differs from rank 0 in its job description"), "\(result.output)")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(metricLines(output) == 0)
    }

    /// A VAE with SGD at learning rate 1 diverges within a few steps: every rank stops at the same step with the
    /// same message, and the newest checkpoint is the last good one.
    @Test func aNonFiniteLossStopsEveryRankKeepingTheLastGoodCheckpoint() throws {
        let output = runFolder("diverge")
        let result = try train("vae-fashion", ranks: 2, output: output,
                               ["--set", "train.steps=30", "--set", "train.batch_size=12", "--set", "checkpoint.every_steps=2",
                                "--set", "eval.every_epochs=0", "--set", "train.optimizer={kind: sgd, learning_rate: 1, momentum: 0.9}"])
        #expect(result.status != 0)
        let messages = result.output.split(separator: "\n").filter { $0.contains("is not finite") && $0.contains("last good checkpoint kept") }
        #expect(messages.count == 2 && Set(messages.map { $0.split(separator: ":").dropFirst(2).joined(separator: ":") }).count == 1,
                "\(result.output)")
        let step = try #require(messages.first.flatMap { line in line.range(of: "step ").map { Int(line[$0.upperBound...].prefix { $0.isNumber })! } })
        let newest = try #require(Checkpoint.list(folder: output + "/checkpoints").first)
        let checkpoint = try Checkpoint.read(path: newest)
        #expect(checkpoint.step < step && checkpoint.groups.allSatisfy { $0.values.allSatisfy(\.isFinite) })
    }

    @Test func finiteChecksSeeNaNAndInfinity() {
        for poison: Float in [.nan, .infinity, -.infinity] {
            var values: [Float] = (0..<1000).map { Float($0) * 1e30 }
            #expect(allFinite(values, count: values.count))
            values[517] = poison
            #expect(!allFinite(values, count: values.count))
        }
    }

    @Test func aKilledRankEndsTheJobAndTheRunResumes() throws {
        let output = runFolder("killed")
        let job = try startLongTraining("autoencoder-fashion", output: output, ["--set", "checkpoint.every_steps=2"], waitingForSteps: 5)
        let ranks = job.children
        #expect(ranks.count == 2)
        kill(ranks[1], SIGKILL)
        let killedAt = Date()
        #expect(BackgroundRun.wait(seconds: 20) { !job.process.isRunning }, "mpirun did not end after a rank died")
        #expect(Date().timeIntervalSince(killedAt) < 20)
        #expect(job.process.terminationStatus != 0)
        let newest = try Checkpoint.read(path: Checkpoint.list(folder: output + "/checkpoints").first!)
        #expect(newest.step >= 2)
        let resumed = try train("autoencoder-fashion", ranks: 2, output: output, ["--set", "train.steps=100000", "--set", "train.batch_size=12",
                                "--set", "checkpoint.every_steps=2", "--stop-at-step", "\(newest.step + 1)"])
        #expect(resumed.status == 75 && resumed.output.contains("resuming at step \(newest.step)"), "\(resumed.output)")
    }

    @Test func aStuckRankHitsTheDeadlineInsteadOfHanging() throws {
        let output = runFolder("stuck")
        let job = try startLongTraining("autoencoder-fashion", output: output, ["--set", "distributed.deadline_s=3"], waitingForSteps: 3)
        let ranks = job.children
        #expect(ranks.count == 2)
        kill(ranks[1], SIGSTOP)
        defer { for rank in ranks { kill(rank, SIGKILL) } }
        #expect(BackgroundRun.wait(seconds: 30) { !job.process.isRunning }, "the job hung: \(job.log)")
        #expect(job.process.terminationStatus != 0)
        #expect(job.log.contains("did not complete within 3 s"), "\(job.log)")
    }

    @Test func aRankStuckInEvaluationHitsTheDeadlineNamingIt() throws {
        // Rank 1 never joins the evaluation at the end of training (a test hook): rank 0 waits in the sharded
        // validation loss's collective, and the deadline ends the job instead of it hanging.
        let launcher = mpirun(ranks: 2)
        let job = try BackgroundRun(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", jobFile("autoencoder-fashion"),
                                                                       "--set", "output=\(runFolder("stuck-evaluation"))", "--set", "train.steps=2",
                                                                       "--set", "train.batch_size=8", "--set", "data.classes=[8]",
                                                                       "--set", "eval.every_epochs=1", "--set", "distributed.deadline_s=3"],
                                    environment: launcher.environment.merging(["GENTRAIN_TEST_STALL_EVALUATION_RANK": "1"]) { $1 })
        let ended = BackgroundRun.wait(seconds: 90) { !job.process.isRunning }
        if !ended { for rank in job.children { kill(rank, SIGKILL) } }
        #expect(ended, "the job hung: \(job.log)")
        #expect(!ended || job.process.terminationStatus != 0)
        #expect(job.log.contains("rank 0: evaluation (MPI_") && job.log.contains("at step 2 did not complete within 3 s"), "\(job.log)")
    }

    @Test func sigusr1CheckpointsAndExits75() throws {
        let output = runFolder("signal")
        let job = try startLongTraining("vae-fashion", output: output, ["--set", "checkpoint.every_steps=0"], waitingForSteps: 3)
        // As a scheduler does (Slurm signals every task of the step): each rank gets the signal.
        for rank in job.children { kill(rank, SIGUSR1) }
        #expect(BackgroundRun.wait(seconds: 30) { !job.process.isRunning }, "\(job.log)")
        #expect(job.process.terminationStatus == 75, "\(job.log)")
        #expect(Checkpoint.list(folder: output + "/checkpoints").count == 1)
    }
}

@Suite struct CheckpointIdentityTests {
    @Test func sha256MatchesFIPSVectors() {
        var empty = SHA256()
        #expect(empty.finalizeHex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var abc = SHA256()
        abc.update(Array("abc".utf8))
        #expect(abc.finalizeHex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var long = SHA256()
        let message = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        long.update(Array(message[0..<10]))
        long.update(Array(message[10...]))
        #expect(long.finalizeHex() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func inspectPrintsTheParametersDigest() throws {
        let output = runFolder("inspect")
        #expect(try train("autoencoder-fashion", ranks: 1, output: output, ["--set", "train.steps=1", "--set", "train.batch_size=4"]).status == 0)
        let path = "\(output)/checkpoints/\(Checkpoint.fileName(step: 1))"
        let result = try run(gentrainExecutable().path, ["inspect", path, "--json"])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: Any]
        #expect(object["params_sha256"] as? String == (try Checkpoint.read(path: path)).parametersSHA256)
        #expect(object["parameters"] as? Int == 389_153 && object["step"] as? Int == 1 && object["job"] as? String == "autoencoder-fashion")
    }
}
