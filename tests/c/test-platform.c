/*
 * test-platform.c - what the platform layer promises (src/platform_linux.c
 * and src/platform_posix.c; `make test` runs this suite on both): the
 * writers' lock excludes handles of one process, threads of one handle and
 * a fork child (whose inherited descriptor shares the parent's flock on the
 * posix layer); a store of the other layer is refused by name; timed and
 * non-blocking lock attempts come back in time; bare names land in the
 * layer's default folder.
 */
#include "internal.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(platform_name_is_the_built_layer)
{
    const char *p = brain_platform();
    ASSERT(strcmp(p, "linux") == 0 || strcmp(p, "posix") == 0);
    char buf[BRAIN_PATH_MAX];
    ASSERT_OK(brain_resolve("app1", buf, sizeof buf));
    char want[BRAIN_PATH_MAX];
    snprintf(want, sizeof want, "%s/brain-app1", brain__plat_default_dir());
    ASSERT_STR_EQ(buf, want);
}

/* A store stamped by the other layer is refused with a sentence naming both
 * layers; stamped back, it opens and reads as before. */
TEST(store_of_the_other_layer_is_refused)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "k", "v", 1, NULL, NULL));
    uint32_t mine = b->h->lock_kind;
    ASSERT(mine == LOCK_KIND_MUTEX || mine == LOCK_KIND_FLOCK);
    ASSERT_OK(brain_close(b));
    int fd = open(t_store(0), O_RDWR);
    ASSERT(fd >= 0);
    off_t at = (off_t)offsetof(struct brain__header, lock_kind);
    uint32_t other = mine == LOCK_KIND_MUTEX ? LOCK_KIND_FLOCK : LOCK_KIND_MUTEX;
    ASSERT(pwrite(fd, &other, 4, at) == 4);
    brain *c = NULL;
    ASSERT_ERR(brain_open(t_store(0), 0, NULL, &c), BRAIN_EVERSION);
    ASSERT(c == NULL);
    ASSERT_STR_CONTAINS(brain_errdetail(), "platform layer");
    ASSERT_STR_CONTAINS(brain_errdetail(), "do not exclude each other");
    if (mine == LOCK_KIND_FLOCK) { /* a store from before the field: the mutex */
        uint32_t old = LOCK_KIND_MUTEX_OLD;
        ASSERT(pwrite(fd, &old, 4, at) == 4);
        ASSERT_ERR(brain_open(t_store(0), 0, NULL, &c), BRAIN_EVERSION);
    }
    ASSERT(pwrite(fd, &mine, 4, at) == 4);
    close(fd);
    b = t_open(0);
    char v[4];
    size_t n = 0;
    ASSERT_OK(brain_read(b, NULL, "k", v, sizeof v, &n, NULL));
    ASSERT_EQ_U64(n, 1);
    t_destroy(b, 0);
}

/* Two handles of one process exclude each other like two processes. */
TEST(lock_excludes_other_handle_of_the_process)
{
    brain *a = t_create(0, 0);
    brain *b = t_open(0);
    ASSERT_OK(brain__writer_lock(a));
    ASSERT_EQ_INT(brain__plat_wlock_acquire(b, 0), EBUSY);
    int64_t t0 = t_now_ns();
    ASSERT_EQ_INT(brain__plat_wlock_acquire(b, 30 * 1000000ll), ETIMEDOUT);
    int64_t took = t_now_ns() - t0;
    ASSERT_GE_U64((uint64_t)took, 25 * 1000000ull);
    ASSERT(took < 2000 * 1000000ll);
    brain__writer_unlock(a);
    ASSERT_EQ_INT(brain__plat_wlock_acquire(b, 0), 0);
    brain__plat_wlock_release(b);
    ASSERT_OK(brain_close(b));
    t_destroy(a, 0);
}

struct hold_arg {
    brain *b;
    int got;
};

static void *try_lock_thread(void *p)
{
    struct hold_arg *a = p;
    a->got = brain__plat_wlock_acquire(a->b, 0);
    if (a->got == 0)
        brain__plat_wlock_release(a->b);
    return NULL;
}

/* Threads of one handle (one open file description on the posix layer). */
TEST(lock_excludes_other_thread_of_the_handle)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain__writer_lock(b));
    struct hold_arg a = {b, -1};
    pthread_t th;
    ASSERT_EQ_INT(pthread_create(&th, NULL, try_lock_thread, &a), 0);
    pthread_join(th, NULL);
    ASSERT_EQ_INT(a.got, EBUSY);
    brain__writer_unlock(b);
    a.got = -1;
    ASSERT_EQ_INT(pthread_create(&th, NULL, try_lock_thread, &a), 0);
    pthread_join(th, NULL);
    ASSERT_EQ_INT(a.got, 0);
    t_destroy(b, 0);
}

/* A fork child does not inherit a lock the parent holds (on the posix layer
 * its descriptor is reopened: a shared description would share the flock),
 * and it gets the lock once the parent lets go. */
TEST_TIMEOUT(fork_child_does_not_share_the_parents_lock, 20)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "k", "v", 1, NULL, NULL));
    t_chan go, done;
    t_chan_init(&go);
    t_chan_init(&done);
    ASSERT_OK(brain__writer_lock(b));
    pid_t pid = t_fork();
    if (pid == 0) {
        int r = brain__plat_wlock_acquire(b, 0);
        if (r != EBUSY)
            t_child_exit(3); /* it must not have (or share) the parent's lock */
        t_chan_send(&done, 'b');
        t_chan_recv(&go);
        if (brain_put(b, NULL, "child", "c", 1, NULL, NULL) != 0)
            t_child_exit(4);
        t_child_exit(0);
    }
    ASSERT_EQ_INT(t_chan_recv_from(&done, pid), 'b');
    brain__writer_unlock(b);
    t_chan_send(&go, 'g');
    t_wait_ok(pid);
    ASSERT_EQ_INT(brain_exists(b, NULL, "child"), 1);
    t_check_store(b);
    t_destroy(b, 0);
}

/* A holder killed inside the lock: the next one is told (EOWNERDEAD on
 * both layers) and brain__writer_lock repairs. */
TEST_TIMEOUT(holder_killed_next_holder_told, 20)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "k", "v", 1, NULL, NULL));
    t_chan held;
    t_chan_init(&held);
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        if (brain__writer_lock(c) != 0)
            t_child_exit(2);
        t_chan_send(&held, 'h');
        for (;;)
            pause();
    }
    ASSERT_EQ_INT(t_chan_recv_from(&held, pid), 'h');
    ASSERT_EQ_INT(brain__plat_wlock_acquire(b, 0), EBUSY);
    kill(pid, SIGKILL);
    int ws = t_wait_status(pid); /* macOS's W* macros take an lvalue */
    ASSERT(WIFSIGNALED(ws));
    uint64_t rec = b->h->recoveries;
    ASSERT_OK(brain__writer_lock(b));
    ASSERT_EQ_U64(b->h->recoveries, rec + 1);
    brain__writer_unlock(b);
    ASSERT_OK(brain_put(b, NULL, "k2", "v", 1, NULL, NULL));
    t_check_store(b);
    t_destroy(b, 0);
}

/* The file may not grow (here a file-size limit, as a full /dev/shm, disk
 * or RAM disk would): the put that needs the room fails with BRAIN_ENOSPC
 * and a sentence, no SIGBUS, and what was stored reads back; the file keeps
 * its size.  BY_WRITING: the portable layer's fallback for file systems
 * that preallocate nothing (brain__plat_no_prealloc). */
static void growth_refused(int by_writing)
{
    brain__plat_no_prealloc = by_writing;
    brain_config cfg = {.capacity = 256u << 20};
    brain *b = t_create_cfg(0, &cfg);
    ASSERT_OK(brain_put(b, NULL, "small", "v", 1, NULL, NULL));
    pid_t pid = t_fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct stat st;
        if (fstat(b->fd, &st) != 0)
            t_child_exit(2);
        struct rlimit rl = {(rlim_t)st.st_size + 4096, (rlim_t)st.st_size + 4096};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            t_child_exit(2);
        size_t n = 32u << 20;
        char *big = t_xmalloc(n);
        memset(big, 7, n);
        int rc = brain_put(b, NULL, "big", big, n, NULL, NULL);
        if (rc != BRAIN_ENOSPC)
            t_child_exit(3);
        if (!strstr(brain_errdetail(), "file-size limit") || !strstr(brain_errdetail(), "a value of 33.6 MB"))
            t_child_exit(4);
        char v[4];
        size_t got = 0;
        if (brain_read(b, NULL, "small", v, sizeof v, &got, NULL) != 0 || got != 1)
            t_child_exit(5);
        struct stat now;
        if (fstat(b->fd, &now) != 0 || now.st_size != st.st_size)
            t_child_exit(6); /* a half-grown tail was left */
        t_child_exit(0);
    }
    t_wait_ok(pid);
    char v[4];
    size_t got = 0;
    ASSERT_OK(brain_read(b, NULL, "small", v, sizeof v, &got, NULL));
    ASSERT_EQ_INT(brain_exists(b, NULL, "big"), 0);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST_TIMEOUT(growth_refused_by_the_file_system_is_enospc, 30) { growth_refused(0); }

static void need_posix_layer(void)
{
    if (strcmp(brain_platform(), "posix") != 0)
        SKIP("the writing fallback is the portable layer's (make test-posix runs it)");
}

TEST_TIMEOUT(growth_refused_while_writing_zeros_is_enospc, 30)
{
    need_posix_layer();
    growth_refused(1);
}

/* The fallback of a file system that preallocates nothing: the range
 * inside the file (here with a punched hole, as freed pages leave) keeps
 * its bytes and gets its blocks back; beyond the end, zeros; every byte of
 * the file has a block or page afterwards. */
TEST(reserve_by_writing_keeps_the_contents_and_backs_every_page)
{
    need_posix_layer();
    const char *path = t_store(1);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    size_t n = 1u << 20, grow = 256u << 10;
    unsigned char *want = t_xmalloc(n + grow), *got = t_xmalloc(n + grow);
    t_vfill(want, n, 5);
    ASSERT_EQ_INT(pwrite(fd, want, n, 0), (ssize_t)n);
    int punched = brain__plat_punch_hole(fd, 256u << 10, 256u << 10);
    t_log("hole punched: %s", punched == 0 ? "yes" : strerror(punched));
    if (punched == 0)
        memset(want + (256u << 10), 0, 256u << 10);
    memset(want + n, 0, grow);
    brain__plat_no_prealloc = 1;
    /* from an odd offset: the bytes before it and at it stay */
    ASSERT_EQ_INT(brain__plat_reserve_space(fd, 4097, n + grow - 4097), 0);
    struct stat st;
    ASSERT_EQ_INT(fstat(fd, &st), 0);
    ASSERT_EQ_U64((uint64_t)st.st_size, n + grow);
    ASSERT_GE_U64((uint64_t)st.st_blocks * 512, n + grow);
    ASSERT_EQ_INT(pread(fd, got, n + grow, 0), (ssize_t)(n + grow));
    ASSERT_EQ_U64(t_first_diff(got, want, n + grow), n + grow);
    close(fd);
    free(want);
    free(got);
}

/* A store on a file system that preallocates nothing: creation, growth and
 * the refill of pages given back by freed values all go through the writing
 * fallback; every value reads back and the store checks clean throughout
 * (a fallback that wrote zeros over a punched range would wipe the block
 * header the allocator had just written there). */
TEST_TIMEOUT(store_without_preallocation_keeps_every_value, 60)
{
    need_posix_layer();
    brain__plat_no_prealloc = 1;
    brain_config cfg = {.capacity = 512u << 20, .max_procs = 8, .max_namespaces = 4};
    brain *b = t_create_cfg(0, &cfg);
    size_t sizes[] = {40u << 20, 3u << 20, 70u << 20, 100u << 10, 25u << 20, 5000};
    unsigned char *v = t_xmalloc(70u << 20);
    uint64_t seeds[4] = {0};
    size_t lens[4] = {0};
    for (int round = 0; round < 14; round++) {
        char name[16];
        int slot = round % 4;
        snprintf(name, sizeof name, "v%d", slot);
        size_t sz = sizes[round % 6];
        t_vfill(v, sz, (uint64_t)round + 1);
        ASSERT_OK(brain_put(b, NULL, name, v, sz, NULL, NULL));
        seeds[slot] = (uint64_t)round + 1;
        lens[slot] = sz;
        if (round % 3 == 2) { /* a large delete: its pages go back */
            snprintf(name, sizeof name, "v%d", (round + 2) % 4);
            if (brain_delete(b, NULL, name) == BRAIN_OK)
                lens[(round + 2) % 4] = 0;
        }
        (void)t_stats(b); /* reclaims, punches */
        for (int i = 0; i < 4; i++) {
            if (!lens[i])
                continue;
            snprintf(name, sizeof name, "v%d", i);
            brain_view view = {0};
            ASSERT_OK(brain_get(b, NULL, name, &view));
            ASSERT_EQ_U64(view.size, lens[i]);
            ASSERT_VALUE(view.data, view.size, seeds[i]);
            brain_view_release(b, &view);
        }
        t_check_store(b);
    }
    free(v);
    t_destroy(b, 0);
}
