/*
 * doorman: the master process.
 */
#ifndef DM_MASTER_H
#define DM_MASTER_H

/*
 * Runs the master for a loaded cycle: opens the slot sockets (or takes
 * those of the previous binary when `inherited` is set), creates the
 * shared zones, detaches, locks the pid file, forks the workers and the
 * helper, and then serves signals until it stops. `binary` is the
 * absolute path of our executable, for USR2. Returns the exit code.
 */
int dm_master_run(dm_cycle_t *cycle, const char *binary, int inherited);

#endif /* DM_MASTER_H */
