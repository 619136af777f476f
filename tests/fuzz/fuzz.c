/*
 * fuzz.c - the bodies of the fuzz targets, shared by the libFuzzer entry
 * points (fuzz_entry.c, clang) and the corpus replay driver (replay.c, any
 * compiler), so that the corpus runs as a regression test everywhere.
 *
 * Three targets:
 *   store-open    a mutated store file is opened; when it opens, every read
 *                 path runs on it (stats, list, get, read, meta, namespaces,
 *                 check).  Nothing may crash, hang or leak, and every error
 *                 must come with a sentence (brain_errdetail).
 *   store-repair  the same file with its "dirty" flag set, so that the open
 *                 runs brain__repair() (what happens after a writer died, and the
 *                 only repair there is).  After it, brain_check must pass or
 *                 report the damage it found, and writes (put, replace,
 *                 delete) must not crash.
 *   snapshot-load a mutated snapshot file is loaded into a fresh small
 *                 store; a refused file must leave the store exactly as it
 *                 was, and after any outcome brain_check must pass.
 *
 * Store inputs are not whole store files (a store is at least a megabyte,
 * far too big to mutate usefully): an input is a prefix, at most
 * FUZZ_PREFIX bytes, laid over a store image built at start-up with a fixed
 * recipe (header, process and namespace tables, name index and every value
 * lie inside the prefix; what follows is free space and the end sentinel).
 * Checksums would stop nearly every mutation at the first check, so each
 * input runs twice when its checksums are wrong: as it is, and with the
 * checksums recomputed, which lets the mutations reach the code behind them.
 */
#include "fuzz.h"

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fuzz_current = "(none)";

static char g_dir[256];
static char g_store[300], g_snap[300];
static uint8_t *g_image;     /* the base store image */
static size_t g_image_size;
static uint8_t *g_snap_image; /* the empty-ish store snapshots load into */
static size_t g_snap_image_size;
static char g_fingerprint[4096];

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\nFUZZ FAILURE (input %s): ", fuzz_current);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* Every error is a known code with a sentence saying what was wrong. */
static void check_error(const char *what, int rc)
{
    if (rc == 0)
        return;
    if (rc < BRAIN_EINVAL || rc > BRAIN_EWOULDBLOCK)
        fuzz_fail("%s returned %d, not a brain status code", what, rc);
    if (brain_errdetail()[0] == '\0')
        fuzz_fail("%s failed with %s but left no error detail", what, brain_errname(rc));
}

static void cleanup(void)
{
    if (!g_dir[0])
        return;
    unlink(g_store);
    unlink(g_snap);
    rmdir(g_dir);
    g_dir[0] = '\0';
}

static void write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fuzz_fail("cannot create %s: %s", path, strerror(errno));
    const uint8_t *p = data;
    while (size) {
        ssize_t k = write(fd, p, size);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fuzz_fail("cannot write %s: %s", path, strerror(errno));
        p += k;
        size -= (size_t)k;
    }
    close(fd);
}

static uint8_t *read_file(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        fuzz_fail("cannot read %s: %s", path, strerror(errno));
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k <= 0)
            fuzz_fail("cannot read %s: %s", path, strerror(errno));
        got += (size_t)k;
    }
    close(fd);
    if (!buf)
        fuzz_fail("out of memory");
    *size = got;
    return buf;
}

/* ---- the fixed recipe of the base store ------------------------------------ */

static const brain_config k_cfg = {FUZZ_CAPACITY, 2, 4};

static void must(int rc, const char *what)
{
    if (rc)
        fuzz_fail("setting up: %s: %s (%s)", what, brain_errname(rc), brain_errdetail());
}

/* A few names of every kind: types, a description, an expiry, a second
 * namespace, a replaced value (limbo), a deleted name (a tombstone). */
static void populate(brain *b)
{
    brain_put_opts str = {.type = BRAIN_TYPE_STR};
    brain_put_opts json = {.type = BRAIN_TYPE_JSON, .desc = "settings", .ttl_ms = 3650ll * 86400 * 1000};
    char big[700];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    must(brain_put(b, NULL, "a", "hello", 5, NULL, NULL), "put a");
    must(brain_put(b, NULL, "s", "h\xc3\xa9llo", 6, &str, NULL), "put s");
    must(brain_put(b, NULL, "j", "{\"k\": [1, 2]}", 13, &json, NULL), "put j");
    must(brain_put(b, "ns1", "b", big, sizeof big, NULL, NULL), "put b");
    must(brain_put(b, "ns1", "b", big, 300, NULL, NULL), "replace b");
    must(brain_put(b, NULL, "gone", "x", 1, NULL, NULL), "put gone");
    must(brain_delete(b, NULL, "gone"), "delete gone");
    must(brain_put(b, NULL, "empty", "", 0, NULL, NULL), "put empty");
}

/* Creates PATH with the recipe's geometry, runs FILL, closes it. */
static void make_store(const char *path, void (*fill)(brain *))
{
    brain *b;
    unlink(path);
    must(brain_open(path, BRAIN_CREATE | BRAIN_EXCL, &k_cfg, &b), "create store");
    if (fill)
        fill(b);
    brain_close(b);
}

static void populate_small(brain *b)
{
    must(brain_put(b, NULL, "keep", "kept", 4, NULL, NULL), "put keep");
    must(brain_put(b, "other", "x", "12345678", 8, NULL, NULL), "put x");
}

static void fingerprint(brain *b, char *out, size_t cap);

void fuzz_init(void)
{
    if (g_dir[0])
        return;
    /* run.sh points BRAIN_FUZZ_TMP at a directory it removes afterwards,
     * since a crashing input ends the process before atexit runs */
    const char *base = getenv("BRAIN_FUZZ_TMP");
    char def[200]; /* longer: /tmp */
    if ((!base || !*base) && brain_resolve("x", def, sizeof def) == BRAIN_OK && strrchr(def, '/')) {
        *strrchr(def, '/') = '\0'; /* the directory of bare names: /dev/shm, $TMPDIR on macOS */
        base = access(def, W_OK) == 0 ? def : "/tmp";
    }
    if (!base || !*base)
        base = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/brain-fuzz-%d-XXXXXX", base, (int)getpid());
    if (!mkdtemp(g_dir))
        fuzz_fail("mkdtemp %s: %s", g_dir, strerror(errno));
    atexit(cleanup);
    snprintf(g_store, sizeof g_store, "%s/store", g_dir);
    snprintf(g_snap, sizeof g_snap, "%s/input.snapshot", g_dir);

    make_store(g_store, populate);
    g_image = read_file(g_store, &g_image_size);
    if (g_image_size < FUZZ_PREFIX)
        fuzz_fail("the base store (%zu bytes) is smaller than the prefix", g_image_size);

    make_store(g_store, populate_small);
    g_snap_image = read_file(g_store, &g_snap_image_size);
    brain *b;
    must(brain_open(g_store, 0, NULL, &b), "open snapshot target");
    fingerprint(b, g_fingerprint, sizeof g_fingerprint);
    brain_close(b);
}

/* Puts IMAGE (SIZE bytes) in place of the store file, without a new inode
 * (rewriting one file keeps the fuzzer from churning the file system). */
static void restore(const uint8_t *image, size_t size)
{
    int fd = open(g_store, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
        fuzz_fail("cannot rewrite %s: %s", g_store, strerror(errno));
    size_t done = 0;
    while (done < size) {
        ssize_t k = pwrite(fd, image + done, size - done, (off_t)done);
        if (k <= 0)
            fuzz_fail("cannot rewrite %s: %s", g_store, strerror(errno));
        done += (size_t)k;
    }
    close(fd);
}

/* ---- store inputs ------------------------------------------------------------ */

static uint64_t header_check(const struct brain__header *h)
{
    /* the same sum as store.c's header_check() */
    return brain__key_hash(0x6272616e6221ull, (const char *)h, offsetof(struct brain__header, hcheck), "", 0);
}

static size_t fuzz_image(const uint8_t *data, size_t size, uint8_t **out)
{
    uint8_t *img = malloc(g_image_size);
    if (!img)
        fuzz_fail("out of memory");
    memcpy(img, g_image, g_image_size);
    memcpy(img, data, size < FUZZ_PREFIX ? size : FUZZ_PREFIX);
    *out = img;
    return g_image_size;
}

struct report_ctx {
    int n;
};

static void count_report(void *ctx, const char *message)
{
    struct report_ctx *c = ctx;
    if (!message || !message[0])
        fuzz_fail("brain_check reported an empty message");
    c->n++;
}

/* brain_check: consistent (0, nothing reported), or damaged (ECORRUPT with
 * at least one report), or could not check (another code, explained). */
static int run_check(brain *b)
{
    struct report_ctx c = {0};
    int rc = brain_check(b, count_report, &c);
    if (rc == 0 && c.n)
        fuzz_fail("brain_check passed but reported %d problems", c.n);
    if (rc == BRAIN_ECORRUPT && c.n == 0)
        fuzz_fail("brain_check failed with ECORRUPT but reported nothing");
    check_error("brain_check", rc);
    return rc;
}

/* Every read path over an open store. */
static void exercise_reads(brain *b)
{
    brain_stats st;
    check_error("brain_stats_get", brain_stats_get(b, &st));
    brain_ns_info *ns = NULL;
    size_t nns = 0;
    int rc = brain_namespaces(b, &ns, &nns);
    check_error("brain_namespaces", rc);
    free(ns);
    uint64_t ver;
    check_error("brain_version", brain_version(b, &ver));

    brain_list *list = NULL;
    rc = brain_list_names(b, NULL, 1, &list);
    check_error("brain_list_names", rc);
    if (rc == 0) {
        for (size_t i = 0; i < list->count && i < 64; i++) {
            const brain_info *it = &list->items[i];
            brain_view v;
            rc = brain_get(b, it->ns, it->name, &v);
            check_error("brain_get", rc);
            if (rc == 0) {
                /* touch every byte: a value must lie inside the mapping */
                volatile uint8_t sum = 0;
                for (uint64_t k = 0; k < v.size; k++)
                    sum ^= ((const uint8_t *)v.data)[k];
                (void)sum;
                brain_view_release(b, &v);
            }
            char buf[64];
            size_t sz;
            rc = brain_read(b, it->ns, it->name, buf, sizeof buf, &sz, NULL);
            if (rc != BRAIN_ERANGE)
                check_error("brain_read", rc);
            static char strbuf[BRAIN_NS_MAX + BRAIN_NAME_MAX + BRAIN_DESC_MAX + 3];
            brain_info info;
            check_error("brain_meta", brain_meta(b, it->ns, it->name, &info, strbuf, sizeof strbuf));
            rc = brain_exists(b, it->ns, it->name);
            if (rc < 0)
                check_error("brain_exists", rc);
        }
        brain_list_free(list);
    }
    rc = brain_list_names(b, "ns1", 0, &list);
    check_error("brain_list_names ns1", rc);
    if (rc == 0)
        brain_list_free(list);
    brain_view v;
    rc = brain_get(b, NULL, "a", &v);
    if (rc != BRAIN_ENOTFOUND)
        check_error("brain_get a", rc);
    if (rc == 0)
        brain_view_release(b, &v);
}

/* Writes over a store that opened (and was repaired). */
static void exercise_writes(brain *b)
{
    char val[200];
    memset(val, 'v', sizeof val);
    int rc = brain_put(b, NULL, "fuzz-new", val, sizeof val, NULL, NULL);
    check_error("brain_put new", rc);
    rc = brain_put(b, NULL, "a", "again", 5, NULL, NULL);
    check_error("brain_put a", rc);
    rc = brain_delete(b, "ns1", "b");
    if (rc != BRAIN_ENOTFOUND)
        check_error("brain_delete", rc);
    rc = brain_put(b, "ns2", "c", val, 100, NULL, NULL);
    check_error("brain_put ns2", rc);
    size_t n;
    rc = brain_expire(b, &n);
    check_error("brain_expire", rc);
    rc = brain_resize(b, FUZZ_CAPACITY * 2);
    check_error("brain_resize", rc);
}

static void run_store(const uint8_t *img, size_t size, int repair_mode)
{
    restore(img, size);
    brain *b = NULL;
    int rc = brain_open(g_store, 0, NULL, &b);
    check_error("brain_open", rc);
    if (rc)
        return;
    int crc = run_check(b);
    exercise_reads(b);
    if (repair_mode) {
        /* repair ran at open (the store was dirty): unless it declared the
         * store beyond repair, the store must now be consistent and
         * writable, and stay consistent after writes */
        if (crc == 0) {
            exercise_writes(b);
            exercise_reads(b);
            if (run_check(b) != 0)
                fuzz_fail("a repaired store failed brain_check after writes");
        }
    }
    brain_close(b);
}

static void store_target(const uint8_t *data, size_t size, int repair_mode)
{
    fuzz_init();
    uint8_t *img;
    size_t n = fuzz_image(data, size, &img);
    struct brain__header *h = (struct brain__header *)img;
    if (repair_mode)
        h->dirty = 1;
    run_store(img, n, repair_mode);
    /* a store of the other platform layer is refused at open; go on with
     * this layer's lock kind too (the corpus was made on the Linux layer) */
    uint32_t native = ((const struct brain__header *)g_image)->lock_kind;
    if (h->lock_kind != native) {
        h->lock_kind = native;
        run_store(img, n, repair_mode);
    }
    uint64_t want = header_check(h);
    if (h->hcheck != want) {
        h->hcheck = want;
        run_store(img, n, repair_mode);
    }
    free(img);
}

int fuzz_store_open(const uint8_t *data, size_t size)
{
    store_target(data, size, 0);
    return 0;
}

int fuzz_store_repair(const uint8_t *data, size_t size)
{
    store_target(data, size, 1);
    return 0;
}

/* ---- the write path (issue 18, finding 3) ------------------------------------- */

/* store-write: the input is a list of 12-byte patches, each a little-endian
 * u32 offset (top bit set: counted back from the end of the file) and a u64
 * written there, applied to the base store image; so one input reaches the
 * header, the tables, any block header and the end sentinel alike.  A store
 * that opens cleanly (no repair: the dirty flag is cleared) then takes
 * writes that allocate, grow the file, free, shrink and expire: put, a put
 * larger than the file (growth), replace, delete, resize up and down,
 * expire.  Each call must return a known status with a sentence, never
 * crash or hang; a store that passed brain_check before the writes must
 * pass it after. */
#define PATCH_SIZE 12u
#define PATCH_MAX 64u

static void run_write(const uint8_t *img, size_t size)
{
    restore(img, size);
    brain *b = NULL;
    int rc = brain_open(g_store, 0, NULL, &b);
    check_error("brain_open", rc);
    if (rc)
        return;
    int crc = run_check(b);
    char *val = malloc(3u << 20);
    if (!val)
        fuzz_fail("out of memory");
    memset(val, 'w', 3u << 20);
    rc = brain_put(b, NULL, "w-small", val, 100, NULL, NULL);
    check_error("brain_put small", rc);
    rc = brain_put(b, NULL, "w-grow", val, 1u << 20, NULL, NULL); /* past the first MiB */
    check_error("brain_put grow", rc);
    rc = brain_delete(b, NULL, "a");
    if (rc != BRAIN_ENOTFOUND)
        check_error("brain_delete a", rc);
    rc = brain_put(b, "ns1", "b", val, 5000, NULL, NULL);
    check_error("brain_put replace", rc);
    rc = brain_resize(b, 6u << 20);
    check_error("brain_resize up", rc);
    rc = brain_put(b, NULL, "w-big", val, 3u << 20, NULL, NULL);
    check_error("brain_put big", rc);
    rc = brain_delete(b, NULL, "w-big");
    if (rc != BRAIN_ENOTFOUND)
        check_error("brain_delete big", rc);
    rc = brain_resize(b, 3u << 20);
    if (rc != BRAIN_EBUSY)
        check_error("brain_resize down", rc);
    size_t n;
    check_error("brain_expire", brain_expire(b, &n));
    brain_put_opts ttl = {.ttl_ms = 1};
    rc = brain_put(b, NULL, "w-ttl", val, 10, &ttl, NULL);
    check_error("brain_put ttl", rc);
    free(val);
    exercise_reads(b);
    if (crc == 0 && run_check(b) != 0)
        fuzz_fail("a store that passed brain_check failed it after writes");
    brain_close(b);
}

int fuzz_store_write(const uint8_t *data, size_t size)
{
    fuzz_init();
    uint8_t *img = malloc(g_image_size);
    if (!img)
        fuzz_fail("out of memory");
    memcpy(img, g_image, g_image_size);
    for (size_t i = 0; i + PATCH_SIZE <= size && i / PATCH_SIZE < PATCH_MAX; i += PATCH_SIZE) {
        uint32_t off;
        uint64_t v;
        memcpy(&off, data + i, 4);
        memcpy(&v, data + i + 4, 8);
        uint64_t at = off & 0x80000000u ? g_image_size - (off & 0x7fffffffu) : off;
        if (at <= g_image_size - 8 && (off & 0x7fffffffu) <= g_image_size)
            memcpy(img + at, &v, 8);
    }
    struct brain__header *h = (struct brain__header *)img;
    h->dirty = 0; /* the write path, not repair: store-repair covers that */
    h->hcheck = header_check(h);
    run_write(img, g_image_size);
    free(img);
    return 0;
}

/* ---- snapshots ------------------------------------------------------------------ */

struct fp_item {
    char key[BRAIN_NS_MAX + BRAIN_NAME_MAX + 2];
    uint64_t sum;
};

static int cmp_fp(const void *a, const void *b)
{
    return strcmp(((const struct fp_item *)a)->key, ((const struct fp_item *)b)->key);
}

/* Every name with its type, size, description and a sum of its value. */
static void fingerprint(brain *b, char *out, size_t cap)
{
    brain_list *list;
    int rc = brain_list_names(b, NULL, 1, &list);
    if (rc)
        fuzz_fail("listing for the fingerprint: %s (%s)", brain_errname(rc), brain_errdetail());
    struct fp_item *it = calloc(list->count + 1, sizeof *it);
    for (size_t i = 0; i < list->count; i++) {
        const brain_info *in = &list->items[i];
        snprintf(it[i].key, sizeof it[i].key, "%s/%s", in->ns, in->name);
        brain_view v;
        rc = brain_get(b, in->ns, in->name, &v);
        if (rc)
            fuzz_fail("reading for the fingerprint: %s", brain_errname(rc));
        it[i].sum = brain__checksum(brain__checksum(v.info.type, v.data, v.size), v.info.desc,
                                v.info.desc_len) ^ v.info.version;
        brain_view_release(b, &v);
    }
    qsort(it, list->count, sizeof *it, cmp_fp);
    size_t used = (size_t)snprintf(out, cap, "%zu:", list->count);
    for (size_t i = 0; i < list->count && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s=%016llx;", it[i].key,
                                 (unsigned long long)it[i].sum);
    free(it);
    brain_list_free(list);
}

#define SNAP_SEED 0x736e617073686f74ull

/* Recomputes the checksums of a snapshot in place, as far as its lengths
 * make sense (docs/SNAPSHOT.md).  Returns 1 when something changed. */
static int fix_snapshot(uint8_t *m, size_t size)
{
    if (size < 64 + 32)
        return 0;
    uint8_t before[8];
    int changed = 0;
    uint64_t count, chain = SNAP_SEED, off = 64;
    memcpy(&count, m + 24, 8);
    for (uint64_t i = 0; i < count && i < 4096; i++) {
        if (size - off < 64 + 32)
            return changed;
        uint8_t *e = m + off;
        uint16_t ns_len, name_len;
        uint32_t desc_len;
        uint64_t vsize;
        memcpy(&ns_len, e + 8, 2);
        memcpy(&name_len, e + 10, 2);
        memcpy(&desc_len, e + 12, 4);
        memcpy(&vsize, e + 16, 8);
        uint64_t strs = (uint64_t)ns_len + name_len + desc_len;
        uint64_t body = off + 64, vstart = (body + strs + 63) & ~63ull;
        if (vstart > size || vsize > size - vstart || size - vstart - vsize < 32)
            return changed;
        memcpy(before, e + 56, 8);
        memset(e + 56, 0, 8);
        uint64_t c = brain__checksum(SNAP_SEED, e, 64);
        c = brain__checksum(c, m + body, strs);
        c = brain__checksum_wide(c, m + vstart, vsize);
        memcpy(e + 56, &c, 8);
        changed |= memcmp(before, &c, 8) != 0;
        chain = brain__checksum(chain, &c, 8);
        off = vstart + vsize;
    }
    if (size - off == 32) {
        uint8_t *t = m + off;
        uint8_t old[32];
        memcpy(old, t, 32);
        memcpy(t + 8, &count, 8);
        memcpy(t + 16, &chain, 8);
        uint64_t c = brain__checksum(SNAP_SEED, t, 24);
        memcpy(t + 24, &c, 8);
        changed |= memcmp(old, t, 32) != 0;
    }
    memcpy(before, m + 56, 8);
    uint64_t c = brain__checksum(SNAP_SEED, m, 56);
    memcpy(m + 56, &c, 8);
    changed |= memcmp(before, &c, 8) != 0;
    return changed;
}

static void run_snapshot(const uint8_t *data, size_t size)
{
    write_file(g_snap, data, size);
    restore(g_snap_image, g_snap_image_size);
    brain *b;
    int rc = brain_open(g_store, 0, NULL, &b);
    if (rc)
        fuzz_fail("the pristine target store did not open: %s (%s)", brain_errname(rc),
                  brain_errdetail());
    unsigned flags = size > 16 && (data[16] & 1) ? BRAIN_LOAD_MERGE : 0;
    uint64_t count = 0;
    rc = brain_snapshot_load(b, g_snap, flags, &count);
    check_error("brain_snapshot_load", rc);
    if (rc != 0 && rc != BRAIN_EFULL && rc != BRAIN_ETOOBIG && rc != BRAIN_ENSFULL &&
        rc != BRAIN_ENOSPC) {
        /* refused: not a byte of the store may have changed */
        static char now[sizeof g_fingerprint];
        fingerprint(b, now, sizeof now);
        if (strcmp(now, g_fingerprint) != 0)
            fuzz_fail("brain_snapshot_load failed with %s but changed the store:\n  before %s\n  after  %s",
                      brain_errname(rc), g_fingerprint, now);
    }
    if (run_check(b) != 0)
        fuzz_fail("the store failed brain_check after brain_snapshot_load returned %s",
                  brain_errname(rc));
    exercise_reads(b);
    brain_close(b);
}

int fuzz_snapshot_load(const uint8_t *data, size_t size)
{
    fuzz_init();
    run_snapshot(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        fuzz_fail("out of memory");
    memcpy(copy, data, size);
    if (fix_snapshot(copy, size))
        run_snapshot(copy, size);
    free(copy);
    return 0;
}

/* ---- the seed corpus ------------------------------------------------------------- */

static void save_prefix(const char *dir, const char *name)
{
    size_t n;
    uint8_t *img = read_file(g_store, &n);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, img, n < FUZZ_PREFIX ? n : FUZZ_PREFIX);
    free(img);
}

static void populate_snap(brain *b)
{
    populate(b);
    brain_put_opts d = {.desc = "with a description", .ttl_ms = 3650ll * 86400 * 1000};
    must(brain_put(b, "ns2", "n\xc3\xa4me/with/slashes", "0123456789abcdef", 16, &d, NULL),
         "put ns2");
}

/* Writes the seed corpus under ROOT/<target>/ (the directories exist). */
int fuzz_make_corpus(const char *root)
{
    fuzz_init();
    char dir[600], path[700];
    brain *b;

    for (int t = 0; t < 2; t++) {
        snprintf(dir, sizeof dir, "%s/%s", root, t ? "store-repair" : "store-open");
        make_store(g_store, populate);
        save_prefix(dir, "clean");
        make_store(g_store, NULL);
        save_prefix(dir, "empty");
        /* a live handle's image: its process slot is taken, and it holds a
         * pin and an unpublished reservation */
        make_store(g_store, populate);
        must(brain_open(g_store, 0, NULL, &b), "open");
        brain_view v;
        must(brain_get(b, NULL, "a", &v), "get");
        brain_reservation *res;
        void *p;
        must(brain_reserve(b, NULL, "r", 128, NULL, &res, &p), "reserve");
        memset(p, 'r', 128);
        save_prefix(dir, "live-handle");
        brain_abort(b, res);
        brain_view_release(b, &v);
        brain_close(b);
    }

    snprintf(dir, sizeof dir, "%s/snapshot-load", root);
    make_store(g_store, populate_snap);
    must(brain_open(g_store, 0, NULL, &b), "open");
    snprintf(path, sizeof path, "%s/full", dir);
    must(brain_snapshot_save(b, path, NULL), "save full");
    brain_close(b);
    make_store(g_store, NULL);
    must(brain_open(g_store, 0, NULL, &b), "open");
    snprintf(path, sizeof path, "%s/empty", dir);
    must(brain_snapshot_save(b, path, NULL), "save empty");
    must(brain_put(b, NULL, "keep", "other", 5, NULL, NULL), "put");
    snprintf(path, sizeof path, "%s/one", dir);
    must(brain_snapshot_save(b, path, NULL), "save one");
    brain_close(b);
    return 0;
}
