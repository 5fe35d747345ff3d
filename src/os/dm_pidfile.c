/*
 * doorman: the pid file.
 *
 * The file is locked with flock() while the master lives: a second
 * instance started on the same pid file is refused instead of silently
 * sharing the ports (DESIGN.md section 1). The lock goes with the
 * process, so a crashed master never leaves a stale lock behind.
 */
#include <dm_core.h>
#include <dm_pidfile.h>
#include <sys/file.h>

int
dm_pidfile_create(const dm_str_t *path, dm_log_t *log)
{
    char buf[32];
    int fd, n;

    fd = open((const char *) path->data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        dm_log_error(DM_LOG_EMERG, log, errno, "open() \"%s\" failed",
                     path->data);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        dm_log_error(DM_LOG_EMERG, log, errno,
                     "pid file \"%s\" is locked: doorman is already running "
                     "with it",
                     path->data);
        close(fd);
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
    if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t) n, 0) != n) {
        dm_log_error(DM_LOG_EMERG, log, errno, "writing \"%s\" failed",
                     path->data);
        close(fd);
        return -1;
    }
    return fd;
}

void
dm_pidfile_delete(const dm_str_t *path, int fd)
{
    char buf[32];
    ssize_t n;

    if (fd == -1) {
        return;
    }
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n > 0) {
        buf[n] = '\0';
        if (atoi(buf) == (int) getpid()) {
            unlink((const char *) path->data);
        }
    }
    close(fd);
}
