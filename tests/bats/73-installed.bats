#!/usr/bin/env bats
# 73-installed: README.md's "Installed for real" section, typed as it is under a real systemd as
# PID 1 (a Podman container booting Debian bookworm: tests/lib/systemd.bash), then the installed
# vaultfsd.service as systemd runs it: Type=notify reaches active, a secret set through the
# socket is read through /vault, `systemctl reload` rereads the policy, stop unmounts /vault,
# start mounts it again; `systemd-analyze security` gives the exposure README states, and the
# hardening README suggests keeps all that working; the container leaves nothing on the host.
# The section's first line (make && sudo make install PREFIX=/usr) runs here on the host, into a
# DESTDIR staged tree (as the README says DESTDIR= does) copied into the container's /: the
# build is make check's, and the container needs no compiler (a build inside would double the
# image and build again what this suite tests). The rest is typed inside, in /root, as root.
# Facts of this machine, set before typing and not part of the README: the container's / is
# 0555 (podman's), so /vault is made by the section's tmpfiles line (vaultfsd has no
# CAP_DAC_OVERRIDE); no container has /dev/tpmrm0, so the TPM is swtpm run as a unit there, named
# in /etc/vaultfs/vaultfs.conf (tcti) with the drop-in the unit's comments ask for (AF_INET).
# The tests run in order on one container booted once for the file (about 1 s).

load helpers
. "$VAULTFS_TOP/tests/lib/systemd.bash"

# the first ```sh block after the heading "## Installed for real"
readme_block() {
	awk '/^## Installed for real/ { on = 1 } on && /^```sh$/ { inb = 1; next }
		inb && /^```$/ { exit } inb { print }' "$VAULTFS_TOP/README.md"
}

setup_file() {
	sysd_image
	[ -z "$SYSD_SKIP$SYSD_FAIL" ] || return 0
	sysd_boot || return 1
	echo "# systemd booted in $SYSD_C in $SYSD_BOOT_MS ms ($SYSD_IMAGE)" >&3
}

teardown_file() {
	sysd_teardown
}

setup() {
	sysd_skip_unless_ready
}

# as_user CMD...: CMD as uid 1000 in the container
as_user() {
	sysd_exec setpriv --reuid 1000 --regid 1000 --clear-groups "$@"
}

# journal_since CURSOR_FILE: the container's journal after the cursor saved in the file
journal_since() {
	sysd_exec journalctl --no-pager -q --after-cursor="$(cat "$1")"
}

save_cursor() {
	sysd_exec journalctl -q -n 0 --show-cursor | sed -n 's/^-- cursor: //p' >"$1"
	[ -s "$1" ]
}

# the overall exposure systemd-analyze gives the unit as loaded now
exposure() {
	sysd_exec systemd-analyze security --no-pager vaultfsd.service |
		sed -n 's/.*Overall exposure level for vaultfsd.service: \([0-9.]*\) .*/\1/p'
}

@test "README's installed section works as typed under a real systemd" {
	[ -n "$SYSD_C" ]
	readme_block >"$BATS_FILE_TMPDIR/block.sh"
	[ "$(head -n 1 "$BATS_FILE_TMPDIR/block.sh" | cut -c1-38)" = \
		"make && sudo make install PREFIX=/usr " ]
	grep -q 'DESTDIR= stages' "$BATS_FILE_TMPDIR/block.sh"
	# line 1, on the host into a DESTDIR (the build is make check's), then into the container
	stage=$BATS_FILE_TMPDIR/stage
	env -u MAKEFLAGS -u MAKELEVEL make -s --no-print-directory -C "$VAULTFS_TOP" -o all \
		BUILD="$VAULTFS_BUILD" DESTDIR="$stage" PREFIX=/usr install >/dev/null
	sysd_install_tree "$stage"
	run sysd_exec sh -c 'ldd /usr/sbin/vaultfsd /usr/bin/vaultctl'
	[ "$status" -eq 0 ]
	[[ $output != *"not found"* ]]
	# this machine's TPM (a software one, see the top of this file); / stays 0555 as the
	# image has it: the README's tmpfiles line makes /vault
	sysd_exec sed -i 's|^#tcti = .*|tcti = swtpm:host=127.0.0.1,port=2321|' \
		/etc/vaultfs/vaultfs.conf
	sysd_swtpm
	# the rest as typed, in root's home
	tail -n +2 "$BATS_FILE_TMPDIR/block.sh" >"$BATS_FILE_TMPDIR/typed.sh"
	run sysd_sh <"$BATS_FILE_TMPDIR/typed.sh"
	echo "$output"
	[[ $output == *"Store initialised (sealer tpm2)"* ]]
	[[ $output == *"Recovery key written to /root/vaultfs-recovery.key"* ]]
	[[ $output == *"Created symlink /etc/systemd/system/multi-user.target.wants/vaultfsd.service"* ]]
	[[ $output == *"daemon:  running, pid "* ]]
	[[ $output == *"mount:   /vault (vaultfs, mounted)"* ]]
	[[ $output == *"[ok  ] vaultfsd answers at /run/vaultfs/control.sock"* ]]
	[[ $output == *"[ok  ] /vault is a vaultfs mount"* ]]
	[[ $output == *"[ok  ] master key unseals here"* ]]
	[[ $output == *"0 failed"* ]]
	# what the lines made: tmpfiles' directories, the recovery key, the unit enabled and up
	run sysd_exec stat -c '%n %a' /var/lib/vaultfs /var/log/vaultfs /run/vaultfs \
		/root/vaultfs-recovery.key
	[ "$output" = "$(printf '%s\n' '/var/lib/vaultfs 700' '/var/log/vaultfs 700' \
		'/run/vaultfs 755' '/root/vaultfs-recovery.key 600')" ]
	run sysd_exec systemctl is-enabled vaultfsd
	[ "$output" = enabled ]
	# Type=notify: active only after READY=1, which vaultfsd sends once /vault is mounted
	run sysd_exec systemctl show -p Type -p ActiveState -p SubState -p StatusText \
		-p NRestarts vaultfsd
	echo "$output"
	[[ $output == *"Type=notify"* ]]
	[[ $output == *"ActiveState=active"* ]]
	[[ $output == *"SubState=running"* ]]
	[[ $output == *"StatusText=Serving /vault"* ]]
	[[ $output == *"NRestarts=0"* ]]
	run sysd_exec findmnt -n -o FSTYPE /vault
	[ "$output" = fuse.vaultfs ]
	# the README types `vaultctl status` without sudo: a user's view works too
	run as_user vaultctl status
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"daemon:  running, pid "* ]]
	[[ $output == *"loaded by vaultfsd"* ]]
	# the unit's bounding set, as systemd applied it (CAP_SYS_ADMIN, CAP_IPC_LOCK,
	# CAP_SYS_PTRACE), and no new privileges
	run sysd_exec sh -c 'grep -E "^(CapBnd|NoNewPrivs):" /proc/$(systemctl show -p MainPID \
		--value vaultfsd)/status'
	[[ $output == *"CapBnd:	0000000000284000"* ]]
	[[ $output == *"NoNewPrivs:	1"* ]]
}

@test "under systemd: a secret set through the socket is read through /vault" {
	run sysd_sh <<-'EOF'
	vaultctl vault create app
	printf 's3cret' | vaultctl secret set app/db
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"app/db: version 1"* ]]
	# the default policy: root manages and never reads, nobody else gets anything
	run sysd_exec cat /vault/app/db
	[ "$status" -ne 0 ]
	run as_user cat /vault/app/db
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
}

@test "systemctl reload: SIGHUP rereads the policy, in the log and the audit journal" {
	save_cursor "$BATS_FILE_TMPDIR/cursor"
	sysd_sh <<-'EOF'
	printf 'allow list /app uid=1000\nallow read /app/db uid=1000\n' \
		>/etc/vaultfs/policy.d/50-app.policy
	chmod 0600 /etc/vaultfs/policy.d/50-app.policy
	EOF
	# not yet loaded: still refused
	run as_user cat /vault/app/db
	[ "$status" -ne 0 ]
	run sysd_exec systemctl reload vaultfsd
	[ "$status" -eq 0 ]
	run as_user cat /vault/app/db
	[ "$status" -eq 0 ]
	[ "$output" = s3cret ]
	run journal_since "$BATS_FILE_TMPDIR/cursor"
	echo "$output"
	[[ $output == *"Reloading vaultfsd.service"* ]]
	[[ $output == *"vaultfsd: Policy reloaded: 3 rules in 2 files"* ]]
	[[ $output == *"Reloaded vaultfsd.service"* ]]
	run sysd_exec vaultctl audit show --event policy-reload
	[[ $output == *"policy-reload allow uid=0 "*"rule=3 rules in 2 files"* ]]
	run sysd_exec vaultctl audit show --event open
	[[ $output == *" open allow app/db v1 uid=1000 "*"rule=/etc/vaultfs/policy.d/50-app.policy:2"* ]]
	# and the systemd journal has it, with its fields (journald's native protocol, our sender)
	run sysd_exec journalctl -q --no-pager -o verbose MESSAGE_ID=08ed9c847c194ea5aa2aca0abbe022c2 \
		VAULTFS_EVENT=open VAULTFS_UID=1000
	echo "$output"
	[[ $output == *"MESSAGE=vaultfs audit: open allow app/db"* ]]
	[[ $output == *"SYSLOG_IDENTIFIER=vaultfs-audit"* ]]
	[[ $output == *"VAULTFS_RULE=/etc/vaultfs/policy.d/50-app.policy:2"* ]]
	[[ $output == *"VAULTFS_EXE=/usr/bin/cat"* ]]
	# the same process: a reload is no restart
	run sysd_exec systemctl show -p NRestarts -p ActiveState vaultfsd
	[[ $output == *"ActiveState=active"* ]]
	[[ $output == *"NRestarts=0"* ]]
}

@test "systemctl stop unmounts /vault; start mounts it again and serves the same secret" {
	save_cursor "$BATS_FILE_TMPDIR/cursor"
	pid=$(sysd_exec systemctl show -p MainPID --value vaultfsd)
	run sysd_exec systemctl stop vaultfsd
	[ "$status" -eq 0 ]
	run sysd_exec systemctl is-active vaultfsd
	[ "$output" = inactive ]
	run sysd_exec findmnt /vault
	[ "$status" -ne 0 ]
	# the process is gone, not left behind in the unit's cgroup
	run sysd_exec kill -0 "$pid"
	[ "$status" -ne 0 ]
	run journal_since "$BATS_FILE_TMPDIR/cursor"
	echo "$output"
	[[ $output == *"Stopped vaultfsd.service"* ]]
	[[ $output != *"vaultfsd.service: Failed"* ]]
	run sysd_exec systemctl start vaultfsd
	[ "$status" -eq 0 ]
	run sysd_exec systemctl show -p ActiveState -p StatusText vaultfsd
	[[ $output == *"ActiveState=active"* ]]
	[[ $output == *"StatusText=Serving /vault"* ]]
	run as_user cat /vault/app/db
	[ "$status" -eq 0 ]
	[ "$output" = s3cret ]
	run sysd_exec vaultctl status
	[[ $output == *"daemon:  running"* ]]
}

@test "systemd-analyze security gives the exposure README states" {
	run sysd_exec systemd-analyze security --no-pager vaultfsd.service
	echo "$output"
	score=$(sed -n 's/.*Overall exposure level for vaultfsd.service: \([0-9.]*\) .*/\1/p' \
		<<<"$output")
	[ -n "$score" ]
	# the findings README answers: root, the mount, no namespace of its own
	[[ $output == *"✗ PrivateMounts="* ]]
	[[ $output == *"✗ CapabilityBoundingSet=~CAP_SYS_ADMIN"* ]]
	[[ $output == *"✓ NoNewPrivileges="* ]]
	# the shipped unit alone (this machine's swtpm drop-in allows AF_INET too)
	sysd_exec mv /etc/systemd/system/vaultfsd.service.d/swtpm.conf /root/swtpm.conf
	sysd_exec systemctl daemon-reload
	shipped=$(exposure)
	sysd_exec mv /root/swtpm.conf /etc/systemd/system/vaultfsd.service.d/swtpm.conf
	sysd_exec systemctl daemon-reload
	echo "shipped unit: $shipped; with the swtpm drop-in: $score"
	grep -q "systemd-analyze security vaultfsd.service\` rates the unit $shipped " \
		"$VAULTFS_TOP/README.md"
}

@test "the hardening README suggests keeps the unit working, at the exposure it states" {
	local d=/etc/systemd/system/vaultfsd.service.d

	sysd_sh <<-EOF
	printf '[Service]\nProtectClock=yes\nProtectHostname=yes\nIPAddressDeny=any\n' >$d/harden.conf
	printf 'SystemCallFilter=~@resources @privileged\n' >>$d/harden.conf
	printf 'IPAddressAllow=localhost\n' >>$d/swtpm.conf
	systemctl daemon-reload
	EOF
	run sysd_exec systemctl restart vaultfsd
	[ "$status" -eq 0 ]
	run sysd_exec systemctl show -p ProtectClock -p ProtectHostname -p IPAddressDeny vaultfsd
	echo "$output"
	[[ $output == *"ProtectClock=yes"* ]]
	[[ $output == *"ProtectHostname=yes"* ]]
	# any: both families, in an order of systemd's own
	deny=$(grep '^IPAddressDeny=' <<<"$output")
	[[ $deny == *0.0.0.0/0* && $deny == *::/0* ]]
	run as_user cat /vault/app/db
	[ "$output" = s3cret ]
	run sysd_sh <<-'EOF'
	printf 's3cret2' | vaultctl secret set app/db && systemctl reload vaultfsd &&
		systemctl stop vaultfsd && ! findmnt /vault && systemctl start vaultfsd
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
	run as_user cat /vault/app/db
	[ "$output" = s3cret2 ]
	# nothing the filter refuses shows up as a failure
	run sysd_exec journalctl -q -u vaultfsd --no-pager -n 30
	[[ $output != *"not permitted"* ]]
	sysd_exec mv $d/swtpm.conf /root/swtpm.conf
	sysd_exec systemctl daemon-reload
	score=$(exposure)
	sysd_exec mv /root/swtpm.conf $d/swtpm.conf
	sysd_exec rm $d/harden.conf
	sysd_exec systemctl daemon-reload
	echo "with the drop-in: $score"
	grep -q "would bring it to $score\." "$VAULTFS_TOP/README.md"
}

@test "the container leaves nothing on the host" {
	id=$SYSD_ID
	[ -n "$id" ]
	[ -n "$(sysd_leftovers "$id")" ] # it is seen while it runs: the check can fail
	sysd_teardown
	run sysd_leftovers "$id"
	echo "$output"
	[ -z "$output" ]
}
