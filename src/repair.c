/*
 * repair.c - rebuilding derived state after a writer died.
 *
 * The block chain and the name index are the source of truth; everything
 * else (free lists, limbo list, counters, namespace table, prev_size tags)
 * is derived and rebuilt here.  brain__repair() runs under the writers' lock
 * when pthread_mutex_lock returned EOWNERDEAD, and at open when the opener
 * is alone and the store was left dirty.  An entry block that the index
 * does not reference goes to limbo (a reader may still hold it); an
 * orphaned reservation is freed.  The caller holds the lock: this file
 * takes no lock, reaps no process (proctable.c) and checks nothing it does
 * not mend (check.c).
 */
#include "internal.h"

#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int find_block(const uint64_t *blocks, size_t n, uint64_t off)
{
    return bsearch(&off, blocks, n, sizeof *blocks, cmp_u64) != NULL;
}

/* Walks the chain, finishing an interrupted growth or shrink, fixing
 * prev_size tags.  Fills *blocks (malloc'ed) with every block start. */
static int walk_chain(brain *b, uint64_t **blocks_out, size_t *n_out)
{
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size);
    size_t cap = 1024, n = 0;
    uint64_t *blocks = malloc(cap * sizeof *blocks);
    if (!blocks)
        return brain__fail(BRAIN_ENOMEM, "out of memory during repair");
    uint64_t off = h->arena_off, prev = 0;
    for (;;) {
        struct brain__block *blk = brain__block_or_sentinel_at(b, off);
        if (!blk) {
            free(blocks);
            h->corrupt = 1;
            return brain__fail(BRAIN_ECORRUPT,
                           "store '%s': the block chain runs past the end of the file at offset %llu",
                           b->path, (unsigned long long)off);
        }
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        unsigned st = bs_state(ss);
        if (st == BS_SENTINEL) {
            if (off + BLOCK_HDR == fs) {
                blk->prev_size = prev;
                break;
            }
            /* a growth was interrupted: the old sentinel becomes free space */
            struct brain__block *end = (struct brain__block *)(b->rw + fs - BLOCK_HDR);
            memset(end, 0, sizeof *end);
            atomic_store(&end->sizestate, BLOCK_HDR | BS_SENTINEL);
            size = fs - BLOCK_HDR - off;
            blk->kind = BK_NONE;
            atomic_store(&blk->sizestate, size | BS_FREE);
            st = BS_FREE;
        }
        if (size < MIN_BLOCK || off + size > fs - BLOCK_HDR || st < BS_FREE || st > BS_RESERVED) {
            free(blocks);
            h->corrupt = 1;
            return brain__fail(BRAIN_ECORRUPT,
                           "store '%s': block at offset %llu has an impossible header "
                           "(size %llu, state %u)",
                           b->path, (unsigned long long)off, (unsigned long long)size, st);
        }
        blk->prev_size = prev;
        if (n == cap) {
            cap *= 2;
            uint64_t *nb = realloc(blocks, cap * sizeof *nb);
            if (!nb) {
                free(blocks);
                return brain__fail(BRAIN_ENOMEM, "out of memory during repair");
            }
            blocks = nb;
        }
        blocks[n++] = off;
        prev = size;
        off += size;
    }
    *blocks_out = blocks;
    *n_out = n;
    return 0;
}

int brain__repair(brain *b, enum brain__repair_mode mode)
{
    struct brain__header *h = b->h;
    uint64_t *blocks = NULL;
    size_t nblocks = 0;

    h->needs_repair = 0;
    /* 1. the dead leave the process table */
    size_t reaped = 0;
    for (uint32_t i = 0; i < h->max_procs; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        if (brain__slot_dead(b, s, mode == REPAIR_ALONE ? REAP_ALL : REAP_DEAD)) {
            brain__slot_reap(b, i);
            reaped++;
        }
    }
    h->reaped += reaped;

    /* 2. the block chain */
    int rc = walk_chain(b, &blocks, &nblocks);
    if (rc)
        return rc;

    /* 3. the index: which entries are live */
    uint64_t packed = atomic_load(&h->index);
    uint64_t tblk = packed & ~63ull;
    unsigned lg = (unsigned)(packed & 63);
    struct brain__block *tb = find_block(blocks, nblocks, tblk) ? brain__block_at(b, tblk) : NULL;
    uint64_t nslots = 0;
    _Atomic uint64_t *t = brain__index_table(b, packed, &nslots);
    if (!tb || !t || lg < IDX_MIN_LOG2 || lg > 36 || bs_state(atomic_load(&tb->sizestate)) != BS_USED ||
        tb->kind != BK_INDEX || bs_size(atomic_load(&tb->sizestate)) < BLOCK_HDR + (8ull << lg)) {
        free(blocks);
        h->corrupt = 1;
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    }
    uint64_t count = 0, tombs = 0, maxver = 0;
    uint8_t *live = calloc(nblocks, 1);
    if (!live) {
        free(blocks);
        return brain__fail(BRAIN_ENOMEM, "out of memory during repair");
    }
    for (uint64_t i = 0; i < nslots; i++) {
        uint64_t w = atomic_load(&t[i]);
        if (w == IDX_EMPTY)
            continue;
        if (w == IDX_TOMB) {
            tombs++;
            continue;
        }
        uint64_t eb = brain__idx_block(w);
        uint64_t *pos = bsearch(&eb, blocks, nblocks, sizeof *blocks, cmp_u64);
        struct brain__block *blk = pos ? brain__block_at(b, eb) : NULL;
        const struct brain__entry *e = blk ? brain__entry_at(b, eb) : NULL;
        if (!e || bs_state(atomic_load(&blk->sizestate)) != BS_USED || blk->kind != BK_ENTRY ||
            live[pos - blocks] || (e->hash >> 40) != (w >> 40)) {
            atomic_store(&t[i], IDX_TOMB); /* a damaged word: the name is lost */
            tombs++;
            continue;
        }
        live[pos - blocks] = 1;
        count++;
        if (e->version > maxver)
            maxver = e->version;
    }
    h->index_count = count;
    h->index_tombs = tombs;

    /* 4. free lists, limbo, counters */
    brain__alloc_reset_lists(b);
    h->used = 0;
    h->limbo_head = 0;
    h->limbo_count = 0;
    h->limbo_bytes = 0;
    uint64_t epoch = atomic_load(&h->epoch);
    uint64_t run = 0, run_size = 0, nb = 0, prev_size = 0;
    uint64_t *limbo_tail = &h->limbo_head;
    for (size_t k = 0; k < nblocks; k++) {
        uint64_t off = blocks[k];
        struct brain__block *blk = (struct brain__block *)(b->rw + off);
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        unsigned st = bs_state(ss);
        if (st == BS_USED && ((blk->kind == BK_ENTRY && !live[k]) ||
                              (blk->kind == BK_INDEX && off != tblk) ||
                              (blk->kind != BK_ENTRY && blk->kind != BK_INDEX))) {
            blk->epoch = epoch;
            atomic_store(&blk->sizestate, size | BS_LIMBO);
            st = BS_LIMBO;
        }
        if (st == BS_RESERVED && (mode == REPAIR_ALONE || brain__reservation_orphaned(b, blk)))
            st = BS_FREE;
        if (st == BS_FREE) {
            blk->kind = BK_NONE;
            if (run) {
                run_size += size;
                atomic_store(&((struct brain__block *)(b->rw + run))->sizestate, run_size | BS_FREE);
                continue;
            }
            atomic_store(&blk->sizestate, size | BS_FREE);
            blk->prev_size = prev_size;
            blk->backed = 0; /* holes may have been punched: not known */
            run = off;
            run_size = size;
            continue;
        }
        if (run) {
            brain__alloc_insert_free(b, run, run_size);
            nb++;
            prev_size = run_size;
            run = 0;
        }
        blk->prev_size = prev_size;
        prev_size = size;
        nb++;
        if (st == BS_LIMBO) {
            blk->next = 0;
            *limbo_tail = off;
            limbo_tail = &blk->next;
            h->limbo_count++;
            h->limbo_bytes += size;
        } else {
            h->used += size;
        }
    }
    if (run) {
        brain__alloc_insert_free(b, run, run_size);
        nb++;
        prev_size = run_size;
    }
    ((struct brain__block *)(b->rw + atomic_load(&h->file_size) - BLOCK_HDR))->prev_size = prev_size;
    h->nblocks = nb;

    /* 5. namespaces, from the live entries */
    for (uint32_t i = 0; i < h->max_namespaces; i++)
        atomic_store(&brain__nsrec_at(b, i)->used, 0);
    brain__ns_get_or_add(b, "default", 7);
    for (size_t k = 0; k < nblocks; k++) {
        if (!live[k])
            continue;
        const struct brain__entry *e = brain__entry_at(b, blocks[k]);
        int ni = brain__ns_get_or_add(b, brain__entry_ns(e), e->ns_len);
        if (ni >= 0) {
            struct brain__nsrec *r = brain__nsrec_at(b, (uint32_t)ni);
            r->names++;
            r->bytes += e->size;
            if (e->version > r->version)
                r->version = e->version;
        }
    }
    if (atomic_load(&h->version) < maxver)
        atomic_store(&h->version, maxver);
    if (atomic_load(&h->batch_seq) & 1)
        atomic_fetch_add(&h->batch_seq, 1);
    atomic_fetch_add(&h->epoch, 1);
    free(live);
    free(blocks);
    return 0;
}
