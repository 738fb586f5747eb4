#!/usr/bin/env bats
# vaultfsd's ssh-agent socket ([agent] socket) with real, unmodified OpenSSH clients and git: the
# keys live in the vault (imported from PEM files made here by openssl, or made in the TPM), the
# policy's `sign` (and its ssh= condition) says who may use which, every signature and every
# refusal is in the journal. The public halves are derived here independently of the daemon
# (ssh-keygen -y; Ed25519 by hand from the DER, as 86-agent-demo.bats), except the TPM key's,
# which only the store knows (tests/agent-keys prints it when it makes it).

load helpers
load ../lib/sshd

KEYS=${VAULTFS_BUILD:-$BATS_TEST_DIRNAME/../../build}/tests/agent-keys

setup_file() {
	K=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-agent87.XXXXXX")
	export K
	agent_test_keys "$K"
	chmod -R a+rX "$K/pub"
	chmod 0711 "$K"
}

teardown_file() {
	[ -n "${K:-}" ] && rm -rf -- "$K"
	return 0
}

setup() {
	[ -x "$KEYS" ] || skip "$KEYS is not built (make $KEYS)"
	vault_setup
	chmod 0711 "$T" # other uids reach the agent socket
	mkdir -m 0700 "$T/policy.d"
	printf '[agent]\nsocket = %s\n' "$T/agent.sock" >>"$CONF"
	init_store
	for t in $TYPES; do
		"$KEYS" "$CONF" import ssh "$t" "$K/$t.pem" >/dev/null
	done
	# uid 1000's own key
	"$KEYS" "$CONF" create u1000 k ec-p256 soft >"$T/u1000.pem"
	ssh-keygen -i -m PKCS8 -f "$T/u1000.pem" >"$T/u1000.pub"
	echo "some data to sign" >"$T/msg"
	chmod 0644 "$T/msg"
	DAEMON=
	PIDS=()
	export SSH_AUTH_SOCK=$T/agent.sock
}

teardown() {
	local p
	[ -n "${T:-}" ] || return 0
	if [ -f "$T/sshd.pid" ]; then
		kill "$(cat "$T/sshd.pid")" 2>/dev/null || true
	fi
	for p in "${PIDS[@]}"; do
		kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
	daemon_stop
	vault_teardown
}

default_policy() {
	policy <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow sign /ssh/* uid=0
	allow sign /u1000/* uid=1000
	EOF
}

# journal PATTERN: wait (up to 5 s) until a journal line matches the extended regex
journal() {
	for _ in $(seq 50); do
		grep -Eq -- "$1" "$T/audit.jsonl" && return 0
		sleep 0.1
	done
	echo "no journal line matches: $1" >&2
	grep -E '"event":"agent-' "$T/audit.jsonl" | tail -5 >&2
	return 1
}

# count PATTERN: journal lines matching (after the writer caught up)
count() {
	sleep 0.3
	grep -Ec -- "$1" "$T/audit.jsonl" || true
}

@test "agent: ssh-add -L lists exactly the keys the caller may sign with; other uids others or none" {
	default_policy
	daemon_start
	run ssh-add -L
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	printf '%s\n' "${lines[@]}" | cut -d' ' -f1,2 | sort >"$T/listed"
	cat "$K"/pub/*.pub | cut -d' ' -f1,2 | sort >"$T/want"
	diff "$T/listed" "$T/want"
	[[ "$output" == *"ssh-rsa "*" ssh/rsa"* ]]
	[[ "$output" != *"u1000/k"* ]]
	# uid 1000 sees its own key only
	run as 1000 env SSH_AUTH_SOCK="$T/agent.sock" ssh-add -L
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$(echo "$output" | cut -d' ' -f1,2)" = "$(cut -d' ' -f1,2 "$T/u1000.pub")" ]
	[[ "$output" == *" u1000/k" ]]
	# uid 1001 none
	run as 1001 env SSH_AUTH_SOCK="$T/agent.sock" ssh-add -L
	[ "$status" -eq 1 ]
	[[ "$output" == *"no identities"* ]]
}

# Certificate n has key n (AKV's model): a certificate's key is listed and signs where the
# policy's sign on the certificate allows, and the signature verifies with the leaf's key.
@test "agent: a certificate's key is listed and signs, as its key" {
	default_policy
	vctl cert create u1000/web --subject CN=web --type ec-p256 --issuer self >/dev/null 2>&1
	daemon_start
	run as 1000 env SSH_AUTH_SOCK="$T/agent.sock" ssh-add -L
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "$output" == *" u1000/web"* ]]
	mkdir -m 0700 "$T/w" && chown 1000:1000 "$T/w"
	grep ' u1000/web$' <<<"$output" >"$T/w/web.pub"
	cp "$T/msg" "$T/w/msg" && chown 1000:1000 "$T/w/msg" "$T/w/web.pub"
	as 1000 env SSH_AUTH_SOCK="$T/agent.sock" ssh-keygen -Y sign -q -f "$T/w/web.pub" \
		-n file "$T/w/msg"
	# the leaf's public key, from the certificate's view, verifies it
	printf 'web %s\n' "$(vctl cert export u1000/web --view crt | openssl x509 -noout -pubkey |
		ssh-keygen -i -m PKCS8 -f /dev/stdin | cut -d' ' -f1,2)" >"$T/signers"
	ssh-keygen -Y verify -f "$T/signers" -I web -n file -s "$T/w/msg.sig" <"$T/w/msg"
	journal '"event":"agent-sign","decision":"allow".*"vault":"u1000","object":"web".*alg=ES256 use=sshsig:file'
	# uid 1001 may not sign with it: not listed
	run as 1001 env SSH_AUTH_SOCK="$T/agent.sock" ssh-add -L
	[[ "$output" != *"u1000/web"* ]]
}

@test "agent: ssh-add -T signs and verifies with each type, each signature recorded" {
	default_policy
	daemon_start
	for t in $TYPES; do
		run ssh-add -T "$K/pub/$t.pub"
		[ "$status" -eq 0 ] || { echo "ssh-add -T $t: $output"; false; }
	done
	journal '"event":"agent-sign","decision":"allow".*"object":"rsa","version":1,"path":"/ssh/rsa alg=RS512 use=other","uid":0'
	[ "$(count '"event":"agent-sign","decision":"allow".*use=other')" -eq 5 ]
	journal '"path":"/ssh/ed25519 alg=EdDSA use=other"'
	journal '"path":"/ssh/p521 alg=ES512 use=other"'
	# uid 1000 with its own key
	run as 1000 env SSH_AUTH_SOCK="$T/agent.sock" ssh-add -T "$T/u1000.pub"
	[ "$status" -eq 0 ]
	journal '"event":"agent-sign","decision":"allow".*"vault":"u1000","object":"k".*"uid":1000'
}

@test "agent: ssh-keygen -Y sign with no private key file, -Y verify against allowed_signers" {
	default_policy
	daemon_start
	for t in $TYPES; do
		[ ! -e "$K/pub/$t" ]
		run sh -c 'ssh-keygen -Y sign -n git -f "$1" - <"$2" >"$3"' sh "$K/pub/$t.pub" \
			"$T/msg" "$T/$t.sig"
		[ "$status" -eq 0 ] || { echo "sign $t: $output"; false; }
		grep -q 'BEGIN SSH SIGNATURE' "$T/$t.sig"
		printf 'dev@example.test %s\n' "$(cat "$K/pub/$t.pub")" >"$T/allowed_signers"
		run sh -c 'ssh-keygen -Y verify -f "$1" -I dev@example.test -n git -s "$2" <"$3"' \
			sh "$T/allowed_signers" "$T/$t.sig" "$T/msg"
		[ "$status" -eq 0 ] || { echo "verify $t: $output"; false; }
		[[ "$output" == *'Good "git" signature for dev@example.test'* ]]
		run sh -c 'ssh-keygen -Y verify -f "$1" -I dev@example.test -n file -s "$2" <"$3"' \
			sh "$T/allowed_signers" "$T/$t.sig" "$T/msg"
		[ "$status" -ne 0 ]
	done
	[ "$(count '"event":"agent-sign","decision":"allow".*use=sshsig:git"')" -eq 5 ]
	# never the data
	! grep -q 'some data to sign' "$T/audit.jsonl" || false
}

@test "agent: git signs a commit through the agent (gpg.format=ssh), verify-commit passes" {
	command -v git >/dev/null || skip "git is not installed"
	default_policy
	daemon_start
	printf 'dev@example.test %s\n' "$(cat "$K/pub/p256.pub")" >"$T/allowed_signers"
	git init -q "$T/repo"
	cd "$T/repo"
	git config user.name dev
	git config user.email dev@example.test
	git config gpg.format ssh
	git config user.signingkey "$K/pub/p256.pub"
	git config gpg.ssh.allowedSignersFile "$T/allowed_signers"
	echo hi >f
	git add f
	run git commit -q -S -m signed
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run git verify-commit HEAD
	[ "$status" -eq 0 ]
	[[ "$output" == *'Good "git" signature for dev@example.test'* ]]
	journal '"event":"agent-sign","decision":"allow".*"path":"/ssh/p256 alg=ES256 use=sshsig:git"'
}

@test "agent: a key restricted by ssh=sig:git signs git only; listed all the same" {
	policy <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow sign /ssh/p256 uid=0 ssh=sig:git
	allow sign /ssh/ed25519 uid=0
	deny sign /ssh/ed25519 ssh=sig:file
	EOF
	daemon_start
	run ssh-add -L
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	run sh -c 'ssh-keygen -Y sign -n git -f "$1" - <"$2" >"$3"' sh "$K/pub/p256.pub" \
		"$T/msg" "$T/sig"
	[ "$status" -eq 0 ]
	run sh -c 'ssh-keygen -Y sign -n file -f "$1" - <"$2" >"$3"' sh "$K/pub/p256.pub" \
		"$T/msg" "$T/sig"
	[ "$status" -ne 0 ]
	journal '"event":"agent-sign","decision":"deny","errno":"EACCES","rule":"default","vault":"ssh","object":"p256".*use=sshsig:file"'
	run ssh-add -T "$K/pub/p256.pub"
	[ "$status" -ne 0 ]
	journal '"decision":"deny".*"path":"/ssh/p256 alg=ES256 use=other"'
	# the deny names the namespace it refuses; others pass
	run sh -c 'ssh-keygen -Y sign -n file -f "$1" - <"$2" >"$3"' sh "$K/pub/ed25519.pub" \
		"$T/msg" "$T/sig"
	[ "$status" -ne 0 ]
	journal '"decision":"deny","errno":"EACCES","rule":"[^"]*10-test.policy:4".*"object":"ed25519"'
	run ssh-add -T "$K/pub/ed25519.pub"
	[ "$status" -eq 0 ]
}

@test "agent: a refused peer gets a failure and is recorded; add, remove, lock refused" {
	default_policy
	daemon_start
	# uid 1000 asks with root's key: not listed, not signed
	run as 1000 env SSH_AUTH_SOCK="$T/agent.sock" \
		sh -c 'ssh-keygen -Y sign -n git -f "$1" - <"$2"' sh "$K/pub/p256.pub" "$T/msg"
	[ "$status" -ne 0 ]
	[[ "$output" != *"BEGIN SSH SIGNATURE"* ]]
	run as 1000 env SSH_AUTH_SOCK="$T/agent.sock" ssh-add -T "$K/pub/p256.pub"
	[ "$status" -ne 0 ]
	journal '"event":"agent-sign","decision":"deny","errno":"ENOENT".*"path":"alg=ES256 use=other".*"uid":1000'
	# add, remove, lock: failure, recorded
	run ssh-add -D
	[ "$status" -ne 0 ]
	run ssh-add "$K/p256.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"agent refused operation"* ]]
	run ssh-add -d "$K/pub/p256.pub"
	[ "$status" -ne 0 ]
	printf '#!/bin/sh\necho pw\n' >"$T/askpass"
	chmod 700 "$T/askpass"
	run env SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force ssh-add -x </dev/null
	[ "$status" -ne 0 ]
	journal '"event":"agent-refused","decision":"deny","errno":"EOPNOTSUPP","rule":"agent".*"path":"add-identity","uid":0'
	journal '"event":"agent-refused".*"path":"remove-all-identities"'
	journal '"event":"agent-refused".*"path":"remove-identity"'
	journal '"event":"agent-refused".*"path":"lock"'
	run ssh-add -L
	[ "${#lines[@]}" -eq 5 ]
}

@test "agent: each signature is decided anew: a key listed, then taken away by a reload, is refused" {
	default_policy
	daemon_start
	/usr/bin/python3 - "$T/agent.sock" "$T/policy.d/10-test.policy" "$DAEMON" \
		"$T/audit.jsonl" >"$T/py.log" 2>&1 <<-'PY' &
	import os, signal, socket, struct, sys, time
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
	def recv(n):
	    b = b""
	    while len(b) < n:
	        c = s.recv(n - len(b))
	        if not c: raise EOFError
	        b += c
	    return b
	def msg(body):
	    s.sendall(struct.pack(">I", len(body)) + body)
	    n, = struct.unpack(">I", recv(4)); return recv(n)
	def string(b): return struct.pack(">I", len(b)) + b
	r = msg(b"\x0b")
	n, = struct.unpack(">I", r[1:5]); bl, = struct.unpack(">I", r[5:9]); blob = r[9:9 + bl]
	print("listed", r[0], n, flush=True)
	sign = b"\x0d" + string(blob) + string(b"data") + struct.pack(">I", 0)
	print("before", msg(sign)[0], flush=True)
	open(sys.argv[2], "w").write("allow list,meta,write,delete,recover,purge,manage /** uid=0\n")
	os.kill(int(sys.argv[3]), signal.SIGHUP)
	for _ in range(100): # until the daemon recorded the reload
	    if '"event":"policy-reload"' in open(sys.argv[4]).read(): break
	    time.sleep(0.1)
	print("after", msg(sign)[0], flush=True)
	PY
	PIDS+=($!)
	wait "${PIDS[0]}"
	cat "$T/py.log"
	grep -q '^listed 12 5$' "$T/py.log"
	grep -q '^before 14$' "$T/py.log"
	grep -q '^after 5$' "$T/py.log"
	journal '"event":"agent-sign","decision":"deny","errno":"ENOENT"'
}

@test "agent: a TPM key signs through the agent" {
	"$KEYS" "$CONF" create ssh tpm ec-p256 tpm >"$T/tpm.pem"
	ssh-keygen -i -m PKCS8 -f "$T/tpm.pem" >"$T/tpm.pub"
	default_policy
	daemon_start
	run ssh-add -L
	[ "${#lines[@]}" -eq 6 ]
	[[ "$output" == *"$(cut -d' ' -f2 "$T/tpm.pub") ssh/tpm"* ]]
	run ssh-add -T "$T/tpm.pub"
	[ "$status" -eq 0 ]
	run sh -c 'ssh-keygen -Y sign -n git -f "$1" - <"$2" >"$3"' sh "$T/tpm.pub" "$T/msg" \
		"$T/sig"
	[ "$status" -eq 0 ]
	printf 'dev@example.test %s\n' "$(cat "$T/tpm.pub")" >"$T/allowed_signers"
	run sh -c 'ssh-keygen -Y verify -f "$1" -I dev@example.test -n git -s "$2" <"$3"' \
		sh "$T/allowed_signers" "$T/sig" "$T/msg"
	[ "$status" -eq 0 ]
	journal '"event":"agent-sign","decision":"allow".*"path":"/ssh/tpm alg=ES256 use=sshsig:git"'
}

@test "agent: stalled and hostile clients block neither the agent, the mount nor the control socket" {
	default_policy
	daemon_start
	python3 - "$T/agent.sock" >"$T/py.log" 2>&1 <<-'PY' &
	import socket, sys, time
	held = []
	# stalled: half a header; half a frame; a request whose reply is never read
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"\0\0"); held.append(s)
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
	s.sendall(b"\0\0\1\0\x0d" + b"x" * 100); held.append(s)
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
	s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
	s.sendall(b"\0\0\0\1\x0b" * 2000); held.append(s)
	print("holding", flush=True)
	time.sleep(30)
	PY
	PIDS+=($!)
	for _ in $(seq 50); do grep -q holding "$T/py.log" && break; sleep 0.1; done
	run ssh-add -L
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	run ls "$T/mnt"
	[ "$status" -eq 0 ]
	run "$VAULTCTL" -c "$CONF" status
	[ "$status" -eq 0 ]
	run python3 - "$T/agent.sock" <<-'PY'
	import socket, sys
	# a frame over 256 KiB: closed without an answer
	big = socket.socket(socket.AF_UNIX); big.connect(sys.argv[1]); big.settimeout(5)
	big.sendall((256 * 1024 + 1).to_bytes(4, "big") + b"\x0b")
	print("closed" if big.recv(16) == b"" else "answered")
	# an unknown message: FAILURE (5)
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
	s.sendall(b"\0\0\0\1\x63"); print(s.recv(16).hex())
	PY
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = closed ]
	[ "${lines[1]}" = 0000000105 ]
}

@test "agent: connections are capped per uid; past the cap a client is closed, not left waiting" {
	default_policy
	daemon_start
	run as 1000 /usr/bin/python3 - "$T/agent.sock" <<-'PY'
	import socket, sys
	held = []
	for i in range(8):
	    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
	# the 9th of this uid: closed at once (end of file), never a hang
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
	try:
	    s.sendall(b"\0\0\0\1\x0b"); print("closed" if s.recv(16) == b"" else "answered")
	except (BrokenPipeError, ConnectionResetError):
	    print("closed")
	# the ones held still answer
	held[0].settimeout(5); held[0].sendall(b"\0\0\0\1\x0b"); print(held[0].recv(5)[4])
	PY
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "${lines[0]}" = closed ]
	[ "${lines[1]}" = 12 ]
	# and root is served meanwhile
	run ssh-add -L
	[ "$status" -eq 0 ]
}

# login KEYTYPE [ssh options...]: ssh as root with that key, through the agent only
login() {
	agent_login "$T/agent.sock" "$@"
}

@test "agent: ssh logs in to an sshd through the agent; the record names the host key" {
	[ -x "$SSHD" ] || skip "no sshd ($SSHD): openssh-server is not installed"
	policy <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow sign /ssh/* uid=0 ssh=login
	EOF
	daemon_start
	start_sshd ecdsa
	fp=$(ssh-keygen -lf "$T/host_key.pub" | cut -d' ' -f2)
	fp=${fp//+/\\+} # a regex
	for t in ed25519 p256 rsa; do
		run login "$t"
		[ "$status" -eq 0 ] || { echo "$t: $output"; false; }
		[[ "$output" == *"logged-in-$t"* ]]
	done
	journal "\"decision\":\"allow\".*\"path\":\"/ssh/ed25519 alg=EdDSA use=login:root dest=$fp\""
	journal "\"decision\":\"allow\".*\"path\":\"/ssh/rsa alg=RS512 use=login:root dest=$fp\""
	# login only: the same key signs nothing else
	run sh -c 'ssh-keygen -Y sign -n git -f "$1" - <"$2"' sh "$K/pub/p256.pub" "$T/msg"
	[ "$status" -ne 0 ]
}

@test "agent: a key restricted to ssh=sig:git cannot log in" {
	[ -x "$SSHD" ] || skip "no sshd ($SSHD): openssh-server is not installed"
	policy <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow sign /ssh/* uid=0 ssh=sig:git
	EOF
	daemon_start
	start_sshd ed25519
	run login p256
	[ "$status" -ne 0 ]
	journal '"decision":"deny","errno":"EACCES".*"path":"/ssh/p256 alg=ES256 use=login:root dest=SHA256:'
}
