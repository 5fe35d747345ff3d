/*
 * doorman: libFuzzer target for DNS responses (src/core/dm_dns.c).
 *
 *   make fuzz FUZZ=dns FUZZ_SECONDS=600
 *
 * Each input is a response; its first two bytes choose the query it is
 * checked against (one of a few names, each of A, AAAA and SRV), and its
 * own id is used so that the header check passes as often as it can.
 * The message is copied to an allocation of its exact size, so
 * AddressSanitizer catches a read past it; the results must hold what
 * they say (the count within the room, targets NUL-terminated text).
 */
#include <dm_core.h>
#include <dm_dns.h>

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"api.test", "_http._tcp.api.test", "a",
                                        "www.example.com"};
    static const uint16_t types[] = {DM_DNS_TYPE_A, DM_DNS_TYPE_AAAA,
                                     DM_DNS_TYPE_SRV};
    dm_dns_record_t out[4];
    const char *reason = NULL, *name;
    uint32_t ttl;
    dm_uint_t n, i;
    u_char *msg, q[DM_DNS_UDP_MAX];
    uint16_t type, id;
    dm_int_t rc;

    if (size < 2) {
        return 0;
    }
    name = names[data[0] % 4];
    type = types[data[1] % 3];
    data += 2;
    size -= 2;
    msg = malloc(size ? size : 1);
    if (msg == NULL) {
        return 0;
    }
    memcpy(msg, data, size);
    id = size >= 2 ? (uint16_t) ((msg[0] << 8) | msg[1]) : 0;
    rc = dm_dns_parse(msg, size, id, (const u_char *) name, strlen(name), type,
                      out, 4, &n, &ttl, &reason);
    assert(rc == DM_OK || rc == DM_DECLINED || rc == DM_ERROR);
    if (rc == DM_ERROR) {
        assert(reason != NULL);
    }
    if (rc == DM_OK) {
        assert(n <= 4);
        for (i = 0; i < n; i++) {
            assert(out[i].type == type);
            assert(out[i].target_len <= DM_DNS_NAME_MAX);
            assert(strlen((char *) out[i].target) == out[i].target_len);
        }
    }
    /* the query of the same name round-trips through the parser's
       question check when echoed back as an empty answer */
    if (dm_dns_query(q, sizeof(q), id, (const u_char *) name, strlen(name),
                     type)
        > 0) {
        q[2] |= 0x80;
        rc = dm_dns_parse(q, (size_t) (12 + strlen(name) + 2 + 4), id,
                          (const u_char *) name, strlen(name), type, out, 4, &n,
                          &ttl, &reason);
        assert(rc == DM_OK && n == 0);
    }
    free(msg);
    return 0;
}
