import ArgumentParser
import TensorCore

/// gentrain's version, printed by `gentrain --version` and compared between ranks.
let gentrainVersion = "0.1.0"

@main
struct Gentrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gentrain",
        abstract: "Data-parallel training of generative image models over MPI.",
        version: gentrainVersion,
        subcommands: [Run.self, Train.self, Validate.self, Sbatch.self, Qsub.self, Eval.self, Sample.self, Inspect.self, Export.self, Forward.self, Features.self, Metrics.self, ModelsList.self, Bench.self, MPICheck.self])

    /// Chooses OpenBLAS's kernels before any command can call it, then runs the command.
    static func main() {
        BLASThreads.useNativeKernels()
        main(nil)
    }
}
