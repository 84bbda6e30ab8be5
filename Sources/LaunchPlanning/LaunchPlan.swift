// `gentrain run`'s mpirun command, built by a pure function from the job, the flags and the facts
// of the machine (so that tests can check every rule). Precedence: command-line flags, then the
// scheduler's allocation, then the job file.

import Foundation
import JobFiles

/// What the user asked `gentrain run` for.
public struct LaunchRequest: Sendable {
    public var jobPath: String
    public var job: Job
    /// `--set` overrides, passed on to `gentrain train`.
    public var overrides: [String] = []
    public var ranks: Int?
    public var hostfile: String?
    public var threadsPerRank: Int?
    /// `auto`, `never` or a checkpoint file.
    public var resume = "auto"
    /// Arguments after `--`, given to mpirun as they are.
    public var extraMPIArguments: [String] = []

    public init(jobPath: String, job: Job) {
        self.jobPath = jobPath
        self.job = job
    }
}

/// The facts of the machine the plan depends on, gathered by the caller.
public struct LaunchContext: Sendable {
    public var environment: [String: String]
    public var isRoot: Bool
    /// Absolute paths.
    public var mpirun: String
    public var gentrain: String
    public var localCores: Int
    /// Hostfiles and PBS node files by path (nil: cannot be read).
    public var files: [String: String]

    public init(environment: [String: String], isRoot: Bool, mpirun: String, gentrain: String, localCores: Int, files: [String: String] = [:]) {
        self.environment = environment
        self.isRoot = isRoot
        self.mpirun = mpirun
        self.gentrain = gentrain
        self.localCores = localCores
        self.files = files
    }
}

/// The mpirun command of a run.
public struct LaunchPlan: Equatable, Sendable {
    public var executable: String
    public var arguments: [String]
    /// Variables added to mpirun's environment.
    public var environment: [String: String]
    public var ranks: Int
    public var threadsPerRank: Int
    /// Where the ranks run, for the log line.
    public var placement: String
    public var allocation: Allocation

    /// The command as one shell line (environment first), for `--dry-run` and logs.
    public var commandLine: String {
        let variables = environment.keys.sorted().map { "\($0)=\(shellQuoted(environment[$0]!))" }
        return (variables + [executable] + arguments).map { $0.contains("=") && !$0.hasPrefix("-") ? $0 : shellQuoted($0) }.joined(separator: " ")
    }
}

/// Quotes a word for a POSIX shell when it needs it.
public func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }
    return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Environment variables ranks need from the launching shell, when set there.
let forwardedVariables = ["PATH", "LD_LIBRARY_PATH", "GENTRAIN_EVALUATOR", "GENTRAIN_CONV_BUDGET", "SWIFT_BACKTRACE"]

/// Builds the mpirun command: ranks and hosts by precedence (flags, allocation, job), the slots check,
/// per-rank threads, the environment the ranks need, and the `gentrain train` line.
public func planLaunch(_ request: LaunchRequest, context: LaunchContext, attempt: Int = 0) throws(LaunchError) -> LaunchPlan {
    let job = request.job
    let allocation = try detectAllocation(environment: context.environment) { context.files[$0] }
    let extra = request.extraMPIArguments
    func extraHas(_ prefix: String) -> Bool { extra.contains { $0 == prefix || $0.hasPrefix(prefix + "=") } }

    // Ranks: flag, then the allocation, then the job.
    let ranks = request.ranks ?? allocation.tasks ?? job.ranks
    guard ranks >= 1 else { throw LaunchError("--ranks must be at least 1") }
    if let granted = allocation.tasks, ranks > granted {
        throw LaunchError("\(ranks) ranks asked, but the \(allocation.summary) grants \(granted); ask the scheduler for more tasks or use fewer ranks")
    }
    let threads = request.threadsPerRank ?? job.threadsPerRank
    guard threads >= 1 else { throw LaunchError("--threads-per-rank must be at least 1") }

    // Hosts: a hostfile flag, then PBS's node file, then the job's hostfile; Slurm needs none.
    var arguments = ["-n", "\(ranks)"]
    var placement: String
    let hostfile: String? = request.hostfile ?? {
        if case .pbs(_, let nodefile, _) = allocation { return nodefile }
        if case .slurm = allocation { return nil }
        return job.hostfile
    }()
    if let hostfile, !extraHas("--hostfile") {
        let hosts: [HostEntry]
        if case .pbs(_, let nodefile, let pbsHosts) = allocation, nodefile == hostfile {
            hosts = pbsHosts
        } else {
            guard let text = context.files[hostfile] else { throw LaunchError("hostfile \(hostfile): no such file") }
            hosts = try parseHostfile(text, path: hostfile)
        }
        arguments += ["--hostfile", hostfile]
        let slots = totalSlots(hosts)
        placement = "\(hosts.count) host(s) from \(hostfile)" + (slots.map { " (\($0) slots)" } ?? "")
        if let slots, ranks > slots, !extraHas("--oversubscribe") {
            throw LaunchError("too few slots: \(hostfile) has \(slots) for \(ranks) ranks (add hosts or slots, use fewer ranks, or pass -- --oversubscribe)")
        }
        if !extraHas("--mca") || !extra.contains("plm_rsh_agent") {
            // Fail fast on an unreachable host instead of waiting for ssh's default timeout.
            arguments += ["--mca", "plm_rsh_args", "-o ConnectTimeout=10 -o BatchMode=yes"]
        }
    } else if case .slurm = allocation {
        placement = allocation.summary
    } else {
        placement = "this machine (\(context.localCores) cores)"
        if ranks > context.localCores && !extraHas("--oversubscribe") { arguments.append("--oversubscribe") }
    }
    if threads > 1 && !extraHas("--bind-to") && !extraHas("--map-by") { arguments += ["--bind-to", "none"] }

    // What every rank needs: its BLAS threads, the expected world size, and the caller's paths.
    arguments += ["-x", "OPENBLAS_NUM_THREADS=\(threads)", "-x", "GENTRAIN_EXPECTED_WORLD_SIZE=\(ranks)"]
    // Swift's backtracer symbolicates a crash for ~30 s before the rank ends, holding up the others and the restart;
    // a user who set SWIFT_BACKTRACE gets their choice (forwarded below).
    if context.environment["SWIFT_BACKTRACE"] == nil { arguments += ["-x", "SWIFT_BACKTRACE=enable=no"] }
    for name in forwardedVariables where context.environment[name] != nil { arguments += ["-x", name] }
    arguments += ["--output-filename", job.output + "/logs/attempt-\(attempt)"]
    arguments += extra

    arguments += [context.gentrain, "train", request.jobPath]
    for override in request.overrides { arguments += ["--set", override] }
    arguments += ["--set", "distributed.ranks=\(ranks)", "--set", "distributed.threads_per_rank=\(threads)", "--resume", attempt == 0 ? request.resume : "auto"]

    var environment: [String: String] = [:]
    if context.isRoot { environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"] }
    return LaunchPlan(executable: context.mpirun, arguments: arguments, environment: environment, ranks: ranks, threadsPerRank: threads,
                      placement: placement, allocation: allocation)
}

/// The first `name` found in the folders of `path` (a `PATH`-style list), as an absolute path.
public func findExecutable(_ name: String, path: String?, isExecutable: (String) -> Bool) -> String? {
    if name.contains("/") { return isExecutable(name) ? name : nil }
    for folder in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !folder.isEmpty {
        let candidate = "\(folder)/\(name)"
        if isExecutable(candidate) { return candidate.hasPrefix("/") ? candidate : FileManager.default.currentDirectoryPath + "/" + candidate }
    }
    return nil
}

/// One line naming why mpirun could not start the job, from its error output; nil if it did start
/// (or failed in a way not recognised). Launch failures are not worth a restart.
public func diagnoseLaunchFailure(_ output: String) -> String? {
    func after(_ marker: String) -> String? {
        guard let range = output.range(of: marker) else { return nil }
        return String(output[range.upperBound...].prefix { $0 != ":" && $0 != "\n" }).trimmingCharacters(in: .whitespaces)
    }
    if let host = after("Could not resolve hostname ") { return "host \(host) cannot be resolved (check the hostfile's names)" }
    if output.contains("Permission denied (publickey") { return "ssh refused the login: set up passwordless ssh to every host" }
    for symptom in ["Connection timed out", "No route to host", "Connection refused"] where output.contains(symptom) {
        return "a host is unreachable by ssh (\(symptom.lowercased()))"
    }
    if output.contains("plm_rsh_agent") && output.contains("could not be found") {
        return "no ssh on this machine to reach the hosts (install openssh-client)"
    }
    if output.contains("There are not enough slots available") { return "not enough slots for the ranks on the given hosts" }
    if output.contains("could not access or execute an executable") {
        return "a host cannot run the gentrain binary at the same path (install it at the same path on every host)"
    }
    if output.contains("ORTE was unable to reliably start one or more daemons") {
        return "mpirun could not start its daemons on the hosts (Open MPI at the same path on every host, ssh reachable?)"
    }
    return nil
}
