#!/usr/bin/perl
#
# TLS session resumption (issue 12, DESIGN.md sections 1 and 5) with two
# workers (SO_REUSEPORT spreads the connections over both), through the
# real binary and `openssl s_client -sess_out` / `-sess_in`, against the
# test PKI of t/lib/Doorman/TLS.pm. Everything on 127.0.0.1.
#
#   1. Tickets (the default): one s_client -sess_out, then 20 s_client
#      -sess_in all say "Reused", for TLS 1.2 and for TLS 1.3 (the 1.3
#      session file is written from the NewSessionTicket, which s_client
#      reads because it sends an HTTP/1.0 request and reads until the
#      close); $ssl_session_reused is "r" on a resumed connection and "."
#      on a new one.
#   2. The same session files are still all "Reused" (20 x each) after a
#      reload (HUP) and after a binary upgrade (USR2 with the same binary,
#      WINCH and QUIT to the old master): the ticket keys live in a shared
#      zone kept across both.
#   3. `ssl_session_tickets off; ssl_session_cache shared:SSL:1m;`: the
#      server sends no ticket (s_client prints no "TLS session ticket:"),
#      and 20 x -sess_in (TLS 1.2, session IDs) are all "Reused" with two
#      workers: the cache is shared by the workers.
#   4. `ssl_session_ticket_key FILE` (80 random bytes): two doorman
#      instances (two prefixes, two ports) with the same key file: a TLS
#      1.2 session from instance 1 is "Reused" on instance 2 (20 x); a
#      server of instance 2 with another key file does not resume it
#      ("New"), so the resumption comes from the shared key.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;
use Doorman::TLS qw(:all);

my $T_START = time;
alarm 170;    # the harness's ALRM handler kills what the test started

my $t = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $t->bin . ' (make first)'
    unless -x $t->bin;
my @missing = have_tools($t);
plan skip_all => "not installed: @missing" if @missing;

my $pki = make_pki($t, ocsp => 0);
my %f = %$pki;
my $P = $t->port_n(1);     # tickets (the defaults)
my $PC = $t->port_n(2);    # tickets off, shared cache

my $server_a = <<"EOF";
        server_name a.test;
        ssl_certificate $f{'a.test.ec.crt'};
        ssl_certificate_key $f{'a.test.ec.key'};
        location / { return 200 "reused=\$ssl_session_reused proto=\$ssl_protocol\\n"; }
EOF

$t->write_conf(<<"EOF");
worker_processes 2;
error_log logs/error.log info;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
$server_a
    }
    server {
        listen 127.0.0.1:%%PORT_2%% ssl;
        ssl_session_tickets off;
        ssl_session_cache shared:SSL:1m;
        ssl_session_timeout 10m;
$server_a
    }
}
EOF
my ($tc, $terr) = $t->test_conf;
is $tc, 0, 'doorman -t accepts the configuration' or diag $terr;
$t->run(wait_ports => [$P, $PC], wait => sub { $t->worker_pids == 2 });
my @w = $t->worker_pids;
is scalar @w, 2, "two workers (@w)";

my $REQ = "GET / HTTP/1.0\r\nHost: a.test\r\n\r\n";

# A new session into FILE: returns the s_client result.
sub new_session {
    my ($tt, $port, $proto, $file) = @_;
    unlink $file;
    return s_client($tt, port => $port, servername => 'a.test',
        args => ["-$proto", '-sess_out', $file], stdin => $REQ);
}

# n resumptions from FILE: returns (number Reused, number with
# $ssl_session_reused "r", the first failure's output).
sub resume {
    my ($tt, $port, $proto, $file, $n) = @_;
    my ($reused, $r_var, $first_bad) = (0, 0, undef);
    for (1 .. $n) {
        my $s = s_client($tt, port => $port, servername => 'a.test',
            args => ["-$proto", '-sess_in', $file], stdin => $REQ);
        if (($s->{session} // '') eq 'Reused') { $reused++ }
        else { $first_bad //= $s->{all} }
        $r_var++ if $s->{body} =~ /^reused=r /m;
    }
    return ($reused, $r_var, $first_bad);
}

my %sess = (tls1_2 => $t->path('sess12.pem'), tls1_3 => $t->path('sess13.pem'));
my %proto = (tls1_2 => 'TLSv1.2', tls1_3 => 'TLSv1.3');

# --- 1. tickets -------------------------------------------------------------

for my $p (qw(tls1_2 tls1_3)) {
    my $s = new_session($t, $P, $p, $sess{$p});
    is $s->{session}, 'New', "$proto{$p}: the first connection is a new session"
        or diag $s->{all};
    like $s->{body}, qr/^reused=\. proto=\Q$proto{$p}\E$/m,
        '... $ssl_session_reused "."';
    ok -s $sess{$p}, '... s_client saved it (-sess_out)';
    like $s->{out}, qr/TLS session ticket lifetime hint|TLS session ticket:/,
        '... with a session ticket';
    my ($n, $rv, $bad) = resume($t, $P, $p, $sess{$p}, 20);
    is $n, 20, "$proto{$p}: 20 x -sess_in: all Reused ($n)" or diag $bad;
    is $rv, 20, '... $ssl_session_reused "r" on every one';
}

# --- 2. across a reload and a binary upgrade ---------------------------------

ok $t->reload, 'reload (HUP)';
ok $t->wait_for(sub { $t->worker_pids == 2 }, timeout => 10),
    '... two workers again';
for my $p (qw(tls1_2 tls1_3)) {
    my ($n, $rv, $bad) = resume($t, $P, $p, $sess{$p}, 20);
    is $n, 20, "after the reload, $proto{$p}: 20 x -sess_in: all Reused ($n)"
        or diag $bad;
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

# Live children of a master titled "worker process".
sub workers_of {
    my ($master) = @_;
    my @k;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $st = <$fh> // '';
        next unless $st =~ /\)\s+([^ZX])\s+(\d+)/ && $2 == $master;
        my $cmd = $t->cmdline($pid);
        push @k, $pid if $cmd =~ /worker process/ && $cmd !~ /shutting down|retiring/;
    }
    my @sorted = sort { $a <=> $b } @k;    # (sort in scalar context: undefined)
    return @sorted;
}

{
    my $old = $t->pid;
    my $pidf = $t->pid_file;
    my $oldbin = "$pidf.oldbin";
    kill 'USR2', $old;
    my $new = $t->wait_for(sub {
        my $p = read_pid($pidf) // 0;
        return $p && $p != $old && alive($p) && -e $oldbin
            && workers_of($p) == 2 ? $p : 0;
    }, timeout => 10);
    ok $new, 'USR2 (the same binary): a new master'
        . ($new ? " ($new)" : '') . ' with two workers';
    $t->follow_pid_file if $new;
    kill 'WINCH', $old;
    ok $t->wait_for(sub { !workers_of($old) }, timeout => 10),
        'WINCH: the old workers exit';
    kill 'QUIT', $old;
    ok $t->wait_for(sub { !alive($old) }, timeout => 10),
        'QUIT: the old master exits';
    ok $new && $t->pid == $new, 'the harness follows the new master';
    my @nw = $new ? workers_of($new) : ();
    is scalar @nw, 2, "the new master's two workers (@nw)";
    for my $p (qw(tls1_2 tls1_3)) {
        my ($n, $rv, $bad) = resume($t, $P, $p, $sess{$p}, 20);
        is $n, 20, "after the binary upgrade, $proto{$p}: 20 x -sess_in: all Reused ($n)"
            or diag $bad;
    }
}

# --- 3. tickets off, the shared session cache ---------------------------------

{
    my $f12 = $t->path('cache12.pem');
    my $s = new_session($t, $PC, 'tls1_2', $f12);
    is $s->{session}, 'New', 'ssl_session_tickets off, shared cache: a new TLS 1.2 session'
        or diag $s->{all};
    unlike $s->{out}, qr/TLS session ticket:/, '... no ticket sent';
    like $s->{out}, qr/Session-ID: [0-9A-F]{64}/, '... a session ID instead';
    my @wk = $t->worker_pids;
    is scalar @wk, 2, "two workers serve the port (@wk)";
    my ($n, $rv, $bad) = resume($t, $PC, 'tls1_2', $f12, 20);
    is $n, 20, "20 x -sess_in over two workers: all Reused ($n): the cache is shared"
        or diag $bad;
    is $rv, 20, '... $ssl_session_reused "r" on every one';
}

my ($st, $killed) = $t->stop;
ok !$killed, 'doorman stops without KILL';

# --- 4. ssl_session_ticket_key FILE on two instances ---------------------------

{
    my $key = $t->path('ticket.key');
    my $other = $t->path('other.key');
    for my $k ($key, $other) {
        open my $r, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
        read($r, my $bytes, 80) == 80 or die 'short read';
        $t->write_file($k, $bytes);
    }
    my @inst;
    for my $i (1, 2) {
        my $d = Doorman::Test->new;
        my $second = $i == 2 ? <<"EOF" : '';
    server {
        listen 127.0.0.1:%%PORT_2%% ssl;
        ssl_session_ticket_key $other;
$server_a
    }
EOF
        $d->write_conf(<<"EOF");
worker_processes 2;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        ssl_session_ticket_key $key;
$server_a
    }
$second}
EOF
        my @ports = ($d->port_n(1), $i == 2 ? $d->port_n(2) : ());
        my $ok = eval { $d->run(wait_ports => \@ports,
            wait => sub { $d->worker_pids == 2 }); 1 };
        ok $ok, "instance $i with ssl_session_ticket_key (port $ports[0])"
            or diag $@;
        push @inst, $d;
    }
    my $f12 = $t->path('shared12.pem');
    my $s = new_session($t, $inst[0]->port_n(1), 'tls1_2', $f12);
    is $s->{session}, 'New', 'a TLS 1.2 session from instance 1' or diag $s->{all};
    my ($n, $rv, $bad) = resume($t, $inst[0]->port_n(1), 'tls1_2', $f12, 5);
    is $n, 5, "... resumed on instance 1 ($n of 5)" or diag $bad;
    ($n, $rv, $bad) = resume($t, $inst[1]->port_n(1), 'tls1_2', $f12, 20);
    is $n, 20, "... and on instance 2, same key file: all Reused ($n of 20)"
        or diag $bad;
    is $rv, 20, '... $ssl_session_reused "r" on instance 2';
    ($n) = resume($t, $inst[1]->port_n(2), 'tls1_2', $f12, 3);
    is $n, 0, '... but not by a server with another key file (0 of 3 Reused)';
    for my $d (@inst) {
        my ($st2, $k2) = $d->stop;
        ok !$k2, 'instance stops without KILL';
    }
}

my @crit = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $t->error_log;
is_deeply \@crit, [], 'nothing at alert or above in the error log';
diag sprintf 't/tls_resume.t: %.1f s', time - $T_START;
done_testing;
