package Doorman::HTTP;

# doorman: HTTP helpers of the http_proxy integration tests (core Perl
# only): the Python backend t/lib/backend.py started through the harness,
# a keep-alive HTTP/1.1 client connection, a minimal WebSocket client and
# a streaming upload. Every read and write is bounded by a deadline. The
# API is documented in the POD at the end (perldoc t/lib/Doorman/HTTP.pm).

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Digest::SHA;
use Errno qw(EINTR);
use Exporter qw(import);
use File::Basename qw(dirname);
use IO::Select;
use IO::Socket::IP;
use MIME::Base64 qw(encode_base64);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);

our $VERSION = '1.0';

our @EXPORT = qw(start_backend backend_log_path http_connect upload
    ws_connect ws_send_text ws_send_binary ws_send_ping ws_send_close
    ws_send_frame ws_recv pattern_bytes pattern_sha256);

our $BACKEND = abs_path(dirname(__FILE__) . '/../backend.py');
our $PYTHON = $ENV{DOORMAN_PYTHON} || 'python3';

use constant BLOCK => 65536;
my $BASE = '0123456789abcdef' x (BLOCK / 16);

# ---------------------------------------------------------------------------
# the pattern of backend.py: 64 KiB blocks, block K = sprintf("%015x\n", K)
# followed by "0123456789abcdef" repeated (from offset 16 of the block).

sub _block { return sprintf('%015x', $_[0]) . "\n" . substr($BASE, 16) }

sub pattern_bytes {
    my ($off, $len) = @_;
    my $out = '';
    while ($len > 0) {
        my $k = int($off / BLOCK);
        my $r = $off - $k * BLOCK;
        my $take = BLOCK - $r;
        $take = $len if $len < $take;
        $out .= substr(_block($k), $r, $take);
        $off += $take;
        $len -= $take;
    }
    return $out;
}

sub pattern_sha256 {
    my ($n) = @_;
    my $sha = Digest::SHA->new(256);
    my $off = 0;
    while ($off < $n) {
        my $take = $n - $off < BLOCK ? $n - $off : BLOCK;
        $sha->add(pattern_bytes($off, $take));
        $off += $take;
    }
    return $sha->hexdigest;
}

# ---------------------------------------------------------------------------
# the backend

sub backend_log_path {
    my ($t, $name) = @_;
    return $t->path('logs/backend-' . ($name // 'backend') . '.requests.log');
}

sub start_backend {
    my ($t, %o) = @_;
    my $name = $o{name} // 'backend';
    my $tries = defined $o{port} ? 1 : 3;
    my ($port, $proc, $err);
    for my $try (1 .. $tries) {
        $port = $o{port} // $t->port;
        my @cmd = ($PYTHON, $BACKEND, '--port', $port, '--name', $name,
            '--log', backend_log_path($t, $name));
        push @cmd, '--host', $o{host} if defined $o{host};
        push @cmd, '--idle-close', $o{idle_close} if defined $o{idle_close};
        push @cmd, '--tls-cert', $o{tls_cert}, '--tls-key', $o{tls_key}
            if defined $o{tls_cert};
        push @cmd, '--tls-client-ca', $o{tls_client_ca}
            if defined $o{tls_client_ca};
        my $spec = defined $o{host}
            ? ($o{host} =~ /:/ ? "[$o{host}]:$port" : "$o{host}:$port") : $port;
        $proc = eval {
            $t->spawn(name => "backend-$name", cmd => \@cmd,
                wait_ports => [$spec], timeout => $o{timeout} // 10);
        };
        last if $proc;
        $err = $@;
    }
    croak "start_backend $name: $err" unless $proc;
    return wantarray ? ($port, $proc) : $port;
}

# ---------------------------------------------------------------------------
# the client connection

sub http_connect { return Doorman::HTTP::Conn->new(@_) }

# upload($port, $path, $total, chunked => 0|1, ...): a new connection, a
# request whose body is $total bytes of the pattern, streamed; returns
# ($response, sha256 hex of what was sent).
sub upload {
    my ($port, $path, $total, %o) = @_;
    my $c = Doorman::HTTP::Conn->new($port, %o,
        timeout => $o{timeout} // 60);
    unless ($c) {
        my $r = {status => undef, error => "connect: $@", headers => {},
            body => ''};
        return wantarray ? ($r, undef) : $r;
    }
    my $sha = Digest::SHA->new(256);
    my ($off, $i) = (0, 0);
    my @sizes = $o{chunked}
        ? (1, 100, 65536, 4096, 65535, 17, 32768, 65536, 3, 50000)
        : (65536);
    my $gen = sub {
        return undef if $off >= $total;
        my $take = $sizes[$i++ % @sizes];
        $take = $total - $off if $total - $off < $take;
        my $piece = pattern_bytes($off, $take);
        $off += $take;
        $sha->add($piece);
        return $piece;
    };
    my $r = $c->request($o{method} // 'POST', $path,
        headers => $o{headers}, body_stream => $gen,
        body_length => $o{chunked} ? undef : $total,
        chunked => $o{chunked} ? 1 : 0, timeout => $o{timeout} // 60,
        digest => $o{digest});
    $r->{sent} = $off;
    $c->close;
    my $hex = $sha->hexdigest;
    return wantarray ? ($r, $hex) : $r;
}

# ---------------------------------------------------------------------------
# WebSocket (RFC 6455, client side: masked frames)

sub ws_connect {
    my ($port, $path, %o) = @_;
    my $c = Doorman::HTTP::Conn->new($port, %o) or return;
    my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    my $accept = Digest::SHA::sha1_base64(
        $key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
    my @h = (Upgrade => 'websocket', Connection => 'Upgrade',
        'Sec-WebSocket-Key' => $key, 'Sec-WebSocket-Version' => 13,
        @{$o{headers} || []});
    my $r = $c->request('GET', $path // '/', headers => \@h,
        timeout => $o{timeout});
    $c->{response} = $r;
    my $ok = defined $r->{status} && $r->{status} == 101
        && ($r->{headers}{'sec-websocket-accept'} // '') eq $accept;
    $r->{error} //= 'bad Sec-WebSocket-Accept' if !$ok && ($r->{status} // 0) == 101;
    unless ($ok) {
        $c->close;
        $c = undef;
    }
    return wantarray ? ($c, $r) : $c;
}

my %WS_OP = (0 => 'cont', 1 => 'text', 2 => 'binary', 8 => 'close',
    9 => 'ping', 10 => 'pong');

sub ws_send_frame {
    my ($ws, $opcode, $payload, %o) = @_;
    $payload //= '';
    my $fin = exists $o{fin} ? ($o{fin} ? 0x80 : 0) : 0x80;
    my $n = length $payload;
    my $h = chr($fin | $opcode);
    my $mbit = ($o{mask} // 1) ? 0x80 : 0;
    if ($n < 126) { $h .= chr($mbit | $n) }
    elsif ($n < 65536) { $h .= chr($mbit | 126) . pack('n', $n) }
    else { $h .= chr($mbit | 127) . pack('Q>', $n) }
    if ($mbit) {
        my $key = pack 'N', int rand 2**32;
        $h .= $key;
        $payload ^= substr($key x (int($n / 4) + 1), 0, $n) if $n;
    }
    return $ws->send_raw($h . $payload, timeout => $o{timeout});
}

sub ws_send_text   { return ws_send_frame($_[0], 1, $_[1], @_[2 .. $#_]) }
sub ws_send_binary { return ws_send_frame($_[0], 2, $_[1], @_[2 .. $#_]) }
sub ws_send_ping   { return ws_send_frame($_[0], 9, $_[1], @_[2 .. $#_]) }

sub ws_send_close {
    my ($ws, $code, $reason, %o) = @_;
    my $p = defined $code ? pack('n', $code) . ($reason // '') : '';
    return ws_send_frame($ws, 8, $p, %o);
}

# One frame, or undef (timeout, EOF: $ws->{error} says which).
sub ws_recv {
    my ($ws, %o) = @_;
    my $deadline = time + ($o{timeout} // $ws->{timeout});
    my $need = sub {
        my ($n) = @_;
        while (length $ws->{buf} < $n) {
            return 0 unless $ws->_fill($deadline);
        }
        return 1;
    };
    $need->(2) or return;
    my ($b0, $b1) = unpack 'CC', $ws->{buf};
    my $n = $b1 & 0x7f;
    my $hl = 2 + ($n == 126 ? 2 : $n == 127 ? 8 : 0) + ($b1 & 0x80 ? 4 : 0);
    $need->($hl) or return;
    $n = unpack 'n', substr($ws->{buf}, 2, 2) if $n == 126;
    $n = unpack 'Q>', substr($ws->{buf}, 2, 8) if $n == 127;
    $need->($hl + $n) or return;
    my $key = $b1 & 0x80 ? substr($ws->{buf}, $hl - 4, 4) : undef;
    my $payload = substr $ws->{buf}, $hl, $n;
    substr($ws->{buf}, 0, $hl + $n, '');
    $payload ^= substr($key x (int($n / 4) + 1), 0, $n) if $key && $n;
    my $op = $b0 & 0x0f;
    my $f = {opcode => $op, op => $WS_OP{$op} // "op$op",
        fin => ($b0 & 0x80) ? 1 : 0, rsv => ($b0 >> 4) & 7,
        masked => $key ? 1 : 0, payload => $payload};
    if ($op == 8 && $n >= 2) {
        $f->{code} = unpack 'n', $payload;
        $f->{reason} = substr $payload, 2;
    }
    return $f;
}

# ---------------------------------------------------------------------------

package Doorman::HTTP::Conn;

use strict;
use warnings;
use Errno qw(EINTR);
use IO::Select;
use IO::Socket::IP;
use Socket qw(IPPROTO_TCP TCP_NODELAY SHUT_WR);
use Time::HiRes qw(time);

sub new {
    my ($class, $port, %o) = @_;
    my $timeout = $o{timeout} // 5;
    my $s = IO::Socket::IP->new(PeerHost => $o{host} // '127.0.0.1',
        PeerPort => $port, Proto => 'tcp', Timeout => $timeout) or return;
    $s->blocking(0);
    setsockopt $s, IPPROTO_TCP, TCP_NODELAY, 1;
    return bless {sock => $s, sel => IO::Select->new($s), buf => '',
        port => $port, timeout => $timeout, eof => 0, closed => 0,
        error => undef}, $class;
}

sub sock { return $_[0]{sock} }
sub local_port { return $_[0]{sock} ? $_[0]{sock}->sockport : undef }
sub is_closed { return $_[0]{closed} || $_[0]{eof} }

sub close {
    my ($self) = @_;
    if ($self->{sock}) {
        CORE::close $self->{sock};
        $self->{sock} = undef;
    }
    $self->{closed} = 1;
    return 1;
}

sub shutdown_write {
    my ($self) = @_;
    return $self->{sock} && shutdown $self->{sock}, SHUT_WR;
}

# Reads more into buf: 1 (data), 0 (EOF, reset, timeout: {error} says).
sub _fill {
    my ($self, $deadline) = @_;
    unless ($self->{sock}) { $self->{error} = 'closed'; return 0 }
    if ($self->{eof}) { $self->{error} = 'eof'; return 0 }
    for (;;) {
        my $left = $deadline - time;
        if ($left <= 0) { $self->{error} = 'timeout'; return 0 }
        next unless $self->{sel}->can_read($left);
        my $n = sysread $self->{sock}, my $chunk, 262144;
        if (!defined $n) {
            next if $! == EINTR || $!{EAGAIN} || $!{EWOULDBLOCK};
            $self->{eof} = 1;
            $self->{error} = $!{ECONNRESET} ? 'reset' : "recv: $!";
            return 0;
        }
        if ($n == 0) { $self->{eof} = 1; $self->{error} = 'eof'; return 0 }
        $self->{buf} .= $chunk;
        return 1;
    }
}

# Writes everything (undef) or returns what went wrong. With $early, a
# readable socket is read meanwhile and $early->() says whether to stop.
sub _write {
    my ($self, $bytes, $deadline, $early) = @_;
    return 'closed' unless $self->{sock};
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    my $len = length $bytes;
    while ($off < $len) {
        my $left = $deadline - time;
        return 'timeout' if $left <= 0;
        my ($r, $w) = IO::Select->select($early ? $self->{sel} : undef,
            $self->{sel}, undef, $left);
        if ($r && @$r && $early) {
            my $n = sysread $self->{sock}, my $chunk, 262144;
            if (defined $n && $n > 0) {
                $self->{buf} .= $chunk;
                return 'early response' if $early->();
            } elsif (defined $n) {
                $self->{eof} = 1;
                return 'eof';
            }
        }
        next unless $w && @$w;
        my $n = syswrite $self->{sock}, $bytes, $len - $off, $off;
        if (!defined $n) {
            next if $! == EINTR || $!{EAGAIN} || $!{EWOULDBLOCK};
            return "send: $!";
        }
        $off += $n;
    }
    return undef;
}

sub send_raw {
    my ($self, $bytes, %o) = @_;
    my $err = $self->_write($bytes, time + ($o{timeout} // $self->{timeout}));
    $self->{error} = $err if $err;
    return !$err;
}

# 1 when the peer closes (EOF or reset) within the timeout; what it sends
# meanwhile is kept in buf.
sub wait_close {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $self->{timeout});
    return 1 if $self->{eof};
    while (time < $deadline) {
        $self->_fill($deadline) and next;
        return $self->{eof} ? 1 : 0;
    }
    return $self->{eof} ? 1 : 0;
}

# Parses a complete head at the start of buf (removed from it), or
# returns undef (incomplete) or {error}.
sub _take_head {
    my ($self) = @_;
    my $end = index $self->{buf}, "\r\n\r\n";
    if ($end < 0) {
        return {error => 'response head too large'}
            if length $self->{buf} > 65536;
        return;
    }
    my $head = substr $self->{buf}, 0, $end + 4, '';
    my ($line, @lines) = split /\r\n/, substr($head, 0, $end);
    my ($minor, $status, $reason) = ($line // '')
        =~ m{^HTTP/1\.([01]) ([1-9]\d\d)(?: (.*))?$}
        or return {error => 'bad status line', head => $head};
    my (@fields, %h, @cookies);
    for (@lines) {
        my ($k, $v) = /^([!#\$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/s
            or return {error => "bad header line \"$_\"", head => $head};
        push @fields, [$k, $v];
        my $lk = lc $k;
        if ($lk eq 'set-cookie') { push @cookies, $v; next }
        $h{$lk} = exists $h{$lk} ? "$h{$lk}, $v" : $v;
    }
    $h{'set-cookie'} = \@cookies if @cookies;
    return {status => $status + 0, reason => $reason // '',
        version => "1.$minor", headers => \%h, fields => \@fields,
        head => $head};
}

# request($method, $target, headers => [K, V, ...], body => BYTES, ...)
sub request {
    my ($self, $method, $target, %o) = @_;
    my $t0 = time;
    my $deadline = $t0 + ($o{timeout} // $self->{timeout});
    my $fail = sub {
        return {status => undef, error => $_[0], headers => {}, body => '',
            fields => [], interim => []};
    };
    return $fail->('connection closed') if $self->{closed} || !$self->{sock};
    my $req = $o{raw};
    my $stream = $o{body_stream};
    my $expect = 0;
    unless (defined $req) {
        my @h = ref $o{headers} eq 'HASH' ? %{$o{headers}} : @{$o{headers} || []};
        my %lc;
        for (my $i = 0; $i < @h; $i += 2) {
            $lc{lc $h[$i]} = 1;
            $expect = 1 if lc $h[$i] eq 'expect' && $h[$i + 1] =~ /100-continue/i;
        }
        $req = "$method $target HTTP/" . ($o{version} // '1.1') . "\r\n";
        $req .= "Host: localhost\r\n" unless $lc{host} || $o{no_host};
        for (my $i = 0; $i < @h; $i += 2) { $req .= "$h[$i]: $h[$i + 1]\r\n" }
        if (!$lc{'content-length'} && !$lc{'transfer-encoding'}) {
            if ($o{chunked}) {
                $req .= "Transfer-Encoding: chunked\r\n";
            } elsif (defined $o{body}) {
                $req .= 'Content-Length: ' . length($o{body}) . "\r\n";
            } elsif ($stream) {
                $req .= "Content-Length: $o{body_length}\r\n";
            }
        }
        $req .= "\r\n";
    }
    my @interim;
    # 1xx heads that came while the request is sent are taken; a final
    # head stops the sending
    my $early = sub {
        for (;;) {
            my $h = $self->_take_head or return 0;
            if (!$h->{error} && $h->{status} < 200 && $h->{status} != 101) {
                push @interim, $h;
                next;
            }
            $self->{buf} = $h->{head} . $self->{buf} if defined $h->{head};
            return 1;
        }
    };
    my $body = $o{body};
    if (defined $body && !$o{chunked}) {
        $req .= $body unless $expect;
        $body = undef unless $expect;
    }
    my $err = $self->_write($req, $deadline, $early);
    my $send_body = sub {
        my ($piece) = @_;
        return undef unless length $piece;
        $piece = sprintf('%x', length $piece) . "\r\n$piece\r\n" if $o{chunked};
        return $self->_write($piece, $deadline, $early);
    };
    if (!$err && $expect && (defined $body || $stream)) {
        # wait (1 s at most) for the 100 or a final answer
        my $until = time + ($o{expect_wait} // 1);
        $until = $deadline if $until > $deadline;
        while (!@interim && !$early->() && time < $until) {
            last unless $self->_fill($until);
        }
        $self->{error} = undef;
        $err = 'early response' if !@interim && $early->();
    }
    if (!$err && defined $body) {
        if ($o{chunked}) {
            $err = $send_body->($body);
            $err //= $self->_write("0\r\n\r\n", $deadline, $early);
        } else {
            $err = $self->_write($body, $deadline, $early);
        }
    } elsif (!$err && $stream) {
        while (defined(my $piece = $stream->())) {
            $err = $send_body->($piece) and last;
        }
        $err //= $self->_write("0\r\n\r\n", $deadline, $early) if $o{chunked};
    } elsif (!$err && $o{chunked}) {
        $err = $self->_write("0\r\n\r\n", $deadline, $early);
    }
    my $r = $self->read_response(method => $method, digest => $o{digest},
        deadline => $deadline);
    unshift @{$r->{interim}}, @interim;
    $r->{send_error} = $err if $err && $err ne 'early response';
    $r->{early} = 1 if $err && $err eq 'early response';
    $r->{elapsed} = time - $t0;
    return $r;
}

# Reads one response (after send_raw: pipelining). method => 'HEAD' for a
# response without body; digest => 1 keeps only body_length/body_sha256.
sub read_response {
    my ($self, %o) = @_;
    my $deadline = $o{deadline} // time + ($o{timeout} // $self->{timeout});
    my $method = $o{method} // 'GET';
    my @interim;
    my $h;
    for (;;) {
        $h = $self->_take_head;
        if (!$h) {
            next if $self->_fill($deadline);
            my $e = length $self->{buf} ? "$self->{error} in the head"
                : "$self->{error} before a response";
            return {status => undef, error => $e, headers => {}, body => '',
                fields => [], interim => \@interim, partial => $self->{buf}};
        }
        last if $h->{error};
        last unless $h->{status} < 200 && $h->{status} != 101;
        push @interim, $h;
    }
    $h->{interim} = \@interim;
    $h->{body} = '';
    $h->{body_length} = 0;
    $h->{trailers} = {};
    if ($h->{error}) {
        $self->{closed} = 1;
        $h->{status} = undef;
        return $h;
    }
    my $st = $h->{status};
    my $hd = $h->{headers};
    my $sha = $o{digest} ? Digest::SHA->new(256) : undef;
    my $add = sub {
        $h->{body_length} += length $_[0];
        if ($sha) { $sha->add($_[0]) } else { $h->{body} .= $_[0] }
    };
    my $conn = lc($hd->{connection} // '');
    my $close = $conn =~ /\bclose\b/
        || ($h->{version} eq '1.0' && $conn !~ /\bkeep-alive\b/);
    my $te = $hd->{'transfer-encoding'};
    $h->{complete} = 1;
    if ($st == 101) {
        $h->{upgraded} = 1;
        $self->{upgraded} = 1;
    } elsif ($method eq 'HEAD' || $st == 204 || $st == 304) {
        # no body
    } elsif (defined $te && $te =~ /(?:^|,)\s*chunked\s*$/i) {
        $h->{framing} = 'chunked';
        my $e = $self->_read_chunked($h, $add, $deadline);
        if ($e) { $h->{error} = $e; $h->{complete} = 0; $close = 1 }
    } elsif (!defined $te && defined $hd->{'content-length'}) {
        $h->{framing} = 'length';
        my $cl = $hd->{'content-length'};
        if ($cl !~ /^\d+$/) {
            $h->{error} = "bad Content-Length $cl";
            $h->{complete} = 0;
            $close = 1;
        } else {
            my $left = $cl;
            while ($left > 0) {
                if (!length $self->{buf}) {
                    next if $self->_fill($deadline);
                    $h->{error} = "$self->{error} in the body";
                    $h->{complete} = 0;
                    $close = 1;
                    last;
                }
                my $take = length $self->{buf} < $left ? length $self->{buf} : $left;
                $add->(substr($self->{buf}, 0, $take, ''));
                $left -= $take;
            }
        }
    } else {
        $h->{framing} = 'close';
        $close = 1;
        for (;;) {
            $add->($self->{buf}) if length $self->{buf};
            $self->{buf} = '';
            next if $self->_fill($deadline);
            last if $self->{error} eq 'eof';
            $h->{error} = "$self->{error} in the body";
            $h->{complete} = 0;
            last;
        }
    }
    $h->{body_sha256} = $sha->hexdigest if $sha;
    $h->{close} = $close ? 1 : 0;
    $self->{closed} = 1 if $close;
    return $h;
}

sub _read_chunked {
    my ($self, $h, $add, $deadline) = @_;
    my $line = sub {
        for (;;) {
            my $i = index $self->{buf}, "\r\n";
            return substr($self->{buf}, 0, $i + 2, '') if $i >= 0;
            return if length $self->{buf} > 8192;
            $self->_fill($deadline) or return;
        }
    };
    for (;;) {
        my $l = $line->() // return "$self->{error} in a chunk size"
            . ' line';
        my ($size) = $l =~ /^([0-9a-fA-F]+)[ \t]*(?:;.*)?\r\n$/s
            or return "bad chunk size line \"$l\"";
        $h->{chunks}++;
        $size = hex $size;
        last if $size == 0;
        while ($size > 0) {
            if (!length $self->{buf}) {
                $self->_fill($deadline) or return "$self->{error} in a chunk";
            }
            my $take = length $self->{buf} < $size ? length $self->{buf} : $size;
            $add->(substr($self->{buf}, 0, $take, ''));
            $size -= $take;
        }
        while (length $self->{buf} < 2) {
            $self->_fill($deadline) or return "$self->{error} after a chunk";
        }
        return 'no CRLF after chunk data'
            unless substr($self->{buf}, 0, 2, '') eq "\r\n";
    }
    for (;;) {
        my $l = $line->() // return "$self->{error} in the trailers";
        last if $l eq "\r\n";
        my ($k, $v) = $l =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*\r\n$/s
            or return "bad trailer line \"$l\"";
        $k = lc $k;
        $h->{trailers}{$k} = exists $h->{trailers}{$k}
            ? "$h->{trailers}{$k}, $v" : $v;
    }
    return undef;
}

sub DESTROY { my ($self) = @_; CORE::close $self->{sock} if $self->{sock} }

1;

__END__

=head1 NAME

Doorman::HTTP - HTTP helpers of the doorman proxy tests

=head1 SYNOPSIS

    use Doorman::Test;
    use Doorman::HTTP;

    my $t = Doorman::Test->new;
    my $bport = start_backend($t, name => 'b1', idle_close => 2);
    my $c = http_connect($bport);
    my $r = $c->request('GET', '/x', headers => ['X-A' => 1]);
    is $r->{status}, 200;
    is $r->{headers}{'x-backend'}, 'b1';
    my ($u, $sha) = upload($bport, '/upload', 50 << 20, chunked => 1);
    is $u->{body}, (50 << 20) . " $sha\n";
    my $ws = ws_connect($bport, '/ws');
    ws_send_text($ws, 'hi');
    is ws_recv($ws)->{payload}, 'hi';

=head1 FUNCTIONS (exported)

=over

=item start_backend($t, name => 'backend', idle_close => S, port => P, host => H, timeout => 10, tls_cert => F, tls_key => F, tls_client_ca => F)

Starts C<python3 t/lib/backend.py> (C<DOORMAN_PYTHON> overrides the
interpreter) through C<< $t->spawn >> (process name C<backend-NAME>, output
in F<logs/backend-NAME.log>, one line per request in
F<logs/backend-NAME.requests.log>: backend_log_path($t, NAME)), waits until
it accepts, and returns its port (list context: port, process). It is
stopped with the test. A free port is taken from C<< $t->port >> (three
tries) unless port is given. See the top of backend.py for its paths.
With tls_cert and tls_key the backend speaks TLS (C<--tls-cert>,
C<--tls-key>); with tls_client_ca as well it requires a client
certificate signed by that CA (C<--tls-client-ca>); its responses then
carry C<X-TLS-Version>, C<X-TLS-Client-Subject>, C<X-TLS-SNI> and
C<X-TLS-Reused>.

=item http_connect($port, host => '127.0.0.1', timeout => 5)

A keep-alive connection (a Doorman::HTTP::Conn), or undef (C<$@>).

=item upload($port, $path, $total, chunked => 0|1, headers => [...], method => 'POST', timeout => 60, digest => 0, host => H)

One request on a new connection whose body is $total bytes of the
pattern, generated while it is sent (Content-Length, or chunked with
chunk sizes from 1 to 65536). Returns ($response, sha256 hex of what was
sent); C<< $response->{sent} >> is the number of bytes sent.

=item ws_connect($port, $path, host => '127.0.0.1', headers => [...], timeout => 5)

The handshake (GET, Upgrade: websocket, Connection: Upgrade, a random
key, version 13; a Host header is given with headers). Returns the
connection when the answer is a 101 with the right Sec-WebSocket-Accept,
else undef; in list context also the response.

=item ws_send_text($ws, $text), ws_send_binary($ws, $bytes), ws_send_ping($ws, $bytes), ws_send_close($ws, $code, $reason), ws_send_frame($ws, $opcode, $payload, fin => 1, mask => 1)

Masked client frames. True when sent.

=item ws_recv($ws, timeout => S)

The next frame: C<{op (text binary cont close ping pong), opcode, fin,
payload, masked, code, reason (close)}>, or undef (C<< $ws->{error} >>:
timeout, eof, reset).

=item pattern_bytes($offset, $length), pattern_sha256($n)

The backend's byte pattern (64 KiB blocks, each starting with
C<sprintf("%015x\n", block index)>, then C<0123456789abcdef> repeated).

=back

=head1 Doorman::HTTP::Conn

=over

=item request($method, $target, %o)

Options: headers => [K, V, ...] (in order; C<Host: localhost> added unless
given or no_host => 1), body => BYTES (Content-Length unless chunked =>
1), body_stream => SUB (returns the next piece, undef at the end) with
body_length => N or chunked => 1, version => '1.0', raw => BYTES (sent as
is), timeout => S (the whole exchange), digest => 1 (the body is not kept:
body_length and body_sha256 only). C<Expect: 100-continue> in headers
waits (expect_wait, 1 s) for the 100 before the body. A final response
that comes while the body is sent stops the sending (C<early> set).

Returns C<{status, reason, version, headers, fields, body, body_length,
body_sha256, trailers, interim, framing, complete, close, upgraded,
head, error, send_error, early, elapsed}>: headers has lower-case names,
repeated fields joined with C<, >, and C<set-cookie> is an array
reference; fields are the C<[name, value]> pairs as received; interim the
1xx responses (each a hash like this one); framing is C<length>,
C<chunked> or C<close>; close says the connection is done (Connection:
close, HTTP/1.0, close-delimited body, error). status is undef (and error
set) when no valid head came. After a response with close true, request
returns at once with error C<connection closed>.

=item send_raw($bytes), read_response(method => 'GET', timeout => S, digest => 0)

For pipelining and hand-made requests.

=item wait_close($timeout)

1 when the peer closes (EOF or reset) within the timeout.

=item close, shutdown_write, is_closed, sock, local_port, buf

=back

=cut
