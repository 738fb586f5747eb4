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

override CFLAGS := -std=gnu11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) -I. $(PKG_CFLAGS) $(CFLAGS)
override LDFLAGS := -pie -Wl,-z,relro,-z,now $(SANLD) $(LDFLAGS)

CORE := secbuf crypto log config timeutil keyring tpm store seal kv
CORE_OBJS := $(patsubst %,$(BUILD)/core/%.o,$(CORE))

PROGS := $(BUILD)/vaultctl
CTL_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c))

# Unit tests: one file per module, each linked with just the modules it needs.
UNIT_TESTS := secbuf crypto keyring tpm store config timeutil seal kv
test_deps_secbuf  := secbuf
test_deps_crypto  := crypto secbuf
test_deps_keyring := keyring secbuf
test_deps_tpm     := tpm secbuf
test_deps_store   := store secbuf
test_deps_config  := config log tpm secbuf
test_deps_timeutil := timeutil
test_deps_seal    := $(CORE)
test_deps_kv      := $(CORE)
UNIT_BINS := $(patsubst %,$(BUILD)/tests/test-%,$(UNIT_TESTS))

all: $(PROGS)

$(BUILD)/%.o: %.c $(wildcard core/*.h policy/*.h fs/*.h tools/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/vaultctl: $(CTL_OBJS) $(CORE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

.SECONDEXPANSION:
$(BUILD)/tests/test-%: $(BUILD)/tests/unit/test-%.o $$(addprefix $(BUILD)/core/,$$(addsuffix .o,$$(test_deps_$$*)))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

units: $(UNIT_BINS)

# Debian packages the build and the tests need.
DEPS := gcc make pkg-config libc6-dev libssl-dev libsqlite3-dev sqlite3 libtss2-dev tpm2-tools \
	swtpm swtpm-tools libjson-c-dev libsystemd-dev libkeyutils-dev keyutils libfuse3-dev fuse3 \
	libcmocka-dev bats util-linux procps iproute2

deps:
	@missing=""; for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: run as root to install:$$missing" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

check: deps
	$(MAKE) all units
	BUILD=$(BUILD) tests/lib/run-tests.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf $(BUILD)

.PHONY: all units deps check install clean
