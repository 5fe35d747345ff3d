#!/usr/bin/perl
#
# doorman -t / -T and the command line, through the real binary.
#
# Every error class of the configuration parser must exit 1 with
#   doorman: [emerg] MESSAGE in FILE:LINE
#   doorman: configuration file MAIN test failed
# once in the main file and once in an included file (where the message
# names the included file and its line); valid files print "syntax is ok"
# and "test is successful" and exit 0; -T prints every file read.
#
# Directive names used as "unknown" (no_such_directive) will never exist;
# the other cases use directives of issue 2 whose contract is fixed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Doorman::Test;

my $probe = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
my $HAS_STICKY = $probe->has('sticky_cookie');
undef $probe;

my $MAIN = 'doorman.conf';
my $PART = 'inc/part.conf';
my $INCLUDE_TOP = "# includes the part at the top level\n"
    . "master_process on;\ninclude $PART;\n";

# bad(name, conf => TEXT, files => {REL => TEXT}, msg => RE (a regex
# fragment: the message between "[emerg] " and " in"), file => REL (where
# the error is; default the main file), line => N, g => DIRECTIVES)
sub bad {
    my ($name, %c) = @_;
    my $t = Doorman::Test->new;
    $t->write_file($_, $c{files}{$_}) for sort keys %{$c{files} || {}};
    my $main = $t->write_conf($c{conf});
    my ($code, $err, $out) = $t->test_conf(defined $c{g} ? (g => $c{g}) : ());
    my $where = $t->path($c{file} // $MAIN);
    my $msg = $c{msg};
    $msg = $msg->($t) if ref $msg eq 'CODE';
    my $loc = $c{command_line} ? 'command line' : "\Q$where\E:$c{line}";
    subtest $name => sub {
        is $code, 1, 'exit code 1';
        like $err, qr/^doorman: \[emerg\] $msg in $loc\n/m,
            'the message, in ' . ($c{command_line} ? 'command line'
                : ($c{file} // $MAIN) . ":$c{line}");
        is scalar(() = $err =~ /\[emerg\]/g), 1, 'one error';
        like $err, qr/^doorman: configuration file \Q$main\E test failed$/m,
            '"test failed" names the main file';
        unlike $err, qr/syntax is ok|test is successful/, 'no success line';
        is $out, '', 'nothing on stdout';
    } or diag "stderr:\n$err";
}

# The same error once at the top of the main file and once in an included
# file: snippet (with the error at line), and how the main file includes
# the part (default: at the top level).
sub bad_both {
    my ($name, %c) = @_;
    bad("$name (main file)", conf => $c{snippet}, msg => $c{msg},
        line => $c{line}, files => $c{files});
    bad("$name (included file)", conf => $c{include} // $INCLUDE_TOP,
        files => {%{$c{files} || {}}, $PART => $c{part} // $c{snippet}},
        msg => $c{msg}, file => $PART, line => $c{part_line} // $c{line});
}

# --- each error class, in the main file and in an included one -------------

bad_both 'unknown directive',
    snippet => "# an unknown directive\nworker_processes 1;\nno_such_directive on;\n",
    line => 3,
    msg => qr/unknown directive "no_such_directive"/;

bad 'unknown directive deep in blocks',
    conf => "http {\n    server {\n        location / {\n"
        . "            no_such_directive;\n        }\n    }\n}\n",
    line => 4,
    msg => qr/unknown directive "no_such_directive"/;

bad_both 'directive in the wrong context',
    snippet => "worker_processes 1;\nhttp {\n    worker_connections 16;\n}\n",
    line => 3,
    include => "http {\n    include $PART;\n}\n",
    part => "# http level\nworker_connections 16;\n",
    part_line => 2,
    msg => qr/"worker_connections" directive is not allowed here/;

bad 'main-level directive inside a block',
    conf => "events {\n    worker_processes 2;\n}\n",
    line => 2,
    msg => qr/"worker_processes" directive is not allowed here/;

bad 'block directive in the wrong context',
    conf => "http {\n    server {\n        events {\n        }\n    }\n}\n",
    line => 3,
    msg => qr/"events" directive is not allowed here/;

bad_both 'wrong number of arguments',
    snippet => "worker_processes 1;\n\ndaemon on off;\n",
    line => 3,
    msg => qr/invalid number of arguments in "daemon" directive/;

bad 'no argument',
    conf => "daemon;\n",
    line => 1,
    msg => qr/invalid number of arguments in "daemon" directive/;

bad 'argument to a block that takes none',
    conf => "# events takes no argument\nevents foo {\n}\n",
    line => 2,
    msg => qr/invalid number of arguments in "events" directive/;

bad_both 'invalid flag value',
    snippet => "worker_processes 1;\ndaemon maybe;\n",
    line => 2,
    msg => qr/invalid value "maybe" in "daemon" directive, it must be [^\n]*/;

bad_both 'invalid number',
    snippet => "events {\n    worker_connections lots;\n}\n",
    line => 2,
    msg => qr/invalid value "lots" in "worker_connections" directive, it must be [^\n]*/;

bad 'invalid time',
    conf => "\nworker_shutdown_timeout 10parsecs;\n",
    line => 2,
    msg => qr/invalid value "10parsecs" in "worker_shutdown_timeout" directive, it must be [^\n]*/;

bad_both 'value out of bounds',
    snippet => "events {\n    worker_connections 0;\n}\n",
    line => 2,
    msg => qr/value "0" in "worker_connections" directive is out of bounds, it must be between 1 and \d+/;

bad 'value out of bounds (upper)',
    conf => "events {\n    worker_connections 99999999999;\n}\n",
    line => 2,
    msg => qr/value "99999999999" in "worker_connections" directive is out of bounds, it must be between 1 and \d+/;

bad_both 'unbalanced braces: an extra "}"',
    snippet => "events {\n}\n}\n",
    line => 3,
    msg => qr/unexpected "\}"/;

bad 'an included file cannot close the including block',
    conf => "events {\n    include $PART;\n}\n",
    files => {$PART => "worker_connections 16;\n}\n"},
    file => $PART,
    line => 2,
    msg => qr/unexpected "\}"/;

bad_both 'unbalanced braces: a missing "}"',
    snippet => "worker_processes 1;\nevents {\n    worker_connections 16;\n",
    line => 4,
    msg => qr/unexpected end of file, expecting "\}"/;

bad 'a directive without ";" at the end of the file',
    conf => "worker_processes 1;\ndaemon off",
    line => 2,
    msg => qr/unexpected end of file, expecting ";" or "\}"/;

bad_both 'unterminated string',
    snippet => "worker_processes 1;\nerror_log \"logs/error.log\n;\n",
    line => 2,
    msg => qr/unterminated string/;

bad 'unterminated single-quoted string',
    conf => "\n\npid 'logs/doorman.pid;\n",
    line => 3,
    msg => qr/unterminated string/;

bad_both 'missing include file',
    snippet => "worker_processes 1;\ninclude missing.conf;\n",
    line => 2,
    part => "\ninclude inc/nope.conf;\n",
    part_line => 2,
    msg => sub {
        my ($t) = @_;
        # the main file's directory is the base of relative includes
        my $f = $t->read_file($PART) =~ /nope/ ? 'inc/nope.conf' : 'missing.conf';
        return qr/open\(\) "\Q${\ $t->path($f)}\E" failed \(2: No such file or directory\)/;
    };

bad_both 'duplicate directive',
    snippet => "worker_processes 1;\nworker_processes 2;\n",
    line => 2,
    include => "worker_processes 1;\ninclude $PART;\n",
    part => "# again\nworker_processes 2;\n",
    part_line => 2,
    msg => qr/"worker_processes" directive is duplicate/;

bad 'duplicate block',
    conf => "events {\n}\nevents {\n}\n",
    line => 3,
    msg => qr/"events" directive is duplicate/;

bad 'duplicate upstream',
    conf => "http {\n    upstream u {\n        server 127.0.0.1:1;\n    }\n"
        . "    upstream u {\n        server 127.0.0.1:2;\n    }\n}\n",
    line => 5,
    msg => qr/duplicate upstream "u"/;

# --- the -g directives ---------------------------------------------------------

bad '-g directive duplicated by the file: the file is named',
    conf => "# the file sets daemon too\ndaemon on;\n",
    g => 'daemon off;',
    line => 2,
    msg => qr/"daemon" directive is duplicate/;

bad 'an error in -g says "in command line"',
    conf => "worker_processes 1;\n",
    g => 'no_such_directive;',
    command_line => 1,
    msg => qr/unknown directive "no_such_directive"/;

bad 'a bad value in -g says "in command line"',
    conf => "worker_processes 1;\n",
    g => 'daemon maybe;',
    command_line => 1,
    msg => qr/invalid value "maybe" in "daemon" directive, it must be [^\n]*/;

# --- valid files ---------------------------------------------------------------------

sub good {
    my ($name, $t, %o) = @_;
    my ($code, $err, $out) = $t->test_conf(%o);
    my $main = $o{conf} // $t->conf_file;
    $main = $t->path($main);
    subtest $name => sub {
        is $code, 0, 'exit code 0';
        like $err, qr/^doorman: the configuration file \Q$main\E syntax is ok$/m,
            'syntax is ok';
        like $err, qr/^doorman: configuration file \Q$main\E test is successful$/m,
            'test is successful';
        unlike $err, qr/\[(?:emerg|alert|crit|error)\]/, 'no error';
    } or diag "stderr:\n$err";
    return ($code, $err, $out);
}

{
    my $t = Doorman::Test->new;
    my $demo = $t->srcdir . '/conf/doorman.conf';
    SKIP: {
        skip "conf/doorman.conf is not there yet ($demo)", 1 unless -f $demo;
        good('conf/doorman.conf', $t, conf => $demo);
    }
}

my $RICH = <<'EOF';
# doorman: a rich valid configuration: every directive that exists, the
# syntax (comments, quotes, escapes, variables), and includes.

worker_processes 2;
worker_cpu_affinity 01 10;
worker_rlimit_nofile 65536;
worker_shutdown_timeout 30s;
master_process on;   # a comment after a directive
daemon off;
pid "logs/doorman.pid";
error_log logs/error.log notice;
error_log stderr warn;
working_directory '%%PREFIX%%';

events {
    worker_connections 1024;
}

include conf.d/*.conf;     # a glob: two files, read in order
include empty.d/*.conf;    # a glob that matches nothing is fine

stream {
    upstream l4_backend {
        hash $remote_addr consistent;
        server 127.0.0.1:6379 weight=2;
        server localhost:6380;
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "one\n";
    }
    server {
        listen %%PORT_2%% backlog=64;
        return 'two with \'quotes\' and ${remote_addr}\n';
    }
}

http {
%%STICKY_SECRET%%
    upstream app {
        server 127.0.0.1:8081 weight=5 max_fails=3 fail_timeout=30s;
        server 127.0.0.1:8082 backup;
%%STICKY%%
    }
    upstream api {
        least_conn;
        server [::1]:8083 max_conns=100 slow_start=10s;
        server unix:/run/api.sock drain route=a1;
    }

    server {
        location / {
            location /nested/ {
            }
        }
        location = /exact {
        }
        location ~* \.(png|jpe?g)$ {
        }
        location ~ "^/re/(\d+)" {
        }
        location ^~ /static/ {
        }
        location @named {
        }
    }
    server {
        include http.d/locations.conf;
    }
}
EOF

{
    my $t = Doorman::Test->new;
    my $rich = $RICH;
    my ($secret, $sticky) = ('', '');
    if ($HAS_STICKY) {
        $secret = qq{    sticky_secret "a \\"quoted\\" secret with \\\\ and \$dollar";};
        $sticky = '        sticky cookie srv_id expires=1h domain=.example.com'
            . ' path=/ httponly secure samesite=lax;';
    }
    $rich =~ s/%%STICKY_SECRET%%/$secret/;
    $rich =~ s/%%STICKY%%/$sticky/;
    $t->write_file('conf.d/10-first.conf', "# the first glob match\n");
    $t->write_file('conf.d/20-second.conf',
        "# the second glob match\n# (top level: nothing but comments)\n");
    $t->write_file('http.d/locations.conf',
        "location /from-include {\n}\nlocation = /x {\n}\n");
    $t->write_conf($rich);
    good('a rich valid file', $t);

    # a relative -c is relative to the prefix
    good('relative -c', $t, conf => 'doorman.conf');

    # -g beside a file that does not set the directive
    good('-g with a directive the file does not set',
        do { my $u = Doorman::Test->new; $u->write_conf("events {\n}\n"); $u },
        g => 'daemon off; worker_processes 3;');

    # -T: every file read, in order, after "# configuration file PATH:"
    my ($code, $err, $out) = good('-T', $t, dump => 1);
    my @files = ($t->conf_file, map { $t->path($_) }
        qw(conf.d/10-first.conf conf.d/20-second.conf http.d/locations.conf));
    my @dumped = $out =~ /^# configuration file (.*):$/mg;
    is_deeply \@dumped, \@files, '-T lists the main file and every include, in order';
    for my $f (@files) {
        my $content = $t->read_file($f);
        like $out, qr/^# configuration file \Q$f\E:\n\Q$content\E/m,
            "-T prints $f whole" =~ s/\Q${\ $t->prefix}\E\///r;
    }

    my ($c2, $e2, $o2) = $t->test_conf(conf => do {
        my $u = $t->write_conf("no_such_directive;\n", name => 'bad.conf'); $u
    }, dump => 1);
    ok $c2 == 1 && $o2 eq '', '-T of a bad file: exit 1, no dump';
}

# --- the command line ------------------------------------------------------------------

{
    my $t = Doorman::Test->new;
    my $bin = $t->bin;

    my ($code, $out, $err) = $t->run_cmd($bin, '-v');
    is $code, 0, '-v exits 0';
    like $err . $out, qr/^doorman version: doorman\/\d+\.\d+\.\d+\S*$/m,
        '-v prints the version';
    unlike $err . $out, qr/configure arguments/, '-v only the version';

    ($code, $out, $err) = $t->run_cmd($bin, '-V');
    my $v = $err . $out;
    is $code, 0, '-V exits 0';
    like $v, qr/^doorman version: doorman\/\S+$/m, '-V: version';
    like $v, qr/^configure arguments:.*$/m, '-V: configure arguments';
    my @mods = $v =~ /^module: (\S+)$/mg;
    ok @mods >= 1, '-V: module lines' or diag $v;
    my @odd = grep { !/^[a-z][a-z0-9_]*$/ } @mods;
    is "@odd", '', '-V: one module name per line';
    my %seen;
    is scalar(grep { $seen{$_}++ } @mods), 0, '-V: no module twice';
    is_deeply [sort $t->modules], [sort @mods], 'has() reads the same list';

    for my $h ('-h', '-?') {
        ($code, $out, $err) = $t->run_cmd($bin, $h);
        is $code, 0, "$h exits 0";
        like $err . $out, qr/Usage: doorman/, "$h prints the usage";
    }

    ($code, $out, $err) = $t->run_cmd($bin, '-x');
    is $code, 1, 'an invalid option exits 1';
    like $err, qr/^doorman: invalid option: "x"$/m, '... and names it';

    ($code, $out, $err) = $t->run_cmd($bin, 'extra');
    is $code, 1, 'a stray argument exits 1';
    like $err, qr/invalid option: "extra"/, '... and names it';

    ($code, $out, $err) = $t->run_cmd($bin, '-t', '-c');
    is $code, 1, 'an option without its argument exits 1';
    like $err, qr/option "-c" requires an argument/, '... and says so';

    ($code, $out, $err) = $t->run_cmd($bin, '-s', 'bogus');
    is $code, 1, '-s with an unknown signal exits 1';
    like $err, qr/invalid option: "-s bogus"/, '... and names it';

    my $missing = $t->path('nope.conf');
    ($code, $out, $err) = $t->run_cmd($bin, '-t', '-p', $t->prefix . '/',
        '-c', $missing);
    is $code, 1, '-t of a missing file exits 1';
    like $err, qr/^doorman: \[emerg\] open\(\) "\Q$missing\E" failed \(2: No such file or directory\)$/m,
        '... open() failed, with no location';
    like $err, qr/^doorman: configuration file \Q$missing\E test failed$/m,
        '... test failed';
}

done_testing;
