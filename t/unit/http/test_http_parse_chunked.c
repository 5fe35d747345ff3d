/*
 * doorman: unit tests for the chunked decoder (src/http/
 * dm_http_parse_chunked.c), by RFC 9112 section 7.1 and DESIGN.md
 * section 7 (malformed sizes or extensions are 400, extensions and
 * trailers bounded, the body limit counted while decoding).
 *
 * Each case is decoded whole, one byte at a time (each byte in a buffer
 * of its own), and in two pieces split at every position: the data
 * pieces, put together, must be the same body, and the verdict (done,
 * need more, or the same error) and where the body ends the same.
 */
#include "http_parse_check.h"

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    uint64_t max_body;
    dm_int_t rc;      /* DM_DONE, DM_AGAIN or DM_ERROR */
    const char *body; /* DM_DONE, DM_AGAIN: the data so far */
    size_t body_len;
    size_t rest;     /* DM_DONE: bytes after the body */
    unsigned status; /* DM_ERROR */
    const char *why; /* DM_ERROR */
} chunk_case_t;

#define IN(n, s) .name = n, .in = s, .len = sizeof(s) - 1
#define BODY(b)  .body = b, .body_len = sizeof(b) - 1
#define DONE(n, s, b, ...)                                                     \
    {                                                                          \
        IN(n, s), .rc = DM_DONE, BODY(b), __VA_ARGS__                          \
    }
#define AGAIN(n, s, b, ...)                                                    \
    {                                                                          \
        IN(n, s), .rc = DM_AGAIN, BODY(b), __VA_ARGS__                         \
    }
#define ERR(n, s, st, w, ...)                                                  \
    {                                                                          \
        IN(n, s), .rc = DM_ERROR, .status = st, .why = w, __VA_ARGS__          \
    }

static const chunk_case_t cases[] = {

    /* --- sizes: HEXDIG in any case, leading zeros */
    DONE("one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"),
    DONE("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
    DONE("lower-case hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
    DONE("upper-case hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
    DONE("mixed-case hex",
         "1f\r\n0123456789012345678901234567890\r\n"
         "1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n",
         "0123456789012345678901234567890"
         "0123456789012345678901234567890"),
    DONE("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"),
    DONE("empty body", "0\r\n\r\n", ""),
    DONE("data with CRLF and NUL inside", "6\r\n\r\n\0\n\r0\r\n0\r\n\r\n",
         "\r\n\0\n\r0"),
    DONE("the next request follows", "0\r\n\r\nGET / HTTP/1.1\r\n", "",
         .rest = 16),
    ERR("empty size", "\r\n", 400, "invalid chunk size"),
    ERR("not hex", "x\r\n", 400, "invalid chunk size"),
    ERR("negative size", "-5\r\nhello\r\n", 400, "invalid chunk size"),
    ERR("0x prefix", "0x5\r\nhello\r\n", 400, "invalid chunk size"),
    ERR("plus sign", "+5\r\nhello\r\n", 400, "invalid chunk size"),
    ERR("space before the size", " 5\r\nhello\r\n", 400, "invalid chunk size"),
    ERR("space after the size", "a \r\n0123456789\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("bare LF after the size", "5\nhello\r\n0\r\n\r\n", 400,
        "invalid chunk size"),
    ERR("bare CR after the size", "5\rhello\r\n", 400, "bare CR"),
    ERR("size 2^64", "10000000000000000\r\n", 400, "chunk size too large"),
    ERR("size 2^63", "8000000000000000\r\n", 400, "chunk size too large"),
    AGAIN("size 2^63 - 1", "7fffffffffffffff\r\n", ""),
    AGAIN("size 2^63 - 1 with leading zeros", "007FFFFFFFFFFFFFFF\r\nab", "ab"),
    ERR("missing last chunk", "3\r\nfoo\r\nGET / HTTP/1.1\r\n", 400,
        "invalid chunk size"),
    ERR("junk in the size line", "3 \n  \r\nfoo\r\n", 400,
        "invalid chunk extension"),

    /* --- the CRLF after the data, exactly */
    ERR("data longer than the size", "5\r\nhelloX\r\n0\r\n\r\n", 400,
        "no CRLF after chunk data"),
    ERR("LF alone after the data", "5\r\nhello\n0\r\n\r\n", 400,
        "no CRLF after chunk data"),
    ERR("CR alone after the data", "5\r\nhello\rX0\r\n\r\n", 400,
        "no CRLF after chunk data"),
    ERR("data shorter than the size", "6\r\nhello\r\n0\r\n\r\n", 400,
        "no CRLF after chunk data"),

    /* --- extensions: ;name[=token|quoted], BWS before ';' and around
       '=' only */
    DONE("extension with a value", "5;foo=bar\r\nhello\r\n0\r\n\r\n", "hello"),
    DONE("extension without a value", "5;foo\r\nhello\r\n0\r\n\r\n", "hello"),
    DONE("several extensions", "5;a;b=c;d=\"e f\"\r\nhello\r\n0\r\n\r\n",
         "hello"),
    DONE("quoted-pair in a value",
         "5;a=\"I \\\"love\\\"; \\\\x\\\\\";b\r\nhello\r\n0\r\n\r\n", "hello"),
    DONE("BWS around ; and =",
         "5 ; a = b ;c\t=\t\"d\" ;e\r\nhello\r\n0\r\n\r\n", "hello"),
    DONE("extension on the last chunk", "0;x=y\r\n\r\n", ""),
    DONE("obs-text in a quoted value", "1;a=\"\xc3\xa9\"\r\nx\r\n0\r\n\r\n",
         "x"),
    ERR("empty extension", "2;\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("extension without ;", "2 erfrferferf\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("empty value", "2;a=\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("unterminated quoted value", "5;a=\"abc;b=\"def; ghi\r\nhello\r\n", 400,
        "invalid chunk extension"),
    ERR("space inside a name", "2;a b\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("space inside a value", "2;a=b c\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("space at the end of the line", "2;a=b \r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("control byte in a name", "2;a\x01\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("control byte in a quoted value", "2;a=\"\x01\"\r\naa\r\n0\r\n\r\n",
        400, "invalid chunk extension"),
    ERR("bare LF in a quoted value", "2;a=\"\n\"\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("= without a name", "2;=b\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("text after a quoted value", "2;a=\"b\"c\r\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),
    ERR("bare LF after an extension", "2;a\naa\r\n0\r\n\r\n", 400,
        "invalid chunk extension"),

    /* --- trailers: fields, checked then dropped */
    DONE("trailers",
         "5\r\nhello\r\n0\r\nVary: *\r\nContent-Type: text/plain"
         "\r\n\r\n",
         "hello"),
    DONE("trailer with an empty value", "0\r\nX:\r\n\r\n", ""),
    DONE("trailer with obs-text", "0\r\nX: D\xfcsseldorf\r\n\r\n", ""),
    DONE("trailer then the next request", "0\r\nX: 1\r\n\r\nGET", "",
         .rest = 3),
    ERR("trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", 400, "invalid trailer"),
    ERR("trailer with a space before the colon", "0\r\nA : b\r\n\r\n", 400,
        "invalid trailer"),
    ERR("trailer without a colon", "0\r\nAbc\r\n\r\n", 400, "invalid trailer"),
    ERR("trailer with an empty name", "0\r\n: b\r\n\r\n", 400,
        "invalid trailer"),
    ERR("trailer with bare LF", "0\r\nA: b\n\r\n", 400, "invalid trailer"),
    ERR("trailer with NUL", "0\r\nA: \0\r\n\r\n", 400, "invalid trailer"),
    ERR("trailer with bare CR", "0\r\nA: b\rX\r\n\r\n", 400, "bare CR"),
    ERR("bare LF ending the body", "0\r\n\n", 400, "invalid trailer"),
    ERR("bare CR ending the body", "0\r\n\rX", 400, "bare CR"),

    /* --- the body limit, decided when a size says so */
    DONE("body at the limit", "5\r\nhello\r\n0\r\n\r\n", "hello",
         .max_body = 5),
    DONE("body at the limit over two chunks",
         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world",
         .max_body = 11),
    ERR("body over the limit", "5\r\nhello\r\n0\r\n\r\n", 413,
        "request body too large", .max_body = 4),
    ERR("body over the limit in the second chunk",
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 413, "request body too large",
        .max_body = 10),
    ERR("413 as soon as the size says so", "fff", 413, "request body too large",
        .max_body = 100),

    /* --- incomplete */
    AGAIN("in the data", "5\r\nhel", "hel"),
    AGAIN("before the last chunk", "5\r\nhello\r\n", "hello"),
    AGAIN("after the last chunk", "5\r\nhello\r\n0\r\n", "hello"),
    AGAIN("in a trailer", "0\r\nX: 1\r\n", ""),
    AGAIN("in an extension", "5;a=\"b", ""),
    AGAIN("nothing", "", ""),
};

/* What a decode gave: its end, the body, and where it stopped. */
typedef struct {
    dm_int_t rc;
    u_char body[256];
    size_t body_len;
    size_t used; /* DM_DONE: the bytes the body took */
    dm_http_parse_error_t err;
} chunk_result_t;

/*
 * Feeds in[from, to) to the decoder, as one buffer of its own, until it
 * asks for more or ends. Returns 0 when it ended (r->rc set).
 */
static int
feed(dm_http_chunked_t *ch, const chunk_case_t *c, size_t from, size_t to,
     chunk_result_t *r)
{
    const u_char *data;
    size_t pos = 0, consumed, n;
    u_char *buf;
    dm_int_t rc;

    buf = check_copy(c->in + from, to - from);
    for (;;) {
        rc = dm_http_chunked_parse(ch, buf + pos, to - from - pos, c->max_body,
                                   &consumed, &data, &n, &r->err);
        assert_true(consumed <= to - from - pos);
        pos += consumed;
        if (rc == DM_OK) {
            assert_true(n > 0 && data >= buf && data + n <= buf + pos);
            assert_true(r->body_len + n <= sizeof(r->body));
            memcpy(r->body + r->body_len, data, n);
            r->body_len += n;
            continue;
        }
        assert_true(n == 0);
        free(buf);
        r->rc = rc;
        if (rc == DM_AGAIN) {
            assert_int_equal(pos, to - from);
            return 1;
        }
        if (rc == DM_DONE) {
            r->used = from + pos;
        }
        return 0;
    }
}

/* Decodes the case in the pieces that end at the offsets in cuts[]. */
static void
decode(const chunk_case_t *c, const size_t *cuts, size_t ncuts,
       chunk_result_t *r)
{
    dm_http_chunked_t ch;
    size_t i, from = 0;

    memset(r, 0, sizeof(*r));
    dm_http_chunked_init(&ch);
    for (i = 0; i < ncuts; i++) {
        if (!feed(&ch, c, from, cuts[i], r)) {
            return;
        }
        from = cuts[i];
    }
}

static void
compare(const chunk_case_t *c, const char *how, const chunk_result_t *r)
{
    if (r->rc != c->rc) {
        fail_msg("%s (%s): rc %ld, expected %ld (%s)", c->name, how,
                 (long) r->rc, (long) c->rc,
                 r->rc == DM_ERROR ? r->err.reason : "");
    }
    if (c->rc == DM_ERROR) {
        if (r->err.status != c->status || strcmp(r->err.reason, c->why)) {
            fail_msg("%s (%s): error %u %s, expected %u %s", c->name, how,
                     r->err.status, r->err.reason, c->status, c->why);
        }
        return;
    }
    if (r->body_len != c->body_len
        || memcmp(r->body, c->body, c->body_len) != 0) {
        fail_msg("%s (%s): body of %zu bytes \"%.*s\"", c->name, how,
                 r->body_len, (int) r->body_len, r->body);
    }
    if (c->rc == DM_DONE && r->used != c->len - c->rest) {
        fail_msg("%s (%s): the body took %zu bytes, expected %zu", c->name, how,
                 r->used, c->len - c->rest);
    }
}

static void
test_table(void **state)
{
    size_t i, k, cuts[2], *one;
    chunk_result_t r;
    char how[32];

    for (i = 0; i < dm_nelems(cases); i++) {
        const chunk_case_t *c = &cases[i];

        cuts[0] = c->len;
        decode(c, cuts, 1, &r);
        compare(c, "whole", &r);

        one = malloc((c->len + 1) * sizeof(size_t));
        assert_non_null(one);
        one[0] = 0;
        for (k = 0; k < c->len; k++) {
            one[k] = k + 1;
        }
        decode(c, one, c->len ? c->len : 1, &r);
        compare(c, "byte by byte", &r);
        free(one);

        for (k = 0; k <= c->len; k++) {
            cuts[0] = k;
            cuts[1] = c->len;
            decode(c, cuts, 2, &r);
            snprintf(how, sizeof(how), "split at %zu", k);
            compare(c, how, &r);
        }
    }
    print_message("%zu chunked bodies, whole, byte by byte and split at "
                  "every byte\n",
                  dm_nelems(cases));
}

/* Extensions and trailers are bounded over the whole body. */
static void
test_bounds(void **state)
{
    static u_char buf[3 * DM_HTTP_CHUNKED_MAX_TRAILER];
    dm_http_parse_error_t err;
    dm_http_chunked_t ch;
    const u_char *data;
    size_t consumed, n, len;
    dm_int_t rc;

    /* one extension of exactly DM_HTTP_CHUNKED_MAX_EXT bytes (";" and
       the name) passes; one byte more does not */
    buf[0] = '1';
    buf[1] = ';';
    memset(buf + 2, 'a', DM_HTTP_CHUNKED_MAX_EXT - 1);
    len = 1 + DM_HTTP_CHUNKED_MAX_EXT;
    memcpy(buf + len, "\r\nx\r\n0\r\n\r\n", 10);
    dm_http_chunked_init(&ch);
    rc = dm_http_chunked_parse(&ch, buf, len + 10, 0, &consumed, &data, &n,
                               &err);
    assert_int_equal(rc, DM_OK);
    assert_int_equal(n, 1);
    rc = dm_http_chunked_parse(&ch, buf + consumed, len + 10 - consumed, 0,
                               &consumed, &data, &n, &err);
    assert_int_equal(rc, DM_DONE);

    buf[len] = 'a';
    memcpy(buf + len + 1, "\r\nx\r\n0\r\n\r\n", 10);
    dm_http_chunked_init(&ch);
    rc = dm_http_chunked_parse(&ch, buf, len + 11, 0, &consumed, &data, &n,
                               &err);
    assert_int_equal(rc, DM_ERROR);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.reason, "chunk extensions too long");

    /* the bound is for the whole body: many small extensions add up */
    dm_http_chunked_init(&ch);
    for (n = 0;; n++) {
        rc = dm_http_chunked_parse(&ch, (const u_char *) "1;abcdefg\r\nx\r\n",
                                   14, 0, &consumed, &data, &len, &err);
        if (rc == DM_ERROR) {
            break;
        }
        assert_int_equal(rc, DM_OK);
        rc = dm_http_chunked_parse(&ch, (const u_char *) "\r\n", 2, 0,
                                   &consumed, &data, &len, &err);
        assert_int_equal(rc, DM_AGAIN);
    }
    assert_string_equal(err.reason, "chunk extensions too long");
    assert_int_equal(n, DM_HTTP_CHUNKED_MAX_EXT / 8);

    /* trailers: at most DM_HTTP_CHUNKED_MAX_TRAILER bytes, final CRLF
       included */
    memcpy(buf, "0\r\nX: ", 6);
    len = 6 + DM_HTTP_CHUNKED_MAX_TRAILER - 7;
    memset(buf + 6, 'v', len - 6);
    memcpy(buf + len, "\r\n\r\n", 4);
    dm_http_chunked_init(&ch);
    rc =
        dm_http_chunked_parse(&ch, buf, len + 4, 0, &consumed, &data, &n, &err);
    assert_int_equal(rc, DM_DONE);
    assert_int_equal(consumed, 3 + DM_HTTP_CHUNKED_MAX_TRAILER);

    buf[len] = 'v';
    memcpy(buf + len + 1, "\r\n\r\n", 4);
    dm_http_chunked_init(&ch);
    rc =
        dm_http_chunked_parse(&ch, buf, len + 5, 0, &consumed, &data, &n, &err);
    assert_int_equal(rc, DM_ERROR);
    assert_string_equal(err.reason, "trailers too large");
}

/* DM_DONE and DM_ERROR are final; the total counts the data. */
static void
test_final(void **state)
{
    dm_http_parse_error_t err;
    dm_http_chunked_t ch;
    const u_char *data;
    size_t consumed, n;
    dm_int_t rc;

    dm_http_chunked_init(&ch);
    rc = dm_http_chunked_parse(&ch, (const u_char *) "3\r\nabc\r\n0\r\n\r\nX",
                               14, 0, &consumed, &data, &n, &err);
    assert_int_equal(rc, DM_OK);
    assert_int_equal(ch.total, 3);
    rc = dm_http_chunked_parse(&ch, (const u_char *) "\r\n0\r\n\r\nX", 8, 0,
                               &consumed, &data, &n, &err);
    assert_int_equal(rc, DM_DONE);
    assert_int_equal(consumed, 7);
    rc = dm_http_chunked_parse(&ch, (const u_char *) "X", 1, 0, &consumed,
                               &data, &n, &err);
    assert_int_equal(rc, DM_DONE);
    assert_int_equal(consumed, 0);

    dm_http_chunked_init(&ch);
    rc = dm_http_chunked_parse(&ch, (const u_char *) "g", 1, 0, &consumed,
                               &data, &n, &err);
    assert_int_equal(rc, DM_ERROR);
    rc = dm_http_chunked_parse(&ch, (const u_char *) "0\r\n\r\n", 5, 0,
                               &consumed, &data, &n, &err);
    assert_int_equal(rc, DM_ERROR);
    assert_int_equal(consumed, 0);
    assert_int_equal(err.status, 400);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_final),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
