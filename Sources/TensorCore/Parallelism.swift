// Thread-level parallelism of gentrain's own loops.
//
// Work runs on OpenMP's thread team (libgomp), the same threads oneDNN's convolutions run on: with a pool of its
// own, oneDNN's idle threads spun for the cores gentrain's helpers needed (15% of a 2-thread DCGAN step in
// libgomp). BLAS runs single-threaded inside these regions.

import CPlatform

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

    /// Runs `body(worker)` for `workers` workers concurrently (worker 0 on the calling thread) and returns when
    /// all have finished; inside, `threads` is 1, so the kernels they call run single-threaded.
    public static func forEachWorker(_ workers: Int, _ body: (Int) -> Void) {
        if workers <= 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var region = ParallelRegion(body: escapable)
            withUnsafeMutablePointer(to: &region) { pointer in
                gentrain_parallel(Int32(workers), { context, worker in
                    let region = context!.assumingMemoryBound(to: ParallelRegion.self)
                    Parallelism.$threads.withValue(1) { region.pointee.body(Int(worker)) }
                }, pointer)
            }
        }
    }
}

/// The body of one parallel region, as the C trampoline finds it.
private struct ParallelRegion {
    let body: (Int) -> Void
}
