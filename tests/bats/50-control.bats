#!/usr/bin/env bats
# The control socket: every vaultctl verb through vaultfsd, decided by the policy for the uid
# SO_PEERCRED names (other uids via setpriv) and recorded; hostile and stuck clients, and the
# connection caps (per uid, root's reserve, idle cut when crowded); backup and
# restore; purge protection; near-expiry notices. Each test has its own swtpm, store, journal,
# mount and socket.

load helpers

setup() {
	vault_setup
	chmod 0711 "$T" # other uids reach the socket and the config below it
	mkdir -m 0700 "$T/policy.d"
	mkdir -m 0700 "$T/u1000" && chown 1000:1000 "$T/u1000"
	init_store
	DAEMON=
	PIDS=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# root's rights in the default policy (DESIGN §5), and everything on /app for uid 1000
default_policy() {
	policy <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow * /app uid=1000
	allow * /app/** uid=1000
	EOF
}

# raw PYTHON-CODE: run python with s = a connected socket; `send(obj)`, `recv()` helpers
raw() {
	/usr/bin/python3 - "$T/control.sock" "$1" <<-'PY'
	import json, socket, sys
	s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	s.connect(sys.argv[1])
	f = s.makefile("rb")
	def send(o):
	    s.sendall((json.dumps(o) + "\n").encode())
	def recv():
	    line = f.readline()
	    return json.loads(line)
	exec(sys.argv[2])
	PY
}

@test "every verb works through the daemon for a uid the policy allows, and is recorded" {
	default_policy
	daemon_start
	ctl_as 1000 vault create app --retention-days 7
	run ctl_as 1000 vault list --json
	[ "$status" -eq 0 ]
	[[ $output == *'"name": "app"'*'"retention_days": 7'*'"purge_protection": false'* ]]
	printf 'one' | ctl_as 1000 secret set app/db
	printf 'two' | ctl_as 1000 secret set app/db --tag env=prod --content-type text/plain
	[ "$(ctl_as 1000 secret get app/db)" = two ]
	[ "$(ctl_as 1000 secret get app/db --version 1)" = one ]
	[ "$(ctl_as 1000 secret list app)" = db ]
	run ctl_as 1000 secret versions app/db --json
	[[ $output == *'"version": 1'*'"version": 2'*'"env": "prod"'* ]]
	ctl_as 1000 secret update app/db --expires +10d
	run ctl_as 1000 secret list app --expiring 30d
	[[ $output == "db"$'\t'"expires "* ]]
	[ -z "$(ctl_as 1000 secret list app --expiring 5d)" ]
	ctl_as 1000 secret backup app/db --file "$T/u1000/db.bak"
	[ "$(stat -c %a "$T/u1000/db.bak")" = 600 ]
	ctl_as 1000 secret delete app/db
	[[ $(ctl_as 1000 secret list app --deleted) == "db"$'\t'"version 2"*"purge after"* ]]
	ctl_as 1000 secret recover app/db
	[ "$(ctl_as 1000 secret get app/db)" = two ]
	ctl_as 1000 secret delete app/db
	ctl_as 1000 secret purge app/db
	[ -z "$(ctl_as 1000 secret list app --deleted)" ]
	ctl_as 1000 secret restore app --file "$T/u1000/db.bak"
	[ "$(ctl_as 1000 secret get app/db --version 1)" = one ]
	[ "$(ctl_as 1000 secret get app/db)" = two ]
	ctl_as 1000 secret delete app/db
	ctl_as 1000 secret purge app/db
	ctl_as 1000 vault delete app
	[ -z "$(ctl_as 1000 vault list)" ]
	# the journal names uid 1000 and the deciding rule for each change
	run vctl audit show --uid 1000 --decision allow
	for e in vault-create set open list versions update backup delete recover purge restore \
		vault-delete vault-list; do
		[[ $output == *" $e allow "* ]] || { echo "no $e"; false; }
	done
	[[ $output == *"rule=$T/policy.d/10-test.policy:"* ]]
	vctl audit verify
}

# Issue 18: one convention for what a successful change prints: one line on stderr saying what
# changed; stdout is for data only.
@test "each change says what it did in one line on stderr, and prints nothing on stdout" {
	default_policy
	daemon_start
	said() { # said WANT CMD...: stderr is WANT, stdout empty
		local want=$1
		shift
		"$@" >"$T/out" 2>"$T/err"
		[ ! -s "$T/out" ] || { cat "$T/out"; false; }
		[ "$(cat "$T/err")" = "$want" ] || { echo "got: $(cat "$T/err")"; false; }
	}
	said "app: created" ctl_as 1000 vault create app
	said "app/db: version 1" ctl_as 1000 secret set app/db <<<one
	said "app/db: updated" ctl_as 1000 secret update app/db --expires +10d
	said "app/db: deleted" ctl_as 1000 secret delete app/db
	said "app/db: recovered" ctl_as 1000 secret recover app/db
	said "app/db: deleted" ctl_as 1000 secret delete app/db
	said "app/db: purged" ctl_as 1000 secret purge app/db
	said "app: updated" ctl_as 1000 vault update app --purge-protection on
	said "app: deleted" ctl_as 1000 vault delete app
	# a set through the socket is recorded with its version, as a write through the file is
	run vctl audit show --event set
	[[ $output == *" set allow app/db v1 uid=1000 "* ]]
}

@test "every verb is refused (exit 1, recorded) for a uid the policy does not allow" {
	default_policy
	daemon_start
	ctl_as 1000 vault create app
	printf 'v' | ctl_as 1000 secret set app/db
	ctl_as 1000 secret backup app/db --file "$T/u1000/db.bak"
	cp "$T/u1000/db.bak" "$T/db.bak" && chmod 0644 "$T/db.bak"
	for args in "vault create other" "vault delete app" "vault update app --purge-protection on" \
		"secret get app/db" "secret list app" "secret versions app/db" \
		"secret update app/db --enabled no" "secret delete app/db" "secret recover app/db" \
		"secret purge app/db" "secret backup app/db --file /tmp/x-$$" \
		"secret restore app --file $T/db.bak"; do
		# shellcheck disable=SC2086
		run ctl_as 1001 $args </dev/null
		[ "$status" -eq 1 ] || { echo "$args: status $status"; false; }
		[[ $output == *"permission denied"* ]] || { echo "$args: $output"; false; }
	done
	run ctl_as 1001 secret set app/db <<<"x"
	[ "$status" -eq 1 ]
	[ ! -e "/tmp/x-$$" ]
	# nothing changed: one version, the vault still there, 1001 sees no vault
	[ "$(vctl secret versions app/db | wc -l)" -eq 1 ]
	[ "$(vctl secret get app/db)" = v ]
	[ -z "$(ctl_as 1001 vault list)" ]
	run vctl audit show --uid 1001 --decision deny
	[ "$(grep -c 'EACCES' <<<"$output")" -ge 13 ]
	[[ $output == *" open deny EACCES app/db uid=1001 "*"rule=default"* ]]
	[[ $output == *" vault-create deny EACCES other "* ]]
	# issue 18: a refusal names where the policy lives and a rule that would grant it, and
	# that rule, put there, does
	run ctl_as 1001 vault create other
	[[ $output == *"the policy in $T/policy.d does not grant manage on /other; a rule that would: 'allow manage /other uid=1001' in a .policy file there, then 'vaultctl policy reload'"* ]]
	[[ $output == *"'vaultctl policy explain manage /other --uid 1001' shows the decision"* ]]
	echo 'allow manage /other uid=1001' >"$T/policy.d/60-other.policy"
	"$VAULTCTL" -c "$CONF" policy reload
	ctl_as 1001 vault create other
}

@test "a 1 MiB value round-trips through the socket; one byte more is refused, clearly" {
	default_policy
	daemon_start
	ctl vault create app
	head -c 1048576 /dev/urandom >"$T/max"
	ctl_as 1000 secret set app/big --file "$T/max"
	ctl_as 1000 secret get app/big >"$T/got"
	cmp "$T/max" "$T/got"
	# through standard input as well (vaultctl's buffer grows as the bytes arrive)
	ctl_as 1000 secret set app/big <"$T/max"
	ctl_as 1000 secret get app/big | cmp - "$T/max"
	head -c 1048577 /dev/urandom >"$T/over"
	run ctl_as 1000 secret set app/big --file "$T/over"
	[ "$status" -eq 2 ]
	[[ $output == *"value larger than 1048576 bytes; nothing written"* ]]
	[ "$(ctl_as 1000 secret versions app/big --json | grep -c '"version"')" -eq 2 ]
	ctl_as 1000 secret get app/big | cmp - "$T/max"
}

@test "root with the default policy writes and deletes but cannot read a value" {
	default_policy
	daemon_start
	ctl vault create app
	printf 'secret' | ctl secret set app/db
	[ "$(ctl secret list app)" = db ]
	run ctl secret get app/db
	[ "$status" -eq 1 ]
	[[ $output == *"permission denied"* ]]
	[[ $output != *secret* ]] || [[ $output == *"app/db"* ]]
	run ctl secret backup app/db --file "$T/root.bak"
	[ "$status" -eq 1 ]
	[ ! -e "$T/root.bak" ]
	ctl secret delete app/db
	[[ $(ctl secret list app --deleted) == db* ]]
	run vctl audit show --uid 0 --event open
	[[ $output == *" open deny EACCES app/db uid=0 "* ]]
}

@test "without a daemon vaultctl says so and does nothing; --offline works on the store" {
	run ctl vault create app
	[ "$status" -eq 1 ]
	[[ $output == *"cannot reach vaultfsd at $T/control.sock"*"--offline"* ]]
	[ -z "$(vctl vault list)" ]
	vctl vault create app
	[ "$(vctl vault list)" = app ]
	run vctl audit show --event vault-create
	[[ $output == *"vault-create allow app uid=0 "*"rule=vaultctl --offline"* ]]
	run ctl policy reload
	[ "$status" -eq 1 ]
	run vctl policy reload
	[ "$status" -eq 1 ]
	[[ $output == *"no daemon"* ]]
}

@test "malformed, oversized, unknown and wrong-version requests get clear errors; the connection stays usable" {
	default_policy
	daemon_start
	run raw '
s.sendall(b"{not json\n"); r = recv(); print(r["errname"], r["error"])
s.sendall(b"[1,2]\n"); r = recv(); print(r["errname"], r["error"])
send({"v": 2, "op": "vault-list"}); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "vault-list", "bogus": 1}); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "launch-missiles"}); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "secret-get", "vault": "../x", "name": "y"}); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "secret-get", "vault": "app", "name": "y", "version": "3"}); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "secret-set", "vault": "app", "name": "y"}); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "secret-get", "vault": "app", "name": "y", "value_len": 3}); s.sendall(b"abc"); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "secret-set", "vault": "app", "name": "y", "value_len": 1048577}); s.sendall(b"x" * 1048577); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "vault-list"}); r = recv(); print("ok" if r["ok"] else "bad")
'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "EBADMSG not JSON: unexpected character" ] || [[ ${lines[0]} == "EBADMSG not JSON"* ]]
	[ "${lines[1]}" = "EBADMSG a request is a JSON object" ]
	[[ ${lines[2]} == "EPROTO \"v\" must be 1"* ]]
	[ "${lines[3]}" = 'EINVAL unknown member "bogus" for op "vault-list"' ]
	[ "${lines[4]}" = 'EOPNOTSUPP unknown op "launch-missiles"' ]
	[[ ${lines[5]} == 'EINVAL "vault" is not a valid name'* ]]
	[ "${lines[6]}" = 'EINVAL "version" must be an integer' ]
	[[ ${lines[7]} == 'EINVAL op "secret-set" needs value bytes'* ]]
	[ "${lines[8]}" = "EMSGSIZE this op takes no value bytes" ]
	[ "${lines[9]}" = "EMSGSIZE value of 1048577 bytes is over the limit (1048576)" ]
	[ "${lines[10]}" = ok ]

	# a 100 MiB line, then a 100 MiB value: thrown away, answered, and the connection goes on
	run raw '
s.sendall(b"{\"v\":1,\"op\":\"" + b"a" * (100 << 20) + b"\"}\n"); r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "secret-set", "vault": "app", "name": "big", "value_len": 100 << 20})
chunk = b"\0" * (1 << 20)
for i in range(100): s.sendall(chunk)
r = recv(); print(r["errname"], r["error"])
send({"v": 1, "op": "vault-list"}); r = recv(); print("ok" if r["ok"] else "bad")
'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "EMSGSIZE request line over the limit (64 KiB)" ]
	[[ ${lines[1]} == "EMSGSIZE value of 104857600 bytes is over the limit"* ]]
	[ "${lines[2]}" = ok ]
	# none of it was a change, and the daemon still serves
	kill -0 "$DAEMON"
	[ -z "$(vctl vault list)" ]
}

@test "a stalled client and 100 clients at once do not stop the filesystem" {
	default_policy
	vctl vault create app
	printf 'value' | vctl secret set app/db
	daemon_start
	# one client sends half a request and stops; another connects and says nothing
	/usr/bin/python3 -c '
import socket, sys, time
a = socket.socket(socket.AF_UNIX); a.connect(sys.argv[1]); a.sendall(b"{\"v\":1,\"op\":")
b = socket.socket(socket.AF_UNIX); b.connect(sys.argv[1])
time.sleep(60)' "$T/control.sock" &
	PIDS+=($!)
	sleep 0.3
	[ "$(as 1000 cat "$T/mnt/app/db")" = value ]
	# 100 clients at once, each with a read of its own, while the stalled ones hang on
	local pids=() i
	for i in $(seq 100); do
		ctl_as 1000 secret get app/db >"$T/out.$i" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in $(seq 100); do
		[ "$(cat "$T/out.$i")" = value ] || { echo "client $i: $(cat "$T/out.$i")"; false; }
	done
	[ "$(as 1000 cat "$T/mnt/app/db")" = value ]
}

@test "a client that trickles a request byte by byte is cut off at the deadline" {
	default_policy
	daemon_start
	run /usr/bin/python3 -c '
import socket, sys, time
a = socket.socket(socket.AF_UNIX); a.connect(sys.argv[1])
start = time.monotonic()
for b in b"{\"v\":1,\"op\":\"vault-list\"" * 100:
    try:
        a.sendall(bytes([b]))
        if a.recv(1, socket.MSG_DONTWAIT) == b"":
            break
    except BlockingIOError:
        pass
    except OSError:
        break
    time.sleep(0.5)
print(round(time.monotonic() - start))' "$T/control.sock"
	echo "$output"
	# closed about 10 s after the message began (not renewed by each byte)
	[ "$output" -ge 9 ] && [ "$output" -le 14 ]
}

@test "one uid holding idle connections locks out neither root nor another uid" {
	default_policy
	vctl vault create app
	printf 'v' | vctl secret set app/db
	daemon_start
	# uid 65534, no rights at all, opens 300 connections and holds them, saying nothing
	as 65534 /usr/bin/python3 -c '
import socket, sys, time
held = []
for i in range(300):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
print(len(held), flush=True)
time.sleep(120)' "$T/control.sock" >"$T/holder.out" &
	PIDS+=($!)
	local i
	for i in $(seq 100); do
		[ -s "$T/holder.out" ] && break
		sleep 0.1
	done
	[ "$(cat "$T/holder.out")" = 300 ]
	sleep 0.5 # the daemon has taken them all (or turned them away)
	# root still gets in
	run ctl status
	echo "$output"
	[[ $output == *"daemon:  running"* ]]
	run ctl secret list app
	[ "$status" -eq 0 ]
	[ "$output" = db ]
	# another uid too, with one connection of its own and no second try
	run as 1000 /usr/bin/python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall((json.dumps({"v": 1, "op": "secret-list", "vault": "app"}) + "\n").encode())
r = json.loads(s.makefile("rb").readline())
print(r["ok"], [x["name"] for x in r.get("secrets", [])])' "$T/control.sock"
	echo "$output"
	[ "$output" = "True ['db']" ]
	# the holder keeps 16; the rest were told why, before a byte of theirs was read
	run raw 'send({"v": 1, "op": "status"}); r = recv(); print(r["connections"] >= 16, r["connections"] <= 20, r["connections_refused"] >= 284)'
	[ "$output" = "True True True" ]
	run as 65534 /usr/bin/python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
r = json.loads(s.makefile("rb").readline())
print(r["errname"], r["accepted"], r["error"])' "$T/control.sock"
	echo "$output"
	[ "$output" = "EBUSY False too many connections from uid 65534 (at most 16 a uid); try again" ]
}

@test "near the connection cap, idle connections are cut after a second; root's slots stay free" {
	default_policy
	daemon_start
	# 15 uids hold 16 idle connections each (240 of 256: past three quarters); after 3 s each
	# says how many of its connections the daemon has closed
	run /usr/bin/python3 -c '
import os, socket, sys, time
kids = []
for uid in range(20000, 20015):
    pid = os.fork()
    if pid == 0:
        os.setgroups([]); os.setgid(uid); os.setuid(uid)
        held = []
        for i in range(16):
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
        time.sleep(3)
        cut = 0
        for s in held:
            try:
                cut += s.recv(1, socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                pass
        os.write(1, b"%d\n" % cut)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)' "$T/control.sock"
	echo "$output"
	local cut=0 n
	for n in $output; do
		cut=$((cut + n))
	done
	# at least those past three quarters of the cap were cut (all of them, before 60 s)
	[ "$cut" -ge 48 ]
	run raw 'send({"v": 1, "op": "status"}); r = recv(); print(r["connections"] <= 193, r["connections_refused"])'
	echo "$output"
	[ "$output" = "True 0" ]
	run ctl status
	[[ $output == *"daemon:  running"* ]]
}

@test "the peer's executable is resolved for the policy, as for a FUSE caller" {
	policy <<-'EOF'
	allow * /app uid=1000
	allow * /app/** uid=1000
	deny read /app/** exe=/usr/bin/python3*
	EOF
	vctl vault create app
	printf 'v' | vctl secret set app/db
	daemon_start
	[ "$(ctl_as 1000 secret get app/db)" = v ]
	run as 1000 /usr/bin/python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall((json.dumps({"v": 1, "op": "secret-get", "vault": "app", "name": "db"}) + "\n").encode())
print(json.loads(s.makefile("rb").readline())["errname"])' "$T/control.sock"
	echo "$output"
	[ "$output" = EACCES ]
	run vctl audit show --event open --decision deny
	[[ $output == *"uid=1000 "*"exe=/usr/bin/python3"*"rule=$T/policy.d/10-test.policy:3"* ]]
}

@test "a client that stops reading its reply is cut off; others are served meanwhile" {
	default_policy
	vctl vault create app
	head -c 60000 /dev/urandom >"$T/big"
	vctl secret set app/big --file "$T/big"
	daemon_start
	# ask for the value many times without reading a byte of the replies
	/usr/bin/python3 -c '
import json, socket, sys, time
a = socket.socket(socket.AF_UNIX); a.connect(sys.argv[1])
a.setblocking(False)
req = (json.dumps({"v": 1, "op": "vault-list"}) + "\n").encode()
try:
    for i in range(100000): a.send(req)
except BlockingIOError:
    pass
time.sleep(30)' "$T/control.sock" &
	PIDS+=($!)
	sleep 0.5
	[ "$(ctl_as 1000 secret list app)" = big ]
	as 1000 cat "$T/mnt/app/big" | cmp - "$T/big"
}

@test "backup and restore round trip; a store with another master key refuses the blob" {
	vctl vault create app
	printf 'one' | vctl secret set app/db --tag a=b
	printf 'two' | vctl secret set app/db --expires +40d
	vctl secret update app/db --version 1 --enabled no
	vctl secret backup app/db --file "$T/db.bak"
	run vctl secret backup app/db --file "$T/db.bak"
	[ "$status" -eq 1 ]
	[[ $output == *"never overwrites"* ]]
	vctl secret versions app/db --json >"$T/before.json"
	run vctl secret restore app --file "$T/db.bak"
	[ "$status" -eq 1 ]
	[[ $output == *"already exists"* ]]
	vctl secret delete app/db
	vctl secret purge app/db
	vctl secret restore app --file "$T/db.bak"
	vctl secret versions app/db --json >"$T/after.json"
	diff "$T/before.json" "$T/after.json"
	[ "$(vctl secret get app/db)" = two ]
	run vctl secret get app/db --version 1
	[ "$status" -eq 1 ]
	[[ $output == *disabled* ]]
	# into another vault of the same store
	vctl vault create other
	vctl secret restore other --file "$T/db.bak"
	[ "$(vctl secret get other/db)" = two ]
	# a flipped byte, and a truncated blob: integrity errors, nothing written
	cp "$T/db.bak" "$T/bad.bak"
	printf '\xff' | dd of="$T/bad.bak" bs=1 seek=40 conv=notrunc status=none
	vctl vault create third
	run vctl secret restore third --file "$T/bad.bak"
	[ "$status" -eq 3 ]
	head -c 100 "$T/db.bak" >"$T/short.bak"
	run vctl secret restore third --file "$T/short.bak"
	[ "$status" -eq 3 ]
	[ -z "$(vctl secret list third)" ]
	# another store (its own master key, same TPM): refused, nothing written
	mkdir "$T/s2"
	write_config "$T/s2.conf" "$TCTI"
	sed -i "s|$T/vault.db|$T/s2/vault.db|; s|$T/audit.jsonl|$T/s2/audit.jsonl|" "$T/s2.conf"
	"$VAULTCTL" -c "$T/s2.conf" init --recovery-key-file "$T/s2/recovery.key"
	"$VAULTCTL" -c "$T/s2.conf" --offline vault create app
	run "$VAULTCTL" -c "$T/s2.conf" --offline secret restore app --file "$T/db.bak"
	[ "$status" -eq 3 ]
	[[ $output == *"integrity"* ]]
	[ -z "$("$VAULTCTL" -c "$T/s2.conf" --offline secret list app)" ]
}

@test "backup and restore give no more than read: withheld versions stay withheld" {
	# uid 1000 may read app/db, and read and write anything in its own vault (not manage it)
	policy <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow read /app/db uid=1000
	allow list,meta,read,write,delete /mine/** uid=1000
	EOF
	vctl vault create app
	vctl vault create mine
	printf 'withheld-1' | vctl secret set app/db
	printf 'withheld-2' | vctl secret set app/db --not-before +30d
	printf 'current' | vctl secret set app/db
	vctl secret update app/db --version 1 --enabled no
	daemon_start
	[ "$(ctl_as 1000 secret get app/db)" = current ]
	run ctl_as 1000 secret get app/db --version 1
	[ "$status" -eq 1 ]
	[[ $output == *disabled* ]]
	run ctl_as 1000 secret get app/db --version 2
	[ "$status" -eq 1 ]
	[[ $output == *"not yet valid"* ]]
	# the attack: back up, restore into its own vault, re-enable, read
	run ctl_as 1000 secret backup app/db --file "$T/u1000/db.bak"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"does not grant write on /app/db"* ]]
	[ ! -e "$T/u1000/db.bak" ]
	# nor with a blob made by someone who may back it up
	vctl secret backup app/db --file "$T/u1000/db.bak"
	chown 1000:1000 "$T/u1000/db.bak"
	run ctl_as 1000 secret restore mine --file "$T/u1000/db.bak"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"does not grant manage on /mine"* ]]
	run ctl_as 1000 secret update mine/db --version 1 --enabled yes
	[ "$status" -eq 1 ]
	run ctl_as 1000 secret get mine/db --version 1
	[ "$status" -eq 1 ]
	[[ $output == *"not found"* ]]
	# both refusals recorded
	run vctl audit show --uid 1000 --decision deny --event backup
	[[ $output == *" backup deny EACCES app/db uid=1000 "* ]]
	run vctl audit show --uid 1000 --decision deny --event restore
	[[ $output == *" restore deny EACCES mine/db uid=1000 "* ]]
}

@test "purge protection: turned on through the daemon, never off, purge waits for retention" {
	default_policy
	daemon_start
	ctl vault create app --retention-days 7
	printf 'v' | ctl secret set app/db
	ctl vault update app --purge-protection on
	ctl vault update app --purge-protection on # idempotent
	run ctl vault update app --purge-protection off
	[ "$status" -eq 2 ]
	run raw 'send({"v": 1, "op": "vault-update", "vault": "app", "purge_protection": False}); print(recv()["errname"])'
	[ "$output" = EINVAL ]
	ctl secret delete app/db
	run ctl secret purge app/db
	[ "$status" -eq 1 ]
	[[ $output == *"purge protection"* ]]
	[[ $(ctl secret list app --deleted) == db* ]]
	[[ $(ctl vault list --json) == *'"purge_protection": true'* ]]
	run ctl vault create bad --retention-days 6
	[ "$status" -eq 2 ]
	run raw 'send({"v": 1, "op": "vault-create", "vault": "bad", "retention_days": 91}); print(recv()["errname"])'
	[ "$output" = EINVAL ]
	[ -z "$(ctl vault list | grep bad)" ]
}

@test "near-expiry and expired are recorded once per version, across restarts" {
	cat >>"$CONF" <<-'EOF'
	[lifecycle]
	near_expiry = 30d
	scan_interval = 1s
	EOF
	default_policy
	vctl vault create app
	printf 'a' | vctl secret set app/soon --expires +10d
	printf 'b' | vctl secret set app/later --expires +60d
	printf 'c' | vctl secret set app/now --expires +3s
	printf 'd' | vctl secret set app/never
	daemon_start
	sleep 5
	daemon_stop
	grep -q "app/soon version 1 expires at" "$T/daemon.log"
	grep -q "app/now version 1 expired at" "$T/daemon.log"
	daemon_start
	sleep 2
	daemon_stop
	run vctl audit show --event near-expiry
	[ "$(grep -c 'app/soon' <<<"$output")" -eq 1 ]
	[ "$(grep -c 'app/now' <<<"$output")" -eq 1 ]
	[[ $output != *app/later* && $output != *app/never* ]]
	run vctl audit show --event expired
	[ "$(grep -c 'app/now' <<<"$output")" -eq 1 ]
	[ "$(grep -c . <<<"$output")" -eq 1 ]
	vctl audit verify
}

@test "changes through the socket are seen by the next open and ls; policy reload is root's" {
	default_policy
	daemon_start
	ctl_as 1000 vault create app
	[ "$(as 1000 ls "$T/mnt")" = app ]
	printf 'one' | ctl_as 1000 secret set app/db
	[ "$(as 1000 cat "$T/mnt/app/db")" = one ]
	printf 'two' | ctl_as 1000 secret set app/db
	[ "$(as 1000 cat "$T/mnt/app/db")" = two ]
	ctl_as 1000 secret delete app/db
	run as 1000 cat "$T/mnt/app/db"
	[ "$status" -ne 0 ]
	[ -z "$(as 1000 ls "$T/mnt/app")" ]
	# reload: root may; uid 1000 is refused and recorded
	run ctl_as 1000 policy reload
	[ "$status" -eq 1 ]
	[[ $output == *"only root"* ]]
	echo 'allow list /app uid=1001' >"$T/policy.d/20-more.policy"
	run ctl policy reload
	[ "$status" -eq 0 ]
	[[ $output == *"4 rules in 2 files"* ]]
	[ "$(as 1001 ls "$T/mnt")" = app ]
	echo 'allow bogus /app uid=1' >"$T/policy.d/30-bad.policy"
	run ctl policy reload
	[ "$status" -ne 0 ]
	[[ $output == *"30-bad.policy:1"* ]]
	[ "$(as 1001 ls "$T/mnt")" = app ]
	run vctl audit show --event policy-reload
	[[ $output == *"policy-reload deny EACCES uid=1000"* ]]
}

@test "a deleted secret is purged by the daemon once its vault's retention has passed, recorded first" {
	command -v faketime >/dev/null || skip "faketime is not installed (make deps installs it)"
	cat >>"$CONF" <<-'EOF'
	[lifecycle]
	scan_interval = 1s
	EOF
	default_policy
	vctl vault create week --retention-days 7
	vctl vault create month --retention-days 30
	printf 'a' | vctl secret set week/old
	printf 'b' | vctl secret set month/kept
	printf 'c' | vctl secret set week/live
	vctl secret delete week/old
	vctl secret delete month/kept
	# the daemon's clock 8 days on (libfaketime; the TPM is another process, unaffected)
	mkdir -p "$T/mnt"
	# (under ASan the preload must be let in: verify_asan_link_order=0)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		faketime -f '+8d' "$VAULTFSD" -c "$CONF" >"$T/daemon.log" 2>&1 3>&- &
	DAEMON=$!
	for _ in $(seq 100); do
		grep -q '"event":"purge"' "$T/audit.jsonl" && break
		sleep 0.1
	done
	sleep 1
	daemon_stop
	run vctl audit show --event purge
	[[ $output == *" purge allow week/old uid=0 "*"rule=retention passed"* ]]
	[ "$(grep -c . <<<"$output")" -eq 1 ]
	[ -z "$(vctl secret list week --deleted)" ]
	[[ $(vctl secret list month --deleted) == kept* ]]
	[ "$(vctl secret get week/live)" = c ]
	grep -q "Purging /week/old" "$T/daemon.log"
	vctl audit verify
}
