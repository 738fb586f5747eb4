# shellcheck shell=bash
# fleet-hosts.bash: hosts of a fleet on this machine's network, for 88-fleet, 89-fleet-sync and
# 97-fleet-audit (96-fleet-net puts each in a namespace of its own: tests/lib/fleet.bash). Each
# host NAME lives under $T/NAME: its config (tests/lib/conf.sh's, with [fleet] conninfo
# $CONNINFO and host NAME), store, journal, policy (root may do anything) and mount. Source it
# after helpers.bash.
#
#   host_init NAME TCTI [SEALER]   the dir, config, policy and an initialised store
#   on NAME ARGS...                vaultctl as NAME, offline
#   host_start NAME / host_stop NAME   NAME's vaultfsd (once its mount answers) / stopped
#   within SECONDS CMD...          CMD succeeds within SECONDS (polled every 0.1 s)

host_init() {
	local d=$T/$1 sealer=${3:-tpm2}
	mkdir -m 0700 "$d" "$d/policy.d"
	mkdir "$d/mnt"
	vaultfs_conf "$d" "$2" "$sealer" >"$d/vaultfs.conf"
	cat >>"$d/vaultfs.conf" <<-CONF
	[fleet]
	conninfo = $CONNINFO
	host = $1
	CONF
	echo 'allow list,read,meta,write,delete,recover,purge,manage /** uid=0' \
		>"$d/policy.d/10-test.policy"
	"$VAULTCTL" -c "$d/vaultfs.conf" init --sealer "$sealer" \
		--recovery-key-file "$d/recovery.key" >/dev/null 2>&1
}

on() {
	local h=$1
	shift
	"$VAULTCTL" -c "$T/$h/vaultfs.conf" --offline "$@"
}

# host_start NAME: NAME's vaultfsd, its output in $T/NAME/daemon.log, once its mount answers
host_start() {
	local d=$T/$1 i pid
	"$VAULTFSD" -c "$d/vaultfs.conf" >>"$d/daemon.log" 2>&1 3>&- &
	pid=$!
	eval "PID_$1=$pid"
	for i in $(seq 200); do
		if grep -q " $d/mnt fuse" /proc/mounts && stat "$d/mnt" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { cat "$d/daemon.log" >&2; return 1; }
		sleep 0.05
	done
	echo "vaultfsd $1 did not mount" >&2
	return 1
}

host_stop() {
	local d=$T/$1 pid
	eval "pid=\${PID_$1:-}"
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		eval "PID_$1="
	fi
	if grep -q " $d/mnt fuse" /proc/mounts 2>/dev/null; then
		fusermount3 -u "$d/mnt" 2>/dev/null || umount -l "$d/mnt" 2>/dev/null || true
	fi
}

within() {
	local n=$(($1 * 10)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "not within the time: $*" >&2
	return 1
}
