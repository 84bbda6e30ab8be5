import CBLAS
import CPlatform

/// Thread control and kernel choice of the BLAS library.
public enum BLASThreads {
    /// Sets how many threads OpenBLAS uses for matrix products.
    public static func set(_ count: Int) { openblas_set_num_threads(Int32(max(count, 1))) }
    /// The kernel family OpenBLAS chose for this CPU (e.g. `SkylakeX`).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Gives OpenBLAS the kernels of this CPU's vector extensions when it fell back to kernels without AVX2 for a
    /// CPU model it does not know (Debian's OpenBLAS 0.3.21 runs a 2023 Xeon's sgemm at 20-30 GFLOP/s that way,
    /// at ~150 with its AVX-512 kernels), unless `OPENBLAS_CORETYPE` chooses. The executable calls it first thing in
    /// `main`, before any thread can call BLAS (re-initialising OpenBLAS under a running call would crash it).
    public static func useNativeKernels() { _ = gentrain_openblas_use_native_kernels() }

    /// What `useNativeKernels` did, for the log, or nil when it left OpenBLAS's choice (or was not called).
    public static var nativeKernelChoice: String? {
        guard let replaced = gentrain_openblas_replaced_core() else { return nil }
        return "OpenBLAS picked \(String(cString: replaced)) kernels for this CPU, which it does not know; using \(coreName) (OPENBLAS_CORETYPE chooses)"
    }
}
