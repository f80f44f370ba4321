# SPDX-License-Identifier: GPL-2.0
# Scenario "extracted": plugsched.ko carries the scheduler extracted from
# the running kernel by `plugsched init`; loading the module binds every
# kernel symbol that code uses (klp relocations).  Nothing in it runs yet:
# the kernel keeps scheduling with its own code, and the module unloads.
. /lib/plugsched/ktap.sh
ko=/lib/modules/plugsched.ko

ktap_suite plugsched_extracted 5
ktap_case insmod_binds_all_symbols insmod "$ko"
ktap_case scheduler_code_is_in_module sh -c "[ \"\$(grep -cE ' ((__plugsched_)?__cb_(enqueue_task_fair|pick_task_fair|task_tick_fair))[[:space:]]\\[plugsched\\]\$' /proc/kallsyms)\" = 3 ]"
ktap_case vmlinux_schedule_not_shadowed sh -c "grep -qE ' T schedule\$' /proc/kallsyms && ! grep -qE ' T schedule[[:space:]]\\[plugsched\\]\$' /proc/kallsyms"
ktap_case system_still_schedules sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 0.01 & done; wait; prio >/dev/null'
ktap_case rmmod rmmod plugsched
ktap_end
