#!/usr/bin/perl
#
# The HTTP engine (issue 9, DESIGN.md sections 1, 5 and 7) through the
# real server and real clients; the parser's own table is t/unit/http.
#
#   1. curl: status line, headers and body of `return` with the request
#      variables, location matching (exact, then longest prefix), the
#      redirect forms, 204, HEAD, a server-level return; $request_length,
#      $request_time, $status, $body_bytes_sent, $remote_user and
#      $request_id in a log_format; the `combined` access log line.
#   2. Load: ab -k -n 10000 -c 10 (0 failed, all 200), wrk -t2 -c50 -d3s
#      (no socket error, no non-2xx), h2load --h1 -n 2000 -c 10 (each
#      skipped with a message when the program is absent).
#   3. Pipelining: 10 requests in one write (GET, HEAD, POST with a
#      Content-Length body and a chunked one, 2.7 KB in all against a 1 KB
#      header buffer) are answered in order with their bodies; the same
#      bytes in 100-byte pieces.
#   4. Bodies: curl --data-binary @1MiB with Expect: 100-continue gets 100
#      then 200 (1 MiB is exactly the default client_max_body_size); one
#      byte more is a 413 without 100; a Content-Length over the limit
#      sent with its body gets its 413 intact (lingering close), a chunked
#      body is refused with 413 as soon as its chunks exceed the limit,
#      before the last chunk; a body under the limit keeps the connection;
#      HTTP/1.0 with Expect gets no 100; client_body_timeout.
#   5. HTTP/1.0 with and without keep-alive; HTTP/1.1 Connection: close;
#      an absolute-form target (its authority chooses the server, not
#      Host); keepalive_requests 3 closes after the third response (one
#      at a time and pipelined); keepalive_timeout 1s closes an idle
#      connection after about a second; keepalive_timeout 0.
#   6. Limits: the header buffer grows (1 KB, then 8 KB; and 256 bytes,
#      then 1 KB); 414 for a long request line, 431 for a huge field, a
#      huge head and too many fields.
#   7. Every refusal class of DESIGN.md section 7 sent to the server,
#      followed by a second request in the same write: the status (400,
#      501 or 505), "Connection: close", the connection closed, the second
#      request never answered; the server still serves. And what real
#      clients send is accepted (obs-text, raw UTF-8 in the target, any
#      method, Host forms, an empty line first, CHUNKED, OWS around
#      Content-Length, bare LF, HTAB; OPTIONS * gets a 404 and CONNECT a
#      405, neither a 400).
#   8. Virtual servers: server_name (case, port and trailing dot ignored),
#      default_server, the first server as default, a server of its own
#      on another address of the same port; configuration refusals.
#   9. Slow clients: 500 connections sending one header byte a second
#      (client_header_timeout 3s): 200 normal requests on fresh
#      connections meanwhile, p99 latency under 50 ms; every slow
#      connection closed between 2.5 s and 4 s after it connected.
#  10. Reload under load: 20 reloads 0.25 s apart (2 workers) while wrk
#      runs with keep-alive, then with Connection: close: no socket error,
#      no non-2xx response.
#  11. Graceful QUIT with idle keep-alive connections, a request waiting
#      for the rest of its body and a connection that sent nothing: the
#      request is answered with Connection: close, the rest are closed,
#      the master exits within 3 s, no KILL needed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Poll qw(POLLIN POLLHUP POLLERR);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
undef $probe;

my $T_START = time;
my $TIME_LOCAL = qr{\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}};
my $ID = qr/[0-9a-f]{32}/;

sub which {
    my ($prog) = @_;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$prog" if -x "$d/$prog";
    }
    return undef;
}

# --- responses ------------------------------------------------------------

# One response at the start of $buf: (hashref, bytes used), or () while it
# is incomplete. head_only: it answers a HEAD (no body follows).
sub parse_one {
    my ($buf, $head_only, $eof) = @_;
    my $end = index $buf, "\r\n\r\n";
    return if $end < 0;
    my ($line, @fields) = split /\r\n/, substr($buf, 0, $end);
    my ($status) = ($line // '') =~ m{^HTTP/1\.[01] (\d{3})(?: |$)};
    my %h;
    for (@fields) {
        my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    my $pos = $end + 4;
    my $len = 0;
    if (defined $status && $status >= 200 && $status != 204 && $status != 304
        && !$head_only) {
        if (defined $h{'content-length'}) {
            $len = $h{'content-length'};
        } else {
            return unless $eof;
            $len = length($buf) - $pos;
        }
    }
    return if length($buf) < $pos + $len;
    return ({status => $status // 0, line => $line, h => \%h,
        body => substr($buf, $pos, $len)}, $pos + $len);
}

# Every final response in $data (1xx left out), in order; head => [i...]
# the positions of those that answer HEAD. Returns (\@responses, rest).
sub responses {
    my ($data, %o) = @_;
    my %head = map { $_ => 1 } @{$o{head} || []};
    my @out;
    for (;;) {
        my ($r, $used) = parse_one($data, $head{scalar @out}, 1);
        last unless $r;
        $data = substr $data, $used;
        next if $r->{status} =~ /^1/;
        push @out, $r;
    }
    return (\@out, $data);
}

# A raw exchange: the bytes, then everything until the server closes (or
# the timeout). Returns (responses, how it ended, raw bytes).
sub exchange {
    my ($t, $port, $bytes, %o) = @_;
    my ($data, $how) = $t->tcp_request($port, $bytes,
        timeout => $o{timeout} // 5, host => $o{host});
    my ($rs) = responses($data, head => $o{head});
    return ($rs, $how, $data);
}

sub get {
    my ($target, @lines) = @_;
    return join '', "GET $target HTTP/1.1\r\n", "Host: test.example\r\n",
        map({ "$_\r\n" } @lines), "\r\n";
}

# --- a client connection ----------------------------------------------------

package Conn;

use IO::Select;
use IO::Socket::IP;
use Time::HiRes qw(time);

sub new {
    my ($class, $port, %o) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $o{host} // '127.0.0.1',
        PeerPort => $port, Proto => 'tcp', Timeout => 5) or return undef;
    $s->blocking(0);
    return bless {s => $s, buf => '', eof => 0, how => '', interim => []},
        $class;
}

sub put {
    my ($self, $bytes) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($self->{s});
    my $deadline = time + 5;
    my $off = 0;
    while ($off < length $bytes) {
        return 0 if time > $deadline;
        next unless $sel->can_write(0.2);
        my $n = syswrite $self->{s}, $bytes, length($bytes) - $off, $off;
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR} || $!{EWOULDBLOCK};
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# Reads what arrives within the timeout; true when something (or the end)
# came.
sub fill {
    my ($self, $timeout) = @_;
    return 0 if $self->{eof};
    my $sel = IO::Select->new($self->{s});
    my $deadline = time + $timeout;
    for (;;) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread $self->{s}, my $b, 65536;
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR} || $!{EWOULDBLOCK};
            $self->{eof} = 1;
            $self->{how} = $!{ECONNRESET} ? 'reset' : "error: $!";
            return 1;
        }
        if ($n == 0) {
            $self->{eof} = 1;
            $self->{how} = 'eof';
            return 1;
        }
        $self->{buf} .= $b;
        return 1;
    }
}

# The next final response (interim ones go to {interim}), or undef.
sub response {
    my ($self, %o) = @_;
    my $deadline = time + ($o{timeout} // 5);
    for (;;) {
        my ($r, $used) = main::parse_one($self->{buf}, $o{head}, $self->{eof});
        if ($r) {
            substr($self->{buf}, 0, $used) = '';
            if ($r->{status} =~ /^1/) {
                push @{$self->{interim}}, $r;
                next;
            }
            return $r;
        }
        return undef if $self->{eof};
        my $left = $deadline - time;
        return undef if $left <= 0;
        $self->fill($left);
    }
}

sub request {
    my ($self, $bytes, %o) = @_;
    $self->put($bytes) or return undef;
    return $self->response(%o);
}

# Seconds until the server closes (what it sends meanwhile is kept), or
# undef after the timeout.
sub wait_close {
    my ($self, $timeout) = @_;
    my $t0 = time;
    while (!$self->{eof}) {
        my $left = $t0 + $timeout - time;
        return undef if $left <= 0;
        $self->fill($left);
    }
    close $self->{s};    # as clients do (the server lingers until then)
    return time - $t0;
}

sub done { close $_[0]{s} }

package main;

# --- the main server --------------------------------------------------------

my $VARS = 'method=$request_method uri=$uri args=$args a=$arg_a b=$arg_b'
    . ' foo=$http_x_foo c=$cookie_c host=$host scheme=$scheme'
    . ' proto=$server_protocol request=[$request] request_uri=$request_uri'
    . ' id=$request_id';

my $t = Doorman::Test->new;
$t->write_conf(<<"EOF");
worker_processes 2;
events { worker_connections 1024; }
http {
    log_format vars '\$status \$body_bytes_sent \$request_length \$request_time'
                    ' "\$remote_user" \$request_id \$uri';
    access_log logs/access.log;
    access_log logs/vars.log vars;

    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 200 "$VARS\\n"; }
        location = /exact { return 200 "exact\\n"; }
        location /p/ { return 200 "prefix /p/ uri=\$uri\\n"; }
        location /p/long/ { return 200 "prefix /p/long/ uri=\$uri\\n"; }
        location = /p/ { return 200 "exact /p/\\n"; }
        location /moved { return 301 https://example.test\$request_uri; }
        location /url { return http://example.test/u?x=\$arg_x; }
        location /see { return 303 /other; }
        location /missing { return 404 "no such thing: \$uri\\n"; }
        location /forbidden { return 403; }
        location /empty { return 204; }
        location /echo/ { return 200 "\$request_method \$uri\\n"; }
        location /small { client_max_body_size 1k; return 200 "small ok\\n"; }
        location /unlimited { client_max_body_size 0; return 200 "unlimited\\n"; }
        location /slowbody { client_body_timeout 1s; return 200 "slow body\\n"; }
    }

    # names: b is the default server, a is listed first
    server {
        listen 127.0.0.1:%%PORT_2%%;
        server_name a.example;
        return 200 "a\\n";
    }
    server {
        listen 127.0.0.1:%%PORT_2%% default_server;
        server_name b.example www.b.example;
        return 200 "b host=\$host\\n";
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        server_name c.example;
        return 200 "c host=\$host uri=\$uri args=\$args\\n";
    }

    # no default_server: the first one; another address of the same port
    server { listen 127.0.0.1:%%PORT_3%%; server_name d.example; return 200 "d\\n"; }
    server { listen 127.0.0.1:%%PORT_3%%; server_name e.example; return 200 "e\\n"; }
    server { listen 127.0.0.2:%%PORT_3%%; return 200 "f on 127.0.0.2\\n"; }

    server {
        listen 127.0.0.1:%%PORT_4%%;
        keepalive_requests 3;
        keepalive_timeout 1s;
        return 200 "ka\\n";
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        keepalive_timeout 0;
        return 200 "no keep-alive\\n";
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        client_header_buffer_size 256;
        large_client_header_buffers 2 1k;
        return 200 "small buffers\\n";
    }
    # a server-level return comes before any location
    server {
        listen 127.0.0.1:%%PORT_7%%;
        return 200 "server level\\n";
        location / { return 200 "location\\n"; }
    }
}
EOF
my ($code, $err) = $t->test_conf;
is $code, 0, 'the configuration is valid' or diag $err;
my @P = map { $t->port_n($_) } 1 .. 7;
$t->run(wait_ports => [@P]);
my $P = $P[0];

# --- 1. curl and return -----------------------------------------------------

my $CURL = which('curl');
SKIP: {
    skip 'curl is not installed', 1 unless $CURL;

    # curl -si URL ARGS: (status line, headers, body) of the last response
    my $curl = sub {
        my ($url, @args) = @_;
        my ($rc, $out, $e) = $t->run_cmd($CURL, '-sS', '-i', '--max-time',
            '5', @args, $url, {timeout => 10});
        is $rc, 0, "curl $url: exit 0" or diag $e;
        my @heads;
        while ($out =~ s{\A(HTTP/1\.1 [^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)}{}) {
            push @heads, $1;
        }
        my ($line, @f) = split /\r\n/, $heads[-1] // '';
        my %h;
        for (@f) {
            my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
            $h{lc $k} = $v;
        }
        return ($line // '', \%h, $out);
    };

    my $url = "http://127.0.0.1:$P/vars/x?a=1&b=two";
    my ($line, $h, $body) = $curl->($url, '-H', 'X-Foo: bar', '-b',
        'd=0; c=cookie; e=1', '-A', 'doorman-test/1.0', '-e',
        'http://referer.test/');
    is $line, 'HTTP/1.1 200 OK', 'curl: 200 OK';
    is $h->{server}, 'doorman', '  Server: doorman';
    is $h->{'content-type'}, 'text/plain', '  Content-Type: text/plain';
    like $h->{date} // '', qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/,
        '  an IMF-fixdate Date';
    is $h->{'content-length'}, length $body, '  Content-Length is the body';
    is $h->{connection}, 'keep-alive', '  Connection: keep-alive';
    my $body0 = $body;
    my ($id) = $body =~ /id=($ID)\n$/;
    is $body, 'method=GET uri=/vars/x args=a=1&b=two a=1 b=two foo=bar'
        . ' c=cookie host=127.0.0.1 scheme=http proto=HTTP/1.1'
        . ' request=[GET /vars/x?a=1&b=two HTTP/1.1]'
        . ' request_uri=/vars/x?a=1&b=two id=' . ($id // 'none') . "\n",
        '  the body: every request variable';

    # missing values are empty; $host without a Host field in HTTP/1.0
    ($line, $h, $body) = $curl->("http://127.0.0.1:$P/", '-0', '-H',
        'Host:');
    my ($id2) = $body =~ /id=($ID)\n$/;
    is $body, 'method=GET uri=/ args= a= b= foo= c= host= scheme=http'
        . ' proto=HTTP/1.0 request=[GET / HTTP/1.0] request_uri=/ id='
        . ($id2 // 'none') . "\n",
        'HTTP/1.0 without Host: empty values, $host empty (no server_name)';
    isnt $id2 // '', $id // '', '$request_id differs between requests';

    my %loc = (
        '/exact' => 'exact', '/exact/' => undef, '/p/' => 'exact /p/',
        '/p/x' => 'prefix /p/ uri=/p/x', '/p/long' => 'prefix /p/ uri=/p/long',
        '/p/long/y' => 'prefix /p/long/ uri=/p/long/y',
    );
    for my $path (sort keys %loc) {
        ($line, $h, $body) = $curl->("http://127.0.0.1:$P$path");
        if (defined $loc{$path}) {
            is $body, "$loc{$path}\n", "location for $path";
        } else {
            like $body, qr{^method=GET uri=\Q$path\E }, "location for $path: /";
        }
    }

    # locations see the decoded, normalized path ($uri); $request_uri
    # keeps the bytes as sent; a path that climbs above the root is a 400
    my %norm = (
        '/x/../exact' => "exact\n", '//exact' => "exact\n",
        '/%65xact' => "exact\n", '/p/./long/%2e%2e/q?a=1' => "prefix /p/ uri=/p/q\n",
        '/p//long/y' => "prefix /p/long/ uri=/p/long/y\n",
        '/echo/a%20b' => "GET /echo/a b\n",
    );
    for my $path (sort keys %norm) {
        my ($rs) = exchange($t, $P, get($path, 'Connection: close'));
        is $rs->[0]{body} // '', $norm{$path}, "normalized: $path";
    }
    for my $path ('/..', '/p/../../exact', '/%2e%2e/x', '/a%zz', '/a%00') {
        my ($rs) = exchange($t, $P, get($path) . get('/exact'));
        is join(',', map { $_->{status} } @$rs), '400',
            "refused path $path: 400, nothing after it answered";
    }

    ($line, $h, $body) = $curl->("http://127.0.0.1:$P/moved/here?x=1");
    is $line, 'HTTP/1.1 301 Moved Permanently', 'return 301 URL';
    is $h->{location}, 'https://example.test/moved/here?x=1',
        '  Location with variables';
    is $body, "301 Moved Permanently\n", '  a short default body';
    ($line, $h, $body) = $curl->("http://127.0.0.1:$P/url?x=7");
    is $line, 'HTTP/1.1 302 Found', 'return URL: 302';
    is $h->{location}, 'http://example.test/u?x=7', '  Location';
    ($line, $h) = $curl->("http://127.0.0.1:$P/see");
    is "$line $h->{location}", "HTTP/1.1 303 See Other http://127.0.0.1:$P/other",
        'return 303 (a path made absolute, as nginx)';
    ($line, $h, $body) = $curl->("http://127.0.0.1:$P/missing/thing");
    is $line, 'HTTP/1.1 404 Not Found', 'return 404 TEXT';
    is $body, "no such thing: /missing/thing\n", '  the text';
    ($line, $h, $body) = $curl->("http://127.0.0.1:$P/forbidden");
    is "$line|$body", "HTTP/1.1 403 Forbidden|403 Forbidden\n", 'return 403';
    ($line, $h, $body) = $curl->("http://127.0.0.1:$P/empty");
    is $line, 'HTTP/1.1 204 No Content', 'return 204';
    ok !exists $h->{'content-length'} && $body eq '',
        '  no Content-Length, no body';
    ($line, $h, $body) = $curl->("http://127.0.0.1:$P/exact", '-I');
    is $line, 'HTTP/1.1 200 OK', 'HEAD';
    is $h->{'content-length'}, 6, '  Content-Length of the GET body';
    is $body, '', '  no body';
    ($line, $h, $body) = $curl->("http://127.0.0.1:$P[6]/any");
    is $body, "server level\n", 'a server-level return wins over locations';

    # the logs of the first request
    my @acc;
    $t->wait_for(sub {
        @acc = grep { m{"GET /vars/x\?a=1&b=two } } split /\n/,
            $t->read_file('logs/access.log');
    }, timeout => 3);
    is scalar @acc, 1, 'one combined line for the request';
    like $acc[0] // '', qr{^127\.0\.0\.1 - - \[$TIME_LOCAL\] "GET /vars/x\?a=1&b=two HTTP/1\.1" 200 \d+ "http://referer\.test/" "doorman-test/1\.0"$},
        '  the combined format';
    my ($bytes) = ($acc[0] // '') =~ / 200 (\d+) /;
    is $bytes, length $body0, '  $body_bytes_sent is the body';
    my ($v) = grep { $id && / \Q$id\E / } split /\n/,
        $t->read_file('logs/vars.log');
    like $v // '', qr{^200 \d+ \d+ \d+\.\d{3} "-" \Q$id\E /vars/x$},
        'log_format: $status $body_bytes_sent $request_length $request_time'
        . ' $remote_user $request_id (the same id as the response)';
}

# exact $request_length and $body_bytes_sent from a raw request
{
    my $req = "POST /echo/len HTTP/1.1\r\nHost: len.example\r\n"
        . "Content-Length: 5\r\nConnection: close\r\n\r\nhello";
    my ($rs) = exchange($t, $P, $req);
    is $rs->[0]{body} // '', "POST /echo/len\n", 'a POST with a body';
    my @l;
    $t->wait_for(sub {
        @l = grep { m{ /echo/len$} } split /\n/, $t->read_file('logs/vars.log');
    }, timeout => 3);
    like $l[0] // '', qr{^200 15 ${\ length $req} 0\.\d{3} "-" $ID /echo/len$},
        '$request_length counts head and body, $body_bytes_sent the body';
}

# --- 2. load tools ----------------------------------------------------------

my $AB = which('ab');
SKIP: {
    skip 'ab is not installed (package apache2-utils)', 4 unless $AB;
    my $t0 = time;
    my ($rc, $out, $e) = $t->run_cmd($AB, '-k', '-n', '10000', '-c', '10',
        "http://127.0.0.1:$P/echo/ab", {timeout => 30});
    is $rc, 0, 'ab -k -n 10000 -c 10: exit 0' or diag $e;
    like $out, qr/^Complete requests:\s+10000$/m, '  10000 complete';
    like $out, qr/^Failed requests:\s+0$/m, '  0 failed';
    unlike $out, qr/Non-2xx/, '  all 200';
    my ($ka) = $out =~ /^Keep-Alive requests:\s+(\d+)/m;
    diag sprintf 'ab: %d keep-alive requests in %.1f s', $ka // 0, time - $t0;
}

my $WRK = which('wrk');
SKIP: {
    skip 'wrk is not installed', 3 unless $WRK;
    my ($rc, $out, $e) = $t->run_cmd($WRK, '-t2', '-c50', '-d3s',
        '--timeout', '2s', "http://127.0.0.1:$P/echo/wrk", {timeout => 20});
    is $rc, 0, 'wrk -t2 -c50 -d3s: exit 0' or diag $e;
    my ($n) = $out =~ /(\d+) requests in/;
    ok +($n // 0) > 1000, "  requests served (${\ ($n // 0)})" or diag $out;
    ok $out !~ /Socket errors/ && $out !~ /Non-2xx/,
        '  no socket error, no non-2xx response' or diag $out;
}

my $H2LOAD = which('h2load');
SKIP: {
    skip 'h2load is not installed (package nghttp2-client)', 3
        unless $H2LOAD;
    my ($rc, $out, $e) = $t->run_cmd($H2LOAD, '--h1', '-n', '2000', '-c',
        '10', "http://127.0.0.1:$P/echo/h2load", {timeout => 30});
    is $rc, 0, 'h2load --h1 -n 2000 -c 10: exit 0' or diag $e;
    like $out, qr/requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout/,
        '  2000 succeeded' or diag $out;
    like $out, qr/status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx/,
        '  all 2xx' or diag $out;
}

# --- 3. pipelining ----------------------------------------------------------

{
    my $pad = 'X-Pad: ' . ('p' x 200);
    my @reqs = (
        ["GET", get('/echo/1', $pad)],
        ["GET", get('/echo/2?q=1', $pad)],
        ["POST", "POST /echo/3 HTTP/1.1\r\nHost: x\r\n$pad\r\n"
            . "Content-Length: 11\r\n\r\nhello world"],
        ["HEAD", "HEAD /echo/4 HTTP/1.1\r\nHost: x\r\n$pad\r\n\r\n"],
        ["POST", "POST /echo/5 HTTP/1.1\r\nHost: x\r\n$pad\r\n"
            . "Transfer-Encoding: chunked\r\n\r\n"
            . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"],
        ["GET", get('/echo/6', $pad)],
        ["PUT", "PUT /echo/7 HTTP/1.1\r\nHost: x\r\n$pad\r\n"
            . "Content-Length: 300\r\n\r\n" . ('b' x 300)],
        ["GET", get('/echo/8', $pad)],
        ["DELETE", "DELETE /echo/9 HTTP/1.1\r\nHost: x\r\n$pad\r\n\r\n"],
        ["GET", get('/echo/10', $pad, 'Connection: close')],
    );
    my $all = join '', map { $_->[1] } @reqs;
    my @want = map { "$reqs[$_][0] /echo/" . ($_ + 1) . "\n" } 0 .. 9;
    $want[3] = '';    # HEAD

    my ($rs, $how, $raw) = exchange($t, $P, $all, head => [3]);
    is scalar @$rs, 10, '10 pipelined requests (' . length($all)
        . ' bytes, one write): 10 responses';
    is_deeply [map { $_->{body} } @$rs], \@want,
        '  in order, each with its body (none for HEAD)';
    is_deeply [map { $_->{status} } @$rs], [(200) x 10], '  all 200';
    is_deeply [map { $_->{h}{connection} } @$rs],
        [('keep-alive') x 9, 'close'], '  keep-alive, close for the last';
    is $how, 'eof', '  then the connection is closed';

    # the same bytes in 100-byte pieces
    my $c = Conn->new($P);
    for (my $off = 0; $off < length $all; $off += 100) {
        $c->put(substr $all, $off, 100);
        sleep 0.002;
    }
    $c->wait_close(5);
    ($rs) = responses($c->{buf}, head => [3]);
    is_deeply [map { $_->{body} } @$rs], \@want,
        'the same requests in 100-byte pieces: the same answers';
}

# --- 4. request bodies ------------------------------------------------------

SKIP: {
    skip 'curl is not installed', 1 unless $CURL;
    my $file = $t->write_file('body.1m', 'x' x 1048576);
    my ($rc, $out, $e) = $t->run_cmd($CURL, '-sS', '-v', '--max-time', '10',
        '--data-binary', "\@$file", '-H', 'Expect: 100-continue',
        "http://127.0.0.1:$P/echo/upload", {timeout => 15});
    is $rc, 0, 'curl --data-binary @1MiB with Expect: 100-continue' or diag $e;
    my @st = $e =~ /^< (HTTP\/1\.1 \d{3})/mg;
    is_deeply \@st, ['HTTP/1.1 100', 'HTTP/1.1 200'],
        '  100 Continue, then 200 (1 MiB: the default limit, allowed)';
    like $e, qr/upload completely sent off|We are completely uploaded/,
        '  the whole body was sent';
    is $out, "POST /echo/upload\n", '  the final response';

    $t->write_file('body.1m1', 'x' x 1048577);
    ($rc, $out, $e) = $t->run_cmd($CURL, '-sS', '-v', '--max-time', '10',
        '--data-binary', '@' . $t->path('body.1m1'), '-H',
        'Expect: 100-continue', "http://127.0.0.1:$P/echo/upload",
        {timeout => 15});
    @st = $e =~ /^< (HTTP\/1\.1 \d{3})/mg;
    is_deeply \@st, ['HTTP/1.1 413'],
        'one byte over client_max_body_size: 413, no 100 Continue';
    like $e, qr/^< Connection: close/m, '  Connection: close';
}

{
    # a Content-Length over the limit sent with its body at once: the 413
    # arrives whole (a close with unread input would be a reset)
    my $req = "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n"
        . ('z' x 65536);
    my ($rs, $how) = exchange($t, $P, $req);
    is $rs->[0]{status}, 413, 'Content-Length over client_max_body_size'
        . ' sent with its 64 KB body: 413';
    is $rs->[0]{h}{connection}, 'close', '  Connection: close';
    is $rs->[0]{body}, "413 Request Entity Too Large\n", '  its whole body';
    ok $how eq 'eof' || $how eq 'reset', "  the connection is closed ($how)";

    # with Expect: 413 at once, no 100
    my $c = Conn->new($P);
    my $r = $c->request("POST /small HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 2000\r\nExpect: 100-continue\r\n\r\n");
    is $r && $r->{status}, 413, 'Expect with a body over the limit: 413';
    is scalar @{$c->{interim}}, 0, '  no 100 Continue';
    ok defined $c->wait_close(3), '  connection closed';

    # chunked: refused once the chunks exceed 1k, before the last one
    $c = Conn->new($P);
    $c->put("POST /small HTTP/1.1\r\nHost: x\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n");
    $c->put("200\r\n" . ('c' x 512) . "\r\n") for 1 .. 2;
    $r = $c->response(timeout => 0.5);
    ok !defined $r, 'chunked body: 1024 bytes (the limit) is not refused';
    $c->put("1\r\nc\r\n");
    $r = $c->response(timeout => 3);
    is $r && $r->{status}, 413,
        '  one more byte: 413 while streaming, before the last chunk';
    is $r && $r->{h}{connection}, 'close', '  Connection: close';
    ok defined $c->wait_close(3), '  connection closed';

    # a chunked body of exactly the limit, then another request
    $c = Conn->new($P);
    $r = $c->request("POST /small HTTP/1.1\r\nHost: x\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n400\r\n" . ('c' x 1024)
        . "\r\n0\r\n\r\n");
    is $r && $r->{status}, 200, 'a chunked body at the limit: 200';
    $r = $c->request("POST /small HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 1024\r\n\r\n" . ('l' x 1024));
    is $r && "$r->{status} $r->{h}{connection}", '200 keep-alive',
        '  then a Content-Length body at the limit on the same connection';
    $r = $c->request(get('/echo/after-bodies'));
    is $r && $r->{body}, "GET /echo/after-bodies\n",
        '  then a GET: the bodies were read and dropped';
    $c->done;

    # client_max_body_size 0: no limit
    my ($rs2) = exchange($t, $P, "POST /unlimited HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 2000000\r\nConnection: close\r\n\r\n"
        . ('u' x 2000000), timeout => 10);
    is $rs2->[0]{status}, 200, 'client_max_body_size 0: a 2 MB body is read';

    # Expect: 100 Continue only when asked for, in HTTP/1.1
    $c = Conn->new($P);
    $c->put("POST /echo/expect HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    $c->fill(2);
    like $c->{buf}, qr{^HTTP/1\.1 100 Continue\r\n\r\n\z},
        'Expect: 100-continue: "HTTP/1.1 100 Continue" alone first';
    $r = $c->request('hello');
    is $r && $r->{body}, "POST /echo/expect\n", '  then the final response';
    $c->done;
    $c = Conn->new($P);
    $c->put("POST /echo/expect10 HTTP/1.0\r\nContent-Length: 5\r\n"
        . "Expect: 100-continue\r\n\r\n");
    $c->fill(0.5);
    is $c->{buf}, '', 'HTTP/1.0 with Expect: no 100';
    $r = $c->request('hello');
    is $r && $r->{status}, 200, '  the final response after the body';
    $c->done;

    # client_body_timeout 1s: a body that stops coming
    $c = Conn->new($P);
    $c->put("POST /slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
        . "\r\n12");
    my $w = $c->wait_close(4);
    ok defined $w && $w > 0.7 && $w < 2.5,
        sprintf 'client_body_timeout 1s: closed after %.2f s', $w // -1;
}

# --- 5. connections ---------------------------------------------------------

{
    my ($rs, $how) = exchange($t, $P, "GET /echo/h10 HTTP/1.0\r\n\r\n");
    is $rs->[0]{line}, 'HTTP/1.1 200 OK', 'HTTP/1.0: answered (HTTP/1.1 200)';
    is $rs->[0]{h}{connection}, 'close', '  Connection: close';
    is $how, 'eof', '  and closed';

    my $c = Conn->new($P);
    my $r = $c->request("GET /echo/h10ka HTTP/1.0\r\nConnection: keep-alive"
        . "\r\n\r\n");
    is $r && $r->{h}{connection}, 'keep-alive',
        'HTTP/1.0 with Connection: keep-alive: kept';
    $r = $c->request("GET /echo/h10ka2 HTTP/1.0\r\nConnection: Keep-Alive"
        . "\r\n\r\n");
    is $r && $r->{body}, "GET /echo/h10ka2\n", '  a second request on it';
    $r = $c->request("GET /echo/h10ka3 HTTP/1.0\r\n\r\n");
    is $r && $r->{h}{connection}, 'close', '  a third without: close';
    ok defined $c->wait_close(2), '  and closed';

    ($rs, $how) = exchange($t, $P, get('/echo/close', 'Connection: close'));
    is $rs->[0]{h}{connection} . " $how", 'close eof',
        'HTTP/1.1 Connection: close: closed after the response';

    # absolute form: the authority chooses the server and $host
    ($rs) = exchange($t, $P[1], "GET http://C.example:8080/abs/x?q=1 HTTP/1.1"
        . "\r\nHost: a.example\r\nConnection: close\r\n\r\n");
    is $rs->[0]{body}, "c host=c.example uri=/abs/x args=q=1\n",
        'absolute-form target: its authority wins over Host';
    ($rs) = exchange($t, $P[1], "GET https://nosuch.example/ HTTP/1.1\r\n"
        . "Host: a.example\r\nConnection: close\r\n\r\n");
    is $rs->[0]{body}, "b host=nosuch.example\n",
        '  an unknown authority: the default server, not Host\'s';

    # keepalive_requests 3
    $c = Conn->new($P[3]);
    my @conn;
    for (1 .. 3) {
        $r = $c->request(get('/'));
        push @conn, $r ? $r->{h}{connection} : 'none';
    }
    is_deeply \@conn, ['keep-alive', 'keep-alive', 'close'],
        'keepalive_requests 3: the third response says close';
    ok defined $c->wait_close(2), '  and the connection is closed';
    ($rs, $how) = exchange($t, $P[3], get('/') x 5);
    is scalar @$rs, 3, '  5 pipelined requests: 3 answered';
    is $how, 'eof', '  then closed';

    # keepalive_timeout 1s
    $c = Conn->new($P[3]);
    $r = $c->request(get('/'));
    my $w = $c->wait_close(4);
    ok defined $w && $w > 0.7 && $w < 2.5,
        sprintf 'keepalive_timeout 1s: an idle connection closed after %.2f s',
        $w // -1;

    # keepalive_timeout 0
    ($rs, $how) = exchange($t, $P[4], get('/'));
    is $rs->[0]{h}{connection} . " $how", 'close eof',
        'keepalive_timeout 0: Connection: close, closed';
}

# --- 6. limits --------------------------------------------------------------

{
    my $line = sub { my ($n) = @_; return '/echo/' . ('l' x ($n - 6)) };
    my ($rs) = exchange($t, $P, get($line->(5000), 'Connection: close'));
    is $rs->[0]{status}, 200,
        'a 5 KB target (over client_header_buffer_size 1k): 200';
    ($rs) = exchange($t, $P, get('/echo/big', 'X-Big: ' . ('h' x 6000),
        'Connection: close'));
    is $rs->[0]{status}, 200, 'a 6 KB field: 200';
    my ($how);
    ($rs, $how) = exchange($t, $P, get($line->(9000)));
    is $rs->[0]{status}, 414, 'a 9 KB request line: 414';
    is $rs->[0]{h}{connection} . " $how", 'close eof', '  closed';
    ($rs, $how) = exchange($t, $P, get('/', 'X-Huge: ' . ('h' x 9000)));
    is $rs->[0]{status}, 431, 'a 9 KB field: 431';
    is $how, 'eof', '  closed';
    ($rs) = exchange($t, $P, get('/', map { "X-F$_: " . ('f' x 1000) } 1 .. 9));
    is $rs->[0]{status}, 431, 'nine 1 KB fields (a 9 KB head): 431';
    ($rs) = exchange($t, $P, get('/echo/many', (map { "X-N$_: n" } 1 .. 98),
        'Connection: close'));
    is $rs->[0]{status}, 200, '100 fields (Host and Connection included): 200';
    ($rs) = exchange($t, $P, get('/', map { "X-N$_: n" } 1 .. 100));
    is $rs->[0]{status}, 431, '101 fields: 431';

    # client_header_buffer_size 256, large_client_header_buffers 2 1k
    ($rs) = exchange($t, $P[5], get($line->(800), 'Connection: close'));
    is $rs->[0]{status}, 200, 'buffers 256/1k: an 800-byte target: 200';
    ($rs) = exchange($t, $P[5], get($line->(1100)));
    is $rs->[0]{status}, 414, '  a 1100-byte target: 414';
    ($rs) = exchange($t, $P[5], get('/', 'X-Big: ' . ('h' x 1100)));
    is $rs->[0]{status}, 431, '  a 1100-byte field: 431';
}

# --- 7. strictness through the server ---------------------------------------

{
    my $next = "GET /echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    my @bad = (
        [400, 'Content-Length and Transfer-Encoding',
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
        [400, 'Transfer-Encoding whose last coding is not chunked',
            "POST / HTTP/1.1\r\nHost: x\r\n"
            . "Transfer-Encoding: chunked, gzip\r\n\r\n"],
        [400, 'chunked twice',
            "POST / HTTP/1.1\r\nHost: x\r\n"
            . "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"],
        [400, 'chunked twice in two fields',
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
        [400, 'repeated differing Content-Length',
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
            . "Content-Length: 2\r\n\r\nab"],
        [400, 'a list of differing Content-Length values',
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab"],
        [400, 'malformed Content-Length',
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\na"],
        [400, 'negative Content-Length',
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"],
        [400, 'whitespace before the colon',
            "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n"],
        [400, 'whitespace before the colon of Content-Length',
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc"],
        [400, 'obs-fold',
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n"],
        [400, 'bare CR in a field',
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n"],
        [400, 'NUL in a field',
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\0c\r\n\r\n"],
        [400, 'a control byte (0x01) in a field',
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x01c\r\n\r\n"],
        [400, 'DEL in a field name',
            "GET / HTTP/1.1\r\nHost: x\r\nX-\x7fA: b\r\n\r\n"],
        [400, 'HTTP/1.1 without Host', "GET / HTTP/1.1\r\n\r\n"],
        [400, 'two Host fields',
            "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"],
        [400, 'an empty Host', "GET / HTTP/1.1\r\nHost:\r\n\r\n"],
        [400, 'a Host with a space', "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"],
        [400, 'a Host that reads as a list',
            "GET / HTTP/1.1\r\nHost: a.example,b.example\r\n\r\n"],
        [400, 'a Host with userinfo',
            "GET / HTTP/1.1\r\nHost: user\@a.example\r\n\r\n"],
        [400, 'a Host with a bad port',
            "GET / HTTP/1.1\r\nHost: a.example:99999\r\n\r\n"],
        [400, 'a Host with ".."', "GET / HTTP/1.1\r\nHost: a..example\r\n\r\n"],
        [400, 'a malformed chunk size',
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            . "\r\nzz\r\nabc\r\n0\r\n\r\n"],
        [400, 'a chunk size with a sign',
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            . "\r\n+3\r\nabc\r\n0\r\n\r\n"],
        [400, 'a malformed chunk extension',
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            . "\r\n3;a b\r\nabc\r\n0\r\n\r\n"],
        [400, 'a chunk with bare LF',
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            . "\r\n3\nabc\r\n0\r\n\r\n"],
        [400, 'chunk data longer than its size',
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            . "\r\n3\r\nabcd\r\n0\r\n\r\n"],
        [400, 'Transfer-Encoding in HTTP/1.0',
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
            . "0\r\n\r\n"],
        [400, 'two empty lines before the request line',
            "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"],
        [400, 'a tab in the request line', "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n"],
        [400, 'two spaces in the request line',
            "GET  / HTTP/1.1\r\nHost: x\r\n\r\n"],
        [400, 'a malformed version', "GET / HTTP/1.x\r\nHost: x\r\n\r\n"],
        [400, 'userinfo in an absolute-form target',
            "GET http://u\@x.example/ HTTP/1.1\r\nHost: x\r\n\r\n"],
        [400, 'Connection naming Content-Length',
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: content-length\r\n\r\n"],
        [400, 'an empty field name', "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n"],
        [400, 'a field without a colon',
            "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"],
        [501, 'an unknown coding before chunked',
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
            . "\r\n\r\n0\r\n\r\n"],
        [505, 'HTTP/2.0', "GET / HTTP/2.0\r\nHost: x\r\n\r\n"],
        [505, 'the HTTP/2 preface', "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
    );
    for my $b (@bad) {
        my ($want, $name, $req) = @$b;
        my ($rs, $how, $raw) = exchange($t, $P, $req . $next);
        my $r = $rs->[0] // {};
        ok +($r->{status} // 0) == $want && ($r->{h}{connection} // '') eq
            'close' && @$rs == 1 && $how eq 'eof',
            "$want for $name: Connection: close, closed, the next request"
            . ' not answered'
            or diag explain {got => $raw, how => $how};
    }
    my ($rs) = exchange($t, $P, get('/echo/still', 'Connection: close'));
    is $rs->[0]{body}, "GET /echo/still\n", 'still serving after all that';

    my @good = (
        ['obs-text (UTF-8 and \xff) in a field value',
            get('/echo/o', "X-Foo: caf\xc3\xa9 \xff"), "GET /echo/o\n"],
        ['a HTAB in a field value', get('/echo/t', "X-Foo: a\tb"),
            "GET /echo/t\n"],
        ['raw UTF-8 and []{}|^`" in the target',
            get("/echo/caf\xc3\xa9[]{}|^`\"?q=\xc3\xa9"),
            "GET /echo/caf\xc3\xa9[]{}|^`\"\n"],
        ['an unknown method token', "FOO-BAR /echo/m HTTP/1.1\r\nHost: x\r\n\r\n",
            "FOO-BAR /echo/m\n"],
        ['a Host with a port',
            "GET /echo/h HTTP/1.1\r\nHost: x.example:8080\r\n\r\n"],
        ['a Host with an empty port',
            "GET /echo/h HTTP/1.1\r\nHost: x.example:\r\n\r\n"],
        ['an IPv6 literal Host',
            "GET /echo/h HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"],
        ['a Host with a trailing dot',
            "GET /echo/h HTTP/1.1\r\nHost: x.example.\r\n\r\n"],
        ['a Host with underscores',
            "GET /echo/h HTTP/1.1\r\nHost: my_host.example\r\n\r\n"],
        ['one empty line before the request line', "\r\n" . get('/echo/e'),
            "GET /echo/e\n"],
        ['Transfer-Encoding: CHUNKED',
            "POST /echo/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED"
            . "\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST /echo/c\n"],
        ['whitespace around a Content-Length value',
            "POST /echo/l HTTP/1.1\r\nHost: x\r\nContent-Length: \t3 \r\n\r\n"
            . "abc", "POST /echo/l\n"],
        ['two equal Content-Length fields',
            "POST /echo/l HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            . "Content-Length: 003\r\n\r\nabc", "POST /echo/l\n"],
        ['bare LF line ends', "GET /echo/lf HTTP/1.1\nHost: x\n\n",
            "GET /echo/lf\n"],
        ['HTTP/1.0 without Host', "GET /echo/10 HTTP/1.0\r\n\r\n",
            "GET /echo/10\n"],
        ['OPTIONS * (no location matches "*": 404)',
            "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", undef, 404],
        ['CONNECT in authority form (no tunnels: 405)',
            "CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\n\r\n",
            "405 Not Allowed\n", 405],
    );
    my $c = Conn->new($P);
    for my $g (@good) {
        my ($name, $req, $body, $status) = @$g;
        my $r = $c->request($req);
        ok $r && $r->{status} == ($status // 200)
            && (!defined $body || $r->{body} eq $body),
            "accepted: $name" or diag explain $r;
        $c = Conn->new($P) if !$r || $r->{h}{connection} ne 'keep-alive';
    }
    $c->done;

    # the values the server sees
    ($rs) = exchange($t, $P, "GET /?a=1 HTTP/1.1\r\nHost: My_Host.Example.:80"
        . "\r\nX-Foo: caf\xc3\xa9\r\nConnection: close\r\n\r\n");
    like $rs->[0]{body}, qr/ foo=caf\xc3\xa9 c= host=my_host\.example /,
        'the field value as sent; $host lower case, without port and dot';
}

# --- 8. virtual servers -----------------------------------------------------

{
    my %want = (
        'a.example' => "a\n", 'A.EXAMPLE' => "a\n", 'a.example.' => "a\n",
        'a.example:1234' => "a\n", 'www.b.example' => "b host=www.b.example\n",
        'c.example' => "c host=c.example uri=/ args=\n",
        'unknown.example' => "b host=unknown.example\n",
        '127.0.0.1' => "b host=127.0.0.1\n",
    );
    for my $host (sort keys %want) {
        my ($rs) = exchange($t, $P[1], "GET / HTTP/1.1\r\nHost: $host\r\n"
            . "Connection: close\r\n\r\n");
        is $rs->[0]{body}, $want{$host}, "Host: $host";
    }
    my ($rs) = exchange($t, $P[1], "GET / HTTP/1.0\r\n\r\n");
    is $rs->[0]{body}, "b host=b.example\n",
        'no Host: the default_server ($host: its first name)';
    ($rs) = exchange($t, $P[2], get('/'));
    is $rs->[0]{body}, "d\n",
        'without default_server the first server is the default';
    ($rs) = exchange($t, $P[2], "GET / HTTP/1.1\r\nHost: e.example\r\n\r\n");
    is $rs->[0]{body}, "e\n", '  and names still choose';
    ($rs) = exchange($t, $P[2], "GET / HTTP/1.1\r\nHost: d.example\r\n\r\n",
        host => '127.0.0.2');
    is $rs->[0]{body}, "f on 127.0.0.2\n",
        'another address of the port has its own servers';

    # a name-based choice is made per request on a keep-alive connection
    my $c = Conn->new($P[1]);
    my @b;
    for my $h (qw(a.example c.example nosuch)) {
        my $r = $c->request("GET / HTTP/1.1\r\nHost: $h\r\n\r\n");
        push @b, $r ? substr($r->{body}, 0, 1) : '?';
    }
    is "@b", 'a c b', 'each request of a connection chooses its server';
    $c->done;

    my $tc = Doorman::Test->new;
    for my $case (
        ['two default servers',
            'server { listen 127.0.0.1:%%PORT_1%% default_server; }'
            . ' server { listen 127.0.0.1:%%PORT_1%% default_server; }',
            qr/a duplicate default server/],
        ['the same address twice in one server',
            'server { listen 127.0.0.1:%%PORT_1%%; listen 127.0.0.1:%%PORT_1%%; }',
            qr/a duplicate listen "127\.0\.0\.1:\d+" in this server/],
        ['a wildcard in the middle of a name',
            'server { listen 127.0.0.1:%%PORT_1%%; server_name www.*.example; }',
            qr/invalid server name or wildcard "www\.\*\.example"/],
        ['an invalid regex name',
            'server { listen 127.0.0.1:%%PORT_1%%; server_name "~^(a"; }',
            qr/invalid regex "\^\(a"/],
        ['listen ssl without a certificate',
            'server { listen 127.0.0.1:%%PORT_1%% ssl; }',
            qr/no "ssl_certificate" is defined for the "listen \.\.\. ssl" directive/],
        ['an unknown listen parameter',
            'server { listen 127.0.0.1:%%PORT_1%% bogus; }',
            qr/invalid parameter "bogus"/],
        ['a bad return code', 'server { return 1000; }',
            qr/invalid return code "1000"/],
        ['return of a relative URL', 'server { return /x; }',
            qr/invalid return code "\/x"/],
        ['large_client_header_buffers 0 1k',
            'large_client_header_buffers 0 1k;',
            qr/invalid value in "large_client_header_buffers 0 1k"/],
    ) {
        my ($name, $http, $re) = @$case;
        $tc->write_conf("events { worker_connections 64; }\nhttp { $http }\n");
        my ($rc, $e) = $tc->test_conf;
        ok $rc != 0 && $e =~ $re, "refused: $name" or diag $e;
    }
}

# --- 9. slow clients --------------------------------------------------------

# In a child: n connections, each sending one byte of a head a second.
# Writes one line per connection: seconds from its connect to the server's
# close (-1: still open) and the bytes it received.
sub slow_clients {
    my ($port, $n, $ready, $out, $max) = @_;
    $SIG{PIPE} = 'IGNORE';
    my $head = "GET /slow HTTP/1.1\r\nHost: slow.example\r\nUser-Agent: "
        . ('s' x 100) . "\r\n\r\n";
    my (@s, @t0, %idx, %closed, @got);
    for my $i (0 .. $n - 1) {
        my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1',
            PeerPort => $port, Proto => 'tcp', Timeout => 5);
        unless ($s) {
            print {$ready} "connect failed: $@\n";
            return;
        }
        $s->blocking(0);
        $t0[$i] = time;
        syswrite $s, substr($head, 0, 1);
        push @s, $s;
        $idx{fileno $s} = $i;
        $got[$i] = 0;
    }
    print {$ready} "ready\n";
    close $ready;
    my $poll = IO::Poll->new;
    $poll->mask($_ => POLLIN) for @s;
    my $k = 1;
    my $next = $t0[0] + 1;
    my $end = time + $max;
    while (keys %closed < @s && time < $end) {
        $poll->poll(0.01);
        for my $h ($poll->handles(POLLIN | POLLHUP | POLLERR)) {
            my $i = $idx{fileno $h};
            my $r = sysread $h, my $b, 4096;
            next if !defined $r && ($!{EAGAIN} || $!{EINTR});
            if ($r) {
                $got[$i] += $r;
                next;
            }
            $closed{$i} = time - $t0[$i];
            $poll->remove($h);
        }
        if (time >= $next) {
            for my $i (grep { !exists $closed{$_} } 0 .. $#s) {
                syswrite $s[$i], substr($head, $k, 1);
            }
            $k++;
            $next += 1;
        }
    }
    open my $fh, '>', $out or return;
    printf {$fh} "%.3f %d\n", $closed{$_} // -1, $got[$_] for 0 .. $#s;
    close $fh;
}

{
    my $s = Doorman::Test->new;
    $s->write_conf(<<'EOF');
worker_processes 2;
events { worker_connections 2048; }
http {
    access_log off;
    client_header_timeout 3s;
    server { listen 127.0.0.1:%%PORT_1%%; return 200 "fast\n"; }
}
EOF
    my $sp = $s->port_n(1);
    $s->run(wait_ports => [$sp]);
    my $res = $s->path('slow.txt');
    pipe my $rd, my $wr or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $rd;
        eval { slow_clients($sp, 500, $wr, $res, 7) };
        POSIX::_exit(0);
    }
    close $wr;
    my $msg = IO::Select->new($rd)->can_read(10) ? <$rd> // '' : '';
    is $msg, "ready\n", '500 slow connections open, one header byte each';
    my $t_ready = time;

    # 200 normal requests on fresh connections while they trickle
    my (@lat, $ok);
    for (1 .. 200) {
        my $t0 = time;
        my ($data) = $s->tcp_request($sp, "GET / HTTP/1.1\r\nHost: x\r\n"
            . "Connection: close\r\n\r\n", timeout => 2);
        push @lat, time - $t0;
        $ok++ if $data =~ /\r\n\r\nfast\n\z/;
        sleep 0.008;
    }
    my $span = time - $t_ready;
    @lat = sort { $a <=> $b } @lat;
    my $p99 = $lat[197];
    is $ok, 200, sprintf '200 normal requests answered in %.2f s meanwhile',
        $span;
    ok $span < 2.5, '  all within the first 2.5 s (before the slow'
        . ' connections time out)';
    ok $p99 < 0.050, sprintf '  p99 latency %.1f ms (median %.1f ms, max %.1f'
        . ' ms) < 50 ms', 1000 * $p99, 1000 * $lat[99], 1000 * $lat[-1];

    my $deadline = time + 10;
    sleep 0.05 while waitpid($pid, WNOHANG) == 0 && time < $deadline;
    kill 'KILL', $pid if waitpid($pid, WNOHANG) == 0;
    waitpid $pid, 0;
    my @r = map { [split] } split /\n/, $s->read_file($res);
    is scalar @r, 500, 'the slow clients report';
    my @open = grep { $_->[0] < 0 } @r;
    my @times = sort { $a <=> $b } map { $_->[0] } grep { $_->[0] >= 0 } @r;
    is scalar @open, 0, 'every slow connection closed by the server';
    ok @times && $times[0] >= 2.5 && $times[-1] <= 4.0,
        sprintf '  between %.2f s and %.2f s after connecting'
        . ' (client_header_timeout 3s: within 2.5-4 s)',
        $times[0] // -1, $times[-1] // -1;
    is scalar(grep { $_->[1] } @r), 0, '  without an answer';
    my ($cs, $killed) = $s->stop;
    ok !$killed, 'stopped without KILL';
}

# --- 10. reload under load --------------------------------------------------

SKIP: {
    skip 'wrk is not installed', 6 unless $WRK;
    my $r = Doorman::Test->new;
    $r->write_conf(<<'EOF');
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log off;
    server { listen 127.0.0.1:%%PORT_1%%; return 200 "reload under load\n"; }
}
EOF
    my $rp = $r->port_n(1);
    $r->run(wait_ports => [$rp]);
    for my $mode ('keep-alive', 'Connection: close') {
        my $from = $r->log_offset;
        my @h = $mode eq 'keep-alive' ? () : ('-H', 'Connection: close');
        my $name = $mode eq 'keep-alive' ? 'wrk-ka' : 'wrk-close';
        my $w = $r->spawn(cmd => [$WRK, '-t2', '-c50', '-d6s', '--timeout',
            '3s', @h, "http://127.0.0.1:$rp/"], name => $name);
        sleep 0.5;
        for (1 .. 20) {
            $r->signal('HUP');
            sleep 0.25;
        }
        my $st = $w->wait_exit(15);
        $w->stop(timeout => 2) unless defined $st;
        my $out = $r->read_file("logs/$name.log");
        my ($n) = $out =~ /(\d+) requests in/;
        my ($sock) = $out =~ /(Socket errors:[^\n]*)/;
        my ($non2xx) = $out =~ /(Non-2xx[^\n]*)/;
        ok +($n // 0) > 1000, "reload under load, wrk $mode: "
            . ($n // 0) . ' requests' or diag $out;
        ok !$sock || $sock =~ /^Socket errors: connect 0, read 0, write 0, timeout 0$/,
            "  no socket error (" . ($sock // 'no "Socket errors" line') . ')';
        ok !$non2xx, '  no non-2xx response' or diag $non2xx;
        my $n_rel = () = $r->error_log_since($from)
            =~ /reload: generation \d+ serving/g;
        diag "wrk $mode: $n_rel reloads logged as serving";
    }
    ok $r->wait_for(sub { $r->worker_pids == 2 }, timeout => 5),
        'the retiring workers are gone';
    my ($cs, $killed) = $r->stop;
    ok !$killed, 'stopped without KILL';
    my @crit = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $r->error_log;
    is_deeply \@crit, [], 'nothing at alert or above in the log';
}

# --- 11. graceful QUIT (the main server) -------------------------------------

{
    my @idle = map { Conn->new($P) } 1 .. 5;
    my $idle_ok = 0;
    for my $c (@idle) {
        my $r = $c->request(get('/echo/idle'));
        $idle_ok++ if $r && $r->{h}{connection} eq 'keep-alive';
    }
    is $idle_ok, 5, 'QUIT: 5 idle keep-alive connections';
    my $busy = Conn->new($P);
    $busy->put("POST /echo/busy HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
        . "\r\n1234");
    my $fresh = Conn->new($P);
    sleep 0.2;
    my $t0 = time;
    $t->signal('QUIT');
    sleep 0.3;
    my $r = $busy->request('567890');
    is $r && $r->{status}, 200, '  a request waiting for its body is answered';
    is $r && $r->{h}{connection}, 'close', '  with Connection: close';
    ok defined $busy->wait_close(3), '  and its connection closed';
    my @w = map { $_->wait_close(3) } @idle;
    is scalar(grep { defined } @w), 5, sprintf '  the idle connections are'
        . ' closed (after at most %.2f s)',
        (sort { $b <=> $a } map { $_ // 99 } @w)[0];
    my $fw = $fresh->wait_close(3);
    ok defined $fw, '  a connection that sent nothing is closed'
        . (defined $fw ? '' : ' (not within 3 s)');
    my $st = $t->process->wait_exit(5);
    my $el = time - $t0;
    ok defined $st && $el < 3, sprintf '  the master exits within 3 s'
        . ' (%.2f s)', $el;
    my ($cs, $killed) = $t->stop;
    ok !$killed, '  no KILL needed';
    my @crit = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $t->error_log;
    is_deeply \@crit, [], 'nothing at alert or above in the log';
}

diag sprintf 't/http.t: %.1f s', time - $T_START;
done_testing;
