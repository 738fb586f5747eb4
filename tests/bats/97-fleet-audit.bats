#!/usr/bin/env bats
# The fleet's central audit (issue 20) with one real PostgreSQL 15 (started by the test in its
# dir) and two hosts on this machine, each a vaultfsd with its own software TPM, store, config,
# journal and mount: each daemon ships its journal to the center in batches signed by its host
# key. A read through b's mount shows in `vaultctl audit show --fleet` run on a, with b's name
# beside it (text and JSON, --host and --vault filters). Batches tampered with by hand in SQL (a
# line changed, a batch dropped, a host's key replaced) are said, their records withheld, and
# the exit status is 3; a last batch changed while b was down is found by b when it starts,
# said in its log and journal, and shipped again. With the center stopped, b serves on and its
# shipper falls behind; started again, b catches up with no operator, and the center holds b's
# journal line for line. doctor on b checks the center's copy: its last batch (verifies, is the
# journal's), holes between its batches, and the lag behind the journal, each failure with advice.
# While b runs, its first and last batches deleted in SQL come back from its journal without a
# restart, within the shipper's re-check ([fleet] audit_check_interval, 3 s there). doctor warns when [fleet] conninfo reaches the
# center over TCP without sslmode=verify-full (or with a password and no channel binding), and
# not for a unix socket.

load helpers
# shellcheck source=tests/lib/fleet-hosts.bash
. "$VAULTFS_TOP/tests/lib/fleet-hosts.bash"
load ../lib/servers

setup() {
	need_pg
	# the daemon starts the shipper (fs/fleet-audit.c) from fs/vaultfsd.c
	grep -q fleet_audit_start "$BATS_TEST_DIRNAME/../../fs/vaultfsd.c" ||
		skip "vaultfsd does not start the central audit's shipper yet"
	vault_setup
	chmod 0711 "$T" # the postgres user reaches below it
	pg_start "$T/pg"
	CONNINFO="host=$T/pg port=$PG_PORT dbname=postgres user=postgres connect_timeout=2"
	TCTI_A=$TCTI
	swtpm_start "$T/tpm2"
	TCTI_B=$SWTPM_TCTI
	host_init a "$TCTI_A"
	host_init b "$TCTI_B"
	on b vault create loc
	printf 'v1' | on b secret set loc/x
}

teardown() {
	local h
	for h in a b; do host_stop $h; done
	pg_stop "$T/pg"
	[ -n "${KEEP:-}" ] || vault_teardown
}

# pg_again: the center started again on its data dir and port
pg_again() {
	pg_as "$PG_BIN/pg_ctl" -D "$T/pg/data" -l "$T/pg/log" -w -t 60 start >/dev/null
}

sql() {
	"$PG_BIN/psql" "$CONNINFO" -v ON_ERROR_STOP=1 -Atqc "$1"
}

# shows ARGS...: audit show --fleet on a prints a line matching the ERE $WANT
shows() {
	on a audit show --fleet "$@" 2>/dev/null | grep -qE "$WANT"
}

join_both() {
	local fa fb
	fa=$(on a fleet join 2>/dev/null)
	fb=$(on b fleet join --anchor "$fa" 2>/dev/null)
	on a fleet approve b --fingerprint "$fb" 2>/dev/null
	host_start a
	host_start b
}

@test "fleet audit: a read on b shows in audit show --fleet on a, with b's name" {
	join_both
	[ "$(cat "$T/b/mnt/loc/x")" = v1 ]
	WANT='^[^ ]+ b [0-9]+ open allow loc/x v1 uid=0 '
	within 15 shows
	grep -q 'fleet audit: shipping the journal as b' "$T/b/daemon.log"
	# the JSON form: the record as the journal has it, host first
	on a audit show --fleet --json --host b >"$T/json"
	grep '"event":"open"' "$T/json" | grep -q '^{"host":"b","seq":[0-9]*,.*"object":"x"'
	python3 -c "import json, sys; [json.loads(l) for l in open(sys.argv[1])]" "$T/json"
	# the same lines as b's journal, byte for byte after the host member
	line=$(grep '"event":"open"' "$T/json" | grep '"object":"x"' | head -1 | sed 's/^{"host":"b",/{/')
	grep -qxF "$line" "$T/b/audit.jsonl"
	# filters: --host a has none of b's records; --vault
	! on a audit show --fleet --host a | grep -E '^[^ ]+ b ' || false
	on a audit show --fleet --host a | grep -qE '^[^ ]+ a [0-9]+ '
	[ "$(on a audit show --fleet --vault loc | grep -cv ' loc')" = 0 ]
	[ -z "$(on a audit show --fleet --since +1d)" ]
	on a audit show --fleet --since -1h | grep -qE ' b [0-9]+ open allow loc/x'
	[ -z "$(on a audit show --fleet --event no-such-event)" ]
	# b's own view of the center says the same
	WANT='^[^ ]+ b [0-9]+ open allow loc/x'
	"$VAULTCTL" -c "$T/b/vaultfs.conf" audit show --fleet | grep -qE "$WANT"
	# nothing was said against the center: it verifies whole
	run on a audit show --fleet
	[ "$status" -eq 0 ]
	# --host is for --fleet only
	run on a audit show --host b
	[ "$status" -eq 2 ]
}

@test "fleet audit: batches tampered with in SQL are said and withheld; a changed last batch is shipped again" {
	join_both
	[ "$(cat "$T/b/mnt/loc/x")" = v1 ]
	WANT='^[^ ]+ b [0-9]+ open allow loc/x'
	within 15 shows
	host_stop b # its stop record shipped as it stops
	WANT='^[^ ]+ b [0-9]+ stop allow'
	within 5 shows
	# a line changed: the read of loc/x becomes one of loc/y
	sql "UPDATE vaultfs.audit_batches SET lines = convert_to(replace(convert_from(lines, 'UTF8'), '\"object\":\"x\"', '\"object\":\"y\"'), 'UTF8') WHERE host = 'b' AND position('\"object\":\"x\"'::bytea in lines) > 0"
	run on a audit show --fleet
	[ "$status" -eq 3 ]
	[[ $output == *"host b: the batch of seq "*"does not verify under the host's key"*"withheld"* ]]
	! echo "$output" | grep -E ' b [0-9]+ open allow loc/[xy]' || false
	echo "$output" | grep -qE '^[^ ]+ a [0-9]+ ' # a's records stand
	# b starts: it finds its last batch changed (it holds the stop record), says so, ships
	# it again from its journal
	sql "UPDATE vaultfs.audit_batches SET lines = convert_to(replace(convert_from(lines, 'UTF8'), '\"event\":\"stop\"', '\"event\":\"open\"'), 'UTF8') WHERE host = 'b' AND first_seq = (SELECT max(first_seq) FROM vaultfs.audit_batches WHERE host = 'b')"
	host_start b
	within 15 grep -q "fleet audit: the center's audit batch of seq .* does not verify under this host's key: shipping it again" "$T/b/daemon.log"
	grep '"event":"fleet-audit"' "$T/b/audit.jsonl" | grep -q 'does not verify under this host'
	WANT='^[^ ]+ b [0-9]+ stop allow'
	within 15 shows
	# (b found the batches changed before it too, back to one that verifies, and shipped all
	# of them again)
	run on a audit show --fleet --host b
	[ "$status" -eq 0 ]
	# a batch dropped (b's first): the records before the next one are missing, said
	[ "$(cat "$T/b/mnt/loc/x")" = v1 ]
	within 15 sh -c "[ \$('$VAULTCTL' -c '$T/a/vaultfs.conf' audit show --fleet --host b | grep -c ' open allow loc/x') = 2 ]"
	[ "$(sql "SELECT count(*) FROM vaultfs.audit_batches WHERE host = 'b'")" -ge 2 ]
	sql "DELETE FROM vaultfs.audit_batches WHERE host = 'b' AND first_seq = 1"
	run on a audit show --fleet --host b
	[ "$status" -eq 3 ]
	[[ $output == *"host b: records before seq "*" are missing at the center"* ]]
	# the later ones stand: the second read, not the first
	[ "$(echo "$output" | grep -cE '^[^ ]+ b [0-9]+ open allow loc/x')" = 1 ]
	# b's key replaced by a's: b does not count, none of its records shown
	sql "UPDATE vaultfs.hosts SET spki = (SELECT spki FROM vaultfs.hosts WHERE name = 'a') WHERE name = 'b'"
	run on a audit show --fleet
	[ "$status" -eq 3 ]
	[[ $output == *"host b does not count"*"withheld"* ]]
	! echo "$output" | grep -E '^[^ ]+ b [0-9]+ ' || false
}

@test "fleet audit: the center away: b serves and falls behind; back: b catches up alone" {
	join_both
	[ "$(cat "$T/b/mnt/loc/x")" = v1 ]
	WANT='^[^ ]+ b [0-9]+ open allow loc/x'
	within 15 shows
	pg_stop "$T/pg"
	fails=0
	for i in $(seq 20); do
		[ "$(cat "$T/b/mnt/loc/x")" = v1 ] || fails=$((fails + 1))
	done
	[ "$fails" -eq 0 ]
	within 10 grep -q 'fleet audit: the center is away' "$T/b/daemon.log"
	# the center back: every read is there, with no operator
	pg_again
	within 40 sh -c "[ \$('$VAULTCTL' -c '$T/a/vaultfs.conf' audit show --fleet --host b | grep -c ' open allow loc/x') = 21 ]"
	run on a audit show --fleet
	[ "$status" -eq 0 ]
	# the journal and the center agree, line for line
	on a audit show --fleet --host b --json | sed 's/^{"host":"b",/{/' >"$T/center"
	head -n "$(wc -l <"$T/center")" "$T/b/audit.jsonl" | cmp - "$T/center"
}

@test "fleet audit: batches deleted in SQL while b runs come back from its journal, no restart" {
	echo 'audit_check_interval = 3s' >>"$T/b/vaultfs.conf" # [fleet]'s, the default 30 s
	join_both
	[ "$(cat "$T/b/mnt/loc/x")" = v1 ]
	WANT='^[^ ]+ b [0-9]+ open allow loc/x'
	within 15 shows
	for n in 2 3; do # the next reads in batches of their own
		sleep 1.5
		[ "$(cat "$T/b/mnt/loc/x")" = v1 ]
		within 15 sh -c "[ \$('$VAULTCTL' -c '$T/a/vaultfs.conf' audit show --fleet --host b | grep -c ' open allow loc/x') = $n ]"
	done
	[ "$(sql "SELECT count(*) FROM vaultfs.audit_batches WHERE host = 'b'")" -ge 3 ]
	# its first batch (a hole at the start) and its last (the tail) deleted
	sql "DELETE FROM vaultfs.audit_batches WHERE host = 'b' AND (first_seq = 1 OR first_seq = (SELECT max(first_seq) FROM vaultfs.audit_batches WHERE host = 'b'))"
	run on a audit show --fleet --host b
	[ "$status" -eq 3 ]
	# within the re-check's 3 s (and a round, on a loaded machine; less than the default's
	# 30 s): whole again, b still the same process
	within 20 sh -c "'$VAULTCTL' -c '$T/a/vaultfs.conf' audit show --fleet --host b >'$T/out' && [ \$(grep -c ' open allow loc/x' '$T/out') = 3 ]"
	kill -0 "$PID_b"
	grep -qE "fleet audit: the center lost (the audit batches|every audit batch|this host's audit records)" "$T/b/daemon.log"
	grep '"event":"fleet-audit"' "$T/b/audit.jsonl" | grep -q 'the center lost'
}

@test "fleet audit: doctor warns of a conninfo over TCP without verify-full TLS, not of a socket" {
	# a's conninfo is a unix socket directory: fine
	"$VAULTCTL" -c "$T/a/vaultfs.conf" doctor >"$T/doctor" 2>&1 || true
	grep -qF '[ok  ] fleet tls: [fleet] conninfo reaches the center through a unix socket' "$T/doctor"
	! grep -E '^\[(WARN|FAIL)\] fleet tls: \[fleet\] conninfo' "$T/doctor" || false
	# b's over TCP, with no sslmode: warned, with advice
	sed -i "s|^conninfo = .*|conninfo = host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres connect_timeout=2|" "$T/b/vaultfs.conf"
	"$VAULTCTL" -c "$T/b/vaultfs.conf" doctor >"$T/doctor" 2>&1 || true
	cat "$T/doctor"
	grep -qF '[WARN] fleet tls: [fleet] conninfo reaches the center over TCP without sslmode=verify-full' "$T/doctor"
	grep -A1 -F '[WARN] fleet tls: [fleet] conninfo reaches' "$T/doctor" | grep -qE '^       -> add sslmode=verify-full'
	! grep -F 'channel_binding' "$T/doctor" || false # no password in it
	# verify-full, and a password without channel binding
	sed -i "s|^conninfo = .*|conninfo = host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres password=pw sslmode=verify-full connect_timeout=2|" "$T/b/vaultfs.conf"
	"$VAULTCTL" -c "$T/b/vaultfs.conf" doctor >"$T/doctor" 2>&1 || true
	grep -qF '[ok  ] fleet tls: [fleet] conninfo reaches the center over TCP with sslmode=verify-full' "$T/doctor"
	grep -qF '[WARN] fleet tls: [fleet] conninfo logs in with a password without channel_binding=require' "$T/doctor"
	grep -A1 -F 'without channel_binding=require' "$T/doctor" | grep -qE '^       -> add channel_binding=require'
}

# doctor_says NAME LEVEL ERE: `vaultctl doctor` on NAME prints a line "[LEVEL] fleet audit: ..."
# matching ERE (after the mark); its output in $T/doctor
doctor_says() {
	"$VAULTCTL" -c "$T/$1/vaultfs.conf" doctor >"$T/doctor" 2>&1 || true
	grep -qE "^\[$2\] fleet audit: $3" "$T/doctor"
}

# advice ERE: the advice under the last doctor's first fleet audit line that is not ok
advice() {
	grep -A1 -E '^\[(WARN|FAIL)\] fleet audit: ' "$T/doctor" | grep -qE "^       -> .*$1"
}

@test "fleet audit: doctor: the center's last batch of this host, its holes, its lag; failures with advice" {
	join_both
	[ "$(cat "$T/b/mnt/loc/x")" = v1 ]
	WANT='^[^ ]+ b [0-9]+ open allow loc/x'
	within 15 shows
	# all well: the last batch verifies and is the journal's, no hole, no lag that counts
	within 15 doctor_says b 'ok  ' "the center.s last batch of this host \(seq [0-9]+\.\.[0-9]+\) verifies under its key and is this journal.s$"
	cat "$T/doctor"
	grep -qE '^\[ok  \] fleet audit: the center.s [0-9]+ batch(es)? of this host \(seq 1\.\.[0-9]+\) follow one another$' "$T/doctor"
	grep -qE '^\[ok  \] fleet audit: the center has this host.s journal to seq [0-9]+ of [0-9]+ \(lag' "$T/doctor"
	! grep -E '^\[(WARN|FAIL)\] fleet audit: ' "$T/doctor" || false
	# b stopped (its stop record shipped as it stops), then its last batch changed in SQL
	host_stop b
	WANT='^[^ ]+ b [0-9]+ stop allow'
	within 5 shows
	doctor_says b 'ok  ' 'the center has this host.s journal to seq ([0-9]+) of \1 \(lag 0\)$'
	sql "UPDATE vaultfs.audit_batches SET lines = convert_to(replace(convert_from(lines, 'UTF8'), '\"event\":\"stop\"', '\"event\":\"open\"'), 'UTF8') WHERE host = 'b' AND first_seq = (SELECT max(first_seq) FROM vaultfs.audit_batches WHERE host = 'b')"
	doctor_says b FAIL "the center.s last batch of this host \(seq [0-9]+\.\.[0-9]+\) verifies under its key and is this journal.s: it does not verify$"
	cat "$T/doctor"
	advice 'vaultfsd replaces it from this journal when it connects to the center: start it'
	# the changed batch dropped instead: the center lags the journal, and vaultfsd is not there
	sql "DELETE FROM vaultfs.audit_batches WHERE host = 'b' AND first_seq = (SELECT max(first_seq) FROM vaultfs.audit_batches WHERE host = 'b')"
	doctor_says b WARN 'the center has this host.s journal to seq [0-9]+ of [0-9]+ \(lag [1-9][0-9]*, the oldest record not there written [0-9.]+ s ago\)$'
	cat "$T/doctor"
	advice 'vaultfsd ships the journal as it runs .*: start it'
	grep -qE '^\[ok  \] fleet audit: the center.s last batch of this host .* is this journal.s$' "$T/doctor"
	# b back: it ships from the center's last batch on, and doctor is content
	host_start b
	within 15 doctor_says b 'ok  ' 'the center has this host.s journal to seq [0-9]+ of [0-9]+ \(lag'
	! grep -E '^\[(WARN|FAIL)\] fleet audit: ' "$T/doctor" || false
	# a batch lost in the middle (b's first): a hole that this journal could fill
	[ "$(sql "SELECT count(*) FROM vaultfs.audit_batches WHERE host = 'b'")" -ge 2 ]
	sql "DELETE FROM vaultfs.audit_batches WHERE host = 'b' AND first_seq = 1"
	doctor_says b FAIL 'the center.s [0-9]+ batch(es)? of this host \(seq [0-9]+\.\.[0-9]+\) follow one another: seq 1\.\.[0-9]+ missing$'
	cat "$T/doctor"
	advice 'the center lost or changed batches of this host .* this journal still holds them'
	run "$VAULTCTL" -c "$T/b/vaultfs.conf" doctor
	[ "$status" -eq 1 ]
}
