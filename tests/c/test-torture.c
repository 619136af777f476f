/* test-torture.c - processes SIGKILLed at random moments, hundreds of times,
 * while they put, get, delete, reserve and publish; readers killed while
 * holding views and reading at an epoch.  Afterwards the store must be
 * consistent, every published value must be there and intact, the dead must
 * be reaped, and deleting everything must give all the space back.
 *
 * The model: each writer slot owns its names, so the last writer of a name
 * is known.  A writer appends a record to its slot's log (O_APPEND, one
 * write per record) before each put/delete and another after it returns.
 * For each name, the state after the last completed operation is certain;
 * an operation begun but not completed (its process was killed) may or may
 * not have taken effect. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define W_SLOTS 3        /* writer slots */
#define R_SLOTS 1        /* reader slots */
#define NAMES_PER_SLOT 8

enum { REC_BEGIN_PUT = 1, REC_END_PUT, REC_BEGIN_DEL, REC_END_DEL };

/* 32 bytes: a power of two, so no record straddles a page of the log file
 * (a SIGKILL can cut a write(2) short between two pages). */
struct rec {
    uint32_t kind, k;
    uint64_t seed;
    int32_t rc;
    uint32_t size;
    uint64_t pad;
};
_Static_assert(sizeof(struct rec) == 32, "log records divide a page");

static const char *slot_ns(int slot)
{
    static const char *ns[W_SLOTS] = {NULL, "t1", "t2"};
    return ns[slot];
}

static void slot_name(int slot, int k, char *buf, size_t cap)
{
    snprintf(buf, cap, "w%d-n%d", slot, k);
}

static void log_rec(int fd, uint32_t kind, int k, uint64_t seed, int rc,
                    size_t size)
{
    struct rec r = {kind, (uint32_t)k, seed, rc, (uint32_t)size, 0};
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
        FAIL("log write: %s", strerror(errno));
}

static void verify_any(const void *data, size_t size, const char *what)
{
    uint64_t seed;
    const char *why = "";
    if (t_vcheck(data, size, &seed, &why) != 0)
        FAIL("%s: bad value of %zu bytes: %s", what, size, why);
}

/* A writer: runs until killed. */
__attribute__((noreturn)) static void writer(brain *inherited, int store,
                                             int slot, int gen, int logfd)
{
    brain *b = (gen % 2 && inherited) ? inherited : t_open(store);
    uint64_t rs = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull + (uint64_t)gen;
    unsigned char *buf = t_xmalloc(256 << 10);
    char name[32];
    for (uint64_t n = 0;; n++) {
        int k = (int)t_rand_range(&rs, NAMES_PER_SLOT);
        slot_name(slot, k, name, sizeof name);
        uint64_t seed = ((uint64_t)slot << 56) | ((uint64_t)gen << 32) |
                        (n & 0xffffffff);
        int op = (int)t_rand_range(&rs, 100);
        int rc;
        size_t size = T_VHDR + (size_t)(t_rand_range(&rs, 10) == 0
                                            ? t_rand_range(&rs, 200 << 10)
                                            : t_rand_range(&rs, 3000));
        if (op < 45) {
            t_vfill(buf, size, seed);
            log_rec(logfd, REC_BEGIN_PUT, k, seed, 0, size);
            rc = brain_put(b, slot_ns(slot), name, buf, size, NULL, NULL);
            log_rec(logfd, REC_END_PUT, k, seed, rc, size);
            if (rc != 0 && rc != BRAIN_EFULL)
                FAIL("put %s: %s (%s)", name, brain_errname(rc),
                     t_detail_copy());
        } else if (op < 60) {
            brain_reservation *res = NULL;
            void *data = NULL;
            log_rec(logfd, REC_BEGIN_PUT, k, seed, 0, size);
            rc = brain_reserve(b, slot_ns(slot), name, size, NULL, &res, &data);
            if (rc == 0) {
                t_vfill(data, size, seed);
                if (t_rand_range(&rs, 10) == 0) {
                    brain_abort(b, res);
                    rc = BRAIN_ECONFLICT; /* logged as "no effect" */
                } else {
                    rc = brain_publish(b, res, NULL);
                }
            }
            log_rec(logfd, REC_END_PUT, k, seed, rc, size);
            if (rc != 0 && rc != BRAIN_EFULL && rc != BRAIN_ECONFLICT)
                FAIL("reserve/publish %s: %s (%s)", name, brain_errname(rc),
                     t_detail_copy());
        } else if (op < 70) {
            log_rec(logfd, REC_BEGIN_DEL, k, 0, 0, 0);
            rc = brain_delete(b, slot_ns(slot), name);
            log_rec(logfd, REC_END_DEL, k, 0, rc, 0);
            if (rc != 0 && rc != BRAIN_ENOTFOUND)
                FAIL("delete %s: %s", name, brain_errname(rc));
        } else if (op < 85) {
            brain_view v = {0};
            rc = brain_get(b, slot_ns(slot), name, &v);
            if (rc == 0) {
                verify_any(v.data, v.size, name);
                brain_view_release(b, &v);
            } else if (rc != BRAIN_ENOTFOUND) {
                FAIL("get %s: %s", name, brain_errname(rc));
            }
        } else {
            size_t got = 0;
            rc = brain_read(b, slot_ns(slot), name, buf, 256 << 10, &got,
                            NULL);
            if (rc == 0)
                verify_any(buf, got, name);
            else if (rc != BRAIN_ENOTFOUND)
                FAIL("read %s: %s", name, brain_errname(rc));
        }
    }
}

/* A reader: holds many views at once, reads everything, runs until killed. */
__attribute__((noreturn)) static void reader(int store)
{
    brain *b = t_open(store);
    uint64_t rs = (uint64_t)getpid();
    enum { HOLD = 24 };
    brain_view held[HOLD];
    memset(held, 0, sizeof held);
    unsigned char *buf = t_xmalloc(256 << 10);
    char name[32];
    for (;;) {
        int slot = (int)t_rand_range(&rs, W_SLOTS);
        int k = (int)t_rand_range(&rs, NAMES_PER_SLOT);
        slot_name(slot, k, name, sizeof name);
        int h = (int)t_rand_range(&rs, HOLD);
        brain_view_release(b, &held[h]);
        memset(&held[h], 0, sizeof held[h]);
        int rc = brain_get(b, slot_ns(slot), name, &held[h]);
        if (rc == 0)
            verify_any(held[h].data, held[h].size, name);
        else if (rc != BRAIN_ENOTFOUND)
            FAIL("reader get %s: %s", name, brain_errname(rc));
        /* re-verify a held view: it must not have changed */
        int h2 = (int)t_rand_range(&rs, HOLD);
        if (held[h2].data)
            verify_any(held[h2].data, held[h2].size, "held view");
        size_t got;
        rc = brain_read(b, slot_ns(slot), name, buf, 256 << 10, &got, NULL);
        if (rc == 0)
            verify_any(buf, got, name);
        else if (rc != BRAIN_ENOTFOUND)
            FAIL("reader read %s: %s", name, brain_errname(rc));
        if (t_rand_range(&rs, 64) == 0) {
            brain_list *l = NULL;
            ASSERT_OK(brain_list_names(b, NULL, BRAIN_LIST_ALL_NS, &l));
            brain_list_free(l);
        }
    }
}

/* ---- the model ----------------------------------------------------------- */
#define MAX_CAND 256
struct cand {
    int present;
    uint64_t seed;
    size_t size;
};
struct name_state {
    int ncand;        /* states the name may be in now */
    struct cand cand[MAX_CAND];
    int pending;      /* an operation began and did not complete (yet) */
    struct cand pend; /* its result if it took effect */
};

static void add_cand(struct name_state *s, struct cand c)
{
    for (int i = 0; i < s->ncand; i++)
        if (s->cand[i].present == c.present &&
            (!c.present || (s->cand[i].seed == c.seed &&
                            s->cand[i].size == c.size)))
            return;
    ASSERT(s->ncand < MAX_CAND);
    s->cand[s->ncand++] = c;
}

static void replay(const char *path, struct name_state *st, int *records)
{
    for (int k = 0; k < NAMES_PER_SLOT; k++) {
        st[k].ncand = 1;
        st[k].cand[0] = (struct cand){0, 0, 0}; /* absent at first */
        st[k].pending = 0;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    struct rec r;
    ssize_t got;
    while ((got = read(fd, &r, sizeof r)) == (ssize_t)sizeof r) {
        (*records)++;
        ASSERT(r.k < NAMES_PER_SLOT);
        struct name_state *s = &st[r.k];
        switch (r.kind) {
        case REC_BEGIN_PUT:
        case REC_BEGIN_DEL:
            /* the previous process of the slot died in the middle of an
             * operation: it may or may not have taken effect */
            if (s->pending)
                add_cand(s, s->pend);
            s->pending = 1;
            s->pend = r.kind == REC_BEGIN_PUT
                          ? (struct cand){1, r.seed, r.size}
                          : (struct cand){0, 0, 0};
            break;
        case REC_END_PUT:
            ASSERT(s->pending && s->pend.present && s->pend.seed == r.seed);
            s->pending = 0;
            if (r.rc == 0) {
                s->ncand = 1;
                s->cand[0] = (struct cand){1, r.seed, r.size};
            }
            break;
        case REC_END_DEL: {
            ASSERT(s->pending && !s->pend.present);
            s->pending = 0;
            int could_be_absent = 0;
            for (int i = 0; i < s->ncand; i++)
                could_be_absent |= !s->cand[i].present;
            if (r.rc == BRAIN_ENOTFOUND)
                ASSERT_MSG(could_be_absent,
                           "a delete found name %u of %s absent, but its "
                           "last put had returned", r.k, path);
            s->ncand = 1;
            s->cand[0] = (struct cand){0, 0, 0};
            break;
        }
        default:
            FAIL("bad log record kind %u", r.kind);
        }
    }
    ASSERT_EQ_INT(got, 0); /* no torn record */
    close(fd);
    for (int k = 0; k < NAMES_PER_SLOT; k++)
        if (st[k].pending)
            add_cand(&st[k], st[k].pend);
}

/* Is what the store holds for the name allowed by the model? */
static void check_name(brain *b, int slot, int k, const struct name_state *s,
                       int *uncertain)
{
    char name[32];
    slot_name(slot, k, name, sizeof name);
    unsigned char *buf = t_xmalloc(256 << 10);
    size_t got = 0;
    int rc = brain_read(b, slot_ns(slot), name, buf, 256 << 10, &got, NULL);
    int ok = 0;
    if (rc == BRAIN_ENOTFOUND) {
        for (int i = 0; i < s->ncand; i++)
            ok |= !s->cand[i].present;
        ASSERT_MSG(ok, "%s is gone, but a put of it returned (seed %#" PRIx64
                   ") and no delete of it began after", name, s->cand[0].seed);
    } else {
        ASSERT_OK(rc);
        uint64_t seed = 0;
        const char *why = "";
        ASSERT_MSG(t_vcheck(buf, got, &seed, &why) == 0,
                   "%s: bad value: %s", name, why);
        for (int i = 0; i < s->ncand; i++)
            ok |= s->cand[i].present && s->cand[i].seed == seed &&
                  s->cand[i].size == got;
        ASSERT_MSG(ok, "%s holds seed %#" PRIx64 " (%zu bytes), which is "
                   "none of the %d values the log allows (first: %s %#"
                   PRIx64 ")", name, seed, got, s->ncand,
                   s->cand[0].present ? "seed" : "absent", s->cand[0].seed);
    }
    if (s->ncand > 1)
        (*uncertain)++;
    free(buf);
}

static pid_t spawn(brain *b, int store, int slot, int gen, int *logfds)
{
    pid_t pid = t_fork();
    if (pid == 0) {
        if (slot < W_SLOTS)
            writer(b, store, slot, gen, logfds[slot]);
        reader(store);
    }
    return pid;
}

TEST_TIMEOUT(torture_sigkill_writers_and_readers, 90)
{
    /* A big process table: children forked with the parent's handle take a
     * slot at fork (see fork_child_slot_when_table_full_of_dead). */
    brain_config cfg = {.capacity = 128 << 20, .max_procs = 4096};
    brain *b = t_create_cfg(0, &cfg);
    uint64_t used0 = t_used(b);
    int logfds[W_SLOTS];
    for (int s = 0; s < W_SLOTS; s++) {
        char leaf[32];
        snprintf(leaf, sizeof leaf, "log-%d", s);
        logfds[s] = open(t_path(leaf), O_CREAT | O_WRONLY | O_APPEND, 0600);
        ASSERT(logfds[s] >= 0);
    }
    enum { SLOTS = W_SLOTS + R_SLOTS };
    pid_t pids[SLOTS];
    int gens[SLOTS] = {0};
    for (int s = 0; s < SLOTS; s++)
        pids[s] = spawn(b, 0, s, gens[s], logfds);

    uint64_t rs = (uint64_t)t_now_ns();
    int kills = 0, min_kills = T_SCALE(400, 2);
    int64_t t0 = t_now_ms(), min_ms = 6000, max_ms = 45000;
    while ((kills < min_kills || t_now_ms() - t0 < min_ms) &&
           t_now_ms() - t0 < max_ms) {
        t_sleep_ms((double)t_rand_range(&rs, 5000) / 1000.0);
        int s = (int)t_rand_range(&rs, SLOTS);
        /* a child that already ended failed an assertion */
        int st;
        pid_t w = waitpid(pids[s], &st, WNOHANG);
        if (w == pids[s])
            FAIL("slot %d process ended by itself (status %#x): see above", s,
                 st);
        kill(pids[s], SIGKILL);
        st = t_wait_status(pids[s]);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
            FAIL("slot %d process ended with status %#x before the kill", s,
                 st);
        kills++;
        pids[s] = spawn(b, 0, s, ++gens[s], logfds);
    }
    for (int s = 0; s < SLOTS; s++) {
        kill(pids[s], SIGKILL);
        t_wait_status(pids[s]);
        if (s < W_SLOTS)
            close(logfds[s]);
    }
    t_log("%d kills in %.1f s", kills, (double)(t_now_ms() - t0) / 1000.0);
    ASSERT_GE(kills, 200);

    /* the store is consistent */
    t_check_store(b);
    brain_stats st = t_stats(b);
    t_log("after: %" PRIu64 " names, %" PRIu64 " procs, %" PRIu64
          " pins, %" PRIu64 " recoveries, %" PRIu64 " reaped, limbo %" PRIu64,
          st.names, st.procs, st.pins, st.recoveries, st.reaped, st.limbo);

    /* every name holds what the model allows */
    int records = 0, uncertain = 0;
    static struct name_state model[NAMES_PER_SLOT];
    for (int s = 0; s < W_SLOTS; s++) {
        char leaf[32];
        snprintf(leaf, sizeof leaf, "log-%d", s);
        replay(t_path(leaf), model, &records);
        for (int k = 0; k < NAMES_PER_SLOT; k++)
            check_name(b, s, k, &model[k], &uncertain);
    }
    t_log("%d log records; %d names with an operation cut short by a kill",
          records, uncertain);
    ASSERT_GT(records, 1000);

    /* the dead are reaped: their pins and reservations released */
    size_t reaped = 0;
    ASSERT_OK(brain_reap(b, &reaped));
    st = t_stats(b);
    ASSERT_EQ_U64(st.procs, 1);
    ASSERT_EQ_U64(st.pins, 0);
    ASSERT_GE_U64(st.reaped, (uint64_t)kills / 2);
    /* with hundreds of kills, some landed while a writer held the lock */
    ASSERT_GT_U64(st.recoveries, 0);

    /* delete everything: all the space comes back */
    for (int s = 0; s < W_SLOTS; s++)
        ASSERT_OK(brain_ns_clear(b, slot_ns(s), NULL));
    ASSERT_OK(brain_put(b, NULL, "flush", "f", 1, NULL, NULL));
    ASSERT_OK(brain_delete(b, NULL, "flush"));
    st = t_stats(b);
    ASSERT_EQ_U64(st.names, 0);
    ASSERT_EQ_U64(st.limbo, 0);
    ASSERT_EQ_U64(st.used, used0);
    t_check_store(b);
    /* and it is all usable */
    char *big = t_xmalloc(16 << 20);
    memset(big, 1, 16 << 20);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "big%d", i);
        ASSERT_OK(brain_put(b, NULL, name, big, 16 << 20, NULL, NULL));
    }
    free(big);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST_TIMEOUT(torture_reader_killed_holding_views_and_epoch, 60)
{
    /* Readers die at random while holding views and while reading; the
     * writer keeps replacing the values they hold.  Space never leaks. */
    brain_config cfg = {.capacity = 32 << 20, .max_procs = 16};
    brain *b = t_create_cfg(0, &cfg);
    uint64_t used0 = t_used(b);
    unsigned char *buf = t_xmalloc(1 << 20);
    for (int k = 0; k < 8; k++) {
        char name[32];
        snprintf(name, sizeof name, "r%d", k);
        t_vfill(buf, 1 << 20, (uint64_t)k);
        ASSERT_OK(brain_put(b, NULL, name, buf, 1 << 20, NULL, NULL));
    }
    uint64_t rs = 77, seed = 100;
    int kills = 0, target = T_SCALE(200, 2);
    pid_t pid = -1;
    while (kills < target) {
        t_chan ready;
        t_chan_init(&ready);
        pid = t_fork();
        if (pid == 0) {
            brain *c = t_open(0);
            int signalled = 0;
            brain_view v[8];
            memset(v, 0, sizeof v);
            for (uint64_t n = 0;; n++) {
                int k = (int)(n % 8);
                char name[32];
                snprintf(name, sizeof name, "r%d", k);
                brain_view_release(c, &v[k]);
                memset(&v[k], 0, sizeof v[k]);
                ASSERT_OK(brain_get(c, NULL, name, &v[k]));
                verify_any(v[k].data, v[k].size, name);
                unsigned char small[T_VHDR];
                size_t got;
                int rc = brain_read(c, NULL, name, small, sizeof small, &got,
                                    NULL);
                ASSERT_EQ_INT(rc, BRAIN_ERANGE);
                if (!signalled && n >= 8) { /* holds 8 views now */
                    t_chan_send(&ready, 'r');
                    signalled = 1;
                }
            }
        }
        /* kill it once it holds views (a kill right at fork is the other
         * torture test's business) */
        ASSERT_EQ_INT(t_chan_recv_from(&ready, pid), 'r');
        close(ready.rd);
        close(ready.wr);
        /* replace values while the reader runs, then kill it */
        for (int i = 0; i < 3; i++) {
            char name[32];
            int k = (int)t_rand_range(&rs, 8);
            snprintf(name, sizeof name, "r%d", k);
            t_vfill(buf, 1 << 20, seed++);
            int rc = brain_put(b, NULL, name, buf, 1 << 20, NULL, NULL);
            ASSERT_MSG(rc == 0, "put while readers die: %s (%s)",
                       brain_errname(rc), t_detail_copy());
        }
        t_sleep_ms((double)t_rand_range(&rs, 3000) / 1000.0);
        kill(pid, SIGKILL);
        int st = t_wait_status(pid);
        ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                   "reader ended with status %#x before the kill", st);
        kills++;
    }
    size_t reaped = 0;
    ASSERT_OK(brain_reap(b, &reaped));
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.procs, 1);
    ASSERT_EQ_U64(st.pins, 0);
    t_check_store(b);
    for (int k = 0; k < 8; k++) {
        char name[32];
        snprintf(name, sizeof name, "r%d", k);
        brain_view v = {0};
        ASSERT_OK(brain_get(b, NULL, name, &v));
        verify_any(v.data, v.size, name);
        brain_view_release(b, &v);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    ASSERT_OK(brain_put(b, NULL, "flush", "f", 1, NULL, NULL));
    ASSERT_OK(brain_delete(b, NULL, "flush"));
    st = t_stats(b);
    ASSERT_EQ_U64(st.limbo, 0);
    ASSERT_EQ_U64(st.used, used0);
    free(buf);
    t_check_store(b);
    t_destroy(b, 0);
}
