// Thread-level parallelism of gentrain's own loops (BLAS has its own threads).

import Dispatch

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
        withoutActuallyEscaping(body) { escapable in
            // The ranges are disjoint, so the workers touch disjoint memory.
            let shared = UncheckedSendable(value: escapable)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let start = worker * count / workers, end = (worker + 1) * count / workers
                shared.value(start..<end)
            }
        }
    }
}

extension Parallelism {
    /// Runs `body(worker)` for `workers` workers concurrently; kernels they call run single-threaded.
    public static func forEachWorker(_ workers: Int, _ body: (Int) -> Void) {
        if workers <= 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let shared = UncheckedSendable(value: escapable)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                Parallelism.$threads.withValue(1) { shared.value(worker) }
            }
        }
    }
}

/// Carries a value into concurrent workers that use it on disjoint data.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
