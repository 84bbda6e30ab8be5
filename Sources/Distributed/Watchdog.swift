// A deadline on collectives: a collective that does not finish in time ends the whole job
// (MPI_Abort) with a message naming the operation and the step, instead of hanging.

import CMPI
import Communication
import Foundation

/// Watches the collective in progress from a background thread.
public final class CollectiveWatchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var operation: String?
    private var step = 0
    private var started = Date()
    private let deadline: TimeInterval
    private let rank: Int

    /// Starts watching; `deadline` in seconds.
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

    /// Runs `body` (a collective) under the deadline.
    public func guarded<R, E: Error>(_ operation: String, step: Int, _ body: () throws(E) -> R) throws(E) -> R {
        lock.lock()
        self.operation = operation
        self.step = step
        started = Date()
        lock.unlock()
        defer {
            lock.lock()
            self.operation = nil
            lock.unlock()
        }
        return try body()
    }

    private func checkDeadline() {
        lock.lock()
        let current = operation, currentStep = step, elapsed = Date().timeIntervalSince(started)
        lock.unlock()
        guard let current, elapsed > deadline else { return }
        let message = "gentrain: rank \(rank): \(current) at step \(currentStep) did not complete within \(Int(deadline)) s "
            + "(another rank stopped or is stuck); aborting the job\n"
        FileHandle.standardError.write(Data(message.utf8))
        MPI_Abort(gentrain_mpi_comm_world(), 70)
        exit(70)
    }
}
