/*
 * snapshot.c - saving every name of a store to one file, and loading it.
 *
 * Format (docs/SNAPSHOT.md): a 64-byte header, then for each name a 64-byte
 * entry header followed by its namespace, name and description, zero
 * padding up to the next 64-byte boundary of the file, and the value; then
 * a 32-byte trailer.  Values are aligned so that typed layouts can be read
 * in place.  Every entry carries a checksum of its
 * header, strings and value; the trailer carries the count and a checksum
 * chained over the entries' checksums, so truncation anywhere is caught.
 * Saving writes a temporary file beside the target and renames it; loading
 * checks the whole file before it changes anything in the store.
 *
 * All integers are little-endian (the store itself is host-endian; this is
 * the one file meant to travel).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SNAP_MAGIC "BRAINSNP"
#define SNAP_END "BRAINEND"
#define SNAP_VERSION 2u /* 2: values checksummed four lanes wide (brain__checksum_wide) */
#define SNAP_ENTRY_MAGIC 0x45504e53u /* "SNPE" */
#define SNAP_SEED 0x736e617073686f74ull
#define SNAP_BUF (1u << 20)

struct snap_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    int64_t created_ns;
    uint64_t count;
    uint8_t store_id[16];
    uint64_t reserved;
    uint64_t check; /* of the bytes above */
};

struct snap_entry {
    uint32_t magic;
    uint32_t type;
    uint16_t ns_len, name_len;
    uint32_t desc_len;
    uint64_t size;
    int64_t created_ns, updated_ns, expires_ns;
    uint64_t reserved;
    uint64_t check; /* of this header (check = 0), strings and value */
};

struct snap_trailer {
    char magic[8];
    uint64_t count;
    uint64_t chain; /* checksums of the entries, chained */
    uint64_t check; /* of the bytes above */
};

_Static_assert(sizeof(struct snap_header) == 64, "snapshot header");
_Static_assert(sizeof(struct snap_entry) == 64, "snapshot entry");
_Static_assert(sizeof(struct snap_trailer) == 32, "snapshot trailer");
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "snapshot.c writes little-endian integers as they are in memory"
#endif

/* ---- save ------------------------------------------------------------------ */

struct writer {
    int fd;
    const char *path;
    uint8_t *buf;
    size_t used;
    uint64_t pos; /* file offset of the next byte */
};

/* Zero bytes from POS up to the next multiple of 64. */
static inline uint64_t pad_to_64(uint64_t pos) { return align_up(pos, 64) - pos; }

/* A failed write of the snapshot: a full disk (or quota) is BRAIN_EDISKFULL
 * naming the file system's free space; the store itself is not full. */
static int write_failed(int fd, const char *path)
{
    int err = errno;
    if (err == ENOSPC || err == EDQUOT) {
        struct statvfs vs;
        char free_s[32] = "?";
        if (fstatvfs(fd, &vs) == 0)
            brain__fmt_size((uint64_t)vs.f_bavail * vs.f_frsize, free_s, sizeof free_s);
        return brain__fail(BRAIN_EDISKFULL,
                       "cannot write snapshot '%s': the file system holding it is full (%s; %s "
                       "free there); the store is unchanged and the previous snapshot, if any, "
                       "is intact: free space there or save elsewhere",
                       path, strerror(err), free_s);
    }
    return brain__fail(BRAIN_EIO, "cannot write snapshot '%s': %s", path, strerror(err));
}

static int write_all(struct writer *w, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return write_failed(w->fd, w->path);
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static int flush(struct writer *w)
{
    int rc = write_all(w, w->buf, w->used);
    w->used = 0;
    return rc;
}

/* Small pieces go through the buffer; large ones straight from the store. */
static int emit(struct writer *w, const void *p, size_t n)
{
    w->pos += n;
    if (n >= SNAP_BUF / 2) {
        int rc = flush(w);
        return rc ? rc : write_all(w, p, n);
    }
    if (w->used + n > SNAP_BUF) {
        int rc = flush(w);
        if (rc)
            return rc;
    }
    memcpy(w->buf + w->used, p, n);
    w->used += n;
    return 0;
}

/* The checksum of an entry's header (check field 0) and strings; the value
 * follows through brain__checksum_wide seeded with it. */
static uint64_t entry_check_head(const struct snap_entry *e, const char *ns, const char *name,
                                 const char *desc)
{
    struct snap_entry tmp = *e;
    tmp.check = 0;
    uint64_t c = brain__checksum(SNAP_SEED, &tmp, sizeof tmp);
    c = brain__checksum(c, ns, e->ns_len);
    c = brain__checksum(c, name, e->name_len);
    return brain__checksum(c, desc, e->desc_len);
}

static uint64_t entry_check(const struct snap_entry *e, const char *ns, const char *name,
                            const char *desc, const void *value)
{
    return brain__checksum_wide(entry_check_head(e, ns, name, desc), value, e->size);
}

void brain_set_progress(brain *b, brain_progress_fn fn, void *ctx)
{
    if (!b)
        return;
    b->progress = fn;
    b->progress_ctx = ctx;
}

/* Progress through one phase: calls the handle's callback when at least
 * PROGRESS_STEP bytes went by since the last call, and always at the end. */
#define PROGRESS_STEP (8u << 20)
struct progress {
    brain *b;
    const char *phase;
    uint64_t done, total, last;
};

static void progress_add(struct progress *p, uint64_t n)
{
    p->done += n;
    if (p->b->progress && (p->done - p->last >= PROGRESS_STEP || p->done >= p->total)) {
        p->last = p->done;
        p->b->progress(p->b->progress_ctx, p->phase, p->done, p->total);
    }
}

static void progress_end(struct progress *p)
{
    if (p->b->progress && p->last != p->total) {
        p->done = p->last = p->total;
        p->b->progress(p->b->progress_ctx, p->phase, p->total, p->total);
    }
}

/* Writes a big value in slices straight from the store, checksumming each
 * slice just before it is written (while it is still in the cache: one
 * pass over memory instead of two), then writes the entry's header, whose
 * checksum is now known, over the one written at HEAD_POS with check 0.
 * All of this happens in the temporary file, renamed only when complete. */
static int emit_big_value(struct writer *w, struct snap_entry *e, uint64_t head_pos,
                          uint64_t check_head, const uint8_t *p, struct progress *pr)
{
    int rc = flush(w);
    if (rc)
        return rc;
    uint64_t n = e->size;
    struct brain__wide h;
    brain__wide_init(&h, check_head, n);
    while (n >= 32) {
        size_t k = n > PROGRESS_STEP ? (size_t)PROGRESS_STEP : (size_t)(n & ~(uint64_t)31);
        brain__wide_rounds(&h, p, k);
        if ((rc = write_all(w, p, k)))
            return rc;
        w->pos += k;
        progress_add(pr, k);
        p += k;
        n -= k;
    }
    e->check = brain__wide_final(&h, p, (size_t)n);
    if (n) {
        if ((rc = write_all(w, p, (size_t)n)))
            return rc;
        w->pos += n;
        progress_add(pr, n);
    }
    if (pwrite(w->fd, e, sizeof *e, (off_t)head_pos) != (ssize_t)sizeof *e)
        return write_failed(w->fd, w->path);
    return 0;
}

int brain_snapshot_save(brain *b, const char *path, uint64_t *count)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!path || !*path)
        return brain__fail(BRAIN_EINVAL, "snapshot path is empty");
    char tmp[BRAIN_PATH_MAX + 64];
    uint32_t rnd;
    brain__plat_random(&rnd, sizeof rnd);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%d-%08x", path, (int)getpid(), rnd) >= sizeof tmp)
        return brain__fail(BRAIN_EINVAL, "snapshot path is too long");
    brain__plat_clean_stale_tmp(path, "", SNAP_MAGIC); /* saves killed half way, of any file here */
    brain_list *list = NULL;
    if ((rc = brain_list_names(b, NULL, 1, &list)))
        return rc;
    struct writer w = {-1, path, malloc(SNAP_BUF), 0, 0};
    static const uint8_t zeros[64];
    if (!w.buf) {
        brain_list_free(list);
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    }
    w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w.fd < 0) {
        rc = brain__fail(errno == ENOSPC || errno == EDQUOT ? BRAIN_EDISKFULL : BRAIN_EIO,
                     "cannot create snapshot '%s': %s", tmp, strerror(errno));
        goto out;
    }
    /* a snapshot replaced keeps its mode and group (one shared through its
     * group stays shared); the file is private (0600) until then */
    struct stat old;
    if (lstat(path, &old) == 0) {
        if (!S_ISREG(old.st_mode)) {
            rc = brain__fail(BRAIN_EINVAL, "'%s' exists and is not a regular file; refusing to "
                                       "replace it with a snapshot", path);
            goto out;
        }
        if (old.st_gid != getegid() && fchown(w.fd, (uid_t)-1, old.st_gid) != 0)
            old.st_mode &= ~(mode_t)070; /* not our group: keep it private to it */
        fchmod(w.fd, old.st_mode & 0777);
    }
    struct snap_header hd = {0};
    memcpy(hd.magic, SNAP_MAGIC, 8);
    hd.version = SNAP_VERSION;
    hd.header_size = sizeof hd;
    hd.created_ns = brain__plat_now_ns();
    memcpy(hd.store_id, b->h->store_id, 16);
    if ((rc = emit(&w, &hd, sizeof hd)))
        goto out;
    uint64_t n = 0, chain = SNAP_SEED;
    struct progress pr = {b, "save", 0, 0, 0};
    for (size_t i = 0; i < list->count; i++)
        pr.total += list->items[i].size;
    for (size_t i = 0; i < list->count; i++) {
        const brain_info *it = &list->items[i];
        brain_view v;
        rc = brain_get(b, it->ns, it->name, &v);
        if (rc == BRAIN_ENOTFOUND) { /* deleted or expired meanwhile */
            progress_add(&pr, it->size);
            continue;
        }
        if (rc)
            goto out;
        struct snap_entry e = {0};
        e.magic = SNAP_ENTRY_MAGIC;
        e.type = v.info.type;
        e.ns_len = (uint16_t)v.info.ns_len;
        e.name_len = (uint16_t)v.info.name_len;
        e.desc_len = v.info.desc_len;
        e.size = v.size;
        e.created_ns = v.info.created_ns;
        e.updated_ns = v.info.updated_ns;
        e.expires_ns = v.info.expires_ns;
        int big = v.size >= SNAP_BUF / 2;
        uint64_t head_pos = w.pos;
        if (big)
            e.check = 0; /* written back by emit_big_value */
        else
            e.check = entry_check(&e, v.info.ns, v.info.name, v.info.desc, v.data);
        if (!(rc = emit(&w, &e, sizeof e)) && !(rc = emit(&w, v.info.ns, e.ns_len)) &&
            !(rc = emit(&w, v.info.name, e.name_len)) && !(rc = emit(&w, v.info.desc, e.desc_len)) &&
            !(rc = emit(&w, zeros, pad_to_64(w.pos)))) {
            if (big)
                rc = emit_big_value(&w, &e, head_pos,
                                    entry_check_head(&e, v.info.ns, v.info.name, v.info.desc),
                                    v.data, &pr);
            else {
                rc = emit(&w, v.data, v.size);
                progress_add(&pr, v.size);
            }
        }
        chain = brain__checksum(chain, &e.check, 8);
        if (v.size != it->size) /* replaced since the listing */
            pr.total = pr.total - it->size + v.size;
        brain_view_release(b, &v);
        if (rc)
            goto out;
        n++;
    }
    struct snap_trailer tr = {0};
    memcpy(tr.magic, SNAP_END, 8);
    tr.count = n;
    tr.chain = chain;
    tr.check = brain__checksum(SNAP_SEED, &tr, offsetof(struct snap_trailer, check));
    if ((rc = emit(&w, &tr, sizeof tr)) || (rc = flush(&w)))
        goto out;
    hd.count = n;
    hd.check = brain__checksum(SNAP_SEED, &hd, offsetof(struct snap_header, check));
    if (pwrite(w.fd, &hd, sizeof hd, 0) != (ssize_t)sizeof hd || fsync(w.fd) != 0) {
        rc = write_failed(w.fd, path);
        goto out;
    }
    if (close(w.fd) != 0) {
        w.fd = -1;
        rc = brain__fail(errno == ENOSPC || errno == EDQUOT ? BRAIN_EDISKFULL : BRAIN_EIO,
                     "cannot write snapshot '%s': %s", path, strerror(errno));
        goto out;
    }
    w.fd = -1;
    if (rename(tmp, path) != 0) {
        rc = brain__fail(BRAIN_EIO, "cannot move snapshot into place at '%s': %s", path, strerror(errno));
        goto out;
    }
    progress_end(&pr);
    if (count)
        *count = n;
out:
    if (w.fd >= 0)
        close(w.fd);
    if (rc)
        unlink(tmp);
    free(w.buf);
    brain_list_free(list);
    return rc;
}

/* The entry's namespace, name and description (at S, back to back) as C
 * strings; the buffers hold BRAIN_NS_MAX, BRAIN_NAME_MAX, BRAIN_DESC_MAX
 * bytes plus the NUL, and the lengths were checked against those. */
static void entry_strings(const struct snap_entry *en, const char *s, char *ns, char *name, char *desc)
{
    memcpy(ns, s, en->ns_len);
    ns[en->ns_len] = 0;
    memcpy(name, s + en->ns_len, en->name_len);
    name[en->name_len] = 0;
    memcpy(desc, s + en->ns_len + en->name_len, en->desc_len);
    desc[en->desc_len] = 0;
}

/* ---- load ------------------------------------------------------------------ */

/* The file is never mapped: every byte is read with pread, so a file that
 * shrinks under the load is a short read (a clear error), never SIGBUS.
 * Each value is read straight into its reservation in the store and its
 * checksum is computed over the bytes as they lie there, so what is
 * verified is exactly what gets published: bytes changed in the file while
 * loading are an error, not stored.  Nothing is published until the whole
 * file (trailer included) has been read and verified; then every name is
 * published, and the others deleted, under one hold of the writers' lock
 * (brain__publish_batch).  A load that fails or is killed before that leaves
 * only reservations, which are freed (by brain_abort, or by the reaping of
 * the dead process). */

#define READ_CHUNK (4u << 20) /* a multiple of 32: whole hash rounds */

static int bad(const char *path, uint64_t off, const char *what)
{
    return brain__fail(BRAIN_ESNAPSHOT,
                   "snapshot '%s' is damaged at byte %llu: %s; the store was not changed",
                   path, (unsigned long long)off, what);
}

/* Reads exactly N bytes at OFF.  0, or an error already set (a short read
 * means the file shrank or was truncated). */
static int read_at(int fd, const char *path, void *p, size_t n, uint64_t off)
{
    uint8_t *c = p;
    while (n) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return brain__fail(BRAIN_EIO, "reading snapshot '%s' failed: %s; the store was not changed",
                           path, strerror(errno));
        if (r == 0)
            return bad(path, off, "the file ends early (truncated, or it shrank while loading)");
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Reads SIZE bytes at OFF into DST (the reservation in the store, or a
 * scratch buffer of READ_CHUNK bytes when SCRATCH) and hashes them from
 * DST after each read, seeded with HEAD. */
static int read_value(int fd, const char *path, uint64_t off, uint64_t size, uint8_t *dst,
                      int scratch, uint64_t head, uint64_t *check, struct progress *pr)
{
    if (size < 256) { /* brain__checksum_wide's short form */
        int rc = size ? read_at(fd, path, dst, (size_t)size, off) : 0;
        if (rc)
            return rc;
        *check = brain__checksum_wide(head, dst, (size_t)size);
        progress_add(pr, size);
        return 0;
    }
    struct brain__wide h;
    brain__wide_init(&h, head, size);
    size_t want = 0, body = 0;
    const uint8_t *last = dst;
    for (uint64_t done = 0; done < size; done += want) {
        want = size - done > READ_CHUNK ? READ_CHUNK : (size_t)(size - done);
        uint8_t *p = scratch ? dst : dst + done;
        int rc = read_at(fd, path, p, want, off + done);
        if (rc)
            return rc;
        body = want & ~(size_t)31; /* short of want only in the last chunk */
        brain__wide_rounds(&h, p, body);
        last = p;
        progress_add(pr, want);
    }
    *check = brain__wide_final(&h, last + body, want - body);
    return 0;
}

static void abort_all(brain *b, brain_reservation **res, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (res[i])
            brain_abort(b, res[i]);
}

static int snapshot_open(const char *path, int *fd_out, uint64_t *size_out)
{
    /* O_NONBLOCK: a FIFO or a device at PATH must not block the open */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return brain__fail(errno == ENOENT ? BRAIN_ESNAPSHOT : BRAIN_EIO, "cannot open snapshot '%s': %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return brain__fail(BRAIN_ESNAPSHOT,
                       "'%s' is not a brain snapshot (empty, or not a regular file); the store "
                       "was not changed", path);
    }
    *fd_out = fd;
    *size_out = (uint64_t)st.st_size;
    return 0;
}

static int read_header(int fd, const char *path, uint64_t size, struct snap_header *hd)
{
    if (size < sizeof *hd)
        return brain__fail(BRAIN_ESNAPSHOT, "'%s' is not a brain snapshot (too short); the store was not changed",
                       path);
    int rc = read_at(fd, path, hd, sizeof *hd, 0);
    if (rc)
        return rc;
    if (memcmp(hd->magic, SNAP_MAGIC, 8) != 0)
        return brain__fail(BRAIN_ESNAPSHOT, "'%s' is not a brain snapshot (bad magic); the store was not changed",
                       path);
    if (hd->version != SNAP_VERSION)
        return brain__fail(BRAIN_ESNAPSHOT,
                       "snapshot '%s' has format version %u; this library reads version %u",
                       path, hd->version, SNAP_VERSION);
    if (hd->header_size != sizeof *hd ||
        hd->check != brain__checksum(SNAP_SEED, hd, offsetof(struct snap_header, check)))
        return bad(path, 0, "the header's checksum does not match");
    if (hd->count > size / sizeof(struct snap_entry))
        return bad(path, 0, "the header counts more entries than the file can hold");
    return 0;
}

int brain_snapshot_load(brain *b, const char *path, unsigned flags, uint64_t *count)
{
    brain__clear_error();
    if (count)
        *count = 0;
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!path || !*path)
        return brain__fail(BRAIN_EINVAL, "snapshot path is empty");
    if (flags & ~(unsigned)BRAIN_LOAD_MERGE)
        return brain__fail(BRAIN_EINVAL, "unknown snapshot load flags 0x%x", flags);
    int fd;
    uint64_t size;
    if ((rc = snapshot_open(path, &fd, &size)))
        return rc;
    struct snap_header hd;
    brain_reservation **res = NULL;
    uint8_t *buf = NULL, *strs = NULL;
    size_t nres = 0;
    if ((rc = read_header(fd, path, size, &hd)))
        goto out;
    res = calloc(hd.count ? hd.count : 1, sizeof *res);
    buf = malloc(READ_CHUNK);
    strs = malloc(BRAIN_NS_MAX + BRAIN_NAME_MAX + BRAIN_DESC_MAX + 64);
    if (!res || !buf || !strs) {
        rc = brain__fail(BRAIN_ENOMEM, "out of memory");
        goto out;
    }
    struct progress pr = {b, "load", 0, size, 0};
    char ns[BRAIN_NS_MAX + 1], name[BRAIN_NAME_MAX + 1], desc[BRAIN_DESC_MAX + 1];
    uint64_t off = sizeof hd, chain = SNAP_SEED;
    int64_t now = brain__plat_now_ns();
    for (uint64_t i = 0; i < hd.count; i++) {
        struct snap_entry en;
        if (size - off < sizeof en + sizeof(struct snap_trailer)) {
            rc = bad(path, off, "the file ends inside the entries (truncated)");
            goto out;
        }
        if ((rc = read_at(fd, path, &en, sizeof en, off)))
            goto out;
        uint64_t slen = (uint64_t)en.ns_len + en.name_len + en.desc_len;
        if (en.magic != SNAP_ENTRY_MAGIC || en.ns_len == 0 || en.ns_len > BRAIN_NS_MAX ||
            en.name_len == 0 || en.name_len > BRAIN_NAME_MAX || en.desc_len > BRAIN_DESC_MAX) {
            rc = bad(path, off, "an entry header is malformed");
            goto out;
        }
        uint64_t body = off + sizeof en;
        uint64_t vstart = body + slen + pad_to_64(body + slen); /* cannot overflow: < 2^16 + size */
        if (vstart > size || en.size > size - vstart ||
            size - vstart - en.size < sizeof(struct snap_trailer)) {
            rc = bad(path, off, "an entry runs past the end of the file (truncated)");
            goto out;
        }
        if ((rc = read_at(fd, path, strs, (size_t)slen, body)))
            goto out;
        const char *s = (const char *)strs;
        entry_strings(&en, s, ns, name, desc);
        size_t l;
        if (brain__name_check(ns, BRAIN_NS_MAX, BRAIN_ESNAPSHOT, "namespace", &l) ||
            brain__name_check(name, BRAIN_NAME_MAX, BRAIN_ESNAPSHOT, "name", &l) ||
            strlen(desc) != en.desc_len || !brain__utf8_valid(desc, en.desc_len) ||
            (en.type > BRAIN_TYPE_JSON && en.type < BRAIN_TYPE_USER)) {
            rc = bad(path, off, "an entry holds an invalid name, description or value type");
            goto out;
        }
        uint64_t head = entry_check_head(&en, s, s + en.ns_len, s + en.ns_len + en.name_len);
        brain_put_opts o = {.type = en.type, .desc = en.desc_len ? desc : NULL};
        int skip = en.expires_ns && en.expires_ns <= now; /* expired while saved */
        if (en.expires_ns && !skip)
            o.ttl_ms = (en.expires_ns - now + 999999) / 1000000;
        uint8_t *dst = buf;
        if (!skip) {
            void *d;
            if ((rc = brain__reserve(b, ns, name, (size_t)en.size, &o, &res[nres], &d, 1))) {
                if (rc == BRAIN_EFULL || rc == BRAIN_ETOOBIG || rc == BRAIN_ENOSPC) {
                    char why[512];
                    snprintf(why, sizeof why, "%s", brain_errdetail());
                    brain__fail(rc, "%s; the load holds every value of the snapshot aside until the "
                                "last is verified, so the store needs room for the snapshot "
                                "besides what it holds now; the store was not changed", why);
                }
                goto out;
            }
            nres++;
            dst = d;
        }
        uint64_t check;
        progress_add(&pr, vstart - off);
        if ((rc = read_value(fd, path, vstart, en.size, dst, skip, head, &check, &pr)))
            goto out;
        if (en.check != check) {
            rc = bad(path, off, "an entry's checksum does not match (damaged, or changed while loading)");
            goto out;
        }
        if (!skip && en.type <= BRAIN_TYPE_JSON && brain__value_validate(en.type, dst, en.size)) {
            rc = bad(path, off, "an entry holds an invalid value layout");
            goto out;
        }
        chain = brain__checksum(chain, &en.check, 8);
        off = vstart + en.size;
    }
    struct snap_trailer tr;
    uint8_t extra;
    if (size - off != sizeof tr) {
        rc = bad(path, off, "the file does not end where its entries do");
        goto out;
    }
    if ((rc = read_at(fd, path, &tr, sizeof tr, off)))
        goto out;
    if (memcmp(tr.magic, SNAP_END, 8) != 0 || tr.count != hd.count || tr.chain != chain ||
        tr.check != brain__checksum(SNAP_SEED, &tr, offsetof(struct snap_trailer, check))) {
        rc = bad(path, off, "the trailer does not match the entries");
        goto out;
    }
    if (pread(fd, &extra, 1, (off_t)(off + sizeof tr)) != 0) {
        rc = bad(path, off + sizeof tr, "the file grew while loading");
        goto out;
    }
    progress_end(&pr);
    if ((rc = brain__publish_batch(b, res, nres, !(flags & BRAIN_LOAD_MERGE), hd.store_id)))
        goto out;
    if (count)
        *count = nres;
    nres = 0;
out:
    if (res)
        abort_all(b, res, nres);
    free(res);
    free(buf);
    free(strs);
    close(fd);
    return rc;
}

/* The count and store id a snapshot file records, for brain serve; *ours
 * is 1 when the file was saved from this store, or is a snapshot this store
 * loaded whole (so every name it lists was in this store). */
int brain_snapshot_info(brain *b, const char *path, uint64_t *count, int *ours)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    int fd;
    uint64_t size;
    struct snap_header hd;
    if ((rc = snapshot_open(path, &fd, &size)))
        return rc;
    rc = read_header(fd, path, size, &hd);
    close(fd);
    if (rc)
        return rc;
    if (count)
        *count = hd.count;
    if (ours) {
        static const uint8_t zero[16];
        *ours = memcmp(hd.store_id, b->h->store_id, 16) == 0 ||
                (memcmp(b->h->loaded_from, zero, 16) != 0 &&
                 memcmp(hd.store_id, b->h->loaded_from, 16) == 0);
    }
    return 0;
}
