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
 * The PROXY header of a connection on a `listen ... proxy_protocol`
 * address: set by the proxy_protocol module (NULL without it, and such a
 * listen is refused). It reads the header (c->proxy_protocol), then calls
 * dm_http_request_accepted, or closes the connection.
 */
extern void (*dm_http_proxy_protocol_read)(dm_http_conn_t *hc);

/*
 * After the PROXY header (if any): the TLS handshake on an ssl address,
 * then dm_http_request_wait.
 */
void dm_http_request_accepted(dm_http_conn_t *hc);

/*
 * The connection is ready for its first request head (after the TLS
 * handshake on an ssl address): reading starts, bounded by
 * client_header_timeout.
 */
void dm_http_request_wait(dm_http_conn_t *hc);

/*
 * Sends a complete response: status, headers (Server, Date,
 * Content-Type, Content-Length, Connection, an optional Location) and
 * body; then the request ends (its body is discarded first when needed).
 * For content handlers. Returns DM_DONE.
 */
dm_int_t dm_http_request_respond(dm_http_request_t *r, dm_uint_t status,
                                 const dm_str_t *body,
                                 const dm_str_t *location);

/*
 * Runs the request's phases from r->phase_index on: a handler that
 * returned DM_AGAIN (limit_req's delay) calls this when its wait is over
 * to resume at the same handler. No content answer is 404, DM_ERROR is
 * 500 (both through error_page).
 */
void dm_http_request_run_phases(dm_http_request_t *r);

/*
 * error_page: when r's location has a page for `status` and r was not
 * redirected by error_page before, redirects r internally (or answers a
 * redirect) and returns DM_DONE; else DM_DECLINED. For
 * dm_http_request_respond.
 */
dm_int_t dm_http_error_page_run(dm_http_request_t *r, dm_uint_t status);

/*
 * add_header: the "Name: value\r\n" lines r's location adds to a
 * response with `status`, from r's pool (out->len 0: none). Returns
 * DM_OK or DM_ERROR (allocation).
 */
dm_int_t dm_http_headers_eval(dm_http_request_t *r, dm_uint_t status,
                              dm_str_t *out);

/*
 * For content handlers that drive the connection themselves (http_proxy):
 * the response went out whole: log, then the next request or the end of
 * the connection as r->keepalive says (which the handler clears when the
 * request body was not read whole). r->status and r->body_bytes_sent are
 * what the log shows.
 */
void dm_http_request_finalize(dm_http_request_t *r);

/*
 * Whether the response being written keeps the connection: r->keepalive,
 * cleared first when the worker began a graceful exit. Every response
 * head's Connection field comes from it.
 */
int dm_http_request_keepalive(dm_http_request_t *r);

/* Sends "100 Continue" when the client asked for it and it was not sent:
   before the first read of a request body. */
void dm_http_request_continue(dm_http_request_t *r);

/* The request cannot go on (the client went away, or the upstream failed
   after the response head was sent): it is logged with r->status and the
   connection closed. */
void dm_http_request_abort(dm_http_request_t *r);

/* A request structure of a module. */
#define dm_http_request_loc_conf(r, module) ((r)->loc_conf[(module).ctx_index])
#define dm_http_request_srv_conf(r, module) ((r)->srv_conf[(module).ctx_index])
#define dm_http_request_main_conf(r, module)                                   \
    ((r)->main_conf[(module).ctx_index])

/*
 * Fills r->request_id ($request_id: 32 hex digits of 128 random bits)
 * when it is not yet. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_http_request_id(dm_http_request_t *r);

/* Declares the request variables of the http engine. */
dm_int_t dm_http_variables_add(dm_conf_t *cf, dm_variable_registry_t *reg);

#endif /* DM_HTTP_REQUEST_H */
