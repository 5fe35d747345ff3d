/*
 * doorman: helpers shared by the HTTP parser's unit tests
 * (test_http_parse*.c, test_http_llhttp.c): run a parser on a whole
 * input and on every prefix of it, each prefix in a buffer of exactly its
 * size (so that AddressSanitizer sees any read past the end), and check
 * that the prefixes say "need more" until the verdict on the whole input,
 * then that verdict and nothing else.
 */
#ifndef HTTP_PARSE_CHECK_H
#define HTTP_PARSE_CHECK_H

#include <dm_core.h>
#include <dm_http_parse.h>

#include <setjmp.h>
#include <cmocka.h>

#define CHECK_MAX_HEADERS 64

/* Not every test uses every helper. */
#define CHECK_UNUSED __attribute__((unused))

/* The limits of the tests: doorman's defaults, without bare LF, small. */
#define LIM_DEFAULT 0
#define LIM_STRICT  1 /* bare_lf off */
#define LIM_SMALL   2 /* max_line 32, max_head 128, max_headers 4 */

static const dm_http_parse_limits_t check_limits[] = {
    {.max_line = 4096, .max_head = 8192, .max_headers = 100, .bare_lf = 1},
    {.max_line = 4096, .max_head = 8192, .max_headers = 100, .bare_lf = 0},
    {.max_line = 32, .max_head = 128, .max_headers = 4, .bare_lf = 1},
};

/* The verdict of one parse: a length, AGAIN, or an error status. */
typedef struct {
    ssize_t rc;      /* length, DM_HTTP_PARSE_AGAIN or _ERROR */
    unsigned status; /* when rc is DM_HTTP_PARSE_ERROR */
    const char *reason;
} check_verdict_t;

/* The same verdict, and for an error the same status and reason. */
CHECK_UNUSED static int
check_same(check_verdict_t a, check_verdict_t b)
{
    return a.rc == b.rc
           && (a.rc != DM_HTTP_PARSE_ERROR
               || (a.status == b.status && strcmp(a.reason, b.reason) == 0));
}

CHECK_UNUSED static const char *
check_show(check_verdict_t v, char *buf, size_t size)
{
    if (v.rc == DM_HTTP_PARSE_AGAIN) {
        snprintf(buf, size, "AGAIN");
    } else if (v.rc == DM_HTTP_PARSE_ERROR) {
        snprintf(buf, size, "ERROR %u (%s)", v.status, v.reason);
    } else {
        snprintf(buf, size, "length %zd", v.rc);
    }
    return buf;
}

/* A copy of in[0, n) in a buffer of exactly n bytes. */
CHECK_UNUSED static u_char *
check_copy(const void *in, size_t n)
{
    u_char *p = malloc(n ? n : 1);

    assert_non_null(p);
    memcpy(p, in, n);
    return p;
}

CHECK_UNUSED static check_verdict_t
check_request_once(const u_char *buf, size_t len, unsigned lim,
                   dm_http_request_head_t *req, dm_http_header_t *headers)
{
    dm_http_parse_error_t err = {0, NULL};
    check_verdict_t v;

    req->headers = headers;
    req->nheaders = CHECK_MAX_HEADERS;
    v.rc = dm_http_parse_request(buf, len, &check_limits[lim], req, &err);
    v.status = err.status;
    v.reason = err.reason;
    if (v.rc == DM_HTTP_PARSE_ERROR && err.reason == NULL) {
        fail_msg("an error without a reason");
    }
    return v;
}

CHECK_UNUSED static check_verdict_t
check_response_once(const u_char *buf, size_t len, unsigned lim, int head,
                    dm_http_response_head_t *resp, dm_http_header_t *headers)
{
    dm_http_parse_error_t err = {0, NULL};
    check_verdict_t v;

    resp->headers = headers;
    resp->nheaders = CHECK_MAX_HEADERS;
    v.rc =
        dm_http_parse_response(buf, len, &check_limits[lim], head, resp, &err);
    v.status = err.status;
    v.reason = err.reason;
    if (v.rc == DM_HTTP_PARSE_ERROR
        && (err.reason == NULL || err.status != 502)) {
        fail_msg("a response error without a reason or not 502");
    }
    return v;
}

/*
 * Parses in[0, len) whole, then every prefix, with the request parser
 * (head < 0) or the response parser (head is head_request). Returns the
 * whole verdict; fails the test when a prefix says something else than
 * AGAIN before the verdict, or than the verdict after it.
 */
CHECK_UNUSED static check_verdict_t
check_bytewise(const char *name, const void *in, size_t len, unsigned lim,
               int head)
{
    dm_http_header_t headers[CHECK_MAX_HEADERS];
    dm_http_response_head_t resp;
    dm_http_request_head_t req;
    check_verdict_t whole, v;
    int decided = 0;
    char b1[128], b2[128];
    u_char *buf;
    size_t i;

    buf = check_copy(in, len);
    whole = head < 0 ? check_request_once(buf, len, lim, &req, headers)
                     : check_response_once(buf, len, lim, head, &resp, headers);
    free(buf);

    for (i = 0; i <= len; i++) {
        buf = check_copy(in, i);
        v = head < 0 ? check_request_once(buf, i, lim, &req, headers)
                     : check_response_once(buf, i, lim, head, &resp, headers);
        free(buf);
        if (v.rc == DM_HTTP_PARSE_AGAIN && !decided) {
            continue;
        }
        decided = 1;
        if (!check_same(v, whole)) {
            fail_msg("%s: the prefix of %zu bytes (of %zu) gives %s, the "
                     "whole input %s",
                     name, i, len, check_show(v, b1, sizeof(b1)),
                     check_show(whole, b2, sizeof(b2)));
        }
    }
    return whole;
}

/* Whether a counted string equals a C string (NULL: not checked). */
CHECK_UNUSED static void
check_str(const char *name, const char *field, const dm_str_t *s,
          const char *want)
{
    if (want == NULL) {
        return;
    }
    if (s->len != strlen(want) || (s->len && memcmp(s->data, want, s->len))) {
        fail_msg("%s: %s is \"%.*s\", expected \"%s\"", name, field,
                 (int) s->len, s->data ? (const char *) s->data : "", want);
    }
}

#endif /* HTTP_PARSE_CHECK_H */
