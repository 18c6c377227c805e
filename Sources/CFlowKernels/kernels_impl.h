// The kernel bodies, included once per instruction-set family by kernels_{sse2,avx2,avx512}.c, each of which wraps
// the include in `#pragma clang attribute push(target(...))` and defines FT_TABLE (the table's name).
//
// Written with 16-lane vector extensions (v16): one zmm register with AVX-512, two ymm with AVX2, four xmm with
// SSE2. The lane count is the same in every family, so reductions add in the same order everywhere (results differ
// between families only by FMA contraction). Tails (n mod 16) go through a zero-padded vector.
#include <string.h>
#include "kernels_table.h"

// The 64-byte vector helpers are always inlined, so their by-value ABI never matters.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));
typedef int i16 __attribute__((vector_size(64)));

#define FT_INLINE static inline __attribute__((always_inline))

FT_INLINE v16 splat(float a) { return (v16){a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a}; }
FT_INLINE v16 load(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
FT_INLINE void store(float *p, v16 v) { memcpy(p, &v, sizeof v); }
FT_INLINE v16 load_part(const float *p, ptrdiff_t n) { v16 v = splat(0); memcpy(&v, p, (size_t)n * 4); return v; }
FT_INLINE void store_part(float *p, v16 v, ptrdiff_t n) { memcpy(p, &v, (size_t)n * 4); }
/// Lanes of `a` where mask is set, else `b`.
FT_INLINE v16 select(i16 mask, v16 a, v16 b) { return (v16)((mask & (i16)a) | (~mask & (i16)b)); }

/// Mask of the lanes 0..<k.
FT_INLINE i16 lanes_below(ptrdiff_t k) {
    i16 idx = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    return idx < (int)k;
}

FT_INLINE float hsum(v16 v) {
    float s = 0;
    for (int i = 0; i < 16; i++) s += v[i];
    return s;
}

/// e^x: x = n·ln2 + r (ln2 in two parts), degree-6 polynomial for e^r, 2^n through the exponent bits (the same
/// scheme and constants as FastMath.exp). Relative error ≤ 2e-7 on [−87, 88]; below −87.5 exactly 0; NaN stays NaN.
FT_INLINE v16 vexp(v16 in) {
    v16 lo = splat(-87.0f), hi = splat(88.0f);
    v16 x = select(in < lo, lo, in);
    x = select(x > hi, hi, x);
    v16 magic = splat(12582912.0f);   // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    v16 nm = x * 1.44269504f + magic;
    v16 n = nm - magic;
    v16 r = x - n * 0.693359375f;
    r = r - n * -2.1219444e-4f;
    v16 p = splat(1.9875691e-4f);
    p = p * r + 1.3981999e-3f;
    p = p * r + 8.3334520e-3f;
    p = p * r + 4.1665796e-2f;
    p = p * r + 1.6666666e-1f;
    p = p * r + 5.0000001e-1f;
    p = p * r * r + r + 1.0f;
    i16 ni = (i16)nm - 0x4B400000;
    v16 scale = (v16)((ni + 127) << 23);
    return select(in < -87.5f, splat(0), p * scale);
}

FT_INLINE v16 gelu16(v16 v) {
    const float c2 = 2 * 0.7978845608028654f;   // 2·sqrt(2/pi)
    v16 u2 = c2 * (v + 0.044715f * v * v * v);
    return v / (1.0f + vexp(-u2));
}

FT_INLINE v16 silu16(v16 v) { return v / (1.0f + vexp(-v)); }

static void gelu(float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) store(x + i, gelu16(load(x + i)));
    if (i < n) store_part(x + i, gelu16(load_part(x + i, n - i)), n - i);
}

static void silu(float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) store(x + i, silu16(load(x + i)));
    if (i < n) store_part(x + i, silu16(load_part(x + i, n - i)), n - i);
}

static void softmax_rows(float *s, ptrdiff_t rows, ptrdiff_t cols) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = s + r * cols;
        ptrdiff_t i = 0;
        float m = -__builtin_inff();
        if (cols >= 16) {
            v16 acc = load(row);
            for (i = 16; i + 16 <= cols; i += 16) {
                v16 v = load(row + i);
                acc = select(v > acc, v, acc);
            }
            for (int k = 0; k < 16; k++) m = acc[k] > m ? acc[k] : m;
        }
        for (; i < cols; i++) m = row[i] > m ? row[i] : m;
        v16 mv = splat(m), acc = splat(0);
        for (i = 0; i + 16 <= cols; i += 16) {
            v16 e = vexp(load(row + i) - mv);
            store(row + i, e);
            acc += e;
        }
        float sum = hsum(acc);
        if (i < cols) {
            v16 e = vexp(load_part(row + i, cols - i) - mv);
            store_part(row + i, e, cols - i);
            for (ptrdiff_t k = 0; k < cols - i; k++) sum += e[k];
        }
        v16 inv = splat(1.0f / sum);
        for (i = 0; i + 16 <= cols; i += 16) store(row + i, load(row + i) * inv);
        if (i < cols) store_part(row + i, load_part(row + i, cols - i) * inv, cols - i);
    }
}

/// Mean and 1/sqrt(biased variance + eps) of one row (two passes, for accuracy with large means).
FT_INLINE void row_stats(const float *x, ptrdiff_t dim, float eps, float *mean, float *rstd) {
    v16 acc = splat(0);
    ptrdiff_t i = 0;
    for (; i + 16 <= dim; i += 16) acc += load(x + i);
    if (i < dim) acc += load_part(x + i, dim - i);
    float inv_d = 1.0f / (float)dim;
    float m = hsum(acc) * inv_d;
    v16 mv = splat(m), sq = splat(0);
    for (i = 0; i + 16 <= dim; i += 16) {
        v16 d = load(x + i) - mv;
        sq += d * d;
    }
    if (i < dim) {
        v16 d = select(lanes_below(dim - i), load_part(x + i, dim - i) - mv, splat(0));
        sq += d * d;
    }
    *mean = m;
    *rstd = 1.0f / __builtin_sqrtf(hsum(sq) * inv_d + eps);
}

static void layernorm(const float *x, ptrdiff_t rows, ptrdiff_t dim, float eps, float *out, float *mean, float *rstd) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *o = out + r * dim;
        float m, rs;
        row_stats(xr, dim, eps, &m, &rs);
        v16 mv = splat(m), rv = splat(rs);
        ptrdiff_t i = 0;
        for (; i + 16 <= dim; i += 16) store(o + i, (load(xr + i) - mv) * rv);
        if (i < dim) store_part(o + i, (load_part(xr + i, dim - i) - mv) * rv, dim - i);
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = rs;
    }
}

static void layernorm_modulated(const float *x, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim, float eps,
                                const float *shift, const float *scale, ptrdiff_t mod_stride, float *out) {
    for (ptrdiff_t b = 0; b < batch; b++) {
        const float *sh = shift + b * mod_stride, *sc = scale + b * mod_stride;
        for (ptrdiff_t t = 0; t < tokens; t++) {
            ptrdiff_t r = b * tokens + t;
            const float *xr = x + r * dim;
            float *o = out + r * dim;
            float m, rs;
            row_stats(xr, dim, eps, &m, &rs);
            v16 mv = splat(m), rv = splat(rs);
            ptrdiff_t i = 0;
            for (; i + 16 <= dim; i += 16)
                store(o + i, (load(xr + i) - mv) * rv * (1.0f + load(sc + i)) + load(sh + i));
            if (i < dim) {
                ptrdiff_t k = dim - i;
                store_part(o + i, (load_part(xr + i, k) - mv) * rv * (1.0f + load_part(sc + i, k))
                           + load_part(sh + i, k), k);
            }
        }
    }
}

static void modulate(const float *x, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim, const float *shift,
                     const float *scale, ptrdiff_t mod_stride, float *out) {
    for (ptrdiff_t b = 0; b < batch; b++) {
        const float *sh = shift + b * mod_stride, *sc = scale + b * mod_stride;
        for (ptrdiff_t t = 0; t < tokens; t++) {
            ptrdiff_t r = (b * tokens + t) * dim;
            ptrdiff_t i = 0;
            for (; i + 16 <= dim; i += 16)
                store(out + r + i, load(x + r + i) * (1.0f + load(sc + i)) + load(sh + i));
            if (i < dim) {
                ptrdiff_t k = dim - i;
                store_part(out + r + i, load_part(x + r + i, k) * (1.0f + load_part(sc + i, k))
                           + load_part(sh + i, k), k);
            }
        }
    }
}

static void gated_residual(float *x, const float *y, ptrdiff_t batch, ptrdiff_t tokens, ptrdiff_t dim,
                           const float *gate, ptrdiff_t mod_stride) {
    for (ptrdiff_t b = 0; b < batch; b++) {
        const float *g = gate + b * mod_stride;
        for (ptrdiff_t t = 0; t < tokens; t++) {
            ptrdiff_t r = (b * tokens + t) * dim;
            ptrdiff_t i = 0;
            float *xr = x + r;
            const float *yr = y + r;
            for (; i + 16 <= dim; i += 16) store(xr + i, load(xr + i) + load(g + i) * load(yr + i));
            if (i < dim) {
                ptrdiff_t k = dim - i;
                store_part(xr + i, load_part(xr + i, k) + load_part(g + i, k) * load_part(yr + i, k), k);
            }
        }
    }
}

const ft_kernel_table FT_TABLE = {
    gelu, silu, softmax_rows, layernorm, layernorm_modulated, modulate, gated_residual,
};
