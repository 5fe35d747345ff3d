/*
 * doorman: libFuzzer target for the upstream request head of http_proxy
 * (modules/http_proxy/dm_http_proxy_head.c).
 *
 *   make fuzz FUZZ=proxy_head FUZZ_SECONDS=600
 *
 * An input is three bytes of settings, then a request head:
 *
 *   byte 0  bits 0-5: the forwarding fields to add (DM_HTTP_PROXY_*),
 *           bit 6: trusted, bit 7: underscores;
 *   byte 1  bit 0: upgrade, 1: keepalive, 2: chunked, 3-4: the body length
 *           (none, 0, the request's, INT64_MAX), 5-7: set entries (0-7);
 *   byte 2  picks the addresses, host, request id and set values from
 *           small tables (IPv4, IPv6, unix:, empty, control bytes...).
 *
 * When the parser accepts the request, the head is written and checked:
 * it fits in dm_http_proxy_head_size; it is written the same in a buffer
 * of exactly its length and refused (-1) in one byte less (buffers of
 * exactly their size, so AddressSanitizer sees an overrun); it is a
 * request line and field lines, each ending with CRLF with no CR or LF
 * inside, ended by the empty line; Host and Expect come only from set
 * entries, framing and Connection / Upgrade only from doorman, once.
 */
#include <dm_core.h>
#include <dm_http_parse.h>
#include <dm_http_proxy_head.h>

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define FZ_HEADERS 64

static const dm_http_parse_limits_t fz_limits = {
    .max_line = 4096, .max_head = 16384, .max_headers = 64, .bare_lf = 1};

static const char *fz_values[] = {
    "10.0.0.1", "::1",  "2001:db8::7", "unix:",   "",         "a\r\nB: c",
    "h:80",     "x\"y", "back\\slash", "[::1]:1", "\x01\x7f", "https"};

#define FZ_NVALUES (sizeof(fz_values) / sizeof(fz_values[0]))

static dm_str_t
fz_str(const char *s)
{
    dm_str_t r;

    r.len = strlen(s);
    r.data = (u_char *) s;
    return r;
}

/* The fields whose count in the output is decided by doorman alone. */
static const char *fz_owned[] = {"Host",           "Expect",
                                 "Content-Length", "Transfer-Encoding",
                                 "Connection",     "Upgrade"};

#define FZ_NOWNED (sizeof(fz_owned) / sizeof(fz_owned[0]))

/*
 * Checks the line syntax of the head p[0, n) and counts the field lines
 * named fz_owned[k] into count[k].
 */
static void
fz_check_lines(const u_char *p, size_t n, size_t *count)
{
    const u_char *end = p + n, *line = p, *colon;
    size_t lines = 0, k, len;

    for (; p < end; p++) {
        if (*p == '\r') {
            assert(p + 1 < end && p[1] == '\n');
            continue;
        }
        if (*p != '\n') {
            continue;
        }
        assert(p > line && p[-1] == '\r');
        if (p - line == 1) {
            /* the empty line: the last one, after the request line */
            assert(p + 1 == end && lines >= 1);
            return;
        }
        if (lines > 0) {
            /* a field line: "name: value" with a non-empty name */
            colon = memchr(line, ':', p - line);
            assert(colon != NULL && colon > line && colon[1] == ' ');
            len = colon - line;
            for (k = 0; k < FZ_NOWNED; k++) {
                if (len == strlen(fz_owned[k])
                    && strncasecmp((const char *) line, fz_owned[k], len)
                           == 0) {
                    count[k]++;
                }
            }
        }
        lines++;
        line = p + 1;
    }
    assert(0 && "no empty line at the end");
}

/* How many set entries named name have a value. */
static size_t
fz_set_count(const dm_http_proxy_head_in_t *in, const char *name)
{
    size_t i, c = 0;

    for (i = 0; i < in->nset; i++) {
        c += dm_str_caseeq(&in->set[i].name, name) && in->set[i].value.len;
    }
    return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_http_header_t headers[FZ_HEADERS];
    dm_http_proxy_header_t set[8];
    dm_http_request_head_t req;
    dm_http_parse_error_t err = {0, NULL};
    dm_http_proxy_head_in_t in;
    u_char *buf;
    unsigned b0, b1, b2, i;
    size_t bound, count[FZ_NOWNED] = {0};
    ssize_t n, m;

    if (size < 3) {
        return 0;
    }
    b0 = data[0];
    b1 = data[1];
    b2 = data[2];
    data += 3;
    size -= 3;

    memset(&req, 0, sizeof(req));
    req.headers = headers;
    req.nheaders = FZ_HEADERS;
    if (dm_http_parse_request(data, size, &fz_limits, &req, &err) <= 0) {
        return 0;
    }

    memset(&in, 0, sizeof(in));
    in.method = req.method;
    in.uri = req.target;
    in.in = &req;
    in.add = b0 & 0x3f;
    in.trusted = (b0 >> 6) & 1;
    in.underscores = (b0 >> 7) & 1;
    in.upgrade = b1 & 1;
    in.keepalive = (b1 >> 1) & 1;
    in.chunked = (b1 >> 2) & 1;
    switch ((b1 >> 3) & 3) {
    case 0:
        in.content_length = -1;
        break;
    case 1:
        in.content_length = 0;
        break;
    case 2:
        in.content_length = req.content_length;
        break;
    default:
        in.content_length = INT64_MAX;
        break;
    }

    /* set entries named after the request's own fields (and Host first),
       so that they replace some */
    in.set = set;
    in.nset = b1 >> 5;
    for (i = 0; i < in.nset; i++) {
        set[i].name = i == 0 || i > req.nheaders ? fz_str("Host")
                                                 : req.headers[i - 1].name;
        set[i].value = fz_str(fz_values[(b2 + i) % FZ_NVALUES]);
    }
    in.peer_addr = fz_str(fz_values[b2 % FZ_NVALUES]);
    in.client_addr = fz_str(fz_values[(b2 / 2) % FZ_NVALUES]);
    in.scheme = fz_str(b2 & 1 ? "https" : "http");
    in.host = fz_str(fz_values[(b2 / 3) % FZ_NVALUES]);
    in.request_id = fz_str(fz_values[(b2 / 5) % FZ_NVALUES]);

    bound = dm_http_proxy_head_size(&in);
    buf = malloc(bound);
    assert(buf != NULL);
    n = dm_http_proxy_head_write(&in, buf, bound);
    assert(n > 0 && (size_t) n <= bound);
    fz_check_lines(buf, n, count);
    /* Host and Expect only from set entries; doorman's framing and
       connection fields, once each, never the client's */
    assert(count[0] == fz_set_count(&in, "Host"));
    assert(count[1] == fz_set_count(&in, "Expect"));
    assert(count[2] == (!in.chunked && in.content_length >= 0));
    assert(count[3] == in.chunked);
    assert(count[4] == (in.upgrade || !in.keepalive));
    assert(count[5] == in.upgrade);
    assert((size_t) n > req.method.len
           && memcmp(buf, req.method.data, req.method.len) == 0);

    /* exactly n bytes: the same; n - 1: refused */
    {
        u_char *exact = malloc(n), *less = malloc(n - 1);

        assert(exact != NULL && less != NULL);
        m = dm_http_proxy_head_write(&in, exact, n);
        assert(m == n && memcmp(exact, buf, n) == 0);
        m = dm_http_proxy_head_write(&in, less, n - 1);
        assert(m == -1);
        free(exact);
        free(less);
    }
    free(buf);
    return 0;
}
