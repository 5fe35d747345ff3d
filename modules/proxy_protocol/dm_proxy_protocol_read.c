/*
 * doorman: reading the PROXY header of an accepted connection, and the
 * $proxy_protocol_* variables, for both engines.
 *
 * The header is read with MSG_PEEK and parsed whole before one byte of it
 * is consumed; then exactly its length is read out. Nothing after it is
 * taken from the socket, so TLS (or the HTTP head reader) finds the
 * client's next bytes where they were. A header split over several
 * segments is peeked again as each arrives (edge-triggered: the next
 * segment raises the next edge). Bounded: DM_PROXY_PROTOCOL_MAX bytes.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <dm_proxy_protocol.h>
#include <dm_proxy_protocol_module.h>

dm_int_t
dm_proxy_protocol_read(dm_connection_t *c)
{
    u_char buf[DM_PROXY_PROTOCOL_MAX];
    dm_proxy_protocol_t pp, *copy;
    const char *reason = NULL;
    u_char *hdr;
    ssize_t n, k;
    dm_int_t rc;

    do {
        n = recv(c->fd, buf, sizeof(buf), MSG_PEEK);
    } while (n == -1 && errno == EINTR);
    if (n == -1) {
        if (errno == EAGAIN) {
            c->read->ready = 0;
            return DM_AGAIN;
        }
        c->error = 1;
        dm_connection_error(c, errno, "recv() of the PROXY header failed");
        return DM_ERROR;
    }
    if (n == 0) {
        dm_log_error(DM_LOG_INFO, c->log, 0,
                     "client closed the connection before its PROXY header");
        return DM_ERROR;
    }
    rc = dm_proxy_protocol_parse(buf, (size_t) n,
                                 DM_PROXY_PROTOCOL_V1 | DM_PROXY_PROTOCOL_V2, 0,
                                 &pp, &reason);
    if (rc == DM_AGAIN) {
        /* all that arrived is a valid beginning: wait for the rest */
        c->read->ready = 0;
        return DM_AGAIN;
    }
    if (rc == DM_OK && !pp.local && pp.transport == SOCK_DGRAM) {
        /* the parser does not know the listener: this one is TCP */
        rc = DM_ERROR;
        reason = "a UDP (DGRAM) header on a TCP connection";
    }
    if (rc != DM_OK) {
        /* no answer at all: the peer is a balancer, not a person */
        dm_log_error(DM_LOG_ERR, c->log, 0, "broken PROXY header: %s",
                     reason ? reason : "invalid");
        return DM_ERROR;
    }

    /* the TLV values must outlive the stack: the header goes to the
       connection's pool */
    hdr = dm_pnalloc(c->pool, pp.length);
    copy = dm_palloc(c->pool, sizeof(*copy));
    if (hdr == NULL || copy == NULL) {
        return DM_ERROR;
    }
    memcpy(hdr, buf, pp.length);
    *copy = pp;
    if (pp.tlvs) {
        copy->tlvs = hdr + (pp.tlvs - buf);
    }
    do {
        k = recv(c->fd, buf, pp.length, 0);
    } while (k == -1 && errno == EINTR);
    if (k != (ssize_t) pp.length) {
        c->error = 1;
        dm_connection_error(c, k == -1 ? errno : 0,
                            "recv() of the PROXY header failed");
        return DM_ERROR;
    }
    c->received += k;
    c->proxy_protocol = copy;
    /* bytes after the header were seen: the socket is still readable */
    c->read->ready = (size_t) n > pp.length;
    return DM_OK;
}

/* --- variables ---------------------------------------------------------- */

#define DM_PP_VAR_ADDR        0
#define DM_PP_VAR_PORT        1
#define DM_PP_VAR_SERVER_ADDR 2
#define DM_PP_VAR_SERVER_PORT 3

static dm_int_t
dm_proxy_protocol_var(dm_variable_env_t *env, dm_variable_value_t *v,
                      uintptr_t data)
{
    const dm_proxy_protocol_t *pp = env->connection->proxy_protocol;
    const struct sockaddr *sa;
    u_char *p;

    if (pp == NULL || pp->local) {
        v->not_found = 1;
        return DM_OK;
    }
    sa = (const struct sockaddr *) (data < DM_PP_VAR_SERVER_ADDR ? &pp->src
                                                                 : &pp->dst);
    if (data == DM_PP_VAR_PORT || data == DM_PP_VAR_SERVER_PORT) {
        if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
            v->not_found = 1;
            return DM_OK;
        }
        return dm_variable_set_num(env, v, dm_inet_get_port(sa));
    }
    p = dm_pnalloc(env->pool, DM_INET_ADDRSTRLEN);
    if (p == NULL) {
        return DM_ERROR;
    }
    v->len = dm_inet_ntop(sa, p, DM_INET_ADDRSTRLEN, 0);
    v->data = p;
    return DM_OK;
}

/* $proxy_protocol_tlv_NAME: alpn, authority, ... or 0xNN. */
static dm_int_t
dm_proxy_protocol_var_tlv(dm_variable_env_t *env, dm_variable_value_t *v,
                          uintptr_t data)
{
    const dm_proxy_protocol_t *pp = env->connection->proxy_protocol;
    const dm_str_t *full = (const dm_str_t *) data;
    static const size_t plen = sizeof("proxy_protocol_tlv_") - 1;
    dm_proxy_protocol_tlv_t tlv;
    dm_int_t type;

    type = dm_proxy_protocol_tlv_type(full->data + plen, full->len - plen);
    if (pp == NULL || type < 0
        || dm_proxy_protocol_tlv_find(pp, (uint8_t) type, &tlv) != DM_OK) {
        v->not_found = 1;
        return DM_OK;
    }
    v->data = (u_char *) tlv.value;
    v->len = tlv.len;
    return DM_OK;
}

dm_int_t
dm_proxy_protocol_variables_add(dm_conf_t *cf, dm_variable_registry_t *reg)
{
    static const dm_variable_decl_t vars[] = {
        {"proxy_protocol_addr", dm_proxy_protocol_var, DM_PP_VAR_ADDR, 0},
        {"proxy_protocol_port", dm_proxy_protocol_var, DM_PP_VAR_PORT, 0},
        {"proxy_protocol_server_addr", dm_proxy_protocol_var,
         DM_PP_VAR_SERVER_ADDR, 0},
        {"proxy_protocol_server_port", dm_proxy_protocol_var,
         DM_PP_VAR_SERVER_PORT, 0},
        {"proxy_protocol_tlv_", dm_proxy_protocol_var_tlv, 0, DM_VAR_PREFIX},
    };

    return dm_variable_add_table(cf, reg, vars, dm_nelems(vars));
}
