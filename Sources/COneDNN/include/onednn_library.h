// Which oneDNN gentrain runs on, for `gentrain --version`.
#ifndef GENTRAIN_ONEDNN_LIBRARY_H
#define GENTRAIN_ONEDNN_LIBRARY_H

#include <stddef.h>

/// oneDNN's version and the commit it was built from ("2.6.3", with " (commit ...)" when its build recorded one), written into `buffer` (`size` bytes).
void gentrain_onednn_version(char *buffer, size_t size);

/// The widest instruction set oneDNN's kernels dispatch to on this CPU ("avx2", "avx512_core" and so on; `ONEDNN_MAX_CPU_ISA`
/// lowers it).
const char *gentrain_onednn_kernels(void);

#endif
