#!/usr/bin/env bats
# `vaultctl keyring load`: a secret's value placed in a kernel keyring through the daemon
# (decided under read, recorded), as a logon key nobody can read back or a user key that reads
# back exactly; refusals by policy and by usage, before anything is read; an fscrypt v1
# directory on an ext4 loop device unlocked by a key from the vault; a dm-crypt mapping with a
# logon key where the kernel has device-mapper (skipped here otherwise, with the reason), and a
# LUKS2 keyslot opened by cryptsetup's keyring token from a user key. Each
# test has its own swtpm, store, journal, mount and socket; keys are named per test run and
# unlinked, and loop mounts undone, in teardown.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	vault_setup
	chmod 0711 "$T" # other uids reach the socket and the config below it
	mkdir -m 0700 "$T/policy.d"
	init_store
	vctl vault create app
	DAEMON=
	KEYS=()    # "UID SERIAL" of the keys to unlink
	FSMNT=     # an ext4 loop mount to undo
	DMNAME=    # a dm-crypt mapping to remove
	LOOPDEV=   # a loop device to detach
	DESC=vaultfs-test:$$:$BATS_TEST_NUMBER
	# libdevmapper (cryptsetup, dmsetup) makes /dev/mapper/control when it is missing, even
	# where the kernel has no device-mapper: such a dead node is removed again in teardown
	DM_NODE_WAS=no
	if [ -e /dev/mapper/control ]; then DM_NODE_WAS=yes; fi
}

# has_dm: whether the kernel has device-mapper (without touching /dev/mapper)
has_dm() {
	grep -qw device-mapper /proc/misc 2>/dev/null
}

teardown() {
	local k
	for k in "${KEYS[@]}"; do
		as "${k% *}" keyctl invalidate "${k#* }" 2>/dev/null || true
	done
	if [ -n "$DMNAME" ]; then
		dmsetup remove "$DMNAME" 2>/dev/null || true
	fi
	if [ -n "$FSMNT" ] && grep -q " $FSMNT " /proc/mounts 2>/dev/null; then
		umount "$FSMNT" || umount -l "$FSMNT" || true
	fi
	if [ -n "$LOOPDEV" ]; then
		losetup -d "$LOOPDEV" 2>/dev/null || true
	fi
	# a loop device still attached to our image (mount -o loop clears itself, but a failed
	# umount would not)
	if [ -n "${T:-}" ] && [ -e "$T/fs.img" ]; then
		for k in $(losetup -j "$T/fs.img" -O NAME -n 2>/dev/null); do
			losetup -d "$k" 2>/dev/null || true
		done
	fi
	if [ "$DM_NODE_WAS" = no ] && [ -e /dev/mapper/control ] && ! has_dm; then
		rm -f /dev/mapper/control
		rmdir /dev/mapper 2>/dev/null || true
	fi
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# opens: how many open records the journal has
opens() {
	vctl audit show --event open | grep -c ' open ' || true
}

@test "a logon key: listed in the keyring, never readable; the read is decided and recorded" {
	policy <<-'EOF'
	allow list,read /app/** uid=0
	EOF
	printf 'logon-value-%s' "$$" >"$T/value"
	vctl secret set app/db --file "$T/value"
	daemon_start
	run --separate-stderr ctl keyring load app/db --description "$DESC" --timeout 10m
	[ "$status" -eq 0 ]
	[[ $output =~ ^[0-9]+$ ]]
	serial=$output
	KEYS+=("0 $serial")
	[[ $stderr == *"logon key '$DESC' (serial $serial) in @u"* ]]
	[[ $output$stderr != *logon-value* ]]
	# in root's user keyring, as a logon key, with a timeout
	run keyctl show @u
	[[ $output == *"$serial"*"logon: $DESC"* ]]
	[ "$(keyctl rdescribe "$serial")" = "logon;0;0;3d010000;$DESC" ]
	run awk -v id="$(printf '%08x' "$serial")" '$1 == id { print $4 }' /proc/keys
	[[ $output =~ ^(9|10)m$ ]]
	# userspace cannot read a logon key back, not even its owner
	run keyctl print "$serial"
	[ "$status" -ne 0 ]
	[[ $output == *"Operation not supported"* ]]
	run keyctl pipe "$serial"
	[ "$status" -ne 0 ]
	[[ $output != *logon-value* ]]
	# the read is the daemon's, decided under read and recorded with vaultctl as the caller
	run vctl audit show --event open
	[[ $output == *" open allow app/db v1 uid=0 "*"exe=$VAULTCTL"*"rule=$T/policy.d/10-test.policy:1"* ]]
	# loading again replaces the key of that name in @u: one link, the new serial
	run --separate-stderr ctl keyring load app/db --description "$DESC"
	[ "$status" -eq 0 ]
	KEYS+=("0 $output")
	[ "$output" != "$serial" ]
	[ "$(keyctl show @u | grep -c "logon: $DESC\$")" -eq 1 ]
}

@test "a user key reads back exactly; --version picks the version; --keyring @s outlives vaultctl" {
	policy <<-'EOF'
	allow list,read /app/** uid=0
	EOF
	head -c 4000 /dev/urandom >"$T/v1"
	printf 'second' >"$T/v2"
	vctl secret set app/blob --file "$T/v1"
	vctl secret set app/blob --file "$T/v2"
	daemon_start
	serial=$(ctl keyring load app/blob --type user --description "$DESC" --version 1 2>/dev/null)
	KEYS+=("0 $serial")
	keyctl pipe "$serial" >"$T/back"
	cmp "$T/v1" "$T/back"
	[ "$(keyctl rdescribe "$serial")" = "user;0;0;3f010000;$DESC" ]
	# no timeout asked: none set
	run awk -v id="$(printf '%08x' "$serial")" '$1 == id { print $4 }' /proc/keys
	[ "$output" = perm ]
	# this test runs without a session keyring (no login): @s is the user-session keyring,
	# said so, and the key is still there after vaultctl exits
	[ "$(keyctl show @s | head -2 | tail -1 | awk '{print $NF}')" = _uid_ses.0 ] ||
		skip "this test was started in a session keyring of its own"
	run --separate-stderr ctl keyring load app/blob --type user --description "$DESC:s" \
		--keyring @s
	[ "$status" -eq 0 ]
	KEYS+=("0 $output")
	[[ $stderr == *"no session keyring here"*"@s is the user-session keyring @us"* ]]
	[ "$(keyctl pipe "%user:$DESC:s")" = second ]
	keyctl show @us | grep -q "user: $DESC:s\$"
}

@test "a uid without read is refused and recorded, and nothing is loaded; an allowed uid loads" {
	policy <<-'EOF'
	allow list,read /app/db uid=1000
	EOF
	printf 'for-1000' | vctl secret set app/db
	daemon_start
	run ctl_as 1001 keyring load app/db --description "$DESC"
	[ "$status" -eq 1 ]
	[[ $output == *"secret 'app/db'"*"permission denied"* ]]
	run as 1001 keyctl search @u logon "$DESC"
	[ "$status" -ne 0 ]
	run vctl audit show --event open --decision deny
	[[ $output == *" open deny EACCES app/db uid=1001 "*"rule=default"* ]]
	# uid 1000 may read: the key lands in its own user keyring, not root's
	serial=$(ctl_as 1000 keyring load app/db --description "$DESC" 2>/dev/null)
	KEYS+=("1000 $serial")
	[ "$(as 1000 keyctl search @u logon "$DESC")" = "$serial" ]
	[ "$(as 1000 keyctl rdescribe "$serial" | cut -d';' -f1-3)" = "logon;1000;1000" ]
	run keyctl search @u logon "$DESC"
	[ "$status" -ne 0 ]
	run vctl audit show --event open --decision allow
	[[ $output == *" open allow app/db v1 uid=1000 "* ]]
}

@test "usage errors are refused before the value is read: nothing fetched, nothing recorded" {
	policy <<-'EOF'
	allow list,read /app/** uid=0
	EOF
	printf 'short' | vctl secret set app/db
	daemon_start
	before=$(opens)
	run ctl keyring load app/db --description "$DESC" --keyring @p
	[ "$status" -eq 2 ]
	[[ $output == *"--keyring @p dies with vaultctl"*"use @u"* ]]
	run ctl keyring load app/db --description "$DESC" --keyring @t
	[ "$status" -eq 2 ]
	[[ $output == *"dies with vaultctl"* ]]
	run ctl keyring load app/db --description "$DESC" --keyring @g
	[ "$status" -eq 2 ]
	[[ $output == *"no group keyrings"* ]]
	run ctl keyring load app/db --description "$DESC" --keyring 'x1'
	[ "$status" -eq 2 ]
	[[ $output == *"not a keyring"* ]]
	run ctl keyring load app/db --description "$DESC" --keyring 2147483647
	[ "$status" -eq 1 ]
	[[ $output == *"keyring 2147483647: no such keyring"* ]]
	run ctl keyring load app/db --description nocolon
	[ "$status" -eq 2 ]
	[[ $output == *"logon key's description needs a prefix"*"cryptsetup:NAME"* ]]
	run ctl keyring load app/db --description ':x'
	[ "$status" -eq 2 ]
	[[ $output == *"needs a prefix"* ]]
	run ctl keyring load app/db
	[ "$status" -eq 2 ]
	[[ $output == *"needs --description"* ]]
	run ctl keyring load app/db --description "$DESC" --type big_key
	[ "$status" -eq 2 ]
	[[ $output == *"--type: logon or user"* ]]
	run ctl keyring load app/db --format fscrypt --description 0123456789abcde
	[ "$status" -eq 2 ]
	[[ $output == *"16 hex digits"* ]]
	run ctl keyring load app/db --format fscrypt --description 0123456789abcdef --type user
	[ "$status" -eq 2 ]
	[[ $output == *"fscrypt looks up logon keys only"* ]]
	run ctl keyring load app/db --format pem --description "$DESC"
	[ "$status" -eq 2 ]
	run ctl keyring load app/db --description "$DESC" --timeout 0
	[ "$status" -eq 2 ]
	[[ $output == *"--timeout"* ]]
	run ctl keyring load app/db --description "$DESC" --timeout 5y
	[ "$status" -eq 2 ]
	run ctl keyring load app --description "$DESC"
	[ "$status" -eq 2 ]
	run ctl keyring unload app/db
	[ "$status" -eq 2 ]
	[ "$(opens)" = "$before" ]
	# a value that is not an fscrypt key: read (and recorded), refused, never printed
	run ctl keyring load app/db --format fscrypt --description 0123456789abcdef
	[ "$status" -eq 2 ]
	[[ $output == *"not an fscrypt key: it must be 64 bytes"*"128 hex digits"*"it is 5 bytes"* ]]
	[[ $output != *short* ]]
	{ printf '%0127d' 0; printf 'g'; } | vctl secret set app/db
	run ctl keyring load app/db --format fscrypt --description 0123456789abcdef
	[ "$status" -eq 2 ]
	[[ $output == *"it is 128 bytes, not all hex digits"* ]]
	run keyctl search @u logon fscrypt:0123456789abcdef
	[ "$status" -ne 0 ]
	[ "$(opens)" -eq $((before + 2)) ]
}

# fscrypt_setup: an ext4 with -O encrypt on a loop device at $FSMNT, a directory $FSMNT/enc
# under a v1 policy with descriptor $FSDESC (16 hex); skips where the kernel or tools lack it.
fscrypt_setup() {
	local t
	for t in mkfs.ext4 e4crypt keyctl; do
		command -v "$t" >/dev/null || skip "$t is not installed"
	done
	[ "$(id -u)" -eq 0 ] || skip "needs root (mount)"
	truncate -s 32M "$T/fs.img"
	mkfs.ext4 -q -F -O encrypt "$T/fs.img" || skip "mkfs.ext4 has no -O encrypt"
	mkdir "$T/fs"
	mount -o loop "$T/fs.img" "$T/fs" 2>"$T/mount.err" ||
		skip "cannot mount an ext4 loop device: $(cat "$T/mount.err")"
	FSMNT=$T/fs
	mkdir "$FSMNT/enc"
	FSDESC=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
	e4crypt set_policy "$FSDESC" "$FSMNT/enc" >"$T/policy.out" 2>&1 ||
		skip "the kernel refuses an fscrypt policy (CONFIG_FS_ENCRYPTION?): $(cat "$T/policy.out")"
}

@test "fscrypt: a v1 directory on ext4 unlocked by a logon key from the vault, locked without it" {
	fscrypt_setup
	policy <<-'EOF'
	allow list,read /app/** uid=0
	EOF
	# version 1: the 64 raw bytes; version 2: the same key as hex text with a newline
	head -c 64 /dev/urandom >"$T/fskey"
	vctl secret set app/fskey --file "$T/fskey"
	od -An -tx1 -v "$T/fskey" | tr -d ' \n' | tr a-f A-F >"$T/fskey.hex"
	echo >>"$T/fskey.hex"
	vctl secret set app/fskey --file "$T/fskey.hex"
	daemon_start
	serial=$(ctl keyring load app/fskey --format fscrypt --description "$FSDESC" --version 1)
	KEYS+=("0 $serial")
	[ "$(keyctl rdescribe "$serial" | cut -d';' -f1,5)" = "logon;fscrypt:$FSDESC" ]
	run keyctl print "$serial"
	[ "$status" -ne 0 ]
	[[ $output == *"Operation not supported"* ]]
	echo "plain data $$" >"$FSMNT/enc/file"
	[ "$(ls "$FSMNT/enc")" = file ]
	# without the key (the inode keys stay cached until umount): names are ciphertext, reads fail
	umount "$FSMNT"
	keyctl invalidate "$serial"
	mount -o loop "$T/fs.img" "$FSMNT"
	name=$(ls "$FSMNT/enc")
	[ -n "$name" ]
	[ "$name" != file ]
	run cat "$FSMNT/enc/$name"
	[ "$status" -ne 0 ]
	[[ $output == *"Required key not available"* ]]
	run cat "$FSMNT/enc/file"
	[ "$status" -ne 0 ]
	# the key again, from its hex form, the descriptor given in capitals with its prefix
	serial=$(ctl keyring load app/fskey --format fscrypt \
		--description "fscrypt:$(tr a-f A-F <<<"$FSDESC")" --version 2)
	KEYS+=("0 $serial")
	[ "$(keyctl rdescribe "$serial" | cut -d';' -f5)" = "fscrypt:$FSDESC" ]
	[ "$(ls "$FSMNT/enc")" = file ]
	[ "$(cat "$FSMNT/enc/file")" = "plain data $$" ]
	run keyctl print "$serial"
	[ "$status" -ne 0 ]
	# both reads were the daemon's, recorded
	run vctl audit show --event open --decision allow
	[[ $output == *" open allow app/fskey v1 uid=0 "*" open allow app/fskey v2 uid=0 "* ]]
}

@test "LUKS2: cryptsetup's keyring token opens a keyslot with a user key from the vault" {
	command -v cryptsetup >/dev/null || skip "cryptsetup is not installed (Debian: cryptsetup-bin)"
	policy <<-'EOF'
	allow list,read /app/** uid=0
	EOF
	head -c 24 /dev/urandom | base64 -w0 >"$T/pass"
	vctl secret set app/luks-pass --file "$T/pass"
	truncate -s 32M "$T/luks.img"
	cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --key-file "$T/pass" "$T/luks.img"
	rm "$T/pass" # no key file from here on
	cryptsetup token add --key-description "$DESC:luks" "$T/luks.img"
	# without the key the token opens nothing
	run cryptsetup open --test-passphrase --token-only "$T/luks.img"
	[ "$status" -ne 0 ]
	daemon_start
	serial=$(ctl keyring load app/luks-pass --type user --description "$DESC:luks" \
		--timeout 1m)
	KEYS+=("0 $serial")
	run cryptsetup open --test-passphrase --token-only -v "$T/luks.img"
	[ "$status" -eq 0 ]
	[[ $output == *"Key slot 0 unlocked"* ]]
	# cryptsetup reads the passphrase: a logon key of that name does not do
	keyctl invalidate "$serial"
	serial=$(ctl keyring load app/luks-pass --description "$DESC:luks")
	KEYS+=("0 $serial")
	run cryptsetup open --test-passphrase --token-only "$T/luks.img"
	[ "$status" -ne 0 ]
}

@test "dm-crypt: a mapping whose key is a logon key from the vault (needs device-mapper)" {
	has_dm || skip "no device-mapper here (none in /proc/misc: the kernel lacks CONFIG_BLK_DEV_DM)"
	command -v dmsetup >/dev/null || skip "dmsetup is not installed"
	dmsetup version >/dev/null 2>&1 || skip "dmsetup cannot reach the kernel's device-mapper"
	policy <<-'EOF'
	allow list,read /app/** uid=0
	EOF
	head -c 32 /dev/urandom >"$T/dmkey"
	vctl secret set app/dmkey --file "$T/dmkey"
	truncate -s 16M "$T/fs.img"
	LOOPDEV=$(losetup -f --show "$T/fs.img")
	daemon_start
	serial=$(ctl keyring load app/dmkey --description "cryptsetup:$DESC")
	KEYS+=("0 $serial")
	DMNAME=vaultfs-test-$$
	table="0 $(blockdev --getsz "$LOOPDEV") crypt aes-xts-plain64 :32:logon:cryptsetup:$DESC 0 $LOOPDEV 0"
	dmsetup create "$DMNAME" --table "$table"
	printf 'plain data %s' "$$" | dd of="/dev/mapper/$DMNAME" bs=512 conv=sync,fsync 2>/dev/null
	dmsetup remove "$DMNAME"
	# on the loop device only ciphertext
	if head -c 512 "$LOOPDEV" | grep -qa "plain data"; then false; fi
	# without the key the table does not load; with it, the data reads back
	keyctl invalidate "$serial"
	run dmsetup create "$DMNAME" --table "$table"
	[ "$status" -ne 0 ]
	serial=$(ctl keyring load app/dmkey --description "cryptsetup:$DESC")
	KEYS+=("0 $serial")
	dmsetup create "$DMNAME" --table "$table"
	head -c 512 "/dev/mapper/$DMNAME" | grep -qa "plain data $$"
}
