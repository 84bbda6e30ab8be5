// Where gentrain's own files are (the evaluator, the example jobs, their data), found from the executable,
// never from the working folder: an installed gentrain (`<prefix>/bin/gentrain`, `scripts/install.sh`) keeps them
// in `<prefix>/share/gentrain`; a gentrain built in a checkout (`<checkout>/.build/<triple>/<config>/gentrain`)
// uses the checkout itself, which has the same `evaluators/`, `jobs/` and `data/` folders.

import Foundation

/// The folders holding gentrain's shipped files, most specific first.
public struct InstalledFiles: Sendable, Equatable {
    /// `<prefix>/share/gentrain` and/or the checkout, whether or not they exist (errors name them).
    public let folders: [String]

    /// The folders for an executable at `executable` (an absolute path with symbolic links resolved).
    public init(executable: String) {
        let binFolder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        var folders: [String] = []
        if binFolder.lastPathComponent == "bin" {
            folders.append(binFolder.deletingLastPathComponent().appendingPathComponent("share/gentrain").path)
        }
        // A build folder of SwiftPM (`.build`, or a scratch path such as `.build-release`) inside the checkout.
        var folder = binFolder
        while folder.path != "/" && !folder.path.isEmpty {
            if folder.lastPathComponent.hasPrefix(".build") {
                folders.append(folder.deletingLastPathComponent().path)
                break
            }
            folder = folder.deletingLastPathComponent()
        }
        self.folders = folders
    }

    /// The running gentrain's folders.
    public static let current = InstalledFiles(executable: runningExecutable)

    /// The running executable's absolute path (`/proc/self/exe`, so a gentrain found through `PATH` or a symbolic
    /// link is still located), falling back to the first command-line word made absolute.
    public static let runningExecutable: String = {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return resolved }
        let word = CommandLine.arguments[0]
        let absolute = word.hasPrefix("/") ? word : FileManager.default.currentDirectoryPath + "/" + word
        return URL(fileURLWithPath: absolute).resolvingSymlinksInPath().path
    }()

    /// `relativePath` in each folder, in order.
    public func candidates(_ relativePath: String) -> [String] {
        folders.map { $0 + "/" + relativePath }
    }

    /// The first folder's copy of `relativePath` that exists.
    public func locate(_ relativePath: String) -> String? {
        candidates(relativePath).first { FileManager.default.fileExists(atPath: $0) }
    }

    /// A path from a job file: absolute, or relative to the working folder when it exists there, else the shipped
    /// copy (`data/heights.csv` of an example job, from any folder); unchanged when neither exists, so the error
    /// that follows names the path as written.
    public func resolve(jobPath path: String) -> String {
        guard !path.hasPrefix("/"), !FileManager.default.fileExists(atPath: path) else { return path }
        return locate(path) ?? path
    }
}
