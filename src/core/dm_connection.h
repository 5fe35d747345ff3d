/*
 * doorman: connections: the per-process table, the free list, reuse of
 * idle connections, closing (plain and lingering) and socket options.
 *
 * Each process has worker_connections slots allocated once; taking and
 * returning a slot allocates nothing, and a slot keeps its pool (reset)
 * for the next connection, so a warm worker does not malloc per
 * connection.
 */
#ifndef DM_CONNECTION_H
#define DM_CONNECTION_H

#include <dm_connection_t.h>

/* Free slots left, and the table's size. */
extern dm_uint_t dm_connection_free_n;
extern dm_uint_t dm_connection_n;

/*
 * Allocates the table of n connections with their events. Called once in
 * each process that serves. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_connection_init(dm_uint_t n, dm_log_t *log);

/* Frees the table (process exit). */
void dm_connection_done(void);

/*
 * Takes a free slot for socket fd: events reset (instance bit flipped so
 * stale epoll events for a previous user of the slot are dropped), hooks
 * set to plain socket I/O, a pool of `pool_size` ready. Returns NULL, with
 * a rate-limited log line, when no slot is free (after trying to reclaim
 * an idle connection) or the pool cannot be made.
 */
dm_connection_t *dm_connection_get(int fd, size_t pool_size, dm_log_t *log);

/*
 * Closes the socket and returns the slot: timers disarmed, posted events
 * dropped, the pool's cleanups run and the pool reset for reuse.
 */
void dm_connection_close(dm_connection_t *c);

/*
 * Puts c in (reusable = 1) or takes it out of (0) the queue of idle
 * connections that may be closed when slots run out. An idle keep-alive
 * connection is reusable; one with a request in flight is not.
 */
void dm_connection_reusable(dm_connection_t *c, int reusable);

/*
 * Closes up to 32 of the oldest reusable connections (their read handler
 * runs with c->close set, so the engine can log and finish them). Returns
 * how many were asked to close.
 */
dm_uint_t dm_connection_drain(void);

/*
 * Lingering close: half-closes our side, then reads and discards what the
 * peer still sends until it closes, `timeout` ms pass without data, or
 * `total` ms pass; then closes. Used after an answer was sent while input
 * may be pending, because close() with unread input sends a RST that can
 * destroy the answer in flight.
 */
void dm_connection_lingering_close(dm_connection_t *c, dm_msec_t timeout,
                                   dm_msec_t total);

/* Sets TCP_NODELAY once. Returns DM_OK or DM_ERROR (logged). */
dm_int_t dm_connection_tcp_nodelay(dm_connection_t *c);

/*
 * Fills c->local_sockaddr (getsockname) if not known yet. Returns DM_OK or
 * DM_ERROR.
 */
dm_int_t dm_connection_local_sockaddr(dm_connection_t *c);

/*
 * Log context appender for connections: ", client: ADDR, server: ADDR".
 */
u_char *dm_connection_log_handler(dm_log_t *log, u_char *buf, size_t len);

/*
 * Logs an I/O error at a level that fits it: ECONNRESET and friends are
 * the peer's doing (info), anything else is ours (error).
 */
void dm_connection_error(dm_connection_t *c, dm_err_t err, const char *text);

#endif /* DM_CONNECTION_H */
