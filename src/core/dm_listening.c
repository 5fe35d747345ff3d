/*
 * doorman: listening sockets.
 *
 * Options are applied before bind() so that they hold from the first
 * connection: SO_REUSEADDR always (restart while old connections sit in
 * TIME_WAIT), SO_REUSEPORT only for slot sockets, IPV6_V6ONLY explicitly
 * (the system default varies, and `listen [::]:80` beside `listen 80`
 * must not collide), TCP_DEFER_ACCEPT for `deferred`.
 */
#include <dm_core.h>
#include <netinet/tcp.h>

dm_listening_t *
dm_listening_add(dm_cycle_t *cycle, const dm_inet_addr_t *addr, int type)
{
    dm_listening_t *ls;
    u_char text[DM_INET_ADDRSTRLEN];

    if (cycle->listening.elts == NULL
        && dm_array_init(&cycle->listening, cycle->pool, 4,
                         sizeof(dm_listening_t))
               != DM_OK) {
        return NULL;
    }
    ls = dm_array_push(&cycle->listening);
    if (ls == NULL) {
        return NULL;
    }
    memset(ls, 0, sizeof(*ls));
    ls->fd = -1;
    ls->addr = *addr;
    ls->type = type;
    ls->backlog = DM_LISTENING_BACKLOG;
    ls->rcvbuf = -1;
    ls->sndbuf = -1;
    ls->pool_size = 512;
    ls->ipv6only = 1;
    ls->wildcard = addr->wildcard;
    ls->log = *cycle->log;

    ls->addr_text.len =
        dm_inet_ntop((struct sockaddr *) &addr->sa, text, sizeof(text), 1);
    ls->addr_text.data = dm_pnalloc(cycle->pool, ls->addr_text.len + 1);
    if (ls->addr_text.data == NULL) {
        return NULL;
    }
    memcpy(ls->addr_text.data, text, ls->addr_text.len + 1);
    return ls;
}

static int
dm_listening_setopt(dm_cycle_t *cycle, dm_listening_t *ls, int level, int name,
                    int value, const char *what)
{
    if (setsockopt(ls->fd, level, name, &value, sizeof(value)) == -1) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno,
                     "setsockopt(%s) on %.*s failed", what,
                     DM_STR_ARG(ls->addr_text));
        return 0;
    }
    return 1;
}

static dm_int_t
dm_listening_open(dm_cycle_t *cycle, dm_listening_t *ls)
{
    int family = ls->addr.sa.ss_family;

    ls->fd = socket(family, ls->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls->fd == -1) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno,
                     "socket() for %.*s failed", DM_STR_ARG(ls->addr_text));
        return DM_ERROR;
    }
    if (family != AF_UNIX
        && !dm_listening_setopt(cycle, ls, SOL_SOCKET, SO_REUSEADDR, 1,
                                "SO_REUSEADDR")) {
        goto failed;
    }
#ifdef DM_HAVE_SO_REUSEPORT
    if (ls->reuseport
        && !dm_listening_setopt(cycle, ls, SOL_SOCKET, SO_REUSEPORT, 1,
                                "SO_REUSEPORT")) {
        goto failed;
    }
#endif
    if (family == AF_INET6
        && !dm_listening_setopt(cycle, ls, IPPROTO_IPV6, IPV6_V6ONLY,
                                ls->ipv6only, "IPV6_V6ONLY")) {
        goto failed;
    }
    if (ls->rcvbuf != -1
        && !dm_listening_setopt(cycle, ls, SOL_SOCKET, SO_RCVBUF, ls->rcvbuf,
                                "SO_RCVBUF")) {
        goto failed;
    }
    if (ls->sndbuf != -1
        && !dm_listening_setopt(cycle, ls, SOL_SOCKET, SO_SNDBUF, ls->sndbuf,
                                "SO_SNDBUF")) {
        goto failed;
    }
    if (ls->type == SOCK_STREAM && ls->keepalive) {
        /* accepted sockets inherit these from the listener */
        int on = (ls->keepalive == DM_LISTENING_KEEPALIVE_ON);

        if (!dm_listening_setopt(cycle, ls, SOL_SOCKET, SO_KEEPALIVE, on,
                                 "SO_KEEPALIVE")
            || (ls->keepidle
                && !dm_listening_setopt(cycle, ls, IPPROTO_TCP, TCP_KEEPIDLE,
                                        ls->keepidle, "TCP_KEEPIDLE"))
            || (ls->keepintvl
                && !dm_listening_setopt(cycle, ls, IPPROTO_TCP, TCP_KEEPINTVL,
                                        ls->keepintvl, "TCP_KEEPINTVL"))
            || (ls->keepcnt
                && !dm_listening_setopt(cycle, ls, IPPROTO_TCP, TCP_KEEPCNT,
                                        ls->keepcnt, "TCP_KEEPCNT"))) {
            goto failed;
        }
    }

    if (family == AF_UNIX) {
        /* a stale socket file from a crash would make bind() fail */
        struct sockaddr_un *sun = (struct sockaddr_un *) &ls->addr.sa;
        struct stat st;

        if (stat(sun->sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(sun->sun_path);
        }
    }

    if (bind(ls->fd, (struct sockaddr *) &ls->addr.sa, ls->addr.socklen)
        == -1) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno, "bind() to %.*s failed",
                     DM_STR_ARG(ls->addr_text));
        goto failed;
    }
    if (ls->type == SOCK_DGRAM && ls->wildcard
        && !dm_listening_setopt(
            cycle, ls, family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
            family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO, 1,
            "IP_PKTINFO")) {
        /* a wildcard UDP socket must learn which address a client used,
           to answer from it */
        goto failed;
    }
    if (ls->type == SOCK_STREAM && listen(ls->fd, ls->backlog) == -1) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno,
                     "listen() to %.*s, backlog %d failed",
                     DM_STR_ARG(ls->addr_text), ls->backlog);
        goto failed;
    }
    if (ls->type == SOCK_STREAM && ls->deferred
        && !dm_listening_setopt(cycle, ls, IPPROTO_TCP, TCP_DEFER_ACCEPT, 1,
                                "TCP_DEFER_ACCEPT")) {
        goto failed;
    }
    ls->open = 1;
    ls->owned = 1;
    return DM_OK;

failed:
    close(ls->fd);
    ls->fd = -1;
    return DM_ERROR;
}

/*
 * Before a new address gets its SO_REUSEPORT slot sockets, it is bound
 * once without SO_REUSEPORT: a port held by any other program (or another
 * doorman) then fails with "address in use" instead of silently sharing
 * the traffic.
 */
static dm_int_t
dm_listening_check_free(dm_cycle_t *cycle, dm_listening_t *ls)
{
    int fd, on = 1;

    if (ls->addr.sa.ss_family == AF_UNIX) {
        return DM_OK;
    }
    fd = socket(ls->addr.sa.ss_family, ls->type | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno,
                     "socket() for %.*s failed", DM_STR_ARG(ls->addr_text));
        return DM_ERROR;
    }
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (ls->addr.sa.ss_family == AF_INET6) {
        on = ls->ipv6only;
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    }
    if (bind(fd, (struct sockaddr *) &ls->addr.sa, ls->addr.socklen) == -1) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno, "bind() to %.*s failed",
                     DM_STR_ARG(ls->addr_text));
        close(fd);
        return DM_ERROR;
    }
    close(fd);
    return DM_OK;
}

/* One of our sockets already open on the same family and port. */
static int
dm_listening_port_ours(dm_cycle_t *cycle, dm_listening_t *ls)
{
    dm_listening_t *all = cycle->listening.elts;
    dm_uint_t i;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (all[i].fd != -1 && all[i].type == ls->type
            && all[i].addr.sa.ss_family == ls->addr.sa.ss_family
            && dm_inet_get_port((struct sockaddr *) &all[i].addr.sa)
                   == dm_inet_get_port((struct sockaddr *) &ls->addr.sa)) {
            return 1;
        }
    }
    return 0;
}

dm_int_t
dm_listening_open_all(dm_cycle_t *cycle)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_uint_t i, j;

    /*
     * First every new address is checked, before any new socket exists,
     * so that a `bind` address beside a wildcard of its port is not taken
     * for a foreign holder. A port where we already hold a socket (a
     * reload adding an address) is ours: a foreign holder there would
     * have been refused when we bound it.
     */
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd == -1 && ls[i].reuseport && ls[i].worker == 0
            && !dm_listening_port_ours(cycle, &ls[i])
            && dm_listening_check_free(cycle, &ls[i]) != DM_OK) {
            return DM_ERROR;
        }
    }
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != -1) {
            continue;
        }
        if (dm_listening_open(cycle, &ls[i]) != DM_OK) {
            for (j = 0; j < i; j++) {
                if (ls[j].owned) {
                    close(ls[j].fd);
                    ls[j].fd = -1;
                    ls[j].open = 0;
                    ls[j].owned = 0;
                }
            }
            return DM_ERROR;
        }
    }
    return DM_OK;
}

void
dm_listening_close_all(dm_cycle_t *cycle)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_uint_t i;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != -1 && ls[i].owned) {
            close(ls[i].fd);
        }
        ls[i].fd = -1;
        ls[i].open = 0;
        ls[i].owned = 0;
    }
}
