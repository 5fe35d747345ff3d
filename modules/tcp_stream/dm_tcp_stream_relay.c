/*
 * doorman: the L4 relay: bytes both ways between client and upstream,
 * with half-close, an idle timeout, and splice() where it pays.
 *
 * A direction starts by copying through a buffer. Once a read fills the
 * buffer (a bulk transfer, not a request/response exchange) and the buffer
 * has drained, the direction takes a pipe from the worker's pool and moves
 * bytes with splice(), never through user space. Pipes are capped per
 * worker (each costs two descriptors and pinned pages, and unprivileged
 * users' pipe pages are limited by fs.pipe-user-pages-soft): when none is
 * to be had, the direction keeps copying. Bytes still in a pipe count as
 * pending for half-close and for $bytes_*.
 *
 * splice is off by default (proxy_splice on turns it on): measured with
 * the l4bulk benchmark over loopback on Linux 6.18, moving 1 MiB
 * responses through a pipe cost about 15% more CPU per response than
 * copying through the 16k buffer (the loopback path gains nothing from
 * page references, and each 64k pipe round trip is two system calls).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_tcp_stream.h>

#define DM_TCP_PIPE_SIZE 65536

typedef struct {
    int fd[2];
} dm_tcp_pipe_t;

static dm_tcp_pipe_t *dm_tcp_pipes; /* idle pipes */
static dm_uint_t dm_tcp_pipes_idle;
static dm_uint_t dm_tcp_pipes_made; /* idle + in use */
static dm_uint_t dm_tcp_pipes_max;

static void dm_tcp_stream_client_event(dm_event_t *ev);
static void dm_tcp_stream_upstream_event(dm_event_t *ev);
static void dm_tcp_stream_process(dm_tcp_stream_ctx_t *ctx, int timedout);

void
dm_tcp_stream_pipes_init(dm_uint_t max)
{
    dm_tcp_pipes_max = max;
    dm_tcp_pipes_idle = 0;
    dm_tcp_pipes_made = 0;
    free(dm_tcp_pipes);
    dm_tcp_pipes = max ? calloc(max, sizeof(dm_tcp_pipe_t)) : NULL;
    if (dm_tcp_pipes == NULL) {
        dm_tcp_pipes_max = 0;
    }
}

void
dm_tcp_stream_pipes_done(void)
{
    dm_uint_t i;

    for (i = 0; i < dm_tcp_pipes_idle; i++) {
        close(dm_tcp_pipes[i].fd[0]);
        close(dm_tcp_pipes[i].fd[1]);
    }
    free(dm_tcp_pipes);
    dm_tcp_pipes = NULL;
    dm_tcp_pipes_idle = dm_tcp_pipes_made = dm_tcp_pipes_max = 0;
}

/* A pipe from the pool, or a new one while under the cap; -1: copy. */
static int
dm_tcp_pipe_get(int fd[2])
{
    if (dm_tcp_pipes_idle) {
        dm_tcp_pipes_idle--;
        fd[0] = dm_tcp_pipes[dm_tcp_pipes_idle].fd[0];
        fd[1] = dm_tcp_pipes[dm_tcp_pipes_idle].fd[1];
        return 0;
    }
    if (dm_tcp_pipes_made >= dm_tcp_pipes_max
        || pipe2(fd, O_NONBLOCK | O_CLOEXEC) == -1) {
        return -1;
    }
    dm_tcp_pipes_made++;
    /* a larger pipe moves more per call; refused beyond the user's quota,
       which only leaves the default size */
    (void) fcntl(fd[1], F_SETPIPE_SZ, DM_TCP_PIPE_SIZE);
    return 0;
}

static void
dm_tcp_pipe_put(int fd[2], size_t pending)
{
    if (fd[0] == -1) {
        return;
    }
    if (pending == 0 && dm_tcp_pipes_idle < dm_tcp_pipes_max) {
        dm_tcp_pipes[dm_tcp_pipes_idle].fd[0] = fd[0];
        dm_tcp_pipes[dm_tcp_pipes_idle].fd[1] = fd[1];
        dm_tcp_pipes_idle++;
    } else {
        /* bytes left in it belong to a dead session: not reusable */
        close(fd[0]);
        close(fd[1]);
        dm_tcp_pipes_made--;
    }
    fd[0] = fd[1] = -1;
}

void
dm_tcp_stream_relay_done(dm_tcp_stream_ctx_t *ctx)
{
    dm_tcp_pipe_put(ctx->down.pipe, ctx->down.in_pipe);
    dm_tcp_pipe_put(ctx->up.pipe, ctx->up.in_pipe);
}

void
dm_tcp_stream_relay_start(dm_tcp_stream_ctx_t *ctx)
{
    dm_stream_session_t *s = ctx->session;
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(s, dm_tcp_stream_module);
    dm_connection_t *c = s->connection, *u = ctx->upstream;
    dm_buf_t *b;

    ctx->down.src = c;
    ctx->down.dst = u;
    ctx->up.src = u;
    ctx->up.dst = c;
    ctx->up.upstream = 1;
    /* bytes a PREREAD handler (ssl_preread) read ahead into c->buffer go
       upstream first: the buffer becomes the client->upstream one when it
       is big enough, else they are copied (they fit: it is smaller) */
    b = c->buffer;
    c->buffer = NULL;
    if (b && dm_buf_size(b)
        && (size_t) (b->end - b->start) >= pcf->buffer_size) {
        ctx->down.buf = b;
    } else {
        ctx->down.buf = dm_buf_create(c->pool, pcf->buffer_size);
        if (b && ctx->down.buf) {
            memcpy(ctx->down.buf->last, b->pos, dm_buf_size(b));
            ctx->down.buf->last += dm_buf_size(b);
        }
    }
    ctx->up.buf = dm_buf_create(c->pool, pcf->buffer_size);
    if (ctx->down.buf == NULL || ctx->up.buf == NULL) {
        dm_stream_session_finalize(s, DM_STREAM_INTERNAL_ERROR);
        return;
    }
    c->read->handler = dm_tcp_stream_client_event;
    c->write->handler = dm_tcp_stream_client_event;
    u->read->handler = dm_tcp_stream_upstream_event;
    u->write->handler = dm_tcp_stream_upstream_event;
    /* the client may have sent already: its readiness was remembered */
    dm_tcp_stream_process(ctx, 0);
}

static void
dm_tcp_stream_client_event(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;
    dm_stream_session_t *s = c->data;

    dm_tcp_stream_process(s->ctx[dm_tcp_stream_module.ctx_index], ev->timedout);
}

static void
dm_tcp_stream_upstream_event(dm_event_t *ev)
{
    dm_connection_t *u = ev->data;

    dm_tcp_stream_process(u->data, ev->timedout);
}

/*
 * Moves what can be moved in one direction without blocking. Returns
 * DM_OK, or DM_ERROR when a side failed (reported).
 */
static dm_int_t
dm_tcp_stream_move(dm_tcp_stream_ctx_t *ctx, dm_tcp_stream_dir_t *d,
                   int *progress)
{
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(ctx->session, dm_tcp_stream_module);
    dm_connection_t *src = d->src, *dst = d->dst;
    dm_buf_t *b = d->buf;
    size_t room;
    ssize_t n;
    int moved = 0;

    do {
        /* what the last round moved (its "continue"s skip the end) keeps
           the session from being idle */
        *progress |= moved;
        moved = 0;

        /* write what we hold */
        if (dm_buf_size(b) && dst->write->ready) {
            n = dst->send(dst, b->pos, dm_buf_size(b));
            if (n == DM_ERROR) {
                return DM_ERROR;
            }
            if (n > 0) {
                b->pos += n;
                d->bytes += n;
                moved = 1;
                if (b->pos == b->last) {
                    b->pos = b->last = b->start;
                }
            }
        }
        if (d->in_pipe && dst->write->ready) {
            n = splice(d->pipe[0], NULL, dst->fd, NULL, d->in_pipe,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                d->in_pipe -= (size_t) n;
                dst->sent += n;
                d->bytes += n;
                moved = 1;
            } else if (n == -1 && errno == EAGAIN) {
                dst->write->ready = 0;
            } else if (n == -1 && errno != EINTR) {
                dm_connection_error(dst, errno, "splice() to socket failed");
                dst->error = 1;
                return DM_ERROR;
            }
        }

        /* read more */
        if (d->src_eof || !src->read->ready) {
            continue;
        }
        if (d->pipe[0] != -1 && dm_buf_size(b) == 0) {
            room = DM_TCP_PIPE_SIZE - d->in_pipe;
            if (room == 0) {
                continue;
            }
            n = splice(src->fd, NULL, d->pipe[1], NULL, room,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                d->in_pipe += (size_t) n;
                src->received += n;
                moved = 1;
            } else if (n == 0) {
                d->src_eof = 1;
                src->read->ready = 0;
            } else if (errno == EAGAIN) {
                /* the socket is empty, or the pipe is full: its capacity
                   counts pages, not bytes, and is 8k for a user over
                   fs.pipe-user-pages-soft. Only an empty pipe tells; a
                   full one keeps the readiness until it has drained. */
                if (d->in_pipe == 0) {
                    src->read->ready = 0;
                }
            } else if (errno != EINTR) {
                dm_connection_error(src, errno, "splice() from socket failed");
                src->error = 1;
                return DM_ERROR;
            }
            continue;
        }
        room = (size_t) (b->end - b->last);
        if (room == 0) {
            continue;
        }
        n = src->recv(src, b->last, room);
        if (n == DM_ERROR) {
            return DM_ERROR;
        }
        if (n == 0) {
            d->src_eof = 1;
        } else if (n > 0) {
            /* a read that filled the whole buffer: a bulk transfer */
            if ((size_t) n == room && b->last == b->start) {
                d->bulk = 1;
            }
            b->last += n;
            moved = 1;
        }
    } while (moved);

    /* switch to splice once the buffer is flushed */
    if (d->bulk && pcf->splice && d->pipe[0] == -1 && dm_buf_size(b) == 0
        && src->ssl == NULL && dst->ssl == NULL) {
        (void) dm_tcp_pipe_get(d->pipe);
    }

    /* the source is done and everything is out: pass the half-close on,
       over TLS as a close_notify first (the other way may go on: TLS 1.3
       allows it, and TLS 1.2 peers mostly read on after one) */
    if (d->src_eof && dm_buf_size(b) == 0 && d->in_pipe == 0 && !d->dst_shut) {
        d->dst_shut = 1;
        dm_ssl_shutdown(dst);
        if (shutdown(dst->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
            dm_connection_error(dst, errno, "shutdown() failed");
        }
    }
    return DM_OK;
}

static void
dm_tcp_stream_process(dm_tcp_stream_ctx_t *ctx, int timedout)
{
    dm_stream_session_t *s = ctx->session;
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(s, dm_tcp_stream_module);
    dm_connection_t *c = s->connection, *u = ctx->upstream;
    int progress = 0;

    if (s->finalized) {
        return;
    }
    if (timedout) {
        dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                     "session idle for %llums (proxy_timeout)",
                     (unsigned long long) pcf->timeout);
        c->timedout = 1;
        dm_stream_session_finalize(s, DM_STREAM_OK);
        return;
    }

    if (dm_tcp_stream_move(ctx, &ctx->down, &progress) != DM_OK) {
        if (u->error) {
            dm_log_error(DM_LOG_ERR, c->log, 0,
                         "upstream %.*s failed while sending to it",
                         DM_STR_ARG(u->addr_text));
        }
        goto failed;
    }
    if (dm_tcp_stream_move(ctx, &ctx->up, &progress) != DM_OK) {
        if (u->error) {
            dm_log_error(DM_LOG_ERR, c->log, 0,
                         "upstream %.*s reset the connection",
                         DM_STR_ARG(u->addr_text));
            s->reset = 1;
        }
        goto failed;
    }

    /* both ways closed and flushed: the session is over */
    if (ctx->down.dst_shut && ctx->up.dst_shut) {
        dm_stream_session_finalize(s, DM_STREAM_OK);
        return;
    }
    /* the idle timer moves on with traffic (lazily re-armed) */
    if (progress || !c->read->timer_set) {
        if (dm_event_timer_add(c->read, pcf->timeout) != DM_OK) {
            dm_stream_session_finalize(s, DM_STREAM_INTERNAL_ERROR);
        }
    }
    return;

failed:
    if (!u->error && c->error) {
        /* the client went away: the upstream is closed normally */
        c->error = 1;
    }
    dm_stream_session_finalize(s, DM_STREAM_OK);
}
