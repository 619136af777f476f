/*
 * error.c - status codes, their messages, and the per-thread detail line.
 *
 * The enum in brain.h and both tables here come from BRAIN_ERRNO_MAP, so a
 * code cannot exist without its message.  The detail line says what was
 * asked and what was found; it lives in thread-local storage so a caller
 * can read it right after the failing call without any handle.
 */
#include "internal.h"

#include <stdio.h>

static _Thread_local char detail[1024];

const char *brain_strerror(int status)
{
    switch (status) {
    case BRAIN_OK:
        return "success";
#define XX(code, val, msg) \
    case BRAIN_##code:     \
        return msg;
        BRAIN_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown brain status code";
    }
}

const char *brain_errname(int status)
{
    switch (status) {
    case BRAIN_OK:
        return "BRAIN_OK";
#define XX(code, val, msg) \
    case BRAIN_##code:     \
        return "BRAIN_" #code;
        BRAIN_ERRNO_MAP(XX)
#undef XX
    default:
        return "BRAIN_UNKNOWN";
    }
}

const char *brain_errdetail(void) { return detail; }

void brain__clear_error(void) { detail[0] = '\0'; }

int brain__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return code;
}

const char *brain__fmt_size(uint64_t n, char *buf, size_t cap)
{
    return brain_format_size(n, 0, buf, cap);
}

const char *brain_format_size(uint64_t bytes, int binary, char *buf, size_t cap)
{
    static const char *dec[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    static const char *bin[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double base = binary ? 1024.0 : 1000.0, v = (double)bytes;
    int u = 0;
    if (!buf || cap == 0)
        return "";
    while (v >= base && u < 6) {
        v /= base;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, cap, "%.1f %s", v, binary ? bin[u] : dec[u]);
    return buf;
}
