import ArgumentParser
import Communication
import DistributedTraining
import Foundation
import JobFiles
import Models
import TensorCore

/// What every rank runs: `gentrain train JOB` (under mpirun for several ranks; alone it is a world of one).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a job on this MPI world (every rank runs this; without mpirun it is one rank).")

    @Argument(help: "The job file (YAML).") var job: String
    @Option(name: .customLong("set"), help: "Override a job key, e.g. --set train.steps=100 (repeatable).") var overrides: [String] = []
    @Option(help: "auto (newest valid checkpoint of the run folder), never, or a checkpoint file.") var resume = "auto"
    @Option(help: "Checkpoint after this step and exit with code 75, as on SIGTERM/SIGUSR1 (planned preemption, tests).")
    var stopAtStep: Int?

    func run() throws {
        var job: Job
        do {
            job = try ModelRegistry.loadJob(path: self.job, overrides: overrides)
        } catch {
            // A refused job (code 64) fails the same way on every attempt: gentrain run does not restart it.
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode(TrainingExitCode.code(for: error))
        }
        let resumeMode: ResumeMode = switch resume {
        case "auto": .automatic
        case "never": .never
        default: .file(resume)
        }
        let communicator = try Communicator()
        // gentrain run states the world size it planned (from the flags or the scheduler's allocation).
        if let planned = ProcessInfo.processInfo.environment["GENTRAIN_EXPECTED_WORLD_SIZE"].flatMap(Int.init), planned != communicator.size {
            let message = "gentrain: rank \(communicator.rank): the MPI world has \(communicator.size) rank(s), "
                + "but gentrain run planned \(planned) (does mpirun see the allocation?)\n"
            FileHandle.standardError.write(Data(message.utf8))
            try? communicator.finalize()
            throw ExitCode(1)
        }
        if let injected = ProcessInfo.processInfo.environment["GENTRAIN_TEST_DATA_PATH_OF_RANK"]?.split(separator: ":", maxSplits: 1),
           injected.count == 2, Int(injected[0]) == communicator.rank {
            // Fault injection for the tests: this rank reads its data from another path (missing or corrupt), the others do not.
            job.dataPath = String(injected[1])
        }
        BLASThreads.set(job.threadsPerRank > 1 ? blasThreadsForWorkers() : 1)
        let trainer: Trainer
        do {
            trainer = try Trainer(job: job, communicator: communicator, gentrainVersion: gentrainVersion)
        } catch {
            // Before the first collective every failure is this rank's own (its data missing or corrupt): end the whole
            // job now, without MPI_Finalize (which would wait for the others), instead of leaving the other ranks to wait
            // for the collective deadline. mpirun ends them and exits with this rank's code.
            try? writeStandardError("gentrain: rank \(communicator.rank) on \(ProcessInfo.processInfo.hostName): \(error)\n")
            Foundation.exit(TrainingExitCode.code(for: error))
        }
        let outcome: TrainingOutcome
        do {
            outcome = try Parallelism.$threads.withValue(job.threadsPerRank) { try trainer.run(resume: resumeMode, stopAtStep: stopAtStep) }
        } catch let error as WriteError {
            // A file a rank could not write (a full disk): the checkpoint, if any, is written; that rank printed why.
            if error.isReportedHere { try? writeStandardError("gentrain: rank \(communicator.rank): \(error)\n") }
            try? communicator.finalize()
            throw ExitCode(TrainingExitCode.cannotWrite)
        } catch {
            // Every rank reaches the same failure (handshake, restore, non-finite loss) or fails on its own (data):
            // print once per rank with its number, then end the whole job.
            FileHandle.standardError.write(Data("gentrain: rank \(communicator.rank): \(error)\n".utf8))
            try? communicator.finalize()
            throw ExitCode(TrainingExitCode.code(for: error))
        }
        try communicator.finalize()
        if outcome == .checkpointedForRestart { throw ExitCode(TrainingExitCode.stopped) }
    }
}

/// Checks a job file without running it.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a job file and print the resolved job.")

    @Argument(help: "The job file (YAML).") var job: String
    @Option(name: .customLong("set"), help: "Override a job key (repeatable).") var overrides: [String] = []

    func run() throws {
        let job = try ModelRegistry.loadJob(path: self.job, overrides: overrides)
        print(job.canonicalJSON)
    }
}
