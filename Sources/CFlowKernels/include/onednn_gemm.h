// Optional oneDNN GEMM (dnnl_sgemm, the CPU library PyTorch uses), loaded at run time with dlopen so that the build
// and the default path need nothing beyond OpenBLAS. Debian: `apt-get install libdnnl2` (or libdnnl-dev).
#ifndef FLOWKERNELS_ONEDNN_GEMM_H
#define FLOWKERNELS_ONEDNN_GEMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Loads libdnnl.so.2 once; returns 0 when dnnl_sgemm is available, else -1 (ft_onednn_error says why).
int ft_onednn_load(void);
/// The dlopen/dlsym error of a failed load ("" when none).
const char *ft_onednn_error(void);
/// Row-major C[M×N] = alpha·op(A)·op(B) + beta·C through dnnl_sgemm; returns its status (0 = success).
/// Call only after ft_onednn_load() returned 0.
int ft_onednn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                    ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc);
/// oneDNN's OpenMP thread count for every thread that calls ft_onednn_sgemm afterwards (applied per thread through
/// omp_set_num_threads of the runtime it loaded); n <= 0 leaves OpenMP's default.
void ft_onednn_set_threads(int n);
/// oneDNN's version as "major.minor.patch" ("" before a successful load).
const char *ft_onednn_version(void);

#ifdef __cplusplus
}
#endif

#endif
