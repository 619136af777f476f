/*
 * read.c - the operations that read names: get (a view), view release,
 * read (a copy), meta, exists and get_many.
 *
 * Reads run without the writers' lock: brain__lane_enter() announces an
 * epoch, brain__index_find() walks the lock-free index, and the value is
 * copied or pinned before brain__lane_leave().  Nothing here writes the
 * store but the reader's own lane and pins.
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>

/* ---- reads ------------------------------------------------------------- */

/* Inside a lane: the unexpired entry of K (and its block), or NULL. */
static const struct brain__entry *find_live(brain *b, const struct brain__key *k, uint64_t *blk, int *corrupt)
{
    *corrupt = 0;
    const struct brain__entry *e = brain__index_find(b, k->hash, k->ns, k->nslen, k->name, k->namelen, blk, corrupt);
    if (e && e->expires_ns && brain__entry_expired(e, brain__plat_now_ns())) {
        *corrupt = 0; /* found, just expired */
        return NULL;
    }
    return e;
}

/* The checks every single-name read opens with: clear the thread's error,
 * check the handle, check and hash the key into K. */
static int read_begin(brain *b, const char *ns, const char *name, struct brain__key *k)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc == 0)
        rc = brain__key_init(b, ns, name, k, 0);
    return rc;
}

/* Enter a lane and find K's unexpired entry (and its block).  On success
 * the caller is in *LANE and leaves it; on a miss the lane is left and the
 * error (not found, or a damaged index) is returned. */
static int read_find(brain *b, const struct brain__key *k, struct brain__lane **lane,
                     const struct brain__entry **e, uint64_t *blk)
{
    int corrupt;
    *lane = brain__lane_enter(b);
    *e = find_live(b, k, blk, &corrupt);
    if (!*e) {
        brain__lane_leave(*lane);
        return brain__key_not_found(b, k, corrupt);
    }
    return 0;
}

/* *V describes entry E of block BLK, pinned by the caller (brain_get here,
 * brain_publish_view in write.c). */
void brain__view_fill(brain *b, brain_view *v, const struct brain__entry *e, uint64_t blk)
{
    v->data = b->ro + blk + BLOCK_HDR + e->data_off;
    v->size = e->size;
    brain__entry_fill_info(b, e, &v->info, INFO_STRINGS);
    v->pin_ = blk;
}

int brain_get(brain *b, const char *ns, const char *name, brain_view *view)
{
    struct brain__key k;
    int rc = read_begin(b, ns, name, &k);
    if (rc)
        return rc;
    if (!view)
        return brain__fail(BRAIN_EINVAL, "brain_get: view is NULL");
    memset(view, 0, sizeof *view);
    struct brain__lane *lane;
    const struct brain__entry *e;
    uint64_t blk;
    if ((rc = read_find(b, &k, &lane, &e, &blk)))
        return rc;
    rc = brain__pin_add(b, blk);
    if (rc == 0)
        brain__view_fill(b, view, e, blk);
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
    struct brain__key k;
    int rc = read_begin(b, ns, name, &k);
    if (rc)
        return rc;
    if (!size || (!buf && cap))
        return brain__fail(BRAIN_EINVAL, "brain_read: size is NULL, or buf is NULL with cap > 0");
    struct brain__lane *lane;
    const struct brain__entry *e;
    uint64_t blk;
    if ((rc = read_find(b, &k, &lane, &e, &blk)))
        return rc;
    uint64_t n = e->size;
    *size = n;
    if (info)
        brain__entry_fill_info(b, e, info, INFO_NO_STRINGS);
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
    struct brain__key k;
    int rc = read_begin(b, ns, name, &k);
    if (rc)
        return rc;
    if (!info || (!strbuf && cap))
        return brain__fail(BRAIN_EINVAL, "brain_meta: info is NULL, or strbuf is NULL with cap > 0");
    struct brain__lane *lane;
    const struct brain__entry *e;
    uint64_t blk;
    if ((rc = read_find(b, &k, &lane, &e, &blk)))
        return rc;
    brain__entry_fill_info(b, e, info, INFO_NO_STRINGS);
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
    struct brain__key k;
    int rc = read_begin(b, ns, name, &k);
    if (rc)
        return rc;
    struct brain__lane *lane = brain__lane_enter(b);
    uint64_t blk;
    int corrupt;
    int found = find_live(b, &k, &blk, &corrupt) != NULL;
    brain__lane_leave(lane);
    if (!found && corrupt)
        return brain__key_not_found(b, &k, 1);
    return found;
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
    struct brain__key *k = malloc(n * sizeof *k);
    if (!k)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        memset(&views[i], 0, sizeof views[i]);
        if ((rc = brain__key_init(b, keys[i].ns, keys[i].name, &k[i], 0))) {
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
                rc = brain__key_not_found(b, &k[i], corrupt && !e);
                break;
            }
            if ((rc = brain__pin_add(b, blk)))
                break;
            brain__view_fill(b, &views[i], e, blk);
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
