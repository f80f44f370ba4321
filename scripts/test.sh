#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make test`: every test of the project, in order of cost.
#
#   1. host: cargo test and clippy (-D warnings) of the host tools and the
#      module's no_std core
#   2. style: rustfmt on all Rust sources (the lints are clippy's, in every module build)
#   2b. boundary analysis (`plugsched init`) of the real test kernel
#   3. test kernel: build plugsched.ko (engine + extracted scheduler, whose
#      layouts of the types shared with vmlinux are checked by the build);
#      negative builds: scheduler changes that alter a shared type must be
#      refused by that check (tests-build/layout, one object compiled each);
#      scenarios basic (KUnit suites run at load), engine (live redirection
#      checked from user space), extracted (the extracted scheduler is in
#      the loaded module: every kernel symbol it uses is bound), live (the
#      whole-scheduler upgrade and rollback, 12 cycles under a mixed workload),
#      natural (plain insmod: upgrade at load, KUnit suites run against the
#      live module scheduler, rmmod returns), safety, escape (module state
#      left in long-lived kernel objects), getthrough (4 upgrade/rollback
#      cycles under 200 yielders and 200 ping-pong threads: every switch
#      succeeds, text restored, no module pointer, the load survives,
#      rmmod under the load returns; `make bench` runs 20 and reports the
#      first-attempt rates)
#   4. harness self-test: a run with a failing case must be rejected
#   4b. the developer's workflow (scripts/workflow-tests.sh): plugsched dev
#      and export, edits that cannot take effect refused by plugsched
#      build, and every example of examples/ built with plugsched build and
#      checked in QEMU (load, new behaviour, unload, old behaviour)
#   5. Debian's unmodified stock kernel: build plugsched.ko for it (the
#      boundary analysis reads the vmlinux of Debian's -dbg package);
#      scenarios basic, engine, extracted, live
#   6. the arm64 test kernel (cross-built, booted in qemu-system-aarch64):
#      plugsched.ko for it, scenarios basic, engine, extracted, live
#
# Each step prints "LABEL: N passed, N failed, N skipped"; the last line sums them.
. "$(dirname "$0")/lib.sh"

summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
failed_steps=()

# step LABEL CMD...: run a step, keep its output's count lines.
step() {
	local label=$1 rc=0
	shift
	ps_phase "test: $label"
	"$@" 2>&1 | tee -a "$summary.out" || rc=$?
	[ "$rc" = 0 ] || failed_steps+=("$label")
	return 0
}

"$PS_TOP/scripts/setup-root.sh"

step "host cargo test" "$PS_TOP/scripts/host-tools.sh" --test
step "host clippy" "$PS_TOP/scripts/host-tools.sh" --clippy
step "rust style" "$PS_TOP/scripts/check-style.sh"

for target in ${PLUGSCHED_TARGETS:-test debian arm64}; do
	if [ "$target" = test ] && "$PS_TOP/scripts/kernel.sh" test >/dev/null; then
		step "boundary analysis of the test kernel" "$PS_TOP/scripts/check-boundary.sh"
	fi
	if "$PS_TOP/scripts/build-module.sh" "$target" >/dev/null; then
		if [ "$target" = test ] && [ -e "$PS_TOP/build/$target/has-sched" ]; then
			step "layout check: negative builds" "$PS_TOP/scripts/layout-tests.sh"
		fi
		scens="basic engine"
		# With the extracted scheduler in the module (the boundary analysis
		# read the target's vmlinux with DWARF: the test kernel's, or the
		# one of Debian's -dbg package): the whole-scheduler scenarios.
		# Those that need KUnit or the debug kernel run on the test kernel.
		if [ -e "$PS_TOP/build/$target/has-sched" ]; then
			[ "$target" = test ] ||
				step "boundary counts of the $target kernel" "$PS_TOP/scripts/check-counts.sh" "$target"
			scens="$scens extracted live"
			[ "$target" = test ] && scens="$scens safety natural escape getthrough"
		fi
		for scen in $scens; do
			t=300
			# (A hang guard: on an idle machine live takes 5-10 min, safety
			# 3-5; on a loaded one live reached 900 s.)
			case $scen in live | safety | escape | getthrough) t=1500 ;; esac
			args=()
			# (arm64 under TCG: an emulated foreign CPU, and switches wait
			# for tasks interrupted in the kernel, which its reliable
			# unwinder does not cross: a cycle takes ~2 min, so 4 cycles
			# instead of 12, with the same checks.)
			[ "$target/$scen" = arm64/live ] && args=(--append CYCLES=4)
			step "$target kernel: $scen" "$PS_TOP/scripts/qemu-run.sh" --target "$target" --timeout $t \
				"${args[@]}" "$PS_TOP/tests-e2e/$scen"
		done
		if [ "$target" = test ]; then
			ps_phase "test: harness self-test (this run must be rejected)"
			if "$PS_TOP/scripts/qemu-run.sh" --target test "$PS_TOP/tests-e2e/harness-must-fail" \
				>"$summary.selftest" 2>&1; then
				cat "$summary.selftest"
				echo "harness-selftest: 0 passed, 1 failed, 0 skipped" | tee -a "$summary.out"
				failed_steps+=("harness self-test: a failing run was accepted")
			elif grep -q 'not ok plugsched_harness_selftest.fails_on_purpose' "$summary.selftest"; then
				echo "harness-selftest: 1 passed, 0 failed, 0 skipped" | tee -a "$summary.out"
			else
				cat "$summary.selftest"
				echo "harness-selftest: 0 passed, 1 failed, 0 skipped" | tee -a "$summary.out"
				failed_steps+=("harness self-test: rejected for the wrong reason")
			fi
			# (Last on this target: its module builds replace build/test's.)
			[ -e "$PS_TOP/build/$target/has-sched" ] &&
				step "$target kernel: workflow and examples" "$PS_TOP/scripts/workflow-tests.sh" "$target"
		fi
	else
		failed_steps+=("$target: module build")
	fi
done

ps_phase "test: summary"
# cargo: "test result: ok. 15 passed; 0 failed; 0 ignored; ..."
# ours:  "LABEL: N passed, N failed, N skipped"
totals=$(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p;
	s/^[^ ]+: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$summary.out" |
	awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
rm -f "$summary.out" "$summary.selftest"
read -r p f s <<<"$totals"
if [ ${#failed_steps[@]} -gt 0 ]; then
	printf '    FAILED: %s\n' "${failed_steps[@]}"
	[ "$f" -gt 0 ] || f=${#failed_steps[@]}
	echo "make test: $p passed, $f failed, $s skipped"
	exit 1
fi
echo "make test: $p passed, $f failed, $s skipped"
