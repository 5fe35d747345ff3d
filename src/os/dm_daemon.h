/*
 * doorman: detaching from the terminal (`daemon on`).
 */
#ifndef DM_DAEMON_H
#define DM_DAEMON_H

/*
 * Forks (the parent exits 0), starts a new session and points stdin and
 * stdout at /dev/null; stderr too unless an error log uses it. Returns
 * DM_OK in the child, or DM_ERROR after logging.
 */
dm_int_t dm_daemon(dm_log_t *log, int keep_stderr);

#endif /* DM_DAEMON_H */
