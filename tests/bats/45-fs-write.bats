#!/usr/bin/env bats
# Writes through a real /vault mount: whole-file versions made at close (policy `write`), holes
# and the size cap, O_APPEND refused, soft delete by rm (`delete`), vaults made and removed by
# mkdir and rmdir (`manage`), read-only .versions and .meta, per-caller modes, readers during
# writes, the audit record of every change and refusal, and a commit refused when the journal
# cannot take its record. Other uids via setpriv; each test has its own swtpm, store, journal
# and mount; teardown unmounts.

load helpers

setup() {
	vault_setup
	chmod 0711 "$T" # other uids reach the mount point below it; its files stay 0600
	mkdir -m 0700 "$T/policy.d"
	init_store
	vctl vault create app
	DAEMON=
	PIDS=()
}

teardown() {
	local p
	daemon_stop
	for p in "${PIDS[@]}"; do
		kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
	if grep -q " $T/full tmpfs" /proc/mounts 2>/dev/null; then
		umount "$T/full" || true
	fi
	[ -n "${KEEP:-}" ] || vault_teardown
}

# versions VAULT/NAME: how many versions the store holds
versions() {
	vctl secret versions "$1" | wc -l
}

# wait_versions VAULT/NAME N: the last close's release is asynchronous (close(2) returns before
# the daemon has it), so a version made at release is waited for
wait_versions() {
	local i
	for i in $(seq 100); do
		[ "$(versions "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.05
	done
	echo "$1: $(versions "$1" 2>&1) versions, want $2" >&2
	return 1
}

@test "echo > as an allowed uid makes version 1, then 2; a refused uid gets EACCES and makes none" {
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow read,write /app/db uid=1000
	allow read /app/db uid=1001
	EOF
	daemon_start
	as 1000 sh -c "echo one >$(M app/db)"
	[ "$(vctl secret get app/db)" = one ]
	[ "$(versions app/db)" -eq 1 ]
	as 1000 sh -c "printf two >$(M app/db)"
	[ "$(vctl secret get app/db)" = two ]
	[ "$(versions app/db)" -eq 2 ]
	[ "$(as 1001 cat "$(M app/db)")" = two ]
	[ "$(as 1000 stat -c %s "$(M app/db)")" -eq 3 ]
	# refused at open: an existing secret, and a name the uid holds no right on
	run as 1001 sh -c "echo three >$(M app/db)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	run as 1001 sh -c "echo x >$(M app/other)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	[ "$(versions app/db)" -eq 2 ]
	run vctl secret get app/other
	[ "$status" -ne 0 ]
	[ "$(as 1000 ls "$(M app)")" = db ]
}

@test "dd with seek builds the file at offsets: holes are zeros, exact bytes" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow read,write /app/* uid=1000
	EOF
	daemon_start
	# a new file: dd truncates to the seek offset (ftruncate), then writes there
	printf ABCD | as 1000 dd of="$(M app/f)" bs=1 seek=10 status=none
	{ head -c 10 /dev/zero; printf ABCD; } >"$T/want"
	vctl secret get app/f >"$T/got"
	cmp "$T/want" "$T/got"
	# several blocks at an offset, in one open
	head -c 3000 /dev/urandom >"$T/src"
	as 1000 dd of="$(M app/f)" bs=1000 seek=2 status=none <"$T/src"
	{ head -c 2000 /dev/zero; cat "$T/src"; } >"$T/want"
	vctl secret get app/f >"$T/got"
	cmp "$T/want" "$T/got"
	# writes out of order, and reads back through the same O_RDWR descriptor
	as 1000 perl -e 'open(my $f, "+>", $ARGV[0]) or die "open: $!";
		sysseek($f, 100, 0); syswrite($f, "B") == 1 or die "write: $!";
		sysseek($f, 0, 0); syswrite($f, "A") == 1 or die "write: $!";
		sysseek($f, 0, 0); sysread($f, my $back, 200) == 101 or die "read back";
		substr($back, 100) eq "B" or die "read back B";
		close($f) or die "close: $!"' "$(M app/f)"
	{ printf A; head -c 99 /dev/zero; printf B; } >"$T/want"
	vctl secret get app/f >"$T/got"
	cmp "$T/want" "$T/got"
	[ "$(versions app/f)" -eq 3 ]
	# ftruncate in the open shortens what is committed
	printf 0123456789 | as 1000 perl -e 'open(my $f, ">", $ARGV[0]) or die;
		syswrite($f, scalar(<STDIN>)); truncate($f, 4) or die "truncate: $!";
		close($f) or die "close: $!"' "$(M app/f)"
	[ "$(vctl secret get app/f)" = 0123 ]
}

@test "past 1 MiB: EFBIG and no version; exactly 1 MiB is fine and reads back whole" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow read,write /app/big uid=1000
	EOF
	printf old | vctl secret set app/big
	daemon_start
	run as 1000 sh -c "head -c 1048577 /dev/zero >$(M app/big)"
	[ "$status" -ne 0 ]
	[[ $output == *"File too large"* ]]
	run as 1000 truncate -s 1048577 "$(M app/big)"
	[ "$status" -ne 0 ]
	[[ $output == *"File too large"* ]]
	run as 1000 dd of="$(M app/big)" bs=1 seek=1048576 status=none <<<"x"
	[ "$status" -ne 0 ]
	[ "$(vctl secret get app/big)" = old ]
	[ "$(versions app/big)" -eq 1 ]
	head -c 1048576 /dev/urandom >"$T/max"
	as 1000 sh -c "cat >$(M app/big)" <"$T/max"
	vctl secret get app/big >"$T/got"
	cmp "$T/max" "$T/got"
	[ "$(versions app/big)" -eq 2 ]
	# and back through the file
	as 1000 cat "$(M app/big)" >"$T/read"
	cmp "$T/max" "$T/read"
	[ "$(as 1000 stat -c %s "$(M app/big)")" -eq 1048576 ]
	run vctl audit show --event set
	[[ $output == *" set deny EFBIG app/big uid=1000 "* ]]
}

@test "O_APPEND (>>) is refused with EINVAL, on an existing secret and a new name" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow read,write /app/* uid=1000
	EOF
	printf old | vctl secret set app/db
	daemon_start
	run as 1000 sh -c "echo x >>$(M app/db)"
	[ "$status" -ne 0 ]
	[[ $output == *"Invalid argument"* ]]
	run as 1000 sh -c "echo x >>$(M app/new)"
	[ "$status" -ne 0 ]
	[[ $output == *"Invalid argument"* ]]
	[ "$(vctl secret get app/db)" = old ]
	[ "$(versions app/db)" -eq 1 ]
	run vctl secret get app/new
	[ "$status" -ne 0 ]
	run vctl audit show --event open-write
	[[ $output == *" open-write deny EINVAL app/db uid=1000 "* ]]
}

@test ": > f makes an empty version; touch makes one for a new name, none for an existing one" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow read,write /app/* uid=1000
	EOF
	printf old | vctl secret set app/db
	daemon_start
	as 1000 sh -c ": >$(M app/db)"
	wait_versions app/db 2
	[ -z "$(vctl secret get app/db)" ]
	[ "$(as 1000 stat -c %s "$(M app/db)")" -eq 0 ]
	as 1000 touch "$(M app/t)"
	wait_versions app/t 1
	[ -z "$(vctl secret get app/t)" ]
	as 1000 touch "$(M app/db)"
	# a later open is served after that touch's release: nothing was made
	as 1000 cat "$(M app/db)" >/dev/null
	[ "$(versions app/db)" -eq 2 ]
	# a write open without O_TRUNC and without a write commits nothing either
	as 1000 sh -c "exec 3<>$(M app/db)"
	as 1000 cat "$(M app/db)" >/dev/null
	[ "$(versions app/db)" -eq 2 ]
}

@test "a file being created: fstat answers for it; cp and a fresh dir entry work" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow write /app/wo uid=1000
	allow read,write /app/cp uid=1000
	EOF
	daemon_start
	# stat through the descriptor of a file that has no version yet (its inode is pending)
	run as 1000 sh -c 'exec 3>"$1"; stat -L -c "%a %s" /proc/self/fd/3; printf abc >&3;
		stat -L -c "%a %s" /proc/self/fd/3' sh "$(M app/wo)"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "200 0" ]
	[ "${lines[1]}" = "200 3" ]
	[ "$(vctl secret get app/wo)" = abc ]
	head -c 5000 /dev/urandom >"$T/src"
	chmod 0644 "$T/src"
	as 1000 cp "$T/src" "$(M app/cp)"
	as 1000 cat "$(M app/cp)" >"$T/got"
	cmp "$T/src" "$T/got"
	[ "$(as 1000 ls "$(M app)" | tr '\n' ' ')" = "cp wo " ]
}

@test "O_CREAT|O_EXCL of a name another create holds open (not committed yet) is EEXIST" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow read,write /app/lock uid=1000
	EOF
	daemon_start
	run as 1000 /usr/bin/python3 - "$(M app/lock)" <<-'EOF'
	import os, sys
	p = sys.argv[1]
	fl = os.O_CREAT | os.O_EXCL | os.O_WRONLY
	a = os.open(p, fl)
	try:
	    os.open(p, fl)
	    print("second O_EXCL create succeeded")
	    sys.exit(1)
	except FileExistsError:
	    pass
	b = os.open(p, os.O_CREAT | os.O_WRONLY) # without O_EXCL: a writer of its own
	os.write(a, b"first")
	os.close(a)
	os.close(b)
	try:
	    os.open(p, fl)
	    print("O_EXCL create of a committed name succeeded")
	    sys.exit(1)
	except FileExistsError:
	    pass
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
	# one secret: "first" from a, then the empty version b's close made
	[ "$(versions app/lock)" -eq 2 ]
	[ "$(vctl secret get app/lock --version 1)" = first ]
	[ -z "$(vctl secret get app/lock)" ]
}

@test "rm soft-deletes (secret list --deleted shows it); refused without delete; the name stays held" {
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow read,write,delete /app/* uid=1000
	allow read /app/* uid=1001
	EOF
	printf a | vctl secret set app/gone
	printf b | vctl secret set app/kept
	daemon_start
	run as 1001 rm -f "$(M app/kept)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	[ "$(vctl secret get app/kept)" = b ]
	as 1000 rm "$(M app/gone)"
	! as 1000 test -e "$(M app/gone)" || false
	run vctl secret list app --deleted
	[[ $output == "gone	version 1	deleted "* ]]
	[ "$(vctl secret list app)" = kept ]
	[ "$(as 1000 ls "$(M app)")" = kept ]
	# a soft-deleted secret holds its name until purged
	run as 1000 sh -c "echo x >$(M app/gone)"
	[ "$status" -ne 0 ]
	[[ $output == *"File exists"* ]]
	run vctl audit show --event delete
	[[ $output == *" delete deny EACCES app/kept uid=1001 "*"rule=default"* ]]
	[[ $output == *" delete allow app/gone uid=1000 "*"rule=$T/policy.d/10-test.policy:2"* ]]
}

@test "mkdir and rmdir make and remove vaults (manage); refused without it; ENOTEMPTY" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow manage /newv uid=1000
	allow write,delete /newv/* uid=1000
	allow read /app/* uid=1001
	EOF
	daemon_start
	as 1000 mkdir "$(M newv)"
	vctl vault list | grep -qx 'newv.*'
	[ "$(as 1000 stat -c %F "$(M newv)")" = directory ]
	run as 1001 mkdir "$(M other)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	! vctl vault list | grep -q '^other' || false
	# a vault is not made inside a vault; names are the store's
	run as 1000 mkdir "$(M app/sub)"
	[[ $output == *"Operation not permitted"* ]]
	run as 1000 mkdir "$(M .hidden)"
	[[ $output == *"Invalid argument"* ]]
	as 1000 sh -c "printf s >$(M newv/s)"
	run as 1000 rmdir "$(M newv)"
	[ "$status" -ne 0 ]
	[[ $output == *"Directory not empty"* ]]
	# soft-deleted objects still hold the vault; purged, it can go
	as 1000 rm "$(M newv/s)"
	run as 1000 rmdir "$(M newv)"
	[[ $output == *"Directory not empty"* ]]
	vctl secret purge newv/s
	run as 1001 rmdir "$(M app)"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	as 1000 rmdir "$(M newv)"
	! vctl vault list | grep -q '^newv' || false
	run vctl audit show --event vault-create
	[[ $output == *" vault-create allow newv uid=1000 "* ]]
	[[ $output == *" vault-create deny EACCES other uid=1001 "* ]]
	run vctl audit show --event vault-delete
	[[ $output == *" vault-delete deny ENOTEMPTY newv uid=1000 "* ]]
	[[ $output == *" vault-delete deny EACCES app uid=1001 "* ]]
	[[ $output == *" vault-delete allow newv uid=1000 "* ]]
}

@test ".versions and .meta are read-only (EROFS); links and renames are refused (EPERM)" {
	policy <<-'EOF'
	allow * /** uid=0
	EOF
	printf x | vctl secret set app/db
	daemon_start
	run sh -c "echo y >$(M app/.versions/db/1)"
	[[ $output == *"Read-only file system"* ]]
	run sh -c "echo y >$(M app/.meta/db)"
	[[ $output == *"Read-only file system"* ]]
	run touch "$(M app/.meta/new)"
	[[ $output == *"Read-only file system"* ]]
	run rm "$(M app/.versions/db/1)"
	[[ $output == *"Read-only file system"* ]]
	run rm "$(M app/.meta/db)"
	[[ $output == *"Read-only file system"* ]]
	run rmdir "$(M app/.versions/db)"
	[[ $output == *"Read-only file system"* ]]
	run rmdir "$(M app/.meta)"
	[[ $output == *"Read-only file system"* ]]
	run mkdir "$(M app/.versions/x)"
	[[ $output == *"Read-only file system"* ]]
	run truncate -s 0 "$(M app/.versions/db/1)"
	[ "$status" -ne 0 ]
	run ln -s x "$(M app/l)"
	[[ $output == *"Operation not permitted"* ]]
	run ln "$(M app/db)" "$(M app/l)"
	[ "$status" -ne 0 ]
	run mv "$(M app/db)" "$(M app/db2)"
	[ "$status" -ne 0 ]
	run chmod 0644 "$(M app/db)"
	[[ $output == *"Operation not permitted"* ]]
	chmod 0600 "$(M app/db)" # what stat shows already: nothing to change
	[ "$(vctl secret get app/db)" = x ]
	[ "$(versions app/db)" -eq 1 ]
	[ "$(cat "$(M app/.versions/db/1)")" = x ]
	run vctl audit show --event delete
	[[ $output == *" delete deny EROFS app/db uid=0 "*"path=/app/.versions/db/1"* ]]
	[[ $output == *" delete deny EROFS app/db uid=0 "*"path=/app/.meta/db"* ]]
}

@test "ls -l shows 0600, 0200 and 0400 per caller; access(2) and a write-only writer agree" {
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow read,write /app/rw uid=1000
	allow write /app/wo uid=1000
	allow read /app/ro uid=1000
	allow read /app/* uid=1001
	EOF
	for s in ro rw wo; do printf "v-$s" | vctl secret set "app/$s"; done
	daemon_start
	[ "$(as 1000 stat -c '%A %u %g' "$(M app/rw)")" = "-rw------- 1000 1000" ]
	[ "$(as 1000 stat -c '%A' "$(M app/wo)")" = "--w-------" ]
	[ "$(as 1000 stat -c '%A' "$(M app/ro)")" = "-r--------" ]
	[ "$(as 1001 stat -c '%a' "$(M app/rw)")" = 400 ]
	as 1000 ls -l "$(M app)" | grep -q '^-rw------- .* rw$'
	as 1000 ls -l "$(M app)" | grep -q '^--w------- .* wo$'
	as 1000 ls -l "$(M app)" | grep -q '^-r-------- .* ro$'
	as 1000 test -w "$(M app/rw)"
	as 1000 test -w "$(M app/wo)"
	! as 1000 test -r "$(M app/wo)" || false
	! as 1000 test -w "$(M app/ro)" || false
	! as 1001 test -w "$(M app/rw)" || false
	as 1000 sh -c "printf new >$(M app/wo)"
	[ "$(vctl secret get app/wo)" = new ]
	run as 1000 cat "$(M app/wo)"
	[[ $output == *"Permission denied"* ]]
	# O_RDWR needs read as well
	run as 1000 sh -c "exec 3<>$(M app/wo)"
	[[ $output == *"Permission denied"* ]]
	run as 1000 sh -c "printf x >$(M app/ro)"
	[[ $output == *"Permission denied"* ]]
	[ "$(versions app/ro)" -eq 1 ]
}

@test "a reader during 100 writes through the mount sees only whole versions" {
	sed -i 's/^\[seal\]$/[seal]\nkeyring_timeout = 300/' "$CONF"
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow write /app/rot uid=1000
	allow read /app/rot uid=1001
	EOF
	value() { # 3997 bytes all made of one version number
		printf "v%05d:" "$1" | awk '{ for (i = 0; i < 571; i++) printf "%s", $0 }'
	}
	# every whole version, one a line: a read that is anything else (a part of a write, short,
	# another secret's) is "foreign" to tests/lib/reader-loop.py, which checks each read
	# in-process (a shell loop of cat, head, wc and sed made a few reads per write and slowed
	# the writer)
	for i in $(seq 0 100); do
		value "$i"
		echo
	done >"$T/allowed"
	chmod 0644 "$T/allowed"
	mkdir -m 0777 "$T/out"
	value 0 | vctl secret set app/rot
	daemon_start
	for r in 1 2 3; do
		as 1001 /usr/bin/python3 "$VAULTFS_TOP/tests/lib/reader-loop.py" "$(M app/rot)" \
			"$T/allowed" "$T/stop" "$T/out/r$r" 3>&- &
		PIDS+=($!)
	done
	for i in $(seq 100); do
		value "$i" >"$T/v"
		# four writes of 1000 bytes each: a reader must never see a part of them
		as 1000 dd of="$(M app/rot)" bs=1000 status=none <"$T/v"
	done
	touch "$T/stop"
	for p in "${PIDS[@]}"; do wait "$p"; done
	PIDS=()
	cat "$T"/out/r*
	[ "$(cat "$T"/out/r* | grep -c '^reads ')" -eq 3 ]
	[ -z "$(grep -h '^foreign' "$T"/out/r*)" ] # (a bare "! grep" would not fail the test)
	total=$(cat "$T"/out/r* | awk '/^reads / { s += $2 } END { print s }')
	echo "reads: $total"
	[ "$total" -gt 0 ]
	[ "$(versions app/rot)" -eq 101 ]
	[ "$(as 1001 head -c 7 "$(M app/rot)")" = "v00100:" ]
}

@test "every change and refusal is in the audit journal, with its decision, before the reply" {
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow read,write /app/db uid=1000
	allow read /app/db uid=1001
	EOF
	daemon_start
	as 1000 sh -c "printf a >$(M app/db)"
	run as 1001 sh -c "printf b >$(M app/db)"
	run as 1001 rm "$(M app/db)"
	run vctl audit show --json
	grep -q '"event":"open-write","decision":"allow","errno":null,.*"vault":"app","object":"db","version":null,"path":"/app/db","uid":1000' <<<"$output"
	grep -q '"event":"set","decision":"allow","errno":null,.*"object":"db","version":1,"path":"/app/db","uid":1000' <<<"$output"
	grep -q '"event":"open-write","decision":"deny","errno":"EACCES","rule":"default",.*"uid":1001' <<<"$output"
	grep -q '"event":"delete","decision":"deny","errno":"EACCES","rule":"default",.*"uid":1001' <<<"$output"
	# the open-write record comes before the set record, both with the writer's exe
	run vctl audit show --uid 1000
	[[ ${lines[0]} == *" open-write allow app/db uid=1000 "*"exe=/usr/bin/dash"* ]] ||
		[[ ${lines[0]} == *" open-write allow app/db uid=1000 "*"exe=/usr/bin/bash"* ]]
	[[ ${lines[1]} == *" set allow app/db v1 uid=1000 "*"rule=$T/policy.d/10-test.policy:2"* ]]
	vctl audit verify
}

@test "a commit the journal cannot record fails close(2) with EIO and makes no version" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow read,write /app/db uid=1000
	EOF
	printf old | vctl secret set app/db
	mkdir "$T/full"
	mount -t tmpfs -o size=64k,mode=0700 tmpfs "$T/full" || skip "cannot mount a tmpfs"
	mv "$T/audit.jsonl" "$T/full/audit.jsonl"
	sed -i "s|^path = $T/audit.jsonl\$|path = $T/full/audit.jsonl|" "$CONF"
	daemon_start
	# open and write now (recorded), close when told
	as 1000 perl -e '$| = 1;
		open(my $f, ">", $ARGV[0]) or do { print "open: $!\n"; exit 1 };
		syswrite($f, "new") == 3 or do { print "write: $!\n"; exit 1 };
		print "opened\n";
		select(undef, undef, undef, 0.05) until -e $ARGV[1];
		print(close($f) ? "close: ok\n" : "close: $!\n")' "$(M app/db)" "$T/go" >"$T/out" &
	writer=$!
	for i in $(seq 100); do grep -q opened "$T/out" && break; sleep 0.05; done
	grep -q opened "$T/out"
	head -c 100000 /dev/zero >"$T/full/filler" 2>/dev/null || true
	# what is left of the journal's last page still takes a few records; then it is full
	for i in $(seq 200); do
		as 1000 cat "$(M app/db)" >/dev/null 2>"$T/err" || break
	done
	grep -q "Input/output error" "$T/err"
	touch "$T/go"
	wait "$writer"
	cat "$T/out"
	grep -q "close: Input/output error" "$T/out"
	rm "$T/full/filler"
	[ "$(as 1000 cat "$(M app/db)")" = old ]
	[ "$(versions app/db)" -eq 1 ]
	# and the next write goes through
	as 1000 sh -c "printf next >$(M app/db)"
	[ "$(vctl secret get app/db)" = next ]
}

@test "SIGTERM while writers and readers run: the daemon stops and unmounts" {
	policy <<-'EOF'
	allow list /app uid=1000
	allow read,write,delete /app/* uid=1000
	EOF
	printf x | vctl secret set app/db
	daemon_start
	(
		i=0
		while [ ! -e "$T/stop" ]; do
			i=$((i + 1))
			as 1000 sh -c "printf $i >$(M app/w$((i % 5)))" 2>/dev/null
			as 1000 rm -f "$(M app/w$(((i + 2) % 5)))" 2>/dev/null
			as 1000 ls "$(M app)" >/dev/null 2>&1
		done
	) 3>&- &
	PIDS+=($!)
	sleep 1
	kill -TERM "$DAEMON"
	for i in $(seq 100); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$DAEMON" 2>/dev/null || false
	wait "$DAEMON" || true
	DAEMON=
	touch "$T/stop"
	! grep -q " $T/mnt fuse" /proc/mounts || false
}

@test "write handles: one uid stops at its cap (EMFILE) while another writes; locked memory bounded" {
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow write /app/* uid=1000,1001
	EOF
	printf a | vctl secret set app/db
	mkdir -m 0700 "$T/u" && chown 1000 "$T/u"
	daemon_start
	# locked pages resident (Locked: of smaps); VmLck counts whole locked mappings, which
	# mlockall(MCL_ONFAULT) gives every new arena or stack before a page of it is touched
	lck0=$(awk '/^Locked:/ {print $2}' "/proc/$DAEMON/smaps_rollup")
	# uid 1000 holds write opens of app/db (no O_TRUNC, nothing written: no commit at close)
	as 1000 /usr/bin/python3 - "$(M app/db)" "$T/u" <<-'EOF' &
	import errno, os, sys, time
	path, d = sys.argv[1:3]
	fds, err = [], 0
	while len(fds) < 900:
	    try:
	        fds.append(os.open(path, os.O_WRONLY))
	    except OSError as e:
	        err = e.errno
	        break
	with open(os.path.join(d, "held"), "w") as f:
	    f.write("%d %s\n" % (len(fds), errno.errorcode.get(err, err)))
	while not os.path.exists(os.path.join(d, "release")):
	    time.sleep(0.05)
	EOF
	PIDS+=($!)
	for _ in $(seq 400); do [ -s "$T/u/held" ] && break; sleep 0.05; done
	cat "$T/u/held"
	[ "$(cat "$T/u/held")" = "128 EMFILE" ]
	# a create by the same uid is refused too; another uid still writes
	run as 1000 sh -c "printf x >$(M app/new)"
	[[ $output == *"Too many open files"* ]]
	as 1001 sh -c "printf b >$(M app/db)"
	[ "$(vctl secret get app/db)" = b ]
	lck=$(awk '/^Locked:/ {print $2}' "/proc/$DAEMON/smaps_rollup")
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$DAEMON/status")
	echo "Locked ${lck0} kB at start, ${lck} kB with 128 write handles (VmRSS ${rss} kB)"
	# a page each, not 1 MiB each (that would be 128 MiB more)
	[ $((lck - lck0)) -lt 4096 ]
	touch "$T/u/release"
	wait "${PIDS[-1]}"
	# released: the uid writes again, and a value of 1 MiB grows its buffer to the end
	head -c 1048576 /dev/urandom >"$T/big"
	as 1000 dd of="$(M app/db)" bs=1000 status=none <"$T/big"
	vctl secret get app/db | cmp - "$T/big"
}

@test "write buffers: one uid stops at its byte budget (EDQUOT, recorded) while another writes; freed at close" {
	policy <<-'EOF'
	allow list /app uid=1000,1001
	allow write /app/* uid=1000,1001
	EOF
	printf a | vctl secret set app/db
	printf b | vctl secret set app/other
	mkdir -m 0700 "$T/u" && chown 1000 "$T/u"
	daemon_start
	# uid 1000 holds 20 write opens of app/db and writes 1 MiB into each in turn: 16 MiB is
	# its budget, and the 20 buffers' first pages count too, so the 16th cannot grow
	as 1000 /usr/bin/python3 - "$(M app/db)" "$T/u" <<-'EOF' &
	import errno, os, sys, time
	path, d = sys.argv[1:3]
	fds = [os.open(path, os.O_WRONLY) for _ in range(20)]
	data = b"v" * (1 << 20)
	ok, err = 0, 0
	for fd in fds:
	    try:
	        done = 0
	        while done < len(data):  # a split write may come back short before it fails
	            done += os.write(fd, data[done:])
	        ok += 1
	    except OSError as e:
	        err = e.errno
	        break
	with open(os.path.join(d, "held"), "w") as f:
	    f.write("%d %s\n" % (ok, errno.errorcode.get(err, err)))
	while not os.path.exists(os.path.join(d, "release")):
	    time.sleep(0.05)
	for fd in fds:
	    try:
	        os.close(fd)
	    except OSError as e:
	        print("close:", errno.errorcode.get(e.errno, e.errno))
	EOF
	PIDS+=($!)
	for _ in $(seq 600); do [ -s "$T/u/held" ] && break; sleep 0.05; done
	cat "$T/u/held"
	[ "$(cat "$T/u/held")" = "15 EDQUOT" ]
	# the same uid cannot grow another buffer past a page; another uid writes 1 MiB
	head -c 1048576 /dev/urandom >"$T/big"
	run as 1000 dd of="$(M app/other)" bs=64k status=none <"$T/big"
	[ "$status" -ne 0 ]
	[[ $output == *"quota exceeded"* ]]
	as 1001 dd of="$(M app/other)" bs=64k status=none <"$T/big"
	vctl secret get app/other | cmp - "$T/big"
	run vctl audit show --event set
	[[ $output == *" set deny EDQUOT app/db uid=1000 "* ]]
	[[ $output == *" set deny EDQUOT app/other uid=1000 "* ]]
	grep -q "(EDQUOT): the write buffers of uid 1000 would hold more than 16 MiB" "$T/daemon.log"
	touch "$T/u/release"
	wait "${PIDS[-1]}"
	# the budget came back with the closes: uid 1000 writes 1 MiB again
	as 1000 dd of="$(M app/db)" bs=64k status=none <"$T/big"
	vctl secret get app/db | cmp - "$T/big"
}

@test "write buffers: all uids together stop at the total budget (ENOSPC, recorded)" {
	policy <<-'EOF'
	allow list /app uid=1000,1001,1002,1003,1004
	allow write /app/* uid=1000,1001,1002,1003,1004
	EOF
	printf a | vctl secret set app/db
	mkdir -m 0777 "$T/u"
	# hold.py PATH DIR N: N write opens of PATH, 1 MiB into each in turn; DIR/held-UID says how
	# many took it and the errno of the one that did not; closed when DIR/release appears
	cat >"$T/hold.py" <<-'EOF'
	import errno, os, sys, time
	path, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
	fds = [os.open(path, os.O_WRONLY) for _ in range(n)]
	data = b"v" * (1 << 20)
	ok, err = 0, 0
	for fd in fds:
	    try:
	        done = 0
	        while done < len(data):
	            done += os.write(fd, data[done:])
	        ok += 1
	    except OSError as e:
	        err = e.errno
	        break
	with open(os.path.join(d, "held-%d" % os.getuid()), "w") as f:
	    f.write("%d %s\n" % (ok, errno.errorcode.get(err, err)))
	while not os.path.exists(os.path.join(d, "release")):
	    time.sleep(0.05)
	for fd in fds:
	    try:
	        os.close(fd)
	    except OSError:
	        pass
	EOF
	daemon_start
	# four uids hold 15 MiB each (under their 16): 60 MiB of the 64 in all
	for uid in 1000 1001 1002 1003; do
		as "$uid" /usr/bin/python3 "$T/hold.py" "$(M app/db)" "$T/u" 15 &
		PIDS+=($!)
		for _ in $(seq 600); do [ -s "$T/u/held-$uid" ] && break; sleep 0.05; done
		[ "$(cat "$T/u/held-$uid")" = "15 0" ]
	done
	# a fifth gets 3 MiB more, then ENOSPC: the total, not its own budget
	as 1004 /usr/bin/python3 "$T/hold.py" "$(M app/db)" "$T/u" 15 &
	PIDS+=($!)
	for _ in $(seq 600); do [ -s "$T/u/held-1004" ] && break; sleep 0.05; done
	cat "$T/u/held-1004"
	[ "$(cat "$T/u/held-1004")" = "3 ENOSPC" ]
	run vctl audit show --event set
	[[ $output == *" set deny ENOSPC app/db uid=1004 "* ]]
	grep -q "write buffers of all uids would hold more than 64 MiB" "$T/daemon.log"
	touch "$T/u/release"
	for p in "${PIDS[@]}"; do wait "$p"; done
	PIDS=()
}
