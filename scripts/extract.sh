#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boundary analysis and extraction of the scheduler of a target kernel
# (test or debian) into build/sched-stage/<target>/, whose path is printed.
# Builds the target kernel tree first if it is not cached yet.  Fails if
# the target tree has no vmlinux with DWARF and machine code (our test
# kernel's vmlinux.unstripped; for Debian's stock kernel, the vmlinux of
# its -dbg package), which the analysis reads.
. "$(dirname "$0")/lib.sh"

target=${1:-test}
KDIR=$("$PS_TOP/scripts/kernel.sh" "$target")
vmlinux_dwarf=
for v in vmlinux.unstripped vmlinux.debug; do
	[ -e "$KDIR/$v" ] && vmlinux_dwarf=$KDIR/$v && break
done
[ -n "$vmlinux_dwarf" ] || ps_die "the $target kernel tree $KDIR has no vmlinux with DWARF: nothing to extract the scheduler from"
out=$PS_TOP/build/$target
stage=$PS_TOP/build/sched-stage/$target
mkdir -p "$out"
ps_phase "extract[$target]: boundary analysis and extraction (plugsched init)"
"$PS_TOP/scripts/host-tools.sh" init --config "$PS_TOP/boundary/linux-7.3.toml" "$KDIR" "$stage" \
	>"$out/init.log" 2>&1 || { cat "$out/init.log" >&2; ps_die "plugsched init failed"; }
grep -E '^(internal|interface|callback|external) ' "$out/init.log" | sed 's/^/    /' >&2 || true
# (The config the tree was extracted with: what `plugsched build` checks
# a development tree's edits against.)
cp "$PS_TOP/boundary/linux-7.3.toml" "$stage/boundary.toml"
echo "$stage"
