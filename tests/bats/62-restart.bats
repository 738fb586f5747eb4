#!/usr/bin/env bats
# The FUSE session outlives vaultfsd (fs/handover.c): `vaultfsd --takeover` hands it over
# without systemd, and systemd's descriptor store (played by tests/lib/fake-systemd.py: the
# notify socket, FDSTORE=1, LISTEN_FDS back at each start) keeps it across a kill -9. A reader
# loops open/read/close throughout (tests/lib/reader-loop.py): no error, never a foreign value.
# An open file survives and reads the version it opened (a "reopen" record); a write handle
# does not (ESTALE, nothing committed).

load helpers

setup() {
	vault_setup
	mkdir -m 0700 "$T/policy.d"
	cat >"$T/policy.d/10-test.policy" <<-'EOF'
	allow list /app uid=0
	allow read /app/db uid=0
	allow meta /app/db uid=0
	allow write /app/db uid=0
	EOF
	init_store
	vctl vault create app
	printf 'value-1' | vctl secret set app/db --file /dev/stdin
	printf 'value-1\n' >"$T/allowed"
	DAEMON=
	READER=
	FAKE=
}

teardown() {
	if [ -n "$READER" ]; then
		touch "$T/stop-reader"
		wait "$READER" 2>/dev/null || true
	fi
	if [ -n "$FAKE" ]; then
		kill -TERM "$FAKE" 2>/dev/null || true
		wait "$FAKE" 2>/dev/null || true
	fi
	pkill -TERM -f "vaultfsd -c $CONF" 2>/dev/null || true
	for _ in $(seq 50); do pgrep -f "vaultfsd -c $CONF" >/dev/null || break; sleep 0.1; done
	daemon_stop
	if grep -q " $T/mnt fuse" /proc/mounts 2>/dev/null; then umount -l "$T/mnt" || true; fi
	[ -n "${KEEP:-}" ] || vault_teardown
}

M() {
	echo "$T/mnt/$1"
}

reader_start() {
	rm -f "$T/stop-reader" "$T/reader.out"
	python3 "$VAULTFS_TOP/tests/lib/reader-loop.py" "$(M app/db)" "$T/allowed" \
		"$T/stop-reader" "$T/reader.out" &
	READER=$!
}

# reader_stop: ends the loop; its counts in $T/reader.out
reader_stop() {
	touch "$T/stop-reader"
	# by its file, not by wait: `run reader_stop` runs this in a subshell, of which the reader
	# is no child (wait returned at once, and the file was read before it was written)
	for _ in $(seq 600); do [ -e "$T/reader.out" ] && break; sleep 0.05; done
	cat "$T/reader.out"
}

# takeover: a new vaultfsd takes the session; returns once the old one has exited and the new
# one serves the control socket. $DAEMON is the new one.
takeover() {
	local old=$DAEMON i
	"$VAULTFSD" -c "$CONF" --takeover >>"$T/daemon.log" 2>&1 3>&- &
	DAEMON=$!
	# the old one ends once it has handed over; a new one that failed first leaves it serving
	for i in $(seq 500); do
		kill -0 "$old" 2>/dev/null || break
		kill -0 "$DAEMON" 2>/dev/null || { tail -n 3 "$T/daemon.log"; return 1; }
		sleep 0.02
	done
	kill -0 "$old" 2>/dev/null && return 1
	wait "$old"
	for i in $(seq 200); do
		[ -S "$T/handover.sock" ] && [ -S "$T/control.sock" ] && return 0
		kill -0 "$DAEMON" || return 1
		sleep 0.02
	done
	return 1
}

# set_value V: the next version, through the control socket, announced to the reader first
set_value() {
	printf '%s\n' "$1" >>"$T/allowed"
	printf '%s' "$1" | "$VAULTCTL" -c "$CONF" secret set app/db --file /dev/stdin >/dev/null
}

@test "20 hand-overs (--takeover) under a looping reader: no error, no foreign value; the journal verifies" {
	daemon_start
	reader_start
	sleep 0.3
	for i in $(seq 2 21); do
		takeover
		set_value "value-$i"
		sleep 0.1
	done
	sleep 0.3
	run reader_stop
	echo "$output"
	[[ ${lines[0]} == "reads "* ]]
	[ "${lines[0]#reads }" -gt 100 ]
	[ "${lines[1]}" = "errors 0" ]
	[ "$(grep -c 'Handed .* over to a new vaultfsd' "$T/daemon.log")" -eq 20 ]
	grep -q " $T/mnt fuse" /proc/mounts
	[ "$(cat "$(M app/db)")" = "value-21" ]
	run vctl audit show --event takeover
	[ "$(grep -c ' takeover allow ' <<<"$output")" -eq 20 ]
	vctl audit verify
}

@test "an fd held across a hand-over reads the version it opened, recorded as a reopen" {
	daemon_start
	exec 7<"$(M app/db)"
	takeover
	set_value "value-2"
	[ "$(cat "$(M app/db)")" = "value-2" ]
	[ "$(cat <&7)" = "value-1" ]
	exec 7<&-
	exec 8<"$(M app/db)"
	takeover
	takeover
	[ "$(cat <&8)" = "value-2" ]
	exec 8<&-
	run vctl audit show --event reopen
	echo "$output"
	[[ $output == *" reopen allow app/db v1 uid=0 "*"path=/app/db rule=$T/policy.d/10-test.policy:2"* ]]
	[[ $output == *" reopen allow app/db v2 uid=0 "* ]]
	vctl audit verify
}

@test "a reopen is decided for the reader under the policy now: refused, it is EACCES and recorded" {
	daemon_start
	exec 7<"$(M app/db)"
	sed -i '/allow read/d' "$T/policy.d/10-test.policy"
	takeover
	run cat <&7
	exec 7<&-
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	run vctl audit show --event reopen
	[[ $output == *" reopen deny EACCES app/db v1 uid=0 "* ]]
}

@test "a reopen refused for the read budget (EMFILE) is tried again at the next read: it reads once the uid has room" {
	head -c 1048576 /dev/urandom >"$T/big"
	vctl secret set app/big --file "$T/big"
	echo "allow read /app/big uid=0" >>"$T/policy.d/10-test.policy"
	daemon_start
	exec 7<"$(M app/db)"
	takeover
	# the new daemon: this uid's share of locked memory taken (1 MiB opens, then a page each)
	python3 - "$(M app/big)" "$(M app/db)" "$T/held" <<-'EOF' &
	import errno, os, sys, time
	big, small, out = sys.argv[1:4]
	fds = []
	for path in (big, small):
	    while len(fds) < 30000:
	        try:
	            fds.append(os.open(path, os.O_RDONLY))
	        except OSError as e:
	            assert e.errno == errno.EMFILE, e
	            break
	open(out, "w").write("%d\n" % len(fds))
	while not os.path.exists(out + ".release"):
	    time.sleep(0.05)
	EOF
	local holder=$!
	for _ in $(seq 1200); do [ -s "$T/held" ] && break; sleep 0.05; done
	cat "$T/held"
	run cat <&7
	[ "$status" -ne 0 ]
	[[ $output == *"Too many open files"* ]]
	# and again while full: refused again, not a stale refusal kept for the handle
	run cat <&7
	[[ $output == *"Too many open files"* ]]
	touch "$T/held.release"
	wait "$holder"
	[ "$(cat <&7)" = "value-1" ]
	exec 7<&-
	run vctl audit show --event reopen
	echo "$output"
	[ "$(grep -c " reopen deny EMFILE app/db v1 uid=0 " <<<"$output")" -eq 2 ]
	[[ $output == *" reopen allow app/db v1 uid=0 "* ]]
}

# write_across_takeover FILE FLAGS OUT: one process opens FILE O_WRONLY | FLAGS ("O_A|O_B") and
# writes "half"; the daemon is taken over; then it writes again and closes, each outcome ("write
# ESTALE") a line of OUT, shown. One process holds the handle: a close by any process that
# shares it would commit.
write_across_takeover() {
	python3 -c '
import errno, os, sys, time
flags = os.O_WRONLY
for name in sys.argv[2].split("|"):
    flags |= getattr(os, name)
fd = os.open(sys.argv[1], flags, 0o600)
os.write(fd, b"half")
open(sys.argv[3] + ".opened", "w").close()
while not os.path.exists(sys.argv[3] + ".go"):
    time.sleep(0.01)
with open(sys.argv[3], "w") as out:
    for what, call in (("write", lambda: os.write(fd, b"more")), ("close", lambda: os.close(fd))):
        try:
            call()
            out.write("%s ok\n" % what)
        except OSError as e:
            out.write("%s %s\n" % (what, errno.errorcode[e.errno]))
' "$1" "$2" "$3" &
	local pid=$!
	for _ in $(seq 100); do [ -e "$3.opened" ] && break; sleep 0.05; done
	takeover
	touch "$3.go"
	wait "$pid"
	cat "$3"
}

@test "a write handle open across a hand-over fails ESTALE at write and close; nothing is committed" {
	daemon_start
	write_across_takeover "$(M app/db)" O_TRUNC "$T/writer"
	[ "$(sed -n 1p "$T/writer")" = "write ESTALE" ]
	[ "$(sed -n 2p "$T/writer")" = "close ESTALE" ]
	[ "$(cat "$(M app/db)")" = "value-1" ]
	run vctl audit show --event set
	[[ $output != *" set allow app/db v2 "* ]]
	vctl audit verify
}

@test "a file made by create(2) and open across a hand-over fails ESTALE; nothing is committed" {
	echo 'allow write /app/new uid=0' >>"$T/policy.d/10-test.policy"
	daemon_start
	write_across_takeover "$(M app/new)" "O_CREAT|O_EXCL" "$T/creator"
	[ "$(sed -n 1p "$T/creator")" = "write ESTALE" ]
	[ "$(sed -n 2p "$T/creator")" = "close ESTALE" ]
	# the new daemon serves on, and app/new was never made
	[ "$(cat "$(M app/db)")" = "value-1" ]
	[ ! -e "$(M app/new)" ]
	run vctl secret versions app/new
	[ "$status" -ne 0 ]
}

@test "a failed takeover (nothing serving) says why; a refused one leaves the old daemon serving" {
	run "$VAULTFSD" -c "$CONF" --takeover
	[ "$status" -ne 0 ]
	[[ $output == *"Failed to take the session over"*"is a vaultfsd serving this configuration?"* ]]
	daemon_start
	# another mountpoint in the new one's config: it refuses the session, the old one serves on
	sed "s|mountpoint = .*|mountpoint = $T/other|" "$CONF" >"$T/other.conf"
	run "$VAULTFSD" -c "$T/other.conf" --takeover
	[ "$status" -ne 0 ]
	[[ $output == *"Cannot serve the session handed over"*"another mountpoint"* ]]
	kill -0 "$DAEMON"
	[ "$(cat "$(M app/db)")" = "value-1" ]
	grep -q "did not take the session" "$T/daemon.log"
}

# fake_start: vaultfsd under the fake service manager; returns once it is ready
fake_start() {
	rm -rf "$T/sd"
	mkdir -p "$T/sd" "$T/mnt"
	python3 "$VAULTFS_TOP/tests/lib/fake-systemd.py" "$T/sd" "$VAULTFSD" -c "$CONF" \
		>"$T/daemon.log" 2>&1 &
	FAKE=$!
	wait_ready 1
}

# wait_ready N: until the fake service manager has heard READY=1 N times
wait_ready() {
	local i
	for i in $(seq 300); do
		[ "$(cat "$T/sd/ready" 2>/dev/null || echo 0)" -ge "$1" ] && return 0
		kill -0 "$FAKE" || return 1
		sleep 0.02
	done
	cat "$T/daemon.log" "$T/sd/log" >&2
	return 1
}

@test "the descriptor store: 20 kill -9 and restarts under a looping reader, no error; open files survive" {
	fake_start
	grep -qx vaultfs-fuse "$T/sd/store"
	grep -qx vaultfs-state "$T/sd/store"
	exec 7<"$(M app/db)"
	reader_start
	sleep 0.3
	for i in $(seq 2 21); do
		kill -KILL "$(cat "$T/sd/pid")"
		wait_ready "$i"
		set_value "value-$i"
		sleep 0.1
	done
	sleep 0.3
	run reader_stop
	echo "$output"
	[ "${lines[0]#reads }" -gt 100 ]
	# a read in flight at the kill is queued again by the kernel (FUSE_NOTIFY_RESEND, Linux
	# 6.9+) and answered by the next process; older kernels answer it EIO (documented)
	if [ "${lines[1]}" != "errors 0" ]; then
		[ "$(grep -vc '^error EIO$' <<<"${output}")" -eq 2 ]
	fi
	[ "$(cat <&7)" = "value-1" ]
	exec 7<&-
	[ "$(grep -c 'the session systemd kept' "$T/daemon.log")" -eq 20 ]
	run vctl audit show --event restart
	[ "$(grep -c ' restart allow ' <<<"$output")" -eq 20 ]
	vctl audit verify
}

@test "the descriptor store: SIGTERM leaves the mount to the next start; a session it cannot serve is detached and mounted afresh" {
	fake_start
	pid=$(cat "$T/sd/pid")
	kill -TERM "$pid"
	wait_ready 2
	grep -q "systemd keeps the session for the next start" "$T/daemon.log"
	[ "$(cat "$(M app/db)")" = "value-1" ]
	# a state file of another format: refused, the mount detached, a fresh one made
	kill -TERM "$FAKE"
	wait "$FAKE" || true
	FAKE=
	umount -l "$T/mnt"
	fake_start
	kill -STOP "$(cat "$T/sd/pid")"
	python3 - "$(cat "$T/sd/pid")" <<-'EOF'
	import os, sys
	pid = sys.argv[1]
	for fd in os.listdir("/proc/%s/fd" % pid):
	    if os.readlink("/proc/%s/fd/%s" % (pid, fd)).startswith("/memfd:vaultfs-state"):
	        with open("/proc/%s/fd/%s" % (pid, fd), "r+b") as f:
	            f.seek(8)
	            f.write(b"\x63\x00\x00\x00")  # format 99
	EOF
	kill -KILL "$(cat "$T/sd/pid")"
	wait_ready 2
	grep -q "state file is unreadable or of another format" "$T/daemon.log"
	grep -q "Detaching the mount" "$T/daemon.log"
	[ "$(cat "$(M app/db)")" = "value-1" ]
}
