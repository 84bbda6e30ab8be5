// TensorBoard's records: CRC32C against published vectors and a bitwise twin, the record framing, and protocol-buffer
// encodings against the examples of the protobuf encoding guide. (scripts/check-tensorboard.sh reads whole runs with
// TensorBoard's own reader.)

import Foundation
import Testing
@testable import DataIO

/// CRC-32C one bit at a time, straight from the definition (reflected polynomial 0x82F63B78): the twin of the table.
func naiveCRC32C(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        for bit in 0..<8 {
            let incoming = (UInt32(byte) >> UInt32(bit)) & 1
            let outgoing = crc & 1
            crc >>= 1
            if incoming ^ outgoing == 1 { crc ^= 0x82F6_3B78 }
        }
    }
    return ~crc
}

@Suite struct TensorBoardRecordTests {
    @Test func crc32cMatchesPublishedVectors() {
        #expect(crc32c(Array("123456789".utf8)) == 0xE306_9283)
        #expect(crc32c([]) == 0)
        // RFC 3720 (iSCSI), appendix B.4.
        #expect(crc32c([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(crc32c([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(crc32c((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(crc32c((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
    }

    @Test func crc32cMatchesItsBitwiseTwin() {
        var random = SystemRandomNumberGenerator()
        for count in [1, 2, 3, 7, 8, 63, 64, 65, 1000, 4099] {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(crc32c(bytes) == naiveCRC32C(bytes), "\(count) bytes")
        }
    }

    @Test func theMaskRotatesRightBy15AndAddsTheConstant() {
        let bytes = Array("brain.Event:2".utf8), crc = naiveCRC32C(bytes)
        let rotated = UInt64(crc >> 15) | (UInt64(crc) << 17 & 0xFFFF_FFFF)
        #expect(UInt64(maskedCRC32C(bytes)) == (rotated + 0xA282_EAD8) & 0xFFFF_FFFF)
    }

    /// A record is the length (8 bytes, little-endian), its masked CRC, the data and the data's masked CRC.
    @Test func recordsAreFramedAndReadBack() throws {
        let data: [UInt8] = Array("hello".utf8)
        let record = framedRecord(data)
        #expect(record.count == 8 + 4 + 5 + 4)
        #expect(Array(record[0..<8]) == [5, 0, 0, 0, 0, 0, 0, 0])
        let lengthCRC = maskedCRC32C([5, 0, 0, 0, 0, 0, 0, 0]), dataCRC = maskedCRC32C(data)
        #expect(Array(record[8..<12]) == (0..<4).map { UInt8(truncatingIfNeeded: lengthCRC >> (8 * $0)) })
        #expect(Array(record[12..<17]) == data)
        #expect(Array(record[17..<21]) == (0..<4).map { UInt8(truncatingIfNeeded: dataCRC >> (8 * $0)) })
        let file = framedRecord([]) + record + framedRecord([UInt8](repeating: 7, count: 300))
        #expect(try unframedRecords(file) == [[], data, [UInt8](repeating: 7, count: 300)])
    }

    /// Every changed byte of a file is caught by one of the two CRCs; a cut end is an error unless allowed.
    @Test func aChangedByteOrACutEndIsDetected() throws {
        let file = framedRecord(Array("first".utf8)) + framedRecord(Array("second record".utf8))
        for offset in file.indices {
            var corrupted = file
            corrupted[offset] ^= 0x10
            #expect(throws: RecordError.self, "byte \(offset)") { try unframedRecords(corrupted) }
        }
        let cut = Array(file.dropLast(3))
        #expect(throws: RecordError.self) { try unframedRecords(cut) }
        #expect(try unframedRecords(cut, allowingCutEnd: true) == [Array("first".utf8)])
        #expect(try unframedRecords(Array(file.prefix(30)), allowingCutEnd: true) == [Array("first".utf8)])
    }

    /// The examples of protobuf.dev's encoding guide.
    @Test func protobufEncodingMatchesTheEncodingGuide() {
        #expect(ProtobufMessage.varint(1) == [0x01])
        #expect(ProtobufMessage.varint(150) == [0x96, 0x01])
        #expect(ProtobufMessage.varint(300) == [0xAC, 0x02])
        var message = ProtobufMessage()
        message.integer(1, 150)
        #expect(message.bytes == [0x08, 0x96, 0x01])
        var text = ProtobufMessage()
        text.string(2, "testing")
        #expect(text.bytes == [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6E, 0x67])
        var negative = ProtobufMessage()
        negative.integer(1, -2)  // int64 -2: ten bytes, two's complement
        #expect(negative.bytes == [0x08, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        var embedded = ProtobufMessage()
        embedded.message(3, message)
        #expect(embedded.bytes == [0x1A, 0x03, 0x08, 0x96, 0x01])
        var numbers = ProtobufMessage()
        numbers.double(1, 1.5)
        numbers.float(2, 0.25)
        #expect(numbers.bytes == [0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0x15, 0, 0, 0x80, 0x3E])
    }

    /// `Event { wall_time: 2.0, file_version: "brain.Event:2" }` and `Event { wall_time, step: 7, session_log { status: START } }`.
    @Test func theFileVersionAndSessionStartEvents() {
        #expect(TensorBoardEvent.fileVersion(wallTime: 2) == [0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x1A, 13] + Array("brain.Event:2".utf8))
        #expect(TensorBoardEvent.sessionStart(step: 7, wallTime: 2) == [0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x10, 7, 0x3A, 2, 0x08, 1])
    }

    /// `Event { wall_time, step: 3, summary { value { tag: "a", simple_value: 0.5 } } }`.
    @Test func aScalarIsASimpleValue() {
        let event = TensorBoardEvent.scalars([("a", 0.5)], step: 3, wallTime: 2)
        #expect(event == [0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x10, 3, 0x2A, 10, 0x0A, 8, 0x0A, 1, 0x61, 0x15, 0, 0, 0, 0x3F])
    }
}
