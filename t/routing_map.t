#!/usr/bin/perl
#
# Routing with `map`, as nginx users write it, through the real binary
# and real curl clients. There is no proxy yet, so each server answers
# `location / { return 200 "$pool\n"; }`: the body names the pool the
# request would go to. One configuration, one server per kind of routing:
#
#   1. by host: map $host with hostnames (exact names, *.head and tail.*
#      wildcards, .domain, a regex with a named capture) and a default;
#      $host is the Host header lower-cased, without its port and its
#      trailing dot;
#   2. by method: GET and HEAD are "read", POST, PUT and DELETE "write",
#      anything else the default (HEAD seen through a redirect's
#      Location, since a HEAD response has no body);
#   3. by header: X-Canary: true is "canary" (TRUE too: string keys
#      match case-insensitively, as nginx), anything else or no header
#      "stable";
#   4. by cookie: beta=1 (alone or among others) is "beta", another value,
#      another cookie or none "main";
#   5. by query argument: version=2 (first or later in the query) is
#      "v2", another value or none "v1";
#   6. two maps chained: the header decides first, then the cookie.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Doorman::Test;

my $probe = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
my ($rc) = $probe->run_cmd('curl', '--version', {timeout => 5});
plan skip_all => 'curl is not installed' unless $rc == 0;
undef $probe;

my $t = Doorman::Test->new;
$t->write_conf(<<'EOF');
events { worker_connections 64; }
http {
    map $host $host_pool {
        hostnames;
        default                                  fallback;
        api.example.com                          api;
        *.static.example.com                     static;
        .shop.example.com                        shop;
        www.example.*                            www;
        ~^(?<tenant>[a-z]+)\.tenants\.example\.com$  "tenant-$tenant";
    }
    map $request_method $method_pool {
        GET     read;
        HEAD    read;
        POST    write;
        PUT     write;
        DELETE  write;
        default other;
    }
    map $http_x_canary $header_pool {
        true    canary;
        default stable;
    }
    map $cookie_beta $cookie_pool {
        1       beta;
        default main;
    }
    map $arg_version $arg_pool {
        2       v2;
        default v1;
    }
    # chained: a canary header wins, else the cookie decides
    map $http_x_canary $chained_pool {
        true    canary;
        default $cookie_pool;
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 200 "$host_pool\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        location / { return 200 "$method_pool\n"; }
        location /redirect { return 302 "http://pool.test/$method_pool"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        location / { return 200 "$header_pool\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        location / { return 200 "$cookie_pool\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location / { return 200 "$arg_pool\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        location / { return 200 "$chained_pool\n"; }
    }
}
EOF
my ($code, $err) = $t->test_conf;
is $code, 0, 'doorman -t accepts the routing maps' or diag $err;
$t->run(wait_ports => [map { $t->port_n($_) } 1 .. 6]);

# curl ARGS... URL: the body (or with -I the head), curl's exit code
# checked as a test of its own.
sub curl {
    my ($url, @args) = @_;
    my ($rc, $out, $e) = $t->run_cmd('curl', '-s', '-S', '-m', '5', @args,
        $url, {timeout => 10});
    is $rc, 0, "curl @args $url: exit 0" or diag $e;
    return $out;
}

my $u = sub { "http://127.0.0.1:" . $t->port_n($_[0]) . ($_[1] // '/') };

# --- 1. by host --------------------------------------------------------------

my @hosts = (
    ['api.example.com',            "api\n",      'an exact name'],
    ['API.Example.COM',            "api\n",      '$host is lower-cased'],
    ['api.example.com:8080',       "api\n",      'the port is not in $host'],
    ['api.example.com.',           "api\n",      'nor a trailing dot'],
    ['img.static.example.com',     "static\n",   'a *.head wildcard'],
    ['a.b.static.example.com',     "static\n",   '... deeper too'],
    ['static.example.com',         "fallback\n", '... not the name itself'],
    ['shop.example.com',           "shop\n",     '.domain: the name itself'],
    ['eu.shop.example.com',        "shop\n",     '.domain: a subdomain'],
    ['www.example.org',            "www\n",      'a tail.* wildcard'],
    ['acme.tenants.example.com',   "tenant-acme\n",
     'a regex, its named capture in the value'],
    ['a1.tenants.example.com',     "fallback\n", 'the regex does not match'],
    ['example.com',                "fallback\n", 'the default'],
    ['unknown.test',               "fallback\n", 'the default again'],
);
for my $h (@hosts) {
    is curl($u->(1), '-H', "Host: $h->[0]"), $h->[1],
        "Host: $h->[0] -> $h->[1] ($h->[2])";
}
is curl($u->(1)), "fallback\n", 'curl\'s own Host (127.0.0.1:PORT): default';
is curl('http://api.example.com:' . $t->port_n(1) . '/',
        '--resolve', 'api.example.com:' . $t->port_n(1) . ':127.0.0.1'),
    "api\n", 'curl --resolve api.example.com: api';

# --- 2. by method ------------------------------------------------------------

is curl($u->(2)), "read\n", 'GET -> read';
is curl($u->(2), '-X', 'POST', '-d', 'x=1'), "write\n", 'POST -> write';
is curl($u->(2), '-X', 'PUT', '-d', 'x=1'), "write\n", 'PUT -> write';
is curl($u->(2), '-X', 'DELETE'), "write\n", 'DELETE -> write';
is curl($u->(2), '-X', 'PATCH', '-d', 'x=1'), "other\n", 'PATCH -> default';
is curl($u->(2), '-X', 'OPTIONS'), "other\n", 'OPTIONS -> default';
like curl($u->(2, '/redirect'), '-I'),
    qr{^HTTP/1\.1 302 .*\r\nLocation: http://pool\.test/read\r\n}s,
    'HEAD -> read (in the Location)';
like curl($u->(2, '/redirect'), '-i', '-X', 'DELETE'),
    qr{\r\nLocation: http://pool\.test/write\r\n}, 'DELETE there -> write';

# --- 3. by header ------------------------------------------------------------

is curl($u->(3), '-H', 'X-Canary: true'), "canary\n", 'X-Canary: true';
is curl($u->(3), '-H', 'x-canary: true'), "canary\n",
    'the header name is case-insensitive';
is curl($u->(3)), "stable\n", 'no X-Canary: stable';
is curl($u->(3), '-H', 'X-Canary: false'), "stable\n", 'X-Canary: false';
is curl($u->(3), '-H', 'X-Canary: TRUE'), "canary\n",
    'X-Canary: TRUE (string keys match case-insensitively, as nginx)';
is curl($u->(3), '-H', 'X-Canary: true-ish'), "stable\n",
    'X-Canary: true-ish (exact match)';
is curl($u->(3), '-H', 'X-Canary-Other: true'), "stable\n",
    'another header named alike';

# --- 4. by cookie ------------------------------------------------------------

is curl($u->(4), '-b', 'beta=1'), "beta\n", 'Cookie: beta=1';
is curl($u->(4), '-H', 'Cookie: a=b; beta=1; c=d'), "beta\n",
    'beta=1 among other cookies';
is curl($u->(4)), "main\n", 'no cookie: main';
is curl($u->(4), '-b', 'beta=0'), "main\n", 'beta=0: main';
is curl($u->(4), '-b', 'beta=10'), "main\n", 'beta=10: main';
is curl($u->(4), '-b', 'notbeta=1'), "main\n", 'notbeta=1: main';
is curl($u->(4), '-b', 'other=1'), "main\n", 'another cookie: main';

# --- 5. by query argument ----------------------------------------------------

is curl($u->(5, '/?version=2')), "v2\n", '?version=2';
is curl($u->(5, '/api/items?a=b&version=2')), "v2\n",
    '?a=b&version=2 on another path';
is curl($u->(5)), "v1\n", 'no argument: v1';
is curl($u->(5, '/?version=1')), "v1\n", '?version=1: v1';
is curl($u->(5, '/?version=20')), "v1\n", '?version=20: v1';
is curl($u->(5, '/?myversion=2')), "v1\n", '?myversion=2: v1';
is curl($u->(5, '/?version=')), "v1\n", '?version= (empty): v1';
is curl($u->(5, '/version/2')), "v1\n", 'the path is not an argument';

# --- 6. chained --------------------------------------------------------------

is curl($u->(6), '-H', 'X-Canary: true', '-b', 'beta=1'), "canary\n",
    'chained: the header first';
is curl($u->(6), '-b', 'beta=1'), "beta\n", 'chained: then the cookie';
is curl($u->(6)), "main\n", 'chained: neither';

$t->stop;
unlike $t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log';

done_testing;
