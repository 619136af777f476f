/*
 * util.c - helpers shared by the tests: store names, checked values,
 * processes, pipes, time.  See test.h.
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int t_child_flag;

/* ---- details ------------------------------------------------------------- */
static __thread char t_detail_buf[4096];

const char *t_detail_copy(void)
{
    const char *d = brain_errdetail();
    snprintf(t_detail_buf, sizeof t_detail_buf, "%s", d ? d : "(NULL)");
    return t_detail_buf;
}

void t_check_detail(const char *file, int line, const char *expr,
                    const char *detail)
{
    size_t len = strlen(detail), words = 0;
    for (size_t i = 0; i < len; i++)
        if (detail[i] == ' ')
            words++;
    if (len < 10 || words < 2)
        t_fail(file, line, "%s: brain_errdetail() is not a sentence: \"%s\"",
               expr, detail);
}

size_t t_first_diff(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return i;
    return n;
}

/* ---- names and paths ----------------------------------------------------- */
static char t_paths[64][1100], t_names[64][64], t_dirbuf[64], t_pathbuf[4][512];

const char *t_store_dir(void)
{
    static char dir[1024];
    if (!dir[0]) {
        char buf[1024];
        if (brain_resolve("x", buf, sizeof buf) != BRAIN_OK || !strrchr(buf, '/')) {
            fprintf(stderr, "t_store_dir: brain_resolve(\"x\") failed or is too long\n");
            abort();
        }
        char *slash = strrchr(buf, '/');
        *(slash == buf ? slash + 1 : slash) = '\0';
        memcpy(dir, buf, sizeof dir);
    }
    return dir;
}

const char *t_store(int n)
{
    if (n < 0 || n >= 64)
        FAIL("t_store(%d): 0..63 only", n);
    snprintf(t_paths[n], sizeof t_paths[n], "%s/brain-t%d-%d", t_store_dir(),
             (int)t_test_pid, n);
    return t_paths[n];
}

const char *t_store_name(int n)
{
    if (n < 0 || n >= 64)
        FAIL("t_store_name(%d): 0..63 only", n);
    snprintf(t_names[n], sizeof t_names[n], "t%d-%d", (int)t_test_pid, n);
    return t_names[n];
}

const char *t_dir(void)
{
    snprintf(t_dirbuf, sizeof t_dirbuf, "/tmp/brain-test-%d", (int)t_test_pid);
    return t_dirbuf;
}

const char *t_path(const char *leaf)
{
    static int next;
    char *p = t_pathbuf[next++ & 3];
    snprintf(p, 512, "%s/%s", t_dir(), leaf);
    return p;
}

brain *t_create_cfg(int n, const brain_config *cfg)
{
    brain *b = NULL;
    ASSERT_OK(brain_open(t_store(n), BRAIN_CREATE | BRAIN_EXCL, cfg, &b));
    ASSERT_NOT_NULL(b);
    return b;
}

brain *t_create(int n, uint64_t capacity)
{
    brain_config cfg = {0};
    cfg.capacity = capacity;
    return t_create_cfg(n, &cfg);
}

brain *t_open(int n)
{
    brain *b = NULL;
    ASSERT_OK(brain_open(t_store(n), 0, NULL, &b));
    ASSERT_NOT_NULL(b);
    return b;
}

void t_destroy(brain *b, int n)
{
    ASSERT_OK(brain_close(b));
    ASSERT_OK(brain_destroy(t_store(n)));
}

/* ---- checked values ------------------------------------------------------ */
#define T_VMAGIC 0x56545242u /* "BRTV" */

static uint64_t t_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Body byte generator: 8 bytes per step from (seed, size, index). */
static void t_body(unsigned char *p, size_t n, uint64_t seed, size_t size)
{
    uint64_t k = t_mix(seed ^ (size * 0x9e3779b97f4a7c15ull));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = t_mix(k + i);
        memcpy(p + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = t_mix(k + i);
        memcpy(p + i, &w, n - i);
    }
}

/* Header: magic u32, crc u32 (of size+seed), size u64, seed u64, pad u64. */
void t_vfill(void *buf, size_t size, uint64_t seed)
{
    unsigned char *p = buf;
    if (size < T_VHDR) {
        t_body(p, size, seed, size);
        return;
    }
    uint64_t sz = size;
    uint32_t magic = T_VMAGIC, crc = (uint32_t)t_mix(sz ^ t_mix(seed));
    uint64_t pad = ~seed;
    memcpy(p, &magic, 4);
    memcpy(p + 4, &crc, 4);
    memcpy(p + 8, &sz, 8);
    memcpy(p + 16, &seed, 8);
    memcpy(p + 24, &pad, 8);
    t_body(p + T_VHDR, size - T_VHDR, seed, size);
}

int t_vcheck(const void *buf, size_t size, uint64_t *seed, const char **why)
{
    static __thread unsigned char tmp[4096];
    const unsigned char *p = buf;
    if (size < T_VHDR) {
        /* small values are checked against the seed the caller expects */
        *why = "value too small to carry a header";
        return -1;
    }
    uint32_t magic, crc;
    uint64_t sz, sd, pad;
    memcpy(&magic, p, 4);
    memcpy(&crc, p + 4, 4);
    memcpy(&sz, p + 8, 8);
    memcpy(&sd, p + 16, 8);
    memcpy(&pad, p + 24, 8);
    if (magic != T_VMAGIC) {
        *why = "bad magic";
        return -1;
    }
    if (crc != (uint32_t)t_mix(sz ^ t_mix(sd)) || pad != ~sd) {
        *why = "bad header checksum";
        return -1;
    }
    if (sz != size) {
        *why = "size in header differs from the value's size";
        return -1;
    }
    *seed = sd;
    for (size_t off = T_VHDR; off < size; off += sizeof tmp) {
        size_t n = size - off < sizeof tmp ? size - off : sizeof tmp;
        /* regenerate the chunk: the generator is positional */
        uint64_t k = t_mix(sd ^ (size * 0x9e3779b97f4a7c15ull));
        size_t base = off - T_VHDR; /* multiple of 4096, so of 8 */
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w = t_mix(k + base + i);
            memcpy(tmp + i, &w, 8);
        }
        if (i < n) {
            uint64_t w = t_mix(k + base + i);
            memcpy(tmp + i, &w, n - i);
        }
        if (memcmp(tmp, p + off, n) != 0) {
            *why = "body differs from its seed (torn or overwritten value)";
            return -1;
        }
    }
    return 0;
}

/* ---- misc ---------------------------------------------------------------- */
uint64_t t_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x2545f4914f6cdd1dull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint64_t t_rand_range(uint64_t *s, uint64_t n)
{
    return n ? t_rand(s) % n : 0;
}

int64_t t_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t t_now_ms(void) { return t_now_ns() / 1000000; }

int64_t t_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void t_sleep_ms(double ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void *t_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        FAIL("out of memory (%zu bytes)", n);
    return p;
}

pid_t t_fork(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        FAIL("fork: %s", strerror(errno));
    if (pid == 0)
        t_child_flag = 1;
    return pid;
}

int t_in_child(void) { return t_child_flag; }

void t_child_exit(int code)
{
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

int t_wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            FAIL("waitpid(%d): %s", (int)pid, strerror(errno));
    return st;
}

void t_wait_ok(pid_t pid)
{
    int st = t_wait_status(pid);
    if (WIFSIGNALED(st))
        FAIL("helper process %d killed by signal %d (%s)", (int)pid,
             WTERMSIG(st), strsignal(WTERMSIG(st)));
    if (WEXITSTATUS(st) != 0)
        FAIL("helper process %d exited with %d (see its output above)",
             (int)pid, WEXITSTATUS(st));
}

void t_chan_init(t_chan *c)
{
    int fds[2];
    if (pipe(fds) != 0)
        FAIL("pipe: %s", strerror(errno));
    c->rd = fds[0];
    c->wr = fds[1];
}

void t_chan_send(t_chan *c, char byte)
{
    while (write(c->wr, &byte, 1) != 1)
        if (errno != EINTR)
            FAIL("pipe write: %s", strerror(errno));
}

char t_chan_recv(t_chan *c)
{
    char byte;
    for (;;) {
        ssize_t r = read(c->rd, &byte, 1);
        if (r == 1)
            return byte;
        if (r == 0)
            FAIL("pipe closed: the other process is gone");
        if (errno != EINTR)
            FAIL("pipe read: %s", strerror(errno));
    }
}

char t_chan_recv_from(t_chan *c, pid_t pid)
{
    for (;;) {
        int r = t_chan_recv_timeout(c, 50);
        if (r >= 0)
            return (char)r;
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (WIFSIGNALED(st))
                FAIL("helper process %d died of signal %d (%s) before "
                     "answering", (int)pid, WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
            FAIL("helper process %d exited with %d before answering",
                 (int)pid, WEXITSTATUS(st));
        }
    }
}

int t_chan_recv_timeout(t_chan *c, int timeout_ms)
{
    struct pollfd p = {c->rd, POLLIN, 0};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return -1;
    char byte;
    if (read(c->rd, &byte, 1) != 1)
        return -1;
    return (unsigned char)byte;
}

static void t_report(void *ctx, const char *msg)
{
    int *n = ctx;
    (*n)++;
    fprintf(stderr, "brain_check: %s\n", msg);
}

void t_check_store(brain *b)
{
    int problems = 0;
    int rc = brain_check(b, t_report, &problems);
    if (rc != 0)
        FAIL("brain_check returned %s with %d problems (%s)",
             brain_errname(rc), problems, t_detail_copy());
    ASSERT_EQ_INT(problems, 0);
}

brain_stats t_stats(brain *b)
{
    brain_stats st;
    memset(&st, 0xAB, sizeof st);
    ASSERT_OK(brain_stats_get(b, &st));
    return st;
}

uint64_t t_used(brain *b) { return t_stats(b).used; }

uint64_t t_file_ram(brain *b)
{
    struct stat sb;
    ASSERT_EQ_INT(stat(brain_path(b), &sb), 0);
    return (uint64_t)sb.st_blocks * 512;
}

void t_patch(const char *path, off_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        FAIL("open %s: %s", path, strerror(errno));
    if (pwrite(fd, bytes, n, off) != (ssize_t)n)
        FAIL("pwrite %s: %s", path, strerror(errno));
    close(fd);
}

off_t t_file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        FAIL("stat %s: %s", path, strerror(errno));
    return st.st_size;
}

/* ---- slow builds and valgrind ---------------------------------------------- */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define T_HAVE_VALGRIND_H 1
#endif
#endif

int t_slow(void)
{
    static int slow = -1;
    if (slow < 0) {
        const char *e = getenv("BRAIN_TEST_SLOW");
        slow = T_SANITIZED || (e && *e && strcmp(e, "0") != 0);
#ifdef T_HAVE_VALGRIND_H
        if (RUNNING_ON_VALGRIND)
            slow = 1;
#endif
    }
    return slow;
}
