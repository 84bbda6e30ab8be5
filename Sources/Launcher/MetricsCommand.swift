import ArgumentParser
import Communication
import Evaluation
import Foundation

/// FID, KID and IS on feature files from any source, sharded across ranks under mpirun.
struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "FID, KID and IS of feature files (.npy, or raw little-endian with --dim and --dtype); sharded under mpirun.")

    @Option(help: "Features of the real images ([N, D]).") var real: String
    @Option(help: "Features of the generated images ([M, D]).") var fake: String
    @Option(help: "Logits of the generated images ([K, C]) from a classifier, for IS.") var logits: String?
    @Option(help: "Values per row of raw feature files.") var dim: Int?
    @Option(help: "Element type of raw files: f32 or f64.") var dtype: String?
    @Option(help: "Values per row of a raw logits file (classes).") var logitsDim: Int?
    @Option(help: "Comma-separated metrics: fid, kid, is (default: fid,kid, and is when --logits is given).") var metrics: String?
    @Option(help: "Number of KID subsets.") var kidSubsets = 100
    @Option(help: "Rows per KID subset.") var kidSubsetSize = 1000
    @Option(help: "Seed of the KID subsets.") var seed: UInt64 = 0
    @Option(help: "Explicit KID subsets: rows of the real set, one subset per row (.npy or raw int64 with the subset size as width).")
    var kidIndicesReal: String?
    @Option(help: "Explicit KID subsets: rows of the generated set.") var kidIndicesFake: String?
    @Option(help: "IS splits.") var isSplits = 10
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if let dtype, ElementType(rawValue: dtype) == nil || dtype == "i64" { throw ValidationError("--dtype must be f32 or f64") }
        if (kidIndicesReal == nil) != (kidIndicesFake == nil) { throw ValidationError("give both --kid-indices-real and --kid-indices-fake") }
        for name in requested where !["fid", "kid", "is"].contains(name) { throw ValidationError("unknown metric '\(name)' (use fid, kid, is)") }
        if requested.contains("is") && logits == nil { throw ValidationError("IS needs --logits") }
        guard kidSubsets > 0, kidSubsetSize > 1, isSplits > 0 else { throw ValidationError("subset counts, sizes and splits must be positive") }
    }

    var requested: [String] {
        metrics.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } }
            ?? (logits == nil ? ["fid", "kid"] : ["fid", "kid", "is"])
    }

    func run() throws {
        try runOnWorld("metrics") { communicator in
            let report = try computeReport(communicator)
            if communicator.rank == 0 { print(json ? try encodeJSON(report, ranks: communicator.size) : describe(report)) }
        }
    }

    func computeReport(_ communicator: Communicator) throws -> MetricsReport {
        let rawType = dtype.flatMap { ElementType(rawValue: $0) }
        let (realShard, fakeShard, logitsShard, subsets) = try agreeOnSuccess(communicator) {
            () throws -> (FeatureShard, FeatureShard, FeatureShard?, KernelSubsets?) in
            func shard(_ path: String, width: Int?) throws -> FeatureShard {
                let file = try FeatureFile(path: path, dimension: width, rawType: rawType)
                let rows = FeatureShard.rows(of: file.rows, rank: communicator.rank, worldSize: communicator.size)
                return FeatureShard(values: try file.readRows(rows), dimension: file.dimension, firstRow: rows.lowerBound, totalRows: file.rows)
            }
            var subsets: KernelSubsets?
            if let kidIndicesReal, let kidIndicesFake {
                subsets = try KernelSubsets(real: FeatureFile(path: kidIndicesReal, dimension: kidSubsetSize, rawType: .int64).readIntegers(),
                                            fake: FeatureFile(path: kidIndicesFake, dimension: kidSubsetSize, rawType: .int64).readIntegers())
            }
            return (try shard(real, width: dim), try shard(fake, width: dim), try logits.map { try shard($0, width: logitsDim) }, subsets)
        }
        var options = MetricOptions()
        options.frechet = requested.contains("fid")
        options.kernel = requested.contains("kid")
        options.inception = requested.contains("is")
        options.kernelSubsets = subsets
        options.kernelSubsetCount = kidSubsets
        options.kernelSubsetSize = kidSubsetSize
        options.kernelSeed = seed
        options.inceptionSplits = isSplits
        return try shardedMetrics(real: realShard, fake: fakeShard, logits: logitsShard, options: options, communicator: communicator)
    }
}

/// The report as one JSON line (sorted keys), with the number of ranks that computed it; a report that cannot be
/// encoded (a value that is not finite) is an error, never a record without its metrics.
func encodeJSON(_ report: MetricsReport, ranks: Int, extra: [String: Any] = [:]) throws -> String {
    try report.checkFinite()
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    do {
        guard var object = try JSONSerialization.jsonObject(with: encoder.encode(report)) as? [String: Any] else {
            throw EvaluationError("the metrics report did not encode as a JSON object")
        }
        object["ranks"] = ranks
        object.merge(extra) { $1 }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    } catch {
        throw EvaluationError("cannot encode the metrics as JSON: \(error)")
    }
}

/// The report for people.
func describe(_ report: MetricsReport) -> String {
    var lines: [String] = []
    if let fid = report.fid {
        lines.append(String(format: "FID %.6f  (|mu_r - mu_g|^2 %.6f, tr S_r %.6f, tr S_g %.6f, tr sqrt(S_r S_g) %.6f)", fid,
                            report.fidMeanTerm!, report.fidTraceReal!, report.fidTraceFake!, report.fidTraceSquareRootProduct!))
    }
    if let mean = report.kidMean, let deviation = report.kidStd {
        lines.append(String(format: "KID %.8f ± %.8f  (%d subsets of %d)", mean, deviation, report.kidSubsets!, report.kidSubsetSize!))
    }
    if let mean = report.isMean, let deviation = report.isStd {
        lines.append(String(format: "IS  %.6f ± %.6f  (%d splits of %d samples)", mean, deviation, report.isSplits!, report.nLogits!))
    }
    lines.append("samples: \(report.nReal) real, \(report.nFake) generated; \(report.dim) features per sample")
    return lines.joined(separator: "\n")
}
