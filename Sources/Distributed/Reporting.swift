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
    public mutating func update(_ done: Int, detail: String) {
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
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (finished ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
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

/// Appends one JSON object per line to a file.
public struct JSONLinesWriter {
    let handle: FileHandle

    /// Opens `path` for appending after the records of steps up to `step` already in it (a run resumed at
    /// step k keeps the first k steps' lines and drops those of steps it will redo; a fresh run, step 0,
    /// starts the file afresh).
    public init(path: String, keepingStepsThrough step: Int = 0) throws {
        var kept = Data()
        if step > 0, let existing = FileManager.default.contents(atPath: path) {
            for line in existing.split(separator: UInt8(ascii: "\n")) {
                let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
                if let recorded = object?["step"] as? Int, recorded > step { continue }
                kept.append(contentsOf: line)
                kept.append(UInt8(ascii: "\n"))
            }
        }
        guard FileManager.default.createFile(atPath: path, contents: kept) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
    }

    public func write(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        handle.write(data + Data("\n".utf8))
    }
}

/// BLAS threads when gentrain's own kernels use several threads: the convolutions then split the batch
/// across workers that each call a single-threaded sgemm (OpenBLAS's own threads would spin against them).
/// `GENTRAIN_BLAS_THREADS` overrides it, for measurements.
public func blasThreadsForWorkers() -> Int {
    ProcessInfo.processInfo.environment["GENTRAIN_BLAS_THREADS"].flatMap(Int.init) ?? 1
}
