import Foundation
import Testing
@testable import LaunchPlanning

/// The golden files beside this file.
func golden(_ name: String) throws -> String {
    try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)").path, encoding: .utf8)
}

func batchRequest(threads: Int = 1) -> BatchRequest {
    var request = BatchRequest(jobPath: "/home/ada/gentrain/jobs/vae-fashion.yaml", gentrain: "/home/ada/gentrain/.build/release/gentrain",
                               jobName: "vae-fashion", runFolder: "/home/ada/gentrain/runs/vae-fashion", nodes: 2, tasksPerNode: 4,
                               threadsPerRank: threads, submitFolder: "/home/ada/gentrain", version: "0.1.0")
    request.time = "02:00:00"
    request.queue = "gpu-free"
    request.overrides = ["train.epochs=20"]
    request.maxRestarts = 2
    return request
}

@Suite struct BatchScriptTests {
    @Test func slurmScriptMatchesItsGoldenFile() throws {
        #expect(try sbatchScript(batchRequest()) == golden("sbatch-vae-2x4.sh"))
    }

    @Test func pbsScriptsMatchTheirGoldenFiles() throws {
        #expect(try qsubScript(batchRequest()) == golden("qsub-vae-2x4.sh"))
        // With 2 threads per rank the node file lists 8 slots per host: the script places 4 ranks per host.
        #expect(try qsubScript(batchRequest(threads: 2)) == golden("qsub-vae-2x4-threads2.sh"))
    }

    /// With a module (`--module`) both scripts load it, reading /etc/profile first when the batch shell has no `module`
    /// command, and run the gentrain it puts on PATH (scripts/install-test.sh runs such a script with the real Lmod).
    @Test func scriptsLoadTheModuleTheyAreGiven() throws {
        var request = batchRequest()
        request.module = "gentrain/0.1.0"
        #expect(try sbatchScript(request) == golden("sbatch-vae-2x4-module.sh"))
        #expect(try qsubScript(request) == golden("qsub-vae-2x4-module.sh"))
        request.module = "gentrain 0.1.0"
        #expect { try sbatchScript(request) } throws: { "\($0)".contains("--module 'gentrain 0.1.0'") }
    }

    @Test func badResourcesAreRefused() {
        var request = batchRequest()
        request.time = "two hours"
        #expect { try sbatchScript(request) } throws: { "\($0)".contains("--time 'two hours'") }
        request = batchRequest()
        request.nodes = 0
        #expect { try qsubScript(request) } throws: { "\($0)".contains("at least 1") }
    }

    /// The PBS script's launcher, run inside a PBS job whose node file we write, takes the hosts from it.
    @Test func aPBSNodeFileDrivesThePlan() throws {
        let nodefile = NSTemporaryDirectory() + "gentrain-pbs-\(UUID().uuidString)"
        try "n1\nn1\nn1\nn1\nn2\nn2\nn2\nn2\n".write(toFile: nodefile, atomically: true, encoding: .utf8)
        let (path, loaded) = try job()
        var request = LaunchRequest(jobPath: path, job: loaded)
        request.ranks = 8
        let plan = try planLaunch(request, context: context(environment: ["PBS_JOBID": "9.head", "PBS_NODEFILE": nodefile],
                                                            files: [nodefile: try String(contentsOfFile: nodefile, encoding: .utf8)]))
        #expect(plan.arguments.starts(with: ["-n", "8", "--hostfile", nodefile]))
        #expect(plan.placement == "2 host(s) from \(nodefile) (8 slots)")
        request.ranks = 9
        #expect { try planLaunch(request, context: context(environment: ["PBS_NODEFILE": nodefile],
                                                           files: [nodefile: try String(contentsOfFile: nodefile, encoding: .utf8)])) } throws: {
            "\($0)".contains("grants 8")
        }
    }
}
