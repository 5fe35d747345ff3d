/*
 * doorman: the stream (L4) engine: one include for its modules.
 */
#ifndef DM_STREAM_H
#define DM_STREAM_H

#include <dm_stream_conf.h>
#include <dm_stream_session.h>

/*
 * Declares the stream engine's own variables: $bytes_sent
 * $bytes_received $session_time $status $protocol $upstream_addr.
 */
dm_int_t dm_stream_variables_add(dm_conf_t *cf, dm_variable_registry_t *reg);

/*
 * UDP: the listener's handler (reads datagrams, finds or makes each
 * client's session), and what a content handler uses: the callback that
 * receives the session's later datagrams, and sending a datagram back to
 * the client from the address it wrote to.
 */
typedef void (*dm_stream_udp_recv_pt)(dm_stream_session_t *s, u_char *data,
                                      size_t len);

void dm_stream_udp_recv(dm_connection_t *lc);
void dm_stream_udp_set_handler(dm_stream_session_t *s,
                               dm_stream_udp_recv_pt handler);
dm_int_t dm_stream_udp_send(dm_stream_session_t *s, const u_char *data,
                            size_t len);

/* Unbinds the session from its client: the next datagram starts a new
   session (proxy_requests reached). */
void dm_stream_udp_unbind(dm_stream_session_t *s);

#endif /* DM_STREAM_H */
