#!/usr/bin/env bash
# run-bench.sh: the read path of vaultfsd against the physical limits, and at scale (`make
# bench`, after the policy and audit benchmarks). In one temp dir on disk it sets up a private
# swtpm, a store, a policy of 100 rules and the audit journal in batch mode, mounts vaultfsd,
# minfs (tests/bench/minfs.c: the FUSE limit, same options) and a tmpfs (the kernel limit),
# each serving app/db (100 bytes) and app/big (16 KiB), and runs bench-open against the three at
# 1 and 2 threads; then vaultfsd with a policy of uid rules only (lookups read nothing in /proc),
# with `audit sync = always`, and with the 16 KiB value; then the scale steps (secrets bulk-loaded
# through the core API, tests/bench/bench-scale.c): the same loop, `ls -f` of the vault and the
# daemon's peak RSS (VmHWM) at each step; then the cold start to READY=1. Prints one table with
# the ratios vaultfsd/FUSE-limit and vaultfsd/tmpfs, and `always` against `batch` (each row's
# vaultfsd/minfs over the other's: minfs runs interleaved in both, so the drift between the two
# rows cancels). The journal modes run at 1, 2 and 8 concurrent readers. It measures: no figure
# makes it fail, only a step that does not work. Everything it starts is stopped and everything
# it made is removed on exit (trap). Knobs (environment): BENCH_COUNT opens per thread per run
# (10000), BENCH_RUNS (5), BENCH_SCALE ("1000 100000 1000000": secrets at each step),
# BENCH_LS_TIMEOUT seconds for one `ls -f` (120), BENCH_DIR where the temp dir goes (/var/tmp:
# on disk), BENCH_PART (all; "journal": only the batch and always rows and their table),
# BENCH_VAULTFSD (this build's vaultfsd; another binary to measure it instead).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$top/build}
COUNT=${BENCH_COUNT:-10000}
RUNS=${BENCH_RUNS:-5}
SCALE=${BENCH_SCALE:-1000 100000 1000000}
LS_TIMEOUT=${BENCH_LS_TIMEOUT:-120}
PART=${BENCH_PART:-all}
pick= # the secret the scale steps read (set there)
export TSS2_LOG=all+NONE

VAULTCTL=$BUILD/vaultctl
VAULTFSD=${BENCH_VAULTFSD:-$BUILD/vaultfsd} # another daemon binary: the same rows for it
OPEN=$BUILD/tests/bench-open
MINFS=$BUILD/tests/minfs
SCALEBIN=$BUILD/tests/bench-scale
for p in "$VAULTCTL" "$VAULTFSD" "$OPEN" "$MINFS" "$SCALEBIN"; do
	[ -x "$p" ] || { echo "run-bench: $p is not built (make bench)" >&2; exit 2; }
done
if [ "$(id -u)" -ne 0 ]; then
	echo "run-bench: skipped: needs root (vaultfsd serves allow_other, a tmpfs is mounted)"
	exit 0
fi
[ -e /dev/fuse ] || { echo "run-bench: skipped: no /dev/fuse"; exit 0; }

# shellcheck source=tests/lib/swtpm.sh
. "$top/tests/lib/swtpm.sh"

T=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vaultfs-bench.XXXXXX")
CONF=$T/vaultfs.conf
RES=$T/results.tsv
DAEMON=
MINFS_PID=
TCTI=
t_start=$SECONDS

is_mounted() {
	grep -q " $1 " /proc/mounts 2>/dev/null
}

daemon_stop() {
	if [ -n "$DAEMON" ]; then
		kill -TERM "$DAEMON" 2>/dev/null || true
		wait "$DAEMON" 2>/dev/null || true
		DAEMON=
	fi
	if is_mounted "$T/mnt"; then
		fusermount3 -u "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null || true
	fi
}

cleanup() {
	local m
	daemon_stop
	if [ -n "$MINFS_PID" ]; then
		kill -TERM "$MINFS_PID" 2>/dev/null || true
		wait "$MINFS_PID" 2>/dev/null || true
	fi
	for m in "$T/minfs" "$T/tmpfs"; do
		if is_mounted "$m"; then
			fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
				umount -l "$m" 2>/dev/null || true
		fi
	done
	swtpm_stop "$T/tpm" 2>/dev/null || true
	if [ -n "$TCTI" ]; then # the lock core/tpm.c takes for a TPM without a resource manager
		local s=$TCTI h=$((0xcbf29ce484222325)) c i
		for ((i = 0; i < ${#s}; i++)); do
			printf -v c %d "'${s:i:1}"
			h=$(((h ^ c) * 0x100000001b3))
		done
		rm -f -- "$(printf '/run/lock/vaultfs-tpm-%016x.lock' "$h")"
	fi
	# never remove through a mount that is still there
	if ! grep -q " $T/" /proc/mounts; then
		rm -rf -- "$T"
	else
		echo "run-bench: $T still has mounts; left in place" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() {
	printf 'run-bench: [%3ds] %s\n' "$((SECONDS - t_start))" "$*" >&2
}

vctl() {
	"$VAULTCTL" -c "$CONF" --offline "$@"
}

set_conf() { # set_conf KEY VALUE: in the config written below
	sed -i "s|^$1 = .*|$1 = $2|" "$CONF"
}

daemon_start() {
	local i
	"$VAULTFSD" -c "$CONF" >>"$T/daemon.log" 2>&1 &
	DAEMON=$!
	for i in $(seq 400); do
		is_mounted "$T/mnt" && return 0
		kill -0 "$DAEMON" 2>/dev/null || break
		sleep 0.025
	done
	echo "run-bench: vaultfsd did not mount:" >&2
	tail -n 20 "$T/daemon.log" >&2
	exit 1
}

# cpu_ticks PID: the user + system CPU time of PID so far, in clock ticks
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# bench SCENARIO -t THREADS ARGS...: bench-open, its table to stderr, its TSV lines tagged into
# $RES, and the CPU time minfs and vaultfsd spent per open (each is busy only while bench-open
# reads from it): a figure the VM's noise moves less than ops/s
bench() {
	local scenario=$1 th=$3 out m0 v0 m1 v1
	shift
	m0=$(cpu_ticks "$MINFS_PID")
	v0=$(cpu_ticks "$DAEMON")
	out=$("$OPEN" --tsv -n "$COUNT" -r "$RUNS" "$@") || {
		echo "run-bench: bench-open failed in '$scenario'" >&2
		exit 1
	}
	m1=$(cpu_ticks "$MINFS_PID")
	v1=$(cpu_ticks "$DAEMON")
	grep -v '^TSV' <<<"$out" | sed "s/^/    /" >&2
	grep '^TSV' <<<"$out" | sed "s/^TSV/$scenario/" >>"$RES"
	# opens per target: the counted runs and bench-open's warm-up (500 per thread)
	awk -v s="$scenario" -v th="$th" -v m=$((m1 - m0)) -v v=$((v1 - v0)) \
		-v n=$(((COUNT * RUNS + 500) * th)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "cpu\t%s\t%s\t%.1f\t%.1f\n", s, th, m * 1e6 / hz / n, v * 1e6 / hz / n }' \
		>>"$RES"
}

hwm_kb() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON/status"
}

# policy_mixed FILE: 100 rules. 4 decide the reads measured here (uid=0); 96 belong to other
# vaults and name uids, units and executables, as a host's policy does: with unit= and exe=
# rules in the set, the daemon resolves the caller's cgroup and executable on every request.
policy_mixed() {
	{
		echo "# run-bench: 100 rules"
		echo "allow list /app uid=0"
		echo "allow read /app/* uid=0"
		echo "allow list /bulk uid=0"
		echo "allow read /bulk/* uid=0"
		for i in $(seq 96); do
			case $((i % 3)) in
			0) echo "allow list,read /v$i/* uid=$((2000 + i))" ;;
			1) echo "allow read /v$i/db unit=svc$i.service" ;;
			2) echo "allow read,meta /v$i/* exe=/usr/bin/app$i" ;;
			esac
		done
	} >"$1"
}

# policy_uid FILE: the same 100 rules, all on uids: no identity beyond the request's uid/gid.
policy_uid() {
	{
		echo "# run-bench: 100 rules, uid conditions only"
		echo "allow list /app uid=0"
		echo "allow read /app/* uid=0"
		echo "allow list /bulk uid=0"
		echo "allow read /bulk/* uid=0"
		for i in $(seq 96); do
			echo "allow list,read /v$i/* uid=$((2000 + i))"
		done
	} >"$1"
}

# --- setup ---
say "setup in $T"
swtpm_start "$T/tpm"
TCTI=$SWTPM_TCTI
mkdir -m 0700 "$T/policy.d"
mkdir -p "$T/mnt" "$T/minfs" "$T/tmpfs"
cat >"$CONF" <<CONF
[store]
path = $T/vault.db
[seal]
sealer = tpm2
tcti = $TCTI
[fs]
mountpoint = $T/mnt
[policy]
dir = $T/policy.d
[audit]
path = $T/audit.jsonl
sync = batch
[control]
socket = $T/control.sock
CONF
"$VAULTCTL" -c "$CONF" init --recovery-key-file "$T/recovery.key" >/dev/null
vctl vault create app
head -c 100 /dev/urandom >"$T/v100"
head -c 16384 /dev/urandom >"$T/v16k"
vctl secret set app/db --file "$T/v100" >/dev/null
vctl secret set app/big --file "$T/v16k" >/dev/null
policy_mixed "$T/policy.d/10-bench.policy"

"$MINFS" "$T/minfs" db=100 big=16384 >"$T/minfs.log" 2>&1 &
MINFS_PID=$!
if ! mount -t tmpfs -o size=64m,mode=0700 vaultfs-bench "$T/tmpfs"; then
	echo "run-bench: cannot mount a tmpfs; using /dev/shm for the kernel limit" >&2
	rmdir "$T/tmpfs"
	ln -s "$(mktemp -d /dev/shm/vaultfs-bench.XXXXXX)" "$T/tmpfs"
fi
mkdir -p "$T/tmpfs/app"
cp "$T/v100" "$T/tmpfs/app/db"
cp "$T/v16k" "$T/tmpfs/app/big"
daemon_start
for i in $(seq 200); do is_mounted "$T/minfs" && break; sleep 0.025; done
is_mounted "$T/minfs" || { echo "run-bench: minfs did not mount" >&2; exit 1; }

# --- the read path: 100 bytes, then the variants ---
for th in 1 2 8; do
	say "100 B value, sync = batch, $th thread(s)"
	bench "100B-batch" -t "$th" tmpfs="$T/tmpfs/app/db" minfs="$T/minfs/app/db" \
		vaultfsd="$T/mnt/app/db"
done
if [ "$PART" = journal ]; then
	daemon_stop
else
say "uid-only policy (SIGHUP reload), 1 and 2 threads"
rm -f "$T/policy.d/10-bench.policy"
policy_uid "$T/policy.d/10-bench.policy"
kill -HUP "$DAEMON"
for i in $(seq 100); do grep -q "Policy reloaded" "$T/daemon.log" && break; sleep 0.05; done
for th in 1 2; do
	bench "100B-uidonly" -t "$th" minfs="$T/minfs/app/db" vaultfsd="$T/mnt/app/db"
done
rm -f "$T/policy.d/10-bench.policy"
policy_mixed "$T/policy.d/10-bench.policy"
daemon_stop
fi

# group commit: a read waits for the sync that covers its open's record, and one sync covers
# every open queued meanwhile, so concurrent readers share syncs
say "audit sync = always, 1, 2 and 8 threads"
set_conf sync always
daemon_start
for th in 1 2 8; do
	COUNT=$((COUNT / 4)) bench "100B-always" -t "$th" minfs="$T/minfs/app/db" \
		vaultfsd="$T/mnt/app/db"
done
daemon_stop
set_conf sync batch

if [ "$PART" != journal ]; then

say "16 KiB value, sync = batch, 1 and 2 threads"
daemon_start
for th in 1 2; do
	bench "16K-batch" -t "$th" tmpfs="$T/tmpfs/app/big" minfs="$T/minfs/app/big" \
		vaultfsd="$T/mnt/app/big"
done
daemon_stop

say "cold start, small store"
"$SCALEBIN" start -n 5 --mount "$T/mnt" -- "$VAULTFSD" -c "$CONF" 2>>"$T/daemon.log" |
	grep '^TSV' | sed "s/^TSV/small/" >>"$RES"

# --- scale: the same loop with more secrets in the store, ls -f, peak RSS ---
loaded=0
first=${SCALE%% *}
pick=$(printf 's%07d' $((first / 2))) # a secret of the first step, read at every step
for n in $SCALE; do
	if [ "$n" -gt "$loaded" ]; then
		t0=$SECONDS
		"$SCALEBIN" load -c "$CONF" --vault bulk --first "$loaded" \
			--count "$((n - loaded))" | sed 's/^/    /' >&2
		say "loaded $n secrets ($((SECONDS - t0)) s for this step)"
		loaded=$n
	fi
	daemon_start
	hwm0=$(hwm_kb)
	for th in 1 2; do
		COUNT=$((COUNT / 2)) bench "scale-$n" -t "$th" minfs="$T/minfs/app/db" \
			vaultfsd="$T/mnt/bulk/$pick"
	done
	entries=
	t0=$(date +%s.%N)
	if entries=$(timeout "$LS_TIMEOUT" ls -f "$T/mnt/bulk" | wc -l) &&
		[ "$entries" -gt 0 ]; then
		t1=$(date +%s.%N)
		ls_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	else
		ls_s=">$LS_TIMEOUT"
	fi
	printf 'ls\t%s\t%s\t%s\t%s\t%s\n' "$n" "${entries:-0}" "$ls_s" "$hwm0" "$(hwm_kb)" \
		>>"$RES"
	say "$n secrets: ls -f ${ls_s} s (${entries:-?} entries), VmHWM $hwm0 kB at READY," \
		"$(hwm_kb) kB at the end"
	daemon_stop
done

say "cold start, store of $loaded secrets"
"$SCALEBIN" start -n 5 --mount "$T/mnt" -- "$VAULTFSD" -c "$CONF" 2>>"$T/daemon.log" |
	grep '^TSV' | sed "s/^TSV/large/" >>"$RES"
fi # PART

# --- the table ---
# $RES lines: SCENARIO TARGET THREADS OPS/S P50 P99 MIN MAX;
# ls N ENTRIES SECONDS HWM_KB_AT_READY HWM_KB_AT_END;
# small|large MEDIAN_MS FASTEST SLOWEST; cpu SCENARIO THREADS MINFS_US VAULTFSD_US (per open)
table() {
	awk -F'\t' -v pick="$pick" '
	function g(x) { return x == "" ? "-" : x }
	function q(a, b, f) { return a == "" || b == "" ? "-" : sprintf(f, a / b) }
	function row(s, th,    t, m, v, k) {
		t = ops[s, th, "tmpfs"]; m = ops[s, th, "minfs"]; v = ops[s, th, "vaultfsd"]
		k = s SUBSEP th SUBSEP
		printf "%-13s %2s %8s %7s %6s %5s %6s %6s %6s %6s %6s %6s %6s %6s\n", s, th,
			g(t), g(m), v, q(v, m, "%.2f"), q(v, t, "%.3f"),
			g(p50[k "tmpfs"]), g(p50[k "minfs"]), p50[k "vaultfsd"],
			g(p99[k "tmpfs"]), g(p99[k "minfs"]), p99[k "vaultfsd"],
			q(p99[k "vaultfsd"], p99[k "minfs"], "%.2f")
	}
	$1 == "ls" { ls[$2] = $4; ent[$2] = $3; h0[$2] = $5; h1[$2] = $6; nls[++nl] = $2; next }
	$1 == "small" || $1 == "large" { cs[$1] = sprintf("%s ms (%s-%s)", $2, $3, $4); next }
	$1 == "cpu" {
		if ($2 !~ /^scale-/)
			cpu[++nc] = sprintf("%-13s %2s %7s %7s %7s %6.2f", $2, $3, $4, $5,
					    sprintf("%.1f", $5 - $4), $4 > 0 ? $5 / $4 : 0)
		next
	}
	{
		ops[$1, $3, $2] = $4; p50[$1, $3, $2] = $5; p99[$1, $3, $2] = $6
		if ($1 !~ /^scale-/ && !(($1, $3) in seen)) {
			seen[$1, $3] = 1
			order[++n] = $1 SUBSEP $3
		}
	}
	END {
		printf "%-13s %2s %8s %7s %6s %5s %6s %6s %6s %6s %6s %6s %6s %6s\n",
			"scenario", "th", "tmpfs/s", "minfs/s", "vfsd/s", "v/min", "v/tmpf",
			"p50 t", "p50 m", "p50 v", "p99 t", "p99 m", "p99 v", "p99v/m"
		for (i = 1; i <= n; i++) {
			split(order[i], k, SUBSEP)
			row(k[1], k[2])
		}
		print ""
		print "daemon CPU per open, us (user + system, /proc/PID/stat; own = vaultfsd - minfs):"
		printf "%-13s %2s %7s %7s %7s %6s\n", "scenario", "th", "minfs", "vfsd", "own",
			"v/m"
		for (i = 1; i <= nc; i++)
			print cpu[i]
		print ""
		print "always against batch (each row'"'"'s v/min over the other'"'"'s), p99 always/minfs:"
		printf "%-3s %10s %10s %9s %9s\n", "th", "batch v/m", "always v/m", "alw/bat",
			"p99 a/m"
		for (th = 1; th <= 64; th++) {
			b1 = ops["100B-batch", th, "vaultfsd"]; m1 = ops["100B-batch", th, "minfs"]
			a1 = ops["100B-always", th, "vaultfsd"]; m2 = ops["100B-always", th, "minfs"]
			if (b1 == "" || a1 == "" || m1 == "" || m2 == "")
				continue
			printf "%-3d %10.2f %10.2f %9.2f %9.2f\n", th, b1 / m1, a1 / m2,
				(a1 / m2) / (b1 / m1),
				p99["100B-always", th, "vaultfsd"] / p99["100B-always", th, "minfs"]
		}
		if (!nl)
			exit
		print ""
		print "scale: vaultfsd reading bulk/" pick ", minfs alongside in the same run (half"
		print "the count); abs/1st: ops/s against the first step; norm/1st: v/min against"
		print "the first step; VmHWM at READY, then after the loops and ls -f"
		printf "%-8s %2s %7s %6s %7s %8s %6s %6s %7s %8s %7s\n", "secrets", "th",
			"vfsd/s", "v/min", "abs/1st", "norm/1st", "p50 v", "p99 v", "ls -f s",
			"entries", "HWM MB"
		for (i = 1; i <= nl; i++) {
			for (th = 1; th <= 2; th++) {
				s = "scale-" nls[i]
				v = ops[s, th, "vaultfsd"]
				r = v / ops[s, th, "minfs"]
				if (i == 1) {
					b[th] = v
					br[th] = r
				}
				printf "%-8s %2d %7s %6.2f %7.2f %8.2f %6s %6s %7s %8s %7.1f\n",
					nls[i], th, v, r, v / b[th], r / br[th],
					p50[s, th, "vaultfsd"], p99[s, th, "vaultfsd"],
					th == 1 ? ls[nls[i]] : "", th == 1 ? ent[nls[i]] : "",
					(th == 1 ? h0[nls[i]] : h1[nls[i]]) / 1024
			}
		}
		print ""
		print "cold start to READY=1, median of 5 (fastest-slowest):"
		print "  small store: " cs["small"] "; large store: " cs["large"]
	}' "$RES"
}

{
	echo
	echo "vaultfsd read path, $(date -u +%Y-%m-%d) on $(uname -n): $(nproc) CPUs," \
		"kernel $(uname -r), libfuse $(pkg-config --modversion fuse3 2>/dev/null || echo ?)"
	echo "open + read to EOF + close; $COUNT opens/thread x $RUNS runs (sync=always: a" \
		"quarter); ops/s of the median run; p50/p99 in us over all runs"
	echo "targets: tmpfs = kernel limit; minfs = FUSE limit (tests/bench/minfs.c, same" \
		"options); vfsd = vaultfsd, 100-rule policy, audit sync=batch unless named"
	table
	echo "total bench time: $((SECONDS - t_start)) s"
} | tee "$T/table.txt"
