/*
 * doorman: TLS termination in http (the per-connection part of
 * POST_ACCEPT): the ssl_* directives of a server, the handshake before
 * the first request head, the server chosen by SNI, and the checks each
 * request passes once Host chose its server: a Host that names a server
 * requiring client certificates over a connection whose SNI chose
 * another is 421 (as nginx), a missing or bad client certificate is 400
 * (logged as nginx's 496 and 495).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_http_conf.h>
#include <dm_http_listen.h>
#include <dm_http_request.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <dm_ssl.h>
#include <dm_http_ssl.h>

static void *dm_http_ssl_create_srv_conf(dm_conf_t *cf);
static char *dm_http_ssl_merge_srv_conf(dm_conf_t *cf, void *parent,
                                        void *child);
static dm_int_t dm_http_ssl_preconfiguration(dm_conf_t *cf);

dm_module_t dm_http_ssl_module = {
    .name = "http_ssl",
    .type = DM_MODULE_HTTP,
    .commands = dm_ssl_srv_commands,
    .create_srv_conf = dm_http_ssl_create_srv_conf,
    .merge_srv_conf = dm_http_ssl_merge_srv_conf,
    .preconfiguration = dm_http_ssl_preconfiguration,
};

static dm_ssl_srv_conf_t *
dm_http_ssl_conf(dm_http_core_srv_conf_t *cscf)
{
    return cscf->ctx->srv_conf[dm_http_ssl_module.ctx_index];
}

/* SNI: the server of the connection's address that the name chooses
   (exact and wildcard names; a regex needs a request to hold its
   captures, so it is left to Host, as the default answers). */
static dm_ssl_srv_conf_t *
dm_http_ssl_sni(dm_connection_t *c, const dm_str_t *name)
{
    dm_http_core_srv_conf_t *cscf;

    cscf = dm_http_listen_find_server(c, name, NULL);
    return cscf ? dm_http_ssl_conf(cscf) : NULL;
}

static void *
dm_http_ssl_create_srv_conf(dm_conf_t *cf)
{
    return dm_ssl_srv_conf_create(cf);
}

static char *
dm_http_ssl_merge_srv_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_ssl_srv_conf_t *conf = child;
    char *rv;

    rv = dm_ssl_srv_conf_merge(cf, parent, conf, &dm_ssl_alpn_http);
    if (rv == DM_CONF_OK && conf->ctx) {
        dm_ssl_set_sni(conf->ctx, dm_http_ssl_sni);
    }
    return rv;
}

static dm_int_t
dm_http_ssl_preconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    return dm_ssl_variables_add(cf, &cmcf->variables);
}

char *
dm_http_ssl_check_listen(dm_conf_t *cf, dm_http_addr_t *addr)
{
    if (!addr->ssl) {
        return DM_CONF_OK;
    }
    if (dm_http_ssl_conf(addr->default_server)->ctx == NULL) {
        dm_log_error(DM_LOG_EMERG, cf->log, 0,
                     "no \"ssl_certificate\" is defined for the \"listen "
                     "... ssl\" directive in %.*s:%lu",
                     DM_STR_ARG(addr->default_server->file),
                     (unsigned long) addr->default_server->line);
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* --- the handshake ------------------------------------------------------ */

static void
dm_http_ssl_handshake_handler(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;
    dm_http_conn_t *hc = c->data;
    dm_int_t rc;

    if (c->read->timedout) {
        c->timedout = 1;
        dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                     "client timed out in SSL handshake "
                     "(ssl_handshake_timeout)");
        dm_connection_close(c);
        return;
    }
    if (c->close) {
        dm_connection_close(c);
        return;
    }
    rc = dm_ssl_handshake(c);
    if (rc == DM_AGAIN) {
        return;
    }
    if (rc != DM_OK) {
        dm_connection_close(c);
        return;
    }
    dm_event_timer_del(c->read);
    dm_http_request_wait(hc);
}

void
dm_http_ssl_start(dm_http_conn_t *hc, dm_http_core_srv_conf_t *cscf)
{
    dm_connection_t *c = hc->connection;
    dm_ssl_srv_conf_t *conf = dm_http_ssl_conf(cscf);

    if (dm_ssl_create_connection(conf->ctx, c, 0, conf) != DM_OK) {
        dm_connection_close(c);
        return;
    }
    c->log->action = "SSL handshaking";
    c->read->handler = dm_http_ssl_handshake_handler;
    c->write->handler = dm_http_ssl_handshake_handler;
    if (dm_event_timer_add(c->read, conf->handshake_timeout) != DM_OK) {
        dm_connection_close(c);
        return;
    }
    /* a handshake in progress is closed at a graceful exit like an idle
       connection: nothing was asked yet */
    dm_connection_reusable(c, 1);
    dm_http_ssl_handshake_handler(c->read);
}

/* --- per request -------------------------------------------------------- */

dm_uint_t
dm_http_ssl_check(dm_http_request_t *r, dm_http_core_srv_conf_t *cscf)
{
    dm_connection_t *c = r->connection;
    dm_ssl_connection_t *sc = c->ssl;
    dm_ssl_srv_conf_t *conf = dm_http_ssl_conf(cscf);

    if (conf->verify == DM_SSL_VERIFY_OFF) {
        return 0;
    }
    if (sc->sni && sc->conf != conf) {
        /* the client authenticated (or not) for another server */
        dm_log_error(DM_LOG_INFO, c->log, 0,
                     "client attempted to request the server name "
                     "different from the one that was negotiated");
        return 421;
    }
    if (dm_ssl_session_foreign(c, conf)) {
        /* a new connection, with a full handshake, is what it needs */
        return 421;
    }
    return dm_ssl_verify_client(c, conf);
}
