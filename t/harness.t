#!/usr/bin/perl
#
# The harness itself (t/lib/Doorman/Test.pm), tested on a stand-in for
# doorman: a small Perl "master" that forks two titled workers and a
# helper, serves a TCP greeting and a little HTTP, reloads on HUP (new
# workers, "reload: generation N serving" in its error log) and stops on
# TERM. It is started through the same spawn, wait, stop and cleanup code
# as doorman, so what is checked here holds for the real binary: port
# waiting, stop with no zombie and nothing left, KILL when TERM is
# ignored, daemons followed through their pid file, and the END / signal
# cleanup of a test that forgets to stop. The real doorman is run too, as
# far as the binary under test serves (those sections skip otherwise).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

use Doorman::Test;

# --- the stand-in master ----------------------------------------------------
#
# perl -e $FAKE PORT_TCP PORT_HTTP WORKERS ERROR_LOG MODE [PID_FILE]
# MODE: normal | ignore_term | daemon | exit3 | silent
my $FAKE = <<'EOF';
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use POSIX ();

my ($tport, $hport, $n, $log, $mode, $pidfile) = @ARGV;
$| = 1;

if ($mode eq 'exit3') {
    print STDERR "fake: cannot start, giving up\n";
    exit 3;
}
if ($mode eq 'daemon') {
    # the parent returns at once (before the pid file exists), as a
    # daemonizing server does
    my $pid = fork // die "fork: $!";
    POSIX::_exit(0) if $pid;
    POSIX::setsid();
    select undef, undef, undef, 0.3;
    open my $pf, '>', $pidfile or die "pid file: $!";
    print $pf "$$\n";
    close $pf;
}
$0 = 'doorman: master process';
open my $L, '>>', $log or die "log: $!";
$L->autoflush(1);
sub logn { print $L "2025/01/01 00:00:00 [notice] $$#0: @_\n" }

if ($mode eq 'silent') {
    # alive, but never listens
    sleep 1 while 1;
}

my @ls = map {
    IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $_,
        Listen => 128, ReuseAddr => 1, Blocking => 0)
        or die "listen $_: $!"
} $tport, $hport;

my ($gen, %kids, $hup, $term) = (0);

sub child_defaults {
    $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP USR1);
}

sub serve_tcp {
    my ($c) = @_;
    my ($got, $sel) = ('', IO::Select->new($c));
    my $deadline = time + 0.3;
    while ((my $left = $deadline - time) > 0) {
        last unless $sel->can_read($left);
        my $r = sysread $c, my $buf, 4096;
        last unless $r;
        $got .= $buf;
    }
    print $c "gen $gen pid $$ got " . length($got) . ": $got\n";
}

sub serve_http {
    my ($c) = @_;
    my ($req, $sel) = ('', IO::Select->new($c));
    while ($req !~ /\r\n\r\n/ && $sel->can_read(2)) {
        my $r = sysread $c, my $buf, 4096;
        last unless $r;
        $req .= $buf;
    }
    my ($path) = $req =~ m{^\w+ (\S+)};
    $path //= '';
    my $h = "X-Gen: $gen\r\nX-Pid: $$\r\n";
    if ($path eq '/chunked') {
        print $c "HTTP/1.1 200 OK\r\n${h}Transfer-Encoding: chunked\r\n\r\n"
            . "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        sleep 2;    # keeps the connection: the client must not wait
    } elsif ($path eq '/cookies') {
        print $c "HTTP/1.1 200 OK\r\n${h}Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
            . "Content-Length: 2\r\n\r\nok";
    } elsif ($path eq '/close') {
        print $c "HTTP/1.1 200 OK\r\n${h}Connection: close\r\n\r\nuntil close";
    } elsif ($path eq '/continue') {
        print $c "HTTP/1.1 100 Continue\r\n\r\n"
            . "HTTP/1.1 201 Created\r\n${h}Content-Length: 4\r\n\r\ndone";
    } else {
        print $c "HTTP/1.1 200 OK\r\n${h}Content-Length: " . length($req)
            . "\r\n\r\n$req";
    }
}

sub worker {
    my $pid = fork // die "fork: $!";
    if ($pid) {
        $kids{$pid} = 'worker';
        return;
    }
    $0 = 'doorman: worker process';
    child_defaults();
    my $sel = IO::Select->new(@ls);
    for (;;) {
        for my $l ($sel->can_read) {
            my $c = $l->accept or next;
            $c->blocking(1);
            $l == $ls[0] ? serve_tcp($c) : serve_http($c);
            close $c;
        }
    }
}

sub helper {
    my $pid = fork // die "fork: $!";
    if ($pid) {
        $kids{$pid} = 'helper';
        return;
    }
    $0 = 'doorman: helper process';
    child_defaults();
    sleep 1 while 1;
}

sub generation {
    $gen++;
    worker() for 1 .. $n;
    logn("reload: generation $gen serving, generation " . ($gen - 1)
        . ' retiring') if $gen > 1;
}

$SIG{HUP} = sub { $hup = 1 };
$SIG{USR1} = sub { logn('reopen') };
$SIG{TERM} = $SIG{INT} = $mode eq 'ignore_term' ? 'IGNORE' : sub { $term = 1 };

helper();
generation();
while (!$term) {
    if ($hup) {
        $hup = 0;
        my @old = grep { $kids{$_} eq 'worker' } keys %kids;
        generation();
        kill 'TERM', @old;
    }
    while ((my $p = waitpid -1, POSIX::WNOHANG()) > 0) {
        delete $kids{$p};
    }
    select undef, undef, undef, 0.02;
}
kill 'TERM', keys %kids;
while (%kids) {
    my $p = wait;
    last if $p < 0;
    delete $kids{$p};
}
logn('exiting');
exit 0;
EOF

sub fake_cmd {
    my ($t, $mode, %o) = @_;
    my ($tp, $hp) = ($o{tcp} // $t->port, $o{http} // $t->port);
    return ([$^X, '-e', $FAKE, $tp, $hp, $o{workers} // 2,
            $t->path('logs/error.log'), $mode, $o{pid_file} // ''],
        $tp, $hp);
}

# No such process, or a zombie (an orphan whose reaper is init: not ours
# to reap; our own children are checked with waitpid).
sub gone {
    my ($pid) = @_;
    my $st = Doorman::Test::_proc_stat($pid);
    return !$st || $st->{state} eq 'Z';
}

# --- construction, ports, files -----------------------------------------------

my $t = Doorman::Test->new;
ok -d $t->prefix && -d $t->prefix . '/logs', 'prefix with logs/';
like $t->bin, qr{/doorman$}, 'bin names a doorman binary';

my @p = $t->ports(5);
my %u = map { $_ => 1 } @p, $t->port, $t->udp_port;
is scalar(keys %u), 7, 'ports are all different';
my $bindable = grep {
    IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $_,
        Listen => 1, ReuseAddr => 1)
} @p;
is $bindable, 5, 'and free';
is $t->port_n(3), $t->port_n(3), 'port_n is stable';
isnt $t->port_n(3), $t->port_n(4), 'port_n differs per n';

my $conf = $t->write_conf("listen %%PORT_1%%;\nroot %%PREFIX%%/x;\nudp %%UDP_PORT_2%%;\n");
is $conf, $t->prefix . '/doorman.conf', 'write_conf: default name';
is $t->conf_file, $conf, 'write_conf: becomes the main file';
is $t->read_file('doorman.conf'),
    'listen ' . $t->port_n(1) . ";\nroot " . $t->prefix . "/x;\nudp "
    . $t->udp_port_n(2) . ";\n", 'placeholders substituted';
$t->write_conf("x %%PORT_1%%;\n", name => 'conf.d/inc.conf', include => 1);
is $t->conf_file, $conf, 'an include does not become the main file';
is $t->read_file('conf.d/inc.conf'), 'x ' . $t->port_n(1) . ";\n",
    'same port in an include';
ok !eval { $t->write_conf("%%NOPE%%\n"); 1 }, 'unknown placeholder dies';
like $@, qr/unknown placeholder %%NOPE%%/, '... naming it';
$t->write_file('raw.txt', "%%PORT_1%%");
is $t->read_file('raw.txt'), '%%PORT_1%%', 'write_file does not substitute';

# --- commands run to completion --------------------------------------------------

my ($code, $out, $err) = $t->run_cmd($^X, '-e',
    'print "out"; print STDERR "err"; exit 7');
is_deeply [$code, $out, $err], [7, 'out', 'err'], 'run_cmd: exit, stdout, stderr';
($code) = $t->run_cmd($^X, '-e', 'kill "KILL", $$');
is $code, 137, 'run_cmd: death by signal is 128 + signal';
my $t0 = time;
($code, $out, $err) = $t->run_cmd($^X, '-e', 'sleep 30', {timeout => 0.5});
ok $code == 124 && time - $t0 < 5, 'run_cmd: bounded (124 after the timeout)';
like $err, qr/killed after/, '... and says so';
($code, $out) = $t->run_cmd($^X, '-e', 'print scalar <STDIN>',
    {stdin => "line\n"});
is $out, "line\n", 'run_cmd: stdin';
ok !eval { $t->run_cmd('/nonexistent/binary'); 1 }, 'run_cmd: exec failure dies';
like $@, qr/cannot start .*nonexistent/, '... with the reason';

# --- the doorman command line run() builds --------------------------------------

$t->write_conf("worker_processes 1;\n");
my $d = $t->doorman_argv;
is_deeply [@{$d->{argv}}[1 .. 6]],
    ['-p', $t->prefix . '/', '-c', $t->prefix . '/doorman.conf', '-g',
     'daemon off; pid logs/doorman.pid; error_log logs/error.log notice;'],
    'doorman_argv adds daemon off, pid and error_log';
is $d->{pid_file}, $t->prefix . '/logs/doorman.pid', '... pid file in the prefix';
is $d->{error_log}, $t->prefix . '/logs/error.log', '... error log in the prefix';
$t->write_conf("daemon on;\npid run/d.pid;\nerror_log logs/e.log info;\n");
$d = $t->doorman_argv(g => 'worker_processes 2;');
is $d->{argv}[6], 'worker_processes 2;', 'nothing added that the file sets';
ok $d->{daemon} && $d->{pid_file} eq $t->prefix . '/run/d.pid'
    && $d->{error_log} eq $t->prefix . '/logs/e.log', '... and read from it';
is scalar(@{$t->doorman_argv(plain => 1)->{argv}}), 5, 'plain adds nothing';

SKIP: {
    skip 'no doorman binary at ' . $t->bin, 3 unless -x $t->bin;
    # the directives run() injects are valid for the real binary
    $t->write_conf("worker_processes 1;\n");
    ($code, undef, $err) = $t->run_cmd(@{$t->doorman_argv->{argv}}, '-t');
    is $code, 0, 'the injected -g directives pass doorman -t' or diag $err;

    # a doorman that exits at once: run dies with the log tail
    $t->write_conf("worker_processes 1;\nno_such_directive;\n");
    ok !eval { $t->run(wait_ports => [$t->port], timeout => 3); 1 },
        'run dies when doorman exits';
    like $@, qr/exited \(exit 1\) before it was ready.*unknown directive "no_such_directive"/s,
        '... with the exit status and the log tail';
}

# --- the real doorman, once it serves ------------------------------------------

SKIP: {
    skip 'no doorman binary at ' . $t->bin, 6 unless -x $t->bin;
    my $rt = Doorman::Test->new;
    $rt->write_conf(<<'EOF');
master_process off;
events {
    worker_connections 64;
}
stream {
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "hello from doorman\n";
    }
}
EOF
    my ($c) = $rt->test_conf;
    skip 'this doorman has no stream return yet', 6 if $c != 0;
    my $ok = eval { $rt->run(wait_ports => [$rt->port_n(1)]); 1 };
    skip 'this doorman does not serve yet', 6
        if !$ok && $@ =~ /only checks configurations/;
    ok $ok, 'run: the real doorman (master_process off) serves' or diag $@;
    is $rt->tcp_request($rt->port_n(1), ''), "hello from doorman\n",
        'tcp_request: its stream return';
    my $pid = $rt->pid;
    ok -e $rt->path('logs/error.log'), 'its error log is in the prefix';
    my ($status, $killed) = $rt->stop;
    ok !$killed, 'stop: TERM is enough';
    is $status, 0, 'stop: it exits 0';
    ok gone($pid) && waitpid($pid, WNOHANG) == -1, 'stop: gone and reaped';
}

SKIP: {
    skip 'no doorman binary at ' . $t->bin, 10 unless -x $t->bin;
    my $rt = Doorman::Test->new;
    $rt->write_conf(<<'EOF');
worker_processes 2;
events {
    worker_connections 64;
}
stream {
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "hello from a worker\n";
    }
}
EOF
    my ($c) = $rt->test_conf;
    skip 'this doorman has no stream return yet', 10 if $c != 0;
    my $ok = eval { $rt->run(wait_ports => [$rt->port_n(1)]); 1 };
    skip 'this doorman does not serve yet', 10
        if !$ok && $@ =~ /only checks configurations/;
    ok $ok, 'run: the real doorman (master and workers) serves' or diag $@;
    # a child just forked still shows the master's title until it sets
    # its own: wait for the helper's too, not only for two workers
    $rt->wait_for(sub { $rt->worker_pids == 2 && $rt->helper_pid });
    skip 'this doorman has no master process yet', 9
        if $rt->error_log =~ /master process is not built yet/;
    my @w = $rt->worker_pids;
    my $master = $rt->pid;
    my $helper = $rt->helper_pid;
    is scalar(@w), 2, 'worker_pids: two workers';
    ok $rt->cmdline($master) =~ /^doorman: master process/
        && !grep({ $rt->cmdline($_) !~ /^doorman: worker process/ } @w)
        && $helper && $rt->cmdline($helper) =~ /^doorman: helper process/,
        'process titles: master, workers, helper';
    is $rt->tcp_request($rt->port_n(1), ''), "hello from a worker\n",
        'a worker serves';
    {
        # run() passes -g; a master that keeps the -g text in the argv
        # area it overwrites with its title cannot parse it again
        my $r = $rt->reload;
        local $TODO = 'doorman: the -g text is clobbered by the process '
            . 'title (options parsed from argv, not from the copy)'
            if $rt->error_log =~ /unexpected NUL byte in command line/;
        ok $r, 'reload: the new generation serves' or diag $rt->error_log;
        my %old = map { $_ => 1 } @w;
        ok $r && $rt->wait_for(sub { my @n = $rt->worker_pids;
                @n == 2 && !grep { $old{$_} } @n }),
            'reload: two new workers, the old ones gone';
    }
    is $rt->tcp_request($rt->port_n(1), ''), "hello from a worker\n",
        'reload: still serving';
    my @all = ($master, $rt->helper_pid, $rt->worker_pids, $helper, @w);
    my ($status, $killed) = $rt->stop;
    ok !$killed, 'stop: TERM is enough';
    is $status, 0, 'stop: the master exits 0';
    ok $rt->wait_for(sub { !grep { defined && !gone($_) } @all }),
        'stop: master, workers and helper all gone';
}

# --- run, workers, clients, reload, stop ----------------------------------------------

my ($cmd, $tp, $hp) = fake_cmd($t, 'normal');
$t0 = time;
$t->run(cmd => $cmd, wait_ports => [$tp, "127.0.0.1:$hp"]);
ok time - $t0 < 5, 'run returns once the ports accept';
my $master = $t->pid;
like $t->cmdline($master), qr/^doorman: master process/, 'master title';
ok $t->wait_for(sub { $t->worker_pids == 2 && $t->helper_pid }, timeout => 5),
    'two workers and a helper';
my @w1 = $t->worker_pids;
my $helper = $t->helper_pid;
ok !grep({ $_ == $helper } @w1), 'the helper is not a worker';
is scalar(grep { $t->cmdline($_) =~ /worker process/ } @w1), 2,
    'worker titles';

my $r = $t->tcp_request($tp, '');
like $r, qr/^gen 1 pid \d+ got 0: \n\z/, 'tcp_request: read until EOF';
my ($data, $how) = $t->tcp_request($tp, "abc", half_close => 1);
like $data, qr/got 3: abc$/, 'tcp_request: sends, half-closes';
is $how, 'eof', '... ends at EOF';
($data, $how) = $t->tcp_request($t->port, 'x');
ok $data eq '' && $how =~ /^connect/, 'tcp_request: refused connection';
{
    # a peer that closes without reading: the send fails (EPIPE or
    # ECONNRESET), the test process survives (no SIGPIPE death)
    my $cp = $t->port;
    my $closer = $t->spawn(name => 'closer', wait_ports => [$cp],
        cmd => [$^X, '-MIO::Socket::INET', '-e',
            'my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1",'
            . ' LocalPort => shift, Listen => 5, ReuseAddr => 1) or die;'
            . ' while (my $c = $l->accept) { print $c "bye\n"; close $c }',
            $cp]);
    ($data, $how) = $t->tcp_request($cp, 'x' x 8_000_000, timeout => 3);
    like $how, qr/^send: /, 'tcp_request: a failed send is reported';
    $closer->stop;
}

my ($st, $h, $body) = $t->http_get($hp, '/echo', 'X-Test' => 'yes');
is $st, 200, 'http_get: status';
is $h->{'x-gen'}, 1, 'http_get: headers, lower-case names';
like $body, qr{^GET /echo HTTP/1\.1\r\n}, 'http_get: request line';
like $body, qr{\r\nHost: localhost\r\n}, '... default Host';
like $body, qr{\r\nConnection: close\r\n}, '... Connection: close';
like $body, qr{\r\nX-Test: yes\r\n}, '... the given header';
($st, $h, $body) = $t->http_get($hp, '/echo', Host => 'example.org');
like $body, qr{\r\nHost: example\.org\r\n}, '... a given Host replaces it';
unlike $body, qr{localhost}, '... only one Host';
$t0 = time;
($st, $h, $body) = $t->http_get($hp, '/chunked');
is $body, 'hello world', 'chunked body decoded';
ok time - $t0 < 1.5, '... and complete without waiting for EOF';
($st, $h, $body) = $t->http_get($hp, '/cookies');
is $h->{'set-cookie'}, "a=1\nb=2", 'repeated Set-Cookie kept apart';
is $body, 'ok', 'Content-Length body';
($st, $h, $body) = $t->http_get($hp, '/close');
is $body, 'until close', 'body delimited by close';
($st, $h, $body) = $t->http_get($hp, '/continue');
ok $st == 201 && $body eq 'done', '1xx skipped';
($st, $h, $body) = $t->http_request(port => $hp, method => 'POST',
    path => '/echo', body => 'payload');
like $body, qr{^POST /echo .*\r\nContent-Length: 7\r\n\r\npayload\z}s,
    'http_request: body with Content-Length';
($st) = $t->http_get($t->port, '/');
ok !defined $st, 'http_get: no server, no status';

ok $t->signal('USR1'), 'signal';
ok $t->wait_log(qr/reopen/), 'wait_log';

my $off = $t->log_offset;
ok $t->reload, 'reload';
# the new generation is ready; the old one retires on its own time
my %w1 = map { $_ => 1 } @w1;
ok $t->wait_for(sub { !grep { $w1{$_} } $t->worker_pids }),
    'the old workers retire';
my @w2 = $t->worker_pids;
is scalar(@w2), 2, 'two new workers after the reload';
like $t->error_log_since($off), qr/generation 2 serving/, 'error_log_since';
like $t->tcp_request($tp, ''), qr/^gen 2 /, 'the new generation serves';
is $t->helper_pid, $helper, 'the helper stays';
ok $t->reload(until => sub { $t->error_log =~ /generation 3 serving/ }),
    'reload until a condition';
ok $t->reload(log => qr/generation 4 serving/), 'reload until a log line';
ok !$t->reload(log => qr/never logged/, timeout => 0.3),
    'a reload that does not finish is false, bounded';

my @all = ($master, $helper, $t->worker_pids);
my ($status, $killed) = $t->stop;
is $status, 0, 'stop: the master exits 0 on TERM';
ok !$killed, '... without KILL';
is waitpid($master, WNOHANG), -1, '... and is reaped (no zombie)';
is scalar(grep { !gone($_) } @all), 0, 'master, workers, helper all gone';
ok !defined $t->pid, 'no pid after stop';
like $t->error_log, qr/exiting/, 'error_log reads the log';

# --- a master that ignores TERM --------------------------------------------------

($cmd, $tp) = fake_cmd($t, 'ignore_term');
$t->run(cmd => $cmd, wait_ports => [$tp]);
$t->wait_for(sub { $t->worker_pids == 2 });
@all = ($t->pid, $t->helper_pid, $t->worker_pids);
is scalar(@all), 4, 'four processes';
$t0 = time;
($status, $killed) = $t->stop(timeout => 0.5);
ok $killed, 'stop falls back to KILL';
ok time - $t0 < 5, '... bounded';
ok +($status & 127) == 9, '... the master died of it';
is scalar(grep { !gone($_) } @all), 0, '... and nothing is left';

# --- failures to start ---------------------------------------------------------------

($cmd, $tp) = fake_cmd($t, 'exit3');
ok !eval { $t->run(cmd => $cmd, wait_ports => [$tp]); 1 },
    'run dies when the process exits';
like $@, qr/exited \(exit 3\) before it was ready/, '... with the exit code';
like $@, qr/fake: cannot start, giving up/, '... and the tail of its output';

($cmd, $tp) = fake_cmd($t, 'silent');
$t0 = time;
ok !eval { $t->run(cmd => $cmd, wait_ports => [$tp], timeout => 1); 1 },
    'run dies when the port never accepts';
like $@, qr/not ready after 1 s \(not serving: tcp $tp\)/, '... naming the port';
ok time - $t0 < 4, '... bounded';
my $silent = $t->process->pid;
ok $t->wait_for(sub { gone($silent) }, timeout => 3), '... and kills it';

# --- a daemon, followed through its pid file ---------------------------------

($cmd, $tp) = fake_cmd($t, 'daemon', pid_file => $t->path('logs/fake.pid'));
$t->run(cmd => $cmd, wait_ports => [$tp], daemon => 1,
    pid_file => 'logs/fake.pid');
my $dpid = $t->pid;
is $dpid, Doorman::Test::_read_pid($t->path('logs/fake.pid')),
    'daemon: the master is the pid in the pid file';
ok $t->wait_for(sub { $t->worker_pids == 2 }), 'daemon: its workers';
@all = ($dpid, $t->helper_pid, $t->worker_pids);
($status, $killed) = $t->stop;
ok !$killed, 'daemon: stopped by TERM';
ok $t->wait_for(sub { !grep { !gone($_) } @all }),
    'daemon: nothing left';

# --- spawn: more processes beside the main one ----------------------------------

my $bp = $t->port;
my $backend = $t->spawn(name => 'backend', wait_ports => [$bp],
    cmd => [$^X, '-MIO::Socket::INET', '-e',
        'my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1",'
        . ' LocalPort => shift, Listen => 5, ReuseAddr => 1) or die;'
        . ' while (my $c = $l->accept) { print $c "backend\n"; close $c }',
        $bp]);
is $t->tcp_request($bp, ''), "backend\n", 'spawn: a backend serves';
ok $backend->alive, 'spawn: alive';
($status, $killed) = $backend->stop;
ok !$backend->alive && !$killed && gone($backend->pid), 'spawn: stopped';

# --- END and signal cleanup of a test that does not stop ---------------------

my $lib = "$FindBin::Bin/lib";
my $child = <<'EOF';
use strict;
use warnings;
use Doorman::Test;
my ($fake, $mode) = @ARGV;
my $t = Doorman::Test->new;
my ($tp, $hp) = ($t->port, $t->port);
$t->run(cmd => [$^X, '-e', $fake, $tp, $hp, 2, $t->path('logs/error.log'),
    'normal'], wait_ports => [$tp]);
$t->wait_for(sub { $t->worker_pids == 2 && $t->helper_pid });
my $b = $t->spawn(name => 'b', cmd => [$^X, '-e', 'sleep 60'],
    wait => sub { 1 });
print join(' ', 'PIDS', $t->pid, $t->helper_pid, $t->worker_pids, $b->pid), "\n";
print 'PREFIX ', $t->prefix, "\n";
die "test died\n" if $mode eq 'die';
sleep 60 if $mode eq 'sleep';
exit 0;
EOF

for my $mode (qw(exit die)) {
    ($code, $out, $err) = $t->run_cmd($^X, "-I$lib", '-e', $child, $FAKE,
        $mode, {timeout => 30, env => {DOORMAN_KEEP => undef}});
    my ($pids) = $out =~ /^PIDS (.*)$/m;
    my ($prefix) = $out =~ /^PREFIX (.*)$/m;
    my @pids = split ' ', $pids // '';
    is scalar(@pids), 5, "$mode: the child test started 5 processes"
        or diag "$out$err";
    is $code, $mode eq 'die' ? 255 : 0, "$mode: its exit code is kept";
    ok $t->wait_for(sub { !grep { !gone($_) } @pids }, timeout => 5),
        "$mode: END killed them all";
    ok defined $prefix && !-e $prefix, "$mode: prefix removed";
}

my $ct = $t->spawn(name => 'child', cmd => [$^X, "-I$lib", '-e', $child,
        $FAKE, 'sleep'], env => {DOORMAN_KEEP => undef},
    wait => sub { $t->read_file('logs/child.log') =~ /^PREFIX /m },
    timeout => 15);
my $clog = $t->read_file('logs/child.log');
my @pids = split ' ', ($clog =~ /^PIDS (.*)$/m)[0];
is scalar(@pids), 5, 'TERM: the child test runs 5 processes';
$ct->signal('TERM');
$st = $ct->wait_exit(10);
is $st >> 8, 128 + 15, 'TERM: the child test exits 128 + 15';
ok $t->wait_for(sub { !grep { !gone($_) } @pids }, timeout => 5),
    'TERM: its handler killed them all';

# --- keep -------------------------------------------------------------------

{
    my $k = Doorman::Test->new(keep => 1, quiet => 1);
    my $kp = $k->prefix;
    undef $k;
    ok -d $kp, 'keep => 1 keeps the prefix';
    File::Path::remove_tree($kp);
}
{
    my $k = Doorman::Test->new(keep => 0);
    my $kp = $k->prefix;
    undef $k;
    ok !-e $kp, 'otherwise the prefix goes with the object';
}

done_testing;
