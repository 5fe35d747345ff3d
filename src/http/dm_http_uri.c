/*
 * doorman: the request path as locations see it ($uri).
 *
 * Locations, and later access rules and proxy_pass, decide on the path;
 * a path they read differently from the backend is a way around them
 * ("/x/../admin", "/%61dmin", "//admin"). So the path is decoded and
 * normalized once, before FIND_CONFIG, and $request_uri keeps the bytes
 * as sent.
 */
#include <dm_core.h>
#include <dm_http_uri.h>

static int
dm_http_uri_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

ssize_t
dm_http_uri_normalize(u_char *dst, const u_char *src, size_t len)
{
    size_t n = 0, i, j, k, w;
    int hi, lo;
    int trailing;

    /* pass 1: decode, so that an encoded '/' or '.' is seen as one */
    for (i = 0; i < len; i++) {
        if (src[i] != '%') {
            dst[n++] = src[i];
            continue;
        }
        if (len - i < 3) {
            return -1;
        }
        hi = dm_http_uri_hex(src[i + 1]);
        lo = dm_http_uri_hex(src[i + 2]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            return -1; /* not hex, or a NUL that would end the path early */
        }
        dst[n++] = (u_char) (hi << 4 | lo);
        i += 2;
    }
    if (n == 0 || dst[0] != '/') {
        return -1;
    }

    /*
     * pass 2, in place: the output is a run of "/segment" pieces and never
     * outgrows what has been read (each piece costs at least the '/' that
     * was read before it), so memmove forward is safe.
     */
    w = 0;
    trailing = 0;
    for (i = 0; i < n; i = k) {
        for (j = i; j < n && dst[j] == '/'; j++) {
        }
        for (k = j; k < n && dst[k] != '/'; k++) {
        }
        trailing = 1; /* the path ends at a directory unless a name follows */
        if (k == j || (k - j == 1 && dst[j] == '.')) {
            continue;
        }
        if (k - j == 2 && dst[j] == '.' && dst[j + 1] == '.') {
            if (w == 0) {
                return -1; /* above the root */
            }
            while (dst[--w] != '/') {
            }
            continue;
        }
        dst[w] = '/';
        memmove(dst + w + 1, dst + j, k - j);
        w += 1 + (k - j);
        trailing = 0;
    }
    if (w == 0 || trailing) {
        dst[w++] = '/';
    }
    return (ssize_t) w;
}
