#!/usr/bin/env python3
#
# doorman: a backend that decodes PROXY protocol headers (v1 and v2) on its
# own, strictly, by the rules of ../shared/corpora/proxy-protocol.md (the
# summary of HAProxy's doc/proxy-protocol.txt), for t/proxy_protocol.t.
# Python 3 standard library only; nothing here shares code with doorman.
#
#   python3 t/lib/pp_backend.py --port N [--host 127.0.0.1]
#                               [--mode echo|http|udp] [--log FILE]
#
# Says "ready" on stdout once it listens. Every decoded header is written
# as one line to --log (and to stdout) as well as answered.
#
# A decoded header is described by one line of space-separated fields:
#
#   VER=1|2 CMD=PROXY|LOCAL FAM=TCP4|TCP6|UDP4|UDP6|UNIX|UNSPEC|UNKNOWN
#   SRC=ADDR:PORT DST=ADDR:PORT (IPv6 as [ADDR]:PORT; "-" when there are
#   no addresses) LEN=N (bytes of the whole header) TLV=LIST
#
# LIST is "-" or comma-separated TYPE:VALUE items in order of appearance,
# TYPE as 0xNN, VALUE percent-encoded (bytes outside 0x21-0x7e, "%", ","
# and ":" as %XX); the SSL TLV (0x20) is shown as
# 0x20:client=N;verify=N;0x21=TLSv1.3;... (its sub-TLVs). A CRC32C TLV is
# verified (RFC 4960 Castagnoli, over the whole header with the field
# zeroed) and shown as 0x03:ok.
#
# Any violation of the specification is an error with a reason ("ERR
# reason"): the backend never guesses.
#
# --mode echo (TCP, the default): per connection, reads the header (it
# waits for the whole of it, however it is split), answers
# "PP CONN=K <description>\n" (K: 1-based connection number), then echoes
# every byte that follows (the bytes that came with the header first).
# A bad header: "ERR CONN=K reason\n" and the connection is closed. A
# connection closed before it sent a byte (a readiness probe) is logged as
# "EMPTY CONN=K", not as an error.
#
# --mode http (TCP): reads the header, then serves HTTP/1.1 requests on
# the connection (keep-alive; a Content-Length body is read and dropped):
# each gets a 200 whose body is
#   "PP CONN=K REQ=J <description>\n" then "Host: ...\n" and
#   "X-Client: ...\n" (the request's fields of those names, "-" when
#   absent)
# and the headers X-Conn: K and X-Req: J. A request that starts with
# "PROXY" or the v2 signature (a second header on one connection) or any
# head that is not HTTP/1.x gets a 400 "ERR CONN=K REQ=J reason\n" and
# the connection is closed.
#
# --mode udp: every datagram must begin with a v2 header (PROXY over DGRAM,
# or LOCAL); the answer (one datagram to the sender) is
# "PP N=K <description> PAYLOAD=<the bytes after the header>" or
# "ERR N=K reason PAYLOAD=<the whole datagram, percent-encoded>", K the
# 1-based datagram number.

import argparse
import asyncio
import socket
import struct
import sys

SIG2 = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107


class PPError(Exception):
    pass


class EmptyConnection(Exception):
    pass


# --- CRC32C (Castagnoli, reflected, polynomial 0x82F63B78) -----------------

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_T = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def enc(b):
    out = []
    for x in b:
        if 0x21 <= x <= 0x7E and x not in (0x25, 0x2C, 0x3A):
            out.append(chr(x))
        else:
            out.append("%%%02X" % x)
    return "".join(out)


# --- v1 ---------------------------------------------------------------------

def _v1_port(s):
    if not s or len(s) > 5 or not s.isdigit() or not s.isascii():
        raise PPError("bad port %r" % s)
    if len(s) > 1 and s[0] == "0":
        raise PPError("leading zero in port %r" % s)
    n = int(s)
    if n > 65535:
        raise PPError("port over 65535: %s" % s)
    return n


def _v1_ipv4(s):
    parts = s.split(".")
    if len(parts) != 4:
        raise PPError("bad IPv4 address %r" % s)
    for p in parts:
        if not p or len(p) > 3 or not p.isdigit() or not p.isascii():
            raise PPError("bad IPv4 address %r" % s)
        if len(p) > 1 and p[0] == "0":
            raise PPError("leading zero in IPv4 address %r" % s)
        if int(p) > 255:
            raise PPError("bad IPv4 address %r" % s)
    return s


def _v1_ipv6(s):
    hexd = set("0123456789abcdefABCDEF:")
    if not s or any(ch not in hexd for ch in s):
        raise PPError("bad IPv6 address %r" % s)
    try:
        return socket.inet_ntop(socket.AF_INET6,
                                socket.inet_pton(socket.AF_INET6, s))
    except OSError:
        raise PPError("bad IPv6 address %r" % s)


def parse_v1(buf):
    """buf: bytes starting with b"PROXY". Returns (desc, length) or None
    when more bytes are needed; raises PPError."""
    end = buf.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        # a lone LF (or CR followed by something else) ends nothing: only
        # CRLF does. Invalid as soon as a LF that is not after a CR shows.
        lf = buf.find(b"\n", 0, V1_MAX)
        if lf >= 0:
            raise PPError("v1 line ends without CRLF")
        if len(buf) >= V1_MAX:
            raise PPError("v1 line without CRLF in %d bytes" % V1_MAX)
        return None
    line = buf[:end]
    n = end + 2
    if b"\r" in line or b"\n" in line:
        raise PPError("v1 line ends without CRLF")
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise PPError("v1 line is not ASCII")
    f = text.split(" ")
    if f[0] != "PROXY":
        raise PPError("v1 line does not start with \"PROXY \"")
    if len(f) >= 2 and f[1] == "UNKNOWN":
        return ({"VER": "1", "CMD": "PROXY", "FAM": "UNKNOWN", "SRC": "-",
                 "DST": "-", "LEN": str(n), "TLV": "-"}, n)
    if len(f) != 6:
        raise PPError("v1 line has %d fields, not 6" % len(f))
    proto, sa, da, sp, dp = f[1:]
    if proto == "TCP4":
        sa, da = _v1_ipv4(sa), _v1_ipv4(da)
        fmt = "%s:%d"
    elif proto == "TCP6":
        sa, da = _v1_ipv6(sa), _v1_ipv6(da)
        fmt = "[%s]:%d"
    else:
        raise PPError("v1 protocol %r" % proto)
    sp, dp = _v1_port(sp), _v1_port(dp)
    return ({"VER": "1", "CMD": "PROXY", "FAM": proto, "SRC": fmt % (sa, sp),
             "DST": fmt % (da, dp), "LEN": str(n), "TLV": "-"}, n)


# --- v2 ---------------------------------------------------------------------

FAMS = {0x00: ("UNSPEC", 0), 0x11: ("TCP4", 12), 0x12: ("UDP4", 12),
        0x21: ("TCP6", 36), 0x22: ("UDP6", 36), 0x31: ("UNIX", 216),
        0x32: ("UNIXDGRAM", 216)}


def _tlvs(data, depth=0):
    """Parses a TLV list that must fill data exactly. Returns a list of
    (type, value-string)."""
    out = []
    i = 0
    while i < len(data):
        if len(data) - i < 3:
            raise PPError("%d stray byte(s) after the last TLV" %
                          (len(data) - i))
        t = data[i]
        ln = (data[i + 1] << 8) | data[i + 2]
        if i + 3 + ln > len(data):
            raise PPError("TLV 0x%02x of length %d overruns the header" %
                          (t, ln))
        v = data[i + 3:i + 3 + ln]
        if t == 0x20 and depth == 0:
            if ln < 5:
                raise PPError("SSL TLV of length %d (< 5)" % ln)
            client, verify = v[0], struct.unpack("!I", v[1:5])[0]
            subs = _tlvs(v[5:], 1)
            s = "client=%d;verify=%d" % (client, verify)
            for st, sv in subs:
                s += ";0x%02x=%s" % (st, sv)
            out.append((t, s, i))
        elif t == 0x03 and depth == 0:
            if ln != 4:
                raise PPError("CRC32C TLV of length %d (not 4)" % ln)
            out.append((t, v, i))
        else:
            if t == 0x05 and ln > 128:
                raise PPError("UNIQUE_ID TLV of length %d (> 128)" % ln)
            out.append((t, enc(v), i))
        i += 3 + ln
    return [(t, v) for t, v, _ in out] if depth else out


def parse_v2(buf, dgram=False):
    """buf: bytes starting with the v2 signature. Returns (desc, length)
    or None when more bytes are needed; raises PPError."""
    if len(buf) < 16:
        return None
    ver, cmd = buf[12] >> 4, buf[12] & 0x0F
    fam = buf[13]
    ln = struct.unpack("!H", buf[14:16])[0]
    if ver != 2:
        raise PPError("v2 version nibble %d" % ver)
    if cmd not in (0, 1):
        raise PPError("v2 command %d" % cmd)
    if fam >> 4 > 3:
        raise PPError("v2 address family %d" % (fam >> 4))
    if fam & 0x0F > 2:
        raise PPError("v2 transport %d" % (fam & 0x0F))
    if len(buf) < 16 + ln:
        if dgram:
            raise PPError("v2 header of %d bytes in a datagram of %d" %
                          (16 + ln, len(buf)))
        return None
    hdr = buf[:16 + ln]
    name, alen = FAMS.get(fam, ("OTHER", 0))
    if cmd == 0:
        # LOCAL: the family is ignored, len bytes are skipped
        return ({"VER": "2", "CMD": "LOCAL", "FAM": name, "SRC": "-",
                 "DST": "-", "LEN": str(16 + ln), "TLV": "-"}, 16 + ln)
    if name == "OTHER":
        raise PPError("v2 family/transport byte 0x%02x" % fam)
    if ln < alen:
        raise PPError("v2 %s address block of %d bytes (< %d)" %
                      (name, ln, alen))
    if dgram and fam & 0x0F not in (0, 2):
        raise PPError("v2 %s (a stream transport) in a datagram" % name)
    if not dgram and fam & 0x0F == 2:
        raise PPError("v2 %s (a datagram transport) on a stream" % name)
    a = hdr[16:16 + alen]
    if name in ("TCP4", "UDP4"):
        src = "%s:%d" % (socket.inet_ntop(socket.AF_INET, a[0:4]),
                         struct.unpack("!H", a[8:10])[0])
        dst = "%s:%d" % (socket.inet_ntop(socket.AF_INET, a[4:8]),
                         struct.unpack("!H", a[10:12])[0])
    elif name in ("TCP6", "UDP6"):
        src = "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, a[0:16]),
                           struct.unpack("!H", a[32:34])[0])
        dst = "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, a[16:32]),
                           struct.unpack("!H", a[34:36])[0])
    elif name.startswith("UNIX"):
        src = enc(a[:108].split(b"\x00", 1)[0]) or "-"
        dst = enc(a[108:216].split(b"\x00", 1)[0]) or "-"
    else:
        src = dst = "-"
    tl = _tlvs(hdr[16 + alen:])
    items = []
    for t, v, off in tl:
        if t == 0x03:
            pos = 16 + alen + off + 3
            z = hdr[:pos] + b"\x00\x00\x00\x00" + hdr[pos + 4:]
            want = struct.unpack("!I", v)[0]
            got = crc32c(z)
            if want != got:
                raise PPError("CRC32C mismatch (header says 0x%08x, "
                              "computed 0x%08x)" % (want, got))
            v = "ok"
        items.append("0x%02x:%s" % (t, v))
    return ({"VER": "2", "CMD": "PROXY", "FAM": name, "SRC": src,
             "DST": dst, "LEN": str(16 + ln),
             "TLV": ",".join(items) if items else "-"}, 16 + ln)


def parse(buf, dgram=False):
    """Version detection without guessing: the v2 signature, or "PROXY".
    Returns (desc, length), None (need more) or raises PPError."""
    k = min(len(buf), 12)
    if buf[:k] == SIG2[:k] and k > 0 and not (dgram and len(buf) < 12):
        if len(buf) < 12:
            return None
        return parse_v2(buf, dgram)
    if dgram:
        raise PPError("datagram without a v2 signature")
    k = min(len(buf), 6)
    if buf[:k] == b"PROXY "[:k]:
        if len(buf) < 6:
            return None
        return parse_v1(buf)
    raise PPError("no PROXY header (starts with %s)" % enc(buf[:16]))


def describe(d):
    return " ".join("%s=%s" % (k, d[k])
                    for k in ("VER", "CMD", "FAM", "SRC", "DST", "LEN", "TLV"))


# --- servers ----------------------------------------------------------------

class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None

    def __call__(self, line):
        if self.f:
            self.f.write(line + "\n")
        print(line, flush=True)


async def read_header(reader):
    buf = b""
    while True:
        r = parse(buf) if buf else None
        if r is not None:
            return r[0], buf[r[1]:]
        chunk = await reader.read(65536)
        if not chunk:
            if not buf:
                raise EmptyConnection()
            raise PPError("EOF after %d byte(s) of header" % len(buf))
        buf += chunk
        if len(buf) > 16 + 65535 + 65536:
            raise PPError("header too long")


class TCPServer:
    def __init__(self, mode, log):
        self.mode = mode
        self.log = log
        self.conns = 0

    async def handle(self, reader, writer):
        self.conns += 1
        k = self.conns
        peer = writer.get_extra_info("peername")
        try:
            try:
                d, rest = await asyncio.wait_for(read_header(reader), 30)
            except EmptyConnection:
                # a readiness probe: connected, closed, sent nothing
                self.log("EMPTY CONN=%d" % k)
                return
            except PPError as e:
                self.log("ERR CONN=%d %s" % (k, e))
                writer.write(("ERR CONN=%d %s\n" % (k, e)).encode())
                await writer.drain()
                return
            except asyncio.TimeoutError:
                self.log("ERR CONN=%d timeout" % k)
                return
            desc = describe(d)
            self.log("PP CONN=%d PEER=%s:%d %s" % (k, peer[0], peer[1], desc))
            if self.mode == "echo":
                writer.write(("PP CONN=%d %s\n" % (k, desc)).encode())
                if rest:
                    writer.write(rest)
                await writer.drain()
                while True:
                    b = await reader.read(65536)
                    if not b:
                        break
                    writer.write(b)
                    await writer.drain()
            else:
                await self.http(reader, writer, k, desc, rest)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except Exception:
                pass

    async def http(self, reader, writer, k, desc, buf):
        j = 0
        while True:
            while b"\r\n\r\n" not in buf:
                if len(buf) > 65536:
                    return
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buf += chunk
            j += 1
            end = buf.index(b"\r\n\r\n")
            head, buf = buf[:end], buf[end + 4:]
            err = None
            if head.startswith(b"PROXY") or head.startswith(SIG2[:4]):
                err = "a second PROXY header on one connection"
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            if err is None and (len(parts) != 3 or
                                parts[2] not in (b"HTTP/1.1", b"HTTP/1.0")):
                err = "not an HTTP/1.x request line: %s" % enc(lines[0][:60])
            if err:
                self.log("ERR CONN=%d REQ=%d %s" % (k, j, err))
                body = ("ERR CONN=%d REQ=%d %s\n" % (k, j, err)).encode()
                writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close"
                             b"\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body)
                await writer.drain()
                return
            fields = {}
            for ln in lines[1:]:
                name, _, value = ln.partition(b":")
                fields[name.strip().lower().decode("latin-1")] = \
                    value.strip().decode("latin-1")
            cl = int(fields.get("content-length", "0") or 0)
            while len(buf) < cl:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buf += chunk
            buf = buf[cl:]
            body = ("PP CONN=%d REQ=%d %s\nHost: %s\nX-Client: %s\n" %
                    (k, j, desc, fields.get("host", "-"),
                     fields.get("x-client", "-"))).encode()
            close = fields.get("connection", "").lower() == "close" or \
                parts[2] == b"HTTP/1.0"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"X-Conn: %d\r\nX-Req: %d\r\nContent-Length: %d\r\n"
                         % (k, j, len(body)) +
                         (b"Connection: close\r\n" if close else b"") +
                         b"\r\n" + body)
            await writer.drain()
            if close:
                return


class UDPServer(asyncio.DatagramProtocol):
    def __init__(self, log):
        self.log = log
        self.n = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.n += 1
        try:
            r = parse(data, dgram=True)
            if r is None:
                raise PPError("incomplete header")
            d, hl = r
            out = ("PP N=%d %s PAYLOAD=" % (self.n, describe(d))).encode() \
                + data[hl:]
            self.log("PP N=%d FROM=%s:%d %s" % (self.n, addr[0], addr[1],
                                                describe(d)))
        except PPError as e:
            out = ("ERR N=%d %s PAYLOAD=%s" % (self.n, e, enc(data))).encode()
            self.log("ERR N=%d FROM=%s:%d %s" % (self.n, addr[0], addr[1], e))
        self.transport.sendto(out, addr)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--mode", choices=("echo", "http", "udp"),
                    default="echo")
    ap.add_argument("--log")
    a = ap.parse_args()
    log = Log(a.log)
    loop = asyncio.get_running_loop()
    if a.mode == "udp":
        await loop.create_datagram_endpoint(lambda: UDPServer(log),
                                            local_addr=(a.host, a.port))
        print("ready", flush=True)
        await asyncio.Event().wait()
    srv = TCPServer(a.mode, log)
    server = await asyncio.start_server(srv.handle, a.host, a.port,
                                        reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
