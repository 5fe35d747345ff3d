#!/usr/bin/perl
#
# http_proxy through the real binary and real backends (t/lib/backend.py):
#
#   1. Routing to the right pool: by host (server_name), by path
#      (locations), by header (map $http_x_canary -> proxy_pass
#      http://$pool), by cookie (map $cookie_beta), and a canary split
#      (split_clients "${arg_u}"): X-Backend says which backend answered.
#   2. The head the backend sees (its echo body): X-Forwarded-For (true
#      client address, 127.0.0.2 when bound there; a forged value replaced
#      for an untrusted client, kept and extended for a trusted one;
#      "Connection: X-Forwarded-For" cannot remove doorman's; a field with
#      underscores dropped), X-Real-IP, X-Forwarded-Proto/-Host,
#      proxy_x_forwarded_for off, proxy_forwarded on, proxy_set_header,
#      the default Host ($proxy_host), URI replacement, proxy_hide_header,
#      doorman's Server and Date.
#   3. Framing, byte-exact by sha256: 50 MB downloads with Content-Length,
#      chunked, close-delimited; 50 MB uploads with Content-Length and
#      chunked; HEAD, 204, 304; an HTTP/1.0 client of a chunked answer;
#      103 dropped.
#   5. WebSocket through the tunnel (text, binary), proxy_tunnel_timeout,
#      "Upgrade: h2c" not forwarded, an upgrade answered 200 stays HTTP.
#   6. Failures: 502 for a peer that does not listen, 504 on
#      proxy_read_timeout, http_503 moved to the next peer, a POST not
#      retried after it was sent unless non_idempotent, $upstream_addr and
#      $upstream_status with both attempts in the access log.
#   7. More: pipelining (with bodies, behind a slow answer), trailers and
#      chunk extensions, two Set-Cookie, Expect: 100-continue, small
#      chunked uploads, HEAD of a chunked answer, encoded URIs and the
#      replacement after normalization, Host with a port, absolute-form
#      targets, a client gone mid-download, XFF folded from two fields,
#      WebSocket ping, fragments and a 300 KB frame.
#   8. Broken upstream answers from a raw backend (head too large, CL+TE,
#      two Content-Length, not HTTP, an unasked 101, a body cut short, a
#      bad chunk, HTTP/1.0 close-delimited, upstream Server/Date, 101
#      fields), a close-delimited body re-chunked for a 1.1 client, client
#      smuggling attempts (400).
#   Also: error_page for a proxied 502, rewrite ... break with a URI,
#   proxy_next_upstream_tries, http_500/http_429, $upstream_bytes_received,
#   proxy_set_header / proxy_hide_header inheritance.
#
# The keep-alive pool and the load parts (wrk, a backend killed) are in
# t/http_proxy_retry.t.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use IO::Socket::IP;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Digest::SHA;
use Time::HiRes qw(time sleep);
use Doorman::Test;
use Doorman::HTTP;

my $started = time;
alarm 150;    # the harness's ALRM handler kills what the test started

my $t = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $t->bin . ' (make first)'
    unless -x $t->bin;

my $MB50 = 50 * 1024 * 1024;

# --- backends -----------------------------------------------------------------

my %bp;
for my $n (qw(s1 s2 c1 h1 p1)) {
    $bp{$n} = start_backend($t, name => $n);
}
ok((grep { $_ } values %bp) == 5, 'five backends started');
# a peer that reads the request line and resets the connection
my $rport = $t->port;
$t->spawn(cmd => ['perl', "$FindBin::Bin/lib/tcp_backend.pl", 'reset', $rport,
        0], name => 'reset', wait_ports => [$rport]);
my $dead = $t->port;    # nothing listens there
my @dead3 = map { $t->port } 1 .. 3;

# a backend that answers canned (broken) responses, by path
my $raw = $t->port;
$t->write_file('raw_backend.pl', <<'RAW');
use strict; use warnings; use IO::Socket::INET;
my $port = shift;
my %resp = (
    '/bigheader' => "HTTP/1.1 200 OK\r\nX-Big: " . ('a' x 70000) . "\r\nContent-Length: 2\r\n\r\nok",
    '/clte' => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    '/twocl' => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    '/short' => "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" . ('s' x 50),
    '/unasked101' => "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    '/http10' => "HTTP/1.0 200 OK\r\n\r\n" . ('t' x 1000),
    '/srvdate' => "HTTP/1.1 200 OK\r\nServer: rawsrv/1.0\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok",
    '/cookies' => "HTTP/1.1 200 OK\r\n" . join('', map { "Set-Cookie: c$_=v$_\r\n" } 1 .. 100) . "Content-Length: 2\r\n\r\nok",
    '/garbage' => "THIS IS NOT HTTP\r\n\r\n",
    '/badchunk' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
);
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 64, ReuseAddr => 1) or die "listen: $!";
$| = 1; print "ready\n";
$SIG{PIPE} = 'IGNORE';
$SIG{ALRM} = sub { exit 0 }; alarm 300;
while (my $c = $l->accept) {
    my $buf = '';
    while ($buf !~ /\r\n\r\n/) { my $n = sysread $c, $buf, 65536, length $buf; last unless $n; }
    my ($path) = $buf =~ m{^\S+ (/[^ ?]*)};
    my $out = $resp{$path // ''} // "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    print {$c} $out;
    shutdown $c, 1; sleep 0.2 if 0; close $c;
}
RAW
my $rawp = $t->spawn(cmd => ['perl', $t->path('raw_backend.pl'), $raw], name => 'raw',
    wait_ports => [$raw]);

my $conf = <<"EOF";
worker_processes 1;
events { worker_connections 512; }
http {
    log_format up '\$request_uri|\$status|\$upstream_addr|\$upstream_status';
    log_format bytes '\$request_uri|\$upstream_bytes_received';
    access_log logs/access.log up;
    client_max_body_size 0;

    upstream stable { server 127.0.0.1:$bp{s1}; server 127.0.0.1:$bp{s2}; keepalive 16; }
    upstream slowpool { server 127.0.0.1:$bp{s1}; server 127.0.0.1:$bp{s2}; }
    upstream canary { server 127.0.0.1:$bp{c1}; }
    upstream hostpool { server 127.0.0.1:$bp{h1}; }
    upstream apipool { server 127.0.0.1:$bp{p1}; }
    upstream rawpool { server 127.0.0.1:$raw max_fails=0; }
    upstream dead3 { server 127.0.0.1:$dead3[0] max_fails=0; server 127.0.0.1:$dead3[1] max_fails=0; server 127.0.0.1:$dead3[2] max_fails=0; }
    upstream uerr { server 127.0.0.1:%%PORT_3%% max_fails=0; server 127.0.0.1:$bp{s2} backup; }
    upstream deadpool { server 127.0.0.1:$dead; }
    upstream u503 { server 127.0.0.1:%%PORT_3%% max_fails=0; server 127.0.0.1:$bp{s1} backup; }
    upstream ureset { server 127.0.0.1:$rport max_fails=0; server 127.0.0.1:$bp{s1} backup; }

    map \$http_x_canary \$pool { true canary; default stable; }
    map \$cookie_beta \$cpool { 1 canary; default stable; }
    split_clients "\${arg_u}" \$variant { 10% canary; * stable; }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name main.test;

        location / { proxy_pass http://stable; }
        location /hdr/ { proxy_pass http://\$pool; }
        location /cookie/ { proxy_pass http://\$cpool; }
        location /split/ { proxy_pass http://\$variant; }
        location /api/ { proxy_pass http://apipool/prefix/; }
        location /custom/ {
            proxy_pass http://stable;
            proxy_set_header Host \$host;
            proxy_set_header X-Custom "v";
        }
        location /noxff/ { proxy_pass http://stable; proxy_x_forwarded_for off; }
        location /fwd/ { proxy_pass http://stable; proxy_forwarded on; }
        location /hide/ { proxy_pass http://stable; proxy_hide_header X-Peer; }
        location /ws {
            proxy_pass http://stable;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
        }
        location /wst/ {
            proxy_pass http://stable/ws;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_tunnel_timeout 1s;
        }
        location /bytes/ { proxy_pass http://apipool/; access_log logs/bytes.log bytes; }
        location /raw/ { proxy_pass http://rawpool/; proxy_next_upstream off; }
        location /deadfb/ {
            proxy_pass http://deadpool;
            error_page 502 504 = \@fallback;
        }
        location \@fallback { return 200 "fallback\\n"; }
        location /rwb/ { rewrite ^/rwb/(.*)\$ /other/\$1 break; proxy_pass http://apipool/base/; }
        location /d3/ { proxy_pass http://dead3; }
        location /d3t2/ { proxy_pass http://dead3; proxy_next_upstream_tries 2; }
        location /e500/ { proxy_pass http://uerr; proxy_next_upstream error http_500 http_429; }
        location /e429/ { proxy_pass http://uerr; proxy_next_upstream error http_500 http_429; }
        location /e500no/ { proxy_pass http://uerr; }
        location /dead/ { proxy_pass http://deadpool; }
        location /slow/ { proxy_pass http://slowpool; proxy_read_timeout 1s; }
        location /slowoff/ {
            proxy_pass http://canary/slow/;
            proxy_read_timeout 1s;
            proxy_next_upstream off;
        }
        location /r503/ {
            proxy_pass http://u503;
            proxy_next_upstream error http_503;
        }
        location /post/ { proxy_pass http://ureset; }
        location /postni/ {
            proxy_pass http://ureset;
            proxy_next_upstream error timeout non_idempotent;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name a.test;
        location / { proxy_pass http://hostpool; }
    }

    server {
        listen 127.0.0.1:%%PORT_2%%;
        server_name trusted.test;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        proxy_set_header X-S "srv";
        proxy_hide_header X-Req;
        location / { proxy_pass http://stable; }
        location /own/ { proxy_pass http://stable; proxy_set_header X-L "loc"; proxy_hide_header X-Conn; }
    }

    server {
        listen 127.0.0.1:%%PORT_3%%;
        access_log off;
        location / { return 503 "internal 503\\n"; }
        location /e500 { return 500; }
        location /e429/ { return 429; }
    }
}
EOF
$t->write_conf($conf);
my ($code, $err) = $t->test_conf;
is $code, 0, 'configuration accepted' or diag $err;
$t->run(wait_ports => [$t->port_n(1), $t->port_n(2), $t->port_n(3)]);
my $P = $t->port_n(1);

# The request head the backend echoed: (request line, [[name, value]...]).
sub echo_head {
    my ($r) = @_;
    my ($first, @lines) = split /\n/, $r->{body} // '';
    return ($first // '', [map { [/^([^:]+): ?(.*)$/] } @lines]);
}

# The values of one field (case-insensitive) in an echo.
sub fvals {
    my ($fields, $name) = @_;
    return [map { $_->[1] } grep { lc $_->[0] eq lc $name } @$fields];
}

sub get {
    my ($path, %o) = @_;
    my $c = http_connect($o{port} // $P) or return {status => undef,
        error => "connect: $@", headers => {}, body => ''};
    my $r = $c->request($o{method} // 'GET', $path,
        headers => ['Host' => $o{host} // 'main.test', @{$o{headers} || []}],
        timeout => $o{timeout} // 10, %{$o{ropts} || {}});
    $c->close;
    return $r;
}

sub backend_of { return $_[0]{headers}{'x-backend'} // '(none)' }

# --- 1. routing -----------------------------------------------------------------

{
    my %seen;
    $seen{backend_of(get("/r$_"))}++ for 1 .. 6;
    is_deeply [sort keys %seen], [qw(s1 s2)], 'default location: both stable backends'
        or diag explain \%seen;
    is backend_of(get('/x', host => 'a.test')), 'h1', 'by host: a.test -> hostpool';
    is backend_of(get('/x', host => 'main.test')) =~ /^s[12]$/ ? 1 : 0, 1,
        'by host: main.test -> stable';
    is backend_of(get('/api/x')), 'p1', 'by path: /api/ -> apipool';
    my @h = map { backend_of(get('/hdr/x', headers => ['X-Canary' => 'true'])) } 1 .. 3;
    is_deeply \@h, [qw(c1 c1 c1)], 'by header: X-Canary: true -> canary';
    @h = map { backend_of(get('/hdr/x', headers => ['X-Canary' => 'no'])) } 1 .. 3;
    is scalar(grep { /^s[12]$/ } @h), 3, 'by header: X-Canary: no -> stable' or diag "@h";
    @h = map { backend_of(get('/hdr/x')) } 1 .. 2;
    is scalar(grep { /^s[12]$/ } @h), 2, 'by header: no X-Canary -> stable' or diag "@h";
    @h = map { backend_of(get('/cookie/x', headers => ['Cookie' => 'a=2; beta=1'])) } 1 .. 3;
    is_deeply \@h, [qw(c1 c1 c1)], 'by cookie: beta=1 -> canary';
    @h = map { backend_of(get('/cookie/x', headers => ['Cookie' => 'beta=0'])) } 1 .. 2;
    is scalar(grep { /^s[12]$/ } @h), 2, 'by cookie: beta=0 -> stable' or diag "@h";

    # split: the same u always goes to the same pool; about 10% canary
    my ($canary, $bad, $sticky) = (0, 0, 1);
    my $c = http_connect($P);
    for my $u (1 .. 200) {
        my $r = $c->request('GET', "/split/x?u=user$u", headers => ['Host' => 'main.test']);
        my $b = backend_of($r);
        if ($b eq 'c1') { $canary++ } elsif ($b !~ /^s[12]$/) { $bad++ }
        if ($u <= 10) {
            my $again = backend_of($c->request('GET', "/split/y?u=user$u",
                    headers => ['Host' => 'main.test']));
            $sticky = 0 if ($again eq 'c1') != ($b eq 'c1');
        }
    }
    $c->close;
    is $bad, 0, 'split: every answer from a backend of a pool';
    ok $canary >= 5 && $canary <= 40, "split: about 10% canary ($canary of 200)";
    ok $sticky, 'split: a user stays in its pool';
}

# --- 2. forwarding fields ------------------------------------------------------------

{
    my $r = get('/e/x?y=1');
    my ($line, $f) = echo_head($r);
    like $line, qr{^s[12] GET /e/x\?y=1$}, 'echo: request line kept';
    is_deeply fvals($f, 'X-Forwarded-For'), ['127.0.0.1'], 'XFF: the client address';
    is_deeply fvals($f, 'X-Real-IP'), ['127.0.0.1'], 'X-Real-IP';
    is_deeply fvals($f, 'X-Forwarded-Proto'), ['http'], 'X-Forwarded-Proto: http';
    is_deeply fvals($f, 'X-Forwarded-Host'), ['main.test'], 'X-Forwarded-Host';
    is_deeply fvals($f, 'Host'), ['stable'], 'default Host: the upstream name ($proxy_host)';
    is_deeply fvals($f, 'Forwarded'), [], 'no Forwarded by default';
    like $r->{headers}{server} // '', qr/^doorman/i, 'Server: doorman';
    like $r->{headers}{date} // '', qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/,
        'Date present';
    is scalar(grep { lc $_->[0] eq 'server' } @{$r->{fields}}), 1, 'one Server field';
    is scalar(grep { lc $_->[0] eq 'date' } @{$r->{fields}}), 1, 'one Date field';

    # from 127.0.0.2
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $P,
        LocalAddr => '127.0.0.2', Proto => 'tcp', Timeout => 5);
    SKIP: {
        skip "cannot bind 127.0.0.2: $@", 2 unless $s;
        $s->blocking(0);
        my $c2 = bless {sock => $s, sel => IO::Select->new($s), buf => '',
            port => $P, timeout => 5, eof => 0, closed => 0, error => undef},
            'Doorman::HTTP::Conn';
        my $r2 = $c2->request('GET', '/e/from2', headers => ['Host' => 'main.test']);
        my (undef, $f2) = echo_head($r2);
        is_deeply fvals($f2, 'X-Forwarded-For'), ['127.0.0.2'], 'XFF from 127.0.0.2';
        is_deeply fvals($f2, 'X-Real-IP'), ['127.0.0.2'], 'X-Real-IP from 127.0.0.2';
        $c2->close;
    }

    (undef, $f) = echo_head(get('/e/forged', headers => ['X-Forwarded-For' => '6.6.6.6']));
    is_deeply fvals($f, 'X-Forwarded-For'), ['127.0.0.1'],
        'XFF: forged value of an untrusted client replaced';
    (undef, $f) = echo_head(get('/e/forged', headers => [
        'X-Forwarded-For' => '6.6.6.6', 'X-Real-IP' => '7.7.7.7',
        'X-Forwarded-Host' => 'evil', 'X-Forwarded-Proto' => 'https']));
    is_deeply [map { @{fvals($f, $_)} } qw(X-Real-IP X-Forwarded-Host X-Forwarded-Proto)],
        ['127.0.0.1', 'main.test', 'http'], 'untrusted: X-Real-IP, -Host, -Proto replaced';

    (undef, $f) = echo_head(get('/e/trusted', port => $t->port_n(2),
        host => 'trusted.test', headers => ['X-Forwarded-For' => '6.6.6.6']));
    is_deeply fvals($f, 'X-Forwarded-For'), ['6.6.6.6, 127.0.0.1'],
        'XFF: a trusted client\'s list kept and extended';
    is_deeply fvals($f, 'X-Real-IP'), ['6.6.6.6'], 'trusted: X-Real-IP is the real client';

    # inheritance: a level with its own proxy_set_header / proxy_hide_header
    # lines replaces those above
    $r = get('/inh', port => $t->port_n(2), host => 'trusted.test');
    (undef, $f) = echo_head($r);
    is_deeply [fvals($f, 'X-S'), fvals($f, 'X-L'), exists $r->{headers}{'x-req'} ? 1 : 0,
        exists $r->{headers}{'x-conn'} ? 1 : 0], [['srv'], [], 0, 1],
        'server-level proxy_set_header and proxy_hide_header inherited';
    $r = get('/own/x', port => $t->port_n(2), host => 'trusted.test');
    (undef, $f) = echo_head($r);
    is_deeply [fvals($f, 'X-S'), fvals($f, 'X-L'), exists $r->{headers}{'x-req'} ? 1 : 0,
        exists $r->{headers}{'x-conn'} ? 1 : 0], [[], ['loc'], 1, 0],
        'a location\'s own lines replace the server\'s';

    (undef, $f) = echo_head(get('/e/conn', headers => ['Connection' => 'X-Forwarded-For',
        'X-Forwarded-For' => '6.6.6.6']));
    is_deeply fvals($f, 'X-Forwarded-For'), ['127.0.0.1'],
        'Connection: X-Forwarded-For does not remove doorman\'s';
    (undef, $f) = echo_head(get('/e/conn2', headers => ['Connection' => 'keep-alive, X-Real-IP, X-Forwarded-Host']));
    is_deeply [map { @{fvals($f, $_)} } qw(X-Real-IP X-Forwarded-Host)],
        ['127.0.0.1', 'main.test'], 'Connection: X-Real-IP, X-Forwarded-Host: doorman\'s kept';

    (undef, $f) = echo_head(get('/e/us', headers => ['X_Forwarded_For' => '1.1.1.1']));
    is_deeply [grep { $_->[1] =~ /1\.1\.1\.1/ } @$f], [],
        'X_Forwarded_For: dropped';
    is_deeply fvals($f, 'X-Forwarded-For'), ['127.0.0.1'], 'X_Forwarded_For: XFF is doorman\'s';

    (undef, $f) = echo_head(get('/noxff/x', headers => ['X-Forwarded-For' => '6.6.6.6']));
    is_deeply fvals($f, 'X-Forwarded-For'), ['6.6.6.6'],
        'proxy_x_forwarded_for off: doorman adds none (the client\'s passes as is)';
    (undef, $f) = echo_head(get('/noxff/y'));
    is_deeply fvals($f, 'X-Forwarded-For'), [], 'proxy_x_forwarded_for off: none';
    is_deeply fvals($f, 'X-Real-IP'), ['127.0.0.1'], 'proxy_x_forwarded_for off: X-Real-IP kept';

    (undef, $f) = echo_head(get('/fwd/x'));
    is_deeply fvals($f, 'Forwarded'), ['for=127.0.0.1;proto=http;host=main.test'],
        'proxy_forwarded on: RFC 7239 Forwarded';
    (undef, $f) = echo_head(get('/fwd/x', headers => ['Forwarded' => 'for=6.6.6.6']));
    is_deeply fvals($f, 'Forwarded'), ['for=127.0.0.1;proto=http;host=main.test'],
        'proxy_forwarded on: an untrusted client\'s Forwarded replaced';

    (undef, $f) = echo_head(get('/custom/x', host => 'main.test'));
    is_deeply fvals($f, 'Host'), ['main.test'], 'proxy_set_header Host $host';
    is_deeply fvals($f, 'X-Custom'), ['v'], 'proxy_set_header X-Custom "v"';
    is_deeply fvals($f, 'X-Forwarded-For'), ['127.0.0.1'], 'proxy_set_header: XFF still added';

    ($line) = echo_head(get('/api/x?y=2'));
    is $line, 'p1 GET /prefix/x?y=2', 'URI replacement: /api/x?y=2 -> /prefix/x?y=2';
    ($line) = echo_head(get('/api/'));
    is $line, 'p1 GET /prefix/', 'URI replacement: /api/ -> /prefix/';

    $r = get('/e/peer');
    like $r->{headers}{'x-peer'} // '', qr/^127\.0\.0\.1:\d+$/, 'X-Peer passed by default';
    $r = get('/hide/x');
    is $r->{status}, 200, 'proxy_hide_header: 200';
    ok !exists $r->{headers}{'x-peer'}, 'proxy_hide_header X-Peer: dropped';
    is $r->{headers}{'x-backend'} =~ /^s[12]$/ ? 1 : 0, 1, 'proxy_hide_header: the others kept';
}

# --- 3. framing ----------------------------------------------------------------------

{
    my $sha50 = pattern_sha256($MB50);
    my $c = http_connect($P, timeout => 30);
    my $t0 = time;
    my $r = $c->request('GET', "/size/$MB50", headers => ['Host' => 'main.test'],
        digest => 1, timeout => 30);
    is_deeply [$r->{status}, $r->{framing}, $r->{body_length}, $r->{body_sha256}],
        [200, 'length', $MB50, $sha50], '50 MB Content-Length download: byte-exact';
    diag sprintf '50 MB through doorman: %.2f s', time - $t0;
    $r = $c->request('GET', "/chunked/$MB50", headers => ['Host' => 'main.test'],
        digest => 1, timeout => 30);
    is_deeply [$r->{status}, $r->{body_length}, $r->{body_sha256}],
        [200, $MB50, $sha50], '50 MB chunked download: byte-exact';
    ok !$r->{close}, 'chunked: the connection stays open';
    $r = $c->request('GET', "/close/$MB50", headers => ['Host' => 'main.test'],
        digest => 1, timeout => 30);
    is_deeply [$r->{status}, $r->{body_length}, $r->{body_sha256}],
        [200, $MB50, $sha50], '50 MB close-delimited download: byte-exact';
    $c->close;

    my ($u, $sha) = upload($P, '/upload', $MB50, headers => ['Host' => 'main.test']);
    is $u->{body}, "$MB50 $sha\n", '50 MB upload with Content-Length: byte-exact'
        or diag "status $u->{status} error " . ($u->{error} // '');
    ($u, $sha) = upload($P, '/upload', $MB50, chunked => 1, headers => ['Host' => 'main.test']);
    is $u->{body}, "$MB50 $sha\n", '50 MB chunked upload: byte-exact'
        or diag "status $u->{status} error " . ($u->{error} // '');

    $c = http_connect($P);
    $r = $c->request('HEAD', '/size/12345', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, $r->{headers}{'content-length'}, $r->{body}],
        [200, 12345, ''], 'HEAD: no body, Content-Length kept';
    $r = $c->request('GET', '/status/204', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, $r->{body}, exists $r->{headers}{'content-length'} ? 1 : 0,
        exists $r->{headers}{'transfer-encoding'} ? 1 : 0], [204, '', 0, 0],
        '204: no body, no framing';
    $r = $c->request('GET', '/status/304', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, $r->{body}], [304, ''], '304: no body';
    $r = $c->request('GET', '/size/10', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, $r->{body}], [200, pattern_bytes(0, 10)],
        'after HEAD, 204, 304: the connection still works';
    $r = $c->request('GET', '/interim?n=2', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, scalar @{$r->{interim} || []}], [200, 0],
        '103 Early Hints dropped, the 200 passed';
    $c->close;

    $c = http_connect($P, timeout => 20);
    $r = $c->request('GET', '/chunked/1000000', version => '1.0',
        headers => ['Host' => 'main.test'], digest => 1, timeout => 20);
    is_deeply [$r->{status}, $r->{body_length}, $r->{body_sha256}],
        [200, 1000000, pattern_sha256(1000000)], 'HTTP/1.0 client, chunked answer: decoded';
    isnt $r->{headers}{'transfer-encoding'} // '', 'chunked', 'HTTP/1.0: no chunked framing';
    ok $r->{close} && $c->wait_close(3), 'HTTP/1.0: closed after the body';
    $c->close;
}

# --- 5. WebSocket --------------------------------------------------------------------

{
    my ($ws, $r) = ws_connect($P, '/ws', headers => ['Host' => 'main.test']);
    ok $ws, 'ws: 101 through doorman' or diag explain $r;
    SKIP: {
        skip 'no websocket', 4 unless $ws;
        ws_send_text($ws, 'hello doorman');
        my $m = ws_recv($ws, timeout => 3);
        is_deeply [$m && $m->{op}, $m && $m->{payload}], ['text', 'hello doorman'], 'ws: text echo';
        my $bin = join '', map { chr } 0 .. 255;
        $bin x= 300;
        ws_send_binary($ws, $bin);
        $m = ws_recv($ws, timeout => 3);
        ok $m && $m->{op} eq 'binary' && $m->{payload} eq $bin, 'ws: 76800-byte binary echo';
        ws_send_close($ws, 1000, 'bye');
        $m = ws_recv($ws, timeout => 3);
        is $m && $m->{op}, 'close', 'ws: close echoed';
        ok $ws->wait_close(3), 'ws: closed';
    }

    ($ws, $r) = ws_connect($P, '/wst/', headers => ['Host' => 'main.test']);
    ok $ws, 'ws with proxy_tunnel_timeout 1s: 101' or diag explain $r;
    SKIP: {
        skip 'no websocket', 2 unless $ws;
        ws_send_text($ws, 'x');
        my $m = ws_recv($ws, timeout => 3);
        is $m && $m->{payload}, 'x', 'ws tunnel: echo';
        my $t0 = time;
        my $closed = $ws->wait_close(4);
        my $el = time - $t0;
        ok $closed && $el > 0.6 && $el < 2.5,
            sprintf 'proxy_tunnel_timeout 1s: idle tunnel closed after %.2f s', $el;
    }

    my $c = http_connect($P);
    $r = $c->request('GET', '/h2c', headers => ['Host' => 'main.test',
        'Connection' => 'Upgrade, HTTP2-Settings', 'Upgrade' => 'h2c',
        'HTTP2-Settings' => 'AAMAAABkAARAAAAAAAIAAAAA']);
    my (undef, $f) = echo_head($r);
    is $r->{status}, 200, 'Upgrade: h2c: a normal 200';
    is_deeply [map { $_->[0] } grep { $_->[0] =~ /^(upgrade|http2-settings)$/i } @$f], [],
        'Upgrade: h2c: the backend sees no Upgrade (nor HTTP2-Settings)';
    # the same where proxy_set_header Upgrade $http_upgrade is written
    $r = $c->request('GET', '/wsh2c', headers => ['Host' => 'main.test',
        'Connection' => 'Upgrade, HTTP2-Settings', 'Upgrade' => 'h2c',
        'HTTP2-Settings' => 'AAMAAABkAARAAAAAAAIAAAAA']);
    (undef, $f) = echo_head($r);
    is_deeply [$r->{status}, map { $_->[0] } grep { $_->[0] =~ /^(upgrade|http2-settings)$/i } @$f],
        [200], 'Upgrade: h2c in the location with proxy_set_header Upgrade: not forwarded';
    $r = $c->request('GET', '/after-h2c', headers => ['Host' => 'main.test']);
    is $r->{status}, 200, 'Upgrade: h2c: the connection carries the next request';
    $c->close;

    # an upgrade request the backend answers 200: stays HTTP
    $c = http_connect($P);
    $r = $c->request('GET', '/wsno', headers => ['Host' => 'main.test',
        'Upgrade' => 'websocket', 'Connection' => 'Upgrade',
        'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version' => 13]);
    is $r->{status}, 200, 'upgrade answered 200: 200';
    ok !$r->{upgraded} && !$r->{close}, 'upgrade answered 200: stays HTTP, kept open';
    $r = $c->request('GET', '/next', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, (echo_head($r))[0] =~ /^s[12] GET \/next$/ ? 1 : 0], [200, 1],
        'upgrade answered 200: the next request on the same connection';
    $c->close;
}

# --- 6. failures ----------------------------------------------------------------------

{
    my $r = get('/dead/x');
    is $r->{status}, 502, 'peer not listening: 502';
    ok length($r->{body}) > 0 && length($r->{body}) < 1024,
        'peer not listening: a short body (' . length($r->{body}) . ' bytes)';

    $r = get('/deadfb/x');
    is_deeply [$r->{status}, $r->{body}], [200, "fallback\n"], 'error_page 502 = @fallback for a dead peer';
    $r = get('/rwb/z?q=1');
    is((echo_head($r))[0], 'p1 GET /other/z?q=1', 'rewrite ... break: the rewritten URI passed as is');

    my $t0 = time;
    $r = get('/slow/3000', timeout => 10);
    my $el = time - $t0;
    is $r->{status}, 504, 'proxy_read_timeout 1s on /slow/3000: 504';
    ok $el >= 0.9 && $el < 3.5, sprintf 'proxy_read_timeout: after %.2f s', $el;

    $t0 = time;
    $r = get('/slowoff/3000', timeout => 10);
    $el = time - $t0;
    is $r->{status}, 504, 'proxy_read_timeout 1s, proxy_next_upstream off: 504';
    ok $el >= 0.9 && $el < 2.5, sprintf 'proxy_read_timeout (one try): after %.2f s', $el;

    my @st = map { get('/r503/x') } 1 .. 3;
    is_deeply [map { $_->{status} } @st], [200, 200, 200],
        'proxy_next_upstream http_503: moved to the next peer (200)';
    is_deeply [map { backend_of($_) } @st], [qw(s1 s1 s1)], 'http_503: answered by s1';

    $r = get('/post/x', method => 'POST', ropts => {body => 'payload'});
    is $r->{status}, 502, 'POST reset after it was sent: not retried (502)';
    $r = get('/post/x', method => 'GET');
    is_deeply [$r->{status}, backend_of($r)], [200, 's1'], 'GET reset: retried (200 from s1)';
    $r = get('/postni/x', method => 'POST', ropts => {body => 'payload'});
    is_deeply [$r->{status}, backend_of($r)], [200, 's1'],
        'POST with non_idempotent: retried (200 from s1)';

    # the access log: both attempts
    my $want503 = "127.0.0.1:" . $t->port_n(3) . ", 127.0.0.1:$bp{s1}";
    my $lines = '';
    $t->wait_for(sub {
        $lines = $t->read_file($t->path('logs/access.log')) // '';
        $lines =~ m{^/postni/x\|}m;
    }, timeout => 3);
    my @l503 = grep { m{^/r503/x\|} } split /\n/, $lines;
    is scalar(@l503), 3, 'access log: three /r503/x lines';
    is $l503[0] // '', "/r503/x|200|$want503|503, 200",
        'access log: $upstream_addr and $upstream_status with both attempts';
    my ($lslow) = grep { m{^/slow/3000\|} } split /\n/, $lines;
    like $lslow // '', qr{^/slow/3000\|504\|127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\|504, 504$},
        'access log: two timed-out attempts are 504, 504';
    my ($lpost) = grep { m{^/post/x\|502} } split /\n/, $lines;
    is $lpost // '', "/post/x|502|127.0.0.1:$rport|502", 'access log: a POST tried once';
    my ($lni) = grep { m{^/postni/x\|} } split /\n/, $lines;
    is $lni // '', "/postni/x|200|127.0.0.1:$rport, 127.0.0.1:$bp{s1}|502, 200",
        'access log: a non_idempotent POST tried twice';

    # three dead peers; proxy_next_upstream_tries 2; http_500, http_429
    is get('/d3/x')->{status}, 502, 'three dead peers: 502';
    is get('/d3t2/x')->{status}, 502, 'three dead peers, tries 2: 502';
    $r = get('/e500/x');
    is_deeply [$r->{status}, backend_of($r)], [200, 's2'], 'proxy_next_upstream http_500: the next peer answers';
    $r = get('/e429/x');
    is_deeply [$r->{status}, backend_of($r)], [200, 's2'], 'proxy_next_upstream http_429: the next peer answers';
    is get('/e500no/x')->{status}, 500, 'a 500 without http_500: passed to the client';
    my %tries;
    $t->wait_for(sub {
        my $log = $t->read_file($t->path('logs/access.log')) // '';
        %tries = map { my @f = split /\|/; ($f[0] => $f[2]) } grep { m{^/(d3|d3t2|e500|e429|e500no)/} } split /\n/, $log;
        keys(%tries) >= 5;
    }, timeout => 3);
    is scalar(my @a3 = split /, /, $tries{'/d3/x'} // ''), 3, 'three dead peers: three attempts logged';
    is scalar(my @a2 = split /, /, $tries{'/d3t2/x'} // ''), 2, 'proxy_next_upstream_tries 2: two attempts logged';
    is $tries{'/e500no/x'}, '127.0.0.1:' . $t->port_n(3), 'a 500 without http_500: one attempt';

    # $upstream_bytes_received: the bytes of that attempt
    get('/bytes/size/100') for 1 .. 3;
    my @b;
    $t->wait_for(sub {
        @b = map { (split /\|/)[1] } split /\n/, $t->read_file($t->path('logs/bytes.log')) // '';
        @b >= 3;
    }, timeout => 3);
    ok @b == 3 && $b[0] =~ /^\d+$/ && $b[0] > 100 && $b[0] < 500 && $b[1] == $b[0] && $b[2] == $b[0],
        'access log: $upstream_bytes_received per attempt (the same for three equal requests)'
        or diag "got: @b";
}

# --- 7. more edges ------------------------------------------------------------------

{
    my $c = http_connect($P);
    # pipelining: three requests in one write, three answers in order
    $c->send_raw(join '', map { "GET /pipe$_ HTTP/1.1\r\nHost: main.test\r\n\r\n" } 1 .. 3);
    my @lines = map { (echo_head($c->read_response(timeout => 5)))[0] } 1 .. 3;
    is_deeply [map { s/^s[12] //r } @lines], ['GET /pipe1', 'GET /pipe2', 'GET /pipe3'],
        'pipelined requests: answered in order';

    # pipelined with bodies, behind a slow first answer
    $c->send_raw("GET /slowbody/300 HTTP/1.1\r\nHost: main.test\r\n\r\n"
        . "POST /upload HTTP/1.1\r\nHost: main.test\r\nContent-Length: 5\r\n\r\nhello"
        . "GET /chunked/70000 HTTP/1.1\r\nHost: main.test\r\n\r\n"
        . "POST /p2 HTTP/1.1\r\nHost: main.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        . "GET /last HTTP/1.1\r\nHost: main.test\r\n\r\n");
    my @p = map { $c->read_response(timeout => 5) } 1 .. 5;
    is_deeply [map { $_->{status} // 0 } @p], [200, 200, 200, 200, 200], 'pipelined with bodies: five 200s';
    ok +((echo_head($p[0]))[0] // '') =~ m{ GET /slowbody/300$}
        && $p[1]{body} eq '5 ' . Digest::SHA::sha256_hex('hello') . "\n"
        && $p[2]{body} eq pattern_bytes(0, 70000)
        && ((echo_head($p[3]))[0] // '') =~ m{ POST /p2$} && ($p[3]{headers}{'x-body-bytes'} // '') eq '3'
        && ((echo_head($p[4]))[0] // '') =~ m{ GET /last$},
        'pipelined with bodies: each answer to its request, in order';

    # trailers and chunk extensions from the backend
    my $r = $c->request('GET', '/chunked/200000?trailer=1&ext=1',
        headers => ['Host' => 'main.test', 'TE' => 'trailers']);
    is_deeply [$r->{status}, $r->{body_length}, $r->{body} eq pattern_bytes(0, 200000) ? 1 : 0],
        [200, 200000, 1], 'chunked with extensions and a trailer: body exact';

    # two Set-Cookie fields stay two fields
    $r = $c->request('GET', '/cookie', headers => ['Host' => 'main.test']);
    is_deeply $r->{headers}{'set-cookie'}, ['a=1', 'b=2'], 'two Set-Cookie fields kept';

    # Expect: 100-continue upload
    $r = $c->request('POST', '/upload', headers => ['Host' => 'main.test',
        'Expect' => '100-continue'], body => 'x' x 100000);
    my $sha = Digest::SHA::sha256_hex('x' x 100000);
    is $r->{body}, "100000 $sha\n", 'Expect: 100-continue: upload exact';

    # empty POST bodies
    $r = $c->request('POST', '/e/empty', headers => ['Host' => 'main.test'], body => '');
    my (undef, $f) = echo_head($r);
    is $r->{status}, 200, 'POST with an empty body: 200';

    # a chunked request body on a small POST
    $r = $c->request('POST', '/upload', headers => ['Host' => 'main.test'],
        body => 'hello', chunked => 1);
    is $r->{body}, '5 ' . Digest::SHA::sha256_hex('hello') . "\n", 'small chunked upload';

    # HEAD of a chunked resource
    $r = $c->request('HEAD', '/chunked/5000', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, $r->{body}], [200, ''], 'HEAD of a chunked resource: no body';
    $r = $c->request('GET', '/size/3', headers => ['Host' => 'main.test']);
    is $r->{body}, pattern_bytes(0, 3), '... and the connection still works';

    # the encoded URI and the URI replacement
    $r = $c->request('GET', '/api/a%20b/c?q=%41', headers => ['Host' => 'main.test']);
    is((echo_head($r))[0], 'p1 GET /prefix/a%20b/c?q=%41', 'URI replacement keeps the encoding');
    $r = $c->request('GET', '/x/../api/y', headers => ['Host' => 'main.test']);
    is((echo_head($r))[0], 'p1 GET /prefix/y', 'URI replacement after normalization');

    # Host with a port; absolute-form target
    $r = $c->request('GET', '/hp', headers => ['Host' => 'a.test:' . $P]);
    is backend_of($r), 'h1', 'Host with a port: routed by name';
    $r = $c->request('GET', "http://a.test/abs?x=1", no_host => 1,
        headers => ['Host' => 'a.test']);
    is_deeply [backend_of($r), (echo_head($r))[0]], ['h1', 'h1 GET /abs?x=1'],
        'absolute-form target: routed by its host, origin-form upstream';
    $c->close;

    # a client gone mid-download does not hurt the next ones
    my $g = http_connect($P);
    $g->send_raw("GET /size/$MB50 HTTP/1.1\r\nHost: main.test\r\n\r\n");
    sleep 0.2;
    $g->close;
    $r = get('/size/1000');
    is_deeply [$r->{status}, $r->{body} eq pattern_bytes(0, 1000) ? 1 : 0], [200, 1],
        'after a client left mid-download: served';

    # X-Forwarded-For over two fields from a trusted peer: folded
    (undef, $f) = echo_head(get('/e/two', port => $t->port_n(2), host => 'trusted.test',
        headers => ['X-Forwarded-For' => '1.1.1.1', 'X-Forwarded-For' => '2.2.2.2']));
    is_deeply fvals($f, 'X-Forwarded-For'), ['1.1.1.1, 2.2.2.2, 127.0.0.1'],
        'trusted: two XFF fields folded into one, extended';

    # WebSocket: ping, fragments
    my $ws = ws_connect($P, '/ws', headers => ['Host' => 'main.test']);
    ok $ws, 'ws again';
    SKIP: {
        skip 'no ws', 3 unless $ws;
        ws_send_ping($ws, 'pp');
        my $m = ws_recv($ws, timeout => 3);
        is_deeply [$m && $m->{op}, $m && $m->{payload}], ['pong', 'pp'], 'ws: ping -> pong';
        ws_send_frame($ws, 1, 'ab', fin => 0);
        ws_send_frame($ws, 0, 'cd', fin => 1);
        my @got;
        for (1 .. 2) { my $x = ws_recv($ws, timeout => 3) or last; push @got, $x->{payload}; }
        is join('', @got), 'abcd', 'ws: fragments echoed';
        my $big = 'z' x 300000;
        ws_send_text($ws, $big);
        $m = ws_recv($ws, timeout => 5);
        ok $m && length($m->{payload}) == 300000, 'ws: a 300 KB frame echoed';
        $ws->close;
    }
}

# --- 8. broken upstream answers, bad client requests ----------------------------------

{
    my $r = get('/raw/bigheader');
    is $r->{status}, 502, 'upstream head larger than the buffer: 502';
    $r = get('/raw/clte');
    is $r->{status}, 502, 'upstream Content-Length and Transfer-Encoding together: 502';
    $r = get('/raw/twocl');
    is $r->{status}, 502, 'upstream with two different Content-Length: 502';
    $r = get('/raw/garbage');
    is $r->{status}, 502, 'upstream answer that is not HTTP: 502';
    $r = get('/raw/unasked101');
    is $r->{status}, 502, 'upstream 101 to a request that asked no upgrade: 502';
    my $c = http_connect($P);
    $r = $c->request('GET', '/raw/short', headers => ['Host' => 'main.test'], timeout => 5);
    ok !$r->{complete} || ($r->{body_length} // 0) != 100,
        'upstream body cut short: the client does not get a complete 100-byte body';
    ok $c->wait_close(5), 'upstream body cut short: the client connection is closed';
    $c->close;
    $c = http_connect($P);
    $r = $c->request('GET', '/raw/badchunk', headers => ['Host' => 'main.test'], timeout => 5);
    ok(($r->{status} // 0) == 502 || (!$r->{complete} && $c->wait_close(5)),
        'upstream with a bad chunk size: 502 or cut');
    $c->close;
    $c = http_connect($P);
    $r = $c->request('GET', '/raw/http10', headers => ['Host' => 'main.test'], timeout => 5);
    is_deeply [$r->{status}, $r->{body}], [200, 't' x 1000], 'HTTP/1.0 close-delimited upstream: body';
    # re-framed for the 1.1 client (chunked, as nginx), which keeps its
    # connection
    is $r->{framing}, 'chunked', 'HTTP/1.0 close-delimited upstream: chunked to the 1.1 client';
    $r = $c->request('GET', '/after', headers => ['Host' => 'main.test']);
    is $r->{status}, 200, 'HTTP/1.0 upstream: the client connection carries the next request';
    $c->close;

    $r = get('/raw/srvdate');
    is_deeply [$r->{status}, $r->{body}, scalar(grep { lc $_->[0] eq 'server' } @{$r->{fields}}),
        scalar(grep { lc $_->[0] eq 'date' } @{$r->{fields}})], [200, 'ok', 1, 1],
        'an upstream Server and Date: one of each';
    like $r->{headers}{server} // '', qr/^doorman/i, 'Server is doorman\'s, not the upstream\'s';
    unlike $r->{headers}{date} // '', qr/2001/, 'Date is doorman\'s, not the upstream\'s';
    $r = get('/raw/cookies');
    is_deeply [$r->{status}, scalar @{$r->{headers}{'set-cookie'} || []}], [200, 100],
        'an upstream head of 101 fields (100 Set-Cookie, 2 KB): passed';
    ok $rawp->alive, 'the raw backend lived through it';
    unlike $t->error_log, qr/connect\(\) to 127\.0\.0\.1:$raw failed/,
        'every raw answer was a real one (never connection refused)';

    # /close/N through doorman: a 1.1 client keeps its connection
    $c = http_connect($P);
    $r = $c->request('GET', '/close/5000', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, $r->{body} eq pattern_bytes(0, 5000) ? 1 : 0], [200, 1],
        '/close/5000: body';
    is $r->{framing}, 'chunked', '/close/5000: chunked to the 1.1 client';
    $r = $c->request('GET', '/size/7', headers => ['Host' => 'main.test']);
    is_deeply [$r->{status}, $r->{body}], [200, pattern_bytes(0, 7)],
        '/close/5000: the client connection carries the next request';
    $c->close;

    # an upstream name from a map that names no upstream
    $r = get('/hdr/x', headers => ['X-Canary' => 'true']);
    is $r->{status}, 200, 'map to canary still works';

    # client smuggling attempts
    $c = http_connect($P);
    $r = $c->request('POST', '/e/smuggle', raw => "POST /e/smuggle HTTP/1.1\r\nHost: main.test\r\n"
        . "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    is $r->{status}, 400, 'client Content-Length + Transfer-Encoding: 400';
    $c->close;
    $c = http_connect($P);
    $r = $c->request('POST', '/e/cl2', raw => "POST /e/cl2 HTTP/1.1\r\nHost: main.test\r\n"
        . "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde");
    is $r->{status}, 400, 'client with two different Content-Length: 400';
    $c->close;
}

$t->stop;
diag sprintf 'http_proxy.t: %.1f s', time - $started;
done_testing;
