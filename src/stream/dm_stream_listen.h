/*
 * doorman: the stream listen directive and the sockets made from it.
 */
#ifndef DM_STREAM_LISTEN_H
#define DM_STREAM_LISTEN_H

/* The listen directive's setter (stream server context). */
char *dm_stream_listen_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf);

/*
 * Groups every listen line of the stream block into listening sockets of
 * the cycle: one socket per distinct address; a specific address on a
 * port that also has a wildcard listen shares the wildcard's socket (the
 * server is then chosen by the local address), unless it says `bind`.
 * Duplicate address and port pairs are an error. Returns DM_CONF_OK or
 * DM_CONF_ERROR.
 */
char *dm_stream_listen_init(dm_conf_t *cf, dm_stream_core_main_conf_t *cmcf);

/*
 * Set by the proxy_protocol module when it is built in: without it, a
 * `listen ... proxy_protocol` is refused rather than ignored.
 */
extern dm_uint_t dm_stream_proxy_protocol_enabled;

/*
 * A `listen ... ssl` of server cscf needs a certificate pair there
 * (dm_stream_ssl.c). Returns DM_CONF_OK or DM_CONF_ERROR (logged).
 */
char *dm_stream_ssl_check_listen(dm_conf_t *cf,
                                 dm_stream_core_srv_conf_t *cscf);

#endif /* DM_STREAM_LISTEN_H */
