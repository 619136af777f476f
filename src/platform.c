/*
 * platform.c - the OS calls that are the same on both platform layers
 * (plain POSIX: clocks, a file system's free space, removing dead
 * processes' temporary files), built with either of them.  What differs
 * between Linux and the portable layer lives in platform_linux.c or
 * platform_posix.c, one of which is built (the Makefile's PLATFORM).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* ---- processes: liveness everywhere; the /proc readers for both layers
 * everywhere but macOS (sysctl there, in platform_posix.c) ------------ */

#ifndef __APPLE__
/* /proc/PID/stat read into BUF (SIZE bytes): a pointer just past the
 * command name (field 2), which may hold spaces and parentheses, so the
 * last ')'; NULL when it cannot be read, with *GONE set when there is no
 * such file (the process is gone, or /proc is not there). */
static const char *proc_stat_fields(pid_t pid, char *buf, size_t size, int *gone)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *gone = fd < 0;
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p ? p + 1 : NULL;
}

/* Field 22 of /proc/PID/stat: start time in clock ticks after boot. */
uint64_t brain__plat_proc_start_time(pid_t pid)
{
    char buf[1024];
    int gone;
    const char *p = proc_stat_fields(pid, buf, sizeof buf, &gone);
    if (!p)
        return 0;
    /* after ')' come fields 3.. ; we want field 22, i.e. the 20th token */
    for (int field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
        if (!*p)
            return 0;
    }
    return strtoull(p, NULL, 10);
}

/* PID's state letter from /proc (R, S, T, Z...), 0 when it is gone. */
char brain__plat_proc_state(pid_t pid)
{
    char buf[512];
    int gone;
    const char *p = proc_stat_fields(pid, buf, sizeof buf, &gone);
    if (gone)
        return kill(pid, 0) == 0 || errno == EPERM ? 'R' : 0;
    return p && p[0] == ' ' && p[1] ? p[1] : 0;
}
#endif /* !__APPLE__ */

/* 1 when PID is alive and (when known) started at START_TIME. */
int brain__plat_proc_alive(pid_t pid, uint64_t start_time)
{
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    if (start_time == 0)
        return 1;
    uint64_t st = brain__plat_proc_start_time(pid);
    if (st == 0) /* /proc or sysctl unreadable: trust kill() */
        return kill(pid, 0) == 0 || errno == EPERM;
    return st == start_time;
}

/* ---- clocks, space, temporary files ---------------------------------------- */

int brain__plat_no_prealloc;

int64_t brain__plat_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t brain__plat_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void brain__plat_random_mix(uint8_t *buf, size_t len)
{
    uint64_t x = (uint64_t)brain__plat_mono_ns() ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

int brain__plat_fs_free(int fd, uint64_t *bytes)
{
    struct statvfs sv;
    if (fstatvfs(fd, &sv) != 0)
        return errno;
    *bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return 0;
}

/* pwrite until all N bytes are written: a short write is continued (the
 * next call then reports the error that cut it short, ENOSPC on a full
 * tmpfs), EINTR retried.  Pieces of at most 1 GiB (Linux writes at most
 * 2 GiB - 4 KiB per call). */
int brain__plat_write_at(int fd, uint64_t off, const void *p, size_t n, size_t *done)
{
    const char *c = p;
    size_t at = 0;
    int err = 0;
    while (at < n) {
        size_t piece = n - at < (1u << 30) ? n - at : (1u << 30);
        ssize_t w = pwrite(fd, c + at, piece, (off_t)(off + at));
        if (w > 0) {
            at += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            err = w < 0 ? errno : ENOSPC; /* 0 bytes written and no error: no room */
            break;
        }
    }
    if (done)
        *done = at;
    return err;
}

/* Removes what processes killed while writing left beside PATH: files of
 * PATH's directory named PREFIX...".tmp-PID-XXXXXXXX" (the temporary names
 * of snapshot saves and store creation) whose PID is no longer running,
 * owned by this user, regular, and either shorter than 8 bytes or starting
 * with MAGIC (8 bytes).  Best effort: errors are ignored.  A process of
 * another PID namespace sharing the directory can look dead from here; its
 * temporary file is then removed and its save or create fails cleanly. */
void brain__plat_clean_stale_tmp(const char *path, const char *prefix, const char *magic)
{
    char dir[BRAIN_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    else
        return;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    size_t plen = strlen(prefix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name, *t = strstr(n, ".tmp-");
        if (!t || strncmp(n, prefix, plen) != 0)
            continue;
        while (strstr(t + 1, ".tmp-")) /* the last one */
            t = strstr(t + 1, ".tmp-");
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (pid <= 0 || *end != '-' || strlen(end + 1) != 8 || strspn(end + 1, "0123456789abcdef") != 8)
            continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        int fd = openat(dfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
            continue;
        struct stat st;
        char head[8];
        int ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
                   (st.st_size < 8 || (pread(fd, head, 8, 0) == 8 && memcmp(head, magic, 8) == 0));
        close(fd);
        if (ours)
            unlinkat(dfd, n, 0);
    }
    closedir(d);
}


/* The size of the open file FD: 0 (and *SIZE), or an errno value. */
int brain__plat_file_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno;
    *size = (uint64_t)st.st_size;
    return 0;
}
