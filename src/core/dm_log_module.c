/*
 * doorman: the error_log directive.
 *
 * `error_log FILE | stderr [LEVEL]` at the top level; several directives
 * log to several targets, each with its own level. Files are opened (and
 * created) when the configuration is loaded, in the master, so a path the
 * master cannot write fails `doorman -t` and a reload, never a worker.
 */
#include <dm_core.h>
#include <dm_core_module.h>

static char *dm_errlog_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf);
static char *dm_errlog_init_conf(dm_conf_t *cf, void *conf);
static void *dm_errlog_create_conf(dm_conf_t *cf);
static dm_log_file_t *dm_log_open_syslog(dm_conf_t *cf, dm_str_t *spec);

static const dm_command_t dm_errlog_commands[] = {
    {dm_string("error_log"), DM_MAIN_CONF, DM_CONF_TAKE12, dm_errlog_set,
     DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_errlog_module = {
    .name = "errlog",
    .type = DM_MODULE_CORE,
    .commands = dm_errlog_commands,
    .create_main_conf = dm_errlog_create_conf,
    .init_main_conf = dm_errlog_init_conf,
};

typedef struct {
    dm_uint_t configured; /* error_log directives seen */
} dm_errlog_conf_t;

static void *
dm_errlog_create_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_errlog_conf_t));
}

/*
 * Opens (creating) a log file for appending, shared by every log writer
 * of the cycle that names the same path. Returns NULL after reporting.
 */
dm_log_file_t *
dm_log_open_file(dm_conf_t *cf, dm_str_t *path)
{
    dm_log_file_t *f;
    dm_cycle_t *cycle = cf->cycle;

    if (path->len > 7 && memcmp(path->data, "syslog:", 7) == 0) {
        return dm_log_open_syslog(cf, path);
    }
    if (dm_str_eq(path, "stderr")) {
        /* listed with the files (never reopened nor closed: fd 2), so that
           an access log writer on it is flushed at exit too */
        for (f = cycle->log_files; f; f = f->next) {
            if (f->fd == 2 && dm_str_eq(&f->name, "stderr")) {
                return f;
            }
        }
        f = dm_pcalloc(cf->pool, sizeof(dm_log_file_t));
        if (f == NULL) {
            return NULL;
        }
        f->fd = 2;
        f->name = *path;
        f->next = cycle->log_files;
        cycle->log_files = f;
        return f;
    }
    if (dm_conf_full_name(cycle, path, 0) != DM_OK) {
        return NULL;
    }
    for (f = cycle->log_files; f; f = f->next) {
        if (f->name.len == path->len
            && memcmp(f->name.data, path->data, path->len) == 0) {
            return f;
        }
    }
    f = dm_pcalloc(cf->pool, sizeof(dm_log_file_t));
    if (f == NULL) {
        return NULL;
    }
    f->name = *path;
    f->fd = open((const char *) path->data,
                 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (f->fd == -1) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno, "open() \"%s\" failed",
                          path->data);
        return NULL;
    }
    f->next = cycle->log_files;
    cycle->log_files = f;
    return f;
}

static char *
dm_errlog_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_errlog_conf_t *ecf = conf;
    dm_str_t *value = cf->args->elts, path = value[1];
    dm_uint_t level = DM_LOG_ERR;
    dm_log_t *log, *tail;

    if (cf->args->nelts == 3
        && dm_log_parse_level(&value[2], &level) != DM_OK) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid value \"%s\" in \"%s\" directive, it must "
                          "be one of debug, info, notice, warn, error, crit, "
                          "alert, emerg",
                          value[2].data, value[0].data);
        return DM_CONF_ERROR;
    }
    if (path.len == 0) {
        return "needs a file name";
    }

    /* the first directive fills the cycle's log, later ones chain */
    if (ecf->configured++ == 0) {
        log = &cf->cycle->new_log;
    } else {
        log = dm_pcalloc(cf->pool, sizeof(dm_log_t));
        if (log == NULL) {
            return DM_CONF_ERROR;
        }
        for (tail = &cf->cycle->new_log; tail->next; tail = tail->next) {
        }
        tail->next = log;
    }
    log->level = level;
    log->file = dm_log_open_file(cf, &path);
    if (log->file == NULL) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/*
 * Without error_log, the configured default path is used (created when
 * the process starts serving; `-t` opens nothing the file did not name).
 */
static char *
dm_errlog_init_conf(dm_conf_t *cf, void *conf)
{
    dm_errlog_conf_t *ecf = conf;
    dm_str_t path = dm_string(DM_ERROR_LOG_PATH);

    if (ecf->configured || cf->cycle->test_config) {
        return DM_CONF_OK;
    }
    cf->cycle->new_log.level = DM_LOG_ERR;
    cf->cycle->new_log.file = dm_log_open_file(cf, &path);
    return cf->cycle->new_log.file ? DM_CONF_OK : DM_CONF_ERROR;
}

void
dm_log_reopen_files(dm_cycle_t *cycle)
{
    dm_log_file_t *f;
    int fd;

    for (f = cycle->log_files; f; f = f->next) {
        if (f->flush) {
            /* a worker's buffered lines belong to the file being closed */
            f->flush(f, cycle->log);
        }
        if (f->fd <= 2 || f->syslog) {
            continue;
        }
        fd = open((const char *) f->name.data,
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd == -1) {
            dm_log_error(DM_LOG_ALERT, cycle->log, errno,
                         "reopening \"%s\" failed", f->name.data);
            continue;
        }
        if (dup3(fd, f->fd, O_CLOEXEC) == -1) {
            dm_log_error(DM_LOG_ALERT, cycle->log, errno,
                         "dup3() for \"%s\" failed", f->name.data);
        }
        close(fd);
    }
}

static const struct {
    const char *name;
    int value;
} dm_log_facilities[] = {
    {"kern", 0},    {"user", 1},    {"mail", 2},      {"daemon", 3},
    {"auth", 4},    {"intern", 5},  {"lpr", 6},       {"news", 7},
    {"uucp", 8},    {"clock", 9},   {"authpriv", 10}, {"ftp", 11},
    {"ntp", 12},    {"audit", 13},  {"alert", 14},    {"cron", 15},
    {"local0", 16}, {"local1", 17}, {"local2", 18},   {"local3", 19},
    {"local4", 20}, {"local5", 21}, {"local6", 22},   {"local7", 23},
};

static const char *const dm_log_severities[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
};

/*
 * syslog:server=ADDR[:PORT]|unix:PATH[,facility=F][,severity=S][,tag=T]
 * [,nohostname]:
 * a datagram socket connected to the server now, so that a bad address
 * fails the configuration, and sending never resolves anything.
 */
static dm_log_file_t *
dm_log_open_syslog(dm_conf_t *cf, dm_str_t *spec)
{
    u_char *p = spec->data + 7, *end = spec->data + spec->len, *comma;
    dm_inet_addr_t addr;
    dm_log_syslog_t *sl;
    dm_log_file_t *f;
    const char *err;
    dm_str_t v;
    int have_server = 0;
    size_t i;

    f = dm_pcalloc(cf->pool, sizeof(dm_log_file_t));
    sl = dm_pcalloc(cf->pool, sizeof(dm_log_syslog_t));
    if (f == NULL || sl == NULL) {
        return NULL;
    }
    f->syslog = sl;
    f->name = *spec;
    sl->facility = 23;
    sl->severity = -1;
    dm_str_set(&sl->tag, "doorman");
    sl->hostname = cf->cycle->hostname;

    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        if (comma == NULL) {
            comma = end;
        }
        v.data = p;
        v.len = (size_t) (comma - p);

        if (v.len > 7 && memcmp(v.data, "server=", 7) == 0) {
            if (dm_inet_parse(v.data + 7, v.len - 7, 514, &addr, &err)
                != DM_OK) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "%s in syslog server \"%.*s\"", err,
                                  (int) (v.len - 7), v.data + 7);
                return NULL;
            }
            have_server = 1;
        } else if (v.len > 9 && memcmp(v.data, "facility=", 9) == 0) {
            for (i = 0; i < dm_nelems(dm_log_facilities); i++) {
                if (strlen(dm_log_facilities[i].name) == v.len - 9
                    && memcmp(dm_log_facilities[i].name, v.data + 9, v.len - 9)
                           == 0) {
                    sl->facility = dm_log_facilities[i].value;
                    break;
                }
            }
            if (i == dm_nelems(dm_log_facilities)) {
                goto invalid;
            }
        } else if (v.len > 9 && memcmp(v.data, "severity=", 9) == 0) {
            for (i = 0; i < dm_nelems(dm_log_severities); i++) {
                if (strlen(dm_log_severities[i]) == v.len - 9
                    && memcmp(dm_log_severities[i], v.data + 9, v.len - 9)
                           == 0) {
                    sl->severity = (int) i;
                    break;
                }
            }
            if (i == dm_nelems(dm_log_severities)) {
                goto invalid;
            }
        } else if (v.len > 4 && memcmp(v.data, "tag=", 4) == 0) {
            if (v.len - 4 > 32) {
                goto invalid;
            }
            sl->tag.data = v.data + 4;
            sl->tag.len = v.len - 4;
        } else if (v.len == 10 && memcmp(v.data, "nohostname", 10) == 0) {
            sl->hostname.len = 0;
        } else {
            goto invalid;
        }
        p = comma + 1;
    }
    if (!have_server) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "no \"server=\" in \"%s\"",
                          spec->data);
        return NULL;
    }

    f->fd =
        socket(addr.sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->fd == -1) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno, "socket() failed");
        return NULL;
    }
    if (connect(f->fd, (struct sockaddr *) &addr.sa, addr.socklen) == -1) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno,
                          "connect() to syslog server of \"%s\" failed",
                          spec->data);
        close(f->fd);
        return NULL;
    }
    /* closed with the cycle's files; never reopened by USR1 */
    f->next = cf->cycle->log_files;
    cf->cycle->log_files = f;
    return f;

invalid:
    dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid syslog parameter \"%.*s\"",
                      (int) v.len, v.data);
    return NULL;
}

void
dm_log_chown_files(dm_cycle_t *cycle)
{
    dm_core_conf_t *ccf = dm_core_conf(cycle);
    dm_log_file_t *f;

    if (geteuid() != 0 || ccf->user == (uid_t) -1) {
        return;
    }
    for (f = cycle->log_files; f; f = f->next) {
        if (f->fd > 2 && !f->syslog
            && fchown(f->fd, ccf->user, (gid_t) -1) == -1) {
            dm_log_error(DM_LOG_ALERT, cycle->log, errno,
                         "chown(\"%s\") failed", f->name.data);
        }
    }
}
