/*
 * doorman: unit tests for the upstream request head of http_proxy
 * (modules/http_proxy/dm_http_proxy_head.c).
 *
 * Each case parses a raw client request with the real parser, writes the
 * proxy head and compares the exact bytes. Every write is also checked
 * against the buffer sizes: it fits in dm_http_proxy_head_size, succeeds
 * in a buffer of exactly its length and returns -1 in every smaller one
 * (each buffer allocated at its size, so AddressSanitizer sees an
 * overrun). A random test checks the size bound and the line syntax on
 * many generated requests.
 */
#include <dm_core.h>
#include <dm_http_parse.h>
#include <dm_http_proxy_head.h>

#include <setjmp.h>
#include <cmocka.h>

#define T_MAX_HEADERS 64

static const dm_http_parse_limits_t t_limits = {
    .max_line = 4096, .max_head = 16384, .max_headers = 64, .bare_lf = 1};

/* A parsed request and what the writer takes, with test defaults. */
typedef struct {
    u_char raw[8192];
    dm_http_header_t headers[T_MAX_HEADERS];
    dm_http_request_head_t req;
    dm_http_proxy_header_t set[8];
    dm_http_proxy_head_in_t in;
} t_head_t;

static dm_str_t
t_str(const char *s)
{
    dm_str_t r;

    r.len = strlen(s);
    r.data = (u_char *) s;
    return r;
}

/* Parses raw (must be accepted) and fills t->in with the defaults: the
   method and target of the request, no set entries, untrusted peer
   10.0.0.1 = client, http, host "example.com", request id "rid",
   nothing added, no body, no keepalive. */
static void
t_parse(t_head_t *t, const char *raw)
{
    dm_http_parse_error_t err = {0, NULL};
    size_t len = strlen(raw);
    ssize_t rc;

    assert_true(len <= sizeof(t->raw));
    memcpy(t->raw, raw, len);
    memset(&t->req, 0, sizeof(t->req));
    t->req.headers = t->headers;
    t->req.nheaders = T_MAX_HEADERS;
    rc = dm_http_parse_request(t->raw, len, &t_limits, &t->req, &err);
    if (rc <= 0) {
        fail_msg("not parsed: %s: %s", raw, err.reason ? err.reason : "AGAIN");
    }

    memset(&t->in, 0, sizeof(t->in));
    t->in.method = t->req.method;
    t->in.uri = t->req.target;
    t->in.in = &t->req;
    t->in.set = t->set;
    t->in.nset = 0;
    t->in.peer_addr = t_str("10.0.0.1");
    t->in.client_addr = t_str("10.0.0.1");
    t->in.scheme = t_str("http");
    t->in.host = t_str("example.com");
    t->in.request_id = t_str("rid");
    t->in.content_length = -1;
}

static void
t_set(t_head_t *t, const char *name, const char *value)
{
    assert_true(t->in.nset < sizeof(t->set) / sizeof(t->set[0]));
    t->set[t->in.nset].name = t_str(name);
    t->set[t->in.nset].value = t_str(value);
    t->in.nset++;
}

/* Checks the buffer contract; returns the head in a malloc'ed string. */
static char *
t_write(const dm_http_proxy_head_in_t *in)
{
    size_t bound, i;
    u_char *buf;
    ssize_t n, m;
    char *out;

    bound = dm_http_proxy_head_size(in);
    buf = malloc(bound ? bound : 1);
    assert_non_null(buf);
    n = dm_http_proxy_head_write(in, buf, bound);
    assert_true(n > 0);
    assert_true((size_t) n <= bound);
    out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, buf, n);
    out[n] = '\0';
    free(buf);

    /* exactly n bytes: the same head; fewer: -1 */
    for (i = 0; i <= (size_t) n; i++) {
        buf = malloc(i ? i : 1);
        assert_non_null(buf);
        m = dm_http_proxy_head_write(in, buf, i);
        if (i < (size_t) n) {
            if (m != -1) {
                fail_msg("size %zu of %zd: returned %zd", i, n, m);
            }
        } else {
            assert_int_equal(m, n);
            assert_memory_equal(buf, out, n);
        }
        free(buf);
    }
    return out;
}

static void
t_expect(t_head_t *t, const char *expected)
{
    char *out = t_write(&t->in);

    assert_string_equal(out, expected);
    free(out);
}

#define GET  "GET /a?b=1 HTTP/1.1\r\nHost: client.example\r\n"
#define LINE "GET /a?b=1 HTTP/1.1\r\n"
#define UP   "Host: up\r\n"
#define END  "Connection: close\r\n\r\n"

static void
test_plain_get(void **state)
{
    t_head_t t;

    t_parse(&t, GET "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n");
    t_set(&t, "Host", "up");
    t_expect(&t, LINE UP "User-Agent: curl/8.0\r\nAccept: */*\r\n" END);

    /* no set entry at all: no Host (it comes only from set) */
    t.in.nset = 0;
    t_expect(&t, LINE "User-Agent: curl/8.0\r\nAccept: */*\r\n" END);

    /* an HTTP/1.0 request goes out as HTTP/1.1; the method and uri are
       the caller's (an error_page redirect sends GET) */
    t_parse(&t, "POST /x HTTP/1.0\r\n\r\n");
    t.in.method = t_str("GET");
    t.in.uri = t_str("/50x.html");
    t_expect(&t, "GET /50x.html HTTP/1.1\r\n" END);
    t.in.uri = t_str("");
    t_expect(&t, "GET / HTTP/1.1\r\n" END);
}

static void
test_set(void **state)
{
    t_head_t t;

    t_parse(&t, GET "User-Agent: curl\r\nX-Foo: 1\r\nAccept: a\r\n"
                    "x-foo: 2\r\nX-Bar: 3\r\n\r\n");
    t_set(&t, "Host", "up");
    t_set(&t, "user-agent", "doorman");
    t_set(&t, "X-FOO", "");
    t_set(&t, "X-New", "n");
    /* set values in order, with their configured names; a client field
       named there is gone, every copy; an empty value removes */
    t_expect(&t, LINE UP "user-agent: doorman\r\nX-New: n\r\n"
                         "Accept: a\r\nX-Bar: 3\r\n" END);

    /* a value cannot split a line */
    t.in.nset = 0;
    t_set(&t, "X-Evil", "a\r\nX-Injected: 1\n\0");
    t.set[0].value.len = sizeof("a\r\nX-Injected: 1\n\0") - 1;
    t_expect(&t, LINE "X-Evil: a  X-Injected: 1  \r\n"
                      "User-Agent: curl\r\nX-Foo: 1\r\nAccept: a\r\n"
                      "x-foo: 2\r\nX-Bar: 3\r\n" END);
}

static void
test_set_connection_ignored(void **state)
{
    t_head_t t;

    t_parse(&t, GET "Connection: keep-alive\r\nX-A: 1\r\n\r\n");
    t_set(&t, "Host", "up");
    t_set(&t, "Connection", "upgrade");
    t_set(&t, "Upgrade", "websocket");
    t_set(&t, "connection", "");
    t_set(&t, "Content-Length", "");
    t_set(&t, "Transfer-Encoding", "chunked");
    t.in.keepalive = 1;
    t_expect(&t, LINE UP "X-A: 1\r\n\r\n");

    t.in.keepalive = 0;
    t.in.content_length = 3;
    t_expect(&t, LINE UP "X-A: 1\r\nContent-Length: 3\r\n" END);
}

static void
test_connection_listed(void **state)
{
    t_head_t t;
    int trusted;

    /* the client's X-Forwarded-For named in Connection is removed, not
       trusted, and doorman still adds its own */
    for (trusted = 0; trusted <= 1; trusted++) {
        t_parse(&t, GET "Connection: X-Forwarded-For, x-secret\r\n"
                        "X-Forwarded-For: 6.6.6.6\r\nX-Secret: s\r\n"
                        "Keep-Alive: 5\r\nTE: trailers\r\n"
                        "Proxy-Connection: x\r\nX-Kept: k\r\n\r\n");
        t.in.trusted = trusted;
        t.in.add = DM_HTTP_PROXY_XFF;
        t_expect(&t, LINE "X-Kept: k\r\nX-Forwarded-For: 10.0.0.1\r\n" END);
    }
}

static void
test_underscores(void **state)
{
    t_head_t t;

    t_parse(&t, GET "X_Foo: 1\r\nX-Foo: 2\r\nx_y_z: 3\r\n\r\n");
    t_expect(&t, LINE "X-Foo: 2\r\n" END);
    t.in.underscores = 1;
    t_expect(&t, LINE "X_Foo: 1\r\nX-Foo: 2\r\nx_y_z: 3\r\n" END);
}

static void
test_xff(void **state)
{
    t_head_t t;

    t_parse(&t, GET "X-Forwarded-For: 1.1.1.1, 2.2.2.2\r\nX-A: a\r\n"
                    "x-forwarded-for: 3.3.3.3\r\nX-Forwarded-For:\r\n\r\n");
    t.in.add = DM_HTTP_PROXY_XFF;
    t.in.peer_addr = t_str("192.168.1.1");
    t.in.client_addr = t_str("3.3.3.3");

    /* untrusted: replaced by the client's address */
    t_expect(&t, LINE "X-A: a\r\nX-Forwarded-For: 3.3.3.3\r\n" END);

    /* trusted: joined in order, then the peer */
    t.in.trusted = 1;
    t_expect(&t, LINE "X-A: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, "
                      "3.3.3.3, 192.168.1.1\r\n" END);

    /* trusted without one: the peer alone */
    t_parse(&t, GET "\r\n");
    t.in.add = DM_HTTP_PROXY_XFF;
    t.in.trusted = 1;
    t.in.peer_addr = t_str("192.168.1.1");
    t_expect(&t, LINE "X-Forwarded-For: 192.168.1.1\r\n" END);

    /* no address at all: no field */
    t.in.peer_addr = t_str("");
    t_expect(&t, LINE END);
}

static void
test_x_real_ip(void **state)
{
    t_head_t t;
    int trusted;

    for (trusted = 0; trusted <= 1; trusted++) {
        t_parse(&t, GET "X-Real-IP: 6.6.6.6\r\nX-A: a\r\n\r\n");
        t.in.add = DM_HTTP_PROXY_XREALIP;
        t.in.trusted = trusted;
        t.in.client_addr = t_str("203.0.113.7");
        t_expect(&t, LINE "X-A: a\r\nX-Real-IP: 203.0.113.7\r\n" END);
    }
}

static void
test_xfp_xfh(void **state)
{
    t_head_t t;

    t_parse(&t, GET "X-Forwarded-Proto: https\r\n"
                    "X-Forwarded-Host: www.example\r\n\r\n");
    t.in.add = DM_HTTP_PROXY_XFP | DM_HTTP_PROXY_XFH;
    t_expect(&t, LINE "X-Forwarded-Proto: http\r\n"
                      "X-Forwarded-Host: example.com\r\n" END);
    t.in.trusted = 1;
    t_expect(&t, LINE "X-Forwarded-Proto: https\r\n"
                      "X-Forwarded-Host: www.example\r\n" END);

    /* trusted but not sent (or sent empty): ours */
    t_parse(&t, GET "X-Forwarded-Proto:\r\n\r\n");
    t.in.add = DM_HTTP_PROXY_XFP | DM_HTTP_PROXY_XFH;
    t.in.trusted = 1;
    t.in.scheme = t_str("https");
    t_expect(&t, LINE "X-Forwarded-Proto: https\r\n"
                      "X-Forwarded-Host: example.com\r\n" END);
}

static void
test_forwarded(void **state)
{
    t_head_t t;

    t_parse(&t, GET "Forwarded: for=6.6.6.6\r\n\r\n");
    t.in.add = DM_HTTP_PROXY_FORWARDED;
    t.in.client_addr = t_str("192.0.2.1");
    t.in.scheme = t_str("https");
    t_expect(&t, LINE
             "Forwarded: for=192.0.2.1;proto=https;host=example.com\r\n" END);

    /* IPv6 bracketed and quoted, a host with a port quoted */
    t.in.client_addr = t_str("::1");
    t.in.host = t_str("example.com:8443");
    t_expect(&t, LINE "Forwarded: for=\"[::1]\";proto=https;"
                      "host=\"example.com:8443\"\r\n" END);
    t.in.host = t_str("[2001:db8::1]:80");
    t_expect(&t, LINE "Forwarded: for=\"[::1]\";proto=https;"
                      "host=\"[2001:db8::1]:80\"\r\n" END);

    /* trusted: the client's elements, then ours for the peer */
    t.in.trusted = 1;
    t.in.peer_addr = t_str("2001:db8::2");
    t.in.host = t_str("example.com");
    t_expect(&t, LINE "Forwarded: for=6.6.6.6, for=\"[2001:db8::2]\";"
                      "proto=https;host=example.com\r\n" END);

    /* no address, a UNIX socket: unknown; no host: left out */
    t.in.trusted = 0;
    t.in.client_addr = t_str("unix:");
    t.in.host = t_str("");
    t_expect(&t, LINE "Forwarded: for=unknown;proto=https\r\n" END);
    t.in.client_addr = t_str("");
    t_expect(&t, LINE "Forwarded: for=unknown;proto=https\r\n" END);
    /* quotes in a value are escaped */
    t.in.host = t_str("a\"b\\c");
    t_expect(&t, LINE
             "Forwarded: for=unknown;proto=https;host=\"a\\\"b\\\\c\"\r\n" END);
}

static void
test_request_id(void **state)
{
    t_head_t t;

    t_parse(&t, GET "X-Request-ID: client-id\r\n\r\n");
    t.in.add = DM_HTTP_PROXY_REQID;
    t_expect(&t, LINE "X-Request-ID: rid\r\n" END);
    t.in.trusted = 1;
    t_expect(&t, LINE "X-Request-ID: client-id\r\n" END);

    t_parse(&t, GET "\r\n");
    t.in.add = DM_HTTP_PROXY_REQID;
    t.in.trusted = 1;
    t_expect(&t, LINE "X-Request-ID: rid\r\n" END);
    t.in.request_id = t_str("");
    t_expect(&t, LINE END);
}

#define ALL_FWD                                                                \
    "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n"                 \
    "X-Forwarded-Host: h\r\nX-Real-IP: 2.2.2.2\r\nForwarded: for=3.3.3.3\r\n"  \
    "X-Request-ID: cid\r\n"

static void
test_switches(void **state)
{
    static const char *fields[] = {
        "X-Forwarded-For: 1.1.1.1\r\n", "X-Forwarded-Proto: https\r\n",
        "X-Forwarded-Host: h\r\n",      "X-Real-IP: 2.2.2.2\r\n",
        "Forwarded: for=3.3.3.3\r\n",   "X-Request-ID: cid\r\n"};
    static const char *ours[] = {
        "X-Forwarded-For: 10.0.0.1\r\n",
        "X-Forwarded-Proto: http\r\n",
        "X-Forwarded-Host: example.com\r\n",
        "X-Real-IP: 10.0.0.1\r\n",
        "Forwarded: for=10.0.0.1;proto=http;host=example.com\r\n",
        "X-Request-ID: rid\r\n"};
    char expected[2048];
    t_head_t t;
    unsigned b, k;

    /* every subset of the switches, untrusted: a field not added passes
       through as the client sent it, in place; an added one is ours */
    for (b = 0; b < 64; b++) {
        t_parse(&t, GET ALL_FWD "\r\n");
        t.in.add = b;
        strcpy(expected, LINE);
        for (k = 0; k < 6; k++) {
            if (!(b & (1u << k))) {
                strcat(expected, fields[k]);
            }
        }
        for (k = 0; k < 6; k++) {
            if (b & (1u << k)) {
                strcat(expected, ours[k]);
            }
        }
        strcat(expected, END);
        t_expect(&t, expected);
    }

    /* a set entry of a forwarding field's name wins over the switch */
    t_parse(&t, GET ALL_FWD "\r\n");
    t.in.add = 0x3f;
    t_set(&t, "x-forwarded-for", "");
    t_set(&t, "X-Real-IP", "$x");
    t_set(&t, "Forwarded", "");
    t_expect(&t, LINE "X-Real-IP: $x\r\n"
                      "X-Forwarded-Proto: http\r\n"
                      "X-Forwarded-Host: example.com\r\n"
                      "X-Request-ID: rid\r\n" END);
}

static void
test_framing(void **state)
{
    t_head_t t;

    /* the client's Content-Length is not relayed: the caller's is */
    t_parse(&t, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                "Expect: 100-continue\r\nX-A: a\r\n\r\n");
    t.in.content_length = 5;
    t_expect(&t, "POST / HTTP/1.1\r\nX-A: a\r\nContent-Length: 5\r\n" END);
    t.in.content_length = 0;
    t_expect(&t, "POST / HTTP/1.1\r\nX-A: a\r\nContent-Length: 0\r\n" END);
    t.in.content_length = INT64_MAX;
    t_expect(&t, "POST / HTTP/1.1\r\nX-A: a\r\n"
                 "Content-Length: 9223372036854775807\r\n" END);
    t.in.content_length = -1;
    t_expect(&t, "POST / HTTP/1.1\r\nX-A: a\r\n" END);

    /* chunked: the client's Transfer-Encoding is hop-by-hop, ours sent */
    t_parse(&t, "POST / HTTP/1.1\r\nHost: h\r\n"
                "Transfer-Encoding: chunked\r\nX-A: a\r\n\r\n");
    t.in.chunked = 1;
    t_expect(&t, "POST / HTTP/1.1\r\nX-A: a\r\n"
                 "Transfer-Encoding: chunked\r\n" END);
    /* never both */
    t.in.content_length = 7;
    t_expect(&t, "POST / HTTP/1.1\r\nX-A: a\r\n"
                 "Transfer-Encoding: chunked\r\n" END);
}

static void
test_upgrade_keepalive(void **state)
{
    t_head_t t;

    t_parse(&t, GET "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                    "Sec-WebSocket-Key: k\r\n\r\n");
    assert_true(t.req.upgrade);
    t_set(&t, "Upgrade", "$http_upgrade");
    t_set(&t, "Connection", "upgrade");
    t.in.upgrade = 1;
    t_expect(&t, LINE "Sec-WebSocket-Key: k\r\n"
                      "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    t.in.keepalive = 1;
    t_expect(&t, LINE "Sec-WebSocket-Key: k\r\n"
                      "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    /* not forwarded as an upgrade: no Upgrade at all */
    t.in.upgrade = 0;
    t_expect(&t, LINE "Sec-WebSocket-Key: k\r\n\r\n");
    t.in.keepalive = 0;
    t_expect(&t, LINE "Sec-WebSocket-Key: k\r\n" END);
}

/* ------------------------------------------------------------------ */

/* A small deterministic generator (the tests are reproducible). */
static uint64_t t_rng = 0x9e3779b97f4a7c15ULL;

static unsigned
t_rand(unsigned n)
{
    t_rng ^= t_rng << 13;
    t_rng ^= t_rng >> 7;
    t_rng ^= t_rng << 17;
    return (unsigned) (t_rng % n);
}

static const char *t_names[] = {"X-Forwarded-For",
                                "x-forwarded-for",
                                "X-Forwarded-Proto",
                                "X-Forwarded-Host",
                                "X-Real-IP",
                                "Forwarded",
                                "X-Request-ID",
                                "X_Forwarded_For",
                                "Host",
                                "Connection",
                                "Upgrade",
                                "Keep-Alive",
                                "TE",
                                "Expect",
                                "Content-Length",
                                "Transfer-Encoding",
                                "X-A",
                                "x_b",
                                "Cookie",
                                "User-Agent",
                                "Accept"};

static const char *t_values[] = {"",
                                 "1.2.3.4",
                                 "a, b",
                                 "::1",
                                 "[::1]:8080",
                                 "x\"y\\z",
                                 "websocket",
                                 "close",
                                 "X-A, X-Forwarded-For",
                                 "100-continue",
                                 "12",
                                 "chunked",
                                 "h:1",
                                 "\xc3\xa9t\xc3\xa9",
                                 "unix:",
                                 "a;b=c"};

static unsigned t_random_parsed; /* generated requests accepted as is */

static void
t_random_in(t_head_t *t)
{
    static char raw[4096];
    static char setbuf[8][64];
    char *p = raw;
    unsigned i, n;
    int fallback = 0;

    p += sprintf(p, "%s /%u HTTP/1.%u\r\n", t_rand(2) ? "GET" : "M-SEARCH",
                 t_rand(1000), t_rand(2));
    n = t_rand(12);
    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s: %s\r\n",
                     t_names[t_rand(sizeof(t_names) / sizeof(t_names[0]))],
                     t_values[t_rand(sizeof(t_values) / sizeof(t_values[0]))]);
    }
    p += sprintf(p, "Host: h\r\n\r\n");

    for (;;) {
        dm_http_parse_error_t err = {0, NULL};

        memcpy(t->raw, raw, p - raw);
        memset(&t->req, 0, sizeof(t->req));
        t->req.headers = t->headers;
        t->req.nheaders = T_MAX_HEADERS;
        if (dm_http_parse_request(t->raw, p - raw, &t_limits, &t->req, &err)
            > 0) {
            t_random_parsed += !fallback;
            break;
        }
        /* refused (two Hosts, bad framing...): a plain request instead */
        fallback = 1;
        p = raw
            + sprintf(raw, "GET / HTTP/1.1\r\nHost: h\r\nX-%u: v\r\n\r\n",
                      t_rand(100));
    }

    memset(&t->in, 0, sizeof(t->in));
    t->in.method = t->req.method;
    t->in.uri = t->req.target;
    t->in.in = &t->req;
    t->in.set = t->set;
    t->in.nset = t_rand(5);
    for (i = 0; i < t->in.nset; i++) {
        t->set[i].name =
            t_str(t_names[t_rand(sizeof(t_names) / sizeof(t_names[0]))]);
        snprintf(setbuf[i], sizeof(setbuf[i]), "%s\r\n%s",
                 t_values[t_rand(sizeof(t_values) / sizeof(t_values[0]))],
                 t_rand(4) ? "" : "x");
        t->set[i].value = t_str(setbuf[i]);
    }
    t->in.peer_addr =
        t_str(t_values[t_rand(sizeof(t_values) / sizeof(t_values[0]))]);
    t->in.client_addr =
        t_str(t_values[t_rand(sizeof(t_values) / sizeof(t_values[0]))]);
    t->in.scheme = t_str(t_rand(2) ? "http" : "https");
    t->in.host =
        t_str(t_values[t_rand(sizeof(t_values) / sizeof(t_values[0]))]);
    t->in.request_id =
        t_str(t_values[t_rand(sizeof(t_values) / sizeof(t_values[0]))]);
    t->in.add = t_rand(64);
    t->in.content_length = t_rand(3) == 0   ? -1
                           : t_rand(2) == 0 ? (int64_t) t_rand(100000)
                                            : INT64_MAX;
    t->in.chunked = t_rand(2);
    t->in.trusted = t_rand(2);
    t->in.underscores = t_rand(2);
    t->in.upgrade = t_rand(2);
    t->in.keepalive = t_rand(2);
}

/* Every line ends with CRLF, no CR or LF inside one, an empty line ends
   the head and only there. */
static void
t_check_lines(const char *out)
{
    const char *p = out, *eol;

    for (;;) {
        eol = strpbrk(p, "\r\n");
        assert_non_null(eol);
        assert_true(eol[0] == '\r' && eol[1] == '\n');
        if (eol == p) {
            assert_int_equal(eol[2], '\0');
            return;
        }
        p = eol + 2;
    }
}

static void
test_random_bound(void **state)
{
    t_head_t t;
    char *out;
    int i;

    for (i = 0; i < 3000; i++) {
        t_random_in(&t);
        out = t_write(&t.in);
        t_check_lines(out);
        free(out);
    }
    /* the generator is not mostly refused by the parser */
    assert_true(t_random_parsed > 3000 / 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_get),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_set_connection_ignored),
        cmocka_unit_test(test_connection_listed),
        cmocka_unit_test(test_underscores),
        cmocka_unit_test(test_xff),
        cmocka_unit_test(test_x_real_ip),
        cmocka_unit_test(test_xfp_xfh),
        cmocka_unit_test(test_forwarded),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_switches),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_upgrade_keepalive),
        cmocka_unit_test(test_random_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
