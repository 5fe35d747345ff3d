/*
 * doorman: TLS termination in http (dm_http_ssl.c).
 */
#ifndef DM_HTTP_SSL_H
#define DM_HTTP_SSL_H

extern dm_module_t dm_http_ssl_module;

/*
 * Listeners: an address with `listen ... ssl` needs its default server to
 * have a certificate pair. Returns DM_CONF_OK or DM_CONF_ERROR (logged).
 */
char *dm_http_ssl_check_listen(dm_conf_t *cf, dm_http_addr_t *addr);

/*
 * A new connection on an ssl address: the handshake with the default
 * server's context (SNI may switch it), bounded by ssl_handshake_timeout;
 * then dm_http_request_wait(hc) reads the first head. Closes the
 * connection on failure.
 */
void dm_http_ssl_start(dm_http_conn_t *hc, dm_http_core_srv_conf_t *cscf);

/*
 * For a request on a TLS connection whose Host chose cscf: 0 when it may
 * go on, 421 when the server requires client certificates and SNI chose
 * another one, 495 for a client certificate that failed verification,
 * 496 for none where one is required (both answered as 400). Logged.
 */
dm_uint_t dm_http_ssl_check(dm_http_request_t *r,
                            dm_http_core_srv_conf_t *cscf);

#endif /* DM_HTTP_SSL_H */
