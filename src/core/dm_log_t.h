/*
 * doorman: the error log, types.
 */
#ifndef DM_LOG_T_H
#define DM_LOG_T_H

/* Severity levels, most severe first (syslog order, as nginx). */
#define DM_LOG_STDERR 0
#define DM_LOG_EMERG  1
#define DM_LOG_ALERT  2
#define DM_LOG_CRIT   3
#define DM_LOG_ERR    4
#define DM_LOG_WARN   5
#define DM_LOG_NOTICE 6
#define DM_LOG_INFO   7
#define DM_LOG_DEBUG  8

/* Longest line the logger formats; longer messages are truncated. */
#define DM_LOG_LINE_MAX 2048

typedef struct dm_log_file_s dm_log_file_t;

/*
 * Writes out what a file's writer holds in memory for it (the access log's
 * per-worker buffer), before the file is reopened; log reports failures.
 */
typedef void (*dm_log_flush_pt)(dm_log_file_t *f, dm_log_t *log);

/*
 * A syslog target:
 * `syslog:server=ADDR[,facility=F][,severity=S][,tag=T][,nohostname]`.
 */
typedef struct {
    int facility;      /* syslog facility number (local7 = 23 by default) */
    int severity;      /* severity=, 0 (emerg) ... 7 (debug), -1 unset; the
                          error log sends each line's own level instead */
    dm_str_t tag;      /* the TAG field ("doorman") */
    dm_str_t hostname; /* sent in each message unless nohostname */
} dm_log_syslog_t;

struct dm_log_file_s {
    int fd;        /* open descriptor; 2 for stderr */
    dm_str_t name; /* path as configured (NUL-terminated), or "stderr" */
    dm_log_syslog_t *syslog; /* set for a syslog target (fd is a datagram
                                socket connected to the server) */
    dm_uint_t dropped;       /* lines lost to a full or failing target */
    dm_log_flush_pt flush;   /* run before a reopen, or NULL */
    void *data;              /* the flush handler's state (the access log
                                writer of the file), or NULL */
    dm_log_file_t *next;     /* all files of a cycle, for reopening on USR1 */
};

/*
 * Appends the context of the object being logged about (", client: ...,
 * server: ...") to buf, at most len bytes; returns the new end.
 */
typedef u_char *(*dm_log_handler_pt)(dm_log_t *log, u_char *buf, size_t len);

struct dm_log_s {
    dm_uint_t level;           /* messages above this level are dropped */
    dm_log_file_t *file;       /* where lines go */
    dm_log_handler_pt handler; /* context appender, may be NULL */
    void *data;                /* the object the handler describes */
    const char *action;        /* "while reading the request", may be NULL */
    dm_log_t *next;            /* further error_log targets of the level */
};

#endif /* DM_LOG_T_H */
