/*
 * internal.h - the layout of a store file and the library's private API.
 *
 * A store file is, in order:
 *
 *   header      struct brain__header, HEADER_SIZE bytes (one page multiple)
 *   procs       max_procs slots of SLOT_SIZE bytes (struct brain__slot)
 *   namespaces  max_namespaces records of NSREC_SIZE bytes (struct brain__nsrec)
 *   arena       blocks, from arena_off to file_size; the last 64 bytes are a
 *               sentinel block.  The name index is itself a block.
 *
 * Everything is addressed by byte offsets from the start of the file, never
 * by pointers.  Every offset read from the file goes through the checked
 * accessor brain__ptr() (brain__block_at() for a block header) before use.
 *
 * Who writes what:
 *   - The immutable part of the header (magic .. hcheck) is written once at
 *     creation.
 *   - Everything else in the header, the arena's block headers, the name
 *     index and the namespace table are written only by the holder of the
 *     writers' robust mutex (h->lock).
 *   - A process slot's lanes and pins are written only by the process that
 *     owns the slot (readers), and cleared by the writer that reaps it after
 *     the owner died.
 *
 * Crash invariant: at every instruction of a writer, the block chain (walk
 * from arena_off by size to the sentinel) is a valid partition of the arena,
 * and every index word is 0, a tombstone, or the offset of a published
 * entry block.  Free lists, counters, limbo list and namespace counters are
 * derived state, rebuilt by repair (repair.c) after a writer died.
 */
#ifndef BRAIN_INTERNAL_H
#define BRAIN_INTERNAL_H

#include "brain.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define BH_MAGIC "BRAINPL\x01"
#define BH_LAYOUT_VERSION 1u

#define HEADER_SIZE 16384u
#define SLOT_SIZE 8192u
#define NSREC_SIZE 128u
#define LANES BRAIN_LANES_PER_PROC
#define PINS BRAIN_PINS_PER_PROC
#define WAIT_BUCKETS 256u

#define BLOCK_HDR 64u
#define MIN_BLOCK 64u

/* TLSF geometry: sizes in 64-byte units; 16 second-level classes. */
#define SL_LOG2 4u
#define SL_COUNT (1u << SL_LOG2)
#define SL_MASK ((1u << SL_COUNT) - 1) /* valid bits of an sl_bitmap word */
#define FL_COUNT 40u

/* Index words: (tag << 40) | (entry block offset >> 6). */
#define IDX_EMPTY 0ull
#define IDX_TOMB 1ull
#define IDX_OFF_BITS 40u
#define IDX_OFF_MASK ((1ull << IDX_OFF_BITS) - 1)
#define IDX_MIN_LOG2 10u
/* (index.c owns this format: brain__idx_word and brain__idx_block are the
 * only places that build or take apart a word; inline for the read path.) */

/* Block states, in the low 6 bits of sizestate. */
enum {
    BS_FREE = 1,
    BS_USED = 2,     /* a published entry, a built-but-unlinked entry, or
                        the index (kind tells) */
    BS_LIMBO = 3,    /* unlinked, waiting for readers to leave */
    BS_RESERVED = 4, /* reserve()d, not yet published; owner = slot + 1 */
    BS_SENTINEL = 5,
};
enum { BK_NONE = 0, BK_ENTRY = 1, BK_INDEX = 2 };

/* Slot owner word: pid | state << 32. */
enum { SLOT_FREE = 0, SLOT_ACTIVE = 1, SLOT_PENDING = 2 };

/* ---- structures that live in the file ---------------------------------- */

struct brain__block { /* 64 bytes at the start of every block */
    _Atomic uint64_t sizestate; /* size (multiple of 64) | state */
    uint64_t prev_size;         /* size of the physically previous block */
    uint64_t next, prev;        /* FREE: free-list links; LIMBO: next */
    uint64_t epoch;             /* LIMBO: global epoch when retired */
    uint32_t owner;             /* RESERVED: slot index + 1 */
    uint32_t kind;              /* BK_* */
    uint64_t owner_word;        /* RESERVED: that slot's owner word when it
                                   reserved (a reaped or reused slot differs) */
    uint64_t backed;            /* its first BACKED bytes surely have file
                                   pages (no punched holes): FREE blocks, and
                                   blocks being written through the file
                                   descriptor (write.c); derived, 0 =
                                   unknown (alloc.c) */
};

struct brain__entry { /* at block + 64; immutable once published */
    uint32_t magic;
    uint32_t data_off; /* from the entry's start, multiple of 64 */
    uint64_t hash;
    uint64_t size;
    uint64_t version;
    int64_t created_ns, updated_ns, expires_ns;
    uint32_t type, flags;
    uint16_t ns_len, name_len, desc_len, ns_idx;
    uint8_t object_id[BRAIN_OBJECT_ID_SIZE];
    uint32_t pad;
    char strings[]; /* ns NUL name NUL desc NUL */
};
#define ENTRY_MAGIC 0x45545242u /* "BRTE" */
#define ENTRY_FIXED 96u

struct brain__lane {
    _Atomic uint64_t epoch; /* 0 = idle, else the epoch it reads at */
    uint64_t pad[7];
};

struct brain__slot {
    _Atomic uint64_t owner;       /* pid | state << 32; 0 = free */
    uint64_t start_time;          /* /proc start time of the owner */
    int64_t pending_since_ns;     /* SLOT_PENDING: when reserved */
    _Atomic uint32_t npins_hw;    /* pins[] used up to here */
    _Atomic uint32_t nreserved;   /* reservations this slot holds */
    uint64_t pad0[4];
    struct brain__lane lanes[LANES];
    _Atomic uint64_t pins[PINS];  /* pinned entry block offsets; 0 = none */
};

struct brain__nsrec {
    _Atomic uint32_t used;
    uint32_t len;
    uint64_t names, bytes, version;
    char name[BRAIN_NS_MAX + 8];
    uint64_t pad[3];
};

struct brain__header {
    /* immutable after creation */
    char magic[8];
    uint32_t layout_version;
    uint32_t header_size;
    uint32_t slot_size, nsrec_size;
    uint32_t max_procs, max_namespaces;
    uint64_t procs_off, ns_off, arena_off;
    uint64_t hash_seed;
    uint8_t store_id[16];
    uint64_t created_ns;
    uint64_t hcheck; /* checksum of the fields above */
    /* not checksummed, written under the lock: the store_id recorded in the
     * last snapshot loaded whole into this store (zero: none) */
    uint8_t loaded_from[16];
    uint64_t pad0[1];

    /* hot, read by readers on every call (one cache line) */
    _Alignas(64) _Atomic uint64_t index; /* table block | log2(slots) */
    _Atomic uint64_t epoch;     /* global epoch, starts at 1 */
    _Atomic uint64_t batch_seq; /* odd while a writer changes names */
    _Atomic uint64_t file_size; /* arena end, sentinel at file_size - 64 */
    _Atomic uint64_t version;   /* store version counter */
    _Atomic uint64_t capacity;
    _Atomic uint64_t destroyed_by; /* pid of the brain_destroy that unlinked the file */
    uint64_t pad1[1];

    /* writer state, under the lock */
    _Alignas(64) uint64_t dirty; /* 1 while a writer holds the lock */
    uint64_t index_count, index_tombs;
    uint64_t used, limbo_bytes, limbo_head, limbo_count;
    uint64_t nblocks, nfree;
    uint64_t recoveries, reaped;
    uint64_t corrupt; /* non-zero: repair found damage it cannot mend */
    uint64_t needs_repair; /* derived state found inconsistent */
    _Atomic uint32_t slots_hw; /* slots at or above this were never used */
    _Atomic uint32_t lock_pid; /* the writers' lock holder's pid, 0 when free */
    uint32_t lock_kind; /* LOCK_KIND_*: the writers' lock this store uses,
                           set at creation by the platform layer */
    uint32_t pad2;

    /* the arena's free lists (TLSF) */
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[FL_COUNT];
    uint64_t heads[FL_COUNT][SL_COUNT];

    /* futex words for brain_wait */
    _Atomic uint32_t wait_seq[WAIT_BUCKETS];
    _Atomic uint32_t waiters[WAIT_BUCKETS];

    /* the writers' robust process-shared mutex, in a line of its own
     * (platform_linux.c; unused by platform_posix.c, whose lock is a flock
     * on the file) */
    _Alignas(64) pthread_mutex_t lock;
};

/* h->lock_kind.  A store is used by one platform layer: the two locks do
 * not exclude each other, so a layer refuses a store made by the other.
 * 0 is a store made before the field existed (the robust mutex). */
enum { LOCK_KIND_MUTEX_OLD = 0, LOCK_KIND_MUTEX = 1, LOCK_KIND_FLOCK = 2 };

_Static_assert(sizeof(struct brain__block) == 64, "block header is one line");
_Static_assert(sizeof(struct brain__entry) == ENTRY_FIXED, "entry header size");
_Static_assert(sizeof(struct brain__slot) <= SLOT_SIZE, "slot fits");
_Static_assert(sizeof(struct brain__nsrec) <= NSREC_SIZE, "ns record fits");
_Static_assert(sizeof(struct brain__header) <= HEADER_SIZE, "header fits");
_Static_assert(offsetof(struct brain__header, index) % 64 == 0, "hot line");

/* ---- the process-local handle ----------------------------------------- */

#define PINMAP_SIZE 2048u
#define PUNCH_PENDING 16u /* free blocks awaiting the unlock's punch (alloc.c) */

struct brain_reservation {
    struct brain_reservation *next;
    brain *owner;
    uint64_t block;      /* block offset */
    uint64_t hash;
    uint32_t slot;       /* the slot that reserved it */
    uint64_t size;
    brain_put_opts opts;
    int stale;           /* inherited through fork */
};

struct brain {
    int fd;
    char path[BRAIN_PATH_MAX];
    uint8_t *rw;    /* read-write view of the reserved range */
    uint8_t *ro;    /* read-only view, handed to callers */
    size_t reserve; /* bytes of address space reserved per view */
    struct brain__header *h;
    struct brain__slot *slot;
    uint32_t slot_idx;
    int closed;
    int no_slot; /* a fork child without a slot yet: attaches on its next call */

    /* platform_posix.c's writers' lock, process side: threads of this
     * handle share its open file description (so its flock), and take turns
     * here first.  Unused by platform_linux.c. */
    pthread_mutex_t wl_mu;
    pthread_cond_t wl_cv;
    int wl_busy;
    int wl_lost; /* a fork child that could not reopen the file */

    pthread_mutex_t mu; /* guards everything below */
    uint64_t pin_off[PINS];
    uint32_t pin_count[PINS];
    int16_t pinmap[PINMAP_SIZE];
    uint32_t pin_free[PINS];
    uint32_t npin_free;
    struct brain_reservation *reservations;
    uint32_t child_slot; /* reserved in the fork prepare handler */
    int child_slot_ok;

    uint8_t id_prefix[12];
    struct brain *next_open, *prev_open;
    brain_progress_fn progress; /* snapshot progress, or NULL */
    void *progress_ctx;
    int64_t lock_timeout_ms; /* writers' lock wait; < 0: for ever (default) */
    int (*lock_cancel)(void *); /* polled while waiting: non-zero gives up */
    void *lock_cancel_ctx;

    /* Free blocks whose pages may go back to the system when this handle
     * releases the writers' lock (alloc.c: punching waits until then, so
     * an allocation in the same hold reuses a just-freed block's pages).
     * Touched only under the writers' lock. */
    uint64_t punch_off[PUNCH_PENDING];
    uint32_t npunch;
    /* What brain__alloc_grow reserved last ([grown_off, grown_end), whole
     * pages): pages the file holds that nothing has written yet, which a
     * value placed there writes through the file descriptor like pages the
     * file lacks (write.c clears it before it allocates and reads it
     * after, in one hold of the writers' lock). */
    uint64_t grown_off, grown_end;
};

/* ---- helpers ------------------------------------------------------------ */

static inline uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* Offsets the accessor refused on this thread (tests read it to see that
 * a corrupted offset was refused by the check, not missed by luck). */
extern _Thread_local uint64_t brain__refused_offsets;

/* The one checked accessor: every offset read from the file becomes a
 * pointer here.  A pointer to [off, off+len) of the read-write view, or
 * NULL when the range is not within the file's current size (as the header
 * says) -- compared without wrap-around: off <= size && len <= size - off. */
static inline void *brain__ptr(const brain *b, uint64_t off, uint64_t len)
{
    uint64_t size = atomic_load_explicit(&b->h->file_size, memory_order_acquire);
    if (size > b->reserve || off > size || len > size - off) {
        brain__refused_offsets++;
        return NULL;
    }
    return b->rw + off;
}

/* The header of a block other than the sentinel at OFF (in the arena, a
 * multiple of 64, with the sentinel's room after it), or NULL. */
static inline struct brain__block *brain__block_at(const brain *b, uint64_t off)
{
    if (off < b->h->arena_off || off % 64) {
        brain__refused_offsets++;
        return NULL;
    }
    return (struct brain__block *)brain__ptr(b, off, 2 * BLOCK_HDR);
}

/* The header of any block at OFF, the sentinel included, or NULL. */
static inline struct brain__block *brain__block_or_sentinel_at(const brain *b, uint64_t off)
{
    if (off < b->h->arena_off || off % 64) {
        brain__refused_offsets++;
        return NULL;
    }
    return (struct brain__block *)brain__ptr(b, off, BLOCK_HDR);
}

/* 1 when OFF can be the start of a block other than the sentinel. */
static inline int brain__block_valid(const brain *b, uint64_t off)
{
    return brain__block_at(b, off) != NULL;
}

/* The index word of entry block BLOCK for a name hashing to HASH, and the
 * block of a word (neither EMPTY nor TOMB). */
static inline uint64_t brain__idx_word(uint64_t hash, uint64_t block)
{
    return ((hash >> 40) << IDX_OFF_BITS) | (block >> 6);
}
static inline uint64_t brain__idx_block(uint64_t word) { return (word & IDX_OFF_MASK) << 6; }

/* Derived state (free lists, limbo list, counters) does not add up: the
 * writer rebuilds it from the block chain before it unlocks. */
static inline void brain__mark_damaged(brain *b) { b->h->needs_repair = 1; }

/* A writer changes names between these two: batch_seq is odd meanwhile, and
 * a listing that saw it move starts again. */
static inline void brain__batch_begin(brain *b) { atomic_fetch_add(&b->h->batch_seq, 1); }
static inline void brain__batch_end(brain *b) { atomic_fetch_add(&b->h->batch_seq, 1); }

static inline uint64_t bs_size(uint64_t ss) { return ss & ~63ull; }
static inline unsigned bs_state(uint64_t ss) { return (unsigned)(ss & 63u); }

static inline struct brain__slot *brain__slot_at(const brain *b, uint32_t i)
{
    return (struct brain__slot *)(b->rw + b->h->procs_off + (uint64_t)i * SLOT_SIZE);
}

static inline struct brain__nsrec *brain__nsrec_at(const brain *b, uint32_t i)
{
    return (struct brain__nsrec *)(b->rw + b->h->ns_off + (uint64_t)i * NSREC_SIZE);
}

/* ---- the private API, by the file that defines it, lowest layer first ---- */

/* error.c: sets the thread's detail message, returns code. */
int brain__fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void brain__clear_error(void);
const char *brain__fmt_size(uint64_t n, char *buf, size_t cap);

/* platform_linux.c or platform_posix.c (one of them is built, PLATFORM=):
 * every OS-specific call, one place. */
int64_t brain__plat_now_ns(void);
int64_t brain__plat_mono_ns(void);
uint64_t brain__plat_proc_start_time(pid_t pid); /* 0 when unknown */
int brain__plat_proc_alive(pid_t pid, uint64_t start_time);
int brain__plat_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns);
void brain__plat_futex_wake(_Atomic uint32_t *addr);
void brain__plat_random(void *buf, size_t len);
/* BUF filled from the clock and the pid (xorshift), where the system has
 * no entropy to give; platform.c, for both layers' brain__plat_random. */
void brain__plat_random_mix(uint8_t *buf, size_t len);
int brain__plat_reserve_space(int fd, uint64_t off, uint64_t len); /* errno-style */
/* Test hook: nonzero makes the portable layer's reserve_space act as on a
 * file system that can preallocate nothing, so that its writing fallback
 * runs on Linux too (tests/c; the Linux layer ignores it). */
extern int brain__plat_no_prealloc;
int brain__plat_punch_hole(int fd, uint64_t off, uint64_t len);     /* errno-style */
void brain__plat_prefault_write(void *p, size_t n); /* advisory */
/* Writes N bytes of P at offset OFF of FD (pwrite, again after a short
 * write or EINTR; platform.c).  0, or an errno value with *DONE (may be
 * NULL) the bytes written before it failed. */
int brain__plat_write_at(int fd, uint64_t off, const void *p, size_t n, size_t *done);
/* Bytes an unprivileged writer can still take on FD's file system (0 or an
 * errno value; platform.c). */
int brain__plat_fs_free(int fd, uint64_t *bytes);
void brain__plat_advise_huge(void *p, size_t n); /* advisory: big private scratch memory */
const char *brain__plat_default_dir(void); /* where a bare store name lives */
/* The writers' lock.  acquire: TIMEOUT_NS < 0 waits for ever, 0 only tries,
 * > 0 waits at most that long.  Returns 0 (held), EOWNERDEAD (held, and the
 * previous holder died holding it: repair, then call _consistent),
 * EBUSY (TIMEOUT_NS == 0) or ETIMEDOUT, ENOTRECOVERABLE, or another errno. */
int brain__plat_wlock_acquire(brain *b, int64_t timeout_ns);
void brain__plat_wlock_consistent(brain *b);
void brain__plat_wlock_release(brain *b);
/* A new store: the lock set up and h->lock_kind stamped (0 or an errno). */
int brain__plat_wlock_create(brain *b);
/* Opening: the attach lock.  Returns 1 when this handle is alone with the
 * store (the caller repairs what the dead left, then calls
 * brain__plat_attach_done), 0 when attached beside others, or a BRAIN_E*
 * status (a store of the other platform layer is refused here). */
int brain__plat_attach(brain *b);
int brain__plat_attach_done(brain *b); /* 0 or BRAIN_E* */
void brain__plat_handle_init(brain *b); /* the handle's process-local lock state */
void brain__plat_handle_fini(brain *b);
void brain__plat_fork_child(brain *b); /* in the child, for every open handle */
char brain__plat_proc_state(pid_t pid); /* /proc state letter, 0 when gone */
void brain__plat_clean_stale_tmp(const char *path, const char *prefix, const char *magic);
int brain__plat_file_size(int fd, uint64_t *size); /* 0 or an errno value */
/* TAKE 1: 1 when this handle has the store to itself (attach lock made
 * exclusive), 0 when others have it open, 2 when the layer cannot tell
 * (the caller checks the process table), -1 on error; TAKE 0 undoes 1. */
int brain__plat_exclusive(brain *b, int take);

/* name.c */
int brain__utf8_valid(const void *s, size_t n);
int brain__name_check(const char *s, size_t max, int code, const char *what,
                  size_t *len);

/* hash.c: part of the file format */
uint64_t brain__checksum(uint64_t seed, const void *p, size_t n);
uint64_t brain__checksum_wide(uint64_t seed, const void *p, size_t n);
struct brain__wide {
    uint64_t v[4], seed;
};
void brain__wide_init(struct brain__wide *w, uint64_t seed, uint64_t total);
void brain__wide_rounds(struct brain__wide *w, const void *p, size_t n); /* n % 32 == 0 */
uint64_t brain__wide_final(const struct brain__wide *w, const void *tail, size_t n);
uint64_t brain__key_hash(uint64_t seed, const char *ns, size_t nslen,
                 const char *name, size_t namelen);

/* layout.c */
int brain__value_validate(uint32_t type, const void *data, size_t size);

/* key.c: a (namespace, name) pair checked and hashed for an operation */
struct brain__key {
    const char *ns, *name;
    size_t nslen, namelen;
    uint64_t hash;
};
int brain__key_init(brain *b, const char *ns, const char *name, struct brain__key *k,
                    int name_optional);
int brain__key_not_found(brain *b, const struct brain__key *k, int corrupt);

/* alloc.c: the arena's blocks and free lists, no policy; under the lock. */
/* OWN_FROM (non-zero): the caller writes the block's bytes from OWN_FROM to
 * its end itself, through the file descriptor (brain__plat_write_at), so
 * the pages of those that lack them are not reserved first; the block's
 * `backed` says how many of its first bytes have pages (alloc.c). */
int brain__alloc_take(brain *b, uint64_t payload, unsigned state, unsigned kind,
                      uint64_t own_from, uint64_t *out);
int brain__alloc_fits(brain *b, uint64_t payload);
/* ERR (an errno value) means the file system or the memory behind tmpfs is
 * full; the free space of B's file system as text for a message. */
int brain__alloc_no_room(int err);
const char *brain__alloc_fs_free_text(brain *b, char *buf, size_t cap);
void brain__alloc_free(brain *b, uint64_t off);
void brain__alloc_punch_pending(brain *b, int drop);
int brain__alloc_grow(brain *b, uint64_t need, uint64_t shown);
void brain__alloc_cut_end(brain *b, uint64_t last, uint64_t new_end);
void brain__alloc_insert_free(brain *b, uint64_t off, uint64_t size);
void brain__alloc_remove_free(brain *b, uint64_t off, uint64_t size);
uint64_t brain__alloc_largest_free(brain *b);
/* BRAIN_ETRUNCATED (with a message saying what to do) when the file is
 * shorter than the header's file_size -- another process cut it while it
 * was mapped -- else 0.  *FOUND (may be NULL) gets the file's size.  One
 * fstat: for the paths that hold the writers' lock and are about to walk
 * or grow the arena (growth, resize, check, repair), never put or get. */
int brain__alloc_check_size(brain *b, uint64_t *found);
void brain__alloc_reset_lists(brain *b);
int brain__alloc_range(brain *b, uint64_t payload, uint64_t lo, uint64_t hi, int highest,
                       unsigned kind, uint64_t *out);
int brain__alloc_below(brain *b, uint64_t payload, uint64_t limit, unsigned kind,
                uint64_t *out);

/* proctable.c: process slots; reaping runs under the lock.
 * mode: REAP_DEAD (dead owners, pending slots older than a second),
 * REAP_FULL (the table is full: also every pending slot), REAP_ALL (the
 * caller is alone: every slot) */
enum { REAP_DEAD = 0, REAP_ALL = 1, REAP_FULL = 2 };
int brain__slot_claim(brain *b, uint32_t state, pid_t pid, uint32_t *out);
void brain__slot_detach(brain *b);
void brain__slot_reap(brain *b, uint32_t i);
int brain__slot_dead(brain *b, struct brain__slot *s, int mode);
int brain__reservation_orphaned(brain *b, const struct brain__block *blk);
int brain__reap_dead(brain *b, size_t *reaped, int mode);

/* reclaim.c: epochs, lanes, pins, limbo; the allocation policy. */
struct brain__lane *brain__lane_enter(brain *b);
void brain__lane_leave(struct brain__lane *lane);
int brain__pin_add(brain *b, uint64_t block);
void brain__pin_drop(brain *b, uint64_t block);
void brain__limbo_retire(brain *b, uint64_t block);
/* RECLAIM_REAP_FIRST reaps dead processes before it looks at the lanes
 * (a dead reader's lane or pins would hold limbo forever). */
enum brain__reclaim_mode { RECLAIM_READY = 0, RECLAIM_REAP_FIRST = 1 };
size_t brain__limbo_reclaim(brain *b, enum brain__reclaim_mode mode);
void brain__local_pins_reset(brain *b);
int brain__alloc_block(brain *b, uint64_t payload, unsigned state, unsigned kind,
                uint64_t shown, uint64_t own_from, uint64_t *out);

/* index.c */
const struct brain__entry *brain__index_find(brain *b, uint64_t hash, const char *ns,
                                  size_t nslen, const char *name,
                                  size_t namelen, uint64_t *block,
                                  int *corrupt);
uint64_t *brain__index_slot_for(brain *b, uint64_t hash, const char *ns, size_t nslen,
                         const char *name, size_t namelen, int *existing);
int brain__index_maybe_grow(brain *b);
int brain__index_reserve(brain *b, uint64_t extra);
int brain__index_create(brain *b, uint32_t log2cap);
int brain__index_relocate(brain *b, uint64_t limit);
typedef int (*brain__index_fn)(brain *b, _Atomic uint64_t *slot, const struct brain__entry *e,
                               void *ctx);
int brain__index_foreach(brain *b, brain__index_fn fn, void *ctx);
/* The same, visiting the entries in file order (so the reads stream rather
 * than jump; costs 16 bytes a name); FN gets a NULL slot.  Inside a lane. */
int brain__index_foreach_by_address(brain *b, brain__index_fn fn, void *ctx);
/* The name index's slots from its header word, validated; NULL when the
 * word is damaged. */
_Atomic uint64_t *brain__index_table(const brain *b, uint64_t packed, uint64_t *nslots);
const struct brain__entry *brain__entry_at(const brain *b, uint64_t block);
const char *brain__entry_ns(const struct brain__entry *e);
const char *brain__entry_name(const struct brain__entry *e);
const char *brain__entry_desc(const struct brain__entry *e);
int brain__entry_expired(const struct brain__entry *e, int64_t now);
int brain__entry_key_eq(const struct brain__entry *e, const char *ns, size_t nslen,
                 const char *name, size_t namelen);
/* INFO_STRINGS: point info->ns/name/desc into the read-only mapping (a
 * view, valid while pinned); INFO_NO_STRINGS: leave them NULL. */
enum brain__info_strings { INFO_NO_STRINGS = 0, INFO_STRINGS = 1 };
void brain__entry_fill_info(const brain *b, const struct brain__entry *e, brain_info *info,
                     enum brain__info_strings strings);
/* read.c: *V describes entry E of block BLK (pinned by the caller): for
 * brain_get and brain_get_many, and write.c's brain_publish_view. */
void brain__view_fill(brain *b, brain_view *v, const struct brain__entry *e, uint64_t blk);

/* namespace.c, under the lock unless noted */
int brain__ns_find(brain *b, const char *ns, size_t len); /* lock-free ok */
int brain__ns_get_or_add(brain *b, const char *ns, size_t len);
void brain__ns_account(brain *b, int idx, int64_t dnames, int64_t dbytes,
                uint64_t version);
uint64_t brain__ns_hash(const brain *b, const char *ns, size_t len);

/* repair.c, under the lock */
/* REPAIR_ALONE: the caller holds the file exclusively, so every other
 * process slot is dead and reaped; REPAIR_SHARED: others may be live. */
enum brain__repair_mode { REPAIR_SHARED = 0, REPAIR_ALONE = 1 };
int brain__repair(brain *b, enum brain__repair_mode mode);
/* A file cut at CUT (< the header's file_size, >= the header) and already
 * extended back to file_size (zeros from CUT on): keeps the whole blocks
 * below the cut, frees the rest, rebuilds the index when it was cut, then
 * brain__repair(MODE).  The caller holds the lock and has the store to
 * itself (but for its own slot in REPAIR_SHARED). */
int brain__salvage(brain *b, uint64_t cut, enum brain__repair_mode mode, brain_lost_fn lost,
                   void *ctx, brain_salvage_info *info);
/* What index word W points at, given the arena's block offsets sorted in
 * BLOCKS[N] (brain_check and repair each walk the chain into one): empty,
 * a tombstone, no block, a block that is not a used entry, or an entry.
 * For WORD_ENTRY, *AT is the block's position in BLOCKS and *BLK, *E the
 * block and its entry.  Reads only; brain_check calls it too. */
enum brain__word_kind { WORD_EMPTY, WORD_TOMB, WORD_NO_BLOCK, WORD_NO_ENTRY, WORD_ENTRY };
enum brain__word_kind brain__index_word_at(brain *b, uint64_t w, const uint64_t *blocks, size_t n, size_t *at,
                                           struct brain__block **blk, const struct brain__entry **e);

/* store.c: open and close, the writers' lock, a handle's slot and
 * reservations */
int brain__writer_lock(brain *b);
enum brain__lock_mode { LOCK_REFUSE_CORRUPT = 0, LOCK_ALLOW_CORRUPT = 1 };
int brain__writer_lock_ex(brain *b, enum brain__lock_mode mode);
/* Takes the lock only when free now: 0, or BRAIN_EWOULDBLOCK, or an error. */
int brain__writer_lock_try(brain *b, enum brain__lock_mode mode);
/* Waits at most MAX_MS (> 0) for it: 0, or BRAIN_EWOULDBLOCK, or an error. */
int brain__writer_lock_within(brain *b, enum brain__lock_mode mode, int64_t max_ms);
/* The holder of the writers' lock: its pid (0: none known) and "alive",
 * "stopped" or "gone". */
uint32_t brain__writer_lock_holder(brain *b, const char **state);
void brain__writer_unlock(brain *b);
int brain__handle_ready(brain *b);
int brain__slot_attach(brain *b);
int brain__reservation_unlist(brain *b, brain_reservation *res);
/* Salvage of a truncated store: whether B has it to itself (0, or
 * BRAIN_ETRUNCATED naming others), and brain_salvage's open-and-salvage. */
int brain__salvage_alone(brain *b, uint64_t cut, int *excl);
int brain__salvage_open(const char *store, brain_lost_fn lost, void *ctx, brain_salvage_info *info);

/* wait.c */
void brain__wake_key(brain *b, uint64_t name_hash, uint64_t ns_hash);

/* write.c */
int brain__put_locked(brain *b, uint64_t block, uint64_t hash, const char *ns,
               size_t nslen, const char *name, size_t namelen,
               const brain_put_opts *opts, uint64_t *version);
int brain__reserve(brain *b, const char *ns, const char *name, size_t size,
                   const brain_put_opts *opts, brain_reservation **res, void **data,
                   int prefault);
/* Under the lock: unlinks every name expired at NOW in one batch and
 * returns how many; *corrupt is set (and nothing unlinked) when the index
 * is damaged.  Used by the write path when a value does not fit and by
 * brain_stats_get. */
size_t brain__expire_locked(brain *b, int64_t now, int *corrupt);
/* Publishes N reservations of this handle in one hold of the lock and one
 * batch (snapshot load); EXACT deletes every other name in that batch. */
int brain__publish_batch(brain *b, brain_reservation **res, size_t n, int exact,
                         const uint8_t loaded_from[16]);

#endif
