#!/usr/bin/env bats
# The rollback guard on a real store, journal and software TPM (issue 15): an older copy of the
# store written back, one row replayed with its own valid MAC, a damaged WAL frame, and a journal
# cut short with an older anchor written back, each refused at open with the counter's evidence
# (by vaultfsd and by vaultctl); the recovery key accepting a rollback on purpose, recorded. Each
# daemon start advances the epoch (that is what puts the older copy behind the counter).

load helpers

setup() {
	vault_setup
	init_store
	vctl vault create app
	mkdir -m 0700 "$T/policy.d"
	echo 'allow list,read,meta,write /** uid=0' >"$T/policy.d/10-test.policy"
	DAEMON=
}

teardown() {
	daemon_stop
	vault_teardown
}

# a start and a stop of the daemon: the epoch advances once
restart() {
	daemon_start
	daemon_stop
}

@test "a store copied back from before an advance is refused, then accepted with the recovery key" {
	printf old-password | vctl secret set app/db
	restart
	cp "$T/vault.db" "$T/old.db"
	printf new-password | vctl secret set app/db
	restart
	cp "$T/old.db" "$T/vault.db"
	rm -f "$T/vault.db-wal" "$T/vault.db-shm"

	run daemon_start
	[ "$status" -ne 0 ]
	grep -q "The store is refused: the store is older than its TPM counter" "$T/daemon.log"
	grep -Eq "Evidence: the store is at epoch [0-9]+ .*TPM counter \(NV index 0x01b5f[0-9a-f]{3}\) at [0-9]+" \
		"$T/daemon.log"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"older than its TPM counter"* ]]
	[[ $output == *"evidence: the store is at epoch"* ]]

	# a wrong recovery key changes nothing
	printf '%s\n' 00000000-00000000-00000000-00000000-00000000-00000000-00000000-00000000 >"$T/wrong.key"
	run vctl recover --accept-rollback --recovery-key-file "$T/wrong.key"
	[ "$status" -ne 0 ]
	run vctl secret get app/db
	[ "$status" -eq 3 ]

	run vctl recover --accept-rollback --recovery-key-file "$T/recovery.key"
	[ "$status" -eq 0 ]
	[[ $output == *"Accepted the store as it is"* ]]
	[ "$(vctl secret get app/db)" = old-password ]
	vctl audit show | grep -q " rollback-accepted allow "
	daemon_start
	[ "$(cat "$T/mnt/app/db")" = old-password ]
}

@test "one version row replayed with its own valid MAC is refused (a disabled version enabled again)" {
	printf leaked | vctl secret set app/db
	sqlite3 "$T/vault.db" "CREATE TABLE saved AS SELECT * FROM versions"
	vctl secret update app/db --version 1 --enabled no
	run vctl secret get app/db
	[ "$status" -ne 0 ]
	sqlite3 "$T/vault.db" "UPDATE versions SET enabled = (SELECT enabled FROM saved), updated = (SELECT updated FROM saved), mac = (SELECT mac FROM saved); DROP TABLE saved"

	run daemon_start
	[ "$status" -ne 0 ]
	grep -q "rows do not add up to what it last committed" "$T/daemon.log"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"rows do not add up"* ]]
}

@test "a crash image whose WAL lost the frames of an advance is refused" {
	printf v1 | vctl secret set app/db
	daemon_start
	# writes through the daemon stay in its WAL while it runs
	printf v2 >"$T/mnt/app/db"
	cp "$T/vault.db" "$T/img.db"
	cp "$T/vault.db-wal" "$T/img.db-wal"
	daemon_stop
	# damage the WAL's first frame: it and every later commit (the start's advance among them)
	# are dropped when the image is opened
	printf '\xff\xff\xff\xff' | dd of="$T/img.db-wal" bs=1 seek=60 conv=notrunc status=none
	mv "$T/img.db" "$T/vault.db"
	mv "$T/img.db-wal" "$T/vault.db-wal"
	rm -f "$T/vault.db-shm"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"older than its TPM counter"* ]]
}

@test "a journal cut short with an older anchor written back is refused at open and by verify" {
	printf v1 | vctl secret set app/db
	restart
	sqlite3 "$T/vault.db" "SELECT hex(value) FROM meta WHERE key = 'audit.head'" >"$T/old-anchor"
	cp "$T/audit.jsonl" "$T/old-audit"
	daemon_start
	cat "$T/mnt/app/db" >/dev/null
	daemon_stop
	restart
	# the attacker cuts the tail (the reads of the last start) and writes the older anchor back
	cp "$T/old-audit" "$T/audit.jsonl"
	sqlite3 "$T/vault.db" "UPDATE meta SET value = X'$(cat "$T/old-anchor")' WHERE key = 'audit.head'"

	run daemon_start
	[ "$status" -ne 0 ]
	grep -q "older than the store's epoch: an old anchor written back" "$T/daemon.log"
	run vctl audit verify
	[ "$status" -eq 3 ]
	[[ $output == *"an older anchor was written back"* ]]
}

@test "the daemon advances the epoch at start and records it; the anchor names it" {
	daemon_start
	daemon_stop
	grep -q '"event":"epoch-advance".*"rule":"epoch [0-9]* (start)"' "$T/audit.jsonl"
	e=$(grep '"event":"epoch-advance"' "$T/audit.jsonl" | tail -1 | sed 's/.*"rule":"epoch \([0-9]*\).*/\1/')
	anchor=$(sqlite3 "$T/vault.db" "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'audit.head'")
	[[ $anchor == "v2 "*" $e "* ]]
	vctl audit verify
}
