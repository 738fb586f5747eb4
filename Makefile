# vaultfs: one plain Makefile. `make`, `make check`, `make deps`, `make install`, `make clean`,
# `make SANITIZE=address,undefined`, `make bench`, `make fuzz`.

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build$(if $(SANITIZE),-san)

PKGS := openssl sqlite3 tss2-esys tss2-sys tss2-tctildr tss2-mu tss2-rc json-c libsystemd fuse3

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
HARDEN := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
OPT := -O2 -g
ifneq ($(SANITIZE),)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
SANLD := -fsanitize=$(SANITIZE)
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lkeyutils

# The fleet's center in PostgreSQL (core/fleet-pg*.c, the only users of libpq): libpq-dev to
# build, libpq5 to run.
PKG_CFLAGS += $(shell pkg-config --cflags libpq 2>/dev/null)
PKG_LIBS   += $(shell pkg-config --libs libpq 2>/dev/null)

override CFLAGS := -std=gnu11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) -I. $(PKG_CFLAGS) $(CFLAGS)
override LDFLAGS := -pie -Wl,-z,relro,-z,now $(SANLD) $(LDFLAGS)

# Every .c of a folder is part of it: a module split into files needs no edit here. core/ and
# policy/ are archives, so a program or a unit test links just the objects it uses.
CORE_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard core/*.c))
POLICY_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard policy/*.c))
CORE_LIB := $(BUILD)/libvaultcore.a
POLICY_LIB := $(BUILD)/libvaultpolicy.a
LIBS := $(POLICY_LIB) $(CORE_LIB)

PROGS := $(BUILD)/vaultctl $(BUILD)/vaultfsd
CTL_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c))
FS_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard fs/*.c))

# Unit tests: tests/unit/test-<module>.c, each linked with the archives (only what it uses).
UNIT_TESTS := $(patsubst tests/unit/test-%.c,%,$(wildcard tests/unit/test-*.c))
UNIT_BINS := $(patsubst %,$(BUILD)/tests/test-%,$(UNIT_TESTS))

all: $(PROGS)

# Header dependencies are tracked per object (-MMD): a changed header rebuilds what includes it.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD) -path $(BUILD)/sshd -prune -o -name '*.d' -type f -print 2>/dev/null)

$(CORE_LIB): $(CORE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(POLICY_LIB): $(POLICY_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/vaultctl: $(CTL_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/vaultfsd: $(FS_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(BUILD)/tests/test-%: $(BUILD)/tests/unit/test-%.o $(BUILD)/tests/unit/testlib.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter-out %.o,$^) $(PKG_LIBS) -lcmocka -lpthread

# The request tests share one fixture (tests/unit/request-fixture.c).
$(patsubst %,$(BUILD)/tests/test-%,request request-key request-cert): \
	$(BUILD)/tests/unit/request-fixture.o


# Test and benchmark programs (not installed). Benchmarks measure; they assert nothing.
$(BUILD)/tests/bench-audit: $(BUILD)/tests/bench/bench-audit.o $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/bench-policy: $(BUILD)/tests/bench/bench-policy.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Test programs of core alone, one each from tests/unit/NAME.c.
CORE_TEST_TOOLS := $(patsubst %,$(BUILD)/tests/%,agent-demo agent-keys mkkey mkcert)
$(CORE_TEST_TOOLS): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

TEST_PROGS := $(BUILD)/tests/bench-audit $(BUILD)/tests/bench-policy $(CORE_TEST_TOOLS)

# the unit tests and the test tools the bats files call (mkkey, mkcert, ...)
units: $(UNIT_BINS) $(CORE_TEST_TOOLS)

# The journal's durability promise (tests/bats/31-durable.bats): a preload that holds, fails and
# logs the journal's syncs, and a storm of readers.
DURABLE_TOOLS := $(BUILD)/tests/fsync-gate.so $(BUILD)/tests/open-storm
units: $(DURABLE_TOOLS)
$(BUILD)/tests/fsync-gate.so: tests/lib/fsync-gate.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ $< -ldl
$(BUILD)/tests/open-storm: tests/lib/open-storm.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The read path against tmpfs and a minimal FUSE filesystem, and scale (tests/bench/run-bench.sh).
$(BUILD)/tests/bench-open: $(BUILD)/tests/bench/bench-open.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

$(BUILD)/tests/minfs: $(BUILD)/tests/bench/minfs.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The benchmarks of core alone: one program each from tests/bench/bench-NAME.c.
CORE_BENCHES := $(patsubst %,$(BUILD)/tests/bench-%,scale epoch sign cert)
$(CORE_BENCHES): $(BUILD)/tests/bench-%: $(BUILD)/tests/bench/bench-%.o $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

BENCH_PROGS := $(BUILD)/tests/bench-open $(BUILD)/tests/minfs $(CORE_BENCHES)

bench: all $(TEST_PROGS) $(BENCH_PROGS)
	$(BUILD)/tests/bench-policy
	$(BUILD)/tests/bench-audit bench
	tests/lib/with-swtpm $(BUILD)/tests/bench-epoch
	tests/lib/with-swtpm $(BUILD)/tests/bench-cert
	BUILD=$(abspath $(BUILD)) tests/bench/sign-bench.sh
	BUILD=$(abspath $(BUILD)) tests/bench/tls-read.sh
	BUILD=$(abspath $(BUILD)) tests/bench/run-bench.sh
	BUILD=$(abspath $(BUILD)) tests/bench/restart-pause.sh
	BUILD=$(abspath $(BUILD)) tests/bench/fleet-bench.sh

# The read path of this build against another vaultfsd, interleaved in one run:
# `make bench-ab AB_OLD=/path/to/old/vaultfsd` (tests/bench/ab-open.sh).
bench-ab: all $(BENCH_PROGS)
	BUILD=$(abspath $(BUILD)) AB_OLD=$(AB_OLD) tests/bench/ab-open.sh

# libFuzzer targets (clang, libclang-rt-14-dev). `make fuzz FUZZ_TIME=600` for a longer run;
# new inputs go to $(FUZZ_BUILD)/corpus-policy, crashes to $(FUZZ_BUILD)/crash-*.
# `make check` runs each for FUZZ_CHECK_TIME seconds when clang is there.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_CHECK_TIME ?= 10
FUZZ_BUILD ?= build-fuzz
FUZZ_FLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -I. $(WARN) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_ARGS_policy := -max_len=4096 -dict=tests/fuzz/policy.dict tests/fuzz/seeds/policy
# The ssh-agent engine (tests/fuzz/fuzz-agent.c) and the key import (fuzz-key-import.c) too.
FUZZ_ARGS_agent := -max_len=4096 tests/fuzz/seeds/agent
FUZZ_ARGS_keyimport := -max_len=16384
FUZZ_ARGS_x509 := -max_len=16384 tests/fuzz/seeds/x509
FUZZ_TARGETS := policy agent keyimport x509
FUZZ_BINS := $(patsubst %,$(FUZZ_BUILD)/fuzz-%,$(FUZZ_TARGETS))

# core/ and policy/ are built instrumented once, into $(FUZZ_BUILD)/obj (header dependencies
# tracked as in the normal build), and made one archive every target links what it uses from.
FUZZ_OBJ := $(FUZZ_BUILD)/obj
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(wildcard core/*.c policy/*.c))
FUZZ_LIB := $(FUZZ_BUILD)/libvaultfuzz.a

$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -ffunction-sections -MMD -MP -c -o $@ $<

-include $(shell find $(FUZZ_OBJ) -name '*.d' -type f -print 2>/dev/null)

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BINS): $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Wl,--gc-sections -o $@ $(filter %.o,$^) $(FUZZ_LIB) $(PKG_LIBS)

$(FUZZ_BUILD)/fuzz-policy: $(FUZZ_OBJ)/tests/fuzz/fuzz-policy.o
$(FUZZ_BUILD)/fuzz-agent: $(FUZZ_OBJ)/tests/fuzz/fuzz-agent.o
$(FUZZ_BUILD)/fuzz-keyimport: $(FUZZ_OBJ)/tests/fuzz/fuzz-key-import.o
$(FUZZ_BUILD)/fuzz-x509: $(FUZZ_OBJ)/tests/fuzz/fuzz-x509.o

fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
		case $$t in policy) a="$(FUZZ_ARGS_policy)";; agent) a="$(FUZZ_ARGS_agent)";; \
			x509) a="$(FUZZ_ARGS_x509)";; *) a="$(FUZZ_ARGS_keyimport)";; esac; \
		$(FUZZ_BUILD)/fuzz-$$t -max_total_time=$(FUZZ_TIME) -artifact_prefix=$(FUZZ_BUILD)/ \
			$(FUZZ_BUILD)/corpus-$$t $$a || exit 1; \
	done

# Debian packages the build and the tests need. The real servers of the certificate tests
# (nginx, postgresql-15; pebble and lego for ACME) are installed with a policy-rc.d that refuses
# every start (the Debian container practice), made only for the install when none exists:
# their packages' services are neither started nor left listening; the tests start their own
# on loopback.
DEPS := gcc make pkg-config libc6-dev libssl-dev libsqlite3-dev sqlite3 libtss2-dev tpm2-tools \
	swtpm swtpm-tools libjson-c-dev libsystemd-dev libkeyutils-dev keyutils libfuse3-dev fuse3 \
	libcmocka-dev bats util-linux mount e2fsprogs openssh-client procps iproute2 clang libclang-rt-14-dev \
	python3 scdoc systemd man-db podman runc busybox-static faketime clang-format \
	cryptsetup-bin openssl git xxd curl nginx postgresql-15 postgresql-client-15 pebble lego
# the fleet: libpq to build and run (postgresql-15 above is the tests' center)
DEPS += libpq-dev libpq5
# The systemd tests (tests/bats/73-installed.bats): a Debian root filesystem made by mmdebstrap
# once per run and booted by Podman (tests/lib/systemd-image.sh; `make systemd-image` alone).
DEPS += mmdebstrap
# Where a test hung, its threads' backtraces (tests/lib/deadline)
DEPS += gdb

POLICY_RC_D := /usr/sbin/policy-rc.d
deps:
	@missing=""; for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: run as root to install:$$missing" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		made=; \
		if [ ! -e $(POLICY_RC_D) ] && [ ! -L $(POLICY_RC_D) ]; then \
			printf '#!/bin/sh\n# made by vaultfs make deps: no service starts\nexit 101\n' \
				>$(POLICY_RC_D) && chmod 0755 $(POLICY_RC_D) && made=1 || exit 1; \
			trap 'rm -f $(POLICY_RC_D)' EXIT INT TERM; \
		fi; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		rc=$$?; \
		if [ -n "$$made" ]; then rm -f $(POLICY_RC_D); trap - EXIT INT TERM; fi; \
		exit $$rc; \
	fi

# The image of the systemd tests, made now (the tests make it on first use otherwise).
systemd-image:
	tests/lib/systemd-image.sh $(BUILD)/systemd

# The code's form: .clang-format; `make format` rewrites, `make format-check` lists what differs.
FORMAT_FILES = $(wildcard core/*.[ch] policy/*.[ch] fs/*.[ch] tools/*.[ch] tests/unit/*.[ch] \
	tests/bench/*.c tests/fuzz/*.c)
format:
	clang-format -i --style=file $(FORMAT_FILES)

format-check:
	tests/lib/check-format.sh $(FORMAT_FILES)

# The layer table of DESIGN.md §3: a forbidden include fails the check before anything builds.
layers:
	tests/lib/check-layers.sh

check: deps layers format-check
	$(MAKE) all units $(TEST_PROGS)
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
		$(MAKE) $(FUZZ_BINS); fi
	BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_TIME=$(FUZZ_CHECK_TIME) \
		FUZZ_ARGS_policy="$(FUZZ_ARGS_policy)" FUZZ_ARGS_agent="$(FUZZ_ARGS_agent)" \
		FUZZ_ARGS_keyimport="$(FUZZ_ARGS_keyimport)" FUZZ_ARGS_x509="$(FUZZ_ARGS_x509)" \
		tests/lib/run-tests.sh

# vaultfs for real on an embedded default: state under ./run, mounted at ./run/vault (MNT=...).
run: deps
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) tools/vaultfs-run $(MNT)

# `make install PREFIX=/usr DESTDIR=...`: programs, man pages (scdoc, built into $(BUILD)/man),
# bash completion, the systemd unit and tmpfiles.d under PREFIX; the config and the default
# policy under /etc/vaultfs (fixed: the programs' built-in default), never over existing ones.
# Installs what $(BUILD) holds: `make install SANITIZE=...` installs the build-san programs.
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UNITDIR     ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
MAN_PAGES   := vaultctl.1 vaultfsd.8 vaultfs.conf.5 vaultfs-policy.5
MANS        := $(addprefix $(BUILD)/man/,$(MAN_PAGES))
# the man section of a page: vaultfs.conf.5 -> 5
man_sect = $(patsubst .%,%,$(suffix $(1)))
MAN_SECTIONS := $(sort $(foreach m,$(MAN_PAGES),$(call man_sect,$(m))))
INSTALLED := $(BINDIR)/vaultctl $(SBINDIR)/vaultfsd \
	$(foreach m,$(MAN_PAGES),$(MANDIR)/man$(call man_sect,$(m))/$(m)) \
	$(BASHCOMPDIR)/vaultctl $(UNITDIR)/vaultfsd.service $(TMPFILESDIR)/vaultfs.conf

# The page's date is its source's (not the day it was built): a rebuild is the same page.
$(BUILD)/man/%: tools/man/%.scd
	@mkdir -p $(dir $@)
	SOURCE_DATE_EPOCH=$$(stat -c %Y $<) scdoc < $< > $@.tmp && mv $@.tmp $@

man: $(MANS)

install: all man
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(patsubst %,$(DESTDIR)$(MANDIR)/man%,$(MAN_SECTIONS))
	install -m 0755 $(BUILD)/vaultctl $(DESTDIR)$(BINDIR)/vaultctl
	install -m 0755 $(BUILD)/vaultfsd $(DESTDIR)$(SBINDIR)/vaultfsd
	for m in $(MAN_PAGES); do \
		install -m 0644 $(BUILD)/man/$$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m || exit 1; \
	done
	install -m 0644 tools/vaultctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/vaultctl
	sed 's|^ExecStart=/usr/sbin/vaultfsd |ExecStart=$(SBINDIR)/vaultfsd |' systemd/vaultfsd.service \
		> $(BUILD)/vaultfsd.service
	install -m 0644 $(BUILD)/vaultfsd.service $(DESTDIR)$(UNITDIR)/vaultfsd.service
	install -m 0644 systemd/tmpfiles.d/vaultfs.conf $(DESTDIR)$(TMPFILESDIR)/vaultfs.conf
	install -d -m 0755 $(DESTDIR)/etc/vaultfs
	install -d -m 0700 $(DESTDIR)/etc/vaultfs/policy.d
	@if [ -e $(DESTDIR)/etc/vaultfs/vaultfs.conf ]; then \
		echo "install: kept the existing $(DESTDIR)/etc/vaultfs/vaultfs.conf"; \
	else \
		echo "install -m 0644 systemd/vaultfs.conf $(DESTDIR)/etc/vaultfs/vaultfs.conf"; \
		install -m 0644 systemd/vaultfs.conf $(DESTDIR)/etc/vaultfs/vaultfs.conf; \
	fi
	@p=$(DESTDIR)/etc/vaultfs/policy.d/00-default.policy; \
	if [ -e $$p ]; then \
		echo "install: kept the existing $$p"; \
	else \
		echo "install -m 0600 systemd/00-default.policy $$p"; \
		install -m 0600 systemd/00-default.policy $$p; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
		echo "install: next: systemctl daemon-reload && systemd-tmpfiles --create vaultfs.conf"; \
		echo "install:       vaultctl init --recovery-key-file FILE (once, as root)"; \
		echo "install:       systemctl enable --now vaultfsd"; \
	fi

# Removes exactly the files install puts under PREFIX; /etc/vaultfs (config and policies, maybe
# edited) and the store and journal under /var stay.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@echo "uninstall: left $(DESTDIR)/etc/vaultfs, $(DESTDIR)/var/lib/vaultfs and $(DESTDIR)/var/log/vaultfs" \
		"in place (config, policies, store, journal); remove them by hand if you mean to"

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)

# Objects made through pattern chains (unit tests) are kept, not deleted as intermediates.
.SECONDARY:

.PHONY: all units deps layers format format-check check install uninstall man clean bench bench-ab fuzz run
.PHONY: systemd-image
