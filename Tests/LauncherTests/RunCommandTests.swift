import DistributedTraining
import Foundation
import Testing

/// `gentrain run` through real mpirun: planning errors, restarts after a killed rank, and SIGTERM as the
/// checkpoint request.
@Suite(.serialized) struct RunCommandTests {
    func gentrainRun(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try run(gentrainExecutable().path, ["run"] + arguments)
    }

    @Test func dryRunPrintsTheCommandAndBadInputIsOneLine() throws {
        let dry = try gentrainRun([jobFile("vae-fashion"), "--ranks", "3", "--dry-run", "--", "--bind-to", "none"])
        #expect(dry.status == 0)
        #expect(dry.output.contains("/mpirun -n 3 --oversubscribe -x OPENBLAS_NUM_THREADS=1"))
        #expect(dry.output.contains("--bind-to none") && dry.output.contains("gentrain train \(jobFile("vae-fashion"))"))
        #expect(dry.output.contains("OMPI_ALLOW_RUN_AS_ROOT=1") == (getuid() == 0))
        for (arguments, words) in [
            (["/nonexistent/job.yaml"], "/nonexistent/job.yaml: job file not found"),
            ([jobFile("vae-fashion"), "--hostfile", "/nonexistent/hosts"], "hostfile /nonexistent/hosts: no such file"),
            ([jobFile("vae-fashion"), "--set", "train.batch_size=zero"], "train.batch_size"),
        ] {
            let result = try gentrainRun(arguments)
            #expect(result.status == 1, "\(result.output)")
            #expect(result.output.contains(words) && result.output.split(separator: "\n").count == 1, "\(result.output)")
        }
        let hosts = NSTemporaryDirectory() + "gentrain-hosts-\(UUID().uuidString)"
        try "node01 slots=1\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let small = try gentrainRun([jobFile("vae-fashion"), "--hostfile", hosts, "--ranks", "2"])
        #expect(small.status == 1 && small.output.contains("too few slots: \(hosts) has 1 for 2 ranks"))
    }

    @Test func anUnknownHostIsOneLineAndQuick() throws {
        let hosts = NSTemporaryDirectory() + "gentrain-hosts-\(UUID().uuidString)"
        try "nosuchhost.invalid slots=2\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let started = Date()
        let result = try gentrainRun([jobFile("vae-fashion"), "--hostfile", hosts, "--max-restarts", "2", "--set", "output=\(runFolder("unknown-host"))"])
        #expect(result.status == 1)
        let last = result.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("gentrain run: mpirun could not start the job: host nosuchhost") && last.contains("cannot be resolved"), "\(result.output)")
        #expect(!result.output.contains("restarting"), "a launch failure is not worth a restart")
        #expect(Date().timeIntervalSince(started) < 30)
    }

    @Test func aKilledRankIsRestartedFromTheNewestCheckpoint() throws {
        let output = runFolder("restart")
        let job = try BackgroundRun(gentrainExecutable().path, ["run", jobFile("autoencoder-fashion"), "--max-restarts", "1",
                                                                "--set", "output=\(output)", "--set", "train.steps=60", "--set", "train.batch_size=12", "--set", "eval.every_epochs=0",
                                                                "--set", "checkpoint.every_steps=2", "--", "--bind-to", "none"],
                                    environment: [:])
        #expect(BackgroundRun.wait(seconds: 60) { metricLines(output) >= 6 }, "\(job.log)")
        let mpirunProcess = try #require(job.children.first, "\(job.log)")
        let ranks = ((try? run("/usr/bin/pgrep", ["-P", "\(mpirunProcess)"]))?.output ?? "").split(separator: "\n").compactMap { Int32($0) }
        #expect(ranks.count == 2)
        kill(try #require(ranks.last), SIGKILL)
        #expect(BackgroundRun.wait(seconds: 180) { !job.process.isRunning }, "\(job.log)")
        #expect(job.process.terminationStatus == 0, "\(job.log)")
        #expect(job.log.contains("restarting from the newest valid checkpoint (restart 1 of 1)"), "\(job.log)")
        #expect(job.log.contains("resuming at step"), "\(job.log)")
        _ = try finalCheckpoint(output, step: 60)
        #expect(FileManager.default.fileExists(atPath: output + "/logs/attempt-1/1/rank.0/stderr"))
    }

    /// `gentrain run` of the autoencoder for (practically) ever, once it has reported 3 steps.
    func startEndlessRun(output: String) throws -> BackgroundRun {
        let job = try BackgroundRun(gentrainExecutable().path, ["run", jobFile("autoencoder-fashion"), "--set", "output=\(output)",
                                                                "--set", "train.steps=100000", "--set", "train.batch_size=12",
                                                                "--set", "checkpoint.every_steps=0", "--", "--bind-to", "none"],
                                    environment: [:])
        #expect(BackgroundRun.wait(seconds: 60) { metricLines(output) >= 3 }, "\(job.log)")
        return job
    }

    @Test func sigtermOnTheLauncherCheckpointsAndExits75() throws {
        let output = runFolder("launcher-term")
        let job = try startEndlessRun(output: output)
        kill(job.process.processIdentifier, SIGTERM)
        #expect(BackgroundRun.wait(seconds: 60) { !job.process.isRunning }, "\(job.log)")
        #expect(job.process.terminationStatus == 75, "\(job.log)")
        #expect(job.log.contains("checkpoint at step") && job.log.contains("run again to continue"), "\(job.log)")
        #expect(!Checkpoint.list(folder: output + "/checkpoints").isEmpty)
    }

    /// Some schedulers send SIGTERM to mpirun itself at the time limit (issue 19, case 9): that too ends in a checkpoint
    /// and exit 75, not in mpirun killing the ranks and exit 1.
    @Test func sigtermOnMpirunItselfCheckpointsAndExits75() throws {
        let output = runFolder("mpirun-term")
        let job = try startEndlessRun(output: output)
        let mpirunProcess = try #require(job.children.first, "\(job.log)")
        kill(mpirunProcess, SIGTERM)
        #expect(BackgroundRun.wait(seconds: 60) { !job.process.isRunning }, "\(job.log)")
        #expect(job.process.terminationStatus == 75, "\(job.log)")
        #expect(job.log.contains("checkpoint at step") && job.log.contains("run again to continue"), "\(job.log)")
        #expect(!Checkpoint.list(folder: output + "/checkpoints").isEmpty)
    }
}
