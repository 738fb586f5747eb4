#!/usr/bin/env bats
# The change stream (issue 19): /vault/V/.events and /vault/.events read as JSON lines of the
# changes since the open, blocking or with poll(2); filtered by policy for each reader (another
# uid does not hear of names it may not see); never a value; a slow reader gets the lost line
# and the daemon's memory stays bounded; `vaultctl watch` prints, or runs a command once per
# change with bursts coalesced; stamp files for .path units. Each test has its own swtpm,
# store, journal, mount and socket.

load helpers

READER=$VAULTFS_TOP/tests/lib/events-reader.py

setup() {
	vault_setup
	chmod 0711 "$T"
	mkdir -m 0700 "$T/policy.d"
	mkdir -m 0700 "$T/u1000" && chown 1000:1000 "$T/u1000"
	init_store
	DAEMON=
	PIDS=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# root everything; uid 1000 lists /app and reads /app/db only (not /app/other)
default_policy() {
	policy <<-'EOF'
	allow list,meta,read,write,delete,recover,purge,manage /** uid=0
	allow list /app uid=1000
	allow read,meta /app/db uid=1000
	EOF
}

# reader PATH N OUT [MODE] [UID]: events-reader.py in the background, once it has opened PATH
reader() {
	local path=$1 n=$2 out=$3 mode=${4:-block} uid=${5:-0} i
	if [ "$uid" = 0 ]; then
		"$READER" "$path" "$n" "$out" "$mode" &
	else
		as "$uid" "$READER" "$path" "$n" "$out" "$mode" &
	fi
	PIDS+=($!)
	READER_PID=$!
	for i in $(seq 100); do
		[ -e "$out.ready" ] && return 0
		sleep 0.05
	done
	echo "reader did not open $path" >&2
	return 1
}

# wait_reader: the last reader's end (it stops at N lines or after 20 s)
wait_reader() {
	wait "$READER_PID"
}

@test ".events: a set through the socket and a write through the file, never the value" {
	default_policy
	daemon_start
	ctl vault create app
	reader "$T/mnt/app/.events" 3 "$T/ev"
	printf 'sekrit-one' | ctl secret set app/db
	printf 'sekrit-two' >"$T/mnt/app/db"
	ctl secret update app/db --enabled no
	wait_reader
	cat "$T/ev"
	[ "$(wc -l <"$T/ev")" -eq 3 ]
	! grep -q sekrit "$T/ev" || false
	sed -n 1p "$T/ev" | grep -q '"vault":"app","name":"db","kind":"secret","event":"set","version":1}'
	sed -n 2p "$T/ev" | grep -q '"name":"db","kind":"secret","event":"set","version":2}'
	sed -n 3p "$T/ev" | grep -q '"name":"db","kind":"secret","event":"update"'
	# each line is JSON with a seq that grows
	python3 -c '
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
assert seqs == sorted(seqs) and len(set(seqs)) == 3, seqs' "$T/ev"
	# the open is recorded as "watch"
	run vctl audit show --event watch
	[[ $output == *"/app/.events"* ]]
	# not listed in the vault's directory; a secret cannot take the name
	! ls -a "$T/mnt/app" | grep -q events || false
	run ls -l "$T/mnt/app/.events"
	[ "$status" -eq 0 ]
	[[ $output == -r--------* ]]
	[ -r "$T/mnt/app/.events" ]
	[ ! -w "$T/mnt/app/.events" ]
	run sh -c "echo x > '$T/mnt/app/.events'"
	[ "$status" -ne 0 ]
}

@test ".events: poll(2) wakes on a change; O_NONBLOCK with nothing new is EAGAIN" {
	default_policy
	daemon_start
	ctl vault create app
	reader "$T/mnt/app/.events" 1 "$T/nb" nonblock
	wait_reader
	[ "$(cat "$T/nb")" = EAGAIN ]
	reader "$T/mnt/app/.events" 2 "$T/ev" poll
	sleep 0.5 # the reader is in poll(2) now
	printf 'x' | ctl secret set app/db
	sleep 0.3
	printf 'y' | ctl secret set app/db
	wait_reader
	[ "$(wc -l <"$T/ev")" -eq 2 ]
	grep -q '"event":"set","version":2' "$T/ev"
}

@test ".events: a blocked read holds no FUSE thread; a signal ends it (EINTR), the daemon serves on" {
	default_policy
	daemon_start
	ctl vault create app
	printf 'v1' | ctl secret set app/db
	# two readers blocked in read(2) on the daemon's one FUSE thread's mount
	reader "$T/mnt/app/.events" 1 "$T/ev1"
	reader "$T/mnt/app/.events" 1 "$T/ev2"
	BLOCKED=$READER_PID
	sleep 0.3
	# other requests are served meanwhile
	[ "$(cat "$T/mnt/app/db")" = v1 ]
	ls "$T/mnt/app" >/dev/null
	# a signal ends a blocked read (FUSE_INTERRUPT answered EINTR): timeout's SIGTERM
	run timeout 1 cat "$T/mnt/app/.events"
	[ "$status" -eq 124 ]
	kill -KILL "$BLOCKED"
	wait "$BLOCKED" || true
	printf 'v2' >"$T/mnt/app/db"
	[ "$(cat "$T/mnt/app/db")" = v2 ]
	wait_reader_first() { wait "${PIDS[-2]}"; }
	wait_reader_first
	grep -q '"event":"set","version":2' "$T/ev1"
	kill -0 "$DAEMON"
}

@test ".events: expiry and delete from the daemon's scan and through the mount, root's .events" {
	cat >>"$CONF" <<-'EOF'
	[lifecycle]
	near_expiry = 30d
	scan_interval = 1s
	EOF
	default_policy
	vctl vault create app
	daemon_start
	reader "$T/mnt/.events" 5 "$T/ev"
	printf 'c' | ctl secret set app/soon --expires +10d
	printf 'd' | ctl secret set app/gone
	rm "$T/mnt/app/gone"
	ctl vault create other
	wait_reader
	cat "$T/ev"
	grep -q '"name":"soon","kind":"secret","event":"set"' "$T/ev"
	grep -q '"name":"soon","kind":"secret","event":"near-expiry"' "$T/ev"
	grep -q '"name":"gone","kind":"secret","event":"delete"' "$T/ev"
	grep -q '"vault":"other","name":null,"kind":"vault","event":"vault-create"' "$T/ev"
}

@test ".events: another uid hears only of the names it may see" {
	default_policy
	daemon_start
	ctl vault create app
	ctl vault create hidden
	reader "$T/mnt/app/.events" 2 "$T/u1000/ev" block 1000
	READER_APP=$READER_PID
	reader "$T/mnt/.events" 2 "$T/u1000/all" block 1000
	printf 'o' | ctl secret set app/other
	printf 'h' | ctl secret set hidden/db
	printf 'd' | ctl secret set app/db
	printf 'd2' | ctl secret set app/db
	wait "$READER_APP"
	wait_reader
	cat "$T/u1000/ev" "$T/u1000/all"
	[ "$(wc -l <"$T/u1000/ev")" -eq 2 ]
	[ "$(wc -l <"$T/u1000/all")" -eq 2 ]
	! grep -q 'other\|hidden' "$T/u1000/ev" "$T/u1000/all" || false
	# a vault it may not list: its .events is hidden, and the open of /hidden/.events refused
	run as 1000 cat "$T/mnt/hidden/.events"
	[ "$status" -ne 0 ]
	as 1000 test -r "$T/mnt/app/.events"
	run as 1000 test -r "$T/mnt/hidden/.events"
	[ "$status" -ne 0 ]
}

# sets N: N secret-set requests on one connection (50 names in turn)
sets() {
	python3 - "$T/control.sock" "$1" <<-'PY'
	import json, socket, sys
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
	for i in range(int(sys.argv[2])):
	    s.sendall(json.dumps({"v": 1, "op": "secret-set", "vault": "app",
	                          "name": "n%d" % (i % 50), "value_len": 1}).encode() + b"\n" + b"x")
	    assert json.loads(f.readline())["ok"]
	PY
}

@test ".events: a slow reader gets the lost line; the daemon's memory stays bounded" {
	default_policy
	daemon_start
	ctl vault create app
	# opened, then not read until 10 000 changes (more than the ring's 4096) are made
	exec 7<"$T/mnt/app/.events"
	hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$DAEMON/status"; }
	sets 1000
	after_1k=$(hwm)
	sets 9000
	after_10k=$(hwm)
	echo "VmHWM after 1000 changes: $after_1k kB, after 10000: $after_10k kB"
	# the ring is allocated whole at start: 9000 more changes add no more than noise
	[ "$after_10k" -le $((after_1k + 2048)) ]
	head -c 4096 <&7 >"$T/first"
	exec 7<&-
	head -3 "$T/first"
	head -1 "$T/first" | grep -qx '{"event":"lost","hint":"events lost, re-read the state"}'
	# then the oldest kept: seq 2 .. 10001 were made (1 is the vault's), 4096 kept
	sed -n 2p "$T/first" | grep -q '^{"seq":5906,'
}

# wait_lines FILE N: until FILE has N lines (at most 10 s)
wait_lines() {
	local i
	for i in $(seq 200); do
		[ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "$1 has $(cat "$1" 2>/dev/null | wc -l) lines, not $2" >&2
	return 1
}

# watch_bg ARGS...: vaultctl watch in the background, output in $T/watch.out, once the
# daemon has recorded its watch
watch_bg() {
	local before i
	before=$(grep -c '"event":"watch"' "$T/audit.jsonl" || true)
	if [ -n "${WATCH_UID:-}" ]; then
		as "$WATCH_UID" "$VAULTCTL" -c "$CONF" watch "$@" >"$T/u1000/watch.out" \
			2>"$T/u1000/watch.err" &
	else
		"$VAULTCTL" -c "$CONF" watch "$@" >"$T/watch.out" 2>"$T/watch.err" &
	fi
	PIDS+=($!)
	WATCH_PID=$!
	for i in $(seq 100); do
		[ "$(grep -c '"event":"watch"' "$T/audit.jsonl" || true)" -gt "$before" ] && return 0
		sleep 0.05
	done
	cat "$T/watch.err" "$T/u1000/watch.err" >&2 2>/dev/null
	return 1
}

@test "vaultctl watch: prints the changes of the names given, as text or JSON" {
	default_policy
	daemon_start
	ctl vault create app
	watch_bg app/db
	printf 'o' | ctl secret set app/other
	printf 'd' | ctl secret set app/db
	ctl secret delete app/db
	wait_lines "$T/watch.out" 2
	cat "$T/watch.out"
	sed -n 1p "$T/watch.out" | grep -Eq '^[0-9T:.-]+Z app/db set version 1$'
	sed -n 2p "$T/watch.out" | grep -Eq '^[0-9T:.-]+Z app/db delete$'
	! grep -q other "$T/watch.out" || false
	kill "$WATCH_PID"
	watch_bg --json
	ctl vault create two
	wait_lines "$T/watch.out" 1
	grep -q '"vault":"two","name":null,"kind":"vault","event":"vault-create"' "$T/watch.out"
	# a target the caller may not list: refused, recorded
	run as 1000 "$VAULTCTL" -c "$CONF" watch two
	[ "$status" -eq 1 ]
	[[ $output == *"permission denied: watching two needs \`list\` on /two"* ]]
}

@test "vaultctl watch: uid 1000 hears only of the names it may see" {
	default_policy
	daemon_start
	ctl vault create app
	ctl vault create hidden
	WATCH_UID=1000 watch_bg --json
	printf 'o' | ctl secret set app/other
	printf 'h' | ctl secret set hidden/db
	ctl vault create third
	printf 'd' | ctl secret set app/db
	wait_lines "$T/u1000/watch.out" 1
	sleep 0.5
	cat "$T/u1000/watch.out"
	[ "$(wc -l <"$T/u1000/watch.out")" -eq 1 ]
	grep -q '"vault":"app","name":"db"' "$T/u1000/watch.out"
}

@test "vaultctl watch --exec: once per change, once or twice for a burst of 20, event in env" {
	default_policy
	daemon_start
	ctl vault create app
	watch_bg app/db --exec sh -c 'echo "run $VAULTFS_EVENT $VAULTFS_VAULT/$VAULTFS_NAME $VAULTFS_VERSION" >>"$0"; sleep 1' "$T/runs"
	printf 'one' | ctl secret set app/db
	wait_lines "$T/runs" 1
	sleep 1.5
	printf 'two' | ctl secret set app/db
	wait_lines "$T/runs" 2
	sleep 1.5
	cat "$T/runs"
	[ "$(wc -l <"$T/runs")" -eq 2 ]
	[ "$(sed -n 1p "$T/runs")" = "run set app/db 1" ]
	[ "$(sed -n 2p "$T/runs")" = "run set app/db 2" ]
	! grep -q 'one\|two' "$T/runs" || false
	# a burst: the first run waits 200 ms for more; what comes during a run makes one more
	python3 - "$T/control.sock" <<-'PY'
	import json, socket, sys
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
	for i in range(20):
	    s.sendall(json.dumps({"v": 1, "op": "secret-set", "vault": "app", "name": "db",
	                          "value_len": 1}).encode() + b"\n" + b"x")
	    assert json.loads(f.readline())["ok"]
	PY
	sleep 3.5
	cat "$T/runs"
	n=$(wc -l <"$T/runs")
	[ "$n" -ge 3 ]
	[ "$n" -le 4 ]
	tail -1 "$T/runs" | grep -qx 'run set app/db 22'
}

@test "stamp files: [events] stamp_dir, 0700, a file per name whose mtime changes" {
	cat >>"$CONF" <<-EOF
	[events]
	stamp_dir = $T/stamps
	EOF
	default_policy
	daemon_start
	[ "$(stat -c %a "$T/stamps")" = 700 ]
	ctl vault create app
	printf 'a' | ctl secret set app/db
	for i in $(seq 100); do [ -e "$T/stamps/app/db" ] && break; sleep 0.05; done
	[ -f "$T/stamps/app/db" ]
	[ ! -s "$T/stamps/app/db" ]
	[ -f "$T/stamps/app/.vault" ]
	[ "$(stat -c %a "$T/stamps/app")" = 700 ]
	m1=$(stat -c %.9Y "$T/stamps/app/db")
	sleep 0.1
	printf 'b' >"$T/mnt/app/db"
	for i in $(seq 100); do
		[ "$(stat -c %.9Y "$T/stamps/app/db")" != "$m1" ] && break
		sleep 0.05
	done
	[ "$(stat -c %.9Y "$T/stamps/app/db")" != "$m1" ]
	# a stamp directory others can read is refused at start
	daemon_stop
	chmod 0755 "$T/stamps"
	# run directly: the refusal may come after the mount, which daemon_start would take for a
	# start (a flake in CI); a daemon that serves anyway is killed by timeout (124)
	run timeout 20 "$VAULTFSD" -c "$CONF"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
}

@test "vaultctl watch --exec: a watcher that falls behind runs CMD for the lost line" {
	default_policy
	daemon_start
	ctl vault create app
	watch_bg app --exec sh -c 'echo "run $VAULTFS_EVENT" >>"$0"' "$T/runs"
	# stopped, it reads nothing: the socket fills, the daemon's cursor falls behind the ring
	kill -STOP "$WATCH_PID"
	sets 10000
	kill -CONT "$WATCH_PID"
	for i in $(seq 200); do grep -q 'run lost' "$T/runs" 2>/dev/null && break; sleep 0.1; done
	cat "$T/runs"
	grep -q 'run lost' "$T/runs"
	[ "$(wc -l <"$T/runs")" -le 3 ]
}

@test "README's shell loop: read(1) of .events, a line at a time" {
	default_policy
	daemon_start
	ctl vault create app
	(while read -r ev; do printf '%s\n' "$ev" >>"$T/loop"; done <"$T/mnt/app/.events") &
	PIDS+=($!)
	for i in $(seq 100); do grep -q '"event":"watch"' "$T/audit.jsonl" && break; sleep 0.05; done
	printf 'a' | ctl secret set app/db
	printf 'b' | ctl secret set app/db
	wait_lines "$T/loop" 2
	python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert [(e["name"], e["event"], e["version"]) for e in evs] == [("db", "set", 1), ("db", "set", 2)], evs
' "$T/loop"
}
