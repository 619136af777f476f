/* test-open.c - brain_resolve, brain_open/close/destroy/path, process table. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static int exists_path(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* The platform's directory of bare names: /dev/shm on Linux (both layers),
 * $TMPDIR (without trailing slashes; /tmp when unset) on macOS. */
static const char *platform_dir(void)
{
#ifdef __APPLE__
    static char dir[BRAIN_PATH_MAX];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s", t && t[0] == '/' ? t : "/tmp");
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
        dir[n - 1] = '\0';
    return dir;
#else
    return "/dev/shm";
#endif
}

TEST(resolve_names_and_paths)
{
    char buf[BRAIN_PATH_MAX + 1], want[BRAIN_PATH_MAX + 1];
    ASSERT_STR_EQ(t_store_dir(), platform_dir());
    ASSERT_OK(brain_resolve("app1", buf, sizeof buf));
    snprintf(want, sizeof want, "%s/brain-app1", platform_dir());
    ASSERT_STR_EQ(buf, want);
    ASSERT_OK(brain_resolve("/tmp/some store", buf, sizeof buf));
    ASSERT_STR_EQ(buf, "/tmp/some store");
    ASSERT_OK(brain_resolve("with space", buf, sizeof buf));
    snprintf(want, sizeof want, "%s/brain-with space", platform_dir());
    ASSERT_STR_EQ(buf, want);

    /* exact fit and one byte short */
    snprintf(want, sizeof want, "%s/brain-app1", platform_dir());
    size_t need = strlen(want) + 1;
    ASSERT_OK(brain_resolve("app1", buf, need));
    ASSERT_STR_EQ(buf, want);
    ASSERT_ERR(brain_resolve("app1", buf, need - 1), BRAIN_ERANGE);
    ASSERT_ERR(brain_resolve("/tmp/x", buf, 3), BRAIN_ERANGE);
    ASSERT_ERR(brain_resolve("app1", buf, 0), BRAIN_ERANGE);
}

TEST(resolve_refuses_bad_names)
{
    char buf[BRAIN_PATH_MAX + 1];
    const char *bad[] = {"", ".", "..", "a/b", "./x", "../x", "x/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memcpy(buf, "untouched", 10);
        int rc = brain_resolve(bad[i], buf, sizeof buf);
        ASSERT_MSG(rc == BRAIN_EINVAL, "brain_resolve(\"%s\") = %s, expected "
                   "BRAIN_EINVAL", bad[i], brain_errname(rc));
        t_check_detail(__FILE__, __LINE__, bad[i], t_detail_copy());
    }
    ASSERT_ERR(brain_resolve(NULL, buf, sizeof buf), BRAIN_EINVAL);
    /* a path longer than BRAIN_PATH_MAX cannot be a store */
    char *longp = t_xmalloc(BRAIN_PATH_MAX + 10);
    longp[0] = '/';
    memset(longp + 1, 'a', BRAIN_PATH_MAX + 5);
    longp[BRAIN_PATH_MAX + 6] = 0;
    char *big = t_xmalloc(2 * BRAIN_PATH_MAX);
    ASSERT_ERR2(brain_resolve(longp, big, 2 * BRAIN_PATH_MAX), BRAIN_EINVAL,
                BRAIN_ERANGE);
    free(longp);
    free(big);
}

TEST(open_create_put_close_reopen)
{
    brain *b = NULL;
    ASSERT(!exists_path(t_store(0)));
    ASSERT_OK(brain_open(t_store(0), BRAIN_CREATE | BRAIN_EXCL, NULL, &b));
    ASSERT_NOT_NULL(b);
    ASSERT_STR_EQ(brain_path(b), t_store(0));

    struct stat st;
    ASSERT_EQ_INT(lstat(t_store(0), &st), 0);
    ASSERT(S_ISREG(st.st_mode));
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    ASSERT_EQ_INT(st.st_uid, getuid());

    ASSERT_OK(brain_put(b, NULL, "k", "hello", 5, NULL, NULL));
    ASSERT_OK(brain_close(b));

    b = NULL;
    ASSERT_OK(brain_open(t_store(0), 0, NULL, &b));
    char buf[16];
    size_t n = 0;
    ASSERT_OK(brain_read(b, NULL, "k", buf, sizeof buf, &n, NULL));
    ASSERT_EQ_U64(n, 5);
    ASSERT_MEM_EQ(buf, "hello", 5);
    t_destroy(b, 0);
    ASSERT(!exists_path(t_store(0)));
}

TEST(open_bare_name_means_dev_shm)
{
    brain *b = NULL;
    ASSERT_OK(brain_open(t_store_name(1), BRAIN_CREATE | BRAIN_EXCL, NULL, &b));
    ASSERT_STR_EQ(brain_path(b), t_store(1));
    ASSERT(exists_path(t_store(1)));
    /* the same store by its path */
    brain *b2 = t_open(1);
    ASSERT_OK(brain_put(b, NULL, "x", "1", 1, NULL, NULL));
    ASSERT_EQ_INT(brain_exists(b2, NULL, "x"), 1);
    ASSERT_OK(brain_close(b2));
    ASSERT_OK(brain_close(b));
    ASSERT_OK(brain_destroy(t_store_name(1)));
    ASSERT(!exists_path(t_store(1)));
}

TEST(open_create_attaches_never_wipes)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, "ns", "keep", "data", 4, NULL, NULL));
    brain *b2 = NULL;
    ASSERT_OK(brain_open(t_store(0), BRAIN_CREATE, NULL, &b2));
    ASSERT_EQ_INT(brain_exists(b2, "ns", "keep"), 1);
    ASSERT_OK(brain_close(b2));
    ASSERT_OK(brain_close(b));
    /* also when no process has it open */
    b2 = NULL;
    brain_config cfg = {.capacity = 4 << 20};
    ASSERT_OK(brain_open(t_store(0), BRAIN_CREATE, &cfg, &b2));
    ASSERT_EQ_INT(brain_exists(b2, "ns", "keep"), 1);
    /* cfg is for creation only: the capacity is unchanged */
    ASSERT_EQ_U64(t_stats(b2).capacity, BRAIN_DEFAULT_CAPACITY);
    t_destroy(b2, 0);
}

TEST(open_excl_on_existing_is_eexist)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "keep", "v", 1, NULL, NULL));
    brain *b2 = (brain *)0x1;
    ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE | BRAIN_EXCL, NULL, &b2),
               BRAIN_EEXIST);
    ASSERT_EQ_INT(brain_exists(b, NULL, "keep"), 1);
    t_destroy(b, 0);
}

TEST(open_missing_is_enostore)
{
    brain *b = NULL;
    ASSERT_ERR(brain_open(t_store(0), 0, NULL, &b), BRAIN_ENOSTORE);
    ASSERT(!exists_path(t_store(0)));
    ASSERT_ERR(brain_open(t_store_name(0), 0, NULL, &b), BRAIN_ENOSTORE);
    ASSERT_ERR(brain_open(t_path("missing-dir/store"), 0, NULL, &b),
               BRAIN_ENOSTORE);
    ASSERT(!exists_path(t_store(0)));
    ASSERT_ERR(brain_destroy(t_store(0)), BRAIN_ENOSTORE);
}

TEST(open_bad_arguments)
{
    brain *b = NULL;
    ASSERT_ERR(brain_open(NULL, BRAIN_CREATE, NULL, &b), BRAIN_EINVAL);
    ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE, NULL, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE | (1u << 7), NULL, &b),
               BRAIN_EINVAL);
    ASSERT_ERR(brain_open(t_store(0), 0x80000000u, NULL, &b), BRAIN_EINVAL);
    const char *bad[] = {"", ".", "..", "rel/path"};
    for (size_t i = 0; i < 4; i++) {
        int rc = brain_open(bad[i], BRAIN_CREATE, NULL, &b);
        ASSERT_MSG(rc == BRAIN_EINVAL, "open(\"%s\") = %s", bad[i],
                   brain_errname(rc));
    }

    brain_config cfg;
    /* (the library rounds capacities down to whole pages) */
    uint64_t caps[] = {1, 4096, BRAIN_MIN_CAPACITY - 4096,
                       BRAIN_MAX_CAPACITY + 4096, UINT64_MAX};
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
        memset(&cfg, 0, sizeof cfg);
        cfg.capacity = caps[i];
        int rc = brain_open(t_store(0), BRAIN_CREATE, &cfg, &b);
        ASSERT_MSG(rc == BRAIN_EINVAL, "capacity %" PRIu64 ": %s", caps[i],
                   brain_errname(rc));
        t_check_detail(__FILE__, __LINE__, "capacity", t_detail_copy());
    }
    uint32_t procs[] = {1, 4097, UINT32_MAX};
    for (size_t i = 0; i < 3; i++) {
        memset(&cfg, 0, sizeof cfg);
        cfg.max_procs = procs[i];
        ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE, &cfg, &b),
                   BRAIN_EINVAL);
    }
    uint32_t nss[] = {65537, UINT32_MAX};
    for (size_t i = 0; i < 2; i++) {
        memset(&cfg, 0, sizeof cfg);
        cfg.max_namespaces = nss[i];
        ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE, &cfg, &b),
                   BRAIN_EINVAL);
    }
    /* nothing was left behind by the refused creations */
    ASSERT(!exists_path(t_store(0)));
}

TEST(open_defaults_and_limits)
{
    brain *b = NULL;
    ASSERT_OK(brain_open(t_store(0), BRAIN_CREATE, NULL, &b));
    brain_stats st = t_stats(b);
    ASSERT_EQ_U64(st.capacity, BRAIN_DEFAULT_CAPACITY);
    ASSERT_EQ_U64(st.max_procs, BRAIN_DEFAULT_MAX_PROCS);
    ASSERT_EQ_U64(st.max_namespaces, BRAIN_DEFAULT_MAX_NAMESPACES);
    ASSERT_EQ_U64(st.names, 0);
    ASSERT_EQ_U64(st.procs, 1);
    ASSERT_EQ_U64(st.pins, 0);
    ASSERT_EQ_U64(st.limbo, 0);
    /* capacity is a limit, not an allocation */
    ASSERT_LT_U64(st.file_size, BRAIN_DEFAULT_CAPACITY / 4);
    ASSERT_LE_U64(st.used, st.file_size);
    ASSERT_EQ_U64(st.free, st.capacity - st.used - st.limbo);
    ASSERT_LE_U64(st.largest_free, st.free);
    ASSERT_EQ_INT(t_file_size(t_store(0)), (off_t)st.file_size);
    t_destroy(b, 0);

    /* the extremes of every setting */
    brain_config cfg = {.capacity = BRAIN_MIN_CAPACITY, .max_procs = 2};
    b = t_create_cfg(1, &cfg);
    ASSERT_EQ_U64(t_stats(b).capacity, BRAIN_MIN_CAPACITY);
    ASSERT_OK(brain_put(b, NULL, "small", "v", 1, NULL, NULL));
    t_destroy(b, 1);

    cfg = (brain_config){.capacity = BRAIN_MAX_CAPACITY};
    int rc = brain_open(t_store(2), BRAIN_CREATE | BRAIN_EXCL, &cfg, &b);
    if (rc == BRAIN_ENOMEM && t_slow()) {
        /* TSan and valgrind cannot give a process 1 TiB of address space */
        t_log("1 TiB store left out: %s", t_detail_copy());
        ASSERT_STR_CONTAINS(t_detail_copy(), "no address space");
    } else {
        ASSERT_OK(rc);
        ASSERT_EQ_U64(t_stats(b).capacity, BRAIN_MAX_CAPACITY);
        ASSERT_LT_U64(t_file_size(t_store(2)), 64 << 20);
        ASSERT_OK(brain_put(b, NULL, "huge-store", "v", 1, NULL, NULL));
        t_destroy(b, 2);
    }

    cfg = (brain_config){.max_procs = 2, .max_namespaces = 1};
    b = t_create_cfg(3, &cfg);
    st = t_stats(b);
    ASSERT_EQ_U64(st.max_procs, 2);
    ASSERT_EQ_U64(st.max_namespaces, 1);
    ASSERT_OK(brain_put(b, NULL, "d", "v", 1, NULL, NULL));
    t_destroy(b, 3);

    cfg = (brain_config){.max_procs = 4096, .max_namespaces = 65536};
    b = t_create_cfg(4, &cfg);
    st = t_stats(b);
    ASSERT_EQ_U64(st.max_procs, 4096);
    ASSERT_EQ_U64(st.max_namespaces, 65536);
    ASSERT_OK(brain_put(b, "n1", "d", "v", 1, NULL, NULL));
    t_destroy(b, 4);
}

TEST(close_null_is_noop)
{
    ASSERT_EQ_INT(brain_close(NULL), 0);
}

TEST(two_handles_one_process)
{
    brain *a = t_create(0, 0), *b = t_open(0);
    uint64_t v = 0;
    ASSERT_OK(brain_put(a, NULL, "k", "from a", 6, NULL, &v));
    char buf[16];
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "k", buf, sizeof buf, &n, NULL));
    ASSERT_EQ_U64(n, 6);
    ASSERT_MEM_EQ(buf, "from a", 6);
    /* a view taken through one handle survives the other's close */
    brain_view view = {0};
    ASSERT_OK(brain_get(a, NULL, "k", &view));
    ASSERT_OK(brain_close(b));
    ASSERT_MEM_EQ(view.data, "from a", 6);
    brain_view_release(a, &view);
    t_destroy(a, 0);
}

/* Issue 18, finding 8: a store destroyed while other handles have it open
 * (they used to go on writing into the unlinked file, silently lost): their
 * next call, read or write, is BRAIN_EDESTROYED naming the destroyer's pid;
 * views taken before stay readable; a new store can take the name. */
TEST(destroy_while_open_refuses_further_calls)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "k", "before", 6, NULL, NULL));
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "k", &view));
    ASSERT_OK(brain_destroy(t_store(0)));
    ASSERT(!exists_path(t_store(0)));
    char pid[32];
    snprintf(pid, sizeof pid, "destroyed by pid %d", (int)getpid());
    ASSERT_ERR(brain_put(b, NULL, "k2", "after", 5, NULL, NULL), BRAIN_EDESTROYED);
    ASSERT_STR_CONTAINS(t_detail_copy(), pid);
    ASSERT_STR_CONTAINS(t_detail_copy(), "nothing was written");
    char buf[16];
    size_t n;
    ASSERT_ERR(brain_read(b, NULL, "k", buf, sizeof buf, &n, NULL), BRAIN_EDESTROYED);
    ASSERT_ERR(brain_delete(b, NULL, "k"), BRAIN_EDESTROYED);
    brain_stats st;
    ASSERT_ERR(brain_stats_get(b, &st), BRAIN_EDESTROYED);
    ASSERT_MEM_EQ(view.data, "before", 6); /* a view taken before stays valid */
    brain_view_release(b, &view);
    brain *b2 = NULL;
    ASSERT_ERR(brain_open(t_store(0), 0, NULL, &b2), BRAIN_ENOSTORE);
    /* a new store can take the name meanwhile */
    b2 = t_create(0, 0);
    ASSERT_EQ_INT(brain_exists(b2, NULL, "k"), 0);
    ASSERT_OK(brain_put(b2, NULL, "k", "new", 3, NULL, NULL));
    ASSERT_OK(brain_close(b));
    t_destroy(b2, 0);
    ASSERT_ERR(brain_destroy(NULL), BRAIN_EINVAL);
}

/* The same across processes: a child destroys, the parent's next write is
 * refused. */
TEST(destroy_by_another_process_is_reported)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "x", "1", 1, NULL, NULL));
    pid_t pid = t_fork();
    if (pid == 0) {
        ASSERT_OK(brain_destroy(t_store(0)));
        t_child_exit(0);
    }
    t_wait_ok(pid);
    char want[32];
    snprintf(want, sizeof want, "by pid %d", (int)pid);
    ASSERT_ERR(brain_put(b, NULL, "y", "2", 1, NULL, NULL), BRAIN_EDESTROYED);
    ASSERT_STR_CONTAINS(t_detail_copy(), want);
    brain_list *l = NULL;
    ASSERT_ERR(brain_list_names(b, NULL, 1, &l), BRAIN_EDESTROYED);
    ASSERT_OK(brain_close(b));
}

/* Issue 18, finding 6: a FIFO (anyone can plant one in /dev/shm) at the
 * store's path: destroy and open refuse it at once instead of blocking. */
TEST(fifo_at_store_path_refused_at_once)
{
    ASSERT_EQ_INT(mkfifo(t_store(0), 0600), 0);
    ASSERT_ERR(brain_destroy(t_store(0)), BRAIN_ENOTSTORE);
    brain *b = NULL;
    ASSERT_ERR(brain_open(t_store(0), 0, NULL, &b), BRAIN_ENOTSTORE);
    ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE, NULL, &b), BRAIN_ENOTSTORE);
    ASSERT_STR_CONTAINS(t_detail_copy(), "not a regular file");
    ASSERT_EQ_INT(unlink(t_store(0)), 0);
}

/* Issue 18, finding 9: the temporary file of a creator killed half way
 * (brain-NAME.tmp-PID-RAND) is removed by the next create there, once its
 * PID is dead; a live process's is kept. */
TEST(create_removes_temporary_files_of_dead_creators)
{
    char dead_tmp[600], live_tmp[600];
    pid_t pid = t_fork();
    if (pid == 0)
        t_child_exit(0);
    t_wait_ok(pid); /* a PID that is no longer running */
    snprintf(dead_tmp, sizeof dead_tmp, "%s.tmp-%d-0badf00d", t_store(0), (int)pid);
    snprintf(live_tmp, sizeof live_tmp, "%s.tmp-%d-0badf00d", t_store(0), (int)getppid());
    int fd = open(dead_tmp, O_CREAT | O_WRONLY | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    close(fd);
    fd = open(live_tmp, O_CREAT | O_WRONLY | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    close(fd);
    brain *b = t_create(0, 0);
    ASSERT(!exists_path(dead_tmp));
    ASSERT(exists_path(live_tmp));
    unlink(live_tmp);
    t_destroy(b, 0);
}

TEST(process_table_full_then_dead_reaped)
{
    brain_config cfg = {.max_procs = 2};
    brain *b = t_create_cfg(0, &cfg);
    ASSERT_OK(brain_close(b));

    t_chan ready, go;
    t_chan_init(&ready);
    t_chan_init(&go);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = t_fork();
        if (kids[i] == 0) {
            brain *c = t_open(0);
            ASSERT_OK(brain_put(c, NULL, i ? "k1" : "k0", "x", 1, NULL, NULL));
            t_chan_send(&ready, 'r');
            t_chan_recv(&go); /* wait, holding a slot */
            ASSERT_OK(brain_close(c));
            t_child_exit(0);
        }
        ASSERT_EQ_INT(t_chan_recv_from(&ready, kids[i]), 'r');
    }
    /* two live processes hold both slots */
    brain *p = NULL;
    ASSERT_ERR(brain_open(t_store(0), 0, NULL, &p), BRAIN_EPROCS);
    ASSERT_ERR(brain_open(t_store(0), BRAIN_CREATE, NULL, &p), BRAIN_EPROCS);

    /* one dies without closing: its slot is reaped by the next open */
    kill(kids[0], SIGKILL);
    int st = t_wait_status(kids[0]);
    ASSERT(WIFSIGNALED(st));
    p = t_open(0);
    ASSERT_EQ_INT(brain_exists(p, NULL, "k0"), 1);
    brain_stats s = t_stats(p);
    ASSERT_EQ_U64(s.procs, 2);
    ASSERT_GE_U64(s.reaped, 1);

    t_chan_send(&go, 'g');
    t_wait_ok(kids[1]);
    size_t reaped = 99;
    ASSERT_OK(brain_reap(p, &reaped));
    ASSERT_EQ_U64(reaped, 0); /* the second closed properly */
    ASSERT_EQ_U64(t_stats(p).procs, 1);
    t_check_store(p);
    t_destroy(p, 0);
}

static void *detail_thread(void *arg)
{
    char *out = arg;
    const char *d = brain_errdetail();
    snprintf(out, 64, "%s", d ? d : "(NULL)");
    return NULL;
}

TEST(errdetail_empty_without_failure)
{
    const char *d = brain_errdetail();
    ASSERT_NOT_NULL(d);
    ASSERT_STR_EQ(d, "");
    brain *b = NULL;
    ASSERT_ERR(brain_open(t_store(0), 0, NULL, &b), BRAIN_ENOSTORE);
    /* the detail names the store it could not find */
    ASSERT_STR_CONTAINS(t_detail_copy(), t_store(0));
    /* another thread has had no failure */
    char other[64] = "unset";
    pthread_t th;
    ASSERT_EQ_INT(pthread_create(&th, NULL, detail_thread, other), 0);
    pthread_join(th, NULL);
    ASSERT_STR_EQ(other, "");
}

TEST(open_min_capacity_with_default_tables)
{
    /* brain.h documents BRAIN_MIN_CAPACITY (1 MiB) as the smallest capacity
     * and the defaults of the other settings, without saying that the two
     * do not go together. */
    brain_config cfg = {.capacity = BRAIN_MIN_CAPACITY};
    brain *b = t_create_cfg(0, &cfg);
    ASSERT_OK(brain_put(b, NULL, "small", "v", 1, NULL, NULL));
    t_destroy(b, 0);
}

/* Processes that all start at once, released by one byte each. */
static void race(int n, unsigned flags, int *ok_count, int *eexist_count)
{
    t_chan go, res;
    t_chan_init(&go);
    t_chan_init(&res);
    pid_t kids[16];
    for (int i = 0; i < n; i++) {
        kids[i] = t_fork();
        if (kids[i] == 0) {
            t_chan_recv(&go);
            brain *b = NULL;
            brain_config cfg = {.capacity = 32 << 20};
            int rc = brain_open(t_store(0), flags, &cfg, &b);
            if (rc == 0) {
                char name[32];
                snprintf(name, sizeof name, "from-%d", i);
                ASSERT_OK(brain_put(b, NULL, name, &i, sizeof i, NULL, NULL));
                ASSERT_OK(brain_close(b));
                t_chan_send(&res, 'o');
            } else {
                ASSERT_MSG(rc == BRAIN_EEXIST, "racing open: %s (%s)",
                           brain_errname(rc), t_detail_copy());
                t_chan_send(&res, 'e');
            }
            t_child_exit(0);
        }
    }
    for (int i = 0; i < n; i++)
        t_chan_send(&go, 'g');
    *ok_count = *eexist_count = 0;
    for (int i = 0; i < n; i++) {
        int c = t_chan_recv_timeout(&res, 10000);
        ASSERT_MSG(c >= 0, "a racing process did not answer");
        if (c == 'o')
            (*ok_count)++;
        else
            (*eexist_count)++;
    }
    for (int i = 0; i < n; i++)
        t_wait_ok(kids[i]);
}

TEST(open_create_race_one_store)
{
    /* every worker of an app runs "create or attach" at the same moment:
     * one store results, nobody's value is wiped */
    for (int round = 0; round < T_SCALE(10, 2); round++) {
        int ok = 0, ee = 0;
        race(8, BRAIN_CREATE, &ok, &ee);
        ASSERT_EQ_INT(ok, 8);
        brain *b = t_open(0);
        ASSERT_EQ_U64(t_stats(b).names, 8);
        for (int i = 0; i < 8; i++) {
            char name[32];
            snprintf(name, sizeof name, "from-%d", i);
            int v = -1;
            size_t n;
            ASSERT_OK(brain_read(b, NULL, name, &v, sizeof v, &n, NULL));
            ASSERT_EQ_INT(v, i);
        }
        ASSERT_EQ_U64(t_stats(b).capacity, 32 << 20);
        t_check_store(b);
        t_destroy(b, 0);
    }
}

TEST(open_excl_race_one_winner)
{
    for (int round = 0; round < T_SCALE(10, 2); round++) {
        int ok = 0, ee = 0;
        race(8, BRAIN_CREATE | BRAIN_EXCL, &ok, &ee);
        ASSERT_EQ_INT(ok, 1);
        ASSERT_EQ_INT(ee, 7);
        brain *b = t_open(0);
        ASSERT_EQ_U64(t_stats(b).names, 1);
        t_check_store(b);
        t_destroy(b, 0);
    }
}

TEST(store_at_absolute_path_outside_dev_shm)
{
    const char *p = t_path("on-disk.brain");
    brain *b = NULL;
    ASSERT_OK(brain_open(p, BRAIN_CREATE | BRAIN_EXCL, NULL, &b));
    ASSERT_STR_EQ(brain_path(b), p);
    unsigned char *buf = t_xmalloc(3 << 20);
    t_vfill(buf, 3 << 20, 7);
    ASSERT_OK(brain_put(b, "disk", "big", buf, 3 << 20, NULL, NULL));
    ASSERT_OK(brain_close(b));
    b = NULL;
    ASSERT_OK(brain_open(p, 0, NULL, &b));
    brain_view v = {0};
    ASSERT_OK(brain_get(b, "disk", "big", &v));
    ASSERT_VALUE(v.data, v.size, 7);
    brain_view_release(b, &v);
    t_check_store(b);
    ASSERT_OK(brain_close(b));
    ASSERT_OK(brain_destroy(p));
    ASSERT_ERR(brain_open(p, 0, NULL, &b), BRAIN_ENOSTORE);
    free(buf);
}

TEST(close_releases_views_pins)
{
    brain *a = t_create(0, 16 << 20);
    brain *b = t_open(0);
    uint64_t used0 = t_used(a);
    char *buf = t_xmalloc(1 << 20);
    memset(buf, 2, 1 << 20);
    ASSERT_OK(brain_put(a, NULL, "v", buf, 1 << 20, NULL, NULL));
    brain_view views[5];
    for (int i = 0; i < 5; i++) {
        memset(&views[i], 0, sizeof views[i]);
        ASSERT_OK(brain_get(b, NULL, "v", &views[i]));
    }
    ASSERT_GE_U64(t_stats(a).pins, 1);
    ASSERT_OK(brain_delete(a, NULL, "v"));
    ASSERT_GT_U64(t_stats(a).limbo, 0);
    /* closing the handle drops its pins without releasing the views */
    ASSERT_OK(brain_close(b));
    ASSERT_EQ_U64(t_stats(a).pins, 0);
    ASSERT_OK(brain_put(a, NULL, "w", "w", 1, NULL, NULL));
    ASSERT_OK(brain_delete(a, NULL, "w"));
    brain_stats st = t_stats(a);
    ASSERT_EQ_U64(st.limbo, 0);
    ASSERT_EQ_U64(st.used, used0);
    free(buf);
    t_check_store(a);
    t_destroy(a, 0);
}
