#!/usr/bin/perl
#
# Reload (HUP) of the process model (issue 4, DESIGN.md section 1).
#
#   - 10 reloads: the listening sockets (inodes of state 0A in
#     /proc/net/tcp; two ports, two slots) are the same objects before and
#     after, and each new worker holds exactly one of them per port.
#   - a configuration whose new workers fail in init (working_directory
#     /nonexistent: checked by the workers at start, not by -t) is refused
#     ("reload failed (...)"), the old workers (same pids) serve on, and
#     64 client loops running through the attempt see no failure.
#   - a broken configuration (syntax error) is reported and changes
#     nothing (same worker pids, still serving).
#   - under load: 20 reloads 0.25 s apart while 64 client loops open
#     connections and read the text: 0 failures, thousands of successes;
#     the same while alternating between 1 and 2 workers (the file is
#     rewritten before each HUP).
#
# The load: 4 forked client processes with 16 non-blocking connections
# each (64 loops); every loop connects, reads to EOF, compares with the
# text and starts over. Half the loops read a short text (port 1: many
# connections a second); the other half a 64 KB text sent through a 4 KB
# socket buffer (port 2, sndbuf=4096) to a 4 KB receive buffer, so that a
# retiring worker always has some of them in flight (a retirement that
# does not let them finish fails hundreds of them). A failure is a connect
# error, a reset, an incomplete or wrong text, or no answer within 5 s.
# The counts are printed (diag).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Errno qw(EAGAIN EINPROGRESS EWOULDBLOCK);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use POSIX qw(WNOHANG);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
    pack_sockaddr_in);
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;
use Doorman::Load;

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
undef $probe;

my $TEXT = "doorman reload test: the whole text or a failure\n";
# the long text: 64 KB, read by clients with a 4 KB receive buffer, so that
# its sending spans many turns of the worker's loop and a retiring worker
# has it in flight
my $LONG = join '', map { sprintf "%06d the long text of the reload test\n", $_ }
    1 .. 1600;
Doorman::Load::texts($TEXT, $LONG);

sub conf {
    my ($workers, $extra) = @_;
    $extra //= '';
    (my $long = $LONG) =~ s/\n/\\n/g;
    return "worker_processes $workers;\n$extra\n"
        . "events { worker_connections 1024; }\n"
        . "stream {\n"
        . "    server { listen 127.0.0.1:%%PORT_1%%; return \"doorman reload test: the whole text or a failure\\n\"; }\n"
        . "    server { listen 127.0.0.1:%%PORT_2%% sndbuf=4096; return \"$long\"; }\n"
        . "}\n";
}

# --- /proc helpers ------------------------------------------------------

sub listen_inodes {
    my ($port) = @_;
    my $hex = sprintf '%04X', $port;
    my @ino;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        <$fh>;
        while (<$fh>) {
            my @c = split ' ';
            push @ino, $c[9] if @c > 9 && $c[1] =~ /:$hex$/ && $c[3] eq '0A';
        }
    }
    my @sorted = sort { $a <=> $b } @ino;
    return @sorted;
}

sub holds {
    my ($pid, @want) = @_;
    my %want = map { $_ => 1 } @want;
    my %held;
    opendir my $d, "/proc/$pid/fd" or return ();
    for my $fd (readdir $d) {
        my $l = readlink "/proc/$pid/fd/$fd" // next;
        $held{$1} = 1 if $l =~ /^socket:\[(\d+)\]$/ && $want{$1};
    }
    my @h = sort { $a <=> $b } keys %held;
    return @h;
}

# --- start --------------------------------------------------------------

my $t = Doorman::Test->new;
$t->write_conf(conf(2));
my $port = $t->port_n(1);
my $lport = $t->port_n(2);
$t->run(wait_ports => [$port, $lport], wait => sub { $t->worker_pids == 2 });

sub served {
    my ($got) = $t->tcp_request($port, '', timeout => 5);
    return $got eq $TEXT;
}

sub settle {
    my ($n) = @_;
    return $t->wait_for(sub { $t->worker_pids == $n }, timeout => 10);
}

ok served(), 'serves';
# the listening sockets of both ports (a group per port, a socket per slot)
sub sockets_now {
    my @all = sort { $a <=> $b } listen_inodes($port), listen_inodes($lport);
    return @all;
}
my @ls = sockets_now();
is scalar @ls, 4, "four slot sockets (two ports, two slots): @ls";

# --- 10 reloads: the same socket objects ---------------------------------

{
    my $ok = 0;
    for (1 .. 10) {
        $ok++ if $t->reload(timeout => 10);
    }
    is $ok, 10, '10 reloads, each with its new generation serving';
    ok settle(2), 'the old generations are gone: two workers';
    is_deeply [sockets_now()], \@ls,
        'the listening sockets are the same objects after 10 reloads';
    my %seen;
    for my $pid ($t->worker_pids) {
        my @h = holds($pid, @ls);
        ok holds($pid, listen_inodes($port)) == 1
            && holds($pid, listen_inodes($lport)) == 1,
            "new worker $pid holds exactly one of them per port (@h)";
        $seen{"@h"}++;
    }
    is scalar(keys %seen), 2, '... a different one each';
    ok served(), 'serves';
}

# --- new workers that fail in init ---------------------------------------

{
    my @before = $t->worker_pids;
    my $helper = $t->helper_pid;
    $t->write_conf(conf(2, 'working_directory /nonexistent;'));
    my ($code, $err) = $t->test_conf;
    is $code, 0, 'working_directory /nonexistent passes -t (workers check it)'
        or diag $err;
    my $from = $t->log_offset;
    my $load = load_start($port, $lport);
    sleep 0.5;
    ok $t->reload(expect_fail => 1, timeout => 10),
        'a reload whose new workers fail in init is refused';
    ok $t->wait_log(qr/reload failed \(/, from => $from, timeout => 10),
        '... "reload failed (...)" is logged';
    sleep 0.5;
    my ($ok, $bad, $kind, $secs, $by) = load_stop($load);
    report('failed reload', $ok, $bad, $kind, $secs, $by);
    is $bad, 0, 'no request failed during the attempt';
    ok $ok > 100, "requests were served meanwhile ($ok)";
    ok settle(2), 'two workers';
    is_deeply [$t->worker_pids], \@before, 'the old workers still serve (same pids)';
    is $t->helper_pid, $helper, '... and the same helper';
    is_deeply [sockets_now()], \@ls, 'the same listening sockets';
    ok served(), 'serves';

    $t->write_conf(conf(2));
    ok $t->reload, 'a good configuration then reloads';
    ok settle(2), 'two workers';
    ok served(), 'serves';
}

# --- a broken configuration ----------------------------------------------

{
    my @before = $t->worker_pids;
    $t->write_conf("worker_processes 2;\nevents { worker_connections 1024; }\n"
        . "stream { server { listen 127.0.0.1:%%PORT_1%%; return \"x\"; }\n");
    my $from = $t->log_offset;
    ok $t->reload(expect_fail => 1, timeout => 10),
        'a broken configuration is refused';
    ok $t->wait_log(qr/reload failed: the configuration has errors; the running one is unchanged/,
        from => $from, timeout => 10), '... the refusal is logged';
    like $t->error_log_since($from), qr/\[emerg\].*doorman\.conf/,
        '... and the error, with its file';
    sleep 0.3;
    is_deeply [$t->worker_pids], \@before, 'nothing changed: same worker pids';
    is_deeply [sockets_now()], \@ls, '... same listening sockets';
    ok served(), '... and it serves';
    $t->write_conf(conf(2));
}

# --- under load ----------------------------------------------------------

# reloads(N, every => S, conf => sub { TEXT for reload i }): N reloads,
# S apart, each waiting until its generation serves; the number that did.
sub reloads {
    my ($n, %o) = @_;
    my $done = 0;
    for my $i (1 .. $n) {
        my $t0 = time;
        $t->write_conf($o{conf}->($i)) if $o{conf};
        $done++ if $t->reload(timeout => 10);
        my $left = $o{every} - (time - $t0);
        sleep $left if $left > 0;
    }
    return $done;
}

{
    my $load = load_start($port, $lport);
    sleep 0.5;
    my $done = reloads(20, every => 0.25);
    sleep 0.5;
    my ($ok, $bad, $kind, $secs, $by) = load_stop($load);
    report('20 reloads', $ok, $bad, $kind, $secs, $by);
    is $done, 20, '20 reloads 0.25 s apart under load, each one serving';
    is $bad, 0, '64 client loops: no failed request';
    ok $ok >= 1000, "thousands of requests served ($ok)";
    ok settle(2), 'two workers in the end';
    is_deeply [sockets_now()], \@ls, 'the same listening sockets';
}

{
    my $load = load_start($port, $lport);
    sleep 0.5;
    my $done = reloads(20, every => 0.25,
        conf => sub { conf($_[0] % 2 ? 1 : 2) });
    sleep 0.5;
    my ($ok, $bad, $kind, $secs, $by) = load_stop($load);
    report('20 reloads 2->1->2 workers', $ok, $bad, $kind, $secs, $by);
    is $done, 20, '20 reloads alternating 1 and 2 workers under load';
    is $bad, 0, '64 client loops: no failed request';
    ok $ok >= 1000, "thousands of requests served ($ok)";
    ok settle(2), 'two workers in the end';
    is_deeply [sockets_now()], \@ls,
        'the same listening sockets (slots never shrink)';
    ok served(), 'serves';
}

my ($st, $killed) = $t->stop;
ok !$killed, 'stopped with TERM';
is $st, 0, 'the master exits 0';

done_testing;
