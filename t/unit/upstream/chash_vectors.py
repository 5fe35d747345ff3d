#!/usr/bin/env python3
"""
doorman: test vectors for `hash KEY` and `hash KEY consistent`, computed
with an implementation of nginx's published algorithms that shares no
code with doorman (only Python's zlib.crc32, the IEEE CRC-32 that nginx's
ngx_crc32_* also compute). t/unit/upstream/test_upstream.c embeds the
output; run `python3 t/unit/upstream/chash_vectors.py` to regenerate it.

Consistent hash (ngx_http_upstream_init_chash / find_chash_point /
get_chash_peer, nginx 1.x): for each server, in configuration order,
split its name as written into HOST and PORT (a "unix:" prefix: HOST is
the path, no PORT; else PORT is the trailing digits after the last ':',
when there are any), base = crc32(HOST "\\0" PORT); then weight * 160
points, point[j] = crc32(HOST "\\0" PORT prev), prev being the previous
point of this server as 4 bytes little-endian (0 for the first). All
points sorted by hash, equal hashes kept once (the first). A key goes to
the first point whose hash is >= crc32(KEY), wrapping to point 0; when
that point's server cannot be used, to the next point, and so on.

Plain hash (ngx_http_upstream_get_hash_peer): h += (crc32([REHASH] KEY)
>> 16) & 0x7fff, REHASH being the decimal attempt number (absent on the
first attempt); w = h % total_weight; walk the servers in order,
subtracting each weight until w < weight. A server that cannot be used
(tried, down) makes the next attempt, with h and REHASH carried on.

Both fall back to round robin for an empty key (nginx 1.21+: "hp->key.len
== 0"), so no vector has one.

The servers: weights 1, 1, 2, 1, 3 (total 8), one of each name form.
"""
import zlib

SERVERS = [
    ("10.0.0.1:80", 1),
    ("[2001:db8::2]", 1),
    ("backend.local", 2),
    ("unix:/run/app.sock", 1),
    ("[::1]:9000", 3),
]

KEYS = [
    b"a",
    b"/",
    b"/index.html",
    b"/static/app.js",
    b"user:1",
    b"user:2",
    b"user:42",
    b"192.168.1.10",
    b"10.1.2.3",
    b"2001:db8::1",
    b"session=0123456789abcdef",
    b"GET /api/v1/items?id=7",
    b"example.com",
    b"www.example.org",
    b"The quick brown fox jumps over the lazy dog",
]


def split(name):
    if name[:5].lower() == b"unix:":
        return name[5:], b""
    j = 0
    while j < len(name):
        c = name[len(name) - j - 1:len(name) - j]
        if c == b":":
            return name[:len(name) - j - 1], name[len(name) - j:]
        if not c.isdigit():
            break
        j += 1
    return name, b""


def ring(servers):
    points = []
    for i, (name, weight) in enumerate(servers):
        host, port = split(name.encode())
        base = zlib.crc32(host + b"\0" + port)
        prev = 0
        for _ in range(weight * 160):
            h = zlib.crc32(prev.to_bytes(4, "little"), base)
            points.append((h, i))
            prev = h
    points.sort(key=lambda p: p[0])  # stable: the first one stays
    out = []
    for p in points:
        if not out or out[-1][0] != p[0]:
            out.append(p)
    assert len(out) == len(points), "a collision: vectors would be ambiguous"
    return out


def chash(points, khash, down=()):
    lo = 0
    hi = len(points)
    while lo < hi:
        mid = (lo + hi) // 2
        if points[mid][0] < khash:
            lo = mid + 1
        else:
            hi = mid
    for t in range(len(points)):
        s = points[(lo + t) % len(points)][1]
        if s not in down:
            return s
    return None


def plain(servers, key, tried):
    """nginx's attempts for one request: the chosen server index."""
    total = sum(w for _, w in servers)
    h = 0
    rehash = 0
    while True:
        data = (str(rehash).encode() if rehash else b"") + key
        h += (zlib.crc32(data) >> 16) & 0x7FFF
        rehash += 1
        w = h % total
        i = 0
        while w >= servers[i][1]:
            w -= servers[i][1]
            i += 1
        if i not in tried:
            return i


def plain_two(servers, key):
    """The first choice, then the second attempt of the same request
    (the first server tried): state carried over, as nginx does."""
    total = sum(w for _, w in servers)
    h = 0
    rehash = 0
    picks = []
    tried = set()
    while len(picks) < 2:
        data = (str(rehash).encode() if rehash else b"") + key
        h += (zlib.crc32(data) >> 16) & 0x7FFF
        rehash += 1
        w = h % total
        i = 0
        while w >= servers[i][1]:
            w -= servers[i][1]
            i += 1
        if i not in tried:
            picks.append(i)
            tried.add(i)
    return picks


def forge(prefix, target):
    """prefix + 4 bytes whose crc32 is target (CRC-32 is affine over GF(2)
    in the appended bytes: solve the 32x32 system)."""
    f0 = zlib.crc32(prefix + b"\0\0\0\0")
    rows = []  # (column value, bit of x)
    for b in range(32):
        rows.append((zlib.crc32(prefix + (1 << b).to_bytes(4, "little")) ^ f0,
                     1 << b))
    want = target ^ f0
    # Gaussian elimination on the columns
    basis = []  # (value with leading bit, combination of x bits)
    for v, x in rows:
        for bv, bx in basis:
            if v ^ bv < v:
                v ^= bv
                x ^= bx
        if v:
            basis.append((v, x))
            basis.sort(reverse=True)
    x = 0
    for bv, bx in basis:
        if want ^ bv < want:
            want ^= bv
            x ^= bx
    assert want == 0
    key = prefix + x.to_bytes(4, "little")
    assert zlib.crc32(key) == target
    return key


def c_string(b):
    out = ""
    esc = False
    for c in b:
        if 0x20 <= c < 0x7F and c not in (0x22, 0x5C):
            if esc and chr(c) in "0123456789abcdefABCDEF":
                out += '" "'
            out += chr(c)
            esc = False
        else:
            out += "\\x%02x" % c
            esc = True
    return '"' + out + '"'


def main():
    pts = ring(SERVERS)
    names = [n for n, _ in SERVERS]
    keys = list(KEYS)

    # boundary keys: crc32(key) equal to a point whose successor is on
    # another server (>= versus >), one past it, the last point, one past
    # the last point (wraps) and 0
    for k in range(len(pts) // 2, len(pts) - 1):
        if pts[k][1] != pts[k + 1][1] and pts[k + 1][0] > pts[k][0] + 1:
            break
    keys.append(forge(b"exact-", pts[k][0]))
    keys.append(forge(b"after-", pts[k][0] + 1))
    keys.append(forge(b"last-", pts[-1][0]))
    if pts[-1][0] < 0xFFFFFFFF:
        keys.append(forge(b"wrap-", pts[-1][0] + 1))
    keys.append(forge(b"zero-", 0))

    print("/* generated by t/unit/upstream/chash_vectors.py: %d points, "
          "first 0x%08x, last 0x%08x */" % (len(pts), pts[0][0], pts[-1][0]))
    print("static const vector_t chash_vectors[] = {")
    for key in keys:
        h = zlib.crc32(key)
        s = chash(pts, h)
        d = chash(pts, h, down={s})
        print("    {%s, %d, %d, %d}, /* crc32 0x%08x */"
              % (c_string(key), len(key), s, d, h))
    print("};")
    print()
    print("static const vector_t hash_vectors[] = {")
    for key in KEYS:
        first, second = plain_two(SERVERS, key)
        assert first == plain(SERVERS, key, set())
        print("    {%s, %d, %d, %d}," % (c_string(key), len(key), first, second))
    print("};")
    print("/* servers: %s */" % ", ".join(names))


if __name__ == "__main__":
    main()
