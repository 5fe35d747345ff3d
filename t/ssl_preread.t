#!/usr/bin/perl
#
# ssl_preread: TLS passthrough routed by SNI (issue 8, DESIGN.md section
# 6), through the real binary, with real TLS on both ends.
#
# The test makes a CA and two certificates (a.test, b.test) with the
# openssl command, runs two `openssl s_server` backends, each with its own
# key, and doorman with
#
#   map $ssl_preread_server_name $backend { a.test a_up; b.test b_up;
#                                           default a_up; }
#   ssl_preread on;  proxy_pass $backend;
#
#   1. `openssl s_client -servername a.test` reaches backend a and
#      verifies its certificate (a.test, by the CA: doorman holds no key);
#      b.test reaches b; an unknown name, a name in upper case and a
#      TLS 1.2 client route as they should.
#   2. A ClientHello written in two segments 50 ms apart, and one cut into
#      several TLS records sent 20 ms apart (a small relay in front of
#      doorman re-writes what s_client sends), routes the same and the
#      handshake completes: the bytes read ahead reached the backend.
#   3. A ClientHello of about 1.8 KB (an ffdhe8192 key share of 1 KB and a
#      long ALPN list) is read whole and routed by its SNI, in one record
#      and cut into records; with preread_buffer_size 1k it is refused.
#   4. The variables, through `return`: a ClientHello captured from
#      s_client, sent whole and in two segments, gives the same
#      $ssl_preread_server_name, _alpn_protocols and _protocol; without
#      ssl_preread they are empty.
#   5. Refused, with $status 400, a log line saying why and nothing sent
#      upstream: bytes that are not TLS (closed at once), a malformed
#      ClientHello (at once), a partial one and a silent client (at
#      preread_timeout, 1s); then doorman still serves.
#   6. doorman -t refuses bad values of the three directives.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use IO::Select;
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;

my $probe = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
plan skip_all => 'tcp_stream is not built in' unless $probe->has('tcp_stream');
my ($oc, $ov) = $probe->run_cmd('openssl', 'version', {timeout => 10});
plan skip_all => 'no openssl command' unless $oc == 0 && $ov =~ /SSL/;
undef $probe;

my $t = Doorman::Test->new;
my $dir = $t->path('tls');
mkdir $dir or die "mkdir $dir: $!";

# --- a CA and two certificates ----------------------------------------------

sub openssl {
    my ($code, $out, $err) = $t->run_cmd('openssl', @_, {timeout => 60});
    die "openssl @_: $err" if $code;
    return $out;
}

openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-subj', '/CN=doorman test CA', '-keyout', "$dir/ca.key",
    '-out', "$dir/ca.pem");
for my $n (qw(a b)) {
    $t->write_file("tls/$n.ext", "subjectAltName=DNS:$n.test\n");
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', "/CN=$n.test",
        '-keyout', "$dir/$n.key", '-out', "$dir/$n.csr");
    openssl('x509', '-req', '-in', "$dir/$n.csr", '-CA', "$dir/ca.pem",
        '-CAkey', "$dir/ca.key", '-CAcreateserial', '-days', '2',
        '-extfile', "$dir/$n.ext", '-out', "$dir/$n.pem");
}

# --- the relay that re-writes a ClientHello ----------------------------------

# relay.pl LISTEN_PORT TO_PORT MODE: for each connection, reads the
# client's ClientHello, sends it to TO_PORT cut as MODE says ("split":
# two segments 50 ms apart; "records:N": the handshake message in records
# of N bytes, each its own segment 20 ms apart, the first record's header
# itself cut in two), then relays both ways until both sides are done.
$t->write_file('relay.pl', <<'EOF');
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep);

my ($lport, $tport, $mode) = @ARGV;
my $ls = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$lport",
    Listen => 16, ReuseAddr => 1) or die "listen: $!";

# The stream up to the end of a complete ClientHello, and the message.
sub hello {
    my ($buf) = @_;
    my ($pos, $hs) = (0, '');
    while ($pos + 5 <= length $buf) {
        my $len = unpack 'n', substr($buf, $pos + 3, 2);
        last if $pos + 5 + $len > length $buf;
        $hs .= substr($buf, $pos + 5, $len);
        $pos += 5 + $len;
        if (length $hs >= 4) {
            my $need = 4 + unpack('N', "\0" . substr($hs, 1, 3));
            return ($pos, $hs) if length $hs >= $need;
        }
    }
    return;
}

while (my $c = $ls->accept) {
    my $buf = '';
    my ($end, $hs);
    my $sel = IO::Select->new($c);
    while (!defined $end && $sel->can_read(5)) {
        my $n = sysread $c, $buf, 65536, length $buf;
        last unless $n;
        ($end, $hs) = hello($buf);
    }
    unless (defined $end) { close $c; next; }    # a readiness probe
    my $u = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$tport")
        or do { close $c; next };
    setsockopt $u, IPPROTO_TCP, TCP_NODELAY, 1;
    my (@pieces, $gap);
    if ($mode eq 'split') {
        my $half = int(length($buf) / 2);
        @pieces = (substr($buf, 0, $half), substr($buf, $half));
        $gap = 0.05;
    } else {
        my ($size) = $mode =~ /^records:(\d+)$/ or die "mode $mode";
        for (my $off = 0; $off < length $hs; $off += $size) {
            my $frag = substr($hs, $off, $size);
            push @pieces, pack('CCCn', 22, 3, $off ? 3 : 1, length $frag)
                . $frag;
        }
        unshift @pieces, substr($pieces[0], 0, 3, '');
        push @pieces, substr($buf, $end) if $end < length $buf;
        $gap = 0.02;
    }
    for my $i (0 .. $#pieces) {
        syswrite $u, $pieces[$i];
        sleep $gap if $i < $#pieces;
    }
    # both ways, passing each side's end on, for 10 s at most
    my %peer = ($c => $u, $u => $c);
    my $io = IO::Select->new($c, $u);
    my $deadline = time + 10;
    while ($io->count && time < $deadline) {
        for my $s ($io->can_read(1)) {
            my $n = sysread $s, my $data, 65536;
            if ($n) {
                syswrite $peer{$s}, $data;
                next;
            }
            shutdown $peer{$s}, 1;
            $io->remove($s);
        }
    }
    close $c;
    close $u;
}
EOF

# --- the backends and doorman ------------------------------------------------

my ($pa, $pb) = ($t->port_n(2), $t->port_n(3));
my %backend;
for my $n (qw(a b)) {
    $backend{$n} = $t->spawn(name => "s_server_$n", wait_ports => [
            $n eq 'a' ? $pa : $pb],
        cmd => ['openssl', 's_server', '-accept',
            '127.0.0.1:' . ($n eq 'a' ? $pa : $pb), '-cert', "$dir/$n.pem",
            '-key', "$dir/$n.key", '-www', '-quiet']);
}

$t->write_conf(<<'EOF');
error_log logs/error.log info;
events { worker_connections 128; }
stream {
    map $ssl_preread_server_name $backend {
        a.test  a_up;
        b.test  b_up;
        default a_up;
    }
    upstream a_up { server 127.0.0.1:%%PORT_2%%; }
    upstream b_up { server 127.0.0.1:%%PORT_3%%; }

    log_format sni '$server_port $status "$ssl_preread_server_name" '
                   '"$ssl_preread_alpn_protocols" "$ssl_preread_protocol" '
                   '"$upstream_addr" $bytes_received';
    access_log logs/sni.log sni;

    ssl_preread on;
    preread_timeout 1s;

    server {
        listen 127.0.0.1:%%PORT_1%%;
        proxy_pass $backend;
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        preread_buffer_size 1k;
        proxy_pass $backend;
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        return "$ssl_preread_server_name|$ssl_preread_alpn_protocols|$ssl_preread_protocol\n";
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        ssl_preread off;
        return "[$ssl_preread_server_name$ssl_preread_protocol]\n";
    }
}
EOF
my ($code, $err) = $t->test_conf;
is $code, 0, 'doorman -t accepts the configuration' or diag $err;
my ($port, $small, $vars, $off) = map { $t->port_n($_) } 1, 4, 5, 6;
$t->run(wait_ports => [$port, $small, $vars, $off]);

my $relay_split = $t->port;
my $relay_rec = $t->port;
my $relay_big = $t->port;
for ([$relay_split, 'split'], [$relay_rec, 'records:80'],
    [$relay_big, 'records:500']) {
    $t->spawn(name => "relay_$_->[0]", wait_ports => [$_->[0]],
        cmd => [$^X, $t->path('relay.pl'), $_->[0], $port, $_->[1]]);
}

# s_client through doorman: (exit code, the certificate's subject CN,
# verified, the whole output).
sub s_client {
    my ($p, $name, @extra) = @_;
    my ($c, $out, $e) = $t->run_cmd('openssl', 's_client', '-connect',
        "127.0.0.1:$p", '-servername', $name, '-CAfile', "$dir/ca.pem",
        '-verify_return_error', @extra, {timeout => 15, stdin => "\n"});
    my ($cn) = $out =~ /^subject=.*CN\s*=\s*([\w.]+)/m;
    my $ok = $out =~ /Verify return code: 0 \(ok\)/ ? 1 : 0;
    return ($c, $cn // '', $ok, "$out$e");
}

sub routes_to {
    my ($p, $name, $want, $what, @extra) = @_;
    my ($c, $cn, $ok, $out) = s_client($p, $name, @extra);
    ok $c == 0 && $cn eq $want && $ok, "$what: verified $want"
        or diag "exit $c, subject '$cn'\n$out";
}

# --- 1. routing by SNI -------------------------------------------------------

routes_to($port, 'a.test', 'a.test', 'a.test', '-verify_hostname', 'a.test');
routes_to($port, 'b.test', 'b.test', 'b.test', '-verify_hostname', 'b.test',
    '-alpn', 'h2,http/1.1');
routes_to($port, 'unknown.test', 'a.test', 'an unknown name: the default');
routes_to($port, 'B.Test', 'b.test', 'a name in upper case');
routes_to($port, 'b.test', 'b.test', 'TLS 1.2', '-tls1_2');

# --- 2. a ClientHello in pieces ---------------------------------------------

routes_to($relay_split, 'b.test', 'b.test',
    'ClientHello in two segments 50 ms apart', '-verify_hostname', 'b.test');
routes_to($relay_split, 'a.test', 'a.test',
    'ClientHello in two segments (a.test)');
routes_to($relay_rec, 'b.test', 'b.test',
    'ClientHello in records of 80 bytes, 20 ms apart',
    '-verify_hostname', 'b.test');

# --- 3. a ClientHello of 1.8 KB ----------------------------------------------

my $alpn = join ',', 'h2', 'http/1.1', map { ('x' x 60) . $_ } 0 .. 7;
my @big = ('-groups', 'ffdhe8192', '-alpn', $alpn);
my ($direct) = s_client($pa, 'a.test', @big);
if ($direct != 0) {
    # no ffdhe8192 in this OpenSSL: the size from the ALPN list alone
    $alpn = join ',', 'h2', map { ('y' x 60) . $_ } 0 .. 23;
    @big = ('-alpn', $alpn);
}
routes_to($port, 'b.test', 'b.test', 'a 1.8 KB ClientHello', @big);
routes_to($relay_big, 'b.test', 'b.test',
    'a 1.8 KB ClientHello in records of 500 bytes', @big);
my ($c) = s_client($small, 'b.test', @big);
isnt $c, 0, 'with preread_buffer_size 1k, the 1.8 KB ClientHello is refused';
ok $t->wait_log(qr/ssl_preread: ClientHello larger than the buffer, closing/),
    'and the reason is logged';
routes_to($small, 'b.test', 'b.test', 'a small ClientHello fits in 1k');

# --- 4. the variables --------------------------------------------------------

# A ClientHello as s_client sends it, read by a listener of ours.
sub capture_hello {
    my @args = @_;
    my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1:0', Listen => 1,
        ReuseAddr => 1) or die "listen: $!";
    my $p = $t->spawn(name => 'capture', cmd => ['openssl', 's_client',
            '-connect', '127.0.0.1:' . $ls->sockport, @args]);
    my $hello = '';
    if (IO::Select->new($ls)->can_read(10)) {
        my $s = $ls->accept;
        my $sel = IO::Select->new($s);
        my $deadline = time + 5;
        while (time < $deadline && $sel->can_read($deadline - time)) {
            last unless sysread $s, $hello, 65536, length $hello;
            last if length $hello >= 5
                && length $hello >= 5 + unpack 'n', substr($hello, 3, 2);
        }
        close $s;
    }
    $p->stop;
    return $hello;
}

my $hello = capture_hello('-servername', 'a.test', '-alpn', 'h2,http/1.1');
ok length $hello > 100 && substr($hello, 0, 1) eq "\x16",
    'a ClientHello captured from s_client';
is scalar $t->tcp_request($vars, $hello), "a.test|h2,http/1.1|TLSv1.3\n",
    'the variables from a ClientHello sent whole';

# the same in two segments 50 ms apart
{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$vars")
        or die "connect: $!";
    my $half = int(length($hello) / 2);
    syswrite $s, substr($hello, 0, $half);
    sleep 0.05;
    syswrite $s, substr($hello, $half);
    my ($data, $sel) = ('', IO::Select->new($s));
    while ($sel->can_read(5)) {
        last unless sysread $s, $data, 4096, length $data;
    }
    is $data, "a.test|h2,http/1.1|TLSv1.3\n",
        'the same from the hello in two segments 50 ms apart';
}
my $hello12 = capture_hello('-tls1_2', '-servername', 'B.TEST');
is scalar $t->tcp_request($vars, $hello12), "b.test||TLSv1.2\n",
    'TLS 1.2, no ALPN, the name in lower case';
is scalar $t->tcp_request($off, $hello), "[]\n",
    'without ssl_preread the variables are empty';

# --- 5. what is refused ------------------------------------------------------

sub refused {
    my ($bytes, $what, $min, $max, $why) = @_;
    my $from = $t->log_offset;
    my $t0 = time;
    my ($data, $how) = $t->tcp_request($port, $bytes, timeout => 5);
    my $took = time - $t0;
    ok $data eq '' && ($how eq 'eof' || $how eq 'reset')
        && $took >= $min && $took < $max,
        sprintf('%s: closed after %.2fs', $what, $took)
        or diag "got '$data', $how";
    ok $t->wait_log(qr/ssl_preread: [^\n]*\Q$why\E/, from => $from),
        "$what: logged ($why)";
}

my $sni_log = $t->path('logs/sni.log');
my $sni_from = -s $sni_log // 0;
refused("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 'an HTTP request', 0, 0.8,
    'not a TLS handshake');
refused("\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00",
    'a handshake other than ClientHello', 0, 0.8, 'not a ClientHello');
my $bad = $hello;
substr($bad, 43, 1) = "\x21";    # the session id: 33 bytes
refused($bad, 'a session id of 33 bytes', 0, 0.8, 'bad session id length');
refused(substr($hello, 0, 100), 'a partial ClientHello', 0.8, 3,
    'client timed out before its ClientHello was complete');
refused('', 'a silent client', 0.8, 3, 'client timed out');

# what the access log says: 400, nothing upstream
my @lines;
$t->wait_for(sub {
    @lines = grep { /^$port 400 / } split /\n/,
        substr($t->read_file($sni_log), $sni_from);
    @lines >= 5;
});
is scalar(@lines), 5, 'five sessions with $status 400 in the access log';
# (an empty value is logged as "-")
is scalar(grep { /"-" \d+$/ } @lines), 5, 'none of them went upstream';

routes_to($port, 'a.test', 'a.test', 'doorman still serves');

# the access log of a routed session
my $log = $t->read_file($t->path('logs/sni.log'));
like $log, qr/^$port 200 "b\.test" "h2,http\/1\.1" "TLSv1\.3" "127\.0\.0\.1:$pb" \d+$/m,
    'the access log shows the name, ALPN, protocol and upstream';
like $log, qr/^$port 200 "b\.test" "-" "TLSv1\.2" /m, 'and TLS 1.2';
like $log, qr/^$port 200 "b\.test" "h2,http\/1\.1,x{60}0,[^"]*x{60}7" /m,
    'and the long ALPN list of the 1.8 KB hello';

$t->stop;
unlike $t->error_log, qr/\[(?:emerg|alert|crit)\]/, 'nothing worse than error';

# --- 6. configuration errors -------------------------------------------------

for (['ssl_preread maybe;', qr/ssl_preread/],
    ['preread_buffer_size 512;', qr/out of bounds/],
    ['preread_buffer_size 2m;', qr/out of bounds/],
    ['preread_timeout soon;', qr/invalid value/]) {
    my ($directive, $re) = @$_;
    my $bad_t = Doorman::Test->new;
    $bad_t->write_conf(<<"EOF");
events { worker_connections 16; }
stream {
    server { listen 127.0.0.1:%%PORT_1%%; $directive return "x"; }
}
EOF
    my ($bc, $berr) = $bad_t->test_conf;
    ok $bc != 0 && $berr =~ $re, "doorman -t refuses \"$directive\""
        or diag $berr;
}

done_testing;
