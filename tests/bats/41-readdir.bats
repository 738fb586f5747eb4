#!/usr/bin/env bats
# Directory listings of vaultfsd read the store a page at a time (readdir), not whole at
# opendir: a vault of thousands of secrets lists every name exactly once (in the vault, in
# .versions and .meta), read in small pieces (getdents64 with a buffer that takes a few entries
# of each reply), with seeks (lseek on the directory), with two listings interleaved; names
# added and removed during a listing are met or not as the store is when the listing gets to
# them, and never twice; soft-deleted secrets and names the policy hides are skipped, however
# many in a row; .versions/S of a secret with hundreds of versions. Secrets are loaded through
# the control socket (one connection, requests pipelined) to keep each test short.

load helpers

N=5000

setup() {
	vault_setup
	chmod 0711 "$T" # other uids reach the mount point below it; its files stay 0600
	mkdir -m 0700 "$T/policy.d"
	init_store
	# vaults on both sides of app, by id and by name: their rows are not app's
	vctl vault create aa
	vctl vault create app
	vctl vault create zz
	DAEMON=
	write_scripts
}

teardown() {
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# The python helpers, written to $T:
#   ctl.py SOCK (set|del) VAULT FMT FIRST COUNT [VERSIONS]: secret-set (value "v<i>", VERSIONS
#       times each) or secret-delete of the names FMT % i for i in FIRST..FIRST+COUNT-1, on one
#       connection, 100 requests in flight
#   ls.py DIR MODE: the entries of DIR, one "name" a line, read as MODE says:
#       big           getdents64 with 64 KiB (whole replies)
#       small         getdents64 with 64..400 bytes (a few entries of each reply at a time)
#       seek:O:R      R replies (4 KiB) read, then lseek to offset O, then the rest
#       twice         two listings of DIR read in turn, 200 bytes at a time: both, one after
#                     the other ("--" between them)
#       change:SOCK   one reply (4 KiB) and a few entries of the next, then names added and
#                     removed (see the test), then the rest
write_scripts() {
	cat >"$T/ctl.py" <<-'PY'
	import json, socket, sys
	sock, op, vault, fmt, first, count = sys.argv[1:7]
	versions = int(sys.argv[7]) if len(sys.argv) > 7 else 1
	first, count = int(first), int(count)
	s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	s.connect(sock)
	f = s.makefile("rb")
	reqs = []
	for i in range(first, first + count):
	    name = fmt % i
	    for k in range(versions):
	        if op == "set":
	            val = b"v%d" % i
	            reqs.append((json.dumps({"v": 1, "op": "secret-set", "vault": vault,
	                                     "name": name, "value_len": len(val)})
	                         + "\n").encode() + val)
	        else:
	            reqs.append((json.dumps({"v": 1, "op": "secret-delete", "vault": vault,
	                                     "name": name}) + "\n").encode())
	for j in range(0, len(reqs), 100):
	    batch = reqs[j:j + 100]
	    s.sendall(b"".join(batch))
	    for _ in batch:
	        r = json.loads(f.readline())
	        if not r.get("ok"):
	            sys.exit("%s: %s" % (op, r))
	PY
	cat >"$T/ls.py" <<-'PY'
	import ctypes, os, struct, subprocess, sys
	NR = {"x86_64": 217, "aarch64": 61}[os.uname().machine]
	libc = ctypes.CDLL(None, use_errno=True)
	libc.syscall.restype = ctypes.c_long

	def getdents(fd, size):
	    buf = ctypes.create_string_buffer(size)
	    n = libc.syscall(NR, fd, buf, size)
	    if n < 0:
	        e = ctypes.get_errno()
	        raise OSError(e, os.strerror(e))
	    out, pos = [], 0
	    while pos < n:
	        ino, off, reclen, typ = struct.unpack_from("<QqHB", buf.raw, pos)
	        name = buf.raw[pos + 19:pos + reclen].split(b"\0", 1)[0].decode()
	        out.append((name, off))
	        pos += reclen
	    return out

	def rest(fd, size):
	    names = []
	    while True:
	        got = getdents(fd, size)
	        if not got:
	            return names
	        names += [n for n, _ in got]

	d, mode = sys.argv[1], sys.argv[2]
	fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
	if mode == "big":
	    names = rest(fd, 65536)
	elif mode == "small":
	    names, i = [], 0
	    while True:
	        got = getdents(fd, 64 + (i * 37) % 337)
	        i += 1
	        if not got:
	            break
	        names += [n for n, _ in got]
	elif mode.startswith("seek:"):
	    to, replies = map(int, mode[5:].split(":"))
	    seen = []
	    for _ in range(replies):
	        seen += getdents(fd, 4096)
	    assert [o for _, o in seen] == list(range(1, len(seen) + 1)), "offsets"
	    os.lseek(fd, to, os.SEEK_SET)
	    names = rest(fd, 4096)
	elif mode == "twice":
	    fd2 = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
	    a, b, done = [], [], [False, False]
	    while not all(done):
	        for k, (f, acc) in enumerate(((fd, a), (fd2, b))):
	            if not done[k]:
	                got = getdents(f, 200)
	                done[k] = not got
	                acc += [n for n, _ in got]
	    names = a + ["--"] + b
	elif mode.startswith("change:"):
	    sock = mode[7:]
	    # a reply, then a few entries of the next: the kernel stops inside it
	    names = [n for n, _ in getdents(fd, 4096) + getdents(fd, 100)]
	    assert "s00010" in names and "s00200" not in names, names[-1]
	    ctl = [sys.executable, os.path.join(os.path.dirname(sys.argv[0]), "ctl.py"), sock]
	    # behind the cursor: a removal (already given) and names that sort before it
	    subprocess.run(ctl + ["del", "app", "s%05d", "10", "1"], check=True)
	    subprocess.run(ctl + ["set", "app", "a-new%d", "0", "3"], check=True)
	    subprocess.run(ctl + ["set", "app", "s00005x%d", "0", "3"], check=True)
	    # ahead of it: removals, and names that sort after it
	    subprocess.run(ctl + ["del", "app", "s%05d", "3000", "150"], check=True)
	    subprocess.run(ctl + ["set", "app", "s04000x%d", "0", "3"], check=True)
	    subprocess.run(ctl + ["set", "app", "t-new%d", "0", "3"], check=True)
	    names += rest(fd, 4096)
	sys.stdout.write("".join(n + "\n" for n in names))
	PY
	chmod 0644 "$T/ctl.py" "$T/ls.py"
}

# load VAULT FMT FIRST COUNT [VERSIONS]: secrets through the daemon
load_secrets() {
	/usr/bin/python3 "$T/ctl.py" "$T/control.sock" set "$@"
}

delete_secrets() {
	/usr/bin/python3 "$T/ctl.py" "$T/control.sock" del "$@"
}

# expect FIXED... -- FMT FIRST COUNT: the sorted entries a listing must give
expect() {
	local fmt first count
	while [ "$1" != -- ]; do
		echo "$1"
		shift
	done
	fmt=$2 first=$3 count=$4
	for ((i = first; i < first + count; i++)); do
		# shellcheck disable=SC2059 # the format is the test's own
		printf "$fmt\n" "$i"
	done
}

root_policy() {
	policy <<-'EOF'
	allow list,meta,read,write,delete /** uid=0
	EOF
}

@test "ls -f of $N secrets: each name once, in the vault, .versions and .meta; no other vault's" {
	root_policy
	daemon_start
	load_secrets app s%05d 0 "$N"
	load_secrets aa o%04d 0 50
	load_secrets zz o%04d 0 50
	expect . .. .meta .versions -- s%05d 0 "$N" | LC_ALL=C sort >"$T/want"
	ls -f "$(M app)" | LC_ALL=C sort >"$T/got"
	cmp "$T/want" "$T/got"
	expect . .. -- s%05d 0 "$N" | LC_ALL=C sort >"$T/want-sub"
	ls -f "$(M app/.versions)" | LC_ALL=C sort >"$T/got"
	cmp "$T/want-sub" "$T/got"
	ls -f "$(M app/.meta)" | LC_ALL=C sort >"$T/got"
	cmp "$T/want-sub" "$T/got"
	# in name order, the fixed entries first, as the daemon gives them
	[ "$(ls -f "$(M app)" | head -n 6 | tr '\n' ' ')" = ". .. .versions .meta s00000 s00001 " ]
	[ "$(ls -f "$(M app)" | tail -n 1)" = s04999 ]
	[ "$(ls -f "$(M '')" | tr '\n' ' ')" = ". .. aa app zz " ]
	# d_type and inode numbers as stat gives them
	[ "$(find "$(M app)" -maxdepth 1 -type f | wc -l)" -eq "$N" ]
	[ "$(find "$(M app/.versions)" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq "$N" ]
	[ "$(ls -i "$(M app)" | grep -w s04321 | awk '{ print $1 }')" = \
		"$(stat -c %i "$(M app/s04321)")" ]
}

@test "read a few entries at a time, with seeks, and two listings at once: the same entries" {
	root_policy
	daemon_start
	load_secrets app s%05d 0 "$N"
	/usr/bin/python3 "$T/ls.py" "$(M app)" big >"$T/big"
	[ "$(wc -l <"$T/big")" -eq $((N + 4)) ]
	[ -z "$(sort "$T/big" | uniq -d)" ]
	# the kernel takes a few entries of each reply: the next read starts inside it
	/usr/bin/python3 "$T/ls.py" "$(M app)" small >"$T/small"
	cmp "$T/big" "$T/small"
	# lseek after one reply or three: inside the last, at its end, past it, before it (from
	# the start), to the fixed entries, to 0, to the end and past it
	for o in 50 3 1 0 4 5 300 2000 4999 $((N + 3)) $((N + 4)) $((N + 10)); do
		for r in 1 3; do
			/usr/bin/python3 "$T/ls.py" "$(M app)" "seek:$o:$r" >"$T/seek"
			tail -n +$((o + 1)) "$T/big" | cmp - "$T/seek"
		done
	done
	/usr/bin/python3 "$T/ls.py" "$(M app)" twice >"$T/twice"
	{ cat "$T/big"; echo --; cat "$T/big"; } | cmp - "$T/twice"
	# .versions and .meta too
	/usr/bin/python3 "$T/ls.py" "$(M app/.meta)" big >"$T/big"
	/usr/bin/python3 "$T/ls.py" "$(M app/.meta)" small | cmp "$T/big" -
}

@test "names added and removed during a listing: met as the store is when it gets there, once" {
	root_policy
	daemon_start
	load_secrets app s%05d 0 "$N"
	/usr/bin/python3 "$T/ls.py" "$(M app)" "change:$T/control.sock" >"$T/got"
	[ -z "$(sort "$T/got" | uniq -d)" ]
	# every name there for the whole listing, once; the one removed behind was given already
	{
		expect . .. .versions .meta -- s%05d 0 3000
		expect -- s%05d 3150 $((N - 3150))
		printf 's04000x%d\n' 0 1 2
		printf 't-new%d\n' 0 1 2
	} | LC_ALL=C sort >"$T/want"
	LC_ALL=C sort "$T/got" | cmp "$T/want" -
	# and the listing after it sees the store as it is now
	[ "$(ls -f "$(M app)" | grep -c '^a-new\|^s00005x')" -eq 6 ]
	[ -z "$(ls -f "$(M app)" | grep -x s00010)" ]
}

@test "soft-deleted secrets and hidden names are skipped, many in a row; refusals stay at opendir" {
	policy <<-'EOF'
	allow list,meta,write,delete /** uid=0
	allow list /app uid=1000
	allow read /app/s0001* uid=1000
	allow meta /app/s04999 uid=1000
	allow read /app/s00001 uid=1001
	allow list /zz uid=1001
	EOF
	daemon_start
	load_secrets app s%05d 0 "$N"
	# more in a row than a page of the store holds
	delete_secrets app s%05d 1000 300
	{
		expect . .. .versions .meta -- s%05d 0 1000
		expect -- s%05d 1300 $((N - 1300))
	} | LC_ALL=C sort >"$T/want"
	ls -f "$(M app)" | LC_ALL=C sort | cmp "$T/want" -
	# uid 1000 sees 11 of them: the hidden thousands between are walked past
	[ "$(as 1000 ls -f "$(M app)" | tr '\n' ' ')" = \
		". .. .versions .meta $(printf 's%05d ' {10..19})s04999 " ]
	[ "$(as 1000 ls "$(M app/.versions)" | wc -l)" -eq 11 ]
	[ "$(as 1000 ls "$(M app/.meta)" | tail -n 1)" = s04999 ]
	/usr/bin/python3 "$T/ls.py" "$(M app)" big >"$T/big"
	as 1000 /usr/bin/python3 "$T/ls.py" "$(M app)" small >"$T/small"
	grep -x 's0001.\|s04999\|\..*' "$T/big" | cmp - "$T/small"
	[ "$(as 1000 ls -f "$(M '')" | tr '\n' ' ')" = ". .. app " ]
	# app is there for uid 1001 (a right on a secret of it), but without `list` the listing is
	# refused at opendir, as before
	[ "$(as 1001 ls -f "$(M '')" | tr '\n' ' ')" = ". .. app zz " ]
	run as 1001 ls "$(M app)"
	[ "$status" -ne 0 ]
	[[ $output == *"cannot open directory"*"Permission denied"* ]]
	# and recorded, as a refused open is
	grep '"event":"list","decision":"deny","errno":"EACCES","rule":"default"' \
		"$T/audit.jsonl" | grep -q '"path":"/app","uid":1001,'
	[ "$(as 1001 ls -f "$(M zz)" | tr '\n' ' ')" = ". .. .versions .meta " ]
}

@test ".versions/S of 300 versions lists 1..300 once; the secret deleted during it ends it" {
	root_policy
	daemon_start
	load_secrets app multi%d 0 1 300
	load_secrets app s%05d 0 3
	[ "$(ls -f "$(M app/.versions/multi0)" | sort | uniq -d)" = "" ]
	expect . .. -- %d 1 300 | LC_ALL=C sort >"$T/want"
	ls -f "$(M app/.versions/multi0)" | LC_ALL=C sort | cmp "$T/want" -
	[ "$(ls "$(M app/.versions/multi0)" | sort -n | tail -n 1)" = 300 ]
	cat "$(M app/.versions/multi0/300)" | grep -qx v0
	# the listing of a secret deleted after its first reply ends there, without an error
	/usr/bin/python3 - "$(M app/.versions/multi0)" "$T/ctl.py" "$T/control.sock" <<-'PY'
	import os, subprocess, sys
	d, ctl, sock = sys.argv[1:4]
	fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
	it = os.scandir(fd)
	first = next(it).name
	subprocess.run([sys.executable, ctl, sock, "del", "app", "multi%d", "0", "1"], check=True)
	rest = [e.name for e in it]
	assert len(rest) < 300, len(rest)
	PY
	run ls "$(M app/.versions/multi0)"
	[ "$status" -ne 0 ]
}

# Issue 18: directories show when the daemon started serving, not 1970.
@test "directories have the daemon's start time, not the epoch" {
	before=$(date +%s)
	sleep 1
	printf 'x' | vctl secret set app/db 2>/dev/null
	policy <<-'EOF'
	allow list,meta /** uid=0
	EOF
	daemon_start
	for d in "$T/mnt" "$T/mnt/app" "$T/mnt/app/.versions" "$T/mnt/app/.versions/db"; do
		t=$(stat -c %Y "$d")
		[ "$t" -ge "$before" ] || { echo "$d: $t"; false; }
		[ "$t" -le "$(date +%s)" ]
	done
}
