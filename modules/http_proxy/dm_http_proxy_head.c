/*
 * doorman: the request head http_proxy sends upstream, regenerated from
 * the parsed client head (DESIGN.md sections 6 and 7).
 *
 * One pass over the client's fields writes those that pass and notes, per
 * forwarding field doorman rebuilds, the range of client fields of that
 * name; only a trusted peer's forwarding fields are read again, within
 * that range, to be folded into doorman's. Nothing is allocated; every
 * write is checked against the end of the buffer, so the writer fails
 * exactly when the buffer is one byte short.
 */
#include <dm_core.h>
#include <dm_http_parse.h>
#include <dm_http_proxy_head.h>


/* The forwarding fields, in the order doorman writes them; index k of
   this table is bit DM_HTTP_PROXY_* == 1 << k. */
typedef struct {
    const char *name;
    size_t len;
} dm_http_proxy_fwd_t;

#define DM_HTTP_PROXY_NFWD 6

static const dm_http_proxy_fwd_t dm_http_proxy_fwd[DM_HTTP_PROXY_NFWD] = {
    {"X-Forwarded-For", sizeof("X-Forwarded-For") - 1},
    {"X-Forwarded-Proto", sizeof("X-Forwarded-Proto") - 1},
    {"X-Forwarded-Host", sizeof("X-Forwarded-Host") - 1},
    {"X-Real-IP", sizeof("X-Real-IP") - 1},
    {"Forwarded", sizeof("Forwarded") - 1},
    {"X-Request-ID", sizeof("X-Request-ID") - 1},
};

#define DM_HTTP_PROXY_K_XFF       0
#define DM_HTTP_PROXY_K_XFP       1
#define DM_HTTP_PROXY_K_XFH       2
#define DM_HTTP_PROXY_K_XREALIP   3
#define DM_HTTP_PROXY_K_FORWARDED 4
#define DM_HTTP_PROXY_K_REQID     5

/* The longest fixed texts doorman adds, for the size bound. */
#define DM_HTTP_PROXY_LINE_MAX  (sizeof(" HTTP/1.1\r\n") - 1 + 1)
#define DM_HTTP_PROXY_FRAME_MAX (sizeof("Content-Length: \r\n") - 1 + 20)
#define DM_HTTP_PROXY_CONN_MAX                                                 \
    (sizeof("Connection: upgrade\r\nUpgrade: websocket\r\n") - 1)

/* Where the output goes; p == NULL once a write did not fit. */
typedef struct {
    u_char *p;
    u_char *end;
} dm_http_proxy_out_t;


static void
dm_http_proxy_put(dm_http_proxy_out_t *o, const void *s, size_t n)
{
    if (o->p == NULL || (size_t) (o->end - o->p) < n) {
        o->p = NULL;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

#define dm_http_proxy_lit(o, s) dm_http_proxy_put(o, s, sizeof(s) - 1)

/*
 * Copies a value the caller evaluated (a proxy_set_header value, an
 * address, $host): control bytes but HTAB become SP, so no variable can
 * end a line or the head early (header injection). The client's own
 * values were checked by the parser and are copied as they are.
 */
static void
dm_http_proxy_put_value(dm_http_proxy_out_t *o, const dm_str_t *v)
{
    size_t i;
    u_char c;

    if (o->p == NULL || (size_t) (o->end - o->p) < v->len) {
        o->p = NULL;
        return;
    }
    for (i = 0; i < v->len; i++) {
        c = v->data[i];
        o->p[i] = ((c < 0x20 && c != '\t') || c == 0x7f) ? ' ' : c;
    }
    o->p += v->len;
}

/* "name: value\r\n" */
static void
dm_http_proxy_put_field(dm_http_proxy_out_t *o, const dm_str_t *name,
                        const dm_str_t *value)
{
    dm_http_proxy_put(o, name->data, name->len);
    dm_http_proxy_lit(o, ": ");
    dm_http_proxy_put_value(o, value);
    dm_http_proxy_lit(o, "\r\n");
}

/* Which forwarding field a field name is (K_*, any letter case), or -1. */
static int
dm_http_proxy_fwd_kind(const dm_str_t *name)
{
    int k;

    for (k = 0; k < DM_HTTP_PROXY_NFWD; k++) {
        if (name->len == dm_http_proxy_fwd[k].len
            && strncasecmp((const char *) name->data, dm_http_proxy_fwd[k].name,
                           name->len)
                   == 0) {
            return k;
        }
    }
    return -1;
}

/* Set entries of these names are doorman's to write (framing and the
   connection): accepted and ignored. */
static int
dm_http_proxy_set_ignored(const dm_str_t *name)
{
    return dm_str_caseeq(name, "Connection") || dm_str_caseeq(name, "Upgrade")
           || dm_str_caseeq(name, "Content-Length")
           || dm_str_caseeq(name, "Transfer-Encoding");
}

/* Whether a set entry names this client field. */
static int
dm_http_proxy_in_set(const dm_http_proxy_head_in_t *in, const dm_str_t *name)
{
    dm_uint_t i;

    for (i = 0; i < in->nset; i++) {
        if (in->set[i].name.len == name->len
            && strncasecmp((const char *) in->set[i].name.data,
                           (const char *) name->data, name->len)
                   == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Writes the non-empty values of the client's fields of kind k found in
 * headers [first, last], joined with ", "; the same filter as the main
 * pass (hop-by-hop fields are not folded: a Connection-listed
 * X-Forwarded-For is removed, not trusted).
 */
static void
dm_http_proxy_put_client(dm_http_proxy_out_t *o,
                         const dm_http_proxy_head_in_t *in, int k, size_t first,
                         size_t last)
{
    const dm_http_header_t *h;
    dm_uint_t n = 0;
    size_t i;

    for (i = first; i <= last; i++) {
        h = &in->in->headers[i];
        if (h->hop || h->value.len == 0
            || dm_http_proxy_fwd_kind(&h->name) != k) {
            continue;
        }
        if (n++) {
            dm_http_proxy_lit(o, ", ");
        }
        dm_http_proxy_put(o, h->value.data, h->value.len);
    }
}

/* Whether v is a token (RFC 9110 section 5.6.2): sent unquoted. */
static int
dm_http_proxy_is_token(const dm_str_t *v)
{
    size_t i;
    u_char c;

    for (i = 0; i < v->len; i++) {
        c = v->data[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || (c > ' ' && c < 0x7f && strchr("!#$%&'*+-.^_`|~", c)))) {
            return 0;
        }
    }
    return 1;
}

/*
 * Writes a Forwarded parameter value (RFC 7239 section 4): a token as it
 * is, anything else quoted with '"' and '\' escaped; an address with a
 * ':' (IPv6) is also bracketed: for="[::1]".
 */
static void
dm_http_proxy_put_fwd_value(dm_http_proxy_out_t *o, const dm_str_t *v, int addr)
{
    dm_str_t c;
    size_t i;
    int bracket;

    if (dm_http_proxy_is_token(v)) {
        dm_http_proxy_put(o, v->data, v->len);
        return;
    }
    bracket = addr && memchr(v->data, ':', v->len) != NULL
              && memchr(v->data, '[', v->len) == NULL;

    dm_http_proxy_put(o, "\"[", bracket ? 2 : 1);
    for (i = 0; i < v->len; i++) {
        if (v->data[i] == '"' || v->data[i] == '\\') {
            dm_http_proxy_lit(o, "\\");
        }
        c.len = 1;
        c.data = &v->data[i];
        dm_http_proxy_put_value(o, &c);
    }
    if (bracket) {
        dm_http_proxy_lit(o, "]");
    }
    dm_http_proxy_lit(o, "\"");
}

/* The RFC 7239 element doorman adds: for=ADDR[;proto=SCHEME][;host=HOST]. */
static void
dm_http_proxy_put_forwarded(dm_http_proxy_out_t *o, const dm_str_t *addr,
                            const dm_http_proxy_head_in_t *in)
{
    dm_http_proxy_lit(o, "for=");
    if (addr->len == 0
        || (addr->len >= 5 && memcmp(addr->data, "unix:", 5) == 0)) {
        /* no address, or a UNIX-domain socket (RFC 7239 section 6.3) */
        dm_http_proxy_lit(o, "unknown");
    } else {
        dm_http_proxy_put_fwd_value(o, addr, 1);
    }
    if (in->scheme.len) {
        dm_http_proxy_lit(o, ";proto=");
        dm_http_proxy_put_fwd_value(o, &in->scheme, 0);
    }
    if (in->host.len) {
        dm_http_proxy_lit(o, ";host=");
        dm_http_proxy_put_fwd_value(o, &in->host, 0);
    }
}

/*
 * Writes forwarding field k, or nothing when it would be empty. [first,
 * last]: the range of the client's non-empty fields of that name (first >
 * last: none); they count only from a trusted peer.
 */
static void
dm_http_proxy_put_fwd(dm_http_proxy_out_t *o, const dm_http_proxy_head_in_t *in,
                      int k, size_t first, size_t last)
{
    const dm_str_t *own;
    int client = in->trusted && first <= last;

    /* the address of the hop doorman saw, appended to a trusted chain;
       an untrusted peer has no chain, only the client (the same address
       unless realip said otherwise) */
    own = in->trusted ? &in->peer_addr : &in->client_addr;

    switch (k) {
    case DM_HTTP_PROXY_K_XFF:
    case DM_HTTP_PROXY_K_FORWARDED:
        break;
    case DM_HTTP_PROXY_K_XREALIP:
        own = &in->client_addr;
        client = 0;
        break;
    case DM_HTTP_PROXY_K_XFP:
        own = &in->scheme;
        break;
    case DM_HTTP_PROXY_K_XFH:
        own = &in->host;
        break;
    default:
        own = &in->request_id;
        break;
    }
    if (!client && own->len == 0 && k != DM_HTTP_PROXY_K_FORWARDED) {
        return;
    }

    dm_http_proxy_put(o, dm_http_proxy_fwd[k].name, dm_http_proxy_fwd[k].len);
    dm_http_proxy_lit(o, ": ");

    if (client) {
        dm_http_proxy_put_client(o, in, k, first, last);
    }
    if (k == DM_HTTP_PROXY_K_FORWARDED) {
        /* a chain of elements: the peer's, then doorman's */
        if (client) {
            dm_http_proxy_lit(o, ", ");
        }
        dm_http_proxy_put_forwarded(o, own, in);
    } else if (k == DM_HTTP_PROXY_K_XFF) {
        /* a chain of addresses */
        if (client && own->len) {
            dm_http_proxy_lit(o, ", ");
        }
        dm_http_proxy_put_value(o, own);
    } else if (!client) {
        /* one value: a trusted peer's is kept, else doorman's */
        dm_http_proxy_put_value(o, own);
    }
    dm_http_proxy_lit(o, "\r\n");
}

/* Writes a non-negative decimal. */
static void
dm_http_proxy_put_int(dm_http_proxy_out_t *o, uint64_t v)
{
    u_char tmp[20], *q = tmp + sizeof(tmp);

    do {
        *--q = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v);
    dm_http_proxy_put(o, q, (size_t) (tmp + sizeof(tmp) - q));
}


size_t
dm_http_proxy_head_size(const dm_http_proxy_head_in_t *in)
{
    const dm_http_header_t *h;
    size_t n, addr, i;

    /* the request line ("/" when uri is empty) */
    n = in->method.len + 1 + in->uri.len + DM_HTTP_PROXY_LINE_MAX;

    for (i = 0; i < in->nset; i++) {
        n += in->set[i].name.len + in->set[i].value.len + 4;
    }

    /* a client field is written as "name: value\r\n" or folded into a
       forwarding field as ", value": both fit in name + value + 4 */
    for (i = 0; i < in->in->nheaders; i++) {
        h = &in->in->headers[i];
        n += h->name.len + h->value.len + 4;
    }

    /* doorman's own forwarding fields, all of them: a bound is enough.
       In Forwarded a quoted value may double (escapes) and gain "\"[]\"". */
    addr = in->peer_addr.len > in->client_addr.len ? in->peer_addr.len
                                                   : in->client_addr.len;
    n += sizeof("X-Forwarded-For: , \r\n") - 1 + addr;
    n += sizeof("X-Real-IP: \r\n") - 1 + in->client_addr.len;
    n += sizeof("X-Forwarded-Proto: \r\n") - 1 + in->scheme.len;
    n += sizeof("X-Forwarded-Host: \r\n") - 1 + in->host.len;
    n += sizeof("X-Request-ID: \r\n") - 1 + in->request_id.len;
    n += sizeof("Forwarded: , for=unknown;proto=;host=\r\n") - 1 + 3 * 4
         + 2 * (addr + in->scheme.len + in->host.len);

    return n + DM_HTTP_PROXY_FRAME_MAX + DM_HTTP_PROXY_CONN_MAX + 2;
}


ssize_t
dm_http_proxy_head_write(const dm_http_proxy_head_in_t *in, u_char *buf,
                         size_t size)
{
    const dm_http_request_head_t *r = in->in;
    const dm_http_header_t *h;
    dm_http_proxy_out_t o;
    size_t first[DM_HTTP_PROXY_NFWD], last[DM_HTTP_PROXY_NFWD], i;
    dm_uint_t add, j;
    int k;

    o.p = buf;
    o.end = buf + size;

    /* the request line */
    dm_http_proxy_put(&o, in->method.data, in->method.len);
    dm_http_proxy_lit(&o, " ");
    if (in->uri.len) {
        dm_http_proxy_put(&o, in->uri.data, in->uri.len);
    } else {
        dm_http_proxy_lit(&o, "/");
    }
    dm_http_proxy_lit(&o, " HTTP/1.1\r\n");

    /* proxy_set_header, in order; a name set there is no forwarding field
       doorman generates, even when its value is empty */
    add = in->add;
    for (j = 0; j < in->nset; j++) {
        if (dm_http_proxy_set_ignored(&in->set[j].name)) {
            continue;
        }
        k = dm_http_proxy_fwd_kind(&in->set[j].name);
        if (k >= 0) {
            add &= ~((dm_uint_t) 1 << k);
        }
        if (in->set[j].value.len) {
            dm_http_proxy_put_field(&o, &in->set[j].name, &in->set[j].value);
        }
    }

    /* the client's fields, one pass */
    for (k = 0; k < DM_HTTP_PROXY_NFWD; k++) {
        first[k] = 1;
        last[k] = 0;
    }
    for (i = 0; i < r->nheaders; i++) {
        h = &r->headers[i];

        /* hop-by-hop (Connection-listed included), framing, Host and
           Expect (doorman answers 100-continue itself) are doorman's */
        if (h->hop || h->id == DM_HTTP_HDR_HOST
            || h->id == DM_HTTP_HDR_CONTENT_LENGTH
            || h->id == DM_HTTP_HDR_EXPECT
            || (h->underscore && !in->underscores)) {
            continue;
        }
        if (in->nset && dm_http_proxy_in_set(in, &h->name)) {
            continue;
        }
        k = dm_http_proxy_fwd_kind(&h->name);
        if (k >= 0 && (add & ((dm_uint_t) 1 << k))) {
            /* rebuilt below; a trusted peer's values are folded in (an
               empty one says nothing) */
            if (h->value.len == 0) {
                continue;
            }
            if (first[k] > last[k]) {
                first[k] = i;
            }
            last[k] = i;
            continue;
        }
        dm_http_proxy_put(&o, h->name.data, h->name.len);
        dm_http_proxy_lit(&o, ": ");
        dm_http_proxy_put(&o, h->value.data, h->value.len);
        dm_http_proxy_lit(&o, "\r\n");
    }

    /* doorman's forwarding fields */
    for (k = 0; k < DM_HTTP_PROXY_NFWD; k++) {
        if (add & ((dm_uint_t) 1 << k)) {
            dm_http_proxy_put_fwd(&o, in, k, first[k], last[k]);
        }
    }

    /* framing: never both (chunked wins: it says how the body is sent) */
    if (in->chunked) {
        dm_http_proxy_lit(&o, "Transfer-Encoding: chunked\r\n");
    } else if (in->content_length >= 0) {
        dm_http_proxy_lit(&o, "Content-Length: ");
        dm_http_proxy_put_int(&o, (uint64_t) in->content_length);
        dm_http_proxy_lit(&o, "\r\n");
    }

    if (in->upgrade) {
        dm_http_proxy_lit(&o, "Connection: upgrade\r\nUpgrade: websocket\r\n");
    } else if (!in->keepalive) {
        dm_http_proxy_lit(&o, "Connection: close\r\n");
    }
    dm_http_proxy_lit(&o, "\r\n");

    if (o.p == NULL) {
        return -1;
    }
    return o.p - buf;
}
