#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Create (once) the Debian trixie toolchain root that every build and boot
# runs in, and verify the pinned versions.  Idempotent.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || ps_die "must run as root (mmdebstrap, chroot, mounts)"
ps_host_deps

PKGS="rustc cargo rust-src rustfmt rust-clippy bindgen libclang-dev clang llvm lld gcc-14 make flex
bison bc libelf-dev libssl-dev dwarves cpio kmod python3 busybox-static qemu-system-x86 qemu-utils
xz-utils zstd rsync openssl time file procps ca-certificates patch rt-tests
qemu-system-arm gcc-14-aarch64-linux-gnu libc6-dev-arm64-cross libstd-rust-dev:arm64"

if [ ! -e "$PS_ROOT/.ok" ]; then
	ps_phase "toolchain root: mmdebstrap trixie into $PS_ROOT (about 1 min)"
	rm -rf "$PS_ROOT"
	mkdir -p "$PLUGSCHED_CACHE/debs"
	ps_run_logged "$PLUGSCHED_CACHE/logs/mmdebstrap.log" mmdebstrap \
		mmdebstrap --variant=buildd --architectures=amd64,arm64 --include="$(echo $PKGS | tr ' ' ',')" \
		--include="$PS_KSRC_PKG/trixie-backports" \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $PLUGSCHED_CACHE/debs /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $PLUGSCHED_CACHE/debs" \
		trixie "$PS_ROOT" \
		"deb http://deb.debian.org/debian trixie main" \
		"deb http://deb.debian.org/debian trixie-backports main"
	touch "$PS_ROOT/.ok"
else
	ps_phase "toolchain root: reusing $PS_ROOT"
	# A root made by an older version of this script may lack packages
	# added since; install them from trixie (never from backports).
	missing=$(ps_in_root "for p in $(echo $PKGS); do dpkg-query -W -f='\${db:Status-Abbrev}' \$p 2>/dev/null | grep -q '^ii' || echo \$p; done")
	if [ -n "$missing" ]; then
		ps_phase "toolchain root: installing $(echo $missing)"
		ps_run_logged "$PLUGSCHED_CACHE/logs/root-apt.log" "apt-get install" ps_in_root \
			"dpkg --add-architecture arm64 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(echo $missing)"
	fi
fi
# The arm64 guests' busybox: Debian's static build for arm64, which cannot
# be installed next to the amd64 one the x86 guests use.
bb=$PLUGSCHED_CACHE/arm64/busybox
if [ ! -x "$bb" ]; then
	ps_phase "toolchain root: busybox-static for arm64 guests"
	rm -rf "$bb.d" && mkdir -p "$bb.d"
	ps_in_root -C "$bb.d" "apt-get update -qq && apt-get download busybox-static:arm64 >/dev/null 2>&1 &&
		dpkg-deb -x busybox-static_*_arm64.deb x" ||
		ps_die "cannot download busybox-static:arm64"
	mv "$bb.d/x/usr/bin/busybox" "$bb" && rm -rf "$bb.d"
fi
ps_check_root_versions
