# conf.sh: the one vaultfs.conf the tests and benchmarks start from (sourced). vaultfs_conf DIR
# TCTI [SEALER] prints it on stdout: the store, journal (sync batch), policy dir, mount and
# control socket all under DIR, sealed by SEALER (default tpm2) on the TPM at TCTI. A caller
# appends the sections it needs beyond these ([agent], [fleet], ...).
vaultfs_conf() {
	local dir=$1 tcti=$2 sealer=${3:-tpm2}
	cat <<-CONF
	[store]
	path = $dir/vault.db
	[seal]
	sealer = $sealer
	tcti = $tcti
	host_key = $dir/host.key
	[fs]
	mountpoint = $dir/mnt
	[policy]
	dir = $dir/policy.d
	[audit]
	path = $dir/audit.jsonl
	sync = batch
	[control]
	socket = $dir/control.sock
	CONF
}
