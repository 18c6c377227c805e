// The kernel table compiled for the avx512 family (see kernels_impl.h; chosen at run time in dispatch.c).
#include <string.h>
#define FT_TARGET "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"
#pragma clang attribute push(__attribute__((target(FT_TARGET))), apply_to = function)
#define FT_TABLE ft_table_avx512
#include "kernels_impl.h"
#pragma clang attribute pop
