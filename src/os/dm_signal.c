/*
 * doorman: signals to a running master (`doorman -s`).
 */
#include <dm_core.h>
#include <dm_core_module.h>
#include <dm_signal.h>
#include <signal.h>
#include <sys/signalfd.h>

static const struct {
    const char *name;
    int signo;
} dm_signal_names[] = {
    {"stop", SIGTERM},
    {"quit", SIGQUIT},
    {"reopen", SIGUSR1},
    {"reload", SIGHUP},
};

dm_int_t
dm_signal_process(dm_cycle_t *cycle, const char *name)
{
    dm_core_conf_t *ccf = dm_core_conf(cycle);
    char buf[32];
    ssize_t n;
    int64_t pid;
    size_t i, len;
    int fd;

    fd = open((const char *) ccf->pid.data, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        dm_log_stderr(errno, "[error] open() \"%s\" failed", ccf->pid.data);
        return DM_ERROR;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        dm_log_stderr(n == 0 ? 0 : errno, "[error] read() \"%s\" failed",
                      ccf->pid.data);
        return DM_ERROR;
    }
    len = (size_t) n;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }
    pid = dm_parse_int((u_char *) buf, len);
    if (pid <= 0 || pid > INT_MAX) {
        dm_log_stderr(0, "[error] invalid PID number \"%.*s\" in \"%s\"",
                      (int) len, buf, ccf->pid.data);
        return DM_ERROR;
    }

    for (i = 0; i < dm_nelems(dm_signal_names); i++) {
        if (strcmp(name, dm_signal_names[i].name) == 0) {
            if (kill((pid_t) pid, dm_signal_names[i].signo) == -1) {
                dm_log_stderr(errno, "[alert] kill(%lld, %d) failed",
                              (long long) pid, dm_signal_names[i].signo);
                return DM_ERROR;
            }
            return DM_OK;
        }
    }
    return DM_ERROR;
}

static const int dm_signal_handled[] = {SIGTERM,  SIGINT,  SIGQUIT,
                                        SIGHUP,   SIGUSR1, SIGUSR2,
                                        SIGWINCH, SIGCHLD, SIGALRM};

int
dm_signal_open(dm_log_t *log)
{
    sigset_t set;
    size_t i;
    int fd;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    for (i = 0; i < dm_nelems(dm_signal_handled); i++) {
        sigaddset(&set, dm_signal_handled[i]);
    }
    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
        dm_log_error(DM_LOG_EMERG, log, errno, "sigprocmask() failed");
        return -1;
    }
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd == -1) {
        dm_log_error(DM_LOG_EMERG, log, errno, "signalfd() failed");
    }
    return fd;
}

int
dm_signal_read(int fd)
{
    struct signalfd_siginfo si;
    ssize_t n;

    n = read(fd, &si, sizeof(si));
    if (n == (ssize_t) sizeof(si)) {
        return (int) si.ssi_signo;
    }
    if (n == -1 && errno == EAGAIN) {
        return 0;
    }
    return -1;
}

void
dm_signal_reset(void)
{
    sigset_t set;
    size_t i;

    for (i = 0; i < dm_nelems(dm_signal_handled); i++) {
        signal(dm_signal_handled[i], SIG_DFL);
    }
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
}
