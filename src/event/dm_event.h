/*
 * doorman: the event loop: one epoll instance per process, edge-triggered,
 * every socket registered once; timers; posted events; the accept loop;
 * non-blocking connect.
 *
 * One turn of the loop (dm_event_process): find the nearest timer, wait in
 * epoll_wait at most that long, refresh the cached clocks, run the
 * handlers of ready sockets (accept events are posted and run after the
 * others), expire timers, run posted events.
 */
#ifndef DM_EVENT_H
#define DM_EVENT_H

#include <dm_event_t.h>
#include <dm_event_timer.h>
#include <dm_event_conf.h>

/*
 * Prepares this process to serve: the epoll instance, the timer heap, the
 * connection table of `connections` slots. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_event_init(dm_cycle_t *cycle, dm_uint_t connections);

/* Releases what dm_event_init made (at process exit). */
void dm_event_done(void);

/*
 * Runs one turn of the loop, waiting at most `max_wait` ms
 * (DM_EVENT_TIMER_INFINITE: until the nearest timer).
 */
void dm_event_process(dm_msec_t max_wait);

/*
 * Registers c's socket for EPOLLIN|EPOLLOUT|EPOLLRDHUP, edge-triggered,
 * once for its whole life. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_event_add_conn(dm_connection_t *c);

/*
 * Registers (or, with del, unregisters) a listening connection for EPOLLIN
 * only; used to pause and resume accepting.
 */
dm_int_t dm_event_listen_ctl(dm_connection_t *c, int del);

/* Posted events run after the current batch, in this turn. */
extern dm_queue_t dm_event_posted;
extern dm_queue_t dm_event_posted_accept;

/* Queues ev on q unless it is queued already. */
void dm_event_post(dm_event_t *ev, dm_queue_t *q);
/* Removes ev from its queue, if queued. */
void dm_event_posted_del(dm_event_t *ev);
/* Runs (and dequeues) every event of q, including ones posted meanwhile. */
void dm_event_posted_run(dm_queue_t *q);

/* A handler that does nothing (for events that must not fire). */
void dm_event_empty_handler(dm_event_t *ev);

/*
 * The accept loop: starts accepting on the listening sockets of worker
 * `slot` of `nworkers` (its own slot sockets and any surplus slot s with
 * s % nworkers == slot). Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_event_accept_start(dm_cycle_t *cycle, dm_uint_t slot,
                               dm_uint_t nworkers);

/* Stops accepting for good (graceful shutdown): listeners unregistered. */
void dm_event_accept_stop(dm_cycle_t *cycle);

/* Called when a connection slot is freed: resumes paused listeners. */
void dm_event_accept_slot_freed(void);

/* The read handler of listening sockets. */
void dm_event_accept(dm_event_t *ev);

/*
 * An outgoing connection being opened (upstream side).
 */
typedef struct {
    struct sockaddr *sockaddr; /* whom to connect to */
    socklen_t socklen;
    dm_str_t *name;         /* its text, for logs */
    struct sockaddr *local; /* proxy_bind address, or NULL */
    socklen_t local_len;
    int type;                    /* SOCK_STREAM or SOCK_DGRAM */
    dm_connection_t *connection; /* set by dm_event_connect */
    dm_log_t *log;
    unsigned transparent:1; /* IP_TRANSPARENT for proxy_bind */
} dm_event_peer_t;

/*
 * Starts a non-blocking connect. Returns DM_OK (connected at once),
 * DM_AGAIN (in progress: the write event fires when it completes or
 * fails), DM_DECLINED (this peer failed at once: ECONNREFUSED,
 * EADDRNOTAVAIL... try the next one), or DM_ERROR (our failure: no slot,
 * no descriptor).
 */
dm_int_t dm_event_connect(dm_event_peer_t *pc, size_t pool_size);

/*
 * After the write event of a connect in progress fired: DM_OK when the
 * connection is up, DM_ERROR (logged) when it failed.
 */
dm_int_t dm_event_connect_check(dm_connection_t *c);

#endif /* DM_EVENT_H */
