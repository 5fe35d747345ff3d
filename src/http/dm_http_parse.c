/*
 * doorman: the HTTP/1.1 parser, the parts requests and responses share:
 * the character classes, the field line, and the values of the framing
 * fields (Content-Length, Transfer-Encoding, Connection, Host).
 *
 * Field lines are read with a 256-entry class table: a name is a run of
 * tchar, a value a run of field bytes, each one table lookup per byte and
 * no branch for the common byte. The rules are DESIGN.md section 7; the
 * choices it leaves open are listed at the top of dm_http_parse.h.
 */
#include <dm_core.h>
#include <dm_http_parse.h>

/*
 * T 0x01 tchar, F 0x02 field byte, P 0x04 plain target byte, H 0x08
 * reg-name byte but '.', X 0x10 HEXDIG, U 0x20 '_', D 0x40 DIGIT (see
 * DM_HTTP_C_* in dm_http_parse.h). Generated, then checked by the unit
 * test against the RFC 9110 and RFC 3986 definitions.
 */
const u_char dm_http_parse_class[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 00 */
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 08 HTAB */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 10 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 18 */
    0x02, 0x0f, 0x06, 0x03, 0x0f, 0x0b, 0x0f, 0x0f, /* 20  !"#$%&' */
    0x0e, 0x0e, 0x0f, 0x0f, 0x06, 0x0f, 0x03, 0x02, /* 28 ()*+,-./ */
    0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, /* 30 01234567 */
    0x5f, 0x5f, 0x06, 0x0e, 0x06, 0x0e, 0x06, 0x02, /* 38 89:;<=>? */
    0x06, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x0f, /* 40 @ABCDEFG */
    0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, /* 48 HIJKLMNO */
    0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, /* 50 PQRSTUVW */
    0x0f, 0x0f, 0x0f, 0x06, 0x06, 0x06, 0x07, 0x2f, /* 58 XYZ[\]^_ */
    0x07, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x0f, /* 60 `abcdefg */
    0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, /* 68 hijklmno */
    0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, /* 70 pqrstuvw */
    0x0f, 0x0f, 0x0f, 0x06, 0x07, 0x06, 0x0f, 0x00, /* 78 xyz{|}~ DEL */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* 80 obs-text */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* 88 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* 90 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* 98 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* a0 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* a8 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* b0 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* b8 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* c0 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* c8 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* d0 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* d8 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* e0 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* e8 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* f0 */
    0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, /* f8 */
};

#define dm_http_ows(c) ((c) == ' ' || (c) == '\t')

/*
 * A field name (tchar only) against a lower-case literal of the same
 * length: OR-ing 0x20 lower-cases letters and maps no other tchar onto a
 * letter or '-'.
 */
static int
dm_http_parse_name_is(const u_char *p, const char *lit, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((p[i] | 0x20) != (u_char) lit[i]) {
            return 0;
        }
    }
    return 1;
}

/* Any bytes against a lower-case literal, ignoring ASCII case. */
static int
dm_http_parse_caseeq(const u_char *p, size_t n, const char *lit, size_t len)
{
    return n == len && strncasecmp((const char *) p, lit, n) == 0;
}

static unsigned
dm_http_parse_header_id(const u_char *p, size_t n)
{
    switch (n) {
    case 2:
        return dm_http_parse_name_is(p, "te", 2) ? DM_HTTP_HDR_TE
                                                 : DM_HTTP_HDR_OTHER;
    case 4:
        return dm_http_parse_name_is(p, "host", 4) ? DM_HTTP_HDR_HOST
                                                   : DM_HTTP_HDR_OTHER;
    case 6:
        return dm_http_parse_name_is(p, "expect", 6) ? DM_HTTP_HDR_EXPECT
                                                     : DM_HTTP_HDR_OTHER;
    case 7:
        return dm_http_parse_name_is(p, "upgrade", 7) ? DM_HTTP_HDR_UPGRADE
                                                      : DM_HTTP_HDR_OTHER;
    case 10:
        if (dm_http_parse_name_is(p, "connection", 10)) {
            return DM_HTTP_HDR_CONNECTION;
        }
        return dm_http_parse_name_is(p, "keep-alive", 10)
                   ? DM_HTTP_HDR_KEEP_ALIVE
                   : DM_HTTP_HDR_OTHER;
    case 14:
        return dm_http_parse_name_is(p, "content-length", 14)
                   ? DM_HTTP_HDR_CONTENT_LENGTH
                   : DM_HTTP_HDR_OTHER;
    case 16:
        return dm_http_parse_name_is(p, "proxy-connection", 16)
                   ? DM_HTTP_HDR_PROXY_CONNECTION
                   : DM_HTTP_HDR_OTHER;
    case 17:
        return dm_http_parse_name_is(p, "transfer-encoding", 17)
                   ? DM_HTTP_HDR_TRANSFER_ENCODING
                   : DM_HTTP_HDR_OTHER;
    }
    return DM_HTTP_HDR_OTHER;
}

dm_int_t
dm_http_parse_field(const u_char **pp, const u_char *end, unsigned bare_lf,
                    dm_http_header_t *h, const char **reason)
{
    const u_char *p = *pp, *name, *value, *last;
    u_char cl, seen = 0;

    if (p == end) {
        return DM_AGAIN;
    }

    /* the empty line that ends the head */
    if (*p == '\r') {
        if (p + 1 == end) {
            return DM_AGAIN;
        }
        if (p[1] != '\n') {
            *reason = "bare CR";
            return DM_ERROR;
        }
        *pp = p + 2;
        return DM_DONE;
    }
    if (*p == '\n') {
        if (!bare_lf) {
            *reason = "bare LF";
            return DM_ERROR;
        }
        *pp = p + 1;
        return DM_DONE;
    }

    name = p;
    for (; p < end; p++) {
        cl = dm_http_parse_class[*p];
        if (!(cl & DM_HTTP_C_TCHAR)) {
            break;
        }
        seen |= cl;
    }
    if (p == end) {
        return DM_AGAIN;
    }
    if (*p != ':') {
        /* a line that starts with whitespace continues the previous one
           (obs-fold, RFC 9112 section 5.2), or follows the start line */
        if (p == name && dm_http_ows(*p)) {
            *reason = "obs-fold (a field line starting with whitespace)";
        } else if (dm_http_ows(*p)) {
            *reason = "whitespace before the colon of a field name";
        } else {
            *reason = "invalid character in a field name";
        }
        return DM_ERROR;
    }
    if (p == name) {
        *reason = "empty field name";
        return DM_ERROR;
    }
    h->name.data = (u_char *) name;
    h->name.len = (size_t) (p - name);

    for (p++; p < end && dm_http_ows(*p); p++) {
        /* leading OWS */
    }
    value = p;
    /* values are most of a head (cookies, user agents): eight bytes at a
       time while none is below 0x20 or 0x7f (the exact test of each
       byte, and HTAB, are left to the loop after) */
    while (end - p >= 8) {
        uint64_t w, t;

        memcpy(&w, p, 8);
        t = (w - 0x2020202020202020ULL) & ~w;
        w ^= 0x7f7f7f7f7f7f7f7fULL;
        t |= (w - 0x0101010101010101ULL) & ~w;
        if (t & 0x8080808080808080ULL) {
            break;
        }
        p += 8;
    }
    while (p < end && (dm_http_parse_class[*p] & DM_HTTP_C_FIELD)) {
        p++;
    }
    if (p == end) {
        return DM_AGAIN;
    }
    last = p;
    if (*p == '\r') {
        if (p + 1 == end) {
            return DM_AGAIN;
        }
        if (p[1] != '\n') {
            *reason = "bare CR";
            return DM_ERROR;
        }
        p += 2;
    } else if (*p == '\n') {
        if (!bare_lf) {
            *reason = "bare LF";
            return DM_ERROR;
        }
        p++;
    } else {
        /* NUL, DEL and the other controls but HTAB */
        *reason = "control byte in a field value";
        return DM_ERROR;
    }
    while (last > value && dm_http_ows(last[-1])) {
        last--;
    }
    h->value.data = (u_char *) value;
    h->value.len = (size_t) (last - value);

    h->id = dm_http_parse_header_id(name, h->name.len);
    switch (h->id) {
    case DM_HTTP_HDR_TRANSFER_ENCODING:
    case DM_HTTP_HDR_CONNECTION:
    case DM_HTTP_HDR_UPGRADE:
    case DM_HTTP_HDR_KEEP_ALIVE:
    case DM_HTTP_HDR_PROXY_CONNECTION:
    case DM_HTTP_HDR_TE:
        h->hop = 1;
        break;
    default:
        h->hop = 0;
    }
    h->underscore = (seen & DM_HTTP_C_USCORE) ? 1 : 0;
    *pp = p;
    return DM_OK;
}

/*
 * The elements of a comma list, one per call: skips OWS and commas
 * before it (empty elements are ignored, RFC 9110 section 5.6.1) and
 * sets *elt to the element up to the next comma, trailing OWS trimmed.
 * Returns 0 at the end of the list.
 */
static int
dm_http_parse_list_next(const u_char **pp, const u_char *end, dm_str_t *elt)
{
    const u_char *p = *pp, *last;

    while (p < end && (*p == ',' || dm_http_ows(*p))) {
        p++;
    }
    if (p == end) {
        return 0;
    }
    elt->data = (u_char *) p;
    while (p < end && *p != ',') {
        p++;
    }
    last = p;
    while (dm_http_ows(last[-1])) {
        last--;
    }
    elt->len = (size_t) (last - elt->data);
    *pp = p;
    return 1;
}

int64_t
dm_http_parse_content_length(const u_char *p, size_t n)
{
    const u_char *end = p + n;
    int64_t v, first = -1;
    int d;

    for (;;) {
        if (p == end || !(dm_http_parse_class[*p] & DM_HTTP_C_DIGIT)) {
            return -1;
        }
        v = 0;
        while (p < end && (dm_http_parse_class[*p] & DM_HTTP_C_DIGIT)) {
            d = *p++ - '0';
            if (v > (INT64_MAX - d) / 10) {
                return -1;
            }
            v = v * 10 + d;
        }
        if (first >= 0 && v != first) {
            return -1;
        }
        first = v;
        while (p < end && dm_http_ows(*p)) {
            p++;
        }
        if (p == end) {
            return first;
        }
        if (*p != ',') {
            return -1;
        }
        for (p++; p < end && dm_http_ows(*p); p++) {
            /* OWS after the comma */
        }
    }
}

/*
 * Folds a Transfer-Encoding value into fr: a comma list of codings, each
 * a bare token (doorman knows no coding with parameters), no empty
 * element.
 */
static void
dm_http_parse_te(dm_http_parse_framing_t *fr, const u_char *p, size_t n)
{
    const u_char *end = p + n, *start;

    fr->te = 1;
    for (;;) {
        while (p < end && dm_http_ows(*p)) {
            p++;
        }
        start = p;
        while (p < end && (dm_http_parse_class[*p] & DM_HTTP_C_TCHAR)) {
            p++;
        }
        if (p == start) {
            fr->te_bad = 1;
            return;
        }
        if (dm_http_parse_caseeq(start, (size_t) (p - start), "chunked", 7)) {
            if (fr->te_chunked < 2) {
                fr->te_chunked++;
            }
            fr->te_chunked_last = 1;
        } else {
            fr->te_other = 1;
            fr->te_chunked_last = 0;
        }
        while (p < end && dm_http_ows(*p)) {
            p++;
        }
        if (p == end) {
            return;
        }
        if (*p != ',') {
            fr->te_bad = 1;
            return;
        }
        p++;
    }
}

/* Whether a Connection element is one of the options, not a field name. */
static int
dm_http_parse_conn_option(dm_http_parse_framing_t *fr, const dm_str_t *e)
{
    if (dm_http_parse_caseeq(e->data, e->len, "close", 5)) {
        fr->conn_close = 1;
    } else if (dm_http_parse_caseeq(e->data, e->len, "keep-alive", 10)) {
        fr->conn_keep_alive = 1;
    } else if (dm_http_parse_caseeq(e->data, e->len, "upgrade", 7)) {
        fr->conn_upgrade = 1;
    } else {
        return 0;
    }
    return 1;
}

const char *
dm_http_parse_framing(dm_http_parse_framing_t *fr, const dm_http_header_t *h)
{
    const u_char *p = h->value.data, *end = p + h->value.len;
    dm_str_t e;
    int64_t v;

    switch (h->id) {

    case DM_HTTP_HDR_CONTENT_LENGTH:
        v = dm_http_parse_content_length(p, h->value.len);
        if (v < 0) {
            fr->content_length_bad = 1;
            return "invalid Content-Length";
        }
        if (fr->content_length >= 0 && fr->content_length != v) {
            fr->content_length_bad = 1;
            return "differing Content-Length fields";
        }
        fr->content_length = v;
        return NULL;

    case DM_HTTP_HDR_TRANSFER_ENCODING:
        dm_http_parse_te(fr, p, h->value.len);
        return NULL;

    case DM_HTTP_HDR_CONNECTION:
        while (dm_http_parse_list_next(&p, end, &e)) {
            if (dm_http_parse_conn_option(fr, &e)) {
                continue;
            }
            fr->conn_names = 1;
            /* a hop that drops these would change the message's framing
               or its routing for the next hop */
            if (dm_http_parse_caseeq(e.data, e.len, "host", 4)
                || dm_http_parse_caseeq(e.data, e.len, "content-length", 14)
                || dm_http_parse_caseeq(e.data, e.len, "transfer-encoding",
                                        17)) {
                fr->conn_framing = 1;
            }
        }
        return fr->conn_framing ? "Connection names a framing field" : NULL;

    case DM_HTTP_HDR_UPGRADE:
        fr->upgrade = 1;
        return NULL;

    case DM_HTTP_HDR_EXPECT:
        if (dm_http_parse_caseeq(p, h->value.len, "100-continue", 12)) {
            fr->expect_continue = 1;
        }
        return NULL;
    }
    return NULL;
}

ssize_t
dm_http_parse_host(const u_char *p, size_t n)
{
    const u_char *start = p, *end = p + n;
    size_t host_len, digits = 0;
    unsigned port = 0;

    if (n == 0) {
        return -1;
    }
    if (*p == '[') {
        /* an IPv6 literal (RFC 3986 section 3.2.2; no IPvFuture, no
           zone): its exact form is the resolver's business, the bytes
           are what matters here */
        for (p++; p < end; p++) {
            if (!(dm_http_parse_class[*p] & DM_HTTP_C_HEX) && *p != ':'
                && *p != '.') {
                break;
            }
        }
        if (p == end || *p != ']' || p == start + 1) {
            return -1;
        }
        p++;
        host_len = (size_t) (p - start);
    } else {
        /* a reg-name or an IPv4 address; as nginx, no leading dot and
           no "..", which would name no host and could climb a path */
        for (;;) {
            while (p < end && (dm_http_parse_class[*p] & DM_HTTP_C_HOST)) {
                p++;
            }
            if (p == end || *p != '.') {
                break;
            }
            if (p == start || p[-1] == '.') {
                return -1;
            }
            p++;
        }
        host_len = (size_t) (p - start);
        if (host_len == 0) {
            return -1;
        }
        if (start[host_len - 1] == '.') {
            host_len--;
        }
    }
    if (p == end) {
        return (ssize_t) host_len;
    }
    if (*p != ':') {
        return -1;
    }
    for (p++; p < end; p++) {
        if (!(dm_http_parse_class[*p] & DM_HTTP_C_DIGIT) || ++digits > 5) {
            return -1;
        }
        port = port * 10 + (unsigned) (*p - '0');
    }
    return port > 65535 ? -1 : (ssize_t) host_len;
}

void
dm_http_parse_mark_hop(dm_http_header_t *headers, size_t n)
{
    dm_http_parse_framing_t scratch;
    const u_char *p, *end;
    size_t i, j;
    dm_str_t e;

    for (i = 0; i < n; i++) {
        if (headers[i].id != DM_HTTP_HDR_CONNECTION) {
            continue;
        }
        p = headers[i].value.data;
        end = p + headers[i].value.len;
        while (dm_http_parse_list_next(&p, end, &e)) {
            if (dm_http_parse_conn_option(&scratch, &e)) {
                continue;
            }
            for (j = 0; j < n; j++) {
                if (dm_http_parse_caseeq(headers[j].name.data,
                                         headers[j].name.len,
                                         (const char *) e.data, e.len)) {
                    headers[j].hop = 1;
                }
            }
        }
    }
}

int
dm_http_header_is(const dm_http_header_t *h, const char *name)
{
    size_t n = strlen(name);

    return h->name.len == n
           && strncasecmp((const char *) h->name.data, name, n) == 0;
}
