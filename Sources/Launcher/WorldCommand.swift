import ArgumentParser
import Communication
import Evaluation
import Foundation

/// Runs `body` on this process's MPI world and finalizes it. On failure every rank reaches the error (failures
/// are agreed on before collectives); the failing ranks say why, rank 0 names them otherwise, and the
/// command exits with code 1 and no stack trace.
func runOnWorld(_ commandName: String, _ body: (Communicator) throws -> Void) throws {
    let communicator = try Communicator()
    do {
        try body(communicator)
        try communicator.finalize()
    } catch {
        if !(error is RemoteRankFailure) || communicator.rank == 0 {
            FileHandle.standardError.write(Data("gentrain \(commandName): \(error)\n".utf8))
        }
        try? communicator.finalize()
        throw ExitCode(1)
    }
}

/// Runs `body` on rank 0 first and then, if it succeeded, on the other ranks: a failure every rank would meet (a bad
/// file, a model without the capability asked for) is reported once, by rank 0, while the others end quietly.
func onRankZeroFirst<T>(_ communicator: Communicator, _ body: () throws -> T) throws -> T {
    let first = try agreeOnSuccess(communicator) { communicator.rank == 0 ? try body() : nil }
    return try agreeOnSuccess(communicator) { try first ?? body() }  // every rank joins both collectives
}
