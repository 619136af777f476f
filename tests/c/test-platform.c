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
 * and a sentence, no SIGBUS, and what was stored reads back. */
TEST_TIMEOUT(growth_refused_by_the_file_system_is_enospc, 30)
{
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
        if (!strstr(brain_errdetail(), "its file system is full"))
            t_child_exit(4);
        char v[4];
        size_t got = 0;
        if (brain_read(b, NULL, "small", v, sizeof v, &got, NULL) != 0 || got != 1)
            t_child_exit(5);
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
