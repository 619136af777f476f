/* test-concurrency.c - processes and threads putting, getting and deleting
 * random sizes on one shared set of names at once.  Every value carries a
 * checksum and the index of the name it was written for, so every read is
 * verified: no torn read, no value under the wrong name. */
#include "test.h"

#include <pthread.h>
#include <unistd.h>

#define NAMES 32

struct worker {
    brain *b;
    int id;
    int64_t until_ms;
    uint64_t ops, puts, efull, gets, misses;
    char error[256];
};

static const char *ns_of(int k) { return k % 2 ? "odd" : NULL; }

static void name_of(int k, char *buf, size_t cap)
{
    snprintf(buf, cap, "shared-%d", k);
}

static size_t random_size(uint64_t *rs)
{
    uint64_t r = t_rand_range(rs, 100);
    if (r < 85)
        return T_VHDR + (size_t)t_rand_range(rs, 4096);
    if (r < 99)
        return T_VHDR + (size_t)t_rand_range(rs, 64 << 10);
    return T_VHDR + (size_t)t_rand_range(rs, 1 << 20);
}

/* Verifies a value read under name k. */
static void verify(const void *data, size_t size, int k, const char *how)
{
    uint64_t seed = 0;
    const char *why = "";
    if (t_vcheck(data, size, &seed, &why) != 0)
        FAIL("%s of shared-%d (%zu bytes): %s", how, k, size, why);
    if ((int)(seed >> 40) != k)
        FAIL("%s of shared-%d found a value written for shared-%d", how, k,
             (int)(seed >> 40));
}

static void work(struct worker *w)
{
    uint64_t rs = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1) ^
                  (uint64_t)getpid();
    unsigned char *buf = t_xmalloc((1 << 20) + 2 * T_VHDR);
    unsigned char *buf2 = t_xmalloc(8192);
    uint64_t counter = 0;
    char name[32], name2[32];
    while (t_now_ms() < w->until_ms) {
        for (int rep = 0; rep < 32; rep++) {
            int k = (int)t_rand_range(&rs, NAMES);
            name_of(k, name, sizeof name);
            uint64_t seed = ((uint64_t)k << 40) |
                            ((uint64_t)w->id << 32) | (counter++ & 0xffffffff);
            int op = (int)t_rand_range(&rs, 100);
            int rc;
            w->ops++;
            if (op < 35) { /* get a view */
                brain_view v = {0};
                rc = brain_get(w->b, ns_of(k), name, &v);
                if (rc == BRAIN_ENOTFOUND) {
                    w->misses++;
                    continue;
                }
                ASSERT_OK(rc);
                w->gets++;
                verify(v.data, v.size, k, "brain_get");
                ASSERT_EQ_U64(v.info.size, v.size);
                brain_view_release(w->b, &v);
            } else if (op < 55) { /* copy out */
                size_t n = 0;
                rc = brain_read(w->b, ns_of(k), name, buf2, 8192, &n, NULL);
                if (rc == BRAIN_ERANGE) {
                    ASSERT_GT_U64(n, 8192);
                    rc = brain_read(w->b, ns_of(k), name, buf,
                                    (1 << 20) + 2 * T_VHDR, &n, NULL);
                    if (rc == BRAIN_ENOTFOUND || rc == BRAIN_ERANGE)
                        continue; /* replaced meanwhile */
                    ASSERT_OK(rc);
                    verify(buf, n, k, "brain_read");
                } else if (rc == BRAIN_ENOTFOUND) {
                    w->misses++;
                } else {
                    ASSERT_OK(rc);
                    verify(buf2, n, k, "brain_read");
                }
                w->gets++;
            } else if (op < 85) { /* put */
                size_t sz = random_size(&rs);
                t_vfill(buf, sz, seed);
                rc = brain_put(w->b, ns_of(k), name, buf, sz, NULL, NULL);
                if (rc == BRAIN_EFULL)
                    w->efull++;
                else
                    ASSERT_OK(rc);
                w->puts++;
            } else if (op < 90) { /* delete */
                rc = brain_delete(w->b, ns_of(k), name);
                if (rc != BRAIN_ENOTFOUND)
                    ASSERT_OK(rc);
            } else if (op < 95) { /* reserve + publish, or abort */
                size_t sz = random_size(&rs);
                brain_reservation *res = NULL;
                void *data = NULL;
                rc = brain_reserve(w->b, ns_of(k), name, sz, NULL, &res, &data);
                if (rc == BRAIN_EFULL) {
                    w->efull++;
                    continue;
                }
                ASSERT_OK(rc);
                t_vfill(data, sz, seed);
                if (t_rand_range(&rs, 8) == 0)
                    brain_abort(w->b, res);
                else
                    ASSERT_OK(brain_publish(w->b, res, NULL));
                w->puts++;
            } else if (op < 98) { /* two names at once */
                int k2 = (k + 1 + (int)t_rand_range(&rs, NAMES - 1)) % NAMES;
                name_of(k2, name2, sizeof name2);
                size_t sz = T_VHDR + (size_t)t_rand_range(&rs, 2048);
                t_vfill(buf, sz, seed);
                uint64_t seed2 = ((uint64_t)k2 << 40) | (seed & 0xffffffffffull);
                t_vfill(buf + 4096, sz, seed2);
                brain_item items[2] = {{ns_of(k), name, buf, sz, NULL},
                                       {ns_of(k2), name2, buf + 4096, sz, NULL}};
                rc = brain_put_many(w->b, 2, items, NULL, NULL);
                if (rc == BRAIN_EFULL)
                    w->efull++;
                else
                    ASSERT_OK(rc);
                w->puts++;
            } else { /* get_many */
                int k2 = (k + 1 + (int)t_rand_range(&rs, NAMES - 1)) % NAMES;
                name_of(k2, name2, sizeof name2);
                brain_key keys[2] = {{ns_of(k), name}, {ns_of(k2), name2}};
                brain_view v[2];
                memset(v, 0, sizeof v);
                rc = brain_get_many(w->b, 2, keys, v, NULL);
                if (rc == BRAIN_ENOTFOUND)
                    continue;
                ASSERT_OK(rc);
                verify(v[0].data, v[0].size, k, "brain_get_many");
                verify(v[1].data, v[1].size, k2, "brain_get_many");
                brain_view_release(w->b, &v[0]);
                brain_view_release(w->b, &v[1]);
            }
        }
    }
    free(buf);
    free(buf2);
}

static void final_check(brain *b)
{
    t_check_store(b);
    char name[32];
    unsigned char *buf = t_xmalloc((1 << 20) + 2 * T_VHDR);
    int present = 0;
    for (int k = 0; k < NAMES; k++) {
        name_of(k, name, sizeof name);
        size_t n = 0;
        int rc = brain_read(b, ns_of(k), name, buf, (1 << 20) + 2 * T_VHDR,
                            &n, NULL);
        if (rc == BRAIN_ENOTFOUND)
            continue;
        ASSERT_OK(rc);
        verify(buf, n, k, "final read");
        present++;
    }
    free(buf);
    ASSERT_GT(present, 0);
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.pins, 0);
    ASSERT_EQ_U64(st.names, (uint64_t)present);
}

TEST_TIMEOUT(concurrent_processes_checked_values, 60)
{
    brain *b = t_create(0, 128 << 20);
    enum { P = 4 };
    int64_t until = t_now_ms() + T_SCALE(4000, 2);
    pid_t kids[P];
    for (int p = 0; p < P; p++) {
        kids[p] = t_fork();
        if (kids[p] == 0) {
            /* half use the inherited handle, half open their own */
            brain *c = p % 2 ? t_open(0) : b;
            struct worker w = {.b = c, .id = p, .until_ms = until};
            work(&w);
            printf("process %d: %" PRIu64 " ops, %" PRIu64 " puts (%" PRIu64
                   " full), %" PRIu64 " reads, %" PRIu64 " misses\n",
                   p, w.ops, w.puts, w.efull, w.gets, w.misses);
            ASSERT_GT_U64(w.gets, 100);
            ASSERT_GT_U64(w.puts, 100);
            ASSERT_LT_U64(w.efull, w.puts / 20 + 1);
            ASSERT_OK(brain_close(c));
            t_child_exit(0);
        }
    }
    for (int p = 0; p < P; p++)
        t_wait_ok(kids[p]);
    final_check(b);
    t_destroy(b, 0);
}

static void *thread_main(void *arg)
{
    work(arg);
    return NULL;
}

TEST_TIMEOUT(concurrent_threads_one_handle, 60)
{
    brain *b = t_create(0, 128 << 20);
    enum { T = 4 };
    struct worker w[T];
    pthread_t th[T];
    int64_t until = t_now_ms() + T_SCALE(3000, 2);
    for (int i = 0; i < T; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].b = b;
        w[i].id = i;
        w[i].until_ms = until;
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, thread_main, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ASSERT_GT_U64(w[i].gets, 100);
        ASSERT_GT_U64(w[i].puts, 100);
    }
    final_check(b);
    t_destroy(b, 0);
}

TEST_TIMEOUT(concurrent_processes_with_threads, 60)
{
    brain *b = t_create(0, 128 << 20);
    enum { P = 2, T = 3 };
    int64_t until = t_now_ms() + T_SCALE(2500, 2);
    pid_t kids[P];
    for (int p = 0; p < P; p++) {
        kids[p] = t_fork();
        if (kids[p] == 0) {
            brain *c = t_open(0);
            struct worker w[T];
            pthread_t th[T];
            for (int i = 0; i < T; i++) {
                memset(&w[i], 0, sizeof w[i]);
                w[i].b = c;
                w[i].id = p * T + i;
                w[i].until_ms = until;
                ASSERT_EQ_INT(pthread_create(&th[i], NULL, thread_main, &w[i]),
                              0);
            }
            for (int i = 0; i < T; i++)
                pthread_join(th[i], NULL);
            ASSERT_OK(brain_close(c));
            t_child_exit(0);
        }
    }
    /* the parent reads meanwhile */
    struct worker w = {.b = b, .id = 99, .until_ms = until};
    work(&w);
    for (int p = 0; p < P; p++)
        t_wait_ok(kids[p]);
    final_check(b);
    t_destroy(b, 0);
}

TEST_TIMEOUT(hot_name_readers_and_one_writer, 60)
{
    /* Many readers on one name replaced as fast as possible: every read is
     * one whole value, and versions never go back. */
    brain *b = t_create(0, 64 << 20);
    unsigned char *buf = t_xmalloc(256 << 10);
    t_vfill(buf, 1000, 0);
    ASSERT_OK(brain_put(b, NULL, "hot", buf, 1000, NULL, NULL));
    int64_t until = t_now_ms() + T_SCALE(2000, 2);
    enum { R = 3 };
    pid_t kids[R];
    for (int r = 0; r < R; r++) {
        kids[r] = t_fork();
        if (kids[r] == 0) {
            uint64_t last_ver = 0, last_seed = 0, n = 0;
            unsigned char *rb = t_xmalloc(256 << 10);
            while (t_now_ms() < until) {
                brain_view v = {0};
                if (r == 0) {
                    ASSERT_OK(brain_get(b, NULL, "hot", &v));
                    uint64_t s = 0;
                    const char *why = "";
                    ASSERT_MSG(t_vcheck(v.data, v.size, &s, &why) == 0,
                               "torn view: %s", why);
                    ASSERT_GE_U64(v.info.version, last_ver);
                    ASSERT_GE_U64(s, last_seed);
                    last_ver = v.info.version;
                    last_seed = s;
                    brain_view_release(b, &v);
                } else {
                    size_t sz;
                    brain_info in;
                    ASSERT_OK(brain_read(b, NULL, "hot", rb, 256 << 10, &sz,
                                         &in));
                    uint64_t s = 0;
                    const char *why = "";
                    ASSERT_MSG(t_vcheck(rb, sz, &s, &why) == 0,
                               "torn read: %s", why);
                    ASSERT_GE_U64(in.version, last_ver);
                    ASSERT_GE_U64(s, last_seed);
                    last_ver = in.version;
                    last_seed = s;
                }
                n++;
            }
            ASSERT_GT_U64(n, 100);
            free(rb);
            t_child_exit(0);
        }
    }
    uint64_t seed = 1, rs = 5;
    while (t_now_ms() < until) {
        size_t sz = T_VHDR + (size_t)t_rand_range(&rs, (256 << 10) - T_VHDR);
        t_vfill(buf, sz, seed++);
        ASSERT_OK(brain_put(b, NULL, "hot", buf, sz, NULL, NULL));
    }
    for (int r = 0; r < R; r++)
        t_wait_ok(kids[r]);
    free(buf);
    t_check_store(b);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    t_destroy(b, 0);
}

/* ---- listing while writers change names --------------------------------- */
TEST_TIMEOUT(list_while_writing_is_consistent, 60)
{
    /* Writers store values whose description gives their size; every
     * listed item must be one whole entry: its size matches its
     * description. */
    brain *b = t_create(0, 128 << 20);
    int64_t until = t_now_ms() + T_SCALE(2000, 2);
    enum { W = 2 };
    pid_t kids[W];
    for (int w = 0; w < W; w++) {
        kids[w] = t_fork();
        if (kids[w] == 0) {
            uint64_t rs = (uint64_t)w + 11;
            char *buf = t_xmalloc(20000);
            memset(buf, 'v', 20000);
            while (t_now_ms() < until) {
                char name[32], desc[32];
                int k = (int)t_rand_range(&rs, 200);
                snprintf(name, sizeof name, "l%d", k);
                size_t sz = (size_t)t_rand_range(&rs, 20000);
                snprintf(desc, sizeof desc, "size=%zu", sz);
                brain_put_opts o = {.desc = desc};
                if (t_rand_range(&rs, 5) == 0) {
                    int rc = brain_delete(b, "lst", name);
                    ASSERT(rc == 0 || rc == BRAIN_ENOTFOUND);
                } else {
                    ASSERT_OK(brain_put(b, "lst", name, buf, sz, &o, NULL));
                }
            }
            free(buf);
            t_child_exit(0);
        }
    }
    uint64_t lists = 0, items = 0;
    while (t_now_ms() < until) {
        brain_list *l = NULL;
        ASSERT_OK(brain_list_names(b, "lst", BRAIN_LIST_ONE_NS, &l));
        ASSERT_LE_U64(l->count, 200);
        for (size_t i = 0; i < l->count; i++) {
            const brain_info *in = &l->items[i];
            char want[32];
            snprintf(want, sizeof want, "size=%" PRIu64, in->size);
            ASSERT_STR_EQ(in->desc, want);
            ASSERT_STR_EQ(in->ns, "lst");
            ASSERT_EQ_INT(strncmp(in->name, "l", 1), 0);
            ASSERT_EQ_INT(in->name_len, strlen(in->name));
            ASSERT_GT_U64(in->version, 0);
            /* each name at most once */
            for (size_t j = 0; j < i; j++)
                ASSERT_MSG(strcmp(l->items[j].name, in->name) != 0,
                           "%s listed twice", in->name);
        }
        items += l->count;
        lists++;
        brain_list_free(l);
    }
    for (int w = 0; w < W; w++)
        t_wait_ok(kids[w]);
    ASSERT_GT_U64(lists, 10);
    ASSERT_GT_U64(items, 100);
    t_check_store(b);
    t_destroy(b, 0);
}

/* ---- sorted listing and counting while writers change names -------------- */
TEST_TIMEOUT(sorted_names_while_writing, 60)
{
    /* Writers delete and store again names "l<k>" (so a name can move to a
     * slot the walk has not reached yet); names "stable<k>" never change.
     * Every listing is strictly sorted (no name twice), holds every stable
     * name, and nothing else than the two kinds; counts stay in bounds. */
    brain *b = t_create(0, 128 << 20);
    enum { W = 2, STABLE = 20000, CHURN = 400 };
    for (int i = 0; i < STABLE; i++) {
        char name[32];
        snprintf(name, sizeof name, "stable%05d", (i * 7919) % STABLE);
        ASSERT_OK(brain_put(b, "lst", name, "s", 1, NULL, NULL));
    }
    int64_t until = t_now_ms() + T_SCALE(2000, 2);
    pid_t kids[W];
    for (int w = 0; w < W; w++) {
        kids[w] = t_fork();
        if (kids[w] == 0) {
            uint64_t rs = (uint64_t)w + 21;
            while (t_now_ms() < until) {
                char name[32];
                snprintf(name, sizeof name, "l%d", (int)t_rand_range(&rs, CHURN));
                if (t_rand_range(&rs, 3) == 0) {
                    int rc = brain_delete(b, "lst", name);
                    ASSERT(rc == 0 || rc == BRAIN_ENOTFOUND);
                } else {
                    ASSERT_OK(brain_put(b, "lst", name, "v", 1, NULL, NULL));
                }
            }
            t_child_exit(0);
        }
    }
    uint64_t lists = 0;
    while (t_now_ms() < until) {
        brain_names *l = NULL;
        ASSERT_OK(brain_list_sorted_names(b, "lst", BRAIN_LIST_ONE_NS, &l));
        ASSERT_LE_U64(l->count, STABLE + CHURN);
        size_t stable = 0;
        for (size_t i = 0; i < l->count; i++) {
            if (i)
                ASSERT_MSG(strcmp(l->names[i - 1], l->names[i]) < 0, "'%s' then '%s'", l->names[i - 1],
                           l->names[i]);
            ASSERT_EQ_U64(l->name_lens[i], strlen(l->names[i]));
            if (strncmp(l->names[i], "stable", 6) == 0)
                stable++;
            else
                ASSERT_MSG(l->names[i][0] == 'l', "unexpected name '%s'", l->names[i]);
        }
        ASSERT_EQ_U64(stable, STABLE);
        brain_names_free(l);
        uint64_t n = 0;
        ASSERT_OK(brain_count_names(b, "lst", &n));
        ASSERT_GE_U64(n, STABLE);
        ASSERT_LE_U64(n, STABLE + CHURN);
        lists++;
    }
    for (int w = 0; w < W; w++)
        t_wait_ok(kids[w]);
    ASSERT_GT_U64(lists, 5);
    t_check_store(b);
    t_destroy(b, 0);
}

/* ---- namespaces appearing and vanishing under concurrency ----------------- */
TEST_TIMEOUT(namespaces_churn_processes, 60)
{
    brain_config cfg = {.capacity = 64 << 20, .max_namespaces = 8};
    brain *b = t_create_cfg(0, &cfg);
    int64_t until = t_now_ms() + T_SCALE(2000, 2);
    enum { P = 3 };
    pid_t kids[P];
    for (int p = 0; p < P; p++) {
        kids[p] = t_fork();
        if (kids[p] == 0) {
            brain *c = t_open(0);
            uint64_t rs = (uint64_t)p * 7919 + 1;
            while (t_now_ms() < until) {
                char ns[16], name[16];
                snprintf(ns, sizeof ns, "ns%d", (int)t_rand_range(&rs, 6));
                snprintf(name, sizeof name, "n%d", (int)t_rand_range(&rs, 4));
                int op = (int)t_rand_range(&rs, 10);
                int rc;
                if (op < 5) {
                    brain_put_opts o = {.ttl_ms = op == 0 ? 2 : 0};
                    rc = brain_put(c, ns, name, name, strlen(name), &o, NULL);
                    ASSERT_MSG(rc == 0, "put %s/%s: %s (%s)", ns, name,
                               brain_errname(rc), t_detail_copy());
                } else if (op < 8) {
                    rc = brain_delete(c, ns, name);
                    ASSERT(rc == 0 || rc == BRAIN_ENOTFOUND);
                } else if (op < 9) {
                    ASSERT_OK(brain_ns_clear(c, ns, NULL));
                } else {
                    ASSERT_OK(brain_expire(c, NULL));
                }
            }
            ASSERT_OK(brain_close(c));
            t_child_exit(0);
        }
    }
    /* the parent checks the namespace table meanwhile */
    while (t_now_ms() < until) {
        brain_ns_info *nsi = NULL;
        size_t count = 0;
        ASSERT_OK(brain_namespaces(b, &nsi, &count));
        ASSERT_LE_U64(count, 7); /* six and "default" */
        for (size_t i = 0; i < count; i++)
            ASSERT_LE_U64(nsi[i].names, 4);
        free(nsi);
        t_sleep_ms(1);
    }
    for (int p = 0; p < P; p++)
        t_wait_ok(kids[p]);
    t_check_store(b);
    /* at rest, the namespace figures agree with the listings (once every
     * name with a 2 ms ttl has expired and been removed) */
    t_sleep_ms(20);
    ASSERT_OK(brain_expire(b, NULL));
    brain_ns_info *nsi = NULL;
    size_t count = 0;
    ASSERT_OK(brain_namespaces(b, &nsi, &count));
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        brain_list *l = NULL;
        ASSERT_OK(brain_list_names(b, nsi[i].name, BRAIN_LIST_ONE_NS, &l));
        ASSERT_EQ_U64(l->count, nsi[i].names);
        uint64_t bytes = 0;
        for (size_t j = 0; j < l->count; j++)
            bytes += l->items[j].size;
        ASSERT_EQ_U64(bytes, nsi[i].bytes);
        total += l->count;
        brain_list_free(l);
    }
    free(nsi);
    ASSERT_EQ_U64(t_stats(b).names, total);
    t_destroy(b, 0);
}

/* ---- more reading threads than a process has lanes ------------------------ */
struct lane_ctx {
    brain *b;
    int64_t until;
    uint64_t reads;
};

static void *lane_reader(void *arg)
{
    struct lane_ctx *c = arg;
    unsigned char buf[8192];
    /* at least one round, even for a thread that starts late (under TSan,
     * 35 threads on two cores: some start after the deadline) */
    do {
        size_t n = 0;
        ASSERT_OK(brain_read(c->b, NULL, "lanes", buf, sizeof buf, &n, NULL));
        verify(buf, n, 0, "brain_read");
        brain_view v = {0};
        ASSERT_OK(brain_get(c->b, NULL, "lanes", &v));
        verify(v.data, v.size, 0, "brain_get");
        brain_view_release(c->b, &v);
        c->reads++;
    } while (t_now_ms() < c->until);
    return NULL;
}

TEST_TIMEOUT(more_threads_than_lanes, 60)
{
    brain *b = t_create(0, 64 << 20);
    unsigned char buf[8192];
    t_vfill(buf, 4000, 0);
    ASSERT_OK(brain_put(b, NULL, "lanes", buf, 4000, NULL, NULL));
    enum { T = BRAIN_LANES_PER_PROC * 2 + 3 };
    static struct lane_ctx ctx[T];
    pthread_t th[T];
    int64_t until = t_now_ms() + T_SCALE(1500, 2);
    for (int i = 0; i < T; i++) {
        ctx[i] = (struct lane_ctx){b, until, 0};
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, lane_reader, &ctx[i]), 0);
    }
    uint64_t n = 1;
    while (t_now_ms() < until || n <= 100) { /* 100 puts even when starved */
        size_t sz = T_VHDR + (size_t)(n * 37 % 8000);
        t_vfill(buf, sz, n++ & 0xffffffffff); /* seed >> 40 == 0: name 0 */
        ASSERT_OK(brain_put(b, NULL, "lanes", buf, sz, NULL, NULL));
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ASSERT_GT_U64(ctx[i].reads, 0);
    }
    ASSERT_GT_U64(n, 100);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST_TIMEOUT(check_while_writing, 60)
{
    /* brain_check run while other processes write finds nothing wrong. */
    brain *b = t_create(0, 128 << 20);
    int64_t until = t_now_ms() + T_SCALE(2000, 2);
    enum { P = 2 };
    pid_t kids[P];
    for (int p = 0; p < P; p++) {
        kids[p] = t_fork();
        if (kids[p] == 0) {
            brain *c = t_open(0);
            struct worker w = {.b = c, .id = p, .until_ms = until};
            work(&w);
            ASSERT_OK(brain_close(c));
            t_child_exit(0);
        }
    }
    int checks = 0;
    while (t_now_ms() < until) {
        t_check_store(b);
        checks++;
    }
    for (int p = 0; p < P; p++)
        t_wait_ok(kids[p]);
    t_log("%d checks while writing", checks);
    ASSERT_GT(checks, 3);
    final_check(b);
    t_destroy(b, 0);
}
