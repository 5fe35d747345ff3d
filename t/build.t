#!/usr/bin/perl
#
# The build (issue 2): a variant build without a named module and with an
# out-of-tree one, `make install DESTDIR=...`, and the manual pages.
#
# The variant is built once, in its own --builddir under a temporary
# directory, so it never touches objs/: one build checks both
# --without-module=sticky_cookie and --add-module=t/modules/hello (a build
# costs seconds to tens of seconds; two would double it).
# DOORMAN_SKIP_BUILD_TESTS=1 skips the whole file.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use Test::More;

use Doorman::Test;

plan skip_all => 'DOORMAN_SKIP_BUILD_TESTS=1'
    if $ENV{DOORMAN_SKIP_BUILD_TESTS};

my $t = Doorman::Test->new;
my $src = $t->srcdir;
plan skip_all => "no configure in $src" unless -f "$src/configure";
for my $tool (qw(make cc)) {
    plan skip_all => "$tool is not installed"
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

# A nested make must not inherit the jobserver or flags of a `make check`
# that runs this test, nor an install destination.
my %ENV_MAKE = (MAKEFLAGS => undef, MFLAGS => undef, MAKELEVEL => undef,
    MAKEOVERRIDES => undef, DESTDIR => undef, BUILDDIR => undef);

sub step {
    my ($name, @argv) = @_;
    my ($code, $out, $err) = $t->run_cmd(@argv,
        {cwd => $src, timeout => 600, env => \%ENV_MAKE});
    ok $code == 0, $name or diag "exit $code\n" . tail_diag("$out$err");
    return $code == 0;
}

sub tail_diag {
    my ($s) = @_;
    my @l = split /\n/, $s;
    @l = @l[-40 .. -1] if @l > 40;
    return join "\n", @l;
}

my $HELLO = "$src/t/modules/hello";
my $has_hello_src = -f "$HELLO/config";

# --- a variant: without sticky_cookie, with the out-of-tree hello -----------

my $tmp = tempdir('doorman-build-XXXXXXXX', TMPDIR => 1,
    CLEANUP => !$ENV{DOORMAN_KEEP});
my $vdir = "$tmp/variant";
my $variant;
{
    my @conf = ('./configure', "--builddir=$vdir",
        '--without-module=sticky_cookie');
    push @conf, '--add-module=t/modules/hello' if $has_hello_src;
    diag 't/modules/hello is missing: --add-module is not tested'
        unless $has_hello_src;
    my $ok = step("configure @conf[1 .. $#conf]", 'sh', @conf)
        && step('make -j2 -f VARIANT/Makefile', 'make', '-j2', '-f',
            "$vdir/Makefile");
    ok -x "$vdir/doorman", 'the variant binary is built';
    $variant = Doorman::Test->new(bin => "$vdir/doorman") if $ok;
}

my $STICKY_CONF = "# sticky needs the sticky_cookie module\nhttp {\n"
    . "    upstream u {\n        server 127.0.0.1:8081;\n        sticky cookie srv;\n    }\n}\n";
my $HELLO_CONF = "hello_greeting \"hi\";\n";

SKIP: {
    skip 'the variant did not build', 6 unless $variant;
    my $v = $variant->version_info;
    like $v, qr/^configure arguments:.*--without-module=sticky_cookie/m,
        'variant -V: its configure arguments';
    ok !$variant->has('sticky_cookie'), 'variant -V lacks module: sticky_cookie'
        or diag $v;
    ok $variant->has('tcp_stream', 'http_proxy', 'proxy_protocol',
        'health_check'), 'variant -V keeps the other named modules'
        or diag $v;

    my $f = $variant->write_conf($STICKY_CONF);
    my ($code, $err) = $variant->test_conf;
    is $code, 1, 'variant -t rejects sticky';
    like $err, qr/^doorman: \[emerg\] unknown directive "sticky" in \Q$f\E:5$/m,
        '... as an unknown directive, with FILE:LINE';
    like $err, qr/^doorman: configuration file \Q$f\E test failed$/m,
        '... test failed';
}

my $has_default = -x $t->bin;

SKIP: {
    skip 'no default binary at ' . $t->bin, 1 unless $has_default;
    skip $t->bin . ' is built without sticky_cookie', 1
        unless $t->has('sticky_cookie');
    $t->write_conf($STICKY_CONF);
    my ($code, $err) = $t->test_conf;
    is $code, 0, 'the default binary accepts sticky' or diag $err;
}

SKIP: {
    skip 'no t/modules/hello', 5 unless $has_hello_src;
    skip 'the variant did not build', 5 unless $variant;
    ok $variant->has('hello'), 'variant -V lists module: hello'
        or diag $variant->version_info;
    like $variant->version_info,
        qr/^configure arguments:.*--add-module=t\/modules\/hello/m,
        '... and --add-module in its configure arguments';
    $variant->write_conf($HELLO_CONF);
    my ($code, $err) = $variant->test_conf;
    is $code, 0, 'variant -t accepts hello_greeting' or diag $err;

    $variant->write_conf("events {\n    hello_greeting \"hi\";\n}\n");
    ($code, $err) = $variant->test_conf;
    like $err, qr/"hello_greeting" directive is not allowed here in \S+:2$/m,
        'hello_greeting is a top-level directive';

    SKIP: {
        skip 'no default binary at ' . $t->bin, 1 unless $has_default;
        skip 'the default binary has hello', 1 if $t->has('hello');
        my $f = $t->write_conf($HELLO_CONF);
        ($code, $err) = $t->test_conf;
        like $err, qr/^doorman: \[emerg\] unknown directive "hello_greeting" in \Q$f\E:1$/m,
            'the default binary rejects hello_greeting as unknown';
    }
}

# --- make install DESTDIR=... ------------------------------------------------

# The build directory of the binary under test, else the variant (so that a
# hand-run prove never rebuilds objs/).
my $bdir = $ENV{DOORMAN_BUILDDIR};
$bdir = $vdir if !$bdir && $variant;

sub make_vars {
    my ($mk) = @_;
    open my $fh, '<', $mk or return {};
    my %v;
    while (<$fh>) {
        $v{$1} = $2 if /^([A-Z_]+) = (.*?)\s*$/;
    }
    return \%v;
}

SKIP: {
    skip 'no build directory (DOORMAN_BUILDDIR)', 12
        unless $bdir && -f "$bdir/Makefile";
    for my $f (qw(conf/doorman.conf man/doorman.8 man/doorman.conf.5)) {
        skip "$f is not there yet", 12 unless -f "$src/$f";
    }
    my $dest = "$tmp/dest";
    step('make install DESTDIR=...', 'make', '-f', "$bdir/Makefile",
        'install', "DESTDIR=$dest") or skip 'install failed', 11;

    my $mv = make_vars("$bdir/Makefile");
    my %where = (
        binary        => $mv->{SBIN_PATH},
        configuration => $mv->{CONF_PATH},
        'doorman.8'   => "$mv->{MANDIR}/man8/doorman.8",
        'doorman.conf.5' => "$mv->{MANDIR}/man5/doorman.conf.5",
    );
    my $bt = Doorman::Test->new(bin => "$bdir/doorman");
    my $args = ($bt->version_info =~ /^configure arguments:(.*)$/m)[0] // '';
    if ($args !~ /--(?:prefix|sbin-path|conf-path|mandir)=/) {
        # the defaults are the FHS places under /usr/local
        is_deeply \%where, {
            binary        => '/usr/local/sbin/doorman',
            configuration => '/usr/local/etc/doorman/doorman.conf',
            'doorman.8'   => '/usr/local/share/man/man8/doorman.8',
            'doorman.conf.5' => '/usr/local/share/man/man5/doorman.conf.5',
        }, 'default install paths are the FHS places under /usr/local';
    } else {
        pass "install paths set by configure ($args)";
    }
    ok -x "$dest$where{binary}", "binary installed in $where{binary}";
    ok -f "$dest$where{configuration}",
        "configuration installed in $where{configuration}";
    ok -f "$dest$where{'doorman.8'}", "doorman.8 installed in $where{'doorman.8'}";
    ok -f "$dest$where{'doorman.conf.5'}",
        "doorman.conf.5 installed in $where{'doorman.conf.5'}";
    is $t->read_file("$dest$where{configuration}"),
        $t->read_file("$src/conf/doorman.conf"), 'the configuration is conf/doorman.conf';
    is $t->read_file("$dest$where{'doorman.conf.5'}"),
        $t->read_file("$src/man/doorman.conf.5"), 'doorman.conf.5 is man/doorman.conf.5';
    my @mode = map { (stat "$dest$_")[2] & 07777 }
        $where{configuration}, $where{'doorman.8'}, $where{'doorman.conf.5'};
    is "@mode", '420 420 420', 'installed files are 0644';
    is +((stat "$dest$where{binary}")[2] & 07777), 0755, 'the binary is 0755';
    my ($code, $out, $err) = $t->run_cmd("$dest$where{binary}", '-v');
    is $code, 0, 'the installed binary runs';
    like $err . $out, qr/^doorman version: /m, '... and is doorman';
}

# --- the manual pages ---------------------------------------------------------

# Every directive of the source tree, from the command tables
# ({dm_string("name"), DM_..._CONF ...} or .name = dm_string("name"),
# .contexts = ...); t/ (test modules) is not part of the product.
sub directives {
    my %d;
    my @files = (glob("$src/src/*/*.c"), glob("$src/modules/*/*.c"));
    for my $f (@files) {
        my $s = $t->read_file($f);
        $d{$1} = 1 while $s =~ /\{\s*dm_string\("([a-z0-9_]+)"\)\s*,\s*DM_[A-Z_]*CONF\b/g;
        $d{$1} = 1 while $s =~ /\.name\s*=\s*dm_string\("([a-z0-9_]+)"\)\s*,\s*\.contexts\b/g;
    }
    return sort keys %d;
}

my $have_man = grep { -x "$_/man" } split /:/, $ENV{PATH};
my $have_groff = grep { -x "$_/groff" } split /:/, $ENV{PATH};

for my $page (['man/doorman.8', [qw(NAME SYNOPSIS DESCRIPTION doorman),
                map { "-$_" } qw(c p g t T s v V h)]],
              ['man/doorman.conf.5', [qw(NAME DESCRIPTION doorman.conf),
                directives()]]) {
    my ($file, $words) = @$page;
    SKIP: {
        skip "$file is not there yet", 3 unless -f "$src/$file";
        SKIP: {
            skip 'groff is not installed', 1 unless $have_groff;
            my ($code, $out, $err) = $t->run_cmd('groff', '-man', '-Tutf8',
                '-ww', '-z', "$src/$file");
            ok $code == 0 && $err eq '', "$file: groff -ww finds nothing to warn"
                or diag tail_diag($err);
        }
        SKIP: {
            skip 'man is not installed', 2 unless $have_man;
            my ($code, $out, $err) = $t->run_cmd('man', '-l', "$src/$file",
                {env => {MANWIDTH => 80, MANPAGER => 'cat', PAGER => 'cat',
                    LC_ALL => 'C', MANROFFOPT => undef}});
            $out =~ s/.\x08//g;                # what col -b does
            $out =~ s/\x{2212}|\xe2\x88\x92|\xe2\x80\x90/-/g;
            ok $code == 0 && length($out) > 200, "man -l $file renders"
                or diag "exit $code\n" . tail_diag($err);
            my @missing = grep { $out !~ /(?<![\w-])\Q$_\E(?![\w])/ } @$words;
            is "@missing", '', "$file names " . scalar(@$words) . ' words'
                . ($file =~ /conf/ ? ' (every directive in the sources)' : '');
        }
    }
}

done_testing;
