/*
 * doorman: connections.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stats.h>
#include <dm_os_io.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <netinet/tcp.h>

dm_uint_t dm_connection_free_n;
dm_uint_t dm_connection_n;

static dm_connection_t *dm_connection_table;
static dm_event_t *dm_connection_revs;
static dm_event_t *dm_connection_wevs;
static dm_connection_t *dm_connection_free_list;
static dm_queue_t dm_connection_reusable_q;
static dm_uint_t dm_connection_serial;
static dm_msec_t dm_connection_last_warn;

static void dm_connection_linger_handler(dm_event_t *rev);

dm_int_t
dm_connection_init(dm_uint_t n, dm_log_t *log)
{
    dm_uint_t i;

    dm_connection_table = calloc(n, sizeof(dm_connection_t));
    dm_connection_revs = calloc(n, sizeof(dm_event_t));
    dm_connection_wevs = calloc(n, sizeof(dm_event_t));
    if (!dm_connection_table || !dm_connection_revs || !dm_connection_wevs) {
        dm_log_error(DM_LOG_EMERG, log, ENOMEM,
                     "cannot allocate %lu connections", (unsigned long) n);
        dm_connection_done();
        return DM_ERROR;
    }

    /* the free list runs in slot order, so low slots are used first */
    for (i = n; i-- > 0;) {
        dm_connection_t *c = &dm_connection_table[i];

        c->fd = -1;
        c->read = &dm_connection_revs[i];
        c->write = &dm_connection_wevs[i];
        c->read->closed = 1;
        c->write->closed = 1;
        c->write->write = 1;
        c->data = dm_connection_free_list;
        dm_connection_free_list = c;
    }
    dm_connection_n = n;
    dm_connection_free_n = n;
    dm_queue_init(&dm_connection_reusable_q);
    return DM_OK;
}

void
dm_connection_done(void)
{
    dm_uint_t i;

    for (i = 0; dm_connection_table && i < dm_connection_n; i++) {
        if (dm_connection_table[i].pool) {
            dm_pool_destroy(dm_connection_table[i].pool);
        }
    }
    free(dm_connection_table);
    free(dm_connection_revs);
    free(dm_connection_wevs);
    dm_connection_table = NULL;
    dm_connection_revs = NULL;
    dm_connection_wevs = NULL;
    dm_connection_free_list = NULL;
    dm_connection_n = 0;
    dm_connection_free_n = 0;
}

dm_connection_t *
dm_connection_get(int fd, size_t pool_size, dm_log_t *log)
{
    dm_connection_t *c;
    dm_event_t *rev, *wev;
    dm_pool_t *pool;
    unsigned instance;

    if (dm_connection_free_list == NULL) {
        dm_connection_drain();
    }
    c = dm_connection_free_list;
    if (c == NULL) {
        if (dm_current_msec - dm_connection_last_warn >= 1000) {
            dm_connection_last_warn = dm_current_msec;
            dm_log_error(DM_LOG_ALERT, log, 0,
                         "%lu worker_connections are not enough",
                         (unsigned long) dm_connection_n);
        }
        return NULL;
    }

    /* keep the slot's pool, or make one the first time */
    pool = c->pool;
    if (pool == NULL) {
        pool = dm_pool_create(pool_size, log);
        if (pool == NULL) {
            return NULL;
        }
    }

    dm_connection_free_list = c->data;
    dm_connection_free_n--;

    rev = c->read;
    wev = c->write;
    instance = rev->instance;

    memset(c, 0, sizeof(dm_connection_t));
    memset(rev, 0, sizeof(dm_event_t));
    memset(wev, 0, sizeof(dm_event_t));

    c->read = rev;
    c->write = wev;
    c->fd = fd;
    c->pool = pool;
    pool->log = &c->log_obj;
    c->log_obj = *log;
    c->log = &c->log_obj;
    c->recv = dm_os_recv;
    c->send = dm_os_send;
    c->send_chain = dm_os_send_chain;
    c->number = ++dm_connection_serial;
    c->start_msec = dm_current_msec;
    dm_queue_init(&c->queue);

    rev->instance = !instance;
    wev->instance = !instance;
    rev->data = c;
    wev->data = c;
    wev->write = 1;
    rev->log = c->log;
    wev->log = c->log;
    return c;
}

void
dm_connection_close(dm_connection_t *c)
{
    if (c->fd == -1) {
        dm_log_error(DM_LOG_ALERT, c->log, 0, "connection already closed");
        return;
    }

    dm_event_timer_del(c->read);
    dm_event_timer_del(c->write);
    dm_event_posted_del(c->read);
    dm_event_posted_del(c->write);
    dm_connection_reusable(c, 0);

    if (c->listening && !c->listener) {
        /* a client connection: this process's share goes down */
        dm_stats_add(DM_STAT_ACTIVE, -1);
        dm_stats_add(DM_STAT_HANDLED, 1);
    }
    c->read->closed = 1;
    c->write->closed = 1;
    c->read->active = 0;
    c->write->active = 0;
    c->destroyed = 1;
    if (c->ssl) {
        dm_ssl_free(c);
    }

    /* close() removes the socket from epoll: no epoll_ctl needed */
    if (!c->shared && close(c->fd) == -1) {
        dm_log_error(DM_LOG_ALERT, c->log, errno, "close() socket %d failed",
                     c->fd);
    }
    c->fd = -1;

    dm_pool_recycle(c->pool);
    c->pool->log = dm_cycle ? dm_cycle->log : dm_log_init();

    c->data = dm_connection_free_list;
    dm_connection_free_list = c;
    dm_connection_free_n++;

    /* a slot came back: a listener paused for lack of slots may resume */
    dm_event_accept_slot_freed();
}

void
dm_connection_reusable(dm_connection_t *c, int reusable)
{
    if (c->reusable) {
        dm_queue_remove(&c->queue);
    }
    c->reusable = reusable ? 1 : 0;
    if (reusable) {
        dm_queue_insert_head(&dm_connection_reusable_q, &c->queue);
    }
}

dm_uint_t
dm_connection_drain(void)
{
    dm_connection_t *c;
    dm_queue_t *q;
    dm_uint_t n = 0;

    while (n < 32 && !dm_queue_empty(&dm_connection_reusable_q)) {
        q = dm_queue_last(&dm_connection_reusable_q);
        c = dm_queue_data(q, dm_connection_t, queue);
        dm_connection_reusable(c, 0);
        c->close = 1;
        c->read->handler(c->read);
        n++;
    }
    return n;
}

void
dm_connection_lingering_close(dm_connection_t *c, dm_msec_t timeout,
                              dm_msec_t total)
{
    dm_event_t *rev = c->read;

    if (c->ssl) {
        /* close_notify first; what the peer still sends is discarded
           as raw bytes, undecrypted */
        dm_ssl_shutdown(c);
        c->recv = dm_os_recv;
    }
    if (c->type != SOCK_STREAM || shutdown(c->fd, SHUT_WR) == -1) {
        dm_connection_close(c);
        return;
    }
    c->linger_until = dm_current_msec + total;
    rev->handler = dm_connection_linger_handler;
    c->write->handler = dm_event_empty_handler;
    if (dm_event_timer_add(rev, timeout) != DM_OK) {
        dm_connection_close(c);
        return;
    }
    /* the peer may have sent (or closed) already */
    if (rev->ready) {
        dm_connection_linger_handler(rev);
    }
}

static void
dm_connection_linger_handler(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;
    u_char buf[4096];
    ssize_t n;
    dm_msec_t left;

    if (rev->timedout || c->close || dm_current_msec >= c->linger_until) {
        dm_connection_close(c);
        return;
    }
    do {
        n = c->recv(c, buf, sizeof(buf));
        if (n == DM_ERROR || n == 0) {
            dm_connection_close(c);
            return;
        }
    } while (rev->ready);

    left = c->linger_until - dm_current_msec;
    if (dm_event_timer_add(rev, dm_min(left, (dm_msec_t) 5000)) != DM_OK) {
        dm_connection_close(c);
    }
}

dm_int_t
dm_connection_tcp_nodelay(dm_connection_t *c)
{
    int on = 1;

    if (c->tcp_nodelay || c->type != SOCK_STREAM
        || (c->sockaddr && c->sockaddr->sa_family == AF_UNIX)) {
        return DM_OK;
    }
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1) {
        dm_connection_error(c, errno, "setsockopt(TCP_NODELAY) failed");
        return DM_ERROR;
    }
    c->tcp_nodelay = 1;
    return DM_OK;
}

dm_int_t
dm_connection_local_sockaddr(dm_connection_t *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (c->local_sockaddr) {
        return DM_OK;
    }
    if (getsockname(c->fd, (struct sockaddr *) &ss, &len) == -1) {
        dm_connection_error(c, errno, "getsockname() failed");
        return DM_ERROR;
    }
    c->local_sockaddr = dm_palloc(c->pool, len);
    if (c->local_sockaddr == NULL) {
        return DM_ERROR;
    }
    memcpy(c->local_sockaddr, &ss, len);
    c->local_socklen = len;
    return DM_OK;
}

u_char *
dm_connection_log_handler(dm_log_t *log, u_char *buf, size_t len)
{
    dm_connection_t *c = log->data;
    u_char *p = buf;
    int n;

    if (log->action && len) {
        n = snprintf((char *) p, len, " while %s", log->action);
        if (n > 0) {
            p += dm_min((size_t) n, len - 1);
            len -= dm_min((size_t) n, len - 1);
        }
    }
    if (c == NULL || len == 0) {
        return p;
    }
    n = snprintf((char *) p, len, ", client: %.*s, server: %.*s",
                 DM_STR_ARG(c->addr_text),
                 c->listening ? (int) c->listening->addr_text.len : 0,
                 c->listening ? (const char *) c->listening->addr_text.data
                              : "");
    if (n > 0) {
        p += dm_min((size_t) n, len - 1);
    }
    return p;
}

void
dm_connection_error(dm_connection_t *c, dm_err_t err, const char *text)
{
    dm_uint_t level;

    switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTDOWN:
    case EHOSTUNREACH:
        level = DM_LOG_INFO;
        break;
    default:
        level = DM_LOG_ERR;
    }
    dm_log_error(level, c->log, err, "%s", text);
}
