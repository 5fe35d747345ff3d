/*
 * doorman: detaching from the terminal.
 */
#include <dm_core.h>
#include <dm_daemon.h>

dm_int_t
dm_daemon(dm_log_t *log, int keep_stderr)
{
    int fd;

    switch (fork()) {
    case -1:
        dm_log_error(DM_LOG_EMERG, log, errno, "fork() failed");
        return DM_ERROR;
    case 0:
        break;
    default:
        _exit(0);
    }
    if (setsid() == -1) {
        dm_log_error(DM_LOG_EMERG, log, errno, "setsid() failed");
        return DM_ERROR;
    }
    umask(0);

    fd = open("/dev/null", O_RDWR);
    if (fd == -1) {
        dm_log_error(DM_LOG_EMERG, log, errno, "open(\"/dev/null\") failed");
        return DM_ERROR;
    }
    if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1
        || (!keep_stderr && dup2(fd, STDERR_FILENO) == -1)) {
        dm_log_error(DM_LOG_EMERG, log, errno, "dup2() failed");
        return DM_ERROR;
    }
    if (fd > STDERR_FILENO) {
        close(fd);
    }
    return DM_OK;
}
