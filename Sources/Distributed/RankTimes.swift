// The straggler report: how long each rank computed and how long it spent in collectives (moving data or waiting
// for the others), per step in metrics.jsonl and summed by phase at the end of a run. The per-step times ride in the
// step summary's one all-reduce: rank r writes its two values into slots of its own, the others leave zeros there.

import Communication
import Foundation

/// Each rank's compute and collective seconds, per step and over the run.
struct RankTimes {
    let worldSize: Int
    /// Rank 0: sums over the steps of this run (since it started or resumed), per rank.
    private(set) var computeTotals: [Double]
    private(set) var waitTotals: [Double]
    /// The per-rank arrays go into metrics.jsonl only up to this many ranks (a line per step stays short).
    static let largestWorldListed = 64

    init(worldSize: Int) {
        self.worldSize = worldSize
        computeTotals = Array(repeating: 0, count: worldSize)
        waitTotals = Array(repeating: 0, count: worldSize)
    }

    /// The slots the step summary carries: this rank's compute and collective seconds at `2 rank`, `2 rank + 1`.
    func slots(rank: Int, computeSeconds: Double, waitSeconds: Double) -> [Double] {
        var values = [Double](repeating: 0, count: 2 * worldSize)
        values[2 * rank] = computeSeconds
        values[2 * rank + 1] = waitSeconds
        return values
    }

    /// The summed slots of one step: metrics.jsonl's fields (the slowest and fastest rank's step, the straggler, and
    /// per-rank lists for up to `largestWorldListed` ranks); adds them to the run's totals.
    mutating func record(_ summed: ArraySlice<Double>) -> [String: Any] {
        let values = Array(summed)
        let compute = (0..<worldSize).map { values[2 * $0] }, wait = (0..<worldSize).map { values[2 * $0 + 1] }
        let steps = zip(compute, wait).map { $0 + $1 }
        for rank in 0..<worldSize {
            computeTotals[rank] += compute[rank]
            waitTotals[rank] += wait[rank]
        }
        var fields: [String: Any] = ["step_seconds_slowest": steps.max()!, "step_seconds_fastest": steps.min()!,
                                     "compute_seconds_slowest": compute.max()!, "wait_seconds_longest": wait.max()!]
        if worldSize > 1 { fields["straggler_rank"] = compute.indices.max { compute[$0] < compute[$1] }! }
        if worldSize <= Self.largestWorldListed && worldSize > 1 {
            fields["rank_compute_seconds"] = compute
            fields["rank_wait_seconds"] = wait
        }
        return fields
    }

    /// At the end of a run (every rank calls it): each rank's collective seconds by phase, summed into slots; rank 0
    /// gets the log lines and metrics.jsonl's `ranks` record. Nil on the other ranks, and with one rank.
    func report(watchdog: CollectiveWatchdog, communicator: Communicator, step: Int) throws -> (lines: [String], record: [String: Any])? {
        guard worldSize > 1 else { return nil }
        let byPhase = watchdog.collectiveSecondsByPhase
        var phases = byPhase.keys.sorted()
        // Every rank ran the same collectives, hence the same phases; if not (a bug), the report keeps the totals only.
        let digests = try watchdog.guarded("gather of the straggler report's phases", step: step) { () throws(MPIError) in
            try communicator.allGather([fnv1a(phases.joined(separator: "\n"))])
        }
        if Set(digests).count != 1 { phases = [] }
        var values = [Double](repeating: 0, count: worldSize * phases.count)
        for (index, phase) in phases.enumerated() { values[communicator.rank * phases.count + index] = byPhase[phase]! }
        try watchdog.guarded("all-reduce of the straggler report", step: step) { () throws(MPIError) in
            try communicator.allReduceSum(&values, count: values.count)
        }
        guard communicator.rank == 0 else { return nil }
        func seconds(_ value: Double) -> String { String(format: value < 10 ? "%.2f s" : "%.1f s", value) }
        let slowest = computeTotals.indices.max { computeTotals[$0] < computeTotals[$1] }!
        let fastest = computeTotals.indices.min { computeTotals[$0] < computeTotals[$1] }!
        var lines = ["time per rank over \(worldSize) ranks (compute, and collectives: moving data or waiting for the other ranks):"]
        for rank in 0..<worldSize {
            let total = computeTotals[rank] + waitTotals[rank]
            let phaseList = phases.enumerated()
                .map { (index, phase) in (phase, values[rank * phases.count + index]) }
                .filter { $0.1 >= 0.005 }
                .sorted { $0.1 > $1.1 }
                .map { "\($0.0) \(seconds($0.1))" }
            lines.append("  rank \(rank): compute \(seconds(computeTotals[rank])), collectives in steps \(seconds(waitTotals[rank]))"
                         + String(format: " (%.0f%%)", total > 0 ? 100 * waitTotals[rank] / total : 0)
                         + (phaseList.isEmpty ? "" : "; all collectives by phase: " + phaseList.joined(separator: ", ")))
        }
        if computeTotals[fastest] > 0 {
            lines.append(String(format: "  slowest rank: %d, computing %.1f%% longer than rank %d (the others wait for it at each step's collectives)",
                                slowest, 100 * (computeTotals[slowest] / computeTotals[fastest] - 1), fastest))
        }
        var record: [String: Any] = ["event": "ranks", "step": step, "compute_seconds": computeTotals, "wait_seconds": waitTotals,
                                     "slowest_rank": slowest]
        record["collective_seconds_by_phase"] = Dictionary(uniqueKeysWithValues: phases.enumerated().map { (index, phase) in
            (phase, (0..<worldSize).map { values[$0 * phases.count + index] })
        })
        return (lines, record)
    }
}

extension Trainer {
    /// The straggler report (every rank calls it): rank 0 logs it and records it in metrics.jsonl.
    func reportRankTimes(_ times: RankTimes, step: Int, metrics: JSONLinesWriter?) throws {
        guard let (lines, record) = try times.report(watchdog: watchdog, communicator: communicator, step: step) else { return }
        for line in lines { log(line) }
        self.record(record, in: metrics)
    }
}

/// The first error of a collective run inside the engine's passes, where nothing can throw: the trainer rethrows it
/// after the step.
final class FailedCollective {
    private var error: (any Error)?

    func record(_ error: any Error) {
        if self.error == nil { self.error = error }
    }

    func rethrow() throws {
        if let error {
            self.error = nil
            throw error
        }
    }
}
