/*
 * doorman: unit tests for nginx's inheritance of configuration values
 * through http { server { location { location { } } } }
 * (src/http/dm_http_conf.c, the dm_conf_merge_* macros of dm_conf.h and the
 * array setters of dm_conf_slot.c).
 *
 * The test brings its own http module with directives of every kind at
 * the main, srv and loc levels, and its own module table. The rules
 * checked: a level that does not set a value takes its parent's, the
 * default applies when no level sets it, a level that sets it overrides,
 * and a level that sets an array directive replaces the parent's list.
 */
/* DM_TEST_OWN_MODULES */
#include <dm_core.h>
#include <dm_core_modules.h>
#include <dm_core_module.h>
#include <dm_event_conf.h>
#include <dm_stream_conf.h>
#include <dm_http_conf.h>
#include <dm_upstream_conf.h>

#include <dm_test_conf.h>

/* --- the test http module ------------------------------------------------ */

typedef struct {
    dm_int_t num; /* th_main_num (11) */
} th_main_conf_t;

typedef struct {
    dm_flag_t flag; /* th_srv_flag (on) */
    size_t size;    /* th_srv_size (8k) */
} th_srv_conf_t;

typedef struct {
    dm_flag_t flag;      /* th_flag (off) */
    dm_int_t num;        /* th_num (5) */
    size_t size;         /* th_size (4k) */
    dm_msec_t msec;      /* th_msec (60s) */
    dm_str_t str;        /* th_str ("dflt") */
    dm_array_t *headers; /* th_header NAME VALUE: dm_keyval_t, or NULL */
    dm_array_t *list;    /* th_list ITEM: dm_str_t, or NULL */
} th_loc_conf_t;

static void *
th_create_main(dm_conf_t *cf)
{
    th_main_conf_t *c = dm_pcalloc(cf->pool, sizeof(th_main_conf_t));

    if (c) {
        c->num = DM_CONF_UNSET;
    }
    return c;
}

static char *
th_init_main(dm_conf_t *cf, void *conf)
{
    th_main_conf_t *c = conf;

    dm_conf_init_value(c->num, 11);
    return DM_CONF_OK;
}

static void *
th_create_srv(dm_conf_t *cf)
{
    th_srv_conf_t *c = dm_pcalloc(cf->pool, sizeof(th_srv_conf_t));

    if (c) {
        c->flag = DM_CONF_UNSET;
        c->size = DM_CONF_UNSET_SIZE;
    }
    return c;
}

static char *
th_merge_srv(dm_conf_t *cf, void *parent, void *child)
{
    th_srv_conf_t *prev = parent, *conf = child;

    dm_conf_merge_value(conf->flag, prev->flag, 1);
    dm_conf_merge_size_value(conf->size, prev->size, 8192);
    return DM_CONF_OK;
}

static void *
th_create_loc(dm_conf_t *cf)
{
    th_loc_conf_t *c = dm_pcalloc(cf->pool, sizeof(th_loc_conf_t));

    if (c) {
        c->flag = DM_CONF_UNSET;
        c->num = DM_CONF_UNSET;
        c->size = DM_CONF_UNSET_SIZE;
        c->msec = DM_CONF_UNSET_MSEC;
        c->headers = DM_CONF_UNSET_PTR;
        c->list = DM_CONF_UNSET_PTR;
    }
    return c;
}

static char *
th_merge_loc(dm_conf_t *cf, void *parent, void *child)
{
    th_loc_conf_t *prev = parent, *conf = child;

    dm_conf_merge_value(conf->flag, prev->flag, 0);
    dm_conf_merge_value(conf->num, prev->num, 5);
    dm_conf_merge_size_value(conf->size, prev->size, 4096);
    dm_conf_merge_msec_value(conf->msec, prev->msec, 60000);
    dm_conf_merge_str_value(conf->str, prev->str, "dflt");
    dm_conf_merge_ptr_value(conf->headers, prev->headers, NULL);
    dm_conf_merge_ptr_value(conf->list, prev->list, NULL);
    return DM_CONF_OK;
}

#define TH_ALL  (DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF)
#define TH_LOC  DM_CONF_LEVEL_LOC
#define TH_SRV  DM_CONF_LEVEL_SRV
#define TH_MAIN DM_CONF_LEVEL_MAIN

static const dm_command_t th_commands[] = {
    {dm_string("th_main_num"), DM_HTTP_MAIN_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, TH_MAIN, offsetof(th_main_conf_t, num), NULL},
    {dm_string("th_srv_flag"), DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF,
     DM_CONF_FLAG, dm_conf_set_flag_slot, TH_SRV, offsetof(th_srv_conf_t, flag),
     NULL},
    {dm_string("th_srv_size"), DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_size_slot, TH_SRV,
     offsetof(th_srv_conf_t, size), NULL},
    {dm_string("th_flag"), TH_ALL, DM_CONF_FLAG, dm_conf_set_flag_slot, TH_LOC,
     offsetof(th_loc_conf_t, flag), NULL},
    {dm_string("th_num"), TH_ALL, DM_CONF_TAKE1, dm_conf_set_num_slot, TH_LOC,
     offsetof(th_loc_conf_t, num), NULL},
    {dm_string("th_size"), TH_ALL, DM_CONF_TAKE1, dm_conf_set_size_slot, TH_LOC,
     offsetof(th_loc_conf_t, size), NULL},
    {dm_string("th_msec"), TH_ALL, DM_CONF_TAKE1, dm_conf_set_msec_slot, TH_LOC,
     offsetof(th_loc_conf_t, msec), NULL},
    {dm_string("th_str"), TH_ALL, DM_CONF_TAKE1, dm_conf_set_str_slot, TH_LOC,
     offsetof(th_loc_conf_t, str), NULL},
    {dm_string("th_header"), TH_ALL, DM_CONF_TAKE2, dm_conf_set_keyval_slot,
     TH_LOC, offsetof(th_loc_conf_t, headers), NULL},
    {dm_string("th_list"), TH_ALL, DM_CONF_TAKE1, dm_conf_set_str_array_slot,
     TH_LOC, offsetof(th_loc_conf_t, list), NULL},
    dm_null_command,
};

static dm_module_t th_module = {
    .name = "test_http",
    .type = DM_MODULE_HTTP,
    .commands = th_commands,
    .create_main_conf = th_create_main,
    .init_main_conf = th_init_main,
    .create_srv_conf = th_create_srv,
    .merge_srv_conf = th_merge_srv,
    .create_loc_conf = th_create_loc,
    .merge_loc_conf = th_merge_loc,
};

/* the core modules, in configure's order (objs/dm_core_modules.h), then
   the test's own */
DM_CORE_MODULES_EXTERN

dm_module_t *dm_modules[] = DM_CORE_MODULES_TABLE(&th_module, NULL);
const char *const dm_module_names[] = {NULL};

/* --- the harness ---------------------------------------------------------- */

static int
setup(void **state)
{
    return conf_setup("/tmp/dm-test-inherit-XXXXXX");
}

static int
teardown(void **state)
{
    return conf_teardown();
}

static dm_http_core_srv_conf_t *
server(dm_uint_t i)
{
    dm_conf_ctx_t *ctx = dm_http_conf_ctx(loaded);
    dm_http_core_main_conf_t *cmcf;

    assert_non_null(ctx);
    cmcf = dm_http_conf_get_main(ctx, dm_http_core_module);
    assert_true(i < cmcf->servers.nelts);
    return ((dm_http_core_srv_conf_t **) cmcf->servers.elts)[i];
}

static th_main_conf_t *
main_conf(void)
{
    return dm_http_conf_get_main(dm_http_conf_ctx(loaded), th_module);
}

static th_srv_conf_t *
srv_conf(dm_uint_t s)
{
    return dm_http_conf_get_srv(server(s)->ctx, th_module);
}

static th_loc_conf_t *
find_loc(dm_array_t *locations, const char *name)
{
    dm_http_core_loc_conf_t **l;
    th_loc_conf_t *found;
    dm_uint_t i;

    if (locations == NULL) {
        return NULL;
    }
    l = locations->elts;
    for (i = 0; i < locations->nelts; i++) {
        if (dm_str_eq(&l[i]->name, name)) {
            return l[i]->loc_conf[th_module.ctx_index];
        }
        found = find_loc(l[i]->locations, name);
        if (found) {
            return found;
        }
    }
    return NULL;
}

/* The server's own loc level (name NULL), or one of its locations. */
static th_loc_conf_t *
loc(dm_uint_t s, const char *name)
{
    th_loc_conf_t *l;

    if (name == NULL) {
        return dm_http_conf_get_loc(server(s)->ctx, th_module);
    }
    l = find_loc(&server(s)->locations, name);
    if (l == NULL) {
        fail_msg("no location \"%s\" in server %lu", name, (unsigned long) s);
    }
    return l;
}

/* An array directive's list as "K=V,K=V" or "A,B"; "-" for none. */
static const char *
joined(const dm_array_t *a, int keyval)
{
    static char buf[256];
    dm_uint_t i;
    size_t n = 0;

    if (a == NULL) {
        return "-";
    }
    assert_true(a != DM_CONF_UNSET_PTR);
    buf[0] = '\0';
    for (i = 0; i < a->nelts; i++) {
        if (keyval) {
            const dm_keyval_t *kv = (const dm_keyval_t *) a->elts + i;
            n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%s=%s",
                                   i ? "," : "", kv->key.data, kv->value.data);
        } else {
            const dm_str_t *s = (const dm_str_t *) a->elts + i;
            n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%s",
                                   i ? "," : "", s->data);
        }
    }
    return buf;
}

/* Asserts every loc-level value of one level, in one line per call. */
static void
assert_loc(const th_loc_conf_t *l, dm_flag_t flag, dm_int_t num, size_t size,
           dm_msec_t msec, const char *str)
{
    assert_int_equal(l->flag, flag);
    assert_int_equal(l->num, num);
    assert_int_equal(l->size, size);
    assert_int_equal(l->msec, msec);
    assert_int_equal(l->str.len, strlen(str));
    assert_memory_equal(l->str.data, str, strlen(str));
}

/* --- the tests ------------------------------------------------------------ */

static void
test_defaults(void **state)
{
    load_ok("http {\n server {\n  location / {\n   location /a { }\n  }\n"
            " }\n server { }\n}\n");
    assert_int_equal(main_conf()->num, 11);
    assert_int_equal(srv_conf(0)->flag, 1);
    assert_int_equal(srv_conf(0)->size, 8192);
    assert_int_equal(srv_conf(1)->flag, 1);
    assert_loc(loc(0, NULL), 0, 5, 4096, 60000, "dflt");
    assert_loc(loc(0, "/"), 0, 5, 4096, 60000, "dflt");
    assert_loc(loc(0, "/a"), 0, 5, 4096, 60000, "dflt");
    assert_loc(loc(1, NULL), 0, 5, 4096, 60000, "dflt");
    assert_string_equal(joined(loc(0, "/a")->headers, 1), "-");
    assert_string_equal(joined(loc(0, "/a")->list, 0), "-");
}

static void
test_inherit_from_http(void **state)
{
    load_ok("http {\n th_main_num 3;\n th_srv_flag off;\n"
            " th_srv_size 16k;\n th_flag on; th_num 7; th_size 1m;\n"
            " th_msec '1h 1s'; th_str top;\n"
            " server {\n  location / {\n   location /a { }\n  }\n }\n"
            " server { }\n}\n");
    assert_int_equal(main_conf()->num, 3);
    assert_int_equal(srv_conf(0)->flag, 0);
    assert_int_equal(srv_conf(0)->size, 16384);
    assert_int_equal(srv_conf(1)->size, 16384);
    assert_loc(loc(0, NULL), 1, 7, 1048576, 3601000, "top");
    assert_loc(loc(0, "/"), 1, 7, 1048576, 3601000, "top");
    assert_loc(loc(0, "/a"), 1, 7, 1048576, 3601000, "top");
    assert_loc(loc(1, NULL), 1, 7, 1048576, 3601000, "top");
}

static void
test_override(void **state)
{
    /* each value is set at a different depth; below it, it is inherited,
       beside it (sibling location, other server) it is not */
    load_ok("http {\n th_str top; th_num 1;\n"
            " server {\n  th_flag on; th_num 2; th_srv_size 2k;\n"
            "  location /p {\n   th_size 8k; th_num 3;\n"
            "   location /p/q {\n    th_msec 10s; th_str deep;\n   }\n"
            "   location /p/r { th_flag off; }\n  }\n"
            "  location /s { }\n }\n"
            " server {\n  location / { th_num 9; }\n }\n}\n");
    assert_int_equal(srv_conf(0)->size, 2048);
    assert_int_equal(srv_conf(1)->size, 8192);
    assert_loc(loc(0, NULL), 1, 2, 4096, 60000, "top");
    assert_loc(loc(0, "/p"), 1, 3, 8192, 60000, "top");
    assert_loc(loc(0, "/p/q"), 1, 3, 8192, 10000, "deep");
    assert_loc(loc(0, "/p/r"), 0, 3, 8192, 60000, "top");
    assert_loc(loc(0, "/s"), 1, 2, 4096, 60000, "top");
    assert_loc(loc(1, NULL), 0, 1, 4096, 60000, "top");
    assert_loc(loc(1, "/"), 0, 9, 4096, 60000, "top");
}

static void
test_order_independent(void **state)
{
    /* the merge runs after the whole block: a value set at the http level
       after a server reaches that server too */
    load_ok("http {\n server {\n  location / { }\n }\n th_num 42;\n"
            " th_header X 1;\n}\n");
    assert_int_equal(loc(0, "/")->num, 42);
    assert_string_equal(joined(loc(0, "/")->headers, 1), "X=1");
}

static void
test_array_replaces(void **state)
{
    load_ok("http {\n th_header A 1; th_header B 2;\n th_list x; th_list y;\n"
            " server {\n"
            "  location /p {\n   th_header C 3;\n"
            "   location /p/q { }\n"
            "   location /p/r { th_header D 4; th_header E 5; }\n  }\n"
            "  location /s { th_list z; }\n }\n"
            " server {\n  th_header F 6;\n  location / { }\n }\n}\n");
    /* not set: the parent's list */
    assert_string_equal(joined(loc(0, NULL)->headers, 1), "A=1,B=2");
    assert_string_equal(joined(loc(0, NULL)->list, 0), "x,y");
    /* set: only this level's entries, never the parent's plus these */
    assert_string_equal(joined(loc(0, "/p")->headers, 1), "C=3");
    assert_string_equal(joined(loc(0, "/p")->list, 0), "x,y");
    assert_string_equal(joined(loc(0, "/p/q")->headers, 1), "C=3");
    assert_string_equal(joined(loc(0, "/p/r")->headers, 1), "D=4,E=5");
    assert_string_equal(joined(loc(0, "/s")->headers, 1), "A=1,B=2");
    assert_string_equal(joined(loc(0, "/s")->list, 0), "z");
    assert_string_equal(joined(loc(1, NULL)->headers, 1), "F=6");
    assert_string_equal(joined(loc(1, NULL)->list, 0), "x,y");
    assert_string_equal(joined(loc(1, "/")->headers, 1), "F=6");
    /* a child's list is its own: the parent's did not grow */
    assert_true(loc(0, "/p")->headers != loc(0, NULL)->headers);
    assert_ptr_equal(loc(0, "/p/q")->headers, loc(0, "/p")->headers);
}

static void
test_include_in_location(void **state)
{
    put("loc.inc", "th_num 8;\nth_header I 1;\n");
    load_ok("http {\n server {\n  location / {\n   include loc.inc;\n"
            "   location /a { }\n  }\n  location /b { }\n }\n}\n");
    assert_int_equal(loc(0, "/")->num, 8);
    assert_int_equal(loc(0, "/a")->num, 8);
    assert_int_equal(loc(0, "/b")->num, 5);
    assert_string_equal(joined(loc(0, "/a")->headers, 1), "I=1");
    assert_string_equal(joined(loc(0, "/b")->headers, 1), "-");
}

static void
test_errors(void **state)
{
    /* once per level: a second one at the same level is refused */
    must_fail("http {\n server {\n  th_num 1;\n  th_num 2;\n }\n}\n",
              "doorman.conf", 4, "\"th_num\" directive is duplicate");

    /* a srv-level directive has no place in a location */
    must_fail("http {\n server {\n  location / {\n"
              "   th_srv_flag on;\n  }\n }\n}\n",
              "doorman.conf", 4,
              "\"th_srv_flag\" directive is not allowed here");

    /* nor an http directive outside http */
    must_fail("\nth_num 1;\n", "doorman.conf", 2,
              "\"th_num\" directive is not allowed here");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),       T(test_inherit_from_http),
        T(test_override),       T(test_order_independent),
        T(test_array_replaces), T(test_include_in_location),
        T(test_errors),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
