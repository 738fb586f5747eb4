# shellcheck shell=bash
# fleet.bash: a fleet on a private network, for tests/bats/96-fleet-net.bats and
# tests/bench/fleet-bench.sh. A Linux bridge of its own (no address on this host: the fleet's
# addresses exist only inside its namespaces), PostgreSQL 15 in a network namespace of its own
# listening only on its bridge address (no socket in the file system), and hosts, each a
# vaultfsd with its own store, config, journal, mount and (sealer tpm2) its own swtpm, each in
# a network namespace of its own with one veth on the bridge. A node is cut off by setting its
# veth's bridge end down (packets dropped, as a pulled cable: no RST, nothing refused).
#
# `ip netns exec` would also give the command a private mount namespace, so a FUSE mount made
# under it would be invisible here: everything runs with `nsenter --net=` (the network only),
# and a host's mount is this machine's.
#
# Source it after helpers.bash (VAULTCTL, VAULTFSD, tpm_lock_file, swtpm.sh, conf.sh) and
# servers.bash (PG_BIN, need_pg, PG_TEMPLATE). State is kept in files under FLEET_DIR (pids,
# node list), so a bats file may build the fleet in setup_file, use it from its tests (other
# processes) and tear it down in teardown_file. fleet_down removes everything fleet_net_up and the
# others made, also after a failure half-way, and stops only the processes they started (by pid,
# checked).
#
#   fleet_net_up DIR        the bridge (FLEET_ID names it and every node); state under DIR
#   fleet_pg_up             PostgreSQL in node "pg" at $FLEET_NET.1:5432; FLEET_CONNINFO
#   fleet_host_add NAME SEALER [tpm2|host]   a node, its swtpm (tpm2), config, store
#   fleet_host_start NAME / fleet_host_stop NAME / fleet_host_kill NAME
#   fleet_on NAME ARGS...   vaultctl --offline as NAME, in its namespace
#   fleet_ctl NAME ARGS...  vaultctl as NAME through its daemon, in its namespace
#   fleet_in NAME CMD...    CMD in NAME's network namespace
#   fleet_cut NAME / fleet_back NAME   NAME's link down / up ("pg" for the center)
#   fleet_sql SQL           psql on the center (from its own namespace)
#   fleet_down              everything stopped and removed

FLEET_NET=${FLEET_NET:-10.77.0}
FLEET_PG_PORT=5432

# fleet_need: skip (bats) or fail unless this machine can make the fleet: root, ip, nsenter,
# bridges and network namespaces
fleet_need() {
	local why=
	[ "$(id -u)" -eq 0 ] || why="needs root (network namespaces, FUSE)"
	command -v ip >/dev/null && command -v nsenter >/dev/null ||
		why=${why:-"needs ip (iproute2) and nsenter (util-linux)"}
	if [ -z "$why" ]; then
		local probe=vaultfs-probe-$$
		if ip netns add "$probe" 2>/dev/null; then
			ip netns del "$probe"
		else
			why="cannot make a network namespace here"
		fi
	fi
	[ -z "$why" ] && return 0
	if declare -F skip >/dev/null; then
		skip "$why"
	fi
	echo "fleet: $why" >&2
	return 1
}

fleet_ns() {
	echo "vaultfs-$FLEET_ID-$1"
}

# the bridge end of a node's veth (at most 15 characters: node names of 4 at most)
fleet_veth() {
	echo "vf$FLEET_ID$1"
}

fleet_in() {
	local n=$1
	shift
	nsenter --net="/run/netns/$(fleet_ns "$n")" -- "$@"
}

# fleet_net_up DIR: the bridge; DIR holds the fleet's state (made if missing)
fleet_net_up() {
	FLEET_DIR=$1
	FLEET_ID=${FLEET_ID:-$BASHPID} # not $$: the same in every file of one bats run
	export FLEET_DIR FLEET_ID FLEET_NET
	mkdir -p "$FLEET_DIR"
	echo "$FLEET_ID" >"$FLEET_DIR/id"
	ip link add "vf${FLEET_ID}br" type bridge || return 1
	echo "link vf${FLEET_ID}br" >>"$FLEET_DIR/made"
	ip link set "vf${FLEET_ID}br" up
}

# fleet_node NAME OCTET: a namespace with lo and eth0 ($FLEET_NET.OCTET/24) on the bridge
fleet_node() {
	local n=$1 ns veth
	ns=$(fleet_ns "$n") veth=$(fleet_veth "$n")
	[ ${#veth} -le 15 ] || { echo "fleet: node name $n too long" >&2; return 1; }
	ip netns add "$ns" || return 1
	echo "netns $ns" >>"$FLEET_DIR/made"
	ip link add "$veth" type veth peer name eth0 netns "$ns" || return 1
	echo "link $veth" >>"$FLEET_DIR/made"
	ip link set "$veth" master "vf${FLEET_ID}br" up &&
		fleet_in "$n" ip addr add "$FLEET_NET.$2/24" dev eth0 &&
		fleet_in "$n" ip link set eth0 up &&
		fleet_in "$n" ip link set lo up
}

fleet_cut() {
	ip link set "$(fleet_veth "$1")" down
}

fleet_back() {
	ip link set "$(fleet_veth "$1")" up
}

# --- the center ---

# fleet_pg_up: PostgreSQL on a copy of the template in $FLEET_DIR/pg/data, in node "pg"
fleet_pg_up() {
	local d=$FLEET_DIR/pg uid gid
	uid=$(stat -c %u "$PG_TEMPLATE") gid=$(stat -c %g "$PG_TEMPLATE")
	fleet_node pg 1 || return 1
	mkdir -p "$d"
	cp -a "$PG_TEMPLATE" "$d/data"
	chown "$uid" "$d"
	{
		echo "listen_addresses = '$FLEET_NET.1'"
		echo "port = $FLEET_PG_PORT"
		echo "unix_socket_directories = ''"
		echo "fsync = off"
		echo "logging_collector = off"
		echo "max_connections = 60"
	} >>"$d/data/postgresql.conf"
	echo "host all all $FLEET_NET.0/24 trust" >>"$d/data/pg_hba.conf"
	echo "pg $d" >>"$FLEET_DIR/made"
	# a center that does not answer refuses a change within about 2 s (not libpq's 10)
	FLEET_CONNINFO="host=$FLEET_NET.1 port=$FLEET_PG_PORT dbname=postgres user=postgres"
	FLEET_CONNINFO+=" connect_timeout=2 tcp_user_timeout=2000"
	export FLEET_CONNINFO
	if ! (cd / && fleet_in pg setpriv --reuid "$uid" --regid "$gid" --clear-groups -- \
		"$PG_BIN/pg_ctl" -D "$d/data" -l "$d/log" -w -t 60 start >/dev/null); then
		cat "$d/log" >&2
		return 1
	fi
}

fleet_sql() {
	fleet_in pg "$PG_BIN/psql" "$FLEET_CONNINFO" -v ON_ERROR_STOP=1 -Atqc "$1"
}

# --- hosts ---

# fleet_host_add NAME [SEALER]: node NAME (the next address), its swtpm (tpm2, the default),
# its config (vault policy: root may do anything), its store
fleet_host_add() {
	local n=$1 sealer=${2:-tpm2} d=$FLEET_DIR/$1 tcti=none i
	i=$(($(grep -c '^host ' "$FLEET_DIR/made" 2>/dev/null || true) + 11))
	fleet_node "$n" "$i" || return 1
	mkdir -m 0700 "$d" "$d/policy.d"
	mkdir "$d/mnt"
	echo "host $n" >>"$FLEET_DIR/made"
	if [ "$sealer" != host ]; then
		# shellcheck disable=SC2016 # expanded by the inner shell
		tcti=$(fleet_in "$n" bash -c '. "$1" && swtpm_start "$2" >&2 && echo "$SWTPM_TCTI"' \
			- "$VAULTFS_TOP/tests/lib/swtpm.sh" "$d/tpm") || return 1
		echo "$tcti" >"$d/tcti"
	fi
	vaultfs_conf "$d" "$tcti" "$sealer" >"$d/vaultfs.conf"
	cat >>"$d/vaultfs.conf" <<-CONF
	[fleet]
	conninfo = $FLEET_CONNINFO
	host = $n
	CONF
	echo 'allow list,read,meta,write,delete,recover,purge,manage /** uid=0' \
		>"$d/policy.d/10-test.policy"
	fleet_in "$n" "$VAULTCTL" -c "$d/vaultfs.conf" init --sealer "$sealer" \
		--recovery-key-file "$d/recovery.key" >"$d/init.log" 2>&1 ||
		{ cat "$d/init.log" >&2; return 1; }
}

fleet_on() {
	local n=$1
	shift
	fleet_in "$n" "$VAULTCTL" -c "$FLEET_DIR/$n/vaultfs.conf" --offline "$@"
}

fleet_ctl() {
	local n=$1
	shift
	fleet_in "$n" "$VAULTCTL" -c "$FLEET_DIR/$n/vaultfs.conf" "$@"
}

# fleet_pid_ours PID NAME: PID is NAME's vaultfsd
fleet_pid_ours() {
	[[ $1 =~ ^[0-9]+$ ]] &&
		tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" |
		grep -qF -- "-c $FLEET_DIR/$2/vaultfs.conf"
}

fleet_mounted() {
	grep -q " $FLEET_DIR/$1/mnt fuse" /proc/mounts
}

# fleet_host_start NAME: NAME's vaultfsd in its namespace, output to its daemon.log, once its
# mount answers
fleet_host_start() {
	local n=$1 d=$FLEET_DIR/$1 pid i
	nsenter --net="/run/netns/$(fleet_ns "$n")" -- "$VAULTFSD" -c "$d/vaultfs.conf" \
		</dev/null >>"$d/daemon.log" 2>&1 3>&- &
	pid=$!
	echo "$pid" >"$d/vaultfsd.pid"
	for i in $(seq 200); do
		if fleet_mounted "$n" && stat "$d/mnt" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { cat "$d/daemon.log" >&2; return 1; }
		sleep 0.05
	done
	echo "fleet: vaultfsd $n did not mount" >&2
	return 1
}

# fleet_host_stop NAME [SIGNAL]: its vaultfsd signalled (TERM) and gone, its mount detached
fleet_host_stop() {
	local n=$1 d=$FLEET_DIR/$1 pid i
	pid=$(cat "$d/vaultfsd.pid" 2>/dev/null) || pid=
	if [ -n "$pid" ] && fleet_pid_ours "$pid" "$n"; then
		kill "-${2:-TERM}" "$pid" 2>/dev/null || true
		for i in $(seq 200); do
			fleet_pid_ours "$pid" "$n" || break
			sleep 0.05
		done
		fleet_pid_ours "$pid" "$n" && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$d/vaultfsd.pid"
	if fleet_mounted "$n"; then
		fusermount3 -u "$d/mnt" 2>/dev/null || umount -l "$d/mnt" 2>/dev/null || true
	fi
}

fleet_host_kill() {
	fleet_host_stop "$1" KILL
}

# --- teardown ---

# fleet_down: hosts and their TPMs stopped, the center stopped, links, bridge and namespaces
# removed; whatever is still running in a namespace of this fleet (started here) killed
fleet_down() {
	local kind what ns pid tcti
	[ -n "${FLEET_DIR:-}" ] && [ -f "$FLEET_DIR/made" ] || return 0
	FLEET_ID=$(cat "$FLEET_DIR/id")
	while read -r kind what; do
		[ "$kind" = host ] || continue
		fleet_host_stop "$what"
		if [ -f "$FLEET_DIR/$what/tcti" ]; then
			tcti=$(cat "$FLEET_DIR/$what/tcti")
			# shellcheck disable=SC2016 # expanded by the inner shell
			fleet_in "$what" bash -c '. "$1" && swtpm_stop "$2"' - \
				"$VAULTFS_TOP/tests/lib/swtpm.sh" "$FLEET_DIR/$what/tpm" 2>/dev/null ||
				true
			rm -f -- "$(tpm_lock_file "$tcti")"
		fi
	done <"$FLEET_DIR/made"
	while read -r kind what; do
		[ "$kind" = pg ] || continue
		PG_TEMPLATE=$what/data pg_stop "$what"
	done <"$FLEET_DIR/made"
	while read -r kind what; do
		[ "$kind" = netns ] || continue
		for pid in $(ip netns pids "$what" 2>/dev/null); do
			echo "fleet: pid $pid left in $what: killed" >&2
			kill -KILL "$pid" 2>/dev/null || true
		done
	done <"$FLEET_DIR/made"
	tac "$FLEET_DIR/made" | while read -r kind what; do
		case $kind in
		link) ip link del "$what" 2>/dev/null || true ;;
		netns) ip netns del "$what" 2>/dev/null || true ;;
		esac
	done
	rm -f "$FLEET_DIR/made"
}
