/*
 * doorman: sending a PROXY header on an upstream connection, for both
 * proxies and the health checks.
 *
 * The header describes the client as doorman knows it: the addresses a
 * PROXY header it received gave (a chain of balancers passes the true
 * client on), else the client socket's own. A health check (no client)
 * describes itself as the specification asks: v2 LOCAL, or a v1 line
 * with the connection's real endpoints, never UNKNOWN.
 */
#include <dm_core.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <dm_proxy_protocol.h>

ssize_t
dm_proxy_protocol_header(u_char *buf, size_t size, dm_connection_t *client,
                         dm_connection_t *u, unsigned version, int transport,
                         const dm_proxy_protocol_tlv_t *tlvs, dm_uint_t ntlvs)
{
    const dm_proxy_protocol_t *pp;
    const struct sockaddr *src, *dst;

    if (client == NULL) {
        /* a health check: what it is, from where to where */
        if (dm_connection_local_sockaddr(u) != DM_OK) {
            return -1;
        }
        return dm_proxy_protocol_write(buf, size, version, version == 2,
                                       transport, u->local_sockaddr,
                                       u->sockaddr, tlvs, ntlvs, 0);
    }
    pp = client->proxy_protocol;
    if (pp && !pp->local) {
        src = (const struct sockaddr *) &pp->src;
        dst = (const struct sockaddr *) &pp->dst;
    } else {
        if (dm_connection_local_sockaddr(client) != DM_OK) {
            return -1;
        }
        src = client->sockaddr;
        dst = client->local_sockaddr;
    }
    return dm_proxy_protocol_write(buf, size, version, 0, transport, src, dst,
                                   tlvs, ntlvs, 0);
}

dm_int_t
dm_proxy_protocol_send(dm_connection_t *u, dm_connection_t *client,
                       unsigned version, const dm_proxy_protocol_tlv_t *tlvs,
                       dm_uint_t ntlvs)
{
    u_char buf[DM_PROXY_PROTOCOL_MAX];
    ssize_t n, sent;

    n = dm_proxy_protocol_header(buf, sizeof(buf), client, u, version,
                                 SOCK_STREAM, tlvs, ntlvs);
    if (n < 0) {
        dm_log_error(DM_LOG_ERR, u->log, 0,
                     "cannot make the PROXY protocol header");
        return DM_ERROR;
    }
    /* a connection just made has an empty send buffer far larger than a
       header: all of it goes at once, or something is wrong (as nginx) */
    do {
        sent = send(u->fd, buf, (size_t) n, MSG_NOSIGNAL);
    } while (sent == -1 && errno == EINTR);
    if (sent != n) {
        dm_log_error(DM_LOG_ERR, u->log, sent == -1 ? errno : 0,
                     "could not send the PROXY protocol header at once");
        return DM_ERROR;
    }
    u->sent += n;
    return DM_OK;
}

/* --- proxy_protocol_tlv ------------------------------------------------- */

char *
dm_proxy_protocol_tlv_conf(dm_conf_t *cf, dm_variable_registry_t *reg,
                           dm_array_t **tlvs)
{
    dm_str_t *value = cf->args->elts;
    dm_proxy_protocol_tlv_conf_t *t;
    dm_int_t type;

    type = dm_proxy_protocol_tlv_type(value[1].data, value[1].len);
    if (type < 0 || type == DM_PP2_TYPE_CRC32C || type == DM_PP2_TYPE_SSL
        || (type >= DM_PP2_SUBTYPE_SSL_VERSION
            && type <= DM_PP2_SUBTYPE_SSL_CLIENT_CERT)) {
        /* the CRC and the SSL block are the encoder's, not free text */
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid TLV \"%s\" in \"proxy_protocol_tlv\": "
                          "use alpn, authority, unique_id, netns or 0xNN",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    if (*tlvs == NULL || *tlvs == DM_CONF_UNSET_PTR) {
        *tlvs =
            dm_array_create(cf->pool, 2, sizeof(dm_proxy_protocol_tlv_conf_t));
        if (*tlvs == NULL) {
            return DM_CONF_ERROR;
        }
    }
    if ((*tlvs)->nelts >= DM_PROXY_PROTOCOL_TLVS) {
        return "has too many TLVs";
    }
    t = dm_array_push(*tlvs);
    if (t == NULL) {
        return DM_CONF_ERROR;
    }
    t->type = (uint8_t) type;
    if (dm_complex_compile(cf, reg, &value[2], &t->value) != DM_OK) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

dm_int_t
dm_proxy_protocol_tlv_eval(dm_variable_env_t *env, const dm_array_t *tlvs,
                           dm_proxy_protocol_tlv_t *out, dm_uint_t *n)
{
    const dm_proxy_protocol_tlv_conf_t *t;
    dm_str_t v;
    dm_uint_t i;

    *n = 0;
    if (tlvs == NULL) {
        return DM_OK;
    }
    t = tlvs->elts;
    for (i = 0; i < tlvs->nelts && i < DM_PROXY_PROTOCOL_TLVS; i++) {
        if (dm_complex_eval(env, &t[i].value, &v) != DM_OK) {
            return DM_ERROR;
        }
        if (v.len > 0xffff) {
            v.len = 0xffff;
        }
        out[*n].type = t[i].type;
        out[*n].len = (uint16_t) v.len;
        out[*n].value = v.data;
        (*n)++;
    }
    return DM_OK;
}
