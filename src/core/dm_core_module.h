/*
 * doorman: the core module (top-level directives).
 */
#ifndef DM_CORE_MODULE_H
#define DM_CORE_MODULE_H

#include <dm_core_module_t.h>

extern dm_module_t dm_core_module;

/* The core configuration of a cycle. */
#define dm_core_conf(cycle)                                                    \
    ((dm_core_conf_t *) dm_cycle_get_core_conf(cycle, dm_core_module))

#endif /* DM_CORE_MODULE_H */
