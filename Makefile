# doorman: the top-level Makefile (committed; needs GNU make).
#
# `make` on a fresh clone runs ./configure with the defaults when
# objs/Makefile is missing, then hands every target to objs/Makefile, which
# configure writes (and which re-runs configure by itself when configure or
# a module's config fragment changes). Run ./configure yourself first for
# other options. BUILDDIR=DIR works on another build directory configured
# with ./configure --builddir=DIR.
#
#   all                build objs/doorman (the default)
#   install            install it; honours DESTDIR
#   check              clang-format check, build, unit tests (cmocka), fuzz
#                      smoke test (libFuzzer, FUZZ_SECONDS each), integration
#                      tests (prove -r t/); stops at the first failure
#   check-format, check-unit, check-fuzz, check-integration
#                      one step of check (T=t/foo.t: one integration test)
#   format             rewrite the sources with clang-format
#   run                build and start doorman in the foreground on
#                      conf/doorman.conf with objs/run/ as its prefix
#   fuzz               make fuzz FUZZ=conf FUZZ_SECONDS=600: one fuzz target
#                      (every target without FUZZ=)
#   bench              how to run the benchmarks
#   clean              remove objs/ (the build directory)

BUILDDIR = objs

TARGETS = all install check check-format check-unit check-fuzz \
	check-integration format run bench fuzz

.PHONY: default clean $(TARGETS)

default: all

$(TARGETS): $(BUILDDIR)/Makefile
	@$(MAKE) --no-print-directory -f $(BUILDDIR)/Makefile $@

$(BUILDDIR)/Makefile:
	./configure $(if $(filter-out objs,$(BUILDDIR)),--builddir=$(BUILDDIR))

clean:
	rm -rf $(BUILDDIR)
