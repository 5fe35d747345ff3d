#!/usr/bin/perl
#
# The process model (issue 4, DESIGN.md section 1): master, pinned workers,
# per-slot listening sockets, respawn, the helper, refusals at start, stop.
#
#   worker_processes 2: two workers, each pinned to a different allowed CPU
#     (Cpus_allowed_list in /proc/PID/status), each holding exactly one of
#     the port's listening sockets (inodes of state 0A in /proc/net/tcp
#     against the socket:[INODE] links of /proc/PID/fd), a different one
#     each; the helper holds none, the master all of them.
#   kill -9 of a worker: a new worker of the same slot (same CPU, same
#     socket), "counters of process PID (row R) zeroed" in the log, and 50
#     requests in a row all served; kill -9 of the helper: a new helper.
#   A second doorman with the same pid file (on another port) refuses to
#     start ("already running") and the first one serves on, its pid file
#     untouched; a second doorman with its own pid file on the same port,
#     and a port held by a plain listener (no SO_REUSEPORT), make doorman
#     refuse to start with "Address already in use".
#   TERM: everything exits, no KILL needed, nothing left.
#   worker_processes 3 on fewer CPUs: three workers, worker k on the
#     (k mod n)-th allowed CPU, each on its own slot socket, and each one
#     serves its slot and nobody else does: while worker k is stopped
#     (SIGSTOP), some of 30 simultaneous clients (those hashed to slot k)
#     wait and all the others are answered; they are answered once it
#     continues.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
undef $probe;

my $TEXT = "doorman process test\n";

# --- /proc helpers ------------------------------------------------------

# Inodes of the listening TCP sockets (state 0A) of a loopback port.
sub listen_inodes {
    my ($port) = @_;
    my $hex = sprintf '%04X', $port;
    my @ino;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        <$fh>;
        while (<$fh>) {
            my @c = split ' ';
            next unless @c > 9 && $c[1] =~ /:$hex$/ && $c[3] eq '0A';
            push @ino, $c[9];
        }
    }
    my @sorted = sort { $a <=> $b } @ino;
    return @sorted;
}

# Inodes of the sockets a process has open.
sub fd_sockets {
    my ($pid) = @_;
    my %ino;
    opendir my $d, "/proc/$pid/fd" or return ();
    for my $fd (readdir $d) {
        my $l = readlink "/proc/$pid/fd/$fd" // next;
        $ino{$1} = 1 if $l =~ /^socket:\[(\d+)\]$/;
    }
    return keys %ino;
}

# Which of the given inodes a process holds.
sub holds {
    my ($pid, @want) = @_;
    my %have = map { $_ => 1 } fd_sockets($pid);
    my @held = sort { $a <=> $b } grep { $have{$_} } @want;
    return @held;
}

sub status_field {
    my ($pid, $name) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        return $1 if /^\Q$name\E:\s*(.*?)\s*$/;
    }
    return undef;
}

sub proc_state {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return '';
    my $s = <$fh> // '';
    return $s =~ /\)\s+(\S)/ ? $1 : '';
}

# Cpus_allowed_list expanded: "0-2,4" -> (0, 1, 2, 4).
sub cpus_allowed {
    my ($pid) = @_;
    my $l = status_field($pid, 'Cpus_allowed_list') // return ();
    my @cpus;
    for my $r (split /,/, $l) {
        my ($a, $b) = split /-/, $r;
        push @cpus, $a .. ($b // $a);
    }
    return @cpus;
}

# Worker pid => slot, from the "start worker process" lines of the log.
sub slots_from_log {
    my ($t) = @_;
    my %slot;
    my $log = $t->error_log;
    while ($log =~ /start worker process (\d+) \(generation \d+, slot (\d+)\)/g) {
        $slot{$1} = $2;
    }
    return %slot;
}

# One request; true when the whole text came back.
sub served {
    my ($t, $port) = @_;
    my ($got, $how) = $t->tcp_request($port, '', timeout => 5);
    return $got eq $TEXT;
}

# A non-blocking connection to a loopback port (undef on failure).
sub connect_nb {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Blocking => 0);
}

# Reads every socket until EOF or the timeout: index => {data, eof}.
sub collect {
    my ($socks, $timeout) = @_;
    my %r = map { $_ => {data => '', eof => 0} } 0 .. $#$socks;
    my $deadline = time + $timeout;
    for (;;) {
        my @open = grep { $socks->[$_] && !$r{$_}{eof} } 0 .. $#$socks;
        my $left = $deadline - time;
        last if !@open || $left <= 0;
        my $rin = '';
        vec($rin, fileno $socks->[$_], 1) = 1 for @open;
        next unless select(my $rout = $rin, undef, undef, $left) > 0;
        for my $i (@open) {
            next unless vec($rout, fileno $socks->[$i], 1);
            my $n = sysread $socks->[$i], my $buf, 4096;
            next if !defined $n && $!{EAGAIN};
            if ($n) { $r{$i}{data} .= $buf } else { $r{$i}{eof} = 1 }
        }
    }
    return %r;
}

# Started and set up: n workers, each pinned (when there is a choice) and
# holding one listener of the port, and a helper holding none. Children
# get their title before they pin themselves and close the other slots'
# sockets: the checks below must not race with that.
sub settled {
    my ($t, $port, $n) = @_;
    my @w = $t->worker_pids;
    my $h = $t->helper_pid;
    return 0 unless @w == $n && $h;
    my @ls = listen_inodes($port);
    my $choice = cpus_allowed($t->pid) > 1;
    for my $pid (@w) {
        return 0 if holds($pid, @ls) != 1;
        return 0 if $choice && cpus_allowed($pid) != 1;
    }
    return holds($h, @ls) == 0;
}

# --- worker_processes 2 -------------------------------------------------

my $t = Doorman::Test->new;
$t->write_conf(<<"EOF");
worker_processes 2;
error_log logs/error.log info;
events { worker_connections 256; }
stream { server { listen 127.0.0.1:%%PORT_1%%; return "doorman process test\\n"; } }
EOF
my $port = $t->port_n(1);
$t->run(wait_ports => [$port], wait => sub { settled($t, $port, 2) });
my $master = $t->pid;

my @w = $t->worker_pids;
is scalar @w, 2, 'worker_processes 2: two workers';
my $helper = $t->helper_pid;
ok $helper, 'a helper process';
like $t->cmdline($master), qr/^doorman: master process/, 'master title';
like $t->cmdline($_), qr/^doorman: worker process/, "worker $_ title" for @w;
like $t->cmdline($helper), qr/^doorman: helper process/, 'helper title';

my @allowed = cpus_allowed($master);
ok @allowed >= 1, "the master may run on CPUs @allowed";
my %slot = slots_from_log($t);
my %cpu;
for my $pid (@w) {
    my @c = cpus_allowed($pid);
    is scalar @c, 1, "worker $pid is pinned to one CPU (@c)";
    ok defined $slot{$pid}, "worker $pid has a slot in the log";
    my $want = $allowed[($slot{$pid} // 0) % @allowed];
    is $c[0], $want, "worker $pid (slot $slot{$pid}) is on allowed CPU $want";
    $cpu{$pid} = $c[0];
}
SKIP: {
    skip 'a single allowed CPU: both workers share it', 1 if @allowed < 2;
    isnt $cpu{$w[0]}, $cpu{$w[1]}, 'the two workers are on different CPUs';
}

if ($< == 0) {
    my $nobody = getpwnam('nobody');
    for my $pid (@w, $helper) {
        my ($uid) = (status_field($pid, 'Uid') // '') =~ /^(\d+)/;
        is $uid, $nobody, "child $pid runs as nobody (the master is root)";
    }
}

my @ls = listen_inodes($port);
is scalar @ls, 2, "two listening sockets on the port (one per slot): @ls";
my %sock;
for my $pid (@w) {
    my @h = holds($pid, @ls);
    is scalar @h, 1, "worker $pid holds exactly one of them (@h)";
    $sock{$pid} = $h[0];
}
isnt $sock{$w[0]} // -1, $sock{$w[1]} // -1, 'a different one each';
is_deeply [holds($helper, @ls)], [], 'the helper holds none';
is_deeply [holds($master, @ls)], \@ls, 'the master holds all of them';

ok served($t, $port), 'serves';

# kill -9 of a worker: respawned into the same slot, counters zeroed
{
    my $dead = $w[0];
    my $from = $t->log_offset;
    kill 'KILL', $dead;
    my $ok = $t->wait_for(sub {
        my @n = $t->worker_pids;
        @n == 2 && !grep { $_ == $dead } @n;
    }, timeout => 5);
    ok $ok, "kill -9 of worker $dead: a new worker replaces it";
    my ($new) = grep { $_ != $w[1] } $t->worker_pids;
    ok $t->wait_log(qr/counters of process $dead \(row \d+\) zeroed/,
        from => $from, timeout => 3), 'its counters are zeroed (log)';
    like $t->error_log_since($from), qr/worker process $dead exited on signal 9/,
        'its death is logged';
    if ($new) {
        # the new worker may still be starting: wait until it is settled
        $t->wait_for(sub { holds($new, @ls) == 1 && cpus_allowed($new) == 1 },
            timeout => 3);
        my %s2 = slots_from_log($t);
        is $s2{$new}, $slot{$dead}, "the new worker $new takes slot $slot{$dead}";
        is_deeply [holds($new, @ls)], [$sock{$dead}], '... and its socket';
        is_deeply [cpus_allowed($new)], [$cpu{$dead}], '... and its CPU';
    } else {
        fail 'no new worker' for 1 .. 3;
    }
    my $bad = 0;
    for (1 .. 50) { $bad++ unless served($t, $port) }
    is $bad, 0, 'service continues: 50 requests, all served';
    @w = $t->worker_pids;
}

# kill -9 of the helper: respawned
{
    kill 'KILL', $helper;
    my $new = $t->wait_for(sub {
        my $h = $t->helper_pid;
        $h && $h != $helper ? $h : 0;
    }, timeout => 5);
    ok $new, "kill -9 of the helper $helper: a new helper" . ($new ? " ($new)" : '');
    is_deeply [sort { $a <=> $b } $t->worker_pids], [sort { $a <=> $b } @w],
        'the workers are untouched';
    $helper = $new;
}

# a second doorman on the same pid file refuses to start
{
    $t->write_conf(<<'EOF', name => 'second.conf', include => 1);
worker_processes 1;
error_log logs/second.log notice;
events { worker_connections 64; }
stream { server { listen 127.0.0.1:%%PORT_2%%; return "second\n"; } }
EOF
    my $pid_before = $t->read_file($t->pid_file);
    my $argv = $t->doorman_argv(conf => 'second.conf')->{argv};
    my ($code, $out, $err) = $t->run_cmd(@$argv, {timeout => 10});
    isnt $code, 0, "a second doorman on the same pid file exits (code $code)";
    isnt $code, 124, '... at once, not after a timeout';
    my $said = $out . $err . $t->read_file('logs/second.log');
    like $said, qr/already running/, '... saying "already running"';
    is $t->read_file($t->pid_file), $pid_before, 'the pid file is untouched';
    ok $t->process->alive, 'the first master lives';
    is scalar $t->worker_pids, 2, '... with its two workers';
    ok served($t, $port), '... and serves';
    is_deeply [listen_inodes($t->port_n(2))], [],
        'nothing is left listening on the second port';
}

# a second doorman (its own pid file) on the same port is refused too: it
# must not join the first one's SO_REUSEPORT group and share its traffic
{
    $t->write_conf(<<'EOF', name => 'sameport.conf', include => 1);
worker_processes 1;
pid logs/sameport.pid;
error_log logs/sameport.log notice;
events { worker_connections 64; }
stream { server { listen 127.0.0.1:%%PORT_1%%; return "intruder\n"; } }
EOF
    my $argv = $t->doorman_argv(conf => 'sameport.conf')->{argv};
    my ($code, $out, $err) = $t->run_cmd(@$argv, {timeout => 10});
    isnt $code, 0, "a second doorman on the same port exits (code $code)";
    isnt $code, 124, '... at once, not after a timeout';
    like $out . $err . $t->read_file('logs/sameport.log'),
        qr/Address already in use/, '... with "Address already in use"';
    is_deeply [listen_inodes($port)], \@ls, 'the first one\'s sockets only';
    ok served($t, $port), 'the first one serves';
}

# a port held by a plain listener: refused with "Address already in use"
{
    my $busy = $t->port;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $busy,
        Listen => 16, Proto => 'tcp') or die "listen $busy: $!";
    $t->write_file('busy.conf', <<"EOF");
worker_processes 2;
pid logs/busy.pid;
error_log logs/busy.log notice;
events { worker_connections 64; }
stream { server { listen 127.0.0.1:$busy; return "busy\\n"; } }
EOF
    my $argv = $t->doorman_argv(conf => 'busy.conf')->{argv};
    my ($code, $out, $err) = $t->run_cmd(@$argv, {timeout => 10});
    isnt $code, 0, "a port held without SO_REUSEPORT: doorman exits (code $code)";
    isnt $code, 124, '... at once, not after a timeout';
    like $out . $err . $t->read_file('logs/busy.log'),
        qr/Address already in use/, '... with "Address already in use"';
    is scalar(listen_inodes($busy)), 1, 'only the plain listener is on the port';
    ok !-e $t->path('logs/busy.pid'), 'no pid file left';
    close $l;
}

# TERM stops everything
{
    my @all = ($master, $t->worker_pids, $t->helper_pid);
    my ($st, $killed) = $t->stop(signal => 'TERM', timeout => 10);
    ok !$killed, 'TERM: everything exits, no KILL needed';
    is $st, 0, 'the master exits 0';
    is_deeply [grep { kill 0, $_ } @all], [], 'no process left';
    ok !-e $t->pid_file, 'the pid file is removed';
    is_deeply [listen_inodes($port)], [], 'nothing listens on the port';
}

# --- worker_processes 3 on fewer CPUs -----------------------------------

{
    my $t3 = Doorman::Test->new;
    $t3->write_conf(<<"EOF");
worker_processes 3;
events { worker_connections 256; }
stream { server { listen 127.0.0.1:%%PORT_1%%; return "doorman process test\\n"; } }
EOF
    my $p3 = $t3->port_n(1);
    $t3->run(wait_ports => [$p3], wait => sub { settled($t3, $p3, 3) });
    my @w3 = $t3->worker_pids;
    is scalar @w3, 3, 'worker_processes 3 with ' . scalar(@allowed)
        . ' allowed CPUs: three workers';
    my %s3 = slots_from_log($t3);
    is_deeply [sort map { $s3{$_} // -1 } @w3], [0, 1, 2], 'slots 0, 1, 2';
    for my $pid (@w3) {
        my $want = $allowed[($s3{$pid} // 0) % @allowed];
        is_deeply [cpus_allowed($pid)], [$want],
            "worker $pid (slot $s3{$pid}) pinned to CPU $want";
    }
    my @ls3 = listen_inodes($p3);
    is scalar @ls3, 3, 'three listening sockets';
    my %held;
    for my $pid (@w3) {
        my @h = holds($pid, @ls3);
        is scalar @h, 1, "worker $pid holds exactly one";
        $held{$h[0] // ''}++;
    }
    is scalar(keys %held), 3, '... a different one each';

    my $bad = 0;
    for (1 .. 30) { $bad++ unless served($t3, $p3) }
    is $bad, 0, '30 requests, all served';

    # Each worker serves its slot, and only it does: with worker k stopped
    # (SIGSTOP), of 30 clients connecting at once the ones the kernel put on
    # slot k's socket (about a third: reuseport hashes the flows) wait,
    # every other one is answered; once k continues, the waiting ones are.
    my %by_slot = reverse %s3;
    for my $k (0 .. 2) {
        my $pid = $by_slot{$k};
        kill 'STOP', $pid;
        $t3->wait_for(sub { proc_state($pid) eq 'T' }, timeout => 2);
        my @c = map { connect_nb($p3) } 1 .. 30;
        my %got = collect(\@c, 0.5);
        my @waiting = grep { !$got{$_}{eof} } 0 .. $#c;
        my @wrong = grep { $got{$_}{eof} && $got{$_}{data} ne $TEXT } 0 .. $#c;
        kill 'CONT', $pid;
        ok @waiting > 0 && @waiting < 30,
            "worker $pid (slot $k) stopped: " . scalar(@waiting)
            . ' of 30 clients wait, the others are answered';
        is scalar @wrong, 0, '... in full';
        my @rest = @c[@waiting];
        my %late = collect(\@rest, 3);
        is scalar(grep { $late{$_}{eof} && $late{$_}{data} eq $TEXT } 0 .. $#rest),
            scalar @rest, "worker $pid continued: every waiting client is answered";
    }
    my ($st, $killed) = $t3->stop;
    ok !$killed, 'TERM: all three workers exit';
}

done_testing;
