// Large tensor buffers: mapped from the kernel and kept for reuse, like a caching allocator.
//
// A training step allocates the same large buffers (activations, their gradients) in the same sizes every
// step. Through malloc, each free of a block of tens of MB raises glibc's mmap threshold, the blocks then
// come from the heap and fragment it (the DCGAN process grew from ~200 to 360-480 MB of resident memory);
// with a fixed threshold every block is mapped and faulted in afresh each step (~20% slower). The pool
// maps large buffers itself and keeps freed ones, by exact size, for the next request of that size.

import Foundation

/// A process-wide cache of page-aligned buffers of at least `minimumBytes`, reused by exact size.
final class BufferPool: @unchecked Sendable {
    /// Requests below this go to malloc.
    static let minimumBytes = 1 << 20
    /// Idle bytes kept for reuse; beyond this the oldest idle buffers are unmapped.
    static let idleLimit: Int = {
        if let text = getenv("GENTRAIN_BUFFER_POOL_MB"), let megabytes = Int(String(cString: text)) { return megabytes << 20 }
        return 64 << 20
    }()

    static let shared = BufferPool()

    init() {}

    private let lock = NSLock()
    /// Idle buffers, oldest first: (rounded size, address).
    private var idle: [(bytes: Int, address: UnsafeMutableRawPointer)] = []
    private var idleBytes = 0

    /// Bytes held idle for reuse.
    var idleByteCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return idleBytes
    }

    /// Page-rounded size of a request.
    static func roundedSize(_ bytes: Int) -> Int { (bytes + 4095) & ~4095 }

    /// A buffer of at least `bytes` (page aligned), reused if an idle one of the same rounded size exists.
    func take(bytes: Int) -> UnsafeMutableRawPointer {
        let size = Self.roundedSize(bytes)
        lock.lock()
        if let index = idle.lastIndex(where: { $0.bytes == size }) {
            let address = idle.remove(at: index).address
            idleBytes -= size
            lock.unlock()
            return address
        }
        lock.unlock()
        guard let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              address != MAP_FAILED else {
            fatalError("out of memory: could not map \(size) bytes for a tensor")
        }
        // Transparent huge pages: a buffer mapped afresh faults in 2 MB at a time instead of 4 KB (the DCGAN
        // benchmark: 396k page faults in 7 steps, 110k with them, at the same peak memory). A no-op where THP is off.
        _ = madvise(address, size, MADV_HUGEPAGE)
        return address
    }

    /// Returns a buffer from `take(bytes:)`; kept for reuse while the idle total stays under `idleLimit`.
    func give(_ address: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.roundedSize(bytes)
        var released: [(bytes: Int, address: UnsafeMutableRawPointer)] = []
        lock.lock()
        idle.append((size, address))
        idleBytes += size
        while idleBytes > Self.idleLimit, !idle.isEmpty {
            let oldest = idle.removeFirst()
            idleBytes -= oldest.bytes
            released.append(oldest)
        }
        lock.unlock()
        for buffer in released { munmap(buffer.address, buffer.bytes) }
    }
}
