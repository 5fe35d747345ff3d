/*
 * doorman: libFuzzer target for the configuration parser.
 *
 * Each input is a configuration, loaded by dm_cycle_init() itself with
 * the real module table, as `doorman -T -g INPUT` loads it: the input goes
 * through dm_conf_parse_buffer() as the -g directives, then the main file
 * (empty) is read, then the init_main_conf hooks run. Going through
 * dm_cycle_init() keeps the target in step with it as it grows. The cycle
 * is freed after each run, so LeakSanitizer sees any leak of a run.
 *
 *   make fuzz FUZZ=conf FUZZ_SECONDS=600
 *
 * Inputs may say `include`, `error_log` or `pid` with any path. So that
 * fuzzing never touches the machine, open() and socket() are replaced in
 * this program while an input is handled: a file is read only inside a
 * private temporary directory (the prefix, seeded with a few files to
 * include), a file opened for writing is /dev/null, and no socket is
 * made. Error messages go nowhere (a log level below emerg), so that the
 * fuzzer's output is not drowned in them; DM_FUZZ_VERBOSE=1 in the
 * environment prints them.
 */
#include <dm_core.h>

#include <ftw.h>
#include <sys/syscall.h>

static char fz_dir[64];   /* the sandbox and prefix, no trailing '/' */
static size_t fz_dir_len; /* strlen(fz_dir) */
static int fz_active;     /* 1 while an input is being handled */
static char fz_prefix[80], fz_file[96];

static dm_log_file_t fz_log_file = {.fd = -1, .name = dm_string("none")};
/* DM_LOG_STDERR (0) is below every message's level: nothing is written */
static dm_log_t fz_log = {.level = DM_LOG_STDERR, .file = &fz_log_file};

/* Files an input can include, relative to the prefix. */
static const struct {
    const char *name;
    const char *text;
} fz_seed_files[] = {
    {"empty.conf", ""},
    {"main.conf", "worker_processes 2;\ndaemon off;\n"},
    {"events.conf", "worker_connections 64;\n"},
    {"http.conf", "server { location / { location /a { } } }\n"},
    {"conf.d/a.conf", "master_process off;\n"},
    {"conf.d/b.conf", "events { }\n"},
    {"loop.conf", "include loop.conf;\n"},
    {"brace.conf", "}\n"},
    {"open.conf", "events {\n"},
    {"quote.conf", "pid \"unterminated\n"},
};

/* A path the library may open: inside the sandbox, no way out of it. */
static int
fz_allowed(const char *path)
{
    return strncmp(path, fz_dir, fz_dir_len) == 0 && path[fz_dir_len] == '/'
           && strstr(path, "/..") == NULL;
}

/*
 * The library's open(): outside a run, the real thing; during one, reads
 * only in the sandbox and writes only to /dev/null.
 */
int
open(const char *path, int flags, ...)
{
    unsigned mode = 0;
    va_list ap;

    if (flags & O_CREAT) {
        va_start(ap, flags);
        mode = va_arg(ap, unsigned);
        va_end(ap);
    }
    if (fz_active) {
        if (!fz_allowed(path)) {
            errno = EACCES;
            return -1;
        }
        if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT)) {
            path = "/dev/null";
            flags = O_WRONLY | O_CLOEXEC;
        }
    }
    return (int) syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

int
socket(int domain, int type, int protocol)
{
    if (fz_active) {
        errno = EACCES;
        return -1;
    }
    return (int) syscall(SYS_socket, domain, type, protocol);
}

static int
fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void
fz_cleanup(void)
{
    nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[256];
    size_t i;
    FILE *f;

    dm_module_init();
    dm_log_use_stderr = 0;
    if (getenv("DM_FUZZ_VERBOSE")) {
        /* to see why an input is refused: ./fuzz_conf FILE */
        fz_log_file.fd = 2;
        fz_log.level = DM_LOG_DEBUG;
    }

    strcpy(fz_dir, "/tmp/dm-fuzz-conf-XXXXXX");
    if (mkdtemp(fz_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    fz_dir_len = strlen(fz_dir);
    atexit(fz_cleanup);
    snprintf(fz_prefix, sizeof(fz_prefix), "%s/", fz_dir);
    snprintf(fz_file, sizeof(fz_file), "%s/empty.conf", fz_dir);

    snprintf(path, sizeof(path), "%s/conf.d", fz_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/dir.conf", fz_dir);
    mkdir(path, 0755);
    for (i = 0; i < dm_nelems(fz_seed_files); i++) {
        snprintf(path, sizeof(path), "%s/%s", fz_dir, fz_seed_files[i].name);
        f = fopen(path, "w");
        if (f == NULL || fputs(fz_seed_files[i].text, f) < 0 || fclose(f)) {
            perror(path);
            exit(1);
        }
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_cycle_t boot, *cycle;

    memset(&boot, 0, sizeof(boot));
    boot.log = &fz_log;
    boot.prefix.data = (u_char *) fz_prefix;
    boot.prefix.len = strlen(fz_prefix);
    boot.conf_prefix = boot.prefix;
    boot.conf_file.data = (u_char *) fz_file;
    boot.conf_file.len = strlen(fz_file);
    /* libFuzzer's copy of the input is exactly `size` bytes long: a read
       past its end is caught by ASan, where a pool buffer has slack */
    boot.conf_param.data = (u_char *) data;
    boot.conf_param.len = size;
    /* as `doorman -T`: nothing is opened that the input did not name, and
       every file read is recorded for the dump */
    boot.test_config = 1;
    boot.dump_config = 1;

    fz_active = 1;
    cycle = dm_cycle_init(&boot);
    fz_active = 0;

    if (cycle) {
        dm_cycle_free(cycle);
    }
    return 0;
}
