#!/usr/bin/env bats
# The public halves of keys as files: /vault/V/.keys/K.pub (PEM), K.ssh.pub (OpenSSH) and
# .keys/.versions/K/N.pub, N.ssh.pub, read with real clients (openssl, ssh-keygen); decided as
# `meta` and recorded like any open; read-only; a key never shows as a secret file and a secret
# cannot take a key's name. Keys are made with tests/unit/mkkey (the core API), from private
# keys this test generates. Each test has its own swtpm, store, journal and mount.

load helpers

MKKEY=$VAULTFS_BUILD/tests/mkkey

setup() {
	[ -x "$MKKEY" ] || {
		echo "$MKKEY is missing: make $MKKEY" >&2
		return 1
	}
	vault_setup
	chmod 0711 "$T" # other uids reach the mount point below it; its files stay 0600
	mkdir -m 0700 "$T/policy.d" "$T/k"
	init_store
	vctl vault create app
	DAEMON=
}

teardown() {
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# mkkey VERB VAULT NAME [ARG]: a key through the core API
mkkey() {
	"$MKKEY" -c "$CONF" "$@"
}

# keys: private keys made here, and their keys in app: ed (Ed25519, PKCS#8 PEM), eds (Ed25519,
# OpenSSH format), ec (P-256, SEC1 PEM), rsa (RSA 2048, PKCS#1 PEM), ec384 and ec521 (made in
# the store), aes (AES-256: no public half)
keys() {
	openssl genpkey -algorithm ed25519 -out "$T/k/ed.pem" 2>/dev/null
	ssh-keygen -q -t ed25519 -N '' -C '' -f "$T/k/eds" </dev/null
	ssh-keygen -q -t ecdsa -b 256 -m PEM -N '' -C '' -f "$T/k/ec" </dev/null
	ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C '' -f "$T/k/rsa" </dev/null
	mkkey import app ed <"$T/k/ed.pem"
	mkkey import app eds <"$T/k/eds"
	mkkey import app ec <"$T/k/ec"
	mkkey import app rsa <"$T/k/rsa"
	mkkey create app ec384 ec-p384
	mkkey create app ec521 ec-p521
	mkkey create app aes aes-256
}

@test "ls: .keys lists the keys the caller may meta, never an AES key; no key shows as a secret" {
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow meta /app/* uid=1000
	allow read /app/db uid=1000
	allow meta /app/ec uid=1001
	allow sign /app/ed uid=1001
	EOF
	keys
	printf v | vctl secret set app/db
	daemon_start
	[ "$(as 1000 ls "$(M app)" | tr '\n' ' ')" = "db " ]
	# .keys is reached by name, not listed (as ZFS's .zfs): tree walkers do not descend into it
	[ "$(as 1000 ls -a "$(M app)" | tr '\n' ' ')" = ". .. .meta .versions db " ]
	[ "$(as 1000 stat -c %F "$(M app/.keys)")" = directory ]
	[ "$(as 1000 ls "$(M app/.meta)" | tr '\n' ' ')" = "db " ]
	[ "$(as 1000 ls "$(M app/.versions)" | tr '\n' ' ')" = "db " ]
	[ "$(as 1000 ls "$(M app/.keys)" | tr '\n' ' ')" = \
		"ec.pub ec.ssh.pub ec384.pub ec384.ssh.pub ec521.pub ec521.ssh.pub ed.pub ed.ssh.pub eds.pub eds.ssh.pub rsa.pub rsa.ssh.pub " ]
	[ "$(as 1000 ls -a "$(M app/.keys)" | head -3 | tr '\n' ' ')" = ". .. .versions " ]
	[ "$(as 1000 ls "$(M app/.keys/.versions)" | tr '\n' ' ')" = "ec ec384 ec521 ed eds rsa " ]
	[ "$(as 1000 ls "$(M app/.keys/.versions/ed)" | tr '\n' ' ')" = "1.pub 1.ssh.pub " ]
	# only what the caller may meta: uid 1001 holds sign on ed, meta on ec
	[ "$(as 1001 ls "$(M app/.keys)" | tr '\n' ' ')" = "ec.pub ec.ssh.pub " ]
	# a key is no secret file, and an AES key has no file
	for p in app/ed app/.meta/ed app/.versions/ed app/.keys/aes.pub app/.keys/aes.ssh.pub \
		app/.keys/.versions/aes app/.keys/db.pub; do
		run as 1000 stat "$(M "$p")"
		[ "$status" -ne 0 ]
		[[ $output == *"No such file"* ]]
	done
	run as 1000 cat "$(M app/ed)"
	[[ $output == *"No such file"* ]]
}

@test "openssl and ssh-keygen read every public half; stat sizes are exact; nothing private" {
	policy <<-'EOF'
	allow list,meta /app/** uid=1000
	EOF
	keys
	daemon_start
	for k in ed eds ec rsa ec384 ec521; do
		as 1000 cat "$(M "app/.keys/$k.pub")" >"$T/$k.pub"
		as 1000 cat "$(M "app/.keys/$k.ssh.pub")" >"$T/$k.ssh.pub"
		openssl pkey -pubin -in "$T/$k.pub" -noout
		head -1 "$T/$k.pub" | grep -qx -- '-----BEGIN PUBLIC KEY-----'
		ssh-keygen -l -f "$T/$k.ssh.pub" >"$T/fp"
		grep -q " app/$k " "$T/fp"
		[ "$(as 1000 stat -c '%s %a' "$(M "app/.keys/$k.pub")")" = "$(wc -c <"$T/$k.pub") 400" ]
		[ "$(as 1000 stat -c %s "$(M "app/.keys/$k.ssh.pub")")" = "$(wc -c <"$T/$k.ssh.pub")" ]
		[ "$(as 1000 stat -c %s "$(M "app/.keys/.versions/$k/1.pub")")" = "$(wc -c <"$T/$k.pub")" ]
		cmp "$T/$k.pub" <(as 1000 cat "$(M "app/.keys/.versions/$k/1.pub")")
		[ "$(cut -d' ' -f1-2 "$T/$k.ssh.pub")" = \
			"$(as 1000 cut -d' ' -f1-2 "$(M "app/.keys/.versions/$k/1.ssh.pub")")" ]
		[ "$(as 1000 cut -d' ' -f3 "$(M "app/.keys/.versions/$k/1.ssh.pub")")" = "app/$k/1" ]
	done
	# the same keys as OpenSSH derives them from the private files
	for k in eds ec rsa; do
		[ "$(cut -d' ' -f1-2 "$T/$k.ssh.pub")" = "$(cut -d' ' -f1-2 "$T/k/$k.pub")" ]
	done
	grep -q '^ssh-ed25519 ' "$T/ed.ssh.pub"
	grep -q '^ecdsa-sha2-nistp256 ' "$T/ec.ssh.pub"
	grep -q '^ecdsa-sha2-nistp384 ' "$T/ec384.ssh.pub"
	grep -q '^ecdsa-sha2-nistp521 ' "$T/ec521.ssh.pub"
	grep -q '^ssh-rsa ' "$T/rsa.ssh.pub"
	# the same public key as OpenSSL derives from the private file
	cmp "$T/ed.pub" <(openssl pkey -in "$T/k/ed.pem" -pubout)
	cmp "$T/ec.pub" <(openssl pkey -in "$T/k/ec" -pubout)
	# no private byte anywhere under .keys
	run as 1000 grep -rl PRIVATE "$(M app/.keys)"
	[ "$status" -eq 1 ]
	as 1000 sh -c 'cat "$1"/*.pub "$1"/.versions/*/*' - "$(M app/.keys)" >"$T/all"
	[ "$(grep -c '^-----BEGIN PUBLIC KEY-----$' "$T/all")" -eq 12 ]
	[ "$(grep -c '^ssh-\|^ecdsa-' "$T/all")" -eq 12 ]
	run as 1000 grep -rqF "$(sed -n 2p "$T/k/ec")" "$(M app/.keys)"
	[ "$status" -eq 1 ]
}

@test "a signature made with the private key verifies against .keys/K.pub (openssl pkeyutl)" {
	policy <<-'EOF'
	allow list,meta /app/** uid=1000
	EOF
	keys
	daemon_start
	head -c 1000 /dev/urandom >"$T/data"
	openssl pkeyutl -sign -rawin -inkey "$T/k/ed.pem" -in "$T/data" -out "$T/ed.sig"
	as 1000 cat "$(M app/.keys/ed.pub)" >"$T/ed.pub"
	openssl pkeyutl -verify -rawin -pubin -inkey "$T/ed.pub" -in "$T/data" -sigfile "$T/ed.sig"
	for k in ec rsa; do
		openssl pkeyutl -sign -rawin -digest sha256 -inkey "$T/k/$k" -in "$T/data" \
			-out "$T/$k.sig"
		as 1000 cat "$(M "app/.keys/$k.pub")" >"$T/$k.pub"
		openssl pkeyutl -verify -rawin -digest sha256 -pubin -inkey "$T/$k.pub" \
			-in "$T/data" -sigfile "$T/$k.sig"
	done
	# a signature of other data does not verify
	head -c 1000 /dev/urandom >"$T/other"
	run openssl pkeyutl -verify -rawin -pubin -inkey "$T/ed.pub" -in "$T/other" \
		-sigfile "$T/ed.sig"
	[ "$status" -ne 0 ]
}

@test "ssh-keygen -Y verify: an allowed_signers line made from K.ssh.pub verifies a signature" {
	policy <<-'EOF'
	allow list,meta /app/** uid=1000
	EOF
	keys
	daemon_start
	echo "signed data" >"$T/data"
	for k in eds ec rsa; do
		ssh-keygen -q -Y sign -f "$T/k/$k" -n file <"$T/data" >"$T/$k.sig"
		echo "alice@example.test $(as 1000 cut -d' ' -f1-2 "$(M "app/.keys/$k.ssh.pub")")" \
			>"$T/allowed_signers"
		ssh-keygen -Y verify -f "$T/allowed_signers" -I alice@example.test -n file \
			-s "$T/$k.sig" <"$T/data"
	done
	# and the line of another key does not
	echo "alice@example.test $(as 1000 cut -d' ' -f1-2 "$(M app/.keys/ec.ssh.pub)")" \
		>"$T/allowed_signers"
	run ssh-keygen -Y verify -f "$T/allowed_signers" -I alice@example.test -n file \
		-s "$T/eds.sig" <"$T/data"
	[ "$status" -ne 0 ]
	# authorized_keys takes the file as it is
	as 1000 cat "$(M app/.keys/eds.ssh.pub)" >"$T/authorized_keys"
	ssh-keygen -l -f "$T/authorized_keys" | grep -q ' app/eds (ED25519)$'
}

@test "opens are decided as meta on the key and recorded; refusals too" {
	policy <<-'EOF'
	allow list /app uid=1000,1001,1002
	allow meta /app/ed uid=1000
	allow sign /app/ed uid=1001
	EOF
	keys
	daemon_start
	as 1000 cat "$(M app/.keys/ed.pub)" >/dev/null
	as 1000 cat "$(M app/.keys/.versions/ed/1.ssh.pub)" >/dev/null
	# sign is no right to read the public half: EACCES, mode 0000 and size 0
	run as 1001 cat "$(M app/.keys/ed.pub)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	[ "$(as 1001 stat -c '%a %s' "$(M app/.keys/ed.ssh.pub)")" = "0 0" ]
	run as 1001 test -r "$(M app/.keys/ed.pub)"
	[ "$status" -ne 0 ]
	as 1000 test -r "$(M app/.keys/ed.pub)"
	# no right at all: the name does not exist for it
	run as 1002 cat "$(M app/.keys/ed.pub)"
	[[ $output == *"No such file"* ]]
	run vctl audit show --event open
	[[ $output == *" open allow app/ed v1 uid=1000 "*"path=/app/.keys/ed.pub "* ]]
	[[ $output == *" open allow app/ed v1 uid=1000 "*"path=/app/.keys/.versions/ed/1.ssh.pub "* ]]
	[[ $output == *" open deny EACCES app/ed "*"uid=1001 "*"path=/app/.keys/ed.pub "*"rule=default"* ]]
	run vctl audit show --event lookup
	[[ $output == *" lookup deny ENOENT app/ed uid=1002 "*"path=/app/.keys/ed.pub "* ]]
}

@test ".keys is read-only (EROFS); a secret cannot take a key's name (EEXIST)" {
	policy <<-'EOF'
	allow list,meta,read,write,delete /app/** uid=0
	EOF
	keys
	daemon_start
	run sh -c "echo y >$(M app/.keys/ed.pub)"
	[[ $output == *"Read-only file system"* ]]
	run sh -c "echo y >$(M app/.keys/.versions/ed/1.pub)"
	[[ $output == *"Read-only file system"* ]]
	run sh -c "echo y >$(M app/.keys/new.pub)"
	[[ $output == *"Read-only file system"* ]]
	run rm "$(M app/.keys/ed.pub)"
	[[ $output == *"Read-only file system"* ]]
	run mkdir "$(M app/.keys/d)"
	[[ $output == *"Read-only file system"* ]]
	run touch "$(M app/.keys/ed.pub)"
	[ "$status" -ne 0 ]
	run sh -c "echo y >$(M app/.keys)"
	[ "$status" -ne 0 ]
	# one name space: a secret named like a key is refused, through the mount and the CLI
	run sh -c "echo y >$(M app/ed)"
	[[ $output == *"File exists"* ]]
	run sh -c "printf y | $VAULTCTL -c $CONF --offline secret set app/ed"
	[ "$status" -ne 0 ]
	[ "$(cat "$(M app/.keys/ed.pub)")" = "$(openssl pkey -in "$T/k/ed.pem" -pubout)" ]
	run ls "$(M app)"
	[ -z "$output" ]
	run vctl audit show --event open-write
	[[ $output == *" open-write deny EEXIST app/ed "* ]]
}

@test "a rotation: K.pub is the new version's at the next open; .versions keeps the old ones" {
	policy <<-'EOF'
	allow list,meta /app/** uid=1000
	EOF
	mkkey create app k ec-p384
	daemon_start
	as 1000 cat "$(M app/.keys/k.pub)" >"$T/v1.pub"
	as 1000 cat "$(M app/.keys/k.ssh.pub)" >"$T/v1.ssh.pub"
	mkkey rotate app k
	as 1000 cat "$(M app/.keys/k.pub)" >"$T/v2.pub"
	! cmp -s "$T/v1.pub" "$T/v2.pub" || false
	openssl pkey -pubin -in "$T/v2.pub" -noout
	[ "$(as 1000 stat -c %s "$(M app/.keys/k.pub)")" = "$(wc -c <"$T/v2.pub")" ]
	[ "$(as 1000 ls "$(M app/.keys/.versions/k)" | tr '\n' ' ')" = "1.pub 1.ssh.pub 2.pub 2.ssh.pub " ]
	cmp "$T/v1.pub" <(as 1000 cat "$(M app/.keys/.versions/k/1.pub)")
	cmp "$T/v2.pub" <(as 1000 cat "$(M app/.keys/.versions/k/2.pub)")
	[ "$(as 1000 cut -d' ' -f2 "$(M app/.keys/.versions/k/1.ssh.pub)")" = "$(cut -d' ' -f2 "$T/v1.ssh.pub")" ]
	run vctl audit show --event open
	[[ $output == *" open allow app/k v2 "*"path=/app/.keys/k.pub "* ]]
}

# small_ls DIR: the names of DIR read with getdents64 and a buffer of 64 to 400 bytes, a few
# entries a call, of a size that varies: the kernel keeps only part of each reply, and the next
# read starts inside it (between a key's two files, too)
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

@test "many keys: .keys lists each exactly once across pages and small reads" {
	policy <<-'EOF'
	allow list,meta /app/** uid=1000
	EOF
	mkkey create app k ed25519 150
	mkkey create app a.ssh ed25519 # its PEM name would read as a.ssh.pub: OpenSSH file of "a"
	daemon_start
	as 1000 ls -f "$(M app/.keys)" >"$T/ls"
	[ "$(grep -c '^k[0-9]*\.pub$' "$T/ls")" -eq 150 ]
	[ "$(grep -c '^k[0-9]*\.ssh\.pub$' "$T/ls")" -eq 150 ]
	[ "$(sort "$T/ls" | uniq -d | wc -l)" -eq 0 ]
	grep -qx 'a.ssh.ssh.pub' "$T/ls"
	! grep -qx 'a.ssh.pub' "$T/ls" || false
	as 1000 cat "$(M app/.keys/a.ssh.ssh.pub)" | grep -q ' app/a.ssh$'
	as 1000 cat "$(M app/.keys/.versions/a.ssh/1.pub)" | openssl pkey -pubin -noout
	as 1000 bash -c "$(declare -f small_ls); small_ls $(M app/.keys)" >"$T/ls2"
	cmp "$T/ls" "$T/ls2"
	[ "$(grep -vc '^\.' "$T/ls2")" -eq 301 ]
	# every entry stats as a file of its key
	[ "$(as 1000 stat -c %s "$(M app/.keys/k077.ssh.pub)")" -gt 80 ]
}

@test "a key of 150 versions: .keys/.versions/K lists N.pub and N.ssh.pub once each" {
	policy <<-'EOF'
	allow list,meta /app/** uid=1000
	EOF
	mkkey create app k ec-p256
	mkkey rotate app k 149
	daemon_start
	for i in $(seq 1 150); do echo "$i.pub"; echo "$i.ssh.pub"; done >"$T/want"
	as 1000 ls -f "$(M app/.keys/.versions/k)" | grep -v '^\.' >"$T/ls"
	cmp "$T/want" "$T/ls"
	as 1000 bash -c "$(declare -f small_ls); small_ls $(M app/.keys/.versions/k)" |
		grep -v '^\.' >"$T/ls2"
	cmp "$T/want" "$T/ls2"
	[ "$(as 1000 cut -d' ' -f3 "$(M app/.keys/.versions/k/77.ssh.pub)")" = app/k/77 ]
	cmp <(as 1000 cat "$(M app/.keys/k.pub)") <(as 1000 cat "$(M app/.keys/.versions/k/150.pub)")
}
