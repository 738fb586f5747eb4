#!/usr/bin/env bash
# tls-read.sh: a TLS server reading its certificate and key from /vault against the same bytes
# on a tmpfs, in the same run (`make bench`). A private swtpm, a store, a self-signed
# certificate b/web (exportable key) served by vaultfsd, its views copied to a tmpfs; then, for
# each source in turn and round after round (so drift hits both alike):
#   - `nginx -t` BENCH_TLS_TESTS times: a process that loads the config, certificate and key;
#   - Debian's nginx under load from `openssl s_time` (new handshakes, one client) for
#     BENCH_TLS_SECONDS, its master reloaded by HUP again and again meanwhile (each reload
#     re-reads certificate and key as root, decided by the policy's exe= rule): reloads/s and
#     handshakes/s;
# and, when bench-open is built, the open + read-to-EOF loop of each view (.crt .key .pem .p12)
# and of a secret holding the same key PEM, against the tmpfs copies. Prints each figure for
# /vault and tmpfs and their ratio. It measures: no figure makes it fail, only a step that does
# not work. Knobs: BENCH_TLS_ROUNDS (2), BENCH_TLS_SECONDS (4), BENCH_TLS_TESTS (40),
# BENCH_TLS_OPENS opens per run of bench-open (1000), BENCH_DIR (/var/tmp). Everything it starts
# is stopped and everything it made is removed on exit.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$top/build}
ROUNDS=${BENCH_TLS_ROUNDS:-2}
SECS=${BENCH_TLS_SECONDS:-4}
TESTS=${BENCH_TLS_TESTS:-40}
OPENS=${BENCH_TLS_OPENS:-1000}
export TSS2_LOG=all+NONE
for p in "$BUILD/vaultctl" "$BUILD/vaultfsd"; do
	[ -x "$p" ] || { echo "tls-read: $p is not built (make bench)" >&2; exit 2; }
done
if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
	echo "tls-read: skipped: needs root and /dev/fuse"
	exit 0
fi
# shellcheck source=tests/lib/swtpm.sh
. "$top/tests/lib/swtpm.sh"
# shellcheck source=tests/lib/conf.sh
. "$top/tests/lib/conf.sh"
# shellcheck source=tests/lib/servers.bash
. "$top/tests/lib/servers.bash"
if [ ! -x "$NGINX" ]; then
	echo "tls-read: skipped: no nginx at $NGINX (make deps installs it)"
	exit 0
fi

T=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vaultfs-tlsbench.XXXXXX")
chmod 0711 "$T"
DAEMON=
LOAD=
cleanup() {
	if [ -n "$LOAD" ]; then kill -TERM "$LOAD" 2>/dev/null || true; fi
	nginx_stop "$T/ngx-vault" || true
	nginx_stop "$T/ngx-tmpfs" || true
	if [ -n "$DAEMON" ]; then
		kill -TERM "$DAEMON" 2>/dev/null || true
		wait "$DAEMON" 2>/dev/null || true
	fi
	if grep -q " $T/mnt " /proc/mounts; then
		fusermount3 -u "$T/mnt" || umount -l "$T/mnt" || true
	fi
	if grep -q " $T/tmpfs " /proc/mounts; then umount "$T/tmpfs" || true; fi
	swtpm_stop "$T/tpm" 2>/dev/null || true
	rm -rf -- "$T"
}
trap cleanup EXIT

swtpm_start "$T/tpm" >/dev/null
mkdir -m 0700 "$T/policy.d"
mkdir -p "$T/mnt" "$T/tmpfs"
vaultfs_conf "$T" "$SWTPM_TCTI" >"$T/vaultfs.conf"
# nginx reads as a server would be let to (exe=); root reads too, for the copies and bench-open
cat >"$T/policy.d/10-bench.policy" <<POL
allow list /b uid=0
allow read,meta /b/web exe=$(readlink -f "$NGINX")
allow read,meta /b/* uid=0
POL
ctl() { "$BUILD/vaultctl" -c "$T/vaultfs.conf" --offline "$@"; }
ctl init --recovery-key-file "$T/recovery.key" >/dev/null 2>&1
ctl vault create b >/dev/null
ctl cert create b/web --issuer self --subject CN=localhost --san dns:localhost \
	--san ip:127.0.0.1 --exportable >/dev/null
"$BUILD/vaultfsd" -c "$T/vaultfs.conf" >"$T/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 200); do
	grep -q " $T/mnt fuse" /proc/mounts && stat "$T/mnt" >/dev/null 2>&1 && break
	sleep 0.05
done
grep -q " $T/mnt fuse" /proc/mounts || { echo "tls-read: vaultfsd did not mount" >&2; exit 1; }

mount -t tmpfs -o size=4m,mode=0700 tmpfs "$T/tmpfs"
for v in crt key pem p12; do
	cat "$T/mnt/b/web.$v" >"$T/tmpfs/web.$v"
done
chmod 0400 "$T"/tmpfs/*
# the key PEM as a secret too: the cert views' read path against a secret's
ctl secret set b/keysecret --file "$T/tmpfs/web.key" >/dev/null

# src_dir SOURCE: where the files of SOURCE (vault or tmpfs) are
src_dir() {
	case $1 in vault) echo "$T/mnt/b" ;; tmpfs) echo "$T/tmpfs" ;; esac
}

now() {
	echo "$EPOCHREALTIME"
}

RES=$T/results
: >"$RES"

# config_tests SOURCE: TESTS runs of `nginx -t`; appends "tests SOURCE ms_per_run"
config_tests() {
	local d t0 t1 i
	d=$T/ngx-$1
	t0=$(now)
	for ((i = 0; i < TESTS; i++)); do
		"$NGINX" -t -q -e "$d/test.log" -p "$d/" -c "$d/nginx.conf" 2>>"$d/test.out"
	done
	t1=$(now)
	awk -v a="$t0" -v b="$t1" -v n="$TESTS" -v s="$1" \
		'BEGIN { printf "tests %s %.3f\n", s, (b - a) * 1000 / n }' >>"$RES"
}

# workers_started DIR: how many times the master started a worker
workers_started() {
	grep -c 'start worker process ' "$1/error.log" || true
}

# reloads_under_load SOURCE: s_time for SECS, HUP after HUP meanwhile (each waited for until
# the new worker starts); appends "reload SOURCE reloads/s handshakes/s"
reloads_under_load() {
	local d port n=0 before t0 t1 i hs
	d=$T/ngx-$1
	port=$(sed -n 's/.*listen 127.0.0.1:\([0-9]*\) ssl;.*/\1/p' "$d/nginx.conf")
	openssl s_time -connect "127.0.0.1:$port" -new -time "$SECS" >"$d/s_time.out" 2>&1 &
	LOAD=$!
	t0=$(now)
	while kill -0 "$LOAD" 2>/dev/null; do
		before=$(workers_started "$d")
		kill -HUP "$(nginx_pid "$d")"
		for ((i = 0; i < 10000; i++)); do
			[ "$(workers_started "$d")" -gt "$before" ] && break
			sleep 0.001
		done
		if [ "$i" -eq 10000 ]; then
			echo "tls-read: nginx ($1) did not reload:" >&2
			tail -n 5 "$d/error.log" >&2
			exit 1
		fi
		n=$((n + 1))
	done
	t1=$(now)
	wait "$LOAD" || true
	LOAD=
	# "N connections in T real seconds, ..."
	hs=$(sed -n 's/^\([0-9]*\) connections in \([0-9.]*\) real seconds.*/\1 \2/p' "$d/s_time.out" |
		head -n 1 | awk '{ if ($2 > 0) printf "%.1f", $1 / $2; else print 0 }')
	[ -n "$hs" ] || { echo "tls-read: s_time said:" >&2; cat "$d/s_time.out" >&2; exit 1; }
	awk -v a="$t0" -v b="$t1" -v n="$n" -v s="$1" -v hs="$hs" \
		'BEGIN { printf "reload %s %.2f %s\n", s, n / (b - a), hs }' >>"$RES"
}

for s in vault tmpfs; do
	d=$(src_dir "$s")
	nginx_start "$T/ngx-$s" "$d/web.crt" "$d/web.key"
done
# each server works before anything is timed
for s in vault tmpfs; do
	port=$(sed -n 's/.*listen 127.0.0.1:\([0-9]*\) ssl;.*/\1/p' "$T/ngx-$s/nginx.conf")
	curl -sS --cacert "$T/tmpfs/web.crt" "https://localhost:$port/" >/dev/null
done

echo "tls-read: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), certificate and key from /vault" \
	"(vaultfsd, policy exe=) vs a tmpfs; $ROUNDS rounds"
for ((r = 0; r < ROUNDS; r++)); do
	order="vault tmpfs"
	[ $((r % 2)) -eq 1 ] && order="tmpfs vault" # neither always goes first
	for s in $order; do
		config_tests "$s"
		reloads_under_load "$s"
	done
done

# mean of column COL of the lines "KIND SOURCE ..." in $RES
mean() {
	awk -v k="$1" -v s="$2" -v c="$3" '$1 == k && $2 == s { t += $c; n++ }
		END { if (n) printf "%.2f", t / n; else print "nan" }' "$RES"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'
}
tv=$(mean tests vault 3) tt=$(mean tests tmpfs 3)
rv=$(mean reload vault 3) rt=$(mean reload tmpfs 3)
hv=$(mean reload vault 4) ht=$(mean reload tmpfs 4)
printf '  %-34s %12s %12s %14s\n' "" /vault tmpfs "/vault/tmpfs"
printf '  %-34s %12s %12s %14s\n' "nginx -t, ms per run" "$tv" "$tt" "$(ratio "$tv" "$tt")"
printf '  %-34s %12s %12s %14s\n' "reloads/s under s_time load" "$rv" "$rt" "$(ratio "$rv" "$rt")"
printf '  %-34s %12s %12s %14s\n' "handshakes/s while reloading" "$hv" "$ht" "$(ratio "$hv" "$ht")"

OPEN=$BUILD/tests/bench-open
if [ -x "$OPEN" ]; then
	echo "tls-read: open + read to EOF + close, 1 thread, $OPENS opens x 3 runs (bench-open)"
	"$OPEN" -n "$OPENS" -r 3 -w 50 \
		vault-crt="$T/mnt/b/web.crt" tmpfs-crt="$T/tmpfs/web.crt" \
		vault-key="$T/mnt/b/web.key" tmpfs-key="$T/tmpfs/web.key" \
		vault-pem="$T/mnt/b/web.pem" tmpfs-pem="$T/tmpfs/web.pem" \
		vault-p12="$T/mnt/b/web.p12" tmpfs-p12="$T/tmpfs/web.p12" \
		vault-secret-key="$T/mnt/b/keysecret" | sed 's/^/    /'
else
	echo "tls-read: $OPEN is not built: no per-file figures (make bench builds it)"
fi
