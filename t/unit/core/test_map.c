/*
 * doorman: unit tests for maps: the builder and the lookup
 * (src/core/dm_map.c), without a configuration.
 *
 * Covered: exact keys (case-insensitive, the empty key, a '*' that is a
 * plain byte without hostnames, duplicates), wildcards with hostnames
 * (head and tail, the longest wins, .example.com also matching
 * example.com, a trailing dot on the string, invalid wildcards,
 * conflicts), regexes (file order, captures, ~ against ~*, an empty
 * string tries none), nginx's priority order on a string that keys of
 * every kind match, and a large map (the builder's table grows, the
 * built one is at most half full). The `map` directive is tested in
 * test_map_conf.c.
 */
#include <dm_core.h>
#include <dm_map.h>

#include <setjmp.h>
#include <cmocka.h>

static dm_pool_t *pool;
static dm_conf_t cf;
static dm_map_builder_t b;
static dm_map_t map;
static dm_map_match_t m;

static int
setup_builder(void **state)
{
    dm_log_use_stderr = 1;
    pool = dm_pool_create(4096, dm_log_init());
    assert_non_null(pool);
    memset(&cf, 0, sizeof(cf));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = dm_log_init();
    assert_int_equal(dm_map_builder_init(&b, pool, pool), DM_OK);
    return 0;
}

static int
teardown_builder(void **state)
{
    dm_pool_destroy(pool);
    return 0;
}

/* Adds a plain key; returns dm_map_add's code. */
static dm_int_t
add(const char *key, dm_uint_t value)
{
    dm_str_t k = {strlen(key), (u_char *) key};

    return dm_map_add(&b, &k, value);
}

static void
add_ok(const char *key, dm_uint_t value)
{
    assert_int_equal(add(key, value), DM_OK);
}

static void
add_regex(const char *pattern, int caseless, dm_uint_t value)
{
    dm_str_t p = {strlen(pattern), (u_char *) pattern};
    dm_regex_t *re = dm_palloc(pool, sizeof(dm_regex_t));

    assert_non_null(re);
    assert_int_equal(dm_regex_compile(&cf, re, &p, caseless), DM_OK);
    assert_int_equal(dm_map_add_regex(&b, re, value), DM_OK);
}

static void
build(void)
{
    assert_int_equal(dm_map_build(&b, &map), DM_OK);
}

/* The value index the string maps to, or DM_DECLINED. */
static dm_int_t
find(const char *s)
{
    return dm_map_find(&map, (const u_char *) s, strlen(s), &m, cf.log);
}

static void
test_exact(void **state)
{
    add_ok("example.com", 1);
    add_ok("Mixed.Case", 2);
    add_ok("", 3);
    add_ok("*.not-a-wildcard", 4);
    add_ok("trailing.", 5);
    build();
    assert_int_equal(find("example.com"), 1);
    assert_int_equal(find("EXAMPLE.com"), 1);
    assert_int_equal(find("mixed.case"), 2);
    assert_int_equal(find("MIXED.CASE"), 2);
    assert_int_equal(find(""), 3);
    /* without hostnames a '*' is a byte like the others */
    assert_int_equal(find("*.not-a-wildcard"), 4);
    assert_int_equal(find("x.not-a-wildcard"), DM_DECLINED);
    /* and a trailing dot is kept */
    assert_int_equal(find("trailing."), 5);
    assert_int_equal(find("trailing"), DM_DECLINED);
    assert_int_equal(find("example.co"), DM_DECLINED);
    assert_int_equal(find("example.comm"), DM_DECLINED);
    assert_null(m.regex);
}

static void
test_exact_duplicates(void **state)
{
    add_ok("a", 1);
    assert_int_equal(add("a", 2), DM_BUSY);
    assert_int_equal(add("A", 2), DM_BUSY);
    add_ok("", 3);
    assert_int_equal(add("", 4), DM_BUSY);
    build();
    assert_int_equal(find("a"), 1);
}

static void
test_wildcards(void **state)
{
    b.hostnames = 1;
    add_ok("*.example.com", 1);
    add_ok("*.a.example.com", 2);
    add_ok(".example.org", 3);
    add_ok("mail.*", 4);
    add_ok("mail.example.*", 5);
    add_ok("Upper.*", 6);
    build();

    assert_int_equal(find("x.example.com"), 1);
    assert_int_equal(find("x.y.example.com"), 1);
    /* the longest head wildcard wins */
    assert_int_equal(find("x.a.example.com"), 2);
    assert_int_equal(find("x.y.a.example.com"), 2);
    assert_int_equal(find("a.example.com"), 1);
    /* "*.example.com" wants a name under example.com */
    assert_int_equal(find("example.com"), DM_DECLINED);
    assert_int_equal(find("xexample.com"), DM_DECLINED);
    /* ".example.org" also matches example.org itself */
    assert_int_equal(find("example.org"), 3);
    assert_int_equal(find("www.example.org"), 3);
    /* tail wildcards, the longest first */
    assert_int_equal(find("mail.foo"), 4);
    assert_int_equal(find("mail.foo.bar"), 4);
    assert_int_equal(find("mail.example.net"), 5);
    assert_int_equal(find("mail.example.co.uk"), 5);
    assert_int_equal(find("mail.example"), 4);
    assert_int_equal(find("mail"), DM_DECLINED);
    assert_int_equal(find("mailx.foo"), DM_DECLINED);
    /* case-insensitive, and a trailing dot is ignored */
    assert_int_equal(find("WWW.Example.COM"), 1);
    assert_int_equal(find("upper.x"), 6);
    assert_int_equal(find("x.example.com."), 1);
    assert_int_equal(find("example.org."), 3);
    assert_int_equal(find("."), DM_DECLINED);
    assert_int_equal(find(""), DM_DECLINED);
}

static void
test_wildcard_invalid(void **state)
{
    static const char *const bad[] = {
        "*",    "**",   "a*b",        "*.*",          "**.example.com", "*.x.*",
        "a..b", "*..b", ".example.*", "example*.com", "*example.com",   "mail*",
        ".*",
    };
    dm_uint_t i;

    b.hostnames = 1;
    for (i = 0; i < dm_nelems(bad); i++) {
        if (add(bad[i], 1) != DM_DECLINED) {
            fail_msg("\"%s\" was not refused", bad[i]);
        }
    }
    /* a NUL byte in a key */
    {
        dm_str_t k = {3, (u_char *) "a\0b"};

        assert_int_equal(dm_map_add(&b, &k, 1), DM_DECLINED);
    }
}

static void
test_wildcard_conflicts(void **state)
{
    b.hostnames = 1;
    add_ok("*.example.com", 1);
    /* stored alike: nginx refuses both in one map */
    assert_int_equal(add(".example.com", 2), DM_BUSY);
    assert_int_equal(add("*.EXAMPLE.com", 2), DM_BUSY);

    add_ok("example.org", 3);
    /* ".example.org" implies the exact example.org */
    assert_int_equal(add(".example.org", 4), DM_BUSY);
    add_ok(".example.net", 5);
    assert_int_equal(add("example.net", 6), DM_BUSY);
    assert_int_equal(add("*.example.net", 6), DM_BUSY);

    add_ok("mail.*", 7);
    assert_int_equal(add("MAIL.*", 8), DM_BUSY);
    /* a tail wildcard and an exact key with the same letters differ */
    add_ok("mail.", 9);
    build();
    assert_int_equal(find("example.net"), 5);
    assert_int_equal(find("a.example.net"), 5);
    assert_int_equal(find("mail.x"), 7);
}

static void
test_regex(void **state)
{
    add_ok("exact", 0);
    add_regex("^a", 0, 1);
    add_regex("^ab", 0, 2);
    add_regex("^(\\w+)@(?<domain>[a-z.]+)$", 0, 3);
    add_regex("^CASE", 1, 4);
    add_regex("^$", 0, 5);
    build();

    /* the first that matches, in the order they were added */
    assert_int_equal(find("abc"), 1);
    assert_non_null(m.regex);
    assert_int_equal(m.npairs, 1);

    assert_int_equal(find("joe@example.com"), 3);
    assert_int_equal(m.npairs, 3);
    assert_int_equal(m.ovector[2], 0);
    assert_int_equal(m.ovector[3], 3);
    assert_int_equal(m.ovector[4], 4);
    assert_int_equal(m.ovector[5], 15);
    assert_int_equal(m.regex->nnamed, 1);
    assert_int_equal(m.regex->groups[0], 2);

    /* ~ is case-sensitive, ~* is not */
    assert_int_equal(find("Abc"), DM_DECLINED);
    assert_int_equal(find("case"), 4);
    /* as nginx: an empty string tries no regex */
    assert_int_equal(find(""), DM_DECLINED);
    assert_null(m.regex);
    /* an exact match is not a regex match */
    assert_int_equal(find("exact"), 0);
    assert_null(m.regex);
}

/*
 * The string "mail.example.com" matches keys of every kind: the exact key
 * wins, then the head wildcard, then the tail, then the first regex.
 */
static void
priority_map(int exact, int head, int tail, int regex)
{
    assert_int_equal(dm_map_builder_init(&b, pool, pool), DM_OK);
    b.hostnames = 1;
    /* regexes first in the file: the order of kinds does not matter */
    if (regex) {
        add_regex("^mail", 0, 4);
        add_regex("com$", 0, 5);
    }
    if (tail) {
        add_ok("mail.*", 3);
        add_ok("mail.example.*", 33);
    }
    if (head) {
        add_ok("*.com", 2);
        add_ok("*.example.com", 22);
    }
    if (exact) {
        add_ok("mail.example.com", 1);
    }
    build();
}

static void
test_priority(void **state)
{
    priority_map(1, 1, 1, 1);
    assert_int_equal(find("mail.example.com"), 1);
    assert_int_equal(find("MAIL.example.com."), 1);
    priority_map(0, 1, 1, 1);
    assert_int_equal(find("mail.example.com"), 22);
    priority_map(0, 0, 1, 1);
    assert_int_equal(find("mail.example.com"), 33);
    priority_map(0, 0, 0, 1);
    assert_int_equal(find("mail.example.com"), 4);
    priority_map(0, 0, 0, 0);
    assert_int_equal(find("mail.example.com"), DM_DECLINED);
}

static void
test_large(void **state)
{
    char key[32];
    dm_uint_t i;

    b.hostnames = 1;
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "host%lu.example", (unsigned long) i);
        add_ok(key, i);
        snprintf(key, sizeof(key), "*.zone%lu.example", (unsigned long) i);
        add_ok(key, 10000 + i);
    }
    build();
    /* at most half full */
    assert_true(map.mask + 1 >= 2 * 5000);
    assert_int_equal(map.nhead, 5000);
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "HOST%lu.example", (unsigned long) i);
        assert_int_equal(find(key), (dm_int_t) i);
        snprintf(key, sizeof(key), "a.b.zone%lu.example", (unsigned long) i);
        assert_int_equal(find(key), (dm_int_t) (10000 + i));
    }
    assert_int_equal(find("host5000.example"), DM_DECLINED);
    assert_int_equal(find("zone1.example"), DM_DECLINED);
}

int
main(void)
{
#define T(name)                                                                \
    cmocka_unit_test_setup_teardown(name, setup_builder, teardown_builder)
    const struct CMUnitTest tests[] = {
        T(test_exact),
        T(test_exact_duplicates),
        T(test_wildcards),
        T(test_wildcard_invalid),
        T(test_wildcard_conflicts),
        T(test_regex),
        T(test_priority),
        T(test_large),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
