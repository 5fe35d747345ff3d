/*
 * doorman: connection counting per key in a shared zone (limit_conn),
 * engine-neutral: every worker counts into the same table.
 */
#ifndef DM_LIMIT_CONN_H
#define DM_LIMIT_CONN_H

#include <dm_shm.h>

/* A limit_conn_zone: its key and its table. */
typedef struct {
    dm_complex_value_t key; /* what is counted ($remote_addr ...) */
    dm_shm_zone_t *zone;    /* the table lives in its root */
    dm_str_t name;
} dm_limit_conn_zone_t;

/* One limit_conn line. */
typedef struct {
    dm_limit_conn_zone_t *zone;
    dm_uint_t limit;
} dm_limit_conn_t;

/*
 * Declares the zone of `limit_conn_zone KEY zone=NAME:SIZE` (conf time).
 * Returns it, or NULL (logged).
 */
dm_limit_conn_zone_t *dm_limit_conn_zone_add(dm_conf_t *cf,
                                             dm_variable_registry_t *reg,
                                             const dm_str_t *key,
                                             const dm_str_t *spec, void *tag);

/*
 * The directive `limit_conn_zone KEY zone=NAME:SIZE` of an engine: the
 * zone declared (dm_limit_conn_zone_add) and appended to `zones` (the
 * engine's dm_limit_conn_zone_t * list); a name twice is refused. `tag`
 * is the engine's module: a name already used by the other engine (or by
 * another kind of zone) is refused, as nginx.
 * Returns DM_CONF_OK, or an error for the parser.
 */
char *dm_limit_conn_zone_directive(dm_conf_t *cf, dm_variable_registry_t *reg,
                                   dm_array_t *zones, void *tag);

/*
 * The directive `limit_conn NAME NUMBER` of an engine: NAME among `zones`
 * (declared above, as nginx), NUMBER 1 to 65535, appended to *limits
 * (dm_limit_conn_t; created when unset); one zone twice at a level is
 * refused. Returns DM_CONF_OK, or an error for the parser.
 */
char *dm_limit_conn_directive(dm_conf_t *cf, dm_array_t *zones,
                              dm_array_t **limits);

/*
 * Counts one more connection for `hash` if fewer than `limit` are open:
 * DM_OK (counted: release it later), DM_BUSY (at the limit), DM_ERROR
 * (the table is full: treated as at the limit by callers, as nginx).
 */
dm_int_t dm_limit_conn_acquire(dm_limit_conn_zone_t *lz, uint64_t hash,
                               dm_uint_t limit);

/* Counts one connection of `hash` less. */
void dm_limit_conn_release(dm_limit_conn_zone_t *lz, uint64_t hash);

/* The 64-bit key hash used by the table (never 0). */
uint64_t dm_limit_conn_hash(const dm_str_t *key);

#endif /* DM_LIMIT_CONN_H */
