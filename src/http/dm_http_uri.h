/*
 * doorman: the request path as locations see it ($uri).
 */
#ifndef DM_HTTP_URI_H
#define DM_HTTP_URI_H

/*
 * Decode and normalize a request path into dst (room for len bytes; the
 * result is never longer than the input): %XX is decoded, runs of '/'
 * become one, "." segments are dropped and ".." removes the segment
 * before it, as nginx does before it matches locations (a decoded "%2F"
 * or "%2E" counts as the character it stands for). The result starts
 * with '/' as the input must. Returns the length of the result, or -1
 * for a path that is not one: a bad or truncated %XX, a decoded NUL, or
 * a ".." that climbs above the root (the request gets 400).
 */
ssize_t dm_http_uri_normalize(u_char *dst, const u_char *src, size_t len);

#endif /* DM_HTTP_URI_H */
