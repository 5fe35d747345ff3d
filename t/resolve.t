#!/usr/bin/perl
#
# `server NAME resolve` (issue 14): the helper process re-resolves the name
# at the record's TTL (bounded by `resolver_valid`) and writes the
# addresses into the peer-state zone, which every worker reads: a DNS
# change reaches the traffic without a reload. The DNS server is
# t/lib/dns_responder.py (authoritative, UDP, on loopback), which reads
# its zone file on every query and logs every query; the backends are
# t/lib/backend.py on 127.0.0.2 and 127.0.0.3 with the same port, so that
# the name's addresses alone tell them apart (X-Backend: b2 or b3).
#
#   1. http, worker_processes 2, `resolver 127.0.0.1:DNS; resolver_valid
#      2s;`, `upstream u { server backend.test:P resolve; }`, zone
#      "backend.test A 127.0.0.2" (TTL 1 s): requests succeed within 5 s,
#      then 20 of 20 reach b2.
#   2. The zone gets a second A record (127.0.0.3): within 6 s requests
#      reach b3 too; of 40 requests both backends get some; the notice
#      line 'upstream u: "backend.test" resolved to 127.0.0.2:P,
#      127.0.0.3:P' (either order) is logged; no reload happened: the
#      master's and the workers' pids are the same, and nothing in the
#      error log speaks of reconfiguring or a new generation.
#   3. The zone says 127.0.0.3 only: within 6 s requests reach b3 only,
#      then 20 of 20 do; still the same pids.
#   4. Query pace: over 4 s, the responder's log has between 2 and 10 A
#      queries for backend.test (TTL 1 s: about 4; one asker, the helper,
#      not one per worker as well), and every query so far was answered
#      NOERROR (doorman's queries are well-formed ones).
#   5. A DNS failure keeps the addresses: while the zone file is broken
#      (the responder answers SERVFAIL), a warn line names backend.test and
#      requests keep reaching b3 (3 s of them, all 200, the TTL passing
#      twice); the zone fixed, nothing changes.
#   6. NXDOMAIN (backend.test gone from the zone) empties the server: a
#      "resolved to" line without an address is logged and requests fail
#      (5xx) instead of reaching a stale address; the name back (127.0.0.3),
#      requests reach b3 again.
#   7. AAAA (when there is IPv6 loopback): `upstream v6 { server
#      v6.test:P resolve; }`, zone "v6.test AAAA ::1": requests reach b6,
#      a backend on [::1]:P, and the notice names [::1]:P.
#   8. stream: `resolver` and `resolver_valid` in the stream block too,
#      `upstream s { server stream.test:P resolve; }` (stream.test A
#      127.0.0.3), `proxy_pass s`: an HTTP request through the stream
#      listener reaches b3.
#   9. Query IDs are not predictable: doorman stopped and started again
#      with the same configuration asks with other IDs (of its first 6
#      queries, fewer than 3 have an ID of the first run's first 6: chance
#      alone makes even one rare, while a resolver that never seeds its
#      generator repeats all 6).
#  10. Configuration errors, doorman -t fails: `resolve` without a
#      `resolver` ("no resolver", http and stream), `service=` without
#      `resolve`, each with a message naming it.
#  8b. `server svc.test service=http resolve` follows the SRV records of
#      _http._tcp.svc.test: the targets of the best priority only, each
#      with the port its record gives.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::IP;
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;
use Doorman::HTTP;

my $T0 = time;
alarm 90;    # the harness's ALRM handler kills what the test started

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
$probe->skip_unless_has('http_proxy', 'tcp_stream');
undef $probe;

my $PYTHON = $ENV{DOORMAN_PYTHON} || 'python3';
my $DNS = "$FindBin::Bin/lib/dns_responder.py";

# --- helpers --------------------------------------------------------------

my $t = Doorman::Test->new;
my $ZONE = $t->path('dns.zone');
my $QLOG = $t->path('logs/dns-queries.log');

# Writes the zone file whole (a new file renamed over the old one: the
# responder, which reads it on every query, never sees half of it).
sub set_zone {
    my ($text) = @_;
    $t->write_file('dns.zone.new', $text);
    rename $t->path('dns.zone.new'), $ZONE or die "rename: $!";
}

# The queries the responder logged: [time, name, type, rcode, id].
sub queries {
    my @q;
    for (split /\n/, $t->read_file($QLOG)) {
        push @q, [$1, $2, $3, $5, $4]
            if /^(\d+\.\d+) (\S+) (\S+) from=\S+ id=(\d+) rcode=(\S+)/;
    }
    return @q;
}

# The zone: backend.test as given, the other names always the same.
my $V6;    # IPv6 loopback: v6.test and its backend
my $BP;    # the backends' port (the SRV records name it once known)
sub zone_with {
    my (@addrs) = @_;
    set_zone(join('', map { "backend.test A $_ 1\n" } @addrs)
        . "stream.test A 127.0.0.3 1\n" . ($V6 ? "v6.test AAAA ::1 1\n" : '')
        . (defined $BP
            ? "_http._tcp.svc.test SRV 10 5 $BP b3.svc.test 1\n"
            . "_http._tcp.svc.test SRV 20 5 $BP b2.svc.test 1\n"
            . "b3.svc.test A 127.0.0.3 1\nb2.svc.test A 127.0.0.2 1\n" : ''));
}

# n requests through doorman: (number of 200s, {backend => count},
# [what went wrong]).
sub spread {
    my ($port, $prefix, $n) = @_;
    my ($ok, %by, @bad) = (0);
    for my $i (1 .. $n) {
        my ($st, $h) = $t->http_request(port => $port, path => "$prefix$i",
            timeout => 3);
        if (($st // 0) == 200) {
            $ok++;
            $by{$h->{'x-backend'} // '?'}++;
        } else {
            push @bad, "$prefix$i: " . ($st // $t->{last_end} // 'no answer');
        }
    }
    return ($ok, \%by, \@bad);
}

sub show { my ($by) = @_; return join ', ', map { "$_=$by->{$_}" } sort keys %$by }

# The error log lines that say a reload or a reconfiguration happened.
sub reload_lines {
    my ($from) = @_;
    return grep { /reconfigur|$Doorman::Test::RELOAD_DONE_RE|\bSIGHUP\b/i }
        split /\n/, $t->error_log_since($from);
}

# The "resolved to" notice lines of an upstream and a name.
sub resolved_lines {
    my ($up, $name, $from) = @_;
    return grep { /upstream "?\Q$up\E"?: "\Q$name\E" resolved to / }
        split /\n/, $t->error_log_since($from // 0);
}

# A failure that leaves nothing to test: said, and the file ends there
# (what it started is stopped by the harness on exit).
sub give_up {
    my ($why) = @_;
    fail $why;
    done_testing;
    exit 1;
}

# --- the responder and the backends --------------------------------------

$V6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
    Proto => 'tcp') ? 1 : 0;
zone_with('127.0.0.2');
my $DNSPORT;
for my $try (1 .. 3) {
    $DNSPORT = $t->udp_port;
    last if eval {
        $t->spawn(name => "dns-$try", cmd => [$PYTHON, $DNS, '--port',
            $DNSPORT, '--zone', $ZONE, '--log', $QLOG],
            wait_udp_ports => [$DNSPORT],
            wait => sub { $t->read_file("logs/dns-$try.log") =~ /^ready$/m },
            timeout => 10);
    };
    diag "dns responder, try $try: $@";
    $DNSPORT = undef;
}
give_up('cannot start the DNS responder') unless $DNSPORT;

# b2 on 127.0.0.2:P and b3 on 127.0.0.3:P, the same P (a port free on
# 127.0.0.1 may still be taken on .2 or .3: a few tries)
for my $try (1 .. 3) {
    my $p = $t->port;
    my $ok = eval {
        start_backend($t, name => 'b2', host => '127.0.0.2', port => $p);
        start_backend($t, name => 'b3', host => '127.0.0.3', port => $p);
        1;
    };
    $ok &&= eval {
        start_backend($t, name => 'b6', host => '::1', port => $p);
        1;
    } if $V6;
    if ($ok) { $BP = $p; last }
    diag "backends on port $p, try $try: $@";
    for my $pr (@{$t->{procs}}) {
        $pr->stop(timeout => 3) if $pr->name =~ /^backend-b[236]$/
            && $pr->alive;
    }
}
give_up('cannot start the backends on 127.0.0.2, 127.0.0.3 (and ::1)')
    unless $BP;
zone_with('127.0.0.2'); # now with the SRV records, which name $BP

# --- doorman -------------------------------------------------------------

my $CONF = <<"EOF";
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log off;
    proxy_connect_timeout 2s;
    resolver 127.0.0.1:$DNSPORT;
    resolver_valid 2s;
    upstream u {
        server backend.test:$BP resolve;
    }
    @{[$V6 ? "upstream v6 { server v6.test:$BP resolve; }" : '']}
    upstream srv { server svc.test service=http resolve; }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { proxy_pass http://u; }
        @{[$V6 ? 'location /v6/ { proxy_pass http://v6; }' : '']}
        location /srv/ { proxy_pass http://srv; }
    }
}
stream {
    resolver 127.0.0.1:$DNSPORT;
    resolver_valid 2s;
    upstream s {
        server stream.test:$BP resolve;
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        proxy_connect_timeout 2s;
        proxy_pass s;
    }
}
EOF
$t->write_conf($CONF);
my ($code, $err) = $t->test_conf;
is $code, 0, 'doorman -t accepts resolver, resolver_valid and'
    . ' server NAME resolve (http and stream)'
    or diag($err), give_up('doorman -t refused the configuration');
$t->run(wait_ports => [$t->port_n(1), $t->port_n(2)],
    wait => sub { $t->worker_pids >= 2 && $t->helper_pid }, timeout => 10);
my ($P, $SP) = ($t->port_n(1), $t->port_n(2));
my $master = $t->pid;
my @workers = $t->worker_pids;
my $helper = $t->helper_pid;
is scalar(@workers), 2, 'two workers';
ok $helper, "a helper process (" . ($helper // "none") . ")";

# --- 1. one address -------------------------------------------------------

{
    my $start = time;
    my $served = $t->wait_for(sub {
        my ($ok) = spread($P, '/warm', 1);
        return $ok;
    }, timeout => 5, interval => 0.1);
    ok $served, sprintf '1: requests succeed once backend.test is resolved'
        . ' (%.2f s)', time - $start
        or diag $t->log_tail(20);
    ok scalar(grep { $_->[1] eq 'backend.test' && $_->[2] eq 'A' } queries()),
        '1: the responder was asked for backend.test A';
    my ($ok, $by, $bad) = spread($P, '/one', 20);
    is $ok, 20, '1: 20 requests, all 200' or diag "@$bad";
    is $by->{b2} // 0, 20, '1: ... all reach b2 (127.0.0.2)'
        or diag show($by);
    my @l = resolved_lines('u', 'backend.test');
    like $l[-1] // '', qr/\[notice\].*resolved to 127\.0\.0\.2:$BP\s*$/,
        '1: notice: "backend.test" resolved to 127.0.0.2:P'
        or diag $t->log_tail(20);
}

# --- 2. a second address --------------------------------------------------

{
    my $from = $t->log_offset;
    my $change = time;
    zone_with('127.0.0.2', '127.0.0.3');
    my %seen;
    my $reached = $t->wait_for(sub {
        my (undef, $by) = spread($P, '/two-wait', 2);
        $seen{$_} += $by->{$_} for keys %$by;
        return $seen{b3};
    }, timeout => 6, interval => 0.1);
    my $took = time - $change;
    ok $reached, sprintf '2: after the zone has a second address, requests'
        . ' reach b3 (%.2f s, <= 6 s)', $took
        or diag show(\%seen) . "\n" . $t->log_tail(20);
    my ($ok, $by, $bad) = spread($P, '/two', 40);
    is $ok, 40, '2: 40 requests, all 200' or diag "@$bad";
    ok +($by->{b2} // 0) >= 5 && ($by->{b3} // 0) >= 5,
        '2: ... both backends get some (' . show($by) . ')';
    my @l = resolved_lines('u', 'backend.test', $from);
    ok scalar(@l), '2: a "resolved to" line is logged'
        or diag $t->log_tail(20);
    like $l[-1] // '', qr/\[notice\]/, '2: ... at notice';
    my ($a2, $a3) = ("127\\.0\\.0\\.2:$BP", "127\\.0\\.0\\.3:$BP");
    like $l[-1] // '', qr/resolved to (?:$a2, $a3|$a3, $a2)\s*$/,
        '2: ... naming backend.test and both addresses' or diag $l[-1];
    is $t->pid, $master, '2: no reload: the same master';
    is_deeply [$t->worker_pids], \@workers, '2: ... the same workers';
    is $t->helper_pid, $helper, '2: ... the same helper';
    is_deeply [reload_lines(0)], [], '2: ... and no reload in the error log';
}

# --- 3. the first address gone ---------------------------------------------

{
    my $change = time;
    zone_with('127.0.0.3');
    my $only3 = $t->wait_for(sub {
        my ($ok, $by) = spread($P, '/three-wait', 4);
        return $ok == 4 && ($by->{b3} // 0) == 4;
    }, timeout => 6, interval => 0.1);
    ok $only3, sprintf '3: after 127.0.0.2 left the zone, requests reach b3'
        . ' only (%.2f s, <= 6 s)', time - $change
        or diag $t->log_tail(20);
    my ($ok, $by, $bad) = spread($P, '/three', 20);
    is $ok, 20, '3: 20 requests, all 200' or diag "@$bad";
    is $by->{b3} // 0, 20, '3: ... all reach b3' or diag show($by);
    my @l = resolved_lines('u', 'backend.test');
    like $l[-1] // '', qr/resolved to 127\.0\.0\.3:$BP\s*$/,
        '3: the last "resolved to" line names 127.0.0.3 only';
    is $t->pid, $master, '3: still the same master';
    is_deeply [$t->worker_pids], \@workers, '3: ... and the same workers';
}

# --- 4. the pace of the queries --------------------------------------------

{
    my $w0 = time;
    sleep 4;
    my $w1 = time;
    my @q = grep { $_->[1] eq 'backend.test' && $_->[2] eq 'A'
        && $_->[0] >= $w0 && $_->[0] < $w1 } queries();
    my $n = @q;
    ok $n >= 2 && $n <= 10, sprintf '4: %d A queries for backend.test in'
        . ' %.1f s (TTL 1 s: 2 to 10, one asker, not one per worker)', $n,
        $w1 - $w0;
    my @rc = grep { $_->[3] ne 'NOERROR' } queries();    # parts 1 to 4
    is scalar(@rc), 0, '4: every query was a well-formed one (NOERROR)'
        or diag join "\n", map { "@$_" } @rc;
    note sprintf '4: AAAA queries for backend.test in the window: %d',
        scalar grep { $_->[1] eq 'backend.test' && $_->[2] eq 'AAAA'
            && $_->[0] >= $w0 && $_->[0] < $w1 } queries();
}

# --- 5. a DNS failure keeps the addresses ---------------------------------

{
    my $from = $t->log_offset;
    my $broken = time;
    $t->write_file('dns.zone.new', "backend.test A 127.0.0.3\n");  # no TTL
    rename $t->path('dns.zone.new'), $ZONE or die "rename: $!";
    my $warned = $t->wait_log(qr/\[warn\].*"backend\.test"/, from => $from,
        timeout => 4);
    ok $warned, sprintf '5: zone broken (SERVFAIL): a warn line names'
        . ' backend.test (%.2f s)', time - $broken
        or diag $t->log_tail(10);
    my ($ok, $by, $bad) = (0, {}, []);
    my $until = $broken + 3;
    while (time < $until) {
        my ($o, $b, $e) = spread($P, '/servfail', 2);
        $ok += $o;
        $by->{$_} += $b->{$_} for keys %$b;
        push @$bad, @$e;
        sleep 0.1;
    }
    ok @$bad == 0 && $ok >= 10 && ($by->{b3} // 0) == $ok,
        "5: ... requests keep reaching b3 for 3 s ($ok of "
        . ($ok + @$bad) . ', ' . show($by) . ')'
        or diag "@$bad";
    ok scalar(grep { $_->[3] eq 'SERVFAIL' && $_->[1] eq 'backend.test'
        && $_->[0] >= $broken } queries()) >= 2,
        '5: ... while the responder answered SERVFAIL again and again';
    is scalar(resolved_lines('u', 'backend.test', $from)), 0,
        '5: ... and no "resolved to" line for it';
    zone_with('127.0.0.3');
    ($ok, $by) = spread($P, '/fixed', 10);
    is $by->{b3} // 0, 10, '5: zone fixed: 10 of 10 reach b3';
}

# --- 6. NXDOMAIN empties the server --------------------------------------

{
    my $from = $t->log_offset;
    my $gone = time;
    zone_with();
    my $line;
    $t->wait_for(sub {
        ($line) = grep { !/127\.0\.0\./ }
            resolved_lines('u', 'backend.test', $from);
        return $line;
    }, timeout => 4);
    ok $line, sprintf '6: NXDOMAIN: a "resolved to" line without address'
        . ' (%.2f s)', time - $gone
        or diag $t->log_tail(10);
    ok scalar(grep { $_->[3] eq 'NXDOMAIN' && $_->[1] eq 'backend.test'
        && $_->[0] >= $gone } queries()), '6: ... the responder said NXDOMAIN';
    my ($st) = $t->http_request(port => $P, path => '/nx', timeout => 3);
    ok defined $st && $st >= 500 && $st <= 504,
        '6: ... a request then fails (' . ($st // 'no answer') . ')'
        . ' instead of going to a stale address';
    my $back = time;
    zone_with('127.0.0.3');
    my $again = $t->wait_for(sub {
        my ($ok, $by) = spread($P, '/nx-back', 1);
        return $ok && ($by->{b3} // 0);
    }, timeout => 4, interval => 0.1);
    ok $again, sprintf '6: the name back: requests reach b3 again (%.2f s)',
        time - $back;
}

# --- 7. AAAA ------------------------------------------------------------

SKIP: {
    skip 'no IPv6 loopback', 3 unless $V6;
    my ($st, $h);
    my $ok = $t->wait_for(sub {
        ($st, $h) = $t->http_request(port => $P, path => '/v6/x',
            timeout => 3);
        return ($st // 0) == 200;
    }, timeout => 4, interval => 0.1);
    ok $ok, '7: a request to upstream v6 (v6.test AAAA ::1) is answered 200'
        or diag "status " . ($st // 'none') . "\n" . $t->log_tail(10);
    is $h && $h->{'x-backend'}, 'b6', '7: ... by b6 on [::1]:P';
    my @l = resolved_lines('v6', 'v6.test');
    like $l[-1] // '', qr/resolved to \[::1\]:$BP\s*$/,
        '7: notice: "v6.test" resolved to [::1]:P';
}

# --- 8. stream ------------------------------------------------------------

{
    my ($st, $h);
    my $ok = $t->wait_for(sub {
        ($st, $h) = $t->http_request(port => $SP, path => '/stream',
            timeout => 3);
        return ($st // 0) == 200;
    }, timeout => 5, interval => 0.1);
    ok $ok, '8: an HTTP request through the stream listener (upstream s,'
        . ' server stream.test resolve) is answered 200'
        or diag $t->log_tail(20);
    is $h && $h->{'x-backend'}, 'b3', '8: ... by b3 (stream.test is'
        . ' 127.0.0.3)';
    my @l = resolved_lines('s', 'stream.test');
    like $l[-1] // '', qr/resolved to 127\.0\.0\.3:$BP\s*$/,
        '8: notice: "stream.test" resolved to 127.0.0.3:P';
}

# --- 8b. SRV ----------------------------------------------------------------

{
    # _http._tcp.svc.test: priority 10 -> b3.svc.test (127.0.0.3), priority
    # 20 -> b2.svc.test: only the best priority is used
    my ($st, $h, %by);
    my $ok = $t->wait_for(sub {
        ($st, $h) = $t->http_request(port => $P, path => '/srv/x',
            timeout => 3);
        return ($st // 0) == 200;
    }, timeout => 5, interval => 0.1);
    ok $ok, '8b: server svc.test service=http resolve: answered 200'
        or diag $t->log_tail(20);
    for (1 .. 10) {
        ($st, $h) = $t->http_request(port => $P, path => '/srv/x',
            timeout => 3);
        $by{$h ? $h->{'x-backend'} // '?' : 'none'}++;
    }
    is show(\%by), 'b3=10', '8b: every request goes to the SRV target of'
        . ' the best priority (b3.svc.test, 127.0.0.3), with the SRV port';
    my @l = resolved_lines('srv', '_http._tcp.svc.test');
    like $l[-1] // '', qr/resolved to 127\.0\.0\.3:$BP\s*$/,
        '8b: notice: "_http._tcp.svc.test" resolved to 127.0.0.3:P';
}

# --- 9. query IDs differ from one run to the next ------------------------

{
    my @ids1 = map { $_->[4] } (queries())[0 .. 5];
    $t->stop;
    my $mark = time;
    $t->run(wait_ports => [$P, $SP],
        wait => sub { $t->worker_pids >= 2 && $t->helper_pid }, timeout => 10);
    $t->wait_for(sub { (grep { $_->[0] >= $mark } queries()) >= 6 },
        timeout => 4);
    my @ids2 = map { $_->[4] } (grep { $_->[0] >= $mark } queries())[0 .. 5];
    my %first = map { $_ => 1 } grep { defined } @ids1;
    my @same = grep { defined && $first{$_} } @ids2;
    my ($l1, $l2) = map { join ' ', map { $_ // '-' } @$_ } \@ids1, \@ids2;
    ok !grep({ !defined } @ids1, @ids2) && @same < 3,
        "9: a second run asks with other IDs (first run: $l1; second: $l2)";
}

$t->stop;
$t->stop_all;

# --- 10. configuration errors ----------------------------------------------

{
    my $c = Doorman::Test->new(quiet => 1);
    my %bad = (
        'http resolve without a resolver' => [<<'EOF', qr/no resolver/],
http {
    upstream u { server backend.test:8080 resolve; }
    server { listen 127.0.0.1:%%PORT_1%%; location / { proxy_pass http://u; } }
}
EOF
        'stream resolve without a resolver' => [<<'EOF', qr/no resolver/],
stream {
    upstream s { server backend.test:8080 resolve; }
    server { listen 127.0.0.1:%%PORT_1%%; proxy_pass s; }
}
EOF
        'service= without resolve' => [<<'EOF', qr/service=.*needs.*resolve/],
http {
    resolver 127.0.0.1:53;
    upstream u { server backend.test service=http; }
    server { listen 127.0.0.1:%%PORT_1%%; location / { proxy_pass http://u; } }
}
EOF
    );
    for my $what (sort keys %bad) {
        my ($text, $re) = @{$bad{$what}};
        $c->write_conf("events { worker_connections 64; }\n$text");
        my ($code, $err) = $c->test_conf;
        isnt $code, 0, "10: $what: doorman -t fails";
        like $err, $re, "10: ... saying so" or diag $err;
        like $err, qr/\[emerg\]/, '10: ... at emerg';
    }
}

note sprintf 'done in %.1f s', time - $T0;
done_testing;
