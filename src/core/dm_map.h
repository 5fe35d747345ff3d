/*
 * doorman: maps: building and lookup (engine-neutral; the `map` directive
 * is in dm_map_conf.c).
 */
#ifndef DM_MAP_H
#define DM_MAP_H

#include <dm_map_t.h>

/*
 * FNV-1a (32 bits) of kind then the bytes, lowercased (ASCII) on the
 * fly, so that "Example.COM" and "example.com" hash alike.
 */
uint32_t dm_map_hash(dm_uint_t kind, const u_char *data, size_t len);

/*
 * Prepares a builder: the map will live in `pool`, the builder's tables
 * in `temp_pool` (which may be freed once dm_map_build returned). Returns
 * DM_OK or DM_ERROR (allocation failure).
 */
dm_int_t dm_map_builder_init(dm_map_builder_t *b, dm_pool_t *pool,
                             dm_pool_t *temp_pool);

/*
 * Adds a plain key mapping to `value` (an index into the caller's values).
 * Keys are case-insensitive: they are stored lowercased. Without
 * b->hostnames every key is exact, whatever its bytes. With it, as nginx:
 * "*.example.com" matches the names under example.com, ".example.com"
 * those and example.com itself, "mail.*" the names that start with
 * "mail."; a second '*', a '*' anywhere else, ".." or a NUL byte make the
 * key invalid. Returns DM_OK, DM_BUSY when the key (or, for
 * ".example.com", the exact "example.com" it implies) is already there,
 * DM_DECLINED for an invalid wildcard, DM_ERROR on allocation failure.
 */
dm_int_t dm_map_add(dm_map_builder_t *b, const dm_str_t *key, dm_uint_t value);

/*
 * Adds a regex key (compiled by the caller; it must live as long as the
 * map). Regexes are tried in the order they were added. DM_OK/DM_ERROR.
 */
dm_int_t dm_map_add_regex(dm_map_builder_t *b, const dm_regex_t *re,
                          dm_uint_t value);

/*
 * Builds the map from what was added: the exact hash sized for its keys
 * and the sorted wildcard arrays, in b->pool. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_map_build(dm_map_builder_t *b, dm_map_t *map);

/*
 * Looks up the string (data, len) in map, with nginx's priority: exact
 * key, longest head wildcard, longest tail wildcard, then the regexes in
 * order (an empty string tries no regex, as nginx). With hostnames, a
 * trailing dot of the string is ignored first. Returns the value index,
 * DM_DECLINED when nothing matched, or DM_ERROR when a regex failed to
 * run (logged to log). m->regex is set when a regex matched, with its
 * captures in m->ovector (offsets into data). Allocates nothing.
 */
dm_int_t dm_map_find(const dm_map_t *map, const u_char *data, size_t len,
                     dm_map_match_t *m, dm_log_t *log);

#endif /* DM_MAP_H */
