/*
 * doorman: the stream { } engine's configuration.
 */
#ifndef DM_STREAM_CONF_H
#define DM_STREAM_CONF_H

#include <dm_stream_conf_t.h>

extern dm_module_t dm_stream_module;
extern dm_module_t dm_stream_core_module;

/* A stream module's structure at the main level of a stream context. */
#define dm_stream_conf_get_main(ctx, module)                                   \
    ((ctx)->main_conf[(module).ctx_index])
/* A stream module's structure in a server's context. */
#define dm_stream_conf_get_srv(ctx, module)                                    \
    ((ctx)->srv_conf[(module).ctx_index])

/* The stream block's context of a cycle, or NULL without a stream block. */
dm_conf_ctx_t *dm_stream_conf_ctx(dm_cycle_t *cycle);

#endif /* DM_STREAM_CONF_H */
