// Cluster schedulers' allocations, read from the environment a batch job runs in.

import Foundation

/// Where the ranks may run, as a scheduler granted it.
public enum Allocation: Equatable, Sendable {
    /// Not inside a scheduler's job.
    case none
    /// A Slurm job: Open MPI's mpirun reads the nodes from Slurm itself.
    case slurm(jobID: String, tasks: Int, nodes: String)
    /// A PBS job: the hosts come from `PBS_NODEFILE` (one line per slot).
    case pbs(jobID: String, nodefile: String, hosts: [HostEntry])

    /// Tasks (slots) granted.
    public var tasks: Int? {
        switch self {
        case .none: nil
        case .slurm(_, let tasks, _): tasks
        case .pbs(_, _, let hosts): hosts.reduce(0) { $0 + ($1.slots ?? 1) }
        }
    }

    /// For messages: `Slurm job 42 (4 tasks on node[1-2])`.
    public var summary: String {
        switch self {
        case .none: "no scheduler allocation"
        case .slurm(let job, let tasks, let nodes): "Slurm job \(job) (\(tasks) tasks on \(nodes))"
        case .pbs(let job, let nodefile, let hosts): "PBS job \(job) (\(tasks ?? 0) slots on \(hosts.count) host(s) from \(nodefile))"
        }
    }
}

/// The allocation this process runs in: Slurm (`SLURM_JOB_ID`, `SLURM_NTASKS`) or PBS (`PBS_NODEFILE`).
/// `readFile` reads the PBS node file.
public func detectAllocation(environment: [String: String], readFile: (String) -> String?) throws(LaunchError) -> Allocation {
    if let job = environment["SLURM_JOB_ID"] {
        guard let text = environment["SLURM_NTASKS"] ?? environment["SLURM_NPROCS"], let tasks = Int(text), tasks > 0 else {
            throw LaunchError("inside Slurm job \(job) but SLURM_NTASKS is not set: ask for tasks (sbatch -n N or --ntasks-per-node)")
        }
        return .slurm(jobID: job, tasks: tasks, nodes: environment["SLURM_JOB_NODELIST"] ?? environment["SLURM_NODELIST"] ?? "?")
    }
    if let nodefile = environment["PBS_NODEFILE"] {
        guard let text = readFile(nodefile) else { throw LaunchError("PBS_NODEFILE \(nodefile): cannot read it") }
        var hosts: [HostEntry] = []
        for line in text.split(separator: "\n") {
            let name = line.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { continue }
            if let index = hosts.firstIndex(where: { $0.name == name }) {
                hosts[index] = HostEntry(name: name, slots: (hosts[index].slots ?? 0) + 1)
            } else {
                hosts.append(HostEntry(name: name, slots: 1))
            }
        }
        guard !hosts.isEmpty else { throw LaunchError("PBS_NODEFILE \(nodefile) lists no hosts") }
        return .pbs(jobID: environment["PBS_JOBID"] ?? "?", nodefile: nodefile, hosts: hosts)
    }
    return .none
}
