package Doorman::Load;
#
# The load used by the reload and upgrade tests: client processes whose
# non-blocking loops connect, read to EOF and compare with a known text,
# counting successes and failures (connect error, reset, incomplete or
# wrong text, no answer within 5 s) until stopped.
#
#   Doorman::Load::texts($short, $long);       the texts the ports send
#   my $load = load_start($short_port, $long_port);
#   my ($ok, $bad, $kind, $secs, $by) = load_stop($load);
#   report($name, $ok, $bad, $kind, $secs, $by);   (diag)

use strict;
use warnings;

use Errno qw(EAGAIN EINPROGRESS EWOULDBLOCK);
use Exporter qw(import);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use POSIX qw(WNOHANG);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
    pack_sockaddr_in);
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(load_start load_stop report);
our ($TEXT, $LONG);

# Sets the short and the long text the two ports answer with.
sub texts {
    ($TEXT, $LONG) = @_;
}


# One client process: loops (each {name, port, text, rcvbuf}) that connect,
# read to EOF and compare, until SIGUSR1 (or its own deadline); then it
# finishes what is in flight and writes its counts to $out.
sub client_process {
    my ($loops, $out, $deadline, $parent) = @_;
    my $stop = 0;
    local $SIG{USR1} = sub { $stop = 1 };
    local $SIG{PIPE} = 'IGNORE';
    my (%fail, %ok);
    my @slot;    # {sock, data, since}
    my $n = @$loops;

    my $open = sub {
        my ($l) = @_;
        socket(my $s, PF_INET, SOCK_STREAM, 0) or do { $fail{"$l->{name}: socket: $!"}++; return };
        setsockopt($s, SOL_SOCKET, SO_RCVBUF, $l->{rcvbuf}) if $l->{rcvbuf};
        my $fl = fcntl($s, F_GETFL, 0);
        fcntl($s, F_SETFL, $fl | O_NONBLOCK);
        if (!connect($s, $l->{addr}) && $! != EINPROGRESS) {
            $fail{"$l->{name}: connect: $!"}++;
            return;
        }
        return {sock => $s, data => '', since => time, loop => $l};
    };
    my $done = sub {
        my ($c, $how) = @_;
        my $l = $c->{loop};
        if (!defined $how) {
            if ($c->{data} eq $l->{text}) { $ok{$l->{name}}++ }
            elsif ($c->{data} eq '') { $fail{"$l->{name}: eof, no text"}++ }
            else { $fail{"$l->{name}: incomplete text"}++ }
        } else {
            $fail{"$l->{name}: $how"}++;
        }
        close $c->{sock};
    };

    for (;;) {
        unless ($stop || time > $deadline) {
            for my $i (0 .. $n - 1) {
                $slot[$i] //= $open->($loops->[$i]);
            }
        }
        my @live = grep { defined $slot[$_] } 0 .. $n - 1;
        last unless @live;
        my $rin = '';
        vec($rin, fileno $slot[$_]{sock}, 1) = 1 for @live;
        my $k = select(my $rout = $rin, undef, undef, 0.1);
        my $now = time;
        for my $i (@live) {
            my $c = $slot[$i];
            if ($k > 0 && vec($rout, fileno $c->{sock}, 1)) {
                my $r = sysread $c->{sock}, my $buf, 65536;
                if (!defined $r) {
                    next if $! == EAGAIN || $! == EWOULDBLOCK;
                    my $e = $!{ECONNRESET} ? 'reset'
                        : $!{ECONNREFUSED} ? 'connect: refused' : "read: $!";
                    $done->($c, $e);
                    $slot[$i] = undef;
                } elsif ($r == 0) {
                    $done->($c, undef);
                    $slot[$i] = undef;
                } else {
                    $c->{data} .= $buf;
                }
            } elsif ($now - $c->{since} > 5) {
                $done->($c, 'no answer in 5 s');
                $slot[$i] = undef;
            }
        }
        last if getppid() != $parent;    # the test is gone
    }
    my $oks = join ',', map { "$_=$ok{$_}" } sort keys %ok;
    my $fails = join ',', map { "$_=$fail{$_}" } sort keys %fail;
    syswrite $out, "ok=$oks;fail=$fails\n";
}

# client processes still running: killed if the test ends early
my %LOAD_KIDS;
END { kill 'KILL', keys %LOAD_KIDS if %LOAD_KIDS }

# load_start(SHORT_PORT, LONG_PORT, procs => 4): the client processes,
# each with 8 loops on new connections for the short text and 8 for the
# long one (64 loops in all).
sub load_start {
    my ($short, $long, %o) = @_;
    my $procs = $o{procs} // 4;
    my $lo = inet_aton('127.0.0.1');
    my @loops = ((map { {name => 'short', addr => pack_sockaddr_in($short, $lo),
                text => $Doorman::Load::TEXT} } 1 .. 8),
        (map { {name => 'long', addr => pack_sockaddr_in($long, $lo),
                text => $Doorman::Load::LONG, rcvbuf => 4096} } 1 .. 8));
    my @kids;
    my $parent = $$;
    STDOUT->flush;
    STDERR->flush;
    Test::More->builder->output->flush;
    Test::More->builder->failure_output->flush;
    for (1 .. $procs) {
        pipe my $r, my $w or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            # never outlives the test for long
            client_process(\@loops, $w, time + 60, $parent);
            POSIX::_exit(0);
        }
        close $w;
        $LOAD_KIDS{$pid} = 1;
        push @kids, {pid => $pid, r => $r};
    }
    return {kids => \@kids, started => time};
}

# load_stop(LOAD): stops the clients and sums their counts:
# (served, failed, {kind => n}, seconds, {short => n, long => n}).
sub load_stop {
    my ($load) = @_;
    my $secs = time - $load->{started};
    kill 'USR1', map { $_->{pid} } @{$load->{kids}};
    my ($ok, $bad, %kind, %by) = (0, 0);
    for my $k (@{$load->{kids}}) {
        my $line = '';
        my $deadline = time + 10;
        while (time < $deadline) {
            my $rin = '';
            vec($rin, fileno $k->{r}, 1) = 1;
            next unless select(my $rout = $rin, undef, undef, 0.5) > 0;
            my $n = sysread $k->{r}, my $buf, 4096;
            last unless $n;
            $line .= $buf;
        }
        close $k->{r};
        kill 'KILL', $k->{pid} if waitpid($k->{pid}, WNOHANG) == 0;
        waitpid $k->{pid}, 0;
        delete $LOAD_KIDS{$k->{pid}};
        if ($line =~ /^ok=(.*);fail=(.*)$/) {
            my ($oks, $fails) = ($1, $2);
            for (split /,/, $oks) {
                my ($what, $n) = /^(.*)=(\d+)$/ or next;
                $by{$what} += $n;
                $ok += $n;
            }
            for (split /,/, $fails) {
                my ($what, $n) = /^(.*)=(\d+)$/ or next;
                $kind{$what} += $n;
                $bad += $n;
            }
        } else {
            $kind{'client process lost'}++;
            $bad++;
        }
    }
    return ($ok, $bad, \%kind, $secs, \%by);
}

sub report {
    my ($name, $ok, $bad, $kind, $secs, $by) = @_;
    my $detail = join ', ', map { "$_: $kind->{$_}" } sort keys %$kind;
    diag sprintf '%s: %d served (short %d, long %d), %d failed%s in %.1f s',
        $name, $ok, $by->{short} // 0, $by->{long} // 0, $bad,
        ($detail ? " ($detail)" : ''), $secs;
}

1;
