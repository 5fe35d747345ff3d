#!/usr/bin/env python3
#
# doorman: a small authoritative DNS server over UDP for t/resolve.t
# (`server NAME resolve`). Python 3 standard library only; nothing here
# shares code with doorman's own DNS parser (src/core/dm_dns.c).
#
#   python3 t/lib/dns_responder.py --port N --zone FILE [--host 127.0.0.1]
#                                  [--log FILE]
#
# The zone FILE is read again for every query, so that a test changes the
# answers by rewriting it (write a new file and rename it over the old one:
# a query never sees half a file). One record a line, several lines per
# name allowed, "#" starts a comment, blank lines are skipped:
#
#   NAME A    127.0.0.2 TTL
#   NAME AAAA ::1       TTL
#   NAME SRV PRIORITY WEIGHT PORT TARGET TTL
#
# NAME is matched without regard to case, with or without a final dot;
# TTL is in seconds (0 to 2^31 - 1). A line that is not of that form makes
# the whole file bad: every query is then answered SERVFAIL (and the
# reason logged) until the file is fixed. A missing file: SERVFAIL too.
#
# Says "ready" on stdout once it is bound. Every query is one line of
# --log (and nothing is written to it otherwise):
#
#   TIME NAME TYPE from=ADDR:PORT id=ID rcode=RCODE answers=N
#
# TIME: seconds since the epoch with microseconds; NAME as asked (lower
# case, no final dot); TYPE: A, AAAA, SRV, ... or TYPEnn; RCODE: NOERROR,
# NXDOMAIN, FORMERR, SERVFAIL, NOTIMP or REFUSED. A message that cannot be
# parsed at all is logged as "TIME - - from=... BAD reason".
#
# Answers (RFC 1035, as an authoritative server does):
#   - the header: the query's ID, QR=1, the query's opcode, AA=1, TC=0, RD
#     copied from the query, RA=0, Z=0; QDCOUNT=1 and the question echoed
#     byte for byte (the case of the name kept);
#   - A or AAAA (class IN or ANY) of a name in the zone: every record of
#     that type, in file order, each owned by a compression pointer to the
#     question name (0xC00C), class IN, the TTL of its line; none of that
#     type (the name has only others): NOERROR with no answer (NODATA);
#   - any other type of a name in the zone: NODATA;
#   - a name not in the zone: NXDOMAIN;
#   - NODATA and NXDOMAIN carry an SOA record in the authority section
#     (owned by the last label of the name, its minimum 1 s) for negative
#     caching, as RFC 2308 wants;
#   - an opcode other than QUERY: NOTIMP; a class other than IN or ANY:
#     REFUSED; a query that is not one well-formed question (QR set,
#     QDCOUNT not 1, answers or authority records in it, a compressed or
#     overlong name, bytes after the question other than additional
#     records): FORMERR (the question echoed when it could be read); a
#     message shorter than a header, or a response: dropped (logged);
#   - an answer larger than 512 bytes (EDNS is not spoken; an OPT record
#     in the query is ignored): TC=1 and no records, as RFC 1035 says.

import argparse
import ipaddress
import os
import signal
import socket
import struct
import sys
import time

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX",
         16: "TXT", 28: "AAAA", 33: "SRV", 41: "OPT", 255: "ANY"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}
CLASS_IN = 1
CLASS_ANY = 255
UDP_MAX = 512


class BadQuery(Exception):
    pass


def type_name(t):
    return TYPES.get(t, "TYPE%d" % t)


def read_zone(path):
    """{lower-case name: [(type, rdata bytes, ttl), ...]} or raises
    ValueError with a reason."""
    zone = {}
    with open(path, "r", encoding="ascii") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) == 7 and parts[1].upper() == "SRV":
                # NAME SRV PRIORITY WEIGHT PORT TARGET TTL
                name, _, prio, weight, port, target, ttl = parts
                name = name.lower().rstrip(".")
                if not all(x.isdigit() and int(x) < 65536
                           for x in (prio, weight, port)) \
                        or not ttl.isdigit():
                    raise ValueError("line %d: bad SRV record" % n)
                rdata = struct.pack("!HHH", int(prio), int(weight),
                                    int(port)) + b"".join(
                    bytes([len(l)]) + l.encode("ascii")
                    for l in target.rstrip(".").split(".")) + b"\0"
                zone.setdefault(name, []).append((33, rdata, int(ttl)))
                continue
            if len(parts) != 4:
                raise ValueError("line %d: want NAME TYPE ADDRESS TTL" % n)
            name, rtype, addr, ttl = parts
            name = name.lower().rstrip(".")
            if not name or any(not l or len(l) > 63
                               for l in name.split(".")):
                raise ValueError("line %d: bad name %r" % (n, parts[0]))
            if not ttl.isdigit() or int(ttl) > 0x7FFFFFFF:
                raise ValueError("line %d: bad TTL %r" % (n, ttl))
            rtype = rtype.upper()
            try:
                if rtype == "A":
                    rdata = ipaddress.IPv4Address(addr).packed
                    t = 1
                elif rtype == "AAAA":
                    rdata = ipaddress.IPv6Address(addr).packed
                    t = 28
                else:
                    raise ValueError("line %d: type %r (A or AAAA only)"
                                     % (n, rtype))
            except ipaddress.AddressValueError:
                raise ValueError("line %d: bad address %r" % (n, addr))
            zone.setdefault(name, []).append((t, rdata, int(ttl)))
    return zone


def parse_query(msg):
    """(id, flags, qdcount, ancount, nscount, arcount, labels, qtype,
    qclass, question bytes) of a query; raises BadQuery(reason, qbytes)."""
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    labels = []
    question = None
    if qd >= 1:
        total = 0
        while True:
            if off >= len(msg):
                raise BadQuery("name runs past the message")
            ln = msg[off]
            if ln & 0xC0:
                raise BadQuery("compressed or extended label in the question")
            off += 1
            if ln == 0:
                break
            if off + ln > len(msg):
                raise BadQuery("label runs past the message")
            labels.append(msg[off:off + ln])
            total += ln + 1
            if total > 254:
                raise BadQuery("name longer than 255 bytes")
            off += ln
        if off + 4 > len(msg):
            raise BadQuery("question runs past the message")
        qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
        off += 4
        question = msg[12:off]
    else:
        qtype = qclass = 0
    return qid, flags, qd, an, ns, ar, labels, qtype, qclass, question, off


def skip_rrs(msg, off, count):
    """Walks count resource records from off (names may be compressed);
    returns the offset after them or raises BadQuery."""
    for _ in range(count):
        while True:
            if off >= len(msg):
                raise BadQuery("record runs past the message")
            ln = msg[off]
            if ln & 0xC0 == 0xC0:
                off += 2
                break
            if ln & 0xC0:
                raise BadQuery("extended label")
            off += 1 + ln
            if ln == 0:
                break
        if off + 10 > len(msg):
            raise BadQuery("record runs past the message")
        rdlen = struct.unpack("!H", msg[off + 8:off + 10])[0]
        off += 10 + rdlen
        if off > len(msg):
            raise BadQuery("record data runs past the message")
    return off


def header(qid, opcode, rd, rcode, qd, an, ns, tc=0):
    flags = 0x8000 | (opcode << 11) | 0x0400 | (tc << 9) | (rd << 8) | rcode
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, 0)


def soa(labels):
    """An SOA record owned by the last label of the question name (a
    compression pointer to it), for the authority section: MNAME
    ns.<that label>, RNAME hostmaster.<that label>, minimum 1 s."""
    if labels:
        ptr = struct.pack("!H", 0xC000 | (12 + sum(len(l) + 1
                                                   for l in labels[:-1])))
    else:
        ptr = b"\x00"
    rdata = (b"\x02ns" + ptr + b"\x0ahostmaster" + ptr
             + struct.pack("!IIIII", 1, 60, 60, 3600, 1))
    return ptr + struct.pack("!HHIH", 6, CLASS_IN, 1, len(rdata)) + rdata


def answer(msg, zone_path):
    """(response bytes or None, log fields)."""
    if len(msg) < 12:
        return None, "- - BAD short message (%d bytes)" % len(msg)
    qid, flags = struct.unpack("!HH", msg[:4])
    opcode = (flags >> 11) & 0xF
    rd = (flags >> 8) & 1
    if flags & 0x8000:
        return None, "- - BAD a response, not a query"
    try:
        (qid, flags, qd, an, ns, ar, labels, qtype, qclass, question,
         off) = parse_query(msg)
    except BadQuery as e:
        return (header(qid, opcode, rd, 1, 0, 0, 0),
                "- - id=%d rcode=FORMERR answers=0 (%s)" % (qid, e))
    name = b".".join(labels).decode("ascii", "replace").lower() or "."
    fields = "%s %s" % (name, type_name(qtype))

    def reply(rcode, records=(), authority=()):
        q = question or b""
        qd1 = 1 if question else 0
        m = (header(qid, opcode, rd, rcode, qd1, len(records),
                    len(authority))
             + q + b"".join(records) + b"".join(authority))
        tc = len(m) > UDP_MAX
        if tc:
            m = header(qid, opcode, rd, rcode, qd1, 0, 0, tc=1) + q
        return m, "%s id=%d rcode=%s answers=%d%s" % (
            fields, qid, RCODES[rcode], 0 if tc else len(records),
            " TC" if tc else "")

    if opcode != 0:
        return reply(4)
    reason = None
    if qd != 1:
        reason = "QDCOUNT %d" % qd
    elif an or ns:
        reason = "answer or authority records in a query"
    else:
        try:
            end = skip_rrs(msg, off, ar)
            if end != len(msg):
                reason = "%d bytes after the records" % (len(msg) - end)
        except BadQuery as e:
            reason = str(e)
    if reason:
        m, f = reply(1)
        return m, f + " (%s)" % reason
    if qclass not in (CLASS_IN, CLASS_ANY):
        return reply(5)
    try:
        zone = read_zone(zone_path)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        m, f = reply(2)
        return m, f + " (zone: %s)" % e
    records = zone.get(name)
    if records is None:
        return reply(3, authority=[soa(labels)])
    rrs = []
    for t, rdata, ttl in records:
        if t == qtype:
            rrs.append(struct.pack("!HHHIH", 0xC00C, t, CLASS_IN, ttl,
                                   len(rdata)) + rdata)
    if not rrs:
        return reply(0, authority=[soa(labels)])
    return reply(0, records=rrs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--zone", required=True)
    ap.add_argument("--log", default=None)
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((args.host, args.port))
    log = open(args.log, "a", buffering=1) if args.log else None
    print("ready", flush=True)
    while True:
        msg, peer = s.recvfrom(65535)
        resp, fields = answer(msg, args.zone)
        if log:
            # "NAME TYPE" first, then where from, then the rest
            what, _, rest = fields.partition(" id=")
            if rest:
                rest = " id=" + rest
            else:
                what, rest = "- -", " " + what[4:]
            log.write("%.6f %s from=%s:%d%s\n" % (
                time.time(), what, peer[0], peer[1], rest))
        if resp is not None:
            try:
                s.sendto(resp, peer)
            except OSError:
                pass


if __name__ == "__main__":
    main()
