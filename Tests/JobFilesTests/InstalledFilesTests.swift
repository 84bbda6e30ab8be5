import Foundation
import Testing
@testable import JobFiles
import Models

/// gentrain's shipped files are found from the executable's place, never the working folder.
@Suite struct InstalledFilesTests {
    @Test func foldersFollowTheExecutablesPlace() {
        #expect(InstalledFiles(executable: "/opt/gentrain/0.1.0/bin/gentrain").folders == ["/opt/gentrain/0.1.0/share/gentrain"])
        #expect(InstalledFiles(executable: "/home/ada/gentrain/.build/x86_64-unknown-linux-gnu/release/gentrain").folders == ["/home/ada/gentrain"])
        #expect(InstalledFiles(executable: "/home/ada/gentrain/.build-release/release/gentrain").folders == ["/home/ada/gentrain"])
        #expect(InstalledFiles(executable: "/usr/local/libexec/gentrain").folders == [])
        // The test bundle runs from this checkout's build folder, so the checkout is where its shipped files are.
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        #expect(InstalledFiles.current.folders == [checkout.resolvingSymlinksInPath().path])
    }

    /// A job's relative data path that is not in the working folder is the shipped copy; one that is there, or an
    /// absolute one, stays; one found nowhere stays as written, for the error that names it.
    @Test func relativeJobPathsFallBackToTheShippedCopies() throws {
        let share = NSTemporaryDirectory() + "gentrain-share-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: share + "/data-\(UUID().uuidString.prefix(8))", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: share) }
        let relative = try #require(FileManager.default.contentsOfDirectory(atPath: share).first) + "/rows.csv"
        FileManager.default.createFile(atPath: share + "/" + relative, contents: Data("1,2\n".utf8))
        let files = InstalledFiles(executable: share + "/bin/gentrain")
        #expect(files.folders == [share + "/share/gentrain"])
        let shipped = InstalledFiles(executable: share + "/.build/release/gentrain")
        #expect(shipped.resolve(jobPath: relative) == share + "/" + relative)
        #expect(shipped.resolve(jobPath: "/elsewhere/" + relative) == "/elsewhere/" + relative)
        #expect(shipped.resolve(jobPath: "Package.swift") == "Package.swift" || !FileManager.default.fileExists(atPath: "Package.swift"))
        #expect(shipped.resolve(jobPath: "missing/rows.csv") == "missing/rows.csv")

        var job = try loadJob(path: writeJob("""
            name: heights
            model: {kind: gaussian}
            data: {dataset: table, path: \(relative)}
            train: {steps: 1}
            eval: {evaluator: \(relative)}
            """))
        #expect(job.dataPath == relative && job.evaluatorPath == relative)
        job.locateFiles(in: shipped)
        #expect(job.dataPath == share + "/" + relative && job.evaluatorPath == share + "/" + relative)
    }
}
