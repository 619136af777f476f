/*
 * brain.h - the public interface of libbrain, the brain-plasma store.
 *
 * A store is one file, by default in /dev/shm, that every process opening it
 * maps and works on directly: there is no server and no socket.  A value is
 * stored under a (namespace, name) pair and read back by any process on the
 * machine at memory speed.
 *
 * Concurrency model (see docs/DESIGN-NOTES.md for the full argument):
 *   - Readers take no lock and write no shared cache line.  A reader announces
 *     the epoch it reads at in a lane of its own process-table slot, finds the
 *     entry through the lock-free name index, and either copies the value out
 *     (brain_read) or records a pin in its own slot (brain_get).
 *   - Writers serialise on one robust process-shared mutex.  Published values
 *     are immutable: changing a name writes a new block and swaps one index
 *     word.  A replaced or deleted block is reused only once no reader's epoch
 *     or pin can reach it.
 *   - A process killed at any instruction never corrupts the store: the next
 *     writer finds the mutex in EOWNERDEAD, rebuilds the allocator's derived
 *     state from the block chain and goes on.  Dead processes' pins and
 *     unpublished reservations are reclaimed.
 *
 * Conventions:
 *   - Every function returns an int status: 0 (BRAIN_OK) on success or a
 *     negative BRAIN_E* code.  Results come back through out-parameters.
 *     brain_strerror() names a code; brain_errdetail() gives a sentence
 *     about the last failure in the calling thread (what was asked, what was
 *     found, what to do).  The library never prints.
 *   - Names and namespaces are NUL-terminated UTF-8 strings.  A namespace of
 *     NULL means "default".  Limits: BRAIN_NS_MAX, BRAIN_NAME_MAX,
 *     BRAIN_DESC_MAX bytes, not counting the NUL.  Empty strings, invalid
 *     UTF-8 and control characters below 0x20 are refused (BRAIN_ENAME,
 *     BRAIN_ENAMESPACE).  '/' and spaces are fine.
 *   - Threads: one brain handle may be used by any number of threads at once.
 *   - fork(): a child keeps working with the handles it inherited; it gets a
 *     process-table slot of its own and the views it inherited stay valid
 *     (their pins are carried over before fork returns).  Reservations are
 *     not inherited: a child publishing its parent's reservation gets
 *     BRAIN_ESTALE.  Processes created with vfork()/posix_spawn() and exec
 *     immediately are unaffected.
 *   - Times are nanoseconds since the Unix epoch (CLOCK_REALTIME), because
 *     they are stored in a file that may outlive the boot.
 */
#ifndef BRAIN_H
#define BRAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(BRAIN_STATIC)
#define BRAIN_API __attribute__((visibility("default")))
#else
#define BRAIN_API
#endif

#define BRAIN_VERSION_MAJOR 0
#define BRAIN_VERSION_MINOR 4
#define BRAIN_VERSION_PATCH 0
#define BRAIN_VERSION_STRING "0.4.0"

/* Limits, in bytes, not counting the terminating NUL. */
#define BRAIN_NS_MAX 64
#define BRAIN_NAME_MAX 1024
#define BRAIN_DESC_MAX 4096
#define BRAIN_PATH_MAX 4096
#define BRAIN_OBJECT_ID_SIZE 20
#define BRAIN_ARRAY_MAX_DIMS 32
#define BRAIN_ALIGN 64 /* every value starts on a 64-byte boundary */

/* Capacities.  Capacity is a limit, not an allocation: the file grows in
 * chunks as values arrive, so an empty 100 GB store costs nothing. */
#define BRAIN_DEFAULT_CAPACITY (256ull << 20)          /* 256 MiB */
#define BRAIN_MIN_CAPACITY (2ull << 20)                /* 2 MiB */
#define BRAIN_MAX_CAPACITY (1ull << 40)                /* 1 TiB */
#define BRAIN_DEFAULT_MAX_PROCS 128
#define BRAIN_DEFAULT_MAX_NAMESPACES 1024
#define BRAIN_PINS_PER_PROC 880 /* distinct values one process can pin */
#define BRAIN_LANES_PER_PROC 16 /* threads of one process reading at once */

/* ------------------------------------------------------------------------
 * Errors.  One table; the enum and brain_strerror() are generated from it.
 * Codes are negative and sit far from errno values.
 * ------------------------------------------------------------------------ */
#define BRAIN_ERRNO_MAP(XX)                                                    \
    XX(EINVAL, -30900, "invalid argument")                                     \
    XX(ENAME, -30899, "invalid name")                                          \
    XX(ENAMESPACE, -30898, "invalid namespace")                                \
    XX(ENOTFOUND, -30897, "name not found")                                    \
    XX(EEXIST, -30896, "store already exists")                                 \
    XX(ENOSTORE, -30895, "store does not exist")                               \
    XX(EPERM, -30894, "store is owned by another user or not accessible")      \
    XX(ESYMLINK, -30893, "store path is a symbolic link")                      \
    XX(ENOTSTORE, -30892, "file is not a brain store")                         \
    XX(EVERSION, -30891, "store has another layout version")                   \
    XX(ECORRUPT, -30890, "store is corrupted")                                 \
    XX(ETRUNCATED, -30889, "store file is truncated")                          \
    XX(EFULL, -30888, "store is full")                                         \
    XX(ENOSPC, -30887, "no memory left on the host for the store")            \
    XX(ETOOBIG, -30886, "value is larger than the store's capacity")           \
    XX(ECONFLICT, -30885, "version conflict")                                  \
    XX(ETIMEDOUT, -30884, "timed out")                                         \
    XX(EPINS, -30883, "too many pinned values in this process")                \
    XX(EPROCS, -30882, "process table is full")                                \
    XX(ENSFULL, -30881, "namespace table is full")                             \
    XX(EBUSY, -30880, "values in use prevent the operation")                   \
    XX(ETYPE, -30879, "value has another type or a malformed layout")          \
    XX(ENOMEM, -30878, "out of process memory")                                \
    XX(EIO, -30877, "system call failed")                                      \
    XX(ESTALE, -30876, "reservation does not belong to this process")          \
    XX(ERANGE, -30875, "buffer too small")                                     \
    XX(ESNAPSHOT, -30874, "snapshot file is invalid")                         \
    XX(EDESTROYED, -30873, "store was destroyed")                              \
    XX(EDISKFULL, -30872, "no space left on the file system")                 \
    XX(ELOCKED, -30871, "the writers' lock was held too long by another process") \
    XX(ECANCELED, -30870, "the wait for the writers' lock was cancelled")     \
    XX(EWOULDBLOCK, -30869, "the writers' lock is busy (try-only mode)")

typedef enum {
    BRAIN_OK = 0,
#define BRAIN_XX_(code, val, msg) BRAIN_##code = (val),
    BRAIN_ERRNO_MAP(BRAIN_XX_)
#undef BRAIN_XX_
} brain_status;

/* ------------------------------------------------------------------------
 * The writers' lock.  Calls that change the store (and brain_repair,
 * brain_resize, ...) take one process-shared lock.  By default a call waits
 * for it as long as it takes; a process stopped while holding it (kill
 * -STOP, a debugger) then holds every writer up.  Reads, brain_stats_get and
 * brain_check never wait for it.
 * ------------------------------------------------------------------------ */

/* Wait at most TIMEOUT_MS for the writers' lock through handle B (< 0: for
 * ever, the default); then the call fails with BRAIN_ELOCKED, whose message
 * names the holder's pid and whether it is alive, stopped or gone. */
struct brain;
BRAIN_API void brain_set_lock_timeout(struct brain *b, int64_t timeout_ms);
/* FN(CTX) is called every 50 ms while a call through B waits for the lock;
 * non-zero makes the call give up with BRAIN_ECANCELED (Python checks for
 * Ctrl-C there).  FN NULL: none. */
BRAIN_API void brain_set_lock_cancel(struct brain *b, int (*fn)(void *ctx), void *ctx);
/* In the calling thread: ON non-zero makes calls fail at once with
 * BRAIN_EWOULDBLOCK, having changed nothing, when the lock is busy (so a
 * caller can retry after releasing resources of its own, such as Python's
 * GIL).  Off by default. */
BRAIN_API void brain_lock_try_only(int on);

/* The message of a status code ("name not found").  Never NULL. */
BRAIN_API const char *brain_strerror(int status);

/* The symbolic name of a status code ("BRAIN_ENOTFOUND").  Never NULL. */
BRAIN_API const char *brain_errname(int status);

/* The platform layer this library was built with: "linux" (robust mutex,
 * futex, fallocate, /proc, /dev/shm) or "posix" (flock, polled or
 * os_sync waits, $TMPDIR on macOS).  A store is used by one layer only;
 * the other refuses it with BRAIN_EVERSION. */
BRAIN_API const char *brain_platform(void);

/* A sentence about the last failure in the calling thread, with the figures
 * that explain it, for example "store '/dev/shm/brain-app1' is full: the
 * value needs 212.0 MB, 180.3 MB are free (largest free block 100.0 MB) of
 * 256.0 MB capacity; delete names or grow it with brain_resize".  Empty
 * string when the thread has had no failure.  Valid until the thread's next
 * libbrain call. */
BRAIN_API const char *brain_errdetail(void);

/* ------------------------------------------------------------------------
 * Value types.  The tag is stored with the value; the library checks the
 * layout of the types it knows when they are put.
 * ------------------------------------------------------------------------ */
enum {
    BRAIN_TYPE_BYTES = 0,  /* raw bytes */
    BRAIN_TYPE_STR = 1,    /* UTF-8 text, validated on put */
    BRAIN_TYPE_ARRAY = 2,  /* n-d array: brain_array layout (below) */
    BRAIN_TYPE_PICKLE = 3, /* pickle-5 stream with out-of-band buffers (the
                            * Python side may pack str columns in it:
                            * docs/python.md, "Frames with str columns") */
    BRAIN_TYPE_JSON = 4,   /* UTF-8 JSON text */
    BRAIN_TYPE_USER = 1024 /* tags from here up are the caller's own */
};

/* Names the type tag ("bytes", "str", "ndarray", "pickle", "json", "user"). */
BRAIN_API const char *brain_type_name(uint32_t type);

/* ------------------------------------------------------------------------
 * Opening, creating, closing.
 * ------------------------------------------------------------------------ */
typedef struct brain brain; /* an open store; process-local, opaque */

enum {
    BRAIN_CREATE = 1u << 0, /* create the store when it does not exist */
    BRAIN_EXCL = 1u << 1,   /* with BRAIN_CREATE: fail if it exists */
};

typedef struct brain_config {
    uint64_t capacity;       /* bytes, rounded down to a multiple of 64;
                                0 = BRAIN_DEFAULT_CAPACITY */
    uint32_t max_procs;      /* 0 = BRAIN_DEFAULT_MAX_PROCS (2..4096) */
    uint32_t max_namespaces; /* 0 = BRAIN_DEFAULT_MAX_NAMESPACES (1..65536) */
} brain_config;

/* Resolves STORE to the path of its file: a bare name "app1" becomes
 * "/dev/shm/brain-app1"; an absolute path is used as given.  Relative paths
 * with a '/' and names that are empty, "." or ".." are refused (BRAIN_EINVAL).
 * Writes at most cap bytes including the NUL (BRAIN_ERANGE when short). */
BRAIN_API int brain_resolve(const char *store, char *buf, size_t cap);

/* Opens the store STORE (a name or an absolute path, see brain_resolve).
 *
 * flags: 0 opens an existing store (BRAIN_ENOSTORE if missing);
 *        BRAIN_CREATE creates it when missing, attaches when present (it
 *        never wipes what is stored); BRAIN_CREATE|BRAIN_EXCL fails with
 *        BRAIN_EEXIST when present.  Unknown flags: BRAIN_EINVAL.
 * cfg:   used only when the store is created; NULL means defaults.
 *
 * A new file is created mode 0600 with O_EXCL|O_NOFOLLOW.  An existing file
 * is refused when it is a symlink (BRAIN_ESYMLINK), owned by another user
 * (BRAIN_EPERM), not a store (BRAIN_ENOTSTORE), of another layout version
 * (BRAIN_EVERSION), shorter than its header says (BRAIN_ETRUNCATED) or with
 * a header that fails validation (BRAIN_ECORRUPT).
 *
 * Every handle takes one slot of the store's process table (BRAIN_EPROCS
 * when full of live processes; dead ones are reaped first). */
BRAIN_API int brain_open(const char *store, unsigned flags,
                         const brain_config *cfg, brain **out);

/* Closes the handle: releases its pins (views still held become invalid:
 * release them first), aborts its unpublished reservations, frees its
 * process-table slot, unmaps the file and frees the handle, which must not
 * be used again (as with free()).  No other thread may be using the handle.
 * NULL is a no-op.  Returns 0. */
BRAIN_API int brain_close(brain *b);

/* Removes the store's file, after marking it destroyed in its header: every
 * handle still open on it (in any process) fails its next call with
 * BRAIN_EDESTROYED naming this process's pid, and never writes into the
 * unlinked file; views taken before stay readable until released.  Refuses
 * (BRAIN_ENOTSTORE) anything that is not a regular file holding a store,
 * without opening a FIFO, device or socket. */
BRAIN_API int brain_destroy(const char *store);

/* The resolved path of an open store.  Valid until brain_close. */
BRAIN_API const char *brain_path(const brain *b);

/* ------------------------------------------------------------------------
 * Entries.
 * ------------------------------------------------------------------------ */
typedef struct brain_info {
    uint32_t type;   /* BRAIN_TYPE_* or a user tag */
    uint32_t flags;  /* reserved, 0 */
    uint64_t size;   /* value bytes */
    uint64_t version; /* from the store-wide monotonic counter */
    int64_t created_ns; /* when the name was first stored */
    int64_t updated_ns; /* when this value was stored */
    int64_t expires_ns; /* 0 = never */
    uint8_t object_id[BRAIN_OBJECT_ID_SIZE]; /* new for every value */
    uint32_t ns_len, name_len, desc_len;
    const char *ns;   /* NUL-terminated; lifetime: see the function */
    const char *name;
    const char *desc; /* "" when none */
} brain_info;

typedef struct brain_put_opts {
    uint32_t type;       /* BRAIN_TYPE_*; 0 = bytes */
    uint32_t flags;      /* BRAIN_PUT_* below */
    uint64_t if_version; /* with BRAIN_PUT_IF_VERSION: store only if the
                            name's current version is this (0 = absent) */
    int64_t ttl_ms;      /* > 0: the value expires after this long;
                            0 or less: it never expires */
    const char *desc;    /* description, NULL = none */
} brain_put_opts;

enum {
    BRAIN_PUT_IF_VERSION = 1u << 0, /* compare-and-set on if_version */
};

/* Stores a copy of DATA[0..size) under (ns, name), replacing any value the
 * name had; readers see the old or the new value, never a mix.  size may be
 * 0.  opts may be NULL.  On success *version (if not NULL) receives the new
 * version.  Errors: BRAIN_ENAME, BRAIN_ENAMESPACE, BRAIN_EINVAL (NULL data
 * with size > 0, unknown flags, bad description), BRAIN_ETYPE (a STR/JSON
 * value that is not UTF-8, an ARRAY/PICKLE value with a bad layout),
 * BRAIN_ECONFLICT (IF_VERSION did not match), BRAIN_ETOOBIG, BRAIN_EFULL,
 * BRAIN_ENOSPC, BRAIN_ENSFULL.  On any error nothing stored changes.  A
 * value that does not fit first drops the expired names (as brain_expire)
 * and is tried again: BRAIN_EFULL only when it still does not fit (this
 * holds for brain_reserve and brain_put_many too). */
BRAIN_API int brain_put(brain *b, const char *ns, const char *name,
                        const void *data, size_t size,
                        const brain_put_opts *opts, uint64_t *version);

/* One piece of a value given in pieces (brain_putv). */
typedef struct brain_iov {
    const void *base; /* may be NULL when len is 0 */
    size_t len;
} brain_iov;

/* brain_put of a value given in N pieces: stores the concatenation of
 * IOV[0].base[0..len), IOV[1]... under (ns, name), for a caller whose value
 * is parts lying apart (a header and the arrays it describes: the Python
 * front end's pickle layout, brain_put_array), with no copy to join them
 * first.  A large value (64 KiB and more) is copied outside the writers'
 * lock, as by brain_put (which does the same for its one piece): the
 * part the store has no pages for (memory it gave back to the system, or
 * just reserved and never written) is written through the store file's
 * descriptor rather than the mapping, which lets the file system allocate
 * the pages as it writes them (80 MB on /dev/shm in about 2/3 of the
 * time), and a full file system is BRAIN_ENOSPC, never a SIGBUS.  A STR,
 * JSON, ARRAY or PICKLE value in more than one piece is checked once
 * written, before it is linked.  N may be 0 (an empty
 * value).  Errors as brain_put, and BRAIN_EINVAL (IOV NULL with N > 0, a
 * piece with base NULL and len > 0), BRAIN_ETOOBIG (the pieces add up to
 * more than BRAIN_MAX_CAPACITY).  On any error nothing stored changes. */
BRAIN_API int brain_putv(brain *b, const char *ns, const char *name,
                         const brain_iov *iov, size_t n,
                         const brain_put_opts *opts, uint64_t *version);

/* Reserve + publish: the caller writes a large value straight into the
 * store, with no extra copy.  brain_reserve allocates SIZE bytes for
 * (ns, name) and returns a writable pointer to them in *data (64-byte
 * aligned).  Nothing is visible to readers until brain_publish, which
 * links the value under its name (applying opts->if_version at that
 * moment) and consumes the reservation whatever it returns.  brain_abort
 * gives the space back.  A process that dies holding a reservation loses
 * it: the space is reclaimed when the process is reaped.  Errors as
 * brain_put; brain_publish also BRAIN_ESTALE (the reservation was made by
 * another process, e.g. a parent before fork). */
typedef struct brain_reservation brain_reservation;
BRAIN_API int brain_reserve(brain *b, const char *ns, const char *name,
                            size_t size, const brain_put_opts *opts,
                            brain_reservation **res, void **data);
BRAIN_API int brain_publish(brain *b, brain_reservation *res,
                            uint64_t *version);
BRAIN_API void brain_abort(brain *b, brain_reservation *res);

/* A read-only, zero-copy view of a stored value.  The value is pinned: its
 * block is not reused while the view is held, even if the name is replaced
 * or deleted meanwhile.  data points into a read-only mapping (writing
 * through it faults).  info's strings point into the store and live as long
 * as the view.  Release every view with brain_view_release. */
typedef struct brain_view {
    const void *data;
    uint64_t size;
    brain_info info;
    uint64_t pin_; /* private */
} brain_view;

/* Gets a pinned view of (ns, name).  Errors: BRAIN_ENOTFOUND (absent or
 * expired), BRAIN_ENAME, BRAIN_ENAMESPACE, BRAIN_EPINS (this process
 * already pins BRAIN_PINS_PER_PROC distinct values: release some, or use
 * brain_read), BRAIN_ECORRUPT. */
BRAIN_API int brain_get(brain *b, const char *ns, const char *name,
                        brain_view *view);

/* Releases a view; using view->data afterwards is undefined.  Releasing a
 * zeroed or already released view is a no-op. */
BRAIN_API void brain_view_release(brain *b, brain_view *view);

/* brain_publish that also returns a pinned view of the value it published
 * in *view (as brain_get would give, taken in the same hold of the
 * writers' lock, so no other process can replace or delete the name and
 * have the block reused in between).  For a writer that keeps using the
 * memory brain_reserve gave it after publishing (the Plasma client's
 * create/seal buffer): while the view is held, that memory stays the
 * value's and is never handed to another value; release the view with
 * brain_view_release when done.  Writing through the brain_reserve
 * pointer after publishing changes what readers see: published values are
 * meant to be immutable, so don't.  Success consumes the reservation.
 * Unlike brain_publish, a failure does not: nothing is published, *view is
 * zeroed, and the reservation (its memory still reserved, still written
 * through pointers the caller may hold) stays the caller's, to publish
 * again or brain_abort.  Errors as brain_publish (BRAIN_ECONFLICT,
 * BRAIN_ESTALE in a fork child, ...), BRAIN_EINVAL (view NULL) and
 * BRAIN_EPINS (this process pins BRAIN_PINS_PER_PROC values already;
 * checked before publishing). */
BRAIN_API int brain_publish_view(brain *b, brain_reservation *res,
                                 uint64_t *version, brain_view *view);

/* Copies the value of (ns, name) into BUF (cap bytes), for small values.
 * *size receives the value's size.  When cap is too small nothing is
 * copied and BRAIN_ERANGE is returned with *size set, so a caller can
 * retry with a bigger buffer.  info may be NULL; its strings are set to
 * NULL (use brain_meta for them). */
BRAIN_API int brain_read(brain *b, const char *ns, const char *name,
                         void *buf, size_t cap, size_t *size,
                         brain_info *info);

/* Metadata of (ns, name), no value.  The strings are copied into STRBUF
 * (cap bytes; BRAIN_NS_MAX + BRAIN_NAME_MAX + BRAIN_DESC_MAX + 3 always
 * suffices) and info's pointers point there.  strbuf may be NULL with
 * cap 0: the pointers are then NULL. */
BRAIN_API int brain_meta(brain *b, const char *ns, const char *name,
                         brain_info *info, char *strbuf, size_t cap);

/* 1 when (ns, name) holds an unexpired value, 0 when not, < 0 on error. */
BRAIN_API int brain_exists(brain *b, const char *ns, const char *name);

/* Deletes (ns, name).  BRAIN_ENOTFOUND when absent.  Views of the value
 * stay valid until released.  What no reader can reach any more is freed
 * before the call returns, and a large value's pages (past the store's
 * 32 MiB warm reserve) go back to the system then, so the delete of a
 * large value costs the hole punch (80 MB: about 20 ms on /dev/shm),
 * not the next writer. */
BRAIN_API int brain_delete(brain *b, const char *ns, const char *name);

/* Several puts in one call, atomic: under one lock, all or nothing, and a
 * concurrent brain_get_many sees all of them or none.  versions (may be
 * NULL) receives each new version.  On error nothing changes and
 * *failed (if not NULL) is the index of the item at fault. */
typedef struct brain_item {
    const char *ns;
    const char *name;
    const void *data;
    size_t size;
    const brain_put_opts *opts; /* may be NULL */
} brain_item;
BRAIN_API int brain_put_many(brain *b, size_t n, const brain_item *items,
                             uint64_t *versions, size_t *failed);

/* Several gets in one call, from one consistent snapshot of the store.
 * views[i] receives a pinned view of keys[i]; on error none is held and
 * *failed (if not NULL) is the index of the missing or bad key. */
typedef struct brain_key {
    const char *ns;
    const char *name;
} brain_key;
BRAIN_API int brain_get_many(brain *b, size_t n, const brain_key *keys,
                             brain_view *views, size_t *failed);

/* ------------------------------------------------------------------------
 * Listing.
 * ------------------------------------------------------------------------ */
typedef struct brain_list {
    size_t count;
    brain_info *items; /* strings owned by the list */
} brain_list;

/* The all_ns argument of brain_list_names. */
#define BRAIN_LIST_ONE_NS 0  /* the names of namespace NS */
#define BRAIN_LIST_ALL_NS 1  /* the names of every namespace (NS is ignored) */

/* Lists the names of namespace NS (NULL = "default"), or of every namespace
 * when all_ns is non-zero (BRAIN_LIST_ALL_NS), with their metadata, in no particular order.
 * Each listed name held that value at some moment during the call.
 * Expired names are left out.  Free with brain_list_free. */
BRAIN_API int brain_list_names(brain *b, const char *ns, int all_ns,
                               brain_list **out);
BRAIN_API void brain_list_free(brain_list *list);

/* The names alone, sorted: what brain_list_names lists, without the
 * metadata, and cheaper (about a tenth of the memory).  names[i] is
 * NUL-terminated, name_lens[i] bytes long, in namespace ns[i]; sorted by
 * the bytes of the name (for UTF-8 that is code point order), a name held
 * in several namespaces (all_ns) ordered by namespace.  Each listed name
 * held a value at some moment during the call; expired names are left
 * out.  Free with brain_names_free. */
typedef struct brain_names {
    size_t count;
    const char **names;
    const char **ns;
    const uint32_t *name_lens;
} brain_names;

BRAIN_API int brain_list_sorted_names(brain *b, const char *ns, int all_ns,
                                      brain_names **out);
BRAIN_API void brain_names_free(brain_names *list);

/* How many names namespace NS (NULL = "default") holds, expired ones left
 * out: what brain_list_sorted_names would list, counted without gathering
 * or sorting anything (a walk of the index, no lock unless writers keep
 * changing names during it).  BRAIN_EINVAL when count is NULL. */
BRAIN_API int brain_count_names(brain *b, const char *ns, uint64_t *count);

typedef struct brain_ns_info {
    char name[BRAIN_NS_MAX + 1];
    uint64_t names; /* names it holds (expired ones count until
                       brain_expire, brain_stats_get or a put that needs
                       their space removes them, or they are replaced) */
    uint64_t bytes; /* value bytes it holds */
    uint64_t version; /* version of its last change */
} brain_ns_info;

/* The namespaces that exist (those holding names, and "default" always),
 * into a malloc'ed array that the caller frees with free(). */
BRAIN_API int brain_namespaces(brain *b, brain_ns_info **out, size_t *count);

/* Deletes every name of namespace NS; *removed (may be NULL) gets how many.
 * A namespace that holds nothing is not an error (0 removed). */
BRAIN_API int brain_ns_clear(brain *b, const char *ns, size_t *removed);

/* ------------------------------------------------------------------------
 * Waiting, expiry, stats, size, maintenance.
 * ------------------------------------------------------------------------ */

/* Blocks until (ns, name) has a version other than after_version (a put,
 * a delete, an expiry), or, with name NULL, until any name of namespace NS
 * changes after after_version.  Sleeps on a futex in the store: no
 * polling.  timeout_ms < 0 waits forever; 0 checks once.  *version (may be
 * NULL) receives the version found (0 when the name is absent; for a
 * namespace, the version of its last change).  BRAIN_ETIMEDOUT on timeout.
 * A signal does not end the wait early. */
BRAIN_API int brain_wait(brain *b, const char *ns, const char *name,
                         uint64_t after_version, int64_t timeout_ms,
                         uint64_t *version);

/* The store's current version: the highest version given to any change. */
BRAIN_API int brain_version(brain *b, uint64_t *version);

/* Deletes every entry whose expiry has passed; *removed (may be NULL) gets
 * how many.  Readers already treat expired names as absent. */
BRAIN_API int brain_expire(brain *b, size_t *removed);

typedef struct brain_stats {
    uint64_t capacity;      /* the limit, bytes */
    uint64_t file_size;     /* bytes the file occupies now */
    uint64_t used;          /* bytes taken: live values, the index and the
                               store's own tables (header, process and
                               namespace tables) */
    uint64_t free;          /* capacity - used - limbo */
    uint64_t largest_free;  /* largest value that fits now */
    uint64_t limbo;         /* replaced/deleted bytes awaiting readers */
    uint64_t names;
    uint64_t namespaces;
    uint64_t procs;         /* attached processes */
    uint64_t pins;          /* pins held by all processes */
    uint64_t version;       /* store version */
    uint64_t index_slots;   /* size of the name index */
    uint64_t blocks;        /* blocks in the arena (used + free) */
    uint64_t free_blocks;
    uint64_t recoveries;    /* times a dead writer's mess was repaired */
    uint64_t reaped;        /* dead processes reaped */
    uint32_t max_procs;
    uint32_t max_namespaces;
} brain_stats;

/* The store's figures; never waits for the writers' lock.  When the lock
 * is free, expired names are removed first (as brain_expire); when another
 * process holds it, they are left out of the figures instead (and
 * largest_free is a lower bound).  Either way names, used, free and
 * namespaces count live values only. */
BRAIN_API int brain_stats_get(brain *b, brain_stats *st);

/* One attached process, as brain_procs reports it. */
typedef struct brain_proc_info {
    int32_t pid;
    uint32_t pins;    /* values it holds views of */
    uint32_t reservations; /* values it is writing (reserved, unpublished) */
    int alive;        /* 0: died without closing (reaped on the next
                         writer that needs its slot, or by brain_reap) */
    int self;         /* 1: the calling handle */
} brain_proc_info;

/* The processes attached to the store, into a malloc'ed array the caller
 * frees with free().  *count gets how many (0 gives *out == NULL). */
BRAIN_API int brain_procs(brain *b, brain_proc_info **out, size_t *count);

/* Changes the capacity.  Growing sets a new limit (the file grows as values
 * arrive; every process sees it on its next call).  Shrinking moves values
 * that lie beyond the new size down into free space (first sliding values
 * below it down into lower holes when free space is too fragmented to take
 * them, as a replacing put would: views held keep their bytes) and
 * truncates the file; it fails with BRAIN_EFULL when the values stored do not fit in the new
 * size and with BRAIN_EBUSY when values beyond it are pinned by views;
 * either way nothing stored is lost. */
BRAIN_API int brain_resize(brain *b, uint64_t capacity);

/* Reaps the slots of dead processes: their pins and reservations are
 * released.  *reaped (may be NULL) gets how many.  Writers do this on their
 * own when a dead process blocks reuse; this is for tools. */
BRAIN_API int brain_reap(brain *b, size_t *reaped);

/* Validates every structure of the store: header, process table, block
 * chain, free lists, name index, entries and their values' layouts,
 * namespace table and counters.  Calls report(ctx, message) for every
 * problem found (report may be NULL).  Returns 0 when consistent,
 * BRAIN_ECORRUPT when not, another code when it could not check. */
typedef void (*brain_report_fn)(void *ctx, const char *message);
BRAIN_API int brain_check(brain *b, brain_report_fn report, void *ctx);

/* Rebuilds the store's derived state (free lists, the limbo list, counters,
 * namespace records, boundary tags) from its block chain, under the
 * writers' lock, as the library does on its own after a writer died; dead
 * processes are reaped first.  Values and names are never touched: what the
 * chain and index hold stays.  For `brain check --repair`: run brain_check
 * afterwards to see whether the store is consistent now.  BRAIN_ECORRUPT
 * when the chain or the index itself is damaged beyond what this mends. */
BRAIN_API int brain_repair(brain *b);

/* A store file shorter than its header says (shrunk by `truncate`, or cut
 * while mapped): brain_open refuses it (BRAIN_ETRUNCATED) and
 * brain_salvage() keeps what is left.  With the store to itself (no other
 * process has it open; BRAIN_ETRUNCATED naming one otherwise) it keeps
 * every value whose block lies wholly inside what is left, ends the block
 * chain at the last whole block, restores the file to the size its header
 * says (the cut-off part becomes free space), rebuilds the name index when
 * the index itself was cut, and the free lists, counters and namespace
 * records from what survives.  LOST (may be NULL) is called for each lost
 * name whose entry could still be read (its value was cut through); the
 * others' names were in the cut-off part and are only counted.  *INFO (may
 * be NULL) says what was found and kept.  A file that is not truncated is
 * left alone (info->truncated 0, BRAIN_OK).  A file cut inside its header
 * holds nothing to salvage: BRAIN_ETRUNCATED.  brain_repair() does the same
 * for an open handle when its process is the only one with the store open. */
typedef struct brain_salvage_info {
    int truncated;         /* 1: the file was shorter than its header says */
    uint64_t header_size;  /* the file size the header says */
    uint64_t found_size;   /* the size the file had */
    uint64_t kept;         /* names kept */
    uint64_t lost;         /* names lost (their block reached past the cut) */
    uint64_t lost_unnamed; /* of those, the names that could not be read */
} brain_salvage_info;
typedef void (*brain_lost_fn)(void *ctx, const char *ns, const char *name);
BRAIN_API int brain_salvage(const char *store, brain_lost_fn lost, void *ctx,
                            brain_salvage_info *info);

/* ------------------------------------------------------------------------
 * Snapshots: every name of a store, with its metadata, in one file.  The
 * format is documented in docs/SNAPSHOT.md.
 * ------------------------------------------------------------------------ */

/* Writes every unexpired name of every namespace, with its namespace,
 * description, type, expiry and value, to the snapshot file PATH.  The file
 * is written beside PATH under a temporary name, synced, and renamed over
 * PATH, so a crash never leaves a half snapshot.  Each name is saved as it
 * was at some moment during the call (writers are not held up).
 * *count (may be NULL) gets how many names were saved.  Errors: BRAIN_EIO
 * (with the system's reason), BRAIN_ENOSPC. */
BRAIN_API int brain_snapshot_save(brain *b, const char *path, uint64_t *count);

enum {
    BRAIN_LOAD_MERGE = 1u << 0, /* keep names the snapshot does not hold */
};

/* Loads the snapshot file PATH into the store, all or nothing.  The file
 * is read with pread (never mapped: a file that shrinks under the load is
 * an error, not SIGBUS); each value goes straight into a reservation in
 * the store and is verified there (magic, format version, every length,
 * every checksum, the trailer), so bytes changed in the file while loading
 * are refused, not stored.  Only when the whole file checked out are its
 * names published, replacing what the store holds under them (expiries keep
 * their absolute time, names already expired are skipped) and, unless
 * BRAIN_LOAD_MERGE, deleting every name the snapshot does not hold, under
 * one hold of the writers' lock: readers see the old names or exactly the
 * snapshot's.  On any error (BRAIN_ESNAPSHOT, BRAIN_EIO, BRAIN_EFULL: the
 * store needs room for the snapshot besides what it holds) and when the
 * process is killed before that step, the store is unchanged.  *count (may
 * be NULL) gets how many names were loaded. */
BRAIN_API int brain_snapshot_load(brain *b, const char *path, unsigned flags,
                                  uint64_t *count);

/* What the snapshot file PATH records: *count (may be NULL) names, and
 * *ours (may be NULL) set to 1 when the file was saved from this store or
 * is the last snapshot loaded whole into it (then every name it lists was
 * in this store, so a store holding fewer really lost them), else 0.  Reads
 * only the header.  Errors: BRAIN_ESNAPSHOT, BRAIN_EIO. */
BRAIN_API int brain_snapshot_info(brain *b, const char *path, uint64_t *count, int *ours);

/* Progress of a snapshot save or load through handle B: fn(ctx, phase,
 * done, total) is called from the calling thread as the work advances, in
 * bytes of values ("save": values written; "check": values verified before
 * a load; "load": values stored), at least once at the end of each phase
 * with done == total.  Called at most every few megabytes, so a progress
 * bar costs nothing.  fn NULL turns it off.  The callback must not use B. */
typedef void (*brain_progress_fn)(void *ctx, const char *phase,
                                  uint64_t done, uint64_t total);
BRAIN_API void brain_set_progress(brain *b, brain_progress_fn fn, void *ctx);

/* ------------------------------------------------------------------------
 * Typed layouts shared with the Python front end.
 * ------------------------------------------------------------------------ */

/* An n-d array value (BRAIN_TYPE_ARRAY): a header giving dtype and shape,
 * then the C-contiguous data on a 64-byte boundary.  dtype is a NumPy
 * array-interface typestr such as "<f8", "|u1", "<i4", "|b1", "<M8[ns]". */
typedef struct brain_array {
    char dtype[16];
    uint32_t ndim;
    uint64_t shape[BRAIN_ARRAY_MAX_DIMS];
    uint64_t itemsize;
    uint64_t nbytes;
    uint64_t data_offset; /* from the start of the value */
    const void *data;     /* set by brain_array_parse */
} brain_array;

/* Bytes needed for the header of an array of NDIM dimensions (a multiple
 * of 64); the data follows at that offset. */
BRAIN_API size_t brain_array_header_size(uint32_t ndim);

/* Fills a brain_array description (dtype, ndim, shape) and computes
 * itemsize, nbytes and data_offset.  BRAIN_ETYPE for a bad dtype, ndim or
 * a size that overflows. */
BRAIN_API int brain_array_init(brain_array *a, const char *dtype,
                               uint32_t ndim, const uint64_t *shape);

/* Writes the header of A into BUF (at least brain_array_header_size bytes). */
BRAIN_API int brain_array_write_header(const brain_array *a, void *buf,
                                       size_t cap);

/* Validates an array value of SIZE bytes and describes it in *a, with
 * a->data pointing into VALUE.  BRAIN_ETYPE when malformed. */
BRAIN_API int brain_array_parse(const void *value, size_t size,
                                brain_array *a);

/* Stores an array: header and DATA (a->nbytes bytes, C order) in one
 * value, written straight into the store. */
BRAIN_API int brain_put_array(brain *b, const char *ns, const char *name,
                              const brain_array *a, const void *data,
                              const brain_put_opts *opts, uint64_t *version);

/* A pickle-5 value (BRAIN_TYPE_PICKLE): a header listing the stream and
 * each out-of-band buffer (offset and length, every buffer 64-byte
 * aligned), then the stream, then the buffers.  The header may carry a
 * hint: a short UTF-8 text saying what the pickle holds, written by the
 * producer so tools can describe the value without unpickling it (the
 * Python front end writes "DataFrame 1000000x7" or "Series 10 float64";
 * `brain ls --long` and `brain show` print it).  Byte layout, little-endian:
 * magic "BRPK" (or "BRPH" with a hint), nbufs (u32), header size, stream
 * offset, stream length (u64 each), the buffers' offsets then lengths
 * (u64 each); with a hint, its length (u32), 4 zero bytes and its text;
 * zeros up to the header size, a multiple of 64. */
#define BRAIN_PICKLE_HINT_MAX 256
typedef struct brain_pickle {
    uint32_t nbufs;
    uint64_t stream_offset, stream_len;
    const uint64_t *buf_offsets; /* nbufs entries, into the value */
    const uint64_t *buf_lens;
    const char *hint;  /* into the value, not NUL-terminated; "" when none */
    uint32_t hint_len;
} brain_pickle;

/* Computes the layout for a stream of STREAM_LEN bytes and NBUFS buffers
 * of the given lengths: *total receives the value size; offsets receives
 * the stream offset (offsets[0]) then each buffer's offset.  Then
 * brain_pickle_write_header fills the header into the first bytes.  The
 * _hint variants lay out and write a header with a hint of HINT_LEN bytes
 * (at most BRAIN_PICKLE_HINT_MAX, UTF-8 without NUL; 0 = none). */
BRAIN_API int brain_pickle_layout(uint64_t stream_len, uint32_t nbufs,
                                  const uint64_t *buf_lens,
                                  uint64_t *offsets, uint64_t *total);
BRAIN_API int brain_pickle_write_header(void *value, size_t cap,
                                        uint64_t stream_len, uint32_t nbufs,
                                        const uint64_t *buf_lens);
BRAIN_API int brain_pickle_layout_hint(uint64_t stream_len, uint32_t nbufs,
                                       const uint64_t *buf_lens, size_t hint_len,
                                       uint64_t *offsets, uint64_t *total);
BRAIN_API int brain_pickle_write_header_hint(void *value, size_t cap,
                                             uint64_t stream_len, uint32_t nbufs,
                                             const uint64_t *buf_lens,
                                             const char *hint, size_t hint_len);
/* Validates a pickle value and describes it; the arrays point into VALUE. */
BRAIN_API int brain_pickle_parse(const void *value, size_t size,
                                 brain_pickle *p);

/* ------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------ */

/* Parses a size: plain bytes ("1048576"), decimal units ("50MB", "1.5GB",
 * "10kB", "2TB": powers of 1000) or binary units ("2GiB", "512MiB", "4KiB":
 * powers of 1024), case-insensitive, with optional space before the unit.
 * BRAIN_EINVAL for anything else, negative numbers or overflow. */
BRAIN_API int brain_parse_size(const char *text, uint64_t *out);

/* Formats BYTES for people ("212.0 MB", "1.5 GiB" with binary != 0). */
BRAIN_API const char *brain_format_size(uint64_t bytes, int binary,
                                        char *buf, size_t cap);

/* The rule a name or namespace broke (brain_check_name's *rule). */
enum brain_name_rule {
    BRAIN_NAME_EMPTY = 1, /* no bytes */
    BRAIN_NAME_TOO_LONG,  /* more than BRAIN_NAME_MAX (BRAIN_NS_MAX) bytes */
    BRAIN_NAME_NUL,       /* a NUL byte inside a counted string */
    BRAIN_NAME_CONTROL,   /* another control character (0x01 to 0x1f) */
    BRAIN_NAME_UTF8       /* not valid UTF-8 */
};

/* Checks the N bytes at S (a counted string: a NUL inside is refused, not
 * taken as its end) against the rules every call applies to names
 * (IS_NAMESPACE 0) or namespaces (IS_NAMESPACE 1): 1 to BRAIN_NAME_MAX
 * (BRAIN_NS_MAX) bytes of valid UTF-8 with no control character.  Returns
 * 0, or BRAIN_ENAME (BRAIN_ENAMESPACE) with brain_errdetail() set as the
 * calls set it; then *rule gets the brain_name_rule broken and *at the
 * offset of the first offending byte (for EMPTY and TOO_LONG: N).  RULE and
 * AT may be NULL.  Needs no store: a binding checks a name with it before
 * doing any work for it, and words its own message from *rule. */
BRAIN_API int brain_check_name(const char *s, size_t n, int is_namespace,
                               int *rule, size_t *at);

#ifdef __cplusplus
}
#endif
#endif /* BRAIN_H */
