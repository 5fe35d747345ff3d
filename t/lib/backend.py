#!/usr/bin/env python3
#
# doorman: the HTTP/1.1 backend of the http_proxy integration tests
# (Python 3 standard library only; started by Doorman::HTTP::start_backend).
#
#   python3 t/lib/backend.py --port N [--host 127.0.0.1] [--name NAME]
#                            [--idle-close SECONDS] [--log FILE]
#                            [--health CODE]
#                            [--tls-cert FILE --tls-key FILE
#                             [--tls-client-ca FILE]]
#
# A strict HTTP/1.1 server written at the byte level on asyncio streams:
# CRLF line ends only, no obs-fold, token header names with no white space
# before the colon, one Host (HTTP/1.1), Content-Length (digits, all equal)
# or Transfer-Encoding: chunked (never both), HTTP/1.0 and 1.1 only (2.x:
# 505). Bad input gets a 400 (431, 501, 505, 417) with Connection: close
# and the connection is closed; a client that goes away only ends its own
# connection. Persistent connections and pipelining; "Expect: 100-continue"
# gets "100 Continue" before the body is read. Says "ready" on stdout once
# it listens; one line per request to --log.
#
# Every response carries "X-Backend: NAME", "X-Conn: K" (1-based index of
# the TCP connection on this backend), "X-Req: J" (1-based index of the
# request on that connection) and "X-Peer: ADDR:PORT" (the client of that
# connection); a request that had a body framing also gets
# "X-Body-Bytes: N" (its decoded length). Paths (the query string is not
# part of the path; an absolute-form target is routed by its path):
#
#   (any other)      200, body "NAME METHOD TARGET\n" then every request
#                    header line as received, "Name: value\n" (value
#                    without its surrounding white space), in order.
#   /size/N          N bytes of the pattern, Content-Length, 64 KiB writes.
#   /chunked/N       the same bytes chunked, chunk sizes from 1 to 65536;
#                    ?trailer=1 adds "Trailer: X-Trailer" and the trailer
#                    "X-Trailer: yes"; ?ext=1 adds ";ext=1" chunk
#                    extensions. To an HTTP/1.0 client: close-delimited.
#   /close/N         N bytes, no Content-Length, Connection: close, closed.
#   /status/CODE     CODE (200-599), body "NAME CODE\n"; 204 and 304 have
#                    neither body nor Content-Length.
#   /interim         "103 Early Hints" (Link header), then the 200 of the
#                    default answer; ?n=K sends K 103s (at most 10).
#   /upload          reads the body (any size, streamed), answers
#                    "BYTES SHA256HEX\n" of the decoded body.
#   /slow/MS         waits MS ms, then the default answer.
#   /slowbody/MS     the head of the default answer, then its body MS ms
#                    later.
#   /ws              "Upgrade: websocket" + "Connection: upgrade" on a GET
#                    HTTP/1.1 with Sec-WebSocket-Key and version 13: 101,
#                    then echo of every text/binary/continuation frame
#                    (unmasked), ping -> pong, close -> close (same payload)
#                    and the connection closed. No websocket upgrade: 200
#                    "no upgrade\n". A websocket upgrade without a key or
#                    version 13: 400.
#   /stats           JSON {"name", "connections" (accepted so far),
#                    "requests" (heads parsed so far, this one included),
#                    "active" (open connections)}.
#   /cookie          200 with "Set-Cookie: a=1" and "Set-Cookie: b=2".
#   /drop            closes the connection without an answer.
#   /healthz         the default answer, until a health status is set
#                    (--health CODE, or /control/health/CODE): from then
#                    on CODE with the body "NAME health CODE\n".
#   /control/health/CODE
#                    sets the status of /healthz (200-599) for every
#                    later request, on every connection; answers 200
#                    "NAME health CODE\n". For the health_check tests: a
#                    backend whose port stays open while its /healthz
#                    fails (every other path is unchanged).
#   HEAD             any path: the head the GET would have (Content-Length
#                    included), no body.
#
# The pattern: the stream is made of 64 KiB blocks; block K (bytes
# K*65536 ...) starts with "%015x\n" % K and goes on with the bytes of
# "0123456789abcdef" repeated, that is byte i (i % 65536 >= 16) is
# "0123456789abcdef"[i % 16]. Doorman::HTTP::pattern_bytes makes the same.
#
# --idle-close S: a connection with no request under way for S seconds is
# closed (by the backend, as an upstream that closes idle keep-alive
# connections before the proxy does).
#
# --tls-cert F --tls-key F: the backend speaks TLS (server side, the ssl
# module, TLS 1.2 and 1.3) instead of plain TCP; with --tls-client-ca F it
# requires a client certificate signed by a CA of F (CERT_REQUIRED: a
# client without one, or with another CA's, fails the handshake and is
# never served). In TLS mode every response also carries
# "X-TLS-Version: TLSv1.3" (the version negotiated),
# "X-TLS-Client-Subject: CN=client-1,O=Doorman Test" (the client
# certificate's subject in RFC 2253 order, as nginx's $ssl_client_s_dn,
# or "none"), "X-TLS-SNI: NAME" (the server name the client sent, or
# "none") and "X-TLS-Reused: 1" when the client resumed a session (else
# 0). A connection is counted (X-Conn, /stats) once its handshake is
# done. Plain mode (no --tls-cert) is unchanged.

import argparse
import asyncio
import base64
import hashlib
import json
import re
import ssl
import sys
import time
import traceback
from http import HTTPStatus

BLOCK = 65536
BASE = b"0123456789abcdef" * (BLOCK // 16)
HEAD_TIMEOUT = 30.0       # to receive a whole head once it has begun
BODY_TIMEOUT = 60.0       # for each read of a request body
MAX_HEADERS = 200
MAX_HEAD = 65536
WS_MAX = 64 << 20
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHUNK_SIZES = (1, 2, 3, 5, 16, 17, 100, 255, 256, 1000, 4095, 4096, 4097,
               65536, 8192, 65535, 32768, 12345, 65536, 65536, 7, 40000)

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
TARGET = re.compile(rb"[\x21-\x7e\x80-\xff]+\Z")
BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
VERSION = re.compile(rb"HTTP/(\d)\.(\d)\Z")
HEX = re.compile(rb"[0-9A-Fa-f]{1,15}\Z")


def block(k):
    return b"%015x\n" % k + BASE[16:]


def pattern(off, n):
    out = []
    while n > 0:
        k, r = divmod(off, BLOCK)
        take = min(n, BLOCK - r)
        out.append(block(k)[r:r + take])
        off += take
        n -= take
    return b"".join(out)


def reason(code):
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def tokens(values):
    out = []
    for v in values:
        out.extend(t.strip().lower() for t in v.split(",") if t.strip())
    return out


class Bad(Exception):
    def __init__(self, status, why):
        super().__init__(why)
        self.status = status
        self.why = why


class Closed(Exception):
    """The client went away or sent an incomplete message: no answer."""


class Request:
    pass


class Server:
    def __init__(self, args):
        self.name = args.name
        self.idle = args.idle_close
        self.conns = 0
        self.reqs = 0
        self.active = 0
        self.logf = open(args.log, "a", buffering=1) if args.log else None
        self.tls = bool(getattr(args, "tls_cert", None))
        self.health = getattr(args, "health", None)

    def log(self, line):
        if self.logf:
            try:
                self.logf.write("%.3f %s\n" % (time.time(), line))
            except OSError:
                pass

    async def handle(self, reader, writer):
        self.conns += 1
        self.active += 1
        c = Conn(self, self.conns, reader, writer)
        try:
            await c.run()
        except (Closed, ConnectionError, asyncio.IncompleteReadError,
                asyncio.TimeoutError, OSError):
            pass
        except Exception:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            self.active -= 1
            try:
                writer.close()
            except Exception:
                pass


class Conn:
    def __init__(self, srv, cid, reader, writer):
        self.srv = srv
        self.cid = cid
        self.r = reader
        self.w = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        fmt = "[%s]:%s" if ":" in str(peer[0]) else "%s:%s"
        self.peer = fmt % (peer[0], peer[1])
        self.nreq = 0
        self.tls_hdrs = []
        if srv.tls:
            self.tls_hdrs = tls_headers(writer.get_extra_info("ssl_object"))

    # ----- reading

    async def readline(self, timeout):
        try:
            if timeout is None:
                line = await self.r.readline()
            else:
                line = await asyncio.wait_for(self.r.readline(), timeout)
        except ValueError:           # longer than the stream limit
            raise Bad(431, "line too long")
        return line

    async def read_head(self):
        """Returns a Request, or None at EOF / idle close."""
        empty = 0
        while True:
            try:
                line = await self.readline(self.srv.idle)
            except asyncio.TimeoutError:
                self.srv.log("conn=%d idle close after %s s"
                             % (self.cid, self.srv.idle))
                return None
            if line == b"":
                return None
            if line in (b"\r\n",) and empty < 4:
                empty += 1
                continue
            break
        self.nreq += 1
        self.srv.reqs += 1
        req = Request()
        req.method, req.target, req.version = "-", "-", "HTTP/1.1"
        self.req = req
        if not line.endswith(b"\r\n"):
            if not line.endswith(b"\n"):
                raise Closed()
            raise Bad(400, "request line not ended by CRLF")
        parts = line[:-2].split(b" ")
        if len(parts) != 3:
            raise Bad(400, "malformed request line")
        method, target, version = parts
        if not TOKEN.match(method):
            raise Bad(400, "bad method")
        if not TARGET.match(target):
            raise Bad(400, "bad request target")
        req.method = method.decode("latin-1")
        req.target = target.decode("latin-1")
        m = VERSION.match(version)
        if not m:
            raise Bad(400, "bad HTTP version")
        req.version = version.decode("latin-1")
        if m.group(1) != b"1":
            raise Bad(505, "HTTP version not supported")
        req.minor = int(m.group(2))
        hdrs = []
        total = len(line)
        deadline = time.monotonic() + HEAD_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Closed()
            line = await self.readline(left)
            total += len(line)
            if line == b"" or not line.endswith(b"\n"):
                raise Closed()
            if not line.endswith(b"\r\n"):
                raise Bad(400, "header line not ended by CRLF")
            if line == b"\r\n":
                break
            if total > MAX_HEAD or len(hdrs) >= MAX_HEADERS:
                raise Bad(431, "head too large")
            if line[:1] in (b" ", b"\t"):
                raise Bad(400, "obs-fold")
            name, colon, value = line[:-2].partition(b":")
            if not colon or not TOKEN.match(name):
                raise Bad(400, "bad header name")
            value = value.strip(b" \t")
            if BAD_VALUE.search(value):
                raise Bad(400, "bad header value")
            hdrs.append((name.decode("latin-1"), value.decode("latin-1")))
        req.headers = hdrs
        return req

    def values(self, name):
        name = name.lower()
        return [v for n, v in self.req.headers if n.lower() == name]

    def framing(self):
        req = self.req
        te = self.values("transfer-encoding")
        cl = self.values("content-length")
        hosts = self.values("host")
        if req.minor >= 1 and len(hosts) != 1:
            raise Bad(400, "no Host" if not hosts else "several Host fields")
        if len(hosts) > 1:
            raise Bad(400, "several Host fields")
        if te:
            if cl:
                raise Bad(400, "both Transfer-Encoding and Content-Length")
            if req.minor == 0:
                raise Bad(400, "Transfer-Encoding in HTTP/1.0")
            codings = tokens(te)
            if not codings or codings[-1] != "chunked":
                raise Bad(400, "chunked is not the final coding")
            if codings != ["chunked"]:
                raise Bad(501, "transfer coding not implemented")
            return "chunked"
        if cl:
            vals = set(tokens(cl))
            if len(vals) != 1:
                raise Bad(400, "several Content-Length values")
            v = vals.pop()
            if not v.isdigit() or not v.isascii() or len(v) > 18:
                raise Bad(400, "bad Content-Length")
            return int(v)
        return None

    async def read_exact(self, n):
        return await asyncio.wait_for(self.r.readexactly(n), BODY_TIMEOUT)

    async def body(self, framing):
        """Yields the decoded request body in pieces."""
        if framing is None:
            return
        if framing != "chunked":
            left = framing
            while left > 0:
                data = await asyncio.wait_for(self.r.read(min(left, BLOCK)),
                                              BODY_TIMEOUT)
                if not data:
                    raise Closed()
                left -= len(data)
                yield data
            return
        while True:
            line = await self.readline(BODY_TIMEOUT)
            if not line.endswith(b"\n"):
                raise Closed()
            if not line.endswith(b"\r\n"):
                raise Bad(400, "chunk size line not ended by CRLF")
            size = line[:-2].split(b";", 1)[0].rstrip(b" \t")
            if not HEX.match(size):
                raise Bad(400, "bad chunk size")
            size = int(size, 16)
            if size == 0:
                break
            while size > 0:
                data = await asyncio.wait_for(self.r.read(min(size, BLOCK)),
                                              BODY_TIMEOUT)
                if not data:
                    raise Closed()
                size -= len(data)
                yield data
            if await self.read_exact(2) != b"\r\n":
                raise Bad(400, "chunk data not followed by CRLF")
        n = 0
        while True:                  # trailer section
            line = await self.readline(BODY_TIMEOUT)
            if not line.endswith(b"\n"):
                raise Closed()
            if not line.endswith(b"\r\n"):
                raise Bad(400, "trailer line not ended by CRLF")
            if line == b"\r\n":
                break
            n += 1
            if n > MAX_HEADERS:
                raise Bad(431, "too many trailers")

    # ----- writing

    def head(self, status, hdrs, keep, reason_phrase=None):
        out = ["HTTP/1.1 %d %s\r\n" % (status, reason_phrase or
                                      reason(status))]
        base = [("X-Backend", self.srv.name), ("X-Conn", self.cid),
                ("X-Req", self.nreq), ("X-Peer", self.peer)]
        base.extend(self.tls_hdrs)
        body_bytes = getattr(self.req, "body_bytes", None)
        if body_bytes is not None:
            base.append(("X-Body-Bytes", body_bytes))
        for n, v in base + hdrs:
            out.append("%s: %s\r\n" % (n, v))
        if status >= 200 or status == 101:
            if not keep:
                out.append("Connection: close\r\n")
            elif self.req.minor == 0:
                out.append("Connection: keep-alive\r\n")
        out.append("\r\n")
        return "".join(out).encode("latin-1")

    async def write(self, data):
        self.w.write(data)
        await self.w.drain()

    async def send_pattern(self, n, chunked=False, ext=b""):
        off = 0
        if not chunked:
            while off < n:
                take = min(BLOCK - off % BLOCK, n - off)
                if take == BLOCK:
                    await self.write(block(off // BLOCK))
                else:
                    await self.write(pattern(off, take))
                off += take
            return
        i = 0
        while off < n:
            take = min(CHUNK_SIZES[i % len(CHUNK_SIZES)], n - off)
            i += 1
            await self.write(b"%x%s\r\n" % (take, ext) + pattern(off, take)
                             + b"\r\n")
            off += take

    async def lingering_close(self):
        """Half-closes, then reads (briefly) until the client closes, so
        that what it sent unread does not make the kernel reset the
        answer away. Over TLS there is no half-close: the connection is
        closed at once (close_notify), as the end of a close-delimited
        answer."""
        try:
            await self.w.drain()
            if self.srv.tls:
                return
            if self.w.can_write_eof():
                self.w.write_eof()
            deadline = time.monotonic() + 2.0
            got = 0
            while got < (1 << 20):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                data = await asyncio.wait_for(self.r.read(BLOCK), left)
                if not data:
                    break
                got += len(data)
        except Exception:
            pass

    # ----- the connection

    async def run(self):
        while True:
            self.req = None
            try:
                req = await self.read_head()
                if req is None:
                    return
                keep = await self.serve(req)
            except Bad as e:
                if self.req is None:
                    self.req = Request()
                    self.req.method = self.req.target = "-"
                    self.req.version = "-"
                if not hasattr(self.req, "minor"):
                    self.req.minor = 1
                body = ("%s %d %s\n" % (self.srv.name, e.status,
                                        e.why)).encode()
                self.w.write(self.head(e.status, [
                    ("Content-Type", "text/plain"),
                    ("Content-Length", len(body))], False) + body)
                self.logreq(e.status, len(body), e.why)
                await self.lingering_close()
                return
            if not keep:
                await self.lingering_close()
                return

    def logreq(self, status, nbytes, note=""):
        req = self.req
        self.srv.log('conn=%d req=%d %s "%s %s %s" %d %d%s' % (
            self.cid, self.nreq, self.peer, req.method, req.target,
            req.version, status, nbytes, (" " + note) if note else ""))

    async def serve(self, req):
        framing = self.framing()
        conn_tokens = tokens(self.values("connection"))
        if req.minor >= 1:
            keep = "close" not in conn_tokens
        else:
            keep = "keep-alive" in conn_tokens
        expect = self.values("expect")
        if expect:
            if [e.lower() for e in expect] != ["100-continue"]:
                raise Bad(417, "unknown expectation")
            if req.minor >= 1 and framing not in (None, 0):
                await self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

        target = req.target
        path = target
        if "://" in path.split("?", 1)[0]:
            rest = path.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        path, _, query = path.partition("?")
        q = {}
        for kv in query.split("&"):
            k, _, v = kv.partition("=")
            q[k] = v
        head_only = req.method == "HEAD"

        # the body first (all of it; /upload hashes it)
        sha = hashlib.sha256()
        req.body_bytes = None
        if framing is not None:
            n = 0
            async for data in self.body(framing):
                n += len(data)
                if path == "/upload":
                    sha.update(data)
            req.body_bytes = n

        async def fixed(status, body, hdrs=(), delay_body=0):
            hdrs = [("Content-Type", "text/plain")] + list(hdrs)
            if status not in (204, 304):
                hdrs.append(("Content-Length", len(body)))
            else:
                body = b""
            h = self.head(status, hdrs, keep)
            if head_only:
                await self.write(h)
                self.logreq(status, 0)
                return keep
            if delay_body:
                await self.write(h)
                await asyncio.sleep(delay_body)
                await self.write(body)
            else:
                await self.write(h + body)
            self.logreq(status, len(body))
            return keep

        def echo():
            out = ["%s %s %s\n" % (self.srv.name, req.method, req.target)]
            out.extend("%s: %s\n" % hv for hv in req.headers)
            return "".join(out).encode("latin-1")

        def number(s, top):
            if not s.isdigit() or not s.isascii() or len(s) > 13:
                raise Bad(400, "bad number in path")
            v = int(s)
            if v > top:
                raise Bad(400, "number too large")
            return v

        parts = path.split("/")
        first = parts[1] if len(parts) > 1 else ""
        arg = parts[2] if len(parts) == 3 else None

        if first in ("size", "chunked", "close") and arg is not None:
            n = number(arg, 1 << 40)
            hdrs = [("Content-Type", "application/octet-stream")]
            chunked = first == "chunked"
            if chunked and req.minor == 0:
                chunked = False
                keep = False
            trailer = chunked and q.get("trailer") == "1"
            if first == "size":
                hdrs.append(("Content-Length", n))
            elif first == "close":
                keep = False
            elif chunked:
                hdrs.append(("Transfer-Encoding", "chunked"))
                if trailer:
                    hdrs.append(("Trailer", "X-Trailer"))
            await self.write(self.head(200, hdrs, keep))
            if not head_only:
                await self.send_pattern(n, chunked,
                                        b";ext=1" if q.get("ext") == "1"
                                        else b"")
                if chunked:
                    await self.write(b"0\r\nX-Trailer: yes\r\n\r\n" if trailer
                                     else b"0\r\n\r\n")
            self.logreq(200, 0 if head_only else n)
            return keep

        if first == "status" and arg is not None:
            code = number(arg, 599)
            if code < 200:
                raise Bad(400, "status out of range")
            return await fixed(code, ("%s %d\n" % (self.srv.name, code))
                               .encode())

        if path == "/interim":
            k = number(q.get("n", "1"), 10)
            for _ in range(k):
                await self.write(b"HTTP/1.1 103 Early Hints\r\n"
                                 b"Link: </style.css>; rel=preload\r\n\r\n")
            return await fixed(200, echo())

        if path == "/upload":
            n = req.body_bytes or 0
            return await fixed(200, ("%d %s\n" % (n, sha.hexdigest()))
                               .encode())

        if first == "slow" and arg is not None:
            await asyncio.sleep(number(arg, 600000) / 1000.0)
            return await fixed(200, echo())

        if first == "slowbody" and arg is not None:
            return await fixed(200, echo(),
                               delay_body=number(arg, 600000) / 1000.0)

        if path == "/healthz" and self.srv.health is not None:
            code = self.srv.health
            return await fixed(code, ("%s health %d\n" % (self.srv.name,
                                                           code)).encode())

        if len(parts) == 4 and parts[1] == "control" \
                and parts[2] == "health":
            code = number(parts[3], 599)
            if code < 200:
                raise Bad(400, "status out of range")
            self.srv.health = code
            return await fixed(200, ("%s health %d\n" % (self.srv.name,
                                                          code)).encode())

        if path == "/stats":
            body = json.dumps({"name": self.srv.name,
                               "connections": self.srv.conns,
                               "requests": self.srv.reqs,
                               "active": self.srv.active}) + "\n"
            return await fixed(200, body.encode(),
                               [("Cache-Control", "no-store")])

        if path == "/cookie":
            return await fixed(200, b"cookie\n", [("Set-Cookie", "a=1"),
                                                  ("Set-Cookie", "b=2")])

        if path == "/drop":
            self.logreq(0, 0, "dropped")
            return False

        if path == "/ws":
            up = tokens(self.values("upgrade"))
            if "websocket" in up and "upgrade" in conn_tokens \
                    and req.method == "GET" and req.minor == 1:
                keys = self.values("sec-websocket-key")
                vers = self.values("sec-websocket-version")
                if len(keys) != 1 or vers != ["13"]:
                    raise Bad(400, "bad websocket handshake")
                try:
                    raw = base64.b64decode(keys[0], validate=True)
                except Exception:
                    raw = b""
                if len(raw) != 16:
                    raise Bad(400, "bad Sec-WebSocket-Key")
                accept = base64.b64encode(hashlib.sha1(
                    keys[0].encode() + WS_GUID).digest()).decode()
                await self.write(self.head(101, [
                    ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Accept", accept)], True))
                self.logreq(101, 0)
                await self.websocket()
                return False
            return await fixed(200, b"no upgrade\n")

        return await fixed(200, echo())

    # ----- RFC 6455

    def frame(self, b0, payload):
        n = len(payload)
        if n < 126:
            h = bytes((b0, n))
        elif n < 65536:
            h = bytes((b0, 126)) + n.to_bytes(2, "big")
        else:
            h = bytes((b0, 127)) + n.to_bytes(8, "big")
        return h + payload

    async def ws_close(self, code):
        await self.write(self.frame(0x88, code.to_bytes(2, "big")))

    async def websocket(self):
        frames = 0
        while True:
            h = await self.r.readexactly(2)
            fin, rsv, op = h[0] & 0x80, h[0] & 0x70, h[0] & 0x0F
            masked, n = h[1] & 0x80, h[1] & 0x7F
            if n == 126:
                n = int.from_bytes(await self.r.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.r.readexactly(8), "big")
            if rsv or not masked or op in (3, 4, 5, 6, 7) or op > 10 \
                    or (op >= 8 and (n > 125 or not fin)):
                await self.ws_close(1002)
                self.srv.log("conn=%d websocket protocol error" % self.cid)
                return
            if n > WS_MAX:
                await self.ws_close(1009)
                return
            key = await self.r.readexactly(4)
            data = await self.r.readexactly(n)
            if n:
                k = (key * (n // 4 + 1))[:n]
                data = (int.from_bytes(data, "big")
                        ^ int.from_bytes(k, "big")).to_bytes(n, "big")
            frames += 1
            if op in (0, 1, 2):
                await self.write(self.frame(fin | op, data))
            elif op == 9:
                await self.write(self.frame(0x8A, data))
            elif op == 8:
                await self.write(self.frame(0x88, data))
                self.srv.log("conn=%d websocket closed after %d frames"
                             % (self.cid, frames))
                return


# RFC 2253 short names of the attributes a test certificate may carry
DN_SHORT = {"commonName": "CN", "organizationName": "O",
            "organizationalUnitName": "OU", "countryName": "C",
            "localityName": "L", "stateOrProvinceName": "ST",
            "emailAddress": "emailAddress", "domainComponent": "DC"}


def dn_rfc2253(subject):
    """The subject tuple of getpeercert() in RFC 2253 order (the last RDN
    first, as OpenSSL's XN_FLAG_RFC2253 and nginx's $ssl_client_s_dn)."""
    rdns = []
    for rdn in subject:
        rdns.append("+".join("%s=%s" % (DN_SHORT.get(k, k), v)
                             for k, v in rdn))
    return ",".join(reversed(rdns))


def tls_headers(sslobj):
    if sslobj is None:
        return [("X-TLS-Version", "none"), ("X-TLS-Client-Subject", "none"),
                ("X-TLS-SNI", "none"), ("X-TLS-Reused", "0")]
    subject = "none"
    try:
        cert = sslobj.getpeercert()
        if cert and cert.get("subject"):
            subject = dn_rfc2253(cert["subject"])
    except (ValueError, ssl.SSLError):
        pass
    sni = getattr(sslobj, "doorman_sni", None) or "none"
    return [("X-TLS-Version", sslobj.version() or "none"),
            ("X-TLS-Client-Subject", subject), ("X-TLS-SNI", sni),
            ("X-TLS-Reused", "1" if sslobj.session_reused else "0")]


def tls_context(args, srv):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_client_ca:
        ctx.load_verify_locations(cafile=args.tls_client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED

    def sni(sslobj, name, _ctx):
        try:
            sslobj.doorman_sni = name
        except AttributeError:
            pass
        return None
    ctx.sni_callback = sni
    return ctx


async def main():
    ap = argparse.ArgumentParser(description="doorman test HTTP backend")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--name", default="backend")
    ap.add_argument("--idle-close", type=float, default=None)
    ap.add_argument("--log", default=None)
    ap.add_argument("--tls-cert", default=None)
    ap.add_argument("--tls-key", default=None)
    ap.add_argument("--tls-client-ca", default=None)
    ap.add_argument("--health", type=int, default=None)
    args = ap.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        ap.error("--tls-client-ca needs --tls-cert")
    if args.health is not None and not 200 <= args.health <= 599:
        ap.error("--health takes a status from 200 to 599")
    srv = Server(args)
    extra = {}
    if args.tls_cert:
        extra["ssl"] = tls_context(args, srv)
        extra["ssl_handshake_timeout"] = 10.0
    server = await asyncio.start_server(srv.handle, args.host, args.port,
                                        limit=MAX_HEAD, reuse_address=True,
                                        backlog=1024, **extra)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
