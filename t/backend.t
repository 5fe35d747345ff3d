#!/usr/bin/perl
#
# The HTTP backend of the proxy tests (t/lib/backend.py) and the client
# helpers (t/lib/Doorman/HTTP.pm), exercised directly, without doorman:
# every path, the framings (Content-Length, chunked with trailers,
# close-delimited, HEAD, 204/304, 103), 50 MB downloads and uploads
# compared by sha256, pipelining, connection reuse, --idle-close, the
# WebSocket echo and an upgrade refused with a 200, bad input.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Doorman::Test;
use Doorman::HTTP;

my $started = time;
alarm 120;    # the harness's ALRM handler kills what the test started

my $t = Doorman::Test->new;
my ($port, $b1) = start_backend($t, name => 'b1');
my ($iport, $b2) = start_backend($t, name => 'b2', idle_close => 1);
ok $b1->alive && $b2->alive, 'two backends started';

my $MB50 = 50 * 1024 * 1024;

# --- the default answer and connection reuse ---------------------------------

my $c = http_connect($port);
ok $c, 'connected';
my $r = $c->request('GET', '/echo/me?x=1',
    headers => ['X-Forwarded-For' => '10.0.0.1', 'X-A' => ' a  b ',
        'x-lower' => 'v']);
is $r->{status}, 200, 'echo: 200';
is $r->{body}, "b1 GET /echo/me?x=1\nHost: localhost\n"
    . "X-Forwarded-For: 10.0.0.1\nX-A: a  b\nx-lower: v\n",
    'echo: request line and every header line in order';
is $r->{headers}{'x-backend'}, 'b1', 'echo: X-Backend';
is $r->{headers}{'x-req'}, 1, 'echo: X-Req 1';
like $r->{headers}{'x-peer'}, qr/^127\.0\.0\.1:\d+$/, 'echo: X-Peer';
is $r->{headers}{'x-peer'}, '127.0.0.1:' . $c->local_port,
    'echo: X-Peer is the client address';
is $r->{framing}, 'length', 'echo: Content-Length framing';
my $conn1 = $r->{headers}{'x-conn'};
like $conn1, qr/^\d+$/, 'echo: X-Conn';
$r = $c->request('POST', '/p', body => 'abc');
is $r->{headers}{'x-conn'}, $conn1, 'reuse: same X-Conn';
is $r->{headers}{'x-req'}, 2, 'reuse: X-Req 2';
is $r->{headers}{'x-body-bytes'}, 3, 'reuse: X-Body-Bytes of a POST';
like $r->{body}, qr/^b1 POST \/p\nHost: localhost\nContent-Length: 3\n\z/,
    'POST: echoed head';
my $c2 = http_connect($port);
$r = $c2->request('GET', '/');
ok $r->{headers}{'x-conn'} > $conn1, 'another connection: another X-Conn';
is $r->{headers}{'x-req'}, 1, 'another connection: X-Req 1';
$c2->close;

# --- sizes -------------------------------------------------------------------

$r = $c->request('GET', '/size/0');
is_deeply [$r->{status}, $r->{headers}{'content-length'}, $r->{body}],
    [200, 0, ''], '/size/0';
$r = $c->request('GET', '/size/100000');
ok $r->{body} eq pattern_bytes(0, 100000), '/size/100000: the pattern';
is substr($r->{body}, 65536, 16), sprintf("%015x\n", 1),
    'the pattern: block 1 starts with its index';
is substr($r->{body}, 16, 16), '0123456789abcdef', 'the pattern: the rest';
my $t0 = time;
$r = $c->request('GET', "/size/$MB50", digest => 1, timeout => 20);
is $r->{body_length}, $MB50, '/size 50 MB: length';
is $r->{headers}{'content-length'}, $MB50, '/size 50 MB: Content-Length';
my $sha50 = pattern_sha256($MB50);
is $r->{body_sha256}, $sha50, '/size 50 MB: sha256';
diag sprintf '50 MB download: %.2f s', time - $t0;
is $r->{headers}{'x-conn'}, $conn1, '/size: still the same connection';

# --- chunked -----------------------------------------------------------------

$r = $c->request('GET', '/chunked/100000');
is $r->{framing}, 'chunked', '/chunked: chunked';
ok !defined $r->{headers}{'content-length'}, '/chunked: no Content-Length';
ok $r->{body} eq pattern_bytes(0, 100000), '/chunked/100000: the pattern';
ok $r->{chunks} > 10, "/chunked: chunks of varying sizes ($r->{chunks})";
is_deeply $r->{trailers}, {}, '/chunked: no trailer';
$r = $c->request('GET', '/chunked/5000?trailer=1&ext=1');
is $r->{trailers}{'x-trailer'}, 'yes', '/chunked?trailer=1: the trailer';
is $r->{headers}{trailer}, 'X-Trailer', '/chunked?trailer=1: Trailer field';
ok $r->{body} eq pattern_bytes(0, 5000), '/chunked with extensions: body';
$t0 = time;
$r = $c->request('GET', "/chunked/$MB50", digest => 1, timeout => 20);
is $r->{body_length}, $MB50, '/chunked 50 MB: length';
is $r->{body_sha256}, $sha50, '/chunked 50 MB: sha256';
diag sprintf '50 MB chunked download: %.2f s', time - $t0;
is $r->{headers}{'x-conn'}, $conn1, '/chunked: still the same connection';

# --- HEAD, 204, 304, other statuses, cookies ----------------------------------

for my $p ('/size/1000', '/echo', '/upload', '/status/404') {
    my $g = $c->request('GET', $p);
    my $h = $c->request('HEAD', $p);
    is $h->{status}, $g->{status}, "HEAD $p: status of the GET";
    # the default answer names the method: one byte more for HEAD
    is $h->{headers}{'content-length'},
        $g->{headers}{'content-length'} + ($p eq '/echo' ? 1 : 0),
        "HEAD $p: Content-Length of the GET";
    is $h->{body}, '', "HEAD $p: no body";
}
$r = $c->request('HEAD', '/chunked/1000');
is $r->{headers}{'transfer-encoding'}, 'chunked', 'HEAD /chunked: TE';
is $r->{body}, '', 'HEAD /chunked: no body';
for my $code (204, 304) {
    $r = $c->request('GET', "/status/$code");
    is $r->{status}, $code, "/status/$code";
    ok !defined $r->{headers}{'content-length'}
        && !defined $r->{headers}{'transfer-encoding'},
        "/status/$code: no framing field";
}
$r = $c->request('GET', '/status/503');
is_deeply [$r->{status}, $r->{reason}, $r->{body}],
    [503, 'Service Unavailable', "b1 503\n"], '/status/503';
$r = $c->request('GET', '/cookie');
is_deeply $r->{headers}{'set-cookie'}, ['a=1', 'b=2'],
    '/cookie: two Set-Cookie fields';
is scalar(grep { lc $_->[0] eq 'set-cookie' } @{$r->{fields}}), 2,
    '/cookie: two fields on the wire';
ok !$r->{close}, 'all on one connection';
is $r->{headers}{'x-conn'}, $conn1, 'and X-Conn says so';

# --- interim ------------------------------------------------------------------

$r = $c->request('GET', '/interim');
is $r->{status}, 200, '/interim: final 200';
is scalar @{$r->{interim}}, 1, '/interim: one interim response';
is $r->{interim}[0]{status}, 103, '/interim: 103';
is $r->{interim}[0]{reason}, 'Early Hints', '/interim: Early Hints';
like $r->{interim}[0]{headers}{link}, qr/preload/, '/interim: Link';
$r = $c->request('GET', '/interim?n=3');
is scalar @{$r->{interim}}, 3, '/interim?n=3: three 103s';

# --- uploads --------------------------------------------------------------------

$r = $c->request('POST', '/upload', body => 'hello');
is $r->{body}, "5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n",
    '/upload: small body';
$r = $c->request('POST', '/upload', body => 'hello', chunked => 1);
is $r->{body}, "5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n",
    '/upload: small chunked body';
$r = $c->request('GET', '/upload');
is $r->{body}, "0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
    '/upload: no body';
$r = $c->request('POST', '/upload', body => 'xyz',
    headers => [Expect => '100-continue']);
is_deeply [map { $_->{status} } @{$r->{interim}}], [100],
    'Expect: 100-continue: a 100 first';
like $r->{body}, qr/^3 /, 'Expect: 100-continue: then the body';
for my $chunked (0, 1) {
    $t0 = time;
    my ($u, $sha) = upload($port, '/upload', $MB50, chunked => $chunked,
        timeout => 20);
    is $u->{status}, 200, "upload 50 MB chunked=$chunked: 200";
    is $u->{body}, "$MB50 $sha\n",
        "upload 50 MB chunked=$chunked: length and sha256 match";
    is $sha, $sha50, "upload 50 MB chunked=$chunked: the pattern was sent";
    is $u->{headers}{'x-body-bytes'}, $MB50, "upload chunked=$chunked: X-Body-Bytes";
    diag sprintf '50 MB upload (chunked=%d): %.2f s', $chunked, time - $t0;
}

# --- close-delimited, HTTP/1.0, Connection: close --------------------------------

my $cc = http_connect($port);
$r = $cc->request('GET', '/close/70000');
is $r->{framing}, 'close', '/close: delimited by close';
ok !defined $r->{headers}{'content-length'}, '/close: no Content-Length';
is $r->{headers}{connection}, 'close', '/close: Connection: close';
ok $r->{body} eq pattern_bytes(0, 70000), '/close: the pattern';
ok $r->{close} && $cc->is_closed, '/close: connection done';
is $cc->request('GET', '/')->{error}, 'connection closed',
    'no request on a closed connection';
$cc = http_connect($port);
$r = $cc->request('GET', '/chunked/1000', version => '1.0');
is $r->{framing}, 'close', 'HTTP/1.0 /chunked: close-delimited';
ok $r->{body} eq pattern_bytes(0, 1000), 'HTTP/1.0 /chunked: body';
$cc = http_connect($port);
$r = $cc->request('GET', '/', version => '1.0',
    headers => [Connection => 'keep-alive']);
is $r->{headers}{connection}, 'keep-alive', 'HTTP/1.0 keep-alive: kept';
$r = $cc->request('GET', '/', headers => [Connection => 'close']);
is $r->{headers}{connection}, 'close', 'Connection: close answered';
is $r->{headers}{'x-req'}, 2, 'on the kept connection';
ok $cc->wait_close(2), 'Connection: close: closed by the backend';

# --- pipelining -------------------------------------------------------------------

my $p = http_connect($port);
my @paths = ('/a', '/size/10', '/b', '/chunked/20', '/status/204', '/c',
    '/upload', '/d', '/cookie', '/e');
my $raw = '';
for my $i (0 .. $#paths) {
    my $m = $i == 2 ? 'HEAD' : $i == 6 ? 'POST' : 'GET';
    $raw .= "$m $paths[$i] HTTP/1.1\r\nHost: h$i\r\n"
        . ($m eq 'POST' ? "Content-Length: 2\r\n\r\nok" : "\r\n");
}
ok $p->send_raw($raw), 'pipelining: 10 requests in one write';
my @rs = map { $p->read_response(method => $_ == 2 ? 'HEAD' : 'GET') } 0 .. 9;
is_deeply [map { $_->{headers}{'x-req'} } @rs], [1 .. 10],
    'pipelining: 10 answers in order';
is_deeply [map { $_->{status} } @rs],
    [200, 200, 200, 200, 204, 200, 200, 200, 200, 200], 'pipelining: statuses';
is $rs[0]{body}, "b1 GET /a\nHost: h0\n", 'pipelining: first answer';
is $rs[1]{body}, pattern_bytes(0, 10), 'pipelining: /size/10';
is $rs[2]{body}, '', 'pipelining: HEAD';
is $rs[3]{body}, pattern_bytes(0, 20), 'pipelining: /chunked/20';
like $rs[6]{body}, qr/^2 /, 'pipelining: the POST body';
is $rs[9]{body}, "b1 GET /e\nHost: h9\n", 'pipelining: last answer';
is scalar(keys %{{map { $_->{headers}{'x-conn'} => 1 } @rs}}), 1,
    'pipelining: one connection';

# --- slow answers --------------------------------------------------------------------

$t0 = time;
$r = $c->request('GET', '/slow/300');
ok time - $t0 >= 0.29, '/slow/300: after 300 ms';
like $r->{body}, qr{^b1 GET /slow/300\n}, '/slow: the default answer';
{
    # the head first, the body 300 ms later
    my $s = http_connect($port);
    $s->send_raw("GET /slowbody/300 HTTP/1.1\r\nHost: x\r\n\r\n");
    my $start = time;
    $s->_fill(time + 2) while index($s->{buf}, "\r\n\r\n") < 0
        && time - $start < 2;
    my $head_at = time - $start;
    $r = $s->read_response;
    my $body_at = time - $start;
    ok $head_at < 0.25 && $body_at >= 0.29,
        sprintf '/slowbody/300: head at %.2f s, body at %.2f s',
        $head_at, $body_at;
    like $r->{body}, qr{^b1 GET /slowbody/300\n}, '/slowbody: body';
}

# --- idle close ------------------------------------------------------------------------

my $ic = http_connect($iport);
$r = $ic->request('GET', '/');
is $r->{headers}{'x-backend'}, 'b2', 'idle-close backend answers';
$t0 = time;
ok $ic->wait_close(4), '--idle-close 1: the backend closes an idle connection';
my $idle = time - $t0;
ok $idle > 0.7 && $idle < 2.5, sprintf '--idle-close 1: after %.2f s', $idle;
$ic = http_connect($iport);
sleep 0.5;
$r = $ic->request('GET', '/');
sleep 0.5;
$r = $ic->request('GET', '/');
is $r->{headers}{'x-req'}, 2, '--idle-close: the idle time restarts per request';
ok !$c->wait_close(1.2), 'without --idle-close the connection stays';
is $c->request('GET', '/')->{headers}{'x-conn'}, $conn1,
    'and still serves';

# --- WebSocket ------------------------------------------------------------------------------

my ($ws, $wr) = ws_connect($port, '/ws', headers => [Host => 'ws.test']);
ok $ws, 'ws: handshake' or diag explain $wr;
is $wr->{status}, 101, 'ws: 101';
is lc $wr->{headers}{upgrade}, 'websocket', 'ws: Upgrade: websocket';
SKIP: {
    skip 'no websocket', 12 unless $ws;
    ok ws_send_text($ws, 'hello'), 'ws: text sent';
    my $f = ws_recv($ws);
    is_deeply [$f->{op}, $f->{payload}, $f->{fin}, $f->{masked}],
        ['text', 'hello', 1, 0], 'ws: text echoed, unmasked';
    my $big = pattern_bytes(0, 70000);
    ws_send_binary($ws, $big);
    $f = ws_recv($ws);
    ok $f->{op} eq 'binary' && $f->{payload} eq $big, 'ws: 70000 bytes binary echoed';
    my $mid = 'x' x 300;
    ws_send_text($ws, $mid);
    is ws_recv($ws)->{payload}, $mid, 'ws: 16-bit length echoed';
    ws_send_frame($ws, 1, 'frag', fin => 0);
    ws_send_frame($ws, 0, 'ment', fin => 1);
    my ($f1, $f2) = (ws_recv($ws), ws_recv($ws));
    is_deeply [$f1->{op}, $f1->{fin}, $f2->{op}, $f2->{fin},
        $f1->{payload} . $f2->{payload}],
        ['text', 0, 'cont', 1, 'fragment'], 'ws: fragments echoed';
    ws_send_ping($ws, 'p1');
    $f = ws_recv($ws);
    is_deeply [$f->{op}, $f->{payload}], ['pong', 'p1'], 'ws: ping -> pong';
    ws_send_close($ws, 1000, 'bye');
    $f = ws_recv($ws);
    is_deeply [$f->{op}, $f->{code}, $f->{reason}], ['close', 1000, 'bye'],
        'ws: close -> close';
    ok $ws->wait_close(2), 'ws: connection closed after the close';
    my $w2 = ws_connect($port, '/ws');
    ws_send_frame($w2, 1, 'unmasked', mask => 0);
    $f = ws_recv($w2);
    is_deeply [$f->{op}, $f->{code}], ['close', 1002],
        'ws: an unmasked client frame is a protocol error';
    ok $w2->wait_close(2), 'ws: and the connection is closed';
    is ws_recv($w2), undef, 'ws: nothing more';
    ok $w2->{error}, "ws: ws_recv says why ($w2->{error})";
}

for my $up (['h2c'], [], ['websocket', 'no-connection']) {
    my $u = http_connect($port);
    my @h = @$up && $up->[0] ne 'websocket'
        ? (Upgrade => $up->[0], Connection => 'Upgrade')
        : @$up ? (Upgrade => 'websocket', 'Sec-WebSocket-Key'
            => 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version' => 13)
        : ();
    my $what = @$up ? "@$up" : 'none';
    $r = $u->request('GET', '/ws', headers => \@h);
    is_deeply [$r->{status}, $r->{body}], [200, "no upgrade\n"],
        "upgrade $what: 200 no upgrade";
    $r = $u->request('GET', '/after');
    like $r->{body}, qr{^b1 GET /after\n}, "upgrade $what: still HTTP after";
}
$r = http_connect($port)->request('GET', '/ws', headers => [
    Upgrade => 'websocket', Connection => 'Upgrade',
    'Sec-WebSocket-Version' => 13]);
is $r->{status}, 400, 'ws: no key: 400';
($ws, $wr) = ws_connect($port, '/ws');
my $expect_accept = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';    # RFC 6455 1.3
$r = http_connect($port)->request('GET', '/ws', headers => [
    Upgrade => 'websocket', Connection => 'keep-alive, Upgrade',
    'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version' => 13]);
is $r->{headers}{'sec-websocket-accept'}, $expect_accept,
    'ws: the Sec-WebSocket-Accept of RFC 6455';

# --- bad input ------------------------------------------------------------------------

my @bad = (
    ["GET / HTTP/1.1\nHost: x\n\n", 400, 'bare LF'],
    ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, 'HTTP/2.0'],
    ["GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, 'obs-fold'],
    ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, 'space before colon'],
    ["GET / HTTP/1.1\r\n\r\n", 400, 'no Host'],
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 'two Host'],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 'CL and TE'],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab", 400,
        'two lengths'],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
        'negative length'],
    ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
        'not chunked'],
    ["POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "zz\r\n", 400, 'bad chunk size'],
    ["GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, 'two spaces'],
    ["\x00\x01\x02\xff garbage\r\n\r\n", 400, 'garbage'],
    ["GET /" . ('a' x 70000) . " HTTP/1.1\r\n\r\n", 431, 'line too long'],
);
for my $b (@bad) {
    my ($bytes, $code, $what) = @$b;
    my $k = http_connect($port);
    $k->send_raw($bytes);
    $r = $k->read_response;
    is $r->{status}, $code, "bad input ($what): $code";
    ok $k->wait_close(3), "bad input ($what): connection closed";
}
{
    # a client that goes away in the middle of a head, of a body, of a
    # big answer
    my $k = http_connect($port);
    $k->send_raw("GET / HTTP/1.1\r\nHo");
    $k->close;
    $k = http_connect($port);
    $k->send_raw("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab");
    $k->close;
    $k = http_connect($port);
    $k->send_raw("GET /size/100000000 HTTP/1.1\r\nHost: x\r\n\r\n");
    $k->_fill(time + 2);
    $k->close;
    $k = http_connect($port);
    $r = $k->request('GET', '/drop');
    ok !defined $r->{status} && $k->is_closed, '/drop: closed without an answer';
}
$r = http_connect($port)->request('GET', '/alive');
is $r->{status}, 200, 'the backend survives bad input';

# --- stats, rate, log ---------------------------------------------------------------

$r = $c->request('GET', '/stats');
my ($nc) = $r->{body} =~ /"connections": (\d+)/;
my ($nr) = $r->{body} =~ /"requests": (\d+)/;
ok $nc && $nc > 30, "/stats: connections ($nc)";
ok $nr && $nr > $nc, "/stats: requests ($nr)";
my $r2 = $c->request('GET', '/stats');
my ($nr2) = $r2->{body} =~ /"requests": (\d+)/;
is $nr2, $nr + 1, '/stats: the next one counts one more request';
$t0 = time;
my $n = 0;
while ($n < 1000 && time - $t0 < 5) {
    $r = $c->request('GET', "/r$n");
    last unless ($r->{status} // 0) == 200;
    $n++;
}
my $rate = $n / (time - $t0);
is $n, 1000, sprintf '1000 small requests on a connection (%.0f/s)', $rate;
my $log = $t->read_file(backend_log_path($t, 'b1'));
like $log, qr{conn=\d+ req=1 127\.0\.0\.1:\d+ "GET /echo/me\?x=1 HTTP/1\.1" 200 \d+},
    'log: a line per request';
like $log, qr{"GET / HTTP/2\.0" 505}, 'log: bad requests too';
like $t->read_file(backend_log_path($t, 'b2')), qr/idle close/,
    'log: the idle close';

# --- stop ----------------------------------------------------------------------

for my $b ($b1, $b2) {
    my (undef, $killed) = $b->stop;
    ok !$b->alive && !$killed, 'backend ' . $b->name . ' stopped by TERM';
}
ok time - $started < 30, sprintf 'under 30 s (%.1f s)', time - $started;

done_testing;
