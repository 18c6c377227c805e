// Run-time choice of the kernel family: the best one CPUID allows, or the one FLOWTURBO_KERNELS names
// (sse2 | avx2 | avx512; an unsupported or unknown value keeps the best); ft_kernels_select changes it later.
#include <stdlib.h>
#include <string.h>
#include "kernels_table.h"

static const ft_kernel_table *const tables[3] = {&ft_table_sse2, &ft_table_avx2, &ft_table_avx512};
static const ft_kernel_table *active = &ft_table_sse2;
static int active_isa = FT_ISA_SSE2;

int ft_kernels_best_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FT_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return FT_ISA_AVX2;
    return FT_ISA_SSE2;
}

int ft_kernels_select(int isa) {
    if (isa < FT_ISA_SSE2 || isa > ft_kernels_best_isa()) return -1;
    active = tables[isa];
    active_isa = isa;
    return 0;
}

int ft_kernels_isa(void) { return active_isa; }

__attribute__((constructor)) static void ft_kernels_init(void) {
    int isa = ft_kernels_best_isa();
    const char *env = getenv("FLOWTURBO_KERNELS");
    if (env && strcmp(env, "sse2") == 0) isa = FT_ISA_SSE2;
    else if (env && strcmp(env, "avx2") == 0 && isa >= FT_ISA_AVX2) isa = FT_ISA_AVX2;
    ft_kernels_select(isa);
}

void ft_gelu(float *x, ptrdiff_t n) { active->gelu(x, n); }
void ft_silu(float *x, ptrdiff_t n) { active->silu(x, n); }
void ft_softmax_rows(float *s, ptrdiff_t rows, ptrdiff_t cols) { active->softmax_rows(s, rows, cols); }

void ft_layernorm(const float *x, ptrdiff_t rows, ptrdiff_t dim, float eps, float *out, float *mean, float *rstd) {
    active->layernorm(x, rows, dim, eps, out, mean, rstd);
}

void ft_layernorm_modulated(const float *x, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim, float eps,
                            const float *shift, const float *scale, ptrdiff_t mod_stride, float *out) {
    active->layernorm_modulated(x, batch, tokens, dim, eps, shift, scale, mod_stride, out);
}

void ft_modulate(const float *x, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim, const float *shift,
                 const float *scale, ptrdiff_t mod_stride, float *out) {
    active->modulate(x, batch, tokens, dim, shift, scale, mod_stride, out);
}

void ft_gated_residual(float *x, const float *y, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim,
                       const float *gate, ptrdiff_t mod_stride) {
    active->gated_residual(x, y, batch, tokens, dim, gate, mod_stride);
}
