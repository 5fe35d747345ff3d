/*
 * doorman: the rewrite script of http servers and locations.
 *
 *   rewrite REGEX REPLACEMENT [last | break | redirect | permanent];
 *   return CODE [TEXT];  return CODE URL;  return URL;
 *   break;   set $variable VALUE;
 *
 * The directives of one level run in file order, as nginx: at server
 * level in the SERVER_REWRITE phase, in a location in the REWRITE phase.
 * A script is not inherited: a location without directives of its own
 * runs none. A rewrite matches $uri; its replacement may use $1 ... of
 * that match. A replacement starting with http://, https:// or $scheme,
 * or the flags redirect (302) and permanent (301), answer a redirect;
 * otherwise $uri (and $args after a '?') change. `last` stops the script
 * and searches the location again; `break` stops it and stays; without a
 * flag the script goes on, and a location whose script changed $uri is
 * searched again at its end. More than DM_HTTP_MAX_URI_CHANGES searches
 * are a cycle: 500.
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>
#include <dm_http_location.h>

#define DM_HTTP_RW_RETURN  0
#define DM_HTTP_RW_REWRITE 1
#define DM_HTTP_RW_BREAK   2
#define DM_HTTP_RW_SET     3

#define DM_HTTP_RW_FLAG_NONE      0
#define DM_HTTP_RW_FLAG_LAST      1
#define DM_HTTP_RW_FLAG_BREAK     2
#define DM_HTTP_RW_FLAG_REDIRECT  3
#define DM_HTTP_RW_FLAG_PERMANENT 4

/* One directive of a script. */
typedef struct {
    dm_uint_t op;              /* DM_HTTP_RW_* */
    dm_int_t code;             /* return: the status */
    dm_complex_value_t *value; /* return text/URL, replacement, set value */
    dm_regex_t *regex;         /* rewrite: matched against $uri */
    dm_uint_t flag;            /* rewrite: DM_HTTP_RW_FLAG_* */
    dm_int_t index;            /* set: the variable */
    unsigned external:1;       /* rewrite: the replacement is a URL */
} dm_http_rewrite_op_t;

typedef struct {
    dm_array_t *ops; /* dm_http_rewrite_op_t, or NULL: no script here */
} dm_http_rewrite_loc_conf_t;

static void *dm_http_rewrite_create_loc_conf(dm_conf_t *cf);
static char *dm_http_rewrite_return(dm_conf_t *cf, const dm_command_t *cmd,
                                    void *conf);
static char *dm_http_rewrite_rewrite(dm_conf_t *cf, const dm_command_t *cmd,
                                     void *conf);
static char *dm_http_rewrite_break(dm_conf_t *cf, const dm_command_t *cmd,
                                   void *conf);
static char *dm_http_rewrite_set(dm_conf_t *cf, const dm_command_t *cmd,
                                 void *conf);
static dm_int_t dm_http_rewrite_postconfiguration(dm_conf_t *cf);

static const dm_command_t dm_http_rewrite_commands[] = {
    {dm_string("return"), DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE12,
     dm_http_rewrite_return, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("rewrite"), DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE23,
     dm_http_rewrite_rewrite, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("break"), DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_NOARGS,
     dm_http_rewrite_break, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("set"), DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE2,
     dm_http_rewrite_set, DM_CONF_LEVEL_LOC, 0, NULL},
    dm_null_command,
};

dm_module_t dm_http_rewrite_module = {
    .name = "http_rewrite",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_rewrite_commands,
    .create_loc_conf = dm_http_rewrite_create_loc_conf,
    .postconfiguration = dm_http_rewrite_postconfiguration,
};

static void *
dm_http_rewrite_create_loc_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_http_rewrite_loc_conf_t));
}

static dm_http_rewrite_op_t *
dm_http_rewrite_add(dm_conf_t *cf, dm_http_rewrite_loc_conf_t *rlcf,
                    dm_uint_t op)
{
    dm_http_rewrite_op_t *o;

    if (rlcf->ops == NULL) {
        rlcf->ops = dm_array_create(cf->pool, 4, sizeof(dm_http_rewrite_op_t));
        if (rlcf->ops == NULL) {
            return NULL;
        }
    }
    o = dm_array_push(rlcf->ops);
    if (o) {
        memset(o, 0, sizeof(*o));
        o->op = op;
        o->index = -1;
    }
    return o;
}

static dm_complex_value_t *
dm_http_rewrite_value(dm_conf_t *cf, const dm_str_t *src)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_complex_value_t *cv;

    cv = dm_palloc(cf->pool, sizeof(dm_complex_value_t));
    if (cv == NULL
        || dm_complex_compile(cf, &cmcf->variables, src, cv) != DM_OK) {
        return NULL;
    }
    return cv;
}

static int
dm_http_rewrite_is_url(const dm_str_t *s)
{
    return (s->len > 7 && strncmp((const char *) s->data, "http://", 7) == 0)
           || (s->len > 8
               && strncmp((const char *) s->data, "https://", 8) == 0)
           || (s->len >= 7
               && strncmp((const char *) s->data, "$scheme", 7) == 0);
}

static int
dm_http_rewrite_redirect_code(dm_int_t code)
{
    return code == 301 || code == 302 || code == 303 || code == 307
           || code == 308;
}

/* return CODE [TEXT] | CODE URL | URL */
static char *
dm_http_rewrite_return(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_str_t *value = cf->args->elts, *text = NULL;
    dm_http_rewrite_op_t *o;
    int64_t code;

    code = dm_parse_int(value[1].data, value[1].len);
    if (code < 0) {
        if (cf->args->nelts != 2 || !dm_http_rewrite_is_url(&value[1])) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid return code \"%s\"",
                              value[1].data);
            return DM_CONF_ERROR;
        }
        code = 302;
        text = &value[1];
    } else {
        if (code < 100 || code > 999) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid return code \"%s\"",
                              value[1].data);
            return DM_CONF_ERROR;
        }
        if (cf->args->nelts == 3) {
            text = &value[2];
        }
    }
    o = dm_http_rewrite_add(cf, conf, DM_HTTP_RW_RETURN);
    if (o == NULL) {
        return DM_CONF_ERROR;
    }
    o->code = (dm_int_t) code;
    if (text) {
        o->value = dm_http_rewrite_value(cf, text);
        if (o->value == NULL) {
            return DM_CONF_ERROR;
        }
    }
    return DM_CONF_OK;
}

/* rewrite REGEX REPLACEMENT [last | break | redirect | permanent] */
static char *
dm_http_rewrite_rewrite(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t *value = cf->args->elts;
    dm_http_rewrite_op_t *o;

    o = dm_http_rewrite_add(cf, conf, DM_HTTP_RW_REWRITE);
    if (o == NULL) {
        return DM_CONF_ERROR;
    }
    if (cf->args->nelts == 4) {
        if (dm_str_eq(&value[3], "last")) {
            o->flag = DM_HTTP_RW_FLAG_LAST;
        } else if (dm_str_eq(&value[3], "break")) {
            o->flag = DM_HTTP_RW_FLAG_BREAK;
        } else if (dm_str_eq(&value[3], "redirect")) {
            o->flag = DM_HTTP_RW_FLAG_REDIRECT;
        } else if (dm_str_eq(&value[3], "permanent")) {
            o->flag = DM_HTTP_RW_FLAG_PERMANENT;
        } else {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "invalid parameter \"%s\": the flag is last, "
                              "break, redirect or permanent",
                              value[3].data);
            return DM_CONF_ERROR;
        }
    }
    o->regex = dm_palloc(cf->pool, sizeof(dm_regex_t));
    if (o->regex == NULL
        || dm_regex_compile_vars(cf, &cmcf->variables, o->regex, &value[1], 0)
               != DM_OK) {
        return DM_CONF_ERROR;
    }
    o->external = dm_http_rewrite_is_url(&value[2]);
    if (!o->external && o->flag < DM_HTTP_RW_FLAG_REDIRECT
        && (value[2].len == 0 || value[2].data[0] != '/')
        && value[2].data[0] != '$') {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "rewrite replacement \"%s\" must start with \"/\" "
                          "or be a URL (http://, https://, $scheme)",
                          value[2].data);
        return DM_CONF_ERROR;
    }
    o->value = dm_http_rewrite_value(cf, &value[2]);
    return o->value ? DM_CONF_OK : DM_CONF_ERROR;
}

static char *
dm_http_rewrite_break(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    return dm_http_rewrite_add(cf, conf, DM_HTTP_RW_BREAK) ? DM_CONF_OK
                                                           : DM_CONF_ERROR;
}

/* set $variable VALUE: a request variable of the configuration's own */
static char *
dm_http_rewrite_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t *value = cf->args->elts, name;
    dm_http_rewrite_op_t *o;
    dm_variable_t *v;

    if (value[1].len < 2 || value[1].data[0] != '$') {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid variable name \"%s\"",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    name.data = value[1].data + 1;
    name.len = value[1].len - 1;
    /* its value lives in the request's cache, as a capture's does */
    v = dm_variable_add(cf, &cmcf->variables, &name,
                        DM_VAR_CHANGEABLE | DM_VAR_MATCH);
    if (v == NULL) {
        return DM_CONF_ERROR;
    }
    if (!(v->flags & DM_VAR_MATCH)) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "the variable \"%s\" cannot be set: another "
                          "directive computes it",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    o = dm_http_rewrite_add(cf, conf, DM_HTTP_RW_SET);
    if (o == NULL) {
        return DM_CONF_ERROR;
    }
    o->index = dm_variable_index(cf, &cmcf->variables, &name);
    o->value = dm_http_rewrite_value(cf, &value[2]);
    return (o->index >= 0 && o->value) ? DM_CONF_OK : DM_CONF_ERROR;
}

/*
 * The new $uri and $args of an internal rewrite: "/path?a=b" sets both
 * (the old arguments appended after '&'); a replacement ending in '?'
 * drops the old arguments.
 */
static void
dm_http_rewrite_apply(dm_http_request_t *r, dm_str_t *out)
{
    u_char *q = memchr(out->data, '?', out->len);
    dm_str_t args;
    u_char *p;

    if (q == NULL) {
        r->head.path = *out;
        return;
    }
    r->head.path.data = out->data;
    r->head.path.len = (size_t) (q - out->data);
    args.data = q + 1;
    args.len = out->len - r->head.path.len - 1;
    if (args.len == 0 || r->head.args.len == 0
        || q + 1 == out->data + out->len) {
        r->head.args = args;
        return;
    }
    p = dm_pnalloc(r->pool, args.len + 1 + r->head.args.len);
    if (p == NULL) {
        r->head.args = args;
        return;
    }
    memcpy(p, args.data, args.len);
    p[args.len] = '&';
    memcpy(p + args.len + 1, r->head.args.data, r->head.args.len);
    r->head.args.data = p;
    r->head.args.len = args.len + 1 + r->head.args.len;
}

/* A redirect's Location: the replacement, the old arguments kept unless
   it has its own or ends in '?'. */
static dm_int_t
dm_http_rewrite_redirect(dm_http_request_t *r, dm_uint_t status, dm_str_t *out)
{
    dm_str_t loc = *out;
    u_char *p;

    if (loc.len && loc.data[loc.len - 1] == '?') {
        loc.len--;
    } else if (r->head.args.len && memchr(loc.data, '?', loc.len) == NULL) {
        p = dm_pnalloc(r->pool, loc.len + 1 + r->head.args.len);
        if (p == NULL) {
            return DM_ERROR;
        }
        memcpy(p, loc.data, loc.len);
        p[loc.len] = '?';
        memcpy(p + loc.len + 1, r->head.args.data, r->head.args.len);
        loc.data = p;
        loc.len += 1 + r->head.args.len;
    }
    return dm_http_request_respond(r, status, NULL, &loc);
}

/* Search the location again from FIND_CONFIG (location level only). */
static dm_int_t
dm_http_rewrite_research(dm_http_request_t *r)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_request_main_conf(r, dm_http_core_module);

    r->uri_changed = 0;
    if (dm_http_location_uri_change(r, &r->head.path) != DM_OK) {
        r->error_page = 1;
        return dm_http_request_respond(r, 500, NULL, NULL);
    }
    r->phase_index = dm_phase_first(&cmcf->phases, DM_HTTP_FIND_CONFIG_PHASE);
    return DM_PHASE_JUMP;
}

static dm_int_t
dm_http_rewrite_run(dm_http_request_t *r, int in_location)
{
    dm_http_rewrite_loc_conf_t *rlcf =
        dm_http_request_loc_conf(r, dm_http_rewrite_module);
    size_t ovector[2 * DM_VAR_MAX_CAPTURES];
    dm_http_rewrite_op_t *o;
    dm_str_t out;
    dm_uint_t i;
    dm_int_t rc;

    if (rlcf->ops == NULL) {
        return DM_DECLINED;
    }
    o = rlcf->ops->elts;
    for (i = 0; i < rlcf->ops->nelts; i++, o++) {
        switch (o->op) {
        case DM_HTTP_RW_RETURN:
            if (o->value
                && dm_complex_eval(&r->vars, o->value, &out) != DM_OK) {
                return DM_ERROR;
            }
            if (dm_http_rewrite_redirect_code(o->code)) {
                return dm_http_request_respond(r, (dm_uint_t) o->code, NULL,
                                               o->value ? &out : NULL);
            }
            return dm_http_request_respond(r, (dm_uint_t) o->code,
                                           o->value ? &out : NULL, NULL);

        case DM_HTTP_RW_BREAK:
            r->uri_changed = 0;
            return DM_DECLINED;

        case DM_HTTP_RW_SET:
            if (dm_complex_eval(&r->vars, o->value, &out) != DM_OK) {
                return DM_ERROR;
            }
            dm_variable_set_value(&r->vars, (dm_uint_t) o->index, out.data,
                                  out.len);
            break;

        case DM_HTTP_RW_REWRITE:
            rc = dm_regex_exec(o->regex, r->head.path.data, r->head.path.len,
                               ovector, r->connection->log);
            if (rc == 0) {
                break;
            }
            if (rc < 0) {
                return DM_ERROR;
            }
            dm_regex_set_vars(&r->vars, o->regex, r->head.path.data, ovector,
                              (dm_uint_t) rc);
            if (dm_complex_eval(&r->vars, o->value, &out) != DM_OK) {
                return DM_ERROR;
            }
            if (o->external || o->flag == DM_HTTP_RW_FLAG_REDIRECT
                || o->flag == DM_HTTP_RW_FLAG_PERMANENT) {
                return dm_http_rewrite_redirect(
                    r, o->flag == DM_HTTP_RW_FLAG_PERMANENT ? 301 : 302, &out);
            }
            if (out.len == 0) {
                /* a replacement of empty variables: nothing to go to */
                return DM_ERROR;
            }
            dm_http_rewrite_apply(r, &out);
            r->uri_changed = 1;
            r->uri_rewritten = 1;
            if (o->flag == DM_HTTP_RW_FLAG_BREAK) {
                r->uri_changed = 0;
                return DM_DECLINED;
            }
            if (o->flag == DM_HTTP_RW_FLAG_LAST) {
                return in_location ? dm_http_rewrite_research(r)
                                   : (r->uri_changed = 0, DM_DECLINED);
            }
            break;
        }
    }
    if (in_location && r->uri_changed) {
        return dm_http_rewrite_research(r);
    }
    r->uri_changed = 0;
    return DM_DECLINED;
}

static dm_int_t
dm_http_rewrite_server_handler(void *obj)
{
    return dm_http_rewrite_run(obj, 0);
}

static dm_int_t
dm_http_rewrite_location_handler(void *obj)
{
    dm_http_request_t *r = obj;
    dm_http_core_srv_conf_t *cscf =
        dm_http_request_srv_conf(r, dm_http_core_module);

    if (r->loc_conf == cscf->ctx->loc_conf) {
        /* no location matched: the server's script already ran */
        return DM_DECLINED;
    }
    return dm_http_rewrite_run(r, 1);
}

static dm_int_t
dm_http_rewrite_postconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    if (dm_phase_add(&cmcf->phases, DM_HTTP_SERVER_REWRITE_PHASE,
                     dm_http_rewrite_server_handler)
        != DM_OK) {
        return DM_ERROR;
    }
    return dm_phase_add(&cmcf->phases, DM_HTTP_REWRITE_PHASE,
                        dm_http_rewrite_location_handler);
}
