/*
 * demo.c - two processes sharing values through a brain-plasma store.
 *
 * `demo` starts a second copy of itself as the reader, then writes: a
 * greeting, and a 100 MB float64 array written straight into the store
 * (reserve + publish, no extra copy).  The reader waits for each name
 * (futex, no polling), reads it, and prints what it got and how long the
 * get took.  Run by `make demo`.
 */
#include <brain.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define STORE "demo"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "demo: %s: %s\n", what, *brain_errdetail() ? brain_errdetail() : brain_strerror(rc));
    return 1;
}

static int reader(void)
{
    brain *b;
    int rc = brain_open(STORE, BRAIN_CREATE, NULL, &b);
    if (rc)
        return die("reader: open", rc);
    uint64_t ver;
    if ((rc = brain_wait(b, NULL, "greeting", 0, 10000, &ver)))
        return die("reader: wait for greeting", rc);
    char buf[256];
    size_t n;
    double t0 = now_s();
    rc = brain_read(b, NULL, "greeting", buf, sizeof buf - 1, &n, NULL);
    double t1 = now_s();
    if (rc)
        return die("reader: read greeting", rc);
    buf[n] = 0;
    printf("[reader pid %d] greeting = \"%s\"  (copied in %.2f us)\n", (int)getpid(), buf, (t1 - t0) * 1e6);

    if ((rc = brain_wait(b, NULL, "prices", 0, 10000, &ver)))
        return die("reader: wait for prices", rc);
    brain_view v;
    t0 = now_s();
    rc = brain_get(b, NULL, "prices", &v);
    brain_array a;
    if (rc == 0)
        rc = brain_array_parse(v.data, v.size, &a);
    t1 = now_s();
    if (rc)
        return die("reader: get prices", rc);
    const double *p = a.data;
    double sum = 0;
    for (uint64_t i = 0; i < a.shape[0]; i++)
        sum += p[i];
    printf("[reader pid %d] prices = ndarray %s shape (%llu,), %.1f MB, zero-copy view in %.2f us; "
           "p[0]=%.2f p[last]=%.2f sum=%.6g\n",
           (int)getpid(), a.dtype, (unsigned long long)a.shape[0], (double)a.nbytes / 1e6, (t1 - t0) * 1e6,
           p[0], p[a.shape[0] - 1], sum);
    brain_view_release(b, &v);
    brain_close(b);
    return 0;
}

static int writer(const char *self)
{
    brain_destroy(STORE); /* a fresh demo store each run */
    brain *b;
    brain_config cfg = {.capacity = 512ull << 20};
    int rc = brain_open(STORE, BRAIN_CREATE, &cfg, &b);
    if (rc)
        return die("writer: create", rc);
    printf("[writer pid %d] store %s: capacity 512 MB\n", (int)getpid(), brain_path(b));
    pid_t child;
    char *argv[] = {(char *)self, "reader", NULL};
    if (posix_spawn(&child, self, NULL, NULL, argv, environ) != 0) {
        perror("demo: spawn reader");
        return 1;
    }
    usleep(200000);
    const char *msg = "hello from another process";
    if ((rc = brain_put(b, NULL, "greeting", msg, strlen(msg), &(brain_put_opts){.type = BRAIN_TYPE_STR}, NULL)))
        return die("writer: put greeting", rc);
    printf("[writer pid %d] put greeting\n", (int)getpid());

    uint64_t n = 100000000 / 8, shape[1] = {n};
    brain_array a;
    brain_array_init(&a, "<f8", 1, shape);
    brain_reservation *res;
    void *dst;
    double t0 = now_s();
    rc = brain_reserve(b, NULL, "prices", a.data_offset + a.nbytes, &(brain_put_opts){.type = BRAIN_TYPE_ARRAY},
                       &res, &dst);
    if (rc)
        return die("writer: reserve prices", rc);
    brain_array_write_header(&a, dst, a.data_offset);
    double *p = (double *)((char *)dst + a.data_offset);
    for (uint64_t i = 0; i < n; i++)
        p[i] = 100.0 + (double)(i % 1000) * 0.01;
    if ((rc = brain_publish(b, res, NULL)))
        return die("writer: publish prices", rc);
    printf("[writer pid %d] wrote prices (100 MB float64) in place in %.1f ms\n", (int)getpid(),
           (now_s() - t0) * 1e3);
    int status;
    waitpid(child, &status, 0);
    brain_close(b);
    brain_destroy(STORE);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "reader") == 0)
        return reader();
    return writer("/proc/self/exe");
}
