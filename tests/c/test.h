/*
 * test.h - the C test harness of libbrain.
 *
 * One file per feature (tests/c/test-*.c); each declares its tests with
 * TEST(name) or TEST_TIMEOUT(name, seconds).  The tests register themselves
 * from constructors; runner.c forks every test into a process of its own
 * (its own process group), gives it a fresh scratch directory and unique
 * store names, enforces a timeout, and reports "ok N name" / "not ok N name
 * (reason)" lines, then "P passed, F failed[, S skipped]".
 *
 * Assertions print file:line and what they saw, then end the test process
 * (exit code 1).  A helper child forked by a test that fails an assertion
 * exits the same way; the test sees it through t_wait_ok().
 */
#ifndef BRAIN_TEST_H
#define BRAIN_TEST_H

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h> /* pause, fork...: on macOS nothing else brings it in */

#include "brain.h"

/* ---- sanitizers: scale work down under ASan/TSan ------------------------ */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||   \
    __has_feature(undefined_behavior_sanitizer)
#define T_SANITIZED 1
#endif
#endif
#ifndef T_SANITIZED
#define T_SANITIZED 0
#endif

/* 1 in a sanitizer build, under valgrind (RUNNING_ON_VALGRIND) or with the
 * environment variable BRAIN_TEST_SLOW=1: tests scale their work down, time
 * limits inside tests are relaxed and the runner doubles its timeouts. */
int t_slow(void);

/* n normally, n/div (at least 1) when slow (t_slow). */
#define T_SCALE(n, div) (t_slow() ? (((n) / (div)) > 0 ? (n) / (div) : 1) : (n))

/* ---- registration -------------------------------------------------------- */
typedef struct t_test {
    const char *name;
    void (*fn)(void);
    int timeout_s; /* 0 = default */
    const char *file;
    int line;
    struct t_test *next;
} t_test;

void t_register(t_test *t);

#define TEST_TIMEOUT(tname, seconds)                                           \
    static void t_fn_##tname(void);                                            \
    static t_test t_rec_##tname = {#tname, t_fn_##tname, (seconds), __FILE__,  \
                                   __LINE__, NULL};                            \
    __attribute__((constructor)) static void t_ctor_##tname(void)             \
    {                                                                          \
        t_register(&t_rec_##tname);                                            \
    }                                                                          \
    static void t_fn_##tname(void)

#define TEST(tname) TEST_TIMEOUT(tname, 0)

/* ---- failing, skipping, logging ----------------------------------------- */
__attribute__((noreturn, format(printf, 3, 4))) void
t_fail(const char *file, int line, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void t_skip(const char *fmt,
                                                            ...);
__attribute__((format(printf, 1, 2))) void t_log(const char *fmt, ...);

#define FAIL(...) t_fail(__FILE__, __LINE__, __VA_ARGS__)
#define SKIP(...) t_skip(__VA_ARGS__)

/* Copies of the last failure's detail, taken right after the call, before
 * any other libbrain call can replace it. */
const char *t_detail_copy(void);

#define ASSERT(cond)                                                           \
    do {                                                                       \
        if (!(cond))                                                           \
            FAIL("assertion failed: %s", #cond);                               \
    } while (0)

#define ASSERT_MSG(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond))                                                           \
            FAIL(__VA_ARGS__);                                                 \
    } while (0)

#define T_CMP_(a, op, b, type, fmt)                                            \
    do {                                                                       \
        type t_a_ = (type)(a), t_b_ = (type)(b);                               \
        if (!(t_a_ op t_b_))                                                   \
            FAIL("%s %s %s: " fmt " vs " fmt, #a, #op, #b, t_a_, t_b_);        \
    } while (0)

#define ASSERT_EQ_INT(a, b) T_CMP_(a, ==, b, long long, "%lld")
#define ASSERT_NE_INT(a, b) T_CMP_(a, !=, b, long long, "%lld")
#define ASSERT_EQ_U64(a, b) T_CMP_(a, ==, b, unsigned long long, "%llu")
#define ASSERT_NE_U64(a, b) T_CMP_(a, !=, b, unsigned long long, "%llu")
#define ASSERT_LT(a, b) T_CMP_(a, <, b, long long, "%lld")
#define ASSERT_LE(a, b) T_CMP_(a, <=, b, long long, "%lld")
#define ASSERT_GT(a, b) T_CMP_(a, >, b, long long, "%lld")
#define ASSERT_GE(a, b) T_CMP_(a, >=, b, long long, "%lld")
#define ASSERT_LT_U64(a, b) T_CMP_(a, <, b, unsigned long long, "%llu")
#define ASSERT_LE_U64(a, b) T_CMP_(a, <=, b, unsigned long long, "%llu")
#define ASSERT_GT_U64(a, b) T_CMP_(a, >, b, unsigned long long, "%llu")
#define ASSERT_GE_U64(a, b) T_CMP_(a, >=, b, unsigned long long, "%llu")

#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)

#define ASSERT_STR_EQ(a, b)                                                    \
    do {                                                                       \
        const char *t_sa_ = (a), *t_sb_ = (b);                                 \
        if (t_sa_ == NULL || t_sb_ == NULL || strcmp(t_sa_, t_sb_) != 0)       \
            FAIL("%s == %s: \"%s\" vs \"%s\"", #a, #b,                         \
                 t_sa_ ? t_sa_ : "(null)", t_sb_ ? t_sb_ : "(null)");          \
    } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                       \
    do {                                                                       \
        const char *t_h_ = (hay), *t_n_ = (needle);                            \
        if (t_h_ == NULL || strstr(t_h_, t_n_) == NULL)                        \
            FAIL("\"%s\" does not contain \"%s\"", t_h_ ? t_h_ : "(null)",     \
                 t_n_);                                                        \
    } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                 \
    do {                                                                       \
        size_t t_n_ = (n);                                                     \
        if (t_n_ && memcmp((a), (b), t_n_) != 0)                               \
            FAIL("%s and %s differ (%zu bytes, first at %zu)", #a, #b, t_n_,   \
                 t_first_diff((a), (b), t_n_));                                \
    } while (0)

size_t t_first_diff(const void *a, const void *b, size_t n);

/* A libbrain call that must succeed. */
#define ASSERT_OK(expr)                                                        \
    do {                                                                       \
        int t_rc_ = (expr);                                                    \
        if (t_rc_ != 0) {                                                      \
            const char *t_d_ = t_detail_copy();                                \
            FAIL("%s returned %d %s: %s", #expr, t_rc_, brain_errname(t_rc_),  \
                 t_d_);                                                        \
        }                                                                      \
    } while (0)

/* A libbrain call that must fail with CODE, leaving a detail sentence. */
#define ASSERT_ERR(expr, code)                                                 \
    do {                                                                       \
        int t_rc_ = (expr);                                                    \
        const char *t_d_ = t_detail_copy();                                    \
        if (t_rc_ != (code))                                                   \
            FAIL("%s returned %d %s (%s), expected %s", #expr, t_rc_,          \
                 brain_errname(t_rc_), t_d_, brain_errname(code));             \
        t_check_detail(__FILE__, __LINE__, #expr, t_d_);                       \
    } while (0)

/* Must fail with one of two codes (where the header allows either). */
#define ASSERT_ERR2(expr, code1, code2)                                        \
    do {                                                                       \
        int t_rc_ = (expr);                                                    \
        const char *t_d_ = t_detail_copy();                                    \
        if (t_rc_ != (code1) && t_rc_ != (code2))                              \
            FAIL("%s returned %d %s (%s), expected %s or %s", #expr, t_rc_,    \
                 brain_errname(t_rc_), t_d_, brain_errname(code1),             \
                 brain_errname(code2));                                        \
        t_check_detail(__FILE__, __LINE__, #expr, t_d_);                       \
    } while (0)

/* The detail of a failure must be a sentence: non-empty, some words. */
void t_check_detail(const char *file, int line, const char *expr,
                    const char *detail);

/* ---- per-test environment ------------------------------------------------ */

/* The test process's pid (also in its helpers): it names the test's stores. */
extern pid_t t_test_pid;

/* The directory of bare store names (brain_resolve): /dev/shm on Linux,
 * $TMPDIR on macOS.  The tests' stores go there. */
const char *t_store_dir(void);
/* Absolute path of store number n of this test: t_store_dir()/brain-t<pid>-<n>.
 * The runner removes every t_store_dir()/brain-t<pid>-* left when the test ends. */
const char *t_store(int n);
/* The same store as a bare name ("t<pid>-<n>"), resolved by the library. */
const char *t_store_name(int n);
/* Scratch directory of this test (removed by the runner), and a path in it. */
const char *t_dir(void);
const char *t_path(const char *leaf);

/* Creates store n (must not exist) with the given capacity (0 = default). */
brain *t_create(int n, uint64_t capacity);
brain *t_create_cfg(int n, const brain_config *cfg);
brain *t_open(int n);
/* Closes and removes the store. */
void t_destroy(brain *b, int n);

/* ---- values that carry their own checksum -------------------------------- */
#define T_VHDR 32 /* header bytes of a checked value */
/* Fills buf[0..size) (size >= T_VHDR, or any size: smaller values are all
 * derived from the seed) so that t_vcheck can verify it. */
void t_vfill(void *buf, size_t size, uint64_t seed);
/* 0 when buf holds a valid value of exactly size bytes; *seed gets its seed.
 * -1 otherwise; why says what is wrong. */
int t_vcheck(const void *buf, size_t size, uint64_t *seed, const char **why);
#define ASSERT_VALUE(buf, size, seed_expected)                                 \
    do {                                                                       \
        uint64_t t_s_ = 0;                                                     \
        const char *t_w_ = "";                                                 \
        if (t_vcheck((buf), (size), &t_s_, &t_w_) != 0)                        \
            FAIL("bad value (%zu bytes): %s", (size_t)(size), t_w_);           \
        if (t_s_ != (uint64_t)(seed_expected))                                 \
            FAIL("value seed %" PRIu64 ", expected %" PRIu64, t_s_,            \
                 (uint64_t)(seed_expected));                                   \
    } while (0)

/* ---- misc ---------------------------------------------------------------- */
uint64_t t_rand(uint64_t *state); /* xorshift64* */
uint64_t t_rand_range(uint64_t *state, uint64_t n); /* [0, n) */
int64_t t_now_ns(void);                             /* CLOCK_MONOTONIC */
int64_t t_now_ms(void);
int64_t t_real_ns(void); /* CLOCK_REALTIME */
void t_sleep_ms(double ms);
void *t_xmalloc(size_t n);

/* fork() for helpers: the child's failures exit(1) through _exit. */
pid_t t_fork(void);
int t_in_child(void);
/* Ends a helper child (status 0) without running atexit handlers. */
__attribute__((noreturn)) void t_child_exit(int code);
/* Waits for pid; fails the test unless it exited with status 0. */
void t_wait_ok(pid_t pid);
/* Waits for pid; returns the raw wait status. */
int t_wait_status(pid_t pid);

/* One-byte pipe signalling between processes. */
typedef struct t_chan {
    int rd, wr;
} t_chan;
void t_chan_init(t_chan *c);
void t_chan_send(t_chan *c, char byte);
char t_chan_recv(t_chan *c); /* fails the test on EOF */
int t_chan_recv_timeout(t_chan *c, int timeout_ms); /* -1 on timeout/EOF */
/* Receives from helper PID; fails the test as soon as PID has died. */
char t_chan_recv_from(t_chan *c, pid_t pid);

/* brain_check that must pass; prints every problem reported. */
void t_check_store(brain *b);

/* Reads the used figure of the store. */
uint64_t t_used(brain *b);
brain_stats t_stats(brain *b);

/* Bytes of memory (/dev/shm pages) the store's file holds now. */
uint64_t t_file_ram(brain *b);

/* Reads the store's file and writes it at offset. */
void t_patch(const char *path, off_t off, const void *bytes, size_t n);
off_t t_file_size(const char *path);

#endif /* BRAIN_TEST_H */
