/*
 * cli.h - the internals of the `brain` command-line tool.
 *
 * The tool is a table of subcommands (main.c).  Each subcommand is one
 * function taking the parsed arguments; it declares its options and how many
 * positional arguments it takes in its table row, so adding a command is:
 * write `int cmd_x(struct cli_args *a)` in a cmd_*.c file, declare it below,
 * add a row to the table in main.c.
 *
 * Exit status: 0 success, 1 operational error (the store said no), 2 usage
 * error (bad arguments), 3 the store file was truncated under the command
 * (SIGBUS, main.c).  Errors go to stderr as "brain: CMD: message";
 * results go to stdout.
 */
#ifndef BRAIN_CLI_H
#define BRAIN_CLI_H

#include "brain.h"

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* the process took SIGBUS on the store's mapping: the store file was cut
 * (truncated) by another process while this one had it mapped (main.c) */
#define EXIT_TRUNCATED 3

#define CLI_MAX_OPTS 16

/* One option of a subcommand: --name (and -s when short is non-zero). */
struct cli_opt {
    const char *name;    /* long name without the dashes */
    char short_name;     /* 0 when none */
    int has_arg;         /* 1: takes a value (--name VALUE or --name=VALUE) */
    const char *metavar; /* shown in help for options with a value */
    const char *help;
};

struct cli_args;

struct cli_cmd {
    const char *name;
    const char *summary;  /* one line, for `brain --help` */
    const char *usage;    /* the synopsis after "brain NAME " */
    const char *help;     /* paragraph(s) for `brain NAME --help`, or NULL */
    const struct cli_opt *opts; /* terminated by an entry with name NULL */
    int min_pos, max_pos; /* positional arguments; max_pos < 0: no limit */
    const char *const *pos_names; /* names of the positionals, for errors */
    int (*run)(struct cli_args *a);
};

/* The parsed command line of one subcommand. */
struct cli_args {
    const struct cli_cmd *cmd;
    int npos;
    char **pos;                      /* positional arguments */
    const char *val[CLI_MAX_OPTS];   /* per option: its value, "" for a set
                                        flag, NULL when not given */
};

/* ---- main.c ----------------------------------------------------------- */
extern const char *cli_prog; /* "brain" */
void cli_print_cmd_help(const struct cli_cmd *c, FILE *f);

/* ---- util.c ----------------------------------------------------------- */

/* Parses argv (after the command name) into *a.  Prints help and exits 0 on
 * -h/--help; on a usage error prints it and returns EXIT_USAGE. */
int cli_parse(const struct cli_cmd *c, int argc, char **argv,
              struct cli_args *a);

/* The value of option NAME, "" for a set flag, NULL when not given. */
const char *cli_opt(const struct cli_args *a, const char *name);
int cli_flag(const struct cli_args *a, const char *name);

/* Messages: "brain: CMD: ..." on stderr.  All return the exit status. */
int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cli_error(const struct cli_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints brain_errdetail() (or brain_strerror(status) when empty). */
int cli_brain_error(const struct cli_args *a, int status);

/* Opens an existing store (flags 0: never creates).  Prints the error. */
void cli_lock_timeout(brain *b);
int cli_open(const struct cli_args *a, const char *store, brain **out);

/* Option values.  Each prints a usage error and returns EXIT_USAGE when the
 * text is bad, else 0. */
int cli_get_size(const struct cli_args *a, const char *opt, uint64_t *out);
int cli_get_u32(const struct cli_args *a, const char *opt, uint32_t *out);
int cli_get_duration_ms(const struct cli_args *a, const char *opt,
                        int64_t *out);

/* Formatting into caller buffers (at least 32 bytes). */
const char *cli_fmt_size(uint64_t bytes, char *buf, size_t cap);
const char *cli_fmt_duration(int64_t ns, char *buf, size_t cap);
int64_t cli_now_ns(void);
/* one signal of SET (blocked) within NS ns, or -1 (EAGAIN): sigtimedwait,
 * polled where there is none (macOS) */
int cli_sigtimedwait(const sigset_t *set, int64_t ns);

/* JSON: a string literal with escapes (always valid JSON, even for bytes
 * that are not UTF-8). */
void cli_json_str(FILE *f, const char *s);

/* Text for people: columns counted in characters; control and
 * bidirectional characters and invalid UTF-8 written as visible escapes
 * (\xNN, \u{XXXX}); padded to WIDTH (right-aligned if RIGHT). */
size_t cli_text_width(const char *s);
void cli_print_text(FILE *f, const char *s, size_t width, int right);
/* The same escaping as a string for printf's %s: every path, name and other
 * text from outside goes through it (or cli_print_text, cli_json_str).  The
 * copy stays valid for the next 7 calls (in this thread). */
const char *cli_safe(const char *s);
/* One piece of S: 1 and the escape in ESC when the character at S (of *ADV
 * bytes) must not be printed as it is, else 0. */
int cli_text_piece(const char *s, char esc[16], size_t *adv);

/* I/O that survives EINTR and short counts.  0 or -1 with errno set. */
int cli_write_all(int fd, const void *buf, size_t len);
/* Reads up to len bytes; returns bytes read (< len only at EOF) or -1. */
ssize_t cli_read_full(int fd, void *buf, size_t len);

/* ---- the subcommands (cmd_*.c) ----------------------------------------- */
int cmd_create(struct cli_args *a);
int cmd_destroy(struct cli_args *a);
int cmd_info(struct cli_args *a);
int cmd_check(struct cli_args *a);
int cmd_put(struct cli_args *a);
int cmd_get(struct cli_args *a);
int cmd_rm(struct cli_args *a);
int cmd_ls(struct cli_args *a);
int cmd_show(struct cli_args *a);
int cmd_stats(struct cli_args *a);
int cmd_resize(struct cli_args *a);
int cmd_clear(struct cli_args *a);
int cmd_save(struct cli_args *a);
int cmd_load(struct cli_args *a);
int cmd_watch(struct cli_args *a);
int cmd_serve(struct cli_args *a);

/* ---- describe.c ----------------------------------------------------------- */
/* What a value is ("ndarray <f8 (1000, 3)", "pickle DataFrame"), read from
 * its layout without unpickling; DATA NULL gives the type name alone. */
void cli_describe(const brain_info *info, const void *data, uint64_t size,
                  char *out, size_t cap);
/* A one-line preview: text quoted, array elements, bytes in hex. */
void cli_preview(FILE *f, const brain_info *info, const void *data, uint64_t size);

#endif
