#!/usr/bin/env bats
# Version housekeeping (issue 18): a vault's max-versions prunes a secret's oldest versions as
# new ones are made (through the socket, through a write to the file, offline), each prune
# recorded, the current one never, purge protection's retention respected; `secret rollback`
# makes version N's bytes current inside the daemon, decided as write, for a caller that never
# reads them. Each test has its own swtpm, store, journal, mount and socket.

load helpers

setup() {
	vault_setup
	chmod 0711 "$T" # other uids reach the socket, the mount and the config below it
	mkdir -m 0700 "$T/policy.d"
	init_store
	DAEMON=
}

teardown() {
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# root manages; uid 1000 reads and writes /app; uid 1001 may only write /app/db (no read)
policy() {
	cat >"$T/policy.d/10-test.policy" <<-'EOF'
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	allow list /app uid=1000,1001
	allow read,meta,write /app/* uid=1000
	allow meta,write /app/db uid=1001
	EOF
}

# the version numbers `secret versions` lists, on one line
kept() {
	ctl secret versions "$1" | cut -f1 | tr '\n' ' '
}

@test "max-versions 5 keeps exactly the 5 newest after 15 rotations through the socket, each prune recorded" {
	policy
	daemon_start
	ctl vault create app --max-versions 5
	ctl vault create all
	[[ $(ctl vault list --json) == *'"name": "app"'*'"max_versions": 5'* ]]
	[ "$(ctl vault list --json | grep -c max_versions)" -eq 1 ] # none: absent
	# 15: three times what is kept; each set past the 5th prunes one, as the 50 of old did
	for i in $(seq 15); do
		printf "value-$i" | ctl secret set app/db 2>/dev/null
		printf "value-$i" | ctl secret set all/db 2>/dev/null
	done
	[ "$(kept app/db)" = "11 12 13 14 15 " ]
	[ "$(ctl secret versions all/db | grep -c .)" -eq 15 ]
	[ "$(ctl_as 1000 secret get app/db)" = value-15 ]
	[ "$(ctl_as 1000 secret get app/db --version 11)" = value-11 ]
	run ctl_as 1000 secret get app/db --version 10
	[ "$status" -ne 0 ]
	[[ $output == *"no such"* || $output == *"not found"* || $output == *ENOENT* || $output == *"does not exist"* ]]
	[ ! -e "$T/mnt/app/.versions/db/10" ]
	[ "$(as 1000 cat "$T/mnt/app/.versions/db/12")" = value-12 ]
	[ "$(as 1000 ls "$T/mnt/app/.versions/db" | tr '\n' ' ')" = "11 12 13 14 15 " ]
	run ctl audit show --event prune
	[ "$(grep -c . <<<"$output")" -eq 10 ]
	[[ ${lines[0]} == *" prune allow app/db v1 uid=0 "* ]]
	[[ ${lines[9]} == *" prune allow app/db v10 uid=0 "* ]]
	run ctl audit show --event prune --vault all
	[ -z "$output" ]
	# lowered: the next version prunes down to it; none: nothing more, what went stays gone
	ctl vault update app --max-versions 2
	printf 'value-16' | ctl secret set app/db 2>/dev/null
	[ "$(kept app/db)" = "15 16 " ]
	ctl vault update app --max-versions none
	[ "$(ctl vault list --json | grep -c max_versions)" -eq 0 ]
	printf 'value-17' | ctl secret set app/db 2>/dev/null
	[ "$(kept app/db)" = "15 16 17 " ]
	run ctl vault update app --max-versions 0
	[ "$status" -eq 2 ]
	run ctl vault create bad --max-versions none
	[ "$status" -eq 2 ]
	daemon_stop
	vctl audit verify
}

@test "a pruned secret backs up the versions it kept; they restore only into a vault that prunes" {
	policy
	printf 'allow read /app/db uid=0\nallow read /keep/* uid=0\n' >"$T/policy.d/20-read.policy"
	daemon_start
	ctl vault create app --max-versions 3
	ctl vault create keep --max-versions 10
	ctl vault create all
	for i in $(seq 6); do
		printf "value-$i" | ctl secret set app/db 2>/dev/null
	done
	[ "$(kept app/db)" = "4 5 6 " ]
	ctl secret backup app/db --file "$T/db.bak"
	run ctl secret restore all --file "$T/db.bak"
	[ "$status" -ne 0 ]
	[[ $output == *"oldest versions were pruned"*"max-versions"* ]]
	run ctl secret versions all/db
	[ "$status" -ne 0 ]
	ctl secret restore keep --file "$T/db.bak"
	[ "$(kept keep/db)" = "4 5 6 " ]
	[ "$(ctl secret get keep/db)" = value-6 ]
	[ "$(ctl secret get keep/db --version 4)" = value-4 ]
	daemon_stop
	vctl audit verify
}

@test "max-versions prunes writes through the file and offline sets too, recorded by who made them" {
	policy
	vctl vault create app --max-versions 5
	for i in $(seq 20); do
		printf "offline-$i" | vctl secret set app/db 2>/dev/null
	done
	[ "$(vctl secret versions app/db | cut -f1 | tr '\n' ' ')" = "16 17 18 19 20 " ]
	run vctl audit show --event prune
	[ "$(grep -c . <<<"$output")" -eq 15 ]
	[[ ${lines[0]} == *" prune allow app/db v1 uid=0 "* ]]
	daemon_start
	for i in $(seq 50); do
		as 1000 sh -c "printf 'file-$i' >'$T/mnt/app/db'"
	done
	[ "$(kept app/db)" = "66 67 68 69 70 " ]
	[ "$(as 1000 cat "$T/mnt/app/db")" = file-50 ]
	run ctl audit show --event prune --uid 1000
	[ "$(grep -c . <<<"$output")" -eq 50 ]
	[[ ${lines[0]} == *" prune allow app/db v16 uid=1000 "* ]]
}

@test "purge protection: a version superseded within the retention is never pruned, whatever max-versions says" {
	policy
	daemon_start
	ctl vault create app --retention-days 7 --max-versions 2
	ctl vault update app --purge-protection on
	for i in $(seq 6); do
		printf "value-$i" | ctl secret set app/db 2>/dev/null
	done
	[ "$(kept app/db)" = "1 2 3 4 5 6 " ]
	run ctl audit show --event prune
	[ -z "$output" ]
	daemon_stop
	# 8 days on (libfaketime: only this process's clock), a set offline prunes the versions
	# superseded more than 7 days ago: all but the current one and the one before it
	command -v faketime >/dev/null || skip "faketime is not installed (make deps installs it)"
	printf 'value-7' | ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		faketime -f '+8d' "$VAULTCTL" -c "$CONF" --offline secret set app/db 2>/dev/null
	[ "$(vctl secret versions app/db | cut -f1 | tr '\n' ' ')" = "6 7 " ]
	[ "$(vctl audit show --event prune | grep -c .)" -eq 5 ]
}

@test "rollback makes version N's bytes current inside the daemon: write only, the caller never reads them" {
	policy
	daemon_start
	ctl vault create app
	printf 'good' | ctl_as 1000 secret set app/db --content-type text/plain --tag env=prod
	printf 'bad' | ctl_as 1000 secret set app/db
	# uid 1001 may write, not read: the rollback goes, and it is given no byte of the value
	run ctl_as 1001 secret get app/db
	[ "$status" -eq 1 ]
	as 1001 "$VAULTCTL" -c "$CONF" secret rollback app/db --to 1 >"$T/out" 2>"$T/err"
	[ ! -s "$T/out" ]
	[ "$(cat "$T/err")" = "app/db: version 3 (the bytes of version 1)" ]
	! grep -q good "$T/err" || false
	[ "$(ctl_as 1000 secret get app/db)" = good ]
	[ "$(as 1000 cat "$T/mnt/app/db")" = good ]
	[[ $(ctl_as 1000 secret versions app/db --json) == *'"version": 3'*'"content_type": "text/plain"'*'"env": "prod"'* ]]
	run ctl audit show --event rollback
	[ "$(grep -c . <<<"$output")" -eq 1 ]
	[[ $output == *" rollback allow app/db v3 uid=1001 "*"/app/db from=1"* ]]
	# the socket's reply carries no value either
	run /usr/bin/python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
s.sendall((json.dumps({"v": 1, "op": "secret-rollback", "vault": "app", "name": "db", "to": 2}) + "\n").encode())
print(s.makefile("rb").readline().decode().strip())' "$T/control.sock"
	[ "$output" = '{"v":1,"ok":true,"version":4,"from":2}' ]

	# refusals: no write (EACCES, recorded), no such version (ENOENT), a disabled one
	run ctl_as 1001 secret rollback app/other --to 1
	[ "$status" -eq 1 ]
	[[ $output == *"permission denied"* ]]
	run ctl_as 1000 secret rollback app/db --to 9
	[ "$status" -eq 1 ]
	[[ $output == *"no version 9 of app/db"* ]]
	ctl secret update app/db --version 2 --enabled no
	run ctl_as 1000 secret rollback app/db --to 2
	[ "$status" -eq 1 ]
	[[ $output == *"version 2 is disabled: enable it first"* ]]
	run ctl_as 1000 secret rollback app/db
	[ "$status" -eq 2 ]
	[ "$(kept app/db)" = "1 2 3 4 " ]
	run ctl audit show --event rollback --decision deny
	[ "$(grep -c . <<<"$output")" -eq 3 ]
	[[ $output == *" rollback deny EACCES app/other "*" rollback deny ENOENT app/db v5 uid=1000 "*"from=9"* ]]
	# offline too (root, recorded as vaultctl --offline)
	daemon_stop
	vctl secret rollback app/db --to 1 2>"$T/err"
	[ "$(cat "$T/err")" = "app/db: version 5 (the bytes of version 1)" ]
	[ "$(vctl audit show --event rollback | grep -c ' rollback allow app/db v5 uid=0 ')" -eq 1 ]
	vctl audit verify
}
