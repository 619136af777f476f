/*
 * resize.c - brain_resize: growing a store's capacity, or shrinking it by
 * moving entries and the index below the new end first.
 *
 * Under the writers' lock; a crash at any point leaves a valid block chain
 * (repair.c finishes an interrupted shrink).  Ordinary allocation and
 * growth are alloc.c's and reclaim.c's.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Moves the entry in block OFF (SIZE bytes) into a free block lying in
 * [LO, HI) (the lowest such, or the highest with HIGHEST): the copy is
 * linked in the entry's index slot with one atomic store, as a replacing
 * put would, and the old block goes to limbo (readers holding it keep
 * their bytes).  BRAIN_EFULL when no free block there fits. */
static int move_entry(brain *b, uint64_t off, uint64_t size, uint64_t lo, uint64_t hi, int highest)
{
    const struct brain__entry *e = brain__entry_at(b, off);
    if (!e)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': damaged entry at %llu", b->path, (unsigned long long)off);
    uint64_t nb, payload = size - BLOCK_HDR;
    if (brain__alloc_range(b, payload, lo, hi, highest, BK_ENTRY, &nb))
        return BRAIN_EFULL;
    memcpy(b->rw + nb + BLOCK_HDR, e, payload);
    int existing = 0;
    uint64_t *slot = brain__index_slot_for(b, e->hash, brain__entry_ns(e), e->ns_len, brain__entry_name(e), e->name_len, &existing);
    if (!slot || !existing)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': entry at %llu is not in the index", b->path,
                       (unsigned long long)off);
    atomic_store((_Atomic uint64_t *)slot, brain__idx_word(e->hash, nb));
    brain__limbo_retire(b, off);
    return 0;
}

/* Lets limbo drain, so that the blocks values were moved out of become
 * free and merge with their neighbours.  batch_seq is even meanwhile. */
static void settle(brain *b)
{
    brain__batch_end(b);
    brain__limbo_reclaim(b, RECLAIM_REAP_FIRST);
    brain__batch_begin(b);
}

/* Walks the block chain: calls FN on every block until FN returns non-zero
 * (returned) or the sentinel is reached (0).  The chain stays walkable
 * while FN moves the block it was given (it becomes limbo, same size) or
 * grows the file (the old sentinel becomes free space beyond). */
static int walk(brain *b, int (*fn)(brain *, uint64_t off, uint64_t ss, unsigned kind, void *), void *ctx)
{
    struct brain__header *h = b->h;
    for (uint64_t off = h->arena_off;;) {
        uint64_t fs = atomic_load(&h->file_size); /* parking may grow it */
        struct brain__block *blk = off + BLOCK_HDR <= fs ? brain__block_or_sentinel_at(b, off) : NULL;
        if (!blk)
            return brain__fail(BRAIN_ECORRUPT, "store '%s': the block chain is damaged at %llu; run `brain check`",
                           b->path, (unsigned long long)off);
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        if (bs_state(ss) == BS_SENTINEL)
            return 0;
        if (size == 0 || size > fs - off)
            return brain__fail(BRAIN_ECORRUPT,
                           "store '%s': the block chain is damaged at offset %llu (bad size %llu); "
                           "no value was lost; run `brain check`", b->path,
                           (unsigned long long)off, (unsigned long long)size);
        int rc = fn(b, off, ss, blk->kind, ctx);
        if (rc)
            return rc;
        off += size;
    }
}

struct shrink_pass {
    uint64_t limit; /* where the new sentinel goes: blocks must end at or below */
    uint64_t hole;  /* compact: the largest free block met so far; park: the lowest */
    uint64_t run;   /* park: that block and the values parked after it */
    long left;      /* place: blocks still beyond the limit */
    long moved;     /* compact: entries moved down; park: entries parked */
};

/* Places the index and every value lying beyond the limit into the lowest
 * free block below it that holds it; counts those that found none. */
static int place_one(brain *b, uint64_t off, uint64_t ss, unsigned kind, void *ctx)
{
    struct shrink_pass *p = ctx;
    uint64_t size = bs_size(ss);
    if (off + size <= p->limit)
        return 0;
    if (bs_state(ss) == BS_RESERVED)
        return brain__fail(BRAIN_EBUSY,
                       "store '%s' cannot shrink: a value being written (reserved) lies beyond "
                       "the new size; retry when it is published", b->path);
    if (bs_state(ss) != BS_USED)
        return 0; /* free, or limbo (drains, or the final check names the viewer) */
    int rc = BRAIN_EFULL;
    if (kind == BK_INDEX && off == (atomic_load(&b->h->index) & ~63ull))
        rc = brain__index_relocate(b, p->limit);
    else if (kind == BK_ENTRY)
        rc = move_entry(b, off, size, 0, p->limit, 0);
    if (rc == BRAIN_EFULL) {
        brain__clear_error();
        p->left++;
        return 0;
    }
    return rc;
}

/* Compaction: slides every value (and the index) into the lowest free
 * block below it that holds it, lowest first, so that once limbo drains
 * the holes they leave merge with the rest of the free space above the
 * values: small values between holes no longer split the room a large one
 * needs. */
static int compact_one(brain *b, uint64_t off, uint64_t ss, unsigned kind, void *ctx)
{
    struct shrink_pass *p = ctx;
    uint64_t size = bs_size(ss);
    if (bs_state(ss) == BS_FREE) {
        if (size > p->hole)
            p->hole = size;
        return 0;
    }
    /* no free block met so far holds it (moves only shrink those) */
    if (bs_state(ss) != BS_USED || size > p->hole)
        return 0;
    int rc = BRAIN_EFULL;
    if (kind == BK_INDEX && off == (atomic_load(&b->h->index) & ~63ull))
        rc = brain__index_relocate(b, off);
    else if (kind == BK_ENTRY)
        rc = move_entry(b, off, size, 0, off, 0);
    if (rc == BRAIN_EFULL) {
        brain__clear_error();
        return 0;
    }
    if (rc == 0)
        p->moved++;
    return rc;
}

/* When no value fits any hole below it: the values just above the lowest
 * free block are parked in the highest free block that holds them (the
 * file grows for room, up to its capacity, when none does; the shrink cuts
 * that off again), one after another until that hole and the room they
 * leave hold the next value up.  Once limbo drains, that value slides down
 * into the merged hole and the parked ones come back down after it: the
 * hole moves up past them.  Returns 1 when values were parked, 2 when none
 * could be (the lowest free block lies beyond the end, or the block above
 * it cannot move, or there is no room to park in). */
static int park_run(brain *b, uint64_t off, uint64_t ss, unsigned kind, void *ctx)
{
    struct shrink_pass *p = ctx;
    uint64_t size = bs_size(ss);
    if (!p->hole) {
        if (bs_state(ss) != BS_FREE)
            return 0;
        if (off >= p->limit)
            return 2;
        p->hole = off + 1; /* +1: offset 0 means none yet */
        p->run = size;
        return 0;
    }
    if (bs_state(ss) != BS_USED || kind != BK_ENTRY || size <= p->run)
        return p->moved ? 1 : 2;
    int rc = move_entry(b, off, size, off + size, UINT64_MAX, 1);
    if (rc == BRAIN_EFULL) {
        rc = brain__alloc_grow(b, size, 0);
        brain__clear_error();
        rc = rc ? BRAIN_EFULL : move_entry(b, off, size, off + size, UINT64_MAX, 1);
    }
    if (rc == BRAIN_EFULL)
        return p->moved ? 1 : 2;
    if (rc)
        return rc;
    p->moved++;
    p->run += size;
    return 0;
}

/* Moves every value and the index lying beyond LIMIT into free space below
 * it, compacting what lies below when the free space there is split into
 * holes too small.  A bounded number of passes; each move is a copy
 * (move_entry), so readers and a crash at any point are safe. */
static int move_down(brain *b, uint64_t limit)
{
    limit -= BLOCK_HDR; /* the sentinel takes the last line */
    /* each pass moves at least one value; a layout that needs more is
     * given up on as full (nothing is lost) */
    uint64_t nblocks = b->h->nblocks;
    int passes = nblocks < 64 ? 64 : nblocks > 1024 ? 1024 : (int)nblocks;
    for (int pass = 0; pass < passes; pass++) {
        struct shrink_pass p = {.limit = limit};
        settle(b);
        int rc = walk(b, place_one, &p);
        if (rc)
            return rc;
        if (!p.left)
            return 0;
        settle(b);
        rc = walk(b, compact_one, &p);
        if (rc)
            return rc;
        if (p.moved)
            continue;
        p.hole = 0;
        rc = walk(b, park_run, &p);
        if (rc < 0)
            return rc;
        if (!p.moved)
            break;
    }
    return brain__fail(BRAIN_EFULL,
                   "store '%s' cannot shrink: the values do not fit below the new size "
                   "even compacted; delete names first, or release views of replaced values "
                   "(nothing was lost)", b->path);
}

int brain_resize(brain *b, uint64_t capacity)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    struct brain__header *h = b->h;
    char s1[32], s2[32], s3[32];
    uint64_t cap = capacity & ~63ull;
    if (capacity > BRAIN_MAX_CAPACITY || cap > b->reserve)
        return brain__fail(BRAIN_EINVAL, "capacity %s is larger than the limit of %s",
                       brain__fmt_size(capacity, s1, sizeof s1), brain__fmt_size(BRAIN_MAX_CAPACITY, s2, sizeof s2));
    if (cap < BRAIN_MIN_CAPACITY || cap < h->arena_off + (1u << 18))
        return brain__fail(BRAIN_EINVAL, "capacity %s is too small for this store (at least %s)",
                       brain__fmt_size(capacity, s1, sizeof s1),
                       brain__fmt_size(h->arena_off + (1u << 18) > BRAIN_MIN_CAPACITY ? h->arena_off + (1u << 18)
                                                                                   : BRAIN_MIN_CAPACITY,
                                   s2, sizeof s2));
    if ((rc = brain__writer_lock(b)))
        return rc;
    if ((rc = brain__alloc_check_size(b, NULL))) { /* cut under us: moving values would SIGBUS */
        brain__writer_unlock(b);
        return rc;
    }
    uint64_t fs = atomic_load(&h->file_size);
    if (cap >= fs) {
        atomic_store(&h->capacity, cap);
        brain__writer_unlock(b);
        return 0;
    }
    /* shrinking below the file's size: values beyond cap move down */
    brain__limbo_reclaim(b, RECLAIM_REAP_FIRST);
    if (h->used + BLOCK_HDR <= cap - h->arena_off &&
        h->used + h->limbo_bytes + BLOCK_HDR > cap - h->arena_off) {
        rc = brain__fail(BRAIN_EBUSY,
                     "store '%s' cannot shrink to %s yet: its values fit, but %s of replaced or "
                     "deleted values are still viewed by readers; release those views and retry "
                     "(nothing was lost)",
                     b->path, brain__fmt_size(capacity, s1, sizeof s1),
                     brain__fmt_size(h->limbo_bytes, s2, sizeof s2));
        brain__writer_unlock(b);
        return rc;
    }
    if (h->used + h->limbo_bytes + BLOCK_HDR > cap - h->arena_off) {
        rc = brain__fail(BRAIN_EFULL,
                     "store '%s' holds %s; it cannot shrink to %s (%s of it is usable); delete names first",
                     b->path, brain__fmt_size(h->used + h->limbo_bytes, s1, sizeof s1),
                     brain__fmt_size(capacity, s2, sizeof s2), brain__fmt_size(cap - h->arena_off, s3, sizeof s3));
        brain__writer_unlock(b);
        return rc;
    }
    brain__batch_begin(b);
    rc = move_down(b, cap);
    brain__batch_end(b);
    brain__limbo_reclaim(b, RECLAIM_REAP_FIRST);
    fs = atomic_load(&h->file_size); /* parking values may have grown it */
    if (rc == 0) {
        /* everything from the new end on must now be one free block */
        /* the last block, found from the sentinel's prev_size tag */
        struct brain__block *sent = brain__block_or_sentinel_at(b, fs - BLOCK_HDR);
        uint64_t last = sent ? fs - BLOCK_HDR - sent->prev_size : 0;
        struct brain__block *lb = sent && sent->prev_size ? brain__block_at(b, last) : NULL;
        uint64_t lss = lb ? atomic_load(&lb->sizestate) : 0;
        if (!lb) {
            rc = brain__fail(BRAIN_ECORRUPT,
                             "store '%s': the end of the block chain is damaged (the sentinel's "
                             "prev_size tag); run `brain check`", b->path);
        } else if (bs_state(lss) != BS_FREE || last > cap - BLOCK_HDR) {
            pid_t who = 0;
            for (uint32_t i = 0; i < h->max_procs && !who; i++) {
                struct brain__slot *s = brain__slot_at(b, i);
                uint32_t hw = atomic_load(&s->npins_hw);
                for (uint32_t p = 0; p < hw && p < PINS; p++)
                    if (atomic_load(&s->pins[p]) >= cap - BLOCK_HDR)
                        who = (pid_t)(atomic_load(&s->owner) & 0xffffffffu);
            }
            rc = brain__fail(BRAIN_EBUSY,
                         "store '%s' cannot shrink to %s yet: values beyond that size are still "
                         "viewed%s%d; release those views and retry (nothing was lost)",
                         b->path, brain__fmt_size(capacity, s1, sizeof s1), who ? " by process " : "",
                         who ? (int)who : 0);
        } else {
            uint64_t new_end = cap;
            brain__alloc_cut_end(b, last, new_end);
            atomic_store(&h->capacity, cap);
            if (ftruncate(b->fd, (off_t)new_end) != 0)
                rc = brain__fail(BRAIN_EIO, "store '%s': truncating the file failed: %s", b->path, strerror(errno));
        }
    }
    brain__writer_unlock(b);
    return rc;
}
