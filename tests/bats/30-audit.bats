#!/usr/bin/env bats
# The audit journal: `vaultctl --offline audit verify` finds every tamper case at the right
# first bad seq (an edited field, a dropped, swapped or forged line, a cut tail, an older copy
# put back, a forged anchor, a rotated file gone from the middle); rotation keeps one chain; a
# kill -9 loop of two writers loses no acknowledged record in `always` mode and verifies after
# recovery; appends fail closed on a full tmpfs, on EIO (a shut-down ext4 on a loop device) and
# when the journal is removed or replaced under the writer; `audit show` filters, prints JSON,
# escapes hostile strings, quotes crafted values and follows across a rotation; a flood of
# refusals is counted past its budget. Records are written by the test
# program tests/bench/bench-audit (`write`), which unseals the store of this test's config.

load helpers

BENCH=$VAULTFS_BUILD/tests/bench-audit
PIDS=()
LOOPDEV=

setup() {
	vault_setup
	J=$T/audit.jsonl
}

teardown() {
	local p m

	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for m in full ext4; do
		if [ -n "${T:-}" ] && mountpoint -q "$T/$m" 2>/dev/null; then
			umount "$T/$m" || umount -l "$T/$m" || true
		fi
	done
	if [ -n "$LOOPDEV" ]; then
		losetup -d "$LOOPDEV" || true
	fi
	vault_teardown
}

# writer ARGS...: append records to this test's journal (see bench-audit write). Background
# jobs run "$BENCH" itself, so that $! is the process that a kill must reach.
writer() {
	"$BENCH" write -c "$CONF" "$@"
}

# the seqs of a journal file, one a line
seqs() {
	grep -o '^{"seq":[0-9]*' "$1" | cut -d: -f2
}

# wait_lines FILE N: until FILE has at least N lines (10 s at most)
wait_lines() {
	local i

	for ((i = 0; i < 100; i++)); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# journal_at DIR: move this test's journal into DIR
journal_at() {
	sed -i "s|^path = $T/audit.jsonl\$|path = $1/audit.jsonl|" "$CONF"
	mv "$J" "$1/audit.jsonl" # with the init record, which the store's anchor names
	J=$1/audit.jsonl
}

ten_records() {
	init_store
	writer --count 9 --sync always # + the init record: 10
	[ "$(wc -l <"$J")" -eq 10 ]
	run vctl audit verify
	[ "$status" -eq 0 ]
	[[ $output == *"intact: 1 file, 10 records, seq 1..10; the anchored head (seq 10)"* ]]
}

# expect_bad N: verify fails with exit 3 at first bad seq N
expect_bad() {
	run vctl audit verify
	echo "$output"
	[ "$status" -eq 3 ]
	[[ $output == *"first bad seq $1:"* ]]
}

@test "verify: an edited field is found at its seq" {
	ten_records
	sed -i '5s/"uid":1000/"uid":0/' "$J"
	expect_bad 5
	[[ $output == *"MAC does not verify"* ]]
}

@test "verify: a deleted line is found, in the middle and at the start" {
	ten_records
	cp "$J" "$T/orig"
	sed -i '4d' "$J"
	expect_bad 4
	[[ $output == *"record missing"* ]]
	sed '1d' "$T/orig" >"$J"
	expect_bad 1
}

@test "verify: two swapped lines are found" {
	ten_records
	awk 'NR == 3 { held = $0; next } NR == 4 { print; print held; next } { print }' "$J" \
		>"$T/swapped"
	cp "$T/swapped" "$J"
	expect_bad 3
}

@test "verify: a forged line inserted is found" {
	ten_records
	sed -n '6p' "$J" | sed 's/^{"seq":6,/{"seq":7,/; s/"uid":1000/"uid":0/' >"$T/forged"
	sed -i "6r $T/forged" "$J"
	[ "$(wc -l <"$J")" -eq 11 ]
	expect_bad 7
	# and a line that is not a record at all
	sed -i '7d' "$J"
	sed -i '3a {"seq":4,"event":"open"}' "$J"
	expect_bad 4
	[[ $output == *"not a well-formed record"* ]]
}

@test "verify: a cut tail is found through the anchor; the writer refuses to go on" {
	ten_records
	head -n 8 "$J" >"$T/cut"
	cp "$T/cut" "$J"
	expect_bad 9
	[[ $output == *"ends at seq 8 but the store's anchor is at seq 10"* ]]
	run writer --count 1
	[ "$status" -eq 1 ]
	[[ $output == *"Bad message"* ]]
	# an emptied journal likewise
	: >"$J"
	expect_bad 1
}

@test "verify: an older copy put back is found" {
	init_store
	writer --count 5 --sync always
	cp "$J" "$T/old"
	writer --count 5 --sync batch
	run vctl audit verify
	[ "$status" -eq 0 ]
	cp "$T/old" "$J"
	expect_bad 7 # init is seq 1
	run writer --count 1
	[ "$status" -eq 1 ]
}

@test "verify: a forged anchor, another key, an unreadable file" {
	ten_records
	sqlite3 "$T/vault.db" "UPDATE meta SET value = CAST('v1 99 00 0 0 00' AS BLOB)
		WHERE key = 'audit.head';"
	run vctl audit verify
	[ "$status" -eq 3 ]
	[[ $output == *"anchored in the store fails its MAC"* ]]
	# a journal written under another store's key does not verify here
	cp "$J" "$T/mine"
	saved=$CONF
	T2=$T/other
	mkdir "$T2"
	sed "s|$T/vault.db|$T2/vault.db|; s|$T/audit.jsonl|$T2/audit.jsonl|" "$saved" >"$T2/conf"
	"$VAULTCTL" -c "$T2/conf" init --recovery-key-file "$T2/rk" >/dev/null 2>&1
	"$BENCH" write -c "$T2/conf" --count 2
	run vctl audit verify "$T2/audit.jsonl"
	[ "$status" -eq 3 ]
	[[ $output == *"first bad seq 1:"* ]]
	run vctl audit verify "$T/nope"
	[ "$status" -eq 1 ]
	[[ $output == *"cannot read '$T/nope'"* ]]
}

@test "rotation: one chain across files; verify takes them in order; a missing middle file is found" {
	init_store
	writer --count 12 --sync batch --rotate-size 2500
	[ -e "$J.1" ]
	[ -e "$J.2" ]
	head -n 1 "$J" | grep -q '"event":"rotate"'
	run vctl audit verify
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"intact: "*" files, "* ]]
	[[ $output == *"the anchored head"*"is the last record"* ]]
	run vctl audit verify "$J.1" "$J"
	[ "$status" -eq 0 ]
	[[ $output == *"starts after a rotation"* ]]
	run vctl audit verify "$J" "$J.1"
	[ "$status" -eq 3 ]
	run vctl audit verify "$J.1"
	[ "$status" -eq 0 ]
	[[ $output == *"anchor not checked"* ]]
	rm "$J.1"
	run vctl audit verify
	[ "$status" -eq 3 ]
	[[ $output == *"record missing"* ]]
}

@test "kill -9 in a loop of two writers: the journal verifies after recovery, no acknowledged record lost" {
	# the host sealer: two writers killed in the middle of a TPM session would leave the
	# (resource-manager-less) swtpm with objects nobody flushes
	init_store --sealer host
	for i in 1 2 3 4 5 6 7 8; do
		"$BENCH" write -c "$CONF" --count 0 --sync always --print \
			>"$T/acked.$i.a" 2>/dev/null 3>&- &
		p1=$!
		"$BENCH" write -c "$CONF" --count 0 --sync always --print --event open \
			>"$T/acked.$i.b" 2>/dev/null 3>&- &
		p2=$!
		PIDS=("$p1" "$p2")
		sleep "0.$((RANDOM % 5 + 2))"
		kill -9 "$p1" "$p2" 2>/dev/null || true
		wait "$p1" "$p2" 2>/dev/null || true
		PIDS=()
	done
	# and a torn last line, as a crash in the middle of a write leaves it: where the data ends,
	# over the zeros the writers (sync = always) allocated ahead, not after them
	end=$(tr -d '\0' <"$J" | wc -c)
	printf '{"seq":99999,"time":"2026-' | dd of="$J" bs=1 seek="$end" conv=notrunc status=none
	run vctl audit verify
	echo "$output"
	[ "$status" -eq 3 ]
	[[ $output == *"torn last line"* ]]
	writer --count 1 --sync always
	run vctl audit verify
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '"event":"journal-recovered".*"rule":"torn tail: 26 bytes cut"' "$J"
	seqs "$J" | sort -n >"$T/have"
	cat "$T"/acked.* | sort -n | uniq >"$T/acked"
	[ "$(wc -l <"$T/acked")" -gt 20 ]
	[ -z "$(comm -23 "$T/acked" "$T/have")" ]
	# one seq sequence: 1..N without a gap or a repeat
	[ "$(seqs "$J" | tr '\n' ' ')" = "$(seq 1 "$(wc -l <"$J")" | tr '\n' ' ')" ]
}

@test "fail-closed on a full file system: the append fails, nothing partial stays, the chain goes on" {
	init_store
	mkdir "$T/full"
	mount -t tmpfs -o size=64k,mode=0700 tmpfs "$T/full" || skip "cannot mount a tmpfs"
	journal_at "$T/full"
	head -c 40000 /dev/zero >"$T/full/filler"
	run writer --count 100000 --sync always --print
	[ "$status" -eq 1 ]
	[[ $output == *"append: No space left on device"* ]]
	last=$(echo "$output" | grep -E '^[0-9]+$' | tail -n 1)
	[ "$last" -gt 5 ]
	[ "$(wc -l <"$J")" -eq "$last" ]
	[ "$(tail -c 1 "$J" | od -An -tx1 | tr -d ' ')" = 0a ]
	run vctl audit verify
	[ "$status" -eq 0 ]
	rm "$T/full/filler"
	run writer --count 5 --sync always --print
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -n 1)" -eq $((last + 5)) ]
	run vctl audit verify
	[ "$status" -eq 0 ]
}

@test "fail-closed on EIO: a shut-down file system fails the append" {
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 not installed"
	command -v losetup >/dev/null || skip "losetup not installed"
	init_store
	truncate -s 32M "$T/ext4.img"
	mkfs.ext4 -q "$T/ext4.img"
	mkdir "$T/ext4"
	LOOPDEV=$(losetup -f --show "$T/ext4.img") || skip "no loop device"
	mount "$LOOPDEV" "$T/ext4" || skip "cannot mount a loop device"
	journal_at "$T/ext4"
	"$BENCH" write -c "$CONF" --count 0 --sync always --print >"$T/out" 2>"$T/err" 3>&- &
	PIDS=($!)
	wait_lines "$T/out" 5
	"$BENCH" fs-shutdown "$T/ext4"
	rc=0
	wait "${PIDS[0]}" || rc=$?
	PIDS=()
	[ "$rc" -eq 1 ]
	grep -q "append: Input/output error" "$T/err"
}

@test "fail-closed when the journal is removed under a running writer, and at the next open" {
	init_store
	"$BENCH" write -c "$CONF" --count 0 --sync batch --print >"$T/out" 2>"$T/err" 3>&- &
	PIDS=($!)
	wait_lines "$T/out" 5
	sleep 0.3 # batch: the flusher syncs and anchors the head every 100 ms
	rm "$J"
	rc=0
	wait "${PIDS[0]}" || rc=$?
	PIDS=()
	[ "$rc" -eq 1 ]
	grep -q "append: Stale file handle" "$T/err"
	# a new empty journal does not pass for the old one: the store's anchor says otherwise
	run writer --count 1
	[ "$status" -eq 1 ]
	[[ $output == *"Bad message"* ]]
	run vctl audit verify
	[ "$status" -eq 3 ]
	[[ $output == *"first bad seq 1:"* ]]
}

@test "fail-closed when the journal is replaced by a copy under a running writer" {
	init_store
	"$BENCH" write -c "$CONF" --count 0 --sync always --print >"$T/out" 2>"$T/err" 3>&- &
	PIDS=($!)
	wait_lines "$T/out" 5
	cp "$J" "$T/copy"
	mv "$T/copy" "$J"
	rc=0
	wait "${PIDS[0]}" || rc=$?
	PIDS=()
	[ "$rc" -eq 1 ]
	grep -q "append: Stale file handle" "$T/err"
}

@test "show: filters by uid, vault, decision, event and time; --json prints the records as written" {
	init_store
	writer --count 3 --vault app --uid 1000
	writer --count 2 --vault web --uid 1001 --deny
	writer --count 1 --vault app --uid 0 --event open
	run vctl audit show
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 7 ] # the first is vaultctl init's
	[[ ${lines[0]} == 20*Z\ 1\ init\ allow\ * ]]
	[[ ${lines[1]} == 20*Z\ 2\ set\ allow\ app/db-password\ v3\ uid=1000\ gid=1000\ pid=* ]]
	run vctl audit show --uid 1001
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[1]} == *" 6 set deny EACCES web/db-password v3 uid=1001 "* ]]
	run vctl audit show --uid 0
	[ "${#lines[@]}" -eq 2 ]
	run vctl audit show --vault app
	[ "${#lines[@]}" -eq 4 ]
	run vctl audit show --decision deny
	[ "${#lines[@]}" -eq 2 ]
	run vctl audit show --decision allow --vault app --event open
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} == *" 7 open allow "* ]]
	run vctl audit show --since +1d
	[ "${#lines[@]}" -eq 0 ]
	run vctl audit show --until -1d
	[ "${#lines[@]}" -eq 0 ]
	run vctl audit show --since -1h --until +1h
	[ "${#lines[@]}" -eq 7 ]
	vctl audit show --json >"$T/json"
	cmp "$T/json" "$J"
	run vctl audit show --decision maybe
	[ "$status" -eq 2 ]
	run vctl audit show extra
	[ "$status" -eq 2 ]
	run vctl audit show --uid -1
	[ "$status" -eq 2 ]
	run vctl audit frob
	[ "$status" -eq 2 ]
	# a line that is not a record is said, not hidden
	echo 'garbage' >>"$J"
	run vctl audit show
	[ "$status" -eq 3 ]
	[[ $output == *"not an audit record"* ]]
}

@test "show: hostile strings are escaped for the terminal; the journal keeps them exactly" {
	init_store
	writer --count 1 --vault "$(printf 'a\033[31mred\nx\\y')"
	run vctl audit show
	[ "$status" -eq 0 ]
	[[ $output == *'"a\x1b[31mred\x0ax\\y/db-password"'* ]]
	! vctl audit show | grep -q "$(printf '\033')" || false
	grep -qF '"vault":"a\u001b[31mred\u000ax\\y"' "$J"
	run vctl audit verify
	[ "$status" -eq 0 ]
}

# A value with a space, '=' or '"' is one quoted word: a crafted exe or path cannot make the
# line read as other fields (a second uid=, exe=, decision) or as another record.
@test "show: a crafted exe or path prints as one quoted value, not as fields of its own" {
	init_store
	writer --count 1 --vault app --uid 1000 --deny \
		--exe '/tmp/x allow uid=0 exe=/usr/bin/cat' \
		--path '/app/db" 2026-01-01T00:00:00.000000Z 9 open allow app/db uid=0 event=open'
	run vctl audit show --uid 1000
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	line=${lines[0]}
	[[ $line == *' set deny EACCES app/db-password v3 uid=1000 gid=1000 pid='* ]]
	[[ $line == *' exe="/tmp/x allow uid=0 exe=/usr/bin/cat" '* ]]
	[[ $line == *' path="/app/db\" 2026-01-01T00:00:00.000000Z 9 open allow app/db uid=0 event=open"'* ]]
	# read as a shell reads words: one uid=, one exe=, one path=, and they are the record's
	local -a w
	eval "w=(${line% rule=*})"
	[ "$(printf '%s\n' "${w[@]}" | grep -c '^uid=')" -eq 1 ]
	[ "$(printf '%s\n' "${w[@]}" | grep -c '^exe=')" -eq 1 ]
	[ "$(printf '%s\n' "${w[@]}" | grep -c '^path=')" -eq 1 ]
	printf '%s\n' "${w[@]}" | grep -qx 'uid=1000'
	printf '%s\n' "${w[@]}" | grep -qx 'exe=/tmp/x allow uid=0 exe=/usr/bin/cat'
	[ "${w[3]}" = deny ]
}

@test "show --follow --since prints the history, then new records as they come, across a rotation" {
	init_store
	writer --count 2
	"$VAULTCTL" -c "$CONF" --offline audit show --follow --since 2000-01-01T00:00:00Z \
		>"$T/follow" 2>&1 3>&- &
	PIDS=($!)
	wait_lines "$T/follow" 2
	writer --count 6 --rotate-size 2000
	[ -e "$J.2" ] # two rotations while show polls
	total=$(cat "$J".* "$J" | wc -l)
	wait_lines "$T/follow" "$total"
	sleep 0.5
	[ "$(wc -l <"$T/follow")" -eq "$total" ]
	[ "$(grep -c ' set allow ' "$T/follow")" -eq 8 ]
	grep -q ' rotate allow ' "$T/follow"
}

# Issue 18: --follow alone starts at the end (as tail -f with no lines): the history of a
# long-lived journal is not replayed before the first new record.
@test "show --follow without --since prints only the records written after it started" {
	init_store
	writer --count 2 --rotate-size 400
	writer --count 3
	[ -e "$J.1" ]
	"$VAULTCTL" -c "$CONF" --offline audit show --follow >"$T/follow" 2>&1 3>&- &
	PIDS=($!)
	for ((i = 0; i < 50; i++)); do
		ls -l /proc/"${PIDS[0]}"/fd 2>/dev/null | grep -q " $J\$" && break
		sleep 0.1
	done
	sleep 0.5
	[ ! -s "$T/follow" ]
	writer --count 4
	wait_lines "$T/follow" 4
	sleep 0.5
	[ "$(wc -l <"$T/follow")" -eq 4 ]
	[ "$(grep -c ' set allow ' "$T/follow")" -eq 4 ]
}

# Issue 15 item 7: a flood of refusals from one uid is written up to its budget and counted
# past it; the count is one record, and the journal still verifies.
@test "a flood of refusals is counted past the uid's budget: one refusals-suppressed record" {
	init_store
	writer --count 3000 --vault app --uid 1001 --deny --sync none
	written=$(grep -c '"decision":"deny".*"uid":1001,' "$J")
	run vctl audit show --event refusals-suppressed
	[ "$status" -eq 0 ]
	[[ $output == *" refusals-suppressed deny uid=1001 gid=1000 rule=count="* ]]
	counted=$(($(grep -o 'rule=count=[0-9]*' <<<"$output" | cut -d= -f3 | paste -sd+)))
	summaries=$(grep -c refusals-suppressed <<<"$output")
	[ "$written" -ge 200 ]
	[ "$written" -lt 3000 ]
	[ $((written - summaries + counted)) -eq 3000 ]
	run vctl audit verify
	[ "$status" -eq 0 ]
}

@test "verify needs the key: without --offline it says why" {
	ten_records
	run "$VAULTCTL" -c "$CONF" audit verify
	[ "$status" -eq 1 ]
	[[ $output == *"--offline"* ]]
}

@test "offline vaultctl changes and reads are recorded, one record per get, refusals included" {
	init_store
	vctl vault create app
	printf one | vctl secret set app/db
	[ "$(vctl secret get app/db)" = one ]
	vctl secret update app/db --enabled no
	run vctl secret get app/db
	[ "$status" -eq 1 ]
	vctl secret list app >/dev/null # listings are recorded too
	vctl secret delete app/db
	vctl secret recover app/db
	run vctl audit show
	[ "$status" -eq 0 ]
	events=$(echo "$output" | awk '{print $3, $4}' | tr '\n' ',')
	[ "$events" = "init allow,vault-create allow,set allow,open allow,update allow,open deny,list allow,delete allow,recover allow," ]
	[[ ${lines[3]} == *" open allow app/db v1 "* ]]
	[[ ${lines[5]} == *" open deny EKEYREVOKED app/db "* ]]
	run vctl audit verify
	[ "$status" -eq 0 ]
	# a change that fails after its record is recorded again with its error
	run vctl secret purge app/nosuch
	[ "$status" -eq 1 ]
	run vctl audit show --event purge
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[1]} == *" purge deny ENOENT app/nosuch "* ]]
}

@test "no record, no change: an unwritable journal refuses offline changes and gets" {
	init_store
	vctl vault create app
	printf one | vctl secret set app/db
	mv "$J" "$T/moved"
	mkdir "$J" # the journal's path is now a directory: nothing can be appended
	run vctl secret set app/db <<<"two"
	[ "$status" -ne 0 ]
	[[ $output == *"audit journal"* ]]
	run vctl secret get app/db
	[ "$status" -ne 0 ]
	[ -z "$(echo "$output" | grep -x one)" ]
	run vctl vault create other
	[ "$status" -ne 0 ]
	rmdir "$J"
	mv "$T/moved" "$J"
	[ "$(vctl secret get app/db)" = one ]
	[ "$(vctl vault list)" = app ]
	run vctl secret versions app/db --json
	[ "$(echo "$output" | grep -c '"version"')" -eq 1 ]
}
