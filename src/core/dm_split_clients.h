/*
 * doorman: split_clients, engine-neutral (the engines' modules are
 * dm_http_split_clients.c and dm_stream_split_clients.c).
 */
#ifndef DM_SPLIT_CLIENTS_H
#define DM_SPLIT_CLIENTS_H

#include <dm_split_clients_t.h>

/*
 * Parses a percentage as nginx's ngx_atofp(data, len, 2) does: digits
 * with at most one '.' and at most two digits after it ("5", "0.5",
 * "33.33", ".5", "5."), without the '%'. Returns the value in hundredths
 * of a percent (0.5 -> 50), or DM_ERROR for anything else, an empty
 * string or a value too large for a dm_int_t. Values over 100% are
 * returned: the total is checked by dm_split_clients_layout.
 */
dm_int_t dm_split_clients_percent(const u_char *data, size_t len);

/*
 * Sets the bound of every bucket from the percentages, with nginx's
 * arithmetic (see dm_split_clients_t.h). A `*` counts as the rest (100%
 * so far), so a percentage after it is over 100% too. Returns DM_OK, or
 * DM_DECLINED when the total is over 100%.
 */
dm_int_t dm_split_clients_layout(dm_split_clients_part_t *parts,
                                 dm_uint_t nparts);

/*
 * The bucket a hash lands in: the first whose bound is above it, or a
 * `*`. Returns the bucket, or NULL when there is none (the percentages
 * sum to less than 100% and there is no `*`).
 */
const dm_split_clients_part_t *
dm_split_clients_find(const dm_split_clients_t *sc, uint32_t hash);

/*
 * The split_clients directive of the engine whose registry is `reg`
 * (cf->args: split_clients STRING $VARIABLE, the block follows): reads
 * the block, lays the buckets out and makes $VARIABLE's getter hash
 * STRING. A second block for the same variable replaces the first, as
 * nginx. Returns DM_CONF_OK or DM_CONF_ERROR after logging.
 */
char *dm_split_clients_block(dm_conf_t *cf, dm_variable_registry_t *reg);

#endif /* DM_SPLIT_CLIENTS_H */
