/*
 * doorman: the http_proxy module: the L7 proxy, shared between its files
 * (configuration, upstream exchange, body relays, keep-alive pool,
 * tunnels, variables).
 *
 * Files that include it include <openssl/ssl.h> and <dm_ssl.h> before it
 * (a location embeds its proxy_ssl_* structure).
 */
#ifndef DM_HTTP_PROXY_H
#define DM_HTTP_PROXY_H

#include <dm_upstream.h>
#include <dm_http_proxy_head.h>

/* proxy_next_upstream conditions. */
#define DM_HTTP_PROXY_FT_ERROR          0x0001
#define DM_HTTP_PROXY_FT_TIMEOUT        0x0002
#define DM_HTTP_PROXY_FT_INVALID_HEADER 0x0004
#define DM_HTTP_PROXY_FT_500            0x0008
#define DM_HTTP_PROXY_FT_502            0x0010
#define DM_HTTP_PROXY_FT_503            0x0020
#define DM_HTTP_PROXY_FT_504            0x0040
#define DM_HTTP_PROXY_FT_429            0x0080
#define DM_HTTP_PROXY_FT_NON_IDEMPOTENT 0x0100
#define DM_HTTP_PROXY_FT_OFF            0x8000

/* One proxy_set_header line. */
typedef struct {
    dm_str_t name;
    dm_complex_value_t value;
} dm_http_proxy_set_t;

/* The module's per-location structure. */
typedef struct {
    dm_upstream_srv_conf_t *upstream; /* proxy_pass http://NAME or ADDR */
    dm_str_t upstream_name;           /* resolved after the block */
    dm_complex_value_t *target;       /* proxy_pass http://$var... */
    dm_str_t uri;                     /* the URI part of proxy_pass */
    dm_str_t host;                    /* $proxy_host: NAME or ADDR:PORT */
    dm_str_t loc_prefix;              /* the location's prefix (URI swap) */
    unsigned has_uri:1;               /* proxy_pass had a URI part */
    unsigned https:1;                 /* proxy_pass https:// */
    dm_array_t *set;                  /* dm_http_proxy_set_t, NULL: unset */
    dm_array_t *hide;       /* dm_str_t proxy_hide_header, NULL: unset */
    dm_array_t *pass;       /* dm_str_t proxy_pass_header, NULL: unset */
    dm_uint_t http_version; /* proxy_http_version: 10 or 11 (11) */
    dm_msec_t connect_timeout;
    dm_msec_t send_timeout;
    dm_msec_t read_timeout;
    dm_msec_t tunnel_timeout;        /* proxy_tunnel_timeout (1h) */
    dm_uint_t next_upstream;         /* DM_HTTP_PROXY_FT_* */
    dm_int_t next_upstream_tries;    /* 0: no limit */
    dm_msec_t next_upstream_timeout; /* 0: no limit */
    dm_flag_t buffering;             /* proxy_buffering (on) */
    dm_flag_t request_buffering;     /* proxy_request_buffering (on) */
    size_t buffer_size;              /* proxy_buffer_size (16k): the
                                         response head's bound */
    size_t buffers;                  /* proxy_buffers N SIZE: N * SIZE,
                                         each direction's buffer (64k) */
    dm_uint_t add;                   /* DM_HTTP_PROXY_* forwarding fields */
    dm_uint_t add_set;               /* which of them were configured */
    dm_flag_t underscores;           /* underscores_in_headers (off) */
    dm_ssl_client_conf_t ssl;        /* proxy_ssl_*; its context is built
                                        for https:// */
    dm_flag_t pp;                    /* proxy_protocol (off) */
    dm_uint_t pp_version;            /* proxy_protocol_version (1) */
    dm_array_t *pp_tlvs;             /* proxy_protocol_tlv */
    dm_str_t file;                   /* the proxy_pass line */
    dm_uint_t line;
} dm_http_proxy_loc_conf_t;

/* Per upstream { } block (the module's srv structure there). */
typedef struct {
    dm_int_t keepalive;          /* idle connections per worker (32) */
    dm_msec_t keepalive_timeout; /* 60s */
    dm_int_t keepalive_requests; /* 1000 */
} dm_http_proxy_ups_conf_t;

/* One direction's buffer (a byte ring would need two writes; a flat
   buffer compacted when its head is consumed keeps one). */
typedef struct {
    u_char *start, *pos, *last, *end;
} dm_http_proxy_buf_t;

/* One attempt at an upstream, for the $upstream_* variables. */
typedef struct {
    dm_str_t addr;
    dm_uint_t status;   /* 0: none (502/504 shown as the error) */
    dm_msec_t connect;  /* ms, or -1 */
    dm_msec_t header;   /* ms, or -1 */
    dm_msec_t response; /* ms */
    uint64_t received;  /* bytes */
    unsigned connected:1;
    unsigned has_header:1;
} dm_http_proxy_attempt_t;

#define DM_HTTP_PROXY_MAX_ATTEMPTS 16

/* Most fields of an upstream's response head (its size is bounded by
   proxy_buffer_size; nginx bounds only the size). */
#define DM_HTTP_PROXY_MAX_FIELDS 512

/* The state of one proxied request. */
typedef struct {
    dm_http_request_t *request;
    dm_http_proxy_loc_conf_t *conf;
    dm_upstream_pick_t pick;
    dm_upstream_group_t *group;
    dm_http_proxy_ups_conf_t *ups; /* the group's keep-alive settings */
    dm_connection_t *upstream;
    struct sockaddr *addr; /* a runtime address ($var) */
    socklen_t addrlen;
    dm_str_t addr_text;
    dm_str_t proxy_host;       /* $proxy_host */
    dm_ssl_client_conf_t *tls; /* https: the location's, NULL: plain */
    dm_str_t head;             /* the upstream request head */
    size_t head_sent;
    dm_http_proxy_buf_t in;  /* request body, client -> upstream */
    dm_http_proxy_buf_t out; /* response, upstream -> client */
    uint64_t body_total;     /* request body bytes read */
    dm_msec_t start;         /* the first attempt */
    dm_msec_t attempt_start;
    dm_http_proxy_attempt_t attempts[DM_HTTP_PROXY_MAX_ATTEMPTS];
    dm_uint_t nattempts;
    dm_str_t chead; /* the client's response head */
    size_t chead_sent;
    u_char *fwd;      /* out: end of the checked bytes */
    u_char *dec;      /* out: end of decoded bytes (a
                                       chunked body for HTTP/1.0) */
    u_char frame[24]; /* client_chunked: a chunk's size line */
    size_t frame_pos, frame_len;
    size_t frame_left;              /* body bytes of the current chunk */
    unsigned crlf_left;             /* its "\r\n" still to send */
    unsigned last_chunk;            /* "0\r\n\r\n" queued */
    dm_http_response_head_t resp;   /* the upstream response head */
    dm_http_header_t *resp_headers; /* its fields */
    dm_http_chunked_t chunked;      /* its chunked body */
    int64_t resp_left;              /* Content-Length bytes to go */
    uint64_t resp_bytes;            /* body bytes from upstream */
    dm_uint_t requests;             /* of the upstream connection */
    dm_uint_t last_status;          /* the last failure: 502 or 504 */
    off_t recv_base;                /* upstream->received at the start */
    off_t sent_base;                /* upstream->sent at the start */
    unsigned reused:1;              /* the connection came from the pool */
    unsigned fresh_retry:1;         /* a retry after a reused one failed */
    unsigned body_kept:1;           /* every body byte is still in `in` */
    unsigned body_done:1;           /* the request body was read whole */
    unsigned req_sent:1;            /* head and body are upstream */
    unsigned any_sent:1;            /* some request byte went upstream */
    unsigned header_done:1;         /* the response head was parsed */
    unsigned header_sent:1;         /* the client got a response head */
    unsigned resp_done:1;           /* the response body is complete */
    unsigned client_chunked:1;      /* chunk a close-delimited body */
    unsigned close_client:1;        /* the client connection ends after */
    unsigned upstream_keep:1;       /* the upstream connection may be pooled */
    unsigned upgrade:1;             /* a WebSocket upgrade was forwarded */
    unsigned tunnel:1;              /* tunnelling */
    unsigned connected:1;           /* the upstream connection is up */
    unsigned decode:1;              /* de-chunk for an HTTP/1.0 client */
    unsigned up_eof:1;              /* tunnel: the upstream closed */
    unsigned down_eof:1;            /* tunnel: the client closed */
    unsigned finished:1;
} dm_http_proxy_ctx_t;

extern dm_module_t dm_http_proxy_module;

/* Starts the exchange with the first peer (dm_http_proxy_upstream.c). */
void dm_http_proxy_start(dm_http_proxy_ctx_t *ctx);

/* The attempt failed (a DM_HTTP_PROXY_FT_* condition): the next peer
   when allowed, else the error. */
void dm_http_proxy_next(dm_http_proxy_ctx_t *ctx, dm_uint_t ft, int peer_fault);

/* The request ends with status (an error before any response byte: 502,
   504; 0 when the response went out whole). */
void dm_http_proxy_finish(dm_http_proxy_ctx_t *ctx, dm_uint_t status);

/* The relays (dm_http_proxy_relay.c): request body to upstream, response
   to client, driven by both connections' events. */
void dm_http_proxy_relay(dm_http_proxy_ctx_t *ctx);

/* WebSocket tunnel after a 101 (dm_http_proxy_tunnel.c). */
void dm_http_proxy_tunnel_start(dm_http_proxy_ctx_t *ctx);

/* What a pooled connection was set up with, besides its group and peer:
   the TLS context (NULL: plain) and the name verified and sent. Only a
   request with the same key takes it. */
typedef struct {
    void *tls_ctx;     /* SSL_CTX, NULL: plain */
    dm_str_t tls_name; /* empty when plain */
    /* proxy_protocol on: the client connection the upstream one carries
       the PROXY header of, and its serial (slots are reused); NULL and 0
       for connections every request may share */
    dm_connection_t *owner;
    dm_uint_t owner_number;
    void *pp_conf; /* the location whose PROXY header (version, TLVs) it
                      carries */
} dm_http_proxy_pool_key_t;

/* The key of a request's upstream connection. */
void dm_http_proxy_pool_key(dm_http_proxy_ctx_t *ctx,
                            dm_http_proxy_pool_key_t *key);

/* The keep-alive pool (dm_http_proxy_pool.c): an idle connection to
   sockaddr with the same key, or NULL; a connection back (closed when the
   pool is full). */
dm_connection_t *dm_http_proxy_pool_get(dm_http_proxy_ups_conf_t *ups,
                                        struct sockaddr *sa, socklen_t len,
                                        const dm_http_proxy_pool_key_t *key,
                                        dm_uint_t *requests);
void dm_http_proxy_pool_put(dm_http_proxy_ups_conf_t *ups, dm_connection_t *c,
                            const dm_http_proxy_pool_key_t *key,
                            dm_uint_t requests);

/* Closes the idle connections owned by a client connection that closes
   (proxy_protocol on: they carry its PROXY header; no one else may use
   them). */
void dm_http_proxy_pool_owner_gone(dm_connection_t *owner, dm_uint_t number);

/* $upstream_* and $proxy_* variables (dm_http_proxy_variables.c). */
dm_int_t dm_http_proxy_variables_add(dm_conf_t *cf);

#endif /* DM_HTTP_PROXY_H */
