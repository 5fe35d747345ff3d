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

/*
 * An implicit group for an address written where a group name may go
 * (proxy_pass 10.0.0.1:5432): one server, default parameters, named by
 * the address, in the upstream list of the engine being configured.
 * Returns it, or NULL after logging (an address that does not parse).
 */
dm_upstream_srv_conf_t *dm_upstream_conf_implicit(dm_conf_t *cf,
                                                  const dm_str_t *addr);

#endif /* DM_UPSTREAM_CONF_H */
