/*
 * doorman: the parameters of a listen directive that every engine shares
 * (backlog=, rcvbuf=, sndbuf=, so_keepalive=, deferred, bind, ipv6only=,
 * ssl, proxy_protocol).
 */
#ifndef DM_LISTEN_OPTS_H
#define DM_LISTEN_OPTS_H

typedef struct {
    int backlog;                      /* backlog=, -1: the default */
    int rcvbuf, sndbuf;               /* rcvbuf= sndbuf=, -1: default */
    int keepidle, keepintvl, keepcnt; /* so_keepalive=IDLE:INTVL:CNT */
    unsigned keepalive:2;             /* DM_LISTENING_KEEPALIVE_* */
    unsigned bind:1;                  /* a socket of its own even beside a
                                         wildcard of its port */
    unsigned deferred:1;              /* TCP_DEFER_ACCEPT */
    unsigned ipv6only:1;              /* ipv6only=on (the default) */
    unsigned ssl:1;                   /* ssl: TLS is terminated here */
    unsigned proxy_protocol:1;        /* a PROXY header comes first */
} dm_listen_opts_t;

/* The defaults (nothing set, ipv6only on). */
void dm_listen_opts_init(dm_listen_opts_t *o);

/*
 * Takes one parameter of a listen line. Returns DM_OK when it was one of
 * the shared parameters, DM_DECLINED when it is not (the engine may know
 * it), DM_ERROR when it is one with an invalid value.
 */
dm_int_t dm_listen_opts_param(const dm_str_t *v, dm_listen_opts_t *o);

/* Copies the options into a listening socket. */
void dm_listen_opts_apply(const dm_listen_opts_t *o, dm_listening_t *ls);

#endif /* DM_LISTEN_OPTS_H */
