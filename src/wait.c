/*
 * wait.c - the store's version and brain_wait: sleeping until a name (or a
 * namespace) changes.
 *
 * A waiter sleeps on a futex word of the header chosen by the name's and
 * the namespace's hash (brain__wake_key, called by every writer, bumps and
 * wakes them).  Nothing here takes the writers' lock.
 */
#include "internal.h"

#include <errno.h>

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
    struct brain__key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = brain__key_init(b, ns, name, &k, 1)))
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

void brain__wake_key(brain *b, uint64_t name_hash, uint64_t nsh)
{
    struct brain__header *h = b->h;
    unsigned i = (unsigned)(name_hash % WAIT_BUCKETS), j = (unsigned)(nsh % WAIT_BUCKETS);
    atomic_fetch_add(&h->wait_seq[i], 1);
    if (j != i)
        atomic_fetch_add(&h->wait_seq[j], 1);
    if (atomic_load(&h->waiters[i]))
        brain__plat_futex_wake(&h->wait_seq[i]);
    if (j != i && atomic_load(&h->waiters[j]))
        brain__plat_futex_wake(&h->wait_seq[j]);
}
