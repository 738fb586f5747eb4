#!/usr/bin/env bash
# cg-open.sh: the user-space instructions each open(2) + read + close costs vaultfsd, counted by
# valgrind's callgrind: a figure that does not move with the load of a shared machine, where
# ops/s and CPU time per open (ab-open.sh) drift by a tenth between two runs of one binary. It
# sets up what ab-open.sh does (one temp dir, one swtpm, a store sealed by the host key, a
# policy of 100 rules, the journal in batch mode), starts each daemon given (default: this
# build's vaultfsd) and minfs under callgrind, warms each up, zeroes its counters, runs
# bench-open for CG_COUNT opens on one thread, dumps, and prints the instructions per open of
# each and, with CG_TOP (default 25), the functions of the first daemon that cost most per open
# (inclusive). It counts no system call's own cost (the kernel's side; `perf stat -e
# raw_syscalls:sys_enter -p PID` counts them), and under valgrind OpenSSL takes its AVX2 paths
# (no SHA-NI): the MAC weighs more here than on the machine. It measures: nothing makes it fail.
# Usage: tests/bench/cg-open.sh [VAULTFSD...]; knobs CG_COUNT (2000), CG_TOP, BENCH_DIR
# (/var/tmp), CG_KEEP=1 keeps the temp dir and its callgrind.out files.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$top/build}
COUNT=${CG_COUNT:-2000}
TOPN=${CG_TOP:-25}
export TSS2_LOG=all+NONE
[ "$(id -u)" -eq 0 ] || { echo "cg-open: skipped: needs root"; exit 0; }
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
	echo "cg-open: skipped: needs valgrind (apt-get install valgrind)"
	exit 0
fi
[ $# -gt 0 ] || set -- "$BUILD/vaultfsd"

# shellcheck source=tests/lib/swtpm.sh
. "$top/tests/lib/swtpm.sh"
T=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vaultfs-cg.XXXXXX")
PIDS=()
cleanup() {
	local p m
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for m in "$T"/mnt-*; do
		grep -q " $m " /proc/mounts && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
	done
	swtpm_stop "$T/tpm" 2>/dev/null
	[ -n "${CG_KEEP:-}" ] || rm -rf -- "$T"
}
trap cleanup EXIT

wait_mount() {
	for _ in $(seq 1200); do grep -q " $1 " /proc/mounts && return 0; sleep 0.025; done
	echo "cg-open: nothing mounted at $1" >&2
	exit 1
}

# run NAME CMD...: CMD (mounting $T/mnt-NAME) under callgrind; prints its instructions per open
run() {
	local name=$1 pid
	shift
	mkdir -p "$T/mnt-$name"
	valgrind --tool=callgrind --callgrind-out-file="$T/cg-$name.out" "$@" \
		>"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_mount "$T/mnt-$name"
	"$BUILD/tests/bench-open" -n 300 -r 1 -w 0 x="$T/mnt-$name/app/db" >/dev/null
	callgrind_control -z "$pid" >/dev/null 2>&1
	"$BUILD/tests/bench-open" -n "$COUNT" -r 1 -w 0 x="$T/mnt-$name/app/db" >/dev/null
	callgrind_control -d "$pid" >/dev/null 2>&1
	sleep 1 # the dump is written by the daemon's own thread
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	grep -q " $T/mnt-$name " /proc/mounts && fusermount3 -u "$T/mnt-$name"
	callgrind_annotate "$T/cg-$name.out.1" 2>/dev/null |
		awk -v n="$COUNT" '/PROGRAM TOTALS/ {
			gsub(",", "", $1); printf "%.0f instructions per open\n", $1 / n }'
}

swtpm_start "$T/tpm" >/dev/null
mkdir -m 0700 "$T/policy.d"
{
	echo "allow list /app uid=0"
	echo "allow read /app/* uid=0"
	for i in $(seq 98); do
		case $((i % 3)) in
		0) echo "allow list,read /v$i/* uid=$((2000 + i))" ;;
		1) echo "allow read /v$i/db unit=svc$i.service" ;;
		2) echo "allow read,meta /v$i/* exe=/usr/bin/app$i" ;;
		esac
	done
} >"$T/policy.d/10-bench.policy"
head -c 100 /dev/urandom >"$T/value"
i=0
for bin in "$@"; do
	i=$((i + 1))
	cat >"$T/d$i.conf" <<CONF
[store]
path = $T/d$i.db
[seal]
sealer = host
host_key = $T/host.key
tcti = $SWTPM_TCTI
[fs]
mountpoint = $T/mnt-d$i
[policy]
dir = $T/policy.d
[audit]
path = $T/audit-d$i.jsonl
sync = batch
[control]
socket = $T/control-d$i.sock
CONF
	CTL=$BUILD/vaultctl
	[ -x "$(dirname "$bin")/vaultctl" ] && CTL=$(dirname "$bin")/vaultctl
	if [ "$i" -eq 1 ]; then
		"$CTL" -c "$T/d1.conf" init --sealer host --recovery-key-file "$T/recovery.key" \
			>/dev/null 2>&1
		"$CTL" -c "$T/d1.conf" --offline vault create app >/dev/null
		"$CTL" -c "$T/d1.conf" --offline secret set app/db --file "$T/value" >/dev/null
	else # a copy of the first one's store, with its journal (the store anchors it)
		cp "$T/d1.db" "$T/d$i.db"
		cp "$T/audit-d1.jsonl" "$T/audit-d$i.jsonl"
	fi
done
echo "cg-open: $COUNT opens of 100 bytes, one thread, after 300 to warm up"
i=0
for bin in "$@"; do
	i=$((i + 1))
	printf '%s: ' "$bin"
	run "d$i" "$bin" -c "$T/d$i.conf"
done
printf '%s: ' minfs
run minfs "$BUILD/tests/minfs" "$T/mnt-minfs" db=100
echo "the first daemon's functions, instructions per open (inclusive):"
callgrind_annotate --inclusive=yes --threshold=100 "$T/cg-d1.out.1" 2>/dev/null |
	awk -v n="$COUNT" -v top="$TOPN" '/ \(.*%\)  / && !/PROGRAM TOTALS/ && shown < top {
		v = $1; gsub(",", "", v); f = $0; sub(/^ *[0-9,]+ *\([^)]*\) */, "", f)
		sub(/ \[.*$/, "", f); sub(/^.*\//, "", f)
		if (seen[f]++) next
		printf "%10.0f  %s\n", v / n, f; shown++ }'
