# SPDX-License-Identifier: GPL-2.0
# Example "rr-scheduler" (README.rst beside this file): plugsched.ko built
# with rr-scheduler.patch runs a round-robin policy in the fair class.  Two
# hogs pinned to CPU 1, nice 0 and nice 10, keep running while the
# scheduler changes under them; measured before loading (vmlinux's EEVDF:
# about 90% and 10%), while the module is live (50% each, the slice 12 ms)
# and after unloading (90% and 10% again).
load() { plugsched load /lib/modules/plugsched.ko "$@"; }
unload() { plugsched unload; }

. /lib/plugsched/ktap.sh
. /lib/plugsched/share.sh

say() { echo "rr-scheduler: $*"; }
# The module's KUnit suites run at every load on a KUnit kernel; scenario
# "basic" runs them.
kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-the-example >$kf

# The hogs: `share -i` measures a window (1 s warm-up, 3 s measured) for
# each line written to its input.
share_start -c 1 -w 1 -t 3 other:0 other:10

window vmlinux
load && loaded=0 || loaded=$?
say "plugsched load: exit $loaded"
window module
unload && unloaded=0 || unloaded=$?
say "plugsched unload: exit $unloaded"
window rolled_back

share_stop

# The checks (a: nice 0, b: nice 10).  EEVDF gives them 1024/1134 and
# 110/1134 of the CPU; round-robin half each.
nice_weights() { lt "$(val "$1" b_pct)" 20 && lt 70 "$(val "$1" a_pct)"; }
vmlinux_nice_weights() { nice_weights "$vmlinux"; }
module_loads() { [ "$loaded" = 0 ]; }
rr_equal_shares() {
	between "$(val "$module" a_pct)" 35 65 && between "$(val "$module" b_pct)" 35 65
}
# sched_rr_get_interval(): the round-robin slice, 12 ms (vmlinux: the base
# slice in whole ticks, 0 at HZ=250 on 2 CPUs).
rr_slice_reported() {
	[ "$(val "$module" a_slice_ms)" = 12 ] && [ "$(val "$module" b_slice_ms)" = 12 ] &&
		[ -n "$(val "$vmlinux" b_slice_ms)" ] && [ "$(val "$vmlinux" b_slice_ms)" != 12 ]
}
# How long the nice-10 hog keeps the CPU once it has it: the base slice
# (1.4 ms on 2 CPUs, ended by the hrtick) under EEVDF, 12 ms under
# round-robin.
rr_longer_runs() {
	local v

	v=$(val "$vmlinux" b_run_ms)
	[ -n "$v" ] && lt "$(awk -v v="$v" 'BEGIN { print 2 * v }')" "$(val "$module" b_run_ms)"
}
rollback_nice_weights() {
	[ "$unloaded" = 0 ] && ! [ -e /sys/module/plugsched ] && nice_weights "$rolled_back" &&
		[ -n "$(val "$rolled_back" b_slice_ms)" ] && [ "$(val "$rolled_back" b_slice_ms)" != 12 ]
}
hogs_ran_throughout() { [ "$sp_rc" = 0 ] && [ "$(grep -c '^share a_pct' $share_out)" = 3 ]; }

ktap_suite example_rr_scheduler 7
for c in vmlinux_nice_weights module_loads rr_equal_shares rr_slice_reported \
	rr_longer_runs rollback_nice_weights hogs_ran_throughout; do
	ktap_case $c $c
done
ktap_end
