/*
 * doorman: forking children and the master's table of them.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_channel.h>
#include <dm_process.h>
#include <dm_shm.h>
#include <signal.h>
#include <sys/wait.h>

dm_process_t dm_processes[DM_PROCESS_MAX];
dm_process_t *dm_process_self;
dm_uint_t dm_process_row_base;

/* Set by the master: drops its own loop state in a fresh child. */
void (*dm_process_child_cleanup)(void);

dm_process_t *
dm_process_spawn(dm_cycle_t *cycle, int kind, dm_int_t slot,
                 dm_uint_t generation, dm_process_body_pt body)
{
    dm_process_t *p = NULL;
    dm_uint_t i;
    int fds[2], rc;
    pid_t pid;

    for (i = 0; i < DM_PROCESS_MAX; i++) {
        if (dm_processes[i].pid == 0) {
            p = &dm_processes[i];
            break;
        }
    }
    if (p == NULL) {
        dm_log_error(DM_LOG_ALERT, cycle->log, 0,
                     "no free process slot (%d children)", DM_PROCESS_MAX);
        return NULL;
    }
    if (dm_channel_open(fds, cycle->log) != DM_OK) {
        return NULL;
    }

    pid = fork();
    if (pid == -1) {
        dm_log_error(DM_LOG_ALERT, cycle->log, errno, "fork() failed");
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }

    if (pid == 0) {
        close(fds[0]);
        dm_process_self = p;
        /* this child's row in every shared counters area */
        dm_shm_row = dm_process_row(p);
        p->pid = getpid();
        p->kind = kind;
        p->slot = slot;
        p->generation = generation;
        p->cycle = cycle;
        if (dm_process_child_cleanup) {
            dm_process_child_cleanup();
        }
        rc = body(cycle, p, fds[1]);
        exit(rc);
    }

    close(fds[1]);
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->kind = kind;
    p->slot = slot;
    p->generation = generation;
    p->cycle = cycle;
    p->channel = fds[0];
    p->started = dm_current_msec;
    return p;
}

dm_process_t *
dm_process_find(pid_t pid)
{
    dm_uint_t i;

    for (i = 0; i < DM_PROCESS_MAX; i++) {
        if (dm_processes[i].pid == pid) {
            return &dm_processes[i];
        }
    }
    return NULL;
}

void
dm_process_command(dm_process_t *p, uint32_t command)
{
    dm_channel_msg_t msg;
    int signo;

    if (command == DM_CHANNEL_QUIT) {
        p->retiring = 1;
    } else if (command == DM_CHANNEL_TERMINATE) {
        p->killed = 1;
    }

    memset(&msg, 0, sizeof(msg));
    msg.command = command;
    msg.generation = (uint32_t) p->generation;
    msg.pid = (int32_t) getpid();
    msg.slot = (int32_t) p->slot;
    if (p->channel != -1
        && dm_channel_send(p->channel, &msg, dm_cycle->log) == DM_OK) {
        return;
    }

    /* a child that cannot hear its channel still hears signals */
    signo = command == DM_CHANNEL_QUIT        ? SIGQUIT
            : command == DM_CHANNEL_TERMINATE ? SIGTERM
                                              : SIGUSR1;
    if (kill(p->pid, signo) == -1 && errno != ESRCH) {
        dm_log_error(DM_LOG_ALERT, dm_cycle->log, errno, "kill(%d, %d) failed",
                     (int) p->pid, signo);
    }
}

void
dm_process_release(dm_process_t *p)
{
    if (p->conn) {
        dm_connection_close(p->conn); /* closes the channel too */
    } else if (p->channel != -1) {
        close(p->channel);
    }
    memset(p, 0, sizeof(*p));
    p->channel = -1;
}

dm_uint_t
dm_process_count(int kind, dm_uint_t generation)
{
    dm_uint_t i, n = 0;

    for (i = 0; i < DM_PROCESS_MAX; i++) {
        if (dm_processes[i].pid && (kind == 0 || dm_processes[i].kind == kind)
            && (generation == 0 || dm_processes[i].generation == generation)) {
            n++;
        }
    }
    return n;
}

int
dm_process_is_child(void)
{
    return dm_process_self != NULL;
}
