// Issue 19, cases 4, 5 and part of 12: bad numbers and crafted `.npy` files given to `gentrain metrics` are one line
// naming the file (and the first bad value's row and column), never a crash, a printed `nan` or a record without the
// metrics asked for.

import Foundation
import Testing

/// A float64 `.npy` file [rows, dimension] whose header says `shape` (the real shape when nil).
func writeFeatureNumPy(_ path: String, values: [Double], rows: Int, dimension: Int, shape: String? = nil) throws {
    var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shape ?? "(\(rows), \(dimension))"), }"
    header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
    data.append(Data(header.utf8))
    values.withUnsafeBytes { data.append(contentsOf: $0) }
    try data.write(to: URL(fileURLWithPath: path))
}

/// Smooth, finite features [rows, dimension] drawn from a seeded sequence.
func finiteFeatures(rows: Int, dimension: Int, seed: Double) -> [Double] {
    (0..<(rows * dimension)).map { sin(Double($0) * 0.37 + seed) + cos(Double($0 % 7) * seed) }
}

@Suite(.serialized) struct BadNumbersTests {
    let folder = runFolder("bad-numbers")

    init() throws { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

    func metrics(_ arguments: [String], ranks: Int = 1) throws -> (status: Int32, output: String) {
        let launcher = mpirun(ranks: ranks)
        return try run(launcher.path, launcher.arguments + [gentrainExecutable().path, "metrics"] + arguments, environment: launcher.environment)
    }

    /// NaN or infinity anywhere in a feature file is an error naming the file and the first bad (row, column), on any
    /// rank's shard, with or without --json; no JSON record is printed.
    @Test(arguments: [Double.nan, .infinity])
    func aNonFiniteFeatureIsNamedByFileRowAndColumn(bad: Double) throws {
        let real = folder + "/real.npy", fake = folder + "/fake-\(bad).npy"
        try writeFeatureNumPy(real, values: finiteFeatures(rows: 40, dimension: 6, seed: 1), rows: 40, dimension: 6)
        var values = finiteFeatures(rows: 40, dimension: 6, seed: 2)
        values[33 * 6 + 4] = bad
        values[35 * 6 + 1] = bad
        try writeFeatureNumPy(fake, values: values, rows: 40, dimension: 6)
        for (ranks, json) in [(1, true), (2, false)] {
            let result = try metrics(["--real", real, "--fake", fake, "--kid-subset-size", "10", "--kid-subsets", "3"] + (json ? ["--json"] : []),
                                     ranks: ranks)
            #expect(result.status != 0, "\(result.output)")
            #expect(result.output.contains("\(fake): row 33, column 4 is \(bad.isNaN ? "NaN" : "inf")"), "\(result.output)")
            #expect(!result.output.contains("{") && !result.output.contains("FID ") && !result.output.contains("KID "), "\(result.output)")
            #expect(!result.output.contains("LAPACK") && !result.output.contains("Fatal error"), "\(result.output)")
        }
    }

    /// Finite features whose metrics overflow (values near 1e300) are an error naming the metric, never `nan` or `inf`
    /// printed with exit 0, and `--json` prints no record.
    @Test func aNonFiniteResultIsAnError() throws {
        let real = folder + "/huge-real.npy", fake = folder + "/huge-fake.npy"
        try writeFeatureNumPy(real, values: finiteFeatures(rows: 30, dimension: 4, seed: 1).map { $0 * 1e300 }, rows: 30, dimension: 4)
        try writeFeatureNumPy(fake, values: finiteFeatures(rows: 30, dimension: 4, seed: 2).map { $0 * 1e300 }, rows: 30, dimension: 4)
        for metric in ["fid", "kid"] {
            for json in [true, false] {
                let result = try metrics(["--real", real, "--fake", fake, "--metrics", metric, "--kid-subset-size", "10", "--kid-subsets", "3"]
                                         + (json ? ["--json"] : []))
                #expect(result.status != 0, "\(metric): \(result.output)")
                #expect(result.output.contains("not finite"), "\(metric): \(result.output)")
                #expect(!result.output.contains("{\""), "\(metric): \(result.output)")
                #expect(!result.output.contains("Fatal error"), "\(metric): \(result.output)")
            }
        }
    }

    /// Crafted shapes (negative, 2^62 rows, a product that overflows) are one line naming the file, checked against its
    /// real size before anything is allocated; a folder where a `.npy` file is expected is named as a folder.
    @Test func craftedShapesAndFoldersAreOneLine() throws {
        let real = folder + "/shape-real.npy"
        try writeFeatureNumPy(real, values: finiteFeatures(rows: 30, dimension: 4, seed: 1), rows: 30, dimension: 4)
        let shapes = ["(-5, 64)", "(4611686018427387904, 64)", "(4294967296, 4294967296)", "(3037000500, 3037000500)", "(64, -1)"]
        for (index, shape) in shapes.enumerated() {
            let fake = folder + "/crafted-\(index).npy"
            try writeFeatureNumPy(fake, values: finiteFeatures(rows: 8, dimension: 4, seed: 3), rows: 8, dimension: 4, shape: shape)
            let started = Date()
            let result = try metrics(["--real", real, "--fake", fake, "--json"])
            #expect(result.status != 0, "\(shape): \(result.output)")
            let lines = result.output.split(separator: "\n").filter { $0.contains("gentrain") }
            #expect(lines.count == 1 && lines[0].contains(fake), "\(shape): \(result.output)")
            #expect(!result.output.contains("Fatal error") && !result.output.contains("{\""), "\(shape): \(result.output)")
            #expect(Date().timeIntervalSince(started) < 30, "\(shape)")
        }
        let result = try metrics(["--real", real, "--fake", folder])
        #expect(result.status != 0)
        #expect(result.output.contains("\(folder): a folder"), "\(result.output)")
        #expect(!result.output.contains("NSCocoaErrorDomain"), "\(result.output)")
    }
}
