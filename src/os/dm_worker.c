/*
 * doorman: a serving process.
 *
 * Signals arrive through a signalfd registered in the loop like any
 * socket, so a signal can never slip in between a flag check and
 * epoll_wait. With master_process off this process receives them
 * straight from the user.
 */
#include <dm_core.h>
#include <dm_core_module.h>
#include <dm_event.h>
#include <dm_signal.h>
#include <dm_worker.h>
#include <dm_stats.h>
#include <dm_channel.h>
#include <dm_process.h>
#include <signal.h>
#include <sys/resource.h>

int dm_worker_exiting;

/*
 * How long a retiring worker leaves its idle keep-alive connections open.
 * A client that always has a request in flight (wrk, a busy browser) is
 * idle only between a response and its next request: closing it then
 * would race that request, which a client that does not retry counts as
 * failed. During the grace each such request is answered with
 * "Connection: close" instead; what is still idle after it is closed.
 */
#define DM_WORKER_IDLE_GRACE 1000

static int dm_worker_terminate;
static int dm_worker_quit;
static int dm_worker_reopen;
static dm_uint_t dm_worker_internal; /* slots that are ours, not clients' */
static int dm_worker_helper;         /* this process is the helper */
static dm_event_t dm_worker_shutdown_timer;
static dm_event_t dm_worker_heartbeat_timer;
static int dm_worker_shutdown_expired;
static dm_event_t dm_worker_idle_timer;
static int dm_worker_idle_expired;

static void dm_worker_signal_handler(dm_event_t *rev);
static void dm_worker_channel_handler(dm_event_t *rev);
static void dm_worker_ready(dm_cycle_t *cycle, int channel, dm_uint_t slot);
static void dm_worker_shutdown_handler(dm_event_t *ev);
static void dm_worker_idle_handler(dm_event_t *ev);
static void dm_worker_heartbeat_handler(dm_event_t *ev);
static dm_int_t dm_worker_init_modules(dm_cycle_t *cycle);
static void dm_worker_exit_modules(dm_cycle_t *cycle);

void
dm_worker_rlimit(dm_cycle_t *cycle)
{
    dm_core_conf_t *ccf = dm_core_conf(cycle);
    struct rlimit rl;

    if (ccf->rlimit_nofile == DM_CONF_UNSET) {
        return;
    }
    rl.rlim_cur = (rlim_t) ccf->rlimit_nofile;
    rl.rlim_max = (rlim_t) ccf->rlimit_nofile;
    if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
        dm_log_error(DM_LOG_ALERT, cycle->log, errno,
                     "setrlimit(RLIMIT_NOFILE, %ld) failed",
                     (long) ccf->rlimit_nofile);
    }
}

int
dm_worker_run(dm_cycle_t *cycle, dm_uint_t slot, dm_uint_t nworkers,
              int channel)
{
    dm_event_core_conf_t *ecf = dm_event_get_conf(cycle, &dm_event_core_module);
    dm_core_conf_t *ccf = dm_core_conf(cycle);
    dm_connection_t *sc;
    int sfd, rc = 0;

    sfd = dm_signal_open(cycle->log);
    if (sfd == -1) {
        return 1;
    }
    if (dm_event_init(cycle, (dm_uint_t) ecf->connections) != DM_OK) {
        close(sfd);
        return 1;
    }
    sc = dm_connection_get(sfd, 256, cycle->log);
    if (sc == NULL || dm_event_add_conn(sc) != DM_OK) {
        rc = 1;
        goto done;
    }
    sc->read->handler = dm_worker_signal_handler;
    sc->write->handler = dm_event_empty_handler;
    dm_worker_internal = 1;

    if (channel != -1) {
        dm_connection_t *cc = dm_connection_get(channel, 256, cycle->log);

        if (cc == NULL || dm_event_add_conn(cc) != DM_OK) {
            rc = 1;
            goto done;
        }
        cc->read->handler = dm_worker_channel_handler;
        cc->write->handler = dm_event_empty_handler;
        dm_worker_internal++;
    }

    dm_worker_helper = (slot == DM_WORKER_HELPER);
    if (dm_worker_init_modules(cycle) != DM_OK
        || (slot != DM_WORKER_HELPER
            && dm_event_accept_start(cycle, slot, nworkers) != DM_OK)) {
        rc = 1;
        goto done;
    }
    if (channel != -1) {
        /* the listeners are in our epoll: the master may retire the
           previous generation now */
        dm_worker_ready(cycle, channel, slot);
    }

    if (slot == DM_WORKER_HELPER) {
        /* the helper publishes that it is alive; its results older than
           three beats are ignored by the workers */
        memset(&dm_worker_heartbeat_timer, 0, sizeof(dm_event_t));
        dm_worker_heartbeat_timer.handler = dm_worker_heartbeat_handler;
        dm_worker_heartbeat_timer.log = cycle->log;
        dm_worker_heartbeat_timer.cancelable = 1;
        dm_worker_heartbeat_handler(&dm_worker_heartbeat_timer);
    }

    memset(&dm_worker_shutdown_timer, 0, sizeof(dm_event_t));
    dm_worker_shutdown_timer.handler = dm_worker_shutdown_handler;
    dm_worker_shutdown_timer.log = cycle->log;
    memset(&dm_worker_idle_timer, 0, sizeof(dm_event_t));
    dm_worker_idle_timer.handler = dm_worker_idle_handler;
    dm_worker_idle_timer.log = cycle->log;

    for (;;) {
        dm_event_process(DM_EVENT_TIMER_INFINITE);

        if (dm_worker_terminate) {
            break;
        }
        if (dm_worker_reopen) {
            dm_worker_reopen = 0;
            dm_log_reopen_files(cycle);
        }
        if (dm_worker_quit && !dm_worker_exiting) {
            dm_worker_exiting = 1;
            dm_log_error(DM_LOG_NOTICE, cycle->log, 0,
                         "gracefully shutting down");
            dm_event_accept_stop(cycle);
            if (ccf->shutdown_timeout) {
                dm_event_timer_add(&dm_worker_shutdown_timer,
                                   ccf->shutdown_timeout);
            }
            dm_event_timer_add(&dm_worker_idle_timer, DM_WORKER_IDLE_GRACE);
        }
        if (dm_worker_exiting) {
            /* after the grace, idle keep-alive connections are closed;
               busy ones finish (their next answer says close) */
            while (dm_worker_idle_expired && dm_connection_drain()) {
            }
            if (dm_connection_n - dm_connection_free_n <= dm_worker_internal
                || dm_worker_shutdown_expired) {
                break;
            }
        }
    }

    if (dm_worker_shutdown_expired) {
        dm_log_error(DM_LOG_NOTICE, cycle->log, 0,
                     "worker_shutdown_timeout expired: closing %lu "
                     "connections",
                     (unsigned long) (dm_connection_n - dm_connection_free_n
                                      - dm_worker_internal));
    }
    dm_log_error(DM_LOG_NOTICE, cycle->log, 0, "exiting");
    dm_worker_exit_modules(cycle);

done:
    dm_event_timer_del(&dm_worker_shutdown_timer);
    dm_event_timer_del(&dm_worker_idle_timer);
    dm_event_timer_del(&dm_worker_heartbeat_timer);
    dm_event_done(); /* closes the signalfd with its slot */
    return rc;
}

static void
dm_worker_signal_handler(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;
    int signo;

    while ((signo = dm_signal_read(c->fd)) > 0) {
        switch (signo) {
        case SIGTERM:
        case SIGINT:
            dm_worker_terminate = 1;
            break;
        case SIGQUIT:
            dm_worker_quit = 1;
            break;
        case SIGUSR1:
            dm_worker_reopen = 1;
            break;
        case SIGHUP:
            dm_log_error(DM_LOG_NOTICE, rev->log, 0,
                         "reload needs \"master_process on\": signal "
                         "ignored");
            break;
        default:
            break;
        }
    }
    rev->ready = 0;
}

static void
dm_worker_ready(dm_cycle_t *cycle, int channel, dm_uint_t slot)
{
    dm_channel_msg_t msg;

    memset(&msg, 0, sizeof(msg));
    msg.command = DM_CHANNEL_READY;
    msg.pid = (int32_t) getpid();
    msg.slot = slot == DM_WORKER_HELPER ? -1 : (int32_t) slot;
    msg.generation =
        dm_process_self ? (uint32_t) dm_process_self->generation : 0;
    (void) dm_channel_send(channel, &msg, cycle->log);
}

/*
 * Orders from the master. Its end closing means the master is gone: a
 * worker without a master finishes what it has and exits.
 */
static void
dm_worker_channel_handler(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;
    dm_channel_msg_t msg;
    dm_int_t rc;

    for (;;) {
        rc = dm_channel_recv(c->fd, &msg, rev->log);
        if (rc == DM_AGAIN) {
            rev->ready = 0;
            return;
        }
        if (rc != DM_OK) {
            dm_log_error(DM_LOG_ALERT, rev->log, 0,
                         "the master's channel closed: exiting");
            dm_worker_quit = 1;
            dm_worker_internal--;
            dm_connection_close(c);
            return;
        }
        switch (msg.command) {
        case DM_CHANNEL_QUIT:
            dm_worker_quit = 1;
            break;
        case DM_CHANNEL_TERMINATE:
            dm_worker_terminate = 1;
            break;
        case DM_CHANNEL_REOPEN:
            dm_worker_reopen = 1;
            break;
        }
    }
}

int
dm_worker_is_helper(void)
{
    return dm_worker_helper;
}

static void
dm_worker_heartbeat_handler(dm_event_t *ev)
{
    dm_stats_heartbeat();
    (void) dm_event_timer_add(ev, 1000);
}

static void
dm_worker_shutdown_handler(dm_event_t *ev)
{
    dm_worker_shutdown_expired = 1;
}

static void
dm_worker_idle_handler(dm_event_t *ev)
{
    dm_worker_idle_expired = 1;
}

static dm_int_t
dm_worker_init_modules(dm_cycle_t *cycle)
{
    dm_uint_t i;

    for (i = 0; dm_modules[i]; i++) {
        if (dm_modules[i]->init_process
            && dm_modules[i]->init_process(cycle) != DM_OK) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

static void
dm_worker_exit_modules(dm_cycle_t *cycle)
{
    dm_uint_t i;

    for (i = 0; dm_modules[i]; i++) {
        if (dm_modules[i]->exit_process) {
            dm_modules[i]->exit_process(cycle);
        }
    }
}
