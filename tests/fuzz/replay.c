/*
 * replay.c - runs the fuzz corpus through the fuzz targets' bodies, so the
 * corpus (seeds and every crash ever found) is a regression test that needs
 * no clang: `make test-c` and `make test-san` run it.
 *
 *   fuzz-replay ROOT               every file of ROOT/<target>/ through its
 *                                  target (store-open, store-repair,
 *                                  snapshot-load)
 *   fuzz-replay -t TARGET FILE...  the given files through one target
 *   fuzz-replay --make-corpus ROOT writes the seed corpus
 *
 * A failing input aborts with a message naming it (or, without ASan, the
 * name is printed by a signal handler before the crash is re-raised).
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} targets[] = {
    {"store-open", fuzz_store_open},
    {"store-repair", fuzz_store_repair},
    {"snapshot-load", fuzz_snapshot_load},
    {"store-write", fuzz_store_write},
};
#define NTARGETS (sizeof targets / sizeof targets[0])

static char current[1024];

static void on_crash(int sig)
{
    static const char msg[] = "\nfuzz-replay: crashed on input ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, current, strlen(current));
    (void)!write(2, "\n", 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(int t, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz-replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (n == cap)
            buf = realloc(buf, cap *= 2);
        size_t k = fread(buf + n, 1, cap - n, f);
        if (k == 0)
            break;
        n += k;
    }
    fclose(f);
    snprintf(current, sizeof current, "%s (target %s)", path, targets[t].name);
    fuzz_current = current;
    targets[t].fn(buf, n);
    free(buf);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of DIR, in name order. */
static int run_dir(int t, const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz-replay: cannot open %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc |= run_file(t, path);
        free(names[i]);
    }
    free(names);
    *count += n;
    return rc;
}

int main(int argc, char **argv)
{
#ifndef __SANITIZE_ADDRESS__
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGABRT, on_crash);
    signal(SIGFPE, on_crash);
#else
    (void)on_crash;
#endif
    if (argc == 3 && strcmp(argv[1], "--make-corpus") == 0)
        return fuzz_make_corpus(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "-t") == 0) {
        for (size_t t = 0; t < NTARGETS; t++)
            if (strcmp(argv[2], targets[t].name) == 0) {
                int rc = 0;
                for (int i = 3; i < argc; i++)
                    rc |= run_file((int)t, argv[i]);
                return rc;
            }
        fprintf(stderr, "fuzz-replay: unknown target %s\n", argv[2]);
        return 2;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-replay ROOT | -t TARGET FILE... | --make-corpus ROOT\n");
        return 2;
    }
    int rc = 0;
    size_t total = 0;
    for (size_t t = 0; t < NTARGETS; t++) {
        char dir[4096];
        size_t n = 0;
        snprintf(dir, sizeof dir, "%s/%s", argv[1], targets[t].name);
        rc |= run_dir((int)t, dir, &n);
        printf("fuzz-replay: %s: %zu inputs ok\n", targets[t].name, n);
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "fuzz-replay: no inputs under %s\n", argv[1]);
        return 1;
    }
    return rc;
}
