// TensorBoard's event files: records framed as TFRecords (length, masked CRC32C of the length, the data, masked
// CRC32C of the data) holding `tensorflow.Event` messages, encoded here field by field (no protobuf dependency).
// Field numbers from tensorflow/core/util/event.proto, core/framework/summary.proto, tensor.proto,
// tensor_shape.proto and tensorboard/plugins/hparams/plugin_data.proto.

import Foundation

// MARK: - CRC32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecords; `crc32c("123456789") = 0xE3069283`.
public func crc32c(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = crc32cTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return ~crc
}

/// The CRC of each byte value, one table lookup per byte.
private let crc32cTable: [UInt32] = (0..<256).map { index in
    var crc = UInt32(index)
    for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    return crc
}

/// TFRecord's masked CRC: `((crc >> 15) | (crc << 17)) + 0xA282EAD8`, so that a CRC of data holding CRCs stays strong.
public func maskedCRC32C(_ bytes: [UInt8]) -> UInt32 {
    let crc = crc32c(bytes)
    return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
}

// MARK: - Records

/// One TFRecord: `uint64 length`, `uint32 masked_crc32c(length)`, the data, `uint32 masked_crc32c(data)`, little-endian.
public func framedRecord(_ data: [UInt8]) -> [UInt8] {
    let length = littleEndianBytes(UInt64(data.count))
    return length + littleEndianBytes(maskedCRC32C(length)) + data + littleEndianBytes(maskedCRC32C(data))
}

/// A file of TFRecords that is not whole: its byte offset and what is wrong there.
public struct RecordError: Error, CustomStringConvertible, Sendable {
    public let offset: Int
    public let problem: String
    public var description: String { "record at byte \(offset): \(problem)" }
}

/// The data of each record of `bytes`, every checksum checked; a record cut short at the end (a killed writer) is
/// an error too unless `allowingCutEnd`, which returns the whole records before it.
public func unframedRecords(_ bytes: [UInt8], allowingCutEnd: Bool = false) throws(RecordError) -> [[UInt8]] {
    var records: [[UInt8]] = [], offset = 0
    while offset < bytes.count {
        guard offset + 12 <= bytes.count else {
            if allowingCutEnd { break }
            throw RecordError(offset: offset, problem: "the length is cut short")
        }
        let lengthBytes = Array(bytes[offset..<(offset + 8)])
        guard readLittleEndian32(bytes, offset + 8) == maskedCRC32C(lengthBytes) else { throw RecordError(offset: offset, problem: "the length's CRC does not match") }
        let length = lengthBytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        let available = bytes.count - offset - 16
        guard available >= 0, length <= UInt64(available) else {
            if allowingCutEnd { break }
            throw RecordError(offset: offset, problem: "the data (\(length) bytes) is cut short")
        }
        let data = Array(bytes[(offset + 12)..<(offset + 12 + Int(length))])
        guard readLittleEndian32(bytes, offset + 12 + Int(length)) == maskedCRC32C(data) else { throw RecordError(offset: offset, problem: "the data's CRC does not match") }
        records.append(data)
        offset += 16 + Int(length)
    }
    return records
}

func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

private func readLittleEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
}

// MARK: - Protocol buffers

/// A protocol-buffer message being encoded: fields appended in order, each as its key (field number and wire type)
/// and its value.
public struct ProtobufMessage {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// A base-128 varint: 7 bits per byte, least significant first, the high bit set on all but the last.
    public static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }

    private mutating func key(_ field: Int, wireType: UInt64) { bytes += Self.varint(UInt64(field) << 3 | wireType) }

    /// An int32, int64, enum or bool field (wire type 0; negative numbers as their 64-bit two's complement).
    public mutating func integer(_ field: Int, _ value: Int64) {
        key(field, wireType: 0)
        bytes += Self.varint(UInt64(bitPattern: value))
    }

    /// A double field (wire type 1).
    public mutating func double(_ field: Int, _ value: Double) {
        key(field, wireType: 1)
        bytes += littleEndianBytes(value.bitPattern)
    }

    /// A float field (wire type 5).
    public mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        bytes += littleEndianBytes(value.bitPattern)
    }

    /// A bytes, string or embedded-message field (wire type 2: the length, then the bytes).
    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, wireType: 2)
        bytes += Self.varint(UInt64(value.count)) + value
    }

    public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    public mutating func message(_ field: Int, _ value: ProtobufMessage) { bytes(field, value.bytes) }
}

// MARK: - Events

/// A hyperparameter's value for TensorBoard's HParams dashboard (a `google.protobuf.Value`).
public enum HyperparameterValue: Equatable, Sendable {
    case number(Double)
    case text(String)
    case boolean(Bool)
}

/// The `tensorflow.Event` messages gentrain writes, serialised.
public enum TensorBoardEvent {
    /// The first event of every file: `file_version = "brain.Event:2"` (TensorBoard then reads SessionLog restarts).
    public static func fileVersion(wallTime: Double) -> [UInt8] {
        var event = ProtobufMessage()
        event.double(1, wallTime)  // wall_time
        event.string(3, "brain.Event:2")  // file_version
        return event.bytes
    }

    /// `SessionLog.START` at `step`: TensorBoard drops every event of an earlier file at this step or later (PyTorch's
    /// `purge_step`), so a resumed run's steps appear once.
    public static func sessionStart(step: Int, wallTime: Double) -> [UInt8] {
        var log = ProtobufMessage()
        log.integer(1, 1)  // status = START
        return event(wallTime: wallTime, step: step) { $0.message(7, log) }  // session_log
    }

    /// Scalars at `step` as `simple_value`s (float), one `Summary.Value` per tag.
    public static func scalars(_ values: [(tag: String, value: Double)], step: Int, wallTime: Double) -> [UInt8] {
        summary(values.map { tag, value in
            var entry = ProtobufMessage()
            entry.string(1, tag)  // tag
            entry.float(2, Float(value))  // simple_value
            return entry
        }, step: step, wallTime: wallTime)
    }

    /// A PNG image at `step`: `Summary.Image` with its height, width, colour space (1 gray, 3 RGB) and PNG bytes.
    public static func image(tag: String, png: [UInt8], width: Int, height: Int, channels: Int, step: Int, wallTime: Double) -> [UInt8] {
        var image = ProtobufMessage()
        image.integer(1, Int64(height))
        image.integer(2, Int64(width))
        image.integer(3, Int64(channels))  // colorspace
        image.bytes(4, png)  // encoded_image_string
        var entry = ProtobufMessage()
        entry.string(1, tag)
        entry.message(4, image)  // image
        return summary([entry], step: step, wallTime: wallTime)
    }

    /// Text for the text plugin (Markdown): a string tensor of shape [1] under `tag`, its metadata naming the plugin
    /// "text" (as `torch.utils.tensorboard`'s `add_text` writes it, tag `<tag>/text_summary`).
    public static func text(tag: String, markdown: String, step: Int, wallTime: Double) -> [UInt8] {
        var tensor = ProtobufMessage()
        tensor.integer(1, 7)  // dtype = DT_STRING
        var dimension = ProtobufMessage()
        dimension.integer(1, 1)  // size
        var shape = ProtobufMessage()
        shape.message(2, dimension)  // dim
        tensor.message(2, shape)  // tensor_shape
        tensor.string(8, markdown)  // string_val
        var entry = ProtobufMessage()
        entry.string(1, tag)
        entry.message(9, pluginMetadata("text", content: []))  // metadata
        entry.message(8, tensor)  // tensor
        return summary([entry], step: step, wallTime: wallTime)
    }

    /// The HParams plugin's session start: `HParamsPluginData { version 0, session_start_info { hparams, start_time_secs } }`
    /// under the tag `_hparams_/session_start_info`, as `torch.utils.tensorboard`'s `add_hparams` writes it.
    public static func hyperparameters(_ values: [(name: String, value: HyperparameterValue)], step: Int, wallTime: Double) -> [UInt8] {
        var start = ProtobufMessage()
        for (name, value) in values {
            var protobufValue = ProtobufMessage()
            switch value {
            case .number(let number): protobufValue.double(2, number)  // number_value
            case .text(let text): protobufValue.string(3, text)  // string_value
            case .boolean(let flag): protobufValue.integer(4, flag ? 1 : 0)  // bool_value
            }
            var mapEntry = ProtobufMessage()
            mapEntry.string(1, name)
            mapEntry.message(2, protobufValue)
            start.message(1, mapEntry)  // hparams (map<string, Value>)
        }
        start.double(5, wallTime)  // start_time_secs
        var pluginData = ProtobufMessage()
        pluginData.integer(1, 0)  // version
        pluginData.message(3, start)  // session_start_info
        var entry = ProtobufMessage()
        entry.string(1, "_hparams_/session_start_info")
        entry.message(9, pluginMetadata("hparams", content: pluginData.bytes))
        return summary([entry], step: step, wallTime: wallTime)
    }

    /// `SummaryMetadata { plugin_data { plugin_name, content } }`.
    private static func pluginMetadata(_ name: String, content: [UInt8]) -> ProtobufMessage {
        var pluginData = ProtobufMessage()
        pluginData.string(1, name)
        if !content.isEmpty { pluginData.bytes(2, content) }
        var metadata = ProtobufMessage()
        metadata.message(1, pluginData)
        return metadata
    }

    private static func summary(_ values: [ProtobufMessage], step: Int, wallTime: Double) -> [UInt8] {
        var summary = ProtobufMessage()
        for value in values { summary.message(1, value) }
        return event(wallTime: wallTime, step: step) { $0.message(5, summary) }  // summary
    }

    private static func event(wallTime: Double, step: Int, body: (inout ProtobufMessage) -> Void) -> [UInt8] {
        var event = ProtobufMessage()
        event.double(1, wallTime)
        event.integer(2, Int64(step))
        body(&event)
        return event.bytes
    }
}
