#!/usr/bin/env bats
# Certificates served as files to real servers and clients, unmodified, on 127.0.0.1, every one
# of them reading from a live vaultfs mount: Debian's nginx (its master reads certificate and
# key as root, and the policy grants `read` to the nginx executable, not to root), `openssl
# s_server`/`s_client`/`verify`/`pkcs12`, and PostgreSQL 15 (ssl_cert_file/ssl_key_file, read by
# the postgres user's server). The PKI: a root CA and an intermediate in vault pki, made by
# `vaultctl cert ca`; a leaf app/web for localhost and 127.0.0.1 issued by the intermediate. After
# `vaultctl cert renew` through the daemon and a HUP, nginx and postgres serve the new serial;
# without the exe= rule nginx cannot start (its key refused and recorded).
# Servers are started by hand (tests/lib/servers.bash) in the test's dir and stopped by pid in
# teardown, before the mount goes. Each test has its own swtpm, store, journal and mount.

load helpers
load ../lib/servers

OPENSSL=$(readlink -f "$(command -v openssl)")

setup() {
	vault_setup
	chmod 0711 "$T" # the postgres user and nginx's workers reach below it
	mkdir -m 0700 "$T/policy.d"
	init_store >/dev/null
	vctl vault create pki
	vctl vault create app
	DAEMON=
	SSERVER=
}

teardown() {
	if [ -n "${SSERVER:-}" ]; then
		kill -TERM "$SSERVER" 2>/dev/null || true
		wait "$SSERVER" 2>/dev/null || true
	fi
	nginx_stop "$T/nginx"
	nginx_stop "$T/nginx2"
	pg_stop "$T/pg"
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# --- the PKI, through vaultctl (offline: before the daemon starts) ---

# pki: root CA pki/root (self-signed), intermediate pki/int under it, and leaf app/web (DNS
# localhost, IP 127.0.0.1, exportable key) from the intermediate
pki() {
	vctl cert ca create-root pki/root --subject "CN=vaultfs test root" --validity 30d >/dev/null
	vctl cert ca create-intermediate pki/int --issuer pki/root \
		--subject "CN=vaultfs test intermediate" --validity 20d >/dev/null
	vctl cert create app/web --issuer pki/int --subject CN=localhost --san dns:localhost \
		--san ip:127.0.0.1 --exportable --validity 10d >/dev/null
}

# policy [EXTRA LINES]: root sees everything public and may renew app/web (write on it, sign
# on the intermediate) but reads no private key; the servers' executables read app/web
policy() {
	cat >"$T/policy.d/10-test.policy" <<-EOF
	allow list,meta /pki/** uid=0
	allow list,meta /app/** uid=0
	allow list /pki uid=0
	allow list /app uid=0
	allow write /app/web uid=0
	allow sign /pki/int uid=0
	EOF
	cat >>"$T/policy.d/10-test.policy"
}

# root_pem: the root CA's certificate, from the mount (public: meta), at $T/root.pem
root_pem() {
	cat "$(M pki/root.crt)" >"$T/root.pem"
	chmod 0644 "$T/root.pem"
	openssl x509 -in "$T/root.pem" -noout -subject | grep -q 'vaultfs test root'
}

# serial_of FILE: the first certificate's serial (hex, as openssl prints it)
serial_of() {
	openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'
}

# served_serial PORT: the serial of the leaf a TLS server on 127.0.0.1:PORT presents
served_serial() {
	openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -serial | sed 's/^serial=//'
}

@test "nginx serves the vault's certificate and key; curl verifies localhost; renew + HUP serves the new serial" {
	need_nginx
	pki
	policy <<-EOF
	allow read,meta /app/web exe=$(readlink -f "$NGINX")
	EOF
	daemon_start
	root_pem
	# root is not nginx: the key is not root's to read, nor the one-file bundle
	run cat "$(M app/web.key)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	[[ $output != *PRIVATE* ]]
	run cat "$(M app/web.pem)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	[[ $output != *PRIVATE* ]]
	run cat "$(M app/web.p12)"
	[ "$status" -ne 0 ]
	# the public views are root's to read (meta)
	grep -q 'BEGIN CERTIFICATE' "$(M app/web.crt)"
	nginx_start "$T/nginx" "$(M app/web.crt)" "$(M app/web.key)"
	run curl -sS --cacert "$T/root.pem" "https://localhost:$NGINX_PORT/"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	# the same by IP: the SAN has 127.0.0.1
	run curl -sS --cacert "$T/root.pem" "https://127.0.0.1:$NGINX_PORT/"
	[ "$output" = ok ]
	# the chain sent is leaf + intermediate: verified against the root alone
	old=$(served_serial "$NGINX_PORT")
	[ "$old" = "$(serial_of "$(M app/web.crt)")" ]
	# the master read the files as nginx, and that is recorded; root's refusal too
	run vctl audit show --event open
	ngx="exe=$(readlink -f "$NGINX") "
	grep ' open allow app/web v1 ' <<<"$output" | grep -F "$ngx" | grep -q ' path=/app/web.key '
	grep ' open allow app/web v1 ' <<<"$output" | grep -F "$ngx" | grep -q ' path=/app/web.crt '
	grep ' open deny ' <<<"$output" | grep -F 'exe=/usr/bin/cat ' | grep -q ' path=/app/web.key '
	# renewal through the daemon, then a reload: the new version is served
	"$VAULTCTL" -c "$CONF" cert renew app/web >/dev/null
	new=$(serial_of "$(M app/web.crt)")
	[ -n "$new" ]
	[ "$new" != "$old" ]
	nginx_hup "$T/nginx"
	for _ in $(seq 100); do
		[ "$(served_serial "$NGINX_PORT")" = "$new" ] && break
		sleep 0.1
	done
	[ "$(served_serial "$NGINX_PORT")" = "$new" ]
	run curl -sS --cacert "$T/root.pem" "https://localhost:$NGINX_PORT/"
	[ "$output" = ok ]
	# the reload read version 2's key, as nginx
	run vctl audit show --event open
	grep ' open allow app/web v2 ' <<<"$output" | grep -F "$ngx" | grep -q ' path=/app/web.key '
	grep -q 'reconfiguring' "$T/nginx/error.log"
	[ "$(grep -c '\[emerg\]' "$T/nginx/error.log" || true)" -eq 0 ]
}

@test "nginx given the one .pem for both directives serves it; a key of another version is refused" {
	need_nginx
	pki
	policy <<-EOF
	allow read,meta /app/web exe=$(readlink -f "$NGINX")
	EOF
	daemon_start
	root_pem
	nginx_start "$T/nginx2" "$(M app/web.pem)" "$(M app/web.pem)"
	run curl -sS --cacert "$T/root.pem" "https://localhost:$NGINX_PORT/"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	[ "$(served_serial "$NGINX_PORT")" = "$(serial_of "$(M app/web.crt)")" ]
	# after a renewal, version 1's certificate with the current key: nginx says they differ
	"$VAULTCTL" -c "$CONF" cert renew app/web >/dev/null
	run nginx_start "$T/nginx" "$(M app/.versions/web/1.crt)" "$(M app/web.key)"
	[ "$status" -ne 0 ]
	[[ $output == *"key values mismatch"* ]]
	# and the .pem, one file, rotates as one: a reload serves version 2's pair
	nginx_hup "$T/nginx2"
	v2=$(serial_of "$(M app/.versions/web/2.crt)")
	for _ in $(seq 100); do
		[ "$(served_serial "$NGINX_PORT")" = "$v2" ] && break
		sleep 0.1
	done
	[ "$(served_serial "$NGINX_PORT")" = "$v2" ]
}

@test "openssl: s_server from the files, s_client -verify_return_error; verify of every leaf; pkcs12 -info" {
	pki
	# leaves of the other key types, from the same intermediate
	for t in rsa-2048 ec-p384 ed25519; do
		vctl cert create "app/$t" --issuer pki/int --subject "CN=$t.localhost" \
			--san "dns:$t.localhost" --type "$t" --exportable --validity 10d >/dev/null
	done
	policy <<-EOF
	allow read,meta /app/* exe=$OPENSSL
	EOF
	daemon_start
	root_pem
	port=$(free_port)
	openssl s_server -accept "127.0.0.1:$port" -www -cert "$(M app/web.crt)" \
		-key "$(M app/web.key)" -cert_chain "$(M app/web.chain.crt)" \
		>"$T/s_server.log" 2>&1 3>&- &
	SSERVER=$!
	wait_port "$port"
	run openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-verify_hostname localhost -verify_return_error -CAfile "$T/root.pem" </dev/null
	[ "$status" -eq 0 ]
	[[ $output == *"Verify return code: 0 (ok)"* ]]
	# the wrong root fails, so the check above is a check
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other \
		-keyout "$T/other.key" -out "$T/other.pem" -days 1 2>/dev/null
	run openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-verify_return_error -CAfile "$T/other.pem" </dev/null
	[ "$status" -ne 0 ]
	kill -TERM "$SSERVER"
	wait "$SSERVER" || true
	SSERVER=
	# two more versions: every issued leaf verifies with its own version's chain
	"$VAULTCTL" -c "$CONF" cert renew app/web >/dev/null
	"$VAULTCTL" -c "$CONF" cert renew app/web >/dev/null
	n=0
	for v in 1 2 3; do
		run openssl verify -CAfile "$T/root.pem" -untrusted "$(M "app/.versions/web/$v.chain.crt")" \
			"$(M "app/.versions/web/$v.crt")"
		[ "$status" -eq 0 ]
		n=$((n + 1))
	done
	[ "$n" -eq 3 ]
	openssl verify -CAfile "$T/root.pem" -untrusted "$(M app/web.chain.crt)" "$(M app/web.crt)"
	for t in rsa-2048 ec-p384 ed25519; do
		run openssl verify -CAfile "$T/root.pem" -untrusted "$(M "app/$t.chain.crt")" \
			"$(M "app/$t.crt")"
		[ "$status" -eq 0 ]
		# its .p12 opens, and holds the key of its leaf
		openssl pkcs12 -info -passin pass: -noout -in "$(M "app/$t.p12")"
		openssl pkcs12 -in "$(M "app/$t.p12")" -passin pass: -nodes -nocerts 2>/dev/null |
			openssl pkey -pubout >"$T/p12.pub"
		openssl x509 -in "$(M "app/$t.crt")" -noout -pubkey | cmp - "$T/p12.pub"
	done
	# an RSA leaf says so
	openssl x509 -in "$(M app/rsa-2048.crt)" -noout -text | grep -q 'rsaEncryption'
	openssl verify -CAfile "$T/root.pem" "$(M pki/int.crt)"
	# the chain file is intermediate then root; the .crt has no root
	[ "$(grep -c 'BEGIN CERTIFICATE' "$(M app/web.chain.crt)")" -eq 2 ]
	[ "$(grep -c 'BEGIN CERTIFICATE' "$(M app/web.crt)")" -eq 2 ]
	# the PKCS#12 opens with the empty password; its key is the leaf's
	run openssl pkcs12 -info -passin pass: -noout -in "$(M app/web.p12)"
	[ "$status" -eq 0 ]
	openssl pkcs12 -in "$(M app/web.p12)" -passin pass: -nodes -nocerts 2>/dev/null |
		openssl pkey -pubout >"$T/p12.pub"
	openssl x509 -in "$(M app/web.crt)" -noout -pubkey >"$T/crt.pub"
	cmp "$T/p12.pub" "$T/crt.pub"
	openssl pkey -in "$(M app/web.key)" -pubout | cmp - "$T/crt.pub"
	openssl pkcs12 -in "$(M app/web.p12)" -passin pass: -nokeys 2>/dev/null |
		openssl x509 -noout -serial | sed 's/^serial=//' >"$T/p12.serial"
	[ "$(cat "$T/p12.serial")" = "$(serial_of "$(M app/web.crt)")" ]
}

@test "PostgreSQL: ssl_cert_file/ssl_key_file in the vault; psql sslmode=verify-full connects; renew + HUP serves the new serial" {
	need_pg
	pki
	policy <<-EOF
	allow read,meta /app/web exe=$(readlink -f "$PG_BIN/postgres")
	EOF
	daemon_start
	root_pem
	# postgres checks the key file's owner and mode (its own, 0600 or less): it starts
	pg_start "$T/pg" ssl=on "ssl_cert_file=$(M app/web.crt)" "ssl_key_file=$(M app/web.key)"
	conn="host=localhost hostaddr=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
	run psql -X -At "$conn sslmode=verify-full sslrootcert=$T/root.pem" \
		-c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
	[ "$status" -eq 0 ]
	[ "$output" = t ]
	# the wrong root is refused by libpq, so the check above is a check
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other \
		-keyout "$T/other.key" -out "$T/other.pem" -days 1 2>/dev/null
	run psql -X -At "$conn sslmode=verify-full sslrootcert=$T/other.pem" -c 'SELECT 1'
	[ "$status" -ne 0 ]
	[[ $output == *"certificate verify failed"* ]]
	# the server's key stays the server's: root cannot read it
	run cat "$(M app/web.key)"
	[ "$status" -ne 0 ]
	# served in the STARTTLS of the protocol; after renew + reload, the new serial
	old=$(openssl s_client -starttls postgres -connect "127.0.0.1:$PG_PORT" </dev/null \
		2>/dev/null | openssl x509 -noout -serial | sed 's/^serial=//')
	[ "$old" = "$(serial_of "$(M app/web.crt)")" ]
	"$VAULTCTL" -c "$CONF" cert renew app/web >/dev/null
	new=$(serial_of "$(M app/web.crt)")
	[ "$new" != "$old" ]
	pg_hup "$T/pg"
	for _ in $(seq 100); do
		s=$(openssl s_client -starttls postgres -connect "127.0.0.1:$PG_PORT" </dev/null \
			2>/dev/null | openssl x509 -noout -serial | sed 's/^serial=//')
		[ "$s" = "$new" ] && break
		sleep 0.1
	done
	[ "$s" = "$new" ]
	run psql -X -At "$conn sslmode=verify-full sslrootcert=$T/root.pem" \
		-c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
	[ "$output" = t ]
}

# The README's recipe: PostgreSQL given the one .pem for both settings (key, leaf and
# intermediates of one version: a renewal between two separate reads cannot pair a key with
# another version's certificate).
@test "PostgreSQL on the one .pem: ssl_cert_file and ssl_key_file both the certificate's .pem" {
	need_pg
	pki
	policy <<-EOF
	allow read,meta /app/web exe=$(readlink -f "$PG_BIN/postgres")
	EOF
	daemon_start
	root_pem
	pg_start "$T/pg" ssl=on "ssl_cert_file=$(M app/web.pem)" "ssl_key_file=$(M app/web.pem)"
	conn="host=localhost hostaddr=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
	run psql -X -At "$conn sslmode=verify-full sslrootcert=$T/root.pem" \
		-c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
	[ "$status" -eq 0 ]
	[ "$output" = t ]
	"$VAULTCTL" -c "$CONF" cert renew app/web >/dev/null
	new=$(serial_of "$(M app/web.crt)")
	pg_hup "$T/pg"
	for _ in $(seq 100); do
		s=$(openssl s_client -starttls postgres -connect "127.0.0.1:$PG_PORT" </dev/null \
			2>/dev/null | openssl x509 -noout -serial | sed 's/^serial=//')
		[ "$s" = "$new" ] && break
		sleep 0.1
	done
	[ "$s" = "$new" ]
}

@test "without the exe= rule nginx cannot read the key: it does not start, and the refusal is recorded" {
	need_nginx
	pki
	# read for another program only; nginx keeps meta (it sees the name, not the bytes)
	policy <<-EOF
	allow meta /app/web exe=$(readlink -f "$NGINX")
	allow read /app/web exe=/usr/bin/true
	EOF
	daemon_start
	run nginx_start "$T/nginx" "$(M app/web.crt)" "$(M app/web.key)"
	[ "$status" -ne 0 ]
	[[ $output == *"web.key"* ]]
	[[ $output == *"Permission denied"* ]]
	run vctl audit show --event open
	grep ' open deny ' <<<"$output" | grep -F "exe=$(readlink -f "$NGINX") " |
		grep -q ' path=/app/web.key '
}
