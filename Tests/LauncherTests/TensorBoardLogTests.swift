// The run's TensorBoard event file: which numbers become scalars, a resumed start's file and its START mark, the job's
// hyperparameters, and a full disk (the file cut back to whole records; at start-up, exit 74 naming the file).
// scripts/check-tensorboard.sh reads a real stopped and resumed run with TensorBoard's own reader.

import DataIO
@testable import DistributedTraining
import Foundation
import JobFiles
import Models
import Testing

/// The event files of a run folder, oldest first (TensorBoard's order: by name).
func eventFiles(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
}

@Suite(.serialized) struct TensorBoardLogTests {
    /// Numbers (Swift's, or Foundation's from JSON) are scalars under the record's section; strings, booleans and the
    /// step are not.
    @Test func aRecordsNumbersAreScalarsUnderItsSection() throws {
        let step: [String: Any] = ["step": 3, "epoch": 0.5, "loss": Float(0.25), "learning_rate": 0.001, "n_real": 10, "reference": "test", "converged": true]
        let scalars = TensorBoardLog.scalars(of: step)
        #expect(scalars.map(\.tag) == ["train/epoch", "train/learning_rate", "train/loss", "train/n_real"])
        #expect(scalars.map(\.value) == [0.5, 0.001, 0.25, 10])
        let read = try #require(try JSONSerialization.jsonObject(with: Data(#"{"event": "eval", "step": 6, "fid": 12.5, "n_fake": 2000, "ok": false, "reference": "x"}"#.utf8)) as? [String: Any])
        #expect(TensorBoardLog.scalars(of: read).map(\.tag) == ["eval/fid", "eval/n_fake"])
        #expect(TensorBoardLog.scalars(of: read).map(\.value) == [12.5, 2000])
    }

    /// A second start in the same second gets a later name (TensorBoard reads files in name order), begins with the file
    /// version and marks the step after its checkpoint with SessionLog START; a fresh start marks nothing.
    @Test func aResumedStartsFileSortsAfterAndMarksTheStepAfterItsCheckpoint() throws {
        let folder = runFolder("tensorboard-names")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let now = Date(timeIntervalSince1970: 1_700_000_000.25)
        let first = try TensorBoardLog(folder: folder, resumedStep: 0, now: now)
        try first.writeScalars(of: ["step": 1, "loss": 0.5], wallTime: 1)
        let second = try TensorBoardLog(folder: folder, resumedStep: 8, now: now)
        #expect(eventFiles(folder).map { folder + "/" + $0 } == [first.path, second.path])
        #expect(first.path.hasPrefix(folder + "/events.out.tfevents.1700000000.") && second.path.hasPrefix(folder + "/events.out.tfevents.1700000001."))
        #expect(second.path.hasSuffix(".\(getpid()).gentrain"))
        let records = try unframedRecords(Array(try #require(FileManager.default.contents(atPath: second.path))))
        #expect(records == [TensorBoardEvent.fileVersion(wallTime: now.timeIntervalSince1970),
                            TensorBoardEvent.sessionStart(step: 9, wallTime: now.timeIntervalSince1970)])
        let fresh = try unframedRecords(Array(try #require(FileManager.default.contents(atPath: first.path))))
        #expect(fresh == [TensorBoardEvent.fileVersion(wallTime: now.timeIntervalSince1970), TensorBoardEvent.scalars([("train/loss", 0.5)], step: 1, wallTime: 1)])
        #expect(TensorBoardLog.firstStep(resumedStep: 0) == 0 && TensorBoardLog.firstStep(resumedStep: 8) == 9)
    }

    /// The HParams dashboard's values: job-file keys, numbers as numbers, no paths or operational settings.
    @Test func theHyperparametersAreTheJobsTrainingSettings() throws {
        let job = try ModelRegistry.loadJob(path: jobFile("dcgan-bags"), overrides: ["train.batch_size=16"])
        let values = Dictionary(uniqueKeysWithValues: job.hyperparameters.map { ($0.key, $0.value) })
        #expect(values["train.batch_size"] as? Double == 16)
        #expect(values["model.kind"] as? String == "dcgan")
        #expect(values["train.optimizers.generator.learning_rate"] as? Double == job.optimizers["generator"]?.learningRate)
        #expect(values["train.optimizers.generator.schedule"] as? String == "[]")
        #expect(values["output"] == nil && values["data.path"] == nil && values["checkpoint.keep"] == nil && values["eval.samples"] == nil)
        #expect(job.hyperparameters.map(\.key) == job.hyperparameters.map(\.key).sorted())
    }

    /// A record that does not fit on a full disk throws naming the file and the error, and the file keeps only whole records.
    @Test(.enabled(if: canMountTmpfs(), "needs root to mount a small tmpfs"))
    func aRecordThatDoesNotFitIsCutBackToTheWholeRecords() throws {
        let disk = try SmallFileSystem("tensorboard-full", size: "64k")
        defer { withExtendedLifetime(disk) {} }
        let log = try TensorBoardLog(folder: disk.path, resumedStep: 0)
        try log.writeScalars(of: ["step": 1, "loss": 0.5])
        #expect(fillFileSystem(with: disk.path + "/filler") > 0)
        var state: UInt32 = 1  // noise: a PNG that zlib cannot shrink
        let image = Image8(width: 64, height: 64, channels: 1, pixels: (0..<4096).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(state >> 24)
        })
        let png = try image.pngData()
        var failure: WriteError?
        do { for step in 1...100 { try log.writeImage(image, png: png, tag: "final/samples", step: step) } } catch { failure = error }
        #expect(failure?.failure == "cannot write \(log.path): No space left on device")
        let records = try unframedRecords(Array(try #require(FileManager.default.contents(atPath: log.path))))
        #expect(records.count >= 2, "the file version and the scalars are kept")
    }

    /// A run folder with room for job.resolved.json but not for the event file's first record: every rank stops before
    /// the first step with code 74 and one line naming the event file.
    @Test(.enabled(if: canMountTmpfs(), "needs root to mount a small tmpfs"))
    func anEventFileThatCannotBeWrittenAtStartUpStopsEveryRankWithCode74() throws {
        let disk = try SmallFileSystem("tensorboard-at-start", size: "64k")
        defer { withExtendedLifetime(disk) {} }
        let filler = disk.path + "/filler"
        let filled = fillFileSystem(with: filler)
        #expect(truncate(filler, off_t(filled - 4096)) == 0)  // one page left: job.resolved.json's
        let output = disk.path + "/run"
        let result = try train("autoencoder-fashion", ranks: 2, output: output, ["--set", "train.steps=3", "--set", "train.batch_size=8"])
        #expect(result.status == 74, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("gentrain: rank") }
        let events = eventFiles(output)
        #expect(events.count == 1, "\(result.output)")
        #expect(lines.count == 1 && lines[0].contains("\(output)/\(events.first ?? "?"): No space left on device"), "\(result.output)")
        #expect(FileManager.default.fileExists(atPath: output + "/job.resolved.json") && metricLines(output) == 0)
        #expect(!result.output.contains("Fatal error"), "\(result.output)")
    }
}
