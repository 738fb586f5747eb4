#!/usr/bin/env bats
# Replace-by-rename through a real /vault mount: sed -i, mv of a temporary file, cp + mv,
# install(1), mv from another file system and Python's write-temp-and-os.replace each make the
# secret's next version with the right bytes (the old one stays in .versions), while a reader
# looping meanwhile never sees a missing file or a mix; the temporary name is never in the
# store; a caller without `write` on the target gets EACCES and nothing changes; a create over
# a soft-deleted name says how to recover it. Each test has its own swtpm, store, journal and
# mount; teardown unmounts.

load helpers

setup() {
	vault_setup
	chmod 0711 "$T" # other uids reach the mount point below it
	mkdir -m 0700 "$T/policy.d"
	init_store
	vctl vault create app
	cat >"$T/policy.d/10-test.policy" <<-'EOF'
	allow list /app uid=0,1001
	allow read,write,delete /app/* uid=0
	allow read /app/* uid=1001
	EOF
	# two values of one length, so that a mix of them would show
	mkdir -m 0755 "$T/vals"
	head -c 3000 /dev/zero | tr '\0' o >"$T/vals/old"
	head -c 3000 /dev/zero | tr '\0' n >"$T/vals/new"
	chmod 0644 "$T/vals/old" "$T/vals/new"
	vctl secret set app/db <"$T/vals/old"
	DAEMON=
	READER=
}

teardown() {
	stop_reader
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

versions() {
	vctl secret versions "$1" | wc -l
}

# start_reader: uid 1001 reads app/db in a loop until stop_reader; counts what each read gave
start_reader() {
	cat >"$T/vals/reader.py" <<-'EOF'
	import os, sys
	path, stop, out = sys.argv[1:4]
	known = {open(p, "rb").read(): os.path.basename(p) for p in sys.argv[4:]}
	seen = {}
	while not os.path.exists(stop):
	    try:
	        with open(path, "rb") as f:
	            b = f.read()
	        k = known.get(b, "mix")
	    except OSError as e:
	        k = "error:" + (e.strerror or "?")
	    seen[k] = seen.get(k, 0) + 1
	with open(out, "w") as f:
	    for k, n in sorted(seen.items()):
	        f.write("%s %d\n" % (k, n))
	EOF
	chmod 0644 "$T/vals/reader.py"
	rm -f "$T/vals/stop" "$T/reader.out"
	touch "$T/reader.out" && chown 1001 "$T/reader.out"
	as 1001 /usr/bin/python3 "$T/vals/reader.py" "$(M app/db)" "$T/vals/stop" "$T/reader.out" \
		"$T/vals/old" "$T/vals/new" &
	READER=$!
	# it has read at least once before the replace starts
	for _ in $(seq 100); do
		sleep 0.05
		[ -n "$(vctl audit show --event open 2>/dev/null | grep uid=1001)" ] && break
	done
}

stop_reader() {
	[ -n "${READER:-}" ] || return 0
	sleep 0.2 # reads after the replace too
	touch "$T/vals/stop"
	for _ in $(seq 200); do
		kill -0 "$READER" 2>/dev/null || break
		sleep 0.05
	done
	kill_tree "$READER" # one stuck in a read must not hold bats's output open
	wait "$READER" || true
	READER=
}

# check_replaced: the new bytes are version 2, the old stay as version 1; the reader (if one
# ran) saw only whole old or new values; no other name was made. install(1) and mv across file
# systems unlink the target before they create it, on any file system: a reader may see the
# name missing in between, so they run without one.
check_replaced() {
	stop_reader
	if [ -e "$T/reader.out" ]; then
		cat "$T/reader.out"
		[ -z "$(grep -v -E '^(old|new) [0-9]+$' "$T/reader.out")" ]
		grep -q '^old ' "$T/reader.out"
	fi
	vctl secret get app/db >"$T/got"
	cmp "$T/vals/new" "$T/got"
	[ "$(versions app/db)" -eq 2 ]
	cmp "$T/vals/old" "$(M app/.versions/db/1)"
	[ "$(vctl secret list app)" = db ]
	[ -z "$(vctl secret list app --deleted)" ]
}

@test "sed -i makes the next version; the old stays; a reader never sees a missing file" {
	daemon_start
	start_reader
	sed -i 's/o/n/g' "$(M app/db)"
	check_replaced
	run vctl audit show --event set
	[[ $output == *" set allow app/db v2 uid=0 "* ]]
}

@test "mv of a temporary file onto a secret makes the next version (NOREPLACE first: EEXIST)" {
	daemon_start
	start_reader
	cp "$T/vals/new" "$(M app/.db.new)"
	[ "$(stat -c %s "$(M app/.db.new)")" -eq 3000 ]
	[ "$(ls -a "$(M app)" | grep -c db.new)" -eq 0 ] # never listed: not in the store
	mv "$(M app/.db.new)" "$(M app/db)"
	check_replaced
	[ ! -e "$(M app/.db.new)" ]
}

@test "cp to name.tmp then mv onto the secret" {
	daemon_start
	start_reader
	cp "$T/vals/new" "$(M app/db.tmp)"
	mv "$(M app/db.tmp)" "$(M app/db)"
	check_replaced
}

@test "install(1) (unlink, then create O_EXCL) makes the next version" {
	daemon_start
	install -m 0600 "$T/vals/new" "$(M app/db)"
	check_replaced
	run vctl audit show --event recover
	[[ $output == *" recover allow app/db uid=0 "* ]]
}

@test "mv from another file system onto a secret makes the next version" {
	daemon_start
	cp "$T/vals/new" "$T/src"
	mv "$T/src" "$(M app/db)"
	check_replaced
}

@test "Python: write a mkstemp file, fsync, os.replace onto the secret" {
	daemon_start
	start_reader
	/usr/bin/python3 - "$(M app)" "$T/vals/new" <<-'EOF'
	import os, sys, tempfile
	d, src = sys.argv[1:3]
	fd, tmp = tempfile.mkstemp(dir=d, prefix=".db.")
	with os.fdopen(fd, "wb") as f:
	    f.write(open(src, "rb").read())
	    f.flush()
	    os.fsync(f.fileno())
	os.chmod(tmp, 0o600)
	os.replace(tmp, os.path.join(d, "db"))
	# and the default tempfile names too
	with tempfile.NamedTemporaryFile(dir=d, delete=False) as f:
	    f.write(open(src, "rb").read())
	os.replace(f.name, os.path.join(d, "db"))
	EOF
	stop_reader
	[ -z "$(grep -v -E '^(old|new) [0-9]+$' "$T/reader.out")" ]
	cmp "$T/vals/new" "$(M app/db)"
	[ "$(versions app/db)" -eq 3 ]
	cmp "$T/vals/old" "$(M app/.versions/db/1)"
	[ "$(vctl secret list app)" = db ]
}

@test "without write on the target: EACCES, nothing changes, the temporary name is in no store" {
	daemon_start
	as 1001 cp "$T/vals/new" "$(M app/.db.new)"
	run as 1001 mv "$(M app/.db.new)" "$(M app/db)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	cmp "$T/vals/old" "$(M app/db)"
	[ "$(versions app/db)" -eq 1 ]
	run vctl audit show --event set
	[[ $output == *" set deny EACCES app/db uid=1001 "* ]]
	# only its maker sees a temporary file
	as 1001 test -e "$(M app/.db.new)"
	[ ! -e "$(M app/.db.new)" ]
	as 1001 rm "$(M app/.db.new)"
	run as 1001 test -e "$(M app/.db.new)"
	[ "$status" -ne 0 ]
	[ "$(vctl secret list app)" = db ]
	[ -z "$(vctl secret list app --deleted)" ]
	[ "$(grep -a -c 'db\.new' "$T/vault.db")" = 0 ]
}

@test "RENAME_EXCHANGE is EINVAL; renaming a secret is EPERM; a temp renamed to a temp stays one" {
	daemon_start
	cp "$T/vals/new" "$(M app/.a)"
	run /usr/bin/python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2)
print(os.strerror(ctypes.get_errno()) if r else "ok")' "$(M app/.a)" "$(M app/db)"
	[[ $output == *"Invalid argument"* ]]
	run mv "$(M app/db)" "$(M app/db2)"
	[ "$status" -ne 0 ]
	mv "$(M app/.a)" "$(M app/.b)"
	[ ! -e "$(M app/.a)" ]
	cmp "$T/vals/new" "$(M app/.b)"
	[ "$(vctl secret list app)" = db ]
	[ "$(versions app/db)" -eq 1 ]
}

@test "a create over a soft-deleted name is EEXIST and the log says how to recover" {
	daemon_start
	rm "$(M app/db)"
	run sh -c "echo x >$(M app/db)"
	[ "$status" -ne 0 ]
	[[ $output == *"File exists"* ]]
	grep -q "vaultctl secret recover app/db" "$T/daemon.log"
}
