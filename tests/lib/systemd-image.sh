#!/usr/bin/env bash
# systemd-image.sh DIR: a Podman image of Debian bookworm that boots its own systemd as PID 1
# (tests/lib/systemd.bash runs it), made once and reused: the root filesystem by mmdebstrap
# from the host's Debian mirror (as /etc/apt/sources.list.d/ names it, or VAULTFS_DEBIAN_MIRROR:
# one-line "deb URI SUITE COMPONENTS" entries separated by newlines), then `podman import`.
# The image is tagged by a key of its inputs (the recipe's version, the package list, the
# mirror lines, the architecture): while an image of that key exists it is reused (35 s to
# make on an idle machine of this kind, 90 to 160 s on a loaded one; nothing to reuse); a new
# key makes a new image and removes the older tags of the same name. DIR (the build's cache)
# holds the lock, the logs of the last make and the key.
# Prints the image's name. Exits 77 with the reason on stderr where Podman cannot run (not
# installed, not root, no /dev/fuse, `podman info` fails): the tests that need the image then
# skip with that reason. Exits 1 with the reason when the image cannot be made otherwise
# (mmdebstrap missing or failing, no mirror, import failing): those tests then fail.
# Never starts a container and never touches the host's own packages.
set -u
dir=$(realpath -m -- "$1")
name=localhost/vaultfs-systemd

# What runs inside: systemd and the bus; FUSE; the libraries vaultfsd and vaultctl link
# (ldd build/vaultfsd build/vaultctl: libpq5 for the fleet); the TPM stack's swtpm TCTI and swtpm itself (there is
# no /dev/tpmrm0 in a container: the tests run a software TPM there as a unit); sudo, as the
# README types it; procps and util-linux (findmnt, setpriv) for the tests.
pkgs=systemd,systemd-sysv,dbus,fuse3,libfuse3-3,sudo,procps,util-linux,mount
pkgs+=,libssl3,libsqlite3-0,libjson-c5,libkeyutils1,libsystemd0
pkgs+=,libtss2-esys-3.0.2-0,libtss2-sys1,libtss2-mu0,libtss2-rc0,libtss2-tctildr0
pkgs+=,libtss2-tcti-device0,libtss2-tcti-swtpm0,swtpm,libpq5

fail() {
	echo "systemd-image: $*" >&2
	exit 1
}

# Podman cannot run here: the tests skip (only for this).
cannot() {
	echo "systemd-image: $*" >&2
	exit 77
}

# The host's Debian mirror for bookworm, its updates and security, as one-line entries (deb822
# .sources files and .list files alike). Other repositories of the host are left out.
host_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" && $3 ~ /^bookworm(-updates|-security)?$/ {
			line = "deb"; for (i = 2; i <= NF; i++) if ($i !~ /^\[/) line = line " " $i
			print line }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'function flush(  n, s, i) {
				if (types ~ /(^| )deb( |$)/ && uris != "" && enabled != "no") {
					n = split(suites, s, " ")
					for (i = 1; i <= n; i++)
						if (s[i] ~ /^bookworm(-updates|-security)?$/)
							print "deb " uris " " s[i] " " comps
				}
				types = uris = suites = comps = enabled = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			{ key = $1; sub(/:$/, "", key); $1 = ""; sub(/^ /, "")
			  if (key == "Types") types = $0; else if (key == "URIs") uris = $0
			  else if (key == "Suites") suites = $0
			  else if (key == "Components") comps = $0
			  else if (key == "Enabled") enabled = $0 }
			END { flush() }' "$f"
	done
}

command -v podman >/dev/null || cannot "podman is not installed (apt-get install podman runc)"
[ "$(id -u)" = 0 ] || cannot "needs root (rootful Podman with /dev/fuse and CAP_SYS_ADMIN)"
[ -c /dev/fuse ] || cannot "no /dev/fuse on this host"
if ! out=$(podman info 2>&1 >/dev/null); then
	cannot "podman cannot run here: podman info failed${out:+: ${out##*$'\n'}}"
fi

mirror=${VAULTFS_DEBIAN_MIRROR:-$(host_mirror)}
[ -n "$mirror" ] ||
	fail "no bookworm mirror in /etc/apt/sources.list.d/ (set VAULTFS_DEBIAN_MIRROR)"
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
# The recipe's inputs; bump recipe when the way the tree is made changes.
recipe="1 mmdebstrap --variant=minbase bookworm; podman import"
key=$(printf '%s\n' "$recipe" "$pkgs" "$mirror" "$arch" | sha256sum | cut -c1-16)
image=$name:$key

mkdir -p "$dir" || exit 1
exec 9>"$dir/lock" || exit 1
flock 9 || exit 1
if podman image exists "$image"; then
	echo "$image"
	exit 0
fi
command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed (apt-get install mmdebstrap)"

start=$(date +%s.%N)
tar=$dir/rootfs-$key.tar
rm -f -- "$dir"/rootfs-*.tar
mapfile -t mirrors <<<"$mirror"
# mmdebstrap takes the lowest free descriptor for apt's hook pipe and names it in a dash
# command line (`cat >&N`), which dash cannot parse for N > 9: called from bats, whose
# descriptors reach past 9, it failed ("Bad fd number"). It runs with only 0-2 open (the lock
# stays held by this shell's fd 9).
close_fds() {
	local f n
	for f in /proc/$BASHPID/fd/*; do
		n=${f##*/}
		[ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"
	done
	return 0
}
if ! (close_fds && exec mmdebstrap --variant=minbase --include="$pkgs" \
	--aptopt='Acquire::Retries "3"' bookworm "$tar" "${mirrors[@]}") \
	>"$dir/mmdebstrap.log" 2>&1; then
	tail -n 20 "$dir/mmdebstrap.log" >&2
	rm -f -- "$tar"
	fail "mmdebstrap failed (log: $dir/mmdebstrap.log)"
fi
if ! podman import --quiet "$tar" "$image" >"$dir/import.log" 2>&1; then
	cat "$dir/import.log" >&2
	rm -f -- "$tar"
	fail "podman import failed"
fi
# The image is the cache: the tarball is not kept (188 MiB).
rm -f -- "$tar"
# Older images of this name (other keys) go.
podman images --format '{{.Repository}}:{{.Tag}}' |
	while read -r old; do
		[ "$old" = "$name:${old##*:}" ] && [ "$old" != "$image" ] || continue
		podman rmi "$old" >/dev/null 2>&1 || true
	done
echo "$key" >"$dir/key"
end=$(date +%s.%N)
echo "systemd-image: made $image in $(awk "BEGIN { printf \"%.0f\", $end - $start }") s" >&2
echo "$image"
