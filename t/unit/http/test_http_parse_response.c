/*
 * doorman: unit tests for the response parser (src/http/
 * dm_http_parse_response.c), by DESIGN.md section 7: framing read
 * strictly (any doubt is a 502), what is legal accepted (close-delimited
 * bodies, 1xx, no body after HEAD, 204 and 304, repeated Set-Cookie).
 * Every case is also fed one byte at a time, as the requests are.
 */
#include "http_parse_check.h"

/* Flags of an accepted response; all of them are checked. */
#define KA 0x01 /* keep_alive */
#define CH 0x02 /* chunked */
#define CD 0x04 /* close_delimited */
#define NB 0x08 /* no_body */

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    int head;        /* a response to HEAD */
    unsigned lim;    /* LIM_* */
    unsigned status; /* 0: accepted, else 502 */
    size_t rest;     /* accepted: bytes after the head */
    unsigned version;
    unsigned code;      /* the status code; 0: not checked */
    const char *reason; /* NULL: not checked */
    const char *cl;     /* accepted: Content-Length, NULL: none */
    unsigned flags;     /* accepted: KA | CH | CD | NB */
    const char *why;    /* refused: the reason */
} resp_case_t;

#define IN(n, s) .name = n, .in = s, .len = sizeof(s) - 1
#define OK(n, s, ...)                                                          \
    {                                                                          \
        IN(n, s), __VA_ARGS__                                                  \
    }
#define NO(n, s, why_, ...)                                                    \
    {                                                                          \
        IN(n, s), .status = 502, .why = why_, __VA_ARGS__                      \
    }

#define S200  "HTTP/1.1 200 OK\r\n"
#define S200A "HTTP/1.0 200 OK\r\n"
#define CL0   "Content-Length: 0\r\n"
#define V11   .version = 11
#define V10   .version = 10

static const resp_case_t cases[] = {

    /* --- framing: chunked, else Content-Length, else close */
    OK("Content-Length", S200 "Content-Length: 5\r\n\r\nhello", .rest = 5, V11,
       .code = 200, .reason = "OK", .cl = "5", .flags = KA),
    OK("chunked", S200 "Transfer-Encoding: chunked\r\n\r\n", V11,
       .flags = KA | CH),
    OK("Chunked in mixed case", S200 "transfer-encoding: Chunked \r\n\r\n", V11,
       .flags = KA | CH),
    OK("no length: close-delimited", S200 "\r\nbody until close", .rest = 16,
       V11, .flags = CD),
    OK("Content-Length repeated, equal",
       S200 "Content-Length: 2\r\nContent-Length: 2\r\n\r\n", V11, .cl = "2",
       .flags = KA),
    OK("Content-Length list, equal", S200 "Content-Length: 2, 2\r\n\r\n", V11,
       .cl = "2", .flags = KA),
    NO("Content-Length and chunked",
       S200 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
       "both Content-Length and Transfer-Encoding"),
    NO("chunked and Content-Length",
       S200 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
       "both Content-Length and Transfer-Encoding"),
    NO("Content-Length differing",
       S200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
       "differing Content-Length fields"),
    NO("Content-Length list, differing", S200 "Content-Length: 5, 6\r\n\r\n",
       "invalid Content-Length"),
    NO("Content-Length malformed", S200 "Content-Length: abc\r\n\r\n",
       "invalid Content-Length"),
    NO("Content-Length empty", S200 "Content-Length:\r\n\r\n",
       "invalid Content-Length"),
    NO("Content-Length negative", S200 "Content-Length: -1\r\n\r\n",
       "invalid Content-Length"),
    NO("Content-Length overflow",
       S200 "Content-Length: 99999999999999999999\r\n\r\n",
       "invalid Content-Length"),
    NO("gzip", S200 "Transfer-Encoding: gzip\r\n\r\n",
       "unsupported Transfer-Encoding"),
    NO("gzip, chunked", S200 "Transfer-Encoding: gzip, chunked\r\n\r\n",
       "unsupported Transfer-Encoding"),
    NO("chunked, chunked", S200 "Transfer-Encoding: chunked, chunked\r\n\r\n",
       "unsupported Transfer-Encoding"),
    NO("chunked, gzip", S200 "Transfer-Encoding: chunked, gzip\r\n\r\n",
       "unsupported Transfer-Encoding"),
    NO("empty Transfer-Encoding", S200 "Transfer-Encoding:\r\n\r\n",
       "unsupported Transfer-Encoding"),
    NO("chunked in HTTP/1.0", S200A "Transfer-Encoding: chunked\r\n\r\n",
       "Transfer-Encoding in an HTTP/1.0 response"),

    /* --- keep-alive */
    OK("1.0 without keep-alive", S200A CL0 "\r\n", V10, .cl = "0"),
    OK("1.0 keep-alive", S200A "Connection: keep-alive\r\n" CL0 "\r\n", V10,
       .cl = "0", .flags = KA),
    OK("1.0 keep-alive, close-delimited",
       S200A "Connection: keep-alive\r\n\r\n", V10, .flags = CD),
    OK("1.1 close", S200 "Connection: close\r\n" CL0 "\r\n", V11, .cl = "0"),
    OK("1.1 Close in a list", S200 "Connection: foo, Close\r\n" CL0 "\r\n", V11,
       .cl = "0"),

    /* --- no body: 1xx, 204, 304, HEAD; no_body wins over the fields */
    OK("204", "HTTP/1.1 204 No Content\r\n\r\n", V11, .code = 204,
       .reason = "No Content", .flags = KA | NB),
    OK("304 with Content-Length",
       "HTTP/1.1 304 Not Modified\r\n"
       "Content-Length: 100\r\n\r\n",
       V11, .code = 304, .cl = "100", .flags = KA | NB),
    OK("100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", V11, .code = 100,
       .flags = KA | NB),
    OK("103 Early Hints", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
       V11, .code = 103, .flags = KA | NB),
    OK("101 Switching Protocols",
       "HTTP/1.1 101 Switching Protocols\r\n"
       "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
       V11, .code = 101, .flags = KA | NB),
    OK("HEAD with Content-Length", S200 "Content-Length: 1234\r\n\r\n",
       .head = 1, V11, .cl = "1234", .flags = KA | NB),
    OK("HEAD with chunked", S200 "Transfer-Encoding: chunked\r\n\r\n",
       .head = 1, V11, .flags = KA | CH | NB),
    OK("HEAD without length", S200 "\r\n", .head = 1, V11, .flags = KA | NB),
    OK("204 with chunked",
       "HTTP/1.1 204 No Content\r\n"
       "Transfer-Encoding: chunked\r\n\r\n",
       V11, .flags = KA | CH | NB),
    NO("HEAD with Content-Length and chunked",
       S200 "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       "both Content-Length and Transfer-Encoding", .head = 1),
    NO("304 with differing Content-Length",
       "HTTP/1.1 304 Not Modified\r\n"
       "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
       "differing Content-Length fields"),

    /* --- the status line */
    OK("no reason, no space", "HTTP/1.1 200\r\n" CL0 "\r\n", V11, .code = 200,
       .reason = "", .cl = "0", .flags = KA),
    OK("empty reason", "HTTP/1.1 200 \r\n" CL0 "\r\n", V11, .reason = "",
       .cl = "0", .flags = KA),
    OK("reason with spaces", "HTTP/1.1 404 Not Found Here\r\n" CL0 "\r\n", V11,
       .code = 404, .reason = "Not Found Here", .cl = "0", .flags = KA),
    OK("reason in UTF-8", "HTTP/1.1 200 \xc3\x89t\xc3\xa9\r\n" CL0 "\r\n", V11,
       .reason = "\xc3\x89t\xc3\xa9", .cl = "0", .flags = KA),
    OK("status 999", "HTTP/1.1 999 Odd\r\n" CL0 "\r\n", V11, .code = 999,
       .cl = "0", .flags = KA),
    OK("status 599", "HTTP/1.1 599 x\r\n" CL0 "\r\n", V11, .code = 599,
       .cl = "0", .flags = KA),
    OK("bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", V11, .cl = "0",
       .flags = KA),
    NO("bare LF, bare_lf off", "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
       "bare LF", .lim = LIM_STRICT),
    NO("HTTP/2.0", "HTTP/2.0 200 OK\r\n" CL0 "\r\n",
       "unsupported HTTP version in a response"),
    NO("HTTP/1.2", "HTTP/1.2 200 OK\r\n" CL0 "\r\n",
       "unsupported HTTP version in a response"),
    NO("HTTP/0.9 (no status line)", "<html>hello</html>",
       "invalid status line"),
    NO("lower-case http", "http/1.1 200 OK\r\n\r\n", "invalid status line"),
    NO("ICY", "ICY 200 OK\r\n\r\n", "invalid status line"),
    NO("two spaces", "HTTP/1.1  200 OK\r\n\r\n", "invalid status code"),
    NO("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", "invalid status code"),
    NO("status below 100", "HTTP/1.1 099 X\r\n\r\n", "invalid status code"),
    NO("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", "invalid status code"),
    NO("control byte in the reason", "HTTP/1.1 200 O\x01K\r\n\r\n",
       "control byte in the reason phrase"),
    NO("bare CR in the status line", "HTTP/1.1 200 OK\rX: 1\r\n\r\n",
       "bare CR"),

    /* --- fields: the request rules */
    OK("repeated Set-Cookie",
       S200 "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n" CL0 "\r\n", V11, .cl = "0",
       .flags = KA),
    OK("obs-text in a value", S200 "X: D\xfcsseldorf\r\n" CL0 "\r\n", V11,
       .cl = "0", .flags = KA),
    OK("Connection naming Content-Length",
       S200 "Connection: Content-Length\r\n"
            "Content-Length: 1\r\n\r\n",
       V11, .cl = "1", .flags = KA),
    NO("obs-fold", S200 "X: a\r\n b\r\n" CL0 "\r\n",
       "obs-fold (a field line starting with whitespace)"),
    NO("space before the colon", S200 "Content-Length : 5\r\n\r\n",
       "whitespace before the colon of a field name"),
    NO("bare CR in a value", S200 "X: a\rb\r\n\r\n", "bare CR"),
    NO("NUL in a value", S200 "X: a\0b\r\n\r\n",
       "control byte in a field value"),
    NO("invalid field name", S200 "X[1]: a\r\n\r\n",
       "invalid character in a field name"),

    /* --- limits (LIM_SMALL: status line 32, head 128, 4 fields) */
    OK("4 fields", S200 "A: 1\r\nB: 2\r\nC: 3\r\n" CL0 "\r\n", .lim = LIM_SMALL,
       V11, .cl = "0", .flags = KA),
    NO("5 fields", S200 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n" CL0 "\r\n",
       "too many header fields", .lim = LIM_SMALL),
    NO("status line over 32 bytes",
       "HTTP/1.1 200 OK OK OK OK OK OK OK OK\r\n\r\n", "status line too long",
       .lim = LIM_SMALL),
    NO("head over 128 bytes",
       S200
       "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaa\r\n\r\n",
       "response head too large", .lim = LIM_SMALL),
};

static void
check_case(const resp_case_t *c)
{
    dm_http_header_t headers[CHECK_MAX_HEADERS];
    dm_http_response_head_t resp;
    check_verdict_t v;
    unsigned flags;
    int64_t cl;
    u_char *buf;

    v = check_bytewise(c->name, c->in, c->len, c->lim, c->head);
    if (c->status) {
        if (v.rc != DM_HTTP_PARSE_ERROR || v.status != c->status
            || strcmp(v.reason, c->why) != 0) {
            fail_msg("%s: expected %u (%s), got rc %zd status %u (%s)", c->name,
                     c->status, c->why, v.rc, v.status,
                     v.rc == DM_HTTP_PARSE_ERROR ? v.reason : "");
        }
        return;
    }
    if (v.rc != (ssize_t) (c->len - c->rest)) {
        fail_msg("%s: expected a head of %zu bytes, got rc %zd (%s)", c->name,
                 c->len - c->rest, v.rc,
                 v.rc == DM_HTTP_PARSE_ERROR ? v.reason : "");
    }

    buf = check_copy(c->in, c->len - c->rest);
    v = check_response_once(buf, c->len - c->rest, c->lim, c->head, &resp,
                            headers);
    assert_int_equal(v.rc, (ssize_t) (c->len - c->rest));
    if (c->version && resp.version != c->version) {
        fail_msg("%s: version %u, expected %u", c->name, resp.version,
                 c->version);
    }
    if (c->code && resp.status != c->code) {
        fail_msg("%s: status %u, expected %u", c->name, resp.status, c->code);
    }
    check_str(c->name, "reason", &resp.reason, c->reason);
    cl = c->cl ? strtoll(c->cl, NULL, 10) : -1;
    if (resp.content_length != cl) {
        fail_msg("%s: content_length %lld, expected %lld", c->name,
                 (long long) resp.content_length, (long long) cl);
    }
    flags = (resp.keep_alive ? KA : 0) | (resp.chunked ? CH : 0)
            | (resp.close_delimited ? CD : 0) | (resp.no_body ? NB : 0);
    if (flags != c->flags) {
        fail_msg("%s: flags 0x%x, expected 0x%x (KA 1, CH 2, CD 4, NB 8)",
                 c->name, flags, c->flags);
    }
    free(buf);
}

static void
test_table(void **state)
{
    size_t i;

    for (i = 0; i < dm_nelems(cases); i++) {
        check_case(&cases[i]);
    }
    print_message("%zu responses, each whole and byte by byte\n",
                  dm_nelems(cases));
}

/* Fields are kept in order, repeats included; Connection marks hops. */
static void
test_fields(void **state)
{
    static const char in[] = "HTTP/1.1 200 OK\r\n"
                             "Set-Cookie: a=1\r\n"
                             "Connection: X-Backend\r\n"
                             "X-Backend: b1\r\n"
                             "Set-Cookie: b=2\r\n"
                             "Keep-Alive: timeout=5\r\n"
                             "Content-Length: 0\r\n"
                             "\r\n";
    dm_http_header_t headers[CHECK_MAX_HEADERS];
    dm_http_response_head_t resp;
    check_verdict_t v;

    v = check_response_once((const u_char *) in, sizeof(in) - 1, LIM_DEFAULT, 0,
                            &resp, headers);
    assert_int_equal(v.rc, sizeof(in) - 1);
    assert_int_equal(resp.nheaders, 6);
    assert_true(dm_http_header_is(&headers[0], "set-cookie"));
    assert_true(dm_http_header_is(&headers[3], "Set-Cookie"));
    assert_false(headers[0].hop || headers[3].hop || headers[5].hop);
    assert_true(headers[1].hop && headers[2].hop && headers[4].hop);
    assert_int_equal(headers[5].id, DM_HTTP_HDR_CONTENT_LENGTH);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
