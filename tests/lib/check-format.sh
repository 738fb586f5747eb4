#!/usr/bin/env bash
# The code's form (STYLE.md), checked: every C file of the product and its tests is as
# clang-format makes it with the repo's .clang-format. Prints each file that differs and the
# first lines of the difference; exits 1 when there is one. `make format` rewrites them.
# `check-format.sh [FILE...]` checks just those.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
command -v clang-format >/dev/null || { echo "format: clang-format is not installed" >&2; exit 2; }
if [ $# -eq 0 ]; then
	set -- $(git ls-files 'core/*.[ch]' 'policy/*.[ch]' 'fs/*.[ch]' 'tools/*.[ch]' \
		'tests/*.[ch]' 2>/dev/null || ls core/*.[ch] policy/*.[ch] fs/*.[ch] tools/*.[ch])
fi
# One clang-format for all the files (a process per file took half a minute): it names the
# lines that differ; only the files it names are formatted again, one by one, for the diff.
# When it names none yet fails (a file it cannot read), every file is looked at so.
if out=$(clang-format --style=file --dry-run --Werror "$@" 2>&1) && [ -z "$out" ]; then
	echo "format: ok ($# files)"
	exit 0
fi
declare -A named=()
while IFS= read -r line; do
	[[ $line =~ ^(.+):[0-9]+:[0-9]+:\ (error|warning): ]] && named[${BASH_REMATCH[1]}]=1
done <<<"$out"
bad=0
for f in "$@"; do
	[ "${#named[@]}" -eq 0 ] || [ -n "${named[$f]:-}" ] || continue
	if ! out=$(clang-format --style=file "$f" | diff -u "$f" - ); then
		echo "format: $f differs from clang-format (make format):"
		head -n 12 <<<"$out" | tail -n +3
		bad=1
	fi
done
[ "$bad" -eq 0 ] && echo "format: ok ($# files)"
exit "$bad"
