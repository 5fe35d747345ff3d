/*
 * doorman: libFuzzer target for the PROXY protocol parser and encoder
 * (src/core/dm_proxy_protocol.c, dm_proxy_protocol_write.c).
 *
 *   make fuzz FUZZ=proxy_protocol FUZZ_SECONDS=600
 *
 * Each input is what a client sends first, parsed as a receiver would:
 * whole, under several limits and version sets, and cut short. Checked:
 *
 *   - the answers agree: a header is complete (or refused, with the same
 *     reason) whatever follows it; every cut before its end needs more;
 *     a larger limit never refuses what a smaller one took; a version set
 *     that does not include the header's version refuses it;
 *   - a complete header lies within the input, its TLVs within it, and
 *     each TLV tlv_find returns lies within its TLV area (SSL sub-TLVs
 *     within the SSL TLV);
 *   - v1 addresses are judged as inet_pton judges them: an accepted one
 *     gives its bytes, a refused one is refused by inet_pton too;
 *   - re-encoded by dm_proxy_protocol_write (v2 again, and v1 when it can
 *     say it), the header parses back to the same addresses, family,
 *     transport, TLVs and CRC32C presence. The encoder writes in a buffer
 *     of exactly its length, so AddressSanitizer catches an overrun.
 */
#include <dm_core.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <dm_proxy_protocol.h>

#include <assert.h>

#define FZ_V12     (DM_PROXY_PROTOCOL_V1 | DM_PROXY_PROTOCOL_V2)
#define FZ_MAX_ALL (DM_PROXY_PROTOCOL_V2_HEAD + 65535)

static dm_int_t
fz_parse(const u_char *data, size_t len, dm_uint_t versions, size_t max,
         dm_proxy_protocol_t *pp, const char **reason)
{
    dm_int_t rc;

    rc = dm_proxy_protocol_parse(data, len, versions, max, pp, reason);
    assert(rc == DM_OK || rc == DM_AGAIN || rc == DM_ERROR);
    assert((rc == DM_ERROR) == (*reason != NULL));
    if (rc == DM_OK) {
        assert(pp->length > 0 && pp->length <= len);
        assert(pp->length <= (max ? max : DM_PROXY_PROTOCOL_MAX));
        assert(pp->version == 1 || pp->version == 2);
        assert(pp->version != 1 || pp->length <= DM_PROXY_PROTOCOL_V1_MAX);
        assert(pp->tlvs == NULL
               || (pp->tlvs >= data + DM_PROXY_PROTOCOL_V2_HEAD
                   && pp->tlvs + pp->tlvs_len == data + pp->length));
    }
    return rc;
}

static int
fz_same_addr(const struct sockaddr_storage *a, socklen_t alen,
             const struct sockaddr_storage *b, socklen_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* The TLVs that tlv_find returns lie inside their area. */
static void
fz_check_find(const dm_proxy_protocol_t *pp)
{
    dm_proxy_protocol_tlv_t tlv, ssl;
    unsigned type;
    int has_ssl;

    has_ssl = dm_proxy_protocol_tlv_find(pp, DM_PP2_TYPE_SSL, &ssl) == DM_OK;
    for (type = 0; type < 256; type++) {
        if (dm_proxy_protocol_tlv_find(pp, (uint8_t) type, &tlv) != DM_OK) {
            continue;
        }
        assert(pp->tlvs != NULL && tlv.type == type);
        assert(tlv.value >= pp->tlvs + 3
               && tlv.value + tlv.len <= pp->tlvs + pp->tlvs_len);
        if (type >= DM_PP2_SUBTYPE_SSL_VERSION
            && type <= DM_PP2_SUBTYPE_SSL_CLIENT_CERT) {
            assert(has_ssl && ssl.len >= 5);
            assert(tlv.value >= ssl.value + 5 + 3
                   && tlv.value + tlv.len <= ssl.value + ssl.len);
        }
    }
}

/*
 * The i-th v1 address token (after "PROXY TCPx ", up to the next SP or
 * the end of what the parser looks at) as a C string in tok; 0 when it
 * is not there or holds a NUL. An over-long token is cut at 63 bytes,
 * still too long to be an address.
 */
static int
fz_v1_token(const u_char *data, size_t len, int i, char *tok)
{
    const u_char *p = data + 11, *end = data + dm_min(len, 107);
    size_t n;

    for (;; i--) {
        for (n = 0; p + n < end && p[n] != ' ' && n < 63; n++) {
            if (p[n] == '\0') {
                return 0;
            }
        }
        if (i == 0) {
            memcpy(tok, p, n);
            tok[n] = '\0';
            return 1;
        }
        if (p + n >= end || p[n] != ' ') {
            return 0;
        }
        p += n + 1;
    }
}

/* A v1 address the parser took or refused: inet_pton must agree. */
static void
fz_check_v1_addr(const u_char *data, size_t len, dm_int_t rc,
                 const dm_proxy_protocol_t *pp, const char *reason)
{
    const struct sockaddr_storage *ss;
    const void *addr;
    u_char bin[2][16];
    char tok[64];
    int family, ok[2], i;

    if (len < 11 || memcmp(data, "PROXY TCP", 9) != 0
        || (data[9] != '4' && data[9] != '6') || data[10] != ' ') {
        return;
    }
    family = data[9] == '4' ? AF_INET : AF_INET6;
    for (i = 0; i < 2; i++) {
        ok[i] = -1; /* no token */
        if (fz_v1_token(data, len, i, tok)) {
            ok[i] = inet_pton(family, tok, bin[i]) == 1;
        }
    }
    if (rc == DM_OK) {
        assert(ok[0] == 1 && ok[1] == 1);
        for (i = 0; i < 2; i++) {
            ss = i ? &pp->dst : &pp->src;
            addr = family == AF_INET
                       ? (const void *) &((const struct sockaddr_in *) ss)
                             ->sin_addr
                       : (const void *) &((const struct sockaddr_in6 *) ss)
                             ->sin6_addr;
            assert(memcmp(addr, bin[i], family == AF_INET ? 4 : 16) == 0);
        }
    } else if (rc == DM_ERROR && strstr(reason, "bad source address")) {
        assert(ok[0] != 1);
    } else if (rc == DM_ERROR && strstr(reason, "bad destination address")) {
        assert(ok[0] == 1 && ok[1] != 1);
    } else if (rc == DM_ERROR && strstr(reason, "leading zero in an addr")) {
        assert(ok[0] != 1 || ok[1] != 1);
    }
}

/* Re-encodes a parsed header and parses it back: the same meaning. */
static void
fz_round_trip(const dm_proxy_protocol_t *pp, unsigned version)
{
    dm_proxy_protocol_tlv_t *tlvs = NULL, again_tlv;
    dm_proxy_protocol_t again;
    const char *reason;
    const u_char *p, *end;
    u_char *buf;
    size_t ntlvs = 0, i;
    ssize_t n;
    int local = pp->local;

    if (pp->tlvs && version == 2) {
        tlvs = malloc(sizeof(*tlvs) * (pp->tlvs_len / 3 + 1));
        assert(tlvs != NULL);
        p = pp->tlvs;
        end = p + pp->tlvs_len;
        while (p < end) {
            assert(end - p >= 3);
            tlvs[ntlvs].type = p[0];
            tlvs[ntlvs].len = (uint16_t) (p[1] << 8 | p[2]);
            tlvs[ntlvs].value = p + 3;
            p += 3 + tlvs[ntlvs].len;
            assert(p <= end);
            if (tlvs[ntlvs].type != DM_PP2_TYPE_CRC32C) {
                ntlvs++;
            }
        }
    }
    buf = malloc(FZ_MAX_ALL);
    assert(buf != NULL);
    n = dm_proxy_protocol_write(buf, FZ_MAX_ALL, version, local,
                                pp->version == 2 ? pp->transport : 0,
                                local ? NULL : (const void *) &pp->src,
                                local ? NULL : (const void *) &pp->dst, tlvs,
                                ntlvs, version == 2 && pp->has_crc);
    assert(n > 0);
    /* once more, in a buffer of exactly its size, then one byte less */
    free(buf);
    buf = malloc((size_t) n);
    assert(buf != NULL);
    assert(dm_proxy_protocol_write(buf, (size_t) n, version, local,
                                   pp->version == 2 ? pp->transport : 0,
                                   local ? NULL : (const void *) &pp->src,
                                   local ? NULL : (const void *) &pp->dst, tlvs,
                                   ntlvs, version == 2 && pp->has_crc)
           == n);
    assert(dm_proxy_protocol_write(buf, (size_t) n - 1, version, local,
                                   pp->version == 2 ? pp->transport : 0,
                                   local ? NULL : (const void *) &pp->src,
                                   local ? NULL : (const void *) &pp->dst, tlvs,
                                   ntlvs, version == 2 && pp->has_crc)
           == -1);

    assert(fz_parse(buf, (size_t) n, FZ_V12, FZ_MAX_ALL, &again, &reason)
           == DM_OK);
    assert(again.length == (size_t) n && again.version == version);
    assert(again.local == pp->local && again.family == pp->family);
    if (version == pp->version && !pp->local) {
        assert(again.transport == pp->transport);
    }
    assert(fz_same_addr(&again.src, again.src_len, &pp->src, pp->src_len));
    assert(fz_same_addr(&again.dst, again.dst_len, &pp->dst, pp->dst_len));
    if (version == 2) {
        assert(again.has_crc == pp->has_crc);
        for (i = 0, p = again.tlvs; i < ntlvs; i++) {
            assert(p != NULL && p[0] == tlvs[i].type);
            again_tlv.len = (uint16_t) (p[1] << 8 | p[2]);
            assert(again_tlv.len == tlvs[i].len);
            assert(memcmp(p + 3, tlvs[i].value, tlvs[i].len) == 0);
            p += 3 + again_tlv.len;
        }
    }
    free(buf);
    free(tlvs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[] = {0, FZ_MAX_ALL, 64};
    dm_proxy_protocol_t pp, other;
    const char *reason, *why;
    dm_int_t rc, rc2;
    size_t i, k, step;

    rc = fz_parse(data, size, FZ_V12, 0, &pp, &reason);
    fz_check_v1_addr(data, size, rc, &pp, reason);

    /* the limits: a larger one never refuses what a smaller one took */
    for (i = 1; i < dm_nelems(maxes); i++) {
        rc2 = fz_parse(data, size, FZ_V12, maxes[i], &other, &why);
        if (rc == DM_OK && maxes[i] >= pp.length) {
            assert(rc2 == DM_OK && other.length == pp.length);
        }
        if (rc2 == DM_OK && other.length <= DM_PROXY_PROTOCOL_MAX) {
            assert(rc == DM_OK && other.length == pp.length);
        }
        if (rc2 == DM_OK && maxes[i] == FZ_MAX_ALL) {
            fz_check_find(&other);
        }
    }

    /* one version only */
    if (rc == DM_OK) {
        rc2 = fz_parse(data, size, pp.version, 0, &other, &why);
        assert(rc2 == DM_OK && other.length == pp.length);
        rc2 = fz_parse(data, size, 3 - pp.version, 0, &other, &why);
        assert(rc2 == DM_ERROR);
    }

    /* cut short: each earlier answer is AGAIN or the same final answer */
    step = size <= 300 ? 1 : size / 97 + 1;
    for (k = 0; k < size; k += step) {
        rc2 = fz_parse(data, k, FZ_V12, 0, &other, &why);
        if (rc == DM_OK && k < pp.length) {
            assert(rc2 == DM_AGAIN);
        } else if (rc2 == DM_OK) {
            assert(rc == DM_OK && other.length == pp.length);
        } else if (rc2 == DM_ERROR) {
            assert(rc == DM_ERROR && why == reason);
        }
    }

    if (rc == DM_OK) {
        fz_check_find(&pp);
        fz_round_trip(&pp, 2);
        if (pp.family == AF_INET || pp.family == AF_INET6 || pp.local) {
            if (pp.transport != SOCK_DGRAM) {
                fz_round_trip(&pp, 1);
            }
        }
    }

    /* the TLV names: any bytes */
    rc = dm_proxy_protocol_tlv_type(data, dm_min(size, 16));
    assert(rc == -1 || (rc >= 1 && rc <= 255));
    return 0;
}
