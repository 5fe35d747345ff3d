#!/usr/bin/perl
#
# http_proxy under bulk traffic: 1 GiB uploaded and 1 GiB downloaded
# through doorman (worker_processes 1, proxy_pass to the real backend
# t/lib/backend.py, client_max_body_size 0), with:
#
#   1. the content byte-exact both ways (sha256: the backend hashes the
#      upload it received, the client hashes the download it received);
#   2. bounded memory: the worker's peak RSS (VmHWM in /proc/PID/status)
#      grows less than 64 MiB from before the transfers to after them,
#      i.e. the proxy streams and never holds a body;
#   3. the same worker serves everything (no crash, no respawn), and the
#      keep-alive client connection is still usable afterwards;
#   4. bounded time: the whole file runs under an alarm (the backend in
#      Python moves about 300 MB/s each way on its own; every transfer has
#      its own deadline too).
#
# Skipped under sanitizers (DOORMAN_SANITIZE=yes): their shadow memory
# makes the RSS figures meaningless and 2 GiB too slow.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Doorman::Test;
use Doorman::HTTP;

plan skip_all => 'bulk memory checks are skipped under sanitizers '
    . '(DOORMAN_SANITIZE=yes)'
    if ($ENV{DOORMAN_SANITIZE} // '') eq 'yes';

my $probe = Doorman::Test->new(quiet => 1);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
$probe->skip_unless_has('http_proxy');
undef $probe;

alarm 120;    # the harness's ALRM handler kills what the test started

my $GiB = 1 << 30;
my $MiB = 1 << 20;
my $started = time;

# VmHWM (peak RSS) and VmRSS of a process, in bytes.
sub mem {
    my ($pid) = @_;
    return unless defined $pid;
    open my $fh, '<', "/proc/$pid/status" or return;
    my %m;
    while (<$fh>) {
        $m{$1} = $2 * 1024 if /^(VmHWM|VmRSS):\s+(\d+)\s+kB/;
    }
    return \%m;
}

my $t = Doorman::Test->new;
my $bport = start_backend($t, name => 'bulk');
$t->write_conf(<<"EOF");
worker_processes 1;
events { worker_connections 64; }
http {
    client_max_body_size 0;
    upstream bulk { server 127.0.0.1:$bport; keepalive 4; }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { proxy_pass http://bulk; }
    }
}
EOF
my $port = $t->port_n(1);
$t->run(wait_ports => [$port], timeout => 10);

# the master listens before it forks: wait for the worker itself
$t->wait_for(sub { scalar($t->worker_pids) == 1 }, timeout => 10);
my @w = $t->worker_pids;
unless (is scalar @w, 1, 'one worker') {
    diag 'no single worker process: the memory checks cannot be made';
    done_testing;
    exit;
}
my $wpid = $w[0];

# warm up: one small request each way, so that the baseline includes
# the first upstream connection and the first buffers
my $c = http_connect($port, timeout => 10);
my $r = $c->request('GET', '/size/100000', digest => 1);
is $r->{status}, 200, 'warm-up download: 200';
is $r->{body_sha256}, pattern_sha256(100000), 'warm-up download: content';
my ($u, $sha) = upload($port, '/upload', 100000);
is $u->{body}, "100000 $sha\n", 'warm-up upload: content';

my $before = mem($wpid);
ok $before && $before->{VmHWM}, 'worker VmHWM before: '
    . sprintf('%.1f MiB', ($before->{VmHWM} // 0) / $MiB);

# --- 1 GiB down --------------------------------------------------------------

my $want = pattern_sha256($GiB);
my $t0 = time;
$r = $c->request('GET', "/size/$GiB", digest => 1, timeout => 50);
my $t_down = time - $t0;
is $r->{status}, 200, '1 GiB download: 200';
ok $r->{complete}, '1 GiB download: complete'
    or diag "error: " . ($r->{error} // '?');
is $r->{body_length}, $GiB, '1 GiB download: length';
ok defined $r->{body_sha256} && $r->{body_sha256} eq $want,
    '1 GiB download: sha256 byte-exact';
note sprintf '1 GiB download through doorman: %.2f s (%.0f MB/s)',
    $t_down, $GiB / 1e6 / ($t_down || 1);

# the client connection is still usable after the transfer
$r = $c->request('GET', '/size/10');
is $r->{status}, 200, 'same client connection after the download: 200';
is $r->{body}, pattern_bytes(0, 10), 'same client connection: body';
$c->close;

# --- 1 GiB up ----------------------------------------------------------------

$t0 = time;
($u, $sha) = upload($port, '/upload', $GiB, timeout => 50);
my $t_up = time - $t0;
is $u->{status}, 200, '1 GiB upload: 200 (client_max_body_size 0)';
is $u->{sent}, $GiB, '1 GiB upload: all sent'
    or diag 'send error: ' . ($u->{send_error} // '?');
is $u->{body}, "$GiB $sha\n",
    '1 GiB upload: the backend received it byte-exact (sha256)';
note sprintf '1 GiB upload through doorman: %.2f s (%.0f MB/s)',
    $t_up, $GiB / 1e6 / ($t_up || 1);

# --- memory ------------------------------------------------------------------

my @w2 = $t->worker_pids;
is_deeply \@w2, [$wpid], 'the same worker served everything (no respawn)';
my $after = mem($wpid);
ok $after, 'worker still alive';
my $grow = ($after->{VmHWM} // 0) - ($before->{VmHWM} // 0);
cmp_ok $grow, '<', 64 * $MiB, sprintf(
    'worker peak RSS grew %.1f MiB (%.1f -> %.1f MiB; < 64 MiB)',
    $grow / $MiB, ($before->{VmHWM} // 0) / $MiB,
    ($after->{VmHWM} // 0) / $MiB);

unlike $t->error_log, qr/\[(?:alert|crit|emerg)\]/,
    'no alert, crit or emerg in the error log';

note sprintf 'total %.1f s', time - $started;
done_testing;
