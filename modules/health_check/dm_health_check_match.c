/*
 * doorman: judging what a probe read.
 *
 * http: the status line, then the `expect` conditions: the status in one
 * of the ranges (200-399 by default), each `header="Name: REGEX"` matched
 * by the value of some header line of that name, `body~"REGEX"` found in
 * the body (the bytes after the head as they came, chunk sizes included
 * for a chunked answer; at most what fits in DM_HC_READ_MAX). The body is
 * judged once it is whole: Content-Length reached, EOF (the probe asks
 * for Connection: close), or the buffer full.
 *
 * tcp: expect~"REGEX" over every byte read so far, after each read.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_upstream.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_health_check.h>

/* Whether re is found in p[0 .. len): 1, 0, or DM_ERROR. */
static dm_int_t
dm_health_check_find(dm_health_check_peer_t *hp, const dm_regex_t *re,
                     const u_char *p, size_t len)
{
    size_t ovector[2 * DM_VAR_MAX_CAPTURES];
    dm_int_t rc = dm_regex_exec(re, p, len, ovector, hp->ev.log);

    return rc == DM_ERROR ? DM_ERROR : rc > 0;
}

/* The end of the head (after its empty line), or NULL. */
static const u_char *
dm_health_check_head_end(const u_char *p, size_t len)
{
    const u_char *end = p + len, *q;

    for (q = p; q < end; q++) {
        if (*q != '\n') {
            continue;
        }
        if (q + 1 < end && q[1] == '\n') {
            return q + 2;
        }
        if (q + 2 < end && q[1] == '\r' && q[2] == '\n') {
            return q + 3;
        }
    }
    return NULL;
}

/*
 * Calls back for each header line of the head [p, end): name and value
 * (trimmed). Stops when cb returns non-zero, and returns that.
 */
typedef int (*dm_health_check_header_pt)(void *data, const dm_str_t *name,
                                         const dm_str_t *value);

static int
dm_health_check_headers(const u_char *p, const u_char *end,
                        dm_health_check_header_pt cb, void *data)
{
    const u_char *line, *eol, *colon;
    dm_str_t name, value;
    int rc;

    /* skip the status line */
    line = memchr(p, '\n', (size_t) (end - p));
    while (line && ++line < end) {
        eol = memchr(line, '\n', (size_t) (end - line));
        if (eol == NULL) {
            break;
        }
        colon = memchr(line, ':', (size_t) (eol - line));
        if (colon) {
            name.data = (u_char *) line;
            name.len = (size_t) (colon - line);
            value.data = (u_char *) colon + 1;
            value.len = (size_t) (eol - colon - 1);
            while (value.len
                   && (value.data[0] == ' ' || value.data[0] == '\t')) {
                value.data++;
                value.len--;
            }
            while (value.len
                   && (value.data[value.len - 1] == '\r'
                       || value.data[value.len - 1] == ' '
                       || value.data[value.len - 1] == '\t')) {
                value.len--;
            }
            rc = cb(data, &name, &value);
            if (rc) {
                return rc;
            }
        }
        line = eol;
    }
    return 0;
}

typedef struct {
    dm_health_check_peer_t *hp;
    dm_health_check_header_t *want; /* the condition being checked */
    int64_t content_length;         /* -1: none */
} dm_health_check_scan_t;

static int
dm_health_check_header_match(void *data, const dm_str_t *name,
                             const dm_str_t *value)
{
    dm_health_check_scan_t *s = data;

    if (name->len != s->want->name.len
        || strncasecmp((const char *) name->data,
                       (const char *) s->want->name.data, name->len)
               != 0) {
        return 0;
    }
    return dm_health_check_find(s->hp, &s->want->re, value->data, value->len)
                   == 1
               ? 1
               : 0;
}

static int
dm_health_check_header_length(void *data, const dm_str_t *name,
                              const dm_str_t *value)
{
    dm_health_check_scan_t *s = data;

    if (dm_str_caseeq(name, "content-length")) {
        s->content_length = dm_parse_int(value->data, value->len);
        return 1;
    }
    return 0;
}

dm_int_t
dm_health_check_match_http(dm_health_check_peer_t *hp, int final)
{
    dm_health_check_conf_t *hcf = hp->conf;
    dm_health_check_header_t *want;
    dm_health_check_scan_t scan;
    const u_char *p = hp->buf, *end, *body;
    dm_uint_t i, status;
    dm_int_t rc;

    if (p == NULL || hp->len == 0) {
        return DM_AGAIN;
    }
    body = dm_health_check_head_end(p, hp->len);
    if (body == NULL) {
        return DM_AGAIN;
    }
    end = body;
    if (hp->len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' '
        || (status = (dm_uint_t) dm_parse_int(p + 9, 3)) < 100
        || status > 599) {
        snprintf(hp->reason, sizeof(hp->reason), "invalid HTTP response");
        return DM_ERROR;
    }
    for (i = 0; i < hcf->nstatus; i++) {
        if (status >= hcf->status[i][0] && status <= hcf->status[i][1]) {
            break;
        }
    }
    if (i == hcf->nstatus) {
        snprintf(hp->reason, sizeof(hp->reason), "HTTP %u on %.*s",
                 (unsigned) status, (int) hcf->uri.len, hcf->uri.data);
        return DM_ERROR;
    }

    memset(&scan, 0, sizeof(scan));
    scan.hp = hp;
    want = hcf->expect_headers ? hcf->expect_headers->elts : NULL;
    for (i = 0; want && i < hcf->expect_headers->nelts; i++) {
        scan.want = &want[i];
        if (!dm_health_check_headers(p, end, dm_health_check_header_match,
                                     &scan)) {
            snprintf(hp->reason, sizeof(hp->reason),
                     "header \"%.*s\" does not match", (int) want[i].name.len,
                     want[i].name.data);
            return DM_ERROR;
        }
    }
    if (hcf->body == NULL) {
        return DM_OK;
    }

    /* the body is judged whole */
    scan.content_length = -1;
    (void) dm_health_check_headers(p, end, dm_health_check_header_length,
                                   &scan);
    if (!final
        && (scan.content_length < 0
            || (size_t) (hp->buf + hp->len - body)
                   < (size_t) scan.content_length)) {
        return DM_AGAIN;
    }
    rc = dm_health_check_find(hp, hcf->body, body,
                              (size_t) (hp->buf + hp->len - body));
    if (rc != 1) {
        snprintf(hp->reason, sizeof(hp->reason), "body does not match");
        return DM_ERROR;
    }
    return DM_OK;
}

dm_int_t
dm_health_check_match_tcp(dm_health_check_peer_t *hp, int final)
{
    dm_int_t rc;

    if (hp->len == 0) {
        rc = 0;
    } else {
        rc = dm_health_check_find(hp, hp->conf->expect, hp->buf, hp->len);
    }
    if (rc == 1) {
        return DM_OK;
    }
    if (rc == 0 && !final) {
        return DM_AGAIN;
    }
    snprintf(hp->reason, sizeof(hp->reason), "expect does not match");
    return DM_ERROR;
}
