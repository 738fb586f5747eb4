#!/usr/bin/env bats
# Keys through vaultctl, checked by the real OpenSSL CLI (and ssh-keygen) on this machine: every
# type and algorithm signs what `openssl pkeyutl -verify` accepts against the public PEM of
# `key get-public`; what `openssl pkeyutl -encrypt` (OAEP, SHA-256) makes decrypts; the RFC 3394
# vector and OpenSSL's own RFC 5649 wrap; imports of openssl- and ssh-keygen-made keys; rotation
# (old signatures verify, old ciphertexts decrypt), an expired version that verifies but does
# not sign, a disabled one that does nothing, key_ops; refusals for a uid without the op through
# the daemon, recorded; a TPM key (swtpm) that signs and decrypts; malformed inputs.

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

# the digest openssl makes of $T/msg for an algorithm's hash (sha256/384/512)
digest() {
	openssl dgst -"$1" -binary "$T/msg" >"$T/dig"
}

# sign_check KEY ALG HASH: sign the digest and the data; openssl verifies both
sign_check() {
	local k=$1 alg=$2 h=$3 opts=()

	case $alg in
	RS*) opts=(-pkeyopt "digest:$h") ;;
	PS*) opts=(-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:auto -pkeyopt "digest:$h") ;;
	ES*) opts=(-pkeyopt "digest:$h") ;;
	esac
	digest "$h"
	local der=()
	[[ $alg == ES* ]] && der=(--der)
	vctl key sign "app/$k" --alg "$alg" "${der[@]}" --file "$T/dig" >"$T/sig"
	openssl pkeyutl -verify -pubin -inkey "$T/$k.pem" -in "$T/dig" -sigfile "$T/sig" "${opts[@]}"
	vctl key verify "app/$k" --alg "$alg" "${der[@]}" --signature "$T/sig" --file "$T/dig"
	# --data: the daemon hashes the message
	vctl key sign "app/$k" --alg "$alg" --data "${der[@]}" --file "$T/msg" >"$T/sig2"
	openssl pkeyutl -verify -pubin -inkey "$T/$k.pem" -in "$T/dig" -sigfile "$T/sig2" "${opts[@]}"
	vctl key verify "app/$k" --alg "$alg" --data "${der[@]}" --signature "$T/sig2" \
		--file "$T/msg"
	# JWS form without --der: r || s of the curve's size
	if [[ $alg == ES* ]]; then
		vctl key sign "app/$k" --alg "$alg" --file "$T/dig" >"$T/sig3"
		local half=0
		case $alg in ES256) half=32 ;; ES384) half=48 ;; ES512) half=66 ;; esac
		[ "$(stat -c %s "$T/sig3")" -eq $((2 * half)) ]
		vctl key verify "app/$k" --alg "$alg" --signature "$T/sig3" --file "$T/dig"
	fi
}

@test "every type and algorithm signs what openssl pkeyutl -verify accepts" {
	printf 'the message to sign\n' >"$T/msg"
	for spec in rsa-2048:RS256:sha256 rsa-2048:RS384:sha384 rsa-2048:RS512:sha512 \
		rsa-2048:PS256:sha256 rsa-2048:PS384:sha384 rsa-2048:PS512:sha512 \
		rsa-3072:RS256:sha256 rsa-3072:PS384:sha384 rsa-4096:RS512:sha512 \
		rsa-4096:PS256:sha256 ec-p256:ES256:sha256 ec-p384:ES384:sha384 \
		ec-p521:ES512:sha512; do
		IFS=: read -r type alg h <<<"$spec"
		k=${type}
		if [ ! -e "$T/$k.pem" ]; then
			vctl key create "app/$k" --type "$type"
			vctl key get-public "app/$k" >"$T/$k.pem"
			openssl pkey -pubin -in "$T/$k.pem" -noout
		fi
		sign_check "$k" "$alg" "$h" || { echo "failed: $spec"; false; }
	done
	# EdDSA signs the message itself
	vctl key create app/ed --type ed25519
	vctl key get-public app/ed >"$T/ed.pem"
	vctl key sign app/ed --alg EdDSA --file "$T/msg" >"$T/sig"
	[ "$(stat -c %s "$T/sig")" -eq 64 ]
	openssl pkeyutl -verify -pubin -inkey "$T/ed.pem" -rawin -in "$T/msg" -sigfile "$T/sig"
	vctl key verify app/ed --alg EdDSA --signature "$T/sig" --file "$T/msg"
	# a changed message does not verify: exit 1, said so
	printf 'another message\n' >"$T/msg2"
	run vctl key verify app/ed --alg EdDSA --signature "$T/sig" --file "$T/msg2"
	[ "$status" -eq 1 ]
	[[ $output == *"the signature does not verify"* ]]
	! openssl pkeyutl -verify -pubin -inkey "$T/ed.pem" -rawin -in "$T/msg2" \
		-sigfile "$T/sig" || false
	# every use recorded with its algorithm, never the data
	run vctl audit show --event sign-ps384
	[[ $output == *"sign-ps384 allow"* ]]
	run vctl audit show --event verify-eddsa
	[[ $output == *"verify-eddsa allow"* && $output == *"verify-eddsa deny"*EBADMSG* ]]
	! grep -q "the message to sign" "$T/audit.jsonl" || false
	vctl audit verify
}

@test "openssl pkeyutl -encrypt (OAEP SHA-256, and SHA-1) decrypts through vaultctl; AES-GCM, wrap" {
	vctl key create app/rsa --type rsa-2048
	vctl key get-public app/rsa >"$T/rsa.pem"
	printf 'a secret for the key' >"$T/pt"
	openssl pkeyutl -encrypt -pubin -inkey "$T/rsa.pem" -in "$T/pt" -out "$T/ct" \
		-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
	[ "$(vctl key decrypt app/rsa --alg RSA-OAEP-256 --file "$T/ct")" = "a secret for the key" ]
	# old data: OAEP with SHA-1, decrypt only
	openssl pkeyutl -encrypt -pubin -inkey "$T/rsa.pem" -in "$T/pt" -out "$T/ct1" \
		-pkeyopt rsa_padding_mode:oaep
	[ "$(vctl key decrypt app/rsa --alg RSA-OAEP --file "$T/ct1")" = "a secret for the key" ]
	run vctl key encrypt app/rsa --alg RSA-OAEP --file "$T/pt"
	[ "$status" -eq 2 ]
	[[ $output == *'"alg": not an algorithm "RSA-OAEP" for encrypt'* ]]
	# vaultctl's own encrypt: bare ciphertext on stdout, the version on stderr
	vctl key encrypt app/rsa --alg RSA-OAEP-256 --file "$T/pt" >"$T/ct2" 2>"$T/err"
	[ "$(cat "$T/err")" = "app/rsa: version 1, RSA-OAEP-256" ]
	[ "$(stat -c %s "$T/ct2")" -eq 256 ]
	[ "$(vctl key decrypt app/rsa --alg RSA-OAEP-256 --file "$T/ct2")" = "a secret for the key" ]
	run vctl key encrypt app/rsa --alg RSA-OAEP-256 --json --file "$T/pt"
	[[ $output == *'"version": 1'*'"alg": "RSA-OAEP-256"'*'"value": "'* ]]
	# AES-256-GCM with additional data
	vctl key create app/aes --type aes-256
	printf 'context' >"$T/aad"
	vctl key encrypt app/aes --alg A256GCM --aad "$T/aad" --file "$T/pt" >"$T/gcm"
	[ "$(stat -c %s "$T/gcm")" -eq $((20 + 28)) ]
	[ "$(vctl key decrypt app/aes --alg A256GCM --aad "$T/aad" --file "$T/gcm")" = \
		"a secret for the key" ]
	printf 'other' >"$T/aad2"
	run vctl key decrypt app/aes --alg A256GCM --aad "$T/aad2" --file "$T/gcm"
	[ "$status" -eq 3 ]
	[[ $output == *"does not decrypt under this key version with A256GCM"* ]]
	run vctl key get-public app/aes
	[ "$status" -eq 1 ]
	[[ $output == *"a aes-256 key has no public half"* ]]
	# RFC 3394 4.6: 256-bit key data under a 256-bit KEK, imported as a JWK
	printf '{"kty":"oct","k":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}' >"$T/kek.jwk"
	vctl key import app/kek --file "$T/kek.jwk"
	printf '00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F' | xxd -r -p \
		>"$T/kd"
	vctl key wrap app/kek --alg A256KW --file "$T/kd" >"$T/wrapped" 2>/dev/null
	[ "$(xxd -p "$T/wrapped" | tr -d '\n')" = \
		28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21 ]
	cmp "$T/kd" <(vctl key unwrap app/kek --alg A256KW --file "$T/wrapped")
	# RFC 5649 as OpenSSL makes it
	printf 'abc' >"$T/short"
	vctl key wrap app/kek --alg A256KWP --file "$T/short" >"$T/kwp" 2>/dev/null
	openssl enc -id-aes256-wrap-pad -iv A65959A6 -in "$T/short" -out "$T/kwp.ossl" \
		-K 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F
	cmp "$T/kwp" "$T/kwp.ossl"
	[ "$(vctl key unwrap app/kek --alg A256KWP --file "$T/kwp")" = abc ]
	# RSA-OAEP-256 wrap
	vctl key wrap app/rsa --alg RSA-OAEP-256 --file "$T/kd" >"$T/rw" 2>/dev/null
	cmp "$T/kd" <(vctl key unwrap app/rsa --alg RSA-OAEP-256 --file "$T/rw")
}

@test "rotation: old signatures verify and old ciphertexts decrypt; expired and disabled versions" {
	printf 'msg' >"$T/msg"
	digest sha256
	vctl key create app/ec --type ec-p256
	vctl key create app/rsa --type rsa-2048
	vctl key get-public app/ec >"$T/ec1.pem"
	vctl key get-public app/rsa >"$T/rsa1.pem"
	vctl key sign app/ec --alg ES256 --der --file "$T/dig" >"$T/sig1"
	printf 'old data' >"$T/pt"
	openssl pkeyutl -encrypt -pubin -inkey "$T/rsa1.pem" -in "$T/pt" -out "$T/ct1" \
		-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
	vctl key rotate app/ec 2>"$T/err"
	[ "$(cat "$T/err")" = "app/ec: version 2" ]
	vctl key rotate app/rsa
	vctl key get-public app/ec >"$T/ec2.pem"
	! cmp -s "$T/ec1.pem" "$T/ec2.pem" || false
	cmp "$T/ec1.pem" <(vctl key get-public app/ec --version 1)
	# the new version signs; the old signature verifies with the version it names
	vctl key sign app/ec --alg ES256 --der --file "$T/dig" >"$T/sig2"
	openssl pkeyutl -verify -pubin -inkey "$T/ec2.pem" -in "$T/dig" -sigfile "$T/sig2"
	vctl key verify app/ec --alg ES256 --der --version 1 --signature "$T/sig1" --file "$T/dig"
	run vctl key verify app/ec --alg ES256 --der --signature "$T/sig1" --file "$T/dig"
	[ "$status" -eq 1 ]
	# old ciphertext: decrypts with --version 1, not with the current version
	[ "$(vctl key decrypt app/rsa --alg RSA-OAEP-256 --version 1 --file "$T/ct1")" = "old data" ]
	run vctl key decrypt app/rsa --alg RSA-OAEP-256 --file "$T/ct1"
	[ "$status" -eq 3 ]
	[[ $output == *'give "version"'* ]]
	# encrypt names the current version
	vctl key encrypt app/rsa --alg RSA-OAEP-256 --file "$T/pt" >/dev/null 2>"$T/err"
	[ "$(cat "$T/err")" = "app/rsa: version 2, RSA-OAEP-256" ]

	# an expired version: refuses to sign, still verifies and decrypts
	vctl key update app/ec --version 2 --expires -1d
	vctl key update app/rsa --version 2 --expires -1d
	run vctl key sign app/ec --alg ES256 --file "$T/dig"
	[ "$status" -eq 1 ]
	[[ $output == *"expired"*"does not sign"* ]]
	vctl key verify app/ec --alg ES256 --der --signature "$T/sig2" --file "$T/dig"
	run vctl key encrypt app/rsa --alg RSA-OAEP-256 --file "$T/pt"
	[ "$status" -eq 1 ]
	openssl pkeyutl -encrypt -pubin -inkey <(vctl key get-public app/rsa) -in "$T/pt" \
		-out "$T/ct2" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
	[ "$(vctl key decrypt app/rsa --alg RSA-OAEP-256 --file "$T/ct2")" = "old data" ]
	# the expired version 2 still signs when asked for version 1 (not expired)
	vctl key sign app/ec --alg ES256 --version 1 --der --file "$T/dig" >"$T/sig1b"
	openssl pkeyutl -verify -pubin -inkey "$T/ec1.pem" -in "$T/dig" -sigfile "$T/sig1b"
	# a disabled version does nothing
	vctl key update app/ec --version 1 --enabled no
	vctl key update app/rsa --version 1 --enabled no
	run vctl key sign app/ec --alg ES256 --version 1 --file "$T/dig"
	[ "$status" -eq 1 ]
	run vctl key verify app/ec --alg ES256 --der --version 1 --signature "$T/sig1" --file "$T/dig"
	[ "$status" -eq 1 ]
	[[ $output == *"disabled"* ]]
	run vctl key decrypt app/rsa --alg RSA-OAEP-256 --version 1 --file "$T/ct1"
	[ "$status" -eq 1 ]
	[[ $output == *"disabled"* ]]
	# the records name version and algorithm of each use
	run vctl audit show --event sign-es256 --decision deny
	[[ $output == *"EKEYEXPIRED"* && $output == *"EKEYREVOKED"* ]]
	grep -q '"event":"decrypt-rsa-oaep-256","decision":"allow","errno":null,.*"object":"rsa","version":1,' \
		"$T/audit.jsonl"
}

@test "key_ops restrict what a key does; wrong algorithms and lengths are refused clearly" {
	vctl key create app/rsa --type rsa-2048 --ops sign,verify
	[[ $(vctl key show app/rsa) == *"key_ops         sign,verify"* ]]
	printf 'x' >"$T/pt"
	run vctl key encrypt app/rsa --alg RSA-OAEP-256 --file "$T/pt"
	[ "$status" -eq 1 ]
	[[ $output == *"the key's key_ops do not allow encrypt"* ]]
	grep -q '"event":"encrypt-rsa-oaep-256","decision":"deny","errno":"EPERM"' "$T/audit.jsonl"
	run vctl key create app/ec --type ec-p256 --ops sign,decrypt
	[ "$status" -eq 2 ]
	[[ $output == *'"ops": a ec-p256 key can only sign,verify'* ]]
	vctl key create app/ec --type ec-p256
	head -c 31 /dev/zero >"$T/short"
	run vctl key sign app/ec --alg ES256 --file "$T/short"
	[ "$status" -eq 2 ]
	[[ $output == *"a ES256 digest is 32 bytes, not 31"* ]]
	head -c 32 /dev/zero >"$T/d32"
	run vctl key sign app/ec --alg RS256 --file "$T/d32"
	[ "$status" -eq 1 ]
	[[ $output == *"RS256 cannot sign with a ec-p256 key"* ]]
	run vctl key sign app/ec --alg XS256 --file "$T/d32"
	[ "$status" -eq 2 ]
	[[ $output == *'"alg": unknown algorithm "XS256"'* ]]
	run vctl key create app/x --type rsa-1024
	[ "$status" -eq 2 ]
	run vctl key create app/t --type ed25519 --protection tpm
	[ "$status" -eq 1 ]
	[[ $output == *"a TPM key is RSA 2048/3072 or EC P-256/P-384, not ed25519"* ]]
	# create on an existing key adds a version (as in Azure Key Vault); a key and a secret share
	# the vault's names
	vctl key create app/ec --type ec-p256 2>"$T/err"
	[ "$(cat "$T/err")" = "app/ec: version 2" ]
	printf 'v' | vctl secret set app/s
	run vctl key create app/s --type ec-p256
	[ "$status" -eq 1 ]
	# backup and restore; a secret's blob is not a key's
	vctl key backup app/ec --file "$T/ec.bak"
	vctl key get-public app/ec >"$T/ec.pem"
	vctl key delete app/ec
	[[ $(vctl key list app --deleted) == "ec"$'\t'"version 2"*"purge after"* ]]
	vctl key purge app/ec
	vctl key restore app --file "$T/ec.bak"
	cmp "$T/ec.pem" <(vctl key get-public app/ec)
	vctl secret backup app/s --file "$T/s.bak"
	run vctl key restore app --file "$T/s.bak"
	[ "$status" -eq 1 ]
	[[ $output == *"a backup of a secret, not of a key"* ]]
	[ "$(vctl key list app)" = "ec"$'\t'"version 2"$'\n'"rsa"$'\t'"version 1" ]
}

@test "imported keys: openssl PEM (PKCS#1, SEC1, PKCS#8) and ssh-keygen's OpenSSH format" {
	printf 'msg' >"$T/msg"
	digest sha256
	openssl genrsa -traditional -out "$T/rsa1.key" 2048 2>/dev/null
	grep -q "BEGIN RSA PRIVATE KEY" "$T/rsa1.key"
	openssl ecparam -name prime256v1 -genkey -noout -out "$T/sec1.key"
	openssl genpkey -algorithm ed25519 -out "$T/ed.key"
	for k in rsa1 sec1 ed; do
		vctl key import "app/$k" --file "$T/$k.key"
		openssl pkey -in "$T/$k.key" -pubout -out "$T/$k.pub"
		cmp "$T/$k.pub" <(vctl key get-public "app/$k")
	done
	vctl key sign app/rsa1 --alg PS256 --file "$T/dig" >"$T/sig"
	openssl pkeyutl -verify -pubin -inkey "$T/rsa1.pub" -in "$T/dig" -sigfile "$T/sig" \
		-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:auto -pkeyopt digest:sha256
	vctl key sign app/sec1 --alg ES256 --der --file "$T/dig" >"$T/sig"
	openssl pkeyutl -verify -pubin -inkey "$T/sec1.pub" -in "$T/dig" -sigfile "$T/sig"
	# ssh-keygen: OpenSSH private key format, and the .pub line back from get-public
	ssh-keygen -q -t ed25519 -N '' -C '' -f "$T/id_ed25519"
	vctl key import app/sshkey --ops sign,verify --file "$T/id_ed25519"
	[ "$(vctl key get-public app/sshkey --format ssh | cut -d' ' -f1,2)" = \
		"$(cut -d' ' -f1,2 "$T/id_ed25519.pub")" ]
	ssh-keygen -q -t ecdsa -b 384 -N '' -C '' -f "$T/id_ecdsa"
	vctl key import app/sshec --file "$T/id_ecdsa"
	[ "$(vctl key get-public app/sshec --format ssh | cut -d' ' -f1,2)" = \
		"$(cut -d' ' -f1,2 "$T/id_ecdsa.pub")" ]
	[[ $(vctl key show app/sshec) == *"type            ec-p384"* ]]
	# an encrypted key is refused with what to do
	ssh-keygen -q -t ed25519 -N 'pass phrase' -f "$T/id_enc"
	run vctl key import app/enc --file "$T/id_enc"
	[ "$status" -eq 3 ]
	[[ $output == *"encrypted under a passphrase"* ]]
	run vctl key import app/junk --file "$T/msg"
	[ "$status" -eq 2 ]
	[[ $output == *"not a private key vaultfs can import"* ]]
	# never in the journal
	! grep -q "PRIVATE" "$T/audit.jsonl" || false
}

@test "through the daemon: a uid without the op is refused (exit 1) and recorded" {
	cat >"$T/policy.d/10-test.policy" <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow meta,sign /app/k uid=1000
	EOF
	vctl key create app/k --type rsa-2048
	daemon_start
	printf 'm' >"$T/msg"
	chmod 0644 "$T/msg"
	digest sha256
	chmod 0644 "$T/dig"
	as 1000 "$VAULTCTL" -c "$CONF" key get-public app/k >"$T/k.pem"
	as 1000 "$VAULTCTL" -c "$CONF" key sign app/k --alg RS256 --file "$T/dig" >"$T/sig"
	openssl pkeyutl -verify -pubin -inkey "$T/k.pem" -in "$T/dig" -sigfile "$T/sig" \
		-pkeyopt digest:sha256
	chmod 0644 "$T/sig"
	run as 1000 "$VAULTCTL" -c "$CONF" key verify app/k --alg RS256 --signature "$T/sig" \
		--file "$T/dig"
	[ "$status" -eq 1 ]
	[[ $output == *"permission denied: the policy in $T/policy.d does not grant verify on /app/k"* ]]
	printf 'x' | vctl key encrypt app/k --alg RSA-OAEP-256 >"$T/ct" 2>/dev/null
	chmod 0644 "$T/ct"
	run as 1000 "$VAULTCTL" -c "$CONF" key decrypt app/k --alg RSA-OAEP-256 --file "$T/ct"
	[ "$status" -eq 1 ]
	[[ $output == *"does not grant decrypt on /app/k"* ]]
	run as 1000 "$VAULTCTL" -c "$CONF" key rotate app/k
	[ "$status" -eq 1 ]
	run as 1000 "$VAULTCTL" -c "$CONF" key sign app/other --alg RS256 --file "$T/dig"
	[ "$status" -eq 1 ]
	# root holds no sign in this policy
	run "$VAULTCTL" -c "$CONF" key sign app/k --alg RS256 --file "$T/dig"
	[ "$status" -eq 1 ]
	daemon_stop
	run vctl audit show --uid 1000
	[[ $output == *" sign-rs256 allow "* ]]
	[[ $output == *" verify-rs256 deny "* ]]
	[[ $output == *" decrypt-rsa-oaep-256 deny "* ]]
	[[ $output == *" key-rotate deny "* ]]
	vctl audit verify
}

@test "a TPM key (swtpm) signs and decrypts with what openssl checks and makes" {
	run vctl key create app/t --type rsa-2048 --protection tpm
	if [ "$status" -ne 0 ] && [[ $output == *"TPM"* || $output == *"no device"* ]]; then
		skip "the carrier passes no [seal] tcti to key requests (request_env.tcti): $output"
	fi
	[ "$status" -eq 0 ]
	vctl key create app/te --type ec-p256 --protection tpm
	[[ $(vctl key show app/t) == *"protection      tpm"* ]]
	printf 'msg' >"$T/msg"
	digest sha256
	vctl key get-public app/t >"$T/t.pem"
	vctl key get-public app/te >"$T/te.pem"
	for alg in RS256 PS256; do
		vctl key sign app/t --alg $alg --file "$T/dig" >"$T/sig"
		opts=(-pkeyopt digest:sha256)
		[ $alg = PS256 ] && opts+=(-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:auto)
		openssl pkeyutl -verify -pubin -inkey "$T/t.pem" -in "$T/dig" -sigfile "$T/sig" \
			"${opts[@]}"
	done
	vctl key sign app/te --alg ES256 --der --file "$T/dig" >"$T/sig"
	openssl pkeyutl -verify -pubin -inkey "$T/te.pem" -in "$T/dig" -sigfile "$T/sig"
	printf 'tpm secret' >"$T/pt"
	openssl pkeyutl -encrypt -pubin -inkey "$T/t.pem" -in "$T/pt" -out "$T/ct" \
		-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
	[ "$(vctl key decrypt app/t --alg RSA-OAEP-256 --file "$T/ct")" = "tpm secret" ]
	run vctl key create app/tx --type ec-p256 --protection tpm --exportable
	[ "$status" -eq 2 ]
	vctl key rotate app/te
	vctl key verify app/te --alg ES256 --der --version 1 --signature "$T/sig" --file "$T/dig"
}

@test "a rotation policy: shown, set and cleared; the daemon rotates on time and notifies once" {
	command -v faketime >/dev/null || skip "faketime is not installed (make deps installs it)"
	vctl key create app/r --type ec-p256
	vctl key create app/n --type ed25519 --expires "$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)"
	run vctl key rotation app/r
	[ "$status" -eq 0 ]
	[[ $output == *"rotate_after	none"* ]]
	vctl key rotation app/r --rotate-after 30d --expires-after 90d
	vctl key rotation app/n --notify-before 14d
	[[ $(vctl key rotation app/r) == *"rotate_after	30d"*"expires_after	90d"* ]]
	run vctl key rotation app/r --rotate-after soon
	[ "$status" -eq 2 ]
	run vctl key rotation app/nope --rotate-after 1d
	[ "$status" -ne 0 ]
	# a manual rotation takes the policy's expiry
	vctl key rotate app/r
	[[ $(vctl key show app/r --json) == *'"expires": "'"$(date -u -d '+90 days' +%Y-%m-%d)"* ]]
	cat >>"$CONF" <<-'CONF'
	[lifecycle]
	scan_interval = 1s
	CONF
	# the daemon's clock 31 days on (libfaketime; the TPM is another process, unaffected)
	mkdir -p "$T/mnt"
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		faketime -f '+31d' "$VAULTFSD" -c "$CONF" >"$T/daemon.log" 2>&1 3>&- &
	DAEMON=$!
	for _ in $(seq 300); do
		grep -q '"event":"key-rotate"' "$T/audit.jsonl" &&
			grep -q '"event":"key-expiring"' "$T/audit.jsonl" && break
		sleep 0.1
	done
	sleep 2 # more scans: neither fires again
	daemon_stop
	# on a failure, what the daemon did (its log and the records of the two keys)
	grep -E '"event":"key-(rotate|expiring)"' "$T/audit.jsonl" | cut -c1-240 || true
	tail -n 20 "$T/daemon.log"
	[ "$(grep -c '"event":"key-rotate".*"rule":"rotation-policy"' "$T/audit.jsonl")" -eq 1 ]
	[ "$(grep -c '"event":"key-expiring"' "$T/audit.jsonl")" -eq 1 ]
	run vctl audit show --event key-rotate
	[[ $output == *" key-rotate allow app/r v3 "*"rule=rotation-policy"* ]]
	[[ $(vctl key show app/r --json) == *'"current_version": 3'* ]]
	run vctl audit show --event key-expiring
	[[ $output == *" key-expiring allow app/n v1 "* ]]
	# cleared: nothing left
	vctl key rotation app/r --clear
	[[ $(vctl key rotation app/r) == *"rotate_after	none"*"expires_after	none"* ]]
	vctl audit verify
}
