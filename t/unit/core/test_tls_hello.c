/*
 * doorman: unit tests for the ClientHello parser (src/core/dm_tls_hello.c).
 *
 * Covered: real ClientHellos from OpenSSL (TLS 1.3 and 1.2 with SNI and
 * ALPN, and one of 1.8 KB with a large key share); each of them cut at
 * every byte (DM_AGAIN until complete) and fed byte by byte; the same
 * handshake message re-fragmented over records of 1 to 1000 bytes (the
 * message header itself split, the body joined in scratch); early data
 * after the hello; a hello without extensions; the limit; and, built
 * from parts, every malformed case: record type, version and length, the
 * handshake type and length, the legacy version, an overrun of each
 * nested length (session id, cipher suites, compression methods,
 * extensions block, one extension, the server_name list and name, the
 * ALPN list and names, supported_versions), two host names, a duplicate
 * extension, control bytes in the name.
 */
#include <dm_core.h>
#include <dm_tls_hello.h>

#include <setjmp.h>
#include <cmocka.h>

#include "tls_hello_samples.h"

static u_char scratch[1 << 16];

/* Parses a whole stream, giving scratch when asked. */
static dm_int_t
parse(dm_tls_hello_t *h, const u_char *data, size_t len, size_t limit)
{
    dm_int_t rc;

    dm_tls_hello_init(h, limit);
    rc = dm_tls_hello_parse(h, data, len);
    if (rc == DM_DECLINED) {
        assert_true(h->need <= sizeof(scratch));
        h->scratch = scratch;
        h->scratch_size = h->need;
        rc = dm_tls_hello_parse(h, data, len);
    }
    return rc;
}

static void
check_result(const dm_tls_hello_t *h, const char *name, const char *alpn,
             const char *proto)
{
    u_char text[1 << 16];
    size_t n;

    assert_int_equal(h->server_name_len, strlen(name));
    assert_memory_equal(h->server_name, name, strlen(name));
    n = dm_tls_hello_alpn_text(h, text);
    assert_int_equal(n, strlen(alpn));
    assert_memory_equal(text, alpn, n);
    assert_string_equal(dm_tls_hello_protocol(h), proto);
}

/* The handshake message of a one-record sample, wrapped again in records
   of `frag` bytes each. Returns the stream's length. */
static size_t
refragment(const u_char *sample, size_t len, size_t frag, u_char *out)
{
    const u_char *msg = sample + 5;
    size_t mlen = len - 5, off, n, o = 0;

    for (off = 0; off < mlen; off += n) {
        n = dm_min(frag, mlen - off);
        out[o++] = 22;
        out[o++] = 3;
        out[o++] = off ? 3 : 1;
        out[o++] = (u_char) (n >> 8);
        out[o++] = (u_char) n;
        memcpy(out + o, msg + off, n);
        o += n;
    }
    return o;
}

#define SAMPLE_TLS13 "a.test", "h2,http/1.1", "TLSv1.3"
#define SAMPLE_TLS12 "b.test", "http/1.1", "TLSv1.2"

static void
test_real(void **state)
{
    dm_tls_hello_t h;

    assert_int_equal(parse(&h, sample_tls13, sizeof(sample_tls13), 16384),
                     DM_OK);
    check_result(&h, SAMPLE_TLS13);
    assert_int_equal(h.length, sizeof(sample_tls13));
    assert_true(h.tls13);

    assert_int_equal(parse(&h, sample_tls12, sizeof(sample_tls12), 16384),
                     DM_OK);
    check_result(&h, SAMPLE_TLS12);
    assert_false(h.tls13);

    /* 1.8 KB: read whole, in place */
    assert_int_equal(sizeof(sample_big), 1794);
    assert_int_equal(parse(&h, sample_big, sizeof(sample_big), 16384), DM_OK);
    assert_int_equal(h.length, 1794);
    assert_false(h.in_scratch);
    assert_int_equal(h.server_name_len, 8);
    assert_memory_equal(h.server_name, "big.test", 8);
    assert_int_equal(h.alpn_len, 3 + 9 + 8 * 62);
    assert_string_equal(dm_tls_hello_protocol(&h), "TLSv1.3");

    /* DM_OK is final */
    assert_int_equal(dm_tls_hello_parse(&h, sample_big, 3), DM_OK);
}

/* Every prefix needs more; then the whole is complete. */
static void
check_every_cut(const u_char *data, size_t len)
{
    dm_tls_hello_t h;
    size_t k;
    dm_int_t rc;

    for (k = 0; k < len; k++) {
        rc = parse(&h, data, k, 0);
        if (rc != DM_AGAIN) {
            fail_msg("cut at %zu of %zu: %d (%s)", k, len, (int) rc,
                     h.error ? h.error : "-");
        }
        assert_int_equal(parse(&h, data, len, 0), DM_OK);
    }
    /* fed one byte more at a time, as a slow client sends it */
    dm_tls_hello_init(&h, 0);
    for (k = 1; k <= len; k++) {
        rc = dm_tls_hello_parse(&h, data, k);
        if (rc == DM_DECLINED) {
            h.scratch = scratch;
            h.scratch_size = h.need;
            rc = dm_tls_hello_parse(&h, data, k);
        }
        assert_int_equal(rc, k == len ? DM_OK : DM_AGAIN);
    }
    assert_int_equal(h.length, len);
}

static void
test_incremental(void **state)
{
    static u_char frag[4096];
    size_t n;

    check_every_cut(sample_tls13, sizeof(sample_tls13));
    check_every_cut(sample_tls12, sizeof(sample_tls12));
    check_every_cut(sample_big, sizeof(sample_big));
    n = refragment(sample_tls13, sizeof(sample_tls13), 7, frag);
    check_every_cut(frag, n);
}

static void
test_fragmented(void **state)
{
    static const size_t frags[] = {1, 2, 3, 4, 5, 41, 100, 300, 1000};
    static u_char out[16384];
    dm_tls_hello_t h;
    size_t i, n;

    for (i = 0; i < dm_nelems(frags); i++) {
        n = refragment(sample_tls13, sizeof(sample_tls13), frags[i], out);
        dm_tls_hello_init(&h, 0);
        if (frags[i] < sizeof(sample_tls13) - 5) {
            /* the body is not in one record: joined in scratch */
            assert_int_equal(dm_tls_hello_parse(&h, out, n), DM_DECLINED);
            assert_int_equal(h.need, sizeof(sample_tls13) - 9);
            h.scratch = scratch;
            h.scratch_size = h.need;
        }
        assert_int_equal(dm_tls_hello_parse(&h, out, n), DM_OK);
        assert_int_equal(h.in_scratch, frags[i] < sizeof(sample_tls13) - 5);
        check_result(&h, SAMPLE_TLS13);
        assert_int_equal(h.length, n);

        n = refragment(sample_big, sizeof(sample_big), frags[i], out);
        assert_int_equal(parse(&h, out, n, 0), DM_OK);
        assert_int_equal(h.server_name_len, 8);
    }
    /* one record holding the header only, then the body in another */
    n = refragment(sample_tls12, sizeof(sample_tls12), 4, out);
    assert_int_equal(parse(&h, out, 9, 0), DM_AGAIN);
    assert_int_equal(parse(&h, out, n, 0), DM_OK);
    check_result(&h, SAMPLE_TLS12);

    /* a record of another type in the middle */
    n = refragment(sample_tls13, sizeof(sample_tls13), 100, out);
    out[105] = 23;
    assert_int_equal(parse(&h, out, n, 0), DM_ERROR);
    assert_non_null(strstr(h.error, "other than handshake"));
}

static void
test_after_and_limit(void **state)
{
    u_char buf[sizeof(sample_tls13) + 6];
    dm_tls_hello_t h;

    /* a change_cipher_spec record after the hello is not looked at */
    memcpy(buf, sample_tls13, sizeof(sample_tls13));
    memcpy(buf + sizeof(sample_tls13), "\x14\x03\x03\x00\x01\x01", 6);
    assert_int_equal(parse(&h, buf, sizeof(buf), 0), DM_OK);
    assert_int_equal(h.length, sizeof(sample_tls13));

    /* the limit counts the stream: exactly enough, one byte short */
    assert_int_equal(parse(&h, sample_big, 20, sizeof(sample_big)), DM_AGAIN);
    assert_int_equal(parse(&h, sample_big, 9, sizeof(sample_big) - 1),
                     DM_ERROR);
    assert_non_null(strstr(h.error, "larger than the buffer"));
    assert_int_equal(h.size, sizeof(sample_big) - 5);
    /* DM_ERROR is final */
    assert_int_equal(dm_tls_hello_parse(&h, sample_tls12, 218), DM_ERROR);
}

/* --- hellos built from parts ------------------------------------------- */

static u_char *
put(u_char *p, size_t v, int n)
{
    while (n--) {
        *p++ = (u_char) (v >> (8 * n));
    }
    return p;
}

/* An extension with its header. */
static u_char *
ext(u_char *p, unsigned type, const void *data, size_t len)
{
    p = put(p, type, 2);
    p = put(p, len, 2);
    memcpy(p, data, len);
    return p + len;
}

/* server_name data with one host_name. */
static size_t
sni(u_char *out, const char *name)
{
    size_t n = strlen(name);
    u_char *p = put(out, n + 3, 2);

    p = put(p, 0, 1);
    p = put(p, n, 2);
    memcpy(p, name, n);
    return n + 5;
}

/*
 * A stream of one record: a ClientHello (TLS 1.2 legacy version, a
 * 32-byte session id, one suite, null compression) with the extensions
 * block exts (none when exts_len is (size_t) -1). Returns its length.
 */
static size_t
build(u_char *out, const u_char *exts, size_t exts_len)
{
    u_char *p = out + 9;

    p = put(p, 0x0303, 2);
    memset(p, 0xab, 32);
    p += 32;
    p = put(p, 32, 1);
    memset(p, 0xcd, 32);
    p += 32;
    p = put(p, 2, 2);
    p = put(p, 0x1301, 2);
    p = put(p, 1, 1);
    p = put(p, 0, 1);
    if (exts_len != (size_t) -1) {
        p = put(p, exts_len, 2);
        memcpy(p, exts, exts_len);
        p += exts_len;
    }
    out[0] = 22; /* handshake record, TLS 1.0 as clients send it */
    out[1] = 3;
    out[2] = 1;
    put(out + 3, (size_t) (p - out - 5), 2);
    out[5] = 1; /* ClientHello */
    put(out + 6, (size_t) (p - out - 9), 3);
    return (size_t) (p - out);
}

/* Offsets in a built stream. */
#define OFF_VERSION  9
#define OFF_SID_LEN  43
#define OFF_SUITES   76
#define OFF_COMP_LEN 80
#define OFF_EXTS_LEN 82

static void
expect_error(const u_char *data, size_t len, const char *why)
{
    dm_tls_hello_t h;
    dm_int_t rc = parse(&h, data, len, 0);

    if (rc != DM_ERROR || strstr(h.error, why) == NULL) {
        fail_msg("expected \"%s\", got %d (%s)", why, (int) rc,
                 h.error ? h.error : "-");
    }
}

static void
test_built(void **state)
{
    u_char out[1024], e[512], d[256], *p;
    dm_tls_hello_t h;
    size_t n;

    /* no extensions at all: no name, the protocol from the version */
    n = build(out, NULL, (size_t) -1);
    assert_int_equal(parse(&h, out, n, 0), DM_OK);
    assert_int_equal(h.server_name_len, 0);
    assert_null(h.alpn);
    assert_string_equal(dm_tls_hello_protocol(&h), "TLSv1.2");
    out[OFF_VERSION + 1] = 1;
    assert_int_equal(parse(&h, out, n, 0), DM_OK);
    assert_string_equal(dm_tls_hello_protocol(&h), "TLSv1");

    /* an upper-case name, another name type, GREASE versions */
    p = put(d + 2, 7, 1);
    p = put(p, 2, 2);
    memcpy(p, "xy", 2);
    p = put(p + 2, 0, 1);
    p = put(p, 15, 2);
    memcpy(p, "Www.Example.COM", 15);
    p += 15;
    put(d, (size_t) (p - d - 2), 2);
    p = ext(e, 0, d, (size_t) (p - d));
    p = ext(p, 43, "\x04\x3a\x3a\x03\x04", 5);
    p = ext(p, 16, "\x00\x03\x02h2", 5);
    p = ext(p, 0xfe0d, "", 0); /* an unknown one, empty */
    n = build(out, e, (size_t) (p - e));
    assert_int_equal(parse(&h, out, n, 0), DM_OK);
    check_result(&h, "www.example.com", "h2", "TLSv1.3");
}

static void
test_malformed(void **state)
{
    u_char out[1024], e[512], d[300], *p;
    size_t n;

    n = build(out, NULL, (size_t) -1);

    /* records */
    expect_error((u_char *) "GET / HTTP/1.1\r\n", 16, "not a TLS handshake");
    expect_error((u_char *) "\x17", 1, "not a TLS handshake");
    expect_error((u_char *) "\x80\x2e\x01", 3, "not a TLS handshake");
    expect_error((u_char *) "\x16\x02", 2, "record version");
    expect_error((u_char *) "\x16\x03\x05", 3, "record version");
    expect_error((u_char *) "\x16\x03\x01\x00\x00", 5, "record length");
    expect_error((u_char *) "\x16\x03\x01\x40\x01", 5, "record length");
    expect_error((u_char *) "\x16\x03\x03\x00\x05\x02", 6, "not a ClientHello");

    /* the handshake length: too short, or beyond the record's end is
       merely more to read (AGAIN), checked by the limit */
    memcpy(e, out, n);
    put(e + 6, 40, 3);
    expect_error(e, n, "too short");

    /* fields of the body */
    memcpy(e, out, n);
    e[OFF_VERSION] = 2;
    expect_error(e, n, "ClientHello version");
    memcpy(e, out, n);
    e[OFF_SID_LEN] = 33;
    expect_error(e, n, "session id");
    memcpy(e, out, n);
    e[OFF_SID_LEN] = 255; /* past the message */
    expect_error(e, n, "session id");
    memcpy(e, out, n);
    put(e + OFF_SUITES, 3, 2);
    expect_error(e, n, "cipher suites");
    memcpy(e, out, n);
    put(e + OFF_SUITES, 0, 2);
    expect_error(e, n, "cipher suites");
    memcpy(e, out, n);
    put(e + OFF_SUITES, 0x1000, 2);
    expect_error(e, n, "cipher suites");
    memcpy(e, out, n);
    e[OFF_COMP_LEN] = 0;
    expect_error(e, n, "compression");
    memcpy(e, out, n);
    e[OFF_COMP_LEN] = 2;
    expect_error(e, n, "compression");

    /* the extensions block: shorter than the rest, longer, or cut */
    p = ext(e, 0xfe0d, "abc", 3);
    n = build(out, e, (size_t) (p - e));
    put(out + OFF_EXTS_LEN, 6, 2);
    expect_error(out, n, "extensions length");
    put(out + OFF_EXTS_LEN, 8, 2);
    expect_error(out, n, "extensions length");
    n = build(out, NULL, (size_t) -1);
    put(out + n, 0, 1); /* one byte of a length */
    put(out + 3, n - 5 + 1, 2);
    put(out + 6, n - 9 + 1, 3);
    expect_error(out, n + 1, "extensions length");

    /* one extension's length past the block */
    p = ext(e, 0xfe0d, "abc", 3);
    n = build(out, e, (size_t) (p - e));
    put(out + OFF_EXTS_LEN + 4, 4, 2);
    expect_error(out, n, "bad extension length");

#define EXT_CASE(type, data, len, why)                                         \
    do {                                                                       \
        p = ext(e, type, data, len);                                           \
        n = build(out, e, (size_t) (p - e));                                   \
        expect_error(out, n, why);                                             \
    } while (0)

    /* server_name */
    EXT_CASE(0, "", 0, "server_name extension");
    EXT_CASE(0, "\x00\x00", 2, "server_name extension");
    /* (a string literal is split after a hex escape followed by a
       letter that would extend it) */
    EXT_CASE(0,
             "\x00\x0a\x00\x00\x06"
             "a.test",
             11, "server_name extension");
    EXT_CASE(0,
             "\x00\x07\x00\x00\x06"
             "a.test",
             11, "server_name extension");
    EXT_CASE(0,
             "\x00\x07\x00\x00\x06"
             "a.tes",
             9, "server_name entry");
    EXT_CASE(0,
             "\x00\x09\x00\x00\x07"
             "a.test",
             11, "server_name entry");
    EXT_CASE(0, "\x00\x03\x00\x00\x00", 5, "server name length");
    EXT_CASE(0,
             "\x00\x09\x00\x00\x06"
             "a\x01test",
             11, "control byte");
    EXT_CASE(0,
             "\x00\x09\x00\x00\x06"
             "a.tes\x7f",
             11, "control byte");
    EXT_CASE(0,
             "\x00\x09\x00\x00\x06"
             "a\ntest",
             11, "control byte");
    EXT_CASE(0,
             "\x00\x0b\x00\x00\x03"
             "a.t\x00\x00\x02"
             "bb",
             13, "two host names");
    memset(d, 'a', sizeof(d));
    put(d, 259, 2), put(d + 2, 0, 1), put(d + 3, 256, 2);
    EXT_CASE(0, d, 261, "server name length");
    n = sni(d, "a.test");
    p = ext(e, 0, d, n);
    p = ext(p, 0, d, n);
    n = build(out, e, (size_t) (p - e));
    expect_error(out, n, "duplicate extension");

    /* ALPN */
    EXT_CASE(16, "", 0, "ALPN extension");
    EXT_CASE(16, "\x00\x00", 2, "ALPN extension");
    EXT_CASE(16, "\x00\x04\x02h2", 5, "ALPN extension");
    EXT_CASE(16, "\x00\x03\x03h2", 5, "ALPN protocol name");
    EXT_CASE(16, "\x00\x03\x02h2\x00", 6, "ALPN extension");
    EXT_CASE(16, "\x00\x04\x02h2\x00", 6, "ALPN protocol name");
    EXT_CASE(16, "\x00\x04\x00\x02h2", 6, "ALPN protocol name");
    p = ext(e, 16, "\x00\x03\x02h2", 5);
    p = ext(p, 16, "\x00\x03\x02h2", 5);
    n = build(out, e, (size_t) (p - e));
    expect_error(out, n, "duplicate extension");

    /* supported_versions */
    EXT_CASE(43, "", 0, "supported_versions");
    EXT_CASE(43, "\x00", 1, "supported_versions");
    EXT_CASE(43, "\x03\x03\x04\x03", 4, "supported_versions");
    EXT_CASE(43, "\x04\x03\x04", 3, "supported_versions");
    EXT_CASE(43, "\x02\x03\x04\x03", 4, "supported_versions");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_fragmented),
        cmocka_unit_test(test_after_and_limit),
        cmocka_unit_test(test_built),
        cmocka_unit_test(test_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
