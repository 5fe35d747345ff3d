#!/usr/bin/perl
#
# Binary upgrade (USR2, WINCH, QUIT) of the process model (issue 4,
# DESIGN.md section 1), to a DIFFERENT build, under load.
#
# A variant is built in its own --builddir under a temporary directory
# (./configure --with-cc-opt=-DDM_UPGRADE_TEST_VARIANT: its -V differs by
# its configure arguments); DOORMAN_SKIP_BUILD_TESTS=1 skips the file. The
# normal binary is copied to TMP/sbin/doorman and the master started from
# that path, which is what a USR2 executes again.
#
#   1. The file is replaced (rename) by a script that exits 1 at start;
#      USR2: the old master logs the new one's death, its pid file is back
#      in place (not .oldbin), same workers, 64 client loops see no failure.
#   1b. A rollback: the variant started by USR2, WINCH to the old master,
#      QUIT to the new one: the old master starts workers again, its pid
#      file is back in place, no failed request (64 client loops).
#   2. The file is replaced by the variant; under load (64 client loops):
#      USR2, wait for the new master (pid file; the old one's at
#      PID.oldbin), a second USR2 to either master is refused while .oldbin
#      exists (log), WINCH to the old master, wait for its workers to exit,
#      QUIT to the old master. 0 failed requests; /proc/NEWPID/exe -V
#      prints the variant's configure arguments; .oldbin is gone; the
#      doorman_core memfd (its inode in /proc/PID/maps) and the listening
#      sockets (inodes) of the new master's workers are those of before.
#      The new master then reloads on those same sockets.
#   3. TERM to the new master: nothing left, old master included.
#
# The load is that of t/reload.t: 64 client loops, half on a short text,
# half on a 64 KB text that a retiring worker always has in flight.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Errno qw(EAGAIN EINPROGRESS EWOULDBLOCK);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
    pack_sockaddr_in);
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;
use Doorman::Load;

plan skip_all => 'DOORMAN_SKIP_BUILD_TESTS=1'
    if $ENV{DOORMAN_SKIP_BUILD_TESTS};

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
my $NORMAL = $probe->bin;
my $SRC = $probe->srcdir;
plan skip_all => "no doorman binary at $NORMAL (make first)" unless -x $NORMAL;
plan skip_all => "no configure in $SRC" unless -f "$SRC/configure";
for my $tool (qw(make cc)) {
    plan skip_all => "$tool is not installed"
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

my $TEXT = "doorman upgrade test: the whole text or a failure\n";
# the long text: 64 KB, sent through a 4 KB socket buffer (sndbuf=4096) to
# clients with a 4 KB receive buffer, so that its sending spans many turns
# of the worker's loop and a retiring worker has it in flight
my $LONG = join '', map { sprintf "%06d the long text of the upgrade test\n", $_ }
    1 .. 1600;
Doorman::Load::texts($TEXT, $LONG);
my $VARIANT_ARG = '--with-cc-opt=-DDM_UPGRADE_TEST_VARIANT';

# --- the variant ---------------------------------------------------------

my $tmp = tempdir('doorman-upgrade-XXXXXXXX', TMPDIR => 1,
    CLEANUP => !$ENV{DOORMAN_KEEP});
my $vdir = "$tmp/variant";
{
    # a nested make must not inherit the flags of a `make check` running us
    my %env = (MAKEFLAGS => undef, MFLAGS => undef, MAKELEVEL => undef,
        MAKEOVERRIDES => undef, DESTDIR => undef, BUILDDIR => undef);
    my $t0 = time;
    my ($code, $out, $err) = $probe->run_cmd('sh', './configure',
        "--builddir=$vdir", $VARIANT_ARG, {cwd => $SRC, timeout => 120,
        env => \%env});
    ($code, $out, $err) = $probe->run_cmd('make', '-j2', '-f',
        "$vdir/Makefile", {cwd => $SRC, timeout => 300, env => \%env})
        if $code == 0;
    unless ($code == 0 && -x "$vdir/doorman") {
        my @l = split /\n/, "$out$err";
        @l = @l[-30 .. -1] if @l > 30;
        fail 'the variant builds';
        diag "exit $code\n" . join "\n", @l;
        done_testing;
        exit;
    }
    note sprintf 'variant built in %.1f s', time - $t0;
}
my $VARIANT = "$vdir/doorman";
my ($vcode, $vout, $verr) = $probe->run_cmd($VARIANT, '-V');
my ($ncode, $nout, $nerr) = $probe->run_cmd($NORMAL, '-V');
like "$vout$verr", qr/configure arguments:.*\Q$VARIANT_ARG\E/,
    'the variant says its configure arguments in -V';
unlike "$nout$nerr", qr/\Q$VARIANT_ARG\E/, 'the normal build does not';
undef $probe;

# --- /proc helpers -------------------------------------------------------

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

# The inode of the doorman_core memfd mapping of a process.
sub core_zone_inode {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/maps" or return undef;
    while (<$fh>) {
        my @f = split ' ';
        return $f[4] if @f >= 6 && $f[5] eq '/memfd:doorman:doorman_core';
    }
    return undef;
}

sub cmdline {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/cmdline" or return '';
    local $/;
    my $s = <$fh> // '';
    $s =~ tr/\0/ /;
    $s =~ s/\s+$//;
    return $s;
}

sub ppid_of {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $s = <$fh> // '';
    return $s =~ /\)\s+\S+\s+(\d+)/ ? $1 : 0;
}

sub alive {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $s = <$fh> // '';
    return $s =~ /\)\s+([^ZX])/ ? 1 : 0;
}

# Live children of a master titled worker or helper process.
sub kids {
    my ($master, $what) = @_;
    my @k;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        next unless ppid_of($pid) == $master && alive($pid);
        push @k, $pid if cmdline($pid) =~ /^doorman: $what process/;
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

# --- start from TMP/sbin/doorman -----------------------------------------

mkdir "$tmp/sbin" or die "mkdir: $!";
my $BIN = "$tmp/sbin/doorman";

# Puts a file at the binary's path the way an installation does: a copy
# beside it, renamed over it (the running masters keep their own inode).
sub install_bin {
    my ($from, $content) = @_;
    my $new = "$BIN.new";
    if (defined $content) {
        open my $fh, '>', $new or die "$new: $!";
        print $fh $content;
        close $fh or die "$new: $!";
    } else {
        copy($from, $new) or die "copy $from: $!";
    }
    chmod 0755, $new or die "chmod $new: $!";
    rename $new, $BIN or die "rename $new: $!";
}

install_bin($NORMAL);

my $t = Doorman::Test->new(bin => $BIN);
{
    (my $long = $LONG) =~ s/\n/\\n/g;
    $t->write_conf("worker_processes 2;\nerror_log logs/error.log info;\n"
        . "events { worker_connections 1024; }\n"
        . "stream {\n"
        . "    server { listen 127.0.0.1:%%PORT_1%%; return \"doorman upgrade test: the whole text or a failure\\n\"; }\n"
        . "    server { listen 127.0.0.1:%%PORT_2%% sndbuf=4096; return \"$long\"; }\n"
        . "}\n");
}
my $port = $t->port_n(1);
my $lport = $t->port_n(2);
$t->run(wait_ports => [$port, $lport], wait => sub { $t->worker_pids == 2 && $t->helper_pid });
my $old = $t->pid;
my $pidf = $t->pid_file;
my $oldbin = "$pidf.oldbin";

sub served {
    my ($got) = $t->tcp_request($port, '', timeout => 5);
    return $got eq $TEXT;
}

ok served(), "the master $old (started as $BIN) serves";
like cmdline($old), qr/^doorman: master process/, 'master title';
# the listening sockets of both ports (a group per port, a socket per slot)
sub sockets_now {
    my @all = sort { $a <=> $b } listen_inodes($port), listen_inodes($lport);
    return @all;
}
my @ls = sockets_now();
is scalar @ls, 4, "four slot sockets (two ports, two slots): @ls";
my @w_old = kids($old, 'worker');
is scalar @w_old, 2, 'two workers';
my $zone = core_zone_inode($w_old[0]);
ok $zone, "the doorman_core zone is mapped (memfd inode $zone)";
is core_zone_inode($old), $zone, '... the same in the master';

# --- 1. a new binary that exits 1 at start --------------------------------

{
    install_bin(undef, "#!/bin/sh\nexit 1\n");
    my $from = $t->log_offset;
    my $load = load_start($port, $lport);
    sleep 0.3;
    kill 'USR2', $old;
    ok $t->wait_log(qr/new binary's master \d+ exited/, from => $from,
        timeout => 5), 'USR2 to a binary that exits 1: its death is logged';
    ok $t->wait_for(sub { !-e $oldbin && (read_pid($pidf) // 0) == $old },
        timeout => 5), 'the pid file is back in place, no .oldbin';
    sleep 0.3;
    my ($ok, $bad, $kind, $secs, $by) = load_stop($load);
    report('failed upgrade', $ok, $bad, $kind, $secs, $by);
    is $bad, 0, 'no failed request meanwhile';
    ok $ok > 100, "requests were served ($ok)";
    ok alive($old), 'the old master lives';
    is_deeply [kids($old, 'worker')], \@w_old, 'with the same workers';
    is_deeply [sockets_now()], \@ls, '... and the same sockets';
    ok served(), '... and serves';
}

# --- 1b. a rollback after WINCH: the new master quits ----------------------

{
    install_bin($VARIANT);
    my $from = $t->log_offset;
    my $load = load_start($port, $lport);
    sleep 0.3;
    kill 'USR2', $old;
    my $nm = $t->wait_for(sub {
        my $p = read_pid($pidf) // 0;
        return $p && $p != $old && alive($p) && kids($p, 'worker') == 2 ? $p : 0;
    }, timeout => 10);
    ok $nm, 'rollback: USR2 starts a new master' . ($nm ? " ($nm)" : '');
    kill 'WINCH', $old;
    ok $t->wait_for(sub { !kids($old, 'worker') }, timeout => 10),
        '... WINCH: the old workers exit';
    sleep 0.3;
    kill 'QUIT', $nm if $nm;
    ok $t->wait_for(sub { $nm && !alive($nm) }, timeout => 10),
        '... QUIT to the new master: it exits';
    ok $t->wait_for(sub { kids($old, 'worker') == 2 }, timeout => 10),
        'the old master starts its workers again';
    ok $t->wait_for(sub { !-e $oldbin && (read_pid($pidf) // 0) == $old },
        timeout => 5), 'its pid file is back in place, no .oldbin';
    like $t->error_log_since($from), qr/new binary's master $nm exited/,
        'the new master\'s exit is logged';
    sleep 0.3;
    my ($ok, $bad, $kind, $secs, $by) = load_stop($load);
    report('rollback', $ok, $bad, $kind, $secs, $by);
    is $bad, 0, 'no failed request through the rollback';
    is_deeply [sockets_now()], \@ls, 'the same sockets';
    ok served(), 'the old master serves';
}

# --- 2. the upgrade to the variant, under load ----------------------------

my $new;
{
    my $from = $t->log_offset;    # the variant is in place (1b)
    my $load = load_start($port, $lport);
    sleep 0.5;

    kill 'USR2', $old;
    $new = $t->wait_for(sub {
        my $p = read_pid($pidf) // 0;
        return $p && $p != $old && alive($p) && -e $oldbin
            && kids($p, 'worker') == 2 ? $p : 0;
    }, timeout => 10);
    ok $new, 'USR2: a new master' . ($new ? " ($new)" : '')
        . ' with two workers, named by the pid file';
    is read_pid($oldbin), $old, 'the old pid file is PID.oldbin';
    $t->follow_pid_file if $new;
    $new ||= 0;
    like cmdline($new), qr/^doorman: master process/, 'the new master is titled';
    sleep 0.5;    # both generations serve side by side

    # a second upgrade while .oldbin exists is refused, by either master
    my $refusals = sub {
        my $n = () = $t->error_log_since($from) =~ /binary upgrade refused/g;
        return $n;
    };
    kill 'USR2', $old;
    ok $t->wait_for(sub { $refusals->() >= 1 }, timeout => 5),
        'a second USR2 to the old master is refused (log)';
    kill 'USR2', $new if $new;
    ok $t->wait_for(sub { $refusals->() >= 2 }, timeout => 5),
        'a USR2 to the new master while .oldbin exists is refused (log)';
    ok alive($old) && alive($new), 'both masters live on';
    is read_pid($pidf), $new, 'the pid file still names the new master';

    kill 'WINCH', $old;
    ok $t->wait_for(sub { !kids($old, 'worker') && !kids($old, 'helper') },
        timeout => 10), 'WINCH: the old workers (and helper) exit';
    ok alive($old), 'the old master stays';
    sleep 0.5;    # the new workers alone
    kill 'QUIT', $old;
    ok $t->wait_for(sub { !alive($old) }, timeout => 10),
        'QUIT: the old master exits';
    sleep 0.5;

    my ($ok, $bad, $kind, $secs, $by) = load_stop($load);
    report('binary upgrade', $ok, $bad, $kind, $secs, $by);
    is $bad, 0, '64 client loops: no failed request';
    ok $ok >= 1000, "thousands of requests served ($ok)";
}

{
    ok !-e $oldbin, 'PID.oldbin is gone';
    is read_pid($pidf), $new, 'the pid file names the new master';
    ok alive($new), 'the new master lives';
    my $exe = readlink "/proc/$new/exe" // '';
    like $exe, qr{^\Q$BIN\E}, "the new master runs $BIN";
    my ($code, $out, $err) = $t->run_cmd("/proc/$new/exe", '-V');
    like "$out$err", qr/configure arguments:.*\Q$VARIANT_ARG\E/,
        '/proc/NEWPID/exe -V prints the variant\'s configure arguments';
    my @w_new = kids($new, 'worker');
    is scalar @w_new, 2, 'the new master has two workers';
    ok kids($new, 'helper') == 1, '... and a helper';
    is_deeply [sockets_now()], \@ls,
        'the listening sockets are the same objects';
    my %seen;
    for my $pid (@w_new) {
        my @h = holds($pid, @ls);
        ok holds($pid, listen_inodes($port)) == 1
            && holds($pid, listen_inodes($lport)) == 1,
            "new worker $pid holds exactly one of them per port (@h)";
        $seen{"@h"}++;
        is core_zone_inode($pid), $zone,
            "new worker $pid maps the same doorman_core zone";
    }
    is scalar(keys %seen), 2, '... a different socket each';
    is core_zone_inode($new), $zone, 'the new master maps the same zone';
    ok served(), 'the new master serves';

    # the inherited sockets serve the new master's own reloads as well
    ok $t->reload, 'the new master reloads';
    ok $t->wait_for(sub { kids($new, 'worker') == 2 }, timeout => 10),
        '... two workers again';
    is_deeply [sockets_now()], \@ls, '... on the same sockets';
    is_deeply [sort { $a <=> $b } map { holds($_, @ls) } kids($new, 'worker')],
        \@ls, '... one each per port';
    ok served(), '... serving';
}

# --- 3. stop --------------------------------------------------------------

{
    my @all = ($old, $new, kids($new, 'worker'), kids($new, 'helper'));
    my ($st, $killed) = $t->stop(timeout => 10);
    ok !$killed, 'TERM to the new master: everything exits, no KILL needed';
    is_deeply [grep { alive($_) } @all], [], 'no process left';
    is_deeply [sockets_now()], [], 'nothing listens on the ports';
}

done_testing;
