#!/usr/bin/env bats
# Certificates through vaultctl, checked by the real OpenSSL CLI: a root CA, an intermediate under
# it and a leaf from the intermediate that `openssl verify` accepts from what `cert export` gives;
# imports of PEM bundles in the wrong order and of a .p12 made by `openssl pkcs12 -export`; an
# external CA (csr, `openssl x509 -req`, merge); renewal (a new serial; reuse_key keeps the
# SPKI); a key that is not exportable (its views refused, clearly); malformed inputs; and, through
# the daemon, refusals of another uid (setpriv), `sign` on the CA decided for whoever asks.

load helpers

setup() {
	vault_setup
	chmod 0711 "$T"
	mkdir -m 0700 "$T/policy.d"
	init_store >/dev/null
	vctl vault create app
	DAEMON=
}

teardown() {
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# the subject of the first certificate of a PEM file
subject_of() {
	openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'
}

serial_of() {
	vctl cert export "$1" | openssl x509 -noout -serial | sed 's/^serial=//'
}

# an OpenSSL CA: $T/o-root.{key,pem}, $T/o-inter.{key,pem}, a leaf $T/o-leaf.{key,pem}
openssl_ca() {
	cd "$T"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o-root.key \
		-out o-root.pem -subj /CN=O-Root -days 30 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign \
		2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o-inter.key \
		-out o-inter.csr -subj /CN=O-Inter 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=keyCertSign,cRLSign\n' \
		>ca.ext
	openssl x509 -req -in o-inter.csr -CA o-root.pem -CAkey o-root.key -days 20 \
		-extfile ca.ext -out o-inter.pem 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout o-leaf.key -out o-leaf.csr \
		-subj /CN=o-leaf.example 2>/dev/null
	openssl x509 -req -in o-leaf.csr -CA o-inter.pem -CAkey o-inter.key -days 10 \
		-out o-leaf.pem 2>/dev/null
	cd - >/dev/null
}

@test "a root, an intermediate and a leaf from it verify with openssl verify" {
	vctl cert ca create-root app/root --subject "CN=Test Root,O=Example"
	vctl cert ca create-intermediate app/inter --issuer app/root --subject "CN=Test Inter"
	vctl cert create app/leaf --issuer app/inter --subject CN=www.example \
		--san dns:www.example --san ip:127.0.0.1 --validity 90d --exportable
	vctl cert export app/root >"$T/root.pem"
	vctl cert export app/inter >"$T/inter.pem"
	vctl cert export app/leaf >"$T/leaf.pem"
	vctl cert export app/leaf --view chain >"$T/chain.pem"
	run openssl verify -CAfile "$T/root.pem" -untrusted "$T/inter.pem" "$T/leaf.pem"
	[ "$status" -eq 0 ]
	[[ $output == *": OK" ]]
	openssl verify -CAfile "$T/root.pem" -untrusted "$T/chain.pem" "$T/leaf.pem"
	# crt: leaf and intermediate, no root; chain: intermediate and root
	[ "$(grep -c 'BEGIN CERTIFICATE' "$T/leaf.pem")" -eq 2 ]
	[ "$(grep -c 'BEGIN CERTIFICATE' "$T/chain.pem")" -eq 2 ]
	[ "$(subject_of "$T/chain.pem")" = "CN=Test Inter" ]
	run openssl x509 -in "$T/leaf.pem" -noout -ext subjectAltName,basicConstraints
	[[ $output == *"DNS:www.example, IP Address:127.0.0.1"* ]]
	openssl x509 -in "$T/inter.pem" -noout -ext basicConstraints | grep -q "CA:TRUE, pathlen:0"
	# a serial of at least 64 bits
	s=$(serial_of app/leaf)
	[ "${#s}" -ge 16 ]
	# the key views of an exportable key: key, pem, p12
	vctl cert export app/leaf --view key >"$T/leaf.key"
	openssl pkey -in "$T/leaf.key" -noout
	[ "$(openssl pkey -in "$T/leaf.key" -pubout)" = \
		"$(openssl x509 -in "$T/leaf.pem" -noout -pubkey)" ]
	vctl cert export app/leaf --view p12 --file "$T/leaf.p12"
	[ "$(stat -c %a "$T/leaf.p12")" = 600 ]
	openssl pkcs12 -info -in "$T/leaf.p12" -passin pass: -noout
	# never written over
	run vctl cert export app/leaf --view p12 --file "$T/leaf.p12"
	[ "$status" -eq 1 ]
	[[ $output == *"never written over"* ]]
	run vctl cert show app/leaf
	[[ $output == *"source          vault-ca"* ]]
	[[ $output == *"issuer          app/inter"* ]]
	[[ $output == *"renew_at        80% of the lifetime"* ]]
	run vctl cert list app
	[[ ${lines[0]} == inter* && ${lines[1]} == leaf* && ${lines[2]} == root* ]]
	# a path length of 0 issues no CA below it
	run vctl cert ca create-intermediate app/sub --issuer app/inter --subject CN=Sub
	[ "$status" -eq 1 ]
	[[ $output == *"app/inter cannot issue this"* ]]
	# never a private key in the journal
	! grep -q PRIVATE "$T/audit.jsonl" || false
}

@test "import: a PEM with the chain in the wrong order, a .p12 from openssl pkcs12 -export" {
	openssl_ca
	# root first, the leaf last, the key in between: put in order, checked
	cat "$T/o-root.pem" "$T/o-leaf.key" "$T/o-inter.pem" "$T/o-leaf.pem" >"$T/bundle.pem"
	vctl cert import app/imp --file "$T/bundle.pem"
	vctl cert export app/imp >"$T/imp.pem"
	vctl cert export app/imp --view chain >"$T/imp-chain.pem"
	[ "$(subject_of "$T/imp.pem")" = "CN=o-leaf.example" ]
	[ "$(subject_of "$T/imp-chain.pem")" = "CN=O-Inter" ]
	openssl verify -CAfile "$T/o-root.pem" -untrusted "$T/imp-chain.pem" "$T/imp.pem"
	# imported without --exportable: no key view
	run vctl cert export app/imp --view key
	[ "$status" -eq 1 ]
	[[ $output == *"not exportable"* ]]
	# a .p12 under a password
	openssl pkcs12 -export -inkey "$T/o-leaf.key" -in "$T/o-leaf.pem" \
		-certfile <(cat "$T/o-inter.pem" "$T/o-root.pem") -passout pass:x -out "$T/l.p12"
	printf 'x\n' >"$T/pw"
	vctl cert import app/p12 --file "$T/l.p12" --password-file "$T/pw" --exportable
	vctl cert export app/p12 --view key | openssl pkey -noout
	[ "$(serial_of app/p12)" = "$(openssl x509 -in "$T/o-leaf.pem" -noout -serial | sed s/serial=//)" ]
	# the wrong password
	printf 'y' >"$T/pw2"
	run vctl cert import app/p12b --file "$T/l.p12" --password-file "$T/pw2"
	[ "$status" -eq 2 ]
	[[ $output == *"the PKCS#12 does not open with this password"* ]]
	# a chain that does not link: another root's certificate in the bundle
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/x.key" \
		-out "$T/x.pem" -subj /CN=Stranger -days 3 2>/dev/null
	cat "$T/o-leaf.key" "$T/o-leaf.pem" "$T/o-inter.pem" "$T/x.pem" >"$T/broken.pem"
	run vctl cert import app/broken --file "$T/broken.pem"
	[ "$status" -eq 2 ]
	[[ $output == *"do not form a chain"*"CN=Stranger"* ]]
	# a PEM that is not a certificate, a key of no certificate of the bundle
	run vctl cert import app/broken --file "$T/o-leaf.csr"
	[ "$status" -eq 2 ]
	[[ $output == *"not a PEM of one private key"* ]]
	cat "$T/x.key" "$T/o-leaf.pem" >"$T/mismatch.pem"
	run vctl cert import app/broken --file "$T/mismatch.pem"
	[ "$status" -eq 2 ]
	[[ $output == *"no certificate of the bundle is of its private key"* ]]
}

@test "external: csr, openssl x509 -req, merge" {
	openssl_ca
	vctl cert create app/ext --issuer external --subject CN=ext.example --san dns:ext.example
	run vctl cert show app/ext
	[[ $output == *"pending         true"* ]]
	vctl cert csr app/ext >"$T/ext.csr"
	openssl req -in "$T/ext.csr" -noout -verify
	openssl req -in "$T/ext.csr" -noout -text | grep -q "DNS:ext.example"
	# no certificate yet
	run vctl cert export app/ext
	[ "$status" -eq 1 ]
	openssl x509 -req -in "$T/ext.csr" -CA "$T/o-inter.pem" -CAkey "$T/o-inter.key" -days 5 \
		-copy_extensions copy -out "$T/ext.pem" 2>/dev/null
	# a chain of another key is refused
	run vctl cert merge app/ext --file "$T/o-leaf.pem"
	[ "$status" -eq 2 ]
	[[ $output == *"not of the pending version's key"* ]]
	# the CA's answer in any order
	cat "$T/o-root.pem" "$T/ext.pem" "$T/o-inter.pem" | vctl cert merge app/ext
	vctl cert export app/ext >"$T/e.pem"
	vctl cert export app/ext --view chain >"$T/e-chain.pem"
	openssl verify -CAfile "$T/o-root.pem" -untrusted "$T/e-chain.pem" "$T/e.pem"
	run vctl cert versions app/ext
	[[ ${lines[0]} == "1"$'\t'"pending"* ]]
	[[ ${lines[1]} == "2"$'\t'"issued"* ]]
	run vctl cert merge app/ext --file "$T/ext.pem"
	[ "$status" -eq 1 ]
	[[ $output == *"no pending version to merge into"* ]]
}

@test "renew gives a new serial; reuse_key keeps the SPKI; old versions stay" {
	vctl cert create app/a --subject CN=a --validity 3600
	s1=$(serial_of app/a)
	k1=$(vctl cert export app/a | openssl x509 -noout -pubkey)
	vctl cert renew app/a
	s2=$(serial_of app/a)
	k2=$(vctl cert export app/a | openssl x509 -noout -pubkey)
	[ "$s1" != "$s2" ]
	[ "$k1" != "$k2" ]
	[ "$(vctl cert export app/a --version 1 | openssl x509 -noout -serial | sed s/serial=//)" = "$s1" ]
	vctl cert create app/r --subject CN=r --reuse-key --type rsa-2048
	k1=$(vctl cert export app/r | openssl x509 -noout -pubkey)
	s1=$(serial_of app/r)
	vctl cert renew app/r
	[ "$(vctl cert export app/r | openssl x509 -noout -pubkey)" = "$k1" ]
	[ "$(serial_of app/r)" != "$s1" ]
	run vctl cert versions app/r
	[ "${#lines[@]}" -eq 2 ]
}

@test "a key that is not exportable: its views refused with a clear message" {
	vctl cert create app/n --subject CN=n
	vctl cert export app/n | openssl x509 -noout
	for v in key pem p12; do
		run vctl cert export app/n --view "$v"
		[ "$status" -eq 1 ]
		[[ $output == *"the certificate's private key is not exportable: it has no key, pem or p12 view (only crt and chain)"* ]]
	done
	# nor in its backup in clear
	vctl cert backup app/n --file "$T/n.bak"
	! grep -q "PRIVATE KEY" "$T/n.bak" || false
}

@test "malformed inputs get clear errors (exit 2)" {
	run vctl cert create app/x --subject CN=x --san dns:
	[ "$status" -eq 2 ]
	[[ $output == *'"sans"[0]: an empty dns name'* ]]
	run vctl cert create app/x --subject CN=x --san ip:10.0.0.300
	[ "$status" -eq 2 ]
	[[ $output == *'"10.0.0.300" is not an IPv4 or IPv6 address'* ]]
	run vctl cert create app/x --subject CN=x --san host:a
	[ "$status" -eq 2 ]
	[[ $output == *"--san: KIND:VALUE"* ]]
	run vctl cert create app/x --subject CN=x --key-usage digitalSignature,everything
	[ "$status" -eq 2 ]
	[[ $output == *"an unknown usage"* ]]
	run vctl cert create app/x --subject CN=x --validity 0
	[ "$status" -eq 2 ]
	[[ $output == *'"validity" must be 1 to'* ]]
	run vctl cert create app/x --subject CN=x --validity 101y
	[ "$status" -eq 2 ]
	run vctl cert create app/x --subject CN=x --validity soon
	[ "$status" -eq 2 ]
	[[ $output == *"a span such as 90d"* ]]
	run vctl cert create app/x --subject "XX=y"
	[ "$status" -eq 2 ]
	[[ $output == *"RFC 4514"* ]]
	printf 'not a chain\n' >"$T/junk"
	vctl cert create app/e --issuer external --subject CN=e
	run vctl cert merge app/e --file "$T/junk"
	[ "$status" -eq 2 ]
	[[ $output == *"not certificates in PEM or DER"* ]]
	# over the request's cap: refused before anything is read into the store
	head -c $((300 * 1024)) /dev/zero >"$T/big"
	run vctl cert import app/big --file "$T/big"
	[ "$status" -eq 2 ]
	[[ $output == *"larger than"* ]]
	run vctl cert show app/x
	[ "$status" -eq 1 ]
}

@test "through the daemon: another uid is refused (setpriv), sign on the CA decided for the asker" {
	cat >"$T/policy.d/10-test.policy" <<-'EOF'
	allow list,meta,read,write,delete,recover,purge,manage,sign /** uid=0
	allow meta,write /app/web uid=1000
	allow sign /app/ca uid=1000
	allow meta,write /app/web uid=1001
	EOF
	vctl cert ca create-root app/ca --subject CN=CA
	daemon_start
	# 1001 may write app/web but not have the CA sign
	run as 1001 "$VAULTCTL" -c "$CONF" cert create app/web --issuer app/ca --subject CN=web
	[ "$status" -eq 1 ]
	[[ $output == *"permission denied: the policy in $T/policy.d does not grant sign on /app/ca"* ]]
	as 1000 "$VAULTCTL" -c "$CONF" cert create app/web --issuer app/ca --subject CN=web \
		--exportable
	# meta gives crt; the key views are read's
	as 1000 "$VAULTCTL" -c "$CONF" cert export app/web | openssl x509 -noout
	run as 1000 "$VAULTCTL" -c "$CONF" cert export app/web --view key
	[ "$status" -eq 1 ]
	[[ $output == *"does not grant read on /app/web"* ]]
	# renew from the CA: sign decided for 1001 too
	run as 1001 "$VAULTCTL" -c "$CONF" cert renew app/web
	[ "$status" -eq 1 ]
	[[ $output == *"does not grant sign on /app/ca"* ]]
	as 1000 "$VAULTCTL" -c "$CONF" cert renew app/web
	# another name, another vault
	run as 1000 "$VAULTCTL" -c "$CONF" cert create app/other --subject CN=o
	[ "$status" -eq 1 ]
	[[ $output == *"does not grant write on /app/other"* ]]
	run as 1000 "$VAULTCTL" -c "$CONF" cert delete app/web
	[ "$status" -eq 1 ]
	run as 1000 "$VAULTCTL" -c "$CONF" cert backup app/web --file /tmp/never.bak
	[ "$status" -eq 1 ]
	[ ! -e /tmp/never.bak ]
	daemon_stop
	run vctl audit show --uid 1001
	[[ $output == *" cert-create deny "* ]]
	[[ $output == *" cert-renew deny "* ]]
	run vctl audit show --uid 1000
	[[ $output == *" cert-create allow "* ]]
	[[ $output == *" cert-export-key deny "* ]]
	vctl audit verify
}

@test "update-policy and get-policy: the next version is made by the policy changed" {
	vctl cert create app/p --subject CN=p --san dns:p.example --validity 30d
	run vctl cert get-policy app/p
	[[ $output == *"subject         CN=p"* ]]
	[[ $output == *"validity        30d"* ]]
	vctl cert update-policy app/p --subject CN=p2 --san dns:p2.example --renew-before 5d \
		--notify-before 7d
	run vctl cert get-policy app/p --json
	[[ $output == *'"subject": "CN=p2"'* ]]
	[[ $output == *'"renew_before": 432000'* ]]
	[[ $output == *'"notify_before": 604800'* ]]
	# the issued version keeps what it was made by; the renewal takes the new policy
	[ "$(vctl cert export app/p | openssl x509 -noout -subject -nameopt RFC2253)" = \
		"subject=CN=p" ]
	vctl cert renew app/p
	vctl cert export app/p | openssl x509 -noout -ext subjectAltName | grep -q "DNS:p2.example"
	[ "$(vctl cert export app/p | openssl x509 -noout -subject -nameopt RFC2253)" = \
		"subject=CN=p2" ]
	run vctl cert update-policy app/p --renew-before 30d
	[ "$status" -eq 2 ]
	[[ $output == *'"renew_before" must be shorter than "validity"'* ]]
	# ACME: a directory is needed, a CSR waits for the daemon's client
	run vctl cert create app/a --issuer acme --san dns:a.example
	[ "$status" -eq 2 ]
	[[ $output == *'needs "acme_directory"'* ]]
	vctl cert create app/a --issuer acme --acme-directory https://127.0.0.1:14000/dir \
		--acme-contact ops@example.org --san dns:a.example
	run vctl cert get-policy app/a
	[[ $output == *"acme_directory  https://127.0.0.1:14000/dir"* ]]
	[[ $output == *"acme_contact    ops@example.org"* ]]
	vctl cert csr app/a | openssl req -noout -verify
}

@test "a failing renewal: cert show and vaultctl status say so" {
	cat >"$T/policy.d/10-test.policy" <<-'EOF'
	allow list,meta,read,write,delete,recover,purge,manage,sign /** uid=0
	EOF
	cat >>"$CONF" <<-'CONF'
	[lifecycle]
	scan_interval = 1s
	CONF
	vctl cert ca create-root app/ca --subject CN=CA
	vctl cert create app/l --issuer app/ca --subject CN=l --validity 1h --renew-percent 1
	run vctl cert show app/l
	[[ $output == *"renewal         no attempt recorded"* ]]
	run vctl status
	[[ $output == *"certs:   no failing renewal"* ]]
	# its issuer gone: the renewal the policy asks for (at 36 s) cannot be made
	vctl cert delete app/ca
	mkdir -p "$T/mnt"
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		faketime -f '+5m' "$VAULTFSD" -c "$CONF" >"$T/daemon.log" 2>&1 3>&- &
	DAEMON=$!
	for _ in $(seq 300); do # 30 s: the first scan after a start under faketime, on a loaded CI
		grep -q '"event":"cert-renew"' "$T/audit.jsonl" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '"event":"cert-renew"' "$T/audit.jsonl"
	run "$VAULTCTL" -c "$CONF" status
	[[ $output == *"certs:   1 certificate whose renewal FAILED:"* ]]
	[[ $output == *"app/l: 1 failed attempt"* ]]
	daemon_stop
	run vctl cert show app/l
	[[ $output == *"renewal         FAILING: "*" failed attempt"* ]]
	[[ $output == *"next_try"* ]]
	[[ $output == *"last_error"* ]]
	run vctl status
	[[ $output == *"app/l: "*" failed attempt"* ]]
}

# The daemon renews on its own when the policy says: a leaf of an hour renewed at 1 % of its
# lifetime (36 s), the daemon's clock 5 minutes on (libfaketime; swtpm unaffected): a new
# version, recorded, served at the unversioned names; the old one stays readable.
@test "auto-renewal: the daemon renews when the policy says, the files follow, the old stays" {
	command -v faketime >/dev/null || skip "faketime is not installed (make deps installs it)"
	cat >"$T/policy.d/10-test.policy" <<-'EOF'
	allow list,meta,read,write,delete,recover,purge,manage,sign /** uid=0
	EOF
	cat >>"$CONF" <<-'CONF'
	[lifecycle]
	scan_interval = 1s
	CONF
	vctl cert ca create-root app/ca --subject CN=CA
	vctl cert create app/l --issuer app/ca --subject CN=l --validity 1h --renew-percent 1 \
		--exportable --reuse-key
	v1=$(vctl cert show app/l --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serial"])')
	mkdir -p "$T/mnt"
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		faketime -f '+5m' "$VAULTFSD" -c "$CONF" >"$T/daemon.log" 2>&1 3>&- &
	DAEMON=$!
	for _ in $(seq 100); do
		grep -q '"event":"cert-renew","decision":"allow"' "$T/audit.jsonl" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '"event":"cert-renew","decision":"allow"' "$T/audit.jsonl"
	grep -q '"rule":"certificate-policy","vault":"app","object":"l","version":2' "$T/audit.jsonl"
	for _ in $(seq 100); do
		grep -q " $T/mnt fuse" /proc/mounts && break
		sleep 0.05
	done
	s2=$(openssl x509 -noout -serial -in "$T/mnt/app/l.crt" | cut -d= -f2 | tr 'A-F' 'a-f')
	[ -n "$s2" ]
	[ "$s2" != "$(tr 'A-F' 'a-f' <<<"$v1")" ]
	[ "$(openssl x509 -noout -serial -in "$T/mnt/app/.versions/l/1.crt" | cut -d= -f2 |
		tr 'A-F' 'a-f')" = "$(tr 'A-F' 'a-f' <<<"$v1")" ]
	# reuse_key: the same key in both versions
	[ "$(openssl x509 -noout -pubkey -in "$T/mnt/app/.versions/l/1.crt")" = \
		"$(openssl x509 -noout -pubkey -in "$T/mnt/app/l.crt")" ]
	# made at the daemon's time, 5 minutes on
	openssl verify -attime $(($(date +%s) + 600)) -CAfile "$T/mnt/app/ca.crt" "$T/mnt/app/l.crt"
}
