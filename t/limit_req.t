#!/usr/bin/perl
#
# http limit_req through the real binary, as nginx users write it.
#
# The locations have no content handler: a request that passes the limit
# is answered 404 by the core, one that is refused gets limit_req_status
# (a `return` would answer in the REWRITE phase, before PREACCESS, as in
# nginx).
#
#   1. doorman -t refuses an unknown zone (declared nowhere), a bad rate,
#      a zone too small, limit_req_status out of 400-599, a zone used twice
#      at one level; a zone declared after its use is fine.
#   2. worker_processes 2, rate=100r/s on a constant key: wrk (16
#      connections, both workers) for 5 s gets 500 +- 10% passed, the rest
#      503: the rate holds over all workers.
#   3. burst=5 nodelay at 1r/s: 6 pass at once, then 503; without nodelay
#      the 2nd request waits about a second; delay=2: 3 at once, the 4th
#      waits; limit_req_status 429; an empty key is not limited; two
#      limit_req lines both apply; a location's own limit_req replaces the
#      server's; dry run passes everything and says so in
#      $limit_req_status.
#   4. eviction: a 32k zone (its capacity N read from the notice line),
#      rate=1r/m: key 1 is refused on its 2nd request; after N more keys it
#      passes again (evicted) while the most recent key is still refused.
#   5. a reload keeps the zone's state.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);

use Doorman::Test;

my $probe = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
undef $probe;

# --- 1: configuration errors ------------------------------------------------

{
    my $t = Doorman::Test->new;
    my $head = "events { worker_connections 64; }\n";
    my @bad = (
        ['limit_req zone=nope;', 'unknown limit_req_zone "nope"'],
        ['limit_req_zone $arg_k zone=z:1m rate=fast;', 'invalid rate'],
        ['limit_req_zone $arg_k zone=z:1m rate=0r/s;', 'invalid rate'],
        ['limit_req_zone $arg_k zone=z:4k rate=1r/s;', 'invalid zone'],
        ['limit_req_zone $arg_k rate=1r/s;', 'must have the "zone"'],
        ['limit_req_status 600;', 'limit_req_status'],
        ["limit_req_zone \$arg_k zone=z:1m rate=1r/s;\n"
            . "limit_req zone=z; limit_req zone=z burst=2;", 'is duplicate'],
        ['limit_req_zone $arg_k zone=z:1m rate=1r/s; limit_req zone=z bur=1;',
            'invalid parameter "bur=1"'],
    );
    for my $b (@bad) {
        my ($directive, $msg) = @$b;
        $t->write_conf($head . "http {\n$directive\n"
            . "server { listen 127.0.0.1:%%PORT_1%%; } }\n");
        my ($code, $err) = $t->test_conf;
        isnt $code, 0, "-t refuses: $directive";
        like $err, qr/\Q$msg\E/, "... saying $msg" or diag $err;
    }
    $t->write_conf($head . <<'EOF');
http {
    server {
        listen 127.0.0.1:%%PORT_1%%;
        limit_req zone=late burst=3;
        limit_req_status 429;
        limit_req_log_level warn;
        limit_req_dry_run off;
    }
    limit_req_zone "$arg_k$server_port" zone=late:1m rate=30r/m;
}
EOF
    my ($code, $err) = $t->test_conf;
    is $code, 0, 'a zone declared after its use is fine' or diag $err;
}

# --- 2: the rate over two workers --------------------------------------------

SKIP: {
    my $wrk = `command -v wrk 2>/dev/null`;
    chomp $wrk;
    skip 'wrk is not installed', 4 unless $wrk && -x $wrk;

    my $t = Doorman::Test->new;
    $t->write_conf(<<'EOF');
worker_processes 2;
events { worker_connections 256; }
http {
    limit_req_zone $server_port zone=r:1m rate=100r/s;
    log_format st '$pid $status';
    server {
        listen 127.0.0.1:%%PORT_1%%;
        access_log logs/rate.log st;
        location / { limit_req zone=r; }
    }
}
EOF
    $t->run(wait_ports => [$t->port_n(1)]);
    my ($rc, $out, $err) = $t->run_cmd($wrk, '-t2', '-c16', '-d5s',
        'http://127.0.0.1:' . $t->port_n(1) . '/', {timeout => 30});
    $t->stop;
    is $rc, 0, 'wrk ran' or diag $err;
    my (%status, %pids);
    for (split /\n/, $t->read_file($t->path('logs/rate.log'))) {
        my ($pid, $st) = split / /;
        $status{$st}++;
        $pids{$pid}++;
    }
    my $passed = $status{404} // 0;
    my $refused = $status{503} // 0;
    diag "wrk: " . join(' ', grep /requests in|Non-2xx/, split /\n/, $out);
    diag "passed $passed, refused $refused, by "
        . scalar(keys %pids) . ' workers';
    ok $passed >= 450 && $passed <= 551,
        "5 s at 100r/s: $passed passed, within 10% of 500";
    ok $refused > $passed, "the rest ($refused) refused with 503";
    is scalar(keys %pids), 2, 'both workers served (the zone is shared)';
}

# --- 3, 4, 5: bursts, delays, codes, eviction, reload -------------------------

{
    my $t = Doorman::Test->new;
    $t->write_conf(<<'EOF');
worker_processes 2;
events { worker_connections 256; }
http {
    limit_req_zone $arg_k zone=one:1m rate=1r/s;
    limit_req_zone $arg_k zone=two:1m rate=1r/s;
    limit_req_zone $arg_k zone=evict:32k rate=1r/m;
    log_format st '$arg_k $status $limit_req_status';
    access_log logs/access.log st;
    server {
        listen 127.0.0.1:%%PORT_1%%;
        limit_req zone=one;
        location /nodelay { limit_req zone=one burst=5 nodelay; }
        location /burst { limit_req zone=one burst=5; }
        location /delay { limit_req zone=one burst=5 delay=2; }
        location /status { limit_req_status 429; }
        location /two {
            limit_req zone=one burst=5 nodelay;
            limit_req zone=two burst=1 nodelay;
        }
        location /dry {
            limit_req zone=one;
            limit_req_dry_run on;
        }
        location /evict { limit_req zone=evict; }
    }
}
EOF
    $t->run(wait_ports => [$t->port_n(1)]);
    my $port = $t->port_n(1);
    my $get = sub {
        my ($path) = @_;
        my $t0 = time;
        my $st = $t->http_request(port => $port, path => $path,
            timeout => 10);
        return wantarray ? ($st // 'none', time - $t0) : $st // 'none';
    };

    my @st = map { scalar $get->('/nodelay?k=nd') } 1 .. 8;
    is "@st", '404 404 404 404 404 404 503 503',
        'burst=5 nodelay: 6 at once, then 503';

    my ($s1, $d1) = $get->('/burst?k=b');
    my ($s2, $d2) = $get->('/burst?k=b');
    is "$s1 $s2", '404 404', 'burst=5: both pass';
    ok $d1 < 0.3, sprintf('the 1st at once (%.3f s)', $d1);
    ok $d2 > 0.7 && $d2 < 1.6, sprintf('the 2nd waits ~1 s (%.3f s)', $d2);

    my @d;
    for (1 .. 4) {
        my ($s, $d) = $get->('/delay?k=d');
        push @d, sprintf('%s/%.2f', $s, $d);
    }
    my @secs = map { (split m{/})[1] } @d;
    ok((!grep { $_ >= 0.3 } @secs[0 .. 2]), "delay=2: 3 at once (@d)");
    ok $secs[3] > 0.6 && $secs[3] < 1.6, 'the 4th waits ~1 s';

    is join(' ', map { scalar $get->('/status?k=s') } 1 .. 2), '404 429',
        'limit_req_status 429 (the server level limit, inherited)';
    is join(' ', map { scalar $get->('/status') } 1 .. 5),
        '404 404 404 404 404', 'an empty key is not limited';
    is join(' ', map { scalar $get->('/two?k=t') } 1 .. 4),
        '404 404 503 503', 'two limit_req lines: the stricter one wins';
    is join(' ', map { scalar $get->('/dry?k=y') } 1 .. 3),
        '404 404 404', 'dry run: nothing refused';

    # 4: eviction in a zone of N keys
    my $n = $t->wait_for(sub {
        $t->error_log =~ /limit_req zone "evict": (\d+) keys/ ? $1 : 0 });
    ok $n > 100, "the 32k zone holds $n keys (notice line)";
    is $get->('/evict?k=1'), 404, 'key 1 passes';
    is $get->('/evict?k=1'), 503, 'key 1 is refused on its 2nd request';
    my $bad = 0;
    for my $k (2 .. $n + 1) {
        $bad++ if $get->("/evict?k=$k") ne '404';
    }
    is $bad, 0, "$n more keys pass";
    is $get->('/evict?k=' . ($n + 1)), 503, 'the most recent key is refused';
    is $get->('/evict?k=1'), 404, 'key 1 was evicted: it passes again';

    # 5: a reload keeps the zone
    is $get->('/evict?k=r'), 404, 'key r passes';
    ok $t->reload, 'reloaded';
    is $get->('/evict?k=r'), 503, 'after the reload key r is still limited';
    $t->stop;

    my $log = $t->read_file($t->path('logs/access.log'));
    like $log, qr/^y 404 REJECTED_DRY_RUN$/m,
        '$limit_req_status: REJECTED_DRY_RUN';
    like $log, qr/^s 429 REJECTED$/m, '$limit_req_status: REJECTED';
    like $log, qr/^b 404 DELAYED$/m, '$limit_req_status: DELAYED';
    like $log, qr/^nd 404 PASSED$/m, '$limit_req_status: PASSED';
    my $err = $t->error_log;
    like $err, qr/\[error\].*limiting requests, excess: \d\.\d{3} by zone "one"/,
        'refusals logged at error';
    like $err, qr/\[warn\].*delaying request, excess: \d\.\d{3}, by zone "one"/,
        'delays logged one level lower';
    like $err, qr/limiting requests, dry run/, 'dry run logged';
}

done_testing;
