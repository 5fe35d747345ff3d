/*
 * doorman: http listen and server_name: sockets and virtual servers.
 */
#ifndef DM_HTTP_LISTEN_H
#define DM_HTTP_LISTEN_H

/* listen ADDRESS[:PORT] [default_server] [shared parameters];  (server) */
char *dm_http_listen_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf);

/*
 * After the http block: every listen line becomes a socket of the cycle
 * (a specific address folds into a wildcard of its port unless `bind`);
 * each address keeps its servers and its default server (the one marked
 * default_server, else the first). A server without listen listens on
 * *:80 (as nginx). Returns DM_CONF_OK or DM_CONF_ERROR.
 */
char *dm_http_listen_init(dm_conf_t *cf, dm_http_core_main_conf_t *cmcf);

/*
 * The server for a request: among the servers of the connection's
 * address, the one whose server_name matches host (see
 * dm_http_server_name_find; env NULL: regex names are not tried), else
 * the address's default server.
 */
/* The address (servers, default server, ssl) a connection came to. */
dm_http_addr_t *dm_http_listen_find_addr(dm_connection_t *c);

dm_http_core_srv_conf_t *dm_http_listen_find_server(dm_connection_t *c,
                                                    const dm_str_t *host,
                                                    dm_variable_env_t *env);

/*
 * server_name NAME ...;  (server) exact names, *.wildcard, wildcard.*,
 * .domain (the domain and its subdomains), ~regex (named groups become
 * variables, $1... captures); lower-cased; "" allowed.
 */
char *dm_http_server_name_set(dm_conf_t *cf, const dm_command_t *cmd,
                              void *conf);

/*
 * The server among `servers` (dm_http_core_srv_conf_t *) whose name
 * matches host, in nginx's order: an exact name, the longest leading
 * wildcard, the longest trailing wildcard, then the first regex in file
 * order (its captures recorded in env). Returns NULL when none matches.
 */
dm_http_core_srv_conf_t *dm_http_server_name_find(dm_array_t *servers,
                                                  const dm_str_t *host,
                                                  dm_variable_env_t *env);

#endif /* DM_HTTP_LISTEN_H */
