/* fuzz.h - the fuzz targets' bodies (fuzz.c), for fuzz_entry.c and replay.c. */
#ifndef BRAIN_FUZZ_H
#define BRAIN_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_PREFIX (64u << 10) /* store inputs: bytes laid over the base image */
#define FUZZ_CAPACITY (2ull << 20)

extern const char *fuzz_current; /* the input being run, for messages */

void fuzz_init(void);
__attribute__((noreturn, format(printf, 1, 2))) void fuzz_fail(const char *fmt, ...);
int fuzz_store_open(const uint8_t *data, size_t size);
int fuzz_store_repair(const uint8_t *data, size_t size);
int fuzz_snapshot_load(const uint8_t *data, size_t size);
int fuzz_store_write(const uint8_t *data, size_t size);
int fuzz_make_corpus(const char *root);

#endif
