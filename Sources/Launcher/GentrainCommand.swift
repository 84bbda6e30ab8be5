import ArgumentParser
import CBuildInfo
import Communication
import TensorCore

/// gentrain's version, printed by `gentrain --version` and compared between ranks.
let gentrainVersion = "0.1.0"

@main
struct Gentrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gentrain",
        abstract: "Data-parallel training of generative image models over MPI.",
        version: versionReport(),
        subcommands: [Run.self, Train.self, Validate.self, Sbatch.self, Qsub.self, Eval.self, Sample.self, Inspect.self, Export.self, Forward.self, Features.self, Metrics.self, ModelsList.self, Bench.self, MPICheck.self])

    /// `gentrain --version`: gentrain's version and commit, then the libraries it runs on and their kernels on this CPU.
    static func versionReport() -> String {
        let commit = String(cString: gentrain_build_commit())
        return """
            gentrain \(gentrainVersion) (commit \(commit.isEmpty ? "not recorded: built without scripts/install.sh" : commit))
            OpenBLAS: \(NumericLibraries.openBLASConfiguration); kernels \(NumericLibraries.openBLASKernels)
            oneDNN: \(NumericLibraries.oneDNNVersion); kernels \(NumericLibraries.oneDNNKernels)
            MPI: \(Communicator.libraryVersion)
            """
    }

    /// Chooses OpenBLAS's kernels before any command can call it, then runs the command.
    static func main() {
        BLASThreads.useNativeKernels()
        main(nil)
    }
}
