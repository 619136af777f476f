/*
 * test-snapshot.c - brain_snapshot_save / brain_snapshot_load: round trips
 * byte for byte with namespaces, descriptions, types and expiries; damaged,
 * truncated and foreign files refused with the store unchanged; merge and
 * replace.
 */
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

struct item {
    const char *ns, *name, *desc;
    uint32_t type;
    size_t size;
    uint64_t seed;
    int64_t ttl_ms;
};

static const struct item items[] = {
    {NULL, "small", "a small value", BRAIN_TYPE_BYTES, 100, 1, 0},
    {NULL, "empty", NULL, BRAIN_TYPE_BYTES, 0, 2, 0},
    {"app", "big", "two megabytes", BRAIN_TYPE_BYTES, 2u << 20, 3, 0},
    {"app", "greeting", NULL, BRAIN_TYPE_STR, 0, 0, 0}, /* text, below */
    {"tmp", "soon", "expires in an hour", BRAIN_TYPE_BYTES, 64, 5, 3600 * 1000},
    {"other", "ünïcode name/with slash", "déscription", BRAIN_TYPE_USER + 7, 1000, 6, 0},
};
#define NITEMS (sizeof items / sizeof *items)

static void put_items(brain *b)
{
    char *buf = t_xmalloc(2u << 20);
    for (size_t i = 0; i < NITEMS; i++) {
        brain_put_opts o = {.type = items[i].type, .desc = items[i].desc, .ttl_ms = items[i].ttl_ms};
        if (items[i].type == BRAIN_TYPE_STR)
            ASSERT_OK(brain_put(b, items[i].ns, items[i].name, "héllo wörld", strlen("héllo wörld"), &o, NULL));
        else {
            t_vfill(buf, items[i].size, items[i].seed);
            ASSERT_OK(brain_put(b, items[i].ns, items[i].name, buf, items[i].size, &o, NULL));
        }
    }
    free(buf);
}

static void expect_items(brain *b)
{
    int64_t now = t_real_ns();
    for (size_t i = 0; i < NITEMS; i++) {
        brain_view v;
        ASSERT_OK(brain_get(b, items[i].ns, items[i].name, &v));
        ASSERT_EQ_U64(v.info.type, items[i].type);
        ASSERT_STR_EQ(v.info.desc, items[i].desc ? items[i].desc : "");
        ASSERT_STR_EQ(v.info.ns, items[i].ns ? items[i].ns : "default");
        if (items[i].type == BRAIN_TYPE_STR) {
            ASSERT_EQ_U64(v.size, strlen("héllo wörld"));
            ASSERT_MEM_EQ(v.data, "héllo wörld", v.size);
        } else {
            ASSERT_EQ_U64(v.size, items[i].size);
            char *want = t_xmalloc(items[i].size + 1);
            t_vfill(want, items[i].size, items[i].seed);
            ASSERT_MEM_EQ(v.data, want, v.size);
            free(want);
        }
        if (items[i].ttl_ms) {
            ASSERT_GT(v.info.expires_ns, now + (items[i].ttl_ms - 60000) * 1000000);
            ASSERT_LE(v.info.expires_ns, now + (items[i].ttl_ms + 1000) * 1000000);
        } else {
            ASSERT_EQ_INT(v.info.expires_ns, 0);
        }
        brain_view_release(b, &v);
    }
}

TEST(snapshot_round_trip_after_destroy)
{
    brain *b = t_create(0, 32 << 20);
    put_items(b);
    const char *snap = t_path("store.snapshot");
    uint64_t n = 0;
    ASSERT_OK(brain_snapshot_save(b, snap, &n));
    ASSERT_EQ_U64(n, NITEMS);
    t_destroy(b, 0);
    b = t_create(0, 32 << 20);
    ASSERT_OK(brain_snapshot_load(b, snap, 0, &n));
    ASSERT_EQ_U64(n, NITEMS);
    expect_items(b);
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.names, NITEMS);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(snapshot_replace_and_merge)
{
    brain *b = t_create(0, 32 << 20);
    put_items(b);
    const char *snap = t_path("s.snapshot");
    ASSERT_OK(brain_snapshot_save(b, snap, NULL));
    /* changes after the save */
    ASSERT_OK(brain_put(b, "extra", "later", "x", 1, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "small", "changed", 7, NULL, NULL));
    /* merge: the snapshot's names come back, others stay */
    ASSERT_OK(brain_snapshot_load(b, snap, BRAIN_LOAD_MERGE, NULL));
    expect_items(b);
    ASSERT_EQ_INT(brain_exists(b, "extra", "later"), 1);
    /* replace: the store holds exactly the snapshot */
    ASSERT_OK(brain_snapshot_load(b, snap, 0, NULL));
    expect_items(b);
    ASSERT_EQ_INT(brain_exists(b, "extra", "later"), 0);
    ASSERT_EQ_U64(t_stats(b).names, NITEMS);
    t_check_store(b);
    ASSERT_ERR(brain_snapshot_load(b, snap, 0x80, NULL), BRAIN_EINVAL);
    t_destroy(b, 0);
}

static void copy_file(const char *from, const char *to, off_t len)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(in >= 0 && out >= 0);
    char buf[65536];
    off_t done = 0;
    while (done < len) {
        ssize_t k = read(in, buf, (size_t)(len - done < (off_t)sizeof buf ? len - done : (off_t)sizeof buf));
        ASSERT(k > 0);
        ASSERT_EQ_INT(write(out, buf, (size_t)k), k);
        done += k;
    }
    close(in);
    close(out);
}

static void expect_refused(brain *b, const char *path, const char *why)
{
    uint64_t used = t_used(b), names = t_stats(b).names;
    ASSERT_ERR(brain_snapshot_load(b, path, 0, NULL), BRAIN_ESNAPSHOT);
    ASSERT_STR_CONTAINS(t_detail_copy(), why);
    ASSERT_EQ_U64(t_used(b), used);
    ASSERT_EQ_U64(t_stats(b).names, names);
    ASSERT_EQ_INT(brain_exists(b, "keep", "me"), 1);
}

TEST(snapshot_damaged_files_refused_store_unchanged)
{
    brain *b = t_create(0, 32 << 20);
    put_items(b);
    const char *snap = t_path("good.snapshot"), *bad = t_path("bad.snapshot");
    ASSERT_OK(brain_snapshot_save(b, snap, NULL));
    off_t size = t_file_size(snap);
    /* the store that must stay as it is */
    ASSERT_OK(brain_ns_clear(b, "app", NULL));
    ASSERT_OK(brain_put(b, "keep", "me", "kept", 4, NULL, NULL));

    /* truncated at many points */
    off_t cuts[] = {0, 10, 63, 64, 100, size / 2, size - 33, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        copy_file(snap, bad, cuts[i]);
        expect_refused(b, bad, cuts[i] < 8 ? "snapshot" : "snapshot");
    }
    /* one flipped byte in the header, an entry header, a value, the trailer */
    off_t flips[] = {9, 40, 64 + 20, size / 2, size - 20};
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        copy_file(snap, bad, size);
        unsigned char c;
        int fd = open(bad, O_RDWR);
        ASSERT_EQ_INT(pread(fd, &c, 1, flips[i]), 1);
        c ^= 0x5a;
        ASSERT_EQ_INT(pwrite(fd, &c, 1, flips[i]), 1);
        close(fd);
        expect_refused(b, bad, "snapshot");
    }
    /* a flipped byte inside the 2 MB value (read with pread, not mapped) */
    copy_file(snap, bad, size);
    {
        unsigned char c;
        int fd2 = open(bad, O_RDWR);
        ASSERT_EQ_INT(pread(fd2, &c, 1, size / 2), 1);
        c ^= 0x01;
        ASSERT_EQ_INT(pwrite(fd2, &c, 1, size / 2), 1);
        close(fd2);
    }
    expect_refused(b, bad, "an entry's checksum does not match");
    /* a file that is not a snapshot at all, and one that is missing */
    int fd = open(bad, O_WRONLY | O_TRUNC);
    ASSERT_EQ_INT(write(fd, "hello, not a snapshot", 21), 21);
    close(fd);
    expect_refused(b, bad, "not a brain snapshot");
    expect_refused(b, t_path("missing.snapshot"), "No such file");
    /* a bigger format version */
    copy_file(snap, bad, size);
    fd = open(bad, O_RDWR);
    uint32_t ver = 99;
    ASSERT_EQ_INT(pwrite(fd, &ver, 4, 8), 4);
    close(fd);
    expect_refused(b, bad, "format version 99");
    /* the good one still loads */
    ASSERT_OK(brain_snapshot_load(b, snap, BRAIN_LOAD_MERGE, NULL));
    expect_items(b);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(snapshot_save_errors)
{
    brain *b = t_create(0, 8 << 20);
    ASSERT_OK(brain_put(b, NULL, "a", "x", 1, NULL, NULL));
    ASSERT_ERR(brain_snapshot_save(b, t_path("no/such/dir/s.snapshot"), NULL), BRAIN_EIO);
    ASSERT_STR_CONTAINS(t_detail_copy(), "no/such/dir");
    ASSERT_ERR(brain_snapshot_save(b, "", NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_snapshot_save(b, NULL, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_snapshot_load(b, NULL, 0, NULL), BRAIN_EINVAL);
    /* an empty store saves and loads as empty */
    brain *e = t_create(1, 8 << 20);
    const char *snap = t_path("empty.snapshot");
    uint64_t n = 99;
    ASSERT_OK(brain_snapshot_save(e, snap, &n));
    ASSERT_EQ_U64(n, 0);
    ASSERT_OK(brain_snapshot_load(b, snap, 0, &n));
    ASSERT_EQ_U64(n, 0);
    ASSERT_EQ_U64(t_stats(b).names, 0);
    t_destroy(e, 1);
    t_destroy(b, 0);
}

/* ---- progress ------------------------------------------------------------ */

struct prog {
    int calls, phases_ok;
    char last_phase[16];
    uint64_t last_done, last_total;
    int went_back;
};

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    struct prog *p = ctx;
    if (strcmp(phase, p->last_phase) != 0) {
        snprintf(p->last_phase, sizeof p->last_phase, "%s", phase);
        p->last_done = 0;
    }
    if (done < p->last_done || done > total)
        p->went_back = 1;
    p->last_done = done;
    p->last_total = total;
    p->calls++;
}

TEST(snapshot_progress_reports_each_phase)
{
    brain *b = t_create(0, 128 << 20);
    char *buf = t_xmalloc(40u << 20);
    t_vfill(buf, 40u << 20, 9);
    ASSERT_OK(brain_put(b, NULL, "big", buf, 40u << 20, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "small", buf, 10, NULL, NULL));
    free(buf);
    const char *snap = t_path("p.snapshot");
    struct prog p = {0};
    brain_set_progress(b, on_progress, &p);
    ASSERT_OK(brain_snapshot_save(b, snap, NULL));
    /* a 40 MB value moves the bar several times, and the phase ends full */
    ASSERT_GE(p.calls, 3);
    ASSERT_STR_EQ(p.last_phase, "save");
    ASSERT_EQ_U64(p.last_done, (40u << 20) + 10);
    ASSERT_EQ_U64(p.last_total, (40u << 20) + 10);
    ASSERT_EQ_INT(p.went_back, 0);
    p = (struct prog){0};
    ASSERT_OK(brain_snapshot_load(b, snap, 0, NULL));
    ASSERT_STR_EQ(p.last_phase, "load");
    ASSERT_EQ_U64(p.last_done, p.last_total);
    ASSERT_EQ_INT(p.went_back, 0);
    ASSERT_GE(p.calls, 4); /* check, then load */
    /* off again: nothing is called */
    brain_set_progress(b, NULL, NULL);
    p = (struct prog){0};
    ASSERT_OK(brain_snapshot_save(b, snap, NULL));
    ASSERT_EQ_INT(p.calls, 0);
    brain_set_progress(NULL, on_progress, &p); /* a NULL handle is ignored */
    t_destroy(b, 0);
}

/* The file cut short while values are being read into the store (issue
 * 18, finding 4: this was SIGBUS): a clear error, and the store unchanged
 * (nothing is published before the whole file checked out). */
struct cutter {
    const char *path;
    int done;
};

static void cut_while_loading(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    struct cutter *c = ctx;
    (void)total;
    if (!c->done && strcmp(phase, "load") == 0 && done > (12u << 20) + 4096) { /* in "b" */
        ASSERT_EQ_INT(truncate(c->path, 4096), 0);
        c->done = 1;
    }
}

TEST(snapshot_truncated_while_loading_reports_it)
{
    brain *b = t_create(0, 128 << 20);
    char *buf = t_xmalloc(12u << 20);
    t_vfill(buf, 12u << 20, 4);
    ASSERT_OK(brain_put(b, NULL, "a", buf, 12u << 20, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "b", buf, 12u << 20, NULL, NULL));
    free(buf);
    const char *snap = t_path("cut.snapshot");
    ASSERT_OK(brain_snapshot_save(b, snap, NULL));
    brain *c = t_create(1, 128 << 20);
    struct cutter cut = {snap, 0};
    brain_set_progress(c, cut_while_loading, &cut);
    ASSERT_OK(brain_put(c, NULL, "old", "x", 1, NULL, NULL));
    uint64_t used0 = t_stats(c).used;
    ASSERT_ERR(brain_snapshot_load(c, snap, 0, NULL), BRAIN_ESNAPSHOT);
    ASSERT_EQ_INT(cut.done, 1);
    ASSERT_STR_CONTAINS(t_detail_copy(), "shrank while loading");
    ASSERT_STR_CONTAINS(t_detail_copy(), "the store was not changed");
    ASSERT_EQ_U64(t_stats(c).names, 1);
    ASSERT_EQ_INT(brain_exists(c, NULL, "old"), 1);
    ASSERT_EQ_U64(t_stats(c).used, used0); /* the reservations were given back */
    t_check_store(c);
    t_destroy(c, 1);
    t_destroy(b, 0);
}

/* A snapshot on the store's own file system: large values are copied file
 * to file (copy_file_range); elsewhere (the tests' /tmp) through a buffer.
 * Both must give the same bytes. */
TEST(snapshot_load_copies_file_to_file)
{
    brain *b = t_create(0, 64 << 20);
    char *buf = t_xmalloc(6u << 20);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        t_vfill(buf, (6u << 20) - (size_t)i * 4097, (uint64_t)i + 40);
        ASSERT_OK(brain_put(b, "ns", name, buf, (6u << 20) - (size_t)i * 4097, NULL, NULL));
    }
    char snap[BRAIN_PATH_MAX];
    snprintf(snap, sizeof snap, "%s/brain-test-%d.snapshot", t_store_dir(), (int)getpid());
    ASSERT_OK(brain_snapshot_save(b, snap, NULL));
    brain *c = t_create(1, 64 << 20);
    uint64_t count = 0;
    int rc = brain_snapshot_load(c, snap, 0, &count);
    unlink(snap);
    ASSERT_OK(rc);
    ASSERT_EQ_U64(count, 3);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        size_t n = (6u << 20) - (size_t)i * 4097;
        brain_view v;
        ASSERT_OK(brain_get(c, "ns", name, &v));
        ASSERT_EQ_U64(v.size, n);
        ASSERT_VALUE(v.data, v.size, (uint64_t)i + 40);
        brain_view_release(c, &v);
    }
    free(buf);
    t_check_store(c);
    t_destroy(c, 1);
    t_destroy(b, 0);
}

/* ---- brain_repair and brain_procs ----------------------------------------- */

TEST(repair_rebuilds_and_keeps_values)
{
    brain *b = t_create(0, 32 << 20);
    put_items(b);
    ASSERT_OK(brain_delete(b, NULL, "small"));
    ASSERT_OK(brain_put(b, NULL, "small", "again", 5, NULL, NULL));
    brain_stats before = t_stats(b);
    ASSERT_OK(brain_repair(b));
    brain_stats after = t_stats(b);
    ASSERT_EQ_U64(after.names, before.names);
    ASSERT_EQ_U64(after.used, before.used);
    ASSERT_EQ_U64(after.recoveries, before.recoveries + 1);
    t_check_store(b);
    ASSERT_EQ_INT(brain_repair(NULL), BRAIN_EINVAL);
    t_destroy(b, 0);
}

TEST(procs_lists_attached_processes_and_pins)
{
    brain *b = t_create(0, 8 << 20);
    ASSERT_OK(brain_put(b, NULL, "v", "x", 1, NULL, NULL));
    brain_view v;
    int pfd[2], qfd[2];
    ASSERT_EQ_INT(pipe(pfd), 0);
    ASSERT_EQ_INT(pipe(qfd), 0);
    pid_t child = fork();
    if (child == 0) {
        brain *c = t_open(0);
        char ch = 'r';
        if (write(pfd[1], &ch, 1) != 1 || read(qfd[0], &ch, 1) != 1)
            _exit(1);
        brain_close(c);
        _exit(0);
    }
    char ch;
    ASSERT_EQ_INT(read(pfd[0], &ch, 1), 1);
    ASSERT_OK(brain_get(b, NULL, "v", &v)); /* after the fork: the child has no pin */
    brain_proc_info *pv = NULL;
    size_t n = 0;
    ASSERT_OK(brain_procs(b, &pv, &n));
    int self = 0, kid = 0;
    for (size_t i = 0; i < n; i++) {
        if (pv[i].self) {
            self = 1;
            ASSERT_EQ_INT(pv[i].pid, getpid());
            ASSERT_EQ_U64(pv[i].pins, 1);
        }
        if (pv[i].pid == child) {
            kid = 1;
            ASSERT_EQ_INT(pv[i].alive, 1);
            ASSERT_EQ_U64(pv[i].pins, 0);
        }
    }
    ASSERT_EQ_INT(self, 1);
    ASSERT_EQ_INT(kid, 1);
    free(pv);
    ASSERT_EQ_INT(write(qfd[1], "q", 1), 1);
    int st;
    ASSERT_EQ_INT(waitpid(child, &st, 0), child);
    ASSERT_EQ_INT(WEXITSTATUS(st), 0);
    brain_view_release(b, &v);
    ASSERT_OK(brain_procs(b, &pv, &n));
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        /* the child's slots (its own handle closed; the one it inherited
         * was not) are gone or shown dead */
        ASSERT_EQ_INT(pv[i].alive, pv[i].pid != child);
        live += pv[i].alive;
        if (pv[i].self)
            ASSERT_EQ_U64(pv[i].pins, 0);
    }
    ASSERT_EQ_U64(live, 1);
    free(pv);
    size_t reaped = 0;
    ASSERT_OK(brain_reap(b, &reaped));
    ASSERT_OK(brain_procs(b, &pv, &n));
    ASSERT_EQ_U64(n, 1);
    free(pv);
    ASSERT_EQ_INT(brain_procs(b, NULL, &n), BRAIN_EINVAL);
    t_destroy(b, 0);
}

/* Bytes of a value rewritten in the file while the load reads it (issue
 * 18, finding 4: they were stored unchecked): the checksum is computed over
 * what lies in the store, so the change is an error and nothing is stored. */
struct rewriter {
    const char *path;
    uint64_t at;
    int done;
};

static void rewrite_while_loading(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    struct rewriter *r = ctx;
    (void)total;
    if (!r->done && strcmp(phase, "load") == 0 && done > (4u << 20)) {
        int fd = open(r->path, O_WRONLY);
        ASSERT_GE(fd, 0);
        char junk[65536];
        memset(junk, 0x5a, sizeof junk);
        /* well past the reader: the last megabytes of the 16 MiB value */
        for (int i = 0; i < 16; i++)
            ASSERT_EQ_INT(pwrite(fd, junk, sizeof junk, (off_t)(r->at + (12u << 20) + i * sizeof junk)),
                          (ssize_t)sizeof junk);
        close(fd);
        r->done = 1;
    }
}

TEST(snapshot_rewritten_while_loading_is_refused)
{
    brain *b = t_create(0, 128 << 20);
    char *buf = t_xmalloc(16u << 20);
    t_vfill(buf, 16u << 20, 11);
    ASSERT_OK(brain_put(b, NULL, "v", buf, 16u << 20, NULL, NULL));
    free(buf);
    const char *snap = t_path("rw.snapshot");
    ASSERT_OK(brain_snapshot_save(b, snap, NULL));
    brain *c = t_create(1, 128 << 20);
    ASSERT_OK(brain_put(c, NULL, "old", "x", 1, NULL, NULL));
    struct rewriter r = {snap, 0, 0};
    brain_set_progress(c, rewrite_while_loading, &r);
    ASSERT_ERR(brain_snapshot_load(c, snap, 0, NULL), BRAIN_ESNAPSHOT);
    ASSERT_EQ_INT(r.done, 1);
    ASSERT_STR_CONTAINS(t_detail_copy(), "checksum does not match");
    ASSERT_EQ_U64(t_stats(c).names, 1);
    ASSERT_EQ_INT(brain_exists(c, NULL, "v"), 0);
    t_check_store(c);
    t_destroy(c, 1);
    t_destroy(b, 0);
}

/* A load killed part way (issue 18, finding 10: the store was left with
 * the old names plus part of the snapshot): the store holds the old names
 * exactly, and the dead loader's reservations are reaped. */
static void stop_here(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    t_chan *ch = ctx;
    (void)total;
    if (strcmp(phase, "load") == 0 && done > (20u << 20)) {
        t_chan_send(ch, 'k');
        for (;;)
            pause(); /* killed here, values half read into reservations */
    }
}

TEST(snapshot_load_killed_leaves_old_names)
{
    brain *b = t_create(0, 256 << 20);
    char *buf = t_xmalloc(8u << 20);
    for (int i = 0; i < 6; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "new%d", i);
        t_vfill(buf, 8u << 20, (uint64_t)i);
        ASSERT_OK(brain_put(b, NULL, nm, buf, 8u << 20, NULL, NULL));
    }
    free(buf);
    const char *snap = t_path("k.snapshot");
    ASSERT_OK(brain_snapshot_save(b, snap, NULL));
    brain *c = t_create(1, 256 << 20);
    ASSERT_OK(brain_put(c, NULL, "old1", "a", 1, NULL, NULL));
    ASSERT_OK(brain_put(c, NULL, "new0", "b", 1, NULL, NULL));
    t_chan ch;
    t_chan_init(&ch);
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *d = t_open(1);
        brain_set_progress(d, stop_here, &ch);
        brain_snapshot_load(d, snap, 0, NULL);
        t_child_exit(3); /* never reached */
    }
    ASSERT_EQ_INT(t_chan_recv_from(&ch, pid), 'k');
    kill(pid, SIGKILL);
    t_wait_status(pid);
    size_t reaped = 0;
    ASSERT_OK(brain_reap(c, &reaped));
    ASSERT_EQ_U64(t_stats(c).names, 2);
    ASSERT_EQ_INT(brain_exists(c, NULL, "old1"), 1);
    char v[4];
    size_t n = 0;
    ASSERT_OK(brain_read(c, NULL, "new0", v, sizeof v, &n, NULL));
    ASSERT_EQ_U64(n, 1);
    ASSERT_MEM_EQ(v, "b", 1);
    ASSERT_EQ_INT(brain_exists(c, NULL, "new1"), 0);
    t_check_store(c);
    /* and a load that completes leaves exactly the snapshot's names */
    uint64_t cnt = 0;
    ASSERT_OK(brain_snapshot_load(c, snap, 0, &cnt));
    ASSERT_EQ_U64(cnt, 6);
    ASSERT_EQ_U64(t_stats(c).names, 6);
    ASSERT_EQ_INT(brain_exists(c, NULL, "old1"), 0);
    t_check_store(c);
    t_destroy(c, 1);
    t_destroy(b, 0);
}

/* Issue 18, finding 9: a save killed half way leaves FILE.tmp-PID-RAND; the
 * next save in that directory removes it once PID is dead (and only files
 * that are snapshot leftovers: a file of another program with such a name
 * stays). */
TEST(snapshot_save_removes_temporary_files_of_dead_savers)
{
    brain *b = t_create(0, 16 << 20);
    ASSERT_OK(brain_put(b, NULL, "k", "v", 1, NULL, NULL));
    pid_t pid = t_fork();
    if (pid == 0)
        t_child_exit(0);
    t_wait_ok(pid);
    char left[600], foreign[600], live[600];
    snprintf(left, sizeof left, "%s.tmp-%d-0badf00d", t_path("a.snapshot"), (int)pid);
    snprintf(foreign, sizeof foreign, "%s.tmp-%d-0badf00d", t_path("notes.txt"), (int)pid);
    snprintf(live, sizeof live, "%s.tmp-%d-0badf00d", t_path("a.snapshot"), (int)getppid());
    int fd = open(left, O_CREAT | O_WRONLY | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ_INT(write(fd, "BRAINSNP and the rest of a half snapshot", 40), 40);
    close(fd);
    fd = open(foreign, O_CREAT | O_WRONLY | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ_INT(write(fd, "someone's notes", 15), 15);
    close(fd);
    fd = open(live, O_CREAT | O_WRONLY | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    close(fd);
    ASSERT_OK(brain_snapshot_save(b, t_path("b.snapshot"), NULL));
    ASSERT_EQ_INT(access(left, F_OK), -1);
    ASSERT_EQ_INT(access(foreign, F_OK), 0);
    ASSERT_EQ_INT(access(live, F_OK), 0);
    unlink(foreign);
    unlink(live);
    t_destroy(b, 0);
}

/* Issue 18, finding 6: a FIFO given as the snapshot is refused at once (it
 * used to block the open for ever), and a FIFO at the save path is not
 * replaced. */
TEST(snapshot_fifo_refused_at_once)
{
    brain *b = t_create(0, 16 << 20);
    ASSERT_OK(brain_put(b, NULL, "k", "v", 1, NULL, NULL));
    const char *fifo = t_path("fifo.snapshot");
    ASSERT_EQ_INT(mkfifo(fifo, 0600), 0);
    ASSERT_ERR(brain_snapshot_load(b, fifo, 0, NULL), BRAIN_ESNAPSHOT);
    ASSERT_STR_CONTAINS(t_detail_copy(), "not a regular file");
    uint64_t n;
    int ours;
    ASSERT_ERR(brain_snapshot_info(b, fifo, &n, &ours), BRAIN_ESNAPSHOT);
    ASSERT_ERR(brain_snapshot_save(b, fifo, NULL), BRAIN_EINVAL);
    struct stat st;
    ASSERT_EQ_INT(lstat(fifo, &st), 0);
    ASSERT(S_ISFIFO(st.st_mode));
    unlink(fifo);
    t_destroy(b, 0);
}
