#!/usr/bin/perl
#
# http_proxy under load and with backends that go away (t/lib/backend.py
# backends, wrk as the client):
#
#   4. The keep-alive pool: 1,000 sequential requests on one client
#      connection use one upstream connection (X-Conn constant, /stats of
#      the backend says 1 connection); a backend that closes idle
#      connections after 1 s (--idle-close 1) while doorman keeps them 60 s:
#      requests 1.5 s apart and a burst afterwards all succeed, and so does
#      wrk on a pool of 10 connections the backend closed. The pool after
#      HEAD, 204, 304 and chunked answers; keepalive_timeout, keepalive N,
#      keepalive_requests; a client gone mid-answer.
#   6. A backend killed while wrk runs with keep-alive through doorman:
#      with the default proxy_next_upstream (error timeout) no request
#      fails; restarted, it serves again. With proxy_next_upstream off the
#      failures are at most the connections open to that backend.
#   7. 10 reloads under keep-alive load through the proxy (2 workers): no
#      failed response, no socket error.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Doorman::Test;
use Doorman::HTTP;

my $started = time;
alarm 110;    # the harness's ALRM handler kills what the test started

my $t = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $t->bin . ' (make first)'
    unless -x $t->bin;
my $wrk = `command -v wrk 2>/dev/null`;
chomp $wrk;

my ($ka) = start_backend($t, name => 'ka');
my ($idle) = start_backend($t, name => 'idle', idle_close => 1);
my ($kt) = start_backend($t, name => 'kt');
my ($k2) = start_backend($t, name => 'k2');
my ($kr) = start_backend($t, name => 'kr');
my (%wp, %wproc);
for my $n (qw(w1 w2 w3)) {
    ($wp{$n}, $wproc{$n}) = start_backend($t, name => $n);
}

$t->write_conf(<<"EOF");
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    upstream kapool { server 127.0.0.1:$ka; keepalive 16; }
    upstream idlepool { server 127.0.0.1:$idle; keepalive 16; keepalive_timeout 60s; }
    upstream ktpool { server 127.0.0.1:$kt; keepalive 4; keepalive_timeout 1s; }
    upstream k2pool { server 127.0.0.1:$k2; keepalive 2; }
    upstream krpool { server 127.0.0.1:$kr; keepalive 4; keepalive_requests 10; }
    upstream wpool {
        server 127.0.0.1:$wp{w1} fail_timeout=2s;
        server 127.0.0.1:$wp{w2} fail_timeout=2s;
        server 127.0.0.1:$wp{w3} fail_timeout=2s;
        keepalive 16;
    }
    upstream wpool_off {
        server 127.0.0.1:$wp{w1} fail_timeout=30s;
        server 127.0.0.1:$wp{w2} fail_timeout=30s;
        server 127.0.0.1:$wp{w3} fail_timeout=30s;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location /ka/ { proxy_pass http://kapool/; }
        location /idle/ { proxy_pass http://idlepool/; }
        location /kt/ { proxy_pass http://ktpool/; }
        location /k2/ { proxy_pass http://k2pool/; }
        location /kr/ { proxy_pass http://krpool/; }
        location /w/ { proxy_pass http://wpool/; }
        location /off/ { proxy_pass http://wpool_off/; proxy_next_upstream off; }
    }
}
EOF
my ($code, $err) = $t->test_conf;
is $code, 0, 'configuration accepted' or diag $err;
$t->run(wait_ports => [$t->port_n(1)]);
my $P = $t->port_n(1);

# --- 4. the keep-alive pool ---------------------------------------------------

sub stats_of {
    my ($r) = @_;
    my %s = ($r->{body} // '') =~ /"(\w+)":\s*(\d+)/g;
    return \%s;
}

{
    # the backend's count before (this direct connection included)
    my $d = http_connect($ka);
    my $before = stats_of($d->request('GET', '/stats'));
    $d->close;
    my $c = http_connect($P, timeout => 10);
    my (%conns, $bad);
    $bad = 0;
    my $t0 = time;
    for my $i (1 .. 1000) {
        my $r = $c->request('GET', "/ka/x$i", timeout => 5);
        unless (($r->{status} // 0) == 200) {
            $bad++;
            diag "request $i: " . ($r->{status} // "error $r->{error}");
            last if $r->{close} || $bad > 5;
            next;
        }
        $conns{$r->{headers}{'x-conn'}}++;
        last if time - $t0 > 25;
    }
    diag sprintf '1000 sequential requests: %.2f s', time - $t0;
    is $bad, 0, 'keepalive: 1000 sequential requests, all 200';
    is scalar(keys %conns), 1, 'keepalive: one upstream connection (X-Conn constant)'
        or diag explain \%conns;
    $c->close;
    # the backend's count after, on another direct connection: doorman's
    # one connection and this one
    $d = http_connect($ka);
    my $after = stats_of($d->request('GET', '/stats'));
    $d->close;
    is(($after->{connections} // -1) - ($before->{connections} // 0), 2,
        'keepalive: /stats: the backend accepted 1 connection from doorman')
        or diag explain [$before, $after];
    is(($after->{requests} // -1) - ($before->{requests} // 0), 1001,
        'keepalive: 1000 requests through doorman');
    $c->close;

    # a backend that closes idle connections after 1 s
    $c = http_connect($P, timeout => 10);
    my @fail;
    my %ic;
    for my $i (1 .. 4) {
        my $r = $c->request('GET', "/idle/spaced$i", timeout => 5);
        push @fail, "spaced $i: " . ($r->{status} // $r->{error}) unless ($r->{status} // 0) == 200;
        $ic{$r->{headers}{'x-conn'} // '?'}++;
        sleep 1.5 if $i < 4;
        $c = http_connect($P, timeout => 10) if $c->is_closed;
    }
    for my $i (1 .. 100) {
        my $r = $c->request('GET', "/idle/burst$i", timeout => 5);
        push @fail, "burst $i: " . ($r->{status} // $r->{error}) unless ($r->{status} // 0) == 200;
        $c = http_connect($P, timeout => 10) if $c->is_closed;
    }
    is_deeply \@fail, [], 'idle-closed pooled connections: no failed request';
    ok keys(%ic) >= 3, 'idle-closed: each spaced request on a fresh upstream connection'
        or diag explain \%ic;
    $c->close;
}

# HEAD, 204, 304, chunked: the pooled connection is reused after each;
# keepalive_timeout, keepalive N, keepalive_requests
{
    my $c = http_connect($P);
    my (%xc, @bad);
    for my $q (['HEAD', '/kt/size/10'], ['HEAD', '/kt/chunked/10'], ['GET', '/kt/status/204'],
        ['GET', '/kt/status/304'], ['GET', '/kt/chunked/100'], ['GET', '/kt/a']) {
        my $r = $c->request(@$q, timeout => 5);
        push @bad, "@$q: " . ($r->{status} // $r->{error}) unless ($r->{status} // 0) =~ /^(200|204|304)$/;
        $xc{$r->{headers}{'x-conn'} // '?'}++;
    }
    is_deeply \@bad, [], 'HEAD, 204, 304, chunked in a row: answered';
    is scalar(keys %xc), 1, 'HEAD, 204, 304, chunked: one upstream connection reused'
        or diag explain \%xc;
    my $s1 = stats_of(http_connect($kt)->request('GET', '/stats'));
    sleep 2;
    my $s2 = stats_of(http_connect($kt)->request('GET', '/stats'));
    # active counts the asking connection too
    is $s1->{active}, 2, 'upstream keepalive_timeout 1s: the pooled connection open at first';
    is $s2->{active}, 1, 'upstream keepalive_timeout 1s: closed by doorman after 2 s idle'
        or diag explain $s2;
    my $r = $c->request('GET', '/kt/after-idle');
    is $r->{status}, 200, 'keepalive_timeout: the next request on a new upstream connection';

    # keepalive 2: 10 concurrent requests, then at most 2 idle connections kept
    my @cs = grep { $_ } map { http_connect($P) } 1 .. 10;
    $_->send_raw("GET /k2/slow/300 HTTP/1.1\r\nHost: x\r\n\r\n") for @cs;
    my $ok = 0;
    for (@cs) { my $x = $_->read_response(timeout => 5); $ok++ if ($x->{status} // 0) == 200 }
    is $ok, 10, 'keepalive 2: 10 concurrent requests answered';
    my $k2s;
    $t->wait_for(sub {
        $k2s = stats_of(http_connect($k2)->request('GET', '/stats'));
        ($k2s->{active} // 99) <= 3;
    }, timeout => 3);
    is $k2s->{active}, 3, 'keepalive 2: 2 idle upstream connections kept (+ the asking one)'
        or diag explain $k2s;
    $_->close for @cs;

    # keepalive_requests 10: 25 requests on 3 upstream connections (10, 10, 5)
    my %kc;
    for my $i (1 .. 25) {
        my $x = $c->request('GET', "/kr/$i");
        $kc{$x->{headers}{'x-conn'} // '?'}++;
    }
    is_deeply [sort { $b <=> $a } values %kc], [10, 10, 5],
        'upstream keepalive_requests 10: 10 requests per connection' or diag explain \%kc;
    $c->close;
}

# a client that leaves mid-answer: the upstream connection is not pooled
# with the rest of that answer in it (the next request gets its own)
{
    my @bad;
    for my $case ('/ka/slow/500', '/ka/size/20000000', '/ka/slowbody/500', '/ka/chunked/20000000') {
        my $g = http_connect($P);
        $g->send_raw("GET $case HTTP/1.1\r\nHost: x\r\n\r\n");
        sleep 0.15;
        $g->close;
        sleep 0.05;
        my $c = http_connect($P);
        my $r = $c->request('GET', "/ka/after", timeout => 5);
        my ($line) = split /\n/, $r->{body} // '';
        push @bad, "$case: " . ($r->{status} // $r->{error}) . " '$line'"
            unless ($r->{status} // 0) == 200 && $line eq 'ka GET /after';
        $c->close;
    }
    is_deeply \@bad, [], 'a client gone mid-answer: the next request gets its own answer';
}

# the pool full of connections the backend closed: 10 at once after 1.5 s idle
SKIP: {
    skip 'no wrk', 2 unless $wrk;
    my $w = wrk_run('wrk-idle1', '/idle/', 1, 0);
    sleep 1.6;    # the backend closes every pooled connection after 1 s
    $w = wrk_run('wrk-idle2', '/idle/', 2, 0);
    ok $w->{requests} && $w->{requests} > 100, "idle pool, wrk again: $w->{requests} requests"
        or diag $w->{text};
    is $w->{non2xx} + $w->{socket}, 0,
        'a pool of connections closed by the backend: no failure under load' or diag $w->{text};
}

# --- 6. a backend killed under load -----------------------------------------------

# Runs wrk for $secs on $path, calls $during after $at seconds; returns
# {non2xx, socket (sum of socket errors), requests, text}.
sub wrk_run {
    my ($name, $path, $secs, $at, $during) = @_;
    my $p = $t->spawn(cmd => [$wrk, '-t2', '-c10', "-d${secs}s", '--timeout', '5s',
            "http://127.0.0.1:$P$path"], name => $name);
    sleep $at;
    $during->() if $during;
    $p->wait_exit($secs + 10);
    my $text = $t->read_file($t->path("logs/$name.log")) // '';
    my %o = (text => $text, non2xx => 0, socket => 0);
    $o{non2xx} = $1 if $text =~ /Non-2xx or 3xx responses:\s*(\d+)/;
    if ($text =~ /Socket errors:\s*connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
        $o{socket} = $1 + $2 + $3 + $4;
    }
    ($o{requests}) = $text =~ /(\d+) requests in/;
    return \%o;
}

SKIP: {
    skip 'no wrk', 6 unless $wrk;

    my $w = wrk_run('wrk1', '/w/', 4, 1.5, sub { $wproc{w2}->signal('KILL') });
    ok $w->{requests} && $w->{requests} > 100, "wrk: $w->{requests} requests"
        or diag $w->{text};
    is $w->{non2xx}, 0, 'w2 killed under load, retries on: no Non-2xx' or diag $w->{text};
    is $w->{socket}, 0, 'w2 killed under load, retries on: no socket error' or diag $w->{text};

    # restart w2 on its port; after fail_timeout it serves again
    my $ok = eval { ($wp{w2}, $wproc{w2}) = start_backend($t, name => 'w2', port => $wp{w2}); 1 };
    ok $ok, 'w2 restarted on its port' or diag $@;
    my $seen = 0;
    my $deadline = time + 8;
    while (!$seen && time < $deadline) {
        my $c = http_connect($P);
        for (1 .. 6) {
            my $r = $c->request('GET', '/w/again');
            $seen = 1 if ($r->{headers}{'x-backend'} // '') eq 'w2';
        }
        $c->close;
        sleep 0.3 unless $seen;
    }
    ok $seen, 'w2 serves again after its restart';

    # proxy_next_upstream off: at most one failure per connection open to w2
    $w = wrk_run('wrk2', '/off/', 4, 1.5, sub { $wproc{w2}->signal('KILL') });
    my $fails = $w->{non2xx} + $w->{socket};
    ok $w->{requests} && $fails <= 10,
        "proxy_next_upstream off: $fails failures (at most 10)" or diag $w->{text};
}

$t->stop;

# 7. Reloads under keep-alive load through the proxy: 2 workers, 10 HUPs
#    0.4 s apart while wrk runs; a retiring worker says "Connection:
#    close" on its last answers, so no client sees a closed connection.
SKIP: {
    skip 'no wrk', 3 unless $wrk;
    my $tr = Doorman::Test->new;
    $tr->write_conf(<<"EOC");
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log off;
    upstream live { server 127.0.0.1:$wp{w1}; server 127.0.0.1:$wp{w3}; keepalive 16; }
    server { listen 127.0.0.1:%%PORT_1%%; location / { proxy_pass http://live; } }
}
EOC
    $tr->run(wait_ports => [$tr->port_n(1)]);
    my $port = $tr->port_n(1);
    my $p = $tr->spawn(cmd => [$wrk, '-t2', '-c16', '-d5s', '--timeout', '5s',
            "http://127.0.0.1:$port/reload"], name => 'wrk-reload');
    sleep 0.5;
    my $hups = 0;
    for (1 .. 10) {
        $hups++ if $tr->signal('HUP');
        sleep 0.4;
    }
    $p->wait_exit(15);
    my $text = $tr->read_file($tr->path('logs/wrk-reload.log')) // '';
    my ($n) = $text =~ /(\d+) requests in/;
    ok $hups == 10 && $n && $n > 1000, "10 reloads under load: $n requests"
        or diag $text;
    unlike $text, qr/Non-2xx/, 'no failed response across the reloads'
        or diag $text;
    unlike $text, qr/Socket errors/, 'no socket error across the reloads'
        or diag $text;
    $tr->stop;
}

diag sprintf 'http_proxy_retry.t: %.1f s', time - $started;
done_testing;
