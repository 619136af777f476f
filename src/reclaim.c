/*
 * reclaim.c - epochs, lanes, pins and limbo: when a block may be reused.
 *
 * A reader claims a lane of its own process slot with one compare-and-swap
 * that also announces the epoch it reads at (the CAS is a full barrier, so
 * the announcement is visible before any index word is read), looks up and
 * copies or pins, then clears the lane.  It writes only its own lines.
 *
 * A writer that unlinks a block stamps it with the current global epoch,
 * pushes it on the limbo list and advances the epoch.  A limbo block is
 * freed once every announced epoch is newer than its stamp and no slot pins
 * it.  Pins are per-process: a handle-local map counts how many views of a
 * block the process holds, and only the first and last touch the shared
 * slot.
 *
 * brain__alloc_block, at the end, is the allocation policy of every writer
 * (entries, the index): take a free block, else reclaim limbo, grow the
 * file, reap dead processes and reclaim again.  alloc.c below has no policy;
 * this file takes no lock and touches no name.
 */
#include "internal.h"

#include <limits.h>
#include <sched.h>
#include <stdlib.h>

static _Thread_local unsigned lane_hint = UINT_MAX;
static atomic_uint lane_counter;

struct brain__lane *brain__lane_enter(brain *b)
{
    if (lane_hint == UINT_MAX)
        lane_hint = atomic_fetch_add(&lane_counter, 1);
    struct brain__slot *s = b->slot;
    for (unsigned k = 0;; k++) {
        struct brain__lane *l = &s->lanes[(lane_hint + k) % LANES];
        uint64_t e = atomic_load_explicit(&b->h->epoch, memory_order_relaxed);
        uint64_t zero = 0;
        if (atomic_load_explicit(&l->epoch, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&l->epoch, &zero, e)) {
            if (k)
                lane_hint = (lane_hint + k) % LANES;
            return l;
        }
        if (k % LANES == LANES - 1)
            sched_yield();
    }
}

void brain__lane_leave(struct brain__lane *lane)
{
    atomic_store_explicit(&lane->epoch, 0, memory_order_release);
}

/* ---- the handle-local pin map ------------------------------------------ */

static inline uint32_t pin_hash(uint64_t off)
{
    return (uint32_t)(((off >> 6) * 0x9E3779B97F4A7C15ull) >> 53) & (PINMAP_SIZE - 1);
}

void brain__local_pins_reset(brain *b)
{
    for (uint32_t i = 0; i < PINMAP_SIZE; i++)
        b->pinmap[i] = -1;
    memset(b->pin_off, 0, sizeof b->pin_off);
    memset(b->pin_count, 0, sizeof b->pin_count);
    b->npin_free = 0;
    for (uint32_t i = PINS; i-- > 0;)
        b->pin_free[b->npin_free++] = i;
}

static int pinmap_pos(brain *b, uint64_t off)
{
    for (uint32_t i = pin_hash(off);; i = (i + 1) & (PINMAP_SIZE - 1)) {
        int16_t idx = b->pinmap[i];
        if (idx < 0)
            return -1;
        if (b->pin_off[idx] == off)
            return (int)i;
    }
}

static void pinmap_remove(brain *b, uint32_t i)
{
    const uint32_t mask = PINMAP_SIZE - 1;
    for (uint32_t j = i;;) {
        j = (j + 1) & mask;
        if (b->pinmap[j] < 0)
            break;
        uint32_t k = pin_hash(b->pin_off[b->pinmap[j]]);
        /* move j back to i unless its home k lies cyclically in (i, j] */
        int stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            b->pinmap[i] = b->pinmap[j];
            i = j;
        }
    }
    b->pinmap[i] = -1;
}

int brain__pin_add(brain *b, uint64_t block)
{
    pthread_mutex_lock(&b->mu);
    int pos = pinmap_pos(b, block);
    if (pos >= 0) {
        b->pin_count[b->pinmap[pos]]++;
        pthread_mutex_unlock(&b->mu);
        return 0;
    }
    if (b->npin_free == 0) {
        pthread_mutex_unlock(&b->mu);
        return brain__fail(BRAIN_EPINS,
                       "this process already holds views of %d different values of store '%s'; "
                       "release some views or read copies instead",
                       PINS, b->path);
    }
    uint32_t idx = b->pin_free[--b->npin_free];
    b->pin_off[idx] = block;
    b->pin_count[idx] = 1;
    if (idx + 1 > atomic_load_explicit(&b->slot->npins_hw, memory_order_relaxed))
        atomic_store(&b->slot->npins_hw, idx + 1);
    atomic_store(&b->slot->pins[idx], block);
    uint32_t i = pin_hash(block);
    while (b->pinmap[i] >= 0)
        i = (i + 1) & (PINMAP_SIZE - 1);
    b->pinmap[i] = (int16_t)idx;
    pthread_mutex_unlock(&b->mu);
    return 0;
}

void brain__pin_drop(brain *b, uint64_t block)
{
    pthread_mutex_lock(&b->mu);
    int pos = pinmap_pos(b, block);
    if (pos >= 0) {
        int16_t idx = b->pinmap[pos];
        if (--b->pin_count[idx] == 0) {
            if (b->slot)
                atomic_store_explicit(&b->slot->pins[idx], 0, memory_order_release);
            b->pin_off[idx] = 0;
            pinmap_remove(b, (uint32_t)pos);
            b->pin_free[b->npin_free++] = (uint32_t)idx;
        }
    }
    pthread_mutex_unlock(&b->mu);
}

/* ---- limbo ------------------------------------------------------------- */

void brain__limbo_retire(brain *b, uint64_t block)
{
    struct brain__header *h = b->h;
    struct brain__block *blk = brain__block_at(b, block);
    if (!blk) { /* the caller read BLOCK from an index word */
        brain__mark_damaged(b);
        return;
    }
    uint64_t size = bs_size(atomic_load(&blk->sizestate));
    blk->epoch = atomic_load(&h->epoch);
    blk->next = h->limbo_head;
    atomic_store(&blk->sizestate, size | BS_LIMBO);
    h->limbo_head = block;
    h->limbo_count++;
    h->limbo_bytes += size;
    h->used -= size;
    atomic_fetch_add(&h->epoch, 1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t brain__limbo_reclaim(brain *b, enum brain__reclaim_mode mode)
{
    struct brain__header *h = b->h;
    if (!h->limbo_head)
        return 0;
    if (mode == RECLAIM_REAP_FIRST)
        brain__reap_dead(b, NULL, REAP_DEAD);
    atomic_thread_fence(memory_order_seq_cst);

    uint64_t min_epoch = UINT64_MAX;
    size_t npins = 0, cap = 0;
    uint64_t *pins = NULL;
    uint32_t nslots = atomic_load(&h->slots_hw);
    if (nslots > h->max_procs)
        nslots = h->max_procs;
    for (uint32_t i = 0; i < nslots; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        if (!atomic_load(&s->owner))
            continue;
        for (unsigned l = 0; l < LANES; l++) {
            uint64_t e = atomic_load(&s->lanes[l].epoch);
            if (e && e < min_epoch)
                min_epoch = e;
        }
        uint32_t hw = atomic_load(&s->npins_hw);
        if (hw > PINS)
            hw = PINS;
        for (uint32_t p = 0; p < hw; p++) {
            uint64_t v = atomic_load(&s->pins[p]);
            if (!v)
                continue;
            if (npins == cap) {
                size_t ncap = cap ? cap * 2 : 256;
                uint64_t *np = realloc(pins, ncap * sizeof *np);
                if (!np) {
                    free(pins);
                    return 0; /* try again later */
                }
                pins = np;
                cap = ncap;
            }
            pins[npins++] = v;
        }
    }
    if (npins > 1)
        qsort(pins, npins, sizeof *pins, cmp_u64);

    size_t freed = 0;
    uint64_t *link = &h->limbo_head;
    uint64_t guard = h->limbo_count + 1;
    while (*link) {
        uint64_t off = *link;
        /* the offset comes from the file: validated before it is added */
        struct brain__block *blk = brain__block_at(b, off);
        if (!blk || bs_state(atomic_load(&blk->sizestate)) != BS_LIMBO || !guard--) {
            *link = 0; /* the rest is found again by repair */
            brain__mark_damaged(b);
            break;
        }
        int pinned = npins && bsearch(&off, pins, npins, sizeof *pins, cmp_u64);
        if (blk->epoch < min_epoch && !pinned) {
            uint64_t size = bs_size(atomic_load(&blk->sizestate));
            *link = blk->next;
            h->limbo_count--;
            h->limbo_bytes -= size;
            h->used += size; /* brain__alloc_free takes it off again */
            brain__alloc_free(b, off);
            freed++;
        } else {
            link = &blk->next;
        }
    }
    free(pins);
    /* Nothing came free and limbo keeps growing: a reader may have died
     * inside a read or holding pins.  Look for the dead, at most every
     * 100 ms per process. */
    if (!freed && mode != RECLAIM_REAP_FIRST &&
        (h->limbo_count > 256 || h->limbo_bytes > atomic_load(&h->capacity) / 8)) {
        static _Atomic int64_t last_reap;
        int64_t now = brain__plat_mono_ns(), last = atomic_load(&last_reap);
        if (now - last > 100000000 && atomic_compare_exchange_strong(&last_reap, &last, now)) {
            size_t n = 0;
            brain__reap_dead(b, &n, REAP_DEAD);
            if (n)
                return brain__limbo_reclaim(b, RECLAIM_READY);
        }
    }
    return freed;
}

/* ---- allocation with reclaim ----------------------------------------------- */

/* The allocation policy of every writer: a free block, else reclaim limbo,
 * else grow the file, else reap dead processes and reclaim again.
 * SHOWN is the size named in error messages: the value the caller gave
 * (PAYLOAD adds the entry's metadata). */
int brain__alloc_block(brain *b, uint64_t payload, unsigned state, unsigned kind,
                uint64_t shown, uint64_t own_from, uint64_t *out)
{
    struct brain__header *h = b->h;
    char s1[32], s2[32], s3[32], s4[32];
    if (payload > BRAIN_MAX_CAPACITY)
        return brain__fail(BRAIN_ETOOBIG, "a value of %s is larger than any store can hold",
                       brain__fmt_size(shown, s1, sizeof s1));
    uint64_t need = align_up(payload + BLOCK_HDR, BRAIN_ALIGN);
    uint64_t cap = atomic_load(&h->capacity);
    if (need > cap - h->arena_off)
        return brain__fail(BRAIN_ETOOBIG,
                       "store '%s' cannot hold a value of %s: its capacity is %s; "
                       "create a larger store or grow it with resize",
                       b->path, brain__fmt_size(shown, s1, sizeof s1),
                       brain__fmt_size(cap, s2, sizeof s2));
    int off = brain__alloc_fits(b, payload);
    if (!off) {
        brain__limbo_reclaim(b, RECLAIM_READY);
        off = brain__alloc_fits(b, payload);
    }
    if (!off) {
        int rc = brain__alloc_grow(b, need, kind == BK_ENTRY ? shown : 0);
        if (rc == BRAIN_ENOSPC || rc == BRAIN_ETRUNCATED)
            return rc;
        off = brain__alloc_fits(b, payload);
    }
    if (!off) {
        brain__limbo_reclaim(b, RECLAIM_REAP_FIRST);
        off = brain__alloc_fits(b, payload);
        int rc = off ? 0 : brain__alloc_grow(b, need, kind == BK_ENTRY ? shown : 0);
        if (rc == BRAIN_ENOSPC || rc == BRAIN_ETRUNCATED)
            return rc;
        if (!off)
            off = brain__alloc_fits(b, payload);
    }
    if (!off) {
        uint64_t used = h->used, limbo = h->limbo_bytes;
        uint64_t total = cap - h->arena_off;
        uint64_t freeb = total > used + limbo ? total - used - limbo : 0;
        return brain__fail(BRAIN_EFULL,
                       "store '%s' is full: the value needs %s, %s are free "
                       "(largest free block %s) of %s capacity%s; delete names "
                       "or grow the store with resize",
                       b->path, brain__fmt_size(shown, s1, sizeof s1),
                       brain__fmt_size(freeb, s2, sizeof s2),
                       brain__fmt_size(brain__alloc_largest_free(b), s3, sizeof s3),
                       brain__fmt_size(cap, s4, sizeof s4),
                       limbo ? " (some space is still held by views of replaced values)" : "");
    }
    return brain__alloc_take(b, payload, state, kind, own_from, out);
}
