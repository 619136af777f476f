/* test-stress.c - a model check of readers, writers and forgetters working
 * on the same few names at once, from threads and processes together.
 *
 * Every value published is unique and describes itself: its checked header
 * (t_vfill) carries a seed that encodes the name it was written for, the
 * writer and that writer's sequence number; its length and checksum are in
 * the header too.  Before each put a writer records (name, size) for its
 * sequence number in a log in shared memory (MAP_SHARED | MAP_ANONYMOUS,
 * mapped before any fork) and announces the sequence number as begun; when
 * the put returns it records the outcome (the version, or that it failed or
 * was aborted).  Every read is then checked against the log:
 *
 *   - the value is whole (checksum), was written for the name it was read
 *     under, by a put that had begun, with the size that put recorded;
 *   - it is not from a put that failed or a reservation that was aborted;
 *   - its version is the one its put returned (checked at the end for puts
 *     still running when the value was read);
 *   - its version is at least that of every put of the name that had
 *     returned before the read began (no stale read), and, per reading
 *     thread and name, versions and each writer's sequence numbers never go
 *     back (brain.h: one index word per name, swapped under the writers'
 *     lock; versions come from a store-wide counter);
 *   - the two names of a pair, only ever written together by put_many,
 *     come back from get_many as the same put;
 *   - a view held while writers replace and forgetters delete its name
 *     keeps exactly its bytes, size and version until it is released
 *     (verified again on release).
 *
 * At the end each name must hold the completed put with the highest
 * version (or, for a name that forgetters delete, nothing), brain_check
 * passes and no pin is left. */
#include "test.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_STABLE 8            /* names 0..7: ns "stable", never deleted */
#define S_CHURN 8             /* names 8..15: ns "churn", deleted too */
#define S_PAIR0 (S_STABLE + S_CHURN) /* names 16 and 17: ns "pair", */
#define S_NAMES (S_PAIR0 + 2)        /* written only by put_many together */
#define S_PAIR 0xffu          /* log record k of a put_many of the pair */
#define S_WRITERS 8           /* writer ids 0..6; 7 fills the store first */
#define S_SETUP_WRITER (S_WRITERS - 1)
#define S_LOG_CAP (1u << 19)  /* records per writer (16 MiB) */
#define S_OBS_CAP (1u << 16)  /* observations left to check at the end */
#define S_HOLD_MAX 64         /* views one reader may hold at once */
#define S_BIG (160u << 10)    /* largest value */

enum { REC_BEGUN = 1, REC_DONE, REC_FAILED, REC_ABORTED };

struct s_rec {
    uint32_t k;     /* name, or S_PAIR */
    uint32_t size;
    uint32_t state; /* REC_* */
    uint32_t pad;
    uint64_t version, version2; /* version2: the pair's second name */
};

/* A value read while its put had not returned yet: its version is checked
 * against the log once everything has stopped. */
struct s_obs {
    uint32_t w, k;
    uint64_t seq, version;
};

struct s_shared {
    uint64_t begun[S_WRITERS];  /* next sequence number, per writer */
    uint64_t done_ver[S_NAMES]; /* highest version of a returned put */
    uint64_t nobs, obs_dropped;
    /* counters */
    uint64_t puts, reserves, aborts, efull, pair_puts, deletes, clears;
    uint64_t hog_rounds, hog_full;
    uint64_t reads, views, pair_reads, misses, outlived, held_max;
    struct s_obs obs[S_OBS_CAP];
    struct s_rec log[S_WRITERS][S_LOG_CAP];
};

struct s_cfg {
    uint64_t capacity;
    int hold_max;     /* views a reader holds at once, at most */
    int hold_ms;      /* each for up to this long */
    int big_pct;      /* per mille of values of 64 KiB or more */
};

enum { ROLE_WRITER, ROLE_READER, ROLE_FORGETTER, ROLE_HOG };

struct s_role {
    brain *b;
    struct s_shared *sh;
    const struct s_cfg *cfg;
    int kind, w; /* w: writer id, or a seed for the others */
    int64_t until_ms;
};

static const char *s_ns(int k)
{
    return k < S_STABLE ? "stable" : k < S_PAIR0 ? "churn" : "pair";
}

static const char *s_name(int k)
{
    static const char *names[S_NAMES] = {
        "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "c8",
        "c9", "c10", "c11", "c12", "c13", "c14", "c15", "p16", "p17"};
    return names[k];
}

static uint64_t s_seed(int k, int w, uint64_t seq)
{
    return ((uint64_t)k << 56) | ((uint64_t)w << 48) | seq;
}

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

static void s_max(uint64_t *p, uint64_t v)
{
    uint64_t cur = LOAD(p);
    while (cur < v &&
           !__atomic_compare_exchange_n(p, &cur, v, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
        ;
}

static struct s_shared *s_map(void)
{
    void *p = mmap(NULL, sizeof(struct s_shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        FAIL("mmap of the shared log failed");
    return p;
}

/* ---- writers --------------------------------------------------------------- */
static size_t s_size(uint64_t *rs, const struct s_cfg *cfg)
{
    uint64_t r = t_rand_range(rs, 1000);
    if (r < (uint64_t)cfg->big_pct)
        return (64u << 10) + (size_t)t_rand_range(rs, S_BIG - (64u << 10));
    if (r < 850)
        return T_VHDR + (size_t)t_rand_range(rs, 2048);
    return T_VHDR + (size_t)t_rand_range(rs, 32u << 10);
}

/* One put of name k (or the pair) as writer w; returns 0 when the log is
 * full. */
static int s_write_one(brain *b, struct s_shared *sh, const struct s_cfg *cfg,
                       int w, uint64_t *seq, uint64_t *rs, unsigned char *buf,
                       int k, int mode)
{
    if (*seq >= S_LOG_CAP)
        return 0;
    uint64_t s = (*seq)++;
    size_t size = s_size(rs, cfg);
    struct s_rec *r = &sh->log[w][s];
    r->k = k == S_PAIR0 ? S_PAIR : (uint32_t)k;
    r->size = (uint32_t)size;
    r->state = REC_BEGUN;
    STORE(&sh->begun[w], s + 1); /* publishes the record */

    int rc;
    uint64_t v = 0;
    if (k == S_PAIR0) {
        t_vfill(buf, size, s_seed(S_PAIR0, w, s));
        t_vfill(buf + S_BIG, size, s_seed(S_PAIR0 + 1, w, s));
        brain_item items[2] = {
            {s_ns(S_PAIR0), s_name(S_PAIR0), buf, size, NULL},
            {s_ns(S_PAIR0 + 1), s_name(S_PAIR0 + 1), buf + S_BIG, size, NULL}};
        uint64_t vs[2] = {0, 0};
        rc = brain_put_many(b, 2, items, vs, NULL);
        if (rc == 0) {
            ASSERT_GT_U64(vs[0], 0);
            ASSERT_GT_U64(vs[1], 0);
            r->version2 = vs[1];
            STORE(&r->version, vs[0]);
            STORE(&r->state, (uint32_t)REC_DONE);
            s_max(&sh->done_ver[S_PAIR0], vs[0]);
            s_max(&sh->done_ver[S_PAIR0 + 1], vs[1]);
            ADD(&sh->pair_puts, 1);
            return 1;
        }
    } else if (mode == 0) { /* put: a copy */
        t_vfill(buf, size, s_seed(k, w, s));
        rc = brain_put(b, s_ns(k), s_name(k), buf, size, NULL, &v);
    } else { /* reserve, write in place, publish or abort */
        brain_reservation *res = NULL;
        void *data = NULL;
        rc = brain_reserve(b, s_ns(k), s_name(k), size, NULL, &res, &data);
        if (rc == 0) {
            ADD(&sh->reserves, 1);
            t_vfill(data, size, s_seed(k, w, s));
            if (mode == 2) {
                /* marked before: such a value must never be seen */
                STORE(&r->state, (uint32_t)REC_ABORTED);
                brain_abort(b, res);
                ADD(&sh->aborts, 1);
                return 1;
            }
            rc = brain_publish(b, res, &v);
        }
    }
    if (rc == BRAIN_EFULL) {
        STORE(&r->state, (uint32_t)REC_FAILED);
        ADD(&sh->efull, 1);
        return 1;
    }
    ASSERT_MSG(rc == 0, "put of %s/%s (%zu bytes) by writer %d: %s (%s)",
               s_ns(k), s_name(k), size, w, brain_errname(rc),
               t_detail_copy());
    ASSERT_GT_U64(v, 0);
    STORE(&r->version, v);
    STORE(&r->state, (uint32_t)REC_DONE);
    s_max(&sh->done_ver[k], v);
    ADD(&sh->puts, 1);
    return 1;
}

static void s_writer(const struct s_role *ro)
{
    uint64_t rs = 0x9e3779b97f4a7c15ull * (uint64_t)(ro->w + 1);
    uint64_t seq = LOAD(&ro->sh->begun[ro->w]);
    unsigned char *buf = t_xmalloc(2 * S_BIG);
    while (t_now_ms() < ro->until_ms) {
        uint64_t r = t_rand_range(&rs, 100);
        int k = r < 10 ? S_PAIR0 : (int)t_rand_range(&rs, S_PAIR0);
        uint64_t m = t_rand_range(&rs, 100);
        int mode = m < 75 ? 0 : m < 95 ? 1 : 2;
        if (!s_write_one(ro->b, ro->sh, ro->cfg, ro->w, &seq, &rs, buf, k,
                         mode))
            break; /* the log is full: enough */
    }
    free(buf);
}

/* ---- forgetters -------------------------------------------------------------- */
static void s_forgetter(const struct s_role *ro)
{
    uint64_t rs = 0xda942042e4dd58b5ull * (uint64_t)(ro->w + 1);
    while (t_now_ms() < ro->until_ms) {
        if (t_rand_range(&rs, 100) == 0) {
            size_t removed = 0;
            ASSERT_OK(brain_ns_clear(ro->b, "churn", &removed));
            ASSERT_LE_U64(removed, S_CHURN);
            ADD(&ro->sh->clears, 1);
        } else {
            int k = S_STABLE + (int)t_rand_range(&rs, S_CHURN);
            int rc = brain_delete(ro->b, s_ns(k), s_name(k));
            ASSERT_MSG(rc == 0 || rc == BRAIN_ENOTFOUND, "delete %s: %s (%s)",
                       s_name(k), brain_errname(rc), t_detail_copy());
            if (rc == 0)
                ADD(&ro->sh->deletes, 1);
        }
        /* a pause now and then, so the names spend time present as well
         * as absent */
        if (t_rand_range(&rs, 8) == 0)
            t_sleep_ms(0.1);
    }
}

/* ---- the hog ----------------------------------------------------------------- */
/* Takes the store's free space in reservations of HOG_CHUNK bytes until it
 * meets BRAIN_EFULL, holds them for a few milliseconds while the others
 * work, then aborts them all, over and over.  Each round ends in
 * BRAIN_EFULL by construction (the store cannot grow past its capacity),
 * and while the hog holds the space the writers run into it too: the
 * test no longer depends on the views alone filling the store. */
#define HOG_CHUNK (256u << 10)
#define HOG_MAX 64

static void s_hog(const struct s_role *ro)
{
    uint64_t rs = 0x94d049bb133111ebull * (uint64_t)(ro->w + 1);
    brain_reservation *res[HOG_MAX];
    while (t_now_ms() < ro->until_ms) {
        int n = 0, rc = 0;
        while (n < HOG_MAX) {
            char name[16];
            void *data = NULL;
            snprintf(name, sizeof name, "h%d", n);
            rc = brain_reserve(ro->b, "hog", name, HOG_CHUNK, NULL, &res[n],
                               &data);
            if (rc != 0)
                break;
            memset(data, 0x5a, 64); /* touch it, as a writer would */
            n++;
        }
        ASSERT_MSG(rc == BRAIN_EFULL,
                   "the hog's reservation %d of %u bytes: %s (%s)", n,
                   HOG_CHUNK, rc ? brain_errname(rc) : "no error",
                   t_detail_copy());
        ADD(&ro->sh->hog_full, 1);
        t_sleep_ms((double)(1 + t_rand_range(&rs, 10)));
        while (n > 0)
            brain_abort(ro->b, res[--n]);
        ADD(&ro->sh->hog_rounds, 1);
        t_sleep_ms((double)(1 + t_rand_range(&rs, 5)));
    }
}

/* ---- readers ------------------------------------------------------------------- */
struct s_reader {
    const struct s_role *ro;
    uint64_t last_ver[S_NAMES];
    uint64_t last_seq[S_NAMES][S_WRITERS];
};

/* Checks a value read under name k with the given version, read by an
 * operation that began when the highest returned put of k was floor.
 * Returns the value's seed. */
static uint64_t s_check(struct s_reader *rd, int k, const void *data,
                        size_t size, uint64_t version, uint64_t floor,
                        const char *how)
{
    struct s_shared *sh = rd->ro->sh;
    uint64_t seed = 0;
    const char *why = "";
    if (t_vcheck(data, size, &seed, &why) != 0)
        FAIL("%s of %s/%s (%zu bytes, version %" PRIu64 "): %s", how,
             s_ns(k), s_name(k), size, version, why);
    int vk = (int)(seed >> 56), w = (int)((seed >> 48) & 0xff);
    uint64_t s = seed & 0xffffffffffffull;
    ASSERT_MSG(vk == k, "%s of %s/%s found a value written for name %d", how,
               s_ns(k), s_name(k), vk);
    ASSERT_MSG(w < S_WRITERS, "%s of %s: writer %d does not exist", how,
               s_name(k), w);
    ASSERT_MSG(s < LOAD(&sh->begun[w]),
               "%s of %s: value (writer %d, seq %" PRIu64
               ") whose put had not begun", how, s_name(k), w, s);
    struct s_rec *r = &sh->log[w][s];
    uint32_t state = LOAD(&r->state);
    uint32_t want_k = k >= S_PAIR0 ? S_PAIR : (uint32_t)k;
    ASSERT_MSG(r->k == want_k && r->size == size,
               "%s of %s: (writer %d, seq %" PRIu64 ") was put as name %u, "
               "%u bytes; read %zu bytes", how, s_name(k), w, s, r->k,
               r->size, size);
    ASSERT_MSG(state != REC_FAILED && state != REC_ABORTED,
               "%s of %s: value (writer %d, seq %" PRIu64 ") of a %s is visible",
               how, s_name(k), w, s,
               state == REC_FAILED ? "put that failed" : "reservation aborted");
    if (state == REC_DONE) {
        uint64_t want = k == S_PAIR0 + 1 ? r->version2 : LOAD(&r->version);
        ASSERT_MSG(version == want,
                   "%s of %s: version %" PRIu64 ", its put returned %" PRIu64,
                   how, s_name(k), version, want);
    } else {
        uint64_t i = ADD(&sh->nobs, 1);
        if (i < S_OBS_CAP)
            sh->obs[i] = (struct s_obs){(uint32_t)w, (uint32_t)k, s, version};
        else
            ADD(&sh->obs_dropped, 1);
    }
    ASSERT_MSG(version >= floor,
               "%s of %s: stale value, version %" PRIu64 " but a put of "
               "version %" PRIu64 " had returned before the read began",
               how, s_name(k), version, floor);
    ASSERT_MSG(version >= rd->last_ver[k],
               "%s of %s: version went back from %" PRIu64 " to %" PRIu64, how,
               s_name(k), rd->last_ver[k], version);
    ASSERT_MSG(s >= rd->last_seq[k][w],
               "%s of %s: writer %d's seq went back from %" PRIu64
               " to %" PRIu64, how, s_name(k), w, rd->last_seq[k][w], s);
    rd->last_ver[k] = version;
    rd->last_seq[k][w] = s;
    return seed;
}

struct s_held {
    brain_view v;
    int k;
    uint64_t seed, version, size;
    int64_t release_ms;
};

static void s_release(struct s_reader *rd, struct s_held *h)
{
    brain *b = rd->ro->b;
    uint64_t seed = 0;
    const char *why = "";
    if (t_vcheck(h->v.data, h->v.size, &seed, &why) != 0)
        FAIL("view of %s changed while held: %s", s_name(h->k), why);
    ASSERT_MSG(seed == h->seed && h->v.size == h->size &&
                   h->v.info.version == h->version,
               "view of %s changed while held: seed %" PRIx64 " -> %" PRIx64
               ", version %" PRIu64 " -> %" PRIu64, s_name(h->k), h->seed,
               seed, h->version, h->v.info.version);
    ASSERT_STR_EQ(h->v.info.name, s_name(h->k));
    ASSERT_STR_EQ(h->v.info.ns, s_ns(h->k));
    brain_info in;
    int rc = brain_meta(b, s_ns(h->k), s_name(h->k), &in, NULL, 0);
    ASSERT(rc == 0 || rc == BRAIN_ENOTFOUND);
    if (rc == BRAIN_ENOTFOUND || in.version != h->version)
        ADD(&rd->ro->sh->outlived, 1);
    brain_view_release(b, &h->v);
}

static void s_hold(struct s_reader *rd, struct s_held *held, int *nheld,
                   uint64_t *rs, int k, brain_view *v, uint64_t seed)
{
    const struct s_cfg *cfg = rd->ro->cfg;
    if (*nheld >= cfg->hold_max) { /* release the oldest */
        s_release(rd, &held[0]);
        memmove(&held[0], &held[1], (size_t)(*nheld - 1) * sizeof *held);
        (*nheld)--;
    }
    struct s_held *h = &held[(*nheld)++];
    h->v = *v;
    h->k = k;
    h->seed = seed;
    h->version = v->info.version;
    h->size = v->size;
    h->release_ms =
        t_now_ms() + (int64_t)t_rand_range(rs, (uint64_t)cfg->hold_ms + 1);
    s_max(&rd->ro->sh->held_max, (uint64_t)*nheld);
}

static void s_reader(const struct s_role *ro)
{
    struct s_reader *rd = calloc(1, sizeof *rd);
    struct s_held *held = calloc(S_HOLD_MAX, sizeof *held);
    unsigned char *buf = t_xmalloc(S_BIG);
    ASSERT(rd && held);
    rd->ro = ro;
    int nheld = 0;
    uint64_t rs = 0xbf58476d1ce4e5b9ull * (uint64_t)(ro->w + 1) ^
                  (uint64_t)getpid();
    struct s_shared *sh = ro->sh;
    brain *b = ro->b;
    do {
        /* release the views whose time is up */
        int64_t now = t_now_ms();
        for (int i = 0; i < nheld;) {
            if (held[i].release_ms <= now) {
                s_release(rd, &held[i]);
                held[i] = held[--nheld];
            } else {
                i++;
            }
        }
        uint64_t op = t_rand_range(&rs, 100);
        if (op < 10) { /* the pair, from one snapshot */
            uint64_t f0 = LOAD(&sh->done_ver[S_PAIR0]);
            uint64_t f1 = LOAD(&sh->done_ver[S_PAIR0 + 1]);
            brain_key keys[2] = {{s_ns(S_PAIR0), s_name(S_PAIR0)},
                                 {s_ns(S_PAIR0 + 1), s_name(S_PAIR0 + 1)}};
            brain_view v[2];
            memset(v, 0, sizeof v);
            ASSERT_OK(brain_get_many(b, 2, keys, v, NULL));
            uint64_t s0 = s_check(rd, S_PAIR0, v[0].data, v[0].size,
                                  v[0].info.version, f0, "brain_get_many");
            uint64_t s1 = s_check(rd, S_PAIR0 + 1, v[1].data, v[1].size,
                                  v[1].info.version, f1, "brain_get_many");
            ASSERT_MSG((s0 & 0xffffffffffffffull) == (s1 & 0xffffffffffffffull),
                       "brain_get_many of the pair mixes two puts: %" PRIx64
                       " and %" PRIx64, s0, s1);
            brain_view_release(b, &v[0]);
            brain_view_release(b, &v[1]);
            ADD(&sh->pair_reads, 1);
            continue;
        }
        int k = (int)t_rand_range(&rs, S_NAMES);
        uint64_t floor = LOAD(&sh->done_ver[k]);
        if (op < 55) { /* a pinned view, held for a while */
            brain_view v = {0};
            int rc = brain_get(b, s_ns(k), s_name(k), &v);
            if (rc == BRAIN_ENOTFOUND && k >= S_STABLE && k < S_PAIR0) {
                ADD(&sh->misses, 1);
                continue;
            }
            ASSERT_MSG(rc == 0, "brain_get of %s/%s: %s (%s)", s_ns(k),
                       s_name(k), brain_errname(rc), t_detail_copy());
            ASSERT_EQ_U64(v.info.size, v.size);
            ASSERT_STR_EQ(v.info.name, s_name(k));
            ASSERT_STR_EQ(v.info.ns, s_ns(k));
            uint64_t seed = s_check(rd, k, v.data, v.size, v.info.version,
                                    floor, "brain_get");
            ADD(&sh->views, 1);
            s_hold(rd, held, &nheld, &rs, k, &v, seed);
        } else { /* a copy */
            size_t n = 0;
            brain_info in;
            int rc = brain_read(b, s_ns(k), s_name(k), buf, S_BIG, &n, &in);
            if (rc == BRAIN_ENOTFOUND && k >= S_STABLE && k < S_PAIR0) {
                ADD(&sh->misses, 1);
                continue;
            }
            ASSERT_MSG(rc == 0, "brain_read of %s/%s: %s (%s)", s_ns(k),
                       s_name(k), brain_errname(rc), t_detail_copy());
            ASSERT_EQ_U64(in.size, n);
            s_check(rd, k, buf, n, in.version, floor, "brain_read");
            ADD(&sh->reads, 1);
        }
    } while (t_now_ms() < ro->until_ms);
    while (nheld > 0)
        s_release(rd, &held[--nheld]);
    free(buf);
    free(held);
    free(rd);
}

static void *s_thread(void *arg)
{
    const struct s_role *ro = arg;
    switch (ro->kind) {
    case ROLE_WRITER: s_writer(ro); break;
    case ROLE_READER: s_reader(ro); break;
    case ROLE_HOG: s_hog(ro); break;
    default: s_forgetter(ro); break;
    }
    return NULL;
}

/* Runs roles[0..n) in threads of this process and waits for them. */
static void s_run_threads(struct s_role *roles, int n)
{
    pthread_t th[16];
    ASSERT_LE(n, 16);
    for (int i = 0; i < n; i++)
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, s_thread, &roles[i]), 0);
    for (int i = 0; i < n; i++)
        ASSERT_EQ_INT(pthread_join(th[i], NULL), 0);
}

/* ---- set-up and the final model check ------------------------------------------ */
static void s_fill(brain *b, struct s_shared *sh, const struct s_cfg *cfg)
{
    uint64_t seq = 0, rs = 77;
    unsigned char *buf = t_xmalloc(2 * S_BIG);
    for (int k = 0; k < S_PAIR0; k++)
        ASSERT(s_write_one(b, sh, cfg, S_SETUP_WRITER, &seq, &rs, buf, k, 0));
    ASSERT(s_write_one(b, sh, cfg, S_SETUP_WRITER, &seq, &rs, buf, S_PAIR0, 0));
    ASSERT_EQ_U64(sh->efull, 0);
    free(buf);
}

static void s_final(brain *b, struct s_shared *sh)
{
    t_check_store(b);
    /* every value read while its put ran got the version the put returned */
    uint64_t nobs = sh->nobs < S_OBS_CAP ? sh->nobs : S_OBS_CAP;
    for (uint64_t i = 0; i < nobs; i++) {
        struct s_obs *o = &sh->obs[i];
        struct s_rec *r = &sh->log[o->w][o->seq];
        ASSERT_MSG(r->state == REC_DONE,
                   "%s: value (writer %u, seq %" PRIu64 ") was read, but its "
                   "put %s", s_name((int)o->k), o->w, o->seq,
                   r->state == REC_FAILED ? "failed" :
                   r->state == REC_ABORTED ? "was aborted" : "never returned");
        uint64_t want = (int)o->k == S_PAIR0 + 1 ? r->version2 : r->version;
        ASSERT_MSG(o->version == want,
                   "%s: (writer %u, seq %" PRIu64 ") read as version %" PRIu64
                   ", its put returned %" PRIu64, s_name((int)o->k), o->w,
                   o->seq, o->version, want);
    }
    /* each name holds its last completed put (the highest version) */
    uint64_t top_ver[S_NAMES] = {0};
    for (int w = 0; w < S_WRITERS; w++) {
        for (uint64_t s = 0; s < sh->begun[w]; s++) {
            struct s_rec *r = &sh->log[w][s];
            ASSERT_MSG(r->state != REC_BEGUN,
                       "writer %d's put %" PRIu64 " never returned", w, s);
            if (r->state != REC_DONE)
                continue;
            if (r->k == S_PAIR) {
                if (r->version > top_ver[S_PAIR0])
                    top_ver[S_PAIR0] = r->version;
                if (r->version2 > top_ver[S_PAIR0 + 1])
                    top_ver[S_PAIR0 + 1] = r->version2;
            } else if (r->version > top_ver[r->k]) {
                top_ver[r->k] = r->version;
            }
        }
    }
    unsigned char *buf = t_xmalloc(S_BIG);
    struct s_reader *rd = calloc(1, sizeof *rd);
    struct s_role ro = {.sh = sh};
    rd->ro = &ro;
    for (int k = 0; k < S_NAMES; k++) {
        size_t n = 0;
        brain_info in;
        int rc = brain_read(b, s_ns(k), s_name(k), buf, S_BIG, &n, &in);
        if (rc == BRAIN_ENOTFOUND && k >= S_STABLE && k < S_PAIR0)
            continue;
        ASSERT_MSG(rc == 0, "final read of %s: %s", s_name(k),
                   brain_errname(rc));
        s_check(rd, k, buf, n, in.version, top_ver[k], "final read");
        ASSERT_MSG(in.version == top_ver[k],
                   "%s holds version %" PRIu64 ", its last completed put "
                   "was version %" PRIu64, s_name(k), in.version, top_ver[k]);
    }
    free(rd);
    free(buf);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    t_log("puts %" PRIu64 " (reserve %" PRIu64 ", aborted %" PRIu64
          ", pair %" PRIu64 ", full %" PRIu64 "), deletes %" PRIu64
          ", clears %" PRIu64,
          sh->puts, sh->reserves, sh->aborts, sh->pair_puts, sh->efull,
          sh->deletes, sh->clears);
    if (sh->hog_rounds)
        t_log("the hog filled the store %" PRIu64 " times (%" PRIu64
              " rounds)", sh->hog_full, sh->hog_rounds);
    t_log("views %" PRIu64 " (held at once up to %" PRIu64 ", outlived their "
          "value %" PRIu64 "), reads %" PRIu64 ", pair reads %" PRIu64
          ", misses %" PRIu64 ", checked at the end %" PRIu64 " (dropped %"
          PRIu64 ")",
          sh->views, sh->held_max, sh->outlived, sh->reads, sh->pair_reads,
          sh->misses, nobs, sh->obs_dropped);
}

/* The work was done: every kind of operation ran and views outlived their
 * values. */
static void s_enough(struct s_shared *sh)
{
    ASSERT_GT_U64(sh->puts, 200);
    ASSERT_GT_U64(sh->pair_puts, 10);
    ASSERT_GT_U64(sh->reserves, 10);
    ASSERT_GT_U64(sh->deletes, 20);
    ASSERT_GT_U64(sh->views, 200);
    ASSERT_GT_U64(sh->reads, 200);
    ASSERT_GT_U64(sh->pair_reads, 10);
    ASSERT_GT_U64(sh->misses, 0);
    ASSERT_GT_U64(sh->outlived, 20);
}

/* ---- the tests ------------------------------------------------------------------ */
TEST_TIMEOUT(stress_model_threads, 60)
{
    /* One process, one handle: writers, readers and a forgetter in
     * threads.  make test-tsan runs this one with no suppressions: TSan sees
     * every access and every synchronisation.  (A second handle maps the
     * store at other addresses, which TSan cannot relate: tests/tsan.supp.) */
    static const struct s_cfg cfg = {64 << 20, 16, 20, 20};
    struct s_shared *sh = s_map();
    brain *b = t_create(0, cfg.capacity);
    s_fill(b, sh, &cfg);
    int64_t until = t_now_ms() + T_SCALE(4000, 2);
    struct s_role roles[] = {
        {b, sh, &cfg, ROLE_WRITER, 0, until},
        {b, sh, &cfg, ROLE_WRITER, 1, until},
        {b, sh, &cfg, ROLE_READER, 0, until},
        {b, sh, &cfg, ROLE_READER, 1, until},
        {b, sh, &cfg, ROLE_READER, 2, until},
        {b, sh, &cfg, ROLE_FORGETTER, 0, until},
    };
    s_run_threads(roles, (int)(sizeof roles / sizeof roles[0]));
    s_final(b, sh);
    s_enough(sh);
    t_destroy(b, 0);
    munmap(sh, sizeof *sh);
}

TEST_TIMEOUT(stress_model_processes_and_threads, 60)
{
    /* Three processes with threads of every role, and the test process
     * reading and forgetting meanwhile. */
    static const struct s_cfg cfg = {64 << 20, 32, 30, 20};
    struct s_shared *sh = s_map();
    brain *b = t_create(0, cfg.capacity);
    s_fill(b, sh, &cfg);
    int64_t until = t_now_ms() + T_SCALE(5000, 2);
    enum { P = 3 };
    pid_t kids[P];
    for (int p = 0; p < P; p++) {
        kids[p] = t_fork();
        if (kids[p] == 0) {
            /* the first uses the inherited handle, the others their own */
            brain *c = p == 0 ? b : t_open(0);
            struct s_role roles[] = {
                {c, sh, &cfg, ROLE_WRITER, 2 * p, until},
                {c, sh, &cfg, ROLE_READER, 10 * p, until},
                {c, sh, &cfg, ROLE_READER, 10 * p + 1, until},
                {c, sh, &cfg, p == 1 ? ROLE_FORGETTER : ROLE_WRITER,
                 2 * p + 1, until},
            };
            s_run_threads(roles, 4);
            ASSERT_OK(brain_close(c));
            t_child_exit(0);
        }
    }
    struct s_role roles[] = {
        {b, sh, &cfg, ROLE_READER, 100, until},
        {b, sh, &cfg, ROLE_FORGETTER, 101, until},
    };
    s_run_threads(roles, 2);
    for (int p = 0; p < P; p++)
        t_wait_ok(kids[p]);
    s_final(b, sh);
    s_enough(sh);
    t_destroy(b, 0);
    munmap(sh, sizeof *sh);
}

TEST_TIMEOUT(stress_model_small_store_many_views, 60)
{
    /* A store so small that the views readers hold (up to 64 each, for up
     * to 200 ms) keep much of it in limbo, and a hog takes what is left
     * over and over: writers run into BRAIN_EFULL, which must leave nothing
     * behind, while values keep moving.  (Without the hog, whether the
     * views alone filled the store was luck: on the posix layer under load
     * a run once met BRAIN_EFULL no time at all.) */
    static const struct s_cfg cfg = {6 << 20, S_HOLD_MAX, 200, 60};
    struct s_shared *sh = s_map();
    brain *b = t_create(0, cfg.capacity);
    s_fill(b, sh, &cfg);
    int64_t until = t_now_ms() + T_SCALE(4000, 2);
    enum { P = 2 };
    pid_t kids[P];
    for (int p = 0; p < P; p++) {
        kids[p] = t_fork();
        if (kids[p] == 0) {
            brain *c = t_open(0);
            struct s_role roles[] = {
                {c, sh, &cfg, ROLE_WRITER, p, until},
                {c, sh, &cfg, ROLE_READER, 10 * p, until},
                {c, sh, &cfg, ROLE_READER, 10 * p + 1, until},
            };
            s_run_threads(roles, 3);
            ASSERT_OK(brain_close(c));
            t_child_exit(0);
        }
    }
    struct s_role roles[] = {
        {b, sh, &cfg, ROLE_WRITER, 2, until},
        {b, sh, &cfg, ROLE_READER, 100, until},
        {b, sh, &cfg, ROLE_FORGETTER, 101, until},
        {b, sh, &cfg, ROLE_HOG, 102, until},
    };
    s_run_threads(roles, 4);
    for (int p = 0; p < P; p++)
        t_wait_ok(kids[p]);
    s_final(b, sh);
    s_enough(sh);
    ASSERT_GT_U64(sh->hog_full, 0); /* every round of the hog ends so */
    if (!t_slow()) /* fewer puts under sanitizers and valgrind */
        ASSERT_GT_U64(sh->efull, 0);
    t_destroy(b, 0);
    munmap(sh, sizeof *sh);
}

/* Whether child PID has ended (it is left to be reaped). */
static int s_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid == pid;
}

/* ---- opening a store while another process grows it ----------------------- */
TEST_TIMEOUT(stress_open_while_store_grows, 60)
{
    /* brain_open used to compare the header's file size with an fstat taken
     * before it mapped the file: a writer growing the store in between made
     * the open fail with BRAIN_ETRUNCATED (seen under valgrind in the
     * torture test).  One process grows and shrinks the store over and over
     * while another opens and closes it. */
    brain *b = t_create(0, 64 << 20);
    int64_t until = t_now_ms() + T_SCALE(2000, 2);
    /* the grower runs at least 3 rounds, however loaded the machine (the
     * test's timeout bounds it), and the opener goes on until it is done */
    int *done = mmap(NULL, sizeof *done, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT(done != MAP_FAILED);
    pid_t kid = t_fork();
    if (kid == 0) {
        size_t vsz = 1 << 20;
        char *buf = t_xmalloc(vsz);
        memset(buf, 7, vsz);
        uint64_t rounds = 0;
        while (t_now_ms() < until || rounds < 3) {
            char name[16];
            for (int i = 0; i < 40; i++) {
                snprintf(name, sizeof name, "g%d", i);
                ASSERT_OK(brain_put(b, NULL, name, buf, vsz, NULL, NULL));
            }
            for (int i = 0; i < 40; i++) {
                snprintf(name, sizeof name, "g%d", i);
                ASSERT_OK(brain_delete(b, NULL, name));
            }
            /* shrinking truncates the file, so the next round grows it */
            ASSERT_OK(brain_resize(b, 4 << 20));
            ASSERT_OK(brain_resize(b, 64 << 20));
            rounds++;
        }
        t_log("%" PRIu64 " rounds of growing and shrinking", rounds);
        __atomic_store_n(done, 1, __ATOMIC_RELEASE);
        free(buf);
        t_child_exit(0);
    }
    uint64_t opens = 0;
    do {
        brain *c = NULL;
        int rc = brain_open(t_store(0), 0, NULL, &c);
        ASSERT_MSG(rc == 0, "open while the store grows: %s (%s)",
                   brain_errname(rc), t_detail_copy());
        ASSERT_OK(brain_close(c));
        opens++;
    } while ((t_now_ms() < until || !__atomic_load_n(done, __ATOMIC_ACQUIRE)) &&
             !s_exited(kid));
    t_wait_ok(kid);
    t_log("%" PRIu64 " opens", opens);
    t_check_store(b);
    t_destroy(b, 0);
    munmap(done, sizeof *done);
}
