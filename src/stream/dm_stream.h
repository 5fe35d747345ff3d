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

#endif /* DM_STREAM_H */
