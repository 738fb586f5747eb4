#!/usr/bin/env bash
# ab-open.sh: the read path of two vaultfsd binaries side by side, for a change that must not
# slow it (`make bench-ab AB_OLD=/path/to/old/vaultfsd`). One temp dir on disk, one swtpm, one
# store made by this tree's vaultctl and copied before either daemon starts (each daemon has its
# own copy, journal, socket and mount; made by the old daemon's vaultctl when one is beside it,
# so that both can open it; sealed by the host key: two copies of one TPM-sealed store would be
# one store rolled back for the rollback guard), a policy of 100 rules, and minfs (the FUSE limit); then
# bench-open runs the three targets interleaved, run by run, at 1 and 2 threads, and prints
# each daemon's ratio to minfs and new/old, then the CPU time each of the three spent per open
# (all its threads, from /proc/PID/task/*/schedstat: each is busy only while bench-open reads
# from it; a figure the VM's noise moves less than ops/s, though it moves it too) and new/old
# of that. It measures: no figure makes it fail. Knobs as
# run-bench.sh: BENCH_COUNT (10000), BENCH_RUNS (5), BENCH_ROUNDS (3: the whole A/B again),
# BENCH_DIR (/var/tmp); BENCH_SIZE (100) is the value's size in bytes (minfs's file too).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$top/build}
OLD=${AB_OLD:?"ab-open: AB_OLD=/path/to/the/other/vaultfsd"}
NEW=${AB_NEW:-$BUILD/vaultfsd}
COUNT=${BENCH_COUNT:-10000}
RUNS=${BENCH_RUNS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
SIZE=${BENCH_SIZE:-100}
export TSS2_LOG=all+NONE
[ "$(id -u)" -eq 0 ] || { echo "ab-open: skipped: needs root"; exit 0; }

# shellcheck source=tests/lib/swtpm.sh
. "$top/tests/lib/swtpm.sh"
T=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vaultfs-ab.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for m in "$T"/mnt-* "$T/minfs"; do
		grep -q " $m " /proc/mounts && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
	done
	swtpm_stop "$T/tpm" 2>/dev/null
	[ -n "${AB_KEEP:-}" ] || rm -rf -- "$T"
}
trap cleanup EXIT

conf() { # conf NAME: the config of daemon NAME
	cat <<CONF
[store]
path = $T/$1.db
[seal]
sealer = host
host_key = $T/host.key
tcti = $SWTPM_TCTI
[fs]
mountpoint = $T/mnt-$1
[policy]
dir = $T/policy.d
[audit]
path = $T/audit-$1.jsonl
sync = batch
[control]
socket = $T/control-$1.sock
CONF
}

wait_mount() {
	for _ in $(seq 400); do grep -q " $1 " /proc/mounts && return 0; sleep 0.025; done
	echo "ab-open: nothing mounted at $1" >&2
	exit 1
}

swtpm_start "$T/tpm" >/dev/null
mkdir -m 0700 "$T/policy.d"
mkdir -p "$T/mnt-old" "$T/mnt-new" "$T/minfs"
conf new >"$T/new.conf"
conf old >"$T/old.conf"
# a store the older program can open: the newer opens what the older made
CTL=$BUILD/vaultctl
[ -x "$(dirname "$OLD")/vaultctl" ] && CTL=$(dirname "$OLD")/vaultctl
"$CTL" -c "$T/new.conf" init --sealer host --recovery-key-file "$T/recovery.key" >/dev/null 2>&1
"$CTL" -c "$T/new.conf" --offline vault create app >/dev/null
head -c "$SIZE" /dev/urandom >"$T/value"
"$CTL" -c "$T/new.conf" --offline secret set app/db --file "$T/value" >/dev/null
cp "$T/new.db" "$T/old.db"
cp "$T/audit-new.jsonl" "$T/audit-old.jsonl" # the store anchors its journal
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

"$BUILD/tests/minfs" "$T/minfs" db="$SIZE" >"$T/minfs.log" 2>&1 &
PIDS+=($!)
declare -A PID=([minfs]=$!)
for d in old new; do
	bin=$NEW
	[ "$d" = old ] && bin=$OLD
	"$bin" -c "$T/$d.conf" >>"$T/$d.log" 2>&1 &
	PIDS+=($!)
	PID[$d]=$!
done

# cpu_ns PID: the CPU time of all of PID's threads so far, in ns
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
wait_mount "$T/minfs"
wait_mount "$T/mnt-old"
wait_mount "$T/mnt-new"

echo "ab-open: old=$OLD new=$NEW, $ROUNDS rounds of $RUNS runs x $COUNT opens of $SIZE bytes"
for round in $(seq "$ROUNDS"); do
	for th in 1 2; do
		declare -A c0=()
		for d in minfs old new; do c0[$d]=$(cpu_ns "${PID[$d]}"); done
		"$BUILD/tests/bench-open" --tsv -n "$COUNT" -r "$RUNS" -t "$th" \
			minfs="$T/minfs/app/db" old="$T/mnt-old/app/db" new="$T/mnt-new/app/db" |
			grep '^TSV' | sed "s/^TSV/$round\t$th/"
		# opens per target: the counted runs and bench-open's warm-up (500 per thread)
		for d in minfs old new; do
			printf '%s\t%s\t%s\t%s\n' "$round" "$th" "$d" \
				$((($(cpu_ns "${PID[$d]}") - c0[$d]) / ((COUNT * RUNS + 500) * th)))
		done >>"$T/cpu.tsv"
	done
done >"$T/res.tsv"
# columns: round, threads, then bench-open --tsv: label, threads, median ops/s, ...
awk -F'\t' '
	{ ops[$1 FS $2 FS $3] = $5; key[$1 FS $2] = 1 }
	END {
		printf "%-6s %-8s %10s %10s %10s %9s %9s %9s\n", "round", "threads", "minfs/s", \
			"old/s", "new/s", "old/minfs", "new/minfs", "new/old"
		for (k in key) {
			split(k, p, FS)
			m = ops[k FS "minfs"]; o = ops[k FS "old"]; n = ops[k FS "new"]
			printf "%-6s %-8s %10.0f %10.0f %10.0f %9.2f %9.2f %9.2f\n", p[1], p[2], m, o, \
				n, o / m, n / m, n / o
		}
	}' "$T/res.tsv" | sort -k1,1n -k2,2n
# columns: round, threads, label, CPU ns per open
awk -F'\t' '
	{ ns[$1 FS $2 FS $3] = $4; key[$1 FS $2] = 1 }
	END {
		printf "%-6s %-8s %12s %12s %12s %9s %12s\n", "round", "threads", "minfs us/op", \
			"old us/op", "new us/op", "new/old", "new-old us"
		for (k in key) {
			split(k, p, FS)
			m = ns[k FS "minfs"]; o = ns[k FS "old"]; n = ns[k FS "new"]
			printf "%-6s %-8s %12.1f %12.1f %12.1f %9.2f %12.1f\n", p[1], p[2], m / 1e3, \
				o / 1e3, n / 1e3, n / o, (n - o) / 1e3
		}
	}' "$T/cpu.tsv" | sort -k1,1n -k2,2n
