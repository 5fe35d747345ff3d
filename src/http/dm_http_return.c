/*
 * doorman: return in http servers and locations.
 *
 *   return CODE [TEXT];     return CODE URL;  (301 302 303 307 308)
 *   return URL;             (302, the URL starting with http:// or https://)
 *
 * At server level it runs in the SERVER_REWRITE phase, in a location in
 * the REWRITE phase; the request ends there. TEXT and URL may use
 * variables. As in nginx, a return is not inherited by nested locations.
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>

typedef struct {
    dm_int_t code;            /* -1: no return at this level */
    dm_complex_value_t *text; /* body, or Location for redirects */
} dm_http_return_loc_conf_t;

static void *dm_http_return_create_loc_conf(dm_conf_t *cf);
static char *dm_http_return_set(dm_conf_t *cf, const dm_command_t *cmd,
                                void *conf);
static dm_int_t dm_http_return_postconfiguration(dm_conf_t *cf);

static const dm_command_t dm_http_return_commands[] = {
    {dm_string("return"), DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE12,
     dm_http_return_set, DM_CONF_LEVEL_LOC, 0, NULL},
    dm_null_command,
};

dm_module_t dm_http_return_module = {
    .name = "http_return",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_return_commands,
    .create_loc_conf = dm_http_return_create_loc_conf,
    .postconfiguration = dm_http_return_postconfiguration,
};

static void *
dm_http_return_create_loc_conf(dm_conf_t *cf)
{
    dm_http_return_loc_conf_t *rcf;

    rcf = dm_pcalloc(cf->pool, sizeof(*rcf));
    if (rcf) {
        rcf->code = -1;
    }
    return rcf;
}

static int
dm_http_return_redirect(dm_int_t code)
{
    return code == 301 || code == 302 || code == 303 || code == 307
           || code == 308;
}

static char *
dm_http_return_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_return_loc_conf_t *rcf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t *value = cf->args->elts, *text = NULL;
    int64_t code;

    if (rcf->code != -1) {
        return "is duplicate";
    }
    code = dm_parse_int(value[1].data, value[1].len);
    if (code < 0) {
        /* return URL */
        if (cf->args->nelts != 2
            || !((value[1].len > 7 && memcmp(value[1].data, "http://", 7) == 0)
                 || (value[1].len > 8
                     && memcmp(value[1].data, "https://", 8) == 0))) {
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
    rcf->code = (dm_int_t) code;
    if (text) {
        rcf->text = dm_palloc(cf->pool, sizeof(dm_complex_value_t));
        if (rcf->text == NULL
            || dm_complex_compile(cf, &cmcf->variables, text, rcf->text)
                   != DM_OK) {
            return DM_CONF_ERROR;
        }
    }
    return DM_CONF_OK;
}

static dm_int_t
dm_http_return_handler(void *obj)
{
    dm_http_request_t *r = obj;
    dm_http_return_loc_conf_t *rcf =
        dm_http_request_loc_conf(r, dm_http_return_module);
    dm_str_t text;

    if (rcf->code == -1) {
        return DM_DECLINED;
    }
    if (rcf->text && dm_complex_eval(&r->vars, rcf->text, &text) != DM_OK) {
        return DM_ERROR;
    }
    if (dm_http_return_redirect(rcf->code)) {
        return dm_http_request_respond(r, (dm_uint_t) rcf->code, NULL,
                                       rcf->text ? &text : NULL);
    }
    return dm_http_request_respond(r, (dm_uint_t) rcf->code,
                                   rcf->text ? &text : NULL, NULL);
}

static dm_int_t
dm_http_return_postconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    if (dm_phase_add(&cmcf->phases, DM_HTTP_SERVER_REWRITE_PHASE,
                     dm_http_return_handler)
        != DM_OK) {
        return DM_ERROR;
    }
    return dm_phase_add(&cmcf->phases, DM_HTTP_REWRITE_PHASE,
                        dm_http_return_handler);
}
