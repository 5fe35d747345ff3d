#!/usr/bin/env python3
#
# doorman: a Redis-like line-protocol backend for t/health_check.t
# (Python 3 standard library only; the PROXY header parser is that of
# t/lib/pp_backend.py, imported, not copied).
#
#   python3 t/lib/redis_backend.py --port N [--host 127.0.0.1]
#                                  [--name NAME] [--log FILE]
#                                  [--reply pong|err] [--require-proxy]
#
# Says "ready" on stdout once it listens. Per connection it reads lines
# ending in "\r\n" (a lone "\n" is accepted too) and answers each:
#
#   PING            "+PONG\r\n", or "-ERR unhealthy\r\n" in reply mode err
#                   (logged "PING conn=K reply=PONG|ERR", the probe count)
#   WHO             "+NAME\r\n" (which backend a client reached; logged
#                   "WHO conn=K")
#   QUIT            "+OK\r\n", then the connection is closed
#   HEALTH PONG|ERR switches the reply mode for every later PING, on every
#                   connection: "+OK\r\n" (logged "HEALTH pong|err")
#   COUNT           "+N\r\n", the PINGs answered so far
#   anything else   "-ERR unknown command\r\n"
#
# A connection closed without a byte is logged "EMPTY conn=K" (a TCP-only
# probe).
#
# --require-proxy: every connection must begin with a PROXY protocol
# header (v1 or v2, checked strictly by pp_backend.parse); a connection
# that does not gets "-ERR no PROXY header\r\n" (logged "NOPROXY conn=K
# ...") and is closed, before any of its commands is looked at. A good
# header is logged "PROXY conn=K VER=... CMD=... ..." and the commands
# follow. The control commands (HEALTH, COUNT) are accepted without a
# header when they are the first line of a connection, so that the test
# can switch the backend directly.
#
# --reply sets the starting mode (pong by default). Each log line is
# "TIME LINE", TIME the wall clock (seconds, 3 decimals).

import argparse
import asyncio
import os
import sys
import time

sys.dont_write_bytecode = True    # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pp_backend  # noqa: E402  (parse(), describe(), PPError)

MAX_LINE = 4096


class Backend:
    def __init__(self, a):
        self.name = a.name
        self.mode = a.reply
        self.require_proxy = a.require_proxy
        self.conns = 0
        self.pings = 0
        self.logf = open(a.log, "a", buffering=1) if a.log else None

    def log(self, line):
        if self.logf:
            try:
                self.logf.write("%.3f %s\n" % (time.time(), line))
            except OSError:
                pass

    def control(self, line):
        """A control command's answer, or None when it is not one."""
        words = line.split()
        if len(words) == 2 and words[0].upper() == "HEALTH" \
                and words[1].lower() in ("pong", "err"):
            self.mode = words[1].lower()
            self.log("HEALTH %s" % self.mode)
            return b"+OK\r\n"
        if len(words) == 1 and words[0].upper() == "COUNT":
            return b"+%d\r\n" % self.pings
        return None

    async def handle(self, reader, writer):
        self.conns += 1
        k = self.conns
        buf = b""
        try:
            if self.require_proxy:
                buf = await asyncio.wait_for(self.proxy_header(reader, writer,
                                                               k), 10)
                if buf is None:
                    return
            first = True
            while True:
                nl = buf.find(b"\n")
                while nl < 0:
                    if len(buf) > MAX_LINE:
                        writer.write(b"-ERR line too long\r\n")
                        return
                    data = await asyncio.wait_for(reader.read(4096), 30)
                    if not data:
                        if first and not buf:
                            self.log("EMPTY conn=%d" % k)
                        return
                    buf += data
                    nl = buf.find(b"\n")
                line = buf[:nl].rstrip(b"\r").decode("latin-1")
                buf = buf[nl + 1:]
                first = False
                await self.command(line, writer, k)
                if line.strip().upper() == "QUIT":
                    return
        except (ConnectionError, asyncio.IncompleteReadError,
                asyncio.TimeoutError, OSError):
            pass
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except Exception:
                pass

    async def proxy_header(self, reader, writer, k):
        """Reads the PROXY header; returns the bytes after it, or None
        when the connection was answered and must be closed."""
        buf = b""
        while True:
            if buf:
                k6, k12 = min(len(buf), 6), min(len(buf), 12)
                looks_pp = buf[:k6] == b"PROXY "[:k6] \
                    or buf[:k12] == pp_backend.SIG2[:k12]
                if not looks_pp:
                    # a whole line first: a control command from the test
                    # is not a probe
                    if b"\n" not in buf and len(buf) < MAX_LINE:
                        data = await reader.read(4096)
                        if not data:
                            self.log("NOPROXY conn=%d EOF before a line" % k)
                            return None
                        buf += data
                        continue
                    line = buf[:buf.find(b"\n")].rstrip(b"\r")
                    ans = self.control(line.decode("latin-1"))
                    if ans is None:
                        self.log("NOPROXY conn=%d no PROXY header (%s)"
                                 % (k, pp_backend.enc(line[:40])))
                        ans = b"-ERR no PROXY header\r\n"
                    writer.write(ans)
                    await writer.drain()
                    return None
                try:
                    r = pp_backend.parse(buf)
                except pp_backend.PPError as e:
                    self.log("NOPROXY conn=%d %s" % (k, e))
                    writer.write(b"-ERR no PROXY header\r\n")
                    await writer.drain()
                    return None
                if r is not None:
                    d, n = r
                    self.log("PROXY conn=%d %s" % (k, pp_backend.describe(d)))
                    return buf[n:]
            data = await reader.read(4096)
            if not data:
                self.log("EMPTY conn=%d" % k if not buf else
                         "NOPROXY conn=%d EOF inside the header" % k)
                return None
            buf += data
            if len(buf) > 16 + 65535:
                self.log("NOPROXY conn=%d header too long" % k)
                return None

    async def command(self, line, writer, k):
        cmd = line.strip().upper()
        if cmd == "PING":
            self.pings += 1
            if self.mode == "pong":
                ans = b"+PONG\r\n"
            else:
                ans = b"-ERR unhealthy\r\n"
            self.log("PING conn=%d reply=%s" % (k, self.mode.upper()))
        elif cmd == "WHO":
            ans = ("+%s\r\n" % self.name).encode()
            self.log("WHO conn=%d" % k)
        elif cmd == "QUIT":
            ans = b"+OK\r\n"
        else:
            ans = self.control(line)
            if ans is None:
                ans = b"-ERR unknown command\r\n"
                self.log("UNKNOWN conn=%d %r" % (k, line[:60]))
        writer.write(ans)
        await writer.drain()


async def main():
    ap = argparse.ArgumentParser(description="doorman test Redis-like "
                                 "backend")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--name", default="redis")
    ap.add_argument("--log", default=None)
    ap.add_argument("--reply", choices=("pong", "err"), default="pong")
    ap.add_argument("--require-proxy", action="store_true")
    a = ap.parse_args()
    b = Backend(a)
    server = await asyncio.start_server(b.handle, a.host, a.port,
                                        reuse_address=True, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
