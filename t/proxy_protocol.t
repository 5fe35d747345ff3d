#!/usr/bin/perl
#
# The PROXY protocol (issue 13, DESIGN.md section 6) through the real
# binary, in and out, in both engines, against independent implementations:
# t/lib/pp_backend.py (a strict v1/v2 decoder written from the
# specification summary, TCP and UDP), Debian's nginx and HAProxy. Two
# doorman instances: "L4" (stream, sending) and "L7" (http and stream,
# receiving; http sending). One worker each; everything on loopback, the
# clients bound to 127.0.0.5 and 127.0.0.6.
#
#   1. The chain: a client bound to 127.0.0.5 -> L4 (proxy_protocol on,
#      version 2, then version 1) -> L7 (listen ... proxy_protocol,
#      set_real_ip_from 127.0.0.1, real_ip_header proxy_protocol) ->
#      backend.py: the backend sees X-Forwarded-For and X-Real-IP
#      127.0.0.5 and L7's access log has $remote_addr and
#      $proxy_protocol_addr 127.0.0.5 ($realip_remote_addr 127.0.0.1), with
#      curl --interface and with a socket bound to 127.0.0.6. Then 100
#      keep-alive requests, 50 from 127.0.0.5 and 50 from 127.0.0.6,
#      interleaved, each client on its own connection: every request
#      reaches the backend with its own client's X-Forwarded-For and L7
#      logs 50 lines for each. `deny 127.0.0.6` lets 127.0.0.5 through the
#      chain and refuses 127.0.0.6 (403).
#   2. Interoperability: doorman's v1 and v2 headers (L4) are accepted by
#      Debian's nginx (`listen ... proxy_protocol`, `return 200
#      "$proxy_protocol_addr:$proxy_protocol_port"`), which reports the
#      client's address and port and logs no broken header; HAProxy's
#      send-proxy, send-proxy-v2 and send-proxy-v2 with a CRC32C TLV are
#      accepted by L7, which reports the address and port the client
#      connected from and to. Each part is skipped when nginx or haproxy is
#      not installed. pp_backend.py decodes L4's v1 and v2 headers (with
#      proxy_protocol_tlv authority and unique_id, a variable in the value)
#      byte for byte, the payload following; a stream server that receives
#      a header (v1 TCP4, v1 TCP6, v2 LOCAL) and sends v2 passes on the
#      addresses it received (LOCAL: the real ones).
#   3. UDP: L4 `listen ... udp` with proxy_protocol version 2 puts a v2
#      header (UDP4, the client's address and port, the address it wrote
#      to) at the start of every datagram: 5 datagrams from each of two
#      sockets come back decoded by pp_backend.py with their own payload.
#      doorman -t refuses `proxy_protocol_version 1` with a udp listener,
#      proxy_protocol_tlv without version 2 (stream and http), an unknown
#      TLV name and version 3.
#   4. Receiving (L7, raw sockets): a v1 header split over 2 (and 3) writes
#      50 ms apart; a v2 header and the request in one write; TCP6
#      addresses (v1 and v2); v2 TLVs (ALPN, AUTHORITY, NOOP, UNIQUE_ID,
#      SSL with a version sub-TLV, a good CRC32C) in $proxy_protocol_tlv_*
#      (by name and as 0x05); LOCAL, with and without an address block, and
#      v1 UNKNOWN: served with the real peer as $remote_addr and an empty
#      $proxy_protocol_addr; without set_real_ip_from $remote_addr stays
#      the peer. A missing header (plain GET) and 14 invalid headers
#      (leading zero, port 65536, LF alone, lower-case "proxy", double
#      space, wrong family, no CRLF within 107 bytes, v2 version 1, command
#      2, TCP4 with an 8-byte address block, a TLV overrun, a stray byte
#      after the TLVs, a bad CRC32C, a UDP4 header on TCP): each connection
#      is closed with not a byte answered and its reason logged, at error
#      (as nginx's "broken header"); neither the backend
#      behind the location nor the access log sees anything. A stall after
#      part of a header (v1 and v2) is closed after proxy_protocol_timeout
#      1s (0.8 to 3 s). `listen ... ssl proxy_protocol`: a v2 header then a
#      TLS handshake (python3's ssl on the connected socket) -> 200 over TLS
#      with the header's address; a ClientHello without a header is
#      refused. stream `listen ... proxy_protocol` + `return`: nothing is
#      sent before the whole header has arrived, then the text with
#      $proxy_protocol_addr:port (and $proxy_protocol_tlv_authority); no
#      header, no text.
#   5. Sending from http (`proxy_protocol on` in a location, version 2,
#      `proxy_protocol_tlv authority $host`) to pp_backend.py speaking HTTP
#      after the header: two keep-alive clients (127.0.0.5 and 127.0.0.6)
#      interleave 5 requests each; each client's requests all travel on one
#      upstream connection (pp_backend counts them 1..5 on it; a second
#      header on it would be a 400) whose single header names that client,
#      its port and its Host; the two never share a connection; a third
#      client from 127.0.0.5 after the first one closed gets a fresh
#      connection. Version 1 from another location, on a new client.
#
# t/lib/pp_backend.py documents its output; the whole file runs in about
# 5 s.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Errno qw(EINTR EAGAIN EWOULDBLOCK ECONNRESET);
use IO::Select;
use IO::Socket::INET;
use Socket qw(AF_INET6 IPPROTO_TCP TCP_NODELAY SHUT_WR inet_aton inet_pton);
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;
use Doorman::HTTP;

my $T_START = time;
alarm 150;    # the harness's ALRM handler kills what the test started

my $t7 = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $t7->bin . ' (make first)'
    unless -x $t7->bin;
$t7->skip_unless_has('proxy_protocol', 'tcp_stream', 'http_proxy');
my $t4 = Doorman::Test->new;

$SIG{PIPE} = 'IGNORE';

my $PYTHON = $ENV{DOORMAN_PYTHON} || 'python3';
my $PP_BACKEND = "$FindBin::Bin/lib/pp_backend.py";

sub which {
    my ($cmd) = @_;
    for ('/usr/sbin', '/usr/local/sbin', split /:/, $ENV{PATH} // '') {
        return "$_/$cmd" if -x "$_/$cmd";
    }
    return undef;
}

my $NGINX = which('nginx');
my $HAPROXY = which('haproxy');
my $CURL = which('curl');
my $OPENSSL = which('openssl');

my ($C5, $C6) = ('127.0.0.5', '127.0.0.6');

# --- PROXY headers built here ---------------------------------------------

my $SIG2 = "\r\n\r\n\0\r\nQUIT\n";

my @CRC_T = map {
    my $c = $_;
    $c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 for 1 .. 8;
    $c;
} 0 .. 255;

sub crc32c {
    my $c = 0xFFFFFFFF;
    $c = $CRC_T[($c ^ $_) & 0xFF] ^ ($c >> 8) for unpack 'C*', $_[0];
    return $c ^ 0xFFFFFFFF;
}
die 'crc32c self-test' unless crc32c('123456789') == 0xE3069283;

sub v1 {
    my ($src, $dst, $sp, $dp) = @_;
    my $fam = $src =~ /:/ ? 'TCP6' : 'TCP4';
    return "PROXY $fam $src $dst $sp $dp\r\n";
}

sub tlv { my ($type, $v) = @_; return pack('Cn', $type, length $v) . $v }

# v2(cmd => 1, fam => 0x11, src, dst, sp, dp, tlvs => BYTES,
#    crc => good|bad, len => N (announced length override))
sub v2 {
    my (%o) = @_;
    my $cmd = $o{cmd} // 1;
    my $fam = $o{fam} // 0x11;
    my $addr = '';
    if (defined $o{src}) {
        my $pack = ($fam >> 4) == 2
            ? sub { inet_pton(AF_INET6, $_[0]) } : sub { inet_aton($_[0]) };
        $addr = $pack->($o{src}) . $pack->($o{dst}) . pack('nn', $o{sp}, $o{dp});
    }
    my $body = $addr . ($o{tlvs} // '');
    my $crc_at;
    if ($o{crc}) {
        $crc_at = 16 + length($body) + 3;
        $body .= tlv(0x03, "\0\0\0\0");
    }
    my $h = $SIG2 . pack('CCn', 0x20 | $cmd, $fam, $o{len} // length $body)
        . $body;
    if ($o{crc}) {
        my $c = crc32c($h);
        $c ^= 1 if $o{crc} eq 'bad';
        substr($h, $crc_at, 4, pack('N', $c));
    }
    return $h;
}

# --- clients ---------------------------------------------------------------

sub connect_from {
    my ($port, $local) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
        LocalAddr => $local // '127.0.0.1', Proto => 'tcp', Timeout => 5)
        or return;
    setsockopt $s, IPPROTO_TCP, TCP_NODELAY, 1;
    $s->blocking(0);
    return $s;
}

# Reads what comes until EOF, a reset or the deadline: (bytes, how).
sub read_all {
    my ($s, $timeout) = @_;
    my ($data, $deadline, $sel) = ('', time + $timeout, IO::Select->new($s));
    for (;;) {
        my $left = $deadline - time;
        return ($data, 'timeout') if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread $s, my $buf, 65536;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return ($data, $! == ECONNRESET ? 'reset' : "recv: $!");
        }
        return ($data, 'eof') if $n == 0;
        $data .= $buf;
    }
}

sub write_all {
    my ($s, $bytes) = @_;
    my ($off, $deadline) = (0, time + 5);
    my $sel = IO::Select->new($s);
    while ($off < length $bytes) {
        return 0 if time > $deadline;
        next unless $sel->can_write($deadline - time);
        my $n = syswrite $s, $bytes, length($bytes) - $off, $off;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# talk(port, [piece, delay, piece, ...], local => ADDR, timeout => S,
#      half_close => 0): writes the pieces (sleeping the delays between
#      them), then reads until EOF. Returns {data, how, secs (from the
#      last write to the end), port (the client's)}.
sub talk {
    my ($port, $pieces, %o) = @_;
    my $s = connect_from($port, $o{local})
        or return {data => '', how => "connect: $!", secs => 0, port => 0};
    my @p = @$pieces;
    while (@p) {
        my $piece = shift @p;
        write_all($s, $piece) if length $piece;
        sleep shift @p if @p;
    }
    shutdown $s, SHUT_WR if $o{half_close};
    my $t0 = time;
    my ($data, $how) = read_all($s, $o{timeout} // 5);
    my $r = {data => $data, how => $how, secs => time - $t0,
        port => $s->sockport};
    close $s;
    return $r;
}

# The body of a complete HTTP/1.x response (after the head), or a
# description of what came instead.
sub body_of {
    my ($r) = @_;
    return "no response ($r->{how}): $r->{data}"
        unless $r->{data} =~ m{^HTTP/1\.[01] (\d{3}) .*?\r\n\r\n(.*)\z}s;
    return $1 == 200 ? $2 : "status $1: $2";
}

my $GET = "GET /proxy/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

# A keep-alive connection: ka_get($conn, $path, [K, V...]) sends one
# request and reads one response (Content-Length framed): (status, \%h,
# body) or (undef, {}, error).
sub ka_get {
    my ($c, $path, $h) = @_;
    my $req = "GET $path HTTP/1.1\r\n";
    my @h = @{$h || []};
    $req .= "Host: localhost\r\n" unless grep { lc($_) eq 'host' } @h[grep { !($_ % 2) } 0 .. $#h];
    for (my $i = 0; $i < @h; $i += 2) { $req .= "$h[$i]: $h[$i + 1]\r\n" }
    $req .= "\r\n";
    return (undef, {}, 'write failed') unless write_all($c->{s}, $req);
    my $deadline = time + 5;
    my $sel = IO::Select->new($c->{s});
    my $fill = sub {
        my $left = $deadline - time;
        return 0 if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $c->{s}, my $buf, 65536;
        return 1 if !defined $n && ($! == EINTR || $! == EAGAIN);
        return 0 unless $n;
        $c->{buf} .= $buf;
        return 1;
    };
    while ((my $e = index $c->{buf}, "\r\n\r\n") < 0) {
        $fill->() or return (undef, {}, "no head: $c->{buf}");
    }
    my $e = index $c->{buf}, "\r\n\r\n";
    my $head = substr $c->{buf}, 0, $e + 4, '';
    my ($status) = $head =~ m{^HTTP/1\.[01] (\d{3})}
        or return (undef, {}, "bad head: $head");
    my %hh;
    $hh{lc $1} = $2 while $head =~ /^([^:\r\n]+):[ \t]*(.*?)\r$/mg;
    my $len = $hh{'content-length'} // 0;
    while (length $c->{buf} < $len) {
        $fill->() or return (undef, {}, "short body: $c->{buf}");
    }
    my $body = substr $c->{buf}, 0, $len, '';
    return ($status, \%hh, $body);
}

sub ka_connect {
    my ($port, $local) = @_;
    my $s = connect_from($port, $local) or return;
    return {s => $s, buf => '', port => $s->sockport};
}

sub lines_of { my ($text) = @_; return grep { length } split /\n/, $text // '' }

sub count_lines {
    my ($t, $file, $re) = @_;
    return scalar grep { /$re/ } lines_of($t->read_file($file));
}

# --- ports and backends ------------------------------------------------------

my %P;
$P{$_} = $t7->port for qw(chain edge norip ssl send sret relay
    l4v2 l4v1 ngx1 ngx2 echo1 echo2 nginx hap1 hap2 hap3);
$P{$_} = $t7->udp_port for qw(udp pp_udp cfg_udp);

sub start_pp {
    my ($t, $mode, $name) = @_;
    for my $try (1 .. 3) {
        my $port = $mode eq 'udp' ? $t->udp_port : $t->port;
        my $p = eval {
            $t->spawn(name => "pp-$name",
                cmd => [$PYTHON, $PP_BACKEND, '--port', $port, '--mode', $mode,
                    '--log', $t->path("logs/pp-$name.decoded.log")],
                ($mode eq 'udp' ? (wait_udp_ports => [$port])
                    : (wait_ports => [$port])),
                timeout => 10);
        };
        return $port if $p;
        diag "pp_backend $name: $@" if $try == 3;
    }
    die "cannot start pp_backend.py ($mode)\n";
}

my $BK = start_backend($t7, name => 'bk');
$P{bk} = $BK;
$P{pp_http} = start_pp($t7, 'http', 'http');
$P{pp_echo} = start_pp($t4, 'echo', 'echo');
$P{pp_udp} = start_pp($t4, 'udp', 'udp');

# a self-signed certificate for the ssl listener
my $HAVE_TLS = $OPENSSL ? 1 : 0;
if ($HAVE_TLS) {
    my ($code, $out, $err) = $t7->run_cmd($OPENSSL, 'req', '-x509',
        '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', $t7->path('pp.key'), '-out', $t7->path('pp.crt'),
        '-days', '2', '-subj', '/CN=pp.test', {timeout => 20});
    $HAVE_TLS = 0 if $code;
    diag "openssl req failed: $err" if $code;
}

sub fill {
    my ($text) = @_;
    $text =~ s/\@(\w+)\@/$P{$1} \/\/ die "no port $1"/ge;
    return $text;
}

# --- L7: receiving (http and stream), and http sending ---------------------

my $ssl_server = $HAVE_TLS ? <<'EOF' : '';
    server {
        listen 127.0.0.1:@ssl@ ssl proxy_protocol;
        ssl_certificate %%PREFIX%%/pp.crt;
        ssl_certificate_key %%PREFIX%%/pp.key;
        location / {
            return 200 "tls $ssl_protocol pp=$proxy_protocol_addr:$proxy_protocol_port\n";
        }
    }
EOF

$t7->write_conf(fill(<<'EOF' =~ s/SSL_SERVER\n/$ssl_server/r));
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    log_format chain '$remote_addr|$proxy_protocol_addr|$realip_remote_addr|$http_x_client';
    log_format edge '$remote_addr|$proxy_protocol_addr|$status';
    access_log off;

    # 1. the chain's L7 tier
    server {
        listen 127.0.0.1:@chain@ proxy_protocol;
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        access_log logs/chain.log chain;
        location / { proxy_pass http://127.0.0.1:@bk@; }
        location /deny/ {
            deny 127.0.0.6;
            allow all;
            proxy_pass http://127.0.0.1:@bk@;
        }
    }

    # 4. receiving: what the header says, trusted
    server {
        listen 127.0.0.1:@edge@ proxy_protocol;
        proxy_protocol_timeout 1s;
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        access_log logs/edge.log edge;
        location / {
            return 200 "remote=$remote_addr:$remote_port pp=$proxy_protocol_addr:$proxy_protocol_port srv=$proxy_protocol_server_addr:$proxy_protocol_server_port auth=$proxy_protocol_tlv_authority uid=$proxy_protocol_tlv_unique_id hex=$proxy_protocol_tlv_0x05 alpn=$proxy_protocol_tlv_alpn sslv=$proxy_protocol_tlv_ssl_version\n";
        }
        location /proxy/ { proxy_pass http://127.0.0.1:@bk@; }
    }

    # 2. and 4.: not trusted (no set_real_ip_from), HAProxy's target
    server {
        listen 127.0.0.1:@norip@ proxy_protocol;
        location / {
            return 200 "remote=$remote_addr pp=$proxy_protocol_addr:$proxy_protocol_port srv=$proxy_protocol_server_addr:$proxy_protocol_server_port\n";
        }
    }

SSL_SERVER
    # 5. sending from http
    server {
        listen 127.0.0.1:@send@;
        location / {
            proxy_pass http://127.0.0.1:@pp_http@;
            proxy_protocol on;
            proxy_protocol_version 2;
            proxy_protocol_tlv authority $host;
        }
        location /v1/ {
            proxy_pass http://127.0.0.1:@pp_http@;
            proxy_protocol on;
            proxy_protocol_version 1;
        }
    }
}
stream {
    server {
        listen 127.0.0.1:@sret@ proxy_protocol;
        proxy_protocol_timeout 2s;
        return "$proxy_protocol_addr:$proxy_protocol_port $proxy_protocol_server_addr:$proxy_protocol_server_port $proxy_protocol_tlv_authority\n";
    }
    # 2. a received header passed on (to pp_backend.py, echo)
    server {
        listen 127.0.0.1:@relay@ proxy_protocol;
        proxy_pass 127.0.0.1:@pp_echo@;
        proxy_protocol on;
        proxy_protocol_version 2;
    }
}
EOF

# --- L4: sending (stream, TCP and UDP) -------------------------------------

$t4->write_conf(fill(<<'EOF'));
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 256; }
stream {
    # 1. the chain's L4 tier
    server {
        listen 127.0.0.1:@l4v2@;
        proxy_pass 127.0.0.1:@chain@;
        proxy_protocol on;
        proxy_protocol_version 2;
    }
    server {
        listen 127.0.0.1:@l4v1@;
        proxy_pass 127.0.0.1:@chain@;
        proxy_protocol on;
        proxy_protocol_version 1;
    }
    # 2. to nginx
    server {
        listen 127.0.0.1:@ngx1@;
        proxy_pass 127.0.0.1:@nginx@;
        proxy_protocol on;
    }
    server {
        listen 127.0.0.1:@ngx2@;
        proxy_pass 127.0.0.1:@nginx@;
        proxy_protocol on;
        proxy_protocol_version 2;
    }
    # 2. to pp_backend.py (echo)
    server {
        listen 127.0.0.1:@echo1@;
        proxy_pass 127.0.0.1:@pp_echo@;
        proxy_protocol on;
        proxy_protocol_version 1;
    }
    server {
        listen 127.0.0.1:@echo2@;
        proxy_pass 127.0.0.1:@pp_echo@;
        proxy_protocol on;
        proxy_protocol_version 2;
        proxy_protocol_tlv authority example.test;
        proxy_protocol_tlv unique_id "u-$remote_port";
    }
    # 3. UDP
    server {
        listen 127.0.0.1:@udp@ udp;
        proxy_pass 127.0.0.1:@pp_udp@;
        proxy_protocol on;
        proxy_protocol_version 2;
        proxy_timeout 5s;
    }
}
EOF

for my $t ($t7, $t4) {
    my ($code, $err) = $t->test_conf;
    is $code, 0, 'doorman -t accepts the ' . ($t == $t7 ? 'L7' : 'L4')
        . ' configuration' or diag $err;
}
$t7->run(wait_ports => [@P{qw(chain edge norip send sret relay)},
    ($HAVE_TLS ? $P{ssl} : ())]);
$t4->run(wait_ports => [@P{qw(l4v2 l4v1 ngx1 ngx2 echo1 echo2)}],
    wait_udp_ports => [$P{udp}]);

# ===========================================================================
# 1. the chain

my $bklog = backend_log_path($t7, 'bk');

for my $v ([2, $P{l4v2}], [1, $P{l4v1}]) {
    my ($ver, $port) = @$v;
    my $tag = "chain-v$ver";
    # curl bound to 127.0.0.5, as the issue says
    SKIP: {
        skip 'curl is not installed', 3 unless $CURL;
        my ($code, $out, $err) = $t7->run_cmd($CURL, '-sS', '--max-time', '5',
            '--interface', $C5, '-H', "X-Client: $tag-curl",
            "http://127.0.0.1:$port/echo", {timeout => 10});
        is $code, 0, "v$ver chain: curl --interface $C5 succeeds" or diag $err;
        like $out, qr/^X-Forwarded-For: 127\.0\.0\.5$/m,
            "v$ver chain: the backend sees X-Forwarded-For: 127.0.0.5"
            or diag $out;
        like $out, qr/^X-Real-IP: 127\.0\.0\.5$/m,
            "v$ver chain: the backend sees X-Real-IP: 127.0.0.5" or diag $out;
    }
    # a plain socket from 127.0.0.6 as well
    my $r = talk($port, ["GET /echo HTTP/1.1\r\nHost: localhost\r\n"
        . "X-Client: $tag-sock\r\nConnection: close\r\n\r\n"], local => $C6);
    like body_of($r), qr/^X-Forwarded-For: 127\.0\.0\.6$/m,
        "v$ver chain: a socket bound to $C6: X-Forwarded-For: 127.0.0.6"
        or diag body_of($r);
    ok $t7->wait_for(sub {
            count_lines($t7, 'logs/chain.log', qr/\|\Q$tag\E-sock$/) == 1
        }, timeout => 3), "v$ver chain: L7 logged the request";
    SKIP: {
        skip 'curl is not installed', 1 unless $CURL;
        my @l = grep { /\|\Q$tag\E-curl$/ } lines_of($t7->read_file('logs/chain.log'));
        is_deeply \@l, ["127.0.0.5|127.0.0.5|127.0.0.1|$tag-curl"],
            "v$ver chain: L7's access log: \$remote_addr and "
            . '$proxy_protocol_addr 127.0.0.5, $realip_remote_addr 127.0.0.1';
    }
    my @l = grep { /\|\Q$tag\E-sock$/ } lines_of($t7->read_file('logs/chain.log'));
    is_deeply \@l, ["127.0.0.6|127.0.0.6|127.0.0.1|$tag-sock"],
        "v$ver chain: L7's access log has 127.0.0.6 for the socket's request";
}

# 100 keep-alive requests, two clients interleaved
{
    my %c = (5 => ka_connect($P{l4v2}, $C5), 6 => ka_connect($P{l4v2}, $C6));
    ok $c{5} && $c{6}, 'two keep-alive clients connect through the chain';
    my (%ok, %bad, %conn);
    if ($c{5} && $c{6}) {
        for my $i (1 .. 50) {
            for my $k (5, 6) {
                my ($st, $h, $body) = ka_get($c{$k}, "/ka/$i",
                    ['X-Client', "ka-$k-$i"]);
                my $xff = ($body // '') =~ /^X-Forwarded-For: (.*)$/m ? $1 : '';
                my $xc = ($body // '') =~ /^X-Client: (.*)$/m ? $1 : '';
                if (($st // 0) == 200 && $xff eq "127.0.0.$k" && $xc eq "ka-$k-$i") {
                    $ok{$k}++;
                } else {
                    $bad{$k} //= "request $i: status " . ($st // 'none')
                        . ", XFF '$xff', X-Client '$xc': $body";
                }
            }
        }
        close $c{$_}{s} for 5, 6;
    }
    is $ok{5} // 0, 50, '50 keep-alive requests from 127.0.0.5 reach the '
        . 'backend with X-Forwarded-For: 127.0.0.5' or diag $bad{5};
    is $ok{6} // 0, 50, '50 keep-alive requests from 127.0.0.6 reach the '
        . 'backend with X-Forwarded-For: 127.0.0.6' or diag $bad{6};
    $t7->wait_for(sub {
        count_lines($t7, 'logs/chain.log', qr/\|ka-\d-\d+$/) >= 100
    }, timeout => 3);
    my @ka = grep { /\|ka-\d-\d+$/ } lines_of($t7->read_file('logs/chain.log'));
    my $good5 = grep { /^127\.0\.0\.5\|127\.0\.0\.5\|127\.0\.0\.1\|ka-5-\d+$/ } @ka;
    my $good6 = grep { /^127\.0\.0\.6\|127\.0\.0\.6\|127\.0\.0\.1\|ka-6-\d+$/ } @ka;
    is scalar @ka, 100, 'L7 logged the 100 keep-alive requests';
    is $good5, 50, '50 of them with $remote_addr 127.0.0.5, each its own client';
    is $good6, 50, '50 of them with $remote_addr 127.0.0.6, each its own client'
        or diag join "\n", grep { !/^127\.0\.0\.(\d)\|127\.0\.0\.\1\|127\.0\.0\.1\|ka-\1-/ } @ka;
}

# allow/deny sees the PROXY source
{
    my $r5 = talk($P{l4v2}, ["GET /deny/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"], local => $C5);
    my $r6 = talk($P{l4v2}, ["GET /deny/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"], local => $C6);
    like $r5->{data}, qr{^HTTP/1\.1 200 }, 'deny 127.0.0.6: 127.0.0.5 through the chain is allowed';
    like $r6->{data}, qr{^HTTP/1\.1 403 }, 'and 127.0.0.6 through the chain is denied';
}

# ===========================================================================
# 2. interoperability

# pp_backend.py decodes what L4 sends
{
    my $r = talk($P{echo1}, ["hello v1\n"], local => $C5, half_close => 1);
    is $r->{data} =~ s/^PP CONN=\d+ /PP /r,
        "PP VER=1 CMD=PROXY FAM=TCP4 SRC=127.0.0.5:$r->{port} "
        . "DST=127.0.0.1:$P{echo1} LEN=" . length(v1('127.0.0.5', '127.0.0.1',
            $r->{port}, $P{echo1})) . " TLV=-\nhello v1\n",
        'L4 v1: pp_backend.py decodes the client address and port, the '
        . 'payload follows';
    $r = talk($P{echo2}, ["hello v2\n"], local => $C5, half_close => 1);
    my $uid = "u-$r->{port}";
    is $r->{data} =~ s/^PP CONN=\d+ /PP /r,
        "PP VER=2 CMD=PROXY FAM=TCP4 SRC=127.0.0.5:$r->{port} "
        . "DST=127.0.0.1:$P{echo2} LEN=" . (28 + 3 + 12 + 3 + length $uid)
        . " TLV=0x02:example.test,0x05:$uid\nhello v2\n",
        'L4 v2: pp_backend.py decodes the addresses and the TLVs '
        . '(authority, unique_id with a variable), the payload follows';
    unlike $t4->read_file('logs/pp-echo.decoded.log'), qr/^ERR/m,
        'pp_backend.py found no error in what L4 sent'
        or diag $t4->read_file('logs/pp-echo.decoded.log');
}

# a received header passed on: the addresses it gave, re-encoded as v2
{
    my @relay = (
        ['v1 TCP4', v1('192.0.2.1', '192.0.2.2', 1234, 80),
            'FAM=TCP4 SRC=192.0.2.1:1234 DST=192.0.2.2:80 LEN=28'],
        ['v1 TCP6', v1('2001:db8::1', '2001:db8::2', 123, 5678),
            'FAM=TCP6 SRC=[2001:db8::1]:123 DST=[2001:db8::2]:5678 LEN=52'],
        ['v2 LOCAL', v2(cmd => 0, fam => 0),
            "FAM=TCP4 SRC=127.0.0.1:PORT DST=127.0.0.1:$P{relay} LEN=28"],
    );
    for my $c (@relay) {
        my ($what, $hdr, $want) = @$c;
        my $r = talk($P{relay}, [$hdr . "payload\n"], half_close => 1);
        $want =~ s/PORT/$r->{port}/;
        is $r->{data} =~ s/^PP CONN=\d+ /PP /r,
            "PP VER=2 CMD=PROXY $want TLV=-\npayload\n",
            "stream receiving $what and sending v2: the addresses passed on "
            . '(LOCAL: the real ones)';
    }
}

SKIP: {
    skip 'nginx is not installed', 4 unless $NGINX;
    my $nd = $t4->path('nginx');
    mkdir $nd;
    mkdir "$nd/logs";
    $t4->write_file('nginx/nginx.conf', <<"EOF");
daemon off;
master_process off;
worker_processes 1;
error_log $nd/logs/error.log info;
pid $nd/logs/nginx.pid;
lock_file $nd/logs/nginx.lock;
events { worker_connections 64; }
http {
    access_log $nd/logs/access.log;
    client_body_temp_path $nd/body;
    proxy_temp_path $nd/proxy;
    fastcgi_temp_path $nd/fastcgi;
    uwsgi_temp_path $nd/uwsgi;
    scgi_temp_path $nd/scgi;
    server {
        listen 127.0.0.1:$P{nginx} proxy_protocol;
        location / {
            return 200 "\$proxy_protocol_addr:\$proxy_protocol_port\\n";
        }
    }
}
EOF
    my $np = eval {
        $t4->spawn(name => 'nginx', cmd => [$NGINX, '-p', "$nd/", '-c',
            "$nd/nginx.conf"], wait_ports => [$P{nginx}], timeout => 10);
    };
    skip "nginx did not start: $@", 4 unless $np;
    for my $v ([1, $P{ngx1}], [2, $P{ngx2}]) {
        my $r = talk($v->[1], ["GET / HTTP/1.0\r\nHost: x\r\n\r\n"], local => $C5);
        is body_of($r), "127.0.0.5:$r->{port}\n",
            "nginx accepts doorman's v$v->[0] header and shows the client's "
            . 'address and port';
    }
    $np->stop;
    my $elog = $t4->read_file("$nd/logs/error.log");
    unlike $elog, qr/broken header/, 'nginx logged no broken header';
    my $alog = $t4->read_file("$nd/logs/access.log");
    is scalar(() = $alog =~ / 200 /g), 2, 'nginx served both (access log)'
        or diag $alog;
}

SKIP: {
    skip 'haproxy is not installed', 4 unless $HAPROXY;
    $t7->write_file('haproxy.cfg', <<"EOF");
global
    maxconn 64
defaults
    mode tcp
    timeout connect 3s
    timeout client 5s
    timeout server 5s
listen v1
    bind 127.0.0.1:$P{hap1}
    server s 127.0.0.1:$P{norip} send-proxy
listen v2
    bind 127.0.0.1:$P{hap2}
    server s 127.0.0.1:$P{norip} send-proxy-v2
listen v2crc
    bind 127.0.0.1:$P{hap3}
    server s 127.0.0.1:$P{norip} send-proxy-v2 proxy-v2-options crc32c
EOF
    my $hp = eval {
        $t7->spawn(name => 'haproxy', cmd => [$HAPROXY, '-db', '-f',
            $t7->path('haproxy.cfg')], wait_ports => [@P{qw(hap1 hap2 hap3)}],
            timeout => 10);
    };
    skip "haproxy did not start: $@", 4 unless $hp;
    my $off = $t7->log_offset;
    for my $v (['send-proxy', $P{hap1}], ['send-proxy-v2', $P{hap2}],
        ['send-proxy-v2 with CRC32C', $P{hap3}]) {
        my ($what, $port) = @$v;
        my $r = talk($port, [$GET], local => $C5);
        is body_of($r), "remote=127.0.0.1 pp=127.0.0.5:$r->{port} "
            . "srv=127.0.0.1:$port\n",
            "doorman accepts HAProxy's $what: the client's address and port, "
            . 'the address it connected to';
    }
    $hp->stop;
    unlike $t7->error_log_since($off),
        qr/\[(?:info|error|crit)\][^\n]*(?:PROXY|header)/i,
        'no PROXY header complaint about the HAProxy connections' or diag $t7->error_log_since($off);
}

# ===========================================================================
# 3. UDP

{
    my (%got, %want);
    for my $k (5, 6) {
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.$k", Proto => 'udp',
            PeerAddr => "127.0.0.1:$P{udp}") or die "udp socket: $!";
        my $cport = $s->sockport;
        my $sel = IO::Select->new($s);
        for my $i (1 .. 5) {
            my $payload = "dgram $k/$i";
            send $s, $payload, 0;
            my $reply = '(no reply within 3 s)';
            if ($sel->can_read(3)) {
                recv $s, $reply, 65536, 0;
            }
            push @{$got{$k}}, $reply =~ s/^PP N=\d+ /PP /r;
            push @{$want{$k}}, "PP VER=2 CMD=PROXY FAM=UDP4 SRC=127.0.0.$k:$cport "
                . "DST=127.0.0.1:$P{udp} LEN=28 TLV=- PAYLOAD=$payload";
        }
        close $s;
        is_deeply $got{$k}, $want{$k}, "UDP: 5 datagrams from 127.0.0.$k each "
            . 'carry a v2 header (UDP4, the client, the address it wrote to) '
            . 'before their own payload';
    }
    my $log = $t4->read_file('logs/pp-udp.decoded.log');
    is scalar(() = $log =~ /^PP /mg), 10, 'pp_backend.py decoded 10 headers';
    unlike $log, qr/^ERR/m, 'and found no error' or diag $log;

    my $tc = Doorman::Test->new;
    my @refused = (
        ['proxy_protocol_version 1 on a udp listener',
            'stream { server { listen 127.0.0.1:@cfg_udp@ udp; proxy_pass 127.0.0.1:@pp_udp@; proxy_protocol on; proxy_protocol_version 1; } }',
            qr/proxy_protocol/],
        ['stream proxy_protocol_tlv without version 2',
            'stream { server { listen 127.0.0.1:@cfg_udp@; proxy_pass 127.0.0.1:@pp_udp@; proxy_protocol on; proxy_protocol_tlv authority x; } }',
            qr/proxy_protocol_tlv/],
        ['an unknown TLV name',
            'stream { server { listen 127.0.0.1:@cfg_udp@; proxy_pass 127.0.0.1:@pp_udp@; proxy_protocol on; proxy_protocol_version 2; proxy_protocol_tlv nosuch x; } }',
            qr/nosuch/],
        ['http proxy_protocol_tlv without version 2',
            'http { server { listen 127.0.0.1:@cfg_udp@; location / { proxy_pass http://127.0.0.1:@pp_udp@; proxy_protocol on; proxy_protocol_tlv authority $host; } } }',
            qr/proxy_protocol_tlv/],
        ['proxy_protocol_version 3',
            'stream { server { listen 127.0.0.1:@cfg_udp@; proxy_pass 127.0.0.1:@pp_udp@; proxy_protocol on; proxy_protocol_version 3; } }',
            qr/proxy_protocol_version/],
    );
    for my $c (@refused) {
        my ($what, $block, $re) = @$c;
        $tc->write_conf(fill("events { worker_connections 64; }\n$block\n"));
        my ($code, $err) = $tc->test_conf;
        ok $code != 0 && $err =~ $re, "doorman -t refuses $what, and says why"
            or diag "exit $code: $err";
    }
}

# ===========================================================================
# 4. receiving edge cases

my $EDGE = $P{edge};
my $bk_before = count_lines($t7, $bklog, qr/./);

{
    my $h = v1('192.0.2.1', '192.0.2.2', 1234, 80);
    my $r = talk($EDGE, [substr($h, 0, 20), 0.05, substr($h, 20) . "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"]);
    is body_of($r), "remote=192.0.2.1:1234 pp=192.0.2.1:1234 srv=192.0.2.2:80 "
        . "auth= uid= hex= alpn= sslv=\n",
        'a v1 header split in 2 writes 50 ms apart, then the request';

    $r = talk($EDGE, [substr($h, 0, 7), 0.05, substr($h, 7, 20), 0.05, substr($h, 27),
        0.05, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"]);
    like body_of($r), qr/^remote=192\.0\.2\.1:1234 /, 'the same header in 3 writes';

    $r = talk($EDGE, [v2(src => '198.51.100.7', dst => '203.0.113.9', sp => 40000, dp => 443)
        . "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"]);
    is body_of($r), "remote=198.51.100.7:40000 pp=198.51.100.7:40000 "
        . "srv=203.0.113.9:443 auth= uid= hex= alpn= sslv=\n",
        'a v2 header and the request in one write';

    $r = talk($EDGE, [v2(fam => 0x21, src => '2001:db8::1', dst => '2001:db8::2',
        sp => 123, dp => 5678) . $GET =~ s{/proxy/x}{/}r]);
    is body_of($r), "remote=2001:db8::1:123 pp=2001:db8::1:123 "
        . "srv=2001:db8::2:5678 auth= uid= hex= alpn= sslv=\n",
        'v2 TCP6: IPv6 addresses';

    $r = talk($EDGE, [v1('2001:db8::a', '::1', 65535, 0)
        . $GET =~ s{/proxy/x}{/}r]);
    is body_of($r), "remote=2001:db8::a:65535 pp=2001:db8::a:65535 "
        . "srv=::1:0 auth= uid= hex= alpn= sslv=\n", 'v1 TCP6, ports 65535 and 0';

    my $ssl = tlv(0x20, pack('CN', 0x01, 0) . tlv(0x21, 'TLSv1.3')
        . tlv(0x23, 'TLS_AES_128_GCM_SHA256'));
    $r = talk($EDGE, [v2(src => '192.0.2.1', dst => '192.0.2.2', sp => 1, dp => 2,
        tlvs => tlv(0x01, 'h2') . tlv(0x02, 'example.test') . tlv(0x04, "\0\0\0")
            . tlv(0x05, 'uid-42') . $ssl, crc => 'good')
        . "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"]);
    is body_of($r), "remote=192.0.2.1:1 pp=192.0.2.1:1 srv=192.0.2.2:2 "
        . "auth=example.test uid=uid-42 hex=uid-42 alpn=h2 sslv=TLSv1.3\n",
        'v2 TLVs (ALPN, AUTHORITY, NOOP, UNIQUE_ID, SSL/version, good CRC32C) '
        . 'in $proxy_protocol_tlv_*';

    $r = talk($EDGE, [v2(cmd => 0, fam => 0x00) . $GET =~ s{/proxy/x}{/}r]);
    is body_of($r), "remote=127.0.0.1:$r->{port} pp=: srv=: auth= uid= hex= "
        . "alpn= sslv=\n",
        'LOCAL: served, $remote_addr is the real peer, $proxy_protocol_addr empty';

    $r = talk($EDGE, [v2(cmd => 0, fam => 0x11, src => '192.0.2.1', dst => '192.0.2.2',
        sp => 1, dp => 2) . $GET =~ s{/proxy/x}{/}r]);
    like body_of($r), qr/^remote=127\.0\.0\.1:\d+ pp=: /,
        'LOCAL with an address block: the block is skipped, the real peer used';

    $r = talk($EDGE, ["PROXY UNKNOWN\r\n" . $GET =~ s{/proxy/x}{/}r]);
    like body_of($r), qr/^remote=127\.0\.0\.1:\d+ pp=: /,
        'v1 UNKNOWN: served with the real peer';

    $r = talk($P{norip}, [v1('192.0.2.1', '192.0.2.2', 1234, 80) . $GET]);
    is body_of($r), "remote=127.0.0.1 pp=192.0.2.1:1234 srv=192.0.2.2:80\n",
        'without set_real_ip_from, $remote_addr stays the peer';

    my $good = $t7->wait_for(sub {
        count_lines($t7, 'logs/edge.log', qr/\|200$/) >= 9 }, timeout => 3);
    ok $good, 'the edge server logged its 200s';
}

# refused: nothing answered, the reason logged at error, nothing forwarded
{
    my $edge_lines = count_lines($t7, 'logs/edge.log', qr/./);
    my @bad = (
        ['no header (a plain GET)', ''],
        ['v1 leading zero', "PROXY TCP4 1.2.3.04 1.2.3.4 1 2\r\n"],
        ['v1 port 65536', "PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n"],
        ['v1 LF alone', "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n"],
        ['v1 lower-case proxy', "proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n"],
        ['v1 double space', "PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n"],
        ['v1 address of the wrong family', "PROXY TCP4 ::1 1.2.3.4 1 2\r\n"],
        ['v1 without CRLF within 107 bytes', 'PROXY UNKNOWN ' . ('x' x 120)],
        ['v2 version 1', v2(src => '1.2.3.4', dst => '1.2.3.4', sp => 1, dp => 2)
            =~ s/^(.{12})\x21/$1\x11/sr],
        ['v2 command 2', v2(cmd => 2, src => '1.2.3.4', dst => '1.2.3.4', sp => 1, dp => 2)],
        ['v2 TCP4 with an 8-byte block', substr(v2(src => '1.2.3.4', dst => '1.2.3.4',
            sp => 1, dp => 2), 0, 24) =~ s/^(.{14})\0\x0c/$1\0\x08/sr],
        ['v2 TLV overrun', v2(src => '1.2.3.4', dst => '1.2.3.4', sp => 1, dp => 2,
            tlvs => pack('Cn', 0x02, 50) . 'short')],
        ['v2 stray byte after the TLVs', v2(src => '1.2.3.4', dst => '1.2.3.4',
            sp => 1, dp => 2, tlvs => tlv(0x02, 'a') . "\x04")],
        ['v2 bad CRC32C', v2(src => '1.2.3.4', dst => '1.2.3.4', sp => 1, dp => 2,
            crc => 'bad')],
        ['v2 UDP4 on a TCP listener', v2(fam => 0x12, src => '1.2.3.4',
            dst => '1.2.3.4', sp => 1, dp => 2)],
    );
    my %levels;
    for my $b (@bad) {
        my ($what, $hdr) = @$b;
        my $off = $t7->log_offset;
        my $r = talk($EDGE, [$hdr . $GET], timeout => 3);
        ok $r->{data} eq '' && ($r->{how} eq 'eof' || $r->{how} eq 'reset'),
            "$what: closed without an answer"
            or diag "got ($r->{how}): $r->{data}";
        my $re = qr/\[(\w+)\][^\n]*(?:broken header|PROXY)[^\n]*\n/;
        $t7->wait_log($re, from => $off, timeout => 2);
        my $since = $t7->error_log_since($off);
        my ($line) = $since =~ /^([^\n]*\[\w+\][^\n]*(?:broken header|PROXY)[^\n]*)$/m;
        ok defined $line, "$what: the reason is logged"
            or diag "error log: $since";
        $levels{$1}{$what} = 1 if defined $line && $line =~ /\[(\w+)\]/;
        note "error.log: $line" if defined $line;
    }
    # at error, as nginx's "broken header": a balancer in front sends
    # them, so a broken one is a misconfiguration an operator must see
    is join(',', sort keys %levels), 'error',
        'every refused header is logged at error'
        or diag explain \%levels;
    sleep 0.2;
    is count_lines($t7, $bklog, qr/./), $bk_before,
        'the backend behind /proxy/ got none of those requests';
    is count_lines($t7, 'logs/edge.log', qr/./), $edge_lines,
        'and no access log line was written for them';
}

# proxy_protocol_timeout 1s
{
    my @stall = (['v1', 'PROXY TCP4 192.0'],
        ['v2', substr(v2(src => '1.2.3.4', dst => '1.2.3.4', sp => 1, dp => 2), 0, 20)]);
    for my $s (@stall) {
        my $off = $t7->log_offset;
        my $r = talk($EDGE, [$s->[1]], timeout => 6);
        ok $r->{data} eq '' && $r->{how} =~ /^(?:eof|reset)$/
            && $r->{secs} >= 0.8 && $r->{secs} <= 3,
            "a stall after part of a $s->[0] header is closed after "
            . 'proxy_protocol_timeout 1s'
            or diag sprintf '%s after %.2f s: %s', $r->{how}, $r->{secs}, $r->{data};
        note "error.log: $_" for lines_of($t7->error_log_since($off));
    }
}

# ssl + proxy_protocol
SKIP: {
    skip 'openssl could not make a certificate', 2 unless $HAVE_TLS;
    my $hdr = unpack 'H*', v2(src => '192.0.2.44', dst => '192.0.2.45', sp => 4444, dp => 443);
    my $py = <<'PY';
import socket, ssl, sys
port, hdr = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(hdr)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s, server_hostname="pp.test")
    t.sendall(b"GET / HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        b = t.recv(65536)
        if not b:
            break
        data += b
    sys.stdout.write(data.decode("latin-1"))
except (ssl.SSLError, OSError) as e:
    sys.stdout.write("TLS failed: %s" % e)
PY
    my ($code, $out, $err) = $t7->run_cmd($PYTHON, '-c', $py, $P{ssl}, $hdr,
        {timeout => 10});
    is body_of({data => $out, how => 'eof'}),
        "tls TLSv1.3 pp=192.0.2.44:4444\n",
        'listen ssl proxy_protocol: a v2 header, then the TLS handshake: 200 '
        . 'over TLS with the header\'s address' or diag "$out$err";
    ($code, $out, $err) = $t7->run_cmd($PYTHON, '-c', $py, $P{ssl}, '',
        {timeout => 10});
    like $out, qr/^TLS failed/,
        'a ClientHello without a PROXY header is refused' or diag "$out$err";
}

# stream listen proxy_protocol + return
{
    my $h = v1('192.0.2.9', '192.0.2.10', 999, 25);
    my $s = connect_from($P{sret});
    my ($early) = read_all($s, 0.3);
    is $early, '', 'stream: nothing is sent before the header has arrived';
    write_all($s, substr($h, 0, 10));
    my ($mid) = read_all($s, 0.2);
    is $mid, '', 'nor after part of it';
    write_all($s, substr($h, 10));
    my ($data, $how) = read_all($s, 3);
    close $s;
    is $data, "192.0.2.9:999 192.0.2.10:25 \n",
        'stream listen proxy_protocol: return "$proxy_protocol_addr:..." '
        . 'once the header is in';
    my $r = talk($P{sret}, [v2(src => '192.0.2.9', dst => '192.0.2.10', sp => 1,
        dp => 2, tlvs => tlv(0x02, 'stream.test'))]);
    is $r->{data}, "192.0.2.9:1 192.0.2.10:2 stream.test\n",
        'stream: v2 with an AUTHORITY TLV: $proxy_protocol_tlv_authority';
    $r = talk($P{sret}, ["hello\r\n"], timeout => 3);
    is $r->{data}, '', 'stream: no header, no text' or diag $r->{data};
}

# ===========================================================================
# 5. sending from http

{
    my $pplog = 'logs/pp-http.decoded.log';
    my %c = (5 => ka_connect($P{send}, $C5), 6 => ka_connect($P{send}, $C6));
    die 'cannot connect to the http sending server'
        unless $c{5} && $c{6};
    my (%conn, %req, %err);
    for my $i (1 .. 5) {
        for my $k (5, 6) {
            my ($st, $h, $body) = ka_get($c{$k}, "/r$i",
                [Host => "host$k.example", 'X-Client' => "c$k-$i"]);
            my $want = "PP CONN=(\\d+) REQ=$i VER=2 CMD=PROXY FAM=TCP4 "
                . "SRC=127\\.0\\.0\\.$k:$c{$k}{port} DST=127\\.0\\.0\\.1:$P{send} "
                . "LEN=\\d+ TLV=0x02:host$k\\.example\nHost: [^\n]*\n"
                . "X-Client: c$k-$i\n";
            if (($st // 0) == 200 && $body =~ /\A$want\z/) {
                $conn{$k}{$1}++;
            } else {
                $err{$k} //= "request $i: " . ($st // 'none') . " $body";
            }
        }
    }
    for my $k (5, 6) {
        my @k = keys %{$conn{$k} || {}};
        ok @k == 1 && $conn{$k}{$k[0]} == 5,
            "http sending: the 5 requests of 127.0.0.$k travel on one upstream "
            . 'connection, whose one v2 header names that client and its Host'
            or diag($err{$k} // explain $conn{$k});
    }
    my ($k5) = keys %{$conn{5} || {}};
    my ($k6) = keys %{$conn{6} || {}};
    ok defined $k5 && defined $k6 && $k5 != $k6,
        'the two clients never share an upstream connection';
    close $c{5}{s};
    sleep 0.1;
    my $c3 = ka_connect($P{send}, $C5);
    my ($st, $h, $body) = ka_get($c3, '/after', [Host => 'host7.example']);
    my ($k7) = ($body // '') =~ /^PP CONN=(\d+) REQ=1 VER=2 CMD=PROXY FAM=TCP4 SRC=127\.0\.0\.5:$c3->{port} /;
    ok defined $k7 && $k7 != ($k5 // -1) && $k7 != ($k6 // -1),
        'a new client after the first one left gets a new upstream connection '
        . '(its own header, REQ=1)' or diag $body;
    close $c3->{s};
    my $c4 = ka_connect($P{send}, $C6);
    ($st, $h, $body) = ka_get($c4, '/v1/x', [Host => 'host8.example']);
    like $body // '', qr/^PP CONN=\d+ REQ=1 VER=1 CMD=PROXY FAM=TCP4 SRC=127\.0\.0\.6:$c4->{port} DST=127\.0\.0\.1:$P{send} LEN=\d+ TLV=-$/m,
        'proxy_protocol_version 1 from another location: a v1 header naming '
        . 'the client' or diag $body;
    close $c4->{s};
    close $c{6}{s};
    unlike $t7->read_file($pplog), qr/^ERR/m,
        'pp_backend.py saw no second header and no bad one'
        or diag $t7->read_file($pplog);
}

# ===========================================================================

for my $t ($t7, $t4) {
    my $name = $t == $t7 ? 'L7' : 'L4';
    unlike $t->error_log, qr/\[(?:alert|emerg|crit)\]/,
        "$name: no alert, emerg or crit in the error log";
    my ($st, $killed) = $t->stop;
    ok !$killed, "$name stops on TERM";
}
$_->stop_all for $t7, $t4;
my $secs = time - $T_START;
cmp_ok $secs, '<', 60, sprintf 'the file ran in %.1f s', $secs;

done_testing;
