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

/* Moves the entry in block OFF (SIZE bytes) into a free block ending at or
 * below LIMIT: the copy is linked in the entry's index slot with one atomic
 * store, as a replacing put would, and the old block goes to limbo (readers
 * holding it keep their bytes).  BRAIN_EFULL when no free block fits. */
static int move_entry(brain *b, uint64_t off, uint64_t size, uint64_t limit)
{
    const struct brain__entry *e = brain__entry_at(b, off);
    if (!e)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': damaged entry at %llu", b->path, (unsigned long long)off);
    uint64_t nb, payload = size - BLOCK_HDR;
    if (brain__alloc_below(b, payload, limit, BK_ENTRY, &nb))
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

/* Slides entries lying below LIMIT down into lower free blocks, lowest
 * first, so the holes between them merge once limbo is reclaimed: a small
 * value left between two holes no longer splits the room a large one needs.
 * Returns the number of entries moved, or a negative error code. */
static long compact_below(brain *b, uint64_t limit)
{
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size);
    long moved = 0;
    for (uint64_t off = h->arena_off; off + BLOCK_HDR < fs && off < limit;) {
        struct brain__block *blk = brain__block_or_sentinel_at(b, off);
        if (!blk)
            break;
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        if (bs_state(ss) == BS_SENTINEL || size == 0)
            break;
        if (bs_state(ss) == BS_USED && blk->kind == BK_ENTRY) {
            int rc = move_entry(b, off, size, off);
            if (rc == 0)
                moved++;
            else if (rc != BRAIN_EFULL)
                return rc;
        }
        off += size;
    }
    return moved;
}

/* Moves every value lying at or beyond LIMIT into free space below it. */
static int move_down(brain *b, uint64_t limit)
{
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size);
    uint64_t tblk = atomic_load(&h->index) & ~63ull;
    limit -= BLOCK_HDR; /* the sentinel takes the last line */
    struct brain__block *tb = brain__block_at(b, tblk);
    if (!tb)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index header word is invalid", b->path);
    if (tblk + bs_size(atomic_load(&tb->sizestate)) > limit) {
        int rc = brain__index_relocate(b, limit);
        if (rc)
            return rc;
    }
    for (uint64_t off = h->arena_off; off + BLOCK_HDR < fs;) {
        struct brain__block *blk = brain__block_or_sentinel_at(b, off);
        if (!blk)
            break;
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        if (bs_state(ss) == BS_SENTINEL)
            break;
        if (size == 0 || size > fs - off) /* a damaged chain: never loop or step out */
            return brain__fail(BRAIN_ECORRUPT,
                           "store '%s' cannot shrink: the block at offset %llu has a bad size "
                           "(%llu); no value was lost; run `brain check`", b->path,
                           (unsigned long long)off, (unsigned long long)size);
        if (off + size > limit && bs_state(ss) == BS_RESERVED)
            return brain__fail(BRAIN_EBUSY,
                           "store '%s' cannot shrink: a value being written (reserved) lies beyond "
                           "the new size; retry when it is published", b->path);
        if (off + size > limit && bs_state(ss) == BS_USED && blk->kind == BK_ENTRY) {
            int rc = move_entry(b, off, size, limit);
            if (rc == BRAIN_EFULL) {
                /* fragmented below the limit: compact, let the holes merge, retry */
                long moved = compact_below(b, limit);
                if (moved < 0)
                    return (int)moved;
                if (moved > 0) {
                    brain__batch_end(b);
                    brain__limbo_reclaim(b, RECLAIM_REAP_FIRST);
                    brain__batch_begin(b);
                    rc = move_entry(b, off, size, limit);
                }
            }
            if (rc == BRAIN_EFULL)
                return brain__fail(BRAIN_EFULL,
                               "store '%s' cannot shrink: the values do not fit below the new size "
                               "even compacted; delete names first, or release views of replaced values "
                               "(nothing was lost)", b->path);
            if (rc)
                return rc;
        }
        off += size;
    }
    return 0;
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
