/*
 * doorman: the http access log.
 */
#ifndef DM_HTTP_LOG_H
#define DM_HTTP_LOG_H

extern dm_module_t dm_http_log_module;

/*
 * Writes the access log lines of one request: one per access_log in force
 * at its location (`loc_conf`, the request's loc_conf array), none when
 * that level says "off". `env` holds the request's variables and pool.
 * The HTTP engine's LOG-phase handler calls it; it never fails.
 */
void dm_http_log_write(dm_variable_env_t *env, void **loc_conf);

#endif /* DM_HTTP_LOG_H */
