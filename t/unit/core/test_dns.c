/*
 * doorman: unit tests for DNS messages (src/core/dm_dns.c).
 *
 * Covered: the query's exact bytes and refused names (empty label, a
 * label of 64 bytes, a bad character, 254 bytes); answers of two A
 * records (the smallest TTL), AAAA, SRV with a compressed target, a CNAME
 * chain in either order of the records, records of other owners and other
 * classes ignored, more records than room (counted out, dropped);
 * NXDOMAIN (DM_DECLINED); and rejected: truncation (the TC bit), an id
 * mismatch, a query instead of a response, SERVFAIL, a question that is
 * not the one asked, a forward or looping compression pointer, a record
 * overrunning the message, an A record of 5 bytes, a bad character in a
 * name, and every cut of a valid answer (each an error, never a crash).
 */
#include <dm_core.h>
#include <dm_dns.h>

#include <setjmp.h>
#include <cmocka.h>

/* A message under construction. */
typedef struct {
    u_char b[1024];
    size_t n;
} msg_t;

static void
put(msg_t *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void
put16(msg_t *m, uint16_t v)
{
    u_char b[2] = {(u_char) (v >> 8), (u_char) v};

    put(m, b, 2);
}

static void
put32(msg_t *m, uint32_t v)
{
    put16(m, (uint16_t) (v >> 16));
    put16(m, (uint16_t) v);
}

/* "a.test" as labels */
static void
put_name(msg_t *m, const char *name)
{
    const char *p = name, *dot;

    while (*p) {
        dot = strchr(p, '.');
        size_t l = dot ? (size_t) (dot - p) : strlen(p);
        u_char c = (u_char) l;

        put(m, &c, 1);
        put(m, p, l);
        p += l + (dot ? 1 : 0);
    }
    put(m, "", 1);
}

/* A response header and the question (name at offset 12). */
static void
head(msg_t *m, uint16_t id, uint16_t flags, uint16_t an, const char *q,
     uint16_t qtype)
{
    m->n = 0;
    put16(m, id);
    put16(m, flags);
    put16(m, 1);
    put16(m, an);
    put16(m, 0);
    put16(m, 0);
    put_name(m, q);
    put16(m, qtype);
    put16(m, 1);
}

/* A record: owner as a pointer to offset 12 (the question's name) when
   owner is NULL. */
static void
rr(msg_t *m, const char *owner, uint16_t type, uint16_t cls, uint32_t ttl,
   const void *rdata, uint16_t rdlen)
{
    if (owner) {
        put_name(m, owner);
    } else {
        put16(m, 0xc00c);
    }
    put16(m, type);
    put16(m, cls);
    put32(m, ttl);
    put16(m, rdlen);
    put(m, rdata, rdlen);
}

#define PARSE(m, q, t)                                                         \
    dm_dns_parse((m)->b, (m)->n, 0x1234, (const u_char *) (q), strlen(q), (t), \
                 recs, 8, &n, &ttl, &reason)

static dm_dns_record_t recs[8];
static dm_uint_t n;
static uint32_t ttl;
static const char *reason;

static void
test_query(void **state)
{
    static const u_char want[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00"
                                 "\x00\x00\x03"
                                 "api\x07"
                                 "example\x00"
                                 "\x00\x01\x00\x01";
    u_char buf[512];

    (void) state;
    assert_int_equal(dm_dns_query(buf, sizeof(buf), 0x1234,
                                  (const u_char *) "API.example.", 12, 1),
                     sizeof(want) - 1);
    assert_memory_equal(buf, want, sizeof(want) - 1);
    assert_int_equal(dm_dns_query(buf, 10, 1, (const u_char *) "a", 1, 1), -1);
    assert_int_equal(
        dm_dns_query(buf, sizeof(buf), 1, (const u_char *) "a..b", 4, 1), -1);
    assert_int_equal(
        dm_dns_query(buf, sizeof(buf), 1, (const u_char *) "a b", 3, 1), -1);
    {
        char l64[70];

        memset(l64, 'x', 64);
        assert_int_equal(
            dm_dns_query(buf, sizeof(buf), 1, (u_char *) l64, 64, 1), -1);
    }
}

static void
test_answers(void **state)
{
    static const u_char a1[4] = {10, 0, 0, 1}, a2[4] = {10, 0, 0, 2};
    u_char srv[64];
    msg_t m;

    (void) state;
    /* two A records and one of another owner, one of another class */
    head(&m, 0x1234, 0x8180, 4, "api.test", 1);
    rr(&m, NULL, 1, 1, 300, a1, 4);
    rr(&m, "other.test", 1, 1, 5, a2, 4);
    rr(&m, NULL, 1, 3, 5, a2, 4);
    rr(&m, NULL, 1, 1, 60, a2, 4);
    assert_int_equal(PARSE(&m, "api.test", 1), DM_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(recs[0].addr, a1, 4);
    assert_memory_equal(recs[1].addr, a2, 4);
    assert_int_equal(ttl, 60);

    /* AAAA */
    head(&m, 0x1234, 0x8180, 1, "api.test", 28);
    rr(&m, NULL, 28, 1, 30, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    assert_int_equal(PARSE(&m, "api.test", 28), DM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(recs[0].addr[15], 1);

    /* SRV with a target compressed onto the question's name */
    head(&m, 0x1234, 0x8180, 1, "_http._tcp.api.test", 33);
    memcpy(srv,
           "\x00\x0a\x00\x05\x1f\x90\x02"
           "b1\xc0\x17",
           11);
    rr(&m, NULL, 33, 1, 10, srv, 11);
    assert_int_equal(PARSE(&m, "_http._tcp.api.test", 33), DM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(recs[0].priority, 10);
    assert_int_equal(recs[0].weight, 5);
    assert_int_equal(recs[0].port, 8080);
    assert_string_equal((char *) recs[0].target, "b1.api.test");

    /* a CNAME chain, the address first */
    head(&m, 0x1234, 0x8180, 2, "www.test", 1);
    rr(&m, "real.test", 1, 1, 100, a1, 4);
    {
        msg_t t;

        t.n = 0;
        put_name(&t, "real.test");
        rr(&m, NULL, 5, 1, 20, t.b, (uint16_t) t.n);
    }
    assert_int_equal(PARSE(&m, "www.test", 1), DM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ttl, 20);

    /* more records than room: dropped, not an error */
    head(&m, 0x1234, 0x8180, 10, "api.test", 1);
    for (int i = 0; i < 10; i++) {
        rr(&m, NULL, 1, 1, 100, a1, 4);
    }
    assert_int_equal(PARSE(&m, "api.test", 1), DM_OK);
    assert_int_equal(n, 8);

    /* no record of the type */
    head(&m, 0x1234, 0x8180, 0, "api.test", 1);
    assert_int_equal(PARSE(&m, "api.test", 1), DM_OK);
    assert_int_equal(n, 0);

    /* NXDOMAIN */
    head(&m, 0x1234, 0x8183, 0, "api.test", 1);
    assert_int_equal(PARSE(&m, "api.test", 1), DM_DECLINED);
}

#define REJECT(m, q, t, why)                                                   \
    do {                                                                       \
        reason = NULL;                                                         \
        assert_int_equal(PARSE(m, q, t), DM_ERROR);                            \
        assert_non_null(reason);                                               \
        assert_non_null(strstr(reason, why));                                  \
    } while (0)

static void
test_rejected(void **state)
{
    static const u_char a1[4] = {10, 0, 0, 1};
    msg_t m, good;
    size_t cut;

    (void) state;
    head(&m, 0x1234, 0x8380, 0, "api.test", 1);
    REJECT(&m, "api.test", 1, "truncated");
    head(&m, 0x4321, 0x8180, 0, "api.test", 1);
    REJECT(&m, "api.test", 1, "id mismatch");
    head(&m, 0x1234, 0x0100, 0, "api.test", 1);
    REJECT(&m, "api.test", 1, "not a response");
    head(&m, 0x1234, 0x8182, 0, "api.test", 1);
    REJECT(&m, "api.test", 1, "server failure");
    head(&m, 0x1234, 0x8180, 0, "evil.test", 1);
    REJECT(&m, "api.test", 1, "not the one asked");
    head(&m, 0x1234, 0x8180, 0, "api.test", 28);
    REJECT(&m, "api.test", 1, "not the one asked");

    /* a pointer forward, and one to itself */
    head(&m, 0x1234, 0x8180, 1, "api.test", 1);
    put16(&m, 0xc000 | (uint16_t) (m.n + 2));
    REJECT(&m, "api.test", 1, "compression pointer");
    head(&m, 0x1234, 0x8180, 1, "api.test", 1);
    put16(&m, 0xc000 | (uint16_t) m.n);
    REJECT(&m, "api.test", 1, "compression pointer");

    /* overruns and bad records */
    head(&m, 0x1234, 0x8180, 1, "api.test", 1);
    rr(&m, NULL, 1, 1, 5, a1, 4);
    m.b[m.n - 5] = 9; /* rdlength 9 of 4 bytes */
    REJECT(&m, "api.test", 1, "overruns");
    head(&m, 0x1234, 0x8180, 1, "api.test", 1);
    rr(&m, NULL, 1, 1, 5, "\1\2\3\4\5", 5);
    REJECT(&m, "api.test", 1, "address record length");
    head(&m, 0x1234, 0x8180, 1, "api.test", 1);
    rr(&m, "a!b.test", 1, 1, 5, a1, 4);
    REJECT(&m, "api.test", 1, "bad character");

    /* every cut of a valid answer */
    head(&good, 0x1234, 0x8180, 2, "api.test", 1);
    rr(&good, NULL, 1, 1, 5, a1, 4);
    rr(&good, "x.api.test", 1, 1, 5, a1, 4);
    for (cut = 0; cut < good.n; cut++) {
        m = good;
        m.n = cut;
        assert_int_equal(PARSE(&m, "api.test", 1), DM_ERROR);
    }
    assert_int_equal(PARSE(&good, "api.test", 1), DM_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_rejected),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
