/*
 * doorman: the pid file, locked for the life of the master.
 */
#ifndef DM_PIDFILE_H
#define DM_PIDFILE_H

/*
 * Opens (creating) the pid file, takes an exclusive lock on it and writes
 * our pid. A second doorman on the same file fails here with "already
 * running". Returns the locked descriptor (kept open), or -1 after
 * logging.
 */
int dm_pidfile_create(const dm_str_t *path, dm_log_t *log);

/* Removes the pid file if it still holds our pid, and closes fd. */
void dm_pidfile_delete(const dm_str_t *path, int fd);

#endif /* DM_PIDFILE_H */
