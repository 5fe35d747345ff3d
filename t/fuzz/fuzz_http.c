/*
 * doorman: libFuzzer target for the HTTP parser (src/http/
 * dm_http_parse*.c): request heads, response heads, chunked bodies.
 *
 *   make fuzz FUZZ=http FUZZ_SECONDS=600
 *
 * The first byte of an input says what it is:
 *
 *   0x01 F ...  a response head (F bit 0: to a HEAD request, bit 1: bare
 *               LF refused), then its body;
 *   0x02 M ...  a chunked body (M * 16: the body limit, 0: none);
 *   anything else: a request as it comes on a connection, head then body
 *   (chunked bodies go through the decoder).
 *
 * Besides memory errors (the input is parsed where libFuzzer put it,
 * exactly its size, so AddressSanitizer sees a read past the end), the
 * target checks what the parser promises: a prefix of a head gives "need
 * more" or the verdict of the whole; refusing bare LF or shrinking the
 * limits never turns a refusal into an acceptance; what is accepted
 * points inside the head and is well-formed; the chunked decoder gives
 * the same body and verdict whatever the pieces the body arrives in.
 */
#include <dm_core.h>
#include <dm_http_parse.h>
#include <dm_http_uri.h>

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define FZ_HEADERS 32

static const dm_http_parse_limits_t fz_lenient = {
    .max_line = 4096, .max_head = 8192, .max_headers = 100, .bare_lf = 1};
static const dm_http_parse_limits_t fz_strict = {
    .max_line = 4096, .max_head = 8192, .max_headers = 100, .bare_lf = 0};
static const dm_http_parse_limits_t fz_small = {
    .max_line = 40, .max_head = 200, .max_headers = 4, .bare_lf = 1};

typedef struct {
    ssize_t rc;
    unsigned status;
    const char *reason;
} fz_verdict_t;

static fz_verdict_t
fz_request(const u_char *p, size_t n, const dm_http_parse_limits_t *lim,
           dm_http_request_head_t *req, dm_http_header_t *headers)
{
    dm_http_parse_error_t err = {0, NULL};
    fz_verdict_t v;

    req->headers = headers;
    req->nheaders = FZ_HEADERS;
    v.rc = dm_http_parse_request(p, n, lim, req, &err);
    v.status = err.status;
    v.reason = err.reason;
    assert(v.rc >= DM_HTTP_PARSE_AGAIN && v.rc <= (ssize_t) n);
    assert(v.rc != DM_HTTP_PARSE_ERROR || (v.reason && v.status >= 400));
    return v;
}

static fz_verdict_t
fz_response(const u_char *p, size_t n, const dm_http_parse_limits_t *lim,
            int head, dm_http_response_head_t *resp, dm_http_header_t *headers)
{
    dm_http_parse_error_t err = {0, NULL};
    fz_verdict_t v;

    resp->headers = headers;
    resp->nheaders = FZ_HEADERS;
    v.rc = dm_http_parse_response(p, n, lim, head, resp, &err);
    v.status = err.status;
    v.reason = err.reason;
    assert(v.rc >= DM_HTTP_PARSE_AGAIN && v.rc <= (ssize_t) n);
    assert(v.rc != DM_HTTP_PARSE_ERROR || (v.reason && v.status == 502));
    return v;
}

static int
fz_same(fz_verdict_t a, fz_verdict_t b)
{
    return a.rc == b.rc
           && (a.rc != DM_HTTP_PARSE_ERROR
               || (a.status == b.status && a.reason == b.reason));
}

/* A string lies inside [p, p + n). */
/*
 * The path normalizer on an accepted path, in a buffer of exactly the
 * path's size: the result is a path without "//", "/./" or "/../" that
 * normalizing again leaves alone, and a path the parser did not mark
 * complex is its own $uri.
 */
static void
fz_uri(const dm_str_t *path, int complex)
{
    u_char *out = malloc(path->len), *again;
    ssize_t n, n2;

    assert(out != NULL);
    n = dm_http_uri_normalize(out, path->data, path->len);
    if (!complex) {
        assert(n == (ssize_t) path->len
               && memcmp(out, path->data, path->len) == 0);
    }
    if (n >= 0) {
        assert(n >= 1 && (size_t) n <= path->len && out[0] == '/');
        assert(memmem(out, (size_t) n, "//", 2) == NULL);
        assert(memmem(out, (size_t) n, "/./", 3) == NULL);
        assert(memmem(out, (size_t) n, "/../", 4) == NULL);
        again = malloc((size_t) n);
        assert(again != NULL);
        n2 = dm_http_uri_normalize(again, out, (size_t) n);
        /* a decoded "%25XX" may decode again: only a plain result is
           a fixed point */
        if (memchr(out, '%', (size_t) n) == NULL) {
            assert(n2 == n && memcmp(again, out, (size_t) n) == 0);
        }
        free(again);
    }
    free(out);
}

static void
fz_inside(const dm_str_t *s, const u_char *p, size_t n)
{
    assert(s->len == 0 || (s->data >= p && s->data + s->len <= p + n));
}

static void
fz_fields(const dm_http_header_t *h, size_t count, const u_char *p, size_t n)
{
    size_t i, k;

    for (i = 0; i < count; i++) {
        fz_inside(&h[i].name, p, n);
        fz_inside(&h[i].value, p, n);
        assert(h[i].name.len > 0);
        for (k = 0; k < h[i].name.len; k++) {
            assert(dm_http_parse_class[h[i].name.data[k]] & DM_HTTP_C_TCHAR);
        }
        for (k = 0; k < h[i].value.len; k++) {
            assert(dm_http_parse_class[h[i].value.data[k]] & DM_HTTP_C_FIELD);
        }
        if (h[i].value.len) {
            assert(h[i].value.data[0] != ' ' && h[i].value.data[0] != '\t');
        }
    }
}

/*
 * Decodes body[0, n) whole, then again in pieces (a piece size from the
 * input; one byte at a time when the body is short), and checks that both
 * give the same data and the same end. Returns the bytes the body took
 * (DM_DONE), or 0.
 */
static size_t
fz_chunked(const u_char *body, size_t n, uint64_t max_body, size_t step)
{
    dm_http_parse_error_t err1 = {0, NULL}, err2 = {0, NULL};
    size_t pos, consumed, len, used1 = 0, used2 = 0, end, total1 = 0;
    size_t total2 = 0;
    dm_int_t rc1 = DM_AGAIN, rc2 = DM_AGAIN;
    dm_http_chunked_t c1, c2;
    u_char *whole, *parts;
    const u_char *data;

    whole = malloc(n + 1);
    parts = malloc(n + 1);
    if (whole == NULL || parts == NULL) {
        free(whole);
        free(parts);
        return 0;
    }

    dm_http_chunked_init(&c1);
    for (pos = 0;;) {
        rc1 = dm_http_chunked_parse(&c1, body + pos, n - pos, max_body,
                                    &consumed, &data, &len, &err1);
        assert(consumed <= n - pos);
        pos += consumed;
        if (rc1 != DM_OK) {
            break;
        }
        assert(len > 0 && data >= body && data + len <= body + pos);
        memcpy(whole + total1, data, len);
        total1 += len;
    }
    assert(rc1 != DM_ERROR || err1.reason);
    used1 = pos;
    assert(c1.total == total1);
    assert(max_body == 0 || total1 <= max_body);

    dm_http_chunked_init(&c2);
    for (end = 0, pos = 0; end < n && rc2 == DM_AGAIN;) {
        end = dm_min(n, end + step);
        do {
            rc2 = dm_http_chunked_parse(&c2, body + pos, end - pos, max_body,
                                        &consumed, &data, &len, &err2);
            pos += consumed;
            if (rc2 == DM_OK) {
                memcpy(parts + total2, data, len);
                total2 += len;
            }
        } while (rc2 == DM_OK);
    }
    used2 = pos;

    assert(rc1 == rc2);
    assert(total1 == total2 && memcmp(whole, parts, total1) == 0);
    if (rc1 == DM_ERROR) {
        assert(err1.status == err2.status && err1.reason == err2.reason);
    }
    if (rc1 == DM_DONE) {
        assert(used1 == used2);
    }
    free(whole);
    free(parts);
    return rc1 == DM_DONE ? used1 : 0;
}

static void
fz_requests(const u_char *data, size_t size)
{
    dm_http_header_t h1[FZ_HEADERS], h2[FZ_HEADERS];
    dm_http_request_head_t req, other;
    fz_verdict_t v, w;
    size_t k;

    v = fz_request(data, size, &fz_lenient, &req, h1);

    /* prefixes: "need more" or the same verdict */
    k = size ? (size_t) data[size - 1] * size / 256 : 0;
    w = fz_request(data, k, &fz_lenient, &other, h2);
    assert(w.rc == DM_HTTP_PARSE_AGAIN || fz_same(v, w));
    if (size > 0) {
        w = fz_request(data, size - 1, &fz_lenient, &other, h2);
        assert(w.rc == DM_HTTP_PARSE_AGAIN || fz_same(v, w));
    }

    /* stricter settings never accept more */
    w = fz_request(data, size, &fz_strict, &other, h2);
    if (w.rc >= 0) {
        assert(v.rc == w.rc);
    }
    w = fz_request(data, size, &fz_small, &other, h2);
    if (w.rc >= 0) {
        assert(v.rc == w.rc);
    }

    if (v.rc < 0) {
        return;
    }

    /* what was accepted */
    assert(req.version == 10 || req.version == 11);
    assert(req.method.len > 0 && req.target.len > 0);
    assert(req.nheaders <= FZ_HEADERS);
    fz_inside(&req.method, data, (size_t) v.rc);
    fz_inside(&req.target, data, (size_t) v.rc);
    fz_inside(&req.args, data, (size_t) v.rc);
    fz_inside(&req.authority, data, (size_t) v.rc);
    fz_inside(&req.host, data, (size_t) v.rc);
    fz_inside(&req.host_name, data, (size_t) v.rc);
    if (!(req.path.len == 1 && req.path.data[0] == '/')) {
        fz_inside(&req.path, data, (size_t) v.rc);
    }
    if (req.path.len > 0 && req.path.data[0] == '/') {
        fz_uri(&req.path, req.complex_uri);
    }
    assert(req.host_name.len <= req.host.len);
    assert(req.version == 10 || req.host.len > 0);
    assert(!(req.chunked && req.content_length >= 0));
    assert(!req.upgrade || req.version == 11);
    fz_fields(req.headers, req.nheaders, data, (size_t) v.rc);

    if (req.chunked) {
        fz_chunked(data + v.rc, size - (size_t) v.rc, 0,
                   size - (size_t) v.rc < 512 ? 1 : 7);
    }
}

static void
fz_responses(const u_char *data, size_t size)
{
    dm_http_header_t h1[FZ_HEADERS], h2[FZ_HEADERS];
    dm_http_response_head_t resp, other;
    const dm_http_parse_limits_t *lim;
    dm_http_parse_limits_t small;
    fz_verdict_t v, w;
    int head;

    if (size < 2) {
        return;
    }
    head = data[1] & 1;
    lim = (data[1] & 2) ? &fz_strict : &fz_lenient;
    data += 2;
    size -= 2;

    v = fz_response(data, size, lim, head, &resp, h1);
    if (size > 0) {
        w = fz_response(data, size - 1, lim, head, &other, h2);
        assert(w.rc == DM_HTTP_PARSE_AGAIN || fz_same(v, w));
        w = fz_response(data, size / 2, lim, head, &other, h2);
        assert(w.rc == DM_HTTP_PARSE_AGAIN || fz_same(v, w));
    }
    small = fz_small;
    small.bare_lf = lim->bare_lf;
    w = fz_response(data, size, &small, head, &other, h2);
    if (w.rc >= 0) {
        assert(v.rc == w.rc);
    }
    if (v.rc < 0) {
        return;
    }

    /* exactly one way to find the body's end */
    assert(resp.version == 10 || resp.version == 11);
    assert(resp.status >= 100 && resp.status <= 999);
    assert(resp.nheaders <= FZ_HEADERS);
    fz_inside(&resp.reason, data, (size_t) v.rc);
    fz_fields(resp.headers, resp.nheaders, data, (size_t) v.rc);
    assert(!(resp.chunked && resp.content_length >= 0));
    if (!resp.no_body) {
        assert(resp.chunked + (resp.content_length >= 0) + resp.close_delimited
               == 1);
    } else {
        assert(!resp.close_delimited);
    }
    assert(!(resp.keep_alive && resp.close_delimited));

    if (resp.chunked && !resp.no_body) {
        fz_chunked(data + v.rc, size - (size_t) v.rc, 0, 3);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 0x01) {
        fz_responses(data, size);
    } else if (size > 1 && data[0] == 0x02) {
        fz_chunked(data + 2, size - 2, (uint64_t) data[1] * 16,
                   size < 514 ? 1 : 5);
    } else {
        fz_requests(data, size);
    }
    return 0;
}
