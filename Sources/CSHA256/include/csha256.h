#ifndef CSHA256_H
#define CSHA256_H
#include <stddef.h>
#include <stdint.h>

/* SHA-256 (FIPS 180-4) of len bytes at data into out[32]. C so model digests of large files stay fast in
   debug builds too (the Swift loop runs ~10x slower unoptimised). */
void csha256(const uint8_t *data, size_t len, uint8_t out[32]);

#endif
