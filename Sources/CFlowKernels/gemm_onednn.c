// dlopen-based access to oneDNN's dnnl_sgemm (see include/onednn_gemm.h).
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include "include/onednn_gemm.h"

typedef int (*sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t,
                        float, float *, int64_t);
typedef void (*threads_fn)(int);
typedef struct { int major, minor, patch; const char *hash; unsigned cpu_runtime, gpu_runtime; } version_t;
typedef const version_t *(*version_fn)(void);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn sgemm;
static threads_fn set_threads;
static char error[256];
static char version[32];
// OpenMP's thread count is per calling thread: the wanted count is applied lazily on each thread that multiplies.
static int wanted_threads;
static __thread int applied_threads;

static void load(void) {
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libdnnl.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(error, sizeof error, "%s", dlerror());
        return;
    }
    sgemm = (sgemm_fn)dlsym(h, "dnnl_sgemm");
    if (!sgemm) {
        snprintf(error, sizeof error, "%s", dlerror());
        return;
    }
    set_threads = (threads_fn)dlsym(h, "omp_set_num_threads");
    version_fn v = (version_fn)dlsym(h, "dnnl_version");
    if (v && v()) snprintf(version, sizeof version, "%d.%d.%d", v()->major, v()->minor, v()->patch);
}

int ft_onednn_load(void) {
    pthread_once(&once, load);
    return sgemm ? 0 : -1;
}

const char *ft_onednn_error(void) { return error; }

const char *ft_onednn_version(void) { return version; }

int ft_onednn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                    ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
    int want = __atomic_load_n(&wanted_threads, __ATOMIC_RELAXED);
    if (want > 0 && applied_threads != want && set_threads) {
        set_threads(want);
        applied_threads = want;
    }
    return sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void ft_onednn_set_threads(int n) { __atomic_store_n(&wanted_threads, n, __ATOMIC_RELAXED); }
