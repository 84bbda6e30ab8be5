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

    /// The pool of the process, over as much address space as the machine has memory.
    static let shared = BufferPool(reservedBytes: Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE))),
                                   residentFreeLimit: residentFreeLimit)

    /// A run of free bytes at `offset` from the start of the range; `resident` while its pages may be faulted in.
    private struct Extent {
        var offset: Int
        var bytes: Int
        var resident: Bool
    }

    private let lock = NSLock()
    /// The reserved range (nil when the reservation failed: every buffer is then mapped on its own).
    private let region: UnsafeMutableRawPointer?
    private let reservedBytes: Int
    private let residentLimit: Int
    /// Bytes from the start of the range handed out at least once; nothing above has been touched.
    private var top = 0
    /// Free extents below `top`, by offset, never adjacent (neighbours are merged).
    private var free: [Extent] = []
    private var residentFree = 0

    /// A pool over `reservedBytes` of address space (reserved, not committed), keeping at most `residentFreeLimit`
    /// free bytes faulted in.
    init(reservedBytes: Int, residentFreeLimit: Int) {
        let size = Self.roundedSize(reservedBytes)
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if let address, address != MAP_FAILED {
            region = address
            self.reservedBytes = size
            // Transparent huge pages: the range faults in 2 MB at a time instead of 4 KB. A no-op where THP is off.
            _ = madvise(address, size, MADV_HUGEPAGE)
        } else {
            region = nil
            self.reservedBytes = 0
        }
        residentLimit = residentFreeLimit
    }

    /// Free bytes below the high-water mark, and how many of them may be faulted in.
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

    /// A buffer of at least `bytes` (page aligned): the smallest free extent that holds it, else fresh bytes at the
    /// top of the range, else (the range used up) a mapping of its own.
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

    /// Returns a buffer from `take(bytes:)` with the same `bytes`; its extent merges with free neighbours.
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
            if best == nil || free[index].bytes < free[best!].bytes { best = index }
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
        guard start + size <= reservedBytes else { return nil }
        if let tail {
            if tail.resident { residentFree -= tail.bytes }
            free.removeLast()
        }
        top = start + size
        return start
    }

    /// Adds a free extent, merging it with the extents it touches. A merged extent counts as resident when any
    /// part was (an overcount at worst, so the limit errs on the side of releasing). Called with the lock held.
    private func insert(_ extent: Extent) {
        var merged = extent
        var index = free.firstIndex { $0.offset > extent.offset } ?? free.endIndex
        if index < free.endIndex, free[index].offset == merged.offset + merged.bytes {
            let next = free.remove(at: index)
            if next.resident { residentFree -= next.bytes }
            merged.bytes += next.bytes
            merged.resident = merged.resident || next.resident
        }
        if index > 0, free[index - 1].offset + free[index - 1].bytes == merged.offset {
            let previous = free.remove(at: index - 1)
            index -= 1
            if previous.resident { residentFree -= previous.bytes }
            merged.offset = previous.offset
            merged.bytes += previous.bytes
            merged.resident = merged.resident || previous.resident
        }
        if merged.resident { residentFree += merged.bytes }
        free.insert(merged, at: index)
    }

    /// Hands the pages of the largest resident free extents back to the kernel until the resident free bytes are
    /// under the limit. Called with the lock held.
    private func releaseBeyondLimit(_ region: UnsafeMutableRawPointer) {
        while residentFree > residentLimit {
            guard let largest = free.indices.filter({ free[$0].resident }).max(by: { free[$0].bytes < free[$1].bytes }) else { return }
            _ = madvise(region + free[largest].offset, free[largest].bytes, MADV_DONTNEED)
            free[largest].resident = false
            residentFree -= free[largest].bytes
        }
    }
}
