/*
 * doorman: the PROXY protocol encoder, v1 and v2.
 *
 * It writes what it is asked to and nothing the parser would refuse: a
 * request it cannot say faithfully (TLVs or UDP in v1, a UNIQUE_ID over
 * 128 bytes, a CRC32C TLV given by hand, more than the 16-bit length can
 * count) fails instead of being written approximately. No I/O: the
 * caller sends the bytes, in one write, before any payload.
 */
#include <dm_core.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <dm_proxy_protocol.h>

/* "\r\n\r\n\0\r\nQUIT\n" (as in dm_proxy_protocol.c). */
static const u_char dm_pp2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* The family src and dst share, or AF_UNSPEC. */
static int
dm_pp_write_family(const struct sockaddr *src, const struct sockaddr *dst)
{
    if (src == NULL || dst == NULL || src->sa_family != dst->sa_family) {
        return AF_UNSPEC;
    }
    switch (src->sa_family) {
    case AF_INET:
    case AF_INET6:
    case AF_UNIX:
        return src->sa_family;
    }
    return AF_UNSPEC;
}

/* The text of an address and its port (host order). */
static void
dm_pp_write_ntop(const struct sockaddr *sa, char *text, unsigned *port)
{
    const struct sockaddr_in *sin;
    const struct sockaddr_in6 *sin6;

    if (sa->sa_family == AF_INET) {
        sin = (const struct sockaddr_in *) sa;
        inet_ntop(AF_INET, &sin->sin_addr, text, INET6_ADDRSTRLEN);
        *port = ntohs(sin->sin_port);
    } else {
        sin6 = (const struct sockaddr_in6 *) sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, text, INET6_ADDRSTRLEN);
        *port = ntohs(sin6->sin6_port);
    }
}

/*
 * v1: a TCP4 or TCP6 line of the given addresses. `local` changes
 * nothing: a health check describes its own connection the same way (the
 * specification asks for that rather than UNKNOWN), which is what the
 * caller passes.
 */
static ssize_t
dm_pp_write_v1(u_char *buf, size_t size, int transport,
               const struct sockaddr *src, const struct sockaddr *dst,
               dm_uint_t ntlvs, int crc)
{
    char line[DM_PROXY_PROTOCOL_V1_MAX + 1];
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    unsigned pa, pb;
    int family, n;

    if (ntlvs || crc || (transport != 0 && transport != SOCK_STREAM)) {
        return -1; /* v1 has no TLVs and speaks of TCP only */
    }
    family = dm_pp_write_family(src, dst);
    if (family == AF_INET || family == AF_INET6) {
        dm_pp_write_ntop(src, a, &pa);
        dm_pp_write_ntop(dst, b, &pb);
        n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
                     family == AF_INET ? "TCP4" : "TCP6", a, b, pa, pb);
    } else {
        n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
    }
    if (n < 0 || (size_t) n >= sizeof(line) || (size_t) n > size) {
        return -1;
    }
    memcpy(buf, line, (size_t) n);
    return n;
}

/* A UNIX path as 108 bytes, zero-padded (bounded: sun_path may be full). */
static u_char *
dm_pp_write_unix(u_char *p, const struct sockaddr *sa)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *) sa;
    size_t n = strnlen(sun->sun_path, dm_min(sizeof(sun->sun_path), 108));

    memcpy(p, sun->sun_path, n);
    memset(p + n, 0, 108 - n);
    return p + 108;
}

/* The v2 address block of src and dst (alen bytes, already sized). */
static u_char *
dm_pp_write_addresses(u_char *p, int family, const struct sockaddr *src,
                      const struct sockaddr *dst)
{
    const struct sockaddr_in *s4 = (const struct sockaddr_in *) src;
    const struct sockaddr_in *d4 = (const struct sockaddr_in *) dst;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) src;
    const struct sockaddr_in6 *d6 = (const struct sockaddr_in6 *) dst;

    switch (family) {
    case AF_INET:
        memcpy(p, &s4->sin_addr, 4);
        memcpy(p + 4, &d4->sin_addr, 4);
        memcpy(p + 8, &s4->sin_port, 2);
        memcpy(p + 10, &d4->sin_port, 2);
        return p + 12;
    case AF_INET6:
        memcpy(p, &s6->sin6_addr, 16);
        memcpy(p + 16, &d6->sin6_addr, 16);
        memcpy(p + 32, &s6->sin6_port, 2);
        memcpy(p + 34, &d6->sin6_port, 2);
        return p + 36;
    case AF_UNIX:
        p = dm_pp_write_unix(p, src);
        return dm_pp_write_unix(p, dst);
    }
    return p;
}

static u_char *
dm_pp_write_tlv(u_char *p, uint8_t type, const u_char *value, size_t len)
{
    p[0] = type;
    p[1] = (u_char) (len >> 8);
    p[2] = (u_char) len;
    if (len) {
        memcpy(p + 3, value, len);
    }
    return p + 3 + len;
}

/*
 * v2: PROXY with the family of src and dst (UNSPEC when they have none in
 * common), or LOCAL (fam 0x00, no addresses: the receiver uses the real
 * endpoints anyway); then the TLVs in order and, last, the CRC32C TLV,
 * computed over the whole header with its value zeroed.
 */
static ssize_t
dm_pp_write_v2(u_char *buf, size_t size, int local, int transport,
               const struct sockaddr *src, const struct sockaddr *dst,
               const dm_proxy_protocol_tlv_t *tlvs, dm_uint_t ntlvs, int crc)
{
    size_t alen = 0, body, i;
    u_char fam = 0x00, *p;
    uint32_t c;
    int family = AF_UNSPEC;

    if (transport != 0 && transport != SOCK_STREAM && transport != SOCK_DGRAM) {
        return -1;
    }
    if (!local) {
        family = dm_pp_write_family(src, dst);
        switch (family) {
        case AF_INET:
            fam = 0x10;
            alen = 12;
            break;
        case AF_INET6:
            fam = 0x20;
            alen = 36;
            break;
        case AF_UNIX:
            fam = 0x30;
            alen = 216;
            break;
        }
        if (family != AF_UNSPEC) {
            fam |= transport == SOCK_STREAM  ? 0x01
                   : transport == SOCK_DGRAM ? 0x02
                                             : 0x00;
        }
    }
    body = alen + (crc ? 7 : 0);
    for (i = 0; i < ntlvs; i++) {
        if (tlvs[i].type == DM_PP2_TYPE_CRC32C
            || (tlvs[i].type == DM_PP2_TYPE_UNIQUE_ID && tlvs[i].len > 128)
            || (tlvs[i].len && tlvs[i].value == NULL)) {
            return -1;
        }
        body += 3 + (size_t) tlvs[i].len;
    }
    if (body > 0xffff || DM_PROXY_PROTOCOL_V2_HEAD + body > size) {
        return -1;
    }

    p = buf;
    memcpy(p, dm_pp2_sig, sizeof(dm_pp2_sig));
    p[12] = local ? 0x20 : 0x21;
    p[13] = fam;
    p[14] = (u_char) (body >> 8);
    p[15] = (u_char) body;
    p = dm_pp_write_addresses(p + DM_PROXY_PROTOCOL_V2_HEAD, family, src, dst);
    for (i = 0; i < ntlvs; i++) {
        p = dm_pp_write_tlv(p, tlvs[i].type, tlvs[i].value, tlvs[i].len);
    }
    if (crc) {
        p = dm_pp_write_tlv(p, DM_PP2_TYPE_CRC32C, (const u_char *) "\0\0\0\0",
                            4);
        c = dm_crc32c(buf, (size_t) (p - buf));
        p[-4] = (u_char) (c >> 24);
        p[-3] = (u_char) (c >> 16);
        p[-2] = (u_char) (c >> 8);
        p[-1] = (u_char) c;
    }
    return p - buf;
}

ssize_t
dm_proxy_protocol_write(u_char *buf, size_t size, unsigned version, int local,
                        int transport, const struct sockaddr *src,
                        const struct sockaddr *dst,
                        const dm_proxy_protocol_tlv_t *tlvs, dm_uint_t ntlvs,
                        int crc)
{
    if (tlvs == NULL) {
        ntlvs = 0;
    }
    if (version == 1) {
        return dm_pp_write_v1(buf, size, transport, src, dst, ntlvs, crc);
    }
    if (version == 2) {
        return dm_pp_write_v2(buf, size, local, transport, src, dst, tlvs,
                              ntlvs, crc);
    }
    return -1;
}
