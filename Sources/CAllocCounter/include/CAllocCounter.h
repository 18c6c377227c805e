#ifndef CALLOCCOUNTER_H
#define CALLOCCOUNTER_H
#include <stdint.h>
/// Number of malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign calls made by the calling
/// thread since the last reset (counting is per thread so other test threads do not interfere).
uint64_t alloc_counter_thread_count(void);
/// Resets the calling thread's counter to zero.
void alloc_counter_thread_reset(void);
/// Process-wide count of allocation calls since process start.
uint64_t alloc_counter_total(void);
#endif
