/*
 * doorman: the real client address of http requests (set_real_ip_from,
 * real_ip_header, real_ip_recursive), what other http modules ask.
 *
 * Include after <dm_core.h> and <dm_http_request.h>.
 */
#ifndef DM_HTTP_REALIP_H
#define DM_HTTP_REALIP_H

/*
 * 1 when the connection's peer (the address that connected, before any
 * real_ip change) is inside set_real_ip_from of r's location (its
 * server's before the location is chosen), 0 otherwise. http_proxy uses
 * it to keep or replace the forwarding headers a client sent.
 */
int dm_http_realip_trusted(dm_http_request_t *r);

/*
 * The peer's address text (before any real_ip change): the value of
 * $realip_remote_addr. Owned by the connection; valid while r lives.
 */
const dm_str_t *dm_http_realip_peer(dm_http_request_t *r);

/*
 * 1 when r's client address came from a PROXY header (real_ip_header
 * proxy_protocol): the balancer that sent it is transparent, not an HTTP
 * hop, so forwarding chains go on from the client, not from it.
 */
int dm_http_realip_transparent(dm_http_request_t *r);

#endif /* DM_HTTP_REALIP_H */
