/*
 * doorman: parsers for the numbers written in configuration files.
 */
#include <dm_core.h>

int64_t
dm_parse_int(const u_char *p, size_t n)
{
    int64_t v = 0;

    if (n == 0) {
        return -1;
    }
    while (n--) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        if (v > (INT64_MAX - (*p - '0')) / 10) {
            return -1;
        }
        v = v * 10 + (*p++ - '0');
    }
    return v;
}

int64_t
dm_parse_size(const u_char *p, size_t n)
{
    int64_t v, scale = 1;

    if (n == 0) {
        return -1;
    }
    switch (p[n - 1]) {
    case 'k':
    case 'K':
        scale = 1024;
        n--;
        break;
    case 'm':
    case 'M':
        scale = 1024 * 1024;
        n--;
        break;
    case 'g':
    case 'G':
        scale = 1024 * 1024 * 1024;
        n--;
        break;
    }
    v = dm_parse_int(p, n);
    if (v < 0 || v > INT64_MAX / scale) {
        return -1;
    }
    return v * scale;
}

int64_t
dm_parse_msec(const u_char *p, size_t n)
{
    /* units from the largest down: each may appear once, in this order */
    static const struct {
        char unit[3];
        int64_t ms;
    } units[] = {
        {"y", 365LL * 24 * 3600 * 1000},
        {"M", 30LL * 24 * 3600 * 1000},
        {"w", 7LL * 24 * 3600 * 1000},
        {"d", 24LL * 3600 * 1000},
        {"h", 3600LL * 1000},
        {"m", 60LL * 1000},
        {"s", 1000},
        {"ms", 1},
    };
    const u_char *end = p + n;
    int64_t total = 0, v, scale;
    size_t next = 0, u;
    int digits = 0;

    while (p < end) {
        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p < '0' || *p > '9') {
            return -1;
        }
        v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (v > (INT64_MAX - (*p - '0')) / 10) {
                return -1;
            }
            v = v * 10 + (*p++ - '0');
            digits = 1;
        }
        if (p == end) {
            /* a bare trailing number means seconds, alone */
            if (next != 0) {
                return -1;
            }
            scale = 1000;
            next = dm_nelems(units);
        } else {
            for (u = next; u < dm_nelems(units); u++) {
                size_t ulen = strlen(units[u].unit);

                if ((size_t) (end - p) >= ulen
                    && memcmp(p, units[u].unit, ulen) == 0
                    && !(ulen == 1 && units[u].unit[0] == 'm' && p + 1 < end
                         && p[1] == 's')) {
                    break;
                }
            }
            if (u == dm_nelems(units)) {
                return -1; /* unknown, repeated or out of order */
            }
            p += strlen(units[u].unit);
            scale = units[u].ms;
            next = u + 1;
        }
        if (v > (INT64_MAX - total) / scale) {
            return -1;
        }
        total += v * scale;
    }
    return digits ? total : -1;
}

int64_t
dm_parse_sec(const u_char *p, size_t n)
{
    int64_t ms = dm_parse_msec(p, n);

    if (ms < 0 || ms % 1000) {
        return -1;
    }
    return ms / 1000;
}
