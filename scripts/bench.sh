#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: the engine benchmark (scenario bench-engine) on TARGET
# (default test).  Prints, per thread count and inspection mode, the
# stop_machine time and its phases in nanoseconds; then the same for the
# whole-scheduler upgrade and rollback.
. "$(dirname "$0")/lib.sh"

target=${TARGET:-test}
"$PS_TOP/scripts/build-module.sh" "$target" >/dev/null
out=$PS_TOP/build/$target/bench-engine.run
"$PS_TOP/scripts/qemu-run.sh" --target "$target" --timeout 900 "$PS_TOP/tests-e2e/bench-engine" >"$out" 2>&1 ||
	{ cat "$out"; ps_die "benchmark run failed"; }
ps_phase "bench: engine switches ($(grep -o 'accelerator [a-z]*' "$out" | head -n1), $(nproc) host CPUs)"
printf '%-8s %-9s %-7s %6s %7s %14s %12s %10s %10s\n' threads mode dir cpus tasks stop_machine_ns inspect_ns patch_ns sync_ns
grep -a '^bench: threads=' "$PS_TOP/build/$target/bench-engine.log" | tr -d '\r' |
	sed -E 's/^bench: threads=([0-9]+) ([A-Za-z]+) ([A-Za-z]+) cpus=([0-9]+) tasks=([0-9]+) ranges=[0-9]+ stop_machine_ns=([0-9]+) inspect_ns=([0-9]+) patch_ns=([0-9]+) sync_ns=([0-9]+)/\1 \2 \3 \4 \5 \6 \7 \8 \9/' |
	while read -r n mode dir cpus tasks sm insp patch sync; do
		printf '%-8s %-9s %-7s %6s %7s %14s %12s %10s %10s\n' "$n" "$mode" "$dir" "$cpus" "$tasks" "$sm" "$insp" "$patch" "$sync"
	done
if grep -aq '^live: threads=' "$PS_TOP/build/$target/bench-engine.log"; then
	ps_phase "bench: whole-scheduler update (upgrade and rollback)"
	printf '%-8s %-9s %7s %8s %14s %12s %10s %12s %11s\n' threads dir tasks rebuilt stop_machine_ns stack_check clear_ns redirect_ns rebuild_ns
	grep -a '^live: threads=' "$PS_TOP/build/$target/bench-engine.log" | tr -d '\r' |
		sed -E 's/^live: threads=([0-9]+) dir=([a-z]+) tasks=([0-9]+) rebuilt=([0-9]+) stop_machine_ns=([0-9]+) stack_check_ns=([0-9]+) clear_ns=([0-9]+) redirect_ns=([0-9]+) rebuild_ns=([0-9]+)/\1 \2 \3 \4 \5 \6 \7 \8 \9/' |
		while read -r n dir tasks reb sm sc cl rd rb; do
			printf '%-8s %-9s %7s %8s %14s %12s %10s %12s %11s\n' "$n" "$dir" "$tasks" "$reb" "$sm" "$sc" "$cl" "$rd" "$rb"
		done
fi
