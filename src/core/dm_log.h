/*
 * doorman: the error log.
 *
 * The habit (OpenBSD's log_warn / log_warnx): every call names the errno it
 * reports, or 0 when the failure has none, so a message never picks up a
 * stale errno from an unrelated call.
 */
#ifndef DM_LOG_H
#define DM_LOG_H

#include <dm_log_t.h>

/*
 * Set while the configuration is loaded by a command run from a terminal:
 * messages at WARN or more severe also go to stderr as
 * "doorman: [level] message", as nginx does.
 */
extern int dm_log_use_stderr;

/*
 * Formats and writes one line to every target of `log` whose level admits
 * `level`. `err` is an errno value appended as " (N: strerror)", or 0.
 * Never blocks on the log file for long: a failed write is dropped.
 */
void dm_log_error(dm_uint_t level, dm_log_t *log, dm_err_t err, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* Same as dm_log_error with a va_list. */
void dm_log_errorv(dm_uint_t level, dm_log_t *log, dm_err_t err,
                   const char *fmt, va_list args);

/*
 * Writes "doorman: message" to stderr, for the command line's own output
 * (-t results, -s errors), regardless of any log configuration.
 */
void dm_log_stderr(dm_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Returns the error log every process starts with: level NOTICE on
 * stderr. Static storage; never fails.
 */
dm_log_t *dm_log_init(void);

/*
 * Parses a level name ("debug" ... "emerg") into *level. Returns DM_OK or
 * DM_ERROR for an unknown name.
 */
dm_int_t dm_log_parse_level(const dm_str_t *name, dm_uint_t *level);

/*
 * Sends one message to a syslog target (f->syslog set) as one datagram:
 * "<PRI>Mmm dd hh:mm:ss HOST TAG: msg" with PRI from the target's facility
 * and `severity` (0 emerg ... 7 debug); a trailing newline of msg is left
 * out and the datagram is cut at about DM_LOG_LINE_MAX bytes. Never
 * blocks. Returns DM_OK, or DM_ERROR with errno set (the message is lost
 * and counted in f->dropped).
 */
dm_int_t dm_log_syslog_send(dm_log_file_t *f, dm_uint_t severity,
                            const u_char *msg, size_t len);

/*
 * Opens a log file named in the configuration (relative to the prefix;
 * "stderr" is the standard error), once per path per cycle, for appending.
 * Returns NULL after reporting the error with its file and line.
 */
dm_log_file_t *dm_log_open_file(dm_conf_t *cf, dm_str_t *path);

/*
 * Reopens every log file of the cycle in place (the descriptor number is
 * kept, so every writer follows): after logrotate renamed them (USR1).
 * A file's flush handler runs first, so what a writer still holds goes to
 * the old file.
 */
void dm_log_reopen_files(dm_cycle_t *cycle);

/*
 * Gives the cycle's log files to the workers' user (master, as root), so
 * workers can write what the master reopened.
 */
void dm_log_chown_files(dm_cycle_t *cycle);

#ifdef DM_DEBUG
#define dm_log_debug(log, err, ...)                                            \
    do {                                                                       \
        if ((log)->level >= DM_LOG_DEBUG)                                      \
            dm_log_error(DM_LOG_DEBUG, log, err, __VA_ARGS__);                 \
    } while (0)
#else
#define dm_log_debug(log, err, ...)                                            \
    do {                                                                       \
    } while (0)
#endif

#endif /* DM_LOG_H */
