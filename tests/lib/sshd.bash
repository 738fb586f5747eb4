# sshd.bash: OpenSSH for the agent tests (86-agent-demo.bats, 87-agent.bats): test keys made by
# openssl with their public halves derived independently of vaultfs, an sshd started by hand on
# 127.0.0.1 in a mount namespace of its own (the host's /etc/passwd and /run are left as they
# are), and an ssh login through an agent only. See /work/shared/REAL-CLIENTS.md (OpenSSH).

# the sshd of the login tests (openssh-server; VAULTFS_TEST_SSHD names another, e.g. a wrapper of
# one unpacked from its .deb)
SSHD=${VAULTFS_TEST_SSHD:-/usr/sbin/sshd}
TYPES="ed25519 p256 p384 p521 rsa"

# agent_test_keys DIR: a private key of each of $TYPES as DIR/TYPE.pem (openssl), and their
# public halves as DIR/pub/TYPE.pub, in a directory with no private key beside them: derived by
# ssh-keygen -y, Ed25519's (which ssh-keygen 9.2 cannot read from PEM) by hand from the DER.
agent_test_keys() {
	local k=$1 c t

	openssl genpkey -algorithm ED25519 -out "$k/ed25519.pem" 2>/dev/null
	for c in 256 384 521; do
		openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:P-$c" \
			-out "$k/p$c.pem" 2>/dev/null
	done
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/rsa.pem" 2>/dev/null
	chmod 600 "$k"/*.pem
	mkdir "$k/pub"
	for t in p256 p384 p521 rsa; do
		ssh-keygen -y -f "$k/$t.pem" >"$k/pub/$t.pub"
	done
	{
		printf 'ssh-ed25519 '
		{
			printf '\0\0\0\013ssh-ed25519\0\0\0\040'
			openssl pkey -in "$k/ed25519.pem" -pubout -outform DER | tail -c 32
		} | base64 -w0
		echo
	} >"$k/pub/ed25519.pub"
}

# start_sshd HOSTKEYTYPE: sshd on 127.0.0.1:$PORT accepting the keys of $K/pub for root (its
# pid in SSHD_PID and $T/sshd.pid, added to PIDS), in a mount namespace of its own where
# /etc/passwd has the privilege separation user and /run/sshd exists; another port when the one
# picked is taken.
start_sshd() {
	local try
	ssh-keygen -q -t "$1" -N '' -f "$T/host_key"
	{ cat /etc/passwd; echo 'sshd:x:65533:65534::/run/sshd:/usr/sbin/nologin'; } >"$T/passwd"
	cat "$K"/pub/*.pub >"$T/authorized_keys"
	for try in 1 2 3; do
		PORT=$((20000 + RANDOM % 20000))
		cat >"$T/sshd_config" <<-EOF
		ListenAddress 127.0.0.1
		Port $PORT
		HostKey $T/host_key
		PidFile $T/sshd.pid
		AuthorizedKeysFile $T/authorized_keys
		StrictModes no
		UsePAM no
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		EOF
		unshare -m --propagation private sh -c 'mount --bind "$1/passwd" /etc/passwd &&
			mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd &&
			exec "$2" -D -e -f "$1/sshd_config"' sh "$T" "$SSHD" >"$T/sshd.log" 2>&1 &
		SSHD_PID=$!
		PIDS+=($SSHD_PID)
		for _ in $(seq 100); do
			grep -q 'Server listening' "$T/sshd.log" && return 0
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.1
		done
		cat "$T/sshd.log" >&2
		kill "$SSHD_PID" 2>/dev/null || true
	done
	return 1
}

# agent_login SOCK KEYTYPE [ssh options...]: ssh as root to start_sshd's sshd with that key,
# through the agent at SOCK only
agent_login() {
	local sock=$1 t=$2

	shift 2
	ssh -F /dev/null -p "$PORT" -o IdentityAgent="$sock" -o IdentitiesOnly=yes \
		-i "$K/pub/$t.pub" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o BatchMode=yes "$@" root@127.0.0.1 echo "logged-in-$t"
}
