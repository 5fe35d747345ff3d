/*
 * doorman: http connections and requests: reading heads, the phases,
 * simple responses, keep-alive and pipelining.
 */
#ifndef DM_HTTP_REQUEST_H
#define DM_HTTP_REQUEST_H

#include <dm_http_request_t.h>

/* The listening handler of http sockets. */
void dm_http_request_init_connection(dm_connection_t *c);

/*
 * Sends a complete response: status, headers (Server, Date,
 * Content-Type, Content-Length, Connection, an optional Location) and
 * body; then the request ends (its body is discarded first when needed).
 * For content handlers. Returns DM_DONE.
 */
dm_int_t dm_http_request_respond(dm_http_request_t *r, dm_uint_t status,
                                 const dm_str_t *body,
                                 const dm_str_t *location);

/* A request structure of a module. */
#define dm_http_request_loc_conf(r, module) ((r)->loc_conf[(module).ctx_index])
#define dm_http_request_srv_conf(r, module) ((r)->srv_conf[(module).ctx_index])
#define dm_http_request_main_conf(r, module)                                   \
    ((r)->main_conf[(module).ctx_index])

/* Declares the request variables of the http engine. */
dm_int_t dm_http_variables_add(dm_conf_t *cf, dm_variable_registry_t *reg);

#endif /* DM_HTTP_REQUEST_H */
