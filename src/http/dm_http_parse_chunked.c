/*
 * doorman: the chunked transfer coding decoder (RFC 9112 section 7.1).
 *
 * A resumable state machine, one state per position in the grammar, so
 * that a body split anywhere (one byte at a time, in the worst case)
 * decodes exactly as it does whole. Chunk data is never copied: the
 * decoder points at it in the caller's buffer and returns, and the
 * caller forwards it before asking for more.
 *
 * It is strict where parsers are known to differ, which is where
 * request smuggling lives: CRLF only (no bare LF, since the framing may
 * be relayed as it came), whitespace only where the grammar has BWS
 * (before ';' and around '='; not after a size alone, not at the end of
 * an extension), no empty extension name, exact CRLF after the data,
 * sizes below 2^63. Extensions and trailers are bounded over the whole
 * body (a client could otherwise send them forever with no data);
 * trailers are checked as fields and dropped, as nginx does.
 */
#include <dm_core.h>
#include <dm_http_parse.h>

/* Decoder states: where in the grammar the next byte goes. */
#define DM_HTTP_CH_SIZE_FIRST    0  /* the first HEXDIG of a size */
#define DM_HTTP_CH_SIZE          1  /* more HEXDIG, or what ends them */
#define DM_HTTP_CH_SEMI_BWS      2  /* BWS: only ';' may follow */
#define DM_HTTP_CH_NAME_FIRST    3  /* after ';': BWS, then a name */
#define DM_HTTP_CH_NAME          4  /* an extension name */
#define DM_HTTP_CH_NAME_BWS      5  /* BWS after a name: ';' or '=' */
#define DM_HTTP_CH_VALUE_FIRST   6  /* after '=': BWS, then a value */
#define DM_HTTP_CH_VALUE         7  /* a token value */
#define DM_HTTP_CH_QUOTED        8  /* a quoted-string value */
#define DM_HTTP_CH_QUOTED_PAIR   9  /* after '\' in it */
#define DM_HTTP_CH_QUOTED_END    10 /* after its closing '"' */
#define DM_HTTP_CH_SIZE_LF       11 /* the LF of the size line */
#define DM_HTTP_CH_DATA          12 /* chunk data: ch->size bytes */
#define DM_HTTP_CH_DATA_CR       13 /* the CRLF after the data */
#define DM_HTTP_CH_DATA_LF       14
#define DM_HTTP_CH_TRAILER       15 /* a trailer line, or the end */
#define DM_HTTP_CH_TRAILER_NAME  16
#define DM_HTTP_CH_TRAILER_VALUE 17
#define DM_HTTP_CH_TRAILER_LF    18
#define DM_HTTP_CH_LAST_LF       19 /* the LF of the final empty line */
#define DM_HTTP_CH_DONE          20
#define DM_HTTP_CH_ERROR         21

/* The states that read chunk extensions, whose bytes are counted. */
#define dm_http_ch_in_ext(s)                                                   \
    ((s) >= DM_HTTP_CH_SEMI_BWS && (s) <= DM_HTTP_CH_QUOTED_END)

/* The states that read trailers, whose bytes are counted. */
#define dm_http_ch_in_trailer(s)                                               \
    ((s) >= DM_HTTP_CH_TRAILER && (s) <= DM_HTTP_CH_LAST_LF)

void
dm_http_chunked_init(dm_http_chunked_t *ch)
{
    memset(ch, 0, sizeof(*ch));
    ch->state = DM_HTTP_CH_SIZE_FIRST;
}

static dm_int_t
dm_http_chunked_fail(dm_http_chunked_t *ch, dm_http_parse_error_t *err,
                     unsigned status, const char *reason)
{
    ch->state = DM_HTTP_CH_ERROR;
    err->status = status;
    err->reason = reason;
    return DM_ERROR;
}

/* The value of a HEXDIG. */
static unsigned
dm_http_chunked_hex(u_char c)
{
    return c <= '9' ? (unsigned) (c - '0') : (unsigned) ((c | 0x20) - 'a' + 10);
}

/*
 * The next state after byte c of a chunk-size line in state s, or
 * DM_HTTP_CH_ERROR. The digits themselves are read by the caller.
 */
static unsigned
dm_http_chunked_ext(unsigned s, u_char c)
{
    u_char cl = dm_http_parse_class[c];
    int ws = (c == ' ' || c == '\t');

    switch (s) {
    case DM_HTTP_CH_SIZE:
    case DM_HTTP_CH_VALUE:
    case DM_HTTP_CH_QUOTED_END:
        if (s == DM_HTTP_CH_VALUE && (cl & DM_HTTP_C_TCHAR)) {
            return s;
        }
        return ws          ? DM_HTTP_CH_SEMI_BWS
               : c == ';'  ? DM_HTTP_CH_NAME_FIRST
               : c == '\r' ? DM_HTTP_CH_SIZE_LF
                           : DM_HTTP_CH_ERROR;
    case DM_HTTP_CH_SEMI_BWS:
        return ws ? s : c == ';' ? DM_HTTP_CH_NAME_FIRST : DM_HTTP_CH_ERROR;
    case DM_HTTP_CH_NAME_FIRST:
        return ws                       ? s
               : (cl & DM_HTTP_C_TCHAR) ? DM_HTTP_CH_NAME
                                        : DM_HTTP_CH_ERROR;
    case DM_HTTP_CH_NAME:
        if (cl & DM_HTTP_C_TCHAR) {
            return s;
        }
        return ws          ? DM_HTTP_CH_NAME_BWS
               : c == '='  ? DM_HTTP_CH_VALUE_FIRST
               : c == ';'  ? DM_HTTP_CH_NAME_FIRST
               : c == '\r' ? DM_HTTP_CH_SIZE_LF
                           : DM_HTTP_CH_ERROR;
    case DM_HTTP_CH_NAME_BWS:
        return ws         ? s
               : c == '=' ? DM_HTTP_CH_VALUE_FIRST
               : c == ';' ? DM_HTTP_CH_NAME_FIRST
                          : DM_HTTP_CH_ERROR;
    case DM_HTTP_CH_VALUE_FIRST:
        return ws                       ? s
               : c == '"'               ? DM_HTTP_CH_QUOTED
               : (cl & DM_HTTP_C_TCHAR) ? DM_HTTP_CH_VALUE
                                        : DM_HTTP_CH_ERROR;
    case DM_HTTP_CH_QUOTED:
        /* qdtext is a field byte but '"' and '\' */
        return c == '"'                 ? DM_HTTP_CH_QUOTED_END
               : c == '\\'              ? DM_HTTP_CH_QUOTED_PAIR
               : (cl & DM_HTTP_C_FIELD) ? s
                                        : DM_HTTP_CH_ERROR;
    case DM_HTTP_CH_QUOTED_PAIR:
        return (cl & DM_HTTP_C_FIELD) ? DM_HTTP_CH_QUOTED : DM_HTTP_CH_ERROR;
    }
    return DM_HTTP_CH_ERROR;
}

dm_int_t
dm_http_chunked_parse(dm_http_chunked_t *ch, const u_char *buf, size_t len,
                      uint64_t max_body, size_t *consumed, const u_char **data,
                      size_t *data_len, dm_http_parse_error_t *err)
{
    const u_char *p = buf, *end = buf + len;
    unsigned s = ch->state, prev;
    uint64_t n;
    u_char c, cl;

    *consumed = 0;
    *data = NULL;
    *data_len = 0;

    if (s == DM_HTTP_CH_DONE) {
        return DM_DONE;
    }
    if (s == DM_HTTP_CH_ERROR) {
        err->status = 400;
        err->reason = "chunked body already refused";
        return DM_ERROR;
    }

    while (p < end) {

        if (s == DM_HTTP_CH_DATA) {
            n = dm_min(ch->size, (uint64_t) (end - p));
            ch->size -= n;
            ch->total += n;
            if (ch->size == 0) {
                s = DM_HTTP_CH_DATA_CR;
            }
            ch->state = s;
            *data = p;
            *data_len = (size_t) n;
            *consumed = (size_t) (p + n - buf);
            return DM_OK;
        }

        c = *p++;
        cl = dm_http_parse_class[c];

        if (dm_http_ch_in_ext(s) && ++ch->ext_len > DM_HTTP_CHUNKED_MAX_EXT) {
            return dm_http_chunked_fail(ch, err, 400,
                                        "chunk extensions too long");
        }
        if (dm_http_ch_in_trailer(s)
            && ++ch->trailer_len > DM_HTTP_CHUNKED_MAX_TRAILER) {
            return dm_http_chunked_fail(ch, err, 400, "trailers too large");
        }

        switch (s) {

        case DM_HTTP_CH_SIZE_FIRST:
        case DM_HTTP_CH_SIZE:
            if (cl & DM_HTTP_C_HEX) {
                /* below 2^63, so that sizes and totals fit an off_t */
                if (ch->size >> 59) {
                    return dm_http_chunked_fail(ch, err, 400,
                                                "chunk size too large");
                }
                ch->size = ch->size << 4 | dm_http_chunked_hex(c);
                if (max_body && ch->size > max_body - ch->total) {
                    return dm_http_chunked_fail(ch, err, 413,
                                                "request body too large");
                }
                s = DM_HTTP_CH_SIZE;
                break;
            }
            if (s == DM_HTTP_CH_SIZE_FIRST) {
                return dm_http_chunked_fail(ch, err, 400, "invalid chunk size");
            }
            /* fall through */
        case DM_HTTP_CH_SEMI_BWS:
        case DM_HTTP_CH_NAME_FIRST:
        case DM_HTTP_CH_NAME:
        case DM_HTTP_CH_NAME_BWS:
        case DM_HTTP_CH_VALUE_FIRST:
        case DM_HTTP_CH_VALUE:
        case DM_HTTP_CH_QUOTED:
        case DM_HTTP_CH_QUOTED_PAIR:
        case DM_HTTP_CH_QUOTED_END:
            prev = s;
            s = dm_http_chunked_ext(s, c);
            if (s == DM_HTTP_CH_ERROR) {
                return dm_http_chunked_fail(ch, err, 400,
                                            prev == DM_HTTP_CH_SIZE
                                                ? "invalid chunk size"
                                                : "invalid chunk extension");
            }
            break;

        case DM_HTTP_CH_SIZE_LF:
            if (c != '\n') {
                return dm_http_chunked_fail(ch, err, 400, "bare CR");
            }
            s = ch->size ? DM_HTTP_CH_DATA : DM_HTTP_CH_TRAILER;
            break;

        case DM_HTTP_CH_DATA_CR:
            if (c != '\r') {
                return dm_http_chunked_fail(ch, err, 400,
                                            "no CRLF after chunk data");
            }
            s = DM_HTTP_CH_DATA_LF;
            break;

        case DM_HTTP_CH_DATA_LF:
            if (c != '\n') {
                return dm_http_chunked_fail(ch, err, 400,
                                            "no CRLF after chunk data");
            }
            s = DM_HTTP_CH_SIZE_FIRST;
            break;

        case DM_HTTP_CH_TRAILER:
            if (c == '\r') {
                s = DM_HTTP_CH_LAST_LF;
            } else if (cl & DM_HTTP_C_TCHAR) {
                s = DM_HTTP_CH_TRAILER_NAME;
            } else {
                return dm_http_chunked_fail(ch, err, 400, "invalid trailer");
            }
            break;

        case DM_HTTP_CH_TRAILER_NAME:
            if (c == ':') {
                s = DM_HTTP_CH_TRAILER_VALUE;
            } else if (!(cl & DM_HTTP_C_TCHAR)) {
                return dm_http_chunked_fail(ch, err, 400, "invalid trailer");
            }
            break;

        case DM_HTTP_CH_TRAILER_VALUE:
            if (c == '\r') {
                s = DM_HTTP_CH_TRAILER_LF;
            } else if (!(cl & DM_HTTP_C_FIELD)) {
                return dm_http_chunked_fail(ch, err, 400, "invalid trailer");
            }
            break;

        case DM_HTTP_CH_TRAILER_LF:
        case DM_HTTP_CH_LAST_LF:
            if (c != '\n') {
                return dm_http_chunked_fail(ch, err, 400, "bare CR");
            }
            if (s == DM_HTTP_CH_LAST_LF) {
                ch->state = DM_HTTP_CH_DONE;
                *consumed = (size_t) (p - buf);
                return DM_DONE;
            }
            s = DM_HTTP_CH_TRAILER;
            break;
        }
    }

    ch->state = s;
    *consumed = len;
    return DM_AGAIN;
}
