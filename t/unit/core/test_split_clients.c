/*
 * doorman: unit tests for split_clients (src/core/dm_split_clients.c) and
 * MurmurHash2 (src/core/dm_murmurhash.c).
 *
 * Covered: MurmurHash2 known vectors (every tail length, bytes >= 0x80,
 * an unaligned start); the percent syntax (nginx's two decimals); the
 * bucket bounds, to the bit, and which bucket a hash on either side of a
 * bound lands in, with and without `*`; the directive through a real
 * configuration load in stream and http (a bucket picked by
 * "${remote_addr}AAA", a 0.01% bucket hit exactly, no bucket and no `*`:
 * the empty string, the value cached for the session, keys that use each
 * other: an error line, no crash); the configuration errors with their
 * FILE:LINE.
 *
 * Where the expected numbers come from: an independent Python
 * reimplementation of Austin Appleby's public MurmurHash2 (32 bits, seed
 * 0, little-endian blocks), run once:
 *
 *   M = 0x5bd1e995
 *   def mm2(d):
 *       n = len(d); h = n; i = 0
 *       while n - i >= 4:
 *           k = int.from_bytes(d[i:i+4], 'little')
 *           k = k * M & 0xffffffff; k ^= k >> 24; k = k * M & 0xffffffff
 *           h = h * M & 0xffffffff; h ^= k; i += 4
 *       r = n - i
 *       if r == 3: h ^= d[i+2] << 16
 *       if r >= 2: h ^= d[i+1] << 8
 *       if r >= 1: h ^= d[i]; h = h * M & 0xffffffff
 *       h ^= h >> 13; h = h * M & 0xffffffff; h ^= h >> 15
 *       return h
 *
 * and the bounds with Python integers: sum of p * 0xffffffff // 10000.
 * t/split_clients.t checks the same hash against nginx itself.
 */
#include <dm_core.h>
#include <dm_murmurhash.h>
#include <dm_split_clients.h>
#include <dm_stream_conf.h>
#include <dm_http_conf.h>

#include <dm_test_conf.h>

/* --- MurmurHash2 -------------------------------------------------------- */

static uint32_t
mm2(const char *s)
{
    return dm_murmurhash2((const u_char *) s, strlen(s));
}

static void
test_murmur_vectors(void **state)
{
    static const u_char bin7[] = {0, 1, 2, 3, 4, 5, 6};
    static const u_char high5[] = {0xff, 0xfe, 0xfd, 0xfc, 0xfb};

    /* seed 0: the empty string stays 0 through the avalanche */
    assert_int_equal(mm2(""), 0x00000000u);
    /* tails of 1, 2, 3 bytes, one block, a block and a tail */
    assert_int_equal(mm2("a"), 0x92685f5eu);
    assert_int_equal(mm2("ab"), 0x1aa14063u);
    assert_int_equal(mm2("abc"), 0x13577c9bu);
    assert_int_equal(mm2("abcd"), 0x26873021u);
    assert_int_equal(mm2("abcde"), 0x5f09a8deu);
    assert_int_equal(mm2("hello"), 0xe56129cbu);
    assert_int_equal(mm2("Hello, world!"), 0x403c1e05u);
    assert_int_equal(mm2("127.0.0.1"), 0xb6131d91u);
    assert_int_equal(mm2("127.0.0.1AAA"), 0xb5fc5e4bu);
    assert_int_equal(mm2("The quick brown fox jumps over the lazy dog"),
                     0x212729d0u);
    /* NUL bytes count, and bytes >= 0x80 are not sign-extended */
    assert_int_equal(dm_murmurhash2(bin7, sizeof(bin7)), 0x40262f9cu);
    assert_int_equal(dm_murmurhash2(high5, sizeof(high5)), 0xfae45ebcu);
}

static void
test_murmur_unaligned(void **state)
{
    u_char buf[64];
    size_t off;

    /* the blocks are read byte by byte: any start address hashes alike */
    for (off = 0; off < 4; off++) {
        memcpy(buf + off, "Hello, world!", 13);
        assert_int_equal(dm_murmurhash2(buf + off, 13), 0x403c1e05u);
    }
}

/* --- percent syntax ----------------------------------------------------- */

static dm_int_t
pct(const char *s)
{
    return dm_split_clients_percent((const u_char *) s, strlen(s));
}

static void
test_percent(void **state)
{
    assert_int_equal(pct("5"), 500);
    assert_int_equal(pct("0.5"), 50);
    assert_int_equal(pct("0.05"), 5);
    assert_int_equal(pct("33.33"), 3333);
    assert_int_equal(pct(".5"), 50);
    assert_int_equal(pct("5."), 500);
    assert_int_equal(pct("100"), 10000);
    assert_int_equal(pct("007.10"), 710);
    /* over 100% parses: the total is the layout's business */
    assert_int_equal(pct("150"), 15000);
    /* zero parses as zero (the directive refuses it) */
    assert_int_equal(pct("0"), 0);
    assert_int_equal(pct("."), 0);

    assert_int_equal(pct(""), DM_ERROR);
    assert_int_equal(pct("0.505"), DM_ERROR); /* a third decimal */
    assert_int_equal(pct("1.2.3"), DM_ERROR);
    assert_int_equal(pct("5a"), DM_ERROR);
    assert_int_equal(pct("-5"), DM_ERROR);
    assert_int_equal(pct("+5"), DM_ERROR);
    assert_int_equal(pct(" 5"), DM_ERROR);
    assert_int_equal(pct("5%"), DM_ERROR);
    assert_int_equal(pct("99999999999999999999"), DM_ERROR);
    assert_int_equal(pct("999999999999999999"), DM_ERROR); /* * 100 */
}

/* --- bounds and lookup -------------------------------------------------- */

static dm_split_clients_part_t parts[8];
static dm_split_clients_t sc;

/* Sets up sc from hundredths of a percent (0: `*`), -1 ending the list. */
static dm_int_t
layout(const int *pcts)
{
    dm_uint_t n;

    memset(parts, 0, sizeof(parts));
    for (n = 0; pcts[n] >= 0; n++) {
        parts[n].percent = (dm_uint_t) pcts[n];
        parts[n].value.data = (u_char *) "x";
        parts[n].value.len = 1;
    }
    sc.parts = parts;
    sc.nparts = n;
    return dm_split_clients_layout(parts, n);
}

/* The index of the bucket hash lands in, or -1 for none. */
static int
bucket(uint32_t hash)
{
    const dm_split_clients_part_t *p = dm_split_clients_find(&sc, hash);

    return p ? (int) (p - parts) : -1;
}

static void
test_layout_bounds(void **state)
{
    static const int small[] = {50, 500, 0, -1};
    static const int thirds[] = {3333, 3333, 3333, -1};
    static const int whole[] = {10000, -1};
    static const int fine[] = {7000, 112, 1, 0, -1};

    /* 0.5%, 5%, *: 50 * 0xffffffff / 10000, then plus 500 * ... */
    assert_int_equal(layout(small), DM_OK);
    assert_int_equal(parts[0].bound, 21474836u);
    assert_int_equal(parts[1].bound, 236223200u);
    assert_int_equal(bucket(0), 0);
    assert_int_equal(bucket(21474835u), 0);
    assert_int_equal(bucket(21474836u), 1); /* the bound is exclusive */
    assert_int_equal(bucket(236223199u), 1);
    assert_int_equal(bucket(236223200u), 2);
    assert_int_equal(bucket(0xffffffffu), 2); /* `*` takes all the rest */

    /* each width rounded down on its own, then summed */
    assert_int_equal(layout(thirds), DM_OK);
    assert_int_equal(parts[0].bound, 1431512599u);
    assert_int_equal(parts[1].bound, 2863025198u);
    assert_int_equal(parts[2].bound, 4294537797u);
    assert_int_equal(bucket(4294537796u), 2);
    /* 0.01% left uncovered and no `*`: no bucket */
    assert_int_equal(bucket(4294537797u), -1);
    assert_int_equal(bucket(0xffffffffu), -1);

    /* 100% is 0xffffffff: the very last hash has no bucket, as nginx */
    assert_int_equal(layout(whole), DM_OK);
    assert_int_equal(parts[0].bound, 0xffffffffu);
    assert_int_equal(bucket(0xfffffffeu), 0);
    assert_int_equal(bucket(0xffffffffu), -1);

    /* 127.0.0.1 hashes to 3054706065, in the 0.01% bucket of
       70%, 1.12%, 0.01% (bounds 3006477106, 3054580739, 3055010235) */
    assert_int_equal(layout(fine), DM_OK);
    assert_int_equal(parts[0].bound, 3006477106u);
    assert_int_equal(parts[1].bound, 3054580739u);
    assert_int_equal(parts[2].bound, 3055010235u);
    assert_int_equal(bucket(mm2("127.0.0.1")), 2);
    assert_int_equal(bucket(3055010235u), 3);

    /* no bucket at all */
    sc.nparts = 0;
    assert_int_equal(bucket(0), -1);
}

static void
test_layout_over(void **state)
{
    static const int exact[] = {6000, 4000, 0, -1};
    static const int over[] = {6000, 4001, -1};
    static const int after_rest[] = {5000, 0, 1, -1};
    static const int big[] = {15000, -1};

    /* 100% and a `*` that gets nothing is fine */
    assert_int_equal(layout(exact), DM_OK);
    assert_int_equal(layout(over), DM_DECLINED);
    /* `*` counts as the rest: anything after it is too much */
    assert_int_equal(layout(after_rest), DM_DECLINED);
    assert_int_equal(layout(big), DM_DECLINED);
}

/* --- the directive, through a configuration load ------------------------- */

static dm_pool_t *spool;
static dm_connection_t conn;
static dm_variable_env_t env;

static int
setup_conf(void **state)
{
    conf_setup("/tmp/dm-test-split-XXXXXX");
    spool = dm_pool_create(4096, dm_log_init());
    assert_non_null(spool);
    memset(&conn, 0, sizeof(conn));
    conn.log = dm_log_init();
    return 0;
}

static int
teardown_conf(void **state)
{
    int rc = conf_teardown();

    dm_pool_destroy(spool);
    return rc;
}

/* Loads a stream block made of `blocks` and a server returning `text`. */
static void
must_load(const char *blocks, const char *text)
{
    char conf[4096];

    snprintf(conf, sizeof(conf),
             "stream {\n%s\n"
             "server { listen 127.0.0.1:1; return \"%s\"; }\n}\n",
             blocks, text);
    load_ok(conf);
}

/* A new session of the registry `reg` from the client address `addr`. */
static void
session_in(dm_variable_registry_t *reg, const char *addr)
{
    conn.addr_text.data = (u_char *) addr;
    conn.addr_text.len = strlen(addr);
    assert_int_equal(dm_variable_env_init(&env, reg, spool, &conn, NULL),
                     DM_OK);
}

static void
session(const char *addr)
{
    dm_stream_core_main_conf_t *cmcf = dm_stream_conf_get_main(
        dm_stream_conf_ctx(loaded), dm_stream_core_module);

    session_in(&cmcf->variables, addr);
}

static dm_uint_t
var_index(const char *name)
{
    dm_variable_t *v = env.registry->indexed.elts;
    dm_uint_t i;

    for (i = 0; i < env.registry->indexed.nelts; i++) {
        if (dm_str_eq(&v[i].name, name)) {
            return i;
        }
    }
    fail_msg("the variable \"%s\" is not used", name);
    return 0;
}

/* The value of $name in the current session, "(not found)" if none. */
static const char *
var(const char *name)
{
    static char out[512];
    dm_variable_value_t *v = dm_variable_value(&env, var_index(name));

    assert_non_null(v);
    if (v->not_found) {
        return "(not found)";
    }
    assert_true(v->len < sizeof(out));
    memcpy(out, v->data, v->len);
    out[v->len] = '\0';
    return out;
}

static void
test_conf_buckets(void **state)
{
    must_load(
        /* "127.0.0.1AAA" hashes to 0xb5fc5e4b, above the middle */
        "split_clients \"${remote_addr}AAA\" $half { 50% lo; * hi; }\n"
        /* 127.0.0.1: 3054706065, the 0.01% bucket */
        "split_clients $remote_addr $fine {\n"
        "    70% a;\n    1.12% b;\n    0.01% c;\n    * d;\n}\n"
        /* 127.0.0.1 is at 71.1%: beyond 10% and no `*` */
        "split_clients $remote_addr $none { 10% a; }\n"
        /* an empty block: never a value */
        "split_clients $remote_addr $empty { }\n"
        /* an included entry and a quoted value with a space */
        "split_clients $remote_addr $inc {\n"
        "    include part.conf;\n    * \"the rest\";\n}\n",
        "$half $fine $none $empty $inc");
    session("127.0.0.1");
    assert_string_equal(var("half"), "hi");
    assert_string_equal(var("fine"), "c");
    /* the empty string, which is a value (as a map without default) */
    assert_string_equal(var("none"), "");
    assert_string_equal(var("empty"), "");
    assert_string_equal(var("inc"), "the rest");
    /* 127.0.0.3: 556555514, 12.96%: in the included 20% */
    session("127.0.0.3");
    assert_string_equal(var("fine"), "a");
    assert_string_equal(var("none"), "");
    assert_string_equal(var("inc"), "first fifth");
    /* "127.0.0.3AAA": 17.4%, under 50% */
    assert_string_equal(var("half"), "lo");
    /* 127.0.0.2: 27.6%, under 70%; "127.0.0.2AAA": 61.5% */
    session("127.0.0.2");
    assert_string_equal(var("fine"), "a");
    assert_string_equal(var("half"), "hi");
}

static int
setup_conf_include(void **state)
{
    setup_conf(state);
    put("part.conf", "# included entries\n20% \"first fifth\";\n");
    return 0;
}

static void
test_conf_cached(void **state)
{
    dm_uint_t c;

    /* $connection "1" hashes below the middle, "3" above */
    must_load("split_clients $connection $c { 50% lo; * hi; }\n", "$c");
    session("127.0.0.1");
    conn.number = 1;
    assert_string_equal(var("c"), "lo");
    /* the connection's number changes under the session: forget the
       cached $connection so that only $c's own caching shows */
    conn.number = 3;
    c = var_index("connection");
    env.values[c].valid = 0;
    assert_string_equal(var("c"), "lo");
    /* a new session computes it again */
    session("127.0.0.1");
    assert_string_equal(var("c"), "hi");
}

static void
test_conf_loop(void **state)
{
    const char *value;

    /* keys that use each other's variables: a logged error and no
       value, no crash */
    must_load("split_clients \"<$b>\" $a { 50% x; * y; }\n"
              "split_clients \"[$a]\" $b { 50% x; * y; }\n",
              "$a");
    session("127.0.0.1");
    capture_begin();
    value = var("a");
    capture_end();
    assert_non_null(value);
    assert_non_null(strstr(errbuf, "[error] the split_clients of "));
    assert_non_null(strstr(errbuf, " is nested deeper than 32"));
}

static void
test_conf_http(void **state)
{
    dm_http_core_main_conf_t *cmcf;

    /* the http block has its own directive and registry */
    if (!load("http {\n"
              " split_clients \"${remote_addr}AAA\" $h { 50% lo; * hi; }\n"
              " server { listen 127.0.0.1:1; return 200 \"$h\"; }\n}\n")) {
        fail_msg("the configuration did not load: %s", errbuf);
    }
    cmcf = dm_http_conf_get_main(dm_http_conf_ctx(loaded), dm_http_core_module);
    session_in(&cmcf->variables, "127.0.0.1");
    assert_string_equal(var("h"), "hi");
}

static void
test_conf_errors(void **state)
{
    must_fail("stream {\n split_clients $remote_addr $x {\n  60% a;\n"
              "  50% b;\n }\n}\n",
              "doorman.conf", 2, "percent total is greater than 100%");
    must_fail("stream {\n split_clients $remote_addr $x {\n  * a;\n"
              "  1% b;\n }\n}\n",
              "doorman.conf", 2, "percent total is greater than 100%");
    must_fail("stream {\n split_clients $remote_addr $x {\n  101% a;\n"
              " }\n}\n",
              "doorman.conf", 2, "percent total is greater than 100%");
    must_fail("stream {\n split_clients $remote_addr $x {\n  5 a;\n }\n}\n",
              "doorman.conf", 3, "invalid percent value \"5\"");
    must_fail("stream {\n split_clients $remote_addr $x {\n  abc% a;\n"
              " }\n}\n",
              "doorman.conf", 3, "invalid percent value \"abc%\"");
    must_fail("stream {\n split_clients $remote_addr $x {\n  0% a;\n }\n}\n",
              "doorman.conf", 3, "invalid percent value \"0%\"");
    must_fail("stream {\n split_clients $remote_addr $x {\n  0.505% a;\n"
              " }\n}\n",
              "doorman.conf", 3, "invalid percent value \"0.505%\"");
    must_fail("stream {\n split_clients $remote_addr $x {\n  % a;\n }\n}\n",
              "doorman.conf", 3, "invalid percent value \"%\"");
    must_fail("stream {\n split_clients $remote_addr $x {\n  \"\" a;\n"
              " }\n}\n",
              "doorman.conf", 3, "invalid percent value \"\"");
    must_fail("stream {\n split_clients $remote_addr $x {\n  * a;\n"
              "  * b;\n }\n}\n",
              "doorman.conf", 4, "duplicate \"*\" split_clients parameter");
    must_fail("stream {\n split_clients $remote_addr $x {\n  5% a b;\n"
              " }\n}\n",
              "doorman.conf", 3,
              "invalid number of the split_clients parameters");
    must_fail("stream {\n split_clients $remote_addr $x {\n  5%;\n }\n}\n",
              "doorman.conf", 3,
              "invalid number of the split_clients parameters");
    must_fail("stream {\n split_clients $remote_addr x { * a; }\n}\n",
              "doorman.conf", 2, "invalid variable name \"x\"");
    must_fail("stream {\n split_clients \"$x\" $x { * a; }\n}\n",
              "doorman.conf", 2,
              "the split_clients of \"$x\" uses \"$x\" itself");
    must_fail("stream {\n split_clients $remote_addr $remote_port "
              "{ * a; }\n}\n",
              "doorman.conf", 2,
              "the \"$remote_port\" variable is defined twice");
    must_fail("split_clients $remote_addr $x { * a; }\n", "doorman.conf", 1,
              "\"split_clients\" directive is not allowed here");
    must_fail("stream {\n server {\n  split_clients $remote_addr $x "
              "{ * a; }\n }\n}\n",
              "doorman.conf", 3,
              "\"split_clients\" directive is not allowed here");
    must_fail("http {\n server {\n  split_clients $remote_addr $x "
              "{ * a; }\n }\n}\n",
              "doorman.conf", 3,
              "\"split_clients\" directive is not allowed here");
    put("bad.conf", "10% a;\n\n1.234% b;\n");
    must_fail("stream {\n split_clients $remote_addr $x {\n"
              "  include bad.conf;\n }\n}\n",
              "bad.conf", 3, "invalid percent value \"1.234%\"");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup_conf, teardown_conf)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_murmur_vectors),
        cmocka_unit_test(test_murmur_unaligned),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_layout_bounds),
        cmocka_unit_test(test_layout_over),
        cmocka_unit_test_setup_teardown(test_conf_buckets, setup_conf_include,
                                        teardown_conf),
        T(test_conf_cached),
        T(test_conf_loop),
        T(test_conf_http),
        T(test_conf_errors),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
