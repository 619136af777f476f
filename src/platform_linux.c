/*
 * platform_linux.c - every OS-specific call of the library, in one file
 * (PLATFORM=linux, the default on Linux).
 *
 * Linux: the writers' lock is a robust process-shared mutex in the header
 * (EOWNERDEAD when its holder died); futexes on the shared mapping; process
 * start times from /proc; fallocate to reserve tmpfs pages; OFD locks for
 * "am I alone"; getrandom; /dev/shm.  platform_posix.c is the same interface
 * on what macOS offers too, and is built with PLATFORM=posix.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int brain__plat_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, val, tsp, NULL, 0);
    return rc == 0 ? 0 : errno;
}

void brain__plat_futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

void brain__plat_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* no entropy source */
            brain__plat_random_mix(p, len);
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Backs [off, off+len) of the file with real pages or blocks now, so a
 * full /dev/shm is an ENOSPC here and never a SIGBUS during a write. */
int brain__plat_reserve_space(int fd, uint64_t off, uint64_t len)
{
    int rc;
    do
        rc = posix_fallocate(fd, (off_t)off, (off_t)len);
    while (rc == EINTR);
    return rc;
}

/* Gives the file's pages in [off, off+len) back to the file system (a
 * hole: reads as zeros, takes no memory; the file keeps its size).
 * 0, or an errno value (EOPNOTSUPP where the file system cannot). */
int brain__plat_punch_hole(int fd, uint64_t off, uint64_t len)
{
    int rc;
    do
        rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? errno : 0;
}

/* Maps the pages of [p, p+n) writable in one call before a large copy into
 * them: one kernel walk instead of a page fault per 4 KiB page (about a
 * quarter of the time of a copy into fresh /dev/shm pages).  Advisory:
 * kernels before 5.14 refuse the advice and the copy faults as before. */
void brain__plat_prefault_write(void *p, size_t n)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)4095;
    uintptr_t end = ((uintptr_t)p + n) & ~(uintptr_t)4095;
    if (end > start)
        (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}

/* Scratch buffers of many MiB (a listing's records) are touched once
 * each, page by page: with transparent huge pages allowed ("madvise"
 * mode) one fault maps 2 MiB instead of 4 KiB, which at a million names
 * saves some 15,000 page faults a listing. */
void brain__plat_advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(huge - 1);
    if (end > start)
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

/* An OFD lock on byte 0: every attached process holds it shared; a process
 * that gets it exclusive knows it is alone.  Converting exclusive to shared
 * with F_OFD_SETLK is atomic. */
static int lock_file(int fd, int exclusive, int wait)
{
    struct flock fl = {0};
    fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    for (;;) {
        if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EACCES)
            return 1;
        return -1;
    }
}

const char *brain_platform(void) { return "linux"; }

const char *brain__plat_default_dir(void) { return "/dev/shm"; }

/* ---- the writers' lock: a robust process-shared mutex in the header ----- */

static int init_mutex(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

int brain__plat_wlock_create(brain *b)
{
    b->h->lock_kind = LOCK_KIND_MUTEX;
    return init_mutex(&b->h->lock);
}

int brain__plat_wlock_acquire(brain *b, int64_t timeout_ns)
{
    pthread_mutex_t *m = &b->h->lock;
    if (timeout_ns < 0)
        return pthread_mutex_lock(m);
    if (timeout_ns == 0)
        return pthread_mutex_trylock(m);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + timeout_ns % 1000000000;
    ts.tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return pthread_mutex_timedlock(m, &ts);
}

void brain__plat_wlock_consistent(brain *b) { pthread_mutex_consistent(&b->h->lock); }

void brain__plat_wlock_release(brain *b) { pthread_mutex_unlock(&b->h->lock); }

int brain__plat_attach(brain *b)
{
    uint32_t kind = b->h->lock_kind;
    if (kind != LOCK_KIND_MUTEX && kind != LOCK_KIND_MUTEX_OLD)
        return brain__fail(BRAIN_EVERSION,
                           "store '%s' was made by a libbrain built on the portable platform layer "
                           "(PLATFORM=posix, a file lock for writers); this one is built on the Linux "
                           "layer (a robust mutex), and the two locks do not exclude each other: use "
                           "the store with a PLATFORM=posix build, or save it there and load the "
                           "snapshot here", b->path);
    int r = lock_file(b->fd, 1, 0);
    if (r < 0)
        return brain__fail(BRAIN_EIO, "cannot lock store '%s': %s", b->path, strerror(errno));
    if (r == 0) {
        /* alone: a store on disk may carry a lock word from before a reboot */
        if (init_mutex(&b->h->lock))
            return brain__fail(BRAIN_EIO, "cannot initialise the store's mutex");
        return 1;
    }
    if (lock_file(b->fd, 0, 1) != 0)
        return brain__fail(BRAIN_EIO, "cannot lock store '%s': %s", b->path, strerror(errno));
    return 0;
}

int brain__plat_attach_done(brain *b)
{
    if (lock_file(b->fd, 0, 0) != 0)
        return brain__fail(BRAIN_EIO, "cannot lock store '%s': %s", b->path, strerror(errno));
    return 0;
}

/* TAKE 1: has this handle the store to itself?  1 (its attach lock is now
 * exclusive: no other process has the store open), 0 (others have it open),
 * -1 (errno).  TAKE 0: back to the shared attach lock. */
int brain__plat_exclusive(brain *b, int take)
{
    if (!take)
        return lock_file(b->fd, 0, 0) == 0 ? 0 : -1;
    int r = lock_file(b->fd, 1, 0);
    return r < 0 ? -1 : r == 0;
}

/* the mutex lives in the shared header: nothing per handle or per fork */
void brain__plat_handle_init(brain *b) { (void)b; }
void brain__plat_handle_fini(brain *b) { (void)b; }
void brain__plat_fork_child(brain *b) { (void)b; }
