/*
 * doorman: UDP in the stream engine: sessions keyed by client address.
 *
 * A UDP listener is read until EAGAIN (64 datagrams a turn, then the read
 * continues as a posted event). A datagram from a client without a session
 * starts one: a connection object with no socket of its own (it shares
 * the listener's, never closes it and is never in epoll), the datagram in
 * c->buffer, and the stream phases as for TCP. Later datagrams of that
 * client go to the session's handler (the proxy). Replies leave through
 * the listener socket from the address the client wrote to: a wildcard
 * listener learns it with IP_PKTINFO / IPV6_RECVPKTINFO and answers with
 * sendmsg() naming it.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stats.h>
#include <dm_stream.h>

#define DM_STREAM_UDP_MAX      65536
#define DM_STREAM_UDP_PER_TURN 64
#define DM_STREAM_UDP_BUCKETS  4096

typedef struct dm_stream_udp_s {
    dm_stream_session_t *session;
    dm_connection_t *connection;
    struct sockaddr_storage client; /* the key, with local below */
    socklen_t client_len;
    struct sockaddr_storage local; /* where the client wrote to */
    socklen_t local_len;
    uint32_t hash;
    dm_stream_udp_recv_pt handler; /* the content's datagram handler */
    struct dm_stream_udp_s *next;  /* in its bucket */
    unsigned linked:1;             /* in the table */
} dm_stream_udp_t;

static dm_stream_udp_t *dm_stream_udp_table[DM_STREAM_UDP_BUCKETS];
static u_char dm_stream_udp_buf[DM_STREAM_UDP_MAX];

static uint32_t
dm_stream_udp_hash(const void *a, socklen_t alen, const void *b, socklen_t blen)
{
    const u_char *p;
    uint32_t h = 2166136261u;
    socklen_t i;

    for (p = a, i = 0; i < alen; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    for (p = b, i = 0; i < blen; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

static void
dm_stream_udp_unlink(dm_stream_udp_t *u)
{
    dm_stream_udp_t **pp;

    if (!u->linked) {
        return;
    }
    for (pp = &dm_stream_udp_table[u->hash % DM_STREAM_UDP_BUCKETS]; *pp;
         pp = &(*pp)->next) {
        if (*pp == u) {
            *pp = u->next;
            break;
        }
    }
    u->linked = 0;
}

/* The session's connection is closed: out of the table. */
static void
dm_stream_udp_cleanup(void *data)
{
    dm_stream_udp_t *u = data;

    dm_stream_udp_unlink(u);
    u->session = NULL;
}

/* Reclaimed (graceful exit, slots short) or timed out with no handler. */
static void
dm_stream_udp_idle(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;

    dm_stream_session_finalize(c->data, DM_STREAM_OK);
}

void
dm_stream_udp_unbind(dm_stream_session_t *s)
{
    if (s->udp) {
        dm_stream_udp_unlink(s->udp);
    }
}

void
dm_stream_udp_set_handler(dm_stream_session_t *s, dm_stream_udp_recv_pt handler)
{
    s->udp->handler = handler;
    s->udp->session = s;
    /* idle from now on: a graceful exit or a shortage of slots may close
       it (its read handler ends the session). Not before: a drain while
       the session is still starting (the connect to its upstream may be
       what ran out of slots) would only take it off the queue, and a
       graceful exit would then wait for its proxy_timeout. */
    dm_connection_reusable(s->connection, 1);
}

static dm_stream_udp_t *
dm_stream_udp_find(const struct sockaddr_storage *client, socklen_t clen,
                   const struct sockaddr_storage *local, socklen_t llen,
                   uint32_t hash)
{
    dm_stream_udp_t *u;

    for (u = dm_stream_udp_table[hash % DM_STREAM_UDP_BUCKETS]; u;
         u = u->next) {
        if (u->hash == hash && u->client_len == clen && u->local_len == llen
            && memcmp(&u->client, client, clen) == 0
            && memcmp(&u->local, local, llen) == 0) {
            return u;
        }
    }
    return NULL;
}

/* A first datagram: a new session. */
static void
dm_stream_udp_session(dm_connection_t *lc, const struct sockaddr_storage *sa,
                      socklen_t salen, const struct sockaddr_storage *local,
                      socklen_t llen, uint32_t hash, size_t n)
{
    dm_listening_t *ls = lc->listening;
    u_char text[DM_INET_ADDRSTRLEN];
    dm_pool_cleanup_t *cln;
    dm_connection_t *c;
    dm_stream_udp_t *u;

    c = dm_connection_get(lc->fd, ls->pool_size, &ls->log);
    if (c == NULL) {
        return; /* dropped: the client will retry */
    }
    c->shared = 1; /* the listener's socket */
    c->type = SOCK_DGRAM;
    c->listening = ls;
    c->log_obj.handler = dm_connection_log_handler;
    c->log_obj.data = c;
    c->read->handler = dm_stream_udp_idle;
    c->write->handler = dm_event_empty_handler;

    u = dm_pcalloc(c->pool, sizeof(dm_stream_udp_t));
    c->sockaddr = dm_palloc(c->pool, salen);
    c->addr_text.len =
        dm_inet_ntop((struct sockaddr *) sa, text, sizeof(text), 0);
    c->addr_text.data = dm_pnalloc(c->pool, c->addr_text.len + 1);
    c->buffer = dm_buf_create(c->pool, n ? n : 1);
    cln = dm_pool_cleanup_add(c->pool, 0);
    if (u == NULL || c->sockaddr == NULL || c->addr_text.data == NULL
        || c->buffer == NULL || cln == NULL) {
        dm_connection_close(c);
        return;
    }
    memcpy(c->sockaddr, sa, salen);
    c->socklen = salen;
    memcpy(c->addr_text.data, text, c->addr_text.len + 1);
    memcpy(c->buffer->last, dm_stream_udp_buf, n);
    c->buffer->last += n;
    c->received = (off_t) n;

    u->connection = c;
    memcpy(&u->client, sa, salen);
    u->client_len = salen;
    if (llen) {
        memcpy(&u->local, local, llen);
        u->local_len = llen;
        /* $server_addr is where the client wrote to */
        c->local_sockaddr = (struct sockaddr *) &u->local;
        c->local_socklen = llen;
    }
    u->hash = hash;
    u->next = dm_stream_udp_table[hash % DM_STREAM_UDP_BUCKETS];
    dm_stream_udp_table[hash % DM_STREAM_UDP_BUCKETS] = u;
    u->linked = 1;
    cln->handler = dm_stream_udp_cleanup;
    cln->data = u;

    dm_stats_add(DM_STAT_ACTIVE, 1);
    dm_stats_add(DM_STAT_ACCEPTED, 1);

    c->data = u; /* taken by the session as s->udp */
    dm_stream_session_init_connection(c);
}

void
dm_stream_udp_recv(dm_connection_t *lc)
{
    union {
        struct cmsghdr align;
        u_char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    } control;
    struct sockaddr_storage sa, local;
    struct cmsghdr *cm;
    struct msghdr msg;
    struct iovec iov;
    socklen_t llen;
    dm_stream_udp_t *u;
    dm_uint_t turn;
    uint32_t hash;
    ssize_t n;

    for (turn = 0; turn < DM_STREAM_UDP_PER_TURN; turn++) {
        memset(&msg, 0, sizeof(msg));
        iov.iov_base = dm_stream_udp_buf;
        iov.iov_len = sizeof(dm_stream_udp_buf);
        msg.msg_name = &sa;
        msg.msg_namelen = sizeof(sa);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = &control;
        msg.msg_controllen = sizeof(control);

        n = recvmsg(lc->fd, &msg, 0);
        if (n == -1) {
            if (errno == EAGAIN) {
                lc->read->ready = 0;
                return;
            }
            if (errno != EINTR) {
                dm_log_error(DM_LOG_ALERT, lc->log, errno,
                             "recvmsg() on %.*s failed",
                             DM_STR_ARG(lc->listening->addr_text));
            }
            continue;
        }
        if (msg.msg_flags & MSG_TRUNC) {
            continue; /* larger than any datagram we relay: dropped */
        }

        /* the address the client wrote to, on a wildcard socket */
        llen = 0;
        memset(&local, 0, sizeof(local));
        for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo *pi = (struct in_pktinfo *) CMSG_DATA(cm);
                struct sockaddr_in *sin = (struct sockaddr_in *) &local;

                *sin = *(struct sockaddr_in *) &lc->listening->addr.sa;
                sin->sin_addr = pi->ipi_addr;
                llen = sizeof(struct sockaddr_in);
            } else if (cm->cmsg_level == IPPROTO_IPV6
                       && cm->cmsg_type == IPV6_PKTINFO) {
                struct in6_pktinfo *pi = (struct in6_pktinfo *) CMSG_DATA(cm);
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &local;

                *sin6 = *(struct sockaddr_in6 *) &lc->listening->addr.sa;
                sin6->sin6_addr = pi->ipi6_addr;
                llen = sizeof(struct sockaddr_in6);
            }
        }

        hash = dm_stream_udp_hash(&sa, msg.msg_namelen, &local, llen);
        u = dm_stream_udp_find(&sa, msg.msg_namelen, &local, llen, hash);
        if (u == NULL) {
            dm_stream_udp_session(lc, &sa, msg.msg_namelen, &local, llen, hash,
                                  (size_t) n);
            continue;
        }
        u->connection->received += n;
        if (u->handler && u->session && !u->session->finalized) {
            u->handler(u->session, dm_stream_udp_buf, (size_t) n);
        }
        /* a session still starting drops it: UDP may */
    }
    /* more may wait: continue after the other sockets had their turn */
    dm_event_post(lc->read, &dm_event_posted);
}

dm_int_t
dm_stream_udp_send(dm_stream_session_t *s, const u_char *data, size_t len)
{
    union {
        struct cmsghdr align;
        u_char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    } control;
    dm_connection_t *c = s->connection;
    dm_stream_udp_t *u = s->udp;
    struct cmsghdr *cm;
    struct msghdr msg;
    struct iovec iov;
    ssize_t n;

    memset(&msg, 0, sizeof(msg));
    iov.iov_base = (void *) data;
    iov.iov_len = len;
    msg.msg_name = &u->client;
    msg.msg_namelen = u->client_len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;

    if (u->local_len) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = &control;
        cm = (struct cmsghdr *) &control;
        if (u->local.ss_family == AF_INET) {
            struct in_pktinfo *pi;

            msg.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
            cm->cmsg_level = IPPROTO_IP;
            cm->cmsg_type = IP_PKTINFO;
            cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
            pi = (struct in_pktinfo *) CMSG_DATA(cm);
            pi->ipi_spec_dst = ((struct sockaddr_in *) &u->local)->sin_addr;
        } else {
            struct in6_pktinfo *pi;

            msg.msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
            cm->cmsg_level = IPPROTO_IPV6;
            cm->cmsg_type = IPV6_PKTINFO;
            cm->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
            pi = (struct in6_pktinfo *) CMSG_DATA(cm);
            pi->ipi6_addr = ((struct sockaddr_in6 *) &u->local)->sin6_addr;
        }
    }

    n = sendmsg(c->fd, &msg, MSG_DONTWAIT);
    if (n == -1) {
        /* a full socket buffer loses the datagram, as the network may */
        if (errno != EAGAIN && errno != EINTR) {
            dm_connection_error(c, errno, "sendmsg() to the client failed");
        }
        return DM_ERROR;
    }
    c->sent += n;
    return DM_OK;
}
