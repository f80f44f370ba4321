#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The steady-state benchmark (scenario bench-steady) on TARGET (default
# test): Debian's hackbench (rt-tests), in one guest boot, alternately under
# vmlinux's scheduler and under the live module's, ROUNDS rounds (default
# 12, each one run per side) of `hackbench -g 2 -l LOOPS` (default 50).  Prints every run's time and the summary: the
# means, the ratio module/vmlinux and the 95% confidence interval of that
# ratio.  Under TCG the guest runs with -icount (the scenario's `icount`
# file), so its clock follows executed instructions, not the host's load.
. "$(dirname "$0")/lib.sh"

target=${TARGET:-test}
rounds=${ROUNDS:-12}
loops=${LOOPS:-50}
"$PS_TOP/scripts/build-module.sh" "$target" >/dev/null
out=$PS_TOP/build/$target/bench-steady.run
# Unknown kernel parameters reach /init's environment: ROUNDS, LOOPS for run.sh.
"$PS_TOP/scripts/qemu-run.sh" --target "$target" --timeout $((400 + rounds * loops * 2)) \
	--append "ROUNDS=$rounds LOOPS=$loops" "$PS_TOP/tests-e2e/bench-steady" >"$out" 2>&1 ||
	{ cat "$out"; ps_die "benchmark run failed"; }
log=$PS_TOP/build/$target/bench-steady.log
ps_phase "bench: steady state, hackbench -g 2 -l $loops ($(grep -o 'accelerator [a-z]*.*vCPUs' "$out" | head -n1), $(nproc) host CPUs)"
printf '%-6s %-8s %10s\n' round side time_s
grep -a '^steady-run: ' "$log" | tr -d '\r' | sed -E 's/^steady-run: //; s/[a-z_]+=//g' |
	while read -r r s t; do
		[ "$r" = 0 ] && r="0 (warm-up)"
		printf '%-6s %-8s %10s\n' "$r" "$s" "$t"
	done
grep -a '^steady: ' "$log" | tr -d '\r'
