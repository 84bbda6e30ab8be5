// PNG encoding and decoding (8-bit grayscale or RGB, zlib through libz, CRC-32 per chunk).

import CZlib
import Foundation

/// A PNG file could not be written or read.
public struct PNGError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// An 8-bit image: `channels` is 1 (gray) or 3 (RGB); pixels row-major, interleaved.
public struct Image8: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "pixel count does not match \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Encodes as PNG bytes.
    public func pngData() throws(PNGError) -> [UInt8] {
        var raw = [UInt8]()
        raw.reserveCapacity(height * (1 + width * channels))
        for row in 0..<height {
            raw.append(0)  // filter type 0 (none)
            raw.append(contentsOf: pixels[(row * width * channels)..<((row + 1) * width * channels)])
        }
        var compressedSize = compressBound(UInt(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = compress2(&compressed, &compressedSize, raw, UInt(raw.count), 6)
        guard status == Z_OK else { throw PNGError(message: "zlib compress2 failed with status \(status)") }
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, channels == 1 ? 0 : 2, 0, 0, 0]
        appendChunk(&file, type: "IHDR", data: header)
        appendChunk(&file, type: "IDAT", data: Array(compressed[0..<Int(compressedSize)]))
        appendChunk(&file, type: "IEND", data: [])
        return file
    }

    /// Writes a PNG file atomically (temporary file, then rename).
    public func writePNG(to path: String) throws(PNGError) {
        let data = try pngData()
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent.isEmpty
                                                    ? "." : (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try Data(data).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw PNGError(message: "cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// Decodes a PNG of 8-bit gray or RGB, non-interlaced (checks signature and every CRC; all filter types).
    public static func decodePNG(_ bytes: [UInt8]) throws(PNGError) -> Image8 {
        guard bytes.count > 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else {
            throw PNGError(message: "not a PNG signature")
        }
        var position = 8, width = 0, height = 0, channels = 0
        var idat: [UInt8] = []
        while position + 12 <= bytes.count {
            let length = Int(readBigEndian(bytes, position))
            guard position + 12 + length <= bytes.count else { throw PNGError(message: "truncated chunk") }
            let typeAndData = Array(bytes[(position + 4)..<(position + 8 + length)])
            let stored = readBigEndian(bytes, position + 8 + length)
            guard stored == checksum(typeAndData) else { throw PNGError(message: "bad CRC") }
            let type = String(decoding: typeAndData[0..<4], as: UTF8.self)
            let data = Array(typeAndData[4...])
            switch type {
            case "IHDR":
                width = Int(readBigEndian(data, 0))
                height = Int(readBigEndian(data, 4))
                guard data[8] == 8, data[12] == 0, data[10] == 0, data[11] == 0 else { throw PNGError(message: "unsupported PNG format") }
                switch data[9] {
                case 0: channels = 1
                case 2: channels = 3
                default: throw PNGError(message: "unsupported color type \(data[9])")
                }
            case "IDAT": idat += data
            default: break
            }
            position += 12 + length
        }
        let stride = width * channels
        var rawSize = UInt((stride + 1) * height)
        var raw = [UInt8](repeating: 0, count: Int(rawSize))
        guard uncompress(&raw, &rawSize, idat, UInt(idat.count)) == Z_OK, Int(rawSize) == raw.count else {
            throw PNGError(message: "corrupt image data")
        }
        var pixels = [UInt8](repeating: 0, count: stride * height)
        for row in 0..<height {
            let filter = raw[row * (stride + 1)]
            for column in 0..<stride {
                let x = raw[row * (stride + 1) + 1 + column]
                let a = column >= channels ? Int(pixels[row * stride + column - channels]) : 0
                let b = row > 0 ? Int(pixels[(row - 1) * stride + column]) : 0
                let c = row > 0 && column >= channels ? Int(pixels[(row - 1) * stride + column - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw PNGError(message: "bad filter type \(filter)")
                }
                pixels[row * stride + column] = UInt8(truncatingIfNeeded: Int(x) + predictor)
            }
        }
        return Image8(width: width, height: height, channels: channels, pixels: pixels)
    }
}

private func bigEndian(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)] }

private func readBigEndian(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

private func checksum(_ bytes: [UInt8]) -> UInt32 { UInt32(crc32(0, bytes, UInt32(bytes.count))) }

private func appendChunk(_ file: inout [UInt8], type: String, data: [UInt8]) {
    let typeAndData = Array(type.utf8) + data
    file += bigEndian(UInt32(data.count)) + typeAndData + bigEndian(checksum(typeAndData))
}
