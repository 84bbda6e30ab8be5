// k-means over every rank's rows, as scikit-learn's KMeans with one initialisation (n_init = 1): greedy
// k-means++ seeding (2 + ln k candidates per centre, the one that lowers the potential most kept), then
// Lloyd's iterations until the labels stop changing or the centres move less than 1e-4 of the data's mean
// variance (at most 300). Every sum is taken across ranks, so every rank holds the same centres; which
// row a random draw picks depends on the rows' global positions only, so any number of ranks picks the
// same. The default initialisation of the Gaussian mixture.

import Foundation
import TensorCore

/// k-means clustering of rows sharded across ranks.
struct KMeans {
    let clusters: Int
    var maxIterations = 300
    /// Relative to the mean variance of the data's columns.
    var tolerance = 1e-4
    /// The random stream of the seeding's draws.
    var stream: UInt32 = 0x4B4D_4E53

    /// This rank's rows and where they sit among every rank's.
    struct Shard {
        /// [count, dimension], row-major.
        let rows: UnsafeBufferPointer<Double>
        let dimension: Int
        /// Global positions of the rows (contiguous, in rank order).
        let positions: Range<Int>
        let total: Int
        var count: Int { positions.count }
    }

    /// The centres [clusters, dimension] and this rank's rows' labels.
    func fit(_ shard: Shard, random: CounterRandom, context: StepContext) throws -> (centres: [Double], labels: [Int]) {
        guard shard.total >= clusters else {
            throw ModelError("k-means: \(shard.total) samples for \(clusters) clusters (at least one sample per cluster is needed)")
        }
        var centres = try seed(shard, random: random, context: context)
        let threshold = try meanColumnVariance(shard, context: context) * tolerance
        var labels = nearestCentres(shard, centres: centres).labels
        for _ in 0..<maxIterations {
            let previous = centres
            centres = try updatedCentres(shard, labels: labels, previous: previous, context: context)
            let newLabels = nearestCentres(shard, centres: centres).labels
            var changed = [newLabels == labels ? 0.0 : 1.0]
            try context.sumAcrossRanks(&changed)
            labels = newLabels
            if changed[0] == 0 { break }
            let shift = zip(centres, previous).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            if shift <= threshold { break }
        }
        return (centres, labels)
    }

    // MARK: - Seeding (greedy k-means++)

    func seed(_ shard: Shard, random: CounterRandom, context: StepContext) throws -> [Double] {
        let d = shard.dimension
        let trials = 2 + Int(log(Double(clusters)))
        let first = Int(random.uniformDoubles(stream: stream, step: 0, sample: 0, count: 1)[0] * Double(shard.total))
        var centres = try rows(at: [min(first, shard.total - 1)], shard, context: context)
        var closest = squaredDistances(shard, to: centres)
        var potential = try globalSum(closest.reduce(0, +), context: context)
        for centre in 1..<clusters {
            let draws = random.uniformDoubles(stream: stream, step: 0, sample: UInt64(centre), count: trials).map { $0 * potential }
            let candidates = try positions(ofCumulativeValues: draws, weights: closest, shard, context: context)
            let candidateRows = try rows(at: candidates, shard, context: context)
            var potentials = [Double](repeating: 0, count: trials)
            var distancesByCandidate: [[Double]] = []
            for trial in 0..<trials {
                let distances = zip(closest, squaredDistances(shard, to: Array(candidateRows[(trial * d)..<((trial + 1) * d)]))).map { min($0, $1) }
                potentials[trial] = distances.reduce(0, +)
                distancesByCandidate.append(distances)
            }
            try context.sumAcrossRanks(&potentials)
            let best = potentials.indices.min { potentials[$0] < potentials[$1] }!
            potential = potentials[best]
            closest = distancesByCandidate[best]
            centres += candidateRows[(best * d)..<((best + 1) * d)]
        }
        return centres
    }

    /// The global positions where each value falls in the cumulative sum of every rank's `weights` (numpy's
    /// `searchsorted`, left side, clipped to the last row).
    func positions(ofCumulativeValues values: [Double], weights: [Double], _ shard: Shard, context: StepContext) throws -> [Int] {
        var totals = [Double](repeating: 0, count: context.worldSize)
        totals[context.rank] = weights.reduce(0, +)
        try context.sumAcrossRanks(&totals)
        // The rank whose running sum first reaches a value finds it among its rows; the others add nothing.
        var rankEnds = totals
        for rank in 1..<max(rankEnds.count, 1) { rankEnds[rank] += rankEnds[rank - 1] }
        var found = [Double](repeating: 0, count: values.count)
        for (index, value) in values.enumerated() {
            let owner = rankEnds.firstIndex { $0 >= value } ?? context.worldSize - 1
            guard owner == context.rank else { continue }
            var cumulative = context.rank == 0 ? 0 : rankEnds[context.rank - 1]
            var row = weights.count - 1
            for (candidate, weight) in weights.enumerated() {
                cumulative += weight
                if cumulative >= value { row = candidate; break }
            }
            found[index] = Double(shard.positions.lowerBound + max(row, 0) + 1)
        }
        try context.sumAcrossRanks(&found)
        return found.map { $0 > 0 ? Int($0) - 1 : shard.total - 1 }
    }

    /// The rows at global `positions`, [positions.count, dimension], on every rank (each row sent by the rank holding it).
    func rows(at positions: [Int], _ shard: Shard, context: StepContext) throws -> [Double] {
        let d = shard.dimension
        var result = [Double](repeating: 0, count: positions.count * d)
        for (index, position) in positions.enumerated() where shard.positions.contains(position) {
            let row = position - shard.positions.lowerBound
            for i in 0..<d { result[index * d + i] = shard.rows[row * d + i] }
        }
        try context.sumAcrossRanks(&result)
        return result
    }

    // MARK: - Lloyd's iterations

    /// The squared distance of each row to `centre`.
    func squaredDistances(_ shard: Shard, to centre: [Double]) -> [Double] {
        let d = shard.dimension
        return (0..<shard.count).map { row in
            var sum = 0.0
            for i in 0..<d {
                let difference = shard.rows[row * d + i] - centre[i]
                sum += difference * difference
            }
            return sum
        }
    }

    /// Each row's nearest centre (the first on a tie) and its squared distance.
    func nearestCentres(_ shard: Shard, centres: [Double]) -> (labels: [Int], distances: [Double]) {
        let toCentres = squaredEuclideanDistances(rows: shard.rows, rowCount: shard.count, dimension: shard.dimension, centres: centres)
        var labels = [Int](repeating: 0, count: shard.count), distances = [Double](repeating: .infinity, count: shard.count)
        for row in 0..<shard.count {
            for centre in 0..<clusters where toCentres[row * clusters + centre] < distances[row] {
                distances[row] = toCentres[row * clusters + centre]
                labels[row] = centre
            }
        }
        return (labels, distances)
    }

    /// The mean of each cluster's rows across ranks; a cluster left empty takes the row farthest from its centre.
    func updatedCentres(_ shard: Shard, labels: [Int], previous: [Double], context: StepContext) throws -> [Double] {
        let d = shard.dimension
        var sums = [Double](repeating: 0, count: clusters * (d + 1))
        for row in 0..<shard.count {
            let label = labels[row]
            for i in 0..<d { sums[label * d + i] += shard.rows[row * d + i] }
            sums[clusters * d + label] += 1
        }
        try context.sumAcrossRanks(&sums)
        var centres = previous
        var empty: [Int] = []
        for cluster in 0..<clusters {
            let count = sums[clusters * d + cluster]
            if count == 0 { empty.append(cluster); continue }
            for i in 0..<d { centres[cluster * d + i] = sums[cluster * d + i] / count }
        }
        if !empty.isEmpty {
            // scikit-learn's relocation: the rows farthest from their centres become the empty clusters' centres.
            let distances = nearestCentres(shard, centres: previous).distances
            let farthest = try farthestPositions(distances, count: empty.count, shard, context: context)
            let moved = try rows(at: farthest, shard, context: context)
            for (index, cluster) in empty.enumerated() {
                for i in 0..<d { centres[cluster * d + i] = moved[index * d + i] }
            }
        }
        return centres
    }

    /// The global positions of the `count` rows with the largest `distances` across ranks (ties: the lower position).
    func farthestPositions(_ distances: [Double], count: Int, _ shard: Shard, context: StepContext) throws -> [Int] {
        let local = distances.indices.sorted { distances[$0] > distances[$1] }.prefix(count)
        var candidates = [Double](repeating: 0, count: 2 * count * context.worldSize)
        for (index, row) in local.enumerated() {
            candidates[2 * (context.rank * count + index)] = distances[row]
            candidates[2 * (context.rank * count + index) + 1] = Double(shard.positions.lowerBound + row + 1)
        }
        try context.sumAcrossRanks(&candidates)
        let pairs = stride(from: 0, to: candidates.count, by: 2).map { (distance: candidates[$0], position: candidates[$0 + 1]) }.filter { $0.position > 0 }
        return pairs.sorted { $0.distance != $1.distance ? $0.distance > $1.distance : $0.position < $1.position }.prefix(count).map { Int($0.position) - 1 }
    }

    /// The mean over columns of each column's variance, across ranks.
    func meanColumnVariance(_ shard: Shard, context: StepContext) throws -> Double {
        let d = shard.dimension
        var sums = [Double](repeating: 0, count: d)
        for row in 0..<shard.count { for i in 0..<d { sums[i] += shard.rows[row * d + i] } }
        try context.sumAcrossRanks(&sums)
        let means = sums.map { $0 / Double(shard.total) }
        var squares = [Double](repeating: 0, count: d)
        for row in 0..<shard.count {
            for i in 0..<d {
                let difference = shard.rows[row * d + i] - means[i]
                squares[i] += difference * difference
            }
        }
        try context.sumAcrossRanks(&squares)
        return squares.reduce(0, +) / Double(shard.total * d)
    }

    func globalSum(_ value: Double, context: StepContext) throws -> Double {
        var values = [value]
        try context.sumAcrossRanks(&values)
        return values[0]
    }
}
