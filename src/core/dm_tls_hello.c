/*
 * doorman: the TLS ClientHello parser (ssl_preread).
 *
 * Two layers. The record layer walks the TLS records as bytes arrive and
 * collects the handshake message they carry: its 4-byte header (type 1,
 * a 24-bit length), then its body. A body that lies inside one record,
 * which is what every real client sends, is read where it is; one split
 * over records is copied into a scratch buffer the caller gives on
 * request (DM_DECLINED), so the common case copies nothing and the rare
 * one costs one copy of each byte. The message layer then reads the
 * complete body once, through a bounded cursor: every length is checked
 * against the bytes that enclose it before anything is read.
 *
 * References: RFC 8446 sections 4.1.2 and 5.1 (TLS 1.3), RFC 5246
 * section 7.4.1.2 (TLS 1.2), RFC 6066 section 3 (server_name), RFC 7301
 * (ALPN).
 */
#include <dm_core.h>
#include <dm_tls_hello.h>

#define DM_TLS_RECORD_HANDSHAKE 22
#define DM_TLS_CLIENT_HELLO     1

#define DM_TLS_EXT_SERVER_NAME        0
#define DM_TLS_EXT_ALPN               16
#define DM_TLS_EXT_SUPPORTED_VERSIONS 43

/*
 * The smallest ClientHello body: version (2), random (32), an empty
 * session id (1), one cipher suite (2 + 2), one compression method
 * (1 + 1).
 */
#define DM_TLS_HELLO_MIN_BODY 41

/* A bounded reader over bytes of the message. */
typedef struct {
    const u_char *p;   /* next byte */
    const u_char *end; /* one past the last */
} dm_tls_cursor_t;

void
dm_tls_hello_init(dm_tls_hello_t *h, size_t limit)
{
    memset(h, 0, sizeof(*h));
    h->limit = limit;
}

static dm_int_t
dm_tls_hello_fail(dm_tls_hello_t *h, const char *why)
{
    h->error = why;
    return DM_ERROR;
}

/* Reads an n-byte big-endian number (n <= 3); 0 when it is not there. */
static int
dm_tls_get(dm_tls_cursor_t *cur, size_t n, size_t *v)
{
    size_t i;

    if ((size_t) (cur->end - cur->p) < n) {
        return 0;
    }
    *v = 0;
    for (i = 0; i < n; i++) {
        *v = *v << 8 | *cur->p++;
    }
    return 1;
}

/*
 * Reads a vector with an n-byte length prefix into sub (and skips it in
 * cur); 0 when the length runs past the end.
 */
static int
dm_tls_vector(dm_tls_cursor_t *cur, size_t n, dm_tls_cursor_t *sub)
{
    size_t len;

    if (!dm_tls_get(cur, n, &len) || (size_t) (cur->end - cur->p) < len) {
        return 0;
    }
    sub->p = cur->p;
    sub->end = cur->p + len;
    cur->p += len;
    return 1;
}

/* server_name: a list of (type, name); one host_name at most. */
static dm_int_t
dm_tls_hello_sni(dm_tls_hello_t *h, dm_tls_cursor_t *ext)
{
    dm_tls_cursor_t list, name;
    size_t type, i;
    u_char ch;

    if (!dm_tls_vector(ext, 2, &list) || ext->p != ext->end
        || list.p == list.end) {
        return dm_tls_hello_fail(h, "bad server_name extension length");
    }
    while (list.p < list.end) {
        if (!dm_tls_get(&list, 1, &type) || !dm_tls_vector(&list, 2, &name)) {
            return dm_tls_hello_fail(h, "bad server_name entry length");
        }
        if (type != 0) {
            continue; /* another kind of name: not ours to judge */
        }
        if (h->server_name_len) {
            return dm_tls_hello_fail(h, "two host names in server_name");
        }
        if (name.p == name.end
            || (size_t) (name.end - name.p) > DM_TLS_HELLO_MAX_NAME) {
            return dm_tls_hello_fail(h, "bad server name length");
        }
        for (i = 0; name.p + i < name.end; i++) {
            ch = name.p[i];
            if (ch < 0x20 || ch == 0x7f) {
                return dm_tls_hello_fail(h, "control byte in server name");
            }
            h->server_name[i] = (ch >= 'A' && ch <= 'Z') ? ch | 0x20 : ch;
        }
        h->server_name_len = i;
    }
    return DM_OK;
}

/* ALPN: a list of names, each 1 to 255 bytes. */
static dm_int_t
dm_tls_hello_alpn(dm_tls_hello_t *h, dm_tls_cursor_t *ext)
{
    dm_tls_cursor_t list, name;

    if (!dm_tls_vector(ext, 2, &list) || ext->p != ext->end
        || list.p == list.end) {
        return dm_tls_hello_fail(h, "bad ALPN extension length");
    }
    h->alpn = list.p;
    h->alpn_len = (size_t) (list.end - list.p);
    while (list.p < list.end) {
        if (!dm_tls_vector(&list, 1, &name) || name.p == name.end) {
            return dm_tls_hello_fail(h, "bad ALPN protocol name length");
        }
    }
    return DM_OK;
}

/* supported_versions: a list of 2-byte versions (GREASE ones included). */
static dm_int_t
dm_tls_hello_versions(dm_tls_hello_t *h, dm_tls_cursor_t *ext)
{
    dm_tls_cursor_t list;
    size_t v;

    if (!dm_tls_vector(ext, 1, &list) || ext->p != ext->end
        || list.p == list.end || (list.end - list.p) % 2) {
        return dm_tls_hello_fail(h, "bad supported_versions length");
    }
    while (dm_tls_get(&list, 2, &v)) {
        if (v == 0x0304) {
            h->tls13 = 1;
        }
    }
    return DM_OK;
}

/* The extensions block: each extension within it, ours read once. */
static dm_int_t
dm_tls_hello_extensions(dm_tls_hello_t *h, dm_tls_cursor_t *exts)
{
    dm_tls_cursor_t ext;
    unsigned seen = 0, bit;
    size_t type;
    dm_int_t rc;

    while (exts->p < exts->end) {
        if (!dm_tls_get(exts, 2, &type) || !dm_tls_vector(exts, 2, &ext)) {
            return dm_tls_hello_fail(h, "bad extension length");
        }
        switch (type) {
        case DM_TLS_EXT_SERVER_NAME:
            bit = 1;
            break;
        case DM_TLS_EXT_ALPN:
            bit = 2;
            break;
        case DM_TLS_EXT_SUPPORTED_VERSIONS:
            bit = 4;
            break;
        default:
            continue;
        }
        /* RFC 8446 4.2: no extension twice in one block */
        if (seen & bit) {
            return dm_tls_hello_fail(h, "duplicate extension");
        }
        seen |= bit;
        rc = bit == 1   ? dm_tls_hello_sni(h, &ext)
             : bit == 2 ? dm_tls_hello_alpn(h, &ext)
                        : dm_tls_hello_versions(h, &ext);
        if (rc != DM_OK) {
            return rc;
        }
    }
    return DM_OK;
}

/* The complete ClientHello body, field by field. */
static dm_int_t
dm_tls_hello_body(dm_tls_hello_t *h, const u_char *body, size_t len)
{
    dm_tls_cursor_t cur = {body, body + len}, v;
    size_t version;

    if (!dm_tls_get(&cur, 2, &version) || (version >> 8) != 3) {
        return dm_tls_hello_fail(h, "bad ClientHello version");
    }
    h->legacy_version = (unsigned) version;
    if ((size_t) (cur.end - cur.p) < 32) {
        return dm_tls_hello_fail(h, "truncated ClientHello random");
    }
    cur.p += 32;
    if (!dm_tls_vector(&cur, 1, &v) || v.end - v.p > 32) {
        return dm_tls_hello_fail(h, "bad session id length");
    }
    if (!dm_tls_vector(&cur, 2, &v) || v.p == v.end || (v.end - v.p) % 2) {
        return dm_tls_hello_fail(h, "bad cipher suites length");
    }
    if (!dm_tls_vector(&cur, 1, &v) || v.p == v.end) {
        return dm_tls_hello_fail(h, "bad compression methods length");
    }
    if (cur.p == cur.end) {
        return DM_OK; /* no extensions (an old client) */
    }
    if (!dm_tls_vector(&cur, 2, &v) || cur.p != cur.end) {
        return dm_tls_hello_fail(h, "bad extensions length");
    }
    return dm_tls_hello_extensions(h, &v);
}

/* The message header is complete: check it, decide where the body goes. */
static dm_int_t
dm_tls_hello_header(dm_tls_hello_t *h)
{
    h->body_len =
        (size_t) h->hdr[1] << 16 | (size_t) h->hdr[2] << 8 | h->hdr[3];
    h->size = 4 + h->body_len;
    if (h->body_len < DM_TLS_HELLO_MIN_BODY) {
        return dm_tls_hello_fail(h, "ClientHello too short");
    }
    /* at least one record header and the message: fail now rather than
       after reading what cannot be kept */
    if (h->limit && 5 + h->size > h->limit) {
        return dm_tls_hello_fail(h, "ClientHello larger than the buffer");
    }
    if (h->rec_left >= h->body_len) {
        h->body_off = h->pos; /* read in place */
    } else {
        h->in_scratch = 1;
    }
    return DM_OK;
}

/*
 * A record header: checked byte by byte as they come, so that garbage is
 * refused at its first byte rather than when five have arrived.
 */
static dm_int_t
dm_tls_hello_record(dm_tls_hello_t *h, const u_char *r, size_t avail)
{
    size_t n;

    if (avail >= 1 && r[0] != DM_TLS_RECORD_HANDSHAKE) {
        return dm_tls_hello_fail(h, h->nrecords
                                        ? "a record other than handshake "
                                          "inside the ClientHello"
                                        : "not a TLS handshake");
    }
    if ((avail >= 2 && r[1] != 3) || (avail >= 3 && r[2] > 4)) {
        return dm_tls_hello_fail(h, "bad TLS record version");
    }
    if (avail < 5) {
        return DM_AGAIN;
    }
    n = (size_t) r[3] << 8 | r[4];
    if (n == 0 || n > DM_TLS_HELLO_MAX_RECORD) {
        return dm_tls_hello_fail(h, "bad TLS record length");
    }
    h->pos += 5;
    h->rec_left = n;
    h->nrecords++;
    return DM_OK;
}

dm_int_t
dm_tls_hello_parse(dm_tls_hello_t *h, const u_char *data, size_t len)
{
    const u_char *body;
    dm_int_t rc;
    size_t n;

    if (h->error) {
        return DM_ERROR;
    }
    if (h->done) {
        return DM_OK;
    }
    for (;;) {
        if (h->hdr_have == 4 && h->body_have == h->body_len) {
            break;
        }
        if (h->rec_left == 0) {
            rc = dm_tls_hello_record(h, data + h->pos, len - h->pos);
            if (rc != DM_OK) {
                return rc;
            }
            continue;
        }
        n = dm_min(h->rec_left, len - h->pos);
        if (n == 0) {
            return DM_AGAIN;
        }
        if (h->hdr_have < 4) {
            /* the message header, maybe split over records */
            n = dm_min(n, 4 - h->hdr_have);
            memcpy(h->hdr + h->hdr_have, data + h->pos, n);
            h->hdr_have += (unsigned) n;
            h->pos += n;
            h->rec_left -= n;
            if (h->hdr[0] != DM_TLS_CLIENT_HELLO) {
                return dm_tls_hello_fail(h, "first handshake message is not "
                                            "a ClientHello");
            }
            if (h->hdr_have == 4 && dm_tls_hello_header(h) != DM_OK) {
                return DM_ERROR;
            }
            continue;
        }
        n = dm_min(n, h->body_len - h->body_have);
        if (h->in_scratch) {
            if (h->scratch == NULL || h->scratch_size < h->body_len) {
                h->need = h->body_len;
                return DM_DECLINED;
            }
            memcpy(h->scratch + h->body_have, data + h->pos, n);
        }
        h->body_have += n;
        h->pos += n;
        h->rec_left -= n;
    }

    body = h->in_scratch ? h->scratch : data + h->body_off;
    if (dm_tls_hello_body(h, body, h->body_len) != DM_OK) {
        return DM_ERROR;
    }
    h->length = h->pos;
    h->done = 1;
    return DM_OK;
}

const char *
dm_tls_hello_protocol(const dm_tls_hello_t *h)
{
    if (h->tls13) {
        return "TLSv1.3";
    }
    switch (h->legacy_version) {
    case 0x0300:
        return "SSLv3";
    case 0x0301:
        return "TLSv1";
    case 0x0302:
        return "TLSv1.1";
    case 0x0303:
        return "TLSv1.2";
    case 0x0304:
        return "TLSv1.3";
    default:
        return NULL;
    }
}

size_t
dm_tls_hello_alpn_text(const dm_tls_hello_t *h, u_char *out)
{
    const u_char *p = h->alpn, *end = h->alpn + h->alpn_len;
    u_char *o = out;
    size_t n;

    if (h->alpn == NULL) {
        return 0;
    }
    /* each name's length byte becomes a comma, but the first */
    while (p < end) {
        n = *p++;
        if (o != out) {
            *o++ = ',';
        }
        memcpy(o, p, n);
        o += n;
        p += n;
    }
    return (size_t) (o - out);
}
