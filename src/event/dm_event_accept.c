/*
 * doorman: accepting connections.
 *
 * A worker never accepts a connection only to close it: before each
 * accept4() it checks that a connection slot is free. When slots run out
 * (after reclaiming idle keep-alive connections) or the process is out of
 * descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM), every listener of the
 * process is taken out of epoll, so queued clients wait in the kernel's
 * backlog instead of being reset, and the loop does not spin on a
 * readiness it cannot act on. Listeners come back when slots free up, or
 * when a timer fires for descriptor shortages.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stats.h>

/* Connections accepted per listener per turn before yielding. */
#define DM_EVENT_ACCEPT_CAP 64
/* Pause after a descriptor shortage. */
#define DM_EVENT_ACCEPT_RETRY 100

static dm_cycle_t *dm_event_accept_cycle;
static dm_uint_t dm_event_accept_slot;
static dm_uint_t dm_event_accept_nworkers = 1;
static int dm_event_accept_paused;  /* 0, or why: 1 slots, 2 descriptors */
static int dm_event_accept_stopped; /* stop() was called */
static dm_event_t dm_event_accept_timer;
static dm_msec_t dm_event_accept_last_log;

static void dm_event_accept_pause(int why, dm_err_t err);
static void dm_event_accept_resume(void);
static void dm_event_accept_timer_handler(dm_event_t *ev);
static void dm_event_accept_udp(dm_event_t *ev);

/* Graceful stop: UDP listeners stop being read too. */
static void
dm_event_accept_each_udp(dm_cycle_t *cycle)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_uint_t i;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].type == SOCK_DGRAM && ls[i].connection) {
            dm_event_listen_ctl(ls[i].connection, 1);
            dm_connection_close(ls[i].connection);
            ls[i].connection = NULL;
        }
    }
}

/*
 * Worker k of n accepts on the slots s with s % n == k: its own slot, and
 * the surplus slots left by a reload to fewer workers, which must still be
 * drained. Unix sockets are everybody's.
 */
static int
dm_event_accept_mine(const dm_listening_t *ls)
{
    return ls->worker == DM_LISTENING_ANY_SLOT
           || ls->worker % dm_event_accept_nworkers == dm_event_accept_slot;
}

/* Calls fn on the connection of every listener of this process. */
static dm_int_t
dm_event_accept_each(dm_int_t (*fn)(dm_connection_t *c, int arg), int arg)
{
    dm_listening_t *ls;
    dm_uint_t i;
    dm_int_t rc = DM_OK;

    if (dm_event_accept_cycle == NULL) {
        return DM_OK;
    }
    ls = dm_event_accept_cycle->listening.elts;
    for (i = 0; i < dm_event_accept_cycle->listening.nelts; i++) {
        if (!dm_event_accept_mine(&ls[i]) || ls[i].connection == NULL
            || ls[i].type != SOCK_STREAM) {
            continue;
        }
        if (fn(ls[i].connection, arg) != DM_OK) {
            rc = DM_ERROR;
        }
        ls[i].disabled = (arg != 0);
    }
    return rc;
}

dm_int_t
dm_event_accept_start(dm_cycle_t *cycle, dm_uint_t slot, dm_uint_t nworkers)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_connection_t *c;
    dm_uint_t i;

    dm_event_accept_cycle = cycle;
    dm_event_accept_slot = slot;
    dm_event_accept_nworkers = nworkers ? nworkers : 1;
    dm_event_accept_paused = 0;
    dm_event_accept_stopped = 0;
    memset(&dm_event_accept_timer, 0, sizeof(dm_event_accept_timer));
    dm_event_accept_timer.handler = dm_event_accept_timer_handler;
    dm_event_accept_timer.log = cycle->log;
    dm_event_accept_timer.cancelable = 1;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (!dm_event_accept_mine(&ls[i]) || ls[i].fd == -1) {
            continue;
        }
        c = dm_connection_get(ls[i].fd, 256, cycle->log);
        if (c == NULL) {
            return DM_ERROR;
        }
        ls[i].log = *cycle->log;
        ls[i].log.handler = dm_connection_log_handler;
        ls[i].log.data = NULL;
        c->listening = &ls[i];
        c->type = SOCK_STREAM;
        c->shared = 1; /* the socket belongs to the listener, not the slot */
        c->listener = 1;
        if (ls[i].type == SOCK_DGRAM) {
            /* datagrams: the engine reads them and finds their session */
            c->type = SOCK_DGRAM;
            c->read->handler = dm_event_accept_udp;
            c->write->handler = dm_event_empty_handler;
            ls[i].connection = c;
            if (dm_event_listen_ctl(c, 0) != DM_OK) {
                return DM_ERROR;
            }
            continue;
        }
        c->read->accept = 1;
        c->read->handler = dm_event_accept;
        c->write->handler = dm_event_empty_handler;
        ls[i].connection = c;
        if (dm_event_listen_ctl(c, 0) != DM_OK) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

static dm_int_t
dm_event_accept_del(dm_connection_t *c, int arg)
{
    return dm_event_listen_ctl(c, 1);
}

static dm_int_t
dm_event_accept_add(dm_connection_t *c, int arg)
{
    return dm_event_listen_ctl(c, 0);
}

static dm_int_t
dm_event_accept_release(dm_connection_t *c, int arg)
{
    dm_event_listen_ctl(c, 1);
    c->listening->connection = NULL;
    dm_connection_close(c); /* shared: the socket itself stays open */
    return DM_OK;
}

/* A UDP listener is readable: the engine takes the datagrams. */
static void
dm_event_accept_udp(dm_event_t *ev)
{
    dm_connection_t *lc = ev->data;

    lc->listening->handler(lc);
}

void
dm_event_accept_stop(dm_cycle_t *cycle)
{
    if (dm_event_accept_stopped) {
        return;
    }
    dm_event_accept_stopped = 1;
    dm_event_timer_del(&dm_event_accept_timer);
    dm_event_accept_each(dm_event_accept_release, 1);
    dm_event_accept_each_udp(cycle);
}

void
dm_event_accept(dm_event_t *ev)
{
    dm_connection_t *lc = ev->data, *c;
    dm_listening_t *ls = lc->listening;
    struct sockaddr_storage sa;
    u_char text[DM_INET_ADDRSTRLEN];
    socklen_t len;
    dm_err_t err;
    int fd, n;

    for (n = 0; n < DM_EVENT_ACCEPT_CAP; n++) {
        if (dm_event_accept_paused || dm_event_accept_stopped) {
            return;
        }
        if (dm_connection_free_n == 0 && dm_connection_drain() == 0
            && dm_connection_free_n == 0) {
            dm_event_accept_pause(1, 0);
            return;
        }

        len = sizeof(sa);
        fd = accept4(lc->fd, (struct sockaddr *) &sa, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            err = errno;
            if (err == EAGAIN) {
                ev->ready = 0;
                return;
            }
            if (err == ECONNABORTED || err == EINTR || err == EPROTO) {
                continue; /* that client gave up; the next may not have */
            }
            if (err == EMFILE || err == ENFILE || err == ENOBUFS
                || err == ENOMEM) {
                dm_event_accept_pause(2, err);
                return;
            }
            dm_log_error(DM_LOG_ALERT, ev->log, err, "accept4() on %.*s failed",
                         DM_STR_ARG(ls->addr_text));
            return;
        }

        c = dm_connection_get(fd, ls->pool_size, &ls->log);
        if (c == NULL) {
            /* a pool could not be made: nothing better than to refuse */
            close(fd);
            return;
        }
        c->type = SOCK_STREAM;
        c->listening = ls;
        c->log_obj.handler = dm_connection_log_handler;
        c->log_obj.data = c;
        c->sockaddr = dm_palloc(c->pool, len);
        c->addr_text.len =
            dm_inet_ntop((struct sockaddr *) &sa, text, sizeof(text), 0);
        c->addr_text.data = dm_pnalloc(c->pool, c->addr_text.len + 1);
        if (c->sockaddr == NULL || c->addr_text.data == NULL) {
            dm_connection_close(c);
            continue;
        }
        memcpy(c->sockaddr, &sa, len);
        c->socklen = len;
        memcpy(c->addr_text.data, text, c->addr_text.len + 1);

        if (dm_event_add_conn(c) != DM_OK) {
            dm_connection_close(c);
            continue;
        }
        /* a new socket has an empty send buffer: no need to wait for
           EPOLLOUT before answering */
        c->write->ready = 1;
        dm_stats_add(DM_STAT_ACTIVE, 1);
        dm_stats_add(DM_STAT_ACCEPTED, 1);
        ls->handler(c);
    }

    /* the cap was reached: let other sockets run, continue next turn */
    dm_event_post(ev, &dm_event_posted);
}

static void
dm_event_accept_pause(int why, dm_err_t err)
{
    if (dm_event_accept_paused) {
        return;
    }
    dm_event_accept_paused = why;
    dm_event_accept_each(dm_event_accept_del, 1);

    if (dm_current_msec - dm_event_accept_last_log >= 1000
        || dm_event_accept_last_log == 0) {
        dm_event_accept_last_log = dm_current_msec;
        if (why == 1) {
            dm_log_error(DM_LOG_WARN, dm_event_accept_timer.log, 0,
                         "%lu worker_connections are not enough: accepting "
                         "paused until connections close",
                         (unsigned long) dm_connection_n);
        } else {
            dm_log_error(DM_LOG_ALERT, dm_event_accept_timer.log, err,
                         "accept4() failed: accepting paused for %dms",
                         DM_EVENT_ACCEPT_RETRY);
        }
    }
    /* slots come back through dm_event_accept_slot_freed; the timer is
       the only way back from a descriptor shortage */
    dm_event_timer_add(&dm_event_accept_timer,
                       why == 1 ? 1000 : DM_EVENT_ACCEPT_RETRY);
}

static void
dm_event_accept_resume(void)
{
    if (!dm_event_accept_paused || dm_event_accept_stopped) {
        return;
    }
    dm_event_accept_paused = 0;
    dm_event_timer_del(&dm_event_accept_timer);
    /* re-adding reports the connections queued meanwhile */
    dm_event_accept_each(dm_event_accept_add, 0);
}

void
dm_event_accept_slot_freed(void)
{
    /*
     * Resume only with some headroom, so a saturated worker does not
     * flip its listeners in and out of epoll on every close.
     */
    if (dm_event_accept_paused == 1
        && dm_connection_free_n >= dm_max(1, dm_connection_n / 16)) {
        dm_event_accept_resume();
    }
}

static void
dm_event_accept_timer_handler(dm_event_t *ev)
{
    if (dm_event_accept_paused == 1 && dm_connection_free_n == 0) {
        dm_event_timer_add(ev, 1000);
        return;
    }
    dm_event_accept_resume();
}
