/*
 * doorman: escaping of logged values.
 */
#include <dm_core.h>
#include <dm_log_escape.h>

static const u_char dm_log_hex_upper[] = "0123456789ABCDEF";
static const u_char dm_log_hex_lower[] = "0123456789abcdef";

/* nginx's set: `"`, `\`, and bytes outside 0x20 ... 0x7e. */
static int
dm_log_escape_default_byte(u_char c)
{
    return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

size_t
dm_log_escape_default_len(const u_char *src, size_t len)
{
    size_t n = len, i;

    for (i = 0; i < len; i++) {
        if (dm_log_escape_default_byte(src[i])) {
            n += 3;
        }
    }
    return n;
}

u_char *
dm_log_escape_default(u_char *dst, const u_char *src, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!dm_log_escape_default_byte(src[i])) {
            *dst++ = src[i];
            continue;
        }
        *dst++ = '\\';
        *dst++ = 'x';
        *dst++ = dm_log_hex_upper[src[i] >> 4];
        *dst++ = dm_log_hex_upper[src[i] & 0xf];
    }
    return dst;
}

/*
 * Length of the well-formed UTF-8 sequence of two or more bytes at p
 * (RFC 3629, table 3-7 of the Unicode standard), or 0 when the byte at p
 * does not start one within the n bytes available.
 */
static size_t
dm_log_utf8_seq(const u_char *p, size_t n)
{
    u_char c = p[0], lo = 0x80, hi = 0xbf;
    size_t need, i;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) {
            lo = 0xa0; /* below: overlong */
        } else if (c == 0xed) {
            hi = 0x9f; /* above: surrogates U+D800 ... U+DFFF */
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) {
            lo = 0x90; /* below: overlong */
        } else if (c == 0xf4) {
            hi = 0x8f; /* above: beyond U+10FFFF */
        }
    } else {
        return 0; /* ASCII, a continuation byte, C0, C1, F5 ... FF */
    }
    if (n < need || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (i = 2; i < need; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }
    return need;
}

/* The two-character escape of a JSON control byte, or 0 for \u00XX. */
static u_char
dm_log_json_short(u_char c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    default:
        return 0;
    }
}

size_t
dm_log_escape_json_len(const u_char *src, size_t len)
{
    size_t n = 0, i = 0, seq;
    u_char c;

    while (i < len) {
        c = src[i];
        if (c >= 0x20 && c < 0x7f) {
            n += (c == '"' || c == '\\') ? 2 : 1;
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            n += dm_log_json_short(c) ? 2 : 6;
            i++;
        } else if ((seq = dm_log_utf8_seq(src + i, len - i)) != 0) {
            n += seq;
            i += seq;
        } else {
            /* one byte of an ill-formed sequence; resynchronise after it */
            n += 6;
            i++;
        }
    }
    return n;
}

u_char *
dm_log_escape_json(u_char *dst, const u_char *src, size_t len)
{
    size_t i = 0, seq;
    u_char c, e;

    while (i < len) {
        c = src[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *dst++ = c;
            i++;
            continue;
        }
        if (c >= 0x80 && (seq = dm_log_utf8_seq(src + i, len - i)) != 0) {
            memcpy(dst, src + i, seq);
            dst += seq;
            i += seq;
            continue;
        }
        e = dm_log_json_short(c);
        *dst++ = '\\';
        if (e) {
            *dst++ = e;
        } else {
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = dm_log_hex_lower[c >> 4];
            *dst++ = dm_log_hex_lower[c & 0xf];
        }
        i++;
    }
    return dst;
}
