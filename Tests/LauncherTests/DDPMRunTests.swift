@testable import DistributedTraining
import Foundation
import Testing

/// jobs/ddpm-fashion.yaml with a U-Net small enough for debug builds (8 channels, two levels, attention at 14x14) and
/// T = 10, batch 8.
let tinyDDPM = ["--set", "model.base_channels=8", "--set", "model.channel_multipliers=1,2", "--set", "model.attention=7,14",
                "--set", "model.time_embedding=16", "--set", "model.sinusoidal_dimension=8", "--set", "model.timesteps=10",
                "--set", "model.eval_steps=3", "--set", "train.batch_size=8", "--set", "distributed.replica_check_every=1"]

@Suite(.serialized) struct DDPMRunTests {
    let folder = runFolder("ddpm")

    init() throws { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

    /// 1, 2 and 3 ranks train the same parameters (SGD, so that the reduction's order is the only difference), the
    /// average included; every step's replica check compares the average across ranks.
    @Test func oneTwoAndThreeRanksTrainTheSameModelAndAverage() throws {
        let settings = tinyDDPM + ["--set", "train.steps=3", "--set", "train.optimizer={kind: sgd, learning_rate: 0.05, momentum: 0.9}"]
        var results: [Checkpoint] = []
        for ranks in 1...3 {
            let output = runFolder("ddpm-equivalence-\(ranks)")
            let result = try train("ddpm-fashion", ranks: ranks, output: output, settings)
            #expect(result.status == 0, "\(result.output)")
            results.append(try finalCheckpoint(output, step: 3))
        }
        for other in results.dropFirst() {
            #expect(relativeDifference(results[0], other) < 1e-5)
            let (a, b) = (results[0].groups[0].state, other.groups[0].state)
            let largest = a.map(abs).max()!
            #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * largest })
        }
        // The average moved off the initial weights (it is state, not the parameters).
        #expect(results[0].groups[0].state != results[0].groups[0].values)
    }

    /// A run interrupted at step 2 and resumed ends bitwise equal to the straight run, its average included.
    @Test func theAverageIsRestoredBitwiseOnResume() throws {
        let settings = tinyDDPM + ["--set", "train.steps=4", "--set", "checkpoint.every_steps=1"]
        let straight = runFolder("ddpm-straight"), interrupted = runFolder("ddpm-interrupted")
        #expect(try train("ddpm-fashion", ranks: 2, output: straight, settings).status == 0)
        let first = try train("ddpm-fashion", ranks: 2, output: interrupted, settings + ["--stop-at-step", "2"])
        #expect(first.status == 75, "\(first.output)")
        let second = try train("ddpm-fashion", ranks: 2, output: interrupted, settings)
        #expect(second.status == 0 && second.output.contains("resuming at step 2"), "\(second.output)")
        let (a, b) = (try finalCheckpoint(straight, step: 4), try finalCheckpoint(interrupted, step: 4))
        #expect(a.groups == b.groups && !a.groups[0].state.isEmpty)
    }

    /// DDIM (3 steps, 300 samples: passes of 250 and 50) gives the same bytes on 1, 2 and 3 ranks, DDPM on 1 and 2; the
    /// samplers differ, and eta > 0 draws other samples than eta = 0.
    @Test func samplesAreTheSameBytesOnOneTwoAndThreeRanks() throws {
        let output = runFolder("ddpm-sample")
        #expect(try train("ddpm-fashion", ranks: 1, output: output, tinyDDPM + ["--set", "train.steps=2"]).status == 0)
        let checkpoint = output + "/checkpoints/step-0000000002.gtck"
        func draw(_ ranks: Int, _ label: String, _ options: [String], count: Int = 300) throws -> Data {
            let npy = folder + "/\(label)-\(ranks).npy"
            let result = try gentrain(ranks: ranks, ["sample", checkpoint, "--count", "\(count)", "--seed", "5", "--npy", npy] + options)
            #expect(result.status == 0, "\(result.output)")
            return try Data(contentsOf: URL(fileURLWithPath: npy))
        }
        let ddim = try (1...3).map { try draw($0, "ddim", ["--sampler", "ddim", "--steps", "3"]) }
        #expect(ddim[0].count == 128 + 300 * 784 && ddim.allSatisfy { $0 == ddim[0] })
        let ddpm = try (1...2).map { try draw($0, "ddpm", ["--sampler", "ddpm", "--variance", "posterior"], count: 260) }
        #expect(ddpm[0] == ddpm[1] && ddpm[0].count == 128 + 260 * 784)
        #expect(try draw(1, "eta", ["--sampler", "ddim", "--steps", "3", "--eta", "1"]) != ddim[0])
        // The job's sampler (DDIM-3 here) is the default.
        #expect(try draw(2, "default", []) == ddim[0])
        // The trajectory picture.
        let png = folder + "/trajectory.png"
        let result = try gentrain(ranks: 2, ["sample", checkpoint, "--count", "4", "--trajectory", png])
        #expect(result.status == 0 && result.output.contains("DDIM-3"), "\(result.output)")
        #expect(FileManager.default.fileExists(atPath: png))
    }

    /// Diffusion options on another model are one line from one rank of two; mixed-up options one line (before MPI starts).
    @Test func diffusionOptionsAreRefusedWhereTheyDoNotApply() throws {
        let vae = try twoStepCheckpoint("vae-fashion")
        for (arguments, message) in [(["sample", vae, "--npy", folder + "/x.npy", "--sampler", "ddim"], "not a diffusion model"),
                                     (["sample", vae, "--npy", folder + "/x.npy", "--sampler", "ddpm", "--steps", "5"], "--steps and --eta are DDIM's"),
                                     (["sample", vae, "--npy", folder + "/x.npy", "--sampler", "fast"], "--sampler is ddpm or ddim")] {
            let result = try gentrain(ranks: message == "not a diffusion model" ? 2 : 1, arguments)
            #expect(result.status != 0)
            let lines = result.output.split(separator: "\n").filter { $0.contains("gentrain sample:") || $0.contains("Error:") }
            #expect(lines.count == 1 && lines[0].contains(message), "\(result.output)")
            #expect(!result.output.contains("Fatal error"))
        }
    }
}
