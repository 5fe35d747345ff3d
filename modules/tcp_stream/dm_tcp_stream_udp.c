/*
 * doorman: the UDP side of the L4 proxy.
 *
 * A session's upstream is a connected UDP socket. Each client datagram
 * goes out as one datagram; each upstream datagram goes back to the client
 * from the address the client wrote to (dm_stream_udp_send). The session
 * ends when proxy_timeout passes without a datagram, or when the expected
 * answers came in (proxy_responses per request, once proxy_requests
 * requests were sent, or after each request when proxy_requests is not
 * set); after proxy_requests datagrams the client's next one starts a new
 * session (and may go to another upstream), as nginx does.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_proxy_protocol.h>
#include <dm_tcp_stream.h>

static void
dm_tcp_stream_udp_arm(dm_tcp_stream_ctx_t *ctx)
{
    dm_stream_session_t *s = ctx->session;
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(s, dm_tcp_stream_module);

    if (dm_event_timer_add(s->connection->read, pcf->timeout) != DM_OK) {
        dm_stream_session_finalize(s, DM_STREAM_INTERNAL_ERROR);
    }
}

/* Whether every expected answer came back. */
static int
dm_tcp_stream_udp_complete(dm_tcp_stream_ctx_t *ctx)
{
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(ctx->session, dm_tcp_stream_module);

    if (pcf->responses == DM_CONF_UNSET) {
        return 0;
    }
    if (pcf->requests && ctx->requests < (dm_uint_t) pcf->requests) {
        return 0;
    }
    return ctx->responses >= ctx->requests * (dm_uint_t) pcf->responses;
}

/*
 * The upstream reported an error (an ICMP port unreachable and the like,
 * on recv or on the next send): a passive failure, and the session ends.
 */
static void
dm_tcp_stream_udp_failed(dm_tcp_stream_ctx_t *ctx, dm_err_t err)
{
    dm_stream_session_t *s = ctx->session;

    dm_log_error(DM_LOG_ERR, s->connection->log, err,
                 "upstream %.*s failed (UDP)",
                 DM_STR_ARG(ctx->upstream->addr_text));
    if (ctx->group) {
        dm_upstream_failed(&ctx->pick);
    }
    dm_stream_session_finalize(s, ctx->responses ? DM_STREAM_OK
                                                 : DM_STREAM_BAD_GATEWAY);
}

/* The session's PROXY v2 header (DGRAM), in the session's pool. */
static dm_int_t
dm_tcp_stream_udp_pp(dm_tcp_stream_ctx_t *ctx, dm_tcp_stream_srv_conf_t *pcf)
{
    dm_proxy_protocol_tlv_t tlvs[DM_PROXY_PROTOCOL_TLVS];
    dm_stream_session_t *s = ctx->session;
    u_char buf[DM_PROXY_PROTOCOL_MAX];
    dm_uint_t n;
    ssize_t len;

    if (dm_proxy_protocol_tlv_eval(&s->vars, pcf->pp_tlvs, tlvs, &n) != DM_OK) {
        return DM_ERROR;
    }
    len = dm_proxy_protocol_header(buf, sizeof(buf), s->connection,
                                   ctx->upstream, 2, SOCK_DGRAM, tlvs, n);
    if (len < 0) {
        dm_log_error(DM_LOG_ERR, s->connection->log, 0,
                     "cannot make the PROXY protocol header");
        return DM_ERROR;
    }
    ctx->pp_header = dm_pnalloc(s->connection->pool, (size_t) len);
    if (ctx->pp_header == NULL) {
        return DM_ERROR;
    }
    memcpy(ctx->pp_header, buf, (size_t) len);
    ctx->pp_len = (size_t) len;
    return DM_OK;
}

/* Returns DM_ERROR when the session was finalized (failed, or done). */
static dm_int_t
dm_tcp_stream_udp_forward(dm_tcp_stream_ctx_t *ctx, const u_char *data,
                          size_t len)
{
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(ctx->session, dm_tcp_stream_module);
    dm_connection_t *u = ctx->upstream;
    struct iovec iov[2];
    struct msghdr msg;
    ssize_t n;

    /* proxy_protocol on: a v2 header at the start of every datagram,
       made once per session */
    if (pcf->pp && ctx->pp_header == NULL
        && dm_tcp_stream_udp_pp(ctx, pcf) != DM_OK) {
        dm_tcp_stream_udp_failed(ctx, 0);
        return DM_ERROR;
    }
    memset(&msg, 0, sizeof(msg));
    iov[0].iov_base = ctx->pp_header;
    iov[0].iov_len = ctx->pp_len;
    iov[1].iov_base = (void *) data;
    iov[1].iov_len = len;
    msg.msg_iov = ctx->pp_len ? iov : iov + 1;
    msg.msg_iovlen = ctx->pp_len ? 2 : 1;
    n = sendmsg(u->fd, &msg, MSG_DONTWAIT);
    if (n > 0) {
        /* $bytes_* count the client's bytes, not the header's */
        n = (ssize_t) ((size_t) n > ctx->pp_len ? (size_t) n - ctx->pp_len : 0);
    }
    if (n == -1 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS) {
        /* a pending ICMP error is reported here when a datagram follows
           before the socket was read: it is consumed, recv won't see it */
        dm_tcp_stream_udp_failed(ctx, errno);
        return DM_ERROR;
    }
    u->sent += n > 0 ? n : 0;
    ctx->down.bytes += n > 0 ? n : 0;
    ctx->requests++;
    if (pcf->requests && ctx->requests >= (dm_uint_t) pcf->requests) {
        /* the client's next datagram starts a new session */
        dm_stream_udp_unbind(ctx->session);
    }
    if (pcf->responses == 0 && dm_tcp_stream_udp_complete(ctx)) {
        /* proxy_responses 0: no answer awaited, done once sent */
        dm_stream_session_finalize(ctx->session, DM_STREAM_OK);
        return DM_ERROR;
    }
    return DM_OK;
}

/* A later datagram of the client. */
static void
dm_tcp_stream_udp_client(dm_stream_session_t *s, u_char *data, size_t len)
{
    dm_tcp_stream_ctx_t *ctx = s->ctx[dm_tcp_stream_module.ctx_index];

    if (ctx->upstream == NULL
        || dm_tcp_stream_udp_forward(ctx, data, len) != DM_OK) {
        return;
    }
    dm_tcp_stream_udp_arm(ctx);
}

/* Idle timeout, or reclaimed (graceful exit): the session ends. */
static void
dm_tcp_stream_udp_idle(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;

    dm_stream_session_finalize(c->data, DM_STREAM_OK);
}

/* Answers from the upstream. */
static void
dm_tcp_stream_udp_upstream(dm_event_t *rev)
{
    dm_connection_t *u = rev->data;
    dm_tcp_stream_ctx_t *ctx = u->data;
    dm_stream_session_t *s = ctx->session;
    u_char buf[65536];
    ssize_t n;

    if (rev->write || s->finalized) {
        return;
    }
    for (;;) {
        n = recv(u->fd, buf, sizeof(buf), 0);
        if (n == -1) {
            if (errno == EAGAIN) {
                rev->ready = 0;
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            /* ICMP port unreachable and the like, reported on recv */
            dm_tcp_stream_udp_failed(ctx, errno);
            return;
        }
        u->received += n;
        ctx->up.bytes += n;
        ctx->responses++;
        (void) dm_stream_udp_send(s, buf, (size_t) n);
        if (dm_tcp_stream_udp_complete(ctx)) {
            dm_stream_session_finalize(s, DM_STREAM_OK);
            return;
        }
    }
    dm_tcp_stream_udp_arm(ctx);
}

void
dm_tcp_stream_udp_start(dm_tcp_stream_ctx_t *ctx)
{
    dm_stream_session_t *s = ctx->session;
    dm_connection_t *c = s->connection, *u = ctx->upstream;
    dm_buf_t *b = c->buffer;

    u->read->handler = dm_tcp_stream_udp_upstream;
    u->write->handler = dm_event_empty_handler;
    c->read->handler = dm_tcp_stream_udp_idle;
    dm_stream_udp_set_handler(s, dm_tcp_stream_udp_client);

    /* the datagram that started the session */
    if (b && dm_buf_size(b)
        && dm_tcp_stream_udp_forward(ctx, b->pos, dm_buf_size(b)) != DM_OK) {
        return; /* finalized */
    }
    if (b) {
        b->pos = b->last;
    }
    dm_tcp_stream_udp_arm(ctx);
    /* an answer may already be waiting */
    if (u->read->ready) {
        dm_tcp_stream_udp_upstream(u->read);
    }
}
