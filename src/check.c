/*
 * check.c - brain_check, brain_repair and brain_reap: the maintenance calls.
 *
 * brain_check() validates every structure of the store under the writers'
 * lock without changing anything, one function per structure (block chain,
 * free lists, limbo list, name index, namespace table, process table), and
 * reports each problem through the caller's callback.  brain_repair() and
 * brain_reap() take the lock and run repair.c and proctable.c.  Nothing
 * below this layer calls into it.
 */
#include "internal.h"

#include <stdio.h>
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


int brain_reap(brain *b, size_t *reaped)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if ((rc = brain__writer_lock(b)))
        return rc;
    brain__reap_dead(b, reaped, REAP_DEAD);
    brain__limbo_reclaim(b, RECLAIM_READY);
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
    uint64_t found = 0;
    rc = brain__alloc_check_size(b, &found);
    if (rc == BRAIN_ETRUNCATED) {
        /* cut under this handle: salvaged when no other process has it open */
        int excl = 0;
        rc = brain__salvage_alone(b, found, &excl);
        if (rc == 0)
            rc = brain__salvage(b, found, REPAIR_SHARED, NULL, NULL, NULL);
        if (excl)
            brain__plat_exclusive(b, 0);
    } else if (rc == 0) {
        rc = brain__repair(b, REPAIR_SHARED); /* the lock marked the store dirty: a crash half
                                                 way leaves the next writer repairing */
    }
    b->h->recoveries++;
    brain__writer_unlock(b);
    return rc;
}

int brain_salvage(const char *store, brain_lost_fn lost, void *ctx, brain_salvage_info *info)
{
    brain__clear_error();
    return brain__salvage_open(store, lost, ctx, info);
}


/* ---- check ------------------------------------------------------------------ */

struct checker {
    brain *b;
    brain_report_fn report;
    void *ctx;
    size_t problems;
    /* what one structure's check hands to the next */
    uint64_t *blocks; /* every block start of the chain, ascending */
    size_t n;
    uint64_t nfree;   /* free blocks in the chain */
    uint64_t tblk;    /* the index block */
    uint8_t *seen;    /* blocks[k] is an entry the index links */
    uint64_t *nsnames, *nsbytes; /* per namespace record, from the entries */
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

/* The block chain, from the arena's start to the sentinel; fills
 * c->blocks.  -1 when the chain is broken (nothing else can be checked). */
static int check_chain(struct checker *c)
{
    brain *b = c->b;
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size);
    size_t cap = 1024, n = 0;
    uint64_t *blocks = malloc(cap * sizeof *blocks);
    if (!blocks) {
        problem(c, "out of memory while checking");
        return -1;
    }
    uint64_t off = h->arena_off, prev = 0, used = 0, limbo = 0, nfree = 0;
    int prev_free = 0, chain_ok = 1;
    for (;;) {
        struct brain__block *blk = brain__block_or_sentinel_at(b, off);
        if (!blk) {
            problem(c, "block chain runs past the end of the file at offset %llu", (unsigned long long)off);
            chain_ok = 0;
            break;
        }
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
        if (st == BS_RESERVED && brain__reservation_orphaned(b, blk))
            problem(c, "reservation at %llu belongs to no live process", (unsigned long long)off);
        if (st == BS_USED && blk->kind != BK_ENTRY && blk->kind != BK_INDEX)
            problem(c, "used block at %llu has unknown kind %u", (unsigned long long)off, blk->kind);
        prev_free = st == BS_FREE;
        if (n == cap) {
            uint64_t *nb = realloc(blocks, (cap *= 2) * sizeof *nb);
            if (!nb) {
                problem(c, "out of memory while checking");
                free(blocks);
                return -1;
            }
            blocks = nb;
        }
        blocks[n++] = off;
        prev = size;
        off += size;
    }
    if (!chain_ok) {
        free(blocks);
        return -1;
    }
    c->blocks = blocks;
    c->n = n;
    c->nfree = nfree;
    if (used != h->used)
        problem(c, "header says %llu bytes used, blocks add up to %llu", (unsigned long long)h->used,
                (unsigned long long)used);
    if (limbo != h->limbo_bytes)
        problem(c, "header says %llu bytes in limbo, blocks add up to %llu",
                (unsigned long long)h->limbo_bytes, (unsigned long long)limbo);
    return 0;
}

/* The free lists and their bitmaps against the chain. */
static void check_free_lists(struct checker *c)
{
    struct brain__header *h = c->b->h;
    brain *b = c->b;
    uint64_t *blocks = c->blocks;
    size_t n = c->n;
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
                struct brain__block *blk = find_block(blocks, n, f) ? brain__block_at(b, f) : NULL;
                if (!blk) {
                    problem(c, "free list %u/%u points at %llu, not a block", fl, sl, (unsigned long long)f);
                    break;
                }
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
    if (listed != c->nfree)
        problem(c, "%llu free blocks in the chain, %llu on the free lists", (unsigned long long)c->nfree,
                (unsigned long long)listed);
}

/* The limbo list: limbo blocks of the chain, as many as the header says. */
static void check_limbo(struct checker *c)
{
    brain *b = c->b;
    struct brain__header *h = b->h;
    uint64_t *blocks = c->blocks;
    size_t n = c->n;
    uint64_t lcount = 0;
    for (uint64_t l = h->limbo_head; l; ) {
        struct brain__block *lb = find_block(blocks, n, l) ? brain__block_at(b, l) : NULL;
        if (!lb || bs_state(atomic_load(&lb->sizestate)) != BS_LIMBO) {
            problem(c, "limbo list holds %llu, not a limbo block", (unsigned long long)l);
            break;
        }
        if (++lcount > n) {
            problem(c, "limbo list loops");
            break;
        }
        l = lb->next;
    }
    if (lcount != h->limbo_count)
        problem(c, "limbo list has %llu blocks, header says %llu", (unsigned long long)lcount,
                (unsigned long long)h->limbo_count);
}

/* The name index and every entry it links (names, hash, reachability,
 * value layout, namespace), then blocks no name or index owns.  -1 when
 * the index word is bad or memory ran out (nothing after can be checked). */
static int check_index(struct checker *c)
{
    brain *b = c->b;
    struct brain__header *h = b->h;
    uint64_t *blocks = c->blocks;
    size_t n = c->n;
    uint64_t packed = atomic_load(&h->index), tblk = packed & ~63ull;
    unsigned lg = (unsigned)(packed & 63);
    struct brain__block *tb = find_block(blocks, n, tblk) ? brain__block_at(b, tblk) : NULL;
    uint64_t nslots = 0;
    _Atomic uint64_t *t = brain__index_table(b, packed, &nslots);
    if (!tb || !t || tb->kind != BK_INDEX ||
        bs_size(atomic_load(&tb->sizestate)) < BLOCK_HDR + (8ull << lg)) {
        problem(c, "the name index word points at %llu (2^%u slots), not an index block",
                (unsigned long long)tblk, lg);
        return -1;
    }
    c->tblk = tblk;
    uint8_t *seen = c->seen = calloc(n, 1);
    uint64_t *nsnames = c->nsnames = calloc(h->max_namespaces, sizeof *nsnames);
    uint64_t *nsbytes = c->nsbytes = calloc(h->max_namespaces, sizeof *nsbytes);
    if (!seen || !nsnames || !nsbytes) {
        problem(c, "out of memory while checking");
        return -1;
    }
    uint64_t count = 0, tombs = 0, maxver = 0;
    for (uint64_t i = 0; i < nslots; i++) {
        uint64_t w = atomic_load(&t[i]);
        size_t at;
        struct brain__block *blk;
        const struct brain__entry *e;
        enum brain__word_kind kind = brain__index_word_at(b, w, blocks, n, &at, &blk, &e);
        if (kind == WORD_EMPTY)
            continue;
        if (kind == WORD_TOMB) {
            tombs++;
            continue;
        }
        uint64_t eb = brain__idx_block(w);
        if (kind == WORD_NO_BLOCK) {
            problem(c, "index slot %llu points at %llu, not a block", (unsigned long long)i, (unsigned long long)eb);
            continue;
        }
        if (kind == WORD_NO_ENTRY) {
            problem(c, "index slot %llu points at block %llu that is not a valid entry",
                    (unsigned long long)i, (unsigned long long)eb);
            continue;
        }
        if (seen[at])
            problem(c, "entry %llu is linked twice in the index", (unsigned long long)eb);
        seen[at] = 1;
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
        const void *val = brain__ptr(b, eb + BLOCK_HDR + e->data_off, e->size); /* brain__entry_at checked it */
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
        struct brain__block *blk = brain__block_or_sentinel_at(b, blocks[k]);
        uint64_t ss = atomic_load(&blk->sizestate);
        if (bs_state(ss) == BS_USED && blk->kind == BK_ENTRY && !seen[k])
            problem(c, "entry block at %llu is used but no name points at it (leaked)",
                    (unsigned long long)blocks[k]);
        if (bs_state(ss) == BS_USED && blk->kind == BK_INDEX && blocks[k] != tblk)
            problem(c, "index block at %llu is not the current index (leaked)", (unsigned long long)blocks[k]);
    }
    return 0;
}

/* The namespace table against the counts check_index gathered. */
static void check_namespaces(struct checker *c)
{
    brain *b = c->b;
    struct brain__header *h = b->h;
    for (uint32_t i = 0; i < h->max_namespaces; i++) {
        struct brain__nsrec *r = brain__nsrec_at(b, i);
        if (!atomic_load(&r->used))
            continue;
        if (r->len == 0 || r->len > BRAIN_NS_MAX) {
            problem(c, "namespace record %u has length %u", i, r->len);
            continue;
        }
        if (r->names != c->nsnames[i] || r->bytes != c->nsbytes[i])
            problem(c, "namespace '%.*s' says %llu names/%llu bytes, entries give %llu/%llu", (int)r->len,
                    r->name, (unsigned long long)r->names, (unsigned long long)r->bytes,
                    (unsigned long long)c->nsnames[i], (unsigned long long)c->nsbytes[i]);
    }
}

/* The process table: slot states, pin counts, pins that name blocks. */
static void check_slots(struct checker *c)
{
    brain *b = c->b;
    struct brain__header *h = b->h;
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
            if (v && !find_block(c->blocks, c->n, v))
                problem(c, "process slot %u pins %llu, not a block", i, (unsigned long long)v);
        }
    }
}

/* Each structure in turn; a broken chain or index word stops the rest, as
 * their checks would follow it. */
static void check_locked(struct checker *c)
{
    if (check_chain(c) == 0) {
        check_free_lists(c);
        check_limbo(c);
        if (check_index(c) == 0) {
            check_namespaces(c);
            check_slots(c);
        }
    }
    free(c->seen);
    free(c->nsnames);
    free(c->nsbytes);
    free(c->blocks);
}

int brain_check(brain *b, brain_report_fn report, void *ctx)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    /* waits at most 2 s for the writers' lock (a writer's hold is short),
     * never for a holder that is stopped or stuck: that is reported */
    if ((rc = brain__writer_lock_within(b, LOCK_ALLOW_CORRUPT, 2000)) == BRAIN_EWOULDBLOCK) {
        const char *st;
        uint32_t pid = brain__writer_lock_holder(b, &st);
        char msg[200];
        snprintf(msg, sizeof msg, "the writers' lock is held by pid %u (%s), so the store was "
                 "not checked; run the check again when it is released", pid, st);
        if (report)
            report(ctx, msg);
        return brain__fail(BRAIN_ELOCKED, "store '%s': %s", b->path, msg);
    }
    if (rc)
        return rc;
    struct checker c = {.b = b, .report = report, .ctx = ctx};
    uint64_t found = 0;
    if ((rc = brain__alloc_check_size(b, &found))) {
        /* cut under this handle: walking the arena would SIGBUS */
        char msg[300];
        snprintf(msg, sizeof msg, "the store file was truncated while open: the header says %llu "
                 "bytes, the file has %llu; stop every process using it and run `brain check "
                 "--repair` to salvage what is left", (unsigned long long)atomic_load(&b->h->file_size),
                 (unsigned long long)found);
        brain__writer_unlock(b);
        if (report && rc == BRAIN_ETRUNCATED)
            report(ctx, msg);
        return rc;
    }
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
