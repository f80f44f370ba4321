#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build plugsched.ko for a target kernel (test or debian) into build/<target>/
# and print the path of the .ko.  Builds the target kernel tree first if it is
# not cached yet.
. "$(dirname "$0")/lib.sh"

target=${1:-test}
KDIR=$("$PS_TOP/scripts/kernel.sh" "$target")
out=$PS_TOP/build/$target
mkdir -p "$out"
ps_phase "module[$target]: building plugsched.ko against $KDIR"
# Per-target make variables (e.g. Debian's compiler name and release).
extra=$(cat "$KDIR/plugsched.make-args" 2>/dev/null || true)
ps_in_root -C "$PS_TOP" "make -C $KDIR M=$PS_TOP MO=$out $extra modules" >"$out/build.log" 2>&1 || {
	cat "$out/build.log" >&2
	ps_die "module build for $target failed"
}
grep -E '^ +(RUSTC|CC|LD|BTF) \[M\]' "$out/build.log" | sed 's/^ */    /' >&2 || true
[ -e "$out/plugsched.ko" ] || ps_die "no plugsched.ko produced"
ps_info "$(ls -l "$out/plugsched.ko" | awk '{print $5}') bytes: $out/plugsched.ko"
echo "$out/plugsched.ko"
