// Batch scripts for cluster schedulers, built as plain text from the job and the flags.
// The script execs `gentrain run`, so the scheduler's warning signal reaches the launcher, which
// forwards it to the ranks as the checkpoint request; under Slurm the launcher then requeues the
// job (`scontrol requeue`), and the requeued job resumes from the checkpoint.

import Foundation

/// What a batch script is made of.
public struct BatchRequest: Sendable {
    /// Absolute paths.
    public var jobPath: String
    public var gentrain: String
    public var jobName: String
    /// The run folder (the job's `output`), absolute or relative to the submission folder.
    public var runFolder: String
    public var nodes: Int
    public var tasksPerNode: Int
    public var threadsPerRank: Int
    /// `HH:MM:SS` or the scheduler's own forms.
    public var time: String?
    /// Slurm partition or PBS queue.
    public var queue: String?
    public var overrides: [String] = []
    public var maxRestarts = 0
    /// The folder `gentrain sbatch` ran in: the job starts there.
    public var submitFolder: String
    public var version: String
    /// An environment module (`gentrain/0.1.0`) the script loads; it then runs the `gentrain` that module puts on
    /// `PATH` instead of `gentrain`'s absolute path.
    public var module: String?

    public init(jobPath: String, gentrain: String, jobName: String, runFolder: String, nodes: Int, tasksPerNode: Int, threadsPerRank: Int,
                submitFolder: String, version: String) {
        self.jobPath = jobPath
        self.gentrain = gentrain
        self.jobName = jobName
        self.runFolder = runFolder
        self.nodes = nodes
        self.tasksPerNode = tasksPerNode
        self.threadsPerRank = threadsPerRank
        self.submitFolder = submitFolder
        self.version = version
    }

    /// The `gentrain run` line both schedulers' scripts end with; `mpiArguments` go after `--`.
    func runLine(mpiArguments: [String] = []) -> String {
        var words = [module == nil ? gentrain : "gentrain", "run", jobPath, "--ranks", "\(nodes * tasksPerNode)", "--threads-per-rank", "\(threadsPerRank)"]
        if maxRestarts > 0 { words += ["--max-restarts", "\(maxRestarts)"] }
        for override in overrides { words += ["--set", override] }
        if !mpiArguments.isEmpty { words += ["--"] + mpiArguments }
        return "exec " + words.map(shellQuoted).joined(separator: " ")
    }

    /// The lines that load `module` (none without one). A batch shell that lacks the `module` command (it is a shell
    /// function that a login shell defines) reads the site's /etc/profile, whose profile.d defines it (Lmod's, or
    /// Environment Modules').
    var moduleLines: [String] {
        guard let module else { return [] }
        return [
            "# gentrain from the module \(module) (gentrain \(version) wrote this script with --module).",
            "command -v module >/dev/null 2>&1 || . /etc/profile",
            "module load \(shellQuoted(module)) || { echo \"gentrain: cannot load the module \(module)\" >&2; exit 1; }",
        ]
    }

    func validate() throws(LaunchError) {
        if let module, module.isEmpty || module.contains(where: { $0.isWhitespace || $0 == "'" || $0 == "\"" }) {
            throw LaunchError("--module '\(module)': a module name such as gentrain/\(version), without spaces or quotes")
        }
        guard nodes >= 1, tasksPerNode >= 1, threadsPerRank >= 1 else { throw LaunchError("nodes, tasks per node and threads must be at least 1") }
        if let time, time.isEmpty || time.contains(where: { !($0.isNumber || $0 == ":" || $0 == "-") }) {
            throw LaunchError("--time '\(time)': use minutes, HH:MM:SS or D-HH:MM:SS")
        }
    }
}

/// A Slurm batch script: resources, `--signal=B:USR1@90` (the batch shell, that is `gentrain run`, gets
/// the warning 90 s before the time limit), `--requeue`, the log in the run folder (appended across
/// requeues), and the `gentrain run` line.
public func sbatchScript(_ request: BatchRequest) throws(LaunchError) -> String {
    try request.validate()
    var lines = [
        "#!/bin/bash",
        "# Written by gentrain \(request.version) for job \(request.jobName) (\(request.jobPath)). Submit: sbatch THIS_FILE",
        "#SBATCH --job-name=\(request.jobName)",
        "#SBATCH --nodes=\(request.nodes)",
        "#SBATCH --ntasks-per-node=\(request.tasksPerNode)",
        "#SBATCH --cpus-per-task=\(request.threadsPerRank)",
    ]
    if let time = request.time { lines.append("#SBATCH --time=\(time)") }
    if let queue = request.queue { lines.append("#SBATCH --partition=\(queue)") }
    lines += [
        "#SBATCH --output=\(request.runFolder)/slurm.log",
        "#SBATCH --open-mode=append",
        "#SBATCH --signal=B:USR1@90",
        "#SBATCH --requeue",
        "#SBATCH --chdir=\(request.submitFolder)",
        "# On USR1 (or scancel -b -s TERM), gentrain run checkpoints, requeues this job, and it resumes.",
        "echo \"gentrain: Slurm job $SLURM_JOB_ID, restart ${SLURM_RESTART_COUNT:-0}, on $SLURM_JOB_NODELIST\"",
    ]
    lines += request.moduleLines + [request.runLine()]
    return lines.joined(separator: "\n") + "\n"
}

/// A PBS (Torque or PBS Pro) batch script: resources, rerunnable (`-r y`), output joined in the run
/// folder, and the `gentrain run` line. PBS sends SIGTERM, then SIGKILL after the queue's `kill_delay`:
/// set that to at least 90 s so the checkpoint finishes (the launcher turns SIGTERM into the checkpoint
/// request and exits with 75).
public func qsubScript(_ request: BatchRequest) throws(LaunchError) -> String {
    try request.validate()
    var lines = [
        "#!/bin/bash",
        "# Written by gentrain \(request.version) for job \(request.jobName) (\(request.jobPath)). Submit: qsub THIS_FILE",
        "#PBS -N \(request.jobName)",
        "#PBS -l nodes=\(request.nodes):ppn=\(request.tasksPerNode * request.threadsPerRank)",
    ]
    if let time = request.time { lines.append("#PBS -l walltime=\(time)") }
    if let queue = request.queue { lines.append("#PBS -q \(queue)") }
    lines += [
        "#PBS -o \(request.runFolder)/pbs.log",
        "#PBS -j oe",
        "#PBS -r y",
        "# SIGTERM (preemption, walltime): gentrain run checkpoints and exits with 75; ask for kill_delay >= 90 s.",
        "cd \(shellQuoted(request.submitFolder))",
        "echo \"gentrain: PBS job $PBS_JOBID on $(sort -u \"$PBS_NODEFILE\" | tr '\\n' ' ')\"",
    ]
    // The node file lists each host once per core: place `tasksPerNode` ranks on each host.
    lines += request.moduleLines + [request.runLine(mpiArguments: request.threadsPerRank > 1 ? ["--map-by", "ppr:\(request.tasksPerNode):node"] : [])]
    return lines.joined(separator: "\n") + "\n"
}
