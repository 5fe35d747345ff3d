/*
 * doorman: add_header NAME VALUE [always];
 *
 * (http, server, location; as nginx, a level with add_header lines
 * replaces the inherited ones entirely.) The header goes on responses
 * with 200, 201, 204, 206, 301, 302, 303, 304, 307 or 308, and on every
 * response with `always`. An empty value adds nothing. A value that
 * would carry a CR, LF or NUL (a decoded $uri, say) is dropped with a
 * log line rather than split the response head.
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>

typedef struct {
    dm_str_t name;            /* as written */
    dm_complex_value_t value; /* may use variables */
    unsigned always:1;        /* on every status */
} dm_http_header_val_t;

typedef struct {
    dm_array_t *headers; /* dm_http_header_val_t, NULL: none */
} dm_http_headers_loc_conf_t;

static void *dm_http_headers_create_loc_conf(dm_conf_t *cf);
static char *dm_http_headers_merge_loc_conf(dm_conf_t *cf, void *parent,
                                            void *child);
static char *dm_http_headers_add_set(dm_conf_t *cf, const dm_command_t *cmd,
                                     void *conf);

static const dm_command_t dm_http_headers_commands[] = {
    {dm_string("add_header"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE23,
     dm_http_headers_add_set, DM_CONF_LEVEL_LOC, 0, NULL},
    dm_null_command,
};

dm_module_t dm_http_headers_module = {
    .name = "http_headers",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_headers_commands,
    .create_loc_conf = dm_http_headers_create_loc_conf,
    .merge_loc_conf = dm_http_headers_merge_loc_conf,
};

static void *
dm_http_headers_create_loc_conf(dm_conf_t *cf)
{
    dm_http_headers_loc_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->headers = DM_CONF_UNSET_PTR;
    }
    return conf;
}

static char *
dm_http_headers_merge_loc_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_headers_loc_conf_t *prev = parent, *conf = child;

    dm_conf_merge_ptr_value(conf->headers, prev->headers, NULL);
    return DM_CONF_OK;
}

/* RFC 9110 token characters. */
static int
dm_http_headers_token(const dm_str_t *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    dm_uint_t i;
    u_char ch;

    if (s->len == 0) {
        return 0;
    }
    for (i = 0; i < s->len; i++) {
        ch = s->data[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')
              || (ch >= 'A' && ch <= 'Z') || (ch && strchr(extra, ch)))) {
            return 0;
        }
    }
    return 1;
}

static char *
dm_http_headers_add_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_headers_loc_conf_t *hlcf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t *value = cf->args->elts;
    dm_http_header_val_t *h;
    dm_uint_t i;

    if (!dm_http_headers_token(&value[1])) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid header name \"%s\"",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    for (i = 0; i < value[2].len; i++) {
        if (value[2].data[i] == '\r' || value[2].data[i] == '\n') {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "the value of header \"%s\" has a line break",
                              value[1].data);
            return DM_CONF_ERROR;
        }
    }
    if (cf->args->nelts == 4 && !dm_str_eq(&value[3], "always")) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid parameter \"%s\"",
                          value[3].data);
        return DM_CONF_ERROR;
    }
    if (hlcf->headers == DM_CONF_UNSET_PTR) {
        hlcf->headers =
            dm_array_create(cf->pool, 4, sizeof(dm_http_header_val_t));
        if (hlcf->headers == NULL) {
            return DM_CONF_ERROR;
        }
    }
    h = dm_array_push(hlcf->headers);
    if (h == NULL) {
        return DM_CONF_ERROR;
    }
    memset(h, 0, sizeof(*h));
    h->name = value[1];
    h->always = cf->args->nelts == 4;
    if (dm_complex_compile(cf, &cmcf->variables, &value[2], &h->value)
        != DM_OK) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

static int
dm_http_headers_status_ok(dm_uint_t status)
{
    switch (status) {
    case 200:
    case 201:
    case 204:
    case 206:
    case 301:
    case 302:
    case 303:
    case 304:
    case 307:
    case 308:
        return 1;
    }
    return 0;
}

dm_int_t
dm_http_headers_eval(dm_http_request_t *r, dm_uint_t status, dm_str_t *out)
{
    dm_http_headers_loc_conf_t *hlcf =
        dm_http_request_loc_conf(r, dm_http_headers_module);
    dm_http_header_val_t *h;
    dm_str_t *vals;
    size_t len = 0;
    dm_uint_t i, n;
    u_char *p;

    out->len = 0;
    out->data = NULL;
    if (hlcf->headers == NULL) {
        return DM_OK;
    }
    n = hlcf->headers->nelts;
    vals = dm_palloc(r->pool, n * sizeof(dm_str_t));
    if (vals == NULL) {
        return DM_ERROR;
    }
    h = hlcf->headers->elts;
    for (i = 0; i < n; i++) {
        vals[i].len = 0;
        if (!h[i].always && !dm_http_headers_status_ok(status)) {
            continue;
        }
        if (dm_complex_eval(&r->vars, &h[i].value, &vals[i]) != DM_OK) {
            return DM_ERROR;
        }
        if (memchr(vals[i].data, '\r', vals[i].len)
            || memchr(vals[i].data, '\n', vals[i].len)
            || memchr(vals[i].data, '\0', vals[i].len)) {
            dm_log_error(DM_LOG_WARN, r->connection->log, 0,
                         "add_header \"%.*s\": the value has a line break "
                         "or NUL, not sent",
                         DM_STR_ARG(h[i].name));
            vals[i].len = 0;
        }
        if (vals[i].len) {
            len += h[i].name.len + 2 + vals[i].len + 2;
        }
    }
    if (len == 0) {
        return DM_OK;
    }
    p = dm_pnalloc(r->pool, len);
    if (p == NULL) {
        return DM_ERROR;
    }
    out->data = p;
    for (i = 0; i < n; i++) {
        if (vals[i].len == 0) {
            continue;
        }
        p = (u_char *) memcpy(p, h[i].name.data, h[i].name.len) + h[i].name.len;
        *p++ = ':';
        *p++ = ' ';
        p = (u_char *) memcpy(p, vals[i].data, vals[i].len) + vals[i].len;
        *p++ = '\r';
        *p++ = '\n';
    }
    out->len = len;
    return DM_OK;
}
