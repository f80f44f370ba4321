#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare a target kernel build tree (KDIR) and print its path on stdout.
#
#   scripts/kernel.sh [--kdir] TARGET
#
# TARGET:
#   test    our Linux 7.3 test kernel: x86_64_defconfig + scripts/kconfig/test.config,
#           fully built (vmlinux with DWARF + BTF, Module.symvers, rust/*.rmeta)
#   debian  Debian's stock 7.3.4 amd64 kernel: Debian's own .config with
#           modules_prepare on the same source, Debian's Module.symvers and
#           BTF vmlinux, the stock bootable image (stock/vmlinuz), and from
#           Debian's -dbg package its vmlinux (vmlinux.debug, build ID
#           checked against the image) and System.map
#   arm64   our Linux 7.3 arm64 test kernel, cross-built with LLVM=1:
#           allnoconfig + scripts/kconfig/arm64.config, fully built like test
#           (arch/arm64/boot/Image boots in qemu-system-aarch64 -M virt)
#
# Trees are cached under $PLUGSCHED_CACHE, keyed by the source package
# version, the config inputs and RECIPE below, and rebuilt only when the key
# changes.  --kdir prints the path without building anything.
. "$(dirname "$0")/lib.sh"

only_path=0
if [ "${1:-}" = "--kdir" ]; then only_path=1; shift; fi
target=${1:-test}

# The key never needs the root: it hashes what is in the repo plus the
# source package version recorded when the source was extracted.
src_version() {
	if [ -e "$PLUGSCHED_CACHE/src/version" ]; then
		cat "$PLUGSCHED_CACHE/src/version"
	else
		ps_in_root "dpkg-query -W -f='\${Version}' $PS_KSRC_PKG"
	fi
}

# Bump when the way a target's tree is built changes (not for cosmetic
# edits); one number per target, so that a change to one does not rebuild
# the other.
declare -A RECIPE=([test]=1 [debian]=2 [arm64]=1)

kernel_key() {
	local inputs
	case "$target" in
	test) inputs=$(cat "$PS_TOP/scripts/kconfig/test.config") ;;
	debian) inputs=$PS_DEB_KREL ;;
	arm64) inputs=$(cat "$PS_TOP/scripts/kconfig/arm64.config") ;;
	*) ps_die "unknown TARGET '$target' (use test, debian or arm64)" ;;
	esac
	printf '%s\n' "$(src_version)" "$target" "${RECIPE[$target]}" "$inputs" | sha256sum | cut -c1-12
}

if [ "$only_path" = 1 ]; then
	echo "$PLUGSCHED_CACHE/obj-$target-$(kernel_key)"
	exit 0
fi

"$PS_TOP/scripts/setup-root.sh"

# Pristine, extracted source: one per package version.
ver=$(ps_in_root "dpkg-query -W -f='\${Version}' $PS_KSRC_PKG")
SRC=$PLUGSCHED_CACHE/src/$ver/linux-source-7.3
if [ ! -e "$SRC/.ok" ]; then
	ps_phase "kernel source: extracting $PS_KSRC_PKG $ver (about 15 s)"
	rm -rf "$PLUGSCHED_CACHE/src/$ver"
	mkdir -p "$PLUGSCHED_CACHE/src/$ver"
	ps_in_root -C "$PLUGSCHED_CACHE/src/$ver" "tar -xf /usr/src/$PS_KSRC_PKG.tar.xz"
	touch "$SRC/.ok"
fi
echo "$ver" >"$PLUGSCHED_CACHE/src/version"
ln -sfn "$ver/linux-source-7.3" "$PLUGSCHED_CACHE/src/current"

KDIR=$PLUGSCHED_CACHE/obj-$target-$(kernel_key)
LOGS=$PLUGSCHED_CACHE/logs

# check_fragment FRAGMENT CONFIG: every CONFIG_X=v / CONFIG_X=n line of the
# fragment must hold in the final .config.
check_fragment() {
	local frag=$1 cfg=$2 bad=() line opt val got
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		opt=${line%%=*}
		val=${line#*=}
		got=$(grep -E "^$opt=|^# $opt is not set" "$cfg" || true)
		if [ "$val" = n ]; then
			case "$got" in ""|"# $opt is not set") continue ;; esac
		else
			[ "$got" = "$opt=$val" ] && continue
		fi
		bad+=("$opt: wanted $val, got ${got:-<absent>}")
	done <"$frag"
	if [ ${#bad[@]} -gt 0 ]; then
		printf '    %s\n' "${bad[@]}" >&2
		ps_die "${#bad[@]} option(s) of $(basename "$frag") did not survive olddefconfig (see above)"
	fi
}

build_test() {
	local mk="make -C $SRC O=$KDIR"
	if [ -e "$KDIR/.plugsched-built" ]; then
		ps_phase "kernel[test]: reusing $KDIR"
		return
	fi
	ps_phase "kernel[test]: configuring $KDIR"
	rm -rf "$KDIR"
	mkdir -p "$KDIR"
	cp "$PS_TOP/scripts/kconfig/test.config" "$KDIR/plugsched.config"
	ps_in_root "$mk rustavailable >/dev/null && $mk x86_64_defconfig >/dev/null &&
		$SRC/scripts/kconfig/merge_config.sh -m -O $KDIR $KDIR/.config $KDIR/plugsched.config >/dev/null &&
		$mk olddefconfig >/dev/null"
	check_fragment "$KDIR/plugsched.config" "$KDIR/.config"
	ps_info "all $(grep -c '^CONFIG_' "$KDIR/plugsched.config") fragment options verified"
	ps_phase "kernel[test]: building (cold: about 16 min on 2 cores)"
	ps_run_logged "$LOGS/kernel-test.log" "kernel build" \
		ps_in_root "make -C $KDIR -j$PS_JOBS all"
	touch "$KDIR/.plugsched-built"
}

# The arm64 test kernel: cross-built with clang (see arm64.config for why
# not gcc) from allnoconfig plus the fragment, so that only what a virt
# guest and the tests use is compiled.
build_arm64() {
	local args="ARCH=arm64 LLVM=1" mk
	mk="make -C $SRC O=$KDIR $args"
	if [ -e "$KDIR/.plugsched-built" ]; then
		ps_phase "kernel[arm64]: reusing $KDIR"
		return
	fi
	ps_phase "kernel[arm64]: configuring $KDIR"
	rm -rf "$KDIR"
	mkdir -p "$KDIR"
	cp "$PS_TOP/scripts/kconfig/arm64.config" "$KDIR/plugsched.config"
	ps_in_root "$mk rustavailable >/dev/null &&
		$mk KCONFIG_ALLCONFIG=$KDIR/plugsched.config allnoconfig >/dev/null"
	check_fragment "$KDIR/plugsched.config" "$KDIR/.config"
	ps_info "all $(grep -c '^CONFIG_' "$KDIR/plugsched.config") fragment options verified"
	# Modules for this tree are cross-built the same way.
	echo "$args" >"$KDIR/plugsched.make-args"
	ps_phase "kernel[arm64]: cross-building (cold: about 11 min on 2 cores)"
	ps_run_logged "$LOGS/kernel-arm64.log" "kernel build" \
		ps_in_root "make -C $KDIR $args -j$PS_JOBS all"
	touch "$KDIR/.plugsched-built"
}

# Read hex ELF notes on stdin, print the GNU build ID (NT_GNU_BUILD_ID) in hex.
build_id_of_notes() {
	local h i nsz dsz typ d
	read -r h || true
	le32() { echo $((16#${h:$1+6:2}${h:$1+4:2}${h:$1+2:2}${h:$1:2})); }
	i=0
	while [ $((i + 24)) -le ${#h} ]; do # offsets in hex digits
		nsz=$(le32 $i)
		dsz=$(le32 $((i + 8)))
		typ=$(le32 $((i + 16)))
		d=$((i + 24 + ((nsz + 3) & ~3) * 2))
		if [ "$typ" = 3 ] && [ "${h:i+24:6}" = 474e55 ]; then # "GNU"
			echo "${h:d:dsz*2}"
			return
		fi
		i=$((d + ((dsz + 3) & ~3) * 2))
	done
}

# The GNU build ID of an ELF file, in hex.
build_id_of() {
	ps_in_root "readelf -n $1" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p'
}

# The build ID of the kernel a tree is for, in $KDIR/build-id.
ensure_build_id() {
	[ -s "$KDIR/build-id" ] && return
	build_id_of "$KDIR/vmlinux" >"$KDIR/build-id"
	[ -s "$KDIR/build-id" ] || ps_die "cannot determine the build ID of the $target kernel"
}

# debian_fail MESSAGE: drop the half-made tree and stop.
debian_fail() {
	rm -rf "$KDIR"
	ps_die "$1"
}

# Debian's debug package for the stock image: only vmlinux (DWARF, symbol
# table, code: what the boundary analysis and the build-time checks read)
# and the real System.map are kept, as $KDIR/vmlinux.debug and
# $KDIR/System.map; the 1.2 GB package itself is not.
fetch_debian_debug() {
	local dbg=linux-image-$PS_DEB_KREL-dbg d=./usr/lib/debug/lib/modules/$PS_DEB_KREL deb v src
	ps_info "apt-get download $dbg (1.2 GB)"
	ps_in_root -C "$KDIR/stock/debs" "apt-get download $dbg" >"$LOGS/debian-fetch-dbg.log" 2>&1 || {
		tail -n 5 "$LOGS/debian-fetch-dbg.log" >&2
		debian_fail "cannot download $dbg: without Debian's debug vmlinux the scheduler of $PS_DEB_KREL cannot be analysed"
	}
	deb=$(ls "$KDIR/stock/debs/$dbg"_*.deb)
	v=$(ps_in_root "dpkg-deb -f $deb Version")
	src=$(src_version)
	[ "$v" = "$src" ] ||
		debian_fail "$dbg is version $v, but $PS_KSRC_PKG is $src: no matching source for this kernel"
	ps_run_logged "$LOGS/debian-extract-dbg.log" "extracting vmlinux and System.map (about 1.5 min)" \
		ps_in_root -C "$KDIR/stock" "dpkg-deb --fsys-tarfile $deb | tar -x --occurrence=1 $d/vmlinux $d/System.map"
	mv "$KDIR/stock/$d/vmlinux" "$KDIR/vmlinux.debug"
	mv "$KDIR/stock/$d/System.map" "$KDIR/System.map"
	rm -f "$deb"
}

# The debug vmlinux must be the stock image's: same GNU build ID.
check_debian_debug() {
	local image debug
	ps_in_root "$SRC/scripts/extract-vmlinux $KDIR/stock/vmlinuz" \
		>"$KDIR/stock/vmlinux.image" 2>>"$LOGS/debian-extract-dbg.log" ||
		debian_fail "cannot decompress $KDIR/stock/vmlinuz"
	image=$(build_id_of "$KDIR/stock/vmlinux.image")
	debug=$(build_id_of "$KDIR/vmlinux.debug")
	rm -f "$KDIR/stock/vmlinux.image"
	[ -n "$image" ] && [ "$image" = "$debug" ] ||
		debian_fail "linux-image-$PS_DEB_KREL-dbg does not match the stock image (build ID ${debug:-none} vs ${image:-none})"
	echo "$image" >"$KDIR/build-id"
	ps_info "debug vmlinux matches the stock image: build ID $image"
}

build_debian() {
	local mk="make -C $SRC O=$KDIR CC=x86_64-linux-gnu-gcc-14 KERNELRELEASE=$PS_DEB_KREL"
	if [ -e "$KDIR/.plugsched-built" ]; then
		ps_phase "kernel[debian]: reusing $KDIR"
		return
	fi
	ps_phase "kernel[debian]: fetching Debian's $PS_DEB_KREL headers, image and debug vmlinux"
	rm -rf "$KDIR"
	mkdir -p "$KDIR/stock/debs"
	ps_in_root -C "$KDIR/stock/debs" "apt-get update -qq &&
		apt-get download linux-headers-$PS_DEB_KREL linux-binary-unsigned-$PS_DEB_KREL linux-base-$PS_DEB_KREL" \
		>"$LOGS/debian-fetch.log" 2>&1 || {
		tail -n 5 "$LOGS/debian-fetch.log" >&2
		debian_fail "cannot download Debian's headers and image of $PS_DEB_KREL: is it a Debian release (uname -r of a Debian kernel)?"
	}
	ps_in_root -C "$KDIR/stock/debs" "for d in *.deb; do dpkg-deb -x \$d ../x; done && rm -f *.deb"
	local H=$KDIR/stock/x/usr/src/linux-headers-$PS_DEB_KREL
	[ -e "$H/.config" ] || debian_fail "linux-headers-$PS_DEB_KREL has no .config at $H"
	cp "$KDIR/stock/x/usr/lib/modules/$PS_DEB_KREL/vmlinuz.unsigned" "$KDIR/stock/vmlinuz" ||
		debian_fail "linux-binary-unsigned-$PS_DEB_KREL has no vmlinuz.unsigned"
	fetch_debian_debug
	check_debian_debug
	ps_phase "kernel[debian]: modules_prepare with Debian's .config (about 1.5 min)"
	cp "$H/.config" "$KDIR/.config"
	ps_in_root "$mk olddefconfig >/dev/null"
	cmp -s "$H/.config" "$KDIR/.config" || debian_fail "olddefconfig changed Debian's .config: source and headers do not match"
	ps_run_logged "$LOGS/kernel-debian.log" "modules_prepare" \
		ps_in_root "$mk -j$PS_JOBS modules_prepare"
	# (The headers' vmlinux carries the BTF that module BTF is based on.)
	cp "$H/Module.symvers" "$H/vmlinux" "$KDIR/"
	# Modules for this tree must use the same compiler name and release.
	echo "CC=x86_64-linux-gnu-gcc-14 KERNELRELEASE=$PS_DEB_KREL" >"$KDIR/plugsched.make-args"
	rm -rf "$KDIR/stock/x" "$KDIR/stock/debs" "$KDIR/stock/usr"
	touch "$KDIR/.plugsched-built"
}

case "$target" in
test) build_test ;;
debian) build_debian ;;
arm64) build_arm64 ;;
esac
ensure_build_id

# Drop trees of this target with other keys (5-6 GiB each).
for old in "$PLUGSCHED_CACHE"/obj-"$target"-*; do
	[ "$old" = "$KDIR" ] && continue
	[ "$(readlink -f "$old")" = "$(readlink -f "$KDIR")" ] && continue
	ps_info "removing stale tree $old"
	rm -rf "$old"
done
ps_info "KDIR=$KDIR"
echo "$KDIR"
