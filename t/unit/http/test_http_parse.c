/*
 * doorman: unit tests for the request parser (src/http/dm_http_parse*.c),
 * by the rules of DESIGN.md section 7.
 *
 * The table holds one request per case with its verdict: accepted, with
 * the fields it must yield, or refused with a status. Every rule of
 * section 7 has at least one accepted and one refused case (the comment
 * above each group names the rule). Every case is also fed one byte at a
 * time (every prefix, each in a buffer of its own size): the prefixes
 * must say "need more" until the verdict, then give exactly it.
 */
#include "http_parse_check.h"

#include <ctype.h>

/* Flags of an accepted request; all of them are checked. */
#define KA 0x01 /* keep_alive */
#define CH 0x02 /* chunked */
#define EX 0x04 /* expect_continue */
#define UP 0x08 /* upgrade */
#define AB 0x10 /* absolute_form */
#define CX 0x20 /* complex_uri */

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    unsigned lim;    /* LIM_* */
    unsigned status; /* 0: accepted */
    size_t rest;     /* accepted: bytes after the head (a body) */
    const char *method;
    const char *path;
    const char *args;
    const char *host;      /* NULL: not checked */
    const char *host_name; /* NULL: not checked */
    unsigned version;      /* 10 or 11; 0: not checked */
    const char *cl;        /* accepted: Content-Length, NULL: none (-1) */
    const char *why;       /* refused: the reason the parser gives */
    unsigned flags;        /* accepted: KA | CH | EX | UP | AB | CX */
} req_case_t;

#define IN(n, s) .name = n, .in = s, .len = sizeof(s) - 1
#define OK(n, s, ...)                                                          \
    {                                                                          \
        IN(n, s), __VA_ARGS__                                                  \
    }
#define NO(n, s, st, ...)                                                      \
    {                                                                          \
        IN(n, s), .status = st, __VA_ARGS__                                    \
    }

#define GET  "GET / HTTP/1.1\r\n"
#define GET0 "GET / HTTP/1.0\r\n"
#define POST "POST / HTTP/1.1\r\n"
#define HOST "Host: a\r\n"
#define V11  .version = 11
#define V10  .version = 10

static const req_case_t cases[] = {

    /* --- the simplest requests */
    OK("GET", GET HOST "\r\n", .method = "GET", .path = "/", .args = "",
       .host = "a", V11, .flags = KA),
    OK("HTTP/1.0 without Host", GET0 "\r\n", .host = "", V10),
    OK("HEAD", "HEAD /x HTTP/1.1\r\n" HOST "\r\n", .method = "HEAD",
       .path = "/x", V11, .flags = KA),
    OK("POST with a body", POST HOST "Content-Length: 5\r\n\r\nhello",
       .rest = 5, .cl = "5", V11, .flags = KA),
    OK("several fields", GET HOST "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
       V11, .flags = KA),

    /* --- keep-alive: HTTP/1.1 on unless close; HTTP/1.0 off unless
       keep-alive; Connection is a list of tokens in any case */
    OK("1.0 keep-alive", GET0 "Connection: keep-alive\r\n\r\n", V10,
       .flags = KA),
    OK("1.0 Keep-Alive", GET0 "Connection: Keep-Alive\r\n\r\n", V10,
       .flags = KA),
    OK("1.0 close", GET0 "Connection: close\r\n\r\n", V10),
    OK("1.0 close and keep-alive", GET0 "Connection: keep-alive, close\r\n\r\n",
       V10),
    OK("1.1 close", GET HOST "Connection: close\r\n\r\n", V11),
    OK("1.1 CLOSE", GET HOST "Connection: CLOSE\r\n\r\n", V11),
    OK("1.1 close after a token", GET HOST "Connection: x-foo, close\r\n\r\n",
       V11),
    OK("1.1 close in a second field",
       GET HOST "Connection: keep-alive\r\nConnection: close\r\n\r\n", V11),
    OK("1.1 close with OWS", GET HOST "Connection:   close \t\r\n\r\n", V11),
    OK("1.1 empty list elements", GET HOST "Connection: ,close,\r\n\r\n", V11),
    OK("1.1 keep-alive explicit", GET HOST "Connection: keep-alive\r\n\r\n",
       V11, .flags = KA),
    OK("1.1 closed is no close", GET HOST "Connection: closed\r\n\r\n", V11,
       .flags = KA),

    /* --- the request line: method SP target SP HTTP/D.D, one SP */
    NO("lower-case version", "GET / http/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("space after the version", "GET / HTTP/1.1 \r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("two spaces after the method", "GET  / HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "empty request target"),
    NO("two spaces before the version", "GET /  HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("tab after the method", "GET\t/ HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid method"),
    NO("tab before the version", "GET /\tHTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid character in the target"),
    NO("HTTP/0.9 request (no version)", "GET /\r\n\r\n", 400,
       .why = "no HTTP version in the request line"),
    NO("no target, no version", "GET\r\n\r\n", 400, .why = "invalid method"),
    NO("junk after the version", "GET / HTTP/1.1x\r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("two-digit major", "GET / HTTP/10.0\r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("version without minor", "GET / HTTP/1\r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("version HTTP/1.", "GET / HTTP/1.\r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("not HTTP", "GET / HTXP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("ICE protocol", "SOURCE / ICE/1.0\r\n\r\n", 400,
       .why = "invalid HTTP version"),
    NO("HTTP/2.0 is 505", "GET / HTTP/2.0\r\n" HOST "\r\n", 505,
       .why = "unsupported HTTP version"),
    NO("HTTP/1.2 is 505", "GET / HTTP/1.2\r\n" HOST "\r\n", 505,
       .why = "unsupported HTTP version"),
    NO("HTTP/0.9 written out is 505", "GET / HTTP/0.9\r\n\r\n", 505,
       .why = "unsupported HTTP version"),
    NO("HTTP/3.0 is 505", "GET / HTTP/3.0\r\n" HOST "\r\n", 505,
       .why = "unsupported HTTP version"),
    NO("the HTTP/2 preface is 505", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505,
       .why = "unsupported HTTP version"),
    NO("a TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400,
       .why = "invalid method"),

    /* --- any method token; an invalid one is 400 */
    OK("method with - and _", "FOO-BAR_1 / HTTP/1.1\r\n" HOST "\r\n",
       .method = "FOO-BAR_1", V11, .flags = KA),
    OK("lower-case method", "get / HTTP/1.1\r\n" HOST "\r\n", .method = "get",
       V11, .flags = KA),
    OK("M-SEARCH", "M-SEARCH / HTTP/1.1\r\n" HOST "\r\n", .method = "M-SEARCH",
       V11, .flags = KA),
    OK("PROPFIND", "PROPFIND /d HTTP/1.1\r\n" HOST "\r\n", .method = "PROPFIND",
       V11, .flags = KA),
    OK("DELETE", "DELETE /r HTTP/1.1\r\n" HOST "\r\n", .method = "DELETE", V11,
       .flags = KA),
    OK("method of tchar punctuation",
       "!#$%&'*+.^`|~ / HTTP/1.1\r\n" HOST "\r\n", .method = "!#$%&'*+.^`|~",
       V11, .flags = KA),
    NO("empty method", " / HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid method"),
    NO("method with @", "GE@T / HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid method"),
    NO("method with (", "GET( / HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid method"),
    NO("method with UTF-8", "G\xc3\x89T / HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid method"),
    NO("method with NUL", "GE\0T / HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid method"),

    /* --- one empty line before the request line, no more */
    OK("CRLF before the request line", "\r\n" GET HOST "\r\n", .path = "/", V11,
       .flags = KA),
    OK("LF before the request line", "\n" GET HOST "\r\n", V11, .flags = KA),
    NO("two CRLF before the request line", "\r\n\r\n" GET HOST "\r\n", 400,
       .why = "more than one empty line before the request"),
    NO("CR alone before the request line", "\rGET / HTTP/1.1\r\n\r\n", 400,
       .why = "bare CR"),
    NO("LF before, bare_lf off", "\n" GET HOST "\r\n", 400, .lim = LIM_STRICT,
       .why = "bare LF"),
    NO("space before the request line", " " GET HOST "\r\n", 400,
       .why = "invalid method"),

    /* --- bare LF: accepted with bare_lf (doorman's default), else 400 */
    OK("bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", V11, .host = "a",
       .flags = KA),
    OK("bare LF in a field line", GET "Host: a\nX: 1\r\n\r\n", V11,
       .flags = KA),
    OK("bare LF ending the head", GET HOST "\n", V11, .flags = KA),
    NO("bare LF everywhere, bare_lf off", "GET / HTTP/1.1\nHost: a\n\n", 400,
       .lim = LIM_STRICT, .why = "bare LF"),
    NO("bare LF ending the head, bare_lf off", GET HOST "\n", 400,
       .lim = LIM_STRICT, .why = "bare LF"),
    NO("bare LF in a field line, bare_lf off", GET "Host: a\nX: 1\r\n\r\n", 400,
       .lim = LIM_STRICT, .why = "bare LF"),
    OK("CRLF everywhere, bare_lf off", GET HOST "\r\n", V11, .flags = KA,
       .lim = LIM_STRICT),

    /* --- bare CR: 400 wherever it is */
    NO("bare CR after the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400,
       .why = "bare CR"),
    NO("bare CR between fields", GET "Host: a\rX: b\r\n\r\n", 400,
       .why = "bare CR"),
    NO("bare CR in a value", GET "X: a\rb\r\n" HOST "\r\n", 400,
       .why = "bare CR"),
    NO("bare CR ending the head", GET HOST "\r\r\n", 400, .why = "bare CR"),
    NO("bare CR in the target", "GET /a\rb HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "no HTTP version in the request line"),
    NO("CR in a field name", GET "Content\rLength: 3\r\n" HOST "\r\n", 400,
       .why = "invalid character in a field name"),

    /* --- the target: origin-form split into path and args */
    OK("query", "GET /p?x=1&y=2 HTTP/1.1\r\n" HOST "\r\n", .path = "/p",
       .args = "x=1&y=2", V11, .flags = KA),
    OK("empty query", "GET /p? HTTP/1.1\r\n" HOST "\r\n", .path = "/p",
       .args = "", V11, .flags = KA),
    OK("two question marks", "GET /p?a?b HTTP/1.1\r\n" HOST "\r\n",
       .path = "/p", .args = "a?b", V11, .flags = KA),
    OK("fragment after the query", "GET /p?x#frag HTTP/1.1\r\n" HOST "\r\n",
       .path = "/p", .args = "x", V11, .flags = KA),
    OK("fragment without query", "GET /p#f?g HTTP/1.1\r\n" HOST "\r\n",
       .path = "/p", .args = "", V11, .flags = KA),

    /* --- raw UTF-8 and []{}|^`" in the target; not SP, CTL or DEL */
    OK("raw UTF-8 in the path", "GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n",
       .path = "/caf\xc3\xa9", V11, .flags = KA),
    OK("[]{}|^`\" in the path", "GET /a[1]{2}|^`\"x HTTP/1.1\r\n" HOST "\r\n",
       .path = "/a[1]{2}|^`\"x", V11, .flags = KA),
    OK("backslash in the path", "GET /a\\b HTTP/1.1\r\n" HOST "\r\n",
       .path = "/a\\b", V11, .flags = KA),
    OK("<> in the query", "GET /?q=<x> HTTP/1.1\r\n" HOST "\r\n", .path = "/",
       .args = "q=<x>", V11, .flags = KA),
    OK("byte 0xff in the query", "GET /?\xff HTTP/1.1\r\n" HOST "\r\n",
       .args = "\xff", V11, .flags = KA),
    NO("NUL in the target", "GET /a\0b HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid character in the target"),
    NO("DEL in the target", "GET /a\x7f HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid character in the target"),
    NO("HTAB in the target", "GET /a\tb HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid character in the target"),
    NO("0x01 in the target", "GET /a\x01 HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid character in the target"),
    NO("escape in the query", "GET /?\x1b[0m HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid character in the target"),
    NO("space in the target", "GET /foo bar/ HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid HTTP version"),
    NO("relative target", "GET ./a HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid request target"),
    NO("scheme without //", "GET a/b HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid request target"),

    /* --- complex_uri: the path needs decoding or normalizing */
    OK("percent in the path", "GET /a%20b HTTP/1.1\r\n" HOST "\r\n",
       .path = "/a%20b", V11, .flags = KA | CX),
    OK("double slash", "GET //a HTTP/1.1\r\n" HOST "\r\n", V11,
       .flags = KA | CX),
    OK("dot segment", "GET /a/./b HTTP/1.1\r\n" HOST "\r\n", V11,
       .flags = KA | CX),
    OK("dot-dot segment", "GET /a/../b HTTP/1.1\r\n" HOST "\r\n", V11,
       .flags = KA | CX),
    OK("dots inside names are simple", "GET /a.b/c.d HTTP/1.1\r\n" HOST "\r\n",
       V11, .flags = KA),
    OK("percent in the query is simple",
       "GET /a?x=%20//./ HTTP/1.1\r\n" HOST "\r\n", .path = "/a", V11,
       .flags = KA),

    /* --- asterisk-form, for OPTIONS only */
    OK("OPTIONS *", "OPTIONS * HTTP/1.1\r\n" HOST "\r\n", .path = "*",
       .method = "OPTIONS", V11, .flags = KA),
    NO("GET *", "GET * HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid asterisk-form target"),
    NO("OPTIONS *x", "OPTIONS *x HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid asterisk-form target"),

    /* --- absolute-form: the authority wins over Host, path and args are
       split from it */
    OK("absolute-form",
       "GET http://example.com/p?x=1 HTTP/1.1\r\nHost: b\r\n\r\n", .path = "/p",
       .args = "x=1", .host = "example.com", .host_name = "example.com", V11,
       .flags = KA | AB),
    OK("absolute-form with port, no path",
       "GET http://example.com:8080 HTTP/1.1\r\n" HOST "\r\n", .path = "/",
       .args = "", .host = "example.com:8080", .host_name = "example.com", V11,
       .flags = KA | AB),
    OK("absolute-form with query, no path",
       "GET http://example.com?x HTTP/1.1\r\n" HOST "\r\n", .path = "/",
       .args = "x", .host = "example.com", V11, .flags = KA | AB),
    OK("absolute-form HTTPS in upper case",
       "GET HTTPS://Example.COM/ HTTP/1.1\r\n" HOST "\r\n", .path = "/",
       .host = "Example.COM", V11, .flags = KA | AB),
    OK("absolute-form in HTTP/1.0 without Host",
       "GET http://a.b/c HTTP/1.0\r\n\r\n", .path = "/c", .host = "a.b", V10,
       .flags = AB),
    OK("absolute-form IPv6", "GET http://[::1]:80/ HTTP/1.1\r\n" HOST "\r\n",
       .host = "[::1]:80", .host_name = "[::1]", V11, .flags = KA | AB),
    OK("absolute-form path with //", "GET http://a//x HTTP/1.1\r\n" HOST "\r\n",
       .path = "//x", V11, .flags = KA | AB | CX),
    OK("absolute-form simple path", "GET http://a/b HTTP/1.1\r\n" HOST "\r\n",
       .path = "/b", V11, .flags = KA | AB),
    NO("absolute-form in HTTP/1.1 without Host",
       "GET http://a/ HTTP/1.1\r\n\r\n", 400,
       .why = "no Host in an HTTP/1.1 request"),
    NO("absolute-form with userinfo",
       "GET http://u:p@evil.com/ HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid authority in the target"),
    NO("absolute-form, empty authority",
       "GET http:///p HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid authority in the target"),
    NO("absolute-form, one slash", "GET http:/p HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid request target"),
    NO("absolute-form, port too big",
       "GET http://a:99999/ HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid authority in the target"),
    NO("absolute-form, invalid Host too",
       "GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", 400,
       .why = "invalid Host"),

    /* --- CONNECT's authority-form is read (the engine answers 405) */
    OK("CONNECT",
       "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443"
       "\r\n\r\n",
       .method = "CONNECT", .path = "", .host = "example.com:443",
       .host_name = "example.com", V11, .flags = KA),
    NO("CONNECT with userinfo", "CONNECT u@a:443 HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid authority-form target"),
    NO("authority-form with GET", "GET a.com:443 HTTP/1.1\r\n" HOST "\r\n", 400,
       .why = "invalid request target"),

    /* --- HTTP/1.1 needs exactly one valid Host */
    NO("no Host", GET "\r\n", 400, .why = "no Host in an HTTP/1.1 request"),
    NO("no Host, other fields", GET "Accept: */*\r\n\r\n", 400,
       .why = "no Host in an HTTP/1.1 request"),
    NO("two equal Hosts", GET HOST HOST "\r\n", 400,
       .why = "more than one Host"),
    NO("two differing Hosts", GET HOST "Host: b\r\n\r\n", 400,
       .why = "more than one Host"),
    NO("empty Host", GET "Host:\r\n\r\n", 400, .why = "invalid Host"),
    NO("Host of spaces", GET "Host:   \r\n\r\n", 400, .why = "invalid Host"),
    NO("Host with a space", GET "Host: a b\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with a tab", GET "Host: a\tb\r\n\r\n", 400, .why = "invalid Host"),
    NO("Host with a slash", GET "Host: a/b\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with a backslash", GET "Host: a\\b\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with userinfo", GET "Host: u@a\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host as a list", GET "Host: a, b\r\n\r\n", 400, .why = "invalid Host"),
    NO("Host with ..", GET "Host: a..b\r\n\r\n", 400, .why = "invalid Host"),
    NO("Host starting with a dot", GET "Host: .a\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with a letter in the port", GET "Host: a:8x\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with a port above 65535", GET "Host: a:65536\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with a six-digit port", GET "Host: a:000080\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with an open IPv6 literal", GET "Host: [::1\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with an empty IPv6 literal", GET "Host: []\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with junk after the literal", GET "Host: [::1]x\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host with raw UTF-8", GET "Host: caf\xc3\xa9.com\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("Host that is a port only", GET "Host: :80\r\n\r\n", 400,
       .why = "invalid Host"),
    NO("two Hosts in HTTP/1.0", GET0 HOST HOST "\r\n", 400,
       .why = "more than one Host"),
    NO("invalid Host in HTTP/1.0", GET0 "Host: a/b\r\n\r\n", 400,
       .why = "invalid Host"),
    OK("Host with a port", GET "Host: a.example:8080\r\n\r\n",
       .host = "a.example:8080", .host_name = "a.example", V11, .flags = KA),
    OK("Host IPv6 literal", GET "Host: [2001:db8::1]:443\r\n\r\n",
       .host = "[2001:db8::1]:443", .host_name = "[2001:db8::1]", V11,
       .flags = KA),
    OK("Host IPv6 literal, no port", GET "Host: [::ffff:1.2.3.4]\r\n\r\n",
       .host_name = "[::ffff:1.2.3.4]", V11, .flags = KA),
    OK("Host with a trailing dot", GET "Host: example.com.\r\n\r\n",
       .host = "example.com.", .host_name = "example.com", V11, .flags = KA),
    OK("Host with a trailing dot and port", GET "Host: example.com.:80\r\n\r\n",
       .host_name = "example.com", V11, .flags = KA),
    OK("Host with underscores", GET "Host: my_host.ex_ample\r\n\r\n",
       .host_name = "my_host.ex_ample", V11, .flags = KA),
    OK("Host IPv4 with port", GET "Host: 127.0.0.1:80\r\n\r\n",
       .host_name = "127.0.0.1", V11, .flags = KA),
    OK("Host with an empty port", GET "Host: a:\r\n\r\n",
       .host = "a:", .host_name = "a", V11, .flags = KA),
    OK("Host in upper case", GET "Host: EXAMPLE.com\r\n\r\n",
       .host_name = "EXAMPLE.com", V11, .flags = KA),
    OK("Host with OWS", GET "Host: \t a  \r\n\r\n", .host = "a", V11,
       .flags = KA),
    OK("Host in HTTP/1.0", GET0 HOST "\r\n", .host = "a", V10),
    OK("host in lower case", GET "host: a\r\n\r\n", .host = "a", V11,
       .flags = KA),
    OK("HOST in upper case", GET "HOST: a\r\n\r\n", .host = "a", V11,
       .flags = KA),
    OK("Host with sub-delims", GET "Host: a-b~c!$&'()*+;=\r\n\r\n", V11,
       .flags = KA),

    /* --- field names: tchar only, no whitespace before the colon */
    NO("space before the colon", GET "Host : a\r\n\r\n", 400,
       .why = "whitespace before the colon of a field name"),
    NO("tab before the colon", GET HOST "X\t: a\r\n\r\n", 400,
       .why = "whitespace before the colon of a field name"),
    NO("space before the colon of Content-Length",
       POST HOST "Content-Length : 4\r\n\r\nabcd", 400,
       .why = "whitespace before the colon of a field name"),
    NO("empty field name", GET HOST ": a\r\n\r\n", 400,
       .why = "empty field name"),
    NO("@ in a field name", GET HOST "X@: a\r\n\r\n", 400,
       .why = "invalid character in a field name"),
    NO("( in a field name", GET HOST "X(: a\r\n\r\n", 400,
       .why = "invalid character in a field name"),
    NO("UTF-8 in a field name", GET HOST "X\xc3\xa9: a\r\n\r\n", 400,
       .why = "invalid character in a field name"),
    NO("NUL in a field name", GET HOST "X\0Y: a\r\n\r\n", 400,
       .why = "invalid character in a field name"),
    NO("field line without a colon", GET HOST "X\r\n\r\n", 400,
       .why = "invalid character in a field name"),
    NO("field line of a space", GET HOST " \r\n\r\n", 400,
       .why = "obs-fold (a field line starting with whitespace)"),
    OK("tchar punctuation in a name", GET HOST "!#$%&'*+-.^_`|~: x\r\n\r\n",
       V11, .flags = KA),
    OK("digits in a name", GET HOST "X-1: y\r\n\r\n", V11, .flags = KA),

    /* --- obs-fold (a line starting with SP or HTAB) */
    NO("obs-fold with a space", GET HOST "X: a\r\n b\r\n\r\n", 400,
       .why = "obs-fold (a field line starting with whitespace)"),
    NO("obs-fold with a tab", GET HOST "X: a\r\n\tb\r\n\r\n", 400,
       .why = "obs-fold (a field line starting with whitespace)"),
    NO("obs-fold of Host", GET "Host: a\r\n .b\r\n\r\n", 400,
       .why = "obs-fold (a field line starting with whitespace)"),
    NO("space after the request line", GET " Host: a\r\n\r\n", 400,
       .why = "obs-fold (a field line starting with whitespace)"),

    /* --- field values: obs-text accepted, control bytes but HTAB not */
    OK("HTAB inside a value", GET HOST "X: a\tb\r\n\r\n", V11, .flags = KA),
    OK("obs-text in a value", GET HOST "X: D\xfcsseldorf\r\n\r\n", V11,
       .flags = KA),
    OK("UTF-8 in a value", GET HOST "X: caf\xc3\xa9 \xe2\x82\xac\r\n\r\n", V11,
       .flags = KA),
    OK("byte 0xff first in a value", GET HOST "X: \xffy\r\n\r\n", V11,
       .flags = KA),
    OK("empty value", GET HOST "X:\r\n\r\n", V11, .flags = KA),
    OK("value of spaces", GET HOST "X:   \r\n\r\n", V11, .flags = KA),
    OK("quotes and commas in a value", GET HOST "X: \"a, b\"; c=d\r\n\r\n", V11,
       .flags = KA),
    OK("long value with HTAB",
       GET HOST "X: 0123456789abcdef\tghijklmnop\r\n\r\n", V11, .flags = KA),
    OK("long value of obs-text",
       GET HOST "X: \x80\x81\xfe\xff\x80\x81\xfe\xff"
                "\x80\x81\xfe\xff\x80\x81\xfe\xff\x80\r\n\r\n",
       V11, .flags = KA),
    NO("control byte after 16 bytes of value",
       GET HOST "X: 0123456789abcdef\x01\r\n\r\n", 400,
       .why = "control byte in a field value"),
    NO("DEL after obs-text in a long value",
       GET HOST "X: \xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f\r\n\r\n", 400,
       .why = "control byte in a field value"),
    NO("bare CR in a long value", GET HOST "X: 0123456789abcdef\rg\r\n\r\n",
       400, .why = "bare CR"),
    NO("NUL in a value", GET HOST "X: a\0b\r\n\r\n", 400,
       .why = "control byte in a field value"),
    NO("0x01 in a value", GET HOST "X: a\x01\r\n\r\n", 400,
       .why = "control byte in a field value"),
    NO("0x1f in a value", GET HOST "X: \x1f\r\n\r\n", 400,
       .why = "control byte in a field value"),
    NO("DEL in a value", GET HOST "X: a\x7f\r\n\r\n", 400,
       .why = "control byte in a field value"),
    NO("form feed in a value", GET HOST "Header1: hello\x0cworld\r\n\r\n", 400,
       .why = "control byte in a field value"),
    NO("escape in a value", GET HOST "X: \x1b[1m\r\n\r\n", 400,
       .why = "control byte in a field value"),
    NO("vertical tab in a value", GET HOST "X: a\x0b\r\n\r\n", 400,
       .why = "control byte in a field value"),

    /* --- Content-Length: digits, OWS around, equal repeats and lists */
    OK("Content-Length 0", POST HOST "Content-Length: 0\r\n\r\n", .cl = "0",
       V11, .flags = KA),
    OK("Content-Length with OWS", POST HOST "content-length:  42 \t\r\n\r\n",
       .cl = "42", V11, .flags = KA),
    OK("Content-Length with tabs", POST HOST "Content-Length:\t3\t\r\n\r\nabc",
       .rest = 3, .cl = "3", V11, .flags = KA),
    OK("Content-Length twice, equal",
       POST HOST "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", .cl = "5",
       V11, .flags = KA),
    OK("Content-Length list of equal values",
       POST HOST "Content-Length: 5, 5\r\n\r\n", .cl = "5", V11, .flags = KA),
    OK("Content-Length list without spaces",
       POST HOST "Content-Length: 7,7,7\r\n\r\n", .cl = "7", V11, .flags = KA),
    OK("Content-Length with leading zeros",
       POST HOST "Content-Length: 007\r\n\r\n", .cl = "7", V11, .flags = KA),
    OK("Content-Length 3 and 003",
       POST HOST "Content-Length: 3\r\nContent-Length: 003\r\n\r\n", .cl = "3",
       V11, .flags = KA),
    OK("Content-Length INT64_MAX",
       POST HOST "Content-Length: 9223372036854775807\r\n\r\n",
       .cl = "9223372036854775807", V11, .flags = KA),
    OK("Content-Length in HTTP/1.0",
       "POST / HTTP/1.0\r\nconTENT-Length: 5\r\n\r\nHELLO", .rest = 5,
       .cl = "5", V10),
    NO("Content-Length overflow",
       POST HOST "Content-Length: 9223372036854775808\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length far overflow",
       POST HOST "Content-Length: 1000000000000000000000\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length twice, differing",
       POST HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
       .why = "differing Content-Length fields"),
    NO("Content-Length list, differing",
       POST HOST "Content-Length: 5, 6\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length empty", POST HOST "Content-Length:\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length negative", POST HOST "Content-Length: -1\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length with a plus", POST HOST "Content-Length: +5\r\n\r\n",
       400, .why = "invalid Content-Length"),
    NO("Content-Length in hex", POST HOST "Content-Length: 0x5\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length with a space inside",
       POST HOST "Content-Length: 4 2\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length with a trailing comma",
       POST HOST "Content-Length: 5,\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length with a leading comma",
       POST HOST "Content-Length: ,5\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length with an empty element",
       POST HOST "Content-Length: 5,,5\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length with a letter", POST HOST "Content-Length: 5a\r\n\r\n",
       400, .why = "invalid Content-Length"),
    NO("Content-Length with a decimal point",
       POST HOST "Content-Length: 5.0\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length quoted", POST HOST "Content-Length: \"5\"\r\n\r\n", 400,
       .why = "invalid Content-Length"),
    NO("Content-Length valid then invalid",
       POST HOST "Content-Length: 5\r\nContent-Length: x\r\n\r\n", 400,
       .why = "invalid Content-Length"),

    /* --- Transfer-Encoding: chunked last, once; any case, OWS */
    OK("chunked", POST HOST "Transfer-Encoding: chunked\r\n\r\n", V11,
       .flags = KA | CH),
    OK("CHUNKED", POST HOST "Transfer-Encoding: CHUNKED\r\n\r\n", V11,
       .flags = KA | CH),
    OK("Chunked with OWS", POST HOST "transfer-encoding: \t Chunked \r\n\r\n",
       V11, .flags = KA | CH),
    OK("chunked and close",
       POST HOST "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", V11,
       .flags = CH),
    NO("Content-Length and Transfer-Encoding",
       POST HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       .why = "both Content-Length and Transfer-Encoding"),
    NO("Transfer-Encoding and Content-Length",
       POST HOST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
       .why = "both Content-Length and Transfer-Encoding"),
    NO("Content-Length and Transfer-Encoding: identity",
       POST HOST "Content-Length: 1\r\nTransfer-Encoding: identity\r\n\r\n",
       400, .why = "both Content-Length and Transfer-Encoding"),
    NO("Content-Length 0 and chunked",
       POST HOST "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       .why = "both Content-Length and Transfer-Encoding"),
    NO("chunked twice in a list",
       POST HOST "Transfer-Encoding: chunked, chunked\r\n\r\n", 400,
       .why = "chunked twice in Transfer-Encoding"),
    NO("chunked in two fields",
       POST HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
                 "\r\n\r\n",
       400, .why = "chunked twice in Transfer-Encoding"),
    NO("chunked before gzip",
       POST HOST "Transfer-Encoding: chunked, gzip\r\n"
                 "\r\n",
       400, .why = "Transfer-Encoding does not end with chunked"),
    NO("chunked then deflate in two fields",
       POST HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: deflate"
                 "\r\n\r\n",
       400, .why = "Transfer-Encoding does not end with chunked"),
    NO("gzip alone", POST HOST "Transfer-Encoding: gzip\r\n\r\n", 400,
       .why = "Transfer-Encoding does not end with chunked"),
    NO("identity alone", POST HOST "Transfer-Encoding: identity\r\n\r\n", 400,
       .why = "Transfer-Encoding does not end with chunked"),
    NO("chunkedchunked", POST HOST "Transfer-Encoding: chunkedchunked\r\n\r\n",
       400, .why = "Transfer-Encoding does not end with chunked"),
    NO("empty Transfer-Encoding", POST HOST "Transfer-Encoding:\r\n\r\n", 400,
       .why = "malformed Transfer-Encoding"),
    NO("chunked with a parameter",
       POST HOST "Transfer-Encoding: chunked;q=1\r\n\r\n", 400,
       .why = "malformed Transfer-Encoding"),
    NO("chunked with a trailing comma",
       POST HOST "Transfer-Encoding: chunked,\r\n\r\n", 400,
       .why = "malformed Transfer-Encoding"),
    NO("chunked with a leading comma",
       POST HOST "Transfer-Encoding: , chunked\r\n\r\n", 400,
       .why = "malformed Transfer-Encoding"),
    NO("chunked with a space inside",
       POST HOST "Transfer-Encoding: chun ked\r\n\r\n", 400,
       .why = "malformed Transfer-Encoding"),
    NO("chunked quoted", POST HOST "Transfer-Encoding: \"chunked\"\r\n\r\n",
       400, .why = "malformed Transfer-Encoding"),
    NO("chunked and an empty field",
       POST HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n",
       400, .why = "malformed Transfer-Encoding"),

    /* --- an unknown coding with chunked last is 501 */
    NO("gzip then chunked",
       POST HOST "Transfer-Encoding: gzip, chunked\r\n"
                 "\r\n",
       501, .why = "unsupported transfer coding"),
    NO("pigeons then chunked",
       POST HOST "Transfer-Encoding: pigeons,chunked\r\n\r\n", 501,
       .why = "unsupported transfer coding"),
    NO("deflate and chunked in two fields",
       POST HOST "Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked"
                 "\r\n\r\n",
       501, .why = "unsupported transfer coding"),

    /* --- Transfer-Encoding in an HTTP/1.0 request is 400 */
    NO("chunked in HTTP/1.0",
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked"
       "\r\n\r\n",
       400, .why = "Transfer-Encoding in an HTTP/1.0 request"),
    NO("chunked and Content-Length in HTTP/1.0",
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3"
       "\r\n\r\n",
       400, .why = "Transfer-Encoding in an HTTP/1.0 request"),

    /* --- Connection may not name a framing field (http_proxy would drop
       it); other names are marked hop-by-hop */
    NO("Connection: Content-Length",
       POST HOST "Content-Length: 3\r\nConnection: Content-Length\r\n\r\n", 400,
       .why = "Connection names a framing field"),
    NO("Connection: close, Transfer-Encoding",
       GET HOST "Connection: close, Transfer-Encoding\r\n\r\n", 400,
       .why = "Connection names a framing field"),
    NO("Connection: host", GET HOST "Connection: host\r\n\r\n", 400,
       .why = "Connection names a framing field"),
    OK("Connection naming another field",
       GET HOST "Connection: X-Foo\r\nX-Foo: 1\r\n\r\n", V11, .flags = KA),

    /* --- Expect: 100-continue (HTTP/1.1); others ignored */
    OK("Expect: 100-continue",
       POST HOST "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n", .cl = "3",
       V11, .flags = KA | EX),
    OK("Expect: 100-Continue",
       POST HOST "Expect: 100-Continue\r\nContent-Length: 3\r\n\r\n", .cl = "3",
       V11, .flags = KA | EX),
    OK("unknown expectation ignored", POST HOST "Expect: 200-ok\r\n\r\n", V11,
       .flags = KA),
    OK("Expect in HTTP/1.0 ignored",
       "POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", V10),

    /* --- Upgrade: needs upgrade in Connection, HTTP/1.1 */
    OK("websocket upgrade",
       GET HOST "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", V11,
       .flags = KA | UP),
    OK("upgrade in a list",
       GET HOST "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
       V11, .flags = KA | UP),
    OK("upgrade with close",
       GET HOST "Connection: close, upgrade\r\nUpgrade: h2c\r\n\r\n", V11,
       .flags = UP),
    OK("Upgrade without Connection: upgrade",
       GET HOST "Upgrade: websocket\r\n\r\n", V11, .flags = KA),
    OK("Connection: upgrade without Upgrade",
       GET HOST "Connection: upgrade\r\n\r\n", V11, .flags = KA),
    OK("upgrade in HTTP/1.0 ignored",
       GET0 "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n", V10),

    /* --- pipelining: the head ends at its empty line */
    OK("a second request follows", GET HOST "\r\n" GET HOST "\r\n",
       .rest = sizeof(GET HOST "\r\n") - 1, V11, .flags = KA),

    /* --- limits (LIM_SMALL: request line 32, head 128, 4 fields) */
    OK("request line of 32 bytes",
       "GET /aaaaaaaaaaaaaaaa HTTP/1.1\r\n" HOST "\r\n", .lim = LIM_SMALL, V11,
       .flags = KA),
    NO("request line of 33 bytes",
       "GET /aaaaaaaaaaaaaaaaa HTTP/1.1\r\n" HOST "\r\n", 414, .lim = LIM_SMALL,
       .why = "request line too long"),
    NO("long method",
       "GETGETGETGETGETGETGETGETGETGETGET / HTTP/1.1\r\n" HOST "\r\n", 414,
       .lim = LIM_SMALL, .why = "request line too long"),
    NO("long incomplete request line is 414 already",
       "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 414, .lim = LIM_SMALL,
       .why = "request line too long"),
    OK("4 fields", GET HOST "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", .lim = LIM_SMALL,
       V11, .flags = KA),
    NO("5 fields", GET HOST "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431,
       .lim = LIM_SMALL, .why = "too many header fields"),
    NO("head over 128 bytes",
       GET HOST
       "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
       431, .lim = LIM_SMALL, .why = "request head too large"),
    NO("incomplete head over 128 bytes is 431 already",
       GET HOST
       "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
       431, .lim = LIM_SMALL, .why = "request head too large"),
    NO("an error before the limit wins",
       GET
       "Host: a b\r\n"
       "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
       400, .lim = LIM_SMALL, .why = "invalid Host"),
};

static void
check_case(const req_case_t *c)
{
    dm_http_header_t headers[CHECK_MAX_HEADERS];
    dm_http_request_head_t req;
    check_verdict_t v;
    unsigned flags;
    int64_t cl;
    u_char *buf;

    v = check_bytewise(c->name, c->in, c->len, c->lim, -1);
    if (c->status) {
        if (v.rc != DM_HTTP_PARSE_ERROR || v.status != c->status
            || strcmp(v.reason, c->why) != 0) {
            fail_msg("%s: expected %u (%s), got rc %zd status %u (%s)", c->name,
                     c->status, c->why, v.rc, v.status,
                     v.rc == DM_HTTP_PARSE_ERROR ? v.reason : "");
        }
        return;
    }
    if (v.rc != (ssize_t) (c->len - c->rest)) {
        fail_msg("%s: expected a head of %zu bytes, got rc %zd status %u",
                 c->name, c->len - c->rest, v.rc, v.status);
    }

    /* the fields, from a parse of the head alone */
    buf = check_copy(c->in, c->len - c->rest);
    v = check_request_once(buf, c->len - c->rest, c->lim, &req, headers);
    assert_int_equal(v.rc, (ssize_t) (c->len - c->rest));
    check_str(c->name, "method", &req.method, c->method);
    check_str(c->name, "path", &req.path, c->path);
    check_str(c->name, "args", &req.args, c->args);
    check_str(c->name, "host", &req.host, c->host);
    check_str(c->name, "host_name", &req.host_name, c->host_name);
    if (c->version && req.version != c->version) {
        fail_msg("%s: version %u, expected %u", c->name, req.version,
                 c->version);
    }
    cl = c->cl ? strtoll(c->cl, NULL, 10) : -1;
    if (req.content_length != cl) {
        fail_msg("%s: content_length %lld, expected %lld", c->name,
                 (long long) req.content_length, (long long) cl);
    }
    flags = (req.keep_alive ? KA : 0) | (req.chunked ? CH : 0)
            | (req.expect_continue ? EX : 0) | (req.upgrade ? UP : 0)
            | (req.absolute_form ? AB : 0) | (req.complex_uri ? CX : 0);
    if (flags != c->flags) {
        fail_msg("%s: flags 0x%x, expected 0x%x (KA 1, CH 2, EX 4, UP 8, "
                 "AB 0x10, CX 0x20)",
                 c->name, flags, c->flags);
    }
    free(buf);
}

static void
test_table(void **state)
{
    size_t i, ok = 0;

    for (i = 0; i < dm_nelems(cases); i++) {
        check_case(&cases[i]);
        ok += cases[i].status == 0;
    }
    /* issue 9: at least 150 requests, each fed one byte at a time */
    assert_true(dm_nelems(cases) >= 150);
    print_message("%zu requests (%zu accepted, %zu refused), each whole and "
                  "byte by byte\n",
                  dm_nelems(cases), ok, dm_nelems(cases) - ok);
}

/* The class table against the definitions it encodes. */
static void
test_class_table(void **state)
{
    const char *tchar = "!#$%&'*+-.^_`|~", *host = "-_~!$&'()*+;=%";
    u_char want;
    int c;

    for (c = 0; c < 256; c++) {
        int alnum = isalnum(c) && c < 0x80;

        want = 0;
        if (alnum || (c && strchr(tchar, c))) {
            want |= DM_HTTP_C_TCHAR;
        }
        if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
            want |= DM_HTTP_C_FIELD;
        }
        if (c > 0x20 && c != 0x7f && !(c && strchr("%./?#", c))) {
            want |= DM_HTTP_C_PATH;
        }
        if (alnum || (c && strchr(host, c))) {
            want |= DM_HTTP_C_HOST;
        }
        if (c < 0x80 && isxdigit(c)) {
            want |= DM_HTTP_C_HEX;
        }
        if (c == '_') {
            want |= DM_HTTP_C_USCORE;
        }
        if (c >= '0' && c <= '9') {
            want |= DM_HTTP_C_DIGIT;
        }
        if (dm_http_parse_class[c] != want) {
            fail_msg("class of 0x%02x is 0x%02x, expected 0x%02x", c,
                     dm_http_parse_class[c], want);
        }
    }
}

static const dm_http_header_t *
find(const dm_http_request_head_t *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->nheaders; i++) {
        if (dm_http_header_is(&req->headers[i], name)) {
            return &req->headers[i];
        }
    }
    fail_msg("no field %s", name);
    return NULL;
}

/* Names and values as sent (OWS trimmed), ids, hop and underscore. */
static void
test_headers(void **state)
{
    static const char in[] = "GET / HTTP/1.1\r\n"
                             "hOsT:  a  \r\n"
                             "Connection: keep-alive, X-Hop, upgrade\r\n"
                             "Upgrade: websocket\r\n"
                             "x-hop: 1\r\n"
                             "X_Under: 2\r\n"
                             "Keep-Alive: timeout=5\r\n"
                             "TE: trailers\r\n"
                             "Proxy-Connection: close\r\n"
                             "Set-Cookie: a\r\n"
                             "Set-Cookie: b\r\n"
                             "Expect: 100-continue\r\n"
                             "X-Empty:\r\n"
                             "\r\n";
    dm_http_header_t headers[CHECK_MAX_HEADERS];
    dm_http_request_head_t req;
    const dm_http_header_t *h;
    check_verdict_t v;

    v = check_request_once((const u_char *) in, sizeof(in) - 1, LIM_DEFAULT,
                           &req, headers);
    assert_int_equal(v.rc, sizeof(in) - 1);
    assert_int_equal(req.nheaders, 12);

    h = find(&req, "Host");
    assert_int_equal(h->id, DM_HTTP_HDR_HOST);
    assert_true(h->name.len == 4 && memcmp(h->name.data, "hOsT", 4) == 0);
    assert_true(h->value.len == 1 && h->value.data[0] == 'a');
    assert_false(h->hop);
    assert_int_equal(find(&req, "connection")->id, DM_HTTP_HDR_CONNECTION);
    assert_true(find(&req, "connection")->hop);
    assert_int_equal(find(&req, "upgrade")->id, DM_HTTP_HDR_UPGRADE);
    assert_true(find(&req, "upgrade")->hop);
    assert_int_equal(find(&req, "x-hop")->id, DM_HTTP_HDR_OTHER);
    assert_true(find(&req, "x-hop")->hop);
    assert_true(find(&req, "x_under")->underscore);
    assert_false(find(&req, "x_under")->hop);
    assert_false(find(&req, "x-hop")->underscore);
    assert_int_equal(find(&req, "keep-alive")->id, DM_HTTP_HDR_KEEP_ALIVE);
    assert_true(find(&req, "keep-alive")->hop);
    assert_int_equal(find(&req, "te")->id, DM_HTTP_HDR_TE);
    assert_true(find(&req, "te")->hop);
    assert_int_equal(find(&req, "proxy-connection")->id,
                     DM_HTTP_HDR_PROXY_CONNECTION);
    assert_true(find(&req, "proxy-connection")->hop);
    assert_int_equal(find(&req, "expect")->id, DM_HTTP_HDR_EXPECT);
    assert_false(find(&req, "set-cookie")->hop);
    assert_int_equal(find(&req, "x-empty")->value.len, 0);
    /* both Set-Cookie fields are kept, in order */
    assert_true(headers[8].value.data[0] == 'a'
                && headers[9].value.data[0] == 'b');
    assert_true(req.keep_alive && req.upgrade && req.expect_continue);
    assert_int_equal(req.method_id, DM_HTTP_METHOD_GET);
}

static void
test_method_ids(void **state)
{
    static const struct {
        const char *method;
        unsigned id;
    } m[] = {
        {"GET", DM_HTTP_METHOD_GET},        {"HEAD", DM_HTTP_METHOD_HEAD},
        {"POST", DM_HTTP_METHOD_POST},      {"PUT", DM_HTTP_METHOD_PUT},
        {"DELETE", DM_HTTP_METHOD_DELETE},  {"OPTIONS", DM_HTTP_METHOD_OPTIONS},
        {"PATCH", DM_HTTP_METHOD_PATCH},    {"TRACE", DM_HTTP_METHOD_TRACE},
        {"get", DM_HTTP_METHOD_OTHER},      {"GETS", DM_HTTP_METHOD_OTHER},
        {"PROPFIND", DM_HTTP_METHOD_OTHER},
    };
    dm_http_header_t headers[CHECK_MAX_HEADERS];
    dm_http_request_head_t req;
    char in[64];
    size_t i;
    int n;

    for (i = 0; i < dm_nelems(m); i++) {
        n = snprintf(in, sizeof(in), "%s / HTTP/1.1\r\nHost: a\r\n\r\n",
                     m[i].method);
        assert_int_equal(check_request_once((u_char *) in, (size_t) n,
                                            LIM_DEFAULT, &req, headers)
                             .rc,
                         n);
        assert_int_equal(req.method_id, m[i].id);
    }
}

/*
 * The limits at their exact boundaries, built at run time: a head of
 * exactly max_head bytes passes, one more byte is 431; the same for the
 * request line and max_line (414); the headers array's capacity bounds
 * the count like max_headers.
 */
static void
test_limits(void **state)
{
    dm_http_parse_limits_t lim = {
        .max_line = 64, .max_head = 256, .max_headers = 10, .bare_lf = 1};
    dm_http_header_t headers[4];
    dm_http_parse_error_t err;
    dm_http_request_head_t req;
    char in[512];
    size_t fill, len;
    ssize_t rc;

    /* "GET /" + fill + " HTTP/1.1\r\n" is 16 + fill bytes */
    for (fill = 40; fill <= 56; fill++) {
        len = (size_t) snprintf(in, sizeof(in),
                                "GET /%.*s HTTP/1.1\r\n"
                                "Host: a\r\n\r\n",
                                (int) fill,
                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                "aaaaaaaaaaaaaaaaaaaaaaaaa");
        req.headers = headers;
        req.nheaders = 4;
        rc = dm_http_parse_request((u_char *) in, len, &lim, &req, &err);
        if (16 + fill <= 64) {
            assert_int_equal(rc, (ssize_t) len);
        } else {
            assert_int_equal(rc, DM_HTTP_PARSE_ERROR);
            assert_int_equal(err.status, 414);
        }
    }

    /* "GET / HTTP/1.1\r\nHost: a\r\nX: " + fill + "\r\n\r\n": 32 + fill */
    for (fill = 216; fill <= 232; fill++) {
        memcpy(in, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
        memset(in + 28, 'v', fill);
        memcpy(in + 28 + fill, "\r\n\r\n", 4);
        len = 32 + fill;
        req.headers = headers;
        req.nheaders = 4;
        rc = dm_http_parse_request((u_char *) in, len, &lim, &req, &err);
        if (len <= 256) {
            assert_int_equal(rc, (ssize_t) len);
        } else {
            assert_int_equal(rc, DM_HTTP_PARSE_ERROR);
            assert_int_equal(err.status, 431);
        }
    }

    /* the array holds 4 fields, max_headers says 10: the array wins */
    len = (size_t) snprintf(in, sizeof(in),
                            "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n"
                            "C: 3\r\nD: 4\r\n\r\n");
    req.headers = headers;
    req.nheaders = 4;
    rc = dm_http_parse_request((u_char *) in, len, &lim, &req, &err);
    assert_int_equal(rc, DM_HTTP_PARSE_ERROR);
    assert_int_equal(err.status, 431);

    /* 0 is no limit: only the array bounds the count */
    memset(&lim, 0, sizeof(lim));
    memset(in, 'v', sizeof(in));
    memcpy(in, "GET /", 5);
    memcpy(in + 400, " HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n", 28);
    len = 428;
    req.headers = headers;
    req.nheaders = 4;
    rc = dm_http_parse_request((u_char *) in, len, &lim, &req, &err);
    assert_int_equal(rc, (ssize_t) len);
    assert_int_equal(req.nheaders, 2);
}

/* Pipelined requests: each head ends where the next begins. */
static void
test_pipeline(void **state)
{
    static const char in[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                             "\r\n"
                             "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                             "POST /3 HTTP/1.1\r\nHost: a\r\n"
                             "Content-Length: 2\r\n\r\nok"
                             "GET /4 HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char *paths[] = {"/1", "/2", "/3", "/4"};
    dm_http_header_t headers[CHECK_MAX_HEADERS];
    dm_http_request_head_t req;
    size_t off = 0, i;
    check_verdict_t v;

    for (i = 0; i < 4; i++) {
        v = check_request_once((const u_char *) in + off, sizeof(in) - 1 - off,
                               LIM_DEFAULT, &req, headers);
        assert_true(v.rc > 0);
        check_str("pipeline", "path", &req.path, paths[i]);
        off += (size_t) v.rc;
        if (req.content_length > 0) {
            off += (size_t) req.content_length;
        }
    }
    assert_int_equal(off, sizeof(in) - 1);
}

static void
test_helpers(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cl[] = {
        {"0", 0},
        {"12", 12},
        {"1, 1", 1},
        {"1 ,1", 1},
        {"1\t,\t1", 1},
        {"01,1", 1},
        {"", -1},
        {" 1", -1},
        {"1 ", 1},
        {"1,2", -1},
        {"1,", -1},
        {",", -1},
        {"18446744073709551616", -1},
    };
    static const struct {
        const char *in;
        ssize_t want;
    } host[] = {
        {"a", 1},       {"a.", 1},       {"a.b.", 3},
        {"a:1", 1},     {"[::]", 4},     {"[::]:1", 4},
        {".", -1},      {"a..", -1},     {"[:::]:", 5},
        {"a:65535", 1}, {"a:65536", -1}, {"", -1},
        {"a:1:2", -1},  {"[x]", -1},     {"xn--caf-dma.example", 19},
    };
    size_t i;

    for (i = 0; i < dm_nelems(cl); i++) {
        if (dm_http_parse_content_length((const u_char *) cl[i].in,
                                         strlen(cl[i].in))
            != cl[i].want) {
            fail_msg("Content-Length \"%s\"", cl[i].in);
        }
    }
    for (i = 0; i < dm_nelems(host); i++) {
        if (dm_http_parse_host((const u_char *) host[i].in, strlen(host[i].in))
            != host[i].want) {
            fail_msg("Host \"%s\"", host[i].in);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),   cmocka_unit_test(test_class_table),
        cmocka_unit_test(test_headers), cmocka_unit_test(test_method_ids),
        cmocka_unit_test(test_limits),  cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
