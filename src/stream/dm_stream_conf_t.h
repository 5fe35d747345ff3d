/*
 * doorman: the stream { } engine's configuration, types.
 */
#ifndef DM_STREAM_CONF_T_H
#define DM_STREAM_CONF_T_H

#include <dm_listen_opts.h>

/* The stream phases, in order (DESIGN.md section 5). */
#define DM_STREAM_POST_ACCEPT_PHASE 0 /* proxy_protocol */
#define DM_STREAM_PREACCESS_PHASE   1 /* connection limits */
#define DM_STREAM_ACCESS_PHASE      2 /* allow / deny */
#define DM_STREAM_SSL_PHASE         3 /* TLS handshake */
#define DM_STREAM_PREREAD_PHASE     4 /* ssl_preread */
#define DM_STREAM_CONTENT_PHASE     5 /* proxy_pass, return */
#define DM_STREAM_LOG_PHASE         6 /* access log, at finalization */
#define DM_STREAM_PHASES            7

typedef struct dm_stream_session_s dm_stream_session_t;

/*
 * A server's content handler (return, proxy_pass): it owns the session
 * from then on and finalizes it. Returns DM_DONE, or DM_ERROR to have the
 * engine finalize with status 500.
 */
typedef dm_int_t (*dm_stream_content_pt)(dm_stream_session_t *s);

/* The stream core module's main structure. */
typedef struct {
    dm_array_t servers;       /* dm_stream_core_srv_conf_t *, file order */
    dm_array_t listen;        /* dm_stream_listen_t, every listen line */
    dm_phase_engine_t phases; /* the pipeline every session walks */
    dm_variable_registry_t variables; /* the stream engine's variables */
} dm_stream_core_main_conf_t;

/* The stream core module's per-server structure. */
typedef struct {
    dm_conf_ctx_t *ctx; /* the server's context */
    dm_str_t file;      /* where the server block starts */
    dm_uint_t line;
    dm_stream_content_pt handler; /* set by the content directive */
    const char *handler_name;     /* its directive, for "duplicate" */
} dm_stream_core_srv_conf_t;

/* One listen directive of a stream server. */
typedef struct {
    dm_inet_addr_t addr;               /* what to bind */
    dm_stream_core_srv_conf_t *server; /* whose it is */
    dm_str_t file;                     /* where the directive is */
    dm_uint_t line;
    dm_listen_opts_t opts; /* the shared parameters */
    unsigned udp:1;        /* listen ... udp */
} dm_stream_listen_t;

/* The servers reachable through one listening socket. */
typedef struct {
    dm_inet_addr_t addr;               /* a specific local address */
    dm_stream_core_srv_conf_t *server; /* the server for it */
    unsigned ssl:1;                    /* listen ... ssl */
    unsigned proxy_protocol:1;         /* listen ... proxy_protocol */
} dm_stream_addr_t;

typedef struct {
    dm_stream_addr_t *addrs; /* specific addresses first, the socket's own
                                address (maybe a wildcard) last */
    dm_uint_t naddrs;
} dm_stream_port_t;

/* The stream module's structure (top level): the stream block's context. */
typedef struct {
    dm_conf_ctx_t *ctx; /* NULL when the file has no stream block */
} dm_stream_conf_t;

#endif /* DM_STREAM_CONF_T_H */
