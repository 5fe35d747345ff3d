#!/usr/bin/perl
#
# TLS termination (issue 12, DESIGN.md sections 1, 5 and 6) through the
# real binary with real clients (curl, openssl s_client, python3's ssl for
# raw ClientHello bytes), against a throwaway PKI (t/lib/Doorman/TLS.pm).
# One worker; everything on 127.0.0.1.
#
#   1. SNI: `curl --resolve a.test:P:127.0.0.1 --cacert CA` and b.test
#      each verify their own certificate and reach their own server
#      ("a\n", "b\n"); an unknown name (c.test) and a client without SNI
#      get the default_server's certificate (the PEM s_client prints is
#      the file's) and content; a Host naming another public server over
#      a.test's connection is served by it.
#   2. Protocols and keys: TLS 1.2 and 1.3 both handshake ($ssl_protocol
#      says which); a server with `ssl_protocols TLSv1.3` refuses a TLS
#      1.2-only client (curl and s_client) and serves a 1.3 one; ECDSA and
#      RSA pairs side by side: an ECDHE-ECDSA-only TLS 1.2 client gets the
#      EC certificate, an ECDHE-RSA-only one the RSA certificate (and by
#      signature algorithm in TLS 1.3); $ssl_cipher is the suite the client
#      forced; $ssl_server_name, $ssl_session_reused ("."),
#      $ssl_alpn_protocol (http/1.1).
#   3. mTLS (ssl_verify_client on, ssl_client_certificate CA): no client
#      certificate -> 400 "No required SSL certificate was sent"; a
#      certificate from another CA -> 400 "The SSL certificate error"; the
#      test CA's client certificate -> 200 and the backend (backend.py
#      behind proxy_pass) sees `X-Client-DN: CN=client-1,O=Doorman Test`
#      ($ssl_client_s_dn by proxy_set_header); $ssl_client_verify SUCCESS
#      and $ssl_client_fingerprint (the SHA-1 of the certificate, as
#      `openssl x509 -fingerprint -sha1`, lower case, no colons).
#      `optional` lets a client without a certificate through (NONE) and
#      refuses a bad one (400); `optional_no_ca` lets a bad one through
#      (FAILED:reason). SNI a.test + `Host: mtls.test` -> 421, and a TLS
#      1.3 session of a.test resumed with SNI mtls.test -> 421.
#   4. stream: `listen ... ssl` + `return` answers over TLS 1.3 and 1.2,
#      with $ssl_protocol and $ssl_server_name.
#   5. ssl_handshake_timeout 1s: a client that sends a real ClientHello
#      (and one that sends nothing) and then stalls is closed after 0.8 to
#      3 s; 1,000 aborted handshakes (half closed right after the
#      ClientHello, half after the first bytes of the server's answer)
#      leave the worker's descriptor count and RSS (+2 MiB) where a
#      200-abort warm-up left them, and doorman still serves.
#   6. A reload with renewed certificates (a.test re-issued with a new
#      serial, O=Renewed and new keys, files overwritten): new connections
#      get the new certificate; a connection opened before the reload
#      (held by s_client, one request done, the next one half sent) gets
#      its answer on the old certificate.
#   7. OCSP stapling from a file (ssl_stapling on; ssl_stapling_file):
#      `s_client -status` sees the response; without it, none.
#
# Resumption is t/tls_resume.t; TLS to backends t/tls_upstream.t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;
use Doorman::HTTP;
use Doorman::TLS qw(:all);

my $T_START = time;
alarm 170;    # the harness's ALRM handler kills what the test started

my $t = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $t->bin . ' (make first)'
    unless -x $t->bin;
my @missing = have_tools($t);
plan skip_all => "not installed: @missing" if @missing;

my $pki = make_pki($t);
my $CA = $pki->{ca_crt};
my $P = $t->port_n(1);      # http: a.test b.test default.test mtls opt noca
my $P13 = $t->port_n(2);    # http: ssl_protocols TLSv1.3
my $PS = $t->port_n(3);     # stream ssl
my $bport = start_backend($t, name => 'dn');

my %f = %$pki;
my $conf = <<"EOF";
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 2048; }
http {
    ssl_handshake_timeout 1s;
    access_log off;

    server {
        listen 127.0.0.1:%%PORT_1%% ssl default_server;
        server_name default.test;
        ssl_certificate $f{'default.test.ec.crt'};
        ssl_certificate_key $f{'default.test.ec.key'};
        ssl_certificate $f{'default.test.rsa.crt'};
        ssl_certificate_key $f{'default.test.rsa.key'};
        location / { return 200 "default\\n"; }
        location /vars { return 200 "default sni=\$ssl_server_name\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        server_name a.test;
        ssl_certificate $f{'a.test.ec.crt'};
        ssl_certificate_key $f{'a.test.ec.key'};
        ssl_certificate $f{'a.test.rsa.crt'};
        ssl_certificate_key $f{'a.test.rsa.key'};
        location / { return 200 "a\\n"; }
        location /vars {
            return 200 "proto=\$ssl_protocol cipher=\$ssl_cipher sni=\$ssl_server_name reused=\$ssl_session_reused verify=\$ssl_client_verify alpn=\$ssl_alpn_protocol\\n";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        server_name b.test;
        ssl_certificate $f{'b.test.ec.crt'};
        ssl_certificate_key $f{'b.test.ec.key'};
        location / { return 200 "b\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        server_name mtls.test;
        ssl_certificate $f{'mtls.test.ec.crt'};
        ssl_certificate_key $f{'mtls.test.ec.key'};
        ssl_client_certificate $CA;
        ssl_verify_client on;
        ssl_verify_depth 2;
        location / {
            proxy_pass http://127.0.0.1:$bport;
            proxy_set_header X-Client-DN \$ssl_client_s_dn;
        }
        location /vars {
            return 200 "verify=\$ssl_client_verify fp=\$ssl_client_fingerprint dn=\$ssl_client_s_dn\\n";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        server_name opt.test;
        ssl_certificate $f{'opt.test.ec.crt'};
        ssl_certificate_key $f{'opt.test.ec.key'};
        ssl_client_certificate $CA;
        ssl_verify_client optional;
        location / {
            return 200 "opt verify=\$ssl_client_verify dn=\$ssl_client_s_dn\\n";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        server_name noca.test;
        ssl_certificate $f{'opt.test.ec.crt'};
        ssl_certificate_key $f{'opt.test.ec.key'};
        ssl_client_certificate $CA;
        ssl_verify_client optional_no_ca;
        location / {
            return 200 "noca verify=\$ssl_client_verify dn=\$ssl_client_s_dn\\n";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_2%% ssl;
        server_name v13.test;
        ssl_protocols TLSv1.3;
        ssl_certificate $f{'v13.test.ec.crt'};
        ssl_certificate_key $f{'v13.test.ec.key'};
        location / { return 200 "v13 \$ssl_protocol\\n"; }
    }
}
stream {
    server {
        listen 127.0.0.1:%%PORT_3%% ssl;
        ssl_certificate $f{'a.test.ec.crt'};
        ssl_certificate_key $f{'a.test.ec.key'};
        ssl_handshake_timeout 5s;
        return "hello \$ssl_protocol \$ssl_server_name\\n";
    }
}
EOF
$t->write_conf($conf);
my ($tc, $terr) = $t->test_conf;
is $tc, 0, 'doorman -t accepts the TLS configuration' or diag $terr;
$t->run(wait_ports => [$P, $P13, $PS]);

my %pem = map { $_ => pem_of_file($pki->{$_}) } grep { /\.crt$/ } keys %$pki;

sub curl_ok {
    my ($r, $what) = @_;
    return if $r->{code} == 0;
    diag "$what: curl exit $r->{code}: $r->{err}";
}

# --- 1. SNI -----------------------------------------------------------------

for my $n (qw(a b)) {
    my $r = curl_https($t, name => "$n.test", port => $P, cacert => $CA);
    curl_ok($r, "$n.test");
    is $r->{code}, 0, "curl --cacert CA https://$n.test: the certificate verifies";
    is $r->{body}, "$n\n", "... and $n.test's server answers";
    my $s = s_client($t, port => $P, servername => "$n.test",
        args => ['-CAfile', $CA, '-verify_hostname', "$n.test"]);
    ok same_cert($s->{pem}, $pem{"$n.test.ec.crt"}),
        "s_client -servername $n.test: $n.test's own certificate"
        or diag "subject: " . ($s->{subject} // 'none') . "\n$s->{all}";
    is $s->{verify}, 0, '... verified against the test CA (hostname too)';
}
{
    my $r = curl_https($t, name => 'c.test', port => $P);
    curl_ok($r, 'c.test');
    is $r->{body}, "default\n", 'an unknown name (c.test, -k): the default_server answers';
    $r = curl_https($t, name => 'c.test', port => $P, cacert => $CA);
    isnt $r->{code}, 0, '... and its certificate does not verify for c.test'
        . " (curl exit $r->{code})";
    my $s = s_client($t, port => $P, servername => 'c.test');
    ok same_cert($s->{pem}, $pem{'default.test.ec.crt'}),
        "s_client -servername c.test: default.test's certificate"
        or diag "subject: " . ($s->{subject} // 'none');
    like $s->{subject} // '', qr/CN\s*=\s*default\.test/, '... subject CN = default.test';
    $s = s_client($t, port => $P, args => ['-noservername']);
    ok same_cert($s->{pem}, $pem{'default.test.ec.crt'}),
        'no SNI at all: default.test\'s certificate';
    $r = curl_https($t, name => 'c.test', port => $P, path => '/vars');
    is $r->{body}, "default sni=c.test\n",
        '$ssl_server_name is the name the client sent (c.test)';
    $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA,
        args => ['-H', 'Host: b.test']);
    is $r->{body}, "b\n",
        'SNI a.test, Host: b.test (same TLS policy): b.test\'s server answers';
}

# --- 2. protocols, key types, variables ---------------------------------------

{
    my $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA,
        path => '/vars', args => ['--tlsv1.2', '--tls-max', '1.2']);
    curl_ok($r, 'tls1.2');
    like $r->{body}, qr/^proto=TLSv1\.2 /, 'TLS 1.2 handshakes ($ssl_protocol TLSv1.2)'
        or diag $r->{body};
    $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA,
        path => '/vars', args => ['--tlsv1.3'], verbose => 1);
    curl_ok($r, 'tls1.3');
    like $r->{body}, qr/^proto=TLSv1\.3 /, 'TLS 1.3 handshakes ($ssl_protocol TLSv1.3)'
        or diag $r->{body};
    my ($cv) = $r->{err} =~ m{SSL connection using TLSv1\.3 / (\S+)};
    $cv //= 'none';
    like $r->{body}, qr/ cipher=\Q$cv\E /,
        "\$ssl_cipher is the suite curl reports ($cv)";
    like $r->{body}, qr/ sni=a\.test /, '$ssl_server_name a.test';
    like $r->{body}, qr/ reused=\. /, '$ssl_session_reused "." on a new session';
    like $r->{body}, qr/ verify=NONE /, '$ssl_client_verify NONE without client verification';
    like $r->{body}, qr{ alpn=http/1\.1$}m, '$ssl_alpn_protocol http/1.1 (curl offers h2 and http/1.1)';

    $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA,
        path => '/vars', args => ['--tlsv1.2', '--tls-max', '1.2',
            '--ciphers', 'ECDHE-RSA-AES256-GCM-SHA384']);
    curl_ok($r, 'tls1.2 rsa');
    like $r->{body}, qr/ cipher=ECDHE-RSA-AES256-GCM-SHA384 /,
        '$ssl_cipher: ECDHE-RSA-AES256-GCM-SHA384 when the TLS 1.2 client offers only it';
    $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA,
        path => '/vars', args => ['--tlsv1.3',
            '--tls13-ciphers', 'TLS_CHACHA20_POLY1305_SHA256']);
    curl_ok($r, 'tls1.3 chacha');
    like $r->{body}, qr/ cipher=TLS_CHACHA20_POLY1305_SHA256 /,
        '$ssl_cipher: TLS_CHACHA20_POLY1305_SHA256 when the TLS 1.3 client offers only it';

    # ECDSA and RSA side by side
    my $s = s_client($t, port => $P, servername => 'a.test',
        args => ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    ok same_cert($s->{pem}, $pem{'a.test.ec.crt'}),
        'TLS 1.2, ECDHE-ECDSA suites only: the EC certificate'
        or diag $s->{all};
    is $s->{cipher}, 'ECDHE-ECDSA-AES128-GCM-SHA256', '... with that suite';
    $s = s_client($t, port => $P, servername => 'a.test',
        args => ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    ok same_cert($s->{pem}, $pem{'a.test.rsa.crt'}),
        'TLS 1.2, ECDHE-RSA suites only: the RSA certificate'
        or diag $s->{all};
    is $s->{cipher}, 'ECDHE-RSA-AES128-GCM-SHA256', '... with that suite';
    $s = s_client($t, port => $P, servername => 'a.test',
        args => ['-tls1_3', '-sigalgs', 'rsa_pss_rsae_sha256']);
    ok same_cert($s->{pem}, $pem{'a.test.rsa.crt'}),
        'TLS 1.3, RSA-PSS signatures only: the RSA certificate';
    $s = s_client($t, port => $P, servername => 'a.test',
        args => ['-tls1_3', '-sigalgs', 'ecdsa_secp256r1_sha256']);
    ok same_cert($s->{pem}, $pem{'a.test.ec.crt'}),
        'TLS 1.3, ECDSA P-256 signatures only: the EC certificate';

    # ssl_protocols TLSv1.3
    $r = curl_https($t, name => 'v13.test', port => $P13, cacert => $CA,
        args => ['--tlsv1.2', '--tls-max', '1.2']);
    isnt $r->{code}, 0, "ssl_protocols TLSv1.3: a TLS 1.2-only curl is refused (exit $r->{code})";
    ok !defined $r->{status}, '... no HTTP answer';
    $s = s_client($t, port => $P13, servername => 'v13.test', args => ['-tls1_2']);
    ok $s->{code} != 0 && !$s->{pem},
        '... and a TLS 1.2-only s_client gets no certificate'
        or diag $s->{all};
    $r = curl_https($t, name => 'v13.test', port => $P13, cacert => $CA);
    is $r->{body}, "v13 TLSv1.3\n", '... a TLS 1.3 client is served';
}

# --- 3. mTLS ------------------------------------------------------------------

my @good = ('--cert', $pki->{client_crt}, '--key', $pki->{client_key});
my @rogue = ('--cert', $pki->{rogue_client_crt}, '--key', $pki->{rogue_client_key});
my $FP = sha1_fingerprint($t, $pki->{client_crt});
like $FP, qr/^[0-9a-f]{40}$/, "the client certificate's SHA-1: $FP";
{
    my $r = curl_https($t, name => 'mtls.test', port => $P, cacert => $CA);
    is $r->{status}, 400, 'ssl_verify_client on, no client certificate: 400';
    like $r->{body}, qr/No required SSL certificate was sent/,
        '... "No required SSL certificate was sent"' or diag $r->{body};
    $r = curl_https($t, name => 'mtls.test', port => $P, cacert => $CA,
        args => \@rogue);
    is $r->{status}, 400, 'a client certificate from another CA: 400';
    like $r->{body}, qr/The SSL certificate error/,
        '... "The SSL certificate error"' or diag $r->{body};
    my $before = $t->read_file(backend_log_path($t, 'dn'));
    is $before, '', '... and the backend saw neither request';

    $r = curl_https($t, name => 'mtls.test', port => $P, cacert => $CA,
        args => \@good, path => '/who');
    curl_ok($r, 'mtls good');
    is $r->{status}, 200, 'the test CA\'s client certificate: 200';
    is $r->{headers}{'x-backend'}, 'dn', '... from the backend';
    like $r->{body}, qr/^X-Client-DN: CN=client-1,O=Doorman Test$/m,
        '... which sees X-Client-DN: CN=client-1,O=Doorman Test ($ssl_client_s_dn)'
        or diag $r->{body};
    like $r->{body}, qr/^X-Forwarded-Proto: https$/m,
        '... and X-Forwarded-Proto: https (the client spoke TLS)'
        or diag $r->{body};
    $r = curl_https($t, name => 'mtls.test', port => $P, cacert => $CA,
        args => \@good, path => '/vars');
    is $r->{body}, "verify=SUCCESS fp=$FP dn=$pki->{client_dn}\n",
        '$ssl_client_verify SUCCESS, $ssl_client_fingerprint = openssl x509 -fingerprint -sha1';

    # 421: the TLS policy chosen by SNI is not the one Host names
    $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA,
        args => ['-H', 'Host: mtls.test']);
    is $r->{status}, 421, 'SNI a.test, Host: mtls.test (ssl_verify_client on): 421';
    $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA,
        args => [@good, '-H', 'Host: mtls.test']);
    is $r->{status}, 421, '... even with a valid client certificate';

    # a TLS 1.3 session is looked up before SNI chooses the server: one
    # made by a.test must not open mtls.test (nginx's CVE-2025-23419)
    my $sess = $t->path('a-test.sess');
    my $s = s_client($t, port => $P, servername => 'a.test',
        args => ['-tls1_3', '-sess_out', $sess],
        stdin => "GET / HTTP/1.0\r\nHost: a.test\r\n\r\n");
    is $s->{session}, 'New', 'a TLS 1.3 session from a.test';
    my $off = $t->log_offset;
    $s = s_client($t, port => $P, servername => 'mtls.test',
        args => ['-tls1_3', '-sess_in', $sess],
        stdin => "GET / HTTP/1.0\r\nHost: mtls.test\r\n\r\n");
    is $s->{session}, 'Reused', '... resumed with SNI mtls.test';
    like $s->{body}, qr{^HTTP/1\.1 421 }, '... is answered 421, not served'
        or diag $s->{all};
    ok $t->wait_for(sub { $t->error_log_since($off)
        =~ /client resumed a TLS session of another server/ }, timeout => 5),
        '... and logged';

    # optional
    $r = curl_https($t, name => 'opt.test', port => $P, cacert => $CA);
    is $r->{body}, "opt verify=NONE dn=\n",
        'ssl_verify_client optional: no certificate gets through, $ssl_client_verify NONE';
    $r = curl_https($t, name => 'opt.test', port => $P, cacert => $CA,
        args => \@good);
    is $r->{body}, "opt verify=SUCCESS dn=$pki->{client_dn}\n",
        '... a valid one: SUCCESS and the DN';
    $r = curl_https($t, name => 'opt.test', port => $P, cacert => $CA,
        args => \@rogue);
    is $r->{status}, 400, '... a bad one: 400';
    # optional_no_ca
    $r = curl_https($t, name => 'noca.test', port => $P, args => \@rogue);
    like $r->{body}, qr/^noca verify=FAILED:\S.* dn=CN=client-1,O=Doorman Test$/m,
        'ssl_verify_client optional_no_ca: another CA\'s certificate gets through, FAILED:reason'
        or diag $r->{body};
}

# --- 4. stream ------------------------------------------------------------------

{
    my $s = s_client($t, port => $PS, servername => 'x.test',
        args => ['-quiet', '-CAfile', $CA]);
    like $s->{out}, qr/^hello TLSv1\.3 x\.test$/m,
        'stream listen ssl + return: answered over TLS 1.3 ($ssl_protocol, $ssl_server_name)'
        or diag $s->{all};
    $s = s_client($t, port => $PS, servername => 'y.test',
        args => ['-quiet', '-tls1_2']);
    like $s->{out}, qr/^hello TLSv1\.2 y\.test$/m, '... and over TLS 1.2'
        or diag $s->{all};
    my ($got) = $t->tcp_request($PS, "hello?\r\n", timeout => 5);
    unlike $got, qr/hello TLS/, '... a plain-text client gets no answer text';
}

# --- 5. ssl_handshake_timeout, aborted handshakes -----------------------------

my $HELLO = client_hello($t, servername => 'a.test');
ok length($HELLO) > 100, 'a real ClientHello from python3 ssl ('
    . length($HELLO) . ' bytes)';

sub raw_conn {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 5) or return;
    setsockopt $s, IPPROTO_TCP, TCP_NODELAY, 1;
    return $s;
}

# Reads until EOF or reset; returns (seconds waited, bytes read, how).
sub wait_closed {
    my ($s, $timeout) = @_;
    my $t0 = time;
    my $sel = IO::Select->new($s);
    my $got = 0;
    while (time - $t0 < $timeout) {
        next unless $sel->can_read($timeout - (time - $t0));
        my $n = sysread $s, my $buf, 65536;
        return (time - $t0, $got, defined $n ? 'eof' : "error: $!")
            unless $n;
        $got += $n;
    }
    return (time - $t0, $got, 'timeout');
}

{
    my $s = raw_conn($P);
    syswrite $s, $HELLO;
    my ($el, $got, $how) = wait_closed($s, 6);
    ok $got > 0, "a stalled handshake: the server answered the ClientHello ($got bytes)";
    ok $how ne 'timeout' && $el >= 0.8 && $el <= 3,
        sprintf 'ssl_handshake_timeout 1s: closed after %.2f s (%s)', $el, $how;
    close $s;
    $s = raw_conn($P);
    ($el, $got, $how) = wait_closed($s, 6);
    ok $how ne 'timeout' && $el >= 0.8 && $el <= 3,
        sprintf 'a client that sends nothing: closed after %.2f s (%s)', $el, $how;
    close $s;
}

sub fd_count {
    my ($pid) = @_;
    opendir my $d, "/proc/$pid/fd" or return -1;
    my $n = grep { /^\d+$/ } readdir $d;
    return $n;
}

sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return -1;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)\s+kB/ }
    return -1;
}

# n aborted handshakes in batches of 50: the odd ones close right after
# the ClientHello, the even ones once the server's first bytes came. After
# each batch, waits (bounded) until the worker holds at most $fd_max
# descriptors again, so that at most a batch is in flight in doorman
# whatever the load of the machine. Returns how many got server bytes.
sub abort_handshakes {
    my ($n, $w, $fd_max) = @_;
    my $answered = 0;
    my $done = 0;
    while ($done < $n) {
        my $batch = $n - $done < 50 ? $n - $done : 50;
        my @s = grep { defined } map { raw_conn($P) } 1 .. $batch;
        for my $s (@s) { syswrite $s, $HELLO }
        for my $i (0 .. $#s) {
            next if $i % 2;
            if (IO::Select->new($s[$i])->can_read(3)) {
                my $k = sysread $s[$i], my $buf, 16384;
                $answered++ if $k;
            }
        }
        close $_ for @s;
        $done += $batch;
        # (a worker that keeps descriptors is not waited for again: the
        # descriptor test below says it)
        $t->wait_for(sub { fd_count($w) <= $fd_max }, timeout => 5,
            interval => 0.005) or $fd_max = 1e9;
    }
    return $answered;
}

# The descriptor count once it has not moved for 0.5 s (bounded: 5 s).
sub settled_fds {
    my ($pid) = @_;
    my ($last, $since) = (fd_count($pid), time);
    my $end = time + 5;
    while (time < $end) {
        sleep 0.05;
        my $n = fd_count($pid);
        if ($n != $last) { ($last, $since) = ($n, time); next }
        last if time - $since >= 0.5;
    }
    return $last;
}

{
    my ($w) = $t->worker_pids;
    ok $w, "the worker: $w";
    my $fd0 = settled_fds($w);
    my $n = abort_handshakes(200, $w, $fd0 + 5);
    ok $n >= 80, "warm-up: 200 aborted handshakes ($n answered before the abort)";
    my $fd1 = settled_fds($w);
    my $rss1 = rss_kb($w);
    is $fd1, $fd0, "after the warm-up the worker holds $fd0 descriptors again";
    my $t0 = time;
    $n = abort_handshakes(1000, $w, $fd0 + 5);
    my $el = time - $t0;
    ok $n >= 400, sprintf '1,000 aborted handshakes in %.1f s (%d answered before the abort)',
        $el, $n;
    my $ok = $t->wait_for(sub { fd_count($w) <= $fd1 }, timeout => 5);
    my $fd2 = settled_fds($w);
    ok $ok && $fd2 <= $fd1, "... the worker's descriptors: $fd1 before, $fd2 after";
    my $rss2 = rss_kb($w);
    ok $rss2 > 0 && $rss2 <= $rss1 + 2048,
        "... its RSS: $rss1 kB before, $rss2 kB after (2 MiB slack)";
    is(($t->worker_pids)[0], $w, '... the same worker');
    my $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA);
    is $r->{body}, "a\n", '... and doorman still serves';
}

# --- 6. reload with renewed certificates ------------------------------------

{
    my $old = tls_pipe($t, port => $P, servername => 'a.test',
        args => ['-CAfile', $CA]);
    ok $old, 'a connection to a.test held by s_client' or diag $@;
    ok $old && same_cert($old->pem, $pem{'a.test.ec.crt'}),
        '... on the original a.test certificate';
    $old->send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n") if $old;
    my $r1 = $old && $old->read_response(5);
    is $r1 && $r1->{body}, "a\n", '... a first request answered (keep-alive)';
    # the next request begins before the reload, ends after it
    $old->send("GET / HTTP/1.1\r\nHost: a.test\r\n") if $old;

    my $serial = reissue_cert($t, $pki, 'a.test', 'ec', org => 'Renewed');
    reissue_cert($t, $pki, 'a.test', 'rsa', org => 'Renewed');
    my $new_pem = pem_of_file($pki->{'a.test.ec.crt'});
    ok !same_cert($new_pem, $pem{'a.test.ec.crt'}), 'a.test re-issued (O=Renewed)';
    ok $t->reload, 'reload (HUP) with the renewed files';

    my $s = s_client($t, port => $P, servername => 'a.test',
        args => ['-CAfile', $CA, '-verify_hostname', 'a.test']);
    ok same_cert($s->{pem}, $new_pem), 'a new connection gets the renewed certificate';
    like $s->{subject} // '', qr/O\s*=\s*Renewed/, '... subject O = Renewed';
    is $s->{verify}, 0, '... which verifies';
    my $i = cert_info($t, $s->{pem} // '');
    is hex($i->{serial} // 0), $serial, "... its serial is the new one ($serial)";
    $s = s_client($t, port => $P, servername => 'a.test',
        args => ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    ok same_cert($s->{pem}, pem_of_file($pki->{'a.test.rsa.crt'})),
        '... and the renewed RSA one to an RSA-only client';
    my $r = curl_https($t, name => 'a.test', port => $P, cacert => $CA);
    is $r->{body}, "a\n", 'curl --cacert verifies the renewed certificate';

    $old->send("\r\n") if $old;
    my $r2 = $old && $old->read_response(5);
    is $r2 && $r2->{status}, 200,
        'the connection opened before the reload completes its request';
    is $r2 && $r2->{body}, "a\n", '... with the answer of a.test';
    $old->close if $old;
}

# --- 7. OCSP stapling from a file ------------------------------------------

SKIP: {
    skip 'no OCSP response could be made with this openssl', 3
        unless $pki->{'a.test.ocsp'};
    my $o = Doorman::Test->new;
    # the PKI's a.test.ec was re-issued in 6.: staple a response for the
    # certificate served now
    my $ocsp = ocsp_response($o, $pki->{dir}, 'a.test.ec');
    skip 'no OCSP response for the renewed certificate', 3 unless $ocsp;
    $o->write_conf(<<"EOF");
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        server_name a.test;
        ssl_certificate $f{'a.test.ec.crt'};
        ssl_certificate_key $f{'a.test.ec.key'};
        ssl_stapling on;
        ssl_stapling_file $ocsp;
        location / { return 200 "stapled\\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_2%% ssl;
        server_name a.test;
        ssl_certificate $f{'a.test.ec.crt'};
        ssl_certificate_key $f{'a.test.ec.key'};
        location / { return 200 "plain\\n"; }
    }
}
EOF
    my $ok = eval { $o->run(wait_ports => [$o->port_n(1), $o->port_n(2)]); 1 };
    ok $ok, 'a server with ssl_stapling on; ssl_stapling_file FILE starts'
        or diag $@;
    skip 'doorman did not start', 2 unless $ok;
    my $s = s_client($o, port => $o->port_n(1), servername => 'a.test',
        args => ['-status']);
    like $s->{out}, qr/OCSP Response Status: successful.*Cert Status: good/s,
        's_client -status: the stapled OCSP response (good)' or diag $s->{all};
    $s = s_client($o, port => $o->port_n(2), servername => 'a.test',
        args => ['-status']);
    like $s->{out}, qr/OCSP response: no response sent/,
        '... and none from a server without stapling';
    $o->stop;
}

# --- the end --------------------------------------------------------------------

{
    my @crit = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $t->error_log;
    is_deeply \@crit, [], 'nothing at alert or above in the error log';
    my ($st, $killed) = $t->stop;
    ok !$killed, 'doorman stops without KILL';
}
diag sprintf 't/tls.t: %.1f s', time - $T_START;
done_testing;
