#!/usr/bin/env bats
# 70-install: `make install` and `make uninstall` into a DESTDIR: every file with its mode, the
# man pages (scdoc) render, the installed programs run, the config and the default policy load
# and say what they claim, existing /etc files are kept, the unit passes systemd-analyze verify
# and never unshares the mount table (a mount made in a namespace of its own is seen by nobody),
# the bash completion knows every command and option of `vaultctl --help`. Installs what the
# suite's build holds (VAULTFS_BUILD, as `make check` built it): `-o all` keeps install from
# rebuilding it.

load helpers

# make_install DESTDIR [VAR=VALUE...] [TARGET]: make with this suite's build, quietly
make_in() {
	local dest=$1
	shift
	env -u MAKEFLAGS -u MAKELEVEL make -s --no-print-directory -C "$VAULTFS_TOP" -o all \
		BUILD="$VAULTFS_BUILD" DESTDIR="$dest" "$@"
}

# The files install puts with PREFIX=/usr (mode, path under DESTDIR), sorted as find | sort.
expected_files() {
	sort <<-EOF
	644 etc/vaultfs/vaultfs.conf
	600 etc/vaultfs/policy.d/00-default.policy
	755 usr/bin/vaultctl
	755 usr/sbin/vaultfsd
	644 usr/share/man/man1/vaultctl.1
	644 usr/share/man/man8/vaultfsd.8
	644 usr/share/man/man5/vaultfs.conf.5
	644 usr/share/man/man5/vaultfs-policy.5
	644 usr/share/bash-completion/completions/vaultctl
	644 usr/lib/systemd/system/vaultfsd.service
	644 usr/lib/tmpfiles.d/vaultfs.conf
	EOF
}

# Host paths an install into a DESTDIR must not create.
HOST_PATHS="/etc/vaultfs /usr/bin/vaultctl /usr/sbin/vaultfsd /usr/share/man/man1/vaultctl.1
/usr/share/man/man8/vaultfsd.8 /usr/share/man/man5/vaultfs.conf.5
/usr/share/bash-completion/completions/vaultctl /usr/lib/systemd/system/vaultfsd.service
/usr/lib/tmpfiles.d/vaultfs.conf"

# One install shared by the tests that only look at it; the tests that change a tree make
# their own under $T.
setup_file() {
	local p

	R=$BATS_FILE_TMPDIR/root
	export R
	: >"$BATS_FILE_TMPDIR/absent"
	for p in $HOST_PATHS; do
		[ -e "$p" ] || echo "$p" >>"$BATS_FILE_TMPDIR/absent"
	done
	make_in "$R" PREFIX=/usr install >"$BATS_FILE_TMPDIR/install.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/install.log" >&3
		return 1
	}
}

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vaultfs-install.XXXXXX")
	DAEMON=
}

teardown() {
	daemon_stop
	# a test with a store has its own temp dir and swtpm (helpers.bash) in T, ours in VT
	if [ -n "${VT:-}" ]; then
		vault_teardown
		T=$VT
	fi
	[ -n "${T:-}" ] && rm -rf -- "$T"
}

# serve_with_caps CAPS: the installed vaultfsd with the bounding set CAPS (setpriv syntax,
# e.g. +sys_admin,+ipc_lock), no new privileges and no core, on the store of $CONF (the unit's
# LimitMEMLOCK=infinity needs CAP_SYS_RESOURCE to set; CAP_IPC_LOCK makes it moot)
serve_with_caps() {
	local i

	mkdir -p "$T/mnt"
	prlimit --core=0 -- \
		setpriv --bounding-set=-all,"$1" --inh-caps=-all --no-new-privs \
		"$R/usr/sbin/vaultfsd" -c "$CONF" >"$T/daemon.log" 2>&1 3>&- &
	DAEMON=$!
	for i in $(seq 200); do
		grep -q " $T/mnt fuse" /proc/mounts && return 0
		kill -0 "$DAEMON" 2>/dev/null || break
		sleep 0.05
	done
	cat "$T/daemon.log" >&2
	return 1
}

# complete WORD...: what the installed completion offers for `vaultctl WORD...` (the last
# word is the one being completed), one per line
complete_words() {
	bash -c '
		comp=$1
		shift
		source "$comp"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		_vaultctl 2>/dev/null
		printf "%s\n" "${COMPREPLY[@]}"
	' _ "$R/usr/share/bash-completion/completions/vaultctl" vaultctl "$@"
}

@test "install puts every file with its mode, and nothing else" {
	run bash -c "cd '$R' && find . -type f -printf '%m %P\n' | sort"
	[ "$status" -eq 0 ]
	[ "$output" = "$(expected_files)" ]
	# nothing but files and directories
	run bash -c "cd '$R' && find . ! -type f ! -type d"
	[ -z "$output" ]
	[ "$(stat -c %a "$R/etc/vaultfs")" = 755 ]
	[ "$(stat -c %a "$R/etc/vaultfs/policy.d")" = 700 ]
}

@test "install copies the build's programs and the tree's files" {
	cmp "$VAULTFS_BUILD/vaultctl" "$R/usr/bin/vaultctl"
	cmp "$VAULTFS_BUILD/vaultfsd" "$R/usr/sbin/vaultfsd"
	cmp "$VAULTFS_TOP/systemd/vaultfsd.service" "$R/usr/lib/systemd/system/vaultfsd.service"
	cmp "$VAULTFS_TOP/systemd/tmpfiles.d/vaultfs.conf" "$R/usr/lib/tmpfiles.d/vaultfs.conf"
	cmp "$VAULTFS_TOP/systemd/vaultfs.conf" "$R/etc/vaultfs/vaultfs.conf"
	cmp "$VAULTFS_TOP/systemd/00-default.policy" "$R/etc/vaultfs/policy.d/00-default.policy"
	cmp "$VAULTFS_TOP/tools/vaultctl.bash-completion" \
		"$R/usr/share/bash-completion/completions/vaultctl"
	for m in vaultctl.1 vaultfsd.8 vaultfs.conf.5 vaultfs-policy.5; do
		SOURCE_DATE_EPOCH=$(stat -c %Y "$VAULTFS_TOP/tools/man/$m.scd") \
			scdoc <"$VAULTFS_TOP/tools/man/$m.scd" | cmp - "$R/usr/share/man/man${m##*.}/$m"
	done
}

@test "install into a DESTDIR writes nothing outside it" {
	local p n=0

	while read -r p; do
		[ -n "$p" ] || continue
		n=$((n + 1))
		if [ -e "$p" ]; then
			echo "install created $p outside DESTDIR" >&2
			false
		fi
	done <"$BATS_FILE_TMPDIR/absent"
	# and with a prefix that exists nowhere: it stays nowhere
	make_in "$T/root" PREFIX=/nonexistent-vaultfs-prefix install
	[ ! -e /nonexistent-vaultfs-prefix ]
	[ -x "$T/root/nonexistent-vaultfs-prefix/sbin/vaultfsd" ]
}

@test "another PREFIX: the unit starts the vaultfsd installed there" {
	make_in "$T/root" PREFIX=/usr/local install
	unit=$T/root/usr/local/lib/systemd/system/vaultfsd.service
	[ -f "$unit" ]
	[ -x "$T/root/usr/local/sbin/vaultfsd" ]
	[ -f "$T/root/usr/local/lib/tmpfiles.d/vaultfs.conf" ]
	[ -f "$T/root/usr/local/share/man/man8/vaultfsd.8" ]
	# the config is where the programs look for it, whatever the prefix
	[ -f "$T/root/etc/vaultfs/vaultfs.conf" ]
	run grep '^ExecStart=' "$unit"
	[ "$output" = "ExecStart=/usr/local/sbin/vaultfsd -c /etc/vaultfs/vaultfs.conf" ]
}

@test "a SANITIZE build installs from build-san" {
	run env -u BUILD -u MAKEFLAGS -u MAKELEVEL make -n -C "$VAULTFS_TOP" -o all \
		SANITIZE=address,undefined DESTDIR="$T/root" PREFIX=/usr install
	[ "$status" -eq 0 ]
	[[ $output == *"install -m 0755 build-san/vaultctl $T/root/usr/bin/vaultctl"* ]]
	[[ $output == *"install -m 0755 build-san/vaultfsd $T/root/usr/sbin/vaultfsd"* ]]
	[[ $output == *"install -m 0644 build-san/man/"* ]]
	[[ $output != *" build/"* ]]
	[ ! -e "$T/root" ]
}

@test "the man pages render without warnings and say what they are about" {
	local m out err

	for m in man1/vaultctl.1 man8/vaultfsd.8 man5/vaultfs.conf.5 man5/vaultfs-policy.5; do
		out=$T/${m##*/}.txt
		err=$T/${m##*/}.err
		MANWIDTH=80 man --warnings -l "$R/usr/share/man/$m" >"$out" 2>"$err"
		if [ -s "$err" ]; then
			cat "$err" >&2
			false
		fi
		[ -s "$out" ]
		# the NAME section names the page
		name=${m##*/}
		grep -q "^NAME" "$out"
		grep -q "${name%.*} - " "$out"
	done
	grep -q "secret set" "$T/vaultctl.1.txt"
	grep -q "SIGHUP" "$T/vaultfsd.8.txt"
	grep -q "mountpoint" "$T/vaultfs.conf.5.txt"
	grep -q "allow" "$T/vaultfs-policy.5.txt"
}

@test "the installed programs run" {
	run "$R/usr/bin/vaultctl" --help
	[ "$status" -eq 0 ]
	[[ $output == *"secret set VAULT/NAME"* ]]
	run "$R/usr/sbin/vaultfsd" --help
	[ "$status" -eq 0 ]
	[[ $output == *"Usage: vaultfsd"* ]]
}

@test "the installed config holds the built-in defaults and loads, commented or not" {
	local conf=$R/etc/vaultfs/vaultfs.conf v

	# every default of config_new_default() is there, commented out
	while read -r v; do
		grep -qx "#[a-z_]* = $v" "$conf" || {
			echo "default '$v' missing from the installed config" >&2
			false
		}
	done < <(grep -o 'set_str(&c->[a-z_]*, "[^"]*")' "$VAULTFS_TOP/core/config.c" |
		sed 's/.*, "\(.*\)")/\1/')
	for v in "sync = batch" "rotate_size = 64M" "hide_unreadable = yes" \
		"keyring_timeout = 0" "near_expiry = 30d" "scan_interval = 1h"; do
		grep -qx "#$v" "$conf"
	done
	run "$R/usr/bin/vaultctl" -c "$conf" policy check "$R/etc/vaultfs/policy.d/00-default.policy"
	[ "$status" -eq 0 ]
	[ "$output" = "1 rule in 1 file OK" ]
	# every key uncommented: still loads (no unknown key, no bad value)
	sed 's/^#\([a-z_]* =\)/\1/' "$conf" >"$T/all.conf"
	[ "$(grep -c '^[a-z_]* =' "$T/all.conf")" -eq 25 ]
	run "$R/usr/bin/vaultctl" -c "$T/all.conf" policy check \
		"$R/etc/vaultfs/policy.d/00-default.policy"
	[ "$status" -eq 0 ]
}

@test "the default policy: root manages but never reads, nobody else gets anything" {
	sed 's/^#\([a-z_]* =\)/\1/' "$R/etc/vaultfs/vaultfs.conf" |
		sed "s|^dir = .*|dir = $R/etc/vaultfs/policy.d|" >"$T/c.conf"
	for op in list meta write delete recover purge manage; do
		run "$R/usr/bin/vaultctl" -c "$T/c.conf" policy explain "$op" /app/db --uid 0
		[ "$status" -eq 0 ]
	done
	run "$R/usr/bin/vaultctl" -c "$T/c.conf" policy explain manage /app --uid 0
	[ "$status" -eq 0 ]
	run "$R/usr/bin/vaultctl" -c "$T/c.conf" policy explain read /app/db --uid 0
	[ "$status" -eq 1 ]
	[[ $output == *"decision: deny read /app/db"* ]]
	run "$R/usr/bin/vaultctl" -c "$T/c.conf" policy explain list /app --uid 1000
	[ "$status" -eq 1 ]
}

@test "install keeps an existing config and policy" {
	make_in "$T/root" PREFIX=/usr install
	echo "# edited" >>"$T/root/etc/vaultfs/vaultfs.conf"
	echo "# edited" >>"$T/root/etc/vaultfs/policy.d/00-default.policy"
	chmod 0640 "$T/root/etc/vaultfs/vaultfs.conf"
	run make_in "$T/root" PREFIX=/usr install
	[ "$status" -eq 0 ]
	[[ $output == *"kept the existing $T/root/etc/vaultfs/vaultfs.conf"* ]]
	[[ $output == *"kept the existing $T/root/etc/vaultfs/policy.d/00-default.policy"* ]]
	[ "$(tail -n 1 "$T/root/etc/vaultfs/vaultfs.conf")" = "# edited" ]
	[ "$(tail -n 1 "$T/root/etc/vaultfs/policy.d/00-default.policy")" = "# edited" ]
	[ "$(stat -c %a "$T/root/etc/vaultfs/vaultfs.conf")" = 640 ]
}

@test "uninstall removes what install put and leaves /etc/vaultfs" {
	make_in "$T/root" PREFIX=/usr install
	run make_in "$T/root" PREFIX=/usr uninstall
	[ "$status" -eq 0 ]
	[[ $output == *"left $T/root/etc/vaultfs, $T/root/var/lib/vaultfs and $T/root/var/log/vaultfs in place"* ]]
	run bash -c "cd '$T/root' && find . -type f -printf '%P\n' | sort"
	[ "$output" = "$(printf '%s\n' etc/vaultfs/policy.d/00-default.policy \
		etc/vaultfs/vaultfs.conf)" ]
	# and again: nothing left to remove is no error
	make_in "$T/root" PREFIX=/usr uninstall
}

@test "the unit passes systemd-analyze verify" {
	command -v systemd-analyze >/dev/null ||
		skip "systemd-analyze is not installed (apt-get install systemd)"
	# can it verify at all here? a trivial unit first
	mkdir -p "$T/probe"
	printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$T/probe/probe.service"
	if ! out=$(systemd-analyze verify --man=no "$T/probe/probe.service" 2>&1); then
		skip "systemd-analyze verify cannot run in this environment: $out"
	fi
	# the installed unit, with its ExecStart at the staged vaultfsd; man: references must
	# resolve in the staged man pages
	mkdir -p "$T/unit"
	sed "s|^ExecStart=/usr/sbin/vaultfsd |ExecStart=$R/usr/sbin/vaultfsd |" \
		"$R/usr/lib/systemd/system/vaultfsd.service" >"$T/unit/vaultfsd.service"
	grep -q "^ExecStart=$R/usr/sbin/vaultfsd " "$T/unit/vaultfsd.service"
	run env MANPATH="$R/usr/share/man" systemd-analyze verify "$T/unit/vaultfsd.service"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "the unit gives vaultfsd no mount namespace of its own" {
	local unit=$R/usr/lib/systemd/system/vaultfsd.service
	# every directive that makes systemd unshare the mount table (or runs the service in
	# other namespaces the host mount would not reach)
	local ns='ProtectSystem|PrivateTmp|ProtectHome|PrivateDevices|ReadOnlyPaths|ReadWritePaths'
	ns+='|InaccessiblePaths|ExecPaths|NoExecPaths|TemporaryFileSystem|PrivateMounts|MountFlags'
	ns+='|BindPaths|BindReadOnlyPaths|RootDirectory|RootImage|MountImages|ExtensionImages'
	ns+='|ExtensionDirectories|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs'
	ns+='|ProtectControlGroups|ProtectProc|ProcSubset|PrivateNetwork|NetworkNamespacePath'
	ns+='|PrivateIPC|IPCNamespacePath|PrivateUsers|DynamicUser|LogNamespace'

	run grep -En "^[[:space:]]*($ns)[[:space:]]*=" "$unit"
	echo "$output"
	[ "$status" -eq 1 ]
	# and it is the daemon as specified: ready when mounted, reload by SIGHUP
	grep -qx 'Type=notify' "$unit"
	grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit"
	grep -qx 'After=dev-tpmrm0.device' "$unit"
	! grep -Eq '^(Wants|Requires|BindsTo)=.*dev-tpmrm0' "$unit" || false
	grep -qx 'CapabilityBoundingSet=CAP_SYS_ADMIN CAP_IPC_LOCK CAP_SYS_PTRACE' "$unit"
	grep -qx 'SystemCallFilter=@system-service @mount' "$unit"
	grep -qx 'UMask=0077' "$unit"
	grep -qx 'LimitCORE=0' "$unit"
}

@test "vaultfsd serves with only the unit's capabilities, and needs each" {
	local caps

	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$R/usr/lib/systemd/system/vaultfsd.service")
	[ -n "$caps" ]
	caps=$(tr 'A-Z' 'a-z' <<<"$caps" | sed 's/cap_/+/g; s/ /,/g')
	VT=$T
	vault_setup # T is now the store's temp dir, with its swtpm
	chmod 0711 "$T"
	mkdir -m 0700 "$T/policy.d"
	init_store
	vctl vault create app
	printf 's3cret' | vctl secret set app/db
	cat >"$T/policy.d/10-test.policy" <<-EOF
	allow list /app uid=1000
	allow read /app/db uid=1000 exe=/usr/bin/cat
	allow list,meta,write,delete,recover,purge,manage /** uid=0
	EOF
	# exactly the unit's set: it mounts, reads the caller's executable, serves, unmounts
	serve_with_caps "$caps"
	grep -q "^CapBnd:.*0000000000284000" "/proc/$DAEMON/status"
	run setpriv --reuid 1000 --regid 1000 --clear-groups cat "$T/mnt/app/db"
	[ "$status" -eq 0 ]
	[ "$output" = s3cret ]
	printf 'v2' >"$T/mnt/app/db"
	daemon_stop
	! grep -q " $T/mnt fuse" /proc/mounts || false
	# without CAP_SYS_PTRACE another uid's executable stays unknown: the exe= rule fails
	serve_with_caps "${caps/,+sys_ptrace/}"
	run setpriv --reuid 1000 --regid 1000 --clear-groups cat "$T/mnt/app/db"
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]] # hidden: no rule lets it read
	run setpriv --reuid 1000 --regid 1000 --clear-groups ls "$T/mnt/app"
	[ "$status" -eq 0 ] # the mount and the uid rule still work
	daemon_stop
	# without CAP_SYS_ADMIN there is no mount (and no setuid fusermount3 to fall back on)
	! serve_with_caps "${caps/+sys_admin,/}" || false
	wait "$DAEMON" || true
	DAEMON=
	grep -q "Failed to mount" "$T/daemon.log"
}

@test "tmpfiles.d makes the directories with their modes" {
	command -v systemd-tmpfiles >/dev/null ||
		skip "systemd-tmpfiles is not installed (apt-get install systemd)"
	mkdir -p "$T/tf"
	systemd-tmpfiles --root="$T/tf" --create - <"$R/usr/lib/tmpfiles.d/vaultfs.conf"
	[ "$(stat -c %a "$T/tf/var/lib/vaultfs")" = 700 ]
	[ "$(stat -c %a "$T/tf/var/log/vaultfs")" = 700 ]
	[ "$(stat -c %a "$T/tf/run/vaultfs")" = 755 ]
	[ "$(stat -c %a "$T/tf/etc/vaultfs")" = 755 ]
	[ "$(stat -c %a "$T/tf/etc/vaultfs/policy.d")" = 700 ]
	[ "$(stat -c %a "$T/tf/vault")" = 755 ]
}

@test "the bash completion knows every command, verb and option of vaultctl --help" {
	local line noun verb v o nouns="" prev="" n=0 key
	local -a lines=()
	local -A seen=() # complete_words's answers by their words: each asked once (a bash each)

	run complete_words ""
	[ "$status" -eq 0 ]
	nouns=$output
	run complete_words --
	[[ $output == *--offline* ]]
	[[ $output == *--config* ]]
	# join the continuation lines of the help to their command line
	while IFS= read -r line; do
		if [[ $line =~ ^\ {5,}[^\ ] ]] && [ -n "$prev" ]; then
			prev+=" $line"
		else
			[ -n "$prev" ] && lines+=("$prev")
			prev=$line
		fi
	done < <("$R/usr/bin/vaultctl" --help)
	lines+=("$prev")
	for line in "${lines[@]}"; do
		[[ $line =~ ^\ \ ([a-z]+)(\ ([a-z][a-z|-]*)(\ |$))? ]] || continue
		noun=${BASH_REMATCH[1]}
		verb=${BASH_REMATCH[3]}
		n=$((n + 1))
		grep -qx "$noun" <<<"$nouns" || {
			echo "completion lacks the command '$noun'" >&2
			false
		}
		for v in ${verb//|/ }; do
			key="$noun ''"
			[ -n "${seen[$key]+set}" ] || seen[$key]=$(complete_words "$noun" "" || true)
			grep -qx "$v" <<<"${seen[$key]}" || {
				echo "completion lacks '$noun $v'" >&2
				false
			}
		done
		verb=${verb%%|*}
		for o in $(grep -o -- '--[a-z][a-z-]*' <<<"$line"); do
			key="$noun ${verb:-} --"
			if [ -n "${seen[$key]+set}" ]; then
				:
			elif [ -n "$verb" ]; then
				seen[$key]=$(complete_words "$noun" "$verb" x -- || true)
			else
				seen[$key]=$(complete_words "$noun" -- || true)
			fi
			grep -qx -- "$o" <<<"${seen[$key]}" || {
				echo "completion lacks '$noun $verb $o'" >&2
				false
			}
		done
	done
	# the help was read at all: init recover vault secret policy audit ...
	[ "$n" -ge 15 ]
	# names come from the mount: vaults, then their secrets
	mkdir -p "$T/mnt/app" "$T/mnt/web"
	touch "$T/mnt/app/db" "$T/mnt/app/key"
	printf '[fs]\nmountpoint = %s\n' "$T/mnt" >"$T/c.conf"
	run complete_words -c "$T/c.conf" secret get ""
	[ "$output" = "$(printf '%s\n' app/ web/)" ]
	run complete_words -c "$T/c.conf" secret get app/
	[ "$output" = "$(printf '%s\n' app/db app/key)" ]
	run complete_words -c "$T/c.conf" vault delete w
	[ "$output" = web ]
}
