#!/usr/bin/env bats
# Several clients of one software TPM, which has no resource manager: parallel offline gets all
# unseal the master key, and a vaultctl killed in mid-unseal (its objects and sessions left loaded
# in the TPM) does not break the ones that come after it.

load helpers

VALUE=tpm-concurrency-value

setup() {
	vault_setup
	init_store
	vctl vault create app
	printf %s "$VALUE" | vctl secret set app/x
}

teardown() {
	vault_teardown
}

# parallel_gets N: N offline gets at once; each must exit 0 and print the value.
parallel_gets() {
	local n=$1 i status
	local -a pids=()

	for ((i = 0; i < n; i++)); do
		vctl secret get app/x >"$T/out.$i" 2>"$T/err.$i" &
		pids+=($!)
	done
	for ((i = 0; i < n; i++)); do
		status=0
		wait "${pids[$i]}" || status=$?
		if [[ $status -ne 0 ]]; then
			echo "get $i exited $status: $(cat "$T/err.$i")" >&2
			return 1
		fi
		if [[ $(<"$T/out.$i") != "$VALUE" ]]; then
			echo "get $i printed '$(<"$T/out.$i")'" >&2
			return 1
		fi
	done
}

# The TPM's transient objects and loaded sessions, one handle a line (nothing when clean).
tpm_leftovers() {
	tpm2_getcap -T "$TCTI" handles-transient
	tpm2_getcap -T "$TCTI" handles-loaded-session
}

@test "8 parallel offline gets, 5 rounds: all exit 0 with the value" {
	local round

	for round in 1 2 3 4 5; do
		parallel_gets 8 || { echo "in round $round" >&2; false; }
	done
	run tpm_leftovers
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# They took turns on the lock: a 0600 file of ours.
	[ "$(stat -c '%a %u' "$(tpm_lock_file "$TCTI")")" = "600 $(id -u)" ]
}

@test "gets killed with SIGKILL at random times do not break later gets" {
	local i pid ms status killed=0 left=0

	# A get takes some 20 ms here (more under ASan): kill it anywhere in its first 60 ms.
	for ((i = 0; i < 40; i++)); do
		"$VAULTCTL" -c "$CONF" --offline secret get app/x >/dev/null 2>&1 &
		pid=$!
		ms=$((RANDOM % 60))
		sleep "0.$(printf %03d "$ms")"
		kill -KILL "$pid" 2>/dev/null || true
		status=0
		wait "$pid" 2>/dev/null || status=$?
		# Killed (128 + 9), or finished: then it must have worked, whatever the one
		# before it left in the TPM.
		[[ $status -eq 0 || $status -eq 137 ]]
		if [[ $status -eq 137 ]]; then
			killed=$((killed + 1))
			[[ -n $(tpm_leftovers) ]] && left=$((left + 1))
		fi
	done
	echo "# $killed of 40 gets killed, $left leaving objects or sessions in the TPM" >&3

	parallel_gets 8
	[ "$(vctl secret get app/x)" = "$VALUE" ]
	# The gets flushed whatever the killed ones left; and they leave nothing themselves.
	run tpm_leftovers
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
