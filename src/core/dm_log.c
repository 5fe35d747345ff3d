/*
 * doorman: the error log.
 */
#include <dm_core.h>

int dm_log_use_stderr;

static const char *const dm_log_levels[] = {
    "", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
};

static dm_log_file_t dm_log_stderr_file = {.fd = 2,
                                           .name = dm_string("stderr")};
static dm_log_t dm_log_default = {
    DM_LOG_NOTICE, &dm_log_stderr_file, NULL, NULL, NULL, NULL};

static size_t dm_log_append_err(u_char *p, u_char *last, dm_err_t err);
static int dm_log_write(int fd, const u_char *buf, size_t len);

dm_log_t *
dm_log_init(void)
{
    return &dm_log_default;
}

void
dm_log_error(dm_uint_t level, dm_log_t *log, dm_err_t err, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    dm_log_errorv(level, log, err, fmt, args);
    va_end(args);
}

void
dm_log_errorv(dm_uint_t level, dm_log_t *log, dm_err_t err, const char *fmt,
              va_list args)
{
    u_char line[DM_LOG_LINE_MAX], *p, *msg, *last;
    int wrote_stderr = 0, n;
    struct tm tm;
    time_t now;
    va_list copy;

    last = line + sizeof(line) - 1; /* keep room for the newline */

    now = time(NULL);
    localtime_r(&now, &tm);
    n = snprintf((char *) line, sizeof(line),
                 "%04d/%02d/%02d %02d:%02d:%02d [%s] %d#0: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 dm_log_levels[level], (int) getpid());
    msg = line + n;

    va_copy(copy, args);
    n = vsnprintf((char *) msg, (size_t) (last - msg), fmt, copy);
    va_end(copy);
    p = (n < 0) ? msg : dm_min(msg + n, last);
    p += dm_log_append_err(p, last, err);

    if (log && log->handler && level != DM_LOG_DEBUG) {
        p = log->handler(log, p, (size_t) (last - p));
    } else if (log && log->action && p < last) {
        n = snprintf((char *) p, (size_t) (last - p), " while %s", log->action);
        p = (n < 0) ? p : dm_min(p + n, last);
    }
    *p++ = '\n';

    for (; log; log = log->next) {
        if (level > log->level) {
            continue;
        }
        if (log->file->fd == 2 && dm_log_use_stderr) {
            /* stderr gets the short command-line form below instead */
            continue;
        }
        if (log->file->syslog) {
            /* our levels 1..8 are syslog severities 0..7 */
            (void) dm_log_syslog_send(log->file, level ? level - 1 : 0, msg,
                                      (size_t) (p - msg));
            continue;
        }
        if (!dm_log_write(log->file->fd, line, (size_t) (p - line))) {
            log->file->dropped++;
        }
        if (log->file->fd == 2) {
            wrote_stderr = 1;
        }
    }

    if (!dm_log_use_stderr || level > DM_LOG_WARN || wrote_stderr) {
        return;
    }

    /* "doorman: [emerg] message" on the terminal of whoever ran us */
    {
        u_char out[DM_LOG_LINE_MAX + 32];
        int h = snprintf((char *) out, sizeof(out), DM_NAME ": [%s] ",
                         dm_log_levels[level]);
        size_t mlen = (size_t) (p - msg);

        if (mlen > sizeof(out) - (size_t) h) {
            mlen = sizeof(out) - (size_t) h;
        }
        memcpy(out + h, msg, mlen);
        dm_log_write(2, out, (size_t) h + mlen);
    }
}

void
dm_log_stderr(dm_err_t err, const char *fmt, ...)
{
    u_char line[DM_LOG_LINE_MAX], *p, *last = line + sizeof(line) - 1;
    va_list args;
    int n;

    n = snprintf((char *) line, sizeof(line), DM_NAME ": ");
    p = line + n;
    va_start(args, fmt);
    n = vsnprintf((char *) p, (size_t) (last - p), fmt, args);
    va_end(args);
    p = (n < 0) ? p : dm_min(p + n, last);
    p += dm_log_append_err(p, last, err);
    *p++ = '\n';
    dm_log_write(2, line, (size_t) (p - line));
}

dm_int_t
dm_log_parse_level(const dm_str_t *name, dm_uint_t *level)
{
    dm_uint_t i;

    for (i = DM_LOG_EMERG; i <= DM_LOG_DEBUG; i++) {
        if (dm_str_eq(name, dm_log_levels[i])) {
            *level = i;
            return DM_OK;
        }
    }
    return DM_ERROR;
}

static size_t
dm_log_append_err(u_char *p, u_char *last, dm_err_t err)
{
    int n;

    if (err == 0 || p >= last) {
        return 0;
    }
    n = snprintf((char *) p, (size_t) (last - p), " (%d: %s)", err,
                 strerror(err));
    if (n < 0) {
        return 0;
    }
    return dm_min((size_t) n, (size_t) (last - p));
}

static int
dm_log_write(int fd, const u_char *buf, size_t len)
{
    ssize_t n;

    /*
     * One write per line so lines from several processes do not interleave
     * (O_APPEND files). A short or failed write is not retried: a log must
     * never hold up the process that writes it.
     */
    do {
        n = write(fd, buf, len);
    } while (n == -1 && errno == EINTR);
    return n == (ssize_t) len;
}

/*
 * RFC 3164: "<PRI>Mmm dd hh:mm:ss HOST TAG: message", one datagram per
 * line on a non-blocking socket: a syslog daemon that cannot keep up
 * loses lines (counted) instead of stalling the loop.
 */
dm_int_t
dm_log_syslog_send(dm_log_file_t *f, dm_uint_t severity, const u_char *msg,
                   size_t len)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int pri = f->syslog->facility * 8 + (int) (severity & 7);
    u_char out[DM_LOG_LINE_MAX + 128];
    struct tm tm;
    time_t now = time(NULL);
    int n;

    localtime_r(&now, &tm);
    n = snprintf((char *) out, sizeof(out),
                 "<%d>%s %2d %02d:%02d:%02d %.*s%s%.*s: ", pri, mon[tm.tm_mon],
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 DM_STR_ARG(f->syslog->hostname),
                 f->syslog->hostname.len ? " " : "",
                 DM_STR_ARG(f->syslog->tag));
    if (n < 0) {
        return DM_ERROR;
    }
    if (len && msg[len - 1] == '\n') {
        len--;
    }
    len = dm_min(len, sizeof(out) - (size_t) n);
    memcpy(out + n, msg, len);
    if (send(f->fd, out, (size_t) n + len, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
        f->dropped++;
        return DM_ERROR;
    }
    return DM_OK;
}
