/* test-many.c - brain_put_many and brain_get_many: all or nothing, one
 * snapshot. */
#include "test.h"

#include <pthread.h>
#include <signal.h>

TEST(put_many_get_many_roundtrip)
{
    brain *b = t_create(0, 0);
    uint64_t v0 = 0;
    ASSERT_OK(brain_version(b, &v0));
    brain_put_opts str = {.type = BRAIN_TYPE_STR, .desc = "described"};
    brain_item items[4] = {
        {NULL, "a", "alpha", 5, NULL},
        {"ns2", "b", "beta", 4, &str},
        {"ns2", "c", NULL, 0, NULL},
        {NULL, "d", "delta!", 6, NULL},
    };
    uint64_t versions[4] = {0};
    size_t failed = 99;
    ASSERT_OK(brain_put_many(b, 4, items, versions, &failed));
    for (int i = 0; i < 4; i++)
        ASSERT_GT_U64(versions[i], v0);

    brain_key keys[4] = {{NULL, "a"}, {"ns2", "b"}, {"ns2", "c"}, {NULL, "d"}};
    brain_view views[4];
    memset(views, 0, sizeof views);
    ASSERT_OK(brain_get_many(b, 4, keys, views, &failed));
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ_U64(views[i].size, items[i].size);
        ASSERT_MEM_EQ(views[i].data, items[i].data, items[i].size);
        ASSERT_EQ_U64(views[i].info.version, versions[i]);
        ASSERT_STR_EQ(views[i].info.name, items[i].name);
    }
    ASSERT_EQ_INT(views[1].info.type, BRAIN_TYPE_STR);
    ASSERT_STR_EQ(views[1].info.desc, "described");
    ASSERT_STR_EQ(views[1].info.ns, "ns2");
    ASSERT_STR_EQ(views[0].info.ns, "default");
    ASSERT_GE_U64(t_stats(b).pins, 1);
    for (int i = 0; i < 4; i++)
        brain_view_release(b, &views[i]);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    /* NULL versions and failed are allowed */
    ASSERT_OK(brain_put_many(b, 1, items, NULL, NULL));
    ASSERT_OK(brain_get_many(b, 1, keys, views, NULL));
    brain_view_release(b, &views[0]);
    t_destroy(b, 0);
}

TEST(put_many_all_or_nothing)
{
    brain *b = t_create(0, 0);
    uint64_t vkeep = 0;
    ASSERT_OK(brain_put(b, NULL, "a", "old-a", 5, NULL, &vkeep));
    uint64_t ver0 = 0;
    ASSERT_OK(brain_version(b, &ver0));
    uint64_t used0 = t_used(b);

    brain_put_opts bad_flags = {.flags = 1u << 4};
    brain_put_opts conflict = {.flags = BRAIN_PUT_IF_VERSION,
                               .if_version = vkeep + 1};
    brain_put_opts bad_str = {.type = BRAIN_TYPE_STR};
    struct {
        brain_item item;
        int code;
    } cases[] = {
        {{NULL, "", "x", 1, NULL}, BRAIN_ENAME},
        {{"bad\x02ns", "x", "x", 1, NULL}, BRAIN_ENAMESPACE},
        {{NULL, "x", NULL, 3, NULL}, BRAIN_EINVAL},
        {{NULL, "x", "x", 1, &bad_flags}, BRAIN_EINVAL},
        {{NULL, "a", "x", 1, &conflict}, BRAIN_ECONFLICT},
        {{NULL, "x", "\xff", 1, &bad_str}, BRAIN_ETYPE},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        brain_item items[3] = {
            {NULL, "fresh", "new-f", 5, NULL},
            {"other", "b", "new-b", 5, NULL},
            cases[c].item,
        };
        size_t failed = 99;
        uint64_t versions[3];
        ASSERT_ERR(brain_put_many(b, 3, items, versions, &failed),
                   cases[c].code);
        ASSERT_EQ_U64(failed, 2);
        /* item order does not matter */
        brain_item rev[3] = {cases[c].item, items[1], items[0]};
        failed = 99;
        ASSERT_ERR(brain_put_many(b, 3, rev, versions, &failed),
                   cases[c].code);
        ASSERT_EQ_U64(failed, 0);

        char buf[8];
        size_t n;
        ASSERT_OK(brain_read(b, NULL, "a", buf, 8, &n, NULL));
        ASSERT_MEM_EQ(buf, "old-a", 5);
        ASSERT_EQ_INT(brain_exists(b, "other", "b"), 0);
        ASSERT_EQ_INT(brain_exists(b, NULL, "fresh"), 0);
        ASSERT_EQ_INT(brain_exists(b, NULL, "x"), 0);
        uint64_t ver = 0;
        ASSERT_OK(brain_version(b, &ver));
        ASSERT_EQ_U64(ver, ver0);
        ASSERT_EQ_U64(t_used(b), used0);
    }
    /* a batch too big for the store fails as a whole */
    brain *s = t_create(1, 2 << 20);
    ASSERT_OK(brain_put(s, NULL, "keep", "k", 1, NULL, NULL));
    char *big = t_xmalloc(700 << 10);
    memset(big, 7, 700 << 10);
    brain_item many[4];
    for (int i = 0; i < 4; i++)
        many[i] = (brain_item){NULL, i == 0 ? "m0" : i == 1 ? "m1"
                                                : i == 2 ? "m2" : "m3",
                               big, 700 << 10, NULL};
    size_t failed = 99;
    int rc = brain_put_many(s, 4, many, NULL, &failed);
    ASSERT_MSG(rc == BRAIN_EFULL || rc == BRAIN_ETOOBIG,
               "a 2.8 MB batch into a 2 MiB store: %s", brain_errname(rc));
    ASSERT_LT_U64(failed, 4);
    ASSERT_EQ_U64(t_stats(s).names, 1);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(brain_exists(s, NULL, many[i].name), 0);
    free(big);
    t_destroy(s, 1);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(get_many_missing_holds_nothing)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "a", "1", 1, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "c", "3", 1, NULL, NULL));
    brain_key keys[3] = {{NULL, "a"}, {NULL, "missing"}, {NULL, "c"}};
    brain_view views[3];
    memset(views, 0, sizeof views);
    size_t failed = 99;
    ASSERT_ERR(brain_get_many(b, 3, keys, views, &failed), BRAIN_ENOTFOUND);
    ASSERT_EQ_U64(failed, 1);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    keys[1].name = "";
    ASSERT_ERR(brain_get_many(b, 3, keys, views, &failed), BRAIN_ENAME);
    ASSERT_EQ_U64(failed, 1);
    keys[1] = (brain_key){"\xc0\xaf", "b"};
    ASSERT_ERR(brain_get_many(b, 3, keys, views, &failed), BRAIN_ENAMESPACE);
    ASSERT_EQ_U64(failed, 1);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    ASSERT_ERR(brain_get_many(b, 3, NULL, views, &failed), BRAIN_EINVAL);
    ASSERT_ERR(brain_get_many(b, 3, keys, NULL, &failed), BRAIN_EINVAL);
    ASSERT_ERR(brain_put_many(b, 3, NULL, NULL, &failed), BRAIN_EINVAL);
    ASSERT_ERR(brain_put_many(NULL, 1, NULL, NULL, &failed), BRAIN_EINVAL);
    /* the keys still work afterwards */
    brain_key ok[2] = {{NULL, "a"}, {NULL, "c"}};
    ASSERT_OK(brain_get_many(b, 2, ok, views, NULL));
    ASSERT_MEM_EQ(views[0].data, "1", 1);
    ASSERT_MEM_EQ(views[1].data, "3", 1);
    brain_view_release(b, &views[0]);
    brain_view_release(b, &views[1]);
    t_destroy(b, 0);
}

/* Writer puts {a: i, b: i} with brain_put_many; readers must always see
 * a == b from brain_get_many. */
struct pair_val {
    uint64_t i;
    uint64_t check;
    char pad[48];
};

static void put_pair(brain *b, uint64_t i, size_t pad_to)
{
    static char buf[8192];
    struct pair_val v = {i, ~i * 31, {0}};
    memset(buf, (int)(i & 0xff), pad_to);
    memcpy(buf, &v, sizeof v);
    brain_item items[2] = {{"pair", "a", buf, pad_to, NULL},
                           {"pair", "b", buf, pad_to, NULL}};
    ASSERT_OK(brain_put_many(b, 2, items, NULL, NULL));
}

static void read_pairs(brain *b, int64_t until_ms, uint64_t *seen_max)
{
    brain_key keys[2] = {{"pair", "a"}, {"pair", "b"}};
    uint64_t last = 0;
    while (t_now_ms() < until_ms) {
        brain_view v[2];
        memset(v, 0, sizeof v);
        ASSERT_OK(brain_get_many(b, 2, keys, v, NULL));
        struct pair_val a, c;
        memcpy(&a, v[0].data, sizeof a);
        memcpy(&c, v[1].data, sizeof c);
        ASSERT_MSG(a.i == c.i, "get_many saw a=%" PRIu64 " b=%" PRIu64, a.i,
                   c.i);
        ASSERT_EQ_U64(a.check, ~a.i * 31);
        /* one batch: versions equal or adjacent */
        uint64_t va = v[0].info.version, vb = v[1].info.version;
        ASSERT_LE_U64(va > vb ? va - vb : vb - va, 1);
        ASSERT_GE_U64(a.i, last); /* never goes back in time */
        last = a.i;
        brain_view_release(b, &v[0]);
        brain_view_release(b, &v[1]);
    }
    *seen_max = last;
}

TEST(put_many_atomic_for_get_many_processes)
{
    brain *b = t_create(0, 64 << 20);
    put_pair(b, 0, 128);
    int64_t until = t_now_ms() + T_SCALE(1500, 2);
    pid_t readers[2];
    for (int r = 0; r < 2; r++) {
        readers[r] = t_fork();
        if (readers[r] == 0) {
            uint64_t seen = 0;
            read_pairs(b, until, &seen);
            ASSERT_GT_U64(seen, 0); /* saw the writer progress */
            t_child_exit(0);
        }
    }
    uint64_t i = 1;
    for (; t_now_ms() < until; i++)
        put_pair(b, i, 64 + (i % 64) * 64);
    for (int r = 0; r < 2; r++)
        t_wait_ok(readers[r]);
    ASSERT_GT_U64(i, 100);
    t_check_store(b);
    t_destroy(b, 0);
}

struct pair_ctx {
    brain *b;
    int64_t until;
    uint64_t seen;
};

static void *pair_reader(void *arg)
{
    struct pair_ctx *c = arg;
    read_pairs(c->b, c->until, &c->seen);
    return NULL;
}

TEST(put_many_atomic_for_get_many_threads)
{
    brain *b = t_create(0, 64 << 20);
    put_pair(b, 0, 64);
    struct pair_ctx ctx[3];
    pthread_t th[3];
    int64_t until = t_now_ms() + T_SCALE(1000, 2);
    for (int r = 0; r < 3; r++) {
        ctx[r] = (struct pair_ctx){b, until, 0};
        ASSERT_EQ_INT(pthread_create(&th[r], NULL, pair_reader, &ctx[r]), 0);
    }
    uint64_t i = 1;
    for (; t_now_ms() < until; i++)
        put_pair(b, i, 64 + (i % 32) * 256);
    for (int r = 0; r < 3; r++)
        pthread_join(th[r], NULL);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(many_items_and_pin_limit)
{
    brain *b = t_create(0, 64 << 20);
    enum { N = BRAIN_PINS_PER_PROC + 20 };
    static brain_item items[N];
    static brain_key keys[N];
    static brain_view views[N];
    static char names[N][16];
    static int vals[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "m%d", i);
        vals[i] = i * 3;
        items[i] = (brain_item){"many", names[i], &vals[i], sizeof(int), NULL};
        keys[i] = (brain_key){"many", names[i]};
    }
    uint64_t *versions = calloc(N, sizeof *versions);
    ASSERT_OK(brain_put_many(b, N, items, versions, NULL));
    for (int i = 1; i < N; i++)
        ASSERT_GE_U64(versions[i], versions[0]);
    ASSERT_EQ_U64(t_stats(b).names, N);
    /* more distinct values than a process may pin: EPINS, nothing held */
    size_t failed = 0;
    ASSERT_ERR(brain_get_many(b, N, keys, views, &failed), BRAIN_EPINS);
    ASSERT_GE_U64(failed, BRAIN_PINS_PER_PROC - 1);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    /* within the limit it works */
    ASSERT_OK(brain_get_many(b, 800, keys, views, NULL));
    for (int i = 0; i < 800; i++) {
        ASSERT_EQ_INT(*(const int *)views[i].data, i * 3);
        ASSERT_EQ_U64(views[i].info.version, versions[i]);
    }
    ASSERT_EQ_U64(t_stats(b).pins, 800);
    for (int i = 0; i < 800; i++)
        brain_view_release(b, &views[i]);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    free(versions);
    t_check_store(b);
    t_destroy(b, 0);
}
