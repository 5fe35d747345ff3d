/*
 * doorman: events, types.
 *
 * Every connection has a read and a write event. Events are registered
 * once per socket, edge-triggered, and remember readiness between
 * notifications: a handler runs when its event becomes ready, when its
 * timer expires, or when it was posted.
 */
#ifndef DM_EVENT_T_H
#define DM_EVENT_T_H

typedef struct dm_event_s dm_event_t;
typedef void (*dm_event_handler_pt)(dm_event_t *ev);

struct dm_event_s {
    void *data;                  /* the connection (or the owner) */
    dm_event_handler_pt handler; /* run when the event fires */
    dm_log_t *log;               /* where the handler reports */

    dm_msec_t timer_key;   /* expiry, in dm_current_msec terms */
    dm_uint_t timer_index; /* position in the timer heap */
    dm_queue_t queue;      /* link in a posted-events queue */

    unsigned write:1;       /* the write event of its connection */
    unsigned accept:1;      /* a listening socket's read event */
    unsigned instance:1;    /* flips on reuse: detects stale events */
    unsigned active:1;      /* registered with epoll */
    unsigned ready:1;       /* may read (write) without EAGAIN */
    unsigned eof:1;         /* the peer closed its write side */
    unsigned pending_eof:1; /* EPOLLRDHUP seen: EOF after the data */
    unsigned error:1;       /* an error was reported on the socket */
    unsigned timedout:1;    /* the handler runs because the timer fired */
    unsigned timer_set:1;   /* a timer is armed */
    unsigned posted:1;      /* queued in a posted-events queue */
    unsigned closed:1;      /* the connection is closed: ignore */
    unsigned cancelable:1;  /* its timer does not hold up a graceful exit */
    unsigned delayed:1;     /* a rate limiter put it off (timer set) */
};

#endif /* DM_EVENT_T_H */
