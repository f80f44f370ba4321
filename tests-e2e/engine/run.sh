# SPDX-License-Identifier: GPL-2.0
# Scenario "engine": the live-update engine seen from user space.  The
# module's self-test redirects the system calls sched_get_priority_max/min
# to module functions (results 4242/4241) and back; a user program checks
# what the kernel answers at each step, including after rmmod of a module
# whose redirections are still applied.
. /lib/plugsched/ktap.sh
st=/sys/kernel/plugsched/selftest
old="max=99 min=1"
new="max=4242 min=4241"

d=/sys/kernel/plugsched
ktap_suite plugsched_engine_e2e 13
ktap_case baseline sh -c "[ \"\$(prio)\" = '$old' ]"
ktap_case insmod insmod /lib/modules/plugsched.ko enable=0
ktap_case selftest_idle sh -c "[ \"\$(cat $st)\" = idle ]"
ktap_case apply sh -c "cat $d/switches >/tmp/switches0 && echo apply >$st"
ktap_case user_sees_new_code sh -c "[ \"\$(prio)\" = '$new' ] && [ \"\$(cat $st)\" = applied ]"
# (The KUnit suites, which run at insmod on a KUnit kernel, switch too.)
ktap_case downtime_published sh -c "[ \$(cat $d/switches) = \$((\$(cat /tmp/switches0) + 1)) ] &&
	[ \$(cat $d/last_result) = 0 ] &&
	[ \$(cat $d/last_functions) = 2 ] && [ \$(cat $d/last_cpus) = \$(nproc) ] &&
	[ \$(cat $d/last_stop_machine_ns) -gt 0 ] && [ \$(cat $d/last_tasks) -gt 0 ] &&
	[ \$(cat $d/last_stop_machine_ns) -ge \$(cat $d/last_stack_check_ns) ]"
ktap_case second_apply_refused sh -c "! echo apply >$st 2>/dev/null"
ktap_case refusal_is_not_a_switch sh -c "[ \$(cat $d/switches) = \$((\$(cat /tmp/switches0) + 1)) ]"
ktap_case revert sh -c "echo revert >$st"
ktap_case user_sees_old_code sh -c "[ \"\$(prio)\" = '$old' ]"
ktap_case apply_again sh -c "echo apply >$st && [ \"\$(prio)\" = '$new' ]"
ktap_case rmmod_reverts rmmod plugsched
ktap_case old_code_after_rmmod sh -c "[ \"\$(prio)\" = '$old' ]"
ktap_end
