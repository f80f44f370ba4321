# SPDX-License-Identifier: GPL-2.0
# Scenario "extracted": plugsched.ko carries the scheduler extracted from
# the running kernel by `plugsched init`; loading the module binds every
# kernel symbol that code uses (klp relocations) and makes that scheduler
# live; vmlinux keeps its own symbols, and unloading rolls back.
. /lib/plugsched/ktap.sh
ko=/lib/modules/plugsched.ko
# The module's KUnit suites (run at every load on a KUnit kernel) expect
# the vmlinux scheduler live; scenario "basic" runs them.
kf=/sys/module/kunit/parameters/filter_glob
[ -e $kf ] && echo not-in-this-scenario >$kf

# A tracer on a function the update would redirect: the upgrade (insmod)
# is refused with a clear message and the kernel text stays as it was.
tr=/sys/kernel/tracing
mount -t tracefs nodev $tr 2>/dev/null
probe_on() {
	echo "p:plugsched_probe ${SYS}sched_yield" >>$tr/kprobe_events &&
		echo 1 >$tr/events/kprobes/plugsched_probe/enable
}
probe_off() {
	echo 0 >$tr/events/kprobes/plugsched_probe/enable && echo '-:plugsched_probe' >>$tr/kprobe_events
}
refused() {
	dmesg -c >/dev/null
	! insmod "$ko" 2>/dev/null || { echo "insmod succeeded"; rmmod plugsched; return 1; }
	# (x86_64: the probe sits on ftrace's call, found by the check before
	# the switch; arm64: its BRK is in the redirect's bytes, found when
	# the redirections are prepared.)
	dmesg | grep -qE 'plugsched: upgrade: (failed|refused)' || { dmesg | tail -n 20; return 1; }
	dmesg | grep -E "${SYS}sched_yield|tracer" | head -n 3
	! grep -q '^plugsched ' /proc/modules
}

ktap_suite plugsched_extracted 10
ktap_case tracer_on_a_patch_site probe_on
ktap_case upgrade_refused_while_traced refused
ktap_case tracer_still_works sh -c "echo 1 >$tr/tracing_on; grep -q 'plugsched_probe' $tr/kprobe_events; sched_yield_probe=\$(cat $tr/events/kprobes/plugsched_probe/enable); [ \"\$sched_yield_probe\" = 1 ]"
ktap_case tracer_removed probe_off
ktap_case insmod_binds_all_symbols insmod "$ko"
ktap_case module_scheduler_live sh -c '[ "$(cat /sys/kernel/plugsched/state)" = live ]'
ktap_case scheduler_code_is_in_module sh -c "[ \"\$(grep -cE ' ((__plugsched_)?__cb_(enqueue_task_fair|pick_task_fair|task_tick_fair))[[:space:]]\\[plugsched\\]\$' /proc/kallsyms)\" = 3 ]"
ktap_case vmlinux_schedule_not_shadowed sh -c "grep -qE ' T schedule\$' /proc/kallsyms && ! grep -qE ' T schedule[[:space:]]\\[plugsched\\]\$' /proc/kallsyms"
ktap_case system_still_schedules sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 0.01 & done; wait; prio >/dev/null'
ktap_case rmmod rmmod plugsched
ktap_end
