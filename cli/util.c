/*
 * util.c - what every subcommand shares: the option parser, error messages,
 * opening a store, parsing option values, formatting, I/O loops, JSON.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h> /* isfinite only: a macro, no libm needed */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- messages ------------------------------------------------------------ */

__attribute__((format(printf, 2, 0)))
static void vmessage(const struct cli_args *a, const char *fmt, va_list ap)
{
    fflush(stdout);
    if (a && a->cmd)
        fprintf(stderr, "%s: %s: ", cli_prog, a->cmd->name);
    else
        fprintf(stderr, "%s: ", cli_prog);
    /* messages quote names, descriptions and paths: escaped like ls */
    char buf[8192];
    vsnprintf(buf, sizeof buf, fmt, ap);
    cli_print_text(stderr, buf, 0, 0);
    fputc('\n', stderr);
}

int cli_error(const struct cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(a, fmt, ap);
    va_end(ap);
    return EXIT_FAIL;
}

int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(a, fmt, ap);
    va_end(ap);
    if (a && a->cmd)
        fprintf(stderr, "usage: %s %s %s\nTry '%s %s --help'.\n", cli_prog,
                a->cmd->name, a->cmd->usage, cli_prog, a->cmd->name);
    return EXIT_USAGE;
}

int cli_brain_error(const struct cli_args *a, int status)
{
    const char *d = brain_errdetail();
    if (!d || !*d)
        d = brain_strerror(status);
    return cli_error(a, "%s", d);
}

/* ---- the option parser --------------------------------------------------- */

static int find_long(const struct cli_cmd *c, const char *name, size_t len)
{
    for (int i = 0; c->opts && c->opts[i].name; i++)
        if (strlen(c->opts[i].name) == len &&
            strncmp(c->opts[i].name, name, len) == 0)
            return i;
    return -1;
}

static int find_short(const struct cli_cmd *c, char ch)
{
    for (int i = 0; c->opts && c->opts[i].name; i++)
        if (c->opts[i].short_name && c->opts[i].short_name == ch)
            return i;
    return -1;
}

static const char *pos_name(const struct cli_cmd *c, int i)
{
    if (!c->pos_names)
        return "argument";
    int last = c->max_pos < 0 ? c->min_pos - 1 : c->max_pos - 1;
    if (last < 0)
        return "argument";
    return c->pos_names[i > last ? last : i];
}

int cli_parse(const struct cli_cmd *c, int argc, char **argv,
              struct cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->cmd = c;
    a->pos = calloc((size_t)argc + 1, sizeof *a->pos);
    if (!a->pos)
        return cli_error(a, "out of memory");
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            cli_print_cmd_help(c, stdout);
            exit(EXIT_OK);
        }
        int idx;
        const char *val = NULL;
        if (s[1] == '-') {
            const char *nm = s + 2, *eq = strchr(nm, '=');
            size_t len = eq ? (size_t)(eq - nm) : strlen(nm);
            idx = find_long(c, nm, len);
            if (idx < 0)
                return cli_usage_error(a, "unknown option '--%.*s'", (int)len,
                                       nm);
            if (eq) {
                if (!c->opts[idx].has_arg)
                    return cli_usage_error(a, "option '--%s' takes no value",
                                           c->opts[idx].name);
                val = eq + 1;
            }
        } else {
            idx = find_short(c, s[1]);
            if (idx < 0)
                return cli_usage_error(a, "unknown option '%s'", s);
            if (s[2] != '\0') {
                if (!c->opts[idx].has_arg)
                    return cli_usage_error(a, "unknown option '%s'", s);
                val = s + 2;
            }
        }
        if (idx >= CLI_MAX_OPTS)
            return cli_error(a, "internal error: too many options");
        const struct cli_opt *o = &c->opts[idx];
        if (o->has_arg && !val) {
            if (i + 1 >= argc)
                return cli_usage_error(a, "option '--%s' needs a value (%s)",
                                       o->name, o->metavar);
            val = argv[++i];
        }
        a->val[idx] = o->has_arg ? val : "";
    }
    if (a->npos < c->min_pos)
        return cli_usage_error(a, "missing %s", pos_name(c, a->npos));
    if (c->max_pos >= 0 && a->npos > c->max_pos)
        return cli_usage_error(a, "unexpected argument '%s'",
                               a->pos[c->max_pos]);
    return 0;
}

const char *cli_opt(const struct cli_args *a, const char *name)
{
    const struct cli_cmd *c = a->cmd;
    for (int i = 0; c->opts && c->opts[i].name && i < CLI_MAX_OPTS; i++)
        if (strcmp(c->opts[i].name, name) == 0)
            return a->val[i];
    return NULL;
}

int cli_flag(const struct cli_args *a, const char *name)
{
    return cli_opt(a, name) != NULL;
}

/* ---- stores -------------------------------------------------------------- */

/* How long commands wait for the writers' lock: $BRAIN_LOCK_TIMEOUT
 * seconds (0 up to 1e9; "none" or "inf": for ever), else 60. */
void cli_lock_timeout(brain *b)
{
    const char *e = getenv("BRAIN_LOCK_TIMEOUT");
    int64_t ms = 60000;
    if (e && *e) {
        char *end;
        double s = strtod(e, &end);
        if (strcmp(e, "none") == 0 || strcmp(e, "inf") == 0)
            ms = -1;
        else if (*end == 0 && s >= 0 && s <= 1e9)
            ms = (int64_t)(s * 1000.0);
    }
    brain_set_lock_timeout(b, ms);
}

int cli_open(const struct cli_args *a, const char *store, brain **out)
{
    *out = NULL;
    int rc = brain_open(store, 0, NULL, out);
    if (rc != BRAIN_OK) {
        *out = NULL;
        return cli_brain_error(a, rc);
    }
    cli_lock_timeout(*out);
    return 0;
}

/* ---- option values ------------------------------------------------------- */

int cli_get_size(const struct cli_args *a, const char *opt, uint64_t *out)
{
    const char *v = cli_opt(a, opt);
    if (!v)
        return 0;
    if (brain_parse_size(v, out) != BRAIN_OK)
        return cli_usage_error(a,
                               "bad size '%s' for --%s: give plain bytes or a "
                               "number with a unit, such as 50MB or 2GiB",
                               v, opt);
    return 0;
}

int cli_get_u32(const struct cli_args *a, const char *opt, uint32_t *out)
{
    const char *v = cli_opt(a, opt);
    if (!v)
        return 0;
    const char *p = v;
    uint64_t n = 0;
    if (!*p)
        goto bad;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        n = n * 10 + (uint64_t)(*p - '0');
        if (n > UINT32_MAX)
            goto bad;
    }
    *out = (uint32_t)n;
    return 0;
bad:
    return cli_usage_error(a, "bad number '%s' for --%s", v, opt);
}

int cli_get_duration_ms(const struct cli_args *a, const char *opt,
                        int64_t *out)
{
    const char *v = cli_opt(a, opt);
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || errno != 0 || !isfinite(x) || *v == '-' || *v == '+' ||
        isspace((unsigned char)*v))
        goto bad;
    double mult = 1.0;
    if (*end) {
        switch (*end) {
        case 's': mult = 1.0; break;
        case 'm': mult = 60.0; break;
        case 'h': mult = 3600.0; break;
        case 'd': mult = 86400.0; break;
        default: goto bad;
        }
        if (end[1])
            goto bad;
    }
    double ms = x * mult * 1000.0;
    if (!(ms >= 1.0) || ms > 9.0e15) /* NaN fails the first test */
        goto bad;
    *out = (int64_t)(ms + 0.5); /* no libm: the build links only libpthread */
    return 0;
bad:
    return cli_usage_error(a,
                           "bad duration '%s' for --%s: give seconds (> 0, "
                           "e.g. 30 or 1.5) or 90s, 5m, 2h, 1d",
                           v, opt);
}

/* ---- formatting ---------------------------------------------------------- */

const char *cli_fmt_size(uint64_t bytes, char *buf, size_t cap)
{
    return brain_format_size(bytes, 0, buf, cap);
}

const char *cli_fmt_duration(int64_t ns, char *buf, size_t cap)
{
    long long s = ns > 0 ? (long long)(ns / 1000000000) : 0;
    if (s < 60)
        snprintf(buf, cap, "%llds", s);
    else if (s < 3600)
        snprintf(buf, cap, "%lldm", s / 60);
    else if (s < 86400)
        snprintf(buf, cap, "%lldh", s / 3600);
    else
        snprintf(buf, cap, "%lldd", s / 86400);
    return buf;
}

int64_t cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Takes one signal of SET (blocked by the caller) within NS nanoseconds:
 * its number, or -1 (errno EAGAIN) when none came.  sigtimedwait on Linux;
 * macOS has none, so there (and in the PLATFORM=posix build, which tests
 * this branch on Linux) the pending signals are looked at every 5 ms and
 * one of SET is taken with sigwait, which returns at once. */
int cli_sigtimedwait(const sigset_t *set, int64_t ns)
{
#if defined(__linux__) && !defined(BRAIN_CLI_POLL_SIGNALS)
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return sigtimedwait(set, NULL, &ts);
#else
    for (;;) {
        sigset_t pend;
        if (sigpending(&pend) == 0)
            for (int s = 1; s < NSIG; s++) {
                if (!sigismember(set, s) || !sigismember(&pend, s))
                    continue;
                sigset_t one;
                int got;
                sigemptyset(&one);
                sigaddset(&one, s);
                if (sigwait(&one, &got) == 0)
                    return got;
            }
        if (ns <= 0) {
            errno = EAGAIN;
            return -1;
        }
        int64_t step = ns < 5000000 ? ns : 5000000;
        struct timespec p = {0, (long)step};
        nanosleep(&p, NULL);
        ns -= step;
    }
#endif
}

/* The length of the valid UTF-8 sequence at P (1..4), or 0 when the bytes
 * there are not one. */
static int utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    int len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07;
    else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* The code point of the valid UTF-8 sequence of N bytes at P. */
static uint32_t utf8_cp(const unsigned char *p, int n)
{
    uint32_t cp = n == 1 ? p[0] : n == 2 ? (p[0] & 0x1Fu) : n == 3 ? (p[0] & 0x0Fu) : (p[0] & 0x07u);
    for (int i = 1; i < n; i++)
        cp = (cp << 6) | (p[i] & 0x3Fu);
    return cp;
}

/* Characters never printed as they are: C0 and C1 controls, DEL, and the
 * bidirectional controls (U+202E makes "gpj.exe" show as "exe.jpg"). */
static int hostile_cp(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        switch (*p) {
        case '"': fputs("\\\"", f); p++; continue;
        case '\\': fputs("\\\\", f); p++; continue;
        case '\n': fputs("\\n", f); p++; continue;
        case '\r': fputs("\\r", f); p++; continue;
        case '\t': fputs("\\t", f); p++; continue;
        default: break;
        }
        if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\u%04x", *p);
            p++;
            continue;
        }
        int n = utf8_len(p);
        if (n == 0) { /* only in a damaged store: names are checked UTF-8 */
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        if (hostile_cp(utf8_cp(p, n))) {
            fprintf(f, "\\u%04x", (unsigned)utf8_cp(p, n));
            p += n;
            continue;
        }
        fwrite(p, 1, (size_t)n, f);
        p += n;
    }
    fputc('"', f);
}

/* Text for a terminal: every control and bidirectional character (and any
 * byte that is not UTF-8) is written as a visible escape, \xNN or \u{XXXX},
 * so a name cannot hide, reorder or forge what is around it. */
static int text_piece(const unsigned char *p, char *esc, size_t *adv)
{
    int n = utf8_len(p);
    if (n == 0) {
        snprintf(esc, 16, "\\x%02x", *p);
        *adv = 1;
        return 1;
    }
    *adv = (size_t)n;
    uint32_t cp = utf8_cp(p, n);
    if (!hostile_cp(cp))
        return 0;
    if (cp < 0x100)
        snprintf(esc, 16, "\\x%02x", (unsigned)cp);
    else
        snprintf(esc, 16, "\\u{%04x}", (unsigned)cp);
    return 1;
}

int cli_text_piece(const char *s, char esc[16], size_t *adv)
{
    return text_piece((const unsigned char *)s, esc, adv);
}

/* Copies of printed strings, escaped: a few at once may be in use (the
 * arguments of one printf); each call frees the oldest. */
#define SAFE_RING 8
static _Thread_local char *safe_ring[SAFE_RING];
static _Thread_local unsigned safe_next;

const char *cli_safe(const char *s)
{
    if (!s)
        s = "";
    size_t w = cli_text_width(s);
    char *out = malloc(w + 1);
    if (!out)
        return "(out of memory)";
    char *o = out, esc[16];
    size_t adv;
    for (const unsigned char *p = (const unsigned char *)s; *p; p += adv) {
        if (text_piece(p, esc, &adv)) {
            size_t el = strlen(esc);
            memcpy(o, esc, el);
            o += el;
        } else {
            memcpy(o, p, adv);
            o += adv;
        }
    }
    *o = '\0';
    free(safe_ring[safe_next % SAFE_RING]);
    safe_ring[safe_next++ % SAFE_RING] = out;
    return out;
}

size_t cli_text_width(const char *s)
{
    size_t w = 0, adv;
    char esc[16];
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        w += text_piece(p, esc, &adv) ? strlen(esc) : 1;
        p += adv;
    }
    return w;
}

void cli_print_text(FILE *f, const char *s, size_t width, int right)
{
    size_t w = cli_text_width(s);
    size_t pad = width > w ? width - w : 0;
    if (right)
        fprintf(f, "%*s", (int)pad, "");
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t adv;
    char esc[16];
    while (*p) {
        if (text_piece(p, esc, &adv))
            fputs(esc, f);
        else
            fwrite(p, 1, adv, f);
        p += adv;
    }
    if (!right)
        fprintf(f, "%*s", (int)pad, "");
}

/* ---- I/O ------------------------------------------------------------------ */

int cli_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        ssize_t n = write(fd, p, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t cli_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        size_t chunk = len - got > (1u << 30) ? (1u << 30) : len - got;
        ssize_t n = read(fd, p + got, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}
