/*
 * doorman: unit tests for the configuration dispatcher, the typed setters
 * and include (src/core/dm_conf_file.c, dm_conf_slot.c).
 *
 * Every configuration is written to a fresh temporary prefix and loaded
 * with dm_cycle_init(), as `doorman -t` loads it; the error it prints on
 * stderr ("doorman: [emerg] MESSAGE in FILE:LINE") is captured and
 * compared whole, so a test also fails when a second message appears.
 */
/* DM_TEST_OWN_MODULES */
#include <dm_core.h>
#include <dm_core_modules.h>
#include <dm_core_module.h>
#include <dm_event_conf.h>
#include <dm_stream_conf.h>
#include <dm_http_conf.h>
#include <dm_upstream_conf.h>

#define DM_TEST_CONF_OWN_LOAD /* load(text, param) below */
#include <dm_test_conf.h>

/*
 * The module table: the core descriptors and a test module with the
 * setters no core directive uses yet (size, sec, enum) and t_rec, which
 * records its arguments in the order it sees them.
 */
typedef struct {
    size_t size;    /* t_size, 1 ... 1m */
    dm_msec_t msec; /* t_msec, 0 ... 1h */
    time_t sec;     /* t_sec */
    dm_uint_t mode; /* t_enum fast | slow */
    dm_str_t str;   /* t_str */
} tconf_t;

static char recorded[1024];

static void *
t_create_conf(dm_conf_t *cf)
{
    tconf_t *t = dm_pcalloc(cf->pool, sizeof(tconf_t));

    if (t) {
        t->size = DM_CONF_UNSET_SIZE;
        t->msec = DM_CONF_UNSET_MSEC;
        t->sec = DM_CONF_UNSET;
        t->mode = DM_CONF_UNSET_UINT;
    }
    return t;
}

static char *
t_record(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_str_t *v = cf->args->elts;
    dm_uint_t i;

    for (i = 1; i < cf->args->nelts; i++) {
        snprintf(recorded + strlen(recorded),
                 sizeof(recorded) - strlen(recorded), "%s%s",
                 recorded[0] ? " " : "", v[i].data);
    }
    return DM_CONF_OK;
}

static const dm_conf_bounds_t t_size_bounds = {1, 1024 * 1024};
static const dm_conf_bounds_t t_msec_bounds = {0, 3600 * 1000};
static const dm_conf_enum_t t_modes[] = {
    {dm_string("fast"), 1},
    {dm_string("slow"), 2},
    {dm_null_string, 0},
};

static const dm_command_t t_commands[] = {
    {dm_string("t_size"), DM_MAIN_CONF, DM_CONF_TAKE1, dm_conf_set_size_slot,
     DM_CONF_LEVEL_MAIN, offsetof(tconf_t, size), &t_size_bounds},
    {dm_string("t_msec"), DM_MAIN_CONF, DM_CONF_TAKE1, dm_conf_set_msec_slot,
     DM_CONF_LEVEL_MAIN, offsetof(tconf_t, msec), &t_msec_bounds},
    {dm_string("t_sec"), DM_MAIN_CONF, DM_CONF_TAKE1, dm_conf_set_sec_slot,
     DM_CONF_LEVEL_MAIN, offsetof(tconf_t, sec), NULL},
    {dm_string("t_enum"), DM_MAIN_CONF, DM_CONF_TAKE1, dm_conf_set_enum_slot,
     DM_CONF_LEVEL_MAIN, offsetof(tconf_t, mode), t_modes},
    {dm_string("t_str"), DM_MAIN_CONF, DM_CONF_TAKE1, dm_conf_set_str_slot,
     DM_CONF_LEVEL_MAIN, offsetof(tconf_t, str), NULL},
    {dm_string("t_rec"), DM_ANY_CONF, DM_CONF_ANY, t_record, DM_CONF_LEVEL_MAIN,
     0, NULL},
    dm_null_command,
};

static dm_module_t t_module = {
    .name = "test_conf",
    .type = DM_MODULE_CORE,
    .commands = t_commands,
    .create_main_conf = t_create_conf,
};

/* the core modules, in configure's order (objs/dm_core_modules.h), then
   the test's own */
DM_CORE_MODULES_EXTERN

dm_module_t *dm_modules[] = DM_CORE_MODULES_TABLE(&t_module, NULL);
const char *const dm_module_names[] = {NULL};

/* --- the harness ---------------------------------------------------------- */

static int
setup(void **state)
{
    char conf[300];

    recorded[0] = '\0';
    conf_setup("/tmp/dm-test-conf-XXXXXX");
    snprintf(conf, sizeof(conf), "%s/conf/", tmpdir);
    assert_int_equal(mkdir(conf, 0755), 0);
    return 0;
}

static int
teardown(void **state)
{
    return conf_teardown();
}

/*
 * Loads `text` as PREFIX/conf/doorman.conf (with -g `param` when not NULL)
 * as `doorman -t` does, capturing stderr into errbuf. Returns 1 when the
 * configuration loaded (errbuf must then be empty), 0 otherwise.
 */
static int
load(const char *text, const char *param)
{
    recorded[0] = '\0';
    if (!load_in("conf/", text, param)) {
        return 0;
    }
    assert_string_equal(errbuf, "");
    return 1;
}

/* Loads a configuration that must load. */
static void
must_load(const char *text, const char *param)
{
    if (!load(text, param)) {
        fail_msg("the configuration did not load: %s", errbuf);
    }
}

#define MAIN "conf/doorman.conf"

static tconf_t *
tconf(void)
{
    return dm_cycle_get_core_conf(loaded, t_module);
}

/* --- the tests ------------------------------------------------------------ */

static void
test_ok(void **state)
{
    dm_core_conf_t *ccf;
    dm_event_core_conf_t *ecf;

    must_load(
        "# a complete file\ndaemon off;\nworker_processes 2;\n"
        "worker_shutdown_timeout '1h 30m';\n"
        "t_size 16k; t_msec 500ms; t_sec 1h; t_enum SLOW;\n"
        "t_str \"a b\";\nevents { worker_connections 64; }\n"
        "stream { upstream u { server 127.0.0.1:1; } }\n"
        "http { upstream h { server 127.0.0.1:1; } server { location / {\n"
        "location /a { } } location @n { } } }\n",
        NULL);
    ccf = dm_core_conf(loaded);
    assert_int_equal(ccf->daemon, 0);
    assert_int_equal(ccf->master, 1);
    assert_int_equal(ccf->worker_processes, 2);
    assert_int_equal(ccf->shutdown_timeout, 5400000);
    ecf = dm_event_get_conf(loaded, &dm_event_core_module);
    assert_int_equal(ecf->connections, 64);
    assert_int_equal(tconf()->size, 16384);
    assert_int_equal(tconf()->msec, 500);
    assert_int_equal(tconf()->sec, 3600);
    assert_int_equal(tconf()->mode, 2);
    assert_string_equal(tconf()->str.data, "a b");
}

static void
test_unknown_directive(void **state)
{
    assert_false(load("daemon off;\n\nproxy_pas x;\n", NULL));
    expect(MAIN, 3, "unknown directive \"proxy_pas\"");
    assert_false(load("http {\n server {\n  location / {\n\n   bogus\n"
                      "    1 2;\n  }\n }\n}\n",
                      NULL));
    expect(MAIN, 5, "unknown directive \"bogus\"");
    assert_false(load("\"\";", NULL));
    expect(MAIN, 1, "unknown directive \"\"");
}

static void
test_not_allowed(void **state)
{
    assert_false(load("daemon off;\nworker_connections 10;\n", NULL));
    expect(MAIN, 2, "\"worker_connections\" directive is not allowed here");
    assert_false(load("events {\n  daemon off;\n}\n", NULL));
    expect(MAIN, 2, "\"daemon\" directive is not allowed here");
    assert_false(load("\n\nserver {\n}\n", NULL));
    expect(MAIN, 3, "\"server\" directive is not allowed here");
    assert_false(load("upstream u { }\n", NULL));
    expect(MAIN, 1, "\"upstream\" directive is not allowed here");
    assert_false(load("http {\n location / { }\n}\n", NULL));
    expect(MAIN, 2, "\"location\" directive is not allowed here");
    assert_false(load("http {\n server {\n  events { }\n }\n}\n", NULL));
    expect(MAIN, 3, "\"events\" directive is not allowed here");
    assert_false(load("stream {\n server {\n  upstream u { }\n }\n}\n", NULL));
    expect(MAIN, 3, "\"upstream\" directive is not allowed here");
    assert_false(load("stream {\n stream { }\n}\n", NULL));
    expect(MAIN, 2, "\"stream\" directive is not allowed here");
}

static void
test_argument_count(void **state)
{
    assert_false(load("daemon;\n", NULL));
    expect(MAIN, 1, "invalid number of arguments in \"daemon\" directive");
    assert_false(load("\ndaemon\n\n on off;\n", NULL));
    expect(MAIN, 2, "invalid number of arguments in \"daemon\" directive");
    assert_false(load("worker_processes 1 2;\n", NULL));
    expect(MAIN, 1,
           "invalid number of arguments in \"worker_processes\" directive");
    assert_false(load("error_log a info x;\n", NULL));
    expect(MAIN, 1, "invalid number of arguments in \"error_log\" directive");
    assert_false(load("events x {\n}\n", NULL));
    expect(MAIN, 1, "invalid number of arguments in \"events\" directive");
    assert_false(load("stream {\n upstream { }\n}\n", NULL));
    expect(MAIN, 2, "invalid number of arguments in \"upstream\" directive");
    assert_false(load("include;\n", NULL));
    expect(MAIN, 1, "invalid number of arguments in \"include\" directive");
    assert_false(load("daemon on {\n}\n", NULL));
    expect(MAIN, 1, "directive \"daemon\" is not terminated by \";\"");
    assert_false(load("\nevents;\n", NULL));
    expect(MAIN, 2, "directive \"events\" has no opening \"{\"");
}

static void
test_bad_values(void **state)
{
    assert_false(load("daemon yes;\n", NULL));
    expect(MAIN, 1,
           "invalid value \"yes\" in \"daemon\" directive, it must be "
           "\"on\" or \"off\"");
    assert_false(load("events {\n worker_connections 1k;\n}\n", NULL));
    expect(MAIN, 2,
           "invalid value \"1k\" in \"worker_connections\" directive, it "
           "must be a number");
    assert_false(load("\nt_size 10x;\n", NULL));
    expect(MAIN, 2,
           "invalid value \"10x\" in \"t_size\" directive, it must be a "
           "size (16k, 1m)");
    assert_false(load("worker_shutdown_timeout 10q;\n", NULL));
    expect(MAIN, 1,
           "invalid value \"10q\" in \"worker_shutdown_timeout\" directive, "
           "it must be a time (500ms, 10s, 1h)");
    assert_false(load("t_sec 1500ms;\n", NULL));
    expect(MAIN, 1,
           "invalid value \"1500ms\" in \"t_sec\" directive, it must be a "
           "time in seconds (10s, 1h)");
    assert_false(load("t_enum medium;\n", NULL));
    expect(MAIN, 1,
           "invalid value \"medium\" in \"t_enum\" directive, it must be one "
           "of \"fast\", \"slow\"");
}

static void
test_out_of_bounds(void **state)
{
    char text[128];

    assert_false(load("events {\n\n worker_connections 0;\n}\n", NULL));
    expect(MAIN, 3,
           "value \"0\" in \"worker_connections\" directive is out of "
           "bounds, it must be between 1 and %d",
           DM_EVENT_MAX_CONNECTIONS);
    snprintf(text, sizeof(text), "events { worker_connections %d; }\n",
             DM_EVENT_MAX_CONNECTIONS + 1);
    assert_false(load(text, NULL));
    expect(MAIN, 1,
           "value \"%d\" in \"worker_connections\" directive is out of "
           "bounds, it must be between 1 and %d",
           DM_EVENT_MAX_CONNECTIONS + 1, DM_EVENT_MAX_CONNECTIONS);
    assert_false(load("t_size 1025k;\n", NULL));
    expect(MAIN, 1,
           "value \"1025k\" in \"t_size\" directive is out of bounds, it "
           "must be between 1 and 1048576");
    assert_false(load("t_size 0;\n", NULL));
    expect(MAIN, 1,
           "value \"0\" in \"t_size\" directive is out of bounds, it must be "
           "between 1 and 1048576");
    assert_false(load("t_msec 1h 1ms;\n", NULL));
    expect(MAIN, 1, "invalid number of arguments in \"t_msec\" directive");
    assert_false(load("t_msec \"1h 1ms\";\n", NULL));
    expect(MAIN, 1,
           "value \"1h 1ms\" in \"t_msec\" directive is out of bounds, it "
           "must be between 0 and 3600000");
    /* the bounds are inclusive */
    must_load("t_size 1m; t_msec 1h;\n", NULL);
}

static void
test_unbalanced(void **state)
{
    assert_false(load("events {\n}\n}\n", NULL));
    expect(MAIN, 3, "unexpected \"}\"");
    assert_false(load("http {\n server {\n  location / {\n  }\n }\n", NULL));
    expect(MAIN, 6, "unexpected end of file, expecting \"}\"");
    assert_false(load("events {", NULL));
    expect(MAIN, 1, "unexpected end of file, expecting \"}\"");
    /* an unterminated string: the line where it began */
    assert_false(load("daemon off;\nt_str \"abc\n\ndef;\n", NULL));
    expect(MAIN, 2, "unterminated string");
}

static void
test_duplicates(void **state)
{
    assert_false(load("daemon on;\n\ndaemon on;\n", NULL));
    expect(MAIN, 3, "\"daemon\" directive is duplicate");
    assert_false(load("events { }\nevents {\n}\n", NULL));
    expect(MAIN, 2, "\"events\" directive is duplicate");
    assert_false(load("stream {\n upstream x { }\n upstream y { }\n"
                      " upstream x { }\n}\n",
                      NULL));
    expect(MAIN, 4, "duplicate upstream \"x\"");
    assert_false(load("http {\n upstream x { }\n\n upstream x { }\n}\n", NULL));
    expect(MAIN, 4, "duplicate upstream \"x\"");
    assert_false(load("http { }\nhttp { }\n", NULL));
    expect(MAIN, 2, "\"http\" directive is duplicate");
    assert_false(load("t_size 1k;\nt_enum fast;\nt_size 1k;\n", NULL));
    expect(MAIN, 3, "\"t_size\" directive is duplicate");
    assert_false(load("t_enum fast;\nt_enum fast;\n", NULL));
    expect(MAIN, 2, "\"t_enum\" directive is duplicate");
    /* the same name in two engines is two different groups */
    must_load("stream { upstream x { server 127.0.0.1:1; } }\n"
              "http { upstream x { server 127.0.0.1:1; } }\n",
              NULL);
}

static void
test_include_missing(void **state)
{
    assert_false(load("daemon off;\ninclude nope.conf;\n", NULL));
    expect(MAIN, 2,
           "open() \"%s/conf/nope.conf\" failed (2: No such file or "
           "directory)",
           tmpdir);

    /* errno before the location in -g too */
    assert_false(load("daemon off;\n", "include nope.conf;"));
    expect(NULL, 0,
           "open() \"%s/conf/nope.conf\" failed (2: No such file or "
           "directory)",
           tmpdir);

    /* a directory, and a file that is not regular (no stale errno) */
    put("conf/sub/x", "");
    assert_false(load("\ninclude sub;\n", NULL));
    expect(MAIN, 2,
           "\"%s/conf/sub\" is not a regular file (21: Is a "
           "directory)",
           tmpdir);
    assert_false(load("include /dev/null;\n", NULL));
    expect(MAIN, 1, "\"/dev/null\" is not a regular file");
}

static void
test_include_error(void **state)
{
    put("conf/inc/a.conf", "# a\n\nworker_connections 5;\n");
    assert_false(load("daemon off;\ninclude inc/a.conf;\n", NULL));
    expect("conf/inc/a.conf", 3,
           "\"worker_connections\" directive is not allowed here");

    /* inside a block, and after the included file the main file again */
    put("conf/ev.conf", "\n  worker_connections 0;\n");
    assert_false(load("events {\n include ev.conf;\n}\n", NULL));
    expect("conf/ev.conf", 2,
           "value \"0\" in \"worker_connections\" directive is out of "
           "bounds, it must be between 1 and %d",
           DM_EVENT_MAX_CONNECTIONS);
    put("conf/ev.conf", "worker_connections 77;\n\n\n\n");
    assert_false(load("events {\n include ev.conf;\n bad;\n}\n", NULL));
    expect(MAIN, 3, "unknown directive \"bad\"");

    /* an included file cannot close the block it is included in */
    put("conf/ev.conf", "worker_connections 77;\n}\n");
    assert_false(load("events {\n include ev.conf;\n}\n", NULL));
    expect("conf/ev.conf", 2, "unexpected \"}\"");
}

static void
test_include_ok(void **state)
{
    dm_event_core_conf_t *ecf;
    char text[512];

    put("conf/ev.conf", "worker_connections 77;\n");
    put("conf/t.conf", "t_rec conf-dir;\n");
    put("t.conf", "t_rec prefix;\n");
    must_load("events {\n include ev.conf;\n}\ninclude t.conf;\n", NULL);
    ecf = dm_event_get_conf(loaded, &dm_event_core_module);
    assert_int_equal(ecf->connections, 77);
    /* a relative include is relative to the main file's directory */
    assert_string_equal(recorded, "conf-dir");

    /* an absolute one is taken as is */
    snprintf(text, sizeof(text), "include %s/t.conf;\n", tmpdir);
    must_load(text, NULL);
    assert_string_equal(recorded, "prefix");
}

static void
test_include_glob(void **state)
{
    put("conf/conf.d/b.conf", "t_rec b1;\nt_rec b2;\n");
    put("conf/conf.d/c.conf", "t_rec c;\n");
    put("conf/conf.d/a.conf", "t_rec a;\n");
    put("conf/conf.d/a.txt", "t_rec txt;\n");
    put("conf/conf.d/10.conf", "t_rec 10;\n");
    must_load("t_rec start;\ninclude conf.d/*.conf;\nt_rec end;\n", NULL);
    assert_string_equal(recorded, "start 10 a b1 b2 c end");

    /* an error in the second file names that file */
    put("conf/conf.d/b.conf", "t_rec b1;\n\nt_size big;\n");
    assert_false(load("include conf.d/*.conf;\n", NULL));
    expect("conf/conf.d/b.conf", 3,
           "invalid value \"big\" in \"t_size\" directive, it must be a size "
           "(16k, 1m)");
}

static void
test_include_glob_empty(void **state)
{
    must_load("include conf.d/*.conf;\ninclude none/?.conf;\n"
              "daemon off;\n",
              NULL);
    assert_int_equal(dm_core_conf(loaded)->daemon, 0);
}

static void
test_include_loop(void **state)
{
    put("conf/loop.conf", "t_rec x;\ninclude loop.conf;\n");
    assert_false(load("\ninclude loop.conf;\n", NULL));
    expect("conf/loop.conf", 2, "include nesting deeper than 32 (a loop?)");

    put("conf/a.conf", "include b.conf;\n");
    put("conf/b.conf", "\n\ninclude a.conf;\n");
    assert_false(load("include a.conf;\n", NULL));
    expect("conf/b.conf", 3, "include nesting deeper than 32 (a loop?)");
}

static void
test_command_line(void **state)
{
    assert_false(load("daemon off;\n", "daemon maybe;"));
    expect(NULL, 0,
           "invalid value \"maybe\" in \"daemon\" directive, it must be "
           "\"on\" or \"off\"");
    assert_false(load("daemon off;\n", "master_process off; bogus;"));
    expect(NULL, 0, "unknown directive \"bogus\"");

    /* -g is read first: the file may not repeat what it set */
    assert_false(load("\ndaemon on;\n", "daemon off;"));
    expect(MAIN, 2, "\"daemon\" directive is duplicate");

    must_load("worker_processes 3;\n", "daemon off; t_size 2k;");
    assert_int_equal(dm_core_conf(loaded)->daemon, 0);
    assert_int_equal(dm_core_conf(loaded)->worker_processes, 3);
    assert_int_equal(tconf()->size, 2048);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ok),
        T(test_unknown_directive),
        T(test_not_allowed),
        T(test_argument_count),
        T(test_bad_values),
        T(test_out_of_bounds),
        T(test_unbalanced),
        T(test_duplicates),
        T(test_include_missing),
        T(test_include_error),
        T(test_include_ok),
        T(test_include_glob),
        T(test_include_glob_empty),
        T(test_include_loop),
        T(test_command_line),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
