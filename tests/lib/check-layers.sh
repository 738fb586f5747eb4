#!/usr/bin/env bash
# The layer table of DESIGN.md §3, checked: which folder's sources may include which folder's
# headers, and that only fs/ includes the FUSE headers. Prints each forbidden include as
# FILE:LINE and exits 1 when there is one. `check-layers.sh [ROOT]` (default: the repo).
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2

# folder -> the folders whose headers it may include (besides its own, by bare name)
declare -A may=(
	[core]="core"
	[policy]="core policy"
	[fs]="core policy fs"
	[tools]="core policy tools"
)

bad=0
for dir in core policy fs tools; do
	[ -d "$dir" ] || continue
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -f "$f" ] || continue
		n=0
		while IFS= read -r line; do
			n=$((n + 1))
			case "$line" in
			\#*include*) ;;
			*) continue ;;
			esac
			if [[ $line =~ ^#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
				inc=${BASH_REMATCH[1]}
				case "$inc" in
				*/*) top=${inc%%/*} ;;
				*) top=$dir ;;
				esac
				case " ${may[$dir]} " in
				*" $top "*) ;;
				*)
					echo "$f:$n: $dir/ may not include \"$inc\" (DESIGN.md §3)"
					bad=1
					;;
				esac
			elif [[ $line =~ ^#[[:space:]]*include[[:space:]]*\<(fuse[^\>]*)\> ]]; then
				if [ "$dir" != fs ]; then
					echo "$f:$n: only fs/ includes the FUSE headers (<${BASH_REMATCH[1]}>)"
					bad=1
				fi
			fi
		done <"$f"
	done
done
[ "$bad" -eq 0 ] && echo "layers: ok"
exit "$bad"
