# SPDX-License-Identifier: GPL-2.0
# Example "fix-rr-interval": sched_rr_get_interval(2) of a fair task
# reports its slice (vmlinux's scheduler: whole jiffies, rounded down, so
# 0 = "infinite" for a default slice at HZ=250).  Loaded with the user's
# command, checked from user space: the bug with vmlinux's scheduler, the
# fix with the module's, the bug again after the rollback.
. /lib/plugsched/ktap.sh

load() { plugsched load /lib/modules/plugsched.ko; }
unload() { plugsched unload; }

# Default slice, and custom slices of 0.5, 3 and 10 ms.
slices="0 500000 3000000 10000000"
measure() { rrinterval $slices | tee "/tmp/rr.$1"; }
# agree FILE: the reported interval is the slice on every line.
agree() { ! grep -vE 'slice=([0-9]+) rr=\1$' "$1"; }

kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-this-example >$kf
measure vmlinux
load
plugsched status >/tmp/status.module
measure module
unload
measure rollback

ktap_suite plugsched_example_fix 5
ktap_case vmlinux_truncates_the_slice sh -c '! agree /tmp/rr.vmlinux'
ktap_case module_live grep -q 'state live' /tmp/status.module
ktap_case module_reports_the_slice agree /tmp/rr.module
ktap_case rollback_brings_vmlinux_back cmp /tmp/rr.vmlinux /tmp/rr.rollback
ktap_case module_unloaded sh -c '! [ -e /sys/kernel/plugsched ]'
ktap_end
