/*
 * doorman: the events { } block and its core directives.
 */
#ifndef DM_EVENT_CONF_H
#define DM_EVENT_CONF_H

#include <dm_event_conf_t.h>

extern dm_module_t dm_events_module;
extern dm_module_t dm_event_core_module;

/*
 * The structure of an event module in a cycle (the events block's
 * context, or the defaults when the file has no events block).
 */
void *dm_event_get_conf(dm_cycle_t *cycle, dm_module_t *module);

#endif /* DM_EVENT_CONF_H */
