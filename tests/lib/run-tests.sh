#!/usr/bin/env bash
# Runs every unit test (cmocka, each under its own private swtpm; as many at a time as there
# are cores) and then every bats suite, shows their own summaries, and ends with one line of
# its own: "N passed, N failed".
# Exit status is non-zero when anything failed (or when a suite crashed before counting).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
BUILD=${BUILD:-build}
export VAULTFS_BUILD="$top/$BUILD"
export TSS2_LOG=all+NONE
passed=0
failed=0
skipped=0

# As many at a time as the machine has cores (VAULTFS_TEST_JOBS=N sets it): the unit tests,
# each under its own swtpm, and the bounded fuzz runs. What each printed is kept and shown whole,
# in the order of the names.
jobs_max=${VAULTFS_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $jobs_max =~ ^[1-9][0-9]*$ ]] || jobs_max=1
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
running=0

# start CMD...: CMD in the background once fewer than jobs_max run
start() {
	if [ "$running" -ge "$jobs_max" ]; then
		wait -n
		running=$((running - 1))
	fi
	"$@" &
	running=$((running + 1))
}

# Each unit test and fuzz run has a deadline (VAULTFS_TEST_DEADLINE seconds, 600 unless set):
# one that hangs ends with its threads' backtraces in its output (tests/lib/deadline), and the
# run goes on. Each bats test has the same (bats's BATS_TEST_TIMEOUT), unless set otherwise: its
# watchdog is a background job of the test's shell, so a test waits for its own jobs by pid (a
# bare `wait` would wait for the watchdog too).
deadline=${VAULTFS_TEST_DEADLINE:-600}
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-$deadline}

# unit TEST: TEST under its swtpm, its output in $work/NAME, its status in $work/NAME.rc; one
# line when it ends, so a run that is cut off still says how far it came
unit() {
	local t0=$SECONDS rc
	tests/lib/deadline "$deadline" tests/lib/with-swtpm "$1" >"$work/${1##*/}" 2>&1
	rc=$?
	echo "$rc" >"$work/${1##*/}.rc"
	echo "run-tests: ${1##*/} ended with status $rc after $((SECONDS - t0)) s"
}

units=()
for t in "$BUILD"/tests/test-*; do
	[ -x "$t" ] && units+=("$t")
done
# test-audit alone, after the others: it plays journald at the fixed
# /run/systemd/journal/socket, which every audit handle opened meanwhile would write to
for t in "${units[@]}"; do
	[ "${t##*/}" = test-audit ] || start unit "$t"
done
wait
running=0
for t in "${units[@]}"; do
	[ "${t##*/}" = test-audit ] && unit "$t"
done
for t in "${units[@]}"; do
	out=$work/${t##*/}
	cat "$out"
	rc=$(cat "$out.rc" 2>/dev/null)
	rc=${rc:-1}
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "run-tests: $t exited with status $rc" >&2
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

# A short bounded run of each libFuzzer target that was built (clang present): one test each.
# Each is one process on one core, FUZZ_TIME seconds (the same run alone or beside another).
fb=${FUZZ_BUILD:-build-fuzz}
# fuzz TARGET: its run, the log in $fb/NAME.log, its status in $work/fuzz-NAME.rc
fuzz() {
	local name=${1##*/fuzz-} args_var
	args_var=FUZZ_ARGS_$name
	mkdir -p "$fb/corpus-$name"
	# shellcheck disable=SC2086 # the arguments are a list on purpose
	tests/lib/deadline "$deadline" "$1" -max_total_time="${FUZZ_TIME:-10}" -artifact_prefix="$fb/" \
		"$fb/corpus-$name" ${!args_var:-} >"$fb/$name.log" 2>&1
	echo $? >"$work/fuzz-$name.rc"
}

for f in "$fb"/fuzz-*; do
	[ -x "$f" ] || continue
	echo "run-tests: fuzzing ${f##*/fuzz-} for ${FUZZ_TIME:-10} s"
	start fuzz "$f"
done
wait
running=0
for f in "$fb"/fuzz-*; do
	[ -x "$f" ] || continue
	name=${f##*/fuzz-}
	if [ "$(cat "$work/fuzz-$name.rc" 2>/dev/null)" = 0 ]; then
		tail -n 2 "$fb/$name.log"
		echo "ok fuzz-$name"
		passed=$((passed + 1))
	else
		tail -n 30 "$fb/$name.log"
		echo "not ok fuzz-$name"
		failed=$((failed + 1))
	fi
done

# The agent's login tests need an sshd: this machine's, or one unpacked from the archive.
if [ ! -x /usr/sbin/sshd ] && [ -z "${VAULTFS_TEST_SSHD:-}" ]; then
	if s=$(tests/lib/sshd-unpacked.sh "$top/$BUILD/sshd"); then
		export VAULTFS_TEST_SSHD=$s
	else
		echo "run-tests: no sshd (none here, none from the archive): the login tests skip"
	fi
fi

# The certificate servers' tests (and later ones) run a private postgres on a copy of one data
# dir: initdb once here, under the build, rather than in each test.
if [ -z "${VAULTFS_TEST_PGDATA:-}" ]; then
	if d=$(tests/lib/pg-template.sh "$top/$BUILD/pg"); then
		export VAULTFS_TEST_PGDATA=$d
	else
		echo "run-tests: no PostgreSQL 15 template (initdb failed or no server): its tests skip"
	fi
fi

if ls tests/bats/*.bats >/dev/null 2>&1; then
	out=$(mktemp)
	bats --tap --timing tests/bats/*.bats 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	ok=$(grep -c '^ok ' "$out")
	sk=$(grep -c '^ok .* # skip' "$out")
	nok=$(grep -c '^not ok ' "$out")
	rm -f "$out"
	if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
		echo "run-tests: bats exited with status $rc" >&2
		nok=1
	fi
	passed=$((passed + ok - sk))
	skipped=$((skipped + sk))
	failed=$((failed + nok))
fi

if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
