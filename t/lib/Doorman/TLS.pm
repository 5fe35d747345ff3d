package Doorman::TLS;

# doorman: TLS helpers of the integration tests (core Perl, the openssl
# and curl commands, python3's ssl module). A throwaway test PKI made with
# the openssl command (once per test file, in about a second), bounded
# clients (openssl s_client, curl), a held interactive s_client
# connection, a raw ClientHello for stalled handshakes, and certificate
# facts (subject, serial, fingerprint). Every command runs through the
# harness's run_cmd (bounded, killed on timeout); every process a
# Doorman::TLS::Pipe starts is killed by close(), DESTROY or at exit. The
# API is documented in the POD at the end (perldoc t/lib/Doorman/TLS.pm).

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Exporter qw(import);
use File::Path qw(make_path);
use IO::Select;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

our $VERSION = '1.0';

our @EXPORT_OK = qw(make_pki reissue_cert openssl_cmd s_client curl_https
    cert_info cert_pem pem_of_file same_cert sha1_fingerprint client_hello
    tls_pipe have_tools ocsp_response);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# The server names of the PKI: each gets an ECDSA P-256 and an RSA 2048
# certificate from the test CA (NAME.ec.crt/.key, NAME.rsa.crt/.key).
our @DUAL_NAMES = qw(a.test b.test default.test);

# Names that get an ECDSA certificate only (NAME.ec.crt/.key).
our @EC_NAMES = qw(mtls.test opt.test v13.test);

my $DAYS = 30;

# ---------------------------------------------------------------------------
# commands

# openssl_cmd($t, ARGS...): runs openssl, bounded (30 s); dies with its
# stderr on failure; returns stdout.
sub openssl_cmd {
    my ($t, @args) = @_;
    my ($code, $out, $err) = $t->run_cmd('openssl', @args, {timeout => 30});
    croak "openssl @args: exit $code: $err" if $code;
    return $out;
}

# Are openssl and curl (and python3, for client_hello) there? Returns the
# list of the missing ones.
sub have_tools {
    my ($t) = @_;
    my @missing;
    for my $tool (qw(openssl curl python3)) {
        push @missing, $tool
            unless grep { -x "$_/$tool" } split /:/, $ENV{PATH} // '';
    }
    return @missing;
}

# ---------------------------------------------------------------------------
# the PKI

sub _ec_key {
    my ($t, $file) = @_;
    openssl_cmd($t, 'genpkey', '-algorithm', 'EC', '-pkeyopt',
        'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:named_curve',
        '-out', $file);
}

sub _rsa_key {
    my ($t, $file) = @_;
    openssl_cmd($t, 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
        'rsa_keygen_bits:2048', '-out', $file);
}

sub _ca {
    my ($t, $dir, $base, $cn, $serial) = @_;
    _ec_key($t, "$dir/$base.key");
    openssl_cmd($t, 'req', '-x509', '-new', '-key', "$dir/$base.key",
        '-subj', "/O=Doorman Test/CN=$cn", '-days', $DAYS, '-sha256',
        '-set_serial', $serial,
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
        '-addext', 'subjectKeyIdentifier=hash',
        '-out', "$dir/$base.crt");
}

# A leaf certificate signed by CA (base name of CA.crt/CA.key in dir).
#   kind => 'server' (SAN required) | 'client'
sub _leaf {
    my ($t, $dir, %o) = @_;
    my ($base, $ca, $subj, $serial) = @o{qw(base ca subj serial)};
    my $keyfile = $o{key} // "$dir/$base.key";
    if (!$o{keep_key}) {
        if (($o{alg} // 'ec') eq 'rsa') { _rsa_key($t, $keyfile) }
        else { _ec_key($t, $keyfile) }
    }
    my @ext = ('basicConstraints=critical,CA:FALSE',
        'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid');
    if (($o{kind} // 'server') eq 'client') {
        push @ext, 'keyUsage=critical,digitalSignature',
            'extendedKeyUsage=clientAuth';
    } else {
        push @ext, 'keyUsage=critical,digitalSignature'
            . (($o{alg} // 'ec') eq 'rsa' ? ',keyEncipherment' : ''),
            'extendedKeyUsage=serverAuth';
    }
    push @ext, "subjectAltName=$o{san}" if $o{san};
    my $extfile = "$dir/$base.ext";
    open my $fh, '>', $extfile or croak "$extfile: $!";
    print {$fh} map { "$_\n" } @ext;
    close $fh or croak "$extfile: $!";
    openssl_cmd($t, 'req', '-new', '-key', $keyfile, '-subj', $subj,
        '-out', "$dir/$base.csr");
    # written beside, then renamed: a reader never sees half a file
    openssl_cmd($t, 'x509', '-req', '-in', "$dir/$base.csr", '-CA',
        "$dir/$ca.crt", '-CAkey', "$dir/$ca.key", '-set_serial', $serial,
        '-days', $DAYS, '-sha256', '-extfile', $extfile,
        '-out', "$dir/$base.crt.new");
    rename "$dir/$base.crt.new", "$dir/$base.crt"
        or croak "rename $dir/$base.crt: $!";
    unlink "$dir/$base.csr", $extfile;
    return "$dir/$base.crt";
}

# make_pki($t, dir => PATH, ocsp => 1, names => [...]): the test PKI in
# dir (default: PREFIX/pki). Returns a hash of absolute paths:
#   dir, ca_crt, ca_key                the test CA (ECDSA P-256)
#   NAME.ec.crt NAME.ec.key            for every name of @DUAL_NAMES,
#   NAME.rsa.crt NAME.rsa.key          @EC_NAMES (ec only) and names
#   backend_crt, backend_key           backend.test (SAN DNS:backend.test,
#                                      IP:127.0.0.1), ECDSA
#   client_crt, client_key, client_pem  CN=client-1,O=Doorman Test
#                                      (client_pem: cert + key in one file)
#   client_dn                          "CN=client-1,O=Doorman Test"
#   rogue_ca_crt, rogue_ca_key         another CA ("Rogue CA")
#   rogue_backend_crt, rogue_backend_key   backend.test/127.0.0.1 by it
#   rogue_client_crt, rogue_client_key     CN=client-1,O=Doorman Test by it
#   a.test.ocsp                        an OCSP response (DER, good, 2
#                                      days) for a.test.ec.crt, signed by
#                                      the CA (unless ocsp => 0; undef when
#                                      openssl could not make it)
# File names are fixed (dir/NAME...); the serial numbers are fixed too.
sub make_pki {
    my ($t, %o) = @_;
    my $dir = $o{dir} // $t->path('pki');
    make_path($dir);
    my $t0 = time;
    my %p = (dir => $dir);
    my $serial = 0x1000;

    _ca($t, $dir, 'ca', 'Doorman Test CA', 1);
    @p{qw(ca_crt ca_key)} = ("$dir/ca.crt", "$dir/ca.key");

    for my $n (@DUAL_NAMES) {
        for my $alg (qw(ec rsa)) {
            _leaf($t, $dir, base => "$n.$alg", ca => 'ca', alg => $alg,
                subj => "/O=Doorman Test/CN=$n", san => "DNS:$n",
                serial => ++$serial);
            $p{"$n.$alg.crt"} = "$dir/$n.$alg.crt";
            $p{"$n.$alg.key"} = "$dir/$n.$alg.key";
        }
    }
    for my $n (@EC_NAMES, @{$o{names} || []}) {
        _leaf($t, $dir, base => "$n.ec", ca => 'ca', alg => 'ec',
            subj => "/O=Doorman Test/CN=$n", san => "DNS:$n",
            serial => ++$serial);
        $p{"$n.ec.crt"} = "$dir/$n.ec.crt";
        $p{"$n.ec.key"} = "$dir/$n.ec.key";
    }
    _leaf($t, $dir, base => 'backend', ca => 'ca',
        subj => '/O=Doorman Test/CN=backend.test',
        san => 'DNS:backend.test,IP:127.0.0.1', serial => ++$serial);
    @p{qw(backend_crt backend_key)} = ("$dir/backend.crt", "$dir/backend.key");
    _leaf($t, $dir, base => 'client', ca => 'ca', kind => 'client',
        subj => '/O=Doorman Test/CN=client-1', serial => ++$serial);
    @p{qw(client_crt client_key)} = ("$dir/client.crt", "$dir/client.key");
    $p{client_dn} = 'CN=client-1,O=Doorman Test';
    _cat("$dir/client.pem", "$dir/client.crt", "$dir/client.key");
    $p{client_pem} = "$dir/client.pem";

    _ca($t, $dir, 'rogue-ca', 'Rogue CA', 2);
    @p{qw(rogue_ca_crt rogue_ca_key)} = ("$dir/rogue-ca.crt", "$dir/rogue-ca.key");
    _leaf($t, $dir, base => 'rogue-backend', ca => 'rogue-ca',
        subj => '/O=Doorman Test/CN=backend.test',
        san => 'DNS:backend.test,IP:127.0.0.1', serial => ++$serial);
    @p{qw(rogue_backend_crt rogue_backend_key)} =
        ("$dir/rogue-backend.crt", "$dir/rogue-backend.key");
    _leaf($t, $dir, base => 'rogue-client', ca => 'rogue-ca',
        kind => 'client', subj => '/O=Doorman Test/CN=client-1',
        serial => ++$serial);
    @p{qw(rogue_client_crt rogue_client_key)} =
        ("$dir/rogue-client.crt", "$dir/rogue-client.key");

    $p{'a.test.ocsp'} = ($o{ocsp} // 1) ? ocsp_response($t, $dir, 'a.test.ec') : undef;

    $p{serial} = $serial;
    $t->{doorman_tls_serial} = $serial;
    Test::More::note(sprintf 'test PKI made in %.2f s in %s', time - $t0, $dir)
        if $INC{'Test/More.pm'};
    return \%p;
}

sub _cat {
    my ($to, @from) = @_;
    open my $out, '>', $to or croak "$to: $!";
    for my $f (@from) {
        open my $in, '<', $f or croak "$f: $!";
        local $/;
        print {$out} <$in>;
    }
    close $out or croak "$to: $!";
}

# ocsp_response($t, DIR, BASE): an OCSP response (DER, DIR/BASE.ocsp.der)
# saying "good" for DIR/BASE.crt, made by openssl ocsp acting as the
# responder (DIR/ca.crt signs), valid 2 days. Returns its path, or undef
# (with a diag) when openssl could not make it.
sub ocsp_response {
    my ($t, $dir, $base) = @_;
    my $ok = eval {
        my $crt = "$dir/$base.crt";
        my $serial = openssl_cmd($t, 'x509', '-in', $crt, '-noout', '-serial');
        $serial =~ s/^serial=//;
        $serial =~ s/\s+//g;
        my $end = openssl_cmd($t, 'x509', '-in', $crt, '-noout', '-enddate');
        my $subj = openssl_cmd($t, 'x509', '-in', $crt, '-noout', '-subject',
            '-nameopt', 'compat');
        $subj =~ s/^subject=\s*//;
        $subj =~ s/\s+$//;
        # index.txt: V, expiry (YYMMDDHHMMSSZ), revocation (empty), serial,
        # file name, subject
        my $exp = _asn1_time($end);
        open my $fh, '>', "$dir/ocsp-index.txt" or die "$!";
        print {$fh} "V\t$exp\t\t$serial\tunknown\t$subj\n";
        close $fh;
        openssl_cmd($t, 'ocsp', '-index', "$dir/ocsp-index.txt",
            '-rsigner', "$dir/ca.crt", '-rkey', "$dir/ca.key",
            '-CA', "$dir/ca.crt", '-issuer', "$dir/ca.crt", '-cert', $crt,
            '-ndays', 2, '-respout', "$dir/$base.ocsp.der");
        -s "$dir/$base.ocsp.der" or die "no response written\n";
        1;
    };
    unless ($ok) {
        Test::More::diag("no OCSP response for $base: $@") if $INC{'Test/More.pm'};
        return undef;
    }
    return "$dir/$base.ocsp.der";
}

my %MON = (Jan => 1, Feb => 2, Mar => 3, Apr => 4, May => 5, Jun => 6,
    Jul => 7, Aug => 8, Sep => 9, Oct => 10, Nov => 11, Dec => 12);

# "notAfter=Mar  3 10:00:00 2027 GMT" -> "270303100000Z"
sub _asn1_time {
    my ($s) = @_;
    my ($mon, $d, $h, $mi, $se, $y) =
        $s =~ /=\s*(\w{3})\s+(\d+)\s+(\d+):(\d+):(\d+)\s+(\d{4})/
        or die "bad date $s\n";
    return sprintf '%02d%02d%02d%02d%02d%02dZ', $y % 100, $MON{$mon}, $d, $h,
        $mi, $se;
}

# reissue_cert($t, $pki, NAME, ALG, org => 'Renewed', new_key => 1):
# re-issues NAME.ALG.crt (and, with new_key, a new key) from the test CA
# with a new serial and O=org, overwriting the files in place (each
# written beside and renamed). Returns the new serial (decimal).
sub reissue_cert {
    my ($t, $pki, $name, $alg, %o) = @_;
    my $dir = $pki->{dir};
    my $serial = ++$pki->{serial};
    my $org = $o{org} // 'Renewed';
    my $key = "$dir/$name.$alg.key";
    my $new_key = $o{new_key} // 1;
    if ($new_key) {
        if ($alg eq 'rsa') { _rsa_key($t, "$key.new") } else { _ec_key($t, "$key.new") }
    }
    _leaf($t, $dir, base => "$name.$alg", ca => 'ca', alg => $alg,
        subj => "/O=$org/CN=$name", san => "DNS:$name", serial => $serial,
        key => $new_key ? "$key.new" : $key, keep_key => 1);
    if ($new_key) {
        rename "$key.new", $key or croak "rename $key: $!";
    }
    return $serial;
}

# ---------------------------------------------------------------------------
# certificate facts

sub pem_of_file {
    my ($file) = @_;
    open my $fh, '<', $file or croak "$file: $!";
    local $/;
    my $s = <$fh> // '';
    return cert_pem($s);
}

# The first PEM certificate of a text, normalized (no white space at the
# ends of lines, one final newline), or undef.
sub cert_pem {
    my ($text) = @_;
    return undef unless defined $text;
    my ($pem) = $text =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)/s
        or return undef;
    $pem =~ s/[ \t\r]+$//mg;
    return "$pem\n";
}

sub same_cert {
    my ($a, $b) = @_;
    return defined $a && defined $b && cert_pem($a) eq cert_pem($b);
}

# cert_info($t, PEM_TEXT | FILE): {subject (RFC 2253), issuer, serial
# (hex, upper case), key ('EC' or 'RSA'), sha1 (lower-case hex, no
# colons)}.
sub cert_info {
    my ($t, $what) = @_;
    my $file = $what;
    if ($what =~ /-----BEGIN/) {
        $file = $t->path('cert_info.tmp.pem');
        $t->write_file($file, $what);
    }
    my $out = openssl_cmd($t, 'x509', '-in', $file, '-noout', '-nameopt',
        'RFC2253', '-subject', '-issuer', '-serial', '-fingerprint', '-sha1',
        '-text');
    my %i;
    ($i{subject}) = $out =~ /^subject=\s*(.*?)\s*$/m;
    ($i{issuer}) = $out =~ /^issuer=\s*(.*?)\s*$/m;
    ($i{serial}) = $out =~ /^serial=\s*([0-9A-Fa-f]+)/m;
    my ($fp) = $out =~ /^SHA1 Fingerprint=\s*([0-9A-Fa-f:]+)/mi;
    ($i{sha1} = lc($fp // '')) =~ s/://g;
    $i{key} = $out =~ /Public Key Algorithm:\s*id-ecPublicKey/ ? 'EC'
        : $out =~ /Public Key Algorithm:\s*rsaEncryption/ ? 'RSA' : '?';
    return \%i;
}

# The SHA-1 fingerprint of a certificate file as nginx's
# $ssl_client_fingerprint: 40 lower-case hex digits, no colons.
sub sha1_fingerprint {
    my ($t, $file) = @_;
    my $out = openssl_cmd($t, 'x509', '-in', $file, '-noout', '-fingerprint',
        '-sha1');
    my ($fp) = $out =~ /=\s*([0-9A-Fa-f:]+)/ or croak "no fingerprint: $out";
    $fp =~ s/://g;
    return lc $fp;
}

# ---------------------------------------------------------------------------
# clients

# s_client($t, port => P, servername => N, args => [...], stdin => BYTES,
# timeout => 10, host => '127.0.0.1'): one `openssl s_client` run to its
# end. Returns {code, out, err, pem (the server's certificate, normalized),
# subject (s_client's subject= line), session ('New' | 'Reused' | undef),
# protocol, cipher, verify (the "Verify return code" number), body (what
# came after the last "---" block of the output: the application data),
# ocsp (the OCSP part printed with -status)}. stdin defaults to nothing
# (EOF at once); when it is not empty -ign_eof is added, so that s_client
# reads until the server closes. Unless args holds -quiet, the session
# summary is parsed.
sub s_client {
    my ($t, %o) = @_;
    my @argv = ('openssl', 's_client', '-connect',
        ($o{host} // '127.0.0.1') . ":$o{port}");
    push @argv, '-servername', $o{servername} if defined $o{servername};
    push @argv, @{$o{args} || []};
    # with something to send, read on after the end of stdin until the
    # server closes (an HTTP/1.0 request; the TLS 1.3 tickets come then)
    push @argv, '-ign_eof' if length($o{stdin} // '')
        && !grep { $_ eq '-ign_eof' || $_ eq '-quiet' } @argv;
    my ($code, $out, $err) = $t->run_cmd(@argv,
        {timeout => $o{timeout} // 10, stdin => $o{stdin} // ''});
    my %r = (code => $code, out => $out, err => $err, argv => \@argv);
    $r{pem} = cert_pem($out);
    ($r{subject}) = $out =~ /^subject=\s*(.*?)\s*$/m;
    if ($out =~ /^(New|Reused), (TLSv[\d.]+|SSLv3), Cipher is (\S+)/m) {
        @r{qw(session protocol cipher)} = ($1, $2, $3);
    }
    ($r{verify}) = $out =~ /Verify return code: (\d+)/;
    ($r{ocsp}) = $out =~ /^(OCSP response:.*?)^---/ms;
    ($r{ocsp}) = $out =~ /^(OCSP response: no response sent)/m
        unless defined $r{ocsp};
    # the application data: after the session block's closing "---",
    # without the ticket blocks s_client prints when tickets come
    my $body = '';
    if ($out =~ /^[ \t]*Verify return code:[^\n]*\n(?:.*\n)*?---\n/mg) {
        $body = substr($out, pos($out));
        $body =~ s/(?:^|(?<=\n))---\nPost-Handshake New Session Ticket arrived:\n.*?\n---\n(?:read R BLOCK\n)?//sg;
        $body =~ s/^(?:read R BLOCK|closed|DONE)\n?\z//mg;
    }
    $r{body} = $body;
    $r{all} = "$out$err";
    return \%r;
}

# curl_https($t, name => 'a.test', port => P, path => '/', cacert => F,
# args => [...], timeout => 10): curl -sS -D - --resolve NAME:P:127.0.0.1
# https://NAME:P/PATH (-k when no cacert). Returns {code (curl's exit),
# status, headers (lower-case names), body, err (stderr), verbose}; with
# verbose => 1, -v is given and err holds its output.
sub curl_https {
    my ($t, %o) = @_;
    my $name = $o{name} // 'localhost';
    my $port = $o{port} or croak 'curl_https needs port';
    my @argv = ('curl', '-sS', '-D', '-', '--max-time', $o{timeout} // 10,
        '--resolve', "$name:$port:127.0.0.1");
    push @argv, defined $o{cacert} ? ('--cacert', $o{cacert}) : ('-k');
    push @argv, '-v' if $o{verbose};
    push @argv, @{$o{args} || []};
    push @argv, "https://$name:$port" . ($o{path} // '/');
    my ($code, $out, $err) = $t->run_cmd(@argv,
        {timeout => ($o{timeout} // 10) + 5});
    my %r = (code => $code, err => $err, argv => \@argv, raw => $out);
    if ($out =~ s/\A(HTTP\/[\d.]+ (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n)//s) {
        $r{status} = $2;
        my %h;
        for my $l (split /\r\n/, $3) {
            my ($k, $v) = $l =~ /^([^:]+):\s*(.*)$/ or next;
            $k = lc $k;
            $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
        }
        $r{headers} = \%h;
    }
    $r{body} = $out;
    return \%r;
}

# client_hello($t, servername => N, max => '1.3'): the bytes of a real
# ClientHello (python3's ssl over a MemoryBIO, no socket), to send on a raw
# socket and then stall or abort.
sub client_hello {
    my ($t, %o) = @_;
    my $py = <<'PY';
import ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if sys.argv[2] == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname=sys.argv[1])
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
sys.stdout.write(out.read().hex())
PY
    my ($code, $out, $err) = $t->run_cmd('python3', '-c', $py,
        $o{servername} // 'a.test', $o{max} // '1.3', {timeout => 15});
    croak "client_hello: exit $code: $err" if $code || $out !~ /^16/;
    return pack 'H*', $out;
}

# tls_pipe($t, port => P, servername => N, args => [...], timeout => 10):
# an interactive `openssl s_client` (a Doorman::TLS::Pipe): what is sent
# goes to its stdin, its stdout and stderr are read back. Waits (bounded)
# for the handshake to be done (the "---" after the session summary);
# returns the pipe or undef ($@ says why).
sub tls_pipe {
    my ($t, %o) = @_;
    my @argv = ('openssl', 's_client', '-connect',
        ($o{host} // '127.0.0.1') . ":$o{port}", '-ign_eof');
    push @argv, '-servername', $o{servername} if defined $o{servername};
    push @argv, @{$o{args} || []};
    my $p = Doorman::TLS::Pipe->new(\@argv);
    my $got = $p->read_until(qr/^(?:New|Reused), .*?\n(?:.*\n)*?---\n/m,
        $o{timeout} // 10);
    unless (defined $got) {
        $@ = "no handshake: " . $p->buf;
        $p->close;
        return undef;
    }
    $p->{pem} = cert_pem($p->buf);
    $p->{head} = $p->buf;
    $p->consume(length $got);
    return $p;
}

# ---------------------------------------------------------------------------

package Doorman::TLS::Pipe;

use strict;
use warnings;
use Carp qw(croak);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use IO::Handle;
use IO::Select;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken refaddr);
use Time::HiRes qw(time sleep);

my %LIVE;

sub new {
    my ($class, $argv) = @_;
    pipe my $in_r, my $in_w or croak "pipe: $!";
    pipe my $out_r, my $out_w or croak "pipe: $!";
    STDOUT->flush;
    STDERR->flush;
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        eval {
            POSIX::setpgid(0, 0);
            Doorman::Test::_die_with_parent()
                if defined &Doorman::Test::_die_with_parent;
            $SIG{$_} = 'DEFAULT' for qw(HUP INT TERM PIPE ALRM CHLD);
            close $in_w;
            close $out_r;
            open STDIN, '<&', $in_r or die "dup: $!";
            open STDOUT, '>&', $out_w or die "dup: $!";
            open STDERR, '>&', $out_w or die "dup: $!";
            exec { $argv->[0] } @$argv or die "exec $argv->[0]: $!\n";
        };
        print STDERR $@;
        POSIX::_exit(127);
    }
    POSIX::setpgid($pid, $pid);
    close $in_r;
    close $out_w;
    $out_r->blocking(0);
    $in_w->autoflush(1);
    my $self = bless {pid => $pid, in => $in_w, out => $out_r,
        sel => IO::Select->new($out_r), buf => '', eof => 0,
        argv => $argv}, $class;
    $LIVE{refaddr $self} = $self;
    weaken $LIVE{refaddr $self};
    return $self;
}

sub pid { return $_[0]{pid} }
sub buf { return $_[0]{buf} }
sub pem { return $_[0]{pem} }
sub head { return $_[0]{head} }
sub eof { return $_[0]{eof} }

sub consume {
    my ($self, $n) = @_;
    substr($self->{buf}, 0, $n, '');
}

# Sends bytes to s_client's stdin (it sends them over TLS). 1 or 0.
sub send {
    my ($self, $bytes) = @_;
    return 0 unless $self->{in};
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $self->{in}, $bytes, length($bytes) - $off, $off;
        unless (defined $n) {
            next if $! == EINTR;
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# Reads until the buffer matches RE or the time is up (or EOF). Returns
# the matched text (from the start of the buffer to the end of the match)
# or undef.
sub read_until {
    my ($self, $re, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    for (;;) {
        if ($self->{buf} =~ $re) {
            return substr($self->{buf}, 0, $+[0]);
        }
        return undef if $self->{eof};
        my $left = $deadline - time;
        return undef if $left <= 0;
        next unless $self->{sel}->can_read($left);
        my $n = sysread $self->{out}, my $chunk, 65536;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            $self->{eof} = 1;
        } elsif ($n == 0) {
            $self->{eof} = 1;
        } else {
            $self->{buf} .= $chunk;
        }
    }
}

# Reads one HTTP response (head and a Content-Length body, or until EOF
# when there is none), bounded; removes it from the buffer. Returns
# {status, headers, body} or undef.
sub read_response {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $head = $self->read_until(qr/\r\n\r\n/, $timeout) // return undef;
    my ($status) = $head =~ m{HTTP/1\.\d (\d{3})} or return undef;
    my $start = $-[0];
    my %h;
    for my $l (split /\r\n/, substr($head, $start)) {
        my ($k, $v) = $l =~ /^([^:\s]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }
    my $hlen = length $head;
    my $body;
    if (defined $h{'content-length'}) {
        my $need = $hlen + $h{'content-length'};
        my $left = $deadline - time;
        $self->read_until(qr/\A[\s\S]{$need}/, $left > 0 ? $left : 0.01)
            // return undef;
        $body = substr($self->{buf}, $hlen, $h{'content-length'});
        $self->consume($need);
    } else {
        my $left = $deadline - time;
        $self->read_until(qr/\z(?!)/, $left > 0 ? $left : 0.01);
        $body = substr($self->{buf}, $hlen);
        $self->{buf} = '';
    }
    return {status => $status, headers => \%h, body => $body};
}

# Waits for s_client to end (EOF on its output), bounded: 1 or 0.
sub wait_eof {
    my ($self, $timeout) = @_;
    $self->read_until(qr/\z(?!)/, $timeout);
    return $self->{eof} ? 1 : 0;
}

sub close {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    close $self->{in} if $self->{in};
    $self->{in} = undef;
    kill 'TERM', -$pid;
    kill 'TERM', $pid;
    my $deadline = time + 3;
    my $done = 0;
    while (time < $deadline) {
        my $r = waitpid $pid, WNOHANG;
        if ($r == $pid || $r == -1) { $done = 1; last }
        sleep 0.02;
    }
    unless ($done) {
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
    close $self->{out} if $self->{out};
    $self->{out} = undef;
    $self->{pid} = undef;
    delete $LIVE{refaddr $self};
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->close if $self->{pid};
}

END {
    for my $p (grep { defined } values %LIVE) {
        local ($?, $!, $@);
        $p->close;
    }
}

1;

__END__

=head1 NAME

Doorman::TLS - TLS helpers of the doorman integration tests

=head1 SYNOPSIS

    use Doorman::Test;
    use Doorman::TLS qw(:all);

    my $t = Doorman::Test->new;
    my $pki = make_pki($t);            # PREFIX/pki, about a second
    # ssl_certificate $pki->{'a.test.ec.crt'}; ...
    my $r = curl_https($t, name => 'a.test', port => $p,
        cacert => $pki->{ca_crt});
    my $s = s_client($t, port => $p, servername => 'c.test');
    ok same_cert($s->{pem}, pem_of_file($pki->{'default.test.ec.crt'}));
    my $conn = tls_pipe($t, port => $p, servername => 'a.test');
    $conn->send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    my $resp = $conn->read_response(5);
    $conn->close;

=head1 FUNCTIONS (exported on demand, or all with :all)

=over

=item make_pki($t, dir => PATH, ocsp => 1, names => [...])

The test PKI (openssl command, ECDSA P-256 everywhere but the RSA 2048
twins of a.test, b.test and default.test): see the comment above the
function for the keys of the hash of paths it returns.

=item reissue_cert($t, $pki, NAME, 'ec'|'rsa', org => 'Renewed', new_key => 1)

Renews a certificate in place (new serial, O=org, a new key unless
new_key => 0), each file written beside and renamed over the old one.

=item openssl_cmd($t, ARGS...), have_tools($t), ocsp_response($t, DIR, BASE)

=item s_client($t, port => P, servername => N, args => [...], stdin => BYTES, timeout => 10)

=item curl_https($t, name => N, port => P, path => '/', cacert => F, args => [...], verbose => 0, timeout => 10)

=item cert_pem(TEXT), pem_of_file(FILE), same_cert(A, B), cert_info($t, PEM|FILE), sha1_fingerprint($t, FILE)

=item client_hello($t, servername => N, max => '1.3'|'1.2')

=item tls_pipe($t, port => P, servername => N, args => [...], timeout => 10)

A held s_client connection: send(BYTES), read_until(RE, S),
read_response(S), wait_eof(S), buf, pem (the server's certificate),
head (s_client's handshake output), close.

=back

=cut
