#!/usr/bin/env bash
# pg-template.sh DIR: a PostgreSQL data directory made by initdb once and kept under DIR (the
# build's cache: run-tests.sh makes it before the suites, a suite run alone makes it on first
# use), for the tests that run a private postgres (tests/lib/servers.bash copies it for each).
# initdb takes seconds on these machines; a copy takes a fraction of one. Reused while the
# server's version and the user it belongs to are the same; rebuilt otherwise. postgres
# refuses root: the data belongs to the `postgres` system user where it exists, else to
# nobody. Prints the template's path; prints nothing and exits 1 when there is no
# PostgreSQL 15 here (the tests that need one then skip with the reason).
# Never starts a server, never touches the system's clusters (/var/lib/postgresql).
set -u
dir=$(realpath -m -- "$1")
bin=${VAULTFS_PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/initdb" ] && [ -x "$bin/postgres" ] || exit 1
if id -u postgres >/dev/null 2>&1; then
	user=postgres
else
	user=nobody
fi
uid=$(id -u "$user") || exit 1
gid=$(id -g "$user") || exit 1
stamp="$("$bin/postgres" --version) uid=$uid"

mkdir -p "$dir" || exit 1
exec 9>"$dir/lock" || exit 1
flock 9 || exit 1
if [ -f "$dir/data/PG_VERSION" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$dir/data"
	exit 0
fi
rm -rf -- "$dir/data" "$dir/stamp"
# initdb runs as the user: it must reach the directory it writes, and the build dir's parents
# need not be open to it; so it writes under /tmp and the result is moved into the cache.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vaultfs-pginit.XXXXXX") || exit 1
trap 'rm -rf -- "$tmp"' EXIT
chmod 0711 "$tmp"
install -d -m 0700 -o "$uid" -g "$gid" "$tmp/data" || exit 1
if ! (cd / && setpriv --reuid "$uid" --regid "$gid" --clear-groups -- "$bin/initdb" \
	-D "$tmp/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$tmp/initdb.log" 2>&1); then
	cat "$tmp/initdb.log" >&2
	exit 1
fi
mv "$tmp/data" "$dir/data" || exit 1
echo "$stamp" >"$dir/stamp"
echo "$dir/data"
