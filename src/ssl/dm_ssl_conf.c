/*
 * doorman: the server-side TLS directives of both engines: defaults,
 * inheritance and the checks nginx users expect.
 */
#include <dm_core.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>

const dm_conf_bounds_t dm_ssl_time_bounds = {1, 7LL * 86400000};
const dm_conf_bounds_t dm_ssl_depth_bounds = {0, 100};

#define DM_SSL_CONF                                                            \
    (DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF | DM_HTTP_MAIN_CONF              \
     | DM_HTTP_SRV_CONF)
#define DM_SSL_SRV(f) DM_CONF_LEVEL_SRV, offsetof(dm_ssl_srv_conf_t, f)

const dm_conf_enum_t dm_ssl_verify_modes[] = {
    {dm_string("off"), DM_SSL_VERIFY_OFF},
    {dm_string("on"), DM_SSL_VERIFY_ON},
    {dm_string("optional"), DM_SSL_VERIFY_OPTIONAL},
    {dm_string("optional_no_ca"), DM_SSL_VERIFY_OPTIONAL_NO_CA},
    {dm_null_string, 0},
};

const dm_command_t dm_ssl_srv_commands[] = {
    {dm_string("ssl_certificate"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_str_array_slot, DM_SSL_SRV(certificates), NULL},
    {dm_string("ssl_certificate_key"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_str_array_slot, DM_SSL_SRV(certificate_keys), NULL},
    {dm_string("ssl_protocols"), DM_SSL_CONF, DM_CONF_1MORE,
     dm_ssl_set_protocols, DM_SSL_SRV(protocols), NULL},
    {dm_string("ssl_ciphers"), DM_SSL_CONF, DM_CONF_TAKE1, dm_conf_set_str_slot,
     DM_SSL_SRV(ciphers), NULL},
    {dm_string("ssl_conf_command"), DM_SSL_CONF, DM_CONF_TAKE2,
     dm_conf_set_keyval_slot, DM_SSL_SRV(conf_commands), NULL},
    {dm_string("ssl_prefer_server_ciphers"), DM_SSL_CONF, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_SSL_SRV(prefer_server_ciphers), NULL},
    {dm_string("ssl_handshake_timeout"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_SSL_SRV(handshake_timeout), &dm_ssl_time_bounds},
    {dm_string("ssl_session_cache"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_ssl_set_session_cache, DM_SSL_SRV(session_cache), NULL},
    {dm_string("ssl_session_tickets"), DM_SSL_CONF, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_SSL_SRV(session_tickets), NULL},
    {dm_string("ssl_session_ticket_key"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_str_array_slot, DM_SSL_SRV(ticket_key_files), NULL},
    {dm_string("ssl_session_timeout"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_SSL_SRV(session_timeout), &dm_ssl_time_bounds},
    {dm_string("ssl_client_certificate"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_SSL_SRV(client_certificate), NULL},
    {dm_string("ssl_verify_client"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_enum_slot, DM_SSL_SRV(verify), dm_ssl_verify_modes},
    {dm_string("ssl_verify_depth"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_SSL_SRV(verify_depth), &dm_ssl_depth_bounds},
    {dm_string("ssl_stapling"), DM_SSL_CONF, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_SSL_SRV(stapling), NULL},
    {dm_string("ssl_stapling_file"), DM_SSL_CONF, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_SSL_SRV(stapling_file), NULL},
    dm_null_command,
};

char *
dm_ssl_set_protocols(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    static const dm_conf_enum_t names[] = {
        {dm_string("TLSv1"), DM_SSL_TLSv1},
        {dm_string("TLSv1.1"), DM_SSL_TLSv1_1},
        {dm_string("TLSv1.2"), DM_SSL_TLSv1_2},
        {dm_string("TLSv1.3"), DM_SSL_TLSv1_3},
        {dm_null_string, 0},
    };
    dm_uint_t *bits = (dm_uint_t *) ((u_char *) conf + cmd->offset);
    dm_str_t *value = cf->args->elts;
    const dm_conf_enum_t *e;
    dm_uint_t i;

    if (*bits != DM_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    *bits = 0;
    for (i = 1; i < cf->args->nelts; i++) {
        for (e = names; e->name.len; e++) {
            if (dm_str_eq(&value[i], (const char *) e->name.data)) {
                break;
            }
        }
        if (e->name.len == 0) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "invalid value \"%s\" in \"%s\": SSLv2 and "
                              "SSLv3 are not supported; use TLSv1, TLSv1.1, "
                              "TLSv1.2 or TLSv1.3",
                              value[i].data, value[0].data);
            return DM_CONF_ERROR;
        }
        *bits |= e->value;
    }
    return DM_CONF_OK;
}

dm_ssl_srv_conf_t *
dm_ssl_srv_conf_create(dm_conf_t *cf)
{
    dm_ssl_srv_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf == NULL) {
        return NULL;
    }
    conf->certificates = DM_CONF_UNSET_PTR;
    conf->certificate_keys = DM_CONF_UNSET_PTR;
    conf->protocols = DM_CONF_UNSET_UINT;
    conf->conf_commands = DM_CONF_UNSET_PTR;
    conf->prefer_server_ciphers = DM_CONF_UNSET;
    conf->handshake_timeout = DM_CONF_UNSET_MSEC;
    conf->session_cache = DM_CONF_UNSET;
    conf->session_tickets = DM_CONF_UNSET;
    conf->ticket_key_files = DM_CONF_UNSET_PTR;
    conf->session_timeout = DM_CONF_UNSET_MSEC;
    conf->verify = DM_CONF_UNSET_UINT;
    conf->verify_depth = DM_CONF_UNSET;
    conf->stapling = DM_CONF_UNSET;
    return conf;
}

char *
dm_ssl_srv_conf_merge(dm_conf_t *cf, dm_ssl_srv_conf_t *prev,
                      dm_ssl_srv_conf_t *conf, const dm_ssl_alpn_t *alpn)
{
    dm_uint_t ncert, nkey;

    dm_conf_merge_ptr_value(conf->certificates, prev->certificates, NULL);
    dm_conf_merge_ptr_value(conf->certificate_keys, prev->certificate_keys,
                            NULL);
    dm_conf_merge_uint_value(conf->protocols, prev->protocols,
                             DM_SSL_DEFAULT_PROTOCOLS);
    dm_conf_merge_str_value(conf->ciphers, prev->ciphers,
                            DM_SSL_DEFAULT_CIPHERS);
    dm_conf_merge_ptr_value(conf->conf_commands, prev->conf_commands, NULL);
    dm_conf_merge_value(conf->prefer_server_ciphers,
                        prev->prefer_server_ciphers, 0);
    dm_conf_merge_msec_value(conf->handshake_timeout, prev->handshake_timeout,
                             60000);
    if (conf->session_cache == DM_CONF_UNSET) {
        conf->session_cache = prev->session_cache == DM_CONF_UNSET
                                  ? DM_SSL_CACHE_NONE
                                  : prev->session_cache;
        conf->cache_zone = prev->cache_zone;
    }
    dm_conf_merge_value(conf->session_tickets, prev->session_tickets, 1);
    dm_conf_merge_ptr_value(conf->ticket_key_files, prev->ticket_key_files,
                            NULL);
    dm_conf_merge_msec_value(conf->session_timeout, prev->session_timeout,
                             300000);
    dm_conf_merge_str_value(conf->client_certificate, prev->client_certificate,
                            "");
    dm_conf_merge_uint_value(conf->verify, prev->verify, DM_SSL_VERIFY_OFF);
    dm_conf_merge_value(conf->verify_depth, prev->verify_depth, 1);
    dm_conf_merge_value(conf->stapling, prev->stapling, 0);
    dm_conf_merge_str_value(conf->stapling_file, prev->stapling_file, "");

    ncert = conf->certificates ? conf->certificates->nelts : 0;
    nkey = conf->certificate_keys ? conf->certificate_keys->nelts : 0;
    if (ncert != nkey) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "%s: every \"ssl_certificate\" needs its "
                          "\"ssl_certificate_key\" (%lu certificates, %lu "
                          "keys)",
                          ncert > nkey ? "no \"ssl_certificate_key\""
                                       : "no \"ssl_certificate\"",
                          (unsigned long) ncert, (unsigned long) nkey);
        return DM_CONF_ERROR;
    }
    if (ncert == 0) {
        /* no TLS here; a listen ... ssl without a pair is refused when
           the listeners are built */
        return DM_CONF_OK;
    }
    return dm_ssl_ctx_build(cf, conf, alpn) == DM_OK ? DM_CONF_OK
                                                     : DM_CONF_ERROR;
}
