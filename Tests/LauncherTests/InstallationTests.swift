import DistributedTraining
import Foundation
import JobFiles
import Testing

/// gentrain finds its evaluator and the example jobs' data from its own place, in any working folder, and says
/// what it runs on (scripts/install-test.sh checks the same of an installed gentrain under Lmod).
@Suite(.serialized) struct InstallationTests {
    @Test func theEvaluatorIsFoundFromTheExecutableAndAMissingOneNamesThePlaces() throws {
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .resolvingSymlinksInPath().path
        #expect(try CheckpointExtractor.locate(nil, environment: [:]) == checkout + "/evaluators/" + CheckpointExtractor.defaultFileName)
        let nowhere = InstalledFiles(executable: "/nonexistent/prefix/bin/gentrain")
        #expect { try CheckpointExtractor.locate(nil, environment: [:], files: nowhere) } throws: {
            "\($0)".contains("looked at /nonexistent/prefix/share/gentrain/evaluators/fashion-mnist-classifier.gtck; GENTRAIN_EVALUATOR is not set")
        }
        // GENTRAIN_EVALUATOR comes before the shipped one, and a wrong one is an error, not a silent fallback.
        let shipped = checkout + "/evaluators/" + CheckpointExtractor.defaultFileName
        #expect(try CheckpointExtractor.locate(nil, environment: ["GENTRAIN_EVALUATOR": shipped], files: nowhere) == shipped)
        #expect { try CheckpointExtractor.locate(nil, environment: ["GENTRAIN_EVALUATOR": "/nonexistent/e.gtck"]) } throws: {
            "\($0)" == "evaluator /nonexistent/e.gtck (GENTRAIN_EVALUATOR): no such file"
        }
        #expect(try CheckpointExtractor.locate(shipped, environment: ["GENTRAIN_EVALUATOR": "/nonexistent/e.gtck"]) == shipped)
    }

    /// From a folder that holds none of gentrain's files, an example job with a relative data path validates against
    /// the checkout's copy (the evaluator's lookup is the test above; the installed binary's `features` from another
    /// folder is scripts/install-test.sh's).
    @Test func commandsWorkFromAnotherFolder() throws {
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .resolvingSymlinksInPath().path
        let elsewhere = NSTemporaryDirectory() + "gentrain-elsewhere-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        let validated = try run(gentrainExecutable().path, ["validate", checkout + "/jobs/gaussian-heights.yaml"], in: elsewhere)
        #expect(validated.status == 0 && validated.output.replacingOccurrences(of: "\\/", with: "/").contains("\"dataPath\":\"\(checkout)/data/heights.csv\""), "\(validated.output)")
    }

    /// `--version` names gentrain's version and commit, OpenBLAS's and oneDNN's versions and kernels, and the MPI
    /// library, the same Open MPI that mpirun is.
    @Test func versionNamesTheLibrariesAndTheirKernels() throws {
        let version = try run(gentrainExecutable().path, ["--version"])
        #expect(version.status == 0)
        let lines = version.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(version.output)")
        #expect(lines.first?.hasPrefix("gentrain 0.1.0 (commit ") == true)
        #expect(lines.contains { $0.hasPrefix("OpenBLAS: OpenBLAS 0.") && $0.contains("; kernels ") }, "\(version.output)")
        #expect(lines.contains { $0.wholeMatch(of: /oneDNN: \d+\.\d+\.\d+( \(commit [0-9a-f]+\))?; kernels [a-z0-9_]+/) != nil }, "\(version.output)")
        let mpirunVersion = try run("/usr/bin/mpirun", ["--version"]).output  // "mpirun (Open MPI) 4.1.4"
        let openMPI = try #require(mpirunVersion.firstMatch(of: /Open MPI\) (\d+\.\d+\.\d+)/)?.1)
        #expect(lines.contains { $0.hasPrefix("MPI: Open MPI v\(openMPI) (MPI ") }, "\(version.output)")
    }
}
