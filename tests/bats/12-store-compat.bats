#!/usr/bin/env bats
# A store written by the code before the store's split (tests/data/store-v1, its README says how
# it was made) opens and serves with this code: every version's value through the mount, the
# attributes in .meta, a soft-deleted secret recovers, a new version is written and survives a
# restart. The host sealer: no TPM. Run it with VAULTFS_BUILD of the old build too.

load helpers

FIX=$VAULTFS_TOP/tests/data/store-v1

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-test.XXXXXX")
	chmod 0711 "$T" # other uids reach the mount point below it; its files stay 0600
	cp "$FIX/vault.db" "$FIX/host.key" "$FIX/audit.jsonl" "$FIX/vaultfs.conf" "$T/"
	chmod 0600 "$T/vault.db" "$T/audit.jsonl"
	chmod 0400 "$T/host.key"
	mkdir -m 0700 "$T/policy.d"
	cat >"$T/policy.d/10-test.policy" <<-'POLICY'
	allow list /app uid=1000
	allow read,meta,write /app/* uid=1000
	POLICY
	CONF=$T/vaultfs.conf
	DAEMON=
}

teardown() {
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

@test "the old store opens offline: vaults, secrets, versions, the deleted one, the journal" {
	[ "$(vctl vault list)" = app ]
	[ "$(vctl secret list app | tr '\n' ' ')" = "bin db " ]
	run vctl secret list app --deleted
	[[ $output == "gone	version 1	deleted "* ]]
	[ "$(vctl secret get app/db)" = value-3 ]
	[ "$(vctl secret get app/db --version 2)" = value-2 ]
	run vctl secret get app/db --version 1
	[ "$status" -eq 1 ]
	[[ $output == *"disabled"* ]]
	vctl secret get app/bin >"$T/bin.out"
	cmp "$FIX/bin.value" "$T/bin.out"
	vctl audit verify
}

@test "the daemon serves every version of the old store, its attributes, a recovered secret, a new version" {
	# the soft-deleted secret recovers (before the daemon's first scan, which would purge it once
	# its 90 days of retention are past)
	vctl secret recover app/gone
	daemon_start
	[ "$(as 1000 cat "$(M app/db)")" = value-3 ]
	[ "$(as 1000 cat "$(M app/.versions/db/3)")" = value-3 ]
	[ "$(as 1000 cat "$(M app/.versions/db/2)")" = value-2 ]
	run as 1000 cat "$(M app/.versions/db/1)"
	[ "$status" -ne 0 ]
	[[ $output == *"Key has been revoked"* ]]
	as 1000 cat "$(M app/bin)" >"$T/bin.out"
	cmp "$FIX/bin.value" "$T/bin.out"
	[ "$(as 1000 cat "$(M app/gone)")" = gone-value ]
	as 1000 cat "$(M app/.meta/db)" >"$T/meta"
	grep -q '"current_version": 3' "$T/meta"
	grep -q '"enabled": false' "$T/meta"
	grep -q '"content_type": "text/plain"' "$T/meta"
	grep -q '"team": "pay"' "$T/meta"
	grep -q '"expires": "2999-01-01T00:00:00Z"' "$T/meta"
	grep -q '"content_type": "application/json"' "$T/meta"
	grep -q '"env": "dev"' "$T/meta"
	! grep -q value- "$T/meta" || false
	# the disabled version, enabled again, serves its value
	vctl secret update app/db --version 1 --enabled yes
	[ "$(as 1000 cat "$(M app/.versions/db/1)")" = value-1 ]
	# a new version through the mount, kept across a restart
	as 1000 sh -c "printf value-4 >$(M app/db)"
	[ "$(as 1000 cat "$(M app/db)")" = value-4 ]
	daemon_stop
	daemon_start
	[ "$(as 1000 cat "$(M app/db)")" = value-4 ]
	[ "$(as 1000 cat "$(M app/.versions/db/4)")" = value-4 ]
	[ "$(vctl secret get app/db --version 4)" = value-4 ]
	daemon_stop
	vctl audit verify
}
