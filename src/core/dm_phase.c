/*
 * doorman: the phase pipeline.
 */
#include <dm_core.h>
#include <dm_phase.h>

dm_int_t
dm_phase_init(dm_phase_engine_t *pe, dm_pool_t *pool, dm_uint_t nphases,
              dm_uint_t log_phase)
{
    dm_uint_t i;

    if (nphases > DM_PHASE_MAX || log_phase >= nphases) {
        return DM_ERROR;
    }
    memset(pe, 0, sizeof(*pe));
    pe->nphases = nphases;
    pe->log_phase = log_phase;
    for (i = 0; i < nphases; i++) {
        if (dm_array_init(&pe->registered[i], pool, 2,
                          sizeof(dm_phase_handler_pt))
            != DM_OK) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

dm_int_t
dm_phase_add(dm_phase_engine_t *pe, dm_uint_t phase,
             dm_phase_handler_pt handler)
{
    dm_phase_handler_pt *h;

    if (phase >= pe->nphases) {
        return DM_ERROR;
    }
    h = dm_array_push(&pe->registered[phase]);
    if (h == NULL) {
        return DM_ERROR;
    }
    *h = handler;
    return DM_OK;
}

dm_int_t
dm_phase_flatten(dm_phase_engine_t *pe, dm_pool_t *pool)
{
    dm_phase_handler_pt *h;
    dm_uint_t p, i, n = 0, k = 0, first;

    for (p = 0; p < pe->nphases; p++) {
        if (p != pe->log_phase) {
            n += pe->registered[p].nelts;
        }
    }
    pe->handlers = dm_pcalloc(pool, (n ? n : 1) * sizeof(dm_phase_handler_t));
    if (pe->handlers == NULL) {
        return DM_ERROR;
    }

    for (p = 0; p < pe->nphases; p++) {
        if (p == pe->log_phase) {
            continue;
        }
        h = pe->registered[p].elts;
        first = k;
        for (i = 0; i < pe->registered[p].nelts; i++, k++) {
            pe->handlers[k].handler = h[i];
            pe->handlers[k].phase = p;
        }
        /* every handler of this phase knows where the next phase starts */
        for (i = first; i < k; i++) {
            pe->handlers[i].next = k;
        }
    }
    pe->nhandlers = n;
    pe->log = pe->registered[pe->log_phase].elts;
    pe->nlog = pe->registered[pe->log_phase].nelts;
    return DM_OK;
}

dm_uint_t
dm_phase_first(const dm_phase_engine_t *pe, dm_uint_t phase)
{
    dm_uint_t i;

    for (i = 0; i < pe->nhandlers; i++) {
        if (pe->handlers[i].phase >= phase) {
            break;
        }
    }
    return i;
}

dm_int_t
dm_phase_run(const dm_phase_engine_t *pe, dm_uint_t *index, void *obj)
{
    dm_int_t rc;

    while (*index < pe->nhandlers) {
        rc = pe->handlers[*index].handler(obj);
        switch (rc) {
        case DM_OK:
            *index = pe->handlers[*index].next;
            break;
        case DM_DECLINED:
            (*index)++;
            break;
        case DM_PHASE_JUMP:
            /* the handler moved *index (a rewrite finds its location
               again) */
            break;
        case DM_AGAIN:
        case DM_DONE:
            return rc;
        default:
            return DM_ERROR;
        }
    }
    return DM_OK;
}

void
dm_phase_run_log(const dm_phase_engine_t *pe, void *obj)
{
    dm_uint_t i;

    for (i = 0; i < pe->nlog; i++) {
        (void) pe->log[i](obj);
    }
}
