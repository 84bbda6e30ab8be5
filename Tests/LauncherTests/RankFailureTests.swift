// Issue 19, case 8: one rank that fails for a local reason (its data missing or corrupt while the others' is fine)
// ends the whole job at once, the job's last line names that rank, its host and its reason, and gentrain run does
// not restart a failure that would only happen again.

import Foundation
import Testing

@Suite(.serialized) struct RankFailureTests {
    /// A Fashion-MNIST folder whose training images are not an IDX file (the labels and test split are the real ones).
    func corruptDataFolder() throws -> String {
        let folder = runFolder("corrupt-data")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.createSymbolicLink(atPath: folder + "/" + name, withDestinationPath: "/usr/share/datasets/fashion-mnist/" + name)
        }
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: URL(fileURLWithPath: folder + "/train-images-idx3-ubyte"))
        return folder
    }

    /// `gentrain run` of a tiny 2-rank job with --max-restarts 2 and a 120 s collective deadline, rank 1 reading
    /// `rankOneData` (GENTRAIN_TEST_DATA_PATH_OF_RANK) while rank 0 reads the real data.
    func runWithRankOneData(_ rankOneData: String) throws -> (status: Int32, output: String, seconds: Double) {
        let started = Date()
        let result = try run(gentrainExecutable().path, ["run", jobFile("autoencoder-fashion"), "--ranks", "2", "--max-restarts", "2",
                                                         "--set", "output=\(runFolder("rank-failure"))", "--set", "train.steps=2",
                                                         "--set", "train.batch_size=8", "--set", "eval.every_epochs=0",
                                                         "--set", "distributed.deadline_s=120", "--", "--bind-to", "none"],
                             environment: ["GENTRAIN_TEST_DATA_PATH_OF_RANK": "1:\(rankOneData)"])
        return (result.status, result.output, Date().timeIntervalSince(started))
    }

    @Test func aRankWhoseDataIsMissingEndsTheJobAtOnceAndIsNotRestarted() throws {
        let missing = "/nonexistent/rank-1-data"
        let result = try runWithRankOneData(missing)
        #expect(result.status == 66, "\(result.output)")
        #expect(result.seconds < 20, "took \(result.seconds) s (the collective deadline is 120 s)\n\(result.output)")
        let last = result.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("rank 1") && last.contains(ProcessInfo.processInfo.hostName) && last.contains(missing), "\(result.output)")
        #expect(last.contains("not restarted"), "\(result.output)")
        #expect(!result.output.contains("restarting"), "\(result.output)")
        #expect(!result.output.contains("did not complete within"), "\(result.output)")
        // A data error is not a usage error: no usage text after it (scripts/demo.sh used to print it).
        #expect(!result.output.contains("USAGE:") && !result.output.contains("See 'gentrain run --help'"), "\(result.output)")
    }

    @Test func aRankWhoseDataIsCorruptEndsTheJobAtOnceWithCode65() throws {
        let folder = try corruptDataFolder()
        let result = try runWithRankOneData(folder)
        #expect(result.status == 65, "\(result.output)")
        #expect(result.seconds < 20, "took \(result.seconds) s (the collective deadline is 120 s)\n\(result.output)")
        let last = result.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("rank 1") && last.contains(ProcessInfo.processInfo.hostName) && last.contains(folder), "\(result.output)")
        #expect(!result.output.contains("restarting"), "\(result.output)")
    }

    /// Under plain mpirun the rank's own line names its rank, host and reason, and mpirun ends with its code at once.
    @Test func underMpirunTheFailingRankNamesItselfAndTheJobEndsWithItsCode() throws {
        let launcher = mpirun(ranks: 2)
        let started = Date()
        let result = try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "train", jobFile("autoencoder-fashion"),
                                                                  "--set", "output=\(runFolder("rank-failure-mpirun"))", "--set", "train.steps=2",
                                                                  "--set", "train.batch_size=8", "--set", "eval.every_epochs=0",
                                                                  "--set", "distributed.deadline_s=120"],
                             environment: launcher.environment.merging(["GENTRAIN_TEST_DATA_PATH_OF_RANK": "1:/nonexistent/rank-1-data"]) { $1 })
        #expect(result.status == 66, "\(result.output)")
        #expect(Date().timeIntervalSince(started) < 20, "\(result.output)")
        #expect(result.output.contains("gentrain: rank 1 on \(ProcessInfo.processInfo.hostName): /nonexistent/rank-1-data"), "\(result.output)")
    }

    /// A refused job is code 64 on every rank, so gentrain run would not restart it.
    @Test func aRefusedJobIsCode64() throws {
        let result = try run(gentrainExecutable().path, ["train", jobFile("autoencoder-fashion"), "--set", "train.batch_size=zero"])
        #expect(result.status == 64, "\(result.output)")
        #expect(result.output.contains("train.batch_size") && result.output.split(separator: "\n").count == 1, "\(result.output)")
    }
}
