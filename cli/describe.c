/*
 * describe.c - what a value is, and a short preview of it, for `ls --long`
 * and `show`, read from the value's own layout and never by running it:
 * pickles are described by walking their first opcodes for the class they
 * rebuild (no unpickling, so a hostile pickle can do nothing here).
 */
#include "cli.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- pickles ---------------------------------------------------------------- */

/* Friendly names for the classes the Python front end stores most. */
static const struct {
    const char *global, *name;
} known_classes[] = {
    {"pandas DataFrame", "DataFrame"},
    {"pandas Series", "Series"},
    {"pandas.core.frame DataFrame", "DataFrame"},
    {"pandas.core.series Series", "Series"},
    {"numpy.core.multiarray _reconstruct", "ndarray"},
    {"numpy._core.multiarray _reconstruct", "ndarray"},
    {"numpy.core.numeric _frombuffer", "ndarray"},
    {"numpy._core.numeric _frombuffer", "ndarray"},
    {"builtins set", "set"},
    {"builtins frozenset", "frozenset"},
    {"builtins bytearray", "bytearray"},
    {"collections OrderedDict", "OrderedDict"},
    {"datetime datetime", "datetime"},
};

/* Reads a little-endian unsigned of N bytes; 0 when past the end. */
static int read_len(const uint8_t *p, const uint8_t *end, int n, uint64_t *out)
{
    if (end - p < n)
        return -1;
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    *out = v;
    return 0;
}

/* Walks the start of a pickle stream until the first opcode that says what
 * the top object is: a class reference (GLOBAL, STACK_GLOBAL) or a builtin
 * container.  Only opcodes that can come before those are understood; any
 * other ends the walk with no answer ("pickle" alone). */
static void pickle_class(const uint8_t *p, size_t n, char *out, size_t cap)
{
    const uint8_t *end = p + n;
    const uint8_t *str[2] = {NULL, NULL};
    uint64_t slen[2] = {0, 0};
    out[0] = '\0';
    for (int steps = 0; p < end && steps < 64; steps++) {
        uint8_t op = *p++;
        uint64_t len;
        switch (op) {
        case 0x80: /* PROTO */
            p++;
            continue;
        case 0x95: /* FRAME */
            p += 8;
            continue;
        case 0x94: /* MEMOIZE */
            continue;
        case 0x8c: /* SHORT_BINUNICODE */
        case 'X':  /* BINUNICODE */
        case 0x8d: /* BINUNICODE8 */ {
            int w = op == 0x8c ? 1 : op == 'X' ? 4 : 8;
            if (read_len(p, end, w, &len) || len > (uint64_t)(end - p - w))
                return;
            str[0] = str[1];
            slen[0] = slen[1];
            str[1] = p + w;
            slen[1] = len;
            p += w + len;
            continue;
        }
        case 0x93: /* STACK_GLOBAL: module and name are the last two strings */
            if (!str[0])
                return;
            snprintf(out, cap, "%.*s %.*s", (int)(slen[0] > 200 ? 200 : slen[0]),
                     (const char *)str[0], (int)(slen[1] > 200 ? 200 : slen[1]),
                     (const char *)str[1]);
            break;
        case 'c': { /* GLOBAL "module\nname\n" */
            const uint8_t *nl1 = memchr(p, '\n', (size_t)(end - p));
            const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
            if (!nl2)
                return;
            snprintf(out, cap, "%.*s %.*s", (int)(nl1 - p > 200 ? 200 : nl1 - p),
                     (const char *)p, (int)(nl2 - nl1 - 1 > 200 ? 200 : nl2 - nl1 - 1),
                     (const char *)nl1 + 1);
            break;
        }
        case '}': snprintf(out, cap, "dict"); return;
        case ']': snprintf(out, cap, "list"); return;
        case ')': snprintf(out, cap, "tuple"); return;
        case 0x8f: snprintf(out, cap, "set"); return; /* EMPTY_SET */
        case 'J': case 'K': case 'M': case 0x8a: case 0x8b:
            snprintf(out, cap, "int");
            return;
        case 'G': snprintf(out, cap, "float"); return;
        case 0x88: case 0x89: snprintf(out, cap, "bool"); return;
        case 'N': snprintf(out, cap, "None"); return;
        case 'C': case 'B': case 0x8e: case 0x96:
            snprintf(out, cap, "bytes");
            return;
        case '.': /* STOP right after strings: a str */
            if (str[1])
                snprintf(out, cap, "str");
            return;
        default:
            return;
        }
        /* a class reference: module.name, or its friendly name */
        for (size_t i = 0; i < sizeof known_classes / sizeof known_classes[0]; i++)
            if (strcmp(out, known_classes[i].global) == 0) {
                snprintf(out, cap, "%s", known_classes[i].name);
                return;
            }
        char *sp = strchr(out, ' ');
        if (sp)
            *sp = '.';
        return;
    }
}

/* ---- the description ---------------------------------------------------------- */

void cli_describe(const brain_info *info, const void *data, uint64_t size,
                  char *out, size_t cap)
{
    const char *tname = brain_type_name(info->type);
    if (!data) {
        snprintf(out, cap, "%s", tname);
        return;
    }
    if (info->type == BRAIN_TYPE_ARRAY) {
        brain_array a;
        if (brain_array_parse(data, size, &a) != BRAIN_OK) {
            snprintf(out, cap, "ndarray (malformed)");
            return;
        }
        size_t n = (size_t)snprintf(out, cap, "ndarray %s (", a.dtype);
        for (uint32_t d = 0; d < a.ndim && n < cap; d++)
            n += (size_t)snprintf(out + n, cap - n, "%s%" PRIu64, d ? ", " : "",
                                  a.shape[d]);
        if (n < cap)
            snprintf(out + n, cap - n, "%s)", a.ndim == 1 ? "," : "");
        return;
    }
    if (info->type == BRAIN_TYPE_PICKLE) {
        brain_pickle pk;
        char cls[512];
        if (brain_pickle_parse(data, size, &pk) != BRAIN_OK) {
            snprintf(out, cap, "pickle (malformed)");
            return;
        }
        if (pk.hint_len) { /* what the producer said it is: "DataFrame 1000000x7" */
            snprintf(out, cap, "pickle %.*s", (int)pk.hint_len, pk.hint);
            return;
        }
        pickle_class((const uint8_t *)data + pk.stream_offset, pk.stream_len, cls,
                     sizeof cls);
        if (cls[0])
            snprintf(out, cap, "pickle %s", cls);
        else
            snprintf(out, cap, "pickle");
        return;
    }
    snprintf(out, cap, "%s", tname);
}

/* Writes at most MAX (< 256) bytes of text as a quoted, escaped string:
 * valid UTF-8 passes through, but control and bidirectional characters and
 * bytes that are not UTF-8 are escaped (cli_text_piece). */
static void preview_text(FILE *f, const uint8_t *p, size_t n, size_t max)
{
    fputc('"', f);
    size_t k = n < max ? n : max;
    char text[256], esc[16];
    if (k >= sizeof text)
        k = sizeof text - 1;
    memcpy(text, p, k);
    text[k] = '\0';
    size_t adv;
    for (size_t i = 0; i < k; i += adv) {
        uint8_t c = (uint8_t)text[i];
        adv = 1;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == 0)
            fputs("\\x00", f);
        else if (cli_text_piece(text + i, esc, &adv))
            fputs(esc, f);
        else
            fwrite(text + i, 1, adv, f);
    }
    fputc('"', f);
    if (k < n)
        fprintf(f, " ... (%zu more bytes)", n - k);
}

static void preview_array(FILE *f, const brain_array *a)
{
    uint64_t count = a->itemsize ? a->nbytes / a->itemsize : 0;
    uint64_t k = count < 8 ? count : 8;
    const char *t = a->dtype;
    char kind = t[1];
    unsigned long sz = strtoul(t + 2, NULL, 10);
    int known = t[0] != '>' && ((kind == 'f' && (sz == 4 || sz == 8)) ||
                                ((kind == 'i' || kind == 'u') &&
                                 (sz == 1 || sz == 2 || sz == 4 || sz == 8)) ||
                                (kind == 'b' && sz == 1));
    if (!known) {
        fprintf(f, "(%" PRIu64 " elements of %s)", count, t);
        return;
    }
    fputc('[', f);
    const uint8_t *p = a->data;
    for (uint64_t i = 0; i < k; i++, p += sz) {
        if (i)
            fputs(", ", f);
        if (kind == 'f' && sz == 8) {
            double v;
            memcpy(&v, p, 8);
            fprintf(f, "%.6g", v);
        } else if (kind == 'f') {
            float v;
            memcpy(&v, p, 4);
            fprintf(f, "%.6g", (double)v);
        } else if (kind == 'b') {
            fputs(*p ? "True" : "False", f);
        } else if (kind == 'i') {
            int64_t v = sz == 1 ? (int8_t)*p : 0;
            if (sz == 2) { int16_t x; memcpy(&x, p, 2); v = x; }
            if (sz == 4) { int32_t x; memcpy(&x, p, 4); v = x; }
            if (sz == 8) memcpy(&v, p, 8);
            fprintf(f, "%" PRId64, v);
        } else {
            uint64_t v = sz == 1 ? *p : 0;
            if (sz == 2) { uint16_t x; memcpy(&x, p, 2); v = x; }
            if (sz == 4) { uint32_t x; memcpy(&x, p, 4); v = x; }
            if (sz == 8) memcpy(&v, p, 8);
            fprintf(f, "%" PRIu64, v);
        }
    }
    if (k < count)
        fprintf(f, ", ... (%" PRIu64 " more)", count - k);
    fputc(']', f);
}

void cli_preview(FILE *f, const brain_info *info, const void *data, uint64_t size)
{
    switch (info->type) {
    case BRAIN_TYPE_STR:
    case BRAIN_TYPE_JSON:
        preview_text(f, data, (size_t)size, 200);
        return;
    case BRAIN_TYPE_ARRAY: {
        brain_array a;
        if (brain_array_parse(data, size, &a) == BRAIN_OK)
            preview_array(f, &a);
        else
            fputs("(malformed array)", f);
        return;
    }
    case BRAIN_TYPE_PICKLE:
        fputs("(a pickle: not unpickled here; recall it in Python)", f);
        return;
    default: {
        const uint8_t *p = data;
        size_t k = size < 32 ? (size_t)size : 32;
        for (size_t i = 0; i < k; i++)
            fprintf(f, "%s%02x", i ? " " : "", p[i]);
        if (k < size)
            fprintf(f, " ... (%" PRIu64 " more bytes)", size - k);
        fputs("  |", f);
        for (size_t i = 0; i < k; i++)
            fputc(isprint(p[i]) ? p[i] : '.', f);
        fputc('|', f);
        return;
    }
    }
}
