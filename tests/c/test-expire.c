/* test-expire.c - time-to-live and brain_expire. */
#include "test.h"

TEST(ttl_expires_names)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.ttl_ms = 100};
    uint64_t v = 0;
    int64_t before = t_real_ns();
    ASSERT_OK(brain_put(b, NULL, "ttl", "temporary", 9, &o, &v));
    ASSERT_OK(brain_put(b, NULL, "keep", "forever", 7, NULL, NULL));
    brain_info m;
    ASSERT_OK(brain_meta(b, NULL, "ttl", &m, NULL, 0));
    ASSERT_GE(m.expires_ns, before + 100 * 1000000LL);
    ASSERT_LE(m.expires_ns - m.updated_ns, 100 * 1000000LL + 1000000);
    ASSERT_GE(m.expires_ns - m.updated_ns, 100 * 1000000LL - 1000000);
    ASSERT_EQ_INT(brain_exists(b, NULL, "ttl"), 1);
    brain_view held = {0};
    ASSERT_OK(brain_get(b, NULL, "ttl", &held));

    t_sleep_ms(160);
    /* readers treat it as absent before anyone expires it */
    ASSERT_EQ_INT(brain_exists(b, NULL, "ttl"), 0);
    brain_view view = {0};
    ASSERT_ERR(brain_get(b, NULL, "ttl", &view), BRAIN_ENOTFOUND);
    char buf[16];
    size_t n;
    ASSERT_ERR(brain_read(b, NULL, "ttl", buf, sizeof buf, &n, NULL),
               BRAIN_ENOTFOUND);
    ASSERT_ERR(brain_meta(b, NULL, "ttl", &m, NULL, 0), BRAIN_ENOTFOUND);
    brain_key k = {NULL, "ttl"};
    size_t failed = 9;
    ASSERT_ERR(brain_get_many(b, 1, &k, &view, &failed), BRAIN_ENOTFOUND);
    ASSERT_EQ_U64(failed, 0);
    /* the view taken before is still valid */
    ASSERT_MEM_EQ(held.data, "temporary", 9);

    size_t removed = 99;
    ASSERT_OK(brain_expire(b, &removed));
    ASSERT_EQ_U64(removed, 1);
    ASSERT_EQ_U64(t_stats(b).names, 1);
    ASSERT_OK(brain_expire(b, &removed));
    ASSERT_EQ_U64(removed, 0);
    ASSERT_OK(brain_expire(b, NULL));
    ASSERT_MEM_EQ(held.data, "temporary", 9);
    brain_view_release(b, &held);
    ASSERT_EQ_INT(brain_exists(b, NULL, "keep"), 1);
    ASSERT_ERR(brain_expire(NULL, &removed), BRAIN_EINVAL);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(ttl_zero_or_negative_never_expires)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.ttl_ms = 0};
    ASSERT_OK(brain_put(b, NULL, "zero", "z", 1, &o, NULL));
    /* brain.h: "> 0: the value expires"; a negative ttl either means
     * never too, or is refused as a bad argument */
    o.ttl_ms = -5;
    int rc = brain_put(b, NULL, "neg", "n", 1, &o, NULL);
    if (rc != 0) {
        ASSERT_EQ_INT(rc, BRAIN_EINVAL);
        ASSERT_EQ_INT(brain_exists(b, NULL, "neg"), 0);
        o.ttl_ms = 0;
        ASSERT_OK(brain_put(b, NULL, "neg", "n", 1, &o, NULL));
    }
    brain_info m;
    ASSERT_OK(brain_meta(b, NULL, "zero", &m, NULL, 0));
    ASSERT_EQ_INT(m.expires_ns, 0);
    ASSERT_OK(brain_meta(b, NULL, "neg", &m, NULL, 0));
    ASSERT_EQ_INT(m.expires_ns, 0);
    t_sleep_ms(20);
    size_t removed = 9;
    ASSERT_OK(brain_expire(b, &removed));
    ASSERT_EQ_U64(removed, 0);
    ASSERT_EQ_INT(brain_exists(b, NULL, "zero"), 1);
    ASSERT_EQ_INT(brain_exists(b, NULL, "neg"), 1);
    t_destroy(b, 0);
}

TEST(ttl_replaced_by_value_without_ttl)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.ttl_ms = 60};
    ASSERT_OK(brain_put(b, NULL, "k", "short", 5, &o, NULL));
    ASSERT_OK(brain_put(b, NULL, "k", "long", 4, NULL, NULL));
    t_sleep_ms(120);
    ASSERT_EQ_INT(brain_exists(b, NULL, "k"), 1);
    /* and the other way */
    ASSERT_OK(brain_put(b, NULL, "k", "short again", 11, &o, NULL));
    t_sleep_ms(120);
    ASSERT_EQ_INT(brain_exists(b, NULL, "k"), 0);
    t_destroy(b, 0);
}

TEST(expired_name_counts_as_absent_for_writes)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.ttl_ms = 40};
    uint64_t v = 0;
    ASSERT_OK(brain_put(b, NULL, "k", "old", 3, &o, &v));
    brain_info m;
    ASSERT_OK(brain_meta(b, NULL, "k", &m, NULL, 0));
    int64_t created = m.created_ns;
    t_sleep_ms(100);
    /* compare-and-set with 0 (absent) succeeds on an expired name */
    brain_put_opts cas = {.flags = BRAIN_PUT_IF_VERSION, .if_version = 0};
    ASSERT_OK(brain_put(b, NULL, "k", "new", 3, &cas, NULL));
    ASSERT_OK(brain_meta(b, NULL, "k", &m, NULL, 0));
    ASSERT_EQ_INT(m.expires_ns, 0);
    ASSERT_GT(m.created_ns, created); /* a new name, not a replacement */
    /* deleting an expired name: it is not there */
    ASSERT_OK(brain_put(b, NULL, "gone", "g", 1, &o, NULL));
    t_sleep_ms(100);
    ASSERT_ERR(brain_delete(b, NULL, "gone"), BRAIN_ENOTFOUND);
    ASSERT_EQ_U64(t_stats(b).names, 1);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(expire_reclaims_space)
{
    brain *b = t_create(0, 8 << 20);
    uint64_t used0 = t_used(b);
    /* (t_used below must see them alive: stats drop expired names) */
    brain_put_opts o = {.ttl_ms = 400};
    char *big = t_xmalloc(1 << 20);
    memset(big, 3, 1 << 20);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "e%d", i);
        ASSERT_OK(brain_put(b, "tmp", name, big, 1 << 20, &o, NULL));
    }
    ASSERT_GE_U64(t_used(b), used0 + (5 << 20));
    t_sleep_ms(450);
    size_t removed = 0;
    ASSERT_OK(brain_expire(b, &removed));
    ASSERT_EQ_U64(removed, 5);
    ASSERT_EQ_U64(t_used(b), used0);
    /* the space is usable again */
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        ASSERT_OK(brain_put(b, "tmp", name, big, 1 << 20, NULL, NULL));
    }
    free(big);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(expired_values_do_not_fill_the_store)
{
    /* A writer that needs room may expire names on its own; at the least a
     * brain_expire makes room. */
    brain *b = t_create(0, 4 << 20);
    brain_put_opts o = {.ttl_ms = 30};
    char *big = t_xmalloc(1 << 20);
    memset(big, 4, 1 << 20);
    int stored = 0;
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "x%d", i);
        int rc = brain_put(b, NULL, name, big, 1 << 20, &o, NULL);
        if (rc == BRAIN_EFULL)
            break;
        ASSERT_OK(rc);
        stored++;
    }
    ASSERT_GE(stored, 1);
    t_sleep_ms(80);
    ASSERT_OK(brain_expire(b, NULL));
    for (int i = 0; i < stored; i++) {
        char name[32];
        snprintf(name, sizeof name, "y%d", i);
        ASSERT_OK(brain_put(b, NULL, name, big, 1 << 20, NULL, NULL));
    }
    free(big);
    t_destroy(b, 0);
}

/* ---- space comes back by itself: a value that does not fit drops the
 * expired names first (brain_put, brain_reserve, brain_put_many) ---------- */

static char *filled(size_t n, int c)
{
    char *p = t_xmalloc(n);
    memset(p, c, n);
    return p;
}

TEST(put_that_does_not_fit_drops_expired_names)
{
    brain *b = t_create(0, 8 << 20);
    size_t big = 5 << 20;
    char *data = filled(big, 7);
    brain_put_opts o = {.ttl_ms = 30};
    ASSERT_OK(brain_put(b, NULL, "old", data, big, &o, NULL));
    ASSERT_OK(brain_put(b, NULL, "keep", "kept", 4, NULL, NULL));
    /* alive: a second big value does not fit */
    ASSERT_ERR(brain_put(b, NULL, "new", data, big, NULL, NULL), BRAIN_EFULL);
    ASSERT_STR_CONTAINS(brain_errdetail(), "is full");
    t_sleep_ms(80);
    /* expired: the same put now succeeds, with no brain_expire */
    ASSERT_OK(brain_put(b, NULL, "new", data, big, NULL, NULL));
    ASSERT_EQ_INT(brain_exists(b, NULL, "old"), 0);
    ASSERT_EQ_INT(brain_exists(b, NULL, "keep"), 1);
    brain_view v = {0};
    ASSERT_OK(brain_get(b, NULL, "new", &v));
    ASSERT_EQ_U64(v.size, big);
    ASSERT_MEM_EQ(v.data, data, big);
    brain_view_release(b, &v);
    /* nothing expired: the store-full error stands, nothing changes */
    ASSERT_ERR(brain_put(b, NULL, "more", data, big, NULL, NULL), BRAIN_EFULL);
    ASSERT_STR_CONTAINS(brain_errdetail(), "is full");
    ASSERT_EQ_U64(t_stats(b).names, 2);
    free(data);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(put_drops_expired_names_but_not_views_of_them)
{
    /* an expired value someone still reads keeps its bytes: the put that
     * needs them fails and says so; once the view is released it fits */
    brain *b = t_create(0, 8 << 20);
    size_t big = 5 << 20;
    char *data = filled(big, 9);
    brain_put_opts o = {.ttl_ms = 30};
    ASSERT_OK(brain_put(b, NULL, "old", data, big, &o, NULL));
    brain_view held = {0};
    ASSERT_OK(brain_get(b, NULL, "old", &held));
    t_sleep_ms(80);
    ASSERT_ERR(brain_put(b, NULL, "new", data, big, NULL, NULL), BRAIN_EFULL);
    ASSERT_STR_CONTAINS(brain_errdetail(), "held by views");
    ASSERT_EQ_INT(brain_exists(b, NULL, "old"), 0);
    ASSERT_MEM_EQ(held.data, data, big); /* the view is intact */
    brain_view_release(b, &held);
    ASSERT_OK(brain_put(b, NULL, "new", data, big, NULL, NULL));
    free(data);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(reserve_and_put_many_drop_expired_names)
{
    brain *b = t_create(0, 8 << 20);
    size_t big = 5 << 20;
    char *data = filled(big, 5);
    brain_put_opts o = {.ttl_ms = 30};
    /* brain_reserve */
    ASSERT_OK(brain_put(b, NULL, "old1", data, big, &o, NULL));
    t_sleep_ms(80);
    brain_reservation *r = NULL;
    void *p = NULL;
    ASSERT_OK(brain_reserve(b, NULL, "res", big, NULL, &r, &p));
    memcpy(p, data, big);
    ASSERT_OK(brain_publish(b, r, NULL));
    ASSERT_EQ_INT(brain_exists(b, NULL, "old1"), 0);
    ASSERT_OK(brain_delete(b, NULL, "res"));
    /* brain_put_many: the second item needs the expired one's space */
    ASSERT_OK(brain_put(b, NULL, "old2", data, big, &o, NULL));
    t_sleep_ms(80);
    brain_item items[2] = {{NULL, "a", "small", 5, NULL}, {NULL, "b", data, big, NULL}};
    uint64_t versions[2];
    size_t failed = 99;
    ASSERT_OK(brain_put_many(b, 2, items, versions, &failed));
    ASSERT_EQ_INT(brain_exists(b, NULL, "old2"), 0);
    ASSERT_EQ_INT(brain_exists(b, NULL, "a"), 1);
    ASSERT_EQ_INT(brain_exists(b, NULL, "b"), 1);
    free(data);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(stats_count_only_live_names)
{
    brain *b = t_create(0, 8 << 20);
    uint64_t used0 = t_used(b);
    char *data = filled(1 << 20, 1);
    brain_put_opts o = {.ttl_ms = 30};
    ASSERT_OK(brain_put(b, NULL, "gone", data, 1 << 20, &o, NULL));
    ASSERT_OK(brain_put(b, "other", "gone2", data, 1 << 20, &o, NULL));
    ASSERT_OK(brain_put(b, NULL, "keep", "kept", 4, NULL, NULL));
    t_sleep_ms(80);
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.names, 1);
    ASSERT_LE_U64(st.used, used0 + 4096);
    brain_ns_info *ns = NULL;
    size_t n = 0;
    ASSERT_OK(brain_namespaces(b, &ns, &n));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ns[i].name, "default") == 0) {
            ASSERT_EQ_U64(ns[i].names, 1);
            ASSERT_EQ_U64(ns[i].bytes, 4);
        } else {
            ASSERT_EQ_U64(ns[i].names, 0);
        }
    }
    free(ns);
    brain_list *l = NULL;
    ASSERT_OK(brain_list_names(b, NULL, 1, &l));
    ASSERT_EQ_U64(l->count, 1);
    brain_list_free(l);
    free(data);
    t_check_store(b);
    t_destroy(b, 0);
}
