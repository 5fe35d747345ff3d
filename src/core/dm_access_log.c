/*
 * doorman: the access log writer.
 *
 * A line is formatted in the session's (request's) pool, then handed to
 * its file's writer: a syslog target gets one datagram, an unbuffered
 * file one write(), a buffered file a copy into this worker's buffer. The
 * buffer is allocated once, at the first line, and written with one
 * write() when the next line does not fit, when its flush timer expires,
 * before a reopen and at exit. Nothing is retried: a write that fails
 * (ENOSPC, EIO, ...) or comes up short drops what it carried, so a full
 * or broken disk costs one system call per flush and never stalls the
 * loop.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_access_log.h>
#include <dm_log_escape.h>

/* At most one drop report per writer and process in this many ms. */
#define DM_ACCESS_LOG_REPORT_INTERVAL 1000

static void dm_access_log_emit(dm_access_log_writer_t *w, u_char *line,
                               size_t len);
static void dm_access_log_write_file(dm_access_log_writer_t *w, u_char *data,
                                     size_t len, dm_uint_t lines);
static void dm_access_log_flush(dm_access_log_writer_t *w);
static void dm_access_log_flush_file(dm_log_file_t *f, dm_log_t *log);
static void dm_access_log_timer_handler(dm_event_t *ev);
static void dm_access_log_drop(dm_access_log_writer_t *w, dm_uint_t lines,
                               dm_err_t err);
static void dm_access_log_report(dm_access_log_writer_t *w, int force);

dm_access_log_writer_t *
dm_access_log_writer(dm_conf_t *cf, dm_log_file_t *f)
{
    dm_access_log_writer_t *w;

    if (f->flush == dm_access_log_flush_file) {
        return f->data;
    }
    w = dm_pcalloc(cf->pool, sizeof(dm_access_log_writer_t));
    if (w == NULL) {
        return NULL;
    }
    w->file = f;
    /* the cycle's own log: it becomes the one in force with the cycle */
    w->log = &cf->cycle->new_log;
    f->flush = dm_access_log_flush_file;
    f->data = w;
    return w;
}

/*
 * The value of a variable as a line shows it: a variable without a value
 * (or with an empty one) is "-" with the default escaping, as nginx
 * writes it, and nothing with json and none (so that "$v" stays a valid
 * JSON string).
 */
static size_t
dm_access_log_value_len(dm_uint_t escape, const dm_str_t *v)
{
    switch (escape) {
    case DM_ACCESS_LOG_ESCAPE_JSON:
        return dm_log_escape_json_len(v->data, v->len);
    case DM_ACCESS_LOG_ESCAPE_NONE:
        return v->len;
    default:
        return v->len ? dm_log_escape_default_len(v->data, v->len) : 1;
    }
}

static u_char *
dm_access_log_value_copy(u_char *p, dm_uint_t escape, const dm_str_t *v)
{
    switch (escape) {
    case DM_ACCESS_LOG_ESCAPE_JSON:
        return dm_log_escape_json(p, v->data, v->len);
    case DM_ACCESS_LOG_ESCAPE_NONE:
        if (v->len) {
            memcpy(p, v->data, v->len);
        }
        return p + v->len;
    default:
        if (v->len == 0) {
            *p++ = '-';
            return p;
        }
        return dm_log_escape_default(p, v->data, v->len);
    }
}

/*
 * Formats one line (newline included) of `fmt` in env->pool: a first
 * pass takes each variable's value once (a non-cacheable one such as
 * $msec must not change between the passes) and sums the escaped
 * lengths, the second writes. DM_OK or DM_ERROR (allocation).
 */
static dm_int_t
dm_access_log_format(dm_variable_env_t *env, const dm_access_log_format_t *fmt,
                     dm_str_t *line)
{
    const dm_complex_value_t *cv;
    dm_variable_value_t *val;
    dm_str_t *vals;
    size_t len = 1;
    dm_uint_t i, j, k = 0;
    u_char *p;

    vals = dm_palloc(env->pool, (fmt->nvars ? fmt->nvars : 1) * sizeof(*vals));
    if (vals == NULL) {
        return DM_ERROR;
    }
    for (i = 0; i < fmt->nvalues; i++) {
        cv = &fmt->values[i];
        if (cv->constant) {
            len += cv->source.len;
            continue;
        }
        for (j = 0; j < cv->nparts; j++) {
            if (cv->parts[j].index < 0) {
                len += cv->parts[j].literal.len;
                continue;
            }
            val = dm_variable_value(env, (dm_uint_t) cv->parts[j].index);
            if (val == NULL) {
                return DM_ERROR;
            }
            vals[k].data = val->data;
            vals[k].len = val->not_found ? 0 : val->len;
            len += dm_access_log_value_len(fmt->escape, &vals[k]);
            k++;
        }
    }

    p = dm_pnalloc(env->pool, len);
    if (p == NULL) {
        return DM_ERROR;
    }
    line->data = p;
    k = 0;
    for (i = 0; i < fmt->nvalues; i++) {
        cv = &fmt->values[i];
        if (cv->constant) {
            memcpy(p, cv->source.data, cv->source.len);
            p += cv->source.len;
            continue;
        }
        for (j = 0; j < cv->nparts; j++) {
            if (cv->parts[j].index < 0) {
                /* literal text of the format is written as it is */
                memcpy(p, cv->parts[j].literal.data, cv->parts[j].literal.len);
                p += cv->parts[j].literal.len;
                continue;
            }
            p = dm_access_log_value_copy(p, fmt->escape, &vals[k++]);
        }
    }
    *p++ = '\n';
    line->len = (size_t) (p - line->data);
    return DM_OK;
}

void
dm_access_log_write(dm_variable_env_t *env, const dm_access_log_conf_t *alcf)
{
    dm_access_log_t *log;
    dm_str_t line, cond;
    dm_uint_t i;

    if (alcf->logs == NULL || alcf->logs == DM_CONF_UNSET_PTR) {
        return;
    }
    log = alcf->logs->elts;
    for (i = 0; i < alcf->logs->nelts; i++) {
        if (log[i].filter) {
            if (dm_complex_eval(env, log[i].filter, &cond) != DM_OK) {
                continue;
            }
            if (cond.len == 0 || (cond.len == 1 && cond.data[0] == '0')) {
                continue;
            }
        }
        if (dm_access_log_format(env, log[i].format, &line) != DM_OK) {
            continue;
        }
        dm_access_log_emit(log[i].writer, line.data, line.len);
    }
}

/* Hands one formatted line to its target. */
static void
dm_access_log_emit(dm_access_log_writer_t *w, u_char *line, size_t len)
{
    dm_log_file_t *f = w->file;
    int severity;

    if (f->syslog) {
        severity = f->syslog->severity >= 0 ? f->syslog->severity
                                            : DM_ACCESS_LOG_SYSLOG_SEVERITY;
        if (dm_log_syslog_send(f, (dm_uint_t) severity, line, len) != DM_OK) {
            dm_access_log_drop(w, 1, errno);
        }
        return;
    }
    if (w->size && w->start == NULL) {
        /* once per worker and file; without memory, write line by line */
        w->start = malloc(w->size);
        w->pos = w->start;
        memset(&w->timer, 0, sizeof(dm_event_t));
        w->timer.handler = dm_access_log_timer_handler;
        w->timer.data = w;
        w->timer.log = w->log;
        w->timer.cancelable = 1;
    }
    if (w->start == NULL) {
        dm_access_log_write_file(w, line, len, 1);
        return;
    }
    if (len > w->size - (size_t) (w->pos - w->start)) {
        dm_access_log_flush(w);
    }
    if (len > w->size) {
        /* longer than the whole buffer: the order is kept, it follows the
           flush just made */
        dm_access_log_write_file(w, line, len, 1);
        return;
    }
    if (w->pos == w->start && w->flush) {
        (void) dm_event_timer_add(&w->timer, w->flush);
    }
    memcpy(w->pos, line, len);
    w->pos += len;
    w->lines++;
}

/*
 * One writev() of `lines` whole lines. A previous short write left the
 * file inside a line: a newline goes first, in the same call, so the
 * next line starts on a line of its own.
 */
static void
dm_access_log_write_file(dm_access_log_writer_t *w, u_char *data, size_t len,
                         dm_uint_t lines)
{
    struct iovec iov[2];
    size_t total = len, done;
    ssize_t n;
    int niov = 0;

    if (w->partial) {
        iov[niov].iov_base = (void *) "\n";
        iov[niov++].iov_len = 1;
        total++;
    }
    iov[niov].iov_base = data;
    iov[niov++].iov_len = len;

    do {
        n = writev(w->file->fd, iov, niov);
    } while (n == -1 && errno == EINTR);

    if (n == (ssize_t) total) {
        w->partial = 0;
        dm_access_log_report(w, 0);
        return;
    }
    if (n == -1) {
        dm_access_log_drop(w, lines, errno);
        return;
    }
    /* short: the whole lines that made it are kept, the rest is lost */
    done = (size_t) n;
    if (w->partial && done) {
        w->partial = 0;
        done--;
    }
    if (done) {
        u_char *p = data, *end = data + done, *nl;

        /* (escape=none lets a value hold a newline: never below 0) */
        while ((nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
            lines -= (lines > 0);
            p = nl + 1;
        }
        w->partial = (p != end);
    }
    dm_access_log_drop(w, lines, 0);
}

static void
dm_access_log_flush(dm_access_log_writer_t *w)
{
    if (w->start && w->pos > w->start) {
        dm_access_log_write_file(w, w->start, (size_t) (w->pos - w->start),
                                 w->lines);
        w->pos = w->start;
        w->lines = 0;
    }
    if (w->timer.timer_set) {
        dm_event_timer_del(&w->timer);
    }
}

/* The file's flush handler: before a reopen (USR1). */
static void
dm_access_log_flush_file(dm_log_file_t *f, dm_log_t *log)
{
    dm_access_log_flush(f->data);
}

static void
dm_access_log_timer_handler(dm_event_t *ev)
{
    dm_access_log_writer_t *w = ev->data;

    dm_access_log_flush(w);
    dm_access_log_report(w, 0);
}

static void
dm_access_log_drop(dm_access_log_writer_t *w, dm_uint_t lines, dm_err_t err)
{
    w->dropped += lines;
    w->drop_err = err;
    dm_access_log_report(w, 0);
}

/*
 * `access log "PATH": N lines dropped (28: No space left on device)`, at
 * most once per second per file; the count accumulates in between and
 * goes out with the next report (a later drop or write, the flush timer,
 * or exit when `force` is set).
 */
static void
dm_access_log_report(dm_access_log_writer_t *w, int force)
{
    if (w->dropped == 0) {
        return;
    }
    if (!force && dm_current_msec < w->next_report) {
        return;
    }
    if (w->drop_err) {
        dm_log_error(DM_LOG_ALERT, w->log, w->drop_err,
                     "access log \"%s\": %lu lines dropped", w->file->name.data,
                     (unsigned long) w->dropped);
    } else {
        dm_log_error(DM_LOG_ALERT, w->log, 0,
                     "access log \"%s\": %lu lines dropped (short write)",
                     w->file->name.data, (unsigned long) w->dropped);
    }
    w->dropped = 0;
    w->next_report = dm_current_msec + DM_ACCESS_LOG_REPORT_INTERVAL;
}

void
dm_access_log_exit(dm_cycle_t *cycle)
{
    dm_access_log_writer_t *w;
    dm_log_file_t *f;

    for (f = cycle->log_files; f; f = f->next) {
        if (f->flush != dm_access_log_flush_file) {
            continue;
        }
        w = f->data;
        dm_access_log_flush(w);
        dm_access_log_report(w, 1);
        free(w->start);
        w->start = NULL;
        w->pos = NULL;
    }
}
