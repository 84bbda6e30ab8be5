import Foundation
import Testing
@testable import TensorCore

/// The large-buffer heap, on private pools (the shared one serves the tests running beside these).
@Suite struct BufferPoolTests {
    static let megabyte = 1 << 20

    /// A freed buffer serves a smaller request without growing the range (the old exact-size cache could not).
    @Test func freedBufferServesASmallerRequest() {
        let pool = BufferPool(reservedBytes: 64 * Self.megabyte, residentFreeLimit: 64 * Self.megabyte)
        let first = pool.take(bytes: 3 * Self.megabyte)
        pool.give(first, bytes: 3 * Self.megabyte)
        let second = pool.take(bytes: 2 * Self.megabyte)
        #expect(second == first)
        #expect(pool.highWaterBytes == 3 * Self.megabyte)
    }

    /// Neighbouring free buffers merge, so a request larger than either fits where both were.
    @Test func freeNeighboursMerge() {
        let pool = BufferPool(reservedBytes: 64 * Self.megabyte, residentFreeLimit: 64 * Self.megabyte)
        let buffers = (0..<3).map { _ in pool.take(bytes: 2 * Self.megabyte) }
        pool.give(buffers[1], bytes: 2 * Self.megabyte)
        pool.give(buffers[0], bytes: 2 * Self.megabyte)
        #expect(pool.take(bytes: 4 * Self.megabyte) == buffers[0])
        #expect(pool.highWaterBytes == 6 * Self.megabyte)
    }

    /// Of two free extents the smaller one that holds the request serves it.
    @Test func smallestFittingExtentIsTaken() {
        let pool = BufferPool(reservedBytes: 64 * Self.megabyte, residentFreeLimit: 64 * Self.megabyte)
        let large = pool.take(bytes: 6 * Self.megabyte), separator = pool.take(bytes: Self.megabyte)
        let small = pool.take(bytes: 2 * Self.megabyte), end = pool.take(bytes: Self.megabyte)
        pool.give(large, bytes: 6 * Self.megabyte)
        pool.give(small, bytes: 2 * Self.megabyte)
        #expect(pool.take(bytes: 2 * Self.megabyte) == small)
        #expect(pool.take(bytes: 5 * Self.megabyte) == large)
        _ = (separator, end)
    }

    /// Free bytes beyond the resident limit go back to the kernel: their pages read as zero when taken again.
    @Test func freeBytesBeyondTheLimitAreReleased() {
        let pool = BufferPool(reservedBytes: 64 * Self.megabyte, residentFreeLimit: 0)
        let size = 3 * Self.megabyte, floats = size / MemoryLayout<Float>.stride
        let buffer = pool.take(bytes: size)
        buffer.bindMemory(to: Float.self, capacity: floats).update(repeating: 7, count: floats)
        pool.give(buffer, bytes: size)
        #expect(pool.freeByteCount.total == size)
        #expect(pool.freeByteCount.resident == 0)
        let again = pool.take(bytes: size)
        #expect(again == buffer)
        let values = again.bindMemory(to: Float.self, capacity: floats)
        #expect((0..<floats).allSatisfy { values[$0] == 0 })
    }

    /// Only the excess over the limit is released, from the end of the largest resident extent: the rest keeps its
    /// pages and contents.
    @Test func onlyTheExcessIsReleased() {
        let pool = BufferPool(reservedBytes: 64 * Self.megabyte, residentFreeLimit: 4 * Self.megabyte)
        let size = 3 * Self.megabyte, floats = size / MemoryLayout<Float>.stride
        let first = pool.take(bytes: size), second = pool.take(bytes: size)
        for buffer in [first, second] { buffer.bindMemory(to: Float.self, capacity: floats).update(repeating: 7, count: floats) }
        pool.give(first, bytes: size)
        pool.give(second, bytes: size)
        #expect(pool.freeByteCount.total == 2 * size)
        #expect(pool.freeByteCount.resident == 4 * Self.megabyte)
        let kept = pool.take(bytes: 4 * Self.megabyte).bindMemory(to: Float.self, capacity: Self.megabyte)
        #expect(kept == first.assumingMemoryBound(to: Float.self))
        #expect((0..<Self.megabyte).allSatisfy { kept[$0] == 7 })
        let released = pool.take(bytes: 2 * Self.megabyte).bindMemory(to: Float.self, capacity: Self.megabyte / 2)
        #expect((0..<(Self.megabyte / 2)).allSatisfy { released[$0] == 0 })
        #expect(pool.highWaterBytes == 2 * size)
    }

    /// Under the limit, a freed buffer keeps its pages (and its contents) for the next request.
    @Test func freeBytesUnderTheLimitStayResident() {
        let pool = BufferPool(reservedBytes: 64 * Self.megabyte, residentFreeLimit: 8 * Self.megabyte)
        let size = 2 * Self.megabyte, floats = size / MemoryLayout<Float>.stride
        let buffer = pool.take(bytes: size)
        buffer.bindMemory(to: Float.self, capacity: floats).update(repeating: 7, count: floats)
        pool.give(buffer, bytes: size)
        #expect(pool.freeByteCount.resident == size)
        let again = pool.take(bytes: size).bindMemory(to: Float.self, capacity: floats)
        #expect(again[floats - 1] == 7)
    }

    /// When the reserved range is used up, buffers are mapped on their own, and returned by unmapping.
    @Test func requestsBeyondTheRangeAreMappedOnTheirOwn() {
        let pool = BufferPool(reservedBytes: 8 * Self.megabyte, residentFreeLimit: 8 * Self.megabyte)
        let inside = pool.take(bytes: 6 * Self.megabyte), outside = pool.take(bytes: 6 * Self.megabyte)
        #expect(outside < inside || outside >= inside + 8 * Self.megabyte)
        outside.storeBytes(of: 1, as: Int.self)
        pool.give(outside, bytes: 6 * Self.megabyte)
        pool.give(inside, bytes: 6 * Self.megabyte)
        #expect(pool.freeByteCount.total == 6 * Self.megabyte)
        #expect(pool.take(bytes: 6 * Self.megabyte) == inside)
    }

    /// A random sequence of requests and returns, against a plain model: live buffers never overlap, the resident free
    /// bytes never pass the limit, and once all are returned the free bytes are everything handed out (one run when
    /// nothing was released).
    @Test(arguments: [1024, 8]) func randomRequestsNeverOverlap(limitMegabytes: Int) {
        let pool = BufferPool(reservedBytes: 512 * Self.megabyte, residentFreeLimit: limitMegabytes * Self.megabyte)
        var generator = SeededGenerator(seed: 11)
        var live: [(address: UnsafeMutableRawPointer, bytes: Int)] = []
        var lowest: UnsafeMutableRawPointer?
        for _ in 0..<400 {
            if live.isEmpty || Int.random(in: 0..<5, using: &generator) < 3 {
                let bytes = Int.random(in: Self.megabyte..<(9 * Self.megabyte), using: &generator)
                let address = pool.take(bytes: bytes)
                for other in live {
                    #expect(address + BufferPool.roundedSize(bytes) <= other.address || other.address + BufferPool.roundedSize(other.bytes) <= address)
                }
                live.append((address, bytes))
                lowest = min(lowest ?? address, address)
            } else {
                let returned = live.remove(at: Int.random(in: 0..<live.count, using: &generator))
                pool.give(returned.address, bytes: returned.bytes)
                #expect(pool.freeByteCount.resident <= limitMegabytes * Self.megabyte)
            }
        }
        for buffer in live { pool.give(buffer.address, bytes: buffer.bytes) }
        #expect(pool.freeByteCount.total == pool.highWaterBytes)
        if limitMegabytes * Self.megabyte >= pool.highWaterBytes {
            #expect(pool.take(bytes: pool.highWaterBytes) == lowest)
            #expect(pool.freeByteCount.total == 0)
        }
    }

    /// A storage from a dirty reused buffer is zeroed when asked to be.
    @Test func storageIsZeroedOnRequest() {
        let count = BufferPool.minimumBytes / MemoryLayout<Float>.stride + 123
        do {
            let dirty = TensorStorage(count: count, zeroed: false)
            dirty.pointer.update(repeating: 7, count: count)
        }
        let reused = TensorStorage(count: count, zeroed: true)
        #expect((0..<count).allSatisfy { reused.pointer[$0] == 0 })
    }
}
