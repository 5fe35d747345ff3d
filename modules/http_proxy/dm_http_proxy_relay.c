/*
 * doorman: http_proxy: the relays.
 *
 * One loop serves every event of a proxied request: the client's body is
 * read into the `in` buffer (a Content-Length body as it comes, a chunked
 * one decoded and framed again), the head and the body are written
 * upstream with one writev, the response is read into `out`, its head
 * parsed (strictly for framing, DESIGN.md section 7) and regenerated for
 * the client, and its body forwarded as it arrives: Content-Length and
 * chunked bodies byte for byte once their framing is checked (an HTTP/1.0
 * client gets chunked data decoded), a body delimited by close as chunks
 * to an HTTP/1.1 client (to the close for HTTP/1.0). Both buffers are bounded (proxy_buffers): a slow reader stops
 * the writer on the other side, nothing is stored on disk.
 *
 * Each step returns DM_OK (it moved bytes), DM_AGAIN (it waits for an
 * event) or DM_DONE (the request ended: ctx may already serve the next
 * request of the connection and must not be touched).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_http_conf.h>
#include <dm_http_parse.h>
#include <dm_http_request.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_http_proxy.h>

static void dm_http_proxy_client_read(dm_event_t *ev);
static void dm_http_proxy_client_write(dm_event_t *ev);
static void dm_http_proxy_upstream_read(dm_event_t *ev);
static void dm_http_proxy_upstream_write(dm_event_t *ev);

/* Room a chunk's framing takes: "ffffffffffffffff\r\n" ... "\r\n". */
#define DM_HTTP_PROXY_CHUNK_FRAMING 20

static dm_int_t dm_http_proxy_read_chunked(dm_http_proxy_ctx_t *ctx,
                                           size_t space);

static dm_int_t
dm_http_proxy_read_body(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_connection_t *c = r->connection;
    dm_buf_t *b = r->hc->buf;
    size_t space, n;
    ssize_t k;

    if (ctx->body_done) {
        return DM_AGAIN;
    }
    if ((size_t) (ctx->in.end - ctx->in.last)
            < 2 * DM_HTTP_PROXY_CHUNK_FRAMING + 128
        && ctx->in.pos == ctx->in.last && ctx->head_sent == ctx->head.len) {
        /* everything read so far went upstream: the body is streamed from
           here on, and can no longer be sent again to another peer */
        ctx->body_kept = 0;
        ctx->in.pos = ctx->in.last = ctx->in.start;
    }
    space = (size_t) (ctx->in.end - ctx->in.last);
    if (dm_buf_size(b) == 0) {
        dm_http_request_continue(r);
    }

    if (!r->head.chunked) {
        if (space == 0) {
            return DM_AGAIN;
        }
        n = (size_t) dm_min((int64_t) space, r->body_left);
        if (dm_buf_size(b)) {
            n = dm_min(n, dm_buf_size(b));
            memcpy(ctx->in.last, b->pos, n);
            b->pos += n;
        } else {
            if (!c->read->ready) {
                return DM_AGAIN;
            }
            k = c->recv(c, ctx->in.last, n);
            if (k == DM_AGAIN) {
                return DM_AGAIN;
            }
            if (k == 0 || k == DM_ERROR) {
                dm_log_error(DM_LOG_INFO, c->log, 0,
                             "client closed the connection while sending "
                             "its body");
                dm_http_proxy_finish(ctx, 499);
                return DM_DONE;
            }
            n = (size_t) k;
        }
        ctx->in.last += n;
        r->body_left -= (int64_t) n;
        r->body_received += n;
        ctx->body_total += n;
        if (r->body_left == 0) {
            ctx->body_done = 1;
            r->body_done = 1;
        }
        return DM_OK;
    }

    /* chunked: decoded, then framed again for the upstream */
    return dm_http_proxy_read_chunked(ctx, space);
}

/* "%zx\r\n" without printf (per piece of a chunked body). */
static u_char *
dm_http_proxy_hex(u_char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    u_char tmp[16], *t = tmp + sizeof(tmp);

    do {
        *--t = (u_char) hex[n & 15];
        n >>= 4;
    } while (n);
    p = (u_char *) memcpy(p, t, (size_t) (tmp + sizeof(tmp) - t))
        + (tmp + sizeof(tmp) - t);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/*
 * A chunked request body: bytes already in the head buffer first, then
 * large reads straight into the free end of `in`, 64 bytes past where the
 * output goes. Each piece of data is framed again in place: a piece never
 * gets more framing than it came with, except the first of a read (the
 * rest of a chunk begun in the previous read: at most 20 bytes), so the
 * output never reaches input not yet decoded.
 */
static dm_int_t
dm_http_proxy_read_chunked(dm_http_proxy_ctx_t *ctx, size_t space)
{
    dm_http_request_t *r = ctx->request;
    dm_connection_t *c = r->connection;
    dm_http_core_loc_conf_t *clcf =
        dm_http_request_loc_conf(r, dm_http_core_module);
    dm_buf_t *b = r->hc->buf;
    dm_http_parse_error_t err;
    const u_char *data;
    u_char *src, *out = ctx->in.last;
    size_t len, used, dlen, off = 0;
    int from_head = dm_buf_size(b) != 0;
    dm_int_t rc = DM_AGAIN;
    ssize_t k;

    if (space < 2 * DM_HTTP_PROXY_CHUNK_FRAMING + 128) {
        return DM_AGAIN;
    }
    if (from_head) {
        src = b->pos;
        len = dm_min(dm_buf_size(b), space - 2 * DM_HTTP_PROXY_CHUNK_FRAMING);
    } else {
        if (!c->read->ready) {
            return DM_AGAIN;
        }
        src = ctx->in.last + 64;
        k = c->recv(c, src, (size_t) (ctx->in.end - src));
        if (k == DM_AGAIN) {
            return DM_AGAIN;
        }
        if (k == 0 || k == DM_ERROR) {
            dm_log_error(DM_LOG_INFO, c->log, 0,
                         "client closed the connection while sending its "
                         "body");
            dm_http_proxy_finish(ctx, 499);
            return DM_DONE;
        }
        len = (size_t) k;
    }
    while (off < len) {
        rc = dm_http_chunked_parse(&r->chunked, src + off, len - off,
                                   clcf->max_body, &used, &data, &dlen, &err);
        off += used;
        if (rc == DM_ERROR) {
            dm_log_error(DM_LOG_INFO, c->log, 0,
                         "client sent an invalid body: %s", err.reason);
            r->keepalive = 0;
            r->body_done = 1;
            ctx->body_done = 1;
            b->pos = b->last;
            dm_http_proxy_finish(ctx, err.status ? err.status : 400);
            return DM_DONE;
        }
        if (dlen) {
            out = dm_http_proxy_hex(out, dlen);
            memmove(out, data, dlen);
            out += dlen;
            *out++ = '\r';
            *out++ = '\n';
            r->body_received += dlen;
            ctx->body_total += dlen;
        }
        if (rc == DM_DONE || (rc == DM_AGAIN && used == 0)) {
            break;
        }
    }
    if (rc == DM_DONE) {
        out = (u_char *) memcpy(out, "0\r\n\r\n", 5) + 5;
        ctx->body_done = 1;
        r->body_done = 1;
    }
    if (from_head) {
        b->pos += off;
    } else if (off < len) {
        /* what follows the body is the next request: back to the head
           buffer (it is empty), if it fits */
        b->pos = b->last = b->start;
        if (len - off <= (size_t) (b->end - b->start)) {
            memcpy(b->last, src + off, len - off);
            b->last += len - off;
        } else {
            r->keepalive = 0;
        }
    }
    ctx->in.last = out;
    return DM_OK;
}

static dm_int_t
dm_http_proxy_send_request(dm_http_proxy_ctx_t *ctx)
{
    dm_connection_t *u = ctx->upstream;
    dm_chain_t cl[2], *rest;
    dm_buf_t hb, bb;
    size_t before;

    if (u == NULL || !ctx->connected || ctx->req_sent) {
        return DM_AGAIN;
    }
    if (ctx->head_sent == ctx->head.len && ctx->in.pos == ctx->in.last) {
        if (ctx->body_done) {
            ctx->req_sent = 1;
            dm_event_timer_del(u->write);
            if (dm_event_timer_add(u->read, ctx->conf->read_timeout) != DM_OK) {
                return DM_AGAIN;
            }
            return DM_OK;
        }
        return DM_AGAIN;
    }
    if (!u->write->ready) {
        return DM_AGAIN;
    }
    memset(&hb, 0, sizeof(hb));
    memset(&bb, 0, sizeof(bb));
    hb.pos = ctx->head.data + ctx->head_sent;
    hb.last = ctx->head.data + ctx->head.len;
    bb.pos = ctx->in.pos;
    bb.last = ctx->in.last;
    cl[0].buf = &hb;
    cl[0].next = &cl[1];
    cl[1].buf = &bb;
    cl[1].next = NULL;
    before = (size_t) (hb.last - hb.pos) + (size_t) (bb.last - bb.pos);
    rest = u->send_chain(u, &cl[0], 0);
    if (rest == DM_CHAIN_ERROR) {
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_ERROR, 1);
        return DM_DONE;
    }
    ctx->head_sent = (size_t) (hb.pos - ctx->head.data);
    ctx->in.pos = bb.pos;
    if ((size_t) (hb.last - hb.pos) + (size_t) (bb.last - bb.pos) == before) {
        if (dm_event_timer_add(u->write, ctx->conf->send_timeout) != DM_OK) {
            return DM_AGAIN;
        }
        return DM_AGAIN;
    }
    ctx->any_sent = 1;
    if (rest) {
        (void) dm_event_timer_add(u->write, ctx->conf->send_timeout);
    } else {
        dm_event_timer_del(u->write);
    }
    return DM_OK;
}

/* Whether `name` is in a proxy_hide_header / proxy_pass_header list. */
static int
dm_http_proxy_listed(const dm_array_t *list, const u_char *name, size_t len)
{
    const dm_str_t *n;
    dm_uint_t i;

    if (list == NULL) {
        return 0;
    }
    n = list->elts;
    for (i = 0; i < list->nelts; i++) {
        if (n[i].len == len
            && strncasecmp((const char *) n[i].data, (const char *) name, len)
                   == 0) {
            return 1;
        }
    }
    return 0;
}

/* A header of the response the client does not get from the upstream:
   hop-by-hop ones, the framing doorman regenerates, Date, Server and
   X-Accel-* unless passed, and the hidden ones. */
static int
dm_http_proxy_hidden(dm_http_proxy_ctx_t *ctx, const dm_http_header_t *h)
{
    dm_http_proxy_loc_conf_t *plcf = ctx->conf;

    if (h->hop || h->id == DM_HTTP_HDR_CONTENT_LENGTH) {
        return 1;
    }
    if ((dm_http_header_is(h, "date") || dm_http_header_is(h, "server")
         || (h->name.len > 8
             && strncasecmp((char *) h->name.data, "x-accel-", 8) == 0))
        && !dm_http_proxy_listed(plcf->pass, h->name.data, h->name.len)) {
        return 1;
    }
    return dm_http_proxy_listed(plcf->hide, h->name.data, h->name.len);
}

/* The response head for the client, regenerated. */
static dm_int_t
dm_http_proxy_client_head(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_http_response_head_t *resp = &ctx->resp;
    dm_http_header_t *h = resp->headers;
    dm_str_t extra;
    size_t len;
    dm_uint_t i;
    u_char *p;

    if (dm_http_headers_eval(r, resp->status, &extra) != DM_OK) {
        return DM_ERROR;
    }
    len = 128 + resp->reason.len + dm_cached_http_time.len + extra.len;
    for (i = 0; i < resp->nheaders; i++) {
        len += h[i].name.len + h[i].value.len + 4;
    }
    p = dm_pnalloc(r->pool, len);
    if (p == NULL) {
        return DM_ERROR;
    }
    ctx->chead.data = p;
    p = (u_char *) memcpy(p, "HTTP/1.1 ", 9) + 9;
    p = dm_sprint_uint(p, resp->status);
    *p++ = ' ';
    p = (u_char *) memcpy(p, resp->reason.data, resp->reason.len)
        + resp->reason.len;
    *p++ = '\r';
    *p++ = '\n';
    if (!dm_http_proxy_listed(ctx->conf->pass, (const u_char *) "server", 6)) {
        p = (u_char *) memcpy(p, "Server: doorman\r\n", 17) + 17;
    }
    if (!dm_http_proxy_listed(ctx->conf->pass, (const u_char *) "date", 4)) {
        p = (u_char *) memcpy(p, "Date: ", 6) + 6;
        p = (u_char *) memcpy(p, dm_cached_http_time.data,
                              dm_cached_http_time.len)
            + dm_cached_http_time.len;
        *p++ = '\r';
        *p++ = '\n';
    }
    for (i = 0; i < resp->nheaders; i++) {
        if (dm_http_proxy_hidden(ctx, &h[i])) {
            continue;
        }
        p = (u_char *) memcpy(p, h[i].name.data, h[i].name.len) + h[i].name.len;
        *p++ = ':';
        *p++ = ' ';
        p = (u_char *) memcpy(p, h[i].value.data, h[i].value.len)
            + h[i].value.len;
        *p++ = '\r';
        *p++ = '\n';
    }
    if (resp->status == 101) {
        p = (u_char *) memcpy(
                p, "Connection: upgrade\r\nUpgrade: websocket\r\n", 41)
            + 41;
    } else {
        if (resp->no_body) {
            if (resp->content_length >= 0
                && r->head.method_id == DM_HTTP_METHOD_HEAD) {
                p = (u_char *) memcpy(p, "Content-Length: ", 16) + 16;
                p = dm_sprint_uint(p, (uint64_t) resp->content_length);
                *p++ = '\r';
                *p++ = '\n';
            }
        } else if ((resp->chunked && !ctx->decode) || ctx->client_chunked) {
            p = (u_char *) memcpy(p, "Transfer-Encoding: chunked\r\n", 28) + 28;
        } else if (resp->content_length >= 0) {
            p = (u_char *) memcpy(p, "Content-Length: ", 16) + 16;
            p = dm_sprint_uint(p, (uint64_t) resp->content_length);
            *p++ = '\r';
            *p++ = '\n';
        }
        if (extra.len) {
            p = (u_char *) memcpy(p, extra.data, extra.len) + extra.len;
        }
        if (ctx->close_client || !dm_http_request_keepalive(r)) {
            r->keepalive = 0;
            p = (u_char *) memcpy(p, "Connection: close\r\n", 19) + 19;
        } else {
            p = (u_char *) memcpy(p, "Connection: keep-alive\r\n", 24) + 24;
        }
    }
    *p++ = '\r';
    *p++ = '\n';
    ctx->chead.len = (size_t) (p - ctx->chead.data);
    return DM_OK;
}

static dm_uint_t
dm_http_proxy_status_ft(dm_uint_t status)
{
    switch (status) {
    case 500:
        return DM_HTTP_PROXY_FT_500;
    case 502:
        return DM_HTTP_PROXY_FT_502;
    case 503:
        return DM_HTTP_PROXY_FT_503;
    case 504:
        return DM_HTTP_PROXY_FT_504;
    case 429:
        return DM_HTTP_PROXY_FT_429;
    }
    return 0;
}

static int
dm_http_proxy_upgrade_ok(dm_http_proxy_ctx_t *ctx)
{
    dm_http_header_t *h = ctx->resp.headers;
    dm_uint_t i;

    for (i = 0; i < ctx->resp.nheaders; i++) {
        if (h[i].id == DM_HTTP_HDR_UPGRADE && h[i].value.len == 9
            && strncasecmp((char *) h[i].value.data, "websocket", 9) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether a peer not tried yet could take the request now. */
static int
dm_http_proxy_peer_left(dm_http_proxy_ctx_t *ctx)
{
    dm_upstream_group_t *g = ctx->group;
    const char *why;
    dm_uint_t i;

    for (i = 0; i < g->npeers; i++) {
        if (!(ctx->pick.tried[i / 64] & ((uint64_t) 1 << (i % 64)))
            && dm_upstream_eligible(&ctx->pick, &g->peers[i], 0, &why)) {
            return 1;
        }
    }
    return 0;
}

static dm_int_t
dm_http_proxy_parse_head(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_http_proxy_loc_conf_t *plcf = ctx->conf;
    dm_http_proxy_attempt_t *a = &ctx->attempts[ctx->nattempts - 1];
    dm_http_parse_limits_t limits;
    dm_http_parse_error_t err;
    dm_uint_t ft;
    ssize_t rc;

    for (;;) {
        memset(&limits, 0, sizeof(limits));
        limits.max_line = plcf->buffer_size;
        limits.max_head = plcf->buffer_size;
        limits.max_headers = DM_HTTP_PROXY_MAX_FIELDS;
        limits.bare_lf = 1;
        memset(&ctx->resp, 0, sizeof(ctx->resp));
        ctx->resp.headers = ctx->resp_headers;
        ctx->resp.nheaders = DM_HTTP_PROXY_MAX_FIELDS;
        rc = dm_http_parse_response(
            ctx->out.pos, (size_t) (ctx->out.last - ctx->out.pos), &limits,
            r->head.method_id == DM_HTTP_METHOD_HEAD, &ctx->resp, &err);
        if (rc == DM_HTTP_PARSE_ERROR
            || (rc == 0 && ctx->out.last == ctx->out.end)) {
            dm_log_error(DM_LOG_ERR, ctx->upstream->log, 0,
                         "upstream %.*s sent an invalid response: %s",
                         DM_STR_ARG(a->addr),
                         rc == 0 ? "its head is too large" : err.reason);
            dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_INVALID_HEADER, 1);
            return DM_DONE;
        }
        if (rc <= 0) {
            return DM_AGAIN;
        }
        if (ctx->resp.status < 200 && ctx->resp.status != 101) {
            /* 100, 102, 103: dropped, as nginx */
            ctx->out.pos += rc;
            continue;
        }
        break;
    }
    a->status = ctx->resp.status;
    a->has_header = 1;
    a->header = dm_current_msec - ctx->attempt_start;
    if (ctx->resp.status == 101
        && !(ctx->upgrade && dm_http_proxy_upgrade_ok(ctx))) {
        dm_log_error(DM_LOG_ERR, ctx->upstream->log, 0,
                     "upstream %.*s answered 101 to a request that asked for "
                     "no WebSocket upgrade",
                     DM_STR_ARG(a->addr));
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_INVALID_HEADER, 1);
        return DM_DONE;
    }
    ft = dm_http_proxy_status_ft(ctx->resp.status);
    if (ft && (plcf->next_upstream & ft) && ctx->group
        && !(plcf->next_upstream & DM_HTTP_PROXY_FT_OFF)) {
        /* worth another peer if one is left: dm_http_proxy_next decides,
           and answers this status itself when none is */
        if (dm_http_proxy_peer_left(ctx)
            && (plcf->next_upstream_tries == 0
                || ctx->pick.tries < (dm_uint_t) plcf->next_upstream_tries)
            && (ctx->body_kept || ctx->body_total == 0)) {
            dm_log_error(DM_LOG_WARN, ctx->upstream->log, 0,
                         "upstream %.*s answered %u, trying the next one",
                         DM_STR_ARG(a->addr), ctx->resp.status);
            dm_http_proxy_next(ctx, ft, ctx->resp.status != 429);
            return DM_DONE;
        }
    }
    ctx->header_done = 1;
    ctx->fresh_retry = 0;
    ctx->out.pos += rc;
    ctx->fwd = ctx->out.pos;
    ctx->dec = ctx->out.pos;
    r->status = ctx->resp.status;

    if (ctx->resp.status == 101) {
        if (dm_http_proxy_client_head(ctx) != DM_OK) {
            dm_http_proxy_finish(ctx, 500);
            return DM_DONE;
        }
        dm_http_proxy_tunnel_start(ctx);
        return DM_DONE;
    }
    if (ctx->resp.no_body) {
        ctx->resp_done = 1;
    } else if (ctx->resp.chunked) {
        dm_http_chunked_init(&ctx->chunked);
        if (r->head.version < 11) {
            ctx->decode = 1;
        }
    } else if (ctx->resp.content_length >= 0) {
        ctx->resp_left = ctx->resp.content_length;
        if (ctx->resp_left == 0) {
            ctx->resp_done = 1;
        }
    } else if (r->head.version >= 11) {
        /* delimited by the upstream's close: chunked for the client */
        ctx->client_chunked = 1;
    } else {
        ctx->close_client = 1;
    }
    if (ctx->decode) {
        ctx->close_client = 1;
    }
    ctx->upstream_keep = ctx->resp.keep_alive && !ctx->resp.close_delimited
                         && plcf->http_version == 11;
    if (dm_http_proxy_client_head(ctx) != DM_OK) {
        dm_http_proxy_finish(ctx, 500);
        return DM_DONE;
    }
    return DM_OK;
}

/* Checks the framing of what arrived: [out.pos, fwd) may go out. */
static dm_int_t
dm_http_proxy_frame(dm_http_proxy_ctx_t *ctx)
{
    dm_http_parse_error_t err;
    const u_char *data;
    size_t avail, used, dlen;
    dm_int_t rc;

    if (ctx->resp_done) {
        if (ctx->out.last > ctx->fwd) {
            /* bytes after the response: the connection is not clean */
            ctx->upstream_keep = 0;
        }
        return DM_OK;
    }
    if (ctx->resp.chunked) {
        while (ctx->fwd < ctx->out.last) {
            rc = dm_http_chunked_parse(&ctx->chunked, ctx->fwd,
                                       (size_t) (ctx->out.last - ctx->fwd), 0,
                                       &used, &data, &dlen, &err);
            if (rc == DM_ERROR) {
                dm_log_error(DM_LOG_ERR, ctx->request->connection->log, 0,
                             "upstream sent an invalid chunked body: %s",
                             err.reason);
                dm_http_proxy_finish(ctx, 502);
                return DM_DONE;
            }
            if (ctx->decode && dlen) {
                memmove(ctx->dec, data, dlen);
                ctx->dec += dlen;
            }
            ctx->fwd += used;
            if (rc == DM_DONE) {
                ctx->resp_done = 1;
                if (ctx->out.last > ctx->fwd) {
                    ctx->upstream_keep = 0;
                }
                break;
            }
            if (rc == DM_AGAIN) {
                break;
            }
        }
        return DM_OK;
    }
    avail = (size_t) (ctx->out.last - ctx->fwd);
    if (ctx->resp.content_length >= 0) {
        avail = (size_t) dm_min((int64_t) avail, ctx->resp_left);
        ctx->resp_left -= (int64_t) avail;
        ctx->fwd += avail;
        if (ctx->resp_left == 0) {
            ctx->resp_done = 1;
            if (ctx->out.last > ctx->fwd) {
                ctx->upstream_keep = 0;
            }
        }
        return DM_OK;
    }
    ctx->fwd += avail; /* delimited by close */
    return DM_OK;
}

static dm_int_t
dm_http_proxy_read_response(dm_http_proxy_ctx_t *ctx)
{
    dm_connection_t *u = ctx->upstream;
    dm_http_proxy_attempt_t *a;
    u_char *end;
    size_t keep;
    dm_int_t rc;
    ssize_t n;

    if (u == NULL || !ctx->connected || ctx->resp_done) {
        return DM_AGAIN;
    }
    if (ctx->out.last == ctx->out.end) {
        if (!ctx->header_done) {
            rc = dm_http_proxy_parse_head(ctx);
            return rc == DM_OK ? dm_http_proxy_frame(ctx) : rc;
        }
        end = ctx->decode ? ctx->dec : ctx->fwd;
        if (ctx->out.pos == end && ctx->fwd == ctx->out.last) {
            /* everything was forwarded: start over */
            ctx->out.pos = ctx->out.last = ctx->fwd = ctx->dec = ctx->out.start;
        } else if (ctx->out.pos > ctx->out.start && !ctx->decode) {
            keep = (size_t) (ctx->out.last - ctx->out.pos);
            memmove(ctx->out.start, ctx->out.pos, keep);
            ctx->fwd -= ctx->out.pos - ctx->out.start;
            ctx->out.pos = ctx->out.start;
            ctx->out.last = ctx->out.start + keep;
            ctx->dec = ctx->fwd;
        } else {
            return DM_AGAIN;
        }
    }
    if (!u->read->ready) {
        return DM_AGAIN;
    }
    n = u->recv(u, ctx->out.last, (size_t) (ctx->out.end - ctx->out.last));
    if (n == DM_AGAIN) {
        return DM_AGAIN;
    }
    if (n == 0 || n == DM_ERROR) {
        if (!ctx->header_done) {
            a = &ctx->attempts[ctx->nattempts - 1];
            dm_log_error(DM_LOG_ERR, u->log, 0,
                         "upstream %.*s closed the connection before the "
                         "response head%s",
                         DM_STR_ARG(a->addr),
                         ctx->reused ? " (a pooled connection)" : "");
            dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_ERROR, !ctx->reused);
            return DM_DONE;
        }
        if (ctx->resp.content_length < 0 && !ctx->resp.chunked) {
            ctx->resp_done = 1; /* the end of a close-delimited body */
            ctx->upstream_keep = 0;
            return DM_OK;
        }
        dm_log_error(DM_LOG_ERR, u->log, 0,
                     "upstream closed the connection before the end of the "
                     "response body");
        dm_http_proxy_finish(ctx, 502);
        return DM_DONE;
    }
    ctx->out.last += n;
    ctx->resp_bytes += (uint64_t) n;
    if (dm_event_timer_add(u->read, ctx->conf->read_timeout) != DM_OK) {
        return DM_AGAIN;
    }
    if (!ctx->header_done) {
        rc = dm_http_proxy_parse_head(ctx);
        if (rc != DM_OK) {
            return rc;
        }
    }
    return dm_http_proxy_frame(ctx);
}

/*
 * A body delimited by the upstream's close goes to an HTTP/1.1 client
 * chunked, so that its connection stays alive: each batch of bytes that
 * arrived becomes one chunk ("SIZE\r\n", the bytes, "\r\n"), the end a
 * last chunk. Returns 1 when framing is pending or was set up.
 */
static int
dm_http_proxy_frame_next(dm_http_proxy_ctx_t *ctx, u_char *end)
{
    size_t avail = (size_t) (end - ctx->out.pos);

    if (ctx->frame_pos < ctx->frame_len || ctx->frame_left || ctx->crlf_left) {
        return 1;
    }
    if (avail) {
        ctx->frame_len =
            (size_t) (dm_http_proxy_hex(ctx->frame, avail) - ctx->frame);
        ctx->frame_pos = 0;
        ctx->frame_left = avail;
        ctx->crlf_left = 2;
        return 1;
    }
    if (ctx->resp_done && !ctx->last_chunk) {
        memcpy(ctx->frame, "0\r\n\r\n", 5);
        ctx->frame_len = 5;
        ctx->frame_pos = 0;
        ctx->last_chunk = 1;
        return 1;
    }
    return 0;
}

static dm_int_t
dm_http_proxy_send_response(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_connection_t *c = r->connection;
    dm_http_core_loc_conf_t *clcf =
        dm_http_request_loc_conf(r, dm_http_core_module);
    dm_chain_t cl[4], *rest;
    dm_buf_t hb, fb, bb, tb;
    u_char *end;
    size_t before, after, body;
    int framing = 0;

    if (!ctx->header_done) {
        return DM_AGAIN;
    }
    end = ctx->decode ? ctx->dec : ctx->fwd;
    if (r->head.method_id == DM_HTTP_METHOD_HEAD) {
        /* nothing follows the head of a HEAD answer */
        ctx->out.pos = end;
    }
    if (ctx->client_chunked) {
        framing = dm_http_proxy_frame_next(ctx, end);
    }
    if (ctx->chead_sent == ctx->chead.len && ctx->out.pos == end && !framing) {
        if (ctx->resp_done) {
            dm_http_proxy_finish(ctx, 0);
            return DM_DONE;
        }
        return DM_AGAIN;
    }
    if (!c->write->ready) {
        return DM_AGAIN;
    }
    memset(&hb, 0, sizeof(hb));
    memset(&fb, 0, sizeof(fb));
    memset(&bb, 0, sizeof(bb));
    memset(&tb, 0, sizeof(tb));
    hb.pos = ctx->chead.data + ctx->chead_sent;
    hb.last = ctx->chead.data + ctx->chead.len;
    bb.pos = ctx->out.pos;
    bb.last = end;
    if (ctx->client_chunked) {
        fb.pos = ctx->frame + ctx->frame_pos;
        fb.last = ctx->frame + ctx->frame_len;
        bb.last = ctx->out.pos + ctx->frame_left;
        tb.pos = (u_char *) "\r\n" + (2 - ctx->crlf_left);
        tb.last = tb.pos + ctx->crlf_left;
    }
    cl[0].buf = &hb;
    cl[0].next = &cl[1];
    cl[1].buf = &fb;
    cl[1].next = &cl[2];
    cl[2].buf = &bb;
    cl[2].next = &cl[3];
    cl[3].buf = &tb;
    cl[3].next = NULL;
    before = (size_t) (hb.last - hb.pos) + (size_t) (fb.last - fb.pos)
             + (size_t) (bb.last - bb.pos) + (size_t) (tb.last - tb.pos);
    rest = c->send_chain(c, &cl[0], 0);
    if (rest == DM_CHAIN_ERROR) {
        dm_http_proxy_finish(ctx, 499);
        return DM_DONE;
    }
    after = (size_t) (hb.last - hb.pos) + (size_t) (fb.last - fb.pos)
            + (size_t) (bb.last - bb.pos) + (size_t) (tb.last - tb.pos);
    ctx->chead_sent = (size_t) (hb.pos - ctx->chead.data);
    ctx->header_sent = 1;
    body = (size_t) (bb.pos - ctx->out.pos);
    ctx->out.pos = bb.pos;
    r->body_bytes_sent += (off_t) body;
    if (ctx->client_chunked) {
        ctx->frame_pos = (size_t) (fb.pos - ctx->frame);
        ctx->frame_left -= body;
        ctx->crlf_left = (unsigned) (tb.last - tb.pos);
        if (ctx->last_chunk && ctx->frame_pos == ctx->frame_len) {
            ctx->crlf_left = 0;
        }
    }
    if (after == before) {
        (void) dm_event_timer_add(c->write, clcf->send_timeout);
        return DM_AGAIN;
    }
    if (rest) {
        (void) dm_event_timer_add(c->write, clcf->send_timeout);
    } else {
        dm_event_timer_del(c->write);
    }
    if (ctx->out.pos == ctx->out.last && ctx->fwd == ctx->out.last) {
        ctx->out.pos = ctx->out.last = ctx->fwd = ctx->dec = ctx->out.start;
    }
    return DM_OK;
}

void
dm_http_proxy_relay(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_connection_t *c = r->connection, *u = ctx->upstream;
    dm_http_core_loc_conf_t *clcf =
        dm_http_request_loc_conf(r, dm_http_core_module);
    dm_int_t rc, progress;
    dm_uint_t rounds;

    c->read->handler = dm_http_proxy_client_read;
    c->write->handler = dm_http_proxy_client_write;
    if (u) {
        u->read->handler = dm_http_proxy_upstream_read;
        u->write->handler =
            ctx->connected ? dm_http_proxy_upstream_write : u->write->handler;
    }
    /* bounded: a fast pair of peers must not starve the other connections */
    for (rounds = 0; rounds < 64; rounds++) {
        progress = 0;
        rc = dm_http_proxy_read_body(ctx);
        if (rc == DM_DONE) {
            return;
        }
        progress |= rc == DM_OK;
        rc = dm_http_proxy_send_request(ctx);
        if (rc == DM_DONE) {
            return;
        }
        progress |= rc == DM_OK;
        rc = dm_http_proxy_read_response(ctx);
        if (rc == DM_DONE) {
            return;
        }
        progress |= rc == DM_OK;
        rc = dm_http_proxy_send_response(ctx);
        if (rc == DM_DONE) {
            return;
        }
        progress |= rc == DM_OK;
        if (!progress) {
            break;
        }
    }
    if (rounds == 64) {
        /* more to do: come back after the other events */
        dm_event_post(c->write, &dm_event_posted);
    }
    if (!ctx->body_done && !c->read->ready && ctx->in.last < ctx->in.end) {
        (void) dm_event_timer_add(c->read, clcf->body_timeout);
    } else if (ctx->body_done) {
        dm_event_timer_del(c->read);
    }
}

static void
dm_http_proxy_client_read(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;
    dm_http_request_t *r = ((dm_http_conn_t *) c->data)->request;
    dm_http_proxy_ctx_t *ctx;
    u_char b;
    ssize_t n;

    if (r == NULL) {
        return;
    }
    ctx = r->ctx[dm_http_proxy_module.ctx_index];
    if (ev->timedout) {
        dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                     "client timed out (client_body_timeout)");
        ev->timedout = 0;
        dm_http_proxy_finish(ctx, 408);
        return;
    }
    if (ctx->body_done && !ctx->tunnel) {
        /* nothing to read now: only a close matters (pipelined bytes
           wait for their turn) */
        n = recv(c->fd, &b, 1, MSG_PEEK);
        if (n == 0
            || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                && errno != EINTR)) {
            dm_log_error(DM_LOG_INFO, c->log, 0,
                         "client closed the connection while waiting for "
                         "the upstream");
            dm_http_proxy_finish(ctx, 499);
            return;
        }
        if (n < 0) {
            ev->ready = 0;
        }
        return;
    }
    dm_http_proxy_relay(ctx);
}

static void
dm_http_proxy_client_write(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;
    dm_http_request_t *r = ((dm_http_conn_t *) c->data)->request;
    dm_http_proxy_ctx_t *ctx;

    if (r == NULL) {
        return;
    }
    ctx = r->ctx[dm_http_proxy_module.ctx_index];
    if (ev->timedout) {
        dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                     "client timed out (send_timeout)");
        ev->timedout = 0;
        dm_http_proxy_finish(ctx, 499);
        return;
    }
    dm_http_proxy_relay(ctx);
}

static void
dm_http_proxy_upstream_read(dm_event_t *ev)
{
    dm_connection_t *u = ev->data;
    dm_http_proxy_ctx_t *ctx = u->data;

    if (ev->timedout) {
        ev->timedout = 0;
        dm_log_error(DM_LOG_ERR, u->log, ETIMEDOUT,
                     "upstream timed out (proxy_read_timeout)");
        if (ctx->header_sent) {
            dm_http_proxy_finish(ctx, 504);
            return;
        }
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_TIMEOUT, 1);
        return;
    }
    dm_http_proxy_relay(ctx);
}

static void
dm_http_proxy_upstream_write(dm_event_t *ev)
{
    dm_connection_t *u = ev->data;
    dm_http_proxy_ctx_t *ctx = u->data;

    if (ev->timedout) {
        ev->timedout = 0;
        dm_log_error(DM_LOG_ERR, u->log, ETIMEDOUT,
                     "upstream timed out (proxy_send_timeout)");
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_TIMEOUT, 1);
        return;
    }
    dm_http_proxy_relay(ctx);
}
