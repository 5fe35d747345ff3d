/*
 * doorman: listening slots: one SO_REUSEPORT socket per worker slot and
 * address, kept by the master for its whole life and handed, as the same
 * socket objects, to every generation of workers and to a new binary.
 *
 * A socket group never shrinks while the master lives: when a reload
 * lowers the worker count, the surplus slots get no new connections
 * (reuseport BPF steering) and are still accepted on by the remaining
 * workers, so nothing queued on them is ever reset by a close().
 */
#include <dm_core.h>
#include <linux/filter.h>

#define DM_LISTENING_IMPORT_MAX 1024

typedef struct {
    int fd;
    dm_uint_t slot;
    int type;
    struct sockaddr_storage sa;
    socklen_t socklen;
    unsigned used:1;
} dm_listening_imported_t;

static dm_listening_imported_t dm_listening_imported[DM_LISTENING_IMPORT_MAX];
static dm_uint_t dm_listening_nimported;

dm_int_t
dm_listening_set_slots(dm_cycle_t *cycle, dm_uint_t nslots)
{
    dm_uint_t i, k, n = cycle->listening.nelts;
    dm_listening_t *ls, *copy;

    for (i = 0; i < n; i++) {
        ls = (dm_listening_t *) cycle->listening.elts + i;
        if (ls->addr.sa.ss_family == AF_UNIX) {
            ls->worker = DM_LISTENING_ANY_SLOT;
            continue;
        }
        ls->reuseport = 1;
        for (k = 1; k < nslots; k++) {
            copy = dm_array_push(&cycle->listening);
            if (copy == NULL) {
                return DM_ERROR;
            }
            /* the push may have moved the array */
            ls = (dm_listening_t *) cycle->listening.elts + i;
            *copy = *ls;
            copy->worker = k;
        }
    }
    return DM_OK;
}

dm_uint_t
dm_listening_slots(dm_cycle_t *cycle)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_uint_t i, n = 0;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].worker != DM_LISTENING_ANY_SLOT && ls[i].worker + 1 > n) {
            n = ls[i].worker + 1;
        }
    }
    return n;
}

static int
dm_listening_same(const dm_listening_t *a, int type, dm_uint_t slot,
                  const struct sockaddr *sa, socklen_t len)
{
    return a->type == type && a->worker == slot
           && dm_inet_cmp((struct sockaddr *) &a->addr.sa, a->addr.socklen, sa,
                          len)
                  == 0;
}

void
dm_listening_inherit(dm_cycle_t *cycle, dm_cycle_t *old)
{
    dm_listening_t *ls = cycle->listening.elts, *ols;
    dm_uint_t i, j;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (old) {
            ols = old->listening.elts;
            for (j = 0; j < old->listening.nelts; j++) {
                if (ols[j].fd != -1
                    && dm_listening_same(&ols[j], ls[i].type, ls[i].worker,
                                         (struct sockaddr *) &ls[i].addr.sa,
                                         ls[i].addr.socklen)) {
                    ls[i].fd = ols[j].fd;
                    ls[i].open = 1;
                    ls[i].inherited = 1;
                    ls[i].owned = 0;
                    ls[i].previous = &ols[j];
                    break;
                }
            }
            continue;
        }
        for (j = 0; j < dm_listening_nimported; j++) {
            dm_listening_imported_t *im = &dm_listening_imported[j];

            if (!im->used && im->type == ls[i].type && im->slot == ls[i].worker
                && dm_inet_cmp((struct sockaddr *) &im->sa, im->socklen,
                               (struct sockaddr *) &ls[i].addr.sa,
                               ls[i].addr.socklen)
                       == 0) {
                im->used = 1;
                ls[i].fd = im->fd;
                ls[i].open = 1;
                ls[i].inherited = 1;
                ls[i].owned = 1; /* this process's copy of the descriptor */
                break;
            }
        }
    }
}

void
dm_listening_commit(dm_cycle_t *cycle)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_uint_t i;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].previous) {
            ls[i].previous->owned = 0;
            ls[i].previous->fd = -1;
            ls[i].previous = NULL;
            ls[i].owned = 1;
        }
    }
}

/*
 * A classic BPF program for SO_ATTACH_REUSEPORT_CBPF: it returns the
 * index, in the group, of the socket that gets the connection. Sockets
 * join a group in the order they listen, which is slot order, so index
 * k is slot k. The program takes the packet's flow hash (set by the NIC's
 * RSS or by the kernel, and on loopback) modulo the number of workers.
 * Where no hash was computed the kernel's own choice applies.
 */
static dm_int_t
dm_listening_attach_steering(dm_listening_t *ls, dm_uint_t nworkers,
                             dm_log_t *log)
{
    struct sock_filter code[] = {
        {BPF_LD | BPF_W | BPF_ABS, 0, 0,
         (uint32_t) (SKF_AD_OFF + SKF_AD_RXHASH)},
        /* no hash: an index past the group makes the kernel pick by its
           own hash, over every slot (all still served) */
        {BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 0},
        {BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t) nworkers},
        {BPF_RET | BPF_A, 0, 0, 0},
        {BPF_RET | BPF_K, 0, 0, 0xffffffff},
    };
    struct sock_fprog prog;

    memset(&prog, 0, sizeof(prog));
    prog.len = dm_nelems(code);
    prog.filter = code;

    if (setsockopt(ls->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
                   sizeof(prog))
        == -1) {
        dm_log_error(DM_LOG_WARN, log, errno,
                     "reuseport steering on %.*s failed: surplus slots "
                     "keep receiving connections",
                     DM_STR_ARG(ls->addr_text));
        return DM_ERROR;
    }
    return DM_OK;
}

void
dm_listening_steer(dm_cycle_t *cycle, dm_uint_t nworkers)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_uint_t i;

    if (nworkers == 0) {
        return;
    }
    /* one socket of a group carries the program for the whole group */
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != -1 && ls[i].reuseport && ls[i].worker == 0
            && ls[i].type == SOCK_STREAM) {
            dm_listening_attach_steering(&ls[i], nworkers, cycle->log);
        }
    }
}

ssize_t
dm_listening_export(dm_cycle_t *cycle, char *buf, size_t len)
{
    dm_listening_t *ls = cycle->listening.elts;
    size_t off = 0;
    dm_uint_t i;
    int n, flags;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd == -1) {
            continue;
        }
        n = snprintf(
            buf + off, len - off, "%d:%ld:%d:%.*s;", ls[i].fd,
            ls[i].worker == DM_LISTENING_ANY_SLOT ? -1L : (long) ls[i].worker,
            ls[i].type, DM_STR_ARG(ls[i].addr_text));
        if (n < 0 || (size_t) n >= len - off) {
            return -1;
        }
        off += (size_t) n;
        flags = fcntl(ls[i].fd, F_GETFD);
        if (flags != -1) {
            (void) fcntl(ls[i].fd, F_SETFD, flags & ~FD_CLOEXEC);
        }
    }
    return (ssize_t) off;
}

void
dm_listening_cloexec(dm_cycle_t *cycle)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_uint_t i;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != -1) {
            (void) fcntl(ls[i].fd, F_SETFD, FD_CLOEXEC);
        }
    }
}

dm_int_t
dm_listening_import(const char *list, dm_log_t *log)
{
    const char *p = list, *semi, *c1, *c2, *c3;
    dm_listening_imported_t *im;
    dm_inet_addr_t addr;
    const char *err;
    int64_t fd, slot, type;
    socklen_t len;

    while (*p) {
        semi = strchr(p, ';');
        c1 = strchr(p, ':');
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        c3 = c2 ? strchr(c2 + 1, ':') : NULL;
        if (semi == NULL || c3 == NULL || c3 > semi
            || dm_listening_nimported == DM_LISTENING_IMPORT_MAX) {
            goto invalid;
        }
        fd = dm_parse_int((u_char *) p, (size_t) (c1 - p));
        slot = (c1[1] == '-' && c2 - c1 == 3 && c1[2] == '1')
                   ? -1
                   : dm_parse_int((u_char *) c1 + 1, (size_t) (c2 - c1 - 1));
        type = dm_parse_int((u_char *) c2 + 1, (size_t) (c3 - c2 - 1));
        if (fd < 3 || fd > INT_MAX || slot < -1 || slot > 65535
            || (type != SOCK_STREAM && type != SOCK_DGRAM)
            || dm_inet_parse((u_char *) c3 + 1, (size_t) (semi - c3 - 1), 0,
                             &addr, &err)
                   != DM_OK) {
            goto invalid;
        }

        im = &dm_listening_imported[dm_listening_nimported];
        memset(im, 0, sizeof(*im));
        len = sizeof(im->sa);
        if (getsockname((int) fd, (struct sockaddr *) &im->sa, &len) == -1
            || dm_inet_cmp((struct sockaddr *) &im->sa, len,
                           (struct sockaddr *) &addr.sa, addr.socklen)
                   != 0) {
            dm_log_error(DM_LOG_ALERT, log, errno,
                         "inherited descriptor %d is not a socket bound to "
                         "%.*s: ignored",
                         (int) fd, (int) (semi - c3 - 1), c3 + 1);
            p = semi + 1;
            continue;
        }
        im->fd = (int) fd;
        im->slot = slot == -1 ? DM_LISTENING_ANY_SLOT : (dm_uint_t) slot;
        im->type = (int) type;
        im->socklen = len;
        (void) fcntl(im->fd, F_SETFD, FD_CLOEXEC);
        dm_listening_nimported++;
        p = semi + 1;
    }
    return DM_OK;

invalid:
    dm_log_error(DM_LOG_EMERG, log, 0,
                 "invalid socket list in the DOORMAN environment variable: "
                 "\"%s\"",
                 list);
    return DM_ERROR;
}

void
dm_listening_import_done(void)
{
    dm_uint_t i;

    for (i = 0; i < dm_listening_nimported; i++) {
        if (!dm_listening_imported[i].used) {
            close(dm_listening_imported[i].fd);
        }
    }
    dm_listening_nimported = 0;
}

void
dm_listening_keep_slot(dm_cycle_t *cycle, dm_uint_t slot, dm_uint_t nworkers)
{
    dm_listening_t *ls = cycle->listening.elts;
    dm_uint_t i;
    int mine;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd == -1) {
            continue;
        }
        if (slot == DM_LISTENING_ANY_SLOT) {
            mine = 0;
        } else if (ls[i].worker == DM_LISTENING_ANY_SLOT) {
            mine = 1;
        } else {
            mine = nworkers && ls[i].worker % nworkers == slot;
        }
        if (!mine) {
            close(ls[i].fd);
            ls[i].fd = -1;
            ls[i].open = 0;
            ls[i].owned = 0;
        }
    }
}
