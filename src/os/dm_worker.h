/*
 * doorman: a serving process: its loop, its signals, its graceful exit.
 */
#ifndef DM_WORKER_H
#define DM_WORKER_H

/*
 * Serves the cycle's listeners of `slot` (of `nworkers`) until told to
 * stop: sets up the
 * event loop and the signalfd, runs every module's init_process, accepts,
 * and on QUIT stops accepting, lets in-flight sessions finish (bounded by
 * worker_shutdown_timeout) and exits; on TERM or INT exits at once.
 * `channel` is the socket to the master, or -1 with master_process off.
 * Returns the process exit code.
 */
int dm_worker_run(dm_cycle_t *cycle, dm_uint_t slot, dm_uint_t nworkers,
                  int channel);

/* The slot value of the helper process: it runs the loop, accepts nothing. */
#define DM_WORKER_HELPER ((dm_uint_t) -1)

/*
 * Applies worker_rlimit_nofile to the calling process. The master's
 * children call it before dropping privileges, so the limit may be raised
 * above the hard limit of the unprivileged user.
 */
void dm_worker_rlimit(dm_cycle_t *cycle);

/*
 * Whether this process is the helper (set by dm_worker_run before the
 * modules' init_process runs, so they can tell where they run).
 */
int dm_worker_is_helper(void);

/* Set when this process is shutting down gracefully. */
extern int dm_worker_exiting;

#endif /* DM_WORKER_H */
