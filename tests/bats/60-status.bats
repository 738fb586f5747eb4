#!/usr/bin/env bats
# vaultctl status and doctor against a real daemon, store, swtpm and journal: what they report,
# and each failing check with its advice.

load helpers

setup() {
	vault_setup
	mkdir -m 0700 "$T/policy.d"
	echo 'allow list,meta,write,delete,recover,purge,manage /** uid=0' >"$T/policy.d/00-default.policy"
	init_store --tpm-pcrs 16
	DAEMON=
}

teardown() {
	fake_journal_stop # first: a daemon held by it (an old build) stops only once it reads
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# A systemd journal of the test's own at its fixed socket, that reads nothing until
# $T/journal.drain exists, then reads all until $T/journal.stop does. FAKE_JOURNAL: its pid.
fake_journal_start() {
	mkdir -p /run/systemd/journal
	python3 - "$T/journal" <<-'EOF' &
	import os, socket, sys, time
	base = sys.argv[1]
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	try:
	    os.unlink("/run/systemd/journal/socket")
	except FileNotFoundError:
	    pass
	s.bind("/run/systemd/journal/socket")
	open(base + ".ready", "w").close()
	while not os.path.exists(base + ".drain"):
	    time.sleep(0.05)
	s.settimeout(0.05)
	n = 0
	while not os.path.exists(base + ".stop"):
	    try:
	        s.recv(65536)
	        n += 1
	    except socket.timeout:
	        pass
	open(base + ".read", "w").write("%d\n" % n)
	EOF
	FAKE_JOURNAL=$!
	for _ in $(seq 200); do [ -e "$T/journal.ready" ] && return 0; sleep 0.05; done
	return 1
}

fake_journal_stop() {
	[ -n "${FAKE_JOURNAL:-}" ] || return 0
	touch "$T/journal.drain" "$T/journal.stop"
	wait "$FAKE_JOURNAL" || true
	FAKE_JOURNAL=
	rm -f /run/systemd/journal/socket
	rmdir /run/systemd/journal 2>/dev/null || true
}

# Does a systemd journal run here (something bound at its socket)?
journal_live() {
	python3 -c 'import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).connect("/run/systemd/journal/socket")' \
		2>/dev/null
}

@test "status: daemon, mount, store, sealer, TPM, journal head and policy" {
	daemon_start
	run ctl status
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "daemon:  running, pid $DAEMON, since "*"; 1 policy rules in 1 files; "* ]]
	[ "${lines[1]}" = "mount:   $T/mnt (vaultfs, mounted)" ]
	[[ ${lines[2]} == "store:   $T/vault.db ("*" bytes, schema "*", initialised)" ]]
	[ "${lines[3]}" = "sealer:  tpm2, PCRs 16" ]
	[[ ${lines[4]} == "tpm:     tcti $TCTI; /dev/tpmrm0 "* ]]
	[[ ${lines[5]} == "audit:   $T/audit.jsonl, seq "*" at "* ]]
	[[ ${lines[6]} == "journal: "*" MiB free on its file system ("*" MiB kept for allowed records); 0 refusals counted, not written" ]]
	[ "${lines[7]}" = "policy:  $T/policy.d: 1 rules in 1 files" ]
	# the status request is recorded like any other
	run vctl audit show --event status
	[[ $output == *" status allow uid=0 "* ]]
}

@test "status without a daemon says so; a broken policy directory is shown" {
	echo 'allow bogus /x uid=0' >"$T/policy.d/10-bad.policy"
	run ctl status
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "daemon:  not reachable at $T/control.sock" ]
	[ "${lines[1]}" = "mount:   $T/mnt (not mounted)" ]
	[[ ${lines[6]} == "policy:  $T/policy.d: does not load: $T/policy.d/10-bad.policy:1:"* ]]
}

@test "doctor: all checks pass on a healthy setup (swap aside)" {
	daemon_start
	run ctl doctor
	echo "$output"
	[[ $output == *"[ok  ] vaultfsd answers at $T/control.sock"* ]]
	[[ $output == *"[ok  ] $T/mnt is a vaultfs mount"* ]]
	[[ $output == *"[ok  ] direct_io on every open"* ]]
	[[ $output == *"[ok  ] master key sealed to a TPM (sealer tpm2)"* ]]
	[[ $output == *"[ok  ] master key unseals here"* ]]
	[[ $output == *"[ok  ] sealed key bound to PCRs"* ]]
	[[ $output == *"[ok  ] memory can be locked"* ]]
	[[ $output == *"audit: intact"* ]]
	[[ $output == *"[ok  ] audit journal verifies"* ]]
	[[ $output == *"0 failed, "* ]]
	[ "$status" -eq 0 ]
}

@test "doctor: no daemon, TPM gone and a tampered journal each fail with advice" {
	daemon_start
	daemon_stop
	# a record changed in place: the chain breaks
	sed -i '2s/"event":"[a-z-]*"/"event":"forged"/' "$T/audit.jsonl"
	swtpm_stop "$T/tpm"
	run ctl doctor
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"[FAIL] vaultfsd answers at $T/control.sock"*"-> start it"* ]]
	[[ $output == *"[FAIL] $T/mnt is a vaultfs mount"* ]]
	[[ $output == *"[FAIL] master key unseals here: "*"-> the TPM does not answer"* ]]
	[[ $output == *"[FAIL] audit journal verifies"*"security incident"* ]]
	[[ $output == *" failed, "* ]]
}

@test "doctor: a key sealed without PCRs, or by a host key only, is a warning with advice" {
	rm -f "$T/vault.db"* "$T/audit.jsonl" "$T/recovery.key"
	init_store
	run ctl doctor
	echo "$output"
	[[ $output == *"[WARN] sealed key not bound to any PCR (it unseals whatever booted)"*"-> to bind it: [seal] pcrs = 7"* ]]
	rm -f "$T/vault.db"* "$T/audit.jsonl" "$T/recovery.key"
	sed -i 's/^sealer = tpm2$/sealer = host/' "$CONF"
	init_store
	run ctl doctor
	echo "$output"
	[[ $output == *"[WARN] master key not sealed to a TPM (sealer host)"*"-> sealed by a host key file only"* ]]
}

# Issue 18: doctor before init names the missing store, not a missing journal as an incident;
# status as a user who cannot read the policy directory shows what the daemon has loaded.
@test "doctor before init: no store yet, the journal not called an incident" {
	rm -f "$T/vault.db"* "$T/audit.jsonl" "$T/recovery.key"
	run ctl doctor
	echo "$output"
	[[ $output == *"[FAIL] store $T/vault.db opens"*"-> vaultctl init creates it"* ]]
	[[ $output == *"[WARN] audit journal not checked: there is no store yet"* ]]
	[[ $output != *"security incident"* ]]
}

@test "status as a user: the policy the daemon has loaded, not 'does not load'" {
	chmod 0711 "$T"
	chmod 0644 "$CONF"
	daemon_start
	run setpriv --reuid 1000 --regid 1000 --clear-groups "$VAULTCTL" -c "$CONF" status
	echo "$output"
	[[ $output == *"policy:  $T/policy.d: 1 rules in 1 files loaded by vaultfsd (the directory is root's: not read here)"* ]]
	[[ $output != *"does not load"* ]]
}

@test "a systemd journal that stops reading holds no open: status counts what it did not take; the log says so, and when it reads again" {
	! journal_live || skip "a systemd journal runs here: it is left alone"
	echo 'allow read /app/db uid=0' >"$T/policy.d/10-read.policy"
	vctl vault create app >/dev/null
	printf x | vctl secret set app/db >/dev/null
	fake_journal_start
	daemon_start
	# 300 opens: the journal's queue is full after a few; none waits for it (the old sender
	# waited for ever, and every open behind it)
	run timeout 60 sh -c 'for i in $(seq 300); do cat "$1" >/dev/null || exit 1; done' sh "$(M app/db)"
	[ "$status" -eq 0 ]
	for _ in $(seq 60); do
		grep -q "The systemd journal does not take the audit records" "$T/daemon.log" && break
		sleep 0.1
	done
	grep "systemd journal" "$T/daemon.log"
	[ "$(grep -c "The systemd journal does not take the audit records" "$T/daemon.log")" -eq 1 ]
	run ctl status
	echo "$output"
	[[ $output =~ journal:\ [0-9]+\ records\ not\ taken\ by\ the\ systemd\ journal ]]
	# it reads again: the next record is taken at once, and that is said
	touch "$T/journal.drain"
	sleep 0.3
	cat "$(M app/db)" >/dev/null
	for _ in $(seq 60); do
		grep -q "The systemd journal takes audit records again" "$T/daemon.log" && break
		sleep 0.1
	done
	grep -q "The systemd journal takes audit records again ([0-9]* not taken" "$T/daemon.log"
	# every open is in the audit file all the same
	[ "$(vctl audit show --event open | grep -c ' open allow app/db ')" -eq 301 ]
}
