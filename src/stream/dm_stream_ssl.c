/*
 * doorman: TLS termination in stream (the SSL phase): `listen ... ssl`
 * with the ssl_* directives of the server. The handshake runs within
 * ssl_handshake_timeout; with ssl_verify_client on, a client without a
 * valid certificate ends the session ($status 400) before any byte is
 * proxied. Then proxy_pass and return move bytes through the connection's
 * TLS hooks (splice is skipped).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>
#include <dm_stream_listen.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <dm_ssl.h>

static void *dm_stream_ssl_create_srv_conf(dm_conf_t *cf);
static char *dm_stream_ssl_merge_srv_conf(dm_conf_t *cf, void *parent,
                                          void *child);
static dm_int_t dm_stream_ssl_preconfiguration(dm_conf_t *cf);
static dm_int_t dm_stream_ssl_postconfiguration(dm_conf_t *cf);

dm_module_t dm_stream_ssl_module = {
    .name = "stream_ssl",
    .type = DM_MODULE_STREAM,
    .commands = dm_ssl_srv_commands,
    .create_srv_conf = dm_stream_ssl_create_srv_conf,
    .merge_srv_conf = dm_stream_ssl_merge_srv_conf,
    .preconfiguration = dm_stream_ssl_preconfiguration,
    .postconfiguration = dm_stream_ssl_postconfiguration,
};

static void *
dm_stream_ssl_create_srv_conf(dm_conf_t *cf)
{
    return dm_ssl_srv_conf_create(cf);
}

static char *
dm_stream_ssl_merge_srv_conf(dm_conf_t *cf, void *parent, void *child)
{
    /* no ALPN and no SNI switching: a stream server is chosen by address */
    return dm_ssl_srv_conf_merge(cf, parent, child, NULL);
}

char *
dm_stream_ssl_check_listen(dm_conf_t *cf, dm_stream_core_srv_conf_t *cscf)
{
    dm_ssl_srv_conf_t *conf =
        cscf->ctx->srv_conf[dm_stream_ssl_module.ctx_index];

    if (conf->ctx == NULL) {
        dm_log_error(DM_LOG_EMERG, cf->log, 0,
                     "no \"ssl_certificate\" is defined for the \"listen "
                     "... ssl\" directive in %.*s:%lu",
                     DM_STR_ARG(cscf->file), (unsigned long) cscf->line);
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* After the handshake: the client certificate ssl_verify_client asks. */
static dm_int_t
dm_stream_ssl_verify(dm_stream_session_t *s, dm_ssl_srv_conf_t *conf)
{
    dm_connection_t *c = s->connection;

    if (conf->verify == DM_SSL_VERIFY_OFF) {
        return DM_OK;
    }
    if (dm_ssl_session_foreign(c, conf)) {
        return DM_ERROR;
    }
    return dm_ssl_verify_client(c, conf) ? DM_ERROR : DM_OK;
}

static void
dm_stream_ssl_event(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;
    dm_stream_session_t *s = c->data;

    if (c->read->timedout) {
        c->timedout = 1;
        dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                     "client timed out in SSL handshake "
                     "(ssl_handshake_timeout)");
        dm_stream_session_finalize(s, DM_STREAM_BAD_REQUEST);
        return;
    }
    dm_stream_session_run(s);
}

static dm_int_t
dm_stream_ssl_handler(void *obj)
{
    dm_stream_session_t *s = obj;
    dm_connection_t *c = s->connection;
    dm_ssl_srv_conf_t *conf =
        dm_stream_session_srv_conf(s, dm_stream_ssl_module);
    dm_ssl_connection_t *sc = c->ssl;
    dm_int_t rc;

    if (!s->ssl || c->type != SOCK_STREAM) {
        return DM_DECLINED;
    }
    if (sc && sc->handshaked) {
        return DM_OK;
    }
    if (sc == NULL) {
        if (dm_ssl_create_connection(conf->ctx, c, 0, conf) != DM_OK) {
            return DM_ERROR;
        }
        c->log->action = "SSL handshaking";
        c->read->handler = dm_stream_ssl_event;
        c->write->handler = dm_stream_ssl_event;
        if (dm_event_timer_add(c->read, conf->handshake_timeout) != DM_OK) {
            return DM_ERROR;
        }
    }
    rc = dm_ssl_handshake(c);
    if (rc == DM_AGAIN) {
        return DM_AGAIN;
    }
    dm_event_timer_del(c->read);
    c->read->handler = dm_event_empty_handler;
    c->write->handler = dm_event_empty_handler;
    if (rc != DM_OK || dm_stream_ssl_verify(s, conf) != DM_OK) {
        s->status = DM_STREAM_BAD_REQUEST;
        return DM_ERROR;
    }
    return DM_OK;
}

static dm_int_t
dm_stream_ssl_preconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_ssl_variables_add(cf, &cmcf->variables);
}

static dm_int_t
dm_stream_ssl_postconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_phase_add(&cmcf->phases, DM_STREAM_SSL_PHASE,
                        dm_stream_ssl_handler);
}
