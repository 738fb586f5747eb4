#!/usr/bin/env bash
# make.sh VAULTCTL DIR: make the store-v1 fixture in DIR (empty) with VAULTCTL, the vaultctl of
# the commit named in README. Writes vault.db, host.key, recovery.key, audit.jsonl, bin.value.
set -eu
ctl=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/vaultfs.conf" "$dir/"
cd "$dir"
mkdir -m 0700 policy.d
v() { "$ctl" -c vaultfs.conf --offline "$@"; }
"$ctl" -c vaultfs.conf init --sealer host --recovery-key-file recovery.key
v vault create app
printf value-1 | v secret set app/db --content-type text/plain --tag env=prod --tag team=pay
printf value-2 | v secret set app/db --expires 2999-01-01T00:00:00Z --tag env=prod
printf value-3 | v secret set app/db --content-type application/json --tag env=dev
v secret update app/db --version 1 --enabled no
head -c 300 /dev/urandom >bin.value
v secret set app/bin --file bin.value --content-type application/octet-stream
printf gone-value | v secret set app/gone
v secret delete app/gone
rmdir policy.d
rm vaultfs.conf
