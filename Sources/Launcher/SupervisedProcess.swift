// mpirun as `gentrain run`'s child, started with SIGTERM blocked. Open MPI's mpirun answers SIGTERM by sending the
// ranks SIGTERM and, one second later, SIGKILL: too soon for a checkpoint. Some schedulers send SIGTERM to mpirun
// itself at the time limit. Blocked, that SIGTERM stays pending; the supervision loop sees it in /proc and turns
// it into the checkpoint request (SIGUSR1, which mpirun forwards to the ranks). The ranks unblock SIGTERM for themselves.

import Foundation
import LaunchPlanning

/// A child process spawned with SIGTERM blocked, its standard error into a pipe.
struct SupervisedProcess {
    let processIdentifier: pid_t

    /// Starts `executable` with `arguments` and exactly `environment`, its standard error written to `standardError`
    /// (closed in the child's copy of `closedInChild`).
    init(executable: String, arguments: [String], environment: [String: String], standardError: Int32, closedInChild: Int32) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardError, 2)
        posix_spawn_file_actions_addclose(&actions, closedInChild)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        posix_spawnattr_setsigmask(&attributes, &blocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argumentStrings = ([executable] + arguments).map { strdup($0) }
        let environmentStrings = environment.map { strdup("\($0.key)=\($0.value)") }
        defer { (argumentStrings + environmentStrings).forEach { free($0) } }
        var identifier: pid_t = 0
        let status = posix_spawn(&identifier, executable, &actions, &attributes, argumentStrings + [nil], environmentStrings + [nil])
        guard status == 0 else { throw LaunchError("cannot start \(executable): \(String(cString: strerror(status)))") }
        processIdentifier = identifier
    }

    /// The exit status once the process has ended (128 + the signal's number for a signal), nil while it runs.
    func exitStatus() -> Int32? {
        var status: Int32 = 0
        guard waitpid(processIdentifier, &status, WNOHANG) == processIdentifier else { return nil }
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// Whether a SIGTERM sent to the process waits, blocked, in its pending set (/proc/PID/status).
    var terminationIsPending: Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(processIdentifier)/status", encoding: .utf8) else { return false }
        return status.split(separator: "\n").contains { line in
            guard line.hasPrefix("ShdPnd:") || line.hasPrefix("SigPnd:"), let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else {
                return false
            }
            return mask & (1 << UInt64(SIGTERM - 1)) != 0
        }
    }
}
