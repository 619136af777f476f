/*
 * recover.c - dead processes, repair after a writer died, and the full
 * consistency check.
 *
 * The block chain and the name index are the source of truth; everything
 * else (free lists, limbo list, counters, namespace table, prev_size tags)
 * is derived and rebuilt here.  brain__repair() runs under the writers' lock when
 * pthread_mutex_lock returned EOWNERDEAD, and at open when the opener is
 * alone and the store was left dirty.  An entry block that the index does
 * not reference goes to limbo (a reader may still hold it); an orphaned
 * reservation is freed.
 *
 * brain_check() validates every structure without changing anything.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* A pending slot was reserved for a child by its parent's fork handler;
 * the child claims it within microseconds unless it died first.  The
 * parent cannot learn the child's pid from the handler, so a pending slot
 * is given up after a second, or at once when the table is full (the
 * child, if it lives, then attaches on its next call). */
static int slot_dead(brain *b, struct brain__slot *s, int mode)
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
 * by the same process (the owner word was recorded in pad[0]). */
static int reservation_orphaned(brain *b, const struct brain__block *blk)
{
    if (blk->owner == 0 || blk->owner > b->h->max_procs)
        return 1;
    return atomic_load(&brain__slot_at(b, blk->owner - 1)->owner) != blk->pad[0];
}

static void free_orphan_reservations(brain *b)
{
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size);
    size_t n = 0, cap = 0;
    uint64_t *orphans = NULL;
    for (uint64_t off = h->arena_off; off + BLOCK_HDR <= fs;) {
        struct brain__block *blk = (struct brain__block *)(b->rw + off);
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        if (bs_state(ss) == BS_SENTINEL || size < MIN_BLOCK || off + size > fs)
            break;
        if (bs_state(ss) == BS_RESERVED && reservation_orphaned(b, blk)) {
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
        if (slot_dead(b, s, mode)) {
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

int brain_reap(brain *b, size_t *reaped)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if ((rc = brain__writer_lock(b)))
        return rc;
    brain__reap_dead(b, reaped, 0);
    brain__limbo_reclaim(b, 0);
    brain__writer_unlock(b);
    return 0;
}

int brain_repair(brain *b)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if ((rc = brain__writer_lock(b)))
        return rc;
    rc = brain__repair(b, 0); /* the lock marked the store dirty: a crash half way
                          leaves the next writer repairing */
    b->h->recoveries++;
    brain__writer_unlock(b);
    return rc;
}

/* ---- repair ---------------------------------------------------------------- */

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
        if (off + BLOCK_HDR > fs) {
            free(blocks);
            h->corrupt = 1;
            return brain__fail(BRAIN_ECORRUPT,
                           "store '%s': the block chain runs past the end of the file at offset %llu",
                           b->path, (unsigned long long)off);
        }
        struct brain__block *blk = (struct brain__block *)(b->rw + off);
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

int brain__repair(brain *b, int all_dead)
{
    struct brain__header *h = b->h;
    uint64_t *blocks = NULL;
    size_t nblocks = 0;

    h->needs_repair = 0;
    /* 1. the dead leave the process table */
    size_t reaped = 0;
    for (uint32_t i = 0; i < h->max_procs; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        if (slot_dead(b, s, all_dead ? REAP_ALL : REAP_DEAD)) {
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
    struct brain__block *tb = find_block(blocks, nblocks, tblk) ? (struct brain__block *)(b->rw + tblk) : NULL;
    if (!tb || lg < IDX_MIN_LOG2 || lg > 36 || bs_state(atomic_load(&tb->sizestate)) != BS_USED ||
        tb->kind != BK_INDEX || bs_size(atomic_load(&tb->sizestate)) < BLOCK_HDR + (8ull << lg)) {
        free(blocks);
        h->corrupt = 1;
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    }
    _Atomic uint64_t *t = (_Atomic uint64_t *)(b->rw + tblk + BLOCK_HDR);
    uint64_t nslots = 1ull << lg, count = 0, tombs = 0, maxver = 0;
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
        uint64_t eb = (w & IDX_OFF_MASK) << 6;
        uint64_t *pos = bsearch(&eb, blocks, nblocks, sizeof *blocks, cmp_u64);
        struct brain__block *blk = pos ? (struct brain__block *)(b->rw + eb) : NULL;
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
        if (st == BS_RESERVED && (all_dead || reservation_orphaned(b, blk)))
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

/* ---- check ------------------------------------------------------------------ */

struct checker {
    brain *b;
    brain_report_fn report;
    void *ctx;
    size_t problems;
};

__attribute__((format(printf, 2, 3))) static void problem(struct checker *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->report && c->problems <= 1000)
        c->report(c->ctx, msg);
}

static void check_locked(struct checker *c)
{
    brain *b = c->b;
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size);
    size_t cap = 1024, n = 0;
    uint64_t *blocks = malloc(cap * sizeof *blocks);
    if (!blocks) {
        problem(c, "out of memory while checking");
        return;
    }
    /* the chain */
    uint64_t off = h->arena_off, prev = 0, used = 0, limbo = 0, nfree = 0;
    int prev_free = 0, chain_ok = 1;
    for (;;) {
        if (off + BLOCK_HDR > fs) {
            problem(c, "block chain runs past the end of the file at offset %llu", (unsigned long long)off);
            chain_ok = 0;
            break;
        }
        struct brain__block *blk = (struct brain__block *)(b->rw + off);
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        unsigned st = bs_state(ss);
        if (blk->prev_size != prev)
            problem(c, "block at %llu: prev_size tag %llu, previous block is %llu bytes",
                    (unsigned long long)off, (unsigned long long)blk->prev_size, (unsigned long long)prev);
        if (st == BS_SENTINEL) {
            if (off + BLOCK_HDR != fs)
                problem(c, "sentinel block at %llu before the end of the arena (%llu)",
                        (unsigned long long)off, (unsigned long long)fs);
            break;
        }
        if (size < MIN_BLOCK || off + size > fs - BLOCK_HDR || st < BS_FREE || st > BS_RESERVED) {
            problem(c, "block at %llu has an impossible header (size %llu, state %u)",
                    (unsigned long long)off, (unsigned long long)size, st);
            chain_ok = 0;
            break;
        }
        if (st == BS_FREE && prev_free)
            problem(c, "free block at %llu follows another free block (not coalesced)", (unsigned long long)off);
        if (st == BS_FREE)
            nfree++;
        else if (st == BS_LIMBO)
            limbo += size;
        else
            used += size;
        if (st == BS_RESERVED && reservation_orphaned(b, blk))
            problem(c, "reservation at %llu belongs to no live process", (unsigned long long)off);
        if (st == BS_USED && blk->kind != BK_ENTRY && blk->kind != BK_INDEX)
            problem(c, "used block at %llu has unknown kind %u", (unsigned long long)off, blk->kind);
        prev_free = st == BS_FREE;
        if (n == cap) {
            uint64_t *nb = realloc(blocks, (cap *= 2) * sizeof *nb);
            if (!nb) {
                problem(c, "out of memory while checking");
                free(blocks);
                return;
            }
            blocks = nb;
        }
        blocks[n++] = off;
        prev = size;
        off += size;
    }
    if (!chain_ok) {
        free(blocks);
        return;
    }
    if (used != h->used)
        problem(c, "header says %llu bytes used, blocks add up to %llu", (unsigned long long)h->used,
                (unsigned long long)used);
    if (limbo != h->limbo_bytes)
        problem(c, "header says %llu bytes in limbo, blocks add up to %llu",
                (unsigned long long)h->limbo_bytes, (unsigned long long)limbo);

    /* free lists */
    uint64_t listed = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++)
        if ((h->sl_bitmap[fl] & ~SL_MASK) || !!(h->fl_bitmap & (1ull << fl)) != !!h->sl_bitmap[fl])
            problem(c, "free-list bitmaps of class %u are inconsistent", fl);
    if (h->fl_bitmap >> FL_COUNT)
        problem(c, "free-list bitmap has bits past the last class");
    for (unsigned fl = 0; fl < FL_COUNT; fl++)
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            int bit = !!(h->sl_bitmap[fl] & (1u << sl));
            if (bit != !!h->heads[fl][sl])
                problem(c, "free-list bitmap disagrees with list %u/%u", fl, sl);
            uint64_t prevoff = 0;
            for (uint64_t f = h->heads[fl][sl]; f; ) {
                if (!find_block(blocks, n, f)) {
                    problem(c, "free list %u/%u points at %llu, not a block", fl, sl, (unsigned long long)f);
                    break;
                }
                struct brain__block *blk = (struct brain__block *)(b->rw + f);
                if (bs_state(atomic_load(&blk->sizestate)) != BS_FREE)
                    problem(c, "free list %u/%u holds block %llu that is not free", fl, sl, (unsigned long long)f);
                if (blk->prev != prevoff)
                    problem(c, "free list %u/%u: back link of %llu is wrong", fl, sl, (unsigned long long)f);
                if (++listed > n) {
                    problem(c, "free lists loop");
                    break;
                }
                prevoff = f;
                f = blk->next;
            }
        }
    if (listed != nfree)
        problem(c, "%llu free blocks in the chain, %llu on the free lists", (unsigned long long)nfree,
                (unsigned long long)listed);
    /* limbo list */
    uint64_t lcount = 0;
    for (uint64_t l = h->limbo_head; l; ) {
        if (!find_block(blocks, n, l) ||
            bs_state(atomic_load(&((struct brain__block *)(b->rw + l))->sizestate)) != BS_LIMBO) {
            problem(c, "limbo list holds %llu, not a limbo block", (unsigned long long)l);
            break;
        }
        if (++lcount > n) {
            problem(c, "limbo list loops");
            break;
        }
        l = ((struct brain__block *)(b->rw + l))->next;
    }
    if (lcount != h->limbo_count)
        problem(c, "limbo list has %llu blocks, header says %llu", (unsigned long long)lcount,
                (unsigned long long)h->limbo_count);

    /* the index and its entries */
    uint64_t packed = atomic_load(&h->index), tblk = packed & ~63ull;
    unsigned lg = (unsigned)(packed & 63);
    if (!find_block(blocks, n, tblk) || lg < IDX_MIN_LOG2 || lg > 36 ||
        ((struct brain__block *)(b->rw + tblk))->kind != BK_INDEX ||
        bs_size(atomic_load(&((struct brain__block *)(b->rw + tblk))->sizestate)) < BLOCK_HDR + (8ull << lg)) {
        problem(c, "the name index word points at %llu (2^%u slots), not an index block",
                (unsigned long long)tblk, lg);
        free(blocks);
        return;
    }
    uint8_t *seen = calloc(n, 1);
    uint64_t *nsnames = calloc(h->max_namespaces, sizeof *nsnames);
    uint64_t *nsbytes = calloc(h->max_namespaces, sizeof *nsbytes);
    if (!seen || !nsnames || !nsbytes) {
        problem(c, "out of memory while checking");
        goto out;
    }
    _Atomic uint64_t *t = (_Atomic uint64_t *)(b->rw + tblk + BLOCK_HDR);
    uint64_t nslots = 1ull << lg, count = 0, tombs = 0, maxver = 0;
    for (uint64_t i = 0; i < nslots; i++) {
        uint64_t w = atomic_load(&t[i]);
        if (w == IDX_EMPTY)
            continue;
        if (w == IDX_TOMB) {
            tombs++;
            continue;
        }
        uint64_t eb = (w & IDX_OFF_MASK) << 6;
        uint64_t *pos = bsearch(&eb, blocks, n, sizeof *blocks, cmp_u64);
        if (!pos) {
            problem(c, "index slot %llu points at %llu, not a block", (unsigned long long)i, (unsigned long long)eb);
            continue;
        }
        struct brain__block *blk = (struct brain__block *)(b->rw + eb);
        const struct brain__entry *e = brain__entry_at(b, eb);
        if (bs_state(atomic_load(&blk->sizestate)) != BS_USED || blk->kind != BK_ENTRY || !e) {
            problem(c, "index slot %llu points at block %llu that is not a valid entry",
                    (unsigned long long)i, (unsigned long long)eb);
            continue;
        }
        if (seen[pos - blocks])
            problem(c, "entry %llu is linked twice in the index", (unsigned long long)eb);
        seen[pos - blocks] = 1;
        count++;
        const char *ens = brain__entry_ns(e), *ename = brain__entry_name(e);
        if (BLOCK_HDR + e->data_off + e->size > bs_size(atomic_load(&blk->sizestate)))
            problem(c, "entry '%.*s' value runs past its block", (int)e->name_len, ename);
        if (ens[e->ns_len] || ename[e->name_len] || brain__entry_desc(e)[e->desc_len] ||
            !brain__utf8_valid(ens, e->ns_len) || !brain__utf8_valid(ename, e->name_len)) {
            problem(c, "entry at %llu has malformed names", (unsigned long long)eb);
            continue;
        }
        if (brain__key_hash(h->hash_seed, ens, e->ns_len, ename, e->name_len) != e->hash || (e->hash >> 40) != (w >> 40))
            problem(c, "entry '%s/%s' has a wrong hash", ens, ename);
        else if ((e->hash & (nslots - 1)) != i) {
            /* it must be reachable: no empty slot between home and i */
            for (uint64_t j = e->hash & (nslots - 1); j != i; j = (j + 1) & (nslots - 1))
                if (atomic_load(&t[j]) == IDX_EMPTY) {
                    problem(c, "entry '%s/%s' is unreachable in the index", ens, ename);
                    break;
                }
        }
        if (e->version > maxver)
            maxver = e->version;
        const void *val = b->rw + eb + BLOCK_HDR + e->data_off;
        if (e->type < BRAIN_TYPE_USER && e->type <= BRAIN_TYPE_JSON && brain__value_validate(e->type, val, e->size))
            problem(c, "entry '%s/%s': %s value is malformed: %s", ens, ename, brain_type_name(e->type),
                    brain_errdetail());
        int ni = brain__ns_find(b, ens, e->ns_len);
        if (ni < 0)
            problem(c, "entry '%s/%s': namespace has no record", ens, ename);
        else {
            nsnames[ni]++;
            nsbytes[ni] += e->size;
        }
    }
    if (count != h->index_count || tombs != h->index_tombs)
        problem(c, "index holds %llu names and %llu tombstones, header says %llu and %llu",
                (unsigned long long)count, (unsigned long long)tombs, (unsigned long long)h->index_count,
                (unsigned long long)h->index_tombs);
    if (maxver > atomic_load(&h->version))
        problem(c, "an entry has version %llu, above the store's %llu", (unsigned long long)maxver,
                (unsigned long long)atomic_load(&h->version));
    for (size_t k = 0; k < n; k++) {
        struct brain__block *blk = (struct brain__block *)(b->rw + blocks[k]);
        uint64_t ss = atomic_load(&blk->sizestate);
        if (bs_state(ss) == BS_USED && blk->kind == BK_ENTRY && !seen[k])
            problem(c, "entry block at %llu is used but no name points at it (leaked)",
                    (unsigned long long)blocks[k]);
        if (bs_state(ss) == BS_USED && blk->kind == BK_INDEX && blocks[k] != tblk)
            problem(c, "index block at %llu is not the current index (leaked)", (unsigned long long)blocks[k]);
    }
    for (uint32_t i = 0; i < h->max_namespaces; i++) {
        struct brain__nsrec *r = brain__nsrec_at(b, i);
        if (!atomic_load(&r->used))
            continue;
        if (r->len == 0 || r->len > BRAIN_NS_MAX) {
            problem(c, "namespace record %u has length %u", i, r->len);
            continue;
        }
        if (r->names != nsnames[i] || r->bytes != nsbytes[i])
            problem(c, "namespace '%.*s' says %llu names/%llu bytes, entries give %llu/%llu", (int)r->len,
                    r->name, (unsigned long long)r->names, (unsigned long long)r->bytes,
                    (unsigned long long)nsnames[i], (unsigned long long)nsbytes[i]);
    }
    /* the process table */
    for (uint32_t i = 0; i < h->max_procs; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        uint64_t owner = atomic_load(&s->owner);
        if (!owner)
            continue;
        unsigned st = (unsigned)(owner >> 32);
        if (st != SLOT_ACTIVE && st != SLOT_PENDING)
            problem(c, "process slot %u has unknown state %u", i, st);
        uint32_t hw = atomic_load(&s->npins_hw);
        if (hw > PINS)
            problem(c, "process slot %u: pin count %u over the limit", i, hw);
        for (uint32_t p = 0; p < hw && p < PINS; p++) {
            uint64_t v = atomic_load(&s->pins[p]);
            if (v && !find_block(blocks, n, v))
                problem(c, "process slot %u pins %llu, not a block", i, (unsigned long long)v);
        }
    }
out:
    free(seen);
    free(nsnames);
    free(nsbytes);
    free(blocks);
}

int brain_check(brain *b, brain_report_fn report, void *ctx)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    /* waits at most 2 s for the writers' lock (a writer's hold is short),
     * never for a holder that is stopped or stuck: that is reported */
    if ((rc = writer_lock_within(b, 1, 2000)) == BRAIN_EWOULDBLOCK) {
        const char *st;
        uint32_t pid = writer_lock_holder(b, &st);
        char msg[200];
        snprintf(msg, sizeof msg, "the writers' lock is held by pid %u (%s), so the store was "
                 "not checked; run the check again when it is released", pid, st);
        if (report)
            report(ctx, msg);
        return brain__fail(BRAIN_ELOCKED, "store '%s': %s", b->path, msg);
    }
    if (rc)
        return rc;
    struct checker c = {b, report, ctx, 0};
    if (b->h->corrupt)
        problem(&c, "a repair found damage it could not mend (the store refuses writes): "
                    "save what reads back and recreate the store");
    check_locked(&c);
    brain__writer_unlock(b);
    if (c.problems)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': check found %zu problem%s", b->path, c.problems,
                       c.problems == 1 ? "" : "s");
    return 0;
}
