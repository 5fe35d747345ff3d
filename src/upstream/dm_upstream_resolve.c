/*
 * doorman: `server NAME resolve`: upstream addresses that follow DNS.
 *
 * Such a server line holds DM_UPSTREAM_RESOLVE_SLOTS peers whose
 * addresses live in their records of the shared zone. The helper process
 * alone asks the `resolver` (A and AAAA queries per name on one UDP
 * socket; with service=, an SRV query first, then the addresses of the
 * targets of its best priority, each with its port; again at the
 * answers' TTL, at least a second and at most `resolver_valid`), and
 * writes the addresses into the slots: an address still answered keeps
 * its slot (its connections, weights and health stay), a gone one empties
 * its slot, a new one takes an empty slot. Workers read a slot's address
 * when they consider the peer (dm_upstream_peer_refresh) under a sequence
 * count, so a reader never uses half an address. A failed query keeps the
 * addresses as they are and asks again a second later; an NXDOMAIN
 * empties the slots. No reload is involved, and changes are logged.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_upstream.h>
#include <dm_dns.h>
#include <netinet/in.h>
#include <sys/random.h>

/* How long the answer to one query may take. */
#define DM_UPSTREAM_RESOLVE_TIMEOUT 2000

/* A name whose addresses are asked for: the line's own name, or the
   targets of its SRV records, each with the port it goes with. */
typedef struct {
    u_char name[DM_DNS_NAME_MAX + 1];
    size_t len;
    in_port_t port;
} dm_upstream_target_t;

/* One name to follow: the slots of one server line. */
typedef struct {
    dm_upstream_group_t *group;
    dm_upstream_peer_t *slots; /* DM_UPSTREAM_RESOLVE_SLOTS consecutive */
    dm_upstream_main_conf_t *umcf;
    dm_connection_t *udp; /* the queries' socket, while they are out */
    dm_event_t timer;     /* the next query, or the answers' deadline */
    dm_log_t log;
    /* the address queries out: A and AAAA for each target */
    dm_upstream_target_t targets[DM_UPSTREAM_RESOLVE_SLOTS];
    dm_uint_t ntargets;
    uint16_t id[2 * DM_UPSTREAM_RESOLVE_SLOTS];      /* [2t] A, [2t+1] AAAA */
    uint16_t srv_id;                                 /* the SRV query out */
    uint32_t answered;                               /* bit per address query */
    dm_dns_record_t recs[DM_UPSTREAM_RESOLVE_SLOTS]; /* answered so far */
    in_port_t ports[DM_UPSTREAM_RESOLVE_SLOTS];      /* theirs */
    dm_uint_t nrecs;
    uint32_t ttl;       /* the smallest TTL answered so far */
    unsigned srv:1;     /* the SRV query is out (first step) */
    unsigned waiting:1; /* queries are out */
    unsigned failing:1; /* the last attempt failed (logged once) */
} dm_upstream_resolve_t;

int
dm_upstream_peer_refresh(dm_upstream_peer_t *peer)
{
    dm_upstream_peer_state_t *st = peer->state;
    u_char addr[sizeof(st->dyn_addr)];
    uint32_t s1, s2, len;
    dm_uint_t tries;

    if (st == NULL) {
        return 0;
    }
    for (tries = 0; tries < 4; tries++) {
        s1 = __atomic_load_n(&st->dyn_seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            continue; /* being written: try again */
        }
        len = __atomic_load_n(&st->dyn_len, __ATOMIC_RELAXED);
        if (len > sizeof(addr)) {
            return 0;
        }
        memcpy(addr, st->dyn_addr, len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&st->dyn_seq, __ATOMIC_RELAXED);
        if (s1 != s2) {
            continue;
        }
        if (len == 0) {
            peer->socklen = 0;
            peer->addr_text.len = 0;
            return 0;
        }
        if (len != peer->socklen || memcmp(peer->sockaddr, addr, len) != 0) {
            memcpy(peer->sockaddr, addr, len);
            peer->socklen = len;
            peer->addr_text.len = dm_inet_ntop(
                peer->sockaddr, peer->addr_text.data, DM_INET_ADDRSTRLEN, 1);
        }
        return 1;
    }
    /* a writer kept it busy: what this process knew stands */
    return peer->socklen != 0;
}

/* The helper: writes a slot's address (len 0: empties it). */
static void
dm_upstream_slot_set(dm_upstream_peer_t *peer, const struct sockaddr *sa,
                     socklen_t len)
{
    dm_upstream_peer_state_t *st = peer->state;

    if (len > sizeof(st->dyn_addr)) {
        return; /* no such address family here */
    }
    __atomic_add_fetch(&st->dyn_seq, 1, __ATOMIC_ACQ_REL); /* odd */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    if (len) {
        memcpy(st->dyn_addr, sa, len);
    }
    __atomic_store_n(&st->dyn_len, (uint32_t) len, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->dyn_seq, 1, __ATOMIC_RELEASE); /* even */
    /* another address is another server: no verdict carries over */
    __atomic_store_n(&st->health_down, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&st->down_until, 0, __ATOMIC_RELAXED);
    st->hc_ok = 0;
    st->hc_bad = 0;
    st->fails = 0;
    (void) dm_upstream_peer_refresh(peer);
}

/* Logs the slots' addresses after a change. */
static void
dm_upstream_resolve_log(dm_upstream_resolve_t *r, const char *what)
{
    u_char text[DM_UPSTREAM_RESOLVE_SLOTS * (DM_INET_ADDRSTRLEN + 2) + 8];
    size_t n = 0;
    dm_uint_t k;

    text[0] = '\0';
    for (k = 0; k < DM_UPSTREAM_RESOLVE_SLOTS; k++) {
        dm_upstream_peer_t *p = &r->slots[k];

        if (p->socklen) {
            n +=
                (size_t) snprintf((char *) text + n, sizeof(text) - n, "%s%.*s",
                                  n ? ", " : "", DM_STR_ARG(p->addr_text));
        }
    }
    dm_log_error(DM_LOG_NOTICE, &r->log, 0, "upstream %.*s: \"%.*s\" %s %s",
                 DM_STR_ARG(r->group->name), DM_STR_ARG(r->slots[0].host), what,
                 n ? (const char *) text : "(no address)");
}

/* Applies the addresses an answer gave: kept ones stay in their slots. */
static void
dm_upstream_resolve_apply(dm_upstream_resolve_t *r, const dm_dns_record_t *rec,
                          const in_port_t *ports, dm_uint_t n)
{
    struct sockaddr_storage want[DM_UPSTREAM_RESOLVE_SLOTS];
    socklen_t wlen[DM_UPSTREAM_RESOLVE_SLOTS];
    int used[DM_UPSTREAM_RESOLVE_SLOTS] = {0};
    struct sockaddr_in6 *sin6;
    struct sockaddr_in *sin;
    dm_uint_t i, k, nwant = 0;
    int changed = 0;

    for (i = 0; i < n && nwant < DM_UPSTREAM_RESOLVE_SLOTS; i++) {
        memset(&want[nwant], 0, sizeof(want[0]));
        if (rec[i].type == DM_DNS_TYPE_A) {
            sin = (struct sockaddr_in *) &want[nwant];
            sin->sin_family = AF_INET;
            sin->sin_port = htons(ports[i]);
            memcpy(&sin->sin_addr, rec[i].addr, 4);
            wlen[nwant] = sizeof(*sin);
        } else {
            sin6 = (struct sockaddr_in6 *) &want[nwant];
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons(ports[i]);
            memcpy(&sin6->sin6_addr, rec[i].addr, 16);
            wlen[nwant] = sizeof(*sin6);
        }
        for (k = 0; k < nwant; k++) {
            if (wlen[k] == wlen[nwant]
                && memcmp(&want[k], &want[nwant], wlen[k]) == 0) {
                break;
            }
        }
        nwant += (k == nwant);
    }
    /* slots whose address is still answered keep it */
    for (k = 0; k < DM_UPSTREAM_RESOLVE_SLOTS; k++) {
        dm_upstream_peer_t *p = &r->slots[k];

        (void) dm_upstream_peer_refresh(p);
        for (i = 0; p->socklen && i < nwant; i++) {
            if (!used[i] && p->socklen == wlen[i]
                && memcmp(p->sockaddr, &want[i], wlen[i]) == 0) {
                used[i] = 1;
                break;
            }
        }
        if (p->socklen && i == nwant) {
            dm_upstream_slot_set(p, NULL, 0);
            changed = 1;
        }
    }
    /* new addresses into empty slots */
    for (i = 0; i < nwant; i++) {
        if (used[i]) {
            continue;
        }
        for (k = 0; k < DM_UPSTREAM_RESOLVE_SLOTS; k++) {
            if (r->slots[k].socklen == 0) {
                dm_upstream_slot_set(&r->slots[k], (struct sockaddr *) &want[i],
                                     wlen[i]);
                changed = 1;
                break;
            }
        }
    }
    if (changed) {
        dm_upstream_resolve_log(r, "resolved to");
    }
}

/* A failure is a warning once; while it lasts, it repeats at info (the
   addresses it had stay in use meanwhile). */
static dm_uint_t
dm_upstream_resolve_level(dm_upstream_resolve_t *r)
{
    dm_uint_t level = r->failing ? DM_LOG_INFO : DM_LOG_WARN;

    r->failing = 1;
    return level;
}

static void
dm_upstream_resolve_close(dm_upstream_resolve_t *r)
{
    if (r->udp) {
        dm_connection_close(r->udp);
        r->udp = NULL;
    }
    r->waiting = 0;
}

static void
dm_upstream_resolve_next(dm_upstream_resolve_t *r, dm_msec_t after)
{
    (void) dm_event_timer_add(&r->timer, after);
}

/* Random query ids: an answer must be guessed to be spoofed. */
static void
dm_upstream_resolve_ids(uint16_t *ids, size_t n)
{
    size_t i;

    if (getrandom(ids, n * sizeof(uint16_t), GRND_NONBLOCK)
        != (ssize_t) (n * sizeof(uint16_t))) {
        for (i = 0; i < n; i++) {
            ids[i] = (uint16_t) random();
        }
    }
}

/* Sends a query on the line's socket. DM_OK or DM_ERROR. */
static dm_int_t
dm_upstream_resolve_send(dm_upstream_resolve_t *r, uint16_t id,
                         const u_char *name, size_t len, uint16_t type)
{
    u_char q[DM_DNS_UDP_MAX];
    ssize_t n;

    n = dm_dns_query(q, sizeof(q), id, name, len, type);
    return n > 0 && send(r->udp->fd, q, (size_t) n, 0) == n ? DM_OK : DM_ERROR;
}

/* The address queries (A, AAAA) of every target. */
static dm_int_t
dm_upstream_resolve_addresses(dm_upstream_resolve_t *r)
{
    dm_uint_t t;

    r->answered = 0;
    r->nrecs = 0;
    dm_upstream_resolve_ids(r->id, 2 * r->ntargets);
    for (t = 0; t < r->ntargets; t++) {
        if (dm_upstream_resolve_send(r, r->id[2 * t], r->targets[t].name,
                                     r->targets[t].len, DM_DNS_TYPE_A)
                != DM_OK
            || dm_upstream_resolve_send(r, r->id[2 * t + 1], r->targets[t].name,
                                        r->targets[t].len, DM_DNS_TYPE_AAAA)
                   != DM_OK) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

/* An SRV answer: the targets of the best (lowest) priority. */
static void
dm_upstream_resolve_targets(dm_upstream_resolve_t *r,
                            const dm_dns_record_t *rec, dm_uint_t n)
{
    dm_uint_t i, t;
    uint16_t best = UINT16_MAX;

    for (i = 0; i < n; i++) {
        best = dm_min(best, rec[i].priority);
    }
    r->ntargets = 0;
    for (i = 0; i < n && r->ntargets < DM_UPSTREAM_RESOLVE_SLOTS; i++) {
        if (rec[i].priority != best || rec[i].port == 0) {
            continue;
        }
        for (t = 0; t < r->ntargets; t++) {
            if (r->targets[t].port == rec[i].port
                && r->targets[t].len == rec[i].target_len
                && memcmp(r->targets[t].name, rec[i].target, rec[i].target_len)
                       == 0) {
                break;
            }
        }
        if (t < r->ntargets) {
            continue;
        }
        memcpy(r->targets[t].name, rec[i].target, rec[i].target_len + 1);
        r->targets[t].len = rec[i].target_len;
        r->targets[t].port = rec[i].port;
        r->ntargets++;
    }
}

/*
 * One answer. Returns DM_AGAIN while answers are missing, DM_OK when the
 * round is over (the slots updated), DM_ERROR on a bad answer (logged).
 */
static dm_int_t
dm_upstream_resolve_answer(dm_upstream_resolve_t *r, const u_char *buf,
                           size_t len)
{
    dm_dns_record_t srv[DM_UPSTREAM_RESOLVE_SLOTS];
    const dm_upstream_target_t *target;
    const char *reason = NULL;
    uint16_t id = (uint16_t) (buf[0] << 8 | buf[1]);
    dm_uint_t q, n, k;
    uint32_t ttl;
    dm_int_t rc;

    if (r->srv) {
        if (id != r->srv_id) {
            return DM_AGAIN; /* a stray or late datagram */
        }
        rc = dm_dns_parse(buf, len, id, r->slots[0].host.data,
                          r->slots[0].host.len, DM_DNS_TYPE_SRV, srv,
                          DM_UPSTREAM_RESOLVE_SLOTS, &n, &ttl, &reason);
        if (rc == DM_ERROR) {
            goto bad;
        }
        r->srv = 0;
        r->ttl = n ? ttl : UINT32_MAX;
        dm_upstream_resolve_targets(r, srv, rc == DM_OK ? n : 0);
        if (r->ntargets == 0) {
            dm_upstream_resolve_apply(r, NULL, NULL, 0);
            return DM_OK;
        }
        if (dm_upstream_resolve_addresses(r) != DM_OK) {
            reason = "cannot send the address queries";
            goto bad;
        }
        return DM_AGAIN;
    }
    for (q = 0; q < 2 * r->ntargets && r->id[q] != id; q++) {
    }
    if (q == 2 * r->ntargets || (r->answered & (1u << q))) {
        return DM_AGAIN;
    }
    target = &r->targets[q / 2];
    rc = dm_dns_parse(buf, len, id, target->name, target->len,
                      (q & 1) ? DM_DNS_TYPE_AAAA : DM_DNS_TYPE_A,
                      r->recs + r->nrecs, DM_UPSTREAM_RESOLVE_SLOTS - r->nrecs,
                      &n, &ttl, &reason);
    if (rc == DM_ERROR) {
        goto bad;
    }
    if (rc == DM_DECLINED) {
        n = 0;
    }
    for (k = 0; k < n; k++) {
        r->ports[r->nrecs + k] = target->port;
    }
    r->nrecs += n;
    if (n) {
        r->ttl = dm_min(r->ttl, ttl);
    }
    r->answered |= 1u << q;
    if (r->answered != (1u << (2 * r->ntargets)) - 1) {
        return DM_AGAIN;
    }
    dm_upstream_resolve_apply(r, r->recs, r->ports, r->nrecs);
    return DM_OK;

bad:
    dm_log_error(dm_upstream_resolve_level(r), &r->log, 0,
                 "upstream %.*s: bad answer for \"%.*s\": %s",
                 DM_STR_ARG(r->group->name), DM_STR_ARG(r->slots[0].host),
                 reason);
    return DM_ERROR;
}

static void
dm_upstream_resolve_read(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;
    dm_upstream_resolve_t *r = c->data;
    u_char buf[DM_DNS_UDP_MAX];
    dm_msec_t next = 1000;
    dm_int_t rc = DM_ERROR;
    ssize_t len;

    for (;;) {
        len = recv(c->fd, buf, sizeof(buf), 0);
        if (len == -1 && errno == EINTR) {
            continue;
        }
        if (len == -1 && errno == EAGAIN) {
            rev->ready = 0;
            return; /* wait for the answers (or the deadline) */
        }
        if (len < 2) {
            dm_log_error(
                dm_upstream_resolve_level(r), &r->log, len < 0 ? errno : 0,
                "upstream %.*s: resolver query for \"%.*s\" failed",
                DM_STR_ARG(r->group->name), DM_STR_ARG(r->slots[0].host));
            break;
        }
        rc = dm_upstream_resolve_answer(r, buf, (size_t) len);
        if (rc == DM_AGAIN) {
            continue;
        }
        break;
    }
    if (rc == DM_OK) {
        r->failing = 0;
        /* the records' TTL, within 1 s .. resolver_valid */
        next = r->ttl != UINT32_MAX ? (dm_msec_t) r->ttl * 1000 : 1000;
        next = dm_max(next, 1000);
        next = dm_min(next, r->umcf->resolver_valid);
    }
    dm_event_timer_del(&r->timer);
    dm_upstream_resolve_close(r);
    dm_upstream_resolve_next(r, next);
}

/* The timer: time to ask, or the answers are late. */
static void
dm_upstream_resolve_timer(dm_event_t *ev)
{
    dm_upstream_resolve_t *r = ev->data;
    dm_upstream_peer_t *first = &r->slots[0];
    dm_event_peer_t pc;
    dm_int_t rc;

    if (r->waiting) {
        dm_log_error(dm_upstream_resolve_level(r), &r->log, ETIMEDOUT,
                     "upstream %.*s: the resolver did not answer for "
                     "\"%.*s\"",
                     DM_STR_ARG(r->group->name), DM_STR_ARG(first->host));
        dm_upstream_resolve_close(r);
        dm_upstream_resolve_next(r, 1000);
        return;
    }
    memset(&pc, 0, sizeof(pc));
    pc.sockaddr = (struct sockaddr *) &r->umcf->resolver->sa;
    pc.socklen = r->umcf->resolver->socklen;
    pc.name = &first->host;
    pc.type = SOCK_DGRAM;
    pc.log = &r->log;
    if (dm_event_connect(&pc, 256) != DM_OK) {
        dm_upstream_resolve_next(r, 1000);
        return;
    }
    r->udp = pc.connection;
    r->udp->data = r;
    r->udp->read->handler = dm_upstream_resolve_read;
    r->udp->write->handler = dm_event_empty_handler;
    r->ttl = UINT32_MAX;
    if (first->srv) {
        /* SRV first: its targets and ports, then their addresses */
        r->srv = 1;
        dm_upstream_resolve_ids(&r->srv_id, 1);
        rc = dm_upstream_resolve_send(r, r->srv_id, first->host.data,
                                      first->host.len, DM_DNS_TYPE_SRV);
    } else {
        r->srv = 0;
        r->ntargets = 1;
        memcpy(r->targets[0].name, first->host.data, first->host.len);
        r->targets[0].name[first->host.len] = '\0';
        r->targets[0].len = first->host.len;
        r->targets[0].port = first->port;
        rc = dm_upstream_resolve_addresses(r);
    }
    if (rc != DM_OK) {
        dm_log_error(dm_upstream_resolve_level(r), &r->log, errno,
                     "upstream %.*s: cannot query the resolver for \"%.*s\"",
                     DM_STR_ARG(r->group->name), DM_STR_ARG(first->host));
        dm_upstream_resolve_close(r);
        dm_upstream_resolve_next(r, 1000);
        return;
    }
    r->waiting = 1;
    dm_upstream_resolve_next(r, DM_UPSTREAM_RESOLVE_TIMEOUT);
}

dm_int_t
dm_upstream_resolve_start(dm_cycle_t *cycle, dm_upstream_main_conf_t *umcf)
{
    dm_upstream_srv_conf_t **u;
    dm_upstream_resolve_t *r;
    dm_upstream_group_t *g;
    dm_uint_t i, k;

    if (umcf == NULL || !umcf->resolves) {
        return DM_OK;
    }
    u = umcf->upstreams.elts;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        g = u[i]->group;
        for (k = 0; g && k < g->npeers; k++) {
            /* the first slot of each resolve line stands for the line */
            if (!g->peers[k].resolve
                || (k > 0 && g->peers[k - 1].resolve
                    && g->peers[k - 1].name.data == g->peers[k].name.data)) {
                continue;
            }
            r = dm_pcalloc(cycle->pool, sizeof(dm_upstream_resolve_t));
            if (r == NULL) {
                return DM_ERROR;
            }
            r->group = g;
            r->slots = &g->peers[k];
            r->umcf = umcf;
            r->log = *cycle->log;
            r->timer.handler = dm_upstream_resolve_timer;
            r->timer.data = r;
            r->timer.log = &r->log;
            r->timer.cancelable = 1;
            /* at once: the slots may be empty (a first start) */
            dm_upstream_resolve_next(r, 1);
        }
    }
    return DM_OK;
}
