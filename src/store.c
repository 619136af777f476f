/*
 * store.c - opening, creating, mapping, attaching and closing a store;
 * the writers' lock; attaching a handle's process slot (the table itself is
 * proctable.c's), fork, and a handle's reservations (aborted at close).
 *
 * A new store is built in a temporary file beside its final path and
 * linked into place, so no process ever sees a half-initialised store.
 * Every process maps the file twice over one large reservation of address
 * space (read-write for the library, read-only for views handed out), so
 * growing the file never moves a mapping.  The lock itself is the platform
 * layer's (platform_linux.c: a robust mutex in the header, and a shared OFD
 * lock held by every attached process, so that a process that can take it
 * exclusively is alone and resets the mutex and process table and repairs
 * what dead processes or a reboot left behind; platform_posix.c: a flock on
 * the file and the header's dirty mark).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RESERVE_MAX (BRAIN_MAX_CAPACITY)
#define INITIAL_ARENA (1ull << 20)

static pthread_mutex_t g_open_mu = PTHREAD_MUTEX_INITIALIZER;
static brain *g_open;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* ---- paths ------------------------------------------------------------- */

int brain_resolve(const char *store, char *buf, size_t cap)
{
    if (!store || !buf)
        return brain__fail(BRAIN_EINVAL, "store name is NULL; pass a name such as \"app1\" or an absolute path");
    size_t n = strlen(store);
    int w;
    if (n == 0 || strcmp(store, ".") == 0 || strcmp(store, "..") == 0)
        return brain__fail(BRAIN_EINVAL, "store name '%s' is not valid; pass a name such as \"app1\" or an absolute path", store);
    if (store[0] == '/') {
        if (n >= BRAIN_PATH_MAX)
            return brain__fail(BRAIN_EINVAL, "store path is %zu bytes long; the limit is %d", n, BRAIN_PATH_MAX - 1);
        w = snprintf(buf, cap, "%s", store);
    } else {
        if (strchr(store, '/'))
            return brain__fail(BRAIN_EINVAL,
                           "store '%s' is a relative path; pass a bare name (kept in %s) or an absolute path",
                           store, brain__plat_default_dir());
        if (n > 200)
            return brain__fail(BRAIN_EINVAL, "store name is %zu bytes long; the limit for a bare name is 200", n);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)store[i] < 0x20)
                return brain__fail(BRAIN_EINVAL, "store name contains a control character");
        w = snprintf(buf, cap, "%s/brain-%s", brain__plat_default_dir(), store);
    }
    if (w < 0 || (size_t)w >= cap)
        return brain__fail(BRAIN_ERANGE, "buffer of %zu bytes is too small for the store path", cap);
    return 0;
}

const char *brain_path(const brain *b) { return b ? b->path : ""; }

/* ---- header ------------------------------------------------------------ */

static uint64_t header_check(const struct brain__header *h)
{
    return brain__key_hash(0x6272616e6221ull, (const char *)h, offsetof(struct brain__header, hcheck), "", 0);
}

static uint64_t layout_arena_off(uint32_t max_procs, uint32_t max_ns)
{
    return align_up(HEADER_SIZE + (uint64_t)max_procs * SLOT_SIZE +
                        (uint64_t)max_ns * NSREC_SIZE,
                    4096);
}

static int header_cut(const char *path, uint64_t st_size)
{
    return brain__fail(BRAIN_ETRUNCATED,
                       "store '%s' is truncated inside its header: the file has %llu bytes, less than "
                       "its %u-byte header, so nothing in it can be salvaged; load a snapshot into a "
                       "new store (brain destroy, then brain load)",
                       path, (unsigned long long)st_size, HEADER_SIZE);
}

static int validate_header(const char *path, const struct brain__header *h, uint64_t st_size)
{
    if (st_size < 8 || memcmp(h->magic, BH_MAGIC, 8) != 0)
        return brain__fail(BRAIN_ENOTSTORE,
                       "'%s' is not a brain store (its first bytes are not the store's magic); "
                       "pick another name or remove the file", path);
    if (st_size < HEADER_SIZE)
        return header_cut(path, st_size);
    if (h->layout_version != BH_LAYOUT_VERSION)
        return brain__fail(BRAIN_EVERSION,
                       "store '%s' has layout version %u; this library (%s) reads version %u; "
                       "open it with a matching brain-plasma or save and reload it",
                       path, h->layout_version, BRAIN_VERSION_STRING, BH_LAYOUT_VERSION);
    if (h->header_size != HEADER_SIZE || h->slot_size != SLOT_SIZE ||
        h->nsrec_size != NSREC_SIZE || h->max_procs < 2 || h->max_procs > 4096 ||
        h->max_namespaces < 1 || h->max_namespaces > 65536 ||
        h->procs_off != HEADER_SIZE ||
        h->ns_off != HEADER_SIZE + (uint64_t)h->max_procs * SLOT_SIZE ||
        h->arena_off != layout_arena_off(h->max_procs, h->max_namespaces) ||
        h->hcheck != header_check(h))
        return brain__fail(BRAIN_ECORRUPT,
                       "store '%s' has a corrupted header (its geometry or checksum is wrong); "
                       "restore it from a snapshot or destroy it", path);
    uint64_t fs = atomic_load(&h->file_size), cap = atomic_load(&h->capacity);
    if (cap > BRAIN_MAX_CAPACITY || fs % 64 || fs < h->arena_off + 2 * BLOCK_HDR || fs > cap)
        return brain__fail(BRAIN_ECORRUPT,
                       "store '%s' has a corrupted header (file size %llu, capacity %llu)",
                       path, (unsigned long long)fs, (unsigned long long)cap);
    if (st_size < fs)
        return brain__fail(BRAIN_ETRUNCATED,
                       "store '%s' is truncated: the header says %llu bytes, the file has %llu; "
                       "`brain check --repair` (brain_salvage) keeps the values that lie wholly in "
                       "what is left and names what was lost",
                       path, (unsigned long long)fs, (unsigned long long)st_size);
    return 0;
}

/* ---- mapping ----------------------------------------------------------- */

static int map_views(brain *b, uint64_t need)
{
    size_t r = RESERVE_MAX;
    for (;;) {
        void *rw = mmap(NULL, r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, b->fd, 0);
        if (rw != MAP_FAILED) {
            void *ro = mmap(NULL, r, PROT_READ, MAP_SHARED | MAP_NORESERVE, b->fd, 0);
            if (ro != MAP_FAILED) {
                b->rw = rw;
                b->ro = ro;
                b->reserve = r;
                return 0;
            }
            munmap(rw, r);
        }
        /* ENOMEM: an address-space limit; EINVAL: valgrind and some
         * sandboxes refuse mappings this large */
        if ((errno != ENOMEM && errno != EINVAL) || r / 2 < need)
            return brain__fail(BRAIN_ENOMEM,
                           "cannot map store '%s': no address space for %zu bytes (%s)",
                           b->path, r, strerror(errno));
        r /= 2;
    }
}

static void unmap_views(brain *b)
{
    if (b->rw)
        munmap(b->rw, b->reserve);
    if (b->ro)
        munmap(b->ro, b->reserve);
    b->rw = b->ro = NULL;
}

/* The end of a handle that was opened whole (brain_close, salvage): its
 * mappings, descriptor, mutex and platform state, then the handle. */
static void free_handle(brain *b)
{
    unmap_views(b);
    if (b->fd >= 0)
        close(b->fd);
    pthread_mutex_destroy(&b->mu);
    brain__plat_handle_fini(b);
    free(b);
}

/* ---- the writers' lock ------------------------------------------------- */

static int destroyed(brain *b)
{
    uint64_t pid = atomic_load_explicit(&b->h->destroyed_by, memory_order_relaxed);
    return brain__fail(BRAIN_EDESTROYED,
                   "store '%s' was destroyed by pid %llu (brain destroy, or dead() in Python); "
                   "this handle no longer reaches it and nothing was written: create the store "
                   "again (Python: Brain.start()) to go on", b->path, (unsigned long long)pid);
}

int brain__writer_lock(brain *b) { return brain__writer_lock_ex(b, LOCK_REFUSE_CORRUPT); }

static _Thread_local int tls_try_only;

void brain_lock_try_only(int on) { tls_try_only = on != 0; }

void brain_set_lock_timeout(brain *b, int64_t timeout_ms)
{
    if (b)
        b->lock_timeout_ms = timeout_ms;
}

void brain_set_lock_cancel(brain *b, int (*fn)(void *), void *ctx)
{
    if (b) {
        b->lock_cancel = fn;
        b->lock_cancel_ctx = ctx;
    }
}

uint32_t brain__writer_lock_holder(brain *b, const char **state)
{
    uint32_t pid = atomic_load(&b->h->lock_pid);
    char c = pid ? brain__plat_proc_state((pid_t)pid) : 0;
    *state = !pid ? "unknown" : !c || c == 'Z' || c == 'X' ? "gone" : c == 'T' || c == 't' ? "stopped" : "alive";
    return pid;
}

/* The platform layer's lock (brain__plat_wlock_acquire), in 50 ms slices so
 * that the wait can be cancelled (B's lock_cancel) and given up (B's
 * lock_timeout_ms). */
static int lock_wait(brain *b, int64_t max_ms)
{
    int rc = brain__plat_wlock_acquire(b, 0);
    if (rc != EBUSY)
        return rc;
    if (max_ms == 0)
        return brain__fail(BRAIN_EWOULDBLOCK, "store '%s': the writers' lock is busy", b->path);
    int64_t t0 = brain__plat_mono_ns();
    for (;;) {
        rc = brain__plat_wlock_acquire(b, 50000000);
        if (rc != ETIMEDOUT)
            return rc;
        if (b->lock_cancel && b->lock_cancel(b->lock_cancel_ctx))
            return brain__fail(BRAIN_ECANCELED, "store '%s': the wait for the writers' lock was "
                                            "cancelled; nothing changed", b->path);
        int64_t waited = brain__plat_mono_ns() - t0;
        if (max_ms > 0) { /* a bounded wait of its own, instead of the handle's */
            if (waited >= max_ms * 1000000)
                return brain__fail(BRAIN_EWOULDBLOCK, "store '%s': the writers' lock is busy", b->path);
        } else if (b->lock_timeout_ms >= 0 && waited >= b->lock_timeout_ms * 1000000) {
            const char *st;
            uint32_t pid = brain__writer_lock_holder(b, &st);
            return brain__fail(BRAIN_ELOCKED,
                           "store '%s': the writers' lock is held by pid %u (%s); gave up after "
                           "%.1f s (the lock timeout); nothing changed.  %s",
                           b->path, pid, st, (double)waited / 1e9,
                           strcmp(st, "stopped") == 0
                               ? "That process is stopped: continue it (kill -CONT) or end it"
                               : "A long resize or repair holds it; wait, or raise the timeout");
        }
    }
}

/* Lets go of the lock after a refusal: dirty cleared first (on the posix
 * layer a set mark reads as a holder that died). */
static void lock_refuse(brain *b)
{
    b->h->dirty = 0;
    atomic_store(&b->h->lock_pid, 0);
    brain__plat_wlock_release(b);
}

/* MAX_MS: 0 only tries, > 0 waits at most that long (BRAIN_EWOULDBLOCK
 * then), < 0 waits as the handle's timeout says.  LOCK_ALLOW_CORRUPT:
 * brain_check still runs on a store that a repair declared beyond mending,
 * since its report is what the user is told to read. */
static int writer_lock_common(brain *b, enum brain__lock_mode mode, int64_t max_ms)
{
    struct brain__header *h = b->h;
    if (b->wl_lost)
        return brain__fail(BRAIN_ESTALE,
                       "store '%s' was replaced or removed before this process was forked, so "
                       "the child cannot lock it; open the store again in the child", b->path);
    int rc = lock_wait(b, tls_try_only ? 0 : max_ms);
    if (rc < 0)
        return rc; /* a BRAIN_E* status, already explained */
    if (rc == 0 || rc == EOWNERDEAD)
        atomic_store(&h->lock_pid, (uint32_t)getpid());
    if (rc == EOWNERDEAD) {
        /* a writer died holding the lock: rebuild derived state, unless the
         * file was cut under us (the walk would SIGBUS); dirty stays set
         * so that the next holder repairs */
        h->dirty = 1;
        int t = brain__alloc_check_size(b, NULL);
        if (t) {
            brain__plat_wlock_consistent(b);
            atomic_store(&h->lock_pid, 0);
            brain__plat_wlock_release(b);
            return t;
        }
        int r = brain__repair(b, REPAIR_SHARED);
        h->recoveries++;
        brain__plat_wlock_consistent(b);
        if (r) {
            lock_refuse(b);
            return r;
        }
    } else if (rc == ENOTRECOVERABLE) {
        return brain__fail(BRAIN_ECORRUPT,
                       "store '%s': the writers' lock cannot be recovered; close every process "
                       "using the store and open it again (the first opener resets the lock)",
                       b->path);
    } else if (rc == ETIMEDOUT || rc == EBUSY) {
        return brain__fail(BRAIN_EWOULDBLOCK, "store '%s': the writers' lock is busy", b->path);
    } else if (rc) {
        return brain__fail(BRAIN_EIO, "store '%s': locking failed: %s", b->path, strerror(rc));
    }
    if (atomic_load(&h->destroyed_by)) { /* destroyed while we waited */
        lock_refuse(b);
        return destroyed(b);
    }
    if (h->corrupt && mode != LOCK_ALLOW_CORRUPT) {
        lock_refuse(b);
        return brain__fail(BRAIN_ECORRUPT,
                       "store '%s' is damaged beyond automatic repair; run `brain check` for "
                       "the report, save what reads back, and recreate it", b->path);
    }
    h->dirty = 1;
    return 0;
}

int brain__writer_lock_ex(brain *b, enum brain__lock_mode mode)
{
    return writer_lock_common(b, mode, -1);
}

int brain__writer_lock_try(brain *b, enum brain__lock_mode mode)
{
    return writer_lock_common(b, mode, 0);
}

int brain__writer_lock_within(brain *b, enum brain__lock_mode mode, int64_t max_ms)
{
    return writer_lock_common(b, mode, max_ms);
}

void brain__writer_unlock(brain *b)
{
    if (b->h->needs_repair) {
        b->h->needs_repair = 0;
        brain__repair(b, REPAIR_SHARED);
        b->h->recoveries++;
        brain__alloc_punch_pending(b, 1); /* the blocks were rebuilt */
    } else {
        brain__alloc_punch_pending(b, 0); /* what this hold freed (alloc.c) */
    }
    b->h->dirty = 0;
    atomic_store(&b->h->lock_pid, 0);
    brain__plat_wlock_release(b);
}

int brain__handle_ready(brain *b)
{
    if (!b)
        return brain__fail(BRAIN_EINVAL, "store handle is NULL");
    if (b->h && atomic_load_explicit(&b->h->destroyed_by, memory_order_relaxed))
        return destroyed(b);
    if (b->no_slot) {
        /* a fork child whose slot could not be reserved: attach now, and
         * publish the pins of the views it inherited */
        pthread_mutex_lock(&b->mu);
        int rc = b->no_slot ? brain__slot_attach(b) : 0;
        if (rc == 0 && b->no_slot) {
            uint32_t hw = 0;
            for (uint32_t p = 0; p < PINS; p++)
                if (b->pin_off[p]) {
                    atomic_store(&b->slot->pins[p], b->pin_off[p]);
                    hw = p + 1;
                }
            atomic_store(&b->slot->npins_hw, hw);
            b->no_slot = 0;
        }
        pthread_mutex_unlock(&b->mu);
        return rc;
    }
    return 0;
}

/* ---- process slots ----------------------------------------------------- */

int brain__slot_attach(brain *b)
{
    uint32_t idx;
    int rc = brain__slot_claim(b, SLOT_ACTIVE, getpid(), &idx);
    if (rc) {
        size_t reaped = 0;
        if (brain__writer_lock(b) == 0) {
            brain__reap_dead(b, &reaped, REAP_FULL);
            brain__writer_unlock(b);
        }
        rc = brain__slot_claim(b, SLOT_ACTIVE, getpid(), &idx);
    }
    if (rc)
        return brain__fail(BRAIN_EPROCS,
                       "store '%s' has all %u process slots taken by live processes; close "
                       "handles you do not need or create the store with more max_procs",
                       b->path, b->h->max_procs);
    b->slot_idx = idx;
    b->slot = brain__slot_at(b, idx);
    return 0;
}

/* ---- fork -------------------------------------------------------------- */

static void atfork_prepare(void)
{
    pthread_mutex_lock(&g_open_mu);
    for (brain *b = g_open; b; b = b->next_open) {
        pthread_mutex_lock(&b->mu);
        b->child_slot_ok = 0;
        if (b->closed || b->no_slot)
            continue;
        uint32_t idx;
        /* No writers' lock here (another thread may hold it and wait for
         * b->mu): when the table is full the child attaches on its first
         * call instead, reaping to make room. */
        int rc = brain__slot_claim(b, SLOT_PENDING, getpid(), &idx);
        if (rc == 0) {
            struct brain__slot *cs = brain__slot_at(b, idx);
            uint32_t hw = 0;
            for (uint32_t p = 0; p < PINS; p++)
                if (b->pin_off[p]) {
                    atomic_store(&cs->pins[p], b->pin_off[p]);
                    hw = p + 1;
                }
            atomic_store(&cs->npins_hw, hw);
            b->child_slot = idx;
            b->child_slot_ok = 1;
        }
    }
}

static void atfork_parent(void)
{
    for (brain *b = g_open; b; b = b->next_open)
        pthread_mutex_unlock(&b->mu);
    pthread_mutex_unlock(&g_open_mu);
}

static void atfork_child(void)
{
    pid_t me = getpid();
    for (brain *b = g_open; b; b = b->next_open) {
        /* the thread that forked holds b->mu (taken in prepare) */
        pthread_mutex_unlock(&b->mu);
        if (!b->closed)
            brain__plat_fork_child(b);
        for (struct brain_reservation *r = b->reservations; r; r = r->next)
            r->stale = 1;
        b->reservations = NULL;
        if (b->closed || b->no_slot)
            continue;
        struct brain__slot *cs = b->child_slot_ok ? brain__slot_at(b, b->child_slot) : NULL;
        uint64_t expect = cs ? atomic_load(&cs->owner) : 0;
        if (cs && (expect >> 32) == SLOT_PENDING &&
            atomic_compare_exchange_strong(&cs->owner, &expect,
                                           (uint64_t)(uint32_t)me | ((uint64_t)SLOT_ACTIVE << 32))) {
            cs->start_time = brain__plat_proc_start_time(me);
            cs->pending_since_ns = 0;
            b->slot = cs;
            b->slot_idx = b->child_slot;
        } else {
            b->slot = NULL;
            b->no_slot = 1; /* attaches on its next call */
        }
        b->child_slot_ok = 0;
    }
    pthread_mutex_unlock(&g_open_mu);
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- create ------------------------------------------------------------ */

static int init_store(brain *b, const brain_config *cfg)
{
    uint64_t cap = cfg && cfg->capacity ? cfg->capacity : BRAIN_DEFAULT_CAPACITY;
    uint32_t mp = cfg && cfg->max_procs ? cfg->max_procs : BRAIN_DEFAULT_MAX_PROCS;
    uint32_t mn = cfg && cfg->max_namespaces ? cfg->max_namespaces : BRAIN_DEFAULT_MAX_NAMESPACES;
    char s1[32], s2[32];
    if (mp < 2 || mp > 4096)
        return brain__fail(BRAIN_EINVAL, "max_procs is %u; it must be between 2 and 4096", mp);
    if (mn < 1 || mn > 65536)
        return brain__fail(BRAIN_EINVAL, "max_namespaces is %u; it must be between 1 and 65536", mn);
    uint64_t arena_off = layout_arena_off(mp, mn);
    if (cap > BRAIN_MAX_CAPACITY)
        return brain__fail(BRAIN_EINVAL, "capacity of %llu bytes (%s) is larger than the limit of %s",
                       (unsigned long long)cap, brain__fmt_size(cap, s1, sizeof s1),
                       brain__fmt_size(BRAIN_MAX_CAPACITY, s2, sizeof s2));
    cap &= ~63ull; /* the block unit; keeps decimal sizes such as 50 MB exact */
    if (cap < BRAIN_MIN_CAPACITY || cap < arena_off + INITIAL_ARENA / 4)
        return brain__fail(BRAIN_EINVAL,
                       "capacity of %llu bytes (%s) is too small: a store with %u process slots needs at least %s",
                       (unsigned long long)(cfg ? cfg->capacity : 0),
                       brain__fmt_size(cfg ? cfg->capacity : 0, s1, sizeof s1), mp,
                       brain__fmt_size(arena_off + INITIAL_ARENA / 4 > BRAIN_MIN_CAPACITY
                                       ? arena_off + INITIAL_ARENA / 4 : BRAIN_MIN_CAPACITY,
                                   s2, sizeof s2));
    if (cap > BRAIN_MAX_CAPACITY)
        return brain__fail(BRAIN_EINVAL, "capacity %s is larger than the limit of %s",
                       brain__fmt_size(cap, s1, sizeof s1),
                       brain__fmt_size(BRAIN_MAX_CAPACITY, s2, sizeof s2));
    uint64_t fs = arena_off + INITIAL_ARENA;
    if (fs > cap)
        fs = cap;
    int err = brain__plat_reserve_space(b->fd, 0, fs);
    if (err)
        return brain__fail(err == ENOSPC ? BRAIN_ENOSPC : BRAIN_EIO,
                       "cannot create store '%s' of %s: %s", b->path,
                       brain__fmt_size(fs, s1, sizeof s1), strerror(err));
    int rc = map_views(b, cap);
    if (rc)
        return rc;
    struct brain__header *h = b->h = (struct brain__header *)b->rw;
    memset(h, 0, HEADER_SIZE);
    memcpy(h->magic, BH_MAGIC, 8);
    h->layout_version = BH_LAYOUT_VERSION;
    h->header_size = HEADER_SIZE;
    h->slot_size = SLOT_SIZE;
    h->nsrec_size = NSREC_SIZE;
    h->max_procs = mp;
    h->max_namespaces = mn;
    h->procs_off = HEADER_SIZE;
    h->ns_off = HEADER_SIZE + (uint64_t)mp * SLOT_SIZE;
    h->arena_off = arena_off;
    brain__plat_random(&h->hash_seed, sizeof h->hash_seed);
    brain__plat_random(h->store_id, sizeof h->store_id);
    h->created_ns = (uint64_t)brain__plat_now_ns();
    h->hcheck = header_check(h);
    atomic_store(&h->epoch, 1);
    atomic_store(&h->capacity, cap);
    atomic_store(&h->file_size, fs);
    if (brain__plat_wlock_create(b))
        return brain__fail(BRAIN_EIO, "cannot initialise the store's writers' lock");
    /* the arena: one free block and the sentinel */
    struct brain__block *first = (struct brain__block *)(b->rw + arena_off);
    struct brain__block *sent = (struct brain__block *)(b->rw + fs - BLOCK_HDR);
    sent->prev_size = fs - BLOCK_HDR - arena_off;
    atomic_store(&sent->sizestate, BLOCK_HDR | BS_SENTINEL);
    atomic_store(&first->sizestate, (fs - BLOCK_HDR - arena_off) | BS_FREE);
    h->nblocks = 1;
    brain__alloc_insert_free(b, arena_off, fs - BLOCK_HDR - arena_off);
    rc = brain__index_create(b, IDX_MIN_LOG2);
    if (rc)
        return rc;
    if (brain__ns_get_or_add(b, "default", 7) < 0)
        return brain__fail(BRAIN_EIO, "cannot create the default namespace");
    return 0;
}

static int errno_to_status(int e, const char *path, const char *what)
{
    switch (e) {
    case ENOENT:
        return brain__fail(BRAIN_ENOSTORE,
                       "store '%s' does not exist; create it first (brain create, or open with BRAIN_CREATE)",
                       path);
    case ELOOP:
        return brain__fail(BRAIN_ESYMLINK,
                       "store path '%s' is a symbolic link; stores are never opened through links",
                       path);
    case EACCES:
    case EPERM:
        return brain__fail(BRAIN_EPERM, "cannot %s store '%s': permission denied", what, path);
    case EEXIST:
        return brain__fail(BRAIN_EEXIST, "store '%s' already exists", path);
    case ENOSPC:
        return brain__fail(BRAIN_ENOSPC, "cannot %s store '%s': no space left", what, path);
    default:
        return brain__fail(BRAIN_EIO, "cannot %s store '%s': %s", what, path, strerror(e));
    }
}

/* Builds a new store in a temporary file and links it at b->path.
 * Returns 0 with b->fd open on it, BRAIN_EEXIST when someone else's store
 * is already there, or an error. */
static int create_store(brain *b, const brain_config *cfg)
{
    char tmp[BRAIN_PATH_MAX + 64];
    const char *leaf = strrchr(b->path, '/');
    snprintf(tmp, sizeof tmp, "%s.tmp-", leaf ? leaf + 1 : b->path);
    brain__plat_clean_stale_tmp(b->path, tmp, BH_MAGIC); /* left by creators killed half way */
    uint32_t rnd;
    brain__plat_random(&rnd, sizeof rnd);
    snprintf(tmp, sizeof tmp, "%s.tmp-%d-%08x", b->path, (int)getpid(), rnd);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT)
        return brain__fail(BRAIN_EIO, "cannot create store '%s': its directory does not exist", b->path);
    if (fd < 0)
        return errno_to_status(errno, b->path, "create");
    b->fd = fd;
    int rc = init_store(b, cfg);
    if (rc == 0 && link(tmp, b->path) != 0)
        rc = errno == EEXIST ? BRAIN_EEXIST : errno_to_status(errno, b->path, "create");
    unlink(tmp);
    if (rc) {
        unmap_views(b);
        close(fd);
        b->fd = -1;
        b->h = NULL;
    }
    return rc;
}

/* CUT: NULL refuses a truncated file; else a file whose header is whole
 * but that is shorter than the header says is opened, *CUT its size (0
 * when it is not truncated). */
static int open_existing(brain *b, uint64_t *cut)
{
    /* the type is checked before the file is opened read-write (opening a
     * device can act on it), and O_NONBLOCK keeps a FIFO swapped in between
     * from blocking the open; fstat below checks what was opened */
    struct stat pre;
    if (lstat(b->path, &pre) == 0 && !S_ISREG(pre.st_mode) && !S_ISLNK(pre.st_mode))
        return brain__fail(BRAIN_ENOTSTORE, "'%s' is not a regular file, so not a brain store", b->path);
    int fd = open(b->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return BRAIN_ENOSTORE;
        return errno_to_status(errno, b->path, "open");
    }
    b->fd = fd;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno_to_status(errno, b->path, "open");
    if (!S_ISREG(st.st_mode))
        return brain__fail(BRAIN_ENOTSTORE, "'%s' is not a regular file, so not a brain store", b->path);
    if (st.st_uid != geteuid())
        return brain__fail(BRAIN_EPERM,
                       "store '%s' is owned by uid %u, not by this process's uid %u; "
                       "stores are private to their owner", b->path, (unsigned)st.st_uid,
                       (unsigned)geteuid());
    char magic[8] = {0};
    if (st.st_size < 8 || pread(fd, magic, 8, 0) != 8 || memcmp(magic, BH_MAGIC, 8) != 0)
        return brain__fail(BRAIN_ENOTSTORE,
                       "'%s' is not a brain store (its first bytes are not the store's magic); "
                       "pick another name or remove the file", b->path);
    if ((uint64_t)st.st_size < HEADER_SIZE)
        return header_cut(b->path, (uint64_t)st.st_size);
    int rc = map_views(b, (uint64_t)st.st_size);
    if (rc)
        return rc;
    b->h = (struct brain__header *)b->rw;
    rc = validate_header(b->path, b->h, (uint64_t)st.st_size);
    /* A writer may have grown the store since the fstat above.  Growth
     * extends the file before it publishes the new file_size, so an fstat
     * taken after reading file_size sees at least that size: only a file
     * still shorter then is truncated. */
    for (int tries = 0; rc == BRAIN_ETRUNCATED && tries < 8; tries++) {
        if (fstat(fd, &st) != 0)
            return errno_to_status(errno, b->path, "open");
        rc = validate_header(b->path, b->h, (uint64_t)st.st_size);
    }
    if (cut) {
        *cut = 0;
        if (rc == BRAIN_ETRUNCATED && (uint64_t)st.st_size >= HEADER_SIZE) {
            *cut = (uint64_t)st.st_size; /* validate_header passed everything else */
            brain__clear_error();
            rc = 0;
        }
    }
    if (rc == 0 && atomic_load(&b->h->file_size) > b->reserve)
        rc = brain__fail(BRAIN_ENOMEM, "store '%s' is larger than this process can map", b->path);
    return rc;
}

/* Attaches through the platform layer; when this handle is alone with the
 * store (the layer has reset its lock), repairs what the dead left. */
static int attach_lock(brain *b)
{
    int r = brain__plat_attach(b);
    if (r < 0)
        return r;
    if (r == 1) {
        struct brain__header *h = b->h;
        atomic_store(&h->lock_pid, 0); /* alone: a holder recorded here is gone */
        int needs = h->dirty || (atomic_load(&h->batch_seq) & 1);
        for (uint32_t i = 0; i < h->max_procs && !needs; i++)
            if (atomic_load(&brain__slot_at(b, i)->owner))
                needs = 1;
        if (needs) {
            int lr = brain__plat_wlock_acquire(b, -1);
            if (lr != 0 && lr != EOWNERDEAD)
                return brain__fail(BRAIN_EIO, "cannot lock store '%s': %s", b->path, strerror(lr));
            if (lr == EOWNERDEAD)
                brain__plat_wlock_consistent(b);
            int rc = brain__repair(b, REPAIR_ALONE);
            h->recoveries++;
            h->dirty = 0;
            brain__plat_wlock_release(b);
            if (rc)
                return rc;
        }
        return brain__plat_attach_done(b);
    }
    /* Not alone, and a writer may have died in the middle (the posix layer
     * is never alone): when the lock is free, repair now rather than at the
     * next write.  A live holder keeps it; that is fine. */
    if (b->h->dirty || (atomic_load(&b->h->batch_seq) & 1)) {
        if (writer_lock_common(b, LOCK_REFUSE_CORRUPT, 0) == 0)
            brain__writer_unlock(b);
        brain__clear_error();
    }
    return 0;
}

int brain_open(const char *store, unsigned flags, const brain_config *cfg, brain **out)
{
    brain__clear_error();
    if (!out)
        return brain__fail(BRAIN_EINVAL, "brain_open: out is NULL");
    *out = NULL;
    if (flags & ~(unsigned)(BRAIN_CREATE | BRAIN_EXCL))
        return brain__fail(BRAIN_EINVAL, "brain_open: unknown flags 0x%x", flags & ~3u);
    if ((flags & BRAIN_EXCL) && !(flags & BRAIN_CREATE))
        return brain__fail(BRAIN_EINVAL, "brain_open: BRAIN_EXCL needs BRAIN_CREATE");
    pthread_once(&g_atfork_once, atfork_register);
    brain *b = calloc(1, sizeof *b);
    if (!b)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    b->fd = -1;
    int plat_ready = 0;
    b->lock_timeout_ms = -1;
    int rc = brain_resolve(store, b->path, sizeof b->path);
    if (rc)
        goto fail;
    pthread_mutex_init(&b->mu, NULL);
    brain__plat_handle_init(b);
    plat_ready = 1;
    brain__local_pins_reset(b);
    brain__plat_random(b->id_prefix, sizeof b->id_prefix);

    for (int attempt = 0;; attempt++) {
        rc = open_existing(b, NULL);
        if (rc == 0 && (flags & BRAIN_EXCL)) {
            rc = brain__fail(BRAIN_EEXIST, "store '%s' already exists", b->path);
            goto fail;
        }
        if (rc != BRAIN_ENOSTORE || !(flags & BRAIN_CREATE) || attempt > 3)
            break;
        if (b->fd >= 0)
            close(b->fd);
        b->fd = -1;
        rc = create_store(b, cfg);
        if (rc != BRAIN_EEXIST)
            break;
        if (flags & BRAIN_EXCL) {
            rc = brain__fail(BRAIN_EEXIST, "store '%s' already exists", b->path);
            goto fail;
        }
        /* someone else created it first: attach to theirs */
    }
    if (rc == BRAIN_ENOSTORE)
        rc = errno_to_status(ENOENT, b->path, "open");
    if (rc)
        goto fail;
    rc = attach_lock(b);
    if (rc)
        goto fail;
    rc = brain__slot_attach(b);
    if (rc)
        goto fail;
    pthread_mutex_lock(&g_open_mu);
    b->next_open = g_open;
    if (g_open)
        g_open->prev_open = b;
    g_open = b;
    pthread_mutex_unlock(&g_open_mu);
    *out = b;
    return 0;
fail:
    unmap_views(b);
    if (b->fd >= 0)
        close(b->fd);
    if (plat_ready)
        brain__plat_handle_fini(b);
    free(b);
    return rc;
}

/* ---- salvage of a truncated store ------------------------------------------ */

/* Whether B may salvage its store, cut at CUT: 0 when no other process has
 * it open, else BRAIN_ETRUNCATED saying so.  *EXCL is 1 when the platform
 * layer's attach lock was made exclusive for it (brain__plat_exclusive(b, 0)
 * undoes that).  The process table is read too (slots that lie below the
 * cut): a live owner other than B's own slot refuses -- on the portable
 * layer, which cannot tell otherwise, and on Linux for fork children, which
 * share the attach lock of the handle they inherited.  Under the writers'
 * lock. */
int brain__salvage_alone(brain *b, uint64_t cut, int *excl)
{
    struct brain__header *h = b->h;
    *excl = 0;
    int ex = brain__plat_exclusive(b, 1);
    if (ex < 0)
        return brain__fail(BRAIN_EIO, "cannot lock store '%s': %s", b->path, strerror(errno));
    pid_t other = 0;
    if (ex != 0) { /* also on Linux: a fork child shares this handle's attach lock */
        for (uint32_t i = 0; i < h->max_procs && !other; i++) {
            if (h->procs_off + (uint64_t)(i + 1) * SLOT_SIZE > cut)
                break; /* cut off: its owner cannot be using the store any more */
            struct brain__slot *s = brain__slot_at(b, i);
            uint64_t owner = atomic_load(&s->owner);
            if (owner && s != b->slot && !brain__slot_dead(b, s, REAP_DEAD))
                other = (pid_t)(owner & 0xffffffffu);
        }
    }
    if (ex == 1 && !other) {
        *excl = 1;
        return 0;
    }
    if (ex == 1)
        brain__plat_exclusive(b, 0);
    if (ex == 2 && !other)
        return 0;
    char who[48] = "";
    if (other)
        snprintf(who, sizeof who, " (pid %d among them)", (int)other);
    return brain__fail(BRAIN_ETRUNCATED,
                       "store '%s' is truncated (the header says %llu bytes, the file has %llu) and "
                       "other processes still have it open%s: they get SIGBUS when they touch the "
                       "cut-off part.  Nothing was changed: stop them, then run `brain check "
                       "--repair` again to salvage what is left",
                       b->path, (unsigned long long)atomic_load(&h->file_size), (unsigned long long)cut,
                       who);
}

int brain__salvage_open(const char *store, brain_lost_fn lost, void *ctx, brain_salvage_info *info)
{
    brain_salvage_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    brain *b = calloc(1, sizeof *b);
    if (!b)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    b->fd = -1;
    b->lock_timeout_ms = -1;
    int rc = brain_resolve(store, b->path, sizeof b->path);
    if (rc) {
        free(b);
        return rc;
    }
    pthread_mutex_init(&b->mu, NULL);
    brain__plat_handle_init(b);
    uint64_t cut = 0;
    rc = open_existing(b, &cut);
    if (rc == BRAIN_ENOSTORE)
        rc = errno_to_status(ENOENT, b->path, "open");
    if (rc == 0 && !cut) {
        info->header_size = info->found_size = atomic_load(&b->h->file_size);
        info->kept = b->h->index_count;
    } else if (rc == 0) {
        int excl = 0, locked = 0;
        struct brain__header *h = b->h;
        /* the platform layer's checks (a store of the other layer is
         * refused) and, alone, its lock reset; then the writers' lock */
        int ex = brain__plat_exclusive(b, 1);
        if (ex == 0)
            rc = brain__salvage_alone(b, cut, &excl);
        else if (ex < 0)
            rc = brain__fail(BRAIN_EIO, "cannot lock store '%s': %s", b->path, strerror(errno));
        if (rc == 0) {
            int ar = brain__plat_attach(b);
            rc = ar < 0 ? ar : 0;
        }
        if (rc == 0) {
            int lr = brain__plat_wlock_acquire(b, -1);
            if (lr == EOWNERDEAD)
                brain__plat_wlock_consistent(b);
            else if (lr)
                rc = brain__fail(BRAIN_EIO, "cannot lock store '%s': %s", b->path, strerror(lr));
            locked = rc == 0;
        }
        if (rc == 0)
            rc = brain__salvage_alone(b, cut, &excl);
        if (rc == 0) {
            atomic_store(&h->lock_pid, (uint32_t)getpid());
            uint64_t was_dirty = h->dirty;
            h->dirty = 1;
            rc = brain__salvage(b, cut, REPAIR_ALONE, lost, ctx, info);
            uint64_t now = cut;
            brain__plat_file_size(b->fd, &now);
            int changed = rc == 0 || now > cut; /* else refused before it changed anything */
            if (changed)
                h->recoveries++;
            h->dirty = changed ? 0 : was_dirty;
        }
        if (locked) {
            atomic_store(&h->lock_pid, 0);
            brain__plat_wlock_release(b);
        }
    }
    free_handle(b);
    return rc;
}

/* ---- reservations: a handle's own, aborted when it closes -------------- */

int brain__reservation_unlist(brain *b, brain_reservation *res)
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
void brain_abort(brain *b, brain_reservation *res)
{
    if (!b || !res)
        return;
    if (res->stale || res->owner != b || !brain__reservation_unlist(b, res)) {
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
int brain_close(brain *b)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&g_open_mu);
    if (b->prev_open)
        b->prev_open->next_open = b->next_open;
    else if (g_open == b)
        g_open = b->next_open;
    if (b->next_open)
        b->next_open->prev_open = b->prev_open;
    pthread_mutex_unlock(&g_open_mu);
    while (b->reservations)
        brain_abort(b, b->reservations);
    if (!b->no_slot)
        brain__slot_detach(b);
    b->closed = 1;
    free_handle(b);
    return 0;
}

int brain_destroy(const char *store)
{
    brain__clear_error();
    char path[BRAIN_PATH_MAX];
    int rc = brain_resolve(store, path, sizeof path);
    if (rc)
        return rc;
    /* never opens (or blocks on) a FIFO, device or socket: lstat first,
     * then O_NONBLOCK, then fstat of what was opened */
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno_to_status(errno, path, "destroy");
    if (S_ISLNK(st.st_mode))
        return errno_to_status(ELOOP, path, "destroy");
    if (!S_ISREG(st.st_mode))
        return brain__fail(BRAIN_ENOTSTORE, "'%s' is not a brain store (not a regular file); refusing "
                                        "to remove it", path);
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 && (errno == EACCES || errno == EROFS))
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return errno_to_status(errno, path, "destroy");
    char magic[8] = {0};
    if (fstat(fd, &st) != 0) {
        rc = errno_to_status(errno, path, "destroy");
    } else if (!S_ISREG(st.st_mode) || st.st_size < 8 || pread(fd, magic, 8, 0) != 8 ||
               memcmp(magic, BH_MAGIC, 8) != 0) {
        rc = brain__fail(BRAIN_ENOTSTORE, "'%s' is not a brain store; refusing to remove it", path);
    } else if (st.st_uid != geteuid()) {
        rc = brain__fail(BRAIN_EPERM, "store '%s' is owned by uid %u; refusing to remove it", path,
                     (unsigned)st.st_uid);
    } else if ((uint64_t)st.st_size >= HEADER_SIZE) {
        /* mark it destroyed before unlinking: every handle still open on it
         * refuses its next call (brain__handle_ready, brain__writer_lock) instead of writing
         * into a file no one will see again */
        uint64_t pid = (uint64_t)getpid();
        if (pwrite(fd, &pid, sizeof pid, (off_t)offsetof(struct brain__header, destroyed_by)) !=
            (ssize_t)sizeof pid)
            rc = errno_to_status(errno, path, "destroy");
    }
    close(fd);
    if (rc == 0 && unlink(path) != 0)
        rc = errno_to_status(errno, path, "destroy");
    return rc;
}
