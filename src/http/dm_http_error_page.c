/*
 * doorman: error_page CODE ... [=[RESPONSE]] URI | @name;
 *
 * (http, server, location; a level without error_page inherits them.)
 * When a request is answered with one of the codes and no body of its
 * own (return 404; a 403 from deny; a 503 from limit_req; a 404 for no
 * content), it is redirected internally: to URI (then the method becomes
 * GET, HEAD staying HEAD) from the SERVER_REWRITE phase, or into the
 * named location @name from its REWRITE phase; an http:// or https:// URI
 * is a 302 redirect (or the =RESPONSE code when it is a redirect code).
 * The answer keeps the original code, unless =RESPONSE replaces it or a
 * bare = lets the target decide. One redirect per request, as nginx
 * without recursive_error_pages: an error of the target is answered
 * plainly.
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_parse.h>
#include <dm_http_request.h>
#include <dm_http_location.h>

typedef struct {
    dm_uint_t status;       /* the code it catches */
    dm_int_t overwrite;     /* -1: keep; 0: the target's (=); else =CODE */
    dm_complex_value_t uri; /* where to go */
} dm_http_error_page_t;

typedef struct {
    dm_array_t *pages; /* dm_http_error_page_t, NULL: none */
} dm_http_error_page_loc_conf_t;

static void *dm_http_error_page_create_loc_conf(dm_conf_t *cf);
static char *dm_http_error_page_merge_loc_conf(dm_conf_t *cf, void *parent,
                                               void *child);
static char *dm_http_error_page_set(dm_conf_t *cf, const dm_command_t *cmd,
                                    void *conf);

static const dm_command_t dm_http_error_page_commands[] = {
    {dm_string("error_page"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_2MORE,
     dm_http_error_page_set, DM_CONF_LEVEL_LOC, 0, NULL},
    dm_null_command,
};

dm_module_t dm_http_error_page_module = {
    .name = "http_error_page",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_error_page_commands,
    .create_loc_conf = dm_http_error_page_create_loc_conf,
    .merge_loc_conf = dm_http_error_page_merge_loc_conf,
};

static void *
dm_http_error_page_create_loc_conf(dm_conf_t *cf)
{
    dm_http_error_page_loc_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->pages = DM_CONF_UNSET_PTR;
    }
    return conf;
}

static char *
dm_http_error_page_merge_loc_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_error_page_loc_conf_t *prev = parent, *conf = child;

    dm_conf_merge_ptr_value(conf->pages, prev->pages, NULL);
    return DM_CONF_OK;
}

static char *
dm_http_error_page_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_error_page_loc_conf_t *elcf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t *value = cf->args->elts;
    dm_uint_t i, n = cf->args->nelts - 1;
    dm_int_t overwrite = -1;
    dm_complex_value_t uri;
    dm_http_error_page_t *p;
    int64_t code;

    if (elcf->pages == DM_CONF_UNSET_PTR) {
        elcf->pages =
            dm_array_create(cf->pool, 4, sizeof(dm_http_error_page_t));
        if (elcf->pages == NULL) {
            return DM_CONF_ERROR;
        }
    }
    if (value[n - 1].len && value[n - 1].data[0] == '=') {
        if (value[n - 1].len == 1) {
            overwrite = 0;
        } else {
            code = dm_parse_int(value[n - 1].data + 1, value[n - 1].len - 1);
            if (code < 200 || code > 599) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "invalid response code \"%s\"",
                                  value[n - 1].data);
                return DM_CONF_ERROR;
            }
            overwrite = (dm_int_t) code;
        }
        n--;
    }
    if (n < 2) {
        return "needs a code and a URI";
    }
    if (dm_complex_compile(cf, &cmcf->variables, &value[cf->args->nelts - 1],
                           &uri)
        != DM_OK) {
        return DM_CONF_ERROR;
    }
    if (uri.source.len == 0 || uri.source.data[0] == '=') {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid error_page URI \"%s\"",
                          uri.source.data);
        return DM_CONF_ERROR;
    }
    for (i = 1; i < n; i++) {
        code = dm_parse_int(value[i].data, value[i].len);
        if (code < 300 || code > 599) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "value \"%s\" must be between 300 and 599",
                              value[i].data);
            return DM_CONF_ERROR;
        }
        p = dm_array_push(elcf->pages);
        if (p == NULL) {
            return DM_CONF_ERROR;
        }
        p->status = (dm_uint_t) code;
        p->overwrite = overwrite;
        p->uri = uri;
    }
    return DM_CONF_OK;
}

static int
dm_http_error_page_is_redirect(dm_int_t code)
{
    return code == 301 || code == 302 || code == 303 || code == 307
           || code == 308;
}

dm_int_t
dm_http_error_page_run(dm_http_request_t *r, dm_uint_t status)
{
    static const dm_str_t get = dm_string("GET");
    dm_http_error_page_loc_conf_t *elcf =
        dm_http_request_loc_conf(r, dm_http_error_page_module);
    dm_http_error_page_t *p;
    dm_str_t uri, args, *pargs = NULL;
    dm_uint_t i;
    u_char *q;

    if (r->error_page || elcf->pages == NULL) {
        return DM_DECLINED;
    }
    p = elcf->pages->elts;
    for (i = 0; i < elcf->pages->nelts; i++, p++) {
        if (p->status == status) {
            break;
        }
    }
    if (i == elcf->pages->nelts) {
        return DM_DECLINED;
    }
    r->error_page = 1;
    if (dm_complex_eval(&r->vars, &p->uri, &uri) != DM_OK || uri.len == 0) {
        return DM_DECLINED;
    }
    r->err_status = p->overwrite < 0 ? status : (dm_uint_t) p->overwrite;

    if (uri.data[0] == '@') {
        return dm_http_named_redirect(r, &uri);
    }
    if ((uri.len > 7 && memcmp(uri.data, "http://", 7) == 0)
        || (uri.len > 8 && memcmp(uri.data, "https://", 8) == 0)) {
        r->err_status = 0;
        return dm_http_request_respond(
            r,
            dm_http_error_page_is_redirect(p->overwrite) ? p->overwrite : 302,
            NULL, &uri);
    }
    q = memchr(uri.data, '?', uri.len);
    if (q) {
        args.data = q + 1;
        args.len = uri.len - (size_t) (q - uri.data) - 1;
        uri.len = (size_t) (q - uri.data);
        pargs = &args;
    } else {
        args.data = NULL;
        args.len = 0;
        pargs = &args;
    }
    if (r->head.method_id != DM_HTTP_METHOD_HEAD) {
        r->head.method_id = DM_HTTP_METHOD_GET;
        r->head.method = get;
    }
    return dm_http_internal_redirect(r, &uri, pargs);
}
