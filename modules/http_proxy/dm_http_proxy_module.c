/*
 * doorman: the http_proxy module: configuration and the content handler.
 *
 *   proxy_pass http[s]://UPSTREAM[/uri] | http[s]://ADDRESS[:PORT][/uri]
 *              | http[s]://$variable...;                    (location)
 *   proxy_set_header NAME VALUE;  proxy_hide_header NAME;
 *   proxy_pass_header NAME;  proxy_http_version 1.0 | 1.1;
 *   proxy_connect_timeout / proxy_send_timeout / proxy_read_timeout TIME;
 *   proxy_tunnel_timeout TIME;
 *   proxy_next_upstream error | timeout | invalid_header | http_500 |
 *       http_502 | http_503 | http_504 | http_429 | non_idempotent | off ...;
 *   proxy_next_upstream_tries N;  proxy_next_upstream_timeout TIME;
 *   proxy_buffering on|off;  proxy_request_buffering on|off;
 *   proxy_buffer_size SIZE;  proxy_buffers NUMBER SIZE;
 *   proxy_x_forwarded_for / proxy_x_forwarded_proto / proxy_x_forwarded_host
 *       / proxy_x_real_ip / proxy_forwarded / proxy_x_request_id on|off;
 *   underscores_in_headers on|off;
 *   keepalive N;  keepalive_timeout TIME;  keepalive_requests N;  (upstream)
 *   proxy_ssl_verify on|off;  proxy_ssl_trusted_certificate FILE;
 *   proxy_ssl_verify_depth N;  proxy_ssl_name NAME;
 *   proxy_ssl_server_name on|off;  proxy_ssl_certificate FILE;
 *   proxy_ssl_certificate_key FILE;  proxy_ssl_protocols PROTOCOL...;
 *   proxy_ssl_ciphers CIPHERS;  proxy_ssl_conf_command NAME VALUE;
 *   proxy_ssl_session_reuse on|off;          (TLS to https:// upstreams)
 *   proxy_protocol on|off;  proxy_protocol_version 1|2;
 *   proxy_protocol_tlv NAME VALUE;   (a PROXY header on upstream
 *                                     connections, each then private to
 *                                     its client connection)
 *
 * As nginx, proxy_pass is the location's content handler and is not
 * inherited; the other directives are (a level with proxy_set_header,
 * proxy_hide_header or proxy_pass_header lines replaces those above).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_http_conf.h>
#include <dm_http_parse.h>
#include <dm_http_request.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_proxy_protocol.h>
#include <dm_http_proxy.h>

static void *dm_http_proxy_create_loc_conf(dm_conf_t *cf);
static char *dm_http_proxy_merge_loc_conf(dm_conf_t *cf, void *parent,
                                          void *child);
static void *dm_http_proxy_create_srv_conf(dm_conf_t *cf);
static char *dm_http_proxy_pass(dm_conf_t *cf, const dm_command_t *cmd,
                                void *conf);
static char *dm_http_proxy_pp_tlv(dm_conf_t *cf, const dm_command_t *cmd,
                                  void *conf);
static const dm_conf_bounds_t dm_http_proxy_pp_bounds = {1, 2};
static char *dm_http_proxy_set_header(dm_conf_t *cf, const dm_command_t *cmd,
                                      void *conf);
static char *dm_http_proxy_name_list(dm_conf_t *cf, const dm_command_t *cmd,
                                     void *conf);
static char *dm_http_proxy_version(dm_conf_t *cf, const dm_command_t *cmd,
                                   void *conf);
static char *dm_http_proxy_next_set(dm_conf_t *cf, const dm_command_t *cmd,
                                    void *conf);
static char *dm_http_proxy_buffers(dm_conf_t *cf, const dm_command_t *cmd,
                                   void *conf);
static char *dm_http_proxy_add_flag(dm_conf_t *cf, const dm_command_t *cmd,
                                    void *conf);
static dm_int_t dm_http_proxy_preconfiguration(dm_conf_t *cf);
static dm_int_t dm_http_proxy_postconfiguration(dm_conf_t *cf);

static const dm_conf_bounds_t dm_http_proxy_time_bounds = {1, 7LL * 86400000};
static const dm_conf_bounds_t dm_http_proxy_ntime_bounds = {0, 7LL * 86400000};
static const dm_conf_bounds_t dm_http_proxy_buf_bounds = {1024, 1 << 20};
static const dm_conf_bounds_t dm_http_proxy_tries_bounds = {0, 1000};
static const dm_conf_bounds_t dm_http_proxy_ka_bounds = {0, 1000000};
static const dm_conf_bounds_t dm_http_proxy_kareq_bounds = {1, 1 << 30};

#define DM_PX_LOC(f) DM_CONF_LEVEL_LOC, offsetof(dm_http_proxy_loc_conf_t, f)
#define DM_PX_UPS(f) DM_CONF_LEVEL_SRV, offsetof(dm_http_proxy_ups_conf_t, f)
#define DM_PX_ANY    (DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF)
#define DM_PX_SSL(f)                                                           \
    DM_SSL_CLI(DM_CONF_LEVEL_LOC, offsetof(dm_http_proxy_loc_conf_t, ssl), f)

static const dm_command_t dm_http_proxy_commands[] = {
    {dm_string("proxy_pass"), DM_HTTP_LOC_CONF, DM_CONF_TAKE1,
     dm_http_proxy_pass, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("proxy_set_header"), DM_PX_ANY, DM_CONF_TAKE2,
     dm_http_proxy_set_header, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("proxy_hide_header"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_http_proxy_name_list, DM_PX_LOC(hide), NULL},
    {dm_string("proxy_pass_header"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_http_proxy_name_list, DM_PX_LOC(pass), NULL},
    {dm_string("proxy_protocol"), DM_PX_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_PX_LOC(pp), NULL},
    {dm_string("proxy_protocol_version"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_PX_LOC(pp_version), &dm_http_proxy_pp_bounds},
    {dm_string("proxy_protocol_tlv"), DM_PX_ANY, DM_CONF_TAKE2,
     dm_http_proxy_pp_tlv, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("proxy_http_version"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_http_proxy_version, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("proxy_connect_timeout"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_PX_LOC(connect_timeout),
     &dm_http_proxy_time_bounds},
    {dm_string("proxy_send_timeout"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_PX_LOC(send_timeout),
     &dm_http_proxy_time_bounds},
    {dm_string("proxy_read_timeout"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_PX_LOC(read_timeout),
     &dm_http_proxy_time_bounds},
    {dm_string("proxy_tunnel_timeout"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_PX_LOC(tunnel_timeout),
     &dm_http_proxy_time_bounds},
    {dm_string("proxy_next_upstream"), DM_PX_ANY, DM_CONF_1MORE,
     dm_http_proxy_next_set, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("proxy_next_upstream_tries"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_PX_LOC(next_upstream_tries),
     &dm_http_proxy_tries_bounds},
    {dm_string("proxy_next_upstream_timeout"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_PX_LOC(next_upstream_timeout),
     &dm_http_proxy_ntime_bounds},
    {dm_string("proxy_buffering"), DM_PX_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_PX_LOC(buffering), NULL},
    {dm_string("proxy_request_buffering"), DM_PX_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_PX_LOC(request_buffering), NULL},
    {dm_string("proxy_buffer_size"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_size_slot, DM_PX_LOC(buffer_size), &dm_http_proxy_buf_bounds},
    {dm_string("proxy_buffers"), DM_PX_ANY, DM_CONF_TAKE2,
     dm_http_proxy_buffers, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("proxy_x_forwarded_for"), DM_PX_ANY, DM_CONF_FLAG,
     dm_http_proxy_add_flag, DM_CONF_LEVEL_LOC, DM_HTTP_PROXY_XFF, NULL},
    {dm_string("proxy_x_forwarded_proto"), DM_PX_ANY, DM_CONF_FLAG,
     dm_http_proxy_add_flag, DM_CONF_LEVEL_LOC, DM_HTTP_PROXY_XFP, NULL},
    {dm_string("proxy_x_forwarded_host"), DM_PX_ANY, DM_CONF_FLAG,
     dm_http_proxy_add_flag, DM_CONF_LEVEL_LOC, DM_HTTP_PROXY_XFH, NULL},
    {dm_string("proxy_x_real_ip"), DM_PX_ANY, DM_CONF_FLAG,
     dm_http_proxy_add_flag, DM_CONF_LEVEL_LOC, DM_HTTP_PROXY_XREALIP, NULL},
    {dm_string("proxy_forwarded"), DM_PX_ANY, DM_CONF_FLAG,
     dm_http_proxy_add_flag, DM_CONF_LEVEL_LOC, DM_HTTP_PROXY_FORWARDED, NULL},
    {dm_string("proxy_x_request_id"), DM_PX_ANY, DM_CONF_FLAG,
     dm_http_proxy_add_flag, DM_CONF_LEVEL_LOC, DM_HTTP_PROXY_REQID, NULL},
    {dm_string("underscores_in_headers"), DM_PX_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_PX_LOC(underscores), NULL},
    {dm_string("proxy_ssl_verify"), DM_PX_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_PX_SSL(verify), NULL},
    {dm_string("proxy_ssl_trusted_certificate"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_PX_SSL(trusted_certificate), NULL},
    {dm_string("proxy_ssl_verify_depth"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_PX_SSL(verify_depth), &dm_ssl_depth_bounds},
    {dm_string("proxy_ssl_name"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_PX_SSL(name), NULL},
    {dm_string("proxy_ssl_server_name"), DM_PX_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_PX_SSL(server_name), NULL},
    {dm_string("proxy_ssl_certificate"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_PX_SSL(certificate), NULL},
    {dm_string("proxy_ssl_certificate_key"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_PX_SSL(certificate_key), NULL},
    {dm_string("proxy_ssl_protocols"), DM_PX_ANY, DM_CONF_1MORE,
     dm_ssl_set_protocols, DM_PX_SSL(protocols), NULL},
    {dm_string("proxy_ssl_ciphers"), DM_PX_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_PX_SSL(ciphers), NULL},
    {dm_string("proxy_ssl_conf_command"), DM_PX_ANY, DM_CONF_TAKE2,
     dm_conf_set_keyval_slot, DM_PX_SSL(conf_commands), NULL},
    {dm_string("proxy_ssl_session_reuse"), DM_PX_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_PX_SSL(session_reuse), NULL},
    {dm_string("keepalive"), DM_HTTP_UPS_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_PX_UPS(keepalive), &dm_http_proxy_ka_bounds},
    {dm_string("keepalive_timeout"), DM_HTTP_UPS_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_PX_UPS(keepalive_timeout),
     &dm_http_proxy_time_bounds},
    {dm_string("keepalive_requests"), DM_HTTP_UPS_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_PX_UPS(keepalive_requests),
     &dm_http_proxy_kareq_bounds},
    dm_null_command,
};

dm_module_t dm_http_proxy_module = {
    .name = "http_proxy",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_proxy_commands,
    .preconfiguration = dm_http_proxy_preconfiguration,
    .create_srv_conf = dm_http_proxy_create_srv_conf,
    .create_loc_conf = dm_http_proxy_create_loc_conf,
    .merge_loc_conf = dm_http_proxy_merge_loc_conf,
    .postconfiguration = dm_http_proxy_postconfiguration,
};

/* The forwarding fields doorman adds unless told not to. */
#define DM_HTTP_PROXY_ADD_DEFAULT                                              \
    (DM_HTTP_PROXY_XFF | DM_HTTP_PROXY_XFP | DM_HTTP_PROXY_XFH                 \
     | DM_HTTP_PROXY_XREALIP)

static void *
dm_http_proxy_create_srv_conf(dm_conf_t *cf)
{
    dm_http_proxy_ups_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->keepalive = DM_CONF_UNSET;
        conf->keepalive_timeout = DM_CONF_UNSET_MSEC;
        conf->keepalive_requests = DM_CONF_UNSET;
    }
    return conf;
}

static void *
dm_http_proxy_create_loc_conf(dm_conf_t *cf)
{
    dm_http_proxy_loc_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf == NULL) {
        return NULL;
    }
    conf->set = DM_CONF_UNSET_PTR;
    conf->hide = DM_CONF_UNSET_PTR;
    conf->pass = DM_CONF_UNSET_PTR;
    conf->http_version = DM_CONF_UNSET_UINT;
    conf->connect_timeout = DM_CONF_UNSET_MSEC;
    conf->send_timeout = DM_CONF_UNSET_MSEC;
    conf->read_timeout = DM_CONF_UNSET_MSEC;
    conf->tunnel_timeout = DM_CONF_UNSET_MSEC;
    conf->next_upstream = 0;
    conf->next_upstream_tries = DM_CONF_UNSET;
    conf->next_upstream_timeout = DM_CONF_UNSET_MSEC;
    conf->buffering = DM_CONF_UNSET;
    conf->request_buffering = DM_CONF_UNSET;
    conf->buffer_size = DM_CONF_UNSET_SIZE;
    conf->buffers = DM_CONF_UNSET_SIZE;
    conf->underscores = DM_CONF_UNSET;
    dm_ssl_client_conf_init(&conf->ssl);
    conf->pp = DM_CONF_UNSET;
    conf->pp_version = DM_CONF_UNSET_UINT;
    conf->pp_tlvs = DM_CONF_UNSET_PTR;
    return conf;
}

static char *
dm_http_proxy_merge_loc_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_proxy_loc_conf_t *prev = parent, *conf = child;

    dm_conf_merge_ptr_value(conf->set, prev->set, NULL);
    dm_conf_merge_ptr_value(conf->hide, prev->hide, NULL);
    dm_conf_merge_ptr_value(conf->pass, prev->pass, NULL);
    dm_conf_merge_uint_value(conf->http_version, prev->http_version, 11);
    dm_conf_merge_msec_value(conf->connect_timeout, prev->connect_timeout,
                             60000);
    dm_conf_merge_msec_value(conf->send_timeout, prev->send_timeout, 60000);
    dm_conf_merge_msec_value(conf->read_timeout, prev->read_timeout, 60000);
    dm_conf_merge_msec_value(conf->tunnel_timeout, prev->tunnel_timeout,
                             3600000);
    if (conf->next_upstream == 0) {
        conf->next_upstream =
            prev->next_upstream
                ? prev->next_upstream
                : (DM_HTTP_PROXY_FT_ERROR | DM_HTTP_PROXY_FT_TIMEOUT);
    }
    dm_conf_merge_value(conf->next_upstream_tries, prev->next_upstream_tries,
                        0);
    dm_conf_merge_msec_value(conf->next_upstream_timeout,
                             prev->next_upstream_timeout, 0);
    dm_conf_merge_value(conf->buffering, prev->buffering, 1);
    dm_conf_merge_value(conf->request_buffering, prev->request_buffering, 1);
    dm_conf_merge_size_value(conf->buffer_size, prev->buffer_size, 16384);
    dm_conf_merge_size_value(conf->buffers, prev->buffers, 65536);
    if (conf->buffers < conf->buffer_size) {
        conf->buffers = conf->buffer_size;
    }
    /* each switch falls back to the enclosing level's, then the default */
    conf->add = (conf->add & conf->add_set)
                | (prev->add & ~conf->add_set & prev->add_set)
                | (DM_HTTP_PROXY_ADD_DEFAULT & ~conf->add_set & ~prev->add_set);
    conf->add_set = 0x3f; /* every switch is decided from here down */
    dm_conf_merge_value(conf->underscores, prev->underscores, 0);
    dm_conf_merge_value(conf->pp, prev->pp, 0);
    dm_conf_merge_uint_value(conf->pp_version, prev->pp_version, 1);
    dm_conf_merge_ptr_value(conf->pp_tlvs, prev->pp_tlvs, NULL);
    if (conf->pp_tlvs && conf->pp_version == 1) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"proxy_protocol_tlv\" needs "
                          "\"proxy_protocol_version 2\"");
        return DM_CONF_ERROR;
    }

    /* proxy_ssl_name defaults to this location's proxy_pass host, not to
       an enclosing location's */
    if (conf->ssl.name.data == NULL && prev->host.len
        && prev->ssl.name.data == prev->host.data) {
        if (conf->host.len) {
            conf->ssl.name = conf->host;
        } else {
            dm_str_set(&conf->ssl.name, "");
        }
    }
    /* the context is built for https:// (with variables too: the scheme
       is the written one) */
    return dm_ssl_client_conf_merge(cf, &prev->ssl, &conf->ssl, conf->https,
                                    conf->host.len ? &conf->host : NULL);
}

/* proxy_protocol_tlv NAME VALUE */
static char *
dm_http_proxy_pp_tlv(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_proxy_loc_conf_t *plcf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    return dm_proxy_protocol_tlv_conf(cf, &cmcf->variables, &plcf->pp_tlvs);
}

/* proxy_pass http[s]://HOST[:PORT][/URI], HOST an upstream or an address
   (https: TLS to it, port 443 unless given). */
static char *
dm_http_proxy_pass(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_proxy_loc_conf_t *plcf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_http_core_loc_conf_t *clcf =
        dm_http_conf_get_loc(cf->ctx, dm_http_core_module);
    dm_str_t *value = cf->args->elts, url, host;
    dm_inet_addr_t addr;
    const char *err;
    u_char *slash;
    in_port_t port;
    size_t skip;

    if (plcf->upstream || plcf->target || plcf->upstream_name.len) {
        return "is duplicate";
    }
    url = value[1];
    plcf->file = cf->file->name;
    plcf->line = cf->file->dir_line;
    if (url.len > 8 && strncasecmp((char *) url.data, "https://", 8) == 0) {
        plcf->https = 1;
        skip = 8;
        port = 443;
    } else if (url.len > 7
               && strncasecmp((char *) url.data, "http://", 7) == 0) {
        skip = 7;
        port = 80;
    } else {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid URL prefix in \"%s\": it must be http:// "
                          "or https://",
                          url.data);
        return DM_CONF_ERROR;
    }
    if (memchr(url.data, '$', url.len)) {
        plcf->target = dm_palloc(cf->pool, sizeof(dm_complex_value_t));
        if (plcf->target == NULL
            || dm_complex_compile(cf, &cmcf->variables, &url, plcf->target)
                   != DM_OK) {
            return DM_CONF_ERROR;
        }
        return DM_CONF_OK;
    }
    host.data = url.data + skip;
    host.len = url.len - skip;
    slash = memchr(host.data, '/', host.len);
    if (slash) {
        plcf->uri.data = slash;
        plcf->uri.len = (size_t) (host.data + host.len - slash);
        plcf->has_uri = 1;
        host.len = (size_t) (slash - host.data);
        if (clcf->kind == DM_HTTP_LOC_REGEX || clcf->kind == DM_HTTP_LOC_IREGEX
            || clcf->kind == DM_HTTP_LOC_NAMED) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "\"proxy_pass\" cannot have URI part in a "
                              "location given by a regular expression or a "
                              "named location");
            return DM_CONF_ERROR;
        }
        plcf->loc_prefix = clcf->name;
    }
    if (host.len == 0) {
        return "has no host";
    }
    plcf->host = host;
    if (dm_inet_parse(host.data, host.len, port, &addr, &err) == DM_OK) {
        /* an address: an implicit group of one server (port 80, or 443
           for https, unless given, as nginx) */
        dm_str_t a = host;

        if (addr.no_port) {
            a.data = dm_pnalloc(cf->pool, host.len + 4);
            if (a.data == NULL) {
                return DM_CONF_ERROR;
            }
            memcpy(a.data, host.data, host.len);
            a.len = host.len;
            a.len += (size_t) snprintf((char *) a.data + a.len, 5, ":%u",
                                       (unsigned) port);
        }
        plcf->upstream = dm_upstream_conf_implicit(cf, &a);
        return plcf->upstream ? DM_CONF_OK : DM_CONF_ERROR;
    }
    plcf->upstream_name = host;
    return DM_CONF_OK;
}

static char *
dm_http_proxy_set_header(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_proxy_loc_conf_t *plcf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t *value = cf->args->elts;
    dm_http_proxy_set_t *s;
    dm_uint_t i;

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] == ':'
            || value[1].data[i] >= 0x7f) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid header name \"%s\"",
                              value[1].data);
            return DM_CONF_ERROR;
        }
    }
    if (memchr(value[2].data, '\r', value[2].len)
        || memchr(value[2].data, '\n', value[2].len)) {
        return "has a line break in its value";
    }
    if (plcf->set == DM_CONF_UNSET_PTR) {
        plcf->set = dm_array_create(cf->pool, 4, sizeof(dm_http_proxy_set_t));
        if (plcf->set == NULL) {
            return DM_CONF_ERROR;
        }
    }
    s = dm_array_push(plcf->set);
    if (s == NULL) {
        return DM_CONF_ERROR;
    }
    s->name = value[1];
    if (dm_complex_compile(cf, &cmcf->variables, &value[2], &s->value)
        != DM_OK) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* proxy_hide_header NAME, proxy_pass_header NAME: lists of names. */
static char *
dm_http_proxy_name_list(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_array_t **list = (dm_array_t **) ((u_char *) conf + cmd->offset);
    dm_str_t *value = cf->args->elts, *n;

    if (*list == DM_CONF_UNSET_PTR) {
        *list = dm_array_create(cf->pool, 4, sizeof(dm_str_t));
        if (*list == NULL) {
            return DM_CONF_ERROR;
        }
    }
    n = dm_array_push(*list);
    if (n == NULL) {
        return DM_CONF_ERROR;
    }
    *n = value[1];
    return DM_CONF_OK;
}

static char *
dm_http_proxy_version(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_proxy_loc_conf_t *plcf = conf;
    dm_str_t *value = cf->args->elts;

    if (plcf->http_version != DM_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    if (dm_str_eq(&value[1], "1.1")) {
        plcf->http_version = 11;
    } else if (dm_str_eq(&value[1], "1.0")) {
        plcf->http_version = 10;
    } else {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid value \"%s\", it must be 1.0 or 1.1",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

static char *
dm_http_proxy_next_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    static const struct {
        const char *name;
        dm_uint_t mask;
    } words[] = {
        {"error", DM_HTTP_PROXY_FT_ERROR},
        {"timeout", DM_HTTP_PROXY_FT_TIMEOUT},
        {"invalid_header", DM_HTTP_PROXY_FT_INVALID_HEADER},
        {"http_500", DM_HTTP_PROXY_FT_500},
        {"http_502", DM_HTTP_PROXY_FT_502},
        {"http_503", DM_HTTP_PROXY_FT_503},
        {"http_504", DM_HTTP_PROXY_FT_504},
        {"http_429", DM_HTTP_PROXY_FT_429},
        {"non_idempotent", DM_HTTP_PROXY_FT_NON_IDEMPOTENT},
        {"off", DM_HTTP_PROXY_FT_OFF},
    };
    dm_http_proxy_loc_conf_t *plcf = conf;
    dm_str_t *value = cf->args->elts;
    dm_uint_t i, k, mask = 0;

    if (plcf->next_upstream) {
        return "is duplicate";
    }
    for (i = 1; i < cf->args->nelts; i++) {
        for (k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
            if (dm_str_eq(&value[i], words[k].name)) {
                break;
            }
        }
        if (k == sizeof(words) / sizeof(words[0])) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid value \"%s\"",
                              value[i].data);
            return DM_CONF_ERROR;
        }
        mask |= words[k].mask;
    }
    if ((mask & DM_HTTP_PROXY_FT_OFF) && mask != DM_HTTP_PROXY_FT_OFF) {
        return "takes \"off\" alone";
    }
    plcf->next_upstream = mask;
    return DM_CONF_OK;
}

static char *
dm_http_proxy_buffers(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_proxy_loc_conf_t *plcf = conf;
    dm_str_t *value = cf->args->elts;
    int64_t n, size;

    if (plcf->buffers != DM_CONF_UNSET_SIZE) {
        return "is duplicate";
    }
    n = dm_parse_int(value[1].data, value[1].len);
    size = dm_parse_size(value[2].data, value[2].len);
    if (n < 1 || n > 1024 || size < 1024 || size > (1 << 20)
        || n * size > (16 << 20)) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid value in \"proxy_buffers %s %s\", it must "
                          "be 1-1024 buffers of 1k to 1m, at most 16m in all",
                          value[1].data, value[2].data);
        return DM_CONF_ERROR;
    }
    plcf->buffers = (size_t) (n * size);
    return DM_CONF_OK;
}

/* proxy_x_forwarded_for on|off ...: one bit of `add` (cmd->offset). */
static char *
dm_http_proxy_add_flag(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_proxy_loc_conf_t *plcf = conf;
    dm_str_t *value = cf->args->elts;
    dm_uint_t bit = (dm_uint_t) cmd->offset;

    if (plcf->add_set & bit) {
        return "is duplicate";
    }
    if (dm_str_eq(&value[1], "on")) {
        plcf->add |= bit;
    } else if (dm_str_eq(&value[1], "off")) {
        plcf->add &= ~bit;
    } else {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid value \"%s\", it must be \"on\" or \"off\"",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    plcf->add_set |= bit;
    return DM_CONF_OK;
}

static dm_int_t
dm_http_proxy_preconfiguration(dm_conf_t *cf)
{
    return dm_http_proxy_variables_add(cf);
}

/* proxy_pass http://NAME: NAME must be an upstream of the block. */
static dm_int_t
dm_http_proxy_resolve(dm_conf_t *cf, dm_upstream_main_conf_t *umcf,
                      dm_array_t *locations)
{
    dm_http_core_loc_conf_t **l;
    dm_http_proxy_loc_conf_t *plcf;
    dm_uint_t i;

    if (locations == NULL) {
        return DM_OK;
    }
    l = locations->elts;
    for (i = 0; i < locations->nelts; i++) {
        plcf = l[i]->loc_conf[dm_http_proxy_module.ctx_index];
        if (plcf->upstream_name.len) {
            plcf->upstream = dm_upstream_conf_find(umcf, &plcf->upstream_name);
            if (plcf->upstream == NULL) {
                dm_log_error(DM_LOG_EMERG, cf->log, 0,
                             "no upstream \"%.*s\" (and not an address) in "
                             "%.*s:%lu",
                             DM_STR_ARG(plcf->upstream_name),
                             DM_STR_ARG(plcf->file),
                             (unsigned long) plcf->line);
                return DM_ERROR;
            }
        }
        if (dm_http_proxy_resolve(cf, umcf, l[i]->locations) != DM_OK) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

/* CONTENT: a location with proxy_pass sends the request upstream. */
static dm_int_t
dm_http_proxy_handler(void *obj)
{
    dm_http_request_t *r = obj;
    dm_http_proxy_loc_conf_t *plcf =
        dm_http_request_loc_conf(r, dm_http_proxy_module);
    dm_http_proxy_ctx_t *ctx;

    if (plcf->upstream == NULL && plcf->target == NULL) {
        return DM_DECLINED;
    }
    ctx = dm_pcalloc(r->pool, sizeof(dm_http_proxy_ctx_t));
    if (ctx == NULL) {
        return DM_ERROR;
    }
    ctx->request = r;
    ctx->conf = plcf;
    r->ctx[dm_http_proxy_module.ctx_index] = ctx;
    dm_http_proxy_start(ctx);
    return DM_DONE;
}

static dm_int_t
dm_http_proxy_postconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_upstream_main_conf_t *umcf =
        dm_http_conf_get_main(cf->ctx, dm_http_upstream_module);
    dm_http_core_srv_conf_t **servers = cmcf->servers.elts;
    dm_uint_t i;

    for (i = 0; i < cmcf->servers.nelts; i++) {
        if (dm_http_proxy_resolve(cf, umcf, &servers[i]->locations) != DM_OK) {
            return DM_ERROR;
        }
    }
    return dm_phase_add(&cmcf->phases, DM_HTTP_CONTENT_PHASE,
                        dm_http_proxy_handler);
}
