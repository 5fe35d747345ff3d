#!/usr/bin/perl
#
# doorman: the backends and the bulk client of t/tcp_stream.t (core Perl
# only). Every server mode listens on 127.0.0.1, says "ready" on stdout
# and logs there; every wait is bounded, and nothing outlives the test
# (the harness kills the process group).
#
#   sha PORT SIZE        per connection: hash what arrives until EOF, then
#                        send "RECV <sha256 hex> <length>\n", SIZE random
#                        bytes and the sha256 hex of those bytes; close.
#   halfclose PORT FILE  per connection: send "hello\n", shut the write
#                        side, read until EOF, append "<length> <sha256>\n"
#                        to FILE, close.
#   reset PORT SIZE      per connection: read one line, send SIZE bytes,
#                        then reset the connection (SO_LINGER 0).
#   drip PORT N SIZE GAP per connection: send N blocks of SIZE bytes, GAP
#                        seconds apart, then close.
#   bulk POOL N UP DOWN PORT...
#                        one process, every port: each connection sends
#                        "ID\n" and UP bytes of POOL from offset
#                        ID*7919 % (len - UP); once N uploads are complete
#                        at once (or nothing moved for 10 s) every
#                        connection gets "OK ID\n" (or "BAD ID\n") and DOWN
#                        bytes of POOL from ID*104729 % (len - DOWN), and
#                        is closed. Logs "round: max_concurrent M ok K bad B"
#                        per round.
#   late PORT SIZE       per connection: send SIZE bytes (64k writes,
#                        TCP_NODELAY), then wait for the client's EOF, close.
#   client PORT N UP DOWN POOL TIMEOUT
#                        the other side of bulk: N connections at once,
#                        each sends "ID\n" and its UP bytes and expects
#                        "OK ID\n" and its DOWN bytes, then EOF; prints
#                        "result ok K bad B incomplete I connfail F" and
#                        a "why" line per kind of failure.
#   pipes N              as the user nobody: open N pipes, say
#                        "holding N", sleep (at most 120 s).
use strict;
use warnings;
use Digest::SHA;
use IO::Socket::INET;
use POSIX ();
use Socket qw(IPPROTO_TCP SOL_SOCKET SO_LINGER SHUT_WR TCP_NODELAY);
use Time::HiRes qw(time);

$| = 1;
my ($mode, @a) = @ARGV;

sub listener {
    my ($port) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
        Listen => 4096, ReuseAddr => 1, Proto => 'tcp')
        or die "listen $port: $!\n";
    return $l;
}

sub forking {
    my ($l, $handler) = @_;
    $SIG{CHLD} = 'IGNORE';
    for (;;) {
        my $c = $l->accept or next;
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            close $l;
            alarm 60;
            $handler->($c);
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub read_to_eof {
    my ($c) = @_;
    my ($sha, $len) = (Digest::SHA->new(256), 0);
    while (1) {
        my $n = sysread $c, my $buf, 262144;
        die "recv: $!\n" unless defined $n;
        last if $n == 0;
        $len += $n;
        $sha->add($buf);
    }
    return ($sha->hexdigest, $len);
}

sub write_all {
    my ($c, $buf) = @_;
    my $off = 0;
    while ($off < length $buf) {
        my $n = syswrite $c, $buf, length($buf) - $off, $off;
        die "send: $!\n" unless defined $n;
        $off += $n;
    }
}

if ($mode eq 'sha') {
    my ($port, $size) = @a;
    my $l = listener($port);
    print "ready\n";
    forking($l, sub {
        my ($c) = @_;
        my ($hex, $len) = read_to_eof($c);
        print "received $len bytes, sha256 $hex\n";
        write_all($c, "RECV $hex $len\n");
        open my $rnd, '<:raw', '/dev/urandom' or die "urandom: $!\n";
        my $sha = Digest::SHA->new(256);
        my $left = $size;
        while ($left > 0) {
            my $want = $left > 1048576 ? 1048576 : $left;
            my $buf;
            my $got = read $rnd, $buf, $want;
            die "urandom: short read\n" unless $got && $got == $want;
            $sha->add($buf);
            write_all($c, $buf);
            $left -= $want;
        }
        my $sent = $sha->hexdigest;
        write_all($c, $sent);
        print "sent $size bytes, sha256 $sent\n";
        close $c;
    });
} elsif ($mode eq 'halfclose') {
    my ($port, $file) = @a;
    my $l = listener($port);
    print "ready\n";
    forking($l, sub {
        my ($c) = @_;
        write_all($c, "hello\n");
        shutdown $c, SHUT_WR;
        my ($hex, $len) = read_to_eof($c);
        open my $out, '>>', $file or die "$file: $!\n";
        print {$out} "$len $hex\n";
        close $out;
        close $c;
    });
} elsif ($mode eq 'reset') {
    my ($port, $size) = @a;
    my $l = listener($port);
    print "ready\n";
    forking($l, sub {
        my ($c) = @_;
        my $line = <$c>;
        write_all($c, 'x' x $size);
        setsockopt $c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0);
        close $c;
        print "reset after $size bytes\n";
    });
} elsif ($mode eq 'late') {
    my ($port, $size) = @a;
    my $l = listener($port);
    print "ready\n";
    forking($l, sub {
        my ($c) = @_;
        setsockopt $c, IPPROTO_TCP, TCP_NODELAY, 1;
        write_all($c, 'z' x 65536) for 1 .. $size / 65536;
        read_to_eof($c);
        close $c;
    });
} elsif ($mode eq 'drip') {
    my ($port, $n, $size, $gap) = @a;
    my $l = listener($port);
    print "ready\n";
    forking($l, sub {
        my ($c) = @_;
        for (1 .. $n) {
            write_all($c, 'd' x $size);
            select undef, undef, undef, $gap;
        }
        close $c;
    });
} elsif ($mode eq 'bulk') {
    bulk(@a);
} elsif ($mode eq 'client') {
    client(@a);
} elsif ($mode eq 'pipes') {
    my ($n) = @a;
    $( = $) = "65534 65534";
    $< = $> = 65534;
    die "cannot become nobody\n" unless $< == 65534 && $> == 65534;
    my @p;
    for (1 .. $n) {
        pipe my $r, my $w or die "pipe $_: $!\n";
        push @p, [$r, $w];
    }
    print "holding $n\n";
    sleep 120;
} else {
    die "unknown mode $mode\n";
}

sub ready_fds {
    my ($bits) = @_;
    my $b = unpack 'b*', $bits;
    my @fds;
    my $i = -1;
    push @fds, $i while ($i = index($b, '1', $i + 1)) >= 0;
    return @fds;
}

sub bulk {
    my ($poolfile, $expect, $up, $down, @ports) = @_;
    open my $pf, '<:raw', $poolfile or die "$poolfile: $!\n";
    my $pool = do { local $/; <$pf> };
    close $pf;
    my $plen = length $pool;
    my (%lis, %conn);
    my ($rin, $win) = ('', '');
    for my $p (@ports) {
        my $l = listener($p);
        $l->blocking(0);
        $lis{fileno $l} = $l;
        vec($rin, fileno $l, 1) = 1;
    }
    print "ready\n";
    my ($complete, $max, $ok, $bad, $release, $last) = (0, 0, 0, 0, 0, time);
    my @waiting;
    my $drop = sub {
        my ($c) = @_;
        vec($rin, $c->{fd}, 1) = 0;
        vec($win, $c->{fd}, 1) = 0;
        close $c->{s};
        delete $conn{$c->{fd}};
    };
    for (;;) {
        my $n = select(my $rout = $rin, my $wout = $win, undef, 0.5);
        for my $fd ($n > 0 ? ready_fds($rout) : ()) {
            if (my $l = $lis{$fd}) {
                while (my $s = $l->accept) {
                    $s->blocking(0);
                    my $f = fileno $s;
                    $conn{$f} = {s => $s, fd => $f, hdr => '', got => 0};
                    vec($rin, $f, 1) = 1;
                }
                next;
            }
            my $c = $conn{$fd} or next;
            my $r = sysread $c->{s}, my $buf, 1048576;
            next if !defined $r && $!{EAGAIN};
            if (!$r) {    # EOF or error before the upload ended
                # (a readiness probe connects and closes: not a session)
                if (defined $c->{id} || length $c->{hdr}) {
                    print "conn $fd: early ", (defined $r ? 'EOF' : $!), "\n";
                    $bad++;
                }
                $drop->($c);
                next;
            }
            $last = time;
            unless (defined $c->{id}) {
                $c->{hdr} .= $buf;
                my $nl = index $c->{hdr}, "\n";
                next if $nl < 0;
                $c->{id} = substr $c->{hdr}, 0, $nl;
                $buf = substr $c->{hdr}, $nl + 1;
                $c->{base} = ($c->{id} * 7919) % ($plen - $up);
                $c->{match} = 1;
            }
            if (length $buf) {
                $c->{match} = 0 if $c->{got} + length($buf) > $up
                    || substr($pool, $c->{base} + $c->{got}, length $buf)
                    ne $buf;
                $c->{got} += length $buf;
            }
            if ($c->{got} >= $up) {
                vec($rin, $fd, 1) = 0;
                $complete++;
                $max = $complete if $complete > $max;
                push @waiting, $c;
            }
        }
        if (@waiting
            && ($release || $complete >= $expect || time - $last > 10)) {
            printf "release after %.2f s\n", time - $^T unless $release;
            $release = 1;
            for my $c (@waiting) {
                my $good = $c->{match} && $c->{got} == $up;
                $good ? $ok++ : $bad++;
                $c->{out} = ($good ? 'OK' : 'BAD') . " $c->{id}\n" . substr(
                    $pool, ($c->{id} * 104729) % ($plen - $down), $down);
                $c->{off} = 0;
                vec($win, $c->{fd}, 1) = 1;
            }
            @waiting = ();
            next;
        }
        for my $fd ($n > 0 ? ready_fds($wout) : ()) {
            my $c = $conn{$fd} or next;
            my $w = syswrite $c->{s}, $c->{out}, length($c->{out}) - $c->{off},
                $c->{off};
            next if !defined $w && $!{EAGAIN};
            if (!defined $w) {
                print "conn $fd: send: $!\n";
                $c->{off} = length $c->{out};
            } else {
                $c->{off} += $w;
                $last = time;
            }
            if ($c->{off} >= length $c->{out}) {
                $drop->($c);
                $complete--;
            }
        }
        if ($release && $complete == 0) {
            print "round: max_concurrent $max ok $ok bad $bad\n";
            ($max, $ok, $bad, $release) = (0, 0, 0, 0);
        }
    }
}

sub client {
    my ($port, $n, $up, $down, $poolfile, $timeout) = @_;
    open my $pf, '<:raw', $poolfile or die "$poolfile: $!\n";
    my $pool = do { local $/; <$pf> };
    close $pf;
    my $plen = length $pool;
    my $deadline = time + $timeout;
    my %conn;
    my $connfail = 0;
    for my $i (0 .. $n - 1) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $port, Proto => 'tcp', Timeout => 5);
        unless ($s) {
            $connfail++;
            next;
        }
        $s->blocking(0);
        $conn{fileno $s} = {s => $s, fd => fileno $s, id => $i, off => 0,
            out => "$i\n" . substr($pool, ($i * 7919) % ($plen - $up), $up),
            in => '', base => ($i * 104729) % ($plen - $down)};
    }
    my $t0 = time;
    print "connected ", scalar(keys %conn), " failed $connfail\n";
    my ($ok, $bad, %why) = (0, 0);
    my ($rin, $win) = ('', '');
    for my $c (values %conn) {
        vec($rin, $c->{fd}, 1) = 1;
        vec($win, $c->{fd}, 1) = 1;
    }
    while (%conn && time < $deadline) {
        my $r = select(my $rout = $rin, my $wout = $win, undef, 0.5);
        next unless $r > 0;
        for my $fd (ready_fds($wout)) {
            my $c = $conn{$fd} or next;
            my $w = syswrite $c->{s}, $c->{out},
                length($c->{out}) - $c->{off}, $c->{off};
            if (defined $w) {
                $c->{off} += $w;
            } elsif (!$!{EAGAIN}) {
                $c->{off} = length $c->{out};
                $why{"send: $!"}++;
            }
            vec($win, $fd, 1) = 0 if $c->{off} >= length $c->{out};
        }
        for my $fd (ready_fds($rout)) {
            my $c = $conn{$fd} or next;
            my $got = sysread $c->{s}, my $buf, 1048576;
            next if !defined $got && $!{EAGAIN};
            if ($got) {
                unless ($c->{hdr_done}) {
                    $c->{in} .= $buf;
                    my $nl = index $c->{in}, "\n";
                    next if $nl < 0;
                    $c->{hdr} = substr $c->{in}, 0, $nl;
                    $buf = substr $c->{in}, $nl + 1;
                    $c->{hdr_done} = 1;
                    $c->{got} = 0;
                    $c->{match} = 1;
                }
                if (length $buf) {
                    $c->{match} = 0 if $c->{got} + length($buf) > $down
                        || substr($pool, $c->{base} + $c->{got}, length $buf)
                        ne $buf;
                    $c->{got} += length $buf;
                }
                next;
            }
            # EOF or error: the whole answer must be there
            if (defined $got && $c->{hdr_done} && $c->{hdr} eq "OK $c->{id}"
                && $c->{match} && $c->{got} == $down) {
                $ok++;
            } else {
                $bad++;
                my $w = !defined $got ? "recv: $!"
                    : !$c->{hdr_done} ? 'no header'
                    : $c->{hdr} ne "OK $c->{id}" ? "header $c->{hdr}"
                    : $c->{got} != $down ? "length $c->{got}" : 'content';
                $why{$w}++;
            }
            vec($rin, $fd, 1) = 0;
            vec($win, $fd, 1) = 0;
            close $c->{s};
            delete $conn{$fd};
        }
    }
    my $inc = keys %conn;
    printf "transfer %.2f s\n", time - $t0;
    print "result ok $ok bad $bad incomplete $inc connfail $connfail\n";
    print "why $_: $why{$_}\n" for sort keys %why;
}
