/*
 * name.c - the rules for names, namespaces and descriptions: UTF-8
 * validity, length, no NUL or control characters.
 *
 * Every operation of the C API checks its names through brain__name_check
 * (via key.c); bindings check theirs before doing work for them with
 * brain_check_name (the Python extension words its messages from the rule
 * broken).  The rules are name_rule's, nowhere else.  No hashing (hash.c)
 * and no store access here.
 */
#include "internal.h"

int brain__utf8_valid(const void *s, size_t n)
{
    const uint8_t *p = s, *end = p + n;
    while (p < end) {
        uint8_t c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else
            return 0;
        if ((size_t)(end - p) < len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += len;
    }
    return 1;
}

/* The first rule the N bytes at S break (0: none); *at gets where. */
static int name_rule(const char *s, size_t n, size_t max, size_t *at)
{
    *at = n;
    if (n == 0)
        return BRAIN_NAME_EMPTY;
    const char *nul = memchr(s, 0, n); /* a counted string's NUL, wherever it is */
    if (nul) {
        *at = (size_t)(nul - s);
        return BRAIN_NAME_NUL;
    }
    if (n > max)
        return BRAIN_NAME_TOO_LONG;
    unsigned high = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        high |= c;
        if (c < 0x20) {
            *at = i;
            return c ? BRAIN_NAME_CONTROL : BRAIN_NAME_NUL;
        }
    }
    if ((high & 0x80) && !brain__utf8_valid(s, n)) { /* plain ASCII is valid UTF-8 */
        *at = 0;
        return BRAIN_NAME_UTF8;
    }
    return 0;
}

/* CODE with the sentence for RULE; FULL: the whole length. */
static int name_fail(int rule, const char *s, size_t full, size_t at, size_t max, int code,
                     const char *what)
{
    switch (rule) {
    case BRAIN_NAME_EMPTY:
        return brain__fail(code, "%s is empty; pass a non-empty UTF-8 string", what);
    case BRAIN_NAME_TOO_LONG:
        return brain__fail(code, "%s is %zu bytes long; the limit is %zu bytes", what,
                           full, max);
    case BRAIN_NAME_NUL:
        return brain__fail(code,
                           "%s contains a NUL character at byte %zu; "
                           "names may not hold control characters",
                           what, at);
    case BRAIN_NAME_CONTROL:
        return brain__fail(code,
                           "%s contains control character 0x%02x at byte %zu; "
                           "names may not hold control characters",
                           what, (unsigned char)s[at], at);
    default:
        return brain__fail(code, "%s is not valid UTF-8", what);
    }
}

int brain__name_check(const char *s, size_t max, int code, const char *what,
                  size_t *len)
{
    if (!s)
        return brain__fail(code, "%s is NULL; pass a non-empty UTF-8 string", what);
    size_t n = strnlen(s, max + 1), at;
    int rule = name_rule(s, n, max, &at);
    if (rule)
        return name_fail(rule, s, rule == BRAIN_NAME_TOO_LONG ? n + strlen(s + n) : n, at,
                         max, code, what);
    *len = n;
    return 0;
}

int brain_check_name(const char *s, size_t n, int is_namespace, int *rule, size_t *at)
{
    size_t max = is_namespace ? BRAIN_NS_MAX : BRAIN_NAME_MAX, where = 0;
    int code = is_namespace ? BRAIN_ENAMESPACE : BRAIN_ENAME;
    int r = s || !n ? name_rule(s, n, max, &where) : BRAIN_NAME_EMPTY;
    if (rule)
        *rule = r;
    if (at)
        *at = where;
    if (!r)
        return 0;
    return name_fail(r, s, n, where, max, code, is_namespace ? "namespace" : "name");
}
