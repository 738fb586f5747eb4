#!/usr/bin/env bats
# The promise of `[audit] sync = always` under group commit: no byte of a read is served before
# the read open's record is on disk (and, with `sync = batch`, that the period's sync holds no
# open up). The daemon runs under tests/lib/fsync-gate.c (LD_PRELOAD),
# which holds the journal's fdatasync while $T/hold exists, fails it with EIO while $T/fail
# exists, and logs the journal's size at each sync that completed. A read waits while the sync
# is held and gets its bytes once it completes, or EIO and no bytes if it fails (and the handle
# stays refused); an open is answered while its sync is held (only the read waits); an
# interrupted held read gives no bytes; a read held across a hand-over (--takeover) is answered
# by the old daemon once its sync is done; a kill -9 during a storm of opens (tests/lib/
# open-storm.c), with the syncs running and with one held, leaves no read that gave bytes
# without its record inside the synced part of the journal.

load helpers

GATE=$VAULTFS_BUILD/tests/fsync-gate.so
STORM=$VAULTFS_BUILD/tests/open-storm

setup() {
	vault_setup
	mkdir -m 0700 "$T/policy.d"
	sed -i 's/^sync = batch$/sync = always/' "$CONF"
	init_store
	vctl vault create app
	policy <<-'EOF'
	allow list /app uid=0
	allow read /app/* uid=0
	EOF
	head -c 100 /dev/urandom >"$T/value"
	vctl secret set app/db --file "$T/value"
	DAEMON=
	PIDS=()
}

teardown() {
	local p
	rm -f "$T/hold" "$T/fail"
	for p in "${PIDS[@]}"; do
		kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# gated_start: vaultfsd under the preload
gated_start() {
	LD_PRELOAD=$GATE FSYNC_GATE_PATH=$T/audit.jsonl FSYNC_GATE_HOLD=$T/hold \
		FSYNC_GATE_FAIL=$T/fail FSYNC_GATE_LOG=$T/synced daemon_start
}

# synced: the largest journal size a completed sync covered (0 none)
synced() {
	sort -n "$T/synced" 2>/dev/null | tail -n 1 | grep . || echo 0
}

# opens_of PID FILE: allowed open records of PID in FILE
opens_of() {
	grep -ac "\"event\":\"open\",\"decision\":\"allow\",.*,\"pid\":$1," "$2" || true
}

# still_running PID: true while PID runs (and is not a zombie)
still_running() {
	[ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# check_storm OUT: every reader of the storm (OUT: "PID N" lines) that got bytes N times has N
# open records inside the synced part of the journal
check_storm() {
	local size pid n have total=0
	size=$(synced)
	head -c "$size" "$T/audit.jsonl" >"$T/durable.jsonl"
	while read -r pid n; do
		have=$(opens_of "$pid" "$T/durable.jsonl")
		total=$((total + n))
		if [ "$n" -gt "$have" ]; then
			echo "reader $pid got bytes $n times, $have records on disk (synced $size bytes)"
			return 1
		fi
	done <"$1"
	echo "storm: $total reads served, all recorded on disk ($size bytes synced)"
	[ "$total" -gt 0 ]
}

@test "a read waits while its record's sync is held and gets its bytes once the sync is done" {
	gated_start
	touch "$T/hold"
	# the open is answered at once; the read waits for the sync
	exec 4<"$(M app/db)"
	cat <&4 >"$T/out" &
	PIDS+=($!)
	sleep 1
	still_running "${PIDS[0]}"
	[ ! -s "$T/out" ]
	# the record is in the file, not yet synced
	grep -aq '"event":"open","decision":"allow"' "$T/audit.jsonl"
	rm -f "$T/hold"
	wait "${PIDS[0]}"
	exec 4<&-
	cmp "$T/value" "$T/out"
	# synced past the record
	[ "$(synced)" -ge "$(grep -ab '"event":"open","decision":"allow"' "$T/audit.jsonl" |
		tail -n 1 | cut -d: -f1)" ]
}

# batch_gated_start: vaultfsd under the preload with the journal in batch, once everything it
# wrote at its start is synced
batch_gated_start() {
	local i
	sed -i 's/^sync = always$/sync = batch/' "$CONF"
	gated_start
	for ((i = 0; i < 50; i++)); do
		[ "$(synced)" -ge "$(stat -c %s "$T/audit.jsonl")" ] && break
		sleep 0.1
	done
	[ "$(synced)" -ge "$(stat -c %s "$T/audit.jsonl")" ]
}

# With sync = batch the period's fdatasync runs behind the writers: while it is held, opens are
# recorded and served (before, the FUSE thread waited for it and the anchor, 1-3 ms a period
# here, for ever with the sync held), and once it completes it covers what it began with.
@test "batch: opens are recorded and served while the period's sync is held" {
	local before i
	batch_gated_start
	touch "$T/hold"
	cat "$(M app/db)" >/dev/null # written, and the sync 100 ms later is held
	sleep 0.5
	before=$(synced)
	timeout 10 cat "$(M app/db)" >"$T/out"
	cmp "$T/value" "$T/out"
	timeout 10 cat "$(M app/db)" >/dev/null
	[ "$(grep -ac '"event":"open","decision":"allow"' "$T/audit.jsonl")" -eq 3 ]
	[ "$(synced)" -eq "$before" ]
	rm -f "$T/hold"
	for ((i = 0; i < 50; i++)); do
		[ "$(synced)" -ge "$(stat -c %s "$T/audit.jsonl")" ] && break
		sleep 0.1
	done
	[ "$(synced)" -ge "$(stat -c %s "$T/audit.jsonl")" ]
	daemon_stop
	vctl --offline audit verify
}

@test "batch: a period's sync that fails behind the writers fails the journal closed" {
	batch_gated_start
	touch "$T/fail"
	cat "$(M app/db)" >/dev/null # written; the sync 100 ms later fails
	sleep 0.5
	run cat "$(M app/db)"
	[ "$status" -ne 0 ]
	[[ $output == *"Input/output error"* ]]
	[ "$(grep -ac '"event":"open","decision":"allow"' "$T/audit.jsonl")" -eq 1 ]
}

@test "a read whose record's sync fails gets EIO and no bytes; the handle stays refused" {
	gated_start
	touch "$T/hold"
	exec 4<"$(M app/db)"
	cat <&4 >"$T/out" 2>"$T/err" &
	PIDS+=($!)
	sleep 0.5
	still_running "${PIDS[0]}"
	touch "$T/fail"
	rm -f "$T/hold"
	# not `run wait`: run's subshell has no child to wait for, and returned 127 at once
	wait "${PIDS[0]}" && st=0 || st=$?
	[ "$st" -ne 0 ]
	[ ! -s "$T/out" ]
	grep -q "Input/output error" "$T/err"
	# the same handle: EIO again, never bytes
	run cat <&4
	[ "$status" -ne 0 ]
	[ -z "$output" ] || [[ $output == *"Input/output error"* ]]
	exec 4<&-
	# the journal is failing: a new open is refused
	run cat "$(M app/db)"
	[ "$status" -ne 0 ]
	[[ $output == *"Input/output error"* ]]
}

@test "an interrupted held read gives no bytes" {
	gated_start
	touch "$T/hold"
	exec 4<"$(M app/db)"
	timeout -s INT 1 cat <&4 >"$T/out" 2>"$T/err" &
	PIDS+=($!)
	wait "${PIDS[0]}" && st=0 || st=$?
	[ "$st" -ne 0 ]
	[ ! -s "$T/out" ]
	exec 4<&-
	rm -f "$T/hold"
	# and the next open reads as usual
	cat "$(M app/db)" >"$T/out2"
	cmp "$T/value" "$T/out2"
}

@test "a read held across a hand-over gets its bytes from the old daemon; the new one serves on" {
	local old
	gated_start
	touch "$T/hold"
	exec 4<"$(M app/db)"
	cat <&4 >"$T/out" &
	PIDS+=($!)
	sleep 0.5
	still_running "${PIDS[0]}"
	old=$DAEMON
	# the new daemon (not gated) waits for the journal's lock while the old one's sync is held
	"$VAULTFSD" -c "$CONF" --takeover >>"$T/daemon2.log" 2>&1 3>&- &
	DAEMON=$!
	sleep 1
	[ ! -s "$T/out" ]
	rm -f "$T/hold"
	wait "${PIDS[0]}"
	exec 4<&-
	cmp "$T/value" "$T/out"
	wait "$old"
	cat "$(M app/db)" >"$T/out2"
	cmp "$T/value" "$T/out2"
	run vctl audit show --event handover
	[[ $output == *" handover allow "* ]]
}

@test "kill -9 during a storm of opens leaves no served read without its durable record" {
	gated_start
	"$STORM" "$(M app/db)" 4 10 >"$T/storm" 2>"$T/storm.err" &
	PIDS+=($!)
	sleep 1.5
	kill -9 "$DAEMON"
	wait "$DAEMON" 2>/dev/null || true
	DAEMON=
	wait "${PIDS[0]}"
	cat "$T/storm"
	check_storm "$T/storm"
}

@test "kill -9 while a sync is held during a storm: reads served only from synced records" {
	gated_start
	"$STORM" "$(M app/db)" 4 10 >"$T/storm" 2>"$T/storm.err" &
	PIDS+=($!)
	sleep 1
	touch "$T/hold"
	sleep 1
	kill -9 "$DAEMON"
	wait "$DAEMON" 2>/dev/null || true
	DAEMON=
	wait "${PIDS[0]}"
	rm -f "$T/hold"
	cat "$T/storm"
	check_storm "$T/storm"
}

# The journal of an always daemon is allocated ahead with zeros (a sync then flushes the data
# alone): while it runs the file ends in zeros, and a follower reads through to the data's
# end and sees each new record; after kill -9 the next daemon writes into the zeros, calls
# nothing torn, and the chain verifies; a stop leaves a file that ends with its last line.
@test "always: the journal's zeros ahead are read through, written into after kill -9, cut at a stop" {
	local zeros
	daemon_start
	cat "$(M app/db)" >/dev/null
	[ "$(stat -c %s "$T/audit.jsonl")" -ge 1048576 ]
	[ "$(tail -c 1 "$T/audit.jsonl" | od -An -tx1 | tr -d ' ')" = 00 ]
	"$VAULTCTL" -c "$CONF" --offline audit show --follow >"$T/follow" 2>&1 3>&- &
	PIDS+=($!)
	sleep 1
	cat "$(M app/db)" >/dev/null
	for ((i = 0; i < 50; i++)); do
		grep -q ' open allow ' "$T/follow" && break
		sleep 0.1
	done
	grep -q ' open allow ' "$T/follow"
	kill -9 "$DAEMON"
	wait "$DAEMON" 2>/dev/null || true
	DAEMON=
	zeros=$(tr -cd '\000' <"$T/audit.jsonl" | wc -c)
	[ "$zeros" -gt 0 ]
	daemon_start
	cat "$(M app/db)" >/dev/null
	daemon_stop
	[ "$(tr -cd '\000' <"$T/audit.jsonl" | wc -c)" -eq 0 ]
	! grep -q journal-recovered "$T/audit.jsonl" || false
	[ "$(grep -c '"event":"open","decision":"allow"' "$T/audit.jsonl")" -eq 3 ]
	vctl --offline audit verify
}
