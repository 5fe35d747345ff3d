/*
 * doorman: signals to a running master (`doorman -s`).
 */
#ifndef DM_SIGNAL_H
#define DM_SIGNAL_H

/*
 * Sends the signal named by `name` (stop, quit, reopen, reload) to the
 * master whose pid is in the cycle's pid file. Returns DM_OK, or DM_ERROR
 * after saying why on stderr.
 */
dm_int_t dm_signal_process(dm_cycle_t *cycle, const char *name);

/*
 * Blocks the signals doorman handles (TERM INT QUIT HUP USR1 USR2 WINCH
 * CHLD ALRM), ignores SIGPIPE, and returns a non-blocking signalfd that
 * reads them, so none is lost between a check and epoll_wait. Returns -1
 * after logging on failure.
 */
int dm_signal_open(dm_log_t *log);

/*
 * Reads one pending signal from a signalfd. Returns its number, 0 when
 * none is pending, -1 on error.
 */
int dm_signal_read(int fd);

/*
 * Restores default dispositions and an empty mask: for a child that
 * execs a new binary.
 */
void dm_signal_reset(void);

#endif /* DM_SIGNAL_H */
