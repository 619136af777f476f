/*
 * ops.c - the operations on names: put, reserve/publish, get, read, meta,
 * exists, delete, the batched forms, listing, namespaces, wait, expiry,
 * stats and resize.
 *
 * Reads run without the writers' lock: brain__lane_enter() announces an epoch,
 * brain__index_find() walks the lock-free index, and the value is copied or
 * pinned before brain__lane_leave().  Writes take the lock, build the new entry
 * in a block of its own (large values are copied outside the lock, in a
 * reservation), then link it with one atomic store inside a batch_seq
 * bracket, and retire what it replaced to limbo.
 */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define UNLOCKED_COPY_MIN (64u << 10)
/* values this large have their pages mapped in one call before the copy */
#define PREFAULT_MIN (4u << 20)

struct key {
    const char *ns, *name;
    size_t nslen, namelen;
    uint64_t hash;
};

static int key_init(brain *b, const char *ns, const char *name, struct key *k, int name_optional)
{
    int rc;
    if (!ns) {
        k->ns = "default";
        k->nslen = 7;
    } else {
        k->ns = ns;
        if ((rc = brain__name_check(ns, BRAIN_NS_MAX, BRAIN_ENAMESPACE, "namespace", &k->nslen)))
            return rc;
    }
    k->name = name;
    k->namelen = 0;
    if (name || !name_optional) {
        if ((rc = brain__name_check(name, BRAIN_NAME_MAX, BRAIN_ENAME, "name", &k->namelen)))
            return rc;
        k->hash = brain__key_hash(b->h->hash_seed, k->ns, k->nslen, name, k->namelen);
    } else {
        k->hash = 0;
    }
    return 0;
}

static int not_found(brain *b, const struct key *k, int corrupt)
{
    if (corrupt)
        return brain__fail(BRAIN_ECORRUPT,
                       "store '%s': the index is damaged near name '%s'; run `brain check`",
                       b->path, k->name);
    return brain__fail(BRAIN_ENOTFOUND, "name '%s' not found in namespace '%s' of store '%s'",
                   k->name, k->ns, b->path);
}

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

static uint64_t entry_hdr_size(const struct key *k, size_t desclen)
{
    return align_up(ENTRY_FIXED + k->nslen + 1 + k->namelen + 1 + desclen + 1, BRAIN_ALIGN);
}

/* Writes the entry's key part into block BLK. */
static struct brain__entry *entry_build(brain *b, uint64_t blk, const struct key *k,
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

static void batch_begin(brain *b) { atomic_fetch_add(&b->h->batch_seq, 1); }
static void batch_end(brain *b) { atomic_fetch_add(&b->h->batch_seq, 1); }

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
        oldblk = (atomic_load((_Atomic uint64_t *)slot) & IDX_OFF_MASK) << 6;
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
    atomic_store((_Atomic uint64_t *)slot, ((hash >> 40) << IDX_OFF_BITS) | (block >> 6));
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
        brain__limbo_reclaim(b, 0);
}

/* ---- put --------------------------------------------------------------- */

static int reserve_block(brain *b, const struct key *k, const brain_put_opts *opts,
                         size_t desclen, uint64_t size, unsigned state, uint64_t *blk)
{
    uint64_t payload = entry_hdr_size(k, desclen) + size;
    if (size > BRAIN_MAX_CAPACITY)
        payload = size;
    int rc = brain__alloc_block(b, payload, state, BK_ENTRY, size, blk);
    if (rc)
        return rc;
    if (state == BS_RESERVED) {
        struct brain__block *bb = (struct brain__block *)(b->rw + *blk);
        bb->owner = b->slot_idx + 1;
        bb->pad[0] = atomic_load(&b->slot->owner);
        atomic_fetch_add(&b->slot->nreserved, 1);
    }
    entry_build(b, *blk, k, opts, desclen, size);
    return 0;
}

static int link_one(brain *b, uint64_t blk, const struct key *k, const brain_put_opts *opts,
                    uint64_t *version)
{
    int rc = brain__index_maybe_grow(b);
    if (rc)
        return rc;
    batch_begin(b);
    rc = brain__put_locked(b, blk, k->hash, k->ns, k->nslen, k->name, k->namelen, opts, version);
    batch_end(b);
    return rc;
}

int brain_put(brain *b, const char *ns, const char *name, const void *data, size_t size,
              const brain_put_opts *opts, uint64_t *version)
{
    brain__clear_error();
    struct key k;
    size_t desclen;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, name, &k, 0)) || (rc = opts_check(opts, &desclen)))
        return rc;
    if (!data && size)
        return brain__fail(BRAIN_EINVAL, "data is NULL but size is %zu", size);
    if (opts && (rc = brain__value_validate(opts->type, data ? data : "", size)))
        return rc;
    uint64_t blk;
    if (size >= UNLOCKED_COPY_MIN) {
        /* copy outside the lock: reserve, write, publish */
        if ((rc = brain__writer_lock(b)))
            return rc;
        reclaim_some(b);
        rc = reserve_block(b, &k, opts, desclen, size, BS_RESERVED, &blk);
        brain__writer_unlock(b);
        if (rc)
            return rc;
        if (size >= PREFAULT_MIN)
            brain__plat_prefault_write(entry_data_rw(b, blk), size);
        memcpy(entry_data_rw(b, blk), data, size);
        if ((rc = brain__writer_lock(b)))
            return rc; /* the block is reclaimed as this process's reservation */
        rc = link_one(b, blk, &k, opts, version);
        atomic_fetch_sub(&b->slot->nreserved, 1);
        if (rc)
            brain__alloc_free(b, blk);
        brain__writer_unlock(b);
        return rc;
    }
    if ((rc = brain__writer_lock(b)))
        return rc;
    reclaim_some(b);
    rc = reserve_block(b, &k, opts, desclen, size, BS_USED, &blk);
    if (rc == 0) {
        if (size)
            memcpy(entry_data_rw(b, blk), data, size);
        rc = link_one(b, blk, &k, opts, version);
        if (rc)
            brain__alloc_free(b, blk);
    }
    brain__writer_unlock(b);
    return rc;
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
    struct key k;
    size_t desclen;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, name, &k, 0)) || (rc = opts_check(opts, &desclen)))
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
    rc = reserve_block(b, &k, opts, desclen, size, BS_RESERVED, &r->block);
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
    pthread_mutex_lock(&b->mu);
    r->next = b->reservations;
    b->reservations = r;
    pthread_mutex_unlock(&b->mu);
    *res = r;
    *data = entry_data_rw(b, r->block);
    if (prefault && size >= PREFAULT_MIN) /* the caller writes it all next */
        brain__plat_prefault_write(*data, size);
    return 0;
}

static int unlist_reservation(brain *b, brain_reservation *res)
{
    int found = 0;
    pthread_mutex_lock(&b->mu);
    for (brain_reservation **p = &b->reservations; *p; p = &(*p)->next)
        if (*p == res) {
            *p = res->next;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&b->mu);
    return found;
}

int brain_publish(brain *b, brain_reservation *res, uint64_t *version)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!res)
        return brain__fail(BRAIN_EINVAL, "brain_publish: reservation is NULL");
    if (res->stale || res->owner != b || !unlist_reservation(b, res)) {
        free(res);
        return brain__fail(BRAIN_ESTALE,
                       "the reservation was made by another process or handle (for example "
                       "before fork); reserve again in this process");
    }
    const struct brain__entry *e = (const struct brain__entry *)(b->rw + res->block + BLOCK_HDR);
    rc = brain__value_validate(e->type, (const uint8_t *)e + e->data_off, e->size);
    int lrc = brain__writer_lock(b);
    if (lrc) {
        free(res);
        return lrc;
    }
    if (rc == 0) {
        struct key k = {brain__entry_ns(e), brain__entry_name(e), e->ns_len, e->name_len, e->hash};
        rc = link_one(b, res->block, &k, &res->opts, version);
    }
    atomic_fetch_sub(&b->slot->nreserved, 1);
    if (rc)
        brain__alloc_free(b, res->block);
    brain__writer_unlock(b);
    free(res);
    return rc;
}

void brain_abort(brain *b, brain_reservation *res)
{
    if (!b || !res)
        return;
    if (res->stale || res->owner != b || !unlist_reservation(b, res)) {
        free(res);
        return;
    }
    if (!b->closed && brain__handle_ready(b) == 0 && brain__writer_lock(b) == 0) {
        atomic_fetch_sub(&b->slot->nreserved, 1);
        brain__alloc_free(b, res->block);
        brain__writer_unlock(b);
    }
    free(res);
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
    brain_reservation *res;
    void *dst;
    rc = brain_reserve(b, ns, name, chk.data_offset + chk.nbytes, &o, &res, &dst);
    if (rc)
        return rc;
    brain_array_write_header(&chk, dst, chk.data_offset);
    if (chk.nbytes)
        memcpy((uint8_t *)dst + chk.data_offset, data, chk.nbytes);
    return brain_publish(b, res, version);
}

/* ---- reads ------------------------------------------------------------- */

/* Inside a lane: the unexpired entry of K (and its block), or NULL. */
static const struct brain__entry *find_live(brain *b, const struct key *k, uint64_t *blk, int *corrupt)
{
    *corrupt = 0;
    const struct brain__entry *e = brain__index_find(b, k->hash, k->ns, k->nslen, k->name, k->namelen, blk, corrupt);
    if (e && e->expires_ns && brain__entry_expired(e, brain__plat_now_ns())) {
        *corrupt = 0; /* found, just expired */
        return NULL;
    }
    return e;
}

static void view_fill(brain *b, brain_view *v, const struct brain__entry *e, uint64_t blk)
{
    v->data = b->ro + blk + BLOCK_HDR + e->data_off;
    v->size = e->size;
    brain__entry_fill_info(b, e, &v->info, 1);
    v->pin_ = blk;
}

int brain_get(brain *b, const char *ns, const char *name, brain_view *view)
{
    brain__clear_error();
    struct key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, name, &k, 0)))
        return rc;
    if (!view)
        return brain__fail(BRAIN_EINVAL, "brain_get: view is NULL");
    memset(view, 0, sizeof *view);
    struct brain__lane *lane = brain__lane_enter(b);
    uint64_t blk;
    int corrupt;
    const struct brain__entry *e = find_live(b, &k, &blk, &corrupt);
    if (!e) {
        brain__lane_leave(lane);
        return not_found(b, &k, corrupt);
    }
    rc = brain__pin_add(b, blk);
    if (rc == 0)
        view_fill(b, view, e, blk);
    brain__lane_leave(lane);
    return rc;
}

void brain_view_release(brain *b, brain_view *view)
{
    if (!b || !view || !view->pin_)
        return;
    brain__pin_drop(b, view->pin_);
    memset(view, 0, sizeof *view);
}

int brain_read(brain *b, const char *ns, const char *name, void *buf, size_t cap, size_t *size,
               brain_info *info)
{
    brain__clear_error();
    struct key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, name, &k, 0)))
        return rc;
    if (!size || (!buf && cap))
        return brain__fail(BRAIN_EINVAL, "brain_read: size is NULL, or buf is NULL with cap > 0");
    struct brain__lane *lane = brain__lane_enter(b);
    uint64_t blk;
    int corrupt;
    const struct brain__entry *e = find_live(b, &k, &blk, &corrupt);
    if (!e) {
        brain__lane_leave(lane);
        return not_found(b, &k, corrupt);
    }
    uint64_t n = e->size;
    *size = n;
    if (info)
        brain__entry_fill_info(b, e, info, 0);
    if (n > cap) {
        brain__lane_leave(lane);
        return brain__fail(BRAIN_ERANGE, "value of '%s' is %llu bytes; the buffer holds %zu", k.name,
                       (unsigned long long)n, cap);
    }
    if (n)
        memcpy(buf, b->ro + blk + BLOCK_HDR + e->data_off, n);
    brain__lane_leave(lane);
    return 0;
}

int brain_meta(brain *b, const char *ns, const char *name, brain_info *info, char *strbuf, size_t cap)
{
    brain__clear_error();
    struct key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, name, &k, 0)))
        return rc;
    if (!info || (!strbuf && cap))
        return brain__fail(BRAIN_EINVAL, "brain_meta: info is NULL, or strbuf is NULL with cap > 0");
    struct brain__lane *lane = brain__lane_enter(b);
    uint64_t blk;
    int corrupt;
    const struct brain__entry *e = find_live(b, &k, &blk, &corrupt);
    if (!e) {
        brain__lane_leave(lane);
        return not_found(b, &k, corrupt);
    }
    brain__entry_fill_info(b, e, info, 0);
    size_t need = (size_t)e->ns_len + e->name_len + e->desc_len + 3;
    if (strbuf && cap >= need) {
        memcpy(strbuf, e->strings, need);
        info->ns = strbuf;
        info->name = strbuf + e->ns_len + 1;
        info->desc = strbuf + e->ns_len + 1 + e->name_len + 1;
    } else if (strbuf) {
        brain__lane_leave(lane);
        return brain__fail(BRAIN_ERANGE, "metadata strings need %zu bytes; strbuf holds %zu", need, cap);
    }
    brain__lane_leave(lane);
    return 0;
}

int brain_exists(brain *b, const char *ns, const char *name)
{
    brain__clear_error();
    struct key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, name, &k, 0)))
        return rc;
    struct brain__lane *lane = brain__lane_enter(b);
    uint64_t blk;
    int corrupt;
    int found = find_live(b, &k, &blk, &corrupt) != NULL;
    brain__lane_leave(lane);
    if (!found && corrupt)
        return not_found(b, &k, 1);
    return found;
}

/* ---- delete ------------------------------------------------------------ */

/* Under the lock, inside a batch bracket: unlinks the entry in SLOT. */
static void unlink_locked(brain *b, uint64_t *slot)
{
    struct brain__header *h = b->h;
    uint64_t blk = (atomic_load((_Atomic uint64_t *)slot) & IDX_OFF_MASK) << 6;
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
    struct key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, name, &k, 0)))
        return rc;
    if ((rc = brain__writer_lock(b)))
        return rc;
    reclaim_some(b);
    int existing = 0;
    uint64_t *slot = brain__index_slot_for(b, k.hash, k.ns, k.nslen, k.name, k.namelen, &existing);
    if (!slot || !existing) {
        brain__writer_unlock(b);
        return not_found(b, &k, !slot);
    }
    const struct brain__entry *e = brain__entry_at(b, (atomic_load((_Atomic uint64_t *)slot) & IDX_OFF_MASK) << 6);
    int expired = e && e->expires_ns && brain__entry_expired(e, brain__plat_now_ns());
    batch_begin(b);
    unlink_locked(b, slot);
    batch_end(b);
    brain__writer_unlock(b);
    return expired ? not_found(b, &k, 0) : 0;
}

/* ---- batches ----------------------------------------------------------- */

struct pending {
    struct key k;
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
        if ((rc = key_init(b, it->ns, it->name, &p[i].k, 0)) || (rc = opts_check(it->opts, &p[i].desclen)))
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
        rc = reserve_block(b, &p[i].k, items[i].opts, p[i].desclen, items[i].size, BS_USED, &p[i].blk);
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
    batch_begin(b);
    for (size_t j = 0; j < n; j++) {
        rc = brain__put_locked(b, p[j].blk, p[j].k.hash, p[j].k.ns, p[j].k.nslen, p[j].k.name, p[j].k.namelen,
                        items[j].opts, versions ? &versions[j] : NULL);
        if (rc) /* cannot happen after the checks above; keep the store sane */
            brain__alloc_free(b, p[j].blk);
    }
    batch_end(b);
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

int brain_get_many(brain *b, size_t n, const brain_key *keys, brain_view *views, size_t *failed)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (n == 0)
        return 0;
    if (!keys || !views)
        return brain__fail(BRAIN_EINVAL, "brain_get_many: keys or views is NULL");
    struct key *k = malloc(n * sizeof *k);
    if (!k)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        memset(&views[i], 0, sizeof views[i]);
        if ((rc = key_init(b, keys[i].ns, keys[i].name, &k[i], 0))) {
            if (failed)
                *failed = i;
            free(k);
            return rc;
        }
    }
    struct brain__header *h = b->h;
    int locked = 0;
    for (int attempt = 0;; attempt++) {
        if (attempt >= 16 && !locked) {
            /* writers keep changing names (or one died mid-change): take
             * the lock, which also repairs after a dead writer */
            if ((rc = brain__writer_lock(b)))
                break;
            locked = 1;
        }
        struct brain__lane *lane = brain__lane_enter(b);
        uint64_t s1 = atomic_load(&h->batch_seq);
        if ((s1 & 1) && !locked) {
            brain__lane_leave(lane);
            sched_yield();
            continue;
        }
        size_t i;
        rc = 0;
        int64_t now = brain__plat_now_ns();
        for (i = 0; i < n; i++) {
            uint64_t blk;
            int corrupt = 0;
            const struct brain__entry *e = brain__index_find(b, k[i].hash, k[i].ns, k[i].nslen, k[i].name,
                                                  k[i].namelen, &blk, &corrupt);
            if (!e || (e->expires_ns && brain__entry_expired(e, now))) {
                rc = not_found(b, &k[i], corrupt && !e);
                break;
            }
            if ((rc = brain__pin_add(b, blk)))
                break;
            view_fill(b, &views[i], e, blk);
        }
        atomic_thread_fence(memory_order_acquire);
        uint64_t s2 = atomic_load(&h->batch_seq);
        brain__lane_leave(lane);
        if (rc || (s1 != s2 && !locked)) {
            for (size_t j = 0; j < i; j++)
                brain_view_release(b, &views[j]);
            if (rc == BRAIN_ENOTFOUND && s1 != s2 && !locked)
                continue; /* maybe a concurrent batch: look again */
            if (rc) {
                if (failed)
                    *failed = i;
                break;
            }
            continue;
        }
        break;
    }
    if (locked)
        brain__writer_unlock(b);
    free(k);
    return rc;
}

/* ---- listing and namespaces -------------------------------------------- */

struct list_impl {
    brain_list pub;
    char *strings;
};

struct list_key {
    uint64_t hash;
    size_t idx;
};

static int cmp_list_key(const void *a, const void *b)
{
    const struct list_key *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* A name deleted and stored again while the scan ran can sit in a slot
 * the scan had not reached yet, and show up twice: keep its newest value.
 * HASHES[i] is item i's hash; strings are still offsets into STRINGS. */
static size_t list_dedupe(brain_info *items, const uint64_t *hashes, size_t count,
                          const char *strings)
{
    struct list_key *k = malloc(count * sizeof *k);
    uint8_t *drop = calloc(count, 1);
    if (!k || !drop) {
        free(k);
        free(drop);
        return count;
    }
    for (size_t i = 0; i < count; i++)
        k[i] = (struct list_key){hashes[i], i};
    qsort(k, count, sizeof *k, cmp_list_key);
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count && k[j].hash == k[i].hash; j++) {
            brain_info *x = &items[k[i].idx], *y = &items[k[j].idx];
            const char *xs = strings + (uintptr_t)x->ns, *ys = strings + (uintptr_t)y->ns;
            if (drop[k[i].idx] || drop[k[j].idx] || x->ns_len != y->ns_len ||
                x->name_len != y->name_len ||
                memcmp(xs, ys, (size_t)x->ns_len + 1 + x->name_len) != 0)
                continue;
            drop[x->version < y->version ? k[i].idx : k[j].idx] = 1;
        }
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (!drop[i])
            items[n++] = items[i];
    free(k);
    free(drop);
    return n;
}

int brain_list_names(brain *b, const char *ns, int all_ns, brain_list **out)
{
    brain__clear_error();
    struct key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, NULL, &k, 1)))
        return rc;
    if (!out)
        return brain__fail(BRAIN_EINVAL, "brain_list_names: out is NULL");
    *out = NULL;
    struct list_impl *L = calloc(1, sizeof *L);
    size_t cap = 64, scap = 4096, slen = 0;
    brain_info *items = malloc(cap * sizeof *items);
    char *strings = malloc(scap);
    if (!L || !items || !strings) {
        free(L);
        free(items);
        free(strings);
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    }
    size_t count = 0;
    uint64_t *hashes = malloc(cap * sizeof *hashes);
    if (!hashes) {
        free(L);
        free(items);
        free(strings);
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    }
    struct brain__lane *lane = brain__lane_enter(b);
    uint64_t seq0 = atomic_load(&b->h->batch_seq);
    uint64_t packed = atomic_load(&b->h->index);
    uint64_t nslots = 0;
    _Atomic uint64_t *t = brain__index_table(b, packed, &nslots);
    int64_t now = brain__plat_now_ns();
    rc = t ? 0 : brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    for (uint64_t i = 0; t && i < nslots; i++) {
        uint64_t w = atomic_load(&t[i]);
        if (w == IDX_EMPTY || w == IDX_TOMB)
            continue;
        const struct brain__entry *e = brain__entry_at(b, (w & IDX_OFF_MASK) << 6);
        if (!e || brain__entry_expired(e, now))
            continue;
        if (!all_ns && !(e->ns_len == k.nslen && memcmp(e->strings, k.ns, k.nslen) == 0))
            continue;
        size_t need = (size_t)e->ns_len + e->name_len + e->desc_len + 3;
        if (count == cap || slen + need > scap) {
            size_t ncap = count == cap ? cap * 2 : cap;
            size_t nscap = slen + need > scap ? (scap + need) * 2 : scap;
            brain_info *ni = realloc(items, ncap * sizeof *ni);
            if (ni)
                items = ni;
            uint64_t *nh = ni ? realloc(hashes, ncap * sizeof *nh) : NULL;
            if (nh)
                hashes = nh;
            char *nsb = nh ? realloc(strings, nscap) : NULL;
            if (nsb)
                strings = nsb;
            if (!ni || !nh || !nsb) {
                rc = brain__fail(BRAIN_ENOMEM, "out of memory while listing");
                break;
            }
            cap = ncap;
            scap = nscap;
        }
        brain__entry_fill_info(b, e, &items[count], 0);
        hashes[count] = e->hash;
        memcpy(strings + slen, e->strings, need);
        /* offsets for now; pointers once the buffer stops moving */
        items[count].ns = (const char *)(uintptr_t)slen;
        slen += need;
        count++;
    }
    int moved = atomic_load(&b->h->batch_seq) != seq0;
    brain__lane_leave(lane);
    if (rc) {
        free(items);
        free(hashes);
        free(strings);
        free(L);
        return rc;
    }
    if (moved)
        count = list_dedupe(items, hashes, count, strings);
    free(hashes);
    for (size_t i = 0; i < count; i++) {
        const char *s = strings + (uintptr_t)items[i].ns;
        items[i].ns = s;
        items[i].name = s + items[i].ns_len + 1;
        items[i].desc = items[i].name + items[i].name_len + 1;
    }
    L->pub.count = count;
    L->pub.items = items;
    L->strings = strings;
    *out = &L->pub;
    return 0;
}

void brain_list_free(brain_list *list)
{
    if (!list)
        return;
    struct list_impl *L = (struct list_impl *)list;
    free(L->pub.items);
    free(L->strings);
    free(L);
}

int brain_namespaces(brain *b, brain_ns_info **out, size_t *count)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!out || !count)
        return brain__fail(BRAIN_EINVAL, "brain_namespaces: out or count is NULL");
    struct brain__header *h = b->h;
    brain_ns_info *arr = calloc(h->max_namespaces, sizeof *arr);
    if (!arr)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    size_t n = 0;
    int locked = 0;
    for (int attempt = 0;; attempt++) {
        if (attempt == 64) {
            if ((rc = brain__writer_lock(b))) {
                free(arr);
                return rc;
            }
            locked = 1;
        }
        uint64_t s1 = atomic_load(&h->batch_seq);
        if ((s1 & 1) && !locked) {
            sched_yield();
            continue;
        }
        n = 0;
        for (uint32_t i = 0; i < h->max_namespaces; i++) {
            struct brain__nsrec *r = brain__nsrec_at(b, i);
            if (!atomic_load_explicit(&r->used, memory_order_acquire))
                continue;
            uint32_t len = r->len;
            if (len == 0 || len > BRAIN_NS_MAX)
                continue;
            int is_default = len == 7 && memcmp(r->name, "default", 7) == 0;
            if (!r->names && !is_default)
                continue;
            memcpy(arr[n].name, r->name, len);
            arr[n].name[len] = 0;
            arr[n].names = r->names;
            arr[n].bytes = r->bytes;
            arr[n].version = r->version;
            n++;
        }
        atomic_thread_fence(memory_order_acquire);
        if (locked || atomic_load(&h->batch_seq) == s1)
            break;
    }
    if (locked)
        brain__writer_unlock(b);
    *out = arr;
    *count = n;
    return 0;
}

/* Takes the lock and unlinks every entry for which MATCH is true, in one
 * batch; *removed (may be NULL) gets how many. */
static int unlink_where(brain *b, int (*match)(const struct brain__entry *, const void *),
                        const void *ctx, size_t *removed)
{
    int rc = brain__writer_lock(b);
    if (rc)
        return rc;
    uint64_t packed = atomic_load(&b->h->index), nslots = 0;
    uint64_t *t = (uint64_t *)brain__index_table(b, packed, &nslots);
    if (!t) {
        brain__writer_unlock(b);
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    }
    size_t n = 0;
    batch_begin(b);
    for (uint64_t i = 0; i < nslots; i++) {
        uint64_t w = atomic_load((_Atomic uint64_t *)&t[i]);
        if (w == IDX_EMPTY || w == IDX_TOMB)
            continue;
        const struct brain__entry *e = brain__entry_at(b, (w & IDX_OFF_MASK) << 6);
        if (e && match(e, ctx)) {
            unlink_locked(b, &t[i]);
            n++;
        }
    }
    batch_end(b);
    reclaim_some(b);
    brain__writer_unlock(b);
    if (removed)
        *removed = n;
    return 0;
}

static int in_namespace(const struct brain__entry *e, const void *ctx)
{
    const struct key *k = ctx;
    return e->ns_len == k->nslen && memcmp(e->strings, k->ns, k->nslen) == 0;
}

static int has_expired(const struct brain__entry *e, const void *ctx)
{
    return brain__entry_expired(e, *(const int64_t *)ctx);
}

int brain_ns_clear(brain *b, const char *ns, size_t *removed)
{
    brain__clear_error();
    struct key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, NULL, &k, 1)))
        return rc;
    return unlink_where(b, in_namespace, &k, removed);
}

/* ---- wait, version, expiry ---------------------------------------------- */

int brain_version(brain *b, uint64_t *version)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!version)
        return brain__fail(BRAIN_EINVAL, "brain_version: version is NULL");
    *version = atomic_load(&b->h->version);
    return 0;
}

int brain_wait(brain *b, const char *ns, const char *name, uint64_t after_version, int64_t timeout_ms,
               uint64_t *version)
{
    brain__clear_error();
    struct key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = key_init(b, ns, name, &k, 1)))
        return rc;
    struct brain__header *h = b->h;
    uint64_t nsh = brain__ns_hash(b, k.ns, k.nslen);
    unsigned bucket = (unsigned)((name ? k.hash : nsh) % WAIT_BUCKETS);
    int64_t deadline = timeout_ms >= 0 ? brain__plat_mono_ns() + timeout_ms * 1000000 : -1;
    for (;;) {
        atomic_fetch_add(&h->waiters[bucket], 1);
        uint32_t seq = atomic_load(&h->wait_seq[bucket]);
        uint64_t cur = 0;
        int64_t expires = 0, now = brain__plat_now_ns();
        if (name) {
            struct brain__lane *lane = brain__lane_enter(b);
            uint64_t blk;
            int corrupt = 0;
            const struct brain__entry *e = brain__index_find(b, k.hash, k.ns, k.nslen, k.name, k.namelen, &blk, &corrupt);
            if (e && !brain__entry_expired(e, now)) {
                cur = e->version;
                expires = e->expires_ns;
            }
            brain__lane_leave(lane);
        } else {
            int ni = brain__ns_find(b, k.ns, k.nslen);
            cur = ni >= 0 ? brain__nsrec_at(b, (uint32_t)ni)->version : 0;
        }
        if (cur != after_version) {
            atomic_fetch_sub(&h->waiters[bucket], 1);
            if (version)
                *version = cur;
            return 0;
        }
        int64_t left = -1;
        if (deadline >= 0) {
            left = deadline - brain__plat_mono_ns();
            if (left <= 0) {
                atomic_fetch_sub(&h->waiters[bucket], 1);
                if (version)
                    *version = cur;
                return brain__fail(BRAIN_ETIMEDOUT, "no change to '%s' in namespace '%s' within %lld ms",
                               name ? name : "*", k.ns, (long long)timeout_ms);
            }
        }
        if (expires) {
            int64_t until = expires - now;
            if (until < 0)
                until = 0;
            if (left < 0 || until < left)
                left = until + 1000000;
        }
        brain__plat_futex_wait(&h->wait_seq[bucket], seq, left);
        atomic_fetch_sub(&h->waiters[bucket], 1);
    }
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

/* ---- stats and resize ----------------------------------------------------- */

int brain_stats_get(brain *b, brain_stats *st)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!st)
        return brain__fail(BRAIN_EINVAL, "brain_stats_get: st is NULL");
    /* never waits for the writers' lock: when it is busy the figures are
     * read without it (a moment stale; largest_free a lower bound) */
    int locked = (rc = writer_lock_try(b, 0)) == 0;
    if (rc && rc != BRAIN_EWOULDBLOCK)
        return rc;
    brain__clear_error();
    struct brain__header *h = b->h;
    if (locked) {
        brain__reap_dead(b, NULL, 0);
        if (h->limbo_head) /* all of it: the figures below should be settled */
            brain__limbo_reclaim(b, 0);
    }
    memset(st, 0, sizeof *st);
    st->capacity = atomic_load(&h->capacity);
    st->file_size = atomic_load(&h->file_size);
    /* the header, process table, namespace table and sentinel count as
     * used, so that used + free + limbo == capacity */
    st->used = h->used + h->arena_off + BLOCK_HDR;
    st->limbo = h->limbo_bytes;
    st->free = st->capacity > st->used + st->limbo ? st->capacity - st->used - st->limbo : 0;
    uint64_t lf = locked ? brain__alloc_largest_free(b) : 0;
    uint64_t tail = st->capacity - st->file_size; /* room the file can still grow */
    st->largest_free = lf + tail > st->free ? st->free : lf + tail;
    st->names = h->index_count;
    st->version = atomic_load(&h->version);
    st->index_slots = 1ull << (atomic_load(&h->index) & 63);
    st->blocks = h->nblocks;
    st->free_blocks = h->nfree;
    st->recoveries = h->recoveries;
    st->reaped = h->reaped;
    st->max_procs = h->max_procs;
    st->max_namespaces = h->max_namespaces;
    for (uint32_t i = 0; i < h->max_procs; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        uint64_t owner = atomic_load(&s->owner);
        if (!owner)
            continue;
        if ((owner >> 32) == SLOT_ACTIVE)
            st->procs++;
        uint32_t hw = atomic_load(&s->npins_hw);
        for (uint32_t p = 0; p < hw && p < PINS; p++)
            if (atomic_load(&s->pins[p]))
                st->pins++;
    }
    for (uint32_t i = 0; i < h->max_namespaces; i++) {
        struct brain__nsrec *r = brain__nsrec_at(b, i);
        if (atomic_load(&r->used) && (r->names || (r->len == 7 && !memcmp(r->name, "default", 7))))
            st->namespaces++;
    }
    if (locked)
        brain__writer_unlock(b);
    return 0;
}

int brain_procs(brain *b, brain_proc_info **out, size_t *count)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!out || !count)
        return brain__fail(BRAIN_EINVAL, "brain_procs: NULL argument");
    *out = NULL;
    *count = 0;
    struct brain__header *h = b->h;
    uint32_t hw = atomic_load(&h->slots_hw);
    if (hw > h->max_procs)
        hw = h->max_procs;
    brain_proc_info *v = calloc(hw ? hw : 1, sizeof *v);
    if (!v)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    size_t n = 0;
    /* no lock: each slot is read with atomic loads, and a process that
     * attaches or leaves meanwhile is shown or not, as at some moment */
    for (uint32_t i = 0; i < hw; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        uint64_t owner = atomic_load(&s->owner);
        if (!owner || (owner >> 32) != SLOT_ACTIVE)
            continue;
        brain_proc_info *p = &v[n++];
        p->pid = (int32_t)(owner & 0xffffffffu);
        p->self = s == b->slot;
        p->alive = p->self || brain__plat_proc_alive((pid_t)p->pid, s->start_time);
        p->reservations = atomic_load(&s->nreserved);
        uint32_t phw = atomic_load(&s->npins_hw);
        for (uint32_t k = 0; k < phw && k < PINS; k++)
            if (atomic_load(&s->pins[k]))
                p->pins++;
    }
    if (n == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *count = n;
    return 0;
}

int brain__index_relocate(brain *b, uint64_t limit);

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
    atomic_store((_Atomic uint64_t *)slot, ((e->hash >> 40) << IDX_OFF_BITS) | (nb >> 6));
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
        struct brain__block *blk = (struct brain__block *)(b->rw + off);
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
    if (tblk + bs_size(atomic_load(&((struct brain__block *)(b->rw + tblk))->sizestate)) > limit) {
        int rc = brain__index_relocate(b, limit);
        if (rc)
            return rc;
    }
    for (uint64_t off = h->arena_off; off + BLOCK_HDR < fs;) {
        struct brain__block *blk = (struct brain__block *)(b->rw + off);
        uint64_t ss = atomic_load(&blk->sizestate), size = bs_size(ss);
        if (bs_state(ss) == BS_SENTINEL)
            break;
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
                    batch_end(b);
                    brain__limbo_reclaim(b, 1);
                    batch_begin(b);
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
    brain__limbo_reclaim(b, 1);
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
    batch_begin(b);
    rc = move_down(b, cap);
    batch_end(b);
    brain__limbo_reclaim(b, 1);
    if (rc == 0) {
        /* everything from the new end on must now be one free block */
        struct brain__block *sent = (struct brain__block *)(b->rw + fs - BLOCK_HDR);
        uint64_t last = fs - BLOCK_HDR - sent->prev_size;
        struct brain__block *lb = (struct brain__block *)(b->rw + last);
        uint64_t lss = atomic_load(&lb->sizestate);
        if (bs_state(lss) != BS_FREE || last > cap - BLOCK_HDR) {
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
            uint64_t nsent = new_end - BLOCK_HDR;
            brain__alloc_remove_free(b, last, bs_size(lss));
            struct brain__block *ns = (struct brain__block *)(b->rw + nsent);
            uint64_t keep = nsent - last;
            if (keep) {
                ns->prev_size = keep;
                ns->kind = BK_NONE;
                atomic_store(&ns->sizestate, BLOCK_HDR | BS_SENTINEL);
                atomic_store(&lb->sizestate, keep | BS_FREE);
            } else {
                ns->prev_size = lb->prev_size;
                atomic_store(&ns->sizestate, BLOCK_HDR | BS_SENTINEL);
                h->nblocks--;
            }
            atomic_store(&h->file_size, new_end);
            atomic_store(&h->capacity, cap);
            if (keep)
                brain__alloc_insert_free(b, last, keep);
            if (ftruncate(b->fd, (off_t)new_end) != 0)
                rc = brain__fail(BRAIN_EIO, "store '%s': truncating the file failed: %s", b->path, strerror(errno));
        }
    }
    brain__writer_unlock(b);
    return rc;
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

int bh_publish_batch(brain *b, brain_reservation **res, size_t n, int exact,
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
    uint64_t *t = rc == 0 && exact ? (uint64_t *)brain__index_table(b, packed, &nslots) : NULL;
    if (rc == 0 && exact && !t)
        rc = brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    if (rc) {
        brain__writer_unlock(b);
        free(blocks);
        return rc;
    }
    batch_begin(b);
    for (size_t i = 0; i < n; i++) {
        const struct brain__entry *e = (const struct brain__entry *)(b->rw + res[i]->block + BLOCK_HDR);
        int r = brain__put_locked(b, res[i]->block, e->hash, brain__entry_ns(e), e->ns_len, brain__entry_name(e),
                           e->name_len, &res[i]->opts, NULL);
        if (r) /* cannot happen after the checks above; keep the store sane */
            brain__alloc_free(b, res[i]->block);
        atomic_fetch_sub(&b->slot->nreserved, 1);
    }
    if (exact) {
        packed = atomic_load(&b->h->index); /* brain__put_locked never grows it after brain__index_reserve */
        t = (uint64_t *)brain__index_table(b, packed, &nslots);
        for (uint64_t i = 0; t && i < nslots; i++) {
            uint64_t w = atomic_load((_Atomic uint64_t *)&t[i]);
            if (w == IDX_EMPTY || w == IDX_TOMB)
                continue;
            uint64_t blk = (w & IDX_OFF_MASK) << 6;
            if (!bsearch(&blk, blocks, n, sizeof *blocks, cmp_u64))
                unlink_locked(b, &t[i]);
        }
    }
    if (loaded_from)
        memcpy(b->h->loaded_from, loaded_from, 16);
    batch_end(b);
    brain__writer_unlock(b);
    for (size_t i = n; i-- > 0;) { /* newest first: each is at the list's head */
        unlist_reservation(b, res[i]);
        free(res[i]);
        res[i] = NULL;
    }
    free(blocks);
    return 0;
}
