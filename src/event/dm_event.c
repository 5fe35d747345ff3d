/*
 * doorman: the event loop over epoll.
 *
 * Sockets are registered once, edge-triggered, for input, output and
 * peer shutdown; the event structures remember readiness, so a socket is
 * never re-armed. The pointer stored in epoll carries the slot's instance
 * bit: when a slot is closed and reused within one batch of events, the
 * stale events of the old socket are recognized and dropped.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <sys/epoll.h>

#define DM_EVENT_BATCH 512

static int dm_event_ep = -1;
static struct epoll_event *dm_event_list;
static int dm_event_nlist;
static dm_log_t *dm_event_log;

dm_int_t
dm_event_init(dm_cycle_t *cycle, dm_uint_t connections)
{
    dm_event_log = cycle->log;
    dm_queue_init(&dm_event_posted);
    dm_queue_init(&dm_event_posted_accept);
    dm_time_update();

    dm_event_ep = epoll_create1(EPOLL_CLOEXEC);
    if (dm_event_ep == -1) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno, "epoll_create1() failed");
        return DM_ERROR;
    }
    dm_event_nlist = (int) dm_min(connections, (dm_uint_t) DM_EVENT_BATCH);
    dm_event_list = calloc((size_t) dm_event_nlist, sizeof(*dm_event_list));
    if (dm_event_list == NULL
        || dm_event_timer_init(2 * connections + 16, cycle->log) != DM_OK
        || dm_connection_init(connections, cycle->log) != DM_OK) {
        dm_event_done();
        return DM_ERROR;
    }
    return DM_OK;
}

void
dm_event_done(void)
{
    dm_connection_done();
    dm_event_timer_done();
    free(dm_event_list);
    dm_event_list = NULL;
    if (dm_event_ep != -1) {
        close(dm_event_ep);
        dm_event_ep = -1;
    }
}

static void *
dm_event_tag(dm_connection_t *c)
{
    return (void *) ((uintptr_t) c | c->read->instance);
}

dm_int_t
dm_event_add_conn(dm_connection_t *c)
{
    struct epoll_event ee;

    ee.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    ee.data.ptr = dm_event_tag(c);
    if (epoll_ctl(dm_event_ep, EPOLL_CTL_ADD, c->fd, &ee) == -1) {
        dm_log_error(DM_LOG_ALERT, c->log, errno, "epoll_ctl(ADD, %d) failed",
                     c->fd);
        return DM_ERROR;
    }
    c->read->active = 1;
    c->write->active = 1;
    c->read->closed = 0;
    c->write->closed = 0;
    return DM_OK;
}

dm_int_t
dm_event_listen_ctl(dm_connection_t *c, int del)
{
    struct epoll_event ee;
    int op = del ? EPOLL_CTL_DEL : EPOLL_CTL_ADD;

    if ((del && !c->read->active) || (!del && c->read->active)) {
        return DM_OK;
    }
    /*
     * Listeners are edge-triggered too: an accept loop that stops at its
     * cap posts itself to continue, and adding a paused listener back
     * reports the connections queued meanwhile (EPOLL_CTL_ADD checks
     * readiness at once).
     */
    ee.events = EPOLLIN | EPOLLET;
    ee.data.ptr = dm_event_tag(c);
    if (epoll_ctl(dm_event_ep, op, c->fd, del ? NULL : &ee) == -1) {
        dm_log_error(DM_LOG_ALERT, c->log, errno, "epoll_ctl(%s, %d) failed",
                     del ? "DEL" : "ADD", c->fd);
        return DM_ERROR;
    }
    c->read->active = !del;
    c->read->closed = 0;
    return DM_OK;
}

void
dm_event_process(dm_msec_t max_wait)
{
    dm_msec_t timer = dm_event_timer_find();
    dm_connection_t *c;
    dm_event_t *rev, *wev;
    unsigned instance;
    uint32_t revents;
    int i, n, wait;

    if (max_wait != DM_EVENT_TIMER_INFINITE
        && (timer == DM_EVENT_TIMER_INFINITE || max_wait < timer)) {
        timer = max_wait;
    }
    /* posted work left over means no sleeping this turn */
    if (!dm_queue_empty(&dm_event_posted)
        || !dm_queue_empty(&dm_event_posted_accept)) {
        timer = 0;
    }
    wait = (timer == DM_EVENT_TIMER_INFINITE) ? -1
           : (timer > INT_MAX)                ? INT_MAX
                                              : (int) timer;

    n = epoll_wait(dm_event_ep, dm_event_list, dm_event_nlist, wait);
    if (n == -1 && errno != EINTR) {
        dm_log_error(DM_LOG_ALERT, dm_event_log, errno, "epoll_wait() failed");
    }
    dm_time_update();

    for (i = 0; i < n; i++) {
        c = (dm_connection_t *) ((uintptr_t) dm_event_list[i].data.ptr
                                 & ~(uintptr_t) 1);
        instance = (unsigned) ((uintptr_t) dm_event_list[i].data.ptr & 1);
        rev = c->read;
        if (c->fd == -1 || rev->instance != instance) {
            continue; /* stale: the slot was closed (and maybe reused) */
        }

        revents = dm_event_list[i].events;
        if (revents & (EPOLLERR | EPOLLHUP)) {
            /* let the handlers find the error through their I/O calls */
            revents |= EPOLLIN | EPOLLOUT;
        }

        if ((revents & EPOLLIN) && rev->active) {
            if (revents & EPOLLRDHUP) {
                rev->pending_eof = 1;
            }
            rev->ready = 1;
            if (rev->accept) {
                dm_event_post(rev, &dm_event_posted_accept);
            } else {
                rev->handler(rev);
            }
        }

        wev = c->write;
        if ((revents & EPOLLOUT) && wev->active && c->fd != -1
            && wev->instance == instance) {
            wev->ready = 1;
            wev->handler(wev);
        }
    }

    dm_event_posted_run(&dm_event_posted_accept);
    dm_event_timer_expire();
    dm_event_posted_run(&dm_event_posted);
}
