/* test-alloc.c - the arena: a full store, values bigger than the store,
 * reuse and fragmentation, limbo, stats. */
#include "test.h"


static brain *small_store(int n, uint64_t capacity)
{
    brain_config cfg = {.capacity = capacity, .max_procs = 8,
                        .max_namespaces = 16};
    return t_create_cfg(n, &cfg);
}

/* Does TEXT give SIZE, as bytes or as brain_format_size writes it? */
static int has_size(const char *text, uint64_t size)
{
    char a[32], b[32], c[32];
    snprintf(a, sizeof a, "%" PRIu64, size);
    brain_format_size(size, 0, b, sizeof b);
    brain_format_size(size, 1, c, sizeof c);
    return strstr(text, a) || strstr(text, b) || strstr(text, c);
}

/* brain.h: free = capacity - used - limbo; and the other bounds. */
static void check_stats_identity(brain *b)
{
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.free, st.capacity - st.used - st.limbo);
    ASSERT_LE_U64(st.largest_free, st.free);
    ASSERT_LE_U64(st.used, st.capacity);
    ASSERT_LE_U64(st.file_size, st.capacity);
    ASSERT_LE_U64(st.free_blocks, st.blocks);
}

TEST(full_store_efull_then_recovers)
{
    brain *b = small_store(0, 2 << 20);
    uint64_t used0 = t_used(b);
    enum { VSZ = 64 << 10 };
    unsigned char *buf = t_xmalloc(VSZ);
    int stored = 0, rc = 0;
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "fill-%d", i);
        t_vfill(buf, VSZ, (uint64_t)i);
        rc = brain_put(b, NULL, name, buf, VSZ, NULL, NULL);
        if (rc != 0)
            break;
        stored++;
    }
    ASSERT_MSG(rc == BRAIN_EFULL, "filling a 2 MiB store: %s after %d values",
               brain_errname(rc), stored);
    const char *detail = t_detail_copy();
    t_check_detail(__FILE__, __LINE__, "EFULL", detail);
    ASSERT_GE(stored, 10);        /* most of the 2 MiB hold values */
    ASSERT_LE(stored, 32);
    t_log("stored %d values of 64 KiB; detail: %s", stored, detail);
    /* the detail gives the figures: the size needed (the value and its
     * bookkeeping, within 5 %) and the capacity */
    ASSERT_MSG(has_size(detail, VSZ), "EFULL detail does not give the "
               "value's size (%d bytes): %s", VSZ, detail);
    char cap[32];
    brain_format_size(2 << 20, 0, cap, sizeof cap);
    ASSERT_STR_CONTAINS(detail, cap);

    brain_stats st = t_stats(b);
    ASSERT_LT_U64(st.largest_free, VSZ);
    ASSERT_EQ_U64(st.names, (uint64_t)stored);
    check_stats_identity(b);
    /* the failed put changed nothing; every value is intact */
    ASSERT_EQ_INT(brain_exists(b, NULL, name), 0);
    unsigned char *out = t_xmalloc(VSZ);
    for (int i = 0; i < stored; i++) {
        snprintf(name, sizeof name, "fill-%d", i);
        size_t n = 0;
        ASSERT_OK(brain_read(b, NULL, name, out, VSZ, &n, NULL));
        ASSERT_EQ_U64(n, VSZ);
        ASSERT_VALUE(out, n, (uint64_t)i);
    }
    /* reserve and put_many fail the same way, with nothing lost */
    brain_reservation *res;
    void *data;
    ASSERT_ERR(brain_reserve(b, NULL, "r", VSZ, NULL, &res, &data),
               BRAIN_EFULL);
    brain_item item = {NULL, "pm", buf, VSZ, NULL};
    ASSERT_ERR(brain_put_many(b, 1, &item, NULL, NULL), BRAIN_EFULL);
    /* replacing a value by a bigger one when full fails and keeps the old */
    snprintf(name, sizeof name, "fill-%d", 0);
    ASSERT_ERR(brain_put(b, NULL, name, buf, VSZ * 2, NULL, NULL),
               BRAIN_EFULL);
    size_t got = 0;
    ASSERT_OK(brain_read(b, NULL, name, out, VSZ, &got, NULL));
    ASSERT_EQ_U64(got, VSZ);
    ASSERT_VALUE(out, VSZ, 0);

    /* delete a few (not neighbours): values of the same size fit in their
     * holes again.  (A failure here is reported at the end, so that the
     * checks below still run.) */
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "fill-%d", i * 2);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    int reuse_failed = -1;
    char reuse_detail[600] = "";
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "again-%d", i);
        t_vfill(buf, VSZ, 1000u + (uint64_t)i);
        int prc = brain_put(b, NULL, name, buf, VSZ, NULL, NULL);
        if (prc != 0 && reuse_failed < 0) {
            reuse_failed = i;
            snprintf(reuse_detail, sizeof reuse_detail, "%s: %s",
                     brain_errname(prc), t_detail_copy());
        }
    }
    t_check_store(b);

    /* delete everything: used returns to its starting figure */
    ASSERT_OK(brain_ns_clear(b, NULL, NULL));
    ASSERT_EQ_U64(t_stats(b).names, 0);
    ASSERT_EQ_U64(t_used(b), used0);
    ASSERT_EQ_U64(t_stats(b).limbo, 0);
    check_stats_identity(b);
    st = t_stats(b);
    t_log("emptied: %" PRIu64 " blocks, %" PRIu64 " free, largest free %"
          PRIu64 ", free %" PRIu64 ", index slots %" PRIu64, st.blocks,
          st.free_blocks, st.largest_free, st.free, st.index_slots);
    /* and the whole space is usable again: as many values fit as at first */
    for (int i = 0; i < stored; i++) {
        snprintf(name, sizeof name, "refill-%d", i);
        int rc2 = brain_put(b, NULL, name, buf, VSZ, NULL, NULL);
        ASSERT_MSG(rc2 == 0, "refill %d of %d: %s (%s)", i, stored,
                   brain_errname(rc2), t_detail_copy());
    }
    free(buf);
    free(out);
    t_check_store(b);
    t_destroy(b, 0);
    ASSERT_MSG(reuse_failed < 0, "3 values of %d bytes deleted, storing "
               "value %d of the same size in their room failed: %s", VSZ,
               reuse_failed, reuse_detail);
}

TEST(value_bigger_than_capacity_etoobig)
{
    brain *b = small_store(0, 2 << 20);
    ASSERT_OK(brain_put(b, NULL, "keep", "k", 1, NULL, NULL));
    uint64_t used0 = t_used(b);
    size_t big = (2 << 20) + 1;
    char *buf = t_xmalloc(3 << 20);
    memset(buf, 1, 3 << 20);
    ASSERT_ERR(brain_put(b, NULL, "big", buf, big, NULL, NULL), BRAIN_ETOOBIG);
    const char *d = t_detail_copy();
    ASSERT_MSG(has_size(d, big), "ETOOBIG detail does not give the "
               "value's size (%zu bytes): %s", big, d);
    ASSERT_ERR(brain_put(b, NULL, "big", buf, 3 << 20, NULL, NULL),
               BRAIN_ETOOBIG);
    ASSERT_ERR(brain_put(b, NULL, "keep", buf, 3 << 20, NULL, NULL),
               BRAIN_ETOOBIG);
    brain_item item = {NULL, "big", buf, 3 << 20, NULL};
    size_t failed = 9;
    ASSERT_ERR(brain_put_many(b, 1, &item, NULL, &failed), BRAIN_ETOOBIG);
    ASSERT_EQ_U64(failed, 0);
    ASSERT_EQ_U64(t_used(b), used0);
    ASSERT_EQ_U64(t_stats(b).names, 1);
    char c;
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "keep", &c, 1, &n, NULL));
    ASSERT_EQ_INT(c, 'k');
    free(buf);
    t_destroy(b, 0);
}

TEST(replace_churn_reuses_space)
{
    /* Replacing names over and over, far more bytes than the capacity,
     * never fills the store when no view holds old values. */
    brain *b = small_store(0, 4 << 20);
    uint64_t seed = 7;
    unsigned char *buf = t_xmalloc(1 << 20);
    int rounds = T_SCALE(400, 2);
    uint64_t total = 0;
    int cur_seed[4] = {-1, -1, -1, -1};
    size_t cur_size[4] = {0};
    for (int r = 0; r < rounds; r++) {
        int k = (int)t_rand_range(&seed, 4);
        size_t sz = T_VHDR + (size_t)t_rand_range(&seed, 600 << 10);
        char name[32];
        snprintf(name, sizeof name, "c%d", k);
        t_vfill(buf, sz, (uint64_t)r);
        ASSERT_OK(brain_put(b, NULL, name, buf, sz, NULL, NULL));
        cur_seed[k] = r;
        cur_size[k] = sz;
        total += sz;
    }
    ASSERT_GT_U64(total, 20ull << 20);
    for (int k = 0; k < 4; k++) {
        if (cur_seed[k] < 0)
            continue;
        char name[32];
        snprintf(name, sizeof name, "c%d", k);
        brain_view v = {0};
        ASSERT_OK(brain_get(b, NULL, name, &v));
        ASSERT_EQ_U64(v.size, cur_size[k]);
        ASSERT_VALUE(v.data, v.size, (uint64_t)cur_seed[k]);
        brain_view_release(b, &v);
    }
    free(buf);
    t_check_store(b);
    check_stats_identity(b);
    t_destroy(b, 0);
}

TEST(fragmentation_holes_are_reused)
{
    brain *b = small_store(0, 8 << 20);
    uint64_t used0 = t_used(b), s0_slots = t_stats(b).index_slots;
    /* 100 values of mixed sizes, then free every other one */
    enum { N = 100 };
    size_t sizes[N];
    uint64_t seed = 99;
    unsigned char *buf = t_xmalloc(128 << 10);
    uint64_t live = 0;
    for (int i = 0; i < N; i++) {
        sizes[i] = T_VHDR + (size_t)t_rand_range(&seed, 60 << 10);
        char name[32];
        snprintf(name, sizeof name, "h%d", i);
        t_vfill(buf, sizes[i], (uint64_t)i);
        ASSERT_OK(brain_put(b, NULL, name, buf, sizes[i], NULL, NULL));
        live += sizes[i];
    }
    for (int i = 0; i < N; i += 2) {
        char name[32];
        snprintf(name, sizeof name, "h%d", i);
        ASSERT_OK(brain_delete(b, NULL, name));
        live -= sizes[i];
    }
    brain_stats st = t_stats(b);
    ASSERT_GE_U64(st.free_blocks, 2);
    check_stats_identity(b);
    /* the holes take new values of the same sizes without growing used
     * past where it was */
    uint64_t used_full = 0;
    for (int i = 0; i < N; i += 2) {
        char name[32];
        snprintf(name, sizeof name, "n%d", i);
        t_vfill(buf, sizes[i], 5000u + (uint64_t)i);
        ASSERT_OK(brain_put(b, NULL, name, buf, sizes[i], NULL, NULL));
    }
    used_full = t_used(b);
    ASSERT_GE_U64(used_full, used0 + live);
    /* many small values fill the rest: the store holds at least 70 % of
     * its capacity in values before EFULL */
    int small = 0, rc = 0;
    uint64_t bytes = 0;
    while (1) {
        char name[32];
        snprintf(name, sizeof name, "s%d", small);
        size_t sz = T_VHDR + (size_t)t_rand_range(&seed, 4000);
        t_vfill(buf, sz, 9000000u + (uint64_t)small);
        rc = brain_put(b, NULL, name, buf, sz, NULL, NULL);
        if (rc != 0)
            break;
        bytes += sz;
        small++;
    }
    ASSERT_EQ_INT(rc, BRAIN_EFULL);
    st = t_stats(b);
    t_log("values hold %" PRIu64 " of %" PRIu64 " bytes, used %" PRIu64
          ", %d small values",
          live * 2 + bytes, st.capacity, st.used, small);
    ASSERT_GE_U64(live * 2 + bytes, st.capacity * 6 / 10);
    /* every value intact */
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, i % 2 ? "h%d" : "n%d", i);
        brain_view v = {0};
        ASSERT_OK(brain_get(b, NULL, name, &v));
        ASSERT_EQ_U64(v.size, sizes[i]);
        ASSERT_VALUE(v.data, v.size, i % 2 ? (uint64_t)i : 5000u + (uint64_t)i);
        brain_view_release(b, &v);
    }
    t_check_store(b);
    /* delete everything: used back to the start (unless the index grew),
     * blocks coalesced */
    uint64_t slots_full = t_stats(b).index_slots;
    ASSERT_OK(brain_ns_clear(b, NULL, NULL));
    st = t_stats(b);
    if (st.index_slots == s0_slots)
        ASSERT_EQ_U64(st.used, used0);
    else
        ASSERT_LT_U64(st.used, used0 + st.index_slots * 8 + 4096);
    t_log("emptied: %" PRIu64 " blocks, %" PRIu64 " free, largest free %"
          PRIu64 ", free %" PRIu64 ", index slots %" PRIu64 " (%" PRIu64
          " at first, %" PRIu64 " when full)", st.blocks, st.free_blocks,
          st.largest_free, st.free, st.index_slots, s0_slots, slots_full);
    ASSERT_LE_U64(st.free_blocks, 2);
    ASSERT_GE_U64(st.largest_free, st.free / 2);
    free(buf);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(limbo_holds_replaced_value_while_viewed)
{
    brain *b = small_store(0, 4 << 20);
    unsigned char *buf = t_xmalloc(1 << 20);
    t_vfill(buf, 1 << 20, 1);
    ASSERT_OK(brain_put(b, NULL, "v", buf, 1 << 20, NULL, NULL));
    uint64_t used1 = t_used(b);
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "v", &view));
    /* replace and delete while viewed: the old block sits in limbo */
    t_vfill(buf, 1 << 20, 2);
    ASSERT_OK(brain_put(b, NULL, "v", buf, 1 << 20, NULL, NULL));
    brain_stats st = t_stats(b);
    ASSERT_GE_U64(st.limbo, 1 << 20);
    check_stats_identity(b);
    ASSERT_EQ_U64(st.pins, 1);
    ASSERT_VALUE(view.data, view.size, 1);
    /* the held block is not reused, even when the store runs full */
    int k = 0;
    while (1) {
        char name[32];
        snprintf(name, sizeof name, "f%d", k);
        t_vfill(buf, 200 << 10, 100u + (uint64_t)k);
        int rc = brain_put(b, NULL, name, buf, 200 << 10, NULL, NULL);
        if (rc == BRAIN_EFULL)
            break;
        ASSERT_OK(rc);
        k++;
    }
    ASSERT_VALUE(view.data, view.size, 1);
    brain_view_release(b, &view);
    /* once released, the block is reclaimed by the next writes */
    for (int i = 0; i < k; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    ASSERT_OK(brain_put(b, NULL, "after", "a", 1, NULL, NULL));
    ASSERT_OK(brain_delete(b, NULL, "after"));
    st = t_stats(b);
    ASSERT_EQ_U64(st.limbo, 0);
    ASSERT_EQ_U64(st.used, used1);
    ASSERT_EQ_U64(st.pins, 0);
    check_stats_identity(b);
    free(buf);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(stats_track_names_bytes_and_files)
{
    brain *b = small_store(0, 64 << 20);
    brain_stats s0 = t_stats(b);
    ASSERT_EQ_U64(s0.capacity, 64 << 20);
    ASSERT_EQ_U64(s0.names, 0);
    ASSERT_GE_U64(s0.namespaces, 1);
    ASSERT_EQ_U64(s0.procs, 1);
    ASSERT_GT_U64(s0.index_slots, 0);
    ASSERT_GE_U64(s0.blocks, 1);
    ASSERT_EQ_INT(s0.max_procs, 8);
    ASSERT_EQ_INT(s0.max_namespaces, 16);
    ASSERT_EQ_INT(t_file_size(t_store(0)), (off_t)s0.file_size);
    check_stats_identity(b);

    char *buf = t_xmalloc(8 << 20);
    memset(buf, 9, 8 << 20);
    uint64_t v = 0;
    ASSERT_OK(brain_put(b, "x", "a", buf, 8 << 20, NULL, &v));
    brain_stats s1 = t_stats(b);
    ASSERT_GE_U64(s1.used, s0.used + (8 << 20));
    ASSERT_LT_U64(s1.used, s0.used + (8 << 20) + 4096);
    ASSERT_EQ_U64(s1.names, 1);
    ASSERT_EQ_U64(s1.namespaces, s0.namespaces + 1);
    ASSERT_EQ_U64(s1.version, v);
    /* the file grows by what the free space it had could not hold */
    ASSERT_GE_U64(s1.file_size, (uint64_t)(8 << 20));
    ASSERT_GT_U64(s1.file_size, s0.file_size);
    ASSERT_EQ_INT(t_file_size(t_store(0)), (off_t)s1.file_size);
    check_stats_identity(b);

    /* a second process sees the same figures */
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        brain_stats sc = t_stats(c);
        ASSERT_EQ_U64(sc.names, 1);
        ASSERT_EQ_U64(sc.version, v);
        ASSERT_EQ_U64(sc.used, s1.used);
        ASSERT_GE_U64(sc.procs, 2);
        ASSERT_OK(brain_close(c));
        t_child_exit(0);
    }
    t_wait_ok(pid);

    brain_view view = {0};
    ASSERT_OK(brain_get(b, "x", "a", &view));
    ASSERT_EQ_U64(t_stats(b).pins, 1);
    brain_view_release(b, &view);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    ASSERT_OK(brain_delete(b, "x", "a"));
    brain_stats s2 = t_stats(b);
    ASSERT_EQ_U64(s2.used, s0.used);
    ASSERT_EQ_U64(s2.names, 0);
    ASSERT_EQ_U64(s2.namespaces, s0.namespaces);
    ASSERT_GT_U64(s2.version, v);
    check_stats_identity(b);
    free(buf);
    t_destroy(b, 0);
}

TEST(many_small_values_index_grows)
{
    brain *b = small_store(0, 64 << 20);
    brain_stats s0 = t_stats(b);
    int n = T_SCALE(20000, 4);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "i%d", i);
        ASSERT_OK(brain_put(b, NULL, name, &i, sizeof i, NULL, NULL));
    }
    brain_stats s1 = t_stats(b);
    ASSERT_EQ_U64(s1.names, (uint64_t)n);
    ASSERT_GE_U64(s1.index_slots, (uint64_t)n);
    for (int i = 0; i < n; i += 7) {
        char name[32];
        snprintf(name, sizeof name, "i%d", i);
        int v = -1;
        size_t sz;
        ASSERT_OK(brain_read(b, NULL, name, &v, sizeof v, &sz, NULL));
        ASSERT_EQ_INT(v, i);
    }
    t_check_store(b);
    /* delete all, store all again, delete all: used returns to the figure
     * of the first empty-after-use store */
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "i%d", i);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    uint64_t used_empty = t_used(b);
    if (t_stats(b).index_slots == s0.index_slots)
        ASSERT_EQ_U64(used_empty, s0.used);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "j%d", i);
            ASSERT_OK(brain_put(b, NULL, name, &i, sizeof i, NULL, NULL));
        }
        size_t removed = 0;
        ASSERT_OK(brain_ns_clear(b, NULL, &removed));
        ASSERT_EQ_U64(removed, (uint64_t)n);
        ASSERT_EQ_U64(t_used(b), used_empty);
    }
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(file_grows_with_values)
{
    brain *b = small_store(0, 1ull << 30);
    brain_stats s0 = t_stats(b);
    ASSERT_LT_U64(s0.file_size, 64 << 20);
    char *buf = t_xmalloc(16 << 20);
    memset(buf, 5, 16 << 20);
    uint64_t prev = s0.file_size;
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "g%d", i);
        ASSERT_OK(brain_put(b, NULL, name, buf, 16 << 20, NULL, NULL));
        brain_stats s = t_stats(b);
        ASSERT_GE_U64(s.file_size, prev);
        ASSERT_GE_U64(s.file_size, (uint64_t)(i + 1) * (16 << 20));
        ASSERT_LE_U64(s.file_size, s.capacity);
        ASSERT_EQ_INT(t_file_size(t_store(0)), (off_t)s.file_size);
        prev = s.file_size;
    }
    free(buf);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(stats_free_is_capacity_minus_used_minus_limbo)
{
    /* brain.h: free = capacity - used - limbo, in every state */
    brain *b = small_store(0, 8 << 20);
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.free, st.capacity - st.used - st.limbo);
    char *buf = t_xmalloc(1 << 20);
    memset(buf, 1, 1 << 20);
    ASSERT_OK(brain_put(b, NULL, "a", buf, 1 << 20, NULL, NULL));
    brain_view v = {0};
    ASSERT_OK(brain_get(b, NULL, "a", &v));
    ASSERT_OK(brain_delete(b, NULL, "a"));
    st = t_stats(b);
    ASSERT_GT_U64(st.limbo, 0);
    ASSERT_EQ_U64(st.free, st.capacity - st.used - st.limbo);
    brain_view_release(b, &v);
    free(buf);
    t_destroy(b, 0);
}

/* Goal 8 of issue 14: a large freed value's pages go back to the system
 * once no reader holds it; the block's header and the free lists survive
 * (the store checks clean, the room is reused, the value reads back). */
TEST(freed_large_value_gives_its_pages_back)
{
    brain *b = small_store(0, 512ull << 20);
    size_t big = 96u << 20;
    unsigned char *v = malloc(big), *got = malloc(big);
    ASSERT_NOT_NULL(v);
    ASSERT_NOT_NULL(got);
    for (size_t i = 0; i < big; i++)
        v[i] = (unsigned char)(i * 31 + 7);
    ASSERT_OK(brain_put(b, NULL, "big", v, big, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "small", "s", 1, NULL, NULL));
    uint64_t held = t_file_ram(b);
    ASSERT_GE_U64(held, big);

    /* a reader's view pins it: deleting keeps the pages */
    brain_view view;
    ASSERT_OK(brain_get(b, NULL, "big", &view));
    ASSERT_OK(brain_delete(b, NULL, "big"));
    (void)t_stats(b); /* reclaims what it can */
    ASSERT_GE_U64(t_file_ram(b), big);
    ASSERT_EQ_INT(memcmp(view.data, v, big), 0);
    brain_view_release(b, &view);

    (void)t_stats(b);
    uint64_t after = t_file_ram(b);
    t_log("file held %.1f MiB with the value, %.1f MiB after it was freed",
          held / 1048576.0, after / 1048576.0);
    ASSERT_LE_U64(after + big - (2u << 20), held);
    t_check_store(b);

    /* the room is reused: the pages come back, the bytes are right */
    ASSERT_OK(brain_put(b, NULL, "again", v, big, NULL, NULL));
    ASSERT_GE_U64(t_file_ram(b), after + big - (1u << 20));
    size_t n = 0;
    ASSERT_OK(brain_read(b, NULL, "again", got, big, &n, NULL));
    ASSERT_EQ_U64(n, big);
    ASSERT_EQ_INT(memcmp(got, v, big), 0);
    ASSERT_OK(brain_read(b, NULL, "small", got, 1, &n, NULL));
    ASSERT_EQ_INT(got[0], 's');
    t_check_store(b);
    free(v);
    free(got);
    t_destroy(b, 0);
}

/* Issue 14, goal 7: a delete frees what no reader can reach before it
 * returns, so a large value's pages go back at the delete's own unlock and
 * the next writer (a learn onto the room, in the bench) does not pay the
 * punch; a value a view pins keeps its pages until it is let go. */
TEST(delete_gives_pages_back_before_it_returns)
{
    size_t big = 96u << 20;
    unsigned char *v = memset(t_xmalloc(big), 0x6B, big);
    brain *b = small_store(0, 512ull << 20);
    ASSERT_OK(brain_put(b, NULL, "big", v, big, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "pinned", v, big, NULL, NULL));
    uint64_t held = t_file_ram(b);
    ASSERT_GE_U64(held, 2 * (uint64_t)big);

    ASSERT_OK(brain_delete(b, NULL, "big")); /* nothing else: no stats, no put */
    uint64_t after = t_file_ram(b);
    t_log("file held %.1f MiB, %.1f MiB right after the delete", held / 1048576.0,
          after / 1048576.0);
    ASSERT_MSG(after + big - (34u << 20) <= held, "the delete kept its pages: %.1f MiB "
               "held before, %.1f MiB after", held / 1048576.0, after / 1048576.0);

    brain_view view;
    ASSERT_OK(brain_get(b, NULL, "pinned", &view));
    ASSERT_OK(brain_delete(b, NULL, "pinned"));
    ASSERT_GE_U64(t_file_ram(b), after - (2u << 20)); /* the view still reads it */
    ASSERT_EQ_INT(memcmp(view.data, v, big), 0);
    brain_view_release(b, &view);
    t_check_store(b);
    free(v);
    t_destroy(b, 0);
}

/* What the file holds stays within the live values, what readers pin and
 * the warm reserve (32 MiB, alloc.c), whatever the churn. */
TEST(memory_held_is_bounded_under_churn)
{
    brain *b = small_store(0, 1ull << 30);
    size_t sizes[] = {40u << 20, 3u << 20, 70u << 20, 100u << 10, 25u << 20};
    unsigned char *v = calloc(1, 70u << 20);
    ASSERT_NOT_NULL(v);
    for (int round = 0; round < 12; round++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", round % 4);
        size_t sz = sizes[round % 5];
        memset(v, round + 1, sz);
        ASSERT_OK(brain_put(b, NULL, name, v, sz, NULL, NULL));
        brain_stats st = t_stats(b);
        uint64_t ram = t_file_ram(b);
        /* used counts the header and tables; + the reserve + one refill
         * chunk + pages at block edges */
        uint64_t bound = st.used + st.limbo + (32u << 20) + (2u << 20) + (1u << 20);
        ASSERT_MSG(ram <= bound, "round %d: the file holds %.1f MiB, bound %.1f MiB "
                   "(used %.1f MiB)", round, ram / 1048576.0, bound / 1048576.0,
                   st.used / 1048576.0);
    }
    t_check_store(b);
    free(v);
    t_destroy(b, 0);
}

/* Issue 14, goal 7 with goal 8: a replace frees the version before the
 * last one and allocates in the same hold of the writers' lock; the punch
 * waits for the unlock, so the allocation reuses the freed block with its
 * pages (no fallocate, no clearing, no fault per page).  Seen through a
 * reservation: it lands where the first version was, and still holds that
 * version's bytes (a punched and refilled page reads zero). */
TEST(replace_reuses_the_freed_blocks_pages)
{
    brain *b = small_store(0, 1ull << 30);
    size_t big = 64u << 20;
    unsigned char *v = malloc(big);
    ASSERT_NOT_NULL(v);
    memset(v, 0xA1, big);
    ASSERT_OK(brain_put(b, NULL, "x", v, big, NULL, NULL));
    brain_view view;
    ASSERT_OK(brain_get(b, NULL, "x", &view));
    const unsigned char *first = view.data;
    brain_view_release(b, &view);
    memset(v, 0xB2, big);
    ASSERT_OK(brain_put(b, NULL, "x", v, big, NULL, NULL)); /* the first: limbo */
    uint64_t held = t_file_ram(b);

    brain_reservation *res = NULL;
    void *data = NULL;
    ASSERT_OK(brain_reserve(b, NULL, "x", big, NULL, &res, &data)); /* frees it, takes it */
    const unsigned char *d = data;
    size_t zeros = 0, kept = 0;
    for (size_t i = 0; i < big; i += 4096) {
        zeros += d[i] == 0;
        kept += d[i] == 0xA1;
    }
    t_log("reused block: %zu of %zu pages kept the old bytes, %zu read zero", kept,
          big / 4096, zeros);
    ASSERT_EQ_U64(zeros, 0);
    ASSERT_GE_U64(kept, big / 4096 - 2);
    /* no new pages: the reused block brought its own */
    ASSERT_LE_U64(t_file_ram(b), held + (2u << 20));

    memset(data, 0xC3, big);
    ASSERT_OK(brain_publish(b, res, NULL));
    ASSERT_OK(brain_get(b, NULL, "x", &view)); /* the read-only view's address */
    ASSERT_MSG(view.data == first, "the new version is not where the replaced one was "
               "(%p, not %p)", (const void *)view.data, (const void *)first);
    brain_view_release(b, &view);
    size_t n = 0;
    unsigned char *got = malloc(big);
    ASSERT_NOT_NULL(got);
    ASSERT_OK(brain_read(b, NULL, "x", got, big, &n, NULL));
    ASSERT_EQ_U64(n, big);
    ASSERT_EQ_INT(got[0], 0xC3);
    ASSERT_EQ_INT(got[big - 1], 0xC3);
    t_check_store(b);
    free(got);
    free(v);
    t_destroy(b, 0);
}

/* The deferred punch still gives back, at the unlock, what an allocation in
 * the same hold left free: a small value carved from the front of a freed
 * large block leaves the rest free, and the rest's pages go back (past the
 * 32 MiB reserve) before the call returns; a large value freed with nothing
 * to take it goes back too.  RAM within used + pinned + the reserve. */
TEST(deferred_punch_returns_what_the_hold_left_free)
{
    brain *b = small_store(0, 1ull << 30);
    size_t big = 96u << 20, small = 2u << 20;
    unsigned char *v = calloc(1, big);
    ASSERT_NOT_NULL(v);
    memset(v, 0x5A, big);
    ASSERT_OK(brain_put(b, NULL, "x", v, big, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "x", v, big, NULL, NULL)); /* the first: limbo */
    ASSERT_OK(brain_put(b, NULL, "y", v, small, NULL, NULL)); /* frees it, takes its front */
    brain_stats st = t_stats(b);
    uint64_t ram = t_file_ram(b),
             bound = st.used + st.limbo + (32u << 20) + (2u << 20) + (1u << 20);
    t_log("after the carve: the file holds %.1f MiB, bound %.1f MiB", ram / 1048576.0,
          bound / 1048576.0);
    ASSERT_MSG(ram <= bound, "the file holds %.1f MiB, bound %.1f MiB", ram / 1048576.0,
               bound / 1048576.0);
    ASSERT_OK(brain_delete(b, NULL, "x"));
    st = t_stats(b);
    ram = t_file_ram(b);
    bound = st.used + st.limbo + (32u << 20) + (2u << 20) + (1u << 20);
    ASSERT_MSG(ram <= bound, "after the delete: %.1f MiB, bound %.1f MiB", ram / 1048576.0,
               bound / 1048576.0);
    brain_view view;
    ASSERT_OK(brain_get(b, NULL, "y", &view));
    ASSERT_EQ_U64(view.size, small);
    ASSERT_EQ_INT(memcmp(view.data, v, small), 0);
    brain_view_release(b, &view);
    t_check_store(b);
    free(v);
    t_destroy(b, 0);
}
