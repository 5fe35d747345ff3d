/*
 * doorman: TLS to upstreams (proxy_pass https://, stream proxy_ssl on):
 * the client context of a location or stream server, and what is set on
 * each upstream connection before its handshake.
 *
 * A level that sets none of the directives shaping the context (verify,
 * depth, trusted certificates, client certificate, protocols, ciphers,
 * conf commands) shares its parent's context, as nginx does: its pooled
 * upstream connections may then serve the sibling locations too, and a
 * large CA bundle is loaded once, not once per location.
 *
 * Sessions are kept per structure (each location or stream server), one
 * per worker, the last one the upstream gave: OpenSSL hands it to the
 * new-session callback, at the end of a TLS 1.2 handshake or when a TLS
 * 1.3 NewSessionTicket arrives after it. A session is only offered again
 * by the structure it was made for, so by connections that verify the
 * same name.
 */
#include <dm_core.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <dm_ssl.h>

/* SSL ex_data: the dm_ssl_client_conf_t an upstream connection uses. */
static int dm_ssl_client_index = -1;

void
dm_ssl_client_conf_init(dm_ssl_client_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->enable = DM_CONF_UNSET;
    conf->verify = DM_CONF_UNSET;
    conf->verify_depth = DM_CONF_UNSET;
    conf->server_name = DM_CONF_UNSET;
    conf->protocols = DM_CONF_UNSET_UINT;
    conf->conf_commands = DM_CONF_UNSET_PTR;
    conf->session_reuse = DM_CONF_UNSET;
}

/* Whether this level set a directive that changes the context. */
static int
dm_ssl_client_shapes_ctx(const dm_ssl_client_conf_t *conf)
{
    return conf->verify != DM_CONF_UNSET || conf->verify_depth != DM_CONF_UNSET
           || conf->trusted_certificate.data || conf->certificate.data
           || conf->certificate_key.data
           || conf->protocols != DM_CONF_UNSET_UINT || conf->ciphers.data
           || conf->conf_commands != DM_CONF_UNSET_PTR;
}

/* The upstream gave a session: it replaces the structure's last one. */
static int
dm_ssl_client_new_session(SSL *ssl, SSL_SESSION *sess)
{
    dm_ssl_client_conf_t *conf;

    conf = SSL_get_ex_data(ssl, dm_ssl_client_index);
    if (conf == NULL || !conf->session_reuse
        || !SSL_SESSION_is_resumable(sess)) {
        return 0;
    }
    if (conf->session) {
        SSL_SESSION_free(conf->session);
    }
    conf->session = sess;
    return 1; /* the reference is ours now */
}

/* Builds conf->ctx from a merged structure; freed with the cycle. */
static dm_int_t
dm_ssl_client_ctx(dm_conf_t *cf, dm_ssl_client_conf_t *conf)
{
    dm_str_t path, key;
    SSL_CTX *ctx;

    if (conf->verify && conf->trusted_certificate.len == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "no proxy_ssl_trusted_certificate for "
                          "proxy_ssl_verify");
        return DM_ERROR;
    }
    if (conf->certificate.len && conf->certificate_key.len == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "no proxy_ssl_certificate_key for "
                          "proxy_ssl_certificate \"%.*s\"",
                          DM_STR_ARG(conf->certificate));
        return DM_ERROR;
    }
    if (dm_ssl_client_index == -1) {
        dm_ssl_client_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (dm_ssl_client_index == -1) {
            dm_ssl_conf_error(cf, "%sSSL_get_ex_new_index() failed", "");
            return DM_ERROR;
        }
    }
    ctx = dm_ssl_ctx_new(cf, TLS_client_method());
    if (ctx == NULL) {
        return DM_ERROR;
    }
    conf->ctx = ctx;
    if (dm_ssl_ctx_protocols(ctx, conf->protocols) != DM_OK) {
        dm_ssl_conf_error(cf, "%scannot set proxy_ssl_protocols", "");
        return DM_ERROR;
    }
    if (SSL_CTX_set_cipher_list(ctx, (const char *) conf->ciphers.data) != 1) {
        dm_ssl_conf_error(cf, "cannot set proxy_ssl_ciphers \"%s\"",
                          (const char *) conf->ciphers.data);
        return DM_ERROR;
    }
    if (conf->certificate.len) {
        path = conf->certificate;
        key = conf->certificate_key;
        if (dm_conf_full_name(cf->cycle, &path, 1) != DM_OK
            || dm_conf_full_name(cf->cycle, &key, 1) != DM_OK
            || dm_ssl_ctx_certificate(cf, ctx, &path, &key) != DM_OK) {
            return DM_ERROR;
        }
    }
    if (conf->verify) {
        path = conf->trusted_certificate;
        if (dm_conf_full_name(cf->cycle, &path, 1) != DM_OK) {
            return DM_ERROR;
        }
        if (SSL_CTX_load_verify_locations(ctx, (const char *) path.data, NULL)
            != 1) {
            dm_ssl_conf_error(cf,
                              "cannot load proxy_ssl_trusted_certificate "
                              "\"%s\"",
                              (const char *) path.data);
            return DM_ERROR;
        }
        /* a certificate that does not verify fails the handshake itself:
           the upstream gets an alert, and no byte of a request can go to
           an unverified peer whatever the caller does next */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_verify_depth(ctx, (int) conf->verify_depth);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }

    /* sessions go to the callback only (no cache in the context): each
       structure keeps the last one it was given */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                            | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, dm_ssl_client_new_session);

    if (conf->conf_commands
        && dm_ssl_ctx_commands(cf, ctx, conf->conf_commands, 1) != DM_OK) {
        return DM_ERROR;
    }
    return DM_OK;
}

char *
dm_ssl_client_conf_merge(dm_conf_t *cf, dm_ssl_client_conf_t *prev,
                         dm_ssl_client_conf_t *conf, int need,
                         const dm_str_t *default_name)
{
    int own = dm_ssl_client_shapes_ctx(conf);

    dm_conf_merge_value(conf->enable, prev->enable, 0);
    dm_conf_merge_value(conf->verify, prev->verify, 0);
    dm_conf_merge_value(conf->verify_depth, prev->verify_depth, 1);
    dm_conf_merge_str_value(conf->trusted_certificate,
                            prev->trusted_certificate, "");
    dm_conf_merge_value(conf->server_name, prev->server_name, 0);
    dm_conf_merge_str_value(conf->ciphers, prev->ciphers,
                            DM_SSL_DEFAULT_CIPHERS);
    dm_conf_merge_uint_value(conf->protocols, prev->protocols,
                             DM_SSL_DEFAULT_PROTOCOLS);
    dm_conf_merge_ptr_value(conf->conf_commands, prev->conf_commands, NULL);
    dm_conf_merge_value(conf->session_reuse, prev->session_reuse, 1);
    /* the certificate and its key go together: a level that sets one
       replaces the pair */
    if (conf->certificate.data == NULL && conf->certificate_key.data == NULL) {
        conf->certificate = prev->certificate;
        conf->certificate_key = prev->certificate_key;
    }
    if (conf->certificate.data == NULL) {
        dm_str_set(&conf->certificate, "");
    }
    if (conf->certificate_key.data == NULL) {
        dm_str_set(&conf->certificate_key, "");
    }
    if (conf->name.data == NULL) {
        if (prev->name.data) {
            conf->name = prev->name;
        } else if (default_name) {
            conf->name = *default_name;
        }
    }

    if (!conf->enable && !need) {
        return DM_CONF_OK;
    }
    if (!own && prev->ctx) {
        conf->ctx = prev->ctx;
        return DM_CONF_OK;
    }
    if (dm_ssl_client_ctx(cf, conf) != DM_OK) {
        return DM_CONF_ERROR;
    }
    if (!own) {
        /* the parent's settings are ours: its other children share the
           context (the parent never connects with it: a level that
           connects was merged before its children, and built its own) */
        prev->ctx = conf->ctx;
    }
    return DM_CONF_OK;
}

/*
 * The name to send and verify: proxy_ssl_name, else the proxy_pass host,
 * without a port ("host:443", "[::1]:443") or the brackets of an IPv6
 * literal. Copied NUL-terminated into buf; *ip says whether it is an IP
 * literal (not sent as SNI, checked against the certificate's IP SANs).
 */
static size_t
dm_ssl_client_name(const dm_str_t *name, char *buf, size_t size, int *ip)
{
    const u_char *p = name->data, *end = name->data + name->len, *c;
    struct in6_addr a6;
    struct in_addr a4;
    size_t len;

    *ip = 0;
    if (p == NULL || p == end) {
        return 0;
    }
    if (*p == '[') {
        c = memchr(p, ']', (size_t) (end - p));
        if (c == NULL) {
            return 0;
        }
        p++;
        end = c;
    } else if ((c = memchr(p, ':', (size_t) (end - p)))
               && memchr(c + 1, ':', (size_t) (end - c - 1)) == NULL) {
        end = c; /* host:port; more than one ':' is a bare IPv6 literal */
    }
    len = (size_t) (end - p);
    if (len == 0 || len >= size) {
        return 0;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    *ip =
        inet_pton(AF_INET, buf, &a4) == 1 || inet_pton(AF_INET6, buf, &a6) == 1;
    return len;
}

dm_int_t
dm_ssl_client_start(dm_ssl_client_conf_t *conf, dm_connection_t *u)
{
    return dm_ssl_client_start_host(conf, u, NULL);
}

dm_int_t
dm_ssl_client_start_host(dm_ssl_client_conf_t *conf, dm_connection_t *u,
                         const dm_str_t *host)
{
    const dm_str_t *name = conf->name.len || host == NULL ? &conf->name : host;
    dm_ssl_connection_t *sc;
    char buf[256];
    size_t len;
    int ip;
    SSL *ssl;

    if (conf->ctx == NULL) {
        dm_log_error(DM_LOG_ALERT, u->log, 0,
                     "no TLS context for the upstream connection");
        return DM_ERROR;
    }
    if (dm_ssl_create_connection(conf->ctx, u, 1, NULL) != DM_OK) {
        return DM_ERROR;
    }
    sc = u->ssl;
    ssl = sc->ssl;
    if (SSL_set_ex_data(ssl, dm_ssl_client_index, conf) != 1) {
        dm_ssl_error(DM_LOG_ALERT, u->log, 0, "SSL_set_ex_data() failed");
        return DM_ERROR;
    }
    len = dm_ssl_client_name(name, buf, sizeof(buf), &ip);

    /* RFC 6066: no IP literal as a server name */
    if (conf->server_name && len && !ip
        && SSL_set_tlsext_host_name(ssl, buf) != 1) {
        dm_ssl_error(DM_LOG_ERR, u->log, 0,
                     "SSL_set_tlsext_host_name() failed");
        return DM_ERROR;
    }
    if (conf->verify) {
        if (len == 0) {
            /* nothing to check the certificate against: refuse rather
               than accept any certificate of the trusted CAs */
            dm_log_error(DM_LOG_ERR, u->log, 0,
                         "no name to verify the upstream certificate "
                         "against (proxy_ssl_name \"%.*s\")",
                         DM_STR_ARG(*name));
            return DM_ERROR;
        }
        if (ip) {
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), buf) != 1) {
                dm_ssl_error(DM_LOG_ERR, u->log, 0,
                             "X509_VERIFY_PARAM_set1_ip_asc() failed");
                return DM_ERROR;
            }
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(ssl, buf) != 1) {
                dm_ssl_error(DM_LOG_ERR, u->log, 0, "SSL_set1_host() failed");
                return DM_ERROR;
            }
        }
    }
    if (conf->session_reuse && conf->session
        && SSL_set_session(ssl, conf->session) != 1) {
        /* not fatal: a full handshake instead */
        dm_ssl_error(DM_LOG_WARN, u->log, 0, "SSL_set_session() failed");
    }
    return DM_OK;
}

dm_int_t
dm_ssl_client_verify(dm_ssl_client_conf_t *conf, dm_connection_t *u)
{
    dm_ssl_connection_t *sc = u->ssl;
    X509 *cert;
    long rc;

    if (sc == NULL) {
        return DM_ERROR;
    }
    if (!conf->verify) {
        return sc->handshaked ? DM_OK : DM_ERROR;
    }
    rc = SSL_get_verify_result(sc->ssl);
    if (rc != X509_V_OK) {
        dm_log_error(DM_LOG_ERR, u->log, 0,
                     "upstream SSL certificate verify error: (%ld:%s)", rc,
                     X509_verify_cert_error_string(rc));
        return DM_ERROR;
    }
    if (!sc->handshaked) {
        /* after a failed handshake: the certificate was not the reason */
        return DM_ERROR;
    }
    /* a resumed session carries the certificate verified when it was
       made, by this same structure, for the same name */
    cert = SSL_get1_peer_certificate(sc->ssl);
    if (cert == NULL) {
        dm_log_error(DM_LOG_ERR, u->log, 0,
                     "upstream sent no required SSL certificate");
        return DM_ERROR;
    }
    X509_free(cert);
    /* the session itself is saved by the new-session callback: a TLS 1.3
       ticket may arrive only after this point */
    return DM_OK;
}
