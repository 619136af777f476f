/* test-errors.c - the error table, and every way a store file can be bad:
 * not a store, another layout version, a corrupted or truncated header, a
 * symlink, another owner; a fuzz of damaged files; brain_check finding
 * damage. */
#include "internal.h" /* brain__plat_no_prealloc */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#ifdef __linux__
#include <sched.h>
#include <sys/mount.h>
#endif
#include <sys/resource.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(error_table)
{
    struct {
        int code;
        const char *name, *msg;
    } table[] = {
#define XX(code, val, msg) {BRAIN_##code, "BRAIN_" #code, msg},
        BRAIN_ERRNO_MAP(XX)
#undef XX
    };
    size_t n = sizeof table / sizeof *table;
    ASSERT_GE(n, 20);
    for (size_t i = 0; i < n; i++) {
        /* one block of codes, far from errno values, in table order */
        ASSERT_EQ_INT(table[i].code, -30900 + (int)i);
        ASSERT_STR_EQ(brain_strerror(table[i].code), table[i].msg);
        ASSERT_STR_EQ(brain_errname(table[i].code), table[i].name);
        for (size_t j = 0; j < i; j++)
            ASSERT_NE_INT(table[i].code, table[j].code);
    }
    ASSERT_NOT_NULL(brain_strerror(0));
    ASSERT_NOT_NULL(brain_errname(0));
    int odd[] = {1, -1, -30901, -30873, 12345, -2147483647 - 1};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        ASSERT_NOT_NULL(brain_strerror(odd[i]));
        ASSERT_NOT_NULL(brain_errname(odd[i]));
    }
    ASSERT_STR_EQ(brain_errname(BRAIN_ENOTFOUND), "BRAIN_ENOTFOUND");
    ASSERT_STR_EQ(brain_strerror(BRAIN_EFULL), "store is full");
}

/* A real store with two values, closed; returns its file size. */
static off_t make_store(int n)
{
    brain *b = t_create(n, 8 << 20);
    ASSERT_OK(brain_put(b, NULL, "a", "alpha", 5, NULL, NULL));
    ASSERT_OK(brain_put(b, "ns", "b", "beta", 4, NULL, NULL));
    ASSERT_OK(brain_close(b));
    return t_file_size(t_store(n));
}

static void expect_open_fails(const char *path, int code)
{
    brain *b = NULL;
    ASSERT_ERR(brain_open(path, 0, NULL, &b), code);
    ASSERT_ERR(brain_open(path, BRAIN_CREATE, NULL, &b), code);
    /* the detail names the file */
    ASSERT_STR_CONTAINS(t_detail_copy(), path);
}

static void expect_intact(int n)
{
    brain *b = t_open(n);
    char buf[8];
    size_t sz;
    ASSERT_OK(brain_read(b, NULL, "a", buf, sizeof buf, &sz, NULL));
    ASSERT_MEM_EQ(buf, "alpha", 5);
    ASSERT_OK(brain_read(b, "ns", "b", buf, sizeof buf, &sz, NULL));
    ASSERT_MEM_EQ(buf, "beta", 4);
    t_check_store(b);
    ASSERT_OK(brain_close(b));
}

TEST(garbage_file_enotstore)
{
    const char *p = t_store(0);
    int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0600);
    ASSERT(fd >= 0);
    unsigned char junk[65536];
    uint64_t s = 1;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)t_rand(&s);
    ASSERT_EQ_INT(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    expect_open_fails(p, BRAIN_ENOTSTORE);
    /* a short text file */
    fd = open(t_store(1), O_CREAT | O_EXCL | O_WRONLY, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ_INT(write(fd, "hello world\n", 12), 12);
    close(fd);
    expect_open_fails(t_store(1), BRAIN_ENOTSTORE);
    /* the files were left alone */
    ASSERT_EQ_INT(t_file_size(p), (off_t)sizeof junk);
    ASSERT_EQ_INT(t_file_size(t_store(1)), 12);
    /* brain_destroy does not remove what is not a store */
    ASSERT_ERR(brain_destroy(p), BRAIN_ENOTSTORE);
    ASSERT_EQ_INT(t_file_size(p), (off_t)sizeof junk);
    unlink(p);
    unlink(t_store(1));
}

TEST(directory_at_store_path)
{
    ASSERT_EQ_INT(mkdir(t_store(0), 0700), 0);
    brain *b = NULL;
    int rc = brain_open(t_store(0), BRAIN_CREATE, NULL, &b);
    ASSERT_MSG(rc == BRAIN_ENOTSTORE || rc == BRAIN_EIO || rc == BRAIN_EEXIST,
               "a directory at the store path: %s", brain_errname(rc));
    t_check_detail(__FILE__, __LINE__, "open dir", t_detail_copy());
    rmdir(t_store(0));
}

TEST(other_layout_version_eversion)
{
    make_store(0);
    uint32_t ver = 0;
    int fd = open(t_store(0), O_RDONLY);
    ASSERT_EQ_INT(pread(fd, &ver, 4, 8), 4);
    close(fd);
    uint32_t other = ver + 1;
    t_patch(t_store(0), 8, &other, 4);
    expect_open_fails(t_store(0), BRAIN_EVERSION);
    const char *d = t_detail_copy();
    char figure[16];
    snprintf(figure, sizeof figure, "%u", other);
    ASSERT_MSG(strstr(d, figure) != NULL,
               "EVERSION detail does not give the version found (%s): %s",
               figure, d);
    other = 0xffffffffu;
    t_patch(t_store(0), 8, &other, 4);
    expect_open_fails(t_store(0), BRAIN_EVERSION);
    /* put back: the store is whole again */
    t_patch(t_store(0), 8, &ver, 4);
    expect_intact(0);
    ASSERT_OK(brain_destroy(t_store(0)));
}

TEST(bad_magic_enotstore)
{
    make_store(0);
    unsigned char magic[8];
    int fd = open(t_store(0), O_RDONLY);
    ASSERT_EQ_INT(pread(fd, magic, 8, 0), 8);
    close(fd);
    unsigned char bad[8];
    memcpy(bad, magic, 8);
    bad[0] ^= 0x20;
    t_patch(t_store(0), 0, bad, 8);
    expect_open_fails(t_store(0), BRAIN_ENOTSTORE);
    bad[0] = magic[0];
    bad[7] ^= 0xff;
    t_patch(t_store(0), 0, bad, 8);
    expect_open_fails(t_store(0), BRAIN_ENOTSTORE);
    t_patch(t_store(0), 0, magic, 8);
    expect_intact(0);
    ASSERT_OK(brain_destroy(t_store(0)));
}

TEST(corrupted_header_ecorrupt)
{
    make_store(0);
    unsigned char orig[64];
    int fd = open(t_store(0), O_RDONLY);
    ASSERT_EQ_INT(pread(fd, orig, 64, 0), 64);
    close(fd);
    /* every byte of the header after magic and version, one at a time */
    for (int off = 12; off < 64; off += 3) {
        unsigned char x = orig[off] ^ 0x5a;
        t_patch(t_store(0), off, &x, 1);
        brain *b = NULL;
        int rc = brain_open(t_store(0), 0, NULL, &b);
        ASSERT_MSG(rc == BRAIN_ECORRUPT || rc == BRAIN_ETRUNCATED,
                   "header byte %d flipped: open gave %s", off,
                   brain_errname(rc));
        t_check_detail(__FILE__, __LINE__, "corrupt header", t_detail_copy());
        t_patch(t_store(0), off, &orig[off], 1);
    }
    /* a block of 0xff over the sizes */
    unsigned char ff[48];
    memset(ff, 0xff, sizeof ff);
    t_patch(t_store(0), 16, ff, sizeof ff);
    brain *b = NULL;
    ASSERT_ERR2(brain_open(t_store(0), 0, NULL, &b), BRAIN_ECORRUPT,
                BRAIN_ETRUNCATED);
    t_patch(t_store(0), 16, orig + 16, 48);
    expect_intact(0);
    ASSERT_OK(brain_destroy(t_store(0)));
}

TEST(truncated_file_etruncated)
{
    off_t size = make_store(0);
    ASSERT_GT(size, 4096);
    ASSERT_EQ_INT(truncate(t_store(0), size / 2), 0);
    expect_open_fails(t_store(0), BRAIN_ETRUNCATED);
    ASSERT_EQ_INT(truncate(t_store(0), size - 64), 0);
    expect_open_fails(t_store(0), BRAIN_ETRUNCATED);
    ASSERT_EQ_INT(truncate(t_store(0), 100), 0);
    expect_open_fails(t_store(0), BRAIN_ETRUNCATED);
    ASSERT_EQ_INT(truncate(t_store(0), 12), 0);
    expect_open_fails(t_store(0), BRAIN_ETRUNCATED);
    /* too short even for the magic: not recognisable */
    ASSERT_EQ_INT(truncate(t_store(0), 4), 0);
    brain *b = NULL;
    ASSERT_ERR2(brain_open(t_store(0), 0, NULL, &b), BRAIN_ENOTSTORE,
                BRAIN_ETRUNCATED);
    /* brain_destroy refuses to remove what it cannot recognise */
    ASSERT_ERR(brain_destroy(t_store(0)), BRAIN_ENOTSTORE);
    ASSERT_EQ_INT(t_file_size(t_store(0)), 4);
    ASSERT_EQ_INT(unlink(t_store(0)), 0);
}

TEST(symlink_at_store_path_esymlink)
{
    make_store(0);
    ASSERT_EQ_INT(symlink(t_store(0), t_store(1)), 0);
    brain *b = NULL;
    ASSERT_ERR(brain_open(t_store(1), 0, NULL, &b), BRAIN_ESYMLINK);
    ASSERT_ERR(brain_open(t_store(1), BRAIN_CREATE, NULL, &b), BRAIN_ESYMLINK);
    ASSERT_ERR2(brain_open(t_store(1), BRAIN_CREATE | BRAIN_EXCL, NULL, &b),
                BRAIN_EEXIST, BRAIN_ESYMLINK);
    /* a dangling symlink is not followed to create a file */
    ASSERT_EQ_INT(symlink(t_path("target"), t_store(2)), 0);
    int rc = brain_open(t_store(2), BRAIN_CREATE, NULL, &b);
    ASSERT_MSG(rc == BRAIN_ESYMLINK || rc == BRAIN_EEXIST,
               "dangling symlink: %s", brain_errname(rc));
    struct stat st;
    ASSERT_MSG(lstat(t_path("target"), &st) != 0,
               "the library created a file through a symlink");
    unlink(t_store(1));
    unlink(t_store(2));
    expect_intact(0);
    ASSERT_OK(brain_destroy(t_store(0)));
}

TEST(store_of_other_user_eperm)
{
    if (geteuid() != 0)
        SKIP("needs root to chown the store to nobody");
    struct passwd *pw = getpwnam("nobody");
    uid_t uid = pw ? pw->pw_uid : 65534;
    gid_t gid = pw ? pw->pw_gid : 65534;
    make_store(0);
    ASSERT_EQ_INT(chown(t_store(0), uid, gid), 0);
    expect_open_fails(t_store(0), BRAIN_EPERM);
    ASSERT_EQ_INT(chown(t_store(0), 0, 0), 0);
    expect_intact(0);
    /* a file of another user that is not even a store: still EPERM */
    ASSERT_EQ_INT(chown(t_store(0), uid, gid), 0);
    brain *b = NULL;
    ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE, NULL, &b), BRAIN_EPERM);
    unlink(t_store(0));
}

TEST(open_error_figures_in_detail)
{
    brain *b = NULL;
    brain_config cfg = {.capacity = 1000};
    ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE, &cfg, &b), BRAIN_EINVAL);
    const char *d = t_detail_copy();
    ASSERT_MSG(strstr(d, "1000") || strstr(d, "1.0 kB"),
               "the detail does not give the capacity asked: %s", d);
    cfg = (brain_config){.max_procs = 5000};
    ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE, &cfg, &b), BRAIN_EINVAL);
    ASSERT_STR_CONTAINS(t_detail_copy(), "5000");
}

/* ---- fuzz: damaged files are refused or handled, never a crash ---------- */
static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_CREAT | O_TRUNC | O_WRONLY,
                                              0600);
    ASSERT(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t r;
    while ((r = read(in, buf, sizeof buf)) > 0)
        ASSERT_EQ_INT(write(out, buf, (size_t)r), r);
    close(in);
    close(out);
}

static void exercise(const char *path)
{
    brain *b = NULL;
    int rc = brain_open(path, 0, NULL, &b);
    if (rc != 0) {
        ASSERT_MSG(rc == BRAIN_ECORRUPT || rc == BRAIN_ETRUNCATED ||
                       rc == BRAIN_ENOTSTORE || rc == BRAIN_EVERSION ||
                       rc == BRAIN_EPROCS || rc == BRAIN_EIO,
                   "open of a damaged file: %s", brain_errname(rc));
        return;
    }
    brain_check(b, NULL, NULL);
    brain_list *l = NULL;
    if (brain_list_names(b, NULL, BRAIN_LIST_ALL_NS, &l) == 0) {
        for (size_t i = 0; i < l->count && i < 64; i++) {
            char buf[256];
            size_t n;
            brain_read(b, l->items[i].ns, l->items[i].name, buf, sizeof buf,
                       &n, NULL);
            brain_view v = {0};
            if (brain_get(b, l->items[i].ns, l->items[i].name, &v) == 0) {
                volatile unsigned char sum = 0;
                for (uint64_t k = 0; k < v.size && k < 4096; k++)
                    sum = (unsigned char)(sum + ((const unsigned char *)v.data)[k]);
                (void)sum;
                brain_view_release(b, &v);
            }
        }
        brain_list_free(l);
    }
    brain_ns_info *nsi = NULL;
    size_t count = 0;
    if (brain_namespaces(b, &nsi, &count) == 0)
        free(nsi);
    char buf[64];
    size_t n;
    brain_read(b, NULL, "a", buf, sizeof buf, &n, NULL);
    brain_read(b, "ns", "b", buf, sizeof buf, &n, NULL);
    brain_stats st;
    brain_stats_get(b, &st);
    brain_put(b, NULL, "fuzz", "z", 1, NULL, NULL);
    brain_close(b);
}

TEST_TIMEOUT(fuzz_damaged_files, 120)
{
    /* a store with some content as the seed */
    brain *b = t_create(0, 4 << 20);
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d", i);
        char val[200];
        memset(val, i, sizeof val);
        ASSERT_OK(brain_put(b, i % 3 ? NULL : "ns", name, val,
                            (size_t)(i * 5), NULL, NULL));
    }
    ASSERT_OK(brain_put(b, NULL, "a", "alpha", 5, NULL, NULL));
    ASSERT_OK(brain_put(b, "ns", "b", "beta", 4, NULL, NULL));
    ASSERT_OK(brain_close(b));
    off_t size = t_file_size(t_store(0));

    uint64_t seed = 0xf00d;
    int iters = T_SCALE(2000, 7), crashes = 0, hangs = 0;
    for (int it = 0; it < iters; it++) {
        copy_file(t_store(0), t_store(1));
        int fd = open(t_store(1), O_RDWR);
        ASSERT(fd >= 0);
        int flips = 1 + (int)t_rand_range(&seed, 8);
        char what[512];
        int wn = 0;
        for (int f = 0; f < flips; f++) {
            /* mostly the first pages (header, tables), sometimes anywhere */
            off_t lim = t_rand_range(&seed, 4) ? (size < 65536 ? size : 65536)
                                                : size;
            off_t off = (off_t)t_rand_range(&seed, (uint64_t)lim);
            unsigned char byte = (unsigned char)t_rand(&seed);
            ASSERT_EQ_INT(pwrite(fd, &byte, 1, off), 1);
            wn += snprintf(what + wn, sizeof what - (size_t)wn, " [%lld]=%#x",
                           (long long)off, byte);
        }
        if (t_rand_range(&seed, 10) == 0) {
            off_t to = (off_t)t_rand_range(&seed, (uint64_t)size);
            ASSERT_EQ_INT(ftruncate(fd, to), 0);
            snprintf(what + wn, sizeof what - (size_t)wn, " truncated to %lld"
                     " of %lld", (long long)to, (long long)size);
        }
        close(fd);
        pid_t pid = t_fork();
        if (pid == 0) {
            alarm(5);
            exercise(t_store(1));
            t_child_exit(0);
        }
        int st = t_wait_status(pid);
        if (WIFSIGNALED(st)) {
            if (WTERMSIG(st) == SIGALRM)
                hangs++;
            else
                crashes++;
            t_log("iteration %d: signal %d (%s); damage:%s", it, WTERMSIG(st),
                  strsignal(WTERMSIG(st)), what);
            if (crashes + hangs >= 5)
                break;
        } else if (WEXITSTATUS(st) != 0) {
            FAIL("iteration %d: the helper failed (see above)", it);
        }
        unlink(t_store(1));
    }
    unlink(t_store(1));
    ASSERT_MSG(crashes == 0 && hangs == 0,
               "damaged files crashed %d and hung %d helper processes",
               crashes, hangs);
    ASSERT_OK(brain_destroy(t_store(0)));
}

/* ---- brain_check finds damage in values and entries ---------------------- */
static off_t find_bytes(const char *path, const void *needle, size_t n)
{
    off_t size = t_file_size(path);
    unsigned char *buf = t_xmalloc((size_t)size);
    int fd = open(path, O_RDONLY);
    ASSERT_EQ_INT(pread(fd, buf, (size_t)size, 0), size);
    close(fd);
    off_t at = -1;
    for (off_t i = 0; i + (off_t)n <= size; i++)
        if (memcmp(buf + i, needle, n) == 0) {
            at = i;
            break;
        }
    free(buf);
    return at;
}

static void count_report(void *ctx, const char *msg)
{
    (*(int *)ctx)++;
    ASSERT_NOT_NULL(msg);
    ASSERT_GT(strlen(msg), 5);
    t_log("report: %s", msg);
}

TEST(check_finds_damaged_values)
{
    brain *b = t_create(0, 8 << 20);
    t_check_store(b);
    ASSERT_OK(brain_check(b, NULL, NULL));
    /* a str value made invalid UTF-8 in the file */
    const char *text = "UNIQUE-TEXT-VALUE-0123456789-abcdefghijklmnop";
    brain_put_opts str = {.type = BRAIN_TYPE_STR};
    ASSERT_OK(brain_put(b, NULL, "s", text, strlen(text), &str, NULL));
    t_check_store(b);
    off_t at = find_bytes(t_store(0), text, strlen(text));
    ASSERT_GE(at, 0);
    t_patch(t_store(0), at + 3, "\xff\xfe", 2);
    int problems = 0;
    ASSERT_ERR(brain_check(b, count_report, &problems), BRAIN_ECORRUPT);
    ASSERT_GE(problems, 1);
    /* put back */
    t_patch(t_store(0), at + 3, text + 3, 2);
    t_check_store(b);

    /* an array value whose header is damaged */
    brain_array a;
    uint64_t shape[2] = {7, 9};
    ASSERT_OK(brain_array_init(&a, "<f8", 2, shape));
    double data[63];
    for (int i = 0; i < 63; i++)
        data[i] = i * 1.5;
    ASSERT_OK(brain_put_array(b, NULL, "arr", &a, data, NULL, NULL));
    t_check_store(b);
    off_t dat = find_bytes(t_store(0), data, sizeof data);
    ASSERT_GE(dat, (off_t)a.data_offset);
    off_t hdr = dat - (off_t)a.data_offset;
    unsigned char saved[64];
    int fd = open(t_store(0), O_RDONLY);
    ASSERT_EQ_INT(pread(fd, saved, 64, hdr), 64);
    close(fd);
    unsigned char junk[64];
    memset(junk, 0xff, sizeof junk);
    t_patch(t_store(0), hdr, junk, sizeof junk);
    problems = 0;
    ASSERT_ERR(brain_check(b, count_report, &problems), BRAIN_ECORRUPT);
    ASSERT_GE(problems, 1);
    t_patch(t_store(0), hdr, saved, 64);
    t_check_store(b);
    ASSERT_ERR(brain_check(NULL, NULL, NULL), BRAIN_EINVAL);
    t_destroy(b, 0);
}

/* ---- errors from the system: EIO, ENOSPC, ENOMEM --------------------------- */
TEST(system_call_failure_eio)
{
    int fd = open(t_path("plain-file"), O_CREAT | O_WRONLY, 0600);
    ASSERT(fd >= 0);
    close(fd);
    brain *b = NULL;
    /* a path through a regular file: ENOTDIR from the system */
    ASSERT_ERR(brain_open(t_path("plain-file/store"), BRAIN_CREATE, NULL, &b),
               BRAIN_EIO);
    ASSERT_STR_CONTAINS(t_detail_copy(), "plain-file/store");
    /* /dev/null is not a regular file */
    ASSERT_ERR(brain_open("/dev/null", 0, NULL, &b), BRAIN_ENOTSTORE);
}

/* A tmpfs of SIZE mounted at a scratch directory in a mount namespace of
 * this test process alone: it vanishes with the process. */
static const char *private_tmpfs(const char *size)
{
#ifndef __linux__
    (void)size;
    SKIP("a private tmpfs mount (unshare, mount) is Linux's");
    return NULL;
#else
    if (geteuid() != 0)
        SKIP("needs root to mount a small tmpfs");
    if (unshare(CLONE_NEWNS) != 0)
        SKIP("unshare(CLONE_NEWNS): %s", strerror(errno));
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) /* names for valgrind; ignored */
        SKIP("cannot make mounts private: %s", strerror(errno));
    const char *dir = t_path("small-shm");
    ASSERT_EQ_INT(mkdir(dir, 0700), 0);
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s,mode=0700", size);
    if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0)
        SKIP("mount tmpfs: %s", strerror(errno));
    return dir;
#endif
}

/* Creates a store at DIR/store (its path in PATH, CAP bytes), DIR a
 * private tmpfs of SIZE (private_tmpfs), with a capacity far above what
 * the tmpfs can hold. */
static brain *open_in_private_tmpfs(const char *size, const char **dir, char *path, size_t cap)
{
    *dir = private_tmpfs(size);
    snprintf(path, cap, "%s/store", *dir);
    brain_config cfg = {.capacity = 256 << 20, .max_procs = 4, .max_namespaces = 4};
    brain *b = NULL;
    ASSERT_OK(brain_open(path, BRAIN_CREATE | BRAIN_EXCL, &cfg, &b));
    return b;
}

static void fill_small_tmpfs(int by_writing);

TEST(host_memory_exhausted_enospc) { fill_small_tmpfs(0); }

TEST(host_memory_exhausted_while_writing_zeros_enospc)
{
    if (strcmp(brain_platform(), "posix") != 0)
        SKIP("the writing fallback is the portable layer's (make test-posix runs it)");
    fill_small_tmpfs(1);
}

/* BY_WRITING: the portable layer's fallback for file systems that
 * preallocate nothing (zeros written, brain__plat_no_prealloc). */
static void fill_small_tmpfs(int by_writing)
{
    brain__plat_no_prealloc = by_writing;
    const char *dir;
    char path[512];
    brain *b = open_in_private_tmpfs("6m", &dir, path, sizeof path);
    unsigned char *buf = t_xmalloc(512 << 10);
    int stored = 0, rc = 0;
    for (int i = 0; i < 64; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", i);
        t_vfill(buf, 512 << 10, (uint64_t)i);
        rc = brain_put(b, NULL, name, buf, 512 << 10, NULL, NULL);
        if (rc != 0)
            break;
        stored++;
    }
    /* an error, never a SIGBUS */
    ASSERT_MSG(rc == BRAIN_ENOSPC, "filling a 6 MB tmpfs: %s after %d values",
               brain_errname(rc), stored);
    t_check_detail(__FILE__, __LINE__, "ENOSPC", t_detail_copy());
    t_log("%d values stored; %s", stored, t_detail_copy());
    ASSERT_GE(stored, 4);
    /* reserve fails the same way, at reserve time */
    brain_reservation *res;
    void *data;
    ASSERT_ERR(brain_reserve(b, NULL, "r", 2 << 20, NULL, &res, &data),
               BRAIN_ENOSPC);
    /* nothing lost */
    for (int i = 0; i < stored; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", i);
        brain_view v = {0};
        ASSERT_OK(brain_get(b, NULL, name, &v));
        ASSERT_VALUE(v.data, v.size, (uint64_t)i);
        brain_view_release(b, &v);
    }
    t_check_store(b);
    /* room made: puts work again */
    ASSERT_OK(brain_delete(b, NULL, "m0"));
    ASSERT_OK(brain_delete(b, NULL, "m1"));
    t_vfill(buf, 512 << 10, 999);
    ASSERT_OK(brain_put(b, NULL, "again", buf, 512 << 10, NULL, NULL));
    t_check_store(b);
    free(buf);
    ASSERT_OK(brain_close(b));
    ASSERT_OK(brain_destroy(path));
}

/* Fills the file system under DIR with a file until AVAIL bytes are left
 * free (statvfs), so a test sees a nearly full /dev/shm. */
static uint64_t fs_free(const char *dir)
{
    struct statvfs sv;
    ASSERT_EQ_INT(statvfs(dir, &sv), 0);
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static void fill_fs_until(const char *dir, uint64_t avail)
{
    char path[512];
    snprintf(path, sizeof path, "%s/filler", dir);
    uint64_t now = fs_free(dir);
    ASSERT_GT_U64(now, avail);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ASSERT(fd >= 0);
#ifdef __linux__
    ASSERT_EQ_INT(posix_fallocate(fd, 0, (off_t)(now - avail)), 0);
#else /* (unreached: private_tmpfs skipped off Linux) */
    ASSERT_EQ_INT(ftruncate(fd, (off_t)(now - avail)), 0);
#endif
    close(fd);
    now = fs_free(dir);
    ASSERT_MSG(now <= avail + 8192 && now + 8192 >= avail, "filled to %llu bytes free, wanted %llu",
               (unsigned long long)now, (unsigned long long)avail);
}

/* Issue 18, finding 12: with 1.9 MB free where the store lives, growth in
 * its normal step (4 MiB or more) does not fit, and the file grows by what
 * the value needs instead; a value larger than the free space is refused
 * with a message naming the value's size, the store file's size and the
 * file system's free space, and nothing stored is lost. */
TEST(growth_falls_back_to_what_fits)
{
    const char *dir;
    char path[512];
    brain *b = open_in_private_tmpfs("16m", &dir, path, sizeof path);
    /* take the arena's initial free space, so the next value needs growth */
    brain_stats st;
    ASSERT_OK(brain_stats_get(b, &st));
    uint64_t file_before = st.file_size;
    ASSERT_GT_U64(st.file_size - st.used, 400 << 10);
    size_t fill = (size_t)(st.file_size - st.used) - (200 << 10);
    unsigned char *buf = t_xmalloc(4 << 20);
    t_vfill(buf, fill, 1);
    ASSERT_OK(brain_put(b, NULL, "fill", buf, fill, NULL, NULL));
    ASSERT_OK(brain_stats_get(b, &st));
    ASSERT_EQ_U64(st.file_size, file_before); /* no growth yet */
    ASSERT_LT_U64(st.file_size - st.used, 500 << 10);

    fill_fs_until(dir, 1900 * 1000);
    /* 500 kB: the normal growth step (4 MiB) fails, what fits is taken */
    t_vfill(buf, 500 * 1000, 2);
    int rc = brain_put(b, NULL, "v500", buf, 500 * 1000, NULL, NULL);
    ASSERT_MSG(rc == 0, "a 500 kB put with 1.9 MB free: %s: %s", brain_errname(rc),
               t_detail_copy());
    ASSERT_OK(brain_stats_get(b, &st));
    t_log("file %llu -> %llu bytes; %llu bytes free on the file system",
          (unsigned long long)file_before, (unsigned long long)st.file_size,
          (unsigned long long)fs_free(dir));
    ASSERT_LT_U64(st.file_size - file_before, 1 << 20); /* by what it needed */

    /* larger than the free space: refused, the sizes named */
    uint64_t avail = fs_free(dir);
    ASSERT_LT_U64(avail, 1700 * 1000);
    size_t big = 3 << 20;
    t_vfill(buf, big, 3);
    ASSERT_ERR(brain_put(b, NULL, "big", buf, big, NULL, NULL), BRAIN_ENOSPC);
    const char *msg = t_detail_copy();
    t_log("%s", msg);
    char want[128], s[32];
    snprintf(want, sizeof want, "a value of %s", brain_format_size(big, 0, s, sizeof s));
    ASSERT_STR_CONTAINS(msg, want);
    ASSERT_OK(brain_stats_get(b, &st));
    snprintf(want, sizeof want, "the store file is %s",
             brain_format_size(st.file_size, 0, s, sizeof s));
    ASSERT_STR_CONTAINS(msg, want);
    snprintf(want, sizeof want, "has %s free", brain_format_size(fs_free(dir), 0, s, sizeof s));
    ASSERT_STR_CONTAINS(msg, want);
    ASSERT_STR_CONTAINS(msg, path);
    /* and what the file lacks: the value, less the free space it has */
    const char *nd = strstr(msg, "needs ");
    double n = 0;
    char unit[4] = "";
    ASSERT_MSG(nd && sscanf(nd, "needs %lf %3s more", &n, unit) == 2 && strcmp(unit, "MB") == 0,
               "no needed size in: %s", msg);
    ASSERT_MSG(n * 1e6 > (double)avail && n * 1e6 <= (double)big + 100e3,
               "needs %.1f MB for a %zu-byte value with %llu bytes free", n, big,
               (unsigned long long)avail);

    /* nothing lost, and the store is sound */
    brain_view v = {0};
    ASSERT_OK(brain_get(b, NULL, "fill", &v));
    ASSERT_VALUE(v.data, v.size, 1);
    ASSERT_EQ_U64(v.size, fill);
    brain_view_release(b, &v);
    ASSERT_OK(brain_get(b, NULL, "v500", &v));
    ASSERT_VALUE(v.data, v.size, 2);
    ASSERT_EQ_U64(v.size, 500 * 1000);
    brain_view_release(b, &v);
    ASSERT_ERR(brain_get(b, NULL, "big", &v), BRAIN_ENOTFOUND);
    t_check_store(b);
    free(buf);
    ASSERT_OK(brain_close(b));
    ASSERT_OK(brain_destroy(path));
}

/* Issue 14, goal 7: a large value placed in pages the store gave back is
 * written through the file descriptor, which allocates the pages as it
 * writes; when the host has no room for them the write stops with ENOSPC:
 * the put fails with BRAIN_ENOSPC naming the store, the value's size and
 * the free space, nothing stored is lost, the block is free again (the
 * store checks clean), never a SIGBUS; with room made the same put works. */
TEST(write_into_given_back_pages_host_full_enospc)
{
    const char *dir;
    char path[512];
    brain *b = open_in_private_tmpfs("96m", &dir, path, sizeof path);
    size_t keep = 1 << 20, big = 56 << 20, size = 24 << 20;
    unsigned char *buf = t_xmalloc(big);
    t_vfill(buf, keep, 7);
    ASSERT_OK(brain_put(b, NULL, "keep", buf, keep, NULL, NULL));
    memset(buf, 0x33, big);
    ASSERT_OK(brain_put(b, NULL, "big", buf, big, NULL, NULL));
    ASSERT_OK(brain_delete(b, NULL, "big")); /* its pages go back */
    brain_stats st;
    ASSERT_OK(brain_stats_get(b, &st));
    uint64_t used = st.used;
    fill_fs_until(dir, 6u << 20);

    t_vfill(buf, size, 8);
    brain_iov iov[2] = {{buf, size / 2}, {buf + size / 2, size - size / 2}};
    ASSERT_ERR(brain_putv(b, NULL, "new", iov, 2, NULL, NULL), BRAIN_ENOSPC);
    const char *msg = t_detail_copy();
    t_log("%s", msg);
    char want[128], s[32];
    ASSERT_STR_CONTAINS(msg, path);
    snprintf(want, sizeof want, "a value of %s", brain_format_size(size, 0, s, sizeof s));
    ASSERT_STR_CONTAINS(msg, want);
    ASSERT_STR_CONTAINS(msg, "nothing stored was changed");
    /* the free space it names is what the file system had before the
     * write (the filler left about 6 MiB), not the nothing left after it */
    ASSERT_STR_CONTAINS(msg, "file system had ");
    ASSERT_MSG(strstr(msg, "had 0 B free") == NULL, "the message names no room at all: %s", msg);
    /* brain_put takes the same path */
    ASSERT_ERR(brain_put(b, NULL, "new", buf, size, NULL, NULL), BRAIN_ENOSPC);
    ASSERT_STR_CONTAINS(t_detail_copy(), want);

    /* nothing lost, the block free again */
    ASSERT_EQ_INT(brain_exists(b, NULL, "new"), 0);
    ASSERT_OK(brain_stats_get(b, &st));
    ASSERT_EQ_U64(st.used, used);
    brain_view v = {0};
    ASSERT_OK(brain_get(b, NULL, "keep", &v));
    ASSERT_EQ_U64(v.size, keep);
    ASSERT_VALUE(v.data, v.size, 7);
    brain_view_release(b, &v);
    t_check_store(b);

    /* room made: the same value goes in and reads back */
    char filler[512];
    snprintf(filler, sizeof filler, "%s/filler", dir);
    ASSERT_EQ_INT(unlink(filler), 0);
    ASSERT_OK(brain_putv(b, NULL, "new", iov, 2, NULL, NULL));
    ASSERT_OK(brain_get(b, NULL, "new", &v));
    ASSERT_EQ_U64(v.size, size);
    ASSERT_VALUE(v.data, v.size, 8);
    brain_view_release(b, &v);
    t_check_store(b);
    free(buf);
    ASSERT_OK(brain_close(b));
    ASSERT_OK(brain_destroy(path));
}

TEST(address_space_exhausted_enomem)
{
#ifndef __linux__
    SKIP("reads /proc/self/statm and needs RLIMIT_AS enforced (Linux's)");
#endif
    if (T_SANITIZED)
        SKIP("address-space limits and sanitizers do not mix");
    brain *b = t_create(0, 1ull << 30);
    char *big = t_xmalloc(64 << 20);
    memset(big, 1, 64 << 20);
    ASSERT_OK(brain_put(b, NULL, "big", big, 64 << 20, NULL, NULL));
    free(big);
    ASSERT_OK(brain_close(b));
    pid_t pid = t_fork();
    if (pid == 0) {
        /* leave 16 MiB of address space: mapping a 64 MiB file fails */
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        ASSERT(f && fscanf(f, "%lu", &pages) == 1);
        fclose(f);
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = pages * 4096ul + (16ul << 20);
        ASSERT_EQ_INT(setrlimit(RLIMIT_AS, &rl), 0);
        brain *c = NULL;
        int rc = brain_open(t_store(0), 0, NULL, &c);
        ASSERT_MSG(rc == BRAIN_ENOMEM, "open under a 16 MiB address space "
                   "limit: %s", brain_errname(rc));
        t_check_detail(__FILE__, __LINE__, "ENOMEM", t_detail_copy());
        t_child_exit(0);
    }
    t_wait_ok(pid);
    /* the store is untouched */
    b = t_open(0);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(check_finds_damaged_bookkeeping)
{
    /* Damage the bytes that precede a value in the file (its entry and
     * block header, whatever their layout): brain_check reports it, and
     * reading the damaged store does not crash. */
    brain *b = t_create(0, 8 << 20);
    unsigned char val[4096];
    for (size_t i = 0; i < sizeof val; i++)
        val[i] = (unsigned char)(i * 13 + 7);
    memcpy(val, "UNIQUE-VALUE-MARK", 17);
    ASSERT_OK(brain_put(b, NULL, "before", "b", 1, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "victim", val, sizeof val, NULL, NULL));
    ASSERT_OK(brain_put(b, NULL, "after", "a", 1, NULL, NULL));
    t_check_store(b);
    off_t at = find_bytes(t_store(0), val, sizeof val);
    ASSERT_GE(at, 256);
    unsigned char saved[256], junk[256];
    int fd = open(t_store(0), O_RDONLY);
    ASSERT_EQ_INT(pread(fd, saved, sizeof saved, at - 256), 256);
    close(fd);
    uint64_t s = 3;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)t_rand(&s);
    t_patch(t_store(0), at - 256, junk, sizeof junk);
    pid_t pid = t_fork();
    if (pid == 0) {
        int problems = 0;
        int rc = brain_check(b, count_report, &problems);
        ASSERT_MSG(rc == BRAIN_ECORRUPT, "brain_check of a damaged entry: %s",
                   brain_errname(rc));
        ASSERT_GE(problems, 1);
        /* readers do not crash on it */
        char buf[8192];
        size_t n;
        brain_read(b, NULL, "victim", buf, sizeof buf, &n, NULL);
        brain_read(b, NULL, "before", buf, sizeof buf, &n, NULL);
        brain_list *l = NULL;
        if (brain_list_names(b, NULL, BRAIN_LIST_ONE_NS, &l) == 0)
            brain_list_free(l);
        t_child_exit(0);
    }
    t_wait_ok(pid);
    t_patch(t_store(0), at - 256, saved, sizeof saved);
    t_check_store(b);
    t_destroy(b, 0);
}
