// Internal: one table of kernel entry points per instruction-set family (kernels_sse2.c, _avx2.c, _avx512.c).
#ifndef FLOWKERNELS_TABLE_H
#define FLOWKERNELS_TABLE_H

#include "include/flowkernels.h"

typedef struct {
    void (*gelu)(float *, ptrdiff_t);
    void (*silu)(float *, ptrdiff_t);
    void (*softmax_rows)(float *, ptrdiff_t, ptrdiff_t);
    void (*layernorm)(const float *, ptrdiff_t, ptrdiff_t, float, float *, float *, float *);
    void (*layernorm_modulated)(const float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, float, const float *, const float *,
                                ptrdiff_t, float *);
    void (*modulate)(const float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, const float *, ptrdiff_t, float *);
    void (*gated_residual)(float *, const float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t);
} ft_kernel_table;

extern const ft_kernel_table ft_table_sse2;
extern const ft_kernel_table ft_table_avx2;
extern const ft_kernel_table ft_table_avx512;

#endif
