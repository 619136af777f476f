/*
 * bench_platform.c - what the platform layer costs: one program, built once
 * per layer (build/bench-platform on platform_linux.c, build/posix/...
 * on platform_posix.c); bench/bench_platform.py runs both side by side and
 * prints the ratios (make bench-platform).
 *
 *   bench-platform [--ops N] [--wakes N] [--dir DIR]
 *
 * Prints one line per figure, "RESULT <id> <value> <unit>":
 *   put_ns      brain_put replacing a 100-byte value (the writers' lock
 *               taken and released once per put), one process, ns per put;
 *   put2_ns     the same from two processes at once on one name, ns per put
 *               per process (the lock contended);
 *   read_ns     brain_read of that value (no lock: must not change);
 *   get_ns      brain_get + brain_view_release (no lock);
 *   wake_us_p50, wake_us_p90
 *               brain_wait in another process woken by a put: from just
 *               before brain_put to the waiter's return, the waiter asleep
 *               for 2-4 ms first (so a polling waiter is at its longest
 *               backoff), in microseconds.
 */
#include "brain.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench-platform: %s: %s (%s)\n", what, brain_strerror(rc), brain_errdetail());
    exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double put_loop(brain *b, long ops, const char *name)
{
    char v[100];
    memset(v, 'x', sizeof v);
    uint64_t t0 = now_ns();
    for (long i = 0; i < ops; i++) {
        v[0] = (char)i;
        int rc = brain_put(b, NULL, name, v, sizeof v, NULL, NULL);
        if (rc)
            die("brain_put", rc);
    }
    return (double)(now_ns() - t0) / (double)ops;
}

struct shared {
    _Atomic uint64_t t_put, t_woke;
    _Atomic int ready, stop;
};

int main(int argc, char **argv)
{
    long ops = 200000, wakes = 300;
    const char *dir = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--ops") == 0)
            ops = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--wakes") == 0)
            wakes = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench-platform [--ops N] [--wakes N] [--dir DIR]\n");
            return 2;
        }
    }
    if (ops < 1000 || wakes < 10) {
        fprintf(stderr, "bench-platform: --ops wants >= 1000, --wakes >= 10\n");
        return 2;
    }
    char store[512];
    if (dir)
        snprintf(store, sizeof store, "%s/brain-benchplat-%d", dir, (int)getpid());
    else
        snprintf(store, sizeof store, "benchplat-%d", (int)getpid());
    brain *b;
    brain_config cfg = {.capacity = 64u << 20};
    int rc = brain_open(store, BRAIN_CREATE | BRAIN_EXCL, &cfg, &b);
    if (rc)
        die("brain_open", rc);
    printf("PLATFORM %s\n", brain_platform());

    /* writes, one process */
    put_loop(b, ops / 10, "k"); /* warm */
    printf("RESULT put_ns %.1f ns\n", put_loop(b, ops, "k"));

    /* writes, two processes on one name */
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                             -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        brain *c;
        if (brain_open(store, 0, NULL, &c))
            _exit(1);
        atomic_store(&sh->ready, 1);
        while (!atomic_load(&sh->stop))
            put_loop(c, 1000, "k");
        brain_close(c);
        _exit(0);
    }
    while (!atomic_load(&sh->ready))
        usleep(100);
    printf("RESULT put2_ns %.1f ns\n", put_loop(b, ops / 2, "k"));
    atomic_store(&sh->stop, 1);
    waitpid(pid, NULL, 0);

    /* reads */
    char buf[128];
    size_t n;
    uint64_t t0 = now_ns();
    for (long i = 0; i < ops * 5; i++)
        if ((rc = brain_read(b, NULL, "k", buf, sizeof buf, &n, NULL)))
            die("brain_read", rc);
    printf("RESULT read_ns %.1f ns\n", (double)(now_ns() - t0) / (double)(ops * 5));
    t0 = now_ns();
    for (long i = 0; i < ops * 5; i++) {
        brain_view v;
        if ((rc = brain_get(b, NULL, "k", &v)))
            die("brain_get", rc);
        brain_view_release(b, &v);
    }
    printf("RESULT get_ns %.1f ns\n", (double)(now_ns() - t0) / (double)(ops * 5));

    /* wake-up: a waiter in another process, woken by a put */
    atomic_store(&sh->ready, 0);
    atomic_store(&sh->stop, 0);
    uint64_t ver = 0;
    char v[100] = {0};
    if ((rc = brain_put(b, NULL, "w", v, sizeof v, NULL, &ver)))
        die("brain_put", rc);
    pid = fork();
    if (pid == 0) {
        brain *c;
        if (brain_open(store, 0, NULL, &c))
            _exit(1);
        uint64_t seen = ver;
        for (long i = 0; i < wakes; i++) {
            atomic_store(&sh->ready, 1);
            uint64_t nv = 0;
            if (brain_wait(c, NULL, "w", seen, 10000, &nv))
                _exit(2);
            atomic_store(&sh->t_woke, now_ns());
            seen = nv;
        }
        brain_close(c);
        _exit(0);
    }
    uint64_t *lat = calloc((size_t)wakes, sizeof *lat);
    unsigned seed = 1;
    for (long i = 0; i < wakes; i++) {
        while (!atomic_load(&sh->ready))
            usleep(50);
        atomic_store(&sh->ready, 0);
        atomic_store(&sh->t_woke, 0);
        seed = seed * 1103515245u + 12345u;
        usleep(2000 + (seed >> 16) % 2000); /* the waiter is asleep by now */
        uint64_t tp = now_ns();
        if ((rc = brain_put(b, NULL, "w", v, sizeof v, NULL, NULL)))
            die("brain_put", rc);
        uint64_t tw;
        while (!(tw = atomic_load(&sh->t_woke)))
            sched_yield();
        lat[i] = tw - tp;
    }
    waitpid(pid, NULL, 0);
    qsort(lat, (size_t)wakes, sizeof *lat, cmp_u64);
    printf("RESULT wake_us_p50 %.1f us\n", (double)lat[wakes / 2] / 1e3);
    printf("RESULT wake_us_p90 %.1f us\n", (double)lat[wakes * 9 / 10] / 1e3);
    free(lat);
    brain_close(b);
    brain_destroy(store);
    return 0;
}
