// What gentrain needs from the platform below the libraries' own headers: one OpenMP thread team for every
// parallel loop, the CPU's vector extensions, and OpenBLAS's choice of kernels.
#ifndef GENTRAIN_PLATFORM_H
#define GENTRAIN_PLATFORM_H

/// Runs `body(context, worker)` for every worker in 0..<workers, concurrently, on the OpenMP thread team that
/// oneDNN uses too (the calling thread is worker 0 of the team), and returns when all have finished. Called from
/// inside a parallel region it runs the workers one after another on the calling thread.
void gentrain_parallel(int workers, void (*body)(void *context, int worker), void *context);

/// The widest vector extension this CPU and its operating system support: 3 AVX-512 (F, CD, BW, DQ, VL) with
/// bfloat16, 2 AVX-512 (F, CD, BW, DQ, VL), 1 AVX2 with FMA, 0 neither (and 0 on other architectures).
int gentrain_cpu_vector_level(void);

/// When OpenBLAS fell back to kernels without AVX2 because it does not know this CPU's model (OpenBLAS 0.3.21
/// calls a 2023 Xeon "Prescott"), and OPENBLAS_CORETYPE is not set, re-initialises OpenBLAS with the kernel family
/// of the CPU's vector extensions (Cooperlake, SkylakeX or Haswell). Must run before any BLAS call, with no other
/// thread calling BLAS. Returns 1 when it changed the kernels, 0 when it left them.
int gentrain_openblas_use_native_kernels(void);

/// The kernel family OpenBLAS had picked before gentrain_openblas_use_native_kernels replaced it, or NULL.
const char *gentrain_openblas_replaced_core(void);

#endif
