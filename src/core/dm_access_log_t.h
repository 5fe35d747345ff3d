/*
 * doorman: the access log, types (shared by both engines, DESIGN.md
 * sections 2 and 5).
 *
 * A format is a list of complex values compiled against one engine's
 * variables. An access_log directive is an entry {writer, format, if=}.
 * Every log file (one dm_log_file_t per path per cycle) that an access_log
 * names has exactly one writer, found through the file's `data`: the
 * buffer= and flush= settings, and in each worker its own buffer and
 * flush timer, which the fork leaves unshared.
 */
#ifndef DM_ACCESS_LOG_T_H
#define DM_ACCESS_LOG_T_H

#include <dm_event_t.h>

/* escape= of log_format: how variable values are written. */
#define DM_ACCESS_LOG_ESCAPE_DEFAULT 0 /* nginx's \xXX */
#define DM_ACCESS_LOG_ESCAPE_JSON    1 /* inside a JSON string */
#define DM_ACCESS_LOG_ESCAPE_NONE    2 /* as they are */

/* Syslog severity of access log lines without severity= (info). */
#define DM_ACCESS_LOG_SYSLOG_SEVERITY 6

typedef struct {
    dm_str_t name;                 /* log_format NAME */
    dm_uint_t escape;              /* DM_ACCESS_LOG_ESCAPE_* */
    dm_complex_value_t *values;    /* one per string, in order;
                                           NULL until compiled */
    dm_uint_t nvalues;             /* strings */
    dm_uint_t nvars;               /* variable pieces in all of them */
    const char *const *predefined; /* the strings of a predefined
                                           format, NULL-terminated, compiled
                                           at its first use; or NULL */
} dm_access_log_format_t;

/* The writer of one log file (f->data). */
typedef struct {
    dm_log_file_t *file; /* where lines go */
    dm_log_t *log;       /* the cycle's error log, for drop reports */
    size_t size;         /* buffer=, or 0: every line written at once */
    dm_msec_t flush;     /* flush=: most time a line waits in the buffer */

    /* per process (each worker has its own copy after the fork) */
    u_char *start;         /* the buffer, allocated at the first line */
    u_char *pos;           /* end of the data in it */
    dm_uint_t lines;       /* lines in it */
    dm_event_t timer;      /* the flush timer, armed by the first line */
    dm_uint_t dropped;     /* lines lost since the last report */
    dm_err_t drop_err;     /* errno of the last loss, 0 for a short write */
    dm_msec_t next_report; /* monotonic time before which a drop is
                              counted but not reported */
    unsigned partial:1;    /* a short write left the file inside a line */
} dm_access_log_writer_t;

/* One access_log directive (not "off"). */
typedef struct {
    dm_access_log_writer_t *writer; /* its file's writer */
    dm_access_log_format_t *format; /* what a line looks like */
    dm_complex_value_t *filter;     /* if=: no line when "" or "0"; or NULL */
} dm_access_log_t;

/*
 * The access logs of one level (stream server; http main, server or
 * location). `logs` is DM_CONF_UNSET_PTR when the level says nothing (it
 * inherits), NULL for `access_log off`, else its dm_access_log_t list,
 * which replaces the parent's.
 */
typedef struct {
    dm_array_t *logs;
} dm_access_log_conf_t;

/* An engine's log_format definitions. */
typedef struct {
    dm_array_t formats;               /* dm_access_log_format_t */
    dm_variable_registry_t *registry; /* the engine's variables */
    const char *default_format;       /* access_log without FORMAT */
} dm_access_log_main_conf_t;

#endif /* DM_ACCESS_LOG_T_H */
