/*
 * doorman: unit tests for the access log's formats and writer
 * (src/core/dm_access_log.c, dm_access_log_conf.c), over variables of the
 * test's own and files whose size RLIMIT_FSIZE bounds (SIGXFSZ ignored),
 * which is how a write comes up short (then fails with EFBIG) on demand.
 *
 * Covered: each escaping applied to variable values and never to the
 * format's literal text; a variable without value (or empty) written "-"
 * with the default escaping and as nothing with json and none; several
 * strings concatenated; if= (a value, "", "0", a variable without value);
 * an unbuffered file gets one line per write; a buffered one keeps lines
 * until the next does not fit, and a line longer than the buffer follows
 * the buffer's flush; a short write keeps the whole lines that fit, drops
 * and counts the rest, and the next write starts with a newline so that
 * the cut line stays alone; a failing write drops its lines with the
 * errno; reports are `access log "PATH": N lines dropped (...)`, at most
 * one a second, the rest carried to the next one or to exit, which
 * flushes and reports what is left.
 */
#include <dm_core.h>
#include <dm_access_log.h>

#include <signal.h>
#include <sys/resource.h>
#include <setjmp.h>
#include <cmocka.h>

static dm_pool_t *pool;
static dm_conf_t cf;
static dm_cycle_t cycle;
static dm_variable_registry_t reg;
static dm_variable_env_t env;
static dm_connection_t conn;
static dm_access_log_main_conf_t *lmcf;
static dm_log_file_t errfile, logfile;
static char errpath[64], logpath[64];
static const char *const basic_strings[] = {"$b", NULL};

/* Bytes already in the access log file when a test starts. */
#define PREFILL 4000

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

static void
declare(const char *name, dm_variable_get_pt get, uintptr_t data)
{
    dm_str_t n = {strlen(name), (u_char *) name};
    dm_variable_t *v = dm_variable_add(&cf, &reg, &n, 0);

    assert_non_null(v);
    v->get = get;
    v->data = data;
}

static void
set_fsize(rlim_t n)
{
    struct rlimit rl = {n, RLIM_INFINITY};

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static int
setup(void **state)
{
    int fd, i;

    dm_log_use_stderr = 0;
    signal(SIGXFSZ, SIG_IGN);
    set_fsize(RLIM_INFINITY);
    pool = dm_pool_create(4096, dm_log_init());
    assert_non_null(pool);

    /* the error log: a file of ours, read back by the checks */
    snprintf(errpath, sizeof(errpath), "/tmp/dm_test_alog_err.XXXXXX");
    fd = mkstemp(errpath);
    assert_true(fd >= 0);
    memset(&errfile, 0, sizeof(errfile));
    errfile.fd = fd;
    errfile.name.data = (u_char *) errpath;
    errfile.name.len = strlen(errpath);
    memset(&cycle, 0, sizeof(cycle));
    cycle.pool = pool;
    cycle.new_log.level = DM_LOG_DEBUG;
    cycle.new_log.file = &errfile;
    cycle.log = &cycle.new_log;

    memset(&cf, 0, sizeof(cf));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.cycle = &cycle;
    cf.log = dm_log_init();
    assert_int_equal(dm_variable_registry_init(&reg, pool, "test"), DM_OK);
    declare("a", get_text, (uintptr_t) "x\"y\\z");
    declare("b", get_text, (uintptr_t) "B");
    declare("ctl", get_text, (uintptr_t) "\x01\xff\xc3\xa9");
    declare("zero", get_text, (uintptr_t) "0");
    declare("blank", get_text, (uintptr_t) "");
    declare("nf", get_not_found, 0);

    lmcf = dm_access_log_create_main_conf(&cf);
    assert_non_null(lmcf);
    assert_int_equal(
        dm_access_log_main_init(&cf, lmcf, &reg, "basic", basic_strings),
        DM_OK);

    /* the access log file, one writer for it */
    snprintf(logpath, sizeof(logpath), "/tmp/dm_test_alog.XXXXXX");
    fd = mkstemp(logpath);
    assert_true(fd >= 0);
    /* RLIMIT_FSIZE bounds every file: the access log starts PREFILL bytes
       long so that a limit just above its end leaves the error log room */
    for (i = 0; i < PREFILL / 10; i++) {
        assert_int_equal(write(fd, "#########\n", 10), 10);
    }
    memset(&logfile, 0, sizeof(logfile));
    logfile.fd = fd;
    logfile.name.data = (u_char *) logpath;
    logfile.name.len = strlen(logpath);
    cycle.log_files = &logfile;
    dm_current_msec = 0;
    return 0;
}

static int
teardown(void **state)
{
    set_fsize(RLIM_INFINITY);
    close(errfile.fd);
    close(logfile.fd);
    unlink(errpath);
    unlink(logpath);
    dm_pool_destroy(pool);
    return 0;
}

/* The whole contents of a file (static buffer, NUL-terminated). */
static const char *
slurp(const char *path)
{
    static char buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

/* What the tests wrote to the access log (after the prefill). */
static const char *
logtext(void)
{
    const char *all = slurp(logpath);

    assert_true(strlen(all) >= PREFILL);
    return all + PREFILL;
}

/* Occurrences of needle in hay. */
static int
count(const char *hay, const char *needle)
{
    int n = 0;

    while ((hay = strstr(hay, needle)) != NULL) {
        n++;
        hay += strlen(needle);
    }
    return n;
}

/* log_format NAME ARGS... through the directive's own handler. */
static dm_access_log_format_t *
format(const char *name, ...)
{
    dm_access_log_format_t *fmt;
    dm_command_t cmd;
    const char *arg;
    dm_str_t *w;
    va_list ap;

    cf.args = dm_array_create(pool, 8, sizeof(dm_str_t));
    assert_non_null(cf.args);
    w = dm_array_push(cf.args);
    dm_str_set(w, "log_format");
    w = dm_array_push(cf.args);
    w->data = (u_char *) name;
    w->len = strlen(name);
    va_start(ap, name);
    while ((arg = va_arg(ap, const char *)) != NULL) {
        w = dm_array_push(cf.args);
        w->data = (u_char *) arg;
        w->len = strlen(arg);
    }
    va_end(ap);
    memset(&cmd, 0, sizeof(cmd));
    assert_null(dm_access_log_format_set(&cf, &cmd, lmcf));
    fmt = lmcf->formats.elts;
    return &fmt[lmcf->formats.nelts - 1];
}

/* An access_log list of one entry on the test file. */
static dm_access_log_conf_t *
one_log(dm_access_log_format_t *fmt, const char *cond, size_t size)
{
    dm_access_log_conf_t *alcf = dm_access_log_create_conf(&cf);
    dm_access_log_t *log;
    dm_str_t c;

    assert_non_null(alcf);
    alcf->logs = dm_array_create(pool, 1, sizeof(dm_access_log_t));
    log = dm_array_push(alcf->logs);
    log->format = fmt;
    log->writer = dm_access_log_writer(&cf, &logfile);
    assert_non_null(log->writer);
    log->writer->size = size;
    log->filter = NULL;
    if (cond) {
        c.data = (u_char *) cond;
        c.len = strlen(cond);
        log->filter = dm_palloc(pool, sizeof(dm_complex_value_t));
        assert_int_equal(dm_complex_compile(&cf, &reg, &c, log->filter), DM_OK);
    }
    assert_int_equal(dm_variable_finalize(&cf, &reg), DM_OK);
    assert_int_equal(dm_variable_env_init(&env, &reg, pool, &conn, NULL),
                     DM_OK);
    return alcf;
}

static void
test_escape_default(void **state)
{
    dm_access_log_format_t *f;

    f = format("d", "\"$a\" $nf [$blank] $ctl lit\"\\\x01 ", "${b}b", NULL);
    dm_access_log_write(&env, one_log(f, NULL, 0));
    assert_string_equal(logtext(), "\"x\\x22y\\x5Cz\" - [-] "
                                   "\\x01\\xFF\\xC3\\xA9 lit\"\\\x01 Bb\n");
}

static void
test_escape_json(void **state)
{
    dm_access_log_format_t *f;

    f = format("j", "escape=json", "{\"a\":\"$a\",\"nf\":\"$nf\",",
               "\"blank\":\"$blank\",\"ctl\":\"$ctl\"}", NULL);
    dm_access_log_write(&env, one_log(f, NULL, 0));
    assert_string_equal(logtext(),
                        "{\"a\":\"x\\\"y\\\\z\",\"nf\":\"\",\"blank\":\"\","
                        "\"ctl\":\"\\u0001\\u00ff\xc3\xa9\"}\n");
}

static void
test_escape_none(void **state)
{
    dm_access_log_format_t *f;

    f = format("n", "escape=none", "$a|$nf|$ctl", NULL);
    dm_access_log_write(&env, one_log(f, NULL, 0));
    assert_string_equal(logtext(), "x\"y\\z||\x01\xff\xc3\xa9\n");
}

static void
test_filter(void **state)
{
    dm_access_log_format_t *f = format("f", "$b", NULL);
    const char *conds[] = {"0", "", "$zero", "$blank", "$nf", "1", "$a", "00"};
    dm_uint_t i;

    for (i = 0; i < dm_nelems(conds); i++) {
        dm_access_log_write(&env, one_log(f, conds[i], 0));
    }
    /* "", "0" and a variable without value write nothing */
    assert_string_equal(logtext(), "B\nB\nB\n");
}

static void
test_buffered(void **state)
{
    dm_access_log_format_t *f = format("l", "0123456789abcdefghi", NULL);
    dm_access_log_format_t *big =
        format("big", "$b", "0123456789", "0123456789", "0123456789",
               "0123456789", "0123456789", "0123456789", "0123456789", NULL);
    dm_access_log_conf_t *alcf = one_log(f, NULL, 64), *bigcf;
    dm_access_log_writer_t *w = ((dm_access_log_t *) alcf->logs->elts)->writer;
    int i;

    /* 20-byte lines: three fit in 64 bytes, the fourth flushes them */
    for (i = 0; i < 3; i++) {
        dm_access_log_write(&env, alcf);
    }
    assert_string_equal(logtext(), "");
    assert_int_equal(w->lines, 3);
    dm_access_log_write(&env, alcf);
    assert_int_equal(strlen(logtext()), 60);
    assert_int_equal(w->lines, 1);

    /* a line longer than the buffer (72 bytes): after what the buffer
       held */
    bigcf = one_log(big, NULL, 64);
    dm_access_log_write(&env, bigcf);
    assert_int_equal(strlen(logtext()), 80 + 72);
    assert_int_equal(w->lines, 0);
    dm_access_log_write(&env, alcf);
    assert_int_equal(w->lines, 1);

    /* exit: the rest is written, the buffer freed; twice is harmless */
    dm_access_log_exit(&cycle);
    assert_null(w->start);
    assert_int_equal(strlen(logtext()), 80 + 72 + 20);
    dm_access_log_exit(&cycle);
    assert_string_equal(slurp(errpath), "");
}

static void
test_short_write(void **state)
{
    dm_access_log_format_t *f = format("l", "0123456789abcdefghi", NULL);
    dm_access_log_conf_t *alcf = one_log(f, NULL, 64);
    const char *err;
    int i;

    /* 3 lines buffered; the 4th flushes 60 bytes into room for 50: two
       whole lines and half of the third are written */
    set_fsize(PREFILL + 50);
    for (i = 0; i < 4; i++) {
        dm_access_log_write(&env, alcf);
    }
    assert_string_equal(logtext(), "0123456789abcdefghi\n"
                                   "0123456789abcdefghi\n"
                                   "0123456789");
    err = slurp(errpath);
    assert_non_null(strstr(err, "[alert]"));
    assert_non_null(strstr(err, "access log \""));
    assert_non_null(strstr(err, "\": 1 lines dropped (short write)"));

    /* full: every flush fails with EFBIG, counted, reported a second
       after the first report at the earliest */
    dm_current_msec = 200;
    dm_access_log_write(&env, alcf);
    dm_access_log_write(&env, alcf);
    dm_access_log_write(&env, alcf); /* flushes 3 lines: EFBIG */
    assert_null(strstr(slurp(errpath), "File too large"));
    dm_current_msec = 1000;
    dm_access_log_write(&env, alcf);
    dm_access_log_write(&env, alcf);
    dm_access_log_write(&env, alcf); /* 3 more: 6 now */
    err = slurp(errpath);
    assert_non_null(strstr(err, ": 6 lines dropped (27: File too large)"));

    /* room again: the cut line is ended first, nothing else is lost but
       what was counted; exit writes the line still held */
    set_fsize(RLIM_INFINITY);
    dm_current_msec = 1100;
    dm_access_log_exit(&cycle);
    assert_string_equal(logtext(), "0123456789abcdefghi\n"
                                   "0123456789abcdefghi\n"
                                   "0123456789\n"
                                   "0123456789abcdefghi\n");
    /* and no third report: nothing was dropped since the second */
    err = slurp(errpath);
    assert_int_equal(count(err, "lines dropped"), 2);
}

static void
test_unbuffered_failures(void **state)
{
    dm_access_log_format_t *f = format("l", "0123456789abcdefghi", NULL);
    dm_access_log_conf_t *alcf = one_log(f, NULL, 0);
    const char *err;

    /* one write per line: a short one keeps nothing whole */
    set_fsize(PREFILL + 30);
    dm_access_log_write(&env, alcf);
    dm_access_log_write(&env, alcf); /* 10 bytes of it, then cut */
    dm_access_log_write(&env, alcf); /* EFBIG */
    err = slurp(errpath);
    assert_non_null(strstr(err, ": 1 lines dropped (short write)"));
    assert_null(strstr(err, "File too large"));
    /* the count waits for exit, which reports it whatever the time */
    set_fsize(RLIM_INFINITY);
    dm_access_log_exit(&cycle);
    err = slurp(errpath);
    assert_non_null(strstr(err, ": 1 lines dropped (27: File too large)"));
    dm_access_log_write(&env, alcf);
    assert_string_equal(logtext(), "0123456789abcdefghi\n"
                                   "0123456789\n"
                                   "0123456789abcdefghi\n");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_escape_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unbuffered_failures, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
