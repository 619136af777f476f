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

#include <errno.h>
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

enum brain__word_kind brain__index_word_at(brain *b, uint64_t w, const uint64_t *blocks, size_t n, size_t *at,
                                           struct brain__block **blk, const struct brain__entry **e)
{
    *at = 0;
    *blk = NULL;
    *e = NULL;
    if (w == IDX_EMPTY)
        return WORD_EMPTY;
    if (w == IDX_TOMB)
        return WORD_TOMB;
    uint64_t eb = brain__idx_block(w);
    const uint64_t *pos = bsearch(&eb, blocks, n, sizeof *blocks, cmp_u64);
    if (!pos)
        return WORD_NO_BLOCK;
    struct brain__block *bk = brain__block_at(b, eb);
    const struct brain__entry *en = bk ? brain__entry_at(b, eb) : NULL;
    if (!en || bs_state(atomic_load(&bk->sizestate)) != BS_USED || bk->kind != BK_ENTRY)
        return WORD_NO_ENTRY;
    *at = (size_t)(pos - blocks);
    *blk = bk;
    *e = en;
    return WORD_ENTRY;
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
        size_t at;
        struct brain__block *blk;
        const struct brain__entry *e;
        enum brain__word_kind kind = brain__index_word_at(b, w, blocks, nblocks, &at, &blk, &e);
        if (kind == WORD_EMPTY)
            continue;
        if (kind == WORD_TOMB) {
            tombs++;
            continue;
        }
        if (kind != WORD_ENTRY || live[at] || (e->hash >> 40) != (w >> 40)) {
            atomic_store(&t[i], IDX_TOMB); /* a damaged word: the name is lost */
            tombs++;
            continue;
        }
        live[at] = 1;
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

/* ---- salvage of a truncated file ------------------------------------------ */

/* The namespace and name of the entry in block OFF when both lie below CUT
 * and read as an entry's (its value was cut through, its key was not);
 * 0 when they cannot be read. */
static int cut_entry_key(brain *b, uint64_t off, uint64_t cut, const char **ns, const char **name)
{
    if (off + BLOCK_HDR + ENTRY_FIXED > cut)
        return 0;
    struct brain__block *blk = (struct brain__block *)(b->rw + off);
    const struct brain__entry *e = (const struct brain__entry *)(b->rw + off + BLOCK_HDR);
    uint64_t ss = atomic_load(&blk->sizestate);
    if (bs_state(ss) != BS_USED || blk->kind != BK_ENTRY || e->magic != ENTRY_MAGIC ||
        e->ns_len == 0 || e->ns_len > BRAIN_NS_MAX || e->name_len == 0 || e->name_len > BRAIN_NAME_MAX ||
        off + BLOCK_HDR + ENTRY_FIXED + (uint64_t)e->ns_len + e->name_len + 2 > cut)
        return 0;
    const char *s = e->strings;
    if (s[e->ns_len] || s[e->ns_len + 1 + e->name_len] || !brain__utf8_valid(s, e->ns_len) ||
        !brain__utf8_valid(s + e->ns_len + 1, e->name_len) || memchr(s, 0, e->ns_len) ||
        memchr(s + e->ns_len + 1, 0, e->name_len))
        return 0;
    *ns = s;
    *name = s + e->ns_len + 1;
    return 1;
}

/* A new index holding every whole entry block of BLOCKS (the highest
 * version wins when a key appears twice: a replace that a crash cut short).
 * The chain is consistent and the free blocks are on their lists. */
static int rebuild_index(brain *b, const uint64_t *blocks, size_t n)
{
    struct brain__header *h = b->h;
    uint64_t entries = 0;
    for (size_t k = 0; k < n; k++) {
        struct brain__block *blk = (struct brain__block *)(b->rw + blocks[k]);
        if (bs_state(atomic_load(&blk->sizestate)) == BS_USED && blk->kind == BK_ENTRY)
            entries++;
    }
    unsigned lg = IDX_MIN_LOG2;
    while (entries * 2 > (1ull << lg) && lg < 36)
        lg++;
    int rc = brain__index_create(b, lg);
    if (rc)
        return rc;
    for (size_t k = 0; k < n; k++) {
        struct brain__block *blk = (struct brain__block *)(b->rw + blocks[k]);
        if (bs_state(atomic_load(&blk->sizestate)) != BS_USED || blk->kind != BK_ENTRY)
            continue;
        const struct brain__entry *e = brain__entry_at(b, blocks[k]);
        if (!e)
            continue;
        const char *ns = brain__entry_ns(e), *name = brain__entry_name(e);
        if (ns[e->ns_len] || name[e->name_len] || !brain__utf8_valid(ns, e->ns_len) ||
            !brain__utf8_valid(name, e->name_len) ||
            brain__key_hash(h->hash_seed, ns, e->ns_len, name, e->name_len) != e->hash)
            continue; /* damaged: repair sends the block to limbo */
        int existing = 0;
        uint64_t *slot = brain__index_slot_for(b, e->hash, ns, e->ns_len, name, e->name_len, &existing);
        if (!slot)
            continue;
        if (existing) {
            const struct brain__entry *o = brain__entry_at(b, brain__idx_block(*slot));
            if (o && o->version >= e->version)
                continue;
        }
        atomic_store((_Atomic uint64_t *)slot, brain__idx_word(e->hash, blocks[k]));
        if (!existing)
            h->index_count++;
    }
    return 0;
}

int brain__salvage(brain *b, uint64_t cut, enum brain__repair_mode mode, brain_lost_fn lost,
                   void *ctx, brain_salvage_info *info)
{
    struct brain__header *h = b->h;
    uint64_t fs = atomic_load(&h->file_size), old_count = h->index_count;
    brain_salvage_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    info->truncated = 1;
    info->header_size = fs;
    info->found_size = cut;

    /* 1. the whole blocks below the cut; END is where the first block that
     * is not whole (or the sentinel of a growth that was cut short) starts.
     * Steps 1 to 3 only read, and only below the cut. */
    size_t cap = 1024, n = 0;
    uint64_t *blocks = malloc(cap * sizeof *blocks);
    if (!blocks)
        return brain__fail(BRAIN_ENOMEM, "out of memory during salvage");
    uint64_t off = h->arena_off, straddle = 0;
    while (off + BLOCK_HDR <= cut) {
        struct brain__block *blk = brain__block_or_sentinel_at(b, off);
        uint64_t ss = blk ? atomic_load(&blk->sizestate) : 0, size = bs_size(ss);
        unsigned st = bs_state(ss);
        if (blk && st == BS_SENTINEL)
            break;
        if (!blk || size < MIN_BLOCK || off + size > fs - BLOCK_HDR || st < BS_FREE || st > BS_RESERVED) {
            free(blocks);
            return brain__fail(BRAIN_ECORRUPT,
                               "store '%s' is damaged as well as truncated: the block at offset %llu, "
                               "below the cut, has an impossible header (size %llu, state %u), so "
                               "nothing was salvaged and the file was left as it is; load a snapshot",
                               b->path, (unsigned long long)off, (unsigned long long)size, st);
        }
        if (off + size > cut) {
            straddle = off;
            break;
        }
        if (n + 1 >= cap) { /* always room for one more: the free tail below */
            uint64_t *nb = realloc(blocks, (cap *= 2) * sizeof *nb);
            if (!nb) {
                free(blocks);
                return brain__fail(BRAIN_ENOMEM, "out of memory during salvage");
            }
            blocks = nb;
        }
        blocks[n++] = off;
        off += size;
    }
    uint64_t end = off;

    /* 2. the index: kept when its block is whole, else rebuilt below */
    uint64_t packed = atomic_load(&h->index), tblk = packed & ~63ull, nslots = 0;
    _Atomic uint64_t *t = NULL;
    int index_lost = tblk >= end;
    if (!index_lost) {
        unsigned lg = (unsigned)(packed & 63);
        struct brain__block *tb = find_block(blocks, n, tblk) ? brain__block_at(b, tblk) : NULL;
        t = brain__index_table(b, packed, &nslots);
        if (!tb || !t || lg < IDX_MIN_LOG2 || lg > 36 || bs_state(atomic_load(&tb->sizestate)) != BS_USED ||
            tb->kind != BK_INDEX || tblk + BLOCK_HDR + nslots * 8 > end) {
            free(blocks);
            return brain__fail(BRAIN_ECORRUPT,
                               "store '%s' is damaged as well as truncated: its name index (below the "
                               "cut) is not valid, so nothing was salvaged and the file was left as it "
                               "is; load a snapshot", b->path);
        }
    }

    /* 3. what was lost: the entry the cut went through can still be named */
    const char *sns = NULL, *sname = NULL;
    char *lost_ns = NULL, *lost_name = NULL;
    if (straddle && cut_entry_key(b, straddle, cut, &sns, &sname)) {
        lost_ns = strdup(sns);
        lost_name = strdup(sname);
    }
    int named = lost_ns && lost_name;
    uint64_t nlost = 0;
    if (!index_lost) {
        for (uint64_t i = 0; i < nslots; i++) {
            uint64_t w = atomic_load(&t[i]);
            nlost += w != IDX_EMPTY && w != IDX_TOMB && brain__idx_block(w) >= end;
        }
        /* named only when the index links it (a block cut through may be a
         * value already replaced) */
        int linked = 0;
        for (uint64_t i = 0; i < nslots && named; i++) {
            uint64_t w = atomic_load(&t[i]);
            linked |= w != IDX_EMPTY && w != IDX_TOMB && brain__idx_block(w) == straddle;
        }
        named &= linked;
    } else {
        /* the index was cut: what it held is known only by its count */
        uint64_t kept = 0;
        for (size_t k = 0; k < n; k++) {
            struct brain__block *blk = (struct brain__block *)(b->rw + blocks[k]);
            kept += bs_state(atomic_load(&blk->sizestate)) == BS_USED && blk->kind == BK_ENTRY;
        }
        nlost = old_count > kept ? old_count - kept : (uint64_t)named;
    }
    if (nlost == 0)
        named = 0;

    /* 4. the file back to the size its header says (zeros from the cut) */
    int err = brain__plat_reserve_space(b->fd, cut, fs - cut);
    if (err) {
        free(blocks);
        free(lost_ns);
        free(lost_name);
        char s1[32];
        return brain__fail(err == ENOSPC ? BRAIN_ENOSPC : BRAIN_EIO,
                           "store '%s': cannot restore the file to its size of %s to salvage it "
                           "(%s); nothing was changed: free space where the store lives and run "
                           "the repair again", b->path, brain__fmt_size(fs, s1, sizeof s1), strerror(err));
    }

    /* 5. the index forgets what was cut off; so do the pins (their holders
     * are gone: the caller has the store to itself) */
    brain__batch_begin(b);
    for (uint64_t i = 0; i < nslots && t; i++) {
        uint64_t w = atomic_load(&t[i]);
        if (w != IDX_EMPTY && w != IDX_TOMB && brain__idx_block(w) >= end)
            atomic_store(&t[i], IDX_TOMB);
    }
    for (uint32_t i = 0; i < h->max_procs; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        uint32_t hw = atomic_load(&s->npins_hw);
        for (uint32_t p = 0; p < hw && p < PINS; p++)
            if (atomic_load(&s->pins[p]) >= end)
                atomic_store(&s->pins[p], 0);
    }

    /* 6. the chain ends at END: the rest is one free block, then the sentinel */
    uint64_t sent = fs - BLOCK_HDR, prev = 0;
    for (size_t k = 0; k < n; k++) {
        struct brain__block *blk = (struct brain__block *)(b->rw + blocks[k]);
        blk->prev_size = prev;
        prev = bs_size(atomic_load(&blk->sizestate));
    }
    size_t nall = n;
    if (end < sent) {
        struct brain__block *tail = (struct brain__block *)(b->rw + end);
        memset(tail, 0, sizeof *tail);
        tail->prev_size = prev;
        atomic_store(&tail->sizestate, (sent - end) | BS_FREE);
        blocks[nall++] = end;
        prev = sent - end;
    }
    struct brain__block *sb = (struct brain__block *)(b->rw + sent);
    memset(sb, 0, sizeof *sb);
    sb->prev_size = prev;
    atomic_store(&sb->sizestate, BLOCK_HDR | BS_SENTINEL);
    h->limbo_head = 0;
    h->limbo_count = 0;
    h->limbo_bytes = 0;

    /* 7. a cut index is rebuilt from the whole entry blocks */
    int rc = 0;
    if (index_lost) {
        brain__alloc_reset_lists(b);
        for (size_t k = 0; k < nall; k++) {
            struct brain__block *blk = (struct brain__block *)(b->rw + blocks[k]);
            uint64_t ss = atomic_load(&blk->sizestate);
            if (bs_state(ss) == BS_FREE)
                brain__alloc_insert_free(b, blocks[k], bs_size(ss));
        }
        atomic_store(&h->index, 0);
        h->index_count = h->index_tombs = 0;
        rc = rebuild_index(b, blocks, n);
        if (rc) {
            char why[256];
            snprintf(why, sizeof why, "%s", brain_errdetail());
            h->corrupt = 1;
            rc = brain__fail(rc, "store '%s' was truncated and there is no room left for a new name "
                                 "index (%s); the store refuses writes: save what reads back, or load "
                                 "a snapshot", b->path, why);
        }
    }
    free(blocks);
    brain__batch_end(b);
    if (rc == 0)
        rc = brain__repair(b, mode);
    if (rc == 0) {
        info->kept = h->index_count;
        info->lost = nlost;
        info->lost_unnamed = nlost - (uint64_t)named;
        atomic_fetch_add(&h->version, 1);
        if (named && lost)
            lost(ctx, lost_ns, lost_name);
    }
    free(lost_ns);
    free(lost_name);
    return rc;
}
