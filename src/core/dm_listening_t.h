/*
 * doorman: listening sockets, types.
 */
#ifndef DM_LISTENING_T_H
#define DM_LISTENING_T_H

typedef void (*dm_connection_handler_pt)(dm_connection_t *c);

/* so_keepalive= */
#define DM_LISTENING_KEEPALIVE_UNSET 0
#define DM_LISTENING_KEEPALIVE_ON    1
#define DM_LISTENING_KEEPALIVE_OFF   2

/* worker value of a socket every worker accepts on (unix sockets, which
   cannot be split into SO_REUSEPORT slots) */
#define DM_LISTENING_ANY_SLOT ((dm_uint_t) -1)

struct dm_listening_s {
    int fd;              /* the socket, -1 until opened */
    dm_inet_addr_t addr; /* the address it is bound to */
    dm_str_t addr_text;  /* "127.0.0.1:8080", for logs */
    int type;            /* SOCK_STREAM or SOCK_DGRAM */
    int backlog;         /* listen() backlog */
    int rcvbuf;          /* SO_RCVBUF, -1 to leave the default */
    int sndbuf;          /* SO_SNDBUF, -1 to leave the default */
    int keepidle;        /* TCP_KEEPIDLE seconds, 0 to leave */
    int keepintvl;       /* TCP_KEEPINTVL seconds, 0 to leave */
    int keepcnt;         /* TCP_KEEPCNT, 0 to leave */
    dm_uint_t worker;    /* the worker slot that accepts on it */
    size_t pool_size;    /* initial pool size of its connections */

    dm_connection_handler_pt handler; /* the engine's connection init */
    void *servers; /* the engine's configuration for the address */
    dm_log_t log;  /* template of its connections' logs */
    dm_connection_t *connection; /* its own connection object */
    dm_listening_t *previous;    /* the older cycle's entry it came from */

    unsigned open:1;      /* the socket is open */
    unsigned owned:1;     /* this cycle closes it when freed */
    unsigned inherited:1; /* came from the previous cycle or binary */
    unsigned disabled:1;  /* accepting is paused (see dm_event_accept) */
    unsigned reuseport:1; /* SO_REUSEPORT (one socket per slot) */
    unsigned ipv6only:1;  /* IPV6_V6ONLY for an IPv6 wildcard */
    unsigned deferred:1;  /* TCP_DEFER_ACCEPT */
    unsigned keepalive:2; /* DM_LISTENING_KEEPALIVE_* */
    unsigned wildcard:1;  /* bound to INADDR_ANY / in6addr_any */
};

#endif /* DM_LISTENING_T_H */
