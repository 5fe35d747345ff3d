/*
 * doorman: DNS queries and responses (RFC 1035, RFC 2782 for SRV,
 * RFC 3596 for AAAA).
 *
 * The parser trusts nothing: every length is checked against the
 * message, compression pointers may only point backwards and at most 32
 * of them are followed (no loops), labels hold only letters, digits, '-'
 * and '_' (a label with a dot in it cannot pass for two), and only
 * records of the class IN whose owner is the queried name, or a name its
 * CNAME chain reached, are taken.
 */
#include <dm_core.h>
#include <dm_dns.h>

#define DM_DNS_HEADER   12
#define DM_DNS_HOPS     32 /* compression pointers followed, at most */
#define DM_DNS_CHAIN    8  /* names of a CNAME chain, at most */
#define DM_DNS_RECORDS  64 /* answer records looked at, at most */
#define DM_DNS_CLASS_IN 1

static uint16_t
dm_dns_get16(const u_char *p)
{
    return (uint16_t) ((p[0] << 8) | p[1]);
}

static uint32_t
dm_dns_get32(const u_char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}

static int
dm_dns_label_char(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A name as text: lower case, dots between labels, no final dot. */
static dm_int_t
dm_dns_text_name(const u_char *name, size_t len, u_char *out, size_t *olen)
{
    size_t i, label = 0;

    if (len && name[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len > 253) {
        return DM_ERROR;
    }
    for (i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (label == 0) {
                return DM_ERROR;
            }
            label = 0;
        } else if (!dm_dns_label_char(name[i]) || ++label > 63) {
            return DM_ERROR;
        }
        out[i] = (u_char) ((name[i] >= 'A' && name[i] <= 'Z') ? name[i] | 0x20
                                                              : name[i]);
    }
    if (label == 0) {
        return DM_ERROR;
    }
    out[len] = '\0';
    *olen = len;
    return DM_OK;
}

ssize_t
dm_dns_query(u_char *buf, size_t size, uint16_t id, const u_char *name,
             size_t len, uint16_t qtype)
{
    u_char text[DM_DNS_NAME_MAX + 1];
    size_t tlen, i, start, need;
    u_char *p;

    if (dm_dns_text_name(name, len, text, &tlen) != DM_OK) {
        return -1;
    }
    need = DM_DNS_HEADER + tlen + 2 + 4;
    if (size < need) {
        return -1;
    }
    p = buf;
    *p++ = (u_char) (id >> 8);
    *p++ = (u_char) id;
    *p++ = 0x01; /* RD */
    *p++ = 0x00;
    *p++ = 0x00;
    *p++ = 0x01; /* one question */
    memset(p, 0, 6);
    p += 6;
    start = 0;
    for (i = 0; i <= tlen; i++) {
        if (i == tlen || text[i] == '.') {
            *p++ = (u_char) (i - start);
            memcpy(p, text + start, i - start);
            p += i - start;
            start = i + 1;
        }
    }
    *p++ = 0x00;
    *p++ = (u_char) (qtype >> 8);
    *p++ = (u_char) qtype;
    *p++ = 0x00;
    *p++ = DM_DNS_CLASS_IN;
    return p - buf;
}

/*
 * Reads the (maybe compressed) name at *off into text; *off moves past
 * its bytes where it started. DM_OK or DM_ERROR with *reason.
 */
static dm_int_t
dm_dns_name(const u_char *msg, size_t len, size_t *off, u_char *text,
            size_t *tlen, const char **reason)
{
    size_t p = *off, out = 0, end = 0, ptr, i;
    dm_uint_t hops = 0;
    int jumped = 0;
    u_char c;

    for (;;) {
        if (p >= len) {
            *reason = "name overruns the message";
            return DM_ERROR;
        }
        c = msg[p];
        if (c == 0) {
            p++;
            break;
        }
        if ((c & 0xc0) == 0xc0) {
            if (p + 1 >= len) {
                *reason = "name overruns the message";
                return DM_ERROR;
            }
            ptr = ((size_t) (c & 0x3f) << 8) | msg[p + 1];
            /* only backwards: a pointer cannot make a loop that way */
            if (ptr >= p || ++hops > DM_DNS_HOPS) {
                *reason = "bad compression pointer";
                return DM_ERROR;
            }
            if (!jumped) {
                end = p + 2;
                jumped = 1;
            }
            p = ptr;
            continue;
        }
        if (c & 0xc0) {
            *reason = "bad label type";
            return DM_ERROR;
        }
        if (p + 1 + c > len) {
            *reason = "name overruns the message";
            return DM_ERROR;
        }
        if (out + (out ? 1 : 0) + c > 253) {
            *reason = "name too long";
            return DM_ERROR;
        }
        if (out) {
            text[out++] = '.';
        }
        for (i = 0; i < c; i++) {
            u_char ch = msg[p + 1 + i];

            if (!dm_dns_label_char(ch)) {
                *reason = "bad character in a name";
                return DM_ERROR;
            }
            text[out++] = (u_char) ((ch >= 'A' && ch <= 'Z') ? ch | 0x20 : ch);
        }
        p += 1 + c;
    }
    text[out] = '\0';
    *tlen = out;
    *off = jumped ? end : p;
    return DM_OK;
}

/* One answer record as found: where its parts are. */
typedef struct {
    u_char owner[DM_DNS_NAME_MAX + 1];
    size_t owner_len;
    uint16_t type;
    uint32_t ttl;
    size_t rdata; /* offset */
    uint16_t rdlen;
} dm_dns_rr_t;

static int
dm_dns_in_chain(u_char chain[][DM_DNS_NAME_MAX + 1], const size_t *clen,
                dm_uint_t nchain, const u_char *name, size_t len)
{
    dm_uint_t i;

    for (i = 0; i < nchain; i++) {
        if (clen[i] == len && memcmp(chain[i], name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The header and the question; *off moves past the question. */
static dm_int_t
dm_dns_check_head(const u_char *msg, size_t len, uint16_t id,
                  const u_char *qname, size_t qlen, uint16_t qtype, size_t *off,
                  uint16_t *ancount, const char **reason)
{
    u_char text[DM_DNS_NAME_MAX + 1];
    uint16_t flags;
    size_t tlen;

    if (len < DM_DNS_HEADER) {
        *reason = "message too short";
        return DM_ERROR;
    }
    if (dm_dns_get16(msg) != id) {
        *reason = "id mismatch";
        return DM_ERROR;
    }
    flags = dm_dns_get16(msg + 2);
    if (!(flags & 0x8000) || ((flags >> 11) & 0xf) != 0) {
        *reason = "not a response to a standard query";
        return DM_ERROR;
    }
    if (flags & 0x0200) {
        *reason = "truncated";
        return DM_ERROR;
    }
    switch (flags & 0xf) {
    case 0:
        break;
    case 3:
        return DM_DECLINED;
    case 2:
        *reason = "server failure";
        return DM_ERROR;
    case 5:
        *reason = "refused";
        return DM_ERROR;
    default:
        *reason = "error response";
        return DM_ERROR;
    }
    if (dm_dns_get16(msg + 4) != 1) {
        *reason = "not one question";
        return DM_ERROR;
    }
    *ancount = dm_dns_get16(msg + 6);
    *off = DM_DNS_HEADER;
    if (dm_dns_name(msg, len, off, text, &tlen, reason) != DM_OK) {
        return DM_ERROR;
    }
    if (*off + 4 > len) {
        *reason = "question overruns the message";
        return DM_ERROR;
    }
    if (tlen != qlen || memcmp(text, qname, qlen) != 0
        || dm_dns_get16(msg + *off) != qtype
        || dm_dns_get16(msg + *off + 2) != DM_DNS_CLASS_IN) {
        *reason = "the question is not the one asked";
        return DM_ERROR;
    }
    *off += 4;
    return DM_OK;
}

/* Fills out from a record of the wanted type. */
static dm_int_t
dm_dns_record(const u_char *msg, size_t len, const dm_dns_rr_t *rr,
              dm_dns_record_t *out, const char **reason)
{
    size_t off;

    memset(out, 0, sizeof(*out));
    out->type = rr->type;
    out->ttl = rr->ttl;
    switch (rr->type) {
    case DM_DNS_TYPE_A:
    case DM_DNS_TYPE_AAAA:
        if (rr->rdlen != (rr->type == DM_DNS_TYPE_A ? 4 : 16)) {
            *reason = "bad address record length";
            return DM_ERROR;
        }
        memcpy(out->addr, msg + rr->rdata, rr->rdlen);
        return DM_OK;
    default: /* SRV */
        if (rr->rdlen < 7) {
            *reason = "bad SRV record length";
            return DM_ERROR;
        }
        out->priority = dm_dns_get16(msg + rr->rdata);
        out->weight = dm_dns_get16(msg + rr->rdata + 2);
        out->port = dm_dns_get16(msg + rr->rdata + 4);
        off = rr->rdata + 6;
        if (dm_dns_name(msg, len, &off, out->target, &out->target_len, reason)
            != DM_OK) {
            return DM_ERROR;
        }
        if (off != rr->rdata + rr->rdlen) {
            *reason = "SRV target does not end its record";
            return DM_ERROR;
        }
        return DM_OK;
    }
}

dm_int_t
dm_dns_parse(const u_char *msg, size_t len, uint16_t id, const u_char *name,
             size_t name_len, uint16_t qtype, dm_dns_record_t *out,
             dm_uint_t max, dm_uint_t *n, uint32_t *ttl, const char **reason)
{
    dm_dns_rr_t rrs[DM_DNS_RECORDS];
    u_char chain[DM_DNS_CHAIN][DM_DNS_NAME_MAX + 1];
    size_t clen[DM_DNS_CHAIN], off, tlen;
    uint16_t ancount, i, nrr = 0;
    dm_uint_t nchain = 1, k;
    uint32_t min = UINT32_MAX;
    int grew;
    dm_int_t rc;

    *n = 0;
    *ttl = 0;
    if (dm_dns_text_name(name, name_len, chain[0], &clen[0]) != DM_OK) {
        *reason = "bad name";
        return DM_ERROR;
    }
    rc = dm_dns_check_head(msg, len, id, chain[0], clen[0], qtype, &off,
                           &ancount, reason);
    if (rc != DM_OK) {
        return rc;
    }
    for (i = 0; i < ancount; i++) {
        dm_dns_rr_t *rr = &rrs[nrr < DM_DNS_RECORDS ? nrr : DM_DNS_RECORDS - 1];

        if (dm_dns_name(msg, len, &off, rr->owner, &tlen, reason) != DM_OK) {
            return DM_ERROR;
        }
        rr->owner_len = tlen;
        if (off + 10 > len) {
            *reason = "record overruns the message";
            return DM_ERROR;
        }
        rr->type = dm_dns_get16(msg + off);
        rr->ttl = dm_dns_get32(msg + off + 4) & 0x7fffffff;
        rr->rdlen = dm_dns_get16(msg + off + 8);
        rr->rdata = off + 10;
        if (rr->rdata + rr->rdlen > len) {
            *reason = "record overruns the message";
            return DM_ERROR;
        }
        off = rr->rdata + rr->rdlen;
        if (dm_dns_get16(msg + rr->rdata - 8) != DM_DNS_CLASS_IN) {
            continue; /* not the Internet class: not ours */
        }
        if (nrr < DM_DNS_RECORDS) {
            nrr++;
        }
    }

    /* the CNAME chain from the name, in any order of the records */
    do {
        grew = 0;
        for (i = 0; i < nrr && nchain < DM_DNS_CHAIN; i++) {
            if (rrs[i].type != DM_DNS_TYPE_CNAME
                || !dm_dns_in_chain(chain, clen, nchain, rrs[i].owner,
                                    rrs[i].owner_len)) {
                continue;
            }
            off = rrs[i].rdata;
            if (dm_dns_name(msg, len, &off, chain[nchain], &clen[nchain],
                            reason)
                != DM_OK) {
                return DM_ERROR;
            }
            if (off != rrs[i].rdata + rrs[i].rdlen) {
                *reason = "CNAME target does not end its record";
                return DM_ERROR;
            }
            if (!dm_dns_in_chain(chain, clen, nchain, chain[nchain],
                                 clen[nchain])) {
                min = dm_min(min, rrs[i].ttl);
                nchain++;
                grew = 1;
            }
        }
    } while (grew);

    for (i = 0; i < nrr; i++) {
        if (rrs[i].type != qtype
            || !dm_dns_in_chain(chain, clen, nchain, rrs[i].owner,
                                rrs[i].owner_len)) {
            continue;
        }
        k = *n < max ? *n : max;
        if (k < max) {
            if (dm_dns_record(msg, len, &rrs[i], &out[k], reason) != DM_OK) {
                return DM_ERROR;
            }
            (*n)++;
        }
        min = dm_min(min, rrs[i].ttl);
    }
    *ttl = (*n == 0 || min == UINT32_MAX) ? 0 : min;
    return DM_OK;
}
