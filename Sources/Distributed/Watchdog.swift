// A deadline on collectives: a collective that does not finish in time ends the whole job
// (MPI_Abort) with a message naming the MPI call, the phase it belongs to and the step, instead of hanging.

import CMPI
import Communication
import Foundation

/// Watches every blocking collective of the communicator it observes, from a background thread.
///
/// The deadline applies to each collective separately (time spent waiting for the other ranks), whichever
/// code calls it: the trainer's step, the gradient reducer, checkpoints, and the sharded evaluation.
/// `guarded` names the phase and step that the collectives inside it belong to.
public final class CollectiveWatchdog: CollectiveObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var phase: String?
    private var step = 0
    private var collective: String?
    private var started = Date()
    private var startedNanoseconds: UInt64 = 0
    private let deadline: TimeInterval
    private let rank: Int
    private var secondsByPhase: [String: Double] = [:]
    private var totalSeconds: Double = 0

    /// Starts watching; `deadline` in seconds. Install it as the communicator's `observer`.
    public init(deadline: TimeInterval, rank: Int) {
        self.deadline = deadline
        self.rank = rank
        let thread = Thread { [weak self] in
            while let watchdog = self {
                watchdog.checkDeadline()
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        thread.start()
    }

    /// Runs `body` with its collectives named `phase` at `step` in a missed-deadline message.
    public func guarded<R, E: Error>(_ phase: String, step: Int, _ body: () throws(E) -> R) throws(E) -> R {
        lock.lock()
        let outer = (self.phase, self.step)
        self.phase = phase
        self.step = step
        lock.unlock()
        defer {
            lock.lock()
            (self.phase, self.step) = outer
            lock.unlock()
        }
        return try body()
    }

    public func collectiveWillStart(_ function: String) {
        lock.lock()
        collective = function
        started = Date()
        startedNanoseconds = DispatchTime.now().uptimeNanoseconds
        lock.unlock()
    }

    public func collectiveDidFinish() {
        let finished = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        let seconds = Double(finished - startedNanoseconds) / 1e9
        secondsByPhase[phase ?? collective ?? "other collectives", default: 0] += seconds
        totalSeconds += seconds
        collective = nil
        lock.unlock()
    }

    /// Seconds this rank has spent inside collectives (moving data, or waiting for the other ranks to arrive).
    public var collectiveSeconds: Double {
        lock.lock()
        defer { lock.unlock() }
        return totalSeconds
    }

    /// `collectiveSeconds` by the phase `guarded` named (the MPI call's name outside any phase).
    public var collectiveSecondsByPhase: [String: Double] {
        lock.lock()
        defer { lock.unlock() }
        return secondsByPhase
    }

    private func checkDeadline() {
        lock.lock()
        let current = collective, currentPhase = phase, currentStep = step, elapsed = Date().timeIntervalSince(started)
        lock.unlock()
        guard let current, elapsed > deadline else { return }
        let what = currentPhase.map { "\($0) (\(current))" } ?? current
        let message = "gentrain: rank \(rank): \(what) at step \(currentStep) did not complete within \(Int(deadline)) s "
            + "(another rank stopped or is stuck); aborting the job\n"
        FileHandle.standardError.write(Data(message.utf8))
        MPI_Abort(gentrain_mpi_comm_world(), 70)
        exit(70)
    }
}
