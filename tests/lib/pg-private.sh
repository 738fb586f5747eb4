#!/usr/bin/env bash
# pg-private.sh start DIR | stop DIR: a private PostgreSQL 15 for a test program that is not a
# bats file (tests/unit/test-fleet.c): `start` copies the template (tests/lib/pg-template.sh,
# or $VAULTFS_TEST_PGDATA) into DIR, starts it on a socket in DIR and on a free loopback port
# (servers.bash's pg_start), and prints a libpq conninfo for it; `stop` stops the postmaster of
# DIR by its pid. DIR must be new or empty, and its parents open to the server's user. Exit
# status 77 (and nothing printed) when there is no PostgreSQL 15 here. Never touches a server
# it did not start.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd) || exit 1
VAULTFS_TOP=${VAULTFS_TOP:-$top}
VAULTFS_BUILD=${VAULTFS_BUILD:-$top/build}
skip() {
	echo "pg-private: $*" >&2
	exit 77
}
# shellcheck source=tests/lib/servers.bash
. "$top/tests/lib/servers.bash" || exit 1
[ $# -eq 2 ] || {
	echo "usage: pg-private.sh start|stop DIR" >&2
	exit 2
}
dir=$2
case $1 in
start)
	need_pg
	pg_start "$dir" >&2 || exit 1
	echo "host=$dir port=$PG_PORT dbname=postgres user=postgres"
	;;
stop)
	PG_TEMPLATE=$dir/data
	pg_stop "$dir"
	;;
*)
	exit 2
	;;
esac
