/*
 * doorman: unit tests for the escapers of logged values
 * (src/core/dm_log_escape.c).
 *
 * Every byte 0x00 ... 0xff through each escaper; the JSON escaper on every
 * well-formed UTF-8 sequence (every code point U+0080 ... U+10FFFF but the
 * surrogates, kept as they are) and on each kind of ill-formed one (lone
 * continuation bytes, truncated sequences, overlong forms, surrogates,
 * code points above U+10FFFF, bytes that never occur), escaped byte by
 * byte; random inputs whose JSON escaping must be a valid JSON string body
 * in valid UTF-8; and the output length: what _len says, what is written
 * (no byte past it), and the bounds len <= n <= 4 len (6 len for JSON).
 */
#include <dm_core.h>
#include <dm_log_escape.h>

#include <ctype.h>
#include <setjmp.h>
#include <cmocka.h>

typedef size_t (*esc_len_pt)(const u_char *src, size_t len);
typedef u_char *(*esc_pt)(u_char *dst, const u_char *src, size_t len);

/*
 * Escapes `in` with the pair, checking that _len is what is written and
 * that nothing is written past it; the result is NUL-terminated in out.
 */
static size_t
escape(esc_len_pt flen, esc_pt fesc, const u_char *in, size_t len, u_char *out,
       size_t outsize)
{
    size_t n = flen(in, len);
    u_char *end;

    assert_true(n + 2 <= outsize);
    memset(out, 0xa5, outsize);
    end = fesc(out, in, len);
    assert_int_equal((size_t) (end - out), n);
    assert_int_equal(out[n], 0xa5); /* the canary after the output */
    out[n] = '\0';
    return n;
}

#define ESC_DEFAULT(in, len, out)                                              \
    escape(dm_log_escape_default_len, dm_log_escape_default, in, len, out,     \
           sizeof(out))
#define ESC_JSON(in, len, out)                                                 \
    escape(dm_log_escape_json_len, dm_log_escape_json, in, len, out,           \
           sizeof(out))

static void
expect_json(const char *in, size_t len, const char *want)
{
    u_char out[256];

    ESC_JSON((const u_char *) in, len, out);
    if (strcmp((char *) out, want) != 0) {
        fail_msg("json escaping of a %zu-byte input: got \"%s\", expected "
                 "\"%s\"",
                 len, out, want);
    }
}

static void
test_default_every_byte(void **state)
{
    u_char in[1], out[16], want[16];
    unsigned b;

    for (b = 0; b < 256; b++) {
        in[0] = (u_char) b;
        ESC_DEFAULT(in, 1, out);
        if (b < 0x20 || b >= 0x7f || b == '"' || b == '\\') {
            snprintf((char *) want, sizeof(want), "\\x%02X", b);
        } else {
            want[0] = (u_char) b;
            want[1] = '\0';
        }
        if (strcmp((char *) out, (char *) want) != 0) {
            fail_msg("default escaping of 0x%02x: got \"%s\", expected "
                     "\"%s\"",
                     b, out, want);
        }
    }
}

static void
test_default_string(void **state)
{
    static const u_char in[] = "GET /a\"b\\c\td\xc3\xa9\x7f ok";
    u_char out[128];

    ESC_DEFAULT(in, sizeof(in) - 1, out);
    assert_string_equal((char *) out,
                        "GET /a\\x22b\\x5Cc\\x09d\\xC3\\xA9\\x7F ok");
    /* nothing to escape, nothing changed; empty stays empty */
    assert_int_equal(ESC_DEFAULT((const u_char *) "plain text", 10, out), 10);
    assert_string_equal((char *) out, "plain text");
    assert_int_equal(ESC_DEFAULT((const u_char *) "", 0, out), 0);
}

static void
test_json_every_byte(void **state)
{
    static const char *const shorts[256] = {
        ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n", ['\r'] = "\\r",
        ['\t'] = "\\t", ['\b'] = "\\b",  ['\f'] = "\\f",
    };
    char in[1], want[16];
    unsigned b;

    for (b = 0; b < 256; b++) {
        in[0] = (char) b;
        if (shorts[b]) {
            snprintf(want, sizeof(want), "%s", shorts[b]);
        } else if (b < 0x20 || b >= 0x7f) {
            /* control bytes and DEL; a byte >= 0x80 alone is never
               well-formed UTF-8 */
            snprintf(want, sizeof(want), "\\u%04x", b);
        } else {
            want[0] = (char) b;
            want[1] = '\0';
        }
        expect_json(in, 1, want);
    }
}

/* The UTF-8 form of code point cp in p; returns its length. */
static size_t
utf8_encode(uint32_t cp, u_char *p)
{
    if (cp < 0x80) {
        p[0] = (u_char) cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (u_char) (0xc0 | (cp >> 6));
        p[1] = (u_char) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (u_char) (0xe0 | (cp >> 12));
        p[1] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        p[2] = (u_char) (0x80 | (cp & 0x3f));
        return 3;
    }
    p[0] = (u_char) (0xf0 | (cp >> 18));
    p[1] = (u_char) (0x80 | ((cp >> 12) & 0x3f));
    p[2] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
    p[3] = (u_char) (0x80 | (cp & 0x3f));
    return 4;
}

static void
test_json_valid_utf8_kept(void **state)
{
    u_char in[8], out[64];
    uint32_t cp;
    size_t n;

    /* every code point of 2, 3 and 4 bytes, surrogates excepted, alone and
       between ASCII letters */
    for (cp = 0x80; cp <= 0x10ffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) {
            continue;
        }
        in[0] = 'a';
        n = utf8_encode(cp, in + 1);
        in[n + 1] = 'z';
        if (ESC_JSON(in, n + 2, out) != n + 2 || memcmp(in, out, n + 2) != 0) {
            fail_msg("U+%04X (%zu bytes) was not kept as it is", cp, n);
        }
    }
    expect_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void
test_json_invalid_utf8(void **state)
{
    /* lone continuation bytes */
    expect_json("\x80", 1, "\\u0080");
    expect_json("a\xbf"
                "b",
                3, "a\\u00bfb");
    expect_json("\xc3\xa9\xa9", 3, "\xc3\xa9\\u00a9");
    /* truncated sequences: at the end, or followed by ASCII (resync at the
       byte after the lead) */
    expect_json("\xc3", 1, "\\u00c3");
    expect_json("\xe2\x82", 2, "\\u00e2\\u0082");
    expect_json("\xe2\x82"
                "A",
                3, "\\u00e2\\u0082A");
    expect_json("\xf0\x9f\x98", 3, "\\u00f0\\u009f\\u0098");
    expect_json("\xf0\x9f\x98"
                "\"",
                4, "\\u00f0\\u009f\\u0098\\\"");
    /* a lead byte followed by another lead byte that starts a good one */
    expect_json("\xe2\xc3\xa9", 3, "\\u00e2\xc3\xa9");
    /* overlong forms */
    expect_json("\xc0\x80", 2, "\\u00c0\\u0080");
    expect_json("\xc1\xbf", 2, "\\u00c1\\u00bf");
    expect_json("\xe0\x80\x80", 3, "\\u00e0\\u0080\\u0080");
    expect_json("\xe0\x9f\xbf", 3, "\\u00e0\\u009f\\u00bf");
    expect_json("\xf0\x80\x80\x80", 4, "\\u00f0\\u0080\\u0080\\u0080");
    expect_json("\xf0\x8f\xbf\xbf", 4, "\\u00f0\\u008f\\u00bf\\u00bf");
    /* UTF-16 surrogates U+D800 and U+DFFF */
    expect_json("\xed\xa0\x80", 3, "\\u00ed\\u00a0\\u0080");
    expect_json("\xed\xbf\xbf", 3, "\\u00ed\\u00bf\\u00bf");
    /* above U+10FFFF */
    expect_json("\xf4\x90\x80\x80", 4, "\\u00f4\\u0090\\u0080\\u0080");
    expect_json("\xf5\x80\x80\x80", 4, "\\u00f5\\u0080\\u0080\\u0080");
    expect_json("\xf7\xbf\xbf\xbf", 4, "\\u00f7\\u00bf\\u00bf\\u00bf");
    /* bytes that never occur */
    expect_json("\xfe\xff", 2, "\\u00fe\\u00ff");
    /* a NUL inside */
    expect_json("a\0b", 3, "a\\u0000b");
}

/*
 * Whether out is the body of a JSON string in well-formed UTF-8: escapes
 * are \" \\ \/ \b \f \n \r \t or \uXXXX, no byte below 0x20, no bare `"`.
 */
static int
json_body_ok(const u_char *p, size_t n)
{
    size_t i = 0, k, seq;
    u_char c;

    while (i < n) {
        c = p[i];
        if (c == '\\') {
            if (i + 1 >= n) {
                return 0;
            }
            c = p[i + 1];
            if (c == 'u') {
                if (i + 6 > n) {
                    return 0;
                }
                for (k = 2; k < 6; k++) {
                    if (!isxdigit(p[i + k])) {
                        return 0;
                    }
                }
                i += 6;
            } else if (strchr("\"\\/bfnrt", c) && c) {
                i += 2;
            } else {
                return 0;
            }
            continue;
        }
        if (c < 0x20 || c == '"') {
            return 0;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        seq = (c >= 0xc2 && c <= 0xdf)   ? 2
              : (c >= 0xe0 && c <= 0xef) ? 3
              : (c >= 0xf0 && c <= 0xf4) ? 4
                                         : 0;
        if (seq == 0 || i + seq > n) {
            return 0;
        }
        for (k = 1; k < seq; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f)
            || (c == 0xf0 && p[i + 1] < 0x90)
            || (c == 0xf4 && p[i + 1] > 0x8f)) {
            return 0;
        }
        i += seq;
    }
    return 1;
}

static void
test_json_random_is_valid(void **state)
{
    u_char in[24], out[24 * DM_LOG_ESCAPE_JSON_MAX + 2];
    uint32_t x = 12345;
    size_t len, n, i;
    unsigned round;

    for (round = 0; round < 200000; round++) {
        len = round % sizeof(in);
        for (i = 0; i < len; i++) {
            x = x * 1103515245 + 12345;
            /* bias towards the interesting bytes: high ones and controls */
            in[i] = (u_char) ((x >> 16) & ((x & 0x100) ? 0xff : 0xbf));
        }
        n = ESC_JSON(in, len, out);
        if (!json_body_ok(out, n)) {
            fail_msg("round %u: the escaping of %zu bytes is not a valid "
                     "JSON string body",
                     round, len);
        }
    }
}

static void
test_length_bounds(void **state)
{
    u_char in[256], out[256 * DM_LOG_ESCAPE_JSON_MAX + 2];
    size_t n;
    unsigned b;

    /* every byte once: each escaper's length lies within its bounds */
    for (b = 0; b < 256; b++) {
        in[b] = (u_char) b;
    }
    n = ESC_DEFAULT(in, 256, out);
    assert_true(n >= 256 && n <= 256 * DM_LOG_ESCAPE_DEFAULT_MAX);
    n = ESC_JSON(in, 256, out);
    assert_true(n >= 256 && n <= 256 * DM_LOG_ESCAPE_JSON_MAX);

    /* the bounds are reached: controls only */
    memset(in, 0x01, 64);
    assert_int_equal(ESC_DEFAULT(in, 64, out), 64 * DM_LOG_ESCAPE_DEFAULT_MAX);
    assert_int_equal(ESC_JSON(in, 64, out), 64 * DM_LOG_ESCAPE_JSON_MAX);
    /* and the lower one: printable ASCII */
    memset(in, 'a', 64);
    assert_int_equal(ESC_DEFAULT(in, 64, out), 64);
    assert_int_equal(ESC_JSON(in, 64, out), 64);
    assert_int_equal(ESC_JSON(in, 0, out), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_every_byte),
        cmocka_unit_test(test_default_string),
        cmocka_unit_test(test_json_every_byte),
        cmocka_unit_test(test_json_valid_utf8_kept),
        cmocka_unit_test(test_json_invalid_utf8),
        cmocka_unit_test(test_json_random_is_valid),
        cmocka_unit_test(test_length_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
