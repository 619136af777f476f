/*
 * test-offsets.c - an offset read from the file and corrupted, one test per
 * structure that holds one: a free-list link, a free-list head, a free
 * block's size, the limbo list, the sentinel's prev_size tag (read when the
 * store grows and when it shrinks), an index word, the index header word
 * and an entry's value offset and size.
 *
 * Each test writes a wild value where a dead writer or a bit flip could
 * leave one (0xffffffffffffffc0 is aligned and wraps around when a length
 * is added, the case a check of the form off + len <= size lets through),
 * then runs the public call that follows that offset.  It must end in a
 * clean result (the value, or an error code), never a crash, and
 * brain__refused_offsets must have grown: the checked accessor
 * (brain__ptr, brain__block_at in internal.h) refused the offset, not luck.
 */
#include "internal.h"
#include "test.h"

#include <stdio.h>

#define WILD 0xffffffffffffffc0ull

static void put_n(brain *b, int from, int to, size_t size)
{
    char name[32], val[4096];
    ASSERT(size <= sizeof val);
    for (int i = from; i < to; i++) {
        snprintf(name, sizeof name, "v%d", i);
        t_vfill(val, size, (uint64_t)i + 1);
        ASSERT_OK(brain_put(b, NULL, name, val, size, NULL, NULL));
    }
}

static void expect_n(brain *b, int from, int to)
{
    char name[32], val[4096];
    size_t size;
    for (int i = from; i < to; i++) {
        snprintf(name, sizeof name, "v%d", i);
        ASSERT_OK(brain_read(b, NULL, name, val, sizeof val, &size, NULL));
        ASSERT_VALUE(val, size, (uint64_t)i + 1);
    }
}

/* A store with free blocks of one size class on the free lists (every
 * other of 40 values deleted), the survivors to check afterwards. */
static brain *store_with_holes(void)
{
    brain *b = t_create(0, 16 << 20);
    put_n(b, 0, 40, 1000);
    for (int i = 0; i < 40; i += 2) {
        char name[32];
        snprintf(name, sizeof name, "v%d", i);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    return b;
}

static void expect_odd_intact(brain *b)
{
    for (int i = 1; i < 40; i += 2)
        expect_n(b, i, i + 1);
}

TEST(offset_free_list_links_wild_refused)
{
    brain *b = store_with_holes();
    int n = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++)
        for (unsigned sl = 0; sl < SL_COUNT; sl++)
            for (uint64_t off = b->h->heads[fl][sl]; off;) {
                struct brain__block *blk = (struct brain__block *)(b->rw + off);
                uint64_t next = blk->next;
                blk->next = WILD;
                blk->prev = blk->prev ? WILD : 0;
                n++;
                off = next;
            }
    ASSERT_GT(n, 0);
    uint64_t refused = brain__refused_offsets;
    put_n(b, 100, 140, 1000); /* reuses the free blocks: follows their links */
    ASSERT_GT_U64(brain__refused_offsets, refused);
    expect_n(b, 100, 140);
    expect_odd_intact(b);
    t_check_store(b); /* the writer rebuilt the free lists before unlocking */
    t_destroy(b, 0);
}

TEST(offset_free_list_head_wild_refused)
{
    brain *b = store_with_holes();
    int n = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++)
        for (unsigned sl = 0; sl < SL_COUNT; sl++)
            if (b->h->heads[fl][sl]) {
                b->h->heads[fl][sl] = WILD;
                n++;
            }
    ASSERT_GT(n, 0);
    uint64_t refused = brain__refused_offsets;
    put_n(b, 100, 120, 1000);
    ASSERT_GT_U64(brain__refused_offsets, refused);
    expect_n(b, 100, 120);
    expect_odd_intact(b);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(offset_free_block_size_wild_refused)
{
    brain *b = store_with_holes();
    int n = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++)
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            uint64_t off = b->h->heads[fl][sl];
            if (off) { /* a free block that claims to reach past the file */
                struct brain__block *blk = (struct brain__block *)(b->rw + off);
                atomic_store(&blk->sizestate, WILD | BS_FREE);
                n++;
            }
        }
    ASSERT_GT(n, 0);
    uint64_t refused = brain__refused_offsets;
    char val[1000];
    t_vfill(val, sizeof val, 7);
    int rc = brain_put(b, NULL, "after", val, sizeof val, NULL, NULL);
    ASSERT_GT_U64(brain__refused_offsets, refused);
    ASSERT_MSG(rc == 0 || rc == BRAIN_ECORRUPT || rc == BRAIN_EFULL, "put gave %d", rc);
    expect_odd_intact(b);
    /* the block chain itself is damaged: check says so, it does not crash */
    ASSERT_ERR(brain_check(b, NULL, NULL), BRAIN_ECORRUPT);
    t_destroy(b, 0);
}

TEST(offset_limbo_link_wild_refused)
{
    brain *b = t_create(0, 16 << 20);
    put_n(b, 0, 4, 1000);
    brain_view v;
    ASSERT_OK(brain_get(b, NULL, "v0", &v)); /* pins v0: its block stays in limbo */
    put_n(b, 0, 1, 1000);                    /* replaces it */
    ASSERT_NE_U64(b->h->limbo_head, 0);
    struct brain__block *blk = (struct brain__block *)(b->rw + b->h->limbo_head);
    blk->next = WILD;
    brain_view_release(b, &v);
    uint64_t refused = brain__refused_offsets;
    size_t reaped;
    ASSERT_OK(brain_reap(b, &reaped)); /* walks the limbo list */
    ASSERT_GT_U64(brain__refused_offsets, refused);
    expect_n(b, 0, 4);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(offset_sentinel_prev_size_wild_refused)
{
    brain *b = t_create(0, 64 << 20);
    put_n(b, 0, 4, 1000);
    uint64_t fs = atomic_load(&b->h->file_size);
    struct brain__block *sent = (struct brain__block *)(b->rw + fs - BLOCK_HDR);
    sent->prev_size = WILD; /* sent - WILD wraps around */
    uint64_t refused = brain__refused_offsets;
    /* larger than the file: the store grows, which reads the tag */
    size_t big = (size_t)fs * 2;
    void *val = t_xmalloc(big);
    t_vfill(val, big, 99);
    ASSERT_OK(brain_put(b, NULL, "big", val, big, NULL, NULL));
    ASSERT_GT_U64(brain__refused_offsets, refused);
    size_t size;
    void *back = t_xmalloc(big);
    ASSERT_OK(brain_read(b, NULL, "big", back, big, &size, NULL));
    ASSERT_VALUE(back, size, 99);
    free(back);
    free(val);
    expect_n(b, 0, 4);
    t_destroy(b, 0);
}

TEST(offset_sentinel_prev_size_wild_refused_by_shrink)
{
    brain *b = t_create(0, 64 << 20);
    put_n(b, 0, 4, 1000);
    size_t big = 8u << 20;
    void *val = t_xmalloc(big);
    t_vfill(val, big, 5);
    ASSERT_OK(brain_put(b, NULL, "big", val, big, NULL, NULL)); /* the file grows */
    free(val);
    ASSERT_OK(brain_delete(b, NULL, "big"));
    size_t reaped;
    ASSERT_OK(brain_reap(b, &reaped)); /* its block leaves limbo now, not during the resize */
    uint64_t fs = atomic_load(&b->h->file_size);
    ASSERT_GT_U64(fs, 4u << 20);
    struct brain__block *sent = (struct brain__block *)(b->rw + fs - BLOCK_HDR);
    uint64_t tag = sent->prev_size;
    sent->prev_size = WILD;
    uint64_t refused = brain__refused_offsets;
    /* shrinking below the file's end finds the last block from the tag */
    ASSERT_ERR(brain_resize(b, 2u << 20), BRAIN_ECORRUPT);
    ASSERT_GT_U64(brain__refused_offsets, refused);
    sent->prev_size = tag;
    expect_n(b, 0, 4);
    ASSERT_OK(brain_resize(b, 2u << 20)); /* the tag mended, the shrink goes through */
    expect_n(b, 0, 4);
    t_check_store(b);
    t_destroy(b, 0);
}

/* The index word of name v<i>, under the lock. */
static _Atomic uint64_t *word_of(brain *b, int i)
{
    char name[32];
    snprintf(name, sizeof name, "v%d", i);
    uint64_t hash = brain__key_hash(b->h->hash_seed, "default", 7, name, strlen(name));
    int existing = 0;
    ASSERT_OK(brain__writer_lock(b));
    uint64_t *slot = brain__index_slot_for(b, hash, "default", 7, name, strlen(name), &existing);
    brain__writer_unlock(b);
    ASSERT_NOT_NULL(slot);
    ASSERT(existing);
    return (_Atomic uint64_t *)slot;
}

TEST(offset_index_word_wild_refused)
{
    brain *b = t_create(0, 16 << 20);
    put_n(b, 0, 8, 1000);
    _Atomic uint64_t *w = word_of(b, 3);
    uint64_t hash = brain__entry_at(b, brain__idx_block(atomic_load(w)))->hash;
    /* the largest block offset a word can hold: far past the file */
    atomic_store(w, brain__idx_word(hash, IDX_OFF_MASK << 6));
    uint64_t refused = brain__refused_offsets;
    char val[1000];
    size_t size;
    ASSERT_ERR(brain_read(b, NULL, "v3", val, sizeof val, &size, NULL), BRAIN_ECORRUPT);
    ASSERT_GT_U64(brain__refused_offsets, refused);
    expect_n(b, 0, 3);
    expect_n(b, 4, 8);
    ASSERT_ERR(brain_check(b, NULL, NULL), BRAIN_ECORRUPT);
    t_destroy(b, 0);
}

/* The entry blocks a walk visits, in the order it visits them. */
struct walk_seen {
    uint64_t *offs;
    size_t n, cap;
};

static int walk_note(brain *b, _Atomic uint64_t *slot, const struct brain__entry *e, void *ctx)
{
    (void)slot;
    struct walk_seen *w = ctx;
    if (w->n == w->cap) {
        w->offs = realloc(w->offs, (w->cap = w->cap * 2 + 64) * sizeof *w->offs);
        ASSERT_NOT_NULL(w->offs);
    }
    w->offs[w->n++] = (uint64_t)((const uint8_t *)e - b->rw) - BLOCK_HDR;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* brain__index_foreach_by_address visits what the slot-order walk
 * visits, in increasing address order; BITMAP: whether the names are
 * many enough for the file's size that it reads a bitmap of the file
 * rather than sorting offsets (the rule it applies); returns how many. */
static size_t check_walk_by_address(brain *b, int bitmap)
{
    uint64_t nslots = 0, live = b->h->index_count;
    ASSERT_NOT_NULL(brain__index_table(b, atomic_load(&b->h->index), &nslots));
    uint64_t cap = (live < nslots ? live : nslots) + 64;
    ASSERT_EQ_INT(atomic_load(&b->h->file_size) / 512 <= 16 * cap, bitmap);
    struct walk_seen slots = {0}, addr = {0};
    ASSERT_OK(brain__index_foreach(b, walk_note, &slots));
    ASSERT_OK(brain__index_foreach_by_address(b, walk_note, &addr));
    ASSERT_EQ_U64(addr.n, slots.n);
    qsort(slots.offs, slots.n, sizeof *slots.offs, cmp_u64);
    for (size_t i = 0; i < addr.n; i++) {
        ASSERT_MSG(addr.offs[i] == slots.offs[i], "visit %zu: block %llu, expected %llu", i,
                   (unsigned long long)addr.offs[i], (unsigned long long)slots.offs[i]);
        ASSERT(i == 0 || addr.offs[i] > addr.offs[i - 1]);
    }
    free(slots.offs);
    free(addr.offs);
    return addr.n;
}

TEST(index_walk_by_address_bitmap_and_sorted)
{
    /* many names for the file: the bitmap, with tombstones in the table */
    brain *b = t_create(0, 64 << 20);
    int n = T_SCALE(20000, 4);
    put_n(b, 0, n, 8);
    for (int i = 0; i < n; i += 7) {
        char name[32];
        snprintf(name, sizeof name, "v%d", i);
        ASSERT_OK(brain_delete(b, NULL, name));
    }
    size_t live = check_walk_by_address(b, 1);
    ASSERT_EQ_U64(live, (uint64_t)(n - (n + 6) / 7));
    /* a word that links past the file: the bitmap gives way to the sort,
     * which visits the others, and listing leaves that name out */
    _Atomic uint64_t *w = word_of(b, 3);
    uint64_t w0 = atomic_load(w);
    uint64_t hash = brain__entry_at(b, brain__idx_block(w0))->hash;
    atomic_store(w, brain__idx_word(hash, IDX_OFF_MASK << 6));
    uint64_t refused = brain__refused_offsets;
    struct walk_seen addr = {0};
    ASSERT_OK(brain__index_foreach_by_address(b, walk_note, &addr));
    ASSERT_EQ_U64(addr.n, live - 1);
    for (size_t i = 1; i < addr.n; i++)
        ASSERT(addr.offs[i] > addr.offs[i - 1]);
    free(addr.offs);
    ASSERT_GT_U64(brain__refused_offsets, refused);
    brain_names *l = NULL;
    ASSERT_OK(brain_list_sorted_names(b, NULL, BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, live - 1);
    for (size_t i = 0; i < l->count; i++) {
        ASSERT(strcmp(l->names[i], "v3") != 0);
        ASSERT(i == 0 || strcmp(l->names[i - 1], l->names[i]) < 0);
    }
    brain_names_free(l);
    atomic_store(w, w0);
    ASSERT_EQ_U64(check_walk_by_address(b, 1), live);
    t_check_store(b);
    t_destroy(b, 0);

    /* few names in a big file: offsets sorted */
    b = t_create(0, 64 << 20);
    put_n(b, 0, 10, 8);
    void *big = calloc(1, 8 << 20);
    ASSERT_NOT_NULL(big);
    ASSERT_OK(brain_put(b, NULL, "big", big, 8 << 20, NULL, NULL));
    free(big);
    ASSERT_EQ_U64(check_walk_by_address(b, 0), 11);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(offset_index_header_word_wild_refused)
{
    brain *b = t_create(0, 16 << 20);
    put_n(b, 0, 8, 1000);
    uint64_t packed = atomic_load(&b->h->index);
    atomic_store(&b->h->index, WILD | (packed & 63)); /* table block wraps */
    uint64_t refused = brain__refused_offsets;
    char val[1000];
    size_t size;
    int rc = brain_read(b, NULL, "v3", val, sizeof val, &size, NULL);
    ASSERT_MSG(rc == BRAIN_ECORRUPT || rc == BRAIN_ENOTFOUND, "read gave %d", rc);
    ASSERT_GT_U64(brain__refused_offsets, refused);
    atomic_store(&b->h->index, packed);
    expect_n(b, 0, 8);
    t_destroy(b, 0);
}

TEST(offset_entry_value_wild_refused)
{
    brain *b = t_create(0, 16 << 20);
    put_n(b, 0, 8, 1000);
    _Atomic uint64_t *w = word_of(b, 5);
    uint64_t blk = brain__idx_block(atomic_load(w));
    struct brain__entry *e = (struct brain__entry *)(b->rw + blk + BLOCK_HDR);
    uint64_t size0 = e->size;
    uint32_t off0 = e->data_off;
    char val[1000];
    size_t size;

    e->size = WILD; /* data_off + size wraps around */
    uint64_t refused = brain__refused_offsets;
    ASSERT_ERR(brain_read(b, NULL, "v5", val, sizeof val, &size, NULL), BRAIN_ECORRUPT);
    ASSERT_GT_U64(brain__refused_offsets, refused);
    e->size = size0;

    e->data_off = 0xffffffc0u; /* past the file */
    refused = brain__refused_offsets;
    brain_view v;
    ASSERT_ERR(brain_get(b, NULL, "v5", &v), BRAIN_ECORRUPT);
    ASSERT_GT_U64(brain__refused_offsets, refused);
    e->data_off = off0;

    expect_n(b, 0, 8);
    t_check_store(b);
    t_destroy(b, 0);
}

/* The index's name counts set far past its table (issue 18, finding 3; the
 * store-write fuzz target's regress-index-count-shift): the put that would
 * grow the table shifted by 64 bits and looped under the writers' lock.
 * Now the put fails with BRAIN_ECORRUPT naming the counts, the counts are
 * recounted as the lock is released, and the next put works. */
TEST(index_counts_wild_refused_then_recounted)
{
    brain *b = t_create(0, 16 << 20);
    put_n(b, 0, 8, 1000);
    uint64_t count = b->h->index_count;
    ASSERT_EQ_U64(count, 8);
    b->h->index_count = WILD;
    ASSERT_ERR(brain_put(b, NULL, "more", "x", 1, NULL, NULL), BRAIN_ECORRUPT);
    ASSERT_STR_CONTAINS(t_detail_copy(), "counts are damaged");
    ASSERT_EQ_U64(b->h->index_count, count); /* recounted */
    ASSERT_OK(brain_put(b, NULL, "more", "x", 1, NULL, NULL));
    b->h->index_tombs = 1ull << 40;
    ASSERT_ERR(brain_put(b, NULL, "more2", "x", 1, NULL, NULL), BRAIN_ECORRUPT);
    ASSERT_OK(brain_put(b, NULL, "more2", "x", 1, NULL, NULL));
    expect_n(b, 0, 8);
    t_check_store(b);
    t_destroy(b, 0);
}

/* The first block's size set to 0 (issue 18, finding 3; the store-write
 * corpus's regress-first-block-size-0): `brain resize STORE 3MB` walked the
 * chain without moving and spun for ever holding the writers' lock.  Now
 * the resize ends with BRAIN_ECORRUPT, the runner's timeout never fires,
 * and the mended store resizes. */
TEST_TIMEOUT(first_block_size_zero_refused_by_resize, 20)
{
    brain *b = t_create(0, 64 << 20);
    put_n(b, 0, 8, 1000);
    size_t big = 8u << 20;
    void *val = t_xmalloc(big);
    t_vfill(val, big, 5);
    ASSERT_OK(brain_put(b, NULL, "big", val, big, NULL, NULL)); /* the file grows */
    free(val);
    ASSERT_OK(brain_delete(b, NULL, "big"));
    size_t reaped;
    ASSERT_OK(brain_reap(b, &reaped));
    ASSERT_GT_U64(atomic_load(&b->h->file_size), 3u << 20); /* the shrink walks the chain */
    struct brain__block *fb = (struct brain__block *)(b->rw + b->h->arena_off);
    uint64_t ss = atomic_load(&fb->sizestate);
    atomic_store(&fb->sizestate, (uint64_t)bs_state(ss)); /* size 0 */
    ASSERT_ERR(brain_resize(b, 3u << 20), BRAIN_ECORRUPT);
    ASSERT_STR_CONTAINS(t_detail_copy(), "bad size 0");
    atomic_store(&fb->sizestate, ss);
    expect_n(b, 0, 8);
    ASSERT_OK(brain_resize(b, 3u << 20));
    expect_n(b, 0, 8);
    t_check_store(b);
    t_destroy(b, 0);
}
