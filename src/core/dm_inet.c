/*
 * doorman: socket addresses.
 */
#include <dm_core.h>
#include <arpa/inet.h>

static int
dm_inet_port(const u_char *p, size_t n, in_port_t *port)
{
    int64_t v = dm_parse_int(p, n);

    if (v < 1 || v > 65535) {
        return 0;
    }
    *port = (in_port_t) v;
    return 1;
}

dm_int_t
dm_inet_parse(const u_char *text, size_t len, in_port_t default_port,
              dm_inet_addr_t *addr, const char **err)
{
    struct sockaddr_in *sin = (struct sockaddr_in *) &addr->sa;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &addr->sa;
    struct sockaddr_un *sun = (struct sockaddr_un *) &addr->sa;
    char host[INET6_ADDRSTRLEN + 1];
    const u_char *colon, *host_start = text, *host_end;
    in_port_t port = default_port;
    int have_port = 0;

    memset(addr, 0, sizeof(*addr));
    *err = "invalid address";

    if (len > 5 && memcmp(text, "unix:", 5) == 0) {
        if (len - 5 == 0 || len - 5 >= sizeof(sun->sun_path)) {
            *err = "invalid unix socket path";
            return DM_ERROR;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, text + 5, len - 5);
        addr->socklen =
            (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len - 5 + 1);
        return DM_OK;
    }

    if (len && text[0] == '[') {
        const u_char *rb = memchr(text, ']', len);

        if (rb == NULL) {
            return DM_ERROR;
        }
        host_start = text + 1;
        host_end = rb;
        if (rb + 1 < text + len) {
            if (rb[1] != ':'
                || !dm_inet_port(rb + 2, (size_t) (text + len - rb - 2),
                                 &port)) {
                *err = "invalid port";
                return DM_ERROR;
            }
            have_port = 1;
        }
        if ((size_t) (host_end - host_start) > INET6_ADDRSTRLEN) {
            return DM_ERROR;
        }
        memcpy(host, host_start, (size_t) (host_end - host_start));
        host[host_end - host_start] = '\0';
        sin6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            return DM_ERROR;
        }
        goto port6;
    }

    /* a bare number is a port on every IPv4 address */
    if (dm_parse_int(text, len) >= 0) {
        if (!dm_inet_port(text, len, &port)) {
            *err = "invalid port";
            return DM_ERROR;
        }
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        addr->wildcard = 1;
        have_port = 1;
        goto port4;
    }

    colon = memchr(text, ':', len);
    host_end = colon ? colon : text + len;
    if (colon) {
        if (!dm_inet_port(colon + 1, (size_t) (text + len - colon - 1),
                          &port)) {
            *err = "invalid port";
            return DM_ERROR;
        }
        have_port = 1;
    }
    sin->sin_family = AF_INET;
    if (host_end - host_start == 1 && host_start[0] == '*') {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
    } else {
        if ((size_t) (host_end - host_start) > INET_ADDRSTRLEN) {
            *err = "invalid IPv4 address (host names are not resolved here)";
            return DM_ERROR;
        }
        memcpy(host, host_start, (size_t) (host_end - host_start));
        host[host_end - host_start] = '\0';
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            *err = "invalid IPv4 address (host names are not resolved here)";
            return DM_ERROR;
        }
    }

port4:
    if (!have_port && port == 0) {
        *err = "no port";
        return DM_ERROR;
    }
    addr->no_port = !have_port;
    sin->sin_port = htons(port);
    addr->wildcard = (sin->sin_addr.s_addr == htonl(INADDR_ANY));
    addr->socklen = sizeof(struct sockaddr_in);
    return DM_OK;

port6:
    if (!have_port && port == 0) {
        *err = "no port";
        return DM_ERROR;
    }
    addr->no_port = !have_port;
    sin6->sin6_port = htons(port);
    addr->wildcard = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
    addr->socklen = sizeof(struct sockaddr_in6);
    return DM_OK;
}

size_t
dm_inet_ntop(const struct sockaddr *sa, u_char *buf, size_t len, int port)
{
    char host[INET6_ADDRSTRLEN];
    int n = 0;

    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        n = port ? snprintf((char *) buf, len, "%s:%u", host,
                            (unsigned) ntohs(sin->sin_port))
                 : snprintf((char *) buf, len, "%s", host);
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        n = port ? snprintf((char *) buf, len, "[%s]:%u", host,
                            (unsigned) ntohs(sin6->sin6_port))
                 : snprintf((char *) buf, len, "%s", host);
        break;
    }
    case AF_UNIX:
        n = snprintf((char *) buf, len, "unix:%s",
                     ((const struct sockaddr_un *) sa)->sun_path);
        break;
    default:
        n = snprintf((char *) buf, len, "unknown");
    }
    if (n < 0) {
        return 0;
    }
    return dm_min((size_t) n, len ? len - 1 : 0);
}

in_port_t
dm_inet_get_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *) sa)->sin_port);
    }
    if (sa->sa_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
    }
    return 0;
}

int
dm_inet_cmp(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b,
            socklen_t blen)
{
    if (a->sa_family != b->sa_family) {
        return 1;
    }
    switch (a->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *x = (const void *) a, *y = (const void *) b;

        return x->sin_port != y->sin_port
               || x->sin_addr.s_addr != y->sin_addr.s_addr;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *x = (const void *) a, *y = (const void *) b;

        return x->sin6_port != y->sin6_port
               || memcmp(&x->sin6_addr, &y->sin6_addr, 16) != 0;
    }
    default:
        return alen != blen || memcmp(a, b, alen) != 0;
    }
}
