# shellcheck shell=bash
# swtpm.sh: start and stop a private software TPM (swtpm) for the tests. Source it, then
# `swtpm_start DIR` starts one whose state lives in DIR/state, listening on 127.0.0.1 only on two
# free ports (TPM commands on P, control channel on P+1), waits until it answers, and exports
# SWTPM_TCTI ("swtpm:host=127.0.0.1,port=P"), SWTPM_PID and SWTPM_DIR. `swtpm_stop [DIR]` stops
# the instance of DIR (default: the one named by SWTPM_PID) and waits for it to exit, after a
# TPM2_Shutdown(CLEAR), as an OS sends one before power-off: without it the next start is a
# non-orderly one, which a TPM counts as a failed try of any DA-protected object used since (3
# such stops and swtpm is in dictionary-attack lockout). It is safe to call twice or when
# nothing was started. `swtpm_kill [DIR]` stops it as a power loss would: no TPM2_Shutdown. Several instances, each in its own DIR, may run at
# the same time (save SWTPM_TCTI before starting the next). This file never stops a process it
# did not start: a pid is signalled only if that process is an swtpm serving that DIR.

# Is TCP port $1 free on this host (no listener on any address)?
swtpm_port_free_() {
	! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# Does pid $1 belong to an swtpm whose state is in directory $2?
swtpm_pid_is_ours_() {
	local pid=$1 dir=$2 cmdline

	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmdline == swtpm\ * || $cmdline == */swtpm\ * ]] || return 1
	[[ $cmdline == *"dir=$dir/state "* ]]
}

# Start a private swtpm in directory $1. Returns non-zero (and prints why) on failure.
swtpm_start() {
	local dir=${1:-} port ctrl try pid i

	if [[ -z $dir ]]; then
		echo "swtpm_start: usage: swtpm_start DIR" >&2
		return 2
	fi
	if ! command -v swtpm >/dev/null || ! command -v swtpm_ioctl >/dev/null; then
		echo "swtpm_start: swtpm and swtpm_ioctl are needed (apt-get install swtpm swtpm-tools)" >&2
		return 1
	fi
	mkdir -p "$dir/state" || return 1
	dir=$(cd "$dir" && pwd) || return 1

	for ((try = 0; try < 20; try++)); do
		port=$((20000 + ((RANDOM << 15) | RANDOM) % 39999))
		ctrl=$((port + 1))
		if ! swtpm_port_free_ "$port" || ! swtpm_port_free_ "$ctrl"; then
			continue
		fi
		rm -f "$dir/swtpm.pid"
		# With --daemon, swtpm binds both sockets before it forks, so a port taken since the
		# check above shows up as a failed start: try other ports.
		swtpm socket --tpm2 --tpmstate "dir=$dir/state" \
			--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$ctrl,bindaddr=127.0.0.1" \
			--flags not-need-init,startup-clear \
			--log "file=$dir/swtpm.log" \
			--daemon --pid "file=$dir/swtpm.pid" 2>>"$dir/swtpm.err" || continue

		pid=
		for ((i = 0; i < 100; i++)); do
			[[ -z $pid && -s $dir/swtpm.pid ]] && pid=$(<"$dir/swtpm.pid")
			if [[ -n $pid ]] &&
				swtpm_ioctl --tcp "127.0.0.1:$ctrl" -e >/dev/null 2>&1; then
				export SWTPM_TCTI="swtpm:host=127.0.0.1,port=$port"
				export SWTPM_PID=$pid
				export SWTPM_DIR=$dir
				return 0
			fi
			sleep 0.05
		done
		# It started but never answered: stop it and try again elsewhere.
		swtpm_kill "$dir"
	done
	echo "swtpm_start: could not start swtpm in '$dir' (see $dir/swtpm.err, $dir/swtpm.log)" >&2
	return 1
}

# Send TPM2_Shutdown(CLEAR) to the swtpm of pid $1 (its command port is read from its command
# line): with tpm2_shutdown (tpm2-tools) if there is one, else as the 12 bytes of the command
# over bash's /dev/tcp. Returns non-zero when the TPM did not answer success.
swtpm_shutdown_() {
	local pid=$1 cmdline port fd resp

	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmdline =~ --server\ type=tcp,port=([0-9]+) ]] || return 1
	port=${BASH_REMATCH[1]}
	if command -v tpm2_shutdown >/dev/null; then
		TSS2_LOG=all+NONE tpm2_shutdown --clear -T "swtpm:host=127.0.0.1,port=$port" \
			>/dev/null 2>&1
		return
	fi
	# tag TPM_ST_NO_SESSIONS, size 12, TPM_CC_Shutdown, TPM_SU_CLEAR; the answer: 10 bytes,
	# response code 0
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf '\x80\x01\x00\x00\x00\x0c\x00\x00\x01\x45\x00\x00' >&"$fd"
	resp=$(timeout 5 head -c 10 <&"$fd" | od -An -tx1 | tr -d ' \n')
	exec {fd}>&-
	[[ $resp == 80010000000a00000000 ]]
}

# Stop the swtpm of directory $1 (or of SWTPM_PID/SWTPM_DIR), after a TPM2_Shutdown, and wait
# until it is gone.
swtpm_stop() {
	swtpm_stop_ shutdown "$@"
}

# Stop it with no TPM2_Shutdown, as a power loss or a crash would.
swtpm_kill() {
	swtpm_stop_ kill "$@"
}

swtpm_stop_() {
	local how=$1 dir pid i

	shift
	if [[ -n ${1:-} ]]; then
		dir=$(cd "$1" 2>/dev/null && pwd) || return 0
		pid=$(cat "$dir/swtpm.pid" 2>/dev/null) || return 0
	else
		dir=${SWTPM_DIR:-}
		pid=${SWTPM_PID:-}
	fi
	if [[ -z $pid || -z $dir ]]; then
		return 0
	fi
	if [[ $pid == "${SWTPM_PID:-}" ]]; then
		unset SWTPM_PID SWTPM_TCTI SWTPM_DIR
	fi
	swtpm_pid_is_ours_ "$pid" "$dir" || return 0

	if [[ $how == shutdown ]] && ! swtpm_shutdown_ "$pid"; then
		echo "swtpm_stop: swtpm $pid did not take TPM2_Shutdown: its next start counts as" \
			"a power loss" >&2
	fi
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		swtpm_pid_is_ours_ "$pid" "$dir" || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		swtpm_pid_is_ours_ "$pid" "$dir" || return 0
		sleep 0.05
	done
	echo "swtpm_stop: swtpm $pid did not exit" >&2
	return 1
}
