#!/usr/bin/perl
#
# UDP in the L4 proxy (issue 8, DESIGN.md section 6): `listen ... udp`,
# sessions keyed by the client's address (and, on a wildcard socket, the
# address it wrote to), proxy_timeout, proxy_requests, proxy_responses,
# replies from the address the client used, balancing per session, ICMP
# errors, the access log, reload and graceful exit. Everything runs twice:
# with master_process off and with 2 workers.
#
#   Bulk: 10 client sockets send 100 datagrams each to an echo backend that
#     prefixes its tag and the source port of the datagram (the session's
#     upstream socket), ten in flight at a time: all 1,000 replies arrive,
#     each on its own client's socket, in order; each socket keeps one
#     session (one backend, one upstream socket) for all of its 100; the 10
#     sessions split 5/5 over the 2 backends by round robin. The listener
#     has rcvbuf=256k, which ss shows on every slot socket. A 30,000-byte
#     datagram goes through whole.
#   proxy_timeout 1s: a gap of 0.5 s keeps the session; after 1.5 s of
#     silence the next datagram starts a new session (the other backend,
#     another upstream socket); the log line of the expired session has
#     $protocol UDP, status 200, the exact byte counts and a $session_time
#     of about 1.5 s.
#   proxy_responses 1: each datagram is its own session (backends alternate,
#     a new upstream socket each time), logged at once.
#   proxy_requests 2: datagrams 1-2 share a session, 3-4 the next (the other
#     backend), 5 a third; the answer to the 2nd datagram still comes back
#     after its session was unbound. With proxy_responses 1 too, the session
#     ends after its 2nd answer.
#   proxy_responses 0 (one-way traffic): each datagram is a session that
#     ends once the datagram is sent.
#   A wildcard listener (`listen PORT udp`, and [::]:PORT when ::1 works):
#     one unconnected client socket writes to 127.0.0.2, 127.0.0.1 and
#     127.0.0.3; each reply comes from the address written to (recvfrom),
#     and $server_addr logs it.
#   An upstream that is down (a closed port: ICMP port unreachable): no
#     reply, "upstream ... failed (UDP)" in the error log, status 502 in the
#     access log; in a group with max_fails=1 the dead peer is skipped by
#     the following sessions (passive failure).
#   DNS: a minimal responder written here (any A query gets 192.0.2.1)
#     behind `proxy_responses 1`: a query built by hand gets its answer,
#     and `dig` (bind9-dnsutils; skipped when absent) resolves through it.
#   `return` on a UDP listener answers with one datagram; with 2 workers,
#     40 sockets reach both workers, each always the same one.
#   With 2 workers, a reload: the old workers exit at once although they
#     hold open sessions (UDP sessions are reclaimed, not waited for: an
#     answer still due to an old session is lost); datagrams after the
#     reload start new sessions in the new workers.
#   QUIT with 10 open sessions (proxy_timeout 60s) exits within 3 s, no
#     KILL needed, and logs the sessions with their byte counts.
#   doorman -t: `listen unix:/x udp` is refused, so are two UDP listeners on
#     one address and bad proxy_requests / proxy_responses values; TCP and
#     UDP on one port is valid.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use IO::Socket::IP;
use Socket qw(AF_INET AF_INET6 inet_aton inet_ntop pack_sockaddr_in
    pack_sockaddr_in6 sockaddr_family unpack_sockaddr_in unpack_sockaddr_in6);
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
$probe->skip_unless_has('tcp_stream');
undef $probe;

my $T0 = time;

sub which {
    my ($cmd) = @_;
    for (split /:/, $ENV{PATH} // '') {
        return "$_/$cmd" if -x "$_/$cmd";
    }
    return undef;
}

my $DIG = which('dig');
my $SS = which('ss');
my $HAVE_V6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
    Proto => 'udp') ? 1 : 0;

# --- the backends: echo (tag, upstream port, delays) and DNS ------------

my $BACKEND = <<'EOF';
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use Socket qw(inet_ntoa unpack_sockaddr_in);
use Time::HiRes qw(time);

# echo: "TAG SRCPORT DATA" back to the sender; "delay=S DATA" answers after
# S seconds (without blocking other datagrams). dns: any A query gets
# 192.0.2.1, any other type an empty answer.
my ($mode, $tag, $port) = @ARGV;
my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
    Proto => 'udp') or die "bind 127.0.0.1:$port: $!\n";
$| = 1;
print "ready\n";
my @due;
my $sel = IO::Select->new($s);
for (;;) {
    @due = sort { $a->[0] <=> $b->[0] } @due;
    while (@due && $due[0][0] <= time) {
        my $d = shift @due;
        send $s, $d->[2], 0, $d->[1];
    }
    my $wait = @due ? $due[0][0] - time : 10;
    next unless $sel->can_read($wait > 0 ? $wait : 0);
    my $peer = recv $s, my $buf, 65536, 0;
    next unless defined $peer && length $peer;
    my ($pport, $paddr) = unpack_sockaddr_in($peer);
    if ($mode eq 'dns') {
        my $r = dns_answer($buf);
        send $s, $r, 0, $peer if defined $r;
        next;
    }
    print "got $pport ", substr($buf, 0, 40), "\n";
    my $out = "$tag $pport $buf";
    if ($buf =~ /^delay=([\d.]+) /) {
        push @due, [time + $1, $peer, $out];
        next;
    }
    send $s, $out, 0, $peer;
}

sub dns_answer {
    my ($q) = @_;
    return undef if length $q < 17;
    my ($id, $flags, $qd) = unpack 'n n n', $q;
    return undef if $flags & 0x8000 || $qd != 1;
    # the question: labels up to the root, then QTYPE and QCLASS
    my $p = 12;
    my @labels;
    while ($p < length $q) {
        my $l = ord substr $q, $p, 1;
        $p++;
        last if $l == 0;
        return undef if $l > 63 || $p + $l > length $q;
        push @labels, substr $q, $p, $l;
        $p += $l;
    }
    return undef if $p + 4 > length $q;
    my ($qtype, $qclass) = unpack 'n n', substr $q, $p, 4;
    my $question = substr $q, 12, $p + 4 - 12;
    my $a = $qtype == 1 && $qclass == 1;
    print 'query ', join('.', @labels), " type $qtype\n";
    # QR, AA, the query's opcode and RD; RCODE 0
    my $rflags = 0x8000 | 0x0400 | ($flags & 0x7900);
    my $r = pack('n n n n n n', $id, $rflags, 1, $a ? 1 : 0, 0, 0) . $question;
    # the answer: a pointer to the name at offset 12, A IN, TTL 60, 4 bytes
    $r .= pack('n n n N n C4', 0xc00c, 1, 1, 60, 4, 192, 0, 2, 1) if $a;
    return $r;
}
EOF

sub backend {
    my ($t, $name, $mode, $tag, $port) = @_;
    return $t->spawn(name => $name, timeout => 10,
        cmd => [$^X, $t->path('udp_backend.pl'), $mode, $tag, $port],
        wait => sub { $t->read_file("logs/$name.log") =~ /^ready$/m });
}

# --- client helpers -----------------------------------------------------

sub client {
    my ($port, $host) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $host // '127.0.0.1',
        PeerPort => $port, Proto => 'udp') or die "udp client: $@";
    return $s;
}

# One datagram out, the first one back (undef after the timeout).
sub xchg {
    my ($s, $data, $timeout) = @_;
    send $s, $data, 0 or return undef;
    return undef unless IO::Select->new($s)->can_read($timeout // 3);
    my $buf;
    defined recv($s, $buf, 65536, 0) or return undef;
    return $buf;
}

# Whether a datagram arrives on the socket within the time.
sub quiet_for {
    my ($s, $secs) = @_;
    return !IO::Select->new($s)->can_read($secs);
}

# "TAG PORT DATA" -> (TAG, PORT, DATA)
sub parse {
    my ($r) = @_;
    return (undef, undef, undef) unless defined $r;
    return $r =~ /^(\S+) (\d+) (.*)\z/s ? ($1, $2, $3) : (undef, undef, $r);
}

# The access log's lines (parsed) since an offset, for one listener port.
# Fields: protocol status sent received time upstream remote server pid.
sub log_lines {
    my ($t, $port, $from) = @_;
    my $text = $t->read_file('logs/access.log') // '';
    my @l;
    for (split /\n/, substr($text, $from // 0)) {
        my @f = split / /;
        my %h;
        @h{qw(protocol status sent received time upstream remote server pid)}
            = @f;
        next if defined $port && ($h{server} // '') !~ /:\Q$port\E\z/;
        push @l, \%h;
    }
    return @l;
}

sub log_size {
    my ($t) = @_;
    return -s $t->path('logs/access.log') // 0;
}

# Ten (or N) client sockets, COUNT datagrams each, one per socket in
# flight: returns {replies => [[...] per client], missing => N, clients}.
sub bulk {
    my ($port, $n, $count, $clients) = @_;
    $clients //= [map { client($port) } 1 .. $n];
    my @got = map { [] } 1 .. $n;
    my %index = map { (fileno $clients->[$_]) => $_ } 0 .. $n - 1;
    my $missing = 0;
    for my $i (1 .. $count) {
        send $clients->[$_], "c$_ n$i", 0 for 0 .. $n - 1;
        my %want = map { $_ => 1 } 0 .. $n - 1;
        my $sel = IO::Select->new(@$clients);
        my $deadline = time + 3;
        while (%want) {
            my $left = $deadline - time;
            last if $left <= 0;
            for my $r ($sel->can_read($left)) {
                my $k = $index{fileno $r};
                defined recv($r, my $buf, 65536, 0) or next;
                push @{$got[$k]}, $buf;
                delete $want{$k};
            }
        }
        $missing += keys %want;
        last if $missing;
    }
    return {replies => \@got, missing => $missing, clients => $clients};
}

# Checks a bulk result: every reply, in order, on its own socket, one
# session each; returns the tags per client.
sub check_bulk {
    my ($res, $n, $count, $what) = @_;
    is $res->{missing}, 0, "$what: no reply missing";
    my (@tags, @bad);
    for my $k (0 .. $n - 1) {
        my $r = $res->{replies}[$k];
        my (%tag, %port);
        for my $i (1 .. $count) {
            my ($tag, $port, $data) = parse($r->[$i - 1]);
            if (!defined $tag || $data ne "c$k n$i") {
                push @bad, "client $k datagram $i: "
                    . ($r->[$i - 1] // 'none');
                next;
            }
            $tag{$tag}++;
            $port{$port}++;
        }
        push @bad, "client $k: " . scalar(@$r) . " replies" if @$r != $count;
        push @bad, "client $k: backends " . join(',', sort keys %tag)
            if keys %tag != 1;
        push @bad, "client $k: upstream sockets " . join(',', sort keys %port)
            if keys %port != 1;
        push @tags, (keys %tag)[0] // '?';
    }
    ok !@bad, "$what: all " . $n * $count . " replies on their own client's"
        . ' socket, in order, one session (backend and upstream socket) each'
        or diag join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)];
    return @tags;
}

# --- one run: the same checks with master_process off and with 2 workers

sub conf {
    my ($workers) = @_;
    my $proc = $workers ? "worker_processes $workers;" : 'master_process off;';
    my $v6 = $HAVE_V6 ? 'listen [::]:%%UDP_PORT_5%% udp;' : '';
    return <<"EOF";
$proc
events { worker_connections 1024; }
stream {
    log_format udp '\$protocol \$status \$bytes_sent \$bytes_received '
                   '\$session_time \$upstream_addr \$remote_addr:\$remote_port '
                   '\$server_addr:\$server_port \$pid';
    access_log logs/access.log udp;

    upstream bulk  { server 127.0.0.1:%%UDP_PORT_21%%; server 127.0.0.1:%%UDP_PORT_22%%; }
    upstream idle  { server 127.0.0.1:%%UDP_PORT_21%%; server 127.0.0.1:%%UDP_PORT_22%%; }
    upstream resp  { server 127.0.0.1:%%UDP_PORT_21%%; server 127.0.0.1:%%UDP_PORT_22%%; }
    upstream reqs  { server 127.0.0.1:%%UDP_PORT_21%%; server 127.0.0.1:%%UDP_PORT_22%%; }
    upstream half  { server 127.0.0.1:%%UDP_PORT_29%% max_fails=1 fail_timeout=60s;
                     server 127.0.0.1:%%UDP_PORT_21%%; }

    server { listen 127.0.0.1:%%UDP_PORT_1%% udp rcvbuf=256k;
             proxy_pass bulk; proxy_timeout 60s; }
    server { listen 127.0.0.1:%%UDP_PORT_2%% udp; proxy_pass idle; proxy_timeout 1s; }
    server { listen 127.0.0.1:%%UDP_PORT_3%% udp; proxy_pass resp; proxy_responses 1; }
    server { listen 127.0.0.1:%%UDP_PORT_4%% udp; proxy_pass reqs; proxy_requests 2;
             proxy_timeout 60s; }
    server { listen 127.0.0.1:%%UDP_PORT_10%% udp; proxy_pass 127.0.0.1:%%UDP_PORT_21%%;
             proxy_requests 2; proxy_responses 1; proxy_timeout 60s; }
    server { listen %%UDP_PORT_5%% udp; $v6
             proxy_pass 127.0.0.1:%%UDP_PORT_21%%; proxy_responses 1; }
    server { listen 127.0.0.1:%%UDP_PORT_6%% udp; proxy_pass 127.0.0.1:%%UDP_PORT_29%%;
             proxy_timeout 5s; }
    server { listen 127.0.0.1:%%UDP_PORT_7%% udp; proxy_pass half; proxy_responses 1; }
    server { listen 127.0.0.1:%%UDP_PORT_8%% udp; proxy_pass 127.0.0.1:%%UDP_PORT_23%%;
             proxy_responses 1; }
    server { listen 127.0.0.1:%%UDP_PORT_9%% udp; return "\$pid"; }
    server { listen 127.0.0.1:%%UDP_PORT_11%% udp; proxy_pass 127.0.0.1:%%UDP_PORT_21%%;
             proxy_timeout 60s; }
    server { listen 127.0.0.1:%%UDP_PORT_12%% udp; proxy_pass 127.0.0.1:%%UDP_PORT_22%%;
             proxy_responses 0; proxy_timeout 60s; }
}
EOF
}

sub run_mode {
    my ($workers) = @_;
    my $mode = $workers ? "$workers workers" : 'master_process off';
    my $t = Doorman::Test->new;
    my $P = sub { $t->udp_port_n($_[0]) };
    $t->write_file('udp_backend.pl', $BACKEND);
    backend($t, 'b1', 'echo', 'B1', $P->(21));
    backend($t, 'b2', 'echo', 'B2', $P->(22));
    backend($t, 'dns', 'dns', 'DNS', $P->(23));
    my $closed = $P->(29); # allocated free, never bound: ICMP unreachable

    $t->write_conf(conf($workers));
    my ($code, $err) = $t->test_conf;
    is $code, 0, "$mode: the configuration is valid" or diag $err;
    $t->run(wait_udp_ports => [map { $P->($_) } 1 .. 12]);
    if ($workers) {
        ok $t->wait_for(sub { $t->worker_pids == $workers }),
            "$mode: $workers workers";
    }

    # rcvbuf= on a UDP listener: the kernel doubles it (capped by rmem_max)
    SKIP: {
        skip 'ss is not installed', 1 unless $SS;
        my $max = $t->read_file('/proc/sys/net/core/rmem_max');
        skip 'net.core.rmem_max is not readable', 1 unless defined $max;
        $max =~ s/\s+//g;
        my $want = 2 * ($max < 262144 ? $max : 262144);
        my ($rc, $out) = $t->run_cmd($SS, '-H', '-u', '-l', '-n', '-m',
            'sport = :' . $P->(1));
        my @rb = $out =~ /\brb(\d+)/g;
        ok @rb == ($workers || 1) && !grep({ $_ != $want } @rb),
            "$mode: rcvbuf=256k on every UDP slot socket (rb$want)"
            or diag $out;
    }

    # --- 10 clients x 100 datagrams --------------------------------------
    my $t1 = time;
    my $bulk = bulk($P->(1), 10, 100);
    my @tags = check_bulk($bulk, 10, 100, "$mode bulk");
    my %split;
    $split{$_}++ for @tags;
    is_deeply \%split, {B1 => 5, B2 => 5},
        "$mode bulk: the 10 sessions split 5/5 over the 2 backends"
        or diag explain \%split;
    diag sprintf '%s: 1,000 datagrams in %.2f s', $mode, time - $t1;
    is scalar(log_lines($t, $P->(1))), 0,
        "$mode bulk: the sessions are still open (nothing logged)";

    my $big = 'x' x 30000;
    my $r = xchg($bulk->{clients}[0], $big);
    my (undef, undef, $bigback) = parse($r);
    ok defined $bigback && $bigback eq $big,
        "$mode: a 30,000-byte datagram goes through whole";

    # --- proxy_timeout 1s --------------------------------------------------
    {
        my $off = log_size($t);
        my $c = client($P->(2));
        my ($ta, $pa) = parse(xchg($c, 'a'));
        sleep 0.5;
        my ($tb, $pb) = parse(xchg($c, 'b'));
        ok defined $ta && defined $tb && $ta eq $tb && $pa == $pb,
            "$mode idle: a 0.5 s gap keeps the session ($ta:$pa, $tb:$pb)";
        is scalar(log_lines($t, $P->(2), $off)), 0,
            "$mode idle: not logged while open";
        sleep 1.5;
        my ($tc, $pc) = parse(xchg($c, 'c'));
        ok defined $tc && $tc ne $ta && $pc != $pa,
            "$mode idle: after 1.5 s of silence a new session, the next "
            . "backend ($ta -> " . ($tc // 'none') . ')';
        my @l = log_lines($t, $P->(2), $off);
        my $sent = length("$ta $pa a") + length("$tb $pb b");
        ok @l == 1 && $l[0]{protocol} eq 'UDP' && $l[0]{status} == 200
            && $l[0]{received} == 2 && $l[0]{sent} == $sent
            && $l[0]{time} >= 1.4 && $l[0]{time} < 2.2
            && $l[0]{upstream} eq ($ta eq 'B1' ? '127.0.0.1:' . $P->(21)
                : '127.0.0.1:' . $P->(22)),
            "$mode idle: the expired session logged: UDP 200, $sent bytes "
            . 'sent, 2 received, about 1.5 s'
            or diag explain \@l;
    }

    # --- proxy_responses 1 -------------------------------------------------
    {
        my $off = log_size($t);
        my $c = client($P->(3));
        my @r = map { [parse(xchg($c, "x$_"))] } 1 .. 4;
        my @t = map { $_->[0] // 'none' } @r;
        my %ports = map { ($_->[1] // 0) => 1 } @r;
        ok $t[0] ne $t[1] && $t[0] eq $t[2] && $t[1] eq $t[3]
            && keys %ports == 4,
            "$mode proxy_responses 1: one session per datagram, backends "
            . "alternate (@t), a new upstream socket each";
        ok $t->wait_for(sub { log_lines($t, $P->(3), $off) == 4 }, timeout => 2),
            "$mode proxy_responses 1: each session logged at once";
        my @l = log_lines($t, $P->(3), $off);
        ok !grep({ $_->{status} != 200 || $_->{received} != 2
                || $_->{time} > 0.5 } @l),
            "$mode proxy_responses 1: status 200, 2 bytes each, short"
            or diag explain \@l;
    }

    # --- proxy_requests 2 --------------------------------------------------
    {
        my $c = client($P->(4));
        my @r = map { [parse(xchg($c, "r$_"))] } 1 .. 5;
        my @t = map { $_->[0] // 'none' } @r;
        my @p = map { $_->[1] // 0 } @r;
        ok $t[0] eq $t[1] && $p[0] == $p[1] && $t[2] eq $t[3]
            && $p[2] == $p[3] && $t[2] ne $t[0] && $t[4] eq $t[0]
            && $p[4] != $p[0] && !grep({ $_ eq 'none' } @t),
            "$mode proxy_requests 2: sessions of 2 datagrams, rebalanced "
            . "(@t; @p)";

        my $off = log_size($t);
        my $d = client($P->(10));
        @r = map { [parse(xchg($d, "q$_"))] } 1 .. 3;
        @p = map { $_->[1] // 0 } @r;
        ok $p[0] && $p[0] == $p[1] && $p[2] && $p[2] != $p[0],
            "$mode proxy_requests 2 + proxy_responses 1: 2 datagrams a "
            . "session (@p)";
        ok $t->wait_for(sub {
                grep { $_->{received} == 4 } log_lines($t, $P->(10), $off)
            }, timeout => 2),
            "$mode proxy_requests 2 + proxy_responses 1: the session ends "
            . 'after its 2nd answer';
    }

    # --- proxy_responses 0: one-way traffic (syslog) ---------------------
    {
        my $off = log_size($t);
        my $boff = length($t->read_file('logs/b2.log'));
        my $c = client($P->(12));
        send $c, 'oneway 1', 0;
        ok $t->wait_for(sub { log_lines($t, $P->(12), $off) == 1 }, timeout => 1),
            "$mode proxy_responses 0: the session ends once its datagram is sent";
        send $c, 'oneway 2', 0;
        ok $t->wait_for(sub { log_lines($t, $P->(12), $off) == 2 }, timeout => 1),
            "$mode proxy_responses 0: the next datagram is a session of its own";
        ok $t->wait_for(sub {
                substr($t->read_file('logs/b2.log'), $boff)
                    =~ /oneway 1\n.*oneway 2\n/s
            }, timeout => 1),
            "$mode proxy_responses 0: the server got both datagrams";
        my @l = log_lines($t, $P->(12), $off);
        ok !grep({ $_->{status} != 200 || $_->{received} != 8
                || $_->{sent} != 0 } @l),
            "$mode proxy_responses 0: status 200, 8 bytes received, none sent"
            or diag explain \@l;
        ok quiet_for($c, 0.3),
            "$mode proxy_responses 0: the server's answers are not relayed";
    }

    # --- wildcard listener: replies from the address written to ----------
    {
        my $off = log_size($t);
        my $c = IO::Socket::INET->new(LocalAddr => '127.0.0.1', Proto => 'udp')
            or die "udp: $!";
        my @seen;
        for my $dst (qw(127.0.0.2 127.0.0.1 127.0.0.3)) {
            send $c, "w $dst", 0, pack_sockaddr_in($P->(5), inet_aton($dst));
            my $from;
            my $data;
            if (IO::Select->new($c)->can_read(3)) {
                $from = recv $c, $data, 65536, 0;
            }
            my ($port, $addr) = $from ? unpack_sockaddr_in($from) : ();
            my $src = $addr ? inet_ntop(AF_INET, $addr) . ":$port" : 'none';
            is $src, "$dst:" . $P->(5),
                "$mode wildcard: the reply to $dst comes from $dst";
            like $data // '', qr/^B1 \d+ w \Q$dst\E\z/,
                "$mode wildcard: the answer to $dst";
        }
        ok $t->wait_for(sub { log_lines($t, $P->(5), $off) == 3 }, timeout => 2),
            "$mode wildcard: 3 sessions logged";
        my %server = map { $_->{server} => 1 } log_lines($t, $P->(5), $off);
        is_deeply [sort keys %server],
            [map { "$_:" . $P->(5) } qw(127.0.0.1 127.0.0.2 127.0.0.3)],
            "$mode wildcard: \$server_addr is the address written to";
        SKIP: {
            skip 'no IPv6 loopback', 2 unless $HAVE_V6;
            my $c6 = IO::Socket::IP->new(LocalHost => '::1', Proto => 'udp',
                Family => AF_INET6) or die "udp6: $@";
            send $c6, 'w6', 0, pack_sockaddr_in6($P->(5),
                Socket::inet_pton(AF_INET6, '::1'));
            my ($from, $data);
            $from = recv $c6, $data, 65536, 0
                if IO::Select->new($c6)->can_read(3);
            my ($port, $addr) = $from ? unpack_sockaddr_in6($from) : ();
            is $addr ? '[' . inet_ntop(AF_INET6, $addr) . "]:$port" : 'none',
                '[::1]:' . $P->(5),
                "$mode wildcard [::]: the reply comes from ::1";
            like $data // '', qr/^B1 \d+ w6\z/, "$mode wildcard [::]: answered";
        }
    }

    # --- an upstream that is down ------------------------------------------
    {
        my $off = log_size($t);
        my $eoff = length($t->error_log // '');
        my $c = client($P->(6));
        send $c, 'lost', 0;
        ok quiet_for($c, 1), "$mode down: no reply from a closed port";
        ok $t->wait_for(sub {
                substr($t->error_log // '', $eoff)
                    =~ /upstream 127\.0\.0\.1:$closed failed \(UDP\)/
            }, timeout => 2),
            "$mode down: the error log names the failed upstream";
        like substr($t->error_log // '', $eoff), qr/Connection refused/,
            "$mode down: ... with the ICMP error";
        ok $t->wait_for(sub {
                grep { $_->{status} == 502 } log_lines($t, $P->(6), $off)
            }, timeout => 2),
            "$mode down: the access log has status 502";
        my ($l) = log_lines($t, $P->(6), $off);
        is $l->{upstream} // '', "127.0.0.1:$closed",
            "$mode down: ... and the upstream tried";

        # two datagrams back to back: the ICMP error may come back on the
        # second send() (which consumes it) rather than on recv(); the
        # session must end with 502 all the same, not wait for
        # proxy_timeout (5 s) as a success
        $off = log_size($t);
        my $c2 = client($P->(6));
        send $c2, 'lost 1', 0;
        send $c2, 'lost 2', 0;
        ok quiet_for($c2, 1), "$mode down: no reply to two datagrams";
        my @l = log_lines($t, $P->(6), $off);
        ok @l && !grep({ $_->{status} != 502 } @l),
            "$mode down: two datagrams back to back: 502 at once"
            or diag explain \@l;

        # passive failure: the dead peer is skipped by the next sessions
        my @who;
        for my $i (1 .. 4) {
            my $ci = client($P->(7));
            my ($tag) = parse(xchg($ci, "h$i", 1));
            push @who, $tag // 'none';
        }
        is "@who", 'none B1 B1 B1',
            "$mode down: with max_fails=1 the dead peer gets one session, "
            . 'then is skipped';
    }

    # --- DNS ---------------------------------------------------------------
    {
        my $off = log_size($t);
        my $q = pack('n n n n n n', 0x1234, 0x0100, 1, 0, 0, 0)
            . "\3www\7example\4test\0" . pack('n n', 1, 1);
        my $a = xchg(client($P->(8)), $q);
        ok defined $a && length $a == length($q) + 16
            && substr($a, 0, 2) eq "\x12\x34"
            && (unpack('n', substr $a, 2, 2) & 0x8400) == 0x8400
            && substr($a, -4) eq "\xc0\x00\x02\x01",
            "$mode dns: a hand-made query gets 192.0.2.1 through doorman";
        SKIP: {
            skip 'dig is not installed (package bind9-dnsutils)', 3
                unless $DIG;
            my ($rc, $out, $err) = $t->run_cmd($DIG, '@127.0.0.1', '-p',
                $P->(8), '+tries=1', '+time=3', '+short', 'a.doorman.test',
                'A', {timeout => 10});
            is $rc, 0, "$mode dns: dig exits 0" or diag "$out$err";
            is $out, "192.0.2.1\n", "$mode dns: dig resolves through doorman";
            like $t->read_file('logs/dns.log'), qr/^query a\.doorman\.test type 1$/m,
                "$mode dns: the responder got dig's query";
        }
        ok $t->wait_for(sub {
                my @l = log_lines($t, $P->(8), $off);
                @l && !grep { $_->{status} != 200 } @l;
            }, timeout => 2),
            "$mode dns: the sessions end with the answer (proxy_responses 1)";
    }

    # --- return, and the workers each client reaches ----------------------
    {
        my %pids;
        my $sticky = 1;
        for (1 .. 40) {
            my $c = client($P->(9));
            my @p = map { xchg($c, 'pid') // 'none' } 1 .. 3;
            $sticky = 0 if $p[0] ne $p[1] || $p[0] ne $p[2] || $p[0] !~ /^\d+$/;
            $pids{$p[0]}++;
        }
        ok $sticky, "$mode return: each datagram answered with \$pid, the "
            . 'same for all datagrams of a socket';
        my @workers = $workers ? sort($t->worker_pids) : ($t->pid);
        is_deeply [sort keys %pids], [sort @workers],
            "$mode return: 40 sockets reached "
            . ($workers ? 'both workers' : 'the single process');
    }

    # --- reload (2 workers): old sessions are reclaimed --------------------
    if ($workers) {
        my $c = client($P->(11));
        my (undef, $p1) = parse(xchg($c, 'before'));
        my $boff = length($t->read_file('logs/b1.log'));
        send $c, 'delay=1.5 pending', 0;
        ok $t->wait_for(sub {
                substr($t->read_file('logs/b1.log'), $boff) =~ /delay=1\.5/
            }, timeout => 2), "$mode reload: a request pending upstream";
        my $off = log_size($t);
        my @old = $t->worker_pids;
        my $r0 = time;
        ok $t->reload, "$mode reload: reloaded";
        ok $t->wait_for(sub {
                my %now = map { $_ => 1 } $t->worker_pids;
                !grep { $now{$_} } @old;
            }, timeout => 3),
            "$mode reload: the old workers, holding open UDP sessions, "
            . 'exit at once';
        diag sprintf '%s: old workers gone %.2f s after the HUP', $mode,
            time - $r0;
        my (undef, $p2, $d2) = parse(xchg($c, 'after'));
        ok $p1 && $p2 && $p2 != $p1 && $d2 eq 'after',
            "$mode reload: the next datagram is a new session in a new worker";
        my @l = log_lines($t, $P->(11), $off);
        my %old = map { $_ => 1 } @old;
        ok @l == 1 && $old{$l[0]{pid}} && $l[0]{status} == 200,
            "$mode reload: the old session was closed and logged at the reload"
            or diag explain \@l;
        ok quiet_for($c, 1.5),
            "$mode reload: the answer still due to the old session is lost "
            . '(its socket was closed)';
        is scalar(log_lines($t, $P->(1), $off)), 10,
            "$mode reload: the 10 bulk sessions were closed with the old "
            . 'workers';
        # the bulk clients start new sessions in the new workers
        my $again = bulk($P->(1), 10, 3, $bulk->{clients});
        is $again->{missing}, 0,
            "$mode reload: the bulk clients get answers after the reload";
        $bulk = $again;
    }

    # --- graceful exit with open sessions ----------------------------------
    {
        my $off = log_size($t);
        my $q0 = time;
        my ($status, $killed) = $t->stop(signal => 'QUIT', timeout => 10);
        my $took = time - $q0;
        ok !$killed && $took < 3,
            sprintf "$mode QUIT: exits in %.2f s with 10 open UDP sessions",
            $took;
        my @l = log_lines($t, $P->(1), $off);
        is scalar(@l), 10, "$mode QUIT: the 10 open sessions are logged";
        if (!$workers) {
            # the original sessions: exact byte counts over 100 datagrams
            # and the big one
            my $ok = 1;
            my %by_port = map { ($_->{remote} =~ /:(\d+)\z/)[0] => $_ } @l;
            for my $k (0 .. 9) {
                my $s = $bulk->{clients}[$k];
                my $line = $by_port{$s->sockport} or ($ok = 0, next);
                my $recv = 0;
                my $sent = 0;
                $recv += length "c$k n$_" for 1 .. 100;
                $sent += length $_ for @{$bulk->{replies}[$k]};
                if ($k == 0) {
                    $recv += 30000;
                    $sent += length $r;
                }
                $ok = 0 if $line->{received} != $recv || $line->{sent} != $sent
                    || $line->{status} != 200;
            }
            ok $ok, "$mode QUIT: each session logged with its exact "
                . '$bytes_received and $bytes_sent' or diag explain \@l;
        }
        unlike $t->error_log, qr/\[(?:alert|crit|emerg)\]/,
            "$mode: no alert in the error log";
    }
    $t->stop_all;
}

run_mode(0);
run_mode(2);

# --- worker_connections short: old sessions make room, QUIT is prompt -----
#
# Each session takes two slots (its pseudo-connection and its upstream
# socket). When a new session's connect finds no slot, idle sessions are
# closed to make room; the new session itself must stay reclaimable, or a
# graceful exit waits for its proxy_timeout. With the slots left after the
# listener odd in one of the two runs, the last slot goes to a new
# session's pseudo-connection and its connect is what drains.
for my $wc (5, 6) {
    my $t = Doorman::Test->new;
    $t->write_file('udp_backend.pl', $BACKEND);
    backend($t, 'b1', 'echo', 'B1', $t->udp_port_n(21));
    $t->write_conf(<<"EOF");
master_process off;
events { worker_connections $wc; }
stream {
    log_format udp '\$protocol \$status \$bytes_sent \$bytes_received '
                   '\$session_time \$upstream_addr \$remote_addr:\$remote_port '
                   '\$server_addr:\$server_port \$pid';
    access_log logs/access.log udp;
    server { listen 127.0.0.1:%%UDP_PORT_1%% udp; proxy_pass 127.0.0.1:%%UDP_PORT_21%%;
             proxy_timeout 60s; }
}
EOF
    $t->run(wait_udp_ports => [$t->udp_port_n(1)]);
    my @c = map { client($t->udp_port_n(1)) } 1 .. 6;
    my @r = map { (parse(xchg($c[$_], "s$_")))[2] // 'none' } 0 .. 5;
    is "@r", 's0 s1 s2 s3 s4 s5',
        "worker_connections $wc: 6 sessions one after the other all answered";
    my $q0 = time;
    my (undef, $killed) = $t->stop(signal => 'QUIT', timeout => 10);
    my $took = time - $q0;
    ok !$killed && $took < 3,
        sprintf "worker_connections $wc: QUIT exits in %.2f s", $took;
    my @l = log_lines($t, $t->udp_port_n(1));
    is scalar(@l), 6, "worker_connections $wc: every session logged"
        or diag explain \@l;
    $t->stop_all;
}

# --- doorman -t -----------------------------------------------------------

{
    my $t = Doorman::Test->new;
    my $check = sub {
        my ($body) = @_;
        $t->write_conf("events { worker_connections 64; }\nstream {\n$body\n}\n");
        return $t->test_conf;
    };
    my ($code, $err) = $check->(
        'server { listen unix:%%PREFIX%%/x udp; proxy_pass 127.0.0.1:1; }');
    isnt $code, 0, '-t: listen unix:... udp is refused';
    like $err, qr/invalid parameter "udp"/, '-t: ... naming the parameter';

    ($code, $err) = $check->(
        'server { listen 127.0.0.1:%%UDP_PORT_1%% udp; proxy_pass 127.0.0.1:1; }'
        . ' server { listen 127.0.0.1:%%UDP_PORT_1%% udp; proxy_pass 127.0.0.1:2; }');
    isnt $code, 0, '-t: two UDP listeners on one address are refused';
    like $err, qr/duplicate/, '-t: ... as a duplicate';

    ($code, $err) = $check->(
        'server { listen 127.0.0.1:%%UDP_PORT_1%% udp; proxy_pass 127.0.0.1:1; }'
        . ' server { listen 127.0.0.1:%%UDP_PORT_1%%; proxy_pass 127.0.0.1:2; }');
    is $code, 0, '-t: TCP and UDP on one port are valid' or diag $err;

    for my $bad ('proxy_requests -1;', 'proxy_responses x;') {
        ($code, $err) = $check->('server { listen 127.0.0.1:%%UDP_PORT_1%% '
            . "udp; proxy_pass 127.0.0.1:1; $bad }");
        isnt $code, 0, "-t: $bad is refused";
    }
}

diag sprintf 'udp.t: %.1f s', time - $T0;
done_testing;
