#!/usr/bin/env bats
# The TPM's dictionary-attack (DA) lockout, which power losses alone bring about (each
# non-orderly start counts a failed try of any DA-protected object used since): stores sealed
# with noDA (all since it came) do not care; a store sealed before noDA is refused by name, with
# TSS2's words and the command that clears the lockout, in vaultfsd's error, status and doctor,
# and once the lockout is cleared its next unseal seals it anew with noDA. Also TSS2's words on
# a TPM that does not answer. The lockout is forced with tpm2-tools: one try allowed, then one
# failed authorization of a DA-protected object.

load helpers

setup() {
	vault_setup
	mkdir -m 0700 "$T/policy.d"
	echo 'allow list,meta,write,delete,recover,purge,manage /** uid=0' >"$T/policy.d/00-default.policy"
	init_store
	vctl vault create app
	printf 'lockout-value' | vctl secret set app/x
	DAEMON=
	export TSS2_LOG=all+NONE
}

teardown() {
	daemon_stop
	vault_teardown
}

tpm() {
	"$@" -T "$TCTI"
}

# The TPM template attributes of core/tpm.c: the primary (before noDA) and the sealed object.
PRIMARY_ATTRS='restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth'
SEALED_ATTRS='fixedtpm|fixedparent|userwithauth'

# seal_tpm_hex: the store's "seal.tpm" blob, in hex: "VFTPMn", the PCR mask (4 bytes), then the
# TPM2B_PUBLIC and TPM2B_PRIVATE of the sealed object
seal_tpm_hex() {
	sqlite3 "$T/vault.db" "select hex(value) from meta where key = 'seal.tpm'"
}

# blob_split HEX DIR: the blob's public and private areas into DIR/obj.pub and DIR/obj.priv
blob_split() {
	local hex=${1:20} dir=$2 publen

	publen=$((16#${hex:0:4}))
	xxd -r -p <<<"${hex:0:$((4 + 2 * publen))}" >"$dir/obj.pub"
	xxd -r -p <<<"${hex:$((4 + 2 * publen))}" >"$dir/obj.priv"
}

# make_legacy: turn the store into one sealed before noDA: unseal T with tpm2-tools from the
# current blob, seal it again as core/tpm.c did ("VFTPM1", primary and object without noDA).
make_legacy() {
	local d=$T/legacy hex

	mkdir -m 0700 "$d"
	blob_split "$(seal_tpm_hex)" "$d"
	tpm tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -a "$PRIMARY_ATTRS|noda" \
		-c "$d/p.ctx"
	tpm tpm2_load -Q -C "$d/p.ctx" -u "$d/obj.pub" -r "$d/obj.priv" -c "$d/o.ctx"
	tpm tpm2_flushcontext -t
	tpm tpm2_unseal -c "$d/o.ctx" -o "$d/t.bin"
	tpm tpm2_flushcontext -t
	tpm tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -a "$PRIMARY_ATTRS" \
		-c "$d/p1.ctx"
	tpm tpm2_create -Q -C "$d/p1.ctx" -g sha256 -i "$d/t.bin" -a "$SEALED_ATTRS" \
		-u "$d/old.pub" -r "$d/old.priv"
	tpm tpm2_flushcontext -t
	rm -f "$d/t.bin"
	hex=$(printf VFTPM1 | xxd -p)00000000$(xxd -p -c 4096 "$d/old.pub")$(xxd -p -c 4096 "$d/old.priv")
	sqlite3 "$T/vault.db" "update meta set value = X'$hex' where key = 'seal.tpm'"
	[[ $(seal_tpm_hex) == "$(printf VFTPM1 | xxd -p -u)"* ]]
}

# force_lockout: one try allowed, then a wrong password for a DA-protected object
force_lockout() {
	local d

	d=$(mktemp -d "$T/da.XXXXXX")
	tpm tpm2_dictionarylockout -s -n 1 -t 1000 -l 1000
	tpm tpm2_createprimary -Q -C o -c "$d/p.ctx"
	echo secret | tpm tpm2_create -Q -C "$d/p.ctx" -p right -i - -u "$d/o.pub" -r "$d/o.priv"
	tpm tpm2_flushcontext -t
	tpm tpm2_load -Q -C "$d/p.ctx" -u "$d/o.pub" -r "$d/o.priv" -c "$d/o.ctx"
	tpm tpm2_flushcontext -t
	! tpm tpm2_unseal -c "$d/o.ctx" -p wrong >/dev/null 2>&1 || false
	tpm tpm2_flushcontext -t
	tpm tpm2_getcap properties-variable | grep -q 'inLockout: *1'
}

clear_lockout() {
	tpm tpm2_dictionarylockout -c
	tpm tpm2_getcap properties-variable | grep -q 'inLockout: *0'
}

@test "a store sealed with noDA serves while the TPM is in DA lockout; status and doctor name the lockout" {
	[[ $(seal_tpm_hex) == "$(printf VFTPM2 | xxd -p -u)"* ]]
	blob_split "$(seal_tpm_hex)" "$T"
	tpm2_print -t TPM2B_PUBLIC "$T/obj.pub" | grep -q 'noda'
	force_lockout
	[ "$(vctl secret get app/x)" = lockout-value ]
	daemon_start
	run ctl status
	echo "$output"
	[[ $output == *"tpm:     tcti $TCTI; "*"IN DICTIONARY-ATTACK LOCKOUT (1 of 1 failed tries)"* ]]
	[[ $output == *"tpm2_dictionarylockout --clear-lockout -T $TCTI"* ]]
	run ctl doctor
	echo "$output"
	[[ $output == *"TPM not in dictionary-attack lockout (1 of 1 failed tries)"* ]]
	[[ $output == *"tpm2_dictionarylockout --clear-lockout"* ]]
	[[ $output == *"master key unseals here"* ]]
	[[ $output != *"master key unseals here:"* ]]
	daemon_stop
	clear_lockout
	run ctl status
	[[ $output == *"no dictionary-attack lockout (0 of 1 failed tries)"* ]]
}

@test "a store sealed before noDA: a lockout is named with TSS2's words; cleared, the next unseal re-seals it with noDA" {
	make_legacy
	! ctl status | grep -q LOCKOUT || false
	force_lockout
	! daemon_start || false
	echo "$(cat "$T/daemon.log")"
	grep -q "Failed to unseal the master key" "$T/daemon.log"
	grep -q "tss2: Esys_Load: .*DA lockout mode" "$T/daemon.log"
	grep -q "tpm2_dictionarylockout --clear-lockout" "$T/daemon.log"
	run ctl doctor
	echo "$output"
	[[ $output == *"master key unseals here: the TPM is in dictionary-attack lockout [tss2: Esys_Load: "*"DA lockout mode"* ]]
	[[ $output == *"the store was sealed before noDA: clear the lockout with \`tpm2_dictionarylockout --clear-lockout\`"* ]]
	run vctl secret get app/x
	[ "$status" -ne 0 ]
	[[ $output == *"dictionary-attack lockout"*"--clear-lockout"*"[tss2: Esys_Load: "* ]]
	# still the old blob: nothing was re-sealed
	[[ $(seal_tpm_hex) == "$(printf VFTPM1 | xxd -p -u)"* ]]

	clear_lockout
	[ "$(vctl secret get app/x)" = lockout-value ]
	[[ $(seal_tpm_hex) == "$(printf VFTPM2 | xxd -p -u)"* ]]
	blob_split "$(seal_tpm_hex)" "$T"
	tpm2_print -t TPM2B_PUBLIC "$T/obj.pub" | grep -q 'noda'
	# and now a lockout does not stop it
	force_lockout
	daemon_start
	[ "$(ls "$T/mnt/app")" = x ]
	daemon_stop
	clear_lockout
}

@test "a TPM that does not answer: vaultfsd's and doctor's error lines end with TSS2's words" {
	swtpm_stop "$T/tpm"
	! daemon_start || false
	cat "$T/daemon.log"
	grep -q "Failed to unseal the master key.*TPM not reachable \[tss2: Tss2_TctiLdr_Initialize: tcti:" "$T/daemon.log"
	run ctl doctor
	echo "$output"
	[[ $output == *"master key unseals here: No such device [tss2: Tss2_TctiLdr_Initialize: tcti:"* ]]
}
