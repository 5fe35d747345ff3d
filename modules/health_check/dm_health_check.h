/*
 * doorman: the health_check module: active checks of upstream peers, run
 * by the helper process only (DESIGN.md sections 1 and 6).
 *
 * dm_health_check_module.c  the directive and the module descriptors
 * dm_health_check_peer.c    per-peer scheduling, rise/fall, the zone
 * dm_health_check_probe.c   one probe: connect, PROXY, TLS, send, read
 * dm_health_check_match.c   judging what the probe read (status, regexes)
 *
 * Files that include this header include <openssl/ssl.h> and <dm_ssl.h>
 * and <dm_upstream.h> before it.
 */
#ifndef DM_HEALTH_CHECK_H
#define DM_HEALTH_CHECK_H

/* type= */
#define DM_HC_TCP  0
#define DM_HC_HTTP 1
#define DM_HC_TLS  2

/* all_down= */
#define DM_HC_ALL_DOWN_FAIL    0
#define DM_HC_ALL_DOWN_TRY_ALL 1

/* The most bytes a probe reads (tcp expect~, http head and body). */
#define DM_HC_READ_MAX (16 * 1024)

/* The most status ranges in `expect status=`. */
#define DM_HC_STATUS_MAX 16

/* The longest reason of a failed probe, as logged. */
#define DM_HC_REASON_MAX 160

/* An `expect header="Name: REGEX"` condition. */
typedef struct {
    dm_str_t name; /* the header's name, matched without case */
    dm_regex_t re; /* matched against its value */
} dm_health_check_header_t;

/* One health_check line, the per-upstream structure of both engines. */
typedef struct {
    unsigned enabled:1;         /* health_check was given in this upstream */
    unsigned ssl:1;             /* the probe runs over TLS */
    unsigned initial_down:1;    /* initial=down */
    unsigned pp:1;              /* proxy_protocol */
    dm_uint_t type;             /* DM_HC_* */
    dm_uint_t all_down;         /* DM_HC_ALL_DOWN_* */
    dm_msec_t interval;         /* interval= (5s) */
    dm_msec_t jitter;           /* jitter= (0) */
    dm_msec_t timeout;          /* timeout= (the interval) */
    dm_uint_t rise;             /* rise= (2) */
    dm_uint_t fall;             /* fall= (3) */
    dm_uint_t port;             /* port= (0: the server's port) */
    dm_uint_t pp_version;       /* proxy_protocol_version= (1) */
    dm_str_t uri;               /* uri= (/) */
    dm_str_t method;            /* method= (GET) */
    dm_str_t host;              /* host= (empty: the server's name) */
    dm_array_t *headers;        /* header= lines, dm_str_t "Name: value" */
    dm_str_t send;              /* send= (tcp) */
    dm_str_t sni;               /* sni= */
    dm_regex_t *expect;         /* tcp: expect~"REGEX", or NULL */
    dm_regex_t *body;           /* http: expect body~"REGEX", or NULL */
    dm_array_t *expect_headers; /* http: dm_health_check_header_t */
    dm_uint_t status[DM_HC_STATUS_MAX][2]; /* accepted [low, high] */
    dm_uint_t nstatus;
    dm_ssl_client_conf_t tls; /* the client context when ssl */
} dm_health_check_conf_t;

/* Probe states. */
#define DM_HC_IDLE    0 /* waiting for the next probe */
#define DM_HC_CONNECT 1 /* connect() in progress */
#define DM_HC_TLS_HS  2 /* TLS handshake */
#define DM_HC_SEND    3 /* sending the request or send= text */
#define DM_HC_READ    4 /* reading the answer */

/* One probed peer, in the helper (allocated once at its start). */
typedef struct {
    dm_event_t ev;                /* next probe, then the probe's deadline */
    dm_health_check_conf_t *conf; /* its upstream's health_check */
    dm_upstream_group_t *group;
    dm_upstream_peer_t *peer;
    struct sockaddr_storage sa; /* the peer's address, port= applied */
    socklen_t socklen;
    dm_str_t addr_text; /* the address probed, for logs */
    dm_str_t host;      /* Host header and TLS name */
    dm_str_t request;   /* the bytes sent (built once) */
    dm_connection_t *c; /* the probe's connection, or NULL */
    u_char *buf;        /* what was read (c's pool) */
    size_t len;
    size_t sent;
    dm_uint_t state;               /* DM_HC_* */
    dm_log_t log;                  /* a quiet log for the connection */
    char reason[DM_HC_REASON_MAX]; /* why the probe failed */
} dm_health_check_peer_t;

extern dm_module_t dm_stream_health_check_module;
extern dm_module_t dm_http_health_check_module;

/*
 * The health_check structure of an upstream block, or NULL when the
 * block has none (or is an implicit group).
 */
dm_health_check_conf_t *dm_health_check_conf(dm_upstream_srv_conf_t *uscf,
                                             dm_uint_t engine);

/*
 * Master, after a load (init_module): applies `initial=` to records no
 * check has touched yet and `all_down=` to the groups of `engine`.
 */
dm_int_t dm_health_check_prepare(dm_cycle_t *cycle, dm_uint_t engine);

/*
 * Helper only (init_process): schedules the probes of every checked
 * peer of `engine`, continuing from the counters in the zone, and forgets
 * the check state of groups that no longer have a health_check. Returns
 * DM_OK or DM_ERROR.
 */
dm_int_t dm_health_check_start(dm_cycle_t *cycle, dm_uint_t engine);

/*
 * Starts one probe of hp (the timer fired). The outcome arrives in
 * dm_health_check_done.
 */
void dm_health_check_probe(dm_health_check_peer_t *hp);

/*
 * The probe's deadline passed: it fails with "timed out".
 */
void dm_health_check_probe_timeout(dm_health_check_peer_t *hp);

/*
 * A probe ended: ok or not (hp->reason says why), connection closed.
 * Counts it in the peer's record, applies rise/fall (logging a
 * transition at warn) and schedules the next probe.
 */
void dm_health_check_done(dm_health_check_peer_t *hp, int ok);

/*
 * Judges what an http probe read so far (hp->buf, hp->len). `final`: no
 * more bytes will come (EOF or the buffer is full). Returns DM_OK (the
 * answer passes), DM_AGAIN (read more), DM_ERROR (it fails, hp->reason
 * set).
 */
dm_int_t dm_health_check_match_http(dm_health_check_peer_t *hp, int final);

/*
 * Judges what a tcp probe read so far against expect~. Returns DM_OK on
 * a match, DM_AGAIN (read more) or DM_ERROR (final and no match, or a
 * matching error; hp->reason set).
 */
dm_int_t dm_health_check_match_tcp(dm_health_check_peer_t *hp, int final);

#endif /* DM_HEALTH_CHECK_H */
