/*
 * doorman: the request head http_proxy sends upstream, regenerated from
 * the parsed client head, never relayed as raw bytes (DESIGN.md section 6).
 */
#ifndef DM_HTTP_PROXY_HEAD_H
#define DM_HTTP_PROXY_HEAD_H

#include <dm_http_parse_t.h>

/* One proxy_set_header line, evaluated for this request. */
typedef struct {
    dm_str_t name;  /* as configured (compared without case) */
    dm_str_t value; /* evaluated; empty: the field is not sent at all */
} dm_http_proxy_header_t;

/* Which forwarding fields doorman adds (each switchable). */
#define DM_HTTP_PROXY_XFF       0x01 /* X-Forwarded-For */
#define DM_HTTP_PROXY_XFP       0x02 /* X-Forwarded-Proto */
#define DM_HTTP_PROXY_XFH       0x04 /* X-Forwarded-Host */
#define DM_HTTP_PROXY_XREALIP   0x08 /* X-Real-IP */
#define DM_HTTP_PROXY_FORWARDED 0x10 /* RFC 7239 Forwarded */
#define DM_HTTP_PROXY_REQID     0x20 /* X-Request-ID */

/* Everything the head depends on, gathered by the module per request. */
typedef struct {
    dm_str_t method;                   /* as forwarded (GET after an
                                          error_page redirect) */
    dm_str_t uri;                      /* the target to send: path and
                                          "?args", already encoded */
    const dm_http_request_head_t *in;  /* the client's parsed head */
    const dm_http_proxy_header_t *set; /* proxy_set_header, in order */
    dm_uint_t nset;
    dm_str_t peer_addr;     /* the address that connected to doorman */
    dm_str_t client_addr;   /* $remote_addr (the true client after
                             set_real_ip_from / real_ip_header) */
    dm_str_t scheme;        /* "http" or "https" */
    dm_str_t host;          /* $host, for X-Forwarded-Host / Forwarded */
    dm_str_t request_id;    /* $request_id */
    dm_uint_t add;          /* DM_HTTP_PROXY_* fields to add */
    int64_t content_length; /* the body's length to announce, -1: none */
    unsigned chunked:1;     /* the body is sent chunked (length unknown) */
    unsigned trusted:1;     /* peer_addr is inside set_real_ip_from: the
                               client's forwarding fields are kept and
                               extended, else they are replaced */
    unsigned underscores:1; /* underscores_in_headers on: fields with '_'
                               are forwarded */
    unsigned upgrade:1;     /* a WebSocket upgrade is forwarded:
                               "Connection: upgrade", "Upgrade: websocket" */
    unsigned keepalive:1;   /* the upstream connection is pooled: no
                               "Connection: close" by default */
} dm_http_proxy_head_in_t;

/*
 * An upper bound of the bytes dm_http_proxy_head_write needs for `in`.
 */
size_t dm_http_proxy_head_size(const dm_http_proxy_head_in_t *in);

/*
 * Writes the upstream request head for `in` into buf (size bytes, at
 * least dm_http_proxy_head_size): "METHOD URI HTTP/1.1", then
 *
 *  - the proxy_set_header fields with a non-empty value, in order (the
 *    caller puts nginx's default "Host: <proxy host>" first unless the
 *    configuration sets Host); a name set here replaces every client
 *    field and every forwarding field of that name. Connection and
 *    Upgrade belong to doorman: set entries of those names are accepted
 *    (nginx configurations write them for keep-alive and WebSocket) and
 *    ignored, and so are Content-Length and Transfer-Encoding (framing is
 *    doorman's: the caller says it with content_length / chunked). Values
 *    evaluated by the caller (set values, addresses, scheme, host,
 *    request_id) have their control bytes but HTAB written as SP, so no
 *    variable can split a line; names, method and uri are written as they
 *    are (checked tokens, an encoded target; an empty uri is sent as "/");
 *  - the client's fields, in order, except: hop-by-hop ones (h->hop: the
 *    Connection-listed fields, Connection, Keep-Alive, Proxy-Connection,
 *    TE, Transfer-Encoding, Upgrade), Host, Content-Length, Expect, fields
 *    with '_' unless underscores, and the forwarding fields doorman
 *    generates (those in `add`), which are rebuilt:
 *      X-Forwarded-For: trusted: the client's value(s) joined with ", ",
 *        then ", " peer_addr; untrusted: client_addr alone;
 *      X-Real-IP: client_addr;
 *      X-Forwarded-Proto: trusted and sent by the client: kept; else scheme;
 *      X-Forwarded-Host: trusted and sent: kept; else host;
 *      Forwarded: trusted: the client's elements, then ", " and ours;
 *        untrusted: ours alone: for=ADDR;proto=SCHEME;host=HOST (an IPv6
 *        address quoted and bracketed: for="[::1]"; host quoted when it
 *        has a ':');
 *      X-Request-ID: trusted and sent: kept; else request_id;
 *    "sent" means a non-empty value; several client fields of one name
 *    are joined with ", " (equivalent by RFC 9110 section 5.3); a field
 *    marked hop (named in Connection) is removed and never folded in;
 *    ours follow the client's fields in the order of their bits (XFF,
 *    -Proto, -Host, X-Real-IP, Forwarded, X-Request-ID), and
 *    a field with nothing to say (an empty address, host or request_id,
 *    nothing kept) is not written. Forwarded's ADDR is the address XFF
 *    appends (trusted: peer_addr, else client_addr); "for=unknown" when
 *    it is empty or a UNIX-domain socket ("unix:"); proto and host are
 *    left out when empty; values that are no token are quoted with '"'
 *    and '\' escaped. A forwarding field NOT in `add` is an ordinary
 *    field: the client's passes through as sent, trusted or not (the
 *    configuration chose not to manage it);
 *  - "Content-Length: N" (content_length >= 0) or "Transfer-Encoding:
 *    chunked" (chunked; it wins if both are given: never both fields);
 *  - "Connection: upgrade" and "Upgrade: websocket" for an upgrade, else
 *    "Connection: close" unless keepalive;
 *  - the empty line.
 * Returns the length written, or -1 when buf is too small (exactly: it
 * succeeds with size equal to the length, fails one byte below; buf's
 * contents are then undefined).
 */
ssize_t dm_http_proxy_head_write(const dm_http_proxy_head_in_t *in, u_char *buf,
                                 size_t size);

#endif /* DM_HTTP_PROXY_HEAD_H */
