/*
 * test-salvage.c - a store file cut short (truncate): brain_salvage and
 * brain_repair keep every value whose block lies wholly in what is left,
 * byte for byte, name what was lost, restore the file's size, and leave a
 * store that passes brain_check and takes new values; a file cut inside its
 * header, or one that other processes still have open, is refused with the
 * file untouched.  And the writers' paths that can cheaply see a file cut
 * while mapped (growth, resize, check, repair) refuse with BRAIN_ETRUNCATED
 * instead of taking SIGBUS (issue 18, findings 5 and 12).
 */
#include "internal.h"
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define NVALS 24

static size_t val_size(int i) { return 3000 + (size_t)i * 1700; }

static void val_bytes(int i, unsigned char *buf) { t_vfill(buf, val_size(i), 0x5a1a6e00u + (uint64_t)i); }

/* The arena's blocks in file order (through the library's own view). */
struct layout {
    uint64_t off[4 * NVALS + 2100], size[4 * NVALS + 2100];
    unsigned state[4 * NVALS + 2100], kind[4 * NVALS + 2100];
    size_t n;
    uint64_t index_block, file_size;
};

static void read_layout(int n, struct layout *l)
{
    brain *b = t_open(n);
    memset(l, 0, sizeof *l);
    l->file_size = atomic_load(&b->h->file_size);
    l->index_block = atomic_load(&b->h->index) & ~63ull;
    for (uint64_t off = b->h->arena_off;;) {
        struct brain__block *blk = (struct brain__block *)(b->rw + off);
        uint64_t ss = atomic_load(&blk->sizestate);
        if (bs_state(ss) == BS_SENTINEL)
            break;
        ASSERT_LT(l->n, sizeof l->off / sizeof l->off[0]);
        l->off[l->n] = off;
        l->size[l->n] = bs_size(ss);
        l->state[l->n] = bs_state(ss);
        l->kind[l->n] = blk->kind;
        l->n++;
        off += bs_size(ss);
    }
    ASSERT_OK(brain_close(b));
}

/* Block offset of the entry for NAME in namespace "default". */
static uint64_t block_of(int n, const char *name)
{
    brain *b = t_open(n);
    uint64_t hash = brain__key_hash(b->h->hash_seed, "default", 7, name, strlen(name)), blk = 0;
    int corrupt = 0;
    ASSERT_NOT_NULL(brain__index_find(b, hash, "default", 7, name, strlen(name), &blk, &corrupt));
    ASSERT_OK(brain_close(b));
    return blk;
}

static void fill_store(int n)
{
    brain *b = t_create(n, 64 << 20);
    unsigned char *buf = t_xmalloc(val_size(NVALS));
    for (int i = 0; i < NVALS; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%02d", i);
        val_bytes(i, buf);
        ASSERT_OK(brain_put(b, NULL, name, buf, val_size(i), NULL, NULL));
    }
    free(buf);
    ASSERT_OK(brain_close(b));
}

struct lost_names {
    char names[8][64];
    int n;
};

static void on_lost(void *ctx, const char *ns, const char *name)
{
    struct lost_names *l = ctx;
    ASSERT_LT(l->n, 8);
    snprintf(l->names[l->n++], sizeof l->names[0], "%s/%s", ns, name);
}

/* After a salvage: values v00..v(KEPT-1) are there byte for byte, the rest
 * are gone, brain_check passes, the file has its size again, and new
 * values (one needing growth) go in and come back. */
static void expect_salvaged_names(int n, int kept, uint64_t header_size, uint64_t names)
{
    ASSERT_EQ_U64((uint64_t)t_file_size(t_store(n)), header_size);
    brain *b = t_open(n);
    t_check_store(b);
    unsigned char *want = t_xmalloc(val_size(NVALS)), *got = t_xmalloc(val_size(NVALS));
    for (int i = 0; i < NVALS; i++) {
        char name[16];
        size_t sz = 0;
        snprintf(name, sizeof name, "v%02d", i);
        if (i < kept) {
            val_bytes(i, want);
            ASSERT_OK(brain_read(b, NULL, name, got, val_size(NVALS), &sz, NULL));
            ASSERT_EQ_U64(sz, val_size(i));
            ASSERT_MEM_EQ(got, want, sz);
        } else {
            ASSERT_ERR(brain_read(b, NULL, name, got, val_size(NVALS), &sz, NULL), BRAIN_ENOTFOUND);
        }
    }
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.names, names);
    ASSERT_OK(brain_put(b, NULL, "after", "new value", 9, NULL, NULL));
    size_t big = 12u << 20; /* more than the file had: the store grows */
    unsigned char *bv = t_xmalloc(big);
    t_vfill(bv, big, 77);
    ASSERT_OK(brain_put(b, NULL, "big-after", bv, big, NULL, NULL));
    size_t sz = 0;
    ASSERT_OK(brain_read(b, NULL, "after", got, 64, &sz, NULL));
    ASSERT_MEM_EQ(got, "new value", 9);
    brain_view v;
    ASSERT_OK(brain_get(b, NULL, "big-after", &v));
    ASSERT_EQ_U64(v.size, big);
    ASSERT_MEM_EQ(v.data, bv, big);
    brain_view_release(b, &v);
    t_check_store(b);
    ASSERT_OK(brain_close(b));
    free(bv);
    free(want);
    free(got);
}

static void expect_salvaged(int n, int kept, uint64_t header_size)
{
    expect_salvaged_names(n, kept, header_size, (uint64_t)kept);
}

static void expect_truncated_refused(int n)
{
    brain *b = NULL;
    ASSERT_ERR(brain_open(t_store(n), 0, NULL, &b), BRAIN_ETRUNCATED);
    ASSERT_STR_CONTAINS(t_detail_copy(), "check --repair");
}

TEST(salvage_cut_inside_a_value_keeps_whole_values_and_names_the_cut_one)
{
    fill_store(0);
    struct layout l;
    read_layout(0, &l);
    uint64_t blk = block_of(0, "v10");
    uint64_t cut = blk + BLOCK_HDR + 200 + 1000; /* its entry readable, its value cut */
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)cut), 0);
    expect_truncated_refused(0);
    struct lost_names lost = {0};
    brain_salvage_info info;
    ASSERT_OK(brain_salvage(t_store(0), on_lost, &lost, &info));
    ASSERT_EQ_INT(info.truncated, 1);
    ASSERT_EQ_U64(info.header_size, l.file_size);
    ASSERT_EQ_U64(info.found_size, cut);
    ASSERT_EQ_U64(info.kept, 10);
    ASSERT_EQ_U64(info.lost, NVALS - 10);
    ASSERT_EQ_U64(info.lost_unnamed, NVALS - 11);
    ASSERT_EQ_INT(lost.n, 1);
    ASSERT_STR_EQ(lost.names[0], "default/v10");
    expect_salvaged(0, 10, l.file_size);
}

TEST(salvage_cut_on_a_block_boundary)
{
    fill_store(0);
    struct layout l;
    read_layout(0, &l);
    uint64_t cut = block_of(0, "v07");
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)cut), 0);
    struct lost_names lost = {0};
    brain_salvage_info info;
    ASSERT_OK(brain_salvage(t_store_name(0), on_lost, &lost, &info));
    ASSERT_EQ_U64(info.kept, 7);
    ASSERT_EQ_U64(info.lost, NVALS - 7);
    ASSERT_EQ_U64(info.lost_unnamed, NVALS - 7); /* every lost entry lay past the cut */
    ASSERT_EQ_INT(lost.n, 0);
    expect_salvaged(0, 7, l.file_size);
}

TEST(salvage_cut_in_the_free_tail_loses_nothing)
{
    fill_store(0);
    struct layout l;
    read_layout(0, &l);
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)(l.file_size - 4096 - 17)), 0);
    brain_salvage_info info;
    ASSERT_OK(brain_salvage(t_store(0), NULL, NULL, &info));
    ASSERT_EQ_U64(info.kept, NVALS);
    ASSERT_EQ_U64(info.lost, 0);
    expect_salvaged(0, NVALS, l.file_size);
}

/* Enough names that the index moved past the first values; more values
 * after it; the cut goes through the index: it is rebuilt from the entry
 * blocks before the cut. */
TEST(salvage_cut_inside_the_index_rebuilds_it)
{
    brain *b = t_create(0, 64 << 20);
    unsigned char *buf = t_xmalloc(val_size(NVALS));
    for (int i = 0; i < NVALS; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%02d", i);
        val_bytes(i, buf);
        ASSERT_OK(brain_put(b, NULL, name, buf, val_size(i), NULL, NULL));
    }
    /* small names until the index grows into a block of its own after them */
    uint64_t first_index = atomic_load(&b->h->index) & ~63ull;
    int small = 0;
    while ((atomic_load(&b->h->index) & ~63ull) == first_index) {
        char name[32];
        snprintf(name, sizeof name, "s%05d", small);
        ASSERT_OK(brain_put(b, "small", name, name, strlen(name), NULL, NULL));
        small++;
        ASSERT_LT(small, 100000);
    }
    uint64_t index_block = atomic_load(&b->h->index) & ~63ull;
    uint64_t index_size = bs_size(atomic_load(&((struct brain__block *)(b->rw + index_block))->sizestate));
    /* values after the index */
    ASSERT_OK(brain_put(b, NULL, "late", buf, 4000, NULL, NULL));
    uint64_t late = 0, hash = brain__key_hash(b->h->hash_seed, "default", 7, "late", 4);
    int corrupt = 0;
    ASSERT_NOT_NULL(brain__index_find(b, hash, "default", 7, "late", 4, &late, &corrupt));
    ASSERT_GT_U64(late, index_block);
    uint64_t fs = atomic_load(&b->h->file_size);
    ASSERT_OK(brain_close(b));
    free(buf);
    /* every small name and v* lies before the index? */
    struct layout l;
    read_layout(0, &l);
    size_t before = 0;
    for (size_t k = 0; k < l.n && l.off[k] < index_block; k++)
        before += l.state[k] == BS_USED && l.kind[k] == BK_ENTRY;
    ASSERT_EQ_U64(before, (uint64_t)(NVALS + small));

    uint64_t cut = index_block + index_size / 2;
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)cut), 0);
    brain_salvage_info info;
    ASSERT_OK(brain_salvage(t_store(0), NULL, NULL, &info));
    ASSERT_EQ_U64(info.kept, (uint64_t)(NVALS + small));
    ASSERT_EQ_U64(info.lost, 1); /* "late": counted from the header's name count */
    b = t_open(0);
    for (int i = 0; i < small; i++) {
        char name[32], got[32];
        size_t sz = 0;
        snprintf(name, sizeof name, "s%05d", i);
        ASSERT_OK(brain_read(b, "small", name, got, sizeof got, &sz, NULL));
        ASSERT_EQ_U64(sz, strlen(name));
        ASSERT_MEM_EQ(got, name, sz);
    }
    ASSERT_OK(brain_close(b));
    expect_salvaged_names(0, NVALS, fs, (uint64_t)(NVALS + small));
}

TEST(salvage_cut_inside_the_process_table_keeps_nothing_but_works)
{
    fill_store(0);
    struct layout l;
    read_layout(0, &l);
    ASSERT_EQ_INT(truncate(t_store(0), HEADER_SIZE + 3 * SLOT_SIZE + 100), 0);
    brain_salvage_info info;
    ASSERT_OK(brain_salvage(t_store(0), NULL, NULL, &info));
    ASSERT_EQ_U64(info.kept, 0);
    ASSERT_EQ_U64(info.lost, NVALS);
    expect_salvaged(0, 0, l.file_size);
}

TEST(salvage_cut_inside_the_header_is_refused_untouched)
{
    fill_store(0);
    ASSERT_EQ_INT(truncate(t_store(0), HEADER_SIZE - 1000), 0);
    brain_salvage_info info;
    ASSERT_ERR(brain_salvage(t_store(0), NULL, NULL, &info), BRAIN_ETRUNCATED);
    ASSERT_STR_CONTAINS(t_detail_copy(), "inside its header");
    ASSERT_STR_CONTAINS(t_detail_copy(), "snapshot");
    ASSERT_EQ_INT(t_file_size(t_store(0)), HEADER_SIZE - 1000);
    brain *b = NULL;
    ASSERT_ERR(brain_open(t_store(0), 0, NULL, &b), BRAIN_ETRUNCATED);
    ASSERT_STR_CONTAINS(t_detail_copy(), "nothing in it can be salvaged");
}

TEST(salvage_of_a_whole_store_changes_nothing)
{
    fill_store(0);
    struct layout l;
    read_layout(0, &l);
    brain_salvage_info info;
    ASSERT_OK(brain_salvage(t_store(0), NULL, NULL, &info));
    ASSERT_EQ_INT(info.truncated, 0);
    ASSERT_EQ_U64(info.kept, NVALS);
    ASSERT_EQ_U64((uint64_t)t_file_size(t_store(0)), l.file_size);
    ASSERT_ERR(brain_salvage(t_path("nope"), NULL, NULL, &info), BRAIN_ENOSTORE);
}

/* Another process has the store open: nothing is changed; once it is
 * gone the salvage goes through. */
TEST(salvage_refused_while_another_process_has_it_open)
{
    fill_store(0);
    struct layout l;
    read_layout(0, &l);
    t_chan ready, go;
    t_chan_init(&ready);
    t_chan_init(&go);
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *b = t_open(0);
        t_chan_send(&ready, 'r');
        t_chan_recv(&go);
        _exit(0); /* without touching the cut-off part */
        (void)b;
    }
    t_chan_recv_from(&ready, pid);
    uint64_t cut = block_of(0, "v05");
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)cut), 0);
    brain_salvage_info info;
    ASSERT_ERR(brain_salvage(t_store(0), NULL, NULL, &info), BRAIN_ETRUNCATED);
    ASSERT_STR_CONTAINS(t_detail_copy(), "other processes still have it open");
    ASSERT_EQ_U64((uint64_t)t_file_size(t_store(0)), cut);
    t_chan_send(&go, 'g');
    t_wait_ok(pid);
    ASSERT_OK(brain_salvage(t_store(0), NULL, NULL, &info));
    ASSERT_EQ_U64(info.kept, 5);
    expect_salvaged(0, 5, l.file_size);
}

/* brain_repair on a handle whose file was cut under it, in the only
 * process that has the store open: salvaged. */
TEST(repair_of_an_open_handle_salvages_a_cut_file)
{
    fill_store(0);
    struct layout l;
    read_layout(0, &l);
    uint64_t cut = block_of(0, "v12") + 100;
    brain *b = t_open(0);
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)cut), 0);
    ASSERT_OK(brain_repair(b));
    ASSERT_OK(brain_close(b));
    expect_salvaged(0, 12, l.file_size);
}

/* Finding 5: the paths that hold the writers' lock and would walk or grow
 * the arena see the cut and refuse (no SIGBUS); nothing is changed. */
TEST(writers_paths_refuse_a_file_cut_under_them)
{
    brain *b = t_create(0, 64 << 20);
    ASSERT_OK(brain_put(b, NULL, "a", "alpha", 5, NULL, NULL));
    uint64_t fs = atomic_load(&b->h->file_size);
    /* cut inside the free tail: the used blocks and the free block's
     * header stay, the sentinel goes */
    uint64_t cut = fs - 8192;
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)cut), 0);
    /* a value larger than every free block: the store must grow */
    size_t big = 8u << 20;
    void *bv = t_xmalloc(big);
    memset(bv, 7, big);
    ASSERT_ERR(brain_put(b, NULL, "big", bv, big, NULL, NULL), BRAIN_ETRUNCATED);
    ASSERT_STR_CONTAINS(t_detail_copy(), "check --repair");
    ASSERT_EQ_U64((uint64_t)t_file_size(t_store(0)), cut); /* not grown back over the hole */
    ASSERT_ERR(brain_resize(b, 32 << 20), BRAIN_ETRUNCATED);
    ASSERT_ERR(brain_resize(b, 128 << 20), BRAIN_ETRUNCATED);
    ASSERT_ERR(brain_check(b, NULL, NULL), BRAIN_ETRUNCATED);
    ASSERT_STR_CONTAINS(t_detail_copy(), "truncated while open");
    /* a small value still fits below the cut: the hot path is untouched */
    char got[8];
    size_t sz = 0;
    ASSERT_OK(brain_read(b, NULL, "a", got, sizeof got, &sz, NULL));
    ASSERT_MEM_EQ(got, "alpha", 5);
    /* and repair, alone, salvages: everything was below the cut */
    ASSERT_OK(brain_repair(b));
    ASSERT_EQ_U64((uint64_t)t_file_size(t_store(0)), fs);
    ASSERT_OK(brain_put(b, NULL, "big", bv, big, NULL, NULL));
    t_check_store(b);
    free(bv);
    ASSERT_OK(brain_close(b));
}

/* brain_check reports the cut through its callback too. */
static void count_report(void *ctx, const char *msg)
{
    (void)msg;
    ++*(int *)ctx;
}

TEST(check_of_a_cut_file_reports_it)
{
    brain *b = t_create(0, 64 << 20);
    ASSERT_OK(brain_put(b, NULL, "a", "alpha", 5, NULL, NULL));
    uint64_t fs = atomic_load(&b->h->file_size);
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)(fs - 4096)), 0);
    int reports = 0;
    ASSERT_ERR(brain_check(b, count_report, &reports), BRAIN_ETRUNCATED);
    ASSERT_EQ_INT(reports, 1);
    ASSERT_OK(brain_close(b));
}

/* Damage below the cut is not truncation: refused, the file as it was. */
TEST(salvage_of_a_file_damaged_below_the_cut_is_refused_untouched)
{
    fill_store(0);
    uint64_t bad = block_of(0, "v03"), cut = block_of(0, "v10") + 500;
    uint64_t zero = 0;
    t_patch(t_store(0), (off_t)bad, &zero, sizeof zero); /* size 0, state 0 */
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)cut), 0);
    int fd = open(t_store(0), O_RDONLY);
    ASSERT_GE(fd, 0);
    unsigned char *before = t_xmalloc(cut), *after = t_xmalloc(cut);
    ASSERT_EQ_INT(pread(fd, before, cut, 0), (long long)cut);
    brain_salvage_info info;
    ASSERT_ERR(brain_salvage(t_store(0), NULL, NULL, &info), BRAIN_ECORRUPT);
    ASSERT_STR_CONTAINS(t_detail_copy(), "damaged as well as truncated");
    ASSERT_EQ_U64((uint64_t)t_file_size(t_store(0)), cut);
    ASSERT_EQ_INT(pread(fd, after, cut, 0), (long long)cut);
    /* the header's lock word may be reset by the attach; the rest is as it was */
    size_t lock_at = offsetof(struct brain__header, lock);
    ASSERT_MEM_EQ(before + HEADER_SIZE, after + HEADER_SIZE, cut - HEADER_SIZE);
    ASSERT_MEM_EQ(before, after, lock_at);
    close(fd);
    free(before);
    free(after);
}

/* A fork child inherits the handle (and, on Linux, its attach lock): it
 * still counts as another process that has the store open. */
TEST(repair_refuses_to_salvage_while_a_fork_child_has_the_store)
{
    fill_store(0);
    struct layout l;
    read_layout(0, &l);
    brain *b = t_open(0);
    t_chan ready, go;
    t_chan_init(&ready);
    t_chan_init(&go);
    pid_t pid = t_fork();
    if (pid == 0) {
        size_t sz = 0;
        char got[8];
        brain_read(b, NULL, "v00", got, sizeof got, &sz, NULL); /* attached: has its slot */
        t_chan_send(&ready, 'r');
        t_chan_recv(&go);
        _exit(0);
    }
    t_chan_recv_from(&ready, pid);
    uint64_t cut = block_of(0, "v08") + 64;
    ASSERT_EQ_INT(truncate(t_store(0), (off_t)cut), 0);
    ASSERT_ERR(brain_repair(b), BRAIN_ETRUNCATED);
    ASSERT_STR_CONTAINS(t_detail_copy(), "other processes still have it open");
    ASSERT_EQ_U64((uint64_t)t_file_size(t_store(0)), cut);
    t_chan_send(&go, 'g');
    t_wait_ok(pid);
    ASSERT_OK(brain_repair(b));
    ASSERT_OK(brain_close(b));
    expect_salvaged(0, 8, l.file_size);
}
