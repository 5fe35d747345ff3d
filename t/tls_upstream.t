#!/usr/bin/perl
#
# TLS to the backends (issue 12, re-encryption; DESIGN.md section 6):
# `proxy_pass https://...` in http and `proxy_ssl on` in stream, through
# the real binary, to TLS backends (t/lib/backend.py --tls-cert, with
# --tls-client-ca for one that requires a client certificate), against
# the test PKI of t/lib/Doorman/TLS.pm. Every backend response says what
# its TLS side saw (X-TLS-Version, X-TLS-SNI, X-TLS-Client-Subject,
# X-TLS-Reused). Everything on 127.0.0.1.
#
#   1. Verification: a backend with a backend.test certificate from the
#      test CA, proxy_ssl_verify on + proxy_ssl_trusted_certificate CA +
#      proxy_ssl_name backend.test + proxy_ssl_server_name on -> 200 from
#      the backend over TLS 1.3, SNI backend.test; trusting the rogue CA
#      instead -> 502; a backend with the rogue CA's certificate -> 502; a
#      proxy_ssl_name the certificate does not name -> 502; the rogue
#      backend with proxy_ssl_verify off -> 200. proxy_ssl_server_name off:
#      no SNI; proxy_ssl_protocols TLSv1.2: the backend sees TLSv1.2.
#      (Each refusal is checked on a backend of its own first, then, for
#      the rogue one, again after a location with verification off reached
#      it: a TLS session cached from an unverified connection must not
#      stand in for verification.)
#   2. Client certificate: a backend that requires one (CERT_REQUIRED)
#      -> 502 without proxy_ssl_certificate, 200 with it, and the backend
#      sees CN=client-1,O=Doorman Test; then still 502 without it (the
#      session made with the certificate is not resumed without it).
#   3. Keep-alive pool over TLS: `upstream u { ...; keepalive 4; }` +
#      proxy_pass https://u: 5 sequential requests on one client
#      connection use one backend connection (X-Conn constant, X-Req 1..5);
#      two locations to one upstream that differ by SNI never share a
#      pooled connection (each answer carries its own location's SNI).
#   4. Session reuse to backends: requests whose backend answer closes
#      the connection (/close/N), so each needs a new backend connection:
#      every one after the first resumes (X-TLS-Reused: 1) with
#      proxy_ssl_session_reuse on (the default), over TLS 1.3 and with
#      proxy_ssl_protocols TLSv1.2; none with off.
#   5. stream: `proxy_ssl on` + verification: a plain HTTP client (curl
#      http://127.0.0.1:P/) reaches the TLS backend (SNI backend.test);
#      with proxy_ssl_certificate it reaches the backend that requires a
#      client certificate (CN=client-1); trusting the rogue CA: no answer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;
use Doorman::HTTP;
use Doorman::TLS qw(:all);

my $T_START = time;
alarm 150;    # the harness's ALRM handler kills what the test started

my $t = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $t->bin . ' (make first)'
    unless -x $t->bin;
my @missing = have_tools($t);
plan skip_all => "not installed: @missing" if @missing;

my $pki = make_pki($t, ocsp => 0);
my %f = %$pki;
my $CA = $f{ca_crt};
my $RCA = $f{rogue_ca_crt};

# one backend per case where a TLS session cached from another case could
# stand in for what the case checks (a handshake that must fail, SNI)
my %be = (tls => 'backend', wrongca => 'backend', rogue => 'rogue_backend',
    name => 'backend', nosni => 'backend', pool => 'backend',
    sni => 'backend', sess => 'backend', nosess => 'backend',
    swrong => 'backend');
my %bp;
for my $n (sort keys %be) {
    $bp{$n} = start_backend($t, name => $n, tls_cert => $f{"$be{$n}_crt"},
        tls_key => $f{"$be{$n}_key"});
}
$bp{mtls} = start_backend($t, name => 'mtls', tls_cert => $f{backend_crt},
    tls_key => $f{backend_key}, tls_client_ca => $CA);
is scalar(keys %bp), 11, 'eleven TLS backends started';

# the backends themselves, directly: they are what the tests say they are
{
    my $r = curl_https($t, name => 'backend.test', port => $bp{tls},
        cacert => $CA);
    is $r->{headers}{'x-tls-version'}, 'TLSv1.3',
        'backend "tls" speaks TLS 1.3 with a certificate from the test CA';
    $r = curl_https($t, name => 'backend.test', port => $bp{rogue},
        cacert => $CA);
    isnt $r->{code}, 0, 'backend "rogue"\'s certificate does not verify with the test CA';
    $r = curl_https($t, name => 'backend.test', port => $bp{mtls},
        cacert => $CA);
    ok !defined $r->{status}, 'backend "mtls" refuses a client without a certificate';
    $r = curl_https($t, name => 'backend.test', port => $bp{mtls},
        cacert => $CA, args => ['--cert', $f{client_crt}, '--key', $f{client_key}]);
    is $r->{headers}{'x-tls-client-subject'}, $f{client_dn},
        '... and serves one with the client certificate';
}

my $verify = "proxy_ssl_verify on; proxy_ssl_trusted_certificate $CA; "
    . 'proxy_ssl_name backend.test; proxy_ssl_server_name on;';
my $client = "proxy_ssl_certificate $f{client_crt}; "
    . "proxy_ssl_certificate_key $f{client_key};";

$t->write_conf(<<"EOF");
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 1024; }
http {
    access_log off;
    upstream u { server 127.0.0.1:$bp{pool}; keepalive 4; }
    upstream usni { server 127.0.0.1:$bp{sni}; keepalive 4; }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location /ok/ { proxy_pass https://127.0.0.1:$bp{tls}; $verify }
        location /wrongca/ {
            proxy_pass https://127.0.0.1:$bp{wrongca};
            proxy_ssl_verify on; proxy_ssl_trusted_certificate $RCA;
            proxy_ssl_name backend.test; proxy_ssl_server_name on;
        }
        location /roguebe/ { proxy_pass https://127.0.0.1:$bp{rogue}; $verify }
        location /wrongname/ {
            proxy_pass https://127.0.0.1:$bp{name};
            proxy_ssl_verify on; proxy_ssl_trusted_certificate $CA;
            proxy_ssl_name other.test; proxy_ssl_server_name on;
        }
        location /noverify/ {
            proxy_pass https://127.0.0.1:$bp{rogue};
            proxy_ssl_verify off; proxy_ssl_name backend.test;
            proxy_ssl_server_name on;
        }
        location /nosni/ {
            proxy_pass https://127.0.0.1:$bp{nosni};
            proxy_ssl_verify on; proxy_ssl_trusted_certificate $CA;
            proxy_ssl_name backend.test; proxy_ssl_server_name off;
        }
        location /tls12/ {
            proxy_pass https://127.0.0.1:$bp{tls}; $verify
            proxy_ssl_protocols TLSv1.2;
        }
        location /mtls_nocert/ { proxy_pass https://127.0.0.1:$bp{mtls}; $verify }
        location /mtls/ { proxy_pass https://127.0.0.1:$bp{mtls}; $verify $client }
        location /pool/ { proxy_pass https://u; $verify }
        location /sniA/ { proxy_pass https://usni; $verify }
        location /sniB/ {
            proxy_pass https://usni;
            proxy_ssl_verify on; proxy_ssl_trusted_certificate $CA;
            proxy_ssl_name backend.test; proxy_ssl_server_name off;
        }
        location /sess/ { proxy_pass https://127.0.0.1:$bp{sess}/; $verify }
        location /sess12/ {
            proxy_pass https://127.0.0.1:$bp{sess}/; $verify
            proxy_ssl_protocols TLSv1.2;
        }
        location /nosess/ {
            proxy_pass https://127.0.0.1:$bp{nosess}/; $verify
            proxy_ssl_session_reuse off;
        }
    }
}
stream {
    server {
        listen 127.0.0.1:%%PORT_2%%;
        proxy_pass 127.0.0.1:$bp{tls};
        proxy_ssl on;
        $verify
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        proxy_pass 127.0.0.1:$bp{mtls};
        proxy_ssl on;
        $verify
        $client
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        proxy_pass 127.0.0.1:$bp{swrong};
        proxy_ssl on;
        proxy_ssl_verify on; proxy_ssl_trusted_certificate $RCA;
        proxy_ssl_name backend.test;
    }
}
EOF
my ($tc, $terr) = $t->test_conf;
is $tc, 0, 'doorman -t accepts the configuration' or diag $terr;
my $P = $t->port_n(1);
$t->run(wait_ports => [$P, $t->port_n(2), $t->port_n(3), $t->port_n(4)]);

sub get {
    my ($path) = @_;
    my ($st, $h, $body) = $t->http_request(port => $P, path => $path,
        timeout => 10);
    return {status => $st, headers => $h || {}, body => $body // ''};
}

# --- 1. verification ------------------------------------------------------------

{
    my $r = get('/ok/x');
    is $r->{status}, 200, 'proxy_pass https:// with the test CA trusted: 200';
    is $r->{headers}{'x-backend'}, 'tls', '... from the TLS backend';
    is $r->{headers}{'x-tls-version'}, 'TLSv1.3', '... over TLS 1.3 (X-TLS-Version)';
    is $r->{headers}{'x-tls-sni'}, 'backend.test',
        '... with SNI backend.test (proxy_ssl_name, proxy_ssl_server_name on)';
    like $r->{body}, qr{^tls GET /ok/x$}m, '... the request reached it';
    is get('/wrongca/x')->{status}, 502, 'trusting the rogue CA instead: 502';
    is get('/roguebe/x')->{status}, 502,
        'a backend whose certificate is from the rogue CA: 502';
    is get('/wrongname/x')->{status}, 502,
        'proxy_ssl_name other.test (not in the certificate): 502';
    $r = get('/noverify/x');
    is $r->{status}, 200, 'proxy_ssl_verify off: the rogue backend answers 200';
    is $r->{headers}{'x-backend'}, 'rogue', '... it is the rogue backend';
    is $r->{headers}{'x-tls-version'}, 'TLSv1.3', '... over TLS';
    $r = get('/nosni/x');
    is $r->{status}, 200, 'proxy_ssl_server_name off: 200 (verified by proxy_ssl_name)';
    is $r->{headers}{'x-tls-sni'}, 'none', '... and no SNI sent';
    $r = get('/tls12/x');
    is $r->{headers}{'x-tls-version'}, 'TLSv1.2',
        'proxy_ssl_protocols TLSv1.2: the backend sees TLS 1.2';
    my $log = $t->error_log;
    like $log, qr/upstream SSL certificate verify error: \(\d+:[^)]+\)/,
        'the error log says why a backend was refused ("upstream SSL'
        . ' certificate verify error: (N:reason)", as nginx)';
    # the rogue backend was reached with proxy_ssl_verify off: a session
    # from that connection must not let a verifying location skip the
    # verification (sessions are kept apart by the TLS settings)
    is get('/roguebe/y')->{status}, 502,
        'after /noverify/ reached the rogue backend, /roguebe/ (verify on) is still 502';
    $r = get('/ok/y');
    is $r->{status}, 200, 'and /ok/ still 200';
}

# --- 2. a client certificate to the backend ------------------------------------

{
    is get('/mtls_nocert/x')->{status}, 502,
        'a backend that requires a client certificate, none configured: 502';
    my $r = get('/mtls/x');
    is $r->{status}, 200, 'with proxy_ssl_certificate / proxy_ssl_certificate_key: 200';
    is $r->{headers}{'x-backend'}, 'mtls', '... from that backend';
    is $r->{headers}{'x-tls-client-subject'}, $f{client_dn},
        "... which saw the client certificate ($f{client_dn})";
    # a session made with the client certificate carries its identity: a
    # location without one must not resume it
    $r = get('/mtls_nocert/y');
    is $r->{status}, 502,
        'after /mtls/, /mtls_nocert/ is still 502 (no session of /mtls/ reused)';
}

# --- 3. the keep-alive pool --------------------------------------------------------

{
    my $c = http_connect($P, timeout => 10);
    my (@conn, @req);
    for my $i (1 .. 5) {
        my $r = $c->request('GET', "/pool/$i", timeout => 5);
        push @conn, $r->{headers}{'x-conn'} // '?';
        push @req, $r->{headers}{'x-req'} // '?';
        diag "pool request $i: " . ($r->{status} // $r->{error})
            unless ($r->{status} // 0) == 200;
    }
    $c->close;
    my %distinct = map { $_ => 1 } @conn;
    is scalar(keys %distinct), 1,
        "keepalive 4 over TLS: 5 requests on one backend connection (X-Conn @conn)";
    is "@req", '1 2 3 4 5', '... its requests 1 to 5 (X-Req)';

    # a pooled connection is reused only with the same TLS settings
    my ($bad, $n) = (0, 0);
    $c = http_connect($P, timeout => 10);
    for my $i (1 .. 6) {
        my $loc = $i % 2 ? 'sniA' : 'sniB';
        my $want = $i % 2 ? 'backend.test' : 'none';
        my $r = $c->request('GET', "/$loc/$i", timeout => 5);
        $n++ if ($r->{status} // 0) == 200;
        $bad++ if ($r->{headers}{'x-tls-sni'} // '?') ne $want;
    }
    $c->close;
    is $n, 6, 'one upstream, two locations differing by SNI: 6 answers';
    is $bad, 0, '... each over a connection with its own location\'s SNI';
}

# --- 4. TLS session reuse to backends --------------------------------------------

{
    # /close/N: the backend closes after each answer, so that every request
    # needs a new backend connection (and handshake)
    my %r;
    for my $loc (qw(sess sess12 nosess)) {
        for my $i (1 .. 4) {
            my $h = get("/$loc/close/16")->{headers};
            push @{$r{$loc}{reused}}, $h->{'x-tls-reused'} // '?';
            push @{$r{$loc}{conn}}, $h->{'x-conn'} // '?';
            push @{$r{$loc}{version}}, $h->{'x-tls-version'} // '?';
        }
    }
    my %n = map { $_ => scalar keys %{{map { $_ => 1 } @{$r{$_}{conn}}}} }
        keys %r;
    is $n{sess} + $n{sess12} + $n{nosess}, 12,
        'session reuse: 12 requests, 12 new backend connections (X-Conn)';
    is "@{$r{sess}{reused}}", '0 1 1 1',
        'proxy_ssl_session_reuse on (TLS 1.3): every new backend connection after the first resumes';
    is "@{$r{sess12}{version}}", 'TLSv1.2 TLSv1.2 TLSv1.2 TLSv1.2',
        '... with proxy_ssl_protocols TLSv1.2, over TLS 1.2';
    is "@{$r{sess12}{reused}}", '0 1 1 1', '... resumes as well';
    is "@{$r{nosess}{reused}}", '0 0 0 0', 'proxy_ssl_session_reuse off: none does';
}

# --- 5. stream proxy_ssl ------------------------------------------------------------

sub curl_plain {
    my ($port) = @_;
    my ($code, $out, $err) = $t->run_cmd('curl', '-sS', '-i', '--max-time',
        10, "http://127.0.0.1:$port/s", {timeout => 15});
    return ($code, $out, $err);
}

{
    my ($code, $out, $err) = curl_plain($t->port_n(2));
    is $code, 0, 'stream proxy_ssl on: a plain HTTP client is answered' or diag $err;
    like $out, qr{^HTTP/1\.1 200 }, '... 200';
    like $out, qr/^X-Backend: tls\r?$/m, '... by the TLS backend';
    like $out, qr/^X-TLS-Version: TLSv1\.3\r?$/m, '... over TLS 1.3';
    like $out, qr/^X-TLS-SNI: backend\.test\r?$/m, '... with SNI backend.test';
    ($code, $out, $err) = curl_plain($t->port_n(3));
    is $code, 0, 'stream proxy_ssl_certificate: the backend that requires one answers'
        or diag $err;
    like $out, qr/^X-TLS-Client-Subject: CN=client-1,O=Doorman Test\r?$/m,
        '... and saw the client certificate';
    ($code, $out, $err) = curl_plain($t->port_n(4));
    isnt $code, 0, "stream, trusting the rogue CA: no answer (curl exit $code)";
    unlike $out, qr/X-Backend/, '... nothing from the backend';
}

{
    my @crit = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $t->error_log;
    is_deeply \@crit, [], 'nothing at alert or above in the error log';
    my ($st, $killed) = $t->stop;
    ok !$killed, 'doorman stops without KILL';
}
diag sprintf 't/tls_upstream.t: %.1f s', time - $T_START;
done_testing;
