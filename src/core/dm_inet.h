/*
 * doorman: socket addresses: parsing what configurations write, printing
 * what logs and variables show.
 */
#ifndef DM_INET_H
#define DM_INET_H

/* Longest text of an address with port: "[ffff:...:ffff]:65535" or a path. */
#define DM_INET_ADDRSTRLEN (sizeof(struct sockaddr_un) + 16)

/* A parsed socket address. */
typedef struct {
    struct sockaddr_storage sa; /* the address (sockaddr_in, _in6 or _un) */
    socklen_t socklen;          /* its length */
    unsigned wildcard:1;        /* INADDR_ANY or in6addr_any */
    unsigned no_port:1;         /* the text had no port */
} dm_inet_addr_t;

/*
 * Parses "IPv4[:PORT]", "[IPv6][:PORT]", "*:PORT", "PORT" (all IPv4
 * addresses) and "unix:/path". Host names are not resolved here. When the
 * text has no port, `default_port` is used (0: a port is required).
 * Returns DM_OK, or DM_ERROR with *err set to a static reason.
 */
dm_int_t dm_inet_parse(const u_char *text, size_t len, in_port_t default_port,
                       dm_inet_addr_t *addr, const char **err);

/*
 * Writes the address as text into buf (at most len bytes, NUL-terminated):
 * "1.2.3.4", "::1", "unix:/path"; with port != 0 also ":PORT" (IPv6 in
 * brackets). Returns the length written.
 */
size_t dm_inet_ntop(const struct sockaddr *sa, u_char *buf, size_t len,
                    int port);

/* The port of an IPv4 or IPv6 address (host order), 0 for others. */
in_port_t dm_inet_get_port(const struct sockaddr *sa);

/*
 * Compares two addresses (family, address and port). Returns 0 when
 * equal.
 */
int dm_inet_cmp(const struct sockaddr *a, socklen_t alen,
                const struct sockaddr *b, socklen_t blen);

#endif /* DM_INET_H */
