// Interposes the glibc allocation entry points to count heap allocations, for tests that prove
// a sampling program allocates nothing per step. Forwarding goes to glibc's __libc_* functions,
// so no dlsym bootstrap is needed. Linked only into test bundles.
#include "CAllocCounter.h"
#include <stddef.h>
#include <errno.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread uint64_t thread_count = 0;
static uint64_t total_count = 0;

static inline void bump(void) {
    thread_count++;
    __atomic_fetch_add(&total_count, 1, __ATOMIC_RELAXED);
}

uint64_t alloc_counter_thread_count(void) { return thread_count; }
void alloc_counter_thread_reset(void) { thread_count = 0; }
uint64_t alloc_counter_total(void) { return __atomic_load_n(&total_count, __ATOMIC_RELAXED); }

void *malloc(size_t n) { bump(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { bump(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { bump(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t al, size_t n) { bump(); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { bump(); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    bump();
    if (al % sizeof(void *) != 0 || (al & (al - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
