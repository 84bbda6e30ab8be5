import CZlib
import Foundation
import Testing
@testable import DataIO
@testable import TensorCore

/// A fresh folder under the system's temporary directory.
func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "gentrain-test-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func idxBytes(dimensions: [Int], values: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, 8, UInt8(dimensions.count)]
    for dimension in dimensions { bytes += [UInt8(dimension >> 24), UInt8((dimension >> 16) & 0xFF), UInt8((dimension >> 8) & 0xFF), UInt8(dimension & 0xFF)] }
    return bytes + values
}

func writeGzip(_ bytes: [UInt8], to path: String) {
    let file = gzopen(path, "wb")!
    _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    gzclose(file)
}

/// A small IDX folder: 5 images of 2x3, labels 0...4; pixel value = 10 * image + position.
func makeDataset(in folder: String, compressed: Bool) {
    let pixels = (0..<5).flatMap { image in (0..<6).map { UInt8(10 * image + $0) } }
    let images = idxBytes(dimensions: [5, 2, 3], values: pixels), labels = idxBytes(dimensions: [5], values: [0, 1, 2, 3, 4])
    if compressed {
        writeGzip(images, to: folder + "/train-images-idx3-ubyte.gz")
        writeGzip(labels, to: folder + "/train-labels-idx1-ubyte.gz")
    } else {
        FileManager.default.createFile(atPath: folder + "/train-images-idx3-ubyte", contents: Data(images))
        FileManager.default.createFile(atPath: folder + "/train-labels-idx1-ubyte", contents: Data(labels))
    }
}

@Suite struct IDXTests {
    @Test(arguments: [false, true])
    func readsRawAndCompressedFolders(compressed: Bool) throws {
        let folder = temporaryFolder()
        makeDataset(in: folder, compressed: compressed)
        let dataset = try ImageDataset.load(folder: folder, split: .train)
        #expect(dataset.count == 5 && dataset.rows == 2 && dataset.columns == 3)
        let batch = dataset.batch([3, 1], scaling: .unit)
        #expect(batch.shape == [2, 1, 2, 3])
        #expect(abs(batch[0, 0, 1, 2] - Float(35) / 255) < 1e-6 && abs(batch[1, 0, 0, 0] - Float(10) / 255) < 1e-6)
        let symmetric = dataset.batch([4], scaling: .symmetric)
        #expect(abs(symmetric[0, 0, 0, 1] - (41 / 127.5 - 1)) < 1e-6)
        let filtered = dataset.filtered(classes: [1, 3])
        #expect(filtered.labels == [1, 3] && abs(filtered.batch([1], scaling: .unit)[0, 0, 0, 0] - Float(30) / 255) < 1e-6)
    }

    @Test func missingFolderAndFilesNameThePath() {
        let folder = temporaryFolder()
        #expect { try ImageDataset.load(folder: folder + "/nowhere", split: .train) } throws: { error in
            "\(error)".contains("nowhere") && "\(error)".contains("folder not found")
        }
        #expect { try ImageDataset.load(folder: folder, split: .test) } throws: { error in
            "\(error)".contains("t10k-images-idx3-ubyte")
        }
    }

    @Test func truncatedWrongMagicAndCorruptFilesAreClearErrors() throws {
        let folder = temporaryFolder()
        let truncated = idxBytes(dimensions: [5, 2, 3], values: [UInt8](repeating: 1, count: 29))
        FileManager.default.createFile(atPath: folder + "/a", contents: Data(truncated))
        #expect { try IDXArray(path: folder + "/a", expectedRank: 3) } throws: { "\($0)".contains("truncated") && "\($0)".contains(folder + "/a") }
        FileManager.default.createFile(atPath: folder + "/b", contents: Data([1, 2, 8, 3, 0, 0]))
        #expect { try IDXArray(path: folder + "/b", expectedRank: 3) } throws: { "\($0)".contains("not an IDX file") }
        FileManager.default.createFile(atPath: folder + "/c", contents: Data(idxBytes(dimensions: [2], values: [1, 2])))
        #expect { try IDXArray(path: folder + "/c", expectedRank: 3) } throws: { "\($0)".contains("1 dimensions (expected 3)") }
        writeGzip(idxBytes(dimensions: [4], values: [1, 2, 3, 4]), to: folder + "/d.gz")
        var compressed = [UInt8](FileManager.default.contents(atPath: folder + "/d.gz")!)
        compressed.removeLast(6)
        FileManager.default.createFile(atPath: folder + "/d.gz", contents: Data(compressed))
        #expect { try IDXArray(path: folder + "/d.gz", expectedRank: 1) } throws: { "\($0)".contains(folder + "/d.gz") }
    }

    @Test func fashionMNISTFromTheDebianPackage() throws {
        let train = try ImageDataset.load(folder: ImageDataset.fashionMNISTFolder, split: .train)
        #expect(train.count == 60000 && train.rows == 28 && train.columns == 28)
        #expect(train.filtered(classes: [8]).count == 6000)
        let test = try ImageDataset.load(folder: ImageDataset.fashionMNISTFolder, split: .test)
        #expect(test.count == 10000)
        #expect(train.contentDigest != test.contentDigest)
    }
}

@Suite struct PNGTests {
    @Test(arguments: [1, 3])
    func encodeThenDecodeGivesThePixelsBack(channels: Int) throws {
        var generator = SeededGenerator(seed: 3)
        let pixels = (0..<(13 * 7 * channels)).map { _ in UInt8(generator.next() & 0xFF) }
        let image = Image8(width: 13, height: 7, channels: channels, pixels: pixels)
        let path = temporaryFolder() + "/image.png"
        try image.writePNG(to: path)
        let decoded = try Image8.decodePNG([UInt8](FileManager.default.contents(atPath: path)!))
        #expect(decoded == image)
    }

    @Test func corruptedChunkFailsItsCRC() throws {
        var bytes = try Image8(width: 2, height: 2, channels: 1, pixels: [0, 1, 2, 3]).pngData()
        bytes[20] ^= 0xFF  // inside IHDR
        #expect(throws: PNGError.self) { try Image8.decodePNG(bytes) }
    }
}

/// Crafted IDX files (issue 19, case 6): each refused with one line naming the file, before anything of the
/// claimed size is allocated, and never blocking.
@Suite struct CraftedIDXTests {
    @Test func falseClaimsAreRefusedWithoutAllocatingThem() throws {
        let folder = temporaryFolder()
        let cases: [(name: String, bytes: [UInt8], compressed: Bool, words: String)] = [
            ("billions", idxBytes(dimensions: [Int(Int32.max), 28, 28], values: [1, 2, 3]), false, "truncated, or a wrong header"),
            ("overflow", idxBytes(dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], values: []), false, "more than 2^63"),
            ("short", idxBytes(dimensions: [3, 28, 28], values: [UInt8](repeating: 1, count: 784)), false, "truncated"),
            // A compressed file cannot be sized up front: five million claimed images, three real ones.
            ("millions.gz", idxBytes(dimensions: [5_000_000, 28, 28], values: [UInt8](repeating: 1, count: 3 * 784)), true, "truncated"),
        ]
        for crafted in cases {
            let path = folder + "/" + crafted.name
            if crafted.compressed { writeGzip(crafted.bytes, to: path) } else { FileManager.default.createFile(atPath: path, contents: Data(crafted.bytes)) }
            let before = peakResidentBytes()
            #expect { try IDXArray(path: path, expectedRank: 3) } throws: { "\($0)".hasPrefix(path) && "\($0)".contains(crafted.words) }
            // Not the claimed 3.9 GB: at most one 64 MiB chunk more than before.
            #expect(peakResidentBytes() - before < 100 << 20, "\(crafted.name)")
        }
    }

    @Test func labelsOutsideTheClassesAndPipesAreRefused() throws {
        let folder = temporaryFolder()
        FileManager.default.createFile(atPath: folder + "/train-images-idx3-ubyte", contents: Data(idxBytes(dimensions: [2, 2, 2], values: [1, 2, 3, 4, 5, 6, 7, 8])))
        FileManager.default.createFile(atPath: folder + "/train-labels-idx1-ubyte", contents: Data(idxBytes(dimensions: [2], values: [3, 255])))
        #expect { try ImageDataset.load(folder: folder, split: .train) } throws: {
            "\($0)".contains("train-labels-idx1-ubyte") && "\($0)".contains("label 255 at index 1")
        }
        let pipe = folder + "/pipe"
        #expect(mkfifo(pipe, 0o600) == 0)
        let started = Date()
        #expect { try IDXArray(path: pipe, expectedRank: 3) } throws: { "\($0)".contains("not a regular file") }
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test func imagesOfAnotherSizeAreNamed() throws {
        let images = ImageDataset(pixels: [UInt8](repeating: 0, count: 32 * 32), labels: [1], rows: 32, columns: 32, source: "/data/x-images")
        #expect { try images.requireImageSize(rows: 28, columns: 28) } throws: { "\($0)" == "/data/x-images: images of 32x32 pixels; gentrain's models take 28x28" }
    }
}

/// The process's resident-set high-water mark in bytes (VmHWM).
func peakResidentBytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}
