/*
 * doorman: connections, types.
 *
 * A connection is a socket with its two events, its pool and the I/O
 * hooks that move bytes: plain socket calls by default, replaced by TLS
 * (or anything else) without the engines noticing.
 */
#ifndef DM_CONNECTION_T_H
#define DM_CONNECTION_T_H

/*
 * I/O hooks. recv/send return the byte count, 0 for EOF (recv), DM_AGAIN
 * when the socket would block (the event's ready flag is cleared), or
 * DM_ERROR (c->error set, errno logged at the right level). send_chain
 * sends at most `limit` bytes (0: no limit) of the chain and returns the
 * first link not sent completely, NULL when all was sent, or
 * DM_CHAIN_ERROR.
 */
typedef ssize_t (*dm_recv_pt)(dm_connection_t *c, u_char *buf, size_t size);
typedef ssize_t (*dm_send_pt)(dm_connection_t *c, const u_char *buf,
                              size_t size);
typedef dm_chain_t *(*dm_send_chain_pt)(dm_connection_t *c, dm_chain_t *in,
                                        off_t limit);

#define DM_CHAIN_ERROR ((dm_chain_t *) DM_ERROR)

struct dm_connection_s {
    void *data;        /* the session or request using it; also the
                                 free-list link while unused */
    dm_event_t *read;  /* read event (same slot index) */
    dm_event_t *write; /* write event */
    int fd;            /* the socket, -1 when free */

    dm_recv_pt recv; /* I/O hooks */
    dm_send_pt send;
    dm_send_chain_pt send_chain;

    dm_listening_t *listening; /* where it was accepted, NULL for upstream */
    off_t sent;                /* bytes sent */
    off_t received;            /* bytes received */
    dm_log_t *log;             /* points at log_obj */
    dm_log_t log_obj;          /* its own log: the listener's + context */
    dm_pool_t *pool;           /* per-connection pool, kept for reuse */

    int type;                  /* SOCK_STREAM or SOCK_DGRAM */
    struct sockaddr *sockaddr; /* the peer's address (in the pool) */
    socklen_t socklen;
    dm_str_t addr_text;              /* the peer's address as text */
    struct sockaddr *local_sockaddr; /* our side, filled on demand */
    socklen_t local_socklen;

    dm_buf_t *buffer;       /* bytes read ahead (engine's use) */
    dm_queue_t queue;       /* link in the reusable-connections queue */
    dm_uint_t number;       /* serial number, $connection */
    dm_msec_t start_msec;   /* when it was accepted or opened */
    dm_msec_t linger_until; /* end of a lingering close */
    void *ssl;              /* TLS state, NULL for plain sockets */
    void *proxy_protocol;   /* the PROXY header received (a
                               dm_proxy_protocol_t), or NULL */

    unsigned destroyed:1;   /* closed: late handlers must do nothing */
    unsigned idle:1;        /* keep-alive idle: may be closed at will */
    unsigned reusable:1;    /* in the reusable queue */
    unsigned close:1;       /* asked to close (shutdown, reclaim) */
    unsigned error:1;       /* an I/O error happened */
    unsigned timedout:1;    /* a timeout closed it */
    unsigned tcp_nodelay:1; /* TCP_NODELAY is set */
    unsigned shared:1;      /* fd not owned (listeners of a slot group) */
    unsigned listener:1;    /* a listening socket's own connection */
};

#endif /* DM_CONNECTION_T_H */
