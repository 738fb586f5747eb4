#!/usr/bin/env bats
# The `acme` issuer against Debian's pebble on loopback (tests/lib/pebble.sh, started once for the
# file), through the real daemon: `cert create --issuer acme` leaves a pending version (key + CSR
# in the store), the daemon's scan hands it to Debian's lego in CSR mode (http-01 on lego's own
# listener, where pebble validates) and merges what pebble issued: /vault/V/C.crt verifies with
# `openssl verify` against pebble's root and intermediate. The client is a wrapper that keeps a
# copy of what lego was given (argv, the files of its scratch directory) and runs lego: no file
# holds the certificate's key, the account key is a secret of the vault, the scratch directory is
# gone after. A renewal reuses the account; pebble stopped, the renewal fails, is shown by
# `cert show` with its backoff and recorded; pebble back, the next try (the daemon's clock moved
# past the backoff by libfaketime) issues. A client that hangs is killed at the time limit.
# Skipped, with the reason, only where pebble cannot start.

load helpers

. "$VAULTFS_TOP/tests/lib/pebble.sh"

setup_file() {
	export PEBBLE_SKIP=
	if ! pebble_start "$BATS_FILE_TMPDIR/pebble" 2>"$BATS_FILE_TMPDIR/pebble.err"; then
		PEBBLE_SKIP="$(head -c 300 "$BATS_FILE_TMPDIR/pebble.err")"
		PEBBLE_SKIP=${PEBBLE_SKIP:-pebble cannot start (no reason given)}
	fi
}

teardown_file() {
	pebble_stop "$BATS_FILE_TMPDIR/pebble"
}

setup() {
	[ -z "$PEBBLE_SKIP" ] || skip "$PEBBLE_SKIP"
	vault_setup
	chmod 0711 "$T"
	mkdir -m 0700 "$T/policy.d"
	init_store >/dev/null
	vctl vault create app
	cat >"$T/policy.d/10-test.policy" <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow read /app/web uid=0
	allow read /app/acme-account uid=0
	EOF
	# the client: lego, through a wrapper that keeps what it was given
	cat >"$T/lego-wrap" <<-EOF
	#!/bin/bash
	n=\$(ls "$T"/seen.* 2>/dev/null | wc -l)
	{ echo "cwd \$PWD"; printf 'arg %s\n' "\$@"; find . -type f | sort | sed 's/^/file /'; } \\
		>"$T/seen.\$n"
	cat \$(find . -type f) >"$T/seen-bytes.\$n" 2>/dev/null
	exec /usr/bin/lego "\$@"
	EOF
	chmod 0755 "$T/lego-wrap"
	cat >>"$CONF" <<-EOF
	[lifecycle]
	scan_interval = 1s
	[acme]
	client = $T/lego-wrap
	http = 127.0.0.1:$PEBBLE_HTTP_PORT
	ca_file = $PEBBLE_HTTPS_CA
	timeout = 60s
	EOF
	DAEMON=
	WWW=
}

teardown() {
	[ -z "${WWW:-}" ] || kill_tree "$WWW"
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# daemon_start_faked OFFSET: the daemon with its clock moved (libfaketime; lego is not faked: the
# daemon gives it an environment of its own)
daemon_start_faked() {
	mkdir -p "$T/mnt"
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		faketime -f "$1" "$VAULTFSD" -c "$CONF" >"$T/daemon.log" 2>&1 3>&- &
	DAEMON=$!
	for _ in $(seq 200); do
		grep -q " $T/mnt fuse" /proc/mounts && stat "$T/mnt" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

create_web() {
	ctl cert create app/web --issuer acme --acme-directory "$PEBBLE_DIRECTORY" \
		--acme-contact ops@web.test --san dns:web.test --exportable
}

# records NAME: how many journal records of event cert-issue-acme with that decision
records() {
	grep '"event":"cert-issue-acme"' "$T/audit.jsonl" | grep -c "\"decision\":\"$1\"" || true
}

# wait_records DECISION N: until the journal has N cert-issue-acme records of it (60 s)
wait_records() {
	for _ in $(seq 600); do
		[ "$(records "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "no $2 $1 cert-issue-acme record; daemon log:" >&2
	tail -n 20 "$T/daemon.log" >&2
	return 1
}

# verify FILE: the leaf of FILE (leaf + intermediates) verifies against pebble's root
verify() {
	openssl verify -CAfile "$PEBBLE_ROOT" -untrusted "$1" "$1"
}

@test "an ACME certificate: the daemon has lego get its CSR signed by pebble; the chain verifies" {
	daemon_start
	create_web
	wait_records allow 1
	[ "$(records deny)" -eq 0 ]
	# the mount serves what pebble issued, and it verifies against pebble's root
	run verify "$T/mnt/app/web.crt"
	[ "$status" -eq 0 ]
	[[ $output == *": OK" ]]
	openssl x509 -in "$T/mnt/app/web.crt" -noout -ext subjectAltName | grep -q "DNS:web.test"
	openssl x509 -in "$T/mnt/app/web.crt" -noout -issuer | grep -qi pebble
	[ "$(grep -c 'BEGIN CERTIFICATE' "$T/mnt/app/web.crt")" -eq 2 ] # leaf + intermediate
	# its key is the store's: the leaf matches /vault/app/web.key, which lego never saw
	[ "$(openssl x509 -in "$T/mnt/app/web.crt" -noout -pubkey)" = \
		"$(openssl pkey -in "$T/mnt/app/web.key" -pubout)" ]
	grep -q '^arg --csr$' "$T/seen.0"
	run grep -c 'PRIVATE KEY' "$T/seen-bytes.0" # no account key yet, and never the cert's
	[ "$output" = 0 ]
	key_body=$(grep -v -- '-----' "$T/mnt/app/web.key" | tr -d '\n')
	run grep -cF "${key_body:0:40}" <(tr -d '\n' <"$T/seen-bytes.0")
	[ "$output" = 0 ]
	# the scratch directory was in the daemon's runtime directory (the control socket's), 0700
	scratch=$(sed -n 's/^cwd //p' "$T/seen.0")
	[[ $scratch == "$T"/acme.* ]]
	[ ! -e "$scratch" ]
	[ -z "$(find "$T" -maxdepth 1 -name 'acme.*')" ]
	# the account key lego made is a secret of the vault, its making recorded
	ctl secret get app/acme-account | openssl pkey -noout
	grep '"event":"set"' "$T/audit.jsonl" | grep -q '"path":"/app/acme-account"'
	# recorded: allowed, the new version, the directory
	grep '"event":"cert-issue-acme"' "$T/audit.jsonl" | grep -q '"path":"/app/web"'
	grep '"event":"cert-issue-acme"' "$T/audit.jsonl" | grep -qF "issued by $PEBBLE_DIRECTORY"
	run ctl cert show app/web
	[ "$status" -eq 0 ]
	[[ $output != *FAILING* ]]
}

@test "a renewal reuses the vault's ACME account: lego gets its key, pebble makes no new account" {
	daemon_start
	create_web
	wait_records allow 1
	serial1=$(openssl x509 -in "$T/mnt/app/web.crt" -noout -serial)
	account1=$(ctl secret get app/acme-account | sha256sum)
	accounts=$(grep -c 'accounts in memory' "$PEBBLE_DIR/pebble.log" || true)
	ctl cert renew app/web
	wait_records allow 2
	serial2=$(openssl x509 -in "$T/mnt/app/web.crt" -noout -serial)
	[ "$serial1" != "$serial2" ]
	verify "$T/mnt/app/web.crt"
	# the same account key, given to lego in the scratch directory, and no new account
	[ "$(ctl secret get app/acme-account | sha256sum)" = "$account1" ]
	[ "$(ctl secret versions app/acme-account | grep -c .)" -le 2 ] # one version (+ header)
	grep -q '^file ./lego/accounts/127.0.0.1_.*/ops@web.test/keys/ops@web.test.key$' \
		"$T/seen.1"
	[ "$(grep -c 'BEGIN .*PRIVATE KEY' "$T/seen-bytes.1")" -eq 1 ] # that one, no other
	[ "$(grep -c 'accounts in memory' "$PEBBLE_DIR/pebble.log" || true)" -eq "$accounts" ]
	[ -z "$(find "$T" -maxdepth 1 -name 'acme.*')" ]
}

@test "pebble stopped: the renewal fails, shown with its backoff and recorded; pebble back, it issues" {
	command -v faketime >/dev/null || skip "faketime is not installed (make deps installs it)"
	daemon_start
	create_web
	wait_records allow 1
	serial1=$(openssl x509 -in "$T/mnt/app/web.crt" -noout -serial)
	pebble_stop "$PEBBLE_DIR"
	ctl cert renew app/web
	wait_records deny 1
	run ctl cert show app/web
	[ "$status" -eq 0 ]
	[[ $output == *"FAILING: 1 failed attempt"* ]]
	[[ $output == *next_try* ]]
	[[ $output == *"lego failed"* ]]
	grep '"event":"cert-issue-acme"' "$T/audit.jsonl" | grep '"decision":"deny"' |
		grep -q '"path":"/app/web"'
	grep -q "ACME issuance of /app/web .* failed" "$T/daemon.log"
	# the old version is still served
	[ "$(openssl x509 -in "$T/mnt/app/web.crt" -noout -serial)" = "$serial1" ]
	# backing off: no second try within the minute
	sleep 3
	[ "$(records deny)" -eq 1 ]
	[ -z "$(find "$T" -maxdepth 1 -name 'acme.*')" ]
	# pebble back (new roots); the daemon's clock past the backoff: the next try issues
	pebble_start "$PEBBLE_DIR"
	daemon_stop
	daemon_start_faked '+3m'
	wait_records allow 2
	[ "$(records deny)" -eq 1 ]
	[ "$(openssl x509 -in "$T/mnt/app/web.crt" -noout -serial)" != "$serial1" ]
	verify "$T/mnt/app/web.crt"
	run ctl cert show app/web
	[[ $output != *FAILING* ]]
}

@test "a client that does not finish is killed at the time limit, recorded, its scratch removed" {
	cat >"$T/lego-hang" <<-EOF
	#!/bin/bash
	echo \$\$ >"$T/hang.pid"
	exec sleep 600
	EOF
	chmod 0755 "$T/lego-hang"
	sed -i -e "s|^client = .*|client = $T/lego-hang|" -e 's/^timeout = .*/timeout = 2s/' "$CONF"
	daemon_start
	create_web
	wait_records deny 1
	run ctl cert show app/web
	[[ $output == *"did not finish in 2 s"* ]]
	pid=$(cat "$T/hang.pid")
	run kill -0 "$pid"
	[ "$status" -ne 0 ]
	[ -z "$(find "$T" -maxdepth 1 -name 'acme.*')" ]
}

@test "webroot mode: lego writes the challenge where the host's web server (another uid) serves it" {
	mkdir -m 0755 "$T/www"
	sed -i -e "s|^http = .*|http = $T/www|" "$CONF"
	# the web server: python's, as nobody, serving the webroot on the port pebble validates
	(cd "$T/www" && exec setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 \
		-m http.server "$PEBBLE_HTTP_PORT" --bind 127.0.0.1 >"$T/www.log" 2>&1 3>&-) &
	WWW=$!
	for _ in $(seq 50); do
		ss -Hltn "sport = :$PEBBLE_HTTP_PORT" | grep -q . && break
		sleep 0.1
	done
	daemon_start
	create_web
	wait_records allow 1
	kill_tree "$WWW"
	wait "$WWW" 2>/dev/null || true
	WWW=
	verify "$T/mnt/app/web.crt"
	grep -q '^arg --http.webroot$' "$T/seen.0"
	grep -q 'GET /.well-known/acme-challenge/.* 200 ' "$T/www.log"
}
