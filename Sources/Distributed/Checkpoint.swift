// Checkpoints: one file per save, written atomically by rank 0.
//
// Layout (little-endian): "GTCK", format version (UInt32), header length (UInt64), header (JSON:
// job, run, step, epoch, world size, groups with their value/state/optimizer counts and their layout: each
// parameter's and state tensor's name and shape), then per group its
// values, state and optimizer state as Float32 and its Float64 state (a fit by statistics, exactly), then a
// CRC-32 of everything before it. Format 1 (before Float64 state) is read as format 2 without it.
//
// The run is an identity drawn when a run starts afresh and carried by every checkpoint of it, across
// resumes: clean-up removes only the run's own older checkpoints. Checkpoints written before it existed
// have none and stay readable, as do checkpoints written before groups recorded their layout (then only the
// counts are checked).

import CZlib
import DataIO
import Foundation

/// A checkpoint that cannot be used.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

/// One named tensor of a saved buffer, in buffer order (a checkpoint records them to refuse another layout by name).
public struct SavedTensorShape: Codable, Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var shape: [Int]
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }
    public var description: String { "\(name) \(shape)" }
}

/// Everything needed to continue a run.
public struct Checkpoint: Sendable {
    /// One parameter group's saved buffers.
    public struct Group: Codable, Sendable, Equatable {
        public var name: String
        public var values: [Float]
        public var state: [Float]
        public var optimizerState: [Float]
        public var optimizerIterations: Int
        /// The tensors `values` holds, in order (nil in checkpoints written before layouts were recorded).
        public var parameterLayout: [SavedTensorShape]?
        /// The tensors `state` holds, in order (nil likewise).
        public var stateLayout: [SavedTensorShape]?
        /// Float64 state (a model fitted by statistics), exactly.
        public var float64State: [Double]
        /// The tensors `float64State` holds, in order.
        public var float64Layout: [SavedTensorShape]?
        public init(name: String, values: [Float], state: [Float], optimizerState: [Float], optimizerIterations: Int,
                    parameterLayout: [SavedTensorShape]? = nil, stateLayout: [SavedTensorShape]? = nil,
                    float64State: [Double] = [], float64Layout: [SavedTensorShape]? = nil) {
            self.name = name
            self.values = values
            self.state = state
            self.optimizerState = optimizerState
            self.optimizerIterations = optimizerIterations
            self.parameterLayout = parameterLayout
            self.stateLayout = stateLayout
            self.float64State = float64State
            self.float64Layout = float64Layout
        }
    }

    struct Header: Codable {
        /// What makes a decoded header unusable: counts and steps no run writes.
        var problem: String? {
            if step < 0 { return "step \(step) is negative" }
            if step > 1 << 48 { return "step \(step) is more than any run takes" }
            if worldSize < 1 { return "world size \(worldSize)" }
            if let group = groups.first(where: { $0.optimizerIterations < 0 || $0.optimizerIterations > 1 << 48 }) {
                return "group \(group.name): \(group.optimizerIterations) optimizer iterations"
            }
            return nil
        }

        var formatVersion: Int
        var gentrainVersion: String
        var job: String
        var run: String?
        var step: Int
        var epoch: Int
        var stepInEpoch: Int
        var worldSize: Int
        var groups: [GroupHeader]
    }

    /// The product of `shape`'s sizes, or nil for a negative size or an overflow.
    static func checkedProduct(_ shape: [Int]) -> Int? {
        var product = 1
        for size in shape {
            guard size >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            guard !overflow else { return nil }
            product = next
        }
        return product
    }

    /// Values in tensors of `shapes`, or nil for a negative size or an overflow.
    static func layoutCount(_ shapes: [[Int]]) -> Int? {
        var total = 0
        for shape in shapes {
            guard let count = checkedProduct(shape) else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(count)
            guard !overflow else { return nil }
            total = sum
        }
        return total
    }

    struct GroupHeader: Codable {
        var name: String
        var values: Int
        var state: Int
        var optimizerState: Int
        var optimizerIterations: Int
        var parameterLayout: [SavedTensorShape]?
        var stateLayout: [SavedTensorShape]?
        /// Float64 values (absent in format 1: none).
        var float64State: Int?
        var float64Layout: [SavedTensorShape]?
    }

    public static let formatVersion: UInt32 = 2
    /// The formats this gentrain reads.
    static let readableVersions: ClosedRange<UInt32> = 1...2
    static let magic: [UInt8] = Array("GTCK".utf8)

    /// The job it was written for, as canonical JSON.
    public var job: String
    public var gentrainVersion: String
    /// The run it belongs to (nil in checkpoints written before runs had an identity).
    public var run: String?
    /// Optimizer steps completed.
    public var step: Int
    public var epoch: Int
    public var stepInEpoch: Int
    /// World size when it was written.
    public var worldSize: Int
    public var groups: [Group]

    public init(job: String, run: String? = nil, gentrainVersion: String, step: Int, epoch: Int, stepInEpoch: Int, worldSize: Int,
                groups: [Group]) {
        self.job = job
        self.run = run
        self.gentrainVersion = gentrainVersion
        self.step = step
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.worldSize = worldSize
        self.groups = groups
    }

    /// The file's bytes.
    public func encoded() -> [UInt8] {
        let header = Header(formatVersion: Int(Self.formatVersion), gentrainVersion: gentrainVersion, job: job, run: run, step: step, epoch: epoch,
                            stepInEpoch: stepInEpoch, worldSize: worldSize,
                            groups: groups.map { GroupHeader(name: $0.name, values: $0.values.count, state: $0.state.count,
                                                             optimizerState: $0.optimizerState.count,
                                                             optimizerIterations: $0.optimizerIterations,
                                                             parameterLayout: $0.parameterLayout, stateLayout: $0.stateLayout,
                                                             float64State: $0.float64State.count, float64Layout: $0.float64Layout) })
        let headerBytes = [UInt8](try! JSONEncoder().encode(header))
        var bytes = Self.magic
        appendLittleEndian(&bytes, Self.formatVersion)
        appendLittleEndian(&bytes, UInt64(headerBytes.count))
        bytes += headerBytes
        for group in groups {
            for buffer in [group.values, group.state, group.optimizerState] {
                buffer.withUnsafeBytes { bytes.append(contentsOf: $0) }
            }
            group.float64State.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
        appendLittleEndian(&bytes, crc32Checksum(bytes))
        return bytes
    }

    /// Writes the file atomically: a temporary file in the same folder, fsync, rename, fsync of the folder.
    public func write(to path: String) throws(CheckpointError) {
        let folder = (path as NSString).deletingLastPathComponent
        let temporary = Self.partialPath(path, process: getpid())
        let bytes = encoded()
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw CheckpointError(path: folder, problem: "cannot create the folder: \(error.localizedDescription)")
        }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError(path: temporary, problem: "cannot create: \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if result <= 0 {
                close(descriptor)
                unlink(temporary)
                throw CheckpointError(path: temporary, problem: "write failed: \(String(cString: strerror(errno)))")
            }
            written += result
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0 else {
            unlink(temporary)
            throw CheckpointError(path: temporary, problem: "fsync failed: \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CheckpointError(path: path, problem: "rename failed: \(String(cString: strerror(errno)))")
        }
        let folderDescriptor = open(folder.isEmpty ? "." : folder, O_RDONLY)
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }

    /// Reads and verifies a checkpoint (magic, version, lengths, CRC-32).
    public static func read(path: String) throws(CheckpointError) -> Checkpoint {
        // A pipe or device would block or never end; a checkpoint is a regular file.
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { throw CheckpointError(path: path, problem: "no such file") }
        guard attributes[.type] as? FileAttributeType == .typeRegular else { throw CheckpointError(path: path, problem: "not a regular file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError(path: path, problem: "cannot read the file") }
        let bytes = [UInt8](data)
        guard bytes.count >= 20, Array(bytes[0..<4]) == magic else { throw CheckpointError(path: path, problem: "not a gentrain checkpoint") }
        let stored = readLittleEndian(bytes, at: bytes.count - 4, as: UInt32.self)
        guard crc32Checksum(Array(bytes[0..<(bytes.count - 4)])) == stored else {
            throw CheckpointError(path: path, problem: "checksum mismatch (the file is corrupt or was cut short)")
        }
        let version = readLittleEndian(bytes, at: 4, as: UInt32.self)
        guard readableVersions.contains(version) else {
            throw CheckpointError(path: path, problem: "format version \(version), this gentrain reads \(readableVersions.lowerBound) to \(readableVersions.upperBound)")
        }
        // Every length and count is checked against the bytes present before it is used (a valid CRC proves nothing
        // about a crafted file).
        let declaredLength = readLittleEndian(bytes, at: 8, as: UInt64.self)
        guard declaredLength <= UInt64(bytes.count - 20),
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[16..<(16 + Int(declaredLength))])) else {
            throw CheckpointError(path: path, problem: "unreadable header")
        }
        if let problem = header.problem { throw CheckpointError(path: path, problem: problem) }
        var position = 16 + Int(declaredLength)
        func elements<Element>(_ count: Int, _ type: Element.Type) -> [Element]? {
            let size = MemoryLayout<Element>.size
            guard count >= 0, count <= (bytes.count - 4 - position) / size else { return nil }
            let values = bytes[position..<(position + size * count)].withUnsafeBytes { Array($0.bindMemory(to: Element.self)) }
            position += size * count
            return values
        }
        var groups: [Group] = []
        for group in header.groups {
            guard let values = elements(group.values, Float.self), let state = elements(group.state, Float.self),
                  let optimizerState = elements(group.optimizerState, Float.self),
                  let float64State = elements(group.float64State ?? 0, Double.self) else {
                throw CheckpointError(path: path, problem: "group \(group.name): its header promises more values than the file holds")
            }
            for (layout, count) in [(group.parameterLayout, values.count), (group.stateLayout, state.count), (group.float64Layout, float64State.count)] {
                if let layout, layoutCount(layout.map(\.shape)) != count {
                    throw CheckpointError(path: path, problem: "group \(group.name): its layout does not add up to its \(count) values")
                }
            }
            groups.append(Group(name: group.name, values: values, state: state, optimizerState: optimizerState,
                                optimizerIterations: group.optimizerIterations, parameterLayout: group.parameterLayout,
                                stateLayout: group.stateLayout, float64State: float64State, float64Layout: group.float64Layout))
        }
        guard position == bytes.count - 4 else { throw CheckpointError(path: path, problem: "longer than its header says") }
        return Checkpoint(job: header.job, run: header.run, gentrainVersion: header.gentrainVersion, step: header.step, epoch: header.epoch,
                          stepInEpoch: header.stepInEpoch, worldSize: header.worldSize, groups: groups)
    }

    /// What a checkpoint's header says about where it belongs, read without its buffers and without the CRC check.
    public struct Identity: Sendable {
        public var path: String
        public var job: String
        public var run: String?
        public var step: Int
    }

    /// Reads the header of a checkpoint file only (cheap for any size of checkpoint).
    public static func readIdentity(path: String) throws(CheckpointError) -> Identity {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CheckpointError(path: path, problem: "cannot read the file") }
        defer { try? handle.close() }
        let fileSize = (try? handle.seekToEnd()).map(Int.init) ?? 0
        guard (try? handle.seek(toOffset: 0)) != nil, let start = try? handle.read(upToCount: 16), start.count == 16,
              Array(start[0..<4]) == magic else { throw CheckpointError(path: path, problem: "not a gentrain checkpoint") }
        let headerLength = readLittleEndian([UInt8](start), at: 8, as: UInt64.self)
        guard headerLength <= UInt64(max(fileSize - 20, 0)), let headerBytes = try? handle.read(upToCount: Int(headerLength)),
              let header = try? JSONDecoder().decode(Header.self, from: headerBytes) else {
            throw CheckpointError(path: path, problem: "unreadable header")
        }
        return Identity(path: path, job: header.job, run: header.run, step: header.step)
    }

    /// A new run's identity: the start time and 32 random bits, e.g. "20261203-124512-9f3a61c2".
    public static func newRunIdentity(now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: now) + "-" + String(format: "%08x", UInt32.random(in: .min ... .max))
    }

    /// The temporary file a write of `path` by process `process` goes through.
    static func partialPath(_ path: String, process: pid_t) -> String { "\(path).partial-\(process)" }

    /// Removes the temporary files of checkpoint writes whose process no longer exists (killed during the
    /// write); leaves those of living processes. Returns the names removed.
    public static func removeAbandonedPartials(folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var removed: [String] = []
        for name in names where name.hasPrefix("step-") {
            guard let marker = name.range(of: ".gtck.partial-"), let process = pid_t(name[marker.upperBound...]), process > 0 else { continue }
            guard kill(process, 0) == -1 && errno == ESRCH else { continue }
            if unlink("\(folder)/\(name)") == 0 { removed.append(name) }
        }
        return removed.sorted()
    }

    /// Checkpoint files of a folder, newest (highest step) first.
    public static func list(folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".gtck") }.sorted(by: >).map { "\(folder)/\($0)" }
    }

    /// The file name for a step (zero-padded so that names sort by step).
    public static func fileName(step: Int) -> String { String(format: "step-%010d.gtck", step) }
}

func crc32Checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
}
