#!/usr/bin/env bats
# The ssh-agent engine (core/agent.c) with real, unmodified OpenSSH clients: tests/unit/agent-demo
# serves it on a unix socket with a backend of PEM keys made here by openssl, and ssh-add and
# ssh-keygen -Y talk to it through SSH_AUTH_SOCK. The public halves are derived here
# independently (ssh-keygen -y; Ed25519, which ssh-keygen 9.2 cannot read from PEM, by hand from
# the DER), never from the engine's own answer. The daemon's agent socket is tested with the
# daemon; this is the engine alone.

load ../lib/sshd

DEMO=${VAULTFS_BUILD:-$BATS_TEST_DIRNAME/../../build}/tests/agent-demo

setup_file() {
	[ -x "$DEMO" ] || return 0
	K=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-agentkeys.XXXXXX")
	export K
	agent_test_keys "$K"
}

teardown_file() {
	[ -n "${K:-}" ] && rm -rf -- "$K"
	return 0
}

# start_demo [ARGS...]: the demo on $T/sock with every key, its decisions in $T/log
start_demo() {
	"$DEMO" "$@" "$T/sock" "$K"/ed25519.pem "$K"/p256.pem "$K"/p384.pem "$K"/p521.pem \
		"$K"/rsa.pem >"$T/log" 2>&1 &
	echo $! >"$T/pid"
	for _ in $(seq 50); do
		grep -q '^ready$' "$T/log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '^ready$' "$T/log"
	export SSH_AUTH_SOCK=$T/sock
}

setup() {
	[ -x "$DEMO" ] || skip "$DEMO is not built (make $DEMO)"
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-agent.XXXXXX")
	echo "some data to sign" >"$T/msg"
}

teardown() {
	[ -n "${T:-}" ] || return 0
	if [ -f "$T/sshd.pid" ]; then
		kill "$(cat "$T/sshd.pid")" 2>/dev/null || true
	fi
	if [ -f "$T/pid" ]; then
		kill "$(cat "$T/pid")" 2>/dev/null || true
		wait "$(cat "$T/pid")" 2>/dev/null || true
	fi
	rm -rf -- "$T"
}

@test "agent-demo: ssh-add -L lists exactly the backend's keys" {
	start_demo
	run ssh-add -L
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	printf '%s\n' "${lines[@]}" | cut -d' ' -f1,2 | sort >"$T/listed"
	cat "$K"/pub/*.pub | cut -d' ' -f1,2 | sort >"$T/want"
	diff "$T/listed" "$T/want"
	[[ "$output" == *"ssh-rsa "*" rsa.pem"* ]]
}

@test "agent-demo: ssh-add -T signs and verifies with each type" {
	start_demo
	for t in $TYPES; do
		run ssh-add -T "$K/pub/$t.pub"
		[ "$status" -eq 0 ] || { echo "ssh-add -T $t: $output"; false; }
	done
	# RSA without flags (as ssh-add -T asks) is answered with rsa-sha2-512, never SHA-1
	grep -q '^sign rsa.pem rsa-sha2-512 other ' "$T/log"
	[ "$(grep -c ' other .*decision=allow' "$T/log")" -eq 5 ]
}

@test "agent-demo: ssh-keygen -Y sign with no private key file, -Y verify passes" {
	start_demo
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
		# and not under another namespace, nor over other data
		run sh -c 'ssh-keygen -Y verify -f "$1" -I dev@example.test -n file -s "$2" <"$3"' \
			sh "$T/allowed_signers" "$T/$t.sig" "$T/msg"
		[ "$status" -ne 0 ]
		echo tampered >>"$T/msg2"
		run sh -c 'ssh-keygen -Y verify -f "$1" -I dev@example.test -n git -s "$2" <"$3"' \
			sh "$T/allowed_signers" "$T/$t.sig" "$T/msg2"
		[ "$status" -ne 0 ]
	done
	# the engine saw SSHSIG data and its namespace, for each key
	[ "$(grep -c ' sshsig ns=git hash=sha512 .*decision=allow' "$T/log")" -eq 5 ]
}

@test "agent-demo: git signs a commit through the agent (gpg.format=ssh), verify-commit passes" {
	command -v git >/dev/null || skip "git is not installed"
	start_demo
	printf 'dev@example.test %s\n' "$(cat "$K/pub/ed25519.pub")" >"$T/allowed_signers"
	git init -q "$T/repo"
	cd "$T/repo"
	git config user.name dev
	git config user.email dev@example.test
	git config gpg.format ssh
	git config user.signingkey "$K/pub/ed25519.pub"
	git config gpg.ssh.allowedSignersFile "$T/allowed_signers"
	echo hi >f
	git add f
	run git commit -q -S -m signed
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run git verify-commit HEAD
	[ "$status" -eq 0 ]
	[[ "$output" == *'Good "git" signature for dev@example.test'* ]]
	grep -q '^sign ed25519.pem ssh-ed25519 sshsig ns=git ' "$T/log"
}

@test "agent-demo: a key restricted to a namespace signs that namespace only" {
	start_demo --only-namespace git
	run sh -c 'ssh-keygen -Y sign -n git -f "$1" - <"$2" >"$3"' sh "$K/pub/p256.pub" \
		"$T/msg" "$T/sig"
	[ "$status" -eq 0 ]
	run sh -c 'ssh-keygen -Y sign -n file -f "$1" - <"$2" >"$3"' sh "$K/pub/p256.pub" \
		"$T/msg" "$T/sig"
	[ "$status" -ne 0 ]
	run ssh-add -T "$K/pub/ed25519.pub"
	[ "$status" -ne 0 ]
	[[ "$output" == *"agent refused operation"* ]]
	grep -q ' sshsig ns=file .*decision=deny' "$T/log"
	grep -q '^sign ed25519.pem ssh-ed25519 other .*decision=deny' "$T/log"
}

@test "agent-demo: add, remove and lock get a failure and are reported" {
	start_demo
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
	run env SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force ssh-add -X </dev/null
	[ "$status" -ne 0 ]
	grep -q '^refused 19 remove-all-identities$' "$T/log"
	grep -q '^refused 17 add-identity$' "$T/log"
	grep -q '^refused 18 remove-identity$' "$T/log"
	grep -q '^refused 22 lock$' "$T/log"
	grep -q '^refused 23 unlock$' "$T/log"
	# the keys are all still there
	run ssh-add -L
	[ "${#lines[@]}" -eq 5 ]
}

@test "agent-demo: an oversized frame closes the connection; a stalled client blocks no one" {
	start_demo
	run python3 - "$T/sock" <<-'PY'
	import socket, sys, time
	# a stalled client: half a header, then nothing
	stall = socket.socket(socket.AF_UNIX); stall.connect(sys.argv[1]); stall.sendall(b"\0\0")
	# a frame over 256 KiB: the agent closes without an answer
	big = socket.socket(socket.AF_UNIX); big.connect(sys.argv[1])
	big.sendall((256 * 1024 + 1).to_bytes(4, "big") + b"\x0b")
	big.settimeout(5)
	print("closed" if big.recv(16) == b"" else "answered")
	# an unknown message: FAILURE (5)
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
	s.sendall(b"\0\0\0\1\x63"); print(s.recv(16).hex())
	PY
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = closed ]
	[ "${lines[1]}" = 0000000105 ]
	run ssh-add -L
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
}

# login KEYTYPE [ssh options...]: ssh as root with that key, through the agent only
login() {
	agent_login "$T/sock" "$@"
}

@test "agent-demo: ssh logs in through the agent; session-bind names the host key" {
	[ -x "$SSHD" ] || skip "no sshd ($SSHD): openssh-server is not installed"
	for hk in ecdsa ed25519 rsa; do
		start_demo
		start_sshd "$hk"
		fp=$(ssh-keygen -lf "$T/host_key.pub" | cut -d' ' -f2)
		for t in ed25519 p256 rsa; do
			run login "$t"
			[ "$status" -eq 0 ] || { echo "$hk/$t: $output"; false; }
			[[ "$output" == *"logged-in-$t"* ]]
		done
		run login rsa -o PubkeyAcceptedAlgorithms=rsa-sha2-256
		[ "$status" -eq 0 ]
		# each signature was a login, hostbound, to the host key the client verified
		[ "$(grep -c " login .*user=root hostbound=1 dest=$fp decision=allow" "$T/log")" -eq 4 ]
		grep -q '^sign rsa.pem rsa-sha2-256 login ' "$T/log"
		kill "$(cat "$T/sshd.pid")" "$(cat "$T/pid")"
		wait "$(cat "$T/pid")" 2>/dev/null || true
		rm -f "$T/sshd.pid" "$T/pid" "$T/host_key" "$T/host_key.pub" "$T/sock"
	done
}

@test "agent-demo: a key restricted to a namespace cannot log in" {
	[ -x "$SSHD" ] || skip "no sshd ($SSHD): openssh-server is not installed"
	start_demo --only-namespace git
	start_sshd ecdsa
	run login p256
	[ "$status" -ne 0 ]
	grep -q '^sign p256.pem ecdsa-sha2-nistp256 login .*decision=deny' "$T/log"
}
