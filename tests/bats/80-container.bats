#!/usr/bin/env bats
# vaultfsd serving real Podman containers: a vault bind-mounted read-only into two containers,
# a container= rule and a cgroup= rule that grant one of them only, the same uid on the host
# and in the other container refused, and the journal naming each container. Podman runs as
# root with runc and the cgroupfs manager, no network, an image imported from a tarball of
# busybox-static, and storage of its own under a temp dir: the host's Podman state is never
# touched (but for the empty /run/containers/networks every podman 4.3 command makes). The
# file is skipped, with the reason, where Podman cannot run a container.

load helpers

IMAGE=localhost/vaultfs-busybox:test

# pm ARGS...: podman with this file's own storage, runc, cgroupfs, no events (after the
# command in PM_PRE, if any)
pm() {
	"${PM_PRE[@]}" podman --root "$PM_DIR/root" --runroot "$PM_DIR/run" --tmpdir "$PM_DIR/tmp" \
		--storage-driver vfs --runtime /usr/sbin/runc --cgroup-manager cgroupfs \
		--events-backend none --network-config-dir "$PM_DIR/net" "$@" 3>&-
}

# pm_run ARGS...: podman run with no network and limits within the caller's hard limits (by
# default runc raises RLIMIT_NOFILE to 1048576: EPERM where CAP_SYS_RESOURCE is not held)
pm_run() {
	pm run --network none --log-driver k8s-file \
		--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"
}

# pm_start NAME ARGS...: a detached container NAME from $IMAGE that sleeps
pm_start() {
	local name=$1
	shift
	pm_run -d --name "$name" "$@" "$IMAGE" sleep 300 >/dev/null
}

# pm_two VOLUME: containers c1 and c2 as pm_start makes them, with -v VOLUME; their ids in
# $c1 and $c2
pm_two() {
	pm_start c1 -v "$1" || return
	pm_start c2 -v "$1" || return
	c1=$(pm inspect -f '{{.Id}}' c1) && c2=$(pm inspect -f '{{.Id}}' c2)
}

# pm_import TAR NAME: podman import in a mount namespace of its own where /var/lib/containers
# is an empty tmpfs: podman 4.3 writes its blob-info cache there whatever --root says
pm_import() {
	local made='' r=0
	local PM_PRE=(unshare -m --propagation private sh -c
		'mount -t tmpfs -o mode=0700 tmpfs /var/lib/containers && exec "$@"' sh)

	if [ ! -d /var/lib/containers ]; then
		mkdir -m 0700 /var/lib/containers || return
		made=1
	fi
	pm import "$@" || r=$?
	[ -z "$made" ] || rmdir /var/lib/containers 2>/dev/null || true
	return "$r"
}

# pm_cleanup: remove every container and image, unmount what Podman left, remove the dir
pm_cleanup() {
	if [ -z "${PM_DIR:-}" ] || [ ! -d "$PM_DIR" ]; then
		return 0
	fi
	pm rm -a -f -t 0 >/dev/null 2>&1 || true
	pm rmi -a -f >/dev/null 2>&1 || true
	awk -v d="$PM_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf -- "$PM_DIR"
}

# podman_check: "" where this file's tests can run, else why not (setup_file cannot skip in
# bats 1.8, so each test skips with this reason). Imports the image into $PM_DIR.
podman_check() {
	local bb=/bin/busybox img err

	[ "$(id -u)" -eq 0 ] || { echo "needs root (Podman runs rootful)"; return; }
	command -v podman >/dev/null || { echo "podman is not installed"; return; }
	[ -x /usr/sbin/runc ] || { echo "runc is not installed (/usr/sbin/runc)"; return; }
	command -v fusermount3 >/dev/null || { echo "fuse3 is not installed"; return; }
	[ -x "$bb" ] || { echo "busybox-static is not installed ($bb)"; return; }
	# a dynamic busybox (package busybox) would not run in an image holding nothing else
	if ldd "$bb" >/dev/null 2>&1; then
		echo "$bb is dynamically linked: install busybox-static"
		return
	fi
	# the daemon takes the container id from the cgroup v2 path ("0::" in /proc/PID/cgroup)
	[ -n "$(cgroup2_root)" ] || { echo "cgroup2 is not mounted: no container ids"; return; }
	img=$PM_DIR/image
	mkdir -p "$img/bin"
	cp "$bb" "$img/bin/busybox"
	for l in sh cat ls sleep; do ln -s busybox "$img/bin/$l"; done
	tar -C "$img" -cf "$PM_DIR/image.tar" .
	if ! err=$(pm_import "$PM_DIR/image.tar" "$IMAGE" 2>&1); then
		echo "podman import failed: ${err##*$'\n'}"
		return
	fi
	if ! err=$(pm_run --rm "$IMAGE" sh -c : 2>&1); then
		echo "podman cannot run a container here (runc, cgroupfs): ${err##*$'\n'}"
		return
	fi
}

setup_file() {
	export PM_DIR PM_SKIP
	PM_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-podman.XXXXXX")
	PM_SKIP=$(podman_check)
}

teardown_file() {
	pm_cleanup
}

setup() {
	DAEMON=
	[ -z "$PM_SKIP" ] || skip "$PM_SKIP"
	vault_setup
	mkdir -m 0700 "$T/policy.d"
	init_store
	vctl vault create app
}

teardown() {
	[ -z "$PM_SKIP" ] || return 0
	pm rm -f -t 0 c1 c2 >/dev/null 2>&1 || true
	daemon_stop
	[ -n "${KEEP:-}" ] || vault_teardown
}

# reload: SIGHUP the daemon and wait until it says it reloaded
reload() {
	local n

	n=$(grep -c 'Policy reloaded' "$T/daemon.log") || true
	kill -HUP "$DAEMON"
	for _ in $(seq 100); do
		[ "$(grep -c 'Policy reloaded' "$T/daemon.log")" -gt "$n" ] && return 0
		sleep 0.05
	done
	echo "policy reload not seen" >&2
	cat "$T/daemon.log" >&2
	return 1
}

@test "container= and cgroup= rules: c1 reads through its bind mount; c2 and host root do not" {
	podman_exe=$(readlink -f "$(command -v podman)")
	# podman stats the bind source on the host, then runc mounts it from inside the new
	# container's cgroup: both look the vault up before a policy can name the container
	policy <<-EOF
	allow list /app exe=$podman_exe
	allow list /app container=*
	EOF
	db="DB-VALUE-$RANDOM$RANDOM$RANDOM"
	tls="TLS-VALUE-$RANDOM$RANDOM$RANDOM"
	printf '%s' "$db" | vctl secret set app/db
	printf '%s' "$tls" | vctl secret set app/tls
	daemon_start
	# the vault, not the whole mount, read-only at /run/secrets in each container
	pm_two "$T/mnt/app:/run/secrets:ro"
	[[ $c1 =~ ^[0-9a-f]{64}$ ]]
	[[ $c2 =~ ^[0-9a-f]{64}$ ]]
	# the daemon sees c1 in the cgroup v2 path the cgroupfs manager gives it
	pid1=$(pm inspect -f '{{.State.Pid}}' c1)
	cg1=$(sed -n 's/^0:://p' "/proc/$pid1/cgroup")
	[ "$cg1" = "/libpod_parent/libpod-$c1" ]
	# the two list rules stay, so that containers started later can mount the vault too
	policy <<-EOF
	allow list /app exe=$podman_exe
	allow list /app container=*
	allow read /app/db container=$c1
	allow read /app/tls cgroup=$cg1
	EOF
	reload
	# vaultctl policy explain --pid derives the same from a live container process
	run vctl policy explain read /app/db --pid "$pid1"
	[ "$status" -eq 0 ]
	[[ $output == *"container: $c1"* ]]
	run vctl policy explain read /app/db --pid "$(pm inspect -f '{{.State.Pid}}' c2)"
	[ "$status" -eq 1 ]
	[[ $output == *"container: $c2"* ]]
	[ "$(pm exec c1 cat /run/secrets/db)" = "$db" ]
	[ "$(pm exec c1 cat /run/secrets/tls)" = "$tls" ]
	[ "$(pm exec c1 ls /run/secrets | tr '\n' ' ')" = "db tls " ]
	# c2: the same uid (0), the same mount; the names do not exist for it
	[ -z "$(pm exec c2 ls /run/secrets)" ]
	run pm exec c2 cat /run/secrets/db
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
	[[ $output != *"$db"* ]]
	run pm exec c2 cat /run/secrets/tls
	[ "$status" -ne 0 ]
	[[ $output != *"$tls"* ]]
	# root on the host, outside any container, with the same path
	run cat "$T/mnt/app/db"
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
	[[ $output != *"$db"* ]]
	rule=$T/policy.d/10-test.policy
	run vctl audit show --event open
	# the container's busybox is not the host's /bin/busybox: recorded as not verified
	[[ $output == *" open allow app/db v1 uid=0 "*"exe=?(/bin/busybox) container=$c1 "* ]]
	[[ $output == *" app/db "*" container=$c1 cgroup=$cg1 path=/app/db rule=$rule:3"* ]]
	[[ $output == *" open allow app/tls v1 uid=0 "*"container=$c1 "*"rule=$rule:4"* ]]
	[[ $output != *"container=$c2"* ]]
	[ "$(grep -c " open allow " <<<"$output")" -eq 2 ]
	run vctl audit show --event lookup
	[[ $output == *" lookup deny ENOENT app/db uid=0 "*"container=$c2 "*"rule=default"* ]]
	[[ $output == *" lookup deny ENOENT app/tls uid=0 "*"container=$c2 "*"rule=default"* ]]
	# the host's refusal: at the vault itself, naming no container
	grep " lookup deny ENOENT app uid=0 .*exe=/usr/bin/cat " <<<"$output" >"$T/host"
	[ -s "$T/host" ]
	[ "$(grep -c "container=" "$T/host")" -eq 0 ]
	# c1 was refused nothing after the reload
	vctl audit show | sed -n '/ policy-reload allow /,$p' >"$T/after"
	grep -q " open allow app/db " "$T/after"
	[ "$(grep -c " deny .*container=$c1" "$T/after")" -eq 0 ]
}

@test "the whole mount bound in: the host needs no right at all" {
	: | policy # nothing for anyone until the containers run
	db="DB-VALUE-$RANDOM$RANDOM$RANDOM"
	printf '%s' "$db" | vctl secret set app/db
	daemon_start
	pm_two "$T/mnt:/vault:ro"
	policy <<-EOF
	allow list /app container=$c1
	allow read /app/db container=$c1
	EOF
	reload
	[ "$(pm exec c1 cat /vault/app/db)" = "$db" ]
	[ "$(pm exec c1 ls /vault | tr '\n' ' ')" = "app " ]
	[ -z "$(pm exec c2 ls /vault)" ]
	run pm exec c2 cat /vault/app/db
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
	[ -z "$(ls "$T/mnt")" ]
	run cat "$T/mnt/app/db"
	[ "$status" -ne 0 ]
	run vctl audit show
	[[ $output == *" open allow app/db v1 uid=0 "*"container=$c1 "* ]]
	[[ $output == *" lookup deny ENOENT app uid=0 "*"container=$c2 "* ]]
}

@test "hide_unreadable = no: c2 gets EACCES; a short-id glob matches c1 and not c2" {
	sed -i 's/^\[fs\]$/[fs]\nhide_unreadable = no/' "$CONF"
	# the simplest grant that lets podman and runc resolve the bind source: root may look
	# into the vault, and sees only the names it holds a right on
	policy <<-'EOF'
	allow list /app uid=0
	EOF
	db="DB-VALUE-$RANDOM$RANDOM$RANDOM"
	printf '%s' "$db" | vctl secret set app/db
	daemon_start
	pm_two "$T/mnt/app:/run/secrets:ro"
	# the 12-digit id podman ps shows, as a glob; skip the one chance in 2^48 they share it
	[ "${c1:0:12}" != "${c2:0:12}" ] || skip "c1 and c2 share a short id"
	policy <<-EOF
	allow list /app uid=0
	allow read /app/db container=${c1:0:12}*
	EOF
	reload
	[ "$(pm exec c1 cat /run/secrets/db)" = "$db" ]
	run pm exec c2 cat /run/secrets/db
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	run cat "$T/mnt/app/db"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	run vctl audit show --event open
	[[ $output == *" open allow app/db v1 uid=0 "*"container=$c1 "* ]]
	run vctl audit show --event lookup
	[[ $output == *" lookup deny EACCES app/db uid=0 "*"container=$c2 "* ]]
}

@test "a container that makes a cgroup named for another below its own is not that other" {
	podman_exe=$(readlink -f "$(command -v podman)")
	policy <<-EOF
	allow list /app exe=$podman_exe
	allow list /app container=*
	EOF
	db="DB-VALUE-$RANDOM$RANDOM$RANDOM"
	printf '%s' "$db" | vctl secret set app/db
	daemon_start
	pm_two "$T/mnt/app:/run/secrets:ro"
	# list by uid: the forger's lookup of db is decided (and recorded), not refused at /app
	policy <<-EOF
	allow list /app uid=0
	allow read /app/db container=$c2
	EOF
	reload
	[ "$(pm exec c2 cat /run/secrets/db)" = "$db" ]
	# what delegation lets c1's workload do (systemd-mode Podman, privileged Docker, LXC or
	# nspawn with Delegate=): make a cgroup named as c2's below its own, move itself in. The
	# cgroupfs here is read-only inside c1, so the host does both for the process of c1.
	cg1=$(sed -n 's/^0:://p' "/proc/$(pm inspect -f '{{.State.Pid}}' c1)/cgroup")
	root=$(cgroup2_root)
	nested=$root$cg1/libpod-$c2
	mkdir "$nested"
	pm exec -d c1 sh -c 'while [ ! -e /go ]; do sleep 0.05; done
		cat /run/secrets/db >/out 2>&1; echo $? >/rc'
	for _ in $(seq 100); do
		forger=$(for p in $(cat "$root$cg1/cgroup.procs"); do
			grep -qa '/go' "/proc/$p/cmdline" 2>/dev/null && echo "$p"; done | head -n 1)
		[ -n "$forger" ] && break
		sleep 0.05
	done
	[ -n "$forger" ]
	echo "$forger" >"$nested/cgroup.procs"
	[ "$(sed -n 's/^0:://p' "/proc/$forger/cgroup")" = "$cg1/libpod-$c2" ]
	run vctl policy explain read /app/db --pid "$forger"
	[ "$status" -eq 1 ]
	[[ $output == *"container: ?($c2) (unknown"* ]]
	pm exec c1 sh -c ': >/go'
	for _ in $(seq 100); do
		pm exec c1 sh -c 'test -e /rc' && break
		sleep 0.1
	done
	[ "$(pm exec c1 cat /rc)" -ne 0 ]
	run pm exec c1 cat /out
	[[ $output == *"No such file or directory"* ]]
	[[ $output != *"$db"* ]]
	# recorded as what it is: a claim of c2's name, unknown, in c1's tree
	run vctl audit show
	[[ $output == *" deny ENOENT app/db uid=0 "*"container=?($c2) cgroup=$cg1/libpod-$c2 "* ]]
	[ "$(grep -c " allow .*container=?(" <<<"$output")" -eq 0 ]
	[ "$(grep -c " open allow app/db .*container=$c2 " <<<"$output")" -eq 1 ]
	rmdir "$nested" 2>/dev/null || true
}

@test "the default policy: root in a container lists, writes and deletes nothing" {
	cp "$VAULTFS_TOP/systemd/00-default.policy" "$T/policy.d/"
	db="DB-VALUE-$RANDOM$RANDOM$RANDOM"
	printf '%s' "$db" | vctl secret set app/db
	daemon_start
	# the whole mount, writable, in two containers whose root is uid 0 as on the host
	pm_two "$T/mnt:/vault"
	[ "$(ls "$T/mnt/app")" = db ] # the host's root lists
	for c in c1 c2; do
		[ "$(pm exec "$c" busybox id -u)" = 0 ]
		[ -z "$(pm exec "$c" ls /vault)" ]
		run pm exec "$c" ls /vault/app
		[ "$status" -ne 0 ]
		run pm exec "$c" sh -c 'printf x >/vault/app/db'
		[ "$status" -ne 0 ]
		run pm exec "$c" sh -c 'printf x >/vault/app/new'
		[ "$status" -ne 0 ]
		run pm exec "$c" busybox rm /vault/app/db
		[ "$status" -ne 0 ]
		run pm exec "$c" busybox mkdir /vault/other
		[ "$status" -ne 0 ]
	done
	# nothing changed: the host's root still sees one version of db and nothing else
	[ "$(ls "$T/mnt")" = app ]
	[ "$(ls "$T/mnt/app")" = db ]
	[ "$(ls "$T/mnt/app/.versions/db")" = 1 ]
	run vctl audit show
	[[ $output == *" deny ENOENT app uid=0 "*"container=$(pm inspect -f '{{.Id}}' c1) "* ]]
	[ "$(grep -c " allow .*container=" <<<"$output")" -eq 0 ]
}

# Issue 18 recipe: `podman run --env-file /vault/app/app.env`. Podman reads the file itself, on
# the host, before the container exists: the policy grants read to podman's executable (root
# by another program gets nothing), and the container gets the variables, not the file.
@test "podman --env-file from /vault: podman reads it as its own exe, the container gets the variables" {
	podman_exe=$(readlink -f "$(command -v podman)")
	val="postgres://app:pw-$RANDOM$RANDOM@db/app"
	printf 'DB_URL=%s\nMODE=prod\n' "$val" | vctl secret set app/app.env
	policy <<-EOF
	allow list /app exe=$podman_exe
	allow read /app/app.env exe=$podman_exe
	EOF
	daemon_start
	run pm_run --rm --env-file "$T/mnt/app/app.env" "$IMAGE" sh -c 'echo "$DB_URL $MODE"'
	[ "$status" -eq 0 ]
	[ "$output" = "$val prod" ]
	# root through another program: not even the name
	run cat "$T/mnt/app/app.env"
	[ "$status" -ne 0 ]
	run vctl audit show --event open
	[[ $output == *" open allow app/app.env v1 uid=0 "*"exe=$podman_exe "* ]]
}
