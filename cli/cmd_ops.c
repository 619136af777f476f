/*
 * cmd_ops.c - subcommands for operating a store: show, stats, resize,
 * clear, save, load, watch, serve.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *ns_or_default(const struct cli_args *a)
{
    const char *ns = cli_opt(a, "namespace");
    return ns ? ns : "default";
}

static int fail_close(const struct cli_args *a, brain *b, int rc)
{
    cli_brain_error(a, rc);
    brain_close(b);
    return EXIT_FAIL;
}

/* ---- show ------------------------------------------------------------------- */

static void fmt_time(int64_t ns, char *buf, size_t cap)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_show(struct cli_args *a)
{
    const char *ns = ns_or_default(a);
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    brain_view v;
    int rc = brain_get(b, ns, a->pos[1], &v);
    if (rc != BRAIN_OK)
        return fail_close(a, b, rc);
    const brain_info *it = &v.info;
    char kind[256], created[32], updated[32], expires[32], size[32], age[32];
    cli_describe(it, v.data, v.size, kind, sizeof kind);
    fmt_time(it->created_ns, created, sizeof created);
    fmt_time(it->updated_ns, updated, sizeof updated);
    if (it->expires_ns)
        fmt_time(it->expires_ns, expires, sizeof expires);
    else
        snprintf(expires, sizeof expires, "never");
    int64_t now = cli_now_ns();
    if (cli_flag(a, "json")) {
        printf("{\"namespace\": ");
        cli_json_str(stdout, it->ns);
        printf(", \"name\": ");
        cli_json_str(stdout, it->name);
        printf(", \"type\": ");
        cli_json_str(stdout, brain_type_name(it->type));
        printf(", \"kind\": ");
        cli_json_str(stdout, kind);
        printf(", \"type_tag\": %u, \"size\": %" PRIu64 ", \"version\": %" PRIu64
               ", \"created_ns\": %" PRId64 ", \"updated_ns\": %" PRId64
               ", \"expires_ns\": %" PRId64 ", \"age_s\": %.3f, \"desc\": ",
               it->type, v.size, it->version, it->created_ns, it->updated_ns,
               it->expires_ns, (double)(now - it->updated_ns) / 1e9);
        cli_json_str(stdout, it->desc);
        printf(", \"object_id\": \"");
        for (int k = 0; k < BRAIN_OBJECT_ID_SIZE; k++)
            printf("%02x", it->object_id[k]);
        printf("\"}\n");
    } else {
        printf("%-12s ", "namespace:");
        cli_print_text(stdout, it->ns, 0, 0);
        printf("\n%-12s ", "name:");
        cli_print_text(stdout, it->name, 0, 0);
        printf("\n%-12s %s\n", "type:", cli_safe(kind)); /* read from the value */
        printf("%-12s %s (%" PRIu64 " bytes)\n", "size:",
               cli_fmt_size(v.size, size, sizeof size), v.size);
        printf("%-12s %" PRIu64 "\n", "version:", it->version);
        printf("%-12s %s\n", "created:", created);
        printf("%-12s %s (%s ago)\n", "stored:", updated,
               cli_fmt_duration(now - it->updated_ns, age, sizeof age));
        printf("%-12s %s\n", "expires:", expires);
        printf("%-12s ", "description:");
        cli_print_text(stdout, *it->desc ? it->desc : "-", 0, 0);
        printf("\n%-12s ", "preview:");
        cli_preview(stdout, it, v.data, v.size);
        putchar('\n');
    }
    brain_view_release(b, &v);
    brain_close(b);
    return EXIT_OK;
}

/* ---- stats ------------------------------------------------------------------ */

/* Fragmentation: the share of free space that a value cannot use in one
 * piece (0 when the free space is one block). */
static double fragmentation(const brain_stats *st)
{
    if (st->free == 0 || st->largest_free >= st->free)
        return 0.0;
    return 1.0 - (double)st->largest_free / (double)st->free;
}

int cmd_stats(struct cli_args *a)
{
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    brain_stats st;
    brain_ns_info *nsv = NULL;
    brain_proc_info *pv = NULL;
    size_t nns = 0, np = 0;
    int rc = brain_stats_get(b, &st);
    if (rc == BRAIN_OK)
        rc = brain_namespaces(b, &nsv, &nns);
    if (rc == BRAIN_OK)
        rc = brain_procs(b, &pv, &np);
    if (rc != BRAIN_OK) {
        free(nsv);
        return fail_close(a, b, rc);
    }
    double frag = fragmentation(&st);
    char x[32], y[32], z[32];
    if (cli_flag(a, "json")) {
        printf("{\"path\": ");
        cli_json_str(stdout, brain_path(b));
        printf(", \"capacity\": %" PRIu64 ", \"file_size\": %" PRIu64
               ", \"used\": %" PRIu64 ", \"free\": %" PRIu64
               ", \"largest_free\": %" PRIu64 ", \"limbo\": %" PRIu64
               ", \"fragmentation\": %.4f, \"names\": %" PRIu64
               ", \"version\": %" PRIu64 ", \"blocks\": %" PRIu64
               ", \"free_blocks\": %" PRIu64 ", \"recoveries\": %" PRIu64
               ", \"reaped\": %" PRIu64 ", \"max_procs\": %u, \"namespaces\": [",
               st.capacity, st.file_size, st.used, st.free, st.largest_free,
               st.limbo, frag, st.names, st.version, st.blocks, st.free_blocks,
               st.recoveries, st.reaped, st.max_procs);
        for (size_t i = 0; i < nns; i++) {
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_str(stdout, nsv[i].name);
            printf(", \"names\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
                   nsv[i].names, nsv[i].bytes);
        }
        printf("], \"processes\": [");
        for (size_t i = 0; i < np; i++)
            printf("%s{\"pid\": %d, \"pins\": %u, \"reservations\": %u, "
                   "\"alive\": %s, \"self\": %s}",
                   i ? ", " : "", pv[i].pid, pv[i].pins, pv[i].reservations,
                   pv[i].alive ? "true" : "false", pv[i].self ? "true" : "false");
        printf("]}\n");
    } else {
        printf("%-14s %s\n", "path:", cli_safe(brain_path(b)));
        printf("%-14s %s (file %s)\n", "capacity:",
               cli_fmt_size(st.capacity, x, sizeof x),
               cli_fmt_size(st.file_size, y, sizeof y));
        printf("%-14s %s (%.1f%%)\n", "used:", cli_fmt_size(st.used, x, sizeof x),
               st.capacity ? 100.0 * (double)st.used / (double)st.capacity : 0.0);
        printf("%-14s %s, largest block %s\n", "free:",
               cli_fmt_size(st.free, x, sizeof x),
               cli_fmt_size(st.largest_free, y, sizeof y));
        printf("%-14s %.1f%% (%" PRIu64 " free blocks of %" PRIu64 ")\n",
               "fragmentation:", 100.0 * frag, st.free_blocks, st.blocks);
        printf("%-14s %s\n", "awaiting:", cli_fmt_size(st.limbo, z, sizeof z));
        printf("%-14s %" PRIu64 "\n", "names:", st.names);
        printf("%-14s %" PRIu64 "\n", "version:", st.version);
        printf("%-14s %" PRIu64 " recoveries, %" PRIu64 " dead processes reaped\n",
               "repairs:", st.recoveries, st.reaped);
        printf("\n%-24s %10s %12s\n", "NAMESPACE", "NAMES", "BYTES");
        for (size_t i = 0; i < nns; i++) {
            cli_print_text(stdout, nsv[i].name, 24, 0);
            printf(" %10" PRIu64 " %12s\n", nsv[i].names,
                   cli_fmt_size(nsv[i].bytes, x, sizeof x));
        }
        printf("\n%-10s %6s %13s  %s\n", "PID", "PINS", "RESERVATIONS", "STATE");
        for (size_t i = 0; i < np; i++)
            printf("%-10d %6u %13u  %s\n", pv[i].pid, pv[i].pins, pv[i].reservations,
                   pv[i].self ? "this command" : pv[i].alive ? "alive" : "dead");
    }
    free(nsv);
    free(pv);
    brain_close(b);
    return EXIT_OK;
}

/* ---- resize, clear ---------------------------------------------------------- */

int cmd_resize(struct cli_args *a)
{
    uint64_t size;
    if (brain_parse_size(a->pos[1], &size) != BRAIN_OK || size == 0)
        return cli_usage_error(a, "bad size '%s': use bytes or a number with a "
                                  "unit (64MiB, 2GB)", a->pos[1]);
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    brain_stats before;
    int rc = brain_stats_get(b, &before);
    if (rc == BRAIN_OK)
        rc = brain_resize(b, size);
    if (rc != BRAIN_OK)
        return fail_close(a, b, rc);
    brain_stats st;
    char x[32], y[32];
    if (brain_stats_get(b, &st) == BRAIN_OK)
        printf("resized %s: capacity %s -> %s\n", cli_safe(brain_path(b)),
               cli_fmt_size(before.capacity, x, sizeof x),
               cli_fmt_size(st.capacity, y, sizeof y));
    brain_close(b);
    return EXIT_OK;
}

int cmd_clear(struct cli_args *a)
{
    const char *ns = cli_opt(a, "namespace");
    if (!ns)
        return cli_usage_error(a, "say which namespace to clear with --namespace NS "
                                  "(use 'brain destroy' to remove the whole store)");
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    size_t removed = 0;
    int rc = brain_ns_clear(b, ns, &removed);
    if (rc != BRAIN_OK)
        return fail_close(a, b, rc);
    printf("cleared namespace ");
    cli_print_text(stdout, ns, 0, 0);
    printf(": %zu name%s deleted\n", removed, removed == 1 ? "" : "s");
    brain_close(b);
    return EXIT_OK;
}

/* ---- snapshots: the default file and the progress bar ------------------------ */

/* A snapshot directory is used only when it is a real directory (opened
 * with O_NOFOLLOW, so never through a link) owned by this user and not
 * writable by others, as fstat says of the directory opened, not of
 * whatever the name pointed at a moment before; created private (mkdirat
 * under the parent's descriptor) when missing and MAKE.  Returns its
 * descriptor, -1 when it does not exist and !MAKE (nothing to load from),
 * or -2 after printing why it is refused.  SHOWN is its path, for
 * messages. */
static int snapshot_dir_open(const struct cli_args *a, int parent, const char *name,
                             const char *shown, int make)
{
    if (make && mkdirat(parent, name, 0700) != 0 && errno != EEXIST)
        return cli_error(a, "cannot create '%s': %s", shown, strerror(errno)), -2;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT && !make)
            return -1;
        if (errno == ELOOP || errno == ENOTDIR || errno == EMLINK)
            return cli_error(a, "snapshot directory '%s' is not a directory (a symbolic link or "
                                "another file); snapshots are never written through links",
                             shown), -2;
        return cli_error(a, "cannot use '%s': %s", shown, strerror(errno)), -2;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cli_error(a, "cannot use '%s': %s", shown, strerror(e)), -2;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
        close(fd);
        return cli_error(a, "snapshot directory '%s' is owned by uid %u or writable by others; "
                            "refusing to use it (give the snapshot FILE)", shown,
                         (unsigned)st.st_uid), -2;
    }
    return fd;
}

/* The standard snapshot file of the store at STORE_PATH, as
 * Brain.snapshot_path() in Python (docs/SNAPSHOT.md):
 *   a bare name (/dev/shm/brain-NAME):  $XDG_DATA_HOME/brain-plasma/NAME.snapshot
 *   any other path P:  $XDG_DATA_HOME/brain-plasma/path/P'.snapshot, where P'
 *                      is P with '%' written %25 and '/' written %2F
 * so two stores never share one (before 0.4.1 any store used its last path
 * component, so /dev/shm/brain-app and /srv/x/app shared app.snapshot).
 * That old file is still used, when the new one does not exist, if it was
 * written by or loaded whole into the store B (brain_snapshot_info); a
 * load into a store that does not exist yet cannot tell, and is told so. */
static int default_snapshot(const struct cli_args *a, brain *b, const char *store_path,
                            char *out, size_t cap, int make_dir)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char base[BRAIN_PATH_MAX];
    if (xdg && *xdg)
        snprintf(base, sizeof base, "%s", xdg);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.local/share", home);
    else
        return cli_error(a, "neither XDG_DATA_HOME nor HOME is set: give the "
                            "snapshot FILE");
    char dir[BRAIN_PATH_MAX], sub[BRAIN_PATH_MAX], key[3 * BRAIN_PATH_MAX];
    /* a bare name's store (in /dev/shm, or $TMPDIR on macOS) -> the name */
    char prefix[BRAIN_PATH_MAX];
    size_t pl = brain_resolve("x", prefix, sizeof prefix) == 0 ? strlen(prefix) - 1 : 0;
    int bare = pl && strncmp(store_path, prefix, pl) == 0 && !strchr(store_path + pl, '/');
    if (bare) {
        snprintf(key, sizeof key, "%s", store_path + pl);
    } else {
        char *k = key;
        for (const char *c = store_path; *c; c++)
            k += *c == '/' ? sprintf(k, "%%2F") : *c == '%' ? sprintf(k, "%%25") : sprintf(k, "%c", *c);
        *k = 0;
    }
    if ((size_t)snprintf(dir, sizeof dir, "%s/brain-plasma", base) >= sizeof dir ||
        (size_t)snprintf(sub, sizeof sub, "%s/path", dir) >= sizeof sub ||
        (size_t)snprintf(out, cap, "%s/%s.snapshot", bare ? dir : sub, key) >= cap)
        return cli_error(a, "the default snapshot path under '%s' is too long; give the "
                            "snapshot FILE", base);
    if (make_dir) { /* mkdir -p of base (links there are the user's), then ours */
        char tmp[BRAIN_PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", base);
        for (char *p = tmp + 1; *p; p++)
            if (*p == '/') {
                *p = '\0';
                mkdir(tmp, 0700);
                *p = '/';
            }
        mkdir(tmp, 0700);
    }
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
    if (bfd < 0) {
        if (errno == ENOENT && !make_dir) /* nothing saved yet: the load says so */
            return 0;
        return cli_error(a, "cannot use '%s': %s", base, strerror(errno));
    }
    /* our directories are private, so no one else can swap what lies in
     * them; BASE must not let others swap them either */
    struct stat st;
    if (fstat(bfd, &st) != 0 || ((st.st_mode & 002) && !(st.st_mode & S_ISVTX))) {
        close(bfd);
        return cli_error(a, "'%s' is writable by every user (without the sticky bit): "
                            "snapshot directories there could be replaced by anyone; "
                            "set XDG_DATA_HOME elsewhere or give the snapshot FILE", base);
    }
    int dfd = snapshot_dir_open(a, bfd, "brain-plasma", dir, make_dir);
    close(bfd);
    if (dfd == -2)
        return -1;
    if (dfd == -1) /* nothing saved yet */
        return 0;
    int sfd = -1;
    if (!bare) {
        sfd = snapshot_dir_open(a, dfd, "path", sub, make_dir);
        if (sfd == -2) {
            close(dfd);
            return -1;
        }
    }
    const char *file = strrchr(out, '/') + 1;
    int found = 0;
    if (sfd >= 0) {
        found = fstatat(sfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
        close(sfd);
    }
    if (bare || found) {
        close(dfd);
        return 0;
    }
    /* the old default: the last path component */
    const char *leaf = strrchr(store_path, '/');
    leaf = leaf ? leaf + 1 : store_path;
    char old[BRAIN_PATH_MAX], old_leaf[BRAIN_PATH_MAX];
    int old_there = (size_t)snprintf(old_leaf, sizeof old_leaf, "%s.snapshot", leaf) < sizeof old_leaf &&
                    (size_t)snprintf(old, sizeof old, "%s/%s", dir, old_leaf) < sizeof old &&
                    fstatat(dfd, old_leaf, &st, AT_SYMLINK_NOFOLLOW) == 0;
    close(dfd);
    if (!old_there)
        return 0;
    int ours = 0;
    if (b && brain_snapshot_info(b, old, NULL, &ours) == BRAIN_OK && ours) {
        snprintf(out, cap, "%s", old);
        return 0;
    }
    if (!make_dir) /* loading: say why the old file is not used */
        fprintf(stderr, "brain: note: '%s' (the default file of brain-plasma before 0.4.1) is "
                        "not known to be this store's; give it as FILE if it is\n", cli_safe(old));
    return 0;
}

struct bar {
    int on;
    const char *phase;
    int shown;
};

static void bar_draw(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    struct bar *bar = ctx;
    if (!bar->on)
        return;
    if (bar->phase && strcmp(bar->phase, phase) != 0 && bar->shown)
        fputc('\n', stderr);
    bar->phase = phase;
    bar->shown = 1;
    int pct = total ? (int)(done * 100 / total) : 100;
    int fill = pct * 30 / 100;
    char d[32], t[32];
    fprintf(stderr, "\r%-6s [%.*s%*s] %3d%%  %s / %s ", phase, fill,
            "##############################", 30 - fill, "", pct,
            cli_fmt_size(done, d, sizeof d), cli_fmt_size(total, t, sizeof t));
    fflush(stderr);
}

static void bar_done(struct bar *bar)
{
    if (bar->on && bar->shown)
        fputc('\n', stderr);
    bar->shown = 0;
}

/* ---- save, load --------------------------------------------------------------- */

int cmd_save(struct cli_args *a)
{
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    char path[BRAIN_PATH_MAX];
    if (a->npos > 1)
        snprintf(path, sizeof path, "%s", a->pos[1]);
    else if (default_snapshot(a, b, brain_path(b), path, sizeof path, 1) != 0) {
        brain_close(b);
        return EXIT_FAIL;
    }
    struct bar bar = {isatty(2) && !cli_flag(a, "quiet"), NULL, 0};
    brain_set_progress(b, bar_draw, &bar);
    uint64_t n = 0;
    int64_t t0 = cli_now_ns();
    int rc = brain_snapshot_save(b, path, &n);
    bar_done(&bar);
    if (rc != BRAIN_OK)
        return fail_close(a, b, rc);
    struct stat sb;
    char sz[32];
    printf("saved %" PRIu64 " name%s of %s to %s (%s in %.2f s)\n", n, n == 1 ? "" : "s",
           cli_safe(brain_path(b)), cli_safe(path),
           cli_fmt_size(stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0, sz, sizeof sz),
           (double)(cli_now_ns() - t0) / 1e9);
    brain_close(b);
    return EXIT_OK;
}

int cmd_load(struct cli_args *a)
{
    uint64_t size = 0;
    int rc;
    if ((rc = cli_get_size(a, "size", &size)) != 0)
        return rc;
    char store_path[BRAIN_PATH_MAX], path[BRAIN_PATH_MAX];
    if (brain_resolve(a->pos[0], store_path, sizeof store_path) != BRAIN_OK)
        return cli_brain_error(a, BRAIN_EINVAL);
    brain *b = NULL;
    int created = 0;
    rc = brain_open(a->pos[0], 0, NULL, &b);
    if (rc == BRAIN_OK && size) {
        brain_close(b);
        return cli_usage_error(a, "--size is for a store that load creates; '%s' "
                                  "exists (use 'brain resize')", a->pos[0]);
    }
    if (rc != BRAIN_OK && rc != BRAIN_ENOSTORE)
        return cli_brain_error(a, rc);
    if (a->npos > 1)
        snprintf(path, sizeof path, "%s", a->pos[1]);
    else if (default_snapshot(a, b, store_path, path, sizeof path, 0) != 0) {
        brain_close(b);
        return EXIT_FAIL;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        brain_close(b);
        return cli_error(a, "cannot read snapshot '%s': %s", path, strerror(errno));
    }
    /* A missing store is created, sized to hold the snapshot with room to
     * spare (the file grows only as values arrive, so room costs nothing). */
    if (rc == BRAIN_ENOSTORE) {
        brain_config cfg = {0};
        cfg.capacity = size ? size : (uint64_t)sb.st_size + (uint64_t)sb.st_size / 4 + (16u << 20);
        rc = brain_open(a->pos[0], BRAIN_CREATE | BRAIN_EXCL, &cfg, &b);
        created = rc == BRAIN_OK;
    }
    if (rc != BRAIN_OK)
        return cli_brain_error(a, rc);
    cli_lock_timeout(b);
    struct bar bar = {isatty(2) && !cli_flag(a, "quiet"), NULL, 0};
    brain_set_progress(b, bar_draw, &bar);
    uint64_t n = 0;
    int64_t t0 = cli_now_ns();
    rc = brain_snapshot_load(b, path, cli_flag(a, "merge") ? BRAIN_LOAD_MERGE : 0, &n);
    bar_done(&bar);
    if (rc != BRAIN_OK) {
        cli_brain_error(a, rc);
        brain_close(b);
        if (created) /* leave no half-made store behind */
            brain_destroy(store_path);
        return EXIT_FAIL;
    }
    printf("loaded %" PRIu64 " name%s into %s%s from %s in %.2f s\n", n,
           n == 1 ? "" : "s", cli_safe(brain_path(b)), created ? " (created)" : "", cli_safe(path),
           (double)(cli_now_ns() - t0) / 1e9);
    brain_close(b);
    return EXIT_OK;
}

/* ---- watch ---------------------------------------------------------------------- */

struct seen {
    char *name;
    uint64_t version;
};

static int cmp_seen(const void *x, const void *y)
{
    return strcmp(((const struct seen *)x)->name, ((const struct seen *)y)->name);
}

static void seen_free(struct seen *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].name);
    free(s);
}

/* The names of NS with their versions, sorted by name. */
static int seen_take(brain *b, const char *ns, struct seen **out, size_t *n)
{
    brain_list *l = NULL;
    int rc = brain_list_names(b, ns, 0, &l);
    if (rc != BRAIN_OK)
        return rc;
    size_t cnt = l ? l->count : 0;
    struct seen *s = calloc(cnt ? cnt : 1, sizeof *s);
    if (!s) {
        brain_list_free(l);
        return BRAIN_ENOMEM;
    }
    for (size_t i = 0; i < cnt; i++) {
        s[i].name = strdup(l->items[i].name);
        s[i].version = l->items[i].version;
        if (!s[i].name) {
            seen_free(s, i);
            brain_list_free(l);
            return BRAIN_ENOMEM;
        }
    }
    brain_list_free(l);
    qsort(s, cnt, sizeof *s, cmp_seen);
    *out = s;
    *n = cnt;
    return BRAIN_OK;
}

static void watch_line(const char *ns, const char *name, const char *what, uint64_t version)
{
    char ts[32];
    int64_t now = cli_now_ns();
    fmt_time(now, ts, sizeof ts);
    printf("%s  ", ts);
    cli_print_text(stdout, ns, 0, 0);
    putchar('/');
    cli_print_text(stdout, name, 0, 0);
    printf("  %s  version %" PRIu64 "\n", what, version);
    fflush(stdout);
}

/* Prints the differences between two sorted listings; returns how many. */
static long watch_diff(const char *ns, struct seen *o, size_t no, struct seen *n, size_t nn)
{
    long lines = 0;
    size_t i = 0, j = 0;
    while (i < no || j < nn) {
        int c = i == no ? 1 : j == nn ? -1 : strcmp(o[i].name, n[j].name);
        if (c < 0) {
            watch_line(ns, o[i].name, "deleted", o[i].version);
            i++;
        } else if (c > 0) {
            watch_line(ns, n[j].name, "stored", n[j].version);
            j++;
        } else {
            if (o[i].version != n[j].version)
                watch_line(ns, n[j].name, "stored", n[j].version);
            lines += o[i].version != n[j].version;
            i++;
            j++;
            continue;
        }
        lines++;
    }
    return lines;
}

int cmd_watch(struct cli_args *a)
{
    const char *ns = ns_or_default(a);
    const char *name = a->npos > 1 ? a->pos[1] : NULL;
    int64_t timeout = -1;
    uint32_t count = 0;
    int rc;
    if ((rc = cli_get_duration_ms(a, "timeout", &timeout)) != 0 ||
        (rc = cli_get_u32(a, "count", &count)) != 0)
        return rc;
    if (!cli_opt(a, "timeout"))
        timeout = -1;
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    int64_t deadline = timeout >= 0 ? cli_now_ns() + timeout * 1000000 : 0;
    uint64_t ver = 0;
    /* the current version: a wait for anything but UINT64_MAX returns at once */
    rc = brain_wait(b, ns, name, UINT64_MAX, 0, &ver);
    struct seen *old = NULL;
    size_t nold = 0;
    if (rc == BRAIN_OK && !name)
        rc = seen_take(b, ns, &old, &nold);
    if (rc != BRAIN_OK)
        return fail_close(a, b, rc);
    long printed = 0;
    for (;;) {
        int64_t left = -1;
        if (timeout >= 0) {
            left = (deadline - cli_now_ns()) / 1000000;
            if (left <= 0)
                break;
        }
        uint64_t now_ver = 0;
        rc = brain_wait(b, ns, name, ver, left, &now_ver);
        if (rc == BRAIN_ETIMEDOUT)
            break;
        if (rc != BRAIN_OK) {
            seen_free(old, nold);
            return fail_close(a, b, rc);
        }
        ver = now_ver;
        if (name) {
            watch_line(ns, name, ver ? "stored" : "deleted", ver);
            printed++;
        } else {
            struct seen *cur = NULL;
            size_t ncur = 0;
            if ((rc = seen_take(b, ns, &cur, &ncur)) != BRAIN_OK) {
                seen_free(old, nold);
                return fail_close(a, b, rc);
            }
            printed += watch_diff(ns, old, nold, cur, ncur);
            seen_free(old, nold);
            old = cur;
            nold = ncur;
        }
        if (count && printed >= (long)count)
            break;
    }
    seen_free(old, nold);
    brain_close(b);
    return EXIT_OK;
}

/* ---- serve ----------------------------------------------------------------------- */

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    char ts[32];
    fmt_time(cli_now_ns(), ts, sizeof ts);
    fprintf(stderr, "%s brain serve: ", ts);
    /* messages name the store, the snapshot and names: escaped */
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cli_print_text(stderr, buf, 0, 0);
    fputc('\n', stderr);
    fflush(stderr);
}

/* SIGTERM and SIGINT are taken by a thread of their own, so that serve
 * stops whatever it is doing: when the main loop is idle (or gets there
 * within STOP_GRACE_S) it saves its final snapshot and exits; when it is
 * restoring (the restore is all or nothing: the store stays as it was), or
 * still busy after the grace (a writers' lock held by a stopped process), or
 * on a second signal, the process exits at once with status 1.  The
 * snapshot file is only ever replaced by rename, so an exit at any point
 * leaves the last complete snapshot in place. */
#define STOP_GRACE_S 10
enum { IDLE, RESTORING, BUSY };
static _Atomic int g_busy;
static _Atomic int g_stop_sig, g_ack;
static pthread_t g_main_thread;

static const char *signame(int sig) { return sig == SIGTERM ? "SIGTERM" : "SIGINT"; }

static void *stop_watcher(void *arg)
{
    sigset_t *term = arg;
    int sig;
    while (sigwait(term, &sig) != 0)
        ;
    g_stop_sig = sig;
    if (g_busy == RESTORING) {
        logf_("%s during the restore: stopping at once; the store was not changed", signame(sig));
        _exit(EXIT_FAIL);
    }
    pthread_kill(g_main_thread, SIGUSR2); /* wakes the loop's cli_sigtimedwait */
    for (int i = 0; i < STOP_GRACE_S * 10 && !g_ack; i++) {
        struct timespec ts = {0, 100000000};
        sigset_t pend;
        sigpending(&pend);
        if (sigismember(&pend, SIGTERM) || sigismember(&pend, SIGINT))
            break; /* asked twice */
        nanosleep(&ts, NULL);
    }
    if (!g_ack) {
        logf_("%s: still busy (a writers' lock held elsewhere?): stopping at once without a "
              "final snapshot; the last one is intact", signame(sig));
        _exit(EXIT_FAIL);
    }
    /* the loop is saving its final snapshot: a second signal cuts it short */
    while (sigwait(term, &sig) != 0)
        ;
    logf_("%s again: stopping at once; the last complete snapshot is intact", signame(sig));
    _exit(EXIT_FAIL);
}

/* Saves a snapshot when the store changed since the last one.  Returns 0
 * when the file holds the store as of *saved_ver, -1 when the save failed
 * or was refused.  A file that this store neither wrote nor loaded whole is
 * never replaced: it may hold names the store does not (a restore that did
 * not finish, another store's file). */
static int serve_snapshot(brain *b, const char *path, uint64_t *saved_ver, const char *why)
{
    uint64_t v = 0;
    if (brain_version(b, &v) == BRAIN_OK && v == *saved_ver) {
        logf_("%s: nothing changed since the last snapshot", why);
        return 0;
    }
    struct stat sb;
    if (lstat(path, &sb) == 0) {
        uint64_t fc = 0;
        int ours = 0;
        int rc = brain_snapshot_info(b, path, &fc, &ours);
        if (rc == BRAIN_OK && !ours) {
            logf_("%s: not saving: %s holds %" PRIu64 " names and was neither written by nor "
                  "loaded whole into this store; move it away to let serve replace it",
                  why, path, fc);
            return -1;
        }
    }
    g_busy = BUSY;
    uint64_t n = 0;
    int64_t t0 = cli_now_ns();
    int rc = brain_snapshot_save(b, path, &n);
    g_busy = IDLE;
    if (rc != BRAIN_OK) {
        const char *d = brain_errdetail();
        logf_("%s: snapshot failed: %s", why, d && *d ? d : brain_strerror(rc));
        return -1;
    }
    *saved_ver = v;
    logf_("%s: saved %" PRIu64 " names to %s in %.3f s", why, n, path,
          (double)(cli_now_ns() - t0) / 1e9);
    return 0;
}

/* At start: restores the snapshot into an empty store, all or nothing.  A
 * store that already holds names is served only when the snapshot file is
 * its own (it wrote the file, or loaded it whole: brain_snapshot_info):
 * then every name the file lists was in this store, so a name missing now
 * was deleted or expired here, and replacing the file loses nothing.
 * Otherwise (the store was made anew, by a restart after a reboot or a
 * restore that was killed half way under an older brain-plasma, and names
 * were put into it since) serve does not start, rather than overwrite the
 * file with fewer names. */
static int serve_restore(struct cli_args *a, brain *b, const char *path, uint64_t names,
                         uint64_t *saved_ver)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT)
            return 0;
        cli_error(a, "cannot use snapshot '%s': %s", path, strerror(errno));
        return -1;
    }
    uint64_t fc = 0, n = 0;
    int ours = 0;
    int rc = brain_snapshot_info(b, path, &fc, &ours);
    if (rc == BRAIN_OK && names == 0) {
        g_busy = RESTORING;
        rc = brain_snapshot_load(b, path, 0, &n);
        g_busy = IDLE;
        if (rc == BRAIN_OK) {
            brain_version(b, saved_ver);
            logf_("restored %" PRIu64 " names from %s", n, path);
            return 0;
        }
    }
    if (rc != BRAIN_OK) {
        /* a bad snapshot must not be overwritten by an empty one */
        cli_brain_error(a, rc);
        cli_error(a, "not starting: move the snapshot away or give another --snapshot");
        return -1;
    }
    if (!ours) {
        cli_error(a, "not starting: store '%s' holds %" PRIu64 " names but did not write or load "
                     "snapshot '%s' (%" PRIu64 " names), which serving it would replace; load it "
                     "first (brain load %s %s --merge), or move it away",
                  brain_path(b), names, path, fc, brain_path(b), path);
        return -1;
    }
    logf_("snapshots to %s", path);
    return 0;
}

int cmd_serve(struct cli_args *a)
{
    int64_t every = 60000, expire_every = 1000;
    brain_config cfg = {0};
    int rc;
    if ((rc = cli_get_duration_ms(a, "every", &every)) != 0 ||
        (rc = cli_get_duration_ms(a, "expire-every", &expire_every)) != 0 ||
        (rc = cli_get_size(a, "size", &cfg.capacity)) != 0)
        return rc;
    if (every <= 0 || expire_every <= 0)
        return cli_usage_error(a, "--every and --expire-every must be more than 0");
    int snap = !cli_flag(a, "no-snapshot");
    if (!snap && cli_opt(a, "snapshot"))
        return cli_usage_error(a, "--snapshot and --no-snapshot exclude each other");

    /* Every thread blocks the signals; the loop below sleeps in
     * cli_sigtimedwait for USR1, HUP and USR2 (the stop watcher's wake-up),
     * the watcher thread takes TERM and INT. */
    static sigset_t term;
    sigset_t set, all;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    all = set;
    sigaddset(&all, SIGTERM);
    sigaddset(&all, SIGINT);
    sigprocmask(SIG_BLOCK, &all, NULL);
    g_main_thread = pthread_self();
    g_busy = RESTORING; /* opening may repair or wait: nothing to save yet */
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, stop_watcher, &term) != 0)
        return cli_error(a, "cannot start the signal thread: %s", strerror(errno));
    pthread_detach(watcher);

    brain *b = NULL;
    rc = brain_open(a->pos[0], BRAIN_CREATE, &cfg, &b);
    if (rc != BRAIN_OK)
        return cli_brain_error(a, rc);
    cli_lock_timeout(b);
    g_busy = IDLE;
    char path[BRAIN_PATH_MAX];
    if (snap) {
        if (cli_opt(a, "snapshot"))
            snprintf(path, sizeof path, "%s", cli_opt(a, "snapshot"));
        else if (default_snapshot(a, b, brain_path(b), path, sizeof path, 1) != 0) {
            brain_close(b);
            return EXIT_FAIL;
        }
    }
    brain_stats st;
    char cap[32];
    g_busy = BUSY;
    rc = brain_stats_get(b, &st);
    g_busy = IDLE;
    if (rc != BRAIN_OK)
        return fail_close(a, b, rc);
    logf_("serving %s (capacity %s, %" PRIu64 " names); pid %d", brain_path(b),
          cli_fmt_size(st.capacity, cap, sizeof cap), st.names, (int)getpid());
    uint64_t saved_ver = 0;
    if (snap) {
        if (serve_restore(a, b, path, st.names, &saved_ver) != 0) {
            brain_close(b);
            return EXIT_FAIL;
        }
        logf_("snapshots every %.3g s", (double)every / 1000.0);
    }
    int64_t now = cli_now_ns();
    int64_t next_snap = now + every * 1000000, next_expire = now;
    int64_t next_reap = now + 10000000000ll;
    int status = EXIT_OK;
    while (!g_stop_sig) {
        now = cli_now_ns();
        if (now >= next_expire) {
            size_t n = 0;
            g_busy = BUSY;
            if (brain_expire(b, &n) == BRAIN_OK && n)
                logf_("expired %zu name%s", n, n == 1 ? "" : "s");
            g_busy = IDLE;
            next_expire = now + expire_every * 1000000;
        }
        if (now >= next_reap) {
            size_t n = 0;
            g_busy = BUSY;
            if (brain_reap(b, &n) == BRAIN_OK && n)
                logf_("reaped %zu dead process%s", n, n == 1 ? "" : "es");
            g_busy = IDLE;
            next_reap = now + 10000000000ll;
        }
        if (snap && now >= next_snap && !g_stop_sig) {
            serve_snapshot(b, path, &saved_ver, "scheduled");
            next_snap = now + every * 1000000;
        }
        int64_t wake = next_expire < next_reap ? next_expire : next_reap;
        if (snap && next_snap < wake)
            wake = next_snap;
        int64_t d = wake - cli_now_ns();
        if (d < 0)
            d = 0;
        if (g_stop_sig)
            break;
        int sig = cli_sigtimedwait(&set, d);
        if ((sig == SIGUSR1 || sig == SIGHUP) && snap)
            serve_snapshot(b, path, &saved_ver, sig == SIGUSR1 ? "SIGUSR1" : "SIGHUP");
    }
    g_ack = 1;
    logf_("%s: stopping", signame(g_stop_sig));
    if (snap && serve_snapshot(b, path, &saved_ver, "final") != 0)
        status = EXIT_FAIL; /* the final snapshot failed */
    brain_close(b);
    logf_("stopped");
    return status;
}
