/*
 * doorman: unit tests for the number, size and time parsers of the
 * configuration (src/core/dm_parse.c).
 *
 * Every parser is strict: no sign, no surrounding garbage, overflow is an
 * error, and -1 means "not a valid value". Each case names its input in the
 * failure message.
 */
#include <dm_core.h>

#include <setjmp.h>
#include <cmocka.h>

typedef int64_t (*parse_pt)(const u_char *p, size_t n);

typedef struct {
    const char *in;
    int64_t want;
} parse_case_t;

static void
check_cases(const char *fname, parse_pt fn, const parse_case_t *c, size_t n)
{
    size_t i;
    int64_t got;

    for (i = 0; i < n; i++) {
        got = fn((const u_char *) c[i].in, strlen(c[i].in));
        if (got != c[i].want) {
            fail_msg("%s(\"%s\") = %lld, expected %lld", fname, c[i].in,
                     (long long) got, (long long) c[i].want);
        }
    }
}

#define CHECK(fn, cases) check_cases(#fn, fn, cases, dm_nelems(cases))

static void
test_int(void **state)
{
    static const parse_case_t cases[] = {
        {"0", 0},
        {"7", 7},
        {"42", 42},
        {"007", 7},
        {"1000000", 1000000},
        {"9223372036854775807", INT64_MAX},
        /* overflow by one, and by far */
        {"9223372036854775808", -1},
        {"9223372036854775810", -1},
        {"99999999999999999999", -1},
        /* no sign, no spaces, no other bases, no suffix */
        {"", -1},
        {"-1", -1},
        {"+1", -1},
        {" 1", -1},
        {"1 ", -1},
        {"1a", -1},
        {"0x10", -1},
        {"1k", -1},
        {"1.0", -1},
    };

    CHECK(dm_parse_int, cases);

    /* the length is honoured: the bytes after n are not looked at */
    assert_int_equal(dm_parse_int((const u_char *) "123abc", 3), 123);
    assert_int_equal(dm_parse_int((const u_char *) "9x", 1), 9);
    assert_int_equal(dm_parse_int((const u_char *) "5", 0), -1);
}

static void
test_size(void **state)
{
    static const parse_case_t cases[] = {
        {"0", 0},
        {"512", 512},
        {"16k", 16384},
        {"16K", 16384},
        {"1m", 1048576},
        {"1M", 1048576},
        {"2g", 2147483648LL},
        {"1G", 1073741824LL},
        {"0k", 0},
        {"9223372036854775807", INT64_MAX},
        /* (2^33 - 1) gigabytes fits, 2^33 does not */
        {"8589934591g", 9223372035781033984LL},
        {"8589934592g", -1},
        {"9007199254740991k", 9223372036854774784LL},
        {"9007199254740992k", -1},
        {"9223372036854775807k", -1},
        {"9223372036854775808", -1},
        /* garbage */
        {"", -1},
        {"k", -1},
        {"m", -1},
        {"1t", -1},
        {"1kb", -1},
        {"1kk", -1},
        {"1.5m", -1},
        {"-1k", -1},
        {" 1k", -1},
        {"1 k", -1},
        {"1k ", -1},
        {"1ms", -1},
    };

    CHECK(dm_parse_size, cases);
}

static void
test_msec(void **state)
{
    static const parse_case_t cases[] = {
        {"500ms", 500},
        {"0", 0},
        {"0ms", 0},
        {"1ms", 1},
        /* a bare number is seconds */
        {"30", 30000},
        {"10s", 10000},
        {"1m", 60000},
        {"1h", 3600000},
        {"1d", 86400000},
        {"1w", 604800000},
        {"1M", 2592000000LL},
        {"1y", 31536000000LL},
        /* several groups, with or without spaces */
        {"1h 30m", 5400000},
        {"1h30m", 5400000},
        {"1m 30s 500ms", 90500},
        {"1h  5s", 3605000},
        {"2d 3h", 183600000},
        /* largest values, and one past them */
        {"9223372036854775807ms", INT64_MAX},
        {"9223372036854775808ms", -1},
        {"9223372036854775s", 9223372036854775000LL},
        {"9223372036854776s", -1},
        {"9223372036854775807s", -1},
        {"9223372036854775807ms 1ms", -1},
        {"300000000y", -1},
        /* garbage */
        {"", -1},
        {"ms", -1},
        {"s", -1},
        {"h", -1},
        {"1x", -1},
        {"1S", -1},
        {"1H", -1},
        {"-1s", -1},
        {"+1s", -1},
        {"1.5s", -1},
        {"1 s", -1},
        {"1mss", -1},
        {"1sm", -1},
        /* a bare number only on its own, not after a unit */
        {"1h 30", -1},
        {"1m30", -1},
    };

    CHECK(dm_parse_msec, cases);
}

static void
test_sec(void **state)
{
    static const parse_case_t cases[] = {
        {"0", 0},
        {"10", 10},
        {"10s", 10},
        {"1m", 60},
        {"1h 30m", 5400},
        {"1d", 86400},
        {"2000ms", 2},
        {"1s 0ms", 1},
        /* sub-second values are refused, not rounded */
        {"500ms", -1},
        {"1500ms", -1},
        {"1s 1ms", -1},
        {"", -1},
        {"x", -1},
        {"1 h", -1},
        {"9223372036854775807s", -1},
    };

    CHECK(dm_parse_sec, cases);
}

/*
 * A time of spaces only has no number at all; nginx's ngx_parse_time()
 * refuses it. Units must come from the largest down, each once, as nginx
 * requires.
 */
static void
test_msec_blank(void **state)
{
    assert_int_equal(dm_parse_msec((const u_char *) "1h 30m", 6), 5400000);
    assert_int_equal(dm_parse_msec((const u_char *) "1m 500ms", 8), 60500);
    assert_int_equal(dm_parse_msec((const u_char *) "1s 1h", 5), -1);
    assert_int_equal(dm_parse_msec((const u_char *) "1m1h", 4), -1);
    assert_int_equal(dm_parse_msec((const u_char *) "1s1s", 4), -1);
    assert_int_equal(dm_parse_msec((const u_char *) " ", 1), -1);
    assert_int_equal(dm_parse_msec((const u_char *) "   ", 3), -1);
    assert_int_equal(dm_parse_sec((const u_char *) " ", 1), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int),        cmocka_unit_test(test_size),
        cmocka_unit_test(test_msec),       cmocka_unit_test(test_sec),
        cmocka_unit_test(test_msec_blank),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
