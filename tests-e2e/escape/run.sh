# SPDX-License-Identifier: GPL-2.0
# Scenario "escape": state that module code leaves in long-lived kernel
# objects must not point into the module once it is gone, and state the
# scheduler keeps in its variables must carry over a switch
# (Documentation/live-update.rst, "Data").  The debug kernel's lockdep,
# list and object debugging report a lock class key, a lock name or an
# object left in freed module memory; the console check fails the run on
# any report.  Booted with nohz_full=1 (CPU 1 gets the remote tick, whose
# work the scheduler sets up when the CPU comes online) and sched_verbose
# (the sched domains have debugfs files).
#
#  - cgroup_*: the cgroup mode chosen before the upgrade
#    (/sys/kernel/debug/sched/cgroup_mode) is the mode while live; a cgroup
#    v2 with a cpu.max limit created while the module's scheduler is live;
#    after the rollback and rmmod the limit is written again and a task
#    runs in it until it is throttled.
#  - hotplug_*: CPU 1 goes offline and, once its remote tick has stopped,
#    online again while live: the module's hotplug callbacks run, and its
#    sched_tick_start() sets up the remote tick's work again (lock class
#    keys and names of the work and its timer) and queues it, every second
#    from then on; the domains are rebuilt and their debugfs files read;
#    the scheduler is rolled back and unloaded while the work keeps running,
#    the files are read again and CPU 1 goes offline and online again.
. /lib/plugsched/ktap.sh

ko=/lib/modules/plugsched.ko
d=/sys/kernel/plugsched
cg=/sys/fs/cgroup/escape
cpu1=/sys/devices/system/cpu/cpu1/online
dom=/sys/kernel/debug/sched/domains
# The module's KUnit suites expect the vmlinux scheduler live at load;
# scenario "basic" runs them.
kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-this-scenario >$kf
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null

# switch_to 1|0: write enable, retrying (1 s apart, 10 times) while busy.
switch_to() {
	local n=0
	while ! echo "$1" >$d/enable 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 10 ] || { echo "enable=$1 refused 10 times"; return 1; }
		sleep 1
	done
}

upgrade() {
	grep -q '^plugsched ' /proc/modules || insmod $ko enable=0 || return 1
	switch_to 1 && [ "$(cat $d/state)" = live ]
}

# rollback_unload: roll back through enable (checking what the rollback
# check found), then unload.
rollback_unload() {
	switch_to 0 || return 1
	[ "$(cat $d/module_pointers)" = 0 ] || { echo "module_pointers $(cat $d/module_pointers)"; return 1; }
	rmmod plugsched && ! grep -q '^plugsched ' /proc/modules
}

# lockdep_on: lockdep has not turned itself off (it does after a report).
lockdep_on() {
	[ -e /proc/lockdep_stats ] || return 0
	grep -q 'debug_locks: *1' /proc/lockdep_stats || { grep debug_locks /proc/lockdep_stats; return 1; }
}

cgmode=/sys/kernel/debug/sched/cgroup_mode

# cgroup_mode_is MODE: the mode shown is MODE.
cgroup_mode_is() {
	grep -q "($1)" $cgmode || { echo "cgroup_mode: $(cat $cgmode), not $1"; return 1; }
}

set_mode() { echo "$1" >$cgmode && cgroup_mode_is "$1"; }

cgroup_made_live() {
	echo +cpu >/sys/fs/cgroup/cgroup.subtree_control || return 1
	mkdir $cg && echo "20000 100000" >$cg/cpu.max && [ "$(cat $cg/cpu.max)" = "20000 100000" ]
}

# throttled_run: a CPU hog in the cgroup for 2 s is throttled.
throttled_run() {
	local pid t0 t1
	echo "30000 100000" >$cg/cpu.max || return 1
	t0=$(sed -n 's/^nr_throttled //p' $cg/cpu.stat)
	sh -c "echo \$\$ >$cg/cgroup.procs && exec hog /tmp/escape-hog" >/dev/null &
	pid=$!
	sleep 2
	kill -9 $pid
	wait $pid 2>/dev/null
	t1=$(sed -n 's/^nr_throttled //p' $cg/cpu.stat)
	echo "nr_throttled $t0 -> $t1"
	[ "$t1" -gt "$t0" ] && rmdir $cg
}

# hotplug: CPU 1 offline, 2 s (its remote tick, run every second, sees it
# go and stops), online.
hotplug() {
	echo 0 >$cpu1 && [ "$(cat $cpu1)" = 0 ] || return 1
	sleep 2
	echo 1 >$cpu1 && [ "$(cat $cpu1)" = 1 ]
}

# read_domains: every file of every CPU's sched domains reads.
read_domains() {
	local f n=0
	for f in $dom/cpu*/domain*/*; do
		[ -f "$f" ] || continue
		cat "$f" >/dev/null || { echo "cannot read $f"; return 1; }
		n=$((n + 1))
	done
	echo "$n files read"
	[ $n -gt 0 ]
}

ktap_suite plugsched_escape 16
ktap_case cgroup_mode_set set_mode max
ktap_case cgroup_upgrade upgrade
ktap_case cgroup_mode_kept_live cgroup_mode_is max
ktap_case cgroup_created_live cgroup_made_live
ktap_case cgroup_rollback_rmmod rollback_unload
ktap_case cgroup_limit_after_rmmod throttled_run
ktap_case cgroup_mode_after_rmmod cgroup_mode_is max
ktap_case hotplug_upgrade upgrade
ktap_case hotplug_live hotplug
ktap_case hotplug_domains_read_live read_domains
ktap_case hotplug_rollback_rmmod rollback_unload
ktap_case hotplug_remote_tick_after_rmmod sleep 3
ktap_case hotplug_domains_read_after_rmmod read_domains
ktap_case hotplug_after_rmmod hotplug
ktap_case hotplug_domains_read_at_the_end read_domains
ktap_case lockdep_still_on lockdep_on
ktap_end
