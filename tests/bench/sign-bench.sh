#!/usr/bin/env bash
# sign-bench.sh: signatures per second through vaultfsd's control socket and ssh-agent socket
# for Ed25519, P-256 and RSA-2048 software keys and a P-256 TPM key, each as a ratio to
# OpenSSL's own speed for the key type in this process, in the same run (`make bench`;
# tests/bench/bench-sign.c measures). One temp dir on disk, a private swtpm, a store, a policy
# granting root sign on the keys, the journal in batch mode, vaultfsd with its agent socket.
# It measures: no figure makes it fail. Knobs: BENCH_SIGN_SECONDS per path (2), BENCH_SIGN_WRAP
# (a command bench-sign runs under, e.g. one that perf-records the daemon meanwhile), BENCH_DIR
# (/var/tmp), BENCH_SIGN_KEYS (the keys measured, of the four made: "b/ed:ed25519:EdDSA
# b/p256:ec-p256:ES256 b/rsa:rsa-2048:RS256 b/p256-tpm:ec-p256:ES256"), BENCH_SIGN_AGENT_ONLY
# (set: not the control socket). Everything it starts is stopped and removed on exit.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$top/build}
SECS=${BENCH_SIGN_SECONDS:-2}
export TSS2_LOG=all+NONE
for p in "$BUILD/vaultctl" "$BUILD/vaultfsd" "$BUILD/tests/bench-sign"; do
	[ -x "$p" ] || { echo "sign-bench: $p is not built (make bench)" >&2; exit 2; }
done
if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
	echo "sign-bench: skipped: needs root and /dev/fuse"
	exit 0
fi
# shellcheck source=tests/lib/swtpm.sh
. "$top/tests/lib/swtpm.sh"
# shellcheck source=tests/lib/conf.sh
. "$top/tests/lib/conf.sh"

T=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vaultfs-signbench.XXXXXX")
DAEMON=
cleanup() {
	if [ -n "$DAEMON" ]; then
		kill -TERM "$DAEMON" 2>/dev/null || true
		wait "$DAEMON" 2>/dev/null || true
	fi
	grep -q " $T/mnt " /proc/mounts && { fusermount3 -u "$T/mnt" || umount -l "$T/mnt"; } || true
	swtpm_stop "$T/tpm" 2>/dev/null || true
	rm -rf -- "$T"
}
trap cleanup EXIT

swtpm_start "$T/tpm" >/dev/null
mkdir -m 0700 "$T/policy.d"
mkdir -p "$T/mnt"
vaultfs_conf "$T" "$SWTPM_TCTI" >"$T/vaultfs.conf"
cat >>"$T/vaultfs.conf" <<CONF
[agent]
socket = $T/agent.sock
CONF
echo 'allow list,meta,sign /b/** uid=0' >"$T/policy.d/10-bench.policy"
ctl() { "$BUILD/vaultctl" -c "$T/vaultfs.conf" --offline "$@" >/dev/null 2>&1; }
ctl init --recovery-key-file "$T/recovery.key" 2>/dev/null
ctl vault create b
ctl key create b/ed --type ed25519
ctl key create b/p256 --type ec-p256
ctl key create b/rsa --type rsa-2048
ctl key create b/p256-tpm --type ec-p256 --protection tpm
"$BUILD/vaultfsd" -c "$T/vaultfs.conf" >"$T/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 200); do
	[ -S "$T/agent.sock" ] && [ -S "$T/control.sock" ] && break
	sleep 0.05
done
echo "sign-bench: one request at a time, $SECS s per path; ratio = path / in-process OpenSSL"
${BENCH_SIGN_WRAP:-} "$BUILD/tests/bench-sign" "$T/control.sock" "$T/agent.sock" "$SECS" \
	${BENCH_SIGN_KEYS:-b/ed:ed25519:EdDSA b/p256:ec-p256:ES256 b/rsa:rsa-2048:RS256 \
		b/p256-tpm:ec-p256:ES256}
