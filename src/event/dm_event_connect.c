/*
 * doorman: non-blocking connect to a peer (the upstream side).
 *
 * The socket is registered with epoll only after connect() returned, so
 * the first EPOLLOUT means "connected or failed" (an unconnected socket
 * would report EPOLLOUT|EPOLLHUP at once). Failures that belong to the
 * peer (refused, unreachable, no local address left) are DM_DECLINED so
 * the caller tries the next peer; EADDRNOTAVAIL is logged at most once a
 * second since it comes in storms when ephemeral ports run out.
 */
#include <dm_core.h>
#include <dm_event.h>

static dm_msec_t dm_event_connect_last_eaddr;

static int
dm_event_connect_peer_fault(dm_err_t err)
{
    switch (err) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
    case ETIMEDOUT:
    case EAGAIN: /* a unix socket whose backlog is full */
    case ENOENT: /* a unix socket path that is gone */
        return 1;
    }
    return 0;
}

dm_int_t
dm_event_connect(dm_event_peer_t *pc, size_t pool_size)
{
    dm_connection_t *c;
    dm_err_t err;
    int fd, rc;

    pc->connection = NULL;
    fd = socket(pc->sockaddr->sa_family,
                pc->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        dm_log_error(DM_LOG_ALERT, pc->log, errno, "socket() failed");
        return DM_ERROR;
    }
    c = dm_connection_get(fd, pool_size, pc->log);
    if (c == NULL) {
        close(fd);
        return DM_ERROR;
    }
    c->type = pc->type;
    c->sockaddr = pc->sockaddr;
    c->socklen = pc->socklen;
    if (pc->name) {
        c->addr_text = *pc->name;
    }

    if (pc->local) {
#ifdef IP_BIND_ADDRESS_NO_PORT
        int on = 1;

        /* let connect() pick the port: bind() alone would pin one per
           address and exhaust them */
        if (pc->local->sa_family != AF_UNIX) {
            (void) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on,
                              sizeof(on));
        }
#endif
#ifdef IP_TRANSPARENT
        if (pc->transparent) {
            int t = 1;

            if (setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &t, sizeof(t))
                == -1) {
                dm_log_error(DM_LOG_ALERT, pc->log, errno,
                             "setsockopt(IP_TRANSPARENT) failed");
                dm_connection_close(c);
                return DM_ERROR;
            }
        }
#endif
        if (bind(fd, pc->local, pc->local_len) == -1) {
            err = errno;
            dm_log_error(DM_LOG_CRIT, pc->log, err, "bind() for %.*s failed",
                         DM_STR_ARG(c->addr_text));
            dm_connection_close(c);
            return err == EADDRNOTAVAIL || err == EADDRINUSE ? DM_DECLINED
                                                             : DM_ERROR;
        }
    }

    rc = connect(fd, pc->sockaddr, pc->socklen);
    err = (rc == -1) ? errno : 0;

    if (rc == -1 && err != EINPROGRESS) {
        if (err == EADDRNOTAVAIL) {
            if (dm_current_msec - dm_event_connect_last_eaddr >= 1000) {
                dm_event_connect_last_eaddr = dm_current_msec;
                dm_log_error(DM_LOG_CRIT, pc->log, err,
                             "connect() to %.*s failed",
                             DM_STR_ARG(c->addr_text));
            }
        } else {
            dm_log_error(dm_event_connect_peer_fault(err) ? DM_LOG_ERR
                                                          : DM_LOG_ALERT,
                         pc->log, err, "connect() to %.*s failed",
                         DM_STR_ARG(c->addr_text));
        }
        dm_connection_close(c);
        return dm_event_connect_peer_fault(err) ? DM_DECLINED : DM_ERROR;
    }

    if (dm_event_add_conn(c) != DM_OK) {
        dm_connection_close(c);
        return DM_ERROR;
    }
    pc->connection = c;
    if (rc == 0) {
        c->write->ready = 1;
        return DM_OK;
    }
    return DM_AGAIN;
}

dm_int_t
dm_event_connect_check(dm_connection_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }
    if (err) {
        c->error = 1;
        dm_log_error(
            dm_event_connect_peer_fault(err) ? DM_LOG_ERR : DM_LOG_ALERT,
            c->log, err, "connect() to %.*s failed", DM_STR_ARG(c->addr_text));
        return DM_ERROR;
    }
    return DM_OK;
}
