/*
 * doorman: http_proxy: WebSocket tunnels.
 *
 * Only after a 101 whose Upgrade is websocket, to a request that asked for
 * it (DESIGN.md section 6): the 101 head goes to the client, then bytes
 * are relayed both ways as they are, through the request's two buffers,
 * with half-close passed on, until both sides are done or neither spoke
 * for proxy_tunnel_timeout. The client connection ends with the tunnel.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_http_proxy.h>

#include <sys/socket.h>

static void dm_http_proxy_tunnel_handler(dm_event_t *ev);

static void
dm_http_proxy_tunnel_end(dm_http_proxy_ctx_t *ctx, const char *why)
{
    dm_http_request_t *r = ctx->request;

    dm_log_error(DM_LOG_INFO, r->connection->log, 0, "WebSocket tunnel %s",
                 why);
    ctx->header_sent = 1;
    r->status = 101;
    dm_http_proxy_finish(ctx, 101);
}

/* One direction: src -> buf -> dst. Returns 1 on progress, 0 when it
   waits, -1 on an error. */
static int
dm_http_proxy_tunnel_move(dm_connection_t *src, dm_connection_t *dst,
                          dm_http_proxy_buf_t *b, unsigned *eof, off_t *count)
{
    int progress = 0;
    ssize_t n;

    for (;;) {
        if (b->pos < b->last && dst->write->ready) {
            n = dst->send(dst, b->pos, (size_t) (b->last - b->pos));
            if (n == DM_ERROR) {
                return -1;
            }
            if (n > 0) {
                b->pos += n;
                if (count) {
                    *count += n;
                }
                progress = 1;
                if (b->pos < b->last) {
                    /* TLS writes a record per call and leaves the event
                       ready: write on until it is drained or blocks */
                    continue;
                }
            }
        }
        if (b->pos == b->last) {
            b->pos = b->last = b->start;
            if (*eof) {
                return progress;
            }
        }
        if (*eof || b->last == b->end || !src->read->ready) {
            return progress;
        }
        n = src->recv(src, b->last, (size_t) (b->end - b->last));
        if (n == DM_AGAIN) {
            return progress;
        }
        if (n == DM_ERROR) {
            return -1;
        }
        if (n == 0) {
            *eof = 1;
            progress = 1;
            continue;
        }
        b->last += n;
        progress = 1;
    }
}

static void
dm_http_proxy_tunnel_run(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_connection_t *c = r->connection, *u = ctx->upstream;
    dm_msec_t timeout = ctx->conf->tunnel_timeout;
    int a, b;
    unsigned down = ctx->down_eof, up = ctx->up_eof;

    a = dm_http_proxy_tunnel_move(c, u, &ctx->in, &down, NULL);
    b = dm_http_proxy_tunnel_move(u, c, &ctx->out, &up, &r->body_bytes_sent);
    if (a < 0 || b < 0) {
        dm_http_proxy_tunnel_end(ctx, "closed on an error");
        return;
    }
    /* a half-close goes on; over TLS as a close_notify first (TLS 1.3
       lets the other way go on after it) */
    if (down && !ctx->down_eof && ctx->in.pos == ctx->in.last) {
        dm_ssl_shutdown(u);
        (void) shutdown(u->fd, SHUT_WR);
        ctx->down_eof = 1;
    }
    if (up && !ctx->up_eof && ctx->out.pos == ctx->out.last) {
        dm_ssl_shutdown(c);
        (void) shutdown(c->fd, SHUT_WR);
        ctx->up_eof = 1;
    }
    if (ctx->down_eof && ctx->up_eof) {
        dm_http_proxy_tunnel_end(ctx, "closed by both sides");
        return;
    }
    if (a || b) {
        /* activity: the idle timeout starts again */
        (void) dm_event_timer_add(c->read, timeout);
        dm_event_timer_del(u->read);
    }
}

static void
dm_http_proxy_tunnel_handler(dm_event_t *ev)
{
    dm_connection_t *conn = ev->data;
    dm_http_proxy_ctx_t *ctx;

    if (conn->listening) {
        ctx = ((dm_http_conn_t *) conn->data)
                  ->request->ctx[dm_http_proxy_module.ctx_index];
    } else {
        ctx = conn->data;
    }
    if (ev->timedout) {
        ev->timedout = 0;
        dm_http_proxy_tunnel_end(ctx, "idle for proxy_tunnel_timeout");
        return;
    }
    dm_http_proxy_tunnel_run(ctx);
}

void
dm_http_proxy_tunnel_start(dm_http_proxy_ctx_t *ctx)
{
    dm_http_request_t *r = ctx->request;
    dm_connection_t *c = r->connection, *u = ctx->upstream;
    dm_buf_t *hb = r->hc->buf;
    size_t n;
    ssize_t k;

    ctx->tunnel = 1;
    c->log->action = "tunnelling";
    dm_event_timer_del(u->read);
    dm_event_timer_del(u->write);
    dm_event_timer_del(c->write);

    /* the 101 head first, written whole (it is small) */
    while (ctx->chead_sent < ctx->chead.len) {
        k = c->send(c, ctx->chead.data + ctx->chead_sent,
                    ctx->chead.len - ctx->chead_sent);
        if (k == DM_ERROR || k == DM_AGAIN) {
            dm_http_proxy_tunnel_end(ctx, "lost before its 101 was sent");
            return;
        }
        ctx->chead_sent += (size_t) k;
    }
    /* what the upstream sent after its head goes first; so do the bytes
       the client sent after its request */
    ctx->in.pos = ctx->in.last = ctx->in.start;
    n = dm_min(dm_buf_size(hb), (size_t) (ctx->in.end - ctx->in.start));
    memcpy(ctx->in.last, hb->pos, n);
    ctx->in.last += n;
    hb->pos += n;

    c->read->handler = dm_http_proxy_tunnel_handler;
    c->write->handler = dm_http_proxy_tunnel_handler;
    u->read->handler = dm_http_proxy_tunnel_handler;
    u->write->handler = dm_http_proxy_tunnel_handler;
    (void) dm_event_timer_add(c->read, ctx->conf->tunnel_timeout);
    dm_http_proxy_tunnel_run(ctx);
}
