package Doorman::Test;

# doorman: the integration-test harness (core Perl only).
#
# One object per test scenario: a temporary prefix with logs/, free
# loopback ports, configuration files written into the prefix, doorman (or
# any stand-in command) started in the foreground as a child in its own
# process group, and small bounded clients. Every wait is bounded, and
# nothing a test starts outlives it: stop(), DESTROY, an END block and
# INT/TERM/ALRM handlers all kill what is still running. The API is
# documented in the POD at the end (perldoc t/lib/Doorman/Test.pm).

use strict;
use warnings;

use Carp qw(croak);
use Config;
use Cwd qw(abs_path);
use Errno qw(EINTR EADDRINUSE);
use Fcntl qw(O_WRONLY O_CREAT O_APPEND);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Handle;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::IP;
use POSIX qw(WNOHANG SIG_SETMASK);
use Scalar::Util qw(refaddr weaken);
use Socket qw(SHUT_WR);
use Test::More ();
use Time::HiRes qw(sleep time);

our $VERSION = '1.0';

# What the error log says when a reload has its new generation serving
# (the default condition of reload(), beside "the workers are all new"):
# the master logs "reload: generation 2 serving, generation 1 retiring".
our $RELOAD_DONE_RE = qr/\breload: generation \d+ serving\b/;

# What a refused reload logs: the reason, at emerg or alert level.
our $RELOAD_FAIL_RE = qr/\[(?:emerg|alert)\]/;

# Process titles (the master sets them; /proc/PID/cmdline).
our $TITLE_MASTER   = qr/\bmaster process\b/;
our $TITLE_WORKER   = qr/\bworker process\b/;
our $TITLE_HELPER   = qr/\bhelper process\b/;
our $TITLE_RETIRING = qr/\b(?:is shutting down|retiring)\b/;

my $ROOT = abs_path(dirname(__FILE__) . '/../../..');

my %USED_PORTS;    # every port handed out by this test process
my %LIVE;          # refaddr => weak ref of every harness object
my %SIGNUM;        # name => number
@SIGNUM{split ' ', $Config{sig_name}} = split ' ', $Config{sig_num};

# ---------------------------------------------------------------------------
# construction and paths

sub new {
    my ($class, %o) = @_;
    my $keep = exists $o{keep} ? $o{keep} : $ENV{DOORMAN_KEEP};
    my $prefix = tempdir('doorman-XXXXXXXX', TMPDIR => 1, CLEANUP => 0);
    $prefix = abs_path($prefix);
    make_path("$prefix/logs");
    my $self = bless {
        prefix  => $prefix,
        keep    => $keep ? 1 : 0,
        quiet   => $o{quiet} ? 1 : 0,    # no log tails, no "kept" line
        owner   => $$,
        bin     => $o{bin},
        conf    => undef,
        tcp     => {},          # placeholder n => port
        udp     => {},
        procs   => [],          # every Doorman::Test::Process spawned
        main    => undef,       # the one run() started
    }, $class;
    $LIVE{refaddr $self} = $self;
    weaken $LIVE{refaddr $self};
    _install_signal_handlers();
    return $self;
}

# The source tree: DOORMAN_SRCDIR, else found from this file's location.
sub srcdir { return $ENV{DOORMAN_SRCDIR} || $ROOT }

sub bin {
    my ($self) = @_;
    return $self->{bin} if defined $self->{bin};
    return $ENV{DOORMAN_BIN} if $ENV{DOORMAN_BIN};
    return srcdir() . '/objs/doorman';
}

sub prefix { return $_[0]{prefix} }

# An absolute path for a path relative to the prefix (absolute stays).
sub path {
    my ($self, $rel) = @_;
    return $rel if $rel =~ m{^/};
    return "$self->{prefix}/$rel";
}

sub conf_file { return $_[0]{conf} }

# ---------------------------------------------------------------------------
# ports

# A free loopback TCP port (bound on 127.0.0.1 with port 0, read, closed),
# never handed out twice by this process and free on ::1 too when there is
# IPv6 loopback. It is closed before it is returned, so another program
# could take it meanwhile: rare, as the kernel spreads its choices.
sub port {
    my ($self, %o) = @_;
    return _free_port($o{udp} ? 'udp' : 'tcp');
}

sub ports {
    my ($self, $n) = @_;
    return map { $self->port } 1 .. $n;
}

sub udp_port { return _free_port('udp') }

sub _free_port {
    my ($proto) = @_;
    for (1 .. 200) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => 0,
            Proto     => $proto,
            ($proto eq 'tcp' ? (Listen => 1) : ()),
        ) or croak "cannot bind a $proto socket on 127.0.0.1: $@";
        my $p = $s->sockport;
        close $s;
        next if $USED_PORTS{$p};
        # free on ::1 as well when there is IPv6 loopback, so that a test
        # may listen on both with one number
        next unless _free_on_v6($p, $proto);
        $USED_PORTS{$p} = 1;
        return $p;
    }
    croak "no free $proto port found";
}

sub _free_on_v6 {
    my ($p, $proto) = @_;
    my $s = IO::Socket::IP->new(
        LocalHost => '::1',
        LocalPort => $p,
        Proto     => $proto,
        ($proto eq 'tcp' ? (Listen => 1) : ()),
    );
    return 1 if $s;
    return 0 if $! == EADDRINUSE;
    return 1;    # no IPv6 loopback here: nothing to collide with
}

# The port a %%PORT_n%% (or %%UDP_PORT_n%%) placeholder stands for,
# allocated on first use.
sub port_n {
    my ($self, $n) = @_;
    return $self->{tcp}{$n} //= $self->port;
}

sub udp_port_n {
    my ($self, $n) = @_;
    return $self->{udp}{$n} //= $self->udp_port;
}

# ---------------------------------------------------------------------------
# files

sub substitute {
    my ($self, $text) = @_;
    $text =~ s{%%PORT_(\d+)%%}{$self->port_n($1)}ge;
    $text =~ s{%%UDP_PORT_(\d+)%%}{$self->udp_port_n($1)}ge;
    $text =~ s{%%PREFIX%%}{$self->{prefix}}g;
    $text =~ s{%%SRCDIR%%}{srcdir()}ge;
    if ($text =~ /(%%[A-Z0-9_]+%%)/) {
        croak "unknown placeholder $1";
    }
    return $text;
}

sub write_file {
    my ($self, $rel, $content, %o) = @_;
    my $path = $self->path($rel);
    $content = $self->substitute($content) if $o{subst};
    make_path(dirname($path));
    open my $fh, '>', $path or croak "open $path: $!";
    binmode $fh;
    print {$fh} $content or croak "write $path: $!";
    close $fh or croak "close $path: $!";
    return $path;
}

# Writes a configuration file (placeholders substituted) and makes it the
# file test_conf() and run() use. Returns its absolute path.
sub write_conf {
    my ($self, $text, %o) = @_;
    my $name = $o{name} // 'doorman.conf';
    my $path = $self->write_file($name, $text, subst => 1);
    $self->{conf} = $path unless $o{include};
    return $path;
}

sub read_file {
    my ($self, $rel) = @_;
    my $path = $self->path($rel);
    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

# ---------------------------------------------------------------------------
# running commands to completion

# run_cmd(ARGV..., {timeout => S, env => {...}, stdin => BYTES}):
# runs a command to its end, bounded (default 30 s; on timeout it is killed
# and the exit code is 124). Returns (exit code, stdout, stderr); an exit
# by a signal is 128 + the signal number.
sub run_cmd {
    my ($self, @argv) = @_;
    my %o = ref $argv[-1] eq 'HASH' ? %{pop @argv} : ();
    my $timeout = $o{timeout} // 30;
    my $tmp = tempdir('cmd-XXXXXX', DIR => $self->{prefix}, CLEANUP => 0);
    my ($out, $err) = ("$tmp/stdout", "$tmp/stderr");
    my $in;
    if (defined $o{stdin}) {
        $in = "$tmp/stdin";
        $self->write_file($in, $o{stdin});
    }
    my $p = $self->_spawn(\@argv, stdout => $out, stderr => $err,
        stdin => $in, env => $o{env}, cwd => $o{cwd}, name => $argv[0],
        quiet => 1);
    my $status = $p->wait_exit($timeout);
    my $timed_out = !defined $status;
    if ($timed_out) {
        $p->kill_all('KILL');
        $status = $p->wait_exit(5);
    }
    my ($so, $se) = ($self->read_file($out), $self->read_file($err));
    remove_tree($tmp);
    $self->{procs} = [grep { $_ != $p } @{$self->{procs}}];
    return (124, $so, $se . "\n[killed after ${timeout} s]\n") if $timed_out;
    return (_exit_code($status), $so, $se);
}

sub _exit_code {
    my ($status) = @_;
    return -1 if !defined $status || $status == -1;
    return 128 + ($status & 127) if $status & 127;
    return $status >> 8;
}

# test_conf(conf => FILE, g => 'DIRECTIVES', args => [...], dump => 1):
# doorman -t (or -T) -p PREFIX -c FILE. Returns (exit code, stderr, stdout).
sub test_conf {
    my ($self, %o) = @_;
    my $conf = $o{conf} // $self->{conf} // croak 'no configuration written';
    my @argv = ($self->bin, $o{dump} ? '-T' : '-t', '-p', "$self->{prefix}/",
        '-c', $conf);
    push @argv, '-g', $o{g} if defined $o{g};
    push @argv, @{$o{args}} if $o{args};
    my ($code, $out, $err) = $self->run_cmd(@argv, {timeout => $o{timeout}});
    return ($code, $err, $out);
}

# The output of doorman -V (on stderr, as nginx prints it), cached per
# binary for the whole test.
my %V_CACHE;

sub version_info {
    my ($self) = @_;
    my $bin = $self->bin;
    return $V_CACHE{$bin} if defined $V_CACHE{$bin};
    my ($code, $out, $err) = eval { $self->run_cmd($bin, '-V', {timeout => 10}) };
    ($code, $out, $err) = (-1, '', $@) unless defined $code;
    if ($code != 0) {
        Test::More::diag("$bin -V failed (exit $code): $err$out");
        return '';
    }
    return $V_CACHE{$bin} = $err . $out;
}

sub modules {
    my ($self) = @_;
    return $self->version_info =~ /^module: (\S+)\s*$/mg;
}

sub has {
    my ($self, @m) = @_;
    my %have = map { $_ => 1 } $self->modules;
    return !grep { !$have{$_} } @m;
}

# Skips the whole test file (before any plan or test) unless every module
# named is compiled in. Returns the object, so it chains.
sub skip_unless_has {
    my ($self, @m) = @_;
    my %have = map { $_ => 1 } $self->modules;
    my @missing = grep { !$have{$_} } @m;
    return $self unless @missing;
    my $tb = Test::More->builder;
    if (!$tb->has_plan && $tb->current_test == 0) {
        Test::More::plan(skip_all => "doorman is built without @missing");
    }
    croak "skip_unless_has(@missing) after the plan or a test: "
        . 'use has() in a SKIP block instead';
}

# ---------------------------------------------------------------------------
# running doorman (or a stand-in)

# Does the configuration text set this top-level directive?
sub _conf_sets {
    my ($text, $name) = @_;
    my @v = $text =~ /^[ \t]*\Q$name\E[ \t]+("[^"]*"|'[^']*'|[^;\s]+)/mg;
    s/^["']|["']$//g for @v;
    return @v;
}

sub _conf_text {
    my ($self, $conf) = @_;
    open my $fh, '<', $conf or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

# doorman_argv(conf => FILE, g => STR, args => [...], plain => 1): the
# command line run() uses, as {argv => [...], daemon => 0|1, pid_file =>
# PATH, error_log => PATH}. Unless the file (or g) sets them, or plain is
# given, -g gets "daemon off; pid logs/doorman.pid; error_log
# logs/error.log notice;".
sub doorman_argv {
    my ($self, %o) = @_;
    my $conf = $o{conf} // $self->{conf} // croak 'no configuration written';
    $conf = $self->path($conf);
    my $text = $self->_conf_text($conf);
    my $g = $o{g} // '';
    my ($d) = _conf_sets($text, 'daemon');
    my ($pf) = _conf_sets($text, 'pid');
    my ($el) = _conf_sets($text, 'error_log');
    my ($gd) = $g =~ /(?:^|[;\s])daemon\s+(\w+)/;
    my ($gpf) = $g =~ /(?:^|[;\s])pid\s+([^;\s]+)/;
    my ($gel) = $g =~ /(?:^|[;\s])error_log\s+([^;\s]+)/;
    my @add;
    unless ($o{plain}) {
        push @add, 'daemon off;' unless defined $d || defined $gd;
        push @add, 'pid logs/doorman.pid;' unless defined $pf || defined $gpf;
        push @add, 'error_log logs/error.log notice;'
            unless defined $el || defined $gel;
    }
    $d //= $gd;
    $pf //= $gpf // 'logs/doorman.pid';
    $el //= $gel // 'logs/error.log';
    $el = 'logs/error.log' if $el eq 'stderr' || $el =~ /^syslog:/;
    my $all_g = join ' ', grep { length } $g, @add;
    return {
        argv => [$self->bin, '-p', "$self->{prefix}/", '-c', $conf,
            (length $all_g ? ('-g', $all_g) : ()), @{$o{args} || []}],
        daemon => (defined $d && lc $d eq 'on') ? 1 : 0,
        pid_file => $self->path($pf),
        error_log => $self->path($el),
    };
}

# run(%o): starts doorman in the foreground, or o{cmd}, and waits until it
# serves. Options:
#   conf => FILE       the configuration (default: the last write_conf)
#   g => 'DIRECTIVES'  more -g directives
#   args => [...]      more command-line arguments
#   plain => 1         no directive added (see below)
#   cmd => [ARGV]      start this command instead of doorman
#   daemon => 1        the command daemonizes: the master is the pid in
#                      pid_file once the started process has exited 0
#                      (set for doorman when the file says "daemon on")
#   pid_file => PATH   (with cmd) where the daemon writes its pid
#   error_log => PATH  (with cmd) the file error_log() reads
#   wait_ports => [P]  TCP ports (or "HOST:PORT") that must accept
#   wait_udp_ports => [P]  UDP ports that must be bound (/proc/net/udp)
#   wait => sub {}     a condition that must hold as well
#   timeout => S       bound of the wait (default 5)
#   env => {K => V}    environment changes (undef deletes)
# Unless the file sets them (or plain => 1), doorman gets -g 'daemon off;
# pid logs/doorman.pid; error_log logs/error.log notice;' so that it stays
# in the foreground and writes nothing outside the prefix. stdout and
# stderr go to logs/stderr.log. Dies, after killing what it started and
# with the tail of the logs, when the process exits or is not ready in
# time. Returns the object.
sub run {
    my ($self, %o) = @_;
    croak 'already running: stop() first'
        if $self->{main} && $self->{main}->alive;
    my (@argv, $daemon, $pid_file, $error_log);

    if ($o{cmd}) {
        @argv = @{$o{cmd}};
        $daemon = $o{daemon} ? 1 : 0;
        $pid_file = $o{pid_file} && $self->path($o{pid_file});
        $error_log = $self->path($o{error_log} // 'logs/error.log');
        croak 'daemon => 1 needs pid_file' if $daemon && !$pid_file;
    } else {
        my $d = $self->doorman_argv(%o);
        @argv = @{$d->{argv}};
        ($daemon, $pid_file, $error_log) = @$d{qw(daemon pid_file error_log)};
    }

    my $log = $self->path('logs/stderr.log');
    $self->{error_log_from} = _size($error_log);
    my $stale = $daemon ? _read_pid($pid_file) : undef;
    my $p = $self->_spawn(\@argv, stdout => $log, stderr => $log,
        env => $o{env}, name => $o{name} // 'main');
    $p->{daemon} = $daemon;
    $p->{stale_pid} = $stale;
    $p->{pid_file} = $pid_file;
    $self->{main} = $p;
    $self->{error_log_path} = $error_log;
    $self->{pid_file} = $pid_file;
    $self->{stderr_from} = $p->{log_from};

    my $err = $self->_wait_ready($p, %o);
    if ($err) {
        my $tail = $self->log_tail(30);
        $p->kill_all('KILL');
        $p->wait_exit(5);
        croak "$err\n$tail";
    }
    return $self;
}

# Generic start of another process (a backend, a second doorman): the
# same options as run() with cmd, but the process is not the main one.
# Returns a Doorman::Test::Process.
sub spawn {
    my ($self, %o) = @_;
    croak 'spawn needs cmd => [...]' unless $o{cmd};
    my $log = $self->path($o{log} // 'logs/' . ($o{name} // 'spawn') . '.log');
    my $pid_file = $o{pid_file} && $self->path($o{pid_file});
    croak 'daemon => 1 needs pid_file' if $o{daemon} && !$pid_file;
    my $stale = $o{daemon} ? _read_pid($pid_file) : undef;
    my $p = $self->_spawn($o{cmd}, stdout => $log, stderr => $log,
        env => $o{env}, name => $o{name} // 'spawn');
    $p->{daemon} = $o{daemon} ? 1 : 0;
    $p->{pid_file} = $pid_file;
    $p->{stale_pid} = $stale;
    my $err = $self->_wait_ready($p, %o);
    if ($err) {
        my $tail = _tail_of($log, $p->{log_from}, 30);
        $p->kill_all('KILL');
        $p->wait_exit(5);
        croak "$err\n--- $log\n$tail";
    }
    return $p;
}

# Waits until p serves; returns undef, or what went wrong.
sub _wait_ready {
    my ($self, $p, %o) = @_;
    my $timeout = $o{timeout} // 5;
    my $deadline = time + $timeout;
    my @tcp = @{$o{wait_ports} || []};
    my @udp = @{$o{wait_udp_ports} || []};
    my %ok;

    for (;;) {
        my $st = $p->_reap;
        my $waiting_daemon = 0;
        if (defined $st) {
            if ($p->{daemon} && !$p->{detached} && $st == 0) {
                # the foreground part of a daemon is done: its master is
                # the pid in the pid file, once it is there
                my $mp = _read_pid($p->{pid_file});
                if ($mp && _alive($mp)
                    && !($p->{stale_pid} && $mp == $p->{stale_pid})) {
                    $p->_follow($mp);
                    next;
                }
                $waiting_daemon = 1;
            } else {
                return sprintf '%s exited (%s) before it was ready%s',
                    $p->{name}, _describe_status($st),
                    $p->{detached} ? " (pid $p->{pid})" : '';
            }
        }
        unless ($waiting_daemon) {
            my $ready = 1;
            for my $port (@tcp) {
                next if $ok{"t$port"};
                if (_tcp_accepts($port)) { $ok{"t$port"} = 1 } else { $ready = 0 }
            }
            for my $port (@udp) {
                next if $ok{"u$port"};
                if (_udp_bound($port)) { $ok{"u$port"} = 1 } else { $ready = 0 }
            }
            $ready &&= $o{wait}->() if $ready && $o{wait};
            return undef if $ready;
        }
        if (time >= $deadline) {
            return "$p->{name} exited 0 but its pid file $p->{pid_file} names"
                . ' no live process' if $waiting_daemon;
            my @miss = ((map { "tcp $_" } grep { !$ok{"t$_"} } @tcp),
                (map { "udp $_" } grep { !$ok{"u$_"} } @udp));
            return sprintf '%s not ready after %s s%s', $p->{name}, $timeout,
                @miss ? " (not serving: @miss)"
                : ($o{wait} ? ' (wait condition false)' : '');
        }
        sleep 0.02;
    }
}

sub _describe_status {
    my ($st) = @_;
    return 'gone' if $st == -1;
    return 'exit ' . ($st >> 8) unless $st & 127;
    my %name = reverse %SIGNUM;
    return 'killed by SIG' . ($name{$st & 127} // $st & 127);
}

sub _split_hostport {
    my ($spec) = @_;
    return ('127.0.0.1', $spec) if $spec =~ /^\d+$/;
    return ($1, $2) if $spec =~ /^\[(.*)\]:(\d+)$/;
    return ($1, $2) if $spec =~ /^(.*):(\d+)$/;
    croak "bad port \"$spec\"";
}

sub _tcp_accepts {
    my ($spec) = @_;
    my ($host, $port) = _split_hostport($spec);
    my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
        Proto => 'tcp', Timeout => 0.5);
    return 0 unless $s;
    close $s;
    return 1;
}

sub _udp_bound {
    my ($spec) = @_;
    my (undef, $port) = _split_hostport($spec);
    my $hex = sprintf '%04X', $port;
    for my $f ('/proc/net/udp', '/proc/net/udp6') {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            return 1 if /^\s*\d+:\s+[0-9A-F]+:$hex\s/;
        }
    }
    return 0;
}

sub pid {
    my ($self) = @_;
    return $self->{main} ? $self->{main}{pid} : undef;
}

sub process { return $_[0]{main} }

sub pid_file { return $_[0]{pid_file} // $_[0]->path('logs/doorman.pid') }

# Makes the master the process whose pid the pid file holds now (after a
# binary upgrade); returns that pid, or undef when there is none alive.
sub follow_pid_file {
    my ($self, $file) = @_;
    my $mp = _read_pid($file // $self->pid_file);
    return undef unless $mp && _alive($mp);
    croak 'nothing running' unless $self->{main};
    $self->{main}->_follow($mp);
    return $mp;
}

sub _read_pid {
    my ($file) = @_;
    return undef unless defined $file;
    open my $fh, '<', $file or return undef;
    my $l = <$fh> // '';
    return $l =~ /^\s*(\d+)/ ? $1 : undef;
}

sub signal {
    my ($self, $sig) = @_;
    return $self->{main} ? $self->{main}->signal($sig) : 0;
}

# stop(signal => 'TERM', timeout => S): signals the master, waits (bounded)
# for it and every process of its tree, then KILLs what is left; reaps.
# Returns the master's wait status (undef when it was not our child or
# never ran); in list context also whether KILL was needed.
sub stop {
    my ($self, %o) = @_;
    my $p = delete $self->{main} or return;
    my ($st, $killed) = $p->stop(%o);
    $self->{last_status} = $st;
    return wantarray ? ($st, $killed) : $st;
}

sub stop_all {
    my ($self) = @_;
    $self->stop if $self->{main};
    for my $p (@{$self->{procs}}) {
        $p->stop(timeout => 3) if $p->alive || $p->leftovers;
    }
}

# Live children of the master from /proc: all but the helper process (and
# a new master forked by a binary upgrade). With current => 1, workers
# whose title says they are retiring are left out.
sub worker_pids {
    my ($self, %o) = @_;
    my $m = $self->pid or return ();
    my @w;
    for my $c (_children($m)) {
        next if $c->{state} eq 'Z';
        next if $c->{cmdline} =~ $TITLE_HELPER;
        next if $c->{cmdline} =~ $TITLE_MASTER;
        next if $o{current} && $c->{cmdline} =~ $TITLE_RETIRING;
        push @w, $c->{pid};
    }
    @w = sort { $a <=> $b } @w;
    return wantarray ? @w : scalar @w;
}

sub helper_pid {
    my ($self) = @_;
    my $m = $self->pid or return undef;
    for my $c (_children($m)) {
        return $c->{pid} if $c->{state} ne 'Z' && $c->{cmdline} =~ $TITLE_HELPER;
    }
    return undef;
}

# /proc/PID/cmdline as one string (a rewritten title keeps its spaces).
sub cmdline {
    my ($self, $pid) = @_;
    return _cmdline($pid);
}

# reload(%o): HUP, then waits (bounded, timeout => S, default 10) until
#   until => sub {}  holds, or else
#   log => qr//     matches the error log written since the HUP, or else
#   (default) the error log says the new generation serves
#   ($RELOAD_DONE_RE), or the workers not retiring are all new.
# With the default condition, a refusal logged after the HUP
# ($RELOAD_FAIL_RE) ends the wait at once. Returns true when the
# condition held, false otherwise (a refused reload: see expect_fail).
# expect_fail => 1: waits for the refusal instead, true when it is logged
# and the master is still alive.
sub reload {
    my ($self, %o) = @_;
    my $timeout = $o{timeout} // 10;
    my $from = $self->log_offset;
    my %old = map { $_ => 1 } $self->worker_pids;
    $self->signal('HUP') or return 0;
    my $cond;
    if ($o{until}) {
        $cond = $o{until};
    } elsif ($o{log}) {
        my $re = $o{log};
        $cond = sub { $self->error_log_since($from) =~ $re };
    } elsif ($o{expect_fail}) {
        $cond = sub {
            $self->error_log_since($from) =~ $RELOAD_FAIL_RE
                && $self->{main} && $self->{main}->alive;
        };
    } else {
        my $failed = 0;
        $cond = sub {
            my $new = $self->error_log_since($from);
            return 1 if $new =~ $RELOAD_DONE_RE;
            if ($new =~ $RELOAD_FAIL_RE) {
                $failed = 1;
                return 1;
            }
            return 0 unless %old;
            my @w = $self->worker_pids(current => 1);
            return @w && !grep { $old{$_} } @w;
        };
        my $ok = $self->wait_for($cond, timeout => $timeout);
        return $ok && !$failed;
    }
    return $self->wait_for($cond, timeout => $timeout);
}

# ---------------------------------------------------------------------------
# logs

sub error_log_path { return $_[0]{error_log_path} // $_[0]->path('logs/error.log') }

sub error_log { my ($self) = @_; return $self->read_file($self->error_log_path) }

sub stderr_log { my ($self) = @_; return $self->read_file('logs/stderr.log') }

# The error log's size now, for error_log_since().
sub log_offset { my ($self) = @_; return _size($self->error_log_path) }

sub _size { my ($f) = @_; return (-s $f) || 0 }

# What the error log got from the offset on.
sub error_log_since {
    my ($self, $from) = @_;
    open my $fh, '<', $self->error_log_path or return '';
    binmode $fh;
    seek $fh, $from // 0, 0 or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

# wait_log(qr//, from => OFFSET, timeout => S): true once the error log
# (from the offset on) matches.
sub wait_log {
    my ($self, $re, %o) = @_;
    my $from = $o{from} // 0;
    return $self->wait_for(sub { $self->error_log_since($from) =~ $re },
        timeout => $o{timeout} // 5);
}

sub _tail_of {
    my ($file, $from, $n) = @_;
    open my $fh, '<', $file or return "(no $file)\n";
    binmode $fh;
    local $/;
    my $s = <$fh> // '';
    $s = substr($s, $from) if $from && length $s >= $from;
    my @l = split /\n/, $s;
    @l = @l[-$n .. -1] if @l > $n;
    return join('', map { "$_\n" } @l) || "(empty)\n";
}

# The last n lines of stderr.log (since the last run) and of the error log.
sub log_tail {
    my ($self, $n) = @_;
    $n //= 30;
    my $el = $self->error_log_path;
    my $s = "--- logs/stderr.log\n"
        . _tail_of($self->path('logs/stderr.log'), $self->{stderr_from}, $n);
    $s .= "--- $el\n" . _tail_of($el, $self->{error_log_from}, $n)
        if -e $el;
    return $s;
}

# ---------------------------------------------------------------------------
# waiting

# wait_for(sub {...}, timeout => S, interval => S): polls the condition
# until it returns true (returned) or the time is up (returns 0).
sub wait_for {
    my ($self, $cond, %o) = @_;
    my $deadline = time + ($o{timeout} // 5);
    my $interval = $o{interval} // 0.02;
    for (;;) {
        my $r = $cond->();
        return $r if $r;
        return 0 if time >= $deadline;
        sleep $interval;
    }
}

# ---------------------------------------------------------------------------
# small clients

# A connected TCP socket (bounded connect), non-blocking from then on so
# that no read or write can outlast the deadline.
sub _connect {
    my ($host, $port, $timeout) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
        Proto => 'tcp', Timeout => $timeout) or return;
    $s->blocking(0);
    return $s;
}

sub _send_all {
    my ($s, $bytes, $deadline) = @_;
    local $SIG{PIPE} = 'IGNORE';    # a peer that closed is an EPIPE here
    my $off = 0;
    my $sel = IO::Select->new($s);
    while ($off < length $bytes) {
        my $left = $deadline - time;
        return 'timeout' if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite $s, $bytes, length($bytes) - $off, $off;
        if (!defined $n) {
            next if $! == EINTR || $!{EAGAIN} || $!{EWOULDBLOCK};
            return "send: $!";
        }
        $off += $n;
    }
    return undef;
}

# Reads until EOF, the deadline, or $done->($data) says it is complete.
sub _read_until {
    my ($s, $deadline, $done) = @_;
    my $data = '';
    my $sel = IO::Select->new($s);
    for (;;) {
        return ($data, 'done') if $done && $done->($data);
        my $left = $deadline - time;
        return ($data, 'timeout') if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread $s, my $buf, 65536;
        if (!defined $n) {
            next if $! == EINTR || $!{EAGAIN} || $!{EWOULDBLOCK};
            return ($data, $!{ECONNRESET} ? 'reset' : "recv: $!");
        }
        return ($data, 'eof') if $n == 0;
        $data .= $buf;
    }
}

# tcp_request($port, $bytes, timeout => S, host => H, half_close => 1):
# connects, sends the bytes (if any; half_close shuts the write side after
# them), reads until EOF or the timeout (default 5 s). Returns the bytes
# read; in list context (bytes, how it ended: eof, timeout, reset,
# "connect: ...", ...).
sub tcp_request {
    my ($self, $port, $bytes, %o) = @_;
    my $timeout = $o{timeout} // 5;
    my $deadline = time + $timeout;
    my $s = _connect($o{host} // '127.0.0.1', $port, $timeout)
        or return wantarray ? ('', "connect: $@") : '';
    my $err;
    $err = _send_all($s, $bytes, $deadline) if defined $bytes && length $bytes;
    shutdown $s, SHUT_WR if $o{half_close} && !$err;
    # what the peer sent before it closed is still read after a failed send
    my ($data, $how) = _read_until($s, $deadline);
    $how = "$err, then $how" if $err;
    close $s;
    return wantarray ? ($data, $how) : $data;
}

# udp_request($port, $bytes, timeout => S): one datagram out, the first
# datagram back (or undef after the timeout).
sub udp_request {
    my ($self, $port, $bytes, %o) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $o{host} // '127.0.0.1',
        PeerPort => $port, Proto => 'udp') or return undef;
    send $s, $bytes, 0 or return undef;
    my $sel = IO::Select->new($s);
    return undef unless $sel->can_read($o{timeout} // 5);
    my $buf;
    defined recv($s, $buf, 65536, 0) or return undef;
    return $buf;
}

# Parses one HTTP/1.x response from the start of $data. Returns undef
# while it is incomplete (unless $eof), else (status, headers, body,
# complete). Header names are lower-cased; repeated fields are joined with
# ", " (Set-Cookie with "\n").
sub _parse_response {
    my ($data, $eof, $head_only) = @_;
    my $end = index $data, "\r\n\r\n";
    my $sep = 4;
    if ($end < 0) {
        $end = index $data, "\n\n";
        $sep = 2;
    }
    if ($end < 0) {
        return if !$eof;
        return (undef, {}, $data, 0);
    }
    my ($line, @fields) = split /\r?\n/, substr($data, 0, $end);
    my ($status) = ($line // '') =~ m{^HTTP/\d\.\d (\d{3})};
    my %h;
    for (@fields) {
        my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? $h{$k} . ($k eq 'set-cookie' ? "\n" : ', ') . $v : $v;
    }
    my $rest = substr $data, $end + $sep;
    if (defined $status && $status =~ /^1/ && $status != 101) {
        # an interim response: the final one follows
        my @r = _parse_response($rest, $eof, $head_only);
        return @r;
    }
    if ($head_only || (defined $status && ($status == 204 || $status == 304))) {
        return ($status, \%h, '', 1);
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked\s*$/i) {
        my ($body, $pos) = ('', 0);
        for (;;) {
            my $nl = index $rest, "\n", $pos;
            last if $nl < 0;
            my ($size) = substr($rest, $pos, $nl - $pos) =~ /^([0-9a-fA-F]+)/;
            last unless defined $size;
            $size = hex $size;
            if ($size == 0) {
                # trailers up to the empty line
                my $t = index $rest, "\r\n\r\n", $nl - 1;
                $t = index $rest, "\n\n", $nl - 1 if $t < 0;
                return ($status, \%h, $body, 1) if $t >= 0 || $eof;
                return if !$eof;
            }
            last if length($rest) < $nl + 1 + $size;
            $body .= substr $rest, $nl + 1, $size;
            $pos = $nl + 1 + $size;
            $pos += 2 if substr($rest, $pos, 2) eq "\r\n";
            $pos += 1 if substr($rest, $pos, 1) eq "\n";
        }
        return if !$eof;
        return ($status, \%h, $body, 0);
    }
    if (defined $h{'content-length'} && $h{'content-length'} =~ /^(\d+)/) {
        my $len = $1;
        return ($status, \%h, substr($rest, 0, $len), 1) if length $rest >= $len;
        return if !$eof;
        return ($status, \%h, $rest, 0);
    }
    return if !$eof;    # delimited by close
    return ($status, \%h, $rest, 1);
}

# http_request(port => P, method => 'GET', path => '/', headers => [K, V,
# ...] or {K => V}, body => BYTES, host => H, timeout => S, raw => BYTES):
# one request on a new connection (Host: localhost and Connection: close
# unless given); reads until the response is complete, EOF or the
# timeout. Returns (status, headers hashref, body); status is undef when
# no complete response head came. $t->{last_response} keeps the raw bytes
# and $t->{last_end} how the read ended.
sub http_request {
    my ($self, %o) = @_;
    my $timeout = $o{timeout} // 5;
    my $deadline = time + $timeout;
    my $method = $o{method} // 'GET';
    my $req = $o{raw};
    unless (defined $req) {
        my @h = ref $o{headers} eq 'HASH' ? %{$o{headers}} : @{$o{headers} || []};
        my %lc;
        for (my $i = 0; $i < @h; $i += 2) { $lc{lc $h[$i]} = 1 }
        $req = "$method " . ($o{path} // '/') . " HTTP/1.1\r\n";
        $req .= "Host: localhost\r\n" unless $lc{host};
        $req .= "Connection: close\r\n" unless $lc{connection};
        $req .= "Content-Length: " . length($o{body}) . "\r\n"
            if defined $o{body} && !$lc{'content-length'}
            && !$lc{'transfer-encoding'};
        for (my $i = 0; $i < @h; $i += 2) { $req .= "$h[$i]: $h[$i + 1]\r\n" }
        $req .= "\r\n" . ($o{body} // '');
    }
    my $s = _connect($o{host} // '127.0.0.1', $o{port}, $timeout);
    unless ($s) {
        $self->{last_response} = '';
        $self->{last_end} = "connect: $@";
        return wantarray ? (undef, {}, '') : undef;
    }
    my $err = _send_all($s, $req, $deadline);
    my $head_only = $req =~ /^HEAD /;
    my ($data, $how) = _read_until($s, $deadline,
        sub { my @r = _parse_response($_[0], 0, $head_only); @r > 0 });
    close $s;
    $self->{last_response} = $data;
    $self->{last_end} = $err // $how;
    my @r = _parse_response($data, 1, $head_only);
    return wantarray ? ($r[0], $r[1] // {}, $r[2] // '') : $r[0];
}

sub http_get {
    my ($self, $port, $path, %headers) = @_;
    return $self->http_request(port => $port, path => $path,
        headers => [%headers]);
}

# ---------------------------------------------------------------------------
# processes

sub _spawn {
    my ($self, $argv, %o) = @_;
    croak 'empty command' unless @$argv;
    my $log_from = defined $o{stdout} ? _size($o{stdout}) : 0;
    pipe my $r, my $w or croak "pipe: $!";    # close-on-exec: exec report
    # nothing buffered may be written twice (a child flushes its copy)
    STDOUT->flush;
    STDERR->flush;
    Test::More->builder->output->flush;
    Test::More->builder->failure_output->flush;
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        eval {
            close $r;
            POSIX::setpgid(0, 0);
            _die_with_parent();
            for my $sig (qw(HUP INT QUIT TERM PIPE ALRM CHLD USR1 USR2 WINCH
                    TTIN TTOU TSTP CONT)) {
                $SIG{$sig} = 'DEFAULT';
            }
            POSIX::sigprocmask(SIG_SETMASK, POSIX::SigSet->new);
            my $in = $o{stdin} // '/dev/null';
            open STDIN, '<', $in or die "open $in: $!";
            if (defined $o{stdout}) {
                sysopen my $fh, $o{stdout}, O_WRONLY | O_CREAT | O_APPEND
                    or die "open $o{stdout}: $!";
                open STDOUT, '>&', $fh or die "dup stdout: $!";
                if (defined $o{stderr} && $o{stderr} ne $o{stdout}) {
                    sysopen my $fe, $o{stderr}, O_WRONLY | O_CREAT | O_APPEND
                        or die "open $o{stderr}: $!";
                    open STDERR, '>&', $fe or die "dup stderr: $!";
                } else {
                    open STDERR, '>&', $fh or die "dup stderr: $!";
                }
            }
            # the inherited-sockets variable of a binary upgrade is never
            # passed on by accident
            delete $ENV{DOORMAN};
            if ($o{env}) {
                while (my ($k, $v) = each %{$o{env}}) {
                    if (defined $v) { $ENV{$k} = $v } else { delete $ENV{$k} }
                }
            }
            chdir $o{cwd} or die "chdir $o{cwd}: $!" if defined $o{cwd};
            exec { $argv->[0] } @$argv or die "exec $argv->[0]: $!\n";
        };
        print {$w} $@ || "child setup failed\n";
        close $w;
        POSIX::_exit(127);
    }
    close $w;
    POSIX::setpgid($pid, $pid);    # as the child does: no race either way
    my $msg = do { local $/; <$r> } // '';
    close $r;
    $self->{ran} = 1 unless $o{quiet};
    my $p = Doorman::Test::Process->_new(pid => $pid, name => $o{name},
        log => $o{stdout}, log_from => $log_from);
    push @{$self->{procs}}, $p;
    if (length $msg) {
        $p->wait_exit(5);
        croak "cannot start @$argv: $msg";
    }
    return $p;
}

# prctl(PR_SET_PDEATHSIG, SIGKILL) where the syscall number is known: a
# test killed by SIGKILL (no END, no handler) still takes the process it
# started with it. Forks of that process (workers, a daemon) do not
# inherit it; the process group and stop() take care of them.
my %SYS_PRCTL = (x86_64 => 157, aarch64 => 167, i386 => 172, i686 => 172);

sub _die_with_parent {
    my ($arch) = $Config{archname} =~ /^([^-]+)/;
    my $nr = $SYS_PRCTL{$arch // ''} or return;
    eval { syscall($nr, 1, 9) };    # PR_SET_PDEATHSIG = 1, SIGKILL = 9
}

sub _proc_stat {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return;
    my $s = <$fh> // return;
    my $r = rindex $s, ')';
    return if $r < 0;
    my @f = split ' ', substr($s, $r + 2);
    # fields from 3 on: state ppid pgrp session ... starttime is field 22
    return {pid => $pid, state => $f[0], ppid => $f[1], pgrp => $f[2],
        start => $f[19]};
}

sub _cmdline {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/cmdline" or return '';
    local $/;
    my $s = <$fh> // '';
    $s =~ s/\0+$//;
    $s =~ tr/\0/ /;
    $s =~ s/\s+$//;
    return $s;
}

sub _all_stats {
    opendir my $d, '/proc' or return ();
    return grep { defined } map { _proc_stat($_) } grep { /^\d+$/ } readdir $d;
}

sub _children {
    my ($ppid) = @_;
    my @c = grep { $_->{ppid} == $ppid } _all_stats();
    $_->{cmdline} = _cmdline($_->{pid}) for @c;
    return @c;
}

# Every descendant of pid (pid, start time), from one scan of /proc.
sub _descendants {
    my ($pid) = @_;
    my %kids;
    push @{$kids{$_->{ppid}}}, $_ for _all_stats();
    my (@out, @todo);
    @todo = ($pid);
    my %seen;
    while (@todo) {
        my $p = shift @todo;
        for my $c (@{$kids{$p} || []}) {
            next if $seen{$c->{pid}}++;
            push @out, $c;
            push @todo, $c->{pid};
        }
    }
    return @out;
}

# Alive and not a zombie.
sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    my $st = _proc_stat($pid);
    return $st && $st->{state} ne 'Z' && $st->{state} ne 'X';
}

# ---------------------------------------------------------------------------
# cleanup: nothing a test started outlives it

my $HANDLERS_SET;

sub _install_signal_handlers {
    return if $HANDLERS_SET++;
    for my $sig (qw(INT TERM ALRM HUP)) {
        my $cur = $SIG{$sig};
        next if defined $cur && $cur ne 'DEFAULT' && $cur ne '';
        $SIG{$sig} = sub {
            local $SIG{$sig} = 'DEFAULT';
            print STDERR "# Doorman::Test: SIG$sig, cleaning up\n";
            _cleanup_all();
            POSIX::_exit(128 + ($SIGNUM{$sig} // 0));
        };
    }
}

sub _cleanup_all {
    for my $t (grep { defined } values %LIVE) {
        $t->_cleanup;
    }
}

sub _cleanup {
    my ($self) = @_;
    return if $self->{cleaned} || $self->{owner} != $$;
    $self->{cleaned} = 1;
    local ($?, $!, $@);
    eval { $self->stop(timeout => 3) if $self->{main} };
    for my $p (@{$self->{procs}}) {
        eval { $p->stop(timeout => 3) if $p->alive || $p->leftovers };
    }
    my $tb = Test::More->builder;
    if (!$tb->is_passing && !$self->{quiet} && $self->{ran}) {
        my $tail = $self->log_tail(40);
        $tail =~ s/^/# /mg;
        print STDERR "# Doorman::Test: logs of $self->{prefix}:\n$tail";
    }
    if ($self->{keep}) {
        print STDERR "# Doorman::Test: kept $self->{prefix}\n"
            unless $self->{quiet};
    } else {
        remove_tree($self->{prefix});
    }
}

sub DESTROY {
    my ($self) = @_;
    $self->_cleanup;
    delete $LIVE{refaddr $self};
}

END {
    _cleanup_all();
}

# ===========================================================================

package Doorman::Test::Process;

# One process a test started (and the tree it forks): the pid we forked,
# which we reap, and the pid we follow (the same, or a daemon's master, or
# the new master of a binary upgrade). Every process of the tree seen so
# far is remembered by (pid, start time), so that stop() finds workers
# even after their master is gone, without ever killing a reused pid.

use strict;
use warnings;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

sub _new {
    my ($class, %o) = @_;
    my $self = bless {
        orig_pid => $o{pid},         # what we forked: ours to reap
        pid      => $o{pid},         # what we follow
        detached => 0,               # pid is not orig_pid
        pgrp     => $o{pid},         # setpgid(0, 0) in the child
        child_status => undef,       # wait status of orig_pid
        name     => $o{name} // 'process',
        log      => $o{log},
        log_from => $o{log_from} // 0,
        owner    => $$,
        known    => {},
    }, $class;
    $self->_remember;
    return $self;
}

sub pid { return $_[0]{pid} }
sub name { return $_[0]{name} }

# The wait status of the forked process once it has exited, else undef.
sub _reap_child {
    my ($self) = @_;
    return $self->{child_status} if defined $self->{child_status};
    return undef if $self->{owner} != $$;
    my $r = waitpid $self->{orig_pid}, WNOHANG;
    if ($r > 0) {
        $self->{child_status} = $?;
    } elsif ($r < 0) {
        $self->{child_status} = -1;    # reaped by someone else
    }
    return $self->{child_status};
}

# undef while the followed process runs; once it is gone, its wait status
# (-1 when it was not our child).
sub _reap {
    my ($self) = @_;
    my $cs = $self->_reap_child;
    return $cs unless $self->{detached};
    return Doorman::Test::_alive($self->{pid}) ? undef : -1;
}

sub status {
    my ($self) = @_;
    return $self->_reap;
}

sub _follow {
    my ($self, $pid) = @_;
    $self->_remember;
    $self->{pid} = $pid;
    $self->{detached} = $pid != $self->{orig_pid};
    my $st = Doorman::Test::_proc_stat($pid);
    $self->{pgrp} = $st->{pgrp} if $st;
    $self->_remember;
}

sub alive {
    my ($self) = @_;
    return 0 if defined $self->_reap;
    return Doorman::Test::_alive($self->{pid});
}

sub signal {
    my ($self, $sig) = @_;
    return 0 unless $self->alive;
    $self->_remember;
    return kill $sig, $self->{pid};
}

sub _remember {
    my ($self) = @_;
    for my $pid ($self->{pid}, $self->{orig_pid}) {
        my $st = Doorman::Test::_proc_stat($pid);
        next unless $st && $st->{state} ne 'Z';
        $self->{known}{$pid} = $st->{start};
        $self->{known}{$_->{pid}} = $_->{start}
            for Doorman::Test::_descendants($pid);
    }
}

# The remembered processes, and the members of its process group, that
# are still alive (zombies excluded).
sub leftovers {
    my ($self) = @_;
    my %left;
    for my $pid (keys %{$self->{known}}) {
        my $st = Doorman::Test::_proc_stat($pid);
        $left{$pid} = 1 if $st && $st->{start} == $self->{known}{$pid}
            && $st->{state} ne 'Z' && $st->{state} ne 'X';
    }
    if ($self->_group_ok) {
        $left{$_->{pid}} = 1
            for grep { $_->{pgrp} == $self->{pgrp} && $_->{state} ne 'Z' }
            Doorman::Test::_all_stats();
    }
    my @l = sort { $a <=> $b } keys %left;
    return wantarray ? @l : scalar @l;
}

sub _group_ok {
    my ($self) = @_;
    my $g = $self->{pgrp};
    return $g && $g > 1 && $g != getpgrp() && $self->{owner} == $$;
}

# Sends the signal to its process group and every remembered process.
sub kill_all {
    my ($self, $sig) = @_;
    $self->_remember;
    kill "-$sig", $self->{pgrp} if $self->_group_ok;
    my @l = $self->leftovers;
    kill $sig, @l if @l;
}

# Waits (bounded) for the followed process to exit; its status or undef.
sub wait_exit {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    for (;;) {
        my $st = $self->_reap;
        return $st if defined $st;
        return undef if time >= $deadline;
        sleep 0.02;
    }
}

sub _gone {
    my ($self) = @_;
    return defined $self->_reap && !$self->leftovers;
}

# stop(signal => 'TERM', timeout => 10): the signal to the followed
# process, a bounded wait for it and every process of its tree, then KILL
# to whatever is left, and reaping. Returns the wait status (undef when the
# process was not our child), and in list context whether KILL was needed.
sub stop {
    my ($self, %o) = @_;
    my $sig = $o{signal} // 'TERM';
    my $timeout = $o{timeout} // 10;
    my $killed = 0;
    if ($self->alive) {
        $self->_remember;
        kill $sig, $self->{pid};
    }
    my $deadline = time + $timeout;
    sleep 0.02 until $self->_gone || time >= $deadline;
    unless ($self->_gone) {
        $killed = 1;
        $self->kill_all('KILL');
        my $d2 = time + 5;
        sleep 0.02 until $self->_gone || time >= $d2;
    }
    $self->_reap_child;
    my $st = $self->{detached} ? undef : $self->{child_status};
    return wantarray ? ($st, $killed) : $st;
}

1;

__END__

=head1 NAME

Doorman::Test - the integration-test harness of doorman

=head1 SYNOPSIS

    use FindBin;
    use lib "$FindBin::Bin/lib";
    use Test::More;
    use Doorman::Test;

    my $t = Doorman::Test->new;
    $t->write_conf(<<'EOF');
    events { worker_connections 64; }
    stream { server { listen 127.0.0.1:%%PORT_1%%; return "hi\n"; } }
    EOF
    my ($code, $err) = $t->test_conf;
    is $code, 0, 'valid' or diag $err;
    $t->run(wait_ports => [$t->port_n(1)]);
    is $t->tcp_request($t->port_n(1), ''), "hi\n", 'served';
    ok $t->reload, 'reloaded';
    $t->stop;
    done_testing;

=head1 ENVIRONMENT

C<DOORMAN_BIN> (the binary; default F<objs/doorman> of the source tree),
C<DOORMAN_SRCDIR> (the source tree; default: found from this file),
C<DOORMAN_KEEP=1> (keep every prefix and say where it is).

Everything runs on 127.0.0.1 (or ::1), every wait is bounded, and every
process a test starts runs in its own process group and is killed at the
latest when the test ends: stop(), DESTROY, an END block, and handlers
for SIGINT, SIGTERM, SIGALRM and SIGHUP (installed when the test has none
of its own). When a test fails, the tails of the logs of every object that
ran something are printed at the end.

=head1 CONTRACTS FOR DOORMAN

Process titles (F</proc/PID/cmdline>): C<doorman: master process>,
C<doorman: worker process> (a retiring one says C<is shutting down>),
C<doorman: helper process>. A reload that has its new generation serving
logs a line matching C<$Doorman::Test::RELOAD_DONE_RE> (C<reload: generation
N serving>); a refused reload logs at C<[emerg]> or C<[alert]>. Until the
titles exist every child of the master counts as a worker.

=head1 METHODS

=over

=item new(keep => 0|1, bin => PATH, quiet => 0|1)

A fresh temporary prefix (under C<$TMPDIR>) with F<logs/>, removed with
the object or at exit unless kept (keep defaults to C<DOORMAN_KEEP>).
quiet: no log tails after a failure, no "kept" line.

=item bin, srcdir, prefix, path(REL), conf_file

The binary, the source tree, the prefix (no trailing slash), a path made
absolute against the prefix, the main configuration file last written.

=item port, ports(N), udp_port, port_n(N), udp_port_n(N)

Free loopback ports (bind port 0, read, close), never the same twice in
one test process. port_n(N) is the port of the C<%%PORT_N%%> placeholder
and udp_port_n(N) that of C<%%UDP_PORT_N%%>, allocated on first use.

=item write_conf(TEXT, name => 'doorman.conf', include => 0)

Writes TEXT into the prefix with C<%%PORT_n%%>, C<%%UDP_PORT_n%%>,
C<%%PREFIX%%> and C<%%SRCDIR%%> substituted (any other C<%%X%%> dies) and,
unless include => 1, makes it the main configuration. Returns the absolute
path. Relative includes are relative to the prefix (the main file's
directory).

=item write_file(REL, CONTENT, subst => 0), read_file(PATH), substitute(TEXT)

=item run_cmd(ARGV..., {timeout => 30, env => {K => V|undef}, stdin => BYTES, cwd => DIR})

Runs a command to its end; after the timeout it is killed and the exit
code is 124. Returns (exit code, stdout, stderr); a death by signal is
128 + the signal.

=item test_conf(conf => FILE, g => STR, args => [...], dump => 0)

C<doorman -t> (C<-T> with dump) C<-p PREFIX/ -c FILE [-g STR]>. Returns
(exit code, stderr, stdout).

=item version_info, modules, has(MODULE...), skip_unless_has(MODULE...)

The C<-V> text (cached per binary), its C<module: NAME> lines, whether
every module named is built in. skip_unless_has skips the whole file when
one is missing (call it before the plan); it returns the object.

=item doorman_argv(conf => FILE, g => STR, args => [...], plain => 0)

The command line run() uses: C<{argv, daemon, pid_file, error_log}>.
Unless the file (or g) sets them, or plain is true, C<-g> gets C<daemon
off; pid logs/doorman.pid; error_log logs/error.log notice;>, so doorman
stays in the foreground and writes nothing outside the prefix.

=item run(%options)

Starts doorman (doorman_argv) or C<cmd =E<gt> [ARGV]>, stdout and stderr
appended to F<logs/stderr.log>, and waits (C<timeout>, default 5 s) until
every C<wait_ports> port (a number on 127.0.0.1, or C<HOST:PORT>) accepts a
TCP connection, every C<wait_udp_ports> port is bound, and the C<wait>
condition holds. C<env =E<gt> {...}> changes the environment (C<DOORMAN>
is never inherited). A daemon (C<daemon on;> in the file, or C<daemon
=E<gt> 1, pid_file =E<gt> PATH> with cmd) is followed through its pid
file. Dies with the tails of the logs, having killed what it started, when
the process exits first or is not ready in time. Returns the object.

=item spawn(cmd => [ARGV], name => NAME, wait_ports => [...], ...)

Another process (a backend, a second doorman), with the same waiting;
output in F<logs/NAME.log>. Returns a Doorman::Test::Process: pid, name,
alive, signal(SIG), stop(%o), wait_exit(S), kill_all(SIG), status,
leftovers.

=item pid, process, pid_file, follow_pid_file(FILE)

The master's pid; its process object; its pid file; follow the master the
pid file names now (after a binary upgrade; the old one is still killed
at the end if it lives).

=item signal(NAME), stop(signal => 'TERM', timeout => 10), stop_all

stop signals the master, waits (bounded) for it and every process of its
tree (remembered from F</proc> by pid and start time, and its process
group), then KILLs what is left, and reaps. Returns the master's wait
status (undef when it was not our child) and, in list context, whether
KILL was needed. stop_all stops every process the object started.

=item worker_pids(current => 0), helper_pid, cmdline(PID)

The master's live children except the helper (and a new master); with
current => 1, retiring workers are left out. In scalar context, their
number.

=item reload(timeout => 10, until => SUB, log => RE, expect_fail => 0)

SIGHUP, then a bounded wait. By default: until the error log (from the
HUP on) matches C<$RELOAD_DONE_RE> or the current workers are all new;
true then, false on a logged refusal or the timeout. With until or log:
that condition. With expect_fail => 1: true once a refusal is logged and
the master still lives.

=item error_log, error_log_path, stderr_log, log_offset, error_log_since(OFFSET), wait_log(RE, from => OFFSET, timeout => 5), log_tail(N)

=item wait_for(SUB, timeout => 5, interval => 0.02)

Polls until SUB returns true (returns its value) or the time is up (0).

=item tcp_request(PORT, BYTES, timeout => 5, host => H, half_close => 0)

Connects, sends (non-blocking, SIGPIPE ignored), optionally shuts its
write side, reads until EOF or the timeout. Returns the bytes; in list
context also how it ended (C<eof>, C<timeout>, C<reset>, C<connect: ...>,
C<send: ..., then eof>).

=item udp_request(PORT, BYTES, timeout => 5)

One datagram out, the first one back (undef after the timeout).

=item http_get(PORT, PATH, HEADER => VALUE...)

=item http_request(port => P, method => 'GET', path => '/', headers => [K, V...] | {...}, body => BYTES, raw => BYTES, host => H, timeout => 5)

One HTTP/1.1 request on a new connection (C<Host: localhost> and
C<Connection: close> unless given; Content-Length for a body). Reads until
the response is complete (Content-Length, chunked, or EOF), skipping 1xx.
Returns (status, headers with lower-case names, body de-chunked), or
the status alone in scalar context;
repeated fields are joined with C<, > (Set-Cookie with a newline). status
is undef when no complete head came; C<< $t->{last_response} >> holds the
raw bytes and C<< $t->{last_end} >> how the read ended.

=back

=cut
