import ArgumentParser
import DistributedTraining

/// Checks that the MPI world works: every rank all-reduces its rank number and broadcasts from rank 0.
struct MPICheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-check",
        abstract: "Check the MPI world: rank, size, an all-reduce and a broadcast (run under mpirun).")

    func run() throws {
        let communicator = try Communicator()
        var values: [Float] = [Float(communicator.rank), 1]
        try communicator.allReduceSum(&values, count: 2)
        var token: [Float] = [communicator.rank == 0 ? 42 : 0]
        try communicator.broadcast(&token, count: 1)
        let expected = Float(communicator.size * (communicator.size - 1) / 2)
        let healthy = values == [expected, Float(communicator.size)] && token == [42]
        print("rank \(communicator.rank) of \(communicator.size): rank sum \(Int(values[0])), ranks counted \(Int(values[1])), broadcast \(Int(token[0])) \(healthy ? "ok" : "WRONG")")
        try communicator.finalize()
        if !healthy { throw ExitCode(1) }
    }
}
