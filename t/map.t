#!/usr/bin/perl
#
# map (issue 5) through the real binary: a stream `return` whose text
# uses variables and maps serves the mapped values.
#
#   1. map $remote_addr: an exact key for 127.0.0.1, a regex with a named
#      capture used in the value for the other 127.0.0.x (the client binds
#      127.0.0.2 and 127.0.0.3), default otherwise; positional captures.
#   2. a hostnames map: exact, head and tail wildcards, .example.com for
#      the domain itself, the trailing dot of the source ignored, and a
#      source with a variable ($server_port) picking different keys on two
#      servers.
#   3. a map whose entries come from files (include with a glob), and
#      \-escaped keys.
#   4. maps in the http block load too.
#   5. doorman -t refuses, with "[emerg] MESSAGE in FILE:LINE": an unknown
#      variable in a map value, a bad regex (the PCRE2 message), a
#      duplicate key (also in an included file), an invalid wildcard, a
#      second default, and map outside stream and http.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use IO::Select;
use Test::More;
use Time::HiRes qw(time);

use Doorman::Test;

my $probe = Doorman::Test->new;
plan skip_all => 'no doorman binary at ' . $probe->bin . ' (make first)'
    unless -x $probe->bin;
undef $probe;

# What a stream server sends to a client bound to $local (EOF-terminated).
sub from {
    my ($port, $local) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
        LocalAddr => $local, Proto => 'tcp', Timeout => 5)
        or return "connect from $local: $!";
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

# --- 1, 2, 3: one doorman serving every map ---------------------------------

{
    my $t = Doorman::Test->new;
    $t->write_file('maps/10-a.conf', "# entries from a file\n"
        . "alpha.test  from-file-1;\n");
    $t->write_file('maps/20-b.conf', "beta.test   from-file-2;\n"
        . "\\~tilde     escaped-tilde;\n\\default    escaped-default;\n");
    $t->write_conf(<<'EOF');
events { worker_connections 64; }
stream {
    map $remote_addr $who {
        127.0.0.1                    local;
        ~^127\.0\.0\.(?<n>\d+)$      "loop-$n";
        default                      other;
    }
    map $remote_addr $octets {
        ~^(\d+)\.(\d+)\.(\d+)\.(\d+)$  "$4.$3.$2.$1";
    }

    # hostnames with a constant source each, one kind of key each
    map "www.example.com." $exact {
        hostnames;
        www.example.com    exact;
        *.example.com      head;
        default            none;
    }
    map "a.b.example.com" $longest {
        hostnames;
        *.example.com      short;
        *.b.example.com    long;
        mail.*             tail;
    }
    map "example.org" $domain {
        hostnames;
        .example.org       domain;
        default            none;
    }
    map "mail.example.net" $tail {
        hostnames;
        mail.*             tail;
        *.com              head;
        ~mail              regex;
    }
    # a source with a variable: each server has its own key
    map "srv$server_port.example.com" $bysrv {
        hostnames;
        srv%%PORT_2%%.example.com  second;
        *.example.com              first;
    }

    map "alpha.test" $inc1 { include maps/*.conf; default none; }
    map "beta.test"  $inc2 { include maps/*.conf; default none; }
    map "~tilde"     $inc3 { include maps/*.conf; default none; }
    map "default"    $inc4 { include maps/*.conf; default none; }
    map "gamma.test" $inc5 { include maps/*.conf; default none; }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        return "$who $octets\n";
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        return "$exact $longest $domain $tail $bysrv\n";
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        return "$inc1 $inc2 $inc3 $inc4 $inc5 $bysrv\n";
    }
}
EOF
    my ($code, $err) = $t->test_conf;
    is $code, 0, 'doorman -t accepts the maps' or diag $err;
    $t->run(wait_ports => [$t->port_n(1), $t->port_n(2), $t->port_n(3)]);

    is from($t->port_n(1), '127.0.0.1'), "local 1.0.0.127\n",
        'from 127.0.0.1: the exact key';
    is from($t->port_n(1), '127.0.0.2'), "loop-2 2.0.0.127\n",
        'from 127.0.0.2: the regex, its named capture in the value';
    is from($t->port_n(1), '127.0.0.3'), "loop-3 3.0.0.127\n",
        'from 127.0.0.3: computed per session';
    is from($t->port_n(2), '127.0.0.1'),
        "exact long domain tail second\n",
        'hostnames: exact, longest head, .domain, tail before regex';
    is from($t->port_n(3), '127.0.0.1'),
        "from-file-1 from-file-2 escaped-tilde escaped-default none first\n",
        'entries from included files, escaped keys, a source with a variable';
    is $t->tcp_request($t->port_n(1), ''), "local 1.0.0.127\n",
        'and again (nothing kept between sessions)';

    $t->stop;
    unlike $t->error_log, qr/\[(?:emerg|alert|crit|error)\]/,
        'no error logged';
}

# --- 4: maps in http ---------------------------------------------------------

{
    my $t = Doorman::Test->new;
    $t->write_conf(<<'EOF');
http {
    map $remote_addr $h { default x; ~^(?<first>\d+) "$first"; }
    map $h $h2 { hostnames; *.example.com y; default "$h"; }
}
EOF
    my ($code, $err) = $t->test_conf;
    is $code, 0, 'maps in http load' or diag $err;
}

# --- 5: what doorman -t refuses ----------------------------------------------

# bad(name, conf => TEXT, files => {REL => TEXT}, msg => RE, file => REL,
# line => N): exit 1 and exactly one "[emerg] MSG in FILE:LINE".
sub bad {
    my ($name, %c) = @_;
    my $t = Doorman::Test->new;
    $t->write_file($_, $c{files}{$_}) for sort keys %{$c{files} || {}};
    my $main = $t->write_conf($c{conf});
    my ($code, $err, $out) = $t->test_conf;
    my $where = $t->path($c{file} // 'doorman.conf');
    subtest $name => sub {
        is $code, 1, 'exit code 1';
        like $err, qr/^doorman: \[emerg\] $c{msg} in \Q$where\E:$c{line}\n/m,
            "the message, in " . ($c{file} // 'doorman.conf') . ":$c{line}";
        is scalar(() = $err =~ /\[emerg\]/g), 1, 'one error';
        like $err, qr/^doorman: configuration file \Q$main\E test failed$/m,
            '"test failed"';
    } or diag "stderr:\n$err";
}

bad 'unknown variable in a map value',
    conf => "stream {\n    map \$remote_addr \$x {\n"
        . "        default \"v-\$no_such_thing\";\n    }\n}\n",
    line => 3,
    msg => qr/unknown "\$no_such_thing" variable/;

bad 'unknown variable in a map source',
    conf => "stream {\n    map \$nope \$x { }\n}\n",
    line => 2,
    msg => qr/unknown "\$nope" variable/;

bad 'bad regex',
    conf => "stream {\n    map \$remote_addr \$x {\n        a 1;\n"
        . "        ~^(10\\.[0-9+ 2;\n    }\n}\n",
    line => 4,
    msg => qr/invalid regex "\^\(10\\\.\[0-9\+": missing terminating \] for character class at offset \d+/;

bad 'duplicate key',
    conf => "stream {\n    map \$remote_addr \$x {\n        a 1;\n"
        . "        b 2;\n        A 3;\n    }\n}\n",
    line => 5,
    msg => qr/conflicting parameter "A"/;

bad 'duplicate key in an included file',
    conf => "stream {\n    map \$remote_addr \$x {\n        a 1;\n"
        . "        include part.conf;\n    }\n}\n",
    files => {'part.conf' => "# more\nb 2;\na 3;\n"},
    file => 'part.conf',
    line => 3,
    msg => qr/conflicting parameter "a"/;

bad 'invalid wildcard',
    conf => "stream {\n    map \$remote_addr \$x {\n        hostnames;\n"
        . "        www.*.example.com 1;\n    }\n}\n",
    line => 4,
    msg => qr/invalid hostname or wildcard "www\.\*\.example\.com"/;

bad 'second default',
    conf => "stream {\n    map \$remote_addr \$x {\n        default 1;\n"
        . "        default 2;\n    }\n}\n",
    line => 4,
    msg => qr/duplicate default map parameter/;

bad 'map at the top level',
    conf => "events { }\nmap \$remote_addr \$x {\n    default 1;\n}\n",
    line => 2,
    msg => qr/"map" directive is not allowed here/;

bad 'map in a stream server',
    conf => "stream {\n    server {\n        listen 127.0.0.1:1;\n"
        . "        map \$remote_addr \$x { }\n        return x;\n    }\n}\n",
    line => 4,
    msg => qr/"map" directive is not allowed here/;

bad 'map in an http location',
    conf => "http {\n    server {\n        location / {\n"
        . "            map \$remote_addr \$x { }\n        }\n    }\n}\n",
    line => 4,
    msg => qr/"map" directive is not allowed here/;

done_testing;
