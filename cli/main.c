/*
 * main.c - the `brain` command: the table of subcommands and the dispatch.
 *
 * To add a subcommand: write its function in a cmd_*.c file, declare it in
 * cli.h, and add a row (its options, positionals and help) below.
 */
#include "cli.h"

#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cli_prog = "brain";

/* ---- options shared by several commands --------------------------------- */

#define OPT_NAMESPACE \
    {"namespace", 'n', 1, "NS", "namespace of the name (default: \"default\")"}
#define OPT_JSON {"json", 0, 0, NULL, "print JSON instead of a table"}
#define OPT_END {NULL, 0, 0, NULL, NULL}

/* ---- the subcommands ---------------------------------------------------- */

static const struct cli_opt create_opts[] = {
    {"size", 's', 1, "SIZE",
     "capacity: plain bytes, 50MB, 2GiB, ... (default 256MiB); the file grows "
     "as values arrive"},
    {"max-procs", 0, 1, "N",
     "process-table slots: processes that can have it open at once "
     "(default 128)"},
    OPT_END};
static const char *const create_pos[] = {"STORE"};

static const struct cli_opt put_opts[] = {
    OPT_NAMESPACE,
    {"type", 't', 1, "TYPE", "bytes (default), str or json; str and json "
                             "must be UTF-8"},
    {"desc", 'd', 1, "TEXT", "a description stored with the value"},
    {"ttl", 0, 1, "SECONDS",
     "the value expires after this long (also 90s, 5m, 2h, 1d)"},
    OPT_END};
static const char *const put_pos[] = {"STORE", "NAME", "FILE"};

static const struct cli_opt get_opts[] = {
    {"output", 'o', 1, "FILE", "write the value to FILE instead of stdout"},
    OPT_NAMESPACE,
    OPT_END};
static const char *const get_pos[] = {"STORE", "NAME"};

static const struct cli_opt rm_opts[] = {OPT_NAMESPACE, OPT_END};
static const char *const rm_pos[] = {"STORE", "NAME"};

static const struct cli_opt ls_opts[] = {
    OPT_NAMESPACE,
    {"all", 'a', 0, NULL, "list every namespace"},
    {"long", 'l', 0, NULL,
     "also what each value is (ndarray dtype and shape, the class a pickle "
     "rebuilds: DataFrame, dict, ...) and its description"},
    {"sort", 0, 1, "KEY", "name (default), size (biggest first) or age "
                          "(newest first)"},
    OPT_JSON,
    OPT_END};
static const char *const ls_pos[] = {"STORE"};

static const struct cli_opt info_opts[] = {OPT_JSON, OPT_END};
static const char *const store_pos[] = {"STORE"};

static const struct cli_opt check_opts[] = {
    {"repair", 0, 0, NULL,
     "first rebuild the derived state (free lists, counters, namespace "
     "records) from the block chain, as after a crashed writer; values are "
     "never touched.  A store file cut short (truncate) is salvaged: the "
     "values wholly inside what is left are kept, the names lost are listed"},
    OPT_JSON,
    OPT_END};

static const struct cli_opt show_opts[] = {OPT_NAMESPACE, OPT_JSON, OPT_END};
static const char *const show_pos[] = {"STORE", "NAME"};
static const struct cli_opt stats_opts[] = {OPT_JSON, OPT_END};
static const struct cli_opt resize_opts[] = {OPT_END};
static const char *const resize_pos[] = {"STORE", "SIZE"};
static const struct cli_opt clear_opts[] = {
    {"namespace", 'n', 1, "NS", "the namespace to clear (required)"}, OPT_END};
static const struct cli_opt save_opts[] = {
    {"quiet", 'q', 0, NULL, "no progress bar"}, OPT_END};
static const char *const snap_pos[] = {"STORE", "FILE"};
static const struct cli_opt load_opts[] = {
    {"merge", 0, 0, NULL, "keep names the snapshot does not hold (default: "
                          "the store ends up holding exactly the snapshot)"},
    {"size", 's', 1, "SIZE", "capacity of the store when load creates it "
                             "(default: the snapshot's size plus a quarter)"},
    {"quiet", 'q', 0, NULL, "no progress bar"},
    OPT_END};
static const struct cli_opt watch_opts[] = {
    OPT_NAMESPACE,
    {"count", 'c', 1, "N", "stop after N changes"},
    {"timeout", 't', 1, "SECONDS", "stop after this long (also 90s, 5m)"},
    OPT_END};
static const char *const watch_pos[] = {"STORE", "NAME"};
static const struct cli_opt serve_opts[] = {
    {"snapshot", 0, 1, "FILE", "snapshot file (default: "
                               "$XDG_DATA_HOME/brain-plasma/NAME.snapshot, one per store)"},
    {"every", 0, 1, "SECONDS", "snapshot period (default 60s); only a store "
                               "that changed is saved"},
    {"no-snapshot", 0, 0, NULL, "no snapshots: only expiry and reaping"},
    {"size", 's', 1, "SIZE", "capacity when serve creates the store "
                             "(default 256MiB)"},
    {"expire-every", 0, 1, "SECONDS", "how often expired names are removed "
                                      "(default 1s)"},
    OPT_END};

static const struct cli_opt destroy_opts[] = {OPT_END};

static const struct cli_cmd commands[] = {
    {"create", "create a new store", "STORE [--size SIZE] [--max-procs N]",
     "Creates the store STORE; fails when it exists already.", create_opts, 1,
     1, create_pos, cmd_create},
    {"put", "store a file or stdin under a name",
     "STORE NAME FILE|- [--namespace NS] [--type bytes|str|json] "
     "[--desc TEXT] [--ttl SECONDS]",
     "Stores the contents of FILE ('-' for stdin) under NAME, replacing any "
     "value the name had.  Prints the new version.",
     put_opts, 3, 3, put_pos, cmd_put},
    {"get", "write a value to stdout or a file",
     "STORE NAME [-o FILE] [--namespace NS]",
     "Writes the raw bytes of the value of NAME to stdout or FILE.", get_opts,
     2, 2, get_pos, cmd_get},
    {"rm", "delete names", "STORE NAME... [--namespace NS]",
     "Deletes each NAME; a missing name is reported and the others are still "
     "deleted (exit status 1 if any was missing).",
     rm_opts, 2, -1, rm_pos, cmd_rm},
    {"ls", "list names with their sizes and ages",
     "STORE [--namespace NS | --all] [--long] [--sort name|size|age] [--json]",
     "Lists the names of one namespace (\"default\" unless --namespace), or "
     "of all with --all: type, size, version, age since the value was "
     "stored, and time left before it expires.  --long adds what each value "
     "is and its description.",
     ls_opts, 1, 1, ls_pos, cmd_ls},
    {"info", "show the store's statistics", "STORE [--json]", NULL, info_opts,
     1, 1, store_pos, cmd_info},
    {"show", "one entry's metadata and a preview", "STORE NAME [--namespace NS] [--json]",
     "Shows the metadata of NAME (type, what the value is, size, version, "
     "times, description) and a short preview: text, the first array "
     "elements, or bytes in hex.  Pickles are described from their first "
     "opcodes and never unpickled.",
     show_opts, 2, 2, show_pos, cmd_show},
    {"stats", "capacity, use, fragmentation, namespaces, processes",
     "STORE [--json]",
     "Capacity, used and free space, the largest free block, fragmentation "
     "(the share of free space not in the largest block), names per "
     "namespace, and the attached processes with the views (pins) they "
     "hold.",
     stats_opts, 1, 1, store_pos, cmd_stats},
    {"resize", "change the capacity", "STORE SIZE",
     "Grows or shrinks the store.  Shrinking moves values down; it fails, "
     "losing nothing, when the values do not fit or lie in views held by "
     "other processes.",
     resize_opts, 2, 2, resize_pos, cmd_resize},
    {"clear", "delete every name of a namespace", "STORE --namespace NS",
     "Deletes every name of namespace NS; other namespaces are untouched.",
     clear_opts, 1, 1, store_pos, cmd_clear},
    {"save", "write a snapshot of the store", "STORE [FILE] [--quiet]",
     "Writes every name of every namespace, with its metadata, to FILE "
     "(default: one file per store under $XDG_DATA_HOME/brain-plasma, where Python's "
     "Brain.save writes).  The file is written under a temporary name and "
     "renamed, so a crash never leaves half a snapshot.  A progress bar "
     "shows on a terminal.",
     save_opts, 1, 2, snap_pos, cmd_save},
    {"load", "restore a snapshot", "STORE [FILE] [--merge] [--size SIZE] [--quiet]",
     "All or nothing: checks the whole snapshot FILE (a damaged or truncated one is "
     "refused and the store is not touched), then stores its names, "
     "replacing those the store holds.  Without --merge the store then "
     "holds exactly the snapshot's names.  A missing store is created.",
     load_opts, 1, 2, snap_pos, cmd_load},
    {"watch", "print changes as they happen",
     "STORE [NAME] [--namespace NS] [--count N] [--timeout SECONDS]",
     "Prints a line for each change of NAME, or of any name of the "
     "namespace: stored or deleted, with the version.  It sleeps in the "
     "store's wait (no polling) until something changes.",
     watch_opts, 1, 2, watch_pos, cmd_watch},
    {"serve", "keep a store alive for a service",
     "STORE [--snapshot FILE] [--every SECONDS] [--size SIZE] [--no-snapshot]",
     "Runs in the foreground (for systemd or a container): creates or "
     "attaches to STORE, restores the snapshot when the store is empty, "
     "removes expired names, reaps dead processes, saves a snapshot on "
     "schedule when the store changed, on SIGUSR1 or SIGHUP, and a final "
     "one on SIGTERM or SIGINT, then exits.  Logs to stderr.",
     serve_opts, 1, 1, store_pos, cmd_serve},
    {"check", "validate every structure of the store", "STORE [--repair] [--json]",
     "Checks the store's header, process table, blocks, free lists, index, "
     "entries and counters.  Exit status 0 when consistent, 1 with the "
     "problems found when not.  --repair first rebuilds what can be rebuilt, "
     "and salvages a store whose file was truncated (no other process may "
     "have it open): it keeps every value that lies wholly in what is left, "
     "restores the file's size and reports the names lost.",
     check_opts, 1, 1, store_pos, cmd_check},
    {"destroy", "remove a store", "STORE",
     "Removes the store's file (a damaged one too, but never a file that is "
     "not a store).  Processes that have it open keep working on it until "
     "they close it.",
     destroy_opts, 1, 1, store_pos, cmd_destroy},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct cli_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_main_help(FILE *f)
{
    fprintf(f,
            "usage: %s COMMAND [ARGS...]\n"
            "       %s COMMAND --help | --help | --version\n\n"
            "A shared-memory key/value store (libbrain %s).\n\n"
            "commands:\n",
            cli_prog, cli_prog, BRAIN_VERSION_STRING);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nSTORE is a name (\"app1\" means /dev/shm/brain-app1, $TMPDIR/brain-app1 "
            "on\nmacOS) or an absolute path.\n"
            "SIZE is plain bytes or a number with a unit: 50MB, 1.5GB (powers "
            "of 1000),\n512MiB, 2GiB (powers of 1024).\n"
            "Exit status: 0 success, 1 error, 2 bad usage, 3 the store file was truncated\n"
            "under the command (SIGBUS): run `%s check --repair STORE`.\n\n"
            "examples:\n"
            "  %s create app1 --size 2GiB\n"
            "  %s put app1 frame frame.parquet --desc \"daily frame\"\n"
            "  echo '{\"a\": 1}' | %s put app1 cfg - --type json --ttl 1h\n"
            "  %s get app1 frame -o copy.parquet\n"
            "  %s ls app1 --all\n",
            cli_prog, cli_prog, cli_prog, cli_prog, cli_prog, cli_prog);
}

/* Prints TEXT word-wrapped to WIDTH columns; continuation lines (and the
 * first when first_col is 0) start with INDENT spaces. */
static void wrap(FILE *f, const char *text, int indent, int first_col,
                 int width)
{
    int col = first_col;
    if (col < indent) {
        fprintf(f, "%*s", indent - col, "");
        col = indent;
    }
    const char *p = text;
    int line_start = 1;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        int len = 0;
        while (p[len] && p[len] != ' ')
            len++;
        if (!line_start && col + 1 + len > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
            line_start = 1;
        }
        if (!line_start) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", len, p);
        col += len;
        line_start = 0;
        p += len;
    }
    fputc('\n', f);
}

void cli_print_cmd_help(const struct cli_cmd *c, FILE *f)
{
    fprintf(f, "usage: %s %s %s\n\n%c%s.\n", cli_prog, c->name, c->usage,
            toupper((unsigned char)c->summary[0]), c->summary + 1);
    if (c->help) {
        fputc('\n', f);
        wrap(f, c->help, 0, 0, 78);
    }
    fprintf(f, "\noptions:\n");
    for (const struct cli_opt *o = c->opts; o && o->name; o++) {
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name,
                     o->name, o->has_arg ? " " : "",
                     o->has_arg ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name,
                     o->has_arg ? " " : "", o->has_arg ? o->metavar : "");
        fprintf(f, "  %-24s ", left);
        wrap(f, o->help, 27, 27, 78);
    }
    fprintf(f, "  %-24s %s\n", "-h, --help", "show this help");
}

/* SIGBUS.  The library maps the store file; when another process cuts the
 * file (truncate, a shrinking copy), the next access to a cut-off page
 * raises SIGBUS, which cannot be turned into an error of the call that
 * touched it.  Rather than die on a bare signal, every command says what
 * happened and what to do, with an exit status of its own.  The message is
 * formatted before the command runs: the handler only write()s and
 * _exit()s (async-signal-safe).  The CLI maps no other file. */
static char g_sigbus_msg[BRAIN_PATH_MAX + 512];
static size_t g_sigbus_len;

static void on_sigbus(int sig)
{
    (void)sig;
    ssize_t w = write(STDERR_FILENO, g_sigbus_msg, g_sigbus_len);
    (void)w;
    _exit(EXIT_TRUNCATED);
}

static void arm_sigbus(const struct cli_cmd *c, const struct cli_args *a)
{
    char path[BRAIN_PATH_MAX];
    const char *store = a->npos > 0 ? a->pos[0] : NULL;
    if (!store || brain_resolve(store, path, sizeof path) != BRAIN_OK)
        snprintf(path, sizeof path, "%s", store ? store : "?");
    int n = snprintf(g_sigbus_msg, sizeof g_sigbus_msg,
                     "%s: %s: store '%s': the store file was truncated by another process while "
                     "mapped (SIGBUS on a cut-off page); stop every process using it and run "
                     "`%s check --repair %s` to salvage what is left (exit status %d)\n",
                     cli_prog, c->name, cli_safe(path), cli_prog, store ? cli_safe(store) : "STORE",
                     EXIT_TRUNCATED);
    g_sigbus_len = n < 0 ? 0 : (size_t)n < sizeof g_sigbus_msg ? (size_t)n : sizeof g_sigbus_msg - 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_main_help(stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("%s %s\n", cli_prog, BRAIN_VERSION_STRING);
        return EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            print_main_help(stdout);
            return EXIT_OK;
        }
        const struct cli_cmd *c = find_cmd(argv[2]);
        if (!c) {
            fprintf(stderr, "%s: unknown command '%s'; see '%s --help'\n",
                    cli_prog, cli_safe(argv[2]), cli_prog);
            return EXIT_USAGE;
        }
        cli_print_cmd_help(c, stdout);
        return EXIT_OK;
    }
    const struct cli_cmd *c = find_cmd(name);
    if (!c) {
        if (name[0] == '-')
            fprintf(stderr, "%s: unknown option '%s'; see '%s --help'\n",
                    cli_prog, cli_safe(name), cli_prog);
        else
            fprintf(stderr, "%s: unknown command '%s'; see '%s --help'\n",
                    cli_prog, cli_safe(name), cli_prog);
        return EXIT_USAGE;
    }
    struct cli_args a;
    int rc = cli_parse(c, argc - 2, argv + 2, &a);
    if (rc == 0) {
        arm_sigbus(c, &a);
        rc = c->run(&a);
    }
    free(a.pos);
    if (fflush(stdout) != 0 && rc == EXIT_OK) {
        fprintf(stderr, "%s: %s: cannot write the output\n", cli_prog,
                c->name);
        rc = EXIT_FAIL;
    }
    return rc;
}
