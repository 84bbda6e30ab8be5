import Foundation

/// Reports progress of long work: a live line with rate and ETA on a terminal, or one log line per
/// interval when the output is a file or pipe.
public struct ProgressReporter {
    let total: Int
    let unit: String
    let interval: TimeInterval
    let start = Date()
    let initial: Int
    private var lastReport = Date.distantPast
    private let isTerminal = isatty(STDERR_FILENO) != 0

    public init(total: Int, unit: String, interval: TimeInterval = 10, done: Int = 0) {
        self.total = total
        self.unit = unit
        self.interval = interval
        self.initial = done
    }

    /// Reports that `done` of `total` are finished, with `detail` (losses, say).
    public mutating func update(_ done: Int, detail: String) throws(WriteError) {
        let now = Date()
        let finished = done == total
        guard finished || now.timeIntervalSince(lastReport) >= (isTerminal ? 0.2 : interval) else { return }
        lastReport = now
        let elapsed = now.timeIntervalSince(start)
        let rate = Double(done - initial) / max(elapsed, 1e-9)
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "%d/%d %@  %.2f %@/s  elapsed %@  ETA %@  %@", done, total, unit, rate, unit,
                          formatDuration(elapsed), formatDuration(remaining), detail)
        if isTerminal {
            try writeStandardError("\r\u{1B}[K" + line + (finished ? "\n" : ""))
        } else {
            try writeStandardError(line + "\n")
        }
    }
}

public func formatDuration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    return total >= 3600 ? String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
                         : String(format: "%dm%02ds", total / 60, total % 60)
}

/// Peak resident memory of this process in MB (VmHWM).
public func peakResidentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kilobytes / 1024
}

/// A file the run could not write (a full disk, a lost permission). The trainer checkpoints if it can and
/// stops every rank; the exit code is 74 (EX_IOERR).
public struct WriteError: Error, CustomStringConvertible, Sendable {
    /// What failed, naming the file: "cannot write PATH: PROBLEM".
    public var failure: String
    /// What the run did about it (the checkpoint it wrote before stopping, or that none could be written).
    public var outcome = ""
    /// False on the ranks that stop because rank 0 could not write: rank 0 prints the one line.
    public var isReportedHere = true

    public init(path: String, problem: String) { failure = "cannot write \(path): \(problem)" }
    /// A failure whose message already names the file (a PNG writer's, say).
    public init(failure: String) { self.failure = failure }

    public var description: String { failure + (outcome.isEmpty ? "" : "; " + outcome) }
}

/// The text of the current `errno`.
func systemError() -> String { String(cString: strerror(errno)) }

/// Writes all of `bytes` to a descriptor; throws naming `path` on an error or when nothing more can be written.
func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws(WriteError) {
    var written = 0
    while written < bytes.count {
        let result = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + written, $0.count - written) }
        if result < 0 && errno == EINTR { continue }
        guard result > 0 else { throw WriteError(path: path, problem: result < 0 ? systemError() : "the file system accepts no more bytes") }
        written += result
    }
}

/// Writes to standard error, throwing instead of trapping when it cannot (a full disk under a redirected log).
public func writeStandardError(_ text: String) throws(WriteError) {
    try writeAll(Array(text.utf8), to: STDERR_FILENO, path: "standard error")
}

/// Appends one JSON object per line to a file. A line is written whole or not at all: a failed write is cut
/// back to the last whole line before the error is thrown.
public final class JSONLinesWriter {
    public let path: String
    private let descriptor: Int32
    /// Bytes of the whole lines in the file.
    private var length: Int

    /// Opens `path` for appending after the records of steps up to `step` already in it (a run resumed at
    /// step k keeps the first k steps' lines and drops those of steps it will redo, and a last line without
    /// its newline, cut short by a kill or a full disk; a fresh run, step 0, starts the file afresh).
    public init(path: String, keepingStepsThrough step: Int = 0) throws(WriteError) {
        self.path = path
        var kept = Data()
        if step > 0, let existing = FileManager.default.contents(atPath: path) {
            // What follows the last newline is empty, or a line cut short: dropped either way.
            for line in existing.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() where !line.isEmpty {
                let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
                if let recorded = object?["step"] as? Int, recorded > step { continue }
                kept.append(contentsOf: line)
                kept.append(UInt8(ascii: "\n"))
            }
        }
        do { try kept.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw WriteError(path: path, problem: "\(error.localizedDescription)")
        }
        descriptor = open(path, O_WRONLY | O_APPEND)
        guard descriptor >= 0 else { throw WriteError(path: path, problem: systemError()) }
        length = kept.count
    }

    deinit { close(descriptor) }

    /// Appends `object` as one line (keys sorted).
    public func write(_ object: [String: Any]) throws(WriteError) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        try appendWhole([UInt8](data) + [UInt8(ascii: "\n")], to: descriptor, path: path, length: &length)
    }
}

/// Appends `bytes` to a file opened for appending whose first `length` bytes are whole entries (lines, records) and
/// adds their count to `length`; on a failure, part of them may be in the file (a short write before the disk filled):
/// the file is cut back to `length` before the error is thrown.
func appendWhole(_ bytes: [UInt8], to descriptor: Int32, path: String, length: inout Int) throws(WriteError) {
    do {
        try writeAll(bytes, to: descriptor, path: path)
    } catch {
        _ = ftruncate(descriptor, off_t(length))
        throw error
    }
    length += bytes.count
}

/// BLAS threads when gentrain's own kernels use several threads: the convolutions then split the batch
/// across workers that each call a single-threaded sgemm (OpenBLAS's own threads would spin against them).
/// `GENTRAIN_BLAS_THREADS` overrides it, for measurements.
public func blasThreadsForWorkers() -> Int {
    ProcessInfo.processInfo.environment["GENTRAIN_BLAS_THREADS"].flatMap(Int.init) ?? 1
}
