// The kernel table compiled for the avx2 family (see kernels_impl.h; chosen at run time in dispatch.c).
#include <string.h>
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define FT_TABLE ft_table_avx2
#include "kernels_impl.h"
#pragma clang attribute pop
