/*
 * doorman: the master/child channel.
 */
#include <dm_core.h>
#include <dm_channel.h>

dm_int_t
dm_channel_open(int fds[2], dm_log_t *log)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   fds)
        == -1) {
        dm_log_error(DM_LOG_ALERT, log, errno, "socketpair() failed");
        return DM_ERROR;
    }
    return DM_OK;
}

dm_int_t
dm_channel_send(int fd, const dm_channel_msg_t *msg, dm_log_t *log)
{
    ssize_t n;

    do {
        n = send(fd, msg, sizeof(*msg), MSG_NOSIGNAL);
    } while (n == -1 && errno == EINTR);
    if (n == (ssize_t) sizeof(*msg)) {
        return DM_OK;
    }
    if (n == -1 && errno == EAGAIN) {
        return DM_AGAIN;
    }
    dm_log_error(DM_LOG_ALERT, log, n == -1 ? errno : 0,
                 "sending on channel %d failed", fd);
    return DM_ERROR;
}

dm_int_t
dm_channel_recv(int fd, dm_channel_msg_t *msg, dm_log_t *log)
{
    ssize_t n;

    do {
        n = recv(fd, msg, sizeof(*msg), 0);
    } while (n == -1 && errno == EINTR);
    if (n == (ssize_t) sizeof(*msg)) {
        return DM_OK;
    }
    if (n == 0) {
        return DM_DONE;
    }
    if (n == -1 && errno == EAGAIN) {
        return DM_AGAIN;
    }
    if (n == -1 && errno == ECONNRESET) {
        return DM_DONE;
    }
    dm_log_error(DM_LOG_ALERT, log, n == -1 ? errno : 0,
                 "receiving on channel %d failed (%zd bytes)", fd, n);
    return DM_ERROR;
}
