// The gradient reducer: sums a parameter group's flat gradient buffer across ranks in place, in
// buckets of a fixed size, in the same order on every rank (so every rank issues the same
// collectives), under the collective deadline, and times its communication.

import Communication
import Foundation
import TensorCore

/// Sums gradients across ranks, bucket by bucket.
public final class GradientReducer {
    let communicator: Communicator
    let watchdog: CollectiveWatchdog?
    /// Floats per bucket.
    public let bucketElements: Int
    /// Seconds spent in the all-reduces so far.
    public private(set) var communicationSeconds: Double = 0

    public init(communicator: Communicator, bucketMegabytes: Double, watchdog: CollectiveWatchdog?) {
        self.communicator = communicator
        self.watchdog = watchdog
        bucketElements = max(1, Int(bucketMegabytes * 1_048_576) / 4)
    }

    /// Sums `group`'s gradients across ranks in place, under the deadline.
    public func reduce(_ group: ParameterGroup, step: Int) throws {
        guard communicator.size > 1 else { return }
        let gradients = group.gradients.pointer
        let started = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        for start in stride(from: 0, to: group.parameterCount, by: bucketElements) {
            let count = min(bucketElements, group.parameterCount - start)
            try guarded("gradient all-reduce of \(group.name)", step: step) { () throws(MPIError) in
                try communicator.allReduceSum(gradients + start, count: count)
            }
        }
    }

    /// Sums statistics across ranks in place (one collective), under the deadline.
    public func sum(_ values: inout [Double], step: Int) throws {
        guard communicator.size > 1 else { return }
        let started = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        try guarded("all-reduce of statistics", step: step) { () throws(MPIError) in
            try communicator.allReduceSum(&values, count: values.count)
        }
    }

    private func guarded(_ phase: String, step: Int, _ body: () throws(MPIError) -> Void) throws {
        if let watchdog {
            try watchdog.guarded(phase, step: step + 1, body)
        } else {
            try body()
        }
    }
}

/// The first group whose gradient holds NaN or infinity (after a step, the buffers hold the summed
/// gradients, equal on every rank, so no collective is needed).
func firstNonFiniteGradient(_ groups: [ParameterGroup]) -> String? {
    groups.first { !allFinite($0.gradients.pointer, count: $0.parameterCount) }?.name
}

/// Whether every value is finite: `x * 0` is 0 for finite x and NaN for NaN or infinity, so the sum is 0
/// exactly when all are finite (one pass, vectorisable).
func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
    // Sixteen lanes at a time: a single scalar accumulator would serialise on the add's latency.
    let raw = UnsafeRawPointer(values)
    var lanes = SIMD16<Float>(repeating: 0)
    var index = 0
    while index + 16 <= count {
        lanes += raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self) * 0
        index += 16
    }
    var sum = lanes.sum()
    while index < count {
        sum += values[index] * 0
        index += 1
    }
    return sum == 0
}
