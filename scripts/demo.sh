#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make demo`: build what is needed (or take PLUGSCHED_MODULE), boot the TARGET kernel (default:
# Debian's unmodified stock kernel, which needs no kernel build) in QEMU with a workload running, upgrade the scheduler by
# loading plugsched.ko (downtime breakdown), show the module's visible
# change, roll back by unloading it, and summarise.
. "$(dirname "$0")/lib.sh"

target=${TARGET:-debian}
# PLUGSCHED_MODULE=KO: show that module (`plugsched try`) instead of the
# project's build.
if [ -n "${PLUGSCHED_MODULE:-}" ]; then
	[ -f "$PLUGSCHED_MODULE" ] || ps_die "no module $PLUGSCHED_MODULE"
	ko=$PLUGSCHED_MODULE
else
	ko=$("$PS_TOP/scripts/build-module.sh" "$target")
fi
run=$PS_TOP/build/$target/demo.run
"$PS_TOP/scripts/qemu-run.sh" --target "$target" --module "$ko" --grep '^demo:' "$PS_TOP/tests-e2e/demo" 2>&1 |
	tee "$run" || ps_die "demo failed (console: $PS_TOP/build/$target/demo.log)"
log=$PS_TOP/build/$target/demo.log
ps_phase "demo: summary"
echo "kernel:      $(grep -m1 -ao 'Linux version [^ ]*' "$log")"
echo "accelerator: $(grep -o 'accelerator [a-z]* ([^)]*)' "$run" | head -n1)"
echo "guest:       $(grep -o 'guest ran [0-9.]*s' "$run" | head -n1)"
echo "upgrade:     $(grep -a 'plugsched: upgrade: [0-9]* functions' "$log" | tail -n1 | sed 's/^.*upgrade: //;s/\r//')"
echo "visible:     $(grep -a -m1 'plugsched.scheduler' "$log" | sed 's/^demo: *//;s/\r//')"
echo "rollback:    $(grep -a 'plugsched: rollback: [0-9]* functions' "$log" | tail -n1 | sed 's/^.*rollback: //;s/\r//')"
echo "workload:    $(grep -a 'demo:   msgpass' "$log" | tail -n1 | sed 's/^demo: *//;s/\r//')"
echo "checks:      $(grep -E 'passed, [0-9]+ failed' "$run" | tail -n1)"
