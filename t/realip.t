#!/usr/bin/perl
#
# set_real_ip_from, real_ip_header and real_ip_recursive in http (the
# POST_READ phase), through the real binary with raw HTTP/1.1 requests
# from 127.0.0.1 (trusted) and 127.0.0.2 (not trusted).
#
#   1. X-Forwarded-For: the last address; recursive: the last one not
#      trusted (several fields form one list; a malformed element stops
#      the walk at the last good one); an untrusted peer's header is
#      ignored; X-Real-IP by default; another field by name;
#      proxy_protocol changes nothing yet; IPv6, ADDRESS:PORT and
#      [IPv6]:PORT values and $remote_port; malformed values ignored and
#      logged at info; $realip_remote_addr / $realip_remote_port keep the
#      peer.
#   2. What sees the real client: allow/deny (and the error-log line),
#      limit_req keys, the access log; a location's own set_real_ip_from
#      (the PREACCESS pass); two requests on one kept-alive connection,
#      the second without the header, get the true peer back.
#   3. doorman -t refusals.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use IO::Select;
use Test::More;
use Time::HiRes qw(time);

use Doorman::Test;

my $probe = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
undef $probe;

my ($A, $B) = ('127.0.0.1', '127.0.0.2');

# Sends raw bytes from the local address $local and reads until EOF (the
# last request says Connection: close), bounded by 5 s. Returns the bytes.
sub raw_from {
    my ($port, $local, $bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
        LocalAddr => $local, Proto => 'tcp', Timeout => 5)
        or return "connect from $local: $!";
    local $SIG{PIPE} = 'IGNORE';
    syswrite $s, $bytes;
    my ($data, $deadline, $sel) = ('', time + 5, IO::Select->new($s));
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $data .= $buf;
    }
    close $s;
    return $data;
}

# One GET from $local with extra header lines: (status, body).
sub get_from {
    my ($port, $local, $path, @headers) = @_;
    my $head = "GET $path HTTP/1.1\r\nHost: localhost\r\n";
    $head .= "$_\r\n" for @headers;
    my $r = raw_from($port, $local, "${head}Connection: close\r\n\r\n");
    return (0, "no response: $r") unless $r =~ m{^HTTP/1\.1 (\d{3}) };
    my $status = $1;
    my $end = index $r, "\r\n\r\n";
    return ($status, $end < 0 ? '' : substr($r, $end + 4));
}

# The body of GET $path from $local (the status when it is not 200).
sub body_from {
    my ($status, $body) = get_from(@_);
    return $status == 200 ? $body : "status $status: $body";
}

sub status_from { my ($status) = get_from(@_); return $status }

my $t = Doorman::Test->new;
$t->write_conf(<<'EOF');
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    log_format x '$remote_addr';
    limit_req_zone $remote_addr zone=one:1m rate=1r/m;

    # X-Forwarded-For, the last address
    server {
        listen 127.0.0.1:%%PORT_1%%;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        location / { return 200 "$remote_addr $realip_remote_addr\n"; }
        location /port {
            return 200 "$remote_port $realip_remote_port\n";
        }
        # no return: 404 when allowed, 403 when denied
        location /deny/ { deny 203.0.113.7; allow all; }
        location /limit/ { limit_req zone=one; limit_req_status 429; }
    }

    # recursive
    server {
        listen 127.0.0.1:%%PORT_2%%;
        set_real_ip_from 127.0.0.1;
        set_real_ip_from 10.0.0.0/8;
        real_ip_header X-Forwarded-For;
        real_ip_recursive on;
        location / { return 200 "$remote_addr $realip_remote_addr\n"; }
    }

    # the default header, X-Real-IP; a location's own trusted peers
    server {
        listen 127.0.0.1:%%PORT_3%%;
        set_real_ip_from 127.0.0.1;
        location / { return 200 "$remote_addr $realip_remote_addr\n"; }
        location /loc/ {
            set_real_ip_from 127.0.0.2;
            deny 198.51.100.9;
            allow all;
        }
    }

    # another field; proxy_protocol (nothing yet)
    server {
        listen 127.0.0.1:%%PORT_4%%;
        set_real_ip_from 127.0.0.0/8;
        real_ip_header X-Client;
        location / { return 200 "$remote_addr $realip_remote_addr\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        set_real_ip_from 127.0.0.0/8;
        real_ip_header proxy_protocol;
        location / { return 200 "$remote_addr $realip_remote_addr\n"; }
    }

    # the access log
    server {
        listen 127.0.0.1:%%PORT_6%%;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        access_log logs/x.log x;
        location / { return 200 "$remote_addr\n"; }
    }
}
EOF
my ($code, $err) = $t->test_conf;
is $code, 0, 'doorman -t accepts the realip directives' or diag $err;
my @ports = map { $t->port_n($_) } 1 .. 6;
$t->run(wait_ports => [@ports]);
my ($p1, $p2, $p3, $p4, $p5, $p6) = @ports;
my $xff = 'X-Forwarded-For: 203.0.113.7, 10.1.1.1';

# --- 1. which address -------------------------------------------------------

is body_from($p1, $A, '/', $xff), "10.1.1.1 127.0.0.1\n",
    'X-Forwarded-For from a trusted peer: the last address';
is body_from($p2, $A, '/', $xff), "203.0.113.7 127.0.0.1\n",
    'recursive: the last address not trusted (10.0.0.0/8 is)';
is body_from($p2, $A, '/', 'X-Forwarded-For: 10.2.2.2, 10.1.1.1'),
    "10.2.2.2 127.0.0.1\n", 'recursive, all trusted: the leftmost';
is body_from($p2, $A, '/', 'X-Forwarded-For: 203.0.113.7',
        'X-Forwarded-For: 10.1.1.1'),
    "203.0.113.7 127.0.0.1\n", 'recursive over two fields, last field last';
is body_from($p2, $A, '/', 'X-Forwarded-For: bogus, 10.3.3.3, 10.1.1.1'),
    "10.3.3.3 127.0.0.1\n",
    'recursive: a malformed element stops at the last good one';
is body_from($p1, $A, '/', 'X-Forwarded-For: 203.0.113.7',
        'X-Forwarded-For: 10.1.1.1'),
    "10.1.1.1 127.0.0.1\n", 'non recursive over two fields: the last one';
is body_from($p1, $B, '/', $xff), "127.0.0.2 127.0.0.2\n",
    'from an untrusted peer the header is ignored';
is body_from($p2, $B, '/', $xff), "127.0.0.2 127.0.0.2\n",
    'recursive: untrusted peer, header ignored';
is body_from($p1, $A, '/', 'X-Real-IP: 198.51.100.4'),
    "127.0.0.1 127.0.0.1\n", 'X-Real-IP is not read when XFF is the header';

is body_from($p3, $A, '/', 'X-Real-IP: 198.51.100.4', $xff),
    "198.51.100.4 127.0.0.1\n", 'X-Real-IP by default (XFF not read)';
is body_from($p3, $B, '/', 'X-Real-IP: 198.51.100.4'),
    "127.0.0.2 127.0.0.2\n", 'X-Real-IP from an untrusted peer ignored';
is body_from($p4, $B, '/', 'x-client: 192.0.2.44', 'X-Real-IP: 192.0.2.1'),
    "192.0.2.44 127.0.0.2\n", 'real_ip_header FIELD, in any letter case';
is body_from($p5, $A, '/', 'X-Real-IP: 192.0.2.1', 'X-Forwarded-For: 192.0.2.1'),
    "127.0.0.1 127.0.0.1\n", 'real_ip_header proxy_protocol: no change yet';

is body_from($p1, $A, '/', 'X-Forwarded-For: 203.0.113.7, 2001:db8::1'),
    "2001:db8::1 127.0.0.1\n", 'an IPv6 address';
is body_from($p1, $A, '/', 'X-Forwarded-For: [2001:db8::2]:8080'),
    "2001:db8::2 127.0.0.1\n", '[IPv6]:PORT';
is body_from($p1, $A, '/', 'X-Forwarded-For: 192.0.2.9:4321'),
    "192.0.2.9 127.0.0.1\n", 'IPv4:PORT';

my ($st, $body) = get_from($p1, $A, '/port', 'X-Forwarded-For: 192.0.2.9:4321');
like $body, qr/^4321 (\d+)\n\z/, '$remote_port from the header';
my ($peer_port) = $body =~ /^4321 (\d+)/;
ok $peer_port && $peer_port != 4321 && $peer_port < 65536,
    '$realip_remote_port is the peer\'s port';
($st, $body) = get_from($p1, $A, '/port');
like $body, qr/^(\d+) \1\n\z/, 'without a header both ports are the peer\'s';
($st, $body) = get_from($p1, $A, '/port', 'X-Forwarded-For: 192.0.2.9');
like $body, qr/^ \d+\n\z/,
    'an address without a port: $remote_port is empty, as nginx';

my $off = $t->log_offset;
for my $bad ('203.0.113.999', '1.2.3.4:99999', 'unix:/tmp/x', '80',
    '*:80', '[2001:db8::1]', 'example.com', '10.1.1.1:0') {
    is body_from($p1, $A, '/', "X-Forwarded-For: 203.0.113.7, $bad"),
        "127.0.0.1 127.0.0.1\n", "a malformed address ignored: $bad";
}
ok $t->wait_log(qr/\[info\] .*realip: invalid address "203\.0\.113\.999"/,
        from => $off), 'a malformed address is logged at info';

# --- 2. what sees the real client --------------------------------------------

is status_from($p1, $A, '/deny/', 'X-Forwarded-For: 203.0.113.7'), 403,
    'deny sees the real client';
is status_from($p1, $A, '/deny/', 'X-Forwarded-For: 203.0.113.8'), 404,
    'another real client is allowed';
is status_from($p1, $B, '/deny/', 'X-Forwarded-For: 203.0.113.7'), 404,
    'an untrusted peer cannot claim the denied address';
ok $t->wait_log(qr/access forbidden by rule.*client: 203\.0\.113\.7/),
    'the error-log line names the real client';

is status_from($p3, $B, '/loc/', 'X-Real-IP: 198.51.100.9'), 403,
    'a location\'s own set_real_ip_from applies (PREACCESS)';
is status_from($p3, $B, '/loc/'), 404, '... and without the header: 404';
is body_from($p3, $B, '/loc-not/', 'X-Real-IP: 198.51.100.9'),
    "127.0.0.2 127.0.0.2\n", 'the server itself does not trust .2';

is status_from($p1, $A, '/limit/', 'X-Forwarded-For: 203.0.113.21'), 404,
    'limit_req: a first client passes';
is status_from($p1, $A, '/limit/', 'X-Forwarded-For: 203.0.113.21'), 429,
    'limit_req: its second request is refused';
is status_from($p1, $A, '/limit/', 'X-Forwarded-For: 203.0.113.22'), 404,
    'limit_req: another real client has its own key';

# keep-alive: the second request starts from the true peer again
my $r = raw_from($p1, $A,
    "GET / HTTP/1.1\r\nHost: localhost\r\n$xff\r\n\r\n"
    . "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
my @bodies = $r =~ /\r\n\r\n([^\r\n]*\n)/g;
is_deeply \@bodies, ["10.1.1.1 127.0.0.1\n", "127.0.0.1 127.0.0.1\n"],
    'keep-alive: the second request gets the true peer back';

# the same, with the requests sent one after the other
{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p1",
        LocalAddr => $A, Proto => 'tcp', Timeout => 5);
    ok $s, 'a kept-alive connection';
    my $read = sub {
        my ($data, $deadline, $sel) = ('', time + 5, IO::Select->new($s));
        while (time < $deadline && $data !~ /\r\n\r\n.*\n/s) {
            last unless $sel->can_read($deadline - time);
            my $n = sysread $s, my $buf, 65536;
            last unless $n;
            $data .= $buf;
        }
        return $data =~ /\r\n\r\n(.*)\z/s ? $1 : "no response: $data";
    };
    local $SIG{PIPE} = 'IGNORE';
    syswrite $s, "GET / HTTP/1.1\r\nHost: localhost\r\n"
        . "X-Forwarded-For: 192.0.2.77\r\n\r\n" if $s;
    is $s ? $read->() : '', "192.0.2.77 127.0.0.1\n", 'first request: real';
    syswrite $s, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" if $s;
    is $s ? $read->() : '', "127.0.0.1 127.0.0.1\n",
        'second request without the header: the peer';
    close $s if $s;
}

# the access log
is body_from($p6, $A, '/', 'X-Forwarded-For: 203.0.113.50'),
    "203.0.113.50\n", 'a request with a real client';
is body_from($p6, $B, '/', 'X-Forwarded-For: 203.0.113.51'), "127.0.0.2\n",
    'a request from an untrusted peer';
$r = raw_from($p6, $A,
    "GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 192.0.2.5\r\n\r\n"
    . "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
my $log = sub { $t->read_file($t->path('logs/x.log')) // '' };
ok $t->wait_for(sub { ($log->() =~ tr/\n//) >= 4 }), 'four access-log lines';
is_deeply [sort split /\n/, $log->()],
    [sort '203.0.113.50', '127.0.0.2', '192.0.2.5', '127.0.0.1'],
    'the access log shows the real client, then the peer again';

is body_from($p1, $A, '/'), "127.0.0.1 127.0.0.1\n",
    'the server still serves';
$t->stop;
unlike $t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log';

# --- 3. doorman -t refusals --------------------------------------------------

my $head = "events { worker_connections 16; }\n";
my @bad = (
    ['set_real_ip_from 127.0.0.256;', qr/\[emerg\].*127\.0\.0\.256/,
     'a bad address'],
    ['set_real_ip_from 10.0.0.0/33;', qr/\[emerg\]/, 'a mask over 32 bits'],
    ['set_real_ip_from all;', qr/\[emerg\].*invalid parameter "all"/,
     '"all" (as nginx)'],
    ['set_real_ip_from;', qr/\[emerg\].*"set_real_ip_from"/,
     'no argument'],
    ['real_ip_header;', qr/\[emerg\].*"real_ip_header"/, 'no header'],
    ['real_ip_header X-Real-IP; real_ip_header X-Forwarded-For;',
     qr/\[emerg\].*is duplicate/, 'real_ip_header twice'],
    ['real_ip_recursive maybe;', qr/\[emerg\].*real_ip_recursive/,
     'real_ip_recursive not on/off'],
);
for my $b (@bad) {
    my ($directive, $re, $what) = @$b;
    my $bt = Doorman::Test->new(quiet => 1);
    $bt->write_conf($head . "http { server { listen 127.0.0.1:1;\n"
        . "$directive } }\n");
    my ($c, $e) = $bt->test_conf;
    isnt $c, 0, "-t refuses $what";
    like $e, $re, "... with a clear message" or diag $e;
}
{
    my $bt = Doorman::Test->new(quiet => 1);
    $bt->write_conf($head . "stream { set_real_ip_from 127.0.0.1; }\n");
    my ($c, $e) = $bt->test_conf;
    isnt $c, 0, '-t refuses set_real_ip_from in stream';
    $bt->write_conf($head . "http { set_real_ip_from unix:; "
        . "set_real_ip_from ::1; set_real_ip_from 2001:db8::/32; "
        . "real_ip_header X-Forwarded-For; real_ip_recursive on; "
        . "server { listen 127.0.0.1:1; location / { "
        . "set_real_ip_from 10.0.0.0/8; real_ip_header Foo; "
        . "real_ip_recursive off; } } }\n");
    ($c, $e) = $bt->test_conf;
    is $c, 0, 'unix:, IPv6 networks, every level accepted' or diag $e;
}

done_testing();
