// Rank 0's TensorBoard event file in the run folder: every scalar of metrics.jsonl at its step, the pictures of each
// evaluation and of the end as PNG images, the resolved job as text and its hyperparameters for the HParams dashboard.
// Each record goes to the file with one write, so a killed run leaves every record but perhaps a cut last one, which
// TensorBoard skips.

import DataIO
import Foundation
import JobFiles
import Models
import TensorCore

/// An event file being written: `<folder>/events.out.tfevents.<seconds>.<host>.<pid>.gentrain`, one per start of a run.
public final class TensorBoardLog {
    public let path: String
    private let descriptor: Int32
    /// Bytes of the whole records in the file.
    private var length = 0

    /// Creates the event file and writes its first event (`file_version`). A run resumed at `resumedStep` (> 0) marks
    /// step `resumedStep + 1` with `SessionLog.START`, so TensorBoard drops what an earlier start wrote from that step
    /// on (the steps this start redoes, as metrics.jsonl drops their lines).
    public init(folder: String, resumedStep: Int, now: Date = Date()) throws(WriteError) {
        // TensorBoard reads a folder's event files in the order of their names: a newer start's file must sort after
        // the older ones, even when both began in the same second.
        let existing = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).compactMap(Self.seconds(ofFileNamed:))
        let seconds = max(Int(now.timeIntervalSince1970), (existing.max() ?? 0) + 1)
        path = folder + "/events.out.tfevents.\(seconds).\(Self.hostName()).\(getpid()).gentrain"
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0o644)
        guard descriptor >= 0 else { throw WriteError(path: path, problem: systemError()) }
        let wallTime = now.timeIntervalSince1970
        try write(TensorBoardEvent.fileVersion(wallTime: wallTime))
        if resumedStep > 0 { try write(TensorBoardEvent.sessionStart(step: resumedStep + 1, wallTime: wallTime)) }
    }

    deinit { close(descriptor) }

    /// The step a start's first events take: 0, or the step after the one it resumed at (where its START mark is).
    public static func firstStep(resumedStep: Int) -> Int { resumedStep > 0 ? resumedStep + 1 : 0 }

    /// Appends one event as a record; a write that fails part-way is cut back to the last whole record.
    public func write(_ event: [UInt8]) throws(WriteError) {
        try appendWhole(framedRecord(event), to: descriptor, path: path, length: &length)
    }

    /// The numbers of a metrics.jsonl record as scalars at its step, tagged `<section>/<key>`: `train` for a step's
    /// record, else its `event` (`eval`, `final`). Strings, booleans and the step itself are not scalars.
    public func writeScalars(of record: [String: Any], wallTime: Double = Date().timeIntervalSince1970) throws(WriteError) {
        guard let step = record["step"] as? Int else { return }
        let scalars = Self.scalars(of: record)
        guard !scalars.isEmpty else { return }
        try write(TensorBoardEvent.scalars(scalars, step: step, wallTime: wallTime))
    }

    /// The tags and values `writeScalars` writes for `record`, sorted by tag.
    public static func scalars(of record: [String: Any]) -> [(tag: String, value: Double)] {
        let section = record["event"] as? String ?? "train"
        return record.compactMap { key, value in
            key == "step" ? nil : number(value).map { (section + "/" + key, $0) }
        }.sorted { $0.tag < $1.tag }
    }

    /// A picture as a PNG image at `step`.
    public func writeImage(_ image: Image8, png: [UInt8], tag: String, step: Int) throws(WriteError) {
        try write(TensorBoardEvent.image(tag: tag, png: png, width: image.width, height: image.height, channels: image.channels,
                                         step: step, wallTime: Date().timeIntervalSince1970))
    }

    /// The resolved job (canonical JSON, one key per line) as a Markdown code block under the tag `job`, and its
    /// hyperparameters for the HParams dashboard, at `step`.
    public func writeJob(_ job: Job, step: Int) throws(WriteError) {
        let wallTime = Date().timeIntervalSince1970
        let object = (try? JSONSerialization.jsonObject(with: Data(job.canonicalJSON.utf8))) ?? [:]
        let pretty = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])).map { String(decoding: $0, as: UTF8.self) }
            ?? job.canonicalJSON
        let markdown = pretty.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
        try write(TensorBoardEvent.text(tag: "job/text_summary", markdown: markdown, step: step, wallTime: wallTime))
        let values = job.hyperparameters.compactMap { key, value -> (name: String, value: HyperparameterValue)? in
            switch value {
            case let flag as Bool: (key, .boolean(flag))
            case let number as Double: (key, .number(number))
            case let text as String: (key, .text(text))
            default: nil
            }
        }
        try write(TensorBoardEvent.hyperparameters(values, step: step, wallTime: wallTime))
    }

    /// The seconds in an event file's name (`events.out.tfevents.<seconds>.…`), nil for other files.
    static func seconds(ofFileNamed name: String) -> Int? {
        let prefix = "events.out.tfevents."
        guard name.hasPrefix(prefix) else { return nil }
        return Int(name.dropFirst(prefix.count).prefix { $0 != "." })
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

// MARK: - The trainer's records

extension Trainer {
    /// Rank 0, before the first step: this start's event file, with the job as text and hyperparameters.
    func startEvents(resumedStep: Int) {
        recordingWriteFailure(job.output + "/events.out.tfevents.*") {
            let log = try TensorBoardLog(folder: job.output, resumedStep: resumedStep)
            events = log
            try log.writeJob(job, step: TensorBoardLog.firstStep(resumedStep: resumedStep))
        }
    }

    /// Rank 0: a record in metrics.jsonl and its numbers in the event file (a failed write stops the run at the next
    /// step, after a checkpoint).
    func record(_ record: [String: Any], in metrics: JSONLinesWriter?) {
        recordingWriteFailure(job.output + "/metrics.jsonl") { try metrics?.write(record) }
        if let events { recordingWriteFailure(events.path) { try events.writeScalars(of: record) } }
    }

    /// The step size of each optimizer's last update: `learning_rate`, or `learning_rate_<group>` when several groups
    /// have optimizers (a GAN's generator and discriminator).
    func learningRates() -> [String: Double] {
        let optimized = model.groups.compactMap { group in group.optimizer.map { (group.name, $0) } }
        return Dictionary(uniqueKeysWithValues: optimized.map { name, optimizer in
            (optimized.count == 1 ? "learning_rate" : "learning_rate_" + name, Double(optimizer.appliedLearningRate))
        })
    }
}

/// A JSON number's value: Swift's Double, Float and Int, or a Foundation NSNumber that is not a boolean; nil for
/// anything else (booleans, strings, lists).
func number(_ value: Any) -> Double? {
    switch value {
    case is Bool where type(of: value) == Bool.self: return nil
    case let number as NSNumber: return String(cString: number.objCType) == "c" ? nil : number.doubleValue
    case let number as Double: return number
    case let number as Float: return Double(number)
    case let number as Int: return Double(number)
    default: return nil
    }
}
