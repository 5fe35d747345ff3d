/*
 * doorman: unit tests for the `map` directive (src/core/dm_map_conf.c).
 *
 * Configurations are loaded as `doorman -t` loads them, and the map
 * variables evaluated in a session environment with a fake connection.
 * Covered: positional and named captures used in values, default (and
 * none: the empty string), the empty key, hostnames with entries from an
 * included file and a trailing dot on the source, \-escaped keys
 * (\~tilde, \default, \include, \hostnames), volatile against cached,
 * a map whose value uses another map, maps that use each other (an error
 * line, no crash), the http block, and the configuration errors with
 * their FILE:LINE. The builder and the lookup are tested in test_map.c.
 */
#include <dm_core.h>
#include <dm_stream_conf.h>
#include <dm_http_conf.h>

#include <dm_test_conf.h>

static dm_pool_t *spool;
static dm_connection_t conn;
static dm_variable_env_t env;

static int
setup_conf(void **state)
{
    conf_setup("/tmp/dm-test-map-XXXXXX");
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

/* Loads a stream block made of `maps` and a server returning `text`. */
static void
must_load(const char *maps, const char *text)
{
    char conf[4096];

    snprintf(conf, sizeof(conf),
             "stream {\n%s\n"
             "server { listen 127.0.0.1:1; return \"%s\"; }\n}\n",
             maps, text);
    load_ok(conf);
}

/* A new session from the client address `addr`. */
static void
session(const char *addr)
{
    dm_conf_ctx_t *ctx = dm_stream_conf_ctx(loaded);
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(ctx, dm_stream_core_module);

    conn.addr_text.data = (u_char *) addr;
    conn.addr_text.len = strlen(addr);
    assert_int_equal(
        dm_variable_env_init(&env, &cmcf->variables, spool, &conn, NULL),
        DM_OK);
}

/* The index of a variable the configuration uses. */
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

/* The value of $name in the current session. */
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
test_conf_captures(void **state)
{
    must_load("map $remote_addr $who {\n"
              "    127.0.0.1 local;\n"
              "    ~^127\\.0\\.0\\.(?<n>\\d+)$ \"loop-$n\";\n"
              "    ~^10\\.(\\d+)\\.(\\d+)\\. \"ten-$1-$2\";\n"
              "    default \"other:$remote_addr\";\n"
              "}\n",
              "$who");
    session("127.0.0.1");
    assert_string_equal(var("who"), "local");
    session("127.0.0.2");
    assert_string_equal(var("who"), "loop-2");
    /* the named capture is a variable of its own */
    assert_string_equal(var("n"), "2");
    session("10.20.30.40");
    assert_string_equal(var("who"), "ten-20-30");
    session("192.0.2.1");
    assert_string_equal(var("who"), "other:192.0.2.1");
}

static void
test_conf_many_captures(void **state)
{
    char maps[4096];
    size_t n = 0;
    int i;

    /* enough named groups that the registry's declarations move while
       the block is read */
    n += (size_t) snprintf(maps + n, sizeof(maps) - n,
                           "map $remote_addr $many {\n");
    for (i = 0; i < 40; i++) {
        n += (size_t) snprintf(maps + n, sizeof(maps) - n,
                               "    ~^10\\.0\\.0\\.(?<g%d>%d)$ \"g$g%d\";\n", i,
                               i, i);
    }
    snprintf(maps + n, sizeof(maps) - n, "    default none;\n}\n");
    must_load(maps, "$many");
    session("10.0.0.7");
    assert_string_equal(var("many"), "g7");
    assert_string_equal(var("g7"), "7");
    session("10.0.0.39");
    assert_string_equal(var("many"), "g39");
    session("10.0.0.40");
    assert_string_equal(var("many"), "none");
}

static void
test_conf_default(void **state)
{
    must_load("map $remote_addr $none { 1.2.3.4 x; }\n"
              "map $remote_addr $upgrade { default upgrade; \"\" close; }\n"
              "map \"\" $empty { default upgrade; \"\" close; }\n"
              "map $remote_port $u { default set; \"\" unset; }\n",
              "$none$upgrade$empty$u");
    session("127.0.0.1");
    /* no default: the empty string, which is a value */
    assert_string_equal(var("none"), "");
    assert_string_equal(var("upgrade"), "upgrade");
    assert_string_equal(var("empty"), "close");
    /* a source variable without value (no peer address: no port) is
       the empty string */
    assert_string_equal(var("u"), "unset");
}

static void
test_conf_hostnames(void **state)
{
    put("hosts.conf", "# included entries\n"
                      "*.example.com  head;\n"
                      ".example.org   org;\n"
                      "mail.*         tail;\n");
    must_load("map \"${remote_addr}.\" $h {\n"
              "    hostnames;\n"
              "    include hosts.conf;\n"
              "    www.example.com exact;\n"
              "    default none;\n"
              "}\n",
              "$h");
    session("www.example.com");
    assert_string_equal(var("h"), "exact");
    session("a.Example.com");
    assert_string_equal(var("h"), "head");
    session("example.org");
    assert_string_equal(var("h"), "org");
    session("mail.example.com");
    assert_string_equal(var("h"), "head");
    session("mail.local");
    assert_string_equal(var("h"), "tail");
    session("example.com");
    assert_string_equal(var("h"), "none");
}

static void
test_conf_escaped_keys(void **state)
{
    must_load("map $remote_addr $k {\n"
              "    \\~tilde t;\n"
              "    \\default d;\n"
              "    \\include i;\n"
              "    \\hostnames h;\n"
              "    default none;\n"
              "}\n",
              "$k");
    session("~tilde");
    assert_string_equal(var("k"), "t");
    session("default");
    assert_string_equal(var("k"), "d");
    session("include");
    assert_string_equal(var("k"), "i");
    session("hostnames");
    assert_string_equal(var("k"), "h");
    session("x");
    assert_string_equal(var("k"), "none");
}

static void
test_conf_volatile(void **state)
{
    dm_uint_t c;

    must_load("map $connection $cached { default \"c$connection\"; }\n"
              "map $connection $vol { volatile; default \"v$connection\"; }\n",
              "$cached $vol");
    session("127.0.0.1");
    conn.number = 1;
    assert_string_equal(var("cached"), "c1");
    assert_string_equal(var("vol"), "v1");
    /* the connection's number changes under the session: forget the
       cached $connection so that only the maps' own caching shows */
    conn.number = 2;
    c = var_index("connection");
    env.values[c].valid = 0;
    assert_string_equal(var("cached"), "c1");
    assert_string_equal(var("vol"), "v2");
}

static void
test_conf_nested(void **state)
{
    must_load("map $remote_addr $a { default \"<$b>\"; }\n"
              "map $remote_addr $b { default \"[$remote_addr]\"; }\n",
              "$a");
    session("127.0.0.1");
    assert_string_equal(var("a"), "<[127.0.0.1]>");
}

static void
test_conf_loop(void **state)
{
    const char *value;

    /* maps that use each other: a logged error and no value, no crash */
    must_load("map $remote_addr $a { default \"<$b>\"; }\n"
              "map $remote_addr $b { default \"[$a]\"; }\n",
              "$a");
    session("127.0.0.1");
    capture_begin();
    value = var("a");
    capture_end();
    assert_non_null(value);
    assert_non_null(strstr(errbuf, "[error] the map of "));
    assert_non_null(strstr(errbuf, " is nested deeper than 32"));
}

static void
test_conf_errors(void **state)
{
    must_fail("stream {\n map $remote_addr $x {\n  a 1;\n  A 2;\n }\n}\n",
              "doorman.conf", 4, "conflicting parameter \"A\"");
    must_fail("stream {\n map $remote_addr $x {\n hostnames;\n a.*.b 1;\n"
              " }\n}\n",
              "doorman.conf", 4, "invalid hostname or wildcard \"a.*.b\"");
    must_fail("stream {\n map $remote_addr $x {\n  ~(unclosed 1;\n }\n}\n",
              "doorman.conf", 3,
              "invalid regex \"(unclosed\": missing closing parenthesis "
              "at offset 9");
    must_fail("stream {\n map $remote_addr $x {\n  default 1;\n"
              "  default 2;\n }\n}\n",
              "doorman.conf", 4, "duplicate default map parameter");
    must_fail("stream {\n map $remote_addr $x {\n  a b c;\n }\n}\n",
              "doorman.conf", 3, "invalid number of the map parameters");
    must_fail("stream {\n map $remote_addr x { }\n}\n", "doorman.conf", 2,
              "invalid variable name \"x\"");
    must_fail("stream {\n map $remote_addr $x {\n  a \"$x!\";\n }\n}\n",
              "doorman.conf", 2, "the map of \"$x\" uses \"$x\" itself");
    must_fail("stream {\n map $remote_addr $remote_port { }\n}\n",
              "doorman.conf", 2,
              "the \"$remote_port\" variable is defined twice");
    must_fail("stream {\n map $remote_addr $x {\n  a {\n }\n}\n",
              "doorman.conf", 3, "unexpected \"{\"");
    must_fail("map $remote_addr $x { }\n", "doorman.conf", 1,
              "\"map\" directive is not allowed here");
    must_fail("stream {\n server {\n  map $remote_addr $x { }\n }\n}\n",
              "doorman.conf", 3, "\"map\" directive is not allowed here");
    must_fail("stream {\n map $remote_addr $x {\n"
              "  ~(a)(b)(c)(d)(e)(f)(g)(h)(i)(?<ten>j) $ten;\n }\n}\n",
              "doorman.conf", 3,
              "the named group \"ten\" is group 10, only groups 1 to 9 "
              "are captured");
    put("bad.conf", "ok 1;\n\nok 2;\n");
    must_fail("stream {\n map $remote_addr $x {\n  include bad.conf;\n }\n}\n",
              "bad.conf", 3, "conflicting parameter \"ok\"");
}

static void
test_conf_unknown_variable(void **state)
{
    must_fail("stream {\n map $remote_addr $x {\n"
              "  a \"$no_such\";\n }\n"
              " server { listen 127.0.0.1:1; return $x; }\n}\n",
              "doorman.conf", 3, "unknown \"$no_such\" variable");
}

static void
test_conf_http(void **state)
{
    dm_conf_ctx_t *ctx;

    /* the http block has its own map directive and registry */
    if (!load("http {\n map $remote_addr $h { default x; }\n"
              " map $h $h2 { ~^(?<first>.) \"$first\"; }\n}\n")) {
        fail_msg("the configuration did not load: %s", errbuf);
    }
    ctx = dm_http_conf_ctx(loaded);
    assert_non_null(ctx);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup_conf, teardown_conf)
    const struct CMUnitTest tests[] = {
        T(test_conf_captures),     T(test_conf_many_captures),
        T(test_conf_default),      T(test_conf_hostnames),
        T(test_conf_escaped_keys), T(test_conf_volatile),
        T(test_conf_nested),       T(test_conf_loop),
        T(test_conf_errors),       T(test_conf_unknown_variable),
        T(test_conf_http),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
