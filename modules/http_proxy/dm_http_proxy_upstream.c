/*
 * doorman: http_proxy: choosing the upstream, connecting (or taking a
 * pooled connection), retrying, and ending the request.
 *
 * A request goes to the peer the balancer chooses; on a failure it goes to
 * the next one when proxy_next_upstream allows it: not after a response
 * byte reached the client, not when the body was streamed and not kept,
 * and for a non-idempotent method (POST, PATCH, LOCK) not once a byte of
 * it went upstream unless non_idempotent is listed. A pooled connection
 * that fails before any response byte is retried once on a fresh
 * connection to the same peer, which is not counted against the peer: a
 * backend may close an idle connection at any moment.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_http_conf.h>
#include <dm_http_parse.h>
#include <dm_http_request.h>
#include <dm_http_realip.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_proxy_protocol.h>
#include <dm_http_proxy.h>

static void dm_http_proxy_connect(dm_http_proxy_ctx_t *ctx);
static void dm_http_proxy_connected(dm_event_t *wev);

static dm_http_proxy_ups_conf_t dm_http_proxy_ups_default = {
    DM_CONF_UNSET, DM_CONF_UNSET_MSEC, DM_CONF_UNSET};

/* --- a per-worker cache of relay buffers (no allocation once warm) --- */

#define DM_HTTP_PROXY_BUF_CACHE 256

typedef struct {
    u_char *block;
    size_t size;
} dm_http_proxy_block_t;

static dm_http_proxy_block_t dm_http_proxy_blocks[DM_HTTP_PROXY_BUF_CACHE];
static dm_uint_t dm_http_proxy_nblocks;

typedef struct {
    u_char *block;
    size_t size;
} dm_http_proxy_held_t;

static void
dm_http_proxy_block_release(void *data)
{
    dm_http_proxy_held_t *h = data;

    if (h->block == NULL) {
        return;
    }
    if (dm_http_proxy_nblocks < DM_HTTP_PROXY_BUF_CACHE) {
        dm_http_proxy_blocks[dm_http_proxy_nblocks].block = h->block;
        dm_http_proxy_blocks[dm_http_proxy_nblocks].size = h->size;
        dm_http_proxy_nblocks++;
    } else {
        free(h->block);
    }
    h->block = NULL;
}

static u_char *
dm_http_proxy_block_get(dm_http_request_t *r, size_t size)
{
    dm_pool_cleanup_t *cln;
    dm_http_proxy_held_t *h;
    u_char *b = NULL;
    dm_uint_t i;

    cln = dm_pool_cleanup_add(r->pool, sizeof(dm_http_proxy_held_t));
    if (cln == NULL) {
        return NULL;
    }
    for (i = dm_http_proxy_nblocks; i > 0; i--) {
        if (dm_http_proxy_blocks[i - 1].size == size) {
            b = dm_http_proxy_blocks[i - 1].block;
            dm_http_proxy_blocks[i - 1] =
                dm_http_proxy_blocks[dm_http_proxy_nblocks - 1];
            dm_http_proxy_nblocks--;
            break;
        }
    }
    if (b == NULL) {
        b = malloc(size);
        if (b == NULL) {
            return NULL;
        }
    }
    h = cln->data;
    h->block = b;
    h->size = size;
    cln->handler = dm_http_proxy_block_release;
    return b;
}

/* --- the URI sent upstream ----------------------------------------------- */

/* Bytes of a decoded path that go as they are; the rest is %XX. */
static int
dm_http_proxy_uri_plain(u_char ch)
{
    static const char ok[] = "-._~!$&'()*+,;=:@/";

    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch >= '0' && ch <= '9') || (ch && strchr(ok, ch));
}

static u_char *
dm_http_proxy_escape(u_char *p, const u_char *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < len; i++) {
        if (dm_http_proxy_uri_plain(src[i])) {
            *p++ = src[i];
        } else {
            *p++ = '%';
            *p++ = (u_char) hex[src[i] >> 4];
            *p++ = (u_char) hex[src[i] & 15];
        }
    }
    return p;
}

/*
 * As nginx: without a URI in proxy_pass the client's target goes as it
 * came (unless a rewrite changed $uri: then $uri, encoded, and $args); with
 * one, the location's prefix in $uri is replaced by it.
 */
static dm_int_t
dm_http_proxy_uri(dm_http_proxy_ctx_t *ctx, const dm_str_t *uri, int has_uri,
                  dm_str_t *out)
{
    dm_http_request_t *r = ctx->request;
    dm_http_proxy_loc_conf_t *plcf = ctx->conf;
    const dm_str_t *path = &r->head.path;
    dm_str_t pre = dm_null_string, rest = *path;
    u_char *p;
    size_t n;

    if (!has_uri && !r->uri_rewritten) {
        out->data = r->head.target.data;
        out->len = r->head.target.len;
        if (r->head.absolute_form) {
            /* the origin-form part of http://authority/path?args */
            u_char *s = memchr(out->data + 7, '/', out->len - 7);
            u_char *q = memchr(out->data + 7, '?', out->len - 7);

            if (s == NULL || (q && q < s)) {
                s = q;
            }
            if (s == NULL) {
                out->data = (u_char *) "/";
                out->len = 1;
                return DM_OK;
            }
            out->len -= (size_t) (s - out->data);
            out->data = s;
            if (*s == '?') {
                p = dm_pnalloc(r->pool, out->len + 1);
                if (p == NULL) {
                    return DM_ERROR;
                }
                p[0] = '/';
                memcpy(p + 1, out->data, out->len);
                out->data = p;
                out->len++;
            }
        }
        return DM_OK;
    }
    if (has_uri) {
        pre = *uri;
        if (!r->uri_rewritten && plcf->loc_prefix.len
            && path->len >= plcf->loc_prefix.len
            && memcmp(path->data, plcf->loc_prefix.data, plcf->loc_prefix.len)
                   == 0) {
            rest.data = path->data + plcf->loc_prefix.len;
            rest.len = path->len - plcf->loc_prefix.len;
        } else if (!r->uri_rewritten) {
            rest.len = 0;
        } else {
            /* rewrite ... break: the changed $uri goes whole */
            pre.len = 0;
        }
    }
    n = pre.len + 3 * rest.len + 1 + r->head.args.len;
    p = dm_pnalloc(r->pool, n);
    if (p == NULL) {
        return DM_ERROR;
    }
    out->data = p;
    memcpy(p, pre.data, pre.len);
    p += pre.len;
    p = dm_http_proxy_escape(p, rest.data, rest.len);
    if (r->head.args.len) {
        *p++ = '?';
        memcpy(p, r->head.args.data, r->head.args.len);
        p += r->head.args.len;
    }
    out->len = (size_t) (p - out->data);
    if (out->len == 0) {
        out->data = (u_char *) "/";
        out->len = 1;
    }
    return DM_OK;
}

/* proxy_pass http[s]://$var...: an upstream's name or an address, and a
   URI; https:// goes over TLS (port 443 unless given). */
static dm_int_t
dm_http_proxy_target(dm_http_proxy_ctx_t *ctx, dm_str_t *uri, int *has_uri)
{
    dm_http_request_t *r = ctx->request;
    dm_upstream_main_conf_t *umcf =
        dm_http_request_main_conf(r, dm_http_upstream_module);
    dm_upstream_srv_conf_t *uscf;
    dm_inet_addr_t addr;
    dm_str_t v, host;
    const char *err;
    u_char *slash;
    in_port_t port;
    size_t skip;

    if (dm_complex_eval(&r->vars, ctx->conf->target, &v) != DM_OK) {
        return DM_ERROR;
    }
    if (v.len > 8 && strncasecmp((char *) v.data, "https://", 8) == 0) {
        ctx->tls = &ctx->conf->ssl;
        skip = 8;
        port = 443;
    } else if (v.len > 7 && strncasecmp((char *) v.data, "http://", 7) == 0) {
        ctx->tls = NULL;
        skip = 7;
        port = 80;
    } else {
        goto bad;
    }
    host.data = v.data + skip;
    host.len = v.len - skip;
    slash = memchr(host.data, '/', host.len);
    if (slash) {
        uri->data = slash;
        uri->len = (size_t) (host.data + host.len - slash);
        host.len = (size_t) (slash - host.data);
        *has_uri = 1;
    }
    ctx->proxy_host = host;
    uscf = dm_upstream_conf_find(umcf, &host);
    if (uscf && uscf->group) {
        ctx->group = uscf->group;
        if (uscf->ctx) {
            ctx->ups = uscf->ctx->srv_conf[dm_http_proxy_module.ctx_index];
        }
        return DM_OK;
    }
    if (host.len == 0
        || dm_inet_parse(host.data, host.len, port, &addr, &err) != DM_OK) {
        goto bad;
    }
    ctx->addr = dm_palloc(r->pool, addr.socklen);
    if (ctx->addr == NULL) {
        return DM_ERROR;
    }
    memcpy(ctx->addr, &addr.sa, addr.socklen);
    ctx->addrlen = addr.socklen;
    ctx->addr_text = host;
    return DM_OK;

bad:
    dm_log_error(DM_LOG_ERR, r->connection->log, 0,
                 "proxy_pass \"%.*s\" names neither an upstream nor an "
                 "address",
                 DM_STR_ARG(v));
    return DM_ERROR;
}

/* The upstream request head, from the configuration and the request. */
static dm_int_t
dm_http_proxy_make_head(dm_http_proxy_ctx_t *ctx, const dm_str_t *uri,
                        int has_uri)
{
    static const dm_str_t host_name = dm_string("Host");
    dm_http_request_t *r = ctx->request;
    dm_http_proxy_loc_conf_t *plcf = ctx->conf;
    dm_http_proxy_head_in_t in;
    dm_http_proxy_header_t *set;
    dm_http_proxy_set_t *cs;
    dm_uint_t i, n = 0, ncs;
    int host_set = 0;
    size_t size;
    ssize_t len;
    u_char *p;

    memset(&in, 0, sizeof(in));
    in.method = r->head.method;
    if (dm_http_proxy_uri(ctx, uri, has_uri, &in.uri) != DM_OK) {
        return DM_ERROR;
    }
    in.in = &r->head;
    ncs = plcf->set ? plcf->set->nelts : 0;
    set = dm_palloc(r->pool, (ncs + 1) * sizeof(dm_http_proxy_header_t));
    if (set == NULL) {
        return DM_ERROR;
    }
    cs = plcf->set ? plcf->set->elts : NULL;
    for (i = 0; i < ncs; i++) {
        if (cs[i].name.len == 4
            && strncasecmp((char *) cs[i].name.data, "host", 4) == 0) {
            host_set = 1;
        }
    }
    if (!host_set) {
        /* nginx's default: Host $proxy_host */
        set[n].name = host_name;
        set[n].value = ctx->proxy_host;
        n++;
    }
    for (i = 0; i < ncs; i++) {
        set[n].name = cs[i].name;
        if (dm_complex_eval(&r->vars, &cs[i].value, &set[n].value) != DM_OK) {
            return DM_ERROR;
        }
        n++;
    }
    in.set = set;
    in.nset = n;
    in.client_addr = r->connection->addr_text;
    /* a balancer that sent a PROXY header is no HTTP hop: the chain goes
       on from the client it named */
    in.peer_addr = dm_http_realip_transparent(r) ? in.client_addr
                                                 : *dm_http_realip_peer(r);
    if (r->connection->ssl) {
        dm_str_set(&in.scheme, "https");
    } else {
        dm_str_set(&in.scheme, "http");
    }
    in.host = r->head.host_name;
    if ((plcf->add & DM_HTTP_PROXY_REQID) && r->request_id[0] == '\0'
        && dm_http_request_id(r) != DM_OK) {
        return DM_ERROR;
    }
    in.request_id.data = r->request_id;
    in.request_id.len = r->request_id[0] ? 32 : 0;
    in.add = plcf->add;
    in.trusted = dm_http_realip_trusted(r) ? 1 : 0;
    in.underscores = plcf->underscores ? 1 : 0;
    in.upgrade = ctx->upgrade;
    in.keepalive = plcf->http_version == 11;
    in.content_length = r->head.content_length;
    in.chunked = r->head.chunked;
    size = dm_http_proxy_head_size(&in);
    p = dm_pnalloc(r->pool, size);
    if (p == NULL) {
        return DM_ERROR;
    }
    len = dm_http_proxy_head_write(&in, p, size);
    if (len < 0) {
        return DM_ERROR;
    }
    ctx->head.data = p;
    ctx->head.len = (size_t) len;
    return DM_OK;
}

/* A WebSocket upgrade is forwarded; any other (h2c...) is stripped. */
static int
dm_http_proxy_wants_upgrade(dm_http_request_t *r)
{
    dm_http_header_t *h = r->head.headers;
    dm_uint_t i;

    if (!r->head.upgrade || r->head.method_id != DM_HTTP_METHOD_GET) {
        return 0;
    }
    for (i = 0; i < r->head.nheaders; i++) {
        if (h[i].id == DM_HTTP_HDR_UPGRADE && h[i].value.len == 9
            && strncasecmp((char *) h[i].value.data, "websocket", 9) == 0) {
            return 1;
        }
    }
    return 0;
}

void
dm_http_proxy_start(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_http_proxy_loc_conf_t *plcf = ctx->conf;
    dm_http_core_loc_conf_t *clcf =
        dm_http_request_loc_conf(r, dm_http_core_module);
    dm_connection_t *c = r->connection;
    dm_str_t uri = plcf->uri;
    int has_uri = plcf->has_uri;
    size_t size;
    u_char *b;

    ctx->start = dm_current_msec;
    ctx->ups = &dm_http_proxy_ups_default;
    if (clcf->max_body && r->head.content_length > (int64_t) clcf->max_body) {
        (void) dm_http_request_respond(r, 413, NULL, NULL);
        return;
    }
    if (plcf->target) {
        if (dm_http_proxy_target(ctx, &uri, &has_uri) != DM_OK) {
            (void) dm_http_request_respond(r, 500, NULL, NULL);
            return;
        }
    } else {
        ctx->group = plcf->upstream->group;
        ctx->proxy_host = plcf->host;
        ctx->tls = plcf->https ? &plcf->ssl : NULL;
        if (plcf->upstream->ctx) {
            ctx->ups =
                plcf->upstream->ctx->srv_conf[dm_http_proxy_module.ctx_index];
        }
    }
    ctx->upgrade = dm_http_proxy_wants_upgrade(r);
    if (dm_http_proxy_make_head(ctx, &uri, has_uri) != DM_OK) {
        (void) dm_http_request_respond(r, 500, NULL, NULL);
        return;
    }

    /* one block: the two relay buffers and the response's fields */
    size =
        2 * plcf->buffers + DM_HTTP_PROXY_MAX_FIELDS * sizeof(dm_http_header_t);
    b = dm_http_proxy_block_get(r, size);
    if (b == NULL) {
        (void) dm_http_request_respond(r, 500, NULL, NULL);
        return;
    }
    ctx->in.start = ctx->in.pos = ctx->in.last = b;
    ctx->in.end = b + plcf->buffers;
    ctx->out.start = ctx->out.pos = ctx->out.last = ctx->in.end;
    ctx->out.end = ctx->out.start + plcf->buffers;
    ctx->resp_headers = (dm_http_header_t *) (void *) ctx->out.end;
    ctx->body_kept = 1;
    ctx->body_done = r->body_done;

    if (ctx->group) {
        dm_upstream_pick_init(&ctx->pick, ctx->group, &r->vars, c->log);
    }
    c->log->action = "connecting to upstream";
    dm_http_proxy_connect(ctx);
}

/* Adds an attempt (for $upstream_*), keeping the last one when full. */
static dm_http_proxy_attempt_t *
dm_http_proxy_attempt(dm_http_proxy_ctx_t *ctx, const dm_str_t *addr)
{
    dm_http_proxy_attempt_t *a;

    if (ctx->nattempts < DM_HTTP_PROXY_MAX_ATTEMPTS) {
        ctx->nattempts++;
    }
    a = &ctx->attempts[ctx->nattempts - 1];
    memset(a, 0, sizeof(*a));
    a->addr = *addr;
    ctx->attempt_start = dm_current_msec;
    return a;
}

static void
dm_http_proxy_use(dm_http_proxy_ctx_t *ctx, dm_connection_t *u)
{
    dm_connection_t *c = ctx->request->connection;

    ctx->upstream = u;
    /* a connection structure (pooled or recycled) keeps its counters:
       this attempt's bytes are those from here */
    ctx->recv_base = u->received;
    ctx->sent_base = u->sent;
    u->data = ctx;
    u->log_obj = *c->log;
    u->log = &u->log_obj;
    u->read->log = u->log;
    u->write->log = u->log;
    u->read->handler = dm_event_empty_handler;
    u->write->handler = dm_event_empty_handler;
}

static void
dm_http_proxy_connect(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_http_proxy_loc_conf_t *plcf = ctx->conf;
    dm_connection_t *c = r->connection, *u;
    dm_upstream_peer_t *peer = NULL;
    dm_http_proxy_pool_key_t key;
    dm_http_proxy_attempt_t *a;
    dm_event_peer_t pc;
    dm_int_t rc;

    memset(&pc, 0, sizeof(pc));
    if (ctx->group) {
        if (ctx->fresh_retry && ctx->pick.peer) {
            peer = ctx->pick.peer;
        } else {
            peer = dm_upstream_select(&ctx->pick);
        }
        if (peer == NULL) {
            dm_log_error(DM_LOG_ERR, c->log, 0,
                         "no live upstreams in \"%.*s\" after %lu tries",
                         DM_STR_ARG(ctx->group->name),
                         (unsigned long) ctx->pick.tries);
            /* the last failure decides, as nginx: a timeout is a 504 */
            dm_http_proxy_finish(ctx,
                                 ctx->last_status ? ctx->last_status : 502);
            return;
        }
        pc.sockaddr = peer->sockaddr;
        pc.socklen = peer->socklen;
        pc.name = &peer->addr_text;
    } else {
        pc.sockaddr = ctx->addr;
        pc.socklen = ctx->addrlen;
        pc.name = &ctx->addr_text;
    }
    a = dm_http_proxy_attempt(ctx, pc.name);

    /* reset what an attempt carries */
    ctx->head_sent = 0;
    ctx->any_sent = 0;
    ctx->req_sent = 0;
    ctx->header_done = 0;
    ctx->resp_done = 0;
    ctx->resp_bytes = 0;
    ctx->in.pos = ctx->in.start;
    ctx->out.pos = ctx->out.last = ctx->out.start;
    ctx->reused = 0;
    ctx->connected = 0;

    if (plcf->http_version == 11 && !ctx->fresh_retry) {
        dm_http_proxy_pool_key(ctx, &key);
        u = dm_http_proxy_pool_get(ctx->ups, pc.sockaddr, pc.socklen, &key,
                                   &ctx->requests);
        if (u) {
            ctx->reused = 1;
            ctx->connected = 1;
            dm_http_proxy_use(ctx, u);
            u->log->action = "proxying";
            a->connected = 1;
            a->connect = 0;
            if (ctx->group) {
                dm_upstream_connected(&ctx->pick);
            }
            c->log->action = "proxying";
            dm_http_proxy_relay(ctx);
            return;
        }
    }
    ctx->requests = 0;
    pc.type = SOCK_STREAM;
    pc.log = c->log;
    rc = dm_event_connect(&pc, 512);
    if (rc == DM_DECLINED) {
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_ERROR, 1);
        return;
    }
    if (rc == DM_ERROR) {
        dm_http_proxy_finish(ctx, 502);
        return;
    }
    dm_http_proxy_use(ctx, pc.connection);
    ctx->upstream->write->handler = dm_http_proxy_connected;
    if (rc == DM_OK) {
        dm_http_proxy_connected(ctx->upstream->write);
        return;
    }
    if (dm_event_timer_add(ctx->upstream->write, plcf->connect_timeout)
        != DM_OK) {
        dm_http_proxy_finish(ctx, 500);
    }
}

/* The connection is up (and through TLS for https): the request goes. */
static void
dm_http_proxy_established(dm_http_proxy_ctx_t *ctx)
{
    dm_connection_t *u = ctx->upstream;
    dm_http_proxy_attempt_t *a = &ctx->attempts[ctx->nattempts - 1];

    a->connected = 1;
    ctx->connected = 1;
    /* as nginx's $upstream_connect_time: the TLS handshake included */
    a->connect = dm_current_msec - ctx->attempt_start;
    if (ctx->group) {
        dm_upstream_succeeded(&ctx->pick);
        dm_upstream_connected(&ctx->pick);
    }
    ctx->request->connection->log->action = "proxying";
    u->log->action = "proxying";
    dm_http_proxy_relay(ctx);
}

/*
 * The TLS handshake with the upstream, driven by both of its events and
 * bounded, with the connect, by proxy_connect_timeout (as nginx). A
 * failed handshake or certificate is an "error" for proxy_next_upstream.
 */
static void
dm_http_proxy_handshake(dm_event_t *ev)
{
    dm_connection_t *u = ev->data;
    dm_http_proxy_ctx_t *ctx = u->data;
    dm_http_proxy_attempt_t *a = &ctx->attempts[ctx->nattempts - 1];
    dm_int_t rc;

    if (ev->timedout) {
        dm_log_error(DM_LOG_ERR, u->log, ETIMEDOUT,
                     "upstream %.*s timed out in the SSL handshake",
                     DM_STR_ARG(a->addr));
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_TIMEOUT, 1);
        return;
    }
    rc = dm_ssl_handshake(u);
    if (rc == DM_AGAIN) {
        return;
    }
    dm_event_timer_del(u->write);
    if (rc != DM_OK) {
        /* the reason when it was the certificate */
        (void) dm_ssl_client_verify(ctx->tls, u);
    }
    if (rc != DM_OK || dm_ssl_client_verify(ctx->tls, u) != DM_OK) {
        dm_log_error(DM_LOG_ERR, u->log, 0,
                     "SSL handshake with upstream %.*s failed",
                     DM_STR_ARG(a->addr));
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_ERROR, 1);
        return;
    }
    dm_http_proxy_established(ctx);
}

/* proxy_protocol on: the client's addresses (and TLVs) first, before
   the request and before a ClientHello. */
static dm_int_t
dm_http_proxy_send_pp(dm_http_proxy_ctx_t *ctx)
{
    dm_proxy_protocol_tlv_t tlvs[DM_PROXY_PROTOCOL_TLVS];
    dm_http_request_t *r = ctx->request;
    dm_uint_t n;

    if (dm_proxy_protocol_tlv_eval(&r->vars, ctx->conf->pp_tlvs, tlvs, &n)
        != DM_OK) {
        return DM_ERROR;
    }
    return dm_proxy_protocol_send(ctx->upstream, r->connection,
                                  (unsigned) ctx->conf->pp_version, tlvs, n);
}

static void
dm_http_proxy_owner_cleanup(void *data)
{
    dm_connection_t **owner = data;

    dm_http_proxy_pool_owner_gone(owner[0], (dm_uint_t) (uintptr_t) owner[1]);
}

/*
 * Before a connection carrying the client's PROXY header is kept idle:
 * the client's connection closes it when it closes (one cleanup per
 * client connection). DM_OK, or DM_ERROR: close it now.
 */
static dm_int_t
dm_http_proxy_owned(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_connection_t *c = r->connection;
    dm_pool_cleanup_t *cln;
    dm_connection_t **owner;

    if (!ctx->conf->pp || r->hc->upstream_owned) {
        return DM_OK;
    }
    cln = dm_pool_cleanup_add(c->pool, 2 * sizeof(void *));
    if (cln == NULL) {
        return DM_ERROR;
    }
    owner = cln->data;
    owner[0] = c;
    owner[1] = (dm_connection_t *) (uintptr_t) c->number;
    cln->handler = dm_http_proxy_owner_cleanup;
    r->hc->upstream_owned = 1;
    return DM_OK;
}

static void
dm_http_proxy_connected(dm_event_t *wev)
{
    dm_connection_t *u = wev->data;
    dm_http_proxy_ctx_t *ctx = u->data;
    dm_http_proxy_attempt_t *a = &ctx->attempts[ctx->nattempts - 1];

    if (wev->timedout) {
        dm_log_error(DM_LOG_ERR, u->log, ETIMEDOUT,
                     "upstream %.*s timed out while connecting",
                     DM_STR_ARG(a->addr));
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_TIMEOUT, 1);
        return;
    }
    if (dm_event_connect_check(u) != DM_OK) {
        dm_event_timer_del(wev);
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_ERROR, 1);
        return;
    }
    (void) dm_connection_tcp_nodelay(u);
    if (ctx->conf->pp && dm_http_proxy_send_pp(ctx) != DM_OK) {
        dm_event_timer_del(wev);
        dm_http_proxy_next(ctx, DM_HTTP_PROXY_FT_ERROR, 1);
        return;
    }
    if (ctx->tls == NULL) {
        dm_event_timer_del(wev);
        dm_http_proxy_established(ctx);
        return;
    }
    if (dm_ssl_client_start_host(ctx->tls, u, &ctx->proxy_host) != DM_OK) {
        dm_event_timer_del(wev);
        dm_http_proxy_finish(ctx, 502);
        return;
    }
    /* what is left of proxy_connect_timeout bounds the handshake too */
    if (!wev->timer_set
        && dm_event_timer_add(wev, ctx->conf->connect_timeout) != DM_OK) {
        dm_http_proxy_finish(ctx, 500);
        return;
    }
    u->log->action = "SSL handshaking to upstream";
    u->read->handler = dm_http_proxy_handshake;
    u->write->handler = dm_http_proxy_handshake;
    dm_http_proxy_handshake(wev);
}

static int
dm_http_proxy_idempotent(dm_http_request_t *r)
{
    switch (r->head.method_id) {
    case DM_HTTP_METHOD_POST:
    case DM_HTTP_METHOD_PATCH:
        return 0;
    case DM_HTTP_METHOD_OTHER:
        /* LOCK and the like: not idempotent, as nginx */
        return r->head.method.len == 7
               && memcmp(r->head.method.data, "OPTIONS", 7) == 0;
    }
    return 1;
}

/* Closes the attempt's connection (never pooled: it failed). */
static void
dm_http_proxy_drop_upstream(dm_http_proxy_ctx_t *ctx)
{
    dm_http_proxy_attempt_t *a = &ctx->attempts[ctx->nattempts - 1];

    if (ctx->upstream) {
        a->received = (uint64_t) (ctx->upstream->received - ctx->recv_base);
        dm_connection_close(ctx->upstream);
        ctx->upstream = NULL;
    }
    a->response = dm_current_msec - ctx->attempt_start;
    if (ctx->group && ctx->pick.connected) {
        dm_upstream_done(&ctx->pick, 0);
    }
}

void
dm_http_proxy_next(dm_http_proxy_ctx_t *ctx, dm_uint_t ft, int peer_fault)
{
    dm_http_request_t *r = ctx->request;
    dm_http_proxy_loc_conf_t *plcf = ctx->conf;
    dm_uint_t status = ft == DM_HTTP_PROXY_FT_TIMEOUT ? 504 : 502;

    if (ctx->reused && !ctx->fresh_retry && !ctx->header_done
        && ctx->resp_bytes == 0 && ctx->out.last == ctx->out.start
        && ft == DM_HTTP_PROXY_FT_ERROR && (ctx->body_kept || !ctx->any_sent)) {
        /* a pooled connection the backend had closed: once, a fresh one
           to the same peer, not held against it */
        dm_http_proxy_drop_upstream(ctx);
        ctx->nattempts--;
        ctx->fresh_retry = 1;
        dm_http_proxy_connect(ctx);
        return;
    }
    if (ctx->nattempts && ctx->attempts[ctx->nattempts - 1].status == 0) {
        ctx->attempts[ctx->nattempts - 1].status = status;
    }
    if (ft == DM_HTTP_PROXY_FT_TIMEOUT || ft == DM_HTTP_PROXY_FT_ERROR
        || ft == DM_HTTP_PROXY_FT_INVALID_HEADER) {
        ctx->last_status = status;
    }
    dm_http_proxy_drop_upstream(ctx);
    if (ctx->group && peer_fault) {
        dm_upstream_failed(&ctx->pick);
    }
    ctx->fresh_retry = 0;
    if (ctx->group && !(plcf->next_upstream & DM_HTTP_PROXY_FT_OFF)
        && (plcf->next_upstream & ft) && !ctx->header_sent
        && (ctx->body_kept || ctx->body_total == 0)
        && (!ctx->any_sent || dm_http_proxy_idempotent(r)
            || (plcf->next_upstream & DM_HTTP_PROXY_FT_NON_IDEMPOTENT))
        && (plcf->next_upstream_tries == 0
            || ctx->pick.tries < (dm_uint_t) plcf->next_upstream_tries)
        && (plcf->next_upstream_timeout == 0
            || dm_current_msec - ctx->start < plcf->next_upstream_timeout)) {
        dm_http_proxy_connect(ctx);
        return;
    }
    dm_http_proxy_finish(ctx, status);
}

void
dm_http_proxy_finish(dm_http_proxy_ctx_t *ctx, dm_uint_t status)
{
    dm_http_request_t *r = ctx->request;
    dm_connection_t *c = r->connection, *u = ctx->upstream;
    dm_http_proxy_pool_key_t key;
    dm_http_proxy_attempt_t *a;

    if (ctx->finished) {
        return;
    }
    ctx->finished = 1;
    if (ctx->nattempts) {
        a = &ctx->attempts[ctx->nattempts - 1];
        a->response = dm_current_msec - ctx->attempt_start;
        if (u) {
            a->received = (uint64_t) (u->received - ctx->recv_base);
        }
    }
    if (u) {
        ctx->upstream = NULL;
        dm_event_timer_del(u->read);
        dm_event_timer_del(u->write);
        if (ctx->group && ctx->pick.connected) {
            dm_upstream_done(&ctx->pick,
                             (uint64_t) (u->sent - ctx->sent_base + u->received
                                         - ctx->recv_base));
        }
        if (status == 0 && ctx->upstream_keep
            && dm_http_proxy_owned(ctx) == DM_OK) {
            dm_http_proxy_pool_key(ctx, &key);
            dm_http_proxy_pool_put(ctx->ups, u, &key, ctx->requests + 1);
        } else {
            dm_connection_close(u);
        }
    }
    dm_event_timer_del(c->read);
    dm_event_timer_del(c->write);
    c->read->handler = dm_event_empty_handler;
    c->write->handler = dm_event_empty_handler;
    if (status == 499 || (status && ctx->header_sent)) {
        /* the client went away, or the response broke after its head */
        if (status == 499) {
            r->status = 499;
        }
        r->keepalive = 0;
        dm_http_request_abort(r);
        return;
    }
    if (status) {
        /* nothing was sent: an error page (error_page applies) */
        (void) dm_http_request_respond(r, status, NULL, NULL);
        return;
    }
    if (!r->body_done || ctx->close_client) {
        r->keepalive = 0;
    }
    dm_http_request_finalize(r);
}
