#!/usr/bin/env bash
# fleet-bench.sh: the fleet's figures (`make bench`, issue 20): the propagation lag of a change to
# every host (p50, p99) with 3 hosts and with 10, the changes per second through the center
# (one writer, and one per host at once), and the /vault read path of a fleet host against
# minfs (tests/bench/minfs.c, the FUSE limit), for a fleet vault and a local vault of the same
# daemon. The fleet is tests/lib/fleet.bash's, as in 96-fleet-net.bats: PostgreSQL 15 and each
# host in network namespaces of their own on a private bridge, each host a vaultfsd with its
# own store, config, journal and mount. To keep 10 hosts cheap on a small machine, every host
# here has `sealer = host` (no TPM: a software host key sealed in its store): the TPM is used
# at a host's start and when it opens a vault key it was granted, never on the paths measured
# here. A change is written through the writer's mount (open, write, close); a host has it when
# its change stream (VAULT/.events) says so, read by a blocking reader per host
# (tests/bench/fleet-lag.py), so nothing polls the daemons. It measures: no figure makes it
# fail, only a step that does not work. Everything it made is stopped and removed on exit.
# Knobs (environment): FLEET_BENCH_CHANGES changes timed per fleet size (200),
# FLEET_BENCH_RATE_S seconds of each rate run (10), BENCH_COUNT opens per run (10000),
# BENCH_RUNS (5), BENCH_DIR where the temp dir goes (/var/tmp).
# shellcheck disable=SC2046 # $(dirs ...) is a list, split on purpose (mktemp's paths: no blanks)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$top/build}
CHANGES=${FLEET_BENCH_CHANGES:-200}
RATE_S=${FLEET_BENCH_RATE_S:-10}
COUNT=${BENCH_COUNT:-10000}
RUNS=${BENCH_RUNS:-5}
export TSS2_LOG=all+NONE

VAULTFS_TOP=$top
VAULTFS_BUILD=$BUILD
VAULTCTL=$BUILD/vaultctl
VAULTFSD=$BUILD/vaultfsd
OPEN=$BUILD/tests/bench-open
MINFS=$BUILD/tests/minfs
LAG=$top/tests/bench/fleet-lag.py
for p in "$VAULTCTL" "$VAULTFSD" "$OPEN" "$MINFS"; do
	[ -x "$p" ] || { echo "fleet-bench: $p is not built (make bench)" >&2; exit 2; }
done
skip() {
	echo "fleet-bench: skipped: $*"
	exit 0
}
[ -e /dev/fuse ] || skip "no /dev/fuse"
# shellcheck source=tests/lib/swtpm.sh
. "$top/tests/lib/swtpm.sh"
# shellcheck source=tests/lib/conf.sh
. "$top/tests/lib/conf.sh"
# shellcheck source=tests/lib/servers.bash
. "$top/tests/lib/servers.bash"
# shellcheck source=tests/lib/fleet.bash
. "$top/tests/lib/fleet.bash"
fleet_need || skip "see above"
need_pg

T=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vaultfs-fleet-bench.XXXXXX")
chmod 0711 "$T" # the postgres user reaches below it
RES=$T/results.tsv
MINFS_PID=
t_start=$SECONDS

cleanup() {
	fleet_down
	if [ -n "$MINFS_PID" ]; then
		kill -TERM "$MINFS_PID" 2>/dev/null || true
		wait "$MINFS_PID" 2>/dev/null || true
	fi
	if grep -q " $T/minfs " /proc/mounts; then
		fusermount3 -u "$T/minfs" 2>/dev/null || umount -l "$T/minfs" 2>/dev/null || true
	fi
	if ! grep -q " $T/" /proc/mounts; then
		rm -rf -- "$T"
	else
		echo "fleet-bench: $T still has mounts; left in place" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() {
	printf 'fleet-bench: [%3ds] %s\n' "$((SECONDS - t_start))" "$*" >&2
}

# hosts FIRST LAST: h<FIRST>..h<LAST> made, joined, approved for app by h1, started
hosts() {
	local i f
	for i in $(seq "$1" "$2"); do
		fleet_host_add "h$i" host
		fleet_on "h$i" vault create loc >/dev/null
		if [ "$i" -eq 1 ]; then
			ANCHOR=$(fleet_on h1 fleet join 2>/dev/null)
			fleet_on h1 vault create app >/dev/null
			fleet_on h1 fleet approve h1 --vault app >/dev/null
		else
			f=$(fleet_on "h$i" fleet join --anchor "$ANCHOR" 2>/dev/null)
			fleet_on h1 fleet approve "h$i" --vault app --fingerprint "$f" >/dev/null
		fi
	done
	for i in $(seq "$1" "$2"); do
		[ "$i" -eq 1 ] || fleet_host_start "h$i"
	done
}

# vault dirs of hosts FIRST..LAST
dirs() {
	local i
	for i in $(seq "$1" "$2"); do
		printf '%s ' "$FLEET_DIR/h$i/mnt/app"
	done
}

# settled N: every one of the first N hosts has app at the center's seq
settled() {
	local i max seq
	for _ in $(seq 300); do
		max=$(fleet_sql "SELECT coalesce(max(seq), 0) FROM vaultfs.changes WHERE vault = 'app'")
		seq=$(fleet_sql "SELECT count(*) FROM vaultfs.applied WHERE vault = 'app' AND seq = $max")
		[ "$seq" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "fleet-bench: the hosts did not settle at seq $max" >&2
	return 1
}

say "setup in $T: PostgreSQL and 3 hosts, each in its own network namespace"
fleet_net_up "$T/fleet"
fleet_pg_up
hosts 1 3
# h1's daemon: started after its approval (it takes app at its first pull)
fleet_host_start h1
settled 3 || true

# --- the read path of a fleet host against minfs ---
head -c 100 /dev/urandom >"$T/v100"
fleet_ctl h1 secret set app/db --file "$T/v100" >/dev/null
fleet_ctl h1 secret set loc/db --file "$T/v100" >/dev/null
mkdir -p "$T/minfs"
"$MINFS" "$T/minfs" db=100 big=16384 >"$T/minfs.log" 2>&1 &
MINFS_PID=$!
for _ in $(seq 200); do grep -q " $T/minfs " /proc/mounts && break; sleep 0.025; done
say "read path on h1 (1 thread): minfs, a fleet vault, a local vault"
"$OPEN" --tsv -n "$COUNT" -r "$RUNS" -t 1 minfs="$T/minfs/app/db" \
	fleet="$FLEET_DIR/h1/mnt/app/db" local="$FLEET_DIR/h1/mnt/loc/db" >"$T/open.out"
grep -v '^TSV' "$T/open.out" | sed 's/^/    /' >&2
grep '^TSV' "$T/open.out" | sed 's/^TSV/open/' >>"$RES"

# --- 3 hosts ---
say "propagation lag, 3 hosts: $CHANGES changes written on h1"
python3 "$LAG" lag "$CHANGES" l3- "$FLEET_DIR/h1/mnt/app" $(dirs 2 3) | tee "$T/lag3.out" |
	grep -v '^TSV' | sed 's/^/    /' >&2
grep '^TSV' "$T/lag3.out" | sed 's/^TSV\t//' >>"$RES"
settled 3
say "changes per second through the center, 3 hosts: one writer for $RATE_S s"
python3 "$LAG" rate "$RATE_S" r3a- "$FLEET_DIR/h1/mnt/app" | tee "$T/r.out" | grep -v '^TSV' |
	sed 's/^/    /' >&2
grep '^TSV' "$T/r.out" | sed 's/^TSV\t/3\t/' >>"$RES"
settled 3
say "changes per second, 3 hosts: one writer on each at once for $RATE_S s"
python3 "$LAG" rate "$RATE_S" r3b- $(dirs 1 3) | tee "$T/r.out" | grep -v '^TSV' |
	sed 's/^/    /' >&2
grep '^TSV' "$T/r.out" | sed 's/^TSV\t/3\t/' >>"$RES"
t0=$SECONDS
settled 3
say "    all 3 hosts at the center's seq $((SECONDS - t0)) s after the writers stopped"

# --- 10 hosts ---
say "7 more hosts"
hosts 4 10
settled 10
say "propagation lag, 10 hosts: $CHANGES changes written on h1"
python3 "$LAG" lag "$CHANGES" l10- "$FLEET_DIR/h1/mnt/app" $(dirs 2 10) | tee "$T/lag10.out" |
	grep -v '^TSV' | sed 's/^/    /' >&2
grep '^TSV' "$T/lag10.out" | sed 's/^TSV\t//' >>"$RES"
settled 10
say "changes per second, 10 hosts: one writer on each at once for $RATE_S s"
python3 "$LAG" rate "$RATE_S" r10- $(dirs 1 10) | tee "$T/r.out" | grep -v '^TSV' |
	sed 's/^/    /' >&2
grep '^TSV' "$T/r.out" | sed 's/^TSV\t/10\t/' >>"$RES"
t0=$SECONDS
settled 10
say "    all 10 hosts at the center's seq $((SECONDS - t0)) s after the writers stopped"

# --- the table ---
# $RES: open TARGET THREADS OPS/S P50 P99 MIN MAX; lag HOSTS ALL_P50 ALL_P99 WRITE_P50
# WRITE_P99 LOST; HOSTS rate WRITERS CHANGES/S FAILED
echo
echo "fleet bench (sealer = host; PostgreSQL and each host in its own network namespace)"
awk -F'\t' '
$1 == "open" { ops[$2] = $4; p50[$2] = $5; p99[$2] = $6; next }
$1 == "lag" {
	printf "propagation to all %2d hosts: p50 %7.1f ms  p99 %7.1f ms   (the write itself: " \
		"p50 %.1f ms, p99 %.1f ms; lost %d)\n", $2, $3, $4, $5, $6, $7; next }
$2 == "rate" {
	printf "changes through the center, %2d hosts, %2d writer(s): %7.1f /s (%d failed)\n",
		$1, $3, $4, $5; next }
END {
	printf "read path on a fleet host (opens/s, p50/p99 us): minfs %s (%s/%s), " \
		"fleet vault %s (%s/%s), local vault %s (%s/%s)\n", ops["minfs"], p50["minfs"],
		p99["minfs"], ops["fleet"], p50["fleet"], p99["fleet"], ops["local"], p50["local"],
		p99["local"]
	if (ops["minfs"] > 0)
		printf "ratio to minfs: fleet vault %.2f, local vault %.2f\n",
			ops["fleet"] / ops["minfs"], ops["local"] / ops["minfs"]
}' "$RES"
