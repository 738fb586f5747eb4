#!/usr/bin/env bash
# sshd-unpacked.sh DIR: an sshd for the login tests (86-agent-demo, 87-agent) on a machine that
# has none, without installing it (installing openssh-server would start a listening service
# and upgrade openssh-client): openssh-server and libwrap0 fetched from the Debian archive with
# `apt-get download` and unpacked with `dpkg -x` under DIR (once; later runs reuse it), and a
# wrapper that runs it with their libraries. Prints the wrapper's path; prints nothing and exits
# 1 when it cannot be had (no archive reachable): the login tests then skip with the reason.
set -u
dir=$1
wrapper=$dir/sshd-wrapper
if [ -x "$wrapper" ] && "$wrapper" -V >/dev/null 2>&1; then
	echo "$wrapper"
	exit 0
fi
mkdir -p "$dir/debs" || exit 1
(cd "$dir/debs" && timeout 120 apt-get download openssh-server libwrap0 >/dev/null 2>&1) || exit 1
rm -rf "$dir/root"
for d in "$dir"/debs/*.deb; do
	dpkg -x "$d" "$dir/root" || exit 1
done
cat >"$wrapper" <<WRAP
#!/bin/sh
R=$dir/root
export LD_LIBRARY_PATH=\$R/lib/x86_64-linux-gnu:\$R/usr/lib/x86_64-linux-gnu
exec \$R/usr/sbin/sshd "\$@"
WRAP
chmod 0755 "$wrapper"
"$wrapper" -V >/dev/null 2>&1 || exit 1
echo "$wrapper"
