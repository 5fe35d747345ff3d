/*
 * doorman: plain socket I/O.
 *
 * With edge-triggered epoll a handler must know when a socket is drained.
 * A TCP read shorter than the buffer means the kernel had no more, so the
 * read event is marked not ready without another read returning EAGAIN
 * (unless EPOLLRDHUP announced EOF, which the next read will return). A
 * short write likewise means the send buffer is full.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_os_io.h>

ssize_t
dm_os_recv(dm_connection_t *c, u_char *buf, size_t size)
{
    dm_event_t *rev = c->read;
    ssize_t n;
    dm_err_t err;

    for (;;) {
        n = recv(c->fd, buf, size, 0);
        if (n > 0) {
            c->received += n;
            if ((size_t) n < size && c->type == SOCK_STREAM
                && !rev->pending_eof) {
                rev->ready = 0;
            }
            return n;
        }
        if (n == 0) {
            rev->ready = 0;
            rev->eof = 1;
            return 0;
        }
        err = errno;
        if (err == EINTR) {
            continue;
        }
        rev->ready = 0;
        if (err == EAGAIN) {
            return DM_AGAIN;
        }
        rev->error = 1;
        c->error = 1;
        dm_connection_error(c, err, "recv() failed");
        return DM_ERROR;
    }
}

ssize_t
dm_os_send(dm_connection_t *c, const u_char *buf, size_t size)
{
    dm_event_t *wev = c->write;
    ssize_t n;
    dm_err_t err;

    for (;;) {
        n = send(c->fd, buf, size, MSG_NOSIGNAL);
        if (n >= 0) {
            c->sent += n;
            if ((size_t) n < size) {
                wev->ready = 0;
            }
            return n;
        }
        err = errno;
        if (err == EINTR) {
            continue;
        }
        wev->ready = 0;
        if (err == EAGAIN) {
            return DM_AGAIN;
        }
        wev->error = 1;
        c->error = 1;
        dm_connection_error(c, err, "send() failed");
        return DM_ERROR;
    }
}

dm_chain_t *
dm_os_send_chain(dm_connection_t *c, dm_chain_t *in, off_t limit)
{
    struct iovec iov[DM_OS_IOVS];
    dm_event_t *wev = c->write;
    dm_chain_t *cl;
    size_t total, sz;
    off_t budget = limit ? limit : (off_t) SSIZE_MAX;
    ssize_t n;
    int niov;
    dm_err_t err;

    while (in && budget > 0) {
        niov = 0;
        total = 0;
        for (cl = in; cl && niov < DM_OS_IOVS && (off_t) total < budget;
             cl = cl->next) {
            sz = dm_buf_size(cl->buf);
            if (sz == 0) {
                continue;
            }
            if ((off_t) (total + sz) > budget) {
                sz = (size_t) (budget - (off_t) total);
            }
            iov[niov].iov_base = cl->buf->pos;
            iov[niov].iov_len = sz;
            niov++;
            total += sz;
        }
        if (total == 0) {
            /* only empty buffers left */
            return NULL;
        }

        n = writev(c->fd, iov, niov);
        if (n == -1) {
            err = errno;
            if (err == EINTR) {
                continue;
            }
            wev->ready = 0;
            if (err == EAGAIN) {
                return in;
            }
            wev->error = 1;
            c->error = 1;
            dm_connection_error(c, err, "writev() failed");
            return DM_CHAIN_ERROR;
        }

        c->sent += n;
        budget -= n;
        in = dm_chain_consume(in, (size_t) n);
        if ((size_t) n < total) {
            wev->ready = 0;
            return in;
        }
    }
    return in;
}
