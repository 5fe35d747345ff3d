/*
 * doorman: DNS messages for `server NAME resolve`: a query builder and a
 * strict, bounded response parser (A, AAAA, SRV, following CNAME), no
 * I/O and no allocation (dm_dns.c). The helper process sends the query
 * over UDP and hands the answer here.
 */
#ifndef DM_DNS_H
#define DM_DNS_H

#define DM_DNS_TYPE_A     1
#define DM_DNS_TYPE_CNAME 5
#define DM_DNS_TYPE_AAAA  28
#define DM_DNS_TYPE_SRV   33

/* The longest name (RFC 1035: 255 bytes on the wire, 253 as text). */
#define DM_DNS_NAME_MAX 255

/* The largest UDP message read (EDNS is not asked for). */
#define DM_DNS_UDP_MAX 512

/* One record of an answer. */
typedef struct {
    uint16_t type;                      /* DM_DNS_TYPE_A, _AAAA or _SRV */
    uint32_t ttl;                       /* seconds */
    u_char addr[16];                    /* A: 4 bytes, AAAA: 16 */
    uint16_t priority, weight, port;    /* SRV */
    u_char target[DM_DNS_NAME_MAX + 1]; /* SRV: the target, as text */
    size_t target_len;
} dm_dns_record_t;

/*
 * Writes a query for `name` (text, dots between labels, an optional final
 * dot; labels 1 to 63 bytes, 253 in all) of `qtype`, with id and RD set,
 * into buf. Returns the bytes written, or -1 for a bad name or a buffer
 * too small.
 */
ssize_t dm_dns_query(u_char *buf, size_t size, uint16_t id, const u_char *name,
                     size_t len, uint16_t qtype);

/*
 * Parses the response msg[0 .. len) to the query (id, name, qtype): the
 * header (a response, the same id, no truncation, one question equal to
 * the query's), then every answer record, each bounded by the message;
 * names may be compressed (pointers only backwards, at most 32 hops).
 * Records of qtype whose owner is the name, or a name a CNAME chain from
 * it reached, are returned in out[0 .. max) (*n of them; more are
 * counted but dropped), and *ttl is the smallest TTL among them (or of
 * the CNAMEs followed). Returns DM_OK (maybe *n == 0: no such record),
 * DM_DECLINED (the name does not exist: NXDOMAIN), or DM_ERROR with
 * *reason (a static string: "truncated", "id mismatch", "server failure",
 * "record overruns the message", ...).
 */
dm_int_t dm_dns_parse(const u_char *msg, size_t len, uint16_t id,
                      const u_char *name, size_t name_len, uint16_t qtype,
                      dm_dns_record_t *out, dm_uint_t max, dm_uint_t *n,
                      uint32_t *ttl, const char **reason);

#endif /* DM_DNS_H */
