#!/usr/bin/perl
#
# The access log (issue 5, DESIGN.md sections 2 and 5): log_format and
# access_log in the stream engine, the writer, reopening and a full disk.
# Two workers everywhere.
#
#   1. Variables in a custom format: one line per session with the exact
#      fields ($remote_addr, $server_addr, $server_port, $protocol TCP,
#      $status 200, $bytes_sent = the length of the return text,
#      $bytes_received 0, $session_time as S.mmm, $upstream_addr without
#      value as "-", $pid a worker's); the same sessions in a JSON format
#      (escape=json) whose every line python3 -m json.tool accepts. A
#      server listening on a unix socket whose path holds a control byte,
#      a quote, a backslash, a tab, DEL, an invalid UTF-8 byte and a valid
#      "é" carries them in $server_addr through the whole path: \xXX in the
#      default escaping; in JSON the line is valid UTF-8 and decodes to the
#      path with the invalid byte as U+00FF and the "é" kept.
#   2. The predefined `basic` format at the stream level, inherited by a
#      server without access_log; a server with two access_log lines
#      replaces it (both files get its lines, the stream-level file none);
#      `access_log off`; if= (true value, "", "0"); a syslog target gets
#      one datagram per session with the facility and severity asked for.
#   3. buffer= and flush=: lines appear within the flush time, not at once;
#      with a long flush= they wait until QUIT, which writes them all; a
#      small buffer is written when the next line does not fit.
#   4. Logrotate: rename the files, USR1; then rename again, doorman -s
#      reopen: each generation of sessions is in its own file (buffered
#      lines go to the file they were written for), the new files belong
#      to the workers' user (nobody) when run as root, and no line is lost.
#   5. A full filesystem (a 16 KB tmpfs, skipped when it cannot be
#      mounted): every client is still answered, the error log says
#      `access log "PATH": N lines dropped (28: No space left on device)`
#      at most once a second per worker and file, the counts add up to
#      every session at exit; after a lazy unmount the workers still serve
#      and a QUIT needs no KILL.
#   6. Configuration errors, and the http directives (parsed, inherited,
#      their files opened); the predefined `combined` format writes the
#      line of a real request.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;

my $probe = Doorman::Test->new(quiet => 1, keep => 0);
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
my ($py) = grep { -x "$_/python3" } split /:/, $ENV{PATH} // '';
undef $probe;

my $TEXT = "access log test\n";
my $TIME_LOCAL = qr{\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}};
my $BASIC = qr{^127\.0\.0\.1 \[$TIME_LOCAL\] TCP 200 \d+ 0 \d+\.\d{3}$};

# The lines of a log file (without newlines); none when it is missing.
sub lines_of {
    my ($t, $rel) = @_;
    open my $fh, '<:raw', $t->path($rel) or return ();
    my @l = <$fh>;
    chomp @l;
    return @l;
}

sub count_of { my @l = lines_of(@_); return scalar @l }

# n sessions on a port; how many got the text.
sub sessions {
    my ($t, $port, $n, $want) = @_;
    my $ok = 0;
    for (1 .. $n) {
        $ok++ if ($t->tcp_request($port, '') // '') eq ($want // $TEXT);
    }
    return $ok;
}

# nginx's default escaping of a value.
sub esc_default {
    my ($s) = @_;
    $s =~ s/([\x00-\x1f\x7f-\xff"\\])/sprintf '\\x%02X', ord $1/ge;
    return $s;
}

# A string as a double-quoted configuration word.
sub conf_quote {
    my ($s) = @_;
    $s =~ s/(["\\])/\\$1/g;
    $s =~ s/\t/\\t/g;
    return qq{"$s"};
}

# Whether every current worker has `path` open and none has `old` open.
sub workers_reopened {
    my ($t, $path, $old) = @_;
    my @w = $t->worker_pids(current => 1) or return 0;
    for my $pid (@w) {
        my %open;
        opendir my $d, "/proc/$pid/fd" or return 0;
        for my $fd (readdir $d) {
            my $l = readlink "/proc/$pid/fd/$fd";
            $open{$l} = 1 if defined $l;
        }
        return 0 unless $open{$path} && !$open{$old};
    }
    return 1;
}

# --- 1. the variables, a custom format and JSON --------------------------

{
    my $t = Doorman::Test->new;
    my $name = "s\x01\"q\\\xff\xc3\xa9\t\x7f.sock";
    my $sock = $t->path($name);
    my $listen = conf_quote("unix:$sock");
    my $len = length $TEXT;
    (my $text = $TEXT) =~ s/\n/\\n/g;
    $t->write_conf(<<"EOF");
worker_processes 2;
events { worker_connections 64; }
stream {
    # run() waits on this port: its probe connection is not logged
    server { listen 127.0.0.1:%%PORT_9%%; return "p"; access_log off; }
    log_format custom '\$remote_addr|\$server_addr|\$server_port|\$protocol|'
                      '\$status|\$bytes_sent|\$bytes_received|'
                      '\$session_time|\$upstream_addr|\$pid|\$remote_port';
    log_format js escape=json '{"remote_addr":"\$remote_addr",'
        '"server_addr":"\$server_addr","protocol":"\$protocol",'
        '"status":\$status,"bytes_sent":\$bytes_sent,'
        '"bytes_received":\$bytes_received,'
        '"session_time":\$session_time,"upstream_addr":"\$upstream_addr",'
        '"time":"\$time_iso8601","msec":\$msec}';
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "$text";
        access_log logs/custom.log custom;
        access_log logs/json.log js;
    }
    server {
        listen $listen;
        return "$text";
        access_log logs/custom.log custom;
        access_log logs/json.log js;
    }
}
EOF
    my $port = $t->port_n(1);
    $t->run(wait_ports => [$t->port_n(9)]);

    is sessions($t, $port, 6), 6, 'six TCP sessions answered';
    my $u = IO::Socket::UNIX->new(Peer => $sock);
    ok $u, 'connected to the unix socket with the odd path';
    my $got = '';
    if ($u) {
        local $/;
        $got = <$u> // '';
        close $u;
    }
    is $got, $TEXT, 'the unix socket session answered';
    ok $t->wait_for(sub { count_of($t, 'logs/custom.log') == 7 }),
        'one custom line per session';

    my @custom = lines_of($t, 'logs/custom.log');
    my @tcp = grep { /^127\.0\.0\.1\|/ } @custom;
    is scalar @tcp, 6, 'six lines from 127.0.0.1';
    my %wpid = map { $_ => 1 } $t->worker_pids;
    for my $l (@tcp) {
        my @f = split /\|/, $l, -1;
        is_deeply [@f[1 .. 7]],
            ['127.0.0.1', $port, 'TCP', 200, $len, 0, $f[7]],
            "fields of \"$l\"";
        like $f[7], qr/^\d+\.\d{3}$/, '$session_time is S.mmm';
        is $f[8], '-', '$upstream_addr without value is "-"';
        ok $wpid{$f[9]}, '$pid is a worker';
        like $f[10], qr/^\d+$/, '$remote_port is a number';
    }
    my ($ux) = grep { !/^127\.0\.0\.1\|/ } @custom;
    my @uf = split /\|/, $ux // '', -1;
    is_deeply [@uf[0 .. 6, 8, 10]],
        ['unix:', esc_default("unix:$sock"), '-', 'TCP', 200, $len, 0, '-',
            '-'],
        'unix socket session: the odd path in $server_addr with the default '
        . 'escaping (\xXX); $server_port and $remote_port without value '
        . 'are "-"';

    my @json = lines_of($t, 'logs/json.log');
    is scalar @json, 7, 'one JSON line per session';
  SKIP: {
        skip 'python3 is not installed', scalar @json unless $py;
        for my $l (@json) {
            my ($code, $out, $err) = $t->run_cmd("$py/python3", '-m',
                'json.tool', {stdin => "$l\n"});
            is $code, 0, 'python3 -m json.tool accepts: ' . $l
                or diag $err;
        }
    }
    my $dec = JSON::PP->new->utf8;
    my @obj = map { my $l = $_; eval { $dec->decode($l) } } @json;
    is scalar @obj, 7, 'every JSON line decodes (JSON::PP)';
    for my $o (grep { $_->{remote_addr} eq '127.0.0.1' } @obj) {
        is_deeply [@$o{qw(server_addr protocol status bytes_sent
                    bytes_received upstream_addr)}],
            ['127.0.0.1', 'TCP', 200, $len, 0, ''],
            'JSON fields; $upstream_addr without value is ""';
        like $o->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/,
            '$time_iso8601';
    }
    my ($uo) = grep { $_->{remote_addr} eq 'unix:' } @obj;
    is $uo && $uo->{server_addr}, "unix:" . $t->prefix
        . "/s\x{01}\"q\\\x{ff}\x{e9}\t\x{7f}.sock",
        'the odd path decoded: controls, quote, backslash kept, the invalid '
        . 'byte as U+00FF, the valid "é" as itself';
    my ($raw) = grep { /"remote_addr":"unix:"/ } @json;
    my $copy = $raw // '';
    ok utf8::decode($copy), 'the JSON line is valid UTF-8';
    like $raw // '', qr/\\u0001\\"q\\\\\\u00ff\xc3\xa9\\t\\u007f\.sock/,
        'the escapes as written: \u0001 \" \\\\ \u00ff, é as UTF-8, \t, '
        . '\u007f';
    $t->stop;
}

# --- 2. basic, inheritance, off, several, if=, syslog --------------------

{
    my $t = Doorman::Test->new;
    my $udp = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $t->udp_port_n(1), Proto => 'udp')
        or die "cannot bind the syslog receiver: $@";
    $t->write_conf(<<'EOF');
worker_processes 2;
events { worker_connections 64; }
stream {
    # run() waits on this port: its probe connection is not logged
    server { listen 127.0.0.1:%%PORT_9%%; return "p"; access_log off; }
    access_log logs/main.log;
    log_format tagged 'S$server_port $status';
    server { listen 127.0.0.1:%%PORT_1%%; return "access log test\n"; }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        return "access log test\n";
        access_log logs/two_a.log tagged;
        access_log logs/two_b.log;
        access_log syslog:server=127.0.0.1:%%UDP_PORT_1%%,facility=local0,severity=notice,tag=dmacc,nohostname
                   tagged;
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        return "access log test\n";
        access_log off;
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        return "access log test\n";
        access_log logs/if_yes.log tagged if=$server_port;
        access_log logs/if_empty.log tagged if=$upstream_addr;
        access_log logs/if_zero.log tagged if=$bytes_received;
        access_log logs/if_literal0.log tagged if=0;
    }
}
EOF
    my @p = map { $t->port_n($_) } 1 .. 4;
    $t->run(wait_ports => [$t->port_n(9)]);
    is sessions($t, $p[0], 3), 3, 'server 1 (inherits): answered';
    is sessions($t, $p[1], 4), 4, 'server 2 (two files and syslog): answered';
    is sessions($t, $p[2], 2), 2, 'server 3 (off): answered';
    is sessions($t, $p[3], 5), 5, 'server 4 (if=): answered';
    ok $t->wait_for(sub { count_of($t, 'logs/if_yes.log') == 5 }),
        'if= with a value: logged';

    my @main = lines_of($t, 'logs/main.log');
    is scalar @main, 3, 'the stream-level log has the inheriting server '
        . 'only (not the replacing one, not the off one)';
    like $_, $BASIC, "basic format: $_" for @main;
    is_deeply [lines_of($t, 'logs/two_a.log')], [("S$p[1] 200") x 4],
        'first access_log of a level: its format';
    my @b = lines_of($t, 'logs/two_b.log');
    is scalar(grep { $_ =~ $BASIC } @b), 4,
        'second access_log of the level, without FORMAT: basic';
    is count_of($t, 'logs/if_empty.log'), 0, 'if= evaluating to "": no line';
    is count_of($t, 'logs/if_zero.log'), 0, 'if= evaluating to "0": no line';
    is count_of($t, 'logs/if_literal0.log'), 0, 'if=0: no line';
    ok -e $t->path('logs/if_empty.log'), 'the files exist all the same';

    my @dgrams;
    my $sel = IO::Select->new($udp);
    while (@dgrams < 4 && $sel->can_read(2)) {
        my $d;
        $udp->recv($d, 4096);
        push @dgrams, $d;
    }
    is scalar @dgrams, 4, 'one syslog datagram per session';
    like $_, qr/^<133>\w{3} [ \d]\d \d\d:\d\d:\d\d dmacc: S$p[1] 200$/,
        "syslog: local0.notice, the tag, no hostname, the line: $_"
        for @dgrams;
    $t->stop;
}

# --- 3. buffer= and flush= ------------------------------------------------

{
    my $t = Doorman::Test->new;
    $t->write_conf(<<'EOF');
worker_processes 2;
events { worker_connections 64; }
stream {
    # run() waits on this port: its probe connection is not logged
    server { listen 127.0.0.1:%%PORT_9%%; return "p"; access_log off; }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "access log test\n";
        access_log logs/flush.log basic buffer=64k flush=2s;
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        return "access log test\n";
        access_log logs/hold.log basic buffer=64k flush=1h;
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        return "access log test\n";
        access_log logs/small.log basic buffer=200 flush=1h;
    }
}
EOF
    my @p = map { $t->port_n($_) } 1 .. 3;
    $t->run(wait_ports => [$t->port_n(9)]);
    my $t0 = time;
    is sessions($t, $p[0], 5), 5, 'buffered server answered';
    is sessions($t, $p[1], 5), 5, 'held server answered';
    is sessions($t, $p[2], 20), 20, 'small-buffer server answered';
    is count_of($t, 'logs/flush.log'), 0,
        'flush=2s: no line written at once' if time - $t0 < 1.5;
    ok $t->wait_for(sub { count_of($t, 'logs/flush.log') == 5 },
            timeout => 6),
        'flush=2s: the lines are written by the flush timer';
    my $small = count_of($t, 'logs/small.log');
    # a 200-byte buffer holds 3 basic lines: the 4th of a worker flushes
    ok $small >= 3 && $small < 20,
        "buffer=200: full buffers written ($small of 20 lines), the rest "
        . 'still held';
    is count_of($t, 'logs/hold.log'), 0, 'flush=1h: nothing written yet';
    my ($st, $killed) = $t->stop(signal => 'QUIT');
    ok !$killed, 'QUIT: the workers exit by themselves';
    is count_of($t, 'logs/hold.log'), 5, 'QUIT: the held lines are written';
    is count_of($t, 'logs/small.log'), 20, 'QUIT: every small-buffer line';
    like $_, $BASIC, "held line: $_" for lines_of($t, 'logs/hold.log');
}

# --- 4. logrotate: USR1 and -s reopen -------------------------------------

{
    my $t = Doorman::Test->new;
    $t->write_conf(<<'EOF');
worker_processes 2;
events { worker_connections 64; }
stream {
    # run() waits on this port: its probe connection is not logged
    server { listen 127.0.0.1:%%PORT_9%%; return "p"; access_log off; }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "access log test\n";
        access_log logs/rot.log;
        access_log logs/rotbuf.log basic buffer=32k flush=1h;
    }
}
EOF
    my $port = $t->port_n(1);
    $t->run(wait_ports => [$t->port_n(9)]);
    # the workers (nobody) reopen by path, as nginx's do: the directory
    # must be searchable by them, and the harness's prefix is 0700
    chmod 0711, $t->prefix or die "chmod: $!";
    my %n = (1 => 10, 2 => 12, 3 => 7);
    my $rot = $t->path('logs/rot.log');
    my $buf = $t->path('logs/rotbuf.log');

    is sessions($t, $port, $n{1}), $n{1}, 'generation 1: sessions answered';
    ok $t->wait_for(sub { count_of($t, 'logs/rot.log') == $n{1} }),
        'generation 1: unbuffered lines written';
    rename $rot, "$rot.1" or die "rename: $!";
    rename $buf, "$buf.1" or die "rename: $!";
    $t->signal('USR1');
    ok $t->wait_for(sub { workers_reopened($t, $rot, "$rot.1") }, timeout => 10),
        'USR1: every worker has the new file open';

    is sessions($t, $port, $n{2}), $n{2}, 'generation 2: sessions answered';
    ok $t->wait_for(sub { count_of($t, 'logs/rot.log') == $n{2} }),
        'generation 2: lines in the new file';
    rename $rot, "$rot.2" or die "rename: $!";
    rename $buf, "$buf.2" or die "rename: $!";
    my $d = $t->doorman_argv(args => ['-s', 'reopen']);
    my ($code, $out, $err) = $t->run_cmd(@{$d->{argv}});
    is $code, 0, 'doorman -s reopen' or diag $err;
    ok $t->wait_for(sub { workers_reopened($t, $rot, "$rot.2") }, timeout => 10),
        '-s reopen: every worker has the new file open';

    is sessions($t, $port, $n{3}), $n{3}, 'generation 3: sessions answered';
    my ($st, $killed) = $t->stop(signal => 'QUIT');
    ok !$killed, 'QUIT: no KILL needed';

    is_deeply [map { count_of($t, $_) } 'logs/rot.log.1', 'logs/rot.log.2',
            'logs/rot.log'], [@n{1, 2, 3}],
        'unbuffered: each generation in its own file, none lost';
    is_deeply [map { count_of($t, $_) } 'logs/rotbuf.log.1',
            'logs/rotbuf.log.2', 'logs/rotbuf.log'], [@n{1, 2, 3}],
        'buffered: flushed into the old file before each reopen, none lost';
  SKIP: {
        skip 'not root: the workers keep our user', 2 unless $> == 0;
        my $nobody = getpwnam('nobody');
        is((stat $rot)[4], $nobody, 'the new file belongs to nobody');
        is((stat $buf)[4], $nobody, 'the new buffered file too');
    }
}

# --- 5. a full filesystem -------------------------------------------------

my @MOUNTED;
END { local $?; system 'umount', '-l', $_ for @MOUNTED }

SKIP: {
    my $t = Doorman::Test->new;
    my $mnt = $t->path('full');
    mkdir $mnt or die "mkdir $mnt: $!";
    my ($mc, $mo, $me) = $t->run_cmd('mount', '-t', 'tmpfs', '-o', 'size=16k',
        'tmpfs', $mnt);
    skip "cannot mount a tmpfs (the full-disk test needs root): $me", 11
        if $mc;
    push @MOUNTED, $mnt;

    $t->write_conf(<<'EOF');
worker_processes 2;
events { worker_connections 64; }
stream {
    # run() waits on this port: its probe connection is not logged
    server { listen 127.0.0.1:%%PORT_9%%; return "p"; access_log off; }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "access log test\n";
        access_log full/plain.log;
        access_log full/buf.log basic buffer=1k flush=200ms;
    }
}
EOF
    my $port = $t->port_n(1);
    $t->run(wait_ports => [$t->port_n(9)]);

    # fill the filesystem
    open my $fh, '>', "$mnt/filler" or die "open filler: $!";
    binmode $fh;
    my $chunk = 'x' x 1024;
    $fh->autoflush(1);
    1 while print {$fh} $chunk;
    close $fh;
    my $total = 0;
    my $t0 = time;
    for my $round (1 .. 4) {
        $total += sessions($t, $port, 10);
        sleep 0.3;
    }
    is $total, 40, 'a full disk: every client answered';
    ok $t->wait_log(qr/access log "\Q$mnt\E\/plain\.log": \d+ lines dropped \(28: No space left on device\)/),
        'the error log says lines of the plain log were dropped (ENOSPC)';
    ok $t->wait_log(qr/access log "\Q$mnt\E\/buf\.log": \d+ lines dropped \(28: No space left on device\)/),
        'and lines of the buffered log';

    my ($uc, $uo, $ue) = $t->run_cmd('umount', '-l', $mnt);
    is $uc, 0, 'lazy unmount while doorman runs' or diag $ue;
    @MOUNTED = () unless $uc;
    is sessions($t, $port, 5), 5, 'after the unmount: still serving';
    my $t1 = time;
    my ($st, $killed) = $t->stop(signal => 'QUIT');
    ok !$killed, 'QUIT: no KILL needed';
    ok time - $t1 < 5, 'and quickly';
    my $elapsed = time - $t0;

    my %sum = (plain => 0, buf => 0);
    my %reports = (plain => 0, buf => 0);
    for (split /\n/, $t->error_log) {
        next unless /access log "\Q$mnt\E\/(plain|buf)\.log": (\d+) lines dropped/;
        $sum{$1} += $2;
        $reports{$1}++;
    }
    is $sum{plain}, 45, 'plain log: the reports add up to every session';
    is $sum{buf}, 45, 'buffered log: the reports add up to every session';
    my $max = 2 * (int($elapsed) + 2);
    ok $reports{plain} <= $max && $reports{buf} <= $max,
        "at most one report a second per worker and file "
        . "($reports{plain} and $reports{buf} in ${\ sprintf '%.1f', $elapsed} s)";
    my @other = grep { /\[(?:emerg|alert|crit)\]/ && !/lines dropped/ }
        split /\n/, $t->error_log;
    is_deeply \@other, [], 'no other complaint at crit or above';
}

# --- 6. configuration errors; the http directives -------------------------

{
    my $t = Doorman::Test->new;
    my @bad = (
        ['log_format basic "$status";', 'duplicate "log_format" name "basic"'],
        ['log_format a "$status"; log_format a "$status";',
            'duplicate "log_format" name "a"'],
        ['log_format a escape=xml "$status";',
            'unknown log format escaping "xml"'],
        ['log_format a escape=json;', 'no format string'],
        ['log_format a "$nosuch";', 'unknown "$nosuch" variable'],
        ['log_format a "$";', 'invalid variable name'],
        ['access_log logs/a.log nosuch;', 'unknown log format "nosuch"'],
        ['log_format a "$status"; access_log logs/a.log; access_log logs/b.log a;'
            . ' log_format z "x";', undef],
        ['access_log logs/a.log basic flush=1s;', '"flush=" needs "buffer="'],
        ['access_log logs/a.log basic buffer=0;', 'invalid buffer size "0"'],
        ['access_log logs/a.log basic buffer=4k flush=0;',
            'invalid flush time "0"'],
        ['access_log logs/a.log basic bogus=1;', 'invalid parameter "bogus=1"'],
        ['access_log logs/a.log buffer=4k; access_log logs/a.log buffer=8k;',
            'already defined with other buffer= or flush= values'],
        ['access_log logs/a.log buffer=4k; access_log logs/a.log buffer=4k;'
            . ' access_log logs/a.log;', undef],
        ['access_log syslog:server=127.0.0.1:514 buffer=4k;',
            'does not support "buffer=" and "flush=" with syslog'],
        ['access_log syslog:server=127.0.0.1:514,severity=loud;',
            'invalid syslog parameter "severity=loud"'],
        ['access_log off; access_log logs/a.log;',
            '"access_log off" and other "access_log" directives'],
        ['access_log logs/a.log; access_log off;',
            '"access_log off" and other "access_log" directives'],
        ['access_log off basic;', 'invalid parameter "basic"'],
        ['access_log logs/a.log basic if=$;', 'invalid variable name'],
        ['access_log logs/a.log basic if=$nosuch;',
            'unknown "$nosuch" variable'],
        ['access_log /nonexistent/dir/a.log;', 'open() "/nonexistent/dir/a.log" failed'],
    );
    for my $c (@bad) {
        my ($directives, $msg) = @$c;
        $t->write_conf(<<"EOF");
events { worker_connections 64; }
stream {
    $directives
    server { listen 127.0.0.1:%%PORT_1%%; return "x"; }
}
EOF
        my ($code, $err) = $t->test_conf;
        if (defined $msg) {
            isnt $code, 0, "refused: $directives";
            like $err, qr/\Q$msg\E.* in \S+doorman\.conf:\d+/,
                "  with \"$msg\" and the place";
        } else {
            is $code, 0, "accepted: $directives" or diag $err;
        }
    }

    $t->write_conf(<<'EOF');
events { worker_connections 64; }
stream {
    server { listen 127.0.0.1:%%PORT_1%%; return "x"; log_format a "$status"; }
}
EOF
    my ($code, $err) = $t->test_conf;
    like $err, qr/"log_format" directive is not allowed here/,
        'log_format in a server: not allowed';

    $t->write_conf(<<'EOF');
events { worker_connections 64; }
http {
    log_format h escape=json '{"a":"$remote_addr","t":"$msec"}';
    access_log logs/http_main.log h;
    server {
        access_log off;
        location / {
            access_log logs/http_loc.log h buffer=4k;
            access_log logs/http_loc2.log h if=$remote_port;
        }
    }
}
EOF
    ($code, $err) = $t->test_conf;
    is $code, 0, 'http: log_format, access_log in http, server and location'
        or diag $err;
    ok -e $t->path("logs/$_"), "http: $_ opened (created) at load"
        for qw(http_main.log http_loc.log http_loc2.log);

    # `combined` (the default format) through a real request
    $t->write_conf(<<'EOF');
events { worker_connections 64; }
http {
    access_log logs/combined.log;
    server { listen 127.0.0.1:%%PORT_1%%; return 200 "combined\n"; }
}
EOF
    ($code, $err) = $t->test_conf;
    is $code, 0, 'http: access_log with the default format `combined`'
        or diag $err;
    $t->run(wait_ports => [$t->port_n(1)]);
    my ($st, undef, $body) = $t->http_request(port => $t->port_n(1),
        path => '/c?x=1', headers => ['User-Agent' => 'combined-test/1.0',
            'Referer' => 'http://ref.example/']);
    is "$st $body", "200 combined\n", 'http: a request';
    my @l;
    $t->wait_for(sub { @l = lines_of($t, 'logs/combined.log') }, timeout => 3);
    is scalar @l, 1, 'http: one combined line';
    like $l[0] // '', qr{^127\.0\.0\.1 - - \[$TIME_LOCAL\] "GET /c\?x=1 HTTP/1\.1" 200 9 "http://ref\.example/" "combined-test/1\.0"$},
        'http: the combined line: address, no user, time, request, status,'
        . ' body bytes, Referer, User-Agent';
    $t->stop;
}

done_testing;
