#!/usr/bin/perl
#
# Active health checks (issue 14): `health_check` inside `upstream`, run
# by the helper process alone, results in the peer-state zone that every
# worker reads. Backends: t/lib/backend.py (HTTP; /control/health/CODE
# makes its /healthz answer CODE from then on while every other path
# stays 200) and t/lib/redis_backend.py (a line protocol: PING -> +PONG or
# -ERR, switchable; --require-proxy wants a PROXY header first). Clients:
# the harness's own, and wrk.
#
#   1. http, two backends, `health_check interval=500ms fall=2 rise=2
#      uri=/healthz`: backend B starts answering 500 on /healthz (its port
#      open, its other paths 200): within interval x fall + one interval
#      (2 s with the slack) the warn line "upstream flip: server B is DOWN
#      (..., 2 of 2 checks)" is logged, after at least 2 failed probes;
#      then none of 40 client requests reaches B. /healthz back to 200: UP
#      after at least 2 good probes (rise), and requests reach B again.
#   2. worker_processes 2, interval=500ms: the backend counts one probe per
#      interval (7 to 13 /healthz in 5 s, none closer than 300 ms to the
#      one before), not one per worker; the same after 5 reloads (each
#      waited for).
#   3. stream: `health_check interval=300ms send="PING\r\n" expect~"PONG"
#      fall=2 rise=2` marks DOWN (within 1.5 s, after two -ERR answers) a
#      Redis-like backend answering -ERR to PING (every client session
#      then goes to the other one); a probe with
#      `proxy_protocol` reaches a backend that requires a PROXY header
#      (initial=down: it is marked UP, its log shows PROXY headers before
#      the PINGs, it stays UP, and a client through `proxy_protocol on`
#      reaches it), while the same check without `proxy_protocol` marks
#      such a backend DOWN (initial=up).
#   4. No flap (interval=500ms fall=3 rise=2 initial=up, one healthy
#      server U and one whose /healthz answers 500, D): once D is DOWN,
#      kill -9 of the helper: the master starts a new one (new pid), the
#      probes go on (both backends' counts increase), no UP or DOWN line
#      is logged for U or D and no request reaches D, including requests
#      sent as soon as the new helper exists. The same across a reload
#      (requests right after it) and a binary upgrade (USR2, requests once
#      the new master has its workers, QUIT to the old master, requests
#      again).
#   5. Under wrk (-t1 -c8 -d4s, keep-alive) through an upstream with
#      retries (proxy_next_upstream error timeout http_502 http_503), one
#      backend killed (its port closed, its /healthz gone) then restarted
#      on the same port: DOWN then UP are logged, wrk reports no non-2xx
#      response and no socket error, and the restarted backend serves
#      again.
#   6. TLS probes (the test PKI of t/lib/Doorman/TLS.pm; TLS backends
#      with its backend.test / 127.0.0.1 certificate; skipped without
#      openssl or curl): `health_check interval=300ms fall=2 rise=2
#      uri=/healthz type=http ssl verify=on trusted_certificate=CA
#      sni=backend.test` + proxy_pass https://... (proxy_ssl_verify off):
#      /healthz is probed over TLS and answers 200, no failed probe and no
#      DOWN line over ~1.6 s, requests 200; the same with
#      trusted_certificate= the rogue CA: DOWN within ~2 s of the start, at
#      warn, the reason naming SSL / the certificate, "2 of 2 checks", no
#      probe got as far as HTTP, requests 502/503, never UP; `type=tls`
#      (handshake only, verified with the test CA): UP, no HTTP request
#      reaches its backend, requests 200.
#   7. all_down: two upstreams of the same two plain backends,
#      `health_check interval=300ms fall=2 rise=2 uri=/healthz` with
#      all_down=try_all and with the default (fail): both backends answer
#      500 on /healthz: the four DOWN lines; then 10 requests through the
#      try_all upstream are all 200, served by the backends (their other
#      paths still answer 200), while 5 through the fail upstream are all
#      502/503 and reach no backend; no UP line meanwhile. /healthz back
#      to 200: the four UP lines, and the fail upstream serves again.
#
# `server NAME resolve` (DNS) is t/resolve.t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;
use Doorman::HTTP;
use Doorman::TLS qw(make_pki have_tools);

my $T0 = time;
alarm 150;    # the harness's ALRM handler kills what the test started

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
$probe->skip_unless_has('health_check', 'http_proxy', 'tcp_stream');
undef $probe;

my $PYTHON = $ENV{DOORMAN_PYTHON} || 'python3';
my $REDIS = "$FindBin::Bin/lib/redis_backend.py";
my $WRK = `command -v wrk 2>/dev/null`;
chomp $WRK;

# --- helpers --------------------------------------------------------------

# The requests of backend NAME's log: [time, method, target, status].
sub blog {
    my ($t, $name) = @_;
    my @r;
    for (split /\n/, $t->read_file(backend_log_path($t, $name))) {
        push @r, [$1, $2, $3, $4]
            if /^(\d+(?:\.\d+)?) conn=\d+ req=\d+ \S+ "(\S+) (\S+) [^"]*" (\d+)/;
    }
    return @r;
}

# The /healthz requests of backend NAME since a time (a status: only those).
sub probes {
    my ($t, $name, $since, $status) = @_;
    return grep {
        $_->[2] eq '/healthz' && $_->[0] >= ($since // 0)
            && (!defined $status || $_->[3] == $status)
    } blog($t, $name);
}

# The client requests (target under PREFIX) backend NAME got since a time.
sub client_reqs {
    my ($t, $name, $prefix, $since) = @_;
    return grep { index($_->[2], $prefix) == 0 && $_->[0] >= ($since // 0) }
        blog($t, $name);
}

# A request straight to a backend (not through doorman).
sub direct {
    my ($t, $port, $path) = @_;
    my ($st) = $t->http_request(port => $port, path => $path, timeout => 3);
    return $st // 0;
}

# n requests through doorman: (number of 200s, {backend name => count},
# [what went wrong]).
sub spread {
    my ($t, $port, $prefix, $n) = @_;
    my ($ok, %by, @bad) = (0);
    for my $i (1 .. $n) {
        my ($st, $h) = $t->http_request(port => $port, path => "$prefix$i",
            timeout => 5);
        if (($st // 0) == 200) {
            $ok++;
            $by{$h->{'x-backend'} // '?'}++;
        } else {
            push @bad, "$prefix$i: " . ($st // $t->{last_end} // 'no answer');
        }
    }
    return ($ok, \%by, \@bad);
}

# The transition lines of a server of an upstream, since an offset.
sub transitions {
    my ($t, $up, $addr, $from, $state) = @_;
    my $st = $state // 'UP|DOWN';
    my @l = grep { /upstream "?\Q$up\E"?: server \Q$addr\E is (?:$st) \(/ }
        split /\n/, $t->error_log_since($from // 0);
    return @l;
}

# Waits (bounded) for a transition line; returns the line or ''.
sub wait_transition {
    my ($t, $up, $addr, $state, $from, $timeout) = @_;
    my $line = '';
    $t->wait_for(sub {
        ($line) = transitions($t, $up, $addr, $from, $state);
        return defined $line;
    }, timeout => $timeout, interval => 0.01);
    return $line // '';
}

# The live children of a master whose title says WHAT (worker, helper).
sub kids {
    my ($master, $what) = @_;
    my @k;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $s = <$fh> // next;
        next unless $s =~ /\)\s+([^ZX])\s+(\d+)/ && $2 == $master;
        next unless Doorman::Test->cmdline($pid) =~ /^doorman: $what process/;
        push @k, $pid;
    }
    my @s = sort { $a <=> $b } @k;
    return @s;
}

sub read_pid {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    my $l = <$fh> // '';
    return $l =~ /^\s*(\d+)/ ? $1 : undef;
}

sub alive {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $s = <$fh> // '';
    return $s =~ /\)\s+([^ZX])/ ? 1 : 0;
}

# Writes the configuration, checks it with -t, starts doorman; dies with
# the reason when it cannot (the C side is missing or broken).
sub start {
    my ($t, $conf, @ports) = @_;
    $t->write_conf($conf);
    my ($code, $err) = $t->test_conf;
    unless (is $code, 0, 'doorman -t accepts the configuration') {
        diag $err;
        done_testing;
        exit 1;
    }
    $t->run(wait_ports => [@ports],
        wait => sub { $t->worker_pids >= 1 && $t->helper_pid }, timeout => 10);
}

sub start_redis {
    my ($t, $name, @opt) = @_;
    my $port = $t->port;
    my $p = $t->spawn(name => "redis-$name",
        cmd => [$PYTHON, $REDIS, '--port', $port, '--name', $name,
            '--log', $t->path("logs/redis-$name.log"), @opt],
        wait_ports => [$port], timeout => 10);
    return ($port, $p);
}

# The lines of a redis backend's log matching a regex, since a time.
sub rlog {
    my ($t, $name, $re, $since) = @_;
    return grep { /^(\d+\.\d+) / && $1 >= ($since // 0) && /$re/ }
        split /\n/, $t->read_file("logs/redis-$name.log");
}

# ===========================================================================
# 1, 2, 5: http, two workers

my $t = Doorman::Test->new;
my ($pA) = start_backend($t, name => 'a');
my ($pB) = start_backend($t, name => 'b');
my ($pC) = start_backend($t, name => 'c');
my ($pW1) = start_backend($t, name => 'w1');
my ($pW2, $w2proc) = start_backend($t, name => 'w2');

start($t, <<"EOF", $t->port_n(1));
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log off;
    proxy_connect_timeout 2s;
    upstream flip {
        server 127.0.0.1:$pA;
        server 127.0.0.1:$pB;
        health_check interval=500ms fall=2 rise=2 uri=/healthz;
    }
    upstream cnt {
        server 127.0.0.1:$pC;
        health_check interval=500ms uri=/healthz;
    }
    upstream wl {
        server 127.0.0.1:$pW1 fail_timeout=1s;
        server 127.0.0.1:$pW2 fail_timeout=1s;
        health_check interval=300ms fall=2 rise=2 uri=/healthz;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        proxy_next_upstream error timeout http_502 http_503;
        location /flip/ { proxy_pass http://flip; }
        location /cnt/ { proxy_pass http://cnt; }
        location /wl/ { proxy_pass http://wl; }
    }
}
EOF
my $P = $t->port_n(1);
my $B = "127.0.0.1:$pB";

# --- 1. an HTTP backend whose /healthz fails while its port stays open -----

{
    # both servers in rotation first (whatever the initial state is)
    my %seen;
    $t->wait_for(sub {
        my (undef, $by) = spread($t, $P, '/flip/warm', 2);
        $seen{$_} += $by->{$_} for keys %$by;
        return $seen{a} && $seen{b};
    }, timeout => 6, interval => 0.1);
    ok $seen{a} && $seen{b}, '1: both backends serve before the failure'
        or diag explain \%seen;
    $t->wait_for(sub { probes($t, 'b') >= 1 }, timeout => 2);
    ok probes($t, 'b') >= 1, '1: B is probed on /healthz ('
        . scalar(probes($t, 'b')) . ' so far)';
    is scalar(transitions($t, 'flip', $B)), 0,
        '1: no transition logged for B while it is healthy';

    my $from = $t->log_offset;
    my $flip = time;
    is direct($t, $pB, '/control/health/500'), 200,
        '1: B answers 500 on /healthz from now on';
    is direct($t, $pB, '/flip/direct'), 200, '1: ... and 200 on other paths';
    my $line = wait_transition($t, 'flip', $B, 'DOWN', $from, 4);
    my $took = time - $flip;
    ok $line, sprintf '1: "upstream flip: server %s is DOWN" logged (%.2f s)',
        $B, $took;
    ok $took <= 2.0, sprintf '1: within interval x fall + interval + slack'
        . ' (%.2f s <= 2 s)', $took;
    like $line, qr/\[warn\]/, '1: ... at warn';
    like $line, qr/is DOWN \([^)]*500[^)]*, 2 of 2 checks\)/,
        '1: ... the reason names the 500, "2 of 2 checks"';
    # the probes that failed before the line (the backend logs each one
    # right after answering it: a short bounded wait)
    my $bad;
    $t->wait_for(sub { ($bad = probes($t, 'b', $flip, 500)) >= 2 },
        timeout => 1);
    ok $bad >= 2, "1: B answered at least fall=2 probes with 500 ($bad)";

    my $since = time;
    my ($ok, $by, $errs) = spread($t, $P, '/flip/down', 40);
    is $ok, 40, '1: 40 requests once B is down: all 200' or diag "@$errs";
    is $by->{a} // 0, 40, '1: ... all served by A' or diag explain $by;
    is scalar(client_reqs($t, 'b', '/flip/', $since)), 0,
        "1: ... B's log has none of them";
    ok $t->wait_for(sub { probes($t, 'b', $since) >= 1 }, timeout => 1.5),
        '1: B is still probed while DOWN';

    $from = $t->log_offset;
    my $back = time;
    is direct($t, $pB, '/control/health/200'), 200,
        '1: B answers 200 on /healthz again';
    $line = wait_transition($t, 'flip', $B, 'UP', $from, 4);
    $took = time - $back;
    ok $line, sprintf '1: "server %s is UP" logged (%.2f s)', $B, $took;
    ok $took <= 2.5, sprintf '1: within rise x interval + interval + slack'
        . ' (%.2f s <= 2.5 s)', $took;
    like $line, qr/\[warn\].*is UP \([^)]*2 of 2 checks\)/,
        '1: ... at warn, "2 of 2 checks"';
    my $good;
    $t->wait_for(sub { ($good = probes($t, 'b', $back, 200)) >= 2 },
        timeout => 1);
    ok $good >= 2, "1: ... after at least rise=2 good probes ($good)";
    is scalar(transitions($t, 'flip', "127.0.0.1:$pA")), 0,
        '1: no transition for A at all';

    $since = time;
    ($ok, $by, $errs) = spread($t, $P, '/flip/up', 20);
    is $ok, 20, '1: 20 requests after B is back: all 200' or diag "@$errs";
    ok +($by->{b} // 0) >= 5, '1: ... B serves again ('
        . ($by->{b} // 0) . ' of 20)' or diag explain $by;
    note sprintf 'part 1 done at %.1f s', time - $T0;
}

# --- 2. one probe per interval with two workers, and after 5 reloads ------

# (count, smallest gap in s) of the /healthz requests C got in [from, to)
sub probe_window {
    my ($from, $to) = @_;
    my @ts = map { $_->[0] } grep { $_->[0] < $to } probes($t, 'c', $from);
    my $gap = 99;
    for my $i (1 .. $#ts) {
        $gap = $ts[$i] - $ts[$i - 1] if $ts[$i] - $ts[$i - 1] < $gap;
    }
    return (scalar @ts, $gap);
}

{
    is scalar($t->worker_pids), 2, '2: two workers';
    ok $t->wait_for(sub { probes($t, 'c') >= 1 }, timeout => 3),
        '2: C is probed';
    my $w0 = time;
    sleep 5;
    my ($n, $gap) = probe_window($w0, $w0 + 5);
    ok $n >= 7 && $n <= 13, "2: 5 s at interval=500ms, 2 workers: $n probes"
        . ' (7 to 13: one checker, not one per worker)';
    ok $gap >= 0.3, sprintf '2: ... never two at once (smallest gap %.3f s)',
        $gap;

    my $r0 = time;
    my $reloads = 0;
    for my $i (1 .. 5) {
        $reloads++ if $t->reload(timeout => 10);
        sleep 0.2;
    }
    my $r1 = time;
    is $reloads, 5, '2: 5 reloads, each done (generation serving)';
    my ($rn) = probe_window($r0, $r1);
    note sprintf '2: %d probes during the reloads (%.1f s)', $rn, $r1 - $r0;
    ok $t->wait_for(sub { scalar($t->worker_pids(current => 1)) == 2
        && $t->helper_pid }, timeout => 5),
        '2: two current workers and a helper after the reloads';
    # the old generations gone
    $t->wait_for(sub { scalar($t->worker_pids) == 2 }, timeout => 5);
    my $w1 = time;
    sleep 5;
    ($n, $gap) = probe_window($w1, $w1 + 5);
    ok $n >= 7 && $n <= 13, "2: after 5 reloads: $n probes in 5 s (7 to 13)";
    ok $gap >= 0.3, sprintf '2: ... never two at once (smallest gap %.3f s)',
        $gap;
    my ($ok, $by, $errs) = spread($t, $P, '/cnt/x', 5);
    is $ok, 5, '2: the checked upstream serves' or diag "@$errs";
    note sprintf 'part 2 done at %.1f s', time - $T0;
}

# --- 5. wrk through an upstream whose backend goes down and up ------------

SKIP: {
    skip 'wrk is not installed', 8 unless $WRK;
    my $W2 = "127.0.0.1:$pW2";
    my ($ok0, $by0) = spread($t, $P, '/wl/warm', 10);
    is $ok0, 10, '5: the wl upstream serves before the load';
    my $from = $t->log_offset;
    my $wrk = $t->spawn(name => 'wrk', cmd => [$WRK, '-t1', '-c8', '-d4s',
        '--timeout', '2s', "http://127.0.0.1:$P/wl/load"]);
    sleep 0.4;
    $w2proc->stop(signal => 'KILL', timeout => 3);
    my $killed = time;
    my $down = wait_transition($t, 'wl', $W2, 'DOWN', $from, 3);
    ok $down, sprintf '5: W2 killed under load: DOWN logged (%.2f s)',
        time - $killed;
    my $restart = time;
    my (undef, $p2) = eval { start_backend($t, name => 'w2', port => $pW2) };
    ok $p2, '5: W2 restarted on the same port' or diag $@;
    my $up = wait_transition($t, 'wl', $W2, 'UP', $from, 3);
    ok $up, sprintf '5: ... UP logged (%.2f s after the restart)',
        time - $restart;
    my $st = $wrk->wait_exit(15);
    ok defined $st && $st == 0, '5: wrk exits 0';
    my $out = $t->read_file('logs/wrk.log');
    my ($reqs) = $out =~ /(\d+) requests in/;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s*(\d+)/;
    my @sock = $out =~ /Socket errors:\s*connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
    ok +($reqs // 0) > 500, '5: wrk made requests (' . ($reqs // 0) . ')'
        or diag $out;
    is $non2xx // 0, 0, '5: no non-2xx response' or diag $out;
    is_deeply \@sock, [], '5: no socket error' or diag $out;
    note '5: W2 served ' . scalar(client_reqs($t, 'w2', '/wl/', $restart))
        . ' wrk requests after its restart';
    my ($ok, $by) = spread($t, $P, '/wl/after', 20);
    ok $ok == 20 && ($by->{w2} // 0) >= 5, '5: the restarted W2 serves again ('
        . ($by->{w2} // 0) . ' of 20)' or diag explain $by;
    note sprintf 'part 5 done at %.1f s', time - $T0;
}

$t->stop;

# ===========================================================================
# 3. stream: send/expect, and the PROXY header on the probe

{
    my $s = Doorman::Test->new;
    my ($pR1) = start_redis($s, 'r1');
    my ($pR2) = start_redis($s, 'r2');
    my ($pPP1) = start_redis($s, 'pp1', '--require-proxy');
    my ($pPP2) = start_redis($s, 'pp2', '--require-proxy');
    my $hc = 'interval=300ms send="PING\\r\\n" expect~"PONG" fall=2 rise=2';
    start($s, <<"EOF", map { $s->port_n($_) } 1 .. 3);
worker_processes 2;
events { worker_connections 1024; }
stream {
    proxy_connect_timeout 2s;
    upstream redis {
        server 127.0.0.1:$pR1;
        server 127.0.0.1:$pR2;
        health_check $hc;
    }
    upstream pp_on {
        server 127.0.0.1:$pPP1;
        health_check $hc proxy_protocol initial=down;
    }
    upstream pp_off {
        server 127.0.0.1:$pPP2;
        health_check $hc initial=up;
    }
    server { listen 127.0.0.1:%%PORT_1%%; proxy_pass redis; }
    server { listen 127.0.0.1:%%PORT_2%%; proxy_pass pp_on; proxy_protocol on; }
    server { listen 127.0.0.1:%%PORT_3%%; proxy_pass pp_off; proxy_protocol on; }
}
EOF
    my $SP = $s->port_n(1);
    my $who = sub {
        my ($port) = @_;
        my ($d, $how) = $s->tcp_request($port, "WHO\r\nQUIT\r\n", timeout => 3);
        return $d =~ /^\+(\S+)\r\n/ ? $1 : "?($how)";
    };
    my $sessions = sub {
        my ($n) = @_;
        my %by;
        $by{$who->($SP)}++ for 1 .. $n;
        return \%by;
    };

    ok $s->wait_for(sub { my $b = $sessions->(4); $b->{r1} && $b->{r2} },
        timeout => 4, interval => 0.1),
        '3: sessions reach both redis backends while both say +PONG';
    my $t0 = time;
    $s->wait_for(sub { rlog($s, 'r2', qr/PING .*reply=PONG/) >= 1 },
        timeout => 2);
    ok rlog($s, 'r2', qr/PING .*reply=PONG/) >= 1,
        '3: the probe sends PING (r2 answered +PONG)';

    my $from = $s->log_offset;
    my $flip = time;
    my ($d) = $s->tcp_request($pR2, "HEALTH ERR\r\nQUIT\r\n", timeout => 3);
    is $d, "+OK\r\n+OK\r\n", '3: r2 answers -ERR to PING from now on';
    my $line = wait_transition($s, 'redis', "127.0.0.1:$pR2", 'DOWN', $from, 3);
    my $took = time - $flip;
    ok $line, sprintf '3: send="PING\r\n" expect~"PONG": r2 is DOWN (%.2f s)',
        $took;
    ok $took <= 1.5, sprintf '3: ... within interval x fall + interval + '
        . 'slack (%.2f s <= 1.5 s)', $took;
    like $line, qr/\[warn\].*2 of 2 checks\)/, '3: ... at warn, "2 of 2 checks"';
    ok rlog($s, 'r2', qr/PING .*reply=ERR/, $flip) >= 2,
        '3: ... after two probes answered -ERR';
    my $by = $sessions->(20);
    is $by->{r1} // 0, 20, '3: 20 client sessions then all go to r1'
        or diag explain $by;
    is scalar(transitions($s, 'redis', "127.0.0.1:$pR1")), 0,
        '3: no transition for r1';

    # the PROXY header on the probe
    my $pp1 = "127.0.0.1:$pPP1";
    my $pp2 = "127.0.0.1:$pPP2";
    $line = wait_transition($s, 'pp_on', $pp1, 'UP', 0, 3);
    ok $line, '3: with proxy_protocol (initial=down) the backend that requires'
        . ' a PROXY header is UP';
    my @proxied = rlog($s, 'pp1', qr/^\S+ PROXY conn=/);
    my @pings = rlog($s, 'pp1', qr/^\S+ PING conn=/);
    ok @proxied >= 2 && @pings >= 2, '3: ... its probes sent a PROXY header '
        . 'then PING (' . scalar(@proxied) . ' headers, ' . scalar(@pings)
        . ' PINGs)';
    is scalar(rlog($s, 'pp1', qr/NOPROXY/)), 0, '3: ... none came without one';
    note "3: the probe's header: $proxied[0]" if @proxied;
    is $who->($s->port_n(2)), 'pp1',
        '3: a client through proxy_protocol on reaches it';
    $line = wait_transition($s, 'pp_off', $pp2, 'DOWN', 0, 3);
    ok $line, '3: the same check without proxy_protocol (initial=up): DOWN';
    ok rlog($s, 'pp2', qr/NOPROXY/) >= 2, '3: ... its probes had no header';
    my $n0 = rlog($s, 'pp1', qr/^\S+ PING conn=/);
    sleep 1.5;
    ok rlog($s, 'pp1', qr/^\S+ PING conn=/) >= $n0 + 3,
        '3: pp1 is still probed (' . ($n0) . ' then '
        . scalar(rlog($s, 'pp1', qr/^\S+ PING conn=/)) . ' PINGs)';
    is scalar(transitions($s, 'pp_on', $pp1, 0, 'DOWN')), 0,
        '3: ... and stays UP (no DOWN line)';
    is scalar(transitions($s, 'pp_off', $pp2, 0, 'UP')), 0,
        '3: ... while the other never comes UP';
    $s->stop;
    note sprintf 'part 3 done at %.1f s', time - $T0;
}

# ===========================================================================
# 4. no flap: kill -9 of the helper, a reload, a binary upgrade

{
    my $u = Doorman::Test->new;
    my ($pU) = start_backend($u, name => 'u');
    my ($pD) = start_backend($u, name => 'd');
    is direct($u, $pD, '/control/health/500'), 200,
        '4: D answers 500 on /healthz (before doorman starts)';
    my $conf = <<"EOF";
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log off;
    upstream pair {
        server 127.0.0.1:$pU;
        server 127.0.0.1:$pD;
        health_check interval=500ms fall=3 rise=2 uri=/healthz initial=up;
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location /pair/ { proxy_pass http://pair; }
    }
}
EOF
    start($u, $conf, $u->port_n(1));
    my $UP = $u->port_n(1);
    my ($U, $D) = ("127.0.0.1:$pU", "127.0.0.1:$pD");
    my $line = wait_transition($u, 'pair', $D, 'DOWN', 0, 4);
    ok $line, '4: D is DOWN';
    like $line, qr/3 of 3 checks\)/, '4: ... "3 of 3 checks"';

    # no request reaches D; no transition logged for U or D since FROM
    my $no_flap = sub {
        my ($what, $from, $n) = @_;
        my $since = time;
        (my $tag = $what) =~ s/\W+/_/g;
        my ($ok, $by, $errs) = spread($u, $UP, "/pair/$tag-", $n);
        is $ok, $n, "4: $what: $n requests, all 200" or diag "@$errs";
        is scalar(client_reqs($u, 'd', '/pair/', $since)), 0,
            "4: $what: none reached D" or diag explain $by;
        my @l = (transitions($u, 'pair', $U, $from),
            transitions($u, 'pair', $D, $from));
        is scalar(@l), 0, "4: $what: no UP or DOWN line for U or D"
            or diag join "\n", @l;
    };

    # kill -9 of the helper
    my $from = $u->log_offset;
    my $h0 = $u->helper_pid;
    ok $h0, "4: the helper runs ($h0)";
    my ($nu, $nd) = (scalar(probes($u, 'u')), scalar(probes($u, 'd')));
    kill 'KILL', $h0 if $h0;
    my $h1 = $u->wait_for(sub {
        my $h = $u->helper_pid;
        return $h && $h != $h0 ? $h : 0;
    }, timeout => 5, interval => 0.01);
    ok $h1, '4: kill -9: the master starts a new helper'
        . ($h1 ? " ($h1)" : '');
    $no_flap->('new helper', $from, 10);
    my $t1 = time;
    ok $u->wait_for(sub { probes($u, 'u', $t1) >= 2 && probes($u, 'd', $t1) >= 2 },
        timeout => 3), '4: the checks go on (both backends probed twice since)';
    ok probes($u, 'u') > $nu && probes($u, 'd') > $nd,
        '4: ... probe counts increased (U ' . $nu . ' -> '
        . scalar(probes($u, 'u')) . ', D ' . $nd . ' -> '
        . scalar(probes($u, 'd')) . ')';
    sleep 1.6 - (time - $t1) if time - $t1 < 1.6;   # > fall x interval
    $no_flap->('after the new helper', $from, 10);

    # a reload (the upstream unchanged, a location added)
    $from = $u->log_offset;
    (my $conf2 = $conf) =~ s{(location /pair/)}{location /other/ { return 200 "other\\n"; }\n        $1};
    $u->write_conf($conf2);
    ok $u->reload(timeout => 10), '4: reload done';
    $no_flap->('right after the reload', $from, 10);
    sleep 1.6;
    $no_flap->('1.6 s after the reload', $from, 10);
    my $t2 = time;
    ok $u->wait_for(sub { probes($u, 'd', $t2) >= 1 }, timeout => 2),
        '4: D is still probed after the reload';

    # a binary upgrade: USR2, then QUIT to the old master
    $from = $u->log_offset;
    my $old = $u->pid;
    my $pidf = $u->pid_file;
    kill 'USR2', $old;
    my $new = $u->wait_for(sub {
        my $p = read_pid($pidf) // 0;
        return $p && $p != $old && alive($p) && kids($p, 'worker') == 2
            && kids($p, 'helper') == 1 ? $p : 0;
    }, timeout => 10, interval => 0.01);
    ok $new, '4: USR2: a new master with two workers and a helper'
        . ($new ? " ($new)" : '');
    $no_flap->('new master up', $from, 10);
    $u->follow_pid_file if $new;
    kill 'QUIT', $old;
    ok $u->wait_for(sub { !alive($old) }, timeout => 10),
        '4: QUIT: the old master exits';
    $no_flap->('old master gone', $from, 10);
    my $t3 = time;
    ok $u->wait_for(sub { probes($u, 'd', $t3) >= 2 && probes($u, 'u', $t3) >= 2 },
        timeout => 3), '4: the new master\'s helper probes';
    sleep 1.6 - (time - $t3) if time - $t3 < 1.6;
    $no_flap->('1.6 s after the upgrade', $from, 10);

    # D still comes back when it heals (the new helper really checks it)
    $from = $u->log_offset;
    is direct($u, $pD, '/control/health/200'), 200, '4: D heals';
    ok wait_transition($u, 'pair', $D, 'UP', $from, 3),
        '4: ... and is UP under the new master';
    $u->stop;
    note sprintf 'part 4 done at %.1f s', time - $T0;
}

# ===========================================================================
# 6. TLS probes: type=http over TLS with verification, a CA that does not
#    sign the backend's certificate, and type=tls (handshake only)

SKIP: {
    my $k = Doorman::Test->new;
    my @missing = have_tools($k);
    skip "not installed: @missing", 19 if @missing;
    my %f = %{ make_pki($k, ocsp => 0) };
    my ($CA, $RCA) = @f{qw(ca_crt rogue_ca_crt)};
    # three TLS backends with the same backend.test / 127.0.0.1 certificate
    # from the test CA, one per upstream (each log holds its own probes)
    my %bp;
    for my $n (qw(tok tbad ths)) {
        $bp{$n} = start_backend($k, name => $n, tls_cert => $f{backend_crt},
            tls_key => $f{backend_key});
    }
    my $hc = 'interval=300ms fall=2 rise=2';
    my $tls = 'verify=on sni=backend.test';
    my $t0 = time;
    start($k, <<"EOF", $k->port_n(1));
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 1024; }
http {
    access_log off;
    proxy_connect_timeout 2s;
    upstream tls_ok {
        server 127.0.0.1:$bp{tok};
        health_check $hc uri=/healthz type=http ssl $tls trusted_certificate=$CA;
    }
    upstream tls_bad {
        server 127.0.0.1:$bp{tbad};
        health_check $hc uri=/healthz type=http ssl $tls trusted_certificate=$RCA;
    }
    upstream tls_hs {
        server 127.0.0.1:$bp{ths};
        health_check $hc type=tls $tls trusted_certificate=$CA;
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        proxy_ssl_verify off;
        location /ok/ { proxy_pass https://tls_ok; }
        location /bad/ { proxy_pass https://tls_bad; }
        location /hs/ { proxy_pass https://tls_hs; }
    }
}
EOF
    my $KP = $k->port_n(1);
    my %a = map { $_ => "127.0.0.1:$bp{$_}" } keys %bp;

    # the rogue CA: the handshake fails, the server is DOWN
    my $line = wait_transition($k, 'tls_bad', $a{tbad}, 'DOWN', 0, 4);
    my $took = time - $t0;
    ok $line, sprintf '6: trusted_certificate=<rogue CA>: "upstream tls_bad: '
        . 'server %s is DOWN" logged (%.2f s after the start)', $a{tbad}, $took;
    ok $took <= 2.5, sprintf '6: ... within ~2 s of doorman starting'
        . ' (%.2f s <= 2.5 s, the start included)', $took;
    like $line, qr/\[warn\]/, '6: ... at warn';
    like $line, qr/DOWN \(.*(?:SSL|certificate|verif)/i,
        '6: ... the reason names the certificate / SSL';
    like $line, qr/2 of 2 checks\)/, '6: ... "2 of 2 checks"';
    note "6: $line";
    is scalar(probes($k, 'tbad')), 0,
        '6: ... no probe reached HTTP on that backend (the handshake failed)';
    my @st;
    push @st, direct($k, $KP, "/bad/$_") for 1 .. 3;
    is scalar(grep { $_ == 502 || $_ == 503 } @st), 3,
        "6: requests through tls_bad (all_down=fail): 502/503 (@st)";

    # the test CA: the server stays UP for ~1.5 s of probes
    my $w0 = time;
    sleep 1.6 - ($w0 - $t0) if $w0 - $t0 < 1.6;
    $k->wait_for(sub { probes($k, 'tok', 0, 200) >= 3 }, timeout => 1.5);
    my $okp = probes($k, 'tok', 0, 200);
    ok $okp >= 3, "6: tls_ok: /healthz probed over TLS ($okp probes, 200)";
    is scalar(transitions($k, 'tls_ok', $a{tok}, 0, 'DOWN')), 0,
        '6: tls_ok (verify=on, the test CA, sni=backend.test): no DOWN line'
        or diag $k->error_log_since(0);
    my @failed = grep { /health check of server \Q$a{tok}\E failed/ }
        split /\n/, $k->error_log_since(0);
    is scalar(@failed), 0, '6: ... no failed probe of it' or diag "@failed";
    my ($ok, $by, $errs) = spread($k, $KP, '/ok/r', 5);
    is $ok, 5, '6: ... requests through it: 200' or diag "@$errs";
    is $by->{tok} // 0, 5, '6: ... served by the TLS backend'
        or diag explain $by;

    # type=tls: the handshake alone (verified), no HTTP request
    my $hsn = () = grep { /health check of server \Q$a{ths}\E failed/ }
        split /\n/, $k->error_log_since(0);
    is scalar(transitions($k, 'tls_hs', $a{ths}, 0, 'DOWN')), 0,
        '6: type=tls (verify=on, the test CA): no DOWN line';
    is $hsn, 0, '6: ... no failed probe of it';
    is scalar(blog($k, 'ths')), 0,
        '6: ... its probes send no HTTP request (handshake only)';
    ($ok, $by, $errs) = spread($k, $KP, '/hs/r', 5);
    is $ok, 5, '6: ... requests through it: 200' or diag "@$errs";
    is $by->{ths} // 0, 5, '6: ... served by its backend' or diag explain $by;
    is scalar(transitions($k, 'tls_bad', $a{tbad}, 0, 'UP')), 0,
        '6: tls_bad never comes UP';
    $k->stop;
    note sprintf 'part 6 done at %.1f s', time - $T0;
}

# ===========================================================================
# 7. all_down=try_all against the default all_down=fail

{
    my $v = Doorman::Test->new;
    my ($pE1) = start_backend($v, name => 'e1');
    my ($pE2) = start_backend($v, name => 'e2');
    my $hc = 'interval=300ms fall=2 rise=2 uri=/healthz';
    start($v, <<"EOF", $v->port_n(1));
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    proxy_connect_timeout 2s;
    upstream all_try {
        server 127.0.0.1:$pE1;
        server 127.0.0.1:$pE2;
        health_check $hc all_down=try_all;
    }
    upstream all_fail {
        server 127.0.0.1:$pE1;
        server 127.0.0.1:$pE2;
        health_check $hc;
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location /try/ { proxy_pass http://all_try; }
        location /fail/ { proxy_pass http://all_fail; }
    }
}
EOF
    my $VP = $v->port_n(1);
    my @addr = ("127.0.0.1:$pE1", "127.0.0.1:$pE2");
    my ($ok, $by, $errs) = spread($v, $VP, '/fail/warm', 4);
    is $ok, 4, '7: both upstreams serve while the backends are healthy'
        or diag "@$errs";

    my $from = $v->log_offset;
    is direct($v, $_, '/control/health/500'), 200,
        "7: backend on port $_ answers 500 on /healthz" for $pE1, $pE2;
    my $flip = time;
    my @down;
    for my $up (qw(all_try all_fail)) {
        for my $ad (@addr) {
            my $l = wait_transition($v, $up, $ad, 'DOWN', $from, 3);
            ok $l, "7: upstream $up: server $ad is DOWN";
            push @down, $l;
        }
    }
    note sprintf '7: all four DOWN lines within %.2f s', time - $flip;

    my $since = time;
    ($ok, $by, $errs) = spread($v, $VP, '/try/all-down', 10);
    is $ok, 10, '7: every server DOWN, all_down=try_all: 10 requests, all 200'
        or diag "@$errs";
    is +($by->{e1} // 0) + ($by->{e2} // 0), 10,
        '7: ... served by the backends' or diag explain $by;
    # (each backend logs a request right after answering it: a short
    # bounded wait)
    my $got = sub {
        return scalar(client_reqs($v, 'e1', '/try/', $since))
            + scalar(client_reqs($v, 'e2', '/try/', $since));
    };
    $v->wait_for(sub { $got->() >= 10 }, timeout => 1);
    is $got->(), 10, "7: ... the backends' logs have them";

    $since = time;
    my @st;
    push @st, direct($v, $VP, "/fail/all-down$_") for 1 .. 5;
    is scalar(grep { $_ == 502 || $_ == 503 } @st), 5,
        "7: the default all_down=fail: 5 requests, all 502/503 (@st)";
    sleep 0.2;    # (as above: a request that did reach one is logged)
    is scalar(client_reqs($v, 'e1', '/fail/', $since))
        + scalar(client_reqs($v, 'e2', '/fail/', $since)), 0,
        '7: ... none reached a backend';
    my @up = map { my $u = $_; map { transitions($v, $u, $_, $from, 'UP') } @addr }
        qw(all_try all_fail);
    is scalar(@up), 0, '7: no UP line while /healthz fails (try_all does '
        . 'not mark the servers UP)' or diag join "\n", @up;

    # healed: UP again in both, and all_fail serves again
    $from = $v->log_offset;
    is direct($v, $_, '/control/health/200'), 200,
        "7: backend on port $_ answers 200 on /healthz again" for $pE1, $pE2;
    for my $up (qw(all_try all_fail)) {
        ok wait_transition($v, $up, $_, 'UP', $from, 3),
            "7: upstream $up: server $_ is UP again" for @addr;
    }
    ($ok, $by, $errs) = spread($v, $VP, '/fail/healed', 6);
    is $ok, 6, '7: all_fail serves again' or diag "@$errs";
    $v->stop;
    note sprintf 'part 7 done at %.1f s', time - $T0;
}

note sprintf 'total %.1f s', time - $T0;
done_testing;
