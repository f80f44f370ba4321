#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: the engine benchmark (scenario bench-engine) on TARGET
# (default test).  Prints, per thread count (100 to 30000) and inspection
# mode, the stop_machine time and its phases in nanoseconds; then the same
# for the whole-scheduler upgrade and rollback, the floor (an empty
# stop_machine), the ratios issue #12 sets targets for, the load time and
# its parts, and a plot of downtime against threads (build/<target>/
# bench.svg); then getting through (scenario getthrough with 200 yielders,
# 200 ping-pong threads and GETTHROUGH_CYCLES upgrade/rollback cycles,
# default 20: the switches that succeeded at the first attempt and the
# safe points; x86_64 targets with the extracted scheduler); then the
# steady state (scripts/bench-steady.sh).
# PLUGSCHED_ICOUNT=shift=3,align=off,sleep=off runs the engine benchmark
# with QEMU's -icount too: guest times then follow executed instructions,
# not the host's load, but the vCPUs take turns (no parallel speed-up).
. "$(dirname "$0")/lib.sh"

target=${TARGET:-test}
"$PS_TOP/scripts/build-module.sh" "$target" >/dev/null
out=$PS_TOP/build/$target/bench-engine.run
"$PS_TOP/scripts/qemu-run.sh" --target "$target" --timeout 1500 "$PS_TOP/tests-e2e/bench-engine" >"$out" 2>&1 ||
	{ cat "$out"; ps_die "benchmark run failed"; }
ps_phase "bench: engine switches ($(grep -o 'accelerator [a-z]*' "$out" | head -n1), $(nproc) host CPUs)"
log=$PS_TOP/build/$target/bench-engine.log
# table PREFIX FORMAT HEADER...: the guest's lines "PREFIX k=v v ..." as a
# table of their values.
table() {
	local prefix=$1 fmt=$2
	shift 2
	# shellcheck disable=SC2059
	printf "$fmt" "$@"
	grep -a "^$prefix " "$log" | tr -d '\r' | sed -E "s/^$prefix //; s/[a-z_]+=//g" |
		while read -r -a v; do
			# shellcheck disable=SC2059
			printf "$fmt" "${v[@]}"
		done
}
table bench: '%-8s %-9s %-7s %5s %7s %7s %14s %12s %10s %10s\n' \
	threads mode dir cpus tasks ranges stop_machine_ns inspect_ns patch_ns sync_ns
if grep -aq '^live: threads=' "$log"; then
	ps_phase "bench: whole-scheduler update (upgrade and rollback)"
	table live: '%-8s %-9s %7s %9s %11s %11s %8s %14s %10s %10s %12s %10s %12s %11s\n' \
		threads dir tasks unchanged prescan_ns link_ns rebuilt stop_machine_ns enter_ns leave_ns stack_check clear_ns redirect_ns rebuild_ns
	ps_phase "bench: summary (downtime in ms; the floor is an empty stop_machine on all CPUs)"
	"$PS_TOOL" bench-report "$log" "$PS_TOP/build/$target/bench.svg"
fi
# Getting through (issue #12): first-attempt switches under a yield and
# ping-pong load (Documentation/live-update.rst, "Safe points").
if [ "$(ps_arch "$target")" = x86_64 ] && [ -e "$PS_TOP/build/$target/has-sched" ]; then
	k=${GETTHROUGH_CYCLES:-20}
	gt=$PS_TOP/build/$target/getthrough.run
	"$PS_TOP/scripts/qemu-run.sh" --target "$target" --timeout 2400 --append "GETTHROUGH_CYCLES=$k" \
		"$PS_TOP/tests-e2e/getthrough" >"$gt" 2>&1 || { cat "$gt"; ps_die "getthrough run failed"; }
	ps_phase "bench: getting through ($k upgrade/rollback cycles, 200 yielders + 200 ping-pong threads)"
	line=$(grep -a 'getthrough: upgrade first-attempt' "$PS_TOP/build/$target/getthrough.log" | tr -d '\r' | sed 's/.*getthrough: //' | tail -n 1)
	[ -n "$line" ] || ps_die "getthrough: no result line in build/$target/getthrough.log"
	printf '%-28s %s\n' "first-attempt switches" "$line"
	grep -a 'getthrough: ' "$PS_TOP/build/$target/getthrough.log" | tr -d '\r' |
		grep -vE 'getthrough: (upgrade first-attempt|cycle|load)' | sed -E 's/.*getthrough: /    /' || true
fi
# The steady state: hackbench under vmlinux's and the module's scheduler
# (the toolchain root's hackbench, x86_64 only).
if [ "$(ps_arch "$target")" = x86_64 ]; then
	"$PS_TOP/scripts/bench-steady.sh"
else
	ps_phase "bench: steady state not measured on $target (hackbench of the toolchain root is x86_64)"
fi
