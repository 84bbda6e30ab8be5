import ArgumentParser
import Foundation
import JobFiles
import Models
import LaunchPlanning

/// The signal the launcher received (0: none); set by a C signal handler, read by the supervision loop.
nonisolated(unsafe) var receivedSignal: Int32 = 0

/// The last 64 KiB of a stream, appended from a reader thread.
final class OutputTail: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ chunk: Data) {
        lock.lock()
        defer { lock.unlock() }
        data.append(chunk)
        if data.count > 65_536 { data = data.suffix(65_536) }
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}

/// `gentrain run JOB`: starts the job under mpirun (on this machine, a hostfile's hosts or a scheduler's
/// allocation), forwards SIGTERM/SIGUSR1 as the checkpoint request, and restarts a job that died.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a job under mpirun: this machine, a hostfile, or the Slurm/PBS allocation it is inside.",
        discussion: """
        Precedence: these flags, then the scheduler's allocation, then the job file. Arguments after -- go to mpirun.
        Exit codes: 0 done, 64 job refused, 65 bad data, 66 missing data, 70 a rank stopped answering, 74 a file could not be
        written, 75 checkpointed on a signal (run again to continue), 1 any other failure. 64, 65, 66 and 74 are not restarted.
        """)

    @Argument(help: "The job file (YAML).") var job: String
    @Option(name: .customLong("set"), help: "Override a job key (repeatable).") var overrides: [String] = []
    @Option(help: "Number of ranks.") var ranks: Int?
    @Option(help: "An Open MPI hostfile (host slots=N per line).") var hostfile: String?
    @Option(help: "BLAS threads per rank.") var threadsPerRank: Int?
    @Option(help: "auto, never, or a checkpoint file (restarts always use auto).") var resume = "auto"
    @Option(help: "Restart a job that died or stopped with code 75 from its newest valid checkpoint, up to K times.") var maxRestarts = 0
    @Flag(help: "Print the mpirun command and exit.") var dryRun = false
    @Argument(parsing: .postTerminator, help: "Arguments for mpirun (after --).") var mpiArguments: [String] = []

    func validate() throws {
        if let ranks, ranks < 1 { throw ValidationError("--ranks must be at least 1") }
        if let threadsPerRank, threadsPerRank < 1 { throw ValidationError("--threads-per-rank must be at least 1") }
        if maxRestarts < 0 { throw ValidationError("--max-restarts must be 0 or more") }
    }

    func run() throws {
        do {
            try launch()
        } catch let error as LaunchError {
            FileHandle.standardError.write(Data("gentrain run: \(error)\n".utf8))
            throw ExitCode(1)
        } catch let error as JobError {
            FileHandle.standardError.write(Data("gentrain run: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func launch() throws {
        let jobPath = absolutePath(job)
        let loaded = try ModelRegistry.loadJob(path: jobPath, overrides: overrides)
        var request = LaunchRequest(jobPath: jobPath, job: loaded)
        request.overrides = overrides
        request.ranks = ranks
        request.hostfile = hostfile.map(absolutePath)
        request.threadsPerRank = threadsPerRank
        request.resume = resume
        request.extraMPIArguments = mpiArguments
        let context = try machineContext(hostfiles: [request.hostfile, loaded.hostfile].compactMap { $0 })
        var plan = try planLaunch(request, context: context)
        if dryRun {
            print(plan.commandLine)
            return
        }
        try FileManager.default.createDirectory(atPath: loaded.output, withIntermediateDirectories: true)
        installSignalHandlers()
        var attempt = 0
        while true {
            log("starting \(loaded.name): \(plan.ranks) rank(s) x \(plan.threadsPerRank) thread(s) on \(plan.placement)"
                + (attempt > 0 ? ", restart \(attempt) of \(maxRestarts)" : ""))
            log(plan.commandLine)
            let (status, forwarded, errorOutput) = try supervise(plan)
            if status == 0 { return }
            if let failure = diagnoseLaunchFailure(errorOutput) {
                log("mpirun could not start the job: \(failure)")
                throw ExitCode(1)
            }
            if forwarded != 0 {
                // Preemption or the scheduler's warning: the ranks checkpointed; hand back to the scheduler.
                if status == 75, case .slurm(let jobID, _, _) = plan.allocation {
                    requeueSlurmJob(jobID, environment: context.environment)
                }
                log("stopped on signal \(forwarded) with code \(status)" + (status == 75 ? ": checkpoint written; run again to continue" : ""))
                throw ExitCode(passedOn(status))
            }
            // Bad data, a refused job or a file that cannot be written (a full disk) is not transient: a restart would
            // fail the same way. The last line names the rank that failed first, its host and its reason.
            let permanent = TrainingExitCode.isPermanent(status)
            guard attempt < maxRestarts, !permanent else {
                log("the job ended with code \(status)" + (permanent ? " (\(TrainingExitCode.meaning(status)); not restarted)" : "")
                    + (maxRestarts > 0 && attempt > 0 ? " after \(attempt) restart(s)" : "") + "; logs per rank in \(loaded.output)/logs"
                    + (firstRankFailure(errorOutput).map { ": \($0)" } ?? ""))
                throw ExitCode(passedOn(status))
            }
            attempt += 1
            log("the job ended with code \(status) (\(TrainingExitCode.meaning(status))); "
                + "restarting from the newest valid checkpoint (restart \(attempt) of \(maxRestarts))")
            plan = try planLaunch(request, context: context, attempt: attempt)
        }
    }

    /// The exit code for the ranks' `status`: the codes of TrainingExitCode (64, 65, 66, 70, 74, 75) as they are,
    /// anything else (a rank killed by a signal, mpirun's own failures) 1.
    func passedOn(_ status: Int32) -> Int32 { [64, 65, 66, 70, 74, 75].contains(status) ? status : 1 }

    /// The first line of the ranks' error output that names a failing rank and its host
    /// (`gentrain: rank 1 on node07: ...`), without its prefix.
    func firstRankFailure(_ errorOutput: String) -> String? {
        errorOutput.split(separator: "\n").first { $0.hasPrefix("gentrain: rank ") && $0.contains(" on ") }.map { String($0.dropFirst("gentrain: ".count)) }
    }

    /// Runs mpirun as a child; forwards SIGTERM and SIGUSR1 to it as SIGUSR1 (the ranks' checkpoint request;
    /// mpirun would answer SIGTERM by killing them). A SIGTERM sent to mpirun itself waits blocked in it
    /// (SupervisedProcess) and is forwarded the same way. Returns mpirun's exit status, the signal forwarded and
    /// the tail of mpirun's error output.
    func supervise(_ plan: LaunchPlan) throws -> (status: Int32, forwarded: Int32, errorOutput: String) {
        // mpirun's error output passes through unchanged; its tail is kept to name a launch failure.
        let errors = Pipe(), tail = OutputTail()
        let process = try SupervisedProcess(executable: plan.executable, arguments: plan.arguments,
                                            environment: ProcessInfo.processInfo.environment.merging(plan.environment) { $1 },
                                            standardError: errors.fileHandleForWriting.fileDescriptor,
                                            closedInChild: errors.fileHandleForReading.fileDescriptor)
        try errors.fileHandleForWriting.close()
        errors.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            FileHandle.standardError.write(data)
            tail.append(data)
        }
        var forwarded: Int32 = 0
        var status = process.exitStatus()
        while status == nil {
            if forwarded == 0 && (receivedSignal != 0 || process.terminationIsPending) {
                forwarded = receivedSignal != 0 ? receivedSignal : SIGTERM
                log(receivedSignal != 0 ? "received signal \(forwarded): asking the ranks to checkpoint and stop"
                    : "mpirun received SIGTERM (a scheduler's time limit?): asking the ranks to checkpoint and stop")
                kill(process.processIdentifier, SIGUSR1)
            }
            usleep(100_000)
            status = process.exitStatus()
        }
        errors.fileHandleForReading.readabilityHandler = nil
        let rest = errors.fileHandleForReading.readDataToEndOfFile()
        FileHandle.standardError.write(rest)
        tail.append(rest)
        return (status ?? 1, forwarded, tail.text)
    }

    func installSignalHandlers() {
        // A process started from a thread that blocks signals (a Dispatch worker, say) inherits that mask.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        for signalNumber in [SIGTERM, SIGUSR1, SIGINT] { sigaddset(&unblocked, signalNumber) }
        pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
        // Handlers (not SIG_IGN) so that mpirun, started after, gets the default dispositions back.
        signal(SIGTERM) { receivedSignal = $0 }
        signal(SIGUSR1) { receivedSignal = $0 }
        signal(SIGINT) { receivedSignal = $0 }
    }

    func requeueSlurmJob(_ jobID: String, environment: [String: String]) {
        guard let scontrol = findExecutable("scontrol", path: environment["PATH"], isExecutable: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            log("cannot requeue Slurm job \(jobID): scontrol not found")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: scontrol)
        process.arguments = ["requeue", jobID]
        do {
            try process.run()
            process.waitUntilExit()
            log(process.terminationStatus == 0 ? "requeued Slurm job \(jobID): it resumes from the checkpoint"
                : "scontrol requeue \(jobID) failed with code \(process.terminationStatus)")
        } catch {
            log("cannot run scontrol requeue \(jobID): \(error)")
        }
    }

    /// The machine's facts: environment, root, mpirun and gentrain paths, cores, and the files the plan reads.
    func machineContext(hostfiles: [String]) throws -> LaunchContext {
        let environment = ProcessInfo.processInfo.environment
        let isExecutable = { (path: String) in FileManager.default.isExecutableFile(atPath: path) }
        guard let mpirun = findExecutable("mpirun", path: environment["PATH"], isExecutable: isExecutable) else {
            throw LaunchError("mpirun not found on PATH (install openmpi-bin: apt-get install -y openmpi-bin)")
        }
        let gentrain = InstalledFiles.runningExecutable
        guard isExecutable(gentrain) else { throw LaunchError("cannot find the gentrain binary itself (\(gentrain))") }
        var files: [String: String] = [:]
        for path in hostfiles + [environment["PBS_NODEFILE"]].compactMap({ $0 }) {
            files[path] = try? String(contentsOfFile: path, encoding: .utf8)
        }
        return LaunchContext(environment: environment, isRoot: getuid() == 0, mpirun: mpirun, gentrain: gentrain,
                             localCores: ProcessInfo.processInfo.activeProcessorCount, files: files)
    }

    func log(_ message: String) { FileHandle.standardError.write(Data("gentrain run: \(message)\n".utf8)) }
}

/// `path` made absolute against the working folder.
func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}
