/*
 * doorman: the events { } block, types.
 */
#ifndef DM_EVENT_CONF_T_H
#define DM_EVENT_CONF_T_H

/* Largest worker_connections accepted. */
#define DM_EVENT_MAX_CONNECTIONS (1 << 20)

typedef struct {
    dm_int_t connections; /* worker_connections (512) */
} dm_event_core_conf_t;

#endif /* DM_EVENT_CONF_T_H */
