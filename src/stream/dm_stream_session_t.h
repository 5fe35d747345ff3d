/*
 * doorman: stream sessions, types.
 */
#ifndef DM_STREAM_SESSION_T_H
#define DM_STREAM_SESSION_T_H

/* $status values of a stream session, as nginx uses them. */
#define DM_STREAM_OK                  200
#define DM_STREAM_BAD_REQUEST         400
#define DM_STREAM_FORBIDDEN           403
#define DM_STREAM_INTERNAL_ERROR      500
#define DM_STREAM_BAD_GATEWAY         502
#define DM_STREAM_SERVICE_UNAVAILABLE 503

struct dm_stream_session_s {
    dm_connection_t *connection; /* the client's connection */
    void **main_conf;            /* the stream block's structures */
    void **srv_conf;             /* the chosen server's structures */
    void **ctx;                  /* per-module session state, by ctx_index */
    dm_uint_t phase_index;       /* where the pipeline resumes */
    dm_msec_t start_msec;        /* accept time, for $session_time */
    dm_uint_t status;            /* $status */
    dm_variable_env_t vars;      /* variables of the session */
    dm_str_t upstream_addr;      /* $upstream_addr, set by the proxy */
    /* releases what the content handler holds (the upstream side), run
       by finalize before the log phase */
    void (*cleanup)(struct dm_stream_session_s *s);
    struct dm_stream_udp_s *udp; /* a UDP session's state, or NULL */
    unsigned reset:1;            /* close the client with a reset */
    unsigned finalized:1;        /* finalize ran: late handlers do nothing */
    unsigned ssl:1;              /* the address terminates TLS */
    unsigned proxy_protocol:1;   /* a PROXY header comes first */
};

#endif /* DM_STREAM_SESSION_T_H */
