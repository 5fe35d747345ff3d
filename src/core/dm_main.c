/*
 * doorman: main() and the command line.
 *
 *   doorman [-htTvV] [-c FILE] [-p PREFIX] [-g DIRECTIVES] [-s SIGNAL]
 *
 * Paths follow nginx: a relative -c is relative to the prefix, and the
 * directory of the configuration file is the base of relative includes.
 */
#include <dm_core.h>
#include <dm_signal.h>
#include <dm_core_module.h>
#include <dm_daemon.h>
#include <dm_pidfile.h>
#include <dm_worker.h>
#include <dm_master.h>
#include <dm_proctitle.h>
#include <dm_shm.h>
#include <dm_process.h>
#include <openssl/crypto.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

typedef struct {
    const char *prefix; /* -p */
    const char *conf;   /* -c */
    const char *param;  /* -g */
    const char *signal; /* -s */
    unsigned help:1;    /* -h, -? */
    unsigned version:1; /* -v */
    unsigned verbose:1; /* -V */
    unsigned test:1;    /* -t */
    unsigned dump:1;    /* -T */
} dm_main_opts_t;

static dm_int_t dm_main_get_options(int argc, char *const *argv,
                                    dm_main_opts_t *o);
static void dm_main_show_help(void);
static void dm_main_show_version(int verbose);
static dm_int_t dm_main_paths(dm_cycle_t *boot, const dm_main_opts_t *o);
static void dm_main_dump(dm_cycle_t *cycle);
static int dm_main_single(dm_cycle_t *cycle);
static int dm_main_inherit(dm_log_t *log);
static const char *dm_main_binary(const char *argv0);

int
main(int argc, char *const *argv)
{
    dm_main_opts_t opts;
    dm_cycle_t boot, *cycle;
    const char *binary;
    int inherited, rc;
    dm_pool_t *pool;

    if (dm_proctitle_init(argc, (char **) argv) != DM_OK) {
        return 1;
    }
    memset(&opts, 0, sizeof(opts));
    /* the copies: the title overwrites argv, and -g must survive it */
    if (dm_main_get_options(argc, dm_argv, &opts) != DM_OK) {
        return 1;
    }
    if (opts.help) {
        dm_main_show_help();
        return 0;
    }
    if (opts.version || opts.verbose) {
        dm_main_show_version(opts.verbose);
        if (!opts.test) {
            return 0;
        }
    }

    dm_module_init();
    dm_log_use_stderr = 1;

    memset(&boot, 0, sizeof(boot));
    boot.log = dm_log_init();
    pool = dm_pool_create(DM_POOL_DEFAULT, boot.log);
    if (pool == NULL) {
        return 1;
    }
    boot.pool = pool;
    /* -s loads the file only to find the pid file: open nothing else */
    boot.test_config = opts.test || opts.signal;
    boot.dump_config = opts.dump;
    if (dm_main_paths(&boot, &opts) != DM_OK) {
        dm_pool_destroy(pool);
        return 1;
    }

    cycle = dm_cycle_init(&boot);
    if (cycle == NULL) {
        if (opts.test) {
            dm_log_stderr(0, "configuration file %s test failed",
                          boot.conf_file.data);
        }
        /* nothing else holds the boot strings: freed, so that a refused
           configuration leaves no leak for the sanitizers to report */
        dm_pool_destroy(pool);
        return 1;
    }
    dm_cycle = cycle;

    if (opts.test) {
        dm_log_stderr(0, "the configuration file %s syntax is ok",
                      cycle->conf_file.data);
        if (opts.dump) {
            dm_main_dump(cycle);
        }
        dm_log_stderr(0, "configuration file %s test is successful",
                      cycle->conf_file.data);
        return 0;
    }

    if (opts.signal) {
        return dm_signal_process(cycle, opts.signal) == DM_OK ? 0 : 1;
    }

    inherited = dm_main_inherit(cycle->log);
    if (inherited == -1) {
        return 1;
    }
    if (dm_shm_zones_init(cycle, NULL) != DM_OK
        || dm_module_init_modules(cycle) != DM_OK) {
        return 1;
    }
    dm_shm_import_release();

    if (!dm_core_conf(cycle)->master) {
        rc = dm_main_single(cycle);
        /* the boot strings (prefix, conf_file) outlived every cycle */
        dm_pool_destroy(pool);
        return rc;
    }
    binary = dm_main_binary(argv[0]);
    if (binary == NULL) {
        dm_log_error(DM_LOG_EMERG, cycle->log, errno,
                     "cannot find the absolute path of \"%s\"", argv[0]);
        return 1;
    }
    rc = dm_master_run(cycle, binary, inherited);
    dm_pool_destroy(pool);
    return rc;
}

/*
 * A binary upgrade started us: the old master put its sockets and zones
 * in DOORMAN as "SOCKETS|ZONES". Returns 1 when inherited, 0 when not,
 * -1 on a malformed list.
 */
static int
dm_main_inherit(dm_log_t *log)
{
    char *env = getenv("DOORMAN"), *bar, *copy, *sockets;
    int64_t base;

    if (env == NULL) {
        return 0;
    }
    copy = strdup(env);
    if (copy == NULL) {
        return -1;
    }
    /* our own children and a later upgrade must not see it again */
    unsetenv("DOORMAN");
    bar = strchr(copy, '|');
    if (bar == NULL) {
        dm_log_error(DM_LOG_EMERG, log, 0,
                     "invalid DOORMAN environment variable");
        free(copy);
        return -1;
    }
    /* "ROWBASE|SOCKETS|ZONES" */
    *bar = '\0';
    base = dm_parse_int((u_char *) copy, strlen(copy));
    sockets = bar + 1;
    bar = strchr(sockets, '|');
    if (bar == NULL || (base != 0 && base != DM_PROCESS_MAX)) {
        dm_log_error(DM_LOG_EMERG, log, 0,
                     "invalid DOORMAN environment variable");
        free(copy);
        return -1;
    }
    *bar = '\0';
    dm_process_row_base = (dm_uint_t) base;
    if (dm_listening_import(sockets, log) != DM_OK
        || dm_shm_import(bar + 1, log) != DM_OK) {
        free(copy);
        return -1;
    }
    dm_log_error(DM_LOG_NOTICE, log, 0,
                 "using inherited sockets and zones from the previous binary");
    free(copy);
    return 1;
}

/* The absolute path of argv[0], as the shell found it, for USR2. */
static const char *
dm_main_binary(const char *argv0)
{
    static char path[PATH_MAX];
    char try[PATH_MAX], *dirs, *dir, *save = NULL;
    const char *env;

    if (strchr(argv0, '/')) {
        return realpath(argv0, path);
    }
    env = getenv("PATH");
    if (env == NULL || (dirs = strdup(env)) == NULL) {
        return NULL;
    }
    for (dir = strtok_r(dirs, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(try, sizeof(try), "%s/%s", *dir ? dir : ".", argv0);
        if (access(try, X_OK) == 0 && realpath(try, path)) {
            free(dirs);
            return path;
        }
    }
    free(dirs);
    return NULL;
}

/*
 * master_process off: this process opens the sockets and serves them
 * itself, unpinned (benchmarks pin it from outside).
 */
static int
dm_main_single(dm_cycle_t *cycle)
{
    dm_core_conf_t *ccf = dm_core_conf(cycle);
    int pidfd, rc;

    /* one slot: SO_REUSEPORT on, so a `bind` address beside a wildcard of
       its port gets its own socket, as in master mode */
    if (dm_listening_set_slots(cycle, 1) != DM_OK
        || dm_listening_open_all(cycle) != DM_OK) {
        return 1;
    }
    if (ccf->daemon
        && dm_daemon(cycle->log, cycle->log->file->fd == 2) != DM_OK) {
        return 1;
    }
    pidfd = dm_pidfile_create(&ccf->pid, cycle->log);
    if (pidfd == -1) {
        return 1;
    }
    /* the terminal is ours no more: messages go to the error log only */
    dm_log_use_stderr = 0;

    dm_worker_rlimit(cycle);

    rc = dm_worker_run(cycle, 0, 1, -1);

    dm_pidfile_delete(&ccf->pid, pidfd);
    dm_listening_close_all(cycle);
    dm_cycle_free(cycle);
    return rc;
}

/*
 * Takes nginx's forms: "-c FILE" and "-cFILE", and flags grouped as
 * "-tq". Returns DM_OK, or DM_ERROR after saying what is wrong.
 */
static dm_int_t
dm_main_get_options(int argc, char *const *argv, dm_main_opts_t *o)
{
    const char *p, **target;
    int i;

    for (i = 1; i < argc; i++) {
        p = argv[i];
        if (*p++ != '-' || *p == '\0') {
            dm_log_stderr(0, "invalid option: \"%s\"", argv[i]);
            return DM_ERROR;
        }
        while (*p) {
            target = NULL;
            switch (*p++) {
            case '?':
            case 'h':
                o->help = 1;
                continue;
            case 'v':
                o->version = 1;
                continue;
            case 'V':
                o->verbose = 1;
                continue;
            case 't':
                o->test = 1;
                continue;
            case 'T':
                o->test = 1;
                o->dump = 1;
                continue;
            case 'p':
                target = &o->prefix;
                break;
            case 'c':
                target = &o->conf;
                break;
            case 'g':
                target = &o->param;
                break;
            case 's':
                target = &o->signal;
                break;
            default:
                dm_log_stderr(0, "invalid option: \"%c\"", p[-1]);
                return DM_ERROR;
            }

            /* an option with an argument takes the rest or the next word */
            if (*p) {
                *target = p;
            } else if (i + 1 < argc) {
                *target = argv[++i];
            } else {
                dm_log_stderr(0, "option \"-%c\" requires an argument", p[-1]);
                return DM_ERROR;
            }
            break;
        }
    }

    if (o->signal && strcmp(o->signal, "stop") && strcmp(o->signal, "quit")
        && strcmp(o->signal, "reopen") && strcmp(o->signal, "reload")) {
        dm_log_stderr(0, "invalid option: \"-s %s\"", o->signal);
        return DM_ERROR;
    }
    return DM_OK;
}

static void
dm_main_show_help(void)
{
    fputs("Usage: " DM_NAME " [-?hvVtT] [-s signal] [-p prefix]\n"
          "               [-c filename] [-g directives]\n"
          "\n"
          "Options:\n"
          "  -?,-h         : this help\n"
          "  -v            : show version and exit\n"
          "  -V            : show version, configure options and modules, "
          "then exit\n"
          "  -t            : test configuration and exit\n"
          "  -T            : test configuration, dump it and exit\n"
          "  -s signal     : send signal to a master process: "
          "stop, quit, reopen, reload\n"
          "  -p prefix     : set prefix path (default: " DM_PREFIX ")\n"
          "  -c filename   : set configuration file (default: " DM_CONF_PATH
          ")\n"
          "  -g directives : set global directives out of configuration "
          "file\n",
          stderr);
}

static void
dm_main_show_version(int verbose)
{
    dm_uint_t i;
    char pcre[64] = "";

    fputs(DM_NAME " version: " DM_VER "\n", stderr);
    if (!verbose) {
        return;
    }
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    fprintf(stderr, "built by %s\n", DM_COMPILER);
    fprintf(stderr, "built with %s, PCRE2 %s\n",
            OpenSSL_version(OPENSSL_VERSION), pcre);
    fprintf(stderr, "configure arguments: %s\n", DM_CONFIGURE);
    for (i = 0; dm_module_names[i]; i++) {
        fprintf(stderr, "module: %s\n", dm_module_names[i]);
    }
}

/* A NUL-terminated copy of s with a trailing '/' ensured. */
static dm_int_t
dm_main_dir(dm_pool_t *pool, dm_str_t *dst, const char *s, size_t len)
{
    int slash = (len == 0 || s[len - 1] != '/');

    dst->data = dm_pnalloc(pool, len + 2);
    if (dst->data == NULL) {
        return DM_ERROR;
    }
    memcpy(dst->data, s, len);
    if (slash) {
        dst->data[len] = '/';
    }
    dst->len = len + (size_t) slash;
    dst->data[dst->len] = '\0';
    return DM_OK;
}

static dm_int_t
dm_main_paths(dm_cycle_t *boot, const dm_main_opts_t *o)
{
    const char *prefix = o->prefix ? o->prefix : DM_PREFIX;
    const char *conf = o->conf ? o->conf : DM_CONF_PATH;
    char cwd[PATH_MAX];
    dm_str_t file;
    u_char *slash;

    if (prefix[0] != '/') {
        /* a relative prefix is relative to where we were started */
        size_t n;

        if (getcwd(cwd, sizeof(cwd) - 2) == NULL) {
            dm_log_stderr(errno, "getcwd() failed");
            return DM_ERROR;
        }
        n = strlen(cwd);
        if (n + strlen(prefix) + 2 > sizeof(cwd)) {
            dm_log_stderr(0, "prefix too long");
            return DM_ERROR;
        }
        cwd[n] = '/';
        strcpy(cwd + n + 1, prefix);
        prefix = cwd;
    }
    if (dm_main_dir(boot->pool, &boot->prefix, prefix, strlen(prefix))
        != DM_OK) {
        return DM_ERROR;
    }

    file.data = (u_char *) conf;
    file.len = strlen(conf);
    if (dm_conf_full_name(boot, &file, 0) != DM_OK) {
        return DM_ERROR;
    }
    boot->conf_file = file;

    slash = (u_char *) strrchr((const char *) file.data, '/');
    if (dm_main_dir(boot->pool, &boot->conf_prefix, (const char *) file.data,
                    (size_t) (slash - file.data))
        != DM_OK) {
        return DM_ERROR;
    }

    if (o->param) {
        boot->conf_param.len = strlen(o->param);
        boot->conf_param.data = (u_char *) o->param;
    }
    return DM_OK;
}

/* -T: every file read, in order, as nginx prints them. */
static void
dm_main_dump(dm_cycle_t *cycle)
{
    dm_cycle_dump_t *d = cycle->config_dump.elts;
    dm_uint_t i;

    for (i = 0; i < cycle->config_dump.nelts; i++) {
        printf("# configuration file %.*s:\n", DM_STR_ARG(d[i].name));
        fwrite(d[i].data.data, 1, d[i].data.len, stdout);
        if (d[i].data.len && d[i].data.data[d[i].data.len - 1] != '\n') {
            putchar('\n');
        }
        putchar('\n');
    }
    fflush(stdout);
}
