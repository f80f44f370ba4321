#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make demo`: build what is needed, boot the TARGET kernel (default: the
# test kernel) in QEMU, load plugsched.ko, show its state, unload it.
. "$(dirname "$0")/lib.sh"

target=${TARGET:-test}
"$PS_TOP/scripts/build-module.sh" "$target" >/dev/null
run=$PS_TOP/build/$target/demo.run
"$PS_TOP/scripts/qemu-run.sh" --target "$target" --grep '^demo:' "$PS_TOP/tests-e2e/demo" 2>&1 |
	tee "$run" || ps_die "demo failed (console: $PS_TOP/build/$target/demo.log)"
log=$PS_TOP/build/$target/demo.log
ps_phase "demo: summary"
echo "kernel:      $(grep -m1 -ao 'Linux version [^ ]*' "$log")"
echo "accelerator: $(grep -o 'accelerator [a-z]* ([^)]*)' "$run" | head -n1)"
echo "guest:       $(grep -o 'guest ran [0-9.]*s' "$run" | head -n1)"
echo "module:      plugsched.ko loaded; /sys/kernel/plugsched/state said '$(grep -a -A1 'cat /sys/kernel/plugsched/state' "$log" | tail -n1 | sed 's/^demo: *//;s/\r//')'"
echo "scheduler:   $(grep -a -m1 -o 'extracted scheduler: [0-9]* functions in the manifest' "$log" || echo 'not built for this target')"
echo "engine:      user program saw: $(grep -a -A1 '^demo: \$ prio' "$log" | grep -a 'max=' | sed 's/^demo: *//;s/\r//' | paste -sd'|' | sed 's/|/ -> /g')"
echo "             $(grep -a 'kernel: selftest: redirected' "$log" | tail -n1 | sed 's/^demo: *kernel: selftest: //;s/\r//')"
echo "             unloaded, /sys/kernel/plugsched removed; reloaded and unloaded again"
echo "checks:      $(grep -E 'passed, [0-9]+ failed' "$run" | tail -n1)"
