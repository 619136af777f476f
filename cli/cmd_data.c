/*
 * cmd_data.c - subcommands about names and values: put, get, rm, ls.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The namespace given with --namespace, or NULL for "default". */
static const char *opt_ns(const struct cli_args *a)
{
    return cli_opt(a, "namespace");
}

/* "NAME" or "NS/NAME" when a namespace was given, for messages. */
static void print_key(FILE *f, const char *ns, const char *name)
{
    if (ns) {
        cli_print_text(f, ns, 0, 0);
        fputc('/', f);
    }
    cli_print_text(f, name, 0, 0);
}

/* ---- put ------------------------------------------------------------------- */

static int parse_type(const struct cli_args *a, uint32_t *type)
{
    const char *t = cli_opt(a, "type");
    *type = BRAIN_TYPE_BYTES;
    if (!t || strcmp(t, "bytes") == 0)
        return 0;
    if (strcmp(t, "str") == 0)
        *type = BRAIN_TYPE_STR;
    else if (strcmp(t, "json") == 0)
        *type = BRAIN_TYPE_JSON;
    else
        return cli_usage_error(a, "bad type '%s' for --type: use bytes, str "
                                  "or json",
                               t);
    return 0;
}

/* Reports a failed put; names the sizes when the library's detail is
 * empty and the value does not fit. */
static int put_error(const struct cli_args *a, brain *b, int rc,
                     uint64_t size)
{
    const char *d = brain_errdetail();
    if ((rc == BRAIN_ETOOBIG || rc == BRAIN_EFULL) && (!d || !*d)) {
        brain_stats st;
        char vs[32], cs[32], fs[32];
        if (brain_stats_get(b, &st) == BRAIN_OK)
            return cli_error(a, "%s: the value is %s, the store's capacity "
                                "is %s (%s free)",
                             brain_strerror(rc),
                             cli_fmt_size(size, vs, sizeof vs),
                             cli_fmt_size(st.capacity, cs, sizeof cs),
                             cli_fmt_size(st.free, fs, sizeof fs));
    }
    return cli_brain_error(a, rc);
}

/* Reads all of a non-seekable input into memory, giving up once it is
 * larger than LIMIT bytes (*size is then LIMIT + 1). */
static int read_stream(int fd, uint64_t limit, char **out, size_t *size)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (len == cap) {
            if ((uint64_t)len > limit)
                break;
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = buf;
    *size = len;
    return 0;
}

int cmd_put(struct cli_args *a)
{
    const char *store = a->pos[0], *name = a->pos[1], *file = a->pos[2];
    const char *ns = opt_ns(a);
    brain_put_opts po;
    memset(&po, 0, sizeof po);
    int rc;
    if (ns && strcmp(ns, "all") == 0) /* as Python: its names(namespace="all") lists all */
        return cli_usage_error(a, "namespace 'all' is reserved (Python's names(namespace='all') "
                                  "lists every namespace); choose another namespace name");
    if ((rc = parse_type(a, &po.type)) != 0)
        return rc;
    if ((rc = cli_get_duration_ms(a, "ttl", &po.ttl_ms)) != 0)
        return rc;
    po.desc = cli_opt(a, "desc");

    int from_stdin = strcmp(file, "-") == 0;
    const char *what = from_stdin ? "stdin" : file;
    int fd = from_stdin ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_error(a, "cannot open '%s': %s", file, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        if (!from_stdin)
            close(fd);
        return cli_error(a, "cannot read %s: %s", what, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        if (!from_stdin)
            close(fd);
        return cli_error(a, "cannot read '%s': it is a directory", what);
    }
    /* A regular file's size is known: read it straight into a reservation.
     * (stdin redirected from a file counts, from its current offset.) */
    off_t start = -1;
    if (S_ISREG(sb.st_mode))
        start = lseek(fd, 0, SEEK_CUR);

    brain *b;
    if (cli_open(a, store, &b) != 0) {
        if (!from_stdin)
            close(fd);
        return EXIT_FAIL;
    }

    uint64_t version = 0, size = 0;
    int status = EXIT_FAIL;
    if (start >= 0 && sb.st_size > start) {
        size = (uint64_t)(sb.st_size - start);
        if (size > SIZE_MAX) {
            put_error(a, b, BRAIN_ETOOBIG, size);
            goto out;
        }
        brain_reservation *res = NULL;
        void *data = NULL;
        rc = brain_reserve(b, ns, name, (size_t)size, &po, &res, &data);
        if (rc != BRAIN_OK) {
            put_error(a, b, rc, size);
            goto out;
        }
        ssize_t n = cli_read_full(fd, data, (size_t)size);
        if (n < 0 || (uint64_t)n != size) {
            int e = errno;
            brain_abort(b, res);
            if (n < 0)
                cli_error(a, "cannot read %s: %s", what, strerror(e));
            else
                cli_error(a, "%s shrank while it was read (%lld of %llu "
                             "bytes); nothing stored",
                          what, (long long)n, (unsigned long long)size);
            goto out;
        }
        rc = brain_publish(b, res, &version);
        if (rc != BRAIN_OK) {
            put_error(a, b, rc, size);
            goto out;
        }
    } else {
        brain_stats st;
        uint64_t limit = (uint64_t)-1;
        if (brain_stats_get(b, &st) == BRAIN_OK && st.capacity > 0)
            limit = st.capacity;
        /* A pipe, a terminal, or a file whose size says nothing (empty,
         * or a /proc file): read it into memory first. */
        char *buf = NULL;
        size_t len = 0;
        if (read_stream(fd, limit, &buf, &len) != 0) {
            cli_error(a, "cannot read %s: %s", what, strerror(errno));
            goto out;
        }
        if ((uint64_t)len > limit) {
            char vs[32], cs[32];
            cli_error(a, "%s: %s gives at least %s, more than the store's "
                         "capacity of %s; nothing stored",
                      brain_strerror(BRAIN_ETOOBIG), what,
                      cli_fmt_size(len, vs, sizeof vs),
                      cli_fmt_size(limit, cs, sizeof cs));
            free(buf);
            goto out;
        }
        size = len;
        rc = brain_put(b, ns, name, buf ? buf : "", len, &po, &version);
        free(buf);
        if (rc != BRAIN_OK) {
            put_error(a, b, rc, size);
            goto out;
        }
    }
    char sz[32];
    printf("stored ");
    print_key(stdout, ns, name);
    printf(": %s, version %llu\n", cli_fmt_size(size, sz, sizeof sz),
           (unsigned long long)version);
    status = EXIT_OK;
out:
    brain_close(b);
    if (!from_stdin)
        close(fd);
    return status;
}

/* ---- get ------------------------------------------------------------------- */

int cmd_get(struct cli_args *a)
{
    const char *store = a->pos[0], *name = a->pos[1];
    const char *ns = opt_ns(a), *outpath = cli_opt(a, "output");
    if (outpath && !*outpath)
        return cli_usage_error(a, "option '--output' needs a file name");
    if (outpath && strcmp(outpath, "-") == 0)
        outpath = NULL;
    brain *b;
    if (cli_open(a, store, &b) != 0)
        return EXIT_FAIL;
    brain_view v;
    memset(&v, 0, sizeof v);
    int rc = brain_get(b, ns, name, &v);
    if (rc != BRAIN_OK) {
        cli_brain_error(a, rc);
        brain_close(b);
        return EXIT_FAIL;
    }
    int status = EXIT_OK;
    /* The output file is opened only once the value is found, so a failed
     * get leaves an existing file alone. */
    int fd = STDOUT_FILENO;
    if (outpath) {
        fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) {
            cli_error(a, "cannot open '%s': %s", outpath, strerror(errno));
            status = EXIT_FAIL;
            goto out;
        }
    }
    if (v.size > 0 && cli_write_all(fd, v.data, (size_t)v.size) != 0) {
        cli_error(a, "cannot write %s: %s", outpath ? outpath : "stdout",
                  strerror(errno));
        status = EXIT_FAIL;
    }
    if (outpath && close(fd) != 0 && status == EXIT_OK) {
        cli_error(a, "cannot write %s: %s", outpath, strerror(errno));
        status = EXIT_FAIL;
    }
out:
    brain_view_release(b, &v);
    brain_close(b);
    return status;
}

/* ---- rm -------------------------------------------------------------------- */

int cmd_rm(struct cli_args *a)
{
    const char *ns = opt_ns(a);
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    int status = EXIT_OK;
    for (int i = 1; i < a->npos; i++) {
        int rc = brain_delete(b, ns, a->pos[i]);
        if (rc != BRAIN_OK) {
            cli_brain_error(a, rc);
            status = EXIT_FAIL;
            continue;
        }
        printf("deleted ");
        print_key(stdout, ns, a->pos[i]);
        putchar('\n');
    }
    brain_close(b);
    return status;
}

/* ---- ls -------------------------------------------------------------------- */

static int cmp_name(const void *x, const void *y)
{
    const brain_info *p = x, *q = y;
    int c = strcmp(p->ns ? p->ns : "", q->ns ? q->ns : "");
    return c ? c : strcmp(p->name ? p->name : "", q->name ? q->name : "");
}

static int cmp_size(const void *x, const void *y) /* biggest first */
{
    const brain_info *p = x, *q = y;
    return p->size != q->size ? (p->size < q->size ? 1 : -1) : cmp_name(x, y);
}

static int cmp_age(const void *x, const void *y) /* newest first */
{
    const brain_info *p = x, *q = y;
    return p->updated_ns != q->updated_ns ? (p->updated_ns < q->updated_ns ? 1 : -1)
                                          : cmp_name(x, y);
}

enum { COL_NS, COL_NAME, COL_TYPE, COL_SIZE, COL_VERSION, COL_AGE, COL_EXP,
       COL_DESC, NCOLS };
static const char *const col_head[NCOLS] = {"NAMESPACE", "NAME", "TYPE",
                                            "SIZE", "VERSION", "AGE",
                                            "EXPIRES", "DESCRIPTION"};
#define CELL 160

/* The kind of each listed value (`--long`): read from the value itself. */
static void ls_kinds(brain *b, const brain_list *l, char (*kinds)[CELL])
{
    for (size_t i = 0; i < l->count; i++) {
        const brain_info *it = &l->items[i];
        brain_view v;
        if (brain_get(b, it->ns, it->name, &v) != BRAIN_OK) {
            snprintf(kinds[i], CELL, "%s (gone)", brain_type_name(it->type));
            continue;
        }
        cli_describe(&v.info, v.data, v.size, kinds[i], CELL);
        brain_view_release(b, &v);
    }
}

static void ls_cells(const brain_info *it, const char *kind, int64_t now,
                     char cells[][CELL])
{
    cli_fmt_size(it->size, cells[COL_SIZE], CELL);
    snprintf(cells[COL_VERSION], CELL, "%llu", (unsigned long long)it->version);
    snprintf(cells[COL_TYPE], CELL, "%s", kind ? kind : brain_type_name(it->type));
    cli_fmt_duration(now - it->updated_ns, cells[COL_AGE], CELL);
    if (it->expires_ns == 0)
        snprintf(cells[COL_EXP], CELL, "-");
    else {
        char d[32];
        snprintf(cells[COL_EXP], CELL, "in %s",
                 cli_fmt_duration(it->expires_ns - now, d, sizeof d));
    }
}

static void ls_json(const brain_list *l, char (*kinds)[CELL], int64_t now)
{
    printf("[");
    for (size_t i = 0; i < l->count; i++) {
        const brain_info *it = &l->items[i];
        printf("%s\n  {\"namespace\": ", i ? "," : "");
        cli_json_str(stdout, it->ns);
        printf(", \"name\": ");
        cli_json_str(stdout, it->name);
        printf(", \"type\": ");
        cli_json_str(stdout, brain_type_name(it->type));
        if (kinds) {
            printf(", \"kind\": ");
            cli_json_str(stdout, kinds[i]);
        }
        printf(", \"type_tag\": %u, \"size\": %llu, \"version\": %llu, "
               "\"created_ns\": %lld, \"updated_ns\": %lld, "
               "\"expires_ns\": %lld, \"age_s\": %.3f, \"desc\": ",
               it->type, (unsigned long long)it->size,
               (unsigned long long)it->version, (long long)it->created_ns,
               (long long)it->updated_ns, (long long)it->expires_ns,
               (double)(now - it->updated_ns) / 1e9);
        cli_json_str(stdout, it->desc);
        printf(", \"object_id\": \"");
        for (int k = 0; k < BRAIN_OBJECT_ID_SIZE; k++)
            printf("%02x", it->object_id[k]);
        printf("\"}");
    }
    printf("%s]\n", l->count ? "\n" : "");
}

static void ls_table(const brain_list *l, char (*kinds)[CELL], int64_t now, int all)
{
    size_t w[NCOLS];
    char cells[NCOLS][CELL];
    int last = kinds ? COL_DESC : COL_EXP;
    for (int c = 0; c < NCOLS; c++)
        w[c] = strlen(col_head[c]);
    for (size_t i = 0; i < l->count; i++) {
        const brain_info *it = &l->items[i];
        ls_cells(it, kinds ? kinds[i] : NULL, now, cells);
        size_t n = cli_text_width(it->ns);
        if (n > w[COL_NS])
            w[COL_NS] = n;
        n = cli_text_width(it->name);
        if (n > w[COL_NAME])
            w[COL_NAME] = n;
        for (int c = COL_TYPE; c < COL_DESC; c++)
            if (cli_text_width(cells[c]) > w[c])
                w[c] = cli_text_width(cells[c]);
    }
    for (int c = all ? 0 : 1; c <= last; c++) {
        if (c == last)
            printf("%s\n", col_head[c]);
        else if (c == COL_SIZE || c == COL_VERSION)
            printf("%*s  ", (int)w[c], col_head[c]);
        else
            printf("%-*s  ", (int)w[c], col_head[c]);
    }
    for (size_t i = 0; i < l->count; i++) {
        const brain_info *it = &l->items[i];
        ls_cells(it, kinds ? kinds[i] : NULL, now, cells);
        if (all) {
            cli_print_text(stdout, it->ns, w[COL_NS], 0);
            fputs("  ", stdout);
        }
        cli_print_text(stdout, it->name, w[COL_NAME], 0);
        fputs("  ", stdout);
        for (int c = COL_TYPE; c < COL_EXP; c++) {
            cli_print_text(stdout, cells[c], w[c], c == COL_SIZE || c == COL_VERSION);
            fputs("  ", stdout);
        }
        if (kinds) {
            cli_print_text(stdout, cells[COL_EXP], w[COL_EXP], 0);
            fputs("  ", stdout);
            cli_print_text(stdout, it->desc, 0, 0);
            putchar('\n');
        } else {
            printf("%s\n", cells[COL_EXP]);
        }
    }
}

int cmd_ls(struct cli_args *a)
{
    const char *ns = opt_ns(a);
    int all = cli_flag(a, "all");
    if (all && ns)
        return cli_usage_error(a, "--namespace and --all exclude each other");
    const char *sort = cli_opt(a, "sort");
    int (*cmp)(const void *, const void *) = cmp_name;
    if (sort && strcmp(sort, "size") == 0)
        cmp = cmp_size;
    else if (sort && strcmp(sort, "age") == 0)
        cmp = cmp_age;
    else if (sort && strcmp(sort, "name") != 0)
        return cli_usage_error(a, "--sort takes name, size or age, not '%s'", sort);
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    brain_list *l = NULL;
    int rc = brain_list_names(b, ns, all, &l);
    if (rc != BRAIN_OK) {
        cli_brain_error(a, rc);
        brain_close(b);
        return EXIT_FAIL;
    }
    if (l && l->count > 1)
        qsort(l->items, l->count, sizeof *l->items, cmp);
    int64_t now = cli_now_ns();
    brain_list empty = {0, NULL};
    const brain_list *lp = l ? l : &empty;
    char (*kinds)[CELL] = NULL;
    if (cli_flag(a, "long") && lp->count) {
        kinds = calloc(lp->count, sizeof *kinds);
        if (!kinds) {
            brain_list_free(l);
            brain_close(b);
            return cli_error(a, "out of memory");
        }
        ls_kinds(b, lp, kinds);
    }
    if (cli_flag(a, "json"))
        ls_json(lp, kinds, now);
    else
        ls_table(lp, kinds, now, all);
    free(kinds);
    brain_list_free(l);
    brain_close(b);
    return EXIT_OK;
}
