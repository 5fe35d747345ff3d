/*
 * doorman: forking children (workers and the helper) and the table the
 * master keeps of them.
 */
#ifndef DM_PROCESS_H
#define DM_PROCESS_H

#include <dm_process_t.h>

extern dm_process_t dm_processes[DM_PROCESS_MAX];

/* First counters row of this master's children: 0, or DM_PROCESS_MAX for
   the master started by a binary upgrade of a master using 0. */
extern dm_uint_t dm_process_row_base;

/* The counters row of a table entry. */
#define dm_process_row(p)                                                      \
    (dm_process_row_base + (dm_uint_t) ((p) -dm_processes))

/*
 * The body of a child: runs in the forked process with the master's
 * state already dropped; returns the exit code.
 */
typedef int (*dm_process_body_pt)(dm_cycle_t *cycle, dm_process_t *p,
                                  int channel);

/*
 * Forks a child of `kind` for `slot` of `generation` running `cycle`:
 * opens its channel, picks a free row, and in the child drops the
 * master's event loop, closes every other child's channel and calls
 * body. Returns the row, or NULL after logging.
 */
dm_process_t *dm_process_spawn(dm_cycle_t *cycle, int kind, dm_int_t slot,
                               dm_uint_t generation, dm_process_body_pt body);

/* Finds the row of a pid, or NULL. */
dm_process_t *dm_process_find(pid_t pid);

/*
 * Sends a channel command to a child (falls back to the equivalent signal
 * when the channel is gone or full).
 */
void dm_process_command(dm_process_t *p, uint32_t command);

/* Releases a row after its child was reaped (closes the channel). */
void dm_process_release(dm_process_t *p);

/* Number of live children, all kinds, optionally of one generation only
   (generation 0: any). */
dm_uint_t dm_process_count(int kind, dm_uint_t generation);

/* 1 in a worker or the helper, 0 in the master or a single process. */
int dm_process_is_child(void);

/* Set in a child right after fork: the child's own row. */
extern dm_process_t *dm_process_self;

#endif /* DM_PROCESS_H */
