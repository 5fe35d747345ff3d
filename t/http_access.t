#!/usr/bin/perl
#
# allow / deny in http (the ACCESS phase) through the real binary, with
# clients bound to 127.0.0.1 and to 127.0.0.2 (both loopback on Linux).
#
#   1. Rules at http level are inherited by servers and locations without
#      rules of their own; a level with rules replaces the inherited ones
#      (server and location, nested locations too); the first match
#      decides (allow 127.0.0.1 before deny all), CIDR masks; a `return`
#      answers first (REWRITE comes before ACCESS, as nginx). An allowed
#      request reaches the content phase: no content handler, so 404.
#   2. A denied request is a 403 with the default page and an error-log
#      line "access forbidden by rule" at [error] naming the client; a
#      denied request on a kept-alive connection leaves it usable (the
#      next pipelined request is served); curl --interface 127.0.0.2; the
#      server serves afterwards.
#   3. doorman -t refuses a bad address, a missing argument and allow
#      outside http / stream.

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

# The status of GET $path from $local (a message when there is none).
sub status_from {
    my ($port, $local, $path) = @_;
    my $r = raw_from($port, $local,
        "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    return $r =~ m{^HTTP/1\.1 (\d{3}) } ? $1 : "no status: $r";
}

my $t = Doorman::Test->new;
$t->write_conf(<<'EOF');
error_log logs/error.log info;
events { worker_connections 64; }
http {
    # the http level: every server and location without rules of its own
    deny 127.0.0.2;
    allow all;

    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { }
        location /open/ { allow all; }
        location /two/ { allow 127.0.0.2; deny all; }
        location /cidr/ { allow 127.0.0.0/31; deny all; }
        location /nest/ {
            deny 127.0.0.1;
            allow all;
            location /nest/in/ { }
            location /nest/own/ { deny all; }
        }
        location /ret/ { deny all; return 200 "returned\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        # server rules replace the http ones
        deny 127.0.0.1;
        allow all;
        location / { }
        location /all/ { deny all; }
        location /first/ { allow 127.0.0.1; deny all; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        deny all;
        location / { }
        location /in/ { allow all; }
    }
}
EOF
my ($code, $err) = $t->test_conf;
is $code, 0, 'doorman -t accepts allow/deny at http, server, location'
    or diag $err;
$t->run(wait_ports => [$t->port_n(1), $t->port_n(2), $t->port_n(3)]);
my ($p1, $p2, $p3) = ($t->port_n(1), $t->port_n(2), $t->port_n(3));
my ($A, $B) = ('127.0.0.1', '127.0.0.2');

# --- 1. inheritance, replacement, first match ------------------------------

my @cases = (
    # port, path, status from 127.0.0.1, from 127.0.0.2, what it shows
    [$p1, '/',          404, 403, 'http rules inherited by the location'],
    [$p1, '/open/',     404, 404, 'location "allow all" replaces them'],
    [$p1, '/two/',      403, 404, 'location rules: allow .2, deny all'],
    [$p1, '/cidr/',     404, 403, 'a CIDR: 127.0.0.0/31 holds .1, not .2'],
    [$p1, '/nest/',     403, 404, 'location rules replace the http ones'],
    [$p1, '/nest/in/',  403, 404, 'a nested location inherits its parent'],
    [$p1, '/nest/own/', 403, 403, 'a nested location replaces its parent'],
    [$p1, '/ret/',      200, 200, 'return answers before ACCESS (nginx)'],
    [$p2, '/',          403, 404, 'server rules replace the http ones'],
    [$p2, '/x',         403, 404, 'server rules inherited by locations'],
    [$p2, '/all/',      403, 403, 'deny all'],
    [$p2, '/first/',    404, 403, 'the first match decides'],
    [$p3, '/',          403, 403, 'server "deny all"'],
    [$p3, '/in/',       404, 404, 'location "allow all" under "deny all"'],
);
my $denied = 0;
for my $c (@cases) {
    my ($port, $path, $ea, $eb, $what) = @$c;
    is status_from($port, $A, $path), $ea, "$what: $path from $A is $ea";
    is status_from($port, $B, $path), $eb, "$what: $path from $B is $eb";
    $denied += ($ea == 403) + ($eb == 403);
}

# --- 2. the 403, the log line, keep-alive, curl ----------------------------

my $r = raw_from($p1, $B,
    "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
$denied++;
like $r, qr{^HTTP/1\.1 403 Forbidden\r\n}, '403 Forbidden';
like $r, qr{\r\n\r\n403 Forbidden\n\z}, 'the default 403 page';
like $r, qr{\r\nConnection: close\r\n}i, 'Connection: close as asked';

# a denied request leaves a kept-alive connection usable
$r = raw_from($p1, $B,
    "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    . "GET /ret/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
$denied++;
like $r, qr{^HTTP/1\.1 403 .*?\r\nConnection: keep-alive\r\n}s,
    'a denied request keeps the connection alive';
like $r,
    qr{\r\n\r\n403 Forbidden\nHTTP/1\.1 200 OK\r\n.*\r\n\r\nreturned\n\z}s,
    'the next pipelined request is served on it';

SKIP: {
    my ($rc, $out, $e) = $t->run_cmd('curl', '--version', {timeout => 5});
    skip 'curl is not installed', 2 unless $rc == 0;
    ($rc, $out, $e) = $t->run_cmd('curl', '-s', '-m', '5', '-o', '/dev/null',
        '-w', '%{http_code}', '--interface', $B, "http://127.0.0.1:$p1/",
        {timeout => 10});
    is $out, '403', 'curl --interface 127.0.0.2: 403' or diag $e;
    $denied++;
    ($rc, $out, $e) = $t->run_cmd('curl', '-s', '-m', '5', '-o', '/dev/null',
        '-w', '%{http_code}', '--interface', $A, "http://127.0.0.1:$p1/",
        {timeout => 10});
    is $out, '404', 'curl --interface 127.0.0.1: allowed (404: no content)'
        or diag $e;
}

my $lines = sub {
    return [grep { /access forbidden by rule/ } split /\n/, $t->error_log];
};
ok $t->wait_for(sub { @{$lines->()} >= $denied }),
    "one error-log line per denied request ($denied)";
my @l = @{$lines->()};
is scalar(@l), $denied, 'no more lines than denials';
is scalar(grep { /\[error\] / } @l), scalar(@l), 'logged at [error]';
ok((grep { /client: 127\.0\.0\.2/ } @l), 'the line names the client .2');
ok((grep { /client: 127\.0\.0\.1/ } @l), 'and the client .1');

is status_from($p1, $A, '/'), 404, 'the server serves after the denials';
is status_from($p1, $A, '/ret/'), 200, 'and answers return';
$t->stop;
unlike $t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log';

# --- 3. doorman -t refusals --------------------------------------------------

my @bad = (
    ['http { server { listen 127.0.0.1:1; allow 127.0.0.256; } }',
     qr/\[emerg\].*127\.0\.0\.256/, 'a bad address'],
    ['http { server { listen 127.0.0.1:1; location / { deny; } } }',
     qr/\[emerg\].*"deny"/, 'deny without an argument'],
    ['http { server { listen 127.0.0.1:1; deny 10.0.0.0/33; } }',
     qr/\[emerg\]/, 'a mask over 32 bits'],
    ['allow all; http { }', qr/\[emerg\].*"allow"/,
     'allow outside http and stream'],
);
for my $b (@bad) {
    my $bt = Doorman::Test->new;
    $bt->write_conf("events { worker_connections 64; }\n$b->[0]\n");
    my ($c, $e) = $bt->test_conf;
    isnt $c, 0, "doorman -t refuses $b->[2]";
    like $e, $b->[1], "... with its message" or diag $e;
}

done_testing;
