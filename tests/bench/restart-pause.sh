#!/usr/bin/env bash
# restart-pause.sh: how long a reader is paused while vaultfsd changes hands (`make bench`). A
# reader loops open/read/close of a 100-byte secret (tests/lib/reader-loop.py, each read's start
# and duration traced) while the session is handed over BENCH_RESTARTS times with `vaultfsd
# --takeover`, then while the daemon is killed (-9) and restarted as many times by a service
# manager that keeps the /dev/fuse descriptor (tests/lib/fake-systemd.py, as systemd's
# descriptor store does; its restart delay is 10 ms, systemd's RestartSec= comes on top). The
# pause of one event is the longest read that overlaps it; prints p50, p99 and max of them, and
# the reads and errors the reader saw. It measures: no figure makes it fail. Everything it
# starts is stopped and everything it made is removed on exit (trap). Knobs (environment):
# BENCH_RESTARTS (20), BENCH_DIR where the temp dir goes (/var/tmp).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$top/build}
N=${BENCH_RESTARTS:-20}
export TSS2_LOG=all+NONE
VAULTCTL=$BUILD/vaultctl
VAULTFSD=$BUILD/vaultfsd
for p in "$VAULTCTL" "$VAULTFSD"; do
	[ -x "$p" ] || { echo "restart-pause: $p is not built (make bench)" >&2; exit 2; }
done
if [ "$(id -u)" -ne 0 ]; then
	echo "restart-pause: skipped: needs root (vaultfsd serves allow_other)"
	exit 0
fi
[ -e /dev/fuse ] || { echo "restart-pause: skipped: no /dev/fuse"; exit 0; }

# shellcheck source=tests/lib/swtpm.sh
. "$top/tests/lib/swtpm.sh"
# shellcheck source=tests/lib/conf.sh
. "$top/tests/lib/conf.sh"

T=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vaultfs-restart.XXXXXX")
CONF=$T/vaultfs.conf
DAEMON=
FAKE=
READER=

cleanup() {
	[ -n "$READER" ] && { touch "$T/stop"; wait "$READER" 2>/dev/null || true; }
	[ -n "$FAKE" ] && { kill -TERM "$FAKE" 2>/dev/null || true; wait "$FAKE" 2>/dev/null || true; }
	[ -n "$DAEMON" ] && { kill -TERM "$DAEMON" 2>/dev/null || true; wait "$DAEMON" 2>/dev/null || true; }
	grep -q " $T/mnt fuse" /proc/mounts 2>/dev/null && umount -l "$T/mnt"
	swtpm_stop "$T/tpm" >/dev/null 2>&1 || true
	rm -rf -- "$T"
}
trap cleanup EXIT

swtpm_start "$T/tpm"
mkdir -m 0700 "$T/policy.d" "$T/mnt"
vaultfs_conf "$T" "$SWTPM_TCTI" >"$CONF"
printf 'allow list /app uid=0\nallow read /app/db uid=0\n' >"$T/policy.d/10.policy"
"$VAULTCTL" -c "$CONF" init --recovery-key-file "$T/recovery.key" >/dev/null
"$VAULTCTL" -c "$CONF" --offline vault create app >/dev/null
head -c 100 /dev/zero | tr '\0' x >"$T/value"
"$VAULTCTL" -c "$CONF" --offline secret set app/db --file "$T/value" >/dev/null
cp "$T/value" "$T/allowed"

now() { python3 -c 'import time; print(time.monotonic_ns())'; }

reader_start() { # $1: trace file
	rm -f "$T/stop"
	python3 "$top/tests/lib/reader-loop.py" "$T/mnt/app/db" "$T/allowed" "$T/stop" \
		"$T/reader.$1" "$T/trace.$1" &
	READER=$!
	sleep 0.5
}

reader_stop() {
	touch "$T/stop"
	wait "$READER"
	READER=
}

# pauses TRACE EVENTS: the longest read overlapping each event window, as p50 p99 max (ms)
pauses() {
	python3 - "$1" "$2" <<-'EOF'
	import sys
	reads = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
	events = [tuple(map(int, l.split())) for l in open(sys.argv[2])]
	worst = []
	for a, b in events:
	    d = [dur for s, dur in reads if s <= b and s + dur >= a]
	    worst.append(max(d) if d else 0)
	worst.sort()
	pick = lambda q: worst[min(len(worst) - 1, int(q * len(worst)))]
	print("%.1f %.1f %.1f" % (pick(0.5) / 1e6, pick(0.99) / 1e6, worst[-1] / 1e6))
	EOF
}

wait_socket() {
	local i
	for i in $(seq 500); do
		[ -S "$T/handover.sock" ] && [ -S "$T/control.sock" ] && return 0
		sleep 0.01
	done
	return 1
}

# hand-overs
"$VAULTFSD" -c "$CONF" >"$T/daemon.log" 2>&1 &
DAEMON=$!
wait_socket
reader_start takeover
: >"$T/events.takeover"
for _ in $(seq "$N"); do
	old=$DAEMON
	a=$(now)
	"$VAULTFSD" -c "$CONF" --takeover >>"$T/daemon.log" 2>&1 &
	DAEMON=$!
	wait "$old"
	wait_socket
	echo "$a $(now)" >>"$T/events.takeover"
	sleep 0.2
done
reader_stop
kill -TERM "$DAEMON"
wait "$DAEMON" || true
DAEMON=

# kill -9 and restart with the descriptor store
rm -rf "$T/sd"
mkdir "$T/sd"
python3 "$top/tests/lib/fake-systemd.py" "$T/sd" "$VAULTFSD" -c "$CONF" >"$T/fake.log" 2>&1 &
FAKE=$!
ready() { cat "$T/sd/ready" 2>/dev/null || echo 0; }
until [ "$(ready)" -ge 1 ]; do sleep 0.01; done
reader_start kill
: >"$T/events.kill"
for i in $(seq "$N"); do
	a=$(now)
	kill -KILL "$(cat "$T/sd/pid")"
	until [ "$(ready)" -ge $((i + 1)) ]; do sleep 0.005; done
	echo "$a $(now)" >>"$T/events.kill"
	sleep 0.2
done
reader_stop

printf '%-34s %8s %8s %8s  %s\n' "pause a reader sees (ms)" p50 p99 max "reads / errors"
for what in takeover kill; do
	read -r p50 p99 max <<<"$(pauses "$T/trace.$what" "$T/events.$what")"
	label=$([ "$what" = takeover ] && echo "hand-over (--takeover) x$N" ||
		echo "kill -9 + restart (fd store) x$N")
	printf '%-34s %8s %8s %8s  %s / %s\n' "$label" "$p50" "$p99" "$max" \
		"$(sed -n 's/^reads //p' "$T/reader.$what")" \
		"$(sed -n 's/^errors //p' "$T/reader.$what")"
done
