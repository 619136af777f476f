/*
 * test-recovery.c - a writer dies at a precise point, and the next process
 * repairs.  These tests reach into the library's internals (internal.h;
 * the test binary links the static library) to stop a writer exactly
 * where a SIGKILL could: holding the lock with batch_seq odd, with a block
 * allocated but not linked, with a free list half-edited, half-way through
 * growing the file.  The random-kill torture (test-torture.c) covers the
 * moments in between.
 */
#include "internal.h"
#include "test.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs FN in a child that then dies (_exit without unlocking). */
static void die_in_child(brain *b, void (*fn)(brain *))
{
    pid_t pid = t_fork();
    if (pid == 0) {
        fn(b);
        _exit(0); /* holding whatever fn took */
    }
    int st = t_wait_status(pid);
    ASSERT(WIFEXITED(st));
}

static void put_some(brain *b, int n)
{
    char name[32], val[600];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "n%d", i);
        t_vfill(val, sizeof val, (uint64_t)i + 1);
        ASSERT_OK(brain_put(b, NULL, name, val, sizeof val, NULL, NULL));
    }
}

static void expect_intact(brain *b, int n)
{
    char name[32], val[600];
    size_t size;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "n%d", i);
        ASSERT_OK(brain_read(b, NULL, name, val, sizeof val, &size, NULL));
        ASSERT_VALUE(val, size, (uint64_t)i + 1);
    }
}

static void lock_and_odd(brain *b)
{
    ASSERT_OK(brain__writer_lock(b));
    atomic_fetch_add(&b->h->batch_seq, 1); /* mid-batch */
}

TEST_TIMEOUT(dead_writer_mid_batch_does_not_stall_readers, 20)
{
    brain *b = t_create(0, 8 << 20);
    put_some(b, 20);
    die_in_child(b, lock_and_odd);
    ASSERT(atomic_load(&b->h->batch_seq) & 1);
    /* a snapshot read must not spin forever on the odd word */
    brain_key keys[2] = {{NULL, "n1"}, {NULL, "n2"}};
    brain_view views[2];
    int64_t t0 = t_now_ms();
    ASSERT_OK(brain_get_many(b, 2, keys, views, NULL));
    ASSERT_LT(t_now_ms() - t0, 5000);
    ASSERT_VALUE(views[0].data, views[0].size, 2);
    ASSERT_VALUE(views[1].data, views[1].size, 3);
    brain_view_release(b, &views[0]);
    brain_view_release(b, &views[1]);
    ASSERT_EQ_U64(atomic_load(&b->h->batch_seq) & 1, 0);
    brain_stats st = t_stats(b);
    ASSERT_GE_U64(st.recoveries, 1);
    expect_intact(b, 20);
    t_check_store(b);
    t_destroy(b, 0);
}

static void alloc_unlinked(brain *b)
{
    ASSERT_OK(brain__writer_lock(b));
    uint64_t blk;
    ASSERT_OK(brain__alloc_block(b, 100000, BS_USED, BK_ENTRY, 100000, 0, &blk));
    memset(b->rw + blk + BLOCK_HDR, 0xAB, 1000); /* a half-built entry */
}

TEST_TIMEOUT(dead_writer_with_unlinked_block_leaks_nothing, 20)
{
    brain *b = t_create(0, 8 << 20);
    put_some(b, 10);
    uint64_t used0 = t_used(b);
    die_in_child(b, alloc_unlinked);
    /* the next writer repairs; the orphan goes to limbo, then is freed */
    ASSERT_OK(brain_put(b, NULL, "after", "x", 1, NULL, NULL));
    ASSERT_OK(brain_delete(b, NULL, "after"));
    size_t reaped;
    ASSERT_OK(brain_reap(b, &reaped));
    ASSERT_EQ_U64(t_used(b), used0);
    expect_intact(b, 10);
    t_check_store(b);
    t_destroy(b, 0);
}

static void break_free_list(brain *b)
{
    ASSERT_OK(brain__writer_lock(b));
    /* take the first free block off its list and leave it there */
    for (unsigned fl = 0; fl < FL_COUNT; fl++)
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            uint64_t off = b->h->heads[fl][sl];
            if (off) {
                struct brain__block *blk = (struct brain__block *)(b->rw + off);
                brain__alloc_remove_free(b, off, bs_size(atomic_load(&blk->sizestate)));
                return;
            }
        }
}

TEST_TIMEOUT(dead_writer_mid_free_list_edit_is_repaired, 20)
{
    brain *b = t_create(0, 8 << 20);
    put_some(b, 30);
    for (int i = 0; i < 30; i += 3) { /* make holes */
        char name[32];
        snprintf(name, sizeof name, "n%d", i);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    die_in_child(b, break_free_list);
    /* check (which takes the lock, so repairs first) must be clean */
    t_check_store(b);
    char name[32], val[600];
    size_t size;
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof name, "n%d", i);
        int rc = brain_read(b, NULL, name, val, sizeof val, &size, NULL);
        if (i % 3 == 0)
            ASSERT_EQ_INT(rc, BRAIN_ENOTFOUND);
        else {
            ASSERT_OK(rc);
            ASSERT_VALUE(val, size, (uint64_t)i + 1);
        }
    }
    put_some(b, 40);
    expect_intact(b, 40);
    t_check_store(b);
    t_destroy(b, 0);
}

static void half_grow(brain *b)
{
    ASSERT_OK(brain__writer_lock(b));
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size), new_end = fs + (4u << 20);
    ASSERT_EQ_INT(brain__plat_reserve_space(b->fd, fs, new_end - fs), 0);
    struct brain__block *ns = (struct brain__block *)(b->rw + new_end - BLOCK_HDR);
    memset(ns, 0, sizeof *ns);
    atomic_store(&ns->sizestate, BLOCK_HDR | BS_SENTINEL);
    atomic_store(&h->file_size, new_end);
    /* dies before the old sentinel becomes free space */
}

TEST_TIMEOUT(dead_writer_mid_growth_is_repaired, 20)
{
    brain *b = t_create(0, 64 << 20);
    put_some(b, 10);
    uint64_t fs0 = t_stats(b).file_size;
    die_in_child(b, half_grow);
    t_check_store(b);
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.file_size, fs0 + (4u << 20));
    /* the new space is usable: a value bigger than what was free before */
    size_t big = 3u << 20;
    char *buf = t_xmalloc(big);
    t_vfill(buf, big, 77);
    ASSERT_OK(brain_put(b, NULL, "big", buf, big, NULL, NULL));
    free(buf);
    brain_view v;
    ASSERT_OK(brain_get(b, NULL, "big", &v));
    ASSERT_VALUE(v.data, v.size, 77);
    brain_view_release(b, &v);
    expect_intact(b, 10);
    t_check_store(b);
    t_destroy(b, 0);
}

static void hold_lane(brain *b)
{
    (void)brain__lane_enter(b); /* dies inside a read */
}

TEST_TIMEOUT(dead_reader_epoch_is_reaped, 20)
{
    brain *b = t_create(0, 8 << 20);
    put_some(b, 5);
    uint64_t used0 = t_used(b); /* (stats reap: measure before the death) */
    die_in_child(b, hold_lane);
    /* replaced values cannot be reused while the dead reader's epoch
     * stands; reaping releases them */
    char val[600];
    for (int i = 0; i < 50; i++) {
        t_vfill(val, sizeof val, 1000 + (uint64_t)i);
        ASSERT_OK(brain_put(b, NULL, "n0", val, sizeof val, NULL, NULL));
    }
    ASSERT_GT_U64(b->h->limbo_bytes, 0); /* (stats would reap first) */
    size_t reaped = 0;
    ASSERT_OK(brain_reap(b, &reaped));
    ASSERT_GE_U64(reaped, 1);
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.limbo, 0);
    ASSERT_EQ_U64(t_used(b), used0);
    t_check_store(b);
    t_destroy(b, 0);
}

static void lock_only(brain *b)
{
    ASSERT_OK(brain__writer_lock(b));
}

TEST_TIMEOUT(last_process_dies_holding_lock_next_opener_repairs, 20)
{
    brain *b = t_create(0, 8 << 20);
    put_some(b, 10);
    ASSERT_OK(brain_close(b));
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        lock_and_odd(c);
        _exit(0); /* the only process with the store open dies locked */
    }
    int ws = t_wait_status(pid); /* macOS's W* macros take an lvalue */
    ASSERT(WIFEXITED(ws));
    b = t_open(0); /* alone: resets the lock, repairs */
    ASSERT_EQ_U64(atomic_load(&b->h->batch_seq) & 1, 0);
    ASSERT_EQ_U64(b->h->dirty, 0);
    expect_intact(b, 10);
    ASSERT_OK(brain_put(b, NULL, "n3", "x", 1, NULL, NULL));
    t_check_store(b);
    t_destroy(b, 0);
    (void)lock_only;
}

TEST_TIMEOUT(store_on_disk_with_stale_lock_word_opens, 20)
{
    /* as after a reboot: the lock word names a thread that no longer
     * exists and nobody has the file open */
    const char *path = t_path("disk-store");
    brain_config cfg = {.capacity = 4 << 20};
    brain *b;
    ASSERT_OK(brain_open(path, BRAIN_CREATE | BRAIN_EXCL, &cfg, &b));
    put_some(b, 5);
    ASSERT_OK(brain_close(b));
    /* glibc keeps the owner TID in the mutex's first int-sized words;
     * write a plausible dead owner into the whole lock */
    struct brain__header probe;
    int lock_off = (int)offsetof(struct brain__header, lock);
    unsigned char junk[sizeof probe.lock];
    memset(junk, 0, sizeof junk);
    int fake_tid = 0x3fffff00;
    memcpy(junk, &fake_tid, sizeof fake_tid);
    memcpy(junk + 8, &fake_tid, sizeof fake_tid);
    t_patch(path, lock_off, junk, sizeof junk);
    int64_t t0 = t_now_ms();
    ASSERT_OK(brain_open(path, 0, NULL, &b));
    ASSERT_OK(brain_put(b, NULL, "after-reboot", "y", 1, NULL, NULL));
    ASSERT_LT(t_now_ms() - t0, 5000);
    expect_intact(b, 5);
    t_check_store(b);
    ASSERT_OK(brain_close(b));
    ASSERT_OK(brain_destroy(path));
}

TEST_TIMEOUT(dead_reserver_slot_reused_does_not_adopt_reservation, 20)
{
    /* a reservation belongs to (slot, owner); a new process in the same
     * slot must not keep the dead one's reservation alive */
    brain *b = t_create(0, 16 << 20);
    uint64_t used0 = t_used(b);
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        brain_reservation *res;
        void *data;
        ASSERT_OK(brain_reserve(c, NULL, "lost", 1 << 20, NULL, &res, &data));
        _exit(0);
    }
    int ws = t_wait_status(pid); /* macOS's W* macros take an lvalue */
    ASSERT(WIFEXITED(ws));
    /* new processes attach (taking freed slots) before anyone reaps */
    brain *c1 = t_open(0), *c2 = t_open(0);
    ASSERT_OK(brain_reap(b, NULL));
    ASSERT_EQ_U64(t_used(b), used0);
    t_check_store(b);
    ASSERT_OK(brain_close(c1));
    ASSERT_OK(brain_close(c2));
    t_destroy(b, 0);
}
