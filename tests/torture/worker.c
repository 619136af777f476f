/* worker.c - the C worker of the kill -9 torture (tests/torture/torture.py,
 * docs/RELIABILITY.md).
 *
 *   torture-worker STORE RUNDIR SLOT GEN ROLE NSLOTS NKEYS MAXSIZE SEED
 *
 * ROLE "writer": learns, replaces and forgets the names of its own slot
 * (brain_put, brain_reserve + writing + brain_publish or brain_abort,
 * brain_put_array, brain_put_many, brain_delete) and reads every slot's
 * names, holding some views.  ROLE "reader": reads every slot's names with
 * brain_get (holding up to 24 views), brain_read and brain_get_many.
 *
 * Every value carries the header of docs/RELIABILITY.md (slot, key, writer
 * generation and sequence, length, CRC-32 of the rest); every value read is
 * checked.  A writer appends a 64-byte record to RUNDIR/log-SLOT before and
 * after each learn or forget (one write(2) each, O_APPEND); the driver
 * replays the log to know which operations completed.  The worker
 * announces its phase, its operation count and its views in its 64-byte
 * cell of RUNDIR/phase (shared memory) so the driver can aim its SIGKILLs.
 * SIGTERM makes it finish the operation under way, release its views,
 * close the store and exit 0.  A check that fails prints why on stderr and
 * exits 3.  Runs until killed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "brain.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- shared definitions (torture.py holds the same numbers) ------------- */
#define VMAGIC 0x52545254u /* "TRTR" */
#define VHDR 48
enum { PH_IDLE = 0, PH_OPEN = 1, PH_LEARN = 2, PH_WRITE_RESERVED = 3, PH_PUBLISH = 4,
       PH_LEARN_MANY = 5, PH_FORGET = 6, PH_RECALL = 7, PH_CLOSING = 8 };
enum { REC_BEGIN_LEARN = 1, REC_END_LEARN = 2, REC_BEGIN_FORGET = 3, REC_END_FORGET = 4 };
enum { RC_OK = 0, RC_FULL = 1, RC_NOTFOUND = 2, RC_ABORTED = 3 };
enum { KIND_BYTES = 1, KIND_ARRAY = 2, KIND_RESERVED = 3, KIND_MANY = 4 };

struct cell { /* 64 bytes per slot in RUNDIR/phase */
    _Atomic uint32_t phase;
    uint32_t pid;
    _Atomic uint64_t ops;
    _Atomic uint64_t reads_verified;
    _Atomic uint32_t views;
    uint32_t gen;
    _Atomic uint64_t bytes_written;
    uint64_t pad[3];
};
_Static_assert(sizeof(struct cell) == 64, "phase cells are 64 bytes");

struct rec { /* 64 bytes: a power of two, so no record straddles a page */
    uint32_t kind, slot, key;
    int32_t rc;
    uint32_t gen, crc;
    uint64_t seq, size, t_ns;
    uint8_t pad[16];
};
_Static_assert(sizeof(struct rec) == 64, "log records are 64 bytes");

static const char *g_store;
static int g_slot, g_nslots, g_nkeys, g_logfd = -1;
static uint32_t g_gen;
static size_t g_maxsize;
static struct cell *g_cell;
static volatile sig_atomic_t g_stop;
static uint64_t g_rs;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(buf, sizeof buf, "C worker slot %d gen %u pid %d: ", g_slot, g_gen,
                     (int)getpid());
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", buf);
    _exit(3);
}

static uint64_t rnd(void)
{ /* xorshift64* */
    g_rs ^= g_rs >> 12;
    g_rs ^= g_rs << 25;
    g_rs ^= g_rs >> 27;
    return g_rs * 0x2545f4914f6cdd1dull;
}
static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ---- CRC-32 (the zlib polynomial, so Python's zlib.crc32 agrees) --------- */
static uint32_t crc_tab[8][256];
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}
static uint32_t crc32_of(const void *data, size_t n)
{ /* slicing-by-8 */
    const uint8_t *p = data;
    uint32_t c = 0xffffffffu;
    while (n >= 8) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + 4, 4);
        a ^= c;
        c = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^ crc_tab[5][(a >> 16) & 0xff] ^
            crc_tab[4][a >> 24] ^ crc_tab[3][b & 0xff] ^ crc_tab[2][(b >> 8) & 0xff] ^
            crc_tab[1][(b >> 16) & 0xff] ^ crc_tab[0][b >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- values ----------------------------------------------------------------
 * Header (48 bytes, little-endian): magic u32, crc u32 (CRC-32 of bytes
 * 8..len), slot u32, gen u32, seq u64, len u64, key u32, kind u32,
 * reserved u64 (0); then random bytes. */
struct vhdr {
    uint32_t magic, crc, slot, gen;
    uint64_t seq, len;
    uint32_t key, kind;
    uint64_t reserved;
};
_Static_assert(sizeof(struct vhdr) == VHDR, "value header is 48 bytes");

static uint32_t vfill(void *buf, size_t len, int key, uint64_t seq, uint32_t kind)
{
    uint8_t *p = buf;
    size_t i = VHDR;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = rnd();
        memcpy(p + i, &w, 8);
    }
    for (; i < len; i++)
        p[i] = (uint8_t)rnd();
    struct vhdr h = {VMAGIC, 0, (uint32_t)g_slot, g_gen, seq, len, (uint32_t)key, kind, 0};
    memcpy(p, &h, VHDR);
    h.crc = crc32_of(p + 8, len - 8);
    memcpy(p, &h, VHDR);
    return h.crc;
}

/* Checks a value read under (slot, key): "" when sound, else why not. */
static const char *vcheck(const void *data, size_t len, int slot, int key)
{
    struct vhdr h;
    if (len < VHDR)
        return "shorter than the 48-byte header";
    memcpy(&h, data, VHDR);
    if (h.magic != VMAGIC)
        return "bad magic";
    if (h.len != len)
        return "length in the header differs from the value's size";
    if ((int)h.slot != slot || (int)h.key != key)
        return "the header names another slot or key (a value under the wrong name)";
    if (crc32_of((const uint8_t *)data + 8, len - 8) != h.crc)
        return "CRC-32 mismatch (torn or overwritten bytes)";
    return "";
}

/* The value bytes of a view or a read: arrays carry a header of their own. */
static const char *vcheck_typed(const void *data, size_t size, uint32_t type, int slot, int key)
{
    if (type == BRAIN_TYPE_ARRAY) {
        brain_array a;
        if (brain_array_parse(data, size, &a) != 0)
            return "malformed array value";
        if (strcmp(a.dtype, "|u1") != 0 || a.ndim != 1)
            return "array value of an unexpected dtype or shape";
        return vcheck(a.data, a.nbytes, slot, key);
    }
    if (type != BRAIN_TYPE_BYTES)
        return "value of an unexpected type";
    return vcheck(data, size, slot, key);
}

/* ---- names ----------------------------------------------------------------- */
static const char *slot_ns(int slot) { return slot % 2 ? "tort" : NULL; }
static void key_name(int slot, int key, char *buf, size_t cap)
{
    snprintf(buf, cap, "s%d-k%d", slot, key);
}

static void phase(uint32_t ph) { atomic_store(&g_cell->phase, ph); }
static void op_done(void) { atomic_fetch_add(&g_cell->ops, 1); }

static void log_rec(uint32_t kind, int key, int rc, uint64_t seq, size_t size, uint32_t crc)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.slot = (uint32_t)g_slot;
    r.key = (uint32_t)key;
    r.rc = rc;
    r.gen = g_gen;
    r.crc = crc;
    r.seq = seq;
    r.size = size;
    r.t_ns = (uint64_t)now_ns();
    if (write(g_logfd, &r, sizeof r) != (ssize_t)sizeof r)
        die("log write: %s", strerror(errno));
}

static size_t rand_size(size_t cap)
{
    uint64_t r = rnd_below(100);
    size_t n;
    if (r < 30)
        n = VHDR + rnd_below(200); /* tiny */
    else if (r < 70)
        n = VHDR + rnd_below(64 << 10);
    else if (r < 95)
        n = (64 << 10) + rnd_below(960 << 10);
    else
        n = (1 << 20) + rnd_below(g_maxsize > (1 << 20) ? g_maxsize - (1 << 20) : 1);
    return n > cap ? cap : n;
}

static int learn_rc(int rc, const char *what, const char *name)
{
    if (rc == 0)
        return RC_OK;
    if (rc == BRAIN_EFULL)
        return RC_FULL;
    die("%s %s: %s (%s)", what, name, brain_errname(rc), brain_errdetail());
}

/* ---- reads ------------------------------------------------------------------ */
enum { HOLD_MAX = 24 };
static brain_view g_held[HOLD_MAX];
static int g_held_slot[HOLD_MAX], g_held_key[HOLD_MAX], g_hold;

static void verified(void) { atomic_fetch_add(&g_cell->reads_verified, 1); }

static void recheck_held(void)
{
    int h = (int)rnd_below((uint64_t)g_hold);
    if (!g_held[h].data && g_held[h].size == 0)
        return;
    const char *why = vcheck_typed(g_held[h].data, g_held[h].size, g_held[h].info.type,
                                   g_held_slot[h], g_held_key[h]);
    if (*why)
        die("a view held since an earlier get of s%d-k%d changed: %s", g_held_slot[h],
            g_held_key[h], why);
    verified();
}

static void count_views(void)
{
    uint32_t n = 0;
    for (int i = 0; i < g_hold; i++)
        n += g_held[i].pin_ != 0 || g_held[i].data != NULL;
    atomic_store(&g_cell->views, n);
}

static void do_get(brain *b)
{
    int slot = (int)rnd_below((uint64_t)g_nslots), key = (int)rnd_below((uint64_t)g_nkeys);
    char name[64];
    key_name(slot, key, name, sizeof name);
    int h = (int)rnd_below((uint64_t)g_hold);
    brain_view_release(b, &g_held[h]);
    memset(&g_held[h], 0, sizeof g_held[h]);
    count_views();
    phase(PH_RECALL);
    int rc = brain_get(b, slot_ns(slot), name, &g_held[h]);
    if (rc == 0) {
        const char *why = vcheck_typed(g_held[h].data, g_held[h].size, g_held[h].info.type,
                                       slot, key);
        if (*why)
            die("get %s: %s", name, why);
        verified();
        g_held_slot[h] = slot;
        g_held_key[h] = key;
        if (rnd_below(3) == 0) { /* not every view is held */
            brain_view_release(b, &g_held[h]);
            memset(&g_held[h], 0, sizeof g_held[h]);
        }
    } else if (rc != BRAIN_ENOTFOUND) {
        die("get %s: %s (%s)", name, brain_errname(rc), brain_errdetail());
    }
    count_views();
    recheck_held();
    phase(PH_IDLE);
}

static void do_read(brain *b, uint8_t *buf, size_t cap)
{
    int slot = (int)rnd_below((uint64_t)g_nslots), key = (int)rnd_below((uint64_t)g_nkeys);
    char name[64];
    key_name(slot, key, name, sizeof name);
    size_t got = 0;
    brain_info info;
    phase(PH_RECALL);
    int rc = brain_read(b, slot_ns(slot), name, buf, cap, &got, &info);
    if (rc == 0) {
        const char *why = vcheck_typed(buf, got, info.type, slot, key);
        if (*why)
            die("read %s: %s", name, why);
        verified();
    } else if (rc != BRAIN_ENOTFOUND && rc != BRAIN_ERANGE) {
        die("read %s: %s (%s)", name, brain_errname(rc), brain_errdetail());
    }
    phase(PH_IDLE);
}

static void do_get_many(brain *b)
{
    brain_key keys[3];
    char names[3][64];
    int slots[3], ks[3];
    int n = 2 + (int)rnd_below(2);
    for (int i = 0; i < n; i++) {
        slots[i] = (int)rnd_below((uint64_t)g_nslots);
        ks[i] = (int)rnd_below((uint64_t)g_nkeys);
        key_name(slots[i], ks[i], names[i], sizeof names[i]);
        keys[i].ns = slot_ns(slots[i]);
        keys[i].name = names[i];
    }
    brain_view v[3];
    memset(v, 0, sizeof v);
    phase(PH_RECALL);
    int rc = brain_get_many(b, (size_t)n, keys, v, NULL);
    if (rc == 0) {
        for (int i = 0; i < n; i++) {
            const char *why = vcheck_typed(v[i].data, v[i].size, v[i].info.type, slots[i], ks[i]);
            if (*why)
                die("get_many %s: %s", names[i], why);
            verified();
            brain_view_release(b, &v[i]);
        }
    } else if (rc != BRAIN_ENOTFOUND) {
        die("get_many: %s (%s)", brain_errname(rc), brain_errdetail());
    }
    phase(PH_IDLE);
}

/* ---- writes ----------------------------------------------------------------- */
static uint64_t g_seq;

static void do_put(brain *b, uint8_t *buf, size_t cap)
{
    int key = (int)rnd_below((uint64_t)g_nkeys);
    char name[64];
    key_name(g_slot, key, name, sizeof name);
    size_t len = rand_size(cap);
    uint64_t seq = ++g_seq;
    uint32_t crc = vfill(buf, len, key, seq, KIND_BYTES);
    log_rec(REC_BEGIN_LEARN, key, 0, seq, len, crc);
    phase(PH_LEARN);
    int rc = brain_put(b, slot_ns(g_slot), name, buf, len, NULL, NULL);
    phase(PH_IDLE);
    log_rec(REC_END_LEARN, key, learn_rc(rc, "put", name), seq, len, crc);
    atomic_fetch_add(&g_cell->bytes_written, len);
}

static void do_put_array(brain *b, uint8_t *buf, size_t cap)
{
    int key = (int)rnd_below((uint64_t)g_nkeys);
    char name[64];
    key_name(g_slot, key, name, sizeof name);
    size_t len = rand_size(cap);
    uint64_t seq = ++g_seq;
    uint32_t crc = vfill(buf, len, key, seq, KIND_ARRAY);
    brain_array a;
    uint64_t shape = len;
    if (brain_array_init(&a, "|u1", 1, &shape) != 0)
        die("brain_array_init: %s", brain_errdetail());
    log_rec(REC_BEGIN_LEARN, key, 0, seq, len, crc);
    phase(PH_LEARN);
    int rc = brain_put_array(b, slot_ns(g_slot), name, &a, buf, NULL, NULL);
    phase(PH_IDLE);
    log_rec(REC_END_LEARN, key, learn_rc(rc, "put_array", name), seq, len, crc);
    atomic_fetch_add(&g_cell->bytes_written, len);
}

/* Reserve, write the value straight into the store (slowly, in pieces, so
 * kills land mid-write), then publish, or now and then abort. */
static void do_reserve(brain *b, uint8_t *buf, size_t cap)
{
    int key = (int)rnd_below((uint64_t)g_nkeys);
    char name[64];
    key_name(g_slot, key, name, sizeof name);
    size_t len = rand_size(cap);
    uint64_t seq = ++g_seq;
    uint32_t crc = vfill(buf, len, key, seq, KIND_RESERVED);
    log_rec(REC_BEGIN_LEARN, key, 0, seq, len, crc);
    brain_reservation *res = NULL;
    void *data = NULL;
    phase(PH_LEARN);
    int rc = brain_reserve(b, slot_ns(g_slot), name, len, NULL, &res, &data);
    int out;
    if (rc == 0) {
        phase(PH_WRITE_RESERVED);
        for (size_t off = 0; off < len; off += 64 << 10) {
            size_t n = len - off < (64 << 10) ? len - off : (64 << 10);
            memcpy((uint8_t *)data + off, buf + off, n);
        }
        if (rnd_below(10) == 0) {
            brain_abort(b, res);
            out = RC_ABORTED;
        } else {
            phase(PH_PUBLISH);
            rc = brain_publish(b, res, NULL);
            out = learn_rc(rc, "publish", name);
        }
    } else {
        out = learn_rc(rc, "reserve", name);
    }
    phase(PH_IDLE);
    log_rec(REC_END_LEARN, key, out, seq, len, crc);
    atomic_fetch_add(&g_cell->bytes_written, len);
}

/* Several values below 64 KiB in one brain_put_many: all copied under the
 * writers' lock, so kills aimed at this phase often land inside it. */
static void do_put_many(brain *b, uint8_t *buf, size_t cap)
{
    enum { MAXN = 8 };
    int n = 2 + (int)rnd_below(MAXN - 1);
    if (n > g_nkeys)
        n = g_nkeys;
    brain_item items[MAXN];
    int keys[MAXN];
    char names[MAXN][64];
    uint64_t seqs[MAXN];
    uint32_t crcs[MAXN];
    size_t lens[MAXN], off = 0;
    int first = (int)rnd_below((uint64_t)g_nkeys);
    for (int i = 0; i < n; i++) {
        keys[i] = (first + i) % g_nkeys; /* distinct keys */
        key_name(g_slot, keys[i], names[i], sizeof names[i]);
        lens[i] = VHDR + rnd_below(60 << 10);
        if (off + lens[i] > cap)
            lens[i] = VHDR;
        seqs[i] = ++g_seq;
        crcs[i] = vfill(buf + off, lens[i], keys[i], seqs[i], KIND_MANY);
        items[i] = (brain_item){slot_ns(g_slot), names[i], buf + off, lens[i], NULL};
        off += (lens[i] + 63) & ~(size_t)63;
    }
    for (int i = 0; i < n; i++)
        log_rec(REC_BEGIN_LEARN, keys[i], 0, seqs[i], lens[i], crcs[i]);
    phase(PH_LEARN_MANY);
    int rc = brain_put_many(b, (size_t)n, items, NULL, NULL);
    phase(PH_IDLE);
    int out = learn_rc(rc, "put_many", names[0]);
    for (int i = 0; i < n; i++)
        log_rec(REC_END_LEARN, keys[i], out, seqs[i], lens[i], crcs[i]);
}

static void do_delete(brain *b)
{
    int key = (int)rnd_below((uint64_t)g_nkeys);
    char name[64];
    key_name(g_slot, key, name, sizeof name);
    log_rec(REC_BEGIN_FORGET, key, 0, 0, 0, 0);
    phase(PH_FORGET);
    int rc = brain_delete(b, slot_ns(g_slot), name);
    phase(PH_IDLE);
    if (rc != 0 && rc != BRAIN_ENOTFOUND)
        die("delete %s: %s (%s)", name, brain_errname(rc), brain_errdetail());
    log_rec(REC_END_FORGET, key, rc == 0 ? RC_OK : RC_NOTFOUND, 0, 0, 0);
}

static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr, "usage: %s STORE RUNDIR SLOT GEN ROLE NSLOTS NKEYS MAXSIZE SEED\n",
                argv[0]);
        return 2;
    }
    g_store = argv[1];
    const char *rundir = argv[2];
    g_slot = atoi(argv[3]);
    g_gen = (uint32_t)strtoul(argv[4], NULL, 10);
    int writer = strcmp(argv[5], "writer") == 0;
    g_nslots = atoi(argv[6]);
    g_nkeys = atoi(argv[7]);
    g_maxsize = (size_t)strtoull(argv[8], NULL, 10);
    g_rs = strtoull(argv[9], NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
    if (g_slot < 0 || g_nslots <= g_slot || g_nkeys < 1 || g_maxsize < (1 << 20) + VHDR)
        die("bad arguments");
    crc_init();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);

    char path[4096];
    snprintf(path, sizeof path, "%s/phase", rundir);
    int pfd = open(path, O_RDWR);
    if (pfd < 0)
        die("open %s: %s", path, strerror(errno));
    void *m = mmap(NULL, (size_t)g_nslots * 64, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
    if (m == MAP_FAILED)
        die("mmap %s: %s", path, strerror(errno));
    close(pfd);
    g_cell = (struct cell *)m + g_slot;
    if (writer) {
        snprintf(path, sizeof path, "%s/log-%d", rundir, g_slot);
        g_logfd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (g_logfd < 0)
            die("open %s: %s", path, strerror(errno));
    }
    /* the sequence continues across generations: gen in the high bits */
    g_seq = (uint64_t)g_gen << 32;

    size_t cap = g_maxsize;
    size_t rcap = cap + (64 << 10); /* reads: room for an array's header */
    uint8_t *buf = malloc(rcap);
    if (!buf)
        die("out of memory");
    g_hold = writer ? 8 : HOLD_MAX;

    phase(PH_OPEN);
    brain *b = NULL;
    int rc = brain_open(g_store, 0, NULL, &b);
    if (rc)
        die("open %s: %s (%s)", g_store, brain_errname(rc), brain_errdetail());
    phase(PH_IDLE);

    while (!g_stop) {
        uint64_t op = rnd_below(100);
        if (writer) {
            if (op < 24)
                do_put(b, buf, cap);
            else if (op < 36)
                do_reserve(b, buf, cap);
            else if (op < 44)
                do_put_array(b, buf, cap);
            else if (op < 52)
                do_put_many(b, buf, cap);
            else if (op < 64)
                do_delete(b);
            else if (op < 84)
                do_get(b);
            else
                do_read(b, buf, rcap);
        } else {
            if (op < 55)
                do_get(b);
            else if (op < 85)
                do_read(b, buf, rcap);
            else if (op < 97)
                do_get_many(b);
            else {
                brain_list *l = NULL;
                phase(PH_RECALL);
                rc = brain_list_names(b, NULL, 1, &l);
                if (rc)
                    die("list: %s (%s)", brain_errname(rc), brain_errdetail());
                brain_list_free(l);
                phase(PH_IDLE);
            }
        }
        op_done();
    }
    phase(PH_CLOSING);
    for (int h = 0; h < g_hold; h++)
        brain_view_release(b, &g_held[h]);
    count_views();
    brain_close(b);
    free(buf);
    return 0;
}
