/*
 * alloc.c - the arena: a two-level segregated-fit allocator (TLSF) over
 * 64-byte-aligned blocks inside the store file.
 *
 * O(1) allocate and free, good-fit placement (low fragmentation), immediate
 * coalescing through boundary tags, and LIFO reuse within a size class so
 * freed memory is handed out again while it is still warm in the page
 * tables.  The file grows in chunks, each reserved with fallocate, up to
 * the store's capacity.
 *
 * Everything here runs under the writers' lock.  Every block header change
 * keeps the block chain walkable: a split writes the tail's header before
 * shrinking the head (one 8-byte store); a merge grows the surviving block
 * in one store.  Free lists, counters and prev_size tags are derived state
 * that repair.c can rebuild.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>

/* Returning freed memory to the system.  A free block whose interior spans
 * PUNCH_MIN or more has its whole pages past the header punched out of the
 * file (the file keeps its size; /dev/shm pages are RAM), unless the arena's
 * free bytes, this block included, stay within WARM_RESERVE: that much free
 * memory is kept with its pages, so that replacing values of up to a few
 * tens of MiB reuses mapped pages (writing them is several times faster
 * than faulting fresh ones) and small churn never costs a system call.
 * Punching touches no block header or free-list link: only whole pages
 * strictly inside the block, and nobody reads a free block's interior.
 *
 * The punch waits until the handle releases the writers' lock
 * (brain__alloc_punch_pending, called by brain__writer_unlock): a put
 * frees the version it replaced two puts ago and then allocates in the
 * same hold of the lock, and that allocation takes the block just freed
 * (find_suitable looks at its exact class first), pages and page tables
 * still in place.  Punching it at once and then reserving its pages again
 * (fallocate, the kernel clearing each page, a fault per page to map it)
 * made a replaced 80 MB frame learn 5x slower than into kept pages, and
 * slower than to_pickle.  What the lock's holder leaves free at the unlock
 * is judged by the same rule as before, so once the lock is released the
 * RAM held is what it was: live values, what readers pin, the reserve.
 * A delete frees what no reader can reach at its own end (brain_delete,
 * write.c), so a forgotten large value goes back at the delete's unlock
 * rather than inside the next put, which would pay the punch and still
 * write onto new pages (the freed block merges with given-back space
 * before it, and `backed` below only describes a prefix).
 * The blocks awaiting the punch are kept exactly: a merge replaces its
 * parts by the merged block, a carve by the rest it leaves free; each is
 * checked again (a free block on its free list) before its pages go.
 *
 * A free block records how many of its first bytes surely have pages
 * (`backed`); a block taken from one with less gets its missing pages
 * reserved again (fallocate) before it is handed out, so a full /dev/shm
 * stays BRAIN_ENOSPC at reserve time, never a SIGBUS while writing.  A
 * caller that writes the value itself through the file descriptor
 * (write.c, OWN_FROM) gets only the pages before the value reserved: the
 * write allocates the rest, and fails with ENOSPC, never a SIGBUS, when
 * there is no room.  Used and reserved blocks keep `backed` too (all of
 * the block, but for a value not yet written that way), and freeing a
 * block starts from it. */
#define PUNCH_MIN (1ull << 20)
#define WARM_RESERVE (32ull << 20)
#define REFILL_MIN (2ull << 20) /* refill at least this much at once */
#define PAGE 4096ull

static inline unsigned flsu64(uint64_t x) { return 63u - (unsigned)__builtin_clzll(x); }

static void mapping_insert(uint64_t size, unsigned *fl, unsigned *sl)
{
    uint64_t u = size >> 6;
    if (u < SL_COUNT) {
        *fl = 0;
        *sl = (unsigned)u;
        return;
    }
    unsigned t = flsu64(u);
    *fl = t - SL_LOG2 + 1;
    *sl = (unsigned)((u >> (t - SL_LOG2)) ^ SL_COUNT);
}

static void mapping_search(uint64_t size, unsigned *fl, unsigned *sl)
{
    uint64_t u = size >> 6;
    if (u >= SL_COUNT) {
        unsigned t = flsu64(u);
        u += (1ull << (t - SL_LOG2)) - 1;
    }
    mapping_insert(u << 6, fl, sl);
}

void brain__alloc_insert_free(brain *b, uint64_t off, uint64_t size)
{
    struct brain__header *h = b->h;
    struct brain__block *blk = (struct brain__block *)(b->rw + off);
    unsigned fl, sl;
    mapping_insert(size, &fl, &sl);
    if (fl >= FL_COUNT)
        fl = FL_COUNT - 1;
    uint64_t head = h->heads[fl][sl];
    blk->next = head;
    blk->prev = 0;
    struct brain__block *hb = head ? brain__block_at(b, head) : NULL;
    if (hb)
        hb->prev = off;
    else if (head)
        brain__mark_damaged(b);
    h->heads[fl][sl] = off;
    h->fl_bitmap |= 1ull << fl;
    h->sl_bitmap[fl] |= 1u << sl;
    h->nfree++;
}

void brain__alloc_remove_free(brain *b, uint64_t off, uint64_t size)
{
    struct brain__header *h = b->h;
    struct brain__block *blk = (struct brain__block *)(b->rw + off);
    unsigned fl, sl;
    mapping_insert(size, &fl, &sl);
    if (fl >= FL_COUNT)
        fl = FL_COUNT - 1;
    struct brain__block *pb = blk->prev ? brain__block_at(b, blk->prev) : NULL;
    struct brain__block *nb = blk->next ? brain__block_at(b, blk->next) : NULL;
    if (blk->prev && !pb)
        brain__mark_damaged(b);
    else if (pb)
        pb->next = blk->next;
    else if (h->heads[fl][sl] == off)
        h->heads[fl][sl] = blk->next;
    else
        brain__mark_damaged(b);
    if (blk->next && !nb)
        brain__mark_damaged(b);
    else if (nb)
        nb->prev = blk->prev;
    if (!h->heads[fl][sl]) {
        h->sl_bitmap[fl] &= ~(1u << sl);
        if (!h->sl_bitmap[fl])
            h->fl_bitmap &= ~(1ull << fl);
    }
    blk->next = blk->prev = 0;
    h->nfree--;
}

void brain__alloc_reset_lists(brain *b)
{
    struct brain__header *h = b->h;
    h->fl_bitmap = 0;
    memset(h->sl_bitmap, 0, sizeof h->sl_bitmap);
    memset(h->heads, 0, sizeof h->heads);
    h->nfree = 0;
}

/* A free block of at least SIZE bytes, or 0.  First a short scan of the
 * class SIZE itself falls in (TLSF's rounded-up search would skip a block
 * of exactly the size just freed, e.g. when a value is replaced by one of
 * the same size), then the first non-empty larger class.  Every offset
 * read from the file is checked; a list that does not add up marks the
 * free lists for rebuilding and is not followed. */
static uint64_t find_suitable(brain *b, uint64_t size)
{
    struct brain__header *h = b->h;
    unsigned fl, sl;
    mapping_insert(size, &fl, &sl);
    if (fl >= FL_COUNT)
        return 0;
    uint64_t off = h->heads[fl][sl];
    for (int n = 0; off && n < 8; n++) {
        struct brain__block *blk = brain__block_at(b, off);
        if (!blk) {
            brain__mark_damaged(b);
            break;
        }
        uint64_t ss = atomic_load(&blk->sizestate);
        if (bs_state(ss) != BS_FREE || !brain__ptr(b, off + BLOCK_HDR, bs_size(ss))) {
            brain__mark_damaged(b);
            break;
        }
        if (bs_size(ss) >= size)
            return off;
        off = blk->next;
    }
    mapping_search(size, &fl, &sl);
    if (fl >= FL_COUNT)
        return 0;
    /* bitmaps live in the file: bits past SL_COUNT are damage, ignored */
    uint32_t slmap = sl < 32 ? h->sl_bitmap[fl] & SL_MASK & (~0u << sl) : 0;
    if (!slmap) {
        uint64_t flmap = fl + 1 < 64 ? h->fl_bitmap & (~0ull << (fl + 1)) : 0;
        if (!flmap)
            return 0;
        fl = (unsigned)__builtin_ctzll(flmap);
        if (fl >= FL_COUNT || !(slmap = h->sl_bitmap[fl] & SL_MASK)) {
            brain__mark_damaged(b);
            return 0;
        }
    }
    sl = (unsigned)__builtin_ctz(slmap);
    off = h->heads[fl][sl];
    if (!off)
        return 0;
    struct brain__block *blk = brain__block_at(b, off);
    if (!blk || bs_state(atomic_load(&blk->sizestate)) != BS_FREE ||
        bs_size(atomic_load(&blk->sizestate)) < size ||
        !brain__ptr(b, off + BLOCK_HDR, bs_size(atomic_load(&blk->sizestate)))) {
        brain__mark_damaged(b);
        return 0;
    }
    return off;
}

/* Sets the prev_size tag of the block that follows [off, off+size). */
static void set_next_prev(brain *b, uint64_t off, uint64_t size)
{
    uint64_t fs = atomic_load(&b->h->file_size);
    if (off <= fs && size <= fs - off && fs - off - size >= BLOCK_HDR)
        ((struct brain__block *)(b->rw + off + size))->prev_size = size;
}

/* ---- punching deferred to the unlock (see the top of this file) ----- */

/* Where OFF is on the handle's list of blocks awaiting the punch, or -1. */
static int pending_at(const brain *b, uint64_t off)
{
    for (uint32_t i = 0; i < b->npunch && i < PUNCH_PENDING; i++)
        if (b->punch_off[i] == off)
            return (int)i;
    return -1;
}

static void pending_drop(brain *b, uint64_t off)
{
    int i = pending_at(b, off);
    if (i >= 0)
        b->punch_off[i] = b->punch_off[--b->npunch];
}

static void maybe_punch(brain *b, uint64_t off, uint64_t size);

/* Free block OFF (SIZE bytes, on its list) awaits the punch; a full list
 * punches it now, as before the punch waited. */
static void pending_add(brain *b, uint64_t off, uint64_t size)
{
    uint64_t start = align_up(off + BLOCK_HDR, PAGE), end = (off + size) & ~(PAGE - 1);
    if (end <= start || end - start < PUNCH_MIN || pending_at(b, off) >= 0)
        return;
    if (b->npunch >= PUNCH_PENDING)
        maybe_punch(b, off, size);
    else
        b->punch_off[b->npunch++] = off;
}

/* Whether OFF is a free block on its free list (not a stale header inside
 * a merged block, nor a block since handed out); its size in *SIZE. */
static int on_free_list(brain *b, uint64_t off, uint64_t *size)
{
    struct brain__block *blk = brain__block_at(b, off);
    if (!blk)
        return 0;
    uint64_t ss = atomic_load(&blk->sizestate);
    if (bs_state(ss) != BS_FREE || !brain__ptr(b, off + BLOCK_HDR, bs_size(ss)))
        return 0;
    *size = bs_size(ss);
    if (blk->prev) {
        struct brain__block *pb = brain__block_at(b, blk->prev);
        return pb && pb->next == off;
    }
    unsigned fl, sl;
    mapping_insert(*size, &fl, &sl);
    if (fl >= FL_COUNT)
        fl = FL_COUNT - 1;
    return b->h->heads[fl][sl] == off;
}

/* At the writers' lock's release: the blocks freed in this hold (and still
 * free) give their pages back when the rule at the top of this file says
 * so.  DROP forgets them instead (the block chain was just repaired). */
void brain__alloc_punch_pending(brain *b, int drop)
{
    uint32_t n = b->npunch < PUNCH_PENDING ? b->npunch : PUNCH_PENDING;
    b->npunch = 0;
    if (drop || !b->h)
        return;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t size = 0;
        if (on_free_list(b, b->punch_off[i], &size))
            maybe_punch(b, b->punch_off[i], size);
    }
}

/* Takes NEED bytes from the front of free block OFF (already off its list). */
static void carve(brain *b, uint64_t off, uint64_t need, unsigned state,
                  unsigned kind)
{
    struct brain__block *blk = (struct brain__block *)(b->rw + off);
    uint64_t size = bs_size(atomic_load(&blk->sizestate));
    int pending = pending_at(b, off) >= 0;
    if (pending)
        pending_drop(b, off);
    if (size - need >= MIN_BLOCK) {
        uint64_t rest = off + need;
        struct brain__block *r = (struct brain__block *)(b->rw + rest);
        r->prev_size = need;
        r->kind = BK_NONE;
        r->owner = 0;
        r->backed = blk->backed > need ? blk->backed - need : 0;
        atomic_store(&r->sizestate, (size - need) | BS_FREE);
        blk->kind = kind;
        blk->owner = 0;
        atomic_store(&blk->sizestate, need | state);
        set_next_prev(b, rest, size - need);
        brain__alloc_insert_free(b, rest, size - need);
        b->h->nblocks++;
        if (pending) /* the rest of a block awaiting the punch awaits it too */
            pending_add(b, rest, size - need);
        size = need;
    } else {
        blk->kind = kind;
        blk->owner = 0;
        atomic_store(&blk->sizestate, size | state);
    }
    b->h->used += size;
}

static uint64_t block_need(uint64_t payload)
{
    return align_up(payload + BLOCK_HDR, BRAIN_ALIGN);
}

static void free_block(brain *b, uint64_t off, uint64_t own_backed, int may_punch);

/* The errors that mean the file system (or the memory behind tmpfs) is full. */
int brain__alloc_no_room(int err)
{
    return err == ENOSPC || err == EFBIG || err == ENOMEM;
}

/* The free space of store B's file system as text for a message, in BUF
 * (CAP bytes), or "an unknown amount". */
const char *brain__alloc_fs_free_text(brain *b, char *buf, size_t cap)
{
    uint64_t avail = 0;
    if (brain__plat_fs_free(b->fd, &avail) != 0)
        return "an unknown amount";
    return brain__fmt_size(avail, buf, cap);
}

/* The failure to reserve LEN bytes of store pages (ERR, an errno value). */
static int reserve_failed(brain *b, uint64_t len, int err)
{
    char s1[32], s2[32];
    if (brain__alloc_no_room(err))
        return brain__fail(BRAIN_ENOSPC,
                           "the host has no room for %s more of store '%s' (its free "
                           "memory was given back to the system, and its file system "
                           "has %s free: %s); free memory or disk space where the store lives",
                           brain__fmt_size(len, s1, sizeof s1), b->path,
                           brain__alloc_fs_free_text(b, s2, sizeof s2), strerror(err));
    return brain__fail(BRAIN_EIO, "cannot reserve memory of store '%s': reserving space: %s",
                       b->path, strerror(err));
}

/* Reserves the pages of bytes [LO, HI) of the block at OFF that lack them
 * (those from BACKED on).  0 or the error. */
static int reserve_range(brain *b, uint64_t off, uint64_t backed, uint64_t lo, uint64_t hi)
{
    if (lo < backed)
        lo = backed;
    if (hi <= lo)
        return 0;
    int err = brain__plat_reserve_space(b->fd, off + lo, hi - lo);
    return err ? reserve_failed(b, hi - lo, err) : 0;
}

/* Takes the free block at OFF (SIZE bytes) off its list and carves a block
 * of NEED bytes from its front, after reserving the pages it lacks (its
 * free block's first `backed` bytes have them): all of them (and, so that
 * small blocks taken one after another cost one call per REFILL_MIN, some
 * of the rest's), or with OWN_FROM (non-zero) only those before byte
 * OWN_FROM of the block, whose bytes from there to its end the caller
 * writes through the file descriptor (value_write in write.c): the file system
 * allocates those pages as it writes them, with no reservation, clearing
 * or page faults (the first learn of a large value onto pages the store
 * gave back).  Either way the header of the free rest gets its page before
 * it is written.  The block's `backed` then says how many of its first
 * bytes have pages.  0 and *OUT = OFF, or the error with nothing changed. */
static int take_free(brain *b, uint64_t off, uint64_t size, uint64_t need, unsigned state,
                     unsigned kind, uint64_t own_from, uint64_t *out)
{
    struct brain__block *blk = (struct brain__block *)(b->rw + off);
    uint64_t backed = blk->backed < size ? blk->backed : size;
    uint64_t take = size - need >= MIN_BLOCK ? need : size; /* the block carve leaves */
    uint64_t end = take < REFILL_MIN ? REFILL_MIN : take;
    if (end > size)
        end = size;
    int lazy = own_from && own_from < take && backed < take;
    if (lazy)
        end = own_from;
    int rc = reserve_range(b, off, backed, 0, end);
    if (rc == 0 && take < size) /* the rest's header, written by carve */
        rc = reserve_range(b, off, backed > end ? backed : end, take, take + BLOCK_HDR);
    if (rc)
        return rc;
    brain__alloc_remove_free(b, off, size);
    carve(b, off, need, state, kind);
    if (!lazy && end > take) { /* the rest starts with pages */
        struct brain__block *r = (struct brain__block *)(b->rw + off + take);
        if (r->backed < end - take)
            r->backed = end - take;
    }
    blk->backed = lazy ? (backed > end ? backed : end) : take;
    *out = off;
    return 0;
}

/* Takes a block for PAYLOAD bytes from the free lists: 0 and *OUT, or
 * BRAIN_EFULL when no free block fits.  No reclaim, no growth: that policy
 * is the caller's (brain__alloc_block in reclaim.c). */
int brain__alloc_take(brain *b, uint64_t payload, unsigned state, unsigned kind,
                      uint64_t own_from, uint64_t *out)
{
    uint64_t need = block_need(payload);
    uint64_t off = find_suitable(b, need);
    if (!off)
        return BRAIN_EFULL;
    struct brain__block *blk = (struct brain__block *)(b->rw + off);
    return take_free(b, off, bs_size(atomic_load(&blk->sizestate)), need, state, kind, own_from,
                     out);
}

/* Whether a block for PAYLOAD bytes would fit in a free block now. */
int brain__alloc_fits(brain *b, uint64_t payload)
{
    return find_suitable(b, block_need(payload)) != 0;
}

/* Takes a block for PAYLOAD bytes from the free block lying lowest (or,
 * with HIGHEST, highest) in the file among those that start at or above LO
 * and hold it ending at or below HI; the block is carved from that free
 * block's front.  For a shrink, which places values by address, not by
 * size: the lowest hole below a value slides it down (compaction), the
 * highest one parks it out of the way.  Scans every free list once
 * (bounded by the block count, a list that does not add up marks the
 * store for repair).  0 and *OUT, or BRAIN_EFULL. */
int brain__alloc_range(brain *b, uint64_t payload, uint64_t lo, uint64_t hi, int highest,
                       unsigned kind, uint64_t *out)
{
    struct brain__header *h = b->h;
    uint64_t need = block_need(payload);
    uint64_t guard = h->nblocks + 1, best = 0, best_size = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        if (!(h->fl_bitmap & (1ull << fl)))
            continue;
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            for (uint64_t off = h->heads[fl][sl]; off;) {
                struct brain__block *blk = brain__block_at(b, off);
                if (!guard-- || !blk || bs_state(atomic_load(&blk->sizestate)) != BS_FREE) {
                    brain__mark_damaged(b);
                    return BRAIN_EFULL;
                }
                uint64_t size = bs_size(atomic_load(&blk->sizestate));
                if (size >= need && off >= lo && off <= hi && need <= hi - off &&
                    (!best || (highest ? off > best : off < best))) {
                    best = off;
                    best_size = size;
                }
                off = blk->next;
            }
        }
    }
    if (!best)
        return BRAIN_EFULL;
    return take_free(b, best, best_size, need, BS_USED, kind, 0, out);
}

int brain__alloc_below(brain *b, uint64_t payload, uint64_t limit, unsigned kind,
                uint64_t *out)
{
    return brain__alloc_range(b, payload, 0, limit, 0, kind, out);
}

/* Gives the pages strictly inside free block OFF (SIZE bytes, on its list)
 * back to the system when the rules at the top of this file say so. */
static void maybe_punch(brain *b, uint64_t off, uint64_t size)
{
    struct brain__header *h = b->h;
    uint64_t start = align_up(off + BLOCK_HDR, PAGE), end = (off + size) & ~(PAGE - 1);
    if (end <= start || end - start < PUNCH_MIN)
        return;
    uint64_t fs = atomic_load(&h->file_size), taken = h->arena_off + BLOCK_HDR + h->used +
                                                      h->limbo_bytes;
    if (fs <= taken || fs - taken <= WARM_RESERVE)
        return;
    if (brain__plat_punch_hole(b->fd, start, end - start) == 0) {
        struct brain__block *blk = (struct brain__block *)(b->rw + off);
        if (blk->backed > start - off)
            blk->backed = start - off;
    }
}

/* Frees block OFF (USED, RESERVED or LIMBO), merging with free neighbours;
 * its `backed` says how many of its first bytes have pages (all of them
 * but for a reservation whose value was not written through the file
 * descriptor yet, take_free; a block of a store written before the field
 * was kept for used blocks may say fewer, which costs a reservation of
 * pages it has, never a page it lacks). */
void brain__alloc_free(brain *b, uint64_t off)
{
    struct brain__block *blk = (struct brain__block *)(b->rw + off);
    uint64_t size = bs_size(atomic_load(&blk->sizestate));
    free_block(b, off, blk->backed < size ? blk->backed : size, 1);
}

/* The same; its first OWN_BACKED bytes have pages, and its pages may be
 * given back (MAY_PUNCH). */
static void free_block(brain *b, uint64_t off, uint64_t own_backed, int may_punch)
{
    struct brain__header *h = b->h;
    struct brain__block *blk = (struct brain__block *)(b->rw + off);
    uint64_t size = bs_size(atomic_load(&blk->sizestate)), backed = own_backed;
    h->used -= size;
    blk->kind = BK_NONE;
    blk->owner = 0;
    atomic_store(&blk->sizestate, size | BS_FREE);

    /* sizes come from the file: compare without overflowing */
    uint64_t fs = atomic_load(&h->file_size);
    if (off > fs || size > fs - off || fs - off - size < BLOCK_HDR) {
        brain__mark_damaged(b);
        return;
    }
    uint64_t nxt = off + size;
    struct brain__block *nb = brain__block_or_sentinel_at(b, nxt);
    if (!nb) {
        brain__mark_damaged(b);
        return;
    }
    int pending = may_punch;
    uint64_t nss = atomic_load(&nb->sizestate);
    if (bs_state(nss) == BS_FREE && bs_size(nss) <= fs - nxt - BLOCK_HDR) {
        if (pending_at(b, nxt) >= 0) {
            pending_drop(b, nxt);
            pending = 1;
        }
        brain__alloc_remove_free(b, nxt, bs_size(nss));
        if (backed >= size)
            backed = size + (nb->backed < bs_size(nss) ? nb->backed : bs_size(nss));
        size += bs_size(nss);
        atomic_store(&blk->sizestate, size | BS_FREE);
        h->nblocks--;
    }
    struct brain__block *pb = NULL;
    if (off > h->arena_off && blk->prev_size) /* a wrapped difference is refused */
        pb = brain__block_at(b, off - blk->prev_size);
    if (pb) {
        uint64_t poff = off - blk->prev_size;
        uint64_t pss = atomic_load(&pb->sizestate);
        if (bs_state(pss) == BS_FREE &&
            bs_size(pss) == blk->prev_size) {
            if (pending_at(b, poff) >= 0) {
                pending_drop(b, poff);
                pending = 1;
            }
            brain__alloc_remove_free(b, poff, bs_size(pss));
            backed = pb->backed >= bs_size(pss) ? bs_size(pss) + backed : pb->backed;
            size += bs_size(pss);
            atomic_store(&pb->sizestate, size | BS_FREE);
            off = poff;
            blk = pb;
            h->nblocks--;
        }
    }
    blk->backed = backed < size ? backed : size;
    set_next_prev(b, off, size);
    brain__alloc_insert_free(b, off, size);
    if (pending)
        pending_add(b, off, size);
}

int brain__alloc_check_size(brain *b, uint64_t *found)
{
    uint64_t fs = atomic_load(&b->h->file_size), size = 0;
    int err = brain__plat_file_size(b->fd, &size);
    if (found)
        *found = size;
    if (err)
        return brain__fail(BRAIN_EIO, "store '%s': cannot read the file's size: %s", b->path,
                           strerror(err));
    if (size >= fs)
        return 0;
    return brain__fail(BRAIN_ETRUNCATED,
                       "store '%s' was truncated while open: the header says %llu bytes, the file has "
                       "%llu (another process cut it); nothing was changed.  Processes that touch the "
                       "cut-off part get SIGBUS: stop every process using the store, then run "
                       "`brain check --repair` to salvage what is left",
                       b->path, (unsigned long long)fs, (unsigned long long)size);
}

/* Grows the file so that a block of NEED bytes can be placed, up to the
 * capacity.  The normal step is a quarter of the file, at least 4 MiB;
 * when the file system has no room for that, the file grows by what NEED
 * lacks (page-rounded) instead, so a nearly full /dev/shm still takes a
 * value that fits.  SHOWN is the size named in the error (the caller's
 * value; 0 for none).  Returns 0, BRAIN_EFULL (capacity reached),
 * BRAIN_ENOSPC or BRAIN_ETRUNCATED (the file was cut under us; growing it
 * back would hide that and leave zeros where blocks were). */
int brain__alloc_grow(brain *b, uint64_t need, uint64_t shown)
{
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size);
    int trc = brain__alloc_check_size(b, NULL);
    if (trc)
        return trc;
    uint64_t cap = atomic_load(&h->capacity);
    if (cap > b->reserve)
        cap = b->reserve;
    if (fs >= cap)
        return BRAIN_EFULL;
    uint64_t sent = fs - BLOCK_HDR;
    struct brain__block *sb = brain__block_or_sentinel_at(b, sent);
    if (!sb) {
        brain__mark_damaged(b);
        return BRAIN_EFULL;
    }
    /* the free block just before the sentinel counts towards NEED; its
     * offset comes from the sentinel's prev_size tag, read from the file */
    uint64_t tail_free = 0;
    struct brain__block *pb = sb->prev_size ? brain__block_at(b, sent - sb->prev_size) : NULL;
    if (pb && bs_state(atomic_load(&pb->sizestate)) == BS_FREE &&
        bs_size(atomic_load(&pb->sizestate)) == sb->prev_size)
        tail_free = sb->prev_size;
    else if (sb->prev_size && !pb)
        brain__mark_damaged(b);
    uint64_t want = need > tail_free ? need - tail_free : 0;
    if (want > cap - fs)
        return BRAIN_EFULL;
    uint64_t grow = want + BLOCK_HDR;
    if (grow < fs / 4)
        grow = fs / 4;
    if (grow < (4ull << 20))
        grow = 4ull << 20;
    grow = align_up(grow, 1ull << 16);
    if (grow > cap - fs)
        grow = cap - fs;
    /* the least that places NEED: the file ends on a page boundary past
     * FS + WANT (the old sentinel's line joins the new free block, the new
     * sentinel takes the new end's last line) */
    uint64_t least = align_up(fs + (want > PAGE ? want : PAGE), PAGE) - fs;
    if (least > cap - fs)
        least = cap - fs;
    int err = brain__plat_reserve_space(b->fd, fs, grow);
    if (err && brain__alloc_no_room(err) && least < grow) {
        grow = least;
        err = brain__plat_reserve_space(b->fd, fs, grow);
    }
    if (err) {
        char s1[32], s2[32], s3[32], s4[32], what[64] = "";
        if (shown)
            snprintf(what, sizeof what, " for a value of %s", brain__fmt_size(shown, s1, sizeof s1));
        if (err == EFBIG) /* RLIMIT_FSIZE or the file system's largest file */
            return brain__fail(BRAIN_ENOSPC,
                               "store '%s' cannot grow%s: the store file is %s and needs %s "
                               "more, past the largest file this process may write (%s: a "
                               "file-size limit, ulimit -f, or the file system's own); raise "
                               "the limit or put the store on another file system",
                               b->path, what, brain__fmt_size(fs, s2, sizeof s2),
                               brain__fmt_size(least, s3, sizeof s3), strerror(err));
        if (brain__alloc_no_room(err))
            return brain__fail(BRAIN_ENOSPC,
                               "the host has no room to grow store '%s'%s: the store file is %s "
                               "and needs %s more, and its file system has %s free (%s); free "
                               "memory or disk space where the store lives, or put it on a "
                               "larger file system",
                               b->path, what, brain__fmt_size(fs, s2, sizeof s2),
                               brain__fmt_size(least, s3, sizeof s3),
                               brain__alloc_fs_free_text(b, s4, sizeof s4), strerror(err));
        return brain__fail(BRAIN_EIO, "cannot grow store '%s'%s: reserving space: %s", b->path,
                           what, strerror(err));
    }
    uint64_t new_end = fs + grow;
    /* new sentinel first, then the size, then the old sentinel becomes a
     * free block (repair knows how to finish this if we die between). */
    struct brain__block *ns = (struct brain__block *)(b->rw + new_end - BLOCK_HDR);
    memset(ns, 0, sizeof *ns);
    ns->prev_size = new_end - BLOCK_HDR - sent;
    atomic_store(&ns->sizestate, BLOCK_HDR | BS_SENTINEL);
    atomic_store_explicit(&h->file_size, new_end, memory_order_release);
    h->used += new_end - BLOCK_HDR - sent; /* brain__alloc_free subtracts it */
    sb->kind = BK_NONE;
    atomic_store(&sb->sizestate, (new_end - BLOCK_HDR - sent) | BS_USED);
    h->nblocks++;
    free_block(b, sent, new_end - BLOCK_HDR - sent, 0); /* just reserved: keep it */
    b->grown_off = align_up(fs, PAGE); /* reserved, never written (write.c) */
    b->grown_end = (new_end - BLOCK_HDR) & ~(PAGE - 1);
    return 0;
}

/* Ends the arena at NEW_END, for a shrink: LAST is the free block before
 * the sentinel, reaching from below NEW_END - 64 to the old end.  Its part
 * below the new sentinel stays free (none may stay), the new sentinel is
 * written there, then the header's file size; truncating the file is the
 * caller's.  The block chain is valid at every step.  Under the lock. */
void brain__alloc_cut_end(brain *b, uint64_t last, uint64_t new_end)
{
    struct brain__header *h = b->h;
    struct brain__block *lb = (struct brain__block *)(b->rw + last);
    uint64_t nsent = new_end - BLOCK_HDR;
    brain__alloc_remove_free(b, last, bs_size(atomic_load(&lb->sizestate)));
    struct brain__block *ns = (struct brain__block *)(b->rw + nsent);
    uint64_t keep = nsent - last;
    if (keep) {
        ns->prev_size = keep;
        ns->kind = BK_NONE;
        atomic_store(&ns->sizestate, BLOCK_HDR | BS_SENTINEL);
        atomic_store(&lb->sizestate, keep | BS_FREE);
        if (lb->backed > keep)
            lb->backed = keep;
    } else {
        ns->prev_size = lb->prev_size;
        atomic_store(&ns->sizestate, BLOCK_HDR | BS_SENTINEL);
        h->nblocks--;
    }
    atomic_store(&h->file_size, new_end);
    if (keep)
        brain__alloc_insert_free(b, last, keep);
}

uint64_t brain__alloc_largest_free(brain *b)
{
    struct brain__header *h = b->h;
    if (!h->fl_bitmap)
        return 0;
    unsigned fl = flsu64(h->fl_bitmap);
    uint32_t slmap = fl < FL_COUNT ? h->sl_bitmap[fl] & SL_MASK : 0;
    if (!slmap)
        return 0;
    unsigned sl = 31u - (unsigned)__builtin_clz(slmap);
    uint64_t best = 0;
    int n = 0;
    for (uint64_t off = h->heads[fl][sl]; off && n < 4096; n++) {
        struct brain__block *blk = brain__block_at(b, off);
        if (!blk)
            break;
        uint64_t s = bs_size(atomic_load(&blk->sizestate));
        if (s > best)
            best = s;
        off = blk->next;
    }
    return best > BLOCK_HDR ? best - BLOCK_HDR : 0;
}
