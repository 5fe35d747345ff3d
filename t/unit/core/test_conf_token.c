/*
 * doorman: unit tests for the configuration tokenizer
 * (src/core/dm_conf_file.c, dm_conf_read_token and dm_conf_push_token).
 *
 * The tokens are observed through cf->handler, the hook block handlers
 * such as map use: with it set, every directive's tokens go to the test's
 * recorder instead of the directive tables, so the tests see exactly what
 * the tokenizer produced and on which line the directive started. Blocks
 * are checked with the real events { } block. Errors are read back from
 * stderr, where the logger writes "doorman: [emerg] MESSAGE in FILE:LINE".
 */
#include <dm_core.h>
#include <dm_event_conf.h>

#include <dm_test_conf.h>

#define REC_MAX      16
#define REC_MAX_ARGS 8

/* One directive as the recorder saw it. */
typedef struct {
    dm_uint_t line;              /* where the directive started */
    dm_uint_t argc;              /* tokens, the name included */
    dm_str_t argv[REC_MAX_ARGS]; /* the first tokens (pool copies) */
} rec_dir_t;

static rec_dir_t recs[REC_MAX];
static int nrecs;

static dm_pool_t *pool;
static dm_cycle_t *cycle;
static dm_conf_t cf;

/* The handler: records each directive; one named "fail" fails. */
static char *
rec_handler(dm_conf_t *c, const dm_command_t *dummy, void *conf)
{
    dm_str_t *v = c->args->elts;
    rec_dir_t *d;
    dm_uint_t i;

    if (dm_str_eq(&v[0], "fail")) {
        return "failed here";
    }
    assert_true(nrecs < REC_MAX);
    d = &recs[nrecs++];
    d->line = c->file->dir_line;
    d->argc = c->args->nelts;
    for (i = 0; i < c->args->nelts && i < REC_MAX_ARGS; i++) {
        d->argv[i] = v[i];
    }
    return DM_CONF_OK;
}

/* A configuration context over the real core modules, as a cycle has. */
static int
setup(void **state)
{
    dm_module_init();
    dm_log_use_stderr = 1;
    nrecs = 0;
    errbuf[0] = '\0';

    pool = dm_pool_create(DM_POOL_DEFAULT, NULL);
    assert_non_null(pool);
    cycle = dm_pcalloc(pool, sizeof(dm_cycle_t));
    assert_non_null(cycle);
    cycle->pool = pool;
    cycle->log = dm_log_init();
    dm_str_set(&cycle->prefix, "/nonexistent/");
    dm_str_set(&cycle->conf_prefix, "/nonexistent/");

    memset(&cf, 0, sizeof(cf));
    cf.cycle = cycle;
    cf.pool = pool;
    cf.log = cycle->log;
    cf.module_type = DM_MODULE_CORE;
    cf.cmd_type = DM_MAIN_CONF;
    cf.args = dm_array_create(pool, 10, sizeof(dm_str_t));
    cycle->conf_ctx = dm_pcalloc(pool, sizeof(dm_conf_ctx_t));
    assert_non_null(cf.args);
    assert_non_null(cycle->conf_ctx);
    cf.ctx = cycle->conf_ctx;
    cf.ctx->main_conf = dm_module_create_main_confs(&cf, DM_MODULE_CORE);
    assert_non_null(cf.ctx->main_conf);
    return 0;
}

static int
teardown(void **state)
{
    dm_pool_destroy(pool);
    return 0;
}

/*
 * Parses len bytes of text as the file "t.conf", through the recorder when
 * record is set. Returns 1 on success, 0 on error (message in errbuf).
 */
static int
run_n(const char *text, size_t len, int record)
{
    u_char *buf;
    char *rv;

    buf = dm_pnalloc(pool, len + 1);
    assert_non_null(buf);
    memcpy(buf, text, len);
    cf.handler = record ? rec_handler : NULL;
    capture_begin();
    rv = dm_conf_parse_buffer(&cf, "t.conf", buf, len);
    capture_end();
    cf.handler = NULL;
    if (rv == DM_CONF_OK) {
        assert_string_equal(errbuf, "");
    }
    return rv == DM_CONF_OK;
}

#define run(text) run_n(text, strlen(text), 1)

/* Asserts directive i: its line, its token count and its tokens. */
static void
assert_dir(int i, dm_uint_t line, dm_uint_t argc, ...)
{
    va_list ap;
    dm_uint_t k;
    const char *want;

    assert_true(i < nrecs);
    assert_int_equal(recs[i].line, line);
    assert_int_equal(recs[i].argc, argc);
    va_start(ap, argc);
    for (k = 0; k < argc && k < REC_MAX_ARGS; k++) {
        want = va_arg(ap, const char *);
        assert_int_equal(recs[i].argv[k].len, strlen(want));
        assert_memory_equal(recs[i].argv[k].data, want, strlen(want));
        /* tokens are NUL-terminated copies, ready for system calls */
        assert_int_equal(recs[i].argv[k].data[recs[i].argv[k].len], '\0');
    }
    va_end(ap);
}

static void
assert_err(const char *msg, dm_uint_t line)
{
    char want[512];

    snprintf(want, sizeof(want), "doorman: [emerg] %s in t.conf:%lu\n", msg,
             (unsigned long) line);
    assert_string_equal(errbuf, want);
}

static void
test_words(void **state)
{
    assert_true(run("a b  c;\nd;e\tf\t;  g;"));
    assert_int_equal(nrecs, 4);
    assert_dir(0, 1, 3, "a", "b", "c");
    assert_dir(1, 2, 1, "d");
    assert_dir(2, 2, 2, "e", "f");
    assert_dir(3, 2, 1, "g");

    /* quotes inside a word, a '}' ending a word and '#' inside one are
       plain bytes, as in nginx */
    nrecs = 0;
    assert_true(run("a b\"c\" d} e#f g'h';"));
    assert_dir(0, 1, 5, "a", "b\"c\"", "d}", "e#f", "g'h'");

    /* an empty input and an input of blanks and comments are fine */
    nrecs = 0;
    assert_true(run(""));
    assert_true(run(" \n\t\r\n# only a comment"));
    assert_int_equal(nrecs, 0);
}

static void
test_separators(void **state)
{
    assert_false(run(";"));
    assert_err("unexpected \";\"", 1);
    assert_false(run("a;\n\n  {"));
    assert_err("unexpected \"{\"", 3);
    assert_false(run("a;\n}"));
    assert_err("unexpected \"}\"", 2);
    assert_false(run("a b }"));
    assert_err("unexpected \"}\"", 1);
    /* a directive needs its ';' before the end of the input */
    assert_false(run("a;\nb\nc"));
    assert_err("unexpected end of file, expecting \";\" or \"}\"", 3);
    assert_false(run("a \"b\""));
    assert_err("unexpected end of file, expecting \";\" or \"}\"", 1);
    /* with the recorder a block is refused: "{" ended the directive */
    assert_false(run("a b{"));
    assert_err("unexpected \"{\"", 1);
}

static void
test_blocks(void **state)
{
    dm_event_core_conf_t *ecf;

    /* '{' and '}' need no blank around them */
    assert_true(run_n("events{worker_connections 7;}", 29, 0));
    ecf = dm_event_get_conf(cycle, &dm_event_core_module);
    assert_int_equal(ecf->connections, 7);
}

static void
test_blocks_spaced(void **state)
{
    const char *text = "# head\nevents   # c { }\n{\n  worker_connections\n"
                       "   \"9\"  ; # c\n\n}\n";
    dm_event_core_conf_t *ecf;

    assert_true(run_n(text, strlen(text), 0));
    ecf = dm_event_get_conf(cycle, &dm_event_core_module);
    assert_int_equal(ecf->connections, 9);
}

static void
test_comments(void **state)
{
    assert_true(run("# first\na b; # trailing ; { } \" '\n#x\n  # y\nc;"));
    assert_int_equal(nrecs, 2);
    assert_dir(0, 2, 2, "a", "b");
    assert_dir(1, 5, 1, "c");

    /* a comment between the tokens of a directive */
    nrecs = 0;
    assert_true(run("a # c;\n b # d {\n ;"));
    assert_dir(0, 1, 2, "a", "b");

    /* '#' inside quotes is not a comment */
    nrecs = 0;
    assert_true(run("a \"#b\" '#c';"));
    assert_dir(0, 1, 3, "a", "#b", "#c");
}

static void
test_quotes(void **state)
{
    assert_true(run("a \"b c;{}#\" 'd e' \"\" '' \"say 'hi'\" 'x \"y\"';"));
    assert_dir(0, 1, 7, "a", "b c;{}#", "d e", "", "", "say 'hi'", "x \"y\"");

    /* a quoted string may span lines; the next directive's line is right */
    nrecs = 0;
    assert_true(run("a \"x\ny\"\n;\nb;"));
    assert_dir(0, 1, 2, "a", "x\ny");
    assert_dir(1, 4, 1, "b");

    /* a quoted string is followed by a blank, ';' or '{' */
    nrecs = 0;
    assert_true(run("a \"b\";c 'd'\t;"));
    assert_dir(0, 1, 2, "a", "b");
    assert_dir(1, 1, 2, "c", "d");
}

static void
test_quote_needs_separator(void **state)
{
    assert_false(run("a \"b\"c;"));
    assert_err("unexpected \"c\" after a quoted string", 1);
    assert_false(run("a;\nb 'c''d';"));
    assert_err("unexpected \"'\" after a quoted string", 2);
    assert_false(run("a \"b\"}"));
    assert_err("unexpected \"}\" after a quoted string", 1);
    assert_false(run("a \"b\"# c\n;"));
    assert_err("unexpected \"#\" after a quoted string", 1);
}

static void
test_escapes(void **state)
{
    /* \" \' \\ \t \r \n become the byte */
    assert_true(run("a \"q\\\"q\" 's\\'s' \"b\\\\s\" \"t\\tr\\rn\\n\" "
                    "w\\\"x\\\\y\\tz;"));
    assert_dir(0, 1, 6, "a", "q\"q", "s's", "b\\s", "t\tr\rn\n", "w\"x\\y\tz");

    /* any other pair is kept as written, so regexes keep their escapes */
    nrecs = 0;
    assert_true(run("a \"^/\\d+\\.x\\$\" '\\w' \\; \"\\x\";"));
    assert_dir(0, 1, 5, "a", "^/\\d+\\.x\\$", "\\w", "\\;", "\\x");

    /* a backslash protects a blank, and a string can end in a backslash */
    nrecs = 0;
    assert_true(run("a b\\ c \"d\\\\\";"));
    assert_dir(0, 1, 3, "a", "b\\ c", "d\\");
}

static void
test_variables(void **state)
{
    /* $var and ${var} stay inside their token; '{' after '$' opens no
       block */
    assert_true(run("set $v ${v}x a${b}c \"${q} $r\" $ ${;"));
    assert_dir(0, 1, 7, "set", "$v", "${v}x", "a${b}c", "${q} $r", "$", "${");

    /* a '{' anywhere else does open a block, even right after a name */
    assert_false(run("a\n$x{"));
    assert_err("unexpected \"{\"", 1);
    assert_false(run("a ${x}{"));
    assert_err("unexpected \"{\"", 1);
}

static void
test_nul_byte(void **state)
{
    assert_false(run_n("a b;\nc\0d;", 9, 1));
    assert_err("unexpected NUL byte", 2);
    assert_false(run_n("a;\n\n\"x\0\";", 9, 1));
    assert_err("unexpected NUL byte", 3);
    assert_false(run_n("a;\n# c \0 d\n", 11, 1));
    assert_err("unexpected NUL byte", 2);
    assert_false(run_n("\0", 1, 1));
    assert_err("unexpected NUL byte", 1);
}

static void
test_crlf(void **state)
{
    assert_true(run("a b;\r\nc\r\n  d;\r\n\r\n# x\r\ne 'f\r\ng';\r\n"));
    assert_int_equal(nrecs, 3);
    assert_dir(0, 1, 2, "a", "b");
    assert_dir(1, 2, 2, "c", "d");
    assert_dir(2, 6, 2, "e", "f\r\ng");

    assert_false(run("a;\r\n\r\nfail x\r\n y;\r\n"));
    assert_err("failed here", 3);
}

static void
test_lines(void **state)
{
    /* a directive's line is the line of its first token, after blank
       lines, comments and multi-line directives */
    assert_true(run("\n\n  a\nb\n\nc;\n# x;\n\nd # y\n\n;e;\n"));
    assert_int_equal(nrecs, 3);
    assert_dir(0, 3, 3, "a", "b", "c");
    assert_dir(1, 9, 1, "d");
    assert_dir(2, 11, 1, "e");

    /* an error in a multi-line directive points at its first line */
    assert_false(run("a;\n# fail;\n\nfail\n1\n2;"));
    assert_err("failed here", 4);
    assert_false(run("a \"x\n\ny\";\nfail;"));
    assert_err("failed here", 4);
}

static void
test_unterminated(void **state)
{
    /* the line is where the string began */
    assert_false(run("a \"b\nc\nd;\n"));
    assert_err("unterminated string", 1);
    assert_false(run("a;\n\nb\n  'c\\'\n;"));
    assert_err("unterminated string", 4);
    assert_false(run("a \"b\\\""));
    assert_err("unterminated string", 1);
}

static void
test_too_many_arguments(void **state)
{
    char buf[DM_CONF_MAX_TOKENS * 6 + 16];
    size_t n = 0;
    int i;

    /* DM_CONF_MAX_TOKENS tokens, the name included, are accepted */
    n += (size_t) snprintf(buf + n, sizeof(buf) - n, "\nd");
    for (i = 1; i < DM_CONF_MAX_TOKENS; i++) {
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, " %d", i);
    }
    buf[n++] = ';';
    assert_true(run_n(buf, n, 1));
    assert_int_equal(nrecs, 1);
    assert_dir(0, 2, DM_CONF_MAX_TOKENS, "d", "1", "2", "3", "4", "5", "6",
               "7");

    /* one more is refused, at the directive's first line */
    n--;
    n += (size_t) snprintf(buf + n, sizeof(buf) - n, "\nx;");
    assert_false(run_n(buf, n, 1));
    assert_err("too many arguments", 2);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_words),
        T(test_separators),
        T(test_blocks),
        T(test_blocks_spaced),
        T(test_comments),
        T(test_quotes),
        T(test_quote_needs_separator),
        T(test_escapes),
        T(test_variables),
        T(test_nul_byte),
        T(test_crlf),
        T(test_lines),
        T(test_unterminated),
        T(test_too_many_arguments),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
