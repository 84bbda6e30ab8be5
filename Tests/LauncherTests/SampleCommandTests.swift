import Foundation
import Testing

/// A two-step checkpoint of the job `job` (trained once per test process), or the training's output as the error.
func twoStepCheckpoint(_ job: String) throws -> String {
    let output = NSTemporaryDirectory() + "gentrain-sample-\(job)-\(getpid())"
    let path = output + "/checkpoints/step-0000000002.gtck"
    if FileManager.default.fileExists(atPath: path) { return path }
    let result = try train(job, ranks: 1, output: output, ["--set", "train.steps=2", "--set", "train.batch_size=8"])
    #expect(result.status == 0, "\(result.output)")
    return path
}

/// `gentrain ARGUMENTS` under mpirun with `ranks` ranks.
func gentrain(ranks: Int, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let launcher = mpirun(ranks: ranks)
    return try run(launcher.path, launcher.arguments + [gentrainExecutable().path] + arguments, environment: launcher.environment)
}

@Suite(.serialized) struct SampleCommandTests {
    let folder = runFolder("sample")

    init() throws { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

    /// 300 samples (two forward passes of 250 and 50) give the same .npy and PNG bytes on 1, 2 and 3 ranks.
    @Test func samplesAreTheSameBytesOnOneTwoAndThreeRanks() throws {
        let checkpoint = try twoStepCheckpoint("vae-fashion")
        var files: [(Data, Data)] = []
        for ranks in 1...3 {
            let (npy, png) = (folder + "/s\(ranks).npy", folder + "/s\(ranks).png")
            let result = try gentrain(ranks: ranks, ["sample", checkpoint, "--count", "300", "--seed", "5", "--npy", npy, "--output", png])
            #expect(result.status == 0, "\(result.output)")
            files.append((try Data(contentsOf: URL(fileURLWithPath: npy)), try Data(contentsOf: URL(fileURLWithPath: png))))
        }
        #expect(files[0].0.count == 128 + 300 * 784)
        #expect(files.allSatisfy { $0.0 == files[0].0 && $0.1 == files[0].1 })
    }

    /// sample --npy, then eval --images, gives the numbers eval CHECKPOINT gives for the same samples and seed.
    @Test(arguments: [1, 2])
    func evaluatingTheSampleFileEqualsEvaluatingTheCheckpoint(ranks: Int) throws {
        let checkpoint = try twoStepCheckpoint("vae-fashion")
        let npy = folder + "/e\(ranks).npy"
        #expect(try gentrain(ranks: ranks, ["sample", checkpoint, "--count", "64", "--seed", "3", "--npy", npy]).status == 0)
        func metrics(_ arguments: [String]) throws -> [String: Any] {
            let result = try gentrain(ranks: ranks, ["eval"] + arguments + ["--seed", "3", "--limit", "300", "--metrics", "fid,kid,is", "--json"])
            #expect(result.status == 0, "\(result.output)")
            let line = try #require(result.output.split(separator: "\n").first { $0.hasPrefix("{") }, "\(result.output)")
            return try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let fromCheckpoint = try metrics([checkpoint, "--samples", "64"]), fromFile = try metrics(["--images", npy])
        for key in ["fid", "kid_mean", "kid_std", "is_mean", "is_std"] {
            let a = try #require(fromCheckpoint[key] as? Double), b = try #require(fromFile[key] as? Double)
            #expect(abs(a - b) <= 1e-9 * abs(a), "\(key): \(a) from the checkpoint, \(b) from the file on \(ranks) rank(s)")
        }
        #expect(fromFile["n_fake"] as? Int == 64 && fromFile["n_real"] as? Int == 300)
    }

    @Test func badImageFilesAreOneLineFromOneRank() throws {
        let folderNpy = folder + "/a-folder.npy"
        try FileManager.default.createDirectory(atPath: folderNpy, withIntermediateDirectories: true)
        for (path, message) in [(folder + "/missing.npy", "missing.npy: no such file"), (folderNpy, "a-folder.npy: a folder, not a .npy file")] {
            let result = try gentrain(ranks: 2, ["eval", "--images", path, "--limit", "100"])
            #expect(result.status != 0)
            let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("gentrain eval:") }
            #expect(lines.count == 1 && lines[0].contains(message), "\(result.output)")
            #expect(!result.output.contains("Fatal error"))
        }
    }

    @Test func theAutoencoderDrawsNoSamplesButItsInterpolation() throws {
        let checkpoint = try twoStepCheckpoint("autoencoder-fashion")
        let refused = try gentrain(ranks: 2, ["sample", checkpoint, "--output", folder + "/none.png"])
        #expect(refused.status != 0)
        let lines = refused.output.split(separator: "\n").filter { $0.hasPrefix("gentrain sample:") }
        #expect(lines.count == 1 && lines[0].contains("draws no samples") && lines[0].contains("--interpolate I,J"), "\(refused.output)")

        let png = folder + "/strip.png", npy = folder + "/strip.npy"
        let drawn = try gentrain(ranks: 2, ["sample", checkpoint, "--interpolate", "0,1", "--output", png, "--npy", npy])
        #expect(drawn.status == 0, "\(drawn.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: npy)).count == 128 + 11 * 784)
        #expect(FileManager.default.fileExists(atPath: png))

        let outside = try gentrain(ranks: 1, ["sample", checkpoint, "--interpolate", "3,10000", "--output", png])
        #expect(outside.status != 0 && outside.output.contains("no test image 10000") && outside.output.contains("holds 10000 images"), "\(outside.output)")
    }
}
