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

ktap_suite plugsched_engine_e2e 11
ktap_case baseline sh -c "[ \"\$(prio)\" = '$old' ]"
ktap_case insmod insmod /lib/modules/plugsched.ko
ktap_case selftest_idle sh -c "[ \"\$(cat $st)\" = idle ]"
ktap_case apply sh -c "echo apply >$st"
ktap_case user_sees_new_code sh -c "[ \"\$(prio)\" = '$new' ] && [ \"\$(cat $st)\" = applied ]"
ktap_case second_apply_refused sh -c "! echo apply >$st 2>/dev/null"
ktap_case revert sh -c "echo revert >$st"
ktap_case user_sees_old_code sh -c "[ \"\$(prio)\" = '$old' ]"
ktap_case apply_again sh -c "echo apply >$st && [ \"\$(prio)\" = '$new' ]"
ktap_case rmmod_reverts rmmod plugsched
ktap_case old_code_after_rmmod sh -c "[ \"\$(prio)\" = '$old' ]"
ktap_end
