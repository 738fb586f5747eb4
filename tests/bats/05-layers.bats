#!/usr/bin/env bats
# The layer table of DESIGN.md §3 is checked by the build (tests/lib/check-layers.sh, run by
# `make check` before it builds): the tree as it is passes, and a forbidden include fails; the
# same for the form (tests/lib/check-format.sh with .clang-format).

CHECK=$BATS_TEST_DIRNAME/../lib/check-layers.sh

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-layers.XXXXXX")
	mkdir -p "$T/core" "$T/policy" "$T/fs" "$T/tools"
	printf '#include "util.h"\n#include "core/log.h"\n' >"$T/core/a.c"
	printf '#include "core/log.h"\n#include "policy/policy.h"\n' >"$T/policy/b.c"
	printf '#include <fuse_lowlevel.h>\n#include "policy/policy.h"\n#include "fs/x.h"\n' \
		>"$T/fs/c.c"
	printf '#include "core/kv.h"\n#include "policy/policy.h"\n#include "vaultctl.h"\n' \
		>"$T/tools/d.c"
}

teardown() {
	rm -rf -- "$T"
}

@test "layers: the repository passes" {
	run "$CHECK"
	[ "$status" -eq 0 ]
	[ "$output" = "layers: ok" ]
}

@test "layers: a tree that keeps the table passes" {
	run "$CHECK" "$T"
	[ "$status" -eq 0 ]
}

@test "layers: core including policy/ fails, naming the file and line" {
	printf '#include <stdio.h>\n#include "policy/identity.h"\n' >"$T/core/bad.c"
	run "$CHECK" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"core/bad.c:2: core/ may not include \"policy/identity.h\""* ]]
}

@test "layers: policy including fs/, and tools including fs/, fail" {
	printf '#include "fs/vaultfs.h"\n' >"$T/policy/bad.h"
	printf '#include "fs/control.h"\n' >"$T/tools/bad.c"
	run "$CHECK" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"policy/bad.h:1:"* ]]
	[[ "$output" == *"tools/bad.c:1:"* ]]
}

@test "layers: a FUSE header outside fs/ fails" {
	printf '#include <fuse_lowlevel.h>\n' >"$T/tools/fuse.c"
	run "$CHECK" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"only fs/ includes the FUSE headers"* ]]
}

@test "format: the repository is as clang-format makes it; a file that differs fails" {
	command -v clang-format >/dev/null || skip "clang-format is not installed"
	run "$BATS_TEST_DIRNAME/../lib/check-format.sh"
	[ "$status" -eq 0 ]
	cp "$BATS_TEST_DIRNAME/../../core/buf.c" "$T/buf.c"
	cp "$BATS_TEST_DIRNAME/../../.clang-format" "$T/.clang-format"
	run "$BATS_TEST_DIRNAME/../lib/check-format.sh" "$T/buf.c"
	[ "$status" -eq 0 ]
	sed -i 's/^\tint r = buf_reserve(b, n);$/  int r=buf_reserve(b,n);/' "$T/buf.c"
	run "$BATS_TEST_DIRNAME/../lib/check-format.sh" "$T/buf.c"
	[ "$status" -eq 1 ]
	[[ $output == *"$T/buf.c differs from clang-format"* ]]
}
