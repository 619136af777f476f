/*
 * name.c - the rules for names, namespaces and descriptions: UTF-8
 * validity, length, no NUL or control characters.
 *
 * Every operation of the C API checks its names through brain__name_check
 * (via key.c).  No hashing (hash.c) and no store access here.
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

int brain__name_check(const char *s, size_t max, int code, const char *what,
                  size_t *len)
{
    if (!s)
        return brain__fail(code, "%s is NULL; pass a non-empty UTF-8 string", what);
    size_t n = strnlen(s, max + 1);
    if (n == 0)
        return brain__fail(code, "%s is empty; pass a non-empty UTF-8 string", what);
    if (n > max) {
        size_t full = n + strlen(s + n);
        return brain__fail(code, "%s is %zu bytes long; the limit is %zu bytes", what,
                       full, max);
    }
    unsigned high = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        high |= c;
        if (c < 0x20)
            return brain__fail(code,
                           "%s contains control character 0x%02x at byte %zu; "
                           "names may not hold control characters",
                           what, c, i);
    }
    if ((high & 0x80) && !brain__utf8_valid(s, n)) /* plain ASCII is valid UTF-8 */
        return brain__fail(code, "%s is not valid UTF-8", what);
    *len = n;
    return 0;
}
