/*
 * size.c - brain_parse_size: "64MiB", "1.5G", "4096" to bytes, for the
 * CLI, the Python front end and store configuration.
 *
 * Only text to a number, with an error that says what was wrong.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- sizes ---------------------------------------------------------------- */

int brain_parse_size(const char *text, uint64_t *out)
{
    if (!text || !out)
        return brain__fail(BRAIN_EINVAL, "size: NULL argument");
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p))
        return brain__fail(BRAIN_EINVAL,
                       "size '%.64s' is not a number of bytes such as 1048576, 50MB or 2GiB",
                       text);
    uint64_t ip = 0, frac = 0, fscale = 1;
    while (isdigit((unsigned char)*p)) {
        uint64_t d = (uint64_t)(*p++ - '0');
        if (ip > (UINT64_MAX - d) / 10)
            return brain__fail(BRAIN_EINVAL, "size '%.64s' is too large", text);
        ip = ip * 10 + d;
    }
    int has_frac = 0;
    if (*p == '.') {
        p++;
        has_frac = 1;
        if (!isdigit((unsigned char)*p))
            return brain__fail(BRAIN_EINVAL, "size '%.64s' is malformed", text);
        while (isdigit((unsigned char)*p)) {
            if (fscale < 1000000000000000000ull) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                fscale *= 10;
            }
            p++;
        }
    }
    while (*p == ' ')
        p++;
    char unit[8] = {0};
    size_t ul = 0;
    while (*p && !isspace((unsigned char)*p) && ul < sizeof unit - 1)
        unit[ul++] = (char)tolower((unsigned char)*p++);
    while (isspace((unsigned char)*p))
        p++;
    if (*p)
        return brain__fail(BRAIN_EINVAL, "size '%.64s' has trailing characters", text);
    static const struct {
        const char *u;
        uint64_t m;
    } units[] = {
        {"", 1}, {"b", 1}, {"k", 1000ull}, {"kb", 1000ull}, {"m", 1000000ull},
        {"mb", 1000000ull}, {"g", 1000000000ull}, {"gb", 1000000000ull},
        {"t", 1000000000000ull}, {"tb", 1000000000000ull},
        {"p", 1000000000000000ull}, {"pb", 1000000000000000ull},
        {"kib", 1ull << 10}, {"mib", 1ull << 20}, {"gib", 1ull << 30},
        {"tib", 1ull << 40}, {"pib", 1ull << 50}, {"ki", 1ull << 10},
        {"mi", 1ull << 20}, {"gi", 1ull << 30}, {"ti", 1ull << 40},
    };
    uint64_t mult = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(unit, units[i].u) == 0)
            mult = units[i].m;
    if (!mult)
        return brain__fail(BRAIN_EINVAL,
                       "size '%.64s' has unknown unit '%s'; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB",
                       text, unit);
    if (has_frac && mult == 1)
        return brain__fail(BRAIN_EINVAL, "size '%.64s' is a fraction of a byte", text);
    if (ip > UINT64_MAX / mult)
        return brain__fail(BRAIN_EINVAL, "size '%.64s' is too large", text);
    uint64_t v = ip * mult;
    if (has_frac) {
        /* frac/fscale * mult, without overflow for the units we have */
        long double f = (long double)frac / (long double)fscale * (long double)mult;
        if ((long double)(UINT64_MAX - v) < f)
            return brain__fail(BRAIN_EINVAL, "size '%.64s' is too large", text);
        v += (uint64_t)(f + 0.5L);
    }
    *out = v;
    return 0;
}
