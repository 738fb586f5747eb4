#!/usr/bin/env bats
# README's recipes, each with the real program: a get-only git credential helper on a vault
# file (git's own `store` helper wants a lock file beside its file and cannot run on /vault),
# curl with a netrc from /vault against a loopback server that wants basic auth, and secrets
# imported from an existing file tree. Each test has its own swtpm, store and mount.

load helpers

setup() {
	vault_setup
	chmod 0711 "$T"
	mkdir -m 0700 "$T/policy.d"
	mkdir -m 0700 "$T/u1000" && chown 1000:1000 "$T/u1000"
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
	vault_teardown
}

@test "git: a get-only credential helper reads the token from /vault; store and erase touch nothing" {
	command -v git >/dev/null || skip "git is not installed"
	token="ghp-$RANDOM$RANDOM$RANDOM"
	printf '%s' "$token" | vctl secret set app/git-token
	policy <<-'EOF'
	allow list /app uid=1000
	allow read /app/git-token uid=1000
	EOF
	daemon_start
	# the README's recipe, as it is there, with the mount of this test
	helper=$(sed -n "s/^ *'\(!f() { test .*git-token.*\)'\$/\1/p" "$VAULTFS_TOP/README.md")
	[ -n "$helper" ]
	as 1000 env HOME="$T/u1000" git config --global \
		credential.https://git.example.test.helper "${helper//\/vault\//$T/mnt/}"
	run as 1000 env HOME="$T/u1000" GIT_TERMINAL_PROMPT=0 git credential fill \
		<<<$'protocol=https\nhost=git.example.test\n'
	[ "$status" -eq 0 ]
	[[ $output == *"username=deploy"* ]]
	[[ $output == *"password=$token"* ]]
	# git calls the helper with store after a good clone and erase after a refused one: both
	# are no-ops, nothing is created beside the secret, no "unable to get credential storage
	# lock"
	run as 1000 env HOME="$T/u1000" git credential approve \
		<<<$'protocol=https\nhost=git.example.test\nusername=deploy\npassword=x\n'
	[ "$status" -eq 0 ]
	run as 1000 env HOME="$T/u1000" git credential reject \
		<<<$'protocol=https\nhost=git.example.test\nusername=deploy\npassword=x\n'
	[ "$status" -eq 0 ]
	[[ $output != *lock* ]]
	[ "$(vctl secret list app)" = git-token ]
	# another host gets no token from it
	run as 1000 env HOME="$T/u1000" GIT_TERMINAL_PROMPT=0 git credential fill \
		<<<$'protocol=https\nhost=other.example.test\n'
	[[ $output != *"$token"* ]]
}

@test "curl: --netrc-file on /vault authenticates to a server that wants basic auth" {
	command -v curl >/dev/null || skip "curl is not installed"
	pass="pw-$RANDOM$RANDOM"
	printf 'machine 127.0.0.1 login api password %s\n' "$pass" | vctl secret set app/netrc
	policy <<-'EOF'
	allow list /app uid=1000
	allow read /app/netrc uid=1000
	EOF
	daemon_start
	port=$((20000 + RANDOM % 20000))
	python3 - "$port" "$(printf 'api:%s' "$pass" | base64)" >"$T/http.log" 2>&1 3>&- <<-'PY' &
	import http.server, sys
	want = "Basic " + sys.argv[2]
	class H(http.server.BaseHTTPRequestHandler):
	    def do_GET(self):
	        ok = self.headers.get("Authorization") == want
	        self.send_response(200 if ok else 401)
	        self.end_headers()
	        self.wfile.write(b"welcome\n" if ok else b"who are you\n")
	http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
	PY
	PIDS+=($!)
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && break
		sleep 0.1
	done
	run as 1000 curl -sf --netrc-file "$T/mnt/app/netrc" "http://127.0.0.1:$port/"
	[ "$status" -eq 0 ]
	[ "$output" = welcome ]
	# without the file: refused by the server; another uid cannot read the file at all
	run as 1000 curl -sf "http://127.0.0.1:$port/"
	[ "$status" -ne 0 ]
	run as 1001 curl -sf --netrc-file "$T/mnt/app/netrc" "http://127.0.0.1:$port/"
	[ "$status" -ne 0 ]
}

@test "a file tree imported as secrets, as the README's loop does it" {
	mkdir -p "$T/tree/db" "$T/tree/tls"
	printf 'postgres://app@db/app' >"$T/tree/db/url"
	printf 'hunter2' >"$T/tree/db/password"
	head -c 2000 /dev/urandom >"$T/tree/tls/session.key"
	# the README's loop: one secret per file, its path with / as - for the name
	(cd "$T/tree" && find . -type f -printf '%P\n' | while read -r f; do
		"$VAULTCTL" -c "$CONF" --offline secret set "app/${f//\//-}" --file "$f" || exit
	done)
	[ "$(vctl secret list app | sort | tr '\n' ' ')" = "db-password db-url tls-session.key " ]
	[ "$(vctl secret get app/db-url)" = 'postgres://app@db/app' ]
	vctl secret get app/tls-session.key >"$T/got"
	cmp "$T/got" "$T/tree/tls/session.key"
}
