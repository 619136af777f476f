/*
 * runner.c - runs the tests registered with TEST() (test.h).
 *
 * Every test runs in a forked process that leads its own process group, in
 * a fresh scratch directory, with its output captured (printed only when it
 * fails, or always with -v).  A test that overruns its timeout has its
 * whole process group killed.  After each test the group is killed (no
 * stray helper outlives its test), orphans are reaped (the runner is a
 * child subreaper), and the test's stores (t_store_dir) and its scratch
 * directory are removed.
 *
 *   run-tests [-l] [-v] [-t SCALE] [FILTER...]
 *     FILTER   run the tests whose name contains one of the substrings
 *     -l       list the tests (after filtering) and exit
 *     -v       print every test's output
 *     -t SCALE multiply every timeout by SCALE
 *
 * Output: "ok N name", "ok N name # SKIP why", "not ok N name (reason)",
 * then a closing line "P passed, F failed[, S skipped]".  The exit status
 * is 1 when a test failed.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T_DEFAULT_TIMEOUT_S 30

/* Shared between the runner and a test's processes. */
typedef struct t_shared {
    int failed;  /* first failure wins the reason */
    int skipped;
    char reason[512];
} t_shared;

static volatile sig_atomic_t t_interrupted; /* SIGINT/SIGTERM/SIGHUP */
static t_test *t_list;
static size_t t_count;
static t_shared *t_sh;
pid_t t_test_pid; /* the test process, whose pid names its stores */

void t_register(t_test *t)
{
    t->next = t_list;
    t_list = t;
    t_count++;
}

/* ---- failing and skipping (called in the test's processes) --------------- */
static void t_set_reason(const char *prefix, const char *msg)
{
    if (t_sh == NULL)
        return;
    if (__atomic_exchange_n(&t_sh->failed, 1, __ATOMIC_SEQ_CST) == 0)
        snprintf(t_sh->reason, sizeof t_sh->reason, "%.200s%.300s", prefix, msg);
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[1024], where[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    snprintf(where, sizeof where, "%s:%d: ", base ? base + 1 : file, line);
    fprintf(stderr, "%s%s%s\n", where,
            t_in_child() ? "(helper process) " : "", msg);
    fflush(stderr);
    t_set_reason(where, msg);
    _exit(1); /* no atexit, no leak report on an aborted test */
}

void t_skip(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (t_sh) {
        t_sh->skipped = 1;
        snprintf(t_sh->reason, sizeof t_sh->reason, "%s", msg);
    }
    fprintf(stderr, "skipped: %s\n", msg);
    fflush(stderr);
    exit(0);
}

void t_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- running one test -------------------------------------------------- */
static int t_rm_cb(const char *path, const struct stat *sb, int flag,
                   struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void t_cleanup(pid_t pid, int verbose)
{
    char prefix[64], path[512];
    int n = snprintf(prefix, sizeof prefix, "brain-t%d-", (int)pid);
    DIR *d = opendir(t_store_dir());
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, prefix, (size_t)n) != 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", t_store_dir(), e->d_name);
            if (verbose)
                printf("#   removed leftover %s\n", path);
            if (unlink(path) != 0 && errno == EISDIR)
                nftw(path, t_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        }
        closedir(d);
    }
    snprintf(path, sizeof path, "/tmp/brain-test-%d", (int)pid);
    nftw(path, t_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void t_dump(int fd)
{
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0)
        return;
    off_t start = size > 65536 ? size - 65536 : 0;
    char *buf = malloc((size_t)(size - start) + 1);
    if (!buf)
        return;
    ssize_t got = pread(fd, buf, (size_t)(size - start), start);
    if (got <= 0) {
        free(buf);
        return;
    }
    buf[got] = 0;
    if (start)
        printf("#   [... %lld bytes of output left out]\n", (long long)start);
    char *line = buf, *nl;
    while (*line) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        printf("#   %s\n", line);
        if (!nl)
            break;
        line = nl + 1;
    }
    free(buf);
}

typedef enum { T_PASS, T_FAIL, T_SKIP } t_result;

static void t_on_signal(int sig) { t_interrupted = sig; }

static t_result t_run_one(t_test *t, int idx, double tscale, int verbose)
{
#ifdef __linux__
    int out = memfd_create("brain-test-output", 0);
#else /* macOS: an unlinked temporary file */
    char tmpl[] = "/tmp/brain-test-output-XXXXXX";
    int out = mkstemp(tmpl);
    if (out >= 0)
        unlink(tmpl);
#endif
    if (out < 0) {
        perror("memfd_create");
        exit(2);
    }
    memset(t_sh, 0, sizeof *t_sh);
    int timeout_s = t->timeout_s > 0 ? t->timeout_s : T_DEFAULT_TIMEOUT_S;
    if (t_slow())
        timeout_s *= 2;
    double limit_s = timeout_s * tscale;

    fflush(stdout);
    fflush(stderr);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        setpgid(0, 0);
        dup2(out, 1);
        dup2(out, 2);
        close(out);
        setvbuf(stdout, NULL, _IONBF, 0);
        t_test_pid = getpid();
        if (mkdir(t_dir(), 0700) != 0 || chdir(t_dir()) != 0) {
            perror("scratch directory");
            _exit(3);
        }
        signal(SIGPIPE, SIG_IGN);
        t->fn();
        exit(0);
    }
    setpgid(pid, pid);

    int status = 0, timed_out = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            perror("waitpid");
            exit(2);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double el = (double)(t1.tv_sec - t0.tv_sec) +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (t_interrupted) {
            /* the runner is stopped: take the test down and clean up */
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
            printf("not ok %d %s (interrupted by signal %d)\n", idx, t->name,
                   (int)t_interrupted);
            fflush(stdout);
            t_cleanup(pid, verbose);
            exit(128 + t_interrupted);
        }
        if (el > limit_s) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            timed_out = 1;
            break;
        }
        struct timespec nap = {0, el < 0.1 ? 200000 : 2000000};
        nanosleep(&nap, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    /* No helper outlives its test; reap what was reparented to us. */
    kill(-pid, SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;

    char reason[640];
    t_result res = T_PASS;
    if (timed_out) {
        snprintf(reason, sizeof reason, "timeout after %.0f s%s%s", limit_s,
                 t_sh->failed ? ": " : "", t_sh->failed ? t_sh->reason : "");
        res = T_FAIL;
    } else if (WIFSIGNALED(status)) {
        snprintf(reason, sizeof reason, "killed by signal %d (%s)%s%s",
                 WTERMSIG(status), strsignal(WTERMSIG(status)),
                 t_sh->failed ? ": " : "", t_sh->failed ? t_sh->reason : "");
        res = T_FAIL;
    } else if (WEXITSTATUS(status) != 0 || t_sh->failed) {
        if (t_sh->failed)
            snprintf(reason, sizeof reason, "%s", t_sh->reason);
        else
            snprintf(reason, sizeof reason, "exit code %d%s",
                     WEXITSTATUS(status),
                     t_slow() ? " (sanitizer or valgrind report?)" : "");
        res = T_FAIL;
    } else if (t_sh->skipped) {
        res = T_SKIP;
    }

    if (res == T_FAIL)
        printf("not ok %d %s (%s)\n", idx, t->name, reason);
    else if (res == T_SKIP)
        printf("ok %d %s # SKIP %s\n", idx, t->name, t_sh->reason);
    else
        printf("ok %d %s\n", idx, t->name);
    if (verbose)
        printf("#   %.2f s\n", el);
    if (res == T_FAIL || verbose)
        t_dump(out);
    fflush(stdout);
    close(out);
    t_cleanup(pid, verbose);
    return res;
}

static int t_cmp(const void *a, const void *b)
{
    const t_test *x = *(t_test *const *)a, *y = *(t_test *const *)b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->line - y->line;
}

static int t_selected(const t_test *t, int nf, char **filters)
{
    if (nf == 0)
        return 1;
    for (int i = 0; i < nf; i++)
        if (strstr(t->name, filters[i]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int list = 0, verbose = 0, nf = 0;
    double tscale = 1.0;
    char **filters = calloc((size_t)argc + 1, sizeof *filters);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-l") == 0)
            list = 1;
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            tscale = atof(argv[++i]);
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: %s [-l] [-v] [-t SCALE] [FILTER...]\n", argv[0]);
            return 0;
        } else
            filters[nf++] = argv[i];
    }
    if (tscale <= 0)
        tscale = 1.0;

    t_test **all = calloc(t_count + 1, sizeof *all);
    size_t n = 0;
    for (t_test *t = t_list; t; t = t->next)
        all[n++] = t;
    qsort(all, n, sizeof *all, t_cmp);

    if (list) {
        for (size_t i = 0; i < n; i++)
            if (t_selected(all[i], nf, filters))
                printf("%s\n", all[i]->name);
        return 0;
    }

    (void)t_store_dir(); /* computed once, before any test or thread */
    t_sh = mmap(NULL, sizeof *t_sh, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t_sh == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
#ifdef __linux__
    prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = t_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    int passed = 0, failed = 0, skipped = 0, idx = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) {
        if (!t_selected(all[i], nf, filters))
            continue;
        if (t_interrupted)
            break;
        switch (t_run_one(all[i], ++idx, tscale, verbose)) {
        case T_PASS: passed++; break;
        case T_FAIL: failed++; break;
        case T_SKIP: skipped++; break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("# %d tests in %.1f s%s\n", idx,
           (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
           t_slow() ? " (sanitizer build or valgrind, reduced iterations)" : "");
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    free(all);
    free(filters);
    return failed ? 1 : 0;
}
