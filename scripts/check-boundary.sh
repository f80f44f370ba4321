#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boundary analysis of the real 7.3 test kernel (`plugsched init`), as part
# of `make test`: it must find no boundary error, give sane class sizes, be
# deterministic (two runs, identical output), and give the counts recorded
# in boundary/linux-7.3.test-counts (update that file, and
# Documentation/boundary.rst, when the config or the analysis changes).
. "$(dirname "$0")/lib.sh"

KDIR=$("$PS_TOP/scripts/kernel.sh" --kdir test)
[ -e "$KDIR/.plugsched-built" ] || ps_die "test kernel not built ($KDIR)"
work=$PS_TOP/build/boundary
mkdir -p "$work"
pass=0 fail=0
check() { # check NAME CMD...
	if "${@:2}"; then pass=$((pass + 1)); else echo "boundary: FAILED: $1"; fail=$((fail + 1)); fi
}
t0=$(date +%s.%N)
"$PS_TOP/scripts/host-tools.sh" init --config "$PS_TOP/boundary/linux-7.3.toml" "$KDIR" "$work/1" \
	>"$work.1.out" 2>&1 || true
t1=$(date +%s.%N)
cat "$work.1.out"
echo "boundary analysis took $(awk "BEGIN{printf \"%.1f\", $t1-$t0}") s (kernel build: about 16 min)"
"$PS_TOP/scripts/host-tools.sh" init --config "$PS_TOP/boundary/linux-7.3.toml" "$KDIR" "$work/2" \
	>"$work.2.out" 2>&1 || true

counts() { awk '/^(internal|interface|callback|external) /{print $1, $2} /^data-/{print $1, $2}' "$1"; }
no_errors() { ! grep -q '^boundary error' "$work.1.out" && [ -s "$work/1/boundary.json" ]; }
sane() {
	[ "$(counts "$work.1.out" | wc -l)" = 7 ] || return 1
	counts "$work.1.out" | while read -r _ n; do
		[ "$n" -ge 20 ] && [ "$n" -le 2000 ] || exit 1
	done
}
check "no boundary errors" no_errors
check "sane class sizes" sane
check "deterministic" cmp -s "$work/1/boundary.json" "$work/2/boundary.json"
check "counts as recorded" diff <(counts "$work.1.out") "$PS_TOP/boundary/linux-7.3.test-counts"
echo "boundary: $pass passed, $fail failed, 0 skipped"
[ "$fail" = 0 ]
