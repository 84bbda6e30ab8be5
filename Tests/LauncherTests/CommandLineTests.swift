import Foundation
import Testing

/// The `gentrain` executable built beside the test bundle.
func gentrainExecutable() -> URL {
    var folder = Bundle.main.bundleURL
    for _ in 0..<4 where !FileManager.default.fileExists(atPath: folder.appendingPathComponent("gentrain").path) {
        folder = folder.deletingLastPathComponent()
    }
    return folder.appendingPathComponent("gentrain")
}

/// Runs a program (absolute path), in `folder` if given, and returns its exit status and combined output.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], in folder: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// mpirun's path and the flags tests use (root needs Open MPI's explicit permission).
func mpirun(ranks: Int) -> (path: String, arguments: [String], environment: [String: String]) {
    var environment: [String: String] = [:]
    if getuid() == 0 { environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"] }
    return ("/usr/bin/mpirun", ["-n", "\(ranks)", "--oversubscribe", "--bind-to", "none"], environment)
}

@Suite(.serialized) struct CommandLineTests {
    /// OpenBLAS runs kernels of this CPU's vector extensions even when it does not know the CPU's model (0.3.21
    /// calls newer Xeons "Prescott", without AVX), and OPENBLAS_CORETYPE still chooses when set.
    @Test func openBLASUsesTheCPUsVectorKernels() throws {
        func core(_ environment: [String: String]) throws -> String {
            let result = try run(gentrainExecutable().path, ["bench", "sgemm", "--threads", "1", "--steps", "1", "--warmup", "0", "--json"],
                                 environment: environment)
            #expect(result.status == 0, "\(result.output)")
            let line = try #require(result.output.split(separator: "\n").last { $0.hasPrefix("{") })
            let report = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(report["blas_core"] as? String)
        }
        let flags = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        if flags.contains(" avx2") && flags.contains(" fma") {
            let withoutAVX = ["Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn", "Dunnington",
                              "Nehalem", "Athlon", "Opteron", "Opteron(SSE3)", "Barcelona", "Nano", "Bobcat"]
            let chosen = try core([:])
            #expect(!withoutAVX.contains(chosen), "OpenBLAS runs \(chosen) kernels on a CPU with AVX2")
        }
        #expect(try core(["OPENBLAS_CORETYPE": "Sandybridge"]) == "Sandybridge")
    }

    /// A benchmark names what it times: no model under another label, no model that is not registered.
    @Test func benchRefusesWhatItCannotTime() throws {
        let ranks = try run(gentrainExecutable().path, ["bench", "sgemm", "--ranks", "2"])
        #expect(ranks.status != 0 && ranks.output.contains("bench sgemm runs on one process"), "\(ranks.output)")
        let unknown = try run(gentrainExecutable().path, ["bench", "resnet"])
        #expect(unknown.status != 0 && unknown.output.contains("'resnet' is not a model (autoencoder, vae, dvae, dcgan, sagan, classifier, gaussian, gmm, rbm, hmm, ddpm)"), "\(unknown.output)")
    }

    @Test func missingDatasetIsAClearErrorWithoutAStackTrace() throws {
        let result = try run(gentrainExecutable().path, ["bench", "autoencoder", "--steps", "1", "--data", "/nonexistent/mnist"])
        #expect(result.status != 0)
        #expect(result.output.contains("/nonexistent/mnist") && result.output.contains("folder not found"))
        #expect(!result.output.contains("Stack") && !result.output.contains("Fatal error"))
    }

    @Test(arguments: [1, 2, 3])
    func mpiWorldUnderMpirun(ranks: Int) throws {
        let launcher = mpirun(ranks: ranks)
        let result = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "mpi-check"], environment: launcher.environment)
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("rank ") }
        #expect(lines.count == ranks)
        #expect(lines.allSatisfy { $0.hasSuffix("ok") && $0.contains("of \(ranks):") })
    }

    /// `bench --ranks` runs 1 rank and N ranks through mpirun and reports the data-parallel fields (no speed is asserted here).
    @Test func benchAcrossRanksReportsSpeedupAndCommunication() throws {
        let environment = mpirun(ranks: 1).environment
        let step = try run(gentrainExecutable().path, ["bench", "vae", "--ranks", "2", "--rounds", "1", "--steps", "2", "--warmup", "0",
                                                       "--batch", "8", "--json"], environment: environment)
        #expect(step.status == 0, "\(step.output)")
        let line = try #require(step.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let report = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(report["ranks"] as? Int == 2 && report["speedup"] is Double && report["comm_ms"] is Double && report["img_s_1rank"] is Double)
        let reduce = try run(gentrainExecutable().path, ["bench", "allreduce", "--ranks", "2", "--rounds", "1", "--steps", "2", "--warmup", "0", "--json"],
                             environment: environment)
        #expect(reduce.status == 0, "\(reduce.output)")
        #expect(reduce.output.contains("\"reducer_gb_s\"") && reduce.output.contains("\"bare_gb_s\""))
        // A message-size sweep: one line per size, in the order given, each timed by the reducer and the bare call.
        let sweep = try run(gentrainExecutable().path, ["bench", "allreduce", "--ranks", "2", "--rounds", "1", "--steps", "2", "--warmup", "0",
                                                        "--floats", "1000,300000", "--bucket-mb", "1", "--json"], environment: environment)
        #expect(sweep.status == 0, "\(sweep.output)")
        let sizes = try sweep.output.split(separator: "\n").filter { $0.hasPrefix("{") }.map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        #expect(sizes.map { $0["floats"] as? Int } == [1000, 300_000])
        #expect(sizes.allSatisfy { ($0["bare_us"] as? Double ?? 0) > 0 && ($0["reducer_us"] as? Double ?? 0) > 0 })
        let refused = try run(gentrainExecutable().path, ["bench", "allreduce", "--floats", "1000,x"], environment: environment)
        #expect(refused.status != 0 && refused.output.contains("--floats: 'x' is not a positive number of floats"))
    }

    /// A one-process step bench lists what a data-parallel step would sum across ranks, call by call (the scaling
    /// model's messages): the DCGAN's discriminator after its real and its fake half, then its generator.
    @Test func benchListsTheReducedMessagesOfAStep() throws {
        let result = try run(gentrainExecutable().path, ["bench", "dcgan", "--steps", "1", "--warmup", "0", "--batch", "4", "--json"])
        #expect(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let report = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let reduced = try #require(report["reduced_floats"] as? [Int])
        #expect(reduced == [521_345, 521_345, 1_923_073], "\(reduced)")
        #expect(report["reduced_doubles"] is [Int])
    }
}
