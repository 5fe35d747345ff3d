/*
 * doorman: the master's table of children, types.
 */
#ifndef DM_PROCESS_T_H
#define DM_PROCESS_T_H

#include <dm_core_module_t.h>

#define DM_PROCESS_WORKER 1
#define DM_PROCESS_HELPER 2

/*
 * Rows of the table. A child's index, plus dm_process_row_base, is also
 * its row in the shared counters (DM_SHM_ROWS), so the master can zero a
 * dead child's share. Old and new generations overlap during a reload:
 * twice the largest worker count, plus the helpers. During a binary
 * upgrade two masters share the zones: each uses its own half of the rows.
 */
#define DM_PROCESS_MAX (2 * DM_CORE_MAX_WORKERS + 2)

typedef struct {
    pid_t pid;             /* 0: the row is free */
    int kind;              /* DM_PROCESS_WORKER or DM_PROCESS_HELPER */
    dm_int_t slot;         /* worker slot, -1 for the helper */
    dm_uint_t generation;  /* the configuration generation it runs */
    dm_cycle_t *cycle;     /* that configuration */
    int channel;           /* the master's end of the channel, -1 if gone */
    dm_connection_t *conn; /* the channel in the master's loop */
    dm_msec_t started;     /* when it was forked */
    unsigned ready:1;      /* said READY */
    unsigned retiring:1;   /* told to QUIT */
    unsigned killed:1;     /* told to TERMINATE (or SIGKILLed) */
} dm_process_t;

#endif /* DM_PROCESS_T_H */
