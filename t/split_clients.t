#!/usr/bin/perl
#
# split_clients through the real binary, in http and stream.
#
#   1. http: split_clients "${arg_u}" $variant { 5% canary; * stable; }
#      and `return 200 "$variant\n"`. The keys u=1..20000 are asked over
#      a few keep-alive connections (pipelined in batches): the canary
#      share is within 4% and 6%, and a second pass over the first 2000
#      keys gives every key the same answer.
#   2. The same block in Debian's nginx (/usr/sbin/nginx, run in the
#      foreground with its own prefix in the test's directory): the keys
#      1..200, and 200 keys of a finer split ("0.5%", "33.33%", ...) with
#      a composite key, land in the same bucket under both. Skipped with
#      a message when nginx is not installed.
#   3. stream: split_clients "$remote_addr" with `return "$v\n"` gives the
#      same answer to every connection of a client address, and the
#      bucket nginx's arithmetic (the unit test's MurmurHash2 vectors)
#      puts 127.0.0.1 in.
#   4. doorman -t refuses a total over 100%, with FILE:LINE.
#
# Every loop is bounded in count and time; every process started is
# stopped (the harness kills what is left).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time);

use Doorman::Test;

my $probe = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
undef $probe;

my $NGINX = '/usr/sbin/nginx';

# Requests per pipelined write, and per connection.
my $BATCH = 200;
my $PER_CONN = 4000;

# GET PATH?u=KEY for each key over keep-alive connections to port,
# $BATCH requests per write and $PER_CONN per connection; each response's
# body (its Content-Length bytes) without the trailing newline. Returns
# (\%answer, error or undef). The whole run is bounded by $timeout seconds.
sub ask {
    my ($port, $path, $keys, $timeout) = @_;
    my $deadline = time + ($timeout // 60);
    my %answer;
    my @left = @$keys;

    while (@left) {
        my @conn_keys = splice @left, 0, $PER_CONN;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
            Proto => 'tcp', Timeout => 5)
            or return (\%answer, "connect to $port: $!");
        my $sel = IO::Select->new($s);
        my $buf = '';
        while (@conn_keys) {
            my @batch = splice @conn_keys, 0, $BATCH;
            my $req = join '', map {
                "GET $path?u=$_ HTTP/1.1\r\nHost: localhost\r\n\r\n"
            } @batch;
            while (length $req) {
                return (\%answer, 'timeout writing') if time > $deadline;
                my $n = syswrite $s, $req;
                return (\%answer, "write: $!") unless defined $n;
                substr($req, 0, $n) = '';
            }
            for my $key (@batch) {
                my $body;
                for (;;) {
                    if ($buf =~ /\A(.*?\r\n\r\n)/s) {
                        my $head = $1;
                        return (\%answer, "no Content-Length: $head")
                            unless $head =~ /^Content-Length:\s*(\d+)/mi;
                        my $len = $1;
                        if (length($buf) >= length($head) + $len) {
                            return (\%answer, "status: $head")
                                unless $head =~ m{\AHTTP/1\.1 200 };
                            $body = substr $buf, length $head, $len;
                            substr($buf, 0, length($head) + $len) = '';
                            last;
                        }
                    }
                    my $wait = $deadline - time;
                    return (\%answer, 'timeout reading')
                        if $wait <= 0 || !$sel->can_read($wait);
                    my $n = sysread $s, my $chunk, 65536;
                    return (\%answer, "connection closed after "
                        . scalar(keys %answer) . ' answers') unless $n;
                    $buf .= $chunk;
                }
                chomp $body;
                $answer{$key} = $body;
            }
        }
        close $s;
    }
    return (\%answer, undef);
}

# What a stream server sends to one connection (EOF-terminated).
sub from_stream {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
        Proto => 'tcp', Timeout => 5)
        or return "connect: $!";
    my ($data, $deadline, $sel) = ('', time + 5, IO::Select->new($s));
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, my $buf, 4096;
        last unless $n;
        $data .= $buf;
    }
    close $s;
    return $data;
}

# The blocks both servers get: the test's own, and a finer one whose key
# mixes a variable and text.
my $BLOCKS = <<'EOF';
    split_clients "${arg_u}" $variant {
        5%       canary;
        *        stable;
    }
    split_clients "${arg_u}AAA" $fine {
        0.5%     a;
        5%       b;
        33.33%   c;
        0.01%    d;
        40%      e;
    }
EOF

# --- 1. http: the canary share, the same key in the same bucket --------------

my $t = Doorman::Test->new;
$t->write_conf(<<"EOF");
events { worker_connections 64; }
http {
$BLOCKS
    server {
        listen 127.0.0.1:%%PORT_1%%;
        keepalive_requests 100000;
        location / { return 200 "\$variant\\n"; }
        location /fine { return 200 "\$fine\\n"; }
    }
}
EOF
my ($code, $err) = $t->test_conf;
is $code, 0, 'doorman -t accepts split_clients in http' or diag $err;
$t->run(wait_ports => [$t->port_n(1)]);

my @keys = (1 .. 20000);
my $t0 = time;
my ($answer, $why) = ask($t->port_n(1), '/', \@keys, 90);
ok !defined $why, 'every key answered over keep-alive'
    or diag $why;
is scalar(keys %$answer), 20000, '20000 answers';
my %count;
$count{$_}++ for values %$answer;
is_deeply [sort keys %count], [qw(canary stable)],
    'only the two values appear';
my $share = ($count{canary} // 0) / 20000;
ok $share >= 0.04 && $share <= 0.06,
    sprintf 'canary share %.2f%% (%d of 20000) within 4%%-6%%',
    100 * $share, $count{canary} // 0;
note sprintf '20000 requests in %.1f s', time - $t0;

my ($again, $why2) = ask($t->port_n(1), '/', [1 .. 2000], 30);
ok !defined $why2, 'the second pass answered' or diag $why2;
my @moved = grep { ($again->{$_} // '') ne ($answer->{$_} // '') } 1 .. 2000;
is scalar(@moved), 0, 'the same key lands in the same bucket twice'
    or diag "moved: @moved[0 .. ($#moved < 9 ? $#moved : 9)]";

# the finer split, for the comparison with nginx
my ($fine, $why3) = ask($t->port_n(1), '/fine', [1 .. 200], 30);
ok !defined $why3, 'the finer split answered' or diag $why3;
$t->stop;

# --- 2. the same keys in nginx -----------------------------------------------

SKIP: {
    skip "nginx is not installed at $NGINX: no comparison", 3
        unless -x $NGINX;

    my $n = Doorman::Test->new;
    my $dir = $n->prefix;
    $n->write_file("nginx/logs/.keep", '');
    $n->write_file("nginx/temp/.keep", '');
    my $conf = $n->write_file('nginx/nginx.conf', <<"EOF", subst => 1);
pid $dir/nginx/logs/nginx.pid;
error_log $dir/nginx/logs/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/nginx/temp/body;
    proxy_temp_path $dir/nginx/temp/proxy;
    fastcgi_temp_path $dir/nginx/temp/fastcgi;
    uwsgi_temp_path $dir/nginx/temp/uwsgi;
    scgi_temp_path $dir/nginx/temp/scgi;
$BLOCKS
    server {
        listen 127.0.0.1:%%PORT_2%%;
        keepalive_requests 100000;
        location / { return 200 "\$variant\\n"; }
        location /fine { return 200 "\$fine\\n"; }
    }
}
EOF
    my $ngx = $n->spawn(
        cmd => [$NGINX, '-p', "$dir/nginx/", '-c', $conf, '-e',
            "$dir/nginx/logs/error.log", '-g',
            'daemon off; master_process off;'],
        name => 'nginx', wait_ports => [$n->port_n(2)], timeout => 10);

    my ($na, $ne) = ask($n->port_n(2), '/', [1 .. 200], 30);
    my @differ = grep { ($na->{$_} // '?') ne ($answer->{$_} // '') } 1 .. 200;
    ok !defined $ne && !@differ,
        'keys 1..200: the same bucket as nginx for 5% canary, * stable'
        or diag $ne // "differ: @differ[0 .. ($#differ < 9 ? $#differ : 9)]";

    my ($nf, $nfe) = ask($n->port_n(2), '/fine', [1 .. 200], 30);
    my @fdiffer = grep { ($nf->{$_} // '?') ne ($fine->{$_} // '!') } 1 .. 200;
    ok !defined $nfe && !@fdiffer,
        'keys 1..200: the same bucket as nginx for a finer split of '
        . '"${arg_u}AAA" (including none)'
        or diag $nfe // "differ: @fdiffer[0 .. ($#fdiffer < 9 ? $#fdiffer : 9)]";
    my %seen;
    $seen{$_}++ for values %$nf;
    ok scalar(keys %seen) >= 4, 'the finer split used several buckets: '
        . join ', ', map { ($_ eq '' ? '(none)' : $_) . "=$seen{$_}" }
        sort keys %seen;

    $ngx->stop(timeout => 5);
}

# --- 3. stream ---------------------------------------------------------------

{
    my $s = Doorman::Test->new;
    $s->write_conf(<<'EOF');
events { worker_connections 64; }
stream {
    # 127.0.0.1 hashes to 3054706065 (71.12% of the range)
    split_clients "$remote_addr" $v {
        70%     low;
        1.12%   edge;
        0.01%   hit;
        *       high;
    }
    split_clients "${remote_addr}AAA" $w {
        50%     lo;
        *       hi;
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "$v $w\n";
    }
}
EOF
    my ($c, $e) = $s->test_conf;
    is $c, 0, 'doorman -t accepts split_clients in stream' or diag $e;
    $s->run(wait_ports => [$s->port_n(1)]);
    my @got = map { from_stream($s->port_n(1)) } 1 .. 5;
    is $got[0], "hit hi\n", 'stream: 127.0.0.1 lands in the 0.01% bucket';
    is scalar(grep { $_ eq $got[0] } @got), 5,
        'stream: the same answer to every connection';
    $s->stop;
}

# --- 4. configuration errors ------------------------------------------------

{
    my $e = Doorman::Test->new;
    $e->write_conf(<<'EOF');
events { worker_connections 64; }
http {
    split_clients "$remote_addr" $v {
        60%  a;
        50%  b;
    }
}
EOF
    my ($c, $err) = $e->test_conf;
    isnt $c, 0, 'doorman -t refuses a total over 100%';
    like $err, qr/\[emerg\] percent total is greater than 100% in \S+doorman\.conf:3\b/,
        'with the message and FILE:LINE';
}

done_testing;
