# helpers.bash: common setup for the integration suites. Each test gets its own temp dir, its own
# software TPM (tests/lib/swtpm.sh), its own config and store; teardown always stops the TPM and
# removes the dir. Sourced by every tests/bats/*.bats file.

VAULTFS_TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
VAULTFS_BUILD=${VAULTFS_BUILD:-$VAULTFS_TOP/build}
VAULTCTL=$VAULTFS_BUILD/vaultctl
VAULTFSD=$VAULTFS_BUILD/vaultfsd
export TSS2_LOG=all+NONE
# shellcheck source=tests/lib/swtpm.sh
. "$VAULTFS_TOP/tests/lib/swtpm.sh"

# shellcheck source=tests/lib/conf.sh
. "$VAULTFS_TOP/tests/lib/conf.sh"

# write_config FILE TCTI: the test's config (tests/lib/conf.sh), everything under $T
write_config() {
	vaultfs_conf "$T" "$2" >"$1"
}

# vault_setup: temp dir, swtpm, config at $CONF. Does not init the store.
vault_setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-test.XXXXXX")
	swtpm_start "$T/tpm"
	TCTI=$SWTPM_TCTI
	CONF=$T/vaultfs.conf
	write_config "$CONF" "$TCTI"
}

# tpm_lock_file TCTI: the lock file core/tpm.c takes for a TPM without a resource manager
# (FNV-1a 64 of the TCTI string)
tpm_lock_file() {
	local s=$1 h=$((0xcbf29ce484222325)) c i

	for ((i = 0; i < ${#s}; i++)); do
		printf -v c %d "'${s:i:1}"
		h=$(((h ^ c) * 0x100000001b3))
	done
	printf '/run/lock/vaultfs-tpm-%016x.lock' "$h"
}

vault_teardown() {
	[ -n "${T:-}" ] || return 0
	[ -n "${TCTI:-}" ] && rm -f -- "$(tpm_lock_file "$TCTI")"
	[ -n "${SWTPM_TCTI:-}" ] && rm -f -- "$(tpm_lock_file "$SWTPM_TCTI")"
	swtpm_stop "$T/tpm2" 2>/dev/null || true
	swtpm_stop "$T/tpm" || true
	rm -rf -- "$T"
}

# vctl ARGS...: vaultctl with this test's config, offline.
vctl() {
	"$VAULTCTL" -c "$CONF" --offline "$@"
}

# ctl ARGS...: vaultctl with this test's config, through the daemon, as root; ctl_as UID
# ARGS...: as another uid
ctl() {
	"$VAULTCTL" -c "$CONF" "$@"
}

ctl_as() {
	local uid=$1
	shift
	as "$uid" "$VAULTCTL" -c "$CONF" "$@"
}

# init_store [ARGS...]: init with the recovery key saved in $T/recovery.key
init_store() {
	"$VAULTCTL" -c "$CONF" init --recovery-key-file "$T/recovery.key" "$@"
}

# cgroup2_root: where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a
# hybrid host), from mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - cgroup2 ..."
cgroup2_root() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' \
		/proc/self/mountinfo
}

# need_cgroups: skip unless we may make cgroups and move processes into them.
need_cgroups() {
	local root
	root=$(cgroup2_root)
	[ -n "$root" ] || skip "cgroup2 is not mounted"
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	CGTOP=$root/vaultfs-test-$$-$BATS_TEST_NUMBER.slice
	mkdir "$CGTOP" 2>/dev/null || skip "cgroup2 root $root is not writable"
}

# cg_remove: remove $CGTOP and everything below it (its processes must be gone).
cg_remove() {
	if [ -n "${CGTOP:-}" ] && [ -d "$CGTOP" ]; then
		find "$CGTOP" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	fi
}

# daemon_start [ARGS...]: vaultfsd with this test's config in the background, its output in
# $T/daemon.log; returns once the mount is live (or fails if the daemon exits first).
daemon_start() {
	local i
	mkdir -p "$T/mnt" 2>/dev/null || true # a dead mount (ENOTCONN) is the daemon's to detach
	"$VAULTFSD" -c "$CONF" "$@" >"$T/daemon.log" 2>&1 3>&- &
	DAEMON=$!
	for i in $(seq 200); do
		# mounted and answering (a dead mount left by a killed daemon is listed too)
		if grep -q " $T/mnt fuse" /proc/mounts && stat "$T/mnt" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON" 2>/dev/null || { wait "$DAEMON"; DAEMON_STATUS=$?; DAEMON=; return 1; }
		sleep 0.05
	done
	echo "vaultfsd did not mount" >&2
	return 1
}

# daemon_stop: SIGTERM and wait; always leaves the mount point unmounted.
daemon_stop() {
	if [ -n "${DAEMON:-}" ]; then
		kill -TERM "$DAEMON" 2>/dev/null || true
		wait "$DAEMON" 2>/dev/null || true
		DAEMON=
	fi
	if grep -q " $T/mnt fuse" /proc/mounts 2>/dev/null; then
		fusermount3 -u "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null || true
	fi
}

# kill_tree PID: PID and every process below it, children first (a job started in the
# background by a function is a subshell whose command is its child: killing the subshell alone
# would leave the command running, holding bats's output open, and bats would wait for it).
kill_tree() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do
		kill_tree "$c"
	done
	kill -KILL "$1" 2>/dev/null || true
}

# as UID CMD...: run CMD as UID:UID with no supplementary groups
as() {
	local uid=$1
	shift
	setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"
}

# policy: the test's policy file (policy.d/10-test.policy) from stdin
policy() {
	cat >"$T/policy.d/10-test.policy"
}

# M PATH: PATH in the test's mount
M() {
	echo "$T/mnt/$1"
}
