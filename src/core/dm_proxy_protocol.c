/*
 * doorman: the PROXY protocol parser, v1 (text) and v2 (binary), and the
 * CRC32C both sides of v2 use.
 *
 * No I/O and no allocation: the caller hands the bytes received so far
 * and gets back "complete", "not yet" or "never". "Not yet" is said only
 * while every byte so far can still begin a valid header, so a receiver
 * that reads with MSG_PEEK learns of garbage at its first byte instead of
 * at its timeout. v1 is walked by a bounded cursor, one token at a time,
 * each token checked as its bytes arrive; v2 is judged field by field as
 * soon as each is there, its length against `max` first of all, and its
 * body only when whole (the specification forbids reading addresses of a
 * partial header).
 *
 * Reference: HAProxy doc/proxy-protocol.txt, summarised for the project in
 * shared/corpora/proxy-protocol.md, which decides every edge case.
 */
#include <dm_core.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <dm_proxy_protocol.h>

#define DM_PP_TRY(e)                                                           \
    do {                                                                       \
        dm_int_t rc_ = (e);                                                    \
        if (rc_ != DM_OK) {                                                    \
            return rc_;                                                        \
        }                                                                      \
    } while (0)

#define DM_PP_UNKNOWN 2 /* the index of "UNKNOWN" in the protocol words */

/* A bounded reader over the v1 line received so far. */
typedef struct {
    const u_char *p;    /* the next byte */
    const u_char *end;  /* one past the last byte received (or allowed) */
    const char *reason; /* why the line is not valid, on DM_ERROR */
} dm_pp_v1_t;

/* "\r\n\r\n\0\r\nQUIT\n": byte 5 is NUL, so never a C string. */
static const u_char dm_pp2_signature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                            0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* The address block of a v2 family (fam's high nibble, 0 to 3). */
static const size_t dm_pp2_addr_len[4] = {0, 12, 36, 216};

/* CRC32C, reflected polynomial 0x82f63b78 (RFC 4960 appendix B). */
static const uint32_t dm_crc32c_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
    0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
    0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
    0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
    0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
    0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
    0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
    0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
    0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
    0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
    0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
    0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
    0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
    0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
    0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
    0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
    0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
    0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
    0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
    0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
    0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

/* The CRC register after p[0 .. len), not inverted: it can be resumed. */
static uint32_t
dm_crc32c_update(uint32_t c, const u_char *p, size_t len)
{
    while (len--) {
        c = dm_crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    }
    return c;
}

uint32_t
dm_crc32c(const u_char *p, size_t len)
{
    return ~dm_crc32c_update(0xffffffff, p, len);
}

static dm_int_t
dm_pp_fail(const char **reason, const char *why)
{
    *reason = why;
    return DM_ERROR;
}

/*
 * The reason for a header over `max` names the limit. It lives in a
 * static buffer, rewritten at each such rejection: workers are single
 * threaded, and callers log the reason before they parse again.
 */
static dm_int_t
dm_pp_too_long(const char **reason, size_t max)
{
    static char text[48];

    snprintf(text, sizeof(text), "header longer than %zu bytes", max);
    return dm_pp_fail(reason, text);
}

static dm_int_t
dm_pp_v1_fail(dm_pp_v1_t *c, const char *why)
{
    c->reason = why;
    return DM_ERROR;
}

/* The bytes of `s`, exactly (case-sensitive, as the specification says). */
static dm_int_t
dm_pp_v1_literal(dm_pp_v1_t *c, const char *s, const char *why)
{
    for (; *s; s++, c->p++) {
        if (c->p == c->end) {
            return DM_AGAIN;
        }
        if (*c->p != (u_char) *s) {
            return dm_pp_v1_fail(c, why);
        }
    }
    return DM_OK;
}

/* Before a token: the one SP that separates fields is behind us. */
static dm_int_t
dm_pp_v1_no_space(dm_pp_v1_t *c)
{
    if (c->p == c->end) {
        return DM_AGAIN;
    }
    if (*c->p == ' ') {
        return dm_pp_v1_fail(c, "v1: more than one space");
    }
    return DM_OK;
}

/* TCP4, TCP6 or UNKNOWN: *proto their index. No word begins another. */
static dm_int_t
dm_pp_v1_proto(dm_pp_v1_t *c, int *proto)
{
    static const char *const words[3] = {"TCP4", "TCP6", "UNKNOWN"};
    unsigned alive = 7;
    size_t n;
    int k;

    for (n = 0;; n++) {
        for (k = 0; k < 3; k++) {
            if ((alive >> k & 1) && words[k][n] == '\0') {
                c->p += n;
                *proto = k;
                return DM_OK;
            }
        }
        if (c->p + n == c->end) {
            return DM_AGAIN;
        }
        for (k = 0; k < 3; k++) {
            /* a dead word may be shorter than n: never read it again */
            if ((alive >> k & 1) && (u_char) words[k][n] != c->p[n]) {
                alive &= ~(1u << k);
            }
        }
        if (alive == 0) {
            /* UDP4, lower case, anything else: only TCP over v1 */
            return dm_pp_v1_fail(c, "v1: unknown protocol");
        }
    }
}

/* Only CRLF ends the line: a lone LF, or a CR before anything else, is
   refused (the specification: they must not be accepted). */
static dm_int_t
dm_pp_v1_crlf(dm_pp_v1_t *c, const char *bad)
{
    if (c->p == c->end) {
        return DM_AGAIN;
    }
    if (*c->p == '\n') {
        return dm_pp_v1_fail(c, "v1: LF without CR");
    }
    if (*c->p != '\r') {
        return dm_pp_v1_fail(c, bad);
    }
    if (++c->p == c->end) {
        return DM_AGAIN;
    }
    if (*c->p != '\n') {
        return dm_pp_v1_fail(c, "v1: CR without LF");
    }
    c->p++;
    return DM_OK;
}

/*
 * Dotted IPv4, four decimal octets 0 to 255, no leading zero. Stops at
 * the first byte that cannot be part of it (not consumed).
 */
static dm_int_t
dm_pp_v1_inet4(dm_pp_v1_t *c, u_char *out, const char *bad)
{
    unsigned octets = 0, digits = 0, v = 0;
    u_char ch;

    for (;; c->p++) {
        if (c->p == c->end) {
            return DM_AGAIN;
        }
        ch = *c->p;
        if (ch >= '0' && ch <= '9') {
            if (digits == 1 && v == 0) {
                return dm_pp_v1_fail(c, "v1: leading zero in an address");
            }
            v = v * 10 + (ch - '0');
            digits++;
            if (v > 255) {
                return dm_pp_v1_fail(c, bad);
            }
        } else if (ch == '.') {
            if (digits == 0 || octets == 3) {
                return dm_pp_v1_fail(c, bad);
            }
            out[octets++] = (u_char) v;
            v = 0;
            digits = 0;
        } else {
            break;
        }
    }
    if (digits == 0 || octets != 3) {
        return dm_pp_v1_fail(c, bad);
    }
    out[3] = (u_char) v;
    return DM_OK;
}

static int
dm_pp_hex(u_char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

/*
 * An IPv6 address as inet_pton(AF_INET6) takes it (groups of 1 to 4 hex
 * digits, at most one "::" standing for at least one group, an optional
 * dotted IPv4 tail as the last 32 bits, exactly 128 bits), judged byte by
 * byte so that a prefix no address begins with is refused at once: each
 * group, "::" or IPv4 tail is refused when the 8 groups could no longer
 * hold it. `prev` is what the last byte was: 0 nothing yet, 'l' a leading
 * ':', ':' a colon after a group, 'd' a "::", 'x' a hex digit, '4' part of
 * the IPv4 tail. A group of decimal digits is also tracked as a possible
 * first octet (dec, dval), for when a '.' follows it.
 */
static dm_int_t
dm_pp_v1_inet6(dm_pp_v1_t *c, u_char *out, const char *bad)
{
    unsigned units = 0, cap = 8, xdigits = 0, val = 0, dval = 0, dec = 0;
    unsigned octets = 0, n;
    int dc = -1, prev = 0, h;
    u_char ch;

    for (;; c->p++) {
        if (c->p == c->end) {
            return DM_AGAIN;
        }
        ch = *c->p;
        if (prev == '4') {
            if (ch >= '0' && ch <= '9') {
                if (xdigits == 1 && dval == 0) {
                    return dm_pp_v1_fail(c, bad);
                }
                dval = dval * 10 + (ch - '0');
                xdigits++;
                if (dval > 255) {
                    return dm_pp_v1_fail(c, bad);
                }
            } else if (ch == '.') {
                if (xdigits == 0 || octets == 3) {
                    return dm_pp_v1_fail(c, bad);
                }
                out[units * 2 + octets++] = (u_char) dval;
                dval = 0;
                xdigits = 0;
            } else {
                break;
            }
            continue;
        }
        h = dm_pp_hex(ch);
        if (h >= 0) {
            if (prev == 'l') {
                return dm_pp_v1_fail(c, bad); /* ":1" */
            }
            if (xdigits == 0) {
                /* a new group: is there room left for it? */
                if (units + 1 > cap) {
                    return dm_pp_v1_fail(c, bad);
                }
                val = 0;
                dval = 0;
                dec = 1;
            } else if (xdigits == 4) {
                return dm_pp_v1_fail(c, bad);
            }
            if (h > 9 || (xdigits > 0 && dval == 0)) {
                dec = 0; /* a letter or a leading zero: not an octet */
            }
            if (dec) {
                dval = dval * 10 + (unsigned) h;
                dec = dval <= 255;
            }
            val = val << 4 | (unsigned) h;
            xdigits++;
            prev = 'x';
        } else if (ch == ':') {
            if (prev == 0) {
                prev = 'l';
            } else if (prev == 'x') {
                out[units * 2] = (u_char) (val >> 8);
                out[units * 2 + 1] = (u_char) val;
                units++;
                xdigits = 0;
                if (units >= cap) {
                    return dm_pp_v1_fail(c, bad); /* no room after it */
                }
                prev = ':';
            } else if ((prev == ':' || prev == 'l') && dc < 0) {
                dc = (int) units;
                cap = 7; /* "::" stands for one group at least */
                prev = 'd';
            } else {
                return dm_pp_v1_fail(c, bad);
            }
        } else if (ch == '.') {
            if (prev != 'x' || !dec || units + 2 > cap) {
                return dm_pp_v1_fail(c, bad);
            }
            out[units * 2] = (u_char) dval;
            octets = 1;
            dval = 0;
            xdigits = 0;
            prev = '4';
        } else {
            break;
        }
    }

    switch (prev) {
    case 'x':
        out[units * 2] = (u_char) (val >> 8);
        out[units * 2 + 1] = (u_char) val;
        units++;
        break;
    case '4':
        if (octets != 3 || xdigits == 0) {
            return dm_pp_v1_fail(c, bad);
        }
        out[units * 2 + 3] = (u_char) dval;
        units += 2;
        break;
    case 'd':
        break;
    default:
        return dm_pp_v1_fail(c, bad); /* empty, or ends in one ':' */
    }
    if (dc < 0 ? units != 8 : units > 7) {
        return dm_pp_v1_fail(c, bad);
    }
    if (dc >= 0) {
        /* the groups after "::" go to the end, zeros in between */
        n = units - (unsigned) dc;
        memmove(out + 16 - n * 2, out + dc * 2, n * 2);
        memset(out + dc * 2, 0, (8 - units) * 2);
    }
    return DM_OK;
}

/* A port: decimal 0 to 65535, no leading zero. */
static dm_int_t
dm_pp_v1_port(dm_pp_v1_t *c, uint16_t *port, const char *bad)
{
    unsigned digits = 0, v = 0;
    u_char ch;

    for (;; c->p++) {
        if (c->p == c->end) {
            return DM_AGAIN;
        }
        ch = *c->p;
        if (ch < '0' || ch > '9') {
            break;
        }
        if (digits == 1 && v == 0) {
            return dm_pp_v1_fail(c, "v1: leading zero in a port");
        }
        v = v * 10 + (ch - '0');
        digits++;
        if (v > 65535) {
            return dm_pp_v1_fail(c, "v1: port over 65535");
        }
    }
    if (digits == 0) {
        return dm_pp_v1_fail(c, bad);
    }
    *port = (uint16_t) v;
    return DM_OK;
}

/* UNKNOWN: whatever follows (after one SP) is ignored up to the CRLF. */
static dm_int_t
dm_pp_v1_unknown(dm_pp_v1_t *c, dm_proxy_protocol_t *pp)
{
    if (c->p == c->end) {
        return DM_AGAIN;
    }
    if (*c->p == ' ') {
        for (c->p++;; c->p++) {
            if (c->p == c->end) {
                return DM_AGAIN;
            }
            if (*c->p == '\r') {
                break;
            }
            if (*c->p == '\n') {
                return dm_pp_v1_fail(c, "v1: LF without CR");
            }
        }
    }
    DM_PP_TRY(dm_pp_v1_crlf(c, "v1: unknown protocol"));
    pp->local = 1;
    pp->family = AF_UNSPEC;
    return DM_OK;
}

/* Sets a sockaddr_in or sockaddr_in6 from raw bytes (port as on the wire,
   network order). */
static void
dm_pp_sockaddr(struct sockaddr_storage *ss, socklen_t *sslen, int family,
               const u_char *addr, const u_char *port)
{
    struct sockaddr_in *sin;
    struct sockaddr_in6 *sin6;

    if (family == AF_INET) {
        sin = (struct sockaddr_in *) ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_port, port, 2);
        memcpy(&sin->sin_addr, addr, 4);
        *sslen = sizeof(struct sockaddr_in);
    } else {
        sin6 = (struct sockaddr_in6 *) ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_port, port, 2);
        memcpy(&sin6->sin6_addr, addr, 16);
        *sslen = sizeof(struct sockaddr_in6);
    }
}

/* "PROXY" SP proto SP src SP dst SP sport SP dport CRLF */
static dm_int_t
dm_pp_v1_line(dm_pp_v1_t *c, dm_proxy_protocol_t *pp)
{
    static const char *const bad_addr[2] = {"v1: bad source address",
                                            "v1: bad destination address"};
    static const char *const bad_port[2] = {"v1: bad source port",
                                            "v1: bad destination port"};
    u_char addr[2][16], port[2][2];
    uint16_t v;
    int proto, i;

    DM_PP_TRY(dm_pp_v1_literal(c, "PROXY ", "v1: bad signature"));
    DM_PP_TRY(dm_pp_v1_no_space(c));
    DM_PP_TRY(dm_pp_v1_proto(c, &proto));
    pp->version = 1;
    if (proto == DM_PP_UNKNOWN) {
        return dm_pp_v1_unknown(c, pp);
    }
    DM_PP_TRY(dm_pp_v1_literal(c, " ", "v1: unknown protocol"));
    for (i = 0; i < 2; i++) {
        DM_PP_TRY(dm_pp_v1_no_space(c));
        DM_PP_TRY(proto == 0 ? dm_pp_v1_inet4(c, addr[i], bad_addr[i])
                             : dm_pp_v1_inet6(c, addr[i], bad_addr[i]));
        DM_PP_TRY(dm_pp_v1_literal(c, " ", bad_addr[i]));
    }
    for (i = 0; i < 2; i++) {
        DM_PP_TRY(dm_pp_v1_no_space(c));
        DM_PP_TRY(dm_pp_v1_port(c, &v, bad_port[i]));
        port[i][0] = (u_char) (v >> 8);
        port[i][1] = (u_char) v;
        DM_PP_TRY(i == 0 ? dm_pp_v1_literal(c, " ", bad_port[0])
                         : dm_pp_v1_crlf(c, bad_port[1]));
    }
    pp->family = proto == 0 ? AF_INET : AF_INET6;
    pp->transport = SOCK_STREAM;
    dm_pp_sockaddr(&pp->src, &pp->src_len, pp->family, addr[0], port[0]);
    dm_pp_sockaddr(&pp->dst, &pp->dst_len, pp->family, addr[1], port[1]);
    return DM_OK;
}

/* A v1 line within min(107, max) bytes. */
static dm_int_t
dm_pp_v1(const u_char *data, size_t len, size_t max, dm_proxy_protocol_t *pp,
         const char **reason)
{
    size_t limit = dm_min(max, DM_PROXY_PROTOCOL_V1_MAX);
    dm_pp_v1_t c;
    dm_int_t rc;

    c.p = data;
    c.end = data + dm_min(len, limit);
    c.reason = NULL;
    rc = dm_pp_v1_line(&c, pp);
    if (rc == DM_ERROR) {
        return dm_pp_fail(reason, c.reason);
    }
    if (rc == DM_AGAIN) {
        if (len < limit) {
            return DM_AGAIN;
        }
        /* the whole allowance is there and the line has not ended */
        if (limit == DM_PROXY_PROTOCOL_V1_MAX) {
            return dm_pp_fail(reason, "v1: no CRLF within 107 bytes");
        }
        return dm_pp_too_long(reason, max);
    }
    pp->length = (size_t) (c.p - data);
    return DM_OK;
}

/*
 * Checks the TLVs in [p, end): each whole within it (3 bytes at least),
 * the last ending exactly at `end`. At the top level (sub == 0) also each
 * known type's own rules, the SSL TLV's sub-TLVs by the same rules within
 * it, and where the CRC32C value is (*crc_at). Returns NULL or the reason.
 */
static const char *
dm_pp2_check_tlvs(const u_char *p, const u_char *end, int sub,
                  const u_char **crc_at)
{
    const char *why;
    const u_char *v;
    size_t n;

    while (p < end) {
        if (end - p < 3) {
            return sub ? "v2: stray bytes after the last SSL sub-TLV"
                       : "v2: stray bytes after the last TLV";
        }
        n = (size_t) p[1] << 8 | p[2];
        v = p + 3;
        if (n > (size_t) (end - v)) {
            return sub ? "v2: SSL sub-TLV overrun" : "v2: TLV overrun";
        }
        if (!sub) {
            switch (p[0]) {
            case DM_PP2_TYPE_CRC32C:
                if (n != 4) {
                    return "v2: CRC32C TLV length not 4";
                }
                if (*crc_at) {
                    /* which one would be zeroed for the check? */
                    return "v2: two CRC32C TLVs";
                }
                *crc_at = v;
                break;
            case DM_PP2_TYPE_UNIQUE_ID:
                if (n > 128) {
                    return "v2: UNIQUE_ID longer than 128 bytes";
                }
                break;
            case DM_PP2_TYPE_SSL:
                /* client (1) and verify (4), then the sub-TLVs */
                if (n < 5) {
                    return "v2: SSL TLV shorter than 5 bytes";
                }
                why = dm_pp2_check_tlvs(v + 5, v + n, 1, NULL);
                if (why) {
                    return why;
                }
                break;
            }
        }
        p = v + n;
    }
    return NULL;
}

/* The CRC32C of the header h[0 .. len) with the 4 bytes at `at` zeroed. */
static uint32_t
dm_pp2_crc(const u_char *h, size_t len, const u_char *at)
{
    static const u_char zero[4];
    uint32_t c;

    c = dm_crc32c_update(0xffffffff, h, (size_t) (at - h));
    c = dm_crc32c_update(c, zero, 4);
    c = dm_crc32c_update(c, at + 4, len - (size_t) (at + 4 - h));
    return ~c;
}

/*
 * The TLVs of a whole header, from `off` to pp->length. `strict`: the
 * block's layout is defined (PROXY of a known family) and bad TLVs reject
 * the header. Otherwise (LOCAL, UNSPEC: the receiver must accept and skip
 * what it cannot read) TLVs that do not parse are ignored; TLVs that do
 * parse are kept, and a CRC32C among them is still verified, as a
 * mismatch means the bytes were damaged.
 */
static dm_int_t
dm_pp2_tlvs(const u_char *h, size_t off, int strict, dm_proxy_protocol_t *pp,
            const char **reason)
{
    const u_char *crc_at = NULL;
    const char *why;
    uint32_t want;

    if (off >= pp->length) {
        return DM_OK;
    }
    why = dm_pp2_check_tlvs(h + off, h + pp->length, 0, &crc_at);
    if (why) {
        return strict ? dm_pp_fail(reason, why) : DM_OK;
    }
    pp->tlvs = h + off;
    pp->tlvs_len = pp->length - off;
    if (crc_at) {
        want = (uint32_t) crc_at[0] << 24 | (uint32_t) crc_at[1] << 16
               | (uint32_t) crc_at[2] << 8 | crc_at[3];
        if (dm_pp2_crc(h, pp->length, crc_at) != want) {
            return dm_pp_fail(reason, "v2: CRC32C mismatch");
        }
        pp->crc = want;
        pp->has_crc = 1;
    }
    return DM_OK;
}

/* UNIX: 108 bytes of path; sun_path is kept NUL-terminated (a path that
   fills all 108 loses its last byte). */
static void
dm_pp2_unix(struct sockaddr_storage *ss, socklen_t *sslen, const u_char *p)
{
    struct sockaddr_un *sun = (struct sockaddr_un *) ss;
    size_t n = sizeof(sun->sun_path) < 108 ? sizeof(sun->sun_path) : 108;

    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, p, n);
    sun->sun_path[n - 1] = '\0';
    *sslen = (socklen_t) (offsetof(struct sockaddr_un, sun_path)
                          + strlen(sun->sun_path) + 1);
}

/* The addresses of a whole PROXY header of a known family. */
static void
dm_pp2_addresses(const u_char *a, unsigned fam, dm_proxy_protocol_t *pp)
{
    switch (fam) {
    case 1:
        pp->family = AF_INET;
        dm_pp_sockaddr(&pp->src, &pp->src_len, AF_INET, a, a + 8);
        dm_pp_sockaddr(&pp->dst, &pp->dst_len, AF_INET, a + 4, a + 10);
        break;
    case 2:
        pp->family = AF_INET6;
        dm_pp_sockaddr(&pp->src, &pp->src_len, AF_INET6, a, a + 32);
        dm_pp_sockaddr(&pp->dst, &pp->dst_len, AF_INET6, a + 16, a + 34);
        break;
    default:
        pp->family = AF_UNIX;
        dm_pp2_unix(&pp->src, &pp->src_len, a);
        dm_pp2_unix(&pp->dst, &pp->dst_len, a + 108);
        break;
    }
}

/* A v2 header: each field judged as soon as it has arrived. */
static dm_int_t
dm_pp_v2(const u_char *h, size_t len, size_t max, dm_proxy_protocol_t *pp,
         const char **reason)
{
    unsigned cmd, fam, tr;
    size_t total, alen;

    if (memcmp(h, dm_pp2_signature, dm_min(len, 12)) != 0) {
        return dm_pp_fail(reason, "v2: bad signature");
    }
    if (len < 13) {
        return DM_AGAIN;
    }
    if (h[12] >> 4 != 2) {
        return dm_pp_fail(reason, "v2: version not 2");
    }
    cmd = h[12] & 0x0f;
    if (cmd > 1) {
        return dm_pp_fail(reason, "v2: bad command");
    }
    if (len < 14) {
        return DM_AGAIN;
    }
    fam = h[13] >> 4;
    tr = h[13] & 0x0f;
    if (fam > 3) {
        return dm_pp_fail(reason, "v2: bad address family");
    }
    if (tr > 2) {
        return dm_pp_fail(reason, "v2: bad transport");
    }
    if (len < DM_PROXY_PROTOCOL_V2_HEAD) {
        return DM_AGAIN;
    }
    /* the length first: up to 65,551 bytes could be announced */
    total = DM_PROXY_PROTOCOL_V2_HEAD + ((size_t) h[14] << 8 | h[15]);
    if (total > max) {
        return dm_pp_too_long(reason, max);
    }
    alen = dm_pp2_addr_len[fam];
    if (cmd == 1 && total - DM_PROXY_PROTOCOL_V2_HEAD < alen) {
        return dm_pp_fail(reason, "v2: address block too short for its family");
    }
    if (len < total) {
        return DM_AGAIN;
    }

    pp->version = 2;
    pp->length = total;
    pp->transport = tr == 1 ? SOCK_STREAM : tr == 2 ? SOCK_DGRAM : 0;
    if (cmd == 0 || fam == 0) {
        /* LOCAL, or UNSPEC: the real endpoints; whatever block there is
           (LOCAL must not be assumed to have len 0) is skipped */
        pp->local = 1;
        pp->family = AF_UNSPEC;
        if (total - DM_PROXY_PROTOCOL_V2_HEAD < alen) {
            alen = total - DM_PROXY_PROTOCOL_V2_HEAD;
        }
        return dm_pp2_tlvs(h, DM_PROXY_PROTOCOL_V2_HEAD + alen, 0, pp, reason);
    }
    dm_pp2_addresses(h + DM_PROXY_PROTOCOL_V2_HEAD, fam, pp);
    return dm_pp2_tlvs(h, DM_PROXY_PROTOCOL_V2_HEAD + alen, 1, pp, reason);
}

dm_int_t
dm_proxy_protocol_parse(const u_char *data, size_t len, dm_uint_t versions,
                        size_t max, dm_proxy_protocol_t *pp,
                        const char **reason)
{
    memset(pp, 0, sizeof(*pp));
    *reason = NULL;
    if (max == 0) {
        max = DM_PROXY_PROTOCOL_MAX;
    }
    if (len == 0) {
        return DM_AGAIN;
    }
    /*
     * The first byte tells the versions apart (v2 begins with CR, v1 with
     * 'P'); nothing is guessed beyond what `versions` allows.
     */
    if (data[0] == dm_pp2_signature[0]) {
        if (!(versions & DM_PROXY_PROTOCOL_V2)) {
            return dm_pp_fail(reason, "v2 header not accepted");
        }
        return dm_pp_v2(data, len, max, pp, reason);
    }
    if (data[0] == 'P') {
        if (!(versions & DM_PROXY_PROTOCOL_V1)) {
            return dm_pp_fail(reason, "v1 header not accepted");
        }
        return dm_pp_v1(data, len, max, pp, reason);
    }
    return dm_pp_fail(reason, "no PROXY protocol header");
}

/* The first TLV of `type` in [p, end) (checked TLVs, but bounded anyway). */
static dm_int_t
dm_pp2_find(const u_char *p, const u_char *end, uint8_t type,
            dm_proxy_protocol_tlv_t *tlv)
{
    size_t n;

    while (end - p >= 3) {
        n = (size_t) p[1] << 8 | p[2];
        if (n > (size_t) (end - p - 3)) {
            break;
        }
        if (p[0] == type) {
            tlv->type = type;
            tlv->len = (uint16_t) n;
            tlv->value = p + 3;
            return DM_OK;
        }
        p += 3 + n;
    }
    return DM_DECLINED;
}

dm_int_t
dm_proxy_protocol_tlv_find(const dm_proxy_protocol_t *pp, uint8_t type,
                           dm_proxy_protocol_tlv_t *tlv)
{
    const u_char *p = pp->tlvs, *end;
    dm_proxy_protocol_tlv_t ssl;

    if (p == NULL) {
        return DM_DECLINED;
    }
    end = p + pp->tlvs_len;
    if (type >= DM_PP2_SUBTYPE_SSL_VERSION
        && type <= DM_PP2_SUBTYPE_SSL_CLIENT_CERT) {
        /* a sub-type: inside the SSL TLV, after client and verify */
        if (dm_pp2_find(p, end, DM_PP2_TYPE_SSL, &ssl) != DM_OK
            || ssl.len < 5) {
            return DM_DECLINED;
        }
        p = ssl.value + 5;
        end = ssl.value + ssl.len;
    }
    return dm_pp2_find(p, end, type, tlv);
}

dm_int_t
dm_proxy_protocol_tlv_type(const u_char *name, size_t len)
{
    static const struct {
        const char *name;
        uint8_t type;
    } names[] = {
        {"alpn", DM_PP2_TYPE_ALPN},
        {"authority", DM_PP2_TYPE_AUTHORITY},
        {"unique_id", DM_PP2_TYPE_UNIQUE_ID},
        {"ssl", DM_PP2_TYPE_SSL},
        {"netns", DM_PP2_TYPE_NETNS},
        {"ssl_version", DM_PP2_SUBTYPE_SSL_VERSION},
        {"ssl_cn", DM_PP2_SUBTYPE_SSL_CN},
        {"ssl_cipher", DM_PP2_SUBTYPE_SSL_CIPHER},
        {"ssl_sig_alg", DM_PP2_SUBTYPE_SSL_SIG_ALG},
        {"ssl_key_alg", DM_PP2_SUBTYPE_SSL_KEY_ALG},
        {"ssl_group", DM_PP2_SUBTYPE_SSL_GROUP},
        {"ssl_sig_scheme", DM_PP2_SUBTYPE_SSL_SIG_SCHEME},
    };
    size_t i;
    int hi, lo;

    for (i = 0; i < dm_nelems(names); i++) {
        if (strlen(names[i].name) == len
            && memcmp(names[i].name, name, len) == 0) {
            return names[i].type;
        }
    }
    /* 0xNN: any type by number, 0x01 to 0xff (0 is no TLV type) */
    if (len == 4 && name[0] == '0' && name[1] == 'x') {
        hi = dm_pp_hex(name[2]);
        lo = dm_pp_hex(name[3]);
        if (hi >= 0 && lo >= 0 && (hi || lo)) {
            return hi << 4 | lo;
        }
    }
    return -1;
}
