import CBLAS

/// Thread control of the BLAS library.
public enum BLASThreads {
    /// Sets how many threads OpenBLAS uses for matrix products.
    public static func set(_ count: Int) { openblas_set_num_threads(Int32(max(count, 1))) }
    /// The kernel family OpenBLAS chose for this CPU (e.g. `SkylakeX`).
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
