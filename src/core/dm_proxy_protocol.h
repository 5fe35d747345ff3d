/*
 * doorman: the PROXY protocol, v1 (text) and v2 (binary): a parser and an
 * encoder with no I/O and no allocation (dm_proxy_protocol.c,
 * dm_proxy_protocol_write.c).
 *
 * They live in the core, beside the TLS ClientHello parser, because the
 * engines' receiving side (the proxy_protocol module), realip, both
 * proxies (sending) and the health checks all use them.
 *
 * The specification decides every edge case (summary in
 * shared/corpora/proxy-protocol.md): where it says reject, the parser
 * rejects, with a reason that names what was wrong.
 */
#ifndef DM_PROXY_PROTOCOL_H
#define DM_PROXY_PROTOCOL_H

/* The longest v1 line, CRLF included. */
#define DM_PROXY_PROTOCOL_V1_MAX 107

/* The v2 header's fixed part: signature, ver_cmd, fam, len. */
#define DM_PROXY_PROTOCOL_V2_HEAD 16

/* The most bytes of header a receiver holds by default (v2 may announce
   up to 65,551; what is longer is refused, bounded). */
#define DM_PROXY_PROTOCOL_MAX 4096

/* Versions, as bits for the parser's `versions` argument. */
#define DM_PROXY_PROTOCOL_V1 0x01
#define DM_PROXY_PROTOCOL_V2 0x02

/* TLV types (v2). */
#define DM_PP2_TYPE_ALPN               0x01
#define DM_PP2_TYPE_AUTHORITY          0x02
#define DM_PP2_TYPE_CRC32C             0x03
#define DM_PP2_TYPE_NOOP               0x04
#define DM_PP2_TYPE_UNIQUE_ID          0x05
#define DM_PP2_TYPE_SSL                0x20
#define DM_PP2_SUBTYPE_SSL_VERSION     0x21
#define DM_PP2_SUBTYPE_SSL_CN          0x22
#define DM_PP2_SUBTYPE_SSL_CIPHER      0x23
#define DM_PP2_SUBTYPE_SSL_SIG_ALG     0x24
#define DM_PP2_SUBTYPE_SSL_KEY_ALG     0x25
#define DM_PP2_SUBTYPE_SSL_GROUP       0x26
#define DM_PP2_SUBTYPE_SSL_SIG_SCHEME  0x27
#define DM_PP2_SUBTYPE_SSL_CLIENT_CERT 0x28
#define DM_PP2_TYPE_NETNS              0x30

/* PP2_TYPE_SSL client bits */
#define DM_PP2_CLIENT_SSL       0x01
#define DM_PP2_CLIENT_CERT_CONN 0x02
#define DM_PP2_CLIENT_CERT_SESS 0x04

/* One TLV: its value points into the parsed (or to be written) bytes. */
typedef struct {
    uint8_t type;
    uint16_t len;
    const u_char *value; /* not NUL-terminated; may contain NUL */
} dm_proxy_protocol_tlv_t;

/* What a header said. */
typedef struct {
    unsigned version; /* 1 or 2 */
    unsigned local:1; /* v2 LOCAL, v1 UNKNOWN, or a v2 family the
                           receiver treats as UNSPEC: use the real
                           endpoints */
    int family;       /* AF_INET, AF_INET6, AF_UNIX or AF_UNSPEC */
    int transport;    /* SOCK_STREAM, SOCK_DGRAM, or 0 (unspecified) */
    struct sockaddr_storage src; /* the client (when !local) */
    socklen_t src_len;
    struct sockaddr_storage dst; /* the address it connected to */
    socklen_t dst_len;
    size_t length;      /* bytes of the whole header */
    const u_char *tlvs; /* the TLV area inside the header, or NULL */
    size_t tlvs_len;
    uint32_t crc;       /* the CRC32C TLV's value, when present */
    unsigned has_crc:1; /* a CRC32C TLV was present (and matched) */
} dm_proxy_protocol_t;

/*
 * Parses the header at the start of data[0 .. len) (what arrived so far,
 * the same bytes again with more appended at the next call). `versions`
 * says which versions are accepted (bits); `max` is the most header
 * bytes accepted (0: DM_PROXY_PROTOCOL_MAX). Returns
 *
 *   DM_OK     a complete, valid header: *pp is filled, pp->length bytes
 *             long (what follows is payload, never looked at);
 *   DM_AGAIN  the bytes so far are a valid beginning: more are needed;
 *   DM_ERROR  not a valid header: *reason says why (a static string,
 *             e.g. "v1: leading zero in a port", "v2: TLV overrun").
 *
 * TLVs are checked whole (lengths within the header, the header ending
 * exactly at the last TLV, SSL sub-TLVs within the SSL TLV, the CRC32C
 * over the whole header when present).
 */
dm_int_t dm_proxy_protocol_parse(const u_char *data, size_t len,
                                 dm_uint_t versions, size_t max,
                                 dm_proxy_protocol_t *pp, const char **reason);

/*
 * The TLV of `type` in a parsed v2 header: a top-level type, or an SSL
 * sub-type (0x21 to 0x28), looked up inside the PP2_TYPE_SSL TLV. Returns
 * DM_OK with *tlv filled, or DM_DECLINED when absent.
 */
dm_int_t dm_proxy_protocol_tlv_find(const dm_proxy_protocol_t *pp, uint8_t type,
                                    dm_proxy_protocol_tlv_t *tlv);

/*
 * The type of a TLV by the name nginx gives it in $proxy_protocol_tlv_NAME
 * and proxy_protocol_tlv: alpn, authority, unique_id, ssl, netns,
 * ssl_version, ssl_cn, ssl_cipher, ssl_sig_alg, ssl_key_alg, ssl_group,
 * ssl_sig_scheme, or 0xNN (hex, two digits). -1 for an unknown name.
 */
dm_int_t dm_proxy_protocol_tlv_type(const u_char *name, size_t len);

/*
 * Writes a header into buf (size bytes): version 1 or 2; local (v2
 * LOCAL; v1: a line of the given addresses all the same, as the
 * specification asks of health checks, never UNKNOWN unless the family
 * cannot be said); transport SOCK_STREAM or SOCK_DGRAM (v2 only); src and
 * dst the addresses to describe (the same family: AF_INET, AF_INET6, or
 * AF_UNIX for v2; anything else is written as UNKNOWN / UNSPEC); tlvs (v2
 * only, may be NULL) written in order; crc: add a CRC32C TLV computed
 * over the whole header. Returns the bytes written, or -1 when buf is
 * too small or the request cannot be said (v1 with TLVs or DGRAM).
 */
ssize_t dm_proxy_protocol_write(u_char *buf, size_t size, unsigned version,
                                int local, int transport,
                                const struct sockaddr *src,
                                const struct sockaddr *dst,
                                const dm_proxy_protocol_tlv_t *tlvs,
                                dm_uint_t ntlvs, int crc);

/* CRC32C (Castagnoli, RFC 4960 appendix B) of a buffer. */
uint32_t dm_crc32c(const u_char *p, size_t len);

/* --- sending (dm_proxy_protocol_send.c) -------------------------------- */

/*
 * The header for upstream connection u on behalf of `client`: the
 * addresses of the PROXY header the client's connection came with, else
 * its socket's; with client NULL (a health check), v2 LOCAL or a v1 line
 * of u's real endpoints. transport SOCK_STREAM or SOCK_DGRAM. Returns the
 * bytes written into buf, or -1.
 */
ssize_t dm_proxy_protocol_header(u_char *buf, size_t size,
                                 dm_connection_t *client, dm_connection_t *u,
                                 unsigned version, int transport,
                                 const dm_proxy_protocol_tlv_t *tlvs,
                                 dm_uint_t ntlvs);

/*
 * Sends that header (SOCK_STREAM) on u, which just connected, in one
 * send(): before anything else, a TLS ClientHello included. Returns
 * DM_OK, or DM_ERROR (logged).
 */
dm_int_t dm_proxy_protocol_send(dm_connection_t *u, dm_connection_t *client,
                                unsigned version,
                                const dm_proxy_protocol_tlv_t *tlvs,
                                dm_uint_t ntlvs);

/* The most proxy_protocol_tlv lines of one level. */
#define DM_PROXY_PROTOCOL_TLVS 16

/* One proxy_protocol_tlv line: its type and value (may hold variables). */
typedef struct {
    uint8_t type;
    dm_complex_value_t value;
} dm_proxy_protocol_tlv_conf_t;

/*
 * proxy_protocol_tlv NAME VALUE; (both proxies): NAME as
 * dm_proxy_protocol_tlv_type knows it (not crc32c or ssl: the encoder's),
 * VALUE compiled against the engine's registry, appended to *tlvs
 * (created when NULL or unset). Returns DM_CONF_OK or an error.
 */
char *dm_proxy_protocol_tlv_conf(dm_conf_t *cf, dm_variable_registry_t *reg,
                                 dm_array_t **tlvs);

/*
 * Evaluates the lines for a session or request into out (room for
 * DM_PROXY_PROTOCOL_TLVS), *n of them. DM_OK or DM_ERROR.
 */
dm_int_t dm_proxy_protocol_tlv_eval(dm_variable_env_t *env,
                                    const dm_array_t *tlvs,
                                    dm_proxy_protocol_tlv_t *out, dm_uint_t *n);

#endif /* DM_PROXY_PROTOCOL_H */
