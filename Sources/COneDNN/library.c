// Which oneDNN gentrain runs on: see include/onednn_library.h.

#include "onednn_library.h"

#include <dnnl.h>
#include <dnnl_debug.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/// Whether oneDNN's build recorded its commit (Debian's says "N/A").
static int is_commit(const char *hash) {
    if (!hash || strlen(hash) < 7) return 0;
    for (const char *c = hash; *c; c++) {
        if (!isxdigit((unsigned char)*c)) return 0;
    }
    return 1;
}

void gentrain_onednn_version(char *buffer, size_t size) {
    const dnnl_version_t *version = dnnl_version();
    if (is_commit(version->hash)) {
        snprintf(buffer, size, "%d.%d.%d (commit %s)", version->major, version->minor, version->patch, version->hash);
    } else {
        snprintf(buffer, size, "%d.%d.%d", version->major, version->minor, version->patch);
    }
}

const char *gentrain_onednn_kernels(void) {
    const char *name = dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa());  // "cpu_isa_avx2"
    return strncmp(name, "cpu_isa_", 8) == 0 ? name + 8 : name;
}
