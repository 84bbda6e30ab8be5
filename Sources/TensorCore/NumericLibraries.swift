// Which numeric libraries gentrain runs on and which of their kernels this CPU gets, for `gentrain --version`
// and bug reports.

import CBLAS
import COneDNN

/// OpenBLAS and oneDNN: versions and the kernels they dispatch to here.
public enum NumericLibraries {
    /// OpenBLAS's build: version, target and threading, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64`.
    public static var openBLASConfiguration: String { String(cString: openblas_get_config()) }

    /// The kernel family OpenBLAS runs on this CPU (after `BLASThreads.useNativeKernels`), e.g. `SkylakeX`.
    public static var openBLASKernels: String { BLASThreads.coreName }

    /// oneDNN's version, e.g. `2.6.3`, with its commit when its build recorded one.
    public static var oneDNNVersion: String {
        var buffer = [CChar](repeating: 0, count: 128)
        gentrain_onednn_version(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The widest instruction set oneDNN's kernels use on this CPU, e.g. `avx2` or `avx512_core`.
    public static var oneDNNKernels: String { String(cString: gentrain_onednn_kernels()) }
}
