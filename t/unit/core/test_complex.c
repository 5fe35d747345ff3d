/*
 * doorman: unit tests for complex values (src/core/dm_complex.c) over a
 * variable registry of the test's own (src/core/dm_variable.c).
 *
 * Covered: a literal without '$' (constant, served without allocation),
 * control bytes the tokenizer unescaped kept as they are, $a$b adjacent,
 * ${a}b, prefix$a, a name ended by a byte that cannot be in a name, the
 * longest name wins ($ab is not $a then "b"), $1 and $12 ($1 followed by
 * "2"), the compile errors (a lone '$', '$' at the end, ${}, ${a, ${a-b},
 * $-), a variable without value contributing nothing, an unknown variable
 * accepted by compile and refused by finalize, a cacheable variable
 * computed once per environment, a no-cacheable one at every use.
 */
#include <dm_core.h>

#include <dm_test_conf.h>

static dm_pool_t *pool;
static dm_conf_t cf;
static dm_variable_registry_t reg;
static dm_variable_env_t env;
static dm_connection_t conn;
static int calls_count, calls_cached;

/* --- the test's variables -------------------------------------------------- */

static dm_int_t
get_text(dm_variable_env_t *e, dm_variable_value_t *v, uintptr_t data)
{
    const char *s = (const char *) data;

    return dm_variable_set_str(v, (u_char *) s, strlen(s));
}

static dm_int_t
get_not_found(dm_variable_env_t *e, dm_variable_value_t *v, uintptr_t data)
{
    v->not_found = 1;
    return DM_OK;
}

/* A counter: how many times the getter ran, printed. */
static dm_int_t
get_counter(dm_variable_env_t *e, dm_variable_value_t *v, uintptr_t data)
{
    int *calls = (int *) data;

    return dm_variable_set_num(e, v, (uint64_t)++ * calls);
}

static void
declare(const char *name, dm_variable_get_pt get, uintptr_t data,
        dm_uint_t flags)
{
    dm_str_t n = {strlen(name), (u_char *) name};
    dm_variable_t *v = dm_variable_add(&cf, &reg, &n, flags);

    assert_non_null(v);
    v->get = get;
    v->data = data;
}

static int
setup(void **state)
{
    dm_log_use_stderr = 1;
    pool = dm_pool_create(4096, dm_log_init());
    assert_non_null(pool);
    memset(&cf, 0, sizeof(cf));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = dm_log_init();
    assert_int_equal(dm_variable_registry_init(&reg, pool, "test"), DM_OK);
    /* $0 ... $9 among them */
    assert_int_equal(dm_variable_add_common(&cf, &reg), DM_OK);
    declare("a", get_text, (uintptr_t) "AA", 0);
    declare("b", get_text, (uintptr_t) "B", 0);
    declare("ab", get_text, (uintptr_t) "AB", 0);
    declare("nf", get_not_found, 0, 0);
    declare("count", get_counter, (uintptr_t) &calls_count, DM_VAR_NOCACHEABLE);
    declare("cached", get_counter, (uintptr_t) &calls_cached, 0);
    calls_count = calls_cached = 0;
    memset(&conn, 0, sizeof(conn));
    conn.log = cf.log;
    return 0;
}

static int
teardown(void **state)
{
    dm_pool_destroy(pool);
    return 0;
}

/* Compiles src, expecting success. */
static void
compile(const char *src, dm_complex_value_t *cv)
{
    dm_str_t s = {strlen(src), (u_char *) src};

    assert_int_equal(dm_complex_compile(&cf, &reg, &s, cv), DM_OK);
}

/* Finalizes the registry and prepares the environment. */
static void
ready(void)
{
    assert_int_equal(dm_variable_finalize(&cf, &reg), DM_OK);
    assert_int_equal(dm_variable_env_init(&env, &reg, pool, &conn, NULL),
                     DM_OK);
}

/* Evaluates cv into a NUL-terminated static buffer. */
static const char *
eval(const dm_complex_value_t *cv)
{
    static char out[256];
    dm_str_t s;

    assert_int_equal(dm_complex_eval(&env, cv, &s), DM_OK);
    assert_true(s.len < sizeof(out));
    memcpy(out, s.data, s.len);
    out[s.len] = '\0';
    return out;
}

/* Compiles src, which must fail; errbuf gets what was logged. */
static void
compile_fails(const char *src)
{
    dm_complex_value_t cv;
    dm_str_t s = {strlen(src), (u_char *) src};
    dm_int_t rc;

    capture_begin();
    rc = dm_complex_compile(&cf, &reg, &s, &cv);
    capture_end();
    assert_int_equal(rc, DM_ERROR);
}

/* --- the tests ------------------------------------------------------------ */

static void
test_literal(void **state)
{
    dm_complex_value_t cv, ctl;
    dm_str_t s;

    compile("plain text, no variable", &cv);
    compile("tab\there\nnewline", &ctl);
    ready();
    assert_true(cv.constant);
    assert_int_equal(cv.nparts, 0);
    /* a constant is served from the configuration: no copy */
    assert_int_equal(dm_complex_eval(&env, &cv, &s), DM_OK);
    assert_ptr_equal(s.data, cv.source.data);
    assert_string_equal(eval(&cv), "plain text, no variable");
    /* what the tokenizer unescaped (\t, \n) is plain bytes here */
    assert_string_equal(eval(&ctl), "tab\there\nnewline");
}

static void
test_forms(void **state)
{
    dm_complex_value_t adj, braces, prefix, ended, longest, mixed;

    compile("$a$b", &adj);
    compile("${a}b", &braces);
    compile("prefix$a", &prefix);
    compile("$a.$b-x", &ended);
    compile("$ab", &longest);
    compile("<${a}${b}$ab>", &mixed);
    ready();
    assert_false(adj.constant);
    assert_int_equal(adj.nparts, 2);
    assert_string_equal(eval(&adj), "AAB");
    assert_string_equal(eval(&braces), "AAb");
    assert_string_equal(eval(&prefix), "prefixAA");
    assert_string_equal(eval(&ended), "AA.B-x");
    assert_string_equal(eval(&longest), "AB");
    assert_string_equal(eval(&mixed), "<AABAB>");
}

static void
test_captures(void **state)
{
    dm_complex_value_t one, twelve, zero, unset;
    static u_char subject[] = "abcdef";
    /* $0 = "abcdef", $1 = "bc", $2 unset */
    size_t ov[6] = {0, 6, 1, 3, (size_t) -1, (size_t) -1};

    compile("$1", &one);
    compile("$12", &twelve);
    compile("[$0]", &zero);
    compile("[$2$3]", &unset);
    ready();
    assert_int_equal(twelve.nparts, 2);
    /* no match yet: the captures have no value */
    assert_string_equal(eval(&one), "");
    dm_variable_set_captures(&env, subject, ov, 3);
    assert_string_equal(eval(&one), "bc");
    assert_string_equal(eval(&twelve), "bc2");
    assert_string_equal(eval(&zero), "[abcdef]");
    assert_string_equal(eval(&unset), "[]");
}

static void
test_errors(void **state)
{
    static const char *const bad[] = {"$",      "x$", "${}",  "${a",
                                      "${a-b}", "$-", "a$ b", "${a}$"};
    char want[256];
    dm_uint_t i;

    for (i = 0; i < dm_nelems(bad); i++) {
        compile_fails(bad[i]);
        snprintf(want, sizeof(want),
                 "doorman: [emerg] invalid variable name in \"%s\"\n", bad[i]);
        assert_string_equal(errbuf, want);
    }
}

static void
test_not_found(void **state)
{
    dm_complex_value_t cv, only;

    compile("x${nf}y$nf", &cv);
    compile("$nf", &only);
    ready();
    assert_string_equal(eval(&cv), "xy");
    assert_string_equal(eval(&only), "");
}

static void
test_unknown(void **state)
{
    dm_complex_value_t cv;
    dm_int_t rc;

    /* a later directive could declare it: compile accepts it ... */
    compile("$no_such_variable", &cv);
    /* ... and finalize, once the block is read, refuses it */
    capture_begin();
    rc = dm_variable_finalize(&cf, &reg);
    capture_end();
    assert_int_equal(rc, DM_ERROR);
    assert_non_null(
        strstr(errbuf, "[emerg] unknown \"$no_such_variable\" variable"));
}

static void
test_cacheable(void **state)
{
    dm_complex_value_t count, cached;
    char first[64];

    compile("$count", &count);
    compile("$cached/$cached", &cached);
    ready();

    /* computed once for the environment, whatever the uses */
    assert_string_equal(eval(&cached), "1/1");
    assert_string_equal(eval(&cached), "1/1");
    assert_int_equal(calls_cached, 1);

    /* computed at every use */
    strcpy(first, eval(&count));
    assert_string_not_equal(eval(&count), first);
    assert_true(calls_count >= 2);

    /* a new environment (a new session) computes again */
    assert_int_equal(dm_variable_env_init(&env, &reg, pool, &conn, NULL),
                     DM_OK);
    assert_string_equal(eval(&cached), "2/2");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_literal),   T(test_forms),   T(test_captures),  T(test_errors),
        T(test_not_found), T(test_unknown), T(test_cacheable),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
