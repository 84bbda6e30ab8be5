// The exit codes of `gentrain train` (and `gentrain run`, which passes them on), from sysexits.h. A code says whether
// running the job again can help: 64, 65, 66 and 74 fail the same way until someone changes the job, the data or the
// disk, so `gentrain run --max-restarts` does not restart after them; 1, 70 and 75 may be transient.

import DataIO
import Foundation
import JobFiles

enum TrainingExitCode {
    /// The job was refused (a bad key or value).
    static let badJob: Int32 = 64
    /// The data is corrupt or invalid.
    static let badData: Int32 = 65
    /// The data (a file or folder the job names) does not exist.
    static let missingData: Int32 = 66
    /// A rank stopped answering: a collective missed `distributed.deadline_s`.
    static let missedDeadline: Int32 = 70
    /// A file could not be written (a full disk).
    static let cannotWrite: Int32 = 74
    /// Stopped on request after a checkpoint: run again to continue.
    static let stopped: Int32 = 75

    /// The code for `error`: a job, data or write error has its own; anything else is 1.
    static func code(for error: any Error) -> Int32 {
        switch error {
        case is JobError: badJob
        case let error as DatasetError: FileManager.default.fileExists(atPath: error.path) ? badData : missingData
        default: 1
        }
    }

    /// Whether a job that ended with `status` would fail the same way if restarted.
    static func isPermanent(_ status: Int32) -> Bool { [badJob, badData, missingData, cannotWrite].contains(status) }

    /// What `status` means, for gentrain run's last line.
    static func meaning(_ status: Int32) -> String {
        switch status {
        case badJob: "the job was refused"
        case badData: "the data is corrupt or invalid"
        case missingData: "the data is missing"
        case missedDeadline: "a rank stopped answering"
        case cannotWrite: "a file could not be written"
        case stopped: "stopped with a checkpoint"
        default: "a rank died or failed"
        }
    }
}
