#!/usr/bin/env python3
"""
doorman: writes t/unit/http/llhttp_vectors.h, the llhttp request vectors
that t/unit/http/test_http_llhttp.c runs through doorman's parser.

    python3 t/unit/http/llhttp_vectors.py \
        ../shared/corpora/llhttp-request-vectors.tsv > t/unit/http/llhttp_vectors.h
    clang-format -i t/unit/http/llhttp_vectors.h

Source: llhttp-request-vectors.tsv, 123 requests converted from the test
fixtures of nodejs/llhttp (test/request/*.md, MIT licence), each with
llhttp's verdict in strict mode. The tests read only the generated header,
never the TSV (the suite reads nothing outside the project).

The TSV lost the line ends at the end of each fixture (the markdown code
blocks end with an empty line, the conversion trimmed it, e.g. "PUT /url
HTTP/1.1\\r\\nConnection: keep-alive\\r\\n" is what llhttp read with one
more "\\r\\n"; see nodejs/llhttp test/request/content-length.md). So each
vector is run as the TSV has it, and again with them put back
("restored", see variants()).

EXPECT gives doorman's verdict for every run, decided by DESIGN.md
section 7 and written down by hand: "again" (the last message needs more
bytes), "done" (every byte read as complete messages), "tunnel" (an
upgrade or CONNECT head: what follows is not HTTP), "close" (the message
is not keep-alive: what follows is not read), or an HTTP status (the
message is refused), after a number of complete messages. A note says
where and why doorman's verdict is not llhttp's; the test prints them.
"""
import sys
import textwrap

# line in the TSV, run ("-", "restored" or "host"), messages read
# complete, verdict, and a note when doorman's verdict is not llhttp's
# (a key of NOTES).
EXPECT = """
2    -        0 again  trunc
2    restored 0 400    nohost
2    host     1 done
3    -        0 400    nohost
3    restored 0 400    nohost
3    host     2 done
4    -        1 close
4    restored 1 close
4    host     1 close
5    -        0 again  trunc
5    restored 0 400    nohost
5    host     1 close
6    -        0 again  trunc
6    restored 0 400    nohost
6    host     1 close
7    -        0 400    nohost
7    host     1 tunnel
8    -        0 400
8    host     0 400
9    -        0 again  trunc
9    restored 0 400    nohost
9    host     1 tunnel
10   -        0 400    nohost
10   host     1 tunnel
11   -        1 tunnel
12   -        1 tunnel
13   -        0 400    nohost
13   host     1 done
14   -        0 400    nohost
14   host     1 done
15   -        0 again  lineend
15   restored 0 400
15   host     0 400
16   -        0 again  lineend
16   restored 0 400
16   host     0 400
17   -        0 again  headend
17   restored 0 400
17   host     0 400
18   -        0 400
18   host     0 400
19   -        1 close
20   -        0 again
20   restored 0 400    nohost
20   host     0 again
21   -        0 again
21   restored 0 400    nohost
21   host     0 again
22   -        0 400
22   restored 0 400
22   host     0 400
23   -        0 400
23   restored 0 400
23   host     0 400
24   -        0 400
24   restored 0 400
24   host     0 400
25   -        0 400
25   host     0 400
26   -        0 400    nohost
26   restored 0 400    nohost
26   host     0 again  skipbody
27   -        0 400
27   restored 0 400
27   host     0 400
28   -        0 400
28   restored 0 400
29   -        0 400
29   restored 0 400
30   -        0 400
30   restored 0 400
31   -        0 again  method
31   restored 1 close  method
32   -        0 400
32   restored 0 400
32   host     0 400
33   -        0 again  barelf
34   -        0 400
34   restored 0 400
35   -        0 400
36   -        0 again  barelf
37   -        0 400
37   restored 0 400
37   host     0 400
38   -        0 400
38   restored 0 400
38   host     0 400
39   -        0 400
39   restored 0 400
39   host     0 400
40   -        0 again  method
40   restored 0 400
40   host     1 done   method
41   -        0 400
41   restored 0 400
41   host     0 400
42   -        0 400
42   restored 0 400
43   -        0 400
43   restored 0 400
44   -        0 again  version_trunc
44   restored 0 505    version
45   -        0 400
45   restored 0 400
46   -        0 400    barelf_host
46   restored 0 400    barelf_host
47   -        0 400
47   restored 0 400
47   host     0 400
48   -        0 400
48   host     0 400
49   -        0 again  trunc
49   restored 0 400    nohost
49   host     1 done
50   -        1 tunnel
51   -        0 again  trunc
51   restored 1 tunnel
52   -        1 tunnel
53   -        0 400    asterisk
53   restored 0 400    asterisk
54   -        1 done
55   -        0 again  trunc
55   restored 1 done
56   -        0 again  trunc
56   restored 1 done
57   -        0 again  trunc
57   restored 1 done
58   -        0 again  trunc
58   restored 1 done
59   -        0 again  trunc
59   restored 1 done
60   -        0 400    rtsp
60   restored 0 400    rtsp
61   -        0 400    rtsp
61   restored 0 400    rtsp
62   -        0 400    rtsp
62   restored 0 400    rtsp
63   -        0 400    asterisk
63   restored 0 400    asterisk
63   host     0 400    asterisk
64   -        1 done
65   -        0 400    nohost
65   host     1 done
66   -        0 400    nohost
66   host     1 done
67   -        0 400    nohost
67   host     1 done
68   -        0 400    nohost
68   host     1 done
69   -        0 400    nohost
69   host     1 done
70   -        0 400    nohost
70   host     1 done
71   -        0 400    nohost
71   host     1 done
72   -        0 400    nohost
72   host     1 done
73   -        0 400    nohost
73   host     1 done
74   -        0 400    nohost
74   restored 0 400    nohost
74   host     1 done
75   -        0 400    nohost
75   restored 0 400    nohost
75   host     1 done
76   -        0 400    nohost
76   restored 0 400    nohost
76   host     1 done
77   -        0 400    nohost
77   restored 0 400    nohost
77   host     1 done
78   -        0 400    nohost
78   host     2 again
79   -        0 again  trunc
79   restored 0 400    nohost
79   host     1 done
80   -        0 again  trunc
80   restored 0 400    nohost
80   host     1 done
81   -        0 again  trunc
81   restored 1 done
82   -        0 again  trunc
82   restored 1 done
83   -        0 again  trunc
83   restored 0 400    nohost
83   host     1 done
84   -        0 again  trunc
84   restored 0 400    nohost
84   host     1 done
85   -        0 again  trunc
85   restored 0 400    nohost
85   host     1 done
86   -        0 again  trunc
86   restored 1 close
87   -        0 again  trunc
87   restored 0 400    nohost
87   host     1 done
88   -        0 400    http09
88   restored 0 400    http09
89   -        0 again  trunc
89   restored 0 400    nohost
89   host     1 done
90   -        0 again  trunc
90   restored 0 400    nohost
90   host     1 done
91   -        0 again  trunc
91   restored 0 400    nohost
91   host     1 done
92   -        0 again
92   restored 0 400    nohost
92   host     0 again
93   -        0 400    nohost
93   restored 0 400    nohost
93   host     1 done
94   -        0 400    nohost
94   restored 0 400    nohost
94   host     1 done
95   -        0 400    nohost
95   restored 0 400    nohost
95   host     1 done
96   -        0 400    nohost
96   restored 0 400    nohost
96   host     1 done
97   -        0 400    nohost
97   restored 0 400    nohost
97   host     1 done
98   -        0 400    nohost
98   host     0 again
99   -        0 400
99   restored 0 400
100  -        0 400
100  restored 0 400
101  -        0 400    nohost
101  host     0 again
102  -        0 400
102  host     0 400
103  -        0 again  headend
103  restored 0 400
103  host     0 400
104  -        0 400
104  host     0 400
105  -        0 400
106  -        0 400
106  host     0 400
107  -        0 400
107  host     0 400
108  -        0 400    nohost
108  restored 0 400    nohost
108  host     0 501    te501
109  -        0 400    nohost
109  restored 0 400    nohost
109  host     0 501    te501
110  -        0 400
110  restored 0 400
110  host     0 400
111  -        0 400
111  restored 0 400
111  host     0 400
112  -        0 400
112  restored 0 400
112  host     0 400
113  -        0 400
113  restored 0 400
113  host     0 400
114  -        0 again  trunc
114  restored 0 400    nohost
114  host     1 done
115  -        0 again  trunc
115  restored 0 400    nohost
115  host     1 done
116  -        0 400    nohost
116  host     1 done
117  -        0 again  trunc
117  restored 0 400    nohost
117  host     1 done
118  -        0 again  trunc
118  restored 0 400    nohost
118  host     1 done
119  -        0 again  trunc
119  restored 0 400    nohost
119  host     1 done
120  -        0 again  utf8
120  restored 1 done   utf8
121  -        0 again  trunc
121  restored 0 400    nohost
121  host     1 done
122  -        0 again  trunc
122  restored 1 tunnel
123  -        0 400    userinfo
123  restored 0 400    userinfo
123  host     0 400    userinfo
124  -        0 400
124  restored 0 400
124  host     0 400
"""

# Why doorman and llhttp differ. "TSV:" the difference comes from the
# truncated fixture only; "DESIGN:" DESIGN.md section 7 decides against
# llhttp (or goes further than it).
NOTES = {
    "trunc": "TSV: the empty line ending the head was trimmed, so the head "
             "is incomplete (the restored run has it)",
    "nohost": "DESIGN: HTTP/1.1 without exactly one valid Host is 400; "
              "llhttp does not check Host (the host run shows the rest)",
    "lineend": "DESIGN: a field is judged when its line ends, which the TSV "
               "trimmed (the restored run is refused)",
    "headend": "DESIGN: the framing fields are judged together when the head "
               "ends, which the TSV trimmed (the restored run is refused)",
    "method": "DESIGN: any method token is accepted; llhttp knows a fixed "
              "list",
    "barelf": "DESIGN: bare LF ends a line (limits.bare_lf, doorman's "
              "default: the head is regenerated, so no later parser reads "
              "it); the head is complete and the chunked body needs more",
    "barelf_host": "DESIGN: bare LF ends a line (limits.bare_lf), so "
                   "llhttp's reason does not apply; the head is refused for "
                   "Host (and its chunked body, with bare LF, would be too)",
    "version_trunc": "DESIGN: the version is judged at its line end, which "
                     "the TSV trimmed",
    "version": "DESIGN (a choice it leaves open): a well-formed version "
               "other than 1.0 and 1.1 is 505, as nginx",
    "asterisk": "DESIGN: asterisk-form is for OPTIONS only (RFC 9112 "
                "section 3.2.4): 400, the HTTP/2 preface included",
    "rtsp": "DESIGN: HTTP/1.0 and HTTP/1.1 only: ICE/ and RTSP/ versions "
            "are 400",
    "http09": "DESIGN: a request line without a version (HTTP/0.9) is 400",
    "te501": "DESIGN: doorman implements chunked only: another coding "
             "before a last chunked is 501 (as nginx)",
    "utf8": "DESIGN: raw UTF-8 in the target is accepted, llhttp's strict "
            "mode refuses it (the truncated run waits for the head's end)",
    "userinfo": "DESIGN: userinfo in an absolute-form target is 400 "
                "(RFC 9110 section 4.2.4)",
    "skipbody": "TSV: llhttp's fixture skips the body (meta skipBody); "
                "doorman reads the 123 bytes the head announces, so the "
                "second request is body",
}


def expectations():
    out = {}
    for line in EXPECT.strip().split("\n"):
        f = line.split()
        if not f:
            continue
        key = (int(f[0]), "" if f[1] == "-" else f[1])
        assert key not in out, key
        out[key] = (int(f[2]), f[3], NOTES[f[4]] if len(f) > 4 else None)
    return out


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        e = s[i + 1]
        if e in "rnt\\":
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}[e]
            i += 2
        elif e == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            raise ValueError("unknown escape \\%s" % e)
    return bytes(out)


def variants(data, verdict):
    """The runs of a vector: as the TSV has it; "restored", with the line
    ends the conversion trimmed put back: one CRLF when the bytes end with
    a single one, two when they end inside a head line; "host", with
    "Host: h" after each HTTP/1.1 request line when it has no Host field
    (from the restored bytes if any), so that the other rules are tried
    too, not only the Host rule."""
    out = [("", data)]
    if data.endswith(b"\r\n") and not data.endswith(b"\r\n\r\n"):
        data = data + b"\r\n"
        out.append(("restored", data))
    elif b"\r\n\r\n" not in data and not data.endswith(b"\n"):
        data = data + b"\r\n\r\n"
        out.append(("restored", data))
    if b"host:" not in data.lower() and b" HTTP/1.1\r\n" in data:
        out.append(("host", data.replace(b" HTTP/1.1\r\n",
                                          b" HTTP/1.1\r\nHost: h\r\n")))
    return out


def c_string(b):
    """A C string literal of the bytes, split so clang-format keeps it."""
    parts, cur = [], ""
    for x in b:
        ch = chr(x)
        if ch == "\r":
            cur += "\\r"
        elif ch == "\n":
            cur += "\\n"
        elif ch == "\t":
            cur += "\\t"
        elif ch in "\"\\":
            cur += "\\" + ch
        elif 0x20 <= x < 0x7f and ch != "?":
            cur += ch
        else:
            cur += "\\%03o" % x
        if len(cur) > 56 or ch == "\n":
            parts.append(cur)
            cur = ""
    if cur or not parts:
        parts.append(cur)
    return "\n".join('"%s"' % p for p in parts)


def c_text(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else \
        "../shared/corpora/llhttp-request-vectors.tsv"
    with open(path, encoding="latin-1") as f:
        lines = f.read().split("\n")
    runs = []
    for n, line in enumerate(lines[1:], 2):
        if not line:
            continue
        group, name, mode, raw, verdict = line.split("\t")
        assert mode == "request"
        data = unescape(raw)
        for tag, variant in variants(data, verdict):
            runs.append((n, tag, group, name, variant, verdict))

    print("/*")
    print(" * doorman: llhttp's request vectors, generated by")
    print(" * t/unit/http/llhttp_vectors.py from llhttp-request-vectors.tsv")
    print(" * (nodejs/llhttp, the markdown files of test/request/, MIT")
    print(" * licence). Do not edit: edit the script and run it again. Each")
    print(" * run carries llhttp's verdict and doorman's (DESIGN.md section")
    print(" * 7); a note says why they differ.")
    print(" */")
    print()
    print("static const llhttp_vector_t llhttp_vectors[] = {")
    expect = expectations()
    missing = []
    for n, tag, group, name, data, verdict in runs:
        if (n, tag) not in expect:
            missing.append((n, tag))
            msgs, want, note = 0, "unknown", None
        else:
            msgs, want, note = expect.pop((n, tag))
        end = {"again": "LL_AGAIN", "done": "LL_DONE", "tunnel": "LL_TUNNEL",
               "close": "LL_CLOSE", "unknown": "LL_UNKNOWN"}.get(want, want)
        if note:
            print("    /*")
            for line in textwrap.wrap(note.replace("*/", "* /"), 70):
                print("     * " + line)
            print("     */")
        print("    {%d, \"%s\", \"%s\", \"%s\",\n%s,\n%d, \"%s\", %d, %s, %s}," % (
            n, tag, c_text(group), c_text(name), c_string(data), len(data),
            c_text(verdict), msgs, end,
            '"%s"' % c_text(note) if note else "NULL"))
    print("};")
    if missing or expect:
        sys.stderr.write("no expectation for %s; unused: %s\n"
                         % (missing, sorted(expect)))
        sys.exit(1)


if __name__ == "__main__":
    main()
