import ArgumentParser
import Foundation
import JobFiles
import Models
import LaunchPlanning

/// What `gentrain sbatch` and `gentrain qsub` share: the job, the resources, where the script goes.
struct BatchOptions: ParsableArguments {
    @Argument(help: "The job file (YAML).") var job: String
    @Option(name: .customLong("set"), help: "Override a job key (repeatable).") var overrides: [String] = []
    @Option(help: "Nodes.") var nodes = 1
    @Option(help: "BLAS threads per rank (default: the job's).") var threadsPerRank: Int?
    @Option(help: "Restarts of a job that dies, within one allocation.") var maxRestarts = 0
    @Option(help: "Write the script to this file (default: print it).") var output: String?
    @Option(help: ArgumentHelp("Load this environment module in the script (e.g. gentrain/\(gentrainVersion), as scripts/install.sh names it) and run the gentrain it puts on PATH.",
                               valueName: "name")) var module: String?

    /// The request, with absolute paths; creates the run folder (the scheduler writes its log there).
    func request(tasksPerNode: Int, time: String?, queue: String?) throws -> BatchRequest {
        let jobPath = absolutePath(job)
        let loaded = try ModelRegistry.loadJob(path: jobPath, overrides: overrides)
        var request = BatchRequest(jobPath: jobPath, gentrain: InstalledFiles.runningExecutable,
                                   jobName: loaded.name, runFolder: absolutePath(loaded.output), nodes: nodes, tasksPerNode: tasksPerNode,
                                   threadsPerRank: threadsPerRank ?? loaded.threadsPerRank,
                                   submitFolder: FileManager.default.currentDirectoryPath, version: gentrainVersion)
        request.time = time
        request.queue = queue
        request.overrides = overrides
        request.maxRestarts = maxRestarts
        request.module = module
        try FileManager.default.createDirectory(atPath: request.runFolder, withIntermediateDirectories: true)
        return request
    }

    /// Builds the script with `make` and prints or writes it; bad input is one line and exit code 1.
    func emit(_ command: String, tasksPerNode: Int, time: String?, queue: String?,
              _ make: (BatchRequest) throws(LaunchError) -> String) throws {
        do {
            let script = try make(request(tasksPerNode: tasksPerNode, time: time, queue: queue))
            guard let output else { return print(script, terminator: "") }
            try script.write(toFile: output, atomically: true, encoding: .utf8)
            chmod(output, 0o755)
            print("wrote \(output); submit it with: \(command) \(output)")
        } catch let error as LaunchError {
            FileHandle.standardError.write(Data("gentrain \(command): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Prints or writes a Slurm batch script for a job.
struct Sbatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a Slurm batch script for a job: resources, USR1 90 s before the limit, requeue, and the gentrain run line.")

    @OptionGroup var options: BatchOptions
    @Option(help: "Ranks per node.") var tasksPerNode = 1
    @Option(help: "Time limit (minutes, HH:MM:SS or D-HH:MM:SS).") var time: String?
    @Option(help: "Partition.") var partition: String?

    func run() throws {
        try options.emit("sbatch", tasksPerNode: tasksPerNode, time: time, queue: partition, sbatchScript)
    }
}

/// Prints or writes a PBS batch script for a job.
struct Qsub: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a PBS (Torque/PBS Pro) batch script for a job: resources, rerunnable, and the gentrain run line.")

    @OptionGroup var options: BatchOptions
    @Option(help: "Ranks per node.") var ppn = 1
    @Option(help: "Walltime (HH:MM:SS).") var walltime: String?
    @Option(help: "Queue.") var queue: String?

    func run() throws {
        try options.emit("qsub", tasksPerNode: ppn, time: walltime, queue: queue, qsubScript)
    }
}
