/*
 * doorman: variables.
 */
#ifndef DM_VARIABLE_H
#define DM_VARIABLE_H

#include <dm_variable_t.h>

/* Prepares an engine's registry (configuration pool). DM_OK/DM_ERROR. */
dm_int_t dm_variable_registry_init(dm_variable_registry_t *reg, dm_pool_t *pool,
                                   const char *engine);

/*
 * Declares a variable (flags DM_VAR_PREFIX for a family such as "http_").
 * Declaring a name twice is an error unless both declarations are
 * DM_VAR_CHANGEABLE, in which case the existing one is returned. Returns
 * the declaration (set get and data on it), or NULL after logging.
 */
dm_variable_t *dm_variable_add(dm_conf_t *cf, dm_variable_registry_t *reg,
                               const dm_str_t *name, dm_uint_t flags);

/*
 * Declares every variable of a table of n entries (dm_variable_add on
 * each, then its getter and data). Returns DM_OK or DM_ERROR (logged).
 */
dm_int_t dm_variable_add_table(dm_conf_t *cf, dm_variable_registry_t *reg,
                               const dm_variable_decl_t *t, dm_uint_t n);

/*
 * The index of a variable the configuration uses (name without '$').
 * Unknown names are accepted here and checked by dm_variable_finalize,
 * since a later directive may declare them (a map after its use).
 * Returns the index, or DM_ERROR.
 */
dm_int_t dm_variable_index(dm_conf_t *cf, dm_variable_registry_t *reg,
                           const dm_str_t *name);

/*
 * Resolves every used variable to its declaration or prefix family;
 * an unknown one fails with `unknown "$NAME" variable`. Called once per
 * engine after its block was read. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_variable_finalize(dm_conf_t *cf, dm_variable_registry_t *reg);

/*
 * Prepares an environment for a session or request: a zeroed cache of
 * one value per used variable, from `pool`. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_variable_env_init(dm_variable_env_t *env,
                              dm_variable_registry_t *reg, dm_pool_t *pool,
                              dm_connection_t *c, void *obj);

/*
 * The value of variable `index` in env: from the cache, or computed.
 * Returns the value (not_found set when it has none), or NULL on
 * allocation failure.
 */
dm_variable_value_t *dm_variable_value(dm_variable_env_t *env, dm_uint_t index);

/*
 * Declares the variables every engine has: $remote_addr $remote_port
 * $server_addr $server_port $connection $pid $msec $time_iso8601
 * $time_local $hostname, and the captures $0 ... $9. DM_OK or DM_ERROR.
 */
dm_int_t dm_variable_add_common(dm_conf_t *cf, dm_variable_registry_t *reg);

/*
 * Records a regex match's captures in env (offsets into subject, which
 * must live as long as env's pool); $0 ... $9 then read them.
 */
void dm_variable_set_captures(dm_variable_env_t *env, u_char *subject,
                              const size_t *ovector, dm_uint_t pairs);

/*
 * Sets the value of a DM_VAR_MATCH variable (a named capture) in env.
 */
void dm_variable_set_value(dm_variable_env_t *env, dm_uint_t index,
                           u_char *data, size_t len);

/* Getter helpers for engines: a fixed string, a number printed. */
dm_int_t dm_variable_set_str(dm_variable_value_t *v, u_char *data, size_t len);
dm_int_t dm_variable_set_num(dm_variable_env_t *env, dm_variable_value_t *v,
                             uint64_t n);

#endif /* DM_VARIABLE_H */
