/*
 * doorman: the tcp_stream module: the L4 proxy (proxy_pass in stream
 * servers), shared between its configuration/connect file and its relay.
 *
 * Files that include it include <openssl/ssl.h> and <dm_ssl.h> before it
 * (a server embeds its proxy_ssl_* structure).
 */
#ifndef DM_TCP_STREAM_H
#define DM_TCP_STREAM_H

#include <dm_upstream.h>

typedef struct {
    dm_upstream_srv_conf_t *upstream; /* a fixed group (or an address) */
    dm_str_t upstream_name;           /* its name, resolved after the block */
    dm_complex_value_t *target;       /* proxy_pass $var */
    dm_msec_t connect_timeout;        /* proxy_connect_timeout (60s) */
    dm_msec_t timeout;                /* proxy_timeout, idle (10m) */
    size_t buffer_size;               /* proxy_buffer_size (16k) */
    dm_flag_t next_upstream;          /* proxy_next_upstream (on) */
    dm_int_t next_upstream_tries;     /* _tries (0: no limit) */
    dm_msec_t next_upstream_timeout;  /* _timeout (0: no limit) */
    dm_inet_addr_t *bind;             /* proxy_bind, NULL: none */
    dm_flag_t transparent;            /* proxy_bind ... transparent */
    dm_flag_t splice;                 /* proxy_splice (on) */
    dm_int_t requests;                /* proxy_requests (0: no limit) */
    dm_int_t responses;               /* proxy_responses (unset: none) */
    dm_ssl_client_conf_t ssl;         /* proxy_ssl on and proxy_ssl_* */
    dm_flag_t pp;                     /* proxy_protocol (off) */
    dm_uint_t pp_version;             /* proxy_protocol_version (1; UDP 2) */
    dm_array_t *pp_tlvs;              /* proxy_protocol_tlv */
    dm_str_t host;                    /* proxy_pass NAME or ADDRESS */
    dm_str_t file;                    /* the proxy_pass line */
    dm_uint_t line;
} dm_tcp_stream_srv_conf_t;

/* One direction of the relay. */
typedef struct {
    dm_connection_t *src; /* read from */
    dm_connection_t *dst; /* write to */
    dm_buf_t *buf;        /* bytes read, not yet written */
    int pipe[2];          /* splice pipe, -1 when copying */
    size_t in_pipe;       /* bytes in the pipe */
    off_t bytes;          /* moved so far */
    unsigned src_eof:1;   /* the source closed its write side */
    unsigned dst_shut:1;  /* we shut the destination's write side */
    unsigned upstream:1;  /* the source is the upstream */
    unsigned bulk:1;      /* a read once filled the buffer */
} dm_tcp_stream_dir_t;

typedef struct {
    dm_stream_session_t *session;
    dm_upstream_pick_t pick;
    dm_upstream_group_t *group; /* NULL for a runtime address */
    dm_connection_t *upstream;  /* the upstream connection */
    dm_tcp_stream_dir_t down;   /* client -> upstream */
    dm_tcp_stream_dir_t up;     /* upstream -> client */
    dm_msec_t start;            /* first connect attempt */
    struct sockaddr *addr;      /* a runtime target ($var) */
    socklen_t addrlen;
    dm_str_t addr_text;
    dm_str_t host; /* proxy_pass $var: its value (proxy_ssl_name) */
    unsigned connected:1;
    u_char *pp_header; /* UDP: the PROXY header every datagram carries */
    size_t pp_len;
    dm_uint_t requests;  /* UDP: datagrams to the upstream */
    dm_uint_t responses; /* UDP: datagrams back */
} dm_tcp_stream_ctx_t;

extern dm_module_t dm_tcp_stream_module;

/* Starts relaying once the upstream is connected. */
void dm_tcp_stream_relay_start(dm_tcp_stream_ctx_t *ctx);

/* UDP: relays datagrams once the upstream socket is connected. */
void dm_tcp_stream_udp_start(dm_tcp_stream_ctx_t *ctx);

/* Frees splice pipes of a session (back to the pool or closed). */
void dm_tcp_stream_relay_done(dm_tcp_stream_ctx_t *ctx);

/* The per-worker pipe pool (init_process / exit_process). */
void dm_tcp_stream_pipes_init(dm_uint_t max);
void dm_tcp_stream_pipes_done(void);

#endif /* DM_TCP_STREAM_H */
