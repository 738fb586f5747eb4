# shellcheck shell=bash
# pebble.sh: a private ACME test CA (Debian's pebble) and its fake DNS (pebble-challtestsrv) on
# loopback, for the tests. Source it, then `pebble_start DIR` makes pebble's HTTPS certificate
# with openssl (pebble ships none), starts pebble-challtestsrv (every name resolves to 127.0.0.1;
# its own HTTP-01 listeners are off, so the port pebble validates on is free for the ACME
# client's) and pebble with validation on, waits until both answer, fetches the new root and
# intermediate (pebble makes new ones at every start) and exports:
#   PEBBLE_DIR          DIR
#   PEBBLE_DIRECTORY    the ACME directory URL (https://127.0.0.1:PORT/dir)
#   PEBBLE_HTTP_PORT    the port pebble validates http-01 on (the client must serve it there)
#   PEBBLE_HTTPS_CA     DIR/https-ca.pem: the CA of pebble's HTTPS certificate (for the client)
#   PEBBLE_ROOT         DIR/root.pem: pebble's root (to verify what it issued: the trust anchor)
#   PEBBLE_INTERMEDIATE DIR/intermediate.pem: the intermediate that signs its leaves
# `pebble_stop [DIR]` stops both (safe twice or when nothing was started); `pebble_start` again
# on the same DIR restarts them (new roots). The ports are fixed by default (REAL-CLIENTS.md):
# ACME 14000, management 15000, http-01 5002, DNS 8053, challtestsrv's management 8055, or five
# in a row picked at random when one of those is taken; PEBBLE_PORT_BASE=N uses N, N+1, ... N+4.
# A restart in the same DIR keeps its ports (DIR/ports). Returns non-zero, with the reason on
# stderr, when pebble cannot start (not installed, a port taken): callers skip with it. This file
# never stops a process it did not start (pids from its own files, checked against cmdline).

# Is TCP port $1 free on this host (no listener on any address)?
pebble_port_free_() {
	! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# Are TCP ports $@ all free?
pebble_ports_free_() {
	local p

	for p in "$@"; do
		pebble_port_free_ "$p" || return 1
	done
}

# Is pid $1 a $2 (pebble or pebble-challtestsrv) whose command line has $3 in it?
pebble_pid_is_ours_() {
	local pid=$1 prog=$2 mark=$3 cmdline

	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmdline == "$prog "* || $cmdline == */"$prog "* ]] || return 1
	[[ $cmdline == *"$mark"* ]]
}

# pebble_wait_ URL: until it answers over HTTPS with our CA (up to 10 s)
pebble_wait_() {
	for _ in $(seq 100); do
		curl -fsS --cacert "$PEBBLE_HTTPS_CA" -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# pebble_https_cert_ DIR: a CA of its own and, under it, pebble's HTTPS certificate for
# localhost and 127.0.0.1 (DIR/https-ca.pem, DIR/https.pem, DIR/https.key)
pebble_https_cert_() {
	local dir=$1

	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=pebble-https-ca -keyout "$dir/https-ca.key" -out "$dir/https-ca.pem" \
		2>/dev/null || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-keyout "$dir/https.key" -out "$dir/https.csr" 2>/dev/null || return 1
	openssl x509 -req -in "$dir/https.csr" -CA "$dir/https-ca.pem" -CAkey "$dir/https-ca.key" \
		-CAcreateserial -days 2 -out "$dir/https.pem" \
		-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') 2>/dev/null
}

pebble_start() {
	local dir=${1:-} base=${PEBBLE_PORT_BASE:-} acme mgmt http dns cmgmt p pid

	if [[ -z $dir ]]; then
		echo "pebble_start: usage: pebble_start DIR" >&2
		return 2
	fi
	if ! command -v pebble >/dev/null || ! command -v pebble-challtestsrv >/dev/null; then
		echo "pebble cannot start: it is not installed (apt-get install pebble)" >&2
		return 1
	fi
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	pebble_stop "$dir"
	# the ports: those of the last start in DIR (a restart keeps its URLs), else
	# PEBBLE_PORT_BASE's, else the defaults, else (one taken) a free range picked at random
	if [ -s "$dir/ports" ]; then
		read -r acme mgmt http dns cmgmt <"$dir/ports"
	else
		if [[ -n $base ]]; then
			acme=$base mgmt=$((base + 1)) http=$((base + 2)) dns=$((base + 3))
			cmgmt=$((base + 4))
		else
			acme=14000 mgmt=15000 http=5002 dns=8053 cmgmt=8055
			for _ in $(seq 10); do
				pebble_ports_free_ $acme $mgmt $http $dns $cmgmt && break
				base=$((20000 + (RANDOM % 2500) * 5)) # below the ephemeral ports
				acme=$base mgmt=$((base + 1)) http=$((base + 2)) dns=$((base + 3))
				cmgmt=$((base + 4))
			done
		fi
		echo "$acme $mgmt $http $dns $cmgmt" >"$dir/ports"
	fi
	for p in $acme $mgmt $http $dns $cmgmt; do
		if ! pebble_port_free_ "$p"; then
			echo "pebble cannot start: TCP port $p is taken" >&2
			return 1
		fi
	done
	if [ ! -s "$dir/https.pem" ] && ! pebble_https_cert_ "$dir"; then
		echo "pebble_start: openssl could not make pebble's HTTPS certificate" >&2
		return 1
	fi
	cat >"$dir/pebble.json" <<-EOF
	{
	  "pebble": {
	    "listenAddress": "127.0.0.1:$acme",
	    "managementListenAddress": "127.0.0.1:$mgmt",
	    "certificate": "$dir/https.pem",
	    "privateKey": "$dir/https.key",
	    "httpPort": $http,
	    "tlsPort": 5001,
	    "ocspResponderURL": "",
	    "externalAccountBindingRequired": false
	  }
	}
	EOF
	# DNS only: its HTTP-01/TLS-ALPN listeners would take the port the client serves on
	pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns" \
		-http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$cmgmt" \
		>"$dir/challtestsrv.log" 2>&1 3>&- </dev/null &
	echo $! >"$dir/challtestsrv.pid"
	echo "127.0.0.1:$cmgmt" >"$dir/challtestsrv.mgmt"
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
		pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$dns" \
		>"$dir/pebble.log" 2>&1 3>&- </dev/null &
	echo $! >"$dir/pebble.pid"
	PEBBLE_DIR=$dir
	PEBBLE_DIRECTORY=https://127.0.0.1:$acme/dir
	PEBBLE_HTTP_PORT=$http
	PEBBLE_HTTPS_CA=$dir/https-ca.pem
	PEBBLE_ROOT=$dir/root.pem
	PEBBLE_INTERMEDIATE=$dir/intermediate.pem
	export PEBBLE_DIR PEBBLE_DIRECTORY PEBBLE_HTTP_PORT PEBBLE_HTTPS_CA PEBBLE_ROOT \
		PEBBLE_INTERMEDIATE
	if ! pebble_wait_ "$PEBBLE_DIRECTORY" || ! pebble_wait_ "https://127.0.0.1:$mgmt/roots/0"
	then
		echo "pebble did not answer on 127.0.0.1:$acme: $(tail -n 3 "$dir/pebble.log")" >&2
		pebble_stop "$dir"
		return 1
	fi
	pid=$(cat "$dir/challtestsrv.pid")
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "pebble-challtestsrv did not start: $(tail -n 3 "$dir/challtestsrv.log")" >&2
		pebble_stop "$dir"
		return 1
	fi
	# new ones at every start
	if ! curl -fsS --cacert "$PEBBLE_HTTPS_CA" -o "$PEBBLE_ROOT" \
		"https://127.0.0.1:$mgmt/roots/0" ||
		! curl -fsS --cacert "$PEBBLE_HTTPS_CA" -o "$PEBBLE_INTERMEDIATE" \
			"https://127.0.0.1:$mgmt/intermediates/0"
	then
		echo "pebble_start: could not fetch pebble's root and intermediate" >&2
		pebble_stop "$dir"
		return 1
	fi
	return 0
}

# pebble_stop [DIR]: stop pebble and challtestsrv of DIR (default $PEBBLE_DIR) and wait.
pebble_stop() {
	local dir=${1:-${PEBBLE_DIR:-}} prog pid mark

	[[ -n $dir && -d $dir ]] || return 0
	for prog in pebble challtestsrv; do
		[ -f "$dir/$prog.pid" ] || continue
		pid=$(cat "$dir/$prog.pid")
		rm -f "$dir/$prog.pid"
		mark=$dir/pebble.json # pebble's -config; challtestsrv's -management port instead
		if [[ $prog == challtestsrv ]]; then
			prog=pebble-challtestsrv
			mark="-management $(cat "$dir/challtestsrv.mgmt" 2>/dev/null)"
		fi
		pebble_pid_is_ours_ "$pid" "$prog" "$mark" || continue
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	return 0
}
