/*
 * doorman: finding a request's location, and internal redirects.
 */
#ifndef DM_HTTP_LOCATION_H
#define DM_HTTP_LOCATION_H

/* Most $uri changes of one request (rewrites, internal redirects), as
   nginx: the next one is a 500. */
#define DM_HTTP_MAX_URI_CHANGES 10

/*
 * The location of r's $uri among `locations` (a server's top level), in
 * nginx's order: an exact (=) match wins at once; else the longest
 * prefix, searched again among its nested locations; then, unless that
 * prefix is ^~, the regex locations (~, ~*) of the level in file order,
 * the nested level's regexes first; the first regex that matches wins
 * and its captures become $1 ... and its named groups. Returns the
 * location, or NULL when none matches.
 */
dm_http_core_loc_conf_t *dm_http_location_find(dm_http_request_t *r,
                                               dm_array_t *locations);

/* The server's named location @name, or NULL. */
dm_http_core_loc_conf_t *dm_http_location_named(dm_http_core_srv_conf_t *cscf,
                                                const dm_str_t *name);

/*
 * Counts one more change of $uri. Returns DM_OK, or DM_ERROR once the
 * request changed it more than DM_HTTP_MAX_URI_CHANGES times (logged as
 * a cycle; the caller answers 500).
 */
dm_int_t dm_http_location_uri_change(dm_http_request_t *r, const dm_str_t *to);

/*
 * Internal redirects, for error_page: the request starts over with a
 * new $uri (and $args when `args` is not NULL) at the SERVER_REWRITE
 * phase of its server, or in the named location @name at the REWRITE
 * phase. Module contexts are cleared. Both run the phases and return
 * DM_DONE (a cycle is answered 500).
 */
dm_int_t dm_http_internal_redirect(dm_http_request_t *r, const dm_str_t *uri,
                                   const dm_str_t *args);
dm_int_t dm_http_named_redirect(dm_http_request_t *r, const dm_str_t *name);

#endif /* DM_HTTP_LOCATION_H */
