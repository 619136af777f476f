/*
 * cmd_store.c - subcommands about a whole store: create, destroy, info,
 * check.
 */
#include "cli.h"

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
};

static void check_report(void *ctx, const char *message)
{
    struct check_ctx *c = ctx;
    c->problems++;
    printf("problem: %s\n", message ? cli_safe(message) : "(no message)");
}

int cmd_check(struct cli_args *a)
{
    brain *b = NULL;
    int rc = brain_open(a->pos[0], 0, NULL, &b);
    if (rc != BRAIN_OK) {
        /* A store too damaged to open is the check's answer, not a usage
         * problem: say why and fail. */
        return cli_brain_error(a, rc);
    }
    char path[BRAIN_PATH_MAX];
    snprintf(path, sizeof path, "%s", brain_path(b));
    if (cli_flag(a, "repair")) {
        rc = brain_repair(b);
        if (rc != BRAIN_OK) {
            cli_brain_error(a, rc);
            cli_error(a, "repair of %s failed; save what still reads with "
                         "'brain save' and recreate the store", path);
            brain_close(b);
            return EXIT_FAIL;
        }
        printf("repaired: %s: derived state rebuilt from the block chain\n", cli_safe(path));
    }
    struct check_ctx ctx = {0};
    rc = brain_check(b, check_report, &ctx);
    if (rc == BRAIN_OK && ctx.problems == 0) {
        brain_stats st;
        char used[32], cap[32];
        if (brain_stats_get(b, &st) == BRAIN_OK)
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
        brain_close(b);
        return EXIT_OK;
    }
    if (rc == BRAIN_OK || rc == BRAIN_ECORRUPT) {
        const char *d = rc == BRAIN_ECORRUPT ? brain_errdetail() : "";
        if (d && *d)
            cli_error(a, "%s", d);
        else
            cli_error(a, "store '%s' is corrupted: %lu problem%s found", path,
                      ctx.problems, ctx.problems == 1 ? "" : "s");
    } else {
        cli_brain_error(a, rc);
        cli_error(a, "could not check %s", path);
    }
    brain_close(b);
    return EXIT_FAIL;
}
