/*
 * doorman: the log_format and access_log directives, for both engines.
 *
 * The directive tables live with each engine's log module (stream: main
 * and server levels; http: main, server and location); their `post` is
 * that module, so the code here finds the engine's formats and variables
 * in its main structure, wherever the directive appears.
 *
 * Formats are compiled when they are defined, so an error points at the
 * log_format line; a predefined format is compiled at its first use, so
 * that the http `combined` format (whose request variables arrive with
 * the HTTP engine) costs nothing until an access_log asks for it. As in
 * nginx, a format must be defined before an access_log names it.
 */
#include <dm_core.h>
#include <dm_access_log.h>

/* Bounds of buffer= and flush=. */
#define DM_ACCESS_LOG_BUFFER_MAX (64 * 1024 * 1024)
#define DM_ACCESS_LOG_FLUSH_MAX  (24 * 3600 * 1000)
/* flush= when buffer= is given alone. */
#define DM_ACCESS_LOG_FLUSH_DEFAULT 1000

void *
dm_access_log_create_main_conf(dm_conf_t *cf)
{
    dm_access_log_main_conf_t *lmcf;

    lmcf = dm_pcalloc(cf->pool, sizeof(dm_access_log_main_conf_t));
    if (lmcf == NULL
        || dm_array_init(&lmcf->formats, cf->pool, 4,
                         sizeof(dm_access_log_format_t))
               != DM_OK) {
        return NULL;
    }
    return lmcf;
}

dm_int_t
dm_access_log_main_init(dm_conf_t *cf, dm_access_log_main_conf_t *lmcf,
                        dm_variable_registry_t *reg, const char *name,
                        const char *const *strings)
{
    dm_access_log_format_t *fmt;

    lmcf->registry = reg;
    lmcf->default_format = name;
    fmt = dm_array_push(&lmcf->formats);
    if (fmt == NULL) {
        return DM_ERROR;
    }
    memset(fmt, 0, sizeof(*fmt));
    fmt->name.data = (u_char *) name;
    fmt->name.len = strlen(name);
    fmt->escape = DM_ACCESS_LOG_ESCAPE_DEFAULT;
    fmt->predefined = strings;
    return DM_OK;
}

void *
dm_access_log_create_conf(dm_conf_t *cf)
{
    dm_access_log_conf_t *alcf;

    alcf = dm_pcalloc(cf->pool, sizeof(dm_access_log_conf_t));
    if (alcf == NULL) {
        return NULL;
    }
    alcf->logs = DM_CONF_UNSET_PTR;
    return alcf;
}

char *
dm_access_log_merge_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_access_log_conf_t *prev = parent, *conf = child;

    /* a level with any access_log (or off) replaces the parent's list */
    dm_conf_merge_ptr_value(conf->logs, prev->logs, NULL);
    return DM_CONF_OK;
}

static dm_access_log_format_t *
dm_access_log_find_format(dm_access_log_main_conf_t *lmcf, const dm_str_t *name)
{
    dm_access_log_format_t *fmt = lmcf->formats.elts;
    dm_uint_t i;

    for (i = 0; i < lmcf->formats.nelts; i++) {
        if (fmt[i].name.len == name->len
            && memcmp(fmt[i].name.data, name->data, name->len) == 0) {
            return &fmt[i];
        }
    }
    return NULL;
}

/* Compiles the n strings of a format against the engine's variables. */
static dm_int_t
dm_access_log_compile(dm_conf_t *cf, dm_access_log_main_conf_t *lmcf,
                      dm_access_log_format_t *fmt, dm_str_t *strings,
                      dm_uint_t n)
{
    dm_complex_value_t *cv;
    dm_uint_t i, j;

    cv = dm_pcalloc(cf->pool, n * sizeof(dm_complex_value_t));
    if (cv == NULL) {
        return DM_ERROR;
    }
    fmt->nvars = 0;
    for (i = 0; i < n; i++) {
        /* each string on its own: a variable name never spans two */
        if (dm_complex_compile(cf, lmcf->registry, &strings[i], &cv[i])
            != DM_OK) {
            return DM_ERROR;
        }
        for (j = 0; j < cv[i].nparts; j++) {
            if (cv[i].parts[j].index >= 0) {
                fmt->nvars++;
            }
        }
    }
    fmt->values = cv;
    fmt->nvalues = n;
    return DM_OK;
}

static dm_int_t
dm_access_log_compile_predefined(dm_conf_t *cf, dm_access_log_main_conf_t *lmcf,
                                 dm_access_log_format_t *fmt)
{
    dm_str_t *strings;
    dm_uint_t n, i;

    for (n = 0; fmt->predefined[n]; n++) {
    }
    strings = dm_palloc(cf->pool, n * sizeof(dm_str_t));
    if (strings == NULL) {
        return DM_ERROR;
    }
    for (i = 0; i < n; i++) {
        strings[i].data = (u_char *) fmt->predefined[i];
        strings[i].len = strlen(fmt->predefined[i]);
    }
    return dm_access_log_compile(cf, lmcf, fmt, strings, n);
}

char *
dm_access_log_format_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_access_log_main_conf_t *lmcf = conf;
    dm_str_t *value = cf->args->elts, esc;
    dm_access_log_format_t *fmt;
    dm_uint_t first = 2, escape = DM_ACCESS_LOG_ESCAPE_DEFAULT;

    if (dm_access_log_find_format(lmcf, &value[1])) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "duplicate \"log_format\" name \"%s\"",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    if (value[2].len >= 7 && memcmp(value[2].data, "escape=", 7) == 0) {
        esc.data = value[2].data + 7;
        esc.len = value[2].len - 7;
        if (dm_str_eq(&esc, "default")) {
            escape = DM_ACCESS_LOG_ESCAPE_DEFAULT;
        } else if (dm_str_eq(&esc, "json")) {
            escape = DM_ACCESS_LOG_ESCAPE_JSON;
        } else if (dm_str_eq(&esc, "none")) {
            escape = DM_ACCESS_LOG_ESCAPE_NONE;
        } else {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "unknown log format escaping \"%.*s\", it must "
                              "be default, json or none",
                              DM_STR_ARG(esc));
            return DM_CONF_ERROR;
        }
        first = 3;
    }
    if (first >= cf->args->nelts) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "no format string in \"log_format\" directive");
        return DM_CONF_ERROR;
    }

    fmt = dm_array_push(&lmcf->formats);
    if (fmt == NULL) {
        return DM_CONF_ERROR;
    }
    memset(fmt, 0, sizeof(*fmt));
    fmt->name = value[1];
    fmt->escape = escape;
    if (dm_access_log_compile(cf, lmcf, fmt, &value[first],
                              cf->args->nelts - first)
        != DM_OK) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* The parameters after PATH [FORMAT] of one access_log directive. */
typedef struct {
    size_t size;                /* buffer= */
    dm_msec_t flush;            /* flush= */
    dm_complex_value_t *filter; /* if= */
} dm_access_log_params_t;

static int
dm_access_log_is_param(const dm_str_t *v)
{
    return (v->len >= 7 && memcmp(v->data, "buffer=", 7) == 0)
           || (v->len >= 6 && memcmp(v->data, "flush=", 6) == 0)
           || (v->len >= 3 && memcmp(v->data, "if=", 3) == 0);
}

static char *
dm_access_log_params(dm_conf_t *cf, dm_access_log_main_conf_t *lmcf,
                     dm_uint_t first, dm_access_log_params_t *pa)
{
    dm_str_t *value = cf->args->elts, cond;
    dm_uint_t i;
    int64_t n;

    memset(pa, 0, sizeof(*pa));
    for (i = first; i < cf->args->nelts; i++) {
        if (value[i].len > 7 && memcmp(value[i].data, "buffer=", 7) == 0) {
            n = dm_parse_size(value[i].data + 7, value[i].len - 7);
            if (n <= 0 || n > DM_ACCESS_LOG_BUFFER_MAX) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "invalid buffer size \"%s\", it must be "
                                  "between 1 and 64m",
                                  value[i].data + 7);
                return DM_CONF_ERROR;
            }
            pa->size = (size_t) n;
        } else if (value[i].len > 6
                   && memcmp(value[i].data, "flush=", 6) == 0) {
            n = dm_parse_msec(value[i].data + 6, value[i].len - 6);
            if (n <= 0 || n > DM_ACCESS_LOG_FLUSH_MAX) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "invalid flush time \"%s\", it must be "
                                  "between 1ms and 1d",
                                  value[i].data + 6);
                return DM_CONF_ERROR;
            }
            pa->flush = (dm_msec_t) n;
        } else if (value[i].len > 3 && memcmp(value[i].data, "if=", 3) == 0) {
            cond.data = value[i].data + 3;
            cond.len = value[i].len - 3;
            pa->filter = dm_palloc(cf->pool, sizeof(dm_complex_value_t));
            if (pa->filter == NULL
                || dm_complex_compile(cf, lmcf->registry, &cond, pa->filter)
                       != DM_OK) {
                return DM_CONF_ERROR;
            }
        } else {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid parameter \"%s\"",
                              value[i].data);
            return DM_CONF_ERROR;
        }
    }
    if (pa->flush && pa->size == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"flush=\" needs \"buffer=\" in \"access_log\"");
        return DM_CONF_ERROR;
    }
    if (pa->size && pa->flush == 0) {
        pa->flush = DM_ACCESS_LOG_FLUSH_DEFAULT;
    }
    return DM_CONF_OK;
}

char *
dm_access_log_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_access_log_conf_t *alcf = conf;
    const dm_module_t *m = cmd->post;
    dm_access_log_main_conf_t *lmcf = cf->ctx->main_conf[m->ctx_index];
    dm_str_t *value = cf->args->elts, path = value[1], name;
    dm_access_log_format_t *fmt;
    dm_access_log_writer_t *w;
    dm_access_log_params_t pa;
    dm_access_log_t *log;
    dm_log_file_t *f;
    dm_uint_t first = 2;
    int syslog;

    if (dm_str_eq(&value[1], "off")) {
        if (cf->args->nelts > 2) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid parameter \"%s\"",
                              value[2].data);
            return DM_CONF_ERROR;
        }
        if (alcf->logs != DM_CONF_UNSET_PTR) {
            goto mixed;
        }
        alcf->logs = NULL;
        return DM_CONF_OK;
    }
    if (alcf->logs == NULL) {
        goto mixed;
    }
    if (path.len == 0) {
        return "needs a file name";
    }

    name.data = (u_char *) lmcf->default_format;
    name.len = strlen(lmcf->default_format);
    if (cf->args->nelts > 2 && !dm_access_log_is_param(&value[2])) {
        name = value[2];
        first = 3;
    }
    if (dm_access_log_params(cf, lmcf, first, &pa) != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }
    syslog = path.len > 7 && memcmp(path.data, "syslog:", 7) == 0;
    if (syslog && pa.size) {
        return "does not support \"buffer=\" and \"flush=\" with syslog";
    }

    fmt = dm_access_log_find_format(lmcf, &name);
    if (fmt == NULL) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "unknown log format \"%.*s\"",
                          DM_STR_ARG(name));
        return DM_CONF_ERROR;
    }
    if (fmt->values == NULL
        && dm_access_log_compile_predefined(cf, lmcf, fmt) != DM_OK) {
        return DM_CONF_ERROR;
    }

    /* opened (created) now, by the master: one file per path per cycle */
    f = dm_log_open_file(cf, &path);
    if (f == NULL) {
        return DM_CONF_ERROR;
    }
    w = dm_access_log_writer(cf, f);
    if (w == NULL) {
        return DM_CONF_ERROR;
    }
    if (pa.size) {
        if (w->size && (w->size != pa.size || w->flush != pa.flush)) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "access_log \"%s\" already defined with "
                              "other buffer= or flush= values",
                              f->name.data);
            return DM_CONF_ERROR;
        }
        /* every line to this file goes through the buffer */
        w->size = pa.size;
        w->flush = pa.flush;
    }

    if (alcf->logs == DM_CONF_UNSET_PTR) {
        alcf->logs = dm_array_create(cf->pool, 2, sizeof(dm_access_log_t));
        if (alcf->logs == NULL) {
            return DM_CONF_ERROR;
        }
    }
    log = dm_array_push(alcf->logs);
    if (log == NULL) {
        return DM_CONF_ERROR;
    }
    log->writer = w;
    log->format = fmt;
    log->filter = pa.filter;
    return DM_CONF_OK;

mixed:
    dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                      "\"access_log off\" and other \"access_log\" "
                      "directives at the same level");
    return DM_CONF_ERROR;
}
