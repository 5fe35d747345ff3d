/*
 * doorman: finding a request's location, and internal redirects.
 *
 * The search follows nginx so that a configuration written for nginx
 * routes alike: exact, longest prefix (nested first), then regexes in
 * file order unless the prefix said ^~. Named locations are never
 * searched; only error_page (and later try_files-like hooks) enter them.
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>
#include <dm_http_location.h>

/* What a search at one level found. */
#define DM_HTTP_LOC_NONE  0 /* nothing */
#define DM_HTTP_LOC_FOUND 1 /* a prefix: regexes of outer levels may win */
#define DM_HTTP_LOC_FINAL 2 /* exact or regex: the search is over */

static dm_uint_t
dm_http_location_search(dm_http_request_t *r, dm_array_t *locations,
                        dm_http_core_loc_conf_t **found)
{
    dm_http_core_loc_conf_t **l, *best = NULL;
    dm_str_t *uri = &r->head.path;
    dm_uint_t i, rc;
    dm_int_t m;

    if (locations == NULL) {
        return DM_HTTP_LOC_NONE;
    }
    l = locations->elts;
    for (i = 0; i < locations->nelts; i++) {
        switch (l[i]->kind) {
        case DM_HTTP_LOC_EXACT:
            if (l[i]->name.len == uri->len
                && memcmp(l[i]->name.data, uri->data, uri->len) == 0) {
                *found = l[i];
                return DM_HTTP_LOC_FINAL;
            }
            break;
        case DM_HTTP_LOC_PREFIX:
        case DM_HTTP_LOC_NOREGEX:
            if (l[i]->name.len <= uri->len
                && memcmp(l[i]->name.data, uri->data, l[i]->name.len) == 0
                && (best == NULL || l[i]->name.len > best->name.len)) {
                best = l[i];
            }
            break;
        }
    }

    rc = DM_HTTP_LOC_NONE;
    if (best) {
        *found = best;
        rc = DM_HTTP_LOC_FOUND;
        if (best->locations
            && dm_http_location_search(r, best->locations, found)
                   == DM_HTTP_LOC_FINAL) {
            return DM_HTTP_LOC_FINAL;
        }
        if (best->kind == DM_HTTP_LOC_NOREGEX) {
            /* ^~: no regex of this level; the nested search may have
               found a longer prefix, which stands */
            return DM_HTTP_LOC_FOUND;
        }
    }

    for (i = 0; i < locations->nelts; i++) {
        if (l[i]->regex == NULL) {
            continue;
        }
        m = dm_regex_match_vars(&r->vars, l[i]->regex, uri->data, uri->len);
        if (m == 0) {
            continue;
        }
        if (m < 0) {
            /* a failed match was logged; as nginx, the request fails */
            *found = NULL;
            return DM_HTTP_LOC_FINAL;
        }
        *found = l[i];
        if (l[i]->locations) {
            (void) dm_http_location_search(r, l[i]->locations, found);
        }
        return DM_HTTP_LOC_FINAL;
    }
    return rc;
}

dm_http_core_loc_conf_t *
dm_http_location_find(dm_http_request_t *r, dm_array_t *locations)
{
    dm_http_core_loc_conf_t *found = NULL;

    (void) dm_http_location_search(r, locations, &found);
    return found;
}

dm_http_core_loc_conf_t *
dm_http_location_named(dm_http_core_srv_conf_t *cscf, const dm_str_t *name)
{
    dm_http_core_loc_conf_t **l = cscf->locations.elts;
    dm_uint_t i;

    for (i = 0; i < cscf->locations.nelts; i++) {
        if (l[i]->kind == DM_HTTP_LOC_NAMED && l[i]->name.len == name->len
            && memcmp(l[i]->name.data, name->data, name->len) == 0) {
            return l[i];
        }
    }
    return NULL;
}

dm_int_t
dm_http_location_uri_change(dm_http_request_t *r, const dm_str_t *to)
{
    if (++r->uri_changes > DM_HTTP_MAX_URI_CHANGES) {
        dm_log_error(DM_LOG_ERR, r->connection->log, 0,
                     "rewrite or internal redirection cycle while "
                     "processing \"%.*s\"",
                     DM_STR_ARG(*to));
        return DM_ERROR;
    }
    return DM_OK;
}

/* The request starts over at `phase` with its server's configuration. */
static dm_int_t
dm_http_restart(dm_http_request_t *r, dm_uint_t phase, void **loc_conf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_request_main_conf(r, dm_http_core_module);

    memset(r->ctx, 0, sizeof(void *) * dm_module_count(DM_MODULE_HTTP));
    r->loc_conf = loc_conf;
    r->uri_changed = 0;
    r->phase_index = dm_phase_first(&cmcf->phases, phase);
    dm_http_request_run_phases(r);
    return DM_DONE;
}

static dm_int_t
dm_http_redirect_cycle(dm_http_request_t *r)
{
    /* the 500 itself must not be redirected again */
    r->error_page = 1;
    r->err_status = 0;
    return dm_http_request_respond(r, 500, NULL, NULL);
}

dm_int_t
dm_http_internal_redirect(dm_http_request_t *r, const dm_str_t *uri,
                          const dm_str_t *args)
{
    dm_http_core_srv_conf_t *cscf =
        dm_http_request_srv_conf(r, dm_http_core_module);

    if (dm_http_location_uri_change(r, uri) != DM_OK) {
        return dm_http_redirect_cycle(r);
    }
    r->head.path = *uri;
    r->uri_rewritten = 1;
    if (args) {
        r->head.args = *args;
    }
    return dm_http_restart(r, DM_HTTP_SERVER_REWRITE_PHASE,
                           cscf->ctx->loc_conf);
}

dm_int_t
dm_http_named_redirect(dm_http_request_t *r, const dm_str_t *name)
{
    dm_http_core_srv_conf_t *cscf =
        dm_http_request_srv_conf(r, dm_http_core_module);
    dm_http_core_loc_conf_t *clcf;

    clcf = dm_http_location_named(cscf, name);
    if (clcf == NULL) {
        /* checked at load for error_page; a variable name may miss */
        dm_log_error(DM_LOG_ERR, r->connection->log, 0,
                     "could not find named location \"%.*s\"",
                     DM_STR_ARG(*name));
        r->error_page = 1;
        return dm_http_request_respond(r, 500, NULL, NULL);
    }
    if (dm_http_location_uri_change(r, name) != DM_OK) {
        return dm_http_redirect_cycle(r);
    }
    return dm_http_restart(r, DM_HTTP_REWRITE_PHASE, clcf->loc_conf);
}
