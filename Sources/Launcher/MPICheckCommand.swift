import ArgumentParser
import Communication
import DistributedTraining

/// Checks that the MPI world works: every rank all-reduces its rank number and broadcasts from rank 0.
struct MPICheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-check",
        abstract: "Check the MPI world: rank, size and every collective gentrain uses (run under mpirun).")

    func run() throws {
        let communicator = try Communicator()
        var values: [Float] = [Float(communicator.rank), 1]
        try communicator.allReduceSum(&values, count: 2)
        var token: [Float] = [communicator.rank == 0 ? 42 : 0]
        try communicator.broadcast(&token, count: 1)
        let expected = Float(communicator.size * (communicator.size - 1) / 2)
        // Uneven pieces: rank r contributes r + 1 copies of r.
        let mine = [Double](repeating: Double(communicator.rank), count: communicator.rank + 1)
        let everyone = (0..<communicator.size).flatMap { [Double](repeating: Double($0), count: $0 + 1) }
        let gatheredEverywhere = try communicator.allGatherVariable(mine)
        let gatheredAtRoot = try communicator.gather(mine, root: 0)
        let pending = try communicator.startAllReduceSum([1, Float(communicator.rank)])
        let nonBlocking = try pending.wait()
        let healthy = values == [expected, Float(communicator.size)] && token == [42] && gatheredEverywhere == everyone
            && gatheredAtRoot == (communicator.rank == 0 ? everyone : []) && nonBlocking == [Float(communicator.size), expected]
        print("rank \(communicator.rank) of \(communicator.size): rank sum \(Int(values[0])), ranks counted \(Int(values[1])), "
              + "broadcast \(Int(token[0])), allgatherv \(gatheredEverywhere.count), gather \(gatheredAtRoot.count), "
              + "iallreduce \(Int(nonBlocking[0])) \(healthy ? "ok" : "WRONG")")
        try communicator.finalize()
        if !healthy { throw ExitCode(1) }
    }
}
