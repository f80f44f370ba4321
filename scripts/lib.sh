# SPDX-License-Identifier: GPL-2.0
# Common helpers for the plugsched-rs scripts.  Source it, do not run it.
#
# Everything slow lives outside the work tree, under $PLUGSCHED_CACHE
# (default /var/cache/plugsched):
#   root/         Debian trixie toolchain root (mmdebstrap)
#   debs/         .deb cache for mmdebstrap
#   src/<ver>/    extracted linux-source tree (pristine, read-only use)
#   obj-<target>-<key>/   kernel object trees, keyed by source + config

set -euo pipefail

PLUGSCHED_CACHE=${PLUGSCHED_CACHE:-/var/cache/plugsched}
PS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PS_ROOT=$PLUGSCHED_CACHE/root
PS_JOBS=${PS_JOBS:-$(nproc)}
# The host tools' `plugsched`, statically linked: it runs on the host, in
# the toolchain root and in the guests (scripts/host-tools.sh --build).
PS_TOOL=$PS_TOP/build/bin/plugsched

# Versions the project is pinned to: the ones Debian built its 7.3 kernel with.
PS_RUSTC_VERSION="1.85.1"
PS_BINDGEN_VERSION="0.71.1"
PS_KSRC_PKG="linux-source-7.3"
# Debian's stock kernel used as the second target.
# The Debian kernel release of TARGET=debian (uname -r of the machine the
# module is for); another one can be chosen, and is refused at build if
# Debian publishes no headers or debug package for it, or no source of the
# same version.
PS_DEB_KREL=${PLUGSCHED_DEB_KREL:-7.3.4+deb13-amd64}

# ps_arch TARGET: the machine a target kernel runs on (uname -m).
ps_arch() {
	case "$1" in
	arm64) echo aarch64 ;;
	*) echo x86_64 ;;
	esac
}

ps_t0=${ps_t0:-$(date +%s)}
export ps_t0

ps_phase() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - ps_t0 ))" "$*" >&2; }
ps_info()  { printf '    %s\n' "$*" >&2; }
ps_die()   { printf 'plugsched: error: %s\n' "$*" >&2; exit 1; }

# ps_progress LOGFILE PID LABEL: while PID runs, print one line every 20 s
# with the elapsed time and the number of build steps logged so far.
ps_progress() {
	local log=$1 pid=$2 label=$3 start n
	start=$(date +%s)
	while kill -0 "$pid" 2>/dev/null; do
		sleep 20 &
		wait $! || true
		kill -0 "$pid" 2>/dev/null || break
		n=$(grep -cE '^ +[A-Z][A-Z0-9_]* +' "$log" 2>/dev/null || true)
		ps_info "$label: $(( $(date +%s) - start ))s, ${n:-0} steps, last: $(tail -n 1 "$log" 2>/dev/null | cut -c1-90)"
	done
}

# ps_run_logged LOGFILE LABEL CMD...: run CMD with output to LOGFILE and
# progress on stderr; on failure show the tail of the log.
ps_run_logged() {
	local log=$1 label=$2 rc=0 pid
	shift 2
	mkdir -p "$(dirname "$log")"
	"$@" >"$log" 2>&1 &
	pid=$!
	ps_progress "$log" "$pid" "$label" &
	local ppid=$!
	wait "$pid" || rc=$?
	kill "$ppid" 2>/dev/null || true
	wait "$ppid" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		tail -n 60 "$log" >&2
		ps_die "$label failed (exit $rc); full log: $log"
	fi
}

# Host packages (Debian 12): mmdebstrap to create the toolchain root.
ps_host_deps() {
	local missing=()
	command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
	command -v unshare >/dev/null || missing+=(util-linux)
	[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
	if [ ${#missing[@]} -gt 0 ]; then
		ps_phase "host packages: ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# ps_in_root [-C DIR] CMD: run a shell command inside the toolchain root.
# Each call has a private mount namespace, so every mount it makes is gone
# when the command exits, however it exits.  The work tree and the cache are
# bound at the same absolute paths inside, because Kbuild records absolute
# paths.
ps_in_root() {
	local cwd=$PWD
	if [ "${1:-}" = "-C" ]; then cwd=$2; shift 2; fi
	[ -e "$PS_ROOT/.ok" ] || ps_die "toolchain root missing at $PS_ROOT (run scripts/setup-root.sh)"
	PS_R=$PS_ROOT PS_W=$PS_TOP PS_C=$PLUGSCHED_CACHE PS_CWD=$cwd PS_CMD=$1 \
	unshare --mount --propagation private -- bash -ec '
		mount -t proc proc "$PS_R/proc"
		mount --rbind /sys "$PS_R/sys"
		mount --rbind /dev "$PS_R/dev"
		mount -t tmpfs -o size=8g tmpfs "$PS_R/tmp"
		for d in "$PS_W" "$PS_C"; do
			case "$d" in "$PS_R"|"$PS_R"/*) continue;; esac
			mkdir -p "$PS_R$d"
			mount --bind "$d" "$PS_R$d"
		done
		# The root itself lives in the cache; do not recurse into it.
		exec chroot "$PS_R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
			PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			bash -ec "cd \"$PS_CWD\"; $PS_CMD"'
}

# Verify the pinned tool versions inside the root.
ps_check_root_versions() {
	local rv bv
	rv=$(ps_in_root "rustc --version" 2>&1) || ps_die "rustc not runnable in the root: $rv"
	bv=$(ps_in_root "bindgen --version" 2>&1) || ps_die "bindgen not runnable in the root: $bv"
	case "$rv" in
	"rustc $PS_RUSTC_VERSION "*) ;;
	*) ps_die "toolchain root has '$rv', need rustc $PS_RUSTC_VERSION (the version Debian built 7.3 with); remove $PS_ROOT to recreate it" ;;
	esac
	case "$bv" in
	"bindgen $PS_BINDGEN_VERSION"*) ;;
	*) ps_die "toolchain root has '$bv', need bindgen $PS_BINDGEN_VERSION; remove $PS_ROOT to recreate it" ;;
	esac
	ps_info "$rv; $bv"
}
