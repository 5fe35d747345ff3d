#!/usr/bin/perl
#
# The upstream layer with two workers (issue 6, DESIGN.md section 5),
# driven through the L4 proxy (proxy_pass) and stream `return` backends.
#
#   Passive failures are shared: a peer that refuses (max_fails=1
#     fail_timeout=30s) fails the first session, which goes on to the next
#     peer; the next 40 sessions, served by both workers, never try it
#     again: one connect() failure in the log, one "a, b" $upstream_addr.
#   kill -9 of a worker leaves no inflated connection count: least_conn
#     over two idle backends, 24 long-lived sessions (12 on each); sessions
#     are closed until the first worker holds only sessions on backend A
#     and the second only sessions on B; the first worker is killed (the
#     master logs "counters of process PID (row R) zeroed"), so A really has
#     none and B has n. New sessions go to A until the counts meet, then
#     alternate: A and B end up equal. A count left over from the dead
#     worker would send them to B instead.
#   A reload keeps the state of the servers that stay: a peer out after a
#     failure (fail_timeout=60s) gets no connect attempt after the HUP,
#     while a server the reload added is used.
#   hash $remote_addr consistent: each of 10 client addresses (127.0.0.x)
#     lands on one backend over 10 connections, across both workers.
#   A group of one server is never taken out (as nginx): after its failure
#     the next session is tried again, for an upstream block and for
#     proxy_pass ADDRESS. A backup answers while the primary refuses; a
#     server marked down gets nothing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
$probe->skip_unless_has('tcp_stream');
undef $probe;

my $T0 = time;

# --- helpers ------------------------------------------------------------

sub connect_from {
    my ($src, $port) = @_;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        LocalAddr => $src, Proto => 'tcp', Timeout => 3);
}

# Reads until EOF or the timeout.
sub read_all {
    my ($s, $timeout) = @_;
    my $deadline = time + $timeout;
    my $sel = IO::Select->new($s);
    my $data = '';
    for (;;) {
        my $left = $deadline - time;
        return $data if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $s, my $buf, 65536;
        return $data unless $n;
        $data .= $buf;
    }
}

# One session from a source address: what came back before EOF.
sub answer {
    my ($port, $src) = @_;
    my $s = connect_from($src // '127.0.0.1', $port) or return "connect: $@";
    my $d = read_all($s, 5);
    close $s;
    return $d;
}

sub idle_listener {
    my ($port) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $port, Listen => 128, ReuseAddr => 1, Proto => 'tcp')
        or die "listen $port: $!";
    return $l;
}

# Waits for one connection on any of the listeners: (name, socket).
sub accept_any {
    my ($timeout, %l) = @_;
    my $sel = IO::Select->new(values %l);
    my @r = $sel->can_read($timeout) or return;
    my ($name) = grep { $l{$_} == $r[0] } keys %l;
    return ($name, $r[0]->accept);
}

# The access log's lines since the offset.
sub access_lines {
    my ($t, $from) = @_;
    return split /\n/, substr($t->read_file('logs/access.log'), $from // 0);
}

sub access_size { return -s $_[0]->path('logs/access.log') // 0 }

# The worker that holds doorman's side of a client connection (the socket
# of 127.0.0.1:port <- 127.0.0.1:cport in /proc/net/tcp, found among the
# workers' descriptors).
sub worker_of {
    my ($t, $port, $cport) = @_;
    my ($l, $r) = map { sprintf '0100007F:%04X', $_ } $port, $cport;
    my $inode;
    open my $fh, '<', '/proc/net/tcp' or return undef;
    while (my $line = <$fh>) {
        my @f = split ' ', $line;
        next unless @f > 9 && $f[1] eq $l && $f[2] eq $r;
        $inode = $f[9];
        last;
    }
    return undef unless $inode;
    for my $w ($t->worker_pids) {
        opendir my $d, "/proc/$w/fd" or next;
        for (readdir $d) {
            my $link = readlink "/proc/$w/fd/$_" // next;
            return $w if $link eq "socket:[$inode]";
        }
    }
    return undef;
}

sub elapsed { return sprintf '%.1f s', time - $_[0] }

# --- the configuration ----------------------------------------------------

my $t = Doorman::Test->new;
my $P = sub { $t->port_n($_[0]) };

my $CONF = <<'EOF';
worker_processes 2;
error_log logs/error.log info;
events { worker_connections 1024; }
stream {
    log_format l4 '$remote_addr $server_port $status "$upstream_addr" $pid';
    access_log logs/access.log l4;
    proxy_connect_timeout 2s;

    server { listen 127.0.0.1:%%PORT_1%%; return "probe\n"; }
    server { listen 127.0.0.1:%%PORT_11%%; return "g1\n"; }
    server { listen 127.0.0.1:%%PORT_12%%; return "g2\n"; }
    server { listen 127.0.0.1:%%PORT_13%%; return "g3\n"; }

    # passive failures shared by the workers
    upstream flaky {
        server 127.0.0.1:%%PORT_20%% max_fails=1 fail_timeout=30s;
        server 127.0.0.1:%%PORT_11%%;
    }
    server { listen 127.0.0.1:%%PORT_2%%; proxy_pass flaky; }

    # least_conn over two idle backends
    upstream lc {
        least_conn;
        server 127.0.0.1:%%PORT_21%%;
        server 127.0.0.1:%%PORT_22%%;
    }
    server { listen 127.0.0.1:%%PORT_3%%; proxy_pass lc; }

    # state across a reload
    upstream keep {
        server 127.0.0.1:%%PORT_23%% max_fails=1 fail_timeout=60s;
        server 127.0.0.1:%%PORT_11%%;
        #ADDED#
    }
    server { listen 127.0.0.1:%%PORT_4%%; proxy_pass keep; }

    # consistent hashing
    upstream h {
        hash $remote_addr consistent;
        server 127.0.0.1:%%PORT_11%%;
        server 127.0.0.1:%%PORT_12%%;
        server 127.0.0.1:%%PORT_13%%;
    }
    server { listen 127.0.0.1:%%PORT_5%%; proxy_pass h; }

    # one server; backup; down
    upstream single { server 127.0.0.1:%%PORT_24%%; }
    server { listen 127.0.0.1:%%PORT_6%%; proxy_pass single; }
    server { listen 127.0.0.1:%%PORT_7%%; proxy_pass 127.0.0.1:%%PORT_25%%; }
    upstream bk {
        server 127.0.0.1:%%PORT_26%%;
        server 127.0.0.1:%%PORT_12%% down;
        server 127.0.0.1:%%PORT_13%% backup;
    }
    server { listen 127.0.0.1:%%PORT_8%%; proxy_pass bk; }
}
EOF

$t->write_conf($CONF);
{
    my ($code, $err) = $t->test_conf;
    is $code, 0, 'the configuration is valid' or diag $err;
}
# The backends the test holds itself are bound now (a port chosen free
# could be taken later as the local port of a connection); 24 and 25 are
# bound without listening (connections are refused) until their test.
my %HOLD = (
    (map { $_ => idle_listener($P->($_)) } 21, 22),
    (map {
        $_ => IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $P->($_), ReuseAddr => 1, Proto => 'tcp')
            || die "bind: $!"
    } 24, 25),
);
# only the probe port is waited on: no session touches the test's groups
$t->run(wait_ports => [$P->(1)], wait => sub { $t->worker_pids == 2 });

# --- a failure seen by one worker is seen by the other ----------------------

{
    my $from = $t->log_offset;
    my $afrom = access_size($t);
    my @got = map { answer($P->(2)) } 1 .. 41;
    is scalar(grep { $_ eq "g1\n" } @got), 41,
        'passive failure: 41 sessions, all answered by the good peer';
    my $p20 = $P->(20);
    my @fail = $t->error_log_since($from)
        =~ /connect\(\) to 127\.0\.0\.1:$p20 failed/g;
    is scalar(@fail), 1, '... one connect() to the refusing peer in all';
    like $t->error_log_since($from),
        qr/upstream "flaky": server 127\.0\.0\.1:$p20 is out for 30000ms/,
        '... which is then out for fail_timeout';
    my (%pid, $tried);
    my $ok = $t->wait_for(sub {
        my @l = grep { /^127\.0\.0\.1 \Q${\$P->(2)}\E / }
            access_lines($t, $afrom);
        %pid = ();
        $pid{(split ' ')[-1]}++ for @l;
        $tried = grep { /"127\.0\.0\.1:$p20, / } @l;
        @l >= 41 }, timeout => 3);
    ok $ok && keys(%pid) == 2, '... the sessions were served by both workers ('
        . join('/', values %pid) . ')';
    is $tried, 1, '... and only one $upstream_addr names the refusing peer';
}

# --- kill -9 of a worker: no inflated connection count ---------------------

SKIP: {
    my $started = time;
    my %back = (A => delete $HOLD{21}, B => delete $HOLD{22});
    my @s;    # {client, backend, name, worker}
    for (1 .. 24) {
        my $c = connect_from('127.0.0.1', $P->(3)) or last;
        my ($name, $b) = accept_any(3, %back);
        last unless $b;
        push @s, {client => $c, backend => $b, name => $name,
            worker => worker_of($t, $P->(3), $c->sockport)};
    }
    my %on;
    $on{$_->{name}}++ for @s;
    is join('/', map { $on{$_} // 0 } qw(A B)), '12/12',
        'least_conn: 24 long-lived sessions, 12 on each backend';
    my @w = sort { $a <=> $b } $t->worker_pids;
    skip 'a session whose worker was not found', 4
        if grep { !defined $_->{worker} } @s;
    # keep the first worker's sessions on A and the second's on B
    my ($w1, $w2) = @w;
    my @keep;
    for my $x (@s) {
        if (($x->{worker} == $w1 && $x->{name} eq 'A')
            || ($x->{worker} == $w2 && $x->{name} eq 'B')) {
            push @keep, $x;
        } else {
            close $x->{client};
            close $x->{backend};
        }
    }
    my $n1 = grep { $_->{name} eq 'A' } @keep;
    my $n2 = grep { $_->{name} eq 'B' } @keep;
    skip "the sessions did not spread over both workers ($n1/$n2)", 4
        unless $n1 && $n2;
    sleep 1;    # the closed sessions end in doorman
    my $from = $t->log_offset;
    kill 'KILL', $w1;
    ok $t->wait_log(qr/counters of process $w1 \(row \d+\) zeroed/,
        from => $from), "kill -9 of worker $w1 (holding $n1 sessions on A): "
        . 'the master zeroes its counters';
    ok $t->wait_for(sub {
        my @n = $t->worker_pids;
        @n == 2 && !grep { $_ == $w1 } @n }, timeout => 5),
        '... and starts a new worker';
    # A has no live session now, B has n2: least_conn fills A first
    my %new;
    my @more;
    for (1 .. $n2 + 6) {
        my $c = connect_from('127.0.0.1', $P->(3)) or last;
        my ($name, $b) = accept_any(3, %back);
        last unless $b;
        $new{$name}++;
        push @more, $c, $b;
    }
    my ($a, $b) = ($new{A} // 0, ($new{B} // 0) + $n2);
    is "$a/$b", ($n2 + 3) . '/' . ($n2 + 3),
        "... then $n2 + 6 new sessions even the counts out (A had 0, B $n2)";
    close $_ for @more, map { ($_->{client}, $_->{backend}) } @keep;
    diag 'kill -9: ' . elapsed($started);
}

# --- reload keeps the peer state ---------------------------------------------

{
    my $from = $t->log_offset;
    my @got = map { answer($P->(4)) } 1 .. 3;
    my $p23 = $P->(23);
    is "@got", "g1\n g1\n g1\n", 'reload: a refusing peer fails once';
    like $t->error_log_since($from),
        qr/connect\(\) to 127\.0\.0\.1:$p23 failed.*\n.*is out for 60000ms/,
        '... and is out for 60 s';
    (my $conf = $CONF) =~ s/#ADDED#/server 127.0.0.1:%%PORT_12%%;/;
    $t->write_conf($conf);
    my $hup = $t->log_offset;
    ok $t->reload, '... a reload adds a server to the group';
    my $afrom = access_size($t);
    my %n;
    $n{answer($P->(4))}++ for 1 .. 20;
    my ($g1, $g2) = map { $n{$_} // 0 } "g1\n", "g2\n";
    ok $g1 + $g2 == 20 && $g1 >= 5 && $g2 >= 5, '... 20 sessions after it: '
        . "the old good peer and the added one share them ($g1/$g2)";
    unlike $t->error_log_since($hup), qr/127\.0\.0\.1:$p23/,
        '... the peer that was out is not tried again';
    my @l = grep { /^127\.0\.0\.1 \Q${\$P->(4)}\E / } access_lines($t, $afrom);
    is scalar(grep { /$p23/ } @l), 0, '... nor named in $upstream_addr';
}

# --- hash $remote_addr consistent --------------------------------------------

{
    my $afrom = access_size($t);
    my (%seen, %backends);
    for my $x (1 .. 10) {
        my $src = "127.0.0.$x";
        $seen{$src}{answer($P->(5), $src)}++ for 1 .. 10;
        $backends{$_}++ for keys %{$seen{$src}};
    }
    my @moved = grep { keys %{$seen{$_}} != 1 } sort keys %seen;
    is "@moved", '', 'hash $remote_addr consistent: each of 10 addresses '
        . 'stays on one backend over 10 connections';
    ok !grep({ !/^g[123]\n$/ } keys %backends), '... always answered';
    ok keys(%backends) >= 2, '... and the addresses spread ('
        . join(', ', map { s/\n//r . " x$backends{$_}" } sort keys %backends)
        . ')';
    my %pid;
    $t->wait_for(sub {
        my @l = grep { /^\S+ \Q${\$P->(5)}\E / } access_lines($t, $afrom);
        %pid = ();
        $pid{(split ' ')[-1]}++ for @l;
        @l >= 100 }, timeout => 3);
    is scalar(keys %pid), 2, '... across both workers';
}

# --- one server, backup, down ------------------------------------------------

{
    my $from = $t->log_offset;
    is answer($P->(6)), '', 'a group of one server: a refused session is '
        . 'closed';
    my $l = delete $HOLD{24};
    $l->listen(128) or die "listen: $!";
    my $c = connect_from('127.0.0.1', $P->(6));
    my ($name, $b) = accept_any(3, one => $l);
    ok $b, '... and the next one is tried on it at once (never taken out)';
    close $_ for grep { defined } $c, $b, $l;

    is answer($P->(7)), '', 'proxy_pass ADDRESS: a refused session is closed';
    $l = delete $HOLD{25};
    $l->listen(128) or die "listen: $!";
    $c = connect_from('127.0.0.1', $P->(7));
    ($name, $b) = accept_any(3, one => $l);
    ok $b, '... and the next one is tried on it at once';
    close $_ for grep { defined } $c, $b, $l;
    unlike $t->error_log_since($from),
        qr/upstream "(?:single|127[^"]*)": server .* is out/,
        '... neither was taken out';

    my @got = map { answer($P->(8)) } 1 .. 4;
    is "@got", "g3\n g3\n g3\n g3\n",
        'the backup answers while the primary refuses (the down one never)';
}

{
    my ($st, $killed) = $t->stop;
    ok !$killed && defined $st && $st == 0, 'doorman stops cleanly (exit 0)'
        or diag 'status ' . ($st // 'undef');
}

diag 'total: ' . elapsed($T0);
done_testing;
