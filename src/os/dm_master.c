/*
 * doorman: the master process (DESIGN.md section 1).
 *
 * An explicit state machine with generation numbers. Every configuration
 * loaded is a generation; its workers report READY over their channel.
 * A reload is two-phase: the new generation is forked beside the running
 * one and only when every new worker is READY (its listeners are in its
 * epoll) is the old generation told to retire, so no connection ever
 * waits on a socket nobody accepts on. Anything failing before that kills
 * the new generation and leaves the old one exactly as it was.
 */
#include <dm_core.h>
#include <dm_core_module.h>
#include <dm_event.h>
#include <dm_channel.h>
#include <dm_cpu.h>
#include <dm_daemon.h>
#include <dm_master.h>
#include <dm_pidfile.h>
#include <dm_process.h>
#include <dm_proctitle.h>
#include <dm_shm.h>
#include <dm_signal.h>
#include <dm_user.h>
#include <dm_worker.h>
#include <signal.h>
#include <sys/wait.h>

/* How long a new generation may take to become READY. */
#define DM_MASTER_READY_TIMEOUT 15000
/* How long children get to exit after TERM before SIGKILL. */
#define DM_MASTER_KILL_TIMEOUT 5000
/* Most configurations alive at once (running, starting, retiring). */
#define DM_MASTER_CYCLES 16

extern void (*dm_process_child_cleanup)(void);

typedef struct {
    dm_cycle_t *cycle;    /* the configuration */
    dm_uint_t generation; /* its number */
    dm_uint_t nworkers;   /* its worker count */
    unsigned failed:1;    /* an aborted reload: free once its children go */
} dm_master_gen_t;

static dm_master_gen_t dm_master_gens[DM_MASTER_CYCLES];
static dm_master_gen_t *dm_master_cur;     /* serving */
static dm_master_gen_t *dm_master_pending; /* starting (a reload) */
static dm_uint_t dm_master_last_generation;

static const char *dm_master_binary;
static int dm_master_sigfd = -1;
static int dm_master_pidfd = -1;
static dm_str_t dm_master_pid_path; /* the pid file as configured */
static dm_str_t dm_master_oldbin;   /* "<pid>.oldbin" */
static int dm_master_renamed;       /* our pid file is the .oldbin one */
static pid_t dm_master_upgrade_pid; /* the new binary's master */

static int dm_master_quitting;    /* QUIT: children retire, then we exit */
static int dm_master_terminating; /* TERM/INT: children exit now */
static int dm_master_noaccepting; /* WINCH: no workers until HUP */
static int dm_master_sig_child, dm_master_sig_reload, dm_master_sig_reopen;
static int dm_master_sig_upgrade, dm_master_sig_winch;
static int dm_master_sig_quit, dm_master_sig_terminate;

static dm_event_t dm_master_timer; /* reload deadline, respawn, kill */
static dm_msec_t dm_master_ready_deadline;
static dm_msec_t dm_master_kill_deadline;

/* Respawns waiting for their back-off, by worker slot; index 256: helper */
#define DM_MASTER_HELPER_SLOT DM_CORE_MAX_WORKERS
static dm_msec_t dm_master_respawn_at[DM_CORE_MAX_WORKERS + 1];
static dm_uint_t dm_master_respawn_fails[DM_CORE_MAX_WORKERS + 1];
static unsigned char dm_master_respawn_due[DM_CORE_MAX_WORKERS + 1];

static void dm_master_signal_handler(dm_event_t *rev);
static void dm_master_channel_handler(dm_event_t *rev);
static void dm_master_timer_handler(dm_event_t *ev);
static void dm_master_reap(void);
static void dm_master_reload(void);
static void dm_master_upgrade(void);
static void dm_master_arm_timer(void);
static void dm_master_child_gone(dm_process_t *p);
static void dm_master_shm_cloexec(dm_cycle_t *cycle);

static dm_uint_t
dm_master_workers(dm_cycle_t *cycle)
{
    dm_core_conf_t *ccf = dm_core_conf(cycle);

    if (ccf->worker_processes == DM_CORE_WORKERS_AUTO) {
        ccf->worker_processes = (dm_int_t) dm_cpu_count(cycle->log);
    }
    return (dm_uint_t) ccf->worker_processes;
}

static dm_master_gen_t *
dm_master_gen_new(dm_cycle_t *cycle)
{
    dm_uint_t i;

    for (i = 0; i < DM_MASTER_CYCLES; i++) {
        if (dm_master_gens[i].cycle == NULL) {
            dm_master_gens[i].cycle = cycle;
            dm_master_gens[i].generation = ++dm_master_last_generation;
            dm_master_gens[i].nworkers = dm_master_workers(cycle);
            dm_master_gens[i].failed = 0;
            return &dm_master_gens[i];
        }
    }
    dm_log_error(DM_LOG_ALERT, cycle->log, 0,
                 "too many configurations alive: reload refused");
    return NULL;
}

/* Frees a generation: its sockets that no newer one took, its zones. */
static void
dm_master_gen_free(dm_master_gen_t *g)
{
    if (g->cycle == dm_cycle) {
        return;
    }
    dm_listening_close_all(g->cycle);
    dm_shm_zones_release(g->cycle, dm_cycle);
    dm_cycle_free(g->cycle);
    g->cycle = NULL;
}

/* Generations that are neither serving nor starting and have no child
   left are freed. */
static void
dm_master_gen_collect(void)
{
    dm_uint_t i;

    for (i = 0; i < DM_MASTER_CYCLES; i++) {
        dm_master_gen_t *g = &dm_master_gens[i];

        if (g->cycle && g != dm_master_cur && g != dm_master_pending
            && dm_process_count(0, g->generation) == 0) {
            dm_log_error(DM_LOG_INFO, dm_cycle->log, 0,
                         "configuration generation %lu released",
                         (unsigned long) g->generation);
            dm_master_gen_free(g);
        }
    }
}

/* In a freshly forked child: drop everything that is the master's. */
static void
dm_master_child_cleanup(void)
{
    dm_uint_t i;

    dm_event_done();
    if (dm_master_sigfd != -1) {
        close(dm_master_sigfd);
    }
    /* the pid file lock belongs to the master alone */
    if (dm_master_pidfd != -1) {
        close(dm_master_pidfd);
    }
    for (i = 0; i < DM_PROCESS_MAX; i++) {
        if (dm_processes[i].pid && dm_processes[i].channel != -1
            && &dm_processes[i] != dm_process_self) {
            close(dm_processes[i].channel);
        }
    }
    dm_log_use_stderr = 0;
}

/*
 * A child leaving: its copy of the configuration is freed, so a leak
 * checker sees only what the child itself lost.
 */
static int
dm_master_child_exit(dm_cycle_t *cycle, int rc)
{
    dm_uint_t i;

    for (i = 0; i < DM_MASTER_CYCLES; i++) {
        if (dm_master_gens[i].cycle && dm_master_gens[i].cycle != cycle) {
            dm_cycle_free(dm_master_gens[i].cycle);
        }
    }
    dm_cycle_free(cycle);
    return rc;
}

static int
dm_master_worker_body(dm_cycle_t *cycle, dm_process_t *p, int channel)
{
    dm_core_conf_t *ccf = dm_core_conf(cycle);
    dm_uint_t n = (dm_uint_t) ccf->worker_processes;
    uint64_t *masks;

    dm_proctitle_set("worker process");
    dm_listening_keep_slot(cycle, (dm_uint_t) p->slot, n);
    if (ccf->affinity == DM_CORE_AFFINITY_AUTO) {
        (void) dm_cpu_pin_auto((dm_uint_t) p->slot, cycle->log);
    } else if (ccf->affinity == DM_CORE_AFFINITY_MASKS) {
        masks = ccf->affinity_masks->elts;
        (void) dm_cpu_pin_mask(
            masks[(dm_uint_t) p->slot % ccf->affinity_masks->nelts],
            cycle->log);
    }
    dm_worker_rlimit(cycle);
    if (dm_user_drop(cycle) != DM_OK) {
        return 2;
    }
    return dm_master_child_exit(
        cycle, dm_worker_run(cycle, (dm_uint_t) p->slot, n, channel));
}

static int
dm_master_helper_body(dm_cycle_t *cycle, dm_process_t *p, int channel)
{
    dm_proctitle_set("helper process");
    dm_listening_keep_slot(cycle, DM_LISTENING_ANY_SLOT, 0);
    dm_worker_rlimit(cycle);
    if (dm_user_drop(cycle) != DM_OK) {
        return 2;
    }
    return dm_master_child_exit(
        cycle, dm_worker_run(cycle, DM_WORKER_HELPER, 0, channel));
}

/* Forks one child of the generation and wires its channel. */
static dm_process_t *
dm_master_spawn(dm_master_gen_t *g, int kind, dm_int_t slot)
{
    dm_process_t *p;
    dm_connection_t *c;

    p = dm_process_spawn(g->cycle, kind, slot, g->generation,
                         kind == DM_PROCESS_WORKER ? dm_master_worker_body
                                                   : dm_master_helper_body);
    if (p == NULL) {
        return NULL;
    }
    c = dm_connection_get(p->channel, 256, dm_cycle->log);
    if (c == NULL || dm_event_add_conn(c) != DM_OK) {
        if (c) {
            dm_connection_close(c);
        } else {
            close(p->channel);
        }
        p->channel = -1;
        return p; /* it still runs; signals reach it */
    }
    c->data = p;
    c->read->handler = dm_master_channel_handler;
    c->write->handler = dm_event_empty_handler;
    p->conn = c;
    if (kind == DM_PROCESS_WORKER) {
        dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0,
                     "start worker process %d (generation %lu, slot %ld)",
                     (int) p->pid, (unsigned long) g->generation, (long) slot);
    } else {
        dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0,
                     "start helper process %d (generation %lu)", (int) p->pid,
                     (unsigned long) g->generation);
    }
    return p;
}

static dm_int_t
dm_master_spawn_workers(dm_master_gen_t *g)
{
    dm_uint_t k;

    for (k = 0; k < g->nworkers; k++) {
        if (dm_master_spawn(g, DM_PROCESS_WORKER, (dm_int_t) k) == NULL) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

/* Sends a command to every child, or to those of one generation. */
static void
dm_master_broadcast(uint32_t command, dm_uint_t generation, int kind)
{
    dm_uint_t i;

    for (i = 0; i < DM_PROCESS_MAX; i++) {
        dm_process_t *p = &dm_processes[i];

        if (p->pid && (generation == 0 || p->generation == generation)
            && (kind == 0 || p->kind == kind)) {
            dm_process_command(p, command);
        }
    }
}

int
dm_master_run(dm_cycle_t *cycle, const char *binary, int inherited)
{
    dm_core_conf_t *ccf = dm_core_conf(cycle);
    dm_connection_t *sc;
    dm_uint_t n;

    dm_master_binary = binary;
    dm_process_child_cleanup = dm_master_child_cleanup;
    dm_cpu_init(cycle->log);

    dm_master_cur = dm_master_gen_new(cycle);
    n = dm_master_cur->nworkers;

    if (geteuid() != 0 && ccf->user_name.len) {
        dm_log_error(DM_LOG_WARN, cycle->log, 0,
                     "the \"user\" directive makes sense only if the master "
                     "process runs as root: workers keep running as uid %d",
                     (int) geteuid());
    }

    if (dm_listening_set_slots(cycle, n) != DM_OK) {
        return 1;
    }
    if (inherited) {
        dm_listening_inherit(cycle, NULL);
    }
    if (dm_listening_open_all(cycle) != DM_OK) {
        return 1;
    }
    dm_listening_import_done();
    dm_listening_steer(cycle, n);

    /* the new master of a binary upgrade is detached already */
    if (ccf->daemon && !inherited
        && dm_daemon(cycle->log, cycle->log->file->fd == 2) != DM_OK) {
        return 1;
    }

    /* the master's own copies: the first configuration's memory goes
       when a reload retires it */
    dm_master_pid_path.len = ccf->pid.len;
    dm_master_pid_path.data = (u_char *) strdup((const char *) ccf->pid.data);
    dm_master_oldbin.len = ccf->pid.len + sizeof(".oldbin") - 1;
    dm_master_oldbin.data = malloc(dm_master_oldbin.len + 1);
    if (dm_master_pid_path.data == NULL || dm_master_oldbin.data == NULL) {
        return 1;
    }
    snprintf((char *) dm_master_oldbin.data, dm_master_oldbin.len + 1,
             "%s.oldbin", ccf->pid.data);
    dm_master_pidfd = dm_pidfile_create(&dm_master_pid_path, cycle->log);
    if (dm_master_pidfd == -1) {
        dm_listening_close_all(cycle);
        return 1;
    }
    dm_log_use_stderr = 0;
    dm_proctitle_set("master process");

    dm_master_sigfd = dm_signal_open(cycle->log);
    if (dm_master_sigfd == -1
        || dm_event_init(cycle, DM_PROCESS_MAX + 16) != DM_OK) {
        return 1;
    }
    sc = dm_connection_get(dm_master_sigfd, 256, cycle->log);
    if (sc == NULL || dm_event_add_conn(sc) != DM_OK) {
        return 1;
    }
    sc->read->handler = dm_master_signal_handler;
    sc->write->handler = dm_event_empty_handler;
    memset(&dm_master_timer, 0, sizeof(dm_master_timer));
    dm_master_timer.handler = dm_master_timer_handler;
    dm_master_timer.log = cycle->log;

    if (dm_master_spawn_workers(dm_master_cur) != DM_OK) {
        dm_master_terminating = 1;
        dm_master_broadcast(DM_CHANNEL_TERMINATE, 0, 0);
    } else {
        (void) dm_master_spawn(dm_master_cur, DM_PROCESS_HELPER, -1);
    }

    for (;;) {
        dm_event_process(DM_EVENT_TIMER_INFINITE);

        if (dm_master_sig_child) {
            dm_master_sig_child = 0;
            dm_master_reap();
        }
        if (dm_master_sig_terminate) {
            dm_master_sig_terminate = 0;
            dm_master_terminating = 1;
            dm_master_kill_deadline = dm_current_msec + DM_MASTER_KILL_TIMEOUT;
            dm_master_broadcast(DM_CHANNEL_TERMINATE, 0, 0);
        }
        if (dm_master_sig_quit) {
            dm_master_sig_quit = 0;
            dm_master_quitting = 1;
            dm_master_broadcast(DM_CHANNEL_QUIT, 0, 0);
        }
        if (dm_master_terminating || dm_master_quitting) {
            if (dm_process_count(0, 0) == 0) {
                break;
            }
            dm_master_arm_timer();
            continue;
        }
        if (dm_master_sig_reload) {
            dm_master_sig_reload = 0;
            if (dm_master_noaccepting) {
                /* after WINCH: bring the workers back, same configuration */
                dm_master_noaccepting = 0;
                dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0,
                             "starting workers again");
                (void) dm_master_spawn_workers(dm_master_cur);
                (void) dm_master_spawn(dm_master_cur, DM_PROCESS_HELPER, -1);
            } else {
                dm_master_reload();
            }
        }
        if (dm_master_sig_reopen) {
            dm_master_sig_reopen = 0;
            dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0, "reopening logs");
            dm_log_reopen_files(dm_cycle);
            dm_log_chown_files(dm_cycle);
            dm_master_broadcast(DM_CHANNEL_REOPEN, 0, 0);
        }
        if (dm_master_sig_upgrade) {
            dm_master_sig_upgrade = 0;
            dm_master_upgrade();
        }
        if (dm_master_sig_winch) {
            dm_master_sig_winch = 0;
            dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0,
                         "gracefully shutting down workers (WINCH)");
            dm_master_noaccepting = 1;
            dm_master_broadcast(DM_CHANNEL_QUIT, 0, 0);
        }
        dm_master_gen_collect();
        dm_master_arm_timer();
    }

    dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0, "exit");
    dm_pidfile_delete(dm_master_renamed ? &dm_master_oldbin
                                        : &dm_master_pid_path,
                      dm_master_pidfd);
    dm_event_done();
    close(dm_master_sigfd);
    dm_master_cur = NULL;
    dm_master_pending = NULL;
    dm_master_gen_collect();
    dm_listening_close_all(dm_cycle);
    dm_shm_zones_release(dm_cycle, NULL);
    dm_cycle_free(dm_cycle);
    free(dm_master_pid_path.data);
    free(dm_master_oldbin.data);
    return 0;
}

static void
dm_master_signal_handler(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;
    int signo;

    while ((signo = dm_signal_read(c->fd)) > 0) {
        switch (signo) {
        case SIGCHLD:
            dm_master_sig_child = 1;
            break;
        case SIGTERM:
        case SIGINT:
            dm_master_sig_terminate = 1;
            break;
        case SIGQUIT:
            dm_master_sig_quit = 1;
            break;
        case SIGHUP:
            dm_master_sig_reload = 1;
            break;
        case SIGUSR1:
            dm_master_sig_reopen = 1;
            break;
        case SIGUSR2:
            dm_master_sig_upgrade = 1;
            break;
        case SIGWINCH:
            dm_master_sig_winch = 1;
            break;
        }
    }
    rev->ready = 0;
}

/* Every worker of the starting generation said READY: switch over. */
static void
dm_master_commit(void)
{
    dm_master_gen_t *old = dm_master_cur, *g = dm_master_pending;

    dm_listening_commit(g->cycle);
    dm_listening_steer(g->cycle, g->nworkers);
    dm_master_cur = g;
    dm_master_pending = NULL;
    dm_cycle = g->cycle;
    dm_master_ready_deadline = 0;

    /* the old generation retires only now; its helper hands over when it
       has stopped (see dm_master_reap) */
    dm_master_broadcast(DM_CHANNEL_QUIT, old->generation, 0);
    if (dm_process_count(DM_PROCESS_HELPER, 0) == 0) {
        (void) dm_master_spawn(g, DM_PROCESS_HELPER, -1);
    }
    dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0,
                 "reload: generation %lu serving, generation %lu retiring",
                 (unsigned long) g->generation,
                 (unsigned long) old->generation);
}

/* The starting generation failed: it goes, the running one stays. */
static void
dm_master_abort(const char *why)
{
    dm_master_gen_t *g = dm_master_pending;

    dm_log_error(DM_LOG_ALERT, dm_cycle->log, 0,
                 "reload failed (%s): the previous configuration keeps "
                 "serving",
                 why);
    g->failed = 1;
    dm_master_pending = NULL;
    dm_master_ready_deadline = 0;
    dm_master_broadcast(DM_CHANNEL_TERMINATE, g->generation, 0);
}

static void
dm_master_channel_handler(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;
    dm_process_t *p = c->data;
    dm_channel_msg_t msg;
    dm_int_t rc;
    dm_uint_t i;

    for (;;) {
        rc = dm_channel_recv(c->fd, &msg, rev->log);
        if (rc == DM_AGAIN) {
            rev->ready = 0;
            return;
        }
        if (rc != DM_OK) {
            /* the child is going; SIGCHLD will tell how */
            p->conn = NULL;
            p->channel = -1;
            dm_connection_close(c);
            return;
        }
        if (msg.command != DM_CHANNEL_READY) {
            continue;
        }
        p->ready = 1;
        if (dm_master_pending
            && p->generation == dm_master_pending->generation) {
            for (i = 0; i < DM_PROCESS_MAX; i++) {
                if (dm_processes[i].pid
                    && dm_processes[i].kind == DM_PROCESS_WORKER
                    && dm_processes[i].generation
                           == dm_master_pending->generation
                    && !dm_processes[i].ready) {
                    break;
                }
            }
            if (i == DM_PROCESS_MAX) {
                dm_master_commit();
            }
        }
    }
}

static void
dm_master_schedule_respawn(dm_process_t *p)
{
    dm_uint_t k = p->kind == DM_PROCESS_HELPER ? DM_MASTER_HELPER_SLOT
                                               : (dm_uint_t) p->slot;
    dm_msec_t delay = 0;

    /* a child that dies right after its start would die again at once */
    if (dm_current_msec - p->started < 2000) {
        dm_master_respawn_fails[k]++;
        delay = dm_min((dm_msec_t) 100 << dm_min(dm_master_respawn_fails[k], 6),
                       (dm_msec_t) 5000);
    } else {
        dm_master_respawn_fails[k] = 0;
    }
    dm_master_respawn_at[k] = dm_current_msec + delay;
    dm_master_respawn_due[k] = 1;
}

static void
dm_master_reap(void)
{
    dm_process_t *p, copy;
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == dm_master_upgrade_pid) {
            dm_master_upgrade_pid = 0;
            dm_log_error(DM_LOG_ALERT, dm_cycle->log, 0,
                         "the new binary's master %d exited (%s %d): "
                         "restoring the pid file",
                         (int) pid, WIFSIGNALED(status) ? "signal" : "code",
                         WIFSIGNALED(status) ? WTERMSIG(status)
                                             : WEXITSTATUS(status));
            if (dm_master_renamed
                && rename((const char *) dm_master_oldbin.data,
                          (const char *) dm_master_pid_path.data)
                       == 0) {
                dm_master_renamed = 0;
            }
            if (dm_master_noaccepting && !dm_master_quitting
                && !dm_master_terminating) {
                dm_master_noaccepting = 0;
                (void) dm_master_spawn_workers(dm_master_cur);
                (void) dm_master_spawn(dm_master_cur, DM_PROCESS_HELPER, -1);
            }
            continue;
        }

        p = dm_process_find(pid);
        if (p == NULL) {
            continue;
        }
        copy = *p;
        if (WIFSIGNALED(status)) {
            dm_log_error(DM_LOG_ALERT, dm_cycle->log, 0,
                         "%s process %d exited on signal %d",
                         p->kind == DM_PROCESS_WORKER ? "worker" : "helper",
                         (int) pid, WTERMSIG(status));
        } else {
            dm_log_error(WEXITSTATUS(status) ? DM_LOG_ALERT : DM_LOG_NOTICE,
                         dm_cycle->log, 0, "%s process %d exited with code %d",
                         p->kind == DM_PROCESS_WORKER ? "worker" : "helper",
                         (int) pid, WEXITSTATUS(status));
        }
        dm_master_child_gone(p);
        dm_process_release(p);

        if (dm_master_pending
            && copy.generation == dm_master_pending->generation) {
            if (!copy.ready) {
                dm_master_abort("a new worker exited before it was ready");
            }
            continue;
        }
        if (dm_master_quitting || dm_master_terminating) {
            continue;
        }
        if (copy.kind == DM_PROCESS_HELPER) {
            /* one helper at a time: the current generation's replaces any
               that stopped, retired or crashed */
            if (!dm_master_noaccepting
                && dm_process_count(DM_PROCESS_HELPER, 0) == 0) {
                if (copy.generation == dm_master_cur->generation
                    && !copy.retiring) {
                    dm_master_schedule_respawn(&copy);
                } else {
                    (void) dm_master_spawn(dm_master_cur, DM_PROCESS_HELPER,
                                           -1);
                }
            }
            continue;
        }
        if (copy.generation == dm_master_cur->generation && !copy.retiring
            && !copy.killed && !dm_master_noaccepting) {
            dm_master_schedule_respawn(&copy);
        }
    }
    dm_master_gen_collect();
}

static void
dm_master_respawn(void)
{
    dm_uint_t k;

    for (k = 0; k <= DM_MASTER_HELPER_SLOT; k++) {
        if (!dm_master_respawn_due[k]
            || dm_master_respawn_at[k] > dm_current_msec) {
            continue;
        }
        dm_master_respawn_due[k] = 0;
        if (k == DM_MASTER_HELPER_SLOT) {
            if (dm_process_count(DM_PROCESS_HELPER, 0) == 0) {
                (void) dm_master_spawn(dm_master_cur, DM_PROCESS_HELPER, -1);
            }
        } else if (k < dm_master_cur->nworkers) {
            (void) dm_master_spawn(dm_master_cur, DM_PROCESS_WORKER,
                                   (dm_int_t) k);
        }
    }
}

/* One timer serves the reload deadline, respawns and the kill deadline. */
static void
dm_master_arm_timer(void)
{
    dm_msec_t next = DM_EVENT_TIMER_INFINITE;
    dm_uint_t k;

    if (dm_master_ready_deadline) {
        next = dm_master_ready_deadline;
    }
    for (k = 0; k <= DM_MASTER_HELPER_SLOT; k++) {
        if (dm_master_respawn_due[k] && dm_master_respawn_at[k] < next) {
            next = dm_master_respawn_at[k];
        }
    }
    if (dm_master_terminating && dm_master_kill_deadline < next) {
        next = dm_master_kill_deadline;
    }
    dm_event_timer_del(&dm_master_timer);
    if (next != DM_EVENT_TIMER_INFINITE) {
        dm_event_timer_add(&dm_master_timer,
                           next > dm_current_msec ? next - dm_current_msec : 0);
    }
}

static void
dm_master_timer_handler(dm_event_t *ev)
{
    dm_uint_t i;

    if (dm_master_ready_deadline && dm_current_msec >= dm_master_ready_deadline
        && dm_master_pending) {
        dm_master_abort("new workers were not ready in time");
    }
    if (dm_master_terminating && dm_current_msec >= dm_master_kill_deadline) {
        for (i = 0; i < DM_PROCESS_MAX; i++) {
            if (dm_processes[i].pid) {
                dm_log_error(DM_LOG_ALERT, ev->log, 0,
                             "process %d did not exit in time: SIGKILL",
                             (int) dm_processes[i].pid);
                kill(dm_processes[i].pid, SIGKILL);
            }
        }
        dm_master_kill_deadline = dm_current_msec + DM_MASTER_KILL_TIMEOUT;
    }
    if (!dm_master_quitting && !dm_master_terminating) {
        dm_master_respawn();
    }
}

/*
 * A child is gone: whatever it held in shared memory is released, and its
 * share of the per-process counters (connections it had open) is zeroed,
 * so a crashed worker leaves no inflated count behind.
 */
static void
dm_master_child_gone(dm_process_t *p)
{
    dm_uint_t row = dm_process_row(p), n = 0, i;

    /* every live configuration: a zone resized by a reload exists only in
       the older one, and the dead child may have used either */
    for (i = 0; i < DM_MASTER_CYCLES; i++) {
        if (dm_master_gens[i].cycle) {
            n += dm_shm_force_unlock(dm_master_gens[i].cycle, p->pid);
            (void) dm_shm_zero_row(dm_master_gens[i].cycle, row);
        }
    }
    if (n) {
        dm_log_error(DM_LOG_ALERT, dm_cycle->log, 0,
                     "released %lu shared-memory locks held by process %d",
                     (unsigned long) n, (int) p->pid);
    }
    dm_log_error(DM_LOG_INFO, dm_cycle->log, 0,
                 "counters of process %d (row %lu) zeroed", (int) p->pid,
                 (unsigned long) row);
}

static void
dm_master_reload(void)
{
    dm_master_gen_t *g;
    dm_cycle_t *cycle;
    dm_uint_t slots;

    if (dm_master_pending) {
        dm_log_error(DM_LOG_WARN, dm_cycle->log, 0,
                     "reload ignored: generation %lu is still starting",
                     (unsigned long) dm_master_pending->generation);
        return;
    }
    dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0, "reconfiguring (SIGHUP)");

    cycle = dm_cycle_init(dm_cycle);
    if (cycle == NULL) {
        dm_log_error(DM_LOG_ALERT, dm_cycle->log, 0,
                     "reload failed: the configuration has errors; the "
                     "running one is unchanged");
        return;
    }
    g = dm_master_gen_new(cycle);
    if (g == NULL) {
        dm_cycle_free(cycle);
        return;
    }

    /* slots never shrink: surplus ones stay open and drained */
    slots = dm_max(g->nworkers, dm_listening_slots(dm_cycle));
    if (dm_listening_set_slots(cycle, slots) != DM_OK) {
        goto failed;
    }
    dm_listening_inherit(cycle, dm_cycle);
    if (dm_listening_open_all(cycle) != DM_OK
        || dm_shm_zones_init(cycle, dm_cycle) != DM_OK
        || dm_module_init_modules(cycle) != DM_OK) {
        goto failed;
    }

    dm_master_pending = g;
    dm_master_ready_deadline = dm_current_msec + DM_MASTER_READY_TIMEOUT;
    if (dm_master_spawn_workers(g) != DM_OK) {
        dm_master_abort("a new worker could not be started");
    }
    return;

failed:
    dm_log_error(DM_LOG_ALERT, dm_cycle->log, 0,
                 "reload failed: the running configuration is unchanged");
    dm_listening_close_all(cycle); /* only what it opened itself */
    dm_shm_zones_release(cycle, dm_cycle);
    dm_cycle_free(cycle);
    g->cycle = NULL;
}

/*
 * USR2: start the binary at dm_master_binary with our sockets and zones,
 * described in DOORMAN. The pid file becomes "<pid>.oldbin" so the new
 * master can write its own; it is renamed back if the new one dies.
 */
static void
dm_master_upgrade(void)
{
    extern char **environ;
    static char env[65536];
    char **envp;
    size_t n, len = 0;
    ssize_t k;
    pid_t pid;

    if (dm_master_upgrade_pid || dm_master_renamed
        || access((const char *) dm_master_oldbin.data, F_OK) == 0) {
        dm_log_error(DM_LOG_ALERT, dm_cycle->log, 0,
                     "binary upgrade refused: one is already in progress "
                     "(\"%s\" exists)",
                     dm_master_oldbin.data);
        return;
    }

    /* the new master's children count in the other half of the rows */
    len = (size_t) snprintf(
        env, sizeof(env), "DOORMAN=%lu|",
        (unsigned long) (dm_process_row_base ? 0 : DM_PROCESS_MAX));
    k = dm_listening_export(dm_cycle, env + len, sizeof(env) - len);
    if (k < 0 || (len += (size_t) k) + 2 >= sizeof(env)) {
        goto toolong;
    }
    env[len++] = '|';
    env[len] = '\0';
    k = dm_shm_export(dm_cycle, env + len, sizeof(env) - len);
    if (k < 0) {
        goto toolong;
    }

    for (n = 0; environ[n]; n++) {
    }
    envp = calloc(n + 2, sizeof(char *));
    if (envp == NULL) {
        dm_listening_cloexec(dm_cycle);
        return;
    }
    for (n = 0, k = 0; environ[n]; n++) {
        if (strncmp(environ[n], "DOORMAN=", 8) != 0) {
            envp[k++] = environ[n];
        }
    }
    envp[k] = env;

    if (rename((const char *) dm_master_pid_path.data,
               (const char *) dm_master_oldbin.data)
        == -1) {
        dm_log_error(DM_LOG_ALERT, dm_cycle->log, errno,
                     "rename() \"%s\" to \"%s\" failed: upgrade aborted",
                     dm_master_pid_path.data, dm_master_oldbin.data);
        free(envp);
        dm_listening_cloexec(dm_cycle);
        return;
    }
    dm_master_renamed = 1;

    pid = fork();
    if (pid == 0) {
        dm_signal_reset();
        execve(dm_master_binary, dm_argv, envp);
        dm_log_error(DM_LOG_ALERT, dm_cycle->log, errno,
                     "execve() \"%s\" failed", dm_master_binary);
        _exit(1);
    }
    free(envp);
    dm_listening_cloexec(dm_cycle);
    dm_master_shm_cloexec(dm_cycle);

    if (pid == -1) {
        dm_log_error(DM_LOG_ALERT, dm_cycle->log, errno, "fork() failed");
        (void) rename((const char *) dm_master_oldbin.data,
                      (const char *) dm_master_pid_path.data);
        dm_master_renamed = 0;
        return;
    }
    dm_master_upgrade_pid = pid;
    dm_log_error(DM_LOG_NOTICE, dm_cycle->log, 0,
                 "binary upgrade: started %s as process %d", dm_master_binary,
                 (int) pid);
    return;

toolong:
    dm_log_error(DM_LOG_ALERT, dm_cycle->log, 0,
                 "binary upgrade refused: too many sockets and zones to "
                 "describe");
    dm_listening_cloexec(dm_cycle);
}

/* After the exec was started: zones are close-on-exec again. */
static void
dm_master_shm_cloexec(dm_cycle_t *cycle)
{
    dm_shm_zone_t **z = cycle->shm_zones.elts;
    dm_uint_t i;

    for (i = 0; z && i < cycle->shm_zones.nelts; i++) {
        if (z[i]->fd != -1) {
            (void) fcntl(z[i]->fd, F_SETFD, FD_CLOEXEC);
        }
    }
}
