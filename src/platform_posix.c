/*
 * platform_posix.c - every OS-specific call of the library, on what macOS
 * offers too (PLATFORM=posix; the default on macOS).  `make test` builds and
 * tests it on Linux beside platform_linux.c, so only the lines under
 * __APPLE__ below are not run here; they are few and sit in this file only.
 *
 * The writers' lock.  macOS has no robust process-shared mutex, so the lock
 * is one the kernel drops when its holder dies at any instruction: an
 * exclusive flock(2) on the handle's own open file description of the store
 * file.  flock rather than fcntl record locks because
 *   - fcntl locks belong to the process and all of them go when the process
 *     closes ANY descriptor of the file (a second handle closing, brain_destroy
 *     checking the file, a user's open()): a held writers' lock would vanish
 *     under the writer; and two handles of one process would not exclude
 *     each other;
 *   - a flock belongs to the open file description: each handle opens the
 *     file itself, so handles exclude each other like processes do, and
 *     closing another descriptor changes nothing.
 * What flock costs: a fork child shares the parent's description (and would
 * share a held lock), so brain__plat_fork_child gives the child a
 * description of its own; and threads of one handle share it, so they take
 * turns on a process-local mutex and condition first (b->wl_*).
 * That the holder died is told by the header's dirty mark: every holder sets
 * it after taking the lock and clears it before letting go, so a new holder
 * that finds it set knows the last one died inside and returns EOWNERDEAD,
 * the path the robust mutex takes on Linux (repair, then carry on).
 *
 * There is no "alone at open" here (Linux uses a second, OFD, lock for it;
 * macOS has one flock per file and its flock and fcntl locks conflict with
 * each other): dead processes' slots are reaped by liveness (pid and start
 * time), as they are on Linux while others are attached.
 *
 * Waits: os_sync_wait_on_address on macOS 14.4 and later; elsewhere (older
 * macOS, Linux) a poll of the word with a bounded backoff (POLL_MAX_NS), so
 * a waiter wakes at most that long after the change.  Every wait keeps its
 * timeout.
 *
 * Space: F_PREALLOCATE then ftruncate on macOS, posix_fallocate elsewhere;
 * where a file system supports neither, the range is written (zeros past
 * the end, the bytes already there inside the file).  Either way a full
 * disk or memory is ENOSPC when the store grows, never a SIGBUS when a
 * value is copied in.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __APPLE__
#include <Availability.h>
#include <sys/random.h> /* getentropy */
#include <sys/sysctl.h>
#if __has_include(<os/os_sync_wait_on_address.h>)
#include <os/clock.h>
#include <os/os_sync_wait_on_address.h>
#define HAVE_OS_SYNC 1
#elif defined(__MAC_OS_X_VERSION_MAX_ALLOWED) && __MAC_OS_X_VERSION_MAX_ALLOWED >= 140400
/* An SDK whose libSystem has the macOS 14.4 calls but whose headers lack
 * them (zig's bundled SDK, which `make check-macos` compiles against): the
 * declarations of <os/os_sync_wait_on_address.h>, weakly linked by their
 * availability, called only under __builtin_available.  Older SDKs have
 * neither the header nor the symbols: those builds poll. */
#define OS_CLOCK_MACH_ABSOLUTE_TIME 32u
#define OS_SYNC_WAIT_ON_ADDRESS_SHARED 1u
#define OS_SYNC_WAKE_BY_ADDRESS_SHARED 1u
#define BRAIN_OS_SYNC_API __attribute__((weak_import, availability(macos, introduced = 14.4)))
extern int os_sync_wait_on_address(void *addr, uint64_t value, size_t size,
                                   uint32_t flags) BRAIN_OS_SYNC_API;
extern int os_sync_wait_on_address_with_timeout(void *addr, uint64_t value, size_t size,
                                                uint32_t flags, uint32_t clockid,
                                                uint64_t timeout_ns) BRAIN_OS_SYNC_API;
extern int os_sync_wake_by_address_all(void *addr, size_t size, uint32_t flags) BRAIN_OS_SYNC_API;
#define HAVE_OS_SYNC 1
#endif
#endif

#define POLL_MIN_NS 20000ll   /* first sleep of a polled wait: 20 us */
#define POLL_MAX_NS 1000000ll /* the backoff stops at 1 ms */

const char *brain_platform(void) { return "posix"; }

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
}

/* ---- processes ---------------------------------------------------------- */

/* Elsewhere platform.c reads /proc, for both layers; liveness is there too. */
#ifdef __APPLE__
/* The start time of PID in microseconds since the epoch (sysctl KERN_PROC). */
uint64_t brain__plat_proc_start_time(pid_t pid)
{
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
    struct kinfo_proc kp;
    size_t len = sizeof kp;
    if (sysctl(mib, 4, &kp, &len, NULL, 0) != 0 || len == 0)
        return 0;
    const struct timeval *tv = &kp.kp_proc.p_starttime;
    return (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
}

/* PID's state as a /proc letter (R, S, T, Z), 0 when it is gone (sysctl). */
char brain__plat_proc_state(pid_t pid)
{
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
    struct kinfo_proc kp;
    size_t len = sizeof kp;
    if (sysctl(mib, 4, &kp, &len, NULL, 0) != 0 || len == 0)
        return kill(pid, 0) == 0 || errno == EPERM ? 'R' : 0;
    switch (kp.kp_proc.p_stat) {
    case SSTOP:
        return 'T';
    case SZOMB:
        return 'Z';
    case SSLEEP:
        return 'S';
    default:
        return 'R';
    }
}
#endif

/* ---- waits -------------------------------------------------------------- */

static int poll_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
    int64_t deadline = timeout_ns >= 0 ? brain__plat_mono_ns() + timeout_ns : -1;
    int64_t pause = POLL_MIN_NS;
    while (atomic_load(addr) == val) {
        if (deadline >= 0) {
            int64_t left = deadline - brain__plat_mono_ns();
            if (left <= 0)
                return ETIMEDOUT;
            if (pause > left)
                pause = left;
        }
        sleep_ns(pause);
        pause = pause * 2 > POLL_MAX_NS ? POLL_MAX_NS : pause * 2;
    }
    return 0;
}

int brain__plat_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
#ifdef HAVE_OS_SYNC
    if (__builtin_available(macOS 14.4, *)) {
        if (timeout_ns == 0)
            return atomic_load(addr) == val ? ETIMEDOUT : 0;
        int rc = timeout_ns > 0
                     ? os_sync_wait_on_address_with_timeout(
                           (void *)addr, val, 4, OS_SYNC_WAIT_ON_ADDRESS_SHARED,
                           OS_CLOCK_MACH_ABSOLUTE_TIME, (uint64_t)timeout_ns)
                     : os_sync_wait_on_address((void *)addr, val, 4,
                                               OS_SYNC_WAIT_ON_ADDRESS_SHARED);
        if (rc >= 0)
            return 0;
        if (errno == ETIMEDOUT || errno == EINTR)
            return errno;
        /* refused (EINVAL for a timeout the kernel will not take, ENOTSUP):
         * poll, rather than return at once into a caller that would spin */
    }
#endif
    return poll_wait(addr, val, timeout_ns);
}

void brain__plat_futex_wake(_Atomic uint32_t *addr)
{
#ifdef HAVE_OS_SYNC
    if (__builtin_available(macOS 14.4, *)) {
        os_sync_wake_by_address_all((void *)addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED);
        return;
    }
#endif
    (void)addr; /* pollers see the changed word by themselves */
}

/* ---- randomness --------------------------------------------------------- */

void brain__plat_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        size_t n = len > 256 ? 256 : len; /* getentropy's limit */
        if (getentropy(p, n) != 0) {
            brain__plat_random_mix(p, len);
            return;
        }
        p += n;
        len -= n;
    }
}

/* ---- space -------------------------------------------------------------- */

/* Backs [off, off+len) with real blocks or pages by writing to it, without
 * changing what the file reads as: beyond the file's end CUR, zeros are
 * written (the file grows); inside it, one byte of every 4 KiB is read and
 * written back, which gives a hole (pages handed back by punch_hole) its
 * block again and leaves data, such as a block header the caller just
 * wrote at OFF, as it was.  The range is the caller's alone (under the
 * writers' lock, not yet reachable by readers), so nothing else writes it
 * meanwhile.  A full file system says ENOSPC here. */
static int reserve_by_writing(int fd, uint64_t off, uint64_t len, uint64_t cur)
{
    uint64_t end = off + len;
    for (uint64_t p = off; p < end && p < cur; p = (p | 4095) + 1) {
        char c;
        ssize_t n;
        do
            n = pread(fd, &c, 1, (off_t)p);
        while (n < 0 && errno == EINTR);
        if (n == 1)
            do
                n = pwrite(fd, &c, 1, (off_t)p);
            while (n < 0 && errno == EINTR);
        if (n != 1)
            return n < 0 ? errno : EIO;
    }
    static const char zeros[65536];
    int err = 0;
    for (uint64_t p = off > cur ? off : cur; p < end && !err;) {
        size_t n = end - p > sizeof zeros ? sizeof zeros : (size_t)(end - p);
        err = brain__plat_write_at(fd, p, zeros, n, NULL);
        p += n;
    }
    return err;
}

/* Backs [off, off+len) of the file with real blocks or pages now, so a full
 * disk or memory is an ENOSPC here and never a SIGBUS during a write.  The
 * range may extend the file or lie inside it (pages given back by
 * brain__plat_punch_hole); what the file holds there is kept. */
int brain__plat_reserve_space(int fd, uint64_t off, uint64_t len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno;
    uint64_t end = off + len, cur = (uint64_t)st.st_size;
    int rc = 0;
    if (brain__plat_no_prealloc) {
        rc = EOPNOTSUPP; /* the test hook: as a file system without either call */
    } else {
#ifdef __APPLE__
        if (off < cur) /* a hole inside the file: F_PREALLOCATE only grows the end */
            rc = reserve_by_writing(fd, off, (end < cur ? end : cur) - off, cur);
        if (rc == 0 && end > cur) {
            fstore_t fs = {F_ALLOCATECONTIG | F_ALLOCATEALL, F_PEOFPOSMODE, 0,
                           (off_t)(end - cur), 0};
            rc = fcntl(fd, F_PREALLOCATE, &fs) == 0 ? 0 : errno;
            if (rc) {
                fs.fst_flags = F_ALLOCATEALL;
                rc = fcntl(fd, F_PREALLOCATE, &fs) == 0 ? 0 : errno;
            }
            if (rc == 0 && ftruncate(fd, (off_t)end) != 0)
                rc = errno;
        }
#else
        do
            rc = posix_fallocate(fd, (off_t)off, (off_t)len);
        while (rc == EINTR);
#endif
    }
    if (rc == ENOSPC || rc == EFBIG || rc == 0)
        return rc;
    /* the file system cannot preallocate (EOPNOTSUPP, EINVAL, ENOTSUP) */
    rc = reserve_by_writing(fd, off, len, cur);
    if (rc && end > cur) /* leave the file as it was: no half-grown tail */
        (void)ftruncate(fd, (off_t)cur);
    return rc;
}

/* Gives the pages of [off, off+len) back to the system, the file's size
 * unchanged: F_PUNCHHOLE on macOS; on Linux (where this layer is tested)
 * fallocate's hole punching, as platform_linux.c; elsewhere unsupported, and
 * the caller keeps the pages. */
int brain__plat_punch_hole(int fd, uint64_t off, uint64_t len)
{
#if defined(__APPLE__) && defined(F_PUNCHHOLE)
    fpunchhole_t ph = {0, 0, (off_t)off, (off_t)len};
    return fcntl(fd, F_PUNCHHOLE, &ph) == 0 ? 0 : errno;
#elif defined(__linux__) && defined(FALLOC_FL_PUNCH_HOLE)
    int rc;
    do
        rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? errno : 0;
#else
    (void)fd, (void)off, (void)len;
    return EOPNOTSUPP;
#endif
}

void brain__plat_prefault_write(void *p, size_t n)
{
    (void)p; /* no portable way to map pages writable in one call */
    (void)n;
}

void brain__plat_advise_huge(void *p, size_t n)
{
    (void)p; /* no portable advice */
    (void)n;
}

#ifdef __APPLE__
/* The user's private temporary folder (/var/folders/.../T): on disk,
 * through the page cache; docs/DESIGN-NOTES.md "Platform" says what that
 * costs against /dev/shm and how to keep stores on a RAM disk. */
static char tmp_dir[1024];
static void tmp_dir_init(void)
{
    const char *t = getenv("TMPDIR");
    if (!t || t[0] != '/' || strlen(t) >= sizeof tmp_dir)
        t = "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s", t);
    size_t n = strlen(tmp_dir);
    while (n > 1 && tmp_dir[n - 1] == '/')
        tmp_dir[--n] = '\0';
}
#endif

const char *brain__plat_default_dir(void)
{
#ifdef __APPLE__
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tmp_dir_init);
    return tmp_dir;
#else
    return "/dev/shm";
#endif
}

/* ---- the writers' lock: flock on the handle's description + dirty mark -- */

int brain__plat_wlock_create(brain *b)
{
    b->h->lock_kind = LOCK_KIND_FLOCK;
    return 0;
}

void brain__plat_handle_init(brain *b)
{
    pthread_mutex_init(&b->wl_mu, NULL);
    pthread_cond_init(&b->wl_cv, NULL);
    b->wl_busy = 0;
    b->wl_lost = 0;
}

void brain__plat_handle_fini(brain *b)
{
    pthread_cond_destroy(&b->wl_cv);
    pthread_mutex_destroy(&b->wl_mu);
}

/* The threads of this handle take turns: 0, or ETIMEDOUT/EBUSY. */
static int local_acquire(brain *b, int64_t timeout_ns)
{
    pthread_mutex_lock(&b->wl_mu);
    if (b->wl_busy && timeout_ns == 0) {
        pthread_mutex_unlock(&b->wl_mu);
        return EBUSY;
    }
    struct timespec ts;
    if (timeout_ns > 0) {
        clock_gettime(CLOCK_REALTIME, &ts); /* condition variables' clock on macOS */
        int64_t ns = ts.tv_nsec + timeout_ns % 1000000000;
        ts.tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
    }
    while (b->wl_busy) {
        int rc = timeout_ns < 0 ? pthread_cond_wait(&b->wl_cv, &b->wl_mu)
                                : pthread_cond_timedwait(&b->wl_cv, &b->wl_mu, &ts);
        if (rc == ETIMEDOUT && b->wl_busy) {
            pthread_mutex_unlock(&b->wl_mu);
            return ETIMEDOUT;
        }
    }
    b->wl_busy = 1;
    pthread_mutex_unlock(&b->wl_mu);
    return 0;
}

static void local_release(brain *b)
{
    pthread_mutex_lock(&b->wl_mu);
    b->wl_busy = 0;
    pthread_cond_signal(&b->wl_cv);
    pthread_mutex_unlock(&b->wl_mu);
}

int brain__plat_wlock_acquire(brain *b, int64_t timeout_ns)
{
    int64_t t0 = timeout_ns > 0 ? brain__plat_mono_ns() : 0;
    int rc = local_acquire(b, timeout_ns);
    if (rc)
        return rc;
    int64_t pause = POLL_MIN_NS;
    for (;;) {
        /* waiting for ever: block in the kernel; else poll with a backoff
         * (flock has no timeout) */
        if (flock(b->fd, timeout_ns < 0 ? LOCK_EX : LOCK_EX | LOCK_NB) == 0)
            break;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e != EWOULDBLOCK) {
            local_release(b);
            return e;
        }
        if (timeout_ns == 0) {
            local_release(b);
            return EBUSY;
        }
        int64_t left = timeout_ns - (brain__plat_mono_ns() - t0);
        if (left <= 0) {
            local_release(b);
            return ETIMEDOUT;
        }
        sleep_ns(pause < left ? pause : left);
        pause = pause * 2 > POLL_MAX_NS ? POLL_MAX_NS : pause * 2;
    }
    /* the last holder set dirty and never cleared it: it died holding the lock */
    return b->h->dirty ? EOWNERDEAD : 0;
}

void brain__plat_wlock_consistent(brain *b) { (void)b; /* the caller clears dirty */ }

void brain__plat_wlock_release(brain *b)
{
    while (flock(b->fd, LOCK_UN) != 0 && errno == EINTR)
        ;
    local_release(b);
}

int brain__plat_attach(brain *b)
{
    uint32_t kind = b->h->lock_kind;
    if (kind != LOCK_KIND_FLOCK)
        return brain__fail(BRAIN_EVERSION,
                           "store '%s' was made by a libbrain built on the Linux platform layer "
                           "(a robust mutex for writers); this one is built on the portable layer "
                           "(PLATFORM=posix, a file lock), and the two locks do not exclude each "
                           "other: use the store with a Linux-layer build, or save it there and "
                           "load the snapshot here", b->path);
    return 0; /* never "alone": see the top of this file */
}

int brain__plat_attach_done(brain *b)
{
    (void)b;
    return 0;
}

/* The portable layer cannot tell whether other processes have the store
 * open (see the top of this file): 2, and the caller looks for live owners
 * in the process table instead. */
int brain__plat_exclusive(brain *b, int take)
{
    (void)b;
    (void)take;
    return 2;
}

/* In a fork child: the inherited descriptor shares the parent's open file
 * description, so its flock too.  Give the child a description of its own
 * on the same file, in the same descriptor number; the threads that held the
 * process-local lock do not exist here. */
void brain__plat_fork_child(brain *b)
{
    pthread_mutex_init(&b->wl_mu, NULL);
    pthread_cond_init(&b->wl_cv, NULL);
    b->wl_busy = 0;
    struct stat was, now;
    int fd = open(b->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && fstat(b->fd, &was) == 0 && fstat(fd, &now) == 0 && was.st_dev == now.st_dev &&
        was.st_ino == now.st_ino && dup2(fd, b->fd) >= 0) {
        (void)fcntl(b->fd, F_SETFD, FD_CLOEXEC);
        close(fd);
        return;
    }
    if (fd >= 0)
        close(fd);
    b->wl_lost = 1; /* the file was replaced or removed: writes fail with ESTALE */
}
