/*
 * doorman: TLS contexts: errors, protocols, certificates, SNI, ALPN,
 * client verification and OCSP stapling on the server side.
 */
#include <dm_core.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <dm_ssl.h>

const dm_ssl_alpn_t dm_ssl_alpn_http = {(const u_char *) "\x08http/1.1", 9};

/* SSL_CTX ex_data: the server-side structure a context was built for. */
static int dm_ssl_ctx_index = -1;
static int dm_ssl_sni_index = -1;

/* Appends the OpenSSL error queue (emptied) to buf as " (lib: reason)". */
static size_t
dm_ssl_queue_text(char *buf, size_t len)
{
    unsigned long e;
    const char *data;
    int flags;
    size_t n = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (n + 8 >= len) {
            continue; /* keep emptying the queue */
        }
        n += (size_t) snprintf(buf + n, len - n, "%s%s", n ? " " : " (SSL: ",
                               ERR_reason_error_string(e)
                                   ? ERR_reason_error_string(e)
                                   : "unknown");
        if ((flags & ERR_TXT_STRING) && data && *data && n + 4 < len) {
            n += (size_t) snprintf(buf + n, len - n, ":%s", data);
        }
        if (n >= len) {
            n = len - 1;
        }
    }
    if (n && n + 2 < len) {
        buf[n++] = ')';
        buf[n] = '\0';
    }
    return n;
}

void
dm_ssl_error(dm_uint_t level, dm_log_t *log, dm_err_t err, const char *text)
{
    char q[512];

    (void) dm_ssl_queue_text(q, sizeof(q));
    dm_log_error(level, log, err, "%s%s", text, q);
}

void
dm_ssl_conf_error(dm_conf_t *cf, const char *fmt, const char *arg)
{
    char msg[512], q[512];

    (void) snprintf(msg, sizeof(msg), fmt, arg);
    (void) dm_ssl_queue_text(q, sizeof(q));
    dm_conf_log_error(DM_LOG_EMERG, cf, 0, "%s%s", msg, q);
}

dm_int_t
dm_ssl_ctx_protocols(SSL_CTX *ctx, dm_uint_t protocols)
{
    static const struct {
        dm_uint_t bit;
        int version;
        uint64_t no;
    } v[] = {
        {DM_SSL_TLSv1, TLS1_VERSION, SSL_OP_NO_TLSv1},
        {DM_SSL_TLSv1_1, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
        {DM_SSL_TLSv1_2, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
        {DM_SSL_TLSv1_3, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
    };
    int min = 0, max = 0;
    dm_uint_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (protocols & v[i].bit) {
            if (min == 0) {
                min = v[i].version;
            }
            max = v[i].version;
        }
    }
    if (min == 0 || !SSL_CTX_set_min_proto_version(ctx, min)
        || !SSL_CTX_set_max_proto_version(ctx, max)) {
        return DM_ERROR;
    }
    /* a gap in the range (TLSv1 TLSv1.2) is closed by an option */
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (!(protocols & v[i].bit) && v[i].version > min
            && v[i].version < max) {
            SSL_CTX_set_options(ctx, v[i].no);
        }
    }
    return DM_OK;
}

dm_int_t
dm_ssl_ctx_certificate(dm_conf_t *cf, SSL_CTX *ctx, const dm_str_t *cert,
                       const dm_str_t *key)
{
    /* the whole chain: the leaf first, then intermediates */
    if (SSL_CTX_use_certificate_chain_file(ctx, (const char *) cert->data)
        != 1) {
        dm_ssl_conf_error(cf, "cannot load certificate \"%s\"",
                          (const char *) cert->data);
        return DM_ERROR;
    }
    /* the key goes with the certificate just loaded (same key type); its
       contents are never logged, only the file's name */
    if (SSL_CTX_use_PrivateKey_file(ctx, (const char *) key->data,
                                    SSL_FILETYPE_PEM)
        != 1) {
        dm_ssl_conf_error(cf, "cannot load certificate key \"%s\"",
                          (const char *) key->data);
        return DM_ERROR;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        dm_ssl_conf_error(cf, "the key \"%s\" does not match its certificate",
                          (const char *) key->data);
        return DM_ERROR;
    }
    return DM_OK;
}

/* --- SNI ---------------------------------------------------------------- */

static int
dm_ssl_servername(SSL *ssl, int *alert, void *arg)
{
    dm_connection_t *c = dm_ssl_get_connection(ssl);
    dm_ssl_connection_t *sc;
    dm_ssl_srv_conf_t *conf;
    dm_ssl_sni_pt handler;
    const char *name;
    u_char lower[256];
    dm_str_t host;
    size_t i, len;

    (void) alert;
    (void) arg;
    if (c == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    sc = c->ssl;
    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL || *name == '\0') {
        return SSL_TLSEXT_ERR_NOACK;
    }
    len = strlen(name);
    if (len >= sizeof(lower)) {
        /* longer than any DNS name: the default server answers */
        return SSL_TLSEXT_ERR_NOACK;
    }
    for (i = 0; i < len; i++) {
        lower[i] = (u_char) ((name[i] >= 'A' && name[i] <= 'Z') ? name[i] | 0x20
                                                                : name[i]);
    }
    lower[len] = '\0';
    host.data = lower;
    host.len = len;
    sc->sni = 1;

    handler = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), dm_ssl_sni_index);
    conf = handler ? handler(c, &host) : NULL;
    if (conf == NULL || conf->ctx == NULL || conf == sc->conf) {
        return SSL_TLSEXT_ERR_OK;
    }
    /* another server: its certificates, verification and policies */
    sc->conf = conf;
    SSL_set_SSL_CTX(ssl, conf->ctx);
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(conf->ctx),
                   SSL_CTX_get_verify_callback(conf->ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(conf->ctx));
    SSL_clear_options(ssl,
                      SSL_get_options(ssl) & ~SSL_CTX_get_options(conf->ctx));
    SSL_set_options(ssl, SSL_CTX_get_options(conf->ctx));
    return SSL_TLSEXT_ERR_OK;
}

void
dm_ssl_set_sni(SSL_CTX *ctx, dm_ssl_sni_pt handler)
{
    SSL_CTX_set_ex_data(ctx, dm_ssl_sni_index, (void *) handler);
}

/* --- ALPN --------------------------------------------------------------- */

static int
dm_ssl_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    const dm_ssl_alpn_t *alpn = arg;
    unsigned char *sel;

    (void) ssl;
    /* our preference first; no common protocol is a fatal alert, as
       nginx: the client would otherwise speak what we do not */
    if (SSL_select_next_proto(&sel, outlen, alpn->data, (unsigned) alpn->len,
                              in, inlen)
        != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* --- client verification ------------------------------------------------ */

/* Every chain is accepted during the handshake: the engine decides
   afterwards (ssl_verify_client optional lets a failure through, and an
   HTTP answer explains a refusal better than an alert). */
static int
dm_ssl_verify_callback(int ok, X509_STORE_CTX *store)
{
    (void) ok;
    (void) store;
    return 1;
}

int
dm_ssl_session_foreign(dm_connection_t *c, dm_ssl_srv_conf_t *conf)
{
    dm_ssl_connection_t *sc = c->ssl;
    const unsigned char *id;
    unsigned int len;

    if (conf->verify == DM_SSL_VERIFY_OFF || !SSL_session_reused(sc->ssl)) {
        return 0;
    }
    id = SSL_SESSION_get0_id_context(SSL_get0_session(sc->ssl), &len);
    if (len == conf->sid_ctx_len && memcmp(id, conf->sid_ctx, len) == 0) {
        return 0;
    }
    dm_log_error(DM_LOG_INFO, c->log, 0,
                 "client resumed a TLS session of another server on one "
                 "that verifies client certificates");
    return 1;
}

/* A verification result (X509_V_ERR_*) that only says the issuer is
   unknown or untrusted: what ssl_verify_client optional_no_ca accepts. */
static int
dm_ssl_verify_error_no_ca(long rc)
{
    return rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
           || rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
           || rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
           || rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
           || rc == X509_V_ERR_CERT_UNTRUSTED
           || rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

dm_uint_t
dm_ssl_verify_client(dm_connection_t *c, dm_ssl_srv_conf_t *conf)
{
    dm_ssl_connection_t *sc = c->ssl;
    X509 *cert;
    long rc;

    if (conf->verify == DM_SSL_VERIFY_OFF) {
        return 0;
    }
    cert = SSL_get1_peer_certificate(sc->ssl);
    rc = SSL_get_verify_result(sc->ssl);
    if (cert) {
        X509_free(cert);
        if (rc != X509_V_OK
            && !(conf->verify == DM_SSL_VERIFY_OPTIONAL_NO_CA
                 && dm_ssl_verify_error_no_ca(rc))) {
            dm_log_error(DM_LOG_INFO, c->log, 0,
                         "client SSL certificate verify error: (%ld:%s)", rc,
                         X509_verify_cert_error_string(rc));
            return 495;
        }
        return 0;
    }
    if (conf->verify == DM_SSL_VERIFY_ON) {
        dm_log_error(DM_LOG_INFO, c->log, 0,
                     "client sent no required SSL certificate");
        return 496;
    }
    return 0;
}

static dm_int_t
dm_ssl_ctx_client_verify(dm_conf_t *cf, SSL_CTX *ctx, dm_ssl_srv_conf_t *conf)
{
    STACK_OF(X509_NAME) * names;
    dm_str_t file = conf->client_certificate;

    if (conf->verify == DM_SSL_VERIFY_OFF) {
        return DM_OK;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, dm_ssl_verify_callback);
    SSL_CTX_set_verify_depth(ctx, (int) conf->verify_depth);
    if (file.len == 0) {
        if (conf->verify == DM_SSL_VERIFY_OPTIONAL_NO_CA) {
            return DM_OK;
        }
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "no ssl_client_certificate for ssl_verify_client");
        return DM_ERROR;
    }
    if (dm_conf_full_name(cf->cycle, &file, 1) != DM_OK) {
        return DM_ERROR;
    }
    if (SSL_CTX_load_verify_locations(ctx, (const char *) file.data, NULL)
        != 1) {
        dm_ssl_conf_error(cf, "cannot load client certificates \"%s\"",
                          (const char *) file.data);
        return DM_ERROR;
    }
    /* the CAs named in the CertificateRequest */
    names = SSL_load_client_CA_file((const char *) file.data);
    if (names == NULL) {
        dm_ssl_conf_error(cf, "cannot read CA names from \"%s\"",
                          (const char *) file.data);
        return DM_ERROR;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    return DM_OK;
}

/* --- OCSP stapling from a file ------------------------------------------ */

static int
dm_ssl_status(SSL *ssl, void *arg)
{
    dm_ssl_srv_conf_t *conf;
    u_char *p;

    (void) arg;
    conf = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), dm_ssl_ctx_index);
    if (conf == NULL || conf->ocsp == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    /* OpenSSL takes ownership of the copy */
    p = OPENSSL_malloc(conf->ocsp_len);
    if (p == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    memcpy(p, conf->ocsp, conf->ocsp_len);
    SSL_set_tlsext_status_ocsp_resp(ssl, p, (long) conf->ocsp_len);
    return SSL_TLSEXT_ERR_OK;
}

static dm_int_t
dm_ssl_ctx_stapling(dm_conf_t *cf, SSL_CTX *ctx, dm_ssl_srv_conf_t *conf)
{
    dm_str_t file = conf->stapling_file;
    struct stat st;
    ssize_t n;
    int fd;

    if (!conf->stapling) {
        return DM_OK;
    }
    if (file.len == 0) {
        /* doorman does not query OCSP responders from a worker */
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"ssl_stapling\" needs \"ssl_stapling_file\"");
        return DM_ERROR;
    }
    if (dm_conf_full_name(cf->cycle, &file, 1) != DM_OK) {
        return DM_ERROR;
    }
    fd = open((const char *) file.data, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_size <= 0
        || st.st_size > 1024 * 1024) {
        dm_conf_log_error(DM_LOG_EMERG, cf, fd == -1 ? errno : 0,
                          "cannot read the OCSP response \"%s\"",
                          (const char *) file.data);
        if (fd != -1) {
            close(fd);
        }
        return DM_ERROR;
    }
    conf->ocsp = dm_pnalloc(cf->pool, (size_t) st.st_size);
    n = conf->ocsp ? read(fd, conf->ocsp, (size_t) st.st_size) : -1;
    close(fd);
    if (n != st.st_size) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno,
                          "cannot read the OCSP response \"%s\"",
                          (const char *) file.data);
        return DM_ERROR;
    }
    conf->ocsp_len = (size_t) n;
    SSL_CTX_set_tlsext_status_cb(ctx, dm_ssl_status);
    return DM_OK;
}

/* --- the server context ------------------------------------------------- */

static dm_int_t
dm_ssl_ctx_indexes(void)
{
    if (dm_ssl_ctx_index == -1) {
        dm_ssl_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        dm_ssl_sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    return dm_ssl_ctx_index == -1 || dm_ssl_sni_index == -1 ? DM_ERROR : DM_OK;
}

static void
dm_ssl_ctx_cleanup(void *data)
{
    SSL_CTX_free(data);
}

SSL_CTX *
dm_ssl_ctx_new(dm_conf_t *cf, const SSL_METHOD *method)
{
    dm_pool_cleanup_t *cln;
    SSL_CTX *ctx;

    ctx = SSL_CTX_new(method);
    if (ctx == NULL) {
        dm_ssl_conf_error(cf, "%sSSL_CTX_new() failed", "");
        return NULL;
    }
    cln = dm_pool_cleanup_add(cf->cycle->pool, 0);
    if (cln == NULL) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    cln->handler = dm_ssl_ctx_cleanup;
    cln->data = ctx;

    /* partial writes and retries from a moved buffer: the engines resend
       from where they stopped, maybe from another buffer; no
       renegotiation, no compression; buffers of idle connections given
       back, as nginx */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                              | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    return ctx;
}

dm_int_t
dm_ssl_ctx_commands(dm_conf_t *cf, SSL_CTX *ctx, dm_array_t *commands,
                    int client)
{
    SSL_CONF_CTX *cctx;
    dm_keyval_t *kv = commands->elts;
    dm_uint_t i;

    cctx = SSL_CONF_CTX_new();
    if (cctx == NULL) {
        dm_ssl_conf_error(cf, "%sSSL_CONF_CTX_new() failed", "");
        return DM_ERROR;
    }
    SSL_CONF_CTX_set_flags(
        cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_CERTIFICATE
                  | SSL_CONF_FLAG_SHOW_ERRORS
                  | (client ? SSL_CONF_FLAG_CLIENT : SSL_CONF_FLAG_SERVER));
    SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
    for (i = 0; i < commands->nelts; i++) {
        if (SSL_CONF_cmd(cctx, (const char *) kv[i].key.data,
                         (const char *) kv[i].value.data)
            <= 0) {
            SSL_CONF_CTX_free(cctx);
            dm_ssl_conf_error(cf, "%s failed", (const char *) kv[i].key.data);
            return DM_ERROR;
        }
    }
    if (SSL_CONF_CTX_finish(cctx) != 1) {
        SSL_CONF_CTX_free(cctx);
        dm_ssl_conf_error(cf, "%sthe conf commands failed", "");
        return DM_ERROR;
    }
    SSL_CONF_CTX_free(cctx);
    return DM_OK;
}

/*
 * Builds conf->ctx from a merged structure. The context is freed with
 * the configuration's pool (after the last connection using it went, as
 * OpenSSL counts references).
 */
dm_int_t
dm_ssl_ctx_build(dm_conf_t *cf, dm_ssl_srv_conf_t *conf,
                 const dm_ssl_alpn_t *alpn)
{
    dm_str_t *certs = conf->certificates->elts;
    dm_str_t *keys = conf->certificate_keys->elts;
    dm_str_t cert, key;
    SSL_CTX *ctx;
    dm_uint_t i;

    if (dm_ssl_ctx_indexes() != DM_OK) {
        dm_ssl_conf_error(cf, "%sSSL_CTX_get_ex_new_index() failed", "");
        return DM_ERROR;
    }
    ctx = dm_ssl_ctx_new(cf, TLS_server_method());
    if (ctx == NULL) {
        return DM_ERROR;
    }
    conf->ctx = ctx;
    SSL_CTX_set_ex_data(ctx, dm_ssl_ctx_index, conf);
    if (conf->prefer_server_ciphers) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    if (dm_ssl_ctx_protocols(ctx, conf->protocols) != DM_OK) {
        dm_ssl_conf_error(cf, "%scannot set ssl_protocols", "");
        return DM_ERROR;
    }
    if (SSL_CTX_set_cipher_list(ctx, (const char *) conf->ciphers.data) != 1) {
        dm_ssl_conf_error(cf, "cannot set ssl_ciphers \"%s\"",
                          (const char *) conf->ciphers.data);
        return DM_ERROR;
    }
    for (i = 0; i < conf->certificates->nelts; i++) {
        cert = certs[i];
        key = keys[i];
        if (dm_conf_full_name(cf->cycle, &cert, 1) != DM_OK
            || dm_conf_full_name(cf->cycle, &key, 1) != DM_OK
            || dm_ssl_ctx_certificate(cf, ctx, &cert, &key) != DM_OK) {
            return DM_ERROR;
        }
    }
    if (dm_ssl_ctx_client_verify(cf, ctx, conf) != DM_OK
        || dm_ssl_ctx_stapling(cf, ctx, conf) != DM_OK) {
        return DM_ERROR;
    }
    if (alpn) {
        SSL_CTX_set_alpn_select_cb(ctx, dm_ssl_alpn_select, (void *) alpn);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, dm_ssl_servername);

    /* ssl_conf_command last: it may override anything above */
    if (conf->conf_commands
        && dm_ssl_ctx_commands(cf, ctx, conf->conf_commands, 0) != DM_OK) {
        return DM_ERROR;
    }
    return dm_ssl_session_setup(cf, conf);
}
