#!/usr/bin/perl
#
# HTTP routing (issue 10): which server and which location a request gets,
# and what the rewrite script, error_page and add_header do with it, all
# through the real server with raw HTTP/1.1 requests.
#
#   1. Locations: nginx's precedence shown as a table of URIs and the
#      location each must reach (=, ^~, longest prefix, regexes in file
#      order, ~ against ~*, nested prefix and regex locations, captures
#      $1 and named groups, a named location never matched by a URI).
#   2. server_name: exact, *.wildcard, wildcard.*, .domain, ~regex with
#      captures, and the order between them (exact, longest leading,
#      longest trailing, first regex).
#   3. rewrite last | break | redirect | permanent, with arguments kept,
#      replaced or dropped; a server-level rewrite and return; set; a
#      chain of 10 rewrites is served, 11 (and a self loop) are a 500
#      with the cycle in the error log.
#   4. error_page = @fallback, =CODE, a URI keeping the code (a POST
#      becomes GET), an absolute URL; add_header on 2xx/3xx only unless
#      `always`, a location's lines replacing the server's.
#   5. Configuration refusals.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::IP;
use Test::More;
use Time::HiRes qw(time);

use Doorman::HTTP;
use Doorman::Test;

my $t = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $t->bin . ' (make first)'
    unless -x $t->bin;

# One request on its own connection: {status, h => {lc name => value},
# body}.
sub req {
    my ($port, $target, %o) = @_;
    my $method = $o{method} // 'GET';
    my $host = $o{host} // 'main.test';
    my $head = "$method $target HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n";
    $head .= "$_\r\n" for @{$o{headers} || []};
    my $body = $o{body} // '';
    $head .= 'Content-Length: ' . length($body) . "\r\n" if length $body;
    my ($data, $how) = $t->tcp_request($port, "$head\r\n$body", timeout => 5);
    diag "DEBUG $target: $how [" . ($data // "") . "]" if $ENV{RT_DEBUG};
    $data //= '';
    my $end = index $data, "\r\n\r\n";
    return {status => 0, h => {}, body => ''} if $end < 0;
    my ($line, @fields) = split /\r\n/, substr($data, 0, $end);
    my ($status) = $line =~ m{^HTTP/1\.1 (\d{3})};
    my %h;
    for (@fields) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    return {status => $status // 0, h => \%h, body => substr($data, $end + 4)};
}

# The bytes a request from a given local address gets back (until EOF,
# at most 5 s).
sub raw_from {
    my ($port, $from, $bytes) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port,
        LocalAddr => $from, Proto => 'tcp', Timeout => 5) or return undef;
    print {$s} $bytes;
    my $data = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + 5;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $data .= $buf;
    }
    close $s;
    return $data;
}

# --- the configuration --------------------------------------------------------

my @hops = map {
    my $n = $_ + 1;
    "        location = /hop$_ { rewrite ^ /hop$n last; }"
} 0 .. 10;
my $hops = join "\n", @hops;

$t->write_conf(<<"EOF");
worker_processes 2;
events { worker_connections 256; }
http {
    access_log off;

    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name main.test;

        # the table of nginx's documentation, and more
        location = / { return 200 "A\\n"; }
        location / { return 200 "B\\n"; }
        location /documents/ { return 200 "C\\n"; }
        location ^~ /images/ { return 200 "D\\n"; }
        location ~* \\.(gif|jpg|jpeg)\$ { return 200 "E \$1\\n"; }
        location /images/big/ { return 200 "F\\n"; }
        location ~ ^/case/[a-z]+\$ { return 200 "G\\n"; }
        location ~ ^/case/ { return 200 "H\\n"; }
        location /shop/ {
            location /shop/cart/ { return 200 "I\\n"; }
            location ~ \\.json\$ { return 200 "J\\n"; }
            return 200 "K\\n";
        }
        location ~ ^/api/(?<version>v[0-9]+)/(.*)\$ {
            return 200 "L \$version \$2\\n";
        }
        location = /exact/ { return 200 "M\\n"; }
        location /exact/ { return 200 "N\\n"; }
        location ^~ /ro/ {
            location ~ \\.gif\$ { return 200 "O\\n"; }
            return 200 "P\\n";
        }
        location \@named { return 200 "Q\\n"; }

        # the rewrite script
        location /old/ { rewrite ^/old/(.*)\$ /new/\$1 last; }
        location /new/ { return 200 "new uri=\$uri args=\$args\\n"; }
        location /addargs/ { rewrite ^/addargs/(.*)\$ /new/\$1?x=1 last; }
        location /dropargs/ { rewrite ^/dropargs/(.*)\$ /new/\$1? last; }
        location /brk/ {
            rewrite ^/brk/(.*)\$ /new/\$1 break;
            return 200 "stayed in /brk/ with uri=\$uri\\n";
        }
        location /noflag/ {
            rewrite ^/noflag/(.*)\$ /other/\$1;
            rewrite ^/other/(.*)\$ /new/\$1;
        }
        location /tmp/ { rewrite ^/tmp/(.*)\$ /new/\$1 redirect; }
        location /perm/ { rewrite ^/perm/(.*)\$ /new/\$1 permanent; }
        location /ext/ { rewrite ^/ext/(.*)\$ https://example.test/\$1; }
        location /loop { rewrite ^ /loop last; }
        location /set/ {
            set \$who "someone";
            set \$greeting "hello \$who at \$uri";
            return 200 "\$greeting\\n";
        }
$hops
        location = /hop11 { return 200 "end of hops\\n"; }
        location = /hop10b { rewrite ^ /hop11 last; }

        # error_page and add_header
        add_header X-Server main;
        error_page 404 = \@fallback;
        location \@fallback {
            add_header X-Fallback yes always;
            return 200 "fallback for \$uri\\n";
        }
        location /missing { return 404; }
        location /gone {
            error_page 404 =410 /errors/gone.html;
            return 404;
        }
        location /keep {
            error_page 404 /errors/page.html;
            return 404;
        }
        location /errors/ {
            add_header X-Error-Page \$uri;
            return 200 "error page \$uri for \$request_method\\n";
        }
        location /away {
            error_page 404 https://example.test/notfound;
            return 404;
        }
        location /busy {
            add_header X-Always always-here always;
            add_header X-Not-On-Errors no;
            return 503;
        }
        location /fine {
            add_header X-Always always-here always;
            add_header X-Not-On-Errors yes;
            return 200 "fine\\n";
        }
        location /empty-header {
            add_header X-Empty "\$arg_nothing";
            return 200 "ok\\n";
        }
    }

    # server-level rewrite and return run before any location
    server {
        listen 127.0.0.1:%%PORT_2%%;
        server_name srv.test;
        rewrite ^/legacy/(.*)\$ /modern/\$1;
        location /modern/ { return 200 "modern \$uri\\n"; }
        location /legacy/ { return 200 "legacy location\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        server_name closed.test;
        return 403;
        location / { return 200 "never\\n"; }
    }

    # server names
    server {
        listen 127.0.0.1:%%PORT_3%% default_server;
        server_name default.test;
        location / { return 200 "default\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        server_name www.example.com;
        location / { return 200 "exact\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        server_name *.example.com;
        location / { return 200 "leading *.example.com\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        server_name *.eu.example.com;
        location / { return 200 "leading *.eu.example.com\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        server_name www.example.*;
        location / { return 200 "trailing www.example.*\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        server_name .domain.test;
        location / { return 200 "dot .domain.test\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        server_name ~^(?<user>[a-z]+)\\.users\\.test\$ ~^www\\.(.+)\\.org\$;
        location / { return 200 "regex user=\$user 1=\$1\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        server_name ~^.*\\.example\\.com\$;
        location / { return 200 "regex example.com (never: wildcards first)\\n"; }
    }
}
EOF

$t->run(wait_ports => [map { $t->port_n($_) } 1 .. 3]);
my ($P1, $P2, $P3) = map { $t->port_n($_) } 1 .. 3;

# --- 1. locations ---------------------------------------------------------------

for my $case (
    ['/', "A\n", 'exact = / wins over the prefix /'],
    ['/index.html', "B\n", 'only the prefix / matches'],
    ['/documents/document.html', "C\n", 'the longest prefix'],
    ['/images/1.gif', "D\n", '^~ stops the regex search'],
    ['/images/big/1.gif', "E gif\n",
        'the longest prefix decides: /images/big/ is not ^~, the regex wins'],
    ['/images/big/x', "F\n", 'the longest prefix without a regex match'],
    ['/documents/1.jpg', "E jpg\n", 'a regex beats a plain prefix'],
    ['/Documents/1.JPG', "E JPG\n", '~* is caseless (and $1 is captured)'],
    ['/case/abc', "G\n", 'regexes in file order: the first match wins'],
    ['/case/ABC', "H\n", '~ is case-sensitive: the next regex'],
    ['/shop/cart/x', "I\n", 'a nested prefix'],
    ['/shop/cart/x.json', "J\n", 'a nested regex beats a nested prefix'],
    ['/shop/x.json', "J\n", 'a nested regex of the matched prefix'],
    ['/shop/x', "K\n", 'the outer prefix itself'],
    ['/api/v2/users/7', "L v2 users/7\n",
        'a named group ($version) and a positional capture ($2)'],
    ['/exact/', "M\n", 'exact beats an equal prefix'],
    ['/exact/x', "N\n", 'the prefix of an exact name'],
    ['/ro/a.gif', "O\n", 'inside ^~, its own nested regex still applies'],
    ['/ro/a.jpg', "P\n", '^~ keeps the outer ~* \\.jpg\$ away'],
    ['/@named', "B\n", 'a named location is never matched by a URI'],
) {
    my ($uri, $want, $what) = @$case;
    my $r = req($P1, $uri);
    is $r->{body}, $want, "$uri -> $what";
}

# --- 2. server names ------------------------------------------------------------

for my $case (
    ['www.example.com', "exact\n", 'an exact name first'],
    ['WWW.Example.COM', "exact\n", 'names compare caseless'],
    ['api.example.com', "leading *.example.com\n", 'a leading wildcard'],
    ['a.b.example.com', "leading *.example.com\n", '  over several labels'],
    ['x.eu.example.com', "leading *.eu.example.com\n",
        'the longest leading wildcard'],
    ['www.example.org', "trailing www.example.*\n",
        'a trailing wildcard before a regex (^www\\.(.+)\\.org\$)'],
    ['domain.test', "dot .domain.test\n", '.domain names the domain itself'],
    ['sub.domain.test', "dot .domain.test\n", '  and its subdomains'],
    ['alice.users.test', "regex user=alice 1=alice\n",
        'a regex name with a named capture'],
    ['www.fine.org', "regex user= 1=fine\n", 'a second regex of a server'],
    ['example.com', "default\n", '*.example.com does not name example.com'],
    ['unknown.test', "default\n", 'no name: the default server'],
) {
    my ($host, $want, $what) = @$case;
    my $r = req($P3, '/', host => $host);
    is $r->{body}, $want, "Host: $host -> $what";
}

# --- 3. rewrite -----------------------------------------------------------------

my $r = req($P1, '/old/a/b?q=1');
is $r->{body}, "new uri=/new/a/b args=q=1\n", 'rewrite last: new $uri, $args kept';
$r = req($P1, '/addargs/p?q=1');
is $r->{body}, "new uri=/new/p args=x=1&q=1\n",
    'a replacement with arguments puts them before the old ones';
$r = req($P1, '/dropargs/p?q=1');
is $r->{body}, "new uri=/new/p args=\n", 'a trailing ? drops the arguments';
$r = req($P1, '/brk/z');
is $r->{body}, "fallback for /new/z\n",
    'rewrite break: the script stops (its return does not run), the location'
    . ' stays (no content there: 404, error_page), $uri changed';
$r = req($P1, '/noflag/z');
is $r->{body}, "new uri=/new/z args=\n",
    'rewrites without a flag chain, then the location is searched again';
$r = req($P1, '/tmp/z?q=1');
is "$r->{status} $r->{h}{location}", "302 http://main.test:$P1/new/z?q=1",
    'rewrite redirect: 302, absolute, arguments kept';
$r = req($P1, '/perm/z');
is "$r->{status} $r->{h}{location}", "301 http://main.test:$P1/new/z",
    'rewrite permanent: 301';
$r = req($P1, '/ext/z');
is "$r->{status} $r->{h}{location}", '302 https://example.test/z',
    'a replacement that is a URL redirects';
$r = req($P1, '/set/x');
is $r->{body}, "hello someone at /set/x\n", 'set, in order, with variables';

$r = req($P1, '/hop1');
is $r->{body}, "end of hops\n", '10 rewrites (/hop1 ... /hop11) are served';
my $off = $t->log_offset;
$r = req($P1, '/hop0');
is $r->{status}, 500, 'the 11th is a cycle: 500';
$r = req($P1, '/loop');
is $r->{status}, 500, 'rewrite ^ /loop last in /loop: 500';
ok $t->wait_log(qr/rewrite or internal redirection cycle while processing "\/loop"/,
        from => $off), '  logged as a cycle';
$r = req($P1, '/');
is $r->{body}, "A\n", '  and the server goes on';

$r = req($P2, '/legacy/x', host => 'srv.test');
is $r->{body}, "modern /modern/x\n",
    'a server-level rewrite runs before the location search';
$r = req($P2, '/anything', host => 'closed.test');
is $r->{status}, 403, 'a server-level return answers before any location';

# --- 4. error_page and add_header -------------------------------------------------

$r = req($P1, '/missing');
is $r->{status}, 200, 'error_page 404 = @fallback: the fallback\'s status';
is $r->{body}, "fallback for /missing\n", '  its answer ($uri unchanged)';
is $r->{h}{'x-fallback'}, 'yes', '  its add_header ... always';
$r = req($P1, '/nothing-here/at-all');
is $r->{body}, "B\n", '/ catches everything: no 404 there';
$r = req($P1, '/gone');
is $r->{status}, 410, 'error_page 404 =410 URI: 410';
is $r->{body}, "error page /errors/gone.html for GET\n", '  with the page';
$r = req($P1, '/keep', method => 'POST', body => 'x=1');
is $r->{status}, 404, 'error_page 404 URI keeps 404';
is $r->{body}, "error page /errors/page.html for GET\n",
    '  and a POST reaches the page as GET';
is $r->{h}{'x-error-page'}, undef,
    '  the page\'s add_header (no always) is not on a 404';
$r = req($P1, '/away');
is "$r->{status} $r->{h}{location}", '302 https://example.test/notfound',
    'error_page 404 URL: a 302';

$r = req($P1, '/busy');
is $r->{status}, 503, '503 answered';
is $r->{h}{'x-always'}, 'always-here', 'add_header ... always on the 503';
is $r->{h}{'x-not-on-errors'}, undef, 'add_header without always: not on it';
is $r->{h}{'x-server'}, undef, 'a location with add_header replaces the server\'s';
$r = req($P1, '/fine');
is "$r->{h}{'x-always'} $r->{h}{'x-not-on-errors'}", 'always-here yes',
    'both on a 200';
$r = req($P1, '/documents/x');
is $r->{h}{'x-server'}, 'main', 'the server\'s add_header is inherited';
$r = req($P1, '/empty-header');
ok !exists $r->{h}{'x-empty'}, 'an empty value adds no header';

# --- 5. the example: conf/examples/l7-routing.conf --------------------------------

# Run as written, with real backends in place of its documentation
# addresses: each pool is a backend that names itself in X-Backend.
SKIP: {
    skip 'the http_proxy module is not built', 17
        unless $t->has('http_proxy');
    my $ex = Doorman::Test::srcdir() . '/conf/examples/l7-routing.conf';
    open my $fh, '<', $ex or die "$ex: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    my $te = Doorman::Test->new;
    my %port;
    for my $pool (qw(stable1 stable2 canary static admin)) {
        $port{$pool} = start_backend($te, name => $pool);
    }
    my %addr = ('192.0.2.10:3000' => 'stable1', '192.0.2.11:3000' => 'stable2',
        '192.0.2.20:3000' => 'canary', '192.0.2.30:8080' => 'static',
        '192.0.2.40:9000' => 'admin');
    my $subs = 0;
    for my $a (keys %addr) {
        $subs += ($text =~ s/server \Q$a\E;/server 127.0.0.1:$port{$addr{$a}};/g);
    }
    is $subs, 5, 'the example has the five documentation servers';
    my $n = ($text =~ s/listen 8080/listen 127.0.0.1:%%PORT_1%%/g);
    is $n, 4, 'the example listens on 8080 four times';
    $text =~ s/worker_processes auto;/worker_processes 2;/;
    # 400 sessions below in a second or two: above the example's 50r/s
    is(($text =~ s/rate=50r\/s/rate=5000r\/s/), 1, 'the example limits to 50r/s');
    $te->write_conf($text);
    my ($rc, $e) = $te->test_conf;
    is $rc, 0, 'conf/examples/l7-routing.conf is valid' or diag $e;
    $te->run(wait_ports => [$te->port_n(1)]);
    my $p = $te->port_n(1);
    my $r = req($p, '/api/users', host => 'api.example.com',
        headers => ['Cookie: session=abc']);
    like "$r->{h}{'x-backend'} $r->{h}{'x-pool'}",
        qr/^(stable[12] api_stable|canary api_canary)\z/,
        'example: the API goes to a pool, and X-Pool names it';
    my $side = $r->{h}{'x-pool'};
    is req($p, '/api/users', host => 'api.example.com',
        headers => ['Cookie: session=abc'])->{h}{'x-pool'}, $side,
        'example: the same session, the same side';
    $r = req($p, '/api/users', host => 'api.example.com',
        headers => ['X-Canary: true']);
    is $r->{h}{'x-backend'}, 'canary', 'example: X-Canary: true goes to the canary';
    $r = req($p, '/api/users?canary=off', host => 'api.example.com',
        headers => ['X-Canary: true']);
    like $r->{h}{'x-backend'}, qr/^stable[12]\z/, 'example: ?canary=off wins';
    $r = req($p, '/api/users', host => 'api.example.com',
        method => 'POST', body => '{}', headers => ['X-Canary: true']);
    like $r->{h}{'x-backend'}, qr/^stable[12]\z/,
        'example: writes stay on stable';
    my $canary = 0;
    for my $i (1 .. 400) {
        my $b = req($p, '/api/x', host => 'api.example.com',
            headers => ["Cookie: session=user$i"])->{h}{'x-backend'} // '';
        $canary++ if $b eq 'canary';
    }
    ok $canary >= 6 && $canary <= 40,
        "example: $canary of 400 sessions on the canary (5%: 6-40)";
    $r = req($p, '/v1/users?page=2', host => 'api.example.com');
    is "$r->{status} $r->{h}{location}",
        "301 http://api.example.com:$p/api/v1/users?page=2",
        'example: an old API path moved for good';
    $r = req($p, '/nope', host => 'api.example.com');
    is "$r->{status} $r->{body}", "404 no such API: /nope\n",
        'example: unknown API paths';
    $r = req($p, '/img/logo.PNG', host => 'static.example.com');
    is "$r->{h}{'x-backend'} $r->{h}{'x-extension'} $r->{h}{'cache-control'}",
        'static PNG public, max-age=86400', 'example: static files by extension';
    $r = req($p, '/assets/app.js', host => 'eu.cdn.example.com');
    like $r->{body}, qr{^static GET /static-assets/app\.js\n},
        'example: ^~ /assets/ on a CDN name, its prefix swapped';
    $r = req($p, '/', host => 'admin.example.com');
    is $r->{h}{'x-backend'}, 'admin', 'example: admin from an allowed address';
    my $d2 = raw_from($p, '127.0.0.2',
        "GET / HTTP/1.1\r\nHost: admin.example.com\r\nConnection: close\r\n\r\n");
    like $d2 // '', qr{^HTTP/1\.1 403 .*admin is private\n\z}s,
        'example: admin from another address: 403 with its page';
    $r = req($p, '/', host => 'unknown.example.net');
    is "$r->{status} $r->{h}{location}", '302 https://api.example.com/docs/',
        'example: any other name';
    $te->stop;
}

# --- 6. refusals ----------------------------------------------------------------

my $tc = Doorman::Test->new;
for my $case (
    ['a duplicate location', 'location /a { } location /a { }',
        qr/duplicate location "\/a"/],
    ['a duplicate ^~ of a prefix', 'location /a { } location ^~ /a { }',
        qr/duplicate location "\/a"/],
    ['a bad regex location', 'location ~ ^(a { }', qr/invalid regex "\^\(a"/],
    ['a nested named location', 'location /a { location @n { } }',
        qr/named location "\@n" can be on the server level only/],
    ['a nested location outside its parent', 'location /a { location /b { } }',
        qr/location "\/b" is outside location "\/a"/],
    ['a bad rewrite flag', 'rewrite ^ /x sometimes;',
        qr/invalid parameter "sometimes"/],
    ['a bad rewrite regex', 'rewrite ^(x /x;', qr/invalid regex "\^\(x"/],
    ['a relative rewrite', 'rewrite ^ x;',
        qr/rewrite replacement "x" must start with "\/"/],
    ['error_page 200', 'error_page 200 /x;',
        qr/value "200" must be between 300 and 599/],
    ['error_page =999', 'error_page 404 =999 /x;',
        qr/invalid response code "=999"/],
    ['a bad add_header name', 'add_header "X Y" 1;',
        qr/invalid header name "X Y"/],
    ['add_header sometimes', 'add_header X 1 sometimes;',
        qr/invalid parameter "sometimes"/],
    ['set without $', 'set x 1;', qr/invalid variable name "x"/],
    ['set of a computed variable', 'set $uri /x;',
        qr/the "\$uri" variable is defined twice/],
) {
    my ($name, $srv, $re) = @$case;
    $tc->write_conf("events { worker_connections 64; }\n"
        . "http { server { listen 127.0.0.1:%%PORT_1%%; $srv } }\n");
    my ($rc, $e) = $tc->test_conf;
    ok $rc != 0 && $e =~ $re, "refused: $name" or diag $e;
}

$t->stop;
done_testing;
