/*
 * write.c - the operations that change names: put, reserve/publish/abort's
 * partner publish (and publish_view, which pins what it published),
 * put_array, delete, put_many, namespace clear and expiry.
 *
 * Writes take the writers' lock, build the new entry in a block of its own
 * (large values are copied outside the lock, in a reservation), then link it
 * with one atomic store inside a batch_seq bracket, and retire what it
 * replaced to limbo.  Reads (read.c), listing (list.c), waiting (wait.c) and
 * resize (resize.c) are elsewhere; the allocation policy is reclaim.c's.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#define UNLOCKED_COPY_MIN (64u << 10)
/* values this large have their pages mapped in one call before the copy */
#define PREFAULT_MIN (4u << 20)

static int opts_check(const brain_put_opts *o, size_t *desclen)
{
    *desclen = 0;
    if (!o)
        return 0;
    if (o->flags & ~(uint32_t)BRAIN_PUT_IF_VERSION)
        return brain__fail(BRAIN_EINVAL, "unknown put flags 0x%x", o->flags);
    if (o->ttl_ms > 100ll * 365 * 24 * 3600 * 1000)
        return brain__fail(BRAIN_EINVAL, "ttl of %lld ms is more than a century", (long long)o->ttl_ms);
    if (o->type > BRAIN_TYPE_JSON && o->type < BRAIN_TYPE_USER)
        return brain__fail(BRAIN_EINVAL, "type tag %u is reserved; use BRAIN_TYPE_USER (%d) and up",
                       o->type, BRAIN_TYPE_USER);
    if (o->desc) {
        size_t n = strnlen(o->desc, BRAIN_DESC_MAX + 1);
        if (n > BRAIN_DESC_MAX)
            return brain__fail(BRAIN_EINVAL, "description is longer than %d bytes", BRAIN_DESC_MAX);
        if (!brain__utf8_valid(o->desc, n))
            return brain__fail(BRAIN_EINVAL, "description is not valid UTF-8");
        for (size_t i = 0; i < n; i++) /* as for names (README: no control characters) */
            if ((unsigned char)o->desc[i] < 0x20 || o->desc[i] == 0x7f)
                return brain__fail(BRAIN_EINVAL,
                               "description contains control character 0x%02x at byte %zu; "
                               "descriptions may not hold control characters (use spaces)",
                               (unsigned char)o->desc[i], i);
        *desclen = n;
    }
    return 0;
}

static uint64_t entry_hdr_size(const struct brain__key *k, size_t desclen)
{
    return align_up(ENTRY_FIXED + k->nslen + 1 + k->namelen + 1 + desclen + 1, BRAIN_ALIGN);
}

/* Writes the entry's key part into block BLK. */
static struct brain__entry *entry_build(brain *b, uint64_t blk, const struct brain__key *k,
                                    const brain_put_opts *o, size_t desclen, uint64_t size)
{
    struct brain__entry *e = (struct brain__entry *)(b->rw + blk + BLOCK_HDR);
    memset(e, 0, ENTRY_FIXED);
    e->magic = ENTRY_MAGIC;
    e->data_off = (uint32_t)entry_hdr_size(k, desclen);
    e->hash = k->hash;
    e->size = size;
    e->type = o ? o->type : BRAIN_TYPE_BYTES;
    e->ns_len = (uint16_t)k->nslen;
    e->name_len = (uint16_t)k->namelen;
    e->desc_len = (uint16_t)desclen;
    char *s = e->strings;
    memcpy(s, k->ns, k->nslen);
    s[k->nslen] = 0;
    s += k->nslen + 1;
    memcpy(s, k->name, k->namelen);
    s[k->namelen] = 0;
    s += k->namelen + 1;
    if (desclen)
        memcpy(s, o->desc, desclen);
    s[desclen] = 0;
    return e;
}

static void *entry_data_rw(brain *b, uint64_t blk)
{
    struct brain__entry *e = (struct brain__entry *)(b->rw + blk + BLOCK_HDR);
    return (uint8_t *)e + e->data_off;
}


/* Under the lock, inside a batch bracket: links entry block BLOCK (whose key
 * part is built and value written) under its name, replacing any value. */
int brain__put_locked(brain *b, uint64_t block, uint64_t hash, const char *ns, size_t nslen,
               const char *name, size_t namelen, const brain_put_opts *opts, uint64_t *version)
{
    struct brain__header *h = b->h;
    int existing = 0;
    uint64_t *slot = brain__index_slot_for(b, hash, ns, nslen, name, namelen, &existing);
    if (!slot)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    const struct brain__entry *old = NULL;
    uint64_t oldblk = 0;
    int64_t now = brain__plat_now_ns();
    if (existing) {
        oldblk = brain__idx_block(atomic_load((_Atomic uint64_t *)slot));
        old = brain__entry_at(b, oldblk);
    }
    if (opts && (opts->flags & BRAIN_PUT_IF_VERSION)) {
        uint64_t cur = old && !brain__entry_expired(old, now) ? old->version : 0;
        if (cur != opts->if_version)
            return brain__fail(BRAIN_ECONFLICT,
                           "name '%s' in namespace '%s' is at version %llu, not %llu as expected; "
                           "read it again and retry",
                           name, ns, (unsigned long long)cur, (unsigned long long)opts->if_version);
    }
    int ni = brain__ns_get_or_add(b, ns, nslen);
    if (ni < 0)
        return ni;
    struct brain__entry *e = (struct brain__entry *)(b->rw + block + BLOCK_HDR);
    uint64_t ver = atomic_fetch_add(&h->version, 1) + 1;
    e->version = ver;
    e->updated_ns = now;
    e->created_ns = old && !brain__entry_expired(old, now) ? old->created_ns : now;
    e->expires_ns = opts && opts->ttl_ms > 0 ? now + opts->ttl_ms * 1000000 : 0;
    memcpy(e->object_id, b->id_prefix, 12);
    memcpy(e->object_id + 12, &ver, 8);
    struct brain__block *blk = (struct brain__block *)(b->rw + block);
    blk->owner = 0;
    atomic_store(&blk->sizestate, bs_size(atomic_load(&blk->sizestate)) | BS_USED);
    int was_tomb = !existing && *slot == IDX_TOMB;
    atomic_store((_Atomic uint64_t *)slot, brain__idx_word(hash, block));
    if (old) {
        brain__ns_account(b, ni, -1, -(int64_t)old->size, 0);
        brain__limbo_retire(b, oldblk);
    } else {
        h->index_count++;
        if (was_tomb)
            h->index_tombs--;
    }
    brain__ns_account(b, ni, 1, (int64_t)e->size, ver);
    brain__wake_key(b, hash, brain__ns_hash(b, ns, nslen));
    if (version)
        *version = ver;
    return 0;
}

/* Frees what readers have left, in batches: every retired block costs a
 * scan of the process table, so small ones wait until 32 are pending or
 * 1 MiB is, while a large one (a replaced frame) is reused at once to keep
 * the arena warm.  An allocation that finds no room reclaims regardless. */
static void reclaim_some(brain *b)
{
    struct brain__header *h = b->h;
    if (h->limbo_head && (h->limbo_count >= 32 || h->limbo_bytes >= (1u << 20)))
        brain__limbo_reclaim(b, RECLAIM_READY);
}

/* ---- put --------------------------------------------------------------- */

/* Under the lock.  A value that does not fit first drops the expired names
 * (their space would otherwise wait for brain_expire or `brain serve`),
 * then tries once more; the store-full error stands when none expired.
 * This is write-path policy: brain__alloc_block (reclaim.c) only reclaims
 * limbo, grows and reaps, it never removes a name. */
static int reserve_block(brain *b, const struct brain__key *k, const brain_put_opts *opts,
                         size_t desclen, uint64_t size, unsigned state, uint64_t own_from,
                         uint64_t *blk)
{
    uint64_t payload = entry_hdr_size(k, desclen) + size;
    if (size > BRAIN_MAX_CAPACITY)
        payload = size;
    int rc = brain__alloc_block(b, payload, state, BK_ENTRY, size, own_from, blk);
    if (rc == BRAIN_EFULL) {
        int corrupt = 0;
        if (brain__expire_locked(b, brain__plat_now_ns(), &corrupt) > 0) {
            brain__clear_error();
            rc = brain__alloc_block(b, payload, state, BK_ENTRY, size, own_from, blk);
        }
    }
    if (rc)
        return rc;
    if (state == BS_RESERVED) {
        struct brain__block *bb = (struct brain__block *)(b->rw + *blk);
        bb->owner = b->slot_idx + 1;
        bb->owner_word = atomic_load(&b->slot->owner);
        atomic_fetch_add(&b->slot->nreserved, 1);
    }
    entry_build(b, *blk, k, opts, desclen, size);
    return 0;
}

static int link_one(brain *b, uint64_t blk, const struct brain__key *k, const brain_put_opts *opts,
                    uint64_t *version)
{
    int rc = brain__index_maybe_grow(b);
    if (rc)
        return rc;
    brain__batch_begin(b);
    rc = brain__put_locked(b, blk, k->hash, k->ns, k->nslen, k->name, k->namelen, opts, version);
    brain__batch_end(b);
    return rc;
}

/* Copies bytes [FROM, TO) of the concatenation of IOV[0..N) to DST. */
static void gather(uint8_t *dst, const brain_iov *iov, size_t n, uint64_t from, uint64_t to)
{
    uint64_t at = 0;
    for (size_t i = 0; i < n && at < to; i++) {
        uint64_t lo = at > from ? at : from, hi = at + iov[i].len < to ? at + iov[i].len : to;
        if (lo < hi)
            memcpy(dst + (lo - from), (const uint8_t *)iov[i].base + (lo - at), hi - lo);
        at += iov[i].len;
    }
}

static const uint8_t zeros[256];

/* Writes a value (the concatenation of IOV[0..N), SIZE bytes) into block
 * BLK (BSIZE bytes; the value at byte VOFF): the bytes before block byte
 * FD_FROM through the mapping (their pages are there), the rest, and zeros
 * to the block's end, through the file descriptor, which allocates the
 * pages the file lacks as it writes them, where the mapping would have
 * them reserved (fallocate), then cleared and mapped one fault at a time
 * (MADV_POPULATE_WRITE) before copying: 80 MB in 36-41 ms against 52-61.
 * Pages the file holds go through the mapping: mapped once, they are the
 * fastest to write again (80 MB: 10-12 ms, pwrite 23-30 ms), and a value
 * replaced again and again lands in them (alloc.c, the deferred punch).
 * 0, or an errno value with *HELD the bytes of the block, from its start,
 * that surely have pages (ENOSPC: the file system had no room). */
static int value_write(brain *b, uint64_t blk, uint64_t voff, uint64_t bsize, uint64_t fd_from,
                       const brain_iov *iov, size_t n, uint64_t size, uint64_t *held)
{
    uint64_t split = fd_from > voff ? fd_from - voff : 0;
    if (split > size)
        split = size;
    uint8_t *dst = b->rw + blk + voff;
    if (split >= PREFAULT_MIN)
        brain__plat_prefault_write(dst, split);
    if (split)
        gather(dst, iov, n, 0, split);
    if (fd_from >= bsize)
        return 0;
    uint64_t at = 0, pos = blk + voff + split; /* the file offset written next */
    size_t done = 0;
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        uint64_t lo = at > split ? at : split, hi = at + iov[i].len;
        if (lo < hi) {
            err = brain__plat_write_at(b->fd, pos, (const uint8_t *)iov[i].base + (lo - at),
                                       hi - lo, &done);
            pos += done;
        }
        at += iov[i].len;
    }
    while (!err && pos < blk + bsize) { /* the block's tail (under 128 bytes) */
        uint64_t len = blk + bsize - pos < sizeof zeros ? blk + bsize - pos : sizeof zeros;
        err = brain__plat_write_at(b->fd, pos, zeros, len, &done);
        pos += done;
    }
    *held = pos - blk;
    return err;
}

/* The error of a value write through the file descriptor that failed
 * (ERR, an errno value) after WRITTEN of its SIZE bytes. */
static int write_failed(brain *b, uint64_t size, uint64_t written, int err)
{
    char s1[32], s2[32], s3[32];
    if (brain__alloc_no_room(err) || err == EDQUOT) {
        /* what it had before this write: what is free now (often nothing)
         * and what the write took, which goes back as the block is freed */
        uint64_t avail = 0;
        const char *had = brain__plat_fs_free(b->fd, &avail) == 0
                              ? brain__fmt_size(avail + written, s2, sizeof s2)
                              : "an unknown amount";
        return brain__fail(BRAIN_ENOSPC,
                           "the host has no room for a value of %s in store '%s': its file "
                           "system had %s free, took %s of it and refused the rest (%s); "
                           "nothing stored was changed; free memory or disk space where the "
                           "store lives",
                           brain__fmt_size(size, s1, sizeof s1), b->path, had,
                           brain__fmt_size(written, s3, sizeof s3), strerror(err));
    }
    return brain__fail(BRAIN_EIO, "cannot write a value of %s into store '%s': %s",
                       brain__fmt_size(size, s1, sizeof s1), b->path, strerror(err));
}

/* Stores the concatenation of IOV[0..N) (SIZE bytes) under key K; with
 * CHECK, the value's layout is checked (brain__value_validate) where it
 * was written, before it is linked.  brain_put and brain_putv. */
static int put_gather(brain *b, const struct brain__key *k, size_t desclen, const brain_iov *iov,
                      size_t n, uint64_t size, const brain_put_opts *opts, int check,
                      uint64_t *version)
{
    uint64_t blk, voff = BLOCK_HDR + entry_hdr_size(k, desclen);
    uint32_t type = opts ? opts->type : BRAIN_TYPE_BYTES;
    int rc;
    if (size >= UNLOCKED_COPY_MIN) {
        /* copy outside the lock: reserve, write, publish.  The block's
         * bytes from the value on that have no pages yet are written
         * through the file descriptor (value_write), those with pages
         * through the mapping */
        if ((rc = brain__writer_lock(b)))
            return rc;
        reclaim_some(b);
        b->grown_off = b->grown_end = 0;
        rc = reserve_block(b, k, opts, desclen, size, BS_RESERVED, voff, &blk);
        uint64_t bsize = 0, fd_from = voff;
        if (rc == 0) {
            struct brain__block *bb = (struct brain__block *)(b->rw + blk);
            bsize = bs_size(atomic_load(&bb->sizestate));
            /* pages the file holds: through the mapping (once mapped, the
             * fastest to write again); the rest through the descriptor, and
             * so the pages growth just reserved, which nothing wrote yet */
            uint64_t held = bb->backed < bsize ? bb->backed : bsize;
            if (held > voff)
                fd_from = held;
            if (b->grown_end > b->grown_off && blk + fd_from > b->grown_off &&
                blk + voff < b->grown_end)
                fd_from = b->grown_off > blk + voff ? b->grown_off - blk : voff;
        }
        brain__writer_unlock(b);
        if (rc)
            return rc;
        uint64_t held = 0;
        int err = value_write(b, blk, voff, bsize, fd_from, iov, n, size, &held);
        if (!err && check)
            rc = brain__value_validate(type, b->rw + blk + voff, size);
        int lrc = brain__writer_lock(b);
        if (lrc)
            return lrc; /* the block is reclaimed as this process's reservation */
        struct brain__block *bb = (struct brain__block *)(b->rw + blk);
        if (err) {
            bb->backed = held;
            rc = write_failed(b, size, held > voff ? held - voff : 0, err);
        } else {
            bb->backed = bsize;
            if (rc == 0)
                rc = link_one(b, blk, k, opts, version);
        }
        atomic_fetch_sub(&b->slot->nreserved, 1);
        if (rc)
            brain__alloc_free(b, blk);
        brain__writer_unlock(b);
        return rc;
    }
    if ((rc = brain__writer_lock(b)))
        return rc;
    reclaim_some(b);
    rc = reserve_block(b, k, opts, desclen, size, BS_USED, 0, &blk);
    if (rc == 0) {
        gather(entry_data_rw(b, blk), iov, n, 0, size);
        if (check)
            rc = brain__value_validate(type, entry_data_rw(b, blk), size);
        if (rc == 0)
            rc = link_one(b, blk, k, opts, version);
        if (rc)
            brain__alloc_free(b, blk);
    }
    brain__writer_unlock(b);
    return rc;
}

/* What brain_put and brain_putv check first: the handle, the key, the
 * options (DESCLEN: the description's length). */
static int put_begin(brain *b, const char *ns, const char *name, const brain_put_opts *opts,
                     struct brain__key *k, size_t *desclen)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc || (rc = brain__key_init(b, ns, name, k, 0)) || (rc = opts_check(opts, desclen)))
        return rc;
    return 0;
}

int brain_put(brain *b, const char *ns, const char *name, const void *data, size_t size,
              const brain_put_opts *opts, uint64_t *version)
{
    struct brain__key k;
    size_t desclen;
    int rc = put_begin(b, ns, name, opts, &k, &desclen);
    if (rc)
        return rc;
    if (!data && size)
        return brain__fail(BRAIN_EINVAL, "data is NULL but size is %zu", size);
    if (opts && (rc = brain__value_validate(opts->type, data ? data : "", size)))
        return rc;
    brain_iov one = {data, size};
    return put_gather(b, &k, desclen, &one, 1, size, opts, 0, version);
}

int brain_putv(brain *b, const char *ns, const char *name, const brain_iov *iov, size_t n,
               const brain_put_opts *opts, uint64_t *version)
{
    struct brain__key k;
    size_t desclen;
    int rc = put_begin(b, ns, name, opts, &k, &desclen);
    if (rc)
        return rc;
    if (!iov && n)
        return brain__fail(BRAIN_EINVAL, "brain_putv: iov is NULL but n is %zu", n);
    uint64_t size = 0;
    for (size_t i = 0; i < n; i++) {
        if (!iov[i].base && iov[i].len)
            return brain__fail(BRAIN_EINVAL, "brain_putv: piece %zu has no data (base NULL) "
                               "but a length of %zu", i, iov[i].len);
        if (iov[i].len > BRAIN_MAX_CAPACITY || size + iov[i].len > BRAIN_MAX_CAPACITY) {
            char s1[32];
            return brain__fail(BRAIN_ETOOBIG, "brain_putv: the pieces up to %zu add up to more "
                               "than %s, larger than any store can hold", i,
                               brain__fmt_size(BRAIN_MAX_CAPACITY, s1, sizeof s1));
        }
        size += iov[i].len;
    }
    /* one piece is checked where it is, several once written (a layout's
     * header is all that is read, but for str and json values) */
    int check = opts && opts->type != BRAIN_TYPE_BYTES && n > 1;
    if (opts && !check && (rc = brain__value_validate(opts->type, n && iov[0].base ? iov[0].base : "",
                                                      (size_t)size)))
        return rc;
    return put_gather(b, &k, desclen, iov, n, size, opts, check, version);
}

/* Puts R on B's list of reservations (brain_close aborts them). */
static void relist(brain *b, brain_reservation *r)
{
    pthread_mutex_lock(&b->mu);
    r->next = b->reservations;
    b->reservations = r;
    pthread_mutex_unlock(&b->mu);
}

int brain_reserve(brain *b, const char *ns, const char *name, size_t size,
                  const brain_put_opts *opts, brain_reservation **res, void **data)
{
    return brain__reserve(b, ns, name, size, opts, res, data, 1);
}

/* brain_reserve; PREFAULT maps the pages of a large reservation at once,
 * for a caller that writes through the mapping (snapshot load writes
 * through the file descriptor instead and needs no page tables). */
int brain__reserve(brain *b, const char *ns, const char *name, size_t size, const brain_put_opts *opts,
               brain_reservation **res, void **data, int prefault)
{
    brain__clear_error();
    struct brain__key k;
    size_t desclen;
    int rc = brain__handle_ready(b);
    if (rc || (rc = brain__key_init(b, ns, name, &k, 0)) || (rc = opts_check(opts, &desclen)))
        return rc;
    if (!res || !data)
        return brain__fail(BRAIN_EINVAL, "brain_reserve: res and data must not be NULL");
    brain_reservation *r = calloc(1, sizeof *r);
    if (!r)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    if ((rc = brain__writer_lock(b))) {
        free(r);
        return rc;
    }
    reclaim_some(b);
    rc = reserve_block(b, &k, opts, desclen, size, BS_RESERVED, 0, &r->block);
    brain__writer_unlock(b);
    if (rc) {
        free(r);
        return rc;
    }
    r->owner = b;
    r->hash = k.hash;
    r->slot = b->slot_idx;
    r->size = size;
    if (opts) {
        r->opts = *opts;
        r->opts.desc = NULL; /* already written into the entry */
    }
    relist(b, r);
    *res = r;
    *data = entry_data_rw(b, r->block);
    if (prefault && size >= PREFAULT_MIN) /* the caller writes it all next */
        brain__plat_prefault_write(*data, size);
    return 0;
}

/* brain_publish and brain_publish_view.  With VIEW, the published block is
 * pinned in the same hold of the lock (before it is linked, so a full pin
 * table refuses the publish rather than follow it) and described in *VIEW
 * as brain_get would; and a failure leaves the reservation with the caller
 * (back on the handle's list, its block still reserved) instead of
 * consuming it, because the caller may still hold pointers into it. */
static int publish(brain *b, brain_reservation *res, uint64_t *version, brain_view *view)
{
    brain__clear_error();
    if (view)
        memset(view, 0, sizeof *view);
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!res)
        return brain__fail(BRAIN_EINVAL, "brain_publish: reservation is NULL");
    if (res->stale || res->owner != b || !brain__reservation_unlist(b, res)) {
        if (!view)
            free(res);
        return brain__fail(BRAIN_ESTALE,
                       "the reservation was made by another process or handle (for example "
                       "before fork); reserve again in this process");
    }
    const struct brain__entry *e = (const struct brain__entry *)(b->rw + res->block + BLOCK_HDR);
    rc = brain__value_validate(e->type, (const uint8_t *)e + e->data_off, e->size);
    int lrc = brain__writer_lock(b);
    if (lrc) {
        if (view)
            relist(b, res);
        else
            free(res);
        return lrc;
    }
    int pinned = 0;
    if (rc == 0 && view && (rc = brain__pin_add(b, res->block)) == 0)
        pinned = 1;
    if (rc == 0) {
        struct brain__key k = {brain__entry_ns(e), brain__entry_name(e), e->ns_len, e->name_len, e->hash};
        rc = link_one(b, res->block, &k, &res->opts, version);
    }
    if (rc && view) {
        if (pinned)
            brain__pin_drop(b, res->block);
        brain__writer_unlock(b);
        relist(b, res);
        return rc;
    }
    atomic_fetch_sub(&b->slot->nreserved, 1);
    if (rc) {
        brain__alloc_free(b, res->block);
    } else if (view) {
        brain__view_fill(b, view, e, res->block);
    }
    brain__writer_unlock(b);
    free(res);
    return rc;
}

int brain_publish(brain *b, brain_reservation *res, uint64_t *version)
{
    return publish(b, res, version, NULL);
}

int brain_publish_view(brain *b, brain_reservation *res, uint64_t *version, brain_view *view)
{
    if (!view) {
        brain__clear_error();
        return brain__fail(BRAIN_EINVAL, "brain_publish_view: view is NULL");
    }
    return publish(b, res, version, view);
}

int brain_put_array(brain *b, const char *ns, const char *name, const brain_array *a,
                    const void *data, const brain_put_opts *opts, uint64_t *version)
{
    brain__clear_error();
    if (!a || (!data && a->nbytes))
        return brain__fail(BRAIN_EINVAL, "brain_put_array: array description or data is NULL");
    brain_array chk;
    int rc = brain_array_init(&chk, a->dtype, a->ndim, a->shape);
    if (rc)
        return rc;
    brain_put_opts o = opts ? *opts : (brain_put_opts){0};
    o.type = BRAIN_TYPE_ARRAY;
    /* the header and the data, each copied once (brain_putv) */
    uint8_t *hdr = calloc(1, (size_t)chk.data_offset);
    if (!hdr)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    brain_array_write_header(&chk, hdr, chk.data_offset);
    brain_iov iov[2] = {{hdr, (size_t)chk.data_offset}, {data, (size_t)chk.nbytes}};
    rc = brain_putv(b, ns, name, iov, 2, &o, version);
    free(hdr);
    return rc;
}

/* ---- delete ------------------------------------------------------------ */

/* Under the lock, inside a batch bracket: unlinks the entry in SLOT. */
static void unlink_locked(brain *b, uint64_t *slot)
{
    struct brain__header *h = b->h;
    uint64_t blk = brain__idx_block(atomic_load((_Atomic uint64_t *)slot));
    const struct brain__entry *e = brain__entry_at(b, blk);
    atomic_store((_Atomic uint64_t *)slot, IDX_TOMB);
    h->index_count--;
    h->index_tombs++;
    uint64_t ver = atomic_fetch_add(&h->version, 1) + 1;
    if (e) {
        int ni = brain__ns_find(b, brain__entry_ns(e), e->ns_len);
        brain__ns_account(b, ni, -1, -(int64_t)e->size, ver);
        brain__wake_key(b, e->hash, brain__ns_hash(b, brain__entry_ns(e), e->ns_len));
    }
    brain__limbo_retire(b, blk);
}

int brain_delete(brain *b, const char *ns, const char *name)
{
    brain__clear_error();
    struct brain__key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = brain__key_init(b, ns, name, &k, 0)))
        return rc;
    if ((rc = brain__writer_lock(b)))
        return rc;
    reclaim_some(b);
    int existing = 0;
    uint64_t *slot = brain__index_slot_for(b, k.hash, k.ns, k.nslen, k.name, k.namelen, &existing);
    if (!slot || !existing) {
        brain__writer_unlock(b);
        return brain__key_not_found(b, &k, !slot);
    }
    const struct brain__entry *e = brain__entry_at(b, brain__idx_block(atomic_load((_Atomic uint64_t *)slot)));
    int expired = e && e->expires_ns && brain__entry_expired(e, brain__plat_now_ns());
    brain__batch_begin(b);
    unlink_locked(b, slot);
    brain__batch_end(b);
    /* what no reader can reach any more is freed now, so a large value's
     * pages go back at this unlock, not inside the next writer's call */
    reclaim_some(b);
    brain__writer_unlock(b);
    return expired ? brain__key_not_found(b, &k, 0) : 0;
}

/* ---- batches ----------------------------------------------------------- */

struct pending {
    struct brain__key k;
    size_t desclen;
    uint64_t blk;
};

static int cmp_pending(const void *a, const void *b)
{
    const struct pending *x = *(struct pending *const *)a, *y = *(struct pending *const *)b;
    if (x->k.hash != y->k.hash)
        return x->k.hash < y->k.hash ? -1 : 1;
    if (x->k.nslen != y->k.nslen)
        return x->k.nslen < y->k.nslen ? -1 : 1;
    if (x->k.namelen != y->k.namelen)
        return x->k.namelen < y->k.namelen ? -1 : 1;
    int c = memcmp(x->k.ns, y->k.ns, x->k.nslen);
    return c ? c : memcmp(x->k.name, y->k.name, x->k.namelen);
}

int brain_put_many(brain *b, size_t n, const brain_item *items, uint64_t *versions, size_t *failed)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (n == 0)
        return 0;
    if (!items)
        return brain__fail(BRAIN_EINVAL, "brain_put_many: items is NULL");
    if (n > (1u << 24))
        return brain__fail(BRAIN_EINVAL, "brain_put_many: %zu items; at most %u per call", n, 1u << 24);
    struct pending *p = calloc(n, sizeof *p);
    struct pending **sorted = calloc(n, sizeof *sorted);
    size_t i = 0;
    if (!p || !sorted) {
        rc = brain__fail(BRAIN_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        const brain_item *it = &items[i];
        if ((rc = brain__key_init(b, it->ns, it->name, &p[i].k, 0)) || (rc = opts_check(it->opts, &p[i].desclen)))
            goto fail_item;
        if (!it->data && it->size) {
            rc = brain__fail(BRAIN_EINVAL, "item %zu: data is NULL but size is %zu", i, it->size);
            goto fail_item;
        }
        if (it->opts && (rc = brain__value_validate(it->opts->type, it->data ? it->data : "", it->size)))
            goto fail_item;
        sorted[i] = &p[i];
    }
    qsort(sorted, n, sizeof *sorted, cmp_pending);
    for (size_t j = 1; j < n; j++)
        if (cmp_pending(&sorted[j - 1], &sorted[j]) == 0) {
            i = (size_t)(sorted[j] - p);
            rc = brain__fail(BRAIN_EINVAL, "name '%s' appears twice in one brain_put_many", p[i].k.name);
            goto fail_item;
        }
    if ((rc = brain__writer_lock(b)))
        goto out;
    reclaim_some(b);
    for (i = 0; i < n; i++) {
        rc = reserve_block(b, &p[i].k, items[i].opts, p[i].desclen, items[i].size, BS_USED, 0,
                           &p[i].blk);
        if (rc)
            break;
        if (items[i].size)
            memcpy(entry_data_rw(b, p[i].blk), items[i].data, items[i].size);
    }
    /* checks that must not fail halfway: versions, namespaces, index room */
    for (size_t j = 0; rc == 0 && j < n; j++) {
        const brain_put_opts *o = items[j].opts;
        if ((rc = brain__ns_get_or_add(b, p[j].k.ns, p[j].k.nslen)) >= 0)
            rc = 0;
        else {
            i = j;
            break;
        }
        if (o && (o->flags & BRAIN_PUT_IF_VERSION)) {
            uint64_t blk;
            int corrupt = 0;
            const struct brain__entry *e = brain__index_find(b, p[j].k.hash, p[j].k.ns, p[j].k.nslen, p[j].k.name,
                                                  p[j].k.namelen, &blk, &corrupt);
            uint64_t cur = e && !brain__entry_expired(e, brain__plat_now_ns()) ? e->version : 0;
            if (cur != o->if_version) {
                rc = brain__fail(BRAIN_ECONFLICT,
                             "name '%s' in namespace '%s' is at version %llu, not %llu as expected",
                             p[j].k.name, p[j].k.ns, (unsigned long long)cur,
                             (unsigned long long)o->if_version);
                i = j;
            }
        }
    }
    if (rc == 0 && (rc = brain__index_reserve(b, n)))
        i = 0;
    if (rc) {
        for (size_t j = 0; j < n; j++)
            if (p[j].blk)
                brain__alloc_free(b, p[j].blk);
        brain__writer_unlock(b);
        goto fail_item;
    }
    brain__batch_begin(b);
    for (size_t j = 0; j < n; j++) {
        rc = brain__put_locked(b, p[j].blk, p[j].k.hash, p[j].k.ns, p[j].k.nslen, p[j].k.name, p[j].k.namelen,
                        items[j].opts, versions ? &versions[j] : NULL);
        if (rc) /* cannot happen after the checks above; keep the store sane */
            brain__alloc_free(b, p[j].blk);
    }
    brain__batch_end(b);
    brain__writer_unlock(b);
    goto out;
fail_item:
    if (failed)
        *failed = i;
out:
    free(p);
    free(sorted);
    return rc;
}

struct unlink_ctx {
    int (*match)(const struct brain__entry *, const void *);
    const void *ctx;
    size_t n;
};

static int unlink_one(brain *b, _Atomic uint64_t *slot, const struct brain__entry *e, void *ctx)
{
    struct unlink_ctx *u = ctx;
    if (u->match(e, u->ctx)) {
        unlink_locked(b, (uint64_t *)slot);
        u->n++;
    }
    return 0;
}

/* Under the lock: unlinks every entry for which MATCH is true, in one
 * batch, and returns how many; *corrupt is set when the index is damaged
 * (then nothing is unlinked). */
static size_t unlink_where_locked(brain *b, int (*match)(const struct brain__entry *, const void *),
                                  const void *ctx, int *corrupt)
{
    uint64_t packed = atomic_load(&b->h->index), nslots = 0;
    uint64_t *t = (uint64_t *)brain__index_table(b, packed, &nslots);
    if (!t) {
        *corrupt = 1;
        return 0;
    }
    struct unlink_ctx u = {match, ctx, 0};
    brain__batch_begin(b);
    brain__index_foreach(b, unlink_one, &u); /* the table was checked above */
    brain__batch_end(b);
    return u.n;
}

/* Takes the lock and unlinks every entry for which MATCH is true, in one
 * batch; *removed (may be NULL) gets how many. */
static int unlink_where(brain *b, int (*match)(const struct brain__entry *, const void *),
                        const void *ctx, size_t *removed)
{
    int rc = brain__writer_lock(b);
    if (rc)
        return rc;
    int corrupt = 0;
    size_t n = unlink_where_locked(b, match, ctx, &corrupt);
    if (corrupt) {
        brain__writer_unlock(b);
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    }
    reclaim_some(b);
    brain__writer_unlock(b);
    if (removed)
        *removed = n;
    return 0;
}

static int in_namespace(const struct brain__entry *e, const void *ctx)
{
    const struct brain__key *k = ctx;
    return e->ns_len == k->nslen && memcmp(e->strings, k->ns, k->nslen) == 0;
}

static int has_expired(const struct brain__entry *e, const void *ctx)
{
    return brain__entry_expired(e, *(const int64_t *)ctx);
}

size_t brain__expire_locked(brain *b, int64_t now, int *corrupt)
{
    return unlink_where_locked(b, has_expired, &now, corrupt);
}

int brain_ns_clear(brain *b, const char *ns, size_t *removed)
{
    brain__clear_error();
    struct brain__key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = brain__key_init(b, ns, NULL, &k, 1)))
        return rc;
    return unlink_where(b, in_namespace, &k, removed);
}

int brain_expire(brain *b, size_t *removed)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    int64_t now = brain__plat_now_ns();
    return unlink_where(b, has_expired, &now, removed);
}

/* ---- publishing a whole snapshot at once ------------------------------ */

/* Publishes N reservations of this handle under one hold of the writers'
 * lock and one batch_seq bump: readers (and brain_get_many) see the store
 * before or after, never between.  With EXACT, every other name is deleted
 * in the same batch, so the store then holds exactly these names.
 * LOADED_FROM (may be NULL) is recorded in the header in the same hold.  On
 * error nothing is published and the reservations stay the caller's (to
 * abort).  A process killed inside this call leaves what repair makes of a
 * half-applied batch: the window is the index stores alone, no copying. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct keep_only {
    const uint64_t *blocks; /* sorted */
    size_t n;
};

static int unlink_unless_kept(brain *b, _Atomic uint64_t *slot, const struct brain__entry *e, void *ctx)
{
    (void)e;
    const struct keep_only *k = ctx;
    uint64_t blk = brain__idx_block(atomic_load(slot));
    if (!bsearch(&blk, k->blocks, k->n, sizeof *k->blocks, cmp_u64))
        unlink_locked(b, (uint64_t *)slot);
    return 0;
}

int brain__publish_batch(brain *b, brain_reservation **res, size_t n, int exact,
                         const uint8_t loaded_from[16])
{
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (!res[i] || res[i]->stale || res[i]->owner != b)
            return brain__fail(BRAIN_ESTALE, "a reservation of the batch is not this handle's");
    uint64_t *blocks = malloc((n ? n : 1) * sizeof *blocks);
    if (!blocks)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        blocks[i] = res[i]->block;
    qsort(blocks, n, sizeof *blocks, cmp_u64);
    if ((rc = brain__writer_lock(b))) {
        free(blocks);
        return rc;
    }
    reclaim_some(b);
    rc = brain__index_reserve(b, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct brain__entry *e = (const struct brain__entry *)(b->rw + res[i]->block + BLOCK_HDR);
        int ni = brain__ns_get_or_add(b, brain__entry_ns(e), e->ns_len);
        if (ni < 0)
            rc = ni;
    }
    uint64_t packed = atomic_load(&b->h->index), nslots = 0;
    if (rc == 0 && exact && !brain__index_table(b, packed, &nslots))
        rc = brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    if (rc) {
        brain__writer_unlock(b);
        free(blocks);
        return rc;
    }
    brain__batch_begin(b);
    for (size_t i = 0; i < n; i++) {
        const struct brain__entry *e = (const struct brain__entry *)(b->rw + res[i]->block + BLOCK_HDR);
        int r = brain__put_locked(b, res[i]->block, e->hash, brain__entry_ns(e), e->ns_len,
                                  brain__entry_name(e), e->name_len, &res[i]->opts, NULL);
        if (r) /* cannot happen after the checks above; keep the store sane */
            brain__alloc_free(b, res[i]->block);
        atomic_fetch_sub(&b->slot->nreserved, 1);
    }
    if (exact) { /* brain__put_locked never grows the index after brain__index_reserve */
        struct keep_only k = {blocks, n};
        brain__index_foreach(b, unlink_unless_kept, &k); /* the table was checked above */
    }
    if (loaded_from)
        memcpy(b->h->loaded_from, loaded_from, 16);
    brain__batch_end(b);
    brain__writer_unlock(b);
    for (size_t i = n; i-- > 0;) { /* newest first: each is at the list's head */
        brain__reservation_unlist(b, res[i]);
        free(res[i]);
        res[i] = NULL;
    }
    free(blocks);
    return 0;
}
