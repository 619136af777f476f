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
#include <sys/mman.h>
#include <sys/stat.h>
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

static int write_all(struct writer *w, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return brain__fail(errno == ENOSPC ? BRAIN_ENOSPC : BRAIN_EIO,
                           "cannot write snapshot '%s': %s", w->path, strerror(errno));
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
        return brain__fail(errno == ENOSPC ? BRAIN_ENOSPC : BRAIN_EIO, "cannot write snapshot '%s': %s",
                       w->path, strerror(errno));
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
        rc = brain__fail(BRAIN_EIO, "cannot create snapshot '%s': %s", tmp, strerror(errno));
        goto out;
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
        rc = brain__fail(BRAIN_EIO, "cannot write snapshot '%s': %s", path, strerror(errno));
        goto out;
    }
    if (close(w.fd) != 0) {
        w.fd = -1;
        rc = brain__fail(BRAIN_EIO, "cannot write snapshot '%s': %s", path, strerror(errno));
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

/* ---- load ------------------------------------------------------------------ */

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

struct loaded {
    uint64_t off; /* of the entry header in the file */
    uint64_t key; /* hash of (ns, name), for the replace pass */
};

/* Hashes SIZE bytes of the file from OFF, seeded with the entry's head
 * checksum, reading them with pread into BUF (READ_CHUNK bytes) and hashing
 * each chunk while it is still in the cache: large values never go through
 * a mapping of the file, so a 1 GiB snapshot costs no page-table work.
 * Returns 0 with *check set, or -1 with errno set (0 when the file is
 * shorter than it should be). */
#define READ_CHUNK (4u << 20) /* a multiple of 32: whole hash rounds */
#define FD_VALUE_MIN (1u << 20) /* smaller values are read through the mapping */
static int hash_value_fd(int fd, uint64_t off, uint64_t size, uint64_t head, uint8_t *buf,
                         uint64_t *check, struct progress *pr)
{
    struct brain__wide h;
    brain__wide_init(&h, head, size);
    size_t want = 0, body = 0;
    for (uint64_t done = 0; done < size; done += want) {
        want = size - done > READ_CHUNK ? READ_CHUNK : (size_t)(size - done);
        for (size_t got = 0; got < want;) {
            ssize_t r = pread(fd, buf + got, want - got, (off_t)(off + done + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                if (r == 0)
                    errno = 0;
                return -1;
            }
            got += (size_t)r;
        }
        body = want & ~(size_t)31; /* short of want only in the last chunk */
        brain__wide_rounds(&h, buf, body);
        progress_add(pr, want);
    }
    *check = brain__wide_final(&h, buf + body, want - body);
    return 0;
}

/* Copies SIZE bytes from offset FROM of file IN to offset TO of file OUT
 * (the store): brain__plat_copy_range (Linux: copy_file_range), which moves page-cache pages inside the
 * kernel; where it cannot (another file system, an old kernel), pread and
 * pwrite through *BUF (READ_CHUNK bytes, allocated on first use).  Returns
 * 0, or -1 with errno set (0 when IN is shorter than it should be). */
static int copy_value(int in, uint64_t from, int out, uint64_t to, uint64_t size, uint8_t **buf,
                      struct progress *pr)
{
    int use_cfr = 1;
    while (size) {
        size_t want = size > READ_CHUNK ? READ_CHUNK : (size_t)size;
        ssize_t got;
        if (use_cfr) {
            got = brain__plat_copy_range(in, from, out, to, want);
            if (got < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                            errno == EOPNOTSUPP || errno == EBADF)) {
                use_cfr = 0;
                continue;
            }
        } else {
            if (!*buf && !(*buf = malloc(READ_CHUNK)))
                return -1;
            got = pread(in, *buf, want, (off_t)from);
            if (got > 0) {
                size_t put = 0;
                while (put < (size_t)got) {
                    ssize_t w = pwrite(out, *buf + put, (size_t)got - put, (off_t)(to + put));
                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w <= 0)
                        return -1;
                    put += (size_t)w;
                }
            }
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = 0;
            return -1;
        }
        from += (uint64_t)got;
        to += (uint64_t)got;
        size -= (uint64_t)got;
        progress_add(pr, (uint64_t)got);
    }
    return 0;
}

static int bad(const char *path, uint64_t off, const char *what)
{
    return brain__fail(BRAIN_ESNAPSHOT,
                   "snapshot '%s' is damaged at byte %llu: %s; the store was not changed",
                   path, (unsigned long long)off, what);
}

/* Checks the whole file; fills *ents with every entry's offset. */
static int check_file(const char *path, int fd, const uint8_t *m, uint64_t size, uint8_t **buf,
                      struct loaded **ents, uint64_t *n_out, struct progress *pr)
{
    struct snap_header hd;
    if (size < sizeof hd || memcmp(m, SNAP_MAGIC, 8) != 0)
        return brain__fail(BRAIN_ESNAPSHOT, "'%s' is not a brain snapshot (bad magic); the store was not changed",
                       path);
    memcpy(&hd, m, sizeof hd);
    if (hd.version != SNAP_VERSION)
        return brain__fail(BRAIN_ESNAPSHOT,
                       "snapshot '%s' has format version %u; this library reads version %u",
                       path, hd.version, SNAP_VERSION);
    if (hd.header_size != sizeof hd ||
        hd.check != brain__checksum(SNAP_SEED, &hd, offsetof(struct snap_header, check)))
        return bad(path, 0, "the header's checksum does not match");
    if (hd.count > size / sizeof(struct snap_entry))
        return bad(path, 0, "the header counts more entries than the file can hold");
    struct loaded *e = malloc((hd.count ? hd.count : 1) * sizeof *e);
    if (!e)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    uint64_t off = sizeof hd, chain = SNAP_SEED;
    char ns[BRAIN_NS_MAX + 1], name[BRAIN_NAME_MAX + 1], desc[BRAIN_DESC_MAX + 1];
    int rc = 0;
    for (uint64_t i = 0; i < hd.count; i++) {
        struct snap_entry en;
        if (size - off < sizeof en + sizeof(struct snap_trailer)) {
            rc = bad(path, off, "the file ends inside the entries (truncated)");
            break;
        }
        memcpy(&en, m + off, sizeof en);
        uint64_t strs = (uint64_t)en.ns_len + en.name_len + en.desc_len;
        if (en.magic != SNAP_ENTRY_MAGIC || en.ns_len == 0 || en.ns_len > BRAIN_NS_MAX ||
            en.name_len == 0 || en.name_len > BRAIN_NAME_MAX || en.desc_len > BRAIN_DESC_MAX) {
            rc = bad(path, off, "an entry header is malformed");
            break;
        }
        uint64_t body = off + sizeof en;
        uint64_t vstart = body + strs + pad_to_64(body + strs); /* cannot overflow: < 2^16 + size */
        if (vstart > size || en.size > size - vstart ||
            size - vstart - en.size < sizeof(struct snap_trailer)) {
            rc = bad(path, off, "an entry runs past the end of the file (truncated)");
            break;
        }
        const char *s = (const char *)m + body;
        const uint8_t *val = m + vstart;
        uint64_t check;
        if (en.size >= FD_VALUE_MIN) {
            if (!*buf && !(*buf = malloc(READ_CHUNK))) {
                rc = brain__fail(BRAIN_ENOMEM, "out of memory");
                break;
            }
            uint64_t head = entry_check_head(&en, s, s + en.ns_len, s + en.ns_len + en.name_len);
            if (hash_value_fd(fd, vstart, en.size, head, *buf, &check, pr)) {
                rc = errno ? brain__fail(BRAIN_EIO, "reading snapshot '%s' failed: %s", path, strerror(errno))
                           : bad(path, vstart, "the file ends inside a value (truncated)");
                break;
            }
            progress_add(pr, vstart - off);
        } else {
            check = entry_check(&en, s, s + en.ns_len, s + en.ns_len + en.name_len, val);
            progress_add(pr, vstart + en.size - off);
        }
        if (en.check != check) {
            rc = bad(path, off, "an entry's checksum does not match");
            break;
        }
        entry_strings(&en, s, ns, name, desc);
        size_t l;
        if (brain__name_check(ns, BRAIN_NS_MAX, BRAIN_ESNAPSHOT, "namespace", &l) ||
            brain__name_check(name, BRAIN_NAME_MAX, BRAIN_ESNAPSHOT, "name", &l) ||
            strlen(desc) != en.desc_len || !brain__utf8_valid(desc, en.desc_len) ||
            (en.type <= BRAIN_TYPE_JSON && brain__value_validate(en.type, val, en.size)) ||
            (en.type > BRAIN_TYPE_JSON && en.type < BRAIN_TYPE_USER)) {
            rc = bad(path, off, "an entry holds an invalid name, description or value layout");
            break;
        }
        e[i].off = off;
        e[i].key = brain__key_hash(SNAP_SEED, ns, en.ns_len, name, en.name_len);
        chain = brain__checksum(chain, &en.check, 8);
        off = vstart + en.size;
    }
    if (rc == 0) {
        struct snap_trailer tr;
        if (size - off != sizeof tr) {
            rc = bad(path, off, "the file does not end where its entries do");
        } else {
            memcpy(&tr, m + off, sizeof tr);
            if (memcmp(tr.magic, SNAP_END, 8) != 0 || tr.count != hd.count || tr.chain != chain ||
                tr.check != brain__checksum(SNAP_SEED, &tr, offsetof(struct snap_trailer, check)))
                rc = bad(path, off, "the trailer does not match the entries");
        }
    }
    if (rc) {
        free(e);
        return rc;
    }
    *ents = e;
    *n_out = hd.count;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int brain_snapshot_load(brain *b, const char *path, unsigned flags, uint64_t *count)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!path || !*path)
        return brain__fail(BRAIN_EINVAL, "snapshot path is empty");
    if (flags & ~(unsigned)BRAIN_LOAD_MERGE)
        return brain__fail(BRAIN_EINVAL, "unknown snapshot load flags 0x%x", flags);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return brain__fail(errno == ENOENT ? BRAIN_ESNAPSHOT : BRAIN_EIO, "cannot open snapshot '%s': %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return brain__fail(BRAIN_ESNAPSHOT, "'%s' is not a brain snapshot (empty or not a regular file)", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    /* headers, names and small values are read through a mapping; values of
     * FD_VALUE_MIN or more with pread to check them (hash_value_fd), then
     * file to file into the store (copy_value) */
    const uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        int err = errno;
        close(fd);
        return brain__fail(BRAIN_EIO, "cannot map snapshot '%s': %s", path, strerror(err));
    }
    struct loaded *ents = NULL;
    uint8_t *buf = NULL; /* READ_CHUNK bytes of scratch, for both passes */
    uint64_t n = 0, loaded = 0;
    struct progress pr = {b, "check", 0, size, 0};
    if ((rc = check_file(path, fd, m, size, &buf, &ents, &n, &pr)))
        goto out;
    progress_end(&pr);
    pr = (struct progress){b, "load", 0, size, 0};
    char ns[BRAIN_NS_MAX + 1], name[BRAIN_NAME_MAX + 1], desc[BRAIN_DESC_MAX + 1];
    int64_t now = brain__plat_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct snap_entry en;
        memcpy(&en, m + ents[i].off, sizeof en);
        const char *s = (const char *)m + ents[i].off + sizeof en;
        entry_strings(&en, s, ns, name, desc);
        brain_put_opts o = {.type = en.type, .desc = en.desc_len ? desc : NULL};
        if (en.expires_ns) {
            if (en.expires_ns <= now) { /* expired while saved */
                progress_add(&pr, sizeof en + en.size);
                continue;
            }
            o.ttl_ms = (en.expires_ns - now + 999999) / 1000000;
        }
        uint64_t vpos = ents[i].off + sizeof en + en.ns_len + en.name_len + en.desc_len;
        const void *val = m + vpos + pad_to_64(vpos);
        if (en.size >= FD_VALUE_MIN) {
            /* copied file to file by the kernel into the reservation's pages,
             * as cp does: no page tables to fill (the check pass hashed
             * these bytes already) */
            brain_reservation *res;
            void *dst;
            if ((rc = brain__reserve(b, ns, name, en.size, &o, &res, &dst, 0)))
                goto out;
            if (copy_value(fd, vpos + pad_to_64(vpos), b->fd, (uint64_t)((uint8_t *)dst - b->rw),
                           en.size, &buf, &pr)) {
                int err = errno;
                brain_abort(b, res);
                rc = brain__fail(BRAIN_EIO,
                             "reading snapshot '%s' failed at byte %llu (%s); the %llu names "
                             "before it were loaded, the rest not: load it again",
                             path, (unsigned long long)ents[i].off,
                             err ? strerror(err) : "it was truncated while loading",
                             (unsigned long long)loaded);
                goto out;
            }
            if ((rc = brain_publish(b, res, NULL)))
                goto out;
            progress_add(&pr, (uint64_t)((const uint8_t *)val - (m + ents[i].off)));
        } else {
            if ((rc = brain_put(b, ns, name, val, en.size, &o, NULL)))
                goto out;
            progress_add(&pr, (uint64_t)((const uint8_t *)val - (m + ents[i].off)) + en.size);
        }
        loaded++;
    }
    progress_end(&pr);
    if (!(flags & BRAIN_LOAD_MERGE)) {
        /* the store now holds the snapshot's names: drop the others */
        uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
        brain_list *list = NULL;
        if (!keys) {
            rc = brain__fail(BRAIN_ENOMEM, "out of memory");
            goto out;
        }
        for (uint64_t i = 0; i < n; i++)
            keys[i] = ents[i].key;
        qsort(keys, n, sizeof *keys, cmp_key);
        if ((rc = brain_list_names(b, NULL, 1, &list)) == 0) {
            for (size_t i = 0; i < list->count && rc == 0; i++) {
                const brain_info *it = &list->items[i];
                uint64_t k = brain__key_hash(SNAP_SEED, it->ns, it->ns_len, it->name, it->name_len);
                if (!bsearch(&k, keys, n, sizeof *keys, cmp_key)) {
                    rc = brain_delete(b, it->ns, it->name);
                    if (rc == BRAIN_ENOTFOUND)
                        rc = 0;
                }
            }
            brain_list_free(list);
        }
        free(keys);
    }
out:
    if (count)
        *count = loaded;
    free(ents);
    free(buf);
    munmap((void *)m, size);
    close(fd);
    return rc;
}
