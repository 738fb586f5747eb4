#!/usr/bin/env bats
# The fleet's enrollment (issue 20) against one real PostgreSQL 15 (started by hand in the
# test's dir, tests/lib/servers.bash) and three stores on this machine, each with its own config
# and journal: a and b each with a software TPM of their own (their host keys made in it), c
# with --sealer host (a software host key sealed in its store). `vaultctl fleet` runs as root
# on each store and the center (--offline). a joins first (the anchor) and puts vault app in
# the fleet; b joins (checking the anchor), a approves it for app, and b opens app's key; c is
# approved for no vault and opens nothing, not even b's grant copied to it in SQL. A host's
# public key replaced in the center, a wrong anchor or fingerprint, and a removed host are
# refused. Network namespaces come with the daemon's sync (later).

load helpers
# shellcheck source=tests/lib/fleet-hosts.bash
. "$VAULTFS_TOP/tests/lib/fleet-hosts.bash"
load ../lib/servers

setup() {
	need_pg
	vault_setup
	chmod 0711 "$T" # the postgres user reaches below it
	pg_start "$T/pg"
	CONNINFO="host=$T/pg port=$PG_PORT dbname=postgres user=postgres"
	TCTI_A=$TCTI
	swtpm_start "$T/tpm2"
	TCTI_B=$SWTPM_TCTI
	host_init a "$TCTI_A" tpm2
	host_init b "$TCTI_B" tpm2
	host_init c "$TCTI_A" host
	on a vault create app
	on b vault create app
	on c vault create app
}

teardown() {
	pg_stop "$T/pg"
	[ -n "${KEEP:-}" ] || vault_teardown
}

sql() {
	"$PG_BIN/psql" "$CONNINFO" -v ON_ERROR_STOP=1 -Atqc "$1"
}

# join_all: a (the anchor, with vault app in the fleet), b approved for app, c approved alone
join_all() {
	FPR_A=$(on a fleet join 2>"$T/err") || { cat "$T/err" >&2; false; }
	[[ $FPR_A == SHA256:* ]]
	on a fleet approve a --vault app
	FPR_B=$(on b fleet join --anchor "$FPR_A" 2>"$T/err") || { cat "$T/err" >&2; false; }
	FPR_C=$(on c fleet join 2>"$T/err") || { cat "$T/err" >&2; false; }
	grep -q "the fleet's anchor is a $FPR_A (taken on first use" "$T/err"
}

@test "fleet: b joins, a approves it for app, b opens app's key; c, not approved for app, cannot" {
	join_all
	# b before its approval: in the fleet, waiting, no key
	run on b fleet status
	[ "$status" -eq 0 ]
	echo "$output" | grep -E '^host  b +waiting-approval +tpm '
	echo "$output" | grep -E '^vault app +epoch 1 +seq 0 +key not-granted$'
	run on a fleet approve b --vault app --fingerprint "$FPR_B"
	[ "$status" -eq 0 ]
	[[ $output == *"b: approved (tpm key $FPR_B)"* ]]
	[[ $output == *"b: granted vault app (key epoch 1)"* ]]
	run on b fleet status
	[ "$status" -eq 0 ]
	echo "$output" | grep -E '^host  a +anchor +tpm '
	echo "$output" | grep -E '^host  b +approved +tpm '
	echo "$output" | grep -E '^vault app +epoch 1 +seq 0 +key ok$'
	# c: approved, with a software key, but not for app
	on a fleet approve c --fingerprint "$FPR_C"
	run on c fleet status --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([h["key"] for h in d["hosts"] if h["name"]=="c"][0], d["vaults"][0]["key"])')" = "soft not-granted" ]
	# b's grant copied to c in SQL: signed for b's key, refused before any unwrap
	sql "INSERT INTO vaultfs.grants (vault, epoch, host, wrapped, granted_by, sig) SELECT vault, epoch, 'c', wrapped, granted_by, sig FROM vaultfs.grants WHERE host = 'b'"
	run on c fleet status
	[ "$status" -eq 0 ]
	echo "$output" | grep -E '^vault app +epoch 1 +seq 0 +key refused$'
	[[ $output == *"vault app: this host's key is refused: a signature or key does not verify"* ]]
	# a key of the attacker's own wrapped to c's public key (anyone can): the grant's signature
	# does not cover it, refused before it is unwrapped
	sql "SELECT encode(spki, 'hex') FROM vaultfs.hosts WHERE name = 'c'" | xxd -r -p >"$T/c.spki"
	head -c 32 /dev/urandom >"$T/evil.key"
	openssl pkeyutl -encrypt -pubin -keyform DER -inkey "$T/c.spki" -in "$T/evil.key" \
		-out "$T/evil.wrapped" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
		-pkeyopt rsa_mgf1_md:sha256
	sql "UPDATE vaultfs.grants SET wrapped = decode('$(xxd -p "$T/evil.wrapped" | tr -d '\n')', 'hex') WHERE host = 'c'"
	run on c fleet status
	[ "$status" -eq 0 ]
	echo "$output" | grep -E '^vault app +epoch 1 +seq 0 +key refused$'
	# c cannot grant app to anyone either
	run on c fleet approve c --vault app
	[ "$status" -eq 3 ]
	# every change is in the journal of the host that made it
	run on a audit show --event fleet-grant
	[[ $output == *b* ]]
	run on a audit show --event fleet-approve
	[[ $output == *c* ]]
	run on b audit show --event fleet-join
	[ "$status" -eq 0 ]
	[[ $output == *b* ]]
	# b's journal has the key it opened; c's the grants it refused
	run on b audit show --event fleet-key --decision allow
	[[ $output == *app* ]]
	run on c audit show --event fleet-key --decision deny
	[[ $output == *app* ]]
	[[ $output == *EBADMSG* || $output == *74* ]]
}

@test "fleet: a wrong anchor, a wrong fingerprint, a public key replaced in the center are refused" {
	# an anchor named to a center with no hosts: not there, refused (a would become one)
	run on a fleet join --anchor "SHA256:0000000000000000000000000000000000000000000000000000000000000000"
	[ "$status" -eq 3 ]
	[[ $output == *"the center has no hosts, so no anchor SHA256:0000"*": refused"* ]]
	[ "$(sql "SELECT count(*) FROM vaultfs.hosts")" = 0 ]
	FPR_A=$(on a fleet join 2>/dev/null)
	on a fleet approve a --vault app 2>/dev/null
	# b expects another anchor: refused, nothing registered
	run on b fleet join --anchor "SHA256:0000000000000000000000000000000000000000000000000000000000000000"
	[ "$status" -eq 3 ]
	[[ $output == *"the center's anchor (a) is $FPR_A"* ]]
	[ "$(sql "SELECT count(*) FROM vaultfs.hosts WHERE name = 'b'")" = 0 ]
	FPR_B=$(on b fleet join 2>/dev/null)
	FPR_C=$(on c fleet join 2>/dev/null)
	# the admin was told b's fingerprint; the center shows c's key under b's name
	SPKI_B=$(sql "SELECT encode(spki, 'hex') FROM vaultfs.hosts WHERE name = 'b'")
	sql "UPDATE vaultfs.hosts SET spki = (SELECT spki FROM vaultfs.hosts WHERE name = 'c') WHERE name = 'b'"
	run on a fleet approve b --vault app --fingerprint "$FPR_B"
	[ "$status" -eq 3 ]
	[[ $output == *"b: its key in the center is $FPR_C, not $FPR_B: refused"* ]]
	# without --fingerprint: refused, the center's word is not taken unless asked to
	run on a fleet approve b
	[ "$status" -eq 1 ]
	[[ $output == *"b: its key in the center is $FPR_C; the center could have put in a key of its own: give --fingerprint"* ]]
	[ "$(sql "SELECT approved_by FROM vaultfs.hosts WHERE name = 'b'")" = "" ]
	# approved anyway (--trust-center), then b's key put back: b's approval no longer holds
	on a fleet approve b --trust-center 2>/dev/null
	sql "UPDATE vaultfs.hosts SET spki = decode('$SPKI_B', 'hex') WHERE name = 'b'"
	run on b fleet status
	echo "$output" | grep -E '^host  b +untrusted '
	# and says why, on stderr and as the JSON row's why
	[[ $output == *"host b is untrusted: its approval does not verify up to the anchor"* ]]
	on b fleet status --json 2>/dev/null | python3 -c '
import json, sys
h = {e["name"]: e for e in json.load(sys.stdin)["hosts"]}
assert h["b"]["state"] == "untrusted", h["b"]
assert "does not verify" in h["b"]["why"], h["b"]
assert "why" not in h["a"], h["a"]'
	run on a fleet approve b --vault app
	[ "$status" -eq 3 ]
	[[ $output == *"b: its approval does not verify up to the anchor"* ]]
	[ "$(sql "SELECT count(*) FROM vaultfs.grants WHERE host = 'b'")" = 0 ]
}

@test "fleet: a removed host is revoked and loses its grants; the center away is said" {
	join_all
	on a fleet approve b --vault app --fingerprint "$FPR_B" 2>/dev/null
	on a fleet approve c --fingerprint "$FPR_C" 2>/dev/null
	[ "$(sql "SELECT count(*) FROM vaultfs.grants WHERE host = 'b'")" = 1 ]
	run on a fleet remove b
	[ "$status" -eq 0 ]
	[[ $output == *"b: removed (1 grants deleted)"* ]]
	# the removal rekeys app at once: b gets no new versions, with no second step
	[[ $output == *"vault app: rekeyed now, so that b gets no new versions"* ]]
	[[ $output == *"vault app: key epoch 2 granted to 1 hosts"* ]]
	[ "$(sql "SELECT epoch FROM vaultfs.vaults WHERE name = 'app'")" = 2 ]
	[ "$(sql "SELECT count(*) FROM vaultfs.grants WHERE host = 'b'")" = 0 ]
	run on a fleet status
	echo "$output" | grep -E '^host  b +removed +tpm '
	echo "$output" | grep -E '^vault app +epoch 2 +seq 2 +key ok$'
	# b no longer approves anyone
	run on b fleet approve c
	[ "$status" -eq 1 ]
	[[ $output == *"this host (b) does not count in the fleet: removed from the fleet"* ]]
	# the revocation cleared in SQL: a remembers the removal, b counts for nothing there
	sql "UPDATE vaultfs.hosts SET revoked_by = '', revoked_sig = '' WHERE name = 'b'"
	run on a fleet status
	echo "$output" | grep -E '^host  b +removed +tpm '
	run on a fleet approve b --vault app --fingerprint "$FPR_B"
	[ "$status" -eq 1 ]
	[[ $output == *"b: removed from the fleet"* ]]
	[ "$(sql "SELECT count(*) FROM vaultfs.grants WHERE host = 'b'")" = 0 ]
	# a bare grant row for b and for c (never approved for app) in SQL: the next rekey
	# grants neither the new key
	sql "INSERT INTO vaultfs.grants (vault, epoch, host, wrapped, granted_by, sig) SELECT vault, epoch, h, wrapped, granted_by, sig FROM vaultfs.grants, (VALUES ('b'), ('c')) AS x(h) WHERE host = 'a' AND epoch = 2"
	run on a fleet rekey app
	[ "$status" -eq 3 ]
	[[ $output == *"vault app: c's grant of key epoch 2 does not verify (put in the center?): not granted the new key"* ]]
	[[ $output == *"vault app: key epoch 3 granted to 1 hosts"* ]]
	[ "$(sql "SELECT count(*) FROM vaultfs.grants WHERE epoch = 3 AND host <> 'a'")" = 0 ]
	# c approved for app now, after two rekeys: granted every epoch, so it can check the
	# chain from seq 1 (each row under its own epoch's key)
	run on a fleet approve c --vault app
	[ "$status" -eq 0 ]
	[[ $output == *"c: granted vault app (key epoch 3, and each before it)"* ]]
	[ "$(sql "SELECT string_agg(epoch::text, ',' ORDER BY epoch) FROM vaultfs.grants WHERE host = 'c' AND vault = 'app'")" = "1,2,3" ]
	run on c fleet status
	echo "$output" | grep -E '^vault app +epoch 3 +seq 3 +key ok$'
	# the center stopped: said so, nothing else touched
	pg_stop "$T/pg"
	run on a fleet status
	[ "$status" -eq 1 ]
	[[ $output == *"the fleet's center (PostgreSQL) is away"* ]]
	[[ $output == *"[libpq: "* ]]
	run on a secret list app
	[ "$status" -eq 0 ]
}
