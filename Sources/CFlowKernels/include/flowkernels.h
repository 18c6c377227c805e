// Elementwise kernels of the SiT forward (GELU, SiLU, softmax rows, LayerNorm, adaLN modulation, gated residual),
// compiled three times (SSE2, AVX2+FMA, AVX-512) from one source; a table chosen at run time from CPUID dispatches.
// Row-major float32 throughout; `n`, `rows`, `dim` are element counts. Every kernel may run in place where noted.
#ifndef FLOWKERNELS_H
#define FLOWKERNELS_H

#include <stddef.h>
#include "onednn_gemm.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set families of the kernel table, slowest first.
enum { FT_ISA_SSE2 = 0, FT_ISA_AVX2 = 1, FT_ISA_AVX512 = 2 };

/// x[i] = GELU_tanh(x[i]) = x / (1 + exp(-2u)), u = sqrt(2/pi)·(x + 0.044715·x³), over n floats (in place).
void ft_gelu(float *x, ptrdiff_t n);
/// x[i] = x[i] / (1 + exp(-x[i])) (SiLU, in place).
void ft_silu(float *x, ptrdiff_t n);
/// Row-wise stable softmax in place: s[r, :] = exp(s[r, :] − max) / Σ.
void ft_softmax_rows(float *s, ptrdiff_t rows, ptrdiff_t cols);
/// out[r, :] = (x[r, :] − mean) · rstd, rstd = 1/sqrt(biased var + eps); mean/rstd per row stored when non-NULL.
/// out may alias x.
void ft_layernorm(const float *x, ptrdiff_t rows, ptrdiff_t dim, float eps, float *out, float *mean, float *rstd);
/// out[b, t, :] = LN(x[b, t, :]) · (1 + scale[b, :]) + shift[b, :]; shift/scale rows are mod_stride apart.
void ft_layernorm_modulated(const float *x, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim, float eps,
                            const float *shift, const float *scale, ptrdiff_t mod_stride, float *out);
/// out[b, t, :] = x[b, t, :] · (1 + scale[b, :]) + shift[b, :] (out may alias x).
void ft_modulate(const float *x, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim, const float *shift,
                 const float *scale, ptrdiff_t mod_stride, float *out);
/// x[b, t, :] += gate[b, :] · y[b, t, :].
void ft_gated_residual(float *x, const float *y, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim,
                       const float *gate, ptrdiff_t mod_stride);

/// A scratch buffer of at least `count` floats owned by the calling thread (reused; NULL if allocation fails).
float *ft_thread_scratch(size_t count);

/// The family the kernels run with now (FT_ISA_*).
int ft_kernels_isa(void);
/// The best family this CPU supports (CPUID), whatever is selected.
int ft_kernels_best_isa(void);
/// Selects a family; returns 0, or -1 (nothing changed) when the CPU lacks it or the value is unknown.
int ft_kernels_select(int isa);

#ifdef __cplusplus
}
#endif

#endif
