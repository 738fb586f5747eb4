# servers.bash: real TLS servers for the tests, each started by hand on 127.0.0.1 in a directory
# the test owns, never as a system service, and stopped by its own pid: Debian's nginx (a prefix
# dir with its config, pid, logs and temp paths) and PostgreSQL 15 (a private copy of the data
# directory that tests/lib/pg-template.sh made once under the build). Sourced by the bats files
# after helpers.bash; see /work/shared/REAL-CLIENTS.md for the pitfalls these functions avoid.

NGINX=${VAULTFS_TEST_NGINX:-/usr/sbin/nginx}
PG_BIN=${VAULTFS_PG_BIN:-/usr/lib/postgresql/15/bin}

# free_port: a TCP port on 127.0.0.1 nothing listens on now
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most)
wait_port() {
	local _
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# wait_pid_gone PID: until PID has exited (10 s), then KILL it. A zombie has exited: its ports
# and files are closed, and only its parent's reaping is left (PID 1 here, for a daemon, which
# took about 2 s a stop)
wait_pid_gone() {
	local _
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || return 0
		grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null && return 0
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null || true
}

# --- nginx ---

# need_nginx: skip unless Debian's nginx is here
need_nginx() {
	[ -x "$NGINX" ] || skip "no nginx at $NGINX (make deps installs it)"
}

# nginx_start DIR CERT KEY: an nginx whose prefix is DIR, serving "ok" over TLS on a free
# loopback port ($NGINX_PORT) with ssl_certificate CERT and ssl_certificate_key KEY. The master
# runs as root and reads both at start and on HUP; the workers serve. Fails (with the error
# log) when nginx does not start, e.g. when it cannot read or use the files.
nginx_start() {
	local dir=$1 cert=$2 key=$3
	mkdir -p "$dir/tmp"
	NGINX_PORT=$(free_port)
	cat >"$dir/nginx.conf" <<-CONF
	daemon on;
	master_process on;
	worker_processes 1;
	pid $dir/nginx.pid;
	error_log $dir/error.log info;
	events { worker_connections 64; }
	http {
		access_log off;
		client_body_temp_path $dir/tmp/body;
		proxy_temp_path $dir/tmp/proxy;
		fastcgi_temp_path $dir/tmp/fastcgi;
		uwsgi_temp_path $dir/tmp/uwsgi;
		scgi_temp_path $dir/tmp/scgi;
		server {
			listen 127.0.0.1:$NGINX_PORT ssl;
			server_name localhost;
			ssl_certificate $cert;
			ssl_certificate_key $key;
			ssl_protocols TLSv1.2 TLSv1.3;
			location / { return 200 "ok\n"; }
		}
	}
	CONF
	# in daemon mode nginx returns once the master listens, or fails having said why
	if ! "$NGINX" -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" 2>"$dir/start.log"; then
		cat "$dir/start.log" "$dir/error.log" >&2
		return 1
	fi
	wait_port "$NGINX_PORT"
}

# nginx_pid DIR: the master's pid
nginx_pid() {
	cat "$1/nginx.pid"
}

# nginx_hup DIR: reload (re-reads certificate and key). By signal, not `nginx -s reload`, which
# parses the config first and sends nothing when it fails; a failed reload keeps the old pair.
# Returns once every worker from before the reload has ended (10 s at most; non-zero if one is
# left): until then a connection may still reach an old worker and be served the old pair.
nginx_hup() {
	local master old p i left
	master=$(nginx_pid "$1")
	old=$(pgrep -P "$master")
	kill -HUP "$master" || return 1
	for i in $(seq 200); do
		left=
		for p in $old; do
			[ "$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')" = "$master" ] && left=$p
		done
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	echo "nginx_hup: worker $left from before the reload still runs" >&2
	return 1
}

# nginx_stop DIR: fast shutdown of the master (it waits for its workers), by pid
nginx_stop() {
	local pid
	[ -f "$1/nginx.pid" ] || return 0
	pid=$(nginx_pid "$1") || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	wait_pid_gone "$pid"
}

# --- PostgreSQL 15 ---

# need_pg: skip unless PostgreSQL 15 is here; PG_TEMPLATE is the data dir to copy
need_pg() {
	[ -x "$PG_BIN/postgres" ] || skip "no PostgreSQL 15 at $PG_BIN (make deps installs it)"
	PG_TEMPLATE=${VAULTFS_TEST_PGDATA:-}
	if [ -z "$PG_TEMPLATE" ] || [ ! -f "$PG_TEMPLATE/PG_VERSION" ]; then
		PG_TEMPLATE=$("$VAULTFS_TOP/tests/lib/pg-template.sh" "$VAULTFS_BUILD/pg") ||
			skip "initdb failed: no PostgreSQL template"
	fi
}

# pg_as CMD...: CMD as the template's owner (postgres refuses root)
pg_as() {
	local uid gid
	uid=$(stat -c %u "$PG_TEMPLATE") gid=$(stat -c %g "$PG_TEMPLATE")
	(cd / && setpriv --reuid "$uid" --regid "$gid" --clear-groups -- "$@")
}

# pg_start DIR [NAME=VALUE...]: a private postgres on a copy of the template in DIR/data,
# listening on 127.0.0.1:$PG_PORT and on a socket in DIR, with these settings added (values
# quoted for postgresql.conf here). DIR's parents must be open to the server's user. Fails
# (with the server's log) when postgres does not start, e.g. when it refuses its SSL files.
pg_start() {
	local dir=$1 kv uid
	shift
	uid=$(stat -c %u "$PG_TEMPLATE")
	mkdir -p "$dir"
	cp -a "$PG_TEMPLATE" "$dir/data"
	chown "$uid" "$dir"
	PG_PORT=$(free_port)
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $PG_PORT"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		echo "logging_collector = off"
		for kv; do
			echo "${kv%%=*} = '$(printf '%s' "${kv#*=}" | sed "s/'/''/g")'"
		done
	} >>"$dir/data/postgresql.conf"
	if ! pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null; then
		cat "$dir/log" >&2
		return 1
	fi
}

# pg_pid DIR: the postmaster's pid
pg_pid() {
	head -n 1 "$1/data/postmaster.pid"
}

# pg_hup DIR: reload the configuration (and the SSL files)
pg_hup() {
	kill -HUP "$(pg_pid "$1")"
}

# pg_stop DIR: fast shutdown by the postmaster's pid
pg_stop() {
	local pid
	[ -f "$1/data/postmaster.pid" ] || return 0
	pid=$(pg_pid "$1") || return 0
	kill -INT "$pid" 2>/dev/null || return 0
	wait_pid_gone "$pid"
}
