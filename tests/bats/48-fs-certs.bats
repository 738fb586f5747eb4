#!/usr/bin/env bats
# A certificate's views as files: /vault/V/C.crt (leaf + intermediates), C.chain.crt
# (intermediates + root), C.key (PKCS#8), C.pem (key + leaf + intermediates), C.p12 (PKCS#12,
# empty password), of the newest issued version at each open, and per version under
# .versions/C/N.*; read with openssl; decided as `meta` (certificates) or `read` (the key's
# three, absent unless the key is exportable), recorded like any open; per-caller owner and mode
# 0400; one version per open; never in the page cache. Certificates are made with
# tests/unit/mkcert (the core API) before `vaultctl cert` exists. Each test has its own swtpm,
# store, journal and mount.

load helpers

MKCERT=$VAULTFS_BUILD/tests/mkcert

setup() {
	[ -x "$MKCERT" ] || {
		echo "$MKCERT is missing: make $MKCERT" >&2
		return 1
	}
	vault_setup
	chmod 0711 "$T" # other uids reach the mount point below it; its files stay 0600
	init_store
	mkdir -m 0700 "$T/policy.d" "$T/o"
	vctl vault create app
	vctl vault create pki
	DAEMON=
}

teardown() {
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# mkcert VERB VAULT NAME [ARG...]: a certificate through the core API
mkcert() {
	"$MKCERT" -c "$CONF" "$@"
}

# pki: a root CA and an intermediate in pki; app/web a leaf of the intermediate (exportable),
# app/ne one whose key is not exportable
pki() {
	mkcert root pki root
	mkcert ca pki inter pki/root
	mkcert leaf app web pki/inter
	mkcert leaf app ne pki/inter noexport
}

# serial FILE: the serial of the first certificate in FILE
serial() {
	openssl x509 -noout -serial -in "$1" | cut -d= -f2
}

# pub_of_key FILE / pub_of_crt FILE: the public key (PEM) of a private key, of a leaf
pub_of_key() {
	openssl pkey -in "$1" -pubout
}
pub_of_crt() {
	openssl x509 -in "$1" -noout -pubkey
}

# begins FILE: the PEM block kinds of FILE in order, one line
begins() {
	sed -n 's/^-----BEGIN \(.*\)-----$/\1/p' "$1" | tr '\n' ',' | sed 's/,$//'
}

@test "ls: a certificate's files in its vault and .versions/C for who may see it; the key's only where exportable" {
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow list,meta,read /app/** uid=1000
	allow meta /app/ne uid=1001
	EOF
	pki
	printf v | vctl secret set app/db
	printf v | vctl secret set app/other.key # a secret with a view's suffix is a secret
	daemon_start
	[ "$(as 1000 ls "$(M app)" | tr '\n' ' ')" = \
		"db ne.chain.crt ne.crt other.key web.chain.crt web.crt web.key web.p12 web.pem " ]
	[ "$(as 1000 ls "$(M app/.versions)" | tr '\n' ' ')" = "db ne other.key web " ]
	[ "$(as 1000 ls "$(M app/.versions/web)" | tr '\n' ' ')" = \
		"1.chain.crt 1.crt 1.key 1.p12 1.pem " ]
	[ "$(as 1000 ls "$(M app/.versions/ne)" | tr '\n' ' ')" = "1.chain.crt 1.crt " ]
	[ "$(as 1000 ls "$(M app/.meta)" | tr '\n' ' ')" = "db other.key " ]
	[ "$(as 1000 stat -c %F "$(M app/.versions/web)")" = directory ]
	[ "$(as 1000 cat "$(M app/other.key)")" = v ]
	# what uid 1001 may see: ne alone (its public files, listed; its key has no file at all)
	[ "$(as 1001 ls "$(M app)" | tr '\n' ' ')" = "ne.chain.crt ne.crt " ]
	for p in app/ne.key app/ne.pem app/ne.p12 app/.versions/ne/1.key app/.versions/ne/1.pem \
		app/.versions/ne/1.p12 app/web app/.meta/web app/web.der app/.versions/web/0.crt \
		app/.versions/web/2.crt app/.versions/web/01.crt app/nothing.crt; do
		run as 1000 stat "$(M "$p")"
		[ "$status" -ne 0 ]
		[[ $output == *"No such file"* ]]
	done
	run as 1001 stat "$(M app/web.crt)"
	[[ $output == *"No such file"* ]]
}

@test "each view: .crt leaf + intermediate, .chain.crt intermediate + root, .key the leaf's, .pem key + .crt, .p12 opens; sizes exact, 0400, the caller's" {
	policy <<-'EOF'
	allow list,meta,read /app/** uid=1000
	allow list,meta /app/** uid=1001
	EOF
	pki
	daemon_start
	for v in crt chain.crt key pem p12; do
		as 1000 cat "$(M "app/web.$v")" >"$T/o/web.$v"
		[ "$(as 1000 stat -c '%s %a %u %g' "$(M "app/web.$v")")" = \
			"$(wc -c <"$T/o/web.$v") 400 1000 1000" ]
		[ "$(as 1000 stat -c '%s %a %u' "$(M "app/.versions/web/1.$v")")" = \
			"$(wc -c <"$T/o/web.$v") 400 1000" ]
		# the same bytes by the version's name (a PKCS#12 is salted anew at each open)
		[ "$v" = p12 ] || cmp "$T/o/web.$v" <(as 1000 cat "$(M "app/.versions/web/1.$v")")
	done
	# another caller's view of the same files: its own owner, the mode of its rights
	[ "$(as 1001 stat -c '%u %g %a' "$(M app/web.crt)")" = "1001 1001 400" ]
	[ "$(as 1001 stat -c '%u %a %s' "$(M app/web.key)")" = "1001 0 0" ]
	[ "$(begins "$T/o/web.crt")" = "CERTIFICATE,CERTIFICATE" ]
	[ "$(begins "$T/o/web.chain.crt")" = "CERTIFICATE,CERTIFICATE" ]
	[ "$(begins "$T/o/web.key")" = "PRIVATE KEY" ]
	[ "$(begins "$T/o/web.pem")" = "PRIVATE KEY,CERTIFICATE,CERTIFICATE" ]
	# .crt: the leaf, then the intermediate that signed it
	openssl x509 -in "$T/o/web.crt" -noout -subject | grep -q 'CN *= *web.test'
	openssl crl2pkcs7 -nocrl -certfile "$T/o/web.crt" | openssl pkcs7 -print_certs -noout |
		grep '^subject' >"$T/o/crt.subjects"
	[ "$(sed -n 2p "$T/o/crt.subjects")" = "subject=O = vaultfs test, CN = inter" ]
	# .chain.crt: the intermediate, then the self-signed root
	openssl crl2pkcs7 -nocrl -certfile "$T/o/web.chain.crt" |
		openssl pkcs7 -print_certs -noout | grep '^subject' | tr '\n' ' ' >"$T/o/chain.subjects"
	[ "$(cat "$T/o/chain.subjects")" = \
		"subject=O = vaultfs test, CN = inter subject=O = vaultfs test, CN = root " ]
	sed -n '/BEGIN CERT/,$p' "$T/o/web.chain.crt" | awk '/BEGIN/{n++} n==2' >"$T/o/root.pem"
	openssl verify -CAfile "$T/o/root.pem" -untrusted "$T/o/web.chain.crt" "$T/o/web.crt"
	# .key is the leaf's key; .pem is .key then .crt
	[ "$(pub_of_key "$T/o/web.key")" = "$(pub_of_crt "$T/o/web.crt")" ]
	cmp <(cat "$T/o/web.key" "$T/o/web.crt") "$T/o/web.pem"
	[ "$(pub_of_key "$T/o/web.pem")" = "$(pub_of_crt "$T/o/web.pem")" ]
	# .p12: opens with the empty password, its key the leaf's, its certificates the chain's
	openssl pkcs12 -info -passin pass: -nokeys -in "$T/o/web.p12" >"$T/o/p12.certs" 2>&1
	[ "$(grep -c 'BEGIN CERTIFICATE' "$T/o/p12.certs")" -ge 2 ]
	openssl pkcs12 -in "$T/o/web.p12" -passin pass: -nodes -nocerts | openssl pkey -pubout \
		>"$T/o/p12.pub"
	[ "$(cat "$T/o/p12.pub")" = "$(pub_of_crt "$T/o/web.crt")" ]
	# fstat of an open view: the bytes of that open
	[ "$(as 1000 /usr/bin/python3 -c 'import os,sys; print(os.fstat(os.open(sys.argv[1], os.O_RDONLY)).st_size)' \
		"$(M app/web.p12)")" = "$(wc -c <"$T/o/web.p12")" ]
}

@test "opens are decided as meta (.crt, .chain.crt) or read (.key, .pem, .p12) on the certificate and recorded" {
	policy <<-'EOF'
	allow list /app uid=1000,1001,1002
	allow meta /app/web uid=1000
	allow meta,read /app/web uid=1001
	EOF
	pki
	daemon_start
	as 1000 cat "$(M app/web.crt)" >"$T/o/crt"
	as 1000 cat "$(M app/.versions/web/1.chain.crt)" >/dev/null
	# meta alone: no key view (EACCES, mode 0000, size 0), still listed
	for v in key pem p12; do
		run as 1000 cat "$(M "app/web.$v")"
		[ "$status" -ne 0 ]
		[[ $output == *"Permission denied"* ]]
		[ "$(as 1000 stat -c '%a %s' "$(M "app/web.$v")")" = "0 0" ]
		run as 1000 test -r "$(M "app/web.$v")"
		[ "$status" -ne 0 ]
		run as 1000 cat "$(M "app/.versions/web/1.$v")"
		[[ $output == *"Permission denied"* ]]
	done
	as 1000 test -r "$(M app/web.crt)"
	[ "$(as 1000 ls "$(M app)" | tr '\n' ' ')" = \
		"web.chain.crt web.crt web.key web.p12 web.pem " ]
	[ "$(as 1000 stat -c '%a' "$(M app/web.crt)")" = 400 ]
	as 1001 cat "$(M app/web.key)" >"$T/o/key"
	[ "$(pub_of_key "$T/o/key")" = "$(pub_of_crt "$T/o/crt")" ]
	# no right at all: the names do not exist for it
	run as 1002 cat "$(M app/web.crt)"
	[[ $output == *"No such file"* ]]
	run as 1002 ls "$(M app/.versions/web)"
	[ "$status" -ne 0 ]
	[ -z "$(as 1002 ls "$(M app)")" ]
	run vctl audit show --event open
	[[ $output == *" open allow app/web v1 uid=1000 "*"path=/app/web.crt "* ]]
	[[ $output == *" open allow app/web v1 uid=1000 "*"path=/app/.versions/web/1.chain.crt "* ]]
	[[ $output == *" open deny EACCES app/web "*"uid=1000 "*"path=/app/web.key "*"rule=default"* ]]
	[[ $output == *" open deny EACCES app/web "*"uid=1000 "*"path=/app/.versions/web/1.p12 "* ]]
	[[ $output == *" open allow app/web v1 uid=1001 "*"path=/app/web.key "* ]]
	run vctl audit show --event lookup
	# refused before any lookup: the record names the name as typed
	[[ $output == *" lookup deny ENOENT app/web.crt uid=1002 "*"path=/app/web.crt "* ]]
}

@test "a key that is not exportable is in no file: no .key, .pem or .p12 for anyone, no private byte" {
	policy <<-'EOF'
	allow list,meta,read /app/** uid=0,1000
	EOF
	pki
	daemon_start
	for p in app/ne.key app/ne.pem app/ne.p12 app/.versions/ne/1.key app/.versions/ne/1.pem \
		app/.versions/ne/1.p12; do
		run cat "$(M "$p")"
		[[ $output == *"No such file"* ]]
		run as 1000 cat "$(M "$p")"
		[[ $output == *"No such file"* ]]
	done
	as 1000 cat "$(M app/ne.crt)" | openssl x509 -noout
	run as 1000 sh -c 'cat "$1"/ne.* "$1"/.versions/ne/*' - "$(M app)"
	[ "$status" -eq 0 ]
	[[ $output != *PRIVATE* ]]
	[ "$(as 1000 ls "$(M app)" | grep -c '^ne\.')" -eq 2 ]
}

@test "a renewal: the unversioned files are the new version's at the next open, the old one stays readable, an open keeps its version" {
	policy <<-'EOF'
	allow list,meta,read /app/** uid=1000
	EOF
	pki
	daemon_start
	as 1000 cat "$(M app/web.crt)" >"$T/o/v1.crt"
	# a reader holding .crt and .key open across the renewal
	chmod 0777 "$T/o"
	as 1000 bash -c 'exec 3<"$1" 4<"$2"; while [ ! -e "$3" ]; do sleep 0.05; done
		cat <&3 >"$4"; cat <&4 >"$5"' - "$(M app/.versions/web/1.crt)" "$(M app/web.key)" \
		"$T/o/go" "$T/o/held.crt" "$T/o/held.key" &
	reader=$!
	sleep 0.5
	[ "$(mkcert renew app web)" = 2 ]
	touch "$T/o/go"
	wait "$reader"
	[ "$(serial "$T/o/held.crt")" = "$(serial "$T/o/v1.crt")" ]
	[ "$(pub_of_key "$T/o/held.key")" = "$(pub_of_crt "$T/o/v1.crt")" ]
	# the next opens: version 2, all of one version
	for v in crt chain.crt key pem p12; do
		as 1000 cat "$(M "app/web.$v")" >"$T/o/v2.$v"
		[ "$v" = p12 ] || cmp "$T/o/v2.$v" <(as 1000 cat "$(M "app/.versions/web/2.$v")")
		[ "$(as 1000 stat -c %s "$(M "app/web.$v")")" = "$(wc -c <"$T/o/v2.$v")" ]
	done
	[ "$(serial "$T/o/v2.crt")" != "$(serial "$T/o/v1.crt")" ]
	[ "$(pub_of_key "$T/o/v2.key")" = "$(pub_of_crt "$T/o/v2.crt")" ]
	[ "$(pub_of_key "$T/o/v2.key")" != "$(pub_of_crt "$T/o/v1.crt")" ]
	# version 1 is still there, whole
	[ "$(serial <(as 1000 cat "$(M app/.versions/web/1.crt)"))" = "$(serial "$T/o/v1.crt")" ]
	as 1000 cat "$(M app/.versions/web/1.key)" >"$T/o/v1.key"
	[ "$(pub_of_key "$T/o/v1.key")" = "$(pub_of_crt "$T/o/v1.crt")" ]
	[ "$(as 1000 ls "$(M app/.versions/web)" | tr '\n' ' ')" = \
		"1.chain.crt 1.crt 1.key 1.p12 1.pem 2.chain.crt 2.crt 2.key 2.p12 2.pem " ]
	run vctl audit show --event open
	[[ $output == *" open allow app/web v2 uid=1000 "*"path=/app/web.key "* ]]
	[[ $output == *" open allow app/web v1 uid=1000 "*"path=/app/web.key "* ]]
}

@test "a disabled version is refused (EKEYREVOKED) and recorded; a pending version is never served" {
	policy <<-'EOF'
	allow list,meta,read /app/** uid=1000
	EOF
	pki
	daemon_start
	as 1000 cat "$(M app/web.crt)" >"$T/o/v1.crt"
	mkcert disable app web 1
	for v in crt key p12; do
		run as 1000 cat "$(M "app/web.$v")"
		[ "$status" -ne 0 ]
		[[ $output == *"Key has been revoked"* ]]
		run as 1000 cat "$(M "app/.versions/web/1.$v")"
		[[ $output == *"Key has been revoked"* ]]
	done
	# still listed and stat'able (as a disabled secret): the certificate's size, no key's
	[ "$(as 1000 stat -c %s "$(M app/web.crt)")" = "$(wc -c <"$T/o/v1.crt")" ]
	[ "$(as 1000 stat -c %s "$(M app/web.key)")" = 0 ]
	run vctl audit show --event open
	[[ $output == *" open deny EKEYREVOKED app/web v1 uid=1000 "*"path=/app/web.key "* ]]
	[[ $output == *" open deny EKEYREVOKED app/web v1 uid=1000 "*"path=/app/.versions/web/1.crt "* ]]
	# a renewal makes a new whole version: served again
	[ "$(mkcert renew app web)" = 2 ]
	as 1000 cat "$(M app/web.crt)" >"$T/o/v2.crt"
	as 1000 cat "$(M app/.versions/web/2.key)" | openssl pkey -noout
	# a pending version (a CSR for an external CA) is no file, and the newest issued stays served
	[ "$(mkcert pending app web)" = 3 ]
	[ "$(serial <(as 1000 cat "$(M app/web.crt)"))" = "$(serial "$T/o/v2.crt")" ]
	[ "$(as 1000 ls "$(M app/.versions/web)" | tr '\n' ' ')" = \
		"1.chain.crt 1.crt 1.key 1.p12 1.pem 2.chain.crt 2.crt 2.key 2.p12 2.pem " ]
	run as 1000 cat "$(M app/.versions/web/3.crt)"
	[[ $output == *"No such file"* ]]
}

# cached_pages FILE: open FILE, read it whole, and say how many of its pages the page cache
# holds then, on that open (cachestat(2): an open of a file with keep_cache 0 drops its pages,
# so a second open, as fincore's, would always see none)
cached_pages() {
	/usr/bin/python3 -c '
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
while os.read(fd, 65536):
    pass
libc = ctypes.CDLL(None, use_errno=True)
rng = (ctypes.c_uint64 * 2)(0, 0)
cs = (ctypes.c_uint64 * 5)()
if libc.syscall(451, fd, rng, cs, 0) != 0:
    sys.exit("cachestat: " + os.strerror(ctypes.get_errno()))
print(cs[0])
' "$1"
}

@test "the views are read-only and never in the page cache" {
	policy <<-'EOF'
	allow list,meta,read,write,delete /app/** uid=0,1000
	EOF
	pki
	daemon_start
	for v in crt chain.crt key pem p12; do
		[ "$(as 1000 bash -c "$(declare -f cached_pages); cached_pages $(M "app/web.$v")")" = 0 ]
		[ "$(as 1000 bash -c "$(declare -f cached_pages); cached_pages \
			$(M "app/.versions/web/1.$v")")" = 0 ]
		run sh -c "echo y >$(M "app/web.$v")"
		[[ $output == *"Read-only file system"* ]]
		run sh -c "echo y >$(M "app/.versions/web/1.$v")"
		[[ $output == *"Read-only file system"* ]]
		run touch "$(M "app/web.$v")"
		[ "$status" -ne 0 ]
		run rm "$(M "app/web.$v")"
		[[ $output == *"Read-only file system"* ]]
	done
	run sh -c "echo y >$(M app/.versions/web/9.crt)"
	[[ $output == *"Read-only file system"* ]]
	run mkdir "$(M app/.versions/web/d)"
	[ "$status" -ne 0 ]
	as 1000 openssl x509 -noout -in "$(M app/web.crt)"
}

# small_ls DIR: the names of DIR read with getdents64 and a buffer of 64 to 400 bytes, a few
# entries a call, of a size that varies: the kernel keeps only part of each reply, and the next
# read starts inside it (inside a certificate's five files, too)
small_ls() {
	/usr/bin/python3 -c '
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(400)
i = 0
while True:
    i += 1
    n = libc.syscall(217, fd, buf, 64 + (i * 37) % 337)
    if n <= 0:
        break
    off = 0
    while off < n:
        reclen = int.from_bytes(buf.raw[off + 16:off + 18], "little")
        print(buf.raw[off + 19:off + reclen].split(b"\0", 1)[0].decode())
        off += reclen
' "$1"
}

@test "many certificates and secrets: the vault lists each file exactly once across pages and small reads" {
	policy <<-'EOF'
	allow list,meta,read /app/** uid=1000
	EOF
	mkcert leaf app c self export 140 # c003, c006 ... not exportable
	mkcert leaf app x.chain self      # its .crt would read as the chain of "x"
	for i in 001 050 139; do printf v | vctl secret set "app/c$i.keys"; done
	daemon_start
	as 1000 ls -f "$(M app)" | grep -v '^\.' >"$T/o/ls"
	for i in $(seq -f %03g 1 140); do
		echo "c$i.chain.crt"
		echo "c$i.crt"
		[ $((10#$i % 3)) -eq 0 ] || printf '%s\n' "c$i.key" "c$i.pem" "c$i.p12"
		case $i in 001 | 050 | 139) echo "c$i.keys" ;; esac
	done >"$T/o/want"
	printf '%s\n' x.chain.chain.crt x.chain.key x.chain.pem x.chain.p12 >>"$T/o/want"
	cmp <(sort "$T/o/want") <(sort "$T/o/ls")
	[ "$(sort "$T/o/ls" | uniq -d | wc -l)" -eq 0 ]
	as 1000 bash -c "$(declare -f small_ls); small_ls $(M app)" | grep -v '^\.' >"$T/o/ls2"
	cmp "$T/o/ls" "$T/o/ls2"
	as 1000 cat "$(M app/x.chain.key)" | openssl pkey -noout
	run as 1000 cat "$(M app/x.chain.crt)"
	[[ $output == *"No such file"* ]]
	as 1000 cat "$(M app/.versions/x.chain/1.crt)" | openssl x509 -noout
	[ "$(as 1000 ls "$(M app/.versions)" | wc -l)" -eq 144 ]
}

@test "a certificate of 60 versions: .versions/C lists N.* once each, across small reads" {
	policy <<-'EOF'
	allow list,meta,read /app/** uid=1000
	EOF
	mkcert leaf app k self
	mkcert renew app k 59
	daemon_start
	for i in $(seq 1 60); do printf '%s\n' "$i.chain.crt" "$i.crt" "$i.key" "$i.p12" "$i.pem"; done |
		sort >"$T/o/want"
	as 1000 ls -f "$(M app/.versions/k)" | grep -v '^\.' >"$T/o/ls"
	cmp "$T/o/want" <(sort "$T/o/ls")
	as 1000 bash -c "$(declare -f small_ls); small_ls $(M app/.versions/k)" |
		grep -v '^\.' >"$T/o/ls2"
	cmp "$T/o/ls" "$T/o/ls2"
	cmp <(as 1000 cat "$(M app/k.crt)") <(as 1000 cat "$(M app/.versions/k/60.crt)")
	[ "$(serial <(as 1000 cat "$(M app/.versions/k/7.crt)"))" != \
		"$(serial <(as 1000 cat "$(M app/.versions/k/8.crt)"))" ]
}
