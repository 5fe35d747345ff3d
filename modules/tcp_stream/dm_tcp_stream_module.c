/*
 * doorman: the tcp_stream module: the L4 proxy.
 *
 *   proxy_pass NAME | ADDRESS | $variable;     (stream server)
 *   proxy_connect_timeout TIME;  proxy_timeout TIME;  proxy_buffer_size SIZE;
 *   proxy_next_upstream on|off;  proxy_next_upstream_tries N;
 *   proxy_next_upstream_timeout TIME;  proxy_bind ADDRESS [transparent] | off;
 *   proxy_splice on|off;
 *   proxy_ssl on|off;  proxy_ssl_verify on|off;
 *   proxy_ssl_trusted_certificate FILE;  proxy_ssl_verify_depth N;
 *   proxy_ssl_name NAME;  proxy_ssl_server_name on|off;
 *   proxy_ssl_certificate FILE;  proxy_ssl_certificate_key FILE;
 *   proxy_ssl_protocols PROTOCOL...;  proxy_ssl_ciphers CIPHERS;
 *   proxy_ssl_conf_command NAME VALUE;  proxy_ssl_session_reuse on|off;
 *
 * The payload is never parsed. A connect that fails or times out goes to
 * the next peer (within the tries and the time allowed); with proxy_ssl
 * on, so does a TLS handshake or certificate that fails (the connect and
 * the handshake share proxy_connect_timeout). Once connected, bytes are
 * relayed both ways (dm_tcp_stream_relay.c).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_proxy_protocol.h>
#include <dm_tcp_stream.h>

static void *dm_tcp_stream_create_srv_conf(dm_conf_t *cf);
static char *dm_tcp_stream_merge_srv_conf(dm_conf_t *cf, void *parent,
                                          void *child);
static char *dm_tcp_stream_pass(dm_conf_t *cf, const dm_command_t *cmd,
                                void *conf);
static char *dm_tcp_stream_bind(dm_conf_t *cf, const dm_command_t *cmd,
                                void *conf);
static char *dm_tcp_stream_pp_tlv(dm_conf_t *cf, const dm_command_t *cmd,
                                  void *conf);
static dm_int_t dm_tcp_stream_postconfiguration(dm_conf_t *cf);
static dm_int_t dm_tcp_stream_init_process(dm_cycle_t *cycle);
static void dm_tcp_stream_exit_process(dm_cycle_t *cycle);
static dm_int_t dm_tcp_stream_handler(dm_stream_session_t *s);
static void dm_tcp_stream_connect(dm_tcp_stream_ctx_t *ctx);
static void dm_tcp_stream_connected(dm_event_t *wev);
static void dm_tcp_stream_cleanup(dm_stream_session_t *s);

static const dm_conf_bounds_t dm_tcp_stream_time_bounds = {1, 7LL * 86400000};
static const dm_conf_bounds_t dm_tcp_stream_buf_bounds = {512, 16 << 20};
static const dm_conf_bounds_t dm_tcp_stream_tries_bounds = {0, 1000};
static const dm_conf_bounds_t dm_tcp_stream_count_bounds = {0, 1000000000};
static const dm_conf_bounds_t dm_tcp_stream_ntime_bounds = {0, 7LL * 86400000};
static const dm_conf_bounds_t dm_tcp_stream_pp_bounds = {1, 2};

#define DM_TCP_SRV(f) DM_CONF_LEVEL_SRV, offsetof(dm_tcp_stream_srv_conf_t, f)
#define DM_TCP_SSL(f)                                                          \
    DM_SSL_CLI(DM_CONF_LEVEL_SRV, offsetof(dm_tcp_stream_srv_conf_t, ssl), f)
#define DM_TCP_ANY (DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF)

static const dm_command_t dm_tcp_stream_commands[] = {
    {dm_string("proxy_pass"), DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_tcp_stream_pass, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("proxy_connect_timeout"),
     DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_TCP_SRV(connect_timeout),
     &dm_tcp_stream_time_bounds},
    {dm_string("proxy_timeout"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_msec_slot, DM_TCP_SRV(timeout),
     &dm_tcp_stream_time_bounds},
    {dm_string("proxy_buffer_size"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_size_slot, DM_TCP_SRV(buffer_size),
     &dm_tcp_stream_buf_bounds},
    {dm_string("proxy_next_upstream"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_FLAG, dm_conf_set_flag_slot, DM_TCP_SRV(next_upstream), NULL},
    {dm_string("proxy_next_upstream_tries"),
     DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_TCP_SRV(next_upstream_tries),
     &dm_tcp_stream_tries_bounds},
    {dm_string("proxy_next_upstream_timeout"),
     DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_TCP_SRV(next_upstream_timeout),
     &dm_tcp_stream_ntime_bounds},
    {dm_string("proxy_bind"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE12, dm_tcp_stream_bind, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("proxy_requests"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_num_slot, DM_TCP_SRV(requests),
     &dm_tcp_stream_count_bounds},
    {dm_string("proxy_responses"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_num_slot, DM_TCP_SRV(responses),
     &dm_tcp_stream_count_bounds},
    {dm_string("proxy_splice"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_FLAG, dm_conf_set_flag_slot, DM_TCP_SRV(splice), NULL},
    {dm_string("proxy_protocol"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_FLAG, dm_conf_set_flag_slot, DM_TCP_SRV(pp), NULL},
    {dm_string("proxy_protocol_version"),
     DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_TCP_SRV(pp_version), &dm_tcp_stream_pp_bounds},
    {dm_string("proxy_protocol_tlv"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE2, dm_tcp_stream_pp_tlv, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("proxy_ssl"), DM_TCP_ANY, DM_CONF_FLAG, dm_conf_set_flag_slot,
     DM_TCP_SSL(enable), NULL},
    {dm_string("proxy_ssl_verify"), DM_TCP_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_TCP_SSL(verify), NULL},
    {dm_string("proxy_ssl_trusted_certificate"), DM_TCP_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_TCP_SSL(trusted_certificate), NULL},
    {dm_string("proxy_ssl_verify_depth"), DM_TCP_ANY, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_TCP_SSL(verify_depth), &dm_ssl_depth_bounds},
    {dm_string("proxy_ssl_name"), DM_TCP_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_TCP_SSL(name), NULL},
    {dm_string("proxy_ssl_server_name"), DM_TCP_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_TCP_SSL(server_name), NULL},
    {dm_string("proxy_ssl_certificate"), DM_TCP_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_TCP_SSL(certificate), NULL},
    {dm_string("proxy_ssl_certificate_key"), DM_TCP_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_TCP_SSL(certificate_key), NULL},
    {dm_string("proxy_ssl_protocols"), DM_TCP_ANY, DM_CONF_1MORE,
     dm_ssl_set_protocols, DM_TCP_SSL(protocols), NULL},
    {dm_string("proxy_ssl_ciphers"), DM_TCP_ANY, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_TCP_SSL(ciphers), NULL},
    {dm_string("proxy_ssl_conf_command"), DM_TCP_ANY, DM_CONF_TAKE2,
     dm_conf_set_keyval_slot, DM_TCP_SSL(conf_commands), NULL},
    {dm_string("proxy_ssl_session_reuse"), DM_TCP_ANY, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_TCP_SSL(session_reuse), NULL},
    dm_null_command,
};

dm_module_t dm_tcp_stream_module = {
    .name = "tcp_stream",
    .type = DM_MODULE_STREAM,
    .commands = dm_tcp_stream_commands,
    .create_srv_conf = dm_tcp_stream_create_srv_conf,
    .merge_srv_conf = dm_tcp_stream_merge_srv_conf,
    .postconfiguration = dm_tcp_stream_postconfiguration,
    .init_process = dm_tcp_stream_init_process,
    .exit_process = dm_tcp_stream_exit_process,
};

static void *
dm_tcp_stream_create_srv_conf(dm_conf_t *cf)
{
    dm_tcp_stream_srv_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(dm_tcp_stream_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }
    conf->connect_timeout = DM_CONF_UNSET_MSEC;
    conf->timeout = DM_CONF_UNSET_MSEC;
    conf->buffer_size = DM_CONF_UNSET_SIZE;
    conf->next_upstream = DM_CONF_UNSET;
    conf->next_upstream_tries = DM_CONF_UNSET;
    conf->next_upstream_timeout = DM_CONF_UNSET_MSEC;
    conf->bind = DM_CONF_UNSET_PTR;
    conf->transparent = DM_CONF_UNSET;
    conf->splice = DM_CONF_UNSET;
    conf->requests = DM_CONF_UNSET;
    conf->responses = DM_CONF_UNSET;
    conf->pp = DM_CONF_UNSET;
    conf->pp_version = DM_CONF_UNSET_UINT;
    conf->pp_tlvs = DM_CONF_UNSET_PTR;
    dm_ssl_client_conf_init(&conf->ssl);
    return conf;
}

static char *
dm_tcp_stream_merge_srv_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_tcp_stream_srv_conf_t *prev = parent, *conf = child;

    dm_conf_merge_msec_value(conf->connect_timeout, prev->connect_timeout,
                             60000);
    dm_conf_merge_msec_value(conf->timeout, prev->timeout, 600000);
    dm_conf_merge_size_value(conf->buffer_size, prev->buffer_size, 16384);
    dm_conf_merge_value(conf->next_upstream, prev->next_upstream, 1);
    dm_conf_merge_value(conf->next_upstream_tries, prev->next_upstream_tries,
                        0);
    dm_conf_merge_msec_value(conf->next_upstream_timeout,
                             prev->next_upstream_timeout, 0);
    dm_conf_merge_ptr_value(conf->bind, prev->bind, NULL);
    dm_conf_merge_value(conf->transparent, prev->transparent, 0);
    dm_conf_merge_value(conf->splice, prev->splice, 0);
    dm_conf_merge_value(conf->requests, prev->requests, 0);
    dm_conf_merge_value(conf->responses, prev->responses, DM_CONF_UNSET);
    dm_conf_merge_value(conf->pp, prev->pp, 0);
    /* unset: 1 for TCP, 2 for UDP (v1 cannot say UDP): see postconf */
    dm_conf_merge_uint_value(conf->pp_version, prev->pp_version,
                             DM_CONF_UNSET_UINT);
    dm_conf_merge_ptr_value(conf->pp_tlvs, prev->pp_tlvs, NULL);
    /* proxy_ssl_name defaults to the proxy_pass name or address */
    return dm_ssl_client_conf_merge(cf, &prev->ssl, &conf->ssl, 0,
                                    conf->host.len ? &conf->host : NULL);
}

static char *
dm_tcp_stream_pass(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_tcp_stream_srv_conf_t *pcf = conf;
    dm_stream_core_srv_conf_t *cscf =
        dm_stream_conf_get_srv(cf->ctx, dm_stream_core_module);
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);
    dm_str_t *value = cf->args->elts;
    dm_inet_addr_t addr;
    const char *err;

    if (cscf->handler) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"proxy_pass\" conflicts with \"%s\" in the same "
                          "server",
                          cscf->handler_name);
        return DM_CONF_ERROR;
    }
    cscf->handler = dm_tcp_stream_handler;
    cscf->handler_name = "proxy_pass";
    pcf->file = cf->file->name;
    pcf->line = cf->file->dir_line;

    if (memchr(value[1].data, '$', value[1].len)) {
        pcf->target = dm_palloc(cf->pool, sizeof(dm_complex_value_t));
        if (pcf->target == NULL
            || dm_complex_compile(cf, &cmcf->variables, &value[1], pcf->target)
                   != DM_OK) {
            return DM_CONF_ERROR;
        }
        return DM_CONF_OK;
    }
    /* an address makes an implicit group; a name is resolved after the
       block, since the upstream may come later in the file */
    pcf->host = value[1];
    if (dm_inet_parse(value[1].data, value[1].len, 0, &addr, &err) == DM_OK) {
        pcf->upstream = dm_upstream_conf_implicit(cf, &value[1]);
        return pcf->upstream ? DM_CONF_OK : DM_CONF_ERROR;
    }
    pcf->upstream_name = value[1];
    return DM_CONF_OK;
}

static char *
dm_tcp_stream_bind(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_tcp_stream_srv_conf_t *pcf = conf;
    dm_str_t *value = cf->args->elts;
    const char *err;

    if (pcf->bind != DM_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    if (dm_str_eq(&value[1], "off")) {
        pcf->bind = NULL;
        return DM_CONF_OK;
    }
    pcf->bind = dm_palloc(cf->pool, sizeof(dm_inet_addr_t));
    if (pcf->bind == NULL) {
        return DM_CONF_ERROR;
    }
    /* a port of 0 lets the kernel choose (with IP_BIND_ADDRESS_NO_PORT) */
    if (dm_inet_parse(value[1].data, value[1].len, 0, pcf->bind, &err) != DM_OK
        && (memchr(value[1].data, ':', value[1].len)
            || dm_inet_parse(value[1].data, value[1].len, 1, pcf->bind, &err)
                   != DM_OK)) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "%s in \"proxy_bind\" \"%s\"",
                          err, value[1].data);
        return DM_CONF_ERROR;
    }
    if (pcf->bind->no_port) {
        ((struct sockaddr_in *) &pcf->bind->sa)->sin_port = 0;
    }
    if (cf->args->nelts == 3) {
        if (!dm_str_eq(&value[2], "transparent")) {
            return "takes \"transparent\" only after the address";
        }
        pcf->transparent = 1;
    }
    return DM_CONF_OK;
}

/* After the block: proxy_pass NAME must name an upstream of the block. */
/* proxy_protocol_tlv NAME VALUE */
static char *
dm_tcp_stream_pp_tlv(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_tcp_stream_srv_conf_t *pcf = conf;
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_proxy_protocol_tlv_conf(cf, &cmcf->variables, &pcf->pp_tlvs);
}

/*
 * The PROXY version of each server by its listeners: v1 cannot describe
 * UDP, so a UDP listener with proxy_protocol_version 1 is refused, and an
 * unset version is 2 there, 1 elsewhere (as nginx, which sends v1).
 */
static dm_int_t
dm_tcp_stream_pp_versions(dm_conf_t *cf, dm_stream_core_main_conf_t *cmcf)
{
    dm_stream_listen_t *l = cmcf->listen.elts;
    dm_tcp_stream_srv_conf_t *pcf;
    dm_uint_t i;

    for (i = 0; i < cmcf->listen.nelts; i++) {
        pcf = l[i].server->ctx->srv_conf[dm_tcp_stream_module.ctx_index];
        if (!l[i].udp) {
            continue;
        }
        if (pcf->pp && pcf->pp_version == 1) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "\"proxy_protocol_version 1\" cannot describe "
                         "UDP: the server of the udp listen in %.*s:%lu "
                         "needs \"proxy_protocol_version 2\"",
                         DM_STR_ARG(l[i].file), (unsigned long) l[i].line);
            return DM_ERROR;
        }
        if (pcf->pp_version == DM_CONF_UNSET_UINT) {
            pcf->pp_version = 2;
        }
    }
    for (i = 0; i < cmcf->servers.nelts; i++) {
        dm_stream_core_srv_conf_t **s = cmcf->servers.elts;

        pcf = s[i]->ctx->srv_conf[dm_tcp_stream_module.ctx_index];
        if (pcf->pp_version == DM_CONF_UNSET_UINT) {
            pcf->pp_version = 1;
        }
        if (pcf->pp_tlvs && pcf->pp_version == 1) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "\"proxy_protocol_tlv\" needs "
                         "\"proxy_protocol_version 2\" in the server of "
                         "%.*s:%lu",
                         DM_STR_ARG(s[i]->file), (unsigned long) s[i]->line);
            return DM_ERROR;
        }
    }
    return DM_OK;
}

static dm_int_t
dm_tcp_stream_postconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);
    dm_upstream_main_conf_t *umcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_upstream_module);
    dm_stream_core_srv_conf_t **servers = cmcf->servers.elts;
    dm_tcp_stream_srv_conf_t *pcf;
    dm_uint_t i;

    for (i = 0; i < cmcf->servers.nelts; i++) {
        pcf = dm_stream_conf_get_srv(servers[i]->ctx, dm_tcp_stream_module);
        if (pcf->upstream_name.len == 0) {
            continue;
        }
        pcf->upstream = dm_upstream_conf_find(umcf, &pcf->upstream_name);
        if (pcf->upstream == NULL) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "no upstream \"%.*s\" (and not an address) in "
                         "%.*s:%lu",
                         DM_STR_ARG(pcf->upstream_name), DM_STR_ARG(pcf->file),
                         (unsigned long) pcf->line);
            return DM_ERROR;
        }
    }
    return dm_tcp_stream_pp_versions(cf, cmcf);
}

static dm_int_t
dm_tcp_stream_init_process(dm_cycle_t *cycle)
{
    dm_event_core_conf_t *ecf = dm_event_get_conf(cycle, &dm_event_core_module);

    /* at most a quarter of the connections splice (two pipes each) */
    dm_tcp_stream_pipes_init((dm_uint_t) ecf->connections / 2);
    return DM_OK;
}

static void
dm_tcp_stream_exit_process(dm_cycle_t *cycle)
{
    dm_tcp_stream_pipes_done();
}

/* proxy_pass $var: an upstream's name, or an address (no DNS here). */
static dm_int_t
dm_tcp_stream_target(dm_tcp_stream_ctx_t *ctx, dm_tcp_stream_srv_conf_t *pcf)
{
    dm_stream_session_t *s = ctx->session;
    dm_upstream_main_conf_t *umcf =
        dm_stream_session_main_conf(s, dm_stream_upstream_module);
    dm_upstream_srv_conf_t *uscf;
    dm_inet_addr_t addr;
    const char *err;
    dm_str_t v;

    if (dm_complex_eval(&s->vars, pcf->target, &v) != DM_OK) {
        return DM_ERROR;
    }
    ctx->host = v;
    uscf = dm_upstream_conf_find(umcf, &v);
    if (uscf) {
        ctx->group = uscf->group;
        return DM_OK;
    }
    if (v.len == 0 || dm_inet_parse(v.data, v.len, 0, &addr, &err) != DM_OK) {
        dm_log_error(DM_LOG_ERR, s->connection->log, 0,
                     "proxy_pass target \"%.*s\" is neither an upstream nor "
                     "an address",
                     DM_STR_ARG(v));
        return DM_ERROR;
    }
    ctx->addr = dm_palloc(s->connection->pool, addr.socklen);
    if (ctx->addr == NULL) {
        return DM_ERROR;
    }
    memcpy(ctx->addr, &addr.sa, addr.socklen);
    ctx->addrlen = addr.socklen;
    ctx->addr_text = v;
    return DM_OK;
}

static dm_int_t
dm_tcp_stream_handler(dm_stream_session_t *s)
{
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(s, dm_tcp_stream_module);
    dm_connection_t *c = s->connection;
    dm_tcp_stream_ctx_t *ctx;

    ctx = dm_pcalloc(c->pool, sizeof(dm_tcp_stream_ctx_t));
    if (ctx == NULL) {
        return DM_ERROR;
    }
    ctx->session = s;
    ctx->start = dm_current_msec;
    ctx->down.pipe[0] = ctx->down.pipe[1] = -1;
    ctx->up.pipe[0] = ctx->up.pipe[1] = -1;
    s->ctx[dm_tcp_stream_module.ctx_index] = ctx;
    s->cleanup = dm_tcp_stream_cleanup;
    c->log->action = "connecting to upstream";

    if (pcf->target) {
        if (dm_tcp_stream_target(ctx, pcf) != DM_OK) {
            dm_stream_session_finalize(s, DM_STREAM_INTERNAL_ERROR);
            return DM_DONE;
        }
    } else {
        ctx->group = pcf->upstream->group;
    }
    if (ctx->group) {
        dm_upstream_pick_init(&ctx->pick, ctx->group, &s->vars, c->log);
    }
    /* the client's data waits in its socket until the upstream is up */
    c->read->handler = dm_event_empty_handler;
    dm_tcp_stream_connect(ctx);
    return DM_DONE;
}

/* Adds an attempt to $upstream_addr ("a, b" after a retry, as nginx). */
static void
dm_tcp_stream_record(dm_stream_session_t *s, const dm_str_t *addr)
{
    dm_str_t *ua = &s->upstream_addr;
    u_char *p;

    p = dm_pnalloc(s->connection->pool, ua->len + 2 + addr->len);
    if (p == NULL) {
        return;
    }
    if (ua->len) {
        memcpy(p, ua->data, ua->len);
        memcpy(p + ua->len, ", ", 2);
        memcpy(p + ua->len + 2, addr->data, addr->len);
        ua->len += 2 + addr->len;
    } else {
        memcpy(p, addr->data, addr->len);
        ua->len = addr->len;
    }
    ua->data = p;
}

/* The attempt failed: the next peer, if allowed, else 502. */
static void
dm_tcp_stream_next(dm_tcp_stream_ctx_t *ctx, int peer_fault)
{
    dm_stream_session_t *s = ctx->session;
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(s, dm_tcp_stream_module);

    if (ctx->upstream) {
        dm_connection_close(ctx->upstream);
        ctx->upstream = NULL;
    }
    if (ctx->group && peer_fault) {
        dm_upstream_failed(&ctx->pick);
    }
    if (ctx->group && pcf->next_upstream
        && (pcf->next_upstream_tries == 0
            || ctx->pick.tries < (dm_uint_t) pcf->next_upstream_tries)
        && (pcf->next_upstream_timeout == 0
            || dm_current_msec - ctx->start < pcf->next_upstream_timeout)) {
        dm_tcp_stream_connect(ctx);
        return;
    }
    dm_stream_session_finalize(s, DM_STREAM_BAD_GATEWAY);
}

static void
dm_tcp_stream_connect(dm_tcp_stream_ctx_t *ctx)
{
    dm_stream_session_t *s = ctx->session;
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(s, dm_tcp_stream_module);
    dm_connection_t *c = s->connection;
    dm_upstream_peer_t *peer = NULL;
    dm_event_peer_t pc;
    dm_int_t rc;

    memset(&pc, 0, sizeof(pc));
    if (ctx->group) {
        peer = dm_upstream_select(&ctx->pick);
        if (peer == NULL) {
            dm_log_error(DM_LOG_ERR, c->log, 0,
                         "no live upstreams in \"%.*s\" after %lu tries",
                         DM_STR_ARG(ctx->group->name),
                         (unsigned long) ctx->pick.tries);
            dm_stream_session_finalize(s, DM_STREAM_BAD_GATEWAY);
            return;
        }
        pc.sockaddr = peer->sockaddr;
        pc.socklen = peer->socklen;
        pc.name = &peer->addr_text;
    } else {
        pc.sockaddr = ctx->addr;
        pc.socklen = ctx->addrlen;
        pc.name = &ctx->addr_text;
    }
    dm_tcp_stream_record(s, pc.name);
    pc.type = c->type; /* TCP to TCP, UDP to UDP */
    pc.log = c->log;
    if (pcf->bind && pcf->bind->sa.ss_family == pc.sockaddr->sa_family) {
        pc.local = (struct sockaddr *) &pcf->bind->sa;
        pc.local_len = pcf->bind->socklen;
        pc.transparent = pcf->transparent ? 1 : 0;
    }

    rc = dm_event_connect(&pc, 256);
    if (rc == DM_DECLINED) {
        dm_tcp_stream_next(ctx, 1);
        return;
    }
    if (rc == DM_ERROR) {
        dm_stream_session_finalize(s, DM_STREAM_BAD_GATEWAY);
        return;
    }
    ctx->upstream = pc.connection;
    ctx->upstream->data = ctx;
    ctx->upstream->log_obj = *c->log;
    ctx->upstream->log = &ctx->upstream->log_obj;
    ctx->upstream->read->log = ctx->upstream->log;
    ctx->upstream->write->log = ctx->upstream->log;
    ctx->upstream->read->handler = dm_event_empty_handler;
    ctx->upstream->write->handler = dm_tcp_stream_connected;
    if (rc == DM_OK) {
        dm_tcp_stream_connected(ctx->upstream->write);
        return;
    }
    if (dm_event_timer_add(ctx->upstream->write, pcf->connect_timeout)
        != DM_OK) {
        dm_stream_session_finalize(s, DM_STREAM_INTERNAL_ERROR);
    }
}

/* The upstream is up (and through TLS with proxy_ssl): relay. */
static void
dm_tcp_stream_established(dm_tcp_stream_ctx_t *ctx)
{
    dm_connection_t *u = ctx->upstream;

    ctx->connected = 1;
    if (ctx->group) {
        dm_upstream_succeeded(&ctx->pick);
        dm_upstream_connected(&ctx->pick);
    }
    if (u->type == SOCK_STREAM) {
        (void) dm_connection_tcp_nodelay(ctx->session->connection);
    }
    ctx->session->connection->log->action = "proxying";
    u->log->action = "proxying"; /* its log was copied while connecting */
    if (ctx->session->connection->type == SOCK_DGRAM) {
        dm_tcp_stream_udp_start(ctx);
        return;
    }
    dm_tcp_stream_relay_start(ctx);
}

/*
 * proxy_ssl on: the TLS handshake with the upstream, driven by both of
 * its events, bounded with the connect by proxy_connect_timeout (as
 * nginx). A failure goes to the next peer, as a failed connect does.
 */
static void
dm_tcp_stream_handshake(dm_event_t *ev)
{
    dm_connection_t *u = ev->data;
    dm_tcp_stream_ctx_t *ctx = u->data;
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(ctx->session, dm_tcp_stream_module);
    dm_int_t rc;

    if (ev->timedout) {
        dm_log_error(DM_LOG_ERR, u->log, ETIMEDOUT,
                     "upstream %.*s timed out in the SSL handshake",
                     DM_STR_ARG(u->addr_text));
        dm_tcp_stream_next(ctx, 1);
        return;
    }
    rc = dm_ssl_handshake(u);
    if (rc == DM_AGAIN) {
        return;
    }
    dm_event_timer_del(u->write);
    if (rc != DM_OK) {
        /* the reason when it was the certificate */
        (void) dm_ssl_client_verify(&pcf->ssl, u);
    }
    if (rc != DM_OK || dm_ssl_client_verify(&pcf->ssl, u) != DM_OK) {
        dm_log_error(DM_LOG_ERR, u->log, 0,
                     "SSL handshake with upstream %.*s failed",
                     DM_STR_ARG(u->addr_text));
        dm_tcp_stream_next(ctx, 1);
        return;
    }
    dm_tcp_stream_established(ctx);
}

/* proxy_protocol on: the client's addresses (and TLVs) first. */
static dm_int_t
dm_tcp_stream_send_pp(dm_tcp_stream_ctx_t *ctx, dm_tcp_stream_srv_conf_t *pcf)
{
    dm_proxy_protocol_tlv_t tlvs[DM_PROXY_PROTOCOL_TLVS];
    dm_stream_session_t *s = ctx->session;
    dm_uint_t n;

    if (dm_proxy_protocol_tlv_eval(&s->vars, pcf->pp_tlvs, tlvs, &n) != DM_OK) {
        return DM_ERROR;
    }
    return dm_proxy_protocol_send(ctx->upstream, s->connection,
                                  (unsigned) pcf->pp_version, tlvs, n);
}

static void
dm_tcp_stream_connected(dm_event_t *wev)
{
    dm_connection_t *u = wev->data;
    dm_tcp_stream_ctx_t *ctx = u->data;
    dm_tcp_stream_srv_conf_t *pcf =
        dm_stream_session_srv_conf(ctx->session, dm_tcp_stream_module);

    if (wev->timedout) {
        dm_log_error(DM_LOG_ERR, u->log, ETIMEDOUT,
                     "upstream %.*s timed out while connecting",
                     DM_STR_ARG(u->addr_text));
        dm_tcp_stream_next(ctx, 1);
        return;
    }
    if (dm_event_connect_check(u) != DM_OK) {
        dm_event_timer_del(wev);
        dm_tcp_stream_next(ctx, 1);
        return;
    }
    if (u->type == SOCK_STREAM) {
        (void) dm_connection_tcp_nodelay(u);
    }
    if (pcf->pp && u->type == SOCK_STREAM
        && dm_tcp_stream_send_pp(ctx, pcf) != DM_OK) {
        /* before anything else, the ClientHello of proxy_ssl included */
        dm_event_timer_del(wev);
        dm_tcp_stream_next(ctx, 1);
        return;
    }
    /* no DTLS: proxy_ssl applies to TCP */
    if (!pcf->ssl.enable || u->type != SOCK_STREAM) {
        dm_event_timer_del(wev);
        dm_tcp_stream_established(ctx);
        return;
    }
    if (dm_ssl_client_start_host(&pcf->ssl, u,
                                 ctx->host.len ? &ctx->host : NULL)
        != DM_OK) {
        dm_event_timer_del(wev);
        dm_stream_session_finalize(ctx->session, DM_STREAM_BAD_GATEWAY);
        return;
    }
    /* what is left of proxy_connect_timeout bounds the handshake too */
    if (!wev->timer_set
        && dm_event_timer_add(wev, pcf->connect_timeout) != DM_OK) {
        dm_stream_session_finalize(ctx->session, DM_STREAM_INTERNAL_ERROR);
        return;
    }
    u->log->action = "SSL handshaking to upstream";
    u->read->handler = dm_tcp_stream_handshake;
    u->write->handler = dm_tcp_stream_handshake;
    dm_tcp_stream_handshake(wev);
}

static void
dm_tcp_stream_cleanup(dm_stream_session_t *s)
{
    dm_tcp_stream_ctx_t *ctx = s->ctx[dm_tcp_stream_module.ctx_index];

    if (ctx == NULL) {
        return;
    }
    dm_tcp_stream_relay_done(ctx);
    if (ctx->group) {
        dm_upstream_done(&ctx->pick,
                         (uint64_t) (ctx->down.bytes + ctx->up.bytes));
    }
    if (ctx->upstream) {
        dm_connection_close(ctx->upstream);
        ctx->upstream = NULL;
    }
}
