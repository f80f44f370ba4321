# SPDX-License-Identifier: GPL-2.0
# Example "feature-idle-weight" (README.rst beside this file): plugsched.ko
# built with feature-idle-weight.patch makes the weight of SCHED_IDLE tasks
# the module parameter idle_weight.  Two hogs pinned to CPU 1, one nice 0
# and one SCHED_IDLE, keep running while the scheduler changes under them;
# the idle one's share of the CPU is measured before loading (vmlinux:
# about 0.3%), loaded with the default weight (the same), with
# idle_weight=1024 (about 50%) and after unloading (about 0.3% again).
# Writing a weight out of range is refused.
load() { plugsched load /lib/modules/plugsched.ko "$@"; }
unload() { plugsched unload; }

. /lib/plugsched/ktap.sh
. /lib/plugsched/share.sh

say() { echo "idle-weight: $*"; }
p=/sys/module/plugsched/parameters/idle_weight
# The module's KUnit suites run at every load on a KUnit kernel; scenario
# "basic" runs them.
kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-the-example >$kf

# The hogs: `share -i` measures a window (3 s warm-up: a starved idle task
# picks up a new weight when it next gets the CPU, 2 s measured) for each
# line written to its input.
share_start -c 1 -w 3 -t 2 other:0 idle:0

window vmlinux
load && loaded=0 || loaded=$?
say "plugsched load: exit $loaded; idle_weight=$(cat $p 2>&1)"
default=$(cat $p 2>/dev/null)
window module_default
echo 0 >$p && zero=0 || zero=$?
echo 100000 >$p && big=0 || big=$?
kept=$(cat $p 2>/dev/null)
say "writing 0: exit $zero, 100000: exit $big; idle_weight=$kept"
echo 1024 >$p && set1024=0 || set1024=$?
say "writing 1024: exit $set1024; idle_weight=$(cat $p 2>&1)"
window module_1024
unload && unloaded=0 || unloaded=$?
say "plugsched unload: exit $unloaded"
window rolled_back
# Set at load: parse_args() of the module's loader takes the parameter.
load idle_weight=5000 && atload=$(cat $p 2>&1) || atload="load failed"
unload || atload="$atload, unload failed"
say "plugsched load idle_weight=5000: idle_weight=$atload"

share_stop

# The checks (the idle hog is b).
vmlinux_idle_starved() { lt "$(val "$vmlinux" b_pct)" 5; }
module_loads() { [ "$loaded" = 0 ] && [ "$default" = 3 ]; }
default_weight_unchanged() { lt "$(val "$module_default" b_pct)" 5; }
out_of_range_refused() { [ "$zero" != 0 ] && [ "$big" != 0 ] && [ "$kept" = 3 ]; }
weight_1024_half() {
	[ "$set1024" = 0 ] && between "$(val "$module_1024" b_pct)" 35 65 &&
		between "$(val "$module_1024" a_pct)" 35 65
}
rollback_idle_starved() {
	[ "$unloaded" = 0 ] && ! [ -e $p ] && lt "$(val "$rolled_back" b_pct)" 5
}
set_at_load() { [ "$atload" = 5000 ]; }
hogs_ran_throughout() { [ "$sp_rc" = 0 ] && [ "$(grep -c '^share a_pct' $share_out)" = 4 ]; }

ktap_suite example_idle_weight 8
for c in vmlinux_idle_starved module_loads default_weight_unchanged \
	out_of_range_refused weight_1024_half rollback_idle_starved set_at_load \
	hogs_ran_throughout; do
	ktap_case $c $c
done
ktap_end
