/*
 * proctable.c - the process table: claiming a slot, giving it back, and
 * reaping the slots of processes that died (their lanes, pins and orphaned
 * reservations).
 *
 * Each attached process owns one slot (struct brain__slot) whose owner word
 * is pid | state << 32.  Reaping runs under the writers' lock and frees an
 * orphaned reservation through the allocator.  This file does not take the
 * lock, attach a handle (store.c does, reaping when the table is full) or
 * run the limbo list (reclaim.c).
 */
#include "internal.h"

#include <stdlib.h>

int brain__slot_claim(brain *b, uint32_t state, pid_t pid, uint32_t *out)
{
    struct brain__header *h = b->h;
    uint64_t want = (uint64_t)(uint32_t)pid | ((uint64_t)state << 32);
    for (uint32_t i = 0; i < h->max_procs; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        uint64_t zero = 0;
        if (atomic_load_explicit(&s->owner, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&s->owner, &zero, want)) {
            uint32_t hw = atomic_load(&h->slots_hw);
            while (hw < i + 1 && !atomic_compare_exchange_weak(&h->slots_hw, &hw, i + 1))
                ;
            /* a free slot has no lanes or pins in use (brain__slot_reap clears
             * them before it frees the owner word), but the file may say
             * otherwise: a lane left set would make brain__lane_enter spin forever */
            for (unsigned l = 0; l < LANES; l++)
                atomic_store(&s->lanes[l].epoch, 0);
            uint32_t npins = atomic_load(&s->npins_hw);
            for (uint32_t p = 0; p < PINS && p < npins; p++)
                atomic_store(&s->pins[p], 0);
            atomic_store(&s->npins_hw, 0);
            atomic_store(&s->nreserved, 0);
            s->start_time = state == SLOT_ACTIVE ? brain__plat_proc_start_time(pid) : 0;
            s->pending_since_ns = state == SLOT_PENDING ? brain__plat_now_ns() : 0;
            *out = i;
            return 0;
        }
    }
    return BRAIN_EPROCS;
}


void brain__slot_detach(brain *b)
{
    struct brain__slot *s = b->slot;
    if (!s)
        return;
    uint32_t hw = atomic_load(&s->npins_hw);
    for (uint32_t p = 0; p < hw && p < PINS; p++)
        atomic_store(&s->pins[p], 0);
    atomic_store(&s->npins_hw, 0);
    for (unsigned l = 0; l < LANES; l++)
        atomic_store(&s->lanes[l].epoch, 0);
    atomic_store(&s->nreserved, 0);
    atomic_store_explicit(&s->owner, 0, memory_order_release);
    b->slot = NULL;
}


/* A pending slot was reserved for a child by its parent's fork handler;
 * the child claims it within microseconds unless it died first.  The
 * parent cannot learn the child's pid from the handler, so a pending slot
 * is given up after a second, or at once when the table is full (the
 * child, if it lives, then attaches on its next call). */
int brain__slot_dead(brain *b, struct brain__slot *s, int mode)
{
    uint64_t owner = atomic_load(&s->owner);
    if (!owner || s == b->slot)
        return 0;
    if (mode == REAP_ALL)
        return 1;
    pid_t pid = (pid_t)(owner & 0xffffffffu);
    unsigned st = (unsigned)(owner >> 32);
    if (st == SLOT_PENDING)
        return mode == REAP_FULL || !brain__plat_proc_alive(pid, 0) ||
               brain__plat_now_ns() - s->pending_since_ns > 1000000000ll;
    if (st != SLOT_ACTIVE)
        return 1;
    return !brain__plat_proc_alive(pid, s->start_time);
}

void brain__slot_reap(brain *b, uint32_t i)
{
    struct brain__slot *s = brain__slot_at(b, i);
    for (uint32_t p = 0; p < PINS; p++)
        atomic_store(&s->pins[p], 0);
    atomic_store(&s->npins_hw, 0);
    for (unsigned l = 0; l < LANES; l++)
        atomic_store(&s->lanes[l].epoch, 0);
    atomic_store(&s->nreserved, 0);
    s->start_time = 0;
    s->pending_since_ns = 0;
    atomic_store_explicit(&s->owner, 0, memory_order_release);
}

/* A reservation is orphaned when the slot that made it is no longer owned
 * by the same process (the owner word was recorded in owner_word). */
int brain__reservation_orphaned(brain *b, const struct brain__block *blk)
{
    if (blk->owner == 0 || blk->owner > b->h->max_procs)
        return 1;
    return atomic_load(&brain__slot_at(b, blk->owner - 1)->owner) != blk->owner_word;
}

static void free_orphan_reservations(brain *b)
{
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size);
    size_t n = 0, cap = 0;
    uint64_t *orphans = NULL;
    for (uint64_t off = h->arena_off;;) {
        struct brain__block *blk = brain__block_or_sentinel_at(b, off);
        if (!blk)
            break;
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        if (bs_state(ss) == BS_SENTINEL || size < MIN_BLOCK || size > fs - off)
            break;
        if (bs_state(ss) == BS_RESERVED && brain__reservation_orphaned(b, blk)) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                uint64_t *no = realloc(orphans, nc * sizeof *no);
                if (!no)
                    break;
                orphans = no;
                cap = nc;
            }
            orphans[n++] = off;
        }
        off += size;
    }
    /* highest first: a lower block may merge into a freed higher one, never
     * the other way round, so every header we free is still a block start */
    while (n > 0)
        brain__alloc_free(b, orphans[--n]);
    free(orphans);
}

int brain__reap_dead(brain *b, size_t *reaped, int mode)
{
    struct brain__header *h = b->h;
    size_t n = 0;
    int had_res = 0;
    for (uint32_t i = 0; i < h->max_procs; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        if (brain__slot_dead(b, s, mode)) {
            if (atomic_load(&s->nreserved))
                had_res = 1;
            brain__slot_reap(b, i);
            n++;
        }
    }
    if (had_res)
        free_orphan_reservations(b);
    h->reaped += n;
    if (reaped)
        *reaped = n;
    return 0;
}
