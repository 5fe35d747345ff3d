/*
 * doorman: upstream { } blocks in stream and http.
 */
#ifndef DM_UPSTREAM_CONF_H
#define DM_UPSTREAM_CONF_H

#include <dm_upstream_conf_t.h>

extern dm_module_t dm_stream_upstream_module;
extern dm_module_t dm_http_upstream_module;

/*
 * Finds the upstream group `name` among the groups of an engine's main
 * structure; NULL when there is none.
 */
dm_upstream_srv_conf_t *dm_upstream_conf_find(dm_upstream_main_conf_t *umcf,
                                              const dm_str_t *name);

#endif /* DM_UPSTREAM_CONF_H */
