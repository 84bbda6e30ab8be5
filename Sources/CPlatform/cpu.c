// The CPU's vector extensions, and OpenBLAS's kernel family for them.

#include "gentrain_platform.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t enabled_register_state(void) {
    uint32_t low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    return ((uint64_t)high << 32) | low;
}

int gentrain_cpu_vector_level(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t state = enabled_register_state();
    if ((state & 0x6) != 0x6) return 0;  // the OS saves SSE and AVX registers
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int avx2 = (b >> 5) & 1;
    const unsigned avx512 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);  // F DQ CD BW VL
    if ((b & avx512) == avx512 && (state & 0xe0) == 0xe0) {  // and the OS saves opmask and ZMM registers
        unsigned a1 = 0, b1, c1, d1;
        __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
        return ((a1 >> 5) & 1) ? 3 : 2;
    }
    return avx2 && fma ? 1 : 0;
}
#else
int gentrain_cpu_vector_level(void) { return 0; }  // the x86 extensions only; elsewhere OpenBLAS's own choice stands
#endif

static char replaced_core[32];

const char *gentrain_openblas_replaced_core(void) { return replaced_core[0] ? replaced_core : NULL; }

// OpenBLAS's names of its kernel families without AVX2 and FMA: it picks one of these for x86-64 CPUs it does not
// know (Prescott), and none of them is right for a CPU with AVX2.
static const char *const older_cores[] = {"Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2",
                                          "Penryn", "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron(SSE3)",
                                          "Barcelona", "Nano", "Bobcat", "Sandybridge"};

int gentrain_openblas_use_native_kernels(void) {
    if (getenv("OPENBLAS_CORETYPE")) return 0;
    // Looked up rather than linked: only DYNAMIC_ARCH builds of OpenBLAS (Debian's) can switch kernels.
    char *(*core_name)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!core_name || !quit || !init) return 0;
    const char *current = core_name();
    int fallback = 0;
    for (size_t i = 0; i < sizeof older_cores / sizeof *older_cores; i++)
        if (strcmp(current, older_cores[i]) == 0) fallback = 1;
    int level = gentrain_cpu_vector_level();
    if (!fallback || level == 0) return 0;
    const char *family = level == 3 ? "Cooperlake" : level == 2 ? "SkylakeX" : "Haswell";
    // gotoblas_dynamic_init reads OPENBLAS_CORETYPE; the variable is removed again so that child processes
    // (mpirun's ranks) make their own choice on their own CPU.
    strncpy(replaced_core, current, sizeof replaced_core - 1);
    setenv("OPENBLAS_CORETYPE", family, 1);
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
    return 1;
}
