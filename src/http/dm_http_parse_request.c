/*
 * doorman: the HTTP/1.1 request head parser (DESIGN.md section 7).
 *
 * One pass over the bytes, no state kept between calls: the caller runs
 * it again on the whole buffer when more bytes arrive (heads are small
 * and bounded, and nearly always arrive in one read). Every check is
 * made at the first byte that can decide it, and the limits are checked
 * by position too (the scan stops at max_head, the request line's at
 * max_line), so a prefix of a head gives "need more" or the verdict of
 * the whole head, never another one: the unit test feeds every case one
 * byte at a time to hold it to that.
 *
 * The framing fields are folded in as they come (dm_http_parse_framing)
 * and judged once the head is complete, in a fixed order, so that the
 * status does not depend on the order of the fields.
 */
#include <dm_core.h>
#include <dm_http_parse.h>

/* The path of an absolute-form target that has none ("http://a?x"). */
static u_char dm_http_parse_slash[] = "/";

static dm_int_t dm_http_parse_request_line(dm_http_request_head_t *req,
                                           const u_char **pp, const u_char *end,
                                           unsigned bare_lf,
                                           dm_http_parse_error_t *err);
static const char *dm_http_parse_target(dm_http_request_head_t *req,
                                        const u_char *start, const u_char *end,
                                        const u_char *q, const u_char *f);
static unsigned dm_http_parse_method_id(const u_char *p, size_t n);

static ssize_t
dm_http_parse_fail(dm_http_parse_error_t *err, unsigned status,
                   const char *reason)
{
    err->status = status;
    err->reason = reason;
    return DM_HTTP_PARSE_ERROR;
}

/*
 * The head's framing, once it is complete. Returns NULL, or why it is
 * refused with *status set.
 */
static const char *
dm_http_parse_request_framing(dm_http_request_head_t *req,
                              const dm_http_parse_framing_t *fr,
                              unsigned *status)
{
    *status = 400;
    if (req->version == 11 && fr->hosts == 0) {
        return "no Host in an HTTP/1.1 request";
    }
    if (fr->te) {
        if (req->version == 10) {
            /* an HTTP/1.0 hop before us may not know chunked
               (RFC 9112 section 6.1): faulty framing */
            return "Transfer-Encoding in an HTTP/1.0 request";
        }
        if (fr->content_length >= 0) {
            return "both Content-Length and Transfer-Encoding";
        }
        if (fr->te_bad) {
            return "malformed Transfer-Encoding";
        }
        if (fr->te_chunked > 1) {
            return "chunked twice in Transfer-Encoding";
        }
        if (!fr->te_chunked_last) {
            return "Transfer-Encoding does not end with chunked";
        }
        if (fr->te_other) {
            *status = 501;
            return "unsupported transfer coding";
        }
        req->chunked = 1;
    }
    req->content_length = fr->content_length;
    if (req->version == 11) {
        req->keep_alive = !fr->conn_close;
        req->upgrade = fr->conn_upgrade && fr->upgrade;
        req->expect_continue = fr->expect_continue;
    } else {
        req->keep_alive = fr->conn_keep_alive && !fr->conn_close;
    }
    return NULL;
}

ssize_t
dm_http_parse_request(const u_char *buf, size_t len,
                      const dm_http_parse_limits_t *limits,
                      dm_http_request_head_t *req, dm_http_parse_error_t *err)
{
    const u_char *p = buf, *last = buf + len, *end, *line_end;
    dm_http_header_t *headers = req->headers, h;
    size_t cap = req->nheaders, n = 0;
    dm_http_parse_framing_t fr;
    unsigned line_limited = 0;
    const char *reason;
    unsigned status;
    ssize_t host_len;
    dm_int_t rc;

    if (limits->max_headers && limits->max_headers < cap) {
        cap = limits->max_headers;
    }
    memset(req, 0, sizeof(*req));
    req->headers = headers;
    req->content_length = -1;
    memset(&fr, 0, sizeof(fr));
    fr.content_length = -1;

    /* the scan never goes past max_head: what lies beyond is the 431 */
    end = (limits->max_head && len > limits->max_head) ? buf + limits->max_head
                                                       : last;

    /* one empty line before the request line is ignored (RFC 9112
       section 2.2): some clients send CRLF after a POST body */
    if (p < end && (*p == '\r' || *p == '\n')) {
        if (*p == '\n') {
            if (!limits->bare_lf) {
                return dm_http_parse_fail(err, 400, "bare LF");
            }
            p++;
        } else if (p + 1 == end) {
            goto again;
        } else if (p[1] != '\n') {
            return dm_http_parse_fail(err, 400, "bare CR");
        } else {
            p += 2;
        }
    }

    line_end = end;
    if (limits->max_line && (size_t) (end - p) >= limits->max_line) {
        line_end = p + limits->max_line;
        line_limited = 1;
    }
    rc = dm_http_parse_request_line(req, &p, line_end, limits->bare_lf, err);
    if (rc == DM_ERROR) {
        return DM_HTTP_PARSE_ERROR;
    }
    if (rc == DM_AGAIN) {
        if (line_end == last) {
            return DM_HTTP_PARSE_AGAIN;
        }
        if (line_limited) {
            return dm_http_parse_fail(err, 414, "request line too long");
        }
        return dm_http_parse_fail(err, 431, "request head too large");
    }

    for (;;) {
        rc = dm_http_parse_field(&p, end, limits->bare_lf, &h, &reason);
        if (rc == DM_DONE) {
            break;
        }
        if (rc == DM_AGAIN) {
            goto again;
        }
        if (rc == DM_ERROR) {
            return dm_http_parse_fail(err, 400, reason);
        }
        if (n == cap) {
            return dm_http_parse_fail(err, 431, "too many header fields");
        }
        headers[n++] = h;

        if (h.id == DM_HTTP_HDR_OTHER) {
            continue;
        }
        if (h.id == DM_HTTP_HDR_HOST) {
            if (fr.hosts++ > 0) {
                return dm_http_parse_fail(err, 400, "more than one Host");
            }
            host_len = dm_http_parse_host(h.value.data, h.value.len);
            if (host_len < 0) {
                return dm_http_parse_fail(err, 400, "invalid Host");
            }
            /* an absolute-form target's authority wins (RFC 9112
               section 3.2.2) */
            if (!req->authority.len) {
                req->host = h.value;
                req->host_name.data = h.value.data;
                req->host_name.len = (size_t) host_len;
            }
            continue;
        }
        reason = dm_http_parse_framing(&fr, &h);
        if (reason) {
            return dm_http_parse_fail(err, 400, reason);
        }
    }

    reason = dm_http_parse_request_framing(req, &fr, &status);
    if (reason) {
        return dm_http_parse_fail(err, status, reason);
    }
    if (fr.conn_names) {
        dm_http_parse_mark_hop(headers, n);
    }
    req->nheaders = n;
    return p - buf;

again:
    if (end == last) {
        return DM_HTTP_PARSE_AGAIN;
    }
    return dm_http_parse_fail(err, 431, "request head too large");
}

/*
 * Reads "method SP request-target SP HTTP-version" and its line end,
 * with end the scan limit. Returns DM_OK (*pp after the line), DM_AGAIN
 * (end came first) or DM_ERROR (err set).
 */
static dm_int_t
dm_http_parse_request_line(dm_http_request_head_t *req, const u_char **pp,
                           const u_char *end, unsigned bare_lf,
                           dm_http_parse_error_t *err)
{
    static const char version[] = "HTTP/0.0";
    const u_char *p = *pp, *start, *q = NULL, *f = NULL, *target_end, *ver;
    unsigned complex = 0, minor;
    const char *reason;
    size_t i, n;
    u_char c;

    /* any method token (RFC 9110 section 9.1), then exactly one SP */
    start = p;
    while (p < end && (dm_http_parse_class[*p] & DM_HTTP_C_TCHAR)) {
        p++;
    }
    if (p == end) {
        return DM_AGAIN;
    }
    if (p == start || *p != ' ') {
        dm_http_parse_fail(err, 400,
                           p == start && (*p == '\r' || *p == '\n')
                               ? "more than one empty line before the request"
                               : "invalid method");
        return DM_ERROR;
    }
    req->method.data = (u_char *) start;
    req->method.len = (size_t) (p - start);
    req->method_id = dm_http_parse_method_id(start, req->method.len);

    /*
     * The target: any byte but SP, CTL and DEL (raw UTF-8 and []{}|^`"
     * included, as real clients send them). The loop stops only at the
     * bytes that split the target or make the path complex.
     */
    start = ++p;
    for (;; p++) {
        while (p < end && (dm_http_parse_class[*p] & DM_HTTP_C_PATH)) {
            p++;
        }
        if (p == end) {
            return DM_AGAIN;
        }
        c = *p;
        if (c == ' ') {
            break;
        }
        switch (c) {
        case '?':
            if (q == NULL && f == NULL) {
                q = p;
            }
            break;
        case '#':
            if (f == NULL) {
                f = p;
            }
            break;
        case '%':
            complex |= (q == NULL && f == NULL);
            break;
        case '/':
        case '.':
            /* "//", "/./", "/../": p[-1] is at worst the SP before */
            complex |= (q == NULL && f == NULL && p[-1] == '/');
            break;
        default:
            dm_http_parse_fail(err, 400,
                               (c == '\r' || c == '\n')
                                   ? "no HTTP version in the request line"
                                   : "invalid character in the target");
            return DM_ERROR;
        }
    }
    if (p == start) {
        dm_http_parse_fail(err, 400, "empty request target");
        return DM_ERROR;
    }
    target_end = p++;

    /* "HTTP/" DIGIT "." DIGIT, checked byte by byte as it comes (at once
       for the versions that nearly every request has) */
    ver = p;
    n = dm_min((size_t) (end - p), sizeof(version) - 1);
    if (n == sizeof(version) - 1
        && (memcmp(p, "HTTP/1.1", 8) == 0 || memcmp(p, "HTTP/1.0", 8) == 0)) {
        i = n;
    } else {
        i = 0;
    }
    for (; i < n; i++) {
        if (version[i] == '0' ? !(dm_http_parse_class[p[i]] & DM_HTTP_C_DIGIT)
                              : p[i] != (u_char) version[i]) {
            dm_http_parse_fail(err, 400, "invalid HTTP version");
            return DM_ERROR;
        }
    }
    if (n < sizeof(version) - 1) {
        return DM_AGAIN;
    }
    p += n;
    if (p == end) {
        return DM_AGAIN;
    }
    if (*p == '\r') {
        if (p + 1 == end) {
            return DM_AGAIN;
        }
        if (p[1] != '\n') {
            dm_http_parse_fail(err, 400, "bare CR");
            return DM_ERROR;
        }
        p += 2;
    } else if (*p == '\n' && bare_lf) {
        p++;
    } else {
        dm_http_parse_fail(err, 400,
                           *p == '\n' ? "bare LF" : "invalid HTTP version");
        return DM_ERROR;
    }
    *pp = p;

    /* well-formed: 1.0 and 1.1 are served, others are 505 (nginx answers
       HTTP/2.0 so); the version is judged before the target's form, so
       the HTTP/2 preface "PRI * HTTP/2.0" gets 505 too */
    if (ver[5] != '1' || ver[7] > '1') {
        dm_http_parse_fail(err, 505, "unsupported HTTP version");
        return DM_ERROR;
    }
    minor = (unsigned) (ver[7] - '0');
    req->version = 10 + minor;

    reason = dm_http_parse_target(req, start, target_end, q, f);
    if (reason) {
        dm_http_parse_fail(err, 400, reason);
        return DM_ERROR;
    }
    req->complex_uri = req->absolute_form ? req->complex_uri : complex;
    return DM_OK;
}

/* Whether a path needs decoding or normalizing ('%', "//", "/."). */
static unsigned
dm_http_parse_complex(const u_char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] == '%'
            || (i > 0 && p[i - 1] == '/' && (p[i] == '/' || p[i] == '.'))) {
            return 1;
        }
    }
    return 0;
}

/*
 * Splits the target [start, end) by its form (RFC 9112 section 3.2): q
 * is its first '?' and f its first '#', or NULL. Returns NULL, or why
 * the target is refused.
 */
static const char *
dm_http_parse_target(dm_http_request_head_t *req, const u_char *start,
                     const u_char *end, const u_char *q, const u_char *f)
{
    const u_char *p, *path_end;
    ssize_t host_len;

    req->target.data = (u_char *) start;
    req->target.len = (size_t) (end - start);
    path_end = q ? q : f ? f : end;

    if (req->method_id == DM_HTTP_METHOD_CONNECT && *start != '/') {
        /* authority-form: the engine refuses CONNECT (405), the parser
           only checks that the authority is one */
        host_len = dm_http_parse_host(start, req->target.len);
        if (host_len < 0) {
            return "invalid authority-form target";
        }
        req->authority = req->target;
        req->host = req->target;
        req->host_name.data = (u_char *) start;
        req->host_name.len = (size_t) host_len;
        return NULL;
    }

    if (*start == '/') {
        req->path.data = (u_char *) start;
        req->path.len = (size_t) (path_end - start);

    } else if (*start == '*') {
        if (req->target.len != 1 || req->method_id != DM_HTTP_METHOD_OPTIONS) {
            return "invalid asterisk-form target";
        }
        req->path = req->target;
        return NULL;

    } else if ((*start | 0x20) >= 'a' && (*start | 0x20) <= 'z') {
        /* absolute-form: scheme "://" authority path-abempty [?query] */
        for (p = start + 1; p < end; p++) {
            if (!(dm_http_parse_class[*p] & DM_HTTP_C_DIGIT)
                && ((*p | 0x20) < 'a' || (*p | 0x20) > 'z') && *p != '+'
                && *p != '-' && *p != '.') {
                break;
            }
        }
        if (end - p < 3 || p[0] != ':' || p[1] != '/' || p[2] != '/') {
            return "invalid request target";
        }
        req->authority.data = (u_char *) p + 3;
        for (p += 3; p < end && *p != '/' && *p != '?' && *p != '#'; p++) {
            /* the authority */
        }
        req->authority.len = (size_t) (p - req->authority.data);
        /* userinfo ('@') is no reg-name byte: refused with the rest */
        host_len = dm_http_parse_host(req->authority.data, req->authority.len);
        if (host_len < 0) {
            return "invalid authority in the target";
        }
        req->host = req->authority;
        req->host_name.data = req->authority.data;
        req->host_name.len = (size_t) host_len;
        req->absolute_form = 1;
        if (path_end == p) {
            req->path.data = dm_http_parse_slash;
            req->path.len = 1;
        } else {
            req->path.data = (u_char *) p;
            req->path.len = (size_t) (path_end - p);
            req->complex_uri = dm_http_parse_complex(p, req->path.len);
        }

    } else {
        return "invalid request target";
    }

    if (q) {
        req->args.data = (u_char *) q + 1;
        req->args.len = (size_t) ((f ? f : end) - (q + 1));
    }
    return NULL;
}

static unsigned
dm_http_parse_method_id(const u_char *p, size_t n)
{
    switch (n) {
    case 3:
        if (memcmp(p, "GET", 3) == 0) {
            return DM_HTTP_METHOD_GET;
        }
        if (memcmp(p, "PUT", 3) == 0) {
            return DM_HTTP_METHOD_PUT;
        }
        break;
    case 4:
        if (memcmp(p, "POST", 4) == 0) {
            return DM_HTTP_METHOD_POST;
        }
        if (memcmp(p, "HEAD", 4) == 0) {
            return DM_HTTP_METHOD_HEAD;
        }
        break;
    case 5:
        if (memcmp(p, "PATCH", 5) == 0) {
            return DM_HTTP_METHOD_PATCH;
        }
        if (memcmp(p, "TRACE", 5) == 0) {
            return DM_HTTP_METHOD_TRACE;
        }
        break;
    case 6:
        if (memcmp(p, "DELETE", 6) == 0) {
            return DM_HTTP_METHOD_DELETE;
        }
        break;
    case 7:
        if (memcmp(p, "OPTIONS", 7) == 0) {
            return DM_HTTP_METHOD_OPTIONS;
        }
        if (memcmp(p, "CONNECT", 7) == 0) {
            return DM_HTTP_METHOD_CONNECT;
        }
        break;
    }
    return DM_HTTP_METHOD_OTHER;
}
