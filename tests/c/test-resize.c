/* test-resize.c - brain_resize (grow, shrink, refusals) and file growth
 * while other processes hold views. */
#include "test.h"

#include <sys/stat.h>

static brain *store(int n, uint64_t capacity)
{
    brain_config cfg = {.capacity = capacity, .max_procs = 8,
                        .max_namespaces = 16};
    return t_create_cfg(n, &cfg);
}

static void put_checked(brain *b, const char *name, size_t size, uint64_t seed)
{
    unsigned char *buf = t_xmalloc(size);
    t_vfill(buf, size, seed);
    ASSERT_OK(brain_put(b, NULL, name, buf, size, NULL, NULL));
    free(buf);
}

static void expect_checked(brain *b, const char *name, size_t size,
                           uint64_t seed)
{
    brain_view v = {0};
    ASSERT_OK(brain_get(b, NULL, name, &v));
    ASSERT_EQ_U64(v.size, size);
    ASSERT_VALUE(v.data, v.size, seed);
    brain_view_release(b, &v);
}

TEST(resize_grow)
{
    brain *b = store(0, 2 << 20);
    put_checked(b, "first", 512 << 10, 1);
    unsigned char *buf = t_xmalloc(3 << 20);
    t_vfill(buf, 3 << 20, 2);
    ASSERT_ERR(brain_put(b, NULL, "big", buf, 3 << 20, NULL, NULL),
               BRAIN_ETOOBIG);
    brain *other = t_open(0);
    ASSERT_OK(brain_resize(b, 16 << 20));
    ASSERT_EQ_U64(t_stats(b).capacity, 16 << 20);
    /* the other handle sees the new capacity on its next call */
    ASSERT_EQ_U64(t_stats(other).capacity, 16 << 20);
    ASSERT_OK(brain_put(other, NULL, "big", buf, 3 << 20, NULL, NULL));
    expect_checked(b, "big", 3 << 20, 2);
    expect_checked(b, "first", 512 << 10, 1);
    /* and another process */
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        ASSERT_EQ_U64(t_stats(c).capacity, 16 << 20);
        expect_checked(c, "big", 3 << 20, 2);
        ASSERT_OK(brain_close(c));
        t_child_exit(0);
    }
    t_wait_ok(pid);
    free(buf);
    ASSERT_OK(brain_close(other));
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(resize_shrink_moves_values)
{
    brain *b = store(0, 16 << 20);
    /* spread values over the arena, then delete most of them */
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", i);
        put_checked(b, name, 1 << 20, (uint64_t)i);
    }
    for (int i = 0; i < 12; i++) {
        if (i == 1 || i == 10 || i == 11)
            continue;
        char name[32];
        snprintf(name, sizeof name, "s%d", i);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    ASSERT_GE_U64(t_file_size(t_store(0)), 11 << 20);
    ASSERT_OK(brain_resize(b, 6 << 20));
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.capacity, 6 << 20);
    ASSERT_LE_U64(st.file_size, 6 << 20);
    ASSERT_LE_U64(t_file_size(t_store(0)), 6 << 20);
    ASSERT_EQ_U64(st.names, 3);
    expect_checked(b, "s1", 1 << 20, 1);
    expect_checked(b, "s10", 1 << 20, 10);
    expect_checked(b, "s11", 1 << 20, 11);
    t_check_store(b);
    /* the store works at its new size */
    put_checked(b, "after", 1 << 20, 77);
    expect_checked(b, "after", 1 << 20, 77);
    t_check_store(b);
    t_destroy(b, 0);
}

/* A small value left between two holes splits the room a large value
 * beyond the new end needs; the shrink compacts (moves the small value
 * down) so the holes merge, instead of refusing. */
TEST(resize_shrink_compacts_fragmented_space)
{
    brain *b = store(0, 16 << 20);
    uint64_t tables = t_used(b);
    put_checked(b, "h1", 1 << 20, 1);
    put_checked(b, "small", 100, 2);
    put_checked(b, "h2", 1 << 20, 3);
    put_checked(b, "big", 3 << 19, 4);
    ASSERT_OK(brain_delete(b, NULL, "h1"));
    ASSERT_OK(brain_delete(b, NULL, "h2"));
    /* below the new end: two 1 MiB holes around "small", neither holds
     * "big" (1.5 MiB), which lies beyond it */
    uint64_t cap = (tables + (3 << 20) + 65535) & ~65535ull;
    ASSERT_OK(brain_resize(b, cap));
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.capacity, cap);
    ASSERT_LE_U64(st.file_size, cap);
    ASSERT_EQ_U64(st.names, 2);
    expect_checked(b, "small", 100, 2);
    expect_checked(b, "big", 3 << 19, 4);
    t_check_store(b);
    t_destroy(b, 0);
}

/* The layout stateful testing found: holes on either side of small values,
 * one of them a hole of its own.  Compaction used to move a small value
 * into the nearest hole that held it (the small one right below it), so it
 * kept splitting the free space; sliding each value into the lowest hole
 * lets all the holes merge into room for the large value beyond the end. */
TEST(resize_shrink_compacts_small_holes)
{
    brain *b = store(0, 16 << 20);
    uint64_t tables = t_used(b);
    put_checked(b, "h1", 2 << 20, 1);
    put_checked(b, "s1", 100, 2);
    put_checked(b, "gap", 1000, 3);
    put_checked(b, "s2", 100, 4);
    put_checked(b, "h2", 2 << 20, 5);
    put_checked(b, "big", (2 << 20) + 4096, 6);
    ASSERT_OK(brain_delete(b, NULL, "h1"));
    ASSERT_OK(brain_delete(b, NULL, "gap"));
    ASSERT_OK(brain_delete(b, NULL, "h2"));
    /* "big" lies beyond the new end; no hole below holds it, and moving
     * "s2" into the "gap" hole would leave none that does */
    uint64_t cap = (tables + (3 << 20) + 65535) & ~65535ull;
    ASSERT_OK(brain_resize(b, cap));
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.capacity, cap);
    ASSERT_LE_U64(st.file_size, cap);
    ASSERT_EQ_U64(st.names, 3);
    expect_checked(b, "s1", 100, 2);
    expect_checked(b, "s2", 100, 4);
    expect_checked(b, "big", (2 << 20) + 4096, 6);
    t_check_store(b);
    t_destroy(b, 0);
}

/* Every hole below the new end is smaller than every value: no value can
 * slide down.  The shrink parks the value above the lowest hole in the
 * free space beyond the end, so that hole grows by its size, then brings
 * both values down. */
TEST(resize_shrink_parks_values_to_merge_holes)
{
    brain *b = store(0, 16 << 20);
    uint64_t tables = t_used(b);
    put_checked(b, "h1", 1200 << 10, 1);
    put_checked(b, "x", 1400 << 10, 2);
    put_checked(b, "h2", 1200 << 10, 3);
    put_checked(b, "big", 1400 << 10, 4);
    ASSERT_OK(brain_delete(b, NULL, "h1"));
    ASSERT_OK(brain_delete(b, NULL, "h2"));
    /* free space beyond "big" to park "x" in */
    ASSERT_GE_U64(t_file_size(t_store(0)), tables + (6800 << 10));
    uint64_t cap = (tables + (3 << 20) + 65535) & ~65535ull;
    ASSERT_OK(brain_resize(b, cap));
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.capacity, cap);
    ASSERT_LE_U64(st.file_size, cap);
    ASSERT_EQ_U64(st.names, 2);
    expect_checked(b, "x", 1400 << 10, 2);
    expect_checked(b, "big", 1400 << 10, 4);
    t_check_store(b);
    /* the store works at its new size */
    put_checked(b, "after", 64 << 10, 7);
    expect_checked(b, "after", 64 << 10, 7);
    t_check_store(b);
    t_destroy(b, 0);
}

/* As above, but the free space beyond the values is too small to park one
 * in: the shrink grows the file for room (up to the capacity, which the
 * shrink lowers again) instead of refusing. */
TEST(resize_shrink_grows_to_park_values)
{
    brain *b = store(0, 32 << 20);
    uint64_t tables = t_used(b);
    put_checked(b, "h1", 1200 << 10, 1);
    put_checked(b, "x", 1400 << 10, 2);
    put_checked(b, "h2", 1200 << 10, 3);
    put_checked(b, "big", 1400 << 10, 4);
    /* "fill" takes the free space beyond "big" but 300 KiB of it */
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.free_blocks, 1);
    /* largest_free counts the room the file can still grow by */
    uint64_t tail = st.largest_free - (st.capacity - st.file_size);
    ASSERT_GE_U64(tail, 1600 << 10);
    size_t fill = (size_t)(tail - (300 << 10));
    put_checked(b, "fill", fill, 5);
    ASSERT_OK(brain_delete(b, NULL, "h1"));
    ASSERT_OK(brain_delete(b, NULL, "h2"));
    uint64_t fs = t_file_size(t_store(0));
    st = t_stats(b);
    /* no free block holds any of the three values */
    ASSERT_LT_U64(st.largest_free - (st.capacity - st.file_size), 1300 << 10);
    uint64_t cap = (tables + (2800 << 10) + fill + (256 << 10) + 65535) & ~65535ull;
    ASSERT_LT_U64(cap, fs);
    ASSERT_OK(brain_resize(b, cap));
    st = t_stats(b);
    ASSERT_EQ_U64(st.capacity, cap);
    ASSERT_LE_U64(st.file_size, cap);
    ASSERT_LE_U64(t_file_size(t_store(0)), cap);
    ASSERT_EQ_U64(st.names, 3);
    expect_checked(b, "x", 1400 << 10, 2);
    expect_checked(b, "big", 1400 << 10, 4);
    expect_checked(b, "fill", fill, 5);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(resize_shrink_too_small_efull)
{
    brain *b = store(0, 16 << 20);
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d", i);
        put_checked(b, name, 1 << 20, (uint64_t)i);
    }
    uint64_t used0 = t_used(b);
    ASSERT_ERR(brain_resize(b, 3 << 20), BRAIN_EFULL);
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.capacity, 16 << 20);
    ASSERT_EQ_U64(st.used, used0);
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d", i);
        expect_checked(b, name, 1 << 20, (uint64_t)i);
    }
    ASSERT_ERR(brain_resize(b, BRAIN_MIN_CAPACITY - 4096), BRAIN_EINVAL);
    ASSERT_ERR(brain_resize(b, BRAIN_MAX_CAPACITY + 4096), BRAIN_EINVAL);
    ASSERT_ERR(brain_resize(b, UINT64_MAX), BRAIN_EINVAL);
    ASSERT_ERR(brain_resize(b, 0), BRAIN_EINVAL);
    ASSERT_ERR(brain_resize(NULL, 4 << 20), BRAIN_EINVAL);
    ASSERT_EQ_U64(t_stats(b).capacity, 16 << 20);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(resize_shrink_blocked_by_views_ebusy)
{
    brain *b = store(0, 16 << 20);
    enum { N = 8 };
    brain_view views[N];
    memset(views, 0, sizeof views);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        put_checked(b, name, 1 << 20, (uint64_t)i);
        ASSERT_OK(brain_get(b, NULL, name, &views[i]));
    }
    /* keep the value that lies highest (8 MiB of blocks: it lies beyond
     * 7 MiB), live and pinned; delete the others and drop their views */
    int top = 0;
    for (int i = 1; i < N; i++)
        if ((uintptr_t)views[i].data > (uintptr_t)views[top].data)
            top = i;
    for (int i = 0; i < N; i++) {
        if (i == top)
            continue;
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        brain_view_release(b, &views[i]);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    /* 1 MiB of values fits in 3 MiB, but the pinned one would have to move */
    uint64_t used0 = t_used(b);
    ASSERT_ERR(brain_resize(b, 3 << 20), BRAIN_EBUSY);
    ASSERT_EQ_U64(t_stats(b).capacity, 16 << 20);
    ASSERT_EQ_U64(t_used(b), used0);
    ASSERT_VALUE(views[top].data, views[top].size, (uint64_t)top);
    brain_view_release(b, &views[top]);
    /* released: the shrink goes through and moves it */
    ASSERT_OK(brain_resize(b, 3 << 20));
    char topname[32];
    snprintf(topname, sizeof topname, "p%d", top);
    expect_checked(b, topname, 1 << 20, (uint64_t)top);
    ASSERT_OK(brain_resize(b, 16 << 20));
    /* a deleted value still viewed holds its block too */
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        if (i != top)
            put_checked(b, name, 1 << 20, (uint64_t)i);
        ASSERT_OK(brain_get(b, NULL, name, &views[i]));
    }
    for (int i = 1; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    ASSERT_ERR2(brain_resize(b, 3 << 20), BRAIN_EBUSY, BRAIN_EFULL);
    ASSERT_EQ_U64(t_stats(b).capacity, 16 << 20);
    for (int i = 0; i < N; i++)
        ASSERT_VALUE(views[i].data, views[i].size, (uint64_t)i);
    /* pinned by another process counts the same */
    pid_t pid;
    t_chan ready, done;
    t_chan_init(&ready);
    t_chan_init(&done);
    for (int i = 0; i < N; i++)
        brain_view_release(b, &views[i]);
    put_checked(b, "late", 1 << 20, 42); /* likely high in the arena */
    pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        brain_view v0 = {0}, v1 = {0};
        ASSERT_OK(brain_get(c, NULL, "p0", &v0));
        ASSERT_OK(brain_get(c, NULL, "late", &v1));
        t_chan_send(&ready, 'r');
        t_chan_recv(&done);
        ASSERT_VALUE(v0.data, v0.size, 0);
        ASSERT_VALUE(v1.data, v1.size, 42);
        brain_view_release(c, &v0);
        brain_view_release(c, &v1);
        ASSERT_OK(brain_close(c));
        t_child_exit(0);
    }
    ASSERT_EQ_INT(t_chan_recv_from(&ready, pid), 'r');
    int rc = brain_resize(b, BRAIN_MIN_CAPACITY + (1 << 20));
    ASSERT_MSG(rc == BRAIN_EBUSY || rc == BRAIN_EFULL || rc == 0,
               "resize with another process's views: %s", brain_errname(rc));
    t_chan_send(&done, 'd');
    t_wait_ok(pid);
    /* once released, the shrink goes through */
    ASSERT_OK(brain_resize(b, 4 << 20));
    ASSERT_LE_U64(t_file_size(t_store(0)), 4 << 20);
    expect_checked(b, "p0", 1 << 20, 0);
    expect_checked(b, "late", 1 << 20, 42);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST_TIMEOUT(growth_keeps_other_process_views_valid, 60)
{
    /* A process holds a view while another grows the file from almost
     * nothing to far bigger; the view stays mapped and intact. */
    brain *b = store(0, 512 << 20);
    put_checked(b, "held", 100 << 10, 4242);
    uint64_t size0 = (uint64_t)t_file_size(t_store(0));
    t_chan ready, grown;
    t_chan_init(&ready);
    t_chan_init(&grown);
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        brain_view v = {0};
        ASSERT_OK(brain_get(c, NULL, "held", &v));
        const void *addr = v.data;
        t_chan_send(&ready, 'r');
        for (;;) {
            char m = t_chan_recv(&grown);
            ASSERT(v.data == addr);
            ASSERT_VALUE(v.data, v.size, 4242);
            if (m == 'Z')
                break;
            /* new values are readable through this process too */
            brain_view w = {0};
            char name[32];
            snprintf(name, sizeof name, "grow%d", m - 'a');
            ASSERT_OK(brain_get(c, NULL, name, &w));
            ASSERT_VALUE(w.data, w.size, (uint64_t)(m - 'a'));
            brain_view_release(c, &w);
            t_chan_send(&ready, 'k');
        }
        brain_view_release(c, &v);
        ASSERT_OK(brain_close(c));
        t_child_exit(0);
    }
    ASSERT_EQ_INT(t_chan_recv_from(&ready, pid), 'r');
    /* the holder's view was taken; now delete the name too */
    ASSERT_OK(brain_delete(b, NULL, "held"));
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "grow%d", i);
        put_checked(b, name, 24 << 20, (uint64_t)i);
        t_chan_send(&grown, (char)('a' + i));
        ASSERT_EQ_INT(t_chan_recv_from(&ready, pid), 'k');
    }
    ASSERT_GE_U64((uint64_t)t_file_size(t_store(0)), size0 + (250 << 20));
    t_chan_send(&grown, 'Z');
    t_wait_ok(pid);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST_TIMEOUT(shrink_while_other_processes_read, 60)
{
    /* Shrinking moves values down while readers in other processes copy
     * and view them: every read is whole and right. */
    brain *b = store(0, 64 << 20);
    int64_t until = t_now_ms() + T_SCALE(2500, 2);
    enum { R = 2, N = 6 };
    pid_t kids[R];
    /* filler first, so the values land high in the arena */
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "fill%d", i);
        put_checked(b, name, 1 << 20, 5000u + (uint64_t)i);
    }
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d", i);
        put_checked(b, name, 512 << 10, (uint64_t)i);
    }
    for (int r = 0; r < R; r++) {
        kids[r] = t_fork();
        if (kids[r] == 0) {
            brain *c = t_open(0);
            unsigned char *buf = t_xmalloc(600 << 10);
            uint64_t reads = 0;
            while (t_now_ms() < until) {
                for (int i = 0; i < N; i++) {
                    char name[32];
                    snprintf(name, sizeof name, "v%d", i);
                    size_t n = 0;
                    if (r == 0) {
                        ASSERT_OK(brain_read(c, NULL, name, buf, 600 << 10, &n,
                                             NULL));
                        ASSERT_VALUE(buf, n, (uint64_t)i);
                    } else {
                        brain_view v = {0};
                        ASSERT_OK(brain_get(c, NULL, name, &v));
                        ASSERT_VALUE(v.data, v.size, (uint64_t)i);
                        brain_view_release(c, &v);
                    }
                    reads++;
                }
            }
            ASSERT_GT_U64(reads, 10);
            free(buf);
            ASSERT_OK(brain_close(c));
            t_child_exit(0);
        }
    }
    int shrinks = 0, busy = 0, round = 0;
    while (t_now_ms() < until) {
        /* free the low part and shrink: the values must move down */
        for (int i = 0; i < 40; i++) {
            char name[32];
            snprintf(name, sizeof name, "fill%d", i);
            int rc = brain_delete(b, NULL, name);
            ASSERT(rc == 0 || rc == BRAIN_ENOTFOUND);
        }
        /* the deleted blocks wait in limbo until the readers move on: the
         * shrink may be refused (EBUSY, or EFULL while limbo counts as
         * held) for a moment */
        int rc = -1;
        for (int tries = 0; tries < 50 && rc != 0; tries++) {
            rc = brain_resize(b, 8 << 20);
            if (rc == BRAIN_EBUSY || rc == BRAIN_EFULL) {
                busy++;
                ASSERT_OK(brain_put(b, NULL, "tick", "t", 1, NULL, NULL));
                t_sleep_ms(1);
            } else if (rc != 0) {
                FAIL("shrink: %s (%s)", brain_errname(rc), t_detail_copy());
            }
        }
        if (rc == 0)
            shrinks++;
        ASSERT_OK(brain_resize(b, 64 << 20));
        /* fill again, then move the values high by replacing them */
        for (int i = 0; i < 40; i++) {
            char name[32];
            snprintf(name, sizeof name, "fill%d", i);
            put_checked(b, name, 1 << 20, 5000u + (uint64_t)i);
        }
        for (int i = 0; i < N; i++) {
            char name[32];
            snprintf(name, sizeof name, "v%d", i);
            put_checked(b, name, 512 << 10, (uint64_t)i);
        }
        round++;
    }
    for (int r = 0; r < R; r++)
        t_wait_ok(kids[r]);
    t_log("%d rounds: %d shrinks, %d refused as busy", round, shrinks, busy);
    ASSERT_GT(shrinks, 0);
    t_check_store(b);
    t_destroy(b, 0);
}
