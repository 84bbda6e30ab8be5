import Foundation
import Testing
@testable import TensorCore
import CPlatform

/// gentrain's parallel regions on OpenMP's thread team.
@Suite(.serialized) struct ParallelismTests {
    /// Every worker runs exactly once, on as many distinct threads as asked for, each seeing one thread.
    @Test(arguments: [2, 3, 5]) func everyWorkerRunsOnceOnItsOwnThread(workers: Int) {
        let runs = UnsafeMutablePointer<Int>.allocate(capacity: workers)
        let threads = UnsafeMutablePointer<UInt>.allocate(capacity: workers)
        let inner = UnsafeMutablePointer<Int>.allocate(capacity: workers)
        defer { runs.deallocate(); threads.deallocate(); inner.deallocate() }
        runs.initialize(repeating: 0, count: workers)
        Parallelism.$threads.withValue(workers) {
            Parallelism.forEachWorker(workers) { worker in
                runs[worker] += 1
                threads[worker] = UInt(pthread_self())
                inner[worker] = Parallelism.threads
            }
        }
        #expect((0..<workers).allSatisfy { runs[$0] == 1 })
        #expect(Set((0..<workers).map { threads[$0] }).count == workers)
        #expect((0..<workers).allSatisfy { inner[$0] == 1 })
    }

    /// Ranges cover the items once, in order, and a region inside a region still runs every worker.
    @Test func rangesCoverEveryItemAndNestingRuns() {
        let count = 1 << 17
        let seen = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        defer { seen.deallocate() }
        seen.initialize(repeating: 0, count: count)
        Parallelism.$threads.withValue(2) {
            Parallelism.forEachRange(count, minimumPerThread: 1 << 10) { range in
                for index in range { seen[index] += 1 }
            }
        }
        #expect((0..<count).allSatisfy { seen[$0] == 1 })
        let nested = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        defer { nested.deallocate() }
        nested.initialize(repeating: 0, count: 4)
        Parallelism.forEachWorker(2) { outer in
            Parallelism.forEachWorker(2) { innerWorker in nested[outer * 2 + innerWorker] += 1 }
        }
        #expect((0..<4).allSatisfy { nested[$0] == 1 })
    }
}

/// The CPU's vector extensions as CPlatform reads them from cpuid, against the kernel's flags in /proc/cpuinfo.
@Suite struct CPUFeatureTests {
    @Test func vectorLevelAgreesWithTheKernelsFlags() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
        let avx512 = ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"].allSatisfy(flags.contains)
        let expected = avx512 ? (flags.contains("avx512_bf16") ? 3 : 2) : (flags.contains("avx2") && flags.contains("fma") ? 1 : 0)
        #expect(Int(gentrain_cpu_vector_level()) == expected)
    }
}
