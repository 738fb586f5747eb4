#!/usr/bin/env bats
# The sealed store through `vaultctl --offline`: init on a software TPM, values, versions,
# lifecycle, integrity of the database file, another TPM and recovery, bad input.

load helpers

setup() {
	vault_setup
}

teardown() {
	daemon_stop # the tests that start vaultfsd
	vault_teardown
}

@test "init on swtpm writes a recovery key and a 0600 store; a second init is refused" {
	run init_store
	[ "$status" -eq 0 ]
	[[ $output == *"Recovery key written"* ]]
	grep -Eq '^[0-9a-f]{8}(-[0-9a-f]{8}){7}$' "$T/recovery.key"
	[ "$(stat -c %a "$T/vault.db")" = 600 ]
	[ "$(stat -c %a "$T/recovery.key")" = 600 ]
	run init_store
	[ "$status" -eq 1 ]
	run "$VAULTCTL" -c "$CONF" init
	[ "$status" -eq 1 ]
	[[ $output == *"already initialised"* ]]
}

@test "init without a key file prints the recovery key once on stdout" {
	"$VAULTCTL" -c "$CONF" init >"$T/out" 2>"$T/err"
	grep -Eq '^[0-9a-f]{8}(-[0-9a-f]{8}){7}$' "$T/out"
	[ "$(wc -l <"$T/out")" -eq 1 ]
	grep -q "shown once" "$T/err"
}

@test "binary values round-trip exactly, up to the 1 MiB cap" {
	init_store
	vctl vault create app
	head -c 1048576 /dev/urandom >"$T/big"
	printf 'a\0b\nc\0' >"$T/nul"
	: >"$T/empty"
	vctl secret set app/big --file "$T/big"
	vctl secret set app/nul <"$T/nul"
	vctl secret set app/empty <"$T/empty"
	vctl secret get app/big >"$T/big.out"
	vctl secret get app/nul >"$T/nul.out"
	vctl secret get app/empty >"$T/empty.out"
	cmp "$T/big" "$T/big.out"
	cmp "$T/nul" "$T/nul.out"
	cmp "$T/empty" "$T/empty.out"
}

@test "a value over the cap is refused and nothing is written" {
	init_store
	vctl vault create app
	printf v1 | vctl secret set app/x
	head -c 1048577 /dev/zero >"$T/over"
	run vctl secret set app/x --file "$T/over"
	[ "$status" -eq 2 ]
	[[ $output == *"larger than 1048576 bytes"* ]]
	# and on standard input, read as it arrives
	run vctl secret set app/x <"$T/over"
	[ "$status" -eq 2 ]
	[[ $output == *"larger than 1048576 bytes"* ]]
	[ "$(vctl secret get app/x)" = v1 ]
	run vctl secret versions app/x --json
	[ "$(echo "$output" | grep -c '"version"')" -eq 1 ]
}

@test "versions are 1..n, each readable; the current one is the newest" {
	init_store
	vctl vault create app
	for i in 1 2 3 4; do printf "value-$i" | vctl secret set app/db; done
	for i in 1 2 3 4; do [ "$(vctl secret get app/db --version $i)" = "value-$i" ]; done
	[ "$(vctl secret get app/db)" = value-4 ]
	run vctl secret versions app/db --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '"version"')" -eq 4 ]
	run vctl secret get app/db --version 5
	[ "$status" -eq 1 ]
	[[ $output == *"not found"* ]]
}

@test "attributes are kept: content type, tags, dates" {
	init_store
	vctl vault create app
	printf x | vctl secret set app/db --content-type text/plain --tag env=prod --tag team=pay \
		--expires 2099-01-01T00:00:00Z --not-before 2001-01-01T00:00:00Z
	run vctl secret versions app/db --json
	[ "$status" -eq 0 ]
	[[ $output == *'"content_type": "text/plain"'* ]]
	[[ $output == *'"env": "prod"'* ]]
	[[ $output == *'"team": "pay"'* ]]
	[[ $output == *'"expires": "2099-01-01T00:00:00Z"'* ]]
	[[ $output == *'"not_before": "2001-01-01T00:00:00Z"'* ]]
	vctl secret update app/db --tag env=dev
	run vctl secret versions app/db --json
	[[ $output == *'"env": "dev"'* ]]
	[[ $output != *'"team"'* ]]
}

@test "disabled, expired and not-yet-valid versions refuse with distinct errors" {
	init_store
	vctl vault create app
	printf a | vctl secret set app/off --disabled
	printf b | vctl secret set app/old --expires 2000-01-01T00:00:00Z
	printf c | vctl secret set app/new --not-before +1d
	run vctl secret get app/off
	[ "$status" -eq 1 ]
	[[ $output == *"disabled"* ]]
	run vctl secret get app/old
	[ "$status" -eq 1 ]
	[[ $output == *"expired"* ]]
	run vctl secret get app/new
	[ "$status" -eq 1 ]
	[[ $output == *"not yet valid"* ]]
	vctl secret update app/off --enabled yes
	vctl secret update app/old --expires never
	vctl secret update app/new --not-before none
	[ "$(vctl secret get app/off)" = a ]
	[ "$(vctl secret get app/old)" = b ]
	[ "$(vctl secret get app/new)" = c ]
	# an old version can be disabled while the current one stays readable
	printf a2 | vctl secret set app/off
	vctl secret update app/off --version 1 --enabled no
	run vctl secret get app/off --version 1
	[[ $output == *"disabled"* ]]
	[ "$(vctl secret get app/off)" = a2 ]
	run vctl secret update app/off --expires 2001-01-01T00:00:00Z --not-before 2002-01-01T00:00:00Z
	[ "$status" -eq 2 ]
}

@test "soft delete, list --deleted, recover, purge; a re-created name never revives old versions" {
	init_store
	vctl vault create app
	printf one | vctl secret set app/db
	printf two | vctl secret set app/db
	vctl secret delete app/db
	run vctl secret get app/db
	[ "$status" -eq 1 ]
	[[ $output == *"not found"* ]]
	[ -z "$(vctl secret list app)" ]
	[[ "$(vctl secret list app --deleted)" == db*"purge after"* ]]
	run vctl secret set app/db <<<"x"
	[ "$status" -eq 1 ]
	[[ $output == *"already exists"* ]]
	vctl secret recover app/db
	[ "$(vctl secret get app/db)" = two ]
	run vctl secret purge app/db
	[ "$status" -eq 1 ]
	vctl secret delete app/db
	vctl secret purge app/db
	[ -z "$(vctl secret list app --deleted)" ]
	printf three | vctl secret set app/db
	[ "$(vctl secret get app/db)" = three ]
	run vctl secret get app/db --version 2
	[ "$status" -eq 1 ]
	run vctl secret versions app/db --json
	[ "$(echo "$output" | grep -c '"version"')" -eq 1 ]
}

@test "vaults: create, list, delete; a non-empty vault is not deleted" {
	init_store
	vctl vault create b
	vctl vault create a
	[ "$(vctl vault list | tr '\n' ' ')" = "a b " ]
	run vctl vault create a
	[ "$status" -eq 1 ]
	printf x | vctl secret set a/s
	run vctl vault delete a
	[ "$status" -eq 1 ]
	[[ $output == *"not empty"* ]]
	vctl vault delete b
	[ "$(vctl vault list | tr '\n' ' ')" = "a " ]
	run vctl secret set nosuch/s <<<"x"
	[ "$status" -eq 1 ]
}

@test "the database file holds no plaintext value" {
	init_store
	vctl vault create app
	marker="PLAINTEXT-MARKER-$RANDOM$RANDOM"
	printf '%s' "$marker" | vctl secret set app/db
	printf '%s' "$marker-2" | vctl secret set app/db
	[ "$(vctl secret get app/db)" = "$marker-2" ]
	! cat "$T"/vault.db* | grep -aq "PLAINTEXT-MARKER" || false
	! grep -aq "PLAINTEXT-MARKER" "$T/recovery.key" "$CONF" || false
}

@test "a ciphertext copied onto another row is refused as an integrity error" {
	init_store
	vctl vault create app
	printf aaa | vctl secret set app/a
	printf bbb | vctl secret set app/b
	sqlite3 "$T/vault.db" "UPDATE versions SET ciphertext = (SELECT ciphertext FROM versions
		WHERE object_id = (SELECT id FROM objects WHERE name = 'a'))
		WHERE object_id = (SELECT id FROM objects WHERE name = 'b');"
	run vctl secret get app/b
	[ "$status" -eq 3 ]
	[[ $output == *"integrity"* ]]
	[ "$(vctl secret get app/a)" = aaa ]
	# the data key too: b's wrapped key on a's row
	sqlite3 "$T/vault.db" "UPDATE versions SET wrapped_dek = (SELECT wrapped_dek FROM versions
		WHERE object_id = (SELECT id FROM objects WHERE name = 'b'))
		WHERE object_id = (SELECT id FROM objects WHERE name = 'a');"
	run vctl secret get app/a
	[ "$status" -eq 3 ]
}

@test "a flipped enabled flag is refused as an integrity error" {
	init_store
	vctl vault create app
	printf x | vctl secret set app/off --disabled
	sqlite3 "$T/vault.db" "UPDATE versions SET enabled = 1;"
	run vctl secret get app/off
	[ "$status" -eq 3 ]
	[[ $output == *"integrity"* ]]
}

@test "an edited expiry, a renamed secret and a revived deleted secret are refused" {
	init_store
	vctl vault create app
	printf x | vctl secret set app/old --expires 2000-01-01T00:00:00Z
	sqlite3 "$T/vault.db" "UPDATE versions SET expires = 0;"
	run vctl secret get app/old
	[ "$status" -eq 3 ]
	printf y | vctl secret set app/other
	sqlite3 "$T/vault.db" "UPDATE objects SET name = 'stolen' WHERE name = 'other';"
	run vctl secret get app/stolen
	[ "$status" -eq 3 ]
	printf z | vctl secret set app/gone
	vctl secret delete app/gone
	sqlite3 "$T/vault.db" "UPDATE objects SET deleted_at = 0 WHERE name = 'gone';"
	run vctl secret get app/gone
	[ "$status" -eq 3 ]
}

@test "a rolled-back current-version pointer is refused as an integrity error" {
	init_store
	vctl vault create app
	printf one | vctl secret set app/db
	printf two | vctl secret set app/db
	sqlite3 "$T/vault.db" "UPDATE objects SET current_version = 1 WHERE name = 'db';"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"integrity"* ]]
	# and a newest version row dropped behind our back
	printf three | vctl secret set app/x
	printf four | vctl secret set app/x
	sqlite3 "$T/vault.db" "DELETE FROM versions WHERE version = 2 AND object_id =
		(SELECT id FROM objects WHERE name = 'x');"
	run vctl secret get app/x
	[ "$status" -eq 3 ]
}

@test "another TPM cannot open the store; recover re-seals to it; a wrong key is refused" {
	init_store
	vctl vault create app
	printf secret-1 | vctl secret set app/db
	saved=$SWTPM_TCTI
	swtpm_start "$T/tpm2"
	write_config "$CONF" "$SWTPM_TCTI"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"does not open"* ]]
	# a wrong recovery key changes nothing
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/wrong.key"
	cp "$T/vault.db" "$T/before.db"
	run "$VAULTCTL" -c "$CONF" recover --recovery-key-file "$T/wrong.key"
	[ "$status" -eq 3 ]
	[[ $output == *"refused"* ]]
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	run "$VAULTCTL" -c "$CONF" recover --recovery-key-file "$T/recovery.key"
	[ "$status" -eq 0 ]
	[ "$(vctl secret get app/db)" = secret-1 ]
	# and the old TPM no longer opens it
	write_config "$CONF" "$saved"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
}

@test "TPM gone: a clear seal failure" {
	init_store
	swtpm_stop "$T/tpm"
	run vctl vault list
	[ "$status" -eq 3 ]
	[[ $output == *"TPM not reachable"* ]]
}

# Issue 18: init on a host without a TPM says what the choices are, not only that it failed.
@test "init without a TPM: the choices and what --sealer host gives up" {
	swtpm_stop "$T/tpm"
	run init_store
	[ "$status" -eq 3 ]
	[[ $output == *"TPM not reachable"* ]]
	[[ $output == *"no TPM answered at tcti '"* ]]
	[[ $output == *"--sealer host: the master key is sealed by a root-only key file"* ]]
	[[ $output == *"no TPM counter to refuse a store rolled back"* ]]
	[[ $output == *"swtpm socket --tpm2"* ]]
	[ ! -e "$T/recovery.key" ]
	# the choice it names works as said
	run init_store --sealer host
	[ "$status" -eq 0 ]
	[[ $output == *"WARNING: sealer 'host'"* ]]
}

@test "PCR binding: a changed PCR refuses the unseal" {
	command -v tpm2_pcrextend >/dev/null || skip "tpm2-tools not installed"
	init_store --tpm-pcrs 16
	vctl vault create app
	printf x | vctl secret set app/db
	[ "$(vctl secret get app/db)" = x ]
	TPM2TOOLS_TCTI=$TCTI tpm2_pcrextend \
		16:sha256=0000000000000000000000000000000000000000000000000000000000000001
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"PCR"* ]]
}

@test "host sealer: root-only key file; a readable or missing key file is refused" {
	run init_store --sealer host
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$T/host.key")" = 400 ]
	vctl vault create app
	printf x | vctl secret set app/db
	swtpm_stop "$T/tpm" # host sealer needs no TPM
	[ "$(vctl secret get app/db)" = x ]
	chmod 0644 "$T/host.key"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"root-only"* ]]
	chmod 0400 "$T/host.key"
	mv "$T/host.key" "$T/host.key.moved"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"host key file missing"* ]]
}

@test "tpm2+host sealer needs both the TPM and the host key" {
	init_store --sealer tpm2+host
	vctl vault create app
	printf x | vctl secret set app/db
	[ "$(vctl secret get app/db)" = x ]
	mv "$T/host.key" "$T/host.key.moved"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	mv "$T/host.key.moved" "$T/host.key"
	swtpm_stop "$T/tpm"
	run vctl secret get app/db
	[ "$status" -eq 3 ]
}

@test "keyring cache: used while the TPM is away, gone after its timeout" {
	init_store
	vctl vault create app
	printf cached | vctl secret set app/db
	sed -i 's/^\[seal\]$/[seal]\nkeyring_timeout = 2/' "$CONF"
	[ "$(vctl secret get app/db)" = cached ] # unseals and fills the cache
	swtpm_stop "$T/tpm"
	[ "$(vctl secret get app/db)" = cached ] # no TPM: only the cache can answer
	sleep 3
	run vctl secret get app/db
	[ "$status" -eq 3 ]
	[[ $output == *"TPM not reachable"* ]]
}

@test "bad names are refused with a usage error and change nothing" {
	init_store
	vctl vault create app
	long=$(printf 'a%.0s' $(seq 300))
	for ref in "app/.." "app/../x" "app/" "/x" "app" "app/a/b" "app/$long" "app/a$(printf '\001')b" \
		"app/.hidden" "app/-x" "../app/x"; do
		run vctl secret set "$ref" <<<"x"
		[ "$status" -eq 2 ]
		[[ $output == *"is not VAULT/NAME"* ]]
	done
	for name in ".." "" "$long" "a/b" ".x"; do
		run vctl vault create "$name"
		[ "$status" -eq 2 ]
	done
	[ "$(vctl vault list)" = app ]
	[ -z "$(vctl secret list app)" ]
}

@test "unknown flags and commands are usage errors" {
	init_store
	run vctl secret set app/x --bogus
	[ "$status" -eq 2 ]
	run vctl secret get app/x --file /etc/passwd
	[ "$status" -eq 2 ]
	run vctl frobnicate
	[ "$status" -eq 2 ]
	run "$VAULTCTL" --bogus
	[ "$status" -eq 2 ]
	run vctl secret get app/x --version 0
	[ "$status" -eq 2 ]
	run vctl secret set app/x --expires tomorrow
	[ "$status" -eq 2 ]
	run "$VAULTCTL" --help
	[ "$status" -eq 0 ]
	[[ $output == *"Exit status"* ]]
}

@test "an unreadable or malformed config is a clear error" {
	run "$VAULTCTL" -c "$T/nope.conf" --offline vault list
	[ "$status" -eq 2 ]
	[[ $output == *"nope.conf"* ]]
	run "$VAULTCTL" -c "$T" --offline vault list
	[ "$status" -eq 2 ]
	printf '[store]\npath = x\n[seal]\nsealr = tpm2\n' >"$T/typo.conf"
	run "$VAULTCTL" -c "$T/typo.conf" --offline vault list
	[ "$status" -eq 2 ]
	[[ $output == *"typo.conf:4: unknown key 'sealr'"* ]]
	printf '[nosuch]\n' >"$T/sec.conf"
	run "$VAULTCTL" -c "$T/sec.conf" --offline vault list
	[ "$status" -eq 2 ]
	[[ $output == *"sec.conf:1: unknown section"* ]]
}

@test "a corrupt database file is a clear error and is left as it was" {
	head -c 20000 /dev/urandom >"$T/vault.db"
	chmod 0600 "$T/vault.db"
	sum=$(sha256sum <"$T/vault.db")
	run vctl vault list
	[ "$status" -eq 3 ]
	[[ $output == *"not a vaultfs store, or corrupt"* ]]
	run init_store
	[ "$status" -ne 0 ]
	[ "$(sha256sum <"$T/vault.db")" = "$sum" ]
}

@test "without --offline vaultctl says it cannot reach the daemon" {
	init_store
	run "$VAULTCTL" -c "$CONF" vault list
	[ "$status" -eq 1 ]
	[[ $output == *"--offline"* ]]
}

@test "a store file others could read, or someone else's, is refused" {
	init_store
	chmod 0644 "$T/vault.db"
	run vctl vault list
	[ "$status" -eq 1 ]
	[[ $output == *"must be ours alone"* ]]
	chmod 0600 "$T/vault.db"
	chown 65534 "$T/vault.db"
	run vctl vault list
	[ "$status" -eq 1 ]
	chown 0 "$T/vault.db"
	vctl vault list
}

@test "a missing store is a clear error naming the file" {
	run vctl vault list
	[ "$status" -eq 1 ]
	[[ $output == *"cannot open store '$T/vault.db'"* ]]
}

@test "a store that is not a database, or is corrupt: the daemon's error has SQLite's own words" {
	head -c 20000 /dev/urandom >"$T/vault.db"
	chmod 0600 "$T/vault.db"
	mkdir -p "$T/mnt"
	run "$VAULTFSD" -c "$CONF"
	[ "$status" -ne 0 ]
	[[ $output == *"Failed to open the store '$T/vault.db'"* ]]
	[[ $output == *"[sqlite: file is not a database]"* ]]
	rm -f "$T/vault.db"
	init_store
	vctl vault create app
	printf x | vctl secret set app/db
	# the first page past its 100-byte header (the schema's b-tree) overwritten
	head -c 3996 /dev/urandom | dd of="$T/vault.db" bs=1 seek=100 conv=notrunc status=none
	run "$VAULTFSD" -c "$CONF"
	[ "$status" -ne 0 ]
	[[ $output == *"[sqlite: "*"malformed"*"]"* ]]
}

@test "a store removed under the running daemon: writes through the socket and the mount are refused, none acknowledged" {
	chmod 0711 "$T" # uid 1000 reaches the mount point below it
	mkdir -m 0700 "$T/policy.d"
	cat >"$T/policy.d/10-test.policy" <<-'POLICY'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow list /app uid=1000
	allow read,write /app/* uid=1000
	POLICY
	init_store
	vctl vault create app
	printf v1 | vctl secret set app/db
	daemon_start
	[ "$(as 1000 cat "$T/mnt/app/db")" = v1 ]
	rm "$T/vault.db"
	# through the control socket: refused, with the errno of a removed store (EIDRM)
	run "$VAULTCTL" -c "$CONF" secret set app/db <<<"v2"
	[ "$status" -ne 0 ]
	[[ $output == *"the store file was removed or replaced"* ]]
	# through the mount: close(2) fails, no version is made
	run as 1000 perl -e 'open(my $f, ">", $ARGV[0]) or die "open: $!\n";
		print $f "v3"; close($f) or die "close: $!\n"; print "closed\n"' "$T/mnt/app/db"
	[ "$status" -ne 0 ]
	[[ $output == *"close: "* ]]
	[[ $output != *"closed"* ]]
	# what is served is what the removed file holds: nothing was acknowledged
	[ "$(as 1000 cat "$T/mnt/app/db")" = v1 ]
}
