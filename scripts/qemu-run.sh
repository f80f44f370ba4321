#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot a target kernel in QEMU with a scenario, and judge the run.
#
#   scripts/qemu-run.sh [options] SCENARIO_DIR
#
#   --target T     kernel to boot: test (default), debian or arm64
#   --timeout S    kill the guest after S seconds (default 300)
#   --accel A      auto (default), tcg or kvm
#   --show         also print the console while it runs
#   --grep PAT     also print the console lines matching PAT while it runs
#   --no-check     boot only; do not judge the log
#   --no-module    do not put plugsched.ko into the initramfs
#   --module KO    put KO there instead of build/<target>/plugsched.ko
#   --append ARGS  extra kernel command line
#
# A scenario is a directory with run.sh (run by the guest's /init as
# /scenario/run.sh, busybox sh, modules in /lib/modules: plugsched.ko and
# those of tests-e2e/modules, built for the target; the `plugsched`
# command in /bin: on arm64 guests only where run.sh uses it, as it is
# cross-built) and a list of the
# KTAP suites it must produce: suites.<target> or, failing that, suites.
# Everything in the directory is copied to /scenario.  A file `cmdline` in
# it adds kernel command-line arguments.  A file `binaries` lists programs
# of the toolchain root (absolute paths, one a line, e.g. /usr/bin/hackbench
# of Debian's rt-tests), copied to the same paths in the initramfs together
# with the shared libraries `ldd` finds for them in the root.  A file
# `icount` (QEMU -icount options, e.g. shift=3,align=off,sleep=off) runs a
# TCG guest with one TCG thread and its clock following the executed
# instructions, for benchmarks that compare small differences (guest
# timings then hardly depend on the host's load); ignored under KVM.
# Every test program
# tests-e2e/programs/NAME.c is built (static, in the toolchain root) into
# /bin/NAME of every initramfs.  The harness builds a
# busybox initramfs holding plugsched.ko built for the target, boots, saves
# the serial console to build/<target>/<scenario>.log, then checks it with
# `plugsched check-log`: any failed test, missing planned suite, zero tests,
# non-zero scenario exit code, or WARNING/BUG/Call Trace/lockdep splat fails
# the run.
. "$(dirname "$0")/lib.sh"

target=test timeout=300 accel=${PLUGSCHED_ACCEL:-auto} show= check=1 module=1 append= ko=
while [ $# -gt 0 ]; do
	case "$1" in
	--target) target=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--accel) accel=$2; shift 2 ;;
	--show) show=.; shift ;;
	--grep) show=$2; shift 2 ;;
	--no-check) check=0; shift ;;
	--no-module) module=0; shift ;;
	--module) ko=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	-*) ps_die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# = 1 ] || ps_die "usage: scripts/qemu-run.sh [options] SCENARIO_DIR"
scen=$(cd "$1" && pwd)
name=$(basename "$scen")
[ -f "$scen/run.sh" ] || ps_die "scenario $scen has no run.sh"

KDIR=$("$PS_TOP/scripts/kernel.sh" --kdir "$target")
case "$target" in
test) image=$KDIR/vmlinux ;;	# PVH entry: boots straight from the ELF
debian) image=$KDIR/stock/vmlinuz ;;
arm64) image=$KDIR/arch/arm64/boot/Image ;;
*) ps_die "unknown target $target (test, debian or arm64)" ;;
esac
arch=$(ps_arch "$target")
[ -e "$image" ] || ps_die "no kernel image $image (run scripts/kernel.sh $target)"
out=$PS_TOP/build/$target
ko=${ko:-$out/plugsched.ko}
[ "$module" = 0 ] || [ -e "$ko" ] || ps_die "no $ko (run scripts/build-module.sh $target)"
mkdir -p "$out"
log=$out/$name.log

# --- initramfs ---------------------------------------------------------------
ps_phase "qemu[$target/$name]: initramfs"
ird=$out/$name.initramfs
rm -rf "$ird"
trap 'rm -rf "$ird"' EXIT
mkdir -p "$ird"/{bin,dev,proc,sys,tmp,lib/modules,lib/plugsched,scenario}
case "$arch" in
x86_64) cp "$PS_ROOT/usr/bin/busybox" "$ird/bin/busybox" ;;
# Debian's arm64 busybox-static (scripts/setup-root.sh keeps it).
aarch64) cp "$PLUGSCHED_CACHE/arm64/busybox" "$ird/bin/busybox" ;;
esac
[ "$module" = 0 ] || cp "$ko" "$ird/lib/modules/plugsched.ko"
# Kernel modules the scenarios load (tests-e2e/modules), built for the
# target (incrementally: make rebuilds what changed).
if [ "$module" = 1 ]; then
	tm=$out/test-modules
	mkdir -p "$tm"
	ps_in_root -C "$PS_TOP" "make -C $KDIR M=$PS_TOP/tests-e2e/modules MO=$tm \
		$(cat "$KDIR/plugsched.make-args" 2>/dev/null || true) modules" >"$tm.log" 2>&1 ||
		{ cat "$tm.log" >&2; ps_die "cannot build the test modules of tests-e2e/modules"; }
	cp "$tm"/*.ko "$ird/lib/modules/"
fi
cp "$PS_TOP"/scripts/guest/*.sh "$ird/lib/plugsched/"
if [ "$arch" = x86_64 ]; then
	[ -x "$PS_TOOL" ] || "$PS_TOP/scripts/host-tools.sh" --build >/dev/null
	cp "$PS_TOOL" "$ird/bin/plugsched"
elif grep -qE 'plugsched (load|unload|status)' "$scen/run.sh" || [ -x "$PS_TOP/build/bin/$arch/plugsched" ]; then
	# (Cross-built when a scenario runs the command: about 5 min cold.)
	cp "$("$PS_TOP/scripts/host-tools.sh" --build-for "$arch")" "$ird/bin/plugsched"
fi
cc=gcc
[ "$arch" = x86_64 ] || cc=$arch-linux-gnu-gcc-14
cp -r "$scen/." "$ird/scenario/"
for c in "$PS_TOP"/tests-e2e/programs/*.c; do
	[ -e "$c" ] || continue
	ps_in_root "$cc -static -O2 -Wall -Werror -pthread -o $ird/bin/$(basename "$c" .c) $c" ||
		ps_die "cannot build test program $c"
done
# Debian programs of the root that the scenario runs, with their libraries
# (and the dynamic loader) at the paths the root has them.
if [ -f "$scen/binaries" ]; then
	[ "$arch" = x86_64 ] || ps_die "$scen/binaries: root programs are x86_64 only"

	bins=$(grep -vE '^[[:space:]]*(#|$)' "$scen/binaries" || true)
	for b in $bins; do
		case "$b" in /*) ;; *) ps_die "$scen/binaries: $b is not an absolute path" ;; esac
		[ -x "$PS_ROOT$b" ] || ps_die "$scen/binaries: no $b in the toolchain root (add its package to scripts/setup-root.sh)"
	done
	# ldd prints "name => /path (addr)" for a library, "/path (addr)"
	# for the loader, and nothing usable for the vDSO.
	libs=$(ps_in_root "for b in $(echo $bins); do ldd \$b || true; done" |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
	for f in $bins $libs; do
		mkdir -p "$ird$(dirname "$f")"
		cp -L "$PS_ROOT$f" "$ird$f"
	done
	ps_info "root binaries: $(echo $bins) (libraries: $(echo $libs))"
fi
cat >"$ird/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
echo PLUGSCHED-SCENARIO-BEGIN >/dev/kmsg
cd /scenario
sh ./run.sh
rc=$?
echo "PLUGSCHED-SCENARIO-END rc=$rc" >/dev/kmsg
poweroff -f
INIT
chmod +x "$ird/init"
ps_in_root -C "$ird" "find . | cpio -o -H newc --quiet | gzip -1 >$out/$name.cpio.gz"

# --- accelerator ---------------------------------------------------------------
# /dev/kvm alone proves nothing: on the project's machines it is a software
# PVM that cannot run a normal guest.  KVM only with real VMX/SVM, or asked.
if [ "$arch" != "$(uname -m)" ]; then
	[ "$accel" != kvm ] || ps_die "a $arch guest cannot use KVM on this $(uname -m) host"
	accel=tcg why="foreign architecture"
elif [ "$accel" = auto ]; then
	if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
		accel=kvm why="CPU has vmx/svm"
	else
		accel=tcg why="CPU shows no vmx/svm"
	fi
else
	why="requested"
fi
# arm64: -cpu max has pointer authentication and BTI; pauth-impdef uses
# QEMU's cheap implementation-defined PAC algorithm instead of emulating
# QARMA (the same instructions and faults, much faster under TCG).
case "$arch" in
x86_64) qemu=qemu-system-x86_64 qcpu=max console=ttyS0 ;;
aarch64) qemu="qemu-system-aarch64 -machine virt,gic-version=3" qcpu=max,pauth-impdef=on console=ttyAMA0 ;;
esac
case "$accel" in
kvm) qaccel="-accel kvm -cpu host" ;;
tcg) qaccel="-accel tcg,thread=multi -cpu $qcpu" ;;
*) ps_die "unknown accelerator $accel (auto, tcg or kvm)" ;;
esac
smp=${PLUGSCHED_SMP:-2}
# PLUGSCHED_ICOUNT=OPTIONS asks for -icount for any scenario (benchmarks on
# a shared host).
icount=${PLUGSCHED_ICOUNT:-}
[ -n "$icount" ] || [ ! -f "$scen/icount" ] ||
	icount=$(grep -vE '^[[:space:]]*(#|$)' "$scen/icount" | head -n 1)
if [ -n "$icount" ]; then
	if [ "$accel" = tcg ]; then
		# -icount needs a single TCG thread (the vCPUs take turns).
		qaccel="-accel tcg,thread=single -icount $icount -cpu $qcpu"
		why="$why; -icount $icount"
	else
		ps_info "scenario asks for -icount $icount: not available with $accel, ignored"
	fi
fi

ps_phase "qemu[$target/$name]: booting $(basename "$image") with accelerator $accel ($why), $smp vCPUs, timeout ${timeout}s"
ps_info "console log: $log"
[ -f "$scen/cmdline" ] && append="$append $(cat "$scen/cmdline")"
cmdline="console=$console panic=-1 oops=panic printk.devkmsg=on rdinit=/init $append"
qcmd="timeout -k 5 $timeout $qemu $qaccel -smp $smp -m 2G -nographic -no-reboot \
	-kernel $image -initrd $out/$name.cpio.gz -append '$cmdline'"
t0=$(date +%s.%N)
rc=0
if [ -n "$show" ]; then
	set +o pipefail
	ps_in_root "$qcmd </dev/null" 2>&1 | tee "$log" | { grep --line-buffered -a -- "$show" || true; }
	rc=${PIPESTATUS[0]}
	set -o pipefail
else
	ps_in_root "$qcmd </dev/null" >"$log" 2>&1 || rc=$?
fi
t1=$(date +%s.%N)
ps_info "guest ran $(awk "BEGIN{printf \"%.1f\", $t1-$t0}")s, qemu exit $rc"
[ "$rc" = 124 ] && ps_info "TIMEOUT after ${timeout}s"

[ "$check" = 1 ] || exit "$rc"

suites_file=$scen/suites.$target
[ -f "$suites_file" ] || suites_file=$scen/suites
suite_args=()
if [ -f "$suites_file" ]; then
	while read -r s; do
		case "$s" in ""|"#"*) continue ;; esac
		suite_args+=(--suite "$s")
	done <"$suites_file"
fi
"$PS_TOP/scripts/host-tools.sh" check-log --label "$target/$name" "${suite_args[@]}" "$log" || {
	tail -n 40 "$log" | sed 's/^/    | /' >&2
	exit 1
}
