# helpers.bash: common setup for the integration suites. Each test gets its own temp dir, its own
# software TPM (tests/lib/swtpm.sh), its own config and store; teardown always stops the TPM and
# removes the dir. Sourced by every tests/bats/*.bats file.

VAULTFS_TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
VAULTFS_BUILD=${VAULTFS_BUILD:-$VAULTFS_TOP/build}
VAULTCTL=$VAULTFS_BUILD/vaultctl
export TSS2_LOG=all+NONE
# shellcheck source=tests/lib/swtpm.sh
. "$VAULTFS_TOP/tests/lib/swtpm.sh"

# write_config FILE TCTI [extra "section key value" triples as lines]
write_config() {
	local file=$1 tcti=$2
	cat >"$file" <<-CONF
	[store]
	path = $T/vault.db
	[seal]
	sealer = tpm2
	tcti = $tcti
	host_key = $T/host.key
	[fs]
	mountpoint = $T/mnt
	[policy]
	dir = $T/policy.d
	[audit]
	path = $T/audit.jsonl
	sync = batch
	[control]
	socket = $T/control.sock
	CONF
}

# vault_setup: temp dir, swtpm, config at $CONF. Does not init the store.
vault_setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-test.XXXXXX")
	swtpm_start "$T/tpm"
	TCTI=$SWTPM_TCTI
	CONF=$T/vaultfs.conf
	write_config "$CONF" "$TCTI"
}

# tpm_lock_file TCTI: the lock file core/tpm.c takes for a TPM without a resource manager
# (FNV-1a 64 of the TCTI string)
tpm_lock_file() {
	local s=$1 h=$((0xcbf29ce484222325)) c i

	for ((i = 0; i < ${#s}; i++)); do
		printf -v c %d "'${s:i:1}"
		h=$(((h ^ c) * 0x100000001b3))
	done
	printf '/run/lock/vaultfs-tpm-%016x.lock' "$h"
}

vault_teardown() {
	[ -n "${T:-}" ] || return 0
	[ -n "${TCTI:-}" ] && rm -f -- "$(tpm_lock_file "$TCTI")"
	[ -n "${SWTPM_TCTI:-}" ] && rm -f -- "$(tpm_lock_file "$SWTPM_TCTI")"
	swtpm_stop "$T/tpm2" 2>/dev/null || true
	swtpm_stop "$T/tpm" || true
	rm -rf -- "$T"
}

# vctl ARGS...: vaultctl with this test's config, offline.
vctl() {
	"$VAULTCTL" -c "$CONF" --offline "$@"
}

# init_store [ARGS...]: init with the recovery key saved in $T/recovery.key
init_store() {
	"$VAULTCTL" -c "$CONF" init --recovery-key-file "$T/recovery.key" "$@"
}
