/*
 * doorman: the HTTP/1.1 response head parser (DESIGN.md section 7).
 *
 * A response comes from an upstream whose connection doorman may pool:
 * its framing is read strictly, since a response read with the wrong
 * length desyncs every later request on that connection, and any doubt is
 * a 502 with the connection closed. What is legal is accepted: a body
 * delimited by close (that connection is then not pooled), interim 1xx
 * responses, no body after HEAD, 204 and 304, repeated fields such as
 * Set-Cookie. The field lines follow the rules of requests
 * (dm_http_parse_field). Like the request parser, it keeps no state
 * between calls and decides every check at the byte that proves it.
 */
#include <dm_core.h>
#include <dm_http_parse.h>

static ssize_t
dm_http_parse_fail(dm_http_parse_error_t *err, const char *reason)
{
    err->status = 502;
    err->reason = reason;
    return DM_HTTP_PARSE_ERROR;
}

/*
 * Reads "HTTP/1.x SP 3DIGIT [SP reason]" and its line end, with end the
 * scan limit. Returns DM_OK (*pp after the line), DM_AGAIN (end came
 * first) or DM_ERROR (*reason set).
 */
static dm_int_t
dm_http_parse_status_line(dm_http_response_head_t *resp, const u_char **pp,
                          const u_char *end, unsigned bare_lf,
                          const char **reason)
{
    static const char version[] = "HTTP/0.0 ";
    const u_char *p = *pp, *start;
    unsigned status = 0;
    size_t i, n;

    n = dm_min((size_t) (end - p), sizeof(version) - 1);
    for (i = 0; i < n; i++) {
        if (version[i] == '0' ? !(dm_http_parse_class[p[i]] & DM_HTTP_C_DIGIT)
                              : p[i] != (u_char) version[i]) {
            *reason = "invalid status line";
            return DM_ERROR;
        }
    }
    if (n < sizeof(version) - 1) {
        return DM_AGAIN;
    }
    if (p[5] != '1' || p[7] > '1') {
        *reason = "unsupported HTTP version in a response";
        return DM_ERROR;
    }
    resp->version = 10 + (unsigned) (p[7] - '0');
    p += n;

    for (i = 0; i < 3; i++, p++) {
        if (p == end) {
            return DM_AGAIN;
        }
        if (!(dm_http_parse_class[*p] & DM_HTTP_C_DIGIT)) {
            *reason = "invalid status code";
            return DM_ERROR;
        }
        status = status * 10 + (unsigned) (*p - '0');
    }
    if (status < 100) {
        *reason = "invalid status code";
        return DM_ERROR;
    }
    resp->status = status;

    /* the reason phrase, or nothing: "HTTP/1.1 200\r\n" is common */
    if (p == end) {
        return DM_AGAIN;
    }
    if (*p == ' ') {
        p++;
    } else if (*p != '\r' && *p != '\n') {
        *reason = "invalid status code";
        return DM_ERROR;
    }
    start = p;
    while (p < end && (dm_http_parse_class[*p] & DM_HTTP_C_FIELD)) {
        p++;
    }
    if (p == end) {
        return DM_AGAIN;
    }
    resp->reason.data = (u_char *) start;
    resp->reason.len = (size_t) (p - start);
    if (*p == '\r') {
        if (p + 1 == end) {
            return DM_AGAIN;
        }
        if (p[1] != '\n') {
            *reason = "bare CR";
            return DM_ERROR;
        }
        p += 2;
    } else if (*p == '\n' && bare_lf) {
        p++;
    } else {
        *reason = *p == '\n' ? "bare LF" : "control byte in the reason phrase";
        return DM_ERROR;
    }
    *pp = p;
    return DM_OK;
}

ssize_t
dm_http_parse_response(const u_char *buf, size_t len,
                       const dm_http_parse_limits_t *limits, int head_request,
                       dm_http_response_head_t *resp,
                       dm_http_parse_error_t *err)
{
    const u_char *p = buf, *last = buf + len, *end, *line_end;
    dm_http_header_t *headers = resp->headers, h;
    size_t cap = resp->nheaders, n = 0;
    dm_http_parse_framing_t fr;
    const char *reason;
    dm_int_t rc;

    if (limits->max_headers && limits->max_headers < cap) {
        cap = limits->max_headers;
    }
    memset(resp, 0, sizeof(*resp));
    resp->headers = headers;
    resp->content_length = -1;
    memset(&fr, 0, sizeof(fr));
    fr.content_length = -1;

    end = (limits->max_head && len > limits->max_head) ? buf + limits->max_head
                                                       : last;
    line_end = end;
    if (limits->max_line && (size_t) (end - p) > limits->max_line) {
        line_end = p + limits->max_line;
    }
    rc =
        dm_http_parse_status_line(resp, &p, line_end, limits->bare_lf, &reason);
    if (rc == DM_ERROR) {
        return dm_http_parse_fail(err, reason);
    }
    if (rc == DM_AGAIN) {
        if (line_end == last) {
            return DM_HTTP_PARSE_AGAIN;
        }
        return dm_http_parse_fail(err, "status line too long");
    }

    for (;;) {
        rc = dm_http_parse_field(&p, end, limits->bare_lf, &h, &reason);
        if (rc == DM_DONE) {
            break;
        }
        if (rc == DM_AGAIN) {
            if (end == last) {
                return DM_HTTP_PARSE_AGAIN;
            }
            return dm_http_parse_fail(err, "response head too large");
        }
        if (rc == DM_ERROR) {
            return dm_http_parse_fail(err, reason);
        }
        if (n == cap) {
            return dm_http_parse_fail(err, "too many header fields");
        }
        headers[n++] = h;

        switch (h.id) {
        case DM_HTTP_HDR_CONTENT_LENGTH:
        case DM_HTTP_HDR_TRANSFER_ENCODING:
        case DM_HTTP_HDR_CONNECTION:
            /* Connection may name framing fields here: the head that
               goes on is regenerated, its framing too */
            reason = dm_http_parse_framing(&fr, &h);
            if (reason && fr.content_length_bad) {
                return dm_http_parse_fail(err, reason);
            }
            break;
        }
    }

    if (fr.te) {
        if (resp->version == 10) {
            return dm_http_parse_fail(
                err, "Transfer-Encoding in an HTTP/1.0 response");
        }
        if (fr.content_length >= 0) {
            return dm_http_parse_fail(
                err, "both Content-Length and Transfer-Encoding");
        }
        if (fr.te_bad || fr.te_other || fr.te_chunked != 1) {
            return dm_http_parse_fail(err, "unsupported Transfer-Encoding");
        }
        resp->chunked = 1;
    }
    resp->content_length = fr.content_length;
    resp->no_body = head_request || resp->status < 200 || resp->status == 204
                    || resp->status == 304;
    resp->close_delimited =
        !resp->no_body && !resp->chunked && resp->content_length < 0;
    if (resp->version == 11) {
        resp->keep_alive = !fr.conn_close;
    } else {
        resp->keep_alive = fr.conn_keep_alive && !fr.conn_close;
    }
    if (resp->close_delimited) {
        resp->keep_alive = 0;
    }
    if (fr.conn_names) {
        dm_http_parse_mark_hop(headers, n);
    }
    resp->nheaders = n;
    return p - buf;
}
