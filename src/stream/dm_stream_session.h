/*
 * doorman: stream sessions: from an accepted connection through the
 * phases to the access log and the close.
 */
#ifndef DM_STREAM_SESSION_H
#define DM_STREAM_SESSION_H

#include <dm_stream_session_t.h>

/* The listening handler of stream sockets. */
void dm_stream_session_init_connection(dm_connection_t *c);

/*
 * Walks the pipeline from where the session stopped (call it again after
 * a handler returned DM_AGAIN and its event fired).
 */
void dm_stream_session_run(dm_stream_session_t *s);

/*
 * Ends the session with $status `status`: the LOG phase runs, then the
 * connection is closed (lingering, so an answer just sent is not
 * destroyed by a reset). Safe to call twice.
 */
void dm_stream_session_finalize(dm_stream_session_t *s, dm_uint_t status);

/* The structure of a stream module for a session. */
#define dm_stream_session_srv_conf(s, module)                                  \
    ((s)->srv_conf[(module).ctx_index])
#define dm_stream_session_main_conf(s, module)                                 \
    ((s)->main_conf[(module).ctx_index])

#endif /* DM_STREAM_SESSION_H */
