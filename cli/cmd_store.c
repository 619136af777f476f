/*
 * cmd_store.c - subcommands about a whole store: create, destroy, info,
 * check.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* ---- create ---------------------------------------------------------------- */

int cmd_create(struct cli_args *a)
{
    brain_config cfg = {0};
    int rc;
    if ((rc = cli_get_size(a, "size", &cfg.capacity)) != 0)
        return rc;
    if (cli_opt(a, "size") && cfg.capacity == 0)
        return cli_usage_error(a, "bad size '%s' for --size: must be more "
                                  "than 0",
                               cli_opt(a, "size"));
    if ((rc = cli_get_u32(a, "max-procs", &cfg.max_procs)) != 0)
        return rc;
    if (cli_opt(a, "max-procs") && cfg.max_procs == 0)
        return cli_usage_error(a, "bad number '0' for --max-procs: must be "
                                  "2 or more");
    brain *b = NULL;
    rc = brain_open(a->pos[0], BRAIN_CREATE | BRAIN_EXCL, &cfg, &b);
    if (rc != BRAIN_OK)
        return cli_brain_error(a, rc);
    brain_stats st;
    char cap[32];
    if (brain_stats_get(b, &st) == BRAIN_OK)
        printf("created %s: capacity %s, up to %u processes\n", cli_safe(brain_path(b)),
               cli_fmt_size(st.capacity, cap, sizeof cap), st.max_procs);
    else
        printf("created %s\n", cli_safe(brain_path(b)));
    brain_close(b);
    return EXIT_OK;
}

/* ---- destroy --------------------------------------------------------------- */

int cmd_destroy(struct cli_args *a)
{
    /* brain_destroy refuses a file that is not a store (an absolute path is
     * used as given, so it may name anything) but removes a damaged one. */
    const char *store = a->pos[0];
    char path[BRAIN_PATH_MAX];
    if (brain_resolve(store, path, sizeof path) != BRAIN_OK)
        snprintf(path, sizeof path, "%s", store);
    int rc = brain_destroy(store);
    if (rc != BRAIN_OK)
        return cli_brain_error(a, rc);
    printf("destroyed %s\n", cli_safe(path));
    return EXIT_OK;
}

/* ---- info ------------------------------------------------------------------ */

struct stat_row {
    const char *label; /* for people */
    const char *key;   /* for JSON */
    uint64_t value;
    int is_size;
};

int cmd_info(struct cli_args *a)
{
    brain *b;
    if (cli_open(a, a->pos[0], &b) != 0)
        return EXIT_FAIL;
    brain_stats st;
    memset(&st, 0, sizeof st);
    int rc = brain_stats_get(b, &st);
    if (rc != BRAIN_OK) {
        cli_brain_error(a, rc);
        brain_close(b);
        return EXIT_FAIL;
    }
    const struct stat_row rows[] = {
        {"capacity", "capacity", st.capacity, 1},
        {"file size", "file_size", st.file_size, 1},
        {"used", "used", st.used, 1},
        {"free", "free", st.free, 1},
        {"largest free", "largest_free", st.largest_free, 1},
        {"limbo", "limbo", st.limbo, 1},
        {"names", "names", st.names, 0},
        {"namespaces", "namespaces", st.namespaces, 0},
        {"max namespaces", "max_namespaces", st.max_namespaces, 0},
        {"processes", "procs", st.procs, 0},
        {"max processes", "max_procs", st.max_procs, 0},
        {"pins", "pins", st.pins, 0},
        {"version", "version", st.version, 0},
        {"index slots", "index_slots", st.index_slots, 0},
        {"blocks", "blocks", st.blocks, 0},
        {"free blocks", "free_blocks", st.free_blocks, 0},
        {"recoveries", "recoveries", st.recoveries, 0},
        {"reaped", "reaped", st.reaped, 0},
    };
    size_t n = sizeof rows / sizeof rows[0];
    if (cli_flag(a, "json")) {
        printf("{\"path\": ");
        cli_json_str(stdout, brain_path(b));
        for (size_t i = 0; i < n; i++)
            printf(", \"%s\": %llu", rows[i].key,
                   (unsigned long long)rows[i].value);
        printf("}\n");
    } else {
        printf("%-15s %s\n", "path:", cli_safe(brain_path(b)));
        for (size_t i = 0; i < n; i++) {
            char label[32], sz[32];
            snprintf(label, sizeof label, "%s:", rows[i].label);
            if (rows[i].is_size)
                printf("%-15s %s (%llu bytes)\n", label,
                       cli_fmt_size(rows[i].value, sz, sizeof sz),
                       (unsigned long long)rows[i].value);
            else
                printf("%-15s %llu\n", label,
                       (unsigned long long)rows[i].value);
        }
    }
    brain_close(b);
    return EXIT_OK;
}

/* ---- check ----------------------------------------------------------------- */

struct check_ctx {
    unsigned long problems;
    int json;
    char **msgs; /* --json: the problems, printed at the end */
    size_t nmsgs;
};

static void check_report(void *ctx, const char *message)
{
    struct check_ctx *c = ctx;
    c->problems++;
    if (!c->json) {
        printf("problem: %s\n", message ? cli_safe(message) : "(no message)");
        return;
    }
    char **m = realloc(c->msgs, (c->nmsgs + 1) * sizeof *m);
    if (!m)
        return;
    c->msgs = m;
    c->msgs[c->nmsgs] = strdup(message ? message : "(no message)");
    if (c->msgs[c->nmsgs])
        c->nmsgs++;
}

struct lost_list {
    char **ns, **name;
    size_t n;
};

static void lost_add(void *ctx, const char *ns, const char *name)
{
    struct lost_list *l = ctx;
    char **a = realloc(l->ns, (l->n + 1) * sizeof *a);
    if (!a)
        return;
    l->ns = a;
    char **b = realloc(l->name, (l->n + 1) * sizeof *b);
    if (!b)
        return;
    l->name = b;
    l->ns[l->n] = strdup(ns);
    l->name[l->n] = strdup(name);
    if (l->ns[l->n] && l->name[l->n])
        l->n++;
}

static void lost_free(struct lost_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->ns[i]);
        free(l->name[i]);
    }
    free(l->ns);
    free(l->name);
}

/* The JSON answer of `check --json`: one object on stdout. */
static void check_json(const char *path, int ok, int repaired, const brain_salvage_info *sv,
                       const struct lost_list *lost, const struct check_ctx *c, const char *error)
{
    printf("{\"path\": ");
    cli_json_str(stdout, path);
    printf(", \"ok\": %s, \"repaired\": %s, \"salvaged\": ", ok ? "true" : "false",
           repaired ? "true" : "false");
    if (sv && sv->truncated) {
        printf("{\"header_size\": %llu, \"found_size\": %llu, \"kept\": %llu, \"lost\": %llu, "
               "\"lost_unnamed\": %llu, \"lost_names\": [",
               (unsigned long long)sv->header_size, (unsigned long long)sv->found_size,
               (unsigned long long)sv->kept, (unsigned long long)sv->lost,
               (unsigned long long)sv->lost_unnamed);
        for (size_t i = 0; lost && i < lost->n; i++) {
            printf("%s{\"namespace\": ", i ? ", " : "");
            cli_json_str(stdout, lost->ns[i]);
            printf(", \"name\": ");
            cli_json_str(stdout, lost->name[i]);
            printf("}");
        }
        printf("]}");
    } else {
        printf("null");
    }
    printf(", \"problems\": [");
    for (size_t i = 0; c && i < c->nmsgs; i++) {
        if (i)
            printf(", ");
        cli_json_str(stdout, c->msgs[i]);
    }
    printf("], \"error\": ");
    if (error)
        cli_json_str(stdout, error);
    else
        printf("null");
    printf("}\n");
}

/* `check --repair` of a store whose file is shorter than its header says:
 * brain_salvage keeps what lies wholly in what is left. */
static int check_salvage(struct cli_args *a, const char *path, brain_salvage_info *sv,
                         struct lost_list *lost)
{
    int json = cli_flag(a, "json");
    int rc = brain_salvage(a->pos[0], lost_add, lost, sv);
    if (rc != BRAIN_OK) {
        char err[BRAIN_PATH_MAX + 1024];
        snprintf(err, sizeof err, "%s", brain_errdetail());
        cli_brain_error(a, rc);
        if (json)
            check_json(path, 0, 0, NULL, NULL, NULL, err);
        return EXIT_FAIL;
    }
    if (json || !sv->truncated)
        return EXIT_OK;
    char s1[32], s2[32];
    printf("salvaged: %s: the file had been truncated to %s of its %s; its size is restored, "
           "%llu name%s kept, %llu lost\n",
           path, cli_fmt_size(sv->found_size, s1, sizeof s1), cli_fmt_size(sv->header_size, s2, sizeof s2),
           (unsigned long long)sv->kept, sv->kept == 1 ? "" : "s", (unsigned long long)sv->lost);
    for (size_t i = 0; i < lost->n; i++) {
        printf("lost: ");
        cli_print_text(stdout, lost->ns[i], 0, 0);
        putchar('/');
        cli_print_text(stdout, lost->name[i], 0, 0);
        printf(" (its value was cut through)\n");
    }
    if (sv->lost_unnamed)
        printf("lost: %llu %sname%s whose entr%s lay wholly in the cut-off part (not readable)\n",
               (unsigned long long)sv->lost_unnamed, lost->n ? "more " : "",
               sv->lost_unnamed == 1 ? "" : "s", sv->lost_unnamed == 1 ? "y" : "ies");
    return EXIT_OK;
}

int cmd_check(struct cli_args *a)
{
    brain *b = NULL;
    int json = cli_flag(a, "json"), repair = cli_flag(a, "repair");
    char path[BRAIN_PATH_MAX];
    if (brain_resolve(a->pos[0], path, sizeof path) != BRAIN_OK)
        snprintf(path, sizeof path, "%s", a->pos[0]);
    brain_salvage_info sv;
    memset(&sv, 0, sizeof sv);
    struct lost_list lost = {0};
    int rc = brain_open(a->pos[0], 0, NULL, &b);
    if (rc == BRAIN_ETRUNCATED && repair) {
        int st = check_salvage(a, path, &sv, &lost);
        if (st != EXIT_OK) {
            lost_free(&lost);
            return st;
        }
        rc = brain_open(a->pos[0], 0, NULL, &b);
    }
    if (rc != BRAIN_OK) {
        /* A store too damaged to open is the check's answer, not a usage
         * problem: say why and fail. */
        char err[BRAIN_PATH_MAX + 1024];
        snprintf(err, sizeof err, "%s", *brain_errdetail() ? brain_errdetail() : brain_strerror(rc));
        cli_brain_error(a, rc);
        if (json)
            check_json(path, 0, 0, &sv, &lost, NULL, err);
        lost_free(&lost);
        return EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s", brain_path(b));
    int repaired = 0;
    if (repair) {
        rc = brain_repair(b);
        if (rc != BRAIN_OK) {
            char err[BRAIN_PATH_MAX + 1024];
            snprintf(err, sizeof err, "%s", brain_errdetail());
            cli_brain_error(a, rc);
            cli_error(a, "repair of %s failed; save what still reads with "
                         "'brain save' and recreate the store", path);
            if (json)
                check_json(path, 0, 0, &sv, &lost, NULL, err);
            brain_close(b);
            lost_free(&lost);
            return EXIT_FAIL;
        }
        repaired = 1;
        if (!json)
            printf("repaired: %s: derived state rebuilt from the block chain\n", cli_safe(path));
    }
    struct check_ctx ctx = {0};
    ctx.json = json;
    rc = brain_check(b, check_report, &ctx);
    int status = EXIT_FAIL;
    if (rc == BRAIN_OK && ctx.problems == 0) {
        status = EXIT_OK;
        brain_stats st;
        char used[32], cap[32];
        if (json)
            check_json(path, 1, repaired, &sv, &lost, &ctx, NULL);
        else if (brain_stats_get(b, &st) == BRAIN_OK)
            printf("ok: %s: %llu name%s in %llu namespace%s, %s used of "
                   "%s, %llu blocks (%llu free)\n",
                   cli_safe(path), (unsigned long long)st.names,
                   st.names == 1 ? "" : "s",
                   (unsigned long long)st.namespaces,
                   st.namespaces == 1 ? "" : "s",
                   cli_fmt_size(st.used, used, sizeof used),
                   cli_fmt_size(st.capacity, cap, sizeof cap),
                   (unsigned long long)st.blocks,
                   (unsigned long long)st.free_blocks);
        else
            printf("ok: %s is consistent\n", cli_safe(path));
    } else {
        char err[BRAIN_PATH_MAX + 1024];
        if (rc == BRAIN_OK || rc == BRAIN_ECORRUPT) {
            const char *d = rc == BRAIN_ECORRUPT ? brain_errdetail() : "";
            if (d && *d)
                snprintf(err, sizeof err, "%s", d);
            else
                snprintf(err, sizeof err, "store '%s' is corrupted: %lu problem%s found", path,
                         ctx.problems, ctx.problems == 1 ? "" : "s");
            cli_error(a, "%s", err);
        } else {
            snprintf(err, sizeof err, "%s", *brain_errdetail() ? brain_errdetail() : brain_strerror(rc));
            cli_brain_error(a, rc);
            cli_error(a, "could not check %s", path);
        }
        if (json)
            check_json(path, 0, repaired, &sv, &lost, &ctx, err);
    }
    for (size_t i = 0; i < ctx.nmsgs; i++)
        free(ctx.msgs[i]);
    free(ctx.msgs);
    lost_free(&lost);
    brain_close(b);
    return status;
}
