/*
 * doorman: the configuration-loading fixture shared by the unit tests that
 * load whole configurations as `doorman -t` does (test_conf_parse.c,
 * test_conf_inherit.c, test_map_conf.c, test_split_clients.c) and the
 * stderr capture also used by test_complex.c and test_conf_token.c.
 *
 * Each test gets a fresh temporary prefix (tmpdir) from conf_setup(),
 * writes files into it with put(), loads with load() or load_in(), and
 * finds what the load logged in errbuf. conf_teardown() frees the last
 * cycle loaded and removes the prefix.
 *
 * A file that defines a load() of its own defines DM_TEST_CONF_OWN_LOAD
 * before including this header.
 */
#ifndef DM_TEST_CONF_H
#define DM_TEST_CONF_H

#include <dm_core.h>

#include <ftw.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

/* Not every test uses every helper. */
#define CONF_UNUSED __attribute__((unused))

CONF_UNUSED static char tmpdir[256];   /* the prefix, without its '/' */
CONF_UNUSED static char errbuf[8192];  /* what the last capture logged */
CONF_UNUSED static dm_cycle_t *loaded; /* the last cycle loaded, or NULL */

/*
 * Prepares a test: the modules, logging to stderr, no cycle loaded, an
 * empty errbuf and tmpdir a new directory made from `tmpl` (a mkdtemp()
 * template such as "/tmp/dm-test-x-XXXXXX"). Returns 0, as a cmocka setup.
 */
CONF_UNUSED static int
conf_setup(const char *tmpl)
{
    dm_module_init();
    dm_log_use_stderr = 1;
    loaded = NULL;
    errbuf[0] = '\0';
    snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

/* Removes one entry, for nftw(). */
CONF_UNUSED static int
conf_rm_entry(const char *path, const struct stat *st, int flag,
              struct FTW *ftw)
{
    return remove(path);
}

/*
 * Ends a test: frees the last cycle loaded and removes tmpdir with all it
 * holds. Returns 0 when all went, as a cmocka teardown.
 */
CONF_UNUSED static int
conf_teardown(void)
{
    if (loaded) {
        dm_cycle_free(loaded);
        loaded = NULL;
    }
    return nftw(tmpdir, conf_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Writes text to tmpdir/rel (rel may name one directory level, which is
 * created when missing); fails the test when it cannot.
 */
CONF_UNUSED static void
put(const char *rel, const char *text)
{
    char path[512], *slash;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Sends stderr (where errors are logged) to a file until capture_end(). */
CONF_UNUSED static int capture_fd = -1, saved_fd = -1;

CONF_UNUSED static void
capture_begin(void)
{
    char path[] = "/tmp/dm-test-stderr-XXXXXX";

    fflush(stderr);
    capture_fd = mkstemp(path);
    assert_true(capture_fd >= 0);
    unlink(path);
    saved_fd = dup(2);
    assert_true(saved_fd >= 0);
    assert_int_equal(dup2(capture_fd, 2), 2);
}

/* Restores stderr; errbuf gets what was logged since capture_begin(). */
CONF_UNUSED static void
capture_end(void)
{
    ssize_t n;

    fflush(stderr);
    dup2(saved_fd, 2);
    close(saved_fd);
    lseek(capture_fd, 0, SEEK_SET);
    n = read(capture_fd, errbuf, sizeof(errbuf) - 1);
    errbuf[n > 0 ? n : 0] = '\0';
    close(capture_fd);
}

/*
 * Writes text to tmpdir/DIRdoorman.conf and loads it as `doorman -t -p
 * tmpdir/ -c tmpdir/DIRdoorman.conf [-g param]` does, the configuration
 * prefix being tmpdir/DIR (dir is "" or ends in '/'; param may be NULL).
 * The cycle loaded before is freed first; stderr is captured into errbuf.
 * Returns 1 when it loaded (the cycle is then `loaded`), 0 otherwise.
 */
CONF_UNUSED static int
load_in(const char *dir, const char *text, const char *param)
{
    static char prefix[300], conf_prefix[300], file[300];
    char rel[300];
    dm_cycle_t boot;

    snprintf(rel, sizeof(rel), "%sdoorman.conf", dir);
    put(rel, text);
    if (loaded) {
        dm_cycle_free(loaded);
        loaded = NULL;
    }
    snprintf(prefix, sizeof(prefix), "%s/", tmpdir);
    snprintf(conf_prefix, sizeof(conf_prefix), "%s/%s", tmpdir, dir);
    snprintf(file, sizeof(file), "%s/%sdoorman.conf", tmpdir, dir);
    memset(&boot, 0, sizeof(boot));
    boot.log = dm_log_init();
    boot.prefix.data = (u_char *) prefix;
    boot.prefix.len = strlen(prefix);
    boot.conf_prefix.data = (u_char *) conf_prefix;
    boot.conf_prefix.len = strlen(conf_prefix);
    boot.conf_file.data = (u_char *) file;
    boot.conf_file.len = strlen(file);
    if (param) {
        boot.conf_param.data = (u_char *) param;
        boot.conf_param.len = strlen(param);
    }
    boot.test_config = 1;

    capture_begin();
    loaded = dm_cycle_init(&boot);
    capture_end();
    return loaded != NULL;
}

#ifndef DM_TEST_CONF_OWN_LOAD
/* Loads text as tmpdir/doorman.conf, the prefix tmpdir/: see load_in(). */
CONF_UNUSED static int
load(const char *text)
{
    return load_in("", text, NULL);
}
#endif

/* Loads text as tmpdir/doorman.conf; it must load without a word logged. */
CONF_UNUSED static void
load_ok(const char *text)
{
    if (!load_in("", text, NULL)) {
        fail_msg("the configuration did not load: %s", errbuf);
    }
    assert_string_equal(errbuf, "");
}

/*
 * Asserts that errbuf is exactly "doorman: [emerg] MSG in tmpdir/file:line"
 * and a newline, or "... MSG in command line" when file is NULL; MSG is fmt
 * formatted as printf() does.
 */
CONF_UNUSED static void
expect(const char *file, unsigned line, const char *fmt, ...)
{
    char msg[1024], want[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (file == NULL) {
        snprintf(want, sizeof(want), "doorman: [emerg] %s in command line\n",
                 msg);
    } else {
        snprintf(want, sizeof(want), "doorman: [emerg] %s in %s/%s:%u\n", msg,
                 tmpdir, file, line);
    }
    assert_string_equal(errbuf, want);
}

/*
 * Asserts that text, loaded as tmpdir/doorman.conf, fails with exactly
 * "MSG in tmpdir/file:line" (see expect()).
 */
CONF_UNUSED static void
must_fail(const char *text, const char *file, unsigned line, const char *msg)
{
    assert_false(load_in("", text, NULL));
    expect(file, line, "%s", msg);
}

#endif /* DM_TEST_CONF_H */
