#!/usr/bin/env bats
# README.md's "By hand" section, typed as it is: the shell block is taken from the README and
# run line by line by bash in a scratch directory (the tree's tests/ linked in, the build's
# programs first on PATH), but for its first line (make deps && make: done by make check).
# What it prints is checked against what the README says each line does.

load helpers

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-readme.XXXXXX")
	chmod 0711 "$T"
	ln -s "$VAULTFS_TOP/tests" "$T/tests"
}

teardown() {
	if grep -q " $T/my/mnt fuse" /proc/mounts; then
		fusermount3 -u "$T/my/mnt" 2>/dev/null || umount -l "$T/my/mnt" || true
	fi
	[ -f "$T/my/swtpm/swtpm.pid" ] && kill "$(cat "$T/my/swtpm/swtpm.pid")" 2>/dev/null
	pkill -f "vaultfsd -c my/vaultfs.conf" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf -- "$T"
}

# the first ```sh block after the line starting "By hand"
readme_block() {
	awk '/^By hand/ { on = 1 } on && /^```sh$/ { inb = 1; next } inb && /^```$/ { exit }
		inb { print }' "$VAULTFS_TOP/README.md"
}

@test "README's by-hand section works as typed" {
	readme_block >"$T/block.sh"
	[ "$(head -n 1 "$T/block.sh" | cut -c1-21)" = "make deps && make && " ]
	grep -q '^vaultfsd -c my/vaultfs.conf &' "$T/block.sh"
	# the build is make check's; the rest as typed, with the job control kill %1 needs
	{
		echo "set -m"
		echo "export PATH=$VAULTFS_BUILD:\$PATH"
		tail -n +2 "$T/block.sh"
		echo "wait"
	} >"$T/run.sh"
	cd "$T"
	run bash "$T/run.sh" 3>&-
	echo "$output"
	[[ $output == *"Store initialised"* ]]
	[[ $output == *"app: created"* ]]
	[[ $output == *"app/db: version 1"* ]]
	# uid 1000 reads the version the file write made, root is refused
	[[ $output == *"s3cret2"* ]]
	[[ $output == *"cat: my/mnt/app/db: "* ]]
	[[ $output == *" set allow app/db v1 uid=0 "* ]]
	[[ $output == *" open allow app/db v2 uid=1000 "* ]]
	[[ $output == *" open deny "*"app/db "*"uid=0 "* ]]
	# the daemon stopped and unmounted on kill %1
	! grep -q " $T/my/mnt fuse" /proc/mounts || false
	grep -q "^tcti = " my/vaultfs.conf
}
