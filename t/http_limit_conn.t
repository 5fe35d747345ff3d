#!/usr/bin/perl
#
# limit_conn in http (the PREACCESS phase) through the real binary, with
# worker_processes 2 (the count is shared by the workers).
#
# A request is held in progress by sending its head with Content-Length:
# 10 and only 3 bytes of body: there is no content handler, so the answer
# is a 404 that waits for the body to be read (and discarded) first. As
# nginx, what is counted is requests in progress, not connections.
#
#   1. With one request of 127.0.0.1 held in `limit_conn one 1`: others
#      from 127.0.0.1 get 503 (on both workers), from 127.0.0.2 pass (the
#      key is $remote_addr), `limit_conn one 2` passes, limit_conn_status
#      429 answers 429 (logged at warn), limit_conn_dry_run passes and
#      logs, a location without limit passes; server-level limit_conn is
#      inherited by locations and replaced by a location's own; an empty
#      key is not counted. The error log says "limiting connections by
#      zone"; $limit_conn_status is PASSED, REJECTED, REJECTED_DRY_RUN.
#   2. Released: when the held request's body ends (its 404 comes), the
#      next requests pass; when the client disconnects mid-body, too; an
#      idle kept-alive connection holds nothing.
#   3. An internal redirect (error_page) does not count the request
#      again; error_page 503 serves its page for a refusal (skipped
#      without error_page).
#   4. doorman -t refuses an unknown zone, a bad number, a status out of
#      400-599, limit_conn_zone outside http, a duplicate zone.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use IO::Select;
use Test::More;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time);

use Doorman::Test;

my $probe = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
undef $probe;

# Reads from $s until $done->($data) or EOF or 5 s. Returns the bytes.
sub read_until {
    my ($s, $done) = @_;
    my ($data, $deadline, $sel) = ('', time + 5, IO::Select->new($s));
    while (time < $deadline && !$done->($data)) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $data .= $buf;
    }
    return $data;
}

# A connection from $local with bytes sent, or undef.
sub send_from {
    my ($port, $local, $bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
        LocalAddr => $local, Proto => 'tcp', Timeout => 5) or return undef;
    local $SIG{PIPE} = 'IGNORE';
    syswrite $s, $bytes;
    return $s;
}

# The status of one GET (Connection: close), or a message.
sub status {
    my ($port, $path, %o) = @_;
    my $h = join '', map { "$_: $o{headers}{$_}\r\n" }
        sort keys %{$o{headers} || {}};
    my $s = send_from($port, $o{from} // '127.0.0.1',
        "GET $path HTTP/1.1\r\nHost: localhost\r\n${h}Connection: close"
        . "\r\n\r\n") or return "connect: $!";
    my $r = read_until($s, sub { 0 });
    close $s;
    return $r =~ m{^HTTP/1\.1 (\d{3}) } ? $1 : "no status: $r";
}

# Holds a request in progress: the head and 3 of 10 body bytes.
sub hold {
    my ($port, $path, %o) = @_;
    my $h = join '', map { "$_: $o{headers}{$_}\r\n" }
        sort keys %{$o{headers} || {}};
    return send_from($port, $o{from} // '127.0.0.1',
        "POST $path HTTP/1.1\r\nHost: localhost\r\n${h}Connection: close\r\n"
        . "Content-Length: 10\r\n\r\nabc");
}

# Sends the rest of a held body; returns the status of its response.
sub finish {
    my ($s) = @_;
    syswrite $s, "defghij";
    my $r = read_until($s, sub { 0 });
    close $s;
    return $r =~ m{^HTTP/1\.1 (\d{3}) } ? $1 : "no status: $r";
}

# The statuses of $n requests each on a new connection (they spread over
# both workers).
sub statuses {
    my ($n, @args) = @_;
    return join ' ', map { status(@args) } 1 .. $n;
}

my $t = Doorman::Test->new;
$t->write_conf(<<'EOF');
worker_processes 2;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    limit_conn_zone $remote_addr zone=one:1m;
    limit_conn_zone $http_x_key zone=bykey:1m;
    log_format lc '$remote_addr $request_uri $status $limit_conn_status.';
    access_log logs/lc.log lc;

    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { limit_conn one 1; }
        location /two/ { limit_conn one 2; }
        location /status/ {
            limit_conn one 1;
            limit_conn_status 429;
            limit_conn_log_level warn;
        }
        location /dry/ { limit_conn one 1; limit_conn_dry_run on; }
        location /free/ { }
        location /key/ { limit_conn bykey 1; }
        location /key2/ { limit_conn one 2; limit_conn bykey 1; }
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        limit_conn one 1;
        location / { }
        location /other/ { limit_conn bykey 1; }
    }
}
EOF
my ($code, $err) = $t->test_conf;
is $code, 0, 'doorman -t accepts the limit_conn directives' or diag $err;
$t->run(wait_ports => [$t->port_n(1), $t->port_n(2)]);
my ($p1, $p2) = ($t->port_n(1), $t->port_n(2));
ok $t->wait_for(sub { scalar($t->worker_pids) == 2 }), 'two workers'
    or diag 'workers: ' . join ' ', $t->worker_pids;

is statuses(4, $p1, '/'), '404 404 404 404', 'nothing held: requests pass';

# --- 1. one request held -----------------------------------------------------

my $held = hold($p1, '/');
ok $held, 'a request held in progress';
ok $t->wait_for(sub { status($p1, '/') eq '503' }),
    'a second request from the same address: 503';
is statuses(6, $p1, '/'), join(' ', ('503') x 6),
    'each of 6 more (over both workers): 503';
is statuses(2, $p1, '/', from => '127.0.0.2'), '404 404',
    'from 127.0.0.2 (another key): passes';
is status($p1, '/two/'), 404, 'limit_conn one 2: passes';
is status($p1, '/status/'), 429, 'limit_conn_status 429';
is status($p1, '/dry/'), 404, 'limit_conn_dry_run on: passes';
is status($p1, '/free/'), 404, 'no limit_conn: passes';
is status($p2, '/'), 503, 'server-level limit_conn, same zone: 503';
is status($p2, '/other/'), 404, 'a location limit_conn replaces it';

ok $t->wait_for(sub { $t->error_log =~ /dry run/ }), 'the dry run logged';
my @l = grep { /limiting connections/ } split /\n/, $t->error_log;
ok((grep { /\[error\] .*limiting connections by zone "one"/ } @l),
    '"limiting connections by zone" at [error]');
ok((grep { /\[warn\] .*limiting connections by zone "one"/ } @l),
    'limit_conn_log_level warn');
ok((grep { /\[error\] .*limiting connections, dry run, by zone "one"/ } @l),
    'the dry run line');
# both workers refuse: more requests until each has logged (bounded)
my $pids = sub {
    my %p = map { /\] (\d+)#\d+: limiting/ ? ($1 => 1) : () }
        split /\n/, $t->error_log;
    return scalar keys %p;
};
my $tries = 0;
ok $t->wait_for(sub { status($p1, '/') eq '503' && $tries++ < 50
        && $pids->() == 2 }, timeout => 10),
    'both workers refused (the count is shared)';

is finish($held), 404, 'the held request ends (404: no content handler)';
ok $t->wait_for(sub { status($p1, '/') eq '404' }), 'released: 404';
is statuses(6, $p1, '/'), join(' ', ('404') x 6), 'each of 6 more: 404';
is status($p1, '/status/'), 404, 'and /status/ passes';

# --- 2. released on disconnect, per request --------------------------------

$held = hold($p1, '/status/');
ok $t->wait_for(sub { status($p1, '/') eq '503' }), 'held again: 503';
close $held;
ok $t->wait_for(sub { status($p1, '/') eq '404' }),
    'the client closed mid-body: released';
is statuses(4, $p1, '/'), '404 404 404 404', 'and stays released';

# the same on server 2 (a server-level limit), a reset this time
$held = hold($p2, '/');
ok $t->wait_for(sub { status($p1, '/') eq '503' }), 'held on the server 2';
setsockopt($held, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
close $held;
ok $t->wait_for(sub { status($p1, '/') eq '404' }), 'a reset: released';

# a kept-alive connection between requests holds nothing
my $ka = send_from($p1, '127.0.0.1', "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
my $r = read_until($ka, sub { $_[0] =~ /\r\n\r\n404 Not Found\n/ });
like $r, qr{^HTTP/1\.1 404 .*keep-alive}s, 'a kept-alive request answered';
is statuses(2, $p1, '/'), '404 404', 'the idle connection holds no count';
syswrite $ka, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
$r = read_until($ka, sub { 0 });
like $r, qr{^HTTP/1\.1 404 }, 'its next request passes too';
close $ka;

# an empty key is not counted; a key is
$held = hold($p1, '/key2/');
ok $t->wait_for(sub { status($p1, '/') eq '503' }),
    'a request without X-Key held in /key2/ (zone one counts it)';
is statuses(2, $p1, '/key2/'), '404 404',
    'an empty key ($http_x_key) is not counted';
is finish($held), 404, 'its held request ends';
$held = hold($p1, '/key/', headers => {'X-Key' => 'a'});
ok $t->wait_for(sub {
    status($p1, '/key/', headers => {'X-Key' => 'a'}) eq '503' }),
    'X-Key: a held: another X-Key: a gets 503';
is status($p1, '/key/', headers => {'X-Key' => 'b'}), 404, 'X-Key: b passes';
is status($p1, '/', headers => {'X-Key' => 'a'}), 404,
    'the zone one (by address) is not held';
is finish($held), 404, 'the X-Key: a request ends';

# $limit_conn_status in the access log
my $log = '';
$t->wait_for(sub {
    $log = $t->read_file($t->path('logs/lc.log')) // '';
    $log =~ /REJECTED_DRY_RUN/ });
like $log, qr{^127\.0\.0\.1 / 404 PASSED\.$}m, '$limit_conn_status PASSED';
like $log, qr{^127\.0\.0\.1 / 503 REJECTED\.$}m, 'REJECTED';
like $log, qr{^127\.0\.0\.1 /dry/ 404 REJECTED_DRY_RUN\.$}m,
    'REJECTED_DRY_RUN';
like $log, qr{^127\.0\.0\.1 /free/ 404 -\.$}m, "\"-\" without a limit";

$t->stop;
unlike $t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log';

# --- 3. internal redirects: a request is counted once ----------------------

SKIP: {
    my $e4 = Doorman::Test->new;
    $e4->write_conf(<<'EOF');
events { worker_connections 64; }
http {
    limit_conn_zone $remote_addr zone=one:1m;
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location /ep/ { limit_conn one 1; error_page 404 = /ep2/; }
        location /ep2/ { limit_conn one 1; }
        location /busy/ { limit_conn one 1; error_page 503 /sorry; }
        location = /sorry { return 503 "busy, sorry\n"; }
    }
}
EOF
    my ($c4, $err4) = $e4->test_conf;
    skip 'no error_page in this build', 5
        if $err4 =~ /unknown directive "error_page"/;
    is $c4, 0, 'error_page with limit_conn loads' or diag $err4;
    $e4->run(wait_ports => [$e4->port_n(1)]);
    my $p = $e4->port_n(1);
    is status($p, '/ep/'), 404,
        'redirected to a location with the same limit: not counted twice';
    $held = hold($p, '/ep2/');
    ok $e4->wait_for(sub { status($p, '/ep/') eq '503' }), 'held: 503';
    my $s = send_from($p, '127.0.0.1',
        "GET /busy/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    like read_until($s, sub { 0 }),
        qr{^HTTP/1\.1 503 .*\r\n\r\nbusy, sorry\n\z}s,
        'error_page 503 serves its page for a refused request';
    close $s;
    is finish($held), 404, 'the held request ends';
    $e4->stop;
}

# --- 4. doorman -t refusals --------------------------------------------------

my $zone = 'limit_conn_zone $remote_addr zone=one:1m;';
my @bad = (
    ["http { server { listen 127.0.0.1:1; limit_conn one 1; } }",
     qr/\[emerg\] unknown limit_conn_zone "one"/, 'an unknown zone'],
    ["http { $zone server { listen 127.0.0.1:1; limit_conn one 0; } }",
     qr/\[emerg\] invalid number of connections "0"/, 'a limit of 0'],
    ["http { $zone server { listen 127.0.0.1:1; limit_conn one x; } }",
     qr/\[emerg\] invalid number of connections "x"/, 'a limit "x"'],
    ["http { $zone limit_conn one 1; limit_conn one 2; }",
     qr/\[emerg\].*duplicate/, 'a zone twice at one level'],
    ["http { limit_conn_status 200; }",
     qr/\[emerg\].*between 400 and 599/, 'limit_conn_status 200'],
    ["http { limit_conn_log_level debug; }", qr/\[emerg\]/,
     'limit_conn_log_level debug'],
    ["http { limit_conn_dry_run yes; }", qr/\[emerg\]/,
     'limit_conn_dry_run yes'],
    ["http { server { listen 127.0.0.1:1; $zone } }",
     qr/\[emerg\].*"limit_conn_zone" directive is not allowed/,
     'limit_conn_zone in a server'],
    ["http { $zone $zone }", qr/\[emerg\].*duplicate|\[emerg\].*one/,
     'a zone declared twice'],
    ["stream { limit_conn_zone \$remote_addr zone=both:1m; }\n"
     . "http { limit_conn_zone \$remote_addr zone=both:1m; }",
     qr/\[emerg\] shared memory zone "both" is already used by stream_limit_conn, it cannot be used by http_limit_conn/,
     'one zone name in stream and http (as nginx)'],
);
for my $b (@bad) {
    my $bt = Doorman::Test->new;
    $bt->write_conf("events { worker_connections 64; }\n$b->[0]\n");
    my ($c, $e) = $bt->test_conf;
    isnt $c, 0, "doorman -t refuses $b->[2]";
    like $e, $b->[1], "... with its message" or diag $e;
}

done_testing;
