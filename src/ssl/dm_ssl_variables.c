/*
 * doorman: the $ssl_* variables, for both engines. On a plain
 * connection each is empty (not found), as nginx's.
 */
#include <dm_core.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <dm_ssl.h>

#define DM_SSL_VAR_PROTOCOL    0
#define DM_SSL_VAR_CIPHER      1
#define DM_SSL_VAR_SERVER_NAME 2
#define DM_SSL_VAR_REUSED      3
#define DM_SSL_VAR_SESSION_ID  4
#define DM_SSL_VAR_ALPN        5

/* The SSL object of a connection that finished its handshake, or NULL. */
static SSL *
dm_ssl_var_ssl(dm_variable_env_t *env, dm_variable_value_t *v)
{
    dm_ssl_connection_t *sc = env->connection->ssl;

    if (sc == NULL || !sc->handshaked) {
        v->not_found = 1;
        return NULL;
    }
    return sc->ssl;
}

static dm_int_t
dm_ssl_var_copy(dm_variable_env_t *env, dm_variable_value_t *v, const u_char *p,
                size_t len)
{
    u_char *d;

    if (p == NULL) {
        v->not_found = 1;
        return DM_OK;
    }
    d = dm_pnalloc(env->pool, len ? len : 1);
    if (d == NULL) {
        return DM_ERROR;
    }
    memcpy(d, p, len);
    v->data = d;
    v->len = len;
    return DM_OK;
}

static dm_int_t
dm_ssl_var_hex(dm_variable_env_t *env, dm_variable_value_t *v, const u_char *p,
               size_t len)
{
    static const char hex[] = "0123456789abcdef";
    u_char *d;
    size_t i;

    d = dm_pnalloc(env->pool, 2 * len + 1);
    if (d == NULL) {
        return DM_ERROR;
    }
    for (i = 0; i < len; i++) {
        d[2 * i] = (u_char) hex[p[i] >> 4];
        d[2 * i + 1] = (u_char) hex[p[i] & 0xf];
    }
    v->data = d;
    v->len = 2 * len;
    return DM_OK;
}

static dm_int_t
dm_ssl_var_string(dm_variable_env_t *env, dm_variable_value_t *v,
                  uintptr_t data)
{
    SSL *ssl = dm_ssl_var_ssl(env, v);
    const unsigned char *alpn;
    SSL_SESSION *sess;
    unsigned int alen;
    const char *s = NULL;

    if (ssl == NULL) {
        return DM_OK;
    }
    switch (data) {
    case DM_SSL_VAR_PROTOCOL:
        s = SSL_get_version(ssl);
        break;
    case DM_SSL_VAR_CIPHER:
        s = SSL_get_cipher_name(ssl);
        break;
    case DM_SSL_VAR_SERVER_NAME:
        s = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        break;
    case DM_SSL_VAR_REUSED:
        s = SSL_session_reused(ssl) ? "r" : ".";
        break;
    case DM_SSL_VAR_SESSION_ID:
        sess = SSL_get_session(ssl);
        if (sess) {
            const unsigned char *id;

            id = SSL_SESSION_get_id(sess, &alen);
            return dm_ssl_var_hex(env, v, id, alen);
        }
        break;
    case DM_SSL_VAR_ALPN:
        SSL_get0_alpn_selected(ssl, &alpn, &alen);
        return alen ? dm_ssl_var_copy(env, v, alpn, alen)
                    : dm_variable_set_str(v, (u_char *) "", 0);
    }
    return dm_ssl_var_copy(env, v, (const u_char *) s, s ? strlen(s) : 0);
}

#define DM_SSL_VAR_S_DN        0
#define DM_SSL_VAR_I_DN        1
#define DM_SSL_VAR_FINGERPRINT 2
#define DM_SSL_VAR_SERIAL      3

/* The client's certificate fields; empty when it sent none. */
static dm_int_t
dm_ssl_var_cert(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t data)
{
    SSL *ssl = dm_ssl_var_ssl(env, v);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen;
    dm_int_t rc = DM_ERROR;
    X509_NAME *name;
    BIO *bio;
    char *p;
    long len;
    X509 *x;

    if (ssl == NULL) {
        return DM_OK;
    }
    x = SSL_get1_peer_certificate(ssl);
    if (x == NULL) {
        v->not_found = 1;
        return DM_OK;
    }
    if (data == DM_SSL_VAR_FINGERPRINT) {
        rc = X509_digest(x, EVP_sha1(), md, &mdlen) == 1
                 ? dm_ssl_var_hex(env, v, md, mdlen)
                 : DM_ERROR;
        X509_free(x);
        return rc;
    }
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        X509_free(x);
        return DM_ERROR;
    }
    if (data == DM_SSL_VAR_SERIAL) {
        if (i2a_ASN1_INTEGER(bio, X509_get0_serialNumber(x)) < 0) {
            goto done;
        }
    } else {
        /* RFC 2253 form, as nginx's $ssl_client_s_dn:
           CN=client-1,O=Doorman Test */
        name = data == DM_SSL_VAR_S_DN ? X509_get_subject_name(x)
                                       : X509_get_issuer_name(x);
        if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
            goto done;
        }
    }
    len = BIO_get_mem_data(bio, &p);
    rc = dm_ssl_var_copy(env, v, (const u_char *) p, (size_t) len);
done:
    BIO_free(bio);
    X509_free(x);
    return rc;
}

/* SUCCESS, FAILED:reason, or NONE, as nginx's $ssl_client_verify. */
static dm_int_t
dm_ssl_var_verify(dm_variable_env_t *env, dm_variable_value_t *v,
                  uintptr_t data)
{
    SSL *ssl = dm_ssl_var_ssl(env, v);
    const char *reason;
    long rc;
    X509 *x;
    u_char *d;
    size_t n;

    (void) data;
    if (ssl == NULL) {
        return DM_OK;
    }
    x = SSL_get1_peer_certificate(ssl);
    if (x == NULL) {
        return dm_variable_set_str(v, (u_char *) "NONE", 4);
    }
    X509_free(x);
    rc = SSL_get_verify_result(ssl);
    if (rc == X509_V_OK) {
        return dm_variable_set_str(v, (u_char *) "SUCCESS", 7);
    }
    reason = X509_verify_cert_error_string(rc);
    n = 7 + strlen(reason);
    d = dm_pnalloc(env->pool, n + 1);
    if (d == NULL) {
        return DM_ERROR;
    }
    (void) snprintf((char *) d, n + 1, "FAILED:%s", reason);
    v->data = d;
    v->len = n;
    return DM_OK;
}

dm_int_t
dm_ssl_variables_add(dm_conf_t *cf, dm_variable_registry_t *reg)
{
    static const dm_variable_decl_t vars[] = {
        {"ssl_protocol", dm_ssl_var_string, DM_SSL_VAR_PROTOCOL, 0},
        {"ssl_cipher", dm_ssl_var_string, DM_SSL_VAR_CIPHER, 0},
        {"ssl_server_name", dm_ssl_var_string, DM_SSL_VAR_SERVER_NAME, 0},
        {"ssl_session_reused", dm_ssl_var_string, DM_SSL_VAR_REUSED, 0},
        {"ssl_session_id", dm_ssl_var_string, DM_SSL_VAR_SESSION_ID, 0},
        {"ssl_alpn_protocol", dm_ssl_var_string, DM_SSL_VAR_ALPN, 0},
        {"ssl_client_s_dn", dm_ssl_var_cert, DM_SSL_VAR_S_DN, 0},
        {"ssl_client_i_dn", dm_ssl_var_cert, DM_SSL_VAR_I_DN, 0},
        {"ssl_client_fingerprint", dm_ssl_var_cert, DM_SSL_VAR_FINGERPRINT, 0},
        {"ssl_client_serial", dm_ssl_var_cert, DM_SSL_VAR_SERIAL, 0},
        {"ssl_client_verify", dm_ssl_var_verify, 0, 0},
    };

    return dm_variable_add_table(cf, reg, vars, dm_nelems(vars));
}
