/*
 * doorman: unit tests for the path normalizer (src/http/dm_http_uri.c):
 * what locations match is the decoded path with "//", "." and ".."
 * resolved, as nginx's $uri; a path that cannot be one is refused.
 *
 * Each case runs with dst a separate buffer and in place (dst == src),
 * since the request code may do either; both must give the same result,
 * and the result is never longer than the input.
 */
#include <dm_core.h>
#include <dm_http_uri.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct {
    const char *in;
    const char *out; /* NULL: refused */
} uri_case_t;

static const uri_case_t cases[] = {
    /* already normal */
    {"/", "/"},
    {"/a", "/a"},
    {"/a/b/", "/a/b/"},
    {"/a/...", "/a/..."},
    {"/a/.b/..c", "/a/.b/..c"},
    /* merged slashes */
    {"//", "/"},
    {"//admin", "/admin"},
    {"/a//b///c", "/a/b/c"},
    {"/a//", "/a/"},
    /* "." segments */
    {"/.", "/"},
    {"/./", "/"},
    {"/a/./b", "/a/b"},
    {"/a/.", "/a/"},
    {"/./././a", "/a"},
    /* ".." segments */
    {"/a/..", "/"},
    {"/a/../", "/"},
    {"/x/../admin", "/admin"},
    {"/a/b/../../c", "/c"},
    {"/a/b/../c/./d/..", "/a/c/"},
    {"/a//..//b", "/b"},
    {"/..", NULL},
    {"/../a", NULL},
    {"/a/../..", NULL},
    {"/a/../../b", NULL},
    /* percent-decoding, then the same rules */
    {"/%61dmin", "/admin"},
    {"/%41%42", "/AB"},
    {"/a%20b", "/a b"},
    {"/a%2fb", "/a/b"},
    {"/a%2F%2Fb", "/a/b"},
    {"/%2e%2e/x", NULL},
    {"/x/%2e%2E/admin", "/admin"},
    {"/x/%2e/y", "/x/y"},
    {"/%25", "/%"},
    {"/%2541", "/%41"}, /* decoded once only */
    {"/a%", NULL},
    {"/a%4", NULL},
    {"/a%zz", NULL},
    {"/a%4g", NULL},
    {"/a%00b", NULL},
    /* not a path */
    {"", NULL},
    {"a/b", NULL},
    {"%2fa", "/a"},
};

static void
check(const uri_case_t *t, u_char *dst, const u_char *src, size_t len)
{
    ssize_t n = dm_http_uri_normalize(dst, src, len);

    if (t->out == NULL) {
        if (n != -1) {
            fail_msg("\"%s\": expected refusal, got \"%.*s\"", t->in, (int) n,
                     dst);
        }
        return;
    }
    if (n < 0) {
        fail_msg("\"%s\": refused, expected \"%s\"", t->in, t->out);
    }
    if ((size_t) n > len) {
        fail_msg("\"%s\": result longer than the input", t->in);
    }
    if ((size_t) n != strlen(t->out) || memcmp(dst, t->out, (size_t) n) != 0) {
        fail_msg("\"%s\": got \"%.*s\", expected \"%s\"", t->in, (int) n, dst,
                 t->out);
    }
}

static void
test_cases(void **state)
{
    size_t i, len;
    u_char buf[64], in[64];

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = strlen(cases[i].in);
        assert_true(len < sizeof(buf));
        memcpy(in, cases[i].in, len);
        memset(buf, 0xAA, sizeof(buf));
        check(&cases[i], buf, in, len);
        /* in place */
        check(&cases[i], in, in, len);
    }
}

/* every path made of '/', '.', 'a' and "%2e" up to 8 pieces: the
   result is refused or starts with '/', holds no "//", no "/./" and no
   "/../", and normalizing it again changes nothing */
static void
test_exhaustive(void **state)
{
    static const char *piece[] = {"/", ".", "a", "%2e"};
    u_char in[40], out[40], again[40];
    size_t len, k, pieces, m;
    ssize_t n, n2;
    unsigned long code, total = 0;

    for (pieces = 1; pieces <= 8; pieces++) {
        unsigned long combos = 1UL << (2 * pieces);

        for (code = 0; code < combos; code++) {
            len = 0;
            for (k = 0, m = code; k < pieces; k++, m >>= 2) {
                size_t l = strlen(piece[m & 3]);
                memcpy(in + len, piece[m & 3], l);
                len += l;
            }
            n = dm_http_uri_normalize(out, in, len);
            total++;
            if (n < 0) {
                continue;
            }
            assert_true(n >= 1 && (size_t) n <= len && out[0] == '/');
            out[n] = '\0';
            assert_null(strstr((char *) out, "//"));
            assert_null(strstr((char *) out, "/./"));
            assert_null(strstr((char *) out, "/../"));
            n2 = dm_http_uri_normalize(again, out, (size_t) n);
            assert_int_equal(n2, n);
            assert_memory_equal(again, out, (size_t) n);
        }
    }
    assert_true(total > 80000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_exhaustive),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
