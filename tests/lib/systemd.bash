# shellcheck shell=bash
# systemd.bash: a real systemd as PID 1 for the tests, in a Podman container booted from the image
# tests/lib/systemd-image.sh makes (Debian bookworm: systemd 252, the libraries vaultfsd links,
# swtpm). Source it from a bats file (after helpers), then:
#   sysd_image            in setup_file: the image (made once per run, reused), or the reason
#                         it cannot be had, kept for sysd_skip_unless_ready
#   sysd_skip_unless_ready in each test: skips with that reason where Podman cannot run, fails
#                         where it runs but the image could not be made
#   sysd_boot             boots a container and waits until its systemd is up: SYSD_C, SYSD_ID
#   sysd_exec CMD...      runs CMD in it (as root, cwd /root; by nsenter, see there); sysd_sh
#                         runs stdin there by bash
#   sysd_install_tree DIR copies a staged install (make install DESTDIR=DIR) into its /
#   sysd_swtpm            a software TPM there as a unit (swtpm.service, 127.0.0.1:2321): no
#                         container has /dev/tpmrm0
#   sysd_teardown         removes the container; sysd_leftovers prints what it left on the host
# The container: `podman run --systemd=always` with /dev/fuse and CAP_SYS_ADMIN (to mount),
# CAP_IPC_LOCK and CAP_SYS_PTRACE (the unit's bounding set asks for them: a host's PID 1 has
# them, the container's default set does not), no network (else podman makes a bridge and
# iptables chains on the host), both --ulimit (else runc fails "error setting rlimit"), and the
# host's cgroup namespace (--cgroupns=private makes its systemd take the host's cgroup root
# for its own on this hybrid cgroup host, and removes cgroups there). No --ulimit memlock: root
# here lacks CAP_SYS_RESOURCE (hard limit 8 MiB) and runc fails to raise it; the unit's
# LimitMEMLOCK=infinity then comes out as 8 MiB (systemd takes the closest it may), which
# CAP_IPC_LOCK makes moot.
# Nothing here stops a container it did not start: names are vaultfs-sysd-PID-RANDOM.

SYSD_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# sysd_image: SYSD_IMAGE, from the build's cache (or VAULTFS_TEST_SYSTEMD_IMAGE, an image made
# already); else SYSD_SKIP says why Podman cannot run here (the tests skip), or SYSD_FAIL why
# the image could not be made (the tests fail). Keeps them in BATS_FILE_TMPDIR for the tests.
sysd_image() {
	local build=${VAULTFS_BUILD:-$SYSD_TOP/build} err rc

	SYSD_IMAGE=${VAULTFS_TEST_SYSTEMD_IMAGE:-}
	SYSD_SKIP=
	SYSD_FAIL=
	if [ -z "$SYSD_IMAGE" ]; then
		err=$(mktemp)
		rc=0
		SYSD_IMAGE=$("$SYSD_TOP/tests/lib/systemd-image.sh" "$build/systemd" 2>"$err") || rc=$?
		case $rc in
		0) ;;
		77) SYSD_SKIP="$(grep 'systemd-image:' "$err" | tail -n 1)" ;;
		*) SYSD_FAIL="no systemd image: $(tail -n 30 "$err")" ;;
		esac
		rm -f -- "$err"
	fi
	[ -n "$SYSD_SKIP$SYSD_FAIL" ] || sysd_probe_ || true
	printf '%s\n' "$SYSD_IMAGE" >"$BATS_FILE_TMPDIR/sysd-image"
	printf '%s\n' "$SYSD_SKIP" >"$BATS_FILE_TMPDIR/sysd-skip"
	printf '%s\n' "$SYSD_FAIL" >"$BATS_FILE_TMPDIR/sysd-fail"
}

# Can a container with /dev/fuse run at all here (not only can podman talk)? Sets SYSD_SKIP.
sysd_probe_() {
	local out

	out=$(podman run --rm --pull=never --network none --device /dev/fuse --cap-add SYS_ADMIN \
		--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$SYSD_IMAGE" /bin/true 2>&1) ||
		SYSD_SKIP="podman cannot run a container here: $(tail -n 1 <<<"$out")"
	[ -z "$SYSD_SKIP" ]
}

sysd_skip_unless_ready() {
	SYSD_IMAGE=$(cat "$BATS_FILE_TMPDIR/sysd-image" 2>/dev/null)
	SYSD_SKIP=$(cat "$BATS_FILE_TMPDIR/sysd-skip" 2>/dev/null)
	if [ -n "$SYSD_SKIP" ]; then
		skip "$SYSD_SKIP"
	fi
	# Podman runs here but the image could not be made: that is a failure, not a skip
	SYSD_FAIL=$(cat "$BATS_FILE_TMPDIR/sysd-fail" 2>/dev/null)
	if [ -n "$SYSD_FAIL" ]; then
		echo "$SYSD_FAIL" >&2
		return 1
	fi
	[ -n "$SYSD_IMAGE" ] || skip "no systemd image (sysd_image was not called)"
	SYSD_C=$(cat "$BATS_FILE_TMPDIR/sysd-container" 2>/dev/null)
	SYSD_ID=$(cat "$BATS_FILE_TMPDIR/sysd-id" 2>/dev/null)
	SYSD_PID=$(cat "$BATS_FILE_TMPDIR/sysd-pid" 2>/dev/null)
}

# sysd_boot: start a container and wait until systemd runs (is-system-running --wait says
# "running" or "degraded"); its name, id and PID 1's host pid in SYSD_C, SYSD_ID, SYSD_PID
# (and BATS_FILE_TMPDIR).
# Times the boot in SYSD_BOOT_MS.
sysd_boot() {
	local t0 i out

	SYSD_C=vaultfs-sysd-$$-$RANDOM
	t0=$(date +%s%N)
	SYSD_ID=$(podman run -d --pull=never --name "$SYSD_C" --systemd=always --device /dev/fuse \
		--cap-add SYS_ADMIN,IPC_LOCK,SYS_PTRACE --network none \
		--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$SYSD_IMAGE" /sbin/init) || return 1
	printf '%s\n' "$SYSD_C" >"$BATS_FILE_TMPDIR/sysd-container"
	printf '%s\n' "$SYSD_ID" >"$BATS_FILE_TMPDIR/sysd-id"
	SYSD_PID=$(podman inspect -f '{{.State.Pid}}' "$SYSD_C") || return 1
	printf '%s\n' "$SYSD_PID" >"$BATS_FILE_TMPDIR/sysd-pid"
	# Too early, systemctl fails at once with "Failed to connect to bus": retry.
	for ((i = 0; i < 300; i++)); do
		out=$(sysd_exec systemctl is-system-running --wait 2>&1)
		case $out in
		running | degraded)
			SYSD_BOOT_MS=$((($(date +%s%N) - t0) / 1000000))
			export SYSD_BOOT_MS
			[ "$out" = running ] ||
				sysd_exec systemctl --failed --no-pager >&2
			return 0
			;;
		esac
		sleep 0.1
	done
	echo "sysd_boot: systemd in $SYSD_C did not come up: $out" >&2
	podman logs "$SYSD_C" 2>&1 | tail -n 20 >&2
	return 1
}

# sysd_exec CMD...: CMD in the container as root, in /root, with a clean environment. It enters
# every namespace of the container's PID 1 (mount, pid, net, ipc, uts, cgroup) with nsenter:
# `podman exec` costs 0.3 to 0.7 s a call on these loaded machines, nsenter 25 ms, and these
# tests make a hundred calls. What differs from podman exec: the command stays in the caller's
# cgroup and capability set (the tests' clients are told apart by uid, not by either);
# sysd_podman_exec is there for a test that needs the container's own.
sysd_exec() {
	nsenter -t "$SYSD_PID" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin \
		HOME=/root LANG=C.UTF-8 sh -c 'cd /root && exec "$@"' sh "$@"
}

sysd_podman_exec() {
	podman exec --workdir /root "$SYSD_C" "$@"
}

# sysd_sh: stdin, a bash script, run in the container as sysd_exec runs a command, ending at
# its first command that fails (bash -e: a test sees the step that failed, not only the last)
sysd_sh() {
	sysd_exec bash -es "$@"
}

# sysd_install_tree DIR: copy DIR's tree (a DESTDIR staged install) into the container's /,
# with modes and owners; existing directories keep their own.
sysd_install_tree() {
	tar -C "$1" -c . | sysd_exec tar -C / --no-overwrite-dir -xpf -
}

# sysd_swtpm: this container's TPM, a software one run by its systemd (swtpm.service) on
# 127.0.0.1:2321 (commands) and :2322 (control), ready when the control port answers; and the
# vaultfsd.service drop-in it needs: the unit allows AF_UNIX only, the swtpm TCTI is TCP.
# Enabled and started now, as a host's TPM is there from boot (vaultctl init needs it).
sysd_swtpm() {
	sysd_sh <<-'EOF'
	set -e
	cat >/etc/systemd/system/swtpm.service <<'UNIT'
	[Unit]
	Description=a software TPM on 127.0.0.1:2321 (this machine has no /dev/tpmrm0)
	[Service]
	StateDirectory=swtpm-vaultfs
	ExecStart=/usr/bin/swtpm socket --tpm2 --tpmstate dir=/var/lib/swtpm-vaultfs \
		--server type=tcp,port=2321,bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=2322,bindaddr=127.0.0.1 --flags not-need-init,startup-clear
	ExecStartPost=/bin/bash -c 'for i in {1..200}; do \
		(exec 3<>/dev/tcp/127.0.0.1/2322) 2>/dev/null && exit 0; sleep 0.05; done; exit 1'
	[Install]
	WantedBy=multi-user.target
	UNIT
	systemctl enable --now --quiet swtpm.service
	mkdir -p /etc/systemd/system/vaultfsd.service.d
	cat >/etc/systemd/system/vaultfsd.service.d/swtpm.conf <<'UNIT'
	# the TPM is a software one, reached over TCP (tcti = swtpm:...)
	[Unit]
	Wants=swtpm.service
	After=swtpm.service
	[Service]
	RestrictAddressFamilies=AF_INET AF_INET6
	UNIT
	EOF
}

# sysd_leftovers ID: what a container of that id left on the host: mounts, cgroups (every
# hierarchy), a container of podman's. Prints nothing when there is nothing.
sysd_leftovers() {
	local id=$1

	[ -n "$id" ] || return 0
	grep -F "$id" /proc/self/mountinfo | sed 's/^/mount: /'
	find /sys/fs/cgroup -maxdepth 6 -name "*$id*" 2>/dev/null | sed 's/^/cgroup: /'
	podman ps -a -q --no-trunc --filter "id=$id" 2>/dev/null | sed 's/^/container: /'
}

# sysd_teardown: remove the container (its mounts, /vault included, and cgroups go with it)
sysd_teardown() {
	local c=${SYSD_C:-$(cat "$BATS_FILE_TMPDIR/sysd-container" 2>/dev/null)}

	[ -n "$c" ] || return 0
	[[ $c == vaultfs-sysd-* ]] || return 0
	podman rm -f -t 0 "$c" >/dev/null 2>&1 || true
	rm -f -- "$BATS_FILE_TMPDIR/sysd-container"
}

# sysd_vaultfs_up STAGE: vaultfs installed from the staged tree STAGE (make install
# PREFIX=/usr DESTDIR=STAGE) and running under the container's systemd, as the README's
# installed section makes it (tests/bats/73-installed.bats types that section itself): swtpm
# as the TPM, /vault made by tmpfiles.d (podman's / is 0555), the store initialised, the unit
# enabled and active, a vault `app` whose secret `db` holds "s3cret", readable by uid 1000
# (50-app.policy). Fails, saying what, when any step does.
sysd_vaultfs_up() {
	sysd_install_tree "$1" || return 1
	sysd_exec sed -i 's|^#tcti = .*|tcti = swtpm:host=127.0.0.1,port=2321|' \
		/etc/vaultfs/vaultfs.conf || return 1
	sysd_swtpm || return 1
	sysd_sh <<-'EOF'
	set -e
	systemd-tmpfiles --create vaultfs.conf
	vaultctl init --recovery-key-file /root/vaultfs-recovery.key >/dev/null
	systemctl enable --now --quiet vaultfsd
	vaultctl vault create app >/dev/null
	printf 's3cret' | vaultctl secret set app/db 2>/dev/null
	printf 'allow list /app uid=1000\nallow read /app/db uid=1000\n' \
		>/etc/vaultfs/policy.d/50-app.policy
	chmod 0600 /etc/vaultfs/policy.d/50-app.policy
	systemctl reload vaultfsd
	EOF
}
