// gentrain's parallel loops on OpenMP's thread team (libgomp, the runtime of Debian's oneDNN): one set of threads
// for the convolutions and for gentrain's own passes, so that no thread spins for a core another one needs.

#include "gentrain_platform.h"

// libgomp's entry points (the calls GCC emits for `#pragma omp parallel`), declared here so that this file builds
// with any C compiler: clang's own OpenMP would bring a second runtime (LLVM's libomp) into the process.
void GOMP_parallel(void (*function)(void *), void *data, unsigned threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);

typedef struct {
    int workers;
    void (*body)(void *context, int worker);
    void *context;
} region;

static void run_region(void *data) {
    const region *r = data;
    // The team may be smaller than asked for (OMP_THREAD_LIMIT, nesting): its threads share the workers.
    int team = omp_get_num_threads();
    for (int worker = omp_get_thread_num(); worker < r->workers; worker += team) r->body(r->context, worker);
}

void gentrain_parallel(int workers, void (*body)(void *context, int worker), void *context) {
    if (workers <= 1) {
        body(context, 0);
        return;
    }
    region r = {workers, body, context};
    GOMP_parallel(run_region, &r, (unsigned)workers, 0);
}
