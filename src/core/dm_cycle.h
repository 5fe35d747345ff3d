/*
 * doorman: the cycle.
 */
#ifndef DM_CYCLE_H
#define DM_CYCLE_H

#include <dm_cycle_t.h>

/* The configuration in force in this process. */
extern dm_cycle_t *dm_cycle;

/*
 * Loads the configuration named by old->conf_file (with old->conf_param
 * and old->prefix) into a new cycle: creates every core module's
 * structure, parses -g then the file, runs the init_main_conf hooks.
 * `old` is the running cycle or the bootstrap cycle built by main().
 * Returns the new cycle, or NULL after logging why (the old one is
 * untouched either way).
 */
dm_cycle_t *dm_cycle_init(dm_cycle_t *old);

/* Frees a cycle that is no longer used (its pool and everything in it). */
void dm_cycle_free(dm_cycle_t *cycle);

/* The core module's structure of a cycle. */
#define dm_cycle_get_core_conf(cycle, module)                                  \
    ((cycle)->conf_ctx->main_conf[(module).ctx_index])

#endif /* DM_CYCLE_H */
