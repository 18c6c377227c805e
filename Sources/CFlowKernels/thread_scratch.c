// A per-thread scratch buffer for the row-padded GEMM calls (Gemm.sgemm): allocated on a thread's first use with
// room for every padded block of the shipped models, grown only when a larger one comes, never freed.
#include <stdlib.h>
#include "include/flowkernels.h"

float *ft_thread_scratch(size_t count) {
    static __thread float *buffer;
    static __thread size_t capacity;
    if (count > capacity) {
        size_t c = count > 1048576 ? count : 1048576;
        float *p = realloc(buffer, c * sizeof(float));
        if (!p) return NULL;
        buffer = p;
        capacity = c;
    }
    return buffer;
}
