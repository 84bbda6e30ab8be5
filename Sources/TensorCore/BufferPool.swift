// Large tensor buffers: a heap of their own over one reserved range of address space, like a caching allocator.
//
// A training step allocates the same large buffers (activations, their gradients) every step, in sizes that
// change between its phases (the DCGAN's discriminator steps on 64 images, its generator step on 128). Through
// malloc, each free of a block of tens of MB raised glibc's mmap threshold and the heap fragmented (a DCGAN
// process grew from ~200 to 360-480 MB); a cache of mapped buffers reused by exact size could not serve one
// phase's sizes with the other's buffers and re-mapped ~250 MB per DCGAN step, 13% of the step in the kernel's
// page zeroing. Here freed buffers coalesce with their free neighbours and any request takes the best-fitting
// free extent, so after the first step nothing is faulted in again and the range in use stays near the peak of
// live bytes (DCGAN trace: 161 MB for a 147 MB peak).
//
// The range is reserved without access (no commit charge, whatever the overcommit policy) and made writable as
// its used part grows. Free extents are resident (faulted in) or released (handed back with MADV_DONTNEED); only
// extents of the same kind merge, so the resident count is exact, and only the excess over the limit is released.

import Foundation

/// A process-wide heap of page-aligned buffers of at least `minimumBytes`, carved from one reserved range.
final class BufferPool: @unchecked Sendable {
    /// Requests below this go to malloc.
    static let minimumBytes = 1 << 20
    /// Free bytes kept faulted in for reuse: beyond this the largest free extents are handed back to the kernel
    /// (their pages are faulted in again, zeroed, when reused). `$GENTRAIN_BUFFER_POOL_MB`, 256 MB by default.
    static let residentFreeLimit: Int = {
        if let text = getenv("GENTRAIN_BUFFER_POOL_MB"), let megabytes = Int(String(cString: text)) { return megabytes << 20 }
        return 256 << 20
    }()

    /// The pool of the process: as much address space as the machine has memory, or half the process's
    /// address-space limit when that is lower (a batch system's `vmem`).
    static let shared: BufferPool = {
        var size = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max { size = min(size, Int(limit.rlim_cur / 2)) }
        return BufferPool(reservedBytes: size, residentFreeLimit: residentFreeLimit)
    }()

    /// A run of free bytes at `offset` from the start of the range; `resident` while its pages are faulted in.
    private struct Extent {
        var offset: Int
        var bytes: Int
        var resident: Bool
    }

    /// How far ahead of the used part the range is made writable at a time.
    private static let commitStep = 64 << 20

    private let lock = NSLock()
    /// The reserved range (nil when no reservation succeeded: every buffer is then mapped on its own).
    private let region: UnsafeMutableRawPointer?
    private let reservedBytes: Int
    private let residentLimit: Int
    /// Bytes from the start of the range handed out at least once; nothing above has been touched.
    private var top = 0
    /// Bytes from the start of the range that are writable.
    private var committed = 0
    /// Free extents below `top`, by offset; neighbours of the same kind are merged.
    private var free: [Extent] = []
    private var residentFree = 0

    /// A pool over up to `reservedBytes` of address space (reserved without access; halved, down to 256 MB, until a
    /// reservation succeeds), keeping at most `residentFreeLimit` free bytes faulted in.
    init(reservedBytes: Int, residentFreeLimit: Int) {
        var size = Self.roundedSize(reservedBytes)
        var reserved: UnsafeMutableRawPointer?
        while true {
            let address = mmap(nil, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            if let address, address != MAP_FAILED {
                reserved = address
                break
            }
            guard size >= 512 << 20 else { break }
            size = Self.roundedSize(size / 2)
        }
        if let reserved {
            // Transparent huge pages: the range faults in 2 MB at a time instead of 4 KB. A no-op where THP is off.
            _ = madvise(reserved, size, MADV_HUGEPAGE)
        }
        region = reserved
        self.reservedBytes = reserved == nil ? 0 : size
        residentLimit = residentFreeLimit
    }

    deinit {
        if let region { munmap(region, reservedBytes) }
    }

    /// Free bytes below the high-water mark, and how many of them are faulted in.
    var freeByteCount: (total: Int, resident: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (free.reduce(0) { $0 + $1.bytes }, residentFree)
    }

    /// Bytes of the range handed out at least once (an upper bound on what the pool adds to resident memory).
    var highWaterBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return top
    }

    /// Page-rounded size of a request.
    static func roundedSize(_ bytes: Int) -> Int { (bytes + 4095) & ~4095 }

    /// A buffer of at least `bytes` (page aligned): the smallest free extent that holds it (a resident one of equal
    /// size first), else fresh bytes at the top of the range, else (the range used up) a mapping of its own.
    func take(bytes: Int) -> UnsafeMutableRawPointer {
        let size = Self.roundedSize(bytes)
        lock.lock()
        if let region, let offset = carve(size) {
            lock.unlock()
            return region + offset
        }
        lock.unlock()
        guard let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              address != MAP_FAILED else {
            fatalError("out of memory: could not map \(size) bytes for a tensor")
        }
        return address
    }

    /// Returns a buffer from `take(bytes:)` with the same `bytes`; its extent merges with free resident neighbours.
    func give(_ address: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.roundedSize(bytes)
        guard let region, address >= region, address < region + reservedBytes else {
            munmap(address, size)
            return
        }
        lock.lock()
        defer { lock.unlock() }
        insert(Extent(offset: address - region, bytes: size, resident: true))
        releaseBeyondLimit(region)
    }

    /// The offset of `size` bytes taken from the best-fitting free extent or the top; nil when the range is used up.
    /// Called with the lock held.
    private func carve(_ size: Int) -> Int? {
        var best: Int?
        for index in free.indices where free[index].bytes >= size {
            guard let current = best else {
                best = index
                continue
            }
            let (candidate, chosen) = (free[index], free[current])
            if candidate.bytes < chosen.bytes || (candidate.bytes == chosen.bytes && candidate.resident && !chosen.resident) { best = index }
        }
        if let best {
            let extent = free[best]
            if extent.resident { residentFree -= size }
            if extent.bytes == size {
                free.remove(at: best)
            } else {
                free[best].offset += size
                free[best].bytes -= size
            }
            return extent.offset
        }
        // Grow from the top, starting inside a free extent that ends there.
        let tail = free.last.flatMap { $0.offset + $0.bytes == top ? $0 : nil }
        let start = tail?.offset ?? top
        guard start + size <= reservedBytes, commit(through: start + size) else { return nil }
        if let tail {
            if tail.resident { residentFree -= tail.bytes }
            free.removeLast()
        }
        top = start + size
        return start
    }

    /// Makes the range writable up to at least `end` (in steps of `commitStep`); false when the kernel refuses.
    /// Called with the lock held.
    private func commit(through end: Int) -> Bool {
        guard end > committed, let region else { return true }
        let target = min(reservedBytes, (end + Self.commitStep - 1) / Self.commitStep * Self.commitStep)
        guard mprotect(region + committed, target - committed, PROT_READ | PROT_WRITE) == 0 else { return false }
        committed = target
        return true
    }

    /// Adds a free extent, merging it with the neighbours it touches that are of the same kind (resident or
    /// released). Called with the lock held.
    private func insert(_ extent: Extent) {
        var merged = extent
        var index = free.firstIndex { $0.offset > extent.offset } ?? free.endIndex
        if index < free.endIndex, free[index].offset == merged.offset + merged.bytes, free[index].resident == merged.resident {
            merged.bytes += free.remove(at: index).bytes
        }
        if index > 0, free[index - 1].offset + free[index - 1].bytes == merged.offset, free[index - 1].resident == merged.resident {
            let previous = free.remove(at: index - 1)
            index -= 1
            merged.offset = previous.offset
            merged.bytes += previous.bytes
        }
        if merged.resident { residentFree += extent.bytes }
        free.insert(merged, at: index)
    }

    /// Hands the pages of resident free bytes back to the kernel, from the end of the largest resident extents, until
    /// the resident free bytes are at the limit. Called with the lock held.
    private func releaseBeyondLimit(_ region: UnsafeMutableRawPointer) {
        while residentFree > residentLimit {
            guard let largest = free.indices.filter({ free[$0].resident }).max(by: { free[$0].bytes < free[$1].bytes }) else { return }
            let extent = free[largest]
            let amount = min(extent.bytes, Self.roundedSize(residentFree - residentLimit))
            let released = Extent(offset: extent.offset + extent.bytes - amount, bytes: amount, resident: false)
            _ = madvise(region + released.offset, amount, MADV_DONTNEED)
            residentFree -= amount
            if amount == extent.bytes {
                free.remove(at: largest)
            } else {
                free[largest].bytes -= amount
            }
            insert(released)
        }
    }
}
