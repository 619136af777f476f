/*
 * bench_store.c - the C benchmark of libbrain against its peers, side by
 * side in one run: LMDB for small gets, memcpy for large puts, and the
 * store itself at 1,000 names for the 1,000,000-name workload.
 *
 *   build/bench-store [--quick] [--json FILE] [--procs 1,2,4] [--repeats N]
 *                     [--names N] [--big-mb N] [--seconds S] [--mp-seconds S]
 *                     [--only 1,2,3,4] [--ops N]
 *   (bench/README.md explains the options and how to read the table)
 *
 * Workloads (each figure is the median of several repeats, with min/max):
 *   1. uncontended get of a 100-byte value, random keys among 1,000 names:
 *      brain_read (copy out), brain_get + brain_view_release (zero copy),
 *      LMDB renew/get/reset (zero copy, and with a copy into a buffer);
 *   2. the same gets from 1, 2, ... processes at once (fork, start together
 *      through a pipe, each runs a fixed time): total ops/s and scaling;
 *   3. put of a 100 MB value: brain_put (arena warmed by put, replace, delete),
 *      brain_put replacing the name, reserve + memcpy + publish, against
 *      memcpy into already-touched memory (and, for reference, into fresh
 *      /dev/shm pages);
 *   4. put (replace an existing name) and get with 1,000,000 names against
 *      the same with 1,000 names, random keys among all names and among a
 *      hot set of 1,000 (LMDB and an in-process hash table alongside).
 *   Workloads 1 and 4 also show a minimal in-process hash table as the
 *   reference limit of what the hardware allows.
 *
 * Goals (from the design): brain get no slower than LMDB and under 250 ns;
 * 2 processes >= 1.6x one; 100 MB put within 2x of memcpy; 1M-name put and
 * get within 2x of 1k names.  They are reported, never asserted: machines
 * are shared and noisy.  The exit status is 0 unless the benchmark itself
 * failed (a call returned an error, a value read back wrong).
 *
 * Stores live under /dev/shm with names unique to this run and are removed
 * at the end, on error and on SIGINT/SIGTERM/SIGHUP.
 */
#include "brain.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VALUE_SIZE 100u
#define SMALL_NAMES 1000u
#define MAX_RESULTS 128
#define MAX_CMP 64
#define MAX_PROCS_LIST 16
#define MAX_PROCS 1024
#define BATCH 256u
#define NAME_BUF 32

/* ------------------------------------------------------------------------
 * Options.
 * ------------------------------------------------------------------------ */
static struct {
    int quick;
    const char *json;
    int procs[MAX_PROCS_LIST];
    int nprocs;
    int repeats;       /* repeats of the ns/op and 100 MB figures */
    int mp_repeats;    /* repeats of each multi-process run */
    double dur_get;    /* seconds per ns/op repeat */
    double dur_mp;     /* seconds each process runs in workload 2 */
    uint64_t big;      /* bytes of the large value */
    uint32_t names;    /* names of the large workload 4 */
    uint64_t capacity; /* capacity of the workload-4 stores */
    int only[5];       /* only[i]: run workload i */
    uint64_t fixed_ops; /* > 0: each get/put figure runs this many ops
                           instead of a fixed time (for profiling) */
} opt;

/* ------------------------------------------------------------------------
 * Clean-up: every file this run creates is registered here.
 * ------------------------------------------------------------------------ */
#define MAX_FILES 32
static char g_files[MAX_FILES][128]; /* files to unlink */
static char g_dirs[MAX_FILES][128];  /* then directories to rmdir */
static int g_nfiles, g_ndirs;
static pid_t g_parent;
static int g_child; /* in a forked worker: never clean up */

static void reg_file(const char *path)
{
    if (g_nfiles < MAX_FILES)
        snprintf(g_files[g_nfiles++], sizeof g_files[0], "%s", path);
}

static void reg_dir(const char *path)
{
    if (g_ndirs < MAX_FILES)
        snprintf(g_dirs[g_ndirs++], sizeof g_dirs[0], "%s", path);
}

/* Async-signal-safe: unlink and rmdir only. */
static void cleanup_files(void)
{
    if (g_child || getpid() != g_parent)
        return;
    for (int i = 0; i < g_nfiles; i++)
        if (g_files[i][0])
            unlink(g_files[i]);
    for (int i = 0; i < g_ndirs; i++)
        if (g_dirs[i][0])
            rmdir(g_dirs[i]);
}

static void on_signal(int sig)
{
    cleanup_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-store: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (g_child)
        _exit(3);
    exit(1); /* atexit removes the files */
}

#define BCHK(call)                                                             \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != 0)                                                          \
            die("line %d: %s: %s (%s): %s", __LINE__, #call,                   \
                brain_errname(rc_), brain_strerror(rc_), brain_errdetail());   \
    } while (0)

#define MCHK(call)                                                             \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != 0)                                                          \
            die("line %d: %s: %s", __LINE__, #call, mdb_strerror(rc_));        \
    } while (0)

/* ------------------------------------------------------------------------
 * Timing, random keys, names.
 * ------------------------------------------------------------------------ */
static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Where results land so that no read is optimised away. */
static volatile uint64_t g_sink;

#define CLOBBER() __asm__ __volatile__("" ::: "memory")

static inline uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static inline uint32_t rand_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((xorshift(s) >> 32) * (uint64_t)n) >> 32);
}

/* Names are "key-DDDDDDDDD" (13 bytes), formatted on the fly from three
 * 3-digit groups, so the cost is the same (a few ns) whatever the number
 * of names, and no name table competes for the cache. */
static char g_digits[1000][4];
#define NAME_LEN 13u

static void digits_init(void)
{
    for (int i = 0; i < 1000; i++) {
        g_digits[i][0] = (char)('0' + i / 100);
        g_digits[i][1] = (char)('0' + i / 10 % 10);
        g_digits[i][2] = (char)('0' + i % 10);
        g_digits[i][3] = 0;
    }
}

static inline void fmt_name(char *buf, uint32_t i)
{
    memcpy(buf, "key-", 4);
    memcpy(buf + 4, g_digits[i / 1000000u % 1000u], 3);
    memcpy(buf + 7, g_digits[i / 1000u % 1000u], 3);
    memcpy(buf + 10, g_digits[i % 1000u], 3);
    buf[13] = 0;
}

/* The 100-byte value of name i (generation g): checkable when read back. */
static void fill_value(uint8_t *v, uint32_t i, uint32_t g)
{
    for (unsigned k = 0; k < VALUE_SIZE; k++)
        v[k] = (uint8_t)(i * 31u + k * 7u + g);
    memcpy(v, &i, sizeof i);
}

static int check_value(const uint8_t *v, size_t size, uint32_t i)
{
    uint32_t got;
    if (size != VALUE_SIZE)
        return 0;
    memcpy(&got, v, sizeof got);
    return got == i;
}

/* ------------------------------------------------------------------------
 * Results.
 * ------------------------------------------------------------------------ */
typedef struct {
    char id[48];
    char label[128];
    char unit[16];
    double med, min, max;
    int n;
    double samples[64];
    int wl;
} result;

typedef struct {
    char label[160];
    double ratio;
    char goal[64];
    char met[8];
    int wl;
} comparison;

static result g_res[MAX_RESULTS];
static int g_nres;
static comparison g_cmp[MAX_CMP];
static int g_ncmp;

static result *res_new(int wl, const char *id, const char *unit,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static result *res_new(int wl, const char *id, const char *unit,
                       const char *fmt, ...)
{
    if (g_nres >= MAX_RESULTS)
        die("too many results");
    result *r = &g_res[g_nres++];
    memset(r, 0, sizeof *r);
    r->wl = wl;
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->label, sizeof r->label, fmt, ap);
    va_end(ap);
    return r;
}

static void res_add(result *r, double v)
{
    if (r->n < (int)(sizeof r->samples / sizeof r->samples[0]))
        r->samples[r->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void res_finish(result *r)
{
    double s[64];
    if (r->n == 0)
        return;
    memcpy(s, r->samples, sizeof(double) * (size_t)r->n);
    qsort(s, (size_t)r->n, sizeof s[0], cmp_double);
    r->min = s[0];
    r->max = s[r->n - 1];
    r->med = (r->n & 1) ? s[r->n / 2] : (s[r->n / 2 - 1] + s[r->n / 2]) / 2;
}

static const result *res_find(const char *id)
{
    for (int i = 0; i < g_nres; i++)
        if (strcmp(g_res[i].id, id) == 0)
            return &g_res[i];
    return NULL;
}

/* kind: '<' ratio must be <= goal, '>' ratio must be >= goal. */
static void cmp_add(int wl, double ratio, char kind, double goal,
                    const char *goal_text, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void cmp_add(int wl, double ratio, char kind, double goal,
                    const char *goal_text, const char *fmt, ...)
{
    if (g_ncmp >= MAX_CMP)
        return;
    comparison *c = &g_cmp[g_ncmp++];
    memset(c, 0, sizeof *c);
    c->wl = wl;
    c->ratio = ratio;
    snprintf(c->goal, sizeof c->goal, "%s", goal_text);
    if (kind == 0 || ratio < 0)
        snprintf(c->met, sizeof c->met, "-");
    else
        snprintf(c->met, sizeof c->met, "%s",
                 (kind == '<' ? ratio <= goal : ratio >= goal) ? "yes" : "NO");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->label, sizeof c->label, fmt, ap);
    va_end(ap);
}

/* Median ratio of two results (a / b); -1 when one is missing. */
static double ratio_of(const char *a, const char *b)
{
    const result *x = res_find(a), *y = res_find(b);
    if (!x || !y || x->n == 0 || y->n == 0 || y->med == 0)
        return -1;
    return x->med / y->med;
}

/* ------------------------------------------------------------------------
 * Stores.
 * ------------------------------------------------------------------------ */
static char g_prefix[64]; /* "/dev/shm/brain-bench-PID" */

static brain *store_create(const char *tag, uint64_t capacity, uint32_t max_procs,
                           char *path_out, size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, "%s-%s", g_prefix, tag);
    reg_file(path);
    brain_config cfg = {.capacity = capacity, .max_procs = max_procs};
    brain *b = NULL;
    BCHK(brain_open(path, BRAIN_CREATE | BRAIN_EXCL, &cfg, &b));
    if (path_out)
        snprintf(path_out, cap, "%s", path);
    return b;
}

static void store_destroy(brain *b)
{
    char path[BRAIN_PATH_MAX];
    snprintf(path, sizeof path, "%s", brain_path(b));
    brain_close(b);
    brain_destroy(path);
}

static void brain_fill(brain *b, uint32_t n)
{
    char name[NAME_BUF];
    uint8_t v[VALUE_SIZE];
    for (uint32_t i = 0; i < n; i++) {
        fmt_name(name, i);
        fill_value(v, i, 0);
        BCHK(brain_put(b, NULL, name, v, VALUE_SIZE, NULL, NULL));
    }
}

static void brain_verify(brain *b, uint32_t n)
{
    char name[NAME_BUF];
    uint8_t v[VALUE_SIZE + 28];
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int k = 0; k < 1000; k++) {
        uint32_t i = k < 2 ? (k ? n - 1 : 0) : rand_below(&s, n);
        size_t size = 0;
        fmt_name(name, i);
        BCHK(brain_read(b, NULL, name, v, sizeof v, &size, NULL));
        if (!check_value(v, size, i))
            die("brain_read of %s returned a wrong value (%zu bytes)", name, size);
        brain_view view;
        BCHK(brain_get(b, NULL, name, &view));
        if (!check_value(view.data, view.size, i))
            die("brain_get of %s returned a wrong value", name);
        brain_view_release(b, &view);
    }
}

typedef struct {
    char dir[128];
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn; /* read-only, kept reset between gets */
} lmdb_t;

static void lmdb_open(lmdb_t *l, const char *dir, int create, int rdonly)
{
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    if (create) {
        if (mkdir(dir, 0700) != 0)
            die("mkdir %s: %s", dir, strerror(errno));
        char f[160];
        snprintf(f, sizeof f, "%s/data.mdb", dir);
        reg_file(f);
        snprintf(f, sizeof f, "%s/lock.mdb", dir);
        reg_file(f);
        reg_dir(dir);
    }
    MCHK(mdb_env_create(&l->env));
    MCHK(mdb_env_set_mapsize(l->env, (size_t)8 << 30));
    MCHK(mdb_env_set_maxreaders(l->env, MAX_PROCS + 16));
    unsigned fl = MDB_NOSYNC | MDB_NOMETASYNC | MDB_NORDAHEAD |
                  (rdonly ? MDB_RDONLY : MDB_WRITEMAP);
    MCHK(mdb_env_open(l->env, dir, fl, 0600));
    MDB_txn *t;
    MCHK(mdb_txn_begin(l->env, NULL, rdonly ? MDB_RDONLY : 0, &t));
    MCHK(mdb_dbi_open(t, NULL, 0, &l->dbi));
    MCHK(mdb_txn_commit(t));
    MCHK(mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->rtxn));
    mdb_txn_reset(l->rtxn);
}

static void lmdb_close(lmdb_t *l)
{
    if (!l->env)
        return;
    mdb_txn_abort(l->rtxn);
    mdb_env_close(l->env);
    l->env = NULL;
}

static void lmdb_fill(lmdb_t *l, uint32_t n)
{
    char name[NAME_BUF];
    uint8_t v[VALUE_SIZE];
    MDB_txn *t;
    MCHK(mdb_txn_begin(l->env, NULL, 0, &t));
    for (uint32_t i = 0; i < n; i++) {
        fmt_name(name, i);
        fill_value(v, i, 0);
        MDB_val k = {NAME_LEN, name}, d = {VALUE_SIZE, v};
        /* names are generated in sorted order: MDB_APPEND is fine */
        MCHK(mdb_put(t, l->dbi, &k, &d, MDB_APPEND));
        if (i % 100000 == 99999) {
            MCHK(mdb_txn_commit(t));
            MCHK(mdb_txn_begin(l->env, NULL, 0, &t));
        }
    }
    MCHK(mdb_txn_commit(t));
}

/* ------------------------------------------------------------------------
 * Get loops.  Each runs for DUR ns in batches of BATCH ops and returns the
 * number of ops; *elapsed gets the time.  Keys are random among N.
 * ------------------------------------------------------------------------ */
enum { OP_NONE, OP_BREAD, OP_BGET, OP_LGET, OP_LGETCOPY, OP_BPUT, OP_LPUT,
       OP_HGET, OP_HPUT };

/* A reference, not a peer: a minimal in-process hash table with the same
 * keys and a similar footprint (an index of 32-bit slots, linear probing,
 * and one 320-byte record per name holding the key and the value, about
 * what a store entry takes).  Its lookup + copy is what the hardware costs
 * at a given number of names: it shows how much of the 1M-vs-1k gap is
 * cache and TLB misses that no store can avoid. */
#define HREC 320u
typedef struct {
    uint32_t n, mask;
    uint32_t *idx;
    uint8_t *rec;
} href_t;

static inline uint64_t fnv(const char *s, size_t n)
{
    uint64_t x = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ (uint8_t)s[i]) * 1099511628211ull;
    return x ^ (x >> 29);
}

static inline uint8_t *href_find(const href_t *h, const char *name)
{
    uint64_t i = fnv(name, NAME_LEN) & h->mask;
    for (;; i = (i + 1) & h->mask) {
        uint32_t e = h->idx[i];
        if (e == 0)
            return NULL;
        uint8_t *r = h->rec + (size_t)(e - 1) * HREC;
        if (memcmp(r, name, NAME_LEN + 1) == 0)
            return r;
    }
}

static void href_build(href_t *h, uint32_t n)
{
    uint32_t slots = 1024;
    while (slots < 2 * n)
        slots *= 2;
    h->n = n;
    h->mask = slots - 1;
    h->idx = calloc(slots, sizeof *h->idx);
    h->rec = aligned_alloc(64, (size_t)n * HREC);
    if (!h->idx || !h->rec)
        die("out of memory for the reference hash table");
    char name[NAME_BUF];
    for (uint32_t k = 0; k < n; k++) {
        uint8_t *r = h->rec + (size_t)k * HREC;
        memset(r, 0, HREC);
        fmt_name(name, k);
        memcpy(r, name, NAME_LEN + 1);
        fill_value(r + 192, k, 0);
        uint64_t i = fnv(name, NAME_LEN) & h->mask;
        while (h->idx[i])
            i = (i + 1) & h->mask;
        h->idx[i] = k + 1;
    }
}

static void href_free(href_t *h)
{
    free(h->idx);
    free(h->rec);
    memset(h, 0, sizeof *h);
}

static href_t *g_href; /* the table run_ops uses for OP_HGET/OP_HPUT */

static const char *op_label(int op)
{
    switch (op) {
    case OP_NONE: return "harness only (random key + name format)";
    case OP_BREAD: return "brain_read (copy out)";
    case OP_BGET: return "brain_get + brain_view_release (zero copy)";
    case OP_LGET: return "LMDB renew/get/reset (zero copy)";
    case OP_LGETCOPY: return "LMDB renew/get/reset + copy out";
    case OP_BPUT: return "brain_put, replace existing";
    case OP_LPUT: return "LMDB put, replace existing (txn per put)";
    case OP_HGET: return "reference: in-process hash table lookup + copy out";
    case OP_HPUT: return "reference: in-process hash table lookup + copy in";
    }
    return "?";
}

static uint64_t run_ops(int op, brain *b, lmdb_t *l, uint32_t n, uint64_t dur,
                        uint64_t seed, uint64_t *elapsed)
{
    char name[NAME_BUF];
    uint8_t buf[VALUE_SIZE + 28];
    uint8_t v[VALUE_SIZE];
    uint64_t s = seed | 1, acc = 0, ops = 0, gen = 1;
    uint64_t t0 = now_ns(), t;
    fill_value(v, 0, 1);
    for (;;) {
        for (unsigned k = 0; k < BATCH; k++) {
            uint32_t i = rand_below(&s, n);
            fmt_name(name, i);
            switch (op) {
            case OP_NONE:
                CLOBBER();
                acc += (uint8_t)name[12];
                break;
            case OP_BREAD: {
                size_t size;
                int rc = brain_read(b, NULL, name, buf, sizeof buf, &size, NULL);
                if (__builtin_expect(rc != 0, 0))
                    BCHK(rc);
                acc += buf[0] + buf[size - 1];
                break;
            }
            case OP_BGET: {
                brain_view view;
                int rc = brain_get(b, NULL, name, &view);
                if (__builtin_expect(rc != 0, 0))
                    BCHK(rc);
                const uint8_t *d = view.data;
                acc += d[0] + d[view.size - 1];
                brain_view_release(b, &view);
                break;
            }
            case OP_LGET:
            case OP_LGETCOPY: {
                MDB_val key = {NAME_LEN, name}, val;
                int rc = mdb_txn_renew(l->rtxn);
                if (__builtin_expect(rc != 0, 0))
                    MCHK(rc);
                rc = mdb_get(l->rtxn, l->dbi, &key, &val);
                if (__builtin_expect(rc != 0, 0))
                    MCHK(rc);
                if (op == OP_LGETCOPY) {
                    if (val.mv_size <= sizeof buf)
                        memcpy(buf, val.mv_data, val.mv_size);
                    acc += buf[0] + buf[val.mv_size - 1];
                } else {
                    const uint8_t *d = val.mv_data;
                    acc += d[0] + d[val.mv_size - 1];
                }
                mdb_txn_reset(l->rtxn);
                break;
            }
            case OP_BPUT: {
                memcpy(v, &i, sizeof i); /* keeps the value checkable */
                v[VALUE_SIZE - 1] = (uint8_t)gen++;
                int rc = brain_put(b, NULL, name, v, VALUE_SIZE, NULL, NULL);
                if (__builtin_expect(rc != 0, 0))
                    BCHK(rc);
                break;
            }
            case OP_HGET: {
                const uint8_t *r = href_find(g_href, name);
                if (__builtin_expect(r == NULL, 0))
                    die("reference table lost %s", name);
                memcpy(buf, r + 192, VALUE_SIZE);
                CLOBBER();
                acc += buf[0] + buf[VALUE_SIZE - 1];
                break;
            }
            case OP_HPUT: {
                uint8_t *r = href_find(g_href, name);
                if (__builtin_expect(r == NULL, 0))
                    die("reference table lost %s", name);
                memcpy(v, &i, sizeof i);
                v[VALUE_SIZE - 1] = (uint8_t)gen++;
                memcpy(r + 192, v, VALUE_SIZE);
                CLOBBER();
                break;
            }
            case OP_LPUT: {
                memcpy(v, &i, sizeof i);
                v[VALUE_SIZE - 1] = (uint8_t)gen++;
                MDB_txn *txn;
                MDB_val key = {NAME_LEN, name}, val = {VALUE_SIZE, v};
                MCHK(mdb_txn_begin(l->env, NULL, 0, &txn));
                MCHK(mdb_put(txn, l->dbi, &key, &val, 0));
                MCHK(mdb_txn_commit(txn));
                break;
            }
            }
        }
        ops += BATCH;
        t = now_ns();
        if (opt.fixed_ops ? ops >= opt.fixed_ops : t - t0 >= dur)
            break;
    }
    g_sink += acc;
    *elapsed = t - t0;
    return ops;
}

static double ns_per_op(int op, brain *b, lmdb_t *l, uint32_t n, double secs,
                        uint64_t seed)
{
    uint64_t el;
    uint64_t ops = run_ops(op, b, l, n, (uint64_t)(secs * 1e9), seed, &el);
    return (double)el / (double)ops;
}

/* ------------------------------------------------------------------------
 * Workload 1: uncontended 100-byte gets among 1,000 names.
 * ------------------------------------------------------------------------ */
static brain *g_small;     /* 1,000 names, workloads 1 and 2 */
static char g_small_path[BRAIN_PATH_MAX];
static lmdb_t g_small_l;   /* the same in LMDB */
static char g_small_ldir[128];

static void setup_small(void)
{
    /* room for every worker of workload 2 (each opens its own handle) and
     * the parent's, or the default when that is enough: a writer's cost
     * grows with the process table, so keep it no larger than needed */
    int maxp = 1;
    for (int p = 0; p < opt.nprocs; p++)
        if (opt.procs[p] > maxp)
            maxp = opt.procs[p];
    uint32_t slots = 2u * (uint32_t)maxp + 8u;
    if (slots < BRAIN_DEFAULT_MAX_PROCS)
        slots = 0;
    g_small = store_create("small", 64ull << 20, slots, g_small_path,
                           sizeof g_small_path);
    brain_fill(g_small, SMALL_NAMES);
    brain_verify(g_small, SMALL_NAMES);
    snprintf(g_small_ldir, sizeof g_small_ldir, "%s-lmdb-small", g_prefix);
    lmdb_open(&g_small_l, g_small_ldir, 1, 0);
    lmdb_fill(&g_small_l, SMALL_NAMES);
}

static void workload1(void)
{
    static const int ops[] = {OP_NONE, OP_BREAD, OP_BGET, OP_LGET, OP_LGETCOPY,
                              OP_HGET};
    static const char *ids[] = {"w1.harness", "w1.brain_read", "w1.brain_get",
                                "w1.lmdb_get", "w1.lmdb_get_copy", "w1.hash_get"};
    href_t href;
    href_build(&href, SMALL_NAMES);
    g_href = &href;
    enum { NOPS = sizeof ops / sizeof ops[0] };
    result *r[NOPS];
    for (int k = 0; k < NOPS; k++)
        r[k] = res_new(1, ids[k], "ns/op", "%s", op_label(ops[k]));
    /* warm-up, then interleave the variants repeat by repeat */
    for (int k = 0; k < NOPS; k++)
        ns_per_op(ops[k], g_small, &g_small_l, SMALL_NAMES, opt.dur_get / 4, 7);
    for (int rep = 0; rep < opt.repeats; rep++)
        for (int k = 0; k < NOPS; k++)
            res_add(r[k], ns_per_op(ops[k], g_small, &g_small_l, SMALL_NAMES,
                                    opt.dur_get, 1000u + (uint64_t)rep));
    for (int k = 0; k < NOPS; k++)
        res_finish(r[k]);
    href_free(&href);

    const result *br = res_find("w1.brain_read"), *bg = res_find("w1.brain_get");
    cmp_add(1, ratio_of("w1.brain_read", "w1.lmdb_get_copy"), '<', 1.0, "<= 1.0",
            "W1 get: brain_read / LMDB get+copy (time)");
    cmp_add(1, ratio_of("w1.brain_get", "w1.lmdb_get"), '<', 1.0, "<= 1.0",
            "W1 get: brain_get+release / LMDB get (time)");
    cmp_add(1, ratio_of("w1.brain_read", "w1.hash_get"), 0, 0, "(reference)",
            "W1 get: brain_read / in-process hash table lookup+copy (time)");
    cmp_add(1, br->med, '<', 250, "< 250 ns",
            "W1 get: brain_read absolute, ns/op");
    cmp_add(1, bg->med, '<', 250, "< 250 ns",
            "W1 get: brain_get+release absolute, ns/op");
}

/* ------------------------------------------------------------------------
 * Workload 2: gets from several processes at once.
 * ------------------------------------------------------------------------ */
struct mp_shared {
    _Atomic int ready;
    struct {
        uint64_t ops, start, end, cpu; /* cpu: CPU time the worker got, ns */
        int ok;
    } w[MAX_PROCS];
};

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void mp_child(struct mp_shared *sh, int idx, int op, int rfd)
{
    g_child = 1;
    brain *b = NULL;
    lmdb_t l;
    memset(&l, 0, sizeof l);
    if (op == OP_BREAD || op == OP_BGET)
        BCHK(brain_open(g_small_path, 0, NULL, &b));
    else
        lmdb_open(&l, g_small_ldir, 0, 1);
    uint64_t el;
    run_ops(op, b, &l, SMALL_NAMES, 20000000ull, 77u + (uint64_t)idx, &el);
    atomic_fetch_add(&sh->ready, 1);
    char c;
    while (read(rfd, &c, 1) < 0 && errno == EINTR)
        ;
    uint64_t cpu0 = cpu_ns();
    uint64_t start = now_ns();
    uint64_t ops = run_ops(op, b, &l, SMALL_NAMES, (uint64_t)(opt.dur_mp * 1e9),
                           0xabcdefull * (uint64_t)(idx + 1), &el);
    sh->w[idx].cpu = cpu_ns() - cpu0;
    sh->w[idx].ops = ops;
    sh->w[idx].start = start;
    sh->w[idx].end = start + el;
    sh->w[idx].ok = 1;
    if (b)
        brain_close(b);
    lmdb_close(&l);
    _exit(0);
}

/* Total ops/s of NP processes running OP at once; *cpus gets how many
 * CPUs they obtained on average (CPU time over the span): below NP on a
 * machine with fewer free cores. */
static double mp_run(struct mp_shared *sh, int np, int op, double *cpus)
{
    int pfd[2];
    pid_t pids[MAX_PROCS];
    memset(sh, 0, sizeof *sh);
    if (pipe(pfd) != 0)
        die("pipe: %s", strerror(errno));
    fflush(NULL);
    for (int i = 0; i < np; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork: %s", strerror(errno));
        if (pids[i] == 0) {
            close(pfd[1]);
            mp_child(sh, i, op, pfd[0]);
        }
    }
    close(pfd[0]);
    uint64_t t0 = now_ns();
    while (atomic_load(&sh->ready) < np) {
        if (now_ns() - t0 > 60000000000ull)
            die("workload 2: workers did not get ready within 60 s");
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0)
            die("workload 2: a worker exited early (status %d)", st);
        usleep(1000);
    }
    close(pfd[1]); /* every worker's read() returns: go */
    for (int i = 0; i < np; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("workload 2: worker %d failed (status %d)", i, st);
    }
    uint64_t ops = 0, start = UINT64_MAX, end = 0, cpu = 0;
    for (int i = 0; i < np; i++) {
        if (!sh->w[i].ok)
            die("workload 2: worker %d reported nothing", i);
        ops += sh->w[i].ops;
        cpu += sh->w[i].cpu;
        if (sh->w[i].start < start)
            start = sh->w[i].start;
        if (sh->w[i].end > end)
            end = sh->w[i].end;
    }
    *cpus = (double)cpu / (double)(end - start);
    return (double)ops / ((double)(end - start) / 1e9);
}

static void workload2(void)
{
    static const int ops[] = {OP_BREAD, OP_BGET, OP_LGETCOPY};
    static const char *tags[] = {"brain_read", "brain_get", "lmdb_get_copy"};
    enum { NOPS = sizeof ops / sizeof ops[0] };
    result *r[NOPS][MAX_PROCS_LIST], *rc[NOPS][MAX_PROCS_LIST];
    struct mp_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    /* LMDB must not be open in a process that forks workers using it */
    lmdb_close(&g_small_l);
    for (int k = 0; k < NOPS; k++)
        for (int p = 0; p < opt.nprocs; p++) {
            char id[48];
            snprintf(id, sizeof id, "w2.%s.p%d", tags[k], opt.procs[p]);
            r[k][p] = res_new(2, id, "Mops/s", "%s, %d process%s, total",
                              op_label(ops[k]), opt.procs[p],
                              opt.procs[p] == 1 ? "" : "es");
            snprintf(id, sizeof id, "w2.%s.p%d.cpus", tags[k], opt.procs[p]);
            rc[k][p] = res_new(2, id, "CPUs", "... CPUs obtained by the %d worker%s",
                               opt.procs[p], opt.procs[p] == 1 ? "" : "s");
        }
    for (int rep = 0; rep < opt.mp_repeats; rep++)
        for (int p = 0; p < opt.nprocs; p++)
            for (int k = 0; k < NOPS; k++) {
                double cpus;
                res_add(r[k][p], mp_run(sh, opt.procs[p], ops[k], &cpus) / 1e6);
                res_add(rc[k][p], cpus);
            }
    for (int k = 0; k < NOPS; k++)
        for (int p = 0; p < opt.nprocs; p++) {
            res_finish(r[k][p]);
            res_finish(rc[k][p]);
        }
    munmap(sh, sizeof *sh);

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int base = -1;
    for (int p = 0; p < opt.nprocs; p++)
        if (opt.procs[p] == 1)
            base = p;
    if (base < 0)
        return;
    for (int k = 0; k < NOPS; k++)
        for (int p = 0; p < opt.nprocs; p++) {
            int np = opt.procs[p];
            if (np == 1)
                continue;
            double ratio = r[k][p]->med / r[k][base]->med;
            char goal[64];
            double ideal = (double)(np < ncpu ? np : ncpu);
            double free_cpus = rc[k][p]->med;
            if (np == 2 && k != NOPS - 1 && free_cpus < 0.8 * ideal) {
                /* other work held the CPUs: the goal cannot be judged */
                snprintf(goal, sizeof goal, ">= 1.6x (not judged: %.2f CPUs free)",
                         free_cpus);
                cmp_add(2, ratio, 0, 0, goal,
                        "W2 %s: %d processes / 1 (total ops/s)", tags[k], np);
            } else if (np == 2 && k != NOPS - 1) {
                cmp_add(2, ratio, '>', 1.6, ">= 1.6x",
                        "W2 %s: %d processes / 1 (total ops/s)", tags[k], np);
            } else {
                snprintf(goal, sizeof goal, "(ideal %.0fx on %ld CPUs)", ideal, ncpu);
                cmp_add(2, ratio, 0, 0, goal,
                        "W2 %s: %d processes / 1 (total ops/s)", tags[k], np);
            }
            /* throughput per CPU obtained, N processes over 1: about 1
             * when the processes do not slow each other down (no shared
             * cache line), whatever CPUs other work leaves free */
            cmp_add(2, (r[k][p]->med / rc[k][p]->med) /
                           (r[k][base]->med / rc[k][base]->med),
                    0, 0, "(reference: ~1)",
                    "W2 %s: ops per CPU-second, %d processes / 1", tags[k], np);
            if (k != NOPS - 1) {
                /* the same ratio over LMDB's: about 1 when brain scales as
                 * well as the peer whatever CPUs other work leaves free */
                double lr = r[NOPS - 1][p]->med / r[NOPS - 1][base]->med;
                cmp_add(2, ratio / lr, 0, 0, "(reference: ~1 or more)",
                        "W2 %s scaling / LMDB scaling, %d processes", tags[k], np);
            }
        }
}

/* ------------------------------------------------------------------------
 * Workload 3: a 100 MB put.
 * ------------------------------------------------------------------------ */
static double gbps(uint64_t bytes, uint64_t ns)
{
    return (double)bytes / (double)ns; /* bytes per ns = GB/s */
}

static void workload3(void)
{
    uint64_t S = opt.big;
    uint8_t *src = aligned_alloc(64, S), *dst = aligned_alloc(64, S);
    if (!src || !dst)
        die("out of memory for two %llu-byte buffers", (unsigned long long)S);
    for (uint64_t i = 0; i < S; i += 8) {
        uint64_t x = i * 0x9e3779b97f4a7c15ull;
        memcpy(src + i, &x, S - i < 8 ? S - i : 8);
    }
    memset(dst, 1, S);

    double mb = (double)S / 1e6;
    result *rm = res_new(3, "w3.memcpy", "GB/s",
                         "memcpy %.0f MB into touched memory", mb);
    result *rp = res_new(3, "w3.brain_put", "GB/s",
                         "brain_put %.0f MB (new name, arena reused)", mb);
    result *rr = res_new(3, "w3.brain_put_replace", "GB/s",
                         "brain_put %.0f MB replacing the name", mb);
    result *rv = res_new(3, "w3.reserve_publish", "GB/s",
                         "brain_reserve + memcpy + brain_publish %.0f MB", mb);
    result *rf = res_new(3, "w3.memcpy_fresh_shm", "GB/s",
                         "memcpy %.0f MB into fresh /dev/shm pages (reference)", mb);

    uint64_t capacity = 4 * S + (64ull << 20);
    brain *b = store_create("big", capacity, 0, NULL, 0);
    /* warm-up: touch the arena once (two blocks: a replace needs both) */
    BCHK(brain_put(b, NULL, "big", src, S, NULL, NULL));
    BCHK(brain_put(b, NULL, "big", src, S, NULL, NULL));
    BCHK(brain_delete(b, NULL, "big"));
    {
        brain_reservation *res;
        void *p;
        BCHK(brain_reserve(b, NULL, "big", S, NULL, &res, &p));
        memcpy(p, src, S);
        BCHK(brain_publish(b, res, NULL));
        BCHK(brain_delete(b, NULL, "big"));
    }
    memcpy(dst, src, S);

    char fresh[128];
    snprintf(fresh, sizeof fresh, "%s-fresh", g_prefix);
    reg_file(fresh);

    for (int rep = 0; rep < opt.repeats; rep++) {
        uint64_t t0 = now_ns();
        memcpy(dst, src, S);
        CLOBBER();
        uint64_t t1 = now_ns();
        g_sink += dst[S - 1];
        res_add(rm, gbps(S, t1 - t0));

        t0 = now_ns();
        BCHK(brain_put(b, NULL, "big", src, S, NULL, NULL));
        t1 = now_ns();
        res_add(rp, gbps(S, t1 - t0));

        t0 = now_ns();
        BCHK(brain_put(b, NULL, "big", src, S, NULL, NULL));
        t1 = now_ns();
        res_add(rr, gbps(S, t1 - t0));
        BCHK(brain_delete(b, NULL, "big"));

        brain_reservation *res;
        void *p;
        t0 = now_ns();
        BCHK(brain_reserve(b, NULL, "big", S, NULL, &res, &p));
        memcpy(p, src, S);
        BCHK(brain_publish(b, res, NULL));
        t1 = now_ns();
        res_add(rv, gbps(S, t1 - t0));
        if (rep == opt.repeats - 1) {
            brain_view view;
            BCHK(brain_get(b, NULL, "big", &view));
            if (view.size != S || memcmp(view.data, src, S) != 0)
                die("workload 3: the %llu-byte value read back differs",
                    (unsigned long long)S);
            brain_view_release(b, &view);
        }
        BCHK(brain_delete(b, NULL, "big"));

        int fd = open(fresh, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)S) != 0)
            die("%s: %s", fresh, strerror(errno));
        void *m = mmap(NULL, S, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
            die("mmap %s: %s", fresh, strerror(errno));
        t0 = now_ns();
        memcpy(m, src, S);
        CLOBBER();
        t1 = now_ns();
        res_add(rf, gbps(S, t1 - t0));
        munmap(m, S);
        close(fd);
        unlink(fresh);
    }
    brain_stats st;
    if (brain_stats_get(b, &st) == 0)
        fprintf(stderr, "workload 3: store file %.1f MB after %d x 4 puts of "
                "%.0f MB (capacity %.0f MB)\n", (double)st.file_size / 1e6,
                opt.repeats, mb, (double)st.capacity / 1e6);
    store_destroy(b);
    free(src);
    free(dst);
    res_finish(rm);
    res_finish(rp);
    res_finish(rr);
    res_finish(rv);
    res_finish(rf);
    /* time ratios: memcpy GB/s over brain GB/s */
    cmp_add(3, rm->med / rp->med, '<', 2.0, "<= 2.0",
            "W3 put %.0f MB: brain_put time / memcpy time", mb);
    cmp_add(3, rm->med / rr->med, '<', 2.0, "<= 2.0",
            "W3 put %.0f MB: brain_put (replace) time / memcpy time", mb);
    cmp_add(3, rm->med / rv->med, '<', 2.0, "<= 2.0",
            "W3 put %.0f MB: reserve+memcpy+publish time / memcpy time", mb);
    cmp_add(3, rm->med / rf->med, 0, 0, "(reference)",
            "W3 memcpy into fresh /dev/shm pages time / memcpy time");
}

/* ------------------------------------------------------------------------
 * Workload 4: 1,000,000 names against 1,000.
 * ------------------------------------------------------------------------ */
static void workload4(void)
{
    uint32_t N = opt.names;
    char tagN[16];
    snprintf(tagN, sizeof tagN, "%u", N);

    brain *bs = store_create("w4-small", opt.capacity, 0, NULL, 0);
    brain *bl = store_create("w4-large", opt.capacity, 0, NULL, 0);
    brain_fill(bs, SMALL_NAMES);
    uint64_t t0 = now_ns();
    brain_fill(bl, N);
    uint64_t t1 = now_ns();
    result *rfill = res_new(4, "w4.brain_fill", "ns/op",
                            "brain_put of a new name, filling %u names", N);
    res_add(rfill, (double)(t1 - t0) / N);
    res_finish(rfill);
    brain_verify(bs, SMALL_NAMES);
    brain_verify(bl, N);

    lmdb_t ls, ll;
    char d[128];
    memset(&ls, 0, sizeof ls);
    memset(&ll, 0, sizeof ll);
    snprintf(d, sizeof d, "%s-lmdb-w4-small", g_prefix);
    lmdb_open(&ls, d, 1, 0);
    lmdb_fill(&ls, SMALL_NAMES);
    snprintf(d, sizeof d, "%s-lmdb-w4-large", g_prefix);
    lmdb_open(&ll, d, 1, 0);
    t0 = now_ns();
    lmdb_fill(&ll, N);
    t1 = now_ns();
    result *rlf = res_new(4, "w4.lmdb_fill", "ns/op",
                          "LMDB append of a new name, filling %u names "
                          "(100k per txn)", N);
    res_add(rlf, (double)(t1 - t0) / N);
    res_finish(rlf);

    static const int ops[] = {OP_BREAD, OP_BPUT, OP_LGETCOPY, OP_LPUT,
                              OP_HGET, OP_HPUT};
    static const char *tags[] = {"brain_read", "brain_put", "lmdb_get_copy",
                                 "lmdb_put", "hash_get", "hash_put"};
    href_t hs, hl;
    href_build(&hs, SMALL_NAMES);
    href_build(&hl, N);
    enum { NOPS = sizeof ops / sizeof ops[0] };
    /* column 0: the 1,000-name store; 1: the large store, random keys among
     * all its names; 2: the large store, random keys among 1,000 of its
     * names (a hot set: the index is large, the data touched is small) */
    result *r[NOPS][3];
    for (int k = 0; k < NOPS; k++) {
        char id[48];
        snprintf(id, sizeof id, "w4.%s.1k", tags[k]);
        r[k][0] = res_new(4, id, "ns/op", "%s, %u names", op_label(ops[k]),
                          SMALL_NAMES);
        snprintf(id, sizeof id, "w4.%s.large", tags[k]);
        r[k][1] = res_new(4, id, "ns/op", "%s, %u names", op_label(ops[k]), N);
        snprintf(id, sizeof id, "w4.%s.hot", tags[k]);
        r[k][2] = res_new(4, id, "ns/op", "%s, %u names, keys among %u of them",
                          op_label(ops[k]), N, SMALL_NAMES);
    }
    for (int rep = -1; rep < opt.repeats; rep++) /* rep -1: warm-up */
        for (int k = 0; k < NOPS; k++)
            for (int c = 0; c < 3; c++) {
                double secs = rep < 0 ? opt.dur_get / 4 : opt.dur_get;
                g_href = c ? &hl : &hs;
                double v = ns_per_op(ops[k], c ? bl : bs, c ? &ll : &ls,
                                     c == 1 ? N : SMALL_NAMES, secs,
                                     500u + 100u * (uint64_t)c + (uint64_t)(rep + 1));
                if (rep >= 0)
                    res_add(r[k][c], v);
            }
    g_href = NULL;
    href_free(&hs);
    href_free(&hl);
    for (int k = 0; k < NOPS; k++)
        for (int c = 0; c < 3; c++)
            res_finish(r[k][c]);
    brain_verify(bs, SMALL_NAMES);
    brain_verify(bl, N);
    brain_stats st;
    if (brain_stats_get(bl, &st) == 0)
        fprintf(stderr, "workload 4: large store: %llu names, index %llu slots, "
                "file %.1f MB, used %.1f MB, limbo %.1f MB, %llu blocks\n",
                (unsigned long long)st.names, (unsigned long long)st.index_slots,
                (double)st.file_size / 1e6, (double)st.used / 1e6,
                (double)st.limbo / 1e6, (unsigned long long)st.blocks);
    store_destroy(bs);
    store_destroy(bl);
    lmdb_close(&ls);
    lmdb_close(&ll);

    for (int c = 1; c < 3; c++)
        for (int k = 0; k < NOPS; k++) {
            int is_brain = ops[k] == OP_BREAD || ops[k] == OP_BPUT;
            double ratio = r[k][c]->med / r[k][0]->med;
            const char *what = c == 1 ? "random keys" : "hot 1,000 keys";
            if (is_brain)
                cmp_add(4, ratio, '<', 2.0, "<= 2.0",
                        "W4 %s: %u names / %u names, %s (time)", tags[k], N,
                        SMALL_NAMES, what);
            else
                cmp_add(4, ratio, 0, 0,
                        ops[k] == OP_HGET || ops[k] == OP_HPUT
                            ? "(hardware reference)"
                            : "(peer, for reference)",
                        "W4 %s: %u names / %u names, %s (time)", tags[k], N,
                        SMALL_NAMES, what);
        }
    cmp_add(4, r[0][1]->med / r[2][1]->med, 0, 0, "(reference)",
            "W4 get at %u names: brain_read / LMDB get+copy (time)", N);
    cmp_add(4, r[1][1]->med / r[3][1]->med, 0, 0, "(reference)",
            "W4 put at %u names: brain_put / LMDB put (time)", N);
    cmp_add(4, r[0][1]->med / r[4][1]->med, 0, 0, "(reference)",
            "W4 get at %u names: brain_read / in-process hash table (time)", N);
    cmp_add(4, r[0][0]->med / r[4][0]->med, 0, 0, "(reference)",
            "W4 get at %u names: brain_read / in-process hash table (time)",
            SMALL_NAMES);
}

/* ------------------------------------------------------------------------
 * Report.
 * ------------------------------------------------------------------------ */
static void fmt_num(char *buf, size_t cap, double v)
{
    if (v >= 1000)
        snprintf(buf, cap, "%.0f", v);
    else if (v >= 100)
        snprintf(buf, cap, "%.1f", v);
    else if (v >= 1)
        snprintf(buf, cap, "%.2f", v);
    else
        snprintf(buf, cap, "%.3f", v);
}

static void machine(char *cpu, size_t cap)
{
    snprintf(cpu, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ')
                    p++;
                p[strcspn(p, "\n")] = 0;
                snprintf(cpu, cap, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

static const char *wl_title(int wl)
{
    switch (wl) {
    case 1: return "1. uncontended get, 100-byte value, random keys among 1,000 names";
    case 2: return "2. gets from several processes at once";
    case 3: return "3. put of a large value";
    case 4: return "4. many names: 100-byte values, random keys";
    }
    return "";
}

static double g_load_start = -1, g_load_end = -1; /* 1-minute load average */

static double load1(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static void report(FILE *out, double total_s)
{
    char cpu[256], a[32], b[32], c[32];
    struct utsname u;
    uname(&u);
    machine(cpu, sizeof cpu);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    fprintf(out, "# libbrain C benchmark%s\n\n", opt.quick ? " (--quick)" : "");
    fprintf(out, "libbrain %s, LMDB %d.%d.%d; %s, %ld CPUs online, %s %s; "
            "%d repeats (multi-process: %d x %.1f s); run took %.1f s; "
            "load average %.2f at the start, %.2f at the end%s.\n"
            "Figures: median of the repeats, with min and max. Ratios are of medians.\n\n",
            BRAIN_VERSION_STRING, MDB_VERSION_MAJOR, MDB_VERSION_MINOR,
            MDB_VERSION_PATCH, cpu, ncpu, u.sysname,
            u.release, opt.repeats, opt.mp_repeats, opt.dur_mp, total_s,
            g_load_start, g_load_end,
            g_load_start > 0.5 * (double)ncpu
                ? " (other work was running: expect noise)" : "");
    fprintf(out, "| workload | what | median | min | max | unit |\n");
    fprintf(out, "|---|---|---:|---:|---:|---|\n");
    for (int i = 0; i < g_nres; i++) {
        const result *r = &g_res[i];
        if (r->n == 0)
            continue;
        fmt_num(a, sizeof a, r->med);
        fmt_num(b, sizeof b, r->min);
        fmt_num(c, sizeof c, r->max);
        fprintf(out, "| %d | %s | %s | %s | %s | %s |\n", r->wl, r->label, a, b,
                c, r->unit);
    }
    fprintf(out, "\n| comparison | ratio | goal | met |\n|---|---:|---|---|\n");
    for (int i = 0; i < g_ncmp; i++) {
        const comparison *m = &g_cmp[i];
        if (m->ratio < 0)
            fprintf(out, "| %s | n/a | %s | - |\n", m->label, m->goal);
        else {
            fmt_num(a, sizeof a, m->ratio);
            fprintf(out, "| %s | %s | %s | %s |\n", m->label, a, m->goal, m->met);
        }
    }
    fprintf(out, "\nWorkloads:\n");
    for (int wl = 1; wl <= 4; wl++)
        if (opt.only[wl])
            fprintf(out, "- %s\n", wl_title(wl));
    fprintf(out, "\nThe harness row (random key + name formatting, a few ns) is "
            "included in every ns/op figure, not subtracted.\n");
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void write_json(const char *path, double total_s)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die("%s: %s", path, strerror(errno));
    char cpu[256];
    machine(cpu, sizeof cpu);
    fprintf(f, "{\n  \"benchmark\": \"libbrain-c\",\n  \"libbrain\": \"%s\",\n"
            "  \"lmdb\": ", BRAIN_VERSION_STRING);
    json_str(f, MDB_VERSION_STRING);
    fprintf(f, ",\n  \"cpu\": ");
    json_str(f, cpu);
    fprintf(f, ",\n  \"cpus\": %ld,\n  \"quick\": %s,\n  \"repeats\": %d,\n"
            "  \"mp_repeats\": %d,\n  \"mp_seconds\": %g,\n  \"large_bytes\": %llu,\n"
            "  \"names\": %u,\n  \"total_seconds\": %.2f,\n"
            "  \"load_start\": %.2f,\n  \"load_end\": %.2f,\n  \"results\": [\n",
            sysconf(_SC_NPROCESSORS_ONLN), opt.quick ? "true" : "false",
            opt.repeats, opt.mp_repeats, opt.dur_mp,
            (unsigned long long)opt.big, opt.names, total_s, g_load_start,
            g_load_end);
    int first = 1;
    for (int i = 0; i < g_nres; i++) {
        const result *r = &g_res[i];
        if (r->n == 0)
            continue;
        fprintf(f, "%s    {\"id\": ", first ? "" : ",\n");
        first = 0;
        json_str(f, r->id);
        fprintf(f, ", \"workload\": %d, \"label\": ", r->wl);
        json_str(f, r->label);
        fprintf(f, ", \"unit\": ");
        json_str(f, r->unit);
        fprintf(f, ", \"median\": %.6g, \"min\": %.6g, \"max\": %.6g, \"samples\": [",
                r->med, r->min, r->max);
        for (int k = 0; k < r->n; k++)
            fprintf(f, "%s%.6g", k ? ", " : "", r->samples[k]);
        fprintf(f, "]}");
    }
    fprintf(f, "\n  ],\n  \"comparisons\": [\n");
    for (int i = 0; i < g_ncmp; i++) {
        const comparison *m = &g_cmp[i];
        fprintf(f, "    {\"workload\": %d, \"label\": ", m->wl);
        json_str(f, m->label);
        if (m->ratio < 0)
            fprintf(f, ", \"ratio\": null");
        else
            fprintf(f, ", \"ratio\": %.6g", m->ratio);
        fprintf(f, ", \"goal\": ");
        json_str(f, m->goal);
        fprintf(f, ", \"met\": %s}%s\n",
                strcmp(m->met, "yes") == 0 ? "true"
                : strcmp(m->met, "NO") == 0 ? "false" : "null",
                i + 1 < g_ncmp ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
}

/* ------------------------------------------------------------------------
 * Main.
 * ------------------------------------------------------------------------ */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-store [options]\n"
            "  --quick          small sizes, short times (whole run < 20 s)\n"
            "  --json FILE      also write the results as JSON\n"
            "  --procs LIST     process counts for workload 2 (default 1,2)\n"
            "  --repeats N      repeats per figure (default 7; quick 3)\n"
            "  --names N        names of workload 4 (default 1000000; quick 50000)\n"
            "  --big-mb N       size of the workload-3 value in MB (default 100;\n"
            "                   quick 20)\n"
            "  --seconds S      seconds per repeat of a get/put figure\n"
            "                   (default 0.3; quick 0.03)\n"
            "  --mp-seconds S   seconds each process runs in workload 2\n"
            "                   (default 1; quick 0.2)\n"
            "  --only LIST      run only these workloads, e.g. 1,4\n"
            "  --ops N          run N operations per get/put figure instead of\n"
            "                   a fixed time (for profiling under valgrind)\n");
}

static int parse_list(const char *s, int *out, int max, int lo, int hi)
{
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < lo || v > hi || n >= max)
            return -1;
        out[n++] = (int)v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

int main(int argc, char **argv)
{
    int repeats = 0, nprocs = 0, procs[MAX_PROCS_LIST];
    long names = 0, big_mb = 0;
    double secs = 0, mpsecs = 0;
    int only[8], nonly = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0)
            opt.quick = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (v && strcmp(a, "--json") == 0)
            opt.json = v, i++;
        else if (v && strcmp(a, "--procs") == 0) {
            nprocs = parse_list(v, procs, MAX_PROCS_LIST, 1, MAX_PROCS);
            if (nprocs <= 0)
                die("--procs wants a list like 1,2,4 (1..%d)", MAX_PROCS);
            i++;
        } else if (v && strcmp(a, "--repeats") == 0) {
            repeats = atoi(v), i++;
            if (repeats < 1 || repeats > 64)
                die("--repeats wants 1..64");
        } else if (v && strcmp(a, "--names") == 0) {
            names = atol(v), i++;
            if (names < (long)SMALL_NAMES || names > 999999999L)
                die("--names wants %u..999999999", SMALL_NAMES);
        } else if (v && strcmp(a, "--big-mb") == 0) {
            big_mb = atol(v), i++;
            if (big_mb < 1 || big_mb > 100000)
                die("--big-mb wants 1..100000");
        } else if (v && strcmp(a, "--seconds") == 0) {
            secs = atof(v), i++;
            if (!(secs > 0 && secs <= 60))
                die("--seconds wants (0, 60]");
        } else if (v && strcmp(a, "--mp-seconds") == 0) {
            mpsecs = atof(v), i++;
            if (!(mpsecs > 0 && mpsecs <= 600))
                die("--mp-seconds wants (0, 600]");
        } else if (v && strcmp(a, "--ops") == 0) {
            opt.fixed_ops = strtoull(v, NULL, 10), i++;
            if (opt.fixed_ops < 1)
                die("--ops wants a positive count");
        } else if (v && strcmp(a, "--only") == 0) {
            nonly = parse_list(v, only, 8, 1, 4);
            if (nonly <= 0)
                die("--only wants a list like 1,4");
            i++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    opt.repeats = repeats ? repeats : opt.quick ? 3 : 7;
    opt.mp_repeats = repeats ? repeats : 3;
    opt.dur_get = secs ? secs : opt.quick ? 0.03 : 0.3;
    opt.dur_mp = mpsecs ? mpsecs : opt.quick ? 0.2 : 1.0;
    opt.big = (uint64_t)(big_mb ? big_mb : opt.quick ? 20 : 100) * 1000000ull;
    opt.names = (uint32_t)(names ? names : opt.quick ? 50000 : 1000000);
    if (nprocs) {
        memcpy(opt.procs, procs, sizeof(int) * (size_t)nprocs);
        opt.nprocs = nprocs;
    } else {
        opt.procs[0] = 1, opt.procs[1] = 2, opt.nprocs = 2;
    }
    for (int i = 1; i <= 4; i++)
        opt.only[i] = nonly == 0;
    for (int i = 0; i < nonly; i++)
        opt.only[only[i]] = 1;

    /* workload-4 stores: a 100-byte value takes about 320 bytes with its
     * entry; allow for that, the index and replaced values in limbo */
    uint64_t need4 = (uint64_t)opt.names * 512ull + (256ull << 20);
    opt.capacity = need4 < (4ull << 30) ? (4ull << 30) : need4;

    g_parent = getpid();
    digits_init();
    snprintf(g_prefix, sizeof g_prefix, "/dev/shm/brain-bench-%d", (int)g_parent);
    atexit(cleanup_files);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);

    struct statvfs vfs;
    if (statvfs("/dev/shm", &vfs) == 0) {
        double avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
        double need = (opt.only[3] ? 6.0 * (double)opt.big : 0) +
                      (opt.only[4] ? (double)opt.names * 700.0 : 0) + 100e6;
        if (avail < need)
            die("/dev/shm has %.0f MB free; this run needs about %.0f MB "
                "(use --quick, --names or --big-mb)", avail / 1e6, need / 1e6);
    }

    g_load_start = load1();
    uint64_t t_start = now_ns();
    if (opt.only[1] || opt.only[2]) {
        setup_small();
        if (opt.only[1]) {
            fprintf(stderr, "workload 1: uncontended gets...\n");
            workload1();
        }
        if (opt.only[2]) {
            fprintf(stderr, "workload 2: gets from processes");
            for (int p = 0; p < opt.nprocs; p++)
                fprintf(stderr, "%s%d", p ? "," : " ", opt.procs[p]);
            fprintf(stderr, "...\n");
            workload2();
        }
        lmdb_close(&g_small_l);
        store_destroy(g_small);
    }
    if (opt.only[3]) {
        fprintf(stderr, "workload 3: %.0f MB puts...\n", (double)opt.big / 1e6);
        workload3();
    }
    if (opt.only[4]) {
        fprintf(stderr, "workload 4: %u names vs %u...\n", opt.names, SMALL_NAMES);
        workload4();
    }
    double total = (double)(now_ns() - t_start) / 1e9;
    g_load_end = load1();
    report(stdout, total);
    if (opt.json)
        write_json(opt.json, total);
    return 0;
}
