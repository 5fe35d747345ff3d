/*
 * doorman: the http { } engine's configuration.
 */
#ifndef DM_HTTP_CONF_H
#define DM_HTTP_CONF_H

#include <dm_http_conf_t.h>

extern dm_module_t dm_http_module;
extern dm_module_t dm_http_core_module;

#define dm_http_conf_get_main(ctx, module)                                     \
    ((ctx)->main_conf[(module).ctx_index])
#define dm_http_conf_get_srv(ctx, module) ((ctx)->srv_conf[(module).ctx_index])
#define dm_http_conf_get_loc(ctx, module) ((ctx)->loc_conf[(module).ctx_index])

/* The http block's context of a cycle, or NULL without an http block. */
dm_conf_ctx_t *dm_http_conf_ctx(dm_cycle_t *cycle);

#endif /* DM_HTTP_CONF_H */
