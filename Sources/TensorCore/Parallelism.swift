// Thread-level parallelism of gentrain's own loops (BLAS has its own threads).
//
// Work runs on a small pool of long-lived threads rather than on Dispatch's: OpenBLAS keeps a
// buffer for every thread that calls it, so threads that come and go make the process grow.

import Foundation

/// How many threads gentrain's own kernels (unfolding, folding, elementwise passes) use.
public enum Parallelism {
    /// Threads for the current task; set with `Parallelism.$threads.withValue(n) { ... }` (default 1).
    @TaskLocal public static var threads = 1

    /// Runs `body(range)` over `count` items split into contiguous ranges, one per thread, in parallel
    /// when `threads > 1` and the work is large enough to pay for it.
    @inline(__always)
    public static func forEachRange(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, count / max(minimumPerThread, 1))
        if workers <= 1 {
            body(0..<count)
            return
        }
        forEachWorker(workers) { worker in
            body((worker * count / workers)..<((worker + 1) * count / workers))
        }
    }

    /// Runs `body(worker)` for `workers` workers concurrently (worker 0 on the calling thread); kernels they
    /// call run single-threaded.
    public static func forEachWorker(_ workers: Int, _ body: (Int) -> Void) {
        if workers <= 1 {
            body(0)
            return
        }
        WorkerPool.shared.run(workers: workers, body)
    }
}

/// Long-lived helper threads; one parallel region at a time.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    private final class Helper {
        let start = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        var work: ((Int) -> Void)?
    }

    private let regionLock = NSLock()
    private var helpers: [Helper] = []

    func run(workers: Int, _ body: (Int) -> Void) {
        regionLock.lock()
        defer { regionLock.unlock() }
        while helpers.count < workers - 1 {
            let helper = Helper(), index = helpers.count + 1
            let shared = UncheckedSendable(value: helper)
            let thread = Thread {
                while true {
                    shared.value.start.wait()
                    Parallelism.$threads.withValue(1) { shared.value.work?(index) }
                    shared.value.done.signal()
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
            helpers.append(helper)
        }
        withoutActuallyEscaping(body) { escapable in
            // The workers touch disjoint memory; the region waits for all of them before returning.
            for helper in helpers.prefix(workers - 1) {
                helper.work = escapable
                helper.start.signal()
            }
            Parallelism.$threads.withValue(1) { escapable(0) }
            for helper in helpers.prefix(workers - 1) {
                helper.done.wait()
                helper.work = nil
            }
        }
    }
}

/// Carries a value into threads that use it on disjoint data.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
