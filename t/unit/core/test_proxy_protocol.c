/*
 * doorman: unit tests for the PROXY protocol parser and encoder
 * (src/core/dm_proxy_protocol.c, dm_proxy_protocol_write.c).
 *
 * Covered: CRC32C's check value; every example of the specification
 * summary (shared/corpora/proxy-protocol.md), with payload after it; each
 * valid header cut at every length (DM_AGAIN, never OK or ERROR), whole
 * and byte by byte; v1: TCP4, TCP6 (IPv6 text judged as inet_pton judges
 * it, over a list of good and bad forms), UNKNOWN short and at 107 bytes,
 * and every rejection (no CRLF within 107, lone CR or LF, leading zeros,
 * port 65536, double space, UDP4, lower case, wrong family, a plain HTTP
 * request, max under 107); v2: bad signature bytes, version, command,
 * family, transport, address blocks too short, len over max (65535 with
 * 4096, refused from the 16 fixed bytes), TLV overrun, stray bytes, SSL
 * sub-TLV overrun and stray bytes, CRC32C good, bad and malformed,
 * UNIQUE_ID 128 and 129, LOCAL with and without a block, UNSPEC, UNIX
 * addresses, a TLV after the header end (payload); round trips write ->
 * parse for v1 and v2 of each family and transport with TLVs and CRC;
 * the encoder's refusals; TLV names. Each rejection checks its reason.
 */
#include <dm_core.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <dm_proxy_protocol.h>

#include <setjmp.h>
#include <cmocka.h>

#define V12 (DM_PROXY_PROTOCOL_V1 | DM_PROXY_PROTOCOL_V2)

#define SIG "0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a "

/* The summary's v2 examples, verified there. */
#define EX_TCP4  SIG "21 11 00 0c c0 00 02 01 c0 00 02 02 00 7b 16 2e"
#define EX_LOCAL SIG "20 00 00 00"
#define EX_TCP6                                                                \
    SIG "21 21 00 24 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 "         \
        "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 00 7b 16 2e"
#define EX_CRC                                                                 \
    SIG "21 11 00 13 c0 00 02 01 c0 00 02 02 00 7b 16 2e 03 00 04 1c 2b 48 6c"

#define EX_V1 "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"

/* Hex digits (spaces ignored) to bytes; returns the count. */
static size_t
unhex(const char *s, u_char *out)
{
    size_t n = 0;
    unsigned v;

    while (*s) {
        if (*s == ' ') {
            s++;
            continue;
        }
        assert_int_equal(sscanf(s, "%2x", &v), 1);
        out[n++] = (u_char) v;
        s += 2;
    }
    return n;
}

static dm_int_t
parse(const void *data, size_t len, dm_uint_t versions, size_t max,
      dm_proxy_protocol_t *pp, const char **reason)
{
    return dm_proxy_protocol_parse(data, len, versions, max, pp, reason);
}

/* A rejection, with (a substring of) its reason. */
static void
check_reject(const u_char *data, size_t len, dm_uint_t versions, size_t max,
             const char *why)
{
    dm_proxy_protocol_t pp;
    const char *reason = NULL;
    dm_int_t rc;

    rc = parse(data, len, versions, max, &pp, &reason);
    if (rc != DM_ERROR || reason == NULL || strstr(reason, why) == NULL) {
        fail_msg("%.*s: rc %d, reason \"%s\", expected \"%s\"",
                 (int) dm_min(len, 60), (const char *) data, (int) rc,
                 reason ? reason : "-", why);
    }
}

static void
check_reject_v1(const char *line, const char *why)
{
    check_reject((const u_char *) line, strlen(line), V12, 0, why);
}

/* Every prefix of a valid header needs more; the whole is complete. */
static void
check_every_cut(const u_char *data, size_t len, dm_uint_t versions)
{
    dm_proxy_protocol_t pp;
    const char *reason;
    size_t k;
    dm_int_t rc;

    for (k = 0; k < len; k++) {
        rc = parse(data, k, versions, 0, &pp, &reason);
        if (rc != DM_AGAIN) {
            fail_msg("cut at %zu of %zu: %d (%s)", k, len, (int) rc,
                     reason ? reason : "-");
        }
    }
    assert_int_equal(parse(data, len, versions, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.length, len);
}

static void
check_in4(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;
    char text[INET6_ADDRSTRLEN];

    assert_int_equal(sin->sin_family, AF_INET);
    assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)));
    assert_string_equal(text, addr);
    assert_int_equal(ntohs(sin->sin_port), port);
}

static void
check_in6(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;
    char text[INET6_ADDRSTRLEN];

    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text)));
    assert_string_equal(text, addr);
    assert_int_equal(ntohs(sin6->sin6_port), port);
}

static void
test_crc32c(void **state)
{
    u_char buf[64];
    size_t n;

    assert_int_equal(dm_crc32c((const u_char *) "123456789", 9), 0xE3069283);
    assert_int_equal(dm_crc32c((const u_char *) "", 0), 0);
    /* the summary's example: its CRC over the header with the value zeroed */
    n = unhex(EX_CRC, buf);
    memset(buf + n - 4, 0, 4);
    assert_int_equal(dm_crc32c(buf, n), 0x1c2b486c);
}

static void
test_examples(void **state)
{
    static const char payload[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    dm_proxy_protocol_t pp;
    dm_proxy_protocol_tlv_t tlv;
    const char *reason;
    u_char buf[256];
    size_t n;

    n = strlen(EX_V1);
    memcpy(buf, EX_V1, n);
    memcpy(buf + n, payload, sizeof(payload));
    assert_int_equal(parse(buf, n + sizeof(payload), V12, 0, &pp, &reason),
                     DM_OK);
    assert_int_equal(pp.version, 1);
    assert_int_equal(pp.length, n);
    assert_false(pp.local);
    assert_int_equal(pp.family, AF_INET);
    assert_int_equal(pp.transport, SOCK_STREAM);
    check_in4(&pp.src, "192.168.0.1", 56324);
    check_in4(&pp.dst, "192.168.0.11", 443);
    assert_int_equal(pp.src_len, sizeof(struct sockaddr_in));
    assert_null(pp.tlvs);
    assert_int_equal(dm_proxy_protocol_tlv_find(&pp, 1, &tlv), DM_DECLINED);

    n = unhex(EX_TCP4, buf);
    memcpy(buf + n, payload, sizeof(payload));
    assert_int_equal(parse(buf, n + sizeof(payload), V12, 0, &pp, &reason),
                     DM_OK);
    assert_int_equal(pp.version, 2);
    assert_int_equal(pp.length, 28);
    assert_false(pp.local);
    assert_int_equal(pp.family, AF_INET);
    assert_int_equal(pp.transport, SOCK_STREAM);
    check_in4(&pp.src, "192.0.2.1", 123);
    check_in4(&pp.dst, "192.0.2.2", 5678);
    assert_null(pp.tlvs);
    assert_false(pp.has_crc);

    n = unhex(EX_LOCAL, buf);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.length, 16);
    assert_true(pp.local);
    assert_int_equal(pp.family, AF_UNSPEC);
    assert_int_equal(pp.src_len, 0);

    n = unhex(EX_TCP6, buf);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.length, 52);
    assert_int_equal(pp.family, AF_INET6);
    check_in6(&pp.src, "2001:db8::1", 123);
    check_in6(&pp.dst, "2001:db8::2", 5678);
    assert_int_equal(pp.dst_len, sizeof(struct sockaddr_in6));

    n = unhex(EX_CRC, buf);
    memcpy(buf + n, payload, sizeof(payload));
    assert_int_equal(parse(buf, n + sizeof(payload), V12, 0, &pp, &reason),
                     DM_OK);
    assert_int_equal(pp.length, 35);
    assert_true(pp.has_crc);
    assert_int_equal(pp.crc, 0x1c2b486c);
    assert_int_equal(pp.tlvs_len, 7);
    check_in4(&pp.src, "192.0.2.1", 123);
    assert_int_equal(dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_CRC32C, &tlv),
                     DM_OK);
    assert_int_equal(tlv.len, 4);
    assert_memory_equal(tlv.value, "\x1c\x2b\x48\x6c", 4);
    /* bad CRC: one bit of an address flipped, then of the CRC itself */
    buf[17] ^= 1;
    check_reject(buf, n, V12, 0, "v2: CRC32C mismatch");
    buf[17] ^= 1;
    buf[n - 1] ^= 0x80;
    check_reject(buf, n, V12, 0, "v2: CRC32C mismatch");
}

/* Valid v1 lines, each checked cut at every length. */
static const char *const v1_good[] = {
    EX_V1,
    "PROXY UNKNOWN\r\n",
    "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:fff0 65535 65535\r\n",
    "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n",
    ("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
    "PROXY TCP6 2001:db8::1 ::1 1 2\r\n",
    "PROXY TCP6 :: ::ffff:192.0.2.1 10 20\r\n",
    "PROXY TCP6 1:2:3:4:5:6:7:: 1:2:3:4:5:6:1.2.3.4 10 20\r\n",
    "PROXY TCP6 FE80::ABCD:1 fe80::abcd:1 10 20\r\n",
};

static void
test_v1_good(void **state)
{
    dm_proxy_protocol_t pp;
    const char *reason;
    u_char line[108];
    size_t i, n;

    for (i = 0; i < dm_nelems(v1_good); i++) {
        n = strlen(v1_good[i]);
        check_every_cut((const u_char *) v1_good[i], n, V12);
        check_every_cut((const u_char *) v1_good[i], n, DM_PROXY_PROTOCOL_V1);
    }

    assert_int_equal(parse("PROXY UNKNOWN\r\nX", 16, V12, 0, &pp, &reason),
                     DM_OK);
    assert_int_equal(pp.length, 15);
    assert_true(pp.local);
    assert_int_equal(pp.family, AF_UNSPEC);
    assert_int_equal(pp.version, 1);

    /* the longest line: UNKNOWN, 107 bytes CRLF included */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    line[105] = '\r';
    line[106] = '\n';
    assert_int_equal(parse(line, 108, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.length, 107);
    check_every_cut(line, 107, V12);

    n = strlen(v1_good[6]);
    assert_int_equal(parse(v1_good[6], n, V12, 0, &pp, &reason), DM_OK);
    check_in6(&pp.src, "::", 10);
    check_in6(&pp.dst, "::ffff:192.0.2.1", 20);
    n = strlen(v1_good[7]);
    assert_int_equal(parse(v1_good[7], n, V12, 0, &pp, &reason), DM_OK);
    check_in6(&pp.src, "1:2:3:4:5:6:7:0", 10);
    check_in6(&pp.dst, "1:2:3:4:5:6:102:304", 20);
    n = strlen(v1_good[3]);
    assert_int_equal(parse(v1_good[3], n, V12, 0, &pp, &reason), DM_OK);
    check_in4(&pp.src, "255.255.255.255", 65535);
    check_in4(&pp.dst, "0.0.0.0", 0);
}

static void
test_v1_bad(void **state)
{
    u_char line[120];

    /* no CRLF within 107 bytes */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    check_reject(line, 107, V12, 0, "v1: no CRLF within 107 bytes");
    check_reject(line, 110, V12, 0, "v1: no CRLF within 107 bytes");
    line[106] = '\r';
    line[107] = '\n';
    check_reject(line, 110, V12, 0, "v1: no CRLF within 107 bytes");
    /* a max under 107 bounds v1 too */
    check_reject((const u_char *) EX_V1, strlen(EX_V1), V12, 40,
                 "header longer than 40 bytes");

    /* line ends */
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1: LF without CR");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "v1: CR without LF");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
                    "v1: CR without LF");
    check_reject_v1("PROXY UNKNOWN\n", "v1: LF without CR");
    check_reject_v1("PROXY UNKNOWN x\ny\r\n", "v1: LF without CR");
    check_reject_v1("PROXY UNKNOWN x\ry\r\n", "v1: CR without LF");
    check_reject_v1("PROXY UNKNOWN\rX", "v1: CR without LF");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
                    "v1: bad destination port");

    /* leading zeros, octets and ports out of range */
    check_reject_v1("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
                    "v1: leading zero in an address");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n",
                    "v1: leading zero in an address");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.00.7.8 1 2\r\n",
                    "v1: leading zero in an address");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
                    "v1: leading zero in a port");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
                    "v1: leading zero in a port");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
                    "v1: port over 65535");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
                    "v1: port over 65535");
    check_reject_v1("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
                    "v1: bad source address");
    check_reject_v1("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
                    "v1: bad source address");
    check_reject_v1("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
                    "v1: bad source address");
    check_reject_v1("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",
                    "v1: bad source address");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8. 1 2\r\n",
                    "v1: bad destination address");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
                    "v1: bad source port");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
                    "v1: bad destination port");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "v1: bad source port");

    /* the address must match the family */
    check_reject_v1("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "v1: bad source address");
    check_reject_v1("PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
                    "v1: bad destination address");
    check_reject_v1("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "v1: bad source address");

    /* exactly one space */
    check_reject_v1("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                    "v1: more than one space");
    check_reject_v1("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
                    "v1: more than one space");
    check_reject_v1("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
                    "v1: more than one space");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
                    "v1: more than one space");
    check_reject_v1("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
                    "v1: more than one space");
    check_reject_v1("PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "v1: bad signature");

    /* keywords: case, UDP, others */
    check_reject_v1("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
                    "v1: unknown protocol");
    check_reject_v1("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
                    "v1: unknown protocol");
    check_reject_v1("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
                    "v1: unknown protocol");
    check_reject_v1("PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n",
                    "v1: unknown protocol");
    check_reject_v1("PROXY UNKNOWNX\r\n", "v1: unknown protocol");
    check_reject_v1("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                    "no PROXY protocol header");
    check_reject_v1("PROXZ", "v1: bad signature");
    check_reject_v1("PROXYZ", "v1: bad signature");
    check_reject_v1("ROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                    "no PROXY protocol header");
    check_reject_v1("GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                    "no PROXY protocol header");
    check_reject_v1("\r\n\r\n\r", "v2: bad signature");

    /* versions not accepted */
    check_reject((const u_char *) "P", 1, DM_PROXY_PROTOCOL_V2, 0,
                 "v1 header not accepted");
}

/*
 * IPv6 text: the parser must agree with inet_pton on every form, and on
 * the bytes. Each is tried as the source address of a TCP6 line.
 */
static void
test_v1_inet6(void **state)
{
    static const char *const forms[] = {
        "::",
        "::1",
        "1::",
        "1::2",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "1::3:4:5:6:7:8",
        "1:2:3:4:5:6::8",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7::8",
        "::1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7",
        "12345::",
        "1:::2",
        "1::2::3",
        ":1::",
        ":1",
        "1:",
        "1::2:",
        ":",
        ":::",
        "::ffff:1.2.3.4",
        "::1.2.3.4",
        "1:2:3:4:5:6:1.2.3.4",
        "1:2:3:4:5:6:7:1.2.3.4",
        "1:2:3:4:5::1.2.3.4",
        "1:2:3:4:5:6::1.2.3.4",
        "::ffff:01.2.3.4",
        "::ffff:1.2.3.04",
        "::ffff:1.2.3",
        "::ffff:1.2.3.4.5",
        "::ffff:256.1.1.1",
        "::ffff:1.2.3.256",
        "::ffff:1234.1.1.1",
        "::a.1.1.1",
        "1.2.3.4",
        "::1.2.3.4:1",
        "::1.2..3",
        "::0.0.0.0",
        "abcd:ABCD:eF01::",
        "0::0",
        "0000::0000",
        "00000::",
        "fffff::",
        "::ffff:0.1.2.3",
        "g::",
        "::1.2.3.4.",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7",
        "2001:db8:0:0:1:0:0:1",
        "2001:0db8::0001",
        "::ffff:255.255.255.255",
    };
    struct in6_addr want;
    dm_proxy_protocol_t pp;
    const char *reason;
    char line[160];
    size_t i;
    int ok;
    dm_int_t rc;

    for (i = 0; i < dm_nelems(forms); i++) {
        ok = inet_pton(AF_INET6, forms[i], &want) == 1;
        snprintf(line, sizeof(line), "PROXY TCP6 %s ::1 1 2\r\n", forms[i]);
        rc = parse(line, strlen(line), V12, 0, &pp, &reason);
        if (rc != (ok ? DM_OK : DM_ERROR)) {
            fail_msg("%s: inet_pton %d, parse %d (%s)", forms[i], ok, (int) rc,
                     reason ? reason : "-");
        }
        if (ok) {
            assert_memory_equal(&((struct sockaddr_in6 *) &pp.src)->sin6_addr,
                                &want, 16);
            check_every_cut((const u_char *) line, strlen(line), V12);
        } else {
            assert_string_equal(reason, "v1: bad source address");
        }
    }
}

/* A v2 header of fam with a body of n bytes (addresses then TLVs). */
static size_t
v2_header(u_char *buf, u_char ver_cmd, u_char fam, const u_char *body, size_t n)
{
    memcpy(buf, "\r\n\r\n\0\r\nQUIT\n", 12);
    buf[12] = ver_cmd;
    buf[13] = fam;
    buf[14] = (u_char) (n >> 8);
    buf[15] = (u_char) n;
    if (n) {
        memcpy(buf + 16, body, n);
    }
    return 16 + n;
}

static void
test_v2_cuts(void **state)
{
    static const char *const good[] = {EX_TCP4, EX_LOCAL, EX_TCP6, EX_CRC};
    u_char buf[600], body[300];
    size_t i, n;

    for (i = 0; i < dm_nelems(good); i++) {
        n = unhex(good[i], buf);
        check_every_cut(buf, n, V12);
        check_every_cut(buf, n, DM_PROXY_PROTOCOL_V2);
    }
    memset(body, 0, sizeof(body));
    n = v2_header(buf, 0x21, 0x31, body, 216);
    check_every_cut(buf, n, V12);
    n = v2_header(buf, 0x20, 0x11, body, 12);
    check_every_cut(buf, n, V12);
}

static void
test_v2_bad(void **state)
{
    u_char buf[70000], body[300];
    size_t i, n;
    unsigned v;

    memset(body, 0, sizeof(body));
    /* each byte of the signature, whole header or alone */
    for (i = 0; i < 12; i++) {
        n = unhex(EX_TCP4, buf);
        buf[i] ^= 0x40;
        check_reject(buf, n, V12, 0,
                     i == 0 ? "no PROXY protocol header" : "v2: bad signature");
        check_reject(buf, i + 1, V12, 0,
                     i == 0 ? "no PROXY protocol header" : "v2: bad signature");
    }
    n = unhex(EX_TCP4, buf);
    check_reject(buf, n, DM_PROXY_PROTOCOL_V1, 0, "v2 header not accepted");

    /* version nibble, command, family, transport: refused on arrival */
    for (v = 0; v < 16; v++) {
        if (v == 2) {
            continue;
        }
        n = unhex(EX_TCP4, buf);
        buf[12] = (u_char) (v << 4 | 1);
        check_reject(buf, n, V12, 0, "v2: version not 2");
        check_reject(buf, 13, V12, 0, "v2: version not 2");
    }
    for (v = 2; v < 16; v++) {
        n = unhex(EX_TCP4, buf);
        buf[12] = (u_char) (0x20 | v);
        check_reject(buf, n, V12, 0, "v2: bad command");
        check_reject(buf, 13, V12, 0, "v2: bad command");
    }
    for (v = 4; v < 16; v++) {
        n = unhex(EX_TCP4, buf);
        buf[13] = (u_char) (v << 4 | 1);
        check_reject(buf, n, V12, 0, "v2: bad address family");
        check_reject(buf, 14, V12, 0, "v2: bad address family");
    }
    for (v = 3; v < 16; v++) {
        n = unhex(EX_TCP4, buf);
        buf[13] = (u_char) (0x10 | v);
        check_reject(buf, n, V12, 0, "v2: bad transport");
        check_reject(buf, 14, V12, 0, "v2: bad transport");
    }

    /* address blocks too short for their family, refused from the length */
    n = v2_header(buf, 0x21, 0x11, body, 8);
    check_reject(buf, n, V12, 0, "v2: address block too short for its family");
    check_reject(buf, 16, V12, 0, "v2: address block too short for its family");
    n = v2_header(buf, 0x21, 0x12, body, 11);
    check_reject(buf, n, V12, 0, "v2: address block too short for its family");
    n = v2_header(buf, 0x21, 0x21, body, 35);
    check_reject(buf, n, V12, 0, "v2: address block too short for its family");
    n = v2_header(buf, 0x21, 0x22, body, 12);
    check_reject(buf, n, V12, 0, "v2: address block too short for its family");
    n = v2_header(buf, 0x21, 0x31, body, 215);
    check_reject(buf, n, V12, 0, "v2: address block too short for its family");
    n = v2_header(buf, 0x21, 0x32, body, 0);
    check_reject(buf, n, V12, 0, "v2: address block too short for its family");

    /* len beyond max: judged from the 16 fixed bytes, nothing more read */
    memset(buf, 0, sizeof(buf));
    n = v2_header(buf, 0x21, 0x11, body, 12);
    buf[14] = 0xff;
    buf[15] = 0xff;
    check_reject(buf, 16, V12, 4096, "header longer than 4096 bytes");
    check_reject(buf, 16, V12, 0, "header longer than 4096 bytes");
    check_reject(buf, 16 + 65535, V12, 4096, "header longer than 4096 bytes");
    n = v2_header(buf, 0x21, 0x11, body, 99); /* 29 empty TLVs of type 0 */
    check_reject(buf, n, V12, 114, "header longer than 114 bytes");
    {
        dm_proxy_protocol_t pp;
        const char *reason;

        /* exactly max is fine; 65535 with a large enough max too */
        assert_int_equal(parse(buf, n, V12, 115, &pp, &reason), DM_OK);
        memset(buf + 16 + 12, 0, 65535 - 12);
        buf[28] = DM_PP2_TYPE_NOOP;
        buf[29] = (u_char) ((65535 - 15) >> 8);
        buf[30] = (u_char) (65535 - 15);
        buf[14] = 0xff;
        buf[15] = 0xff;
        assert_int_equal(parse(buf, 16 + 65535, V12, 16 + 65535, &pp, &reason),
                         DM_OK);
        assert_int_equal(pp.length, 65551);
        assert_int_equal(parse(buf, 16 + 65534, V12, 16 + 65535, &pp, &reason),
                         DM_AGAIN);
    }
}

/* An IPv4 PROXY header with tlv bytes after its address block. */
static size_t
v2_tlvs(u_char *buf, const char *tlvhex)
{
    u_char body[1024];
    size_t n;

    memcpy(body, "\xc0\x00\x02\x01\xc0\x00\x02\x02\x00\x7b\x16\x2e", 12);
    n = unhex(tlvhex, body + 12);
    return v2_header(buf, 0x21, 0x11, body, 12 + n);
}

static void
check_tlvs_reject(const char *tlvhex, const char *why)
{
    u_char buf[1100];
    size_t n = v2_tlvs(buf, tlvhex);

    check_reject(buf, n, V12, 0, why);
}

static void
test_v2_tlvs(void **state)
{
    dm_proxy_protocol_t pp;
    dm_proxy_protocol_tlv_t tlv;
    const char *reason;
    u_char buf[1100];
    char hex[1024];
    size_t n, i;

    /* good: ALPN, AUTHORITY with a NUL, NOOP, SSL with sub-TLVs */
    n = v2_tlvs(buf, "01 00 02 68 32 02 00 03 61 00 62 04 00 00 "
                     "20 00 0f 07 00 00 00 00 21 00 07 54 4c 53 76 31 2e 33");
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.tlvs_len, n - 28);
    assert_int_equal(dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_ALPN, &tlv),
                     DM_OK);
    assert_int_equal(tlv.len, 2);
    assert_memory_equal(tlv.value, "h2", 2);
    assert_int_equal(
        dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_AUTHORITY, &tlv), DM_OK);
    assert_int_equal(tlv.len, 3);
    assert_memory_equal(tlv.value, "a\0b", 3);
    assert_int_equal(dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_NOOP, &tlv),
                     DM_OK);
    assert_int_equal(tlv.len, 0);
    assert_int_equal(dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_SSL, &tlv),
                     DM_OK);
    assert_int_equal(tlv.len, 15);
    assert_int_equal(tlv.value[0], 7);
    assert_int_equal(
        dm_proxy_protocol_tlv_find(&pp, DM_PP2_SUBTYPE_SSL_VERSION, &tlv),
        DM_OK);
    assert_memory_equal(tlv.value, "TLSv1.3", 7);
    assert_int_equal(
        dm_proxy_protocol_tlv_find(&pp, DM_PP2_SUBTYPE_SSL_CN, &tlv),
        DM_DECLINED);
    assert_int_equal(
        dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_UNIQUE_ID, &tlv),
        DM_DECLINED);
    assert_false(pp.has_crc);
    check_every_cut(buf, n, V12);

    /* overruns and stray bytes */
    check_tlvs_reject("01 00 03 68 32", "v2: TLV overrun");
    check_tlvs_reject("01 ff ff 68 32", "v2: TLV overrun");
    check_tlvs_reject("01 00 02 68 32 02 00 01", "v2: TLV overrun");
    check_tlvs_reject("01", "v2: stray bytes after the last TLV");
    check_tlvs_reject("01 00", "v2: stray bytes after the last TLV");
    check_tlvs_reject("01 00 02 68 32 00",
                      "v2: stray bytes after the last TLV");
    check_tlvs_reject("01 00 02 68 32 00 00",
                      "v2: stray bytes after the last TLV");
    /* SSL: too short, a sub-TLV past the SSL TLV, stray bytes in it */
    check_tlvs_reject("20 00 04 01 00 00 00", "v2: SSL TLV shorter than 5");
    check_tlvs_reject("20 00 08 01 00 00 00 00 21 00 01",
                      "v2: SSL sub-TLV overrun");
    check_tlvs_reject("20 00 09 01 00 00 00 00 21 00 02 41 04 00 00",
                      "v2: SSL sub-TLV overrun");
    check_tlvs_reject("20 00 07 01 00 00 00 00 21 00",
                      "v2: stray bytes after the last SSL sub-TLV");
    /* CRC32C: length, twice */
    check_tlvs_reject("03 00 03 00 00 00", "v2: CRC32C TLV length not 4");
    check_tlvs_reject("03 00 05 00 00 00 00 00", "v2: CRC32C TLV length not 4");
    check_tlvs_reject("03 00 04 00 00 00 00 03 00 04 00 00 00 00",
                      "v2: two CRC32C TLVs");
    /* UNIQUE_ID: 128 bytes at most */
    for (i = 0; i < 129; i++) {
        memcpy(hex + 9 + i * 2, "ab", 2);
    }
    memcpy(hex, "05 00 81 ", 9);
    hex[9 + 129 * 2] = '\0';
    check_tlvs_reject(hex, "v2: UNIQUE_ID longer than 128 bytes");
    memcpy(hex, "05 00 80 ", 9);
    hex[9 + 128 * 2] = '\0';
    n = v2_tlvs(buf, hex);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(
        dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_UNIQUE_ID, &tlv), DM_OK);
    assert_int_equal(tlv.len, 128);

    /* a TLV after the header's end is payload: never looked at */
    n = v2_tlvs(buf, "04 00 00");
    memcpy(buf + n, "\x03\x00\x04\xff\xff\xff\xff\x01\xff\xff", 10);
    assert_int_equal(parse(buf, n + 10, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.length, n);
    assert_int_equal(pp.length, 16 + 15);
    assert_false(pp.has_crc);
    assert_int_equal(dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_CRC32C, &tlv),
                     DM_DECLINED);
    /* ... nor is a CRC32C computed over it */
    n = unhex(EX_CRC, buf);
    memcpy(buf + n, "junk", 4);
    assert_int_equal(parse(buf, n + 4, V12, 0, &pp, &reason), DM_OK);
    assert_true(pp.has_crc);
}

static void
test_v2_local_unspec_unix(void **state)
{
    dm_proxy_protocol_t pp;
    dm_proxy_protocol_tlv_t tlv;
    const struct sockaddr_un *sun;
    const char *reason;
    u_char buf[600], body[300];
    size_t n;

    memset(body, 0x55, sizeof(body));
    /* LOCAL with an address block: skipped, real endpoints */
    n = v2_header(buf, 0x20, 0x11, body, 12);
    memcpy(buf + n, "PAYLOAD", 7);
    assert_int_equal(parse(buf, n + 7, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.length, 28);
    assert_true(pp.local);
    assert_int_equal(pp.family, AF_UNSPEC);
    assert_int_equal(pp.src_len, 0);
    assert_null(pp.tlvs);
    /* LOCAL whose block is shorter than its family's, or odd: skipped */
    n = v2_header(buf, 0x20, 0x21, body, 5);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.length, 21);
    assert_true(pp.local);
    assert_null(pp.tlvs);
    /* LOCAL with TLVs after no address (as dm_proxy_protocol_write does) */
    n = v2_header(buf, 0x20, 0x00, (const u_char *) "\x01\x00\x02h2", 5);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_true(pp.local);
    assert_int_equal(dm_proxy_protocol_tlv_find(&pp, DM_PP2_TYPE_ALPN, &tlv),
                     DM_OK);
    /* a LOCAL's CRC32C, when it parses, is still verified */
    n = v2_header(buf, 0x20, 0x00, (const u_char *) "\x03\x00\x04\0\0\0\0", 7);
    check_reject(buf, n, V12, 0, "v2: CRC32C mismatch");

    /* AF_UNSPEC with PROXY: accepted, real endpoints */
    n = v2_header(buf, 0x21, 0x00, body, 0);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_true(pp.local);
    assert_int_equal(pp.family, AF_UNSPEC);
    n = v2_header(buf, 0x21, 0x01, body, 9);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_true(pp.local);
    assert_int_equal(pp.transport, SOCK_STREAM);
    assert_int_equal(pp.length, 25);

    /* UNIX stream and datagram */
    memset(body, 0, sizeof(body));
    memcpy(body, "/run/a.sock", 11);
    memcpy(body + 108, "/run/b.sock", 11);
    n = v2_header(buf, 0x21, 0x31, body, 216);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.family, AF_UNIX);
    assert_int_equal(pp.transport, SOCK_STREAM);
    sun = (const struct sockaddr_un *) &pp.src;
    assert_int_equal(sun->sun_family, AF_UNIX);
    assert_string_equal(sun->sun_path, "/run/a.sock");
    assert_int_equal(pp.src_len, offsetof(struct sockaddr_un, sun_path) + 12);
    sun = (const struct sockaddr_un *) &pp.dst;
    assert_string_equal(sun->sun_path, "/run/b.sock");
    n = v2_header(buf, 0x21, 0x32, body, 216);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.transport, SOCK_DGRAM);
    /* a path of all 108 bytes stays NUL-terminated within sun_path */
    memset(body, 'p', 108);
    n = v2_header(buf, 0x21, 0x31, body, 216);
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    sun = (const struct sockaddr_un *) &pp.src;
    assert_int_equal(strnlen(sun->sun_path, sizeof(sun->sun_path)), 107);

    /* UDP over IPv4 and IPv6: the transport is said */
    n = unhex(EX_TCP4, buf);
    buf[13] = 0x12;
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.transport, SOCK_DGRAM);
    assert_int_equal(pp.family, AF_INET);
    buf[13] = 0x10;
    assert_int_equal(parse(buf, n, V12, 0, &pp, &reason), DM_OK);
    assert_int_equal(pp.transport, 0);
}

static void
sa4(struct sockaddr_in *sin, const char *addr, unsigned port)
{
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
}

static void
sa6(struct sockaddr_in6 *sin6, const char *addr, unsigned port)
{
    memset(sin6, 0, sizeof(*sin6));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
}

/* Writes, checks the bytes cut at every length, parses back. */
static void
round_trip(unsigned version, int local, int transport,
           const struct sockaddr *src, const struct sockaddr *dst,
           const dm_proxy_protocol_tlv_t *tlvs, dm_uint_t ntlvs, int crc,
           dm_proxy_protocol_t *pp)
{
    static u_char buf[2048]; /* pp points into it after the return */
    const char *reason;
    dm_proxy_protocol_tlv_t tlv;
    ssize_t n, k;
    dm_uint_t i;

    n = dm_proxy_protocol_write(buf, sizeof(buf), version, local, transport,
                                src, dst, tlvs, ntlvs, crc);
    assert_true(n > 0);
    /* any smaller buffer is refused, never overrun */
    for (k = 0; k < n; k++) {
        assert_int_equal(dm_proxy_protocol_write(buf + 1024, (size_t) k,
                                                 version, local, transport, src,
                                                 dst, tlvs, ntlvs, crc),
                         -1);
    }
    check_every_cut(buf, (size_t) n, V12);
    memcpy(buf + n, "payload", 7);
    assert_int_equal(parse(buf, (size_t) n + 7, V12, 0, pp, &reason), DM_OK);
    assert_int_equal(pp->length, n);
    assert_int_equal(pp->version, version);
    assert_int_equal(pp->has_crc, crc != 0);
    for (i = 0; i < ntlvs; i++) {
        assert_int_equal(dm_proxy_protocol_tlv_find(pp, tlvs[i].type, &tlv),
                         DM_OK);
        assert_int_equal(tlv.len, tlvs[i].len);
        assert_memory_equal(tlv.value, tlvs[i].value, tlv.len);
    }
}

static void
test_round_trip(void **state)
{
    static const u_char ssl[] = "\x05\x00\x00\x00\x00"
                                "\x21\x00\x07TLSv1.3"
                                "\x22\x00\x04u\0se"
                                "\x23\x00\x16TLS_AES_128_GCM_SHA256";
    dm_proxy_protocol_tlv_t tlvs[6], sub;
    struct sockaddr_in s4, d4;
    struct sockaddr_in6 s6, d6;
    struct sockaddr_un su, du;
    dm_proxy_protocol_t pp;
    u_char id[128];
    int tr, crc;

    sa4(&s4, "127.0.0.5", 40000);
    sa4(&d4, "10.0.0.1", 8080);
    sa6(&s6, "2001:db8::5", 1);
    sa6(&d6, "::ffff:10.1.2.3", 65535);
    memset(id, 0xa5, sizeof(id));
    tlvs[0] = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_ALPN, 8,
                                        (const u_char *) "http/1.1"};
    tlvs[1] = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_AUTHORITY, 10,
                                        (const u_char *) "a.test\0bad"};
    tlvs[2] = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_UNIQUE_ID, 128, id};
    tlvs[3] = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_SSL, sizeof(ssl) - 1, ssl};
    tlvs[4] = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_NOOP, 3,
                                        (const u_char *) "\0\0\0"};
    tlvs[5] = (dm_proxy_protocol_tlv_t){0xe1, 0, NULL};

    /* v1 */
    round_trip(1, 0, SOCK_STREAM, (struct sockaddr *) &s4,
               (struct sockaddr *) &d4, NULL, 0, 0, &pp);
    check_in4(&pp.src, "127.0.0.5", 40000);
    check_in4(&pp.dst, "10.0.0.1", 8080);
    round_trip(1, 1, 0, (struct sockaddr *) &s6, (struct sockaddr *) &d6, NULL,
               0, 0, &pp);
    assert_false(pp.local); /* v1 health checks: a real line */
    check_in6(&pp.src, "2001:db8::5", 1);
    check_in6(&pp.dst, "::ffff:10.1.2.3", 65535);
    round_trip(1, 0, SOCK_STREAM, (struct sockaddr *) &s4,
               (struct sockaddr *) &d6, NULL, 0, 0, &pp);
    assert_true(pp.local); /* mixed families: UNKNOWN */

    /* v2: each family and transport, without and with TLVs and CRC */
    for (crc = 0; crc < 2; crc++) {
        for (tr = SOCK_STREAM; tr <= SOCK_DGRAM; tr++) {
            round_trip(2, 0, tr, (struct sockaddr *) &s4,
                       (struct sockaddr *) &d4, tlvs, 6, crc, &pp);
            assert_int_equal(pp.family, AF_INET);
            assert_int_equal(pp.transport, tr);
            check_in4(&pp.src, "127.0.0.5", 40000);
            check_in4(&pp.dst, "10.0.0.1", 8080);
            assert_int_equal(dm_proxy_protocol_tlv_find(
                                 &pp, DM_PP2_SUBTYPE_SSL_CIPHER, &sub),
                             DM_OK);
            assert_memory_equal(sub.value, "TLS_AES_128_GCM_SHA256", 22);
            assert_int_equal(
                dm_proxy_protocol_tlv_find(&pp, DM_PP2_SUBTYPE_SSL_CN, &sub),
                DM_OK);
            assert_int_equal(sub.len, 4);

            round_trip(2, 0, tr, (struct sockaddr *) &s6,
                       (struct sockaddr *) &d6, tlvs, 3, crc, &pp);
            assert_int_equal(pp.family, AF_INET6);
            assert_int_equal(pp.transport, tr);
            check_in6(&pp.src, "2001:db8::5", 1);
            check_in6(&pp.dst, "::ffff:10.1.2.3", 65535);
        }
    }
    memset(&su, 0, sizeof(su));
    memset(&du, 0, sizeof(du));
    su.sun_family = du.sun_family = AF_UNIX;
    strcpy(su.sun_path, "/tmp/client.sock");
    memset(du.sun_path, 'd', sizeof(du.sun_path)); /* full, no NUL */
    round_trip(2, 0, SOCK_STREAM, (struct sockaddr *) &su,
               (struct sockaddr *) &du, tlvs + 3, 2, 1, &pp);
    assert_int_equal(pp.family, AF_UNIX);
    assert_string_equal(((struct sockaddr_un *) &pp.src)->sun_path,
                        "/tmp/client.sock");
    assert_int_equal(pp.length, 16 + 216 + 3 + sizeof(ssl) - 1 + 6 + 7);

    /* LOCAL: no addresses, TLVs and CRC all the same */
    round_trip(2, 1, SOCK_STREAM, (struct sockaddr *) &s4,
               (struct sockaddr *) &d4, tlvs, 2, 1, &pp);
    assert_true(pp.local);
    assert_int_equal(pp.length, 16 + 11 + 13 + 7);
    round_trip(2, 1, 0, NULL, NULL, NULL, 0, 0, &pp);
    assert_int_equal(pp.length, 16);
    /* no family in common: UNSPEC */
    round_trip(2, 0, SOCK_STREAM, (struct sockaddr *) &s4,
               (struct sockaddr *) &d6, NULL, 0, 1, &pp);
    assert_true(pp.local);
    assert_int_equal(pp.family, AF_UNSPEC);
}

static void
test_write_refusals(void **state)
{
    dm_proxy_protocol_tlv_t tlv;
    struct sockaddr_in s4;
    struct sockaddr_un su;
    static u_char buf[70000], pad[65536];
    u_char id[129];
    ssize_t n;

    sa4(&s4, "192.0.2.1", 123);
    tlv = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_ALPN, 2, (const u_char *) "h2"};
    /* v1: no TLVs, no CRC, no UDP */
    assert_int_equal(dm_proxy_protocol_write(buf, sizeof(buf), 1, 0,
                                             SOCK_STREAM, (void *) &s4,
                                             (void *) &s4, &tlv, 1, 0),
                     -1);
    assert_int_equal(dm_proxy_protocol_write(buf, sizeof(buf), 1, 0,
                                             SOCK_STREAM, (void *) &s4,
                                             (void *) &s4, NULL, 0, 1),
                     -1);
    assert_int_equal(dm_proxy_protocol_write(buf, sizeof(buf), 1, 0, SOCK_DGRAM,
                                             (void *) &s4, (void *) &s4, NULL,
                                             0, 0),
                     -1);
    /* v1 of UNIX: UNKNOWN */
    memset(&su, 0, sizeof(su));
    su.sun_family = AF_UNIX;
    n = dm_proxy_protocol_write(buf, sizeof(buf), 1, 0, SOCK_STREAM,
                                (void *) &su, (void *) &su, NULL, 0, 0);
    assert_int_equal(n, 15);
    assert_memory_equal(buf, "PROXY UNKNOWN\r\n", 15);
    /* other versions, transports */
    assert_int_equal(dm_proxy_protocol_write(buf, sizeof(buf), 3, 0,
                                             SOCK_STREAM, (void *) &s4,
                                             (void *) &s4, NULL, 0, 0),
                     -1);
    assert_int_equal(dm_proxy_protocol_write(buf, sizeof(buf), 2, 0, SOCK_RAW,
                                             (void *) &s4, (void *) &s4, NULL,
                                             0, 0),
                     -1);
    /* v2: a hand-made CRC32C TLV, a long UNIQUE_ID, too much to count */
    tlv = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_CRC32C, 4,
                                    (const u_char *) "\0\0\0\0"};
    assert_int_equal(dm_proxy_protocol_write(buf, sizeof(buf), 2, 0,
                                             SOCK_STREAM, (void *) &s4,
                                             (void *) &s4, &tlv, 1, 0),
                     -1);
    memset(id, 1, sizeof(id));
    tlv = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_UNIQUE_ID, 129, id};
    assert_int_equal(dm_proxy_protocol_write(buf, sizeof(buf), 2, 0,
                                             SOCK_STREAM, (void *) &s4,
                                             (void *) &s4, &tlv, 1, 0),
                     -1);
    tlv = (dm_proxy_protocol_tlv_t){DM_PP2_TYPE_NOOP, 65535 - 12 - 3, pad};
    n = dm_proxy_protocol_write(buf, sizeof(buf), 2, 0, SOCK_STREAM,
                                (void *) &s4, (void *) &s4, &tlv, 1, 0);
    assert_int_equal(n, 65551);
    tlv.len++;
    assert_int_equal(dm_proxy_protocol_write(buf, sizeof(buf), 2, 0,
                                             SOCK_STREAM, (void *) &s4,
                                             (void *) &s4, &tlv, 1, 0),
                     -1);
    /* the summary's examples, byte for byte */
    {
        u_char want[64];
        size_t wn;
        struct sockaddr_in a, b;

        sa4(&a, "192.0.2.1", 123);
        sa4(&b, "192.0.2.2", 5678);
        wn = unhex(EX_CRC, want);
        n = dm_proxy_protocol_write(buf, sizeof(buf), 2, 0, SOCK_STREAM,
                                    (void *) &a, (void *) &b, NULL, 0, 1);
        assert_int_equal(n, wn);
        assert_memory_equal(buf, want, wn);
        wn = unhex(EX_LOCAL, want);
        n = dm_proxy_protocol_write(buf, sizeof(buf), 2, 1, SOCK_STREAM,
                                    (void *) &a, (void *) &b, NULL, 0, 0);
        assert_int_equal(n, wn);
        assert_memory_equal(buf, want, wn);
        sa4(&a, "192.168.0.1", 56324);
        sa4(&b, "192.168.0.11", 443);
        n = dm_proxy_protocol_write(buf, sizeof(buf), 1, 0, SOCK_STREAM,
                                    (void *) &a, (void *) &b, NULL, 0, 0);
        assert_int_equal(n, strlen(EX_V1));
        assert_memory_equal(buf, EX_V1, n);
    }
}

static void
test_tlv_type(void **state)
{
    static const struct {
        const char *name;
        dm_int_t type;
    } names[] = {
        {"alpn", 0x01},        {"authority", 0x02},  {"unique_id", 0x05},
        {"ssl", 0x20},         {"netns", 0x30},      {"ssl_version", 0x21},
        {"ssl_cn", 0x22},      {"ssl_cipher", 0x23}, {"ssl_sig_alg", 0x24},
        {"ssl_key_alg", 0x25}, {"ssl_group", 0x26},  {"ssl_sig_scheme", 0x27},
        {"0x01", 0x01},        {"0xff", 0xff},       {"0xAb", 0xab},
        {"0x20", 0x20},        {"0x00", -1},         {"0x1", -1},
        {"0x100", -1},         {"0xg1", -1},         {"0X01", -1},
        {"ALPN", -1},          {"alpn2", -1},        {"", -1},
        {"crc32c", -1},        {"ssl_", -1},
    };
    size_t i;

    for (i = 0; i < dm_nelems(names); i++) {
        assert_int_equal(
            dm_proxy_protocol_tlv_type((const u_char *) names[i].name,
                                       strlen(names[i].name)),
            names[i].type);
    }
    /* by length, not by NUL */
    assert_int_equal(dm_proxy_protocol_tlv_type((const u_char *) "alpnXYZ", 4),
                     0x01);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_v1_good),
        cmocka_unit_test(test_v1_bad),
        cmocka_unit_test(test_v1_inet6),
        cmocka_unit_test(test_v2_cuts),
        cmocka_unit_test(test_v2_bad),
        cmocka_unit_test(test_v2_tlvs),
        cmocka_unit_test(test_v2_local_unspec_unix),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_write_refusals),
        cmocka_unit_test(test_tlv_type),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
