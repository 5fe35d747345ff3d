/*
 * doorman: TLS with OpenSSL 3, shared by both engines and both sides.
 *
 * Contexts (SSL_CTX) are built while the configuration is read, so by the
 * master, before it drops privileges: certificates, private keys, CA
 * lists, OCSP responses and ticket key files are read once there and
 * workers inherit them through fork(). A reload builds new contexts;
 * connections that started on the old ones keep them (OpenSSL counts the
 * references) until they finish.
 *
 * A connection is put under TLS with dm_ssl_create_connection() and driven
 * through its handshake by dm_ssl_handshake(), which never blocks: it
 * returns DM_AGAIN until the read or write event the caller waits on
 * fires. Once done, the connection's recv/send/send_chain hooks move
 * bytes through TLS, and the engines above do not notice the difference.
 *
 * Sources: dm_ssl.c (library, contexts, certificates), dm_ssl_conf.c
 * (the server-side directives), dm_ssl_io.c (connections, handshake,
 * I/O hooks), dm_ssl_session.c (shared session cache, ticket key ring),
 * dm_ssl_client.c (the proxy_ssl_* side), dm_ssl_variables.c ($ssl_*).
 *
 * Files that include this header include <openssl/ssl.h> before it.
 */
#ifndef DM_SSL_H
#define DM_SSL_H

/* ssl_protocols / proxy_ssl_protocols bits */
#define DM_SSL_TLSv1             0x01
#define DM_SSL_TLSv1_1           0x02
#define DM_SSL_TLSv1_2           0x04
#define DM_SSL_TLSv1_3           0x08
#define DM_SSL_DEFAULT_PROTOCOLS (DM_SSL_TLSv1_2 | DM_SSL_TLSv1_3)

/* ssl_verify_client */
#define DM_SSL_VERIFY_OFF            0
#define DM_SSL_VERIFY_ON             1
#define DM_SSL_VERIFY_OPTIONAL       2
#define DM_SSL_VERIFY_OPTIONAL_NO_CA 3

/* ssl_session_cache */
#define DM_SSL_CACHE_OFF    0 /* no cache, and clients are told so */
#define DM_SSL_CACHE_NONE   1 /* no cache, session ids still given */
#define DM_SSL_CACHE_SHARED 2 /* shared:NAME:SIZE */

/* The default ssl_ciphers and proxy_ssl_ciphers, as nginx's. */
#define DM_SSL_DEFAULT_CIPHERS "HIGH:!aNULL:!MD5"

/* A ticket key: name, HMAC secret, AES-256 key (nginx's 80-byte file). */
typedef struct {
    u_char name[16];
    u_char hmac[32];
    u_char aes[32];
} dm_ssl_ticket_key_t;

/*
 * The server side of a server block (http or stream): what the
 * directives set, and the context built from it. Both engines' ssl
 * modules use this structure as their per-server configuration.
 */
typedef struct {
    dm_array_t *certificates;     /* ssl_certificate, dm_str_t */
    dm_array_t *certificate_keys; /* ssl_certificate_key, dm_str_t */
    dm_uint_t protocols;          /* ssl_protocols bits */
    dm_str_t ciphers;             /* ssl_ciphers */
    dm_array_t *conf_commands;    /* ssl_conf_command, dm_keyval_t */
    dm_flag_t prefer_server_ciphers;
    dm_msec_t handshake_timeout;      /* ssl_handshake_timeout (60s) */
    dm_int_t session_cache;           /* DM_SSL_CACHE_*, DM_CONF_UNSET */
    struct dm_shm_zone_s *cache_zone; /* shared:NAME:SIZE */
    dm_flag_t session_tickets;        /* ssl_session_tickets (on) */
    dm_array_t *ticket_key_files;     /* ssl_session_ticket_key, dm_str_t */
    dm_msec_t session_timeout;        /* ssl_session_timeout (5m) */
    dm_str_t client_certificate;      /* ssl_client_certificate */
    dm_uint_t verify;                 /* ssl_verify_client, DM_SSL_VERIFY_* */
    dm_int_t verify_depth;            /* ssl_verify_depth (1) */
    dm_flag_t stapling;               /* ssl_stapling (off) */
    dm_str_t stapling_file;           /* ssl_stapling_file */

    /* built by dm_ssl_srv_conf_merge */
    struct ssl_ctx_st *ctx; /* NULL when the server has no pair */
    u_char sid_ctx[32];     /* the session id context */
    size_t sid_ctx_len;
    u_char *ocsp; /* the stapled OCSP response (DER) */
    size_t ocsp_len;
} dm_ssl_srv_conf_t;

/*
 * The server-side directives, for the ssl module of either engine (its
 * per-server structure is a dm_ssl_srv_conf_t): one table valid in the
 * main and server contexts of stream and http.
 */
extern const dm_command_t dm_ssl_srv_commands[];

extern const dm_conf_bounds_t dm_ssl_time_bounds;
extern const dm_conf_bounds_t dm_ssl_depth_bounds;
extern const dm_conf_enum_t dm_ssl_verify_modes[];

/* ssl_protocols and proxy_ssl_protocols: TLSv1 ... TLSv1.3 into bits. */
char *dm_ssl_set_protocols(dm_conf_t *cf, const dm_command_t *cmd, void *conf);

/* ssl_session_cache off|none|shared:NAME:SIZE (dm_ssl_session.c). */
char *dm_ssl_set_session_cache(dm_conf_t *cf, const dm_command_t *cmd,
                               void *conf);

/* --- contexts (dm_ssl.c, dm_ssl_conf.c) --------------------------------- */

/*
 * ALPN names a listener offers, in preference order, in the wire format
 * (length-prefixed): "\x08http/1.1" for http. h2 will go first here.
 */
typedef struct {
    const u_char *data;
    size_t len;
} dm_ssl_alpn_t;

extern const dm_ssl_alpn_t dm_ssl_alpn_http;

/* A fresh server-side structure, every field unset. NULL on failure. */
dm_ssl_srv_conf_t *dm_ssl_srv_conf_create(dm_conf_t *cf);

/*
 * Merges a server's structure with its parent's and, when the server has
 * at least one certificate pair, builds its context: protocols, ciphers,
 * conf commands, certificates and keys (paths relative to the
 * configuration's directory), client verification, stapling, session
 * cache and tickets, and ALPN (alpn may be NULL: none offered). Returns
 * DM_CONF_OK or an error after dm_conf_log_error.
 */
char *dm_ssl_srv_conf_merge(dm_conf_t *cf, dm_ssl_srv_conf_t *prev,
                            dm_ssl_srv_conf_t *conf, const dm_ssl_alpn_t *alpn);

/*
 * The SNI hook of an engine: for a connection and the name the client
 * sent (lower case, not empty), the server-side structure of the server
 * that name chooses, or NULL to keep the default. Set once per engine.
 */
typedef dm_ssl_srv_conf_t *(*dm_ssl_sni_pt)(dm_connection_t *c,
                                            const dm_str_t *name);

/*
 * Sets the SNI hook of a context (the default server's of a listener).
 */
void dm_ssl_set_sni(struct ssl_ctx_st *ctx, dm_ssl_sni_pt handler);

/*
 * Logs the OpenSSL error queue (emptying it) after `text` at `level`.
 * For the configuration, use dm_ssl_conf_error.
 */
void dm_ssl_error(dm_uint_t level, dm_log_t *log, dm_err_t err,
                  const char *text);
void dm_ssl_conf_error(dm_conf_t *cf, const char *fmt, const char *arg);

/*
 * A resumed session made by a server with another policy than conf's: a
 * TLS 1.3 session is looked up before SNI switches the server, so a
 * session of a public server could otherwise open one that verifies
 * client certificates (nginx's CVE-2025-23419). True for such a session
 * on a server that verifies clients (logged at info).
 */
int dm_ssl_session_foreign(dm_connection_t *c, dm_ssl_srv_conf_t *conf);

/*
 * After the handshake, what ssl_verify_client of conf says of the
 * client's certificate: 0 (acceptable, or no verification), 495 (it
 * failed verification; optional_no_ca lets an unknown issuer pass), or
 * 496 (none sent where one is required), nginx's codes. Logged at info.
 */
dm_uint_t dm_ssl_verify_client(dm_connection_t *c, dm_ssl_srv_conf_t *conf);

/*
 * A new context for `method` (TLS_server_method(), TLS_client_method()),
 * freed with the cycle, with the modes both sides need: partial writes,
 * retries from a moved buffer, buffers released while idle; no
 * renegotiation, no compression. NULL after dm_conf_log_error.
 */
struct ssl_ctx_st *dm_ssl_ctx_new(dm_conf_t *cf,
                                  const struct ssl_method_st *method);

/*
 * Applies ssl_conf_command / proxy_ssl_conf_command pairs (dm_keyval_t)
 * to ctx through SSL_CONF_cmd, last, so that they override the
 * directives. Returns DM_OK, or DM_ERROR after dm_conf_log_error naming
 * the command.
 */
dm_int_t dm_ssl_ctx_commands(dm_conf_t *cf, struct ssl_ctx_st *ctx,
                             dm_array_t *commands, int client);

/*
 * Applies protocol bits to a context (min/max versions, and SSL_OP_NO_*
 * for a gap). Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_ssl_ctx_protocols(struct ssl_ctx_st *ctx, dm_uint_t protocols);

/*
 * Loads a certificate chain and its private key into ctx (several pairs
 * of different key types may be loaded side by side). `cert` and `key`
 * are full paths. Never logs key material. Returns DM_OK, or DM_ERROR
 * after dm_conf_log_error.
 */
dm_int_t dm_ssl_ctx_certificate(dm_conf_t *cf, struct ssl_ctx_st *ctx,
                                const dm_str_t *cert, const dm_str_t *key);

/*
 * Builds conf->ctx from a merged server-side structure (every field set,
 * at least one pair), then dm_ssl_session_setup. The context is freed
 * with the cycle. Returns DM_OK, or DM_ERROR after dm_conf_log_error.
 */
dm_int_t dm_ssl_ctx_build(dm_conf_t *cf, dm_ssl_srv_conf_t *conf,
                          const dm_ssl_alpn_t *alpn);

/* --- sessions (dm_ssl_session.c) ---------------------------------------- */

/*
 * Sets up resumption on a server context just built: the session cache
 * (off, none, or the shared zone: new/get/remove callbacks storing
 * serialized sessions under the zone lock, oldest evicted when full,
 * expired after ssl_session_timeout), the session id context, tickets
 * (off: SSL_OP_NO_TICKET; keys from ssl_session_ticket_key files, the
 * first encrypting; else the key ring of the shared zone every server
 * uses, rotated by whichever process first sees the encrypting key old,
 * kept across reload and binary upgrade), one ticket per handshake,
 * 0-RTT off. Returns DM_OK, or DM_ERROR after dm_conf_log_error.
 */
dm_int_t dm_ssl_session_setup(dm_conf_t *cf, dm_ssl_srv_conf_t *conf);

/* --- connections (dm_ssl_io.c) ------------------------------------------ */

/* Per-connection TLS state, c->ssl. */
typedef struct {
    struct ssl_st *ssl;
    dm_ssl_srv_conf_t *conf; /* server side: the server SNI chose */
    unsigned client:1;       /* we are the client (upstream) */
    unsigned handshaked:1;   /* the handshake completed */
    unsigned sni:1;          /* the client sent a server name */
    unsigned shut:1;         /* close_notify sent */
    unsigned no_shutdown:1;  /* close without close_notify */
} dm_ssl_connection_t;

/*
 * Puts c under TLS with ctx, as the server (client = 0) or the client
 * (client = 1; set SNI, verification name and session before the
 * handshake with SSL_* on ((dm_ssl_connection_t *) c->ssl)->ssl). `conf`
 * (server side, may be NULL) is the default server's structure. The SSL
 * object is freed when c closes. Returns DM_OK or DM_ERROR (logged).
 */
dm_int_t dm_ssl_create_connection(struct ssl_ctx_st *ctx, dm_connection_t *c,
                                  int client, dm_ssl_srv_conf_t *conf);

/*
 * Advances the handshake. Returns DM_OK when it completed (the hooks now
 * move bytes through TLS), DM_AGAIN when it waits for c's read or write
 * event (both are always registered; call again from either handler), or
 * DM_ERROR (logged: info for the client's doing, c->error set).
 */
dm_int_t dm_ssl_handshake(dm_connection_t *c);

/* Sends close_notify once, without waiting (lingering close, close). */
void dm_ssl_shutdown(dm_connection_t *c);

/* Frees the TLS state of c (dm_connection_close calls it). */
void dm_ssl_free(dm_connection_t *c);

/* The connection of an SSL object (callbacks), or NULL. */
dm_connection_t *dm_ssl_get_connection(const struct ssl_st *ssl);

/* --- the client side: proxy_ssl_* (dm_ssl_client.c) --------------------- */

/*
 * TLS to upstreams, per http location (proxy_pass https://) or stream
 * server (proxy_ssl on): the directives, and the client context built
 * from them. Embedded in the proxy modules' structures.
 */
typedef struct {
    dm_flag_t enable;             /* stream proxy_ssl; http: https:// */
    dm_flag_t verify;             /* proxy_ssl_verify (off) */
    dm_int_t verify_depth;        /* proxy_ssl_verify_depth (1) */
    dm_str_t trusted_certificate; /* proxy_ssl_trusted_certificate */
    dm_str_t name;                /* proxy_ssl_name (the proxy_pass host) */
    dm_flag_t server_name;        /* proxy_ssl_server_name (off) */
    dm_str_t certificate;         /* proxy_ssl_certificate */
    dm_str_t certificate_key;     /* proxy_ssl_certificate_key */
    dm_uint_t protocols;          /* proxy_ssl_protocols */
    dm_str_t ciphers;             /* proxy_ssl_ciphers */
    dm_array_t *conf_commands;    /* proxy_ssl_conf_command */
    dm_flag_t session_reuse;      /* proxy_ssl_session_reuse (on) */

    struct ssl_ctx_st *ctx;         /* built by dm_ssl_client_conf_merge */
    struct ssl_session_st *session; /* this worker's last session */
} dm_ssl_client_conf_t;

/*
 * The client-side directives for a structure that embeds a
 * dm_ssl_client_conf_t at offset `base` of the level `level`.
 */
#define DM_SSL_CLI(level, base, f)                                             \
    level, (base) + offsetof(dm_ssl_client_conf_t, f)

/* Fills every field unset. */
void dm_ssl_client_conf_init(dm_ssl_client_conf_t *conf);

/*
 * Merges with the parent's and, when enabled (or `need` is set: an
 * https:// proxy_pass), builds the client context: protocols, ciphers,
 * verification against the trusted certificates with depth, the client
 * certificate pair, session cache on the client side. `default_name` is
 * the proxy_pass host, used when proxy_ssl_name is not set. Returns
 * DM_CONF_OK or an error after dm_conf_log_error.
 */
char *dm_ssl_client_conf_merge(dm_conf_t *cf, dm_ssl_client_conf_t *prev,
                               dm_ssl_client_conf_t *conf, int need,
                               const dm_str_t *default_name);

/*
 * Starts TLS on an upstream connection that just connected: SNI (when
 * proxy_ssl_server_name is on), the name to verify (proxy_ssl_verify),
 * the saved session (proxy_ssl_session_reuse). Then call
 * dm_ssl_handshake; after DM_OK call dm_ssl_client_verify. Returns DM_OK
 * or DM_ERROR (logged).
 */
dm_int_t dm_ssl_client_start(dm_ssl_client_conf_t *conf, dm_connection_t *u);

/*
 * After the handshake: checks the result of verification (when on) and
 * saves the session for reuse. Returns DM_OK, or DM_ERROR after logging
 * "upstream SSL certificate verify error: (N:TEXT)". After a failed
 * handshake it logs that line when the certificate was the reason, and
 * returns DM_ERROR.
 */
dm_int_t dm_ssl_client_verify(dm_ssl_client_conf_t *conf, dm_connection_t *u);

/*
 * As dm_ssl_client_start, for a proxy_pass whose host is known only at
 * run time (proxy_pass https://$var): `host` (a port allowed) is the name
 * when proxy_ssl_name is not set; NULL is dm_ssl_client_start.
 */
dm_int_t dm_ssl_client_start_host(dm_ssl_client_conf_t *conf,
                                  dm_connection_t *u, const dm_str_t *host);

/* --- variables (dm_ssl_variables.c) ------------------------------------- */

/*
 * Declares $ssl_protocol $ssl_cipher $ssl_server_name $ssl_session_reused
 * $ssl_session_id $ssl_client_s_dn $ssl_client_i_dn $ssl_client_verify
 * $ssl_client_fingerprint $ssl_client_serial $ssl_alpn_protocol in an
 * engine's registry (empty on a plain connection). DM_OK or DM_ERROR.
 */
dm_int_t dm_ssl_variables_add(dm_conf_t *cf, dm_variable_registry_t *reg);

#endif /* DM_SSL_H */
