import Foundation
import Testing
@testable import DataIO

/// A temporary file holding `bytes`.
func temporaryFile(_ bytes: Data, suffix: String) -> String {
    let path = NSTemporaryDirectory() + "gentrain-table-\(UUID().uuidString)" + suffix
    FileManager.default.createFile(atPath: path, contents: bytes)
    return path
}

/// A `.npy` file of `descr` with `shape`, `payload` bytes after the header.
func numpyFile(descr: String, shape: String, payload: [UInt8]) -> String {
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
    header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
    let bytes = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8) + payload
    return temporaryFile(Data(bytes), suffix: ".npy")
}

func littleEndianBytes(_ values: [Double]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

@Suite struct TableDatasetTests {
    @Test func theShippedHeightsTable() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/heights.csv").path
        let table = try TableDataset.load(path: path)
        #expect(table.count == 12 && table.dimension == 2 && table.columnNames == ["height_cm", "weight_kg"])
        #expect(Array(table.values.prefix(4)) == [169, 70, 172, 68])
        #expect(table.batch([1, 0], scaling: .unit).scalars == [172, 68, 169, 70] && table.sampleShape == [2])
    }

    @Test func numpyTablesOfEveryElementType() throws {
        let doubles = try TableDataset.load(path: numpyFile(descr: "<f8", shape: "(3, 2)", payload: littleEndianBytes([1, 2, 3, 4, 5, 6.5])))
        #expect(doubles.values == [1, 2, 3, 4, 5, 6.5] && doubles.dimension == 2)
        let integers = try TableDataset.load(path: numpyFile(descr: "<i8", shape: "(2, 2)",
                                                             payload: [0, 255, 7, 9].flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) }))
        #expect(integers.values == [0, 255, 7, 9])
        // The same values at another path have the same digest; other values another.
        let again = try TableDataset.load(path: numpyFile(descr: "<f8", shape: "(3, 2)", payload: littleEndianBytes([1, 2, 3, 4, 5, 6.5])))
        #expect(again.contentDigest == doubles.contentDigest && integers.contentDigest != doubles.contentDigest)
    }

    /// Each bad table and the words its one-line error must contain.
    static let badTables: [(String, [String])] = [
        (temporaryFile(Data("a,b\n1,2\n3\n".utf8), suffix: ".csv"), ["line 3", "1 fields, the header has 2"]),
        (temporaryFile(Data("a,b\n1,2\n3,nan\n".utf8), suffix: ".csv"), ["line 3, column 2 (b)", "'nan' is not a finite number"]),
        (temporaryFile(Data("a,b\n1,x\n".utf8), suffix: ".csv"), ["line 2, column 2 (b)", "'x'"]),
        (temporaryFile(Data("1,2\n3,4\n".utf8), suffix: ".csv"), ["line 1", "header of column names"]),
        (temporaryFile(Data("a,b\n".utf8), suffix: ".csv"), ["no rows"]),
        (temporaryFile(Data(), suffix: ".csv"), ["empty file"]),
        (numpyFile(descr: "<f8", shape: "(2, 2)", payload: littleEndianBytes([1, .nan, 3, 4])), ["row 0, column 1", "not finite"]),
        (numpyFile(descr: "<f8", shape: "(2, 2, 1)", payload: littleEndianBytes([1, 2, 3, 4])), ["2-dimensional"]),
        (numpyFile(descr: "<f8", shape: "(-5, 64)", payload: []), ["not a list of sizes"]),
        (numpyFile(descr: "<f8", shape: "(4611686018427387904, 64)", payload: []), ["needs more bytes than the"]),
        (numpyFile(descr: "<f8", shape: "(3, 2)", payload: littleEndianBytes([1, 2, 3])), ["needs more bytes than the file's 24"]),
        (numpyFile(descr: "<c16", shape: "(1, 1)", payload: littleEndianBytes([1, 2])), ["dtype <c16 is not supported"]),
        ("/nonexistent/table.csv", ["file not found"]),
        (NSTemporaryDirectory(), ["a folder, not a file"]),
    ]

    @Test(arguments: 0..<badTables.count)
    func badTablesGetOneLineNamingTheFileAndThePlace(index: Int) {
        let (path, words) = Self.badTables[index]
        #expect { try TableDataset.load(path: path) } throws: { error in
            let message = "\(error)"
            let ok = message.hasPrefix(path) && words.allSatisfy { message.contains($0) } && !message.contains("\n")
            if !ok { Issue.record("message was: \(message)") }
            return ok
        }
    }
}

@Suite struct SequenceAndDomainTests {
    @Test func sequencesFromNumPy() throws {
        let path = numpyFile(descr: "<f8", shape: "(2, 3, 2)", payload: littleEndianBytes((0..<12).map(Double.init)))
        let sequences = try SequenceDataset.load(path: path)
        #expect(sequences.count == 2 && sequences.sampleShape == [3, 2])
        let batch = sequences.batch([1], scaling: .unit)
        #expect(batch.shape == [1, 3, 2] && batch.scalars == [6, 7, 8, 9, 10, 11])
        #expect { try SequenceDataset.load(path: numpyFile(descr: "<f8", shape: "(2, 2)", payload: littleEndianBytes([1, 2, 3, 4]))) } throws: {
            "\($0)".contains("3-dimensional")
        }
        let infinite = numpyFile(descr: "<f8", shape: "(2, 2, 2)", payload: littleEndianBytes([0, 0, 0, 0, 0, 0, .infinity, 0]))
        #expect { try SequenceDataset.load(path: infinite) } throws: { "\($0)".hasPrefix(infinite) && "\($0)".contains("sequence 1, step 1, value 0") }
    }

    /// Images read as sequences: row r of an image is step r.
    @Test func imagesAsRowSequences() {
        let pixels = (0..<(2 * 28 * 28)).map { UInt8($0 % 251) }
        let images = ImageDataset(pixels: pixels, labels: [3, 4], rows: 28, columns: 28, source: "test")
        let sequences = ImageRowSequences(images)
        #expect(sequences.sampleShape == [28, 28] && sequences.labels([1]) == [4])
        let batch = sequences.batch([1], scaling: .unit)
        #expect(batch.shape == [1, 28, 28] && batch[0, 2, 5] == Float(pixels[784 + 2 * 28 + 5]) / 255)
    }

    /// Two domains: every image of the larger domain once per epoch beside a shuffled image of the other.
    @Test func unpairedDomains() {
        func images(_ count: Int, value: UInt8) -> ImageDataset {
            ImageDataset(pixels: (0..<count).flatMap { [UInt8](repeating: value &+ UInt8($0), count: 4) }, labels: [UInt8](repeating: 0, count: count),
                         rows: 2, columns: 2, source: "domain \(value)")
        }
        let domains = UnpairedDomains(first: images(3, value: 10), second: images(5, value: 100), seed: 7)
        #expect(domains.count == 5 && domains.sampleShape == [2, 2, 2])
        let batch = domains.batch(Array(0..<5), scaling: .unit)
        #expect(batch.shape == [5, 2, 2, 2])
        let firsts = (0..<5).map { Int((batch[$0, 0, 0, 0] * 255).rounded()) }, seconds = (0..<5).map { Int((batch[$0, 1, 0, 0] * 255).rounded()) }
        #expect(firsts == [10, 11, 12, 10, 11])
        #expect(seconds.sorted() == [100, 101, 102, 103, 104] && seconds != [100, 101, 102, 103, 104])
        #expect(UnpairedDomains(first: images(3, value: 10), second: images(5, value: 100), seed: 7).batch([3], scaling: .unit).scalars
                == domains.batch([3], scaling: .unit).scalars)
        #expect(domains.contentDigest != UnpairedDomains(first: images(5, value: 100), second: images(3, value: 10), seed: 7).contentDigest)
    }
}
