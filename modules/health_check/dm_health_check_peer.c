/*
 * doorman: the health_check module, per peer: scheduling the probes and
 * keeping the rise/fall counters.
 *
 * The counters, the verdict (health_down) and the time of the last probe
 * live in the peer's record of the "doorman_upstream" zone, written by
 * the helper only. So a reload, a binary upgrade or a helper killed with
 * -9 and respawned continues where the previous helper stopped: no reset
 * to `initial=`, no flap, and the first probe of a new helper waits for
 * what is left of the interval since the last one (no doubled probes
 * when helpers hand over).
 *
 * Workers only read health_down, and only while the helper's heartbeat
 * is fresh (dm_upstream_eligible).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_upstream.h>
#include <dm_http_conf.h>
#include <dm_stream.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_worker.h>
#include <sys/random.h>
#include <dm_health_check.h>

static void dm_health_check_timer(dm_event_t *ev);

static uint64_t dm_health_check_rand_state;

/* xorshift64*, seeded from the kernel: spreads the jitter. */
static dm_msec_t
dm_health_check_random(dm_msec_t range)
{
    uint64_t x = dm_health_check_rand_state;

    if (range == 0) {
        return 0;
    }
    if (x == 0) {
        if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x) || x == 0) {
            x = (uint64_t) getpid() * 0x9e3779b97f4a7c15ULL + dm_current_msec;
        }
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    dm_health_check_rand_state = x;
    return (dm_msec_t) ((x * 0x2545f4914f6cdd1dULL) % (range + 1));
}

/* The upstream blocks of an engine in a cycle, or NULL. */
static dm_array_t *
dm_health_check_upstreams(dm_cycle_t *cycle, dm_uint_t engine)
{
    dm_upstream_main_conf_t *umcf;
    dm_conf_ctx_t *ctx;

    ctx = engine == DM_MODULE_HTTP ? dm_http_conf_ctx(cycle)
                                   : dm_stream_conf_ctx(cycle);
    if (ctx == NULL) {
        return NULL;
    }
    umcf = ctx->main_conf[engine == DM_MODULE_HTTP
                              ? dm_http_upstream_module.ctx_index
                              : dm_stream_upstream_module.ctx_index];
    return umcf ? &umcf->upstreams : NULL;
}

dm_int_t
dm_health_check_prepare(dm_cycle_t *cycle, dm_uint_t engine)
{
    dm_array_t *ups = dm_health_check_upstreams(cycle, engine);
    dm_upstream_srv_conf_t **u;
    dm_health_check_conf_t *hcf;
    dm_upstream_peer_state_t *st;
    dm_uint_t i, k;

    if (ups == NULL) {
        return DM_OK;
    }
    u = ups->elts;
    for (i = 0; i < ups->nelts; i++) {
        hcf = dm_health_check_conf(u[i], engine);
        if (hcf == NULL) {
            continue;
        }
        u[i]->group->health_try_all = hcf->all_down == DM_HC_ALL_DOWN_TRY_ALL;
        for (k = 0; k < u[i]->group->npeers; k++) {
            st = u[i]->group->peers[k].state;
            /* initial= applies to a record never checked: one a previous
               generation checks keeps its verdict and counters */
            if (st && !(st->hc_flags & DM_UPSTREAM_HC_INIT)) {
                __atomic_store_n(&st->health_down, hcf->initial_down ? 1 : 0,
                                 __ATOMIC_RELAXED);
                st->hc_ok = 0;
                st->hc_bad = 0;
                __atomic_store_n(&st->hc_flags, DM_UPSTREAM_HC_INIT,
                                 __ATOMIC_RELEASE);
            }
        }
    }
    return DM_OK;
}

/* The check was removed from a group: its verdict must not linger. */
static void
dm_health_check_forget(dm_upstream_group_t *g)
{
    dm_upstream_peer_state_t *st;
    dm_uint_t k;

    for (k = 0; k < g->npeers; k++) {
        st = g->peers[k].state;
        if (st && st->hc_flags) {
            __atomic_store_n(&st->health_down, 0, __ATOMIC_RELAXED);
            st->hc_ok = 0;
            st->hc_bad = 0;
            st->hc_flags = 0;
        }
    }
}

/*
 * The request a probe sends, built once per peer: the http request, or
 * the tcp send= text.
 */
static dm_int_t
dm_health_check_request(dm_pool_t *pool, dm_health_check_peer_t *hp)
{
    dm_health_check_conf_t *hcf = hp->conf;
    dm_str_t *h = hcf->headers ? hcf->headers->elts : NULL;
    dm_uint_t i, nh = hcf->headers ? hcf->headers->nelts : 0;
    size_t len;
    u_char *p;

    if (hcf->type == DM_HC_TCP) {
        hp->request = hcf->send;
        return DM_OK;
    }
    if (hcf->type == DM_HC_TLS) {
        return DM_OK;
    }
    len = hcf->method.len + 1 + hcf->uri.len + sizeof(" HTTP/1.1\r\n") - 1
          + sizeof("Host: \r\n") - 1 + hp->host.len
          + sizeof("User-Agent: doorman-health-check\r\n") - 1
          + sizeof("Connection: close\r\n\r\n") - 1;
    for (i = 0; i < nh; i++) {
        len += h[i].len + 2;
    }
    p = dm_pnalloc(pool, len);
    if (p == NULL) {
        return DM_ERROR;
    }
    hp->request.data = p;
    p = (u_char *) mempcpy(p, hcf->method.data, hcf->method.len);
    *p++ = ' ';
    p = (u_char *) mempcpy(p, hcf->uri.data, hcf->uri.len);
    p = (u_char *) mempcpy(p, " HTTP/1.1\r\nHost: ", 17);
    p = (u_char *) mempcpy(p, hp->host.data, hp->host.len);
    p = (u_char *) mempcpy(p, "\r\n", 2);
    for (i = 0; i < nh; i++) {
        p = (u_char *) mempcpy(p, h[i].data, h[i].len);
        p = (u_char *) mempcpy(p, "\r\n", 2);
    }
    p = (u_char *) mempcpy(p, "User-Agent: doorman-health-check\r\n", 34);
    p = (u_char *) mempcpy(p, "Connection: close\r\n\r\n", 21);
    hp->request.len = (size_t) (p - hp->request.data);
    return DM_OK;
}

/* Sets up one probed peer and schedules its first probe. */
static dm_int_t
dm_health_check_add(dm_cycle_t *cycle, dm_health_check_conf_t *hcf,
                    dm_upstream_group_t *g, dm_upstream_peer_t *peer)
{
    dm_health_check_peer_t *hp;
    u_char text[DM_INET_ADDRSTRLEN];
    dm_msec_t delay, last, now = dm_current_msec;

    hp = dm_pcalloc(cycle->pool, sizeof(dm_health_check_peer_t));
    if (hp == NULL) {
        return DM_ERROR;
    }
    hp->conf = hcf;
    hp->group = g;
    hp->peer = peer;
    memcpy(&hp->sa, peer->sockaddr, peer->socklen);
    hp->socklen = peer->socklen;
    hp->addr_text = peer->addr_text;
    if (hcf->port) {
        if (hp->sa.ss_family == AF_INET) {
            ((struct sockaddr_in *) &hp->sa)->sin_port =
                htons((in_port_t) hcf->port);
        } else if (hp->sa.ss_family == AF_INET6) {
            ((struct sockaddr_in6 *) &hp->sa)->sin6_port =
                htons((in_port_t) hcf->port);
        }
        hp->addr_text.len =
            dm_inet_ntop((struct sockaddr *) &hp->sa, text, sizeof(text), 1);
        hp->addr_text.data = dm_pnalloc(cycle->pool, hp->addr_text.len);
        if (hp->addr_text.data == NULL) {
            return DM_ERROR;
        }
        memcpy(hp->addr_text.data, text, hp->addr_text.len);
    }
    hp->host = hcf->host.len ? hcf->host : peer->name;
    if (dm_health_check_request(cycle->pool, hp) != DM_OK) {
        return DM_ERROR;
    }
    /* connection lines stay out of the error log: a failing probe says
       why in its own lines */
    hp->log = *cycle->log;
    hp->log.level = DM_LOG_CRIT;
    hp->log.next = NULL;

    hp->ev.data = hp;
    hp->ev.handler = dm_health_check_timer;
    hp->ev.log = cycle->log;
    hp->ev.cancelable = 1;
    hp->state = DM_HC_IDLE;

    /* continue the previous helper's rhythm: the first probe waits for
       what is left of the interval, plus the jitter */
    delay = dm_health_check_random(hcf->jitter);
    last = (dm_msec_t) __atomic_load_n(&peer->state->hc_last, __ATOMIC_RELAXED);
    if (last && last <= now && now - last < hcf->interval) {
        delay += hcf->interval - (now - last);
    }
    return dm_event_timer_add(&hp->ev, delay ? delay : 1);
}

dm_int_t
dm_health_check_start(dm_cycle_t *cycle, dm_uint_t engine)
{
    dm_array_t *ups = dm_health_check_upstreams(cycle, engine);
    dm_upstream_srv_conf_t **u;
    dm_health_check_conf_t *hcf;
    dm_upstream_group_t *g;
    dm_uint_t i, k;

    if (ups == NULL) {
        return DM_OK;
    }
    u = ups->elts;
    for (i = 0; i < ups->nelts; i++) {
        hcf = dm_health_check_conf(u[i], engine);
        g = u[i]->group;
        if (hcf == NULL) {
            if (g) {
                dm_health_check_forget(g);
            }
            continue;
        }
        for (k = 0; k < g->npeers; k++) {
            /* a server marked down is never probed; backups are */
            if (g->peers[k].down || g->peers[k].state == NULL) {
                continue;
            }
            if (dm_health_check_add(cycle, hcf, g, &g->peers[k]) != DM_OK) {
                return DM_ERROR;
            }
        }
    }
    return DM_OK;
}

/* The peer's timer: the next probe is due, or the probe's deadline. */
static void
dm_health_check_timer(dm_event_t *ev)
{
    dm_health_check_peer_t *hp = ev->data;

    if (hp->state != DM_HC_IDLE) {
        dm_health_check_probe_timeout(hp);
        return;
    }
    /* a retiring helper starts nothing: its successor takes over */
    if (dm_worker_exiting) {
        return;
    }
    if (hp->peer->resolve) {
        /* a `resolve` slot: the address it holds now; none, no probe */
        if (!dm_upstream_peer_refresh(hp->peer)) {
            (void) dm_event_timer_add(&hp->ev, hp->conf->interval);
            return;
        }
        memcpy(&hp->sa, hp->peer->sockaddr, hp->peer->socklen);
        hp->socklen = hp->peer->socklen;
        hp->addr_text = hp->peer->addr_text;
        if (hp->conf->port && hp->sa.ss_family == AF_INET) {
            ((struct sockaddr_in *) &hp->sa)->sin_port =
                htons((in_port_t) hp->conf->port);
        }
    }
    __atomic_store_n(&hp->peer->state->hc_last, dm_current_msec,
                     __ATOMIC_RELAXED);
    __atomic_add_fetch(&hp->peer->state->hc_probes, 1, __ATOMIC_RELAXED);
    dm_health_check_probe(hp);
}

void
dm_health_check_done(dm_health_check_peer_t *hp, int ok)
{
    dm_health_check_conf_t *hcf = hp->conf;
    dm_upstream_peer_state_t *st = hp->peer->state;
    uint32_t down = __atomic_load_n(&st->health_down, __ATOMIC_RELAXED);
    dm_msec_t next, last;

    if (hp->ev.timer_set) {
        dm_event_timer_del(&hp->ev); /* the probe's deadline */
    }
    if (ok) {
        st->hc_bad = 0;
        if (st->hc_ok < hcf->rise) {
            st->hc_ok++;
        }
        if (down && st->hc_ok >= hcf->rise) {
            /* back: slow_start ramps it up from now */
            __atomic_store_n(&st->recovered, dm_current_msec, __ATOMIC_RELAXED);
            __atomic_store_n(&st->health_down, 0, __ATOMIC_RELAXED);
            __atomic_add_fetch(&st->hc_ups, 1, __ATOMIC_RELAXED);
            dm_log_error(DM_LOG_WARN, hp->ev.log, 0,
                         "upstream %.*s: server %.*s is UP (%u of %u checks)",
                         DM_STR_ARG(hp->group->name),
                         DM_STR_ARG(hp->peer->addr_text), st->hc_ok,
                         (unsigned) hcf->rise);
        }
    } else {
        __atomic_add_fetch(&st->hc_failed, 1, __ATOMIC_RELAXED);
        st->hc_ok = 0;
        if (st->hc_bad < hcf->fall) {
            st->hc_bad++;
        }
        dm_log_error(DM_LOG_INFO, hp->ev.log, 0,
                     "upstream %.*s: health check of server %.*s failed: %s",
                     DM_STR_ARG(hp->group->name),
                     DM_STR_ARG(hp->peer->addr_text), hp->reason);
        if (!down && st->hc_bad >= hcf->fall) {
            __atomic_store_n(&st->health_down, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&st->hc_downs, 1, __ATOMIC_RELAXED);
            dm_log_error(DM_LOG_WARN, hp->ev.log, 0,
                         "upstream %.*s: server %.*s is DOWN (%s, %u of %u "
                         "checks)",
                         DM_STR_ARG(hp->group->name),
                         DM_STR_ARG(hp->peer->addr_text), hp->reason,
                         st->hc_bad, (unsigned) hcf->fall);
        }
    }

    hp->state = DM_HC_IDLE;
    if (dm_worker_exiting) {
        return;
    }
    /* every interval from the start of the last probe (+ jitter); a probe
       that took longer is followed at once */
    last = (dm_msec_t) __atomic_load_n(&st->hc_last, __ATOMIC_RELAXED);
    next = last + hcf->interval > dm_current_msec
               ? last + hcf->interval - dm_current_msec
               : 1;
    next += dm_health_check_random(hcf->jitter);
    (void) dm_event_timer_add(&hp->ev, next);
}
