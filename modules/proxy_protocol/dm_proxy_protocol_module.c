/*
 * doorman: the proxy_protocol module: the PROXY header read once per
 * connection on `listen ... proxy_protocol` addresses, before TLS and
 * before anything else (stream: the POST_ACCEPT phase; http: before the
 * handshake and the first request head).
 *
 *   proxy_protocol_timeout TIME;   (stream, server; http, server; 30s)
 *
 * A connection without a valid header within the timeout is closed
 * without a byte of answer and logged; nothing reaches an upstream.
 * Sending headers is the proxies' (proxy_protocol on), with the core's
 * encoder (dm_proxy_protocol_send.c).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>
#include <dm_stream_listen.h>
#include <dm_http_conf.h>
#include <dm_http_listen.h>
#include <dm_http_request.h>
#include <dm_proxy_protocol_module.h>

typedef struct {
    dm_msec_t timeout; /* proxy_protocol_timeout */
} dm_proxy_protocol_srv_conf_t;

static void *dm_proxy_protocol_create_srv_conf(dm_conf_t *cf);
static char *dm_proxy_protocol_merge_srv_conf(dm_conf_t *cf, void *parent,
                                              void *child);
static dm_int_t dm_stream_proxy_protocol_preconfiguration(dm_conf_t *cf);
static dm_int_t dm_stream_proxy_protocol_postconfiguration(dm_conf_t *cf);
static dm_int_t dm_http_proxy_protocol_preconfiguration(dm_conf_t *cf);

static const dm_conf_bounds_t dm_proxy_protocol_time_bounds = {1,
                                                               7LL * 86400000};

static const dm_command_t dm_stream_proxy_protocol_commands[] = {
    {dm_string("proxy_protocol_timeout"),
     DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_CONF_LEVEL_SRV,
     offsetof(dm_proxy_protocol_srv_conf_t, timeout),
     &dm_proxy_protocol_time_bounds},
    dm_null_command,
};

static const dm_command_t dm_http_proxy_protocol_commands[] = {
    {dm_string("proxy_protocol_timeout"), DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_msec_slot, DM_CONF_LEVEL_SRV,
     offsetof(dm_proxy_protocol_srv_conf_t, timeout),
     &dm_proxy_protocol_time_bounds},
    dm_null_command,
};

/* Listed by doorman -V; the engines' parts follow. */
dm_module_t dm_proxy_protocol_module = {
    .name = "proxy_protocol",
    .type = DM_MODULE_CORE,
};

dm_module_t dm_stream_proxy_protocol_module = {
    .name = "stream_proxy_protocol",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_proxy_protocol_commands,
    .create_srv_conf = dm_proxy_protocol_create_srv_conf,
    .merge_srv_conf = dm_proxy_protocol_merge_srv_conf,
    .preconfiguration = dm_stream_proxy_protocol_preconfiguration,
    .postconfiguration = dm_stream_proxy_protocol_postconfiguration,
};

dm_module_t dm_http_proxy_protocol_module = {
    .name = "http_proxy_protocol",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_proxy_protocol_commands,
    .create_srv_conf = dm_proxy_protocol_create_srv_conf,
    .merge_srv_conf = dm_proxy_protocol_merge_srv_conf,
    .preconfiguration = dm_http_proxy_protocol_preconfiguration,
};

static void *
dm_proxy_protocol_create_srv_conf(dm_conf_t *cf)
{
    dm_proxy_protocol_srv_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->timeout = DM_CONF_UNSET_MSEC;
    }
    return conf;
}

static char *
dm_proxy_protocol_merge_srv_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_proxy_protocol_srv_conf_t *prev = parent, *conf = child;

    dm_conf_merge_msec_value(conf->timeout, prev->timeout, 30000);
    return DM_CONF_OK;
}

/* Logs a timeout and says whether the event is one. */
static int
dm_proxy_protocol_timed_out(dm_connection_t *c)
{
    if (!c->read->timedout) {
        return 0;
    }
    c->timedout = 1;
    dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                 "client timed out sending its PROXY header "
                 "(proxy_protocol_timeout)");
    return 1;
}

/* --- stream: the POST_ACCEPT phase -------------------------------------- */

static void
dm_stream_proxy_protocol_event(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;
    dm_stream_session_t *s = c->data;

    if (dm_proxy_protocol_timed_out(c)) {
        dm_stream_session_finalize(s, DM_STREAM_BAD_REQUEST);
        return;
    }
    dm_stream_session_run(s);
}

static dm_int_t
dm_stream_proxy_protocol_handler(void *obj)
{
    dm_stream_session_t *s = obj;
    dm_connection_t *c = s->connection;
    dm_proxy_protocol_srv_conf_t *conf =
        dm_stream_session_srv_conf(s, dm_stream_proxy_protocol_module);
    dm_int_t rc;

    if (!s->proxy_protocol || c->proxy_protocol) {
        return DM_DECLINED;
    }
    if (!c->read->timer_set) {
        c->log->action = "reading the PROXY header";
        c->read->handler = dm_stream_proxy_protocol_event;
        if (dm_event_timer_add(c->read, conf->timeout) != DM_OK) {
            return DM_ERROR;
        }
    }
    rc = dm_proxy_protocol_read(c);
    if (rc == DM_AGAIN) {
        return DM_AGAIN;
    }
    dm_event_timer_del(c->read);
    c->read->handler = dm_event_empty_handler;
    if (rc != DM_OK) {
        s->status = DM_STREAM_BAD_REQUEST;
        return DM_ERROR;
    }
    return DM_OK;
}

static dm_int_t
dm_stream_proxy_protocol_preconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    dm_stream_proxy_protocol_enabled = 1;
    return dm_proxy_protocol_variables_add(cf, &cmcf->variables);
}

static dm_int_t
dm_stream_proxy_protocol_postconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_phase_add(&cmcf->phases, DM_STREAM_POST_ACCEPT_PHASE,
                        dm_stream_proxy_protocol_handler);
}

/* --- http: once per connection, before TLS ------------------------------ */

static void
dm_http_proxy_protocol_event(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;
    dm_http_conn_t *hc = c->data;
    dm_int_t rc;

    if (dm_proxy_protocol_timed_out(c) || c->close) {
        dm_connection_close(c);
        return;
    }
    rc = dm_proxy_protocol_read(c);
    if (rc == DM_AGAIN) {
        return;
    }
    dm_event_timer_del(c->read);
    if (rc != DM_OK) {
        dm_connection_close(c);
        return;
    }
    dm_http_request_accepted(hc);
}

static void
dm_http_proxy_protocol_start(dm_http_conn_t *hc)
{
    dm_connection_t *c = hc->connection;
    dm_http_core_srv_conf_t *cscf = dm_http_listen_find_addr(c)->default_server;
    dm_proxy_protocol_srv_conf_t *conf =
        cscf->ctx->srv_conf[dm_http_proxy_protocol_module.ctx_index];

    c->log->action = "reading the PROXY header";
    c->read->handler = dm_http_proxy_protocol_event;
    c->write->handler = dm_event_empty_handler;
    if (dm_event_timer_add(c->read, conf->timeout) != DM_OK) {
        dm_connection_close(c);
        return;
    }
    /* nothing asked yet: a graceful exit may close it */
    dm_connection_reusable(c, 1);
    dm_http_proxy_protocol_event(c->read);
}

static dm_int_t
dm_http_proxy_protocol_preconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    dm_http_proxy_protocol_read = dm_http_proxy_protocol_start;
    return dm_proxy_protocol_variables_add(cf, &cmcf->variables);
}
