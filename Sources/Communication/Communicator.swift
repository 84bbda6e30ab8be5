// A Swift communicator over Open MPI's world. Every MPI call goes through
// `check`, which turns a failure into a typed `MPIError` naming the call, its
// return code and MPI's own message (MPI_ERRORS_RETURN is set at start-up, so
// failures come back as codes instead of aborting).

import CMPI

/// A failed MPI call.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    /// The MPI function, e.g. `MPI_Allreduce`.
    public let function: String
    /// Its return code.
    public let code: Int32
    /// `MPI_Error_string` of the code.
    public let message: String
    public var description: String { "\(function) failed with code \(code): \(message)" }
}

/// Checks an MPI return code.
@inline(__always)
func check(_ code: Int32, _ function: StaticString) throws(MPIError) {
    guard code != gentrain_mpi_success() else { return }
    var length: Int32 = 0
    var buffer = [CChar](repeating: 0, count: Int(gentrain_mpi_max_error_string()) + 1)
    MPI_Error_string(code, &buffer, &length)
    let message = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw MPIError(function: "\(function)", code: code, message: message)
}

/// Told when a blocking collective starts and when it returns (the trainer's watchdog puts a deadline on each).
public protocol CollectiveObserver: AnyObject, Sendable {
    /// `function` (e.g. `MPI_Allreduce`) is about to wait for every rank to join it.
    func collectiveWillStart(_ function: String)
    /// The collective returned.
    func collectiveDidFinish()
}

/// The world communicator: this process's rank, the number of ranks, and collectives.
///
/// Create one per process (it initialises MPI) and call `finalize()` before exiting. Without `mpirun`
/// it is a world of one rank.
public final class Communicator {
    /// This process's rank, 0 ..< size.
    public let rank: Int
    /// Number of ranks.
    public let size: Int
    private let world: MPI_Comm
    /// Told about every blocking collective of this communicator (including those of the requests it starts).
    public weak var observer: (any CollectiveObserver)?

    /// The MPI library and the standard it implements, e.g. `Open MPI v4.1.4 (MPI 3.1)`: `MPI_Get_library_version`'s
    /// first part (before its package and build details) and `MPI_Get_version`, both callable before MPI starts.
    public static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        var major: Int32 = 0, minor: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == gentrain_mpi_success(),
              MPI_Get_version(&major, &minor) == gentrain_mpi_success() else { return "unknown MPI library" }
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let name = text.split(whereSeparator: { $0 == "," || $0 == "\n" }).first ?? Substring(text)
        return "\(name.drop { $0 == " " }) (MPI \(major).\(minor))"
    }

    /// Initialises MPI (once per process) and sets MPI_ERRORS_RETURN on the world communicator.
    public init() throws(MPIError) {
        var initialized: Int32 = 0
        try check(MPI_Initialized(&initialized), "MPI_Initialized")
        if initialized == 0 { try check(MPI_Init(nil, nil), "MPI_Init") }
        world = gentrain_mpi_comm_world()
        try check(MPI_Comm_set_errhandler(world, gentrain_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0
        try check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(world, &size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
    }

    /// Calls `function` (a blocking collective) between the observer's start and finish notices, then checks its code.
    @inline(__always)
    private func collective(_ function: StaticString, _ call: () -> Int32) throws(MPIError) {
        let observer = observer
        observer?.collectiveWillStart("\(function)")
        let code = call()
        observer?.collectiveDidFinish()
        try check(code, function)
    }

    /// Waits until every rank has called it.
    public func barrier() throws(MPIError) { try collective("MPI_Barrier") { MPI_Barrier(world) } }

    /// Sums `count` floats at `buffer` over all ranks, in place.
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws(MPIError) {
        try collective("MPI_Allreduce") {
            MPI_Allreduce(gentrain_mpi_in_place(), buffer, Int32(count), gentrain_mpi_float(), gentrain_mpi_sum(), world)
        }
    }

    /// Sums `count` doubles at `buffer` over all ranks, in place.
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws(MPIError) {
        try collective("MPI_Allreduce") {
            MPI_Allreduce(gentrain_mpi_in_place(), buffer, Int32(count), gentrain_mpi_double(), gentrain_mpi_sum(), world)
        }
    }

    /// Maximum of `count` doubles over all ranks, in place.
    public func allReduceMaximum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws(MPIError) {
        try collective("MPI_Allreduce") {
            MPI_Allreduce(gentrain_mpi_in_place(), buffer, Int32(count), gentrain_mpi_double(), gentrain_mpi_max(), world)
        }
    }

    /// Every rank's `values` (the same count on each), concatenated in rank order.
    public func allGather(_ values: [UInt64]) throws(MPIError) -> [UInt64] {
        var result = [UInt64](repeating: 0, count: values.count * size)
        try values.withUnsafeBufferPointer { (source) throws(MPIError) in
            try result.withUnsafeMutableBufferPointer { (destination) throws(MPIError) in
                try collective("MPI_Allgather") {
                    MPI_Allgather(source.baseAddress, Int32(values.count), gentrain_mpi_uint64(), destination.baseAddress,
                                  Int32(values.count), gentrain_mpi_uint64(), world)
                }
            }
        }
        return result
    }

    /// Every rank's `values` (counts may differ between ranks), concatenated in rank order, on every rank.
    public func allGatherVariable(_ values: [Double]) throws(MPIError) -> [Double] {
        let counts = try allGather([UInt64(values.count)]).map { Int32($0) }
        var displacements = [Int32](repeating: 0, count: size)
        for index in displacements.indices.dropFirst() { displacements[index] = displacements[index - 1] + counts[index - 1] }
        var result = [Double](repeating: 0, count: counts.reduce(0) { $0 + Int($1) })
        try values.withUnsafeBufferPointer { (source) throws(MPIError) in
            try result.withUnsafeMutableBufferPointer { (destination) throws(MPIError) in
                try collective("MPI_Allgatherv") {
                    MPI_Allgatherv(source.baseAddress, Int32(values.count), gentrain_mpi_double(), destination.baseAddress,
                                   counts, displacements, gentrain_mpi_double(), world)
                }
            }
        }
        return result
    }

    /// Every rank's `values` (counts may differ) concatenated in rank order on rank `root`; other ranks get `[]`.
    public func gather(_ values: [Double], root: Int = 0) throws(MPIError) -> [Double] {
        var count = Int32(values.count)
        var counts = [Int32](repeating: 0, count: rank == root ? size : 0)
        try collective("MPI_Gather") {
            MPI_Gather(&count, 1, gentrain_mpi_int32(), &counts, 1, gentrain_mpi_int32(), Int32(root), world)
        }
        var displacements = [Int32](repeating: 0, count: counts.count)
        for index in counts.indices.dropFirst() { displacements[index] = displacements[index - 1] + counts[index - 1] }
        var result = [Double](repeating: 0, count: counts.reduce(0) { $0 + Int($1) })
        try values.withUnsafeBufferPointer { (source) throws(MPIError) in
            try result.withUnsafeMutableBufferPointer { (destination) throws(MPIError) in
                try collective("MPI_Gatherv") {
                    MPI_Gatherv(source.baseAddress, Int32(values.count), gentrain_mpi_double(), destination.baseAddress,
                                counts, displacements, gentrain_mpi_double(), Int32(root), world)
                }
            }
        }
        return result
    }

    /// Starts summing `values` over all ranks without waiting; the request owns the buffer until `wait()`.
    public func startAllReduceSum(_ values: [Float]) throws(MPIError) -> AllReduceRequest {
        let request = AllReduceRequest(values, observer: observer)
        try check(MPI_Iallreduce(gentrain_mpi_in_place(), request.buffer.baseAddress, Int32(values.count), gentrain_mpi_float(),
                                 gentrain_mpi_sum(), world, &request.handle), "MPI_Iallreduce")
        request.isActive = true
        return request
    }

    /// Copies `count` doubles at `buffer` from rank `root` to every rank.
    public func broadcast(_ buffer: UnsafeMutablePointer<Double>, count: Int, root: Int = 0) throws(MPIError) {
        try collective("MPI_Bcast") { MPI_Bcast(buffer, Int32(count), gentrain_mpi_double(), Int32(root), world) }
    }

    /// Copies `count` bytes at `buffer` from rank `root` to every rank.
    public func broadcast(_ buffer: UnsafeMutableRawPointer, byteCount: Int, root: Int = 0) throws(MPIError) {
        try collective("MPI_Bcast") { MPI_Bcast(buffer, Int32(byteCount), gentrain_mpi_byte(), Int32(root), world) }
    }

    /// Copies `count` floats at `buffer` from rank `root` to every rank.
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int = 0) throws(MPIError) {
        try collective("MPI_Bcast") { MPI_Bcast(buffer, Int32(count), gentrain_mpi_float(), Int32(root), world) }
    }

    /// Ends the whole job (every rank) with `code`.
    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        fatalError("MPI_Abort returned")
    }

    /// Shuts MPI down; call once, after the last collective.
    public func finalize() throws(MPIError) { try check(MPI_Finalize(), "MPI_Finalize") }
}

/// A sum all-reduce in flight (`Communicator.startAllReduceSum`). It owns its buffer, so the values
/// cannot be freed or changed while MPI works on them; `wait()` returns the sums.
public final class AllReduceRequest {
    fileprivate let buffer: UnsafeMutableBufferPointer<Float>
    fileprivate var handle: MPI_Request? = gentrain_mpi_request_null()
    fileprivate var isActive = false
    private weak var observer: (any CollectiveObserver)?

    fileprivate init(_ values: [Float], observer: (any CollectiveObserver)?) {
        self.observer = observer
        buffer = .allocate(capacity: values.count)
        _ = buffer.initialize(from: values)
    }

    /// Waits for the sums (every rank must start the same all-reduces in the same order).
    public func wait() throws(MPIError) -> [Float] {
        if isActive {
            isActive = false
            observer?.collectiveWillStart("MPI_Wait")
            let code = MPI_Wait(&handle, gentrain_mpi_status_ignore())
            observer?.collectiveDidFinish()
            try check(code, "MPI_Wait")
        }
        return Array(buffer)
    }

    /// Whether the sums are ready, without blocking.
    public func test() throws(MPIError) -> Bool {
        guard isActive else { return true }
        var done: Int32 = 0
        try check(MPI_Test(&handle, &done, gentrain_mpi_status_ignore()), "MPI_Test")
        if done != 0 { isActive = false }
        return done != 0
    }

    deinit {
        // MPI may still write into the buffer: finish the operation before freeing it.
        if isActive { MPI_Wait(&handle, gentrain_mpi_status_ignore()) }
        buffer.deallocate()
    }
}
